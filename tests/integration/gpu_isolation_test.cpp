// GPU device isolation and memory binding through the real daemons: drover-noded
// is told a 2-GPU topology (netns-gpu-2numa.xml: GPU i next to PU i, NUMA node i)
// and, with gpu-devices, which device files are those GPUs: two files this test
// makes with the numbers of /dev/full and /dev/zero (there is no GPU here). A job
// may open only its own GPU's file; the other's open fails with EPERM from the
// device cgroup. Its memory is bound to its PUs' NUMA node.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cluster.hpp"

namespace drover::it {
namespace {

class GpuIsolationTest : public ClusterTest {
 protected:
  static std::string& files_dir() {
    static std::string dir;
    return dir;
  }
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/drover-gpu-it-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    files_dir() = tmpl;
    ::chmod(tmpl, 0755);
    ::mknod((files_dir() + "/gpu0").c_str(), S_IFCHR | 0666, ::makedev(1, 7));
    ::mknod((files_dir() + "/gpu1").c_str(), S_IFCHR | 0666, ::makedev(1, 5));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!files_dir().empty()) fs::remove_all(files_dir(), ec);
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups and device files";
    ASSERT_TRUE(fs::exists(files_dir() + "/gpu1")) << "cannot make device files in /tmp";
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    if (!contains(cluster().agent_log(), "GPU device files:")) GTEST_SKIP() << cluster().agent_log();
    if (contains(cluster().agent_log(), "GPU device isolation is not available"))
      GTEST_SKIP() << "no device cgroup here:\n" << cluster().agent_log();
  }
  Cluster::Config config() const override {
    Cluster::Config c;
    c.topology_xml = kTestData + "/hwloc/netns-gpu-2numa.xml";
    c.agent_args = {"--gpu-devices", "0=" + files_dir() + "/gpu0,1=" + files_dir() + "/gpu1"};
    return c;
  }
  // Runs a job that tries both GPUs' files and prints its memory nodes.
  std::string run(std::vector<std::string> args) {
    args.insert(args.end(), {"--wrap", "cd " + files_dir() + "; for f in gpu0 gpu1; do head -c 1 $f > /dev/null && "
                                       "echo \"$f opened\"; done 2>&1; grep Mems_allowed_list /proc/self/status"});
    const std::string id = cluster().submit(args);
    if (id.empty()) return "";
    const Json j = finished(id);
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
    return read_file(cluster().work_dir() + "/drover-" + id + ".out");
  }
};

const std::string kDenied0 = "head: cannot open 'gpu0' for reading: Operation not permitted\n";
const std::string kDenied1 = "head: cannot open 'gpu1' for reading: Operation not permitted\n";

TEST_F(GpuIsolationTest, AJobOpensOnlyItsOwnGpu) {
  EXPECT_TRUE(contains(cluster().agent_log(), "GPU device files: 0=" + files_dir() + "/gpu0, 1=" + files_dir() + "/gpu1"))
      << cluster().agent_log();
  // GPU 0 and PU 0 (NUMA node 0): memory on node 0.
  EXPECT_EQ(run({"--gpus", "1"}), "gpu0 opened\n" + kDenied1 + "Mems_allowed_list:\t0\n");
  EXPECT_EQ(run({"--gpus", "2", "-c", "2"}), "gpu0 opened\ngpu1 opened\nMems_allowed_list:\t0\n");
  // No GPU: neither file.
  const std::string none = run({});
  EXPECT_TRUE(none.starts_with(kDenied0 + kDenied1)) << none;
}

TEST_F(GpuIsolationTest, WhileOneJobHoldsGpu0TheNextGetsOnlyGpu1) {
  const std::string first = cluster().submit({"--gpus", "1", "--wrap", "sleep 30"});
  ASSERT_TRUE(cluster().wait_for_state(first, "RUNNING"));
  // GPU 1 sits next to PU 1, NUMA node 1 of the topology; this machine has no
  // node 1, so the job keeps the agent's memory nodes.
  const std::string out = run({"--gpus", "1"});
  EXPECT_TRUE(out.starts_with(kDenied0 + "gpu1 opened\nMems_allowed_list:\t")) << out;
  EXPECT_EQ(cluster().cli("cancel", first).code, 0);
  finished(first);
}

}  // namespace
}  // namespace drover::it
