// Slurm's spellings of time limits and memory sizes, parsed in one place.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace drover {

// Time limit in seconds from Slurm's formats: M, M:S, H:M:S, D-H, D-H:M,
// D-H:M:S, and UNLIMITED/INFINITE (0: no limit). A bare number is minutes.
Result<std::int64_t> parse_time_limit(const std::string& text);
// Memory in MiB from "500", "500M", "4G", "1T", "2048K" (a bare number is MiB).
Result<std::int64_t> parse_memory_mib(const std::string& text);
// "1-02:03:04", "2:03:04", "3:04" (squeue's TIME column).
std::string format_duration(std::int64_t seconds);

}  // namespace drover
