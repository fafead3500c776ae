// Drover on the namespace cluster of tests/multinode (drover_netns.hpp): droverd
// in the root namespace, one drover-noded per network namespace, over TCP with
// MUNGE, as on a real cluster. Not a test: it prints figures (bench/README.md).
// Needs root; bench/multinode_dispatch.sh runs it and cleans up after it.
//
//   bench_multinode dispatch [--nodes 4] [--jobs 1000]
//       N single-core `true` jobs, submitted pipelined by bench_api (its e2e mode,
//       the same figure as the one-machine e2e_throughput) to a cluster of
//       --nodes nodes of 2 PUs each; then where they ran and the head's own
//       submit-to-start latency (startedAt - createdAt).
//   bench_multinode mpi [--reps 10] [--cpus 1]
//       A 2-node MPI hello world (1 rank per node), --reps times each:
//       through Drover (`drover submit -N 2 --ntasks-per-node 1`, mpirun in the
//       job starts orted on the other node through drover-launch), and plain
//       mpirun on node 1 with a shell rsh agent (nsenter) over the same
//       namespaces. The same script times mpirun in both. --cpus: PUs the
//       Drover job gets per node (-c; 2 = the whole node, as plain mpirun has).
//   bench_multinode sweep
//       removes what crashed runs left (namespaces, links, hosts lines,
//       cgroups, temporary directories of processes that are gone).
//   --munged-file FILE (any mode): writes the cluster's munged directory there,
//       for the wrapper to clean up after a killed run (munged daemonizes).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "drover_netns.hpp"

namespace {

using namespace drover;
using namespace drover::it;
using Clock = std::chrono::steady_clock;

const std::string kExamplesBin = DROVER_EXAMPLES_BIN;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_multinode: %s\n", what.c_str());
  std::exit(1);
}

void figure(const std::string& name, double value, const char* unit) {
  std::printf("%s %.6g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

void log(const std::string& s) { std::fprintf(stderr, "# %s\n", s.c_str()); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Topologies for n nodes: the fixture's three 2-PU shapes, repeated.
std::vector<std::string> topologies(int n) {
  const std::vector<std::string> shapes = {kTestData + "/hwloc/netns-2pkg-2core.xml",
                                           kTestData + "/hwloc/netns-1core-smt.xml",
                                           kTestData + "/hwloc/netns-2core.xml"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(shapes[static_cast<std::size_t>(i) % shapes.size()]);
  return out;
}

// --munged-file FILE: where to write the cluster's munged directory. munged
// daemonizes, so if this process is killed it outlives us; the wrapper script
// then stops it (by the pid file in that directory) and removes the directory.
std::string g_munged_file;

void start(NetnsDroverCluster& c) {
  if (!g_munged_file.empty()) write_file(g_munged_file, c.munged().dir() + "\n");
  const auto t0 = Clock::now();
  if (const std::string e = c.start(); !e.empty()) die("the namespace cluster did not start: " + e);
  log("cluster " + c.tag() + " up with " + std::to_string(c.node_count()) + " nodes in " +
      std::to_string(static_cast<int>(ms_since(t0))) + " ms");
}

int run_dispatch(int nodes, int jobs) {
  NetnsDroverCluster::Config cfg;
  cfg.topologies = topologies(nodes);
  NetnsDroverCluster c(cfg);
  start(c);
  const std::string prefix = "multinode_" + std::to_string(nodes) + "n_";
  figure(prefix + "pus", 2.0 * nodes, "PUs");

  // bench_api e2e: pipelined submits, then ListJobs until none is active.
  log("bench_api e2e " + std::to_string(jobs) + " against " + c.socket());
  const CliResult r = Cluster::run_program(
      {kBinDir + "/bench/bench_api", "--socket", c.socket(), "--prefix", prefix, "e2e", std::to_string(jobs)},
      {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
       {"HOME", c.dir()},
       {"USER", "root"},
       {"LOGNAME", "root"},
       {"LANG", "C.UTF-8"},
       {"DROVER_IT_TAG", c.tag()}},
      900'000, c.work_dir());
  std::fputs(r.out.c_str(), stdout);
  std::fflush(stdout);
  if (r.code != 0) die("bench_api failed: " + r.describe() + "\n" + c.logs());

  // Where the jobs ran, and the head's own view of their start latency.
  auto api = c.api();
  if (!api) die("cannot connect to droverd: " + api.message());
  auto list = api->call("ListJobs", Json{{"jobStatus", Json::array({"SUCCEEDED", "FAILED"})}}, 30000);
  if (!list) die("ListJobs: " + list.message());
  std::map<std::string, int> per_node;
  std::vector<double> start_latency, run_time;
  std::int64_t first = 0, last = 0;
  for (const auto& j : (*list)["jobSummaryList"]) {
    ++per_node[j.value("nodeName", "?")];
    const std::int64_t created = j.value("createdAt", std::int64_t{0});
    const std::int64_t started = j.value("startedAt", std::int64_t{0});
    const std::int64_t stopped = j.value("stoppedAt", std::int64_t{0});
    if (started) start_latency.push_back(static_cast<double>(started - created));
    if (started && stopped) run_time.push_back(static_cast<double>(stopped - started));
    first = first == 0 ? created : std::min(first, created);
    last = std::max(last, stopped);
  }
  for (int k = 1; k <= c.node_count(); ++k)
    figure(prefix + "jobs_on_node" + std::to_string(k), per_node[c.node(k)], "jobs");
  figure(prefix + "server_start_latency_median", median(start_latency), "ms");
  figure(prefix + "server_start_latency_p95", percentile(start_latency, 0.95), "ms");
  figure(prefix + "server_run_time_median", median(run_time), "ms");
  figure(prefix + "server_span", static_cast<double>(last - first) / 1000.0, "s");
  return 0;
}

// What both runs execute on node 1: mpirun, timed by the shell around it.
std::string timed(const std::string& mpirun) {
  return "t0=$(date +%s%N); " + mpirun + "; rc=$?; t1=$(date +%s%N); echo mpirun_ms=$(( (t1 - t0) / 1000000 )); exit $rc";
}

double mpirun_ms(const std::string& out) {
  const auto p = out.rfind("mpirun_ms=");
  return p == std::string::npos ? -1 : std::atof(out.c_str() + p + 10);
}

int run_mpi(int reps, int cpus) {
  if (::access((kExamplesBin + "/mpi_hello").c_str(), X_OK) != 0) die("no " + kExamplesBin + "/mpi_hello built");
  NetnsDroverCluster::Config cfg;
  cfg.topologies = topologies(2);
  NetnsDroverCluster c(cfg);
  start(c);
  const std::string subnet = c.net().subnet();
  const std::string mca = "--mca btl tcp,self --mca btl_tcp_if_include " + subnet + " --mca oob_tcp_if_include " +
                          subnet + " --mca pml ob1 ";
  const std::string hello = kExamplesBin + "/mpi_hello";

  // Plain Open MPI: the rsh agent enters the node's namespaces, as ssh would log in.
  const std::string agent = c.dir() + "/rsh-agent", hostfile = c.dir() + "/hostfile";
  std::ofstream(agent) << "#!/bin/sh\n"
                          "host=$1; shift\n"
                          "[ -e \"/run/netns/$host\" ] || { echo \"rsh-agent: no node $host\" >&2; exit 255; }\n"
                          "exec nsenter --net=\"/run/netns/$host\" unshare --uts sh -c 'hostname \"$1\"; shift; "
                          "eval \"$*\"' sh \"$host\" \"$@\"\n";
  ::chmod(agent.c_str(), 0755);
  std::ofstream(hostfile) << c.node(1) << " slots=1\n" << c.node(2) << " slots=1\n";
  const std::string plain_cmd = timed("mpirun --hostfile " + hostfile + " -np 2 --mca plm rsh --mca plm_rsh_agent " +
                                      agent + " " + mca + hello);
  // Through Drover: the job's allocation gives the hostfile and the rsh agent (drover-launch).
  const std::string drover_cmd = timed("mpirun " + mca + hello);

  std::vector<double> plain_wall, plain_mpirun, drover_wall, drover_mpirun, drover_server, drover_server_run;
  for (int i = 0; i < reps + 1; ++i) {  // the first round of each warms caches; not counted
    netns::ExecOptions o;
    o.cwd = c.work_dir();
    o.env = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"};
    o.timeout_ms = 60000;
    auto t0 = Clock::now();
    const netns::ProcResult p = c.net().run(1, {"/bin/sh", "-c", plain_cmd}, o);
    const double pw = ms_since(t0);
    if (p.code != 0 || p.out.find("hello from 2 ranks") == std::string::npos) die("plain mpirun failed: " + p.describe());

    t0 = Clock::now();
    const CliResult s = c.run_cli({"submit", "--parsable", "-N", "2", "--ntasks-per-node", "1", "-c", std::to_string(cpus), "-t", "1:00",
                                   "--export=ALL,OMPI_ALLOW_RUN_AS_ROOT=1,OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "--wrap",
                                   drover_cmd});
    const std::string id = trim(s.out);
    if (s.code != 0 || id.empty()) die("submit failed: " + s.describe());
    Json j;
    for (;;) {
      j = c.describe(id);
      const std::string st = j.is_object() ? j.value("status", "") : "";
      if (st == "SUCCEEDED" || st == "FAILED") break;
      if (ms_since(t0) > 60000) die("job " + id + " did not end: " + j.dump(2) + c.logs());
      sleep_ms(1);
    }
    const double dw = ms_since(t0);
    const std::string out = c.job_output(id);
    if (j.value("status", "") != "SUCCEEDED" || out.find("hello from 2 ranks") == std::string::npos)
      die("MPI job " + id + " failed: " + j.dump(2) + "\n" + out + c.logs());
    if (i == 0) continue;
    plain_wall.push_back(pw);
    plain_mpirun.push_back(mpirun_ms(p.out));
    drover_wall.push_back(dw);
    drover_mpirun.push_back(mpirun_ms(out));
    drover_server.push_back(static_cast<double>(j.value("stoppedAt", std::int64_t{0}) - j.value("createdAt", std::int64_t{0})));
    drover_server_run.push_back(
        static_cast<double>(j.value("stoppedAt", std::int64_t{0}) - j.value("startedAt", std::int64_t{0})));
    log("round " + std::to_string(i) + ": plain " + std::to_string(static_cast<int>(pw)) + " ms (mpirun " +
        std::to_string(static_cast<int>(plain_mpirun.back())) + "), drover " + std::to_string(static_cast<int>(dw)) +
        " ms (mpirun " + std::to_string(static_cast<int>(drover_mpirun.back())) + ")");
  }
  // One remote `true` at a time, 20 times: what starting orted on the other node
  // costs by itself (drover-launch + MUNGE + the agent's step service, against
  // the rsh agent's nsenter).
  const std::string loop = "t0=$(date +%s%N); i=0; while [ $i -lt 20 ]; do AGENT OTHER true || exit 1; i=$((i+1)); "
                           "done; t1=$(date +%s%N); echo per_launch_us=$(( (t1 - t0) / 20000 ))";
  auto with = [&](std::string s, const std::string& agent_cmd, const std::string& other) {
    s.replace(s.find("AGENT"), 5, agent_cmd);
    s.replace(s.find("OTHER"), 5, other);
    return s;
  };
  auto per_launch_ms = [](const std::string& out) {
    const auto p = out.rfind("per_launch_us=");
    return p == std::string::npos ? -1.0 : std::atof(out.c_str() + p + 14) / 1000.0;
  };
  {
    netns::ExecOptions o;
    o.cwd = c.work_dir();
    const netns::ProcResult p = c.net().run(1, {"/bin/sh", "-c", with(loop, agent, c.node(2))}, o);
    if (p.code != 0) die("rsh agent loop failed: " + p.describe());
    figure("mpi2n_plain_rsh_true_per_launch", per_launch_ms(p.out), "ms");
    const std::string script =
        "for h in $(echo $SLURM_JOB_NODELIST | tr ',' ' '); do [ \"$h\" = \"$(hostname)\" ] || other=$h; done; " +
        with(loop, kBinDir + "/drover-launch", "$other");
    const std::string id = c.submit({"-N", "2", "-c", "1", "-t", "1:00", "--wrap", script});
    const Json j = c.wait_for_end(id, 60000);
    if (j.value("status", "") != "SUCCEEDED") die("drover-launch loop failed: " + j.dump(2) + c.job_output(id));
    figure("mpi2n_drover_launch_true_per_launch", per_launch_ms(c.job_output(id)), "ms");
  }
  figure("mpi2n_plain_wall_median", median(plain_wall), "ms");
  figure("mpi2n_plain_mpirun_median", median(plain_mpirun), "ms");
  figure("mpi2n_drover_submit_to_done_median", median(drover_wall), "ms");
  figure("mpi2n_drover_server_created_to_stopped_median", median(drover_server), "ms");
  figure("mpi2n_drover_server_started_to_stopped_median", median(drover_server_run), "ms");
  figure("mpi2n_drover_mpirun_median", median(drover_mpirun), "ms");
  figure("mpi2n_overhead_mpirun", median(drover_mpirun) - median(plain_mpirun), "ms");
  figure("mpi2n_overhead_total", median(drover_wall) - median(plain_wall), "ms");
  figure("mpi2n_overhead_total_pct", 100.0 * (median(drover_wall) / median(plain_wall) - 1), "%");
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_multinode dispatch [--nodes N] [--jobs N] | mpi [--reps N] [--cpus 1|2] | sweep  [--munged-file FILE]\n"
               "  (root; see bench/README.md and bench/multinode_dispatch.sh)\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  int nodes = 4, jobs = 1000, reps = 10, cpus = 1;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--munged-file") {
      g_munged_file = argv[++i];
      continue;
    }
    const int v = std::atoi(argv[++i]);
    if (a == "--nodes" && v >= 1 && v <= 9) nodes = v;
    else if (a == "--jobs" && v >= 1) jobs = v;
    else if (a == "--reps" && v >= 1) reps = v;
    else if (a == "--cpus" && v >= 1 && v <= 2) cpus = v;
    else return usage();
  }
  if (mode == "sweep") {
    netns::NetnsCluster::sweep();
    return 0;
  }
  if (mode != "dispatch" && mode != "mpi") return usage();
  if (const std::string why = NetnsDroverCluster::skip_reason(); !why.empty()) die("cannot run here: " + why);
  if (mode == "dispatch" && ::access((kBinDir + "/bench/bench_api").c_str(), X_OK) != 0)
    die("no " + kBinDir + "/bench/bench_api built");
  figure("env_loadavg", std::atof(read_file("/proc/loadavg").c_str()), "load");
  return mode == "dispatch" ? run_dispatch(nodes, jobs) : run_mpi(reps, cpus);
}
