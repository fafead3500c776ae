// A request to run a job, as the API decoded it, before validation. make_job
// turns it into a Job: it resolves the queue and the job definition, merges the
// definition's defaults with the request's overrides, and refuses what could
// never run, naming the field and the limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_state.hpp"
#include "core/job.hpp"

namespace drover {

// One entry of AWS nodeRangeProperties as asked: "0", "1:3", "2:", ":1".
struct NodeGroupRequest {
  std::string target_nodes;
  std::vector<std::string> command;
  KeyValues environment;
  std::optional<int> vcpus;
  std::optional<std::int64_t> memory_mib;
  std::optional<int> gpus;
};

struct JobRequest {
  std::string name;
  std::string queue;        // empty: the default queue
  std::string definition;   // "name" or "name:revision"; empty: none
  KeyValues parameters;
  std::vector<std::string> command;  // overrides the definition's command
  std::string script;                // a batch script's text
  KeyValues environment;             // merged over the definition's environment
  std::optional<int> vcpus;
  std::optional<std::int64_t> memory_mib;
  std::optional<int> gpus;
  std::optional<int> ntasks;  // on all nodes
  std::optional<int> nodes;   // AWS nodeProperties.numNodes / sbatch --nodes; resources are per node
  std::optional<int> main_node;  // AWS nodeProperties.mainNode: must be 0
  std::vector<NodeGroupRequest> node_groups;  // AWS nodeProperties.nodeRangeProperties
  std::optional<std::int64_t> timeout_seconds;
  std::optional<RetryStrategy> retry;
  std::vector<Dependency> depends_on;
  bool depends_any = false;  // sbatch '?' (AWS has no such form): any one dependency suffices
  std::string working_dir;
  std::string stdout_path;
  std::string stderr_path;
  bool append_output = false;
  bool slurm_env = true;
  bool held = false;  // submit held: waits until released
  std::int64_t begin_at = 0;  // sbatch --begin: not before (epoch ms); 0 or past: at once
  // sbatch --time-min (seconds, rounded up to whole minutes; 0: none): the limit
  // may be shortened down to this to start the job earlier. At most the time limit.
  std::int64_t time_min_seconds = 0;
  // Checkpointing: the signal sent before Drover stops the job (0: the job
  // does not checkpoint), how many seconds before, to the batch shell only,
  // and the checkpoint directory pattern (empty: kDefaultCheckpointPattern).
  int checkpoint_signal = 0;
  int checkpoint_seconds = 60;
  bool checkpoint_batch_only = false;
  std::string checkpoint_dir;
  std::optional<bool> requeue;  // sbatch --requeue / --no-requeue
  std::optional<bool> kill_on_invalid_dep;
  TaskDistribution distribution;  // sbatch -m/--distribution  // sbatch --kill-on-invalid-dep; unset: the queue's
  // An array: its indexes (empty: not an array) and at most how many of its
  // tasks run at once (0: no limit).
  std::vector<IndexRange> array;
  std::int64_t array_max_running = 0;
  std::optional<int> priority;  // AWS schedulingPriorityOverride / sbatch --priority: 0..9999
  int nice = 0;                 // sbatch --nice: -10000..10000; below 0 for root or the admin
  std::string share_identifier; // AWS shareIdentifier (fair-share queues)
  std::string account;          // sbatch --account: the share when no shareIdentifier
  // Node selection (Drover's nodeSelection: sbatch --constraint, --nodelist,
  // --exclude, --exclusive). node_list without nodes: the job gets that many.
  std::string constraint;
  std::vector<std::string> node_list;
  std::vector<std::string> exclude;
  bool exclusive = false;
  std::string submit_options;  // JSON text: the options as asked, kept for drover show
  KeyValues tags;
};

// Who submits, decided by the server from the socket's peer credentials.
struct Submitter {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  bool admin = false;  // root or droverd's --admin-uid
};

inline constexpr int kMaxSchedulingPriority = 9999;
inline constexpr int kMaxNice = 10000;
inline constexpr int kMaxNodes = 1024;  // per job
inline constexpr std::int64_t kMaxBeginAheadMs = 366LL * 24 * 3600 * 1000;  // --begin: within a year
inline constexpr int kMaxDependencyMinutes = 525'600;  // after:ID+MINUTES: a year

struct NewJob {
  Job job;
  JobPayload payload;
};

Result<NewJob> make_job(const JobRequest& request, const Submitter& who,
                        const ClusterState& state, const std::string& default_queue,
                        std::int64_t id, std::int64_t now);

// A waiting job's new dependencies (drover update --dependency): as at submit
// (jobs that exist, never itself, the per-task kinds between arrays), and no
// cycle through the jobs they name.
Status validate_dependency_update(const Job& job, const std::vector<Dependency>& deps, bool any,
                                  const ClusterState& state);

// AWS targetNodes text of a node range: "3" or "1:3".
std::string target_nodes(int first, int last);
// The per-group resources of a job whose node groups differ, for messages:
// "node 0: 4 vCPUs, 1 GPU; nodes 1:2: 1 vCPU each"; empty for other jobs.
std::string describe_node_requests(const Job& job);

Status validate_definition(const JobDefinition& d);
Status validate_queue(const JobQueue& q, const ClusterState& state);
Status validate_environment(const ComputeEnvironment& e);
// Names: letters, digits, '-', '_' and '.', 1..128 characters, as AWS Batch allows.
Status validate_name(const std::string& field, const std::string& value);

}  // namespace drover
