#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <tuple>
#include <cstring>
#include <cerrno>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/job_queue.hpp"
#include "core/node_selection.hpp"
#include "core/units.hpp"

namespace drover::cli {

namespace po = boost::program_options;
using proto::Json;

namespace {

struct Parsed {
  po::variables_map vm;
  Args rest;  // after "--"
  bool help = false;
};

Parsed parse_sub(const std::string& usage, po::options_description& desc, const Args& args,
                 po::positional_options_description* pos = nullptr) {
  Parsed p;
  Args opts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      p.rest.assign(args.begin() + i + 1, args.end());
      break;
    }
    opts.push_back(args[i]);
  }
  po::options_description all(usage);
  all.add_options()("help,h", "show this help");
  all.add(desc);
  auto parser = po::command_line_parser(opts).options(all);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), p.vm);
  if (p.vm.count("help")) {
    std::cout << all << "\n";
    p.help = true;
    return p;
  }
  po::notify(p.vm);
  return p;
}

Result<Json> read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error("cannot read " + path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return make_error(path, "not valid JSON");
  return j;
}

Result<Json> kv_object(const std::vector<std::string>& items, const std::string& opt) {
  Json o = Json::object();
  for (const auto& s : items) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) return make_error(opt + " '" + s + "'", "expected KEY=VALUE");
    o[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return o;
}

int print_or_json(const Parsed& p, const Json& r) {
  if (p.vm.count("json")) std::cout << r.dump(2) << "\n";
  return 0;
}

std::string mib(std::int64_t m) {
  if (m >= 10 * 1024) return std::to_string(m / 1024) + "G";
  return std::to_string(m) + "M";
}


}  // namespace

// ---- nodes -----------------------------------------------------------------------

// drover nodes drain|down|resume NODE [--reason TEXT]
int node_state_change(const Global& g, const Args& args) {
  po::options_description desc("Options");
  std::string reason;
  std::vector<std::string> names;
  desc.add_options()("reason", po::value(&reason), "why (required for drain and down)")(
      "checkpoint", "drain: jobs there that checkpoint write one now and are requeued elsewhere")(
      "node", po::value(&names)->multitoken(), "node names");
  const std::string action = args[0];
  Args rest(args.begin() + 1, args.end());
  po::positional_options_description pos;
  pos.add("node", -1);
  auto p = parse_sub("Usage: drover nodes drain|down|resume NODE... [--reason TEXT] [--checkpoint]\n\n"
                     "drain: no new jobs start there, running ones go on (scontrol update state=DRAIN);\n"
                     "  with --checkpoint, jobs there that checkpoint get their signal, write one, and are\n"
                     "  requeued (the node empties sooner; the others go on).\n"
                     "down: its running jobs end now (and are retried if their retry strategy says so);\n"
                     "  jobs that checkpoint get their signal and grace period first, then are requeued.\n"
                     "resume: back in service.\n\nExamples:\n"
                     "  drover nodes drain node07 --reason 'replace disk' --checkpoint\n  drover nodes resume node07\n",
                     desc, rest, &pos);
  if (p.help) return 0;
  if (names.empty()) return fail("nodes " + action, "name a node, e.g. drover nodes " + action + " node07");
  auto c = connect(g.socket);
  if (!c) return fail("nodes", c.message());
  std::string state = action == "drain" ? "DRAIN" : action == "down" ? "DOWN" : "RESUME";
  int rc = 0;
  for (const auto& n : names) {
    Json a = {{"nodeName", n}, {"state", state}, {"reason", reason}};
    if (p.vm.count("checkpoint")) {
      if (state != "DRAIN") return fail("nodes " + action, "--checkpoint goes with drain (down always checkpoints)");
      a["checkpointJobs"] = true;
    }
    auto r = c->call("UpdateNode", a);
    if (!r) {
      rc = fail("nodes " + action, r.message());
      continue;
    }
    std::cout << n << ": " << str(*r, "state")
              << (str(*r, "stateReason").empty() ? "" : " (" + str(*r, "stateReason") + ")") << "\n";
  }
  return rc;
}

// drover nodes update NODE... --features a,b | --agent-features
int node_update(const Global& g, const Args& args) {
  po::options_description desc("Options");
  std::string features;
  std::vector<std::string> names;
  desc.add_options()("features", po::value(&features),
                     "the node's features from now on, comma-separated (\"\" for none); jobs select them "
                     "with --constraint")("agent-features", "use the features the node's agent reports again")(
      "node", po::value(&names)->multitoken(), "node names");
  Args rest(args.begin() + 1, args.end());
  po::positional_options_description pos;
  pos.add("node", -1);
  auto p = parse_sub("Usage: drover nodes update NODE... --features LIST | --agent-features\n\n"
                     "Sets a node's features (scontrol update NodeName=... AvailableFeatures=...). Features set\n"
                     "here replace what the node's agent reports (drover-noded --features) until\n"
                     "--agent-features. Admin only.\n\nExamples:\n"
                     "  drover nodes update gpu01 gpu02 --features gpu,a100\n"
                     "  drover nodes update gpu01 --agent-features\n",
                     desc, rest, &pos);
  if (p.help) return 0;
  if (names.empty()) return fail("nodes update", "name a node, e.g. drover nodes update node07 --features gpu");
  const bool set = p.vm.count("features") > 0, back = p.vm.count("agent-features") > 0;
  if (set == back) return fail("nodes update", "give --features LIST or --agent-features, e.g. --features gpu,a100");
  Json list = Json::array();
  if (set) {
    auto f = parse_features(features);
    if (!f) return fail("nodes update", "--features: " + f.message());
    list = *f;
  }
  auto c = connect(g.socket);
  if (!c) return fail("nodes", c.message());
  int rc = 0;
  for (const auto& n : names) {
    auto r = c->call("UpdateNode", {{"nodeName", n}, {"features", set ? list : Json(nullptr)}});
    if (!r) {
      rc = fail("nodes update", r.message());
      continue;
    }
    std::string fs;
    for (const auto& f : (*r)["features"]) fs += (fs.empty() ? "" : ",") + f.get<std::string>();
    std::cout << n << ": features " << (fs.empty() ? "(none)" : fs)
              << ((*r).contains("adminFeatures") ? "" : " (from its agent)") << "\n";
  }
  return rc;
}

std::string features_of(const Json& n) {
  std::string fs;
  if (n.contains("features"))
    for (const auto& f : n["features"]) fs += (fs.empty() ? "" : ",") + f.get<std::string>();
  return fs;
}

int cmd_nodes(const Global& g, const Args& args) {
  if (!args.empty() && (args[0] == "drain" || args[0] == "down" || args[0] == "resume"))
    return node_state_change(g, args);
  if (!args.empty() && args[0] == "update") return node_update(g, args);
  po::options_description desc("Options");
  std::string node;
  desc.add_options()("json", "JSON")("long,l", po::value(&node)->implicit_value(""),
                                      "details (cores, NUMA, GPUs in use) of one node or all");
  auto p = parse_sub("Usage: drover nodes [-l [NODE]] [--json]\n"
                     "       drover nodes drain|down|resume NODE... [--reason TEXT]\n"
                     "       drover nodes update NODE... --features LIST | --agent-features\n\n"
                     "Nodes, like sinfo: state, vCPUs used/total, memory, GPUs, features.\n\nExamples:\n"
                     "  drover nodes\n  drover nodes -l node01\n  drover nodes drain node01 --reason 'new disk'\n"
                     "  drover nodes update gpu01 --features gpu,a100\n",
                     desc, args);
  if (p.help) return 0;
  auto c = connect(g.socket);
  if (!c) return fail("nodes", c.message());
  auto r = c->call("ListNodes");
  if (!r) return fail("nodes", r.message());
  if (p.vm.count("json")) return print_or_json(p, *r);
  if (p.vm.count("long")) {
    for (const auto& n : (*r)["nodes"]) {
      if (!node.empty() && str(n, "nodeName") != node) continue;
      std::set<int> used;
      for (const auto& x : n["cpusUsed"]) used.insert(x.get<int>());
      const Json& t = n["topology"];
      std::cout << str(n, "nodeName") << ": " << str(n, "state")
                << (str(n, "stateReason").empty() ? "" : " (" + str(n, "stateReason") + ")") << ", "
                << num(t, "packages") << " packages, " << t["numa"].size() << " NUMA, "
                << t["cores"].size() << " cores, " << num(n, "vcpus") << " PUs, " << mib(num(n, "memoryMiB"))
                << " memory (" << mib(num(n, "memoryUsedMiB")) << " in use)\n";
      const std::string fs = features_of(n);
      std::cout << "  features: " << (fs.empty() ? "(none)" : fs)
                << (n.contains("adminFeatures") ? " (set by an admin)" : "") << "\n";
      for (std::size_t d = 0; d < t["numa"].size(); ++d) {
        const Json& nd = t["numa"][d];
        std::string in_use;
        if (n.contains("numaMemoryUsedMiB") && d < n["numaMemoryUsedMiB"].size() && num(nd, "memoryMiB") > 0)
          in_use = ", " + mib(n["numaMemoryUsedMiB"][d].get<std::int64_t>()) + " in use";
        std::cout << "  NUMA " << num(nd, "osIndex") << " (" << mib(num(nd, "memoryMiB")) << in_use << "): ";
        for (const auto& core : t["cores"]) {
          if (num(core, "numa") != static_cast<std::int64_t>(d)) continue;
          std::cout << "[";
          for (const auto& pu : core["pus"]) std::cout << (used.count(pu.get<int>()) ? '#' : '.');
          std::cout << "]";
        }
        std::cout << "\n";
      }
      std::set<int> gused;
      for (const auto& x : n["gpusUsed"]) gused.insert(x.get<int>());
      for (const auto& gpu : t["gpus"])
        std::cout << "  GPU " << num(gpu, "index") << " " << str(gpu, "pciBusId") << " " << str(gpu, "vendor")
                  << (str(gpu, "name").empty() ? "" : " " + str(gpu, "name")) << " near NUMA "
                  << num(gpu, "numa") << (gused.count(static_cast<int>(num(gpu, "index"))) ? "  in use" : "  free")
                  << "\n";
      std::cout << "  ('#' = PU in use, '.' = free; one [...] per core)\n";
    }
    return 0;
  }
  Table t({"NODE", "STATE", "CPUS(used/total)", "MEMORY(used/total)", "GPUS(used/total)", "JOBS", "FEATURES",
           "REASON"});
  for (const auto& n : (*r)["nodes"])
    t.add({str(n, "nodeName"), str(n, "state"),
           std::to_string(num(n, "vcpusUsed")) + "/" + std::to_string(num(n, "vcpus")),
           mib(num(n, "memoryUsedMiB")) + "/" + mib(num(n, "memoryMiB")),
           std::to_string(n["gpusUsed"].size()) + "/" + std::to_string(num(n, "gpus")),
           std::to_string(num(n, "jobsRunning")), features_of(n).empty() ? "-" : features_of(n),
           str(n, "stateReason")});
  t.print(std::cout);
  return 0;
}

// ---- definitions -------------------------------------------------------------------

int cmd_definitions(const Global& g, const Args& args) {
  const std::string usage =
      "Usage: drover definitions register FILE.json | register --name NAME [options] -- COMMAND...\n"
      "       drover definitions list [--all] | show NAME[:REV] | deregister NAME:REV\n\n"
      "Job definitions are versioned templates (AWS Batch). Registering a name again adds a revision.\n"
      "'Ref::key' in the command is replaced by the parameter 'key'.\n\n"
      "Examples:\n"
      "  drover definitions register --name greet --parameter who=world -- echo hello Ref::who\n"
      "  drover submit --definition greet --parameter who=Ada\n"
      "  drover definitions register blast.json\n";
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  const Args rest(args.begin() + 1, args.end());
  auto c = connect(g.socket);
  if (sub == "register") {
    std::string file, name, type = "single", mem, time;
    int vcpus = 1, gpus = 0, retry = 1;
    std::vector<std::string> env, params, tags;
    po::options_description desc("Options");
    desc.add_options()("file", po::value(&file), "a JSON definition (AWS RegisterJobDefinition shape)")(
        "name", po::value(&name), "definition name")("type", po::value(&type), "single or multinode")(
        "vcpus,c", po::value(&vcpus), "vCPUs")("mem", po::value(&mem), "memory, e.g. 4G")(
        "gpus", po::value(&gpus), "GPUs")("time,t", po::value(&time), "time limit per attempt")(
        "retry", po::value(&retry), "attempts 1-10")("env", po::value(&env)->composing(), "KEY=VALUE")(
        "parameter", po::value(&params)->composing(), "default KEY=VALUE for Ref::KEY")(
        "tag", po::value(&tags)->composing(), "KEY=VALUE")("json", "print the reply as JSON");
    po::positional_options_description pos;
    pos.add("file", 1);
    auto p = parse_sub(usage, desc, rest, &pos);
    if (p.help) return 0;
    Json def;
    if (!file.empty()) {
      auto j = read_json_file(file);
      if (!j) return fail("definitions register", j.message());
      def = *j;
    } else {
      if (name.empty()) return fail("definitions register", "give a JSON file or --name (see --help)");
      def = {{"jobDefinitionName", name}, {"type", type}, {"command", p.rest}};
      Json rr = Json::array({{{"type", "VCPU"}, {"value", std::to_string(vcpus)}}});
      if (!mem.empty()) {
        auto m = parse_memory_mib(mem);
        if (!m) return fail("definitions register", "--mem: " + m.message());
        rr.push_back({{"type", "MEMORY"}, {"value", std::to_string(*m)}});
      }
      if (gpus) rr.push_back({{"type", "GPU"}, {"value", std::to_string(gpus)}});
      def["resourceRequirements"] = rr;
      if (!time.empty()) {
        auto t = parse_time_limit(time);
        if (!t) return fail("definitions register", "--time: " + t.message());
        if (*t) def["timeout"] = {{"attemptDurationSeconds", *t}};
      }
      def["retryStrategy"] = {{"attempts", retry}};
      Json e = Json::array();
      for (const auto& s : env) {
        const auto eq = s.find('=');
        if (eq == std::string::npos) return fail("definitions register", "--env '" + s + "': expected KEY=VALUE");
        e.push_back({{"name", s.substr(0, eq)}, {"value", s.substr(eq + 1)}});
      }
      def["environment"] = e;
      auto pj = kv_object(params, "--parameter");
      if (!pj) return fail("definitions register", pj.message());
      def["parameters"] = *pj;
      auto tj = kv_object(tags, "--tag");
      if (!tj) return fail("definitions register", tj.message());
      def["tags"] = *tj;
    }
    if (!c) return fail("definitions register", c.message());
    auto r = c->call("RegisterJobDefinition", def);
    if (!r) return fail("definitions register", r.message());
    if (p.vm.count("json")) return print_or_json(p, *r);
    std::cout << "Registered " << str(*r, "jobDefinitionName") << ":" << num(*r, "revision") << "\n";
    return 0;
  }
  if (sub == "list" || sub == "show") {
    std::string which;
    po::options_description desc("Options");
    desc.add_options()("name", po::value(&which), "NAME[:REV]")("all", "include deregistered revisions")("json", "JSON");
    po::positional_options_description pos;
    pos.add("name", 1);
    auto p = parse_sub(usage, desc, rest, &pos);
    if (p.help) return 0;
    if (!c) return fail("definitions", c.message());
    std::string name = which;
    int rev = 0;
    if (auto colon = which.rfind(':'); colon != std::string::npos) {
      name = which.substr(0, colon);
      rev = std::atoi(which.c_str() + colon + 1);
    }
    Json a = Json::object();
    if (!name.empty()) a["jobDefinitionName"] = name;
    if (!p.vm.count("all") && sub == "list") a["status"] = "ACTIVE";
    auto r = c->call("DescribeJobDefinitions", a);
    if (!r) return fail("definitions", r.message());
    Json defs = Json::array();
    for (const auto& d : (*r)["jobDefinitions"])
      if (!rev || num(d, "revision") == rev) defs.push_back(d);
    if (sub == "show") {
      if (defs.empty()) return fail("definitions show", "no definition '" + which + "'");
      if (!rev) defs = Json::array({defs.back()});
      std::cout << defs.dump(2) << "\n";
      return 0;
    }
    if (p.vm.count("json")) {
      std::cout << Json{{"jobDefinitions", defs}}.dump(2) << "\n";
      return 0;
    }
    Table t({"NAME", "REVISION", "STATUS", "TYPE", "COMMAND"});
    for (const auto& d : defs) {
      std::string cmd;
      for (const auto& x : d["command"]) cmd += (cmd.empty() ? "" : " ") + x.get<std::string>();
      t.add({str(d, "jobDefinitionName"), std::to_string(num(d, "revision")), str(d, "status"), str(d, "type"), cmd});
    }
    t.print(std::cout);
    return 0;
  }
  if (sub == "deregister") {
    if (rest.size() != 1) return fail("definitions deregister", "give NAME:REVISION, e.g. greet:1");
    if (!c) return fail("definitions", c.message());
    auto r = c->call("DeregisterJobDefinition", {{"jobDefinition", rest[0]}});
    if (!r) return fail("definitions deregister", r.message());
    std::cout << "Deregistered " << rest[0] << "\n";
    return 0;
  }
  return fail("definitions", "unknown subcommand '" + sub + "' (register, list, show, deregister)");
}

// ---- queues and environments -----------------------------------------------------------

static int list_queues(ApiClient& c, bool json) {
  auto r = c.call("DescribeJobQueues");
  if (!r) return fail("queues", r.message());
  if (json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  Table t({"QUEUE", "STATE", "PRIORITY", "BACKFILL", "PREEMPT", "COMPUTE ENVIRONMENTS", "RUNNABLE", "DEFAULT/MAX TIME",
           "PER USER", "ORDER"});
  for (const auto& q : (*r)["jobQueues"]) {
    std::string envs;
    for (const auto& e : q["computeEnvironmentOrder"]) envs += (envs.empty() ? "" : ",") + str(e, "computeEnvironment");
    auto limit = [&](const char* k) { return num(q, k) ? format_duration(num(q, k)) : std::string("-"); };
    std::string per_user;
    if (num(q, "maxJobsPerUser")) per_user += std::to_string(num(q, "maxJobsPerUser")) + " jobs";
    if (num(q, "maxVcpusPerUser"))
      per_user += (per_user.empty() ? "" : ", ") + std::to_string(num(q, "maxVcpusPerUser")) + " vCPUs";
    const std::string preempt = str(q, "preemptionMode");
    const std::string backfill = str(q, "backfill");
    t.add({str(q, "jobQueueName"), str(q, "state"), std::to_string(num(q, "priority")),
           backfill.empty() ? "EASY" : backfill, preempt.empty() ? "OFF" : preempt, envs,
           std::to_string(num(q, "runnableJobs")), limit("defaultTimeLimitSeconds") + "/" + limit("maxTimeLimitSeconds"),
           per_user.empty() ? "-" : per_user,
           q.contains("fairsharePolicy") && q["fairsharePolicy"].is_object() ? "fair share" : "FIFO"});
  }
  t.print(std::cout);
  return 0;
}

// One queue's settings, a line each (--json: its document).
static int show_queue(ApiClient& c, const std::string& name, bool json) {
  auto r = c.call("DescribeJobQueues");
  if (!r) return fail("queues show", r.message());
  for (const auto& q : (*r)["jobQueues"]) {
    if (str(q, "jobQueueName") != name) continue;
    if (json) {
      std::cout << q.dump(2) << "\n";
      return 0;
    }
    std::string envs;
    for (const auto& e : q["computeEnvironmentOrder"]) envs += (envs.empty() ? "" : ",") + str(e, "computeEnvironment");
    auto limit = [&](const char* k) { return num(q, k) ? format_duration(num(q, k)) : std::string("-"); };
    const bool kill = !q.contains("killOnInvalidDependency") || !q["killOnInvalidDependency"].is_boolean() ||
                      q["killOnInvalidDependency"].get<bool>();
    auto line = [](const char* k, const std::string& v) { std::cout << k << ": " << v << "\n"; };
    line("queue", name);
    line("state", str(q, "state"));
    line("priority", std::to_string(num(q, "priority")));
    line("environments", envs.empty() ? "-" : envs);
    line("backfill", str(q, "backfill").empty() ? "EASY" : str(q, "backfill"));
    line("preempt mode", str(q, "preemptionMode").empty() ? "OFF" : str(q, "preemptionMode"));
    line("kill on invalid dependency", kill ? "yes" : "no");
    line("default/max time", limit("defaultTimeLimitSeconds") + "/" + limit("maxTimeLimitSeconds"));
    line("order", q.contains("fairsharePolicy") && q["fairsharePolicy"].is_object() ? "fair share" : "priority, then FIFO");
    line("runnable jobs", std::to_string(num(q, "runnableJobs")));
    return 0;
  }
  return fail("queues show", "no queue '" + name + "' (drover queues list shows them)");
}

int cmd_queues(const Global& g, const Args& args) {
  const std::string usage =
      "Usage: drover queues list | show NAME | create NAME --envs CE[,CE2,CE3] [--priority N] [--disabled]\n"
      "       drover queues update NAME [--envs ...] [--priority N] [--state ENABLED|DISABLED]\n\n"
      "Job queues feed compute environments in order; higher priority queues go first.\n\n"
      "Backfill: --backfill easy (default): the first job that cannot start gets a reservation\n"
      "and later jobs start only if they do not delay it; conservative: every waiting job gets\n"
      "one, so no job is ever delayed by a later one; fifo: no backfill, the first job that\n"
      "cannot start holds back the rest of its queue. Time limits (-t) drive the estimates.\n\n"
      "Dependencies: --kill-on-invalid-dep yes (default): a job whose dependency can no longer\n"
      "be satisfied fails; no: it stays PENDING (DependencyNeverSatisfied) until cancelled or\n"
      "changed with drover update JOB --dependency. A job's own --kill-on-invalid-dep wins.\n\n"
      "Preemption: --preempt-mode says what happens to this queue's running jobs when a job of\n"
      "a queue with a higher --priority cannot start for lack of room: off (default): nothing;\n"
      "requeue: stopped (checkpoint signal first) and queued again; cancel: stopped and ended.\n\n"
      "Limits: --default-time/--max-time (Slurm time formats), --max-jobs-per-user,\n"
      "--max-cpus-per-user (0: none); --slurm-env no leaves SLURM_* out of its jobs.\n\n"
      "Order within a queue: FIFO, with job priorities (--priority, --nice) first. --fair-share\n"
      "makes it AWS Batch fair share: the share (--account, else the user) that uses least\n"
      "relative to its weight goes next. Give the whole policy each time: --share-decay TIME\n"
      "(half-life of past use; 0: only what runs now), --compute-reservation PCT (kept for\n"
      "shares that run nothing), --share-weight ID=W (lower W gets more; ID may end in *).\n"
      "--fifo turns fair share off.\n\n"
      "Examples:\n  drover queues create gpu --envs gpu-nodes --priority 10\n"
      "  drover queues update batch --fair-share --share-decay 1-00:00:00 --share-weight lab-a=0.5\n"
      "  drover queues update gpu --max-time 2-00:00:00 --default-time 1:00:00 --max-jobs-per-user 4\n"
      "  drover queues update gpu --state DISABLED\n"
      "  drover queues create scavenger --envs cpu --priority 1 --preempt-mode requeue\n"
      "  drover queues update big --backfill conservative --kill-on-invalid-dep no\n";
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  std::string name, envs, state, default_time, max_time, slurm_env, share_decay, preempt_mode, backfill, kill_inv;
  int priority = 1, max_jobs = 0, max_cpus = 0, reservation = 0;
  std::vector<std::string> weights;
  po::options_description desc("Options");
  desc.add_options()("name", po::value(&name), "queue name")("envs", po::value(&envs), "compute environments, in order")(
      "priority", po::value(&priority), "0-1000, higher first")("state", po::value(&state), "ENABLED or DISABLED")(
      "preempt-mode", po::value(&preempt_mode), "off, requeue or cancel: its running jobs when a higher queue needs room")(
      "backfill", po::value(&backfill), "easy (default), conservative or fifo")(
      "kill-on-invalid-dep", po::value(&kill_inv), "yes (default) or no: fail jobs whose dependency can never be met")(
      "default-time", po::value(&default_time), "time limit of jobs that give none")(
      "max-time", po::value(&max_time), "longest time limit a job may ask")(
      "max-jobs-per-user", po::value(&max_jobs), "running jobs per user at once")(
      "max-cpus-per-user", po::value(&max_cpus), "vCPUs in use per user at once")(
      "slurm-env", po::value(&slurm_env), "yes or no: SLURM_* variables in its jobs")(
      "fair-share", "order jobs by fair share between shares (accounts, else users)")(
      "fifo", "no fair share: priority, then FIFO")(
      "share-decay", po::value(&share_decay), "fair share: half-life of past use, e.g. 7-00:00:00 (0: none)")(
      "compute-reservation", po::value(&reservation), "fair share: percent kept for shares running nothing")(
      "share-weight", po::value(&weights), "fair share: ID=WEIGHT, lower gets more; repeatable")(
      "disabled", "create it DISABLED")("json", "JSON");
  po::positional_options_description pos;
  pos.add("name", 1);
  auto p = parse_sub(usage, desc, Args(args.begin() + 1, args.end()), &pos);
  if (p.help) return 0;
  auto c = connect(g.socket);
  if (!c) return fail("queues", c.message());
  if (sub == "list") return list_queues(*c, p.vm.count("json"));
  if (sub == "show") {
    if (name.empty()) return fail("queues show", "which queue? e.g. drover queues show default");
    return show_queue(*c, name, p.vm.count("json"));
  }
  if (sub != "create" && sub != "update")
    return fail("queues", "unknown subcommand '" + sub + "' (list, show, create, update)");
  if (name.empty()) return fail("queues " + sub, "which queue? e.g. drover queues " + sub + " gpu");
  Json a = {{"jobQueueName", name}};
  if (!envs.empty() || sub == "create") {
    Json order = Json::array();
    std::stringstream ss(envs);
    int i = 0;
    for (std::string e; std::getline(ss, e, ',');)
      if (!e.empty()) order.push_back({{"order", ++i}, {"computeEnvironment", e}});
    a["computeEnvironmentOrder"] = order;
  }
  if (p.vm.count("priority") || sub == "create") a["priority"] = priority;
  if (!state.empty()) a["state"] = state;
  // Checked by the head: "preemptionMode: expected OFF, REQUEUE or CANCEL, got '...'".
  if (p.vm.count("preempt-mode")) a["preemptionMode"] = preempt_mode;
  if (p.vm.count("backfill")) {
    auto mode = parse_queue_backfill(backfill);
    if (!mode)
      return fail("queues " + sub, "--backfill " + backfill +
                                       ": expected easy, conservative or fifo, e.g. --backfill conservative");
    a["backfill"] = to_string(*mode);
  }
  if (p.vm.count("kill-on-invalid-dep")) {
    if (kill_inv != "yes" && kill_inv != "no")
      return fail("queues " + sub, "--kill-on-invalid-dep " + kill_inv + ": give yes or no");
    a["killOnInvalidDependency"] = kill_inv == "yes";
  }
  if (p.vm.count("disabled")) a["state"] = "DISABLED";
  for (auto [opt, text, key] : {std::tuple{"--default-time", &default_time, "defaultTimeLimitSeconds"},
                                std::tuple{"--max-time", &max_time, "maxTimeLimitSeconds"}}) {
    if (text->empty()) continue;
    auto t = parse_time_limit(*text);
    if (!t) return fail("queues " + sub, std::string(opt) + ": " + t.message());
    a[key] = *t;
  }
  if (p.vm.count("max-jobs-per-user")) a["maxJobsPerUser"] = max_jobs;
  if (p.vm.count("max-cpus-per-user")) a["maxVcpusPerUser"] = max_cpus;
  if (!slurm_env.empty()) {
    if (slurm_env != "yes" && slurm_env != "no") return fail("queues " + sub, "--slurm-env: give yes or no");
    a["slurmEnvironment"] = slurm_env == "yes";
  }
  const bool fair = p.vm.count("fair-share") || !share_decay.empty() || p.vm.count("compute-reservation") ||
                    !weights.empty();
  if (fair && p.vm.count("fifo")) return fail("queues " + sub, "give --fair-share or --fifo, not both");
  if (p.vm.count("fifo")) a["fairsharePolicy"] = nullptr;
  if (fair) {
    Json policy = {{"computeReservation", reservation}, {"shareDistribution", Json::array()}};
    if (!share_decay.empty()) {
      auto t = parse_time_limit(share_decay);
      if (!t) return fail("queues " + sub, "--share-decay: " + t.message());
      policy["shareDecaySeconds"] = *t;
    }
    for (const auto& w : weights) {
      const auto eq = w.find('=');
      char* end = nullptr;
      const double v = eq == std::string::npos ? 0 : std::strtod(w.c_str() + eq + 1, &end);
      if (eq == std::string::npos || eq == 0 || !end || *end != '\0' || end == w.c_str() + eq + 1)
        return fail("queues " + sub, "--share-weight " + w + ": expected ID=WEIGHT, e.g. lab-a=0.5");
      policy["shareDistribution"].push_back({{"shareIdentifier", w.substr(0, eq)}, {"weightFactor", v}});
    }
    a["fairsharePolicy"] = policy;
  }
  auto r = c->call(sub == "create" ? "CreateJobQueue" : "UpdateJobQueue", a);
  if (!r) return fail("queues " + sub, r.message());
  if (p.vm.count("json")) return print_or_json(p, *r);
  std::cout << (sub == "create" ? "Created" : "Updated") << " queue " << name << "\n";
  return 0;
}

int cmd_envs(const Global& g, const Args& args) {
  const std::string usage =
      "Usage: drover envs list | create NAME --nodes N1,N2 [--max-vcpus N] [--disabled]\n"
      "       drover envs update NAME [--nodes ...] [--max-vcpus N] [--state ENABLED|DISABLED]\n\n"
      "Compute environments are sets of nodes (AWS Batch UNMANAGED environments).\n\n"
      "Examples:\n  drover envs create gpu-nodes --nodes gpu01,gpu02\n"
      "  drover envs update gpu-nodes --state DISABLED\n";
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::cout << usage;
    return args.empty() ? 2 : 0;
  }
  const std::string sub = args[0];
  std::string name, nodes, state;
  int max_vcpus = 0;
  po::options_description desc("Options");
  desc.add_options()("name", po::value(&name), "environment name")("nodes", po::value(&nodes), "node names, comma separated")(
      "max-vcpus", po::value(&max_vcpus), "cap on vCPUs in use at once (0: none)")(
      "state", po::value(&state), "ENABLED or DISABLED")("disabled", "create it DISABLED")("json", "JSON");
  po::positional_options_description pos;
  pos.add("name", 1);
  auto p = parse_sub(usage, desc, Args(args.begin() + 1, args.end()), &pos);
  if (p.help) return 0;
  auto c = connect(g.socket);
  if (!c) return fail("envs", c.message());
  if (sub == "list") {
    auto r = c->call("DescribeComputeEnvironments");
    if (!r) return fail("envs", r.message());
    if (p.vm.count("json")) return print_or_json(p, *r);
    Table t({"ENVIRONMENT", "TYPE", "STATE", "MAXVCPUS", "NODES"});
    for (const auto& e : (*r)["computeEnvironments"]) {
      std::string ns;
      for (const auto& n : e["nodes"]) ns += (ns.empty() ? "" : ",") + n.get<std::string>();
      t.add({str(e, "computeEnvironmentName"), str(e, "type"), str(e, "state"),
             num(e, "maxvCpus") ? std::to_string(num(e, "maxvCpus")) : "-", ns});
    }
    t.print(std::cout);
    return 0;
  }
  if (sub != "create" && sub != "update") return fail("envs", "unknown subcommand '" + sub + "' (list, create, update)");
  if (name.empty()) return fail("envs " + sub, "which environment? e.g. drover envs " + sub + " cpu-nodes");
  Json a = {{"computeEnvironmentName", name}, {"type", "UNMANAGED"}};
  if (!nodes.empty() || sub == "create") {
    Json list = Json::array();
    std::stringstream ss(nodes);
    for (std::string n; std::getline(ss, n, ',');)
      if (!n.empty()) list.push_back(n);
    a["nodes"] = list;
  }
  if (p.vm.count("max-vcpus")) a["maxvCpus"] = max_vcpus;
  if (!state.empty()) a["state"] = state;
  if (p.vm.count("disabled")) a["state"] = "DISABLED";
  auto r = c->call(sub == "create" ? "CreateComputeEnvironment" : "UpdateComputeEnvironment", a);
  if (!r) return fail("envs " + sub, r.message());
  if (p.vm.count("json")) return print_or_json(p, *r);
  std::cout << (sub == "create" ? "Created" : "Updated") << " compute environment " << name << "\n";
  return 0;
}

}  // namespace drover::cli
