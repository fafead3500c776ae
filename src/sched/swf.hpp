// The Standard Workload Format (SWF) of the Parallel Workloads Archive: one job
// per line, 18 whitespace-separated numeric fields, -1 for unknown, lines that
// start with ';' are header comments. Pure: text in, jobs out.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace drover::sched {

struct SwfJob {
  std::int64_t id = 0;                  // field 1
  std::int64_t submit_s = 0;            // field 2
  std::int64_t wait_s = -1;             // field 3 (what the traced system did)
  std::int64_t run_s = 0;               // field 4
  int procs = 0;                        // field 8 (requested), else field 5 (allocated)
  std::int64_t requested_time_s = -1;   // field 9: the user's estimate, -1 unknown
  std::int64_t requested_mem_kib = -1;  // field 10, per processor
  int status = -1;                      // field 11
  int user = -1;                        // field 12
};

struct SwfTrace {
  std::vector<SwfJob> jobs;  // in file order
  std::size_t skipped = 0;   // lines without processors (<= 0) or run time (< 0)
  int max_procs = 0;         // header "MaxProcs:" or "MaxNodes:", 0 if absent
};

// Reads at most `limit` jobs (0: all). Errors name the line: "line 12: expected
// 18 fields, found 17".
Result<SwfTrace> parse_swf(std::istream& in, std::size_t limit = 0);
Result<SwfTrace> load_swf(const std::string& path, std::size_t limit = 0);

}  // namespace drover::sched
