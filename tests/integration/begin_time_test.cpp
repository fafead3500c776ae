// sbatch --begin with the real daemons: a job asked to start later waits
// RUNNABLE with reason BeginTime and its time as the expected start, starts by
// itself when the time comes (the head sets a timer; nothing else happens in
// between), and jobs behind it are not held up.
#include "cluster.hpp"

namespace drover::it {
namespace {

using BeginTimeTest = ClusterTest;

TEST_F(BeginTimeTest, StartsNotBeforeItsTimeAndThenByItself) {
  const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const std::string later = cluster().submit({"--begin", "now+3", "--wrap", "true"});
  const std::string now = cluster().submit({"--wrap", "true"});
  ASSERT_TRUE(cluster().wait_for_state(now, "SUCCEEDED"));
  const Json waiting = cluster().describe(later);
  ASSERT_EQ(waiting.value("status", ""), "RUNNABLE") << waiting.dump(2);
  EXPECT_EQ(waiting.value("pendingReason", ""), "BeginTime") << waiting.dump(2);
  const std::int64_t begin = waiting.value("beginAt", std::int64_t{0});
  // now+3 counts from the whole second.
  EXPECT_GE(begin, before_ms / 1000 * 1000 + 3000) << waiting.dump(2);
  EXPECT_LE(begin, before_ms + 6000) << waiting.dump(2);
  EXPECT_EQ(waiting.value("estimatedStartAt", std::int64_t{0}), begin) << waiting.dump(2);
  const CliResult show = cluster().cli("show", later);
  EXPECT_TRUE(contains(show.out, "not before")) << show.out;

  const Json j = finished(later, 15000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
  EXPECT_GE(j.value("startedAt", std::int64_t{0}), begin) << j.dump(2);
}

TEST_F(BeginTimeTest, APastTimeStartsAtOnceAndBadTimesAreClearErrors) {
  const std::string id = cluster().submit({"--begin", "2001-01-01T00:00:00", "--wrap", "true"});
  ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
  EXPECT_FALSE(cluster().describe(id).contains("beginAt"));
  const CliResult bad = cluster().cli("submit", "--begin", "someday", "--wrap", "true");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.err, "--begin")) << bad.describe();
  // --test-only says when, and submits nothing.
  const CliResult test = cluster().cli("submit", "--test-only", "--begin", "now+1hour", "--wrap", "true");
  EXPECT_EQ(test.code, 0) << test.describe();
  EXPECT_TRUE(contains(test.out, "Would start not before ")) << test.out;
  EXPECT_TRUE(contains(test.out, "Nothing was submitted")) << test.out;
  const CliResult held = cluster().cli("submit", "--test-only", "--hold", "--wrap", "true");
  EXPECT_TRUE(contains(held.out, "when released")) << held.describe();
  const CliResult far = cluster().cli("submit", "--begin", "now+400days", "--wrap", "true");
  EXPECT_NE(far.code, 0);
  EXPECT_TRUE(contains(far.err, "more than a year ahead")) << far.describe();
}

}  // namespace
}  // namespace drover::it
