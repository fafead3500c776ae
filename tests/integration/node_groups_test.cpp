// AWS node groups that ask different resources, with real daemons: two
// drover-noded on this machine (n1: netns-2core.xml, n2: netns-1core-smt.xml,
// 2 PUs each). A job whose main group asks 2 vCPUs and whose other group asks
// 1 gets each node's own PUs, sees each node's counts in its variables, and
// DescribeJobs / drover show give each group's resources; a group no node
// could hold is refused at submit, naming it.
#include "cluster.hpp"

namespace drover::it {
namespace {

class NodeGroupsTest : public ClusterTest {
 protected:
  Cluster::Config config() const override {
    Cluster::Config c;
    c.topology_xml = kTestData + "/hwloc/netns-2core.xml";
    return c;
  }
  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(cluster().start_extra_agent("n2", {"--topology-xml", kTestData + "/hwloc/netns-1core-smt.xml"}), "");
    const CliResult env = cluster().cli("envs", "update", "local", "--nodes", "n1,n2");
    ASSERT_EQ(env.code, 0) << env.describe();
  }
  static Json group(const std::string& target, int vcpus, std::vector<std::string> command = {}) {
    Json c = {{"resourceRequirements", {{{"type", "VCPU"}, {"value", std::to_string(vcpus)}}}}};
    if (!command.empty()) c["command"] = command;
    return Json{{"targetNodes", target}, {"container", c}};
  }
  Result<Json> submit(const std::string& command, std::vector<Json> groups, int ntasks = 0) {
    Json req = {{"jobName", "groups"},
                {"workingDirectory", cluster().work_dir()},
                {"command", {"sh", "-c", command}},
                {"environment", {{"DROVER_IT_TAG", cluster().tag()}}},
                {"timeout", {{"attemptDurationSeconds", 60}}},
                {"nodeProperties", {{"numNodes", 2}, {"mainNode", 0}, {"nodeRangeProperties", groups}}}};
    if (ntasks) req["ntasks"] = ntasks;
    auto c = cluster().api();
    if (!c) return c.error();
    return c->call("SubmitJob", req, 5000);
  }
};

TEST_F(NodeGroupsTest, EachNodeGetsItsGroupsVcpus) {
  const std::string dir = cluster().work_dir();
  // The worker reports its own PUs, then waits: the main command's end stops it.
  const std::string worker = "echo \"index=$AWS_BATCH_JOB_NODE_INDEX cpus=$(nproc) list=$DROVER_CPU_LIST "
                             "on_node=$SLURM_CPUS_ON_NODE\" > " + dir + "/worker.txt; exec sleep 300";
  const std::string main = "while [ ! -e " + dir + "/worker.txt ]; do sleep 0.05; done; "
                           "echo \"cpus=$(nproc) on_node=$SLURM_CPUS_ON_NODE per_node=$SLURM_JOB_CPUS_PER_NODE "
                           "tasks=$SLURM_TASKS_PER_NODE\"; cat \"$DROVER_HOSTFILE\"";
  auto r = submit(main, {group("0", 2), group("1", 1, {"sh", "-c", worker})}, 3);
  ASSERT_TRUE(r) << r.message();
  const std::string id = r->value("jobId", "");
  const Json j = finished(id, 30000);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  const Json& ct = j["attempts"].back()["container"];
  ASSERT_EQ(ct["otherNodes"].size(), 1u) << j.dump(2);
  EXPECT_EQ(ct.value("cpus", Json::array()).size(), 2u) << j.dump(2);
  EXPECT_EQ(ct["otherNodes"][0].value("cpus", Json::array()).size(), 1u) << j.dump(2);
  const std::string out = read_file(dir + "/drover-" + id + ".out");
  EXPECT_EQ(out, "cpus=2 on_node=2 per_node=2,1 tasks=2,1\nn1 slots=2\nn2 slots=1\n");
  const std::string w = read_file(dir + "/worker.txt");
  EXPECT_TRUE(contains(w, "index=1 cpus=1 list=")) << w;
  EXPECT_TRUE(contains(w, " on_node=1\n")) << w;

  const Json shown = cluster().describe(id);
  const Json& groups = shown["nodeProperties"]["nodeRangeProperties"];
  ASSERT_EQ(groups.size(), 2u) << shown.dump(2);
  EXPECT_EQ(groups[0]["container"]["resourceRequirements"], Json::parse(R"([{"type": "VCPU", "value": "2"}])"));
  EXPECT_EQ(groups[1]["container"]["resourceRequirements"], Json::parse(R"([{"type": "VCPU", "value": "1"}])"));
  EXPECT_EQ(shown.value("ntasks", 0), 3);
  const CliResult show = cluster().cli("show", id);
  ASSERT_EQ(show.code, 0) << show.describe();
  EXPECT_TRUE(contains(show.out, "2 nodes, by node group (below); 3 tasks")) << show.out;
  EXPECT_TRUE(contains(show.out, "1 vCPU each: sh -c")) << show.out;
}

TEST_F(NodeGroupsTest, AGroupNoNodeCouldHoldIsRefusedByName) {
  auto r = submit("true", {group("0", 2), group("1", 4)});
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.message(), "nodeProperties.nodeRangeProperties[targetNodes 1].vcpus: 4 asked, but the "
                                    "largest node in queue"))
      << r.message();
  // More tasks than the groups' vCPUs together.
  r = submit("true", {group("0", 2), group("1", 1)}, 4);
  ASSERT_FALSE(r);
  EXPECT_TRUE(contains(r.message(), "4 tasks need at least as many vCPUs, but 3 were asked (node 0: 2 vCPUs; "
                                    "node 1: 1 vCPU)"))
      << r.message();
}

}  // namespace
}  // namespace drover::it
