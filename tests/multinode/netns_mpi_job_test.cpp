// MPI jobs across namespace nodes through Drover: `drover submit -N 2` runs the
// script on the main node, where a plain `mpirun` finds the allocation (hostfile,
// Slurm variables) and starts orted on the other node through drover-launch and
// that node's drover-noded — no ssh — inside the job's cgroup and CPU binding.
// Each rank reports its host and CPUs, checked against the job's placement.
#include <regex>
#include <set>

#include "core/hostlist.hpp"
#include "drover_netns.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

class NetnsMpiJobTest : public NetnsDroverTest {
 protected:
  void SetUp() override {
    if (::access((kExamplesBin + "/mpi_hello").c_str(), X_OK) != 0)
      GTEST_SKIP() << "no " << kExamplesBin << "/mpi_hello: configure with -DDROVER_ENABLE_MPI=ON";
    if (::access((kBinDir + "/drover-launch").c_str(), X_OK) != 0) GTEST_SKIP() << "no drover-launch built";
    NetnsDroverTest::SetUp();
  }
  // What a user on such a cluster puts in front of mpirun: root may run it
  // (CI runs as root), and MPI traffic stays on the cluster network.
  std::vector<std::string> mpi_env() {
    return {"--export=ALL,OMPI_ALLOW_RUN_AS_ROOT=1,OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};
  }
  std::string mpirun() {
    const std::string subnet = cluster().net().subnet();
    return "mpirun --mca btl tcp,self --mca btl_tcp_if_include " + subnet + " --mca oob_tcp_if_include " + subnet + " ";
  }
  // Node -> the CPUs the job was given there, from `drover show --json`.
  std::map<std::string, std::string> placement(const Json& job) {
    std::map<std::string, std::string> out;
    const Json& c = job["attempts"].back()["container"];
    auto list = [](const Json& cpus) {
      std::string s;
      for (const auto& x : cpus) s += (s.empty() ? "" : ",") + x.dump();
      return s;
    };
    out[c.value("nodeName", "")] = list(c["cpus"]);
    for (const auto& o : c.value("otherNodes", Json::array())) out[o.value("nodeName", "")] = list(o["cpus"]);
    return out;
  }
};

// "0-1" -> "0,1": mpi_hello prints ranges.
std::string expand(const std::string& ranges) {
  std::string out;
  std::stringstream ss(ranges);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    const int lo = std::stoi(part.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    for (int i = lo; i <= hi; ++i) out += (out.empty() ? "" : ",") + std::to_string(i);
  }
  return out;
}

TEST_F(NetnsMpiJobTest, OneRankPerNodeBoundToThePlannedCpus) {
  // Half of every node is taken first, so the MPI job's plan is not "everything".
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string filler = cluster().submit(
      {"-N", "3", "-c", "1", "--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done"});
  ASSERT_TRUE(cluster().wait_for_state(filler, "RUNNING"));

  std::vector<std::string> args = mpi_env();
  for (const char* a : {"-N", "2", "--ntasks-per-node", "1", "-t", "1:00", "--wrap"}) args.push_back(a);
  args.push_back(mpirun() + kExamplesBin + "/mpi_hello");
  const std::string id = cluster().submit(args);
  const Json j = cluster().wait_for_end(id, 60000);
  write_file(gate, "");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().job_output(id) << cluster().logs();
  const auto plan = placement(j);
  ASSERT_EQ(plan.size(), 2u) << j.dump(2);
  const std::string out = cluster().job_output(id);
  std::map<std::string, std::string> seen;  // host -> cpus reported by its rank
  std::regex line("rank (\\d) of 2 on (\\S+) cpus (\\S+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
    seen[(*it)[2]] = expand((*it)[3]);
  EXPECT_EQ(seen, plan) << out << j.dump(2);
  for (const auto& [node, cpus] : plan) EXPECT_EQ(cpus.find(','), std::string::npos) << "one PU each: " << cpus;
  EXPECT_TRUE(contains(out, "hello from 2 ranks")) << out;
  EXPECT_EQ(cluster().wait_for_end(filler).value("status", ""), "SUCCEEDED");
}

// 2 nodes x 2 ranks: the job's rankfile puts every rank on its own PU of the
// plan. Each node's plan is 2 PUs for 2 tasks of 1 PU; whatever the node's
// shape (two packages, one SMT core, two cores), task 0 of a node gets its
// lower PU and task 1 the higher. Block: ranks 0,1 on the main node, 2,3 on
// the other; -m cyclic: ranks 0,2 on the main node, 1,3 on the other.
TEST_F(NetnsMpiJobTest, TwoNodesTimesTwoRanks) {
  for (const std::string dist : {"block", "cyclic"}) {
    SCOPED_TRACE("-m " + dist);
    std::vector<std::string> args = mpi_env();
    for (const char* a : {"-N", "2", "--ntasks-per-node", "2", "-t", "1:00"}) args.push_back(a);
    args.push_back("-m");
    args.push_back(dist);
    args.push_back("--wrap");
    args.push_back("echo \"nodes=$SLURM_JOB_NODELIST tasks=$SLURM_TASKS_PER_NODE dist=$SLURM_DISTRIBUTION\"; " +
                   mpirun() + kExamplesBin + "/mpi_hello");
    const std::string id = cluster().submit(args);
    const Json j = cluster().wait_for_end(id, 60000);
    ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().job_output(id) << cluster().logs();
    const auto plan = placement(j);
    ASSERT_EQ(plan.size(), 2u);
    const Json& c = j["attempts"].back()["container"];
    const std::string main = c.value("nodeName", "");
    const std::string other = c["otherNodes"][0].value("nodeName", "");
    // rank -> (node, its PU): local task k of a node gets the node's k-th PU.
    auto pu = [&](const std::string& node, int k) {
      std::stringstream ss(plan.at(node));
      std::string x;
      for (int i = 0; i <= k; ++i) std::getline(ss, x, ',');
      return x;
    };
    std::map<int, std::pair<std::string, std::string>> expected;
    if (dist == "block")
      expected = {{0, {main, pu(main, 0)}}, {1, {main, pu(main, 1)}}, {2, {other, pu(other, 0)}}, {3, {other, pu(other, 1)}}};
    else
      expected = {{0, {main, pu(main, 0)}}, {1, {other, pu(other, 0)}}, {2, {main, pu(main, 1)}}, {3, {other, pu(other, 1)}}};
    const std::string out = cluster().job_output(id);
    std::map<int, std::pair<std::string, std::string>> seen;
    std::regex line("rank (\\d) of 4 on (\\S+) cpus (\\S+)");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
      seen[std::stoi((*it)[1])] = {(*it)[2], expand((*it)[3])};
    EXPECT_EQ(seen, expected) << out << j.dump(2);
    EXPECT_TRUE(contains(out, "tasks=2(x2) dist=" + dist + ":block")) << out;
    // SLURM_JOB_NODELIST is a hostlist ("dnt123an[1-2]") naming exactly the plan's nodes,
    // and mpirun, which reads it, started 4 ranks on them.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex("nodes=(\\S+)"))) << out;
    EXPECT_NE(m[1].str().find('['), std::string::npos) << m[1];
    const auto listed = expand_hostlist(m[1].str());
    ASSERT_TRUE(listed) << m[1];
    EXPECT_EQ(std::set<std::string>(listed->begin(), listed->end()).size(), 2u) << m[1];
    for (const auto& n : *listed) EXPECT_TRUE(plan.count(n)) << n << " in " << m[1];
    EXPECT_TRUE(contains(out, "hello from 4 ranks")) << out;
  }
}

// Processes mpirun starts on another node see that node's own variables (its
// index, name, the main node's address as AWS Batch gives it), not the main node's.
TEST_F(NetnsMpiJobTest, RanksSeeTheirOwnNodesVariables) {
  std::vector<std::string> args = mpi_env();
  for (const char* a : {"-N", "2", "--ntasks-per-node", "1", "-t", "1:00", "--wrap"}) args.push_back(a);
  args.push_back(mpirun() +
                 R"(sh -c 'echo "node=$(hostname) index=$AWS_BATCH_JOB_NODE_INDEX slurm=$SLURM_NODEID )"
                 R"(name=$DROVER_NODE_NAME main=${AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS:-none}"')");
  const std::string id = cluster().submit(args);
  const Json j = cluster().wait_for_end(id, 60000);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().job_output(id) << cluster().logs();
  const Json& c = j["attempts"].back()["container"];
  const std::string main = c.value("nodeName", "");
  ASSERT_EQ(c["otherNodes"].size(), 1u) << j.dump(2);
  const std::string other = c["otherNodes"][0].value("nodeName", "");
  const std::string out = cluster().job_output(id);
  EXPECT_TRUE(contains(out, "node=" + main + " index=0 slurm=0 name=" + main + " main=none")) << out;
  std::string main_ip;
  for (int k = 1; k <= 3; ++k)
    if (cluster().node(k) == main) main_ip = cluster().net().node_ip(k);
  ASSERT_FALSE(main_ip.empty()) << main;
  EXPECT_TRUE(contains(out, "node=" + other + " index=1 slurm=1 name=" + other + " main=" + main_ip)) << out;
}

// Cancelling a running multi-node job stops it on every node: mpirun on the
// main node, orted and the ranks on the other; nothing of the job is left.
TEST_F(NetnsMpiJobTest, CancelLeavesNoProcessOnAnyNode) {
  std::vector<std::string> args = mpi_env();
  for (const char* a : {"-N", "3", "--ntasks-per-node", "1", "-t", "1:00", "--wrap"}) args.push_back(a);
  args.push_back(mpirun() + "sh -c 'echo up on $(hostname); exec sleep 120'");
  const std::string id = cluster().submit(args);
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  ASSERT_TRUE(wait_until([&] {
    const std::string out = cluster().job_output(id);
    return std::count(out.begin(), out.end(), '\n') >= 3;
  }, 30000)) << cluster().job_output(id) << cluster().logs();
  for (int k = 1; k <= 3; ++k)
    EXPECT_GE(cluster().net().pids_on_node(k).size(), 2u) << "agent + the job's processes on node " << k;
  const CliResult c = cluster().cli("cancel", id);
  ASSERT_EQ(c.code, 0) << c.describe();
  const Json j = cluster().wait_for_end(id, 30000);
  EXPECT_EQ(j.value("status", ""), "FAILED") << j.dump(2);
  for (int k = 1; k <= 3; ++k)
    EXPECT_TRUE(wait_until([&] { return cluster().net().pids_on_node(k).size() == 1; }, 10000))
        << "node " << k << " still runs " << cluster().net().pids_on_node(k).size() - 1 << " processes besides its agent";
}

// An array's tasks spread over the nodes: each task takes a whole node.
TEST_F(NetnsMpiJobTest, AnArraySpreadsOverTheNodes) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string id = cluster().submit(
      {"--array=1-3", "-c", "2", "--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done; hostname"});
  std::set<std::string> hosts;
  ASSERT_TRUE(wait_until([&] {
    const Json j = cluster().describe(id);
    return j["arrayProperties"]["statusSummary"].value("RUNNING", 0) == 3;
  }, 20000)) << cluster().describe(id).dump(2);
  write_file(gate, "");
  EXPECT_EQ(cluster().wait_for_end(id).value("status", ""), "SUCCEEDED");
  for (int i = 1; i <= 3; ++i) hosts.insert(cluster().job_output(id + "_" + std::to_string(i)));
  EXPECT_EQ(hosts.size(), 3u) << "three tasks on three nodes";
}

}  // namespace
}  // namespace drover::it
