// The proof of issue 6: examples/heat2d, an MPI heat equation solver using
// libdrover-checkpoint, ends with exactly the field it would have had uninterrupted —
// bitwise — when Drover interrupts it (time limits, a preemption), when one of its
// processes is killed in the middle of a checkpoint, and when its newest checkpoint is
// damaged. The multi-node case (a lost node) is tests/multinode/netns_heat2d_test.cpp.
//
// Every run writes the final field (64 x 64 float64, 32 KiB) with --out; the reference is
// the same problem run by plain `mpirun -np 2` with no checkpoint at all, and the files
// are compared byte for byte. Jobs append their output to heat.log (requeued attempts
// start their output files afresh), which the tests read to see what each attempt did.
#include <regex>

#include "cluster.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;
const std::string kHeat = kExamplesBin + "/heat2d/heat2d";

bool have_mpirun() { return ::access("/usr/bin/mpirun", X_OK) == 0 || ::access("/usr/local/bin/mpirun", X_OK) == 0; }

std::string skip_reason() {
  if (::access(kHeat.c_str(), X_OK) != 0)
    return "no " + kHeat + ": configure with -DDROVER_ENABLE_MPI=ON and a parallel HDF5 (libhdf5-openmpi-dev)";
  if (!have_mpirun()) return "mpirun is not installed";
  return "";
}

// What CI needs around mpirun: root may run it (and more ranks than cores, below). When
// ranks exit non-zero (75), mpirun by default waits about 2 s before it exits itself
// (odls_base_sigkill_timeout, 1 s, before each of its kill rounds); 0 spares the tests
// that wait, and keeps the exit of an attempt well inside its short time limit.
const std::vector<std::pair<std::string, std::string>> kMpiEnv = {
    {"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}, {"OMPI_MCA_odls_base_sigkill_timeout", "0"}};

std::string mpirun(int ranks) { return "mpirun --oversubscribe -np " + std::to_string(ranks) + " "; }

// The problem every test solves; only how it is run differs.
std::string problem(int steps) { return "--nx 64 --ny 64 --steps " + std::to_string(steps); }

// Runs a shell command line on this machine (no Drover) with the MPI environment.
CliResult shell(const std::string& command, const std::string& cwd, int timeout_ms = 60000) {
  std::vector<std::pair<std::string, std::string>> env = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, {"HOME", cwd}, {"LANG", "C.UTF-8"}};
  env.insert(env.end(), kMpiEnv.begin(), kMpiEnv.end());
  return Cluster::run_program({"/bin/bash", "-c", command}, env, timeout_ms, cwd);
}

// The field of an uninterrupted run with 2 ranks and no checkpoint, written to `out`.
std::string reference(const std::string& dir, int steps, int ranks = 2) {
  const std::string out = dir + "/reference-" + std::to_string(ranks) + ".raw";
  const CliResult r = shell(mpirun(ranks) + kHeat + " " + problem(steps) + " --every 0 --checkpoint-dir " + dir +
                                "/reference-ckpt-" + std::to_string(ranks) + " --out " + out,
                            dir);
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "heat2d: done: step " + std::to_string(steps) + ", checksum")) << r.describe();
  const std::string field = read_file(out);
  EXPECT_EQ(field.size(), 64u * 64u * 8u) << r.describe();
  return field;
}

// Equal bytes, or a message saying where they first differ.
::testing::AssertionResult same_field(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "the field has " << got.size() << " bytes, the reference " << want.size();
  std::size_t k = 0;
  while (got[k] == want[k]) ++k;
  return ::testing::AssertionFailure() << "the field differs from the reference, first at byte " << k << " (point "
                                       << k / 8 << ")";
}

// The steps heat2d resumed from, in order ("heat2d: resumed from step N (...)").
std::vector<int> resumed_steps(const std::string& log) {
  std::vector<int> steps;
  const std::regex line(R"(heat2d: resumed from step (\d+) )");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it)
    steps.push_back(std::stoi((*it)[1]));
  return steps;
}

// ---- heat2d as Drover jobs ----

class Heat2dJobTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (const std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    ClusterTest::SetUp();
    if (cluster().node_info().value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  }
  // Named like the host: Open MPI would take another name for a node to reach with srun.
  Cluster::Config config() const override { return host_named_config(); }

  // Submits heat2d with 2 ranks as a job: drover options, then heat2d's. The field goes
  // to field.raw and the output of every attempt to heat.log in the work directory.
  std::string submit_heat(std::vector<std::string> drover_args, const std::string& heat_args,
                          std::vector<std::pair<std::string, std::string>> env = {}) {
    drover_args.insert(drover_args.begin(), {"-n", "2"});
    drover_args.push_back("--wrap");
    drover_args.push_back(mpirun(2) + kHeat + " " + heat_args + " --out field.raw >> heat.log 2>&1");
    CliOptions opts;
    opts.env = kMpiEnv;
    opts.env.insert(opts.env.end(), env.begin(), env.end());
    return cluster().submit(drover_args, opts);
  }
  std::string log() { return read_file(cluster().work_dir() + "/heat.log"); }
  std::string field() { return read_file(cluster().work_dir() + "/field.raw"); }
  std::string checkpoint_dir(const std::string& id) { return cluster().work_dir() + "/drover-checkpoints/" + id; }
  // Describes a finished job and checks that it succeeded (the log and daemons' logs if not).
  Json succeeded(const std::string& id, int timeout_ms) {
    const Json j = finished(id, timeout_ms);
    EXPECT_TRUE(j.is_object() && j.value("status", "") == "SUCCEEDED")
        << j.dump(2) << "\n--- heat.log:\n" << log() << cluster().logs();
    return j;
  }
};

TEST_F(Heat2dJobTest, UninterruptedUnderDroverTheFieldIsTheReference) {
  // --checkpoint signals 60 s before the limit (at once under a shorter one): 5 minutes.
  const std::string want = reference(cluster().dir(), 200);
  const std::string id = submit_heat({"--checkpoint", "-t", "5:00"}, problem(200) + " --every 50");
  const Json j = succeeded(id, 30000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["attempts"].size(), 1u) << j.dump(2);
  EXPECT_TRUE(same_field(field(), want)) << log();
  const std::string out = log();
  EXPECT_TRUE(contains(out, "heat2d: 64 x 64 grid, 2 rank(s), 200 steps, checkpoint every 50, in " +
                                checkpoint_dir(id) + " (attempt 1)"))
      << out;
  EXPECT_TRUE(contains(out, "heat2d: no checkpoint: starting at step 0")) << out;
  for (const char* step : {"50", "100", "150"})
    EXPECT_TRUE(contains(out, std::string("heat2d: checkpoint ") + step + " committed")) << out;
  // keep-last 2, and drover show lists them.
  EXPECT_TRUE(fs::exists(checkpoint_dir(id) + "/ckpt-000000000150/data.h5"));
  EXPECT_TRUE(fs::exists(checkpoint_dir(id) + "/ckpt-000000000100/manifest.json"));
  EXPECT_FALSE(fs::exists(checkpoint_dir(id) + "/ckpt-000000000050"));
  const CliResult show = cluster().cli("show", id);
  EXPECT_TRUE(contains(show.out, "checkpoints:      2 in " + checkpoint_dir(id))) << show.out;
}

TEST_F(Heat2dJobTest, StoppedByItsTimeLimitAgainAndAgainItCarriesOnToTheSameField) {
  // 450 steps of at least 10 ms need 4.5 s; each attempt gets its signal 2 s after it
  // started (4 s limit, USR1@2) and computes for less than that: at least 3 attempts.
  const std::string want = reference(cluster().dir(), 450);
  const std::string id = submit_heat({"--checkpoint-signal", "USR1@2", "-t", "0:04"},
                                     problem(450) + " --every 100 --sleep-ms 10");
  const Json j = succeeded(id, 60000);
  ASSERT_TRUE(j.is_object());
  const auto& attempts = j["attempts"];
  ASSERT_GE(attempts.size(), 3u) << j.dump(2) << log();
  for (std::size_t a = 0; a + 1 < attempts.size(); ++a) {
    EXPECT_EQ(attempts[a].value("statusReason", ""), "requeued") << j.dump(2);
    EXPECT_EQ(attempts[a]["container"].value("exitCode", -1), 75) << "attempt " << a + 1 << " should have "
                                                                  << "checkpointed on the signal and exited 75\n"
                                                                  << j.dump(2) << log();
  }
  EXPECT_TRUE(same_field(field(), want)) << log();
  // Each later attempt resumed where the one before stopped, further each time.
  const std::string out = log();
  const std::vector<int> resumed = resumed_steps(out);
  ASSERT_EQ(resumed.size(), attempts.size() - 1) << out;
  for (std::size_t k = 0; k < resumed.size(); ++k) {
    EXPECT_TRUE(contains(out, "heat2d: stop requested: checkpointed step " + std::to_string(resumed[k]) +
                                  ", exiting 75 (requeue me)"))
        << out;
    if (k > 0) {
      EXPECT_GT(resumed[k], resumed[k - 1]) << out;
    }
    EXPECT_TRUE(contains(out, "(attempt " + std::to_string(k + 2) + ")")) << out;
  }
}

TEST_F(Heat2dJobTest, PreemptedByAHigherQueueItCheckpointsWaitsAndResumes) {
  const CliResult made = cluster().run_cli(
      {"queues", "create", "scavenge", "--envs", "local", "--priority", "0", "--preempt-mode", "requeue"});
  ASSERT_EQ(made.code, 0) << made.describe();
  const std::string all = std::to_string(cluster().node_info().value("vcpus", 0));
  const std::string want = reference(cluster().dir(), 300);
  const std::string low = submit_heat({"-p", "scavenge", "--checkpoint-signal", "USR1@10", "-t", "1:00"},
                                      problem(300) + " --every 50 --sleep-ms 10");
  // Once it has checkpointed it is well into its run (and handles the signal).
  ASSERT_TRUE(wait_until([&] { return contains(log(), "heat2d: checkpoint 50 committed"); }, 20000))
      << log() << cluster().logs();
  const std::string high = cluster().submit({"-c", all, "--wrap", "echo high ran >> heat.log"});
  ASSERT_TRUE(cluster().wait_for_state(high, "SUCCEEDED", 20000)) << log();
  const Json j = succeeded(low, 30000);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2) << log();
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued") << j.dump(2);
  EXPECT_EQ(j["attempts"][0]["container"].value("exitCode", -1), 75) << j.dump(2);
  EXPECT_TRUE(contains(cluster().head_log(), "job " + low + ": Preempted by job " + high)) << cluster().logs();
  EXPECT_TRUE(same_field(field(), want)) << log();
  // It stopped at a step of its own choosing, the other job ran, then it went on from there.
  const std::string out = log();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(heat2d: stop requested: checkpointed step (\d+), exiting 75)")))
      << out;
  const std::string stopped = m[1];
  EXPECT_GE(std::stoi(stopped), 50);
  EXPECT_LT(std::stoi(stopped), 300);
  const auto stop_at = out.find(m[0]), high_at = out.find("high ran"),
             resumed_at = out.find("heat2d: resumed from step " + stopped + " ");
  ASSERT_NE(high_at, std::string::npos) << out;
  ASSERT_NE(resumed_at, std::string::npos) << out;
  EXPECT_LT(stop_at, high_at) << out;
  EXPECT_LT(high_at, resumed_at) << out;
}

TEST_F(Heat2dJobTest, ARankKilledInTheMiddleOfACheckpointIsRetriedFromThePreviousOne) {
  // Attempt 1: checkpoint 50 commits; in checkpoint 100 rank 1 has written its half of
  // data.h5 and is killed (SIGKILL) before the commit. mpirun fails, --retry runs the job
  // again, and attempt 2 must resume from 50: the half-written 100 never counts.
  const std::string want = reference(cluster().dir(), 200);
  const std::string id = submit_heat({"--checkpoint", "--retry", "2", "-t", "5:00"}, problem(200) + " --every 50",
                                     {{"HEAT2D_ABORT_IN_CHECKPOINT", "100"}});
  const Json j = succeeded(id, 30000);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2) << log();
  const int first_exit = j["attempts"][0]["container"].value("exitCode", 0);
  EXPECT_NE(first_exit, 0) << j.dump(2);
  EXPECT_NE(first_exit, 75) << j.dump(2);
  EXPECT_NE(j["attempts"][0].value("statusReason", ""), "requeued") << "a failure, retried: " << j.dump(2);
  EXPECT_TRUE(same_field(field(), want)) << log();

  const std::string out = log();
  EXPECT_TRUE(contains(out, "heat2d: checkpoint 50 committed")) << out;
  EXPECT_TRUE(contains(out, "rank 1 kills itself in checkpoint 100, before the commit")) << out;
  // Attempt 1 never reported checkpoint 100; attempt 2 cleared the leftover and resumed from 50.
  const auto killed = out.find("kills itself");
  ASSERT_NE(killed, std::string::npos) << out;
  const std::string before = out.substr(0, killed), after = out.substr(killed);
  EXPECT_FALSE(contains(before, "heat2d: checkpoint 100 committed")) << out;
  EXPECT_TRUE(contains(after, "(attempt 2)")) << out;
  EXPECT_TRUE(std::regex_search(after, std::regex("drover-checkpoint: warning: removed " + checkpoint_dir(id) +
                                                  R"(/\.tmp-ckpt-000000000100-\S+, left by an interrupted checkpoint)")))
      << out;
  EXPECT_EQ(resumed_steps(out), std::vector<int>{50}) << out;
  EXPECT_TRUE(contains(after, "heat2d: checkpoint 100 committed")) << out;
  // Nothing temporary is left; the kept checkpoints are the second attempt's.
  for (const auto& e : fs::directory_iterator(checkpoint_dir(id)))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos) << e.path();
  EXPECT_TRUE(fs::exists(checkpoint_dir(id) + "/ckpt-000000000150/manifest.json"));
}

// ---- heat2d under plain mpirun: rank counts, damaged checkpoints ----

class Heat2dRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    char tmpl[] = "/tmp/drover-heat2d-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  CliResult heat(int ranks, const std::string& args) {
    return shell(mpirun(ranks) + kHeat + " " + args + " --checkpoint-dir " + ckpt(), dir_);
  }
  std::string ckpt() const { return dir_ + "/ckpt"; }
  std::string newest_data() const { return ckpt() + "/ckpt-000000000150/data.h5"; }
  // 2 ranks run 150 of 200 steps, checkpointing every 50, and stop as if signalled: the
  // kept checkpoints are 100 and 150.
  void run_and_stop() {
    const CliResult r = heat(2, problem(200) + " --every 50 --stop-at 150");
    ASSERT_EQ(r.code, 75) << r.describe();
    ASSERT_TRUE(contains(r.out, "heat2d: stop requested: checkpointed step 150, exiting 75")) << r.describe();
    ASSERT_TRUE(fs::exists(newest_data()));
    ASSERT_TRUE(fs::exists(ckpt() + "/ckpt-000000000100/data.h5"));
  }
  std::string dir_;
};

TEST_F(Heat2dRunTest, TheFieldDoesNotDependOnTheRankCountNorOnRestartsWithOtherCounts) {
  const std::string want = reference(dir_, 200, 2);
  EXPECT_TRUE(same_field(reference(dir_, 200, 1), want));
  EXPECT_TRUE(same_field(reference(dir_, 200, 3), want));
  // Written by 2 ranks, resumed by 3.
  run_and_stop();
  const CliResult r = heat(3, problem(200) + " --every 50 --out " + dir_ + "/field.raw");
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "heat2d: resumed from step 150 (" + ckpt() + "/ckpt-000000000150, written by 2 rank(s))"))
      << r.describe();
  EXPECT_TRUE(same_field(read_file(dir_ + "/field.raw"), want)) << r.describe();
}

TEST_F(Heat2dRunTest, ACorruptNewestCheckpointIsSkippedWithAWarning) {
  const std::string want = reference(dir_, 200);
  run_and_stop();
  // Change one value of the field's data, T[32][32], in its last bit: HDF5 would read it
  // back without a murmur; only the manifest's CRC32C can tell. The data starts with the
  // top row, 64 values of 100.0.
  std::string data = read_file(newest_data());
  const auto size = data.size();
  std::string top_row;
  for (int j = 0; j < 64; ++j) top_row += std::string("\0\0\0\0\0\0\x59\x40", 8);  // 100.0, little-endian
  const auto start = data.find(top_row);
  ASSERT_NE(start, std::string::npos);
  data[start + (32 * 64 + 32) * 8] ^= 1;
  write_file(newest_data(), data);
  ASSERT_EQ(fs::file_size(newest_data()), size);
  const CliResult r = heat(3, problem(200) + " --every 50 --out " + dir_ + "/field.raw");
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(std::regex_search(r.err, std::regex("drover-checkpoint: warning: skipped checkpoint " + ckpt() +
                                                  "/ckpt-000000000150: data.h5: checksum mismatch")))
      << r.describe();
  EXPECT_TRUE(contains(r.err, "restarting from " + ckpt() + "/ckpt-000000000100 (step 100) instead of the newer 1 "
                              "damaged one(s)"))
      << r.describe();
  EXPECT_EQ(resumed_steps(r.out), std::vector<int>{100}) << r.describe();
  EXPECT_TRUE(same_field(read_file(dir_ + "/field.raw"), want)) << r.describe();
}

TEST_F(Heat2dRunTest, ATruncatedNewestCheckpointIsSkippedWithAWarning) {
  const std::string want = reference(dir_, 200);
  run_and_stop();
  const auto size = fs::file_size(newest_data());
  fs::resize_file(newest_data(), size - 1000);
  const CliResult r = heat(1, problem(200) + " --every 50 --out " + dir_ + "/field.raw");
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "drover-checkpoint: warning: skipped checkpoint " + ckpt() +
                                  "/ckpt-000000000150: data.h5: size mismatch: manifest says " + std::to_string(size) +
                                  " bytes, the file has " + std::to_string(size - 1000)))
      << r.describe();
  EXPECT_TRUE(contains(r.err, "restarting from " + ckpt() + "/ckpt-000000000100 (step 100)")) << r.describe();
  EXPECT_EQ(resumed_steps(r.out), std::vector<int>{100}) << r.describe();
  EXPECT_TRUE(same_field(read_file(dir_ + "/field.raw"), want)) << r.describe();
}

}  // namespace
}  // namespace drover::it
