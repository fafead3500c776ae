#include "sched/swf.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace drover::sched {

namespace {

constexpr const char* kFieldNames[18] = {
    "job number",       "submit time",     "wait time",       "run time",
    "allocated processors", "average CPU time", "used memory",  "requested processors",
    "requested time",   "requested memory", "status",         "user id",
    "group id",         "executable",      "queue",           "partition",
    "preceding job",    "think time"};

bool parse_number(const std::string& s, double& out) {
  const char* b = s.c_str();
  char* end = nullptr;
  out = std::strtod(b, &end);
  return end != b && *end == '\0' && std::isfinite(out);
}

}  // namespace

Result<SwfTrace> parse_swf(std::istream& in, std::size_t limit) {
  SwfTrace t;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    if (line[first] == ';') {
      for (const char* key : {"MaxProcs:", "MaxNodes:"}) {
        auto at = line.find(key);
        if (at == std::string::npos) continue;
        const int v = std::atoi(line.c_str() + at + std::string(key).size());
        if (v > 0 && (t.max_procs == 0 || std::string(key) == "MaxProcs:")) t.max_procs = v;
      }
      continue;
    }
    std::istringstream fields(line);
    std::string f;
    double v[18];
    int n = 0;
    while (fields >> f) {
      if (n < 18 && !parse_number(f, v[n]))
        return make_error("line " + std::to_string(lineno),
                          "field " + std::to_string(n + 1) + " (" + kFieldNames[n] +
                              ") is not a number: '" + f + "'");
      ++n;
    }
    if (n != 18)
      return make_error("line " + std::to_string(lineno),
                        "expected 18 fields, found " + std::to_string(n));
    SwfJob j;
    j.id = static_cast<std::int64_t>(v[0]);
    j.submit_s = static_cast<std::int64_t>(v[1]);
    j.wait_s = static_cast<std::int64_t>(v[2]);
    j.run_s = static_cast<std::int64_t>(std::llround(v[3]));
    j.procs = static_cast<int>(v[7] > 0 ? v[7] : v[4]);
    j.requested_time_s = v[8] > 0 ? static_cast<std::int64_t>(std::llround(v[8])) : -1;
    j.requested_mem_kib = static_cast<std::int64_t>(v[9]);
    j.status = static_cast<int>(v[10]);
    j.user = static_cast<int>(v[11]);
    if (j.submit_s < 0)
      return make_error("line " + std::to_string(lineno), "negative submit time");
    if (j.procs <= 0 || v[3] < 0) {
      ++t.skipped;
      continue;
    }
    t.jobs.push_back(j);
    if (limit && t.jobs.size() >= limit) break;
  }
  return t;
}

Result<SwfTrace> load_swf(const std::string& path, std::size_t limit) {
  std::ifstream in(path);
  if (!in) return make_error("cannot open " + path);
  auto r = parse_swf(in, limit);
  if (!r) return make_error(path + ": " + r.message());
  return r;
}

}  // namespace drover::sched
