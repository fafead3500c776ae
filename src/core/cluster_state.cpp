#include "core/cluster_state.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <unordered_set>

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
  node.numa_memory_used_mib.assign(node.topology.numa.size(), 0);
  node.jobs_running = 0;
}

Status ClusterState::on(const NodeConnected& e) {
  auto [it, inserted] = nodes_.try_emplace(e.name);
  Node& n = it->second;
  n.name = e.name;
  const bool changed = inserted || !(n.topology == e.topology);
  n.topology = e.topology;
  n.agent_features = e.features;
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

Status ClusterState::on(const NodeFeaturesSet& e) {
  auto it = nodes_.find(e.name);
  if (it == nodes_.end()) return make_error("unknown node " + e.name);
  it->second.admin_features = e.features;
  dirty_.nodes.insert(e.name);
  return {};
}

// Marks (or frees) the PUs, GPUs and memory of the job's current attempt, on
// each of its nodes.
void ClusterState::account(const Job& job, bool used, const std::string& only) {
  const Attempt* a = job.current_attempt();
  if (!a) return;
  auto one = [&](const std::string& node, const std::vector<int>& cpus, const std::vector<int>& gpus, int index) {
    if (!only.empty() && node != only) return;
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    Node& n = it->second;
    for (int pu : cpus)
      if (pu >= 0 && static_cast<std::size_t>(pu) < n.pu_used.size()) n.pu_used[pu] = used;
    for (int g : gpus)
      if (g >= 0 && static_cast<std::size_t>(g) < n.gpu_used.size()) n.gpu_used[g] = used;
    const int sign = used ? 1 : -1;
    const std::int64_t mem = job.request_on(index).memory_mib;
    n.memory_used_mib = std::max<std::int64_t>(0, n.memory_used_mib + sign * mem);
    add_memory_by_domain(n.numa_memory_used_mib, local_memory_by_domain(n.topology, cpus, mem), sign);
    n.jobs_running = std::max(0, n.jobs_running + sign);
  };
  one(a->node, a->cpus, a->gpus, 0);
  for (std::size_t i = 0; i < a->more_nodes.size(); ++i)
    one(a->more_nodes[i].node, a->more_nodes[i].cpus, a->more_nodes[i].gpus, static_cast<int>(i + 1));
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
    if (const auto t = earliest_start(job)) start_times_.erase({t, job.id});
  }
  if (state == JobState::Runnable && job.state != JobState::Runnable) {
    runnable_[job.queue].insert(job.id);
    if (const auto t = earliest_start(job)) start_times_.emplace(t, job.id);
  }
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
  const bool was_terminal = is_terminal(job.state);
  if (!was_terminal) count_priority(job, -1);
  if (job.array) {
    ArrayInfo& a = *job.array;
    if (!a.pending.empty()) {
      // Tasks that never started end with their array (cancel, failed dependency).
      const std::int64_t n = a.pending.count();
      for (const auto& [lo, hi] : a.pending.intervals()) a.more().failed.insert(lo, hi);
      a.pending.clear();
      a.count[static_cast<int>(JobState::Failed)] += n;
      a.cancelled += n;
    }
    if (a.extra)
      for (auto& w : a.extra->waiting) w.clear();
  }
  set_state(job, state);
  job.status_reason = std::move(reason);
  job.stopped_at = at;
  if (!was_terminal && !job.array_parent) leave_same_name(job);
  Job* parent = job.array_parent ? mutable_job(job.array_parent) : nullptr;
  const std::int64_t position =
      parent && parent->array ? parent->array->indexes.position_of(job.array_index) : -1;
  if (position >= 0 && state == JobState::Failed) parent->array->more().failed.insert(position, position + 1);
  resolve_dependents(job.id, at);
  if (position >= 0) task_finished(*parent, position, at);
  if (job.array && !was_terminal) {
    // Every task has ended now: what waits on one of them, or on them one by
    // one (aftercorr), is decided.
    tasks_ended_unstarted(job, at);
    corr_dependents_.erase(job.id);
  }
}

Status ClusterState::on(const JobSubmitted& e) {
  if (jobs_.count(e.job.id)) return make_error("job " + std::to_string(e.job.id) + " exists");
  Job& job = jobs_.emplace(e.job.id, e.job).first->second;
  next_job_id_ = std::max(next_job_id_, job.id + 1);
  job.state = JobState::Submitted;
  job.dependency_ready_s = 0;
  count_priority(job, +1);
  join_same_name(job);
  set_state(job, JobState::Pending);
  if (job.array) init_task_dependencies(job, e.job.created_at);
  link_dependencies(job);
  evaluate_dependencies(job, e.job.created_at);
  dirty_.jobs.insert(job.id);
  return {};
}

namespace {

enum class TaskEnd { NotYet, Succeeded, Failed };

// How the task at `position` of array `parent` ended, also after its record
// has left memory: not pending, not live and not failed means it succeeded.
TaskEnd task_end(const ClusterState& state, const Job& parent, std::int64_t position) {
  const ArrayInfo& a = *parent.array;
  if (a.pending.contains(position)) return TaskEnd::NotYet;
  if (auto it = a.live.find(a.indexes.index_at(position)); it != a.live.end())
    if (const Job* t = state.job(it->second))
      return t->state == JobState::Succeeded ? TaskEnd::Succeeded
             : t->state == JobState::Failed  ? TaskEnd::Failed
                                             : TaskEnd::NotYet;
  return a.failed().contains(position) ? TaskEnd::Failed : TaskEnd::Succeeded;
}

// The k-th per-task dependency (aftercorr, SEQUENTIAL) of a job.
const Dependency* per_task_dependency(const Job& job, std::size_t k) {
  for (const auto& d : job.depends_on)
    if (per_task(d.type) && k-- == 0) return &d;
  return nullptr;
}

}  // namespace

DependencyOutcome ClusterState::dependency_outcome(const Job& job, const Dependency& d, std::int64_t at) const {
  (void)job;
  DependencyOutcome out;
  out.is = DependencyOutcome::Is::Met;
  if (!names_job(d.type) || per_task(d.type)) return out;
  const Job* t = this->job(d.job_id);
  if (!t) return out;  // forgotten (purged) jobs count as satisfied
  JobState s = t->state;
  std::int64_t since = t->started_at ? t->started_at : t->stopped_at;  // started, or ended unstarted
  if (d.array_index >= 0 && t->array) {
    const ArrayInfo& a = *t->array;
    const std::int64_t pos = a.indexes.position_of(d.array_index);
    if (pos < 0) {
      out.is = DependencyOutcome::Is::Never;
      out.why = "array " + std::to_string(d.job_id) + " has no task " + std::to_string(d.array_index);
      return out;
    }
    const auto live = a.live.find(d.array_index);
    if (const Job* task = live != a.live.end() ? this->job(live->second) : nullptr) {
      s = task->state;
      since = task->started_at ? task->started_at : task->stopped_at;
    } else if (a.pending.contains(pos)) {
      s = JobState::Pending;
      since = 0;
    } else {
      // Ended without a record in memory: cancelled before it started (the
      // head recalls the records of tasks that ran).
      s = a.failed().contains(pos) ? JobState::Failed : JobState::Succeeded;
      since = is_terminal(t->state) ? t->stopped_at : 0;
    }
  }
  const auto never = [&] {
    out.is = DependencyOutcome::Is::Never;
    out.why = "job " + target_name(d) + " ended " + to_string(s);
  };
  const auto waiting = [&] { out.is = DependencyOutcome::Is::Waiting; };
  switch (d.type) {
    case DependencyType::AfterOk:
      if (s == JobState::Failed) never();
      else if (s != JobState::Succeeded) waiting();
      break;
    case DependencyType::AfterNotOk:
      if (s == JobState::Succeeded) never();
      else if (s != JobState::Failed) waiting();
      break;
    case DependencyType::AfterAny:
      if (!is_terminal(s)) waiting();
      break;
    case DependencyType::After:
      if (s != JobState::Running && !is_terminal(s)) waiting();
      else if (d.minutes > 0) out.at = (since > 0 ? since : at) + std::int64_t{d.minutes} * 60'000;
      break;
    default:
      break;
  }
  return out;
}

void ClusterState::set_ready_at(Job& job, std::int64_t t) {
  const bool runnable = job.state == JobState::Runnable;
  if (runnable)
    if (const auto old = earliest_start(job)) start_times_.erase({old, job.id});
  job.set_dependency_ready_at(t);
  if (runnable)
    if (const auto now = earliest_start(job)) start_times_.emplace(now, job.id);
  dirty_.jobs.insert(job.id);
}

bool ClusterState::kills_on_invalid_dependency(const Job& job) const {
  if (job.kill_on_invalid_dep >= 0) return job.kill_on_invalid_dep > 0;
  const JobQueue* q = queue(job.queue);
  return !q || q->kill_on_invalid_dep;
}

void ClusterState::dependency_never_satisfied(Job& job, std::string fail_reason, const std::string& what,
                                              std::int64_t at) {
  if (kills_on_invalid_dependency(job)) {
    finish(job, JobState::Failed, std::move(fail_reason), at);
    return;
  }
  // Kept PENDING until cancelled or given new dependencies (JobUpdated); the
  // reason, persisted with the job, also keeps it from being decided again
  // (the job it names may have left memory by then).
  job.status_reason = std::string(kDependencyNeverSatisfied) + ": " + what;
  dirty_.jobs.insert(job.id);
}

void ClusterState::evaluate_dependencies(Job& job, std::int64_t at) {
  if (waits_on_never_satisfied(job)) return;
  const bool any = job.depends_any && !job.depends_on.empty();
  if (job.state != JobState::Pending) {
    // A RUNNABLE any-of job not allowed to start yet (after:ID+MINUTES, or
    // only its singleton rule) starts sooner if another dependency is met.
    if (!(job.state == JobState::Runnable && any && job.attempts.empty() && job.dependency_ready_at() > at))
      return;
  }
  // Every dependency is checked before waiting on any: with ',' one that can
  // no longer be satisfied fails the job now, even while others are unresolved.
  std::int64_t latest = 0, earliest = kNotReady;
  bool waiting = false, singleton = false;
  std::string never;
  for (const auto& d : job.depends_on) {
    if (d.type == DependencyType::Singleton) {
      singleton = true;  // decided by the scheduler, which sees what runs
      continue;
    }
    const DependencyOutcome o = dependency_outcome(job, d, at);
    switch (o.is) {
      case DependencyOutcome::Is::Met:
        latest = std::max(latest, o.at);
        earliest = std::min(earliest, o.at);
        break;
      case DependencyOutcome::Is::Waiting:
        waiting = true;
        break;
      case DependencyOutcome::Is::Never:
        if (!any) {
          dependency_never_satisfied(job, "Dependency " + o.why + " (" + to_string(d) + " can no longer be satisfied)",
                                     to_string(d) + " can no longer be satisfied (" + o.why + ")", at);
          return;
        }
        never += (never.empty() ? "" : "; ") + o.why + " (" + to_string(d) + ")";
        break;
    }
  }
  std::int64_t ready = latest;
  if (any) {
    if (earliest == kNotReady && !singleton) {
      if (waiting) {
        job.status_reason = "Dependency";
        return;
      }
      const std::string what = "none of its dependencies can be satisfied any more: " + never;
      dependency_never_satisfied(job, std::string(kDependencyNeverSatisfied) + ": " + what, what, at);
      return;
    }
    ready = earliest;  // kNotReady: only the singleton rule may let it start
  } else if (waiting) {
    job.status_reason = "Dependency";
    return;
  }
  if (ready != kNotReady && ready <= at) ready = 0;
  if (job.state == JobState::Runnable) {
    if (ready < job.dependency_ready_at()) set_ready_at(job, ready);
    return;
  }
  job.status_reason.clear();
  job.set_dependency_ready_at(ready);
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

void ClusterState::link_target(std::int64_t dependent, const Dependency& d) {
  const Job* t = job(d.job_id);
  if (!t) return;
  if (d.array_index >= 0 && t->array) {
    const ArrayInfo& a = *t->array;
    if (auto it = a.live.find(d.array_index); it != a.live.end()) {
      const Job* task = job(it->second);
      if (task && !is_terminal(task->state)) dependents_[task->id].push_back(dependent);
      return;
    }
    // Not started: no id yet. Moved under the task's id when it is dispatched.
    if (a.pending.contains(a.indexes.position_of(d.array_index)))
      task_dependents_[{t->id, d.array_index}].push_back(dependent);
    return;
  }
  if (!is_terminal(t->state)) dependents_[t->id].push_back(dependent);
}

// Whether a job's dependencies may still change what it does: it waits on them
// (PENDING), or it is a RUNNABLE any-of job that one of them may let start sooner.
static bool dependencies_undecided(const Job& job) {
  return job.state == JobState::Pending || job.state == JobState::Submitted ||
         (job.state == JobState::Runnable && job.depends_any && job.attempts.empty() &&
          job.dependency_ready_s != 0);
}

void ClusterState::link_dependencies(const Job& job) {
  if (!dependencies_undecided(job)) return;
  for (const auto& d : job.depends_on)
    if (names_job(d.type) && !per_task(d.type)) link_target(job.id, d);
}

void ClusterState::init_task_dependencies(Job& d, std::int64_t at) {
  ArrayInfo& a = *d.array;
  if (a.extra) a.extra->waiting.clear();
  for (const auto& dep : d.depends_on) {
    if (!per_task(dep.type)) continue;
    // SEQUENTIAL: every task but the first waits for the one before it.
    a.more().waiting.push_back(dep.type == DependencyType::Sequential ? a.pending.slice(1, a.indexes.size())
                                                                      : a.pending);
    auto& list = corr_dependents_[dep.type == DependencyType::Sequential ? d.id : dep.job_id];
    if (std::find(list.begin(), list.end(), d.id) == list.end()) list.push_back(d.id);
  }
  for (std::size_t k = 0; k < a.waiting().size(); ++k) settle_task_dependency(d, k, at);
}

void ClusterState::settle_task_dependency(Job& d, std::size_t k, std::int64_t at) {
  ArrayInfo& a = *d.array;
  const Dependency* dep = per_task_dependency(d, k);
  if (!dep || k >= a.waiting().size() || a.waiting()[k].empty()) return;
  PositionSet& w = a.more().waiting[k];
  PositionSet fail;
  // Decide first, change after: failing tasks may come back here.
  if (dep->type == DependencyType::Sequential) {
    // Within a run of waiting tasks each waits for one that has not started:
    // only the first of each run can be decided.
    std::vector<std::int64_t> release;
    for (const auto& [lo, hi] : w.intervals()) {
      const TaskEnd e = task_end(*this, d, lo - 1);
      if (e == TaskEnd::Failed) {
        fail = w.slice(lo, a.indexes.size());  // and every task after it
        break;
      }
      if (e == TaskEnd::Succeeded) release.push_back(lo);
    }
    for (auto p : release) w.erase(p);
  } else if (const Job* src = job(dep->job_id); !src) {
    w.clear();  // forgotten: counts as satisfied, as for whole jobs
  } else if (!src->array) {
    if (src->state == JobState::Succeeded) w.clear();
    else if (src->state == JobState::Failed) fail = w;
  } else if (src->array->indexes == a.indexes) {
    // The same indexes: the same positions. Still waiting: those not started
    // there or not ended; failed there: fail here; the rest succeeded.
    const ArrayInfo& sa = *src->array;
    PositionSet keep;
    for (const auto& [lo, hi] : sa.pending.intervals())
      for (const auto& [l, h] : w.intervals_in(lo, hi)) keep.insert(l, h);
    for (const auto& [index, id] : sa.live) {
      const Job* t = job(id);
      const std::int64_t p = sa.indexes.position_of(index);
      if (t && !is_terminal(t->state) && w.contains(p)) keep.insert(p, p + 1);
    }
    for (const auto& [lo, hi] : sa.failed().intervals())
      for (const auto& [l, h] : w.intervals_in(lo, hi)) fail.insert(l, h);
    if (!kills_on_invalid_dependency(d))  // kept waiting, for ever (or new dependencies)
      for (const auto& [l, h] : fail.intervals()) keep.insert(l, h);
    w = std::move(keep);
  } else {
    // Indexes differ: task by task. An index the other array lacks waits for
    // the whole of it (Slurm's rule for aftercorr).
    const ArrayInfo& sa = *src->array;
    std::vector<std::int64_t> release;
    for (const auto& [lo, hi] : w.intervals())
      for (std::int64_t p = lo; p < hi; ++p) {
        const std::int64_t q = sa.indexes.position_of(a.indexes.index_at(p));
        const TaskEnd e = q >= 0                                 ? task_end(*this, *src, q)
                          : src->state == JobState::Succeeded ? TaskEnd::Succeeded
                          : src->state == JobState::Failed    ? TaskEnd::Failed
                                                              : TaskEnd::NotYet;
        if (e == TaskEnd::Succeeded) release.push_back(p);
        else if (e == TaskEnd::Failed) fail.insert(p, p + 1);
      }
    for (auto p : release) w.erase(p);
  }
  dirty_.jobs.insert(d.id);
  if (!fail.empty()) fail_tasks(d, *dep, fail, at);
}

void ClusterState::task_finished(Job& parent, std::int64_t position, std::int64_t at) {
  auto it = corr_dependents_.find(parent.id);
  if (it == corr_dependents_.end()) return;
  const std::vector<std::int64_t> ids = it->second;  // may change below
  const TaskEnd e = task_end(*this, parent, position);
  if (e == TaskEnd::NotYet) return;
  for (const auto id : ids) {
    Job* d = mutable_job(id);
    if (!d || !d->array || is_terminal(d->state)) continue;
    std::size_t k = 0;
    for (const auto& dep : d->depends_on) {
      if (!per_task(dep.type)) continue;
      const std::size_t kk = k++;
      if (kk >= d->array->waiting().size()) break;
      std::int64_t p = -1;
      if (dep.type == DependencyType::Sequential) {
        if (d->id == parent.id) p = position + 1;
      } else if (dep.job_id == parent.id) {
        p = d->array->indexes == parent.array->indexes
                ? position
                : d->array->indexes.position_of(parent.array->indexes.index_at(position));
      }
      PositionSet& w = d->array->more().waiting[kk];
      if (p < 0 || !w.contains(p)) continue;
      dirty_.jobs.insert(d->id);
      if (e == TaskEnd::Succeeded) {
        w.erase(p);
        continue;
      }
      fail_tasks(*d, dep,
                 dep.type == DependencyType::Sequential ? w.slice(p, d->array->indexes.size()) : w.slice(p, p + 1),
                 at);
    }
  }
}

void ClusterState::tasks_ended_unstarted(Job& parent, std::int64_t at) {
  const ArrayInfo& a = *parent.array;
  // Jobs that wait on one task that will never start now.
  std::vector<std::int64_t> decide;
  for (auto it = task_dependents_.lower_bound({parent.id, INT64_MIN});
       it != task_dependents_.end() && it->first.first == parent.id;) {
    const std::int64_t pos = a.indexes.position_of(it->first.second);
    if (pos >= 0 && a.pending.contains(pos)) {
      ++it;
      continue;
    }
    decide.insert(decide.end(), it->second.begin(), it->second.end());
    it = task_dependents_.erase(it);
  }
  for (const auto id : decide)
    if (Job* j = mutable_job(id)) evaluate_dependencies(*j, at);
  // Arrays that wait on this one task by task.
  auto it = corr_dependents_.find(parent.id);
  if (it == corr_dependents_.end()) return;
  const std::vector<std::int64_t> ids = it->second;
  for (const auto id : ids) {
    Job* d = mutable_job(id);
    if (!d || !d->array || is_terminal(d->state)) continue;
    std::size_t k = 0;
    for (const auto& dep : d->depends_on) {
      if (!per_task(dep.type)) continue;
      const std::size_t kk = k++;
      if (dep.type == DependencyType::Sequential ? d->id == parent.id : dep.job_id == parent.id)
        settle_task_dependency(*d, kk, at);
    }
  }
}

void ClusterState::fail_tasks(Job& d, const Dependency& dep, const PositionSet& positions, std::int64_t at) {
  ArrayInfo& a = *d.array;
  if (!kills_on_invalid_dependency(d)) {
    // kill-on-invalid-dep no: the tasks stay pending, waiting (they are left in
    // their waiting set) until the array is cancelled or given new dependencies.
    // A PENDING array waits for its other dependencies first; its reason says so.
    if (d.state != JobState::Pending) {
      d.status_reason = std::string(kDependencyNeverSatisfied) + ": " + to_string(dep) +
                        " can no longer be satisfied for some tasks (a task they wait for failed)";
      dirty_.jobs.insert(d.id);
    }
    return;
  }
  std::int64_t n = 0;
  for (const auto& [lo, hi] : positions.intervals())
    for (const auto& [l, h] : a.pending.intervals_in(lo, hi)) {
      n += a.pending.erase(l, h);
      auto& more = a.more();
      more.failed.insert(l, h);
      more.dependency_failed.insert(l, h);
      for (auto& w : more.waiting) w.erase(l, h);
    }
  if (n == 0) return;
  a.count[static_cast<int>(JobState::Failed)] += n;
  a.cancelled += n;
  touched_arrays_.insert(d.id);
  dirty_.jobs.insert(d.id);
  tasks_ended_unstarted(d, at);  // what waits on them fails in turn
}

void ClusterState::join_same_name(const Job& job) {
  if (job.array_parent || is_terminal(job.state)) return;
  const bool singleton = job.has_dependency(DependencyType::Singleton);
  auto it = same_name_.find({job.uid, job.name});
  if (it == same_name_.end()) {
    if (!singleton) return;
    // The first singleton job of this user and name: gather the others once.
    it = same_name_.emplace(std::make_pair(job.uid, job.name), SameName{}).first;
    for (const auto& [id, j] : jobs_)
      if (!j.array_parent && !is_terminal(j.state) && j.uid == job.uid && j.name == job.name)
        it->second.jobs.insert(id);
  }
  it->second.jobs.insert(job.id);
  if (singleton) ++it->second.singletons;
}

void ClusterState::leave_same_name(const Job& job) {
  auto it = same_name_.find({job.uid, job.name});
  if (it == same_name_.end()) return;
  it->second.jobs.erase(job.id);
  if (job.has_dependency(DependencyType::Singleton) && --it->second.singletons <= 0) same_name_.erase(it);
}

std::int64_t ClusterState::singleton_blocker(const Job& job) const {
  auto it = same_name_.find({job.uid, job.name});
  if (it == same_name_.end()) return 0;
  const auto on_nodes = [](const Job& j) {
    if (!j.array) return is_active(j.state);
    const auto& c = j.array->count;
    return c[static_cast<int>(JobState::Starting)] + c[static_cast<int>(JobState::Running)] > 0;
  };
  for (const auto id : it->second.jobs) {
    const Job* j = this->job(id);
    if (!j || is_terminal(j->state)) continue;
    if (id == job.id) {
      if (j->array && on_nodes(*j)) return id;  // a singleton array runs one task at a time
      continue;
    }
    if (id < job.id || on_nodes(*j)) return id;
  }
  return 0;
}

std::int64_t ClusterState::next_start_time(std::int64_t now) const {
  auto it = start_times_.upper_bound({now, INT64_MAX});
  return it == start_times_.end() ? 0 : it->first;
}

void ClusterState::recall(Job j) {
  if (jobs_.count(j.id)) return;
  const auto id = j.id;
  Job& in = jobs_.emplace(id, std::move(j)).first->second;
  if (in.array_parent)
    if (Job* p = mutable_job(in.array_parent); p && p->array) p->array->live[in.array_index] = id;
  if (in.array) {
    in.array->live.clear();
    for (const auto& [tid, t] : jobs_)
      if (t.array_parent == id) in.array->live[t.array_index] = tid;
  }
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
    if (job->array->held_by_dependency(position))
      return make_error(what, "its dependency on another task is not satisfied yet");
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
  if (e.time_limit_s < 0 || (e.time_limit_s > 0 && job->timeout_seconds > 0 && e.time_limit_s > job->timeout_seconds))
    return make_error(what, "time limit " + std::to_string(e.time_limit_s) + " s is not within the job's " +
                                std::to_string(job->timeout_seconds) + " s");
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
    task.depends_any = false;
    task.dependency_ready_s = 0;
    task.attempts.clear();
    task.status_reason.clear();
    task.pending_reason.clear();
    task.estimated_start = 0;
    task.started_at = task.stopped_at = 0;
    task.held = task.terminate_requested = task.requeue_requested = false;
    ++info.count[static_cast<int>(JobState::Submitted)];
    info.live[e.array_index] = e.task_id;
    // Jobs waiting on this task wait on it by its id from now on.
    if (auto w = task_dependents_.find({parent.id, e.array_index}); w != task_dependents_.end()) {
      auto& list = dependents_[e.task_id];
      list.insert(list.end(), w->second.begin(), w->second.end());
      task_dependents_.erase(w);
    }
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
  a.time_limit_s = e.time_limit_s;
  job->attempts.push_back(std::move(a));
  job->status_reason.clear();
  set_state(*job, JobState::Starting);
  job->dependency_ready_s = 0;  // served its purpose; a requeued attempt does not wait again
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
    if (!p.terminate_requested && !a.dependency_failed().empty())
      reason += " (" + std::to_string(a.dependency_failed().count()) +
                " never started: the task they depend on failed)";
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
  // Cancelled tasks end FAILED: recorded as such, and no longer wait on anything.
  const auto take = [&](std::int64_t lo, std::int64_t hi) {
    for (const auto& [l, h] : a.pending.intervals_in(lo, hi)) {
      removed += a.pending.erase(l, h);
      auto& more = a.more();
      more.failed.insert(l, h);
      for (auto& w : more.waiting) w.erase(l, h);
    }
  };
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
        take(a.indexes.position_of(lo), a.indexes.position_of(hi_on) + 1);
      }
    } else {
      for (std::int64_t i = c.first; i <= c.last; i += c.step)
        if (const auto pos = a.indexes.position_of(i); pos >= 0) take(pos, pos + 1);
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

  std::int64_t removed = 0;
  if (e.indexes.empty()) {
    job->terminate_requested = true;
    job->terminate_reason = e.reason;
    removed = cancel_pending_tasks(*job, {{0, kMaxArrayIndex, 1}});
  } else {
    removed = cancel_pending_tasks(*job, e.indexes);
  }
  if (removed) tasks_ended_unstarted(*job, e.at);
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
  if (e.depends_on && ((job->state != JobState::Pending && job->state != JobState::Runnable) || job->array_parent))
    return make_error("cannot change the dependencies of job " + std::to_string(e.id),
                      job->array_parent ? "it is a task of array " + std::to_string(job->array_parent) +
                                              "; change the array's"
                                        : std::string("it is ") + to_string(job->state) +
                                              "; only jobs that have not started can change");
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
  if (e.depends_on) {
    // As if submitted with them: back to PENDING (a RUNNABLE job leaves its
    // queue's order), then decided again. An array's tasks not started yet
    // follow the new dependencies.
    unlink_dependencies(*job);
    leave_same_name(*job);
    if (job->state == JobState::Runnable) set_state(*job, JobState::Pending);
    job->depends_on = *e.depends_on;
    job->depends_any = e.depends_any && !job->depends_on.empty();
    job->dependency_ready_s = 0;
    job->status_reason.clear();
    join_same_name(*job);
    if (job->array) init_task_dependencies(*job, e.at);
    link_dependencies(*job);
    evaluate_dependencies(*job, e.at);
  }
  return {};
}

void ClusterState::unlink_dependencies(const Job& waiting) {
  auto drop = [&](std::vector<std::int64_t>& v) { v.erase(std::remove(v.begin(), v.end(), waiting.id), v.end()); };
  for (const auto& d : waiting.depends_on) {
    if (!names_job(d.type) && d.type != DependencyType::Sequential) continue;
    if (per_task(d.type)) {
      auto it = corr_dependents_.find(d.type == DependencyType::Sequential ? waiting.id : d.job_id);
      if (it != corr_dependents_.end()) drop(it->second);
      continue;
    }
    if (auto it = dependents_.find(d.job_id); it != dependents_.end()) drop(it->second);
    if (d.array_index >= 0) {
      if (auto it = task_dependents_.find({d.job_id, d.array_index}); it != task_dependents_.end()) drop(it->second);
      if (const Job* t = job(d.job_id); t && t->array)
        if (auto live = t->array->live.find(d.array_index); live != t->array->live.end())
          if (auto it = dependents_.find(live->second); it != dependents_.end()) drop(it->second);
    }
  }
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
  // Jobs that an unfinished job depends on stay until it is decided: how and
  // when they ended (after:ID+MINUTES) is read from them.
  std::unordered_set<std::int64_t> needed;
  for (const auto& [id, j] : jobs_) {
    // A job kept PENDING for a dependency that can never be met is decided
    // (new dependencies recall what they name).
    if (!dependencies_undecided(j) || waits_on_never_satisfied(j)) continue;
    for (const auto& d : j.depends_on) {
      if (!names_job(d.type) || per_task(d.type)) continue;
      needed.insert(d.job_id);
      if (d.array_index < 0) continue;
      if (const Job* p = job(d.job_id); p && p->array)
        if (auto t = p->array->live.find(d.array_index); t != p->array->live.end()) needed.insert(t->second);
    }
  }
  std::size_t n = 0;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const Job& j = it->second;
    // Unsaved changes must reach the store first; then it is safe to forget.
    if (is_terminal(j.state) && j.stopped_at < stopped_before && !dirty_.jobs.count(j.id) && !needed.count(j.id)) {
      dependents_.erase(j.id);
      corr_dependents_.erase(j.id);
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
  task_dependents_.clear();
  corr_dependents_.clear();
  same_name_.clear();
  start_times_.clear();
  for (auto& [name, n] : nodes_) resize_allocation(n);
  for (auto& [id, job] : jobs_)
    if (job.array) job.array->live.clear();
  for (auto& [id, job] : jobs_)
    if (job.array_parent)
      if (Job* p = mutable_job(job.array_parent); p && p->array) p->array->live[job.array_index] = id;
  for (auto& [id, job] : jobs_) {
    if (is_terminal(job.state)) continue;
    link_dependencies(job);
    join_same_name(job);
    if (job.state == JobState::Runnable)
      if (const auto t = earliest_start(job)) start_times_.emplace(t, id);
    if (job.array) {
      std::size_t k = 0;
      for (const auto& d : job.depends_on)
        if (per_task(d.type) && k < job.array->waiting().size() && !job.array->waiting()[k++].empty()) {
          auto& list = corr_dependents_[d.type == DependencyType::Sequential ? id : d.job_id];
          if (std::find(list.begin(), list.end(), id) == list.end()) list.push_back(id);
        }
      if (job.state != JobState::Pending && !job.array->pending.empty() && !job.terminate_requested)
        runnable_[job.queue].insert(id);
      continue;
    }
    if (job.state == JobState::Runnable) runnable_[job.queue].insert(id);
    if (is_active(job.state)) {
      allocate(job);
      active_.insert(id);
    }
  }
}

}  // namespace drover
