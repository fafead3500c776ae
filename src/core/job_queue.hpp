// Job queues and compute environments (AWS Batch CreateJobQueue /
// CreateComputeEnvironment). An UNMANAGED environment is a set of registered nodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace drover {

inline constexpr int kMaxEnvironmentsPerQueue = 3;

struct JobQueue {
  std::string name;
  bool enabled = true;    // DISABLED: accepts no new jobs, still runs what it holds
  int priority = 1;       // higher is considered first
  std::vector<std::string> compute_environments;  // in order of preference, at most 3
  bool slurm_env = true;  // jobs get the SLURM_* compatibility variables
  // Limits (0: none). A job without a time limit gets the default, else the
  // maximum; one asking for more than the maximum is refused at submit.
  std::int64_t default_time_limit_s = 0;
  std::int64_t max_time_limit_s = 0;
  int max_jobs_per_user = 0;   // running at once; more wait with reason QuotaUser
  int max_vcpus_per_user = 0;  // in use at once
  std::int64_t created_at = 0;
  bool operator==(const JobQueue&) const = default;
};

struct ComputeEnvironment {
  std::string name;
  std::string type = "UNMANAGED";
  bool enabled = true;        // DISABLED: starts nothing new
  int max_vcpus = 0;          // 0: no cap beyond the nodes themselves
  std::vector<std::string> nodes;  // node names; a node may sit in several environments
  std::int64_t created_at = 0;
  bool operator==(const ComputeEnvironment&) const = default;
};

}  // namespace drover
