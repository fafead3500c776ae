// Drover across real (namespace) nodes over TCP: droverd on the head, one
// drover-noded per node, each with its own hostname, address and hwloc topology.
// Agents register over TCP with MUNGE credentials (a forged one is refused), jobs
// are placed on every node and run there, an agent that dies takes its node DOWN
// and its restart settles the jobs it lost, a node cut off the network is lost
// after the node timeout and its job is retried elsewhere, and admins drain,
// down and resume nodes.
#include <map>

#include "drover_netns.hpp"

namespace drover::it {
namespace {

using NetnsClusterTest = NetnsDroverTest;

// A job that waits for `gate` to exist, then says where it ran.
std::vector<std::string> gated_job(const std::string& gate, const std::string& cpus = "2") {
  return {"-c", cpus, "-t", "1:00", "--wrap",
          "while [ ! -e " + gate + " ]; do sleep 0.05; done; echo \"host=$(hostname) nodelist=$SLURM_JOB_NODELIST\""};
}

TEST_F(NetnsClusterTest, EveryNodeIsUpWithItsOwnTopology) {
  const CliResult r = cluster().cli("nodes", "--json");
  ASSERT_EQ(r.code, 0) << r.describe();
  const Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  std::map<std::string, Json> by_name;
  for (const auto& n : j["nodes"]) by_name[n.value("nodeName", "")] = n;
  ASSERT_EQ(by_name.size(), 3u) << r.out;
  for (const auto& name : cluster().nodes()) {
    ASSERT_TRUE(by_name.count(name)) << name << " missing:\n" << r.out;
    const Json& n = by_name[name];
    EXPECT_EQ(n.value("state", ""), "UP") << n.dump();
    EXPECT_TRUE(n.value("connected", false)) << n.dump();
    EXPECT_EQ(n.value("vcpus", 0), 2) << n.dump();
    EXPECT_EQ(n.value("memoryMiB", 0), 2048) << n.dump();
  }
  // Each agent sent its own topology (netns-2pkg-2core, netns-1core-smt, netns-2core).
  const Json& t1 = by_name[cluster().node(1)]["topology"];
  const Json& t2 = by_name[cluster().node(2)]["topology"];
  const Json& t3 = by_name[cluster().node(3)]["topology"];
  EXPECT_EQ(t1.value("packages", 0), 2);
  EXPECT_EQ(t1["numa"].size(), 2u);
  EXPECT_EQ(t1["cores"].size(), 2u);
  EXPECT_EQ(t2.value("packages", 0), 1);
  EXPECT_EQ(t2["cores"].size(), 1u);
  EXPECT_EQ(t3.value("packages", 0), 1);
  EXPECT_EQ(t3["numa"].size(), 1u);
  EXPECT_EQ(t3["cores"].size(), 2u);

  // The table and the long form say the same for people.
  const CliResult table = cluster().cli("nodes");
  ASSERT_EQ(table.code, 0) << table.describe();
  for (const auto& name : cluster().nodes()) {
    bool found = false;
    for (const auto& line : netns::detail::split_lines(table.out)) {
      const auto w = netns::detail::split_words(line);
      if (w.size() >= 3 && w[0] == name) {
        found = true;
        EXPECT_EQ(w[1], "UP") << line;
        EXPECT_EQ(w[2], "0/2") << line;
      }
    }
    EXPECT_TRUE(found) << name << " not in:\n" << table.out;
  }
  const CliResult l = cluster().cli("nodes", "-l");
  ASSERT_EQ(l.code, 0) << l.describe();
  EXPECT_TRUE(contains(l.out, cluster().node(1) + ": UP, 2 packages, 2 NUMA, 2 cores, 2 PUs")) << l.out;
  EXPECT_TRUE(contains(l.out, cluster().node(2) + ": UP, 1 packages, 1 NUMA, 1 cores, 2 PUs")) << l.out;
  EXPECT_TRUE(contains(l.out, cluster().node(3) + ": UP, 1 packages, 1 NUMA, 2 cores, 2 PUs")) << l.out;

  // droverd's status names the TCP address the agents use.
  const CliResult s = cluster().cli("status", "--json");
  ASSERT_EQ(s.code, 0) << s.describe();
  EXPECT_EQ(Json::parse(s.out, nullptr, false).value("agentAddress", ""), cluster().agent_address()) << s.out;
}

// Three jobs that each need a whole node (2 PUs) must go to three different nodes;
// each runs there: its hostname and SLURM_JOB_NODELIST are its node's. A fourth
// waits until a node is free.
TEST_F(NetnsClusterTest, JobsSpreadOverEveryNodeAndRunThere) {
  const std::string gate = cluster().work_dir() + "/gate";
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(cluster().submit(gated_job(gate)));
  for (const auto& id : ids) ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  std::map<std::string, std::string> node_of;
  std::set<std::string> used;
  for (const auto& id : ids) {
    node_of[id] = cluster().job_node(id);
    used.insert(node_of[id]);
  }
  const auto all = cluster().nodes();
  EXPECT_EQ(used, std::set<std::string>(all.begin(), all.end()));
  // Each node is full, and says so.
  for (const auto& name : cluster().nodes()) {
    const Json n = cluster().node_info(name);
    EXPECT_EQ(n.value("vcpusUsed", -1), 2) << n.dump();
    EXPECT_EQ(n.value("jobsRunning", -1), 1) << n.dump();
  }
  const std::string fourth = cluster().submit(gated_job(gate, "1"));
  ASSERT_FALSE(fourth.empty());
  // Not a fixed sleep: the scheduler has had its pass once the job has a pending reason.
  ASSERT_TRUE(wait_until([&] { return cluster().describe(fourth).contains("pendingReason"); }, 5000))
      << cluster().describe(fourth).dump(2);
  EXPECT_EQ(cluster().state(fourth), "RUNNABLE") << cluster().describe(fourth).dump(2);

  write_file(gate, "");
  for (const auto& id : ids) {
    const Json j = cluster().wait_for_end(id);
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
    EXPECT_EQ(cluster().job_output(id), "host=" + node_of[id] + " nodelist=" + node_of[id] + "\n")
        << "job " << id;
  }
  const Json j = cluster().wait_for_end(fourth);
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
  const std::string where = cluster().job_node(fourth);
  EXPECT_EQ(cluster().job_output(fourth), "host=" + where + " nodelist=" + where + "\n");
}

// Starts one gated whole-node job per node; returns job id by node index (1-based).
std::map<int, std::string> fill_every_node(NetnsDroverCluster& c, const std::string& gate) {
  std::vector<std::string> ids;
  for (int k = 1; k <= c.node_count(); ++k) ids.push_back(c.submit(gated_job(gate)));
  std::map<int, std::string> by_node;
  for (const auto& id : ids) {
    if (id.empty() || !c.wait_for_state(id, "RUNNING")) return {};
    by_node[c.node_index(c.job_node(id))] = id;
  }
  if (by_node.size() != static_cast<std::size_t>(c.node_count()) || by_node.count(0)) {
    ADD_FAILURE() << "the jobs did not take one node each";
    return {};
  }
  return by_node;
}

// What Drover does today when an agent dies (SIGKILL: its TCP connection closes):
// droverd takes the node DOWN at once; the job there stays RUNNING (jobs outlive
// their agent, to be re-synced) and keeps its CPUs, so nothing else goes there.
// The restarted agent does not adopt the job: it kills what is left of it, and
// droverd fails it as lost. Then the node takes work again.
TEST_F(NetnsClusterTest, AKilledAgentTakesItsNodeDownAndItsRestartSettlesTheJob) {
  const std::string gate = cluster().work_dir() + "/gate";
  const auto job_on = fill_every_node(cluster(), gate);
  ASSERT_EQ(job_on.size(), 3u);
  const std::string n2 = cluster().node(2), victim = job_on.at(2);

  cluster().kill_agent(2, SIGKILL);
  ASSERT_TRUE(cluster().wait_for_node_state(n2, "DOWN", false));
  EXPECT_EQ(cluster().node_info(n2).value("stateReason", ""), "agent not connected");
  EXPECT_EQ(cluster().state(victim), "RUNNING");
  EXPECT_FALSE(cluster().net().pids_on_node(2).empty()) << "the job should outlive its agent";
  // The other nodes are not disturbed.
  for (int k : {1, 3}) EXPECT_EQ(cluster().node_info(cluster().node(k)).value("state", ""), "UP");
  const CliResult table = cluster().cli("nodes");
  EXPECT_TRUE(contains(table.out, "agent not connected")) << table.out;

  // A new job cannot start: node 2's CPUs are still the victim's.
  const std::string waiting = cluster().submit({"-c", "1", "--wrap", "echo \"host=$(hostname)\""});
  ASSERT_FALSE(waiting.empty());
  ASSERT_TRUE(wait_until([&] { return cluster().describe(waiting).contains("pendingReason"); }, 5000));
  EXPECT_EQ(cluster().state(waiting), "RUNNABLE");

  ASSERT_EQ(cluster().start_agent(2), "");
  ASSERT_EQ(cluster().wait_for_nodes(), "");
  const Json lost = cluster().wait_for_end(victim);
  EXPECT_EQ(lost.value("status", ""), "FAILED") << lost.dump(2);
  EXPECT_TRUE(contains(lost.value("statusReason", ""), "Node " + n2 + " lost the job (agent restarted)"))
      << lost.dump(2);
  EXPECT_TRUE(contains(cluster().agent_log(2), "cleared job_" + victim + " left by an earlier agent"))
      << cluster().agent_log(2);
  const Json ran = cluster().wait_for_end(waiting);
  EXPECT_EQ(ran.value("status", ""), "SUCCEEDED") << ran.dump(2);
  EXPECT_EQ(cluster().job_node(waiting), n2);
  EXPECT_EQ(cluster().job_output(waiting), "host=" + n2 + "\n");

  write_file(gate, "");
  for (int k : {1, 3}) {
    const Json j = cluster().wait_for_end(job_on.at(k));
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
  }
}

// droverd crashes while jobs run on every node, and the jobs end while it is away.
// Restarted on the same state and port, it gets every agent back over TCP and
// learns how their jobs ended.
TEST_F(NetnsClusterTest, AfterAHeadCrashTheAgentsReconnectAndReportTheirJobs) {
  const std::string gate = cluster().work_dir() + "/gate";
  const auto job_on = fill_every_node(cluster(), gate);
  ASSERT_EQ(job_on.size(), 3u);
  cluster().kill_head(SIGKILL);
  write_file(gate, "");
  for (int k = 1; k <= 3; ++k)
    EXPECT_TRUE(wait_until([&] { return contains(cluster().agent_log(k), "job " + job_on.at(k) + " ended: exit 0"); },
                           10000))
        << cluster().logs();
  ASSERT_EQ(cluster().restart_head(), "");
  for (const auto& [k, id] : job_on) {
    const Json j = cluster().wait_for_end(id);
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
    EXPECT_EQ(cluster().job_node(id), cluster().node(k));
    EXPECT_EQ(cluster().job_output(id), "host=" + cluster().node(k) + " nodelist=" + cluster().node(k) + "\n");
  }
}

// A node cut off the network (no FIN, no RST: a pulled cable) sends no more
// heartbeats: after the node timeout it is lost, its job ends with a reason
// naming it and, with retries left, runs again on another node. When the cable
// is back the agent reconnects; what still ran of the old attempt is killed.
class NodeLossTest : public NetnsDroverTest {
  NetnsDroverCluster::Config config() const override {
    NetnsDroverCluster::Config c;
    c.node_timeout_s = 1.5;
    return c;
  }
};

TEST_F(NodeLossTest, ANodeCutOffTheNetworkIsLostAndItsJobRunsElsewhere) {
  const std::string gate = cluster().work_dir() + "/gate";
  std::vector<std::string> args = gated_job(gate);
  args.insert(args.begin(), "--retry=2");
  const std::string id = cluster().submit(args);
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const std::string first = cluster().job_node(id);
  const int k = cluster().node_index(first);
  ASSERT_GT(k, 0);

  ASSERT_EQ(cluster().net().set_link(k, false), "");
  ASSERT_TRUE(cluster().wait_for_node_state(first, "DOWN", false, 15000)) << cluster().logs();
  EXPECT_TRUE(contains(cluster().node_info(first).value("stateReason", ""), "Node " + first + " lost (no contact for"))
      << cluster().node_info(first).dump(2);
  // The retry runs on another node while the first is away.
  ASSERT_TRUE(wait_until(
      [&] {
        const Json j = cluster().describe(id);
        return j.value("status", "") == "RUNNING" && j["attempts"].size() == 2u;
      },
      15000))
      << cluster().describe(id).dump(2) << cluster().logs();
  const Json j = cluster().describe(id);
  EXPECT_TRUE(contains(j["attempts"][0].value("statusReason", "") + j["attempts"][0]["container"].value("reason", ""),
                       "Node " + first + " lost"))
      << j.dump(2);
  const std::string second = cluster().job_node(id);
  EXPECT_NE(second, first);

  // Back on the network: the node rejoins and the old attempt's process is killed.
  ASSERT_EQ(cluster().net().set_link(k, true), "");
  EXPECT_EQ(cluster().wait_for_nodes(20000), "") << cluster().logs();
  EXPECT_TRUE(wait_until([&] { return cluster().net().pids_on_node(k).size() <= 1; }, 10000))
      << "only the agent should be left on " << first;
  write_file(gate, "");
  const Json end = cluster().wait_for_end(id);
  EXPECT_EQ(end.value("status", ""), "SUCCEEDED") << end.dump(2);
  EXPECT_EQ(cluster().job_output(id), "host=" + second + " nodelist=" + second + "\n");
}

// A 2-node job that requeues loses its second node: droverd requeues it and places
// it again on the surviving node, which still runs the first attempt (its kill is on
// the way). The new attempt must start there once the old one has stopped -- not be
// ignored as "already running", which left the job STARTING for ever.
TEST_F(NodeLossTest, ARequeuedJobStartsAgainOnANodeStillStoppingItsLastAttempt) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string id = cluster().submit(
      {"--requeue", "-N", "2", "-c", "1", "-t", "1:00", "--wrap",
       "echo \"attempt=$DROVER_ATTEMPT host=$(hostname)\" >> log.txt; while [ ! -e " + gate + " ]; do sleep 0.05; done"});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const Json first = cluster().describe(id);
  const std::string main = first["container"].value("nodeName", "");
  const auto others = first["attempts"][0]["container"].value("otherNodes", Json::array());
  ASSERT_EQ(others.size(), 1u) << first.dump(2);
  const std::string lost = others[0].value("nodeName", "");
  const int k = cluster().node_index(lost);
  ASSERT_GT(k, 0);
  ASSERT_EQ(cluster().net().set_link(k, false), "");
  ASSERT_TRUE(cluster().wait_for_node_state(lost, "DOWN", false, 15000));
  // Only two nodes are left, so the second attempt uses the first one's main node too.
  ASSERT_TRUE(wait_until(
      [&] {
        const Json j = cluster().describe(id);
        return j.value("status", "") == "RUNNING" && j["attempts"].size() == 2u;
      },
      10000))
      << cluster().describe(id).dump(2) << cluster().logs();
  const Json again = cluster().describe(id);
  std::set<std::string> nodes = {again["container"].value("nodeName", "")};
  for (const auto& o : again["attempts"][1]["container"].value("otherNodes", Json::array()))
    nodes.insert(o.value("nodeName", ""));
  EXPECT_TRUE(nodes.count(main) && !nodes.count(lost)) << again.dump(2);
  ASSERT_EQ(cluster().net().set_link(k, true), "");
  write_file(gate, "");
  const Json end = cluster().wait_for_end(id);
  EXPECT_EQ(end.value("status", ""), "SUCCEEDED") << end.dump(2) << cluster().logs();
  EXPECT_TRUE(contains(read_file(cluster().work_dir() + "/log.txt"), "attempt=2 host=")) << read_file(cluster().work_dir() + "/log.txt");
  EXPECT_EQ(end["attempts"][0].value("statusReason", ""), "requeued") << end.dump(2);
}

// An agent whose MUNGE credential comes from another key (another cluster, or
// someone without munge.key) is refused, and the refusal is logged on both sides.
TEST_F(NetnsClusterTest, AnAgentWithAForgedCredentialIsRefused) {
  drover::testing::MungeDaemon other;  // a different key
  ASSERT_TRUE(other.available()) << other.why();
  netns::ExecOptions o;
  o.log = cluster().dir() + "/forged.log";
  const pid_t forged = cluster().net().spawn(
      3, {kBinDir + "/drover-noded", "--head", cluster().agent_address(), "--name", "forged", "--state-dir",
          cluster().dir() + "/forged", "--topology-xml", kTestData + "/hwloc/netns-2core.xml", "--cgroup-parent",
          cluster().tag() + "-forged", "--munge-socket", other.socket(), "--heartbeat", "0.2"},
      o);
  ASSERT_GT(forged, 0);
  EXPECT_TRUE(wait_until([&] { return contains(cluster().head_log(), "refused agent 'forged'"); }, 10000))
      << cluster().logs();
  EXPECT_TRUE(contains(cluster().head_log(), "MUNGE credential refused")) << cluster().head_log();
  const CliResult nodes = cluster().cli("nodes");
  EXPECT_FALSE(contains(nodes.out, "forged")) << nodes.out;
  EXPECT_TRUE(contains(read_file(cluster().dir() + "/forged.log"), "the head refused this agent")) << read_file(cluster().dir() + "/forged.log");
  cluster().net().stop(forged, SIGINT);
}

// Two machines under one node name: the second is refused (and says why); the
// first keeps its node.
TEST_F(NetnsClusterTest, AnAgentWithADuplicateNameIsRefused) {
  netns::ExecOptions o;
  o.log = cluster().dir() + "/dup.log";
  const std::string n1 = cluster().node(1);
  const pid_t dup = cluster().net().spawn(
      3, {kBinDir + "/drover-noded", "--head", cluster().agent_address(), "--name", n1, "--state-dir",
          cluster().dir() + "/dup", "--topology-xml", kTestData + "/hwloc/netns-2core.xml", "--cgroup-parent",
          cluster().tag() + "-dup", "--munge-socket", cluster().munged().socket(), "--heartbeat", "0.2"},
      o);
  ASSERT_GT(dup, 0);
  EXPECT_TRUE(wait_until([&] { return contains(read_file(cluster().dir() + "/dup.log"), "is in use by the agent at"); },
                         10000))
      << read_file(cluster().dir() + "/dup.log") << cluster().logs();
  EXPECT_TRUE(contains(cluster().head_log(), "refused agent '" + n1 + "'")) << cluster().head_log();
  cluster().net().stop(dup, SIGINT);
  const Json n = cluster().node_info(n1);
  EXPECT_EQ(n.value("state", ""), "UP") << n.dump();
  EXPECT_EQ(n["topology"].value("packages", 0), 2) << "still node 1's own topology, not the impostor's";
}

// Admin node states: drain keeps new work away while running jobs go on; down
// ends the node's jobs at once (with retries left they run elsewhere); resume
// puts the node back in service. Only root or the admin may.
TEST_F(NetnsClusterTest, DrainDownAndResume) {
  const std::string n1 = cluster().node(1), n2 = cluster().node(2), n3 = cluster().node(3);
  const CliResult d = cluster().cli("nodes", "drain", n1, "--reason", "new disk");
  ASSERT_EQ(d.code, 0) << d.describe();
  EXPECT_TRUE(contains(d.out, "DRAIN")) << d.out;
  EXPECT_NE(cluster().cli("nodes", "drain", n2).code, 0) << "a reason is required";
  const CliResult unknown = cluster().cli("nodes", "down", "nosuchnode", "--reason", "x");
  EXPECT_NE(unknown.code, 0);
  EXPECT_TRUE(contains(unknown.err, "unknown node 'nosuchnode'")) << unknown.err;

  const std::string gate = cluster().work_dir() + "/gate";
  std::vector<std::string> args = gated_job(gate);
  args.insert(args.begin(), "--retry=2");
  const std::string a = cluster().submit(args), b = cluster().submit(args);
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  ASSERT_TRUE(cluster().wait_for_state(b, "RUNNING"));
  EXPECT_NE(cluster().job_node(a), n1);
  EXPECT_NE(cluster().job_node(b), n1);
  EXPECT_TRUE(contains(cluster().cli("nodes").out, "drained by root: new disk")) << cluster().cli("nodes").out;

  // Down the node of job a: a ends there and, after resume, runs again.
  const std::string victim_node = cluster().job_node(a);
  const CliResult down = cluster().cli("nodes", "down", victim_node, "--reason", "bad memory");
  ASSERT_EQ(down.code, 0) << down.describe();
  ASSERT_TRUE(wait_until([&] { return cluster().describe(a)["attempts"].size() == 1u &&
                                      cluster().describe(a)["attempts"][0].contains("stoppedAt"); }, 10000))
      << cluster().describe(a).dump(2);
  EXPECT_TRUE(contains(cluster().describe(a)["attempts"][0].dump(), "set DOWN by root: bad memory"))
      << cluster().describe(a).dump(2);
  EXPECT_EQ(cluster().node_info(victim_node).value("state", ""), "DOWN");
  // Every node is drained, down or busy: a waits.
  EXPECT_EQ(cluster().state(a), "RUNNABLE");
  ASSERT_EQ(cluster().cli("nodes", "resume", n1).code, 0);
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  EXPECT_EQ(cluster().job_node(a), n1);
  ASSERT_EQ(cluster().cli("nodes", "resume", victim_node).code, 0);
  EXPECT_EQ(cluster().node_info(victim_node).value("state", ""), "UP");
  write_file(gate, "");
  for (const auto& id : {a, b}) EXPECT_EQ(cluster().wait_for_end(id).value("status", ""), "SUCCEEDED");
}

}  // namespace
}  // namespace drover::it
