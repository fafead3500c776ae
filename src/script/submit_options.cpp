// The option table and what each option does to SubmitOptions.
#include "script/submit_options.hpp"

#include <algorithm>
#include <cctype>

#include "core/job_request.hpp"
#include "core/node_selection.hpp"
#include "core/resources.hpp"
#include "core/task_distribution.hpp"
#include "core/units.hpp"
#include "script/begin_time.hpp"
#include "core/hostlist.hpp"
#include "script/option_table.hpp"
#include "core/text.hpp"

namespace drover::script {

namespace {

constexpr std::int64_t kMaxCount = 1'000'000;  // nodes, tasks, GPUs: beyond any cluster

// Drops "<what> '<text>': " from a parser's message: the caller already names the option
// and its value.
std::string why_of(const Error& e, std::string_view what, std::string_view text) {
  for (const std::string& prefix : {std::string(what) + " " + quoted(text) + ": ",
                                    std::string(what) + " '" + std::string(text) + "': "}) {
    if (e.message.rfind(prefix, 0) == 0) return e.message.substr(prefix.size());
  }
  return e.message;
}

// Values in messages: as written, but one line and not 4 MiB long.
std::string clip(std::string_view s) {
  const std::string q = quoted(s, 120);
  return q.substr(1, q.size() - 2);
}

// ---- value parsers shared by several options ----

Result<std::int64_t> time_value(std::string_view v) {
  if (v == "-1") return std::int64_t{0};  // Slurm's other spelling of INFINITE
  // sbatch: a limit of zero (0, 0:0, 0-0:0:0...) asks for no limit, like UNLIMITED.
  if (!v.empty() && v.find('0') != std::string_view::npos &&
      std::all_of(v.begin(), v.end(), [](char c) { return c == '0' || c == ':' || c == '-'; })) {
    auto shape = std::string(v);
    std::replace(shape.begin(), shape.end(), '0', '1');
    if (parse_time_limit(shape)) return std::int64_t{0};
  }
  auto r = parse_time_limit(std::string(v));
  if (!r) return Error{"invalid time limit; " + why_of(r.error(), "time limit", v)};
  return *r;
}

Result<std::int64_t> memory_value(std::string_view v) {
  std::string text(v);
  // sbatch accepts a trailing B after the unit ("4GB", "500mb"); core's parser, shared
  // with the API, does not, so the B is dropped here.
  if (text.size() >= 3 && (text.back() == 'B' || text.back() == 'b') &&
      std::string_view("KMGTkmgt").find(text[text.size() - 2]) != std::string_view::npos &&
      std::isdigit(static_cast<unsigned char>(text[text.size() - 3])))
    text.pop_back();
  auto r = parse_memory_mib(text);
  if (!r) return Error{"invalid memory size; " + why_of(r.error(), "memory", text)};
  return *r;
}

bool valid_env_name(std::string_view n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool valid_word(std::string_view n) {  // partition, GPU type, gres name
  return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/';
  });
}

Result<std::vector<GpuCount>> gpu_list(std::string_view v) {
  std::vector<GpuCount> out;
  for (std::string_view part : split(v, ',')) {
    GpuCount g;
    std::string_view count = part;
    if (const auto colon = part.rfind(':'); colon != std::string_view::npos) {
      g.type = std::string(part.substr(0, colon));
      count = part.substr(colon + 1);
      if (!valid_word(g.type))
        return Error{"'" + std::string(part) + "': expected [TYPE:]COUNT, e.g. 2 or a100:2"};
    }
    auto n = parse_count(count, 0, kMaxCount);
    if (!n) return Error{"'" + std::string(part) + "': GPU count " + n.message()};
    g.count = static_cast<int>(*n);
    out.push_back(std::move(g));
  }
  return out;
}

// ---- handlers: each returns the why of an error; apply_option adds where and what ----

template <std::optional<std::string> SubmitOptions::*F>
Status set_text(SubmitOptions& o, std::string_view v, OptionContext&) {
  if (v.empty()) return Error{"needs a value"};
  o.*F = std::string(v);
  return {};
}

template <std::optional<int> SubmitOptions::*F, std::int64_t Min, std::int64_t Max>
Status set_count(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto n = parse_count(v, Min, Max);
  if (!n) return n.error();
  o.*F = static_cast<int>(*n);
  return {};
}

template <bool SubmitOptions::*F>
Status set_flag(SubmitOptions& o, std::string_view, OptionContext&) {
  o.*F = true;
  return {};
}

template <std::optional<std::int64_t> SubmitOptions::*F>
Status set_memory(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto m = memory_value(v);
  if (!m) return m.error();
  o.*F = *m;
  return {};
}

template <std::optional<std::int64_t> SubmitOptions::*F>
Status set_time(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto t = time_value(v);
  if (!t) return t.error();
  o.*F = *t;
  return {};
}

template <std::vector<GpuCount> SubmitOptions::*F>
Status set_gpus(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto g = gpu_list(v);
  if (!g) return g.error();
  o.*F = std::move(*g);
  return {};
}

template <std::vector<std::string> SubmitOptions::*F>
Status set_hostlist(SubmitOptions& o, std::string_view v, OptionContext& c) {
  if (v.find('/') != std::string_view::npos) {
    // sbatch reads a file here; a pure parser cannot, and guessing would be worse.
    return Error{"reading node names from a file is not supported yet; give the names, e.g. node[01-04]"};
  }
  auto names = expand_hostlist(v);
  if (!names) return Error{why_of(names.error(), "hostlist", v)};
  if (names->empty()) return Error{"no node names"};
  o.*F = std::move(*names);
  return {};
}

template <KeyValues SubmitOptions::*F>
Status add_key_value(SubmitOptions& o, std::string_view v, OptionContext&) {
  const auto eq = v.find('=');
  if (eq == std::string_view::npos || eq == 0) return Error{"expected KEY=VALUE"};
  const std::string key(v.substr(0, eq));
  std::string value(v.substr(eq + 1));
  auto& kv = o.*F;
  const auto it = std::find_if(kv.begin(), kv.end(), [&](const auto& p) { return p.first == key; });
  if (it != kv.end())
    it->second = std::move(value);
  else
    kv.emplace_back(key, std::move(value));
  return {};
}

Status set_env(SubmitOptions& o, std::string_view v, OptionContext& c) {
  const auto eq = v.find('=');
  if (eq != std::string_view::npos && !valid_env_name(v.substr(0, eq)))
    return Error{quoted(v.substr(0, eq)) + " is not a variable name (letters, digits and _)"};
  return add_key_value<&SubmitOptions::env>(o, v, c);
}

Status set_partition(SubmitOptions& o, std::string_view v, OptionContext&) {
  std::vector<std::string> parts;
  for (std::string_view p : split(v, ',')) {
    if (!valid_word(p)) return Error{"expected queue names separated by commas, e.g. gpu,batch"};
    parts.emplace_back(p);
  }
  o.partitions = std::move(parts);
  return {};
}

Status set_nodes(SubmitOptions& o, std::string_view v, OptionContext& c) {
  const auto dash = v.find('-', 1);
  auto min = parse_count(v.substr(0, dash), 1, kMaxCount);
  if (!min) return Error{"minimum " + min.message() + "; use N or MIN-MAX, e.g. 2 or 2-4"};
  NodeCount n{static_cast<int>(*min), static_cast<int>(*min)};
  if (dash != std::string_view::npos) {
    auto max = parse_count(v.substr(dash + 1), 1, kMaxCount);
    if (!max) return Error{"maximum " + max.message() + "; use N or MIN-MAX, e.g. 2 or 2-4"};
    if (*max < *min) return Error{"the maximum is below the minimum; use MIN-MAX"};
    n.max = static_cast<int>(*max);
  }
  if (n.max > n.min)
    c.notes.push_back("the job runs on " + std::to_string(n.min) + (n.min == 1 ? " node" : " nodes") +
                      " (Drover starts a node range with its minimum)");
  o.nodes = n;
  return {};
}

Status set_gres(SubmitOptions& o, std::string_view v, OptionContext& c) {
  std::vector<Gres> out;
  if (iequals(v, "none")) {
    o.gres.clear();
    return {};
  }
  for (std::string_view part : split(v, ',')) {
    const auto fields = split(part, ':');
    if (fields.size() > 3 || !valid_word(fields[0]))
      return Error{"'" + std::string(part) + "': expected NAME[:TYPE][:COUNT], e.g. gpu:2 or gpu:a100:2"};
    Gres g;
    g.name = std::string(fields[0]);
    std::size_t n = fields.size();
    if (n >= 2 && (is_digits(fields[n - 1]) || fields[n - 1].rfind('-', 0) == 0)) {
      auto count = parse_count(fields[n - 1], 0, kMaxCount);
      if (!count) return Error{"'" + std::string(part) + "': count " + count.message()};
      g.count = *count;
      --n;
    }
    if (n == 3) return Error{"'" + std::string(part) + "': expected NAME[:TYPE][:COUNT], e.g. gpu:a100:2"};
    if (n == 2) {
      if (!valid_word(fields[1]))
        return Error{"'" + std::string(part) + "': expected NAME[:TYPE][:COUNT], e.g. gpu:a100:2"};
      g.type = std::string(fields[1]);
    }
    if (g.name != "gpu") c.notes.push_back("only gpu resources are scheduled yet; '" + g.name + "' is recorded");
    out.push_back(std::move(g));
  }
  o.gres = std::move(out);
  return {};
}

Status set_array(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto a = parse_array_spec(v);
  if (!a) return Error{why_of(a.error(), "array", v)};
  o.array = std::move(*a);
  return {};
}

Status set_dependency(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto d = parse_dependency(v);
  if (!d) return Error{why_of(d.error(), "dependency", v)};
  // Every kind is evaluated but afterburstbuffer, which `drover submit` refuses.
  o.dependency = std::move(*d);
  return {};
}

Status add_depends_on(SubmitOptions& o, std::string_view v, OptionContext&) {
  for (std::string_view id : split(v, v.find(',') != std::string_view::npos ? ',' : ':')) {
    const auto n = parse_uint(id, kMaxJobId);
    if (!n || *n == 0) return Error{quoted(id) + " is not a job id; give ID[,ID...]"};
    o.depends_on.push_back(*n);
  }
  return {};
}

Status set_begin(SubmitOptions& o, std::string_view v, OptionContext&) {
  // Syntax only here; merge_options resolves it against the submit's clock.
  auto t = parse_begin_time(v, Clock::fixed_offset(1'700'000'000));
  if (!t) return Error{why_of(t.error(), "begin time", v)};
  o.begin = BeginRequest{std::string(v), std::nullopt};
  return {};
}

Status set_signal(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto s = parse_signal_spec(v);
  if (!s) return Error{why_of(s.error(), "signal", v)};
  o.signal = *s;
  return {};
}

Status set_checkpoint(SubmitOptions& o, std::string_view, OptionContext&) {
  if (!o.signal) o.signal = SignalSpec{*signal_number("USR1"), 60, false, false};
  return {};
}

Status set_requeue(SubmitOptions& o, std::string_view v, OptionContext& c) {
  if (c.has_value && !iequals(v, "expedite")) return Error{"the only value is expedite"};
  if (c.has_value) c.notes.push_back("expedite is recorded as a plain requeue");
  o.requeue = true;
  return {};
}

Status set_no_requeue(SubmitOptions& o, std::string_view, OptionContext&) {
  o.requeue = false;
  return {};
}

Status set_kill_on_invalid_dep(SubmitOptions& o, std::string_view v, OptionContext&) {
  if (iequals(v, "yes"))
    o.kill_on_invalid_dep = true;
  else if (iequals(v, "no"))
    o.kill_on_invalid_dep = false;
  else
    return Error{"give yes or no, e.g. --kill-on-invalid-dep=no"};
  return {};
}

Status set_distribution(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto d = parse_distribution(v);
  if (!d) return d.error();
  o.distribution = std::string(v);
  return {};
}

Status set_constraint(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto c = parse_constraint(v);
  if (!c) return Error{c.message() + "; e.g. gpu, gpu&a100, v100|a100, [rack1|rack2]"};
  o.constraint = std::string(v);
  return {};
}

Status set_exclusive(SubmitOptions& o, std::string_view v, OptionContext& c) {
  if (!c.has_value) {
    o.exclusive = "";
    return {};
  }
  const std::string w = to_lower(v);
  if (w != "user" && w != "mcs" && w != "topo") return Error{"expected user, mcs or topo, or no value"};
  o.exclusive = w;
  return {};
}

Status set_export(SubmitOptions& o, std::string_view v, OptionContext&) {
  ExportSpec e;
  bool all = false, none = false;
  if (v.empty()) return Error{"expected ALL, NONE or VAR[=VALUE],..."};
  for (std::string_view part : split(v, ',')) {
    if (iequals(part, "ALL")) {
      all = true;
      continue;
    }
    if (iequals(part, "NONE")) {
      none = true;
      continue;
    }
    const auto eq = part.find('=');
    ExportSpec::Variable var{std::string(part.substr(0, eq)), std::nullopt};
    if (eq != std::string_view::npos) var.value = std::string(part.substr(eq + 1));
    if (!valid_env_name(var.name))
      return Error{quoted(var.name) + " is not a variable name; expected ALL, NONE or VAR[=VALUE],..."};
    e.variables.push_back(std::move(var));
  }
  if (all && none) return Error{"ALL and NONE contradict each other"};
  e.base = all ? ExportSpec::Base::All : none ? ExportSpec::Base::None : ExportSpec::Base::Listed;
  o.export_env = std::move(e);
  return {};
}

Status set_mail_type(SubmitOptions& o, std::string_view v, OptionContext&) {
  static const std::string_view kTypes[] = {"NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL",
                                            "INVALID_DEPEND", "STAGE_OUT", "TIME_LIMIT",
                                            "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50",
                                            "ARRAY_TASKS"};
  std::vector<std::string> types;
  for (std::string_view part : split(v, ',')) {
    const std::string t = to_upper(part);
    if (std::find(std::begin(kTypes), std::end(kTypes), t) == std::end(kTypes))
      return Error{quoted(part) + " is not a mail type; use NONE, BEGIN, END, FAIL, REQUEUE, ALL, "
                                  "INVALID_DEPEND, STAGE_OUT, TIME_LIMIT[_90|_80|_50] or ARRAY_TASKS"};
    types.push_back(t);
  }
  o.mail_types = std::move(types);
  return {};
}

Status set_open_mode(SubmitOptions& o, std::string_view v, OptionContext&) {
  const std::string w = to_lower(v);
  if (!w.empty() && std::string_view("append").substr(0, w.size()) == w)
    o.open_mode = "append";
  else if (!w.empty() && std::string_view("truncate").substr(0, w.size()) == w)
    o.open_mode = "truncate";
  else
    return Error{"expected append or truncate"};
  return {};
}

Status set_nice(SubmitOptions& o, std::string_view v, OptionContext& c) {
  if (!c.has_value) {
    o.nice = 100;  // sbatch's default adjustment
    return {};
  }
  const bool negative = !v.empty() && v[0] == '-';
  const std::string_view digits = !v.empty() && (v[0] == '-' || v[0] == '+') ? v.substr(1) : v;
  const auto n = parse_uint(digits, kMaxNice);
  if (!n) return Error{"expected a whole number from -10000 to 10000 (higher waits longer)"};
  o.nice = static_cast<int>(negative ? -*n : *n);
  return {};
}

Status set_priority(SubmitOptions& o, std::string_view v, OptionContext&) {
  if (iequals(v, "TOP")) {
    o.priority = "TOP";
    return {};
  }
  const auto n = parse_uint(v, kMaxSchedulingPriority);
  if (!n) return Error{"expected a whole number from 0 to 9999 (higher runs first), or TOP"};
  o.priority = std::to_string(*n);
  return {};
}

Status set_retry(SubmitOptions& o, std::string_view v, OptionContext&) {
  auto n = parse_count(v, 1, kMaxAttempts);
  if (!n) return Error{"total attempts " + n.message()};
  o.retry_attempts = static_cast<int>(*n);
  return {};
}

Status set_verbose(SubmitOptions& o, std::string_view, OptionContext&) {
  ++o.verbose;
  return {};
}

Status set_help(SubmitOptions& o, std::string_view, OptionContext&) {
  o.help = true;
  return {};
}

// ---- the table ----

using enum OptionValue;
using enum Support;
using O = SubmitOptions;

constexpr std::string_view kNoEquivalent = "Drover has no equivalent yet";

// Kept in sbatch's man-page order (alphabetical by long name), Drover's own at the end.
const OptionSpec kOptions[] = {
    {"account", 'A', Required, Honoured, "account", "account whose fair share the job uses", "",
     &set_text<&O::account>},
    {"acctg-freq", 0, Required, NotSupportedYet, "acctg-freq", "", kNoEquivalent, nullptr},
    {"array", 'a', Required, Honoured, "array", "array job: 0-15, 1,3,5-9, 0-99:10, 1-1000%50 (at most 50 at once)",
     "", &set_array},
    {"batch", 0, Required, NotSupportedYet, "batch", "", "node features for the batch step are not modelled",
     nullptr},
    {"bb", 0, Required, NotSupportedYet, "bb", "", "no burst buffers", nullptr},
    {"bbf", 0, Required, NotSupportedYet, "bbf", "", "no burst buffers", nullptr},
    {"begin", 'b', Required, Honoured, "begin", "start no earlier than: 16:00, now+1hour, tomorrow...", "",
     &set_begin},
    {"chdir", 'D', Required, Honoured, "chdir", "working directory (default: the current directory)", "",
     &set_text<&O::chdir>},
    {"cluster", 0, Required, NotSupportedYet, "clusters", "", "one cluster per Drover head", nullptr},
    {"cluster-constraint", 0, Required, NotSupportedYet, "cluster-constraint", "", "no federation", nullptr},
    {"clusters", 'M', Required, NotSupportedYet, "clusters", "", "one cluster per Drover head", nullptr},
    {"comment", 0, Required, Honoured, "comment", "a comment kept with the job (drover show prints it)", "",
     &set_text<&O::comment>},
    {"consolidate-segments", 0, None, NotSupportedYet, "consolidate-segments", "", kNoEquivalent, nullptr},
    {"constraint", 'C', Required, Honoured, "constraint",
     "node features: gpu, gpu&a100 (all), v100|a100 (any), [rack1|rack2] (all nodes the same one)", "",
     &set_constraint},
    {"container", 0, Required, NotSupportedYet, "container", "", "no OCI containers yet", nullptr},
    {"container-id", 0, Required, NotSupportedYet, "container-id", "", "no OCI containers yet", nullptr},
    {"contiguous", 0, None, NotSupportedYet, "contiguous", "", kNoEquivalent, nullptr},
    {"core-spec", 'S', Required, NotSupportedYet, "core-spec", "", kNoEquivalent, nullptr},
    {"cores-per-socket", 0, Required, NotSupportedYet, "cores-per-socket", "", "placement chooses cores itself",
     nullptr},
    {"cpu-freq", 0, Required, NotSupportedYet, "cpu-freq", "", kNoEquivalent, nullptr},
    {"cpus-per-gpu", 0, Required, NotSupportedYet, "cpus-per-gpu", "", "use --cpus-per-task", nullptr},
    {"cpus-per-task", 'c', Required, Honoured, "cpus-per-task", "vCPUs (hardware threads) per task, default 1",
     "", &set_count<&O::cpus_per_task, 1, kMaxVcpus>},
    {"deadline", 0, Required, NotSupportedYet, "deadline", "", kNoEquivalent, nullptr},
    {"delay-boot", 0, Required, NotSupportedYet, "delay-boot", "", "nodes are not rebooted", nullptr},
    {"dependency", 'd', Required, Honoured, "dependency",
     "start after other jobs: afterok:ID[:ID], afterany:ID, afternotok:ID, after:ID[+MIN], ID_TASK, "
     "aftercorr:ARRAY, singleton; ',' all, '?' any", "",
     &set_dependency},
    {"distribution", 'm', Required, Honoured, "distribution",
     "how ranks are laid out: NODES[:CORES], block (default) or cyclic, cores also fcyclic; e.g. cyclic, "
     "block:cyclic", "", &set_distribution},
    {"error", 'e', Required, Honoured, "error", "stderr file pattern (default: with stdout)", "",
     &set_text<&O::error>},
    {"exclude", 'x', Required, Honoured, "exclude", "nodes not to use: node[01-04]", "",
     &set_hostlist<&O::exclude>},
    {"exclusive", 0, Optional, Honoured, "exclusive",
     "whole nodes: no other job runs there, the job gets all their CPUs and GPUs", "", &set_exclusive},
    {"export", 0, Required, Honoured, "export", "environment to pass: ALL, NONE or VAR[=VALUE],...", "",
     &set_export},
    {"export-file", 0, Required, NotSupportedYet, "export-file", "", "use --export or --env", nullptr},
    {"extra", 0, Required, NotSupportedYet, "extra", "", kNoEquivalent, nullptr},
    {"extra-node-info", 'B', Required, NotSupportedYet, "extra-node-info", "", "placement chooses cores itself",
     nullptr},
    {"get-user-env", 0, Optional, NotSupportedYet, "get-user-env", "", "use --export", nullptr},
    {"gid", 0, Required, NotSupportedYet, "gid", "", "jobs run as the submitter", nullptr},
    {"gpu-bind", 0, Required, NotSupportedYet, "gpu-bind", "", "GPUs are bound by placement", nullptr},
    {"gpu-freq", 0, Required, NotSupportedYet, "gpu-freq", "", kNoEquivalent, nullptr},
    {"gpus", 'G', Required, Honoured, "gpus", "GPUs for the job: [TYPE:]N", "", &set_gpus<&O::gpus>},
    {"gpus-per-node", 0, Required, Honoured, "gpus-per-node", "GPUs per node: [TYPE:]N", "",
     &set_gpus<&O::gpus_per_node>},
    {"gpus-per-socket", 0, Required, NotSupportedYet, "gpus-per-socket", "", "use --gpus-per-node", nullptr},
    {"gpus-per-task", 0, Required, Honoured, "gpus-per-task", "GPUs per task: [TYPE:]N", "",
     &set_gpus<&O::gpus_per_task>},
    {"gres", 0, Required, Honoured, "gres", "generic resources per node: gpu[:TYPE]:N", "", &set_gres},
    {"gres-flags", 0, Required, NotSupportedYet, "gres-flags", "", kNoEquivalent, nullptr},
    {"help", 'h', None, Honoured, "help", "show this help", "", &set_help, true},
    {"hint", 0, Required, NotSupportedYet, "hint", "", "placement chooses cores itself", nullptr},
    {"hold", 'H', None, Honoured, "hold", "submit held: it waits until `drover release`", "",
     &set_flag<&O::hold>},
    {"ignore-pbs", 0, None, NotSupportedYet, "ignore-pbs", "", "#PBS lines are never read", nullptr},
    {"input", 'i', Required, RecordedOnly, "input", "stdin file pattern",
     "the job's standard input is /dev/null", &set_text<&O::input>},
    {"job-name", 'J', Required, Honoured, "job-name", "job name (default: the script's file name)", "",
     &set_text<&O::job_name>},
    {"kill-on-invalid-dep", 0, Required, Honoured, "kill-on-invalid-dep",
     "yes: fail the job if a dependency can never be met; no: keep it PENDING (default: the queue's)", "",
     &set_kill_on_invalid_dep},
    {"licenses", 'L', Required, NotSupportedYet, "licenses", "", "no licenses", nullptr},
    {"mail-type", 0, Required, RecordedOnly, "mail-type", "when to send mail: BEGIN, END, FAIL, ALL...",
     "Drover sends no mail yet", &set_mail_type},
    {"mail-user", 0, Required, RecordedOnly, "mail-user", "who gets mail", "Drover sends no mail yet",
     &set_text<&O::mail_user>},
    {"mcs-label", 0, Required, NotSupportedYet, "mcs-label", "", kNoEquivalent, nullptr},
    {"mem", 0, Required, Honoured, "mem", "memory per node: 500M, 4G (a plain number is MiB)", "",
     &set_memory<&O::mem_per_node_mib>},
    {"mem-bind", 0, Required, NotSupportedYet, "mem-bind", "", "memory follows the placement's NUMA domain",
     nullptr},
    {"mem-per-cpu", 0, Required, Honoured, "mem-per-cpu", "memory per vCPU", "",
     &set_memory<&O::mem_per_cpu_mib>},
    {"mem-per-gpu", 0, Required, Honoured, "mem-per-gpu", "memory per GPU", "",
     &set_memory<&O::mem_per_gpu_mib>},
    {"mincpus", 0, Required, NotSupportedYet, "mincpus", "", "use --cpus-per-task", nullptr},
    {"network", 0, Required, NotSupportedYet, "network", "", kNoEquivalent, nullptr},
    {"nice", 0, Optional, Honoured, "nice", "lower the job's priority: --nice[=N] (default 100)", "",
     &set_nice},
    {"no-kill", 'k', Optional, NotSupportedYet, "no-kill", "", "a lost node fails the job", nullptr},
    {"no-requeue", 0, None, Honoured, "requeue", "never requeue after a lost node or a preemption", "",
     &set_no_requeue},
    {"nodefile", 'F', Required, NotSupportedYet, "nodefile", "", "use --nodelist", nullptr},
    {"nodelist", 'w', Required, Honoured, "nodelist", "nodes the job gets (all of them): node[01-04]", "",
     &set_hostlist<&O::nodelist>},
    {"nodes", 'N', Required, Honoured, "nodes", "nodes: N or MIN-MAX", "", &set_nodes},
    {"ntasks", 'n', Required, Honoured, "ntasks", "tasks (MPI ranks)", "",
     &set_count<&O::ntasks, 1, kMaxCount>},
    {"ntasks-per-core", 0, Required, NotSupportedYet, "ntasks-per-core", "", "placement chooses cores itself",
     nullptr},
    {"ntasks-per-gpu", 0, Required, NotSupportedYet, "ntasks-per-gpu", "", "use --gpus-per-task", nullptr},
    {"ntasks-per-node", 0, Required, Honoured, "ntasks-per-node", "tasks per node", "",
     &set_count<&O::ntasks_per_node, 1, kMaxCount>},
    {"ntasks-per-socket", 0, Required, NotSupportedYet, "ntasks-per-socket", "",
     "placement chooses cores itself", nullptr},
    {"oom-kill-step", 0, Optional, NotSupportedYet, "oom-kill-step", "", kNoEquivalent, nullptr},
    {"open-mode", 0, Required, Honoured, "open-mode",
     "output files: append (keep what earlier attempts wrote) or truncate (default)", "", &set_open_mode},
    {"output", 'o', Required, Honoured, "output",
     "stdout file pattern: %j job id, %x name, %u user, %N node (default drover-%j.out)", "",
     &set_text<&O::output>},
    {"overcommit", 'O', None, NotSupportedYet, "overcommit", "", kNoEquivalent, nullptr},
    {"oversubscribe", 's', None, NotSupportedYet, "oversubscribe", "", kNoEquivalent, nullptr},
    {"parsable", 0, None, Honoured, "parsable", "print only the job id", "", &set_flag<&O::parsable>},
    {"partition", 'p', Required, Honoured, "partition",
     "queues, first that can run the job (default: the cluster's default queue)", "", &set_partition},
    {"power", 0, Required, NotSupportedYet, "power", "", kNoEquivalent, nullptr},
    {"prefer", 0, Required, NotSupportedYet, "prefer", "",
     "soft feature preferences are not supported; --constraint is a requirement", nullptr},
    {"priority", 0, Required, Honoured, "priority", "priority 0-9999 (higher first), or TOP (9999)", "",
     &set_priority},
    {"profile", 0, Required, NotSupportedYet, "profile", "", kNoEquivalent, nullptr},
    {"propagate", 0, Optional, NotSupportedYet, "propagate", "", "limits are the cgroup's", nullptr},
    {"qos", 'q', Required, RecordedOnly, "qos", "quality of service", "QOS limits come later",
     &set_text<&O::qos>},
    {"quiet", 'Q', None, Honoured, "quiet", "print no informational messages", "", &set_flag<&O::quiet>},
    {"reboot", 0, None, NotSupportedYet, "reboot", "", "nodes are not rebooted", nullptr},
    {"requeue", 0, Optional, Honoured, "requeue",
     "requeue after a lost node or a preemption (default for jobs that checkpoint)", "", &set_requeue},
    {"reservation", 0, Required, NotSupportedYet, "reservation", "", "no reservations yet", nullptr},
    {"segment", 0, Required, NotSupportedYet, "segment", "", kNoEquivalent, nullptr},
    {"signal", 0, Required, Honoured, "signal",
     "checkpoint signal before the time limit: [B:]SIG[@SECONDS] (B: the batch shell only)", "", &set_signal},
    {"sockets-per-node", 0, Required, NotSupportedYet, "sockets-per-node", "",
     "placement chooses cores itself", nullptr},
    {"spread-job", 0, None, NotSupportedYet, "spread-job", "", kNoEquivalent, nullptr},
    {"spread-segments", 0, None, NotSupportedYet, "spread-segments", "", kNoEquivalent, nullptr},
    {"stepmgr", 0, None, NotSupportedYet, "stepmgr", "", kNoEquivalent, nullptr},
    {"switches", 0, Required, NotSupportedYet, "switches", "", "network topology is not modelled", nullptr},
    {"tasks-per-node", 0, Required, Honoured, "ntasks-per-node", "same as --ntasks-per-node", "",
     &set_count<&O::ntasks_per_node, 1, kMaxCount>},
    {"test-only", 0, None, Honoured, "test-only", "check the job and print what was asked; submit nothing",
     "", &set_flag<&O::test_only>},
    {"thread-spec", 0, Required, NotSupportedYet, "thread-spec", "", kNoEquivalent, nullptr},
    {"threads-per-core", 0, Required, NotSupportedYet, "threads-per-core", "",
     "vCPUs are hardware threads already", nullptr},
    {"time", 't', Required, Honoured, "time",
     "time limit: minutes, M:S, H:M:S, D-H, D-H:M, D-H:M:S or UNLIMITED", "", &set_time<&O::time_limit_s>},
    {"time-min", 0, Required, Honoured, "time-min",
     "shortest acceptable time limit: the limit may be cut down to it (whole minutes) to start sooner in a "
     "backfill hole",
     "", &set_time<&O::time_min_s>},
    {"tmp", 0, Required, NotSupportedYet, "tmp", "", "local disk is not scheduled", nullptr},
    {"tres-bind", 0, Required, NotSupportedYet, "tres-bind", "", kNoEquivalent, nullptr},
    {"tres-per-task", 0, Required, NotSupportedYet, "tres-per-task", "",
     "use --cpus-per-task and --gpus-per-task", nullptr},
    {"uid", 0, Required, NotSupportedYet, "uid", "", "jobs run as the submitter", nullptr},
    {"usage", 'u', None, Honoured, "help", "show this help", "", &set_help, true},
    {"use-min-nodes", 0, None, NotSupportedYet, "use-min-nodes", "", kNoEquivalent, nullptr},
    {"verbose", 'v', None, Honoured, "verbose", "more messages (repeatable)", "", &set_verbose, false, true},
    {"version", 'V', None, Honoured, "version", "print the version", "", &set_flag<&O::version>, true},
    {"wait", 'W', None, Honoured, "wait", "wait for the job to end; exit with its exit code", "",
     &set_flag<&O::wait>},
    {"wait-all-nodes", 0, Required, NotSupportedYet, "wait-all-nodes", "", "nodes are always up", nullptr},
    {"wckey", 0, Required, NotSupportedYet, "wckey", "", "accounting comes later", nullptr},
    {"wrap", 0, Required, Honoured, "wrap", "run this shell command as the job (sh -c)", "",
     &set_text<&O::wrap>, true},
    // Drover's own.
    {"checkpoint", 0, None, Honoured, "checkpoint",
     "the job checkpoints: SIGUSR1 60 s before it is stopped, requeued after (docs/CHECKPOINT.md)", "",
     &set_checkpoint},
    {"checkpoint-dir", 0, Required, Honoured, "checkpoint-dir",
     "checkpoint directory pattern, %j job id (default drover-checkpoints/%j)", "", &set_text<&O::checkpoint_dir>},
    {"checkpoint-signal", 0, Required, Honoured, "signal", "same as --signal: [B:]SIG[@SECONDS], e.g. USR1@120", "",
     &set_signal},
    {"definition", 0, Required, Honoured, "definition", "job definition NAME[:REVISION] to start from", "",
     &set_text<&O::definition>},
    {"depends-on", 0, Required, Honoured, "depends-on", "start after job ID succeeds (repeatable)", "",
     &add_depends_on, false, true},
    {"env", 0, Required, Honoured, "env", "set KEY=VALUE in the job's environment (repeatable)", "", &set_env,
     false, true},
    {"json", 0, None, Honoured, "json", "print the reply as JSON", "", &set_flag<&O::json>},
    {"name", 0, Required, Honoured, "job-name", "same as --job-name", "", &set_text<&O::job_name>},
    {"parameter", 0, Required, Honoured, "parameter", "job definition parameter KEY=VALUE (repeatable)", "",
     &add_key_value<&O::parameters>, false, true},
    {"queue", 0, Required, Honoured, "partition", "same as --partition", "", &set_partition},
    {"retry", 0, Required, Honoured, "retry", "total attempts if the job fails, 1-10 (AWS retryStrategy)", "",
     &set_retry},
    {"tag", 0, Required, Honoured, "tag", "tag KEY=VALUE (repeatable)", "", &add_key_value<&O::tags>, false,
     true},
    {"no-slurm-env", 0, None, Honoured, "no-slurm-env",
     "do not set the SLURM_* compatibility variables in the job", "", &set_flag<&O::no_slurm_env>},
};

bool is_memory_field(std::string_view f) { return f == "mem" || f == "mem-per-cpu" || f == "mem-per-gpu"; }

void clear_memory_field(SubmitOptions& o, std::string_view f) {
  if (f == "mem") o.mem_per_node_mib.reset();
  if (f == "mem-per-cpu") o.mem_per_cpu_mib.reset();
  if (f == "mem-per-gpu") o.mem_per_gpu_mib.reset();
}

std::vector<EnvironmentOption> build_environment_options() {
  // sbatch's input variables (src/sbatch/opt.c env_vars[]) that name options in the table.
  static const std::pair<std::string_view, std::string_view> kSbatch[] = {
      {"ACCOUNT", "account"},           {"ACCTG_FREQ", "acctg-freq"},
      {"ARRAY_INX", "array"},           {"BATCH", "batch"},
      {"BURST_BUFFER", "bb"},           {"CLUSTER_CONSTRAINT", "cluster-constraint"},
      {"CLUSTERS", "clusters"},         {"CONSOLIDATE_SEGMENTS", "consolidate-segments"},
      {"CONSTRAINT", "constraint"},     {"CONTAINER", "container"},
      {"CONTAINER_ID", "container-id"}, {"CORE_SPEC", "core-spec"},
      {"CPU_FREQ_REQ", "cpu-freq"},     {"CPUS_PER_GPU", "cpus-per-gpu"},
      {"DEBUG", "verbose"},             {"DELAY_BOOT", "delay-boot"},
      {"DISTRIBUTION", "distribution"}, {"ERROR", "error"},
      {"EXCLUSIVE", "exclusive"},       {"EXPORT", "export"},
      {"GET_USER_ENV", "get-user-env"}, {"GPU_BIND", "gpu-bind"},
      {"GPU_FREQ", "gpu-freq"},         {"GPUS", "gpus"},
      {"GPUS_PER_NODE", "gpus-per-node"}, {"GPUS_PER_SOCKET", "gpus-per-socket"},
      {"GPUS_PER_TASK", "gpus-per-task"}, {"GRES", "gres"},
      {"GRES_FLAGS", "gres-flags"},     {"HINT", "hint"},
      {"IGNORE_PBS", "ignore-pbs"},     {"INPUT", "input"},
      {"JOB_NAME", "job-name"},         {"MEM_BIND", "mem-bind"},
      {"MEM_PER_CPU", "mem-per-cpu"},   {"MEM_PER_GPU", "mem-per-gpu"},
      {"MEM_PER_NODE", "mem"},          {"NETWORK", "network"},
      {"NO_KILL", "no-kill"},           {"NO_REQUEUE", "no-requeue"},
      {"OPEN_MODE", "open-mode"},       {"OUTPUT", "output"},
      {"OVERCOMMIT", "overcommit"},     {"PARTITION", "partition"},
      {"POWER", "power"},               {"PROFILE", "profile"},
      {"QOS", "qos"},                   {"REQ_SWITCH", "switches"},
      {"REQUEUE", "requeue"},           {"RESERVATION", "reservation"},
      {"SEGMENT_SIZE", "segment"},      {"SIGNAL", "signal"},
      {"SPREAD_JOB", "spread-job"},     {"SPREAD_SEGMENTS", "spread-segments"},
      {"THREAD_SPEC", "thread-spec"},   {"THREADS_PER_CORE", "threads-per-core"},
      {"TIMELIMIT", "time"},            {"TRES_BIND", "tres-bind"},
      {"TRES_PER_TASK", "tres-per-task"}, {"USE_MIN_NODES", "use-min-nodes"},
      {"WAIT", "wait"},                 {"WAIT_ALL_NODES", "wait-all-nodes"},
      {"WCKEY", "wckey"},
  };
  static const std::pair<std::string_view, std::string_view> kDroverOnly[] = {
      {"QUEUE", "queue"}, {"DEFINITION", "definition"}, {"RETRY", "retry"}};
  // string_views into storage that lives as long as the program.
  static std::vector<std::string> names;
  std::vector<EnvironmentOption> out;
  names.reserve(std::size(kSbatch) * 2 + std::size(kDroverOnly));
  for (const auto& [suffix, option] : kSbatch) {
    names.push_back("SBATCH_" + std::string(suffix));
    out.push_back({names.back(), option});
  }
  for (const auto& [suffix, option] : kSbatch) {
    names.push_back("DROVER_SUBMIT_" + std::string(suffix));
    out.push_back({names.back(), option});
  }
  for (const auto& [suffix, option] : kDroverOnly) {
    names.push_back("DROVER_SUBMIT_" + std::string(suffix));
    out.push_back({names.back(), option});
  }
  return out;
}

}  // namespace

const char* to_string(Support s) {
  switch (s) {
    case Support::Honoured: return "honoured";
    case Support::RecordedOnly: return "recorded only";
    case Support::NotSupportedYet: return "not supported yet";
  }
  return "?";
}

std::string Origin::describe() const {
  switch (source) {
    case Source::CommandLine: return "command line";
    case Source::Environment: return "environment " + variable;
    case Source::SbatchDirective:
    case Source::DroverDirective: return file + ":" + std::to_string(line);
  }
  return "?";
}

std::span<const OptionSpec> option_table() { return kOptions; }

std::span<const EnvironmentOption> environment_options() {
  static const std::vector<EnvironmentOption> kEnv = build_environment_options();
  return kEnv;
}

const OptionSpec* find_short_option(char letter) {
  if (letter == 0) return nullptr;
  for (const auto& o : kOptions)
    if (o.short_name == letter) return &o;
  return nullptr;
}

Result<const OptionSpec*> find_long_option(std::string_view name) {
  std::vector<const OptionSpec*> prefixed;
  for (const auto& o : kOptions) {
    if (o.name == name) return &o;
    if (!name.empty() && o.name.substr(0, name.size()) == name) prefixed.push_back(&o);
  }
  // Aliases of one field (--tasks-per-node, --ntasks-per-node) are one option to getopt.
  if (!prefixed.empty() &&
      std::all_of(prefixed.begin(), prefixed.end(), [&](const OptionSpec* o) {
        return o->field == prefixed[0]->field && o->apply == prefixed[0]->apply;
      }))
    return prefixed[0];
  if (prefixed.size() > 1) {
    std::string list;
    for (std::size_t i = 0; i < prefixed.size(); ++i) {
      if (i > 0) list += i + 1 == prefixed.size() ? " or " : ", ";
      list += "--" + std::string(prefixed[i]->name);
    }
    return Error{"ambiguous: " + list + "?"};
  }
  // "Did you mean": the closest name within a few edits.
  const std::size_t cap = std::max<std::size_t>(2, name.size() / 4);
  const OptionSpec* best = nullptr;
  std::size_t best_d = cap + 1;
  for (const auto& o : kOptions) {
    const std::size_t d = edit_distance(name, o.name, cap);
    if (d < best_d) {
      best_d = d;
      best = &o;
    }
  }
  if (best) return Error{"unknown option; did you mean --" + std::string(best->name) + "?"};
  return Error{"unknown option (see drover submit --help)"};
}

std::string options_help() {
  auto left = [](const OptionSpec& o) {
    std::string s = o.short_name ? std::string("  -") + o.short_name + ", " : std::string("      ");
    s += "--" + std::string(o.name);
    if (o.value == OptionValue::Required) s += "=VALUE";
    if (o.value == OptionValue::Optional) s += "[=VALUE]";
    return s;
  };
  auto section = [&](Support support, const char* title) {
    std::string out = std::string(title) + ":\n";
    for (const auto& o : kOptions) {
      if (o.support != support) continue;
      std::string line = left(o);
      if (line.size() < 32) line.resize(32, ' ');
      else line += "  ";
      out += line + std::string(support == Support::Honoured ? o.help : o.note) + "\n";
    }
    return out;
  };
  std::string out = section(Support::Honoured, "Options") + "\n" +
                    section(Support::RecordedOnly, "Recorded with the job, not acted on yet") + "\n" +
                    "Accepted for sbatch scripts, not supported yet (a warning says so):\n ";
  std::size_t width = 1;
  for (const auto& o : kOptions) {
    if (o.support != Support::NotSupportedYet) continue;
    const std::string name = " --" + std::string(o.name);
    if (width + name.size() > 90) {
      out += "\n ";
      width = 1;
    }
    out += name;
    width += name.size();
  }
  return out + "\n";
}

std::string spell(const OptionSpec& option, std::optional<std::string_view> value) {
  std::string out = "--" + std::string(option.name);
  if (value) out += "=" + clip(*value);
  return out;
}

Result<const OptionSpec*> lookup_option(std::string_view word) {
  std::string_view bare = word;
  const bool long_form = bare.substr(0, 2) == "--" || (bare.size() > 1 && bare[0] != '-');
  while (!bare.empty() && bare[0] == '-') bare.remove_prefix(1);
  const std::string shown = (long_form ? "--" : "-") + clip(bare);
  if (bare.empty()) return Error{"'" + std::string(word) + "': not an option name"};
  if (bare.size() == 1 && !long_form) {
    if (const OptionSpec* spec = find_short_option(bare[0])) return spec;
    std::string why = shown + ": unknown option";
    if (bare[0] == 'l') why += " (PBS resource lists are not read; use --time, --nodes, --ntasks, --mem)";
    return Error{why};
  }
  auto found = find_long_option(bare);
  if (!found) return Error{shown + ": " + found.message()};
  return *found;
}

Status apply_option(SubmitOptions& o, std::string_view name, std::optional<std::string_view> value,
                    const Origin& where) {
  const std::string at = where.describe() + ": ";
  auto found = lookup_option(name);
  if (!found) return Error{at + found.message()};
  const OptionSpec* spec = *found;
  const std::string spelled = spell(*spec, value);

  if (spec->value == OptionValue::None && value)
    return Error{at + spelled + ": takes no value"};
  if (spec->value == OptionValue::Required && !value) return Error{at + spelled + ": needs a value"};

  if (spec->command_line_only && where.source != Source::CommandLine) {
    if (spec->name == "wrap")
      return Error{at + spelled + ": only on the command line; a script is the job already"};
    o.warnings.push_back(at + spelled + ": only means something on the command line; ignored");
    return {};
  }

  const std::string field(spec->field);
  if (spec->support == Support::NotSupportedYet) {
    auto& u = o.unsupported;
    u.erase(std::remove_if(u.begin(), u.end(), [&](const auto& x) { return x.name == spec->name; }), u.end());
    u.push_back({std::string(spec->name),
                 value ? std::optional<std::string>(std::string(*value)) : std::nullopt, where});
    o.set_by[field] = where;
    o.warnings.push_back(at + spelled + ": not supported yet, ignored: " + std::string(spec->note));
    return {};
  }

  // --mem, --mem-per-cpu and --mem-per-gpu are one request: sbatch refuses two in one
  // place; from a higher-precedence source the new one replaces the old.
  if (is_memory_field(field)) {
    for (std::string_view other : {"mem", "mem-per-cpu", "mem-per-gpu"}) {
      if (other == field) continue;
      const auto it = o.set_by.find(std::string(other));
      if (it == o.set_by.end()) continue;
      if (it->second.source == where.source)
        return Error{at + spelled + ": cannot be combined with --" + std::string(other) + " (" +
                     it->second.describe() + "); --mem, --mem-per-cpu and --mem-per-gpu exclude each other"};
      clear_memory_field(o, other);
      o.set_by.erase(it);
    }
  }

  OptionContext context;
  context.has_value = value.has_value();
  if (auto st = spec->apply(o, value.value_or(std::string_view{}), context); !st)
    return Error{at + spelled + ": " + st.message()};

  // The same option twice in one script is legal (the last wins), and usually a slip.
  if (const auto it = o.set_by.find(field);
      it != o.set_by.end() && !spec->repeatable && it->second.source == where.source &&
      where.source != Source::CommandLine && where.source != Source::Environment)
    o.warnings.push_back(at + spelled + ": replaces the value from " + it->second.describe());
  o.set_by[field] = where;

  for (const auto& note : context.notes) o.warnings.push_back(at + spelled + ": " + note);
  if (spec->support == Support::RecordedOnly)
    o.warnings.push_back(at + spelled + ": recorded, not acted on yet: " + std::string(spec->note));
  return {};
}

}  // namespace drover::script
