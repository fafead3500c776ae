// sbatch --begin with a fake clock: a RUNNABLE job whose begin time is ahead
// waits with reason BeginTime and that time as its expected start, does not
// hold back the jobs behind it, and starts once the time has come;
// ClusterState::next_start_time() is when the head runs its next pass.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "sched/scheduler.hpp"
#include "sched_test_support.hpp"
#include "test_cluster.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_array;
using drover::testing::make_test_job;
using test_support::Ids;
using test_support::started_tasks;
using test_support::reasons;


TEST(ScheduleBegin, NotBeforeItsTimeAndThenAtOnce) {
  ClusterBuilder c;
  c.simple(4);
  Job j = make_test_job(1);
  j.begin_s = 2'000;  // epoch seconds
  c.submit(j);
  c.submit(2);
  ASSERT_EQ(c.state().job(1)->state, JobState::Runnable);
  EXPECT_EQ(c.state().next_start_time(1'000'000), 2'000'000);
  for (const std::int64_t now : {std::int64_t{1'000'000}, std::int64_t{1'999'999}}) {
    Policy fifo;
    fifo.backfill = Backfill::None;  // even strict FIFO: a job that may not start yet blocks nothing
    const PassResult r = schedule(c.state(), now, fifo);
    EXPECT_EQ(started_tasks(r), Ids{2}) << "at " << now;
    const auto why = reasons(r);
    ASSERT_TRUE(why.count(1)) << "at " << now;
    EXPECT_EQ(why.at(1).reason, "BeginTime");
    EXPECT_EQ(why.at(1).estimated_start_ms, 2'000'000);
  }
  EXPECT_EQ(started_tasks(schedule(c.state(), 2'000'000, {})), (Ids{1, 2}));
  // Once it is past, the time no longer wakes the head.
  EXPECT_EQ(c.state().next_start_time(2'000'000), 0);
}

TEST(ScheduleBegin, AnArraysTasksWaitForTheArraysTime) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 3, 1}});
  a.begin_s = 5'000;
  c.submit(a);
  EXPECT_TRUE(schedule(c.state(), 4'999'000, {}).starts.empty());
  EXPECT_EQ(started_tasks(schedule(c.state(), 5'000'000, {})), (Ids{0, 1, 2, 3}));
}

}  // namespace
}  // namespace drover::sched
