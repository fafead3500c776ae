// Everything a user can ask for at submit, as asked: sbatch's options and Drover's own,
// from #SBATCH/#DROVER directives, SBATCH_*/DROVER_SUBMIT_* variables and the command line.
// The job record keeps what was asked; turning it into a JobRequest (what Drover does
// with it) is the CLI's and the server's business.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job_definition.hpp"
#include "core/result.hpp"
#include "script/array_spec.hpp"
#include "script/dependency.hpp"
#include "script/signal_spec.hpp"

namespace drover::script {

// Where an option came from, lowest precedence first: a later source overrides an
// earlier one (command line > environment > #DROVER > #SBATCH).
enum class Source { SbatchDirective, DroverDirective, Environment, CommandLine };

struct Origin {
  Source source = Source::CommandLine;
  std::string file;      // directives: the script's name as the user gave it
  int line = 0;          // directives: 1-based
  std::string variable;  // environment: SBATCH_TIMELIMIT, DROVER_SUBMIT_QUEUE...

  static Origin command_line() { return {}; }
  static Origin directive(Source s, std::string file, int line) { return {s, std::move(file), line, {}}; }
  static Origin environment(std::string variable) {
    return {Source::Environment, {}, 0, std::move(variable)};
  }
  // "job.sh:7", "command line", "environment SBATCH_TIMELIMIT": how messages begin.
  std::string describe() const;
  bool operator==(const Origin&) const = default;
};

struct NodeCount {
  int min = 1;
  int max = 1;  // == min when one number was given
  bool operator==(const NodeCount&) const = default;
};

// --gpus / --gpus-per-node / --gpus-per-task entry: "[type:]N".
struct GpuCount {
  std::string type;  // empty: any
  int count = 0;
  bool operator==(const GpuCount&) const = default;
};

// --gres entry: "name[:type][:count]", e.g. gpu:a100:2.
struct Gres {
  std::string name;
  std::string type;
  std::int64_t count = 1;
  bool operator==(const Gres&) const = default;
};

// --export: ALL (the submitter's environment), NONE, or only the listed variables
// ("ALL,X=1" adds to ALL). A listed name without '=' passes the submitter's value on.
struct ExportSpec {
  enum class Base { All, None, Listed };
  struct Variable {
    std::string name;
    std::optional<std::string> value;
    bool operator==(const Variable&) const = default;
  };
  Base base = Base::All;
  std::vector<Variable> variables;
  bool operator==(const ExportSpec&) const = default;
};

// --begin as written, and the time it means once resolved against the submit's clock
// (merge_options does that; apply_option only checks the syntax).
struct BeginRequest {
  std::string text;
  std::optional<std::int64_t> epoch;
  bool operator==(const BeginRequest&) const = default;
};

// An sbatch option Drover does not model yet, kept verbatim so nothing is dropped silently.
struct UnsupportedOption {
  std::string name;  // long name
  std::optional<std::string> value;
  Origin origin;
  bool operator==(const UnsupportedOption&) const = default;
};

struct SubmitOptions {
  // What runs and what it is called.
  std::optional<std::string> job_name;
  std::optional<std::string> wrap;        // --wrap: a shell command instead of a script
  std::optional<std::string> definition;  // Drover: job definition NAME[:REVISION]
  std::optional<std::string> output;      // patterns: %j %x %u %N %A %a ...
  std::optional<std::string> error;
  std::optional<std::string> input;
  std::optional<std::string> chdir;
  std::optional<std::string> open_mode;   // "append" or "truncate"

  // Where: the first queue (partition) in the list that can run the job.
  std::vector<std::string> partitions;
  std::vector<std::string> nodelist;  // expanded hostlists
  std::vector<std::string> exclude;
  std::optional<std::string> constraint;
  std::optional<std::string> exclusive;  // "" (whole nodes), "user", "mcs" or "topo"

  // How much.
  std::optional<NodeCount> nodes;
  std::optional<int> ntasks;
  std::optional<int> ntasks_per_node;
  std::optional<int> cpus_per_task;
  std::optional<std::string> distribution;  // -m, checked: "cyclic", "block:cyclic"...
  // At most one of the three memory requests is set; MiB, 0 = all of a node's memory.
  std::optional<std::int64_t> mem_per_node_mib;
  std::optional<std::int64_t> mem_per_cpu_mib;
  std::optional<std::int64_t> mem_per_gpu_mib;
  std::vector<GpuCount> gpus;           // for the whole job
  std::vector<GpuCount> gpus_per_node;
  std::vector<GpuCount> gpus_per_task;
  std::vector<Gres> gres;               // per node; gpu entries count GPUs
  std::optional<std::int64_t> time_limit_s;  // 0 = unlimited
  std::optional<std::int64_t> time_min_s;

  // When and in what order.
  std::optional<ArraySpec> array;
  std::optional<DependencyExpr> dependency;
  std::vector<std::int64_t> depends_on;  // Drover's --depends-on: afterok, added to dependency
  std::optional<BeginRequest> begin;
  bool hold = false;
  std::optional<int> nice;
  std::optional<std::string> priority;  // a number or "TOP"

  // Lifecycle.
  std::optional<SignalSpec> signal;     // the checkpoint signal (--signal, --checkpoint-signal, --checkpoint)
  std::optional<std::string> checkpoint_dir;  // Drover: --checkpoint-dir
  std::optional<bool> requeue;  // --requeue / --no-requeue
  std::optional<bool> kill_on_invalid_dep;  // --kill-on-invalid-dep=yes|no; unset: the queue's
  std::optional<int> retry_attempts;  // Drover: total attempts, 1..10 (AWS retryStrategy)

  // Environment, bookkeeping, notification.
  std::optional<ExportSpec> export_env;
  KeyValues env;         // Drover: --env KEY=VALUE, later ones replace earlier keys
  KeyValues parameters;  // Drover: job definition parameters
  KeyValues tags;        // Drover: AWS-style tags
  std::optional<std::string> account;
  std::optional<std::string> qos;
  std::optional<std::string> comment;
  std::vector<std::string> mail_types;  // upper case: BEGIN, END, FAIL, ALL...
  std::optional<std::string> mail_user;

  // How the submit command itself behaves.
  bool wait = false;
  bool test_only = false;
  bool parsable = false;
  bool json = false;  // Drover: print the reply as JSON
  bool no_slurm_env = false;  // Drover: no SLURM_* variables in the job (also per queue)
  bool quiet = false;
  int verbose = 0;
  bool help = false;  // --help, --usage
  bool version = false;

  std::vector<UnsupportedOption> unsupported;
  // Options Drover records but does not act on, or does not support: one line each,
  // "job.sh:9: --mail-type=END: ...". Never empty-handed: nothing is dropped silently.
  std::vector<std::string> warnings;
  // Which source set each field (by option long name of the field, "partition" for
  // --queue too): what was asked, and where, for `drover submit --test-only` and errors.
  std::map<std::string, Origin> set_by;
};

// Applies one option, by long name ("time"), unambiguous prefix ("job") or short letter
// ("t"); leading dashes are ignored. `value` is nullopt for a flag or an optional value
// left out. Errors read "job.sh:7: --time=abc: invalid time limit; use minutes, ...";
// unknown options "job.sh:7: --nodes-list: unknown option; did you mean --nodelist?".
// Options Drover cannot act on add a warning to options.warnings.
Status apply_option(SubmitOptions& options, std::string_view name,
                    std::optional<std::string_view> value, const Origin& where);

}  // namespace drover::script
