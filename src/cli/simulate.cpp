// drover simulate: replays an SWF workload trace through the scheduler on a
// virtual clock (sched/simulator.hpp) and compares backfill policies. Offline:
// no daemon, no socket.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "proto/codec.hpp"
#include "sched/simulator.hpp"

namespace drover::cli {

namespace po = boost::program_options;
using proto::Json;

namespace {

// A cluster file: one line per node group, "COUNT CPUS_PER_NODE"; '#' comments.
Result<std::vector<sched::SimNodes>> load_cluster(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("cannot open " + path);
  std::vector<sched::SimNodes> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream f(line);
    sched::SimNodes g;
    std::string extra;
    if (!(f >> g.count)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      return make_error(path + ": line " + std::to_string(lineno), "expected COUNT CPUS_PER_NODE");
    }
    if (!(f >> g.cpus) || (f >> extra) || g.count <= 0 || g.cpus <= 0)
      return make_error(path + ": line " + std::to_string(lineno), "expected COUNT CPUS_PER_NODE");
    out.push_back(g);
  }
  if (out.empty()) return make_error(path, "no nodes");
  return out;
}

Result<std::vector<sched::Backfill>> parse_policies(const std::string& list) {
  std::vector<sched::Backfill> out;
  std::istringstream in(list);
  std::string p;
  while (std::getline(in, p, ',')) {
    if (p == "fifo" || p == "none")
      out.push_back(sched::Backfill::None);
    else if (p == "easy")
      out.push_back(sched::Backfill::Easy);
    else if (p == "conservative")
      out.push_back(sched::Backfill::Conservative);
    else if (p == "greedy")
      out.push_back(sched::Backfill::Greedy);
    else
      return make_error("unknown policy '" + p + "'", "use fifo, easy, conservative or greedy");
  }
  if (out.empty()) return make_error("no policy given");
  return out;
}

std::string duration(double s) {
  char b[32];
  if (s < 600)
    std::snprintf(b, sizeof b, "%.0fs", s);
  else if (s < 48 * 3600)
    std::snprintf(b, sizeof b, "%.1fh", s / 3600);
  else
    std::snprintf(b, sizeof b, "%.1fd", s / 86400);
  return b;
}

}  // namespace

int cmd_simulate(const Global&, const Args& args) {
  po::options_description desc(
      "Usage: drover simulate TRACE.swf [options]\n\n"
      "Replays a workload trace (Standard Workload Format) through Drover's scheduler on a\n"
      "virtual clock and reports utilization, waits and slowdown per policy. Jobs are\n"
      "single-node: a job's processors are vCPUs on one node. Time limits are the trace's\n"
      "requested times, or the actual run times where the trace has none.\n\n"
      "Example: drover simulate lublin_256.swf --policy fifo,easy,conservative --svg out.svg\n\n"
      "Options");
  desc.add_options()("help,h", "show this help")(
      "nodes", po::value<int>(), "number of nodes (default 1)")(
      "cpus-per-node", po::value<int>(),
      "PUs per node (default: the trace's MaxProcs/MaxNodes, else 256)")(
      "cluster", po::value<std::string>(), "file of node groups: lines 'COUNT CPUS_PER_NODE'")(
      "policy", po::value<std::string>()->default_value("fifo,easy,conservative"),
      "comma-separated: fifo, easy, conservative, greedy")(
      "svg", po::value<std::string>(), "write utilization and queue length over time")(
      "limit", po::value<std::size_t>()->default_value(0), "simulate the first N jobs only")(
      "json", "JSON");
  po::options_description hidden;
  hidden.add_options()("trace", po::value<std::string>());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("trace", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "drover simulate: " << e.what() << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (!vm.count("trace")) {
    std::cerr << "drover simulate: a trace file is needed\n" << desc;
    return 2;
  }
  const std::string path = vm["trace"].as<std::string>();
  auto trace = sched::load_swf(path, vm["limit"].as<std::size_t>());
  if (!trace) {
    std::cerr << "drover simulate: " << trace.message() << "\n";
    return 1;
  }
  auto policies = parse_policies(vm["policy"].as<std::string>());
  if (!policies) {
    std::cerr << "drover simulate: " << policies.message() << "\n";
    return 2;
  }
  sched::SimConfig config;
  if (vm.count("cluster")) {
    if (vm.count("nodes") || vm.count("cpus-per-node")) {
      std::cerr << "drover simulate: --cluster or --nodes/--cpus-per-node, not both\n";
      return 2;
    }
    auto c = load_cluster(vm["cluster"].as<std::string>());
    if (!c) {
      std::cerr << "drover simulate: " << c.message() << "\n";
      return 1;
    }
    config.nodes = *c;
  } else {
    sched::SimNodes g;
    g.count = vm.count("nodes") ? vm["nodes"].as<int>() : 1;
    g.cpus = vm.count("cpus-per-node") ? vm["cpus-per-node"].as<int>()
             : trace->max_procs > 0     ? trace->max_procs
                                        : 256;
    if (g.count <= 0 || g.cpus <= 0) {
      std::cerr << "drover simulate: --nodes and --cpus-per-node must be positive\n";
      return 2;
    }
    config.nodes = {g};
  }
  const auto jobs = sched::sim_jobs_from_swf(*trace);
  bool estimates = false;
  for (const auto& j : trace->jobs) estimates |= j.requested_time_s > 0;

  std::vector<std::pair<std::string, sched::SimResult>> results;
  std::vector<double> seconds;
  for (auto p : *policies) {
    config.policy = {};
    config.policy.backfill = p;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = sched::simulate(jobs, config);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!r) {
      std::cerr << "drover simulate: " << r.message() << "\n";
      return 1;
    }
    results.emplace_back(sched::to_string(p), std::move(*r));
  }
  if (vm.count("svg")) {
    std::vector<std::pair<std::string, const sched::SimResult*>> runs;
    for (const auto& [name, r] : results) runs.emplace_back(name, &r);
    std::ofstream out(vm["svg"].as<std::string>());
    out << sched::render_svg(runs);
    if (!out) {
      std::cerr << "drover simulate: cannot write " << vm["svg"].as<std::string>() << "\n";
      return 1;
    }
  }
  std::string cluster;
  for (const auto& g : config.nodes)
    cluster += (cluster.empty() ? "" : " + ") + std::to_string(g.count) + " x " +
               std::to_string(g.cpus) + " PUs";
  if (vm.count("json")) {
    Json j = {{"trace", path},
              {"jobs", trace->jobs.size()},
              {"skipped", trace->skipped},
              {"cluster", cluster},
              {"timeLimits", estimates ? "requested time, else run time" : "run time"},
              {"policies", Json::array()}};
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& m = results[i].second.metrics;
      j["policies"].push_back({{"policy", results[i].first},
                               {"jobs", m.jobs},
                               {"impossible", m.impossible},
                               {"utilization", m.utilization},
                               {"meanWaitSeconds", m.mean_wait_s},
                               {"p95WaitSeconds", m.p95_wait_s},
                               {"meanBoundedSlowdown", m.mean_bounded_slowdown},
                               {"boundedSlowdownTauSeconds", sched::kBoundedSlowdownTau},
                               {"makespanSeconds", m.makespan_s},
                               {"passes", m.passes},
                               {"simulationSeconds", seconds[i]}});
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "trace: " << path << ", " << trace->jobs.size() << " jobs (" << trace->skipped
            << " skipped: no processors or run time)\n"
            << "cluster: " << cluster << "; jobs are single-node\n"
            << "time limits: "
            << (estimates ? "the trace's requested times (actual run time where missing)"
                          : "the trace has no requested times: each job's actual run time "
                            "(perfect estimates)")
            << "\n\n";
  std::printf("%-13s %6s %10s %10s %10s %10s %8s %8s\n", "POLICY", "UTIL", "MEAN WAIT",
              "P95 WAIT", "MEAN BSLD", "MAKESPAN", "PASSES", "TIME");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& m = results[i].second.metrics;
    std::printf("%-13s %5.1f%% %10s %10s %10.2f %10s %8zu %7.2fs\n", results[i].first.c_str(),
                m.utilization * 100, duration(m.mean_wait_s).c_str(),
                duration(m.p95_wait_s).c_str(), m.mean_bounded_slowdown,
                duration(double(m.makespan_s)).c_str(), m.passes, seconds[i]);
    if (m.impossible)
      std::printf("%-13s %zu jobs need more PUs than any node has: left out\n", "",
                  m.impossible);
  }
  std::printf("\nBSLD: bounded slowdown, max(1, (wait + run) / max(run, %.0f s)).\n",
              sched::kBoundedSlowdownTau);
  return 0;
}

}  // namespace drover::cli
