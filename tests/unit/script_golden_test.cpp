// The corpus: tests/data/scripts/*.sh, job scripts written the way cluster documentation
// writes them, each with <name>.expected.json: the SubmitOptions merge_options makes of it
// (or the error), and the warnings. An optional <name>.inputs.json gives the command line
// and environment: {"argv": [...], "env": {"SBATCH_TIMELIMIT": "30"}}.
//
// DROVER_UPDATE_GOLDEN=1 rewrites the expected files from what the code does now; review
// the diff before committing it.
//
// The JSON shape is the CLI's (src/cli/submit_options_json.cpp): what `drover show`
// displays as asked; src/script itself stays standard-library-only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/submit_options_json.hpp"
#include "script/directives.hpp"

namespace drover::script {
namespace {

using cli::to_json;

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

const std::int64_t kNow = 1710498600;  // 2024-03-15T10:30:00Z, the corpus's "now"

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// What the corpus expects of one script: the options or the error, and the warnings.
Json run_script(const fs::path& script) {
  const std::string text = read_file(script);
  KeyValues env;
  std::vector<std::string> argv;
  fs::path inputs = script;
  inputs.replace_extension(".inputs.json");
  if (fs::exists(inputs)) {
    const Json in = Json::parse(read_file(inputs));
    if (in.contains("argv")) argv = in["argv"].get<std::vector<std::string>>();
    if (in.contains("env"))
      for (const auto& [k, v] : in["env"].items()) env.emplace_back(k, v.get<std::string>());
  }
  Json out = Json::object();
  auto parsed = parse_directives(text, script.filename().string());
  if (!parsed) {
    out["error"] = parsed.message();
    return out;
  }
  auto cl = parse_command_line(argv);
  if (!cl) {
    out["error"] = cl.message();
    return out;
  }
  auto merged = merge_options(&*parsed, env, *cl, Clock::fixed_offset(kNow));
  if (!merged) {
    out["error"] = merged.message();
    out["warnings"] = parsed->warnings;
    return out;
  }
  out["options"] = to_json(*merged);
  out["warnings"] = merged->warnings;
  return out;
}

std::vector<fs::path> corpus() {
  std::vector<fs::path> scripts;
  for (const auto& e : fs::directory_iterator(fs::path(DROVER_TEST_DATA) / "scripts"))
    if (e.path().extension() == ".sh") scripts.push_back(e.path());
  std::sort(scripts.begin(), scripts.end());
  return scripts;
}

TEST(ScriptCorpus, HasAtLeastFortyScripts) { EXPECT_GE(corpus().size(), 40u); }

TEST(ScriptCorpus, MatchesGoldenFiles) {
  const char* update = std::getenv("DROVER_UPDATE_GOLDEN");
  const bool updating = update && std::string(update) == "1";
  for (const auto& script : corpus()) {
    SCOPED_TRACE(script.filename().string());
    const Json got = run_script(script);
    fs::path expected_path = script;
    expected_path.replace_extension(".expected.json");
    if (updating) {
      std::ofstream(expected_path, std::ios::binary) << got.dump(2) << "\n";
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_path)) << expected_path << " is missing; run with DROVER_UPDATE_GOLDEN=1";
    const Json want = Json::parse(read_file(expected_path));
    EXPECT_EQ(got, want) << "got:\n" << got.dump(2) << "\n(DROVER_UPDATE_GOLDEN=1 rewrites the expected files)";
  }
}

// Errors start with where: the script's name (file:line), the command line or a variable.
TEST(ScriptCorpus, ErrorsSayWhere) {
  for (const auto& script : corpus()) {
    const Json got = run_script(script);
    if (!got.contains("error")) continue;
    const std::string e = got["error"];
    EXPECT_TRUE(e.rfind(script.filename().string(), 0) == 0 || e.rfind("command line: ", 0) == 0 ||
                e.rfind("environment ", 0) == 0)
        << e;
  }
}

}  // namespace
}  // namespace drover::script
