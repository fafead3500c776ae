// memory_nodes(): the NUMA nodes a placed job's memory is bound to (the agent
// writes them to its cpuset.mems), over the checked-in topologies.
#include "place/memory_nodes.hpp"

#include <gtest/gtest.h>

#include "place/discovery.hpp"

namespace drover::place {
namespace {

constexpr std::int64_t kGiB = 1024;

NodeTopology load(const std::string& name) {
  auto t = discover_topology(std::string(DROVER_TEST_DATA) + "/hwloc/" + name);
  if (!t) ADD_FAILURE() << t.message();
  return t ? *t : NodeTopology{};
}

std::vector<int> r(int first, int last) {
  std::vector<int> v;
  for (int i = first; i <= last; ++i) v.push_back(i);
  return v;
}

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

}  // namespace
}  // namespace drover::place
