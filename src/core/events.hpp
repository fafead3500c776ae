// Everything that changes the model is one of these events, applied by
// ClusterState::apply. Names are in the past tense: they record what happened.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/job.hpp"
#include "core/job_definition.hpp"
#include "core/job_queue.hpp"
#include "core/node.hpp"

namespace drover {

struct DefinitionRegistered { JobDefinition definition; };
struct DefinitionDeregistered { std::string name; int revision = 0; };
struct QueueSaved { JobQueue queue; };                  // created or updated
struct EnvironmentSaved { ComputeEnvironment environment; };
struct NodeConnected {
  std::string name;
  NodeTopology topology;
  std::int64_t at = 0;
  std::vector<std::string> features;  // the agent's, sorted
};
struct NodeDisconnected { std::string name; std::int64_t at = 0; };
// By an admin (drain, down, resume) or by the head (a lost node).
struct NodeStateSet { std::string name; NodeState state; std::string reason; bool by_admin = false; };

// By an admin: the node's features from now on; nullopt: the agent's again.
struct NodeFeaturesSet { std::string name; std::optional<std::vector<std::string>> features; };

struct JobSubmitted { Job job; };
// The head chose a node and cores: a new attempt begins, the job is STARTING.
// For an array's parent, array_index names the task and task_id is the id its
// new record gets (allocated by the head).
struct JobDispatched {
  std::int64_t id = 0;
  std::string node;
  std::vector<int> cpus;
  std::vector<int> gpus;
  std::int64_t at = 0;
  std::int64_t array_index = -1;
  std::int64_t task_id = 0;
  std::vector<NodeSlice> more_nodes;  // multi-node jobs: the other nodes
  std::int64_t time_limit_s = 0;      // --time-min: the attempt's shortened limit; 0: the job's
};
struct JobStarted { std::int64_t id = 0; std::int64_t at = 0; };
// The attempt ended: normal exit, signal, timeout, OOM, or could not start.
struct JobExited {
  std::int64_t id = 0;
  std::int64_t at = 0;
  std::optional<int> exit_code;
  int signal = 0;
  std::string reason;  // container.reason
  // Jobs that checkpoint: when the newest checkpoint in the job's checkpoint
  // directory was committed (epoch ms, 0: none), as the main node saw it.
  std::int64_t checkpoint_at = 0;
  bool node_lost = false;  // the attempt ended because a node of it was lost
};
// A dispatched attempt never reached the node (head restart): back to the queue,
// the attempt is forgotten.
struct JobRequeued { std::int64_t id = 0; std::int64_t at = 0; std::string reason; };
// Cancel (pending) or terminate (running) asked by a user or the system. For an
// array's parent with `indexes` set, only those of its tasks that have not
// started are cancelled (the head terminates started ones by their own ids);
// without, the whole array: every task not started, and the head terminates
// the rest.
struct JobTerminationRequested {
  std::int64_t id = 0;
  std::int64_t at = 0;
  std::string reason;
  std::vector<IndexRange> indexes;
};
// Hold (true) or release (false) a job that has not started.
struct JobHoldSet { std::int64_t id = 0; bool held = true; };
// A running job is stopped and queued again (same id); the attempt is kept.
struct JobRequeueRequested { std::int64_t id = 0; std::string reason; };
// Changes to a job that has not started; unset fields stay as they are.
struct JobUpdated {
  std::int64_t id = 0;
  std::optional<std::int64_t> timeout_seconds;
  std::optional<std::string> queue;
  std::optional<Resources> request;
  std::optional<int> priority;
  std::optional<int> nice;
  // New dependencies (all of them; empty: none) and whether any one suffices:
  // the job waits for them as if just submitted, at `at` (epoch ms).
  std::optional<std::vector<Dependency>> depends_on;
  bool depends_any = false;
  std::int64_t at = 0;
};
struct JobPendingReasonSet {
  std::int64_t id = 0;
  std::string reason;
  std::int64_t estimated_start = 0;  // epoch ms from backfill; 0: unknown
};

using Event = std::variant<DefinitionRegistered, DefinitionDeregistered, QueueSaved,
                           EnvironmentSaved, NodeConnected, NodeDisconnected, NodeStateSet, NodeFeaturesSet,
                           JobSubmitted, JobDispatched, JobStarted, JobExited, JobRequeued,
                           JobTerminationRequested, JobPendingReasonSet, JobHoldSet,
                           JobRequeueRequested, JobUpdated>;

}  // namespace drover
