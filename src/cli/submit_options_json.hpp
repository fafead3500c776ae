// What was asked at submit, as JSON (camelCase, as DESIGN.md asks): stored with the
// job so `drover show` displays it, and the shape of tests/data/scripts/*.expected.json.
#pragma once

#include <nlohmann/json.hpp>

#include "script/submit_options.hpp"

namespace drover::cli {

nlohmann::ordered_json to_json(const script::SubmitOptions& options);

}  // namespace drover::cli
