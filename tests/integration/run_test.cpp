// drover run (srun) against real daemons: one program's output and errors stream to
// the CLI's stdout and stderr apart and while the job runs, its exit code becomes
// drover run's, a job that must wait says so, Ctrl-C cancels the job and every
// process of it ends, and inside a job drover run uses that job's allocation.
// Several tasks (-n N, through mpirun) are in tests/mpi/run_tasks_test.cpp.
#include "background_cli.hpp"
#include "cluster.hpp"

namespace drover::it {
namespace {

using RunTest = ClusterTest;

// No temporary output file of drover run is left in the directory.
bool no_run_files(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(".drover-run-", 0) == 0) return false;
  return true;
}

TEST_F(RunTest, StreamsStdoutAndStderrApartAndExitsWithTheProgramsCode) {
  const CliResult r = cluster().cli("run", "sh", "-c", "echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.code, 3) << r.describe();
  EXPECT_EQ(r.out, "out\n") << r.describe();
  EXPECT_EQ(r.err, "err\n") << r.describe();  // it started at once: nothing else said
  EXPECT_TRUE(no_run_files(cluster().work_dir()));

  const CliResult ok = cluster().cli("run", "-J", "greet", "--export", "ALL,WHO=world", "sh", "-c",
                                     "echo hello $WHO $SLURM_JOB_NAME $SLURM_PROCID $SLURM_NTASKS");
  EXPECT_EQ(ok.code, 0) << ok.describe();
  EXPECT_EQ(ok.out, "hello world greet 0 1\n") << ok.describe();
}

TEST_F(RunTest, SignalsAndProgramsThatNeverRanHaveTheirOwnCodes) {
  const CliResult killed = cluster().cli("run", "sh", "-c", "kill -9 $$");
  EXPECT_EQ(killed.code, 128 + 9) << killed.describe();
  EXPECT_TRUE(contains(killed.err, "signal 9")) << killed.describe();

  const CliResult missing = cluster().cli("run", "./no-such-program");
  EXPECT_EQ(missing.code, 125) << missing.describe();
  EXPECT_TRUE(contains(missing.err, "cannot execute")) << missing.describe();

  const CliResult label = cluster().cli("run", "-l", "sh", "-c", "echo a; echo b");
  EXPECT_EQ(label.code, 0) << label.describe();
  EXPECT_EQ(label.out, "0: a\n0: b\n");
}

TEST_F(RunTest, OutputArrivesWhileTheProgramRuns) {
  BackgroundCli run(cluster(), {"run", "sh", "-c",
                                "echo first; echo warming >&2; while [ ! -e gate ]; do sleep 0.05; done; echo second"});
  ASSERT_TRUE(wait_until([&] { return run.out() == "first\n" && run.err() == "warming\n"; }, 15000))
      << run.describe();
  EXPECT_FALSE(run.exited());
  write_file(cluster().work_dir() + "/gate", "");
  EXPECT_EQ(run.wait(), 0) << run.describe();
  EXPECT_EQ(run.out(), "first\nsecond\n");
  EXPECT_EQ(run.err(), "warming\n");
  EXPECT_TRUE(no_run_files(cluster().work_dir()));
}

TEST_F(RunTest, AJobThatMustWaitSaysSoAndStartsLater) {
  const int vcpus = cluster().node_info().value("vcpus", 1);
  const std::string blocker = cluster().submit(
      {"-c", std::to_string(vcpus), "--wrap", "while [ ! -e gate ]; do sleep 0.05; done"});
  ASSERT_TRUE(cluster().wait_for_state(blocker, "RUNNING"));
  BackgroundCli run(cluster(), {"run", "-c", "1", "echo", "finally"});
  ASSERT_TRUE(wait_until([&] { return contains(run.err(), "queued and waiting for resources"); }, 15000))
      << run.describe();
  const std::string id = cluster().describe(std::to_string(std::stoll(blocker) + 1)).value("jobId", "");
  EXPECT_TRUE(contains(run.err(), "drover run: job " + id + " queued and waiting for resources")) << run.err();
  EXPECT_EQ(cluster().state(id), "RUNNABLE");
  write_file(cluster().work_dir() + "/gate", "");
  EXPECT_EQ(run.wait(), 0) << run.describe();
  EXPECT_EQ(run.out(), "finally\n");
  EXPECT_TRUE(contains(run.err(), "drover run: job " + id + " has been allocated resources")) << run.err();
}

TEST_F(RunTest, InterruptCancelsTheJobAndNoProcessIsLeft) {
  for (const int sig : {SIGINT, SIGTERM}) {
    const std::string marker = "300." + std::to_string(::getpid()) + std::to_string(sig);
    BackgroundCli run(cluster(), {"run", "sh", "-c", "echo started; sleep " + marker + "; echo never"});
    ASSERT_TRUE(wait_until([&] { return run.out() == "started\n"; }, 15000)) << run.describe();
    ASSERT_TRUE(wait_until([&] { return !pids_with_marker(marker).empty(); }, 5000));
    run.signal(sig);
    EXPECT_EQ(run.wait(), 128 + sig) << run.describe();
    EXPECT_TRUE(contains(run.err(), "cancelling job")) << run.describe();
    EXPECT_TRUE(contains(run.err(), "cancelled; all its processes have ended")) << run.describe();
    // It exits only after the job ended: the job is over and its sleep is gone.
    bool none_left = true;
    for (pid_t p : pids_with_marker(marker)) none_left &= !process_alive(p);
    EXPECT_TRUE(none_left) << "the job's sleep is still running";
    EXPECT_EQ(run.out(), "started\n");
  }
  auto api = cluster().api();
  ASSERT_TRUE(api);
  auto listed = api->call("ListJobHistory", Json{{"limit", 10}});
  ASSERT_TRUE(listed) << listed.message();
  const Json history = *listed;
  int cancelled = 0;
  for (const auto& j : history.value("jobs", Json::array()))
    cancelled += j.value("status", "") == "FAILED" && j.value("statusReason", "") == "drover run was interrupted";
  EXPECT_EQ(cancelled, 2) << history.dump(2);
}

TEST_F(RunTest, BatchOnlyOptionsAndMissingProgramsAreClearErrors) {
  const CliResult array = cluster().cli("run", "--array", "1-3", "hostname");
  EXPECT_EQ(array.code, 125);
  EXPECT_TRUE(contains(array.err, "--array: drover run runs one job; for many, use drover submit --array"))
      << array.err;
  const CliResult out = cluster().cli("run", "-o", "x.out", "hostname");
  EXPECT_EQ(out.code, 125);
  EXPECT_TRUE(contains(out.err, "--output: drover run prints the program's output here")) << out.err;
  const CliResult wrap = cluster().cli("run", "--wrap", "hostname");
  EXPECT_EQ(wrap.code, 125);
  EXPECT_TRUE(contains(wrap.err, "--wrap: give the command itself")) << wrap.err;
  const CliResult nothing = cluster().cli("run", "-n", "1");
  EXPECT_EQ(nothing.code, 125);
  EXPECT_TRUE(contains(nothing.err, "give a program, e.g. drover run -n 4 hostname")) << nothing.err;
  const CliResult bad = cluster().cli("run", "--nodes-list", "n1", "hostname");
  EXPECT_EQ(bad.code, 125);
  EXPECT_TRUE(contains(bad.err, "did you mean --nodelist?")) << bad.err;
  const CliResult help = cluster().cli("run", "--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(contains(help.out, "Usage: drover run [options] PROGRAM [args...]")) << help.out;
  EXPECT_TRUE(contains(help.out, "drover run -N 2 -n 4 ./app input.dat")) << help.out;
  EXPECT_TRUE(contains(help.out, "--ntasks")) << help.out;  // the submit options, from the one table
  // Nothing was submitted by any of them.
  EXPECT_TRUE(cluster().describe("1").is_null());
}

TEST_F(RunTest, InsideAJobItRunsInThatJobWithoutSubmittingAnother) {
  const std::string id = cluster().submit(
      {"-t", "1", "--wrap",
       kBinDir + "/drover run sh -c 'echo inner $SLURM_PROCID of $SLURM_NTASKS in $DROVER_JOB_ID; exit 4'; "
                 "echo inner exit $?; " +
           kBinDir + "/drover run -N 2 true; echo second exit $?"});
  const Json j = cluster().wait_for_end(id, 20000);
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  EXPECT_TRUE(contains(out, "inner 0 of 1 in " + id + "\ninner exit 4\n")) << out;
  EXPECT_TRUE(contains(out, "-N 2: job " + id + " has 1 node; inside a job drover run uses its nodes")) << out;
  EXPECT_TRUE(contains(out, "second exit 125")) << out;
  EXPECT_TRUE(cluster().describe(std::to_string(std::stoll(id) + 1)).is_null()) << "a job was submitted";
}

}  // namespace
}  // namespace drover::it
