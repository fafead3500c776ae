#include "proto/codec.hpp"

#include <algorithm>
#include <charconv>
#include <climits>

namespace drover::proto {

namespace {

// Thrown inside this file only; every public decoder turns it into an Error.
struct FieldError {
  std::string message;
};

[[noreturn]] void fail(const std::string& field, const std::string& why) {
  throw FieldError{field + ": " + why};
}

const char* type_name(const Json& j) { return j.type_name(); }

std::string get_string(const Json& j, const char* key, bool required = false,
                       std::string def = {}) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) fail(key, "missing");
    return def;
  }
  if (!it->is_string()) fail(key, std::string("expected a string, got ") + type_name(*it));
  return it->get<std::string>();
}

std::int64_t get_int(const Json& j, const char* key, bool required = false,
                     std::int64_t def = 0) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) fail(key, "missing");
    return def;
  }
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) fail(key, "number too large");
    return static_cast<std::int64_t>(u);
  }
  if (it->is_string()) {  // AWS sends some numbers as strings ("value": "2")
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) fail(key, "'" + s + "' is not a whole number");
    return v;
  }
  if (it->is_number_float()) fail(key, it->dump() + " is not a whole number");
  fail(key, std::string("expected a number, got ") + type_name(*it));
}

bool get_bool(const Json& j, const char* key, bool def = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) fail(key, std::string("expected true or false, got ") + type_name(*it));
  return it->get<bool>();
}

int get_int32(const Json& j, const char* key, bool required = false, int def = 0) {
  const auto v = get_int(j, key, required, def);
  if (v < INT32_MIN || v > INT32_MAX) fail(key, "number out of range");
  return static_cast<int>(v);
}

std::vector<std::string> get_strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) fail(key, std::string("expected a list, got ") + type_name(*it));
  for (const auto& e : *it) {
    if (!e.is_string()) fail(key, "every element must be a string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<int> get_ints(const Json& j, const char* key) {
  std::vector<int> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) fail(key, "expected a list of numbers");
  for (const auto& e : *it) {
    if (!e.is_number_integer()) fail(key, "every element must be a whole number");
    out.push_back(e.get<int>());
  }
  return out;
}

const Json& get_object(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kEmpty;
  if (!it->is_object()) fail(key, std::string("expected an object, got ") + type_name(*it));
  return *it;
}

// [[first, last, step], ...]
std::vector<IndexRange> index_ranges(const Json& j, const char* key) {
  std::vector<IndexRange> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) fail(key, "expected a list of [first, last, step]");
  for (const auto& e : *it) {
    if (!e.is_array() || e.size() < 2 || e.size() > 3)
      fail(key, "expected [first, last] or [first, last, step] entries");
    for (const auto& v : e)
      if (!v.is_number_integer()) fail(key, "indexes and steps are whole numbers");
    out.push_back({e[0].get<std::int64_t>(), e[1].get<std::int64_t>(),
                   e.size() == 3 ? e[2].get<std::int64_t>() : 1});
  }
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> get_pairs(const Json& j, const char* key) {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (const auto& e : j.value(key, Json::array())) {
    if (!e.is_array() || e.size() != 2) fail(key, "expected [lo, hi] pairs");
    out.emplace_back(e[0].get<std::int64_t>(), e[1].get<std::int64_t>());
  }
  return out;
}

// A list of objects; an empty list when absent.
const Json& get_list(const Json& j, const char* key) {
  static const Json kEmpty = Json::array();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kEmpty;
  if (!it->is_array()) fail(key, std::string("expected a list, got ") + type_name(*it));
  for (const auto& e : *it)
    if (!e.is_object()) fail(key, std::string("expected a list of objects, got ") + type_name(e));
  return *it;
}

KeyValues key_values(const Json& v, const std::string& field) {
  KeyValues kv;
  if (v.is_null()) return kv;
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it.value().is_string()) fail(field + "." + it.key(), "expected a string value");
      kv.emplace_back(it.key(), it.value().get<std::string>());
    }
    return kv;
  }
  if (v.is_array()) {  // AWS environment form: [{"name": .., "value": ..}]
    for (const auto& e : v) {
      if (!e.is_object()) fail(field, "expected {\"name\": ..., \"value\": ...} entries");
      kv.emplace_back(get_string(e, "name", true), get_string(e, "value"));
    }
    return kv;
  }
  fail(field, "expected an object or a list of {name, value}");
}

template <class F>
auto guarded(F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const FieldError& e) {
    return Error{e.message};
  } catch (const Json::exception& e) {
    return Error{std::string("malformed JSON: ") + e.what()};
  } catch (const std::exception& e) {
    return Error{std::string("malformed value: ") + e.what()};
  }
}

std::int64_t parse_job_id(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) fail(key, "missing");
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v <= 0)
      fail(key, "'" + s + "' is not a job id");
    return v;
  }
  const std::int64_t v = get_int(j, key, true);
  if (v <= 0) fail(key, std::to_string(v) + " is not a job id");
  return v;
}

// One dependsOn entry: {"jobId": "42", "type": "afterok"}; a task of an array
// as "42_7" (Drover's and Slurm's spelling) or "42:7" (AWS Batch's child job
// id); "minutes" with after (after:42+10). Singleton and SEQUENTIAL name no job.
Dependency dependency(const Json& d, const std::string& field) {
  if (!d.is_object()) fail(field.c_str(), "expected {jobId, type} entries");
  Dependency dep;
  const std::string type = get_string(d, "type");
  auto t = parse_dependency_type(type);
  if (!t)
    fail((field + ".type").c_str(), "'" + type + "' is not afterok, afterany, afternotok, after, aftercorr, "
                                    "singleton, N_TO_N or SEQUENTIAL");
  dep.type = *t;
  const auto it = d.find("jobId");
  if (!names_job(dep.type)) {
    if (it != d.end() && !it->is_null() && !(it->is_string() && it->get_ref<const std::string&>().empty()))
      fail((field + ".jobId").c_str(), std::string(to_string(dep.type)) + " names no job");
  } else if (it != d.end() && it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    const auto sep = s.find_first_of("_:");
    const auto number = [&](std::string_view v, std::int64_t max) -> std::int64_t {
      std::int64_t n = -1;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      return ec == std::errc() && p == v.data() + v.size() && n >= 0 && n <= max ? n : -1;
    };
    const std::int64_t id = number(std::string_view(s).substr(0, sep), INT64_MAX);
    const std::int64_t index =
        sep == std::string::npos ? -1 : number(std::string_view(s).substr(sep + 1), kMaxArrayIndex);
    if (id <= 0 || (sep != std::string::npos && index < 0))
      fail("jobId", "'" + s + "' is not a job id (e.g. 42), nor a task of an array (42_7)");
    dep.job_id = id;
    dep.array_index = static_cast<std::int32_t>(index);
  } else {
    dep.job_id = parse_job_id(d, "jobId");
  }
  const std::int64_t minutes = get_int(d, "minutes");
  if (minutes < 0 || minutes > kMaxDependencyMinutes)
    fail((field + ".minutes").c_str(), std::to_string(minutes) + " is out of range; give 0 to " +
                                           std::to_string(kMaxDependencyMinutes));
  if (minutes && dep.type != DependencyType::After)
    fail((field + ".minutes").c_str(), "minutes go with type after only");
  dep.minutes = static_cast<std::int32_t>(minutes);
  return dep;
}

Resources resources(const Json& j, Resources r) {
  auto it = j.find("resourceRequirements");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_array()) fail("resourceRequirements", "expected a list");
    for (const auto& e : *it) {
      if (!e.is_object()) fail("resourceRequirements", "expected {type, value} entries");
      const std::string type = get_string(e, "type", true);
      const std::int64_t v = get_int(e, "value", true);
      if (type == "VCPU")
        r.vcpus = static_cast<int>(std::clamp<std::int64_t>(v, INT32_MIN + 1, INT32_MAX));
      else if (type == "MEMORY")
        r.memory_mib = std::max<std::int64_t>(v, INT64_MIN + 1);
      else if (type == "GPU")
        r.gpus = static_cast<int>(std::clamp<std::int64_t>(v, INT32_MIN + 1, INT32_MAX));
      else
        fail("resourceRequirements.type", "'" + type + "' is not VCPU, MEMORY or GPU");
    }
  }
  return r;
}

RetryStrategy retry(const Json& j) {
  RetryStrategy r;
  r.attempts = get_int32(j, "attempts", false, 1);
  auto it = j.find("evaluateOnExit");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_array()) fail("retryStrategy.evaluateOnExit", "expected a list");
    for (const auto& e : *it) {
      ExitRule rule;
      rule.on_exit_code = get_string(e, "onExitCode");
      rule.on_reason = get_string(e, "onReason");
      rule.on_status_reason = get_string(e, "onStatusReason");
      rule.action = get_string(e, "action", true);
      for (auto& c : rule.action) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      r.evaluate_on_exit.push_back(std::move(rule));
    }
  }
  return r;
}

std::string definition_ref(const Job& j) {
  if (j.definition.empty()) return {};
  return j.definition + ":" + std::to_string(j.definition_revision);
}

NodeState parse_node_state(const std::string& s) {
  if (s == "UP") return NodeState::Up;
  if (s == "DRAIN") return NodeState::Drain;
  if (s == "DOWN") return NodeState::Down;
  fail("state", "'" + s + "' is not UP, DOWN or DRAIN");
}

bool parse_enabled(const Json& j) {
  const std::string s = get_string(j, "state", false, "ENABLED");
  if (s == "ENABLED") return true;
  if (s == "DISABLED") return false;
  fail("state", "'" + s + "' is not ENABLED or DISABLED");
}

// nodeSelection: {"constraint": "gpu&a100", "nodeList": ["n1"], "exclude": [...],
// "exclusive": true}. Slurm's --exclusive=user|mcs|topo is refused by name.
struct NodeSelectionFields {
  std::string constraint;
  std::vector<std::string> node_list;
  std::vector<std::string> exclude;
  bool exclusive = false;
};
NodeSelectionFields node_selection_fields(const Json& ns) {
  NodeSelectionFields f;
  static const char* kKnown[] = {"constraint", "nodeList", "exclude", "exclusive"};
  for (const auto& [k, v] : ns.items())
    if (std::find(std::begin(kKnown), std::end(kKnown), k) == std::end(kKnown))
      fail("nodeSelection." + k, "unknown field (known: constraint, nodeList, exclude, exclusive)");
  try {
    f.constraint = get_string(ns, "constraint");
    f.node_list = get_strings(ns, "nodeList");
    f.exclude = get_strings(ns, "exclude");
    if (auto it = ns.find("exclusive"); it != ns.end() && it->is_string()) {
      const std::string m = it->get<std::string>();
      if (m != "node")
        fail("exclusive", "'" + m + "' is not supported; only whole nodes (true, or \"node\"), as sbatch "
                          "--exclusive without a value");
      f.exclusive = true;
    } else {
      f.exclusive = get_bool(ns, "exclusive");
    }
  } catch (const FieldError& e) {
    throw FieldError{"nodeSelection." + e.message};
  }
  return f;
}

Json to_json(const NodeSelection& s) {
  Json j = Json::object();
  if (!s.constraint.empty()) j["constraint"] = s.constraint.text();
  if (!s.node_list.empty()) j["nodeList"] = s.node_list;
  if (!s.exclude.empty()) j["exclude"] = s.exclude;
  if (s.exclusive) j["exclusive"] = true;
  return j;
}

}  // namespace

Json to_json(const Resources& r) {
  Json a = Json::array();
  a.push_back({{"type", "VCPU"}, {"value", std::to_string(r.vcpus)}});
  if (r.memory_mib > 0) a.push_back({{"type", "MEMORY"}, {"value", std::to_string(r.memory_mib)}});
  if (r.gpus > 0) a.push_back({{"type", "GPU"}, {"value", std::to_string(r.gpus)}});
  return a;
}

Json to_json(const RetryStrategy& r) {
  Json j = {{"attempts", r.attempts}};
  if (!r.evaluate_on_exit.empty()) {
    Json rules = Json::array();
    for (const auto& e : r.evaluate_on_exit) {
      Json x = {{"action", e.action}};
      if (!e.on_exit_code.empty()) x["onExitCode"] = e.on_exit_code;
      if (!e.on_reason.empty()) x["onReason"] = e.on_reason;
      if (!e.on_status_reason.empty()) x["onStatusReason"] = e.on_status_reason;
      rules.push_back(std::move(x));
    }
    j["evaluateOnExit"] = std::move(rules);
  }
  return j;
}

Json to_json(const KeyValues& kv) {
  Json j = Json::object();
  for (const auto& [k, v] : kv) j[k] = v;
  return j;
}

Json to_env_json(const KeyValues& kv) {
  Json a = Json::array();
  for (const auto& [k, v] : kv) a.push_back({{"name", k}, {"value", v}});
  return a;
}

Json to_json(const Attempt& a) {
  Json c = {{"nodeName", a.node}, {"cpus", a.cpus}};
  if (!a.gpus.empty()) c["gpus"] = a.gpus;
  if (!a.more_nodes.empty()) {
    Json more = Json::array();
    for (const auto& sl : a.more_nodes) {
      Json n = {{"nodeName", sl.node}, {"cpus", sl.cpus}};
      if (!sl.gpus.empty()) n["gpus"] = sl.gpus;
      more.push_back(std::move(n));
    }
    c["otherNodes"] = std::move(more);
  }
  if (a.exit_code) c["exitCode"] = *a.exit_code;
  if (a.signal) c["signal"] = a.signal;
  if (!a.reason.empty()) c["reason"] = a.reason;
  Json j = {{"container", std::move(c)}, {"startedAt", a.started_at}};
  if (a.stopped_at) j["stoppedAt"] = a.stopped_at;
  if (!a.status_reason.empty()) j["statusReason"] = a.status_reason;
  if (a.time_limit_s) j["timeLimitSeconds"] = a.time_limit_s;  // shortened (--time-min)
  return j;
}

Json to_json(const Dependency& d) {
  Json j = {{"type", to_string(d.type)}};
  if (names_job(d.type)) j["jobId"] = target_name(d);
  if (d.minutes) j["minutes"] = d.minutes;
  return j;
}

Json to_json(const Job& job) {
  Json j = {
      {"jobId", std::to_string(job.id)},
      {"jobName", job.name},
      {"jobQueue", job.queue},
      {"status", to_string(job.state)},
      {"owner", {{"uid", job.uid}, {"gid", job.gid}, {"user", job.user}}},
      {"createdAt", job.created_at},
      {"resourceRequirements", to_json(job.request)},
      {"ntasks", job.ntasks},
      {"retryStrategy", to_json(job.retry)},
      {"workingDirectory", job.working_dir},
      {"stdoutPath", job.stdout_path},
  };
  if (job.nodes > 1) j["nodeProperties"] = {{"numNodes", job.nodes}, {"mainNode", 0}};
  if (job.node_requests) {
    // Node groups that ask different resources: each range's (AWS shape).
    Json groups = Json::array();
    for (const auto& g : *job.node_requests)
      groups.push_back({{"targetNodes", std::to_string(g.first) + ":" + std::to_string(g.last)},
                        {"container", {{"resourceRequirements", to_json(g.request)}}}});
    j["nodeProperties"]["nodeRangeProperties"] = std::move(groups);
  }
  if (!job.status_reason.empty()) j["statusReason"] = job.status_reason;
  if (!job.pending_reason.empty()) j["pendingReason"] = job.pending_reason.str();
  if (job.estimated_start) j["estimatedStartAt"] = job.estimated_start;
  if (!job.definition.empty()) j["jobDefinition"] = definition_ref(job);
  if (job.started_at) j["startedAt"] = job.started_at;
  if (job.stopped_at) j["stoppedAt"] = job.stopped_at;
  if (job.timeout_seconds) j["timeout"] = {{"attemptDurationSeconds", job.timeout_seconds}};
  if (!job.stderr_path.empty()) j["stderrPath"] = job.stderr_path;
  if (job.append_output) j["openMode"] = "append";
  if (!job.slurm_env) j["slurmEnvironment"] = false;
  if (job.checkpoints())
    j["checkpoint"] = {{"signal", job.checkpoint_signal},
                       {"secondsBefore", job.checkpoint_seconds},
                       {"batchShellOnly", job.checkpoint_signal_batch_only}};
  if (job.requeue >= 0) j["requeue"] = job.requeue > 0;
  if (job.kill_on_invalid_dep >= 0) j["killOnInvalidDependency"] = job.kill_on_invalid_dep > 0;
  if (!job.task_distribution().is_default()) j["distribution"] = to_string(job.task_distribution());
  if (job.begin_s) j["beginAt"] = job.begin_at();
  if (job.time_min_minutes) j["timeMinSeconds"] = std::int64_t{job.time_min_minutes} * 60;
  if (job.selection) j["nodeSelection"] = to_json(*job.selection);
  if (!job.depends_on.empty()) {
    Json deps = Json::array();
    for (const auto& d : job.depends_on) deps.push_back(to_json(d));
    j["dependsOn"] = std::move(deps);
    if (job.depends_any) j["dependsOnAny"] = true;
  }
  if (job.dependency_ready_s) j["dependenciesReadyAt"] = job.dependency_ready_at();
  Json attempts = Json::array();
  for (const auto& a : job.attempts) attempts.push_back(to_json(a));
  j["attempts"] = std::move(attempts);
  if (const Attempt* a = job.current_attempt()) {
    Json c = {{"nodeName", a->node}};
    if (a->exit_code) c["exitCode"] = *a->exit_code;
    if (!a->reason.empty()) c["reason"] = a->reason;
    j["container"] = std::move(c);
  }
  if (!job.parameters.empty()) j["parameters"] = to_json(job.parameters);
  if (!job.tags.empty()) j["tags"] = to_json(job.tags);
  if (job.array_parent)
    j["arrayProperties"] = {{"index", job.array_index}, {"parentJobId", std::to_string(job.array_parent)}};
  if (const ArrayInfo* a = job.array.get()) {
    Json ranges = Json::array(), pending = Json::array(), counts = Json::array();
    for (const auto& r : a->indexes.ranges()) ranges.push_back({r.first, r.last, r.step});
    for (const auto& [lo, hi] : a->pending.intervals()) pending.push_back({lo, hi});
    for (auto c : a->count) counts.push_back(c);
    // As AWS Batch: counts per state; tasks not started count as PENDING while
    // the array waits for its dependencies, else RUNNABLE.
    Json summary = Json::object();
    for (int s = 0; s < static_cast<int>(a->count.size()); ++s) {
      std::int64_t n = a->count[s];
      const auto st = static_cast<JobState>(s);
      if (st == (job.state == JobState::Pending ? JobState::Pending : JobState::Runnable))
        n += a->pending.count();
      summary[to_string(st)] = n;
    }
    Json p = {{"size", a->indexes.size()},
              {"indexes", a->indexes.to_string()},
              {"pendingIndexes", to_text(a->indexes.indexes_at(a->pending))},
              {"statusSummary", std::move(summary)},
              {"cancelled", a->cancelled},
              {"ranges", std::move(ranges)},
              {"pendingPositions", std::move(pending)},
              {"taskCounts", std::move(counts)}};
    if (a->max_running) p["maxRunning"] = a->max_running;
    const auto positions = [](const PositionSet& set) {
      Json out = Json::array();
      for (const auto& [lo, hi] : set.intervals()) out.push_back({lo, hi});
      return out;
    };
    if (!a->failed().empty()) p["failedPositions"] = positions(a->failed());
    if (!a->dependency_failed().empty()) {
      p["dependencyFailedPositions"] = positions(a->dependency_failed());
      p["dependencyFailedIndexes"] = to_text(a->indexes.indexes_at(a->dependency_failed()));
    }
    if (!a->waiting().empty()) {
      // Per aftercorr / N_TO_N / SEQUENTIAL entry of dependsOn, in order: the
      // tasks it still holds back.
      Json waiting = Json::array(), indexes = Json::array();
      for (const auto& w : a->waiting()) {
        waiting.push_back(positions(w));
        indexes.push_back(to_text(a->indexes.indexes_at(w)));
      }
      p["dependencyWaitingPositions"] = std::move(waiting);
      p["dependencyWaitingIndexes"] = std::move(indexes);
    }
    j["arrayProperties"] = std::move(p);
  }
  if (job.priority) j["schedulingPriority"] = job.priority;
  if (job.nice) j["nice"] = job.nice;
  if (!job.share.empty()) j["shareIdentifier"] = job.share.str();
  if (job.held) j["held"] = true;
  if (job.requeue_requested) j["requeueRequested"] = true;
  if (job.terminate_requested) j["terminateRequested"] = true;
  if ((job.terminate_requested || job.requeue_requested) && !job.terminate_reason.empty())
    j["terminateReason"] = job.terminate_reason;
  return j;
}

Json to_json(const JobPayload& p) {
  Json j = Json::object();
  if (!p.command.empty()) j["command"] = p.command;
  if (!p.script.empty()) j["script"] = p.script;
  if (!p.submit_options.empty()) {
    Json asked = Json::parse(p.submit_options, nullptr, false);
    if (!asked.is_discarded()) j["submitOptions"] = std::move(asked);
  }
  j["environment"] = to_env_json(p.environment);
  if (!p.checkpoint_dir.empty()) j["checkpointDirectory"] = p.checkpoint_dir;
  if (!p.node_groups.empty()) {
    Json groups = Json::array();
    for (const auto& g : p.node_groups) {
      Json c = {{"command", g.command}, {"environment", to_env_json(g.environment)}};
      groups.push_back({{"targetNodes", std::to_string(g.first) + ":" + std::to_string(g.last)}, {"container", c}});
    }
    j["nodeRangeProperties"] = std::move(groups);
  }
  return j;
}

Json to_json(const JobDefinition& d) {
  Json j = {{"jobDefinitionName", d.name},
            {"revision", d.revision},
            {"status", d.active ? "ACTIVE" : "INACTIVE"},
            {"type", d.type == DefinitionType::Multinode ? "multinode" : "single"},
            {"command", d.command},
            {"resourceRequirements", to_json(d.resources)},
            {"retryStrategy", to_json(d.retry)},
            {"createdAt", d.created_at}};
  if (!d.parameters.empty()) j["parameters"] = to_json(d.parameters);
  if (!d.environment.empty()) j["environment"] = to_env_json(d.environment);
  if (d.timeout_seconds) j["timeout"] = {{"attemptDurationSeconds", d.timeout_seconds}};
  if (d.scheduling_priority) j["schedulingPriority"] = d.scheduling_priority;
  if (!d.tags.empty()) j["tags"] = to_json(d.tags);
  return j;
}

// AWS Batch's SchedulingPolicy.fairsharePolicy, kept in the queue; null when
// the queue is FIFO. shareUsage: each share's decayed past use (Drover's).
Json fair_share_json(const JobQueue& q) {
  const FairShare& f = q.fair_share;
  if (!f.enabled) return nullptr;
  Json dist = Json::array();
  for (const auto& w : f.weights) dist.push_back({{"shareIdentifier", w.identifier}, {"weightFactor", w.weight}});
  Json usage = Json::object();
  for (const auto& [share, u] : q.usage) usage[share] = {{"vcpuSeconds", u.vcpu_seconds}, {"at", u.at}};
  return {{"shareDecaySeconds", f.share_decay_seconds},
          {"computeReservation", f.compute_reservation},
          {"shareDistribution", std::move(dist)},
          {"shareUsage", std::move(usage)}};
}

Json to_json(const JobQueue& q) {
  Json order = Json::array();
  for (std::size_t i = 0; i < q.compute_environments.size(); ++i)
    order.push_back({{"order", i + 1}, {"computeEnvironment", q.compute_environments[i]}});
  Json j = {{"jobQueueName", q.name},
          {"state", q.enabled ? "ENABLED" : "DISABLED"},
          {"status", "VALID"},
          {"priority", q.priority},
          {"preemptionMode", to_string(q.preempt_mode)},
          {"computeEnvironmentOrder", std::move(order)},
          {"slurmEnvironment", q.slurm_env},
          {"defaultTimeLimitSeconds", q.default_time_limit_s},
          {"maxTimeLimitSeconds", q.max_time_limit_s},
          {"maxJobsPerUser", q.max_jobs_per_user},
          {"maxVcpusPerUser", q.max_vcpus_per_user},
          {"fairsharePolicy", fair_share_json(q)},
          {"killOnInvalidDependency", q.kill_on_invalid_dep},
          {"createdAt", q.created_at}};
  // Absent: the scheduler's own mode (the head shows it as EASY).
  if (q.backfill) j["backfill"] = to_string(*q.backfill);
  return j;
}

Json to_json(const ComputeEnvironment& e) {
  return {{"computeEnvironmentName", e.name},
          {"type", e.type},
          {"state", e.enabled ? "ENABLED" : "DISABLED"},
          {"status", "VALID"},
          {"maxvCpus", e.max_vcpus},
          {"nodes", e.nodes},
          {"createdAt", e.created_at}};
}

Json to_json(const NodeTopology& t) {
  Json numa = Json::array();
  for (const auto& n : t.numa)
    numa.push_back({{"osIndex", n.os_index}, {"memoryMiB", n.memory_mib}, {"pus", n.pus}});
  Json cores = Json::array();
  for (const auto& c : t.cores)
    cores.push_back({{"package", c.package}, {"numa", c.numa}, {"pus", c.pus}});
  Json gpus = Json::array();
  for (const auto& g : t.gpus)
    gpus.push_back({{"index", g.index},
                    {"pciBusId", g.pci_bus_id},
                    {"vendor", g.vendor},
                    {"name", g.name},
                    {"numa", g.numa},
                    {"localPus", g.local_pus}});
  return {{"packages", t.packages}, {"memoryMiB", t.memory_mib}, {"numa", std::move(numa)},
          {"cores", std::move(cores)}, {"gpus", std::move(gpus)}};
}

Json to_json(const Node& n) {
  std::vector<int> used;
  for (std::size_t i = 0; i < n.pu_used.size(); ++i)
    if (n.pu_used[i]) used.push_back(static_cast<int>(i));
  std::vector<int> gpus_used;
  for (std::size_t i = 0; i < n.gpu_used.size(); ++i)
    if (n.gpu_used[i]) gpus_used.push_back(static_cast<int>(i));
  Json j = {{"nodeName", n.name},
            {"state", to_string(n.state)},
            {"connected", n.connected},
            {"lastSeen", n.last_seen},
            {"topology", to_json(n.topology)},
            {"vcpus", n.pus_total()},
            {"vcpusUsed", n.pus_total() - n.pus_free()},
            {"cpusUsed", std::move(used)},
            {"memoryMiB", n.topology.memory_mib},
            {"memoryUsedMiB", n.memory_used_mib},
            {"numaMemoryUsedMiB", n.numa_memory_used_mib},
            {"gpus", n.topology.gpus.size()},
            {"gpusUsed", std::move(gpus_used)},
            {"jobsRunning", n.jobs_running}};
  if (!n.state_reason.empty()) j["stateReason"] = n.state_reason;
  if (n.admin_state) j["adminState"] = true;
  j["features"] = n.features();
  if (!n.agent_features.empty()) j["agentFeatures"] = n.agent_features;
  if (n.admin_features) j["adminFeatures"] = *n.admin_features;
  return j;
}

Result<Resources> resources_from_json(const Json& j, Resources base) {
  return guarded([&] { return resources(j, base); });
}

Result<RetryStrategy> retry_from_json(const Json& j) {
  return guarded([&] { return retry(j); });
}

Result<KeyValues> key_values_from_json(const Json& j, const std::string& field) {
  return guarded([&] { return key_values(j, field); });
}

Result<std::vector<Dependency>> dependencies_from_json(const Json& j) {
  return guarded([&] {
    std::vector<Dependency> out;
    if (auto it = j.find("dependsOn"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) fail("dependsOn", "expected a list of {jobId, type}");
      for (const auto& d : *it) out.push_back(dependency(d, "dependsOn"));
    }
    return out;
  });
}

Result<std::vector<IndexRange>> index_ranges_from_json(const Json& j, const char* key) {
  return guarded([&] { return index_ranges(j, key); });
}

Result<Job> job_from_json(const Json& j) {
  return guarded([&] {
    Job job;
    job.id = parse_job_id(j, "jobId");
    job.name = get_string(j, "jobName", true);
    job.queue = get_string(j, "jobQueue");
    auto st = parse_job_state(get_string(j, "status", true));
    if (!st) fail("status", "unknown state");
    job.state = *st;
    job.status_reason = get_string(j, "statusReason");
    const Json& owner = get_object(j, "owner");
    job.uid = static_cast<std::uint32_t>(get_int(owner, "uid"));
    job.gid = static_cast<std::uint32_t>(get_int(owner, "gid"));
    job.user = get_string(owner, "user");
    job.created_at = get_int(j, "createdAt");
    job.started_at = get_int(j, "startedAt");
    job.stopped_at = get_int(j, "stoppedAt");
    job.request = resources(j, Resources{});
    job.ntasks = get_int32(j, "ntasks", false, 1);
    if (j.contains("nodeProperties")) {
      const Json& np = get_object(j, "nodeProperties");
      job.nodes = get_int32(np, "numNodes", false, 1);
      std::vector<NodeRequest> groups;
      for (const auto& g : get_list(np, "nodeRangeProperties")) {
        NodeRequest nr;
        const std::string t = get_string(g, "targetNodes", true);
        const auto colon = t.find(':');
        if (colon == std::string::npos) fail("nodeRangeProperties.targetNodes", "'" + t + "' is not FIRST:LAST");
        nr.first = std::stoi(t.substr(0, colon));
        nr.last = std::stoi(t.substr(colon + 1));
        nr.request = resources(get_object(g, "container"), Resources{});
        groups.push_back(nr);
      }
      if (!groups.empty()) job.node_requests = Boxed<std::vector<NodeRequest>>(std::move(groups));
    }
    job.retry = retry(get_object(j, "retryStrategy"));
    job.timeout_seconds = get_int(get_object(j, "timeout"), "attemptDurationSeconds");
    const std::string def = get_string(j, "jobDefinition");
    job.definition = def;
    if (auto c = def.rfind(':'); c != std::string::npos) {
      job.definition = def.substr(0, c);
      const char* first = def.data() + c + 1;
      const char* last = def.data() + def.size();
      auto [p, ec] = std::from_chars(first, last, job.definition_revision);
      if (ec != std::errc() || p != last || first == last)
        fail("jobDefinition", "'" + def + "': the revision after ':' is not a number");
    }
    for (const auto& d : get_list(j, "dependsOn")) job.depends_on.push_back(dependency(d, "dependsOn"));
    job.depends_any = get_bool(j, "dependsOnAny");
    job.set_dependency_ready_at(get_int(j, "dependenciesReadyAt"));
    for (const auto& a : get_list(j, "attempts")) {
      Attempt at;
      const Json& c = get_object(a, "container");
      at.node = get_string(c, "nodeName");
      at.cpus = get_ints(c, "cpus");
      at.gpus = get_ints(c, "gpus");
      for (const auto& n : get_list(c, "otherNodes"))
        at.more_nodes.push_back({get_string(n, "nodeName"), get_ints(n, "cpus"), get_ints(n, "gpus")});
      if (c.contains("exitCode") && !c["exitCode"].is_null())
        at.exit_code = get_int32(c, "exitCode");
      at.signal = get_int32(c, "signal");
      at.reason = get_string(c, "reason");
      at.started_at = get_int(a, "startedAt");
      at.stopped_at = get_int(a, "stoppedAt");
      at.status_reason = get_string(a, "statusReason");
      at.time_limit_s = get_int(a, "timeLimitSeconds");
      job.attempts.push_back(std::move(at));
    }
    job.working_dir = get_string(j, "workingDirectory");
    job.stdout_path = get_string(j, "stdoutPath");
    job.stderr_path = get_string(j, "stderrPath");
    job.append_output = get_string(j, "openMode") == "append";
    job.slurm_env = get_bool(j, "slurmEnvironment", true);
    if (const Json& c = get_object(j, "checkpoint"); !c.empty()) {
      const int sig = get_int32(c, "signal");
      if (sig < 0 || sig > 64) fail("checkpoint.signal", std::to_string(sig) + " is not a signal number (1 to 64)");
      job.checkpoint_signal = static_cast<std::uint8_t>(sig);
      job.checkpoint_seconds = get_int32(c, "secondsBefore");
      job.checkpoint_signal_batch_only = get_bool(c, "batchShellOnly");
    }
    if (j.contains("requeue") && !j["requeue"].is_null()) job.requeue = get_bool(j, "requeue") ? 1 : 0;
    if (j.contains("killOnInvalidDependency") && !j["killOnInvalidDependency"].is_null())
      job.kill_on_invalid_dep = get_bool(j, "killOnInvalidDependency") ? 1 : 0;
    if (const std::string d = get_string(j, "distribution"); !d.empty()) {
      auto parsed = parse_distribution(d);
      if (!parsed) fail("distribution", parsed.message());
      job.distribution = parsed->pack();
    }
    if (const std::int64_t b = get_int(j, "beginAt"); b > 0)
      job.begin_s = static_cast<std::uint32_t>(std::min<std::int64_t>((b + 999) / 1000, UINT32_MAX));
    if (const std::int64_t t = get_int(j, "timeMinSeconds"); t > 0)
      job.time_min_minutes = static_cast<std::uint16_t>(std::min<std::int64_t>((t + 59) / 60, UINT16_MAX));
    if (const Json& ns = get_object(j, "nodeSelection"); !ns.empty()) {
      NodeSelection sel;
      const NodeSelectionFields f = node_selection_fields(ns);
      if (!f.constraint.empty()) {
        auto c = parse_constraint(f.constraint);
        if (!c) fail("nodeSelection.constraint", c.message());
        sel.constraint = std::move(*c);
      }
      sel.node_list = f.node_list;
      sel.exclude = f.exclude;
      sel.exclusive = f.exclusive;
      if (!sel.empty()) job.selection = Boxed<NodeSelection>(std::move(sel));
    }
    job.parameters = key_values(get_object(j, "parameters"), "parameters");
    job.tags = key_values(get_object(j, "tags"), "tags");
    job.terminate_requested = get_bool(j, "terminateRequested");
    job.held = get_bool(j, "held");
    job.requeue_requested = get_bool(j, "requeueRequested");
    job.terminate_reason = get_string(j, "terminateReason");
    job.priority = get_int32(j, "schedulingPriority");
    job.nice = get_int32(j, "nice");
    job.share = get_string(j, "shareIdentifier");
    if (const Json& ap = get_object(j, "arrayProperties"); !ap.empty()) {
      if (ap.contains("parentJobId")) {
        job.array_parent = parse_job_id(ap, "parentJobId");
        job.array_index = get_int(ap, "index", true);
      } else {
        auto indexes = ArrayIndexes::make(index_ranges(ap, "ranges"));
        if (!indexes) fail("arrayProperties.ranges", indexes.message());
        ArrayInfo info;
        info.indexes = std::move(*indexes);
        info.max_running = get_int(ap, "maxRunning");
        for (const auto& p : get_pairs(ap, "pendingPositions")) info.pending.insert(p.first, p.second);
        const Json& counts = ap.at("taskCounts");
        if (!counts.is_array() || counts.size() != info.count.size()) fail("arrayProperties.taskCounts", "expected 7 counts");
        for (std::size_t i = 0; i < info.count.size(); ++i) info.count[i] = counts[i].get<std::int64_t>();
        info.cancelled = get_int(ap, "cancelled");
        for (const auto& p : get_pairs(ap, "failedPositions")) info.more().failed.insert(p.first, p.second);
        for (const auto& p : get_pairs(ap, "dependencyFailedPositions"))
          info.more().dependency_failed.insert(p.first, p.second);
        for (const auto& w : ap.value("dependencyWaitingPositions", Json::array())) {
          PositionSet set;
          for (const auto& p : get_pairs(Json{{"w", w}}, "w")) set.insert(p.first, p.second);
          info.more().waiting.push_back(std::move(set));
        }
        job.array = Boxed<ArrayInfo>(std::move(info));
      }
    }
    return job;
  });
}

Result<JobPayload> payload_from_json(const Json& j) {
  return guarded([&] {
    JobPayload p;
    p.command = get_strings(j, "command");
    p.script = get_string(j, "script");
    if (auto it = j.find("submitOptions"); it != j.end() && it->is_object()) p.submit_options = it->dump();
    auto it = j.find("environment");
    if (it != j.end()) p.environment = key_values(*it, "environment");
    p.checkpoint_dir = get_string(j, "checkpointDirectory");
    for (const auto& g : get_list(j, "nodeRangeProperties")) {
      NodeGroup ng;
      const std::string t = get_string(g, "targetNodes", true);
      const auto colon = t.find(':');
      if (colon == std::string::npos) fail("nodeRangeProperties.targetNodes", "'" + t + "' is not FIRST:LAST");
      ng.first = std::stoi(t.substr(0, colon));
      ng.last = std::stoi(t.substr(colon + 1));
      const Json& c = get_object(g, "container");
      ng.command = get_strings(c, "command");
      if (auto it = c.find("environment"); it != c.end()) ng.environment = key_values(*it, "environment");
      p.node_groups.push_back(std::move(ng));
    }
    return p;
  });
}

Result<JobDefinition> definition_from_json(const Json& j) {
  return guarded([&] {
    if (!j.is_object()) fail("jobDefinition", "expected a JSON object");
    JobDefinition d;
    d.name = get_string(j, "jobDefinitionName", true);
    d.revision = get_int32(j, "revision");
    d.active = get_string(j, "status", false, "ACTIVE") != "INACTIVE";
    const std::string type = get_string(j, "type", false, "single");
    if (type == "single" || type == "container")
      d.type = DefinitionType::Single;
    else if (type == "multinode")
      d.type = DefinitionType::Multinode;
    else
      fail("type", "'" + type + "' is not single or multinode");
    // AWS nests command, environment and resources under containerProperties.
    const Json& cp = j.contains("containerProperties") ? get_object(j, "containerProperties") : j;
    d.command = get_strings(cp, "command");
    d.resources = resources(cp, Resources{});
    if (auto it = cp.find("environment"); it != cp.end()) d.environment = key_values(*it, "environment");
    d.parameters = key_values(get_object(j, "parameters"), "parameters");
    d.tags = key_values(get_object(j, "tags"), "tags");
    if (j.contains("retryStrategy")) d.retry = retry(get_object(j, "retryStrategy"));
    d.timeout_seconds = get_int(get_object(j, "timeout"), "attemptDurationSeconds");
    d.scheduling_priority = get_int32(j, "schedulingPriority");
    d.created_at = get_int(j, "createdAt");
    return d;
  });
}

Result<JobQueue> queue_from_json(const Json& j) {
  return guarded([&] {
    if (!j.is_object()) fail("jobQueue", "expected a JSON object");
    JobQueue q;
    q.name = get_string(j, "jobQueueName", true);
    q.enabled = parse_enabled(j);
    q.priority = get_int32(j, "priority", false, 1);
    // Absent in queues stored before preemption existed: OFF.
    const std::string preempt = get_string(j, "preemptionMode", false, "OFF");
    auto mode = parse_preempt_mode(preempt);
    if (!mode) fail("preemptionMode", "expected OFF, REQUEUE or CANCEL, got '" + preempt + "'");
    q.preempt_mode = *mode;
    // Absent or null: the scheduler's own mode.
    if (auto b = j.find("backfill"); b != j.end() && !b->is_null()) {
      const std::string text = get_string(j, "backfill");
      auto mode = parse_queue_backfill(text);
      if (!mode) fail("backfill", "expected EASY, CONSERVATIVE or FIFO, got '" + text + "'");
      q.backfill = *mode;
    }
    q.kill_on_invalid_dep = get_bool(j, "killOnInvalidDependency", true);
    q.slurm_env = get_bool(j, "slurmEnvironment", true);
    q.default_time_limit_s = get_int(j, "defaultTimeLimitSeconds");
    q.max_time_limit_s = get_int(j, "maxTimeLimitSeconds");
    q.max_jobs_per_user = get_int32(j, "maxJobsPerUser");
    q.max_vcpus_per_user = get_int32(j, "maxVcpusPerUser");
    if (auto fp = j.find("fairsharePolicy"); fp != j.end() && !fp->is_null()) {
      if (!fp->is_object()) fail("fairsharePolicy", "expected an object, or null for FIFO");
      q.fair_share.enabled = true;
      q.fair_share.share_decay_seconds = get_int(*fp, "shareDecaySeconds");
      q.fair_share.compute_reservation = get_int32(*fp, "computeReservation");
      for (const auto& w : get_list(*fp, "shareDistribution")) {
        ShareWeight sw;
        sw.identifier = get_string(w, "shareIdentifier", true);
        if (auto wf = w.find("weightFactor"); wf != w.end() && !wf->is_null()) {
          if (!wf->is_number()) fail("weightFactor", "expected a number, e.g. 0.5");
          sw.weight = wf->get<double>();
        }
        q.fair_share.weights.push_back(std::move(sw));
      }
      const Json& usage = get_object(*fp, "shareUsage");
      for (auto u = usage.begin(); u != usage.end(); ++u) {
        if (!u->is_object()) fail("shareUsage", "expected objects");
        ShareUsage su;
        if (u->contains("vcpuSeconds") && (*u)["vcpuSeconds"].is_number()) su.vcpu_seconds = (*u)["vcpuSeconds"].get<double>();
        su.at = get_int(*u, "at");
        q.usage[u.key()] = su;
      }
    }
    auto it = j.find("computeEnvironmentOrder");
    if (it != j.end() && !it->is_null()) {
      if (!it->is_array()) fail("computeEnvironmentOrder", "expected a list");
      std::vector<std::pair<int, std::string>> order;
      for (const auto& e : *it) {
        if (e.is_string()) {
          order.emplace_back(static_cast<int>(order.size()) + 1, e.get<std::string>());
          continue;
        }
        order.emplace_back(get_int32(e, "order", false, static_cast<int>(order.size()) + 1),
                           get_string(e, "computeEnvironment", true));
      }
      std::stable_sort(order.begin(), order.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& [o, name] : order) q.compute_environments.push_back(std::move(name));
    }
    q.created_at = get_int(j, "createdAt");
    return q;
  });
}

Result<ComputeEnvironment> environment_from_json(const Json& j) {
  return guarded([&] {
    if (!j.is_object()) fail("computeEnvironment", "expected a JSON object");
    ComputeEnvironment e;
    e.name = get_string(j, "computeEnvironmentName", true);
    e.type = get_string(j, "type", false, "UNMANAGED");
    e.enabled = parse_enabled(j);
    e.max_vcpus = get_int32(j, "maxvCpus");
    e.nodes = get_strings(j, "nodes");
    e.created_at = get_int(j, "createdAt");
    return e;
  });
}

namespace {
NodeTopology topology(const Json& j) {
  if (!j.is_object()) fail("topology", std::string("expected an object, got ") + type_name(j));
  NodeTopology t;
  t.packages = get_int32(j, "packages");
  t.memory_mib = get_int(j, "memoryMiB");
  for (const auto& n : get_list(j, "numa")) {
    NumaDomain d;
    d.os_index = get_int32(n, "osIndex");
    d.memory_mib = get_int(n, "memoryMiB");
    d.pus = get_ints(n, "pus");
    t.numa.push_back(std::move(d));
  }
  for (const auto& c : get_list(j, "cores")) {
    Core core;
    core.package = get_int32(c, "package");
    core.numa = get_int32(c, "numa");
    core.pus = get_ints(c, "pus");
    for (int pu : core.pus)
      if (pu < 0 || pu > 65535) fail("topology.cores.pus", "PU index out of range");
    t.cores.push_back(std::move(core));
  }
  for (const auto& g : get_list(j, "gpus")) {
    Gpu gpu;
    gpu.index = get_int32(g, "index");
    gpu.pci_bus_id = get_string(g, "pciBusId");
    gpu.vendor = get_string(g, "vendor");
    gpu.name = get_string(g, "name");
    gpu.numa = get_int32(g, "numa", false, -1);
    gpu.local_pus = get_ints(g, "localPus");
    t.gpus.push_back(std::move(gpu));
  }
  return t;
}
}  // namespace

Result<NodeTopology> topology_from_json(const Json& j) {
  return guarded([&] { return topology(j); });
}

Result<Node> node_from_json(const Json& j) {
  return guarded([&] {
    if (!j.is_object()) fail("node", std::string("expected an object, got ") + type_name(j));
    Node n;
    n.topology = topology(get_object(j, "topology"));
    n.name = get_string(j, "nodeName", true);
    n.state = parse_node_state(get_string(j, "state", false, "DOWN"));
    n.state_reason = get_string(j, "stateReason");
    n.admin_state = get_bool(j, "adminState");
    n.last_seen = get_int(j, "lastSeen");
    n.agent_features = get_strings(j, "agentFeatures");
    if (j.contains("adminFeatures") && !j["adminFeatures"].is_null()) n.admin_features = get_strings(j, "adminFeatures");
    return n;
  });
}

Result<JobRequest> job_request_from_json(const Json& j) {
  return guarded([&] {
    if (!j.is_object()) fail("request", "expected a JSON object");
    JobRequest r;
    r.name = get_string(j, "jobName");
    r.queue = get_string(j, "jobQueue");
    r.definition = get_string(j, "jobDefinition");
    r.parameters = key_values(get_object(j, "parameters"), "parameters");
    r.tags = key_values(get_object(j, "tags"), "tags");
    // AWS puts overrides under containerOverrides; Drover's CLI sends them flat.
    const Json& o = j.contains("containerOverrides") ? get_object(j, "containerOverrides") : j;
    r.command = get_strings(o, "command");
    r.script = get_string(j, "script");
    if (auto it = o.find("environment"); it != o.end()) r.environment = key_values(*it, "environment");
    if (auto it = o.find("resourceRequirements"); it != o.end() && !it->is_null()) {
      // Sentinels mark what the request leaves to the definition.
      const Resources none{INT32_MIN, INT64_MIN, INT32_MIN};
      const Resources got = resources(o, none);
      if (got.vcpus != INT32_MIN) r.vcpus = got.vcpus;
      if (got.memory_mib != INT64_MIN) r.memory_mib = got.memory_mib;
      if (got.gpus != INT32_MIN) r.gpus = got.gpus;
    }
    if (j.contains("ntasks")) r.ntasks = get_int32(j, "ntasks");
    // AWS nodeProperties (numNodes; the per-node resources are the request's) or
    // nodeOverrides.numNodes.
    if (j.contains("nodeProperties")) {
      const Json& np = get_object(j, "nodeProperties");
      r.nodes = get_int32(np, "numNodes", true);
      if (np.contains("mainNode") && !np["mainNode"].is_null()) r.main_node = get_int32(np, "mainNode");
      // AWS nodeRangeProperties: [{targetNodes, container: {command, environment,
      // resourceRequirements}}]; Drover takes the container's fields flat too.
      for (const auto& g : get_list(np, "nodeRangeProperties")) {
        if (!g.is_object()) fail("nodeProperties.nodeRangeProperties", "expected {targetNodes, container} entries");
        NodeGroupRequest ng;
        ng.target_nodes = get_string(g, "targetNodes", true);
        const Json& c = g.contains("container") ? get_object(g, "container") : g;
        ng.command = get_strings(c, "command");
        if (auto it = c.find("environment"); it != c.end()) ng.environment = key_values(*it, "environment");
        if (auto it = c.find("resourceRequirements"); it != c.end() && !it->is_null()) {
          const Resources none{INT32_MIN, INT64_MIN, INT32_MIN};
          const Resources got = resources(c, none);
          if (got.vcpus != INT32_MIN) ng.vcpus = got.vcpus;
          if (got.memory_mib != INT64_MIN) ng.memory_mib = got.memory_mib;
          if (got.gpus != INT32_MIN) ng.gpus = got.gpus;
        }
        r.node_groups.push_back(std::move(ng));
      }
    }
    if (j.contains("nodeOverrides")) r.nodes = get_int32(get_object(j, "nodeOverrides"), "numNodes", true);
    if (j.contains("timeout"))
      r.timeout_seconds = get_int(get_object(j, "timeout"), "attemptDurationSeconds", true);
    if (j.contains("retryStrategy")) r.retry = retry(get_object(j, "retryStrategy"));
    if (auto it = j.find("dependsOn"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) fail("dependsOn", "expected a list of {jobId, type}");
      for (const auto& d : *it) r.depends_on.push_back(dependency(d, "dependsOn"));
    }
    r.depends_any = get_bool(j, "dependsOnAny");
    r.working_dir = get_string(j, "workingDirectory");
    r.stdout_path = get_string(j, "stdoutPath");
    r.stderr_path = get_string(j, "stderrPath");
    const std::string mode = get_string(j, "openMode", false, "truncate");
    if (mode != "append" && mode != "truncate") fail("openMode", "'" + mode + "' is not append or truncate");
    r.append_output = mode == "append";
    r.slurm_env = get_bool(j, "slurmEnvironment", true);
    r.held = get_bool(j, "held");
    // Checkpointing: {"signal": 10, "secondsBefore": 60, "batchShellOnly": false,
    // "directory": "ckpt/%j"}; a job without a signal does not checkpoint.
    if (const Json& c = get_object(j, "checkpoint"); !c.empty()) {
      const int sig = get_int32(c, "signal");
      if (sig < 0 || sig > 64 || (c.contains("signal") && sig == 0))
        fail("checkpoint.signal", std::to_string(sig) + " is not a signal number (1 to 64)");
      r.checkpoint_signal = sig;
      r.checkpoint_seconds = get_int32(c, "secondsBefore", false, 60);
      if (r.checkpoint_seconds < 0 || r.checkpoint_seconds > 65535)
        fail("checkpoint.secondsBefore", std::to_string(r.checkpoint_seconds) + " is out of range; give 0 to 65535");
      r.checkpoint_batch_only = get_bool(c, "batchShellOnly");
      r.checkpoint_dir = get_string(c, "directory");
    }
    if (j.contains("requeue") && !j["requeue"].is_null()) r.requeue = get_bool(j, "requeue");
    if (j.contains("killOnInvalidDependency") && !j["killOnInvalidDependency"].is_null())
      r.kill_on_invalid_dep = get_bool(j, "killOnInvalidDependency");
    // sbatch -m: "cyclic", "block:cyclic" (nodes[:cores]); absent: block:block.
    if (const std::string d = get_string(j, "distribution"); !d.empty()) {
      auto parsed = parse_distribution(d);
      if (!parsed) fail("distribution", "'" + d + "': " + parsed.message());
      r.distribution = *parsed;
    }
    r.begin_at = get_int(j, "beginAt");  // epoch ms (sbatch --begin)
    r.time_min_seconds = get_int(j, "timeMinSeconds");  // sbatch --time-min
    // AWS: schedulingPriorityOverride; also accepted as schedulingPriority.
    for (const char* k : {"schedulingPriorityOverride", "schedulingPriority"})
      if (j.contains(k) && !j[k].is_null()) r.priority = get_int32(j, k);
    r.nice = get_int32(j, "nice");
    r.share_identifier = get_string(j, "shareIdentifier");
    r.account = get_string(j, "account");
    if (const Json& ns = get_object(j, "nodeSelection"); !ns.empty()) {
      NodeSelectionFields f = node_selection_fields(ns);
      r.constraint = std::move(f.constraint);
      r.node_list = std::move(f.node_list);
      r.exclude = std::move(f.exclude);
      r.exclusive = f.exclusive;
    }
    if (const Json& ap = get_object(j, "arrayProperties"); !ap.empty()) {
      // AWS Batch: {"size": N} runs indexes 0..N-1. Drover also takes Slurm's
      // ranges, [[first, last, step], ...], and a throttle.
      if (ap.contains("ranges") && ap.contains("size"))
        fail("arrayProperties", "give size or ranges, not both");
      if (ap.contains("ranges")) {
        r.array = index_ranges(ap, "ranges");
        if (r.array.empty()) fail("arrayProperties.ranges", "no ranges");
      } else {
        const std::int64_t size = get_int(ap, "size", true);
        if (size < 1 || size > kMaxArrayTasks)
          fail("arrayProperties.size", std::to_string(size) + " is out of range; an array has 1 to " +
                                           std::to_string(kMaxArrayTasks) + " tasks");
        r.array = {{0, size - 1, 1}};
      }
      r.array_max_running = get_int(ap, "maxRunning");
      if (ap.contains("maxRunning") && r.array_max_running < 1)
        fail("arrayProperties.maxRunning", std::to_string(r.array_max_running) +
                                               " would never run a task; give at least 1");
    }
    if (auto it = j.find("submitOptions"); it != j.end() && !it->is_null()) {
      if (!it->is_object()) fail("submitOptions", "expected an object");
      r.submit_options = it->dump();
    }
    return r;
  });
}

}  // namespace drover::proto
