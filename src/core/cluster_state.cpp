#include "core/cluster_state.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>

namespace drover {

namespace {
const std::set<std::int64_t> kNoJobs;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

std::string describe_exit(const Attempt& a) {
  if (!a.reason.empty()) return a.reason;
  if (a.signal != 0) {
    const char* name = sigabbrev_np(a.signal);
    return "killed by signal " + std::to_string(a.signal) +
           (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  if (a.exit_code) return "exited with code " + std::to_string(*a.exit_code);
  return "ended";
}
}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative wildcard match with backtracking to the last '*'.
  std::size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Why an attempt that ended on its own goes back to the queue with the same id
// (empty: it does not). A job that checkpoints is requeued when it exits with
// kRequeueExitCode, and when it reached its time limit after committing a
// checkpoint during the attempt (it made progress, the next attempt resumes
// from there). An interrupted attempt (a lost node) is requeued when the job
// says so (--requeue) or checkpoints, unless it said --no-requeue.
std::string requeue_reason(const Job& job, const Attempt& a, const JobExited& e) {
  if (job.checkpoints() && e.exit_code && *e.exit_code == kRequeueExitCode && e.signal == 0 && e.reason.empty())
    return "the job checkpointed and asked to be requeued (exit " + std::to_string(kRequeueExitCode) + ")";
  if (job.checkpoints() && e.reason.rfind("Job attempt duration exceeded timeout", 0) == 0) {
    if (e.checkpoint_at >= a.started_at && e.checkpoint_at > 0)
      return "time limit reached; resumes from the checkpoint it wrote";
    return "";
  }
  // The main process may have ended by itself (mpirun, when a rank's node went
  // away) before the head's kill: no reason, a failing exit code. Interrupted
  // all the same; an attempt that succeeded meanwhile stays a success.
  const bool ok = e.exit_code && *e.exit_code == 0 && e.signal == 0 && e.reason.empty();
  if (e.node_lost && !ok && job.requeues_when_interrupted())
    return e.reason.empty() ? "a node of the job was lost" : e.reason;
  return "";
}

bool should_retry(const Job& job, const Attempt& attempt) {
  if (job.counted_attempts() >= job.retry.attempts) return false;
  const std::string code = attempt.exit_code ? std::to_string(*attempt.exit_code) : "";
  for (const auto& rule : job.retry.evaluate_on_exit) {
    const bool match = (rule.on_exit_code.empty() || glob_match(rule.on_exit_code, code)) &&
                       (rule.on_reason.empty() || glob_match(rule.on_reason, attempt.reason)) &&
                       (rule.on_status_reason.empty() ||
                        glob_match(rule.on_status_reason, attempt.status_reason));
    if (match) return rule.action == "RETRY";
  }
  // No rule matched: retry, as AWS Batch does, except that a timed-out attempt is
  // retried only when a rule asks for it (a job that ran out of time will likely
  // run out of time again).
  return attempt.reason.rfind("Job attempt duration exceeded timeout", 0) != 0;
}

Status ClusterState::apply(const Event& event) {
  return std::visit(
      [this](const auto& e) {
        Status s = on(e);
        if (!touched_arrays_.empty()) {
          std::int64_t at = 0;
          if constexpr (requires { e.at; }) at = e.at;
          refresh_touched_arrays(at);
        }
        return s;
      },
      event);
}

// ---- definitions, queues, environments ---------------------------------------

Status ClusterState::on(const DefinitionRegistered& e) {
  // Looked up without inserting: a refused event must not leave an empty entry.
  auto it = definitions_.find(e.definition.name);
  const int have = it == definitions_.end() ? 0 : static_cast<int>(it->second.size());
  if (e.definition.revision != have + 1)
    return make_error("cannot register job definition " + e.definition.name,
                      "revision " + std::to_string(e.definition.revision) + " out of order");
  definitions_[e.definition.name].push_back(e.definition);
  dirty_.definitions.emplace(e.definition.name, e.definition.revision);
  return {};
}

Status ClusterState::on(const DefinitionDeregistered& e) {
  auto it = definitions_.find(e.name);
  if (it == definitions_.end() || e.revision < 1 ||
      e.revision > static_cast<int>(it->second.size()))
    return make_error("cannot deregister job definition " + e.name + ":" +
                          std::to_string(e.revision),
                      "no such revision");
  it->second[e.revision - 1].active = false;
  dirty_.definitions.emplace(e.name, e.revision);
  return {};
}

Status ClusterState::on(const QueueSaved& e) {
  auto it = queues_.find(e.queue.name);
  JobQueue q = e.queue;
  // A queue's fair-share history is the cluster's, not the request's.
  if (it != queues_.end() && q.usage.empty()) q.usage = std::move(it->second.usage);
  if (!q.fair_share.enabled) q.usage.clear();
  queues_[e.queue.name] = std::move(q);
  dirty_.queues.insert(e.queue.name);
  return {};
}

Status ClusterState::on(const EnvironmentSaved& e) {
  envs_[e.environment.name] = e.environment;
  dirty_.environments.insert(e.environment.name);
  return {};
}

// ---- nodes --------------------------------------------------------------------

void ClusterState::resize_allocation(Node& node) {
  int max_pu = -1;
  for (const auto& c : node.topology.cores)
    for (int pu : c.pus) max_pu = std::max(max_pu, pu);
  node.pu_used.assign(static_cast<std::size_t>(max_pu + 1), false);
  node.gpu_used.assign(node.topology.gpus.size(), false);
  node.memory_used_mib = 0;
  node.jobs_running = 0;
}

Status ClusterState::on(const NodeConnected& e) {
  auto [it, inserted] = nodes_.try_emplace(e.name);
  Node& n = it->second;
  n.name = e.name;
  const bool changed = inserted || !(n.topology == e.topology);
  n.topology = e.topology;
  n.connected = true;
  n.last_seen = e.at;
  if (n.state == NodeState::Down && !n.admin_state) {
    n.state = NodeState::Up;
    n.state_reason.clear();
  }
  if (changed) {
    resize_allocation(n);
    for (const auto id : active_) {
      const Job& job = jobs_.at(id);
      if (job.current_attempt() && attempt_on(*job.current_attempt(), e.name)) account(job, true, e.name);
    }
  }
  dirty_.nodes.insert(e.name);
  return {};
}

Status ClusterState::on(const NodeDisconnected& e) {
  auto it = nodes_.find(e.name);
  if (it == nodes_.end()) return make_error("unknown node " + e.name);
  it->second.connected = false;
  it->second.last_seen = e.at;
  if (it->second.state == NodeState::Up) {
    it->second.state = NodeState::Down;
    it->second.state_reason = "agent not connected";
  }
  dirty_.nodes.insert(e.name);
  return {};
}

Status ClusterState::on(const NodeStateSet& e) {
  auto it = nodes_.find(e.name);
  if (it == nodes_.end()) return make_error("unknown node " + e.name);
  Node& n = it->second;
  n.state = e.state;
  n.state_reason = e.reason;
  n.admin_state = e.by_admin && e.state != NodeState::Up;
  // Resumed while its agent is away: down until it comes back.
  if (n.state == NodeState::Up && !n.connected) {
    n.state = NodeState::Down;
    n.state_reason = "agent not connected";
  }
  dirty_.nodes.insert(e.name);
  return {};
}

// Marks (or frees) the PUs, GPUs and memory of the job's current attempt, on
// each of its nodes.
void ClusterState::account(const Job& job, bool used, const std::string& only) {
  const Attempt* a = job.current_attempt();
  if (!a) return;
  auto one = [&](const std::string& node, const std::vector<int>& cpus, const std::vector<int>& gpus) {
    if (!only.empty() && node != only) return;
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    Node& n = it->second;
    for (int pu : cpus)
      if (pu >= 0 && static_cast<std::size_t>(pu) < n.pu_used.size()) n.pu_used[pu] = used;
    for (int g : gpus)
      if (g >= 0 && static_cast<std::size_t>(g) < n.gpu_used.size()) n.gpu_used[g] = used;
    const int sign = used ? 1 : -1;
    n.memory_used_mib = std::max<std::int64_t>(0, n.memory_used_mib + sign * job.request.memory_mib);
    n.jobs_running = std::max(0, n.jobs_running + sign);
  };
  one(a->node, a->cpus, a->gpus);
  for (const auto& s : a->more_nodes) one(s.node, s.cpus, s.gpus);
}

// ---- jobs ---------------------------------------------------------------------

Job* ClusterState::mutable_job(std::int64_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

const Job* ClusterState::job(std::int64_t id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

void ClusterState::set_state(Job& job, JobState state) {
  if (job.state == JobState::Runnable && state != JobState::Runnable) {
    auto it = runnable_.find(job.queue);
    if (it != runnable_.end()) it->second.erase(job.id);
  }
  if (state == JobState::Runnable && job.state != JobState::Runnable)
    runnable_[job.queue].insert(job.id);
  if (state != JobState::Runnable) {
    job.pending_reason.clear();
    job.estimated_start = 0;
  }
  if (is_active(state) && !job.array)
    active_.insert(job.id);
  else if (is_active(job.state))
    active_.erase(job.id);
  if (job.array_parent && job.state != state)
    if (Job* p = mutable_job(job.array_parent); p && p->array) {
      --p->array->count[static_cast<int>(job.state)];
      ++p->array->count[static_cast<int>(state)];
      touched_arrays_.insert(p->id);
    }
  job.state = state;
  dirty_.jobs.insert(job.id);
}

void ClusterState::count_priority(const Job& job, int sign) {
  if (job.effective_priority() == 0) return;
  auto& n = prioritized_[job.queue];
  n = sign > 0 ? n + 1 : (n > 0 ? n - 1 : 0);
}

std::size_t ClusterState::prioritized(const std::string& queue) const {
  auto it = prioritized_.find(queue);
  return it == prioritized_.end() ? 0 : it->second;
}

// Fair share: what an attempt used counts against its share, decaying.
void ClusterState::charge_share(const Job& job, const Attempt& a) {
  auto it = queues_.find(job.queue);
  if (it == queues_.end() || !it->second.fair_share.enabled ||
      it->second.fair_share.share_decay_seconds <= 0 || a.started_at <= 0)
    return;
  JobQueue& q = it->second;
  ShareUsage& u = q.usage[job.share_name()];
  const std::int64_t at = std::max(a.stopped_at, u.at);
  u.vcpu_seconds = u.as_of(at, q.fair_share.share_decay_seconds) +
                   static_cast<double>(attempt_pus(a)) * static_cast<double>(std::max<std::int64_t>(0, a.stopped_at - a.started_at)) / 1000.0;
  u.at = at;
  dirty_.queues.insert(q.name);
}

void ClusterState::finish(Job& job, JobState state, std::string reason, std::int64_t at) {
  if (!is_terminal(job.state)) count_priority(job, -1);
  if (job.array && !job.array->pending.empty()) {
    // Tasks that never started end with their array (cancel, failed dependency).
    const std::int64_t n = job.array->pending.count();
    job.array->pending.clear();
    job.array->count[static_cast<int>(JobState::Failed)] += n;
    job.array->cancelled += n;
  }
  set_state(job, state);
  job.status_reason = std::move(reason);
  job.stopped_at = at;
  resolve_dependents(job.id, at);
}

Status ClusterState::on(const JobSubmitted& e) {
  if (jobs_.count(e.job.id)) return make_error("job " + std::to_string(e.job.id) + " exists");
  Job& job = jobs_.emplace(e.job.id, e.job).first->second;
  next_job_id_ = std::max(next_job_id_, job.id + 1);
  job.state = JobState::Submitted;
  count_priority(job, +1);
  for (const auto& d : job.depends_on) {
    const Job* dep = this->job(d.job_id);
    if (dep && !is_terminal(dep->state)) dependents_[d.job_id].push_back(job.id);
  }
  set_state(job, JobState::Pending);
  evaluate_dependencies(job, e.job.created_at);
  dirty_.jobs.insert(job.id);
  return {};
}

void ClusterState::evaluate_dependencies(Job& job, std::int64_t at) {
  if (job.state != JobState::Pending) return;
  // Every dependency is checked before waiting on any: one that can no longer be
  // satisfied fails the job now, even while others are still unresolved.
  bool waiting = false;
  for (const auto& d : job.depends_on) {
    const Job* dep = this->job(d.job_id);
    if (!dep) continue;  // forgotten (purged) jobs count as satisfied
    const JobState s = dep->state;
    bool satisfied = false, impossible = false;
    switch (d.type) {
      case DependencyType::AfterOk:
        satisfied = s == JobState::Succeeded;
        impossible = s == JobState::Failed;
        break;
      case DependencyType::AfterNotOk:
        satisfied = s == JobState::Failed;
        impossible = s == JobState::Succeeded;
        break;
      case DependencyType::AfterAny:
        satisfied = is_terminal(s);
        break;
      case DependencyType::After:
        satisfied = s == JobState::Running || is_terminal(s);
        break;
    }
    if (impossible) {
      finish(job, JobState::Failed,
             std::string("Dependency job ") + std::to_string(d.job_id) + " ended " +
                 to_string(s) + " (" + to_string(d.type) + " can no longer be satisfied)",
             at);
      return;
    }
    if (!satisfied) waiting = true;
  }
  if (waiting) {
    job.status_reason = "Dependency";
    return;
  }
  job.status_reason.clear();
  set_state(job, JobState::Runnable);
  if (job.array) refresh_array(job, at);
}

void ClusterState::resolve_dependents(std::int64_t id, std::int64_t at) {
  auto it = dependents_.find(id);
  if (it == dependents_.end()) return;
  // Copy: evaluating may finish jobs and recurse into this map.
  const std::vector<std::int64_t> ids = it->second;
  if (is_terminal(job(id)->state)) dependents_.erase(id);
  for (auto d : ids)
    if (Job* dj = mutable_job(d)) evaluate_dependencies(*dj, at);
}

Status ClusterState::on(const JobDispatched& e) {
  Job* job = mutable_job(e.id);
  if (!job) return make_error("cannot dispatch job " + std::to_string(e.id), "unknown job");
  const std::string what = "cannot dispatch job " + std::to_string(e.id) +
                           (job->array ? "_" + std::to_string(e.array_index) : std::string());
  std::int64_t position = -1;
  if (job->array) {
    // A task of an array: one that has not started, under a fresh id.
    position = job->array->indexes.position_of(e.array_index);
    if (position < 0 || !job->array->pending.contains(position))
      return make_error(what, "no such task waiting to start");
    if (e.task_id <= 0 || jobs_.count(e.task_id))
      return make_error(what, "task id " + std::to_string(e.task_id) + " is taken");
    if (job->state != JobState::Runnable && job->state != JobState::Running)
      return make_error(what, std::string("the array is ") + to_string(job->state));
  } else if (job->state != JobState::Runnable) {
    return make_error(what, std::string("it is ") + to_string(job->state));
  }
  // A PU or GPU that is taken, or not on the node, would corrupt the accounting
  // of the job that holds it when either ends.
  auto check = [&](const std::string& node, const std::vector<int>& cpus,
                   const std::vector<int>& gpus) -> Status {
    auto node_it = nodes_.find(node);
    if (node_it == nodes_.end()) return make_error("cannot dispatch to " + node, "unknown node");
    const Node& n = node_it->second;
    for (int pu : cpus)
      if (pu < 0 || static_cast<std::size_t>(pu) >= n.pu_used.size() || n.pu_used[pu])
        return make_error(what, "PU " + std::to_string(pu) + " of " + node + " is in use or absent");
    for (int g : gpus)
      if (g < 0 || static_cast<std::size_t>(g) >= n.gpu_used.size() || n.gpu_used[g])
        return make_error(what, "GPU " + std::to_string(g) + " of " + node + " is in use or absent");
    return {};
  };
  if (auto s = check(e.node, e.cpus, e.gpus); !s) return s;
  if (static_cast<int>(e.more_nodes.size()) + 1 != job->nodes)
    return make_error(what, "it needs " + std::to_string(job->nodes) + " nodes, " +
                                std::to_string(e.more_nodes.size() + 1) + " were given");
  for (std::size_t i = 0; i < e.more_nodes.size(); ++i) {
    const auto& sl = e.more_nodes[i];
    if (sl.node == e.node)
      return make_error(what, "node " + sl.node + " is given twice");
    for (std::size_t k = 0; k < i; ++k)
      if (e.more_nodes[k].node == sl.node) return make_error(what, "node " + sl.node + " is given twice");
    if (auto s = check(sl.node, sl.cpus, sl.gpus); !s) return s;
  }
  if (job->array) {
    Job& parent = *job;
    ArrayInfo& info = *parent.array;
    info.pending.erase(position);
    // The task is the parent's template under its own id; its array stays with
    // the parent (moved aside so that it is not copied).
    Boxed<ArrayInfo> box = std::move(parent.array);
    Job task = parent;
    parent.array = std::move(box);
    task.id = e.task_id;
    task.array_parent = parent.id;
    task.array_index = e.array_index;
    task.state = JobState::Submitted;
    task.depends_on.clear();  // the array's dependencies were met
    task.attempts.clear();
    task.status_reason.clear();
    task.pending_reason.clear();
    task.estimated_start = 0;
    task.started_at = task.stopped_at = 0;
    task.held = task.terminate_requested = task.requeue_requested = false;
    ++info.count[static_cast<int>(JobState::Submitted)];
    info.live[e.array_index] = e.task_id;
    next_job_id_ = std::max(next_job_id_, e.task_id + 1);
    dirty_.jobs.insert(parent.id);
    job = &jobs_.emplace(e.task_id, std::move(task)).first->second;
    count_priority(*job, +1);
  }
  Attempt a;
  a.node = e.node;
  a.cpus = e.cpus;
  a.gpus = e.gpus;
  a.more_nodes = e.more_nodes;
  job->attempts.push_back(std::move(a));
  job->status_reason.clear();
  set_state(*job, JobState::Starting);
  allocate(*job);
  return {};
}

void ClusterState::refresh_touched_arrays(std::int64_t at) {
  while (!touched_arrays_.empty()) {
    const auto id = *touched_arrays_.begin();
    touched_arrays_.erase(touched_arrays_.begin());
    if (Job* p = mutable_job(id); p && p->array) refresh_array(*p, at);
  }
}

void ClusterState::refresh_array(Job& p, std::int64_t at) {
  ArrayInfo& a = *p.array;
  dirty_.jobs.insert(p.id);
  if (is_terminal(p.state) || p.state == JobState::Pending || p.state == JobState::Submitted) return;
  auto n = [&](JobState s) { return a.count[static_cast<int>(s)]; };
  const std::int64_t on_nodes = n(JobState::Starting) + n(JobState::Running);
  const std::int64_t live = on_nodes + n(JobState::Submitted) + n(JobState::Runnable) + n(JobState::Pending);
  auto& queue = runnable_[p.queue];
  if (a.pending.empty() && live == 0) {
    queue.erase(p.id);
    const std::int64_t failed = n(JobState::Failed);
    std::string reason;
    if (p.terminate_requested)
      reason = p.terminate_reason;
    else if (failed > 0)
      reason = std::to_string(failed) + " of " + std::to_string(a.indexes.size()) + " tasks failed";
    finish(p, failed == 0 && !p.terminate_requested ? JobState::Succeeded : JobState::Failed,
           std::move(reason), at);
    return;
  }
  if (!a.pending.empty() && !p.terminate_requested) {
    queue.insert(p.id);
  } else if (queue.erase(p.id)) {
    p.pending_reason.clear();
    p.estimated_start = 0;
  }
  // RUNNING once a task runs; tasks still starting leave it RUNNABLE.
  const JobState want = n(JobState::Running) > 0 ? JobState::Running : JobState::Runnable;
  if (want == JobState::Running && p.started_at == 0) {
    p.started_at = at;
    p.state = want;
    resolve_dependents(p.id, at);  // "after" waits for the first task to start
  }
  p.state = want;
}

Status ClusterState::on(const JobStarted& e) {
  Job* job = mutable_job(e.id);
  if (!job || job->state != JobState::Starting)
    return make_error("job " + std::to_string(e.id) + " was not starting");
  job->attempts.back().started_at = e.at;
  job->started_at = e.at;
  set_state(*job, JobState::Running);
  resolve_dependents(job->id, e.at);  // "after" dependencies wait for the start
  return {};
}

Status ClusterState::on(const JobExited& e) {
  Job* job = mutable_job(e.id);
  if (!job || !is_active(job->state) || job->array)
    return make_error("job " + std::to_string(e.id) + " was not running");
  release(*job);
  Attempt& a = job->attempts.back();
  a.stopped_at = e.at;
  if (a.started_at == 0) a.started_at = e.at;
  a.exit_code = e.exit_code;
  a.signal = e.signal;
  a.reason = e.reason;
  charge_share(*job, a);
  const bool ok = e.exit_code && *e.exit_code == 0 && e.signal == 0 && e.reason.empty();
  if (job->terminate_requested) {
    a.status_reason = job->terminate_reason;
    finish(*job, JobState::Failed, job->terminate_reason, e.at);
    return {};
  }
  if (job->requeue_requested && !ok) {  // one that finished by itself meanwhile succeeded
    job->requeue_requested = false;
    a.status_reason = kRequeuedAttempt;
    job->status_reason = "Requeued: " + (!job->terminate_reason.empty() ? job->terminate_reason
                                         : e.reason.empty()            ? std::string("by request")
                                                                       : e.reason);
    job->terminate_reason.clear();
    set_state(*job, JobState::Runnable);
    return {};
  }
  if (auto why = requeue_reason(*job, a, e); !why.empty()) {
    a.status_reason = kRequeuedAttempt;
    job->status_reason = "Requeued: " + why;
    set_state(*job, JobState::Runnable);
    return {};
  }
  if (ok) {
    job->requeue_requested = false;
    finish(*job, JobState::Succeeded, "", e.at);
    return {};
  }
  a.status_reason = describe_exit(a);
  if (should_retry(*job, a)) {
    job->status_reason = "Retrying (attempt " + std::to_string(job->counted_attempts() + 1) +
                         " of " + std::to_string(job->retry.attempts) +
                         ") after: " + a.status_reason;
    set_state(*job, JobState::Runnable);
    return {};
  }
  finish(*job, JobState::Failed, a.status_reason, e.at);
  return {};
}

Status ClusterState::on(const JobRequeued& e) {
  Job* job = mutable_job(e.id);
  if (!job || !is_active(job->state) || job->array)
    return make_error("job " + std::to_string(e.id) + " was not starting or running");
  release(*job);
  job->attempts.pop_back();
  job->status_reason = e.reason;
  set_state(*job, JobState::Runnable);
  if (job->terminate_requested)
    finish(*job, JobState::Failed, job->terminate_reason, e.at);
  return {};
}

void ClusterState::terminate(Job& job, const std::string& reason, std::int64_t at) {
  if (is_terminal(job.state)) return;
  job.terminate_requested = true;
  job.terminate_reason = reason;
  dirty_.jobs.insert(job.id);
  // Not yet on a node: ends now. On a node: ends when the agent reports the exit.
  if (!is_active(job.state)) finish(job, JobState::Failed, reason, at);
}

std::int64_t ClusterState::cancel_pending_tasks(Job& parent, const std::vector<IndexRange>& indexes) {
  ArrayInfo& a = *parent.array;
  std::int64_t removed = 0;
  for (const auto& c : indexes) {
    if (c.step == 1) {
      // Each of the array's ranges meets [c.first, c.last] in consecutive positions.
      for (const auto& r : a.indexes.ranges()) {
        if (r.last < c.first || r.first > c.last) continue;
        const std::int64_t lo = c.first <= r.first ? r.first
                                                   : r.first + (c.first - r.first + r.step - 1) / r.step * r.step;
        const std::int64_t hi = std::min(c.last, r.last);
        if (lo > hi) continue;
        const std::int64_t hi_on = r.first + (hi - r.first) / r.step * r.step;
        if (lo > hi_on) continue;
        removed += a.pending.erase(a.indexes.position_of(lo), a.indexes.position_of(hi_on) + 1);
      }
    } else {
      for (std::int64_t i = c.first; i <= c.last; i += c.step)
        if (const auto pos = a.indexes.position_of(i); pos >= 0) removed += a.pending.erase(pos);
    }
  }
  a.count[static_cast<int>(JobState::Failed)] += removed;
  a.cancelled += removed;
  if (removed) dirty_.jobs.insert(parent.id);
  return removed;
}

Status ClusterState::on(const JobTerminationRequested& e) {
  Job* job = mutable_job(e.id);
  if (!job) return make_error("job " + std::to_string(e.id) + " not found");
  if (is_terminal(job->state)) return {};  // nothing to do: already ended
  if (!job->array) {
    if (!e.indexes.empty())
      return make_error("cannot cancel tasks of job " + std::to_string(e.id), "it is not an array");
    terminate(*job, e.reason, e.at);
    return {};
  }
  ArrayInfo& a = *job->array;

  if (e.indexes.empty()) {
    job->terminate_requested = true;
    job->terminate_reason = e.reason;
    cancel_pending_tasks(*job, {{0, kMaxArrayIndex, 1}});
  } else {
    cancel_pending_tasks(*job, e.indexes);
  }
  std::vector<std::int64_t> tasks;
  for (const auto& [index, id] : a.live)
    if (in_ranges(e.indexes, index)) tasks.push_back(id);
  for (auto id : tasks)
    if (Job* t = mutable_job(id)) terminate(*t, e.reason, e.at);
  if (job->state == JobState::Pending && e.indexes.empty())
    finish(*job, JobState::Failed, e.reason, e.at);  // waiting on dependencies: no task started
  else
    refresh_array(*job, e.at);
  return {};
}

Status ClusterState::on(const JobHoldSet& e) {
  Job* job = mutable_job(e.id);
  if (!job) return make_error("job " + std::to_string(e.id) + " not found");
  const bool waiting = job->state == JobState::Pending || job->state == JobState::Runnable ||
                       (job->array && !is_terminal(job->state));  // an array holds its tasks not started
  if (!waiting)
    return make_error(std::string(e.held ? "cannot hold" : "cannot release") + " job " + std::to_string(e.id),
                      std::string("it is ") + to_string(job->state) + "; only waiting jobs can be");
  job->held = e.held;
  dirty_.jobs.insert(job->id);
  return {};
}

Status ClusterState::on(const JobRequeueRequested& e) {
  Job* job = mutable_job(e.id);
  if (!job) return make_error("job " + std::to_string(e.id) + " not found");
  if (job->array)
    return make_error("cannot requeue job " + std::to_string(e.id),
                      "it is an array; requeue its running tasks by their own ids");
  if (!is_active(job->state))
    return make_error("cannot requeue job " + std::to_string(e.id),
                      std::string("it is ") + to_string(job->state) + "; only running jobs can be");
  job->requeue_requested = true;
  job->terminate_reason = e.reason;  // why it is stopped, for its status reason
  dirty_.jobs.insert(job->id);
  return {};
}

Status ClusterState::on(const JobUpdated& e) {
  Job* job = mutable_job(e.id);
  if (!job) return make_error("job " + std::to_string(e.id) + " not found");
  if (job->state != JobState::Pending && job->state != JobState::Runnable &&
      !(job->array && !is_terminal(job->state)))
    return make_error("cannot update job " + std::to_string(e.id),
                      std::string("it is ") + to_string(job->state) + "; only waiting jobs can change");
  if (e.timeout_seconds) job->timeout_seconds = *e.timeout_seconds;
  if (e.request) job->request = *e.request;
  count_priority(*job, -1);
  if (e.priority) job->priority = *e.priority;
  if (e.nice) job->nice = *e.nice;
  if (e.queue && *e.queue != job->queue) {
    const bool runnable = runnable_[job->queue].erase(job->id) > 0;
    job->queue = *e.queue;
    if (runnable) runnable_[job->queue].insert(job->id);
  }
  count_priority(*job, +1);
  dirty_.jobs.insert(job->id);
  return {};
}

Status ClusterState::on(const JobPendingReasonSet& e) {
  Job* job = mutable_job(e.id);
  if (job && (job->state == JobState::Runnable || (job->array && !is_terminal(job->state)))) {
    job->pending_reason = e.reason;
    job->estimated_start = e.estimated_start;
  }
  return {};  // not persisted: recomputed by every scheduling pass
}

// ---- queries ------------------------------------------------------------------

const JobDefinition* ClusterState::definition(const std::string& name, int revision) const {
  auto it = definitions_.find(name);
  if (it == definitions_.end()) return nullptr;
  const auto& revs = it->second;
  if (revision > 0)
    return revision <= static_cast<int>(revs.size()) ? &revs[revision - 1] : nullptr;
  for (auto r = revs.rbegin(); r != revs.rend(); ++r)
    if (r->active) return &*r;
  return nullptr;
}

const JobQueue* ClusterState::queue(const std::string& name) const {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : &it->second;
}

const ComputeEnvironment* ClusterState::environment(const std::string& name) const {
  auto it = envs_.find(name);
  return it == envs_.end() ? nullptr : &it->second;
}

const Node* ClusterState::node(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const std::set<std::int64_t>& ClusterState::runnable(const std::string& queue) const {
  auto it = runnable_.find(queue);
  return it == runnable_.end() ? kNoJobs : it->second;
}

std::size_t ClusterState::runnable_count() const {
  std::size_t n = 0;
  for (const auto& [q, ids] : runnable_) n += ids.size();
  return n;
}

DirtySet ClusterState::take_dirty() {
  DirtySet d;
  std::swap(d, dirty_);
  return d;
}

std::size_t ClusterState::evict_finished(std::int64_t stopped_before) {
  std::size_t n = 0;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const Job& j = it->second;
    // Unsaved changes must reach the store first; then it is safe to forget.
    if (is_terminal(j.state) && j.stopped_at < stopped_before && !dirty_.jobs.count(j.id)) {
      dependents_.erase(j.id);
      if (j.array_parent)
        if (Job* p = mutable_job(j.array_parent); p && p->array) p->array->live.erase(j.array_index);
      it = jobs_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

void ClusterState::mark_dirty(const DirtySet& d) {
  dirty_.jobs.insert(d.jobs.begin(), d.jobs.end());
  dirty_.definitions.insert(d.definitions.begin(), d.definitions.end());
  dirty_.queues.insert(d.queues.begin(), d.queues.end());
  dirty_.environments.insert(d.environments.begin(), d.environments.end());
  dirty_.nodes.insert(d.nodes.begin(), d.nodes.end());
}

// ---- restore ------------------------------------------------------------------

void ClusterState::restore(JobDefinition d) {
  auto& revs = definitions_[d.name];
  if (static_cast<int>(revs.size()) < d.revision) revs.resize(d.revision);
  revs[d.revision - 1] = std::move(d);
}
void ClusterState::restore(JobQueue q) { queues_[q.name] = std::move(q); }
void ClusterState::restore(ComputeEnvironment e) { envs_[e.name] = std::move(e); }
void ClusterState::restore(Node n) {
  n.connected = false;
  if (n.state == NodeState::Up) {
    n.state = NodeState::Down;
    n.state_reason = "agent not connected";
  }
  resize_allocation(n);
  nodes_[n.name] = std::move(n);
}
void ClusterState::restore(Job j) {
  next_job_id_ = std::max(next_job_id_, j.id + 1);
  const auto id = j.id;
  jobs_[id] = std::move(j);
}

void ClusterState::finish_restore() {
  prioritized_.clear();
  for (const auto& [id, job] : jobs_)
    if (!is_terminal(job.state)) count_priority(job, +1);
  runnable_.clear();
  active_.clear();
  dependents_.clear();
  for (auto& [name, n] : nodes_) resize_allocation(n);
  for (auto& [id, job] : jobs_) {
    if (job.array) {
      job.array->live.clear();
      if (!is_terminal(job.state) && job.state != JobState::Pending && !job.array->pending.empty() &&
          !job.terminate_requested)
        runnable_[job.queue].insert(id);
      if (job.state == JobState::Pending)
        for (const auto& d : job.depends_on) dependents_[d.job_id].push_back(id);
      continue;
    }
    if (job.state == JobState::Runnable) runnable_[job.queue].insert(id);
    if (is_active(job.state)) {
      allocate(job);
      active_.insert(id);
    }
    if (job.state == JobState::Pending)
      for (const auto& d : job.depends_on) dependents_[d.job_id].push_back(id);
  }
  for (auto& [id, job] : jobs_)
    if (job.array_parent)
      if (Job* p = mutable_job(job.array_parent); p && p->array) p->array->live[job.array_index] = id;
}

}  // namespace drover
