// Placing a multi-node GPU job: one sched::schedule() pass (EASY, as droverd)
// over 128 GPU nodes loaded from the checked-in hwloc XML files, with a 64-rank
// job that asks for one GPU per rank. The GPU-scheduling issue's goal is < 1 ms
// for this pass. The state is built through ClusterState::apply events, as
// droverd builds it; running jobs hold the CPUs and GPUs place_on_node gave them.
//
//   BM_PlaceGpuJob/<topology>/<ranks per node>/<cluster>
//     topology: 0 = 2pkg-4gpu.xml (2 sockets, 16 PUs, 4 GPUs; 4 PUs per rank)
//               1 = 4numa-8gpu.xml (2 sockets x 2 NUMA, 32 PUs, 8 GPUs; 4 PUs per rank)
//     ranks per node: the job is 64 / r nodes of r ranks, r GPUs and 4r PUs each
//     cluster: 0 idle: nothing else runs; the job is the only one queued
//              1 partly busy: of every 4 nodes, one is full, one runs a 1-GPU job,
//                one runs jobs on half its GPUs, one is idle
//              2 full: every node is full (jobs end at staggered times), so the
//                job cannot start and EASY computes its reservation instead
//              3 partly busy as 1, with 1,000 single-GPU jobs queued behind the
//                64-rank job (the pass also places or backfills those)
//   BM_PlaceOnNode/<topology>/<gpus>   place::place_on_node on one idle node:
//                                      <gpus> GPUs with 4 PUs each
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>

#include "core/cluster_state.hpp"
#include "place/discovery.hpp"
#include "place/placement.hpp"
#include "sched/scheduler.hpp"

namespace {

using namespace drover;

constexpr std::int64_t kNow = 1'700'000'000'000;
constexpr int kNodes = 128;
constexpr int kRanks = 64;
constexpr int kPusPerRank = 4;

const char* const kTopologyFiles[] = {"2pkg-4gpu.xml", "4numa-8gpu.xml"};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_place: %s\n", what.c_str());
  std::abort();
}

void check(const Status& s) {
  if (!s) die(s.message());
}

const NodeTopology& topology(int which) {
  static std::unique_ptr<NodeTopology> loaded[2];
  auto& t = loaded[which];
  if (!t) {
    const std::string path = std::string(DROVER_HWLOC_DIR) + "/" + kTopologyFiles[which];
    auto r = place::discover_topology(path);
    if (!r) die(path + ": " + r.message());
    t = std::make_unique<NodeTopology>(std::move(r).value());
  }
  return *t;
}

std::string node_name(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "gpu%03d", i);
  return b;
}

Job gpu_job(std::int64_t id, int nodes, int gpus_per_node) {
  Job j;
  j.id = id;
  j.name = "bench-" + std::to_string(id);
  j.uid = 1000;
  j.gid = 1000;
  j.user = "alice";
  j.queue = "gpu";
  j.created_at = kNow - 1000;
  j.nodes = nodes;
  j.ntasks = nodes * gpus_per_node;
  j.request.vcpus = gpus_per_node * kPusPerRank;
  j.request.gpus = gpus_per_node;
  j.timeout_seconds = 3600;  // backfill plans with limits
  j.working_dir = "/home/alice/project";
  j.stdout_path = kDefaultOutputPattern;
  return j;
}

// Starts a job of `gpus` GPUs (and 4 PUs per GPU) on the node, where
// place_on_node puts it; `limit_s` is its time limit (when EASY expects it to end).
void run_on(ClusterState& s, const std::string& node, int gpus, std::int64_t limit_s) {
  Job j = gpu_job(s.allocate_job_id(), 1, gpus);
  j.timeout_seconds = limit_s;
  const Node* n = s.node(node);
  auto plan = place::place_on_node(*n, j.request);
  if (!plan) die("cannot place a " + std::to_string(gpus) + "-GPU job on " + node);
  check(s.apply(JobSubmitted{j}));
  check(s.apply(JobDispatched{j.id, node, plan->cpus, plan->gpus, kNow - 60'000, -1, 0, {}}));
  check(s.apply(JobStarted{j.id, kNow - 60'000}));
}

std::unique_ptr<ClusterState> make_cluster(int topo, int ranks_per_node, int scenario) {
  auto s = std::make_unique<ClusterState>();
  ComputeEnvironment env;
  env.name = "gpu-nodes";
  for (int i = 0; i < kNodes; ++i) env.nodes.push_back(node_name(i));
  check(s->apply(EnvironmentSaved{env}));
  JobQueue q;
  q.name = "gpu";
  q.compute_environments = {"gpu-nodes"};
  check(s->apply(QueueSaved{q}));
  const NodeTopology& t = topology(topo);
  const int gpus = static_cast<int>(t.gpus.size());
  for (int i = 0; i < kNodes; ++i) check(s->apply(NodeConnected{node_name(i), t, kNow}));

  for (int i = 0; i < kNodes; ++i) {
    const std::string n = node_name(i);
    if (scenario == 2) {
      run_on(*s, n, gpus, 3600 + 60 * i);  // full, ending one minute apart
    } else if (scenario == 1 || scenario == 3) {
      switch (i % 4) {
        case 0: run_on(*s, n, gpus, 3600); break;
        case 1: run_on(*s, n, 1, 3600); break;
        case 2:
          for (int g = 0; g < gpus / 2; ++g) run_on(*s, n, 1, 3600);
          break;
        default: break;
      }
    }
  }
  // The 64-rank job, then (scenario 3) the small ones behind it.
  check(s->apply(JobSubmitted{gpu_job(s->allocate_job_id(), kRanks / ranks_per_node, ranks_per_node)}));
  if (scenario == 3)
    for (int i = 0; i < 1000; ++i) check(s->apply(JobSubmitted{gpu_job(s->allocate_job_id(), 1, 1)}));
  (void)s->take_dirty();
  return s;
}

ClusterState& cluster(int topo, int ranks_per_node, int scenario) {
  static std::tuple<int, int, int> key{-1, -1, -1};
  static std::unique_ptr<ClusterState> last;
  if (!last || key != std::tuple{topo, ranks_per_node, scenario}) {
    last = make_cluster(topo, ranks_per_node, scenario);
    key = {topo, ranks_per_node, scenario};
  }
  return *last;
}

void BM_PlaceGpuJob(benchmark::State& st) {
  const int topo = static_cast<int>(st.range(0));
  const int rpn = static_cast<int>(st.range(1));
  const int scenario = static_cast<int>(st.range(2));
  const ClusterState& s = cluster(topo, rpn, scenario);
  const int nodes = kRanks / rpn;
  sched::Policy policy;
  policy.backfill = sched::Backfill::Easy;  // as droverd
  sched::PassResult r;
  for (auto _ : st) {
    r = sched::schedule(s, kNow, policy);
    benchmark::DoNotOptimize(r);
  }
  // The pass must do what it is timed for: the 64-rank job starts on `nodes`
  // nodes with rpn GPUs each (scenarios 0, 1, 3), or waits with an estimated
  // start (scenario 2).
  const std::int64_t big = s.next_job_id() - (scenario == 3 ? 1001 : 1);
  const sched::Decision* d = nullptr;
  for (const auto& x : r.starts)
    if (x.job_id == big) d = &x;
  if (scenario == 2) {
    if (d) die("the 64-rank job started on a full cluster");
    bool waits = false;
    for (const auto& w : r.reasons) waits |= w.job_id == big && w.estimated_start_ms > kNow;
    if (!waits) die("the 64-rank job got no reservation");
  } else {
    if (!d) die("the 64-rank job did not start");
    if (static_cast<int>(d->more_nodes.size()) != nodes - 1 || static_cast<int>(d->gpus.size()) != rpn)
      die("the 64-rank job got the wrong shape");
    for (const auto& sl : d->more_nodes)
      if (static_cast<int>(sl.gpus.size()) != rpn || static_cast<int>(sl.cpus.size()) != rpn * kPusPerRank)
        die("a node of the 64-rank job got the wrong shape");
  }
  st.counters["job_nodes"] = nodes;
  st.counters["starts"] = static_cast<double>(r.starts.size());
  st.counters["runnable"] = static_cast<double>(s.runnable_count());
}

void place_args(benchmark::internal::Benchmark* b) {
  for (int scenario : {0, 1, 2, 3}) {
    for (int rpn : {1, 4}) b->Args({0, rpn, scenario});
    for (int rpn : {1, 4, 8}) b->Args({1, rpn, scenario});
  }
}
BENCHMARK(BM_PlaceGpuJob)->Apply(place_args)->Unit(benchmark::kMicrosecond)->MinTime(0.2);

void BM_PlaceOnNode(benchmark::State& st) {
  Node n;
  n.name = "gpu000";
  n.topology = topology(static_cast<int>(st.range(0)));
  n.state = NodeState::Up;
  n.connected = true;
  Resources r;
  r.gpus = static_cast<int>(st.range(1));
  r.vcpus = r.gpus * kPusPerRank;
  for (auto _ : st) {
    auto plan = place::place_on_node(n, r);
    if (!plan) die("no plan");
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_PlaceOnNode)->Args({0, 1})->Args({0, 4})->Args({1, 1})->Args({1, 8})->Unit(benchmark::kNanosecond);

// What the head adds at launch for a job of many tasks: place::place_tasks
// splitting one whole node's plan among its tasks (4 PUs each; with one GPU
// per task when <gpus per task> is 1), per node of the job.
//   BM_PlaceTasks/<topology>/<tasks>/<gpus per task>
void BM_PlaceTasks(benchmark::State& st) {
  const NodeTopology& t = topology(static_cast<int>(st.range(0)));
  const int tasks = static_cast<int>(st.range(1));
  std::vector<int> cpus, gpus;
  for (const auto& c : t.cores) cpus.insert(cpus.end(), c.pus.begin(), c.pus.end());
  for (const auto& g : t.gpus) gpus.push_back(g.index);
  const place::TaskRequest r{tasks, kPusPerRank, static_cast<int>(st.range(2)), CoreDistribution::Block};
  for (auto _ : st) {
    auto split = place::place_tasks(t, cpus, gpus, r);
    if (!split) die("no split");
    benchmark::DoNotOptimize(split);
  }
}
BENCHMARK(BM_PlaceTasks)->Args({0, 4, 1})->Args({1, 8, 1})->Args({1, 8, 0})->Unit(benchmark::kNanosecond);

}  // namespace

BENCHMARK_MAIN();
