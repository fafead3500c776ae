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
};

KeyValues job_environment(const Job& job, const JobPayload& payload, const LaunchContext& ctx);

}  // namespace drover
