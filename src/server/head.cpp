#include "server/head.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/job_environment.hpp"
#include "core/job_request.hpp"
#include "place/placement.hpp"
#include "transport/log.hpp"
#include "transport/munge_credential.hpp"

namespace drover::server {

using proto::Json;
namespace fs = std::filesystem;

namespace {

// "tcp:10.0.0.7:6819" -> "10.0.0.7"; "" when it is not an IPv4 TCP address.
std::string ipv4_of(const std::string& address) {
  if (address.rfind("tcp:", 0) != 0) return {};
  const std::string rest = address.substr(4);
  const auto colon = rest.rfind(':');
  const std::string host = rest.substr(0, colon);
  if (host.empty() || host.find_first_not_of("0123456789.") != std::string::npos) return {};
  return host;
}

// The scheduling mode of queues that choose none (JobQueue::backfill unset).
constexpr sched::Backfill kDefaultBackfill = sched::Backfill::Easy;

constexpr std::int64_t kTaskIdsAhead = 1024;

// Operations that change nothing: their replies need no fsync.
bool is_read_op(const std::string& op) {
  return op == "DescribeJobs" || op == "ListJobs" || op == "ReadLog" || op == "ListJobHistory" ||
         op == "DescribeJobDefinitions" || op == "DescribeJobQueues" ||
         op == "DescribeComputeEnvironments" || op == "ListNodes" || op == "Status";
}

// A queue's document as users see it: `backfill` says the mode that applies,
// also where the queue leaves it to the default.
Json queue_json(const JobQueue& q) {
  Json j = proto::to_json(q);
  if (!j.contains("backfill")) j["backfill"] = "EASY";
  return j;
}

Json ok_reply(Json result) { return {{"ok", true}, {"result", std::move(result)}}; }
Json error_reply(const std::string& message) { return {{"ok", false}, {"error", message}}; }

std::string string_arg(const Json& args, const char* key) {
  auto it = args.find(key);
  return it != args.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An optional integer argument: the default when absent, an error when not a number.
Result<std::int64_t> int_arg(const Json& args, const char* key, std::int64_t fallback) {
  auto it = args.find(key);
  if (it == args.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX))
    return make_error(key, it->dump() + " is not a whole number");
  return it->get<std::int64_t>();
}

// Whether s is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF), i.e. whether it can travel as a JSON string.
bool is_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the first continuation byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// Copying or printing JSON recurses once per level, so a request nested a million
// levels deep would overflow droverd's stack: refuse it before parsing. Counts
// brackets outside strings; real requests nest a handful of levels.
constexpr int kMaxJsonDepth = 64;
bool nested_too_deep(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

Json job_summary(const Job& j) {
  Json s = {{"jobId", std::to_string(j.id)},
            {"jobName", j.name},
            {"jobQueue", j.queue},
            {"status", to_string(j.state)},
            {"owner", {{"uid", j.uid}, {"user", j.user}}},
            {"createdAt", j.created_at},
            {"vcpus", j.total_vcpus()}};
  if (j.nodes > 1) s["numNodes"] = j.nodes;
  if (!j.status_reason.empty()) s["statusReason"] = j.status_reason;
  if (!j.pending_reason.empty()) s["pendingReason"] = j.pending_reason.str();
  if (j.estimated_start) s["estimatedStartAt"] = j.estimated_start;
  if (j.started_at) s["startedAt"] = j.started_at;
  if (j.stopped_at) s["stoppedAt"] = j.stopped_at;
  if (const Attempt* a = j.current_attempt()) {
    std::string nodes = a->node;
    for (const auto& sl : a->more_nodes) nodes += "," + sl.node;
    s["nodeName"] = nodes;
    Json c = Json::object();
    if (a->exit_code) c["exitCode"] = *a->exit_code;
    if (!a->reason.empty()) c["reason"] = a->reason;
    s["container"] = std::move(c);
  }
  s["attempts"] = j.attempts.size();
  if (j.priority) s["schedulingPriority"] = j.priority;
  if (j.nice) s["nice"] = j.nice;
  s["priority"] = j.effective_priority();
  s["shareIdentifier"] = j.share_name();
  if (j.array_parent)
    s["arrayProperties"] = {{"index", j.array_index}, {"parentJobId", std::to_string(j.array_parent)}};
  if (const ArrayInfo* a = j.array.get()) {
    Json counts = Json::object();
    for (int i = 0; i < static_cast<int>(a->count.size()); ++i)
      if (a->count[i]) counts[to_string(static_cast<JobState>(i))] = a->count[i];
    s["arrayProperties"] = {{"size", a->indexes.size()},
                            {"indexes", a->indexes.to_string()},
                            {"pendingIndexes", to_text(a->indexes.indexes_at(a->pending))},
                            {"pendingCount", a->pending.count()},
                            {"taskCounts", std::move(counts)},
                            {"maxRunning", a->max_running}};
  }
  return s;
}

// Each rank's PUs from the plan, as an Open MPI rankfile: the attempt's PUs
// and GPUs on every node split among that node's tasks (place_tasks over the
// node's topology), ranks over nodes by the job's distribution. Empty (mpirun
// then binds as it likes, inside the job's cpuset) when a node is unknown or
// its plan cannot hold its tasks, which a plan made for the job never is.
// With the node's GPUs split among its tasks, also each task's GPUs per node.
struct TaskPlan {
  std::string rankfile;
  std::vector<std::vector<std::vector<int>>> task_gpus;  // [node][task]: empty when the tasks share
};

TaskPlan task_plan_of(const Job& job, const Attempt& a, const ClusterState& state) {
  const auto nodes = attempt_nodes(a);
  const auto counts = tasks_per_node(job);
  if (counts.size() != nodes.size()) return {};
  std::vector<std::vector<std::vector<int>>> task_cpus(nodes.size());
  TaskPlan plan;
  plan.task_gpus.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (counts[i] == 0) continue;
    const Node* node = state.node(nodes[i]);
    if (!node) return {};
    const auto& cpus = i == 0 ? a.cpus : a.more_nodes[i - 1].cpus;
    const auto& gpus = i == 0 ? a.gpus : a.more_nodes[i - 1].gpus;
    const int gpt = gpus_per_task_on(job, static_cast<int>(i));
    const place::TaskRequest request{counts[i], cpus_per_task_on(job, static_cast<int>(i)), gpt,
                                     job.task_distribution().cores};
    auto tasks = place::place_tasks(node->topology, cpus, gpus, request);
    if (!tasks) {
      log::warn("job " + std::to_string(job.id) + ": no rankfile: " + std::to_string(cpus.size()) + " PUs on " +
                nodes[i] + " cannot hold " + std::to_string(counts[i]) + " tasks of " +
                std::to_string(request.cpus_per_task));
      return {};
    }
    for (auto& t : *tasks) {
      task_cpus[i].push_back(std::move(t.cpus));
      if (gpt > 0) plan.task_gpus[i].push_back(std::move(t.gpus));
    }
  }
  plan.rankfile = mpi_rankfile(job, task_cpus);
  return plan;
}

}  // namespace

Head::Head(HeadConfig config) : config_(std::move(config)) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  hostname_ = host;
}

Head::~Head() {
  // A clean stop commits what waited for the sync timer and leaves nothing
  // that only the page cache holds.
  if (!store_) return;
  if (auto s = store_->save(state_, state_.take_dirty(), new_payloads_, true); !s)
    log::error("cannot save state: " + s.message());
  (void)store_->sync();
}

std::string Head::agent_address() const {
  return agent_listener_ ? agent_listener_->address().to_string() : config_.agent_address;
}

Status Head::start() {
  started_at_ = transport::epoch_ms();
  std::error_code ec;
  fs::create_directories(config_.state_dir, ec);
  if (ec) return make_error("cannot create state directory " + config_.state_dir, ec.message());
  auto st = store::Store::open(config_.state_dir + "/state.db", config_.synchronous_full);
  if (!st) return st.error();
  store_ = std::move(*st);
  if (auto s = store_->load(state_); !s) return s;
  log::info("loaded state: " + std::to_string(state_.jobs().size()) + " jobs, " +
            std::to_string(state_.queues().size()) + " queues, " +
            std::to_string(state_.nodes().size()) + " nodes");

  if (!config_.init_local_node.empty()) {
    const auto now = transport::epoch_ms();
    if (!state_.environment("local")) {
      ComputeEnvironment e;
      e.name = "local";
      e.nodes = {config_.init_local_node};
      e.created_at = now;
      (void)apply(EnvironmentSaved{e});
    }
    if (!state_.queue(config_.default_queue)) {
      JobQueue q;
      q.name = config_.default_queue;
      q.compute_environments = {"local"};
      q.created_at = now;
      (void)apply(QueueSaved{q});
    }
  }
  if (auto s = store_->save(state_, state_.take_dirty(), {}); !s) return s;

  auto api = transport::Address::parse(config_.api_address);
  if (!api) return api.error();
  auto l = transport::Listener::listen(loop_, *api, 0666, [this](int fd) { accept_api(fd); });
  if (!l) return l.error();
  api_listener_ = std::move(*l);
  auto ag = transport::Address::parse(config_.agent_address);
  if (!ag) return ag.error();
  auto al = transport::Listener::listen(loop_, *ag, 0600, [this](int fd) { accept_agent(fd); });
  if (!al) return al.error();
  agent_listener_ = std::move(*al);
  log::info("listening for users on " + api_listener_->address().to_string() +
            " and for agents on " + agent_listener_->address().to_string());
  // Nodes known from before a restart are away until they say hello.
  for (const auto& [name, n] : state_.nodes())
    if (!n.connected) disconnected_at_[name] = started_at_;
  request_flush();
  evict_finished();
  watch_nodes();
  return {};
}

void Head::stop() { loop_.stop(); }

std::string Head::user_name(uid_t uid) {
  auto it = user_names_.find(uid);
  if (it != user_names_.end()) return it->second;
  passwd pw{}, *res = nullptr;
  char buf[4096];
  std::string name = std::to_string(uid);
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) name = pw.pw_name;
  user_names_[uid] = name;
  return name;
}

Status Head::apply(const Event& e) {
  auto s = state_.apply(e);
  if (!s) log::warn("event refused: " + s.message());
  if (const auto* sub = std::get_if<JobSubmitted>(&e)) {
    if (first_new_job_ == 0) first_new_job_ = sub->job.id;
  } else if (!std::holds_alternative<JobTerminationRequested>(e) &&
             !std::holds_alternative<DefinitionRegistered>(e) &&
             !std::holds_alternative<DefinitionDeregistered>(e)) {
    full_pass_needed_ = true;
  }
  schedule_needed_ = true;
  request_flush();
  return s;
}

Status Head::resolve_forgotten_dependencies(JobRequest& req) {
  // Finished jobs leave memory; a new dependency on one brings it back (and,
  // for a task, the task's record), so that it is decided like any other.
  std::vector<std::pair<std::size_t, Dependency>> recalled;
  for (std::size_t i = 0; i < req.depends_on.size(); ++i) {
    const Dependency& d = req.depends_on[i];
    if (!names_job(d.type)) continue;
    bool was_forgotten = false;
    if (!state_.job(d.job_id)) {
      auto old = store_->load_job(d.job_id);
      if (!old) return old.error();
      if (!*old) return make_error("dependsOn", "unknown job " + std::to_string(d.job_id));
      state_.recall(std::move(**old));
      was_forgotten = true;
    }
    const Job* t = state_.job(d.job_id);
    if (d.array_index >= 0 && t->array && !t->array->live.count(d.array_index)) {
      const std::int64_t pos = t->array->indexes.position_of(d.array_index);
      if (pos >= 0 && !t->array->pending.contains(pos)) {
        auto task = store_->find_task(d.job_id, d.array_index);
        if (!task) return task.error();
        if (*task) {
          auto old = store_->load_job(*task);
          if (!old) return old.error();
          if (*old) state_.recall(std::move(**old));
          was_forgotten = true;
        }
      }
    }
    if (was_forgotten) recalled.emplace_back(i, d);
  }
  // As before jobs were recalled: a dependency on a forgotten job that can
  // never be satisfied is refused at submit (with '?': when none can be).
  const auto now = transport::epoch_ms();
  std::string never;
  std::size_t nevers = 0;
  for (const auto& [i, d] : recalled) {
    const DependencyOutcome o = state_.dependency_outcome(Job{}, d, now);
    if (o.is != DependencyOutcome::Is::Never) continue;
    ++nevers;
    never += (never.empty() ? "" : "; ") + to_string(d) + " can never be satisfied: " + o.why;
    if (!req.depends_any) return make_error("dependsOn", never);
  }
  if (req.depends_any && nevers > 0 && nevers == req.depends_on.size()) return make_error("dependsOn", never);
  return {};
}

void Head::evict_finished() {
  // Not while changes wait for a commit (a job evicted now would miss it): soon.
  if (uncommitted_) {
    loop_.after(config_.sync_delay_ms + 10, [this] { evict_finished(); });
    return;
  }
  const auto n = state_.evict_finished(transport::epoch_ms() - config_.keep_finished_ms);
  if (n) log::info("forgot " + std::to_string(n) + " finished jobs (still in the store)");
  loop_.after(std::max<std::int64_t>(1000, config_.keep_finished_ms / 5), [this] { evict_finished(); });
}

void Head::watch_nodes() {
  const auto now = transport::epoch_ms();
  const auto timeout = config_.node_timeout_ms;
  std::vector<std::string> silent;
  for (const auto& [node, at] : last_heard_)
    if (now - at > timeout) silent.push_back(node);
  // Silent for the whole timeout while connected (a cut cable, a hung
  // machine): lost now. A closed connection (agent restart) gets the timeout
  // to come back.
  for (const auto& node : silent) {
    const auto secs = std::to_string((now - last_heard_[node]) / 1000);
    if (auto it = agents_by_node_.find(node); it != agents_by_node_.end()) {
      const ConnPtr c = it->second;
      c->close("no heartbeat");
      on_agent_closed(c);
    }
    last_heard_.erase(node);
    disconnected_at_.erase(node);
    node_lost(node, "Node " + node + " lost (no contact for " + secs + " s)");
  }
  std::vector<std::string> lost;
  for (const auto& [node, at] : disconnected_at_)
    if (now - at > timeout) lost.push_back(node);
  for (const auto& node : lost) {
    disconnected_at_.erase(node);
    node_lost(node, "Node " + node + " lost (no contact for " + std::to_string(timeout / 1000) + " s)");
  }
  loop_.after(std::clamp<std::int64_t>(timeout / 4, 100, 1000), [this] { watch_nodes(); });
}

// The node is gone for good as far as its jobs are concerned: they end with
// `reason` (their retry strategies decide what next), jobs still starting go
// back to the queue, and what they started on other nodes is stopped. If the
// node comes back, the hello re-sync kills what still runs there.
void Head::node_lost(const std::string& node, const std::string& reason, const std::set<std::int64_t>& spare) {
  const auto now = transport::epoch_ms();
  std::vector<std::int64_t> ids;
  for (const auto id : state_.active_jobs())
    if (attempt_on(*state_.job(id)->current_attempt(), node) && !spare.count(id)) ids.push_back(id);
  log::warn(reason + ": " + std::to_string(ids.size()) + (ids.size() == 1 ? " job" : " jobs") + " affected");
  (void)apply(NodeStateSet{node, NodeState::Down, reason});
  for (const auto id : ids) {
    const Job* j = state_.job(id);
    const Attempt a = *j->current_attempt();
    const int attempt = static_cast<int>(j->attempts.size());
    for (const auto& n : attempt_nodes(a))
      if (n != node)
        agent_out_.emplace_back(n, Json{{"type", "kill"}, {"jobId", id}, {"attempt", attempt}, {"reason", reason}});
    if (j->state == JobState::Starting)
      (void)apply(JobRequeued{id, now, reason + "; requeued"});
    else
      (void)apply(JobExited{id, now, std::nullopt, 0, reason, 0, true});
  }
  request_flush();
}

void Head::request_flush() {
  if (flush_queued_) return;
  flush_queued_ = true;
  loop_.defer([this] { flush(); });
}

void Head::flush() {
  flush_queued_ = false;
  if (schedule_needed_) {
    schedule_needed_ = false;
    sched::Policy policy;
    // EASY backfill: the first job that cannot start gets a reservation; later
    // jobs start only if they do not delay it (time limits tell). Jobs without a
    // time limit never delay anything they could not know about: they only use
    // room the reservation does not need.
    // A queue may choose its own mode (backfill: CONSERVATIVE or FIFO).
    policy.backfill = kDefaultBackfill;
    if (!full_pass_needed_) policy.first_job_id = first_new_job_;
    full_pass_needed_ = false;
    first_new_job_ = 0;
    auto pass = sched::schedule(state_, transport::epoch_ms(), policy);
    for (const auto& r : pass.reasons)
      (void)state_.apply(JobPendingReasonSet{r.job_id, r.reason, r.estimated_start_ms});
    for (auto& d : pass.starts) {
      // An array's task gets its own id when it starts. That id is committed
      // lazily, so a power loss could forget it: ids up to a floor written
      // durably ahead (one fsync per 1,024 tasks) are never given again.
      const auto id = d.array_index >= 0 ? state_.allocate_job_id() : d.job_id;
      if (d.array_index >= 0 && id >= id_floor_) {
        id_floor_ = id + kTaskIdsAhead;
        store_->reserve_job_ids(id_floor_);
      }
      if (state_.apply(JobDispatched{d.job_id, d.node, std::move(d.cpus), std::move(d.gpus),
                                     transport::epoch_ms(), d.array_index, d.array_index >= 0 ? id : 0,
                                     std::move(d.more_nodes), d.time_limit_s}))
        to_launch_.push_back(id);
    }
    // Jobs of lower-priority queues that make room for a waiting job: they get
    // their checkpoint signal and grace period, then are requeued or cancelled
    // as their queue says (a job submitted --no-requeue is cancelled).
    for (const auto& p : pass.preemptions) {
      const Job* victim = state_.job(p.job_id);
      const Job* waiting = state_.job(p.for_job_id);
      if (!victim) continue;
      const std::string reason = "Preempted by job " + std::to_string(p.for_job_id) +
                                 (waiting ? " of queue " + waiting->queue : std::string());
      log::info("job " + std::to_string(p.job_id) + ": " + reason);
      interrupt_job(p.job_id, reason, p.mode == PreemptMode::Requeue && victim->requeue != 0);
    }
    // A job held back until a time (after:ID+MINUTES) needs a pass then,
    // though nothing else may happen: a timer for the earliest such time.
    const auto now = transport::epoch_ms();
    if (const auto t = state_.next_start_time(now); t != wake_at_) {
      if (wake_timer_) loop_.cancel(wake_timer_);
      wake_timer_ = 0;
      wake_at_ = t;
      if (t)
        wake_timer_ = loop_.after(std::max<std::int64_t>(1, t - now), [this] {
          wake_timer_ = 0;
          wake_at_ = 0;
          schedule_needed_ = full_pass_needed_ = true;
          request_flush();
        });
    }
  }
  auto dirty = state_.take_dirty();
  // fsync before the reply when a user asked for a change (a submit, a
  // cancel, a queue ...): what was acknowledged is never lost. Launches and
  // kills commit lazily (written, not fsync'd: they survive a crash of
  // droverd) before they are sent. A turn that tells nobody anything (an
  // exit, a "started", wait reasons) is not committed at once: the sync
  // timer commits it, or the next turn that does commit. The timer makes
  // everything durable within sync_delay_ms. What a crash takes in between,
  // the agents' re-sync puts right: an exit is acknowledged only once
  // durable (the agent keeps reporting it until then), a job that started is
  // reported running again, and an attempt the head forgot is killed (its
  // job runs again).
  const bool durable = durable_turn_ || !new_payloads_.empty() || sync_due_;
  const bool commit_now = durable || !to_launch_.empty() || !agent_out_.empty();
  if (!commit_now) {
    if (!dirty.empty()) {
      state_.mark_dirty(dirty);
      uncommitted_ = true;
    }
  } else if (auto s = store_->save(state_, dirty, new_payloads_, durable); !s) {
    // Nothing is acknowledged that is not on disk: report the failure, keep
    // the changes to retry on the next turn.
    log::error("cannot save state: " + s.message());
    for (auto& [weak, reply] : replies_)
      if (auto c = weak.lock()) c->send(proto::dump(error_reply("not saved: " + s.message())));
    replies_.clear();
    loop_.after(1000, [this] {
      schedule_needed_ = full_pass_needed_ = true;
      request_flush();
    });
    state_.mark_dirty(dirty);
    uncommitted_ = true;
    return;
  } else {
    uncommitted_ = false;
  }
  if (durable && store_->unsynced()) {
    // Lazy commits of earlier turns, when this one had nothing to write.
    if (auto s = store_->sync(); !s) {
      log::error(s.message());
      for (auto& [weak, reply] : replies_) reply = proto::dump(error_reply("not saved: " + s.message()));
    }
  }
  new_payloads_.clear();
  durable_turn_ = sync_due_ = false;
  for (auto id : to_launch_)
    if (const Job* j = state_.job(id); j && j->state == JobState::Starting) launch(*j);
  to_launch_.clear();
  for (auto& [weak, reply] : replies_)
    if (auto c = weak.lock()) c->send(reply);
  replies_.clear();
  for (auto& [node, msg] : agent_out_) {
    auto it = agents_by_node_.find(node);
    if (it != agents_by_node_.end()) it->second->send(proto::dump(msg));
  }
  agent_out_.clear();
  if (!uncommitted_ && !store_->unsynced()) {
    if (sync_timer_) loop_.cancel(sync_timer_);
    sync_timer_ = 0;
    send_held_acks();
  } else if (!sync_timer_) {
    sync_timer_ = loop_.after(config_.sync_delay_ms, [this] {
      sync_timer_ = 0;
      sync_due_ = true;
      request_flush();
    });
  }
}

void Head::send_held_acks() {
  for (auto& [node, msg] : held_acks_) {
    auto it = agents_by_node_.find(node);
    if (it != agents_by_node_.end()) it->second->send(proto::dump(msg));
  }
  held_acks_.clear();
}

// ---- API -----------------------------------------------------------------------

void Head::accept_api(int fd) {
  auto conn = transport::Connection::adopt(loop_, fd, config_.max_request_bytes);
  if (!conn->peer().known) {
    log::warn("refused an API connection without peer credentials");
    return;
  }
  api_conns_[conn.get()] = conn;
  conn->on_message([this](const ConnPtr& c, std::string f) { on_api_message(c, std::move(f)); });
  conn->on_close([this](const ConnPtr& c, const std::string& why) {
    loop_.defer([this, raw = c.get()] { api_conns_.erase(raw); });
  });
  conn->start();
}

void Head::on_api_message(const ConnPtr& conn, std::string frame) {
  auto reply = [&](const Json& r) { replies_.emplace_back(conn, proto::dump(r)); request_flush(); };
  if (nested_too_deep(frame)) {
    reply(error_reply("bad request: JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"));
    return;
  }
  Json req = Json::parse(frame, nullptr, false);
  if (req.is_discarded() || !req.is_object()) {
    reply(error_reply("bad request: not a JSON object"));
    return;
  }
  const auto& peer = conn->peer();
  const Caller caller{peer.uid, peer.gid, peer.uid == 0 || peer.uid == config_.admin_uid};
  if (req.contains("op") && !req["op"].is_string()) {
    reply(error_reply("bad request: \"op\" must be a string naming the operation, e.g. \"SubmitJob\""));
    return;
  }
  const std::string op = string_arg(req, "op");
  const Json args = req.contains("args") && req["args"].is_object() ? req["args"] : Json::object();
  Result<Json> r = Error{};
  try {
    if (op == "SubmitJob") r = op_submit(caller, args);
    else if (op == "DescribeJobs") r = op_describe_jobs(caller, args);
    else if (op == "ListJobs") r = op_list_jobs(caller, args);
    else if (op == "TerminateJob" || op == "CancelJob") r = op_terminate(caller, args);
    else if (op == "ReadLog") r = op_read_log(caller, args);
    else if (op == "HoldJob") r = op_hold(caller, args, true);
    else if (op == "ReleaseJob") r = op_hold(caller, args, false);
    else if (op == "RequeueJob") r = op_requeue(caller, args);
    else if (op == "CheckpointJob") r = op_checkpoint(caller, args);
    else if (op == "UpdateJob") r = op_update(caller, args);
    else if (op == "ListJobHistory") r = op_history(caller, args);
    else if (op == "RegisterJobDefinition") r = op_register_definition(caller, args);
    else if (op == "DescribeJobDefinitions") r = op_describe_definitions(caller, args);
    else if (op == "DeregisterJobDefinition") r = op_deregister_definition(caller, args);
    else if (op == "CreateJobQueue") r = op_save_queue(caller, args, true);
    else if (op == "UpdateJobQueue") r = op_save_queue(caller, args, false);
    else if (op == "DescribeJobQueues") r = op_describe_queues(caller, args);
    else if (op == "CreateComputeEnvironment") r = op_save_environment(caller, args, true);
    else if (op == "UpdateComputeEnvironment") r = op_save_environment(caller, args, false);
    else if (op == "DescribeComputeEnvironments") r = op_describe_environments(caller, args);
    else if (op == "ListNodes") r = op_list_nodes(caller, args);
    else if (op == "UpdateNode") r = op_update_node(caller, args);
    else if (op == "Status") r = op_status(caller, args);
    else if (op == "Shutdown") r = op_shutdown(caller, args);
    else r = make_error("unknown operation '" + op + "'");
  } catch (const std::exception& e) {
    // One bad request must not take the head down.
    r = make_error("internal error in " + op, e.what());
    log::error("request " + op + " failed: " + e.what());
  }
  // A change a user asked for is durable before its reply leaves; answers to
  // questions need not wait for an fsync.
  if (!is_read_op(op)) durable_turn_ = true;
  reply(r ? ok_reply(std::move(*r)) : error_reply(r.message()));
}

Result<Json> Head::op_submit(const Caller& c, const Json& args) {
  auto req = proto::job_request_from_json(args);
  if (!req) return req.error();
  if (auto s = resolve_forgotten_dependencies(*req); !s) return s.error();
  const Submitter who{c.uid, c.gid, user_name(c.uid), c.admin};
  const auto id = state_.next_job_id();
  auto made = make_job(*req, who, state_, config_.default_queue, id, transport::epoch_ms());
  if (!made) return made.error();
  if (auto d = args.find("dryRun"); d != args.end() && d->is_boolean() && d->get<bool>())
    return test_only(made->job);
  state_.allocate_job_id();
  new_payloads_.emplace_back(id, std::move(made->payload));
  if (auto s = apply(JobSubmitted{std::move(made->job)}); !s) return s.error();
  const Job* j = state_.job(id);
  return Json{{"jobId", std::to_string(id)}, {"jobName", j->name}, {"status", to_string(j->state)}};
}

// sbatch --test-only: whether, when and where the job would start, submitting nothing.
// The scheduler starts, in queue order, every job that fits; so a job that fits a
// node now starts now, unless an earlier job of its queue takes the room first.
Json Head::test_only(const Job& job) {
  Json out = {{"jobQueue", job.queue}, {"vcpus", job.request.vcpus}, {"submitted", false}};
  const JobQueue* q = state_.queue(job.queue);
  std::size_t ahead = state_.runnable(job.queue).size();
  // A job that may not start yet: when it may, and where it would fit now.
  std::string not_now;
  if (job.held) {
    not_now = "when released (it is submitted held)";
  } else if (job.begin_s && job.begin_at() > transport::epoch_ms()) {
    not_now = "not before its --begin time";
    out["beginAt"] = job.begin_at();
  }
  for (const auto& env_name : q->compute_environments) {
    const ComputeEnvironment* env = state_.environment(env_name);
    if (!env || !env->enabled) continue;
    for (const auto& n : env->nodes) {
      const Node* node = state_.node(n);
      if (!node || !node->connected || node->state != NodeState::Up) continue;
      if (auto plan = place::place_on_node(*node, job.request)) {
        out["wouldStart"] = !not_now.empty() ? not_now
                            : ahead == 0     ? "now"
                                             : "now, unless the " + std::to_string(ahead) +
                                               " jobs queued ahead of it take the room";
        out["nodeName"] = n;
        out["computeEnvironment"] = env_name;
        out["cpus"] = plan->cpus;
        out["gpus"] = plan->gpus;
        return out;
      }
    }
  }
  out["wouldStart"] = !not_now.empty() ? not_now
                      : "later: no node of the queue has room now (start-time estimates come with backfill)";
  out["pendingReason"] = "Resources";
  out["jobsAhead"] = ahead;
  return out;
}

Result<std::optional<Job>> Head::find_job(std::int64_t id) {
  if (const Job* j = state_.job(id)) return std::optional<Job>{*j};
  return store_->load_job(id);
}

Result<Json> Head::op_describe_jobs(const Caller& c, const Json& args) {
  Json jobs = Json::array();
  auto it = args.find("jobs");
  if (it == args.end() || !it->is_array()) return make_error("jobs", "expected a list of job ids");
  for (const auto& idj : *it) {
    auto ref = job_ref(Json{{"jobId", idj}});
    if (!ref) {
      if (ref.message().find("no such job") != std::string::npos) continue;
      return ref.error();
    }
    // Jobs in memory are described in place (a poll of a large array must not
    // copy it); others are read from the store.
    std::optional<Job> loaded;
    auto lookup = [&](std::int64_t id) -> Result<const Job*> {
      if (const Job* j = state_.job(id)) return j;
      auto old = store_->load_job(id);
      if (!old) return old.error();
      if (!*old) return static_cast<const Job*>(nullptr);
      loaded = std::move(**old);
      return &*loaded;
    };
    if (ref->id == 0) {
      // A task that has not started has no record: its array describes it.
      auto parent = lookup(ref->parent);
      if (!parent) return parent.error();
      if (*parent) jobs.push_back(describe_unstarted_task(**parent, ref->indexes[0].first));
      continue;
    }
    auto found = lookup(ref->id);
    if (!found) return found.error();
    if (!*found) continue;
    const Job& j = **found;
    Json job = proto::to_json(j);
    // What was asked at submit lives with the payload (only on disk).
    const std::int64_t payload_id = j.array_parent ? j.array_parent : ref->id;
    if (auto p = payload(payload_id, j.array_parent || j.array)) {
      const JobPayload& pay = **p;
      if (!pay.submit_options.empty()) {
        Json asked = Json::parse(pay.submit_options, nullptr, false);
        if (!asked.is_discarded()) job["submitOptions"] = std::move(asked);
      }
      job["checkpointDirectory"] = checkpoint_directory(j, pay);
      if (!pay.node_groups.empty() && job.contains("nodeProperties")) {
        // The groups as asked (command, environment); where they ask different
        // resources, each with what its nodes hold.
        Json groups = proto::to_json(pay)["nodeRangeProperties"];
        for (std::size_t i = 0; j.mixed_nodes() && i < groups.size() && i < pay.node_groups.size(); ++i)
          groups[i]["container"]["resourceRequirements"] = proto::to_json(j.request_on(pay.node_groups[i].first));
        job["nodeProperties"]["nodeRangeProperties"] = std::move(groups);
      }
    }
    jobs.push_back(std::move(job));
  }
  return Json{{"jobs", std::move(jobs)}};
}

Result<Json> Head::op_list_jobs(const Caller& c, const Json& args) {
  std::vector<JobState> states;
  if (auto it = args.find("jobStatus"); it != args.end()) {
    const auto list = it->is_array() ? *it : Json::array({*it});
    for (const auto& s : list) {
      auto st = s.is_string() ? parse_job_state(s.get<std::string>()) : std::nullopt;
      if (!st) return make_error("jobStatus", "'" + s.dump() + "' is not a job state");
      states.push_back(*st);
    }
  }
  const std::string queue = string_arg(args, "jobQueue");
  const std::string user = string_arg(args, "user");
  std::vector<const Job*> sel;
  for (const auto& [id, j] : state_.jobs()) {
    if (states.empty() ? is_terminal(j.state)
                       : std::find(states.begin(), states.end(), j.state) == states.end())
      continue;
    if (!queue.empty() && j.queue != queue) continue;
    if (!user.empty() && j.user != user && std::to_string(j.uid) != user) continue;
    sel.push_back(&j);
  }
  std::sort(sel.begin(), sel.end(), [](const Job* a, const Job* b) { return a->id < b->id; });
  Json list = Json::array();
  for (const Job* j : sel) {
    Json summary = job_summary(*j);
    if (const JobQueue* q = state_.queue(j->queue); q && q->fair_share.enabled)
      summary["shareWeight"] = q->fair_share.weight_of(j->share_name());
    list.push_back(std::move(summary));
  }
  return Json{{"jobSummaryList", std::move(list)}};
}

Result<Json> Head::op_terminate(const Caller& c, const Json& args) {
  auto ref = job_ref(args);
  if (!ref) return ref.error();
  // Tasks named by index act on their array; a task that started is a job.
  const std::int64_t id = !ref->indexes.empty() && (ref->id == 0 || ref->indexes.size() > 1 ||
                                                     ref->indexes[0].first != ref->indexes[0].last)
                              ? ref->parent
                              : (ref->id ? ref->id : ref->parent);
  const bool by_index = id == ref->parent && ref->parent != 0;
  const Job* j = state_.job(id);
  if (!j) {
    auto old = store_->load_job(id);
    if (old && *old) return Json{{"jobId", ref->text}, {"status", to_string((*old)->state)}, {"alreadyFinished", true}};
    return make_error("job " + ref->text, "no such job");
  }
  if (!c.admin && c.uid != j->uid)
    return make_error("cannot cancel job " + ref->text,
                      "it belongs to " + j->user + "; only its owner or root may cancel it");
  std::string reason = string_arg(args, "reason");
  if (reason.empty()) reason = "cancelled by user";
  if (c.uid != j->uid) reason += " (by " + user_name(c.uid) + ")";
  const bool was_active = is_active(j->state) && !j->array;
  const bool was_terminal = is_terminal(j->state);
  const std::int64_t cancelled_before = j->array ? j->array->cancelled : 0;
  const std::vector<IndexRange> indexes = by_index ? ref->indexes : std::vector<IndexRange>{};
  if (auto s = apply(JobTerminationRequested{id, transport::epoch_ms(), reason, indexes}); !s) return s.error();
  const Job* now = state_.job(id);
  if (was_active) send_kill(*now, reason);
  Json out = {{"jobId", ref->text}, {"status", to_string(now->state)}, {"alreadyFinished", was_terminal}};
  if (now->array) {
    // Started tasks in range end when their agent reports; tell the agents.
    std::int64_t killed = 0;
    for (const auto& [index, tid] : now->array->live) {
      const Job* t = state_.job(tid);
      if (!t || !is_active(t->state) || !t->terminate_requested) continue;
      if (!in_ranges(indexes, index)) continue;
      send_kill(*t, reason);
      ++killed;
    }
    out["tasksCancelledBeforeStart"] = now->array->cancelled - cancelled_before;
    out["tasksStopping"] = killed;
  }
  return out;
}

void Head::send_kill(const Job& job, const std::string& reason) {
  const Attempt* a = job.current_attempt();
  if (!a) return;
  for (const auto& node : attempt_nodes(*a))
    agent_out_.emplace_back(node, Json{{"type", "kill"}, {"jobId", job.id},
                                       {"attempt", static_cast<int>(job.attempts.size())},
                                       {"reason", reason}});
}

Result<Head::JobRef> Head::job_ref(const Json& args) {
  JobRef ref;
  auto it = args.find("jobId");
  if (it == args.end()) return make_error("jobId", "missing");
  ref.text = it->is_string() ? it->get<std::string>()
             : it->is_number_integer() ? std::to_string(it->get<std::int64_t>()) : it->dump();
  auto number = [](const std::string& s) -> std::int64_t {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    return s.empty() || !std::isdigit(static_cast<unsigned char>(s[0])) || *end != '\0' || errno ? -1 : v;
  };
  const auto sep = ref.text.find_first_of("_:");
  const std::int64_t id = number(ref.text.substr(0, sep));
  const std::int64_t index = sep == std::string::npos ? -2 : number(ref.text.substr(sep + 1));
  if (id <= 0 || index == -1)
    return make_error("jobId", "'" + ref.text + "' is not a job id; e.g. 123, or 123_5 for task 5 of array 123");
  auto ranges = proto::index_ranges_from_json(args, "arrayIndexes");
  if (!ranges) return ranges.error();
  if (index >= 0 && !ranges->empty())
    return make_error("jobId", "give either a task (123_5) or arrayIndexes, not both");
  if (index < 0 && ranges->empty()) {
    ref.id = id;
    return ref;
  }
  ref.parent = id;
  ref.indexes = index >= 0 ? std::vector<IndexRange>{{index, index, 1}} : std::move(*ranges);
  std::optional<Job> stored;
  const Job* p = state_.job(id);
  if (!p) {
    auto old = store_->load_job(id);
    if (!old) return old.error();
    if (!*old) return make_error("job " + ref.text, "no such job");
    stored = std::move(**old);
    p = &*stored;
  }
  if (!p->array) return make_error("job " + ref.text, "job " + std::to_string(id) + " is not an array");
  for (const auto& r : ref.indexes) {
    if (r.first < 0 || r.last < r.first || r.step < 1)
      return make_error("job " + ref.text, "bad index range");
    if (r.first == r.last && p->array->indexes.position_of(r.first) < 0)
      return make_error("job " + ref.text, "array " + std::to_string(id) + " has no task " +
                                               std::to_string(r.first) + " (its indexes: " +
                                               p->array->indexes.to_string() + ")");
  }
  if (index >= 0) {
    if (auto t = p->array->live.find(index); t != p->array->live.end()) {
      ref.id = t->second;
    } else {
      auto found = store_->find_task(id, index);
      if (!found) return found.error();
      ref.id = *found;
    }
  }
  return ref;
}

Json Head::describe_unstarted_task(const Job& parent, std::int64_t index) {
  const ArrayInfo& a = *parent.array;
  const std::int64_t pos = a.indexes.position_of(index);
  const bool waiting = a.pending.contains(pos);
  Json j = {{"jobId", std::to_string(parent.id) + "_" + std::to_string(index)},
            {"jobName", parent.name},
            {"jobQueue", parent.queue},
            {"owner", {{"uid", parent.uid}, {"gid", parent.gid}, {"user", parent.user}}},
            {"createdAt", parent.created_at},
            {"resourceRequirements", proto::to_json(parent.request)},
            {"arrayProperties", {{"index", index}, {"parentJobId", std::to_string(parent.id)}}},
            {"attempts", Json::array()}};
  if (waiting) {
    j["status"] = to_string(parent.state == JobState::Pending ? JobState::Pending : JobState::Runnable);
    // Held back by its own dependency (aftercorr, SEQUENTIAL): say which task.
    std::string why = !parent.pending_reason.empty() ? parent.pending_reason.str() : parent.status_reason;
    std::size_t k = 0;
    for (const auto& d : parent.depends_on) {
      if (!per_task(d.type)) continue;
      if (k < a.waiting().size() && a.waiting()[k++].contains(pos)) {
        why = d.type == DependencyType::Sequential
                  ? "Dependency (SEQUENTIAL: waits for the task before it to succeed)"
                  : "Dependency (aftercorr: waits for task " + std::to_string(d.job_id) + "_" + std::to_string(index) +
                        ", or all of array " + std::to_string(d.job_id) + " if it has no such task, to succeed)";
        break;
      }
    }
    if (!why.empty()) j["pendingReason"] = why;
    if (parent.estimated_start) j["estimatedStartAt"] = parent.estimated_start;
  } else {
    j["status"] = to_string(JobState::Failed);
    j["statusReason"] = a.dependency_failed().contains(pos)
                            ? std::string("never started: the task it depends on failed (aftercorr / SEQUENTIAL)")
                            : "cancelled before it started" +
                                  (parent.terminate_reason.empty() ? std::string() : ": " + parent.terminate_reason);
  }
  return j;
}

Result<const Job*> Head::own_job(const Caller& c, const Json& args, const std::string& what) {
  auto ref = job_ref(args);
  if (!ref) return ref.error();
  if (ref->id == 0)
    return make_error("cannot " + what + " job " + ref->text,
                      "the task has not started; its array, " + std::to_string(ref->parent) +
                          ", holds it (" + what + " the array)");
  const auto id = &ref->id;
  const Job* j = state_.job(*id);
  if (!j) return make_error("cannot " + what + " job " + ref->text, "no such job waiting or running");
  if (!c.admin && c.uid != j->uid)
    return make_error("cannot " + what + " job " + ref->text,
                      "it belongs to " + j->user + "; only its owner or root may");
  return j;
}

Result<Json> Head::op_hold(const Caller& c, const Json& args, bool hold) {
  auto j = own_job(c, args, hold ? "hold" : "release");
  if (!j) return j.error();
  const auto id = (*j)->id;
  if (auto s = apply(JobHoldSet{id, hold}); !s) return s.error();
  return Json{{"jobId", std::to_string(id)}, {"held", hold}};
}

Result<Json> Head::op_requeue(const Caller& c, const Json& args) {
  auto j = own_job(c, args, "requeue");
  if (!j) return j.error();
  const auto id = (*j)->id;
  std::string reason = string_arg(args, "reason");
  if (reason.empty()) reason = "requeued by " + user_name(c.uid);
  if (auto s = apply(JobRequeueRequested{id, reason}); !s) return s.error();
  const Job* now = state_.job(id);
  agent_out_.emplace_back(now->current_attempt()->node,
                          Json{{"type", "kill"}, {"jobId", id},
                               {"attempt", static_cast<int>(now->attempts.size())}, {"reason", reason}});
  return Json{{"jobId", std::to_string(id)}, {"requeued", true}};
}

// drover checkpoint JOB [--requeue | --cancel]: the job's checkpoint signal
// now; with then=REQUEUE or CANCEL the job is stopped after its grace period
// and queued again or cancelled.
Result<Json> Head::op_checkpoint(const Caller& c, const Json& args) {
  auto j = own_job(c, args, "checkpoint");
  if (!j) return j.error();
  const Job& job = **j;
  const auto id = job.id;
  if (job.array)
    return make_error("cannot checkpoint job " + std::to_string(id),
                      "it is an array; checkpoint its running tasks by their own ids");
  if (!is_active(job.state))
    return make_error("cannot checkpoint job " + std::to_string(id),
                      std::string("it is ") + to_string(job.state) + "; only running jobs can be");
  std::string then = string_arg(args, "then");
  for (auto& ch : then) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (then.empty()) then = "CONTINUE";
  if (then != "CONTINUE" && then != "REQUEUE" && then != "CANCEL")
    return make_error("then", "'" + then + "' is not CONTINUE, REQUEUE or CANCEL");
  const std::string by = user_name(c.uid);
  if (then == "CONTINUE") {
    send_checkpoint_signal(job);
  } else {
    const std::string reason = (then == "REQUEUE" ? "checkpointed and requeued by " : "checkpointed and cancelled by ") + by;
    interrupt_job(id, reason, then == "REQUEUE");
  }
  const Job* now = state_.job(id);
  return Json{{"jobId", std::to_string(id)},
              {"signal", now->checkpoints() ? now->checkpoint_signal : kDefaultCheckpointSignal},
              {"then", then},
              {"graceSeconds", then == "CONTINUE" || !now->checkpoints() ? 0 : now->checkpoint_seconds}};
}

void Head::send_checkpoint_signal(const Job& job) {
  const Attempt* a = job.current_attempt();
  if (!a) return;
  proto::SignalOrder o;
  o.job_id = job.id;
  o.attempt = static_cast<int>(job.attempts.size());
  o.signal = job.checkpoints() ? job.checkpoint_signal : kDefaultCheckpointSignal;
  o.batch_only = job.checkpoint_signal_batch_only;
  for (const auto& node : attempt_nodes(*a)) agent_out_.emplace_back(node, proto::to_json(o));
  log::info("job " + std::to_string(job.id) + ": checkpoint signal " + std::to_string(o.signal) + " sent");
}

void Head::interrupt_job(std::int64_t id, const std::string& reason, bool requeue) {
  const Job* job = state_.job(id);
  if (!job || !is_active(job->state) || job->array || job->terminate_requested || job->requeue_requested) return;
  if (requeue) {
    if (auto s = apply(JobRequeueRequested{id, reason}); !s) return log::warn(s.message());
  } else {
    if (auto s = apply(JobTerminationRequested{id, transport::epoch_ms(), reason}); !s) return log::warn(s.message());
  }
  job = state_.job(id);
  if (!job->checkpoints() || job->state != JobState::Running) return send_kill(*job, reason);
  send_checkpoint_signal(*job);
  const int attempt = static_cast<int>(job->attempts.size());
  loop_.after(static_cast<std::int64_t>(job->checkpoint_seconds) * 1000, [this, id, attempt, reason] {
    const Job* j = state_.job(id);
    if (!j || !is_active(j->state) || static_cast<int>(j->attempts.size()) != attempt) return;
    send_kill(*j, reason);
    request_flush();
  });
}

Result<Json> Head::op_update(const Caller& c, const Json& args) {
  auto j = own_job(c, args, "update");
  if (!j) return j.error();
  JobUpdated u;
  u.id = (*j)->id;
  // New dependencies (scontrol update Dependency=): checked as at submit, and
  // for cycles; an empty list clears them.
  if (args.contains("dependsOn")) {
    auto deps = proto::dependencies_from_json(args);
    if (!deps) return deps.error();
    auto any = args.find("dependsOnAny");
    if (any != args.end() && !any->is_null() && !any->is_boolean())
      return make_error("dependsOnAny", "expected true or false");
    JobRequest asked;
    asked.depends_on = *deps;
    asked.depends_any = any != args.end() && any->is_boolean() && any->get<bool>() && deps->size() > 1;
    // May bring finished jobs back into memory (which moves the records).
    if (auto s = resolve_forgotten_dependencies(asked); !s) return s.error();
    if (auto s = validate_dependency_update(*state_.job(u.id), asked.depends_on, asked.depends_any, state_); !s)
      return s.error();
    u.depends_on = std::move(asked.depends_on);
    u.depends_any = asked.depends_any;
    u.at = transport::epoch_ms();
  }
  const Job& job = *state_.job(u.id);
  std::string queue_name = job.queue;
  if (auto it = args.find("jobQueue"); it != args.end()) {
    if (!it->is_string()) return make_error("jobQueue", "expected a queue name");
    queue_name = it->get<std::string>();
    const JobQueue* q = state_.queue(queue_name);
    if (!q) return make_error("jobQueue", "unknown queue '" + queue_name + "'");
    if (!q->enabled) return make_error("jobQueue", "queue '" + queue_name + "' is DISABLED and accepts no new jobs");
    u.queue = queue_name;
  }
  if (args.contains("resourceRequirements")) {
    if (job.mixed_nodes())
      return make_error("resourceRequirements", "job " + std::to_string(job.id) +
                                                    " has node groups that ask different resources; cancel it and "
                                                    "submit it again with the new ones");
    auto r = proto::resources_from_json(args, job.request);
    if (!r) return r.error();
    if (r->vcpus < 1) return make_error("vcpus", "ask for at least 1");
    if (r->memory_mib < 0 || r->gpus < 0) return make_error("resourceRequirements", "must not be negative");
    u.request = *r;
  }
  if (auto it = args.find("timeout"); it != args.end()) {
    if (!it->is_object() || !it->contains("attemptDurationSeconds") ||
        !(*it)["attemptDurationSeconds"].is_number_integer())
      return make_error("timeout", "expected {\"attemptDurationSeconds\": N}");
    const auto t = (*it)["attemptDurationSeconds"].get<std::int64_t>();
    if (t < 0 || t > kMaxTimeoutSeconds) return make_error("timeout.attemptDurationSeconds", "out of range");
    u.timeout_seconds = t;
  }
  // Priority: the owner may lower it; raising it (or a negative nice) takes root or the admin.
  for (const char* k : {"schedulingPriority", "priority"}) {
    auto it = args.find(k);
    if (it == args.end()) continue;
    if (!it->is_number_integer()) return make_error(k, "expected a whole number from 0 to 9999");
    const auto p = it->get<std::int64_t>();
    if (p < 0 || p > kMaxSchedulingPriority) return make_error(k, std::to_string(p) + " is outside 0..9999");
    if (p > job.priority && !c.admin)
      return make_error(k, "only root or the admin may raise a job's priority (it is " +
                               std::to_string(job.priority) + "); you may lower it, or use --nice");
    u.priority = static_cast<int>(p);
  }
  if (auto it = args.find("nice"); it != args.end()) {
    if (!it->is_number_integer()) return make_error("nice", "expected a whole number");
    const auto n = it->get<std::int64_t>();
    if (n < -kMaxNice || n > kMaxNice) return make_error("nice", std::to_string(n) + " is outside -10000..10000");
    if (n < job.nice && !c.admin)
      return make_error("nice", "only root or the admin may lower a job's nice (it is " + std::to_string(job.nice) + ")");
    u.nice = static_cast<int>(n);
  }
  const JobQueue* q = state_.queue(queue_name);
  const std::int64_t t = u.timeout_seconds.value_or(job.timeout_seconds);
  if (q && q->max_time_limit_s > 0 && t > q->max_time_limit_s)
    return make_error("timeout.attemptDurationSeconds", std::to_string(t) + " s asked, but queue '" + queue_name +
                                                            "' allows at most " + std::to_string(q->max_time_limit_s) + " s");
  if (auto s = apply(u); !s) return s.error();
  return proto::to_json(*state_.job(job.id));
}

Result<Json> Head::op_read_log(const Caller& c, const Json& args) {
  auto ref = job_ref(args);
  if (!ref) return ref.error();
  if (ref->id == 0)
    return Json{{"data", ""}, {"offset", 0}, {"status", "RUNNABLE"}, {"exists", false},
                {"note", "task " + ref->text + " has not started"}};
  const auto id = &ref->id;
  auto found = find_job(*id);
  if (!found) return found.error();
  if (!*found) return make_error("job " + std::to_string(*id), "no such job");
  const Job& j = **found;
  if (!c.admin && c.uid != j.uid)
    return make_error("cannot read the logs of job " + std::to_string(*id),
                      "it belongs to " + j.user + "; only its owner or root may read them");
  const std::string stream = string_arg(args, "stream").empty() ? "stdout" : string_arg(args, "stream");
  std::string pattern = stream == "stderr" && !j.stderr_path.empty() ? j.stderr_path : j.stdout_path;
  const Attempt* a = j.current_attempt();
  if (!a) return Json{{"data", ""}, {"offset", 0}, {"status", to_string(j.state)}, {"exists", false}};
  std::string path = expand_output_pattern(pattern, j, a->node);
  if (path.empty() || path[0] != '/') path = j.working_dir + "/" + path;
  const auto offset_arg = int_arg(args, "offset", 0);
  if (!offset_arg) return offset_arg.error();
  if (*offset_arg < 0) return make_error("offset", std::to_string(*offset_arg) + " is negative");
  const std::int64_t offset = *offset_arg;
  const auto max_arg = int_arg(args, "maxBytes", std::int64_t{1} << 20);
  if (!max_arg) return max_arg.error();
  // Escaped control characters take 6 bytes each in JSON: 2 MiB of them stays
  // under the clients' 16 MiB frame limit.
  const std::int64_t max = std::clamp<std::int64_t>(*max_arg, 1, 2 << 20);
  // Each attempt writes its output file anew: readers start again at offset 0
  // when this changes.
  Json out = {{"path", path}, {"status", to_string(j.state)}, {"attempt", j.attempts.size()}};
  if (j.state == JobState::Starting) {
    // The process has not opened (and truncated) the file yet: it may still hold
    // the previous attempt's output.
    out["data"] = "";
    out["offset"] = offset;
    out["exists"] = false;
    return out;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    out["data"] = "";
    out["offset"] = offset;
    out["exists"] = false;
    out["error"] = std::strerror(errno);
    return out;
  }
  struct stat st{};
  fstat(fd, &st);
  // The head reads as root: only hand out a file the job's user owns, so a job
  // cannot point its output at someone else's file and read it back.
  if (!S_ISREG(st.st_mode) || st.st_uid != j.uid) {
    ::close(fd);
    return make_error("cannot read " + path, "it is not a regular file owned by " + j.user);
  }
  std::string data(static_cast<std::size_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(max, st.st_size - offset))), '\0');
  ssize_t n = data.empty() ? 0 : ::pread(fd, data.data(), data.size(), offset);
  ::close(fd);
  if (n < 0) n = 0;
  data.resize(static_cast<std::size_t>(n));
  out["offset"] = offset + n;
  // JSON strings hold only UTF-8: other bytes (binary, Latin-1, a character cut
  // at the chunk's end) travel as base64, so that `drover logs` prints the file exactly.
  if (is_utf8(data)) {
    out["data"] = std::move(data);
  } else {
    out["data"] = "";
    out["dataBase64"] = base64(data);
  }
  out["size"] = st.st_size;
  out["exists"] = true;
  return out;
}

Result<Json> Head::op_history(const Caller& c, const Json& args) {
  store::HistoryFilter f;
  const auto since = int_arg(args, "since", 0);
  if (!since) return since.error();
  const auto limit = int_arg(args, "limit", 1000);
  if (!limit) return limit.error();
  f.since_ms = *since;
  f.limit = static_cast<int>(std::clamp<std::int64_t>(*limit, 1, 100000));
  f.queue = string_arg(args, "jobQueue");
  if (auto s = string_arg(args, "jobStatus"); !s.empty()) {
    auto st = parse_job_state(s);
    if (!st || !is_terminal(*st)) return make_error("jobStatus", "'" + s + "' is not SUCCEEDED or FAILED");
    f.state = *st;
  }
  if (auto u = string_arg(args, "user"); !u.empty()) {
    passwd pw{}, *res = nullptr;
    char buf[4096];
    if (getpwnam_r(u.c_str(), &pw, buf, sizeof buf, &res) == 0 && res) f.uid = pw.pw_uid;
    else if (std::all_of(u.begin(), u.end(), ::isdigit)) f.uid = static_cast<std::uint32_t>(std::stoul(u));
    else return make_error("user", "unknown user '" + u + "'");
  }
  // Jobs that ended moments ago may still wait for the sync timer: write what
  // is pending (no fsync; a submit of this turn keeps its fsync before the
  // reply) so that the query sees them.
  if (auto dirty = state_.take_dirty(); !dirty.empty() || !new_payloads_.empty()) {
    if (auto s = store_->save(state_, dirty, new_payloads_, false); !s) {
      state_.mark_dirty(dirty);
      return s.error();
    }
    if (!new_payloads_.empty()) durable_turn_ = true;
    new_payloads_.clear();
    uncommitted_ = false;  // written; the sync timer still makes it durable
  }
  auto jobs = store_->history(f);
  if (!jobs) return jobs.error();
  Json list = Json::array();
  for (const auto& j : *jobs) list.push_back(proto::to_json(j));
  return Json{{"jobs", std::move(list)}};
}

Result<Json> Head::op_register_definition(const Caller& c, const Json& args) {
  auto d = proto::definition_from_json(args);
  if (!d) return d.error();
  if (auto s = validate_definition(*d); !s) return s.error();
  auto it = state_.definitions().find(d->name);
  d->revision = it == state_.definitions().end() ? 1 : static_cast<int>(it->second.size()) + 1;
  d->active = true;
  d->created_at = transport::epoch_ms();
  if (auto s = apply(DefinitionRegistered{*d}); !s) return s.error();
  return Json{{"jobDefinitionName", d->name}, {"revision", d->revision}};
}

Result<Json> Head::op_describe_definitions(const Caller& c, const Json& args) {
  const std::string name = string_arg(args, "jobDefinitionName");
  const std::string status = string_arg(args, "status");
  Json list = Json::array();
  for (const auto& [n, revs] : state_.definitions()) {
    if (!name.empty() && n != name) continue;
    for (const auto& d : revs) {
      if (status == "ACTIVE" && !d.active) continue;
      if (status == "INACTIVE" && d.active) continue;
      list.push_back(proto::to_json(d));
    }
  }
  return Json{{"jobDefinitions", std::move(list)}};
}

Result<Json> Head::op_deregister_definition(const Caller& c, const Json& args) {
  const std::string ref = string_arg(args, "jobDefinition");
  const auto colon = ref.rfind(':');
  if (colon == std::string::npos)
    return make_error("jobDefinition", "'" + ref + "': give name:revision, e.g. blast:2");
  int rev = 0;
  try {
    rev = std::stoi(ref.substr(colon + 1));
  } catch (...) {
    return make_error("jobDefinition", "'" + ref + "': the revision is not a number");
  }
  if (auto s = apply(DefinitionDeregistered{ref.substr(0, colon), rev}); !s) return s.error();
  return Json{{"jobDefinition", ref}, {"status", "INACTIVE"}};
}

Result<Json> Head::op_save_queue(const Caller& c, const Json& args, bool create) {
  if (!c.admin) return make_error("cannot change job queues", "only root or the cluster's admin may");
  const std::string name = string_arg(args, "jobQueueName").empty() ? string_arg(args, "jobQueue")
                                                                    : string_arg(args, "jobQueueName");
  const JobQueue* existing = state_.queue(name);
  if (create && existing) return make_error("jobQueueName", "queue '" + name + "' already exists");
  if (!create && !existing) return make_error("jobQueue", "unknown queue '" + name + "'");
  JobQueue q;
  if (create) {
    Json a = args;
    a["jobQueueName"] = name;
    auto parsed = proto::queue_from_json(a);
    if (!parsed) return parsed.error();
    q = *parsed;
    q.created_at = transport::epoch_ms();
  } else {
    q = *existing;
    Json a = proto::to_json(q);
    for (const char* k : {"state", "priority", "preemptionMode", "backfill", "killOnInvalidDependency",
                          "computeEnvironmentOrder", "slurmEnvironment", "defaultTimeLimitSeconds",
                          "maxTimeLimitSeconds", "maxJobsPerUser", "maxVcpusPerUser"})
      if (args.contains(k)) a[k] = args[k];
    // A new fair-share policy keeps the shares' past use.
    if (args.contains("fairsharePolicy")) {
      const Json usage = a["fairsharePolicy"].is_object() ? a["fairsharePolicy"].value("shareUsage", Json::object())
                                                         : Json::object();
      a["fairsharePolicy"] = args["fairsharePolicy"];
      if (a["fairsharePolicy"].is_object() && !a["fairsharePolicy"].contains("shareUsage"))
        a["fairsharePolicy"]["shareUsage"] = usage;
    }
    auto parsed = proto::queue_from_json(a);
    if (!parsed) return parsed.error();
    q = *parsed;
  }
  if (auto s = validate_queue(q, state_); !s) return s.error();
  if (auto s = apply(QueueSaved{q}); !s) return s.error();
  return queue_json(q);
}

Result<Json> Head::op_describe_queues(const Caller& c, const Json& args) {
  Json list = Json::array();
  for (const auto& [n, q] : state_.queues()) {
    Json j = queue_json(q);
    j["runnableJobs"] = state_.runnable(n).size();
    list.push_back(std::move(j));
  }
  return Json{{"jobQueues", std::move(list)}};
}

Result<Json> Head::op_save_environment(const Caller& c, const Json& args, bool create) {
  if (!c.admin)
    return make_error("cannot change compute environments", "only root or the cluster's admin may");
  std::string name = string_arg(args, "computeEnvironmentName");
  if (name.empty()) name = string_arg(args, "computeEnvironment");
  const ComputeEnvironment* existing = state_.environment(name);
  if (create && existing)
    return make_error("computeEnvironmentName", "compute environment '" + name + "' already exists");
  if (!create && !existing)
    return make_error("computeEnvironment", "unknown compute environment '" + name + "'");
  Json a = create ? args : proto::to_json(*existing);
  a["computeEnvironmentName"] = name;
  if (!create)
    for (const char* k : {"state", "maxvCpus", "nodes"})
      if (args.contains(k)) a[k] = args[k];
  auto e = proto::environment_from_json(a);
  if (!e) return e.error();
  if (create) e->created_at = transport::epoch_ms();
  if (auto s = validate_environment(*e); !s) return s.error();
  if (auto s = apply(EnvironmentSaved{*e}); !s) return s.error();
  return proto::to_json(*e);
}

Result<Json> Head::op_describe_environments(const Caller& c, const Json& args) {
  Json list = Json::array();
  for (const auto& [n, e] : state_.environments()) list.push_back(proto::to_json(e));
  return Json{{"computeEnvironments", std::move(list)}};
}

Result<Json> Head::op_list_nodes(const Caller& c, const Json& args) {
  Json list = Json::array();
  for (const auto& [n, node] : state_.nodes()) list.push_back(proto::to_json(node));
  return Json{{"nodes", std::move(list)}};
}

// drain: nothing new starts there, running jobs go on; down: its jobs end now
// (their retry strategies decide); resume: back in service. Admin only.
Result<Json> Head::op_update_node(const Caller& c, const Json& args) {
  const std::string name = string_arg(args, "nodeName");
  const std::string action = string_arg(args, "state");
  const std::string reason = string_arg(args, "reason");
  if (!c.admin) return make_error("cannot change node " + name, "only root or the admin may");
  const Node* n = state_.node(name);
  if (!n) {
    std::string known;
    for (const auto& [k, v] : state_.nodes()) known += (known.empty() ? "" : ", ") + k;
    return make_error("nodeName", "unknown node '" + name + "' (nodes: " + (known.empty() ? "none" : known) + ")");
  }
  // Features (drover nodes update NODE --features a,b): null goes back to the agent's.
  if (auto it = args.find("features"); it != args.end()) {
    if (!action.empty()) return make_error("features", "change features and state in separate requests");
    std::optional<std::vector<std::string>> features;
    if (!it->is_null()) {
      if (!it->is_array()) return make_error("features", "expected a list of names, e.g. [\"gpu\", \"a100\"], or null");
      std::string joined;
      for (const auto& f : *it) {
        if (!f.is_string()) return make_error("features", "every element must be a string");
        joined += (joined.empty() ? "" : ",") + f.get<std::string>();
      }
      auto parsed = parse_features(joined);
      if (!parsed) return make_error("features", parsed.message());
      features = std::move(*parsed);
    }
    if (auto s = apply(NodeFeaturesSet{name, features}); !s) return s.error();
    log::info("node " + name + ": features " +
              (features ? "set to '" + join_features(*features) + "'" : std::string("back to its agent's")) + " by " +
              user_name(c.uid));
    schedule_needed_ = full_pass_needed_ = true;
    return proto::to_json(*state_.node(name));
  }
  const std::string by = " by " + user_name(c.uid) + (reason.empty() ? std::string() : ": " + reason);
  if (action == "DRAIN") {
    if (reason.empty()) return make_error("reason", "say why the node is drained, e.g. --reason 'disk replacement'");
    (void)apply(NodeStateSet{name, NodeState::Drain, "drained" + by, true});
    // --checkpoint: jobs there that checkpoint write one and are requeued elsewhere.
    if (auto it = args.find("checkpointJobs"); it != args.end() && it->is_boolean() && it->get<bool>()) {
      std::vector<std::int64_t> ids;
      for (const auto id : state_.active_jobs())
        if (const Job* j = state_.job(id); j->checkpoints() && j->state == JobState::Running &&
                                           attempt_on(*j->current_attempt(), name))
          ids.push_back(id);
      for (const auto id : ids) interrupt_job(id, "Node " + name + " drained" + by, true);
    }
  } else if (action == "DOWN") {
    if (reason.empty()) return make_error("reason", "say why the node is down, e.g. --reason 'bad memory'");
    // Jobs that checkpoint get their signal and grace period first, and are
    // requeued (unless they said --no-requeue); the others end now.
    std::set<std::int64_t> checkpointing;
    for (const auto id : state_.active_jobs())
      if (const Job* j = state_.job(id); j->checkpoints() && j->state == JobState::Running &&
                                         attempt_on(*j->current_attempt(), name))
        checkpointing.insert(id);
    for (const auto id : checkpointing)
      interrupt_job(id, "Node " + name + " set DOWN" + by, state_.job(id)->requeues_when_interrupted());
    node_lost(name, "Node " + name + " set DOWN" + by, checkpointing);
    (void)apply(NodeStateSet{name, NodeState::Down, "set DOWN" + by, true});
  } else if (action == "RESUME" || action == "UP") {
    (void)apply(NodeStateSet{name, NodeState::Up, "", true});
  } else {
    return make_error("state", "'" + action + "' is not DRAIN, DOWN or RESUME");
  }
  log::info("node " + name + ": " + action + by);
  schedule_needed_ = full_pass_needed_ = true;
  return proto::to_json(*state_.node(name));
}

Result<Json> Head::op_status(const Caller& c, const Json& args) {
  std::map<std::string, int> counts;
  for (const auto& [id, j] : state_.jobs()) counts[to_string(j.state)]++;
  Json nodes = Json::array();
  for (const auto& [n, node] : state_.nodes())
    nodes.push_back({{"nodeName", n}, {"state", to_string(node.state)}, {"connected", node.connected}});
  return Json{{"pid", ::getpid()},
              {"startedAt", started_at_},
              {"stateDir", config_.state_dir},
              {"apiAddress", api_listener_->address().to_string()},
              {"agentAddress", agent_listener_->address().to_string()},
              {"defaultQueue", config_.default_queue},
              {"jobs", counts},
              {"nodes", std::move(nodes)}};
}

Result<Json> Head::op_shutdown(const Caller& c, const Json& args) {
  if (!c.admin) return make_error("cannot stop droverd", "only root or the cluster's admin may");
  log::info("shutdown requested by uid " + std::to_string(c.uid));
  loop_.after(50, [this] { stop(); });
  return Json{{"stopping", true}};
}

// ---- agents ----------------------------------------------------------------------

void Head::accept_agent(int fd) {
  auto conn = transport::Connection::adopt(loop_, fd, config_.max_request_bytes);
  // Over a Unix socket only the daemon's own user (or root) may act as an agent;
  // TCP agents are authenticated with MUNGE (multi-node issue).
  if (conn->peer().known && conn->peer().uid != 0 && conn->peer().uid != ::getuid()) {
    log::warn("refused agent connection from uid " + std::to_string(conn->peer().uid));
    return;
  }
  agent_conns_[conn.get()] = conn;
  conn->on_message([this](const ConnPtr& c, std::string f) { on_agent_message(c, std::move(f)); });
  conn->on_close([this](const ConnPtr& c, const std::string& why) {
    on_agent_closed(c);
    loop_.defer([this, raw = c.get()] { agent_conns_.erase(raw); });
  });
  conn->start();
}

void Head::on_agent_closed(const ConnPtr& conn) {
  auto it = node_of_conn_.find(conn.get());
  if (it == node_of_conn_.end()) return;
  const std::string node = it->second;
  node_of_conn_.erase(it);
  auto a = agents_by_node_.find(node);
  if (a != agents_by_node_.end() && a->second == conn) {
    agents_by_node_.erase(a);
    environment_bases_.erase(node);
    last_heard_.erase(node);
    disconnected_at_[node] = transport::epoch_ms();
    log::warn("node " + node + " disconnected; its jobs keep running and will be re-synced");
    (void)apply(NodeDisconnected{node, transport::epoch_ms()});
  }
}

void Head::on_agent_message(const ConnPtr& conn, std::string frame) {
  Json m = Json::parse(frame, nullptr, false);
  if (m.is_discarded() || !m.is_object()) {
    log::warn("garbled message from an agent: closing its connection");
    conn->close("garbled message");
    return;
  }
  const std::string type = string_arg(m, "type");
  auto node_it = node_of_conn_.find(conn.get());
  if (node_it != node_of_conn_.end()) last_heard_[node_it->second] = transport::epoch_ms();
  if (type == "hello") {
    auto hello = proto::agent_hello_from_json(m);
    if (!hello) {
      log::warn("bad hello from agent: " + hello.message());
      conn->send(proto::dump(error_reply(hello.message())));
      conn->close_after_flush();
      return;
    }
    if (hello->version != proto::kAgentProtocolVersion) {
      conn->send(proto::dump(error_reply("protocol version " + std::to_string(hello->version) +
                                         " not supported")));
      conn->close_after_flush();
      return;
    }
    if (auto a = authenticate_agent(conn, *hello); !a) {
      log::warn("refused agent '" + hello->node_name + "' from " + conn->peer_address() + ": " + a.message());
      conn->send(proto::dump(error_reply("refused: " + a.message())));
      conn->close_after_flush();
      return;
    }
    on_hello(conn, *hello);
    return;
  }
  if (node_it == node_of_conn_.end()) {
    log::warn("agent message '" + type + "' before hello: closing");
    conn->close("no hello");
    return;
  }
  const std::string& node = node_it->second;
  if (type == "started") {
    auto r = proto::running_report_from_json(m);
    if (!r) return log::warn("bad report from " + node + ": " + r.message());
    const Job* j = state_.job(r->job_id);
    if (j && j->state == JobState::Starting && static_cast<int>(j->attempts.size()) == r->attempt &&
        j->current_attempt()->node == node)
      (void)apply(JobStarted{r->job_id, r->started_at});
  } else if (type == "exited") {
    auto r = proto::exit_report_from_json(m);
    if (!r) return log::warn("bad report from " + node + ": " + r.message());
    on_exit_report(node, *r);
  } else if (type == "heartbeat") {
    // connection liveness only
  } else {
    log::warn("unknown message '" + type + "' from " + node);
  }
}

void Head::on_exit_report(const std::string& node, const proto::ExitReport& r) {
  const Job* j = state_.job(r.job_id);
  const bool current = j && is_active(j->state) && static_cast<int>(j->attempts.size()) == r.attempt;
  if (current && j->state == JobState::Starting && j->current_attempt()->node == node &&
      r.reason.rfind(proto::kNoEnvironmentBase, 0) == 0) {
    // The agent lacked the array's environment: nothing ran. The next order
    // to that node carries it again, and this task starts again.
    log::warn("job " + std::to_string(r.job_id) + ": " + r.reason + " on " + node + "; requeued");
    environment_bases_.erase(node);
    (void)apply(JobRequeued{r.job_id, r.at, r.reason + "; requeued"});
  } else if (current && j->current_attempt()->node == node) {
    // The main node's process ended: so does the job, on every node.
    const Attempt a = *j->current_attempt();
    (void)apply(JobExited{r.job_id, r.at, r.exit_code, r.signal, r.reason, r.checkpoint_at,
                          lost_part_.erase(r.job_id) > 0});
    for (const auto& sl : a.more_nodes)
      agent_out_.emplace_back(sl.node, Json{{"type", "kill"}, {"jobId", r.job_id}, {"attempt", r.attempt},
                                            {"reason", "the job ended on its main node"}});
  } else if (current && attempt_on(*j->current_attempt(), node) && !j->terminate_requested) {
    // Another node's part ended (it could not start there, or its agent lost
    // it): the job cannot go on without it.
    log::warn("job " + std::to_string(r.job_id) + " lost its part on " + node + ": " + r.reason);
    lost_part_.insert(r.job_id);
    send_kill(*j, "Node " + node + " lost its part of the job" + (r.reason.empty() ? "" : ": " + r.reason));
  }
  // Acknowledge in every case (also stale or duplicate reports) once durable.
  held_acks_.emplace_back(node, Json{{"type", "ack_exit"}, {"jobId", r.job_id}, {"attempt", r.attempt}});
  request_flush();
}

Status Head::authenticate_agent(const ConnPtr& conn, const proto::AgentHello& hello) {
  if (conn->peer().known) return {};  // a Unix socket: accept_agent checked the peer's uid
  if (hello.credential.empty())
    return make_error("no MUNGE credential", "agents connecting over TCP must run with munged (drover-noded --munge-socket)");
  auto id = transport::munge_decode(hello.credential, config_.munge_socket);
  if (!id) return id.error();
  if (id->uid != 0 && id->uid != ::getuid())
    return make_error("credential of uid " + std::to_string(id->uid), "agents run as root");
  if (id->payload != proto::hello_payload(hello.node_name))
    return make_error("credential made for something else", "'" + id->payload + "'");
  return {};
}

void Head::on_hello(const ConnPtr& conn, const proto::AgentHello& hello) {
  const std::string& node = hello.node_name;
  if (auto s = validate_name("nodeName", node); !s) {
    conn->send(proto::dump(error_reply(s.message())));
    conn->close_after_flush();
    return;
  }
  if (auto old = agents_by_node_.find(node); old != agents_by_node_.end() && old->second != conn) {
    // The same machine again (an agent restarted before its old connection
    // was noticed gone) replaces it; another machine under a name in use is
    // a misconfiguration and is refused.
    auto host = [](const std::string& a) { return a.substr(0, a.rfind(':')); };
    const std::string was = old->second->peer_address(), now_from = conn->peer_address();
    if (host(was) != host(now_from)) {
      log::warn("refused agent '" + node + "' from " + now_from + ": the name is in use by the agent at " + was);
      conn->send(proto::dump(error_reply("node name '" + node + "' is in use by the agent at " + was +
                                         "; give this one another --name")));
      conn->close_after_flush();
      return;
    }
    log::warn("node " + node + " connected again; dropping its previous connection");
    node_of_conn_.erase(old->second.get());
    old->second->close("replaced by a new connection");
  }
  agents_by_node_[node] = conn;
  environment_bases_.erase(node);  // a new connection: the agent starts without any
  node_of_conn_[conn.get()] = node;
  const auto now = transport::epoch_ms();
  last_heard_[node] = now;
  disconnected_at_.erase(node);
  if (!hello.step_address.empty()) step_address_[node] = hello.step_address;
  else step_address_.erase(node);
  if (!conn->peer().known) {
    // The agent checks that it talks to the head before it obeys anything.
    auto cred = transport::munge_encode(proto::welcome_payload(node), config_.munge_socket);
    if (!cred) {
      log::error("cannot welcome node " + node + ": " + cred.message());
      conn->close("no MUNGE");
      return;
    }
    conn->send(proto::dump(Json{{"type", "welcome"}, {"credential", *cred}}));
  }

  (void)apply(NodeConnected{node, hello.topology, now, hello.features});
  log::info("node " + node + " connected: " + std::to_string(hello.topology.pu_count()) + " PUs, " +
            std::to_string(hello.topology.memory_mib) + " MiB, " +
            std::to_string(hello.topology.gpus.size()) + " GPUs; " +
            std::to_string(hello.running.size()) + " jobs running, " +
            std::to_string(hello.exited.size()) + " exits to report");

  // Re-sync: the agent's word about its jobs against ours.
  std::map<std::int64_t, const proto::RunningReport*> running;
  for (const auto& r : hello.running) running[r.job_id] = &r;
  std::map<std::int64_t, const proto::ExitReport*> exited;
  for (const auto& e : hello.exited) exited[e.job_id] = &e;
  for (const auto& e : hello.exited) on_exit_report(node, e);
  for (const auto& r : hello.running) {
    const Job* j = state_.job(r.job_id);
    const bool ours = j && is_active(j->state) && attempt_on(*j->current_attempt(), node) &&
                      static_cast<int>(j->attempts.size()) == r.attempt;
    if (!ours) {
      log::warn("node " + node + " runs job " + std::to_string(r.job_id) + " attempt " +
                std::to_string(r.attempt) + " that is not active here: killing it");
      agent_out_.emplace_back(node, Json{{"type", "kill"}, {"jobId", r.job_id}, {"attempt", r.attempt},
                                         {"reason", "unknown to the head"}});
      continue;
    }
    if (j->state == JobState::Starting && j->current_attempt()->node == node)
      (void)apply(JobStarted{r.job_id, r.started_at});
    // Being stopped (its grace period, if any, was lost with the old head).
    if (j->terminate_requested || j->requeue_requested)
      agent_out_.emplace_back(node, Json{{"type", "kill"}, {"jobId", r.job_id}, {"attempt", r.attempt},
                                         {"reason", j->terminate_reason}});
  }
  std::vector<std::int64_t> lost;
  for (const auto id : state_.active_jobs())
    if (attempt_on(*state_.job(id)->current_attempt(), node) && !running.count(id) && !exited.count(id))
      lost.push_back(id);
  for (auto id : lost) {
    const Job* j = state_.job(id);
    const Attempt& a = *j->current_attempt();
    if (j->state == JobState::Starting) {
      // The launch order never reached the agent: start it again, nothing ran
      // (what did start on its other nodes is stopped).
      for (const auto& n : attempt_nodes(a))
        if (n != node)
          agent_out_.emplace_back(n, Json{{"type", "kill"}, {"jobId", id},
                                          {"attempt", static_cast<int>(j->attempts.size())},
                                          {"reason", "requeued: launch did not reach " + node}});
      (void)apply(JobRequeued{id, now, "launch did not reach " + node + "; requeued"});
    } else if (a.node == node) {
      const Attempt copy = a;
      const int attempt = static_cast<int>(j->attempts.size());
      (void)apply(JobExited{id, now, std::nullopt, 0, "Node " + node + " lost the job (agent restarted)", 0, true});
      for (const auto& sl : copy.more_nodes)
        agent_out_.emplace_back(sl.node, Json{{"type", "kill"}, {"jobId", id}, {"attempt", attempt},
                                              {"reason", "the job ended on its main node"}});
    } else {
      // A node other than the main one lost its part: stop the job everywhere;
      // the main node's exit report ends the attempt with this reason.
      lost_part_.insert(id);
      send_kill(*j, "Node " + node + " lost its part of the job (agent restarted)");
    }
  }
  request_flush();
}

Result<std::shared_ptr<const JobPayload>> Head::payload(std::int64_t id, bool array) {
  ++payload_clock_;
  for (auto& c : payload_cache_)
    if (c.id == id) {
      c.used = payload_clock_;
      return c.payload;
    }
  auto read = store_->payload(id);
  if (!read) return read.error();
  auto p = std::make_shared<const JobPayload>(std::move(*read));
  if (!array) return p;
  // A few arrays at a time, and not one whose script and environment are large.
  constexpr std::size_t kEntries = 8, kMaxBytes = 1u << 20;
  std::size_t bytes = p->script.size() + p->submit_options.size();
  for (const auto& [k, v] : p->environment) bytes += k.size() + v.size();
  for (const auto& arg : p->command) bytes += arg.size();
  if (bytes > kMaxBytes) return p;
  if (payload_cache_.size() >= kEntries)
    payload_cache_.erase(std::min_element(payload_cache_.begin(), payload_cache_.end(),
                                          [](const auto& a, const auto& b) { return a.used < b.used; }));
  payload_cache_.push_back({id, p, payload_clock_});
  return p;
}

void Head::launch(const Job& job) {
  const Attempt* a = job.current_attempt();
  // An array's tasks run what their array was given.
  auto read = payload(job.array_parent ? job.array_parent : job.id, job.array_parent != 0);
  if (!read) {
    log::error("cannot launch job " + std::to_string(job.id) + ": " + read.message());
    (void)apply(JobExited{job.id, transport::epoch_ms(), std::nullopt, 0,
                           "cannot launch: " + read.message()});
    return;
  }
  const JobPayload* payload = read->get();
  std::string ce;
  if (const JobQueue* q = state_.queue(job.queue))
    for (const auto& name : q->compute_environments)
      if (const auto* e = state_.environment(name);
          e && std::find(e->nodes.begin(), e->nodes.end(), a->node) != e->nodes.end()) {
        ce = name;
        break;
      }
  const JobQueue* q = state_.queue(job.queue);
  const Job* parent = job.array_parent ? state_.job(job.array_parent) : nullptr;
  auto abs = [&](const std::string& pattern) {
    if (pattern.empty()) return std::string();
    std::string p = expand_output_pattern(pattern, job, a->node);
    return p[0] == '/' ? p : job.working_dir + "/" + p;
  };
  // A multi-node job: the main node runs the script with the allocation as a
  // hostfile; every other node gets an order without a command, which makes
  // the job's cgroup and binding there for what mpirun starts through
  // drover-launch.
  const auto nodes = attempt_nodes(*a);
  // Where drover-launch finds each node's agent (name=tcp:IP:PORT,...).
  std::string addresses;
  if (nodes.size() > 1)
    for (const auto& n : nodes)
      if (auto it = step_address_.find(n); it != step_address_.end())
        addresses += (addresses.empty() ? "" : ",") + n + "=" + it->second;
  // More than one task: each rank gets its own PUs of the plan (mpirun reads the rankfile).
  const TaskPlan tasks = job.ntasks > 1 ? task_plan_of(job, *a, state_) : TaskPlan{};
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    proto::LaunchOrder o;
    o.job_id = job.id;
    o.attempt = static_cast<int>(job.attempts.size());
    o.uid = job.uid;
    o.gid = job.gid;
    o.user = job.user;
    o.node_index = static_cast<int>(i);
    o.num_nodes = static_cast<int>(nodes.size());
    LaunchContext ctx{a->node, ce, hostname_, job.slurm_env && (!q || q->slurm_env),
                      parent && parent->array ? &parent->array->indexes : nullptr, static_cast<int>(i),
                      i < tasks.task_gpus.size() ? &tasks.task_gpus[i] : nullptr};
    // AWS node groups: this node's group adds its environment (and, on nodes
    // other than the main one, its command).
    const NodeGroup* group = payload->node_group(static_cast<int>(i));
    if (nodes.size() == 1 && job.array_parent != 0) {
      // An array's task: only its own variables, over the array's base
      // (sent below with the first of its tasks on this agent).
      o.environment = job_variables(job, *payload, ctx);
      o.environment_base = job.array_parent;
    } else if (group && !group->environment.empty()) {
      JobPayload with = *payload;
      for (const auto& [k, v] : group->environment) set_value(with.environment, k, v);
      o.environment = job_environment(job, with, ctx);
    } else {
      o.environment = job_environment(job, *payload, ctx);
    }
    if (!addresses.empty()) set_value(o.environment, "DROVER_NODE_ADDRESSES", addresses);
    // AWS Batch tells the child nodes of a multi-node job where the main node is.
    if (i > 0)
      if (auto it = step_address_.find(nodes[0]); it != step_address_.end())
        if (auto ip = ipv4_of(it->second); !ip.empty())
          set_value(o.environment, "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS", ip);
    o.working_dir = job.working_dir;
    o.memory_mib = job.request_on(static_cast<int>(i)).memory_mib;
    if (i == 0) {
      o.argv = payload->command;
      o.script = payload->script;
      o.stdout_path = abs(job.stdout_path);
      o.stderr_path = abs(job.stderr_path);
      o.cpus = a->cpus;
      o.gpus = a->gpus;
      o.timeout_seconds = job.attempt_time_limit_s();
      o.append_output = job.append_output;
      if (nodes.size() > 1) o.hostfile = mpi_hostfile(job);
      o.rankfile = tasks.rankfile;
    } else {
      o.cpus = a->more_nodes[i - 1].cpus;
      o.gpus = a->more_nodes[i - 1].gpus;
      if (group && !group->command.empty()) {
        // Its own program, with its own output files (the job's, suffixed .node<i>).
        o.argv = group->command;
        o.stdout_path = abs(job.stdout_path) + ".node" + std::to_string(i);
        if (!job.stderr_path.empty()) o.stderr_path = abs(job.stderr_path) + ".node" + std::to_string(i);
        o.append_output = job.append_output;
      }
    }
    if (job.checkpoints()) {
      // Every node signals its own processes before the time limit (the
      // others only use the limit for that; the main node enforces it).
      o.timeout_seconds = job.attempt_time_limit_s();
      o.checkpoint_signal = job.checkpoint_signal;
      o.checkpoint_seconds = job.checkpoint_seconds;
      o.checkpoint_batch_only = job.checkpoint_signal_batch_only;
      o.checkpoint_dir = checkpoint_directory(job, *payload);
    }
    auto it = agents_by_node_.find(nodes[i]);
    if (it == agents_by_node_.end()) {
      // The node went away between the decision and now: the hello re-sync
      // requeues it when the node comes back.
      continue;
    }
    if (o.environment_base) {
      auto& held = environment_bases_[nodes[i]];
      auto at = std::find(held.begin(), held.end(), o.environment_base);
      if (at == held.end()) {
        o.has_base_environment = true;
        o.base_environment = base_environment(*payload);
        if (held.size() >= kEnvironmentBasesPerAgent) held.pop_back();
        held.insert(held.begin(), o.environment_base);
      } else {
        std::rotate(held.begin(), at, at + 1);  // most recently used first, as the agent orders them
      }
    }
    it->second->send(proto::dump_launch_order(o));
  }
}

}  // namespace drover::server
