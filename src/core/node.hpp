// A compute node as the head knows it: its hardware and what is in use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/topology.hpp"

namespace drover {

enum class NodeState { Up, Down, Drain };

struct Node {
  std::string name;
  NodeTopology topology;
  NodeState state = NodeState::Down;
  std::string state_reason;
  bool admin_state = false;  // drained or downed by an admin: stays so until resumed
  bool connected = false;
  std::int64_t last_seen = 0;  // epoch ms
  // Node features (--constraint matches them), sorted: what the agent reports
  // (its --features or config file), unless an admin set them with `drover
  // nodes update NODE --features`; both persisted.
  std::vector<std::string> agent_features;
  std::optional<std::vector<std::string>> admin_features;
  // Allocation, derived from the jobs placed on the node (never persisted).
  std::vector<bool> pu_used;   // by PU OS index
  std::vector<bool> gpu_used;  // by Gpu::index
  std::int64_t memory_used_mib = 0;
  // The same memory by NUMA domain (index into topology.numa), each job's
  // counted over its own PUs' domains (local_memory_by_domain).
  std::vector<std::int64_t> numa_memory_used_mib;
  int jobs_running = 0;

  const std::vector<std::string>& features() const { return admin_features ? *admin_features : agent_features; }
  int pus_total() const { return topology.pu_count(); }
  int pus_free() const;
  int gpus_free() const;
  std::int64_t memory_free_mib() const { return topology.memory_mib - memory_used_mib; }
};

// used[i] += sign * share[i] (never below 0), used grown to share's size.
void add_memory_by_domain(std::vector<std::int64_t>& used, const std::vector<std::int64_t>& share, int sign);

const char* to_string(NodeState s);

}  // namespace drover
