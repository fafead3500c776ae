// Arrays in the core: index ranges, position sets, and an array's parent and
// tasks driven through events (dispatch, exits, retries, cancel, dependencies,
// restore), the task environment and output names.
#include "core/array.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/cluster_state.hpp"
#include "core/job_environment.hpp"
#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::ClusterBuilder;
using testing::make_test_array;
using testing::make_test_job;

ArrayIndexes indexes(std::vector<IndexRange> r) {
  auto a = ArrayIndexes::make(std::move(r));
  EXPECT_TRUE(a) << a.message();
  return a ? *a : ArrayIndexes{};
}

std::int64_t count(const Job& parent, JobState s) { return parent.array->count[static_cast<int>(s)]; }

// ---- ArrayIndexes ------------------------------------------------------------------

TEST(ArrayIndexes, OneRange) {
  auto a = indexes({{0, 999'999, 1}});
  EXPECT_EQ(a.size(), 1'000'000);
  EXPECT_EQ(a.min(), 0);
  EXPECT_EQ(a.max(), 999'999);
  EXPECT_EQ(a.step(), 1);
  EXPECT_EQ(a.index_at(0), 0);
  EXPECT_EQ(a.index_at(999'999), 999'999);
  EXPECT_EQ(a.position_of(123'456), 123'456);
  EXPECT_EQ(a.position_of(1'000'000), -1);
  EXPECT_EQ(a.to_string(), "0-999999");
}

TEST(ArrayIndexes, StepsAndListsAreSortedAndPositioned) {
  // --array=20,0-15:5 -> indexes 0 5 10 15 20
  auto a = indexes({{20, 20, 1}, {0, 17, 5}});
  EXPECT_EQ(a.size(), 5);
  EXPECT_EQ(a.to_string(), "0-15:5,20");
  EXPECT_EQ(a.max(), 20);
  EXPECT_EQ(a.step(), 1);  // more than one range: Slurm reports 1
  const std::vector<std::int64_t> want = {0, 5, 10, 15, 20};
  for (std::int64_t p = 0; p < a.size(); ++p) {
    EXPECT_EQ(a.index_at(p), want[p]);
    EXPECT_EQ(a.position_of(want[p]), p);
  }
  EXPECT_EQ(a.position_of(6), -1);
  EXPECT_EQ(a.position_of(16), -1);
  EXPECT_EQ(indexes({{1, 9, 2}}).step(), 2);
}

TEST(ArrayIndexes, OverlapsCountOnce) {
  auto a = indexes({{0, 10, 1}, {5, 20, 5}, {3, 3, 1}});
  EXPECT_EQ(a.size(), 13);  // 0..10, 15, 20
  EXPECT_EQ(a.to_string(), "0-10,15-20:5");
  EXPECT_EQ(a.position_of(15), 11);
}

TEST(ArrayIndexes, BadInputSaysWhatIsWrong) {
  struct Case {
    std::vector<IndexRange> r;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{}, "no indexes"},
      {{{-1, 5, 1}}, "negative"},
      {{{9, 5, 1}}, "reversed"},
      {{{0, 9, 0}}, "step"},
      {{{0, 1'000'000'000, 1}}, "over the largest"},
      {{{0, 99'999'999, 1}}, "at most 1000000"},
      {{{0, 600'000, 1}, {700'000, 1'200'000, 1}}, "at most 1000000"},
  };
  for (const auto& c : cases) {
    auto a = ArrayIndexes::make(c.r);
    ASSERT_FALSE(a);
    EXPECT_NE(a.message().find(c.says), std::string::npos) << a.message();
  }
}

TEST(ArrayIndexes, IndexesAtPositions) {
  auto a = indexes({{0, 9, 1}, {100, 120, 10}});
  PositionSet p;
  p.insert(2, 5);    // 2 3 4
  p.insert(9, 12);   // 9, 100, 110
  EXPECT_EQ(to_text(a.indexes_at(p)), "2-4,9,100-110:10");
}

// ---- PositionSet ---------------------------------------------------------------------

TEST(PositionSet, InsertMergesAndEraseSplits) {
  PositionSet s;
  s.insert(0, 10);
  s.insert(20, 30);
  s.insert(10, 20);  // adjacent on both sides: one interval
  ASSERT_EQ(s.intervals().size(), 1u);
  EXPECT_EQ(s.count(), 30);
  EXPECT_EQ(s.erase(5, 8), 3);
  EXPECT_EQ(s.intervals(), (std::vector<PositionSet::Interval>{{0, 5}, {8, 30}}));
  EXPECT_FALSE(s.contains(6));
  EXPECT_TRUE(s.contains(8));
  EXPECT_EQ(s.next(5), 8);
  EXPECT_EQ(s.next(29), 29);
  EXPECT_EQ(s.next(30), -1);
  EXPECT_EQ(s.erase(0, 100), 27);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.first(), -1);
  EXPECT_EQ(s.erase(3, 4), 0);
}

TEST(PositionSet, EraseFirstOneByOneStaysOneInterval) {
  PositionSet s;
  s.insert(0, 1'000'000);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s.erase(s.first()));
  EXPECT_EQ(s.intervals(), (std::vector<PositionSet::Interval>{{1000, 1'000'000}}));
  EXPECT_FALSE(s.erase(5));
}

// ---- parent and tasks ------------------------------------------------------------------

TEST(ClusterStateArrays, SubmittedArrayIsOneRunnableEntry) {
  ClusterBuilder c;
  c.simple();
  c.submit(make_test_array(1, {{0, 999'999, 1}}));
  const Job* p = c.state().job(1);
  EXPECT_EQ(p->state, JobState::Runnable);
  EXPECT_EQ(c.state().runnable("q").size(), 1u);
  EXPECT_EQ(p->array->pending.count(), 1'000'000);
  EXPECT_EQ(p->array->pending.intervals().size(), 1u);
  EXPECT_EQ(c.state().jobs().size(), 1u);  // no record per task
}

TEST(ClusterStateArrays, TasksGetRecordsWhenDispatchedAndTheParentFollows) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 2, 1}}));
  c.dispatch_task(1, 0, 10, "n1", {0}, 1500);
  c.dispatch_task(1, 1, 11, "n1", {1}, 1500);
  const Job* p = c.state().job(1);
  const Job* t = c.state().job(10);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->array_parent, 1);
  EXPECT_EQ(t->array_index, 0);
  EXPECT_EQ(t->state, JobState::Starting);
  EXPECT_FALSE(t->array);
  EXPECT_EQ(t->name, p->name);
  EXPECT_EQ(count(*p, JobState::Starting), 2);
  EXPECT_EQ(p->array->pending.count(), 1);
  EXPECT_EQ(p->state, JobState::Runnable);  // RUNNING once a task runs
  EXPECT_TRUE(c.state().runnable("q").count(1));  // task 2 still waits
  EXPECT_FALSE(c.state().active_jobs().count(1)); // the parent holds no node
  EXPECT_TRUE(c.state().active_jobs().count(10));
  EXPECT_EQ(c.state().node("n1")->pus_free(), 2);
  EXPECT_EQ(c.state().next_job_id(), 12);

  c.start(10);
  EXPECT_EQ(c.state().job(1)->state, JobState::Running);
  c.dispatch_task(1, 2, 12, "n1", {2}, 1600);
  EXPECT_FALSE(c.state().runnable("q").count(1));  // nothing left to start
  c.exit(10, 0);
  for (std::int64_t id : {11, 12}) {
    c.start(id);
    c.exit(id, 0);
  }
  p = c.state().job(1);
  EXPECT_EQ(p->state, JobState::Succeeded);
  EXPECT_EQ(count(*p, JobState::Succeeded), 3);
  EXPECT_EQ(p->started_at, 2000);
  EXPECT_EQ(p->stopped_at, 3000);
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4);
}

TEST(ClusterStateArrays, OneFailedTaskFailsTheArrayAfterTheOthersEnd) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{1, 3, 1}}));
  c.dispatch_task(1, 1, 10, "n1", {0});
  c.dispatch_task(1, 2, 11, "n1", {1});
  c.dispatch_task(1, 3, 12, "n1", {2});
  c.start(10);
  c.exit(10, 3);
  EXPECT_EQ(c.state().job(10)->state, JobState::Failed);
  EXPECT_FALSE(is_terminal(c.state().job(1)->state));  // the others are still on the node
  c.start(11);
  c.exit(11, 0);
  c.start(12);
  c.exit(12, 0);
  const Job* p = c.state().job(1);
  EXPECT_EQ(p->state, JobState::Failed);
  EXPECT_EQ(p->status_reason, "1 of 3 tasks failed");
}

TEST(ClusterStateArrays, DispatchRefusesWhatIsNotAWaitingTask) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 2}}));
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0}, {}, 0, 3, 10}));  // 3 is not an index
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0}, {}, 0, 2, 0}));   // no task id
  c.dispatch_task(1, 2, 10, "n1", {0});
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {1}, {}, 0, 2, 11}));  // started already
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {1}, {}, 0, 4, 10}));  // id taken
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0}, {}, 0, 4, 11}));  // PU 0 in use
  EXPECT_EQ(c.state().job(1)->array->pending.count(), 4);
  EXPECT_FALSE(c.state().job(11));
}

TEST(ClusterStateArrays, ATaskIsRetriedOnItsOwn) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 1, 1}});
  a.retry.attempts = 2;
  c.submit(a);
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 1);
  const Job* t = c.state().job(10);
  EXPECT_EQ(t->state, JobState::Runnable);
  EXPECT_TRUE(c.state().runnable("q").count(10));
  EXPECT_EQ(count(*c.state().job(1), JobState::Runnable), 1);
  c.dispatch(10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(c.state().job(10)->attempts.size(), 2u);
  c.dispatch_task(1, 1, 11, "n1", {1});
  c.start(11);
  c.exit(11, 0);
  EXPECT_EQ(c.state().job(1)->state, JobState::Succeeded);
}

TEST(ClusterStateArrays, CancelRangesOfTasksNotStarted) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 99, 1}}));
  c.dispatch_task(1, 0, 200, "n1", {0});
  // scancel 1_[5-9,20-30:5] and 1_0 (running)
  c.ok(JobTerminationRequested{1, 5, "cancelled by user", {{5, 9, 1}, {20, 30, 5}, {0, 0, 1}}});
  const Job* p = c.state().job(1);
  EXPECT_EQ(p->array->cancelled, 8);
  EXPECT_EQ(p->array->pending.count(), 91);
  EXPECT_EQ(to_text(p->array->indexes.indexes_at(p->array->pending)), "1-4,10-19,21-24,26-29,31-99");
  EXPECT_TRUE(c.state().job(200)->terminate_requested);
  EXPECT_EQ(p->state, JobState::Runnable);  // the rest goes on
  EXPECT_FALSE(p->terminate_requested);
  // Cancelling what is already gone changes nothing.
  c.ok(JobTerminationRequested{1, 6, "again", {{5, 9, 1}}});
  EXPECT_EQ(c.state().job(1)->array->cancelled, 8);
}

TEST(ClusterStateArrays, CancelWholeArrayEndsWhenItsRunningTasksEnd) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 999'999, 1}}));
  c.dispatch_task(1, 0, 2'000'000, "n1", {0});
  c.start(2'000'000);
  c.ok(JobTerminationRequested{1, 5000, "cancelled by user", {}});
  const Job* p = c.state().job(1);
  EXPECT_EQ(p->state, JobState::Running);
  EXPECT_TRUE(p->array->pending.empty());
  EXPECT_EQ(p->array->cancelled, 999'999);
  EXPECT_FALSE(c.state().runnable("q").count(1));
  EXPECT_TRUE(c.state().job(2'000'000)->terminate_requested);
  c.exit(2'000'000, 143, 6000);
  p = c.state().job(1);
  EXPECT_EQ(p->state, JobState::Failed);
  EXPECT_EQ(p->status_reason, "cancelled by user");
  EXPECT_EQ(count(*p, JobState::Failed), 1'000'000);
}

TEST(ClusterStateArrays, WaitingOnADependencyThenRunnable) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  Job a = make_test_array(2, {{0, 3, 1}});
  a.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(a);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_FALSE(c.state().runnable("q").count(2));
  c.run(1, 0);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_TRUE(c.state().runnable("q").count(2));
}

TEST(ClusterStateArrays, ImpossibleDependencyFailsEveryTask) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  Job a = make_test_array(2, {{0, 3, 1}});
  a.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(a);
  c.run(1, 1);
  const Job* p = c.state().job(2);
  EXPECT_EQ(p->state, JobState::Failed);
  EXPECT_EQ(p->array->cancelled, 4);
  EXPECT_NE(p->status_reason.find("Dependency job 1"), std::string::npos);
}

TEST(ClusterStateArrays, AJobAfterAnArrayWaitsForEveryTask) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 1, 1}}));
  Job b = make_test_job(5);
  b.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(b);
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(c.state().job(5)->state, JobState::Pending);
  c.dispatch_task(1, 1, 11, "n1", {0});
  c.start(11);
  c.exit(11, 0);
  EXPECT_EQ(c.state().job(5)->state, JobState::Runnable);
}

TEST(ClusterStateArrays, AfterStartsWithTheFirstTask) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 1, 1}}));
  Job b = make_test_job(5);
  b.depends_on = {{1, DependencyType::After}};
  c.submit(b);
  c.dispatch_task(1, 0, 10, "n1", {0});
  EXPECT_EQ(c.state().job(5)->state, JobState::Pending);
  c.start(10);
  EXPECT_EQ(c.state().job(5)->state, JobState::Runnable);
}

TEST(ClusterStateArrays, HoldAndUpdateReachTasksNotStarted) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 3, 1}}));
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.ok(JobHoldSet{1, true});  // RUNNING array: holds what has not started
  EXPECT_TRUE(c.state().job(1)->held);
  JobUpdated u;
  u.id = 1;
  u.timeout_seconds = 60;
  c.ok(u);
  c.dispatch_task(1, 1, 11, "n1", {1});
  EXPECT_EQ(c.state().job(11)->timeout_seconds, 60);
  EXPECT_FALSE(c.state().job(11)->held);
  EXPECT_FALSE(c.state().apply(JobRequeueRequested{1, "x"}));  // requeue tasks, not the array
}

TEST(ClusterStateArrays, RestoreRebuildsIndexesFromTheRecords) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}, 3));
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.dispatch_task(1, 1, 11, "n1", {1});
  c.start(10);
  c.exit(10, 0);
  c.ok(JobTerminationRequested{1, 5, "x", {{5, 5, 1}}});

  ClusterState r;
  for (const auto& [name, n] : c.state().nodes()) r.restore(n);
  for (const auto& [name, e] : c.state().environments()) r.restore(e);
  for (const auto& [name, q] : c.state().queues()) r.restore(q);
  for (const auto& [id, j] : c.state().jobs()) r.restore(j);
  r.finish_restore();
  const Job* p = r.job(1);
  ASSERT_TRUE(p->array);
  EXPECT_EQ(p->array->live.size(), 2u);
  EXPECT_EQ(p->array->live.at(1), 11);
  EXPECT_TRUE(r.runnable("q").count(1));
  EXPECT_FALSE(r.active_jobs().count(1));
  EXPECT_TRUE(r.active_jobs().count(11));
  EXPECT_EQ(r.node("n1")->pus_free(), 3);
  EXPECT_TRUE(*p->array == *c.state().job(1)->array);
}

TEST(ClusterStateArrays, EvictingATaskForgetsItsIndex) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 1, 1}}));
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0, 3000);
  (void)c.state().take_dirty();
  EXPECT_EQ(c.state().evict_finished(4000), 1u);
  EXPECT_FALSE(c.state().job(10));
  EXPECT_TRUE(c.state().job(1)->array->live.empty());
  EXPECT_EQ(count(*c.state().job(1), JobState::Succeeded), 1);
}

// ---- what a task sees -------------------------------------------------------------------

TEST(ArrayTaskEnvironment, SlurmAwsAndDroverNames) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(7, {{1, 9, 2}}));
  c.dispatch_task(7, 5, 12, "n1", {0});
  const Job& t = *c.state().job(12);
  const Job& p = *c.state().job(7);
  LaunchContext ctx{"n1", "ce", "head", true, &p.array->indexes};
  const KeyValues env = job_environment(t, JobPayload{}, ctx);
  auto get = [&](const char* k) {
    const std::string* v = find_value(env, k);
    return v ? *v : std::string("<unset>");
  };
  EXPECT_EQ(get("SLURM_JOB_ID"), "12");
  EXPECT_EQ(get("SLURM_ARRAY_JOB_ID"), "7");
  EXPECT_EQ(get("SLURM_ARRAY_TASK_ID"), "5");
  EXPECT_EQ(get("SLURM_ARRAY_TASK_MIN"), "1");
  EXPECT_EQ(get("SLURM_ARRAY_TASK_MAX"), "9");
  EXPECT_EQ(get("SLURM_ARRAY_TASK_STEP"), "2");
  EXPECT_EQ(get("SLURM_ARRAY_TASK_COUNT"), "5");
  EXPECT_EQ(get("AWS_BATCH_JOB_ID"), "7:5");
  EXPECT_EQ(get("AWS_BATCH_JOB_ARRAY_INDEX"), "5");
  EXPECT_EQ(get("AWS_BATCH_JOB_ARRAY_SIZE"), "5");
  EXPECT_EQ(get("DROVER_ARRAY_JOB_ID"), "7");
  EXPECT_EQ(get("DROVER_ARRAY_INDEX"), "5");
  EXPECT_EQ(get("DROVER_ARRAY_SIZE"), "5");
  EXPECT_EQ(expand_output_pattern(t.stdout_path, t, "n1"), "drover-7_5.out");
  EXPECT_EQ(expand_output_pattern("%j-%A-%a", t, "n1"), "12-7-5");

  ctx.slurm_names = false;
  const KeyValues quiet = job_environment(t, JobPayload{}, ctx);
  EXPECT_EQ(find_value(quiet, "SLURM_ARRAY_TASK_ID"), nullptr);
  EXPECT_NE(find_value(quiet, "AWS_BATCH_JOB_ARRAY_INDEX"), nullptr);
}

TEST(ArrayTaskEnvironment, PlainJobsHaveNoArrayNames) {
  const Job j = make_test_job(3);
  const KeyValues env = job_environment(j, JobPayload{}, LaunchContext{"n1", "ce", "h", true});
  EXPECT_EQ(find_value(env, "SLURM_ARRAY_TASK_ID"), nullptr);
  EXPECT_EQ(find_value(env, "AWS_BATCH_JOB_ARRAY_INDEX"), nullptr);
  EXPECT_EQ(*find_value(env, "AWS_BATCH_JOB_ID"), "3");
}

}  // namespace
}  // namespace drover
