// Multi-node jobs in one scheduling pass: N distinct nodes that each fit the
// per-node request, the allocation counted on every node, and EASY
// reservations that wait for the N-th node to free up.
#include <gtest/gtest.h>

#include <set>

#include "core/hostlist.hpp"
#include "core/job_environment.hpp"
#include "sched/scheduler.hpp"
#include "test_cluster.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_job;
using drover::testing::make_topology;

constexpr std::int64_t kNow = 1000;

Policy easy() {
  Policy p;
  p.backfill = Backfill::Easy;
  return p;
}

// Four nodes n1..n4 of `cores` cores in environment "ce", queue "q".
void four_nodes(ClusterBuilder& c, int cores = 4) {
  for (int i = 1; i <= 4; ++i) c.node("n" + std::to_string(i), make_topology(cores));
  c.env("ce", {"n1", "n2", "n3", "n4"});
  c.queue("q", {"ce"});
}

Job multi(std::int64_t id, int nodes, int vcpus_per_node, std::int64_t limit_s = 0) {
  Job j = make_test_job(id, "q", vcpus_per_node);
  j.nodes = nodes;
  j.ntasks = nodes * vcpus_per_node;
  j.timeout_seconds = limit_s;
  return j;
}

void apply_starts(ClusterBuilder& c, const PassResult& r) {
  for (const auto& d : r.starts)
    c.ok(JobDispatched{d.job_id, d.node, d.cpus, d.gpus, kNow, d.array_index, 0, d.more_nodes});
}

TEST(MultiNode, StartsOnDistinctNodesEachWithThePerNodeRequest) {
  ClusterBuilder c;
  four_nodes(c);
  c.submit(multi(1, 3, 2));
  const auto r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.starts.size(), 1u);
  const Decision& d = r.starts[0];
  ASSERT_EQ(d.more_nodes.size(), 2u);
  std::set<std::string> nodes{d.node};
  EXPECT_EQ(d.cpus.size(), 2u);
  for (const auto& sl : d.more_nodes) {
    nodes.insert(sl.node);
    EXPECT_EQ(sl.cpus.size(), 2u) << sl.node;
  }
  EXPECT_EQ(nodes.size(), 3u) << "every node is a different one";
  EXPECT_EQ(d.node, "n1") << "first fit: the main node is the environment's first";

  apply_starts(c, r);
  const Job* j = c.state().job(1);
  ASSERT_EQ(j->state, JobState::Starting);
  EXPECT_EQ(attempt_pus(*j->current_attempt()), 6u);
  for (const auto& n : nodes) EXPECT_EQ(c.state().node(n)->pus_free(), 2) << n;
  EXPECT_EQ(c.state().node("n4")->pus_free(), 4);

  // The attempt ends on every node at once.
  c.start(1);
  c.exit(1, 0);
  for (const auto& n : nodes) EXPECT_EQ(c.state().node(n)->pus_free(), 4) << n;
}

TEST(MultiNode, WaitsUntilEnoughNodesAreFree) {
  ClusterBuilder c;
  four_nodes(c);
  // Three nodes are full until t = 1000 + 100 s, 200 s and 300 s.
  for (int i = 1; i <= 3; ++i) {
    Job busy = make_test_job(10 + i, "q", 4);
    busy.timeout_seconds = 100 * i;
    c.submit(busy);
    c.dispatch(10 + i, "n" + std::to_string(i), {0, 1, 2, 3});
    c.start(10 + i, kNow);
  }
  c.submit(multi(1, 3, 4, 50));
  const auto r = schedule(c.state(), kNow, easy());
  EXPECT_TRUE(r.starts.empty());
  ASSERT_FALSE(r.reasons.empty());
  const auto& w = r.reasons[0];
  EXPECT_EQ(w.job_id, 1);
  EXPECT_EQ(w.reason, "Resources");
  // n4 is free now, n1 frees at +100 s, n2 at +200 s: three nodes at +200 s.
  EXPECT_EQ(w.estimated_start_ms, kNow + 200'000);
}

TEST(MultiNode, BackfillDoesNotDelayAMultiNodeReservation) {
  ClusterBuilder c;
  four_nodes(c);
  for (int i = 1; i <= 2; ++i) {
    Job busy = make_test_job(10 + i, "q", 4);
    busy.timeout_seconds = 100;
    c.submit(busy);
    c.dispatch(10 + i, "n" + std::to_string(i), {0, 1, 2, 3});
    c.start(10 + i, kNow);
  }
  c.submit(multi(1, 4, 4, 50));  // needs all four nodes, at +100 s
  Job long_job = make_test_job(2, "q", 4);
  long_job.timeout_seconds = 1000;  // would hold n3 past the reservation
  c.submit(long_job);
  Job short_job = make_test_job(3, "q", 4);
  short_job.timeout_seconds = 10;  // ends before it
  c.submit(short_job);
  const auto r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job_id, 3);
}

TEST(MultiNode, DispatchRefusesTheWrongNodeCountOrANodeTwice) {
  ClusterBuilder c;
  four_nodes(c);
  c.submit(multi(1, 2, 1));
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0}, {}, kNow, -1, 0, {}}));
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0}, {}, kNow, -1, 0, {{"n1", {1}, {}}}}));
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0}, {}, kNow, -1, 0, {{"n9", {0}, {}}}}));
  EXPECT_EQ(c.state().node("n1")->pus_free(), 4) << "a refused dispatch changes nothing";
  EXPECT_TRUE(c.state().apply(JobDispatched{1, "n1", {0}, {}, kNow, -1, 0, {{"n2", {0}, {}}}}));
}

TEST(MultiNode, EnvironmentNamesEveryNodeAndThisNodesPart) {
  ClusterBuilder c;
  for (int i = 1; i <= 2; ++i) c.node("n" + std::to_string(i), make_topology(4, 1, 16384, 2));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  Job j = multi(1, 2, 2);
  j.ntasks = 3;
  c.submit(j);
  c.ok(JobDispatched{1, "n1", {0, 1}, {0}, kNow, -1, 0, {{"n2", {2, 3}, {1}}}});
  const Job& job = *c.state().job(1);
  EXPECT_EQ(mpi_hostfile(job), "n1 slots=2\nn2 slots=1\n");
  const JobPayload payload;
  const KeyValues main = job_environment(job, payload, LaunchContext{"n1", "ce", "head", true, nullptr, 0});
  const KeyValues other = job_environment(job, payload, LaunchContext{"n1", "ce", "head", true, nullptr, 1});
  auto get = [](const KeyValues& kv, const std::string& k) {
    const std::string* v = find_value(kv, k);
    return v ? *v : std::string("<unset>");
  };
  // Hostlist form for Slurm's names, the plain list for Drover's.
  EXPECT_EQ(get(main, "SLURM_JOB_NODELIST"), "n[1-2]");
  EXPECT_EQ(get(main, "SLURM_NODELIST"), "n[1-2]");
  EXPECT_EQ(get(other, "SLURM_JOB_NODELIST"), "n[1-2]");
  EXPECT_EQ(get(main, "DROVER_NODELIST"), "n1,n2");
  EXPECT_EQ(get(main, "SLURM_NNODES"), "2");
  EXPECT_EQ(get(main, "SLURM_TASKS_PER_NODE"), "2,1");
  EXPECT_EQ(get(main, "SLURM_NODEID"), "0");
  EXPECT_EQ(get(other, "SLURM_NODEID"), "1");
  EXPECT_EQ(get(main, "AWS_BATCH_JOB_NUM_NODES"), "2");
  EXPECT_EQ(get(other, "AWS_BATCH_JOB_NODE_INDEX"), "1");
  EXPECT_EQ(get(main, "AWS_BATCH_JOB_MAIN_NODE_INDEX"), "0");
  EXPECT_EQ(get(main, "DROVER_CPU_LIST"), "0,1");
  EXPECT_EQ(get(other, "DROVER_CPU_LIST"), "2,3");
  EXPECT_EQ(get(main, "CUDA_VISIBLE_DEVICES"), "0");
  EXPECT_EQ(get(other, "CUDA_VISIBLE_DEVICES"), "1");
  EXPECT_EQ(get(other, "DROVER_NODE_NAME"), "n2");
  EXPECT_EQ(get(other, "DROVER_MAIN_NODE"), "n1");
}

// The main node comes first in SLURM_NODELIST, as mpirun pairs it with
// SLURM_TASKS_PER_NODE: the hostlist keeps the attempt's order, merging neighbours only.
TEST(MultiNode, NodelistKeepsTheMainNodeFirst) {
  ClusterBuilder c;
  for (const char* n : {"node01", "node02", "node03", "node07"}) c.node(n, make_topology(4, 1, 16384, 0));
  c.env("ce", {"node01", "node02", "node03", "node07"});
  c.queue("q", {"ce"});
  Job j = multi(1, 4, 1);
  j.ntasks = 5;
  c.submit(j);
  c.ok(JobDispatched{1, "node07", {0}, {}, kNow, -1, 0, {{"node01", {0}, {}}, {"node02", {0}, {}}, {"node03", {0}, {}}}});
  const Job& job = *c.state().job(1);
  const KeyValues env = job_environment(job, JobPayload{}, LaunchContext{"node07", "ce", "head", true, nullptr, 0});
  EXPECT_EQ(*find_value(env, "SLURM_JOB_NODELIST"), "node[07,01-03]");
  EXPECT_EQ(*find_value(env, "SLURM_TASKS_PER_NODE"), "2,1(x3)");
  EXPECT_EQ(*find_value(env, "DROVER_NODELIST"), "node07,node01,node02,node03");
  EXPECT_EQ(expand_hostlist(*find_value(env, "SLURM_NODELIST")).value(),
            (std::vector<std::string>{"node07", "node01", "node02", "node03"}));
}

// Ranks over nodes (-m block / cyclic) and the rankfile the main node gets:
// each rank's PUs as place_tasks split each node's plan.
TEST(MultiNode, RankfileFollowsTheDistribution) {
  ClusterBuilder c;
  for (int i = 1; i <= 3; ++i) c.node("n" + std::to_string(i), make_topology(4, 1, 16384, 2));
  c.env("ce", {"n1", "n2", "n3"});
  c.queue("q", {"ce"});
  Job j = multi(1, 2, 4);
  j.ntasks = 3;  // 2 on n1, 1 on n2: 2 PUs a task
  c.submit(j);
  c.ok(JobDispatched{1, "n1", {0, 1, 2, 3}, {}, kNow, -1, 0, {{"n2", {0, 1, 2, 3}, {}}}});
  Job job = *c.state().job(1);
  EXPECT_EQ(cpus_per_task(job), 2);
  EXPECT_EQ(rank_nodes(job), (std::vector<int>{0, 0, 1}));
  const std::vector<std::vector<std::vector<int>>> split = {{{0, 1}, {2, 3}}, {{0, 1}}};
  EXPECT_EQ(mpi_rankfile(job, split), "rank 0=n1 slot=0,1\nrank 1=n1 slot=2,3\nrank 2=n2 slot=0,1\n");
  job.distribution = TaskDistribution{NodeDistribution::Cyclic, CoreDistribution::Block}.pack();
  EXPECT_EQ(rank_nodes(job), (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(mpi_rankfile(job, split), "rank 0=n1 slot=0,1\nrank 1=n2 slot=0,1\nrank 2=n1 slot=2,3\n");
  const KeyValues env = job_environment(job, JobPayload{}, LaunchContext{"n1", "ce", "head", true, nullptr, 0});
  EXPECT_EQ(*find_value(env, "SLURM_DISTRIBUTION"), "cyclic:block");
  EXPECT_EQ(*find_value(env, "SLURM_CPUS_PER_TASK"), "2") << "4 vCPUs a node, at most 2 tasks a node";
  // A split that does not match the task counts gives no rankfile rather than a wrong one.
  EXPECT_EQ(mpi_rankfile(job, {{{0, 1}}, {{0, 1}}}), "");
  // One node: "localhost", whatever the node is called.
  Job one = multi(2, 1, 2);
  one.ntasks = 2;
  c.submit(one);
  c.ok(JobDispatched{2, "n3", {0, 1}, {}, kNow, -1, 0, {}});
  EXPECT_EQ(mpi_rankfile(*c.state().job(2), {{{0}, {1}}}), "rank 0=localhost slot=0\nrank 1=localhost slot=1\n");
}

TEST(MultiNode, SlurmCountsAreCompact) {
  EXPECT_EQ(format_tasks_per_node({2, 2, 2}), "2(x3)");
  EXPECT_EQ(format_tasks_per_node({3, 3, 2}), "3(x2),2");
  EXPECT_EQ(format_tasks_per_node({4}), "4");
}

}  // namespace
}  // namespace drover::sched
