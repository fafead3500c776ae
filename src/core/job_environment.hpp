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
};

// How many of the job's tasks run on each of its nodes: Slurm's block
// distribution (the first ntasks % nodes nodes get one more).
std::vector<int> tasks_per_node(const Job& job);
// The Open MPI hostfile of the job's attempt: "node slots=N" per node.
std::string mpi_hostfile(const Job& job);

// The job's checkpoint directory, absolute ($DROVER_CHECKPOINT_DIR).
std::string checkpoint_directory(const Job& job, const JobPayload& payload);

KeyValues job_environment(const Job& job, const JobPayload& payload, const LaunchContext& ctx);

}  // namespace drover
