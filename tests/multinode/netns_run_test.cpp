// drover run across namespace nodes, the issue's own example: `drover run -N 2 -n 4`
// starts 4 tasks of a plain program, 2 on each of 2 nodes (mpirun on the main node,
// drover-launch to the other), and streams their output back to the CLI in the root
// namespace. Each task reports its host and its Slurm task variables.
#include <regex>

#include "drover_netns.hpp"

namespace drover::it {
namespace {

class NetnsRunTest : public NetnsDroverTest {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/mpirun", X_OK) != 0 && ::access("/usr/local/bin/mpirun", X_OK) != 0)
      GTEST_SKIP() << "mpirun is not installed";
    if (::access((kBinDir + "/drover-launch").c_str(), X_OK) != 0) GTEST_SKIP() << "no drover-launch built";
    NetnsDroverTest::SetUp();
    if (HasFatalFailure()) return;
    for (const auto& n : cluster().list_nodes()["nodes"])
      if (n.value("vcpus", 0) < 2) GTEST_SKIP() << "a node has fewer than 2 CPUs";
  }
};

TEST_F(NetnsRunTest, TwoNodesFourTasksReportBothHosts) {
  const CliResult r = cluster().cli("run", "-N", "2", "-n", "4", "-l", "-t", "1:00", "sh", "-c",
                                    "echo host=$(hostname) procid=$SLURM_PROCID localid=$SLURM_LOCALID "
                                    "nodeid=$SLURM_NODEID ntasks=$SLURM_NTASKS");
  ASSERT_EQ(r.code, 0) << r.describe() << cluster().logs();
  const std::vector<std::string> nodes = cluster().nodes();
  std::map<std::string, std::set<std::string>> local_ids;  // host -> SLURM_LOCALID seen
  std::map<std::string, std::set<std::string>> node_ids;   // host -> SLURM_NODEID seen
  std::set<std::string> procids;
  const std::regex line(R"((\d): host=(\S+) procid=(\d) localid=(\d) nodeid=(\d) ntasks=4)");
  int lines = 0;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), line); it != std::sregex_iterator(); ++it) {
    ++lines;
    const std::string host = (*it)[2];
    EXPECT_EQ((*it)[1], (*it)[3]) << "--label names the task: " << r.out;
    EXPECT_NE(std::find(nodes.begin(), nodes.end(), host), nodes.end()) << host << " is not a node\n" << r.out;
    procids.insert((*it)[3]);
    local_ids[host].insert((*it)[4]);
    node_ids[host].insert((*it)[5]);
  }
  EXPECT_EQ(lines, 4) << r.out;
  EXPECT_EQ(procids, (std::set<std::string>{"0", "1", "2", "3"})) << r.out;
  ASSERT_EQ(local_ids.size(), 2u) << "two hosts: " << r.out;
  std::set<std::string> all_node_ids;
  for (const auto& [host, ids] : local_ids) {
    EXPECT_EQ(ids, (std::set<std::string>{"0", "1"})) << host << ": two tasks, local ids 0 and 1\n" << r.out;
    EXPECT_EQ(node_ids[host].size(), 1u) << host << "\n" << r.out;
    all_node_ids.insert(node_ids[host].begin(), node_ids[host].end());
  }
  EXPECT_EQ(all_node_ids, (std::set<std::string>{"0", "1"})) << r.out;
}

}  // namespace
}  // namespace drover::it
