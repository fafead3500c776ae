// sbatch --dependency: "afterok:12:13,afterany:14", "after:12+5", "afterok:12?afternotok:13",
// "singleton", a bare "12" (after any end, as Slurm reads its old format).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace drover::script {

enum class DependencyKind {
  After,             // after the job started (or was cancelled), optionally +minutes
  AfterAny,          // after it ended, however
  AfterOk,           // after it succeeded
  AfterNotOk,        // after it failed
  AfterCorr,         // array task after the same task of another array succeeded
  AfterBurstBuffer,  // after its burst-buffer stage-out (Slurm; recorded only)
  Singleton,         // after every earlier job of this name and user ended
};

const char* to_string(DependencyKind kind);  // Slurm's spelling: "afterok"

struct DependencyTarget {
  std::int64_t job_id = 0;
  std::optional<std::int64_t> array_task;  // "12_3"
  std::int64_t delay_minutes = 0;          // "after:12+5" only
  bool operator==(const DependencyTarget&) const = default;
};

struct DependencyTerm {
  DependencyKind kind = DependencyKind::AfterOk;
  std::vector<DependencyTarget> targets;  // empty for Singleton
  bool operator==(const DependencyTerm&) const = default;
};

struct DependencyExpr {
  bool any = false;                   // '?' joined the terms (any of); ',' means all of
  std::vector<DependencyTerm> terms;  // empty: no dependency ("" or "0", as Slurm reads them)
  std::string to_string() const;      // canonical: "afterok:12:13,afterany:14"
  bool operator==(const DependencyExpr&) const = default;
};

inline constexpr std::int64_t kMaxJobId = 999'999'999'999'999;  // 15 digits

Result<DependencyExpr> parse_dependency(std::string_view text);

}  // namespace drover::script
