// Where on one node a job's vCPUs and GPUs go. Pure: a node (its topology and
// what is in use) and a request in, a plan out; no hwloc, no I/O.
#pragma once

#include <optional>
#include <vector>

#include "core/node.hpp"
#include "core/resources.hpp"
#include "place/task_placement.hpp"

namespace drover::place {

struct PlacementPlan {
  std::vector<int> cpus;  // PU OS indexes, ascending
  std::vector<int> gpus;  // Gpu::index values, ascending
  // Each task's share of cpus and gpus (place_tasks), when asked with a
  // TaskRequest; empty otherwise (the scheduler needs only the node's share).
  std::vector<TaskPlacement> tasks;
};

// Compact placement: GPUs first (the free GPUs that share a NUMA domain, then the
// nearest others), then PUs nearest those GPUs; without GPUs, the NUMA domain
// that fits the job best (fewest free PUs left over), whole cores before spare
// hardware threads of another core. nullopt when the node cannot fit the request
// now (PUs, GPUs or memory).
std::optional<PlacementPlan> place_on_node(const Node& node, const Resources& request);
// The same, and the plan split among the node's tasks; nullopt also when the
// plan cannot hold them (request.vcpus below tasks x cpus_per_task).
std::optional<PlacementPlan> place_on_node(const Node& node, const Resources& request, const TaskRequest& tasks);

// What of a node is in use: the node's own record, or a scheduler pass's working
// copy of it (so that a pass need not copy the node's topology).
struct NodeUse {
  const std::vector<bool>& pu_used;   // by PU OS index; missing entries are free
  const std::vector<bool>& gpu_used;  // by Gpu::index
  std::int64_t memory_used_mib = 0;
  // By NUMA domain (Node::numa_memory_used_mib); null: none counted.
  const std::vector<std::int64_t>* numa_memory_used_mib = nullptr;
};
std::optional<PlacementPlan> place_on_node(const NodeTopology& topology, const NodeUse& use,
                                           const Resources& request);

// Whether the node could ever run the request (its totals, ignoring use).
bool could_ever_fit(const NodeTopology& topology, const Resources& request);

}  // namespace drover::place
