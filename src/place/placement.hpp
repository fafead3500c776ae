// Where on one node a job's vCPUs and GPUs go. Pure: a node (its topology and
// what is in use) and a request in, a plan out; no hwloc, no I/O.
#pragma once

#include <optional>
#include <vector>

#include "core/node.hpp"
#include "core/resources.hpp"

namespace drover::place {

struct PlacementPlan {
  std::vector<int> cpus;  // PU OS indexes, ascending
  std::vector<int> gpus;  // Gpu::index values, ascending
};

// Compact placement: GPUs first (the free GPUs that share a NUMA domain, then the
// nearest others), then PUs nearest those GPUs; without GPUs, the NUMA domain
// that fits the job best (fewest free PUs left over), whole cores before spare
// hardware threads of another core. nullopt when the node cannot fit the request
// now (PUs, GPUs or memory).
std::optional<PlacementPlan> place_on_node(const Node& node, const Resources& request);

// Whether the node could ever run the request (its totals, ignoring use).
bool could_ever_fit(const NodeTopology& topology, const Resources& request);

}  // namespace drover::place
