// drover submit: sbatch's options and Drover's own, from the command line, the input
// environment and the script's #DROVER/#SBATCH lines (src/script), turned into a
// SubmitJob request. What Drover cannot honour yet is refused or warned about, never
// dropped silently.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/submit_options_json.hpp"
#include "cli/submit_request.hpp"
#include "script/directives.hpp"
#include "script/option_table.hpp"

extern char** environ;

namespace drover::cli {

using proto::Json;
using script::SubmitOptions;

namespace {

const char* kSubmitUsage = R"(Usage: drover submit [options] SCRIPT [script args...]
       drover submit [options] --wrap "COMMAND"
       drover submit [options] -- PROGRAM [args...]

Submit a batch job; prints its id. Options come from the command line, then SBATCH_* and
DROVER_SUBMIT_* variables, then the script's #DROVER lines, then its #SBATCH lines (the
first wins). Options go before the script, as with sbatch.

Examples:
  drover submit job.sh
  drover submit -c 4 --mem 8G -t 2:00:00 -J fit job.sh input.dat
  drover submit --wrap "python3 analyse.py"
  drover submit --dependency afterok:42 -- ./postprocess out/
  drover submit --definition blast:2 --parameter db=nr
  drover submit --test-only job.sh          # where and when would it start?

)";

}  // namespace

script::Clock local_clock() {
  script::Clock c;
  c.now = static_cast<std::int64_t>(std::time(nullptr));
  c.to_local = [](std::int64_t epoch) {
    const std::time_t t = epoch;
    std::tm tm{};
    localtime_r(&t, &tm);
    return script::CivilTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
  };
  c.from_local = [](const script::CivilTime& ct) -> std::optional<std::int64_t> {
    std::tm tm{};
    tm.tm_year = ct.year - 1900;
    tm.tm_mon = ct.month - 1;
    tm.tm_mday = ct.day;
    tm.tm_hour = ct.hour;
    tm.tm_min = ct.minute;
    tm.tm_sec = ct.second;
    tm.tm_isdst = -1;
    const std::time_t t = std::mktime(&tm);
    if (t == static_cast<std::time_t>(-1)) return std::nullopt;
    return static_cast<std::int64_t>(t);
  };
  return c;
}

KeyValues submitter_environment() {
  KeyValues env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

std::string current_directory() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? buf : "/";
}

namespace {

// "--array (job.sh:4)": an option and where it was set, for messages.
std::string asked(const SubmitOptions& o, const std::string& field) {
  auto it = o.set_by.find(field);
  return "--" + field + (it == o.set_by.end() ? "" : " (" + it->second.describe() + ")");
}

}  // namespace

// Options whose meaning Drover cannot honour: running the job anyway would run
// something else than was asked.
Status refuse_what_would_change_the_job(const SubmitOptions& o) {
  if (o.dependency) {
    for (const auto& t : o.dependency->terms)
      if (t.kind == script::DependencyKind::AfterBurstBuffer)
        return make_error(asked(o, "dependency"), "afterburstbuffer: Drover has no burst buffers");
    if (o.dependency->any && !o.depends_on.empty())
      return make_error(asked(o, "depends-on"), "adds afterok dependencies, which all must hold, but --dependency "
                                                "joins its own with '?' (any of); put them all in --dependency");
  }
  return {};
}

namespace {

int count_gpus(const std::vector<script::GpuCount>& v) {
  int n = 0;
  for (const auto& g : v) n += g.count;
  return n;
}

}  // namespace

Json depends_on_json(const script::DependencyExpr& e) {
  Json deps = Json::array();
  for (const auto& t : e.terms) {
    if (t.kind == script::DependencyKind::Singleton) deps.push_back({{"type", "singleton"}});
    for (const auto& x : t.targets) {
      Json d = {{"jobId", std::to_string(x.job_id) + (x.array_task ? "_" + std::to_string(*x.array_task) : "")},
                {"type", script::to_string(t.kind)}};
      if (x.delay_minutes) d["minutes"] = x.delay_minutes;
      deps.push_back(std::move(d));
    }
  }
  return deps;
}

Result<Json> build_request(const SubmitOptions& o, const script::CommandLine& cl,
                           const std::string& script_path, const std::string& script_text,
                           const KeyValues& env) {
  Json req = Json::object();
  std::string default_name;
  if (o.wrap) {
    if (!cl.operands.empty())
      return make_error("--wrap", "give either --wrap \"cmd\", a script, or -- cmd args, not several");
    req["script"] = "#!/bin/sh\n" + *o.wrap + "\n";
    default_name = "wrap";
  } else if (cl.double_dash) {
    if (cl.operands.empty()) return make_error("--", "nothing after --: give a program, e.g. -- hostname");
    req["command"] = cl.operands;
    default_name = cl.operands[0].substr(cl.operands[0].rfind('/') + 1);
  } else if (!cl.operands.empty()) {
    req["script"] = script_text;
    if (cl.operands.size() > 1) req["command"] = std::vector<std::string>(cl.operands.begin() + 1, cl.operands.end());
    default_name = script_path.substr(script_path.rfind('/') + 1);
  } else if (!o.definition) {
    return make_error("nothing to run", "give a script, --wrap \"cmd\", or -- cmd args (see drover submit --help)");
  }
  if (o.definition) req["jobDefinition"] = *o.definition;
  if (o.job_name) req["jobName"] = *o.job_name;
  else if (!default_name.empty()) req["jobName"] = default_name;
  if (!o.partitions.empty()) {
    std::string q;
    for (const auto& p : o.partitions) q += (q.empty() ? "" : ",") + p;
    req["jobQueue"] = q;
  }

  // Node selection: --constraint, --nodelist, --exclude, --exclusive.
  Json sel = Json::object();
  if (o.constraint) sel["constraint"] = *o.constraint;
  if (!o.nodelist.empty()) sel["nodeList"] = o.nodelist;
  if (!o.exclude.empty()) sel["exclude"] = o.exclude;
  if (o.exclusive) {
    if (!o.exclusive->empty())
      return make_error("--exclusive=" + *o.exclusive +
                            (o.set_by.count("exclusive") ? " (" + o.set_by.at("exclusive").describe() + ")" : ""),
                        "sharing a node with only your own jobs (or by MCS label or topology) is not supported; "
                        "use --exclusive alone for whole nodes");
    sel["exclusive"] = true;
  }
  if (!sel.empty()) req["nodeSelection"] = sel;
  // sbatch: a job that lists more nodes than it asks for is an error; one that
  // lists nodes and asks for no count gets them all.
  if (!o.nodelist.empty() && o.nodes && o.nodes->min < static_cast<int>(o.nodelist.size()))
    return make_error(asked(o, "nodelist"), std::to_string(o.nodelist.size()) + " nodes listed, but --nodes=" +
                                                std::to_string(o.nodes->min) +
                                                "; the job gets every listed node, so ask for at least " +
                                                std::to_string(o.nodelist.size()) + " nodes, or list fewer");

  // Resources on each node: its tasks' vCPUs, memory and GPUs.
  const int nodes = o.nodes ? o.nodes->min : std::max<int>(1, static_cast<int>(o.nodelist.size()));
  const bool counts_given = o.ntasks || o.ntasks_per_node || o.cpus_per_task;
  const int ntasks = o.ntasks ? *o.ntasks : o.ntasks_per_node ? *o.ntasks_per_node * nodes : nodes;
  const int tasks_per_node = o.ntasks_per_node ? *o.ntasks_per_node : (ntasks + nodes - 1) / nodes;
  const int cpt = o.cpus_per_task ? *o.cpus_per_task : 1;
  const std::int64_t vcpus = static_cast<std::int64_t>(tasks_per_node) * cpt;
  if (nodes > 1) req["nodeProperties"] = {{"numNodes", nodes}, {"mainNode", 0}};
  Json rr = Json::array();
  if (counts_given) {
    rr.push_back({{"type", "VCPU"}, {"value", std::to_string(vcpus)}});
    req["ntasks"] = ntasks;
  } else if (nodes > 1) {
    req["ntasks"] = ntasks;
  }
  int gpus = -1;
  if (!o.gpus.empty()) {
    // Drover gives every node of a job the same resources: a total must split evenly.
    const int total = count_gpus(o.gpus);
    if (total % nodes != 0)
      return make_error("--gpus=" + std::to_string(total),
                        "cannot be split evenly over " + std::to_string(nodes) + " nodes; every node of a job "
                        "gets the same GPUs: give a multiple of " + std::to_string(nodes) +
                        ", or --gpus-per-node=N");
    gpus = total / nodes;
  }
  else if (!o.gpus_per_node.empty()) gpus = count_gpus(o.gpus_per_node);
  else if (!o.gpus_per_task.empty()) gpus = count_gpus(o.gpus_per_task) * tasks_per_node;
  else
    for (const auto& g : o.gres)
      if (g.name == "gpu") gpus = std::max(gpus, 0) + static_cast<int>(g.count);
  if (gpus >= 0) rr.push_back({{"type", "GPU"}, {"value", std::to_string(gpus)}});
  std::optional<std::int64_t> mem;
  if (o.mem_per_node_mib) mem = *o.mem_per_node_mib;  // 0: no limit (Slurm: the whole node)
  else if (o.mem_per_cpu_mib) mem = *o.mem_per_cpu_mib * vcpus;
  else if (o.mem_per_gpu_mib) mem = *o.mem_per_gpu_mib * std::max(gpus, 1);
  if (mem && *mem > 0) rr.push_back({{"type", "MEMORY"}, {"value", std::to_string(*mem)}});
  if (!rr.empty()) req["resourceRequirements"] = rr;
  if (o.time_limit_s && *o.time_limit_s > 0) req["timeout"] = {{"attemptDurationSeconds", *o.time_limit_s}};
  if (o.retry_attempts) req["retryStrategy"] = {{"attempts", *o.retry_attempts}};
  if (o.signal) {
    req["checkpoint"] = {{"signal", o.signal->number},
                         {"secondsBefore", o.signal->seconds_before},
                         {"batchShellOnly", o.signal->batch_shell_only}};
    if (o.checkpoint_dir) req["checkpoint"]["directory"] = *o.checkpoint_dir;
  } else if (o.checkpoint_dir) {
    req["checkpoint"] = {{"directory", *o.checkpoint_dir}};
  }
  if (o.requeue) req["requeue"] = *o.requeue;
  if (o.kill_on_invalid_dep) req["killOnInvalidDependency"] = *o.kill_on_invalid_dep;
  if (o.distribution) req["distribution"] = *o.distribution;

  // The job's environment: --export decides what of ours is carried, --env adds.
  Json environment = Json::object();
  const script::ExportSpec ex = o.export_env.value_or(script::ExportSpec{});
  if (ex.base == script::ExportSpec::Base::All)
    for (const auto& [k, v] : env) environment[k] = v;
  for (const auto& var : ex.variables) {
    if (var.value) {
      environment[var.name] = *var.value;
    } else if (const std::string* v = find_value(env, var.name)) {
      environment[var.name] = *v;
    }
  }
  for (const auto& [k, v] : o.env) environment[k] = v;
  req["environment"] = environment;
  if (!o.parameters.empty()) req["parameters"] = proto::to_json(o.parameters);
  if (!o.tags.empty()) req["tags"] = proto::to_json(o.tags);

  // dependsOn entries, one per job named: "42" or a task "42_7"; after:42+10
  // carries "minutes"; singleton names no job.
  Json deps = o.dependency ? depends_on_json(*o.dependency) : Json::array();
  if (o.dependency && o.dependency->any && deps.size() > 1) req["dependsOnAny"] = true;
  for (auto id : o.depends_on) deps.push_back({{"jobId", std::to_string(id)}, {"type", "afterok"}});
  if (!deps.empty()) req["dependsOn"] = deps;

  std::string dir = o.chdir ? *o.chdir : current_directory();
  if (dir.empty() || dir[0] != '/') dir = current_directory() + "/" + dir;
  req["workingDirectory"] = dir;
  if (o.output) req["stdoutPath"] = *o.output;
  if (o.error) req["stderrPath"] = *o.error;
  if (o.open_mode) req["openMode"] = *o.open_mode;
  if (o.no_slurm_env) req["slurmEnvironment"] = false;
  if (o.hold) req["held"] = true;
  if (o.begin && o.begin->epoch) req["beginAt"] = *o.begin->epoch * 1000;  // a past time: at once
  if (o.time_min_s && *o.time_min_s > 0) req["timeMinSeconds"] = *o.time_min_s;
  if (o.priority) req["schedulingPriority"] = *o.priority == "TOP" ? kMaxSchedulingPriority : std::stoi(*o.priority);
  if (o.nice) req["nice"] = *o.nice;
  if (o.account) req["account"] = *o.account;
  if (o.array) {
    Json ranges = Json::array();
    for (const auto& r : o.array->ranges) ranges.push_back({r.first, r.last, r.step});
    req["arrayProperties"] = {{"ranges", std::move(ranges)}};
    if (o.array->max_running) req["arrayProperties"]["maxRunning"] = *o.array->max_running;
  }
  req["submitOptions"] = Json::parse(to_json(o).dump());
  return req;
}

namespace {

// sbatch --wait: block until the job ends; its exit code becomes ours.
int wait_for(ApiClient& c, const std::string& id) {
  for (;;) {
    auto r = c.call("DescribeJobs", {{"jobs", {id}}});
    if (!r) return fail("submit", "--wait: " + r.message());
    const Json& jobs = (*r)["jobs"];
    if (jobs.empty()) return fail("submit", "--wait: job " + id + " vanished");
    const std::string state = str(jobs[0], "status");
    if (state == "SUCCEEDED") return 0;
    if (state == "FAILED") {
      const Json& ct = jobs[0].value("container", Json::object());
      const int code = ct.contains("exitCode") ? static_cast<int>(num(ct, "exitCode")) : 1;
      std::cerr << "drover submit: job " << id << " FAILED: " << str(jobs[0], "statusReason") << "\n";
      return code == 0 ? 1 : code;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int cmd_submit(const Global& g, const Args& all) {
  auto cl = script::parse_command_line(all);
  if (!cl) return fail("submit", cl.message() + " (see drover submit --help)");
  bool wants_help = false, has_wrap = false;
  for (const auto& u : cl->options) {
    wants_help |= u.name == "help";
    has_wrap |= u.name == "wrap";
  }
  if (wants_help) {
    std::cout << kSubmitUsage << script::options_help();
    return 0;
  }

  std::string path, text;
  std::optional<script::ParsedScript> parsed;
  if (!cl->double_dash && !cl->operands.empty() && !has_wrap) {
    path = cl->operands[0];
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("submit", "cannot read script " + path + ": " + std::strerror(errno));
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
    if (size > script::kMaxScriptBytes)
      return fail("submit", path + ": " + std::to_string(size >> 20) +
                                " MiB; scripts are limited to 4 MiB (keep data in files)");
    in.seekg(0);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    auto p = script::parse_directives(text, path);
    if (!p) return fail("submit", p.message());
    parsed = std::move(*p);
  }
  const KeyValues env = submitter_environment();
  const script::Clock clock = local_clock();
  auto o = script::merge_options(parsed ? &*parsed : nullptr, env, *cl, clock);
  if (!o) return fail("submit", o.message());
  if (o->version) {
    std::cout << "drover 0.1.0\n";
    return 0;
  }
  if (auto s = refuse_what_would_change_the_job(*o); !s) return fail("submit", s.message());
  if (!o->quiet)
    for (const auto& w : o->warnings) std::cerr << "drover submit: warning: " << w << "\n";
  auto req = build_request(*o, *cl, path, text, env);
  if (!req) return fail("submit", req.message());

  auto client = connect(g.socket);
  if (!client) return fail("submit", client.message());
  if (o->test_only) {
    (*req)["dryRun"] = true;
    auto r = client->call("SubmitJob", *req);
    if (!r) return fail("submit", r.message());
    if (o->json) {
      std::cout << r->dump(2) << "\n";
      return 0;
    }
    std::cout << "Would start "
              << (r->contains("beginAt") ? "not before " + format_time(num(*r, "beginAt")) : str(*r, "wouldStart"))
              << " in queue " << str(*r, "jobQueue");
    if (r->contains("nodeName")) {
      std::string cpus;
      for (const auto& c : (*r)["cpus"]) cpus += (cpus.empty() ? "" : ",") + c.dump();
      std::cout << " on node " << str(*r, "nodeName") << " (cpus " << cpus << ")";
    }
    std::cout << ". Nothing was submitted.\n";
    return 0;
  }
  auto r = client->call("SubmitJob", *req);
  if (!r) return fail("submit", r.message());
  const std::string id = str(*r, "jobId");
  if (o->json)
    std::cout << r->dump(2) << "\n";
  else if (o->parsable)
    std::cout << id << "\n";
  else if (!o->quiet)
    std::cout << "Submitted job " << id << "\n";
  std::cout << std::flush;
  return o->wait ? wait_for(*client, id) : 0;
}

}  // namespace drover::cli
