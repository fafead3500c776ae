// The baseline for the namespace cluster: plain Open MPI, no Drover. mpirun in the
// root namespace starts orted on two namespace nodes through a small rsh agent (what
// ssh would do on a real cluster), and the 4 ranks of mpi_hello report both nodes'
// hostnames. If this fails, the multi-node Drover tests cannot be trusted either.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>

#include "netns_cluster.hpp"

namespace drover::netns {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

std::string find_mpirun() {
  for (const char* p : {"/usr/bin/mpirun", "/usr/local/bin/mpirun"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

class NetnsMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access((kExamplesBin + "/mpi_hello").c_str(), X_OK) != 0)
      GTEST_SKIP() << "no " << kExamplesBin << "/mpi_hello: configure with -DDROVER_ENABLE_MPI=ON";
    if (find_mpirun().empty()) GTEST_SKIP() << "mpirun is not installed";
    if (::access("/usr/bin/nsenter", X_OK) != 0) GTEST_SKIP() << "nsenter (util-linux) is not installed";
    if (const std::string why = NetnsCluster::skip_reason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    net_ = std::make_unique<NetnsCluster>(NetnsCluster::Config{.nodes = 2});
    ASSERT_EQ(net_->start(), "");
  }
  void TearDown() override {
    if (net_) {
      EXPECT_EQ(net_->teardown(), "");
    }
    net_.reset();
  }

  // plm_rsh_agent: Open MPI runs it as ssh, `AGENT HOST COMMAND...`, and expects
  // COMMAND to be run by a shell on HOST. HOST is a node's hostname, which is also
  // the name of its network namespace. nsenter rather than `ip netns exec`: the
  // latter also remounts /sys, hiding /sys/fs/cgroup (harmless for orted, but not
  // what a node looks like).
  std::string write_rsh_agent() {
    const std::string path = net_->dir() + "/rsh-agent";
    const std::string text =
        "#!/bin/sh\n"
        "host=$1; shift\n"
        "[ -e \"/run/netns/$host\" ] || { echo \"rsh-agent: no node $host\" >&2; exit 255; }\n"
        "exec nsenter --net=\"/run/netns/$host\" unshare --uts sh -c 'hostname \"$1\"; shift; eval \"$*\"' sh "
        "\"$host\" \"$@\"\n";
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0755);
    return path;
  }

  std::unique_ptr<NetnsCluster> net_;
};

TEST_F(NetnsMpiTest, FourRanksRunOnTwoNamespaceNodes) {
  const std::string hostfile = net_->dir() + "/hostfile";
  {
    std::ofstream f(hostfile);
    f << net_->node_name(1) << " slots=2\n" << net_->node_name(2) << " slots=2\n";
  }
  ExecOptions o;
  o.cwd = net_->dir();
  o.env = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};
  o.timeout_ms = 25000;
  const std::vector<std::string> argv = {find_mpirun(), "--hostfile", hostfile, "-np", "4", "--oversubscribe",
                                         "--mca", "plm_rsh_agent", write_rsh_agent(),
                                         "--mca", "plm_rsh_no_tree_spawn", "1",
                                         "--mca", "oob_tcp_if_include", net_->subnet(),
                                         "--mca", "btl", "tcp,self",
                                         "--mca", "btl_tcp_if_include", net_->subnet(),
                                         "--mca", "pml", "ob1",
                                         kExamplesBin + "/mpi_hello"};
  const ProcResult r = net_->run(0, argv, o);
  ASSERT_EQ(r.code, 0) << r.describe();
  // "rank 2 of 4 on dnt123an2 cpus 0-1": ranks fill node 1's slots, then node 2's.
  std::map<int, std::string> host_of_rank;
  const std::regex line(R"(rank (\d+) of 4 on (\S+) cpus)");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), line); it != std::sregex_iterator(); ++it)
    host_of_rank[std::stoi((*it)[1])] = (*it)[2];
  const std::map<int, std::string> want = {
      {0, net_->node_name(1)}, {1, net_->node_name(1)}, {2, net_->node_name(2)}, {3, net_->node_name(2)}};
  EXPECT_EQ(host_of_rank, want) << r.describe();
  EXPECT_NE(r.out.find("hello from 4 ranks"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace drover::netns
