// A client of a running droverd over its Unix socket API (4-byte big-endian
// length + JSON frames), for throughput and latency figures. It sends what
// `drover submit --wrap CMD` sends (a #!/bin/sh script, this process's
// environment, the working directory), so the daemon does the same work.
//
//   bench_api [options] submit N        N SubmitJob one after another on one connection
//   bench_api [options] pipelined N     N SubmitJob with up to --window requests in flight
//   bench_api [options] e2e N           N jobs submitted pipelined, timed until all ended
//   bench_api [options] latency N       N jobs one at a time on an idle cluster: submit to start
//   bench_api [options] array N         one array of N tasks, timed from submit until it ended
//   bench_api [options] array-accept N  --arrays K arrays of N tasks, one at a time: accept time
//   bench_api [options] gbench [--benchmark_...]   the same submits as Google Benchmark cases
//
// Figures are printed as `name value unit` lines (bench/README.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/api_client.hpp"
#include "proto/codec.hpp"
#include "transport/connection.hpp"

extern char** environ;

namespace {

using drover::proto::Json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket;
  std::string queue;       // empty: the default queue
  std::string command = "true";
  std::string workdir;     // empty: the current directory
  std::string prefix;      // prepended to figure names
  bool with_env = true;    // send this process's environment, as the CLI does
  int window = 256;        // pipelined: requests in flight
  int poll_us = 200;       // latency: pause between DescribeJobs polls
  int array_poll_ms = 2;   // array: pause between DescribeJobs polls of the array
  int arrays = 100;        // array-accept: how many arrays
  std::int64_t n = 0;
};

Options g_opt;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_api: %s\n", what.c_str());
  std::exit(1);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void figure(const std::string& name, double value, const char* unit) {
  std::printf("%s%s %.6g %s\n", g_opt.prefix.c_str(), name.c_str(), value, unit);
  std::fflush(stdout);
}

std::string cwd() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? buf : "/";
}

// The SubmitJob frame, encoded once: the request is the same for every job.
// array_size > 0: an array of that many tasks.
std::string submit_frame(std::int64_t array_size = 0) {
  Json req = Json::object();
  req["script"] = "#!/bin/sh\n" + g_opt.command + "\n";
  req["jobName"] = "bench";
  if (!g_opt.queue.empty()) req["jobQueue"] = g_opt.queue;
  Json env = Json::object();
  if (g_opt.with_env)
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const auto eq = kv.find('=');
      if (eq != std::string::npos && eq > 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  req["environment"] = env;
  req["workingDirectory"] = g_opt.workdir.empty() ? cwd() : g_opt.workdir;
  if (array_size > 0) req["arrayProperties"] = {{"size", array_size}};
  return drover::proto::dump(Json{{"op", "SubmitJob"}, {"args", req}});
}

drover::transport::Client connect() {
  auto c = drover::transport::Client::connect(g_opt.socket);
  if (!c) die(c.message());
  return std::move(*c);
}

Json parse_reply(const std::string& raw) {
  Json j = Json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) die("bad reply from droverd: not JSON");
  if (!j.value("ok", false)) die("droverd: " + j.value("error", std::string("unknown error")));
  return j.value("result", Json::object());
}

Json call(drover::transport::Client& c, const std::string& op, const Json& args) {
  auto raw = c.call(drover::proto::dump(Json{{"op", op}, {"args", args}}), 60000);
  if (!raw) die(op + ": " + raw.message());
  return parse_reply(*raw);
}

std::int64_t job_id(const Json& result) {
  return std::strtoll(result.value("jobId", std::string("0")).c_str(), nullptr, 10);
}

// Serial submits; returns the job ids.
std::vector<std::int64_t> submit_serial(drover::transport::Client& c, std::int64_t n) {
  const std::string frame = submit_frame();
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    auto raw = c.call(frame, 60000);
    if (!raw) die("SubmitJob: " + raw.message());
    ids.push_back(job_id(parse_reply(*raw)));
  }
  return ids;
}

// Pipelined submits: keep up to `window` requests written ahead of the replies.
// droverd answers in order on one connection, so replies need no matching.
std::vector<std::int64_t> submit_pipelined(drover::transport::Client& c, std::int64_t n, int window) {
  const std::string frame = submit_frame();
  std::vector<std::int64_t> ids;
  ids.reserve(static_cast<std::size_t>(n));
  std::int64_t sent = 0;
  while (static_cast<std::int64_t>(ids.size()) < n) {
    while (sent < n && sent - static_cast<std::int64_t>(ids.size()) < window) {
      if (auto s = c.send(frame); !s) die(s.message());
      ++sent;
    }
    auto raw = c.receive(60000);
    if (!raw) die("SubmitJob: " + raw.message());
    ids.push_back(job_id(parse_reply(*raw)));
  }
  return ids;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

// ---- modes -----------------------------------------------------------------------

int run_submit(bool pipelined) {
  auto c = connect();
  const auto t0 = Clock::now();
  const auto ids = pipelined ? submit_pipelined(c, g_opt.n, g_opt.window) : submit_serial(c, g_opt.n);
  const double s = seconds_since(t0);
  figure(pipelined ? "api_submit_pipelined" : "api_submit", static_cast<double>(ids.size()) / s,
         "jobs/s");
  return 0;
}

// End to end: the clock runs from the first request to the poll that sees every
// job ended (polls every 2 ms). Jobs start in submission order, so it first waits
// for the last job (DescribeJobs of one job is cheap), then for ListJobs of the
// active states to hold none of ours. Failures are counted after the clock stops.
int run_e2e() {
  auto c = connect();
  auto poll = connect();
  const auto t0 = Clock::now();
  const auto ids = submit_pipelined(c, g_opt.n, g_opt.window);
  const double submitted = seconds_since(t0);
  auto terminal = [](const Json& j) {
    const std::string st = j.value("status", "");
    return st == "SUCCEEDED" || st == "FAILED";
  };
  const Json last = {{"jobs", Json::array({std::to_string(ids.back())})}};
  for (;;) {
    const Json r = call(poll, "DescribeJobs", last);
    if (r.contains("jobs") && !r["jobs"].empty() && terminal(r["jobs"][0])) break;
    if (seconds_since(t0) > 600) die("e2e: jobs still not ended after 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const std::set<std::int64_t> mine(ids.begin(), ids.end());
  const Json active = {{"jobStatus", {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"}}};
  for (;;) {
    const Json r = call(poll, "ListJobs", active);
    bool any = false;
    for (const auto& j : r.value("jobSummaryList", Json::array()))
      any |= mine.count(std::strtoll(j.value("jobId", std::string("0")).c_str(), nullptr, 10)) > 0;
    if (!any) break;
    if (seconds_since(t0) > 600) die("e2e: jobs still not ended after 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double s = seconds_since(t0);
  std::int64_t failed = 0;
  for (std::size_t i = 0; i < ids.size(); i += 100) {
    Json ask = Json::array();
    for (std::size_t k = i; k < std::min(ids.size(), i + 100); ++k) ask.push_back(std::to_string(ids[k]));
    const Json r = call(poll, "DescribeJobs", {{"jobs", ask}});
    for (const auto& j : r.value("jobs", Json::array())) failed += j.value("status", "") == "FAILED";
  }
  figure("e2e_throughput", static_cast<double>(ids.size()) / s, "jobs/s");
  figure("e2e_submit_phase", submitted, "s");
  figure("e2e_total", s, "s");
  figure("e2e_failed", static_cast<double>(failed), "jobs");
  return 0;
}

// Submit-to-start on an idle cluster, one job at a time:
//  client: from just before SubmitJob is written to the first DescribeJobs
//          reply that shows RUNNING or a final state (polled every --poll-us);
//          what a user waiting for the job sees.
//  server: startedAt - createdAt of the job record (droverd stamps createdAt on
//          accepting the submit, drover-noded stamps startedAt when it has
//          forked the job), in whole milliseconds.
int run_latency() {
  auto c = connect();
  const std::string frame = submit_frame();
  std::vector<double> client_ms, server_ms, end_ms;
  for (std::int64_t i = 0; i < g_opt.n; ++i) {
    const auto t0 = Clock::now();
    auto raw = c.call(frame, 60000);
    if (!raw) die("SubmitJob: " + raw.message());
    const std::int64_t id = job_id(parse_reply(*raw));
    const Json ask = {{"jobs", Json::array({std::to_string(id)})}};
    bool seen_start = false;
    Json job;
    for (;;) {
      const Json r = call(c, "DescribeJobs", ask);
      if (!r.contains("jobs") || r["jobs"].empty()) die("DescribeJobs: job " + std::to_string(id) + " not found");
      job = r["jobs"][0];
      const std::string st = job.value("status", "");
      if (!seen_start && (st == "RUNNING" || st == "SUCCEEDED" || st == "FAILED")) {
        seen_start = true;
        client_ms.push_back(seconds_since(t0) * 1e3);
      }
      if (st == "SUCCEEDED" || st == "FAILED") break;
      if (seconds_since(t0) > 60) die("latency: job " + std::to_string(id) + " did not end in 60 s");
      if (g_opt.poll_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(g_opt.poll_us));
    }
    end_ms.push_back(seconds_since(t0) * 1e3);
    const auto created = job.value("createdAt", std::int64_t{0});
    const auto started = job.value("startedAt", std::int64_t{0});
    if (created > 0 && started >= created) server_ms.push_back(static_cast<double>(started - created));
  }
  figure("latency_client_median", percentile(client_ms, 0.5), "ms");
  figure("latency_client_p95", percentile(client_ms, 0.95), "ms");
  figure("latency_server_median", percentile(server_ms, 0.5), "ms");
  figure("latency_server_p95", percentile(server_ms, 0.95), "ms");
  figure("latency_to_end_median", percentile(end_ms, 0.5), "ms");
  return 0;
}

// ---- Google Benchmark cases --------------------------------------------------------

void BM_SubmitJob(benchmark::State& st) {
  auto c = connect();
  const std::string frame = submit_frame();
  for (auto _ : st) {
    auto raw = c.call(frame, 60000);
    if (!raw) {
      st.SkipWithError(raw.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(raw);
  }
  st.SetItemsProcessed(st.iterations());
}

void BM_SubmitJobPipelined(benchmark::State& st) {
  auto c = connect();
  const std::string frame = submit_frame();
  const auto window = st.range(0);
  std::int64_t in_flight = 0;
  for (auto _ : st) {
    // One iteration: one reply received, keeping `window` requests in flight.
    while (in_flight < window) {
      if (auto s = c.send(frame); !s) {
        st.SkipWithError(s.message().c_str());
        return;
      }
      ++in_flight;
    }
    auto raw = c.receive(60000);
    if (!raw) {
      st.SkipWithError(raw.message().c_str());
      break;
    }
    --in_flight;
  }
  st.PauseTiming();
  for (; in_flight > 0; --in_flight) (void)c.receive(60000);
  st.ResumeTiming();
  st.SetItemsProcessed(st.iterations());
}

// One array of N trivial tasks: from the submit until the array has ended (polls
// every --array-poll-ms, 2 ms). Tasks are jobs of their own once started, so this is end-to-end
// job throughput with one submit.
int run_array() {
  auto c = connect();
  const auto t0 = Clock::now();
  auto raw = c.call(submit_frame(g_opt.n), 60000);
  if (!raw) die("SubmitJob: " + raw.message());
  const std::string id = parse_reply(*raw).value("jobId", "");
  const double accepted = seconds_since(t0);
  Json j;
  for (;;) {
    const Json r = call(c, "DescribeJobs", {{"jobs", {id}}});
    j = r["jobs"].empty() ? Json::object() : r["jobs"][0];
    const std::string st = j.value("status", "");
    if (st == "SUCCEEDED" || st == "FAILED") break;
    if (seconds_since(t0) > 600) die("array: not ended after 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(g_opt.array_poll_ms));
  }
  const double s = seconds_since(t0);
  figure("e2e_array_throughput", static_cast<double>(g_opt.n) / s, "jobs/s");
  figure("e2e_array_total", s, "s");
  figure("e2e_array_accept", accepted * 1000, "ms");
  figure("e2e_array_failed", static_cast<double>(j["arrayProperties"]["statusSummary"].value("FAILED", 0)), "jobs");
  return 0;
}

// --arrays K arrays of N tasks submitted one at a time (to a queue that holds
// them): the client's round trip for each, the commit's fsync included.
int run_array_accept() {
  auto c = connect();
  const std::string frame = submit_frame(g_opt.n);
  std::vector<double> ms;
  for (int i = 0; i < g_opt.arrays; ++i) {
    const auto t0 = Clock::now();
    auto raw = c.call(frame, 60000);
    if (!raw) die("SubmitJob: " + raw.message());
    parse_reply(*raw);
    ms.push_back(seconds_since(t0) * 1000);
  }
  const std::string n = std::to_string(g_opt.n);
  figure("array_accept_median_" + n, percentile(ms, 0.5), "ms");
  figure("array_accept_max_" + n, *std::max_element(ms.begin(), ms.end()), "ms");
  return 0;
}

void usage() {
  std::fprintf(stderr,
               "usage: bench_api [--socket PATH] [--queue Q] [--command CMD] [--workdir DIR]\n"
               "                 [--window W] [--poll-us US] [--no-env] [--prefix P]\n"
               "                 [--arrays K] [--array-poll-ms MS]\n"
               "                 submit N | pipelined N | e2e N | latency N | array N | array-accept N\n"
               "                 | gbench [--benchmark_...]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--socket") g_opt.socket = value();
    else if (a == "--queue") g_opt.queue = value();
    else if (a == "--command") g_opt.command = value();
    else if (a == "--workdir") g_opt.workdir = value();
    else if (a == "--prefix") g_opt.prefix = value();
    else if (a == "--window") g_opt.window = std::max(1, std::atoi(value().c_str()));
    else if (a == "--poll-us") g_opt.poll_us = std::max(0, std::atoi(value().c_str()));
    else if (a == "--no-env") g_opt.with_env = false;
    else if (a == "--array-poll-ms") g_opt.array_poll_ms = std::max(1, std::atoi(value().c_str()));
    else if (a == "--arrays") g_opt.arrays = std::max(1, std::atoi(value().c_str()));
    else if (a == "-h" || a == "--help") usage();
    else rest.push_back(a);
  }
  if (g_opt.socket.empty()) g_opt.socket = drover::cli::default_socket_path();
  if (rest.empty()) usage();
  const std::string mode = rest[0];
  if (mode == "gbench") {
    // Iterations: $BENCH_API_N (5000) submits per case.
    const char* n = std::getenv("BENCH_API_N");
    const auto iters = n ? std::atoll(n) : 5000;
    benchmark::RegisterBenchmark("BM_SubmitJob", BM_SubmitJob)->Iterations(iters)->UseRealTime();
    benchmark::RegisterBenchmark("BM_SubmitJobPipelined", BM_SubmitJobPipelined)
        ->Arg(g_opt.window)->Iterations(iters)->UseRealTime();
    std::vector<char*> bargs = {argv[0]};
    for (std::size_t i = 1; i < rest.size(); ++i) bargs.push_back(rest[i].data());
    int bargc = static_cast<int>(bargs.size());
    benchmark::Initialize(&bargc, bargs.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  if (rest.size() < 2) usage();
  g_opt.n = std::atoll(rest[1].c_str());
  if (g_opt.n <= 0) usage();
  if (mode == "submit") return run_submit(false);
  if (mode == "pipelined") return run_submit(true);
  if (mode == "e2e") return run_e2e();
  if (mode == "latency") return run_latency();
  if (mode == "array") return run_array();
  if (mode == "array-accept") return run_array_accept();
  usage();
}
