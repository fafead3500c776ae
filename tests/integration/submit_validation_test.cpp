// Submissions that can never run are refused at submit time, with a message that
// names the field or limit, and leave nothing behind: no job, no used job id.
#include "cluster.hpp"

namespace drover::it {
namespace {

class SubmitValidationTest : public ClusterTest {
 protected:
  // Submits through the CLI and expects a refusal whose message holds every one of `words`.
  void expect_refused(const std::vector<std::string>& args, const std::vector<std::string>& words) {
    std::vector<std::string> a = {"submit"};
    a.insert(a.end(), args.begin(), args.end());
    const CliResult r = cluster().run_cli(a);
    std::string shown;
    for (const auto& x : args) shown += " " + x;
    EXPECT_NE(r.code, 0) << "drover submit" << shown << " was accepted:\n" << r.describe();
    EXPECT_TRUE(trim(r.out).empty()) << r.describe();
    for (const auto& w : words)
      EXPECT_TRUE(contains(r.err, w)) << "drover submit" << shown << ": the message should name '" << w
                                      << "'\n" << r.describe();
  }

  // Sends a SubmitJob request directly and expects an error holding every one of `words`.
  void expect_api_refused(Json args, const std::vector<std::string>& words) {
    if (!args.contains("workingDirectory")) args["workingDirectory"] = cluster().work_dir();
    if (!args.contains("script") && !args.contains("command")) args["script"] = "#!/bin/sh\ntrue\n";
    auto c = cluster().api();
    ASSERT_TRUE(c.has_value());
    auto r = c->call("SubmitJob", args);
    ASSERT_FALSE(r.has_value()) << "accepted: " << args.dump();
    for (const auto& w : words)
      EXPECT_TRUE(contains(r.message(), w)) << args.dump() << ": the message should name '" << w << "', got: "
                                            << r.message();
  }

  void expect_nothing_created() {
    auto c = cluster().api();
    ASSERT_TRUE(c.has_value());
    auto r = c->call("ListJobs", Json{{"jobStatus", Json::array({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING",
                                                                  "RUNNING", "SUCCEEDED", "FAILED"})}});
    ASSERT_TRUE(r.has_value()) << r.message();
    EXPECT_TRUE((*r)["jobSummaryList"].empty()) << r->dump(2);
    // And no job id was used up: the first accepted job is job 1.
    const std::string id = cluster().submit({"--wrap", "echo fine"});
    EXPECT_EQ(id, "1");
    EXPECT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
  }
};

TEST_F(SubmitValidationTest, UnknownQueueAndDefinition) {
  expect_refused({"-p", "nosuchqueue", "--wrap", "true"}, {"jobQueue", "nosuchqueue", "default"});
  expect_refused({"--definition", "nosuchdef", "--wrap", "true"}, {"jobDefinition", "nosuchdef"});
  expect_refused({"--definition", "nosuchdef:2"}, {"jobDefinition", "nosuchdef"});
  expect_nothing_created();
}

TEST_F(SubmitValidationTest, ImpossibleResources) {
  const Json node = cluster().node_info();
  const int vcpus = node.value("vcpus", 0);
  const std::int64_t mem = node.value("memoryMiB", std::int64_t{0});
  ASSERT_GT(vcpus, 0);
  ASSERT_GT(mem, 0);
  expect_refused({"-c", "0", "--wrap", "true"}, {"--cpus-per-task=0", "the least is 1"});
  expect_refused({"-n", "0", "--wrap", "true"}, {"--ntasks=0", "the least is 1"});
  expect_refused({"-c", "10000", "--wrap", "true"}, {"vcpus", "10000", std::to_string(vcpus)});
  expect_refused({"-c", std::to_string(vcpus + 1), "--wrap", "true"},
                 {"vcpus", std::to_string(vcpus + 1), "largest node"});
  expect_refused({"--mem", std::to_string(mem + 1), "--wrap", "true"},
                 {"memory", std::to_string(mem + 1), std::to_string(mem)});
  expect_refused({"--mem", "100000G", "--wrap", "true"}, {"memory", std::to_string(mem)});
  expect_refused({"--mem", "lots", "--wrap", "true"}, {"--mem", "lots"});
  expect_refused({"--gpus", "1", "--wrap", "true"}, {"gpus", "1"});
  // The same limits hold for requests that bypass the CLI.
  expect_api_refused({{"resourceRequirements", {{{"type", "VCPU"}, {"value", "0"}}}}}, {"vcpus", "at least 1"});
  expect_api_refused({{"resourceRequirements", {{{"type", "VCPU"}, {"value", "-3"}}}}}, {"vcpus"});
  expect_api_refused({{"resourceRequirements", {{{"type", "MEMORY"}, {"value", "-1"}}}}}, {"memory"});
  expect_nothing_created();
}

TEST_F(SubmitValidationTest, BadScriptsAndOptions) {
  const std::string no_shebang = cluster().work_dir() + "/plain.sh";
  write_file(no_shebang, "echo no interpreter line\n", 0755);
  expect_refused({no_shebang}, {"plain.sh", "#!"});
  expect_refused({cluster().work_dir() + "/missing.sh"}, {"missing.sh", "No such file"});
  expect_api_refused({{"script", "echo hi\n"}}, {"script", "#!"});
  expect_api_refused({{"script", "#!/bin/sh\ntrue\n"}, {"workingDirectory", "relative/dir"}}, {"workingDirectory"});
  expect_api_refused({{"jobName", "bad name!"}}, {"jobName"});
  expect_refused({"--name", "bad name!", "--wrap", "true"}, {"jobName", "bad name!"});
  expect_refused({"-t", "soon", "--wrap", "true"}, {"--time", "soon"});
  expect_refused({"--retry", "11", "--wrap", "true"}, {"--retry=11", "the most is 10"});
  expect_refused({"--retry", "0", "--wrap", "true"}, {"--retry=0", "the least is 1"});
  expect_refused({"--dependency", "afterok:777", "--wrap", "true"}, {"dependsOn", "777"});
  expect_refused({"--dependency", "whenever:1", "--wrap", "true"}, {"--dependency", "whenever"});
  expect_refused({"--env", "NOEQUALS", "--wrap", "true"}, {"--env", "NOEQUALS"});
  expect_refused({}, {"nothing to run"});
  expect_nothing_created();
}


// Limits come from what the node reported: here a checked-in 16-core topology,
// whatever this machine has. No job runs (its PUs need not exist here).
class TopologyLimitsTest : public SubmitValidationTest {
 protected:
  Cluster::Config config() const override {
    Cluster::Config c;
    c.topology_xml = kTestData + "/hwloc/2pkg-16core-nosmt.xml";
    return c;
  }
};

TEST_F(TopologyLimitsTest, LimitsComeFromTheNodesTopology) {
  const CliResult nodes = cluster().cli("nodes", "--json");
  ASSERT_EQ(nodes.code, 0) << nodes.describe();
  const Json n = Json::parse(nodes.out, nullptr, false);
  ASSERT_TRUE(n.is_object() && n["nodes"].size() == 1) << nodes.out;
  EXPECT_EQ(n["nodes"][0].value("vcpus", 0), 16) << nodes.out;
  EXPECT_TRUE(n["nodes"][0].value("connected", false));
  const std::int64_t mem = n["nodes"][0].value("memoryMiB", std::int64_t{0});
  expect_refused({"-c", "17", "--wrap", "true"}, {"vcpus", "17", "16"});
  expect_refused({"-n", "4", "-c", "5", "--wrap", "true"}, {"vcpus", "20", "16"});
  expect_refused({"--mem", std::to_string(mem + 1), "--wrap", "true"}, {"memory", std::to_string(mem)});
  // The largest request that fits is accepted (and waits for, or gets, the node).
  const std::string id = cluster().submit({"-c", "16", "--mem", std::to_string(mem), "--wrap", "true"});
  EXPECT_EQ(id, "1");
  auto c = cluster().api();
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->call("TerminateJob", Json{{"jobId", id}}).has_value());
  EXPECT_TRUE(cluster().wait_for_state(id, "FAILED"));
}

}  // namespace
}  // namespace drover::it
