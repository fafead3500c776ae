// What `drover submit` and `drover run` share: the submitter's side of a SubmitJob
// request (its clock, environment and working directory) and the request itself,
// built from the options of the one table in src/script.
#pragma once

#include <string>

#include "core/job_definition.hpp"
#include "core/result.hpp"
#include "proto/codec.hpp"
#include "script/begin_time.hpp"
#include "script/command_line.hpp"
#include "script/submit_options.hpp"

namespace drover::cli {

// The local time zone, for --begin.
script::Clock local_clock();
// This process's environment, as KEY=VALUE pairs.
KeyValues submitter_environment();
std::string current_directory();

// Options whose meaning Drover cannot honour (afterburstbuffer...): an error naming them.
Status refuse_what_would_change_the_job(const script::SubmitOptions& o);

// dependsOn entries for a --dependency expression, one per job named: "42" or a
// task "42_7"; after:42+10 carries "minutes"; singleton names no job.
proto::Json depends_on_json(const script::DependencyExpr& e);

// The SubmitJob request for what was asked: a script (`script_path`, `script_text`),
// --wrap, or the program after `--` (cl.double_dash).
Result<proto::Json> build_request(const script::SubmitOptions& o, const script::CommandLine& cl,
                                  const std::string& script_path, const std::string& script_text,
                                  const KeyValues& env);

}  // namespace drover::cli
