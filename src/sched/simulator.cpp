#include "sched/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <queue>
#include <sstream>

namespace drover::sched {

std::vector<SimJob> sim_jobs_from_swf(const SwfTrace& trace) {
  std::vector<SimJob> out;
  out.reserve(trace.jobs.size());
  for (const auto& j : trace.jobs)
    out.push_back({j.id, j.submit_s, j.run_s, j.procs,
                   j.requested_time_s > 0 ? j.requested_time_s : j.run_s});
  return out;
}

SimMetrics compute_metrics(const std::vector<SimJobResult>& jobs, int total_pus) {
  SimMetrics m;
  m.jobs = jobs.size();
  if (jobs.empty()) return m;
  std::int64_t first = INT64_MAX, last = INT64_MIN;
  double busy = 0, wait_sum = 0, bsld_sum = 0;
  std::vector<std::int64_t> waits;
  waits.reserve(jobs.size());
  for (const auto& j : jobs) {
    first = std::min(first, j.submit_s);
    last = std::max(last, j.end_s);
    const double run = static_cast<double>(j.end_s - j.start_s);
    const double wait = static_cast<double>(j.start_s - j.submit_s);
    busy += run * j.procs;
    wait_sum += wait;
    bsld_sum += std::max(1.0, (wait + run) / std::max(run, kBoundedSlowdownTau));
    waits.push_back(j.start_s - j.submit_s);
  }
  std::sort(waits.begin(), waits.end());
  const auto n = waits.size();
  m.makespan_s = last - first;
  m.utilization = m.makespan_s > 0 ? busy / (static_cast<double>(total_pus) * m.makespan_s) : 0;
  m.mean_wait_s = wait_sum / n;
  const auto rank = static_cast<std::size_t>(std::ceil(0.95 * n));
  m.p95_wait_s = static_cast<double>(waits[std::max<std::size_t>(rank, 1) - 1]);
  m.mean_bounded_slowdown = bsld_sum / n;
  return m;
}

Result<SimResult> simulate(const std::vector<SimJob>& input, const SimConfig& config) {
  ClusterState state;
  ComputeEnvironment env;
  env.name = "sim";
  int total_pus = 0, biggest = 0, node_no = 0;
  for (const auto& g : config.nodes) {
    if (g.count <= 0 || g.cpus <= 0) return make_error("simulate", "empty node group");
    for (int i = 0; i < g.count; ++i) {
      NodeTopology t;
      t.packages = 1;
      t.memory_mib = 1 << 20;
      t.numa.push_back({0, t.memory_mib, {}});
      for (int c = 0; c < g.cpus; ++c) {
        Core core;
        core.pus.push_back(c);
        t.numa[0].pus.push_back(c);
        t.cores.push_back(std::move(core));
      }
      char name[32];
      std::snprintf(name, sizeof name, "sim%05d", ++node_no);
      if (auto s = state.apply(NodeConnected{name, std::move(t), 0, {}}); !s) return s.error();
      env.nodes.push_back(name);
    }
    total_pus += g.count * g.cpus;
    biggest = std::max(biggest, g.cpus);
  }
  if (auto s = state.apply(EnvironmentSaved{env}); !s) return s.error();
  JobQueue q;
  q.name = "sim";
  q.compute_environments = {"sim"};
  if (auto s = state.apply(QueueSaved{q}); !s) return s.error();

  // Submit order: by submit time, then trace order; ids follow it (FIFO by id).
  std::vector<SimJob> jobs;
  SimResult out;
  for (const auto& j : input) {
    if (j.procs > biggest)
      ++out.metrics.impossible;
    else
      jobs.push_back(j);
  }
  std::stable_sort(jobs.begin(), jobs.end(),
                   [](const SimJob& a, const SimJob& b) { return a.submit_s < b.submit_s; });
  const std::int64_t t0 = jobs.empty() ? 0 : jobs.front().submit_s;
  out.jobs.resize(jobs.size());

  using Exit = std::pair<std::int64_t, std::int64_t>;  // (end ms, job id)
  std::priority_queue<Exit, std::vector<Exit>, std::greater<>> exits;
  std::size_t next = 0, passes = 0;
  int busy = 0;
  while (next < jobs.size() || !exits.empty()) {
    std::int64_t now = exits.empty() ? INT64_MAX : exits.top().first;
    if (next < jobs.size()) now = std::min(now, jobs[next].submit_s * 1000);
    while (!exits.empty() && exits.top().first == now) {
      const auto id = exits.top().second;
      exits.pop();
      busy -= out.jobs[id - 1].procs;
      if (auto s = state.apply(JobExited{id, now, 0, 0, {}}); !s) return s.error();
    }
    while (next < jobs.size() && jobs[next].submit_s * 1000 == now) {
      const SimJob& sj = jobs[next];
      Job j;
      j.id = static_cast<std::int64_t>(next) + 1;
      j.name = "trace" + std::to_string(sj.id);
      j.user = "sim";
      j.queue = "sim";
      j.created_at = now;
      j.request.vcpus = sj.procs;
      j.timeout_seconds = sj.limit_s;
      out.jobs[next] = {sj.id, sj.submit_s, 0, 0, sj.procs, {}};
      if (auto s = state.apply(JobSubmitted{std::move(j)}); !s) return s.error();
      ++next;
    }
    PassResult pass = schedule(state, now, config.policy);
    ++passes;
    for (const auto& r : pass.reasons)
      (void)state.apply(JobPendingReasonSet{r.job_id, r.reason, r.estimated_start_ms});
    for (auto& d : pass.starts) {
      const auto id = d.job_id;
      SimJobResult& r = out.jobs[id - 1];
      const SimJob& sj = jobs[id - 1];
      r.node = d.node;
      if (auto s = state.apply(JobDispatched{id, d.node, std::move(d.cpus), std::move(d.gpus), now, -1, 0, {},
                                             d.time_limit_s});
          !s)
        return s.error();
      if (auto s = state.apply(JobStarted{id, now}); !s) return s.error();
      const std::int64_t limit = d.time_limit_s > 0 ? d.time_limit_s : sj.limit_s;
      const std::int64_t run = limit > 0 ? std::min(sj.run_s, limit) : sj.run_s;
      r.start_s = now / 1000;
      r.end_s = r.start_s + run;
      busy += sj.procs;
      exits.push({now + run * 1000, id});
    }
    const std::size_t queued = state.runnable_count();
    out.samples.push_back({now / 1000 - t0, total_pus ? double(busy) / total_pus : 0, queued});
    if (exits.empty() && next >= jobs.size() && queued > 0)
      return make_error("simulate", std::to_string(queued) + " jobs can never start");
    if (passes % 1024 == 0) {
      (void)state.take_dirty();
      state.evict_finished(now);
    }
  }
  const std::size_t impossible = out.metrics.impossible;
  out.metrics = compute_metrics(out.jobs, total_pus);
  out.metrics.impossible = impossible;
  out.metrics.passes = passes;
  return out;
}

std::string render_svg(const std::vector<std::pair<std::string, const SimResult*>>& runs) {
  constexpr int kW = 900, kPanel = 220, kLeft = 70, kTop = 40, kGap = 60, kBuckets = 450;
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  std::int64_t end = 1;
  for (const auto& [name, r] : runs)
    if (!r->samples.empty()) end = std::max(end, r->samples.back().t_s);
  const int plot_w = kW - kLeft - 20;
  // Time-weighted averages per bucket of the step functions.
  auto series = [&](const SimResult& r, bool util) {
    std::vector<double> sum(kBuckets, 0), wt(kBuckets, 0);
    for (std::size_t i = 0; i < r.samples.size(); ++i) {
      const double a = static_cast<double>(r.samples[i].t_s);
      const double b = i + 1 < r.samples.size() ? static_cast<double>(r.samples[i + 1].t_s) : a;
      const double v = util ? r.samples[i].utilization * 100 : double(r.samples[i].queued);
      const double bw = double(end) / kBuckets;
      if (b <= a) {
        const int k = std::min(kBuckets - 1, static_cast<int>(a / bw));
        sum[k] += v * 1e-9;
        wt[k] += 1e-9;
        continue;
      }
      for (int k = static_cast<int>(a / bw); k < kBuckets && k * bw < b; ++k) {
        const double lo = std::max(a, k * bw), hi = std::min(b, (k + 1) * bw);
        if (hi > lo) {
          sum[k] += v * (hi - lo);
          wt[k] += hi - lo;
        }
      }
    }
    std::vector<double> out(kBuckets, 0);
    for (int k = 0; k < kBuckets; ++k) out[k] = wt[k] > 0 ? sum[k] / wt[k] : (k ? out[k - 1] : 0);
    return out;
  };
  double qmax = 1;
  std::vector<std::vector<double>> util, queue;
  for (const auto& [name, r] : runs) {
    util.push_back(series(*r, true));
    queue.push_back(series(*r, false));
    for (double v : queue.back()) qmax = std::max(qmax, v);
  }
  std::ostringstream s;
  const int height = kTop + 2 * kPanel + kGap + 50;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  auto panel = [&](int y0, const char* title, double ymax, const char* unit,
                   const std::vector<std::vector<double>>& data) {
    s << "<text x=\"" << kLeft << "\" y=\"" << y0 - 8 << "\" font-weight=\"bold\">" << title
      << "</text>\n";
    s << "<rect x=\"" << kLeft << "\" y=\"" << y0 << "\" width=\"" << plot_w << "\" height=\""
      << kPanel << "\" fill=\"none\" stroke=\"#888\"/>\n";
    for (int i = 0; i <= 4; ++i) {
      const double y = y0 + kPanel - kPanel * i / 4.0;
      char label[32];
      std::snprintf(label, sizeof label, "%.0f%s", ymax * i / 4, unit);
      s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_w << "\" y1=\"" << y
        << "\" y2=\"" << y << "\" stroke=\"#eee\"/><text x=\"" << kLeft - 6 << "\" y=\"" << y + 4
        << "\" text-anchor=\"end\">" << label << "</text>\n";
    }
    for (std::size_t r = 0; r < data.size(); ++r) {
      s << "<polyline fill=\"none\" stroke-width=\"1.2\" stroke=\"" << colors[r % 6]
        << "\" points=\"";
      for (int k = 0; k < kBuckets; ++k) {
        char pt[64];
        std::snprintf(pt, sizeof pt, "%.1f,%.1f ", kLeft + plot_w * (k + 0.5) / kBuckets,
                      y0 + kPanel - kPanel * std::min(1.0, data[r][k] / ymax));
        s << pt;
      }
      s << "\"/>\n";
    }
  };
  panel(kTop, "Utilization (time-averaged)", 100, "%", util);
  panel(kTop + kPanel + kGap, "Queue length (RUNNABLE jobs)", qmax, "", queue);
  const int axis_y = kTop + 2 * kPanel + kGap + 18;
  for (int i = 0; i <= 5; ++i) {
    char label[32];
    std::snprintf(label, sizeof label, "%.1f d", double(end) * i / 5 / 86400);
    s << "<text x=\"" << kLeft + plot_w * i / 5 << "\" y=\"" << axis_y
      << "\" text-anchor=\"middle\">" << label << "</text>\n";
  }
  for (std::size_t r = 0; r < runs.size(); ++r)
    s << "<text x=\"" << kLeft + 260 + 150 * r << "\" y=\"" << 18 << "\" fill=\"" << colors[r % 6]
      << "\" font-weight=\"bold\">&#9644; " << runs[r].first << "</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace drover::sched
