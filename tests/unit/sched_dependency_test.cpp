// What of a job's dependencies a scheduling pass decides, with a fake clock:
// after:ID+MINUTES (the job is RUNNABLE but may not start before its time; the
// pass says "Dependency" with that time as the estimated start, and
// ClusterState::next_start_time() is when the head runs the next pass),
// singleton (Slurm's rule, also within one pass and for arrays), and tasks of
// aftercorr / SEQUENTIAL arrays that are not ready.
#include <gtest/gtest.h>

#include <map>
#include <string>
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

constexpr std::int64_t kMinute = 60'000;

Policy easy() {
  Policy p;
  p.backfill = Backfill::Easy;
  return p;
}

// Applies a pass's starts as the head does; returns the new tasks' ids by
// (array, index).
std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> apply(ClusterBuilder& c, const PassResult& r,
                                                                    std::int64_t at) {
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> tasks;
  for (const auto& w : r.reasons) c.ok(JobPendingReasonSet{w.job_id, w.reason, w.estimated_start_ms});
  for (const auto& d : r.starts) {
    if (d.array_index >= 0) {
      const std::int64_t id = c.state().allocate_job_id();
      c.ok(JobDispatched{d.job_id, d.node, d.cpus, d.gpus, at, d.array_index, id});
      tasks[{d.job_id, d.array_index}] = id;
    } else {
      c.dispatch(d.job_id, d.node, d.cpus, d.gpus, at);
    }
  }
  return tasks;
}

Job named(std::int64_t id, const std::string& name, bool singleton) {
  Job j = make_test_job(id);
  j.name = name;
  if (singleton) j.depends_on = {Dependency{0, DependencyType::Singleton}};
  return j;
}

// ---- after:ID+MINUTES ---------------------------------------------------------------

TEST(ScheduleDependencies, AfterMinutesStartsNotBeforeItsTime) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  Job j = make_test_job(2);
  j.depends_on = {Dependency{1, DependencyType::After, -1, 10}};
  c.submit(j);
  c.dispatch(1, "n1", {0});
  c.start(1, 1'000'000);
  const std::int64_t due = 1'000'000 + 10 * kMinute;
  ASSERT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().next_start_time(1'000'000), due);

  for (std::int64_t now : {std::int64_t{1'000'000}, due - 1}) {
    const PassResult r = schedule(c.state(), now, easy());
    EXPECT_TRUE(r.starts.empty()) << "at " << now;
    const auto why = reasons(r);
    ASSERT_TRUE(why.count(2));
    EXPECT_EQ(why.at(2).reason, "Dependency");
    EXPECT_EQ(why.at(2).estimated_start_ms, due);  // drover jobs --start shows it
  }
  const PassResult r = schedule(c.state(), due, easy());
  EXPECT_EQ(started_tasks(r), Ids{2});
}

TEST(ScheduleDependencies, AWaitingJobDoesNotHoldBackTheQueue) {
  ClusterBuilder c;
  c.simple(1);
  c.submit(1);
  Job j = make_test_job(2);
  j.depends_on = {Dependency{1, DependencyType::After, -1, 5}};
  c.submit(j);
  c.dispatch(1, "n1", {0});
  c.start(1, 0 + 1000);
  c.exit(1, 0, 2000);
  c.submit(3);
  Policy fifo;
  fifo.backfill = Backfill::None;  // strict FIFO: only a job that could start blocks
  const PassResult r = schedule(c.state(), 3000, fifo);
  EXPECT_EQ(started_tasks(r), Ids{3});
}

// ---- singleton ------------------------------------------------------------------------

TEST(ScheduleDependencies, SingletonWaitsForTheEarlierJobOfItsName) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(named(1, "fit", false));
  c.submit(named(2, "fit", true));
  c.submit(named(3, "fit", true));
  c.submit(named(4, "plot", true));
  PassResult r = schedule(c.state(), 1000, easy());
  EXPECT_EQ(started_tasks(r), (Ids{1, 4}));  // 2 and 3: an earlier "fit" has not ended
  EXPECT_EQ(reasons(r).at(2).reason, "Dependency");
  EXPECT_EQ(reasons(r).at(3).reason, "Dependency");
  apply(c, r, 1000);
  c.start(1, 1500);
  c.exit(1, 0, 2000);
  r = schedule(c.state(), 2000, easy());
  EXPECT_EQ(started_tasks(r), Ids{2});  // 3 waits for 2, which started in this very pass
  apply(c, r, 2000);
  c.start(2, 2500);
  r = schedule(c.state(), 3000, easy());
  EXPECT_TRUE(r.starts.empty());
  c.exit(2, 1, 4000);  // however it ended
  r = schedule(c.state(), 4000, easy());
  EXPECT_EQ(started_tasks(r), Ids{3});
}

TEST(ScheduleDependencies, SingletonIsHeldBackByALaterJobThatRuns) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(named(1, "fit", true));
  c.ok(JobHoldSet{1, true});
  c.submit(named(2, "fit", false));  // later, not a singleton: starts
  PassResult r = schedule(c.state(), 1000, easy());
  EXPECT_EQ(started_tasks(r), Ids{2});
  apply(c, r, 1000);
  c.ok(JobHoldSet{1, false});
  r = schedule(c.state(), 2000, easy());
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r).at(1).reason, "Dependency");
}

TEST(ScheduleDependencies, ASingletonArrayRunsOneTaskAtATime) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 3, 1}});
  a.name = "sweep";
  a.depends_on = {Dependency{0, DependencyType::Singleton}};
  c.submit(a);
  PassResult r = schedule(c.state(), 1000, easy());
  EXPECT_EQ(started_tasks(r), Ids{0});  // the next task waits at once, in the same pass
  EXPECT_EQ(reasons(r).at(1).reason, "Dependency");
  apply(c, r, 1000);
  r = schedule(c.state(), 1100, easy());
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(c.state().job(1)->pending_reason, "Dependency");
}

TEST(ScheduleDependencies, AnyOfWithSingletonStartsOnEither) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(named(1, "fit", false));
  c.submit(5);
  Job j = named(2, "fit", true);
  j.depends_on.push_back(Dependency{5, DependencyType::AfterOk});
  j.depends_any = true;  // singleton?afterok:5
  c.submit(j);
  c.ok(JobHoldSet{5, true});
  PassResult r = schedule(c.state(), 1000, easy());
  EXPECT_EQ(started_tasks(r), Ids{1});  // 2: job 1 of its name goes first, and 5 has not succeeded
  apply(c, r, 1000);
  c.start(1, 1100);
  c.exit(1, 0, 1200);
  r = schedule(c.state(), 1300, easy());
  EXPECT_EQ(started_tasks(r), Ids{2});  // the singleton alternative
}

// ---- per-task dependencies ----------------------------------------------------------

TEST(ScheduleDependencies, OnlyReadyTasksOfAnAftercorrArrayStart) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 3, 1}}));
  c.ok(JobHoldSet{1, true});
  Job d = make_test_array(2, {{0, 3, 1}});
  d.depends_on = {Dependency{1, DependencyType::AfterCorr}};
  c.submit(d);
  PassResult r = schedule(c.state(), 1000, easy());
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r).at(2).reason, "Dependency");
  c.ok(JobHoldSet{1, false});
  r = schedule(c.state(), 1000, easy());
  EXPECT_EQ(started_tasks(r), (Ids{0, 1, 2, 3}));  // array 1's tasks only
  const auto tasks = apply(c, r, 1000);
  const std::int64_t t1 = tasks.at({1, 1});
  c.start(t1, 1100);
  c.exit(t1, 0, 1200);
  r = schedule(c.state(), 1300, easy());
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job_id, 2);
  EXPECT_EQ(r.starts[0].array_index, 1);
}

TEST(ScheduleDependencies, SequentialArrayRunsInOrder) {
  ClusterBuilder c;
  c.simple(8);
  Job a = make_test_array(1, {{0, 2, 1}});
  a.depends_on = {Dependency{0, DependencyType::Sequential}};
  c.submit(a);
  PassResult r = schedule(c.state(), 1000, easy());
  ASSERT_EQ(started_tasks(r), Ids{0});
  apply(c, r, 1000);
  r = schedule(c.state(), 1100, easy());
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r).at(1).reason, "Dependency");
}

}  // namespace
}  // namespace drover::sched
