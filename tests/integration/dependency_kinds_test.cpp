// The dependency kinds beyond ',' of afterok/afterany/afternotok/after, with the
// real daemons and real jobs: '?' (any of), a task of an array (afterok:42_7),
// after:ID+MINUTES (waits with reason Dependency and a start time; the timing
// itself is tested with a fake clock in sched_dependency_test), singleton,
// aftercorr, and AWS Batch's N_TO_N and SEQUENTIAL through the API; plus what
// is refused, a waiting job surviving a head restart, and targets the head
// has forgotten (read back from the store).
#include "cluster.hpp"

namespace drover::it {
namespace {

using DependencyKindsTest = ClusterTest;

std::int64_t at(const Json& j, const char* key) { return j.value(key, std::int64_t{0}); }

// A job that runs until `gate` exists.
std::vector<std::string> gated(const std::string& gate, std::vector<std::string> more = {}) {
  more.insert(more.end(), {"--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done"});
  return more;
}

TEST_F(DependencyKindsTest, AnyOfStartsOnTheFirstAndFailsOnlyWhenNoneCanBeMet) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string slow = cluster().submit(gated(gate));
  const std::string quick = cluster().submit({"--wrap", "true"});
  const std::string any = cluster().submit({"--dependency", "afterok:" + slow + "?afterok:" + quick, "--wrap", "echo any"});
  // Runs though `slow` still runs: one of the two is enough.
  EXPECT_TRUE(cluster().wait_for_state(any, "SUCCEEDED"));
  EXPECT_EQ(cluster().state(slow), "RUNNING");
  const Json j = cluster().describe(any);
  EXPECT_EQ(j.value("dependsOnAny", false), true) << j.dump(2);
  ASSERT_EQ(j["dependsOn"].size(), 2u);
  const CliResult show = cluster().cli("show", any);
  EXPECT_TRUE(contains(show.out, "afterok:" + slow + " or afterok:" + quick)) << show.out;

  const std::string bad = cluster().submit({"--wrap", "exit 3"});
  ASSERT_TRUE(cluster().wait_for_state(bad, "FAILED"));
  // afterok on a failed job, or afternotok on one that will succeed: neither can be met.
  const std::string never = cluster().submit(
      {"--dependency", "afterok:" + bad + "?afternotok:" + slow, "--wrap", "echo must not run"});
  ASSERT_TRUE(cluster().wait_for_state(never, "PENDING"));  // slow may still fail
  write_file(gate, "");
  const Json n = finished(never);
  EXPECT_EQ(n.value("status", ""), "FAILED");
  const std::string reason = n.value("statusReason", "");
  EXPECT_TRUE(contains(reason, "DependencyNeverSatisfied")) << reason;
  EXPECT_TRUE(contains(reason, "job " + bad + " ended FAILED")) << reason;
  EXPECT_TRUE(contains(reason, "job " + slow + " ended SUCCEEDED")) << reason;
  EXPECT_TRUE(n["attempts"].empty());
}

TEST_F(DependencyKindsTest, ATaskOfAnArray) {
  const std::string gate = cluster().work_dir() + "/gate";
  // Task 1 waits for the gate; the others end at once.
  const std::string array = cluster().submit(
      {"--array=0-3", "--wrap",
       "if [ $SLURM_ARRAY_TASK_ID = 1 ]; then while [ ! -e " + gate + " ]; do sleep 0.05; done; fi"});
  const std::string after0 = cluster().submit({"--dependency", "afterok:" + array + "_0", "--wrap", "true"});
  const std::string after1 = cluster().submit({"--dependency", "afterok:" + array + "_1", "--wrap", "true"});
  EXPECT_TRUE(cluster().wait_for_state(after0, "SUCCEEDED"));
  EXPECT_EQ(cluster().state(after1), "PENDING");  // task 1 still runs
  const Json p = cluster().describe(after1);
  EXPECT_EQ(p["dependsOn"][0].value("jobId", ""), array + "_1") << p.dump(2);
  write_file(gate, "");
  EXPECT_TRUE(cluster().wait_for_state(after1, "SUCCEEDED"));

  const CliResult missing = cluster().cli("submit", "--dependency", "afterok:" + array + "_9", "--wrap", "true");
  EXPECT_NE(missing.code, 0);
  EXPECT_TRUE(contains(missing.err, "dependsOn")) << missing.err;
  EXPECT_TRUE(contains(missing.err, "has no task 9")) << missing.err;
  const CliResult plain = cluster().cli("submit", "--dependency", "afterok:" + after0 + "_1", "--wrap", "true");
  EXPECT_NE(plain.code, 0);
  EXPECT_TRUE(contains(plain.err, "is not an array")) << plain.err;
}

TEST_F(DependencyKindsTest, AfterMinutesWaitsWithItsTime) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string first = cluster().submit(gated(gate));
  ASSERT_TRUE(cluster().wait_for_state(first, "RUNNING"));
  const std::string later = cluster().submit({"--dependency", "after:" + first + "+1", "--wrap", "echo later"});
  // Met (job `first` started) but not for a minute: RUNNABLE, reason Dependency,
  // expected to start a minute after `first` did.
  const std::int64_t started = at(cluster().describe(first), "startedAt");
  Json j;
  ASSERT_TRUE(wait_until(
      [&] {
        j = cluster().describe(later);
        return j.value("pendingReason", "") == "Dependency";
      },
      5000))
      << j.dump(2);
  EXPECT_EQ(j.value("status", ""), "RUNNABLE");
  // Kept in whole seconds, rounded up: never early, at most a second late.
  const std::int64_t due = (started + 60'000 + 999) / 1000 * 1000;
  EXPECT_EQ(at(j, "dependenciesReadyAt"), due) << j.dump(2);
  EXPECT_EQ(at(j, "estimatedStartAt"), due) << j.dump(2);
  EXPECT_EQ(j["dependsOn"][0].value("minutes", 0), 1);
  const CliResult show = cluster().cli("show", later);
  EXPECT_TRUE(contains(show.out, "after:" + first + "+1")) << show.out;
  EXPECT_TRUE(contains(show.out, "may start")) << show.out;
  // Not started early, though a core is free.
  sleep_ms(1500);
  EXPECT_EQ(cluster().state(later), "RUNNABLE");
  EXPECT_TRUE(cluster().describe(later)["attempts"].empty());

  // The wait survives a restart of the head.
  ASSERT_EQ(cluster().restart_head(), "");
  ASSERT_TRUE(wait_until([&] { return cluster().describe(later).value("pendingReason", "") == "Dependency"; }, 5000));
  EXPECT_EQ(at(cluster().describe(later), "dependenciesReadyAt"), due);
  EXPECT_EQ(cluster().state(later), "RUNNABLE");
  write_file(gate, "");
  ASSERT_EQ(cluster().cli("cancel", later).code, 0);
}

TEST_F(DependencyKindsTest, SingletonRunsOneJobOfANameAtATime) {
  const Json node = cluster().node_info();
  if (node.value("vcpus", 0) < 2) GTEST_SKIP() << "needs 2 CPUs to show that the second job could have run";
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string one = cluster().submit(gated(gate, {"-J", "solo", "--dependency", "singleton"}));
  ASSERT_TRUE(cluster().wait_for_state(one, "RUNNING"));
  const std::string two = cluster().submit({"-J", "solo", "--dependency", "singleton", "--wrap", "true"});
  const std::string other = cluster().submit({"-J", "other", "--dependency", "singleton", "--wrap", "true"});
  EXPECT_TRUE(cluster().wait_for_state(other, "SUCCEEDED"));  // another name: not held back
  Json j;
  ASSERT_TRUE(wait_until(
      [&] {
        j = cluster().describe(two);
        return j.value("pendingReason", "") == "Dependency";
      },
      5000))
      << j.dump(2);
  EXPECT_EQ(j.value("status", ""), "RUNNABLE");
  write_file(gate, "");
  const Json done = finished(two);
  EXPECT_EQ(done.value("status", ""), "SUCCEEDED");
  EXPECT_GE(at(done, "startedAt"), at(cluster().describe(one), "stoppedAt"));
}

TEST_F(DependencyKindsTest, AftercorrMatchesTasksByIndex) {
  // Task 1 of the first array fails; the second array's task 1 never starts.
  const std::string first = cluster().submit(
      {"--array=0-2", "--wrap", "[ $SLURM_ARRAY_TASK_ID != 1 ]"});
  const std::string second = cluster().submit({"--array=0-2", "--dependency", "aftercorr:" + first, "--wrap",
                                               "echo $SLURM_ARRAY_TASK_ID"});
  const Json s = finished(second, 20000);
  EXPECT_EQ(s.value("status", ""), "FAILED");
  EXPECT_TRUE(contains(s.value("statusReason", ""), "never started")) << s.dump(2);
  EXPECT_EQ(s["arrayProperties"].value("dependencyFailedIndexes", ""), "1") << s.dump(2);
  for (const char* index : {"0", "2"}) {
    const Json task = cluster().describe(second + "_" + index);
    EXPECT_EQ(task.value("status", ""), "SUCCEEDED") << task.dump(2);
    const Json counterpart = cluster().describe(first + "_" + index);
    EXPECT_GE(at(task, "startedAt"), at(counterpart, "stoppedAt"));
  }
  const Json never = cluster().describe(second + "_1");
  EXPECT_EQ(never.value("status", ""), "FAILED");
  EXPECT_TRUE(contains(never.value("statusReason", ""), "never started")) << never.dump(2);
  EXPECT_FALSE(fs::exists(cluster().work_dir() + "/drover-" + second + "_1.out"));

  const CliResult not_array = cluster().cli("submit", "--dependency", "aftercorr:" + first, "--wrap", "true");
  EXPECT_NE(not_array.code, 0);
  EXPECT_TRUE(contains(not_array.err, "this job is not an array")) << not_array.err;
}

TEST_F(DependencyKindsTest, AwsNToNAndSequentialThroughTheApi) {
  auto api = cluster().api();
  ASSERT_TRUE(api);
  auto submit = [&](Json args) -> std::string {
    args["workingDirectory"] = cluster().work_dir();
    auto r = api->call("SubmitJob", args);
    EXPECT_TRUE(r) << r.message();
    return r ? (*r).value("jobId", "") : "";
  };
  // Each task appends its index to one file: SEQUENTIAL keeps them in order.
  const std::string seq = submit({{"jobName", "seq"},
                                  {"script", "#!/bin/sh\nsleep 0.2; echo $AWS_BATCH_JOB_ARRAY_INDEX >> order.txt\n"},
                                  {"arrayProperties", {{"size", 3}}},
                                  {"dependsOn", Json::array({{{"type", "SEQUENTIAL"}}})}});
  const std::string n2n = submit({{"jobName", "n2n"},
                                  {"command", {"true"}},
                                  {"arrayProperties", {{"size", 3}}},
                                  {"dependsOn", Json::array({{{"jobId", seq}, {"type", "N_TO_N"}}})}});
  EXPECT_EQ(finished(seq, 20000).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(read_file(cluster().work_dir() + "/order.txt"), "0\n1\n2\n");
  const Json n = finished(n2n, 20000);
  EXPECT_EQ(n.value("status", ""), "SUCCEEDED");
  EXPECT_EQ(n["dependsOn"][0].value("type", ""), "aftercorr");  // N_TO_N is Slurm's aftercorr
  for (int i = 0; i < 3; ++i)
    EXPECT_GE(at(cluster().describe(n2n + "_" + std::to_string(i)), "startedAt"),
              at(cluster().describe(seq + "_" + std::to_string(i)), "stoppedAt"));

  auto r = api->call("SubmitJob", Json{{"command", {"true"}},
                                       {"workingDirectory", cluster().work_dir()},
                                       {"dependsOn", Json::array({{{"type", "SEQUENTIAL"}}})}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.message(), "SEQUENTIAL is for array jobs")) << r.message();
}

TEST_F(DependencyKindsTest, AfterburstbufferIsStillRefused) {
  const CliResult r = cluster().cli("submit", "--dependency", "afterburstbuffer:1", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "afterburstbuffer")) << r.err;
}

// Finished jobs leave the head's memory after --keep-finished; a new dependency
// on one of them, or on one of its tasks, reads it back from the store.
class ForgottenTargetsTest : public ClusterTest {
  Cluster::Config config() const override {
    Cluster::Config c;
    c.head_args = {"--keep-finished", "0.3"};
    return c;
  }
};

TEST_F(ForgottenTargetsTest, TasksAndArraysAreRecalled) {
  const std::string array = cluster().submit({"--array=0-2", "--wrap", "[ $SLURM_ARRAY_TASK_ID != 1 ]"});
  ASSERT_TRUE(cluster().wait_for_state(array, "FAILED"));
  ASSERT_TRUE(wait_until([&] { return contains(cluster().head_log(), "forgot 4 finished jobs"); }, 5000, 50))
      << cluster().logs();

  const std::string ok = cluster().submit({"--dependency", "afterok:" + array + "_0", "--wrap", "true"});
  EXPECT_TRUE(cluster().wait_for_state(ok, "SUCCEEDED"));
  const CliResult never = cluster().cli("submit", "--dependency", "afterok:" + array + "_1", "--wrap", "true");
  EXPECT_NE(never.code, 0);
  EXPECT_TRUE(contains(never.err, "afterok:" + array + "_1 can never be satisfied")) << never.err;
  const std::string either = cluster().submit(
      {"--dependency", "afterok:" + array + "_1?afternotok:" + array + "_1", "--wrap", "true"});
  EXPECT_TRUE(cluster().wait_for_state(either, "SUCCEEDED"));

  const std::string corr = cluster().submit({"--array=0-2", "--dependency", "aftercorr:" + array, "--wrap", "true"});
  const Json c = finished(corr);
  EXPECT_EQ(c.value("status", ""), "FAILED");
  EXPECT_EQ(c["arrayProperties"].value("dependencyFailedIndexes", ""), "1") << c.dump(2);
  EXPECT_EQ(c["arrayProperties"]["statusSummary"].value("SUCCEEDED", 0), 2) << c.dump(2);
}

}  // namespace
}  // namespace drover::it
