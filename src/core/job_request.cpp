#include "core/job_request.hpp"

#include <algorithm>
#include <cctype>
#include <tuple>
#include <unordered_set>

namespace drover {

Status validate_name(const std::string& field, const std::string& value) {
  if (value.empty()) return make_error(field, "must not be empty");
  if (value.size() > 128)
    return make_error(field, "'" + value.substr(0, 32) + "...' is longer than 128 characters");
  for (unsigned char c : value)
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.')
      return make_error(field, "'" + value + "' may contain only letters, digits, '-', '_' and '.'");
  return {};
}

namespace {
// "nodeProperties.nodeRangeProperties[1:3]." for messages about one group's resources.
std::string field_of_group(const NodeGroup& g) {
  return "nodeProperties.nodeRangeProperties[targetNodes " + target_nodes(g.first, g.last) + "].";
}

// What a group of nodes asks: "4 vCPUs, 1000 MiB, 1 GPU".
std::string describe(const Resources& r) {
  std::string s = std::to_string(r.vcpus) + (r.vcpus == 1 ? " vCPU" : " vCPUs");
  if (r.memory_mib) s += ", " + std::to_string(r.memory_mib) + " MiB";
  if (r.gpus) s += ", " + std::to_string(r.gpus) + (r.gpus == 1 ? " GPU" : " GPUs");
  return s;
}
}  // namespace

std::string target_nodes(int first, int last) {
  return first == last ? std::to_string(first) : std::to_string(first) + ":" + std::to_string(last);
}

std::string describe_node_requests(const Job& job) {
  std::string s;
  if (!job.node_requests) return s;
  for (const auto& g : *job.node_requests)
    s += (s.empty() ? "" : "; ") + std::string(g.first == g.last ? "node " : "nodes ") + target_nodes(g.first, g.last) +
         ": " + describe(g.request) + (g.first == g.last ? "" : " each");
  return s;
}


static Status validate_resources(const std::string& where, const Resources& r) {
  if (r.vcpus < 1)
    return make_error(where + "vcpus", std::to_string(r.vcpus) + " is not allowed: ask for at least 1");
  if (r.vcpus > kMaxVcpus) return make_error(where + "vcpus", std::to_string(r.vcpus) + " is too large");
  if (r.memory_mib < 0)
    return make_error(where + "memory", std::to_string(r.memory_mib) + " MiB is negative");
  if (r.gpus < 0) return make_error(where + "gpus", std::to_string(r.gpus) + " is negative");
  return {};
}

static Status validate_retry(const std::string& where, const RetryStrategy& r) {
  if (r.attempts < 1 || r.attempts > kMaxAttempts)
    return make_error(where + "retryStrategy.attempts",
                      std::to_string(r.attempts) + " is outside 1..10");
  for (std::size_t i = 0; i < r.evaluate_on_exit.size(); ++i) {
    const auto& rule = r.evaluate_on_exit[i];
    const std::string f = where + "retryStrategy.evaluateOnExit[" + std::to_string(i) + "]";
    if (rule.action != "RETRY" && rule.action != "EXIT")
      return make_error(f + ".action", "'" + rule.action + "' is not RETRY or EXIT");
    if (rule.on_exit_code.empty() && rule.on_reason.empty() && rule.on_status_reason.empty())
      return make_error(f, "needs onExitCode, onReason or onStatusReason");
  }
  return {};
}

static Status validate_timeout(const std::string& where, std::int64_t t) {
  if (t < 0) return make_error(where + "timeout.attemptDurationSeconds", "must not be negative");
  if (t > kMaxTimeoutSeconds)
    return make_error(where + "timeout.attemptDurationSeconds",
                      std::to_string(t) + " s is longer than one year");
  return {};
}

Status validate_definition(const JobDefinition& d) {
  if (auto s = validate_name("jobDefinitionName", d.name); !s) return s;
  if (auto s = validate_resources("", d.resources); !s) return s;
  if (auto s = validate_retry("", d.retry); !s) return s;
  if (auto s = validate_timeout("", d.timeout_seconds); !s) return s;
  if (d.scheduling_priority < 0 || d.scheduling_priority > kMaxSchedulingPriority)
    return make_error("schedulingPriority", std::to_string(d.scheduling_priority) + " is outside 0.." +
                                                std::to_string(kMaxSchedulingPriority));
  for (const auto& [k, v] : d.environment)
    if (k.empty() || k.find('=') != std::string::npos)
      return make_error("environment", "'" + k + "' is not a valid variable name");
  return {};
}

Status validate_environment(const ComputeEnvironment& e) {
  if (auto s = validate_name("computeEnvironmentName", e.name); !s) return s;
  if (e.type != "UNMANAGED")
    return make_error("type", "'" + e.type + "' is not supported: use UNMANAGED");
  if (e.max_vcpus < 0) return make_error("maxvCpus", "must not be negative");
  for (const auto& n : e.nodes)
    if (auto s = validate_name("nodes", n); !s) return s;
  return {};
}

Status validate_queue(const JobQueue& q, const ClusterState& state) {
  if (auto s = validate_name("jobQueueName", q.name); !s) return s;
  if (q.default_time_limit_s < 0 || q.max_time_limit_s < 0 || q.max_jobs_per_user < 0 ||
      q.max_vcpus_per_user < 0)
    return make_error("limits", "time limits and per-user limits must not be negative");
  if (q.max_time_limit_s > 0 && q.default_time_limit_s > q.max_time_limit_s)
    return make_error("defaultTimeLimitSeconds", "longer than maxTimeLimitSeconds");
  if (q.priority < 0 || q.priority > 1000)
    return make_error("priority", std::to_string(q.priority) + " is outside 0..1000");
  if (q.compute_environments.empty())
    return make_error("computeEnvironmentOrder", "needs at least one compute environment");
  if (q.compute_environments.size() > kMaxEnvironmentsPerQueue)
    return make_error("computeEnvironmentOrder", "at most 3 compute environments");
  for (const auto& ce : q.compute_environments)
    if (!state.environment(ce))
      return make_error("computeEnvironmentOrder", "unknown compute environment '" + ce + "'");
  const FairShare& f = q.fair_share;
  if (f.share_decay_seconds < 0 || f.share_decay_seconds > 604800)
    return make_error("fairsharePolicy.shareDecaySeconds",
                      std::to_string(f.share_decay_seconds) + " is outside 0..604800 (one week)");
  if (f.compute_reservation < 0 || f.compute_reservation > 99)
    return make_error("fairsharePolicy.computeReservation",
                      std::to_string(f.compute_reservation) + " is outside 0..99 (percent)");
  if (f.weights.size() > 500) return make_error("fairsharePolicy.shareDistribution", "at most 500 entries");
  for (const auto& w : f.weights) {
    std::string id = w.identifier;
    if (!id.empty() && id.back() == '*') id.pop_back();
    if (!id.empty() || w.identifier != "*")
      if (auto s = validate_name("fairsharePolicy.shareDistribution.shareIdentifier", id); !s) return s;
    if (!(w.weight >= 0.0001 && w.weight <= 999.9999))
      return make_error("fairsharePolicy.shareDistribution.weightFactor",
                        "for '" + w.identifier + "': " + std::to_string(w.weight) +
                            " is outside 0.0001..999.9999 (lower gets more)");
  }
  return {};
}

// Largest totals among the nodes a queue can use, to refuse jobs that could
// never run there. known is false when no node of the queue has reported yet.
struct QueueCapacity {
  bool known = false;
  int max_vcpus = 0;
  std::int64_t max_memory_mib = 0;
  int max_gpus = 0;
  int env_vcpu_cap = 0;  // largest maxvCpus among the environments, 0: none
  bool fits_one = false;
  int fitting_nodes = 0;  // most nodes of one environment that could each run the request
};

static QueueCapacity capacity_for(const JobQueue& q, const ClusterState& state,
                                  const Resources& r) {
  QueueCapacity c;
  bool uncapped = false;
  for (const auto& ce_name : q.compute_environments) {
    const auto* ce = state.environment(ce_name);
    if (!ce) continue;
    if (ce->max_vcpus == 0) uncapped = true;
    c.env_vcpu_cap = std::max(c.env_vcpu_cap, ce->max_vcpus);
    int fitting = 0;
    for (const auto& n : ce->nodes) {
      const Node* node = state.node(n);
      if (!node || node->topology.cores.empty()) continue;
      c.known = true;
      const auto& t = node->topology;
      c.max_vcpus = std::max(c.max_vcpus, t.pu_count());
      c.max_memory_mib = std::max(c.max_memory_mib, t.memory_mib);
      c.max_gpus = std::max(c.max_gpus, static_cast<int>(t.gpus.size()));
      if (r.vcpus <= t.pu_count() && r.memory_mib <= t.memory_mib &&
          r.gpus <= static_cast<int>(t.gpus.size()) &&
          (ce->max_vcpus == 0 || r.vcpus <= ce->max_vcpus)) {
        c.fits_one = true;
        ++fitting;
      }
    }
    c.fitting_nodes = std::max(c.fitting_nodes, fitting);
  }
  if (uncapped) c.env_vcpu_cap = 0;
  return c;
}

// Whether the queue's nodes could ever satisfy the job's node selection:
// listed nodes belong to the queue (one environment for a multi-node job),
// the constraint matches enough nodes, --exclude leaves enough. Nodes that
// never reported are taken to have any features (nothing is known of them).
static Status check_selection(const Job& job, const JobQueue& q, const ClusterState& state) {
  const NodeSelection& sel = *job.selection;
  const std::string in_queue = " queue '" + q.name + "'";
  std::vector<std::string> all;  // the queue's nodes
  for (const auto& ce_name : q.compute_environments)
    if (const auto* ce = state.environment(ce_name))
      for (const auto& n : ce->nodes)
        if (std::find(all.begin(), all.end(), n) == all.end()) all.push_back(n);
  auto listing = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s.empty() ? std::string("none") : s;
  };
  const std::string listed = join_features(sel.node_list);
  const std::string constraint = "--constraint=" + sel.constraint.text();
  for (const auto& n : sel.node_list) {
    if (std::find(all.begin(), all.end(), n) == all.end())
      return make_error("--nodelist=" + listed, "node " + n + " is not in" + in_queue + " (nodes: " + listing(all) + ")");
    const Node* node = state.node(n);
    if (!node) continue;
    if (!sel.constraint.empty() && !sel.constraint.matches(node->features()))
      return make_error("--nodelist=" + listed, "node " + n + " does not satisfy " + constraint + " (its features: " +
                                                    listing(node->features()) + ")");
    const NodeTopology& t = node->topology;
    if (!t.cores.empty() && (job.request.vcpus > t.pu_count() || job.request.memory_mib > t.memory_mib ||
                             job.request.gpus > static_cast<int>(t.gpus.size())))
      return make_error("--nodelist=" + listed, "node " + n + " has " + std::to_string(t.pu_count()) + " vCPUs, " +
                                                    std::to_string(t.memory_mib) + " MiB and " +
                                                    std::to_string(t.gpus.size()) + " GPUs; the job asks " +
                                                    std::to_string(job.request.vcpus) + ", " +
                                                    std::to_string(job.request.memory_mib) + " MiB and " +
                                                    std::to_string(job.request.gpus) + " on each node");
  }
  // Most nodes one environment offers the job (for some alternative of a
  // matching OR), listed nodes included.
  int best = 0;
  bool all_listed_in_one = sel.node_list.empty();
  for (const auto& ce_name : q.compute_environments) {
    const auto* ce = state.environment(ce_name);
    if (!ce) continue;
    int listed_here = 0;
    for (const auto& n : ce->nodes) listed_here += sel.required(n);
    all_listed_in_one |= listed_here == static_cast<int>(sel.node_list.size());
    for (int choice = sel.constraint.choices() > 0 ? 0 : -1; choice < sel.constraint.choices(); ++choice) {
      int fit = 0;
      for (const auto& n : ce->nodes) {
        const Node* node = state.node(n);
        fit += !node || sel.allows(n, node->features(), choice);
      }
      best = std::max(best, fit);
      if (choice < 0) break;
    }
  }
  if (!all_listed_in_one)
    return make_error("--nodelist=" + listed, "a job's nodes come from one compute environment, and no compute "
                                              "environment of" + in_queue + " has all of them");
  if (best >= job.nodes) return {};
  // Say what stands in the way: the constraint, or the exclusions.
  std::vector<std::string> features;
  int matching = 0;
  for (const auto& n : all) {
    const Node* node = state.node(n);
    if (node)
      for (const auto& f : node->features())
        if (std::find(features.begin(), features.end(), f) == features.end()) features.push_back(f);
    matching += !node || sel.constraint.matches(node->features());
  }
  std::sort(features.begin(), features.end());
  if (!sel.constraint.empty() && matching == 0)
    return make_error(constraint, "no node of" + in_queue + " has " +
                                      (sel.constraint.features().size() == 1 ? "feature " + sel.constraint.text()
                                                                             : "such features") +
                                      " (features: " + listing(features) + ")");
  if (!sel.exclude.empty() && matching > 0 && best == 0)
    return make_error("--exclude=" + join_features(sel.exclude), "leaves no node of" + in_queue + " for the job (nodes: " +
                                                                     listing(all) + ")");
  return make_error(sel.constraint.empty() ? "--exclude=" + join_features(sel.exclude) : constraint,
                    std::to_string(job.nodes) + " nodes asked, but only " + std::to_string(best) + " node" +
                        (best == 1 ? "" : "s") + " of" + in_queue + " (in one compute environment) " +
                        (best == 1 ? "qualifies" : "qualify") + " (features: " + listing(features) + ")");
}

// Why no node of the queue could ever hold `r` (cap.fits_one is false);
// `where` prefixes the field (a node group's).
static Status fit_error(const std::string& where, const Resources& r, const QueueCapacity& cap,
                        const std::string& queue) {
  const std::string in = " in queue '" + queue + "'";
  if (r.vcpus > cap.max_vcpus)
    return make_error(where + "vcpus", std::to_string(r.vcpus) + " asked, but the largest node" + in + " has " +
                                           std::to_string(cap.max_vcpus));
  if (cap.env_vcpu_cap > 0 && r.vcpus > cap.env_vcpu_cap)
    return make_error(where + "vcpus", std::to_string(r.vcpus) + " asked, but the compute environments" + in +
                                           " allow at most " + std::to_string(cap.env_vcpu_cap));
  if (r.memory_mib > cap.max_memory_mib)
    return make_error(where + "memory", std::to_string(r.memory_mib) + " MiB asked, but the largest node" + in +
                                            " has " + std::to_string(cap.max_memory_mib) + " MiB");
  if (r.gpus > cap.max_gpus)
    return make_error(where + "gpus", std::to_string(r.gpus) + " asked, but the node with most GPUs" + in +
                                          " has " + std::to_string(cap.max_gpus));
  return make_error(where.empty() ? std::string("resources") : where.substr(0, where.size() - 1),
                    "no single node" + in + " has enough vCPUs, memory and GPUs together");
}

// A job whose node groups ask different resources: every group fits some node
// of the queue, and one compute environment has a distinct node for each of
// the job's nodes (largest requests placed first, as the scheduler does).
static Status check_node_requests(const Job& job, const JobQueue& q, const ClusterState& state) {
  bool known = false;
  for (const auto& g : *job.node_requests) {
    const QueueCapacity cap = capacity_for(q, state, g.request);
    known |= cap.known;
    if (cap.known && !cap.fits_one)
      return fit_error("nodeProperties.nodeRangeProperties[targetNodes " + target_nodes(g.first, g.last) + "].",
                       g.request, cap, job.queue);
  }
  if (!known) return {};
  std::vector<Resources> want;  // one per node of the job, largest first
  for (const auto& g : *job.node_requests)
    for (int i = g.first; i <= g.last; ++i) want.push_back(g.request);
  std::stable_sort(want.begin(), want.end(), [](const Resources& a, const Resources& b) {
    return std::tie(a.gpus, a.vcpus, a.memory_mib) > std::tie(b.gpus, b.vcpus, b.memory_mib);
  });
  for (const auto& ce_name : q.compute_environments) {
    const auto* ce = state.environment(ce_name);
    if (!ce) continue;
    std::vector<const NodeTopology*> free;
    for (const auto& n : ce->nodes)
      if (const Node* node = state.node(n); node && !node->topology.cores.empty()) free.push_back(&node->topology);
    bool all = true;
    for (const Resources& r : want) {
      auto it = std::find_if(free.begin(), free.end(), [&](const NodeTopology* t) {
        return r.vcpus <= t->pu_count() && r.memory_mib <= t->memory_mib &&
               r.gpus <= static_cast<int>(t->gpus.size()) && (ce->max_vcpus == 0 || r.vcpus <= ce->max_vcpus);
      });
      if (it == free.end()) {
        all = false;
        break;
      }
      free.erase(it);
    }
    if (all) return {};
  }
  return make_error("nodeProperties.nodeRangeProperties",
                    std::to_string(job.nodes) + " nodes asked (" + describe_node_requests(job) + "), but no compute "
                    "environment of queue '" + job.queue + "' has a separate node for each of them");
}

// Whether job.queue exists, accepts jobs, and has a node that could ever run it.
static Status check_queue(const Job& job, const ClusterState& state) {
  const JobQueue* q = state.queue(job.queue);
  if (!q) {
    std::string known;
    for (const auto& [name, qq] : state.queues()) known += (known.empty() ? "" : ", ") + name;
    return make_error("jobQueue", "unknown queue '" + job.queue + "' (queues: " +
                                      (known.empty() ? "none" : known) + ")");
  }
  if (!q->enabled)
    return make_error("jobQueue", "queue '" + job.queue + "' is DISABLED and accepts no new jobs");
  if (q->max_time_limit_s > 0 && job.timeout_seconds > q->max_time_limit_s)
    return make_error("timeout.attemptDurationSeconds",
                      std::to_string(job.timeout_seconds) + " s asked, but queue '" + job.queue +
                          "' allows at most " + std::to_string(q->max_time_limit_s) + " s");
  if (q->max_vcpus_per_user > 0 && job.total_vcpus() > q->max_vcpus_per_user)
    return make_error("vcpus", std::to_string(job.total_vcpus()) + " asked, but queue '" + job.queue +
                                   "' allows at most " + std::to_string(q->max_vcpus_per_user) +
                                   " per user");
  if (job.mixed_nodes()) {
    if (auto s = check_node_requests(job, *q, state); !s) return s;
  } else {
    const QueueCapacity cap = capacity_for(*q, state, job.request);
    if (cap.known && !cap.fits_one) return fit_error("", job.request, cap, job.queue);
    if (cap.known && job.nodes > cap.fitting_nodes)
      return make_error("nodes", std::to_string(job.nodes) + " nodes asked, but queue '" + job.queue + "' has " +
                                     (cap.fitting_nodes == 0 ? std::string("no node")
                                                             : "only " + std::to_string(cap.fitting_nodes) +
                                                                   (cap.fitting_nodes == 1 ? " node" : " nodes")) +
                                     " (in one compute environment) with " + std::to_string(job.request.vcpus) +
                                     " vCPUs, " + std::to_string(job.request.memory_mib) + " MiB and " +
                                     std::to_string(job.request.gpus) + " GPUs each");
  }

  if (job.selection)
    if (auto s = check_selection(job, *q, state); !s) return s;

  return {};
}

namespace {
// AWS nodeRangeProperties' targetNodes ("0", "1:3", "2:", ":1") over a job of
// `nodes` nodes: in range, not overlapping, and every node in one group.
// `source[i]`: which of `asked` the i-th group (by first node) came from.
Result<std::vector<NodeGroup>> node_groups(const std::vector<NodeGroupRequest>& asked, int nodes,
                                           std::vector<std::size_t>& source) {
  const std::string field = "nodeProperties.nodeRangeProperties";
  if (nodes < 2) return make_error(field, "node groups need a multi-node job: set numNodes to 2 or more");
  std::vector<NodeGroup> groups;
  auto number = [](const std::string& s) -> int {
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), ::isdigit)) return -1;
    return std::stoi(s);
  };
  for (const auto& g : asked) {
    const std::string& t = g.target_nodes;
    const auto colon = t.find(':');
    NodeGroup out;
    if (colon == std::string::npos) {
      out.first = out.last = number(t);
    } else {
      const std::string a = t.substr(0, colon), b = t.substr(colon + 1);
      out.first = a.empty() ? 0 : number(a);
      out.last = b.empty() ? nodes - 1 : number(b);
    }
    if (out.first < 0 || out.last < 0)
      return make_error(field + ".targetNodes", "'" + t + "' is not a node range; give N, N:M, N: or :M (e.g. 0, 1:3)");
    if (out.first > out.last || out.last >= nodes)
      return make_error(field + ".targetNodes", "'" + t + "' is outside the job's nodes 0 to " +
                                                    std::to_string(nodes - 1));
    for (const auto& [k, v] : g.environment)
      if (k.empty() || k.find('=') != std::string::npos)
        return make_error(field + ".container.environment", "'" + k + "' is not a valid variable name");
    out.command = g.command;
    out.environment = g.environment;
    groups.push_back(std::move(out));
  }
  source.resize(groups.size());
  for (std::size_t i = 0; i < source.size(); ++i) source[i] = i;
  std::sort(source.begin(), source.end(), [&](std::size_t a, std::size_t b) { return groups[a].first < groups[b].first; });
  {
    std::vector<NodeGroup> sorted;
    for (std::size_t i : source) sorted.push_back(std::move(groups[i]));
    groups = std::move(sorted);
  }
  int next = 0;
  for (const auto& g : groups) {
    if (g.first < next)
      return make_error(field + ".targetNodes", "node " + std::to_string(g.first) + " is in two groups");
    if (g.first > next)
      return make_error(field + ".targetNodes", "node " + std::to_string(next) + " is in no group; every node of the "
                                                "job must be in one");
    next = g.last + 1;
  }
  if (next < nodes)
    return make_error(field + ".targetNodes", "node " + std::to_string(next) + " is in no group; every node of the "
                                              "job must be in one");
  return groups;
}
}  // namespace

// What dependsOn may name: jobs that exist (an array's task: one of its
// indexes), never the job itself; the per-task kinds only between arrays.
static Status validate_dependencies(const std::vector<Dependency>& deps, bool any, const Job& job,
                                    const ClusterState& state) {
  bool per_task_kind = false;
  for (const Dependency& d : deps) {
    const auto bad = [&](const std::string& why) { return make_error("dependsOn", to_string(d) + ": " + why); };
    const std::string id = std::to_string(d.job_id);
    if (d.minutes < 0 || d.minutes > kMaxDependencyMinutes)
      return bad(std::to_string(d.minutes) + " minutes is out of range; give 0 to " +
                 std::to_string(kMaxDependencyMinutes));
    if (d.minutes && d.type != DependencyType::After) return bad("+MINUTES goes with after only, as in after:42+10");
    if (!names_job(d.type)) {
      if (d.job_id != 0 || d.array_index >= 0) return bad(std::string(to_string(d.type)) + " names no job");
      if (d.type == DependencyType::Sequential) {
        per_task_kind = true;
        if (!job.array) return bad("SEQUENTIAL is for array jobs: each task waits for the one before it");
      }
      continue;
    }
    if (d.job_id == job.id) return bad("a job cannot depend on itself");
    const Job* t = state.job(d.job_id);
    if (!t) return bad("unknown job " + id);
    if (d.type == DependencyType::AfterCorr) {
      per_task_kind = true;
      if (d.array_index >= 0)
        return bad("aftercorr names a whole array (its tasks are matched by index), not one task");
      if (!job.array)
        return bad("aftercorr (N_TO_N) is for array jobs: each task waits for the task with its index in job " +
                   id + "; this job is not an array (use afterok:" + id + ")");
      if (t->array_parent)
        return bad("job " + id + " is task " + std::to_string(t->array_index) + " of array " +
                   std::to_string(t->array_parent) + "; aftercorr names the array");
      if (!t->array)
        return bad("job " + id + " is not an array; aftercorr matches the tasks of two arrays by index (use afterok:" +
                   id + ")");
    }
    if (d.array_index >= 0) {
      if (!t->array) return bad("job " + id + " is not an array, so " + target_name(d) + " names no task");
      if (t->array->indexes.position_of(d.array_index) < 0)
        return bad("array " + id + " has no task " + std::to_string(d.array_index) + " (its indexes: " +
                   t->array->indexes.to_string() + ")");
    }
  }
  if (per_task_kind && any)
    return make_error("dependsOn", "aftercorr (N_TO_N) and SEQUENTIAL decide each task on its own and cannot be "
                                   "joined with '?' (any of); join them with ',' (all of)");
  return {};
}

Status validate_dependency_update(const Job& job, const std::vector<Dependency>& deps, bool any,
                                  const ClusterState& state) {
  if (auto s = validate_dependencies(deps, any, job, state); !s) return s;
  // A new job can only name older ones; a changed one could close a loop. Walk
  // what the named jobs wait for (an array's task: its array's dependencies).
  std::vector<std::int64_t> todo;
  std::unordered_set<std::int64_t> seen;
  auto visit = [&](std::int64_t id) {
    const Job* t = state.job(id);
    if (t && t->array_parent) id = t->array_parent;
    if (seen.insert(id).second) todo.push_back(id);
  };
  for (const Dependency& d : deps)
    if (names_job(d.type)) visit(d.job_id);
  while (!todo.empty()) {
    const std::int64_t id = todo.back();
    todo.pop_back();
    if (id == job.id) {
      for (const Dependency& d : deps) {
        if (!names_job(d.type)) continue;
        const Job* t = state.job(d.job_id);
        const std::int64_t top = t && t->array_parent ? t->array_parent : d.job_id;
        if (top == job.id) return make_error("dependsOn", to_string(d) + ": a job cannot depend on itself");
      }
      return make_error("dependsOn", "this would make a cycle: a job named there waits, directly or not, for job " +
                                         std::to_string(job.id));
    }
    const Job* t = state.job(id);
    if (!t || is_terminal(t->state)) continue;  // an ended job waits for nothing
    for (const Dependency& d : t->depends_on)
      if (names_job(d.type)) visit(d.job_id);
  }
  return {};
}

// Node selection as asked (nodeSelection): parsed and checked on its own; what
// the queue's nodes can satisfy is check_selection's business.
static Status select_nodes(const JobRequest& req, Job& job) {
  if (req.constraint.empty() && req.node_list.empty() && req.exclude.empty() && !req.exclusive) return {};
  NodeSelection sel;
  if (!req.constraint.empty()) {
    auto c = parse_constraint(req.constraint);
    if (!c) return make_error("--constraint", c.message());
    sel.constraint = std::move(*c);
  }
  auto names = [](const char* option, std::vector<std::string> v) -> Result<std::vector<std::string>> {
    for (const auto& n : v)
      if (auto s = validate_name(option, n); !s) return s.error();
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  auto list = names("--nodelist", req.node_list);
  if (!list) return list.error();
  auto exclude = names("--exclude", req.exclude);
  if (!exclude) return exclude.error();
  sel.node_list = std::move(*list);
  sel.exclude = std::move(*exclude);
  for (const auto& n : sel.node_list)
    if (sel.excluded(n)) return make_error("--nodelist", "node " + n + " is also in --exclude");
  sel.exclusive = req.exclusive;
  const auto listed = static_cast<int>(sel.node_list.size());
  if (req.nodes && *req.nodes < listed)
    return make_error("--nodelist", std::to_string(listed) + " nodes listed, but the job asks for " +
                                        std::to_string(*req.nodes) + (*req.nodes == 1 ? " node" : " nodes") +
                                        " (--nodes); it gets every listed node, so ask for at least " +
                                        std::to_string(listed) + ", or list fewer");
  if (!req.nodes && listed > 1) {
    if (!req.array.empty())
      return make_error("--nodelist", "an array's tasks run on one node each, so each task would need all " +
                                          std::to_string(listed) + " listed nodes; list one node");
    job.nodes = listed;  // as sbatch: the job gets every listed node
  }
  job.selection = Boxed<NodeSelection>(std::move(sel));
  return {};
}

Result<NewJob> make_job(const JobRequest& req, const Submitter& who, const ClusterState& state,
                        const std::string& default_queue, std::int64_t id, std::int64_t now) {
  NewJob out;
  Job& job = out.job;
  job.id = id;
  job.uid = who.uid;
  job.gid = who.gid;
  job.user = who.user;
  job.created_at = now;

  // The definition supplies defaults; the request overrides them.
  const JobDefinition* def = nullptr;
  if (!req.definition.empty()) {
    std::string name = req.definition;
    int rev = 0;
    if (auto colon = name.rfind(':'); colon != std::string::npos) {
      const std::string r = name.substr(colon + 1);
      name.resize(colon);
      if (r.empty() || r.size() > 9 || !std::all_of(r.begin(), r.end(), ::isdigit) ||
          std::stoi(r) < 1)
        return make_error("jobDefinition", "'" + req.definition +
                                               "': the revision after ':' must be a number from 1");
      rev = std::stoi(r);
    }
    def = state.definition(name, rev);
    if (!def && rev == 0 && state.definitions().count(name))
      return make_error("jobDefinition", "'" + req.definition +
                                             "' was deregistered: no revision is ACTIVE");
    if (!def)
      return make_error("jobDefinition", "unknown job definition '" + req.definition +
                                             "' (see: drover definitions list)");
    if (!def->active)
      return make_error("jobDefinition", "'" + req.definition + "' was deregistered");
    if (def->type == DefinitionType::Multinode)
      return make_error("jobDefinition", "'" + req.definition +
                                             "' is a multinode definition; multi-node jobs are "
                                             "not supported yet");
    job.definition = def->name;
    job.definition_revision = def->revision;
    job.request = def->resources;
    job.timeout_seconds = def->timeout_seconds;
    job.priority = def->scheduling_priority;
    job.retry = def->retry;
    job.parameters = def->parameters;
    job.tags = def->tags;
    out.payload.environment = def->environment;
  }
  for (const auto& [k, v] : req.parameters) set_value(job.parameters, k, v);
  for (const auto& [k, v] : req.tags) set_value(job.tags, k, v);

  job.name = req.name.empty() ? (def ? def->name : std::string("job")) : req.name;
  if (auto s = validate_name("jobName", job.name); !s) return s.error();

  if (req.vcpus) job.request.vcpus = *req.vcpus;
  if (req.memory_mib) job.request.memory_mib = *req.memory_mib;
  if (req.gpus) job.request.gpus = *req.gpus;
  if (req.nodes) {
    if (*req.nodes < 1 || *req.nodes > kMaxNodes)
      return make_error("nodeProperties.numNodes", std::to_string(*req.nodes) + " is out of range; give 1 to " +
                                                       std::to_string(kMaxNodes));
    if (*req.nodes > 1 && !req.array.empty())
      return make_error("nodeProperties.numNodes",
                        "an array job's tasks run on one node each; multi-node array jobs are not supported "
                        "(submit the array with one node per task, or one multi-node job per case)");
    job.nodes = *req.nodes;
  }
  if (auto s = select_nodes(req, job); !s) return s.error();
  if (req.main_node && *req.main_node != 0)
    return make_error("nodeProperties.mainNode", std::to_string(*req.main_node) +
                                                     ": Drover runs the main command on node 0; give 0 or leave it out");
  std::vector<std::string> main_command = req.command;
  if (!req.node_groups.empty()) {
    std::vector<std::size_t> source;
    auto groups = node_groups(req.node_groups, job.nodes, source);
    if (!groups) return groups.error();
    // Groups may ask their own resources (as AWS jobs do); what a group leaves
    // out is the job's. Jobs whose groups all ask the same keep one request.
    std::vector<NodeRequest> asked;
    for (std::size_t i = 0; i < groups->size(); ++i) {
      const NodeGroup& g = (*groups)[i];
      const NodeGroupRequest* from = &req.node_groups[source[i]];
      Resources r = job.request;
      if (from && from->vcpus) r.vcpus = *from->vcpus;
      if (from && from->memory_mib) r.memory_mib = *from->memory_mib;
      if (from && from->gpus) r.gpus = *from->gpus;
      if (auto s = validate_resources(field_of_group(g), r); !s) return s.error();
      asked.push_back({g.first, g.last, r});
    }
    const bool differ = std::any_of(asked.begin(), asked.end(),
                                    [&](const NodeRequest& n) { return !(n.request == asked.front().request); });
    job.request = asked.front().request;
    if (differ) {
      if (job.selection && !job.selection->node_list.empty())
        return make_error("--nodelist", "node groups that ask different resources cannot name their nodes yet; "
                                        "use --constraint or --exclude, or give every group the same resources");
      // Neighbouring groups that ask the same are one range.
      std::vector<NodeRequest> merged;
      for (const auto& n : asked)
        if (!merged.empty() && merged.back().request == n.request && merged.back().last + 1 == n.first)
          merged.back().last = n.last;
        else
          merged.push_back(n);
      job.node_requests = Boxed<std::vector<NodeRequest>>(std::move(merged));
    }
    const NodeGroup* main_group = nullptr;
    for (const auto& g : *groups)
      if (g.first == 0) main_group = &g;
    if (main_group && !main_group->command.empty()) {
      if (!req.script.empty())
        return make_error("nodeProperties.nodeRangeProperties",
                          "the group of node 0 has a command, and the job has a script: give one of them");
      main_command = main_group->command;
    }
    out.payload.node_groups = std::move(*groups);
  }
  if (req.ntasks) {
    if (*req.ntasks < 1) return make_error("ntasks", std::to_string(*req.ntasks) + " is not allowed: at least 1");
    if (*req.ntasks > job.total_vcpus())
      return make_error("ntasks", std::to_string(*req.ntasks) + " tasks need at least as many vCPUs, but " +
                                      std::to_string(job.total_vcpus()) + " were asked" +
                                      (job.mixed_nodes() ? " (" + describe_node_requests(job) + ")"
                                       : job.nodes > 1   ? " (" + std::to_string(job.request.vcpus) + " on each of " +
                                                           std::to_string(job.nodes) + " nodes)"
                                                         : std::string()));
    if (*req.ntasks < job.nodes)
      return make_error("ntasks", std::to_string(*req.ntasks) + " tasks cannot fill " + std::to_string(job.nodes) +
                                      " nodes: give at least one task per node");
    job.ntasks = *req.ntasks;
  } else if (job.nodes > 1) {
    job.ntasks = job.nodes;  // one task per node, as sbatch -N without -n
  }
  if (req.timeout_seconds) job.timeout_seconds = *req.timeout_seconds;
  if (req.retry) job.retry = *req.retry;
  if (auto s = validate_resources("", job.request); !s) return s.error();
  if (auto s = validate_retry("", job.retry); !s) return s.error();
  if (auto s = validate_timeout("", job.timeout_seconds); !s) return s.error();

  // What runs: a script, a command, or the definition's command.
  if (!req.script.empty()) {
    if (req.script.rfind("#!", 0) != 0)
      return make_error("script", "the first line must start with #! and an interpreter, "
                                  "e.g. #!/bin/bash");
    out.payload.script = req.script;
    out.payload.command = req.command;  // the script's arguments
  } else if (!main_command.empty()) {
    out.payload.command = substitute_parameters(main_command, job.parameters);
  } else if (def && !def->command.empty()) {
    out.payload.command = substitute_parameters(def->command, job.parameters);
  } else {
    return make_error("command", "nothing to run: give a script, --wrap \"cmd\", -- cmd args, "
                                 "or a job definition with a command");
  }
  for (const auto& [k, v] : req.environment) {
    if (k.empty() || k.find('=') != std::string::npos)
      return make_error("environment", "'" + k + "' is not a valid variable name");
    set_value(out.payload.environment, k, v);
  }

  if (req.working_dir.empty() || req.working_dir[0] != '/')
    return make_error("workingDirectory", "'" + req.working_dir + "' must be an absolute path");
  job.working_dir = req.working_dir;
  if (req.priority) {
    if (*req.priority < 0 || *req.priority > kMaxSchedulingPriority)
      return make_error("schedulingPriority", std::to_string(*req.priority) + " is out of range; give 0 to " +
                                                  std::to_string(kMaxSchedulingPriority) + " (higher runs first)");
    job.priority = *req.priority;
  }
  if (req.nice < -kMaxNice || req.nice > kMaxNice)
    return make_error("nice", std::to_string(req.nice) + " is out of range; give -" + std::to_string(kMaxNice) +
                                  " to " + std::to_string(kMaxNice) + " (higher waits longer)");
  if (req.nice < 0 && !who.admin)
    return make_error("nice", std::to_string(req.nice) +
                                  ": only root or the admin may raise a job's priority with a negative nice");
  job.nice = req.nice;
  const std::string& share = !req.share_identifier.empty() ? req.share_identifier : req.account;
  if (!share.empty()) {
    if (auto s = validate_name(!req.share_identifier.empty() ? "shareIdentifier" : "account", share); !s)
      return s.error();
    job.share = share;
  }
  if (!req.array.empty()) {
    auto indexes = ArrayIndexes::make(req.array);
    if (!indexes) return indexes.error();
    if (req.array_max_running < 0 || req.array_max_running > kMaxArrayTasks)
      return make_error("arrayProperties.maxRunning",
                        std::to_string(req.array_max_running) + " is out of range; give 1 to " +
                            std::to_string(kMaxArrayTasks) + ", or leave it out for no limit");
    ArrayInfo info;
    info.pending.insert(0, indexes->size());
    info.indexes = std::move(*indexes);
    info.max_running = req.array_max_running;
    job.array = Boxed<ArrayInfo>(std::move(info));
  } else if (req.array_max_running != 0) {
    return make_error("arrayProperties.maxRunning", "a throttle needs an array, e.g. --array=0-99%10");
  }
  job.stdout_path = !req.stdout_path.empty() ? req.stdout_path
                    : job.array              ? kDefaultArrayOutputPattern
                                             : kDefaultOutputPattern;
  job.stderr_path = req.stderr_path;
  job.append_output = req.append_output;
  job.slurm_env = req.slurm_env;
  job.held = req.held;
  if (req.begin_at > now) {
    if (req.begin_at - now > kMaxBeginAheadMs)
      return make_error("beginAt", "more than a year ahead; give a time within the next 366 days");
    job.begin_s = static_cast<std::uint32_t>((req.begin_at + 999) / 1000);  // never early
  }
  out.payload.submit_options = req.submit_options;
  if (req.checkpoint_signal < 0 || req.checkpoint_signal > 64)
    return make_error("checkpoint.signal", std::to_string(req.checkpoint_signal) + " is not a signal number (1 to 64)");
  if (req.checkpoint_seconds < 0 || req.checkpoint_seconds > 65535)
    return make_error("checkpoint.secondsBefore",
                      std::to_string(req.checkpoint_seconds) + " is out of range; give 0 to 65535");
  job.checkpoint_signal = static_cast<std::uint8_t>(req.checkpoint_signal);
  job.checkpoint_seconds = req.checkpoint_signal ? req.checkpoint_seconds : 0;
  job.checkpoint_signal_batch_only = req.checkpoint_signal && req.checkpoint_batch_only;
  out.payload.checkpoint_dir = req.checkpoint_dir;
  if (req.requeue) job.requeue = *req.requeue ? 1 : 0;
  if (req.kill_on_invalid_dep) job.kill_on_invalid_dep = *req.kill_on_invalid_dep ? 1 : 0;
  job.distribution = req.distribution.pack();

  // Queue: the first of the given queues (sbatch's comma list of partitions) that
  // exists, accepts jobs and has a node that could ever run this one.
  const std::string queues = req.queue.empty() ? default_queue : req.queue;
  if (queues.empty()) return make_error("jobQueue", "no queue given and no default queue is set");
  Status queue_ok = make_error("jobQueue", "no queue given");
  std::size_t from = 0;
  while (from <= queues.size()) {
    const std::size_t comma = std::min(queues.find(',', from), queues.size());
    job.queue = queues.substr(from, comma - from);
    from = comma + 1;
    if (job.queue.empty()) continue;
    queue_ok = check_queue(job, state);
    if (queue_ok) break;
  }
  if (!queue_ok) return queue_ok.error();
  if (job.timeout_seconds == 0) {
    const JobQueue* q = state.queue(job.queue);
    job.timeout_seconds = q->default_time_limit_s > 0 ? q->default_time_limit_s : q->max_time_limit_s;
  }
  if (req.time_min_seconds != 0) {
    // Whole minutes, rounded up (never shorter than asked), as Slurm keeps it.
    constexpr std::int64_t kMaxMinutes = UINT16_MAX;
    if (req.time_min_seconds < 0 || req.time_min_seconds > kMaxMinutes * 60)
      return make_error("timeMinSeconds", std::to_string(req.time_min_seconds) +
                                              " is out of range; give 1 second to 45 days (e.g. 30:00)");
    const std::int64_t minutes = (req.time_min_seconds + 59) / 60;
    // Without a limit (UNLIMITED) the job may still be started with a finite one.
    if (job.timeout_seconds > 0 && minutes * 60 > job.timeout_seconds)
      return make_error("timeMinSeconds", std::to_string(minutes) + " min is longer than the time limit (" +
                                              std::to_string(job.timeout_seconds) + " s); give at most the limit");
    job.time_min_minutes = static_cast<std::uint16_t>(minutes);
  }

  if (auto s = validate_dependencies(req.depends_on, req.depends_any, job, state); !s) return s.error();
  job.depends_on = req.depends_on;
  job.depends_any = req.depends_any && !req.depends_on.empty();
  return out;
}

}  // namespace drover
