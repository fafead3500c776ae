// The whole model held by the head: definitions, queues, compute environments,
// nodes and jobs. It changes only through apply(Event), which keeps every derived
// index (runnable order, node allocation, dependents) consistent and records what
// changed so the server can persist exactly that.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/events.hpp"
#include "core/result.hpp"

namespace drover {

struct DirtySet {
  std::set<std::int64_t> jobs;
  std::set<std::pair<std::string, int>> definitions;
  std::set<std::string> queues;
  std::set<std::string> environments;
  std::set<std::string> nodes;
  bool empty() const {
    return jobs.empty() && definitions.empty() && queues.empty() && environments.empty() &&
           nodes.empty();
  }
};

// How one dependency of a job stands (ClusterState::dependency_outcome).
struct DependencyOutcome {
  enum class Is { Waiting, Met, Never };
  Is is = Is::Waiting;
  std::int64_t at = 0;  // Met: from when it lets the job start (after:ID+MINUTES); 0: at once
  std::string why;      // Never: what happened, e.g. "job 42_7 ended FAILED"
};

class ClusterState {
 public:
  // Applies one event. An event that does not fit the state (unknown job, a job
  // in the wrong state) is refused with an error and changes nothing.
  Status apply(const Event& event);

  // Restoring from the store: no validation, nothing marked dirty. Call
  // finish_restore() once everything is in.
  void restore(JobDefinition d);
  void restore(JobQueue q);
  void restore(ComputeEnvironment e);
  void restore(Node n);
  void restore(Job j);
  void finish_restore();

  const Job* job(std::int64_t id) const;
  const std::unordered_map<std::int64_t, Job>& jobs() const { return jobs_; }
  // The latest ACTIVE revision when revision is 0.
  const JobDefinition* definition(const std::string& name, int revision = 0) const;
  const std::map<std::string, std::vector<JobDefinition>>& definitions() const {
    return definitions_;
  }
  const JobQueue* queue(const std::string& name) const;
  const std::map<std::string, JobQueue>& queues() const { return queues_; }
  const ComputeEnvironment* environment(const std::string& name) const;
  const std::map<std::string, ComputeEnvironment>& environments() const { return envs_; }
  const Node* node(const std::string& name) const;
  const std::map<std::string, Node>& nodes() const { return nodes_; }

  // RUNNABLE jobs of a queue in the order they are considered (FIFO by id).
  const std::set<std::int64_t>& runnable(const std::string& queue) const;
  std::size_t runnable_count() const;
  // How many unfinished jobs of the queue have a priority or nice other than 0
  // (an upper bound of those waiting): when none, the queue is plain FIFO.
  std::size_t prioritized(const std::string& queue) const;
  // Ids of STARTING and RUNNING jobs: what holds nodes now.
  const std::set<std::int64_t>& active_jobs() const { return active_; }

  // The earliest time after `now` (epoch ms) at which a RUNNABLE job's own
  // conditions (earliest_start(): after:ID+MINUTES, and any other time put
  // there) let it start; 0 when none. A scheduling pass is a pure function of
  // (state, now), so the head runs one at that time.
  std::int64_t next_start_time(std::int64_t now) const;
  // Singleton dependencies (Slurm's rule): the job that keeps `job` from
  // starting now — another job of the same user and name that has not ended
  // and was submitted earlier, or that is on nodes (an array: one of its tasks,
  // itself included); 0 when none.
  std::int64_t singleton_blocker(const Job& job) const;
  // Whether jobs of this user and name are watched for a singleton job (a job
  // of the group that starts in a pass holds the others back).
  bool in_singleton_group(const Job& job) const {
    return !same_name_.empty() && same_name_.count({job.uid, job.name}) > 0;
  }
  // How dependency d of `job` stands at time `at`. Targets not held in memory
  // count as Met (the head recalls them from the store first). Singleton and
  // the per-task kinds are Met here: the scheduler and the tasks decide them.
  DependencyOutcome dependency_outcome(const Job& job, const Dependency& d, std::int64_t at) const;
  // Puts a finished job read back from the store into memory again, so that a
  // new job's dependency on it is decided like any other (the counterpart of
  // evict_finished; not an event). A job already held is left as it is.
  void recall(Job job);

  std::int64_t allocate_job_id() { return next_job_id_++; }
  std::int64_t next_job_id() const { return next_job_id_; }
  // Ids below `floor` are never handed out (after a restart: ids that may have
  // been given to array tasks whose start was not yet durable).
  void raise_next_job_id(std::int64_t floor) { next_job_id_ = std::max(next_job_id_, floor); }

  DirtySet take_dirty();
  // Drops finished jobs that stopped before `stopped_before` from memory (they
  // stay in the store, where history and lookups by id find them), like
  // Slurm's MinJobAge. Not an event: the model's durable state is unchanged.
  std::size_t evict_finished(std::int64_t stopped_before);
  // Puts back what a failed save did not write, to be saved next time.
  void mark_dirty(const DirtySet& d);

 private:
  Status on(const DefinitionRegistered& e);
  Status on(const DefinitionDeregistered& e);
  Status on(const QueueSaved& e);
  Status on(const EnvironmentSaved& e);
  Status on(const NodeConnected& e);
  Status on(const NodeDisconnected& e);
  Status on(const NodeStateSet& e);
  Status on(const NodeFeaturesSet& e);
  Status on(const JobSubmitted& e);
  Status on(const JobDispatched& e);
  Status on(const JobStarted& e);
  Status on(const JobExited& e);
  Status on(const JobRequeued& e);
  Status on(const JobTerminationRequested& e);
  Status on(const JobPendingReasonSet& e);
  Status on(const JobHoldSet& e);
  Status on(const JobRequeueRequested& e);
  Status on(const JobUpdated& e);

  Job* mutable_job(std::int64_t id);
  void set_state(Job& job, JobState state);
  void finish(Job& job, JobState state, std::string reason, std::int64_t at);
  void terminate(Job& job, const std::string& reason, std::int64_t at);
  // only: just that node's part (a node that reconnected); empty: every node.
  void account(const Job& job, bool used, const std::string& only = {});
  void allocate(const Job& job) { account(job, true); }
  void release(const Job& job) { account(job, false); }
  void resize_allocation(Node& node);
  // Arrays: the parent's state, summary and place in its queue's runnable set
  // follow its tasks; finishes it when no task is left to run.
  void refresh_array(Job& parent, std::int64_t at);
  void refresh_touched_arrays(std::int64_t at);
  Status dispatch_task(Job& parent, const JobDispatched& e);
  std::int64_t cancel_pending_tasks(Job& parent, const std::vector<IndexRange>& indexes);
  // Re-evaluates jobs that depend on `id`, cascading failures.
  void resolve_dependents(std::int64_t id, std::int64_t at);
  // PENDING -> RUNNABLE / FAILED / stays, by the state of its dependencies;
  // a RUNNABLE any-of job not yet allowed to start may be allowed sooner.
  void evaluate_dependencies(Job& job, std::int64_t at);
  // kill-on-invalid-dep: the job's own choice, else its queue's.
  bool kills_on_invalid_dependency(const Job& job) const;
  // A dependency of `job` can never be satisfied: it fails with fail_reason,
  // or stays PENDING with reason "DependencyNeverSatisfied: <what>".
  void dependency_never_satisfied(Job& job, std::string fail_reason, const std::string& what, std::int64_t at);
  // Forgets where a job is listed as waiting on others (its dependencies change).
  void unlink_dependencies(const Job& job);
  // Registers `job` with what its dependencies wait on (dependents_,
  // task_dependents_, corr_dependents_, same_name_).
  void link_dependencies(const Job& job);
  void link_target(std::int64_t dependent, const Dependency& d);
  void set_ready_at(Job& job, std::int64_t t);
  // Per-task dependencies (aftercorr, SEQUENTIAL) of array `d`.
  void init_task_dependencies(Job& d, std::int64_t at);
  // Decides every task the k-th per-task dependency of `d` holds back whose
  // corresponding task has ended.
  void settle_task_dependency(Job& d, std::size_t k, std::int64_t at);
  // A task of array `parent` (at `position`) ended for good, with a record.
  void task_finished(Job& parent, std::int64_t position, std::int64_t at);
  // Tasks of `parent` ended without starting (cancelled, dependency failed, the
  // array ended): their dependents learn of it.
  void tasks_ended_unstarted(Job& parent, std::int64_t at);
  // Tasks of `d` that can never start because their dependency failed.
  void fail_tasks(Job& d, const Dependency& dep, const PositionSet& positions, std::int64_t at);
  void join_same_name(const Job& job);
  void leave_same_name(const Job& job);

  std::map<std::string, std::vector<JobDefinition>> definitions_;  // revisions in order
  std::map<std::string, JobQueue> queues_;
  std::map<std::string, ComputeEnvironment> envs_;
  std::map<std::string, Node> nodes_;
  std::unordered_map<std::int64_t, Job> jobs_;
  std::map<std::string, std::set<std::int64_t>> runnable_;
  std::set<std::int64_t> active_;
  std::unordered_map<std::int64_t, std::vector<std::int64_t>> dependents_;
  // Jobs waiting on a task that has not started (no record, no id yet), by
  // (array, index); moved to dependents_ under the task's id when it starts.
  std::map<std::pair<std::int64_t, std::int64_t>, std::vector<std::int64_t>> task_dependents_;
  // Arrays whose tasks wait, task by task, on the tasks of an array (aftercorr;
  // SEQUENTIAL: on their own), by that array.
  std::unordered_map<std::int64_t, std::vector<std::int64_t>> corr_dependents_;
  // Singleton: unfinished jobs (an array's parent stands for its tasks) by user
  // and name, kept only where one of them is a singleton job.
  struct SameName {
    std::set<std::int64_t> jobs;
    int singletons = 0;
  };
  std::map<std::pair<std::uint32_t, std::string>, SameName> same_name_;
  // RUNNABLE jobs with a time condition, by (earliest_start, id).
  std::set<std::pair<std::int64_t, std::int64_t>> start_times_;
  std::int64_t next_job_id_ = 1;
  DirtySet dirty_;
  std::set<std::int64_t> touched_arrays_;  // parents whose tasks changed state
  std::map<std::string, std::size_t> prioritized_;
  void count_priority(const Job& job, int sign);
  void charge_share(const Job& job, const Attempt& a);
};

// Why an attempt that ended is or is not retried, per the job's retry strategy.
bool should_retry(const Job& job, const Attempt& attempt);
// Shell-style glob (* and ?) as AWS Batch evaluateOnExit uses.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace drover
