#include "sched/scheduler.hpp"

#include <algorithm>
#include <unordered_map>

#include "place/placement.hpp"

namespace drover::sched {

namespace {

// Nodes as this pass changes them: copies made on first allocation only, so a
// pass over a big idle cluster does not copy every node.
class WorkingNodes {
 public:
  explicit WorkingNodes(const ClusterState& s) : state_(s) {}
  const Node& get(const std::string& name) const {
    auto it = changed_.find(name);
    return it != changed_.end() ? it->second : *state_.node(name);
  }
  void take(const std::string& name, const place::PlacementPlan& plan, std::int64_t mem) {
    auto it = changed_.find(name);
    if (it == changed_.end()) it = changed_.emplace(name, *state_.node(name)).first;
    Node& n = it->second;
    for (int pu : plan.cpus) {
      if (static_cast<std::size_t>(pu) >= n.pu_used.size()) n.pu_used.resize(pu + 1, false);
      n.pu_used[pu] = true;
    }
    for (int g : plan.gpus) {
      if (static_cast<std::size_t>(g) >= n.gpu_used.size()) n.gpu_used.resize(g + 1, false);
      n.gpu_used[g] = true;
    }
    n.memory_used_mib += mem;
  }

 private:
  const ClusterState& state_;
  std::unordered_map<std::string, Node> changed_;
};

bool usable(const Node* n) { return n && n->connected && n->state == NodeState::Up; }

}  // namespace

PassResult schedule(const ClusterState& state, std::int64_t now_ms, const Policy& policy) {
  (void)now_ms;  // time-based policies (begin times, backfill) come with the scheduler issue
  PassResult out;
  WorkingNodes nodes(state);

  // Free vCPUs per environment, to honour maxvCpus and to skip full ones quickly.
  std::unordered_map<std::string, int> env_free;
  std::unordered_map<std::string, int> env_cap_left;
  for (const auto& [name, env] : state.environments()) {
    int free = 0, used = 0;
    for (const auto& n : env.nodes) {
      const Node* node = state.node(n);
      if (!node) continue;
      // Jobs keep running on a node that is drained or whose agent is away:
      // they still count against the cap, though nothing new starts there.
      used += node->pus_total() - node->pus_free();
      if (usable(node)) free += node->pus_free();
    }
    env_free[name] = free;
    env_cap_left[name] = env.max_vcpus > 0 ? std::max(0, env.max_vcpus - used) : INT32_MAX;
  }

  // Queues by priority, highest first; ties by name for determinism.
  std::vector<const JobQueue*> queues;
  for (const auto& [name, q] : state.queues()) queues.push_back(&q);
  std::stable_sort(queues.begin(), queues.end(),
                   [](const JobQueue* a, const JobQueue* b) { return a->priority > b->priority; });

  auto note = [&](const Job& job, const char* reason) {
    if (job.pending_reason != reason) out.reasons.push_back({job.id, reason});
  };

  for (const JobQueue* q : queues) {
    std::size_t blocked = 0;
    const auto& runnable = state.runnable(q->name);
    for (auto it = runnable.lower_bound(policy.first_job_id); it != runnable.end(); ++it) {
      const auto id = *it;
      const Job* job = state.job(id);
      if (!job) continue;
      if (policy.max_blocked_scan && blocked >= policy.max_blocked_scan) {
        note(*job, "Priority");
        continue;
      }
      bool any_env_enabled = false, any_node_usable = false, started = false;
      for (const auto& env_name : q->compute_environments) {
        const ComputeEnvironment* env = state.environment(env_name);
        if (!env || !env->enabled) continue;
        any_env_enabled = true;
        int& free = env_free[env_name];
        int& cap = env_cap_left[env_name];
        if (free < job->request.vcpus || cap < job->request.vcpus) {
          for (const auto& n : env->nodes) any_node_usable |= usable(state.node(n));
          continue;
        }
        for (const auto& n : env->nodes) {
          if (!usable(state.node(n))) continue;
          any_node_usable = true;
          const Node& node = nodes.get(n);
          auto plan = place::place_on_node(node, job->request);
          if (!plan) continue;
          nodes.take(n, *plan, job->request.memory_mib);
          free -= static_cast<int>(plan->cpus.size());
          cap -= static_cast<int>(plan->cpus.size());
          out.starts.push_back({id, n, std::move(plan->cpus), std::move(plan->gpus)});
          started = true;
          break;
        }
        if (started) break;
      }
      if (started) continue;
      ++blocked;
      if (!any_env_enabled)
        note(*job, "ComputeEnvironmentDisabled");
      else if (!any_node_usable)
        note(*job, "NodesUnavailable");
      else
        note(*job, "Resources");
    }
  }
  return out;
}

}  // namespace drover::sched
