// A Drover cluster over TCP on a namespace cluster (netns_cluster.hpp): droverd in
// the root namespace listens for agents on the bridge address, and every namespace
// node runs its own drover-noded with its own hostname, hwloc XML topology and
// cgroup parent. The CLI talks to droverd over its Unix socket, as on a real head.
//
// Like cluster.hpp: every job started through run_cli() inherits DROVER_IT_TAG=<tag>
// (here the network's prefix, "dnt<pid><letter>"), so teardown can find what is left
// of any job in /proc; the agents' cgroup parents are "<tag>-n<k>". Teardown stops
// the agents with SIGINT (they kill their jobs), droverd with SIGTERM, fails the test
// if a job process is still alive, kills it anyway, removes the cgroups and then the
// network. Crashed runs are swept by NetnsCluster::sweep() at the next start.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../support/munge_daemon.hpp"
#include "cluster.hpp"
#include "netns_cluster.hpp"

namespace drover::it {

class NetnsDroverCluster {
 public:
  struct Config {
    // One node per topology; each uses PUs 0 and 1 only (see tests/data/hwloc/README.md).
    std::vector<std::string> topologies = {kTestData + "/hwloc/netns-2pkg-2core.xml",
                                           kTestData + "/hwloc/netns-1core-smt.xml",
                                           kTestData + "/hwloc/netns-2core.xml"};
    double kill_grace_s = 1;
    // Heartbeats and how long a silent node lasts before it is lost.
    double heartbeat_s = 0.2;
    double node_timeout_s = 10;
    std::string queue = "default";       // created over environment `env`, with all nodes
    std::string env = "netns";
    std::vector<std::string> head_args;   // more droverd options
    std::vector<std::string> agent_args;  // more drover-noded options (every node)
  };

  // "" when this machine can run it; otherwise why not (for GTEST_SKIP).
  static std::string skip_reason() {
    for (const char* b : {"droverd", "drover-noded", "drover"})
      if (::access((kBinDir + "/" + b).c_str(), X_OK) != 0) return "no " + kBinDir + "/" + b + ": build it first";
    return netns::NetnsCluster::skip_reason();
  }

  NetnsDroverCluster() : NetnsDroverCluster(Config{}) {}
  explicit NetnsDroverCluster(Config config)
      : config_(std::move(config)),
        net_(netns::NetnsCluster::Config{static_cast<int>(config_.topologies.size())}) {
    agent_pids_.assign(config_.topologies.size() + 1, -1);
  }
  NetnsDroverCluster(const NetnsDroverCluster&) = delete;
  NetnsDroverCluster& operator=(const NetnsDroverCluster&) = delete;
  ~NetnsDroverCluster() { teardown(); }

  // The network, droverd, the environment and queue, one agent per node; waits
  // until every node is UP. Returns "" or what failed.
  std::string start() {
    // One munged for the whole cluster: the nodes share this machine's file
    // system, as nodes of a real cluster share munge.key.
    if (!munged_.available()) return "munged: " + munged_.why();
    if (auto e = net_.start(); !e.empty()) return "namespace cluster: " + e;
    for (const auto& d : {head_state_dir(), work_dir()}) {
      fs::create_directories(d);
      ::chmod(d.c_str(), 0755);
    }
    if (auto e = start_head(); !e.empty()) return e;
    std::string nodes;
    for (const auto& n : net_.node_names()) nodes += (nodes.empty() ? "" : ",") + n;
    for (const std::vector<std::string>& a :
         {std::vector<std::string>{"envs", "create", config_.env, "--nodes", nodes},
          std::vector<std::string>{"queues", "create", config_.queue, "--envs", config_.env}}) {
      const CliResult r = run_cli(a);
      if (r.code != 0) return "drover " + a[0] + " " + a[1] + " failed: " + r.describe();
    }
    for (int k = 1; k <= node_count(); ++k)
      if (auto e = start_agent(k); !e.empty()) return e;
    return wait_for_nodes();
  }

  // ---- the daemons' command lines (all options in one place) ----

  std::vector<std::string> head_argv() const {
    std::vector<std::string> a = {kBinDir + "/droverd", "--state-dir", head_state_dir(), "--socket", socket(),
                                  "--agent-socket", "tcp:" + net_.head_ip() + ":" + std::to_string(agent_port_),
                                  "--default-queue", config_.queue, "--munge-socket", munged_.socket(),
                                  "--node-timeout", number(config_.node_timeout_s)};
    a.insert(a.end(), config_.head_args.begin(), config_.head_args.end());
    return a;
  }

  std::vector<std::string> agent_argv(int k) const {
    std::ostringstream grace;
    grace << config_.kill_grace_s;
    std::vector<std::string> a = {kBinDir + "/drover-noded", "--head", agent_address(), "--name", node(k),
                                  "--state-dir", dir() + "/node" + std::to_string(k), "--topology-xml",
                                  config_.topologies.at(static_cast<std::size_t>(k - 1)), "--cgroup-parent",
                                  cgroup_parent(k), "--kill-grace", grace.str(), "--munge-socket", munged_.socket(),
                                  "--heartbeat", number(config_.heartbeat_s), "--listen",
                                  "tcp:" + net_.node_ip(k) + ":0"};
    a.insert(a.end(), config_.agent_args.begin(), config_.agent_args.end());
    return a;
  }

  static std::string number(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  }
  const drover::testing::MungeDaemon& munged() const { return munged_; }

  // ---- names and paths ----
  netns::NetnsCluster& net() { return net_; }
  int node_count() const { return net_.node_count(); }
  std::string node(int k) const { return net_.node_name(k); }        // 1-based; also the hostname
  std::vector<std::string> nodes() const { return net_.node_names(); }
  int node_index(const std::string& name) const {
    for (int k = 1; k <= node_count(); ++k)
      if (node(k) == name) return k;
    return 0;
  }
  const std::string& tag() const { return net_.prefix(); }
  std::string cgroup_parent(int k) const { return tag() + "-n" + std::to_string(k); }
  const std::string& dir() const { return net_.dir(); }
  std::string socket() const { return dir() + "/droverd.sock"; }
  std::string head_state_dir() const { return dir() + "/head"; }
  std::string work_dir() const { return dir() + "/work"; }
  std::string agent_address() const { return "tcp:" + net_.head_ip() + ":" + std::to_string(agent_port_); }
  std::string head_log() const { return read_file(dir() + "/droverd.log"); }
  std::string agent_log(int k) const { return read_file(dir() + "/noded-" + std::to_string(k) + ".log"); }
  std::string logs() const {
    std::string s = "--- droverd.log:\n" + tail(head_log());
    for (int k = 1; k <= node_count(); ++k)
      s += "\n--- noded-" + std::to_string(k) + ".log (" + node(k) + "):\n" + tail(agent_log(k));
    return s;
  }
  pid_t head_pid() const { return head_pid_; }
  pid_t agent_pid(int k) const { return agent_pids_.at(static_cast<std::size_t>(k)); }

  // ---- starting and stopping ----

  // Starts droverd; the first start picks a free port for agents (tcp:<bridge ip>:0),
  // later ones reuse it so that the agents find the head again.
  std::string start_head() {
    if (head_pid_ > 0) return "droverd is already running";
    netns::ExecOptions o;
    o.log = dir() + "/droverd.log";
    head_pid_ = net_.spawn(0, head_argv(), o);
    if (head_pid_ < 0) return "cannot start droverd";
    Json status;
    const bool up = wait_until(
        [&] {
          if (!net_.running(head_pid_)) return true;
          auto c = cli::ApiClient::connect(socket());
          if (!c) return false;
          auto r = c->call("Status", Json::object(), 2000);
          if (r) status = *r;
          return r.has_value();
        },
        10000, 10);
    if (!up || !net_.running(head_pid_)) {
      if (net_.running(head_pid_)) net_.stop(head_pid_, SIGKILL);
      head_pid_ = -1;
      return "droverd did not start:\n" + tail(head_log());
    }
    // "tcp:10.A.B.1:PORT", as droverd also logs it ("... and for agents on tcp:...").
    const std::string addr = status.value("agentAddress", "");
    const auto colon = addr.rfind(':');
    const int port = colon == std::string::npos ? 0 : std::atoi(addr.c_str() + colon + 1);
    if (port <= 0) return "droverd reports no TCP agent address: " + status.dump();
    agent_port_ = port;
    return "";
  }

  // Kills droverd (SIGKILL: a crash; SIGTERM: a clean stop) and reaps it.
  void kill_head(int sig = SIGKILL) {
    if (head_pid_ > 0) net_.stop(head_pid_, sig);
    head_pid_ = -1;
  }

  std::string restart_head() {
    kill_head(SIGKILL);
    if (auto e = start_head(); !e.empty()) return e;
    return wait_for_nodes();
  }

  // Starts drover-noded on node k (in its namespaces); does not wait for it.
  std::string start_agent(int k) {
    if (agent_pid(k) > 0) return "drover-noded is already running on " + node(k);
    netns::ExecOptions o;
    o.log = dir() + "/noded-" + std::to_string(k) + ".log";
    const pid_t pid = net_.spawn(k, agent_argv(k), o);
    agent_pids_.at(static_cast<std::size_t>(k)) = pid;
    return pid < 0 ? "cannot start drover-noded on " + node(k) : "";
  }

  // Kills drover-noded on node k (SIGKILL: a crash, its jobs are left running;
  // SIGINT: `drover down`, its jobs are killed; SIGTERM: jobs left running) and reaps it.
  void kill_agent(int k, int sig = SIGKILL) {
    pid_t& pid = agent_pids_.at(static_cast<std::size_t>(k));
    if (pid > 0) net_.stop(pid, sig);
    pid = -1;
  }

  std::string restart_agent(int k) {
    kill_agent(k, SIGKILL);
    if (auto e = start_agent(k); !e.empty()) return e;
    return wait_for_nodes();
  }

  // ---- nodes ----

  // ListNodes' reply: {"nodes": [{nodeName, state, connected, vcpus, cpusUsed, topology, ...}]}.
  Json list_nodes() const {
    auto c = api();
    if (!c) return nullptr;
    auto r = c->call("ListNodes", Json::object(), 5000);
    return r ? *r : Json(nullptr);
  }

  // One node as ListNodes reports it; null if unknown.
  Json node_info(const std::string& name) const {
    const Json all = list_nodes();
    if (all.is_object())
      for (const auto& n : all["nodes"])
        if (n.value("nodeName", "") == name) return n;
    return nullptr;
  }

  // Waits until the node is in `state` (UP, DOWN, DRAIN) and connected as said.
  bool wait_for_node_state(const std::string& name, const std::string& state, bool connected,
                           int timeout_ms = 10000) {
    Json last;
    const bool ok = wait_until(
        [&] {
          last = node_info(name);
          return last.is_object() && last.value("state", "") == state && last.value("connected", !connected) == connected;
        },
        timeout_ms);
    if (!ok)
      ADD_FAILURE() << "node " << name << ": wanted " << state << (connected ? " connected" : " disconnected")
                    << " within " << timeout_ms << " ms; got " << last.dump() << "\n" << logs();
    return ok;
  }

  // Waits until every node is connected and UP; "" or what is wrong.
  std::string wait_for_nodes(int timeout_ms = 10000) {
    Json last;
    std::string dead;
    const bool ok = wait_until(
        [&] {
          for (int k = 1; k <= node_count(); ++k)
            if (agent_pid(k) > 0 && !net_.running(agent_pid(k))) {
              dead = node(k);
              agent_pids_.at(static_cast<std::size_t>(k)) = -1;
              return true;
            }
          last = list_nodes();
          if (!last.is_object()) return false;
          int up = 0;
          for (const auto& n : last["nodes"])
            up += node_index(n.value("nodeName", "")) > 0 && n.value("connected", false) && n.value("state", "") == "UP";
          return up == node_count();
        },
        timeout_ms);
    if (!dead.empty()) return "drover-noded on " + dead + " exited\n" + logs();
    if (!ok) return "not every node came up; nodes: " + last.dump() + "\n" + logs();
    return "";
  }

  // ---- the CLI and the API ----

  // Runs `drover --socket <ours> args...` in the root namespace (the head).
  CliResult run_cli(const std::vector<std::string>& args, const CliOptions& opts = {}) {
    std::vector<std::string> argv = {kBinDir + "/drover", "--socket", socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::pair<std::string, std::string>> env = {
        {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        {"LANG", "C.UTF-8"},
        {"DROVER_IT_TAG", tag()}};
    if (opts.as) {
      env.push_back({"HOME", opts.as->home});
      env.push_back({"USER", opts.as->name});
      env.push_back({"LOGNAME", opts.as->name});
    } else {
      env.push_back({"HOME", dir()});
      env.push_back({"USER", "root"});
      env.push_back({"LOGNAME", "root"});
    }
    for (const auto& kv : opts.env) env.push_back(kv);
    return Cluster::run_program(argv, env, opts.timeout_ms, opts.cwd.empty() ? work_dir() : opts.cwd, opts.as);
  }

  template <class... A>
  CliResult cli(A&&... args) {
    return run_cli(std::vector<std::string>{std::string(std::forward<A>(args))...});
  }

  // `drover submit --parsable args...`: the new job's id, or "" (and a test failure).
  std::string submit(const std::vector<std::string>& args, const CliOptions& opts = {}) {
    std::vector<std::string> a = {"submit", "--parsable"};
    a.insert(a.end(), args.begin(), args.end());
    const CliResult r = run_cli(a, opts);
    const std::string id = trim(r.out);
    if (r.code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
      ADD_FAILURE() << "submit failed: " << r.describe();
      return "";
    }
    return id;
  }

  Result<cli::ApiClient> api() const { return cli::ApiClient::connect(socket()); }

  // The job as DescribeJobs returns it; null if unknown.
  Json describe(const std::string& id) const {
    auto c = api();
    if (!c) return nullptr;
    auto r = c->call("DescribeJobs", Json{{"jobs", Json::array({id})}}, 5000);
    if (!r || !r->contains("jobs") || (*r)["jobs"].empty()) return nullptr;
    return (*r)["jobs"][0];
  }

  std::string state(const std::string& id) const {
    const Json j = describe(id);
    return j.is_object() ? j.value("status", "") : "";
  }

  // The node of the job's current attempt ("" before it is placed).
  std::string job_node(const std::string& id) const {
    const Json j = describe(id);
    return j.is_object() && j.contains("container") ? j["container"].value("nodeName", "") : "";
  }

  // The job's default output file (drover-<id>.out in the work directory).
  std::string job_output(const std::string& id) const { return read_file(work_dir() + "/drover-" + id + ".out"); }

  // Waits until the job is in `want`; a terminal state other than `want` ends the
  // wait early. False (and a test failure with the job and the logs) otherwise.
  bool wait_for_state(const std::string& id, const std::string& want, int timeout_ms = 10000) {
    Json last;
    const bool ok = wait_until(
        [&] {
          last = describe(id);
          if (!last.is_object()) return false;
          const std::string s = last.value("status", "");
          return s == want || s == "SUCCEEDED" || s == "FAILED";
        },
        timeout_ms);
    const std::string got = last.is_object() ? last.value("status", "") : "";
    if (!ok || got != want) {
      ADD_FAILURE() << "job " << id << ": wanted " << want << ", got " << (got.empty() ? "?" : got) << " after "
                    << timeout_ms << " ms\n" << last.dump(2) << "\n" << logs();
      return false;
    }
    return true;
  }

  // Waits until the job has ended; its description, or null (and a test failure).
  Json wait_for_end(const std::string& id, int timeout_ms = 10000) {
    Json last;
    const bool ok = wait_until(
        [&] {
          last = describe(id);
          const std::string s = last.is_object() ? last.value("status", "") : "";
          return s == "SUCCEEDED" || s == "FAILED";
        },
        timeout_ms);
    if (!ok) {
      ADD_FAILURE() << "job " << id << " did not end within " << timeout_ms << " ms\n" << last.dump(2) << "\n"
                    << logs();
      return nullptr;
    }
    return last;
  }

  // ---- teardown ----

  // Tests that kill an agent may leave jobs behind on purpose.
  void allow_leftovers() { allow_leftovers_ = true; }

  // Stops everything and removes what the test made (see the top of this file).
  // Idempotent. Failures are recorded as test failures.
  void teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    for (int k = 1; k <= node_count(); ++k) kill_agent(k, SIGINT);
    kill_head(SIGTERM);
    const std::string marker = "DROVER_IT_TAG=" + tag() + std::string(1, '\0');
    std::vector<pid_t> left;
    for (pid_t p : pids_with_marker(marker))
      if (process_alive(p)) left.push_back(p);
    wait_until(
        [&] {
          bool any = false;
          for (pid_t p : pids_with_marker(marker))
            if (process_alive(p)) {
              any = true;
              ::kill(p, SIGKILL);
            }
          return !any;
        },
        2000);
    for (int k = 1; k <= node_count(); ++k)
      for (const char* h : {"memory", "cpuset", "devices", "unified"})
        if (fs::is_directory(std::string("/sys/fs/cgroup/") + h + "/" + cgroup_parent(k)))
          netns::NetnsCluster::remove_cgroup_tree(std::string("/sys/fs/cgroup/") + h + "/" + cgroup_parent(k));
    const std::string left_logs = left.empty() ? "" : logs();
    if (const std::string e = net_.teardown(); !e.empty()) ADD_FAILURE() << "namespace cluster teardown: " << e;
    if (!left.empty() && !allow_leftovers_) {
      std::string list;
      for (pid_t p : left) list += " " + std::to_string(p);
      ADD_FAILURE() << "job processes were still running after the agents stopped:" << list << "\n" << left_logs;
    }
  }

 private:
  drover::testing::MungeDaemon munged_;
  Config config_;
  netns::NetnsCluster net_;
  int agent_port_ = 0;  // 0 until droverd has picked one
  pid_t head_pid_ = -1;
  std::vector<pid_t> agent_pids_;  // by node index (0 unused)
  bool torn_down_ = false;
  bool allow_leftovers_ = false;
};

// A test with a running namespace cluster (skipped where one cannot be made).
class NetnsDroverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = NetnsDroverCluster::skip_reason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    cluster_ = std::make_unique<NetnsDroverCluster>(config());
    const std::string e = cluster_->start();
    ASSERT_EQ(e, "") << "namespace cluster did not start";
  }
  void TearDown() override { cluster_.reset(); }
  virtual NetnsDroverCluster::Config config() const { return {}; }
  NetnsDroverCluster& cluster() { return *cluster_; }

  std::unique_ptr<NetnsDroverCluster> cluster_;
};

}  // namespace drover::it
