// place_tasks(): a node's plan split among the tasks (MPI ranks) that run there,
// over the checked-in topologies (tests/data/hwloc), SMT on and off, with and
// without GPUs per task, for each core distribution; plus a randomized check
// that tasks never share a PU, each gets exactly its count, all from the plan.
#include "place/task_placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "place/discovery.hpp"
#include "place/placement.hpp"
#include "topology_test_support.hpp"

namespace drover::place {
namespace {

const auto topology = &drover::testing::hwloc_topology;
const auto r = &drover::testing::range;
using drover::testing::operator+;

TaskRequest tasks(int n, int cpus, int gpus = 0, CoreDistribution d = CoreDistribution::Block) {
  return TaskRequest{n, cpus, gpus, d};
}

// Each task's PUs, in task order.
std::vector<std::vector<int>> cpus_of(const std::vector<TaskPlacement>& t) {
  std::vector<std::vector<int>> out;
  for (const auto& x : t) out.push_back(x.cpus);
  return out;
}

using Cpus = std::vector<std::vector<int>>;

TEST(TaskPlacement, BlockPacksTasksOnConsecutiveCoresWithoutSmt) {
  const auto& t = topology("2pkg-16core-nosmt.xml");
  auto p = place_tasks(t, r(0, 7), {}, tasks(4, 2));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  // One PU each, across the packages the plan spans.
  p = place_tasks(t, r(6, 9), {}, tasks(4, 1));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{6}, {7}, {8}, {9}}));
}

TEST(TaskPlacement, WholeCoresFirstWithSmt) {
  // Cores are PU pairs {2i, 2i+1}.
  const auto& t = topology("2pkg-16core-smt.xml");
  auto p = place_tasks(t, r(0, 7), {}, tasks(4, 2));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {2, 3}, {4, 5}, {6, 7}})) << "a core each";
  // Two single-thread tasks in one core's plan: they must share it.
  p = place_tasks(t, r(0, 1), {}, tasks(2, 1));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0}, {1}}));
  // Three threads each over three cores: each task gets a whole core and one
  // thread of the middle core, rather than task 1 getting the halves of two.
  p = place_tasks(t, r(0, 5), {}, tasks(2, 3));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1, 2}, {3, 4, 5}}));
  // A plan with half cores (other jobs have PUs 1 and 7): no two tasks share a core.
  p = place_tasks(t, std::vector<int>{0} + r(2, 6), {}, tasks(3, 2));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 6}, {2, 3}, {4, 5}}));
}

TEST(TaskPlacement, NoCoreObjects) {
  const auto& t = topology("1pkg-4pu-nocore.xml");  // each PU counts as a core
  auto p = place_tasks(t, r(0, 3), {}, tasks(2, 2));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {2, 3}}));
}

TEST(TaskPlacement, CyclicPutsTaskAfterTaskOnTheNextSocket) {
  // Package 0 = PUs 0-7, package 1 = PUs 8-15.
  const auto& t = topology("2pkg-16core-nosmt.xml");
  const auto plan = r(0, 3) + r(8, 11);
  auto block = place_tasks(t, plan, {}, tasks(4, 2, 0, CoreDistribution::Block));
  auto cyclic = place_tasks(t, plan, {}, tasks(4, 2, 0, CoreDistribution::Cyclic));
  auto fcyclic = place_tasks(t, plan, {}, tasks(4, 2, 0, CoreDistribution::FCyclic));
  ASSERT_TRUE(block && cyclic && fcyclic);
  EXPECT_EQ(cpus_of(*block), (Cpus{{0, 1}, {2, 3}, {8, 9}, {10, 11}}));
  EXPECT_EQ(cpus_of(*cyclic), (Cpus{{0, 1}, {8, 9}, {2, 3}, {10, 11}}));
  EXPECT_EQ(cpus_of(*fcyclic), (Cpus{{0, 8}, {1, 9}, {2, 10}, {3, 11}}));
  // A socket without room for a whole task is skipped by cyclic.
  cyclic = place_tasks(t, std::vector<int>{0} + r(8, 12), {}, tasks(3, 2, 0, CoreDistribution::Cyclic));
  ASSERT_TRUE(cyclic);
  EXPECT_EQ(cpus_of(*cyclic), (Cpus{{8, 9}, {10, 11}, {0, 12}}));
}

TEST(TaskPlacement, FCyclicTakesWholeCoresFromEachSocketWithSmt) {
  // Package 0 = PUs 0-15, package 1 = PUs 16-31, cores {2i, 2i+1}.
  const auto& t = topology("2pkg-16core-smt.xml");
  auto p = place_tasks(t, r(0, 3) + r(16, 19), {}, tasks(2, 4, 0, CoreDistribution::FCyclic));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1, 16, 17}, {2, 3, 18, 19}}));
  p = place_tasks(t, r(0, 3) + r(16, 19), {}, tasks(4, 2, 0, CoreDistribution::Cyclic));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {16, 17}, {2, 3}, {18, 19}}));
}

TEST(TaskPlacement, GpusPerTaskGetTheCoresNearTheirGpu) {
  // GPUs 0,1: NUMA 0 (PUs 0-7); 2,3: NUMA 1 (8-15); 4,5: NUMA 2; 6,7: NUMA 3 (24-31).
  const auto& t = topology("4numa-8gpu.xml");
  // Compact order would give task 1 PUs 2-3; its GPU is next to PUs 24-31.
  auto p = place_tasks(t, r(0, 3) + r(24, 25), {6, 0}, tasks(2, 2, 1));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {24, 25}}));
  EXPECT_EQ((*p)[0].gpus, std::vector<int>{0});
  EXPECT_EQ((*p)[1].gpus, std::vector<int>{6});
  // Two GPUs a task, grouped by NUMA domain whatever the plan's order.
  p = place_tasks(t, r(0, 1) + r(8, 9), {2, 0, 3, 1}, tasks(2, 2, 2));
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)[0].gpus, (std::vector<int>{0, 1}));
  EXPECT_EQ((*p)[1].gpus, (std::vector<int>{2, 3}));
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {8, 9}}));
  // No PU near a task's GPU left: the same package, then anything.
  p = place_tasks(t, r(0, 1) + r(8, 9), {0, 4}, tasks(2, 2, 1));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {8, 9}}));
}

TEST(TaskPlacement, GpusPerTaskWithSmt) {
  // 2pkg-4gpu: GPUs 0,1 under package 0 (PUs 0-7), 2,3 under package 1 (8-15), SMT 2.
  const auto& t = topology("2pkg-4gpu.xml");
  auto p = place_tasks(t, r(0, 3) + r(8, 11), {0, 1, 2, 3}, tasks(4, 2, 1));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {2, 3}, {8, 9}, {10, 11}}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*p)[static_cast<std::size_t>(i)].gpus, std::vector<int>{i});
}

TEST(TaskPlacement, RefusesWhatThePlanCannotHold) {
  const auto& t = topology("2pkg-16core-nosmt.xml");
  EXPECT_FALSE(place_tasks(t, r(0, 3), {}, tasks(3, 2))) << "6 PUs asked, 4 placed";
  EXPECT_FALSE(place_tasks(t, r(0, 3), {}, tasks(0, 1)));
  EXPECT_FALSE(place_tasks(t, r(0, 3), {}, tasks(1, 0)));
  EXPECT_FALSE(place_tasks(topology("4numa-8gpu.xml"), r(0, 3), {0}, tasks(2, 1, 1))) << "2 GPUs asked, 1 placed";
  EXPECT_FALSE(place_tasks(t, r(0, 3), {0}, tasks(1, 1, 1))) << "a GPU the node does not have";
  // PUs beyond the tasks' share are no task's.
  auto p = place_tasks(t, r(0, 4), {}, tasks(2, 2));
  ASSERT_TRUE(p);
  EXPECT_EQ(cpus_of(*p), (Cpus{{0, 1}, {2, 3}}));
}

TEST(TaskPlacement, PlaceOnNodeFillsTheTasks) {
  Node n;
  n.name = "n1";
  n.topology = topology("2pkg-16core-smt.xml");
  n.state = NodeState::Up;
  n.pu_used.assign(4, true);  // PUs 0-3 are another job's
  Resources res;
  res.vcpus = 8;
  auto plan = place_on_node(n, res, tasks(4, 2));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->cpus, r(4, 11));
  EXPECT_EQ(cpus_of(plan->tasks), (Cpus{{4, 5}, {6, 7}, {8, 9}, {10, 11}}));
  EXPECT_FALSE(place_on_node(n, res, tasks(5, 2))) << "8 PUs cannot hold 5 tasks of 2";
  EXPECT_TRUE(place_on_node(n, res)->tasks.empty());
}

// Whatever the node, plan and layout: every task gets exactly its PUs and
// GPUs, all of them from the plan, none shared with another task.
TEST(TaskPlacement, RandomPlansNeverOverlap) {
  std::mt19937 rng(7);
  for (const char* name : {"2pkg-16core-smt.xml", "2pkg-16core-nosmt.xml", "asym-12core.xml", "4numa-8gpu.xml",
                           "2pkg-4gpu.xml", "2pkg-pci-gpus.xml", "1pkg-4pu-nocore.xml"}) {
    const NodeTopology& t = topology(name);
    std::vector<int> all_pus, all_gpus;
    for (const auto& c : t.cores) all_pus.insert(all_pus.end(), c.pus.begin(), c.pus.end());
    for (const auto& g : t.gpus) all_gpus.push_back(g.index);
    for (int trial = 0; trial < 300; ++trial) {
      std::shuffle(all_pus.begin(), all_pus.end(), rng);
      std::shuffle(all_gpus.begin(), all_gpus.end(), rng);
      const int npus = 1 + static_cast<int>(rng() % all_pus.size());
      const int ngpus = all_gpus.empty() ? 0 : static_cast<int>(rng() % (all_gpus.size() + 1));
      std::vector<int> pus(all_pus.begin(), all_pus.begin() + npus);
      std::vector<int> gpus(all_gpus.begin(), all_gpus.begin() + ngpus);
      std::sort(pus.begin(), pus.end());
      const int ntasks = 1 + static_cast<int>(rng() % static_cast<unsigned>(npus));
      const int cpt = 1 + static_cast<int>(rng() % static_cast<unsigned>(npus / ntasks));
      const int gpt = ngpus >= ntasks && rng() % 2 ? static_cast<int>(ngpus / ntasks) : 0;
      const auto d = static_cast<CoreDistribution>(rng() % 3);
      SCOPED_TRACE(std::string(name) + " trial " + std::to_string(trial) + ": " + std::to_string(ntasks) + " x " +
                   std::to_string(cpt) + " of " + std::to_string(npus) + ", gpt " + std::to_string(gpt) + " " +
                   to_string(d));
      auto p = place_tasks(t, pus, gpus, tasks(ntasks, cpt, gpt, d));
      ASSERT_TRUE(p);
      ASSERT_EQ(p->size(), static_cast<std::size_t>(ntasks));
      std::set<int> seen_pus, seen_gpus;
      for (const auto& task : *p) {
        ASSERT_EQ(task.cpus.size(), static_cast<std::size_t>(cpt));
        ASSERT_EQ(task.gpus.size(), static_cast<std::size_t>(gpt));
        for (int pu : task.cpus) {
          EXPECT_TRUE(std::binary_search(pus.begin(), pus.end(), pu)) << pu << " is not in the plan";
          EXPECT_TRUE(seen_pus.insert(pu).second) << "PU " << pu << " given twice";
        }
        for (int g : task.gpus) {
          EXPECT_NE(std::find(gpus.begin(), gpus.end(), g), gpus.end());
          EXPECT_TRUE(seen_gpus.insert(g).second) << "GPU " << g << " given twice";
        }
      }
    }
  }
}

}  // namespace
}  // namespace drover::place
