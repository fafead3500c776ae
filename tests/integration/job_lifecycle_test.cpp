// One job from submit to its end, through the real CLI and daemons: output files,
// exit codes and signals, time limits, cancellation, memory limits, logs.
#include "cluster.hpp"

namespace drover::it {
namespace {

using LifecycleTest = ClusterTest;

// attempts[0].container of a job description.
Json first_container(const Json& job) {
  if (!job.is_object() || !job.contains("attempts") || job["attempts"].empty()) return Json::object();
  return job["attempts"][0].value("container", Json::object());
}

// Live processes whose environment or command line holds marker.
std::vector<pid_t> live(const std::string& marker) {
  std::vector<pid_t> out;
  for (pid_t p : pids_with_marker(marker))
    if (process_alive(p)) out.push_back(p);
  return out;
}

TEST_F(LifecycleTest, SucceededJobWritesOutputInSubmitDirectory) {
  const std::string id = cluster().submit({"--wrap", "echo hello from drover; echo to stderr >&2"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));

  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  EXPECT_EQ(out, "hello from drover\nto stderr\n");

  // `drover show --json` is what scripts read: the AWS DescribeJobs shape.
  const CliResult show = cluster().cli("show", "--json", id);
  ASSERT_EQ(show.code, 0) << show.describe();
  const Json jobs = Json::parse(show.out, nullptr, false);
  ASSERT_TRUE(jobs.is_array() && jobs.size() == 1) << show.out;
  const Json& j = jobs[0];
  EXPECT_EQ(j.value("jobId", ""), id);
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED");
  ASSERT_EQ(j["attempts"].size(), 1u) << j.dump(2);
  EXPECT_EQ(first_container(j).value("exitCode", -1), 0) << j.dump(2);
  EXPECT_GT(j.value("stoppedAt", 0LL), 0);
  EXPECT_GE(j.value("stoppedAt", 0LL), j.value("startedAt", 0LL));

  // --comment is kept and shown, with no "not honoured" warning at submit.
  const CliResult commented = cluster().cli("submit", "--comment", "run 7 of the sweep", "--wrap", "true");
  ASSERT_EQ(commented.code, 0) << commented.describe();
  EXPECT_FALSE(contains(commented.err, "warning")) << commented.err;
  const std::string cid = commented.out.substr(commented.out.find_last_of(' ') + 1);
  const CliResult human = cluster().cli("show", cid.substr(0, cid.find('\n')));
  EXPECT_TRUE(contains(human.out, "comment") && contains(human.out, "run 7 of the sweep")) << human.describe();

  // The human table lists it with -a, and history has it.
  const CliResult jobs_a = cluster().cli("jobs", "-a");
  EXPECT_EQ(jobs_a.code, 0) << jobs_a.describe();
  EXPECT_TRUE(contains(jobs_a.out, "SUCCEEDED")) << jobs_a.out;
}

TEST_F(LifecycleTest, OutputPatternsExpandIdAndName) {
  const std::string sub = cluster().work_dir() + "/sub";
  fs::create_directories(sub);
  CliOptions in_sub;
  in_sub.cwd = sub;
  const std::string id = cluster().submit(
      {"--name", "pat", "--output", "out-%x-%j.txt", "--error", "err-%j.txt", "--wrap", "echo out; echo err >&2"},
      in_sub);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
  // Relative patterns are relative to the directory the job was submitted from.
  EXPECT_EQ(read_file(sub + "/out-pat-" + id + ".txt"), "out\n");
  EXPECT_EQ(read_file(sub + "/err-" + id + ".txt"), "err\n");
  EXPECT_FALSE(fs::exists(sub + "/drover-" + id + ".out"));

  // An absolute pattern is used as is.
  const std::string abs = cluster().work_dir() + "/abs-%j.log";
  const std::string id2 = cluster().submit({"-o", abs, "--wrap", "pwd"}, in_sub);
  ASSERT_TRUE(cluster().wait_for_state(id2, "SUCCEEDED"));
  EXPECT_EQ(read_file(cluster().work_dir() + "/abs-" + id2 + ".log"), sub + "\n");
}

TEST_F(LifecycleTest, NonZeroExitFailsWithTheCode) {
  const std::string id = cluster().submit({"--wrap", "echo before; exit 3"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED"));
  const Json j = cluster().describe(id);
  EXPECT_EQ(first_container(j).value("exitCode", -1), 3) << j.dump(2);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "code 3")) << j.dump(2);
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + id + ".out"), "before\n");
}

TEST_F(LifecycleTest, JobKilledBySignalFails) {
  const std::string id = cluster().submit({"--wrap", "kill -USR1 $$; sleep 5"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED"));
  const Json j = cluster().describe(id);
  const Json c = first_container(j);
  EXPECT_FALSE(c.contains("exitCode")) << j.dump(2);
  EXPECT_EQ(c.value("signal", 0), SIGUSR1) << j.dump(2);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "signal " + std::to_string(SIGUSR1))) << j.dump(2);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "SIGUSR1")) << j.dump(2);
}

TEST_F(LifecycleTest, TimeLimitStopsTheJob) {
  const auto t0 = now_ms();
  const std::string id = cluster().submit({"-t", "0:02", "--wrap", "echo started; sleep 30"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 15000));
  const auto elapsed = now_ms() - t0;
  const Json j = cluster().describe(id);
  EXPECT_EQ(j.value("statusReason", ""), "Job attempt duration exceeded timeout") << j.dump(2);
  EXPECT_EQ(j["timeout"].value("attemptDurationSeconds", 0), 2) << j.dump(2);
  const auto ran = j.value("stoppedAt", 0LL) - j.value("startedAt", 0LL);
  EXPECT_GE(ran, 1900) << j.dump(2);
  EXPECT_LT(elapsed, 10000);
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + id + ".out"), "started\n");
}

TEST_F(LifecycleTest, TimeLimitSendsSigtermBeforeSigkill) {
  // The trap prints and ignores SIGTERM: the job must see it, then be killed
  // after the grace period (1 s here).
  const std::string script = cluster().work_dir() + "/trap.sh";
  write_file(script,
             "#!/bin/bash\n"
             "trap 'echo got SIGTERM' TERM\n"
             "echo started\n"
             "while true; do sleep 0.1; done\n",
             0755);
  const std::string id = cluster().submit({"-t", "0:02", script});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 15000));
  const Json j = cluster().describe(id);
  EXPECT_EQ(j.value("statusReason", ""), "Job attempt duration exceeded timeout") << j.dump(2);
  EXPECT_EQ(first_container(j).value("signal", 0), SIGKILL) << j.dump(2);
  const auto ran = j.value("stoppedAt", 0LL) - j.value("startedAt", 0LL);
  EXPECT_GE(ran, 2900) << "SIGKILL came before the grace period ended\n" << j.dump(2);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  EXPECT_TRUE(contains(out, "started\n")) << out;
  EXPECT_TRUE(contains(out, "got SIGTERM")) << out;
}

TEST_F(LifecycleTest, CancelQueuedJobs) {
  // Take every CPU, so that the next job has to wait for resources.
  const Json node = cluster().node_info();
  ASSERT_TRUE(node.is_object());
  const int vcpus = node.value("vcpus", 0);
  ASSERT_GT(vcpus, 0);
  const std::string blocker = cluster().submit({"-c", std::to_string(vcpus), "--wrap", "sleep 30"});
  ASSERT_TRUE(cluster().wait_for_state(blocker, "RUNNING"));
  const std::string waiting = cluster().submit({"--wrap", "echo should not run"});
  ASSERT_TRUE(cluster().wait_for_state(waiting, "RUNNABLE"));
  // And one that waits for a dependency.
  const std::string dependent = cluster().submit({"--dependency", "afterok:" + blocker, "--wrap", "echo no"});
  ASSERT_TRUE(cluster().wait_for_state(dependent, "PENDING"));

  const CliResult r = cluster().cli("cancel", waiting, dependent);
  EXPECT_EQ(r.code, 0) << r.describe();
  for (const auto& id : {waiting, dependent}) {
    ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 5000));
    const Json j = cluster().describe(id);
    EXPECT_EQ(j.value("statusReason", ""), "cancelled by user") << j.dump(2);
    EXPECT_TRUE(j["attempts"].empty()) << "a cancelled queued job never ran\n" << j.dump(2);
    EXPECT_FALSE(fs::exists(cluster().work_dir() + "/drover-" + id + ".out"));
  }
  // Cancelling again is harmless and says so.
  const CliResult again = cluster().cli("cancel", waiting);
  EXPECT_EQ(again.code, 0) << again.describe();
  EXPECT_TRUE(contains(again.err, "already finished")) << again.describe();
  // An unknown job is an error.
  const CliResult unknown = cluster().cli("cancel", "999999");
  EXPECT_NE(unknown.code, 0) << unknown.describe();
  EXPECT_TRUE(contains(unknown.err, "no such job")) << unknown.describe();
  EXPECT_EQ(cluster().state(blocker), "RUNNING");
}

TEST_F(LifecycleTest, CancelRunningJobKillsEveryProcess) {
  if (!cluster().has_cgroups()) GTEST_SKIP() << "no usable cgroups: a process that left the job's group escapes";
  const std::string marker = "drvmark" + std::to_string(::getpid());
  const std::string script = cluster().work_dir() + "/spawn.sh";
  // One child in the job's process group, one that leaves it with setsid.
  write_file(script,
             "#!/bin/sh\n"
             "sleep 1000 &\n"
             "setsid sleep 1001 &\n"
             "echo ready\n"
             "wait\n",
             0755);
  const std::string id = cluster().submit({"--env", "DRV_MARK=" + marker, script});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  // The script itself and both sleeps.
  ASSERT_TRUE(wait_until([&] { return live(marker).size() >= 3; }, 5000)) << live(marker).size();

  const auto t0 = now_ms();
  const CliResult r = cluster().cli("cancel", id);
  EXPECT_EQ(r.code, 0) << r.describe();
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 5000));
  EXPECT_LT(now_ms() - t0, 4000);
  const Json j = cluster().describe(id);
  EXPECT_EQ(j.value("statusReason", ""), "cancelled by user") << j.dump(2);
  ASSERT_EQ(j["attempts"].size(), 1u) << j.dump(2);
  // Once the job is reported ended, nothing of it may be left.
  EXPECT_TRUE(wait_until([&] { return live(marker).empty(); }, 1000))
      << live(marker).size() << " processes of the cancelled job are still running";
}

TEST_F(LifecycleTest, MemoryLimitKillsJobWithOutOfMemory) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3";
  if (!cluster().has_cgroups()) GTEST_SKIP() << "no usable cgroups: no memory limits";
  const std::string id = cluster().submit(
      {"--mem", "50M", "--wrap", "echo allocating; /usr/bin/python3 -c 'b = bytearray(300 << 20); print(len(b))'"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 15000));
  const Json j = cluster().describe(id);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "OutOfMemory")) << j.dump(2);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  EXPECT_TRUE(contains(out, "allocating")) << out;
  EXPECT_FALSE(contains(out, std::to_string(300 << 20))) << "the allocation succeeded:\n" << out;

  // The same job with enough memory succeeds: the limit, not the job, failed it.
  const std::string ok = cluster().submit(
      {"--mem", "600M", "--wrap", "/usr/bin/python3 -c 'b = bytearray(300 << 20); print(len(b))'"});
  ASSERT_TRUE(cluster().wait_for_state(ok, "SUCCEEDED", 15000));
}

TEST_F(LifecycleTest, LogsPrintsOutput) {
  const std::string id = cluster().submit({"--wrap", "echo line one; echo line two"});
  ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
  const CliResult r = cluster().cli("logs", id);
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "line one\nline two\n");

  const CliResult missing = cluster().cli("logs", "424242");
  EXPECT_NE(missing.code, 0) << missing.describe();
  EXPECT_TRUE(contains(missing.err, "424242")) << missing.describe();
}

TEST_F(LifecycleTest, LogsFollowReadsUntilTheJobEnds) {
  const std::string id = cluster().submit(
      {"--wrap", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.2; done; echo done"});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const CliResult r = cluster().cli("logs", "-f", id);
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(r.out, "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\ntick 6\ndone\n");
  // -f returns only once the job has ended.
  EXPECT_EQ(cluster().state(id), "SUCCEEDED");
}


TEST_F(LifecycleTest, JobThatCannotStartFailsWithTheReason) {
  const std::string missing = cluster().work_dir() + "/no/such/dir";
  const std::string id = cluster().submit({"-D", missing, "--wrap", "echo never"});
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED"));
  const Json j = cluster().describe(id);
  const std::string reason = j.value("statusReason", "");
  EXPECT_TRUE(contains(reason, "cannot change to working directory " + missing)) << j.dump(2);
  EXPECT_TRUE(contains(reason, "No such file or directory")) << j.dump(2);

  const std::string id2 = cluster().submit({"-o", "missing-dir/out-%j.txt", "--wrap", "echo never"});
  ASSERT_TRUE(cluster().wait_for_state(id2, "FAILED"));
  const Json j2 = cluster().describe(id2);
  EXPECT_TRUE(contains(j2.value("statusReason", ""), "cannot open output file " + cluster().work_dir() +
                                                         "/missing-dir/out-" + id2 + ".txt"))
      << j2.dump(2);
  // The node is fine afterwards.
  const std::string ok = cluster().submit({"--wrap", "true"});
  EXPECT_TRUE(cluster().wait_for_state(ok, "SUCCEEDED"));
}


TEST_F(LifecycleTest, LogsAreByteExact) {
  // A two-byte UTF-8 character across the 1 MiB boundary of ReadLog's chunks.
  const std::string split = cluster().submit(
      {"--wrap", "head -c 1048575 /dev/zero | tr '\\0' a; printf '\\303\\251 end\\n'"});
  // Bytes that are not UTF-8 at all: Latin-1 text and binary.
  const std::string latin1 = cluster().submit({"--wrap", "printf 'caf\\351\\n\\000\\001\\377\\376 binary\\n'"});
  for (const auto& id : {split, latin1}) {
    ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
    const std::string file = read_file(cluster().work_dir() + "/drover-" + id + ".out");
    const CliResult r = cluster().cli("logs", id);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out.size(), file.size()) << "job " << id;
    EXPECT_TRUE(r.out == file) << "job " << id << ": `drover logs` differs from the output file";
  }
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + latin1 + ".out"),
            std::string("caf\351\n\000\001\377\376 binary\n", 17));
}


TEST_F(LifecycleTest, LogsFollowShowsEveryAttempt) {
  // Each attempt writes its output file anew; -f must not skip the start of the
  // second attempt's output because it had read that far into the first one's.
  const std::string id = cluster().submit(
      {"--retry", "2", "--wrap",
       "n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count; "
       "echo \"attempt $n start\"; sleep 0.5; echo \"attempt $n end\"; [ $n -ge 2 ]"});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const CliResult r = cluster().cli("logs", "-f", id);
  EXPECT_EQ(r.code, 0) << r.describe();
  ASSERT_EQ(cluster().state(id), "SUCCEEDED");
  EXPECT_TRUE(contains(r.out, "attempt 2 start\nattempt 2 end\n")) << r.out;
  EXPECT_EQ(cluster().cli("logs", id).out, "attempt 2 start\nattempt 2 end\n");
}

}  // namespace
}  // namespace drover::it
