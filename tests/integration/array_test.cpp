// Array jobs through the real daemons: every task runs with its index, the
// throttle holds, failures and cancels are per task, the parent summarizes,
// dependencies wait for the whole array, and a head restart loses nothing.
#include <algorithm>
#include <map>

#include "cluster.hpp"

namespace drover::it {
namespace {

using ArrayTest = ClusterTest;

// The most tasks whose [startedAt, stoppedAt] intervals overlap at one time.
int max_overlap(const std::vector<Json>& tasks) {
  std::vector<std::pair<std::int64_t, int>> ev;
  for (const auto& t : tasks) {
    ev.emplace_back(t.value("startedAt", 0LL), 1);
    ev.emplace_back(t.value("stoppedAt", 0LL), -1);
  }
  std::sort(ev.begin(), ev.end());  // an end sorts before a start at the same instant
  int now = 0, most = 0;
  for (const auto& e : ev) most = std::max(most, now += e.second);
  return most;
}

TEST_F(ArrayTest, EveryTaskRunsWithItsIndexUnderTheThrottle) {
  const std::string a = cluster().submit(
      {"--array=0-9:3,20%2", "--wrap",
       "sleep 0.2; echo $SLURM_ARRAY_TASK_ID $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_COUNT "
       "$SLURM_ARRAY_TASK_MIN $SLURM_ARRAY_TASK_MAX $AWS_BATCH_JOB_ID $DROVER_ARRAY_INDEX"});
  ASSERT_FALSE(a.empty());
  const Json p = cluster().wait_for_end(a, 20000);
  ASSERT_EQ(p.value("status", ""), "SUCCEEDED") << p.dump(2);
  const Json& ap = p["arrayProperties"];
  EXPECT_EQ(ap.value("size", 0), 5);
  EXPECT_EQ(ap.value("indexes", ""), "0-9:3,20");
  EXPECT_EQ(ap["statusSummary"].value("SUCCEEDED", 0), 5) << p.dump(2);
  EXPECT_EQ(ap["statusSummary"].value("RUNNABLE", -1), 0);

  std::vector<Json> tasks;
  for (int i : {0, 3, 6, 9, 20}) {
    const std::string name = a + "_" + std::to_string(i);
    EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + name + ".out"),
              std::to_string(i) + " " + a + " 5 0 20 " + a + ":" + std::to_string(i) + " " +
                  std::to_string(i) + "\n");
    const Json t = cluster().describe(name);
    ASSERT_TRUE(t.is_object()) << name;
    EXPECT_EQ(t.value("status", ""), "SUCCEEDED");
    EXPECT_EQ(t["arrayProperties"].value("index", -1), i);
    EXPECT_EQ(t["arrayProperties"].value("parentJobId", ""), a);
    EXPECT_NE(t.value("jobId", ""), a);  // a task has an id of its own
    // ... which names the same task ("123:5" is AWS Batch's spelling).
    EXPECT_EQ(cluster().describe(t.value("jobId", "")).value("jobId", ""), t.value("jobId", ""));
    EXPECT_EQ(cluster().describe(a + ":" + std::to_string(i)).value("jobId", ""), t.value("jobId", ""));
    tasks.push_back(t);
  }
  EXPECT_LE(max_overlap(tasks), 2) << "the throttle %2 was exceeded";
  // The first two start at once; later ones wait for a slot.
  std::vector<std::int64_t> starts;
  for (const auto& t : tasks) starts.push_back(t.value("startedAt", 0LL));
  EXPECT_TRUE(std::is_sorted(starts.begin(), starts.end())) << "tasks start in index order";
}

// The head keeps a few arrays' payloads in memory for their tasks' launches:
// with more arrays than it keeps, every task still runs its own array's
// command and is described with what its own array was submitted with.
TEST_F(ArrayTest, ManyArraysEachRunTheirOwnCommand) {
  // Each array with an environment of its own, too: the agent holds fewer
  // arrays' environments (8 by the head's count) than there are here.
  std::vector<std::string> ids;
  for (int k = 0; k < 10; ++k) {
    CliOptions o;
    o.env = {{"DROVER_IT_ARRAY", "env" + std::to_string(k)}};
    ids.push_back(cluster().submit(
        {"--array=0-2", "--wrap", "echo array" + std::to_string(k) + " $SLURM_ARRAY_TASK_ID $DROVER_IT_ARRAY"}, o));
  }
  for (int k = 0; k < 10; ++k) {
    ASSERT_FALSE(ids[k].empty());
    EXPECT_EQ(cluster().wait_for_end(ids[k], 20000).value("status", ""), "SUCCEEDED") << k;
  }
  for (int k = 0; k < 10; ++k)
    for (int i = 0; i < 3; ++i) {
      const std::string name = ids[k] + "_" + std::to_string(i);
      EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + name + ".out"),
                "array" + std::to_string(k) + " " + std::to_string(i) + " env" + std::to_string(k) + "\n");
      const Json t = cluster().describe(name);
      ASSERT_TRUE(t.contains("submitOptions")) << t.dump(2);
      EXPECT_EQ(t["submitOptions"].value("wrap", ""),
                "echo array" + std::to_string(k) + " $SLURM_ARRAY_TASK_ID $DROVER_IT_ARRAY");
    }
}

TEST_F(ArrayTest, AFailedTaskFailsTheArrayAndTheOthersStillRun) {
  const std::string a = cluster().submit({"--array=0-3", "--wrap", "test $SLURM_ARRAY_TASK_ID != 2"});
  const Json p = cluster().wait_for_end(a, 20000);
  EXPECT_EQ(p.value("status", ""), "FAILED");
  EXPECT_EQ(p.value("statusReason", ""), "1 of 4 tasks failed");
  EXPECT_EQ(p["arrayProperties"]["statusSummary"].value("SUCCEEDED", 0), 3);
  EXPECT_EQ(cluster().describe(a + "_2").value("status", ""), "FAILED");
  EXPECT_EQ(cluster().describe(a + "_3").value("status", ""), "SUCCEEDED");
  // A job after the array waits for all of it: afterok can no longer be met.
  const std::string after = cluster().submit({"--dependency", "afterany:" + a, "--wrap", "echo after"});
  EXPECT_EQ(cluster().wait_for_end(after).value("status", ""), "SUCCEEDED");
}

TEST_F(ArrayTest, RetriesArePerTask) {
  // Task 1 fails on its first attempt only.
  const std::string a = cluster().submit(
      {"--array=0-2", "--wrap",
       "if [ $SLURM_ARRAY_TASK_ID = 1 ] && [ $AWS_BATCH_JOB_ATTEMPT = 1 ]; then exit 5; fi"},
      CliOptions{});
  ASSERT_FALSE(a.empty());
  // The CLI has no retry option; ask the API for an array with attempts 2.
  auto c = cluster().api();
  ASSERT_TRUE(c);
  auto r = c->call("SubmitJob", Json{{"jobName", "retry"},
                                     {"command", {"/bin/sh", "-c", "if [ $AWS_BATCH_JOB_ARRAY_INDEX = 1 ] && [ $AWS_BATCH_JOB_ATTEMPT = 1 ]; then exit 5; fi"}},
                                     {"workingDirectory", cluster().work_dir()},
                                     {"arrayProperties", {{"size", 3}}},
                                     {"retryStrategy", {{"attempts", 2}}}});
  ASSERT_TRUE(r) << r.message();
  const std::string id = (*r).value("jobId", "");
  EXPECT_EQ(cluster().wait_for_end(id, 20000).value("status", ""), "SUCCEEDED");
  const Json t1 = cluster().describe(id + ":1");
  EXPECT_EQ(t1["attempts"].size(), 2u) << t1.dump(2);
  EXPECT_EQ(cluster().describe(id + ":0")["attempts"].size(), 1u);
  // Without retries the same failure fails the array.
  EXPECT_EQ(cluster().wait_for_end(a, 20000).value("status", ""), "FAILED");
}

TEST_F(ArrayTest, CancelRangesThenTheWholeArray) {
  const std::string a = cluster().submit({"--array=0-99%1", "--wrap", "sleep 60"});
  ASSERT_TRUE(cluster().wait_for_state(a + "_0", "RUNNING"));
  CliResult r = cluster().cli("cancel", a + "_[10-99]");
  ASSERT_EQ(r.code, 0) << r.describe();
  Json p = cluster().describe(a);
  EXPECT_EQ(p["arrayProperties"].value("cancelled", 0), 90) << p.dump(2);
  EXPECT_EQ(p["arrayProperties"].value("pendingIndexes", ""), "1-9");
  EXPECT_EQ(cluster().describe(a + "_50").value("status", ""), "FAILED");
  EXPECT_EQ(cluster().describe(a + "_5").value("status", ""), "RUNNABLE");
  EXPECT_EQ(cluster().describe(a + "_5").value("pendingReason", ""), "ArrayThrottle");

  // squeue-style: the tasks not started in one row, the running one in its own.
  r = cluster().cli("jobs");
  EXPECT_TRUE(contains(r.out, a + "_[1-9%1]")) << r.out;
  EXPECT_TRUE(contains(r.out, a + "_0 ")) << r.out;
  EXPECT_TRUE(contains(r.out, "(ArrayThrottle)")) << r.out;

  r = cluster().cli("cancel", a + "_5");
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(cluster().describe(a).value("arrayProperties", Json::object()).value("pendingIndexes", ""), "1-4,6-9");

  r = cluster().cli("cancel", a);
  ASSERT_EQ(r.code, 0) << r.describe();
  p = cluster().wait_for_end(a);
  EXPECT_EQ(p.value("status", ""), "FAILED");
  EXPECT_EQ(p.value("statusReason", ""), "cancelled by user");
  EXPECT_EQ(p["arrayProperties"]["statusSummary"].value("FAILED", 0), 100);
  const Json t0 = cluster().describe(a + "_0");
  EXPECT_EQ(t0.value("status", ""), "FAILED");
  EXPECT_EQ(t0.value("statusReason", ""), "cancelled by user");
}

TEST_F(ArrayTest, ADependentJobWaitsForEveryTask) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string a = cluster().submit(
      {"--array=1-3", "--wrap",
       "if [ $SLURM_ARRAY_TASK_ID = 3 ]; then while [ ! -e " + gate + " ]; do sleep 0.05; done; fi"});
  const std::string b = cluster().submit({"--dependency", "afterok:" + a, "--wrap", "echo b"});
  ASSERT_TRUE(cluster().wait_for_state(a + "_1", "SUCCEEDED"));
  ASSERT_TRUE(cluster().wait_for_state(a + "_3", "RUNNING"));
  EXPECT_EQ(cluster().describe(b).value("status", ""), "PENDING");
  write_file(gate, "");
  EXPECT_EQ(cluster().wait_for_end(b).value("status", ""), "SUCCEEDED");
}

TEST_F(ArrayTest, SurvivesAHeadRestart) {
  const std::string a = cluster().submit({"--array=0-5%1", "--wrap", "sleep 0.3; echo $SLURM_ARRAY_TASK_ID"});
  ASSERT_TRUE(cluster().wait_for_state(a + "_1", "RUNNING", 10000));
  ASSERT_EQ(cluster().restart_head(), "");
  const Json p = cluster().wait_for_end(a, 30000);
  EXPECT_EQ(p.value("status", ""), "SUCCEEDED") << p.dump(2) << cluster().logs();
  for (int i = 0; i <= 5; ++i)
    EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + a + "_" + std::to_string(i) + ".out"),
              std::to_string(i) + "\n");
}

// An array's tasks share the submitter's environment, which the head sends an
// agent once (then each task's order carries only its own variables): every
// task sees the submitter's variables, its own Drover and Slurm variables over
// any the submitter had of those names, none of the submitter's GPU variables,
// and all of that again after a head restart and after an agent restart (new
// connections, on which the head must send the environment again).
TEST_F(ArrayTest, EveryTaskGetsTheSubmittersEnvironmentAndItsOwnVariables) {
  CliOptions o;
  o.env = {{"DROVER_IT_COLOR", "teal"}, {"DROVER_JOB_ID", "bogus"}, {"CUDA_VISIBLE_DEVICES", "7"},
           {"SLURM_ARRAY_TASK_ID", "99"}};
  const std::string a = cluster().submit(
      {"--array=0-5%1", "--wrap",
       "sleep 0.3; echo $DROVER_IT_COLOR $SLURM_ARRAY_TASK_ID $DROVER_JOB_ID ${CUDA_VISIBLE_DEVICES-none}"},
      o);
  ASSERT_FALSE(a.empty());
  ASSERT_TRUE(cluster().wait_for_state(a + "_2", "RUNNING", 10000));
  ASSERT_EQ(cluster().restart_head(), "");
  ASSERT_TRUE(cluster().wait_for_state(a + "_4", "RUNNING", 10000));
  ASSERT_EQ(cluster().restart_agent(), "");  // task 4 is killed with it (and not retried: one attempt)
  const Json p = cluster().wait_for_end(a, 30000);
  EXPECT_EQ(p["arrayProperties"]["statusSummary"].value("SUCCEEDED", 0), 5) << p.dump(2) << cluster().logs();
  EXPECT_EQ(cluster().describe(a + "_4").value("status", ""), "FAILED");
  for (int i : {0, 1, 2, 3, 5}) {
    const std::string name = a + "_" + std::to_string(i);
    const std::string id = cluster().describe(name).value("jobId", "");
    EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + name + ".out"),
              "teal " + std::to_string(i) + " " + id + " none\n")
        << name;
  }
}

TEST_F(ArrayTest, BadArraysAreRefusedAtSubmit) {
  struct Case {
    const char* spec;
    const char* says;
  };
  for (const Case& c : {Case{"0-99999999", "at most 1000000"}, Case{"1-5%0", "%0"},
                        Case{"5-1", "reversed"}, Case{"x", "not an index"}}) {
    const CliResult r = cluster().cli("submit", std::string("--array=") + c.spec, "--wrap", "true");
    EXPECT_NE(r.code, 0) << c.spec;
    EXPECT_TRUE(contains(r.err, c.says)) << c.spec << ": " << r.err;
  }
  auto api = cluster().api();
  ASSERT_TRUE(api);
  auto r = api->call("SubmitJob", Json{{"command", {"true"}},
                                       {"workingDirectory", cluster().work_dir()},
                                       {"arrayProperties", {{"size", 0}}}});
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.message(), "arrayProperties.size")) << r.message();
  EXPECT_TRUE(cluster().cli("jobs", "--all").out.find("true") == std::string::npos);
}

}  // namespace
}  // namespace drover::it
