// The checkpoint job contract in the core: which ended attempts go back to the
// queue with the same id (exit 75 of a job that checkpoints, a time limit reached
// after a fresh checkpoint, a lost node with --requeue or checkpointing), which do
// not, that requeued attempts do not use up retryStrategy.attempts, the status
// reasons people read, make_job's checkpoint fields, and the DROVER_CHECKPOINT_*
// / DROVER_RESTART variables.
#include <gtest/gtest.h>

#include <string>

#include "core/cluster_state.hpp"
#include "core/job_environment.hpp"
#include "core/job_request.hpp"
#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::ClusterBuilder;
using testing::make_test_job;
using testing::make_topology;

const std::string kTimeout = "Job attempt duration exceeded timeout";
const std::string kLost = "Node n1 stopped answering (no heartbeat for 30 s)";
const std::string kRequeuedBy75 = "Requeued: the job checkpointed and asked to be requeued (exit 75)";
const std::string kRequeuedAtLimit = "Requeued: time limit reached; resumes from the checkpoint it wrote";

// A job that checkpoints: SIGUSR1 60 s before its 600 s limit.
Job checkpointing_job(std::int64_t id) {
  Job j = make_test_job(id);
  j.checkpoint_signal = 10;
  j.checkpoint_seconds = 60;
  j.timeout_seconds = 600;
  return j;
}

JobExited exited(std::int64_t id, std::int64_t at, std::optional<int> code, int signal = 0,
                 std::string reason = {}, std::int64_t checkpoint_at = 0, bool node_lost = false) {
  return JobExited{id, at, code, signal, std::move(reason), checkpoint_at, node_lost};
}

class CheckpointRequeue : public ::testing::Test {
 protected:
  void SetUp() override { c.simple(); }

  // Dispatches job `id` on n1 and starts it at `started`.
  void run(std::int64_t id, std::int64_t started) {
    c.dispatch(id, "n1", {0, 1});
    c.start(id, started);
  }
  // Runs the job's next attempt, started at `started`, and ends it with `e`.
  void attempt(std::int64_t id, std::int64_t started, const JobExited& e) {
    run(id, started);
    c.ok(e);
  }
  const Job& job(std::int64_t id) { return *c.state().job(id); }
  bool queued(std::int64_t id) { return c.state().runnable("q").count(id) != 0; }
  void expect_requeued(std::int64_t id, const std::string& status_reason) {
    const Job& j = job(id);
    EXPECT_EQ(j.state, JobState::Runnable);
    EXPECT_EQ(j.id, id);
    EXPECT_TRUE(queued(id));
    EXPECT_EQ(j.status_reason, status_reason);
    ASSERT_FALSE(j.attempts.empty());
    EXPECT_EQ(j.attempts.back().status_reason, kRequeuedAttempt);
    EXPECT_EQ(j.stopped_at, 0);  // the job goes on
    EXPECT_EQ(c.state().node("n1")->pus_free(), 4);
    EXPECT_EQ(c.state().node("n1")->jobs_running, 0);
  }

  ClusterBuilder c;
};

// ---- exit 75: "I checkpointed, queue me again" -------------------------------------------

TEST_F(CheckpointRequeue, Exit75OfAJobThatCheckpointsRequeuesItWithTheSameId) {
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 3000, kRequeueExitCode));
  expect_requeued(1, kRequeuedBy75);
  const Job& j = job(1);
  ASSERT_EQ(j.attempts.size(), 1u);
  EXPECT_EQ(j.attempts[0].exit_code, 75);
  EXPECT_EQ(j.attempts[0].stopped_at, 3000);
  EXPECT_EQ(j.counted_attempts(), 0);

  // The next attempt is attempt 2 of the same job, and it may finish.
  attempt(1, 4000, exited(1, 5000, 0));
  EXPECT_EQ(j.state, JobState::Succeeded);
  EXPECT_TRUE(j.status_reason.empty());
  ASSERT_EQ(j.attempts.size(), 2u);
  EXPECT_EQ(j.attempts[0].status_reason, kRequeuedAttempt);
  EXPECT_TRUE(j.attempts[1].status_reason.empty());
  EXPECT_EQ(j.stopped_at, 5000);
}

TEST_F(CheckpointRequeue, Exit75OfAJobThatDoesNotCheckpointFailsLikeAnyOtherCode) {
  c.submit(make_test_job(1));
  ASSERT_FALSE(job(1).checkpoints());
  attempt(1, 2000, exited(1, 3000, 75));
  const Job& j = job(1);
  EXPECT_EQ(j.state, JobState::Failed);
  EXPECT_EQ(j.status_reason, "exited with code 75");
  EXPECT_EQ(j.attempts.back().status_reason, "exited with code 75");
  EXPECT_FALSE(queued(1));
  EXPECT_EQ(j.counted_attempts(), 1);
}

TEST_F(CheckpointRequeue, Exit75WithoutOptInFollowsTheRetryStrategy) {
  Job plain = make_test_job(1);
  plain.retry.attempts = 2;
  plain.requeue = 1;  // --requeue alone is about lost nodes, not exit 75
  c.submit(plain);
  attempt(1, 2000, exited(1, 3000, 75));
  EXPECT_EQ(job(1).state, JobState::Runnable);
  EXPECT_EQ(job(1).status_reason, "Retrying (attempt 2 of 2) after: exited with code 75");
  EXPECT_EQ(job(1).attempts.back().status_reason, "exited with code 75");
  attempt(1, 4000, exited(1, 5000, 75));
  EXPECT_EQ(job(1).state, JobState::Failed);
}

TEST_F(CheckpointRequeue, Exit75WithAKillReasonOrOtherCodesIsNoRequeue) {
  // Killed for its memory with code 75 by chance: the reason decides.
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 3000, 75, 0, "OutOfMemoryError: Container killed due to memory usage"));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, "OutOfMemoryError: Container killed due to memory usage");

  for (const int code : {1, 74, 76, 139}) {
    SCOPED_TRACE(code);
    const std::int64_t id = 10 + code;
    c.submit(checkpointing_job(id));
    attempt(id, 2000, exited(id, 3000, code));
    EXPECT_EQ(job(id).state, JobState::Failed);
    EXPECT_EQ(job(id).status_reason, "exited with code " + std::to_string(code));
  }
}

TEST_F(CheckpointRequeue, AJobThatCheckpointsAndExitsZeroSucceeds) {
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 3000, 0, 0, "", 2500));
  EXPECT_EQ(job(1).state, JobState::Succeeded);
}

// ---- the time limit ------------------------------------------------------------------------

TEST_F(CheckpointRequeue, TimeLimitWithoutACheckpointFails) {
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 602000, std::nullopt, 15, kTimeout, 0));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, kTimeout);
  EXPECT_EQ(job(1).attempts.back().status_reason, kTimeout);
  EXPECT_FALSE(queued(1));
}

TEST_F(CheckpointRequeue, TimeLimitWithOnlyACheckpointOlderThanTheAttemptFails) {
  // A checkpoint an earlier attempt wrote is no progress of this one: requeueing
  // would loop forever.
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 602000, std::nullopt, 15, kTimeout, 1999));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, kTimeout);
}

TEST_F(CheckpointRequeue, TimeLimitAfterACheckpointOfThisAttemptRequeuesWithTheSameId) {
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 602000, std::nullopt, 15, kTimeout, 542000));
  expect_requeued(1, kRequeuedAtLimit);
  EXPECT_EQ(job(1).attempts.back().reason, kTimeout);  // what happened is kept
  EXPECT_EQ(job(1).attempts.back().signal, 15);
  EXPECT_EQ(job(1).counted_attempts(), 0);

  // A checkpoint written in the very millisecond the attempt started counts.
  c.submit(checkpointing_job(2));
  attempt(2, 7000, exited(2, 607000, std::nullopt, 9, kTimeout + " (600 s)", 7000));
  expect_requeued(2, kRequeuedAtLimit);
}

TEST_F(CheckpointRequeue, TheSecondAttemptNeedsItsOwnCheckpoint) {
  c.submit(checkpointing_job(1));
  attempt(1, 2000, exited(1, 602000, std::nullopt, 15, kTimeout, 542000));
  expect_requeued(1, kRequeuedAtLimit);
  // Attempt 2 starts after that checkpoint and writes none: it fails.
  attempt(1, 700000, exited(1, 1300000, std::nullopt, 15, kTimeout, 542000));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, kTimeout);
  ASSERT_EQ(job(1).attempts.size(), 2u);
  EXPECT_EQ(job(1).attempts[0].status_reason, kRequeuedAttempt);
  EXPECT_EQ(job(1).attempts[1].status_reason, kTimeout);
}

TEST_F(CheckpointRequeue, TimeLimitOfAJobThatDoesNotCheckpointFailsWhateverTheDirectoryHolds) {
  c.submit(make_test_job(1));
  attempt(1, 2000, exited(1, 602000, std::nullopt, 15, kTimeout, 542000));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, kTimeout);
}

// ---- lost nodes ----------------------------------------------------------------------------

TEST_F(CheckpointRequeue, ALostNodeRequeuesAJobThatCheckpoints) {
  c.submit(checkpointing_job(1));
  ASSERT_EQ(job(1).requeue, -1);  // neither --requeue nor --no-requeue
  attempt(1, 2000, exited(1, 3000, std::nullopt, 0, kLost, 0, true));
  expect_requeued(1, "Requeued: " + kLost);
  EXPECT_EQ(job(1).attempts.back().reason, kLost);
}

TEST_F(CheckpointRequeue, ALostNodeRequeuesAJobThatAskedForIt) {
  Job j = make_test_job(1);
  j.requeue = 1;  // --requeue, without checkpointing
  c.submit(j);
  attempt(1, 2000, exited(1, 3000, std::nullopt, 0, kLost, 0, true));
  expect_requeued(1, "Requeued: " + kLost);
  EXPECT_EQ(job(1).counted_attempts(), 0);
}

TEST_F(CheckpointRequeue, ALostNodeWithNoRequeueFollowsTheRetryStrategy) {
  Job once = checkpointing_job(1);
  once.requeue = 0;  // --no-requeue wins over checkpointing
  c.submit(once);
  attempt(1, 2000, exited(1, 3000, std::nullopt, 0, kLost, 0, true));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, kLost);
  EXPECT_EQ(job(1).attempts.back().status_reason, kLost);

  Job twice = checkpointing_job(2);
  twice.requeue = 0;
  twice.retry.attempts = 2;
  c.submit(twice);
  attempt(2, 2000, exited(2, 3000, std::nullopt, 0, kLost, 0, true));
  EXPECT_EQ(job(2).state, JobState::Runnable);
  EXPECT_EQ(job(2).status_reason, "Retrying (attempt 2 of 2) after: " + kLost);
  EXPECT_EQ(job(2).attempts.back().status_reason, kLost);
  EXPECT_EQ(job(2).counted_attempts(), 1);
}

TEST_F(CheckpointRequeue, ALostNodeWithoutOptInFollowsTheRetryStrategy) {
  c.submit(make_test_job(1));
  attempt(1, 2000, exited(1, 3000, std::nullopt, 0, kLost, 0, true));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, kLost);

  Job twice = make_test_job(2);
  twice.retry.attempts = 2;
  c.submit(twice);
  attempt(2, 2000, exited(2, 3000, std::nullopt, 0, kLost, 0, true));
  EXPECT_EQ(job(2).state, JobState::Runnable);
  EXPECT_EQ(job(2).status_reason, "Retrying (attempt 2 of 2) after: " + kLost);
}

TEST_F(CheckpointRequeue, TheSameReasonWithoutALostNodeIsNoRequeue) {
  Job j = make_test_job(1);
  j.requeue = 1;
  c.submit(j);
  attempt(1, 2000, exited(1, 3000, std::nullopt, 0, kLost, 0, false));
  EXPECT_EQ(job(1).state, JobState::Failed);
}

TEST_F(CheckpointRequeue, ALostPartWhoseMainProcessExitedByItselfIsRequeuedToo) {
  // A multi-node job whose other node lost its part: mpirun may end by itself
  // (no kill reason) before the head's kill arrives. The attempt was still
  // interrupted by a lost node.
  Job j = make_test_job(1);
  j.requeue = 1;
  c.submit(j);
  attempt(1, 2000, exited(1, 3000, 1, 0, "", 0, true));
  EXPECT_EQ(job(1).state, JobState::Runnable);
  EXPECT_EQ(job(1).attempts.back().status_reason, kRequeuedAttempt);
  EXPECT_EQ(job(1).status_reason.rfind("Requeued: ", 0), 0u) << job(1).status_reason;
  EXPECT_GT(job(1).status_reason.size(), std::string("Requeued: ").size()) << "says why";
}

TEST_F(CheckpointRequeue, ALostNodeAfterTheJobSucceededIsASuccess) {
  Job j = make_test_job(1);
  j.requeue = 1;
  c.submit(j);
  attempt(1, 2000, exited(1, 3000, 0, 0, "", 0, true));
  EXPECT_EQ(job(1).state, JobState::Succeeded);
}

// ---- retries and requeues ------------------------------------------------------------------

TEST_F(CheckpointRequeue, RequeuedAttemptsDoNotUseUpRetryAttempts) {
  Job j = checkpointing_job(1);
  j.retry.attempts = 2;
  c.submit(j);
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    attempt(1, 10000 * (i + 1), exited(1, 10000 * (i + 1) + 500, kRequeueExitCode));
    expect_requeued(1, kRequeuedBy75);
  }
  EXPECT_EQ(job(1).counted_attempts(), 0);

  attempt(1, 70000, exited(1, 70500, 3));
  EXPECT_EQ(job(1).state, JobState::Runnable);
  EXPECT_EQ(job(1).status_reason, "Retrying (attempt 2 of 2) after: exited with code 3");
  EXPECT_EQ(job(1).counted_attempts(), 1);

  // Requeues between failures still do not count.
  attempt(1, 80000, exited(1, 80500, std::nullopt, 0, kLost, 0, true));
  expect_requeued(1, "Requeued: " + kLost);
  EXPECT_EQ(job(1).counted_attempts(), 1);

  attempt(1, 90000, exited(1, 90500, 4));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, "exited with code 4");
  EXPECT_EQ(job(1).attempts.size(), 8u);
  EXPECT_EQ(job(1).counted_attempts(), 2);
}

TEST(CheckpointShouldRetry, IgnoresRequeuedAttempts) {
  Job job = make_test_job(1);
  job.retry.attempts = 2;
  Attempt requeued;
  requeued.exit_code = 75;
  requeued.status_reason = kRequeuedAttempt;
  Attempt failed;
  failed.exit_code = 1;
  failed.status_reason = "exited with code 1";
  job.attempts = {requeued, requeued, requeued, failed};
  EXPECT_EQ(job.counted_attempts(), 1);
  EXPECT_TRUE(should_retry(job, failed));
  job.attempts.push_back(failed);
  EXPECT_EQ(job.counted_attempts(), 2);
  EXPECT_FALSE(should_retry(job, failed));
}

// ---- requeue asked for (drover requeue, preemption, drover checkpoint --requeue) -----------

TEST_F(CheckpointRequeue, ARequeueRequestedJobThatIsStoppedIsRequeuedAndNotCounted) {
  Job j = make_test_job(1);
  j.retry.attempts = 1;
  c.submit(j);
  run(1, 2000);
  c.ok(JobRequeueRequested{1, "Preempted by job 9"});
  c.ok(exited(1, 3000, std::nullopt, 15, ""));
  expect_requeued(1, "Requeued: Preempted by job 9");  // why it was stopped
  EXPECT_FALSE(job(1).requeue_requested);
  EXPECT_TRUE(job(1).terminate_reason.empty());  // not carried into the next attempt
  EXPECT_EQ(job(1).counted_attempts(), 0);

  // Without a reason of its own, the agent's, else "by request".
  run(1, 4000);
  c.ok(JobRequeueRequested{1, ""});
  c.ok(exited(1, 5000, std::nullopt, 9, "Node n1 set DOWN by root"));
  expect_requeued(1, "Requeued: Node n1 set DOWN by root");
  run(1, 6000);
  c.ok(JobRequeueRequested{1, ""});
  c.ok(exited(1, 7000, std::nullopt, 15, ""));
  expect_requeued(1, "Requeued: by request");

  // With one attempt in its retry strategy it may still fail once for good.
  attempt(1, 8000, exited(1, 9000, 2));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, "exited with code 2");
  EXPECT_EQ(job(1).attempts.size(), 4u);
  EXPECT_EQ(job(1).counted_attempts(), 1);
}

TEST_F(CheckpointRequeue, ARequeueRequestedJobThatFinishesByItselfSucceeds) {
  c.submit(checkpointing_job(1));
  run(1, 2000);
  c.ok(JobRequeueRequested{1, "Preempted by job 9"});
  c.ok(exited(1, 3000, 0));
  EXPECT_EQ(job(1).state, JobState::Succeeded);
  EXPECT_FALSE(job(1).requeue_requested);
  EXPECT_TRUE(job(1).attempts.back().status_reason.empty());
  EXPECT_FALSE(queued(1));
}

TEST_F(CheckpointRequeue, ACheckpointingJobThatExits75AfterARequeueRequestIsRequeuedOnce) {
  c.submit(checkpointing_job(1));
  run(1, 2000);
  c.ok(JobRequeueRequested{1, "Preempted by job 9"});
  c.ok(exited(1, 3000, kRequeueExitCode));
  EXPECT_EQ(job(1).state, JobState::Runnable);
  EXPECT_FALSE(job(1).requeue_requested);
  EXPECT_EQ(job(1).attempts.size(), 1u);
  EXPECT_EQ(job(1).attempts[0].status_reason, kRequeuedAttempt);
  EXPECT_EQ(job(1).status_reason.rfind("Requeued: ", 0), 0u);
}

TEST_F(CheckpointRequeue, TerminationWinsOverEveryRequeueRule) {
  c.submit(checkpointing_job(1));
  run(1, 2000);
  c.ok(JobTerminationRequested{1, 2500, "Cancelled by alice", {}});
  c.ok(exited(1, 3000, kRequeueExitCode));
  EXPECT_EQ(job(1).state, JobState::Failed);
  EXPECT_EQ(job(1).status_reason, "Cancelled by alice");

  c.submit(checkpointing_job(2));
  run(2, 2000);
  c.ok(JobTerminationRequested{2, 2500, "Cancelled by alice", {}});
  c.ok(exited(2, 3000, std::nullopt, 0, kLost, 0, true));
  EXPECT_EQ(job(2).state, JobState::Failed);
  EXPECT_EQ(job(2).status_reason, "Cancelled by alice");
}

// ---- the Job's own answers -----------------------------------------------------------------

TEST(CheckpointJob, CheckpointsAndRequeuesWhenInterrupted) {
  struct Case {
    int signal;
    int requeue;
    bool checkpoints;
    bool requeues;
  };
  for (const Case& k : {Case{0, -1, false, false}, Case{0, 1, false, true}, Case{0, 0, false, false},
                        Case{10, -1, true, true}, Case{10, 1, true, true}, Case{12, 0, true, false}}) {
    Job j = make_test_job(1);
    j.checkpoint_signal = static_cast<std::uint8_t>(k.signal);
    j.requeue = static_cast<std::int8_t>(k.requeue);
    EXPECT_EQ(j.checkpoints(), k.checkpoints) << k.signal << " " << k.requeue;
    EXPECT_EQ(j.requeues_when_interrupted(), k.requeues) << k.signal << " " << k.requeue;
  }
  EXPECT_EQ(kRequeueExitCode, 75);
  EXPECT_STREQ(kRequeuedAttempt, "requeued");
}

// ---- make_job ------------------------------------------------------------------------------

class CheckpointMakeJob : public ::testing::Test {
 protected:
  void SetUp() override { c.simple(); }
  static JobRequest base() {
    JobRequest r;
    r.name = "sim";
    r.queue = "q";
    r.command = {"./sim"};
    r.working_dir = "/home/alice";
    return r;
  }
  Result<NewJob> make(const JobRequest& r) { return make_job(r, {1000, 100, "alice"}, c.state(), "", 42, 1); }
  ClusterBuilder c;
};

TEST_F(CheckpointMakeJob, CarriesTheCheckpointFields) {
  JobRequest r = base();
  r.checkpoint_signal = 12;
  r.checkpoint_seconds = 90;
  r.checkpoint_batch_only = true;
  r.checkpoint_dir = "/scratch/%u/%j";
  r.requeue = false;
  auto made = make(r);
  ASSERT_TRUE(made) << made.message();
  EXPECT_EQ(made->job.checkpoint_signal, 12);
  EXPECT_EQ(made->job.checkpoint_seconds, 90);
  EXPECT_TRUE(made->job.checkpoint_signal_batch_only);
  EXPECT_EQ(made->job.requeue, 0);
  EXPECT_EQ(made->payload.checkpoint_dir, "/scratch/%u/%j");

  r.requeue = true;
  made = make(r);
  ASSERT_TRUE(made) << made.message();
  EXPECT_EQ(made->job.requeue, 1);
}

TEST_F(CheckpointMakeJob, WithoutASignalTheJobDoesNotCheckpoint) {
  JobRequest r = base();
  r.checkpoint_seconds = 90;
  r.checkpoint_batch_only = true;
  r.checkpoint_dir = "ck";
  auto made = make(r);
  ASSERT_TRUE(made) << made.message();
  EXPECT_FALSE(made->job.checkpoints());
  EXPECT_EQ(made->job.checkpoint_seconds, 0);
  EXPECT_FALSE(made->job.checkpoint_signal_batch_only);
  EXPECT_EQ(made->job.requeue, -1);
  EXPECT_EQ(made->payload.checkpoint_dir, "ck");  // DROVER_CHECKPOINT_DIR still names it
}

TEST_F(CheckpointMakeJob, RefusesSignalsAndGracePeriodsOutOfRange) {
  JobRequest r = base();
  r.checkpoint_signal = 65;
  EXPECT_EQ(make(r).message(), "checkpoint.signal: 65 is not a signal number (1 to 64)");
  r.checkpoint_signal = -1;
  EXPECT_EQ(make(r).message(), "checkpoint.signal: -1 is not a signal number (1 to 64)");
  r.checkpoint_signal = 64;
  r.checkpoint_seconds = 65536;
  EXPECT_EQ(make(r).message(), "checkpoint.secondsBefore: 65536 is out of range; give 0 to 65535");
  r.checkpoint_seconds = -1;
  EXPECT_EQ(make(r).message(), "checkpoint.secondsBefore: -1 is out of range; give 0 to 65535");
  for (const int ok : {0, 65535}) {
    r.checkpoint_seconds = ok;
    auto made = make(r);
    ASSERT_TRUE(made) << made.message();
    EXPECT_EQ(made->job.checkpoint_seconds, ok);
  }
}

// ---- the job's environment -----------------------------------------------------------------

std::string get(const KeyValues& env, const std::string& key) {
  const std::string* v = find_value(env, key);
  return v ? *v : "<unset>";
}

class CheckpointEnvironment : public ::testing::Test {
 protected:
  void SetUp() override {
    job = checkpointing_job(77);
    job.name = "heat";
    job.working_dir = "/home/alice/run";
    Attempt a;
    a.node = "node07";
    a.cpus = {0, 1};
    job.attempts.push_back(a);
    ctx.node = "node07";
  }
  KeyValues env() const { return job_environment(job, payload, ctx); }
  Job job;
  JobPayload payload;
  LaunchContext ctx;
};

TEST_F(CheckpointEnvironment, DefaultDirectoryUnderTheWorkingDirectory) {
  EXPECT_EQ(checkpoint_directory(job, payload), "/home/alice/run/drover-checkpoints/77");
  const KeyValues e = env();
  EXPECT_EQ(get(e, "DROVER_CHECKPOINT_DIR"), "/home/alice/run/drover-checkpoints/77");
  EXPECT_EQ(get(e, "DROVER_CHECKPOINT_SIGNAL"), "10");
  EXPECT_EQ(get(e, "DROVER_ATTEMPT"), "1");
  EXPECT_EQ(get(e, "DROVER_RESTART"), "0");
  EXPECT_EQ(get(e, "SLURM_RESTART_COUNT"), "0");
}

TEST_F(CheckpointEnvironment, RelativeAndAbsolutePatterns) {
  payload.checkpoint_dir = "ckpt/%x-%j/";
  EXPECT_EQ(get(env(), "DROVER_CHECKPOINT_DIR"), "/home/alice/run/ckpt/heat-77");
  payload.checkpoint_dir = "/scratch/%u/%j";
  EXPECT_EQ(get(env(), "DROVER_CHECKPOINT_DIR"), "/scratch/alice/77");
  payload.checkpoint_dir = "/scratch/ck//";
  EXPECT_EQ(get(env(), "DROVER_CHECKPOINT_DIR"), "/scratch/ck");
}

TEST_F(CheckpointEnvironment, TheSameDirectoryOnEveryAttemptAndEveryNode) {
  const std::string first = checkpoint_directory(job, payload);
  job.attempts.back().status_reason = kRequeuedAttempt;
  Attempt again;
  again.node = "node12";
  job.attempts.push_back(again);
  EXPECT_EQ(checkpoint_directory(job, payload), first);
  ctx.node = "node13";
  ctx.node_index = 1;
  EXPECT_EQ(get(env(), "DROVER_CHECKPOINT_DIR"), first);
}

TEST_F(CheckpointEnvironment, ArrayTasksGetTheirOwnDirectory) {
  job.id = 1005;
  job.array_parent = 1000;
  job.array_index = 5;
  EXPECT_EQ(checkpoint_directory(job, payload), "/home/alice/run/drover-checkpoints/1005");
  payload.checkpoint_dir = "ck/%A_%a";
  EXPECT_EQ(checkpoint_directory(job, payload), "/home/alice/run/ck/1000_5");
}

TEST_F(CheckpointEnvironment, RestartIsOneFromTheSecondAttempt) {
  EXPECT_EQ(get(env(), "DROVER_RESTART"), "0");
  job.attempts.back().status_reason = kRequeuedAttempt;
  job.attempts.push_back(job.attempts.back());
  const KeyValues e = env();
  EXPECT_EQ(get(e, "DROVER_RESTART"), "1");
  EXPECT_EQ(get(e, "DROVER_ATTEMPT"), "2");
  EXPECT_EQ(get(e, "DROVER_JOB_ATTEMPT"), "2");
  EXPECT_EQ(get(e, "SLURM_RESTART_COUNT"), "1");
  job.attempts.push_back(job.attempts.back());
  EXPECT_EQ(get(env(), "DROVER_RESTART"), "1");
  EXPECT_EQ(get(env(), "DROVER_ATTEMPT"), "3");
}

TEST_F(CheckpointEnvironment, AJobThatDoesNotCheckpointHasADirectoryButNoSignal) {
  job.checkpoint_signal = 0;
  const KeyValues e = env();
  EXPECT_EQ(get(e, "DROVER_CHECKPOINT_DIR"), "/home/alice/run/drover-checkpoints/77");
  EXPECT_EQ(find_value(e, "DROVER_CHECKPOINT_SIGNAL"), nullptr);
}

TEST_F(CheckpointEnvironment, TheJobCannotSpoofTheContract) {
  payload.environment = {{"DROVER_CHECKPOINT_DIR", "/tmp/elsewhere"}, {"DROVER_RESTART", "1"},
                         {"DROVER_ATTEMPT", "9"}};
  const KeyValues e = env();
  EXPECT_EQ(get(e, "DROVER_CHECKPOINT_DIR"), "/home/alice/run/drover-checkpoints/77");
  EXPECT_EQ(get(e, "DROVER_RESTART"), "0");
  EXPECT_EQ(get(e, "DROVER_ATTEMPT"), "1");
  for (std::size_t i = 0; i < e.size(); ++i)
    for (std::size_t k = i + 1; k < e.size(); ++k) EXPECT_NE(e[i].first, e[k].first);
}

}  // namespace
}  // namespace drover
