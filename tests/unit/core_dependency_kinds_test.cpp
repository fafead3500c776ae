// The dependency kinds beyond "all of these ended so": '?' (any of),
// after:ID+MINUTES, a task of an array (42_7), aftercorr / N_TO_N, SEQUENTIAL and
// singleton, decided by ClusterState through events (the scheduler's part —
// the time and singleton — is in sched_dependency_test), and what make_job
// refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/cluster_state.hpp"
#include "core/job_request.hpp"
#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::ClusterBuilder;
using testing::make_test_array;
using testing::make_test_job;

constexpr std::int64_t kMinute = 60'000;

Job with_deps(Job j, std::vector<Dependency> deps, bool any = false) {
  j.depends_on = std::move(deps);
  j.depends_any = any;
  return j;
}

Dependency on(std::int64_t id, DependencyType t, std::int32_t index = -1, std::int32_t minutes = 0) {
  return Dependency{id, t, index, minutes};
}

std::int64_t count(const Job& parent, JobState s) { return parent.array->count[static_cast<int>(s)]; }
std::string indexes(const Job& parent, const PositionSet& p) { return to_text(parent.array->indexes.indexes_at(p)); }
bool has(const std::set<std::int64_t>& s, std::int64_t id) { return s.count(id) > 0; }

// ---- '?': any of ---------------------------------------------------------------------

TEST(AnyOf, StartsWhenTheFirstIsMet) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::AfterOk), on(2, DependencyType::AfterOk)}, true));
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);
  c.run(2, 0, "n1", {1});  // job 1 has not even started
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(3)->dependency_ready_at(), 0);
  EXPECT_TRUE(has(c.state().runnable("q"), 3));
}

TEST(AnyOf, OneThatCanNeverBeMetDoesNotFailIt) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::AfterOk), on(2, DependencyType::AfterNotOk)}, true));
  c.run(1, 1);  // afterok:1 can never be met now
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);
  c.run(2, 1, "n1", {1});  // afternotok:2 is
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

TEST(AnyOf, FailsWhenNoneCanEverBeMetNamingEveryJob) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::AfterOk), on(2, DependencyType::AfterNotOk)}, true));
  c.submit(with_deps(make_test_job(4), {on(3, DependencyType::AfterOk)}));
  c.run(1, 1);
  c.run(2, 0, "n1", {1});
  const Job* j = c.state().job(3);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->status_reason.rfind("DependencyNeverSatisfied", 0), 0u) << j->status_reason;
  EXPECT_NE(j->status_reason.find("job 1 ended FAILED (afterok:1)"), std::string::npos) << j->status_reason;
  EXPECT_NE(j->status_reason.find("job 2 ended SUCCEEDED (afternotok:2)"), std::string::npos) << j->status_reason;
  EXPECT_EQ(c.state().job(4)->state, JobState::Failed);  // the failure cascades as with ','
}

TEST(AnyOf, MetAtSubmitIsRunnableAtOnce) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.run(2, 0, "n1", {1});
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::AfterOk), on(2, DependencyType::AfterOk)}, true));
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

TEST(AnyOf, AnEarlierAlternativeBringsAWaitingStartForward) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::After, -1, 10), on(2, DependencyType::AfterOk)}, true));
  c.dispatch(1, "n1", {0});
  c.start(1, 100'000);
  const Job* j = c.state().job(3);
  EXPECT_EQ(j->state, JobState::Runnable);  // met, but not before 10 minutes after the start
  EXPECT_EQ(j->dependency_ready_at(), 100'000 + 10 * kMinute);
  EXPECT_EQ(c.state().next_start_time(100'000), 100'000 + 10 * kMinute);
  c.dispatch(2, "n1", {1});
  c.start(2, 110'000);
  c.exit(2, 0, 120'000);  // afterok:2 met two minutes later: no need to wait longer
  EXPECT_EQ(j->dependency_ready_at(), 0);
  EXPECT_EQ(c.state().next_start_time(120'000), 0);
}

TEST(AnyOf, WithSingletonIsRunnableForTheSchedulerToDecide) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::AfterOk), Dependency{0, DependencyType::Singleton}}, true));
  const Job* j = c.state().job(2);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_EQ(j->dependency_ready_at(), kNotReady);  // only the singleton rule may start it
  EXPECT_EQ(c.state().next_start_time(0), 0);    // no time to wake up for
  c.run(1, 1);  // afterok:1 fails; singleton still may: not a failure
  EXPECT_EQ(j->state, JobState::Runnable);
}

// ---- after:ID+MINUTES ------------------------------------------------------------------

TEST(AfterMinutes, CountsFromTheStart) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::After, -1, 5)}));
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_EQ(c.state().next_start_time(0), 0);
  c.dispatch(1, "n1", {0});
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);  // starting is not started
  c.start(1, 50'000);
  const Job* j = c.state().job(2);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_EQ(j->dependency_ready_at(), 50'000 + 5 * kMinute);
  EXPECT_EQ(earliest_start(*j), 50'000 + 5 * kMinute);
  EXPECT_EQ(c.state().next_start_time(50'000), 50'000 + 5 * kMinute);
  EXPECT_EQ(c.state().next_start_time(50'000 + 5 * kMinute), 0);  // only later times count
  // Leaving RUNNABLE (here: cancelled) takes it out of the wake-up times.
  c.ok(JobTerminationRequested{2, 60'000, "cancelled"});
  EXPECT_EQ(c.state().next_start_time(0), 0);
}

TEST(AfterMinutes, KeptInWholeSecondsNeverEarly) {
  Job j;
  j.set_dependency_ready_at(1'000);
  EXPECT_EQ(j.dependency_ready_at(), 1'000);
  j.set_dependency_ready_at(1'001);  // rounded up
  EXPECT_EQ(j.dependency_ready_at(), 2'000);
  j.set_dependency_ready_at(kNotReady);
  EXPECT_EQ(j.dependency_ready_at(), kNotReady);
  EXPECT_EQ(earliest_start(j), 0);  // no time to wake up for
  j.set_dependency_ready_at(0);
  EXPECT_EQ(j.dependency_ready_s, 0u);
}

TEST(AfterMinutes, ServedOnceTheJobStarts) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::After, -1, 5)}));
  c.dispatch(1, "n1", {0});
  c.start(1, 1000);
  ASSERT_GT(c.state().job(2)->dependency_ready_at(), 0);
  c.dispatch(2, "n1", {1}, {}, 1000 + 5 * kMinute);
  EXPECT_EQ(c.state().job(2)->dependency_ready_at(), 0);
  c.ok(JobRequeued{2, 1000 + 6 * kMinute, "head restarted"});  // back in the queue: no new wait
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().next_start_time(0), 0);
}

TEST(AfterMinutes, AllOfWaitsForTheLatest) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::After, -1, 5), on(2, DependencyType::AfterOk)}));
  c.dispatch(1, "n1", {0});
  c.start(1, 10'000);
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);  // afterok:2 not yet
  c.dispatch(2, "n1", {1});
  c.start(2, 20'000);
  c.exit(2, 0, 30'000);
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(3)->dependency_ready_at(), 10'000 + 5 * kMinute);
}

TEST(AfterMinutes, AlreadyPastAtSubmitIsNoWait) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0});
  c.start(1, 1000);
  Job j = with_deps(make_test_job(2), {on(1, DependencyType::After, -1, 1)});
  j.created_at = 2 * kMinute;
  c.submit(j);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(2)->dependency_ready_at(), 0);
}

TEST(AfterMinutes, ACancelledJobCountsFromItsEnd) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.ok(JobHoldSet{1, true});
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::After, -1, 3)}));
  c.ok(JobTerminationRequested{1, 40'000, "cancelled"});
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(2)->dependency_ready_at(), 40'000 + 3 * kMinute);
}

TEST(AfterMinutes, TheJobItWaitsFromIsNotForgotten) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::After, -1, 60), on(2, DependencyType::AfterOk)}));
  c.run(1, 0);  // stopped at 3000
  (void)c.state().take_dirty();
  // Job 3 still needs job 1's start: it stays in memory until 3 is decided.
  EXPECT_EQ(c.state().evict_finished(1'000'000), 0u);
  ASSERT_TRUE(c.state().job(1));
  c.dispatch(2, "n1", {1});
  c.start(2, 4000);
  c.exit(2, 0, 5000);
  EXPECT_EQ(c.state().job(3)->dependency_ready_at(), 2000 + 60 * kMinute);
  (void)c.state().take_dirty();
  EXPECT_EQ(c.state().evict_finished(1'000'000), 2u);
}

// ---- a task of an array: afterok:42_7 ----------------------------------------------------

TEST(TaskTarget, WaitsForThatTaskOnly) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::AfterOk, 3)}));
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);  // task 0 is not task 3
  c.dispatch_task(1, 3, 11, "n1", {1});                    // task 3 gets its id now
  c.start(11);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  c.exit(11, 0, 4000);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(1)->state, JobState::Runnable);  // the array goes on
}

TEST(TaskTarget, FailedTaskFailsTheDependentNamingIt) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::AfterOk, 3)}));
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::AfterNotOk, 3)}));
  c.dispatch_task(1, 3, 11, "n1", {1});
  c.start(11);
  c.exit(11, 2);
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
  EXPECT_NE(c.state().job(2)->status_reason.find("Dependency job 1_3 ended FAILED (afterok:1_3"), std::string::npos)
      << c.state().job(2)->status_reason;
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

TEST(TaskTarget, AfterStartsWithTheTask) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::After, 5, 2)}));
  c.dispatch_task(1, 5, 11, "n1", {1});
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  c.start(11, 7000);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(2)->dependency_ready_at(), 7000 + 2 * kMinute);
}

TEST(TaskTarget, CancelledBeforeItStarted) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::AfterOk, 4)}));
  c.submit(with_deps(make_test_job(3), {on(1, DependencyType::AfterAny, 4)}));
  c.submit(with_deps(make_test_job(4), {on(1, DependencyType::After, 4)}));
  c.submit(with_deps(make_test_job(5), {on(1, DependencyType::AfterOk, 5)}));
  c.ok(JobTerminationRequested{1, 5000, "cancelled", {{4, 4, 1}}});
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(4)->state, JobState::Runnable);  // Slurm: "start or are cancelled"
  EXPECT_EQ(c.state().job(5)->state, JobState::Pending);   // task 5 still waits to start
  EXPECT_EQ(indexes(*c.state().job(1), c.state().job(1)->array->failed()), "4");
}

TEST(TaskTarget, DecidedFromTheArrayAfterTheTaskRecordIsForgotten) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.dispatch_task(1, 1, 11, "n1", {1});
  c.start(10);
  c.start(11);
  c.exit(10, 0, 3000);
  c.exit(11, 1, 3000);
  (void)c.state().take_dirty();
  EXPECT_EQ(c.state().evict_finished(10'000), 2u);
  // Not pending, not in memory: the array's record of failures tells.
  c.submit(with_deps(make_test_job(20), {on(1, DependencyType::AfterOk, 0)}));
  c.submit(with_deps(make_test_job(21), {on(1, DependencyType::AfterOk, 1)}));
  EXPECT_EQ(c.state().job(20)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(21)->state, JobState::Failed);
}

TEST(TaskTarget, TheWholeArrayEndingDecidesTasksThatNeverStarted) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  c.submit(with_deps(make_test_job(2), {on(1, DependencyType::AfterOk, 9)}));
  c.ok(JobTerminationRequested{1, 5000, "cancelled"});
  EXPECT_EQ(c.state().job(1)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
}

// ---- aftercorr / N_TO_N ----------------------------------------------------------------

TEST(AfterCorr, EachTaskWaitsForItsCounterpart) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 3, 1}}));
  c.submit(with_deps(make_test_array(2, {{0, 3, 1}}), {on(1, DependencyType::AfterCorr)}));
  const Job* d = c.state().job(2);
  EXPECT_EQ(d->state, JobState::Runnable);  // the array as a whole may go; its tasks wait
  ASSERT_EQ(d->array->waiting().size(), 1u);
  EXPECT_EQ(indexes(*d, d->array->waiting()[0]), "0-3");
  EXPECT_EQ(d->array->first_ready(), -1);
  EXPECT_FALSE(c.state().apply(JobDispatched{2, "n1", {0}, {}, 0, 0, 30, {}}));  // not ready

  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(indexes(*d, d->array->waiting()[0]), "1-3");
  EXPECT_EQ(d->array->first_ready(), 0);

  c.dispatch_task(1, 1, 11, "n1", {1});
  c.start(11);
  c.exit(11, 3);  // its counterpart can never start
  EXPECT_EQ(indexes(*d, d->array->waiting()[0]), "2-3");
  EXPECT_EQ(indexes(*d, d->array->dependency_failed()), "1");
  EXPECT_EQ(indexes(*d, d->array->pending), "0,2-3");
  EXPECT_EQ(count(*d, JobState::Failed), 1);

  // Tasks of array 1 cancelled before they started fail theirs too.
  c.ok(JobTerminationRequested{1, 5000, "cancelled", {{2, 3, 1}}});
  EXPECT_TRUE(d->array->waiting()[0].empty());
  EXPECT_EQ(indexes(*d, d->array->pending), "0");
  EXPECT_EQ(count(*d, JobState::Failed), 3);

  c.dispatch_task(2, 0, 30, "n1", {0});
  c.start(30);
  c.exit(30, 0);
  EXPECT_EQ(d->state, JobState::Failed);
  EXPECT_NE(d->status_reason.find("3 of 4 tasks failed (3 never started"), std::string::npos) << d->status_reason;
}

TEST(AfterCorr, IndexesTheOtherArrayLacksWaitForAllOfIt) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 1, 1}}));
  c.submit(with_deps(make_test_array(2, {{0, 3, 1}}), {on(1, DependencyType::AfterCorr)}));
  const Job* d = c.state().job(2);
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(indexes(*d, d->array->waiting()[0]), "1-3");
  c.dispatch_task(1, 1, 11, "n1", {1});
  c.start(11);
  c.exit(11, 0);  // array 1 has succeeded as a whole: 2 and 3 may go
  EXPECT_EQ(c.state().job(1)->state, JobState::Succeeded);
  EXPECT_TRUE(d->array->waiting()[0].empty());
  EXPECT_EQ(d->array->first_ready(), 0);
}

TEST(AfterCorr, OnAFinishedArrayIsDecidedAtSubmit) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 2, 1}}));
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.dispatch_task(1, 1, 11, "n1", {1});
  c.dispatch_task(1, 2, 12, "n1", {2});
  for (std::int64_t t : {10, 11, 12}) c.start(t);
  c.exit(10, 0);
  c.exit(11, 1);
  c.exit(12, 0);
  ASSERT_EQ(c.state().job(1)->state, JobState::Failed);
  // Long forgotten, array and tasks; the head recalls the array (not its
  // tasks) for the new dependency: its record of failures decides.
  const Job array = *c.state().job(1);
  (void)c.state().take_dirty();
  EXPECT_EQ(c.state().evict_finished(1'000'000), 4u);
  c.state().recall(array);
  c.submit(with_deps(make_test_array(2, {{0, 2, 1}}), {on(1, DependencyType::AfterCorr)}));
  const Job* d = c.state().job(2);
  EXPECT_TRUE(d->array->waiting()[0].empty());
  EXPECT_EQ(indexes(*d, d->array->pending), "0,2");
  EXPECT_EQ(indexes(*d, d->array->dependency_failed()), "1");
}

TEST(AfterCorr, FailuresRunDownAChainOfArrays) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 3, 1}}));
  c.submit(with_deps(make_test_array(2, {{0, 3, 1}}), {on(1, DependencyType::AfterCorr)}));
  c.submit(with_deps(make_test_array(3, {{0, 3, 1}}), {on(2, DependencyType::AfterCorr)}));
  c.dispatch_task(1, 2, 10, "n1", {0});
  c.start(10);
  c.exit(10, 1);
  EXPECT_EQ(indexes(*c.state().job(2), c.state().job(2)->array->dependency_failed()), "2");
  EXPECT_EQ(indexes(*c.state().job(3), c.state().job(3)->array->dependency_failed()), "2");
  EXPECT_EQ(indexes(*c.state().job(3), c.state().job(3)->array->waiting()[0]), "0-1,3");
}

TEST(AfterCorr, WaitingTasksOfACancelledArrayEndWithIt) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 3, 1}}));
  c.submit(with_deps(make_test_array(2, {{0, 3, 1}}), {on(1, DependencyType::AfterCorr)}));
  c.ok(JobTerminationRequested{2, 5000, "cancelled"});
  const Job* d = c.state().job(2);
  EXPECT_EQ(d->state, JobState::Failed);
  EXPECT_TRUE(d->array->waiting()[0].empty());
  EXPECT_EQ(count(*d, JobState::Failed), 4);
  // Array 1 going on afterwards changes nothing there.
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 1);
  EXPECT_EQ(count(*d, JobState::Failed), 4);
}

TEST(ArrayExtras, OnlyArraysThatNeedThemPayForThem) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 999'999, 1}}));
  EXPECT_FALSE(c.state().job(1)->array->extra);  // a pending array: a null pointer
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_FALSE(c.state().job(1)->array->extra);  // successes need no record
  c.dispatch_task(1, 1, 11, "n1", {0});
  c.start(11);
  c.exit(11, 1);
  ASSERT_TRUE(c.state().job(1)->array->extra);
  EXPECT_EQ(indexes(*c.state().job(1), c.state().job(1)->array->failed()), "1");
}

// ---- SEQUENTIAL -----------------------------------------------------------------------

TEST(Sequential, OneTaskAfterAnotherAndAFailureEndsTheRest) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(with_deps(make_test_array(1, {{0, 3, 1}}), {Dependency{0, DependencyType::Sequential}}));
  const Job* a = c.state().job(1);
  EXPECT_EQ(a->state, JobState::Runnable);
  EXPECT_EQ(indexes(*a, a->array->waiting()[0]), "1-3");
  EXPECT_EQ(a->array->first_ready(), 0);
  c.dispatch_task(1, 0, 10, "n1", {0});
  EXPECT_EQ(a->array->first_ready(), -1);  // 1 waits for 0 to succeed
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(a->array->first_ready(), 1);
  c.dispatch_task(1, 1, 11, "n1", {0});
  c.start(11);
  c.exit(11, 1);
  EXPECT_EQ(a->state, JobState::Failed);  // 2 and 3 can never start: nothing left
  EXPECT_EQ(indexes(*a, a->array->dependency_failed()), "2-3");
  EXPECT_EQ(count(*a, JobState::Failed), 3);
}

TEST(Sequential, CancellingATaskEndsTheOnesAfterIt) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(with_deps(make_test_array(1, {{0, 5, 1}}), {Dependency{0, DependencyType::Sequential}}));
  c.ok(JobTerminationRequested{1, 5000, "cancelled", {{3, 3, 1}}});
  const Job* a = c.state().job(1);
  EXPECT_EQ(indexes(*a, a->array->pending), "0-2");
  EXPECT_EQ(indexes(*a, a->array->dependency_failed()), "4-5");
}

TEST(Sequential, ARetriedTaskIsNotAFailureYet) {
  ClusterBuilder c;
  c.simple(8);
  Job j = with_deps(make_test_array(1, {{0, 2, 1}}), {Dependency{0, DependencyType::Sequential}});
  j.retry.attempts = 2;
  c.submit(j);
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 1);  // retried
  EXPECT_EQ(c.state().job(10)->state, JobState::Runnable);
  EXPECT_EQ(indexes(*c.state().job(1), c.state().job(1)->array->waiting()[0]), "1-2");
  c.dispatch(10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(indexes(*c.state().job(1), c.state().job(1)->array->waiting()[0]), "2");
}

// ---- singleton ------------------------------------------------------------------------

Job named(std::int64_t id, const std::string& name, std::uint32_t uid = 1000, bool singleton = false) {
  Job j = make_test_job(id);
  j.name = name;
  j.uid = uid;
  if (singleton) j.depends_on = {Dependency{0, DependencyType::Singleton}};
  return j;
}

TEST(Singleton, HeldBackByEarlierOrRunningJobsOfTheSameUserAndName) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(named(1, "fit"));                 // earlier, not a singleton itself: still counts
  c.submit(named(2, "fit", 1000, true));
  c.submit(named(3, "other", 1000));
  c.submit(named(4, "fit", 2000));           // another user
  c.submit(named(5, "fit"));                 // later, waiting: does not hold 2 back
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);  // the scheduler decides
  EXPECT_TRUE(c.state().in_singleton_group(*c.state().job(5)));
  EXPECT_FALSE(c.state().in_singleton_group(*c.state().job(3)));
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(2)), 1);
  c.run(1, 0);
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(2)), 0);
  c.dispatch(5, "n1", {1});  // a later one running holds it back too
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(2)), 5);
  c.start(5);
  c.exit(5, 0);
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(2)), 0);
  c.run(2, 0, "n1", {2});
  EXPECT_FALSE(c.state().in_singleton_group(*c.state().job(5)));  // no singleton left
}

TEST(Singleton, AnArrayRunsOneTaskAtATime) {
  ClusterBuilder c;
  c.simple(8);
  Job a = make_test_array(1, {{0, 3, 1}});
  a.name = "sweep";
  a.depends_on = {Dependency{0, DependencyType::Singleton}};
  c.submit(a);
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(1)), 0);
  c.dispatch_task(1, 0, 10, "n1", {0});
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(1)), 1);
  c.start(10);
  c.exit(10, 0);
  EXPECT_EQ(c.state().singleton_blocker(*c.state().job(1)), 0);
}

// ---- what make_job refuses --------------------------------------------------------------

class DependencyValidation : public ::testing::Test {
 protected:
  void SetUp() override {
    c.simple(4);
    c.submit(1);                                   // a plain job
    c.submit(make_test_array(2, {{0, 9, 1}}));     // an array 0-9
  }
  Result<NewJob> make(std::vector<Dependency> deps, bool array = false, bool any = false) {
    JobRequest r;
    r.command = {"true"};
    r.queue = "q";
    r.working_dir = "/tmp";
    r.depends_on = std::move(deps);
    r.depends_any = any;
    if (array) r.array = {{0, 9, 1}};
    return make_job(r, Submitter{1000, 1000, "alice", false}, c.state(), "q", 50, 0);
  }
  void refused(std::vector<Dependency> deps, std::vector<std::string> words, bool array = false, bool any = false) {
    auto r = make(std::move(deps), array, any);
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.message().rfind("dependsOn: ", 0), 0u) << r.message();
    for (const auto& w : words) EXPECT_NE(r.message().find(w), std::string::npos) << w << " in: " << r.message();
  }
  ClusterBuilder c;
};

TEST_F(DependencyValidation, AcceptsEveryKind) {
  auto r = make({on(1, DependencyType::After, -1, 10), on(2, DependencyType::AfterOk, 7),
                 on(2, DependencyType::AfterCorr), Dependency{0, DependencyType::Singleton},
                 Dependency{0, DependencyType::Sequential}},
                true);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->job.depends_on.size(), 5u);
  auto any = make({on(1, DependencyType::AfterOk), on(2, DependencyType::AfterNotOk, 3)}, false, true);
  ASSERT_TRUE(any) << any.message();
  EXPECT_TRUE(any->job.depends_any);
  auto lone = make({}, false, true);  // '?' without dependencies means nothing
  ASSERT_TRUE(lone);
  EXPECT_FALSE(lone->job.depends_any);
}

TEST_F(DependencyValidation, RefusesWhatCannotBeMeant) {
  refused({on(50, DependencyType::AfterOk)}, {"afterok:50", "itself"});
  refused({on(77, DependencyType::AfterOk)}, {"unknown job 77"});
  refused({on(2, DependencyType::AfterOk, 12)}, {"afterok:2_12", "array 2 has no task 12", "0-9"});
  refused({on(1, DependencyType::AfterOk, 0)}, {"job 1 is not an array"});
  refused({on(2, DependencyType::AfterCorr)}, {"aftercorr", "this job is not an array"});
  refused({on(1, DependencyType::AfterCorr)}, {"job 1 is not an array"}, true);
  refused({on(2, DependencyType::AfterCorr, 3)}, {"names a whole array"}, true);
  refused({Dependency{0, DependencyType::Sequential}}, {"SEQUENTIAL is for array jobs"});
  refused({on(1, DependencyType::AfterOk, -1, 5)}, {"+MINUTES goes with after only"});
  refused({on(1, DependencyType::After, -1, 600'000)}, {"out of range"});
  refused({on(1, DependencyType::Singleton)}, {"singleton names no job"});
  refused({on(2, DependencyType::AfterCorr), on(1, DependencyType::AfterOk)}, {"'?'"}, true, true);
}

}  // namespace
}  // namespace drover
