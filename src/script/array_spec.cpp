#include "script/array_spec.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace drover::script {

namespace {

const char* kForm = "use indexes and ranges such as 0-15, 1,3,5-9, 0-99:10 or 1-1000%50";

Error bad(std::string_view text, const std::string& why) {
  return make_error("array " + quoted(text), why);
}

Result<std::int64_t> index(std::string_view text, std::string_view n) {
  if (n.empty()) return bad(text, kForm);
  if (n[0] == '-' && is_digits(n.substr(1))) return bad(text, "indexes cannot be negative");
  if (!is_digits(n)) return bad(text, "'" + std::string(n) + "' is not an index; " + kForm);
  const auto v = parse_uint(n, kMaxArrayIndex);
  if (!v) return bad(text, "index " + std::string(n) + " is over the largest, " + std::to_string(kMaxArrayIndex));
  return *v;
}

}  // namespace

std::string ArraySpec::to_string() const {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.first);
    if (r.last != r.first) out += '-' + std::to_string(r.last);
    if (r.step != 1 && r.last != r.first) out += ':' + std::to_string(r.step);
  }
  if (max_running) out += '%' + std::to_string(*max_running);
  return out;
}

Result<ArraySpec> parse_array_spec(std::string_view text) {
  ArraySpec spec;
  std::string_view list = text;
  if (const auto pct = text.find('%'); pct != std::string_view::npos) {
    list = text.substr(0, pct);
    const std::string_view t = text.substr(pct + 1);
    if (t.empty()) return bad(text, "nothing after '%': give the most tasks to run at once, e.g. %10");
    if (t[0] == '-' && is_digits(t.substr(1))) return bad(text, "the throttle %" + std::string(t) + " is negative");
    const auto m = parse_uint(t, kMaxArrayTasks);
    if (!m) {
      if (is_digits(t)) return bad(text, "the throttle %" + std::string(t) + " is over " + std::to_string(kMaxArrayTasks));
      return bad(text, "'%" + std::string(t) + "' is not a throttle; expected %N, e.g. %10");
    }
    if (*m == 0) return bad(text, "the throttle %0 would never run a task; give at least %1");
    spec.max_running = *m;
  }
  if (list.empty()) return bad(text, "no indexes; " + std::string(kForm));
  std::int64_t total = 0;
  for (std::string_view part : split(list, ',')) {
    if (part.empty()) return bad(text, "an empty entry between commas");
    ArrayRange r;
    std::string_view span = part;
    if (const auto colon = part.find(':'); colon != std::string_view::npos) {
      span = part.substr(0, colon);
      const std::string_view s = part.substr(colon + 1);
      const auto step = parse_uint(s, kMaxArrayIndex);
      if (!step || *step == 0)
        return bad(text, "step ':" + std::string(s) + "' must be a whole number from 1 to " +
                             std::to_string(kMaxArrayIndex));
      r.step = *step;
    }
    // A leading '-' is a negative index, not a range separator.
    const auto dash = span.find('-', 1);
    auto first = index(text, span.substr(0, dash));
    if (!first) return first.error();
    r.first = r.last = *first;
    if (dash != std::string_view::npos) {
      auto last = index(text, span.substr(dash + 1));
      if (!last) return last.error();
      if (*last < *first) return bad(text, "reversed range '" + std::string(span) + "': write it low-high");
      r.last = *last;
    } else if (r.step != 1) {
      return bad(text, "a step needs a range, e.g. 0-99:10");
    }
    r.last = r.first + (r.last - r.first) / r.step * r.step;
    total += r.count();
    if (total > kMaxArrayTasks)
      return bad(text, std::string(total == r.count() ? "" : "at least ") + std::to_string(total) +
                           " tasks; an array holds at most " + std::to_string(kMaxArrayTasks));
    spec.ranges.push_back(r);
  }
  // Ranges may overlap (sbatch keeps a set); count each index once. Disjoint ranges, the
  // usual case, need no expansion.
  auto sorted = spec.ranges;
  std::sort(sorted.begin(), sorted.end(),
            [](const ArrayRange& a, const ArrayRange& b) { return a.first < b.first; });
  bool disjoint = true;
  for (std::size_t i = 1; i < sorted.size(); ++i) disjoint = disjoint && sorted[i].first > sorted[i - 1].last;
  if (disjoint) {
    spec.task_count = total;
  } else {
    std::vector<std::int64_t> all;
    all.reserve(static_cast<std::size_t>(total));
    for (const auto& r : spec.ranges)
      for (std::int64_t v = r.first; v <= r.last; v += r.step) all.push_back(v);
    std::sort(all.begin(), all.end());
    spec.task_count = std::unique(all.begin(), all.end()) - all.begin();
  }
  return spec;
}

}  // namespace drover::script
