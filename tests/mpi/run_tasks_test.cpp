// drover run -n N: N tasks of a (non-MPI) program started by mpirun inside the job,
// each with its own SLURM_PROCID / SLURM_LOCALID; --label; a failing task's exit code;
// Ctrl-C ends every task; and inside a job, tasks in that job's allocation. Needs
// Open MPI's mpirun and a node with at least 2 CPUs (one per task).
#include "../integration/background_cli.hpp"
#include "../integration/cluster.hpp"

namespace drover::it {
namespace {

class RunTasksTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/mpirun", X_OK) != 0 && ::access("/usr/local/bin/mpirun", X_OK) != 0)
      GTEST_SKIP() << "mpirun is not installed";
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    if (cluster().node_info().value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  }
};

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::sort(lines.begin(), lines.end());
  return lines;
}

TEST_F(RunTasksTest, EachTaskHasItsOwnSlurmProcid) {
  // The node is named "n1", not like this host: mpirun must not take Slurm's
  // variables for an allocation to reach through srun.
  const CliResult r = cluster().cli("run", "-n", "2", "sh", "-c",
                                    "echo task $SLURM_PROCID local $SLURM_LOCALID node $SLURM_NODEID "
                                    "of $SLURM_NTASKS in $DROVER_JOB_ID; echo err $SLURM_PROCID >&2");
  ASSERT_EQ(r.code, 0) << r.describe();
  const std::string id = "1";
  EXPECT_EQ(sorted_lines(r.out), (std::vector<std::string>{"task 0 local 0 node 0 of 2 in " + id,
                                                           "task 1 local 1 node 0 of 2 in " + id}))
      << r.describe();
  EXPECT_EQ(sorted_lines(r.err), (std::vector<std::string>{"err 0", "err 1"})) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("ntasks", 0), 2);
}

TEST_F(RunTasksTest, LabelPrefixesEachLineWithItsTask) {
  const CliResult r = cluster().cli("run", "-l", "-n", "2", "sh", "-c", "echo hi; echo oops >&2");
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(sorted_lines(r.out), (std::vector<std::string>{"0: hi", "1: hi"})) << r.describe();
  EXPECT_EQ(sorted_lines(r.err), (std::vector<std::string>{"0: oops", "1: oops"})) << r.describe();
}

TEST_F(RunTasksTest, AFailingTasksExitCodeIsDroverRuns) {
  const CliResult r = cluster().cli("run", "-n", "2", "sh", "-c", "[ $SLURM_PROCID = 1 ] && exit 5; exit 0");
  EXPECT_EQ(r.code, 5) << r.describe();
}

TEST_F(RunTasksTest, InterruptEndsEveryTask) {
  const std::string marker = "300." + std::to_string(::getpid());
  BackgroundCli run(cluster(), {"run", "-n", "2", "sh", "-c", "echo up; sleep " + marker});
  ASSERT_TRUE(wait_until([&] { return run.out() == "up\nup\n"; }, 20000)) << run.describe();
  ASSERT_TRUE(wait_until([&] { return pids_with_marker(marker).size() >= 2; }, 5000));
  run.signal(SIGINT);
  EXPECT_EQ(run.wait(), 130) << run.describe();
  bool none_left = true;
  for (pid_t p : pids_with_marker(marker)) none_left &= !process_alive(p);
  EXPECT_TRUE(none_left) << "a task's sleep is still running";
  EXPECT_EQ(cluster().state("1"), "FAILED");
}

TEST_F(RunTasksTest, InsideAJobTasksRunInItsAllocation) {
  const std::string id = cluster().submit(
      {"-n", "2", "-t", "1", "--wrap",
       kBinDir + "/drover run sh -c 'echo step $SLURM_PROCID of $SLURM_NTASKS in $DROVER_JOB_ID'; " + kBinDir +
           "/drover run -n 1 sh -c 'echo alone $SLURM_PROCID of $SLURM_NTASKS'"});
  const Json j = cluster().wait_for_end(id, 30000);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n" << out;
  // Without -n, the job's own task count, as srun inside sbatch.
  EXPECT_TRUE(contains(out, "step 0 of 2 in " + id)) << out;
  EXPECT_TRUE(contains(out, "step 1 of 2 in " + id)) << out;
  EXPECT_TRUE(contains(out, "alone 0 of 1")) << out;
  EXPECT_TRUE(cluster().describe(std::to_string(std::stoll(id) + 1)).is_null()) << "a job was submitted";
}

// A node whose 2 GPUs sit crossed (netns-gpu-2numa-crossed.xml: GPU 0 next to
// PU 1, GPU 1 next to PU 0). With one GPU per task, each task of drover run sees
// only the GPU next to the PU its rank is bound to.
class RunGpuTasksTest : public RunTasksTest {
 protected:
  Cluster::Config config() const override {
    Cluster::Config c;
    c.topology_xml = kTestData + "/hwloc/netns-gpu-2numa-crossed.xml";
    return c;
  }
  // "PUS GPUS" of each task, sorted.
  static std::string kReport() {
    return "sh -c 'echo $(grep Cpus_allowed_list /proc/self/status | cut -f2) gpus $CUDA_VISIBLE_DEVICES'";
  }
};

TEST_F(RunGpuTasksTest, EachTaskSeesTheGpuNextToItsCpus) {
  const std::string id = cluster().submit(
      {"-n", "2", "--gpus-per-task", "1", "-t", "1", "-e", "drover-%j.err", "--wrap",
       "echo job $CUDA_VISIBLE_DEVICES tasks $DROVER_TASK_GPUS; " + kBinDir + "/drover run " + kReport() + "; " +
           kBinDir + "/drover run --gpu-bind=none " + kReport()});
  const Json j = cluster().wait_for_end(id, 30000);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n" << out;
  std::istringstream in(out);
  std::string first;
  std::getline(in, first);
  std::vector<std::string> rest;
  for (std::string l; std::getline(in, l);) rest.push_back(l);
  // The job's list goes task by task, each task's GPUs apart: task 0 holds the
  // GPU of its NUMA node, and its rank the PU there.
  EXPECT_TRUE(first == "job 1,0 tasks 1;0" || first == "job 0,1 tasks 0;1") << out;
  ASSERT_EQ(rest.size(), 4u) << out;
  std::sort(rest.begin(), rest.begin() + 2);
  std::sort(rest.begin() + 2, rest.end());
  EXPECT_EQ(rest[0], "0 gpus 1") << out;  // PU 0's GPU is GPU 1 in this topology
  EXPECT_EQ(rest[1], "1 gpus 0") << out;
  // --gpu-bind=none: each task sees both, in the job's order.
  const std::string both = first.substr(4, 3);
  EXPECT_EQ(rest[2], "0 gpus " + both) << out;
  EXPECT_EQ(rest[3], "1 gpus " + both) << out;
}

TEST_F(RunGpuTasksTest, SharedGpusStayVisibleToEveryTask) {
  // Two tasks, one GPU: it cannot be split, so both see it and no task list is set.
  const std::string id = cluster().submit({"-n", "2", "--gpus", "1", "-t", "1", "-e", "drover-%j.err", "--wrap",
                                           "echo tasks=$DROVER_TASK_GPUS; " + kBinDir + "/drover run " + kReport()});
  const Json j = cluster().wait_for_end(id, 30000);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n" << out;
  EXPECT_TRUE(contains(out, "tasks=\n")) << out;
  const std::string gpu = contains(out, "gpus 1\n") ? "1" : "0";
  EXPECT_EQ(sorted_lines(out), (std::vector<std::string>{"0 gpus " + gpu, "1 gpus " + gpu, "tasks="})) << out;
}

TEST_F(RunTasksTest, GpuBindTakesClosestOrNone) {
  const CliResult r = cluster().cli("run", "--gpu-bind=map_gpu:0", "hostname");
  EXPECT_EQ(r.code, 125) << r.describe();
  EXPECT_TRUE(contains(r.err, "--gpu-bind: 'map_gpu:0' is not known: give closest")) << r.describe();
}

}  // namespace
}  // namespace drover::it
