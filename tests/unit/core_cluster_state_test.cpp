// ClusterState: the job state machine driven only by events, node allocation,
// dependencies, retries, termination, refused events, dirty tracking and restore.
#include "core/cluster_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::ClusterBuilder;
using testing::make_test_job;
using testing::make_topology;

std::vector<int> used_pus(const Node& n) {
  std::vector<int> out;
  for (std::size_t i = 0; i < n.pu_used.size(); ++i)
    if (n.pu_used[i]) out.push_back(static_cast<int>(i));
  return out;
}
std::vector<int> used_gpus(const Node& n) {
  std::vector<int> out;
  for (std::size_t i = 0; i < n.gpu_used.size(); ++i)
    if (n.gpu_used[i]) out.push_back(static_cast<int>(i));
  return out;
}

bool has(const std::set<std::int64_t>& s, std::int64_t id) { return s.count(id) != 0; }

// ---- the happy path -------------------------------------------------------------

TEST(ClusterStateJobs, SubmitWithoutDependenciesIsRunnable) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  const Job* j = c.state().job(1);
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_TRUE(j->status_reason.empty());
  EXPECT_TRUE(has(c.state().runnable("q"), 1));
  EXPECT_EQ(c.state().runnable_count(), 1u);
  EXPECT_EQ(c.state().next_job_id(), 2);
}

TEST(ClusterStateJobs, SubmitAdvancesNextJobIdPastTheLargestId) {
  ClusterBuilder c;
  c.simple();
  c.submit(41);
  EXPECT_EQ(c.state().next_job_id(), 42);
  EXPECT_EQ(c.state().allocate_job_id(), 42);
  EXPECT_EQ(c.state().allocate_job_id(), 43);
  c.submit(7);  // a smaller id does not move it back
  EXPECT_EQ(c.state().next_job_id(), 44);
}

TEST(ClusterStateJobs, FullLifecycleToSucceededAllocatesAndReleases) {
  ClusterBuilder c;
  c.simple(4, 8192, 2);
  c.submit(1, "q", 2, 1024, 1);

  c.dispatch(1, "n1", {1, 2}, {1}, 1500);
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Starting);
  ASSERT_EQ(j->attempts.size(), 1u);
  EXPECT_EQ(j->attempts[0].node, "n1");
  EXPECT_EQ(j->attempts[0].cpus, (std::vector<int>{1, 2}));
  EXPECT_EQ(j->attempts[0].gpus, (std::vector<int>{1}));
  EXPECT_FALSE(has(c.state().runnable("q"), 1));
  const Node* n = c.state().node("n1");
  EXPECT_EQ(used_pus(*n), (std::vector<int>{1, 2}));
  EXPECT_EQ(used_gpus(*n), (std::vector<int>{1}));
  EXPECT_EQ(n->memory_used_mib, 1024);
  EXPECT_EQ(n->numa_memory_used_mib, std::vector<std::int64_t>{1024});  // one NUMA domain
  EXPECT_EQ(n->jobs_running, 1);
  EXPECT_EQ(n->pus_free(), 2);
  EXPECT_EQ(n->gpus_free(), 1);
  EXPECT_EQ(n->memory_free_mib(), 8192 - 1024);

  c.start(1, 2000);
  EXPECT_EQ(j->state, JobState::Running);
  EXPECT_EQ(j->started_at, 2000);
  EXPECT_EQ(j->attempts[0].started_at, 2000);

  c.exit(1, 0, 3000);
  EXPECT_EQ(j->state, JobState::Succeeded);
  EXPECT_TRUE(j->status_reason.empty());
  EXPECT_EQ(j->stopped_at, 3000);
  EXPECT_EQ(j->attempts[0].stopped_at, 3000);
  ASSERT_TRUE(j->attempts[0].exit_code.has_value());
  EXPECT_EQ(*j->attempts[0].exit_code, 0);
  EXPECT_TRUE(used_pus(*n).empty());
  EXPECT_TRUE(used_gpus(*n).empty());
  EXPECT_EQ(n->memory_used_mib, 0);
  EXPECT_EQ(n->numa_memory_used_mib, std::vector<std::int64_t>{0});
  EXPECT_EQ(n->jobs_running, 0);
  EXPECT_EQ(n->pus_free(), 4);
}

// Memory by NUMA domain: each job's over the domains of its PUs, evenly.
TEST(ClusterStateJobs, MemoryIsCountedInTheNumaDomainsOfTheJobsPus) {
  ClusterBuilder c;
  c.node("n1", make_topology(4, 1, 8192, 0, 2));  // NUMA 0: PUs 0-1, NUMA 1: PUs 2-3, 4 GiB each
  c.env("ce", {"n1"});
  c.queue("q", {"ce"});
  c.submit(1, "q", 1, 1000);
  c.submit(2, "q", 2, 1001);
  c.dispatch(1, "n1", {0});
  c.dispatch(2, "n1", {1, 2});
  const Node* n = c.state().node("n1");
  EXPECT_EQ(n->numa_memory_used_mib, (std::vector<std::int64_t>{1000 + 501, 500}));
  c.start(1);
  c.exit(1, 0);
  EXPECT_EQ(n->numa_memory_used_mib, (std::vector<std::int64_t>{501, 500}));
  c.start(2);
  c.exit(2, 0);
  EXPECT_EQ(n->numa_memory_used_mib, (std::vector<std::int64_t>{0, 0}));
}

TEST(ClusterStateJobs, ExitFromStartingCountsAsAnAttempt) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0}, {}, 1500);
  c.exit(1, 127, 1600, "CannotStartContainerError: no such file");
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->attempts[0].started_at, 1600);  // set from the exit when it never started
  EXPECT_EQ(j->status_reason, "CannotStartContainerError: no such file");
  EXPECT_EQ(c.state().node("n1")->jobs_running, 0);
}

struct FailureCase {
  const char* name;
  std::optional<int> code;
  int signal;
  std::string reason;
  std::string want_status_reason;
};

class ClusterStateFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(ClusterStateFailure, NonZeroExitFailsWithStatusReason) {
  const auto& p = GetParam();
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0});
  c.start(1);
  ASSERT_TRUE(c.state().apply(JobExited{1, 5000, p.code, p.signal, p.reason}));
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->status_reason, p.want_status_reason);
  EXPECT_EQ(j->attempts.back().status_reason, p.want_status_reason);
  EXPECT_EQ(j->attempts.back().exit_code, p.code);
  EXPECT_EQ(j->attempts.back().signal, p.signal);
  EXPECT_EQ(j->attempts.back().reason, p.reason);
  EXPECT_EQ(j->stopped_at, 5000);
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4);
}

INSTANTIATE_TEST_SUITE_P(
    Exits, ClusterStateFailure,
    ::testing::Values(
        FailureCase{"Code1", 1, 0, "", "exited with code 1"},
        FailureCase{"Code255", 255, 0, "", "exited with code 255"},
        FailureCase{"Signal9", std::nullopt, 9, "", "killed by signal 9 (SIGKILL)"},
        FailureCase{"Signal15", std::nullopt, 15, "", "killed by signal 15 (SIGTERM)"},
        FailureCase{"OutOfMemory", std::nullopt, 9, "OutOfMemoryError: memory limit 100 MiB",
                    "OutOfMemoryError: memory limit 100 MiB"},
        // Exit code 0 but a reason (e.g. killed at the timeout after the script trapped it).
        FailureCase{"ZeroWithReason", 0, 0, "Job attempt duration exceeded timeout",
                    "Job attempt duration exceeded timeout"},
        FailureCase{"NoCodeNoSignal", std::nullopt, 0, "", "ended"}),
    [](const auto& info) { return info.param.name; });

// ---- retries ----------------------------------------------------------------------

TEST(ClusterStateRetry, RetriesUntilAttemptsAreUsedUp) {
  ClusterBuilder c;
  c.simple();
  Job job = make_test_job(1);
  job.retry.attempts = 3;
  c.submit(job);
  const Job* j = c.state().job(1);

  c.run(1, 2);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_TRUE(has(c.state().runnable("q"), 1));
  EXPECT_EQ(j->status_reason, "Retrying (attempt 2 of 3) after: exited with code 2");
  EXPECT_EQ(j->attempts.size(), 1u);
  EXPECT_EQ(j->stopped_at, 0);
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4);

  c.run(1, 3);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_EQ(j->status_reason, "Retrying (attempt 3 of 3) after: exited with code 3");
  EXPECT_EQ(j->attempts.size(), 2u);

  c.run(1, 4);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->status_reason, "exited with code 4");
  ASSERT_EQ(j->attempts.size(), 3u);
  EXPECT_EQ(*j->attempts[0].exit_code, 2);
  EXPECT_EQ(*j->attempts[1].exit_code, 3);
  EXPECT_EQ(*j->attempts[2].exit_code, 4);
  EXPECT_FALSE(has(c.state().runnable("q"), 1));
}

TEST(ClusterStateRetry, SuccessOnASecondAttempt) {
  ClusterBuilder c;
  c.simple();
  Job job = make_test_job(1);
  job.retry.attempts = 2;
  c.submit(job);
  c.run(1, 1);
  c.run(1, 0);
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Succeeded);
  EXPECT_TRUE(j->status_reason.empty());
  EXPECT_EQ(j->attempts.size(), 2u);
}

struct RetryCase {
  const char* name;
  std::vector<ExitRule> rules;
  std::optional<int> code;
  int signal;
  std::string reason;
  bool retried;
};

class ClusterStateRetryRules : public ::testing::TestWithParam<RetryCase> {};

TEST_P(ClusterStateRetryRules, EvaluateOnExit) {
  const auto& p = GetParam();
  ClusterBuilder c;
  c.simple();
  Job job = make_test_job(1);
  job.retry.attempts = 2;
  job.retry.evaluate_on_exit = p.rules;
  c.submit(job);
  c.dispatch(1, "n1", {0});
  c.start(1);
  ASSERT_TRUE(c.state().apply(JobExited{1, 3000, p.code, p.signal, p.reason}));
  EXPECT_EQ(c.state().job(1)->state, p.retried ? JobState::Runnable : JobState::Failed);
}

ExitRule rule(std::string code, std::string reason, std::string status, std::string action) {
  return ExitRule{std::move(code), std::move(reason), std::move(status), std::move(action)};
}

const std::string kTimeout = "Job attempt duration exceeded timeout (60 s)";

INSTANTIATE_TEST_SUITE_P(
    Rules, ClusterStateRetryRules,
    ::testing::Values(
        RetryCase{"NoRulesRetries", {}, 1, 0, "", true},
        RetryCase{"NoMatchRetries", {rule("3", "", "", "EXIT")}, 1, 0, "", true},
        RetryCase{"ExitCodeMatchExits", {rule("1", "", "", "EXIT")}, 1, 0, "", false},
        RetryCase{"ExitCodeGlobExits", {rule("4*", "", "", "EXIT")}, 42, 0, "", false},
        RetryCase{"ExitCodeQuestionMark", {rule("1?", "", "", "EXIT")}, 17, 0, "", false},
        RetryCase{"ExitCodeQuestionMarkNeedsOne", {rule("1?", "", "", "EXIT")}, 1, 0, "", true},
        RetryCase{"FirstMatchWins",
                  {rule("*", "", "", "RETRY"), rule("1", "", "", "EXIT")}, 1, 0, "", true},
        RetryCase{"FirstMatchWinsExit",
                  {rule("1", "", "", "EXIT"), rule("*", "", "", "RETRY")}, 1, 0, "", false},
        RetryCase{"OnReasonMatches", {rule("", "OutOfMemory*", "", "EXIT")}, std::nullopt, 9,
                  "OutOfMemoryError: limit", false},
        RetryCase{"OnReasonNoMatch", {rule("", "OutOfMemory*", "", "EXIT")}, 3, 0, "", true},
        RetryCase{"OnStatusReasonMatchesDescribedExit",
                  {rule("", "", "killed by signal*", "EXIT")}, std::nullopt, 11, "", false},
        RetryCase{"OnStatusReasonGlob", {rule("", "", "*code 7", "EXIT")}, 7, 0, "", false},
        RetryCase{"AllFieldsMustMatch", {rule("1", "Host*", "", "EXIT")}, 1, 0, "", true},
        RetryCase{"ExitCodeGlobOnSignalHasNoCode", {rule("*", "", "", "EXIT")}, std::nullopt,
                  9, "", false},
        RetryCase{"ExitCodeDigitsDoNotMatchSignal", {rule("9", "", "", "EXIT")},
                  std::nullopt, 9, "", true},
        RetryCase{"TimeoutNotRetriedByDefault", {}, std::nullopt, 15, kTimeout, false},
        RetryCase{"TimeoutNotRetriedWhenNoRuleMatches", {rule("1", "", "", "EXIT")},
                  std::nullopt, 15, kTimeout, false},
        RetryCase{"TimeoutRetriedWhenARuleAsks", {rule("", "Job attempt duration*", "", "RETRY")},
                  std::nullopt, 15, kTimeout, true},
        RetryCase{"RetryRuleMatchRetries", {rule("2", "", "", "RETRY")}, 2, 0, "", true}),
    [](const auto& info) { return info.param.name; });

TEST(ClusterStateRetry, RetryRuleCannotExceedAttempts) {
  ClusterBuilder c;
  c.simple();
  Job job = make_test_job(1);
  job.retry.attempts = 1;
  job.retry.evaluate_on_exit = {rule("*", "", "", "RETRY")};
  c.submit(job);
  c.run(1, 1);
  EXPECT_EQ(c.state().job(1)->state, JobState::Failed);
}

TEST(ShouldRetry, CountsAttemptsAlreadyMade) {
  Job job = make_test_job(1);
  job.retry.attempts = 2;
  Attempt a;
  a.exit_code = 1;
  job.attempts = {a};
  EXPECT_TRUE(should_retry(job, a));
  job.attempts = {a, a};
  EXPECT_FALSE(should_retry(job, a));
}

// ---- glob_match ----------------------------------------------------------------------

struct GlobCase {
  const char* pattern;
  const char* text;
  bool match;
};

class GlobMatch : public ::testing::TestWithParam<GlobCase> {};

TEST_P(GlobMatch, Matches) {
  EXPECT_EQ(glob_match(GetParam().pattern, GetParam().text), GetParam().match)
      << "pattern '" << GetParam().pattern << "' text '" << GetParam().text << "'";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GlobMatch,
    ::testing::Values(GlobCase{"", "", true}, GlobCase{"", "a", false}, GlobCase{"a", "", false},
                      GlobCase{"*", "", true}, GlobCase{"**", "", true},
                      GlobCase{"*", "anything", true}, GlobCase{"?", "", false},
                      GlobCase{"?", "x", true}, GlobCase{"?", "xy", false},
                      GlobCase{"abc", "abc", true}, GlobCase{"abc", "abcd", false},
                      GlobCase{"abc", "ab", false}, GlobCase{"ABC", "abc", false},
                      GlobCase{"a*", "a", true}, GlobCase{"*a", "a", true},
                      GlobCase{"*a", "ba", true}, GlobCase{"*a", "ab", false},
                      GlobCase{"a*c", "abbbc", true}, GlobCase{"a*c", "abbbd", false},
                      GlobCase{"a*b*c", "a_b_b_c", true}, GlobCase{"a*b*c", "acb", false},
                      GlobCase{"*ab", "aab", true},  // needs backtracking
                      GlobCase{"*aab", "aaab", true}, GlobCase{"a*?", "a", false},
                      GlobCase{"a*?", "ab", true}, GlobCase{"1?3", "123", true},
                      GlobCase{"Host EC2*", "Host EC2 (instance i-1) terminated.", true},
                      GlobCase{"*[a]*", "[a]", true},  // no character classes: literal
                      GlobCase{"*[a]*", "a", false}));

// ---- termination ---------------------------------------------------------------------

TEST(ClusterStateTerminate, RunnableJobFailsAtOnceWithTheReason) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 4000, "Cancelled by alice"}));
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->status_reason, "Cancelled by alice");
  EXPECT_EQ(j->stopped_at, 4000);
  EXPECT_TRUE(j->terminate_requested);
  EXPECT_FALSE(has(c.state().runnable("q"), 1));
  EXPECT_EQ(c.state().runnable_count(), 0u);
}

TEST(ClusterStateTerminate, PendingJobFailsAtOnceAndItsDependentsFollow) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  Job b = make_test_job(2);
  b.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(b);
  Job d = make_test_job(3);
  d.depends_on = {{2, DependencyType::AfterOk}};
  c.submit(d);
  ASSERT_EQ(c.state().job(2)->state, JobState::Pending);
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{2, 4000, "Cancelled"}));
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(2)->status_reason, "Cancelled");
  EXPECT_EQ(c.state().job(3)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(1)->state, JobState::Runnable);
}

TEST(ClusterStateTerminate, RunningJobIsFlaggedAndFailsOnExitWithTheReason) {
  ClusterBuilder c;
  c.simple();
  Job job = make_test_job(1);
  job.retry.attempts = 5;  // termination is never retried
  c.submit(job);
  c.dispatch(1, "n1", {0, 1});
  c.start(1);
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 4000, "Terminated by admin"}));
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Running);
  EXPECT_TRUE(j->terminate_requested);
  EXPECT_EQ(j->terminate_reason, "Terminated by admin");
  EXPECT_EQ(c.state().node("n1")->pus_free(), 2);

  ASSERT_TRUE(c.state().apply(JobExited{1, 4100, std::nullopt, 15, ""}));
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->status_reason, "Terminated by admin");
  EXPECT_EQ(j->attempts.back().status_reason, "Terminated by admin");
  EXPECT_EQ(j->stopped_at, 4100);
  EXPECT_EQ(j->attempts.size(), 1u);
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4);
}

TEST(ClusterStateTerminate, TerminatedJobThatExitsZeroStillFails) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0});
  c.start(1);
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 4000, "Cancelled"}));
  c.exit(1, 0);
  EXPECT_EQ(c.state().job(1)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(1)->status_reason, "Cancelled");
}

TEST(ClusterStateTerminate, StartingJobWaitsForTheAgent) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0});
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 4000, "Cancelled"}));
  EXPECT_EQ(c.state().job(1)->state, JobState::Starting);
}

TEST(ClusterStateTerminate, FinishedJobIsLeftAlone) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.run(1, 0);
  (void)c.state().take_dirty();
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 9000, "too late"}));
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Succeeded);
  EXPECT_FALSE(j->terminate_requested);
  EXPECT_TRUE(c.state().take_dirty().empty());
}

// ---- requeue -------------------------------------------------------------------------

TEST(ClusterStateRequeue, ForgetsTheAttemptAndReleasesTheNode) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0, 1, 2});
  ASSERT_TRUE(c.state().apply(JobRequeued{1, 2500, "head restarted before launch"}));
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_TRUE(j->attempts.empty());
  EXPECT_EQ(j->status_reason, "head restarted before launch");
  EXPECT_TRUE(has(c.state().runnable("q"), 1));
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4);
  EXPECT_EQ(c.state().node("n1")->jobs_running, 0);
  // It can be dispatched again, as attempt 1.
  c.dispatch(1, "n1", {3});
  EXPECT_EQ(j->attempts.size(), 1u);
}

TEST(ClusterStateRequeue, RunningJobCanBeRequeuedToo) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0});
  c.start(1);
  ASSERT_TRUE(c.state().apply(JobRequeued{1, 2500, "node rebooted"}));
  EXPECT_EQ(c.state().job(1)->state, JobState::Runnable);
}

TEST(ClusterStateRequeue, TerminateRequestedJobFailsInsteadOfRequeueing) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.dispatch(1, "n1", {0});
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 2400, "Cancelled"}));
  ASSERT_TRUE(c.state().apply(JobRequeued{1, 2500, "lost"}));
  const Job* j = c.state().job(1);
  EXPECT_EQ(j->state, JobState::Failed);
  EXPECT_EQ(j->status_reason, "Cancelled");
  EXPECT_EQ(j->stopped_at, 2500);
  EXPECT_FALSE(has(c.state().runnable("q"), 1));
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4);
}

// ---- dependencies --------------------------------------------------------------------

struct DepCase {
  const char* name;
  DependencyType type;
  int parent_exit;  // -1: parent only started (RUNNING)
  JobState child;   // after the parent's event
};

class ClusterStateDependencies : public ::testing::TestWithParam<DepCase> {};

TEST_P(ClusterStateDependencies, ChildFollowsParent) {
  const auto& p = GetParam();
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  Job child = make_test_job(2);
  child.depends_on = {{1, p.type}};
  c.submit(child);
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  EXPECT_EQ(c.state().job(2)->status_reason, "Dependency");
  EXPECT_FALSE(has(c.state().runnable("q"), 2));
  c.dispatch(1, "n1", {0});
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);  // STARTING satisfies nothing
  c.start(1);
  if (p.parent_exit >= 0) c.exit(1, p.parent_exit);
  const Job* j = c.state().job(2);
  EXPECT_EQ(j->state, p.child);
  if (p.child == JobState::Runnable) {
    EXPECT_TRUE(j->status_reason.empty());
    EXPECT_TRUE(has(c.state().runnable("q"), 2));
  }
  if (p.child == JobState::Failed) {
    EXPECT_NE(j->status_reason.find("Dependency job 1 ended"), std::string::npos)
        << j->status_reason;
    EXPECT_NE(j->status_reason.find(to_string(p.type)), std::string::npos) << j->status_reason;
    EXPECT_EQ(j->stopped_at, 3000);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, ClusterStateDependencies,
    ::testing::Values(
        DepCase{"AfterOkRunning", DependencyType::AfterOk, -1, JobState::Pending},
        DepCase{"AfterOkSucceeded", DependencyType::AfterOk, 0, JobState::Runnable},
        DepCase{"AfterOkFailed", DependencyType::AfterOk, 1, JobState::Failed},
        DepCase{"AfterAnyRunning", DependencyType::AfterAny, -1, JobState::Pending},
        DepCase{"AfterAnySucceeded", DependencyType::AfterAny, 0, JobState::Runnable},
        DepCase{"AfterAnyFailed", DependencyType::AfterAny, 1, JobState::Runnable},
        DepCase{"AfterNotOkRunning", DependencyType::AfterNotOk, -1, JobState::Pending},
        DepCase{"AfterNotOkSucceeded", DependencyType::AfterNotOk, 0, JobState::Failed},
        DepCase{"AfterNotOkFailed", DependencyType::AfterNotOk, 1, JobState::Runnable},
        DepCase{"AfterRunning", DependencyType::After, -1, JobState::Runnable},
        DepCase{"AfterSucceeded", DependencyType::After, 0, JobState::Runnable},
        DepCase{"AfterFailed", DependencyType::After, 1, JobState::Runnable}),
    [](const auto& info) { return info.param.name; });

struct FinishedParentCase {
  const char* name;
  DependencyType type;
  int parent_exit;
  JobState child;
};

class ClusterStateDependencyOnFinished : public ::testing::TestWithParam<FinishedParentCase> {};

TEST_P(ClusterStateDependencyOnFinished, DecidedAtSubmit) {
  const auto& p = GetParam();
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.run(1, p.parent_exit);
  Job child = make_test_job(2);
  child.depends_on = {{1, p.type}};
  c.submit(child);
  EXPECT_EQ(c.state().job(2)->state, p.child);
  EXPECT_EQ(has(c.state().runnable("q"), 2), p.child == JobState::Runnable);
}

INSTANTIATE_TEST_SUITE_P(
    Types, ClusterStateDependencyOnFinished,
    ::testing::Values(
        FinishedParentCase{"AfterOkOk", DependencyType::AfterOk, 0, JobState::Runnable},
        FinishedParentCase{"AfterOkFailed", DependencyType::AfterOk, 1, JobState::Failed},
        FinishedParentCase{"AfterNotOkOk", DependencyType::AfterNotOk, 0, JobState::Failed},
        FinishedParentCase{"AfterNotOkFailed", DependencyType::AfterNotOk, 1, JobState::Runnable},
        FinishedParentCase{"AfterAnyFailed", DependencyType::AfterAny, 1, JobState::Runnable},
        FinishedParentCase{"AfterOk", DependencyType::After, 0, JobState::Runnable}),
    [](const auto& info) { return info.param.name; });

TEST(ClusterStateDependencies, ForgottenDependencyCountsAsSatisfied) {
  ClusterBuilder c;
  c.simple();
  Job child = make_test_job(2);
  child.depends_on = {{99, DependencyType::AfterOk}};
  c.submit(child);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
}

TEST(ClusterStateDependencies, FailureCascadesThroughAChain) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  Job b = make_test_job(2);
  b.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(b);
  Job d = make_test_job(3);
  d.depends_on = {{2, DependencyType::AfterOk}};
  c.submit(d);
  Job e = make_test_job(4);  // survives: afterany on C
  e.depends_on = {{3, DependencyType::AfterAny}};
  c.submit(e);
  (void)c.state().take_dirty();

  c.run(1, 3);
  EXPECT_EQ(c.state().job(1)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(3)->state, JobState::Failed);
  EXPECT_NE(c.state().job(3)->status_reason.find("Dependency job 2 ended FAILED"),
            std::string::npos)
      << c.state().job(3)->status_reason;
  EXPECT_EQ(c.state().job(4)->state, JobState::Runnable);
  const auto dirty = c.state().take_dirty();
  EXPECT_EQ(dirty.jobs, (std::set<std::int64_t>{1, 2, 3, 4}));
}

TEST(ClusterStateDependencies, SuccessReleasesAChainOneStepAtATime) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  Job b = make_test_job(2);
  b.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(b);
  Job d = make_test_job(3);
  d.depends_on = {{2, DependencyType::AfterOk}};
  c.submit(d);
  c.run(1, 0);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);
  c.run(2, 0);
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

TEST(ClusterStateDependencies, AllDependenciesMustBeSatisfied) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  Job child = make_test_job(3);
  child.depends_on = {{1, DependencyType::AfterOk}, {2, DependencyType::AfterAny}};
  c.submit(child);
  c.run(1, 0);
  EXPECT_EQ(c.state().job(3)->state, JobState::Pending);
  c.run(2, 1);
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

TEST(ClusterStateDependencies, FailsAsSoonAsAnyDependencyIsImpossible) {
  // Job 3 waits on 1 (still running) and on 2; 2 fails, so 3 can never run
  // whatever 1 does: it must not sit PENDING until 1 ends.
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  Job child = make_test_job(3);
  child.depends_on = {{1, DependencyType::AfterOk}, {2, DependencyType::AfterOk}};
  c.submit(child);
  c.dispatch(1, "n1", {0});
  c.start(1);
  c.run(2, 1, "n1", {1});
  EXPECT_EQ(c.state().job(3)->state, JobState::Failed);
  EXPECT_NE(c.state().job(3)->status_reason.find("Dependency job 2"), std::string::npos)
      << c.state().job(3)->status_reason;
}

TEST(ClusterStateDependencies, SubmitFailsAtOnceWhenALaterDependencyAlreadyFailed) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  c.submit(2);
  c.run(2, 1);
  Job child = make_test_job(3);
  child.depends_on = {{1, DependencyType::AfterOk}, {2, DependencyType::AfterOk}};
  c.submit(child);
  EXPECT_EQ(c.state().job(3)->state, JobState::Failed);
}

TEST(ClusterStateDependencies, RetriedParentKeepsChildPending) {
  ClusterBuilder c;
  c.simple();
  Job a = make_test_job(1);
  a.retry.attempts = 2;
  c.submit(a);
  Job child = make_test_job(2);
  child.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(child);
  c.run(1, 1);  // retried: not an ending
  EXPECT_EQ(c.state().job(2)->state, JobState::Pending);
  c.run(1, 0);
  EXPECT_EQ(c.state().job(2)->state, JobState::Runnable);
}

TEST(ClusterStateDependencies, CancelledParentFailsAfterOkChild) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  Job child = make_test_job(2);
  child.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(child);
  Job other = make_test_job(3);
  other.depends_on = {{1, DependencyType::AfterNotOk}};
  c.submit(other);
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{1, 5000, "Cancelled"}));
  EXPECT_EQ(c.state().job(2)->state, JobState::Failed);
  EXPECT_EQ(c.state().job(2)->stopped_at, 5000);
  EXPECT_EQ(c.state().job(3)->state, JobState::Runnable);
}

// ---- events that do not fit ----------------------------------------------------------

// Everything observable about the state, to check that refused events change nothing.
std::string fingerprint(const ClusterState& s) {
  std::string out;
  std::vector<std::int64_t> ids;
  for (const auto& [id, j] : s.jobs()) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (auto id : ids) {
    const Job& j = *s.job(id);
    out += std::to_string(id) + ":" + to_string(j.state) + ":" + j.status_reason + ":" +
           std::to_string(j.attempts.size()) + ":" + (j.terminate_requested ? "T" : "-") + ";";
  }
  for (const auto& [name, n] : s.nodes()) {
    out += name + ":" + to_string(n.state) + (n.connected ? "+" : "-") + ":" +
           std::to_string(n.pus_free()) + ":" + std::to_string(n.gpus_free()) + ":" +
           std::to_string(n.memory_used_mib) + ":" + std::to_string(n.jobs_running) + ";";
  }
  for (const auto& [name, revs] : s.definitions()) {
    out += "def " + name + "#" + std::to_string(revs.size());
    for (const auto& d : revs) out += d.active ? "A" : "I";
    out += ";";
  }
  out += "q" + std::to_string(s.queues().size()) + "e" + std::to_string(s.environments().size());
  out += "r" + std::to_string(s.runnable_count()) + "n" + std::to_string(s.next_job_id());
  return out;
}

struct RefusedCase {
  const char* name;
  Event event;
  const char* message_part;
};

class ClusterStateRefused : public ::testing::TestWithParam<RefusedCase> {};

// Jobs: 1 RUNNABLE, 2 STARTING on n1, 3 RUNNING on n1, 4 SUCCEEDED, 5 PENDING.
TEST_P(ClusterStateRefused, ChangesNothing) {
  ClusterBuilder c;
  c.simple(8);
  JobDefinition d;
  d.name = "def";
  d.revision = 1;
  c.ok(DefinitionRegistered{d});
  c.submit(1);
  c.submit(2);
  c.dispatch(2, "n1", {0});
  c.submit(3);
  c.dispatch(3, "n1", {1});
  c.start(3);
  c.submit(4);
  c.run(4, 0, "n1", {2});
  Job p = make_test_job(5);
  p.depends_on = {{3, DependencyType::AfterOk}};
  c.submit(p);
  (void)c.state().take_dirty();

  const std::string before = fingerprint(c.state());
  auto s = c.state().apply(GetParam().event);
  ASSERT_FALSE(s) << "event was accepted";
  EXPECT_NE(s.message().find(GetParam().message_part), std::string::npos) << s.message();
  EXPECT_EQ(fingerprint(c.state()), before);
  EXPECT_TRUE(c.state().take_dirty().empty());
}

JobDefinition def_rev(const std::string& name, int rev) {
  JobDefinition d;
  d.name = name;
  d.revision = rev;
  return d;
}

INSTANTIATE_TEST_SUITE_P(
    Events, ClusterStateRefused,
    ::testing::Values(
        RefusedCase{"DispatchUnknownJob", JobDispatched{99, "n1", {3}, {}, 0}, "unknown job"},
        RefusedCase{"DispatchStarting", JobDispatched{2, "n1", {3}, {}, 0}, "STARTING"},
        RefusedCase{"DispatchRunning", JobDispatched{3, "n1", {3}, {}, 0}, "RUNNING"},
        RefusedCase{"DispatchFinished", JobDispatched{4, "n1", {3}, {}, 0}, "SUCCEEDED"},
        RefusedCase{"DispatchPending", JobDispatched{5, "n1", {3}, {}, 0}, "PENDING"},
        RefusedCase{"DispatchUnknownNode", JobDispatched{1, "nX", {3}, {}, 0}, "unknown node"},
        RefusedCase{"StartUnknown", JobStarted{99, 0}, "99"},
        RefusedCase{"StartRunnable", JobStarted{1, 0}, "not starting"},
        RefusedCase{"StartRunning", JobStarted{3, 0}, "not starting"},
        RefusedCase{"StartFinished", JobStarted{4, 0}, "not starting"},
        RefusedCase{"ExitUnknown", JobExited{99, 0, 0, 0, ""}, "99"},
        RefusedCase{"ExitRunnable", JobExited{1, 0, 0, 0, ""}, "not running"},
        RefusedCase{"ExitPending", JobExited{5, 0, 0, 0, ""}, "not running"},
        RefusedCase{"ExitFinished", JobExited{4, 0, 1, 0, ""}, "not running"},
        RefusedCase{"RequeueRunnable", JobRequeued{1, 0, "x"}, "not starting or running"},
        RefusedCase{"RequeueFinished", JobRequeued{4, 0, "x"}, "not starting or running"},
        RefusedCase{"RequeueUnknown", JobRequeued{99, 0, "x"}, "99"},
        RefusedCase{"TerminateUnknown", JobTerminationRequested{99, 0, "x"}, "not found"},
        RefusedCase{"SubmitExistingId", JobSubmitted{make_test_job(3)}, "exists"},
        RefusedCase{"DefinitionRevisionSkipped", DefinitionRegistered{def_rev("def", 3)},
                    "out of order"},
        RefusedCase{"DefinitionRevisionRepeated", DefinitionRegistered{def_rev("def", 1)},
                    "out of order"},
        RefusedCase{"NewDefinitionNotAtOne", DefinitionRegistered{def_rev("other", 2)},
                    "out of order"},
        RefusedCase{"DeregisterUnknownName", DefinitionDeregistered{"nope", 1}, "no such"},
        RefusedCase{"DeregisterUnknownRevision", DefinitionDeregistered{"def", 2}, "no such"},
        RefusedCase{"DeregisterRevisionZero", DefinitionDeregistered{"def", 0}, "no such"},
        RefusedCase{"DisconnectUnknownNode", NodeDisconnected{"nX", 0}, "unknown node"},
        RefusedCase{"StateOfUnknownNode", NodeStateSet{"nX", NodeState::Drain, "x"},
                    "unknown node"}),
    [](const auto& info) { return info.param.name; });

TEST(ClusterStatePendingReason, OnlyForRunnableJobsAndNeverDirty) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  Job p = make_test_job(2);
  p.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(p);
  (void)c.state().take_dirty();
  ASSERT_TRUE(c.state().apply(JobPendingReasonSet{1, "Resources"}));
  ASSERT_TRUE(c.state().apply(JobPendingReasonSet{2, "Resources"}));
  ASSERT_TRUE(c.state().apply(JobPendingReasonSet{99, "Resources"}));
  EXPECT_EQ(c.state().job(1)->pending_reason, "Resources");
  EXPECT_TRUE(c.state().job(2)->pending_reason.empty());
  EXPECT_TRUE(c.state().take_dirty().empty());
  c.dispatch(1, "n1", {0});  // leaving RUNNABLE clears it
  EXPECT_TRUE(c.state().job(1)->pending_reason.empty());
}

// ---- definitions, queues, environments, nodes ------------------------------------------

TEST(ClusterStateDefinitions, RevisionsAndLatestActive) {
  ClusterBuilder c;
  for (int r = 1; r <= 3; ++r) c.ok(DefinitionRegistered{def_rev("blast", r)});
  EXPECT_EQ(c.state().definition("blast")->revision, 3);
  EXPECT_EQ(c.state().definition("blast", 2)->revision, 2);
  EXPECT_EQ(c.state().definition("blast", 4), nullptr);
  EXPECT_EQ(c.state().definition("nope"), nullptr);
  c.ok(DefinitionDeregistered{"blast", 3});
  EXPECT_EQ(c.state().definition("blast")->revision, 2);
  EXPECT_FALSE(c.state().definition("blast", 3)->active);
  c.ok(DefinitionDeregistered{"blast", 1});
  c.ok(DefinitionDeregistered{"blast", 2});
  EXPECT_EQ(c.state().definition("blast"), nullptr);
  EXPECT_NE(c.state().definition("blast", 2), nullptr);
}

TEST(ClusterStateNodes, ConnectDisconnectDrain) {
  ClusterBuilder c;
  c.node("n1", make_topology(4), 100);
  const Node* n = c.state().node("n1");
  EXPECT_TRUE(n->connected);
  EXPECT_EQ(n->state, NodeState::Up);
  EXPECT_EQ(n->last_seen, 100);
  EXPECT_EQ(n->pu_used.size(), 4u);

  c.ok(NodeDisconnected{"n1", 200});
  EXPECT_FALSE(n->connected);
  EXPECT_EQ(n->state, NodeState::Down);
  EXPECT_EQ(n->state_reason, "agent not connected");
  EXPECT_EQ(n->last_seen, 200);

  c.node("n1", make_topology(4), 300);
  EXPECT_EQ(n->state, NodeState::Up);
  EXPECT_TRUE(n->state_reason.empty());

  c.ok(NodeStateSet{"n1", NodeState::Drain, "maintenance"});
  c.ok(NodeDisconnected{"n1", 400});
  EXPECT_EQ(n->state, NodeState::Drain);  // an admin's DRAIN survives a disconnect
  c.node("n1", make_topology(4), 500);
  EXPECT_EQ(n->state, NodeState::Drain);
  EXPECT_EQ(n->state_reason, "maintenance");
  EXPECT_TRUE(n->connected);
}

TEST(ClusterStateNodes, ReconnectWithNewHardwareKeepsRunningJobsAllocated) {
  ClusterBuilder c;
  c.simple(4, 8192);
  c.submit(1, "q", 2, 1000);
  c.dispatch(1, "n1", {2, 3});
  c.start(1);
  c.ok(NodeDisconnected{"n1", 10});
  c.node("n1", make_topology(8, 1, 16384), 20);  // more cores now
  const Node* n = c.state().node("n1");
  EXPECT_EQ(n->pu_used.size(), 8u);
  EXPECT_EQ(used_pus(*n), (std::vector<int>{2, 3}));
  EXPECT_EQ(n->memory_used_mib, 1000);
  EXPECT_EQ(n->jobs_running, 1);
  EXPECT_EQ(n->pus_free(), 6);
  c.exit(1, 0);
  EXPECT_EQ(n->pus_free(), 8);
  EXPECT_EQ(n->memory_used_mib, 0);
}

TEST(ClusterStateNodes, ReconnectWithSameHardwareKeepsAllocation) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1);
  c.dispatch(1, "n1", {1});
  c.ok(NodeDisconnected{"n1", 10});
  c.node("n1", make_topology(4), 20);
  EXPECT_EQ(used_pus(*c.state().node("n1")), (std::vector<int>{1}));
  EXPECT_EQ(c.state().node("n1")->jobs_running, 1);
}

TEST(ClusterStateQueues, SaveReplaces) {
  ClusterBuilder c;
  c.env("ce", {});
  c.queue("q", {"ce"}, 5);
  c.queue("q", {"ce"}, 7, false);
  EXPECT_EQ(c.state().queues().size(), 1u);
  EXPECT_EQ(c.state().queue("q")->priority, 7);
  EXPECT_FALSE(c.state().queue("q")->enabled);
  EXPECT_EQ(c.state().queue("nope"), nullptr);
  EXPECT_EQ(c.state().environment("nope"), nullptr);
  EXPECT_EQ(c.state().node("nope"), nullptr);
  EXPECT_TRUE(c.state().runnable("nope").empty());
}

// ---- dirty tracking --------------------------------------------------------------------

TEST(ClusterStateDirty, EveryKindIsRecordedAndTakenOnce) {
  ClusterBuilder c;
  c.node("n1", make_topology(2));
  c.env("ce", {"n1"});
  c.queue("q", {"ce"});
  c.ok(DefinitionRegistered{def_rev("d", 1)});
  c.submit(1);
  DirtySet d = c.state().take_dirty();
  EXPECT_EQ(d.nodes, (std::set<std::string>{"n1"}));
  EXPECT_EQ(d.environments, (std::set<std::string>{"ce"}));
  EXPECT_EQ(d.queues, (std::set<std::string>{"q"}));
  EXPECT_EQ(d.definitions, (std::set<std::pair<std::string, int>>{{"d", 1}}));
  EXPECT_EQ(d.jobs, (std::set<std::int64_t>{1}));
  EXPECT_FALSE(d.empty());
  EXPECT_TRUE(c.state().take_dirty().empty());

  c.dispatch(1, "n1", {0});
  EXPECT_EQ(c.state().take_dirty().jobs, (std::set<std::int64_t>{1}));
  c.start(1);
  EXPECT_EQ(c.state().take_dirty().jobs, (std::set<std::int64_t>{1}));
  c.ok(DefinitionDeregistered{"d", 1});
  EXPECT_EQ(c.state().take_dirty().definitions, (std::set<std::pair<std::string, int>>{{"d", 1}}));
  c.ok(NodeStateSet{"n1", NodeState::Drain, "x"});
  EXPECT_EQ(c.state().take_dirty().nodes, (std::set<std::string>{"n1"}));
}

TEST(ClusterStateDirty, MarkDirtyPutsBackWhatAFailedSaveLost) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  DirtySet lost = c.state().take_dirty();
  c.submit(2);
  c.state().mark_dirty(lost);
  DirtySet d = c.state().take_dirty();
  EXPECT_EQ(d.jobs, (std::set<std::int64_t>{1, 2}));
  EXPECT_EQ(d.nodes, lost.nodes);
  EXPECT_EQ(d.queues, lost.queues);
  EXPECT_EQ(d.environments, lost.environments);
}

// ---- restore ----------------------------------------------------------------------------

// A live state with a job in every state, rebuilt from copies of its entities
// as the store would: runnable sets, node allocation and dependents must match.
TEST(ClusterStateRestore, RebuildsDerivedStateEqualToLive) {
  ClusterBuilder c;
  c.node("n1", make_topology(8, 2, 32768, 2));
  c.node("n2", make_topology(4, 1, 8192));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  c.queue("q2", {"ce"}, 10);
  c.ok(DefinitionRegistered{def_rev("d", 1)});
  c.ok(DefinitionRegistered{def_rev("d", 2)});
  c.ok(DefinitionDeregistered{"d", 1});
  c.submit(1);                                    // RUNNABLE in q
  c.submit(2, "q2", 2, 4096, 1);                  // STARTING on n1
  c.dispatch(2, "n1", {0, 1}, {1});
  c.submit(3, "q", 3, 1024);                      // RUNNING on n2
  c.dispatch(3, "n2", {0, 1, 2});
  c.start(3);
  c.submit(4);                                    // SUCCEEDED
  c.run(4, 0, "n1", {5});
  c.submit(5, "q2");                              // FAILED
  c.run(5, 1, "n2", {3});
  Job p = make_test_job(6);                       // PENDING on 3
  p.depends_on = {{3, DependencyType::AfterOk}};
  c.submit(p);
  c.submit(7, "q2");                              // RUNNABLE in q2
  const ClusterState& live = c.state();

  ClusterState r;
  for (const auto& [name, revs] : live.definitions())
    for (const auto& d : revs) r.restore(d);
  for (const auto& [name, q] : live.queues()) r.restore(q);
  for (const auto& [name, e] : live.environments()) r.restore(e);
  for (const auto& [name, n] : live.nodes()) r.restore(n);
  for (const auto& [id, j] : live.jobs()) r.restore(j);
  r.finish_restore();

  EXPECT_TRUE(r.take_dirty().empty());
  EXPECT_EQ(r.runnable("q"), live.runnable("q"));
  EXPECT_EQ(r.runnable("q2"), live.runnable("q2"));
  EXPECT_EQ(r.runnable_count(), 2u);
  EXPECT_EQ(r.next_job_id(), live.next_job_id());
  EXPECT_EQ(r.definition("d")->revision, 2);
  EXPECT_FALSE(r.definition("d", 1)->active);
  for (const auto& name : {"n1", "n2"}) {
    const Node* a = live.node(name);
    const Node* b = r.node(name);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->pu_used, a->pu_used) << name;
    EXPECT_EQ(b->gpu_used, a->gpu_used) << name;
    EXPECT_EQ(b->memory_used_mib, a->memory_used_mib) << name;
    EXPECT_EQ(b->numa_memory_used_mib, a->numa_memory_used_mib) << name;
    EXPECT_EQ(b->jobs_running, a->jobs_running) << name;
    EXPECT_EQ(b->topology, a->topology) << name;
    EXPECT_FALSE(b->connected);  // until its agent says hello again
    EXPECT_EQ(b->state, NodeState::Down);
  }
  EXPECT_EQ(used_pus(*r.node("n1")), (std::vector<int>{0, 1}));
  EXPECT_EQ(used_gpus(*r.node("n1")), (std::vector<int>{1}));
  EXPECT_EQ(r.node("n2")->memory_used_mib, 1024);

  // The rebuilt dependents work: job 3 succeeding releases job 6.
  ASSERT_TRUE(r.apply(JobExited{3, 9000, 0, 0, ""}));
  EXPECT_EQ(r.job(6)->state, JobState::Runnable);
  EXPECT_TRUE(r.runnable("q").count(6));
  EXPECT_EQ(r.node("n2")->pus_free(), 4);
  // A reconnect with the same hardware keeps the restored allocation.
  ASSERT_TRUE(r.apply(NodeConnected{"n1", live.node("n1")->topology, 9100}));
  EXPECT_EQ(used_pus(*r.node("n1")), (std::vector<int>{0, 1}));
  EXPECT_EQ(r.node("n1")->state, NodeState::Up);
}

TEST(ClusterStateRestore, DrainedNodeStaysDrained) {
  ClusterState r;
  Node n;
  n.name = "n1";
  n.topology = make_topology(2);
  n.state = NodeState::Drain;
  n.state_reason = "bad disk";
  n.connected = true;
  r.restore(n);
  r.finish_restore();
  EXPECT_EQ(r.node("n1")->state, NodeState::Drain);
  EXPECT_EQ(r.node("n1")->state_reason, "bad disk");
  EXPECT_FALSE(r.node("n1")->connected);
}

TEST(JobState, NamesRoundTrip) {
  for (auto s : {JobState::Submitted, JobState::Pending, JobState::Runnable, JobState::Starting,
                 JobState::Running, JobState::Succeeded, JobState::Failed}) {
    EXPECT_EQ(parse_job_state(to_string(s)), s);
    std::string lower = to_string(s);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(ch));
    EXPECT_EQ(parse_job_state(lower), s);
  }
  EXPECT_EQ(parse_job_state("DONE"), std::nullopt);
  EXPECT_EQ(parse_job_state(""), std::nullopt);
  EXPECT_TRUE(is_terminal(JobState::Failed));
  EXPECT_FALSE(is_terminal(JobState::Running));
  EXPECT_TRUE(is_active(JobState::Starting));
  EXPECT_FALSE(is_active(JobState::Runnable));
}

TEST(DependencyTypes, NamesRoundTrip) {
  for (auto t : {DependencyType::AfterOk, DependencyType::AfterAny, DependencyType::AfterNotOk,
                 DependencyType::After, DependencyType::AfterCorr, DependencyType::Sequential,
                 DependencyType::Singleton})
    EXPECT_EQ(parse_dependency_type(to_string(t)), t);
  EXPECT_EQ(parse_dependency_type(""), DependencyType::AfterOk);
  EXPECT_EQ(parse_dependency_type("AFTEROK"), DependencyType::AfterOk);
  EXPECT_EQ(parse_dependency_type("N_TO_N"), DependencyType::AfterCorr);  // AWS Batch's names
  EXPECT_EQ(parse_dependency_type("SEQUENTIAL"), DependencyType::Sequential);
  EXPECT_EQ(parse_dependency_type("afterburstbuffer"), std::nullopt);
  EXPECT_EQ(to_string(NodeState::Drain), std::string("DRAIN"));
}

}  // namespace
}  // namespace drover
