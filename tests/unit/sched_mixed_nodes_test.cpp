// Multi-node jobs whose node groups (AWS nodeRangeProperties) ask different
// resources, on a small heterogeneous cluster of checked-in hwloc topologies:
// which node each node index gets, the job's environment per node, EASY
// reservations that hold each node's own request, and refusal at submit.
#include <gtest/gtest.h>

#include "core/job_environment.hpp"
#include "core/job_request.hpp"
#include "sched/scheduler.hpp"
#include "test_cluster.hpp"
#include "topology_test_support.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_job;

constexpr std::int64_t kNow = 1'000'000;

Policy easy() {
  Policy p;
  p.backfill = Backfill::Easy;
  return p;
}

const auto xml = &drover::testing::hwloc_topology;

// "c1", "c2": 2 PUs each (netns-2core.xml); "g1": 16 PUs and 4 GPUs
// (2pkg-4gpu.xml). One environment "ce" in the given order, queue "q".
void cluster(ClusterBuilder& c, std::vector<std::string> order) {
  c.node("c1", xml("netns-2core.xml"));
  c.node("c2", xml("netns-2core.xml"));
  c.node("g1", xml("2pkg-4gpu.xml"));
  c.env("ce", std::move(order));
  c.queue("q", {"ce"});
}

// Three nodes: node 0 (the main node) 4 vCPUs and 1 GPU, nodes 1-2 one vCPU each.
Job mixed(std::int64_t id, std::int64_t limit_s = 0) {
  Job j = make_test_job(id, "q", 4, 0, 1);
  j.nodes = 3;
  j.ntasks = 3;
  j.timeout_seconds = limit_s;
  j.node_requests = Boxed<std::vector<NodeRequest>>(std::vector<NodeRequest>{{0, 0, {4, 0, 1}}, {1, 2, {1, 0, 0}}});
  return j;
}

void apply_starts(ClusterBuilder& c, const PassResult& r) {
  for (const auto& d : r.starts)
    c.ok(JobDispatched{d.job_id, d.node, d.cpus, d.gpus, kNow, d.array_index, 0, d.more_nodes});
}

const Decision* started(const PassResult& r, std::int64_t id) {
  for (const auto& d : r.starts)
    if (d.job_id == id) return &d;
  return nullptr;
}

std::string get(const KeyValues& kv, const std::string& k) {
  const std::string* v = find_value(kv, k);
  return v ? *v : std::string("<unset>");
}

TEST(MixedNodes, RequestOnAndTotalVcpus) {
  const Job j = mixed(1);
  EXPECT_TRUE(j.mixed_nodes());
  EXPECT_EQ(j.request_on(0).gpus, 1);
  EXPECT_EQ(j.request_on(1).vcpus, 1);
  EXPECT_EQ(j.request_on(2).vcpus, 1);
  EXPECT_EQ(j.total_vcpus(), 6);
  EXPECT_EQ(describe_node_requests(j), "node 0: 4 vCPUs, 1 GPU; nodes 1:2: 1 vCPU each");
  const Job uniform = make_test_job(2, "q", 4);
  EXPECT_FALSE(uniform.mixed_nodes());
  EXPECT_EQ(uniform.request_on(3).vcpus, 4);
}

// Largest request first: node 0 (4 vCPUs + 1 GPU) cannot go on c1 (2 PUs, no
// GPU), the first node in order, so it gets g1; nodes 1 and 2 then take the
// first nodes left, c1 and c2. g1 is not used twice.
TEST(MixedNodes, EachNodeIndexGetsANodeThatHoldsItsGroup) {
  ClusterBuilder c;
  cluster(c, {"c1", "g1", "c2"});
  Job j = mixed(1, 600);
  j.ntasks = 6;  // block would give 2 a node; nodes 1-2 hold one vCPU, so 4,1,1
  c.submit(j);
  const auto r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.starts.size(), 1u);
  const Decision& d = r.starts[0];
  EXPECT_EQ(d.node, "g1");
  EXPECT_EQ(d.cpus.size(), 4u);
  EXPECT_EQ(d.gpus.size(), 1u);
  ASSERT_EQ(d.more_nodes.size(), 2u);
  EXPECT_EQ(d.more_nodes[0].node, "c1");
  EXPECT_EQ(d.more_nodes[0].cpus.size(), 1u);
  EXPECT_TRUE(d.more_nodes[0].gpus.empty());
  EXPECT_EQ(d.more_nodes[1].node, "c2");
  EXPECT_EQ(d.more_nodes[1].cpus.size(), 1u);

  apply_starts(c, r);
  EXPECT_EQ(c.state().node("g1")->pus_free(), 12);
  EXPECT_EQ(c.state().node("g1")->gpus_free(), 3);
  EXPECT_EQ(c.state().node("c1")->pus_free(), 1);
  EXPECT_EQ(c.state().node("c2")->pus_free(), 1);

  // Each node's own counts in the job's environment.
  const Job& job = *c.state().job(1);
  EXPECT_EQ(tasks_per_node(job), (std::vector<int>{4, 1, 1}));
  EXPECT_EQ(mpi_hostfile(job), "g1 slots=4\nc1 slots=1\nc2 slots=1\n");
  EXPECT_EQ(cpus_per_task(job), 1);
  EXPECT_EQ(cpus_per_task_on(job, 0), 1);
  const KeyValues main = job_environment(job, JobPayload{}, LaunchContext{"g1", "ce", "head", true, nullptr, 0});
  const KeyValues other = job_environment(job, JobPayload{}, LaunchContext{"g1", "ce", "head", true, nullptr, 2});
  EXPECT_EQ(get(main, "SLURM_JOB_CPUS_PER_NODE"), "4,1(x2)");
  EXPECT_EQ(get(other, "SLURM_JOB_CPUS_PER_NODE"), "4,1(x2)");
  EXPECT_EQ(get(main, "SLURM_TASKS_PER_NODE"), "4,1(x2)");
  EXPECT_EQ(get(main, "SLURM_CPUS_ON_NODE"), "4");
  EXPECT_EQ(get(other, "SLURM_CPUS_ON_NODE"), "1");
  EXPECT_EQ(get(other, "SLURM_NTASKS_PER_NODE"), "1");
  EXPECT_EQ(get(main, "SLURM_JOB_NODELIST"), "g1,c[1-2]");
  EXPECT_EQ(get(main, "SLURM_GPUS_ON_NODE"), "1");
  EXPECT_EQ(get(other, "SLURM_GPUS_ON_NODE"), "<unset>");

  // The attempt ends on every node at once.
  c.start(1, kNow);
  c.exit(1, 0, kNow + 1000);
  EXPECT_EQ(c.state().node("g1")->pus_free(), 16);
  EXPECT_EQ(c.state().node("g1")->gpus_free(), 4);
  EXPECT_EQ(c.state().node("c1")->pus_free(), 2);
}

// Fewer tasks than nodes' vCPUs: the ordinary block split, capped per node.
TEST(MixedNodes, TasksNeverExceedANodesVcpus) {
  Job j = mixed(1);
  j.ntasks = 3;
  EXPECT_EQ(tasks_per_node(j), (std::vector<int>{1, 1, 1}));
  j.ntasks = 5;
  EXPECT_EQ(tasks_per_node(j), (std::vector<int>{3, 1, 1}));
  j.node_requests = Boxed<std::vector<NodeRequest>>(std::vector<NodeRequest>{{0, 0, {1, 0, 0}}, {1, 1, {4, 0, 0}}, {2, 2, {2, 0, 0}}});
  j.ntasks = 6;  // block 2,2,2 -> 1,2,2 and one more to the first node with room
  EXPECT_EQ(tasks_per_node(j), (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(cpus_per_task(j), 1);
  EXPECT_EQ(cpus_per_task_on(j, 1), 1);
  j.ntasks = 3;
  EXPECT_EQ(cpus_per_task_on(j, 1), 4);
  EXPECT_EQ(cpus_per_task(j), 1) << "the fewest any node's tasks can have: node 0's 1";
}

// The big group's node is busy: g1's GPUs are all held until +100 s. EASY
// reserves g1 (4 PUs + 1 GPU) and c1, c2 (1 PU each) from +100 s to +150 s.
// Later jobs backfill only where they do not delay that, each node checked
// against its own reserved request:
//  job 2 (2 vCPUs, 1000 s): c1 and c2 would keep 0 of the 1 PU reserved there;
//    g1 keeps 12 free PUs at +100 s: it starts on g1;
//  job 3 (2 vCPUs, 10 s): ends before +100 s: starts on c1;
//  job 4 (1 vCPU, 1000 s): c2 keeps its second PU for the reservation: starts on c2
//    (were every node held for node 0's 4 PUs, c2 could take nothing);
//  job 5 (1 vCPU, 1000 s): c2 is now full at +100 s; it goes to g1.
TEST(MixedNodes, EasyReservationHoldsEachNodesOwnRequest) {
  ClusterBuilder c;
  cluster(c, {"c1", "c2", "g1"});
  Job busy = make_test_job(10, "q", 4, 0, 4);
  busy.timeout_seconds = 100;
  c.submit(busy);
  c.dispatch(10, "g1", {0, 1, 2, 3}, {0, 1, 2, 3});
  c.start(10, kNow);

  c.submit(mixed(1, 50));
  auto job = [&](std::int64_t id, int vcpus, std::int64_t limit_s) {
    Job j = make_test_job(id, "q", vcpus);
    j.timeout_seconds = limit_s;
    c.submit(j);
  };
  job(2, 2, 1000);
  job(3, 2, 10);
  job(4, 1, 1000);
  job(5, 1, 1000);
  const auto r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(started(r, 1), nullptr);
  ASSERT_NE(started(r, 2), nullptr);
  EXPECT_EQ(started(r, 2)->node, "g1");
  ASSERT_NE(started(r, 3), nullptr);
  EXPECT_EQ(started(r, 3)->node, "c1");
  ASSERT_NE(started(r, 4), nullptr);
  EXPECT_EQ(started(r, 4)->node, "c2");
  ASSERT_NE(started(r, 5), nullptr);
  EXPECT_EQ(started(r, 5)->node, "g1");
  bool estimated = false;
  for (const auto& w : r.reasons)
    if (w.job_id == 1) {
      EXPECT_EQ(w.estimated_start_ms, kNow + 100'000);
      estimated = true;
    }
  EXPECT_TRUE(estimated);

  // At +100 s the busy job and job 3 are gone: the mixed job gets exactly the
  // reserved nodes, g1 for node 0.
  apply_starts(c, r);
  c.exit(10, 0, kNow + 100'000);
  c.start(3, kNow);
  c.exit(3, 0, kNow + 10'000);
  const auto later = schedule(c.state(), kNow + 100'000, easy());
  const Decision* d = started(later, 1);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->node, "g1");
  ASSERT_EQ(d->more_nodes.size(), 2u);
  EXPECT_EQ(d->more_nodes[0].node, "c1");
  EXPECT_EQ(d->more_nodes[1].node, "c2");
}

class MixedSubmit : public ::testing::Test {
 protected:
  void SetUp() override { cluster(c, {"c1", "g1", "c2"}); }
  static NodeGroupRequest group(const std::string& target, int vcpus, int gpus = 0) {
    NodeGroupRequest g;
    g.target_nodes = target;
    g.vcpus = vcpus;
    if (gpus) g.gpus = gpus;
    return g;
  }
  Result<NewJob> submit(std::vector<NodeGroupRequest> groups, int nodes = 3, std::optional<int> ntasks = {}) {
    JobRequest r;
    r.name = "mixed";
    r.queue = "q";
    r.command = {"true"};
    r.working_dir = "/home/alice";
    r.nodes = nodes;
    r.ntasks = ntasks;
    r.node_groups = std::move(groups);
    return make_job(r, Submitter{1000, 1000, "alice", false}, c.state(), "", 42, 123456);
  }
  ClusterBuilder c;
};

TEST_F(MixedSubmit, KeepsEachGroupsRequest) {
  auto j = submit({group("1:", 1), group("0", 4, 1)}, 3, 6);
  ASSERT_TRUE(j) << j.message();
  ASSERT_TRUE(j->job.mixed_nodes());
  EXPECT_EQ(j->job.request.vcpus, 4) << "request is node 0's";
  EXPECT_EQ(j->job.request.gpus, 1);
  EXPECT_EQ(j->job.request_on(2).vcpus, 1);
  EXPECT_EQ(j->job.request_on(2).gpus, 0);
  EXPECT_EQ(j->job.total_vcpus(), 6);
  EXPECT_EQ(j->job.ntasks, 6);
}

TEST_F(MixedSubmit, SameResourcesEverywhereStayOneRequest) {
  auto j = submit({group("0", 2), group("1:", 2)});
  ASSERT_TRUE(j) << j.message();
  EXPECT_FALSE(j->job.mixed_nodes());
  EXPECT_EQ(j->job.request.vcpus, 2);
  // Neighbouring groups that ask the same are kept as one range.
  auto k = submit({group("0", 4, 1), group("1", 1), group("2", 1)});
  ASSERT_TRUE(k) << k.message();
  ASSERT_TRUE(k->job.mixed_nodes());
  EXPECT_EQ(k->job.node_requests->size(), 2u);
  EXPECT_EQ(describe_node_requests(k->job), "node 0: 4 vCPUs, 1 GPU; nodes 1:2: 1 vCPU each");
}

TEST_F(MixedSubmit, AGroupThatFitsNoNodeIsRefusedByName) {
  auto j = submit({group("0", 4, 1), group("1:", 32)});
  ASSERT_FALSE(j);
  EXPECT_EQ(j.message(), "nodeProperties.nodeRangeProperties[targetNodes 1:2].vcpus: 32 asked, but the largest "
                         "node in queue 'q' has 16");
  auto k = submit({group("0", 4, 2), group("1:", 1, 8)});
  ASSERT_FALSE(k);
  EXPECT_EQ(k.message(), "nodeProperties.nodeRangeProperties[targetNodes 1:2].gpus: 8 asked, but the node with "
                         "most GPUs in queue 'q' has 4");
}

TEST_F(MixedSubmit, TooManyBigNodesAreRefused) {
  // Two nodes want a GPU; only g1 has GPUs. Each group alone fits a node.
  auto j = submit({group("0:1", 4, 1), group("2", 1)});
  ASSERT_FALSE(j);
  EXPECT_NE(j.message().find("has a separate node for each of them"), std::string::npos) << j.message();
}

TEST_F(MixedSubmit, TasksMustFitTheTotalVcpus) {
  auto j = submit({group("0", 4, 1), group("1:", 1)}, 3, 7);
  ASSERT_FALSE(j);
  EXPECT_NE(j.message().find("7 tasks need at least as many vCPUs, but 6 were asked (node 0: 4 vCPUs, 1 GPU; "
                             "nodes 1:2: 1 vCPU each)"),
            std::string::npos)
      << j.message();
}

TEST_F(MixedSubmit, NodelistIsNotSupportedYet) {
  JobRequest r;
  r.name = "mixed";
  r.queue = "q";
  r.command = {"true"};
  r.working_dir = "/home/alice";
  r.nodes = 3;
  r.node_list = {"g1"};
  r.node_groups = {group("0", 4, 1), group("1:", 1)};
  auto j = make_job(r, Submitter{1000, 1000, "alice", false}, c.state(), "", 42, 123456);
  ASSERT_FALSE(j);
  EXPECT_NE(j.message().find("--nodelist"), std::string::npos) << j.message();
}

}  // namespace
}  // namespace drover::sched
