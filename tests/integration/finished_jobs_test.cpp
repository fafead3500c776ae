// Finished jobs leave droverd's memory after --keep-finished, and stay reachable:
// show, logs, history and dependencies read them from the store.
#include "cluster.hpp"

namespace drover::it {
namespace {

class FinishedJobsTest : public ClusterTest {
  Cluster::Config config() const override {
    Cluster::Config c;
    c.head_args = {"--keep-finished", "0.3"};
    return c;
  }
};

TEST_F(FinishedJobsTest, ForgottenJobsAreStillFoundInTheStore) {
  const std::string ok = cluster().submit({"--wrap", "echo kept"});
  const std::string bad = cluster().submit({"--wrap", "exit 4"});
  ASSERT_TRUE(cluster().wait_for_state(ok, "SUCCEEDED"));
  ASSERT_TRUE(cluster().wait_for_state(bad, "FAILED"));
  // Evicted once older than 0.3 s; the sweep runs every second.
  ASSERT_TRUE(wait_until([&] { return contains(cluster().head_log(), "forgot 2 finished jobs"); }, 5000, 50))
      << cluster().logs();

  const CliResult all = cluster().run_cli({"jobs", "-a", "--json"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(Json::parse(all.out)["jobSummaryList"].size(), 0u) << all.out;

  EXPECT_EQ(cluster().describe(ok).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(cluster().describe(bad).value("status", ""), "FAILED");
  const CliResult logs = cluster().run_cli({"logs", ok});
  EXPECT_EQ(logs.out, "kept\n") << logs.err;
  const CliResult hist = cluster().run_cli({"history", "--json"});
  ASSERT_EQ(hist.code, 0) << hist.err;
  EXPECT_EQ(Json::parse(hist.out).size(), 2u) << hist.out;

  // Dependencies on forgotten jobs are decided from their recorded end.
  const std::string after = cluster().submit({"--dependency", "afterok:" + ok, "--wrap", "echo after"});
  ASSERT_FALSE(after.empty());
  EXPECT_TRUE(cluster().wait_for_state(after, "SUCCEEDED"));
  const CliResult never = cluster().run_cli({"submit", "--dependency", "afterok:" + bad, "--wrap", "true"});
  EXPECT_NE(never.code, 0);
  EXPECT_TRUE(contains(never.err, "can never be satisfied")) << never.err;
  EXPECT_TRUE(contains(never.err, "FAILED")) << never.err;
  const CliResult any = cluster().run_cli({"submit", "--parsable", "--dependency", "afterany:" + bad, "--wrap", "true"});
  EXPECT_EQ(any.code, 0) << any.err;
}

// The head writes a job's end to the store lazily (within 100 ms, with the sync
// timer); history, read from the store, must still show a job the moment it ended.
TEST_F(FinishedJobsTest, HistoryShowsAJobTheMomentItEnded) {
  for (int i = 0; i < 5; ++i) {
    const std::string id = cluster().submit({"--wrap", "true"});
    ASSERT_EQ(cluster().wait_for_end(id).value("status", ""), "SUCCEEDED");
    const CliResult hist = cluster().run_cli({"history", "--json"});
    ASSERT_EQ(hist.code, 0) << hist.err;
    bool found = false;
    for (const auto& j : Json::parse(hist.out)) found |= j.value("jobId", "") == id;
    EXPECT_TRUE(found) << "job " << id << " missing from:\n" << hist.out;
  }
}

}  // namespace
}  // namespace drover::it
