// Per-queue scheduling options with the real daemons: the backfill mode
// (`drover queues update Q --backfill easy|conservative|fifo`) changes the
// schedule droverd makes, and kill-on-invalid-dep (sbatch's option and the
// queue's default) keeps a job whose dependency can never be met PENDING with
// reason DependencyNeverSatisfied until `drover update --dependency` repairs
// it, across a head restart.
#include "cluster.hpp"

namespace drover::it {
namespace {

using QueueOptionsTest = ClusterTest;

std::int64_t at(const Json& j, const char* key) { return j.value(key, std::int64_t{0}); }

std::string gated(const std::string& gate) { return "while [ ! -e " + gate + " ]; do sleep 0.05; done"; }

TEST_F(QueueOptionsTest, BackfillModeOfAQueueChangesTheSchedule) {
  if (cluster().node_info().value("vcpus", 0) != 2) GTEST_SKIP() << "this scenario is written for a 2-CPU node";
  const CliResult set = cluster().run_cli({"queues", "update", "default", "--backfill", "conservative"});
  ASSERT_EQ(set.code, 0) << set.err;
  const CliResult show = cluster().run_cli({"queues", "show", "default"});
  EXPECT_TRUE(contains(show.out, "backfill: CONSERVATIVE")) << show.out;
  const CliResult list = cluster().run_cli({"queues", "list"});
  EXPECT_TRUE(contains(list.out, "BACKFILL")) << list.out;
  EXPECT_TRUE(contains(list.out, "CONSERVATIVE")) << list.out;

  const std::string gate = cluster().work_dir() + "/gate";
  // A holds one CPU for up to a minute; B and C need both CPUs for a minute each.
  const std::string a = cluster().submit({"-c", "1", "-t", "1:00", "--wrap", gated(gate)});
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  const std::string b = cluster().submit({"-c", "2", "-t", "1:00", "--wrap", "true"});
  const std::string c = cluster().submit({"-c", "2", "-t", "1:00", "--wrap", "true"});
  const std::int64_t a_start = at(cluster().describe(a), "startedAt");
  // Conservative: B is expected when A's limit ends, C a minute after B.
  auto near = [](std::int64_t got, std::int64_t want) { return got > 0 && std::llabs(got - want) < 2000; };
  ASSERT_TRUE(wait_until([&] { return near(at(cluster().describe(c), "estimatedStartAt"), a_start + 120'000); }, 5000))
      << cluster().describe(c).dump(2);
  EXPECT_TRUE(near(at(cluster().describe(b), "estimatedStartAt"), a_start + 60'000)) << cluster().describe(b).dump(2);
  EXPECT_EQ(cluster().describe(c).value("pendingReason", ""), "Priority");

  // EASY: only B, the first that cannot start, is promised a time.
  ASSERT_EQ(cluster().run_cli({"queues", "update", "default", "--backfill", "easy"}).code, 0);
  ASSERT_TRUE(wait_until([&] { return at(cluster().describe(c), "estimatedStartAt") == 0; }, 5000))
      << cluster().describe(c).dump(2);
  EXPECT_TRUE(near(at(cluster().describe(b), "estimatedStartAt"), a_start + 60'000)) << cluster().describe(b).dump(2);

  // FIFO: no reservations, and D (one CPU for 10 s, which EASY would backfill)
  // waits behind B.
  ASSERT_EQ(cluster().run_cli({"queues", "update", "default", "--backfill", "fifo"}).code, 0);
  const std::string d = cluster().submit({"-c", "1", "-t", "0:10", "--wrap", "true"});
  ASSERT_TRUE(wait_until([&] { return cluster().describe(d).value("pendingReason", "") == "Priority"; }, 5000))
      << cluster().describe(d).dump(2);
  EXPECT_EQ(at(cluster().describe(b), "estimatedStartAt"), 0) << cluster().describe(b).dump(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(cluster().state(d), "RUNNABLE");

  // Back to EASY: D ends before B's reservation, so it starts now.
  ASSERT_EQ(cluster().run_cli({"queues", "update", "default", "--backfill", "EASY"}).code, 0);
  EXPECT_EQ(cluster().wait_for_end(d, 10000).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(cluster().state(a), "RUNNING");
  write_file(gate, "");
  for (const auto& id : {a, b, c}) EXPECT_EQ(cluster().wait_for_end(id, 20000).value("status", ""), "SUCCEEDED");
}

TEST_F(QueueOptionsTest, BadQueueOptionValuesAreRefused) {
  const CliResult bad = cluster().run_cli({"queues", "update", "default", "--backfill", "greedy"});
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.err, "--backfill greedy: expected easy, conservative or fifo")) << bad.err;
  const CliResult kill = cluster().run_cli({"queues", "create", "x", "--envs", "local", "--kill-on-invalid-dep", "maybe"});
  EXPECT_NE(kill.code, 0);
  EXPECT_TRUE(contains(kill.err, "--kill-on-invalid-dep maybe: give yes or no")) << kill.err;
  // Through the API, the head says the same.
  auto api = cluster().api();
  ASSERT_TRUE(api);
  auto r = api->call("UpdateJobQueue", Json{{"jobQueueName", "default"}, {"backfill", "SOMETIMES"}}, 5000);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.message(), "backfill: expected EASY, CONSERVATIVE or FIFO, got 'SOMETIMES'")) << r.message();
  const CliResult json = cluster().run_cli({"queues", "show", "default", "--json"});
  const Json q = Json::parse(json.out, nullptr, false);
  ASSERT_TRUE(q.is_object()) << json.out;
  EXPECT_EQ(q.value("backfill", ""), "EASY") << "the default, shown";
  EXPECT_EQ(q.value("killOnInvalidDependency", false), true);
  const CliResult sub = cluster().run_cli({"submit", "--kill-on-invalid-dep=perhaps", "--wrap", "true"});
  EXPECT_NE(sub.code, 0);
  EXPECT_TRUE(contains(sub.err, "give yes or no")) << sub.err;
}

bool never_satisfied(const Json& j) {
  return j.is_object() && j.value("status", "") == "PENDING" &&
         j.value("statusReason", "").rfind("DependencyNeverSatisfied", 0) == 0;
}

TEST_F(QueueOptionsTest, InvalidDependencyFailsByDefaultOrKeepsTheJobPending) {
  const std::string bad = cluster().submit({"--wrap", "exit 3"});
  ASSERT_TRUE(cluster().wait_for_state(bad, "FAILED"));
  // The default: it fails, naming the dependency.
  const std::string dead = cluster().submit({"--dependency", "afterok:" + bad, "--wrap", "echo must not run"});
  ASSERT_TRUE(cluster().wait_for_state(dead, "FAILED"));
  EXPECT_TRUE(contains(cluster().describe(dead).value("statusReason", ""), "afterok:" + bad));

  // --kill-on-invalid-dep=no: PENDING, with the reason.
  const std::string kept = cluster().submit(
      {"--kill-on-invalid-dep=no", "--dependency", "afterok:" + bad, "--wrap", "echo repaired"});
  ASSERT_TRUE(wait_until([&] { return never_satisfied(cluster().describe(kept)); }, 5000))
      << cluster().describe(kept).dump(2);
  const Json k = cluster().describe(kept);
  EXPECT_EQ(k.value("statusReason", ""),
            "DependencyNeverSatisfied: afterok:" + bad + " can no longer be satisfied (job " + bad + " ended FAILED)");
  EXPECT_EQ(k.value("killOnInvalidDependency", true), false);
  const CliResult jobs = cluster().run_cli({"jobs"});
  EXPECT_TRUE(contains(jobs.out, "(DependencyNeverSatisfied)")) << jobs.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(cluster().state(kept), "PENDING");

  // Repair it: wait on a rerun instead. Unknown jobs and cycles are refused.
  const CliResult unknown = cluster().run_cli({"update", kept, "--dependency", "afterok:999999"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_TRUE(contains(unknown.err, "unknown job 999999")) << unknown.err;
  const CliResult self = cluster().run_cli({"update", kept, "--dependency", "afterany:" + kept});
  EXPECT_NE(self.code, 0);
  EXPECT_TRUE(contains(self.err, "cannot depend on itself")) << self.err;
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string rerun = cluster().submit({"--dependency", "afterany:" + kept, "--wrap", gated(gate)});
  const CliResult cycle = cluster().run_cli({"update", kept, "--dependency", "afterok:" + rerun});
  EXPECT_NE(cycle.code, 0);
  EXPECT_TRUE(contains(cycle.err, "cycle")) << cycle.err;
  const CliResult started = cluster().run_cli({"update", bad, "--dependency", ""});
  EXPECT_NE(started.code, 0);
  EXPECT_TRUE(contains(started.err, "only waiting jobs can change")) << started.err;

  ASSERT_EQ(cluster().run_cli({"update", rerun, "--dependency", ""}).code, 0);  // free the rerun
  ASSERT_TRUE(cluster().wait_for_state(rerun, "RUNNING"));
  const CliResult fix = cluster().run_cli({"update", kept, "--dependency", "afterok:" + rerun});
  ASSERT_EQ(fix.code, 0) << fix.err;
  const Json waiting = cluster().describe(kept);
  EXPECT_EQ(waiting.value("status", ""), "PENDING");
  EXPECT_EQ(waiting.value("statusReason", ""), "Dependency");
  write_file(gate, "");
  EXPECT_EQ(cluster().wait_for_end(kept, 10000).value("status", ""), "SUCCEEDED");

  // --dependency "" clears them: a kept job runs at once.
  const std::string kept2 = cluster().submit(
      {"--kill-on-invalid-dep=no", "--dependency", "afterok:" + bad, "--wrap", "true"});
  ASSERT_TRUE(wait_until([&] { return never_satisfied(cluster().describe(kept2)); }, 5000));
  ASSERT_EQ(cluster().run_cli({"update", kept2, "--dependency", ""}).code, 0);
  EXPECT_EQ(cluster().wait_for_end(kept2, 10000).value("status", ""), "SUCCEEDED");
}

TEST_F(QueueOptionsTest, QueueDefaultKeepsJobsPendingAcrossARestart) {
  const CliResult made =
      cluster().run_cli({"queues", "create", "keep", "--envs", "local", "--kill-on-invalid-dep", "no"});
  ASSERT_EQ(made.code, 0) << made.err;
  const CliResult show = cluster().run_cli({"queues", "show", "keep"});
  EXPECT_TRUE(contains(show.out, "kill on invalid dependency: no")) << show.out;
  const std::string bad = cluster().submit({"--wrap", "exit 1"});
  ASSERT_TRUE(cluster().wait_for_state(bad, "FAILED"));
  const std::string kept = cluster().submit({"-p", "keep", "--dependency", "afterok:" + bad, "--wrap", "true"});
  // A job of that queue that says yes itself fails.
  const std::string killed = cluster().submit(
      {"-p", "keep", "--kill-on-invalid-dep=yes", "--dependency", "afterok:" + bad, "--wrap", "true"});
  // An array waits whole.
  const std::string array =
      cluster().submit({"-p", "keep", "--array", "0-3", "--dependency", "afterok:" + bad, "--wrap", "true"});
  ASSERT_TRUE(wait_until([&] { return never_satisfied(cluster().describe(kept)); }, 5000))
      << cluster().describe(kept).dump(2);
  ASSERT_TRUE(wait_until([&] { return never_satisfied(cluster().describe(array)); }, 5000))
      << cluster().describe(array).dump(2);
  EXPECT_TRUE(cluster().wait_for_state(killed, "FAILED"));

  cluster().kill_head(SIGKILL);
  ASSERT_EQ(cluster().restart_head(), "");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(never_satisfied(cluster().describe(kept))) << cluster().describe(kept).dump(2);
  EXPECT_TRUE(never_satisfied(cluster().describe(array))) << cluster().describe(array).dump(2);

  // Cancelled, it ends; the array, repaired, runs every task.
  ASSERT_EQ(cluster().run_cli({"cancel", kept}).code, 0);
  EXPECT_EQ(cluster().wait_for_end(kept, 10000).value("status", ""), "FAILED");
  ASSERT_EQ(cluster().run_cli({"update", array, "--dependency", ""}).code, 0);
  EXPECT_EQ(cluster().wait_for_end(array, 20000).value("status", ""), "SUCCEEDED");
}

}  // namespace
}  // namespace drover::it
