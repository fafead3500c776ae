#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/units.hpp"

extern char** environ;

namespace drover::cli {

namespace po = boost::program_options;
using proto::Json;

namespace {

constexpr std::size_t kMaxScriptBytes = 4u << 20;

const char* kSubmitHelp = R"(Usage: drover submit [options] SCRIPT [script args...]
       drover submit [options] --wrap "COMMAND"
       drover submit [options] -- PROGRAM [args...]

Submit a batch job; prints its id. Options go before the script, as with sbatch.

Examples:
  drover submit job.sh
  drover submit -c 4 --mem 8G -t 2:00:00 --name fit job.sh input.dat
  drover submit --wrap "python3 analyse.py"
  drover submit --dependency afterok:42 -- ./postprocess out/
  drover submit --definition blast:2 --parameter db=nr

Options)";

// Splits KEY=VALUE; the value may contain '='.
Result<std::pair<std::string, std::string>> key_value(const std::string& opt, const std::string& s) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0)
    return make_error(opt + " '" + s + "'", "expected KEY=VALUE");
  return std::make_pair(s.substr(0, eq), s.substr(eq + 1));
}

// Slurm's --dependency: "afterok:1:2,afterany:3" (all) or "afterok:1?afterok:2"
// (any; only AND is supported yet).
Result<Json> parse_dependency(const std::string& text) {
  Json deps = Json::array();
  if (text.find('?') != std::string::npos)
    return make_error("--dependency '" + text + "'", "'?' (any of) is not supported yet; use ',' (all of)");
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    std::string type = "afterok";
    std::string ids = part;
    if (auto colon = part.find(':'); colon != std::string::npos && !std::isdigit(static_cast<unsigned char>(part[0]))) {
      type = part.substr(0, colon);
      ids = part.substr(colon + 1);
    } else if (!std::isdigit(static_cast<unsigned char>(part[0]))) {
      return make_error("--dependency '" + text + "'", "expected TYPE:JOBID[:JOBID...], e.g. afterok:42");
    }
    if (type != "afterok" && type != "afterany" && type != "afternotok" && type != "after")
      return make_error("--dependency '" + text + "'",
                        "'" + type + "' is not afterok, afterany, afternotok or after");
    std::stringstream is(ids);
    std::string id;
    while (std::getline(is, id, ':')) {
      if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
        return make_error("--dependency '" + text + "'", "'" + id + "' is not a job id");
      deps.push_back({{"jobId", id}, {"type", type}});
    }
  }
  return deps;
}

std::string cwd() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? buf : "/";
}

}  // namespace

int cmd_submit(const Global& g, const Args& all) {
  std::string name, queue, definition, mem, time, output, error, chdir, wrap, dependency;
  int cpus = 0, ntasks = 0, gpus = -1, retries = 0;
  std::vector<std::string> envs, params, tags, depends_on;
  po::options_description desc(kSubmitHelp);
  desc.add_options()("help,h", "show this help")(
      "name,J", po::value(&name), "job name (default: the script's file name)")(
      "job-name", po::value(&name), "same as --name (sbatch spelling)")(
      "queue,p", po::value(&queue), "job queue (default: the cluster's default queue)")(
      "partition", po::value(&queue), "same as --queue (sbatch spelling)")(
      "definition", po::value(&definition), "job definition NAME[:REVISION] to start from")(
      "cpus-per-task,c", po::value(&cpus), "vCPUs (hardware threads) per task, default 1")(
      "ntasks,n", po::value(&ntasks), "tasks (all on one node for now); vCPUs = ntasks x cpus-per-task")(
      "mem", po::value(&mem), "memory limit, e.g. 500M, 4G (a plain number is MiB)")(
      "gpus,G", po::value(&gpus), "GPUs")(
      "time,t", po::value(&time), "time limit: minutes, H:M:S or D-H:M:S (e.g. 90, 2:00:00, 1-12:00:00)")(
      "output,o", po::value(&output), "stdout file; %j = job id, %x = name, %u = user, %N = node "
                                      "(default drover-%j.out in the submit directory)")(
      "error,e", po::value(&error), "stderr file (default: with stdout)")(
      "chdir,D", po::value(&chdir), "working directory (default: the current directory)")(
      "wrap", po::value(&wrap), "run this shell command as the job (sh -c)")(
      "dependency,d", po::value(&dependency), "start after other jobs: afterok:ID[:ID], afterany:ID, "
                                              "afternotok:ID, after:ID; ',' joins them")(
      "depends-on", po::value(&depends_on)->composing(), "start after job ID succeeds (repeatable)")(
      "env", po::value(&envs)->composing(), "set KEY=VALUE in the job's environment (repeatable)")(
      "parameter", po::value(&params)->composing(), "set a job definition parameter KEY=VALUE (repeatable)")(
      "tag", po::value(&tags)->composing(), "tag KEY=VALUE (repeatable)")(
      "retry", po::value(&retries), "total attempts if the job fails, 1-10 (AWS retryStrategy)")(
      "parsable", "print only the job id")(
      "json", "print the reply as JSON");

  // Options end at the first word that is not an option (the script) or at "--".
  Args opts, rest;
  bool command_mode = false;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const std::string& a = all[i];
    if (a == "--") {
      command_mode = true;
      rest.assign(all.begin() + i + 1, all.end());
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      opts.push_back(a);
      if (a.find('=') != std::string::npos) continue;
      std::string key = a.substr(a[1] == '-' ? 2 : 1);
      bool short_form = a[1] != '-';
      if (short_form && key.size() > 1) continue;  // -c4
      // Boost names short options with their dash ("-c"), long ones without.
      const auto* o = desc.find_nothrow(short_form ? "-" + key : key, false, false, false);
      if (o && o->semantic()->max_tokens() > 0 && i + 1 < all.size()) opts.push_back(all[++i]);
      continue;
    }
    rest.assign(all.begin() + i, all.end());
    break;
  }
  po::variables_map vm;
  po::store(po::command_line_parser(opts).options(desc).run(), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  po::notify(vm);

  Json req = Json::object();
  std::string default_name;
  if (!wrap.empty()) {
    if (!rest.empty() || command_mode)
      return fail("submit", "give either --wrap \"cmd\", a script, or -- cmd args, not several");
    req["script"] = "#!/bin/sh\n" + wrap + "\n";
    default_name = "wrap";
  } else if (command_mode) {
    if (rest.empty()) return fail("submit", "nothing after --: give a program, e.g. -- hostname");
    req["command"] = rest;
    default_name = rest[0].substr(rest[0].rfind('/') + 1);
  } else if (!rest.empty()) {
    const std::string& path = rest[0];
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("submit", "cannot read script " + path + ": " + std::strerror(errno));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > kMaxScriptBytes)
      return fail("submit", "script " + path + " is " + std::to_string(text.size() >> 20) +
                                " MiB; scripts are limited to 4 MiB (keep data in files)");
    if (text.rfind("#!", 0) != 0)
      return fail("submit", path + ":1: the first line must start with #! and an interpreter, e.g. #!/bin/bash");
    if (text.find('\0') != std::string::npos)
      return fail("submit", path + " looks like a binary file, not a script; to run a program use: drover submit -- " + path);
    req["script"] = text;
    if (rest.size() > 1) req["command"] = Args(rest.begin() + 1, rest.end());
    default_name = path.substr(path.rfind('/') + 1);
  } else if (definition.empty()) {
    return fail("submit", "nothing to run: give a script, --wrap \"cmd\", or -- cmd args (see drover submit --help)");
  }
  if (!definition.empty()) req["jobDefinition"] = definition;
  if (!name.empty())
    req["jobName"] = name;
  else if (!default_name.empty())
    req["jobName"] = default_name;
  if (!queue.empty()) req["jobQueue"] = queue;

  Json rr = Json::array();
  if (vm.count("cpus-per-task") || vm.count("ntasks")) {
    const std::int64_t c = vm.count("cpus-per-task") ? cpus : 1;
    const std::int64_t n = vm.count("ntasks") ? ntasks : 1;
    if (c < 1) return fail("submit", "--cpus-per-task " + std::to_string(c) + ": ask for at least 1");
    if (n < 1) return fail("submit", "--ntasks " + std::to_string(n) + ": ask for at least 1");
    rr.push_back({{"type", "VCPU"}, {"value", std::to_string(c * n)}});
    req["ntasks"] = n;
  }
  if (!mem.empty()) {
    auto m = parse_memory_mib(mem);
    if (!m) return fail("submit", "--mem: " + m.message());
    rr.push_back({{"type", "MEMORY"}, {"value", std::to_string(*m)}});
  }
  if (gpus >= 0) rr.push_back({{"type", "GPU"}, {"value", std::to_string(gpus)}});
  if (!rr.empty()) req["resourceRequirements"] = rr;
  if (!time.empty()) {
    auto t = parse_time_limit(time);
    if (!t) return fail("submit", "--time: " + t.message());
    if (*t > 0) req["timeout"] = {{"attemptDurationSeconds", *t}};
  }
  if (vm.count("retry")) req["retryStrategy"] = {{"attempts", retries}};

  Json env = Json::object();
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos && eq > 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& e : envs) {
    auto kv = key_value("--env", e);
    if (!kv) return fail("submit", kv.message());
    env[kv->first] = kv->second;
  }
  req["environment"] = env;
  Json p = Json::object(), t = Json::object();
  for (const auto& s : params) {
    auto kv = key_value("--parameter", s);
    if (!kv) return fail("submit", kv.message());
    p[kv->first] = kv->second;
  }
  for (const auto& s : tags) {
    auto kv = key_value("--tag", s);
    if (!kv) return fail("submit", kv.message());
    t[kv->first] = kv->second;
  }
  if (!p.empty()) req["parameters"] = p;
  if (!t.empty()) req["tags"] = t;

  Json deps = Json::array();
  if (!dependency.empty()) {
    auto d = parse_dependency(dependency);
    if (!d) return fail("submit", d.message());
    deps = *d;
  }
  for (const auto& id : depends_on) {
    auto d = parse_dependency(id);
    if (!d) return fail("submit", "--depends-on: " + d.message());
    for (auto& x : *d) deps.push_back(x);
  }
  if (!deps.empty()) req["dependsOn"] = deps;

  std::string dir = chdir.empty() ? cwd() : chdir;
  if (dir[0] != '/') dir = cwd() + "/" + dir;
  req["workingDirectory"] = dir;
  if (!output.empty()) req["stdoutPath"] = output;
  if (!error.empty()) req["stderrPath"] = error;

  auto client = connect(g.socket);
  if (!client) return fail("submit", client.message());
  auto r = client->call("SubmitJob", req);
  if (!r) return fail("submit", r.message());
  if (vm.count("json"))
    std::cout << r->dump(2) << "\n";
  else if (vm.count("parsable"))
    std::cout << str(*r, "jobId") << "\n";
  else
    std::cout << "Submitted job " << str(*r, "jobId") << "\n";
  return 0;
}

}  // namespace drover::cli
