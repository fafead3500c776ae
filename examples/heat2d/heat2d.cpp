// heat2d: a 2-D heat equation solver that checkpoints with libdrover-checkpoint and carries on
// where it stopped (examples/heat2d/README.md).
//
// The field T (NY rows x NX columns) starts at 0 inside, with fixed boundary values: 100 on
// the top row, 0 on the bottom row, 75 on the left column, 50 on the right one. Each step is
// one explicit (FTCS / Jacobi) update of every inner point from its four neighbours:
//
//   T'[i][j] = T[i][j] + alpha * ((T[i-1][j] + T[i+1][j]) + (T[i][j-1] + T[i][j+1]) - 4 T[i][j])
//
// Rows are split into blocks, one per MPI rank, with one halo row above and below exchanged
// every step. Every point is computed by the same expression from the same inputs whatever
// the number of ranks, and nothing computed across ranks (no reduction) flows back into the
// field, so the result is bitwise the same for any rank count, interrupted or not.
//
// Checkpoints: every --every K steps, and whenever the checkpoint signal reached any rank
// (Drover sends it before a time limit, a preemption, a node set DOWN, or on `drover
// checkpoint`): then the program checkpoints and exits 75, "requeue me". Started again, it
// resumes from the newest valid checkpoint, with any number of ranks.
#include <mpi.h>

#include <drover/checkpoint.hpp>

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdarg>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ckpt = drover::checkpoint;

namespace {

constexpr double kAlpha = 0.2;  // explicit scheme: stable for alpha <= 0.25
constexpr double kTop = 100, kBottom = 0, kLeft = 75, kRight = 50;

struct Config {
  std::int64_t nx = 256, ny = 256;
  std::int64_t steps = 1000;
  std::int64_t every = 100;      // 0: only when asked to stop
  int keep = 2;                  // checkpoints kept
  std::string out;               // final field, raw little-endian float64, NY x NX
  std::string directory;         // empty: $DROVER_CHECKPOINT_DIR
  int sleep_ms = 0;              // per step, to make small runs last (tests, demos)
  std::int64_t stop_at = -1;     // act as if the checkpoint signal came after this step
  bool report = false;
};

const char kUsage[] =
    "usage: heat2d [--nx N] [--ny N] [--steps N] [--every K] [--out FILE]\n"
    "              [--checkpoint-dir DIR] [--keep N] [--sleep-ms MS] [--stop-at STEP] [--report]\n"
    "  --nx, --ny        grid columns and rows (default 256 x 256; at least 3, ny >= ranks)\n"
    "  --steps N         steps to compute in all (default 1000)\n"
    "  --every K         checkpoint every K steps (default 100; 0: only when asked to stop)\n"
    "  --out FILE        write the final field there: NY x NX little-endian float64, row after row\n"
    "  --checkpoint-dir  where checkpoints go (default $DROVER_CHECKPOINT_DIR, which Drover sets)\n"
    "  --keep N          checkpoints kept (default 2)\n"
    "  --sleep-ms MS     sleep MS milliseconds per step (so that small runs last long enough to interrupt)\n"
    "  --stop-at STEP    behave as if the checkpoint signal arrived after STEP: checkpoint, exit 75\n"
    "  --report          at the end, print `report NAME VALUE` lines: mean time of a step and of a\n"
    "                    checkpoint, checkpoint size and rate, the checkpoints' share of the run\n"
    "Exit status: 0 done, 75 checkpointed and asks to be run again, 1 error, 2 bad usage.\n"
    "Test hook: HEAT2D_ABORT_IN_CHECKPOINT=STEP kills rank 1 (rank 0 when alone) with SIGKILL in the\n"
    "checkpoint of STEP, after it wrote its data and before the commit, on the first attempt only.\n";

// Rank 0 reports; the others stay quiet unless something is wrong on them.
int g_rank = 0;

[[gnu::format(printf, 1, 2)]] void say(const char* format, ...) {
  if (g_rank != 0) return;
  va_list args;
  va_start(args, format);
  std::vprintf(format, args);
  va_end(args);
  std::fflush(stdout);
}

// Failures, on stderr (rank 0: every rank has the same agreed error).
[[gnu::format(printf, 1, 2)]] void complain(const char* format, ...) {
  if (g_rank != 0) return;
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fflush(stderr);
}

[[noreturn]] void usage_error(const std::string& why) {
  if (g_rank == 0) std::fprintf(stderr, "heat2d: %s\n%s", why.c_str(), kUsage);
  MPI_Finalize();
  std::exit(2);
}

std::int64_t parse_count(std::string_view option, const char* text, std::int64_t min, std::int64_t max) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
    usage_error(std::string(option) + ": '" + text + "' is not a whole number from " + std::to_string(min) +
                " to " + std::to_string(max));
  return v;
}

Config parse(int argc, char** argv) {
  Config c;
  constexpr std::int64_t kBig = 1'000'000'000'000;  // checkpoint steps have 12 digits
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      say("%s", kUsage);
      MPI_Finalize();
      std::exit(0);
    }
    if (a == "--report") {
      c.report = true;
      continue;
    }
    if (i + 1 >= argc) usage_error(std::string(a) + (a.rfind("--", 0) == 0 ? " needs a value" : ": unknown argument"));
    const char* v = argv[++i];
    if (a == "--nx") c.nx = parse_count(a, v, 3, 1 << 20);
    else if (a == "--ny") c.ny = parse_count(a, v, 3, 1 << 20);
    else if (a == "--steps") c.steps = parse_count(a, v, 0, kBig - 1);
    else if (a == "--every") c.every = parse_count(a, v, 0, kBig - 1);
    else if (a == "--keep") c.keep = static_cast<int>(parse_count(a, v, 1, 1000));
    else if (a == "--sleep-ms") c.sleep_ms = static_cast<int>(parse_count(a, v, 0, 60'000));
    else if (a == "--stop-at") c.stop_at = parse_count(a, v, 0, kBig - 1);
    else if (a == "--out") c.out = v;
    else if (a == "--checkpoint-dir") c.directory = v;
    else usage_error("unknown option " + std::string(a));
  }
  // The final field is gathered on rank 0 with int counts.
  if (c.nx * c.ny > std::numeric_limits<int>::max())
    usage_error("--nx x --ny is " + std::to_string(c.nx * c.ny) + " points, more than this example gathers (2^31 - 1)");
  return c;
}

// This rank's block of rows, its two halo rows, and the next step's copy.
struct Slab {
  std::int64_t nx = 0, ny = 0;
  std::int64_t first = 0, rows = 0;  // global index of the first own row; own rows
  std::vector<double> t, next;       // (rows + 2) x nx; row 0 and rows + 1 are halos

  double* row(std::vector<double>& f, std::int64_t local) { return f.data() + local * nx; }
  std::span<const double> own() const { return {t.data() + nx, static_cast<std::size_t>(rows * nx)}; }
  std::span<double> own_mut() { return {t.data() + nx, static_cast<std::size_t>(rows * nx)}; }
};

Slab make_slab(const Config& c, int rank, int size) {
  Slab s;
  s.nx = c.nx;
  s.ny = c.ny;
  s.first = c.ny * rank / size;
  s.rows = c.ny * (rank + 1) / size - s.first;
  s.t.assign(static_cast<std::size_t>((s.rows + 2) * s.nx), 0.0);
  for (std::int64_t i = 1; i <= s.rows; ++i) {
    const std::int64_t g = s.first + i - 1;
    double* r = s.row(s.t, i);
    r[0] = kLeft;
    r[s.nx - 1] = kRight;
    if (g == 0) std::fill(r, r + s.nx, kTop);
    if (g == s.ny - 1) std::fill(r, r + s.nx, kBottom);
  }
  s.next = s.t;  // fixed boundary values stay in both copies
  return s;
}

// The halo rows from the neighbours above (rank - 1) and below (rank + 1).
void exchange_halos(Slab& s, int rank, int size) {
  const int up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
  const int down = rank + 1 < size ? rank + 1 : MPI_PROC_NULL;
  const int n = static_cast<int>(s.nx);
  MPI_Sendrecv(s.row(s.t, 1), n, MPI_DOUBLE, up, 0, s.row(s.t, s.rows + 1), n, MPI_DOUBLE, down, 0, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
  MPI_Sendrecv(s.row(s.t, s.rows), n, MPI_DOUBLE, down, 1, s.row(s.t, 0), n, MPI_DOUBLE, up, 1, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
}

// One step on the own rows; the global boundary rows and columns never change.
void update(Slab& s) {
  const std::int64_t nx = s.nx;
  for (std::int64_t i = 1; i <= s.rows; ++i) {
    const std::int64_t g = s.first + i - 1;
    if (g == 0 || g == s.ny - 1) continue;
    const double* up = s.row(s.t, i - 1);
    const double* mid = s.row(s.t, i);
    const double* down = s.row(s.t, i + 1);
    double* out = s.row(s.next, i);
    for (std::int64_t j = 1; j < nx - 1; ++j)
      out[j] = mid[j] + kAlpha * ((up[j] + down[j]) + (mid[j - 1] + mid[j + 1]) - 4.0 * mid[j]);
  }
  std::swap(s.t, s.next);
}

// 64-bit FNV-1a of the field's little-endian bytes: a fingerprint to compare runs by eye.
std::uint64_t fnv1a(const std::vector<unsigned char>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::vector<unsigned char> little_endian_bytes(const std::vector<double>& field) {
  std::vector<unsigned char> bytes(field.size() * sizeof(double));
  std::memcpy(bytes.data(), field.data(), bytes.size());
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t k = 0; k < bytes.size(); k += 8) std::reverse(bytes.begin() + k, bytes.begin() + k + 8);
  return bytes;
}

// Writes FILE.tmp, then renames it: a run killed while writing leaves no half file named FILE.
bool write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "heat2d: cannot write %s: %s\n", tmp.c_str(), std::strerror(errno));
    return false;
  }
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                  ::fsync(fileno(f)) == 0;
  const int err = errno;
  if (std::fclose(f) != 0 || !ok) {
    std::fprintf(stderr, "heat2d: cannot write %s: %s\n", tmp.c_str(), std::strerror(ok ? errno : err));
    return false;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "heat2d: cannot rename %s to %s: %s\n", tmp.c_str(), path.c_str(), std::strerror(errno));
    return false;
  }
  return true;
}

double now_s() { return MPI_Wtime(); }

struct Timings {
  double steps_s = 0;       // halo exchange, update and the stop poll, summed over steps
  std::int64_t steps = 0;
  double checkpoints_s = 0; // begin .. commit
  double checkpoint_max_s = 0;
  int checkpoints = 0;
  std::uint64_t checkpoint_bytes = 0;
  double restart_s = 0;     // finding, verifying and reading the checkpoint
};

// The test hook: HEAT2D_ABORT_IN_CHECKPOINT=STEP on the first attempt.
bool abort_in_checkpoint(std::int64_t step, int rank, int size) {
  const char* v = std::getenv("HEAT2D_ABORT_IN_CHECKPOINT");
  if (!v || ckpt::attempt() != 1) return false;
  char* end = nullptr;
  const long long at = std::strtoll(v, &end, 10);
  return end != v && *end == '\0' && at == step && rank == (size > 1 ? 1 : 0);
}

// Writes checkpoint `step`; false (with the reason on stderr) when it did not commit.
bool checkpoint(ckpt::Store& store, Slab& s, std::int64_t step, int rank, int size, Timings& timings) {
  const double t0 = now_s();
  auto w = store.begin(step, static_cast<double>(step) * kAlpha);
  if (!w) {
    complain("heat2d: checkpoint %lld failed: %s\n", static_cast<long long>(step), w.message().c_str());
    return false;
  }
  const std::uint64_t global[2] = {static_cast<std::uint64_t>(s.ny), static_cast<std::uint64_t>(s.nx)};
  const std::uint64_t offset[2] = {static_cast<std::uint64_t>(s.first), 0};
  const std::uint64_t count[2] = {static_cast<std::uint64_t>(s.rows), static_cast<std::uint64_t>(s.nx)};
  ckpt::Status st = w->write<double>("T", global, offset, count, s.own());
  if (st) st = w->set_attribute("alpha", kAlpha);
  if (st) st = w->set_attribute("program", "heat2d");
  if (!st) {
    complain("heat2d: checkpoint %lld failed: %s\n", static_cast<long long>(step), st.message().c_str());
    return false;  // the Writer abandons it
  }
  if (abort_in_checkpoint(step, rank, size)) {
    std::fprintf(stderr, "heat2d: HEAT2D_ABORT_IN_CHECKPOINT: rank %d kills itself in checkpoint %lld, before the commit\n",
                 rank, static_cast<long long>(step));
    std::fflush(stderr);
    ::raise(SIGKILL);
  }
  auto done = w->commit();
  if (!done) {
    complain("heat2d: checkpoint %lld failed: %s\n", static_cast<long long>(step), done.message().c_str());
    return false;
  }
  const double dt = now_s() - t0;
  timings.checkpoints_s += dt;
  timings.checkpoint_max_s = std::max(timings.checkpoint_max_s, dt);
  ++timings.checkpoints;
  timings.checkpoint_bytes = done->bytes;
  say("heat2d: checkpoint %lld committed (%llu bytes, %.1f ms)\n", static_cast<long long>(step),
      static_cast<unsigned long long>(done->bytes), dt * 1e3);
  return true;
}

int run(int argc, char** argv) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  g_rank = rank;
  const Config c = parse(argc, argv);
  if (c.ny < size) usage_error("--ny " + std::to_string(c.ny) + " is fewer rows than the " + std::to_string(size) + " ranks");
  const double started = now_s();

  // The store first: it installs the checkpoint signal's handler, so a signal from now on
  // only sets a flag.
  ckpt::Options options;
  options.directory = c.directory;
  options.keep_last = c.keep;
  auto store = ckpt::Store::open(options);
  if (!store) {
    complain("heat2d: %s\n", store.message().c_str());
    if (rank == 0 && c.directory.empty() && !std::getenv("DROVER_CHECKPOINT_DIR"))
      std::fprintf(stderr, "heat2d: outside Drover, pass --checkpoint-dir DIR or set DROVER_CHECKPOINT_DIR\n");
    return 1;
  }
  say("heat2d: %lld x %lld grid, %d rank(s), %lld steps, checkpoint every %lld, in %s (attempt %d)\n",
      static_cast<long long>(c.nx), static_cast<long long>(c.ny), size, static_cast<long long>(c.steps),
      static_cast<long long>(c.every), store->directory().c_str(), ckpt::attempt());

  Slab s = make_slab(c, rank, size);
  Timings timings;
  std::int64_t step = 0;
  {
    const double t0 = now_s();
    auto r = store->restart();
    if (!r) {
      complain("heat2d: restart failed: %s\n", r.message().c_str());
      return 1;
    }
    if (*r) {
      ckpt::Reader& in = **r;
      const std::uint64_t global[2] = {static_cast<std::uint64_t>(c.ny), static_cast<std::uint64_t>(c.nx)};
      const std::uint64_t offset[2] = {static_cast<std::uint64_t>(s.first), 0};
      const std::uint64_t count[2] = {static_cast<std::uint64_t>(s.rows), static_cast<std::uint64_t>(c.nx)};
      if (auto st = in.read<double>("T", global, offset, count, s.own_mut()); !st) {
        complain("heat2d: cannot resume from %s: %s\n", in.summary().path.c_str(), st.message().c_str());
        return 1;
      }
      auto alpha = in.double_attribute("alpha");
      if (!alpha || *alpha != kAlpha) {
        complain("heat2d: cannot resume from %s: it was written with another alpha\n", in.summary().path.c_str());
        return 1;
      }
      step = in.step();
      if (step > c.steps) {
        complain("heat2d: the newest checkpoint (%s) is at step %lld, beyond --steps %lld: use another checkpoint directory\n",
            in.summary().path.c_str(), static_cast<long long>(step), static_cast<long long>(c.steps));
        return 1;
      }
      s.next = s.t;
      timings.restart_s = now_s() - t0;
      say("heat2d: resumed from step %lld (%s, written by %d rank(s)) in %.1f ms\n", static_cast<long long>(step),
          in.summary().path.c_str(), in.summary().ranks, timings.restart_s * 1e3);
    } else {
      say("heat2d: no checkpoint: starting at step 0\n");
    }
  }
  std::int64_t last_checkpoint = step;  // the state at this step is on disk (or is the start)

  while (step < c.steps) {
    if (c.sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c.sleep_ms));
    const double t0 = now_s();
    exchange_halos(s, rank, size);
    update(s);
    ++step;
    if (step == c.stop_at) ckpt::request_stop();
    auto stop = store->stop_requested();  // collective: every rank gets the same answer
    timings.steps_s += now_s() - t0;
    ++timings.steps;
    if (!stop) {
      complain("heat2d: %s\n", stop.message().c_str());
      return 1;
    }
    if (*stop) {
      if (step == c.steps) break;  // nothing left to save for: finish
      if (step != last_checkpoint && !checkpoint(*store, s, step, rank, size, timings)) {
        complain("heat2d: stop requested at step %lld, but the checkpoint failed: exiting 1\n", static_cast<long long>(step));
        return 1;
      }
      say("heat2d: stop requested: checkpointed step %lld, exiting %d (requeue me)\n", static_cast<long long>(step),
          ckpt::kExitRequeue);
      return ckpt::kExitRequeue;
    }
    if (c.every > 0 && step % c.every == 0 && step < c.steps) {
      // A failed periodic checkpoint is not fatal: the previous one is still valid.
      if (checkpoint(*store, s, step, rank, size, timings)) last_checkpoint = step;
      // The signal may have come during the checkpoint: it is fresh, so stop now.
      auto again = store->stop_requested();
      if (again && *again && last_checkpoint == step) {
        say("heat2d: stop requested: checkpointed step %lld, exiting %d (requeue me)\n", static_cast<long long>(step),
            ckpt::kExitRequeue);
        return ckpt::kExitRequeue;
      }
    }
  }

  // The whole field on rank 0, for the file and the checksum.
  std::vector<int> counts(static_cast<std::size_t>(size)), displs(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    const std::int64_t a = c.ny * r / size, b = c.ny * (r + 1) / size;
    counts[static_cast<std::size_t>(r)] = static_cast<int>((b - a) * c.nx);
    displs[static_cast<std::size_t>(r)] = static_cast<int>(a * c.nx);
  }
  std::vector<double> field(rank == 0 ? static_cast<std::size_t>(c.nx * c.ny) : 0);
  MPI_Gatherv(s.own().data(), static_cast<int>(s.rows * c.nx), MPI_DOUBLE, field.data(), counts.data(), displs.data(),
              MPI_DOUBLE, 0, MPI_COMM_WORLD);
  int failed = 0;
  if (rank == 0) {
    const auto bytes = little_endian_bytes(field);
    if (!c.out.empty() && !write_file(c.out, bytes)) failed = 1;
    std::printf("heat2d: done: step %lld, checksum fnv1a64 %016llx%s%s\n", static_cast<long long>(step),
                static_cast<unsigned long long>(fnv1a(bytes)), c.out.empty() ? "" : ", field in ",
                c.out.c_str());
    if (c.report) {
      // `report NAME VALUE`: one figure a line, for people and for bench/heat2d_checkpoint.sh.
      const double busy = timings.steps_s + timings.checkpoints_s;
      const double ckpt_s = timings.checkpoints ? timings.checkpoints_s / timings.checkpoints : 0;
      const double mib = static_cast<double>(timings.checkpoint_bytes) / (1 << 20);
      std::printf("report steps %lld\n", static_cast<long long>(timings.steps));
      std::printf("report step_ms %.4f\n", timings.steps ? timings.steps_s / static_cast<double>(timings.steps) * 1e3 : 0.0);
      std::printf("report checkpoints %d\n", timings.checkpoints);
      std::printf("report checkpoint_ms %.2f\n", ckpt_s * 1e3);
      std::printf("report checkpoint_max_ms %.2f\n", timings.checkpoint_max_s * 1e3);
      std::printf("report checkpoint_MiB %.2f\n", mib);
      std::printf("report checkpoint_MiBps %.0f\n", ckpt_s > 0 ? mib / ckpt_s : 0.0);
      // Of the time spent computing (steps) and checkpointing, not counting start-up,
      // --sleep-ms or the final gather.
      std::printf("report checkpoint_share_pct %.2f\n", busy > 0 ? timings.checkpoints_s / busy * 100 : 0.0);
      std::printf("report restart_ms %.2f\n", timings.restart_s * 1e3);
      std::printf("report wall_s %.3f\n", now_s() - started);
    }
    std::fflush(stdout);
  }
  MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return failed;
}

extern "C" void on_early_signal(int) { ckpt::request_stop(); }

// The checkpoint signal may come while MPI starts (mpirun forwards it to the ranks as soon
// as they exist, before the store is opened): from the first line on it only sets the
// library's flag, as the store's own handler does later, instead of killing the rank.
void catch_checkpoint_signal_early() {
  int sig = SIGUSR1;
  if (const char* e = std::getenv("DROVER_CHECKPOINT_SIGNAL"); e && *e)
    if (auto r = ckpt::parse_signal(e)) sig = *r;
  struct sigaction sa {};
  sa.sa_handler = on_early_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(sig, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  catch_checkpoint_signal_early();
  MPI_Init(&argc, &argv);
  const int rc = run(argc, argv);
  MPI_Finalize();
  return rc;
}
