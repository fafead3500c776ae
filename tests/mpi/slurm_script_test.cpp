// A job script written for Slurm runs under `drover submit` unchanged: its #SBATCH
// lines are read, the SLURM_* variables it reads are set, and its mpirun uses the
// allocation. Also the environment rules around it (--export, --no-slurm-env).
#include <map>

#include "cluster.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

class SlurmScriptTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (!fs::exists(kExamplesBin + "/mpi_hello"))
      GTEST_SKIP() << "no " << kExamplesBin << "/mpi_hello: configure with -DDROVER_ENABLE_MPI=ON";
    ClusterTest::SetUp();
  }
  Cluster::Config config() const override { return host_named_config(); }
  std::string script(const std::string& name, const std::string& text) {
    const std::string path = cluster().work_dir() + "/" + name;
    write_file(path, text);
    ::chmod(path.c_str(), 0755);
    return path;
  }
};

TEST_F(SlurmScriptTest, AnSbatchScriptRunsUnchanged) {
  if (cluster().node_info().value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  const std::string path = script("sim.sbatch",
                                  "#!/bin/bash\n"
                                  "#SBATCH --job-name=heat-sim\n"
                                  "#SBATCH --ntasks=2\n"
                                  "#SBATCH --cpus-per-task=1\n"
                                  "#SBATCH --time=00:10:00      # ten minutes\n"
                                  "#SBATCH --mem-per-cpu=200M\n"
                                  "#SBATCH --output=%x-%j.out\n"
                                  "#SBATCH --mail-type=END\n"
                                  "\n"
                                  "set -euo pipefail\n"
                                  "#SBATCH --ntasks=64   (after the first command: ignored)\n"
                                  "echo \"job $SLURM_JOB_ID ($SLURM_JOB_NAME) ntasks=$SLURM_NTASKS "
                                  "cpus_per_task=$SLURM_CPUS_PER_TASK nodes=$SLURM_JOB_NODELIST "
                                  "nnodes=$SLURM_NNODES tasks_per_node=$SLURM_TASKS_PER_NODE\"\n"
                                  "echo \"submit_dir=$SLURM_SUBMIT_DIR partition=$SLURM_JOB_PARTITION\"\n"
                                  "cd \"$SLURM_SUBMIT_DIR\"\n"
                                  "[ \"$(id -u)\" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"
                                  "mpirun -np \"$SLURM_NTASKS\" " + kExamplesBin + "/mpi_hello\n");
  const CliResult r = cluster().run_cli({"submit", "--parsable", path});
  ASSERT_EQ(r.code, 0) << r.err;
  // The recorded-only option is said, with its line.
  EXPECT_TRUE(contains(r.err, "sim.sbatch:8: --mail-type=END")) << r.err;
  const std::string id = trim(r.out);
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string log = read_file(cluster().work_dir() + "/heat-sim-" + id + ".out");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n--- output:\n" << log;
  EXPECT_TRUE(contains(log, "job " + id + " (heat-sim) ntasks=2 cpus_per_task=1 nodes=" + cluster().node() +
                                " nnodes=1 tasks_per_node=2"))
      << log;
  EXPECT_TRUE(contains(log, "submit_dir=" + cluster().work_dir() + " partition=default")) << log;
  EXPECT_TRUE(contains(log, "hello from 2 ranks")) << log;
  // What was asked is on the record: 2 vCPUs, 400 MiB, 600 s, and where each came from.
  EXPECT_EQ(j.value("ntasks", 0), 2);
  EXPECT_EQ(j["timeout"].value("attemptDurationSeconds", 0), 600);
  const Json asked = cluster().describe(id)["submitOptions"];
  EXPECT_EQ(asked.value("ntasks", 0), 2) << asked.dump(2);
  EXPECT_EQ(asked["setBy"].value("time", ""), path + ":5") << asked.dump(2);
  bool memory_ok = false;
  for (const auto& rr : j["resourceRequirements"])
    memory_ok |= rr.value("type", "") == "MEMORY" && rr.value("value", "") == "400";
  EXPECT_TRUE(memory_ok) << j["resourceRequirements"].dump();
}

// The array form of the same kind of script: each task reads its index and
// runs its own MPI job; output names use %A and %a.
TEST_F(SlurmScriptTest, AnArrayScriptRunsEachTask) {
  if (cluster().node_info().value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  const std::string path = script("sweep.sbatch",
                                  "#!/bin/bash\n"
                                  "#SBATCH --job-name=sweep\n"
                                  "#SBATCH --array=1-5:2%2\n"
                                  "#SBATCH --ntasks=2\n"
                                  "#SBATCH --time=5\n"
                                  "#SBATCH -o %x-%A_%a.out\n"
                                  "set -eu\n"
                                  "params=(zero alpha beta gamma delta epsilon)\n"
                                  "echo \"task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID (${SLURM_ARRAY_TASK_MIN}-"
                                  "${SLURM_ARRAY_TASK_MAX}:${SLURM_ARRAY_TASK_STEP}, $SLURM_ARRAY_TASK_COUNT tasks) "
                                  "param=${params[$SLURM_ARRAY_TASK_ID]} ntasks=$SLURM_NTASKS "
                                  "nodes=$SLURM_JOB_NODELIST\"\n"
                                  "[ \"$(id -u)\" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"
                                  "mpirun -np \"$SLURM_NTASKS\" " + kExamplesBin + "/mpi_hello\n");
  const CliResult r = cluster().run_cli({"submit", "--parsable", path});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string id = trim(r.out);
  const Json j = cluster().wait_for_end(id, 60000);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  const std::map<int, std::string> param = {{1, "alpha"}, {3, "gamma"}, {5, "epsilon"}};
  for (const auto& [i, name] : param) {
    const std::string log = read_file(cluster().work_dir() + "/sweep-" + id + "_" + std::to_string(i) + ".out");
    EXPECT_TRUE(contains(log, "task " + std::to_string(i) + " of " + id + " (1-5:2, 3 tasks) param=" + name +
                                  " ntasks=2 nodes=" + cluster().node()))
        << log;
    EXPECT_TRUE(contains(log, "hello from 2 ranks")) << log;
  }
  EXPECT_EQ(cluster().describe(id)["submitOptions"]["setBy"].value("array", ""), path + ":3");
}

TEST_F(SlurmScriptTest, PrecedenceCommandLineOverEnvironmentOverDirectives) {
  const std::string path = script("prec.sh",
                                  "#!/bin/sh\n"
                                  "#SBATCH -J from-sbatch\n"
                                  "#SBATCH --time=5\n"
                                  "#DROVER --job-name=from-drover\n"
                                  "echo \"$SLURM_JOB_NAME\"\n");
  CliOptions env_opts;
  env_opts.env.push_back({"SBATCH_TIMELIMIT", "7"});
  const CliResult a = cluster().run_cli({"submit", "--parsable", path}, env_opts);
  ASSERT_EQ(a.code, 0) << a.err;
  const Json ja = cluster().wait_for_end(trim(a.out));
  EXPECT_EQ(ja.value("jobName", ""), "from-drover");
  EXPECT_EQ(ja["timeout"].value("attemptDurationSeconds", 0), 7 * 60);
  const CliResult b = cluster().run_cli({"submit", "--parsable", "-J", "from-cli", "-t", "9", path}, env_opts);
  ASSERT_EQ(b.code, 0) << b.err;
  const Json jb = cluster().wait_for_end(trim(b.out));
  EXPECT_EQ(jb.value("jobName", ""), "from-cli");
  EXPECT_EQ(jb["timeout"].value("attemptDurationSeconds", 0), 9 * 60);
}

TEST_F(SlurmScriptTest, ExportAndCompatibilityVariables) {
  CliOptions opts;
  opts.env.push_back({"DROVER_IT_VISIBLE", "yes"});
  const std::string all = cluster().submit({"--wrap", "echo \"v=${DROVER_IT_VISIBLE:-unset} s=${SLURM_JOB_ID:-unset}\""}, opts);
  const std::string none = cluster().submit(
      {"--export=NONE,ONLY=1", "--wrap", "echo \"v=${DROVER_IT_VISIBLE:-unset} only=$ONLY\""}, opts);
  const std::string quiet = cluster().submit(
      {"--no-slurm-env", "--wrap", "echo \"s=${SLURM_JOB_ID:-unset} d=$DROVER_JOB_ID\""}, opts);
  for (const auto& id : {all, none, quiet}) ASSERT_EQ(cluster().wait_for_end(id).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + all + ".out"), "v=yes s=" + all + "\n");
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + none + ".out"), "v=unset only=1\n");
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + quiet + ".out"), "s=unset d=" + quiet + "\n");
}

TEST_F(SlurmScriptTest, WhatCannotBeHonouredIsRefusedWithWhy) {
  const std::string path = script("wide.sh", "#!/bin/sh\n#SBATCH --nodes=4\nsrun hostname\n");
  const CliResult r = cluster().run_cli({"submit", path});
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "4 nodes asked, but queue 'default' has only 1 node")) << r.err;
  const CliResult bad = cluster().run_cli({"submit", script("bad.sh", "#!/bin/sh\n#SBATCH --time=abc\ntrue\n")});
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.err, "/bad.sh:2: --time=abc")) << bad.err;
  const CliResult jobs = cluster().run_cli({"jobs", "-a", "--json"});
  EXPECT_EQ(Json::parse(jobs.out)["jobSummaryList"].size(), 0u) << "nothing is half-submitted";
}

TEST_F(SlurmScriptTest, TestOnlyAndWait) {
  const CliResult t = cluster().run_cli({"submit", "--test-only", "--wrap", "true"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_TRUE(contains(t.out, "Would start now in queue default on node " + cluster().node())) << t.out;
  EXPECT_EQ(Json::parse(cluster().run_cli({"jobs", "-a", "--json"}).out)["jobSummaryList"].size(), 0u);
  const CliResult w = cluster().run_cli({"submit", "--wait", "--wrap", "sleep 0.2; exit 5"});
  EXPECT_EQ(w.code, 5) << w.err;
}

TEST_F(SlurmScriptTest, OpenModeAppendKeepsEarlierOutput) {
  write_file(cluster().work_dir() + "/log.txt", "before\n");
  const std::string id = cluster().submit({"--open-mode=append", "-o", "log.txt", "--wrap", "echo after"});
  ASSERT_EQ(cluster().wait_for_end(id).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(read_file(cluster().work_dir() + "/log.txt"), "before\nafter\n");
}

}  // namespace
}  // namespace drover::it
