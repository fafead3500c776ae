// AWS Batch multi-node jobs with node groups (nodeProperties.nodeRangeProperties)
// on the namespace cluster: node 0 runs the main group's command, the other nodes
// their group's own command with its environment and its own vCPUs (the groups
// ask different resources); the job ends when the main node's command does, and
// nothing of it is left on any node.
#include "drover_netns.hpp"

namespace drover::it {
namespace {

using NetnsNodeGroupsTest = NetnsDroverTest;

TEST_F(NetnsNodeGroupsTest, TwoGroupsRunTheirOwnCommandsAndEndWithTheMainNode) {
  const std::string dir = cluster().work_dir();
  // Workers report who and where they are, then wait for ever: the end of the
  // main node's command must stop them.
  const std::string worker =
      "echo \"worker index=$AWS_BATCH_JOB_NODE_INDEX role=$ROLE main=$AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS "
      "host=$(hostname) cpus=$(nproc) on_node=$SLURM_CPUS_ON_NODE\" > " + dir + "/worker-$AWS_BATCH_JOB_NODE_INDEX.txt; echo worker output; exec sleep 300";
  const std::string main = "while [ ! -e " + dir + "/worker-1.txt ] || [ ! -e " + dir +
                           "/worker-2.txt ]; do sleep 0.05; done; echo \"main index=$AWS_BATCH_JOB_NODE_INDEX "
                           "role=$ROLE nodes=$AWS_BATCH_JOB_NUM_NODES cpus=$(nproc) per_node=$SLURM_JOB_CPUS_PER_NODE\"";
  const Json req = {
      {"jobName", "groups"},
      {"workingDirectory", dir},
      {"environment", {{"DROVER_IT_TAG", cluster().tag()}, {"ROLE", "unset"}}},
      {"timeout", {{"attemptDurationSeconds", 60}}},
      {"nodeProperties",
       {{"numNodes", 3},
        {"mainNode", 0},
        {"nodeRangeProperties",
         {{{"targetNodes", "0"},
           {"container",
            {{"command", {"sh", "-c", main}},
             {"environment", {{{"name", "ROLE"}, {"value", "main"}}}},
             {"resourceRequirements", {{{"type", "VCPU"}, {"value", "2"}}}}}}},
          {{"targetNodes", "1:"},
           {"container",
            {{"command", {"sh", "-c", worker}},
             {"environment", {{{"name", "ROLE"}, {"value", "worker"}}}},
             {"resourceRequirements", {{{"type", "VCPU"}, {"value", "1"}}}}}}}}}}}};
  auto c = cluster().api();
  ASSERT_TRUE(c) << c.message();
  auto r = c->call("SubmitJob", req, 5000);
  ASSERT_TRUE(r) << r.message();
  const std::string id = r->value("jobId", "");
  const Json j = cluster().wait_for_end(id, 30000);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  EXPECT_EQ(cluster().job_output(id), "main index=0 role=main nodes=3 cpus=2 per_node=2,1(x2)\n");

  const Json& ct = j["attempts"].back()["container"];
  const std::string main_node = ct.value("nodeName", "");
  std::string main_ip;
  for (int k = 1; k <= 3; ++k)
    if (cluster().node(k) == main_node) main_ip = cluster().net().node_ip(k);
  ASSERT_FALSE(main_ip.empty()) << j.dump(2);
  ASSERT_EQ(ct["otherNodes"].size(), 2u) << j.dump(2);
  for (int i = 1; i <= 2; ++i) {
    const std::string host = ct["otherNodes"][i - 1].value("nodeName", "");
    EXPECT_EQ(read_file(dir + "/worker-" + std::to_string(i) + ".txt"),
              "worker index=" + std::to_string(i) + " role=worker main=" + main_ip + " host=" + host +
                  " cpus=1 on_node=1\n");
    // Each node's own output file: the job's, suffixed with its index.
    EXPECT_EQ(read_file(dir + "/drover-" + id + ".out.node" + std::to_string(i)), "worker output\n");
  }
  EXPECT_EQ(ct.value("cpus", Json::array()).size(), 2u) << j.dump(2);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(ct["otherNodes"][i].value("cpus", Json::array()).size(), 1u) << j.dump(2);
  // The workers' `sleep 300` went with the job.
  for (int k = 1; k <= 3; ++k)
    EXPECT_TRUE(wait_until([&] { return cluster().net().pids_on_node(k).size() == 1; }, 10000))
        << "node " << k << " still runs " << cluster().net().pids_on_node(k).size() - 1 << " processes besides its agent";

  // DescribeJobs shows the groups.
  const Json shown = cluster().describe(id);
  ASSERT_EQ(shown["nodeProperties"]["nodeRangeProperties"].size(), 2u) << shown.dump(2);
  EXPECT_EQ(shown["nodeProperties"]["nodeRangeProperties"][1].value("targetNodes", ""), "1:2");
  EXPECT_EQ(shown["nodeProperties"]["nodeRangeProperties"][0]["container"]["resourceRequirements"],
            Json::parse(R"([{"type": "VCPU", "value": "2"}])"));
  EXPECT_EQ(shown["nodeProperties"]["nodeRangeProperties"][1]["container"]["resourceRequirements"],
            Json::parse(R"([{"type": "VCPU", "value": "1"}])"));
  const CliResult show = cluster().cli("show", id);
  ASSERT_EQ(show.code, 0) << show.describe();
  EXPECT_TRUE(contains(show.out, "nodes 1:2")) << show.out;
  EXPECT_TRUE(contains(show.out, "exec sleep 300")) << show.out;
  EXPECT_TRUE(contains(show.out, "by node group")) << show.out;
  EXPECT_TRUE(contains(show.out, "1 vCPU each: sh -c")) << show.out;
}

TEST_F(NetnsNodeGroupsTest, BadNodeGroupsAreRefusedWithTheReason) {
  auto c = cluster().api();
  ASSERT_TRUE(c) << c.message();
  auto submit = [&](const std::vector<Json>& list, int nodes = 3, int main_node = 0) {
    const Json groups = list;
    const Json req = {{"jobName", "bad"},
                      {"workingDirectory", cluster().work_dir()},
                      {"command", {"true"}},
                      {"nodeProperties", {{"numNodes", nodes}, {"mainNode", main_node}, {"nodeRangeProperties", groups}}}};
    auto r = c->call("SubmitJob", req, 5000);
    return r ? std::string("accepted") : r.message();
  };
  auto group = [](const std::string& t, int vcpus = 1) {
    return Json{{"targetNodes", t},
                {"container", {{"command", {"true"}}, {"resourceRequirements", {{{"type", "VCPU"}, {"value", std::to_string(vcpus)}}}}}}};
  };
  { const std::string e = submit({group("0"), group("1")}); EXPECT_TRUE(contains(e, "node 2 is in no group")) << e; }
  { const std::string e = submit({group("0:1"), group("1:")}); EXPECT_TRUE(contains(e, "node 1 is in two groups")) << e; }
  { const std::string e = submit({group("0:5")}); EXPECT_TRUE(contains(e, "'0:5' is outside the job's nodes 0 to 2")) << e; }
  { const std::string e = submit({group("x")}); EXPECT_TRUE(contains(e, "'x' is not a node range")) << e; }
  {
    const std::string e = submit({group("0"), group("1:", 8)});
    EXPECT_TRUE(contains(e, "nodeRangeProperties[targetNodes 1:2].vcpus: 8 asked, but the largest node")) << e;
  }
  { const std::string e = submit({group("0:")}, 3, 1); EXPECT_TRUE(contains(e, "mainNode")) << e; }
  { const std::string e = submit({group("0:")}, 1); EXPECT_TRUE(contains(e, "need a multi-node job")) << e; }
  EXPECT_EQ(submit({group("0"), group("1:")}), "accepted");
  EXPECT_EQ(submit({group("0", 2), group("1:")}), "accepted") << "groups may ask different vCPUs";
}

}  // namespace
}  // namespace drover::it
