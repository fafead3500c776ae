// job_environment: the DROVER_*, AWS_BATCH_* and SLURM_* variables a job sees.
#include "core/job_environment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::make_test_job;

std::string get(const KeyValues& env, const std::string& key) {
  const std::string* v = find_value(env, key);
  return v ? *v : "<unset>";
}

class JobEnvironment : public ::testing::Test {
 protected:
  void SetUp() override {
    job = make_test_job(77, "short", 4, 2048);
    job.name = "align";
    job.working_dir = "/home/alice/run";
    Attempt a;
    a.node = "node07";
    a.cpus = {4, 5, 6, 7};
    job.attempts.push_back(a);
    payload.environment = {{"PATH", "/usr/bin"}, {"DROVER_JOB_ID", "spoofed"}};
    ctx.node = "node07";
    ctx.compute_environment = "cpu-ce";
    ctx.submit_host = "login1";
  }
  Job job;
  JobPayload payload;
  LaunchContext ctx;
};

TEST_F(JobEnvironment, Values) {
  const KeyValues env = job_environment(job, payload, ctx);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"PATH", "/usr/bin"},
      {"DROVER_JOB_ID", "77"},
      {"DROVER_JOB_NAME", "align"},
      {"DROVER_JOB_ATTEMPT", "1"},
      {"DROVER_QUEUE", "short"},
      {"DROVER_COMPUTE_ENVIRONMENT", "cpu-ce"},
      {"DROVER_NODELIST", "node07"},
      {"DROVER_NODE_INDEX", "0"},
      {"DROVER_NUM_NODES", "1"},
      {"DROVER_MAIN_NODE", "node07"},
      {"DROVER_CPUS", "4"},
      {"DROVER_SUBMIT_DIR", "/home/alice/run"},
      {"DROVER_CPU_LIST", "4,5,6,7"},
      {"AWS_BATCH_JOB_ID", "77"},
      {"AWS_BATCH_JOB_ATTEMPT", "1"},
      {"AWS_BATCH_JQ_NAME", "short"},
      {"AWS_BATCH_CE_NAME", "cpu-ce"},
      {"SLURM_JOB_ID", "77"},
      {"SLURM_JOBID", "77"},
      {"SLURM_JOB_NAME", "align"},
      {"SLURM_JOB_NODELIST", "node07"},
      {"SLURM_NODELIST", "node07"},
      {"SLURM_NNODES", "1"},
      {"SLURM_JOB_NUM_NODES", "1"},
      {"SLURM_CPUS_ON_NODE", "4"},
      {"SLURM_JOB_CPUS_PER_NODE", "4"},
      {"SLURM_SUBMIT_DIR", "/home/alice/run"},
      {"SLURM_SUBMIT_HOST", "login1"},
      {"SLURM_JOB_PARTITION", "short"},
      {"SLURM_RESTART_COUNT", "0"},
      {"SLURM_NODEID", "0"},
      {"SLURM_PROCID", "0"},
      {"SLURM_LOCALID", "0"},
      {"SLURM_MEM_PER_NODE", "2048"},
  };
  for (const auto& [k, v] : want) EXPECT_EQ(get(env, k), v) << k;
  // The job's own variables come first and each name appears once.
  EXPECT_EQ(env.front().first, "PATH");
  for (std::size_t i = 0; i < env.size(); ++i)
    for (std::size_t k = i + 1; k < env.size(); ++k) EXPECT_NE(env[i].first, env[k].first);
}

TEST_F(JobEnvironment, SingleTaskByDefault) {
  const KeyValues env = job_environment(job, payload, ctx);
  EXPECT_EQ(get(env, "DROVER_NTASKS"), "1");
  EXPECT_EQ(get(env, "SLURM_NTASKS"), "1");
  EXPECT_EQ(get(env, "SLURM_NPROCS"), "1");
  EXPECT_EQ(get(env, "DROVER_CPUS_PER_TASK"), "4");
}

TEST_F(JobEnvironment, SeveralTasks) {
  job.request.vcpus = 8;
  job.ntasks = 4;
  const KeyValues env = job_environment(job, payload, ctx);
  EXPECT_EQ(get(env, "DROVER_NTASKS"), "4");
  EXPECT_EQ(get(env, "DROVER_CPUS_PER_TASK"), "2");
  EXPECT_EQ(get(env, "SLURM_NTASKS"), "4");
  EXPECT_EQ(get(env, "SLURM_NPROCS"), "4");
  EXPECT_EQ(get(env, "SLURM_CPUS_PER_TASK"), "2");
  EXPECT_EQ(get(env, "SLURM_TASKS_PER_NODE"), "4");
  EXPECT_EQ(get(env, "DROVER_CPUS"), "4");  // what the attempt was given, not asked
}

TEST_F(JobEnvironment, NoGpuVariablesWithoutGpus) {
  const KeyValues env = job_environment(job, payload, ctx);
  for (const char* k : {"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "ROCR_VISIBLE_DEVICES",
                        "ZE_AFFINITY_MASK", "DROVER_GPUS", "SLURM_GPUS_ON_NODE"})
    EXPECT_EQ(find_value(env, k), nullptr) << k;
}

TEST_F(JobEnvironment, TheSubmittersGpuVariablesDoNotReachAJobWithoutGpus) {
  // Submitted from a GPU job or a workstation with --export=ALL: those GPUs are not this job's.
  for (const char* k : {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK", "HIP_VISIBLE_DEVICES",
                        "GPU_DEVICE_ORDINAL", "DROVER_GPUS", "SLURM_GPUS_ON_NODE"})
    payload.environment.emplace_back(k, "0");
  const KeyValues env = job_environment(job, payload, ctx);
  for (const char* k : {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK", "HIP_VISIBLE_DEVICES",
                        "GPU_DEVICE_ORDINAL", "DROVER_GPUS", "SLURM_GPUS_ON_NODE"})
    EXPECT_EQ(find_value(env, k), nullptr) << k;
  EXPECT_EQ(get(env, "PATH"), "/usr/bin");
  // With GPUs, the job's own replace the submitter's.
  job.attempts.back().gpus = {2};
  const KeyValues with = job_environment(job, payload, ctx);
  EXPECT_EQ(get(with, "CUDA_VISIBLE_DEVICES"), "2");
  EXPECT_EQ(get(with, "ROCR_VISIBLE_DEVICES"), "2");
  EXPECT_EQ(find_value(with, "HIP_VISIBLE_DEVICES"), nullptr);
}

TEST_F(JobEnvironment, GpuVariablesNameTheAttemptsGpus) {
  job.attempts.back().gpus = {1, 3};
  const KeyValues env = job_environment(job, payload, ctx);
  EXPECT_EQ(get(env, "CUDA_VISIBLE_DEVICES"), "1,3");
  EXPECT_EQ(get(env, "CUDA_DEVICE_ORDER"), "PCI_BUS_ID");
  EXPECT_EQ(get(env, "ROCR_VISIBLE_DEVICES"), "1,3");
  EXPECT_EQ(get(env, "ZE_AFFINITY_MASK"), "1,3");
  EXPECT_EQ(get(env, "DROVER_GPUS"), "1,3");
  EXPECT_EQ(get(env, "SLURM_GPUS_ON_NODE"), "2");
}

TEST_F(JobEnvironment, GpusSplitAmongTasksAreListedTaskByTask) {
  // Task 0 holds GPUs 3 and 1, task 1 holds 0 and 2 (place_tasks: each task the
  // GPUs next to its cores): the list follows the tasks, so a rank that takes
  // GPU number LOCAL_RANK * 2 takes its own; DROVER_TASK_GPUS keeps each apart.
  job.attempts.back().gpus = {0, 1, 2, 3};
  const std::vector<std::vector<int>> split = {{1, 3}, {0, 2}};
  ctx.task_gpus = &split;
  payload.environment.emplace_back("DROVER_TASK_GPUS", "7;8");  // the submitter's: not this job's
  const KeyValues env = job_environment(job, payload, ctx);
  EXPECT_EQ(get(env, "CUDA_VISIBLE_DEVICES"), "1,3,0,2");
  EXPECT_EQ(get(env, "ROCR_VISIBLE_DEVICES"), "1,3,0,2");
  EXPECT_EQ(get(env, "ZE_AFFINITY_MASK"), "1,3,0,2");
  EXPECT_EQ(get(env, "DROVER_GPUS"), "1,3,0,2");
  EXPECT_EQ(get(env, "DROVER_TASK_GPUS"), "1,3;0,2");
  EXPECT_EQ(get(env, "SLURM_GPUS_ON_NODE"), "4");
}

TEST_F(JobEnvironment, TaskGpusThatAreNotExactlyTheNodesAreIgnored) {
  job.attempts.back().gpus = {0, 1};
  for (const std::vector<std::vector<int>>& split : std::vector<std::vector<std::vector<int>>>{
           {{0}, {}}, {{0}, {0}}, {{0}, {2}}, {{1}}, {}}) {
    ctx.task_gpus = &split;
    const KeyValues env = job_environment(job, payload, ctx);
    EXPECT_EQ(get(env, "CUDA_VISIBLE_DEVICES"), "0,1");
    EXPECT_EQ(find_value(env, "DROVER_TASK_GPUS"), nullptr);
  }
}

TEST_F(JobEnvironment, LaterAttemptsCountRestarts) {
  job.attempts.insert(job.attempts.begin(), 2, job.attempts.back());
  const KeyValues env = job_environment(job, payload, ctx);
  EXPECT_EQ(get(env, "DROVER_JOB_ATTEMPT"), "3");
  EXPECT_EQ(get(env, "AWS_BATCH_JOB_ATTEMPT"), "3");
  EXPECT_EQ(get(env, "SLURM_RESTART_COUNT"), "2");
}

TEST_F(JobEnvironment, WithoutAnAttemptUsesTheRequest) {
  job.attempts.clear();
  job.request.memory_mib = 0;
  ctx.submit_host.clear();
  const KeyValues env = job_environment(job, payload, ctx);
  EXPECT_EQ(get(env, "DROVER_CPUS"), "4");
  EXPECT_EQ(get(env, "DROVER_JOB_ATTEMPT"), "0");
  EXPECT_EQ(get(env, "SLURM_RESTART_COUNT"), "0");
  EXPECT_EQ(find_value(env, "DROVER_CPU_LIST"), nullptr);
  EXPECT_EQ(find_value(env, "SLURM_MEM_PER_NODE"), nullptr);
  EXPECT_EQ(find_value(env, "SLURM_SUBMIT_HOST"), nullptr);
  EXPECT_EQ(find_value(env, "CUDA_VISIBLE_DEVICES"), nullptr);
}

// What an array task's launch order carries: the base (the submitter's
// environment, once per agent) and the job's variables, which the agent sets
// over it. Together they are exactly job_environment, order included.
TEST_F(JobEnvironment, TheBaseWithTheJobsVariablesOverItIsTheWholeEnvironment) {
  payload.environment = {{"PATH", "/usr/bin"}, {"CUDA_VISIBLE_DEVICES", "3"}, {"SLURM_JOB_NAME", "old"},
                         {"HOME", "/home/alice"}, {"DROVER_JOB_ID", "spoofed"}, {"ROCR_VISIBLE_DEVICES", "1"}};
  const KeyValues base = base_environment(payload);
  EXPECT_EQ(base, (KeyValues{{"PATH", "/usr/bin"}, {"SLURM_JOB_NAME", "old"}, {"HOME", "/home/alice"},
                             {"DROVER_JOB_ID", "spoofed"}}));
  for (const std::vector<int>& gpus : {std::vector<int>{}, std::vector<int>{0, 2}}) {
    job.attempts.back().gpus = gpus;
    const KeyValues vars = job_variables(job, payload, ctx);
    EXPECT_EQ(find_value(vars, "PATH"), nullptr);  // the submitter's are not among them
    KeyValues merged = base;
    set_over(merged, vars);
    EXPECT_EQ(merged, job_environment(job, payload, ctx));
    // The way job_environment worked before it was split: the submitter's whole
    // environment, each variable set over it, the submitter's GPU variables
    // removed before the job's own (the last ones set) are set.
    const std::vector<std::string> gpu_names = {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK",
                                                "DROVER_GPUS", "DROVER_TASK_GPUS", "SLURM_GPUS_ON_NODE",
                                                "GPU_DEVICE_ORDINAL", "HIP_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"};
    auto is_gpu = [&](const std::string& k) {
      return std::find(gpu_names.begin(), gpu_names.end(), k) != gpu_names.end();
    };
    KeyValues old = payload.environment;
    for (const auto& [k, v] : vars)
      if (!is_gpu(k)) set_value(old, k, v);
    old.erase(std::remove_if(old.begin(), old.end(), [&](const auto& kv) { return is_gpu(kv.first); }), old.end());
    for (const auto& [k, v] : vars)
      if (is_gpu(k)) set_value(old, k, v);
    EXPECT_EQ(merged, old);
    // The submitter's names keep their places; the job's values win.
    EXPECT_EQ(merged[1], (std::pair<std::string, std::string>{"SLURM_JOB_NAME", "align"}));
    EXPECT_EQ(merged[3], (std::pair<std::string, std::string>{"DROVER_JOB_ID", "77"}));
  }
}

// set_over is set_value applied in order, whatever the names: repeated ones,
// ones already there, empty ones, few or many.
TEST(KeyValues, SetOverIsSetValueInOrder) {
  std::mt19937 random(7);
  for (int round = 0; round < 300; ++round) {
    auto some = [&](int most) {
      KeyValues kv;
      const int n = static_cast<int>(random() % static_cast<unsigned>(most + 1));
      for (int i = 0; i < n; ++i)
        kv.emplace_back(round % 3 == 0 && i % 5 == 0 ? std::string() : "K" + std::to_string(random() % 40) +
                                                                            std::string(random() % 2 ? 20 : 0, 'x'),
                        std::to_string(random()));
      return kv;
    };
    KeyValues env = some(60);
    const KeyValues vars = some(round % 2 ? 5 : 60);
    KeyValues expected = env;
    for (const auto& [k, v] : vars) set_value(expected, k, v);
    set_over(env, vars);
    EXPECT_EQ(env, expected) << "round " << round;
  }
}

TEST(KeyValues, FindAndSet) {
  KeyValues kv;
  EXPECT_EQ(find_value(kv, "a"), nullptr);
  set_value(kv, "a", "1");
  set_value(kv, "b", "2");
  set_value(kv, "a", "3");
  EXPECT_EQ(kv, (KeyValues{{"a", "3"}, {"b", "2"}}));
  ASSERT_NE(find_value(kv, "b"), nullptr);
  EXPECT_EQ(*find_value(kv, "b"), "2");
}

}  // namespace
}  // namespace drover
