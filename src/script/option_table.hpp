// The one table of submit options: every sbatch option spelling and Drover's own, what
// each takes and whether Drover acts on it. Parsing of argv, directives and environment
// variables, help text and warnings all come from here.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "script/submit_options.hpp"

namespace drover::script {

enum class OptionValue { None, Required, Optional };

enum class Support {
  Honoured,         // Drover acts on it
  RecordedOnly,     // kept with the job, not acted on yet: a warning says so
  NotSupportedYet,  // kept verbatim in SubmitOptions::unsupported, with a warning
};
const char* to_string(Support s);  // "honoured", "recorded only", "not supported yet"

// What a handler learns besides the value; it may add value-specific notes, which
// apply_option turns into warnings ("--nodes=4: ...").
struct OptionContext {
  bool has_value = false;
  std::vector<std::string> notes;
};

using OptionHandler = Status (*)(SubmitOptions& options, std::string_view value, OptionContext& context);

struct OptionSpec {
  std::string_view name;  // long name, without dashes
  char short_name;        // '\0' when none
  OptionValue value;
  Support support;
  std::string_view field;  // the field it sets, for set_by; aliases share one
  std::string_view help;   // one line, for --help
  std::string_view note;   // RecordedOnly / NotSupportedYet: why, ends the warning
  OptionHandler apply;     // null for NotSupportedYet (kept verbatim)
  bool command_line_only = false;  // --help, --wrap...: refused or ignored in a script
  bool repeatable = false;         // accumulates (--env) instead of replacing
};

std::span<const OptionSpec> option_table();

// Exact long name, else an unambiguous prefix of one (getopt_long's rule, which sbatch
// users rely on: --job=x). The error is the why only: "unknown option; did you mean
// --nodelist?", "ambiguous: --mem-per-cpu or --mem-per-gpu?".
Result<const OptionSpec*> find_long_option(std::string_view name);
const OptionSpec* find_short_option(char letter);
// An option word as written: "--time", "--job" (a prefix), "-t", "time" (a bare long
// name). The error names the word: "--nodes-list: unknown option; did you mean --nodelist?".
Result<const OptionSpec*> lookup_option(std::string_view word);

// "--time=abc", "-t" written the long way, for messages: "--time=abc", "--hold".
std::string spell(const OptionSpec& option, std::optional<std::string_view> value);

// The options part of `drover submit --help`, from the table: what Drover acts on, one
// line each ("  -t, --time=VALUE  time limit: ..."), then what it records without acting
// on, then the sbatch options it accepts but does not support yet, by name.
std::string options_help();

// Input environment variables: sbatch's documented SBATCH_* names and Drover's
// DROVER_SUBMIT_* mirrors of them (plus DROVER_SUBMIT_QUEUE, _DEFINITION, _RETRY). Not
// DROVER_JOB_NAME and the like: those are set inside every job, and a job that submits
// another must not pass its own name, queue or GPUs on by accident.
struct EnvironmentOption {
  std::string_view variable;
  std::string_view option;  // long name
};
std::span<const EnvironmentOption> environment_options();

}  // namespace drover::script
