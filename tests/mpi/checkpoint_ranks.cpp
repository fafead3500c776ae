// An MPI program for tests/mpi/checkpoint_mpi_test.cpp, run under a real mpirun:
//
//   checkpoint_ranks write DIR STEP ROWS COLS   every rank writes its block of rows of a
//                                               global ROWS x COLS array, collectively
//   checkpoint_ranks read DIR ROWS COLS         any number of ranks read it back, by rows
//                                               and by columns, and check every value
//   checkpoint_ranks stop DIR                   only rank 1 gets SIGUSR1; all must agree
//   checkpoint_ranks fail DIR STEP              rank 1 passes a bad slab: nobody commits
//
// Each rank prints what it saw on one line; exit status 0 unless something was wrong.
// First: it includes <mpi.h> without Open MPI's C++ bindings (OMPI_SKIP_MPICXX).
#include "drover/checkpoint.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ckpt = drover::checkpoint;

namespace {

int g_rank = 0, g_size = 1;

double value(std::int64_t step, std::uint64_t i, std::uint64_t j, std::uint64_t cols) {
  return static_cast<double>(step) * 1e6 + static_cast<double>(i * cols + j);
}

// Rank r's share [lo, hi) of n, unevenly when n % size != 0.
std::pair<std::uint64_t, std::uint64_t> share(std::uint64_t n, int r, int size) {
  return {n * static_cast<std::uint64_t>(r) / static_cast<std::uint64_t>(size),
          n * static_cast<std::uint64_t>(r + 1) / static_cast<std::uint64_t>(size)};
}

ckpt::Store open_store(const std::string& dir) {
  ckpt::Options o;
  o.directory = dir;
  o.on_warning = [](const std::string& w) { std::printf("rank %d warning: %s\n", g_rank, w.c_str()); };
  auto s = ckpt::Store::open(o);
  if (!s) {
    std::printf("rank %d open failed: %s\n", g_rank, s.message().c_str());
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  return std::move(*s);
}

int write(const std::string& dir, std::int64_t step, std::uint64_t rows, std::uint64_t cols) {
  auto store = open_store(dir);
  auto w = store.begin(step, step * 0.25);
  if (!w) return std::printf("rank %d begin failed: %s\n", g_rank, w.message().c_str()), 1;
  const auto [lo, hi] = share(rows, g_rank, g_size);
  std::vector<double> block((hi - lo) * cols);
  for (std::uint64_t i = lo; i < hi; ++i)
    for (std::uint64_t j = 0; j < cols; ++j) block[(i - lo) * cols + j] = value(step, i, j, cols);
  auto r = w->write<double>("T", ckpt::Shape{rows, cols}, ckpt::Shape{lo, 0}, ckpt::Shape{hi - lo, cols}, block);
  if (!r) return std::printf("rank %d write failed: %s\n", g_rank, r.message().c_str()), 1;
  // "U", the same values written by blocks of columns: slabs that are not one run of bytes
  // in the file (two-phase collective I/O).
  const auto [c0, c1] = share(cols, g_rank, g_size);
  std::vector<double> columns(rows * (c1 - c0));
  for (std::uint64_t i = 0; i < rows; ++i)
    for (std::uint64_t j = c0; j < c1; ++j) columns[i * (c1 - c0) + j - c0] = value(step, i, j, cols);
  if (auto u = w->write<double>("U", ckpt::Shape{rows, cols}, ckpt::Shape{0, c0}, ckpt::Shape{rows, c1 - c0}, columns); !u)
    return std::printf("rank %d write U failed: %s\n", g_rank, u.message().c_str()), 1;
  const auto [a, b] = share(10, g_rank, g_size);
  std::vector<std::int64_t> ids;
  for (std::uint64_t k = a; k < b; ++k) ids.push_back(static_cast<std::int64_t>(k * k));
  if (!w->write<std::int64_t>("ids", ckpt::Shape{10}, ckpt::Shape{a}, ckpt::Shape{b - a}, ids))
    return std::printf("rank %d write ids failed\n", g_rank), 1;
  std::vector<std::uint8_t> params{1, 2, 3};
  if (!w->write_whole<std::uint8_t>("params", ckpt::Shape{3}, params) || !w->set_attribute("cols", cols))
    return std::printf("rank %d write params failed\n", g_rank), 1;
  auto c = w->commit();
  if (!c) return std::printf("rank %d commit failed: %s\n", g_rank, c.message().c_str()), 1;
  std::printf("rank %d committed %lld ranks %d\n", g_rank, static_cast<long long>(c->step), c->ranks);
  return 0;
}

int read(const std::string& dir, std::uint64_t rows, std::uint64_t cols) {
  auto store = open_store(dir);
  auto r = store.restart();
  if (!r || !*r) return std::printf("rank %d restart failed: %s\n", g_rank, r ? "none" : r.message().c_str()), 1;
  ckpt::Reader& in = **r;
  const std::int64_t step = in.step();
  std::uint64_t checked = 0, wrong = 0;
  // By rows, this run's own decomposition.
  const auto [lo, hi] = share(rows, g_rank, g_size);
  std::vector<double> block((hi - lo) * cols);
  if (auto s = in.read<double>("T", ckpt::Shape{rows, cols}, ckpt::Shape{lo, 0}, ckpt::Shape{hi - lo, cols}, block); !s)
    return std::printf("rank %d read rows failed: %s\n", g_rank, s.message().c_str()), 1;
  for (std::uint64_t i = lo; i < hi; ++i)
    for (std::uint64_t j = 0; j < cols; ++j, ++checked) wrong += block[(i - lo) * cols + j] != value(step, i, j, cols);
  // By columns: slabs no rank wrote.
  const auto [c0, c1] = share(cols, g_rank, g_size);
  std::vector<double> columns(rows * (c1 - c0));
  if (auto s = in.read<double>("T", ckpt::Shape{rows, cols}, ckpt::Shape{0, c0}, ckpt::Shape{rows, c1 - c0}, columns);
      !s)
    return std::printf("rank %d read columns failed: %s\n", g_rank, s.message().c_str()), 1;
  for (std::uint64_t i = 0; i < rows; ++i)
    for (std::uint64_t j = c0; j < c1; ++j, ++checked) wrong += columns[i * (c1 - c0) + j - c0] != value(step, i, j, cols);
  // "U" (written by columns) read by rows.
  if (auto s = in.read<double>("U", ckpt::Shape{rows, cols}, ckpt::Shape{lo, 0}, ckpt::Shape{hi - lo, cols}, block); !s)
    return std::printf("rank %d read U failed: %s\n", g_rank, s.message().c_str()), 1;
  for (std::uint64_t i = lo; i < hi; ++i)
    for (std::uint64_t j = 0; j < cols; ++j, ++checked) wrong += block[(i - lo) * cols + j] != value(step, i, j, cols);
  std::vector<std::int64_t> ids(10);
  if (!in.read_whole<std::int64_t>("ids", ckpt::Shape{10}, ids)) return std::printf("rank %d ids failed\n", g_rank), 1;
  for (std::int64_t k = 0; k < 10; ++k, ++checked) wrong += ids[static_cast<std::size_t>(k)] != k * k;
  std::vector<std::uint8_t> params(3);
  if (!in.read_whole<std::uint8_t>("params", {}, params)) return std::printf("rank %d params failed\n", g_rank), 1;
  wrong += params != std::vector<std::uint8_t>{1, 2, 3};
  auto c = in.int_attribute("cols");
  wrong += !c || static_cast<std::uint64_t>(*c) != cols;
  // A shape the checkpoint does not have: every rank gets the same clear error.
  std::vector<double> one(1);
  auto bad = in.read<double>("T", ckpt::Shape{rows + 1, cols}, ckpt::Shape{0, 0}, ckpt::Shape{1, 1}, one);
  std::printf("rank %d of %d step %lld written by %d ranks checked %llu wrong %llu mismatch: %s\n", g_rank, g_size,
              static_cast<long long>(step), in.summary().ranks, static_cast<unsigned long long>(checked),
              static_cast<unsigned long long>(wrong), bad ? "none" : bad.message().c_str());
  return wrong == 0 ? 0 : 1;
}

int stop(const std::string& dir) {
  auto store = open_store(dir);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 1) std::raise(store.signal_number());
  auto agreed = store.stop_requested();
  std::printf("rank %d local %d agreed %d\n", g_rank, ckpt::stop_requested_locally() ? 1 : 0,
              agreed && *agreed ? 1 : 0);
  return 0;
}

int fail(const std::string& dir, std::int64_t step) {
  auto store = open_store(dir);
  auto w = store.begin(step, 0);
  if (!w) return std::printf("rank %d begin failed: %s\n", g_rank, w.message().c_str()), 1;
  std::vector<double> v(4, 1.0);
  // Rank 1's slab runs past the end.
  const std::uint64_t offset = g_rank == 1 ? 6 : 0;
  auto r = w->write<double>("T", ckpt::Shape{8}, ckpt::Shape{offset}, ckpt::Shape{4}, v);
  auto c = w->commit();
  auto l = store.latest();
  std::printf("rank %d write: %s | commit: %s | latest %lld\n", g_rank, r ? "ok" : r.message().c_str(),
              c ? "ok" : c.message().c_str(), l && *l ? static_cast<long long>((*l)->step) : -1LL);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string mode = argc > 1 ? argv[1] : "";
  int rc = 2;
  if (mode == "write" && argc == 6)
    rc = write(argv[2], std::atoll(argv[3]), std::strtoull(argv[4], nullptr, 10), std::strtoull(argv[5], nullptr, 10));
  else if (mode == "read" && argc == 5)
    rc = read(argv[2], std::strtoull(argv[3], nullptr, 10), std::strtoull(argv[4], nullptr, 10));
  else if (mode == "stop" && argc == 3)
    rc = stop(argv[2]);
  else if (mode == "fail" && argc == 4)
    rc = fail(argv[2], std::atoll(argv[3]));
  else if (g_rank == 0)
    std::fprintf(stderr, "usage: checkpoint_ranks write|read|stop|fail DIR ...\n");
  MPI_Finalize();
  return rc;
}
