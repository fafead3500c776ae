// libFuzzer target for src/script: job scripts, and each input line as the value of the
// parsers that take user text (hostlists, arrays, dependencies, begin times, signals,
// SLURM_TASKS_PER_NODE, argv). Besides "no crash, no hang, no sanitizer report", it checks
// round trips: what a parser prints, it reads back the same.
// Build and run: tests/fuzz/build.sh && tests/fuzz/run.sh [seconds]
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "script/array_spec.hpp"
#include "script/begin_time.hpp"
#include "script/dependency.hpp"
#include "script/directives.hpp"
#include "core/hostlist.hpp"
#include "script/signal_spec.hpp"

using namespace drover;
using namespace drover::script;

namespace {

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "round trip broken: %s for input '%.*s'\n", what, static_cast<int>(input.size()),
               input.data());
  __builtin_trap();
}

void check_hostlist(std::string_view line) {
  auto names = expand_hostlist(line);
  if (!names || names->size() > 5000) return;  // bigger lists: the unit tests
  const std::string canonical = compress_hostlist(*names);
  auto again = expand_hostlist(canonical);
  if (!again) fail("compress_hostlist output does not parse", line);
  if (std::set<std::string>(again->begin(), again->end()) != std::set<std::string>(names->begin(), names->end()))
    fail("compress_hostlist changes the set of names", line);
  const std::string ordered = compress_hostlist_in_order(*names);
  auto exact = expand_hostlist(ordered);
  if (!exact || *exact != *names) fail("compress_hostlist_in_order changes the list", line);
}

void check_values(std::string_view line, const Clock& clock) {
  check_hostlist(line);
  if (auto a = parse_array_spec(line)) {
    auto b = parse_array_spec(a->to_string());
    if (!b || b->task_count != a->task_count || b->max_running != a->max_running) fail("array spec", line);
  }
  if (auto d = parse_dependency(line)) {
    auto e = parse_dependency(d->to_string());
    if (!e || !(*e == *d)) fail("dependency", line);
  }
  if (auto s = parse_signal_spec(line)) {
    auto t = parse_signal_spec(s->to_string());
    if (!t || !(*t == *s)) fail("signal spec", line);
  }
  if (auto v = parse_tasks_per_node(line)) {
    auto w = parse_tasks_per_node(format_tasks_per_node(*v));
    if (!w || *w != *v) fail("tasks per node", line);
  }
  (void)parse_begin_time(line, clock);
}

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Clock clock = Clock::fixed_offset(1710498600, 3600);

  // The input as a script, and behind a #! line so that more inputs get past the first check.
  for (const std::string& script : {std::string(text), "#!/bin/sh\n" + std::string(text)}) {
    auto parsed = parse_directives(script, "fuzz.sh");
    if (!parsed) continue;
    auto merged = merge_options(&*parsed, {}, CommandLine{}, clock);
    if (merged) {
      volatile std::size_t n = merged->warnings.size() + merged->set_by.size();
      (void)n;
    }
  }

  // Each of the first lines as a value, and as a command line.
  std::size_t pos = 0;
  for (int i = 0; i < 8 && pos <= text.size(); ++i) {
    const std::size_t nl = text.find('\n', pos);
    const std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    check_values(line, clock);
    if (auto cl = parse_command_line(words(line))) {
      drover::KeyValues env{{"SBATCH_TIMELIMIT", std::string(line)}, {"DROVER_SUBMIT_QUEUE", std::string(line)}};
      (void)merge_options(nullptr, env, *cl, clock);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return 0;
}
