// memory_nodes(): the NUMA nodes a placed job's memory is bound to (the agent
// writes them to its cpuset.mems), over the checked-in topologies.
#include "place/memory_nodes.hpp"

#include <gtest/gtest.h>

#include "topology_test_support.hpp"

namespace drover::place {
namespace {

constexpr std::int64_t kGiB = 1024;

const auto load = &drover::testing::hwloc_topology;
const auto r = &drover::testing::range;

using V = std::vector<int>;

// 2 packages x 2 NUMA nodes of 32 GiB; NUMA i holds PUs 8i..8i+7.
TEST(MemoryNodes, TheNumaNodesOfTheJobsPus) {
  const NodeTopology t = load("4numa-8gpu.xml");
  ASSERT_EQ(t.numa.size(), 4u);
  EXPECT_EQ(memory_nodes(t, r(0, 3), 0), V{0});
  EXPECT_EQ(memory_nodes(t, r(24, 31), 16 * kGiB), V{3});
  EXPECT_EQ(memory_nodes(t, {8, 9, 16}, 0), (V{1, 2}));
  EXPECT_EQ(memory_nodes(t, r(0, 31), 0), (V{0, 1, 2, 3}));
}

TEST(MemoryNodes, MoreNodesWhenTheJobsMemoryDoesNotFitSamePackageFirst) {
  const NodeTopology t = load("4numa-8gpu.xml");
  EXPECT_EQ(memory_nodes(t, r(0, 3), 32 * kGiB), V{0});  // exactly fits
  EXPECT_EQ(memory_nodes(t, r(0, 3), 40 * kGiB), (V{0, 1}));
  EXPECT_EQ(memory_nodes(t, r(24, 31), 40 * kGiB), (V{2, 3}));
  EXPECT_EQ(memory_nodes(t, r(24, 31), 70 * kGiB), (V{0, 2, 3}));
  EXPECT_EQ(memory_nodes(t, r(0, 3), 1000 * kGiB), (V{0, 1, 2, 3}));
}

TEST(MemoryNodes, DomainsOfDifferentSizes) {
  const NodeTopology t = load("asym-12core.xml");  // NUMA 0: PUs 0-15, 64 GiB; NUMA 1: PUs 16-23, 32 GiB
  EXPECT_EQ(memory_nodes(t, r(16, 23), 32 * kGiB), V{1});
  EXPECT_EQ(memory_nodes(t, r(16, 23), 33 * kGiB), (V{0, 1}));
  EXPECT_EQ(memory_nodes(t, r(0, 7), 64 * kGiB), V{0});
}

TEST(MemoryNodes, WithoutMemorySizesTheJobStaysOnItsNodes) {
  const NodeTopology t = load("2pkg-4gpu.xml");  // no NUMA memory recorded
  ASSERT_EQ(t.numa.size(), 2u);
  EXPECT_EQ(memory_nodes(t, r(8, 11), 100 * kGiB), V{1});
}

TEST(MemoryNodes, NoCpusOrUnknownOnesMeanNoBinding) {
  const NodeTopology t = load("4numa-8gpu.xml");
  EXPECT_EQ(memory_nodes(t, {}, 0), V{});
  EXPECT_EQ(memory_nodes(t, {99}, 0), V{});
  EXPECT_EQ(memory_nodes(NodeTopology{}, {0}, 0), V{});
}

// Memory other jobs hold counts: a domain offers what it has left.
TEST(MemoryNodes, OtherJobsMemoryLeavesLessInADomain) {
  const NodeTopology t = load("4numa-8gpu.xml");  // 32 GiB per NUMA node; 0,1 in package 0
  using U = std::vector<std::int64_t>;
  // 20 GiB of NUMA 0 held: a 16 GiB job on NUMA 0's PUs also gets NUMA 1 (same package).
  EXPECT_EQ(memory_nodes(t, r(0, 3), 16 * kGiB, U{20 * kGiB}), (V{0, 1}));
  // 12 GiB left: a 12 GiB job still fits alone.
  EXPECT_EQ(memory_nodes(t, r(0, 3), 12 * kGiB, U{20 * kGiB}), V{0});
  // NUMA 1 full as well: the next domain that has room, outside the package.
  EXPECT_EQ(memory_nodes(t, r(0, 3), 16 * kGiB, U{20 * kGiB, 32 * kGiB}), (V{0, 2}));
  // A full domain of its own PUs stays (the job runs there), others are added.
  EXPECT_EQ(memory_nodes(t, r(0, 3), 1 * kGiB, U{32 * kGiB}), (V{0, 1}));
  // Nothing used: as without the argument.
  EXPECT_EQ(memory_nodes(t, r(0, 3), 40 * kGiB, U{0, 0, 0, 0}), (V{0, 1}));
}

TEST(MemoryShare, OwnDomainsFirstEvenlyThenTheOthers) {
  const NodeTopology t = load("4numa-8gpu.xml");
  using U = std::vector<std::int64_t>;
  EXPECT_EQ(memory_share(t, r(0, 3), V{0}, 10 * kGiB), (U{10 * kGiB, 0, 0, 0}));
  // PUs on NUMA 0 and 1: half each (an odd MiB to the first).
  EXPECT_EQ(memory_share(t, {0, 8}, V{0, 1}, 10 * kGiB + 1), (U{5 * kGiB + 1, 5 * kGiB, 0, 0}));
  // Widened: its own domain as far as it goes, then the other.
  EXPECT_EQ(memory_share(t, r(0, 3), V{0, 1}, 40 * kGiB), (U{32 * kGiB, 8 * kGiB, 0, 0}));
  EXPECT_EQ(memory_share(t, r(0, 3), V{0, 1}, 16 * kGiB, U{20 * kGiB}), (U{12 * kGiB, 4 * kGiB, 0, 0}));
  // Own domains unequally full: the fuller gives its part to the other.
  EXPECT_EQ(memory_share(t, {0, 8}, V{0, 1}, 20 * kGiB, U{28 * kGiB}), (U{4 * kGiB, 16 * kGiB, 0, 0}));
  // More than the node has left: the rest is counted on its first domain.
  EXPECT_EQ(memory_share(t, r(0, 3), V{0}, 40 * kGiB, U{30 * kGiB}), (U{2 * kGiB + 38 * kGiB, 0, 0, 0}));
  // Not bound, or sizes not recorded: nothing counted.
  EXPECT_EQ(memory_share(t, r(0, 3), V{}, kGiB), U{});
  EXPECT_EQ(memory_share(load("2pkg-4gpu.xml"), r(8, 11), V{1}, kGiB), U{});
}

// Two jobs that each fit NUMA 0 alone, one after the other on its PUs: the
// second one's memory is widened by what the first holds there.
TEST(MemoryShare, TwoJobsOnOneDomainDoNotOvercommitIt) {
  const NodeTopology t = load("asym-12core.xml");  // NUMA 0: PUs 0-15, 64 GiB; NUMA 1: 32 GiB
  const auto first_mems = memory_nodes(t, r(0, 3), 40 * kGiB);
  EXPECT_EQ(first_mems, V{0});
  const auto used = memory_share(t, r(0, 3), first_mems, 40 * kGiB);
  EXPECT_EQ(used, (std::vector<std::int64_t>{40 * kGiB, 0}));
  const auto second_mems = memory_nodes(t, r(4, 7), 40 * kGiB, used);
  EXPECT_EQ(second_mems, (V{0, 1}));
  EXPECT_EQ(memory_share(t, r(4, 7), second_mems, 40 * kGiB, used), (std::vector<std::int64_t>{24 * kGiB, 16 * kGiB}));
}

}  // namespace
}  // namespace drover::place
