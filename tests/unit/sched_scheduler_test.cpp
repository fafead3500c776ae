// One scheduling pass over small clusters built through events: order (FIFO by
// id, queue priority), greedy fitting, why jobs wait, environment caps, and a
// randomized check that no PU or GPU is ever handed out twice.
#include "sched/scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_cluster.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_job;
using drover::testing::make_topology;

std::vector<std::int64_t> started(const PassResult& r) {
  std::vector<std::int64_t> ids;
  for (const auto& d : r.starts) ids.push_back(d.job_id);
  return ids;
}

std::map<std::int64_t, std::string> reasons(const PassResult& r) {
  std::map<std::int64_t, std::string> out;
  for (const auto& w : r.reasons) out[w.job_id] = w.reason;
  return out;
}

const Decision* decision(const PassResult& r, std::int64_t id) {
  for (const auto& d : r.starts)
    if (d.job_id == id) return &d;
  return nullptr;
}

// Applies a pass as the server does: dispatch every start, record every reason.
void apply(ClusterBuilder& c, const PassResult& r, std::int64_t at = 0) {
  for (const auto& d : r.starts) c.dispatch(d.job_id, d.node, d.cpus, d.gpus, at);
  for (const auto& w : r.reasons) c.ok(JobPendingReasonSet{w.job_id, w.reason});
}

using Ids = std::vector<std::int64_t>;
using Reasons = std::map<std::int64_t, std::string>;

TEST(Schedule, EmptyClusterDoesNothing) {
  ClusterState s;
  const PassResult r = schedule(s, 0);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_TRUE(r.reasons.empty());
}

TEST(Schedule, FifoByIdWithinAQueue) {
  ClusterBuilder c;
  c.simple(4);
  for (std::int64_t id : {3, 1, 2}) c.submit(id, "q", 2);  // submitted out of order
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1, 2}));
  EXPECT_EQ(reasons(r), (Reasons{{3, "Resources"}}));
  EXPECT_EQ(decision(r, 1)->node, "n1");
  EXPECT_EQ(decision(r, 1)->cpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(decision(r, 2)->cpus, (std::vector<int>{2, 3}));
  EXPECT_TRUE(decision(r, 1)->gpus.empty());
}

// NUMA 0 (PUs 0-1) and NUMA 1 (PUs 2-3), 4 GiB each: a job's memory counts in its
// PUs' domain, within one pass and across passes, so that the next job whose
// memory would not fit there goes to the other domain rather than the best fit by PUs.
TEST(Schedule, MemoryInUsePerNumaDomainSteersTheNextJob) {
  ClusterBuilder c;
  c.node("n1", make_topology(4, 1, 8192, 0, 2));
  c.env("ce", {"n1"});
  c.queue("q", {"ce"});
  c.submit(1, "q", 1, 3000);
  c.submit(2, "q", 1, 3000);  // NUMA 0 has 1,096 MiB left: NUMA 1
  c.submit(3, "q", 1, 500);   // fits NUMA 0's rest: best fit by PUs again
  PassResult r = schedule(c.state(), 0);
  ASSERT_EQ(started(r), (Ids{1, 2, 3}));
  EXPECT_EQ(decision(r, 1)->cpus, (std::vector<int>{0}));
  EXPECT_EQ(decision(r, 2)->cpus, (std::vector<int>{2}));
  EXPECT_EQ(decision(r, 3)->cpus, (std::vector<int>{1}));
  apply(c, r);
  EXPECT_EQ(c.state().node("n1")->numa_memory_used_mib, (std::vector<std::int64_t>{3500, 3000}));
}

TEST(Schedule, MemoryInUsePerNumaDomainCountsFromEarlierPasses) {
  ClusterBuilder c;
  c.node("n1", make_topology(4, 1, 8192, 0, 2));  // NUMA 0: PUs 0-1, NUMA 1: PUs 2-3, 4 GiB each
  c.env("ce", {"n1"});
  c.queue("q", {"ce"});
  c.submit(1, "q", 1, 3000);
  c.dispatch(1, "n1", {0});
  c.submit(2, "q", 1, 3000);
  c.submit(3, "q", 1, 1000);
  const PassResult r = schedule(c.state(), 0);
  ASSERT_EQ(started(r), (Ids{2, 3}));
  // By PUs alone NUMA 0 (one free) fits best; its 1,096 MiB left do not hold 3,000.
  EXPECT_EQ(decision(r, 2)->cpus, (std::vector<int>{2}));
  EXPECT_EQ(decision(r, 3)->cpus, (std::vector<int>{1}));  // 1,000 MiB do
}

TEST(Schedule, HigherPriorityQueueFirst) {
  ClusterBuilder c;
  c.node("n1", make_topology(2));
  c.env("ce", {"n1"});
  c.queue("low", {"ce"}, 1);
  c.queue("high", {"ce"}, 100);
  c.submit(1, "low", 2);
  c.submit(2, "high", 2);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{2}));
  EXPECT_EQ(reasons(r), (Reasons{{1, "Resources"}}));
}

TEST(Schedule, EqualPrioritiesGoByQueueName) {
  ClusterBuilder c;
  c.node("n1", make_topology(1));
  c.env("ce", {"n1"});
  c.queue("b", {"ce"}, 5);
  c.queue("a", {"ce"}, 5);
  c.submit(1, "b");
  c.submit(2, "a");
  EXPECT_EQ(started(schedule(c.state(), 0)), (Ids{2}));
}

TEST(Schedule, GreedyASmallerLaterJobStillStarts) {
  ClusterBuilder c;
  c.simple(4, 8192);
  c.submit(1, "q", 2);
  c.dispatch(1, "n1", {0, 1});  // 2 PUs left
  c.submit(2, "q", 3);          // does not fit now
  c.submit(3, "q", 1, 9000);    // more memory than the node has
  c.submit(4, "q", 2);          // fits
  c.submit(5, "q", 1);          // nothing left for it
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{4}));
  EXPECT_EQ(decision(r, 4)->cpus, (std::vector<int>{2, 3}));
  EXPECT_EQ(reasons(r), (Reasons{{2, "Resources"}, {3, "Resources"}, {5, "Resources"}}));
}

TEST(Schedule, MemoryIsAccountedWithinAPass) {
  ClusterBuilder c;
  c.simple(8, 4096);
  c.submit(1, "q", 1, 3000);
  c.submit(2, "q", 1, 2000);  // 1096 MiB left after job 1
  c.submit(3, "q", 1, 1000);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1, 3}));
  EXPECT_EQ(reasons(r), (Reasons{{2, "Resources"}}));
}

TEST(Schedule, GpusAreHandedOutOnce) {
  ClusterBuilder c;
  c.simple(8, 16384, 2);
  c.submit(1, "q", 1, 0, 1);
  c.submit(2, "q", 1, 0, 1);
  c.submit(3, "q", 1, 0, 1);
  c.submit(4, "q", 1);  // no GPU needed: still starts
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1, 2, 4}));
  EXPECT_EQ(reasons(r), (Reasons{{3, "Resources"}}));
  ASSERT_EQ(decision(r, 1)->gpus.size(), 1u);
  ASSERT_EQ(decision(r, 2)->gpus.size(), 1u);
  EXPECT_NE(decision(r, 1)->gpus[0], decision(r, 2)->gpus[0]);
  EXPECT_TRUE(decision(r, 4)->gpus.empty());
}

TEST(Schedule, DisabledEnvironment) {
  ClusterBuilder c;
  c.node("n1", make_topology(4));
  c.env("ce", {"n1"}, 0, false);
  c.queue("q", {"ce"});
  c.submit(1);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r), (Reasons{{1, "ComputeEnvironmentDisabled"}}));
}

TEST(Schedule, QueueWithoutAnyKnownEnvironment) {
  ClusterBuilder c;
  c.node("n1", make_topology(4));
  c.queue("q", {"deleted"});
  c.submit(1);
  EXPECT_EQ(reasons(schedule(c.state(), 0)), (Reasons{{1, "ComputeEnvironmentDisabled"}}));
}

TEST(Schedule, FallsBackToTheNextEnvironmentInOrder) {
  ClusterBuilder c;
  c.node("n1", make_topology(2));
  c.node("n2", make_topology(2));
  c.env("first", {"n1"});
  c.env("off", {"n2"}, 0, false);
  c.env("second", {"n2"});
  c.queue("q", {"first", "off", "second"});
  for (std::int64_t id = 1; id <= 3; ++id) c.submit(id, "q", 2);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1, 2}));
  EXPECT_EQ(decision(r, 1)->node, "n1");  // the preferred environment first
  EXPECT_EQ(decision(r, 2)->node, "n2");
  EXPECT_EQ(reasons(r), (Reasons{{3, "Resources"}}));
}

struct UnavailableCase {
  const char* name;
  bool disconnect;
  NodeState state;
};

class ScheduleUnavailable : public ::testing::TestWithParam<UnavailableCase> {};

TEST_P(ScheduleUnavailable, NodesUnavailable) {
  ClusterBuilder c;
  c.simple(4);
  if (GetParam().disconnect) c.ok(NodeDisconnected{"n1", 5});
  if (GetParam().state != NodeState::Up) c.ok(NodeStateSet{"n1", GetParam().state, "admin"});
  c.submit(1);
  c.submit(2, "q", 64);  // could never fit anyway: the node's absence is the news
  const PassResult r = schedule(c.state(), 0);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r), (Reasons{{1, "NodesUnavailable"}, {2, "NodesUnavailable"}}));
}

INSTANTIATE_TEST_SUITE_P(
    Nodes, ScheduleUnavailable,
    ::testing::Values(UnavailableCase{"Disconnected", true, NodeState::Up},
                      UnavailableCase{"Drained", false, NodeState::Drain},
                      UnavailableCase{"DrainedAndDisconnected", true, NodeState::Drain},
                      UnavailableCase{"Down", false, NodeState::Down}),
    [](const auto& info) { return info.param.name; });

TEST(Schedule, NodeInAnEnvironmentThatNeverConnectedIsUnavailable) {
  ClusterBuilder c;
  c.env("ce", {"ghost"});
  c.queue("q", {"ce"});
  c.submit(1);
  EXPECT_EQ(reasons(schedule(c.state(), 0)), (Reasons{{1, "NodesUnavailable"}}));
}

TEST(Schedule, OtherNodesStillServeWhenOneIsDrained) {
  ClusterBuilder c;
  c.node("n1", make_topology(4));
  c.node("n2", make_topology(4));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  c.ok(NodeStateSet{"n1", NodeState::Drain, "maintenance"});
  c.submit(1, "q", 4);
  c.submit(2, "q", 1);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1}));
  EXPECT_EQ(decision(r, 1)->node, "n2");
  EXPECT_EQ(reasons(r), (Reasons{{2, "Resources"}}));
}

TEST(Schedule, MaxVcpusCapsAnEnvironment) {
  ClusterBuilder c;
  c.node("n1", make_topology(16));
  c.env("ce", {"n1"}, 5);
  c.queue("q", {"ce"});
  for (std::int64_t id = 1; id <= 4; ++id) c.submit(id, "q", 2);
  c.submit(5, "q", 1);
  PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1, 2, 5}));  // 2 + 2 + 1 = 5
  EXPECT_EQ(reasons(r), (Reasons{{3, "Resources"}, {4, "Resources"}}));

  apply(c, r);
  r = schedule(c.state(), 0);
  EXPECT_TRUE(r.starts.empty());  // running jobs count against the cap
  c.start(1);
  c.exit(1, 0);
  r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{3}));
}

TEST(Schedule, MaxVcpusCountsJobsOnDisconnectedNodes) {
  // Jobs keep running on a node whose agent lost its connection: their vCPUs
  // still count against the environment's cap.
  ClusterBuilder c;
  c.node("n1", make_topology(4));
  c.node("n2", make_topology(4));
  c.env("ce", {"n1", "n2"}, 4);
  c.queue("q", {"ce"});
  c.submit(1, "q", 4);
  c.dispatch(1, "n1", {0, 1, 2, 3});
  c.start(1);
  c.ok(NodeDisconnected{"n1", 10});
  c.submit(2, "q", 4);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r), (Reasons{{2, "Resources"}}));
}

TEST(Schedule, OnlyRunnableJobsAreConsidered) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(1);
  c.dispatch(1, "n1", {0});  // STARTING
  c.submit(2);
  c.run(2, 0, "n1", {1});  // SUCCEEDED
  Job p = make_test_job(3);  // PENDING on 1
  p.depends_on = {{1, DependencyType::AfterOk}};
  c.submit(p);
  c.submit(4);
  const PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{4}));
  EXPECT_NE(decision(r, 4)->cpus, (std::vector<int>{0}));
  EXPECT_TRUE(r.reasons.empty());
}

TEST(Schedule, ReasonsOnlyWhenTheyChange) {
  ClusterBuilder c;
  c.node("n1", make_topology(2));
  c.node("n2", make_topology(2));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  c.submit(1, "q", 2);
  c.submit(2, "q", 2);
  c.submit(3, "q", 2);
  PassResult r = schedule(c.state(), 0);
  EXPECT_EQ(started(r), (Ids{1, 2}));
  EXPECT_EQ(reasons(r), (Reasons{{3, "Resources"}}));
  apply(c, r);
  EXPECT_EQ(c.state().job(3)->pending_reason, "Resources");

  r = schedule(c.state(), 0);  // nothing changed: nothing to say
  EXPECT_TRUE(r.starts.empty());
  EXPECT_TRUE(r.reasons.empty());

  c.ok(NodeDisconnected{"n1", 10});
  c.ok(NodeDisconnected{"n2", 10});
  r = schedule(c.state(), 0);  // the reason changed: reported once
  EXPECT_EQ(reasons(r), (Reasons{{3, "NodesUnavailable"}}));
  apply(c, r);
  EXPECT_TRUE(schedule(c.state(), 0).reasons.empty());
}

TEST(Schedule, IsAPureFunctionOfTheState) {
  ClusterBuilder c;
  c.node("n1", make_topology(4, 2, 8192, 2, 2));
  c.node("n2", make_topology(6, 1, 4096));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  for (std::int64_t id = 1; id <= 12; ++id)
    c.submit(id, "q", 1 + static_cast<int>(id % 4), 500, id % 5 == 0 ? 1 : 0);
  const auto before = c.state().node("n1")->pu_used;
  const PassResult a = schedule(c.state(), 100);
  const PassResult b = schedule(c.state(), 999);
  ASSERT_EQ(a.starts.size(), b.starts.size());
  for (std::size_t i = 0; i < a.starts.size(); ++i) {
    EXPECT_EQ(a.starts[i].job_id, b.starts[i].job_id);
    EXPECT_EQ(a.starts[i].node, b.starts[i].node);
    EXPECT_EQ(a.starts[i].cpus, b.starts[i].cpus);
    EXPECT_EQ(a.starts[i].gpus, b.starts[i].gpus);
  }
  EXPECT_EQ(reasons(a), reasons(b));
  EXPECT_EQ(c.state().node("n1")->pu_used, before);
  EXPECT_EQ(c.state().runnable_count(), 12u);
}

TEST(Schedule, MaxBlockedScanStopsAQueueWithPriority) {
  ClusterBuilder c;
  c.simple(2);
  c.submit(1, "q", 4);  // blocked
  c.submit(2, "q", 4);  // blocked: the limit is reached
  c.submit(3, "q", 1);  // would fit, but is not looked at
  Policy p;
  p.max_blocked_scan = 2;
  const PassResult r = schedule(c.state(), 0, p);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r), (Reasons{{1, "Resources"}, {2, "Resources"}, {3, "Priority"}}));
  p.max_blocked_scan = 0;
  EXPECT_EQ(started(schedule(c.state(), 0, p)), (Ids{3}));
}

TEST(Schedule, FirstJobIdSkipsOlderJobs) {
  ClusterBuilder c;
  c.simple(8);
  for (std::int64_t id = 1; id <= 4; ++id) c.submit(id);
  Policy p;
  p.first_job_id = 3;
  EXPECT_EQ(started(schedule(c.state(), 0, p)), (Ids{3, 4}));
}

// ---- randomized: no PU or GPU is ever handed out twice ---------------------------------

struct Checker {
  // Fails the test when a pass hands out a PU or GPU that is in use or that it
  // already gave to another job, or more memory than a node has.
  static void check(const ClusterState& s, const PassResult& r) {
    std::map<std::string, std::set<int>> pus, gpus;
    std::map<std::string, std::int64_t> memory;
    std::set<std::int64_t> ids;
    for (const auto& d : r.starts) {
      SCOPED_TRACE("job " + std::to_string(d.job_id) + " on " + d.node);
      EXPECT_TRUE(ids.insert(d.job_id).second) << "started twice";
      const Job* job = s.job(d.job_id);
      ASSERT_NE(job, nullptr);
      EXPECT_EQ(job->state, JobState::Runnable);
      const Node* n = s.node(d.node);
      ASSERT_NE(n, nullptr);
      EXPECT_TRUE(n->connected);
      EXPECT_EQ(n->state, NodeState::Up);
      EXPECT_EQ(static_cast<int>(d.cpus.size()), job->request.vcpus);
      EXPECT_EQ(static_cast<int>(d.gpus.size()), job->request.gpus);
      std::set<int> topo_pus;
      for (const auto& core : n->topology.cores) topo_pus.insert(core.pus.begin(), core.pus.end());
      for (int pu : d.cpus) {
        EXPECT_TRUE(topo_pus.count(pu)) << "PU " << pu << " is not on the node";
        EXPECT_FALSE(static_cast<std::size_t>(pu) < n->pu_used.size() && n->pu_used[pu])
            << "PU " << pu << " is in use";
        EXPECT_TRUE(pus[d.node].insert(pu).second) << "PU " << pu << " handed out twice";
      }
      for (int g : d.gpus) {
        EXPECT_TRUE(g >= 0 && g < static_cast<int>(n->topology.gpus.size())) << "GPU " << g;
        EXPECT_FALSE(static_cast<std::size_t>(g) < n->gpu_used.size() && n->gpu_used[g])
            << "GPU " << g << " is in use";
        EXPECT_TRUE(gpus[d.node].insert(g).second) << "GPU " << g << " handed out twice";
      }
      memory[d.node] += job->request.memory_mib;
      EXPECT_LE(memory[d.node], n->memory_free_mib());
    }
  }
};

TEST(ScheduleProperty, NoResourceIsHandedOutTwice) {
  std::mt19937 rng(20261121);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int total_starts = 0;
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ClusterBuilder c;
    const int nodes = pick(1, 4);
    std::vector<std::string> names;
    for (int i = 0; i < nodes; ++i) {
      names.push_back("n" + std::to_string(i));
      c.node(names.back(), make_topology(pick(1, 8), pick(1, 2), pick(1, 8) * 1024, pick(0, 3),
                                         pick(1, 2)));
    }
    // Two environments sharing a node, with and without a cap; two queues.
    c.env("a", std::vector<std::string>(names.begin(), names.begin() + (nodes + 1) / 2),
          pick(0, 1) ? 0 : pick(1, 12));
    c.env("b", std::vector<std::string>(names.begin() + nodes / 2, names.end()));
    c.queue("hi", {"a", "b"}, 10);
    c.queue("lo", {"b", "a"}, 1);
    std::int64_t next = 1;
    for (int pass = 0; pass < 6; ++pass) {
      for (int k = pick(0, 8); k > 0; --k)
        c.submit(next++, pick(0, 1) ? "hi" : "lo", pick(1, 6), pick(0, 3) * 700,
                 pick(0, 4) == 0 ? pick(1, 2) : 0);
      const PassResult r = schedule(c.state(), pass);
      Checker::check(c.state(), r);
      if (::testing::Test::HasFailure()) return;
      total_starts += static_cast<int>(r.starts.size());
      apply(c, r);
      // Some running jobs end, freeing resources for the next pass.
      std::vector<std::int64_t> active;
      for (const auto& [id, j] : c.state().jobs())
        if (is_active(j.state)) active.push_back(id);
      std::sort(active.begin(), active.end());
      for (auto id : active)
        if (pick(0, 2) == 0) c.ok(JobExited{id, pass, 0, 0, ""});
    }
  }
  EXPECT_GT(total_starts, 100);  // the loop did exercise the scheduler
}

}  // namespace
}  // namespace drover::sched
