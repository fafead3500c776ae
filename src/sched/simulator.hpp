// Replays a workload through the real scheduler on a virtual clock: jobs are
// submitted at their submit time (JobSubmitted), each pass's decisions are
// dispatched and started at once, and a job exits at start + its actual run
// time (or at its time limit, if that is shorter, as a real node would kill
// it). Pure and deterministic: the same jobs and config give the same result.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "sched/scheduler.hpp"
#include "sched/swf.hpp"

namespace drover::sched {

struct SimJob {
  std::int64_t id = 0;        // the trace's, for reports
  std::int64_t submit_s = 0;
  std::int64_t run_s = 0;     // actual run time
  int procs = 1;              // vCPUs on one node
  std::int64_t limit_s = 0;   // time limit the scheduler sees; 0: none
};

// Time limits from an SWF trace: the requested time where the trace has it,
// otherwise the actual run time (a perfect estimate; the Lublin trace has none).
std::vector<SimJob> sim_jobs_from_swf(const SwfTrace& trace);

struct SimNodes {
  int count = 1;
  int cpus = 256;
};

struct SimConfig {
  std::vector<SimNodes> nodes = {SimNodes{}};
  Policy policy;
};

struct SimSample {
  std::int64_t t_s = 0;      // from the first submit
  double utilization = 0;    // busy PUs / all PUs, from t_s to the next sample
  std::size_t queued = 0;    // RUNNABLE jobs
};

struct SimMetrics {
  std::size_t jobs = 0;        // simulated
  std::size_t impossible = 0;  // need more PUs than any node has: left out
  double utilization = 0;      // busy PU-seconds / (PUs * makespan)
  double mean_wait_s = 0;
  double p95_wait_s = 0;       // nearest rank
  double mean_bounded_slowdown = 0;  // max(1, (wait + run) / max(run, 10 s))
  std::int64_t makespan_s = 0;       // last end - first submit
  std::size_t passes = 0;
};

struct SimJobResult {
  std::int64_t id = 0;
  std::int64_t submit_s = 0;
  std::int64_t start_s = 0;
  std::int64_t end_s = 0;
  int procs = 0;
  std::string node;
};

struct SimResult {
  SimMetrics metrics;
  std::vector<SimJobResult> jobs;  // in submit order
  std::vector<SimSample> samples;  // one per event time
};

inline constexpr double kBoundedSlowdownTau = 10.0;

Result<SimResult> simulate(const std::vector<SimJob>& jobs, const SimConfig& config);

// Metrics from finished jobs (used by simulate; exposed for tests).
SimMetrics compute_metrics(const std::vector<SimJobResult>& jobs, int total_pus);

// Utilization and queue length over time, one line per run.
std::string render_svg(const std::vector<std::pair<std::string, const SimResult*>>& runs);

}  // namespace drover::sched
