// drover-launch inside real jobs: a one-node cluster whose agent serves steps
// (--listen, --munge-socket with a private munged), and job scripts that reach
// their node through drover-launch as mpirun would. The head does not yet tell
// jobs where the agents listen, so the tests pass DROVER_NODE_ADDRESSES and
// DROVER_MUNGE_SOCKET in the job's environment (the CLI copies it into the job).
#include <regex>

#include "../support/munge_daemon.hpp"
#include "cluster.hpp"

namespace drover::it {
namespace {

const std::string kLaunch = kBinDir + "/drover-launch";

class LaunchTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (!munged_.available()) GTEST_SKIP() << "needs munged (Debian package munge): " << munged_.why();
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    const std::regex listening(R"(step service \(drover-launch\) listening on (tcp:[^,\s]+))");
    std::smatch m;
    std::string log;
    ASSERT_TRUE(wait_until([&] {
      log = cluster().agent_log();
      return std::regex_search(log, m, listening);
    }, 5000)) << cluster().logs();
    step_address_ = m[1];
  }

  Cluster::Config config() const override {
    Cluster::Config c;
    c.agent_args = {"--listen", "tcp:127.0.0.1:0", "--munge-socket", munged_.socket()};
    return c;
  }

  // What a job needs to find its nodes' agents and munged.
  CliOptions job_options(const TestUser* as = nullptr) const {
    CliOptions o;
    o.as = as;
    o.env = {{"DROVER_NODE_ADDRESSES", cluster_->node() + "=" + step_address_},
             {"DROVER_MUNGE_SOCKET", munged_.socket()}};
    return o;
  }

  std::string output(const std::string& id, const std::string& dir = "") {
    return read_file((dir.empty() ? cluster().work_dir() : dir) + "/drover-" + id + ".out");
  }

  testing::MungeDaemon munged_;
  std::string step_address_;
};

std::string cpu_list(const Json& job) {
  std::string s;
  for (const auto& c : job["attempts"][0]["container"].value("cpus", Json::array()))
    s += (s.empty() ? "" : ",") + std::to_string(c.get<int>());
  return s;
}

TEST_F(LaunchTest, AJobRunsACommandOnItsNodeThroughDroverLaunch) {
  const std::string script = cluster().work_dir() + "/step.sh";
  write_file(script,
             "#!/bin/bash\n" + kLaunch + " " + cluster().node() +
                 " 'hostname; grep Cpus_allowed_list /proc/self/status; cat /proc/self/cgroup; "
                 "echo step=$DROVER_STEP_ID; echo err >&2; exit 4'\n"
                 "echo launch-exit=$?\n",
             0755);
  const std::string id = cluster().submit({script}, job_options());
  ASSERT_FALSE(id.empty());
  const Json j = cluster().wait_for_end(id, 20000);
  const std::string out = output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n" << out << cluster().logs();
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_TRUE(contains(out, std::string(host) + "\n")) << out;
  // The remote command is bound to the job's CPUs on that node, and in its cgroup.
  const std::string cpus = cpu_list(j);
  ASSERT_FALSE(cpus.empty()) << j.dump(2);
  const std::regex line(R"(Cpus_allowed_list:\s*(\S+))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, line)) << out;
  // "0-1" and "0,1" are the same set: compare through the job's own list format.
  std::string got = m[1];
  if (const auto dash = got.find('-'); dash != std::string::npos) {
    std::string expanded;
    for (int c = std::stoi(got.substr(0, dash)); c <= std::stoi(got.substr(dash + 1)); ++c)
      expanded += (expanded.empty() ? "" : ",") + std::to_string(c);
    got = expanded;
  }
  EXPECT_EQ(got, cpus) << out;
  if (cluster().has_cgroups()) {
    EXPECT_TRUE(contains(out, "/job_" + id + "\n")) << out;
  }
  EXPECT_TRUE(contains(out, "step=" + id + ".")) << out;
  EXPECT_TRUE(contains(out, "err\n")) << out;
  EXPECT_TRUE(contains(out, "launch-exit=4\n")) << out;
  EXPECT_TRUE(contains(cluster().agent_log(), "step " + id + ".")) << cluster().logs();
}

TEST_F(LaunchTest, StepsRunAsTheJobsOwner) {
  auto alice = cluster().create_user("la");
  ASSERT_TRUE(alice);
  const std::string dir = cluster().make_user_dir(*alice, "alice");
  const std::string script = dir + "/step.sh";
  write_file(script, "#!/bin/sh\n" + kLaunch + " " + cluster().node() + " 'id -u; pwd'\n", 0755);
  CliOptions o = job_options(&*alice);
  o.cwd = dir;
  const std::string id = cluster().submit({script}, o);
  ASSERT_FALSE(id.empty());
  const Json j = cluster().wait_for_end(id, 20000);
  const std::string out = output(id, dir);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n" << out << cluster().logs();
  EXPECT_EQ(out, std::to_string(alice->uid) + "\n" + dir + "\n") << cluster().logs();
}

TEST_F(LaunchTest, CancellingTheJobKillsItsSteps) {
  const std::string pid_file = cluster().work_dir() + "/remote.pid";
  const std::string script = cluster().work_dir() + "/step.sh";
  write_file(script,
             "#!/bin/bash\n" + kLaunch + " " + cluster().node() + " 'echo $$ > " + pid_file +
                 "; exec sleep 300'\n",
             0755);
  const std::string id = cluster().submit({script}, job_options());
  ASSERT_FALSE(id.empty());
  pid_t remote = 0;
  ASSERT_TRUE(wait_until([&] { return (remote = std::atoi(read_file(pid_file).c_str())) > 0; }, 10000))
      << cluster().logs();
  ASSERT_TRUE(process_alive(remote));
  const CliResult c = cluster().cli("cancel", id);
  ASSERT_EQ(c.code, 0) << c.describe();
  cluster().wait_for_end(id, 10000);
  EXPECT_TRUE(wait_until([&] { return !process_alive(remote); }, 5000)) << cluster().logs();
}

TEST_F(LaunchTest, AJobThatHasEndedCannotStartSteps) {
  const std::string id = cluster().submit({"--wrap", "true"}, job_options());
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
  const CliResult r = Cluster::run_program(
      {kLaunch, cluster().node(), "echo should not run"},
      {{"PATH", "/usr/bin:/bin"}, {"DROVER_JOB_ID", id},
       {"DROVER_NODE_ADDRESSES", cluster().node() + "=" + step_address_},
       {"DROVER_MUNGE_SOCKET", munged_.socket()}},
      10000);
  EXPECT_EQ(r.code, 255) << r.describe();
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "job " + id + " is not running on node " + cluster().node())) << r.describe();
}

}  // namespace
}  // namespace drover::it
