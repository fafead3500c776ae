#include "cli/submit_options_json.hpp"

namespace drover::cli {

using namespace drover::script;
using Json = nlohmann::ordered_json;

namespace {

Json gpu_json(const std::vector<GpuCount>& v) {
  Json a = Json::array();
  for (const auto& g : v) {
    Json x{{"count", g.count}};
    if (!g.type.empty()) x["type"] = g.type;
    a.push_back(x);
  }
  return a;
}

Json kv_json(const KeyValues& kv) {
  Json o = Json::object();
  for (const auto& [k, v] : kv) o[k] = v;
  return o;
}

}  // namespace

Json to_json(const SubmitOptions& o) {
  Json j = Json::object();
  auto opt = [&](const char* key, const auto& v) {
    if (v) j[key] = *v;
  };
  auto list = [&](const char* key, const auto& v) {
    if (!v.empty()) j[key] = v;
  };
  auto flag = [&](const char* key, bool v) {
    if (v) j[key] = true;
  };
  opt("jobName", o.job_name);
  opt("wrap", o.wrap);
  opt("definition", o.definition);
  opt("output", o.output);
  opt("error", o.error);
  opt("input", o.input);
  opt("chdir", o.chdir);
  opt("openMode", o.open_mode);
  list("partitions", o.partitions);
  list("nodelist", o.nodelist);
  list("exclude", o.exclude);
  opt("constraint", o.constraint);
  opt("exclusive", o.exclusive);
  if (o.nodes) j["nodes"] = {{"min", o.nodes->min}, {"max", o.nodes->max}};
  opt("ntasks", o.ntasks);
  opt("ntasksPerNode", o.ntasks_per_node);
  opt("cpusPerTask", o.cpus_per_task);
  opt("distribution", o.distribution);
  opt("memPerNodeMiB", o.mem_per_node_mib);
  opt("memPerCpuMiB", o.mem_per_cpu_mib);
  opt("memPerGpuMiB", o.mem_per_gpu_mib);
  if (!o.gpus.empty()) j["gpus"] = gpu_json(o.gpus);
  if (!o.gpus_per_node.empty()) j["gpusPerNode"] = gpu_json(o.gpus_per_node);
  if (!o.gpus_per_task.empty()) j["gpusPerTask"] = gpu_json(o.gpus_per_task);
  if (!o.gres.empty()) {
    Json a = Json::array();
    for (const auto& g : o.gres) {
      Json x{{"name", g.name}, {"count", g.count}};
      if (!g.type.empty()) x["type"] = g.type;
      a.push_back(x);
    }
    j["gres"] = a;
  }
  opt("timeLimitSeconds", o.time_limit_s);
  opt("timeMinSeconds", o.time_min_s);
  if (o.array) {
    Json ranges = Json::array();
    for (const auto& r : o.array->ranges) ranges.push_back({{"first", r.first}, {"last", r.last}, {"step", r.step}});
    j["array"] = {{"spec", o.array->to_string()}, {"taskCount", o.array->task_count}, {"ranges", ranges}};
    if (o.array->max_running) j["array"]["maxRunning"] = *o.array->max_running;
  }
  if (o.dependency) {
    Json terms = Json::array();
    for (const auto& t : o.dependency->terms) {
      Json targets = Json::array();
      for (const auto& x : t.targets) {
        Json tj{{"jobId", x.job_id}};
        if (x.array_task) tj["arrayTask"] = *x.array_task;
        if (x.delay_minutes) tj["delayMinutes"] = x.delay_minutes;
        targets.push_back(tj);
      }
      Json term{{"type", to_string(t.kind)}};
      if (!targets.empty()) term["targets"] = targets;
      terms.push_back(term);
    }
    j["dependency"] = {{"text", o.dependency->to_string()}, {"anyOf", o.dependency->any}, {"terms", terms}};
  }
  list("dependsOn", o.depends_on);
  if (o.begin) {
    j["begin"] = {{"text", o.begin->text}};
    if (o.begin->epoch) j["begin"]["epoch"] = *o.begin->epoch;
  }
  flag("hold", o.hold);
  opt("nice", o.nice);
  opt("priority", o.priority);
  if (o.signal)
    j["signal"] = {{"spec", o.signal->to_string()},
                   {"number", o.signal->number},
                   {"secondsBefore", o.signal->seconds_before},
                   {"batchShellOnly", o.signal->batch_shell_only}};
  opt("checkpointDir", o.checkpoint_dir);
  opt("requeue", o.requeue);
  opt("killOnInvalidDependency", o.kill_on_invalid_dep);
  opt("retryAttempts", o.retry_attempts);
  if (o.export_env) {
    static const char* kBase[] = {"ALL", "NONE", "LISTED"};
    Json vars = Json::array();
    for (const auto& v : o.export_env->variables) {
      Json x{{"name", v.name}};
      if (v.value) x["value"] = *v.value;
      vars.push_back(x);
    }
    j["export"] = {{"base", kBase[static_cast<int>(o.export_env->base)]}, {"variables", vars}};
  }
  if (!o.env.empty()) j["env"] = kv_json(o.env);
  if (!o.parameters.empty()) j["parameters"] = kv_json(o.parameters);
  if (!o.tags.empty()) j["tags"] = kv_json(o.tags);
  opt("account", o.account);
  opt("qos", o.qos);
  opt("comment", o.comment);
  list("mailTypes", o.mail_types);
  opt("mailUser", o.mail_user);
  flag("wait", o.wait);
  flag("testOnly", o.test_only);
  flag("parsable", o.parsable);
  flag("json", o.json);
  flag("noSlurmEnv", o.no_slurm_env);
  flag("quiet", o.quiet);
  if (o.verbose) j["verbose"] = o.verbose;
  if (!o.unsupported.empty()) {
    Json a = Json::array();
    for (const auto& u : o.unsupported) {
      Json x{{"name", u.name}, {"from", u.origin.describe()}};
      if (u.value) x["value"] = *u.value;
      a.push_back(x);
    }
    j["unsupported"] = a;
  }
  Json set_by = Json::object();
  for (const auto& [field, origin] : o.set_by) set_by[field] = origin.describe();
  j["setBy"] = set_by;
  return j;
}

}  // namespace drover::cli
