// GPU placement across namespace nodes. Two nodes have fake GPUs in their hwloc
// XML (tests/data/hwloc/netns-gpu-2numa*.xml: 2 packages, one NUMA node and one PU
// each, one fake A100 near each NUMA node); the third has none. Jobs are really
// bound to PUs 0 and 1 (cpusets), and get their GPUs as environment variables
// (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, ZE_AFFINITY_MASK, DROVER_GPUS).
// Checked here: each GPU job gets a GPU and the PU of the same NUMA node, as
// `drover show --json` says and as the job itself sees it (environment and
// Cpus_allowed_list); a GPU job waits for a GPU (Resources) even where PUs are
// free; jobs asking more GPUs than any node has are refused at submit; a 2-node
// job gets a GPU of its own on each node, seen on the other node through
// drover-launch.
#include <map>
#include <set>

#include "drover_netns.hpp"
#include "place/discovery.hpp"

namespace drover::it {
namespace {

const std::string kGpuNode = kTestData + "/hwloc/netns-gpu-2numa.xml";          // GPU i near PU i
const std::string kCrossedNode = kTestData + "/hwloc/netns-gpu-2numa-crossed.xml";  // GPU 0 near PU 1
const std::string kCpuNode = kTestData + "/hwloc/netns-2core.xml";

// ---- the topologies alone (no root needed) ----

// GPU index -> the one PU near it, as each file is meant to be (README.md there).
const std::map<int, int> kPuNearGpu = {{0, 0}, {1, 1}};
const std::map<int, int> kPuNearGpuCrossed = {{0, 1}, {1, 0}};

void expect_gpu_topology(const std::string& path, const std::map<int, int>& pu_near_gpu,
                         const std::vector<std::string>& bus_ids) {
  SCOPED_TRACE(path);
  auto r = place::discover_topology(path);
  ASSERT_TRUE(r) << r.message();
  const NodeTopology& t = *r;
  EXPECT_EQ(t.packages, 2);
  ASSERT_EQ(t.numa.size(), 2u);
  ASSERT_EQ(t.cores.size(), 2u);
  EXPECT_EQ(t.pu_count(), 2);
  EXPECT_EQ(t.memory_mib, 2048);
  for (int d = 0; d < 2; ++d) {
    EXPECT_EQ(t.numa[d].os_index, d);
    EXPECT_EQ(t.numa[d].memory_mib, 1024);
    EXPECT_EQ(t.numa[d].pus, std::vector<int>{d});
    EXPECT_EQ(t.cores[d].pus, std::vector<int>{d});
    EXPECT_EQ(t.cores[d].numa, d);
    EXPECT_EQ(t.cores[d].package, d);
  }
  // cuda and nvml OS devices under one PCI device are one GPU; indexes follow PCI bus order.
  ASSERT_EQ(t.gpus.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const Gpu& g = t.gpus[i];
    EXPECT_EQ(g.index, i);
    EXPECT_EQ(g.pci_bus_id, bus_ids[i]);
    EXPECT_EQ(g.vendor, "nvidia");
    EXPECT_EQ(g.name, "NVIDIA A100-SXM4-80GB (fake)");
    const int pu = pu_near_gpu.at(i);
    EXPECT_EQ(g.local_pus, std::vector<int>{pu}) << "GPU " << i;
    EXPECT_EQ(g.numa, pu) << "GPU " << i << ": NUMA node i holds PU i";
  }
}

TEST(NetnsGpuTopology, DiscoversTwoGpusEachNearItsNumaNode) {
  expect_gpu_topology(kGpuNode, kPuNearGpu, {"0000:41:00.0", "0000:81:00.0"});
}

TEST(NetnsGpuTopology, CrossedFileHasGpuZeroNearPuOne) {
  expect_gpu_topology(kCrossedNode, kPuNearGpuCrossed, {"0000:21:00.0", "0000:a1:00.0"});
}

// ---- on the namespace cluster ----

// "KEY=value" lines -> map (later lines win).
std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& line : netns::detail::split_lines(text)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos && eq > 0) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::string join(const Json& ints) {
  std::string s;
  for (const auto& x : ints) s += (s.empty() ? "" : ",") + x.dump();
  return s;
}

// What a GPU job prints about itself: where it runs, the GPU variables Drover
// sets, and the CPUs the kernel lets it use ("0" or "1" here, or "0-1").
const std::string kReport =
    "echo host=$(hostname); "
    "echo cuda=${CUDA_VISIBLE_DEVICES-unset}; echo rocr=${ROCR_VISIBLE_DEVICES-unset}; "
    "echo ze=${ZE_AFFINITY_MASK-unset}; echo drover=${DROVER_GPUS-unset}; "
    "echo order=${CUDA_DEVICE_ORDER-unset}; echo slurm_gpus=${SLURM_GPUS_ON_NODE-unset}; "
    "echo cpus=$(grep Cpus_allowed_list /proc/self/status | cut -f2)";

class NetnsGpuTest : public NetnsDroverTest {
 protected:
  NetnsDroverCluster::Config config() const override {
    NetnsDroverCluster::Config c;
    c.topologies = {kGpuNode, kCrossedNode, kCpuNode};
    return c;
  }

  void SetUp() override {
    NetnsDroverTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    // One queue per node as well, so that a test can say where its jobs go.
    for (int k = 1; k <= cluster().node_count(); ++k) {
      const std::string q = queue(k);
      for (const std::vector<std::string>& a : {std::vector<std::string>{"envs", "create", q, "--nodes", cluster().node(k)},
                                               std::vector<std::string>{"queues", "create", q, "--envs", q}}) {
        const CliResult r = cluster().run_cli(a);
        ASSERT_EQ(r.code, 0) << r.describe();
      }
    }
  }

  static std::string queue(int k) { return "n" + std::to_string(k); }

  // The node's topology as droverd has it (sent by the agent).
  Json topology(int k) { return cluster().node_info(cluster().node(k))["topology"]; }

  // A job that waits for `gate`, then reports (kReport).
  std::vector<std::string> gpu_job(const std::string& q, const std::string& gate, int gpus = 1, int cpus = 1) {
    return {"-p", q, "--gpus", std::to_string(gpus), "-c", std::to_string(cpus), "-t", "1:00", "--wrap",
            "while [ ! -e " + gate + " ]; do sleep 0.05; done; " + kReport};
  }

  // The job's placement (main node) as `drover show --json` prints it.
  Json shown_container(const std::string& id) {
    const CliResult r = cluster().cli("show", id, "--json");
    EXPECT_EQ(r.code, 0) << r.describe();
    const Json j = Json::parse(r.out, nullptr, false);
    if (!j.is_array() || j.empty() || !j[0].contains("attempts") || j[0]["attempts"].empty()) {
      ADD_FAILURE() << "drover show " << id << " --json: no attempt:\n" << r.out;
      return Json::object();
    }
    return j[0]["attempts"].back()["container"];
  }

  // Checks one node's part of a GPU job: the placement (cpus, gpus) against the
  // node's topology (each GPU's local PUs hold the job's PUs) and against what
  // the job saw there (`seen`, kReport's lines). Returns the GPU list ("0", "1").
  std::string expect_gpu_part(const Json& placement, int node, const std::map<std::string, std::string>& seen,
                              int gpus = 1) {
    SCOPED_TRACE("node " + cluster().node(node) + ", placement " + placement.dump());
    const Json topo = topology(node);
    EXPECT_EQ(placement.value("nodeName", ""), cluster().node(node));
    EXPECT_EQ(placement["gpus"].size(), static_cast<std::size_t>(gpus));
    EXPECT_EQ(placement["cpus"].size(), 1u);
    if (placement["gpus"].size() != static_cast<std::size_t>(gpus) || placement["cpus"].size() != 1) return "";
    const int pu = placement["cpus"][0].get<int>();
    std::set<int> near;  // the PUs near the job's GPUs
    for (const auto& g : placement["gpus"]) {
      const Json& gpu = topo["gpus"][g.get<int>()];
      EXPECT_EQ(gpu.value("index", -1), g.get<int>());
      for (const auto& p : gpu["localPus"]) near.insert(p.get<int>());
      // The GPU's NUMA node is the PU's.
      const Json& numa = topo["numa"][gpu.value("numa", -1)];
      if (gpus == 1) {
        EXPECT_EQ(join(numa["pus"]), std::to_string(pu)) << topo.dump();
      }
    }
    EXPECT_TRUE(near.count(pu)) << "PU " << pu << " is not near the job's GPUs: " << topo.dump();
    const std::string list = join(placement["gpus"]);
    EXPECT_EQ(seen.count("host") ? seen.at("host") : "", cluster().node(node));
    for (const char* k : {"cuda", "rocr", "ze", "drover"})
      EXPECT_EQ(seen.count(k) ? seen.at(k) : "", list) << k;
    EXPECT_EQ(seen.count("order") ? seen.at("order") : "", "PCI_BUS_ID");
    EXPECT_EQ(seen.count("cpus") ? seen.at("cpus") : "", std::to_string(pu)) << "Cpus_allowed_list";
    return list;
  }
};

// Two 1-GPU jobs on each GPU node: each gets one GPU and the PU of the GPU's NUMA
// node, and different ones. With both GPUs busy a third waits (Resources) and
// runs once a GPU is free. On the crossed node GPU 0 sits near PU 1, so the
// index of a GPU says nothing about its PU: placement has to follow locality.
TEST_F(NetnsGpuTest, EachJobGetsAGpuAndThePuOfItsNumaNode) {
  for (int k : {1, 2}) {
    SCOPED_TRACE("node " + std::to_string(k));
    const std::string gate = cluster().work_dir() + "/gate" + std::to_string(k);
    const std::string a = cluster().submit(gpu_job(queue(k), gate));
    const std::string b = cluster().submit(gpu_job(queue(k), gate));
    ASSERT_TRUE(cluster().wait_for_state(a, "RUNNING"));
    ASSERT_TRUE(cluster().wait_for_state(b, "RUNNING"));
    const Json ca = shown_container(a), cb = shown_container(b);
    EXPECT_NE(ca["gpus"], cb["gpus"]) << ca.dump() << cb.dump();
    EXPECT_NE(ca["cpus"], cb["cpus"]) << ca.dump() << cb.dump();
    const Json n = cluster().node_info(cluster().node(k));
    EXPECT_EQ(n["gpusUsed"], Json::array({0, 1})) << n.dump();
    EXPECT_EQ(n.value("vcpusUsed", -1), 2) << n.dump();
    const CliResult l = cluster().cli("nodes", "-l");
    EXPECT_TRUE(contains(l.out, "GPU 0 " + topology(k)["gpus"][0].value("pciBusId", "?") + " nvidia")) << l.out;

    // Both GPUs busy: a third GPU job waits for resources.
    const std::string c = cluster().submit(gpu_job(queue(k), gate));
    ASSERT_FALSE(c.empty());
    ASSERT_TRUE(wait_until([&] { return cluster().describe(c).contains("pendingReason"); }, 5000))
        << cluster().describe(c).dump(2);
    EXPECT_EQ(cluster().state(c), "RUNNABLE");
    EXPECT_EQ(cluster().describe(c).value("pendingReason", ""), "Resources") << cluster().describe(c).dump(2);
    const CliResult shown = cluster().cli("show", c);
    EXPECT_TRUE(contains(shown.out, "Resources")) << shown.out;

    write_file(gate, "");
    for (const auto& id : {a, b, c}) {
      const Json j = cluster().wait_for_end(id, 20000);
      ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().job_output(id);
      const std::string out = cluster().job_output(id);
      SCOPED_TRACE("job " + id + " output:\n" + out);
      const std::string gpu = expect_gpu_part(shown_container(id), k, key_values(out));
      EXPECT_EQ(key_values(out)["slurm_gpus"], "1");
      // The exact pairs the file was made with (tests/data/hwloc/README.md).
      const auto& want = k == 1 ? kPuNearGpu : kPuNearGpuCrossed;
      if (!gpu.empty()) {
        EXPECT_EQ(key_values(out)["cpus"], std::to_string(want.at(std::stoi(gpu))));
      }
    }
  }
}

// GPUs, not PUs, are what a GPU job waits for: with both GPUs of node 1 held by
// one job that uses a single PU, a 1-GPU job waits (Resources) while a CPU-only
// job takes the free PU; the waiting job starts when the GPUs are free.
TEST_F(NetnsGpuTest, AGpuJobWaitsForAGpuWhileACpuJobTakesTheFreePu) {
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string both = cluster().submit(gpu_job(queue(1), gate, 2, 1));
  ASSERT_TRUE(cluster().wait_for_state(both, "RUNNING"));
  const Json cb = shown_container(both);
  EXPECT_EQ(cb["gpus"], Json::array({0, 1})) << cb.dump();
  ASSERT_EQ(cb["cpus"].size(), 1u) << cb.dump();

  const std::string waits = cluster().submit(gpu_job(queue(1), gate));
  ASSERT_TRUE(wait_until([&] { return cluster().describe(waits).contains("pendingReason"); }, 5000))
      << cluster().describe(waits).dump(2);
  EXPECT_EQ(cluster().describe(waits).value("pendingReason", ""), "Resources");

  const std::string cpu = cluster().submit(
      {"-p", queue(1), "-c", "1", "-t", "1:00", "--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done; " + kReport});
  ASSERT_TRUE(cluster().wait_for_state(cpu, "RUNNING"));
  EXPECT_EQ(cluster().state(waits), "RUNNABLE");
  const Json cc = shown_container(cpu);
  EXPECT_FALSE(cc.contains("gpus")) << cc.dump();
  EXPECT_NE(cc["cpus"], cb["cpus"]) << cc.dump() << cb.dump();

  write_file(gate, "");
  for (const auto& id : {both, cpu, waits})
    ASSERT_EQ(cluster().wait_for_end(id, 20000).value("status", ""), "SUCCEEDED") << cluster().job_output(id);
  const auto seen_both = key_values(cluster().job_output(both));
  EXPECT_EQ(seen_both.at("cuda"), "0,1");
  EXPECT_EQ(seen_both.at("slurm_gpus"), "2");
  EXPECT_EQ(seen_both.at("cpus"), join(cb["cpus"]));
  // A job without GPUs is told of none.
  const auto seen_cpu = key_values(cluster().job_output(cpu));
  EXPECT_EQ(seen_cpu.at("cuda"), "unset");
  EXPECT_EQ(seen_cpu.at("drover"), "unset");
  EXPECT_EQ(seen_cpu.at("cpus"), join(cc["cpus"]));
  expect_gpu_part(shown_container(waits), 1, key_values(cluster().job_output(waits)));
}

// More GPUs than any node of the queue has: refused at submit with the reason,
// never queued. The CPU-only node 3 cannot take a GPU job at all.
TEST_F(NetnsGpuTest, MoreGpusThanAnyNodeHasIsRefusedAtSubmit) {
  const CliResult r = cluster().cli("submit", "--gpus", "3", "-c", "1", "--wrap", "true");
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "3 asked, but the node with most GPUs in queue 'default' has 2")) << r.describe();
  const CliResult on_cpu_node = cluster().cli("submit", "-p", queue(3), "--gpus", "1", "--wrap", "true");
  EXPECT_NE(on_cpu_node.code, 0) << on_cpu_node.describe();
  EXPECT_TRUE(contains(on_cpu_node.err, "1 asked, but the node with most GPUs in queue 'n3' has 0"))
      << on_cpu_node.describe();
  // Three nodes with a GPU each: only two nodes have GPUs.
  const CliResult three = cluster().cli("submit", "-N", "3", "--gpus-per-node", "1", "-c", "1", "--wrap", "true");
  EXPECT_NE(three.code, 0) << three.describe();
  EXPECT_TRUE(contains(three.err, "3 nodes asked, but queue 'default' has only 2 nodes")) << three.describe();
  // A total that does not split evenly over the nodes is refused, not rounded up.
  const CliResult uneven = cluster().cli("submit", "-N", "2", "--gpus", "3", "-c", "1", "--wrap", "true");
  EXPECT_NE(uneven.code, 0) << uneven.describe();
  EXPECT_TRUE(contains(uneven.err, "--gpus=3: cannot be split evenly over 2 nodes")) << uneven.describe();
  // Nothing was queued.
  const CliResult jobs = cluster().cli("jobs", "--json");
  ASSERT_EQ(jobs.code, 0) << jobs.describe();
  EXPECT_TRUE(Json::parse(jobs.out, nullptr, false).value("jobSummaryList", Json::array()).empty()) << jobs.out;
}

// A 2-node job with one GPU per node: the scheduler takes the two GPU nodes (not
// the CPU-only one), each node's part holds one GPU and the PU near it, and each
// part sees its own GPU: the script on the main node, and `drover-launch <other
// node> ...` inside the job on the other node.
TEST_F(NetnsGpuTest, TwoNodeJobGetsAGpuOnEachNode) {
  const std::string launch = kBinDir + "/drover-launch";
  if (::access(launch.c_str(), X_OK) != 0) GTEST_SKIP() << "no drover-launch built";
  // The other node is the one in the nodelist that is not this host.
  const std::string script =
      kReport + "; for h in $(echo $DROVER_NODELIST | tr ',' ' '); do [ \"$h\" = \"$(hostname)\" ] || other=$h; "
                "done; echo other=$other; " +
      launch + " $other '" + "echo host=$(hostname); echo cuda=${CUDA_VISIBLE_DEVICES-unset}; "
      "echo rocr=${ROCR_VISIBLE_DEVICES-unset}; echo ze=${ZE_AFFINITY_MASK-unset}; echo drover=${DROVER_GPUS-unset}; "
      "echo order=${CUDA_DEVICE_ORDER-unset}; echo cpus=$(grep Cpus_allowed_list /proc/self/status | cut -f2)' "
      "| sed 's/^/remote_/'";
  const std::string id =
      cluster().submit({"-N", "2", "--gpus-per-node", "1", "-c", "1", "-t", "1:00", "--wrap", script});
  const Json j = cluster().wait_for_end(id, 30000);
  const std::string out = cluster().job_output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << out << cluster().logs();
  SCOPED_TRACE("output:\n" + out);
  const Json main = shown_container(id);
  ASSERT_EQ(main["otherNodes"].size(), 1u) << main.dump();
  const Json other = main["otherNodes"][0];
  const int main_k = cluster().node_index(main.value("nodeName", ""));
  const int other_k = cluster().node_index(other.value("nodeName", ""));
  EXPECT_EQ((std::set<int>{main_k, other_k}), (std::set<int>{1, 2})) << "the two GPU nodes: " << main.dump();

  std::map<std::string, std::string> local, remote;
  for (const auto& [k, v] : key_values(out)) {
    if (k.rfind("remote_", 0) == 0) remote[k.substr(7)] = v;
    else local[k] = v;
  }
  EXPECT_EQ(local["other"], cluster().node(other_k));
  if (main_k > 0) expect_gpu_part(main, main_k, local);
  if (other_k > 0) expect_gpu_part(other, other_k, remote);
  EXPECT_EQ(local["slurm_gpus"], "1");
}

// 2 nodes x 2 tasks, one GPU per task: `drover run` inside the job starts each
// task (through mpirun, drover-launch and the other node's agent) on its
// planned PU, and each task sees only the GPU next to that PU: GPU i near PU i
// on the straight node, GPU 1 near PU 0 on the crossed one.
TEST_F(NetnsGpuTest, EachRankSeesOnlyTheGpuNextToItsPu) {
  if (::access("/usr/bin/mpirun", X_OK) != 0 && ::access("/usr/local/bin/mpirun", X_OK) != 0)
    GTEST_SKIP() << "mpirun is not installed";
  const std::string id = cluster().submit(
      {"-N", "2", "--ntasks-per-node", "2", "--gpus-per-task", "1", "-t", "1:00", "-e", "drover-%j.err", "--wrap",
       kBinDir + "/drover run sh -c 'echo rank$SLURM_PROCID=$(hostname):"
                 "$(grep Cpus_allowed_list /proc/self/status | cut -f2):$CUDA_VISIBLE_DEVICES'"});
  const Json j = cluster().wait_for_end(id, 60000);
  const std::string out = cluster().job_output(id);
  ASSERT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << out << cluster().logs();
  SCOPED_TRACE("output:\n" + out);
  const auto ranks = key_values(out);
  ASSERT_EQ(ranks.size(), 4u);
  std::map<std::string, std::set<std::string>> per_host;
  for (const auto& [rank, where] : ranks) {
    std::vector<std::string> parts;
    std::istringstream in(where);
    for (std::string p; std::getline(in, p, ':');) parts.push_back(p);
    ASSERT_EQ(parts.size(), 3u) << rank << "=" << where;
    const int k = cluster().node_index(parts[0]);
    ASSERT_TRUE(k == 1 || k == 2) << rank << " ran on " << parts[0] << ", not a GPU node";
    const auto& near = k == 1 ? kPuNearGpu : kPuNearGpuCrossed;
    ASSERT_EQ(parts[2].size(), 1u) << rank << " sees GPUs " << parts[2] << ", not one";
    EXPECT_EQ(std::to_string(near.at(parts[2][0] - '0')), parts[1]) << rank << ": GPU " << parts[2] << " on PU "
                                                                    << parts[1];
    per_host[parts[0]].insert(parts[2]);
  }
  EXPECT_EQ(per_host.size(), 2u);
  for (const auto& [host, gpus] : per_host) EXPECT_EQ(gpus, (std::set<std::string>{"0", "1"})) << host;
}

}  // namespace
}  // namespace drover::it
