#include "sched/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <queue>
#include <map>
#include <climits>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "place/placement.hpp"

namespace drover::sched {

const char* to_string(Backfill b) {
  switch (b) {
    case Backfill::Greedy: return "greedy";
    case Backfill::None: return "fifo";
    case Backfill::Easy: return "easy";
    case Backfill::Conservative: return "conservative";
  }
  return "?";
}

namespace {

constexpr std::int64_t kNever = INT64_MAX;
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  return (a == kNever || b == kNever || a > kNever - b) ? kNever : a + b;
}

// What a job needs on one node, or what a node has free, counted.
struct Amount {
  int pus = 0;
  int gpus = 0;
  std::int64_t mem = 0;
};
bool covers(const Amount& free, const Amount& need) {
  return free.pus >= need.pus && free.gpus >= need.gpus && free.mem >= need.mem;
}

struct Release {
  std::int64_t at;
  Amount amount;
};

// A node's free resources from now on: a step function, steps_[i].free holding
// from steps_[i].t until the next step (the last one for ever). Built only for
// nodes that a reservation looks at.
class Profile {
 public:
  Profile(std::int64_t now, Amount free_now, std::vector<Release> releases) {
    std::sort(releases.begin(), releases.end(),
              [](const Release& a, const Release& b) { return a.at < b.at; });
    steps_.push_back({now, free_now});
    for (const auto& r : releases) {
      if (r.at == kNever) break;
      if (steps_.back().t != r.at) steps_.push_back({r.at, steps_.back().free});
      Amount& f = steps_.back().free;
      f.pus += r.amount.pus;
      f.gpus += r.amount.gpus;
      f.mem += r.amount.mem;
    }
  }
  // Whether `need` stays free from now until `to`.
  bool fits_until(std::int64_t to, const Amount& need) const {
    for (const auto& s : steps_) {
      if (s.t >= to) break;
      if (!covers(s.free, need)) return false;
    }
    return true;
  }
  // Until when `need` stays free from now: the first step that does not cover it
  // (now itself when it does not fit now); kNever when it always does.
  std::int64_t free_until(const Amount& need) const {
    for (const auto& s : steps_)
      if (!covers(s.free, need)) return s.t;
    return kNever;
  }
  // Whether `need` is free all through [from, to).
  bool fits_between(std::int64_t from, std::int64_t to, const Amount& need) const {
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      const std::int64_t end = i + 1 < steps_.size() ? steps_[i + 1].t : kNever;
      if (end <= from) continue;
      if (steps_[i].t >= to) break;
      if (!covers(steps_[i].free, need)) return false;
    }
    return true;
  }
  // The earliest time from which `need` stays free for `duration` ms; kNever
  // when there is none.
  std::int64_t earliest(std::int64_t duration, const Amount& need) const {
    std::int64_t cand = -1;
    for (const auto& s : steps_) {
      if (cand >= 0 && add_sat(cand, duration) <= s.t) return cand;
      if (covers(s.free, need)) {
        if (cand < 0) cand = s.t;
      } else {
        cand = -1;
      }
    }
    return cand >= 0 ? cand : kNever;
  }
  void take(std::int64_t from, std::int64_t to, const Amount& a) {
    const std::size_t i = split(from);
    const std::size_t j = to == kNever ? steps_.size() : split(to);
    for (std::size_t k = i; k < j; ++k) {
      steps_[k].free.pus -= a.pus;
      steps_[k].free.gpus -= a.gpus;
      steps_[k].free.mem -= a.mem;
    }
  }

 private:
  struct Step {
    std::int64_t t;
    Amount free;
  };
  // The index of the step that starts at t (t >= now), made if needed.
  std::size_t split(std::int64_t t) {
    auto it = std::upper_bound(steps_.begin(), steps_.end(), t,
                               [](std::int64_t v, const Step& s) { return v < s.t; });
    const auto idx = static_cast<std::size_t>(it - steps_.begin());
    if (steps_[idx - 1].t == t) return idx - 1;
    const Amount f = steps_[idx - 1].free;
    steps_.insert(it, Step{t, f});
    return idx;
  }
  std::vector<Step> steps_;
};

// Max segment tree over an environment's nodes' free PUs (-1: unusable): finds
// the first node with enough free PUs in O(log n), so jobs that fit nowhere
// are skipped without looking at nodes.
class MaxTree {
 public:
  void init(const std::vector<int>& v) {
    n_ = 1;
    while (n_ < v.size()) n_ <<= 1;
    t_.assign(2 * n_, -1);
    std::copy(v.begin(), v.end(), t_.begin() + static_cast<std::ptrdiff_t>(n_));
    for (std::size_t i = n_ - 1; i >= 1; --i) t_[i] = std::max(t_[2 * i], t_[2 * i + 1]);
  }
  void set(std::size_t i, int v) {
    i += n_;
    t_[i] = v;
    for (i >>= 1; i >= 1; i >>= 1) t_[i] = std::max(t_[2 * i], t_[2 * i + 1]);
  }
  // The first index >= from whose value is >= v, or kNone.
  std::size_t find(std::size_t from, int v) const { return find(1, 0, n_, from, v); }

 private:
  std::size_t find(std::size_t node, std::size_t lo, std::size_t hi, std::size_t from,
                   int v) const {
    if (hi <= from || t_[node] < v) return kNone;
    if (hi - lo == 1) return lo;
    const std::size_t mid = (lo + hi) / 2;
    const std::size_t r = find(2 * node, lo, mid, from, v);
    return r != kNone ? r : find(2 * node + 1, mid, hi, from, v);
  }
  std::size_t n_ = 1;
  std::vector<int> t_ = {-1, -1};
};

bool usable(const Node* n) { return n && n->connected && n->state == NodeState::Up; }

struct Slot {
  const Node* node = nullptr;
  // What is in use once this pass's starts are counted: made on the first
  // allocation of this pass (the node's use only, never its topology).
  struct Use {
    std::vector<bool> pu_used, gpu_used;
    std::int64_t memory_used_mib = 0;
    std::vector<std::int64_t> numa_memory_used_mib;
  };
  std::unique_ptr<Use> copy;
  bool usable = false;
  Amount free;
  std::vector<std::pair<std::size_t, std::size_t>> in_envs;  // (env, position)
  int profile = -1;        // index into Pass::profiles_
  bool reserved = false;   // a reservation holds part of it
  std::vector<Release> started;  // this pass's starts with a finite end
  place::NodeUse use() const {
    return copy ? place::NodeUse{copy->pu_used, copy->gpu_used, copy->memory_used_mib, &copy->numa_memory_used_mib}
                : place::NodeUse{node->pu_used, node->gpu_used, node->memory_used_mib, &node->numa_memory_used_mib};
  }
  std::optional<place::PlacementPlan> place_job(const Resources& request) const {
    return place::place_on_node(node->topology, use(), request);
  }
  // The node as this pass has it (a full copy: for the rare preemption plans).
  Node current() const {
    Node n = *node;
    if (copy) {
      n.pu_used = copy->pu_used;
      n.gpu_used = copy->gpu_used;
      n.memory_used_mib = copy->memory_used_mib;
      n.numa_memory_used_mib = copy->numa_memory_used_mib;
    }
    return n;
  }
};

struct Env {
  const ComputeEnvironment* env = nullptr;
  std::vector<std::size_t> slots;
  MaxTree tree;
  int cap_left = INT32_MAX;
  bool any_usable = false;
};

// The order a queue's runnable jobs are considered in, when it is not plain
// FIFO: higher priority - nice first, then FIFO; with fair share, the share
// that uses least relative to its weight goes next (recomputed after every
// start), each share's jobs in priority order. Costs O(n log n) per pass.
class QueueOrder {
 public:
  QueueOrder(const ClusterState& state, const JobQueue& q, std::int64_t now) : state_(state), q_(q) {
    const bool fair = q.fair_share.enabled;
    std::map<std::string, std::size_t> index;
    auto group_of = [&](const std::string& share) -> Group& {
      auto [it, added] = index.emplace(share, groups_.size());
      if (added) {
        Group g;
        g.weight = fair ? q.fair_share.weight_of(share) : 1.0;
        if (fair)
          if (auto u = q.usage.find(share); u != q.usage.end())
            g.past = u->second.as_of(now, q.fair_share.share_decay_seconds) /
                     static_cast<double>(std::max<std::int64_t>(1, q.fair_share.share_decay_seconds));
        groups_.push_back(std::move(g));
      }
      return groups_[it->second];
    };
    const auto& runnable = state.runnable(q.name);
    if (!fair) group_of(std::string()).ids.reserve(runnable.size());
    for (const auto id : runnable) {
      const Job* j = state.job(id);
      if (!j) continue;
      Group& g = fair ? group_of(j->share_name()) : groups_.front();
      g.ids.push_back({-j->effective_priority(), id, j});
    }
    if (fair)
      for (const auto id : state.active_jobs()) {
        const Job* j = state.job(id);
        if (!j || j->queue != q.name || !j->current_attempt()) continue;
        const int v = static_cast<int>(attempt_pus(*j->current_attempt()));
        group_of(j->share_name()).running += v;
        used_ += v;
      }
    for (auto& g : groups_) {
      by_priority(g.ids);
      active_ += g.running > 0;
    }
    for (std::size_t i = 0; i < groups_.size(); ++i)
      if (!groups_[i].ids.empty()) push(i);
  }
  // The next job's id, or -1.
  std::int64_t next() {
    if (current_ != kNone) {
      Group& g = groups_[current_];
      if (++g.pos < g.ids.size()) push(current_);
      current_ = kNone;
    }
    if (heap_.empty()) return -1;
    current_ = heap_.top().group;
    heap_.pop();
    const Group& g = groups_[current_];
    return g.ids[g.pos].id;
  }
  // The job next() returned last (no lookup by id).
  const Job* current_job() const { return current_ == kNone ? nullptr : groups_[current_].ids[groups_[current_].pos].job; }
  bool fair() const { return q_.fair_share.enabled; }
  // The job last returned comes back in its turn (an array with tasks left).
  void again() {
    if (current_ != kNone) push(current_);
    current_ = kNone;
  }
  // The job last returned started (a task of it, for arrays) with `vcpus`.
  void started(int vcpus) {
    if (current_ == kNone) return;
    Group& g = groups_[current_];
    active_ += g.running == 0;
    g.running += vcpus;
    used_ += vcpus;
  }
  // computeReservation: a share that already runs something may not take the
  // part of the queue's capacity kept for shares that run nothing.
  bool reservation_allows(int vcpus, int capacity) const {
    const int pct = q_.fair_share.compute_reservation;
    if (!q_.fair_share.enabled || pct <= 0 || current_ == kNone || groups_[current_].running == 0) return true;
    const double kept = std::pow(pct / 100.0, active_) * capacity;
    return used_ + vcpus <= capacity - kept;
  }

 private:
  struct Ranked {
    std::int64_t key;  // -priority
    std::int64_t id;
    const Job* job;
  };
  // Highest priority first, then oldest. The ids come in ascending (the
  // runnable set's order), so a stable sort by priority alone is enough; and
  // priorities span a small range (schedulingPriority - nice), so counting
  // them is O(n) where a comparison sort of 100,000 jobs was a tenth of a pass.
  static void by_priority(std::vector<Ranked>& v) {
    if (v.size() < 2) return;
    auto [lo, hi] = std::minmax_element(v.begin(), v.end(), [](const Ranked& a, const Ranked& b) { return a.key < b.key; });
    const std::int64_t min = lo->key, span = hi->key - lo->key + 1;
    if (span == 1) return;
    if (span > 65'536) {
      std::stable_sort(v.begin(), v.end(), [](const Ranked& a, const Ranked& b) { return a.key < b.key; });
      return;
    }
    std::vector<std::uint32_t> at(static_cast<std::size_t>(span) + 1, 0);
    for (const Ranked& r : v) ++at[static_cast<std::size_t>(r.key - min) + 1];
    for (std::size_t i = 1; i < at.size(); ++i) at[i] += at[i - 1];
    std::vector<Ranked> out(v.size());
    for (const Ranked& r : v) out[at[static_cast<std::size_t>(r.key - min)]++] = r;
    v.swap(out);
  }
  struct Group {
    std::vector<Ranked> ids;
    std::size_t pos = 0;
    double weight = 1.0;
    double past = 0;  // decayed past use, in vCPUs over the decay period
    int running = 0;  // vCPUs on nodes now
    double load() const { return weight * (running + past); }
  };
  struct Entry {
    double load;
    std::int64_t priority;
    std::int64_t id;
    std::size_t group;
    // std::priority_queue pops the largest: the largest is the least loaded,
    // then the highest priority, then the oldest.
    bool operator<(const Entry& o) const {
      if (load != o.load) return load > o.load;
      if (priority != o.priority) return priority < o.priority;
      return id > o.id;
    }
  };
  void push(std::size_t i) {
    const Group& g = groups_[i];
    heap_.push({g.load(), -g.ids[g.pos].key, g.ids[g.pos].id, i});
  }
  const ClusterState& state_;
  const JobQueue& q_;
  std::vector<Group> groups_;
  std::priority_queue<Entry> heap_;
  std::size_t current_ = kNone;
  int used_ = 0;
  int active_ = 0;
};

class Pass {
 public:
  Pass(const ClusterState& state, std::int64_t now, const Policy& policy)
      : state_(state), now_(now), policy_(policy) {}

  PassResult run();

 private:
  Backfill mode_of(const JobQueue& q) const {
    if (!q.backfill) return policy_.backfill;
    switch (*q.backfill) {
      case QueueBackfill::Easy: return Backfill::Easy;
      case QueueBackfill::Conservative: return Backfill::Conservative;
      case QueueBackfill::Fifo: return Backfill::None;
    }
    return policy_.backfill;
  }
  std::int64_t limit_ms(const Job& job) const {
    const std::int64_t s =
        job.timeout_seconds > 0 ? job.timeout_seconds : policy_.default_time_limit_s;
    return s > 0 ? s * 1000 : kNever;
  }
  void build();
  // Node selection (--constraint, --nodelist, --exclude, --exclusive).
  // Whether the job may use the slot's node (for a matching OR's `choice`).
  static bool allowed(const Job& job, const Slot& s, int choice) {
    return !job.selection || job.selection->allows(s.node->name, s.node->features(), choice);
  }
  // A single-node job: allowed, and the listed node if it lists one.
  static bool eligible(const Job& job, const Slot& s) {
    return !job.selection || (allowed(job, s, -1) && (job.selection->node_list.empty() ||
                                                       job.selection->required(s.node->name)));
  }
  static bool exclusive(const Job& job) { return job.selection && job.selection->exclusive; }
  // What the job takes on a node: its request; with --exclusive every PU and GPU.
  static Resources request_on(const Job& job, const Node& n) {
    if (!exclusive(job)) return job.request;
    return {std::max(job.request.vcpus, n.pus_total()), job.request.memory_mib,
            std::max(job.request.gpus, static_cast<int>(n.topology.gpus.size()))};
  }
  static Amount need_on(const Job& job, const Node& n) {
    const Resources r = request_on(job, n);
    return {r.vcpus, r.gpus, r.memory_mib};
  }
  // The same for node `index` of a job whose node groups ask different resources.
  static Resources request_on(const Job& job, const Node& n, int index) {
    const Resources& r = job.request_on(index);
    if (!exclusive(job)) return r;
    return {std::max(r.vcpus, n.pus_total()), r.memory_mib, std::max(r.gpus, static_cast<int>(n.topology.gpus.size()))};
  }
  static Amount need_on(const Job& job, const Node& n, int index) {
    const Resources r = request_on(job, n, index);
    return {r.vcpus, r.gpus, r.memory_mib};
  }
  // A mixed job's node indexes, largest request first (GPUs, then vCPUs, then
  // memory; node index order among equals, so the main node leads its group).
  static std::vector<int> largest_first(const Job& job) {
    std::vector<int> v(static_cast<std::size_t>(job.nodes));
    for (int i = 0; i < job.nodes; ++i) v[static_cast<std::size_t>(i)] = i;
    std::stable_sort(v.begin(), v.end(), [&](int a, int b) {
      const Resources &x = job.request_on(a), &y = job.request_on(b);
      return std::tie(x.gpus, x.vcpus, x.memory_mib) > std::tie(y.gpus, y.vcpus, y.memory_mib);
    });
    return v;
  }
  // The alternatives of the job's matching OR ("[a|b]") to try: {-1} when none.
  static std::vector<int> choices(const Job& job) {
    const int n = job.selection ? job.selection->constraint.choices() : 0;
    std::vector<int> v;
    for (int i = 0; i < n; ++i) v.push_back(i);
    if (v.empty()) v.push_back(-1);
    return v;
  }
  // Why a job with a node selection waits when the pass says `why` for its queue.
  const char* selection_wait(const Job& job, const std::vector<std::size_t>& envs, const char* why) const;
  bool try_start(const Job& job, const std::vector<std::size_t>& envs, std::int64_t array_index = -1);
  // `end`: when the job is expected to end (now + its limit, or the shortened one).
  // `index`: which node of the job (its request_on) the plan is for.
  void take(std::size_t s, std::size_t env, const Job& job, const place::PlacementPlan& plan, std::int64_t end,
            int index = 0);
  // sbatch --time-min: the end of a shortened attempt that stops by `until` (when a
  // reservation needs the room), in whole minutes and no shorter than the job's
  // minimum; 0 when the job has no minimum or the hole is too short for it.
  std::int64_t shortened_end(const Job& job, std::int64_t until) const {
    if (!job.time_min_minutes || until == kNever) return 0;
    const std::int64_t shortest = std::min<std::int64_t>(std::int64_t{job.time_min_minutes} * 60'000, limit_ms(job));
    const std::int64_t hole = until - now_;
    if (hole < shortest) return 0;
    const std::int64_t minutes = hole / 60'000 * 60'000;
    return now_ + std::max(minutes, shortest);
  }
  // The Decision's time_limit_s for an attempt that ends at `end`: 0 unless shortened.
  std::int64_t shortened_limit_s(const Job& job, std::int64_t end) const {
    return end != kNever && end < add_sat(now_, limit_ms(job)) ? (end - now_) / 1000 : 0;
  }
  bool try_start_nodes(const Job& job, const std::vector<std::size_t>& envs, std::int64_t array_index);
  std::int64_t reserve_nodes(const Job& job, const std::vector<std::size_t>& envs);
  // Multi-node jobs whose node groups ask different resources.
  bool try_start_mixed(const Job& job, const std::vector<std::size_t>& envs, std::int64_t array_index);
  // A node chosen for a multi-node start, by node index.
  struct NodePick {
    std::size_t slot = kNone;
    place::PlacementPlan plan;
  };
  // Starts the job on `picked` (node index order; the first runs the script) in
  // environment e, its limit cut to `stop` where --time-min allows; false (and
  // nothing taken) when the environment's vCPU cap has no room for them.
  bool start_on(const Job& job, std::int64_t array_index, std::size_t e, std::vector<NodePick>& picked,
                std::int64_t stop);
  std::int64_t reserve_mixed(const Job& job, const std::vector<std::size_t>& envs);
  Profile& profile(std::size_t s);
  std::int64_t reserve(const Job& job, const std::vector<std::size_t>& envs);
  // PUs of the usable nodes of these environments (each capped by its maxvCpus).
  int queue_capacity(const std::vector<std::size_t>& envs) const;
  // Preemption (see try_preempt).
  // A running job whose room a waiting job may count on: one already being
  // stopped (cancel, requeue, an earlier preemption), or one of a queue whose
  // preemptionMode is not OFF.
  struct Freeable {
    const Job* job = nullptr;
    bool stopping = false;  // terminate or requeue already requested: not a new victim
    int queue_priority = 0;
    PreemptMode mode = PreemptMode::Off;
    std::int64_t started = 0;  // the attempt's start (now while STARTING): later is younger
    int pus = 0;               // on all its nodes
    // Preference among victims: jobs being stopped anyway, then the lowest queue
    // priority, the youngest attempt (least work lost), the smallest, the newest.
    auto key() const { return std::make_tuple(!stopping, queue_priority, -started, pus, -job->id); }
  };

  // How a waiting job fits on one node once some running jobs stop.
  struct NodePlan {
    std::size_t slot = 0;
    std::size_t pos = 0;             // in its environment, for ties
    std::vector<std::size_t> jobs;   // freeable_ indexes this node needs stopped (not those already taken)
    Amount freed;                    // what stopping them (and those taken) frees on this node
    // Cost, lower is better: whether it preempts at all, then its worst victim's
    // key, then how many victims and PUs.
    using Key = std::tuple<bool, int, std::int64_t, int, std::int64_t>;
    using Cost = std::tuple<bool, Key, std::size_t, int, std::size_t>;  // (preempts, worst, count, PUs, pos)
    Cost cost;
  };
  void index_freeable();
  std::optional<NodePlan> plan_node(std::size_t si, std::size_t pos, const Job& job, int priority,
                                    const std::vector<std::size_t>& taken, int min_freed_pus) const;
  bool try_preempt(const Job& job, const JobQueue& q, const std::vector<std::size_t>& envs);
  void note(const Job& job, const char* reason, std::int64_t estimate = 0) {
    if (estimate != job.estimated_start || job.pending_reason != reason)
      out_.reasons.push_back({job.id, reason, estimate});
  }
  // What of a RUNNABLE job's dependencies the state leaves to the pass, which
  // knows the time and what starts: after:ID+MINUTES (dependency_ready_at) and
  // singleton. `self` holds them: the job, or a retried task's array.
  bool waits_on_dependency(const Job& job, const Job& self) {
    if (self.dependency_ready_s == 0 && self.depends_on.empty()) return false;
    const std::int64_t ready = self.dependency_ready_at();
    const bool time_ok = ready <= now_;
    const bool singleton = self.has_dependency(DependencyType::Singleton);
    bool ok = time_ok;
    if (singleton) {
      const bool alone = !singleton_started_.count({self.uid, self.name}) && state_.singleton_blocker(self) == 0;
      ok = self.depends_any ? time_ok || alone : time_ok && alone;
    }
    if (ok) return false;
    const bool known = !singleton || self.depends_any;  // when the time alone decides
    note(job, "Dependency", known && ready != kNotReady ? ready : 0);
    return true;
  }

  const ClusterState& state_;
  const std::int64_t now_;
  const Policy& policy_;
  PassResult out_;
  std::vector<Slot> slots_;
  std::unordered_map<std::string_view, std::size_t> slot_of_;  // keys: the state's node names
  std::vector<Env> envs_;
  std::unordered_map<std::string_view, std::size_t> env_of_;
  std::vector<Profile> profiles_;
  bool running_indexed_ = false;
  std::unordered_map<std::int64_t, std::int64_t> started_;  // array tasks started this pass
  std::unordered_map<std::int64_t, std::int64_t> resume_;   // array -> next position, fair share
  // Singleton groups (user, name) a job of which started this pass.
  std::set<std::pair<std::uint32_t, std::string>> singleton_started_;
  std::vector<std::vector<Release>> running_;  // by slot: when active jobs end
  // Preemption: whether any queue's running jobs may be preempted by a queue
  // above it (decided once per pass; when not, none of this is looked at), and,
  // built on first need, the running jobs that could make room.
  bool preempt_possible_ = false;
  bool freeable_indexed_ = false;
  std::vector<Freeable> freeable_;
  std::vector<std::vector<std::size_t>> freeable_on_;  // by slot: freeable_ indexes
  std::vector<char> claimed_;  // by freeable_ index: a waiting job of this pass counts on it
};

void Pass::build() {
  slots_.resize(state_.nodes().size());
  slot_of_.reserve(slots_.size());
  std::size_t i = 0;
  for (const auto& [name, node] : state_.nodes()) {
    Slot& s = slots_[i];
    s.node = &node;
    s.usable = usable(&node);
    s.free = {node.pus_free(), node.gpus_free(), node.memory_free_mib()};
    slot_of_.emplace(name, i++);
  }
  envs_.resize(state_.environments().size());
  std::size_t e = 0;
  std::vector<int> leaves;
  for (const auto& [name, env] : state_.environments()) {
    Env& x = envs_[e];
    x.env = &env;
    int used = 0;
    leaves.clear();
    for (const auto& n : env.nodes) {
      auto it = slot_of_.find(n);
      if (it == slot_of_.end()) continue;
      Slot& s = slots_[it->second];
      // Jobs keep running on a node that is drained or whose agent is away:
      // they still count against the cap, though nothing new starts there.
      used += s.node->pus_total() - s.free.pus;
      x.any_usable |= s.usable;
      s.in_envs.emplace_back(e, x.slots.size());
      x.slots.push_back(it->second);
      leaves.push_back(s.usable ? s.free.pus : -1);
    }
    x.tree.init(leaves);
    x.cap_left = env.max_vcpus > 0 ? std::max(0, env.max_vcpus - used) : INT32_MAX;
    env_of_.emplace(name, e++);
  }
}

void Pass::take(std::size_t si, std::size_t env, const Job& job, const place::PlacementPlan& plan,
                std::int64_t end, int index) {
  const std::int64_t mem = job.request_on(index).memory_mib;
  Slot& s = slots_[si];
  if (!s.copy)
    s.copy = std::make_unique<Slot::Use>(
        Slot::Use{s.node->pu_used, s.node->gpu_used, s.node->memory_used_mib, s.node->numa_memory_used_mib});
  Slot::Use& n = *s.copy;
  for (int pu : plan.cpus) {
    if (static_cast<std::size_t>(pu) >= n.pu_used.size()) n.pu_used.resize(pu + 1, false);
    n.pu_used[pu] = true;
  }
  for (int g : plan.gpus) {
    if (static_cast<std::size_t>(g) >= n.gpu_used.size()) n.gpu_used.resize(g + 1, false);
    n.gpu_used[g] = true;
  }
  n.memory_used_mib += mem;
  add_memory_by_domain(n.numa_memory_used_mib, local_memory_by_domain(s.node->topology, plan.cpus, mem), 1);
  const Amount a{static_cast<int>(plan.cpus.size()), static_cast<int>(plan.gpus.size()), mem};
  s.free.pus -= a.pus;
  s.free.gpus -= a.gpus;
  s.free.mem -= a.mem;
  for (auto [e, pos] : s.in_envs) envs_[e].tree.set(pos, s.free.pus);
  envs_[env].cap_left -= a.pus;
  if (s.profile >= 0) profiles_[s.profile].take(now_, end, a);
  if (end != kNever) s.started.push_back({end, a});
}

bool Pass::try_start(const Job& job, const std::vector<std::size_t>& envs, std::int64_t array_index) {
  if (job.nodes > 1) return try_start_nodes(job, envs, array_index);
  const Amount need{job.request.vcpus, job.request.gpus, job.request.memory_mib};
  const std::int64_t end = add_sat(now_, limit_ms(job));
  for (std::size_t e : envs) {
    Env& env = envs_[e];
    if (!env.env->enabled || env.cap_left < need.pus) continue;
    for (std::size_t pos = env.tree.find(0, need.pus); pos != kNone;
         pos = env.tree.find(pos + 1, need.pus)) {
      const std::size_t si = env.slots[pos];
      const Slot& s = slots_[si];
      if (!eligible(job, s)) continue;
      const Amount n = exclusive(job) ? need_on(job, *s.node) : need;
      if (s.free.pus < n.pus || s.free.gpus < n.gpus || s.free.mem < n.mem || env.cap_left < n.pus) continue;
      // Starting here must not delay a reservation on this node; with --time-min,
      // a shorter limit that ends before the reservation may do.
      std::int64_t stop = end;
      if (s.reserved && !profiles_[s.profile].fits_until(end, n)) {
        stop = shortened_end(job, profiles_[s.profile].free_until(n));
        if (!stop) continue;
      }
      auto plan = s.place_job(request_on(job, *s.node));
      if (!plan) continue;
      take(si, e, job, *plan, stop);
      out_.starts.push_back({job.id, array_index, s.node->name, std::move(plan->cpus), std::move(plan->gpus), {},
                             shortened_limit_s(job, stop)});
      return true;
    }
  }
  return false;
}

// A multi-node job: `nodes` distinct nodes of one environment that each fit the
// per-node request now, first fit in the environment's order (the main node is
// the first), none of them delaying a reservation.
bool Pass::try_start_nodes(const Job& job, const std::vector<std::size_t>& envs, std::int64_t array_index) {
  if (job.mixed_nodes()) return try_start_mixed(job, envs, array_index);
  const Amount need{job.request.vcpus, job.request.gpus, job.request.memory_mib};
  const std::int64_t end = add_sat(now_, limit_ms(job));
  const auto want = static_cast<std::size_t>(job.nodes);
  // --nodelist: the listed nodes are part of it, the others come after them.
  const std::size_t listed = job.selection ? job.selection->node_list.size() : 0;
  if (listed > want) return false;  // refused at submit
  std::vector<NodePick> picked;
  std::int64_t stop = end;  // the earliest a picked node's reservation needs it back (--time-min)
  for (std::size_t e : envs) {
    Env& env = envs_[e];
    if (!env.env->enabled || env.cap_left / job.nodes < need.pus) continue;
    // A matching OR ("[a|b]"): all nodes with the same alternative.
    for (const int choice : choices(job)) {
      picked.clear();
      stop = end;
      std::size_t have_listed = 0, others = 0;
      for (std::size_t pos = env.tree.find(0, need.pus);
           pos != kNone && (have_listed < listed || others < want - listed);
           pos = env.tree.find(pos + 1, need.pus)) {
        const std::size_t si = env.slots[pos];
        const Slot& s = slots_[si];
        if (!allowed(job, s, choice)) continue;
        const bool is_listed = listed > 0 && job.selection->required(s.node->name);
        if (!is_listed && others >= want - listed) continue;
        const Amount n = exclusive(job) ? need_on(job, *s.node) : need;
        if (s.free.pus < n.pus || s.free.gpus < n.gpus || s.free.mem < n.mem) continue;
        std::int64_t by = stop;
        if (s.reserved && !profiles_[s.profile].fits_until(stop, n)) {
          by = shortened_end(job, profiles_[s.profile].free_until(n));
          if (!by) continue;
        }
        auto plan = s.place_job(request_on(job, *s.node));
        if (!plan) continue;
        stop = std::min(stop, by);
        picked.push_back({si, std::move(*plan)});
        ++(is_listed ? have_listed : others);
      }
      if (have_listed < listed || others < want - listed) continue;
      if (start_on(job, array_index, e, picked, stop)) return true;
    }
  }
  return false;
}

bool Pass::start_on(const Job& job, std::int64_t array_index, std::size_t e, std::vector<NodePick>& picked,
                    std::int64_t stop) {
  const Env& env = envs_[e];
  std::int64_t pus = 0;
  for (const auto& p : picked) pus += static_cast<std::int64_t>(p.plan.cpus.size());
  if (env.env->max_vcpus > 0 && pus > env.cap_left) return false;
  Decision d{job.id, array_index, slots_[picked[0].slot].node->name, picked[0].plan.cpus, picked[0].plan.gpus, {},
             shortened_limit_s(job, stop)};
  for (std::size_t i = 0; i < picked.size(); ++i) {
    take(picked[i].slot, e, job, picked[i].plan, stop, static_cast<int>(i));
    if (i > 0)
      d.more_nodes.push_back({slots_[picked[i].slot].node->name, std::move(picked[i].plan.cpus),
                              std::move(picked[i].plan.gpus)});
  }
  out_.starts.push_back(std::move(d));
  return true;
}

Profile& Pass::profile(std::size_t si) {
  Slot& s = slots_[si];
  if (s.profile >= 0) return profiles_[s.profile];
  if (!running_indexed_) {
    // When each active job is expected to end: its attempt's start + limit
    // (now + limit while STARTING); one that overran ends "any moment".
    running_indexed_ = true;
    running_.resize(slots_.size());
    for (const auto id : state_.active_jobs()) {
      const Job& job = *state_.job(id);
      const Attempt* a = job.current_attempt();
      if (!a) continue;
      const std::int64_t limit = a->time_limit_s > 0 ? a->time_limit_s * 1000 : limit_ms(job);
      std::int64_t end = add_sat(a->started_at > 0 ? a->started_at : now_, limit);
      if (end == kNever) continue;
      end = std::max(end, now_ + 1);
      auto release = [&](const std::string& node, const std::vector<int>& cpus, const std::vector<int>& gpus,
                         int index) {
        auto it = slot_of_.find(node);
        if (it == slot_of_.end()) return;
        running_[it->second].push_back(
            {end, {static_cast<int>(cpus.size()), static_cast<int>(gpus.size()), job.request_on(index).memory_mib}});
      };
      release(a->node, a->cpus, a->gpus, 0);
      for (std::size_t i = 0; i < a->more_nodes.size(); ++i)
        release(a->more_nodes[i].node, a->more_nodes[i].cpus, a->more_nodes[i].gpus, static_cast<int>(i + 1));
    }
  }
  std::vector<Release> releases = std::move(running_[si]);  // built once per slot
  releases.insert(releases.end(), s.started.begin(), s.started.end());
  s.profile = static_cast<int>(profiles_.size());
  profiles_.emplace_back(now_, s.free, std::move(releases));
  return profiles_.back();
}

int Pass::queue_capacity(const std::vector<std::size_t>& envs) const {
  int total = 0;
  for (std::size_t e : envs) {
    const Env& env = envs_[e];
    if (!env.env->enabled) continue;
    int n = 0;
    for (std::size_t si : env.slots)
      if (slots_[si].usable) n += slots_[si].node->pus_total();
    total += env.env->max_vcpus > 0 ? std::min(n, env.env->max_vcpus) : n;
  }
  return total;
}

std::int64_t Pass::reserve(const Job& job, const std::vector<std::size_t>& envs) {
  if (job.nodes > 1) return reserve_nodes(job, envs);
  const Amount need{job.request.vcpus, job.request.gpus, job.request.memory_mib};
  const std::int64_t duration = limit_ms(job);
  std::int64_t best = kNever;
  std::size_t best_slot = kNone;
  for (std::size_t e : envs) {
    const Env& env = envs_[e];
    if (!env.env->enabled) continue;
    for (std::size_t si : env.slots) {
      const Slot& s = slots_[si];
      if (!s.usable || s.node->pus_total() < need.pus || !eligible(job, s) ||
          !place::could_ever_fit(s.node->topology, job.request))
        continue;
      const std::int64_t t = profile(si).earliest(duration, need_on(job, *s.node));
      if (t < best) {
        best = t;
        best_slot = si;
        if (t == now_) break;
      }
    }
  }
  if (best_slot == kNone) return kNever;
  Slot& s = slots_[best_slot];
  profiles_[s.profile].take(best, add_sat(best, duration), need_on(job, *s.node));
  s.reserved = true;
  return best;
}

// A multi-node job's reservation: the earliest time T at which `nodes` nodes
// of one environment each have the per-node request free for the job's whole
// time limit; those nodes are held from T.
std::int64_t Pass::reserve_nodes(const Job& job, const std::vector<std::size_t>& envs) {
  if (job.mixed_nodes()) return reserve_mixed(job, envs);
  const Amount need{job.request.vcpus, job.request.gpus, job.request.memory_mib};
  const std::int64_t duration = limit_ms(job);
  const auto want = static_cast<std::size_t>(job.nodes);
  const std::size_t listed = job.selection ? job.selection->node_list.size() : 0;
  if (listed > want) return kNever;
  std::vector<std::pair<std::int64_t, std::size_t>> cand;  // (earliest, slot)
  std::vector<std::size_t> chosen;
  std::int64_t best = kNever;
  std::vector<std::size_t> best_chosen;
  for (std::size_t e : envs) {
    const Env& env = envs_[e];
    if (!env.env->enabled) continue;
    for (const int choice : choices(job)) {
      cand.clear();
      std::size_t listed_here = 0;
      for (std::size_t si : env.slots) {
        const Slot& s = slots_[si];
        if (!s.usable || s.node->pus_total() < need.pus || !allowed(job, s, choice) ||
            !place::could_ever_fit(s.node->topology, job.request))
          continue;
        const std::int64_t t = profile(si).earliest(duration, need_on(job, *s.node));
        if (t == kNever) continue;
        cand.emplace_back(t, si);
        listed_here += listed > 0 && job.selection->required(s.node->name);
      }
      if (cand.size() < want || listed_here < listed) continue;
      std::sort(cand.begin(), cand.end());
      // The earliest T at which the listed nodes and enough others each have
      // the job's need free for its whole time limit.
      for (std::size_t k = 0; k < cand.size(); ++k) {
        const std::int64_t t = cand[k].first;
        if (t >= best) break;
        if (k > 0 && t == cand[k - 1].first) continue;
        const std::int64_t to = add_sat(t, duration);
        chosen.clear();
        std::size_t have_listed = 0, others = 0;
        for (std::size_t i = 0; i < cand.size() && cand[i].first <= t; ++i) {
          const Slot& s = slots_[cand[i].second];
          const bool is_listed = listed > 0 && job.selection->required(s.node->name);
          if (!is_listed && others >= want - listed) continue;
          if (!profiles_[s.profile].fits_between(t, to, need_on(job, *s.node))) continue;
          chosen.push_back(cand[i].second);
          ++(is_listed ? have_listed : others);
        }
        if (have_listed < listed || others < want - listed) continue;
        best = t;
        best_chosen = chosen;
        break;
      }
    }
    // The first environment (in the queue's order) where the job fits at all.
    if (best == kNever) continue;
    for (std::size_t si : best_chosen) {
      profiles_[slots_[si].profile].take(best, add_sat(best, duration), need_on(job, *slots_[si].node));
      slots_[si].reserved = true;
    }
    return best;
  }
  return kNever;
}

// A multi-node job whose node groups ask different resources: its node
// indexes, largest request first, each on the first node of one environment
// (in its order) that has that node's request free now and is not picked yet,
// none of them delaying a reservation. Node index 0 (the main node, which runs
// the script) gets the node picked for it, whatever its place in the order.
bool Pass::try_start_mixed(const Job& job, const std::vector<std::size_t>& envs, std::int64_t array_index) {
  const std::int64_t end = add_sat(now_, limit_ms(job));
  const std::vector<int> order = largest_first(job);
  const auto want = static_cast<std::size_t>(job.nodes);
  std::vector<NodePick> picked(want);  // by node index
  for (std::size_t e : envs) {
    Env& env = envs_[e];
    if (!env.env->enabled || env.cap_left < job.total_vcpus()) continue;
    for (const int choice : choices(job)) {
      std::int64_t stop = end;
      bool all = true;
      for (auto& p : picked) p.slot = kNone;
      for (const int idx : order) {
        const Resources& r = job.request_on(idx);
        NodePick& p = picked[static_cast<std::size_t>(idx)];
        for (std::size_t pos = env.tree.find(0, r.vcpus); pos != kNone; pos = env.tree.find(pos + 1, r.vcpus)) {
          const std::size_t si = env.slots[pos];
          const Slot& s = slots_[si];
          if (!allowed(job, s, choice)) continue;
          if (std::any_of(picked.begin(), picked.end(), [&](const NodePick& o) { return o.slot == si; })) continue;
          const Amount n = need_on(job, *s.node, idx);
          if (!covers(s.free, n)) continue;
          std::int64_t by = stop;
          if (s.reserved && !profiles_[s.profile].fits_until(stop, n)) {
            by = shortened_end(job, profiles_[s.profile].free_until(n));
            if (!by) continue;
          }
          auto plan = s.place_job(request_on(job, *s.node, idx));
          if (!plan) continue;
          stop = std::min(stop, by);
          p.slot = si;
          p.plan = std::move(*plan);
          break;
        }
        if (p.slot == kNone) {
          all = false;
          break;
        }
      }
      if (all && start_on(job, array_index, e, picked, stop)) return true;
    }
  }
  return false;
}

// Its reservation: the earliest time T at which, in one environment, each node
// index (largest request first) finds a node not yet chosen that has that
// index's own request free for the job's whole time limit; each chosen node is
// held from T for its own index's request only.
std::int64_t Pass::reserve_mixed(const Job& job, const std::vector<std::size_t>& envs) {
  const std::int64_t duration = limit_ms(job);
  const std::vector<int> order = largest_first(job);
  const auto want = static_cast<std::size_t>(job.nodes);
  std::vector<std::size_t> eligible, chosen(want), best_chosen;
  std::vector<std::int64_t> times;
  std::int64_t best = kNever;
  for (std::size_t e : envs) {
    const Env& env = envs_[e];
    if (!env.env->enabled) continue;
    for (const int choice : choices(job)) {
      eligible.clear();
      times.clear();
      for (std::size_t si : env.slots) {
        const Slot& s = slots_[si];
        if (!s.usable || !allowed(job, s, choice)) continue;
        bool any = false;
        for (const auto& g : *job.node_requests) {
          if (s.node->pus_total() < g.request.vcpus || !place::could_ever_fit(s.node->topology, g.request)) continue;
          const std::int64_t t = profile(si).earliest(duration, need_on(job, *s.node, g.first));
          if (t == kNever) continue;
          times.push_back(t);
          any = true;
        }
        if (any) eligible.push_back(si);
      }
      if (eligible.size() < want) continue;
      std::sort(times.begin(), times.end());
      times.erase(std::unique(times.begin(), times.end()), times.end());
      for (const std::int64_t t : times) {
        if (t >= best) break;
        const std::int64_t to = add_sat(t, duration);
        bool all = true;
        for (auto& c : chosen) c = kNone;
        for (const int idx : order) {
          const Resources& r = job.request_on(idx);
          std::size_t& c = chosen[static_cast<std::size_t>(idx)];
          for (std::size_t si : eligible) {
            const Slot& s = slots_[si];
            if (s.node->pus_total() < r.vcpus || !place::could_ever_fit(s.node->topology, r)) continue;
            if (std::find(chosen.begin(), chosen.end(), si) != chosen.end()) continue;
            if (!profiles_[s.profile].fits_between(t, to, need_on(job, *s.node, idx))) continue;
            c = si;
            break;
          }
          if (c == kNone) {
            all = false;
            break;
          }
        }
        if (!all) continue;
        best = t;
        best_chosen = chosen;
        break;
      }
    }
    // The first environment (in the queue's order) where the job fits at all.
    if (best == kNever) continue;
    for (std::size_t i = 0; i < best_chosen.size(); ++i) {
      Slot& s = slots_[best_chosen[i]];
      profiles_[s.profile].take(best, add_sat(best, duration), need_on(job, *s.node, static_cast<int>(i)));
      s.reserved = true;
    }
    return best;
  }
  return kNever;
}

const char* Pass::selection_wait(const Job& job, const std::vector<std::size_t>& envs, const char* why) const {
  if (why != std::string_view("Resources")) return why;
  const NodeSelection& sel = *job.selection;
  bool any_usable = false, any_match = false;
  for (std::size_t e : envs) {
    const Env& env = envs_[e];
    if (!env.env->enabled) continue;
    for (std::size_t si : env.slots) {
      const Slot& s = slots_[si];
      const bool ok = allowed(job, s, -1);
      any_match |= ok;
      // A listed node that cannot be used (down, drained, agent away).
      if (sel.required(s.node->name) && (!s.usable || !ok)) return "ReqNodeNotAvail";
      any_usable |= ok && s.usable;
    }
  }
  if (!any_match) return "BadConstraints";  // no node has the features now (changed since submit)
  return any_usable ? why : "ReqNodeNotAvail";
}

// ---- preemption ---------------------------------------------------------------------
//
// The first job of a queue that cannot start for lack of resources may have
// running jobs of strictly lower-priority queues stopped for it, where their
// queue's preemptionMode allows it. Jobs already being stopped (cancel,
// requeue, an earlier pass's preemption) count as room to come, so a pass
// after a preemption does not choose more victims while the first ones wind
// down. The waiting job starts in a later pass, once the victims are gone.

// The PUs and GPUs an attempt holds on one node, or nulls; `index`: which of
// the job's nodes it is.
std::pair<const std::vector<int>*, const std::vector<int>*> part_on(const Attempt& a, const std::string& node,
                                                                    int* index = nullptr) {
  if (index) *index = 0;
  if (a.node == node) return {&a.cpus, &a.gpus};
  for (std::size_t i = 0; i < a.more_nodes.size(); ++i)
    if (a.more_nodes[i].node == node) {
      if (index) *index = static_cast<int>(i + 1);
      return {&a.more_nodes[i].cpus, &a.more_nodes[i].gpus};
    }
  return {nullptr, nullptr};
}

// Marks a job's part of `n` in use (held) or free on a scratch copy of the node.
Amount set_held(Node& n, const Job& job, bool held) {
  int index = 0;
  const auto [cpus, gpus] = part_on(*job.current_attempt(), n.name, &index);
  if (!cpus) return {};
  const std::int64_t mem = job.request_on(index).memory_mib;
  for (int pu : *cpus)
    if (pu >= 0 && static_cast<std::size_t>(pu) < n.pu_used.size()) n.pu_used[pu] = held;
  for (int g : *gpus)
    if (g >= 0 && static_cast<std::size_t>(g) < n.gpu_used.size()) n.gpu_used[g] = held;
  n.memory_used_mib += held ? mem : -mem;
  add_memory_by_domain(n.numa_memory_used_mib, local_memory_by_domain(n.topology, *cpus, mem), held ? 1 : -1);
  return {static_cast<int>(cpus->size()), static_cast<int>(gpus->size()), mem};
}

void Pass::index_freeable() {
  freeable_indexed_ = true;
  freeable_on_.resize(slots_.size());
  for (const auto id : state_.active_jobs()) {
    const Job* j = state_.job(id);
    if (!j || j->array || !j->current_attempt()) continue;  // an array's parent holds nothing itself
    const JobQueue* q = state_.queue(j->queue);
    Freeable f;
    f.job = j;
    f.stopping = j->terminate_requested || j->requeue_requested;
    f.mode = q ? q->preempt_mode : PreemptMode::Off;
    if (!f.stopping && f.mode == PreemptMode::Off) continue;
    f.queue_priority = q ? q->priority : 0;
    const Attempt& a = *j->current_attempt();
    f.started = a.started_at > 0 ? a.started_at : now_;
    f.pus = static_cast<int>(attempt_pus(a));
    const std::size_t idx = freeable_.size();
    freeable_.push_back(f);
    auto on = [&](const std::string& node) {
      if (auto it = slot_of_.find(node); it != slot_of_.end()) freeable_on_[it->second].push_back(idx);
    };
    on(a.node);
    for (const auto& sl : a.more_nodes) on(sl.node);
  }
  claimed_.assign(freeable_.size(), 0);
}

// Which running jobs of node `si` must stop for `job` (of a queue of priority
// `priority`) to fit there, those in `taken` (chosen on the job's other nodes)
// being stopped already: the preferred ones first, added until the job fits
// (and at least `min_freed_pus` PUs are freed, for the environment's cap),
// then any that turn out not to be needed dropped again. nullopt when even
// all of them would not make room.
std::optional<Pass::NodePlan> Pass::plan_node(std::size_t si, std::size_t pos, const Job& job, int priority,
                                              const std::vector<std::size_t>& taken, int min_freed_pus) const {
  const Slot& s = slots_[si];
  const Amount need{job.request.vcpus, job.request.gpus, job.request.memory_mib};
  std::vector<std::size_t> cand;
  Amount most = s.free;  // what the node could have free at best: a cheap first check
  bool any_taken = false;
  for (std::size_t f : freeable_on_[si]) {
    const Freeable& x = freeable_[f];
    const bool in_taken = std::find(taken.begin(), taken.end(), f) != taken.end();
    any_taken |= in_taken;
    if (!in_taken && (claimed_[f] || !(x.stopping || (x.mode != PreemptMode::Off && x.queue_priority < priority))))
      continue;
    if (!in_taken) cand.push_back(f);
    int index = 0;
    const auto [cpus, gpus] = part_on(*x.job->current_attempt(), s.node->name, &index);
    if (!cpus) continue;
    most.pus += static_cast<int>(cpus->size());
    most.gpus += static_cast<int>(gpus->size());
    most.mem += x.job->request_on(index).memory_mib;
  }
  if (!covers(most, need) || most.pus - s.free.pus < min_freed_pus) return std::nullopt;

  NodePlan plan;
  plan.slot = si;
  plan.pos = pos;
  Node scratch = s.current();
  auto fits = [&] {
    return plan.freed.pus >= min_freed_pus && place::place_on_node(scratch, job.request).has_value();
  };
  auto add = [&](Amount& sum, const Amount& a) {
    sum.pus += a.pus;
    sum.gpus += a.gpus;
    sum.mem += a.mem;
  };
  if (any_taken)
    for (std::size_t f : taken) add(plan.freed, set_held(scratch, *freeable_[f].job, false));
  if (!fits()) {
    std::sort(cand.begin(), cand.end(),
              [&](std::size_t a, std::size_t b) { return freeable_[a].key() < freeable_[b].key(); });
    bool ok = false;
    for (std::size_t f : cand) {
      add(plan.freed, set_held(scratch, *freeable_[f].job, false));
      plan.jobs.push_back(f);
      if ((ok = fits())) break;
    }
    if (!ok) return std::nullopt;
    // Drop what is not needed after all, the least preferred first.
    for (std::size_t i = plan.jobs.size(); i-- > 0;) {
      const Job& j = *freeable_[plan.jobs[i]].job;
      const Amount a = set_held(scratch, j, true);
      plan.freed.pus -= a.pus;
      if (fits()) {
        plan.freed.gpus -= a.gpus;
        plan.freed.mem -= a.mem;
        plan.jobs.erase(plan.jobs.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        plan.freed.pus += a.pus;
        set_held(scratch, j, false);
      }
    }
  }
  std::size_t victims = 0;
  int pus = 0;
  NodePlan::Key worst{};
  for (std::size_t f : plan.jobs) {
    const Freeable& x = freeable_[f];
    if (x.stopping) continue;
    worst = victims == 0 ? x.key() : std::max(worst, x.key());
    ++victims;
    pus += x.pus;
  }
  plan.cost = {victims > 0, worst, victims, pus, pos};
  return plan;
}

// For the first job of a queue that cannot start for lack of resources:
// stops the cheapest set of running jobs of lower-priority queues that lets
// it fit (on `nodes` nodes of one environment), or nothing when no such set
// exists. The room it needs beyond what they free is held for it in this pass
// so that later jobs do not take it. Returns whether it is now waiting for
// jobs to stop (reason "Preempting").
bool Pass::try_preempt(const Job& job, const JobQueue& q, const std::vector<std::size_t>& envs) {
  // Jobs that want whole nodes, named nodes or one alternative on all their
  // nodes wait for room (and reserve it) instead of preempting.
  if (job.selection && (job.selection->exclusive || !job.selection->node_list.empty() ||
                        (job.nodes > 1 && job.selection->constraint.choices() > 0)))
    return false;
  // So do jobs whose node groups ask different resources (the plans below
  // are for one request on every node).
  if (job.mixed_nodes()) return false;
  if (!freeable_indexed_) index_freeable();
  if (freeable_.empty()) return false;
  const Amount need{job.request.vcpus, job.request.gpus, job.request.memory_mib};
  const auto want = static_cast<std::size_t>(std::max(1, job.nodes));
  std::vector<NodePlan> options, chosen;
  std::vector<std::size_t> taken;
  // A lower bound of each candidate node's cost, so that plans (a copy of the
  // node and placements) are made for as few nodes as possible: in bound
  // order, until `want` plans cost no more than the next node's bound.
  std::vector<std::pair<NodePlan::Cost, std::size_t>> bounds;  // (bound, pos)
  std::vector<std::size_t> fit_now;
  for (std::size_t e : envs) {
    const Env& env = envs_[e];
    if (!env.env->enabled) continue;
    options.clear();
    taken.clear();
    bounds.clear();
    // Under the environment's cap (maxvCpus), the victims must also give back
    // enough of it: spread evenly over the job's nodes.
    const auto nodes = static_cast<std::int64_t>(want);
    const std::int64_t short_of = env.env->max_vcpus > 0 ? need.pus * nodes - env.cap_left : 0;
    const int min_freed = short_of > 0 ? static_cast<int>((short_of + nodes - 1) / nodes) : 0;
    auto candidate = [&](std::size_t pos) {
      const Slot& s = slots_[env.slots[pos]];
      // A node that holds a reservation (of a job that came first) is left to it.
      return s.usable && !s.reserved && s.node->pus_total() >= need.pus && allowed(job, s, -1) &&
             place::could_ever_fit(s.node->topology, job.request);
    };
    // Nodes where the job fits now (a multi-node job may need some of them)...
    fit_now.clear();
    for (std::size_t pos = env.tree.find(0, need.pus); pos != kNone && fit_now.size() < want;
         pos = env.tree.find(pos + 1, need.pus)) {
      const Slot& s = slots_[env.slots[pos]];
      if (s.reserved || !allowed(job, s, -1) || s.free.gpus < need.gpus || s.free.mem < need.mem ||
          !s.place_job(job.request))
        continue;
      fit_now.push_back(pos);
      bounds.push_back({{false, {}, 0, 0, pos}, pos});
    }
    // ...and those where running jobs could make room: at best its most
    // preferred victim alone, or none when a job there is being stopped anyway.
    for (std::size_t pos = 0; pos < env.slots.size(); ++pos) {
      const auto& on = freeable_on_[env.slots[pos]];
      if (on.empty() || !candidate(pos) || std::find(fit_now.begin(), fit_now.end(), pos) != fit_now.end())
        continue;
      bool free_ride = false, any = false;
      NodePlan::Key best{};
      for (std::size_t f : on) {
        const Freeable& x = freeable_[f];
        if (claimed_[f]) continue;
        if (x.stopping) {
          free_ride = true;
        } else if (x.mode != PreemptMode::Off && x.queue_priority < q.priority) {
          best = any ? std::min(best, x.key()) : x.key();
          any = true;
        }
      }
      if (free_ride)
        bounds.push_back({{false, {}, 0, 0, pos}, pos});
      else if (any)
        bounds.push_back({{true, best, 1, 0, pos}, pos});
    }
    std::sort(bounds.begin(), bounds.end());
    std::priority_queue<NodePlan::Cost> kept;  // the `want` cheapest costs so far, the dearest on top
    for (const auto& [bound, pos] : bounds) {
      if (kept.size() == want && kept.top() <= bound) break;
      auto p = plan_node(env.slots[pos], pos, job, q.priority, taken, min_freed);
      if (!p) continue;
      kept.push(p->cost);
      if (kept.size() > want) kept.pop();
      options.push_back(std::move(*p));
    }
    if (options.size() < want) continue;
    std::sort(options.begin(), options.end(),
              [](const NodePlan& a, const NodePlan& b) { return a.cost < b.cost; });
    // Cheapest nodes first; a node's plan is made again when a multi-node
    // victim chosen for an earlier node also frees room there.
    chosen.clear();
    taken.clear();
    for (const NodePlan& o : options) {
      if (chosen.size() == want) break;
      bool shares = false;
      if (!taken.empty())
        for (std::size_t f : freeable_on_[o.slot]) shares |= std::find(taken.begin(), taken.end(), f) != taken.end();
      std::optional<NodePlan> p = shares ? plan_node(o.slot, o.pos, job, q.priority, taken, min_freed) : o;
      if (!p) continue;
      taken.insert(taken.end(), p->jobs.begin(), p->jobs.end());
      chosen.push_back(std::move(*p));
    }
    if (chosen.size() < want) {
      taken.clear();
      continue;
    }
    // Something must be preempted (or be stopping in a queue it may preempt):
    // room that only comes from other jobs ending is backfill's business.
    bool preempts = false;
    for (std::size_t f : taken) {
      const Freeable& x = freeable_[f];
      preempts |= x.mode != PreemptMode::Off && x.queue_priority < q.priority;
    }
    // The environment's cap must allow the job once the victims have stopped.
    int freed_pus = 0;
    for (const NodePlan& p : chosen) freed_pus += p.freed.pus;
    if (!preempts || (env.env->max_vcpus > 0 &&
                      static_cast<std::int64_t>(env.cap_left) + freed_pus <
                          static_cast<std::int64_t>(need.pus) * static_cast<std::int64_t>(want))) {
      taken.clear();
      continue;
    }
    for (std::size_t f : taken) {
      claimed_[f] = 1;
      const Freeable& x = freeable_[f];
      if (!x.stopping) out_.preemptions.push_back({x.job->id, job.id, x.mode});
    }
    // Hold what the job will need beyond what its victims free.
    for (const NodePlan& p : chosen) {
      Slot& s = slots_[p.slot];
      const Amount hold{std::max(0, need.pus - p.freed.pus), std::max(0, need.gpus - p.freed.gpus),
                        std::max<std::int64_t>(0, need.mem - p.freed.mem)};
      s.free.pus -= hold.pus;
      s.free.gpus -= hold.gpus;
      s.free.mem -= hold.mem;
      for (auto [e2, pos] : s.in_envs) envs_[e2].tree.set(pos, s.free.pus);
      envs_[e].cap_left -= hold.pus;
      if (s.profile >= 0) profiles_[s.profile].take(now_, kNever, hold);
    }
    return true;
  }
  return false;
}

PassResult Pass::run() {
  build();
  // Queues by priority, highest first; ties by name for determinism.
  std::vector<const JobQueue*> queues;
  for (const auto& [name, q] : state_.queues()) queues.push_back(&q);
  std::stable_sort(queues.begin(), queues.end(),
                   [](const JobQueue* a, const JobQueue* b) { return a->priority > b->priority; });

  std::size_t reserved_count = 0;

  // Preemption is possible only when a queue that allows it has a queue above it.
  for (const JobQueue* q : queues)
    preempt_possible_ |= q->preempt_mode != PreemptMode::Off && q->priority < queues.front()->priority;

  // Per-user quotas of each queue: jobs and vCPUs in use now, counted once.
  struct Usage {
    int jobs = 0;
    int vcpus = 0;
  };
  std::map<std::pair<std::string, std::uint32_t>, Usage> usage;
  bool any_quota = false;
  for (const JobQueue* q : queues) any_quota |= q->max_jobs_per_user > 0 || q->max_vcpus_per_user > 0;
  if (any_quota)
    for (const auto id : state_.active_jobs()) {
      const Job& j = *state_.job(id);
      Usage& u = usage[{j.queue, j.uid}];
      ++u.jobs;
      u.vcpus += static_cast<int>(j.total_vcpus());
    }
  auto over_quota = [&](const JobQueue& q, const Job& job) {
    if (!any_quota) return false;
    const Usage& u = usage[{q.name, job.uid}];
    return (q.max_jobs_per_user > 0 && u.jobs >= q.max_jobs_per_user) ||
           (q.max_vcpus_per_user > 0 && u.vcpus + job.total_vcpus() > q.max_vcpus_per_user);
  };
  std::vector<std::size_t> envs;
  for (const JobQueue* q : queues) {
    // The queue's own mode, else the policy's. Reservations live on the nodes,
    // whichever queue made them: every job considered later in the pass (its
    // own queue's or a lower one's, whatever their modes) starts only where it
    // delays none of them.
    const Backfill mode = mode_of(*q);
    const bool reservations = mode == Backfill::Easy || mode == Backfill::Conservative;
    envs.clear();
    bool any_env_enabled = false, any_node_usable = false;
    for (const auto& name : q->compute_environments) {
      auto it = env_of_.find(name);
      if (it == env_of_.end()) continue;
      envs.push_back(it->second);
      const Env& env = envs_[it->second];
      if (!env.env->enabled) continue;
      any_env_enabled = true;
      any_node_usable |= env.any_usable;
    }
    const char* why = !any_env_enabled   ? "ComputeEnvironmentDisabled"
                      : !any_node_usable ? "NodesUnavailable"
                                         : "Resources";

    const auto& runnable = state_.runnable(q->name);
    // Plain FIFO queues walk the runnable set by id (and an incremental pass
    // starts at first_job_id); queues with priorities or fair share get an order
    // made for this pass, and every job is looked at.
    std::optional<QueueOrder> order;
    if (q->fair_share.enabled || state_.prioritized(q->name) > 0) order.emplace(state_, *q, now_);
    const std::int64_t first = order ? 0 : this->policy_.first_job_id;
    auto it = reservations || order ? runnable.begin() : runnable.lower_bound(first);
    // Strict FIFO, incremental pass: an older job still waiting blocks the rest.
    bool queue_blocked = mode == Backfill::None && first > 0 && !runnable.empty() &&
                         *runnable.begin() < first;
    bool queue_reserved = false;
    std::size_t blocked = 0;
    int capacity = -1;  // vCPUs of the queue's environments, for computeReservation
    auto next_id = [&]() -> std::int64_t {
      if (order) return order->next();
      // EASY, incremental: older jobs cannot start now; once the first of them
      // has had its reservation made (or found impossible), the rest are skipped
      // unlooked at, so the pass costs O(new jobs) however deep the queue.
      if (it != runnable.end() && *it < first && mode == Backfill::Easy && (queue_reserved || blocked > 0))
        it = runnable.lower_bound(first);
      return it == runnable.end() ? -1 : *it++;
    };
    for (std::int64_t id = next_id(); id >= 0; id = next_id()) {
      const Job* job = order ? order->current_job() : state_.job(id);
      if (!job) continue;
      if ((policy_.max_blocked_scan && blocked >= policy_.max_blocked_scan) || queue_blocked) {
        note(*job, "Priority");
        continue;
      }
      // A task being retried waits, too, while its array is held.
      const Job* owner = job->array_parent ? state_.job(job->array_parent) : nullptr;
      if (job->held || (owner && owner->held)) {
        note(*job, "Held");
        continue;
      }
      // Arrays: the parent stands for its tasks not started; they start in
      // index order, as many as fit, up to the array's throttle. A task being
      // retried is a job of its own, under the same throttle.
      const ArrayInfo* arr = job->array.get();
      const Job* parent = arr ? job : job->array_parent ? state_.job(job->array_parent) : nullptr;
      const std::int64_t throttle = parent && parent->array ? parent->array->max_running : 0;
      // Where this array's tasks resume when it comes back in the same pass.
      auto resume = arr ? resume_.find(id) : resume_.end();
      std::int64_t pos = !arr ? -1 : resume != resume_.end() ? resume->second : arr->first_ready();
      if (arr && pos < 0 && !arr->pending.empty()) {
        // Every task left waits for its own (aftercorr, SEQUENTIAL), some maybe
        // for ever (kill-on-invalid-dep no: the array's status reason says so).
        note(*job, job->status_reason.rfind(kDependencyNeverSatisfied, 0) == 0 ? "DependencyNeverSatisfied"
                                                                                 : "Dependency");
        continue;
      }
      bool done = false;
      while (!done) {
        if (arr && pos < 0) break;  // every task is started
        // sbatch --begin: not before its time (the head wakes for it).
        if (const Job& self = parent && !arr ? *parent : *job; self.begin_s && self.begin_at() > now_) {
          note(*job, "BeginTime", self.begin_at());
          done = true;
          break;
        }
        if (waits_on_dependency(*job, parent && !arr ? *parent : *job)) {
          done = true;
          break;
        }
        if (throttle > 0) {
          const auto& c = parent->array->count;
          const std::int64_t on_nodes = c[static_cast<int>(JobState::Starting)] +
                                        c[static_cast<int>(JobState::Running)] + started_[parent->id];
          if (on_nodes >= throttle) {
            note(*job, "ArrayThrottle");
            done = true;
            break;
          }
        }
        // A user at the queue's quota waits; the jobs of others go on.
        if (over_quota(*q, *job)) {
          note(*job, "QuotaUser");
          done = true;
          break;
        }
        if (order && q->fair_share.compute_reservation > 0) {
          if (capacity < 0) capacity = queue_capacity(envs);
          if (!order->reservation_allows(static_cast<int>(job->total_vcpus()), capacity)) {
            note(*job, "ComputeReservation");
            done = true;
            break;
          }
        }
        // Jobs older than first_job_id did not fit at the last pass and still do not.
        if (id >= first && try_start(*job, envs, arr ? arr->indexes.index_at(pos) : -1)) {
          if (any_quota) {
            Usage& u = usage[{q->name, job->uid}];
            ++u.jobs;
            u.vcpus += static_cast<int>(job->total_vcpus());
          }
          if (parent) ++started_[parent->id];
          if (const Job& s = parent ? *parent : *job; state_.in_singleton_group(s))
            singleton_started_.insert({s.uid, s.name});
          if (order) order->started(static_cast<int>(job->total_vcpus()));
          if (!arr) {
            done = true;
            continue;
          }
          pos = arr->next_ready(pos + 1);
          // Fair share: after each task the least-served share goes next; the
          // array comes back for its next task when it is its turn again.
          if (pos >= 0 && order && order->fair()) {
            resume_[id] = pos;
            order->again();
            done = true;
          }
          continue;
        }
        break;
      }
      if (done || (arr && pos < 0)) continue;
      ++blocked;
      // A node selection may leave the job nothing usable though its queue has.
      const char* const why_job = job->selection ? selection_wait(*job, envs, why) : why;
      // The queue's first job that does not fit may have jobs of lower queues
      // stopped for it; it then waits for them instead of holding a reservation.
      if (preempt_possible_ && blocked == 1 && why_job == std::string_view("Resources") &&
          try_preempt(*job, *q, envs)) {
        note(*job, "Preempting");
        if (mode == Backfill::None) queue_blocked = true;
        if (reservations) {
          queue_reserved = true;
          ++reserved_count;
        }
        continue;
      }
      switch (mode) {
        case Backfill::Greedy:
          note(*job, why_job);
          break;
        case Backfill::None:
          note(*job, why_job);
          queue_blocked = true;
          break;
        case Backfill::Easy:
        case Backfill::Conservative: {
          const bool want = why_job == std::string_view("Resources") &&
                            (mode == Backfill::Easy
                                 ? !queue_reserved
                                 : (!policy_.max_reservations ||
                                    reserved_count < policy_.max_reservations));
          const std::int64_t t = want ? reserve(*job, envs) : kNever;
          const char* reason = queue_reserved && why_job == std::string_view("Resources")
                                   ? "Priority"
                                   : why_job;
          if (t != kNever) {
            ++reserved_count;
            queue_reserved = true;
          }
          note(*job, reason, t != kNever ? t : 0);
          break;
        }
      }
    }
  }
  return std::move(out_);
}

}  // namespace

PassResult schedule(const ClusterState& state, std::int64_t now_ms, const Policy& policy) {
  return Pass(state, now_ms, policy).run();
}

}  // namespace drover::sched
