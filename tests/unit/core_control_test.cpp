// hold, release, update and requeue through events.
#include "test_cluster.hpp"

namespace drover::testing {
namespace {

TEST(ClusterStateControl, HoldAndReleaseOnlyWaitingJobs) {
  ClusterBuilder b;
  b.simple(2);
  b.submit(1);
  b.ok(JobHoldSet{1, true});
  EXPECT_TRUE(b.state().job(1)->held);
  EXPECT_EQ(b.state().runnable("q").count(1), 1u);  // still queued, the scheduler skips it
  b.ok(JobHoldSet{1, false});
  EXPECT_FALSE(b.state().job(1)->held);
  b.run(1, 0);
  EXPECT_FALSE(b.state().apply(JobHoldSet{1, true}));
  EXPECT_FALSE(b.state().apply(JobHoldSet{99, true}));
}

TEST(ClusterStateControl, UpdateMovesARunnableJobBetweenQueues) {
  ClusterBuilder b;
  b.simple(2);
  b.queue("other", {"ce"});
  b.submit(1);
  JobUpdated u;
  u.id = 1;
  u.queue = "other";
  u.timeout_seconds = 120;
  Resources r;
  r.vcpus = 2;
  u.request = r;
  b.ok(u);
  EXPECT_EQ(b.state().runnable("q").size(), 0u);
  EXPECT_EQ(b.state().runnable("other").count(1), 1u);
  EXPECT_EQ(b.state().job(1)->timeout_seconds, 120);
  EXPECT_EQ(b.state().job(1)->request.vcpus, 2);
  b.dispatch(1, "n1", {0, 1});
  EXPECT_FALSE(b.state().apply(u));  // started: no more changes
}

TEST(ClusterStateControl, RequeueQueuesTheJobAgainKeepingTheAttempt) {
  ClusterBuilder b;
  b.simple(2);
  b.submit(1);
  EXPECT_FALSE(b.state().apply(JobRequeueRequested{1, "x"}));  // not running yet
  b.dispatch(1, "n1", {0});
  b.start(1);
  b.ok(JobRequeueRequested{1, "requeued by alice"});
  b.exit(1, 0, 3000, "requeued by alice", 15);
  const Job* j = b.state().job(1);
  EXPECT_EQ(j->state, JobState::Runnable);
  EXPECT_FALSE(j->requeue_requested);
  ASSERT_EQ(j->attempts.size(), 1u);
  EXPECT_EQ(j->attempts[0].status_reason, "requeued");
  EXPECT_EQ(b.state().node("n1")->pus_free(), 2);
  b.dispatch(1, "n1", {1});
  b.start(1);
  b.exit(1, 0);
  EXPECT_EQ(b.state().job(1)->state, JobState::Succeeded);
  EXPECT_EQ(b.state().job(1)->attempts.size(), 2u);
}

}  // namespace
}  // namespace drover::testing
