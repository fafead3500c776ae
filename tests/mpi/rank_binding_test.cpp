// Per-rank binding: a job of N tasks gets a rankfile from its plan, and a plain
// `mpirun ./app` inside it (no -np, no binding options) puts each rank on its
// own PUs: rank r on the r-th cpus-per-task PUs of the plan (block, one node).
// Each rank reports sched_getaffinity (mpi_hello prints it); drover run -n uses
// the same binding (Cpus_allowed_list from /proc/self/status).
#include <regex>

#include "cluster.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

std::vector<int> cpus_of(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    const int lo = std::stoi(part.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  return cpus;
}

class RankBindingTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (!fs::exists(kExamplesBin + "/mpi_hello"))
      GTEST_SKIP() << "no " << kExamplesBin << "/mpi_hello: configure with -DDROVER_ENABLE_MPI=ON";
    if (::access("/usr/bin/mpirun", X_OK) != 0 && ::access("/usr/local/bin/mpirun", X_OK) != 0)
      GTEST_SKIP() << "mpirun is not installed";
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    if (cluster().node_info().value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  }
  Cluster::Config config() const override { return host_named_config(); }
  std::vector<std::string> root_ok() {
    return {"--export=ALL,OMPI_ALLOW_RUN_AS_ROOT=1,OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};
  }
  std::string output(const std::string& id) { return read_file(cluster().work_dir() + "/drover-" + id + ".out"); }
  // rank -> the PUs it reported.
  static std::map<int, std::vector<int>> ranks(const std::string& out) {
    std::map<int, std::vector<int>> seen;
    const std::regex line(R"(rank (\d+) of \d+ on \S+ cpus ([0-9,-]+))");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it)
      seen[std::stoi((*it)[1])] = cpus_of((*it)[2]);
    return seen;
  }
  static std::vector<int> plan(const Json& j) {
    std::vector<int> cpus;
    for (const auto& c : j["attempts"].back()["container"].value("cpus", Json::array())) cpus.push_back(c.get<int>());
    return cpus;
  }
};

TEST_F(RankBindingTest, PlainMpirunPutsEachRankOnItsPlannedPu) {
  std::vector<std::string> args = root_ok();
  for (const char* a : {"-n", "2", "-t", "1:00", "--wrap"}) args.push_back(a);
  // The second mpirun asks Open MPI to bind nothing: the ranks are bound all the
  // same, which shows the binding is the rankfile's (on a 2-core host Open MPI's own
  // default, a core per rank, would look like the plan).
  args.push_back("cat \"$DROVER_RANKFILE\"; mpirun " + kExamplesBin + "/mpi_hello; echo second; mpirun --bind-to none " +
                 kExamplesBin + "/mpi_hello");
  const std::string id = cluster().submit(args);
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string out = output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << out << cluster().logs();
  const auto cpus = plan(j);
  ASSERT_EQ(cpus.size(), 2u) << j.dump(2);
  // The rankfile names this host's PUs, one per rank.
  EXPECT_TRUE(contains(out, "rank 0=localhost slot=" + std::to_string(cpus[0]) + "\n")) << out;
  EXPECT_TRUE(contains(out, "rank 1=localhost slot=" + std::to_string(cpus[1]) + "\n")) << out;
  const auto second = out.find("second\n");
  ASSERT_NE(second, std::string::npos) << out;
  const std::map<int, std::vector<int>> want = {{0, {cpus[0]}}, {1, {cpus[1]}}};
  EXPECT_EQ(ranks(out.substr(0, second)), want) << out;
  EXPECT_EQ(ranks(out.substr(second)), want) << out;
}

TEST_F(RankBindingTest, FewerRanksThanTasksTakeTheFirstBindings) {
  std::vector<std::string> args = root_ok();
  for (const char* a : {"-n", "2", "-t", "1:00", "--wrap"}) args.push_back(a);
  args.push_back("mpirun -np 1 " + kExamplesBin + "/mpi_hello");
  const std::string id = cluster().submit(args);
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string out = output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << out;
  const auto cpus = plan(j);
  ASSERT_EQ(cpus.size(), 2u);
  EXPECT_EQ(ranks(out), (std::map<int, std::vector<int>>{{0, {cpus[0]}}})) << out;
}

TEST_F(RankBindingTest, MoreRanksThanTasksNeedTheRankfileTurnedOff) {
  // Open MPI refuses ranks the rankfile does not place; the documented way out.
  std::vector<std::string> args = root_ok();
  for (const char* a : {"-n", "2", "-t", "1:00", "--wrap"}) args.push_back(a);
  args.push_back("mpirun -np 3 " + kExamplesBin + "/mpi_hello; echo refused=$?; mpirun --oversubscribe --mca "
                 "rmaps_rank_file_path '' -np 3 " + kExamplesBin + "/mpi_hello");
  const std::string id = cluster().submit(args);
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string out = output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << out;
  EXPECT_FALSE(contains(out, "refused=0")) << out;
  EXPECT_TRUE(contains(out, "hello from 3 ranks")) << out;
}

TEST_F(RankBindingTest, DroverRunTasksGetTheirOwnPus) {
  const CliResult r = cluster().cli("run", "-n", "2", "sh", "-c",
                                    "echo task $SLURM_PROCID $(grep Cpus_allowed_list /proc/self/status)");
  ASSERT_EQ(r.code, 0) << r.describe();
  const Json j = cluster().describe("1");
  const auto cpus = plan(j);
  ASSERT_EQ(cpus.size(), 2u) << j.dump(2);
  EXPECT_TRUE(contains(r.out, "task 0 Cpus_allowed_list: " + std::to_string(cpus[0]) + "\n")) << r.describe();
  EXPECT_TRUE(contains(r.out, "task 1 Cpus_allowed_list: " + std::to_string(cpus[1]) + "\n")) << r.describe();
}

// Inside a job, drover run -n K uses the plan's bindings while K fits the job's
// tasks, and lets more tasks share the job's PUs (saying so) instead of failing.
TEST_F(RankBindingTest, DroverRunInsideAJob) {
  const std::string probe = " sh -c 'echo task$SLURM_PROCID $(grep Cpus_allowed_list /proc/self/status)'";
  const std::string id = cluster().submit(
      {"-n", "2", "-t", "1", "--wrap",
       kBinDir + "/drover run" + probe + "; echo more; " + kBinDir + "/drover run -n 3" + probe});
  const Json j = cluster().wait_for_end(id, 30000);
  const std::string out = output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n" << out;
  const auto cpus = plan(j);
  ASSERT_EQ(cpus.size(), 2u);
  const auto more = out.find("more\n");
  ASSERT_NE(more, std::string::npos) << out;
  const std::string first = out.substr(0, more), second = out.substr(more);
  EXPECT_TRUE(contains(first, "task0 Cpus_allowed_list: " + std::to_string(cpus[0]) + "\n")) << out;
  EXPECT_TRUE(contains(first, "task1 Cpus_allowed_list: " + std::to_string(cpus[1]) + "\n")) << out;
  for (const char* t : {"task0", "task1", "task2"}) EXPECT_TRUE(contains(second, t)) << out;
  EXPECT_TRUE(contains(second, "share the job's CPUs")) << out;
}

TEST_F(RankBindingTest, DistributionIsRecordedAndSet) {
  std::vector<std::string> args = root_ok();
  for (const char* a : {"-n", "2", "-m", "cyclic:fcyclic", "-t", "1:00", "--wrap"}) args.push_back(a);
  args.push_back("echo dist=$SLURM_DISTRIBUTION; mpirun " + kExamplesBin + "/mpi_hello");
  const std::string id = cluster().submit(args);
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string out = output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << out;
  EXPECT_EQ(j.value("distribution", ""), "cyclic:fcyclic") << j.dump(2);
  EXPECT_TRUE(contains(out, "dist=cyclic:fcyclic")) << out;
  EXPECT_EQ(ranks(out).size(), 2u) << out;
  const CliResult show = cluster().cli("show", id);
  EXPECT_TRUE(contains(show.out, "distribution      cyclic:fcyclic (nodes:cores)")) << show.out;
  // A distribution Drover does not do is refused at submit, naming it.
  const CliResult bad = cluster().cli("submit", "-m", "plane=2", "--wrap", "true");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.err, "--distribution=plane=2: plane is not supported")) << bad.describe();
}

}  // namespace
}  // namespace drover::it
