#include "core/job_environment.hpp"

#include <algorithm>
#include <climits>
#include <iterator>
#include <string_view>
#include <unordered_map>

#include "core/hostlist.hpp"

namespace drover {

namespace {
std::string join(const std::vector<int>& v, char sep = ',') {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(v[i]);
  }
  return s;
}
}  // namespace

std::vector<int> tasks_per_node(const Job& job) {
  const int n = std::max(1, job.nodes);
  std::vector<int> v(static_cast<std::size_t>(n), job.ntasks / n);
  for (int i = 0; i < job.ntasks % n; ++i) ++v[static_cast<std::size_t>(i)];
  if (!job.mixed_nodes()) return v;
  // Nodes that ask different vCPUs: no node gets more tasks than its vCPUs;
  // what they cannot take goes, one by one, to the next nodes with room.
  int left = 0;
  for (int i = 0; i < n; ++i) {
    const int room = job.request_on(i).vcpus;
    auto& t = v[static_cast<std::size_t>(i)];
    if (t > room) left += t - room, t = room;
  }
  for (bool moved = true; left > 0 && moved;) {
    moved = false;
    for (int i = 0; i < n && left > 0; ++i) {
      auto& t = v[static_cast<std::size_t>(i)];
      if (t < job.request_on(i).vcpus) ++t, --left, moved = true;
    }
  }
  return v;
}

std::string mpi_hostfile(const Job& job) {
  const Attempt* a = job.current_attempt();
  if (!a) return {};
  const auto tasks = tasks_per_node(job);
  const auto nodes = attempt_nodes(*a);
  std::string out;
  for (std::size_t i = 0; i < nodes.size(); ++i)
    out += nodes[i] + " slots=" + std::to_string(i < tasks.size() ? tasks[i] : 1) + "\n";
  return out;
}

std::vector<int> rank_nodes(const Job& job) {
  const auto counts = tasks_per_node(job);
  std::vector<int> out;
  out.reserve(static_cast<std::size_t>(std::max(0, job.ntasks)));
  if (job.task_distribution().nodes == NodeDistribution::Block) {
    for (std::size_t n = 0; n < counts.size(); ++n) out.insert(out.end(), static_cast<std::size_t>(counts[n]), static_cast<int>(n));
    return out;
  }
  auto left = counts;
  for (bool placed = true; placed;) {
    placed = false;
    for (std::size_t n = 0; n < left.size(); ++n) {
      if (left[n] == 0) continue;
      --left[n];
      out.push_back(static_cast<int>(n));
      placed = true;
    }
  }
  return out;
}

int cpus_per_task(const Job& job) {
  const auto counts = tasks_per_node(job);
  if (job.mixed_nodes()) {
    // The fewest any node's tasks get, so that every node's tasks can have it.
    int fewest = INT32_MAX;
    for (std::size_t i = 0; i < counts.size(); ++i)
      if (counts[i] > 0) fewest = std::min(fewest, job.request_on(static_cast<int>(i)).vcpus / counts[i]);
    return std::max(1, fewest == INT32_MAX ? 1 : fewest);
  }
  const int most = std::max(1, *std::max_element(counts.begin(), counts.end()));
  return std::max(1, job.request.vcpus / most);
}

int gpus_per_task(const Job& job) {
  if (job.mixed_nodes()) {
    // One share for all nodes, when every node's GPUs split evenly into it.
    const auto counts = tasks_per_node(job);
    int share = -1;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] == 0) continue;
      const int g = job.request_on(static_cast<int>(i)).gpus;
      if (g % counts[i] != 0 || (share >= 0 && g / counts[i] != share)) return 0;
      share = g / counts[i];
    }
    return std::max(0, share);
  }
  if (job.request.gpus <= 0) return 0;
  for (int n : tasks_per_node(job))
    if (n > 0 && job.request.gpus % n != 0) return 0;
  const auto counts = tasks_per_node(job);
  const int most = std::max(1, *std::max_element(counts.begin(), counts.end()));
  return job.request.gpus / most;
}

int cpus_per_task_on(const Job& job, int node) {
  if (!job.mixed_nodes()) return cpus_per_task(job);
  const auto counts = tasks_per_node(job);
  const auto k = static_cast<std::size_t>(node);
  if (k >= counts.size() || counts[k] == 0) return 1;
  return std::max(1, job.request_on(node).vcpus / counts[k]);
}

int gpus_per_task_on(const Job& job, int node) {
  if (!job.mixed_nodes()) return gpus_per_task(job);
  const auto counts = tasks_per_node(job);
  const auto k = static_cast<std::size_t>(node);
  if (k >= counts.size() || counts[k] == 0) return 0;
  const int g = job.request_on(node).gpus;
  return g % counts[k] == 0 ? g / counts[k] : 0;
}

std::string mpi_rankfile(const Job& job, const std::vector<std::vector<std::vector<int>>>& task_cpus) {
  const Attempt* a = job.current_attempt();
  if (!a) return {};
  const auto nodes = attempt_nodes(*a);
  const auto counts = tasks_per_node(job);
  if (task_cpus.size() != nodes.size() || counts.size() != nodes.size()) return {};
  for (std::size_t n = 0; n < nodes.size(); ++n)
    if (task_cpus[n].size() != static_cast<std::size_t>(counts[n])) return {};
  std::vector<std::size_t> next(nodes.size(), 0);
  std::string out;
  int rank = 0;
  for (int n : rank_nodes(job)) {
    const auto k = static_cast<std::size_t>(n);
    const auto& cpus = task_cpus[k][next[k]++];
    if (cpus.empty()) return {};
    // One node: "localhost", which mpirun always takes for itself; a node name
    // that is not the host's own (a node "n1" on host "vm") would send it to ssh.
    out += "rank " + std::to_string(rank++) + "=" + (nodes.size() == 1 ? std::string("localhost") : nodes[k]) +
           " slot=" + join(cpus) + "\n";
  }
  return out;
}

std::string checkpoint_directory(const Job& job, const JobPayload& payload) {
  const std::string& pattern = payload.checkpoint_dir.empty() ? kDefaultCheckpointPattern : payload.checkpoint_dir;
  const Attempt* a = job.current_attempt();
  std::string dir = expand_output_pattern(pattern, job, a ? a->node : "");
  if (dir.empty() || dir[0] != '/') dir = job.working_dir + "/" + dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

namespace {
// The submitter's variables that name GPUs: never passed on (base_environment);
// the job's own are set by job_variables.
constexpr const char* kGpuVariables[] = {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK",
                                         "DROVER_GPUS",          "DROVER_TASK_GPUS",     "SLURM_GPUS_ON_NODE",
                                         "GPU_DEVICE_ORDINAL",   "HIP_VISIBLE_DEVICES"};
}  // namespace

KeyValues base_environment(const JobPayload& payload) {
  KeyValues env;
  env.reserve(payload.environment.size());
  for (const auto& kv : payload.environment)
    if (std::none_of(std::begin(kGpuVariables), std::end(kGpuVariables), [&](const char* g) { return kv.first == g; }))
      env.push_back(kv);
  return env;
}

void set_over(KeyValues& env, const KeyValues& vars) {
  if (vars.size() < 8) {
    for (const auto& [k, v] : vars) set_value(env, k, v);
    return;
  }
  // Room first: the index holds views of the names inside env's elements.
  env.reserve(env.size() + vars.size());
  std::unordered_map<std::string_view, std::size_t> at;
  at.reserve(env.size() + vars.size());
  for (std::size_t i = 0; i < env.size(); ++i) at.emplace(env[i].first, i);  // the first of a name, as set_value
  for (const auto& [k, v] : vars) {
    if (auto it = at.find(k); it != at.end()) {
      env[it->second].second = v;
    } else {
      env.emplace_back(k, v);
      at.emplace(env.back().first, env.size() - 1);
    }
  }
}

KeyValues job_environment(const Job& job, const JobPayload& payload, const LaunchContext& ctx) {
  KeyValues env = base_environment(payload);
  set_over(env, job_variables(job, payload, ctx));
  return env;
}

KeyValues job_variables(const Job& job, const JobPayload& payload, const LaunchContext& ctx) {
  KeyValues env;
  env.reserve(80);
  const Attempt* a = job.current_attempt();
  const std::string id = std::to_string(job.id);
  const std::string attempt = std::to_string(job.attempts.size());
  // This node's part of a multi-node attempt (the main node's for index 0).
  const auto k = static_cast<std::size_t>(std::max(0, ctx.node_index));
  const bool other = a && k > 0 && k <= a->more_nodes.size();
  const std::vector<int>* cpus = a ? (other ? &a->more_nodes[k - 1].cpus : &a->cpus) : nullptr;
  const std::vector<int>* gpus = a ? (other ? &a->more_nodes[k - 1].gpus : &a->gpus) : nullptr;
  const std::string node = other ? a->more_nodes[k - 1].node : ctx.node;
  // The attempt's nodes, main node first; SLURM_*NODELIST in hostlist form ("n[1-4]"),
  // in that order (mpirun pairs SLURM_NODELIST with SLURM_TASKS_PER_NODE).
  std::vector<std::string> node_names{ctx.node};
  if (a && !a->more_nodes.empty()) {
    node_names = {a->node};
    for (const auto& sl : a->more_nodes) node_names.push_back(sl.node);
  }
  std::string nodelist;
  for (const auto& n : node_names) nodelist += (nodelist.empty() ? "" : ",") + n;
  const std::string slurm_nodelist = compress_hostlist_in_order(node_names);
  const std::string num_nodes = std::to_string(a ? a->more_nodes.size() + 1 : 1);
  const std::string node_index = std::to_string(other ? k : 0);
  const auto per_node = tasks_per_node(job);
  const std::string ncpus = std::to_string(cpus ? cpus->size() : job.request_on(static_cast<int>(k)).vcpus);
  auto set = [&](const char* k, const std::string& v) { env.emplace_back(k, v); };

  set("DROVER_JOB_ID", id);
  set("DROVER_JOB_NAME", job.name);
  set("DROVER_JOB_ATTEMPT", attempt);
  set("DROVER_QUEUE", job.queue);
  set("DROVER_COMPUTE_ENVIRONMENT", ctx.compute_environment);
  set("DROVER_NODELIST", nodelist);
  set("DROVER_NODE_NAME", node);
  set("DROVER_NODE_INDEX", node_index);
  set("DROVER_NUM_NODES", num_nodes);
  set("DROVER_MAIN_NODE", a ? a->node : ctx.node);
  set("DROVER_CPUS", ncpus);
  const std::string ntasks = std::to_string(job.ntasks);
  const std::string cpus_per_task = std::to_string(drover::cpus_per_task(job));
  set("DROVER_NTASKS", ntasks);
  set("DROVER_CPUS_PER_TASK", cpus_per_task);
  set("DROVER_SUBMIT_DIR", job.working_dir);
  if (cpus) set("DROVER_CPU_LIST", join(*cpus));
  // Checkpoints (docs/CHECKPOINT.md): the same directory for every attempt;
  // DROVER_RESTART says an earlier attempt ran (the job may resume).
  set("DROVER_CHECKPOINT_DIR", checkpoint_directory(job, payload));
  set("DROVER_ATTEMPT", attempt);
  set("DROVER_RESTART", job.attempts.size() > 1 ? "1" : "0");
  if (job.checkpoints()) set("DROVER_CHECKPOINT_SIGNAL", std::to_string(job.checkpoint_signal));

  const bool task = job.array_parent != 0 && ctx.array;
  const std::string array_id = std::to_string(job.array_parent);
  const std::string index = std::to_string(job.array_index);
  const std::string size = task ? std::to_string(ctx.array->size()) : "";
  if (task) {
    set("DROVER_ARRAY_JOB_ID", array_id);
    set("DROVER_ARRAY_INDEX", index);
    set("DROVER_ARRAY_SIZE", size);
  }

  // AWS Batch names a child "parent:index".
  set("AWS_BATCH_JOB_ID", task ? array_id + ":" + index : id);
  if (task) {
    set("AWS_BATCH_JOB_ARRAY_INDEX", index);
    set("AWS_BATCH_JOB_ARRAY_SIZE", size);
  }
  set("AWS_BATCH_JOB_ATTEMPT", attempt);
  set("AWS_BATCH_JQ_NAME", job.queue);
  set("AWS_BATCH_CE_NAME", ctx.compute_environment);
  if (job.nodes > 1) {
    set("AWS_BATCH_JOB_NUM_NODES", num_nodes);
    set("AWS_BATCH_JOB_NODE_INDEX", node_index);
    set("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0");
  }

  if (ctx.slurm_names) {
    set("SLURM_JOB_ID", id);
    set("SLURM_JOBID", id);
    set("SLURM_JOB_NAME", job.name);
    if (task) {
      set("SLURM_ARRAY_JOB_ID", array_id);
      set("SLURM_ARRAY_TASK_ID", index);
      set("SLURM_ARRAY_TASK_MIN", std::to_string(ctx.array->min()));
      set("SLURM_ARRAY_TASK_MAX", std::to_string(ctx.array->max()));
      set("SLURM_ARRAY_TASK_STEP", std::to_string(ctx.array->step()));
      set("SLURM_ARRAY_TASK_COUNT", size);
    }
    set("SLURM_JOB_NODELIST", slurm_nodelist);
    set("SLURM_NODELIST", slurm_nodelist);
    set("SLURM_NNODES", num_nodes);
    set("SLURM_JOB_NUM_NODES", num_nodes);
    set("SLURMD_NODENAME", node);
    set("SLURM_NTASKS", ntasks);
    set("SLURM_NPROCS", ntasks);
    set("SLURM_CPUS_PER_TASK", cpus_per_task);
    // Open MPI's mpirun reads SLURM_NODELIST and SLURM_TASKS_PER_NODE to size its
    // allocation when SLURM_JOB_ID is set; without the latter it refuses to start.
    set("SLURM_TASKS_PER_NODE", format_tasks_per_node(per_node));
    set("SLURM_DISTRIBUTION", to_string(job.task_distribution()));
    set("SLURM_NTASKS_PER_NODE", std::to_string(per_node[std::min(k, per_node.size() - 1)]));
    set("SLURM_CPUS_ON_NODE", ncpus);
    if (job.mixed_nodes()) {
      // Each node's own count, in node order ("4,1(x2)").
      std::vector<int> counts;
      for (std::size_t i = 0; i < per_node.size(); ++i) {
        const std::vector<int>* c = !a ? nullptr : i == 0 ? &a->cpus : i <= a->more_nodes.size() ? &a->more_nodes[i - 1].cpus : nullptr;
        counts.push_back(c ? static_cast<int>(c->size()) : job.request_on(static_cast<int>(i)).vcpus);
      }
      set("SLURM_JOB_CPUS_PER_NODE", format_tasks_per_node(counts));
    } else {
      set("SLURM_JOB_CPUS_PER_NODE", format_tasks_per_node(std::vector<int>(per_node.size(), std::stoi(ncpus))));
    }
    set("SLURM_SUBMIT_DIR", job.working_dir);
    if (!ctx.submit_host.empty()) set("SLURM_SUBMIT_HOST", ctx.submit_host);
    set("SLURM_JOB_PARTITION", job.queue);
    set("SLURM_RESTART_COUNT", std::to_string(job.attempts.empty() ? 0 : job.attempts.size() - 1));
    set("SLURM_NODEID", node_index);
    set("SLURM_PROCID", "0");
    set("SLURM_LOCALID", "0");
    const std::int64_t mem = job.request_on(static_cast<int>(k)).memory_mib;
    if (mem > 0) set("SLURM_MEM_PER_NODE", std::to_string(mem));
  }

  // The submitter's GPU variables (carried by --export=ALL) name GPUs this job
  // does not hold (base_environment drops them): a job sees only its own, and
  // without any, none.
  if (gpus && !gpus->empty()) {
    std::string gpu_list = join(*gpus);
    // Each task its own GPUs: the list in task order, and each task's apart.
    if (ctx.task_gpus && !ctx.task_gpus->empty()) {
      std::vector<int> in_task_order;
      std::string per_task;
      for (const auto& t : *ctx.task_gpus) {
        in_task_order.insert(in_task_order.end(), t.begin(), t.end());
        per_task += (per_task.empty() ? "" : ";") + join(t);
      }
      std::vector<int> sorted = in_task_order, mine = *gpus;
      std::sort(sorted.begin(), sorted.end());
      std::sort(mine.begin(), mine.end());
      const bool each_has_some = std::none_of(ctx.task_gpus->begin(), ctx.task_gpus->end(),
                                              [](const auto& t) { return t.empty(); });
      if (each_has_some && sorted == mine) {  // every GPU of the node to exactly one task
        gpu_list = join(in_task_order);
        set("DROVER_TASK_GPUS", per_task);
      }
    }
    set("CUDA_DEVICE_ORDER", "PCI_BUS_ID");  // our GPU indexes follow PCI bus order
    set("CUDA_VISIBLE_DEVICES", gpu_list);
    set("ROCR_VISIBLE_DEVICES", gpu_list);
    set("ZE_AFFINITY_MASK", gpu_list);
    set("DROVER_GPUS", gpu_list);
    if (ctx.slurm_names) set("SLURM_GPUS_ON_NODE", std::to_string(gpus->size()));
  }
  return env;
}

}  // namespace drover
