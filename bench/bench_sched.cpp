// The scheduler without daemons: one sched::schedule() pass over a ClusterState
// built the way droverd builds it (EnvironmentSaved, QueueSaved, NodeConnected,
// JobSubmitted events), and the cost of ClusterState::apply(JobSubmitted).
//
// Nodes have a realistic dual-socket topology: 2 packages x 16 cores x 2 PUs
// (64 PUs, siblings numbered i and i+32 as Linux does), one NUMA domain per
// package, 256 GiB. Jobs ask for 1 vCPU and 2 GiB, the trivial-job case that
// makes a pass longest for a given number of jobs.
//
//   BM_SchedulePass/<jobs>/<nodes>      idle cluster, every runnable job considered
//   BM_SchedulePassBusy/<jobs>/<nodes>  every node already runs a 64-PU job, so
//       all <jobs> wait: the pass droverd repeats on every loop turn that changed
//       anything while a deep queue waits for a busy cluster
//   BM_SchedulePassIncremental/<jobs>/<nodes>  as Busy, but the pass droverd makes
//       after submissions only: it considers just the newest job
//   BM_SchedulePassPreempt/<jobs>/<nodes>/<stopping>  as Busy, but the running jobs
//       are in a lower queue whose preemptionMode is REQUEUE: the first waiting
//       job preempts one of them (stopping 1: they are all being stopped already,
//       the passes while victims wind down)
//   BM_ApplyJobSubmitted/<queued>       apply(JobSubmitted) per job, with <queued>
//       jobs already queued
//   BM_StateBytesPerJob/<jobs>          heap bytes a queued job costs in ClusterState
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <memory>
#include <string>
#include <tuple>

#include "core/cluster_state.hpp"
#include "sched/scheduler.hpp"

namespace {

using namespace drover;

constexpr std::int64_t kNow = 1'700'000'000'000;

NodeTopology dual_socket_topology() {
  constexpr int kPackages = 2, kCoresPerPackage = 16, kThreads = 2;
  constexpr int kCores = kPackages * kCoresPerPackage;
  NodeTopology t;
  t.packages = kPackages;
  t.memory_mib = 256 * 1024;
  for (int p = 0; p < kPackages; ++p) t.numa.push_back({p, t.memory_mib / kPackages, {}});
  for (int c = 0; c < kCores; ++c) {
    Core core;
    core.package = c / kCoresPerPackage;
    core.numa = core.package;
    for (int h = 0; h < kThreads; ++h) core.pus.push_back(c + h * kCores);
    for (int pu : core.pus) t.numa[core.numa].pus.push_back(pu);
    t.cores.push_back(std::move(core));
  }
  return t;
}

std::string node_name(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "cn%05d", i);
  return b;
}

Job trivial_job(std::int64_t id) {
  Job j;
  j.id = id;
  j.name = "bench-" + std::to_string(id);
  j.uid = 1000;
  j.gid = 1000;
  j.user = "alice";
  j.queue = "batch";
  j.created_at = kNow - 1000;
  j.request.vcpus = 1;
  j.request.memory_mib = 2048;
  j.timeout_seconds = 3600;  // backfill needs limits to plan with
  j.working_dir = "/home/alice/project";
  j.stdout_path = kDefaultOutputPattern;
  return j;
}

void check(const Status& s) {
  if (!s) {
    std::fprintf(stderr, "bench_sched: %s\n", s.message().c_str());
    std::abort();
  }
}

// A cluster with `nodes` connected nodes in one environment and queue, and
// `jobs` RUNNABLE jobs. Built through events, as droverd does.
std::unique_ptr<ClusterState> make_cluster(int jobs, int nodes) {
  auto s = std::make_unique<ClusterState>();
  ComputeEnvironment env;
  env.name = "cpu";
  for (int i = 0; i < nodes; ++i) env.nodes.push_back(node_name(i));
  check(s->apply(EnvironmentSaved{env}));
  JobQueue q;
  q.name = "batch";
  q.compute_environments = {"cpu"};
  check(s->apply(QueueSaved{q}));
  const NodeTopology topo = dual_socket_topology();
  for (int i = 0; i < nodes; ++i) check(s->apply(NodeConnected{node_name(i), topo, kNow}));
  for (int i = 0; i < jobs; ++i) check(s->apply(JobSubmitted{trivial_job(s->allocate_job_id())}));
  (void)s->take_dirty();
  return s;
}

// A full cluster: one job holding all 64 PUs of each node (dispatched and
// running), then `jobs` trivial jobs that must wait.
std::unique_ptr<ClusterState> make_busy_cluster(int jobs, int nodes) {
  auto s = make_cluster(0, nodes);
  const NodeTopology topo = dual_socket_topology();
  std::vector<int> all;
  for (const auto& c : topo.cores) all.insert(all.end(), c.pus.begin(), c.pus.end());
  for (int i = 0; i < nodes; ++i) {
    Job big = trivial_job(s->allocate_job_id());
    big.request.vcpus = static_cast<int>(all.size());
    check(s->apply(JobSubmitted{big}));
    check(s->apply(JobDispatched{big.id, node_name(i), all, {}, kNow}));
    check(s->apply(JobStarted{big.id, kNow}));
  }
  for (int i = 0; i < jobs; ++i) check(s->apply(JobSubmitted{trivial_job(s->allocate_job_id())}));
  (void)s->take_dirty();
  return s;
}

// States are expensive to build (100k jobs): keep the last one, as Google
// Benchmark calls a benchmark several times with the same arguments.
ClusterState& cluster(int jobs, int nodes, bool busy) {
  static std::tuple<int, int, bool> key{-1, -1, false};
  static std::unique_ptr<ClusterState> last;
  if (!last || key != std::tuple{jobs, nodes, busy}) {
    last.reset();
    last = busy ? make_busy_cluster(jobs, nodes) : make_cluster(jobs, nodes);
    key = {jobs, nodes, busy};
  }
  return *last;
}

// range(2): the policy, 0 greedy, 1 FIFO, 2 EASY (droverd's), 3 conservative.
sched::Backfill backfill_of(std::int64_t i) {
  switch (i) {
    case 1: return sched::Backfill::None;
    case 2: return sched::Backfill::Easy;
    case 3: return sched::Backfill::Conservative;
    default: return sched::Backfill::Greedy;
  }
}

void run_pass(benchmark::State& st, bool busy) {
  const int jobs = static_cast<int>(st.range(0));
  const int nodes = static_cast<int>(st.range(1));
  const ClusterState& s = cluster(jobs, nodes, busy);
  sched::Policy policy;
  policy.backfill = backfill_of(st.range(2));
  std::size_t starts = 0, reasons = 0;
  for (auto _ : st) {
    auto r = sched::schedule(s, kNow, policy);
    starts = r.starts.size();
    reasons = r.reasons.size();
    benchmark::DoNotOptimize(r);
  }
  st.counters["runnable"] = static_cast<double>(s.runnable_count());
  st.counters["starts"] = static_cast<double>(starts);
  st.counters["reasons"] = static_cast<double>(reasons);
  st.counters["pus"] = static_cast<double>(nodes) * 64;
}

void BM_SchedulePass(benchmark::State& st) { run_pass(st, false); }
void BM_SchedulePassBusy(benchmark::State& st) { run_pass(st, true); }

// The pass droverd makes when only new jobs arrived (Policy::first_job_id): one
// job submitted to a busy cluster that already queues <jobs>.
void BM_SchedulePassIncremental(benchmark::State& st) {
  const int jobs = static_cast<int>(st.range(0));
  const int nodes = static_cast<int>(st.range(1));
  const ClusterState& s = cluster(jobs, nodes, true);
  sched::Policy policy;
  policy.backfill = sched::Backfill::Easy;      // as droverd
  policy.first_job_id = s.next_job_id() - 1;  // the newest job only
  for (auto _ : st) {
    auto r = sched::schedule(s, kNow, policy);
    benchmark::DoNotOptimize(r);
  }
  st.counters["runnable"] = static_cast<double>(s.runnable_count());
}

// Queues that are not plain FIFO: range(2) 0: jobs with priorities 0..99;
// 1: a fair-share queue with 1,000 shares (users); range(3) 1: busy cluster.
// EASY, as droverd.
void BM_SchedulePassOrdered(benchmark::State& st) {
  const int jobs = static_cast<int>(st.range(0));
  const int nodes = static_cast<int>(st.range(1));
  const bool fair = st.range(2) == 1;
  static std::tuple<int, int, bool, bool> key{-1, -1, false, false};
  static std::unique_ptr<ClusterState> s;
  const std::tuple<int, int, bool, bool> want{jobs, nodes, fair, st.range(3) == 1};
  if (!s || key != want) {
    s.reset();
    s = st.range(3) == 1 ? make_busy_cluster(0, nodes) : make_cluster(0, nodes);
    if (fair) {
      JobQueue q = *s->queue("batch");
      q.fair_share.enabled = true;
      q.fair_share.share_decay_seconds = 86400;
      for (int u = 0; u < 1000; ++u)
        q.usage["u" + std::to_string(u)] = ShareUsage{static_cast<double>(u) * 100.0, kNow - 1000};
      check(s->apply(QueueSaved{q}));
    }
    for (int i = 0; i < jobs; ++i) {
      Job j = trivial_job(s->allocate_job_id());
      if (fair) j.share = "u" + std::to_string(i % 1000);
      else j.priority = i % 100;
      check(s->apply(JobSubmitted{j}));
    }
    (void)s->take_dirty();
    key = want;
  }
  sched::Policy policy;
  policy.backfill = sched::Backfill::Easy;
  for (auto _ : st) {
    auto r = sched::schedule(*s, kNow, policy);
    benchmark::DoNotOptimize(r);
  }
  st.counters["runnable"] = static_cast<double>(s->runnable_count());
}
BENCHMARK(BM_SchedulePassOrdered)
    ->Args({100'000, 10'000, 0, 0})->Args({100'000, 10'000, 1, 0})
    ->Args({100'000, 10'000, 0, 1})->Args({100'000, 10'000, 1, 1})
    ->Unit(benchmark::kMillisecond)->MinTime(0.2);

// Preemption: every node runs a 64-PU job of queue "scavenge" (priority 0,
// REQUEUE); <jobs> wait in "batch" (priority 1). EASY, as droverd.
void BM_SchedulePassPreempt(benchmark::State& st) {
  const int jobs = static_cast<int>(st.range(0));
  const int nodes = static_cast<int>(st.range(1));
  const bool stopping = st.range(2) == 1;
  static std::tuple<int, int, bool> key{-1, -1, false};
  static std::unique_ptr<ClusterState> s;
  if (!s || key != std::tuple{jobs, nodes, stopping}) {
    s.reset();
    s = make_cluster(0, nodes);
    JobQueue q;
    q.name = "scavenge";
    q.priority = 0;
    q.preempt_mode = PreemptMode::Requeue;
    q.compute_environments = {"cpu"};
    check(s->apply(QueueSaved{q}));
    const NodeTopology topo = dual_socket_topology();
    std::vector<int> all;
    for (const auto& c : topo.cores) all.insert(all.end(), c.pus.begin(), c.pus.end());
    for (int i = 0; i < nodes; ++i) {
      Job big = trivial_job(s->allocate_job_id());
      big.queue = "scavenge";
      big.request.vcpus = static_cast<int>(all.size());
      check(s->apply(JobSubmitted{big}));
      check(s->apply(JobDispatched{big.id, node_name(i), all, {}, kNow - 1000 * i}));
      check(s->apply(JobStarted{big.id, kNow - 1000 * i}));
      if (stopping) check(s->apply(JobRequeueRequested{big.id, "preempted"}));
    }
    for (int i = 0; i < jobs; ++i) check(s->apply(JobSubmitted{trivial_job(s->allocate_job_id())}));
    (void)s->take_dirty();
    key = {jobs, nodes, stopping};
  }
  sched::Policy policy;
  policy.backfill = sched::Backfill::Easy;
  std::size_t preemptions = 0;
  for (auto _ : st) {
    auto r = sched::schedule(*s, kNow, policy);
    preemptions = r.preemptions.size();
    benchmark::DoNotOptimize(r);
  }
  st.counters["runnable"] = static_cast<double>(s->runnable_count());
  st.counters["preemptions"] = static_cast<double>(preemptions);
}
BENCHMARK(BM_SchedulePassPreempt)
    ->Args({100'000, 1'000, 0})->Args({100'000, 10'000, 0})->Args({100'000, 10'000, 1})
    ->Unit(benchmark::kMillisecond)->MinTime(0.2);

void sched_args(benchmark::internal::Benchmark* b) {
  for (int policy : {0, 1, 2})
    for (int jobs : {1'000, 10'000, 100'000})
      for (int nodes : {100, 1'000, 10'000}) b->Args({jobs, nodes, policy});
}

BENCHMARK(BM_SchedulePass)->Apply(sched_args)->Unit(benchmark::kMillisecond)->MinTime(0.2);
BENCHMARK(BM_SchedulePassBusy)->Apply(sched_args)->Unit(benchmark::kMillisecond)->MinTime(0.2);
BENCHMARK(BM_SchedulePassIncremental)
    ->Args({100'000, 100})->Args({100'000, 1'000})->Args({100'000, 10'000})
    ->Unit(benchmark::kMicrosecond)->MinTime(0.2);

// apply(JobSubmitted): per job, into a queue that already holds `queued` jobs.
// Events are made outside the timed region; dirty sets are taken every 64 jobs,
// as droverd's flush does once per loop turn.
void BM_ApplyJobSubmitted(benchmark::State& st) {
  const int queued = static_cast<int>(st.range(0));
  constexpr int kBatch = 10'000;
  for (auto _ : st) {
    st.PauseTiming();
    auto s = make_cluster(queued, 10);
    std::vector<Event> events;
    events.reserve(kBatch);
    for (int i = 0; i < kBatch; ++i) events.emplace_back(JobSubmitted{trivial_job(s->next_job_id() + i)});
    st.ResumeTiming();
    for (int i = 0; i < kBatch; ++i) {
      benchmark::DoNotOptimize(s->apply(events[i]));
      if (i % 64 == 63) benchmark::DoNotOptimize(s->take_dirty());
    }
    st.PauseTiming();
    s.reset();
    events.clear();
    st.ResumeTiming();
  }
  st.SetItemsProcessed(st.iterations() * kBatch);
  // Shown as seconds per job.
  st.counters["per_job"] = benchmark::Counter(
      kBatch, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ApplyJobSubmitted)->Arg(0)->Arg(100'000)->Unit(benchmark::kMicrosecond);

// Heap bytes per queued job held by ClusterState (Job, jobs_ map node, runnable
// set node, dirty bookkeeping excluded), measured with mallinfo2.
void BM_StateBytesPerJob(benchmark::State& st) {
  const int jobs = static_cast<int>(st.range(0));
  double per_job = 0;
  for (auto _ : st) {
    const auto before = mallinfo2().uordblks;
    auto s = make_cluster(jobs, 1);
    const auto after = mallinfo2().uordblks;
    per_job = static_cast<double>(after - before) / jobs;
    benchmark::DoNotOptimize(s);
  }
  st.counters["bytes_per_job"] = per_job;
}
BENCHMARK(BM_StateBytesPerJob)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
