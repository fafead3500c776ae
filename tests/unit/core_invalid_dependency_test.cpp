// A dependency that can never be satisfied: the job fails (the default), or,
// with kill-on-invalid-dep no (the job's own choice, else its queue's), stays
// PENDING with reason DependencyNeverSatisfied naming the dependency, until
// cancelled or given new dependencies (JobUpdated::depends_on, which also
// the head checks with validate_dependency_update: unknown jobs, cycles).
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

Dependency on(std::int64_t id, DependencyType t = DependencyType::AfterOk) { return Dependency{id, t, -1, 0}; }

Job waiting_on(std::int64_t id, std::vector<Dependency> deps, std::int8_t kill = -1, bool any = false) {
  Job j = make_test_job(id);
  j.depends_on = std::move(deps);
  j.depends_any = any;
  j.kill_on_invalid_dep = kill;
  return j;
}

void set_queue_kill(ClusterBuilder& c, bool kill) {
  JobQueue q = *c.state().queue("q");
  q.kill_on_invalid_dep = kill;
  c.ok(QueueSaved{q});
}

bool never_satisfied(const Job& j) { return j.status_reason.rfind("DependencyNeverSatisfied: ", 0) == 0; }

TEST(InvalidDependency, FailsByDefault) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(waiting_on(2, {on(1)}));
  c.run(1, 3);
  const Job& j = *c.state().job(2);
  EXPECT_EQ(j.state, JobState::Failed);
  EXPECT_EQ(j.status_reason, "Dependency job 1 ended FAILED (afterok:1 can no longer be satisfied)");
}

TEST(InvalidDependency, KeptPendingWhenTheJobSaysNo) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(waiting_on(2, {on(1)}, 0));
  c.submit(waiting_on(3, {on(2, DependencyType::AfterAny)}));  // waits on the kept job
  c.run(1, 3);
  const Job& j = *c.state().job(2);
  EXPECT_EQ(j.state, JobState::Pending);
  EXPECT_EQ(j.status_reason, "DependencyNeverSatisfied: afterok:1 can no longer be satisfied (job 1 ended FAILED)");
  EXPECT_FALSE(c.state().runnable("q").count(2));
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending) << "its dependent waits on";
  // Cancelling it ends it, and its dependents go on.
  c.ok(JobTerminationRequested{2, 5000, "cancelled by alice"});
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

TEST(InvalidDependency, QueueDefaultAndTheJobsOwnChoiceWins) {
  ClusterBuilder c;
  c.simple();
  set_queue_kill(c, false);
  c.submit(1);
  c.submit(waiting_on(2, {on(1)}));     // the queue's: kept
  c.submit(waiting_on(3, {on(1)}, 1));  // its own yes: fails
  c.submit(waiting_on(4, {on(1, DependencyType::AfterNotOk)}));  // met: not affected
  c.run(1, 3);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_TRUE(never_satisfied(*c.state().job(2))) << c.state().job(2)->status_reason;
  EXPECT_EQ(c.state().job(3)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(4)->state, JobState::Runnable);

  // A queue that says yes, a job that says no.
  set_queue_kill(c, true);
  c.submit(5);
  c.submit(waiting_on(6, {on(5)}, 0));
  c.run(5, 1, "n1", {1});
  EXPECT_EQ(c.state().job(6)->state, JobState::Pending);
}

TEST(InvalidDependency, AnyOfKeptPendingOnlyWhenNoneCanBeMet) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.submit(waiting_on(3, {on(1), on(2)}, 0, true));
  c.run(1, 1);
  EXPECT_EQ(c.state().job(3)->status_reason, "Dependency");
  c.run(2, 1, "n1", {1});
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);
  EXPECT_EQ(c.state().job(3)->status_reason.rfind("DependencyNeverSatisfied: none of its dependencies", 0), 0u)
      << c.state().job(3)->status_reason;
}

TEST(InvalidDependency, NewDependenciesLetAKeptJobRun) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  c.submit(waiting_on(2, {on(1)}, 0));
  c.run(1, 3);
  ASSERT_TRUE(never_satisfied(*c.state().job(2)));
  c.submit(3);  // the rerun
  JobUpdated u{2};
  u.depends_on = std::vector<Dependency>{on(3)};
  u.at = 4000;
  ASSERT_TRUE(validate_dependency_update(*c.state().job(2), *u.depends_on, false, c.state()));
  c.ok(u);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_EQ(c.state().job(2)->status_reason, "Dependency");
  EXPECT_EQ(c.state().job(2)->depends_on, (std::vector<Dependency>{on(3)}));
  c.run(3, 0, "n1", {1});
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_TRUE(c.state().runnable("q").count(2));
  // Job 1 is no longer watched for job 2.
  c.submit(waiting_on(4, {on(1)}, 0));
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
}

TEST(InvalidDependency, EmptyDependenciesClearThem) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(waiting_on(2, {on(1)}, 0));
  c.run(1, 3);
  JobUpdated u{2};
  u.depends_on = std::vector<Dependency>{};
  c.ok(u);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_TRUE(c.state().job(2)->status_reason.empty());
}

TEST(InvalidDependency, ARunnableJobGetsNewDependenciesAndWaitsAgain) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  ASSERT_EQ(c.state().job(2)->state, JobState::Runnable);
  JobUpdated u{2};
  u.depends_on = std::vector<Dependency>{on(1)};
  c.ok(u);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_FALSE(c.state().runnable("q").count(2));
  c.run(1, 0);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
}

TEST(InvalidDependency, OnlyJobsNotStartedChangeTheirDependencies) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.dispatch(2, "n1", {0});
  JobUpdated u{2};
  u.depends_on = std::vector<Dependency>{on(1)};
  auto s = c.state().apply(u);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "cannot update job 2: it is STARTING; only waiting jobs can change");
  EXPECT_EQ(c.state().job(2)->depends_on.size(), 0u);
}

TEST(InvalidDependency, UpdateRefusesUnknownJobsSelfAndCycles) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(waiting_on(2, {on(1)}));
  c.submit(waiting_on(3, {on(2, DependencyType::AfterAny)}));
  const Job& one = *c.state().job(1);
  auto unknown = validate_dependency_update(one, {on(99)}, false, c.state());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.message(), "dependsOn: afterok:99: unknown job 99");
  auto self = validate_dependency_update(one, {on(1)}, false, c.state());
  ASSERT_FALSE(self);
  EXPECT_EQ(self.message(), "dependsOn: afterok:1: a job cannot depend on itself");
  // 1 <- 2 <- 3: job 1 waiting on job 3 closes a loop.
  auto cycle = validate_dependency_update(one, {on(3)}, false, c.state());
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.message(), "dependsOn: this would make a cycle: a job named there waits, directly or not, for job 1");
  EXPECT_TRUE(validate_dependency_update(*c.state().job(3), {on(1)}, false, c.state()));
  EXPECT_TRUE(validate_dependency_update(one, {}, false, c.state()));
}

TEST(InvalidDependency, AnArrayIsKeptWholeOrTaskByTask) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  Job whole = make_test_array(2, {{0, 9, 1}});
  whole.depends_on = {on(1)};
  whole.kill_on_invalid_dep = 0;
  c.submit(std::move(whole));
  c.run(1, 2);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_TRUE(never_satisfied(*c.state().job(2)));
  EXPECT_EQ(c.state().job(2)->array->pending.count(), 10);
  JobUpdated u{2};
  u.depends_on = std::vector<Dependency>{};
  c.ok(u);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_TRUE(c.state().runnable("q").count(2));

  // aftercorr: the tasks whose partner failed stay pending; the others go on.
  set_queue_kill(c, false);
  c.submit(make_test_array(3, {{0, 1, 1}}));
  Job corr = make_test_array(4, {{0, 1, 1}});
  corr.depends_on = {on(3, DependencyType::AfterCorr)};
  c.submit(std::move(corr));
  c.dispatch_task(3, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 1);  // 3_0 failed: 4_0 can never start
  c.dispatch_task(3, 1, 11, "n1", {1});
  c.start(11);
  c.exit(11, 0);  // 3_1 succeeded: 4_1 may
  const Job& arr = *c.state().job(4);
  EXPECT_EQ(arr.array->pending.count(), 2) << "nothing failed";
  EXPECT_EQ(arr.array->first_ready(), 1);
  EXPECT_TRUE(never_satisfied(arr)) << arr.status_reason;
  EXPECT_NE(arr.status_reason.find("aftercorr:3"), std::string::npos) << arr.status_reason;
  // New (no) dependencies: task 0 may start too.
  JobUpdated clear{4};
  clear.depends_on = std::vector<Dependency>{};
  c.ok(clear);
  EXPECT_EQ(c.state().job(4)->array->first_ready(), 0);
}

TEST(InvalidDependency, KeptPendingAcrossARestartThoughItsTargetIsForgotten) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  c.submit(2);
  c.submit(waiting_on(3, {on(1), on(2)}, 0));
  c.run(1, 1);  // afterok:1 can never be met; job 2 has not ended
  ASSERT_TRUE(never_satisfied(*c.state().job(3)));
  // A new head: job 1 has left memory (a forgotten job counts as met).
  ClusterState r;
  for (const auto& [name, n] : c.state().nodes()) r.restore(n);
  for (const auto& [name, e] : c.state().environments()) r.restore(e);
  for (const auto& [name, q] : c.state().queues()) r.restore(q);
  for (const auto& [id, j] : c.state().jobs())
    if (id != 1) r.restore(j);
  r.finish_restore();
  ASSERT_TRUE(r.apply(JobDispatched{2, "n1", {0}, {}, 5000, -1, 0, {}}));
  ASSERT_TRUE(r.apply(JobStarted{2, 5000}));
  ASSERT_TRUE(r.apply(JobExited{2, 6000, 0, 0, ""}));
  EXPECT_EQ(r.job(3)->state, JobState::Pending);
  EXPECT_TRUE(never_satisfied(*r.job(3))) << r.job(3)->status_reason;
}

TEST(InvalidDependency, AKeptJobDoesNotHoldItsDeadTargetInMemory) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(waiting_on(3, {on(1)}, 0));
  c.run(1, 1);
  ASSERT_TRUE(never_satisfied(*c.state().job(3)));
  (void)c.state().take_dirty();
  c.state().evict_finished(INT64_MAX);
  EXPECT_EQ(c.state().job(1), nullptr) << "job 3 is decided: it needs job 1 no more";
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);
}

}  // namespace
}  // namespace drover
