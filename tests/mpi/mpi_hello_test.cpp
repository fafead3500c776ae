// An MPI job through Drover: examples/hello.sh runs mpirun inside the job with
// $DROVER_NTASKS ranks; every rank must stay on the job's CPUs.
#include <regex>

#include "cluster.hpp"

namespace drover::it {
namespace {

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

// "0-2,5" -> {0, 1, 2, 5}
std::set<int> parse_cpu_list(const std::string& text) {
  std::set<int> cpus;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, ',');) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    const int lo = std::stoi(part.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
    for (int c = lo; c <= hi; ++c) cpus.insert(c);
  }
  return cpus;
}

class MpiHelloTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (!fs::exists(kExamplesBin + "/mpi_hello"))
      GTEST_SKIP() << "no " << kExamplesBin << "/mpi_hello: configure with -DDROVER_ENABLE_MPI=ON";
    if (::access("/usr/bin/mpirun", X_OK) != 0 && ::access("/usr/local/bin/mpirun", X_OK) != 0)
      GTEST_SKIP() << "mpirun is not installed";
    ClusterTest::SetUp();
  }
  Cluster::Config config() const override { return host_named_config(); }
};

TEST_F(MpiHelloTest, HelloFromTwoRanksOnTheJobsCpus) {
  const Json node = cluster().node_info();
  if (node.value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  CliOptions opts;
  opts.env.push_back({"DROVER_EXAMPLES_BIN", kExamplesBin});
  const std::string id =
      cluster().submit({"-n", "2", "-t", "1:00", kSourceDir + "/examples/hello.sh"}, opts);
  ASSERT_FALSE(id.empty());
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string log = read_file(cluster().work_dir() + "/drover-" + id + ".out");
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n--- job output:\n" << log;
  EXPECT_TRUE(contains(log, "hello from 2 ranks")) << log;

  // Each rank reports the CPUs it may run on: those must be the job's.
  std::set<int> job_cpus;
  for (const auto& c : j["attempts"][0]["container"].value("cpus", Json::array())) job_cpus.insert(c.get<int>());
  ASSERT_EQ(job_cpus.size(), 2u) << j.dump(2);
  const std::regex line(R"(rank (\d+) of 2 on \S+ cpus ([0-9,-]+))");
  std::set<int> ranks;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    ranks.insert(std::stoi((*it)[1]));
    for (int cpu : parse_cpu_list((*it)[2]))
      EXPECT_TRUE(job_cpus.count(cpu)) << "rank " << (*it)[1] << " may run on CPU " << cpu
                                       << ", outside the job's CPUs\n" << log;
  }
  EXPECT_EQ(ranks, (std::set<int>{0, 1})) << log;
}


TEST_F(MpiHelloTest, TwoJobsOnOneNodeGetDifferentCpus) {
  const Json node = cluster().node_info();
  if (node.value("vcpus", 0) < 2) GTEST_SKIP() << "the node has fewer than 2 CPUs";
  // Both jobs are running before either starts mpirun, so they hold CPUs together.
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string wrapper = cluster().work_dir() + "/gated-hello.sh";
  write_file(wrapper,
             "#!/bin/bash\n"
             "while [ ! -e " + gate + " ]; do sleep 0.05; done\n"
             "exec " + kSourceDir + "/examples/hello.sh\n",
             0755);
  CliOptions opts;
  opts.env.push_back({"DROVER_EXAMPLES_BIN", kExamplesBin});
  const std::string a = cluster().submit({"-n", "1", "-t", "1:00", wrapper}, opts);
  const std::string b = cluster().submit({"-n", "1", "-t", "1:00", wrapper}, opts);
  ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
  ASSERT_TRUE(cluster().wait_for_state(b, "RUNNING"));
  write_file(gate, "");
  std::vector<std::set<int>> seen;
  for (const auto& id : {a, b}) {
    const Json j = cluster().wait_for_end(id, 60000);
    const std::string log = read_file(cluster().work_dir() + "/drover-" + id + ".out");
    ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << "\n--- job output:\n" << log;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(rank 0 of 1 on \S+ cpus ([0-9,-]+))"))) << log;
    seen.push_back(parse_cpu_list(m[1]));
    EXPECT_TRUE(contains(log, "hello from 1 ranks")) << log;
  }
  for (int cpu : seen[0]) EXPECT_FALSE(seen[1].count(cpu)) << "both jobs ran on CPU " << cpu;
}

}  // namespace
}  // namespace drover::it
