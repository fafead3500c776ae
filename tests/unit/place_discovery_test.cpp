// discover_topology() over the checked-in hwloc XML files (tests/data/hwloc,
// described in its README). The host's own topology is never asserted on.
#include "place/discovery.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

namespace drover::place {
namespace {

std::string data(const std::string& name) {
  return std::string(DROVER_TEST_DATA) + "/hwloc/" + name;
}

NodeTopology load(const std::string& name) {
  auto r = discover_topology(data(name));
  if (!r) {
    ADD_FAILURE() << name << ": " << r.message();
    return {};
  }
  return std::move(r).value();
}

std::vector<int> range(int first, int count) {
  std::vector<int> v(static_cast<std::size_t>(count));
  std::iota(v.begin(), v.end(), first);
  return v;
}

std::vector<std::string> bus_ids(const NodeTopology& t) {
  std::vector<std::string> ids;
  for (const auto& g : t.gpus) ids.push_back(g.pci_bus_id);
  return ids;
}

// Every core's PUs lie in the NUMA domain it names, and every PU is in exactly
// one core: the invariants placement relies on.
void expect_consistent(const NodeTopology& t) {
  std::vector<int> seen;
  for (const auto& c : t.cores) {
    ASSERT_FALSE(c.pus.empty());
    ASSERT_GE(c.numa, 0);
    ASSERT_LT(c.numa, static_cast<int>(t.numa.size()));
    ASSERT_GE(c.package, 0);
    ASSERT_LT(c.package, t.packages);
    const auto& dpus = t.numa[c.numa].pus;
    for (int pu : c.pus) {
      EXPECT_NE(std::find(dpus.begin(), dpus.end(), pu), dpus.end()) << "PU " << pu;
      seen.push_back(pu);
    }
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a PU in two cores";
  for (std::size_t i = 0; i < t.gpus.size(); ++i) {
    EXPECT_EQ(t.gpus[i].index, static_cast<int>(i));
    if (i > 0) {
      EXPECT_LT(t.gpus[i - 1].pci_bus_id, t.gpus[i].pci_bus_id);
    }
  }
}

TEST(Discovery, TwoPackagesFourGpus) {
  auto t = load("2pkg-4gpu.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 2);
  ASSERT_EQ(t.numa.size(), 2u);
  EXPECT_EQ(t.numa[0].os_index, 0);
  EXPECT_EQ(t.numa[1].os_index, 1);
  EXPECT_EQ(t.numa[0].pus, range(0, 8));
  EXPECT_EQ(t.numa[1].pus, range(8, 8));
  ASSERT_EQ(t.cores.size(), 8u);
  EXPECT_EQ(t.pu_count(), 16);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(t.cores[i].pus, (std::vector<int>{2 * i, 2 * i + 1}));
    EXPECT_EQ(t.cores[i].package, i / 4);
    EXPECT_EQ(t.cores[i].numa, i / 4);
  }
  // The file carries no memory sizes: nothing to report, nothing invented.
  EXPECT_EQ(t.memory_mib, 0);

  // cuda and nvml OS devices under one PCI device are one GPU.
  ASSERT_EQ(t.gpus.size(), 4u);
  EXPECT_EQ(bus_ids(t), (std::vector<std::string>{"0000:41:00.0", "0000:42:00.0",
                                                   "0000:81:00.0", "0000:82:00.0"}));
  for (int i = 0; i < 4; ++i) {
    const Gpu& g = t.gpus[i];
    EXPECT_EQ(g.vendor, "nvidia");
    EXPECT_EQ(g.name, "NVIDIA A100-SXM4-40GB (fake)");
    EXPECT_EQ(g.numa, i / 2);
    EXPECT_EQ(g.local_pus, range(i < 2 ? 0 : 8, 8));
  }
}

TEST(Discovery, SmtNode) {
  auto t = load("2pkg-16core-smt.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 2);
  ASSERT_EQ(t.numa.size(), 2u);
  EXPECT_EQ(t.numa[0].memory_mib, 64 * 1024);
  EXPECT_EQ(t.numa[1].memory_mib, 64 * 1024);
  EXPECT_EQ(t.numa[0].pus, range(0, 16));
  EXPECT_EQ(t.numa[1].pus, range(16, 16));
  EXPECT_EQ(t.memory_mib, 128 * 1024);
  ASSERT_EQ(t.cores.size(), 16u);
  EXPECT_EQ(t.pu_count(), 32);
  EXPECT_EQ(t.cores[9].pus, (std::vector<int>{18, 19}));
  EXPECT_EQ(t.cores[9].package, 1);
  EXPECT_EQ(t.cores[9].numa, 1);
  EXPECT_TRUE(t.gpus.empty());
}

TEST(Discovery, NoSmtNode) {
  auto t = load("2pkg-16core-nosmt.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 2);
  ASSERT_EQ(t.numa.size(), 2u);
  ASSERT_EQ(t.cores.size(), 16u);
  EXPECT_EQ(t.pu_count(), 16);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(t.cores[i].pus, std::vector<int>{i});
    EXPECT_EQ(t.cores[i].package, i / 8);
    EXPECT_EQ(t.cores[i].numa, i / 8);
  }
  EXPECT_EQ(t.memory_mib, 128 * 1024);
  EXPECT_TRUE(t.gpus.empty());
}

TEST(Discovery, AsymmetricNode) {
  auto t = load("asym-12core.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 2);
  ASSERT_EQ(t.numa.size(), 2u);
  EXPECT_EQ(t.numa[0].pus, range(0, 16));
  EXPECT_EQ(t.numa[1].pus, range(16, 8));
  EXPECT_EQ(t.numa[0].memory_mib, 64 * 1024);
  EXPECT_EQ(t.numa[1].memory_mib, 32 * 1024);
  EXPECT_EQ(t.memory_mib, 96 * 1024);
  ASSERT_EQ(t.cores.size(), 12u);
  EXPECT_EQ(t.pu_count(), 24);
  EXPECT_EQ(t.cores[7].package, 0);
  EXPECT_EQ(t.cores[8].package, 1);
  EXPECT_EQ(t.cores[8].numa, 1);
  EXPECT_EQ(t.cores[11].pus, (std::vector<int>{22, 23}));
}

TEST(Discovery, FourNumaEightGpus) {
  auto t = load("4numa-8gpu.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 2);
  ASSERT_EQ(t.numa.size(), 4u);
  for (int d = 0; d < 4; ++d) {
    EXPECT_EQ(t.numa[d].os_index, d);
    EXPECT_EQ(t.numa[d].pus, range(8 * d, 8));
    EXPECT_EQ(t.numa[d].memory_mib, 32 * 1024);
  }
  EXPECT_EQ(t.memory_mib, 128 * 1024);
  ASSERT_EQ(t.cores.size(), 32u);
  EXPECT_EQ(t.pu_count(), 32);
  EXPECT_EQ(t.cores[12].numa, 1);
  EXPECT_EQ(t.cores[12].package, 0);
  EXPECT_EQ(t.cores[20].numa, 2);
  EXPECT_EQ(t.cores[20].package, 1);

  // The file lists the higher bus first under each bridge: index follows the
  // PCI bus order anyway.
  ASSERT_EQ(t.gpus.size(), 8u);
  EXPECT_EQ(bus_ids(t),
            (std::vector<std::string>{"0000:07:00.0", "0000:0f:00.0", "0000:47:00.0",
                                      "0000:4e:00.0", "0000:87:00.0", "0000:90:00.0",
                                      "0000:b7:00.0", "0000:bd:00.0"}));
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(t.gpus[i].numa, i / 2) << i;
    EXPECT_EQ(t.gpus[i].local_pus, range(8 * (i / 2), 8)) << i;
    EXPECT_EQ(t.gpus[i].vendor, "nvidia");
    EXPECT_EQ(t.gpus[i].name, "NVIDIA A100-SXM4-80GB (fake)");
  }
}

// GPUs known only from PCI (Debian's hwloc has no CUDA/NVML plugins), among
// display adapters that are not GPUs: emulated ones, a BMC's VGA, an Intel
// integrated GPU, and non-display functions of a GPU vendor.
TEST(Discovery, PciOnlyGpus) {
  auto t = load("2pkg-pci-gpus.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 2);
  EXPECT_EQ(t.pu_count(), 16);
  EXPECT_EQ(t.memory_mib, 256 * 1024);
  ASSERT_EQ(t.gpus.size(), 5u);
  EXPECT_EQ(bus_ids(t), (std::vector<std::string>{"0000:17:00.0", "0000:31:00.0",
                                                   "0000:4b:00.0", "0000:ca:00.0",
                                                   "0000:e3:00.0"}));
  // H100, class 3D.
  EXPECT_EQ(t.gpus[0].vendor, "nvidia");
  EXPECT_EQ(t.gpus[0].name, "GH100 [H100 SXM5 80GB]");
  EXPECT_EQ(t.gpus[0].numa, 0);
  EXPECT_EQ(t.gpus[0].local_pus, range(0, 8));
  // NVIDIA VGA-class GPU counts.
  EXPECT_EQ(t.gpus[1].vendor, "nvidia");
  EXPECT_EQ(t.gpus[1].name, "GA102 [GeForce RTX 3090]");
  // AMD with an RSMI OS device: its model wins over the PCI name.
  EXPECT_EQ(t.gpus[2].vendor, "amd");
  EXPECT_EQ(t.gpus[2].name, "AMD Instinct MI210");
  EXPECT_EQ(t.gpus[2].numa, 1);
  EXPECT_EQ(t.gpus[2].local_pus, range(8, 8));
  // Intel display-class (data center) GPU counts; its VGA iGPU did not.
  EXPECT_EQ(t.gpus[3].vendor, "intel");
  EXPECT_EQ(t.gpus[3].numa, 1);
  // Attached to the machine root of a two-domain node: no single NUMA domain.
  EXPECT_EQ(t.gpus[4].vendor, "nvidia");
  EXPECT_EQ(t.gpus[4].name, "");
  EXPECT_EQ(t.gpus[4].numa, -1);
  EXPECT_EQ(t.gpus[4].local_pus, range(0, 16));
}

TEST(Discovery, PusWithoutCoresAreCores) {
  auto t = load("1pkg-4pu-nocore.xml");
  expect_consistent(t);
  EXPECT_EQ(t.packages, 1);
  ASSERT_EQ(t.numa.size(), 1u);
  EXPECT_EQ(t.memory_mib, 8 * 1024);
  ASSERT_EQ(t.cores.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.cores[i].pus, std::vector<int>{i});
}

TEST(Discovery, SameFileGivesSameTopology) {
  EXPECT_EQ(load("4numa-8gpu.xml"), load("4numa-8gpu.xml"));
}

TEST(Discovery, MissingFileIsAnError) {
  auto r = discover_topology(data("no-such-file.xml"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.message().rfind("cannot load hwloc XML " + data("no-such-file.xml") + ": ", 0), 0u)
      << r.message();
}

TEST(Discovery, MalformedFileIsAnError) {
  std::string path = ::testing::TempDir() + "drover-place-bad.xml";
  {
    std::ofstream f(path);
    f << "<?xml version=\"1.0\"?>\n<topology version=\"2.0\"><object type=\"Machine\"";
  }
  auto r = discover_topology(path);
  std::remove(path.c_str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.message().rfind("cannot load hwloc XML " + path + ": ", 0), 0u) << r.message();
}

// The host is whatever the test runs on: only the shape of the answer is checked.
TEST(Discovery, HostAnswersWithATopologyOrAnError) {
  auto r = discover_topology();
  if (r) {
    EXPECT_GE(r->pu_count(), 1);
    EXPECT_GE(r->packages, 1);
  } else {
    EXPECT_EQ(r.message().rfind("cannot discover node topology: ", 0), 0u) << r.message();
  }
}

}  // namespace
}  // namespace drover::place
