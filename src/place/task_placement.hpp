// Which of a node's placed PUs and GPUs each task (MPI rank) on that node gets.
// Pure, like placement: the node's topology and the job's plan there in, one
// binding per task out; the agent's rankfile binds each rank to its own.
#pragma once

#include <optional>
#include <vector>

#include "core/task_distribution.hpp"
#include "core/topology.hpp"

namespace drover::place {

struct TaskRequest {
  int tasks = 1;            // tasks on this node
  int cpus_per_task = 1;    // PUs each
  int gpus_per_task = 0;    // 0: tasks share the node's GPUs, cores by distribution
  CoreDistribution distribution = CoreDistribution::Block;
};

struct TaskPlacement {
  std::vector<int> cpus;  // PU OS indexes, ascending
  std::vector<int> gpus;  // Gpu::index values, ascending
  bool operator==(const TaskPlacement&) const = default;
};

// Splits a node's plan (node_cpus: PU OS indexes, node_gpus: Gpu::index values)
// among its tasks, task 0 first. Every task gets cpus_per_task PUs of the plan,
// whole cores before single threads, and no PU goes to two tasks:
//  - gpus_per_task > 0: task t gets the t-th group of GPUs (GPUs grouped by
//    NUMA domain) and PUs local to them first, then of their package, then any;
//  - else Block packs tasks on consecutive cores, Cyclic puts task t on the
//    next socket in turn, FCyclic each of a task's PUs on the next socket.
// PUs of the plan beyond tasks x cpus_per_task are left to no task. nullopt when
// the plan cannot hold the tasks (too few PUs or GPUs, no tasks).
std::optional<std::vector<TaskPlacement>> place_tasks(const NodeTopology& topology,
                                                      const std::vector<int>& node_cpus,
                                                      const std::vector<int>& node_gpus,
                                                      const TaskRequest& request);

}  // namespace drover::place
