// A node's hardware as Drover sees it: a plain value made from hwloc at the edge
// (src/place), so the rest of the code never touches hwloc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace drover {

struct NumaDomain {
  int os_index = 0;
  std::int64_t memory_mib = 0;
  std::vector<int> pus;  // OS indexes of the PUs local to this domain
  bool operator==(const NumaDomain&) const = default;
};

struct Core {
  int package = 0;        // logical package index
  int numa = 0;           // index into NodeTopology::numa
  std::vector<int> pus;   // OS indexes of the core's hardware threads
  bool operator==(const Core&) const = default;
};

struct Gpu {
  int index = 0;             // 0..n-1 in PCI bus order: what CUDA_VISIBLE_DEVICES names
  std::string pci_bus_id;    // "0000:41:00.0"
  std::string vendor;        // "nvidia", "amd", "intel", or the PCI vendor id
  std::string name;          // model, when known
  int numa = -1;             // nearest NUMA domain index, -1 if unknown
  std::vector<int> local_pus;  // PUs hwloc says are close to the device
  bool operator==(const Gpu&) const = default;
};

struct NodeTopology {
  int packages = 0;
  std::vector<NumaDomain> numa;
  std::vector<Core> cores;   // in hwloc logical order
  std::vector<Gpu> gpus;
  std::int64_t memory_mib = 0;

  int pu_count() const {
    int n = 0;
    for (const auto& c : cores) n += static_cast<int>(c.pus.size());
    return n;
  }
  bool operator==(const NodeTopology&) const = default;
};

// How the head counts a job's memory per NUMA domain (by index into numa):
// evenly over the domains that hold its PUs (cpus, PU OS indexes), the odd MiB
// to the first. Empty when the job's PUs are in no domain. The agent's binding
// may widen a job's memory beyond them (place::memory_nodes); for choosing where
// the next job goes, its own domains are what counts.
std::vector<std::int64_t> local_memory_by_domain(const NodeTopology& topology, const std::vector<int>& cpus,
                                                 std::int64_t memory_mib);

}  // namespace drover
