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

}  // namespace
}  // namespace drover::it
