// Which NUMA nodes' memory a placed job uses: those of its PUs, so that its
// memory is local (the agent writes them to the job's cpuset.mems). Pure.
#pragma once

#include <cstdint>
#include <vector>

#include "core/topology.hpp"

namespace drover::place {

// NUMA node OS indexes, ascending: every domain that holds one of `cpus` (PU OS
// indexes). When the topology records each domain's memory and those domains
// together hold less than memory_mib, the nearest other domains are added
// (same package first, then in index order) until the job's memory fits, so
// that binding memory never makes a job run out of it. Empty when `cpus` is
// empty or lies in no domain: no binding (the node's whole memory).
std::vector<int> memory_nodes(const NodeTopology& topology, const std::vector<int>& cpus,
                              std::int64_t memory_mib);

}  // namespace drover::place
