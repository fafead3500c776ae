// sbatch --array: "0-15", "1,3,5-9", "0-99:10", "1-1000%50". Held as ranges, never as a
// list of indexes, so that a 1,000,000-task array stays small.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/array.hpp"
#include "core/result.hpp"

namespace drover::script {

// Limits (kMaxArrayTasks, kMaxArrayIndex) and ranges are the core's.
using ArrayRange = IndexRange;

struct ArraySpec {
  std::vector<ArrayRange> ranges;          // as written, in order
  std::optional<std::int64_t> max_running;  // "%N": at most N tasks at once
  std::int64_t task_count = 0;              // distinct indexes
  // Canonical text: "0-15:5,20%4" (a range's end is the last index it reaches).
  std::string to_string() const;
  bool operator==(const ArraySpec&) const = default;
};

// Errors say what is wrong and the limits: "0-99999999: 100000000 tasks; an array holds at
// most 1000000", "%0: the throttle must be at least 1".
Result<ArraySpec> parse_array_spec(std::string_view text);

}  // namespace drover::script
