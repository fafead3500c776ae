// Checkpoint write and restart read bandwidth of libdrover-checkpoint: every rank writes its
// slab of one shared float64 dataset (parallel HDF5, collective MPI-IO), then a later run
// restarts from it (finding and verifying it, then reading the slab back). Run by
// bench/bench_checkpoint.sh under mpirun, which compares it with dd in the same directory
// and drops the page cache in between.
//
//   bench_checkpoint write DIR MIB_PER_RANK [STEP]
//   bench_checkpoint read DIR MIB_PER_RANK
//
// Rank 0 prints `name value unit` lines. Times run from a barrier before to a barrier after,
// so they include everything a job waits for: for a write, begin, the collective write, the
// flush, every rank's fsync and checksum share, the manifest, the rename and the directory
// fsyncs; for a read, listing, the checksum verification (a full read of the file) and the
// read of the slab.
#include "drover/checkpoint.hpp"  // first: <mpi.h> without Open MPI's C++ bindings

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ckpt = drover::checkpoint;

namespace {

int g_rank = 0, g_size = 1;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A barrier, then the time: every rank starts and stops together.
double synced_now() {
  MPI_Barrier(MPI_COMM_WORLD);
  return now();
}

double value(std::uint64_t i) { return static_cast<double>(i % 1000003) * 0.5 + 1.0; }

ckpt::Store open_store(const std::string& dir) {
  ckpt::Options o;
  o.directory = dir;
  o.keep_last = 1;
  auto s = ckpt::Store::open(o);
  if (!s) {
    std::fprintf(stderr, "rank %d: %s\n", g_rank, s.message().c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return std::move(*s);
}

int write(const std::string& dir, std::uint64_t mib, std::int64_t step) {
  const std::uint64_t n = mib * (1 << 20) / sizeof(double);
  const std::uint64_t offset = n * static_cast<std::uint64_t>(g_rank);
  std::vector<double> slab(n);
  for (std::uint64_t i = 0; i < n; ++i) slab[i] = value(offset + i);
  auto store = open_store(dir);
  const ckpt::Shape global{n * static_cast<std::uint64_t>(g_size)};

  const double t0 = synced_now();
  auto w = store.begin(step, 0.0);
  if (!w) return std::fprintf(stderr, "%s\n", w.message().c_str()), 1;
  const double t1 = synced_now();
  if (auto r = w->write<double>("field", global, ckpt::Shape{offset}, ckpt::Shape{n}, slab); !r)
    return std::fprintf(stderr, "%s\n", r.message().c_str()), 1;
  const double t2 = synced_now();
  auto c = w->commit();
  if (!c) return std::fprintf(stderr, "%s\n", c.message().c_str()), 1;
  const double t3 = synced_now();

  if (g_rank == 0) {
    const double mb = static_cast<double>(c->bytes) / (1 << 20);
    std::printf("checkpoint_write_bytes %llu B\n", static_cast<unsigned long long>(c->bytes));
    std::printf("checkpoint_write_s %.3f s\n", t3 - t0);
    std::printf("checkpoint_write_MiBps %.0f MiB/s\n", mb / (t3 - t0));
    std::printf("checkpoint_write_begin_s %.3f s\n", t1 - t0);
    std::printf("checkpoint_write_data_s %.3f s\n", t2 - t1);
    std::printf("checkpoint_write_commit_s %.3f s\n", t3 - t2);
  }
  return 0;
}

int read(const std::string& dir, std::uint64_t mib) {
  const std::uint64_t n = mib * (1 << 20) / sizeof(double);
  const std::uint64_t offset = n * static_cast<std::uint64_t>(g_rank);
  std::vector<double> slab(n);
  auto store = open_store(dir);

  const double t0 = synced_now();
  auto latest = store.latest();
  if (!latest || !*latest) return std::fprintf(stderr, "no checkpoint: %s\n", latest ? "" : latest.message().c_str()), 1;
  const double t1 = synced_now();
  auto r = store.open_checkpoint(**latest);
  if (!r) return std::fprintf(stderr, "%s\n", r.message().c_str()), 1;
  if (auto s = r->read<double>("field", {}, ckpt::Shape{offset}, ckpt::Shape{n}, slab); !s)
    return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  r->close();
  const double t2 = synced_now();

  std::uint64_t wrong = 0;
  for (std::uint64_t i = 0; i < n; ++i) wrong += slab[i] != value(offset + i);
  if (wrong) return std::fprintf(stderr, "rank %d: %llu wrong values\n", g_rank, static_cast<unsigned long long>(wrong)), 1;
  if (g_rank == 0) {
    const double mb = static_cast<double>((*latest)->bytes) / (1 << 20);
    std::printf("checkpoint_read_s %.3f s\n", t2 - t0);
    std::printf("checkpoint_read_MiBps %.0f MiB/s\n", mb / (t2 - t0));
    std::printf("checkpoint_read_verify_s %.3f s\n", t1 - t0);
    std::printf("checkpoint_read_data_s %.3f s\n", t2 - t1);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  const std::string mode = argc > 1 ? argv[1] : "";
  int rc = 2;
  if (mode == "write" && (argc == 4 || argc == 5))
    rc = write(argv[2], std::strtoull(argv[3], nullptr, 10), argc == 5 ? std::atoll(argv[4]) : 1);
  else if (mode == "read" && argc == 4)
    rc = read(argv[2], std::strtoull(argv[3], nullptr, 10));
  else if (g_rank == 0)
    std::fprintf(stderr, "usage: bench_checkpoint write DIR MIB_PER_RANK [STEP] | read DIR MIB_PER_RANK\n");
  MPI_Finalize();
  return rc;
}
