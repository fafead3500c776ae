// EASY backfill in droverd: the first job that cannot start gets a reservation and an
// expected start; a later job starts only if it ends before that reservation.
#include "cluster.hpp"

namespace drover::it {
namespace {

using BackfillTest = ClusterTest;

TEST_F(BackfillTest, ShortJobsFillTheHoleLongOnesWait) {
  if (cluster().node_info().value("vcpus", 0) != 2) GTEST_SKIP() << "this scenario is written for a 2-CPU node";
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string wait_gate = "while [ ! -e " + gate + " ]; do sleep 0.05; done";
  // A holds one CPU for up to a minute; B needs both, so it is reserved for A's end.
  const std::string a = cluster().submit({"-c", "1", "-t", "1:00", "--wrap", wait_gate});
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  const std::string b = cluster().submit({"-c", "2", "-t", "1:00", "--wrap", "true"});
  // C needs one CPU for 10 s: it ends before B's reservation, so it starts now.
  const std::string c = cluster().submit({"-c", "1", "-t", "0:10", "--wrap", wait_gate});
  // D has no time limit: it could delay B, so it waits behind it.
  const std::string d = cluster().submit({"-c", "1", "--wrap", "true"});
  ASSERT_TRUE(cluster().wait_for_state(c, "RUNNING"));
  const Json jb = cluster().describe(b);
  const Json ja = cluster().describe(a);
  EXPECT_EQ(jb.value("status", ""), "RUNNABLE");
  EXPECT_EQ(jb.value("pendingReason", ""), "Resources") << jb.dump(2);
  // Expected when A's limit runs out.
  EXPECT_NEAR(static_cast<double>(jb.value("estimatedStartAt", 0LL)),
              static_cast<double>(ja.value("startedAt", 0LL) + 60'000), 2000.0)
      << jb.dump(2);
  const Json jd = cluster().describe(d);
  EXPECT_EQ(jd.value("status", ""), "RUNNABLE");
  EXPECT_EQ(jd.value("pendingReason", ""), "Priority") << jd.dump(2);
  const CliResult jobs = cluster().run_cli({"jobs", "--start"});
  EXPECT_TRUE(contains(jobs.out, "START")) << jobs.out;
  EXPECT_TRUE(contains(jobs.out, "(Resources)")) << jobs.out;

  write_file(gate, "");
  for (const auto& id : {a, b, c, d}) EXPECT_EQ(cluster().wait_for_end(id, 20000).value("status", ""), "SUCCEEDED");
  // B ran before D: the reservation held.
  EXPECT_LE(cluster().describe(b).value("startedAt", 0LL), cluster().describe(d).value("startedAt", 0LL));
}

TEST_F(BackfillTest, QueueTimeLimitsAndPerUserQuota) {
  const CliResult made = cluster().run_cli({"queues", "create", "short", "--envs", "local", "--default-time", "0:30",
                                            "--max-time", "1:00", "--max-jobs-per-user", "1"});
  ASSERT_EQ(made.code, 0) << made.err;
  const CliResult too_long = cluster().run_cli({"submit", "-p", "short", "-t", "2:00", "--wrap", "true"});
  EXPECT_NE(too_long.code, 0);
  EXPECT_TRUE(contains(too_long.err, "queue 'short' allows at most 60 s")) << too_long.err;

  const std::string gate = cluster().work_dir() + "/gate";
  const std::string first = cluster().submit({"-p", "short", "--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done"});
  const std::string second = cluster().submit({"-p", "short", "--wrap", "true"});
  ASSERT_TRUE(cluster().wait_for_state(first, "RUNNING"));
  EXPECT_EQ(cluster().describe(first)["timeout"].value("attemptDurationSeconds", 0), 30);  // the default
  ASSERT_TRUE(wait_until([&] { return cluster().describe(second).value("pendingReason", "") == "QuotaUser"; }, 5000))
      << cluster().describe(second).dump(2);
  write_file(gate, "");
  EXPECT_EQ(cluster().wait_for_end(second, 10000).value("status", ""), "SUCCEEDED");
  const CliResult list = cluster().run_cli({"queues", "list"});
  EXPECT_TRUE(contains(list.out, "0:30/1:00")) << list.out;
  EXPECT_TRUE(contains(list.out, "1 jobs")) << list.out;
}

TEST_F(BackfillTest, QueuePreemptionModeSetting) {
  const CliResult made = cluster().run_cli({"queues", "create", "scavenge", "--envs", "local", "--priority", "0",
                                            "--preempt-mode", "requeue"});
  ASSERT_EQ(made.code, 0) << made.err;
  auto mode_of = [&](const std::string& name) -> std::string {
    const CliResult list = cluster().run_cli({"queues", "list", "--json"});
    EXPECT_EQ(list.code, 0) << list.err;
    const Json j = Json::parse(list.out, nullptr, false);
    if (j.is_discarded() || !j.contains("jobQueues")) return "unreadable: " + list.out;
    for (const auto& q : j["jobQueues"])
      if (q.value("jobQueueName", "") == name) return q.value("preemptionMode", "(absent)");
    return "no queue " + name;
  };
  EXPECT_EQ(mode_of("scavenge"), "REQUEUE");
  EXPECT_EQ(mode_of("default"), "OFF") << "the default";
  const CliResult table = cluster().run_cli({"queues", "list"});
  EXPECT_TRUE(contains(table.out, "PREEMPT")) << table.out;
  EXPECT_TRUE(contains(table.out, "REQUEUE")) << table.out;

  // update changes only the mode; other settings stay.
  ASSERT_EQ(cluster().run_cli({"queues", "update", "scavenge", "--preempt-mode", "CANCEL"}).code, 0);
  EXPECT_EQ(mode_of("scavenge"), "CANCEL");
  ASSERT_EQ(cluster().run_cli({"queues", "update", "scavenge", "--priority", "2"}).code, 0);
  EXPECT_EQ(mode_of("scavenge"), "CANCEL");

  for (const char* sub : {"create", "update"}) {
    SCOPED_TRACE(sub);
    const std::string name = std::string(sub) == "create" ? "other" : "scavenge";
    const CliResult bad = cluster().run_cli({"queues", sub, name, "--envs", "local", "--preempt-mode", "x"});
    EXPECT_NE(bad.code, 0);
    EXPECT_TRUE(contains(bad.err, "preemptionMode: expected OFF, REQUEUE or CANCEL, got 'x'")) << bad.err;
  }
  EXPECT_EQ(mode_of("scavenge"), "CANCEL") << "a refused update changes nothing";
  EXPECT_EQ(mode_of("other"), "no queue other");
}

TEST_F(BackfillTest, HoldReleaseUpdateRequeue) {
  const std::string held = cluster().submit({"--hold", "-t", "0:30", "--wrap", "echo ran"});
  ASSERT_TRUE(wait_until([&] { return cluster().describe(held).value("pendingReason", "") == "Held"; }, 5000))
      << cluster().describe(held).dump(2);
  const CliResult upd = cluster().run_cli({"update", held, "-t", "5:00", "-c", "1"});
  ASSERT_EQ(upd.code, 0) << upd.err;
  EXPECT_EQ(cluster().describe(held)["timeout"].value("attemptDurationSeconds", 0), 300);
  ASSERT_EQ(cluster().run_cli({"release", held}).code, 0);
  EXPECT_EQ(cluster().wait_for_end(held).value("status", ""), "SUCCEEDED");
  const CliResult late = cluster().run_cli({"hold", held});
  EXPECT_NE(late.code, 0);
  EXPECT_TRUE(contains(late.err, "SUCCEEDED")) << late.err;

  // Requeue: the running attempt is stopped, the job runs again with the same id.
  const std::string marker = cluster().work_dir() + "/second";
  const std::string id = cluster().submit(
      {"--wrap", "if [ -e " + marker + " ]; then echo again; else touch " + marker + "; sleep 60; fi"});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  ASSERT_TRUE(wait_until([&] { return fs::exists(marker); }, 5000));
  ASSERT_EQ(cluster().run_cli({"requeue", id}).code, 0);
  const Json j = cluster().wait_for_end(id, 15000);
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued");
  const CliResult not_running = cluster().run_cli({"update", id, "-t", "1:00"});
  EXPECT_NE(not_running.code, 0);
}

}  // namespace
}  // namespace drover::it
