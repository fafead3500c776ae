// The variables every job sees, on top of its own environment: Drover's names,
// AWS Batch's, and the Slurm names that existing scripts read.
#pragma once

#include <string>

#include "core/job.hpp"

namespace drover {

struct LaunchContext {
  std::string node;
  std::string compute_environment;
  std::string submit_host;
  bool slurm_names = true;  // SLURM_* compatibility variables (off per job or queue)
  const ArrayIndexes* array = nullptr;  // an array task: its array's indexes
  // Multi-node jobs: which node this environment is for (0: the main node).
  // The nodes come from the job's current attempt.
  int node_index = 0;
  // This node's tasks' GPUs (task 0 first: the j-th rank mpirun starts here),
  // when the job's GPUs split among its tasks (place_tasks); null or empty: the
  // tasks share them. The job's GPU list is then ordered task by task (a rank
  // that picks GPU number LOCAL_RANK picks its own) and DROVER_TASK_GPUS holds
  // each task's list ("0,1;2,3"), which drover run gives each task alone.
  const std::vector<std::vector<int>>* task_gpus = nullptr;
};

// How many of the job's tasks run on each of its nodes: Slurm's block
// distribution (the first ntasks % nodes nodes get one more); where node
// groups ask different vCPUs, no node gets more tasks than its vCPUs (the
// excess goes to the next nodes with room).
std::vector<int> tasks_per_node(const Job& job);
// The Open MPI hostfile of the job's attempt: "node slots=N" per node.
std::string mpi_hostfile(const Job& job);

// Which node (index into the attempt's nodes) runs each rank, rank 0 first:
// the job's first distribution level. Block: ranks 0..k-1 on node 0, ...;
// cyclic: rank r on node r mod N while each node's count (tasks_per_node) lasts.
std::vector<int> rank_nodes(const Job& job);
// PUs per task: the node's vCPUs over the most tasks any node runs (at least 1);
// with node groups of different vCPUs, the fewest any node's tasks can each have.
int cpus_per_task(const Job& job);
// GPUs per task when every node's GPUs split evenly among its tasks, else 0
// (the tasks share them). --gpus-per-task asks for exactly such a split.
int gpus_per_task(const Job& job);
// The same for one node of the job (node index): its own vCPUs and GPUs over
// its tasks where the job's node groups ask different resources; the job's
// numbers otherwise.
int cpus_per_task_on(const Job& job, int node);
int gpus_per_task_on(const Job& job, int node);
// The Open MPI rankfile of the job's attempt: "rank R=NODE slot=PU,PU" per
// rank, PU OS indexes (mpirun needs rmaps_rank_file_physical and
// hwloc_base_use_hwthreads_as_cpus to read them so); NODE is "localhost" for a
// one-node job, the node's name otherwise. task_cpus[node][task]
// holds each node's tasks' PUs in local task order; empty when a node's list
// does not match its task count.
std::string mpi_rankfile(const Job& job, const std::vector<std::vector<std::vector<int>>>& task_cpus);

// The job's checkpoint directory, absolute ($DROVER_CHECKPOINT_DIR).
std::string checkpoint_directory(const Job& job, const JobPayload& payload);

// A job's whole environment: base_environment, with job_variables set over it.
KeyValues job_environment(const Job& job, const JobPayload& payload, const LaunchContext& ctx);
// The submitter's environment as the job's starts from it: without the GPU
// variables it may carry (they name GPUs this job does not hold). The same for
// every task of an array, so it goes to an agent once (LaunchOrder).
KeyValues base_environment(const JobPayload& payload);
// Drover's, AWS Batch's and Slurm's variables for this job (and node), in the
// order they are set over the base.
KeyValues job_variables(const Job& job, const JobPayload& payload, const LaunchContext& ctx);
// Sets each of vars over env, in order, as set_value does (a name env has
// keeps its place and takes the value; a new one is appended), in time
// linear in the sizes of both.
void set_over(KeyValues& env, const KeyValues& vars);

}  // namespace drover
