// Node selection with real daemons: two drover-noded on this machine, n1
// (features cpu,rack1, from --features) and n2 (gpu,rack2, from a config
// file), in one compute environment. --constraint, --nodelist, --exclude and
// --exclusive send real jobs to the right node; what no node could satisfy is
// refused at submit; `drover nodes update --features` changes where jobs go.
#include "cluster.hpp"

namespace drover::it {
namespace {

class NodeSelectionTest : public ClusterTest {
 protected:
  Cluster::Config config() const override {
    Cluster::Config c;
    c.agent_args = {"--features", "rack1,cpu"};
    return c;
  }
  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    const std::string conf = cluster().dir() + "/noded-n2.conf";
    write_file(conf, "# the second node\nfeatures = gpu,rack2\n");
    ASSERT_EQ(cluster().start_extra_agent("n2", {"--config", conf}), "");
    const CliResult env = cluster().cli("envs", "update", "local", "--nodes", "n1,n2");
    ASSERT_EQ(env.code, 0) << env.describe();
  }
  // Runs a job that prints the node it ran on; returns that node.
  std::string node_of(std::vector<std::string> args) {
    args.insert(args.end(), {"--wrap", "echo $DROVER_NODE_NAME"});
    const std::string id = cluster().submit(args);
    if (id.empty()) return "";
    const Json j = finished(id);
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
    return trim(read_file(cluster().work_dir() + "/drover-" + id + ".out"));
  }
};

TEST_F(NodeSelectionTest, FeaturesAreShownAndConstraintsChooseTheNode) {
  const CliResult nodes = cluster().cli("nodes");
  ASSERT_EQ(nodes.code, 0) << nodes.describe();
  EXPECT_TRUE(contains(nodes.out, "FEATURES")) << nodes.out;
  EXPECT_TRUE(contains(nodes.out, "cpu,rack1")) << nodes.out;
  EXPECT_TRUE(contains(nodes.out, "gpu,rack2")) << nodes.out;
  const CliResult detail = cluster().cli("nodes", "-l", "n2");
  EXPECT_TRUE(contains(detail.out, "features: gpu,rack2")) << detail.out;

  EXPECT_EQ(node_of({"--constraint=gpu"}), "n2");
  EXPECT_EQ(node_of({"-C", "rack1&cpu"}), "n1");
  EXPECT_EQ(node_of({"--constraint=gpu|nothing"}), "n2");
  EXPECT_EQ(node_of({"--constraint=[rack2|rack3]"}), "n2");
}

TEST_F(NodeSelectionTest, NodelistAndExcludeChooseTheNode) {
  EXPECT_EQ(node_of({"--nodelist=n2"}), "n2");
  EXPECT_EQ(node_of({"-w", "n1"}), "n1");
  EXPECT_EQ(node_of({"--exclude=n1"}), "n2");
  EXPECT_EQ(node_of({"-x", "n2"}), "n1");
  // Both listed, no count: the job gets both nodes (as sbatch).
  const std::string id = cluster().submit({"--nodelist=n[1-2]", "--wrap", "echo $DROVER_NODELIST"});
  const Json j = finished(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << read_file(cluster().work_dir() + "/drover-" + id + ".out");
  EXPECT_EQ(trim(read_file(cluster().work_dir() + "/drover-" + id + ".out")), "n1,n2");
  const CliResult show = cluster().cli("show", id);
  EXPECT_TRUE(contains(show.out, "--nodelist=n[1-2]")) << show.out;
}

TEST_F(NodeSelectionTest, SubmitRefusesWhatNoNodeCouldEverSatisfy) {
  CliResult r = cluster().cli("submit", "--constraint=a100", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "--constraint=a100: no node of queue")) << r.err;
  EXPECT_TRUE(contains(r.err, "has feature a100 (features: cpu, gpu, rack1, rack2)")) << r.err;
  r = cluster().cli("submit", "--nodelist=n9", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "node n9 is not in queue")) << r.err;
  r = cluster().cli("submit", "-N", "1", "--nodelist=n1,n2", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "2 nodes listed, but --nodes=1")) << r.err;
  r = cluster().cli("submit", "--exclude=n1,n2", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "--exclude=n1,n2: leaves no node")) << r.err;
  r = cluster().cli("submit", "--exclusive=user", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "--exclusive=user")) << r.err;
  r = cluster().cli("submit", "--constraint=gpu*2", "--wrap", "true");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "feature counts")) << r.err;
}

TEST_F(NodeSelectionTest, AdminFeaturesRedirectJobs) {
  const CliResult set = cluster().cli("nodes", "update", "n1", "--features", "a100,gpu");
  ASSERT_EQ(set.code, 0) << set.describe();
  EXPECT_TRUE(contains(set.out, "n1: features a100,gpu")) << set.out;
  EXPECT_EQ(node_of({"--constraint=a100"}), "n1");
  const CliResult back = cluster().cli("nodes", "update", "n1", "--agent-features");
  ASSERT_EQ(back.code, 0) << back.describe();
  EXPECT_TRUE(contains(back.out, "cpu,rack1 (from its agent)")) << back.out;
  // Kept across a head restart.
  ASSERT_EQ(cluster().cli("nodes", "update", "n2", "--features", "h100").code, 0);
  ASSERT_EQ(cluster().restart_head(), "");
  const CliResult nodes = cluster().cli("nodes", "--json");
  EXPECT_TRUE(contains(nodes.out, "\"h100\"")) << nodes.out;
}

TEST_F(NodeSelectionTest, ExclusiveGetsTheWholeNodeAndKeepsOthersOff) {
  const int vcpus = static_cast<int>(cluster().node_info().value("vcpus", 0));
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string a = cluster().submit(
      {"--exclusive", "-w", "n2", "-t", "1:00", "--wrap",
       "echo $DROVER_NODE_NAME $SLURM_CPUS_ON_NODE; while [ ! -e " + gate + " ]; do sleep 0.05; done"});
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  // A one-CPU job for n2 waits for the whole-node job, one for anywhere runs on n1.
  const std::string b = cluster().submit({"-w", "n2", "-t", "0:30", "--wrap", "echo $DROVER_NODE_NAME"});
  const std::string c = cluster().submit({"-t", "0:30", "--wrap", "echo $DROVER_NODE_NAME"});
  ASSERT_EQ(finished(c).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(trim(read_file(cluster().work_dir() + "/drover-" + c + ".out")), "n1");
  const Json jb = cluster().describe(b);
  EXPECT_EQ(jb.value("status", ""), "RUNNABLE") << jb.dump(2);
  EXPECT_EQ(jb.value("pendingReason", ""), "Resources") << jb.dump(2);
  EXPECT_GT(jb.value("estimatedStartAt", 0LL), 0) << "it holds a reservation for n2: " << jb.dump(2);
  write_file(gate, "");
  ASSERT_EQ(finished(a).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(trim(read_file(cluster().work_dir() + "/drover-" + a + ".out")), "n2 " + std::to_string(vcpus))
      << "every CPU of the node";
  ASSERT_EQ(finished(b).value("status", ""), "SUCCEEDED");
  const CliResult show = cluster().cli("show", a);
  EXPECT_TRUE(contains(show.out, "--nodelist=n2 --exclusive")) << show.out;
}

}  // namespace
}  // namespace drover::it
