// Finished jobs leave the head's memory after a while; nothing else changes.
#include "test_cluster.hpp"

namespace drover::testing {
namespace {

TEST(ClusterStateEviction, DropsOnlyFinishedJobsOlderThanTheCutoff) {
  ClusterBuilder b;
  b.simple(4);
  b.submit(1);
  b.submit(2);
  b.submit(3);
  b.run(1, 0);          // SUCCEEDED, stopped at 3000
  b.dispatch(2, "n1", {1});
  b.start(2);
  b.exit(2, 1, 5000);   // FAILED, stopped at 5000
  (void)b.state().take_dirty();  // as if the server saved them
  EXPECT_EQ(b.state().evict_finished(4000), 1u);
  EXPECT_EQ(b.state().job(1), nullptr);
  ASSERT_NE(b.state().job(2), nullptr);
  ASSERT_NE(b.state().job(3), nullptr);  // still RUNNABLE
  EXPECT_EQ(b.state().job(3)->state, JobState::Runnable);
  EXPECT_EQ(b.state().evict_finished(10000), 1u);
  EXPECT_EQ(b.state().job(2), nullptr);
  EXPECT_EQ(b.state().jobs().size(), 1u);
  EXPECT_EQ(b.state().runnable("q").size(), 1u);
}

TEST(ClusterStateEviction, KeepsJobsWithUnsavedChanges) {
  ClusterBuilder b;
  b.simple(2);
  b.submit(1);
  b.run(1, 0);
  // Not yet saved: evicting now would lose the final state.
  EXPECT_EQ(b.state().evict_finished(1'000'000), 0u);
  EXPECT_NE(b.state().job(1), nullptr);
  (void)b.state().take_dirty();
  EXPECT_EQ(b.state().evict_finished(1'000'000), 1u);
}

TEST(ClusterStateEviction, NodeAccountingUnaffected) {
  ClusterBuilder b;
  b.simple(2);
  b.submit(1);
  b.submit(2);
  b.run(1, 0);
  b.dispatch(2, "n1", {1});
  (void)b.state().take_dirty();
  EXPECT_EQ(b.state().evict_finished(1'000'000), 1u);
  const Node* n = b.state().node("n1");
  EXPECT_EQ(n->pus_free(), 1);
  EXPECT_EQ(n->jobs_running, 1);
}

}  // namespace
}  // namespace drover::testing

namespace drover::testing {
namespace {

TEST(ClusterStateActiveJobs, FollowsDispatchStartExitAndRestore) {
  ClusterBuilder b;
  b.simple(4);
  b.submit(1);
  b.submit(2);
  b.submit(3);
  EXPECT_TRUE(b.state().active_jobs().empty());
  b.dispatch(1, "n1", {0});
  b.dispatch(2, "n1", {1});
  b.start(2);
  EXPECT_EQ(b.state().active_jobs(), (std::set<std::int64_t>{1, 2}));
  b.exit(2, 0);
  EXPECT_EQ(b.state().active_jobs(), (std::set<std::int64_t>{1}));
  ClusterState restored;
  for (const auto& [name, n] : b.state().nodes()) restored.restore(n);
  for (const auto& [id, j] : b.state().jobs()) restored.restore(j);
  restored.finish_restore();
  EXPECT_EQ(restored.active_jobs(), (std::set<std::int64_t>{1}));
}

}  // namespace
}  // namespace drover::testing
