// Jobs that relate to other jobs or to templates: dependencies, job definitions
// with parameters, and retries.
#include "cluster.hpp"

namespace drover::it {
namespace {

using WorkflowTest = ClusterTest;

TEST_F(WorkflowTest, AfterOkWaitsForSuccess) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string a = cluster().submit(
      {"--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done; echo a > a.txt"});
  const std::string b = cluster().submit({"--dependency", "afterok:" + a, "--wrap", "cat a.txt; echo b"});
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  ASSERT_TRUE(cluster().wait_for_state(b, "PENDING"));
  const Json pending = cluster().describe(b);
  ASSERT_EQ(pending["dependsOn"].size(), 1u) << pending.dump(2);
  EXPECT_EQ(pending["dependsOn"][0].value("jobId", ""), a);
  EXPECT_EQ(pending["dependsOn"][0].value("type", ""), "afterok");
  EXPECT_TRUE(pending["attempts"].empty());

  write_file(gate, "");
  ASSERT_TRUE(cluster().wait_for_state(b, "SUCCEEDED"));
  const Json ja = cluster().describe(a);
  const Json jb = cluster().describe(b);
  EXPECT_EQ(ja.value("status", ""), "SUCCEEDED");
  EXPECT_GE(jb.value("startedAt", 0LL), ja.value("stoppedAt", 0LL));
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + b + ".out"), "a\nb\n");
}

TEST_F(WorkflowTest, AfterOkOnAFailedJobFails) {
  const std::string bad = cluster().submit({"--wrap", "exit 1"});
  const std::string c = cluster().submit({"--dependency", "afterok:" + bad, "--wrap", "echo must not run"});
  ASSERT_TRUE(cluster().wait_for_state(bad, "FAILED"));
  ASSERT_TRUE(cluster().wait_for_state(c, "FAILED"));
  const Json j = cluster().describe(c);
  const std::string reason = j.value("statusReason", "");
  EXPECT_TRUE(contains(reason, "Dependency")) << j.dump(2);
  EXPECT_TRUE(contains(reason, bad)) << "the reason should name job " << bad << "\n" << j.dump(2);
  EXPECT_TRUE(j["attempts"].empty()) << j.dump(2);
  EXPECT_FALSE(fs::exists(cluster().work_dir() + "/drover-" + c + ".out"));

  // A dependency on a job that has already failed is decided at once.
  const std::string late = cluster().submit({"--dependency", "afterok:" + bad, "--wrap", "echo no"});
  ASSERT_TRUE(cluster().wait_for_state(late, "FAILED"));
  // The failure cascades down a chain.
  const std::string d = cluster().submit({"--dependency", "afterok:" + c, "--wrap", "echo no"});
  ASSERT_TRUE(cluster().wait_for_state(d, "FAILED"));
  EXPECT_TRUE(contains(cluster().describe(d).value("statusReason", ""), c));
}

TEST_F(WorkflowTest, OtherDependencyTypes) {
  const std::string ok = cluster().submit({"--wrap", "true"});
  const std::string bad = cluster().submit({"--wrap", "exit 2"});
  ASSERT_TRUE(cluster().wait_for_state(ok, "SUCCEEDED"));
  ASSERT_TRUE(cluster().wait_for_state(bad, "FAILED"));
  const std::string any = cluster().submit({"--dependency", "afterany:" + bad, "--wrap", "echo any"});
  const std::string notok = cluster().submit({"--dependency", "afternotok:" + bad, "--wrap", "echo notok"});
  const std::string notok_on_ok = cluster().submit({"--dependency", "afternotok:" + ok, "--wrap", "echo no"});
  const std::string both = cluster().submit({"--dependency", "afterok:" + ok + ",afterany:" + bad, "--wrap", "echo both"});
  EXPECT_TRUE(cluster().wait_for_state(any, "SUCCEEDED"));
  EXPECT_TRUE(cluster().wait_for_state(notok, "SUCCEEDED"));
  EXPECT_TRUE(cluster().wait_for_state(notok_on_ok, "FAILED"));
  EXPECT_TRUE(cluster().wait_for_state(both, "SUCCEEDED"));
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + both + ".out"), "both\n");
}

TEST_F(WorkflowTest, DefinitionWithParameters) {
  const CliResult reg = cluster().cli("definitions", "register", "--name", "greet", "--parameter", "who=world",
                                      "--", "echo", "hello", "Ref::who");
  ASSERT_EQ(reg.code, 0) << reg.describe();
  EXPECT_TRUE(contains(reg.out, "greet:1")) << reg.describe();

  const std::string ada = cluster().submit({"--definition", "greet", "--parameter", "who=Ada"});
  const std::string dflt = cluster().submit({"--definition", "greet"});
  ASSERT_TRUE(cluster().wait_for_state(ada, "SUCCEEDED"));
  ASSERT_TRUE(cluster().wait_for_state(dflt, "SUCCEEDED"));
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + ada + ".out"), "hello Ada\n");
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + dflt + ".out"), "hello world\n");
  const Json j = cluster().describe(ada);
  EXPECT_EQ(j.value("jobDefinition", "").rfind("greet", 0), 0u) << j.dump(2);
  EXPECT_EQ(j["parameters"].value("who", ""), "Ada") << j.dump(2);

  // A second revision; the first stays usable by number until deregistered.
  const CliResult reg2 = cluster().cli("definitions", "register", "--name", "greet", "--parameter", "who=you",
                                       "--", "echo", "goodbye", "Ref::who");
  ASSERT_EQ(reg2.code, 0) << reg2.describe();
  EXPECT_TRUE(contains(reg2.out, "greet:2")) << reg2.describe();
  const std::string latest = cluster().submit({"--definition", "greet"});
  const std::string first = cluster().submit({"--definition", "greet:1", "--parameter", "who=Grace"});
  ASSERT_TRUE(cluster().wait_for_state(latest, "SUCCEEDED"));
  ASSERT_TRUE(cluster().wait_for_state(first, "SUCCEEDED"));
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + latest + ".out"), "goodbye you\n");
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + first + ".out"), "hello Grace\n");

  const CliResult list = cluster().cli("definitions", "list");
  EXPECT_EQ(list.code, 0) << list.describe();
  EXPECT_TRUE(contains(list.out, "greet")) << list.describe();
  const CliResult dereg = cluster().cli("definitions", "deregister", "greet:1");
  EXPECT_EQ(dereg.code, 0) << dereg.describe();
  const CliResult refused = cluster().cli("submit", "--definition", "greet:1");
  EXPECT_NE(refused.code, 0) << refused.describe();
  EXPECT_TRUE(contains(refused.err, "deregistered")) << refused.describe();
}

TEST_F(WorkflowTest, RetriesUntilSuccess) {
  // Fails twice, then succeeds; the counter lives in the submit directory.
  const std::string script = cluster().work_dir() + "/flaky.sh";
  write_file(script,
             "#!/bin/sh\n"
             "n=$(cat count 2>/dev/null || echo 0)\n"
             "n=$((n + 1))\n"
             "echo $n > count\n"
             "echo \"attempt $n\"\n"
             "[ \"$n\" -ge 3 ]\n",
             0755);
  const std::string id = cluster().submit({"--retry", "3", script});
  ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED", 15000));
  const Json j = cluster().describe(id);
  ASSERT_EQ(j["attempts"].size(), 3u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0]["container"].value("exitCode", -1), 1) << j.dump(2);
  EXPECT_EQ(j["attempts"][1]["container"].value("exitCode", -1), 1) << j.dump(2);
  EXPECT_EQ(j["attempts"][2]["container"].value("exitCode", -1), 0) << j.dump(2);
  EXPECT_EQ(j["retryStrategy"].value("attempts", 0), 3);
  EXPECT_EQ(trim(read_file(cluster().work_dir() + "/count")), "3");
  EXPECT_TRUE(contains(read_file(cluster().work_dir() + "/drover-" + id + ".out"), "attempt 3")) << j.dump(2);
}

TEST_F(WorkflowTest, RetriesRunOut) {
  const std::string dir = cluster().work_dir() + "/two";
  fs::create_directories(dir);
  CliOptions in_dir;
  in_dir.cwd = dir;
  const std::string id = cluster().submit(
      {"--retry", "2", "--wrap", "n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count; exit 5"}, in_dir);
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 15000));
  const Json j = cluster().describe(id);
  EXPECT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_TRUE(contains(j.value("statusReason", ""), "code 5")) << j.dump(2);
  EXPECT_EQ(trim(read_file(dir + "/count")), "2");
}

TEST_F(WorkflowTest, TimedOutAttemptIsNotRetried) {
  const std::string id = cluster().submit({"--retry", "3", "-t", "0:01", "--wrap", "sleep 30"});
  ASSERT_TRUE(cluster().wait_for_state(id, "FAILED", 15000));
  const Json j = cluster().describe(id);
  EXPECT_EQ(j["attempts"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j.value("statusReason", ""), "Job attempt duration exceeded timeout") << j.dump(2);
}

}  // namespace
}  // namespace drover::it
