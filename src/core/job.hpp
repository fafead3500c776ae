// A job and its attempts. States and field names follow AWS Batch; HPC additions
// (owner, placement, output paths) are named in the same spirit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/array.hpp"
#include "core/job_definition.hpp"
#include "core/node_selection.hpp"
#include "core/resources.hpp"
#include "core/task_distribution.hpp"

namespace drover {

enum class JobState : std::uint8_t { Submitted, Pending, Runnable, Starting, Running, Succeeded, Failed };

const char* to_string(JobState s);
std::optional<JobState> parse_job_state(const std::string& s);  // case-insensitive
inline bool is_terminal(JobState s) { return s == JobState::Succeeded || s == JobState::Failed; }
inline bool is_active(JobState s) { return s == JobState::Starting || s == JobState::Running; }

// Slurm's dependency kinds; AWS Batch's plain jobId dependency is AfterOk, its
// N_TO_N is AfterCorr and its SEQUENTIAL is Sequential.
//  AfterOk, AfterNotOk, AfterAny: the job (or one task of an array) ended
//    SUCCEEDED / FAILED / either way.
//  After: it started (or was cancelled first), and `minutes` more have passed.
//  AfterCorr: an array's task waits for the task with the same index of
//    another array to succeed; an index that array lacks waits for the whole
//    array to succeed (Slurm's rule).
//  Sequential: an array's task waits for the task before it (in index order)
//    to succeed; no job_id.
//  Singleton: no job_id; the job waits while another job of the same user and
//    name runs, or waits ahead of it (a smaller id, not ended), as Slurm.
enum class DependencyType : std::uint8_t { AfterOk, AfterAny, AfterNotOk, After, AfterCorr, Sequential, Singleton };
const char* to_string(DependencyType t);
// Slurm's spellings (afterok, ..., aftercorr, singleton) and AWS Batch's
// (N_TO_N, SEQUENTIAL; "" is AfterOk), case-insensitive.
std::optional<DependencyType> parse_dependency_type(const std::string& s);
// Whether the type names another job (all but Sequential and Singleton).
inline bool names_job(DependencyType t) { return t != DependencyType::Sequential && t != DependencyType::Singleton; }
// Whether it is decided per task of an array (AfterCorr, Sequential).
inline bool per_task(DependencyType t) { return t == DependencyType::AfterCorr || t == DependencyType::Sequential; }

struct Dependency {
  std::int64_t job_id = 0;  // 0 for Sequential and Singleton
  DependencyType type = DependencyType::AfterOk;
  std::int32_t array_index = -1;  // one task of array job_id ("42_7"); -1: the whole job
  std::int32_t minutes = 0;       // After only: this long after the start ("after:42+10")
  bool operator==(const Dependency&) const = default;
};
// "afterok:42", "after:42_7+10", "singleton", "SEQUENTIAL": for messages and drover show.
std::string to_string(const Dependency& d);
// Dependency::job_id and array_index as Drover names them: "42", "42_7".
std::string target_name(const Dependency& d);
// dependency_ready_at when only a singleton rule could let the job start
// (any-of dependencies none of whose others is met yet).
inline constexpr std::int64_t kNotReady = INT64_MAX;

// A node of a multi-node attempt other than its main node: what it holds there.
struct NodeSlice {
  std::string node;
  std::vector<int> cpus;
  std::vector<int> gpus;
  bool operator==(const NodeSlice&) const = default;
};

struct Attempt {
  std::string node;        // the main node: runs the script (node index 0)
  std::vector<int> cpus;   // PU OS indexes the attempt was bound to (main node)
  std::vector<int> gpus;   // Gpu::index values (main node)
  std::vector<NodeSlice> more_nodes;  // multi-node jobs: nodes 1..N-1, in node index order
  std::int64_t started_at = 0;  // epoch ms; 0 until running
  std::int64_t stopped_at = 0;
  std::optional<int> exit_code;
  int signal = 0;          // terminating signal, 0 if exited normally
  std::string reason;      // container.reason: why the process ended (timeout, OOM...)
  std::string status_reason;
  // sbatch --time-min: this attempt's time limit when the scheduler shortened it to
  // start the job in a backfill hole (seconds); 0: the job's timeout_seconds.
  std::int64_t time_limit_s = 0;
  bool operator==(const Attempt&) const = default;
};

// AWS Batch nodeRangeProperties: some nodes of a multi-node job (node indexes
// first..last) and what they run. What they hold is Job::request_on().
struct NodeGroup {
  int first = 0;
  int last = 0;                      // inclusive
  std::vector<std::string> command;  // empty: node 0 runs the job's; other nodes run nothing
  KeyValues environment;             // over the job's, on these nodes
  bool operator==(const NodeGroup&) const = default;
};

// The resources of some nodes of a multi-node job (node indexes first..last,
// inclusive), kept only for a job whose node groups ask different resources.
struct NodeRequest {
  int first = 0;
  int last = 0;
  Resources request;
  bool operator==(const NodeRequest&) const = default;
};

// What the job runs: kept out of Job so that queued jobs stay small in the head's
// memory; the store keeps it and it is loaded when the job is dispatched.
struct JobPayload {
  std::vector<std::string> command;  // argv, or empty when script is set
  std::string script;                // a batch script's text (starts with #!)
  KeyValues environment;             // the job's environment, submitter's included
  std::string submit_options;        // what was asked at submit, as JSON text (drover show)
  // Where the job's checkpoints live ($DROVER_CHECKPOINT_DIR), a pattern like
  // the output paths (%j ...), relative to the working directory; empty:
  // kDefaultCheckpointPattern. The same directory for every attempt.
  std::string checkpoint_dir;
  std::vector<NodeGroup> node_groups;  // multi-node jobs: AWS nodeRangeProperties, by first node
  bool operator==(const JobPayload&) const = default;
  const NodeGroup* node_group(int node_index) const {
    for (const auto& g : node_groups)
      if (node_index >= g.first && node_index <= g.last) return &g;
    return nullptr;
  }
};

// A text from a small vocabulary (wait reasons: Resources, Priority, ...),
// stored once for all jobs: a pointer per job instead of a string.
class InternedText {
 public:
  InternedText() = default;
  InternedText& operator=(const std::string& s);
  bool empty() const { return !p_ || !*p_; }
  void clear() { p_ = nullptr; }
  const char* c_str() const { return p_ ? p_ : ""; }
  std::string str() const { return c_str(); }
  bool operator==(const char* s) const { return std::string_view(c_str()) == s; }
  bool operator==(const std::string& s) const { return std::string_view(c_str()) == s; }

 private:
  const char* p_ = nullptr;
};

struct Job {
  std::int64_t id = 0;
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  std::string queue;
  std::string definition;  // "" when submitted without one
  int definition_revision = 0;
  JobState state = JobState::Submitted;  // one byte, then padding that the next uses
  // sbatch -m/--distribution: how the job's tasks are laid out over its nodes
  // and each node's sockets, TaskDistribution::pack().
  std::uint8_t distribution = 0;
  std::string status_reason;
  std::int64_t created_at = 0;  // epoch ms
  std::int64_t started_at = 0;  // of the latest attempt
  std::int64_t stopped_at = 0;
  Resources request;  // on each node (node 0's when node_requests is set)
  int nodes = 1;      // multi-node parallel jobs: how many nodes, each with request_on(index)
  int ntasks = 1;     // tasks (ranks) the job will start, on all nodes; total_vcpus() covers them
  std::int64_t timeout_seconds = 0;  // per attempt; 0: none
  RetryStrategy retry;
  std::vector<Dependency> depends_on;
  std::vector<Attempt> attempts;
  std::string working_dir;
  std::string stdout_path;  // pattern as given (%j ...), relative to working_dir
  std::string stderr_path;  // empty: same file as stdout
  bool append_output = false;  // --open-mode=append
  bool slurm_env = true;       // set the SLURM_* compatibility variables
  // Checkpointing (docs/CHECKPOINT.md). A job that checkpoints names the signal
  // Drover sends it before stopping it (time limit near, preemption, node
  // down, `drover checkpoint`), and how many seconds before; 0: it does not.
  // sbatch --signal=[B:]SIG[@SECS], drover --checkpoint-signal.
  std::uint8_t checkpoint_signal = 0;
  bool checkpoint_signal_batch_only = false;  // "B:": the batch shell only
  // sbatch --requeue (1) / --no-requeue (0) / neither (-1): whether a job
  // stopped by a lost node or a preemption is queued again. Unset: jobs that
  // checkpoint are, others follow their retry strategy.
  std::int8_t requeue = -1;
  // sbatch --kill-on-invalid-dep=yes (1) / no (0) / neither (-1: its queue's
  // setting): whether a dependency that can never be satisfied fails the job
  // or leaves it PENDING with reason DependencyNeverSatisfied (a byte of padding).
  std::int8_t kill_on_invalid_dep = -1;
  // sbatch --time-min, in whole minutes as Slurm keeps it (0: none): the scheduler
  // may shorten an attempt's limit down to this to start it earlier in a backfill
  // hole (Attempt::time_limit_s). Two bytes that were padding; at most 65535 min.
  std::uint16_t time_min_minutes = 0;
  std::int32_t checkpoint_seconds = 0;  // signal this long before the stop
  // Order within the queue: higher priority - nice first, then FIFO. priority is
  // AWS Batch's schedulingPriority (0..9999; sbatch --priority); nice is
  // sbatch's --nice (negative only for root or the admin).
  int priority = 0;
  int nice = 0;
  // sbatch --begin: not before this time (epoch seconds; 0: no such wish).
  // 4 bytes in what was padding before `share`.
  std::uint32_t begin_s = 0;
  // Fair-share queues: whose share the job uses (AWS shareIdentifier, else the
  // sbatch --account; empty: the owner's user name).
  InternedText share;
  KeyValues parameters;
  KeyValues tags;
  bool terminate_requested = false;
  bool held = false;               // waits until released
  bool requeue_requested = false;  // stopped to be queued again
  bool depends_any = false;        // sbatch '?': any one dependency suffices (else all)
  // Set by ClusterState once the dependencies let the job leave PENDING: the
  // earliest time they let it start (after:ID+MINUTES), in epoch seconds
  // rounded up (never early; 4 bytes fill a hole here, 8 would grow every job);
  // 0: at once; UINT32_MAX: only its singleton rule may. Persisted: the jobs it
  // names may be forgotten by then. Read and set in epoch ms below.
  std::uint32_t dependency_ready_s = 0;
  std::string terminate_reason;
  // Arrays: a task knows its array and index; the array's parent holds the rest.
  std::int64_t array_parent = 0;
  std::int64_t array_index = -1;
  Boxed<ArrayInfo> array;  // set on the parent of an array only
  // --constraint, --nodelist, --exclude, --exclusive: set only when asked.
  Boxed<NodeSelection> selection;
  // Multi-node jobs whose node groups (AWS nodeRangeProperties) ask different
  // resources: each group's, by first node, covering nodes 0..nodes-1; the
  // first is `request`. Unset when every node asks the same.
  Boxed<std::vector<NodeRequest>> node_requests;
  // Not persisted: why a RUNNABLE job waits (Resources, Priority, ...) and,
  // where backfill knows it, when it is expected to start (epoch ms, 0: unknown).
  InternedText pending_reason;
  std::int64_t estimated_start = 0;

  std::int64_t effective_priority() const { return static_cast<std::int64_t>(priority) - nice; }
  std::string share_name() const { return share.empty() ? user : share.str(); }
  const Attempt* current_attempt() const {
    return attempts.empty() ? nullptr : &attempts.back();
  }
  bool checkpoints() const { return checkpoint_signal != 0; }
  TaskDistribution task_distribution() const { return TaskDistribution::unpack(distribution); }
  // Whether an interrupted attempt (lost node, preemption) goes back to the queue.
  bool requeues_when_interrupted() const { return requeue < 0 ? checkpoints() : requeue > 0; }
  // Attempts that ended for good (failed, timed out...), not counting those
  // requeued after a checkpoint, a preemption or a lost node.
  int counted_attempts() const;
  // What node `index` of the job holds (index 0: the main node).
  const Resources& request_on(int index) const {
    if (node_requests)
      for (const auto& g : *node_requests)
        if (index >= g.first && index <= g.last) return g.request;
    return request;
  }
  // Whether the job's nodes ask different resources (node_requests is set).
  bool mixed_nodes() const { return static_cast<bool>(node_requests); }
  // vCPUs on all nodes together.
  std::int64_t total_vcpus() const {
    if (!node_requests) return static_cast<std::int64_t>(request.vcpus) * nodes;
    std::int64_t n = 0;
    for (const auto& g : *node_requests) n += static_cast<std::int64_t>(g.request.vcpus) * (g.last - g.first + 1);
    return n;
  }
  // dependency_ready_s in epoch ms: 0, the time, or kNotReady.
  std::int64_t dependency_ready_at() const {
    return dependency_ready_s == UINT32_MAX ? kNotReady : std::int64_t{dependency_ready_s} * 1000;
  }
  void set_dependency_ready_at(std::int64_t ms) {
    dependency_ready_s = ms <= 0 ? 0
                         : ms == kNotReady
                             ? UINT32_MAX
                             : static_cast<std::uint32_t>(std::min<std::int64_t>((ms + 999) / 1000, UINT32_MAX - 1));
  }
  std::int64_t begin_at() const { return std::int64_t{begin_s} * 1000; }  // epoch ms; 0: none
  // The time limit of the current attempt (seconds; 0: none): the job's, or the
  // shorter one the scheduler gave it (--time-min).
  std::int64_t attempt_time_limit_s() const {
    const Attempt* a = current_attempt();
    return a && a->time_limit_s > 0 ? a->time_limit_s : timeout_seconds;
  }
  bool has_dependency(DependencyType t) const {
    for (const auto& d : depends_on)
      if (d.type == t) return true;
    return false;
  }
};

// The earliest time (epoch ms) the job's own conditions let it start, 0 when
// none: what ClusterState::next_start_time() is made of and the head sets its
// timer by: the dependency ready time and the --begin time.
inline std::int64_t earliest_start(const Job& j) {
  const std::int64_t dependencies = j.dependency_ready_s == UINT32_MAX ? 0 : j.dependency_ready_at();
  return std::max(dependencies, j.begin_at());
}

// The status reason of a job kept PENDING because a dependency can never be
// satisfied (kill-on-invalid-dep no): "DependencyNeverSatisfied: <which, why>".
inline constexpr std::string_view kDependencyNeverSatisfied = "DependencyNeverSatisfied";
inline bool waits_on_never_satisfied(const Job& j) {
  return j.state == JobState::Pending && j.status_reason.rfind(kDependencyNeverSatisfied, 0) == 0;
}

// Whether the attempt holds (part of) the node: the main node or one of the others.
bool attempt_on(const Attempt& a, const std::string& node);
// PUs the attempt holds on all its nodes.
std::size_t attempt_pus(const Attempt& a);
// The attempt's nodes in node index order (main first).
std::vector<std::string> attempt_nodes(const Attempt& a);

// Default output file, like Slurm's "slurm-%j.out".
inline constexpr const char* kDefaultOutputPattern = "drover-%j.out";
inline constexpr const char* kDefaultArrayOutputPattern = "drover-%A_%a.out";  // slurm-%A_%a.out
// Default checkpoint directory, relative to the working directory.
inline constexpr const char* kDefaultCheckpointPattern = "drover-checkpoints/%j";
// What `drover checkpoint` sends a job that names no checkpoint signal.
inline constexpr int kDefaultCheckpointSignal = 10;  // SIGUSR1 on Linux
// The exit code by which a job says "I checkpointed: queue me again" (EX_TEMPFAIL).
inline constexpr int kRequeueExitCode = 75;
// The status reason of an attempt that was queued again.
inline constexpr const char* kRequeuedAttempt = "requeued";

// Expands %j (job id), %A %a (array id and index), %x (name), %u (user), %N (node),
// %n %t (node and task: 0) and %% in an output pattern.
std::string expand_output_pattern(const std::string& pattern, const Job& job,
                                  const std::string& node);

}  // namespace drover
