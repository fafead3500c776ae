// mpirun inside a Drover job starts its orted through drover-launch instead of
// ssh (plm_rsh_agent). The job's node is named unlike this host ("n1"), so
// mpirun takes it for a remote node and launches orted there through the
// agent's step service; the ranks then run inside the job's CPUs.
#include <regex>

#include "../support/munge_daemon.hpp"
#include "cluster.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

class LaunchMpiTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (!munged_.available()) GTEST_SKIP() << "needs munged (Debian package munge): " << munged_.why();
    if (!fs::exists(kExamplesBin + "/mpi_hello"))
      GTEST_SKIP() << "no " << kExamplesBin << "/mpi_hello: configure with -DDROVER_ENABLE_MPI=ON";
    if (::access("/usr/bin/mpirun", X_OK) != 0 && ::access("/usr/local/bin/mpirun", X_OK) != 0)
      GTEST_SKIP() << "mpirun is not installed";
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
    Cluster::Config c;  // node "n1": not this host's name
    c.agent_args = {"--listen", "tcp:127.0.0.1:0", "--munge-socket", munged_.socket()};
    return c;
  }

  testing::MungeDaemon munged_;
  std::string step_address_;
};

TEST_F(LaunchMpiTest, MpirunStartsOrtedThroughDroverLaunch) {
  const Json node = cluster().node_info();
  if (node.value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  const std::string script = cluster().work_dir() + "/mpi.sh";
  write_file(script,
             "#!/bin/bash\n"
             "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1\n"
             // Its own -H sends the ranks to node "n1" (not this host's name) through
             // drover-launch; the one-node job's rankfile names "localhost", so it is
             // turned off here, as the README says for mpirun given its own hosts.
             "exec mpirun --mca rmaps_rank_file_path '' --mca plm rsh --mca plm_rsh_agent " + kBinDir +
                 "/drover-launch -H " + cluster().node() + ":2 -np 2 --mca btl self,tcp --mca oob_tcp_if_include lo --mca btl_tcp_if_include lo " +
                 kExamplesBin + "/mpi_hello\n",
             0755);
  CliOptions o;
  o.env = {{"DROVER_NODE_ADDRESSES", cluster().node() + "=" + step_address_},
           {"DROVER_MUNGE_SOCKET", munged_.socket()}};
  const std::string id = cluster().submit({"-n", "2", "-t", "1:00", script}, o);
  ASSERT_FALSE(id.empty());
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string out = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n--- job output:\n" << out << cluster().logs();
  EXPECT_TRUE(contains(out, "hello from 2 ranks")) << out;
  // orted went through the step service, not ssh.
  const std::string log = cluster().agent_log();
  EXPECT_TRUE(std::regex_search(log, std::regex("step " + id + R"(\.\d+ .*orted)"))) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex("step " + id + R"(\.\d+ ended: exit 0)"))) << log;
  // Every rank stays on the job's CPUs.
  std::set<int> job_cpus;
  for (const auto& c : j["attempts"][0]["container"].value("cpus", Json::array())) job_cpus.insert(c.get<int>());
  const std::regex line(R"(rank (\d+) of 2 on \S+ cpus ([0-9,-]+))");
  int ranks = 0;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    ++ranks;
    std::stringstream ss((*it)[2].str());
    for (std::string part; std::getline(ss, part, ',');) {
      const auto dash = part.find('-');
      const int lo = std::stoi(part.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      for (int cpu = lo; cpu <= hi; ++cpu) EXPECT_TRUE(job_cpus.count(cpu)) << "CPU " << cpu << "\n" << out;
    }
  }
  EXPECT_EQ(ranks, 2) << out;
}

}  // namespace
}  // namespace drover::it
