// droverd crashes (SIGKILL) and comes back: nothing acknowledged is lost, running
// jobs keep running on their node and are re-synced, queued jobs then run.
#include "cluster.hpp"

namespace drover::it {
namespace {

using HeadRestartTest = ClusterTest;

// A job that runs until the test creates `gate` (no timing assumptions).
std::string gated(const std::string& gate, const std::string& then) {
  return "echo begin; while [ ! -e " + gate + " ]; do sleep 0.05; done; " + then;
}

TEST_F(HeadRestartTest, RunningAndQueuedJobsSurviveAHeadCrash) {
  const Json node = cluster().node_info();
  const int vcpus = node.value("vcpus", 0);
  ASSERT_GT(vcpus, 0);
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string running = cluster().submit({"-c", std::to_string(vcpus), "--wrap", gated(gate, "echo end")});
  ASSERT_TRUE(cluster().wait_for_state(running, "RUNNING"));
  const std::string queued1 = cluster().submit({"--wrap", "echo q1"});
  const std::string queued2 = cluster().submit({"--name", "second", "--wrap", "echo q2"});
  const std::string dependent = cluster().submit({"--dependency", "afterok:" + running, "--wrap", "echo dep"});
  const std::string failed = cluster().submit({"--dependency", "afternotok:" + running, "--wrap", "echo never"});
  ASSERT_TRUE(cluster().wait_for_state(queued1, "RUNNABLE"));
  ASSERT_TRUE(cluster().wait_for_state(queued2, "RUNNABLE"));
  ASSERT_TRUE(cluster().wait_for_state(dependent, "PENDING"));
  ASSERT_TRUE(cluster().wait_for_state(failed, "PENDING"));
  const std::vector<std::string> ids = {running, queued1, queued2, dependent, failed};
  std::map<std::string, Json> before;
  for (const auto& id : ids) before[id] = cluster().describe(id);

  cluster().kill_head(SIGKILL);
  // With the head gone the CLI says so plainly, and the job keeps running.
  EXPECT_FALSE(cluster().api().has_value());
  const CliResult down = cluster().cli("jobs");
  EXPECT_NE(down.code, 0) << down.describe();
  EXPECT_TRUE(contains(down.err, "cannot reach droverd at " + cluster().socket())) << down.describe();
  EXPECT_FALSE(fs::exists(gate));
  ASSERT_EQ(cluster().restart_head(), "");

  for (const auto& id : ids) {
    const Json after = cluster().describe(id);
    ASSERT_TRUE(after.is_object()) << "job " << id << " is gone after the restart";
    EXPECT_EQ(after.value("status", ""), before[id].value("status", "")) << after.dump(2);
    EXPECT_EQ(after.value("jobName", ""), before[id].value("jobName", ""));
    EXPECT_EQ(after.value("createdAt", 0LL), before[id].value("createdAt", 0LL));
    EXPECT_EQ(after["attempts"].size(), before[id]["attempts"].size()) << after.dump(2);
  }
  const Json r = cluster().describe(running);
  EXPECT_EQ(r.value("status", ""), "RUNNING");
  EXPECT_EQ(r.value("startedAt", 0LL), before[running].value("startedAt", 0LL));

  // The same process finishes the job: one attempt, output from before and after.
  write_file(gate, "");
  ASSERT_TRUE(cluster().wait_for_state(running, "SUCCEEDED"));
  const Json done = cluster().describe(running);
  EXPECT_EQ(done["attempts"].size(), 1u) << done.dump(2);
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + running + ".out"), "begin\nend\n");
  for (const auto& id : {queued1, queued2, dependent}) EXPECT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
  EXPECT_TRUE(cluster().wait_for_state(failed, "FAILED"));
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + queued2 + ".out"), "q2\n");
}

TEST_F(HeadRestartTest, JobThatEndsWhileTheHeadIsDownIsReportedAfterwards) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string id = cluster().submit({"--wrap", gated(gate, "exit 4")});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  cluster().kill_head(SIGKILL);
  write_file(gate, "");
  // Wait until the job is over on the node, with no head to tell.
  ASSERT_TRUE(wait_until([&] { return contains(cluster().agent_log(), "job " + id + " ended"); }, 5000))
      << cluster().logs();
  ASSERT_EQ(cluster().restart_head(), "");
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED"));
  const Json j = cluster().describe(id);
  EXPECT_EQ(j["attempts"][0]["container"].value("exitCode", -1), 4) << j.dump(2);
}

TEST_F(HeadRestartTest, EveryAcknowledgedSubmitSurvivesSigkill) {
  const Json node = cluster().node_info();
  const int vcpus = node.value("vcpus", 0);
  const std::string gate = cluster().work_dir() + "/gate";
  // Hold the node so that all of them are still queued at the crash.
  const std::string blocker = cluster().submit({"-c", std::to_string(vcpus), "--wrap", gated(gate, "true")});
  ASSERT_FALSE(blocker.empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const std::string id = cluster().submit({"--name", "many" + std::to_string(i), "--wrap", "echo " + std::to_string(i)});
    ASSERT_FALSE(id.empty()) << "submit " << i;
    ids.push_back(id);
  }
  // Right after the last acknowledgement.
  cluster().kill_head(SIGKILL);
  ASSERT_EQ(cluster().restart_head(), "");

  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size()) << "job ids were handed out twice";
  auto c = cluster().api();
  ASSERT_TRUE(c.has_value());
  auto r = c->call("DescribeJobs", Json{{"jobs", ids}});
  ASSERT_TRUE(r.has_value()) << r.message();
  ASSERT_EQ((*r)["jobs"].size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const Json& j = (*r)["jobs"][i];
    EXPECT_EQ(j.value("jobId", ""), ids[i]);
    EXPECT_EQ(j.value("jobName", ""), "many" + std::to_string(i));
    EXPECT_EQ(j.value("status", ""), "RUNNABLE") << j.dump(2);
  }
  // A new submit after the restart gets a new id.
  const std::string next = cluster().submit({"--wrap", "true"});
  EXPECT_EQ(unique.count(next), 0u);
  EXPECT_GT(std::stoll(next), std::stoll(ids.back()));

  write_file(gate, "");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(cluster().wait_for_state(ids[i], "SUCCEEDED", 20000));
    EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + ids[i] + ".out"), std::to_string(i) + "\n");
  }
}


TEST_F(HeadRestartTest, AgentCrashLeavesNoOrphanedJobProcesses) {
  if (!cluster().has_cgroups()) GTEST_SKIP() << "no usable cgroups: a new agent cannot find the old jobs";
  // A restarted agent does not adopt the jobs of its predecessor; the head reports
  // them lost. Their processes must not keep running on CPUs the head hands out again.
  const std::string marker = "drvorphan" + std::to_string(::getpid());
  const std::string id = cluster().submit({"--env", "DRV_MARK=" + marker, "--wrap", "sleep 1000"});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  auto live = [&] {
    std::vector<pid_t> out;
    for (pid_t p : pids_with_marker(marker))
      if (process_alive(p)) out.push_back(p);
    return out;
  };
  ASSERT_TRUE(wait_until([&] { return !live().empty(); }, 5000));
  cluster().kill_agent(SIGKILL);
  ASSERT_EQ(cluster().restart_agent(), "");
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED"));
  EXPECT_TRUE(contains(cluster().describe(id).value("statusReason", ""), "lost")) << cluster().describe(id).dump(2);
  EXPECT_TRUE(wait_until([&] { return live().empty(); }, 3000))
      << live().size() << " processes of the lost job are still running";
  // The node is usable again.
  const std::string next = cluster().submit({"--wrap", "echo again"});
  EXPECT_TRUE(cluster().wait_for_state(next, "SUCCEEDED"));
}

// Exits and task starts commit lazily (no fsync; an exit waits for the next
// commit or the sync timer): a crash right after an array ended loses none of
// its tasks' exits (the agent reports each until the head has it on disk), and
// the tasks' ids are never handed out again.
TEST_F(HeadRestartTest, AnArrayThatJustEndedStaysEndedAfterACrash) {
  const std::string a = cluster().submit({"--array=0-19", "--wrap", "true"});
  ASSERT_FALSE(a.empty());
  const Json p = cluster().wait_for_end(a, 20000);
  ASSERT_EQ(p.value("status", ""), "SUCCEEDED") << p.dump(2);
  std::set<long long> task_ids;
  for (int i = 0; i < 20; ++i) task_ids.insert(std::stoll(cluster().describe(a + "_" + std::to_string(i)).value("jobId", "0")));
  // At once: the last exits are not committed or not fsync'd yet.
  cluster().kill_head(SIGKILL);
  ASSERT_EQ(cluster().restart_head(), "");

  const Json after = cluster().wait_for_end(a, 20000);
  EXPECT_EQ(after.value("status", ""), "SUCCEEDED") << after.dump(2);
  EXPECT_EQ(after["arrayProperties"]["statusSummary"].value("SUCCEEDED", 0), 20) << after.dump(2);
  for (int i = 0; i < 20; ++i) {
    const Json t = cluster().describe(a + "_" + std::to_string(i));
    EXPECT_EQ(t.value("status", ""), "SUCCEEDED") << t.dump(2);
    EXPECT_EQ(t["attempts"].size(), 1u) << t.dump(2);
  }
  // New jobs and tasks get ids none of those had.
  const std::string b = cluster().submit({"--array=0-3", "--wrap", "true"});
  ASSERT_EQ(cluster().wait_for_end(b, 20000).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(task_ids.count(std::stoll(b)), 0u);
  for (int i = 0; i < 4; ++i) {
    const long long id = std::stoll(cluster().describe(b + "_" + std::to_string(i)).value("jobId", "0"));
    EXPECT_EQ(task_ids.count(id), 0u) << "task id " << id << " handed out twice";
    EXPECT_GT(id, *task_ids.rbegin());
  }
}

}  // namespace
}  // namespace drover::it
