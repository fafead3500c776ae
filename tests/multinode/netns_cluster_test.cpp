// Drover across real (namespace) nodes over TCP: droverd on the head, one
// drover-noded per node, each with its own hostname, address and hwloc topology.
// What Drover can do today between nodes: agents register over TCP, jobs are placed
// on every node and run there, an agent that dies takes its node DOWN and its
// restart settles the jobs it lost. (No MUNGE yet: droverd accepts any TCP agent.)
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

// NOT what Drover does today, so disabled: a node cut off the network (no FIN, no
// RST) stays UP and connected in droverd, and new jobs are still sent there and
// sit in STARTING, since neither side sends heartbeats. Enable once they do.
TEST_F(NetnsClusterTest, DISABLED_ANodeCutOffTheNetworkGoesDown) {
  ASSERT_EQ(cluster().net().set_link(2, false), "");
  EXPECT_TRUE(cluster().wait_for_node_state(cluster().node(2), "DOWN", false, 20000));
  ASSERT_EQ(cluster().net().set_link(2, true), "");
  EXPECT_EQ(cluster().wait_for_nodes(20000), "");
}

}  // namespace
}  // namespace drover::it
