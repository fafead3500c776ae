// sbatch --time-min with the real daemons: on this machine's node, a job that
// holds all PUs but one reserves the node for a whole-node job behind it; a job
// asking 1 h that would settle for 5 min starts now in the hole, its attempt's
// limit cut to whole minutes before the reservation; one that needs longer than
// the hole waits. `drover show` says both limits.
#include "cluster.hpp"

namespace drover::it {
namespace {

using TimeMinTest = ClusterTest;

TEST_F(TimeMinTest, StartsInTheHoleWithAShortenedLimit) {
  const CliResult nodes = cluster().cli("nodes", "--json");
  ASSERT_EQ(nodes.code, 0) << nodes.describe();
  const int pus = Json::parse(nodes.out)["nodes"][0].value("vcpus", 0);
  if (pus < 2) GTEST_SKIP() << "needs a node with 2 PUs or more, this one has " << pus;
  const std::string all_but_one = std::to_string(pus - 1);
  const std::string big = cluster().submit({"-c", all_but_one, "-t", "10", "--wrap", "sleep 300"});
  ASSERT_TRUE(cluster().wait_for_state(big, "RUNNING"));
  const std::string whole = cluster().submit({"-c", std::to_string(pus), "-t", "10", "--wrap", "true"});
  const std::string too_long = cluster().submit({"-c", "1", "-t", "1:00:00", "--time-min", "11", "--wrap", "true"});
  const std::string fits = cluster().submit({"-c", "1", "-t", "1:00:00", "--time-min", "5", "--wrap", "sleep 300"});
  ASSERT_TRUE(cluster().wait_for_state(fits, "RUNNING"));

  const Json j = cluster().describe(fits);
  EXPECT_EQ(j.value("timeMinSeconds", 0), 300) << j.dump(2);
  EXPECT_EQ(j["timeout"].value("attemptDurationSeconds", 0), 3600) << j.dump(2);
  const std::int64_t limit = j["attempts"].back().value("timeLimitSeconds", std::int64_t{0});
  // The hole: what is left of the 10 minutes of the job before it, in whole minutes.
  EXPECT_GE(limit, 300) << j.dump(2);
  EXPECT_LE(limit, 600) << j.dump(2);
  EXPECT_EQ(limit % 60, 0) << j.dump(2);
  const CliResult show = cluster().cli("show", fits);
  EXPECT_TRUE(contains(show.out, "time min")) << show.out;
  EXPECT_TRUE(contains(show.out, "this attempt's limit")) << show.out;

  // 11 minutes do not fit before the reservation: it waits, and the whole-node
  // job's reservation is still at the end of the first job.
  const Json waiting = cluster().describe(too_long);
  EXPECT_EQ(waiting.value("status", ""), "RUNNABLE") << waiting.dump(2);
  const Json reserved = cluster().describe(whole);
  EXPECT_EQ(reserved.value("status", ""), "RUNNABLE") << reserved.dump(2);
  const std::int64_t big_end = cluster().describe(big).value("startedAt", std::int64_t{0}) + 600'000;
  EXPECT_NEAR(static_cast<double>(reserved.value("estimatedStartAt", std::int64_t{0})), static_cast<double>(big_end),
              2000.0)
      << reserved.dump(2);

  // A minimum longer than the limit is refused at submit.
  const CliResult bad = cluster().cli("submit", "-t", "10", "--time-min", "20", "--wrap", "true");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.err, "longer than the time limit")) << bad.describe();
}

}  // namespace
}  // namespace drover::it
