#include "core/node.hpp"

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

const char* to_string(NodeState s) {
  switch (s) {
    case NodeState::Up: return "UP";
    case NodeState::Down: return "DOWN";
    case NodeState::Drain: return "DRAIN";
  }
  return "UNKNOWN";
}

}  // namespace drover
