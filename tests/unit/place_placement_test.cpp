// place_on_node() and could_ever_fit() over the checked-in topologies
// (tests/data/hwloc), as tables of "node in this state, this request -> this
// plan", plus a randomized check that plans never overlap or overrun a node.
#include "place/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "place/discovery.hpp"
#include "topology_test_support.hpp"

namespace drover::place {
namespace {

const auto topology = &drover::testing::hwloc_topology;
const auto r = &drover::testing::range;
using drover::testing::operator+;

Node make_node(const NodeTopology& t, const std::vector<int>& used_pus = {},
               const std::vector<int>& used_gpus = {}, std::int64_t memory_used = 0) {
  Node n;
  n.name = "n1";
  n.topology = t;
  n.state = NodeState::Up;
  // Deliberately no longer than the highest used index: the rest counts as free.
  for (int pu : used_pus) {
    if (static_cast<std::size_t>(pu) >= n.pu_used.size()) n.pu_used.resize(pu + 1, false);
    n.pu_used[pu] = true;
  }
  for (int g : used_gpus) {
    if (static_cast<std::size_t>(g) >= n.gpu_used.size()) n.gpu_used.resize(g + 1, false);
    n.gpu_used[g] = true;
  }
  n.memory_used_mib = memory_used;
  return n;
}

Resources req(int vcpus, int gpus = 0, std::int64_t memory_mib = 0) {
  Resources res;
  res.vcpus = vcpus;
  res.gpus = gpus;
  res.memory_mib = memory_mib;
  return res;
}

struct Case {
  const char* what;
  const char* topology;
  std::vector<int> used_pus;
  std::vector<int> used_gpus;
  Resources request;
  std::optional<std::vector<int>> cpus;  // nullopt: must not fit
  std::vector<int> gpus;
};

void run(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.topology) + ": " + c.what);
    auto plan = place_on_node(make_node(topology(c.topology), c.used_pus, c.used_gpus),
                              c.request);
    if (!c.cpus) {
      EXPECT_FALSE(plan) << "placed on " << ::testing::PrintToString(plan->cpus);
      continue;
    }
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->cpus, *c.cpus);
    EXPECT_EQ(plan->gpus, c.gpus);
  }
}

constexpr auto kNone = std::nullopt;

TEST(Placement, CompactOnNoSmtNode) {
  // NUMA 0 = PUs 0-7 (package 0), NUMA 1 = PUs 8-15 (package 1).
  const char* t = "2pkg-16core-nosmt.xml";
  run({
      {"first job packs from the lowest PU", t, {}, {}, req(1), r(0, 0), {}},
      {"four PUs", t, {}, {}, req(4), r(0, 3), {}},
      {"a whole domain", t, {}, {}, req(8), r(0, 7), {}},
      {"one more than a domain spills", t, {}, {}, req(9), r(0, 8), {}},
      {"the whole node", t, {}, {}, req(16), r(0, 15), {}},
      {"more than the node", t, {}, {}, req(17), kNone, {}},
      {"next to a running job", t, r(0, 3), {}, req(2), r(4, 5), {}},
      {"best fit: the fuller domain still fits", t, r(0, 5), {}, req(2), r(6, 7), {}},
      {"best fit: the fuller domain is too small", t, r(0, 5), {}, req(3), r(8, 10), {}},
      {"holes are used", t, {0, 2, 4, 6}, {}, req(4), std::vector<int>{1, 3, 5, 7}, {}},
      {"spill starts at the emptiest domain", t, r(0, 5) + r(8, 9), {}, req(7),
       std::vector<int>{6} + r(10, 15), {}},
      {"last free PU", t, r(0, 14), {}, req(1), r(15, 15), {}},
      {"node full", t, r(0, 15), {}, req(1), kNone, {}},
      {"not enough left", t, r(0, 14), {}, req(2), kNone, {}},
  });
}

TEST(Placement, WholeCoresFirstOnSmtNode) {
  // Cores are PU pairs {2i, 2i+1}; NUMA 0 = PUs 0-15, NUMA 1 = PUs 16-31.
  const char* t = "2pkg-16core-smt.xml";
  run({
      {"one thread", t, {}, {}, req(1), r(0, 0), {}},
      {"two threads are one core", t, {}, {}, req(2), r(0, 1), {}},
      {"three threads: a core and a half", t, {}, {}, req(3), r(0, 2), {}},
      {"a whole free core beats the spare thread of core 0", t, {0}, {}, req(2), r(2, 3), {}},
      {"spare thread used only for the remainder once whole cores run out", t,
       r(0, 12), {}, req(3), r(13, 15), {}},
      {"whole core over a spare thread", t, r(0, 12), {}, req(2), r(14, 15), {}},
      {"two half-used cores are skipped for whole ones", t, {0, 3}, {}, req(4), r(4, 7), {}},
      {"no whole core in the fitting domain: spare threads", t,
       std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14}, {}, req(2), std::vector<int>{1, 3}, {}},
      {"whole second domain", t, r(0, 15), {}, req(16), r(16, 31), {}},
      {"all 32 threads", t, {}, {}, req(32), r(0, 31), {}},
  });
}

TEST(Placement, BestFitNumaOnAsymmetricNode) {
  // NUMA 0 = PUs 0-15 (8 cores), NUMA 1 = PUs 16-23 (4 cores).
  const char* t = "asym-12core.xml";
  run({
      {"small job goes to the small domain", t, {}, {}, req(6), r(16, 21), {}},
      {"exactly the small domain", t, {}, {}, req(8), r(16, 23), {}},
      {"too big for the small domain", t, {}, {}, req(9), r(0, 8), {}},
      {"the big domain", t, {}, {}, req(16), r(0, 15), {}},
      {"spill: big domain first", t, {}, {}, req(17), r(0, 16), {}},
      {"small domain full", t, r(16, 23), {}, req(4), r(0, 3), {}},
      {"best fit moves to the big domain once it is fuller", t, r(0, 11), {}, req(4),
       r(12, 15), {}},
      {"everything", t, {}, {}, req(24), r(0, 23), {}},
      {"too much", t, {}, {}, req(25), kNone, {}},
  });
}

TEST(Placement, MemoryPerNumaDomainOnAsymmetricNode) {
  // NUMA 0 = PUs 0-15 with 64 GiB, NUMA 1 = PUs 16-23 with 32 GiB.
  const char* t = "asym-12core.xml";
  const std::int64_t gib = 1024;
  run({
      {"memory fits the small domain", t, {}, {}, req(6, 0, 32 * gib), r(16, 21), {}},
      {"memory too big for the small domain: the big one", t, {}, {}, req(6, 0, 40 * gib), r(0, 5), {}},
      {"too big for any domain: best fit by PUs", t, {}, {}, req(6, 0, 70 * gib), r(16, 21), {}},
      {"the big domain is full: the small one", t, r(0, 15), {}, req(6, 0, 40 * gib), r(16, 21), {}},
  });
}

TEST(Placement, MemoryOtherJobsHoldInANumaDomainCounts) {
  // NUMA 1 (PUs 16-23, 32 GiB) holds a job on PUs 16-17 with 20 GiB: 12 GiB left.
  const NodeTopology& t = topology("asym-12core.xml");
  const std::int64_t gib = 1024;
  Node n = make_node(t, r(16, 17), {}, 20 * gib);
  n.numa_memory_used_mib = {0, 20 * gib};
  // Best fit by PUs is NUMA 1's 6 free PUs; with 16 GiB its memory would not be local.
  auto p = place_on_node(n, req(6, 0, 16 * gib));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cpus, r(0, 5));
  // 12 GiB still fits there.
  p = place_on_node(n, req(6, 0, 12 * gib));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cpus, r(18, 23));
  // Not counted (a node record without it): as before, by size alone.
  n.numa_memory_used_mib.clear();
  p = place_on_node(n, req(6, 0, 16 * gib));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->cpus, r(18, 23));
}

TEST(Placement, PackageBeforeNodeOnFourDomainNode) {
  // 8 PUs per domain; domains 0-1 in package 0 (PUs 0-15), 2-3 in package 1.
  const char* t = "4numa-8gpu.xml";
  run({
      {"one domain", t, {}, {}, req(8), r(0, 7), {}},
      {"two domains of one package", t, {}, {}, req(12), r(0, 11), {}},
      {"fullest package that fits, emptiest domain in it first", t, r(0, 3), {}, req(12),
       r(4, 15), {}},
      {"package 0 too small now", t, r(0, 3), {}, req(13), r(16, 28), {}},
      {"no package fits: emptiest domains first", t, r(0, 3), {}, req(20), r(8, 27), {}},
  });
}

TEST(Placement, GpuJobsSitNextToTheirGpus) {
  // GPUs 0-1 local to PUs 0-7 (NUMA 0), GPUs 2-3 to PUs 8-15 (NUMA 1); SMT pairs.
  const char* t = "2pkg-4gpu.xml";
  run({
      {"first GPU job", t, {}, {}, req(4, 1), r(0, 3), {0}},
      {"GPUs 0-1 taken: GPU 2 and its PUs", t, {}, {0, 1}, req(4, 1), r(8, 11), {2}},
      {"best fit keeps a whole pair free", t, {}, {0}, req(4, 1), r(0, 3), {1}},
      {"a pair from one domain", t, {}, {0}, req(4, 2), r(8, 11), {2, 3}},
      {"first pair", t, {}, {}, req(2, 2), r(0, 1), {0, 1}},
      {"domain with the GPU but no PUs is passed over", t, r(0, 7), {0}, req(2, 1), r(8, 9),
       {2}},
      {"too few PUs beside the GPU: the other domain", t, r(0, 5), {0}, req(4, 1), r(8, 11),
       {2}},
      {"three GPUs span both packages", t, {}, {}, req(4, 3), r(0, 3), {0, 1, 2}},
      {"more PUs than the GPU's domain: local ones first", t, {}, {}, req(12, 1), r(0, 11),
       {0}},
      {"only far GPUs have room: local PUs, then the rest", t, r(0, 5), {2, 3}, req(4, 1),
       std::vector<int>{6, 7, 8, 9}, {0}},
      {"all four", t, {}, {}, req(16, 4), r(0, 15), {0, 1, 2, 3}},
      {"five GPUs", t, {}, {}, req(1, 5), kNone, {}},
      {"no GPU free", t, {}, {0, 1, 2, 3}, req(1, 1), kNone, {}},
      {"GPU free but no PU", t, r(0, 15), {}, req(1, 1), kNone, {}},
  });
}

TEST(Placement, GpuJobsOnFourDomainNode) {
  // GPUs 2d and 2d+1 are local to PUs 8d..8d+7; domains 0-1 in package 0.
  const char* t = "4numa-8gpu.xml";
  run({
      {"a pair and its domain", t, {}, {}, req(8, 2), r(0, 7), {0, 1}},
      {"best fit on GPUs", t, {}, {0}, req(2, 1), r(0, 1), {1}},
      {"a pair from the first whole domain", t, {}, {0}, req(2, 2), r(8, 9), {2, 3}},
      {"a pair from the domain that has one", t, {}, {0, 2}, req(4, 2), r(16, 19), {4, 5}},
      {"four GPUs of one package", t, {}, {}, req(16, 4), r(0, 15), {0, 1, 2, 3}},
      {"one free GPU per domain: both from one package", t, {}, {0, 2, 4, 6}, req(4, 2),
       r(0, 3), {1, 3}},
      {"six GPUs: a whole package first", t, {}, {}, req(4, 6), r(0, 3),
       {0, 1, 2, 3, 4, 5}},
  });
}

TEST(Placement, GpuWithoutNumaAffinity) {
  // GPU 4 hangs off the machine root; GPUs 0-1 local to package 0, 2-3 to package 1.
  const char* t = "2pkg-pci-gpus.xml";
  run({
      {"everything else taken", t, {}, {0, 1, 2, 3}, req(2, 1), r(0, 1), {4}},
      {"a pair from package 0", t, {}, {}, req(2, 2), r(0, 1), {0, 1}},
      {"a pair from package 1", t, {}, {0}, req(2, 2), r(8, 9), {2, 3}},
  });
}

TEST(Placement, Memory) {
  const auto& smt = topology("2pkg-16core-smt.xml");  // 128 GiB
  EXPECT_TRUE(place_on_node(make_node(smt), req(1, 0, 128 * 1024)));
  EXPECT_FALSE(place_on_node(make_node(smt), req(1, 0, 128 * 1024 + 1)));
  EXPECT_TRUE(place_on_node(make_node(smt, {}, {}, 100'000), req(1, 0, 131'072 - 100'000)));
  EXPECT_FALSE(place_on_node(make_node(smt, {}, {}, 100'000), req(1, 0, 131'073 - 100'000)));
  EXPECT_FALSE(place_on_node(make_node(smt, {}, {}, 128 * 1024), req(1, 0, 1)));
  EXPECT_TRUE(place_on_node(make_node(smt, {}, {}, 128 * 1024), req(1, 0, 0)))
      << "a job asking no memory fits a node whose memory is all reserved";

  // 2pkg-4gpu.xml records no memory at all: only memory-less requests fit.
  const auto& gpu = topology("2pkg-4gpu.xml");
  EXPECT_TRUE(place_on_node(make_node(gpu), req(1, 1, 0)));
  EXPECT_FALSE(place_on_node(make_node(gpu), req(1, 1, 1)));
}

TEST(Placement, InvalidRequestsNeverFit) {
  const auto& t = topology("2pkg-4gpu.xml");
  EXPECT_FALSE(place_on_node(make_node(t), req(0)));
  EXPECT_FALSE(place_on_node(make_node(t), req(-1)));
  EXPECT_FALSE(place_on_node(make_node(t), req(1, -1)));
  EXPECT_FALSE(place_on_node(make_node(t), req(1, 0, -1)));
  EXPECT_FALSE(could_ever_fit(t, req(0)));
  EXPECT_FALSE(could_ever_fit(t, req(1, -1)));
  EXPECT_FALSE(could_ever_fit(t, req(1, 0, -1)));
}

TEST(Placement, UsedVectorsLongerThanTheTopologyAreHarmless) {
  Node n = make_node(topology("2pkg-16core-nosmt.xml"), {}, {});
  n.pu_used.assign(64, false);
  n.pu_used[0] = true;
  n.gpu_used.assign(4, true);
  auto plan = place_on_node(n, req(2));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->cpus, r(1, 2));
}

TEST(Placement, CouldEverFit) {
  const auto& smt = topology("2pkg-16core-smt.xml");
  const auto& gpu = topology("2pkg-4gpu.xml");
  EXPECT_TRUE(could_ever_fit(smt, req(32, 0, 128 * 1024)));
  EXPECT_FALSE(could_ever_fit(smt, req(33)));
  EXPECT_FALSE(could_ever_fit(smt, req(1, 0, 128 * 1024 + 1)));
  EXPECT_FALSE(could_ever_fit(smt, req(1, 1)));
  EXPECT_TRUE(could_ever_fit(gpu, req(16, 4)));
  EXPECT_FALSE(could_ever_fit(gpu, req(1, 5)));
  EXPECT_FALSE(could_ever_fit(gpu, req(1, 0, 1)));
  // Totals only: a full node can still ever fit.
  Node full = make_node(smt, r(0, 31), {}, 128 * 1024);
  EXPECT_FALSE(place_on_node(full, req(1)));
  EXPECT_TRUE(could_ever_fit(full.topology, req(1)));
}

TEST(NodeAccounting, FreeCountsAndStateNames) {
  const auto& t = topology("2pkg-4gpu.xml");
  Node n = make_node(t);
  EXPECT_EQ(n.pus_free(), 16);
  EXPECT_EQ(n.gpus_free(), 4);
  n = make_node(t, {0, 1, 15}, {3});
  EXPECT_EQ(n.pus_total(), 16);
  EXPECT_EQ(n.pus_free(), 13);
  EXPECT_EQ(n.gpus_free(), 3);
  EXPECT_STREQ(to_string(NodeState::Up), "UP");
  EXPECT_STREQ(to_string(NodeState::Down), "DOWN");
  EXPECT_STREQ(to_string(NodeState::Drain), "DRAIN");
}

// Random jobs start and end on every topology. Each plan must use only free,
// existing PUs and GPUs, exactly as many as asked, sorted; and a request is
// refused only when the node's free totals really cannot hold it (placement
// falls back to spreading rather than refusing).
TEST(Placement, RandomJobsNeverOverlapOrOverrun) {
  struct Running {
    PlacementPlan plan;
    std::int64_t memory;
  };
  for (const char* name : {"2pkg-4gpu.xml", "2pkg-16core-smt.xml", "2pkg-16core-nosmt.xml",
                           "4numa-8gpu.xml", "asym-12core.xml", "2pkg-pci-gpus.xml",
                           "1pkg-4pu-nocore.xml"}) {
    SCOPED_TRACE(name);
    const NodeTopology& t = topology(name);
    ASSERT_GT(t.pu_count(), 0);
    std::vector<bool> exists;
    for (const auto& c : t.cores) {
      for (int pu : c.pus) {
        if (static_cast<std::size_t>(pu) >= exists.size()) exists.resize(pu + 1, false);
        exists[pu] = true;
      }
    }
    Node node = make_node(t);
    node.pu_used.assign(exists.size(), false);
    node.gpu_used.assign(t.gpus.size(), false);
    std::vector<Running> running;
    std::mt19937 rng(12345);
    int placed = 0;
    for (int step = 0; step < 3000; ++step) {
      if (!running.empty() && rng() % 3 == 0) {
        std::size_t k = rng() % running.size();
        for (int pu : running[k].plan.cpus) node.pu_used[pu] = false;
        for (int g : running[k].plan.gpus) node.gpu_used[g] = false;
        node.memory_used_mib -= running[k].memory;
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
        continue;
      }
      Resources rq = req(1 + static_cast<int>(rng() % std::max(1, t.pu_count() / 2)),
                         t.gpus.empty() ? 0 : static_cast<int>(rng() % 3),
                         t.memory_mib > 0 ? static_cast<std::int64_t>(rng() % 4) * 8192 : 0);
      auto plan = place_on_node(node, rq);
      bool fits = rq.vcpus <= node.pus_free() && rq.gpus <= node.gpus_free() &&
                  rq.memory_mib <= node.memory_free_mib();
      ASSERT_EQ(static_cast<bool>(plan), fits)
          << "step " << step << ": " << rq.vcpus << " vCPUs, " << rq.gpus << " GPUs, "
          << rq.memory_mib << " MiB; free " << node.pus_free() << " PUs, "
          << node.gpus_free() << " GPUs";
      if (!plan) continue;
      ASSERT_EQ(static_cast<int>(plan->cpus.size()), rq.vcpus);
      ASSERT_EQ(static_cast<int>(plan->gpus.size()), rq.gpus);
      ASSERT_TRUE(std::is_sorted(plan->cpus.begin(), plan->cpus.end()));
      ASSERT_TRUE(std::is_sorted(plan->gpus.begin(), plan->gpus.end()));
      for (int pu : plan->cpus) {
        ASSERT_TRUE(pu >= 0 && static_cast<std::size_t>(pu) < exists.size() && exists[pu]);
        ASSERT_FALSE(node.pu_used[pu]) << "PU " << pu << " given twice";
        node.pu_used[pu] = true;
      }
      for (int g : plan->gpus) {
        ASSERT_TRUE(g >= 0 && g < static_cast<int>(t.gpus.size()));
        ASSERT_FALSE(node.gpu_used[g]) << "GPU " << g << " given twice";
        node.gpu_used[g] = true;
      }
      node.memory_used_mib += rq.memory_mib;
      ASSERT_LE(node.memory_used_mib, t.memory_mib);
      running.push_back({*plan, rq.memory_mib});
      ++placed;
    }
    EXPECT_GT(placed, 100) << "the loop should exercise placement, not only refusals";
  }
}

}  // namespace
}  // namespace drover::place
