// examples/heat2d across two nodes of the namespace cluster loses one of them: the node
// is cut off the network after the job has checkpointed, droverd declares it lost, the
// job (it checkpoints) is requeued with the same id, runs again on the two nodes left,
// resumes from its newest checkpoint, and ends with the field bitwise equal to an
// uninterrupted run's (tests/mpi/heat2d_test.cpp has the single-node interruptions).
#include <regex>

#include "drover_netns.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;
const std::string kHeat = kExamplesBin + "/heat2d/heat2d";

class NetnsHeat2dTest : public NetnsDroverTest {
 protected:
  void SetUp() override {
    if (::access(kHeat.c_str(), X_OK) != 0)
      GTEST_SKIP() << "no " << kHeat << ": configure with -DDROVER_ENABLE_MPI=ON and a parallel HDF5";
    if (::access((kBinDir + "/drover-launch").c_str(), X_OK) != 0) GTEST_SKIP() << "no drover-launch built";
    NetnsDroverTest::SetUp();
  }
  NetnsDroverCluster::Config config() const override {
    NetnsDroverCluster::Config c;
    c.node_timeout_s = 1.5;  // a silent node is lost soon
    return c;
  }
  std::string log() { return read_file(cluster().work_dir() + "/heat.log"); }
  // The nodes of one attempt: its main node first.
  static std::vector<std::string> nodes_of(const Json& attempt) {
    std::vector<std::string> out = {attempt["container"].value("nodeName", "")};
    for (const auto& o : attempt["container"].value("otherNodes", Json::array())) out.push_back(o.value("nodeName", ""));
    return out;
  }
};

TEST_F(NetnsHeat2dTest, ALostNodeRequeuesTheJobWhichResumesOnTheOthersWithTheSameField) {
  const std::string problem = "--nx 64 --ny 64 --steps 300";
  const std::string work = cluster().work_dir();
  // The reference: plain mpirun, 2 ranks, no checkpoint, in the root namespace.
  const CliResult ref = Cluster::run_program(
      {"/bin/bash", "-c",
       "mpirun --oversubscribe -np 2 " + kHeat + " " + problem + " --every 0 --checkpoint-dir ref-ckpt --out ref.raw"},
      {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
       {"HOME", work},
       {"OMPI_ALLOW_RUN_AS_ROOT", "1"},
       {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}},
      60000, work);
  ASSERT_EQ(ref.code, 0) << ref.describe();
  const std::string want = read_file(work + "/ref.raw");
  ASSERT_EQ(want.size(), 64u * 64u * 8u);

  // One rank on each of 2 nodes; MPI traffic on the cluster's network.
  const std::string subnet = cluster().net().subnet();
  const std::string id = cluster().submit(
      {"--export=ALL,OMPI_ALLOW_RUN_AS_ROOT=1,OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1,OMPI_MCA_odls_base_sigkill_timeout=0", "--checkpoint", "-N", "2",
       "--ntasks-per-node", "1", "-t", "5:00", "--wrap",
       "mpirun -np 2 --mca btl tcp,self --mca btl_tcp_if_include " + subnet + " --mca oob_tcp_if_include " + subnet +
           " " + kHeat + " " + problem + " --every 50 --sleep-ms 10 --out field.raw >> heat.log 2>&1"});
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_until([&] { return contains(log(), "heat2d: checkpoint 50 committed"); }, 30000))
      << log() << cluster().describe(id).dump(2) << cluster().logs();
  const Json running = cluster().describe(id);
  const std::vector<std::string> first = nodes_of(running["attempts"].back());
  ASSERT_EQ(first.size(), 2u) << running.dump(2);
  // Cut the node that runs rank 1 (not mpirun's): droverd must stop the rest of the job.
  const std::string lost = first[1];
  const int k = cluster().node_index(lost);
  ASSERT_GT(k, 0);
  ASSERT_EQ(cluster().net().set_link(k, false), "");
  ASSERT_TRUE(cluster().wait_for_node_state(lost, "DOWN", false, 15000));

  // Requeued with the same id, and running again on the two other nodes.
  ASSERT_TRUE(wait_until(
      [&] {
        const Json j = cluster().describe(id);
        return j.value("status", "") == "RUNNING" && j["attempts"].size() == 2u;
      },
      20000))
      << cluster().describe(id).dump(2) << log() << cluster().logs();
  const Json again = cluster().describe(id);
  std::vector<std::string> second = nodes_of(again["attempts"][1]);
  EXPECT_EQ(second.size(), 2u) << again.dump(2);
  EXPECT_EQ(std::count(second.begin(), second.end(), lost), 0) << again.dump(2);
  // The node comes back; what was left of the old attempt there is killed.
  ASSERT_EQ(cluster().net().set_link(k, true), "");

  const Json j = cluster().wait_for_end(id, 30000);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << log() << cluster().logs();
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued") << j.dump(2);
  EXPECT_TRUE(contains(j["attempts"][0]["container"].value("reason", ""), "Node " + lost + " lost")) << j.dump(2);
  const std::string out = log();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(heat2d: resumed from step (\d+) )"))) << out;
  EXPECT_GE(std::stoi(m[1]), 50) << out;
  EXPECT_TRUE(contains(out, "(attempt 2)")) << out;
  const std::string field = read_file(work + "/field.raw");
  EXPECT_EQ(field.size(), want.size());
  EXPECT_TRUE(field == want) << "the field differs from the uninterrupted run's\n" << out;
  EXPECT_TRUE(wait_until([&] { return cluster().net().pids_on_node(k).size() <= 1; }, 10000))
      << "only the agent should be left on " << lost;
}

}  // namespace
}  // namespace drover::it
