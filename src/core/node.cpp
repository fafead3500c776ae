#include "core/node.hpp"

#include <algorithm>
#include <cstddef>

namespace drover {

// Counted over the topology, not over pu_used/gpu_used, because those may be
// shorter than the topology (missing entries are free) or still sized for an
// older topology after a node came back with different hardware.
int Node::pus_free() const {
  int n = 0;
  for (const auto& c : topology.cores) {
    for (int pu : c.pus) {
      auto i = static_cast<std::size_t>(pu);
      if (pu >= 0 && (i >= pu_used.size() || !pu_used[i])) ++n;
    }
  }
  return n;
}

int Node::gpus_free() const {
  int n = 0;
  for (const auto& g : topology.gpus) {
    auto i = static_cast<std::size_t>(g.index);
    if (g.index >= 0 && (i >= gpu_used.size() || !gpu_used[i])) ++n;
  }
  return n;
}

std::vector<std::int64_t> local_memory_by_domain(const NodeTopology& topology, const std::vector<int>& cpus,
                                                 std::int64_t memory_mib) {
  std::vector<std::size_t> own;
  for (std::size_t i = 0; i < topology.numa.size(); ++i)
    for (int pu : topology.numa[i].pus)
      if (std::find(cpus.begin(), cpus.end(), pu) != cpus.end()) {
        own.push_back(i);
        break;
      }
  if (own.empty()) return {};
  std::vector<std::int64_t> share(topology.numa.size(), 0);
  const auto n = static_cast<std::int64_t>(own.size());
  for (std::size_t k = 0; k < own.size(); ++k)
    share[own[k]] = memory_mib / n + (k == 0 ? memory_mib % n : 0);
  return share;
}

void add_memory_by_domain(std::vector<std::int64_t>& used, const std::vector<std::int64_t>& share, int sign) {
  if (used.size() < share.size()) used.resize(share.size(), 0);
  for (std::size_t i = 0; i < share.size(); ++i) used[i] = std::max<std::int64_t>(0, used[i] + sign * share[i]);
}

const char* to_string(NodeState s) {
  switch (s) {
    case NodeState::Up: return "UP";
    case NodeState::Down: return "DOWN";
    case NodeState::Drain: return "DRAIN";
  }
  return "UNKNOWN";
}

}  // namespace drover
