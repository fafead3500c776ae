// One scheduling pass: a pure function from the cluster's state (read-only, the
// snapshot) and the time to the jobs to start now and why the others wait.
// The daemon, the benchmarks and (later) the simulator call the same code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster_state.hpp"

namespace drover::sched {

struct Decision {
  std::int64_t job_id = 0;
  std::string node;
  std::vector<int> cpus;
  std::vector<int> gpus;
};

struct WaitReason {
  std::int64_t job_id = 0;
  std::string reason;  // Resources, Priority, NodesUnavailable, ...
};

struct PassResult {
  std::vector<Decision> starts;
  std::vector<WaitReason> reasons;  // only where the reason changed
};

struct Policy {
  // Stop scanning a queue's jobs after this many could not start (0: scan all).
  // A pass never starts a job out of its queue's order unless it fits now.
  std::size_t max_blocked_scan = 0;
  // Consider only jobs with this id or higher. The head passes the first id
  // submitted since the last pass when nothing else changed: jobs that could
  // not start then still cannot, so a pass costs O(new jobs), not O(queued).
  std::int64_t first_job_id = 0;
};

PassResult schedule(const ClusterState& state, std::int64_t now_ms, const Policy& policy = {});

}  // namespace drover::sched
