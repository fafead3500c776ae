// How a job's tasks (MPI ranks) are laid out: Slurm's --distribution (sbatch
// -m). The first level says how ranks go over the job's nodes, the second how
// each node's tasks go over its sockets. Pure: a value, its text and a parser
// shared by the job-script parser and the API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace drover {

// Ranks over nodes. Block: ranks 0..k-1 on the first node, the next on the
// second... Cyclic: rank r on node r mod N (as far as each node's task count
// allows). Either way each node runs the same number of tasks.
enum class NodeDistribution : std::uint8_t { Block = 0, Cyclic = 1 };

// A node's tasks over its sockets (packages). Block: compact, task after task
// on consecutive cores. Cyclic: task t on socket t mod S, its CPUs together.
// FCyclic: every CPU of every task on the next socket in turn.
enum class CoreDistribution : std::uint8_t { Block = 0, Cyclic = 1, FCyclic = 2 };

struct TaskDistribution {
  NodeDistribution nodes = NodeDistribution::Block;
  CoreDistribution cores = CoreDistribution::Block;
  bool operator==(const TaskDistribution&) const = default;
  bool is_default() const { return *this == TaskDistribution{}; }
  // One byte for the job record: bit 0 the node level, bits 1-2 the core level.
  std::uint8_t pack() const {
    return static_cast<std::uint8_t>(static_cast<int>(nodes) | (static_cast<int>(cores) << 1));
  }
  static TaskDistribution unpack(std::uint8_t b) {
    TaskDistribution d;
    d.nodes = (b & 1) ? NodeDistribution::Cyclic : NodeDistribution::Block;
    const int c = (b >> 1) & 3;
    d.cores = c == 1 ? CoreDistribution::Cyclic : c == 2 ? CoreDistribution::FCyclic : CoreDistribution::Block;
    return d;
  }
};

const char* to_string(NodeDistribution d);
const char* to_string(CoreDistribution d);
// "block:block", "cyclic:fcyclic": what SLURM_DISTRIBUTION and drover show say.
std::string to_string(TaskDistribution d);

// Slurm's spelling: NODES[:CORES], each block, cyclic or * (the default,
// block); the second level also fcyclic. "block", "cyclic:cyclic", "*:fcyclic".
// A third level (threads in a core), plane=N, arbitrary and ,Pack/,NoPack are
// refused with what to use instead.
Result<TaskDistribution> parse_distribution(std::string_view text);

}  // namespace drover
