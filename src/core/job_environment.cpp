#include "core/job_environment.hpp"

#include <algorithm>

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

KeyValues job_environment(const Job& job, const JobPayload& payload, const LaunchContext& ctx) {
  KeyValues env = payload.environment;
  const Attempt* a = job.current_attempt();
  const std::string id = std::to_string(job.id);
  const std::string attempt = std::to_string(job.attempts.size());
  const std::string ncpus = std::to_string(a ? a->cpus.size() : job.request.vcpus);
  auto set = [&](const char* k, const std::string& v) { set_value(env, k, v); };

  set("DROVER_JOB_ID", id);
  set("DROVER_JOB_NAME", job.name);
  set("DROVER_JOB_ATTEMPT", attempt);
  set("DROVER_QUEUE", job.queue);
  set("DROVER_COMPUTE_ENVIRONMENT", ctx.compute_environment);
  set("DROVER_NODELIST", ctx.node);
  set("DROVER_NODE_INDEX", "0");
  set("DROVER_NUM_NODES", "1");
  set("DROVER_MAIN_NODE", ctx.node);
  set("DROVER_CPUS", ncpus);
  const std::string ntasks = std::to_string(job.ntasks);
  const std::string cpus_per_task = std::to_string(std::max(1, job.request.vcpus / std::max(1, job.ntasks)));
  set("DROVER_NTASKS", ntasks);
  set("DROVER_CPUS_PER_TASK", cpus_per_task);
  set("DROVER_SUBMIT_DIR", job.working_dir);
  if (a) set("DROVER_CPU_LIST", join(a->cpus));

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
    set("SLURM_JOB_NODELIST", ctx.node);
    set("SLURM_NODELIST", ctx.node);
    set("SLURM_NNODES", "1");
    set("SLURM_JOB_NUM_NODES", "1");
    set("SLURM_NTASKS", ntasks);
    set("SLURM_NPROCS", ntasks);
    set("SLURM_CPUS_PER_TASK", cpus_per_task);
    // Open MPI's mpirun reads SLURM_NODELIST and SLURM_TASKS_PER_NODE to size its
    // allocation when SLURM_JOB_ID is set; without the latter it refuses to start.
    set("SLURM_TASKS_PER_NODE", ntasks);
    set("SLURM_NTASKS_PER_NODE", ntasks);
    set("SLURM_CPUS_ON_NODE", ncpus);
    set("SLURM_JOB_CPUS_PER_NODE", ncpus);
    set("SLURM_SUBMIT_DIR", job.working_dir);
    if (!ctx.submit_host.empty()) set("SLURM_SUBMIT_HOST", ctx.submit_host);
    set("SLURM_JOB_PARTITION", job.queue);
    set("SLURM_RESTART_COUNT", std::to_string(job.attempts.empty() ? 0 : job.attempts.size() - 1));
    set("SLURM_NODEID", "0");
    set("SLURM_PROCID", "0");
    set("SLURM_LOCALID", "0");
    if (job.request.memory_mib > 0) set("SLURM_MEM_PER_NODE", std::to_string(job.request.memory_mib));
  }

  if (a && !a->gpus.empty()) {
    const std::string gpus = join(a->gpus);
    set("CUDA_DEVICE_ORDER", "PCI_BUS_ID");  // our GPU indexes follow PCI bus order
    set("CUDA_VISIBLE_DEVICES", gpus);
    set("ROCR_VISIBLE_DEVICES", gpus);
    set("ZE_AFFINITY_MASK", gpus);
    set("DROVER_GPUS", gpus);
    if (ctx.slurm_names) set("SLURM_GPUS_ON_NODE", std::to_string(a->gpus.size()));
  }
  return env;
}

}  // namespace drover
