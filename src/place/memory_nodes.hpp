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
//
// used_by_domain (by index into topology.numa; missing entries 0): memory other
// jobs already hold in each domain (memory_share of each). Then a domain counts
// for what it has left, not its size: two jobs that each fit a domain alone but
// not together get the second one's memory widened, instead of an out-of-memory
// kill inside its cpuset while the node has memory to spare.
std::vector<int> memory_nodes(const NodeTopology& topology, const std::vector<int>& cpus,
                              std::int64_t memory_mib, const std::vector<std::int64_t>& used_by_domain = {});

// Where a job bound to `mems` (memory_nodes' answer) is counted to hold its
// memory, by index into topology.numa: the domains of its PUs first, evenly,
// each up to what it has left; then its other domains in index order; what no
// domain has room for goes to the first of its own. Empty when the topology
// does not record every domain's memory or the job is not bound.
std::vector<std::int64_t> memory_share(const NodeTopology& topology, const std::vector<int>& cpus,
                                       const std::vector<int>& mems, std::int64_t memory_mib,
                                       const std::vector<std::int64_t>& used_by_domain = {});

}  // namespace drover::place
