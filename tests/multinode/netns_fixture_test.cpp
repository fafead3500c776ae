// The namespace cluster itself (netns_cluster.hpp), without Drover: every node has
// its own hostname and address, names resolve, nodes reach each other over the
// bridge, and teardown (also of a run that crashed, through sweep()) leaves
// nothing behind.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include "netns_cluster.hpp"

namespace drover::netns {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whatever on this machine is still named with `prefix`: namespaces, links,
// /etc/hosts lines, /tmp directories. "" when nothing is.
std::string leftovers(const std::string& prefix) {
  std::string found;
  for (const auto& line : detail::split_lines(NetnsCluster::run_program({"ip", "netns", "list"}).out))
    if (line.rfind(prefix, 0) == 0) found += "netns " + line + "; ";
  for (const auto& line : detail::split_lines(NetnsCluster::run_program({"ip", "-o", "link", "show"}).out))
    if (contains(line, ": " + prefix)) found += "link " + line.substr(0, 60) + "; ";
  for (const auto& line : detail::split_lines(detail::read_file("/etc/hosts")))
    if (contains(line, prefix)) found += "/etc/hosts: " + line + "; ";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec))
    if (e.path().filename().string().rfind(prefix + "-", 0) == 0) found += "dir " + e.path().string() + "; ";
  return found;
}

// /etc/hosts without the lines of any namespace cluster (other tests may run at
// the same time): these must never change.
std::string unmarked_hosts() {
  std::string out;
  for (const auto& line : detail::split_lines(detail::read_file("/etc/hosts")))
    if (!contains(line, NetnsCluster::kHostsMarker)) out += line + "\n";
  return out;
}

class NetnsFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = NetnsCluster::skip_reason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    hosts_before_ = unmarked_hosts();
  }
  std::string hosts_before_;
};

TEST_F(NetnsFixtureTest, NodesHaveTheirOwnNamesAndAddressesAndReachEachOther) {
  std::string prefix;
  {
    NetnsCluster net({.nodes = 2});
    ASSERT_EQ(net.start(), "");
    prefix = net.prefix();
    EXPECT_LE(net.bridge().size(), 15u);
    EXPECT_LE(net.veth(2).size(), 15u);
    for (int k = 1; k <= 2; ++k) {
      const ProcResult h = net.run(k, {"hostname"});
      EXPECT_EQ(h.code, 0) << h.describe();
      EXPECT_EQ(h.out, net.node_name(k) + "\n");
      const ProcResult a = net.run(k, {"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
      EXPECT_TRUE(contains(a.out, " " + net.node_ip(k) + "/24 ")) << a.describe();
      // Every name resolves, from every node: the other node and the head.
      for (const std::string& name : {net.node_name(3 - k), net.head_name()}) {
        const ProcResult g = net.run(k, {"getent", "hosts", name});
        EXPECT_EQ(g.code, 0) << name << ": " << g.describe();
      }
    }
    // Node 1 reaches node 2 by name over the bridge (a TCP listener on node 2).
    const pid_t server = net.spawn(2, {"python3", "-c",
                                       "import socket; s=socket.socket(); s.bind(('0.0.0.0', 7777)); s.listen(1);"
                                       "c,a=s.accept(); c.sendall(b'hello from '+socket.gethostname().encode())"});
    ASSERT_GT(server, 0);
    ProcResult c;
    const bool ok = detail::wait_until(
        [&] {
          c = net.run(1, {"python3", "-c",
                          "import socket,sys; s=socket.create_connection(('" + net.node_name(2) +
                              "', 7777), 2); sys.stdout.write(s.recv(100).decode())"});
          return c.code == 0;
        },
        5000, 50);
    EXPECT_TRUE(ok) << c.describe();
    EXPECT_EQ(c.out, "hello from " + net.node_name(2));
    EXPECT_EQ(net.wait(server, 5000), 0);
    // The root namespace keeps its own hostname.
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    EXPECT_EQ(net.run(0, {"hostname"}).out, std::string(host) + "\n");
    // A process left running on a node is killed at teardown.
    ASSERT_GT(net.spawn(1, {"sleep", "300"}), 0);
    EXPECT_EQ(net.teardown(), "");
  }
  EXPECT_EQ(leftovers(prefix), "");
  EXPECT_EQ(unmarked_hosts(), hosts_before_);
}

// A run that dies without teardown (here a child process that builds a cluster
// and _exits) leaves everything behind; the next sweep() removes it.
TEST_F(NetnsFixtureTest, SweepRemovesWhatACrashedRunLeft) {
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipefd[0]);
    auto* net = new NetnsCluster({.nodes = 2});  // never destroyed: a crash
    std::string msg = net->start();
    msg = (msg.empty() ? "ok " + net->prefix() : "error " + msg);
    // A process left running on a node, as a crashed test may leave a job: sleep
    // does not inherit the shell's PR_SET_PDEATHSIG, so it outlives us.
    const pid_t sh = net->spawn(1, {"sh", "-c", "sleep 300 & wait"});
    detail::wait_until([&] { return net->pids_on_node(1).size() >= 2; }, 5000);
    (void)sh;
    (void)!::write(pipefd[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) msg.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  // No other test process may sweep the crashed run's cluster before we look at it.
  detail::MachineLock hold_off_other_sweeps;
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(msg.rfind("ok ", 0), 0u) << msg;
  const std::string prefix = msg.substr(3);
  EXPECT_NE(leftovers(prefix), "") << "the crashed run should have left its cluster behind";
  const auto orphans = detail::pids_in_netns("/run/netns/" + prefix + "n1");
  EXPECT_EQ(orphans.size(), 1u) << "the sleep should still run on node 1";
  NetnsCluster::sweep();
  EXPECT_EQ(leftovers(prefix), "");
  for (pid_t p : orphans) EXPECT_FALSE(detail::process_alive(p)) << "pid " << p << " survived the sweep";
  EXPECT_EQ(unmarked_hosts(), hosts_before_);
}

}  // namespace
}  // namespace drover::netns
