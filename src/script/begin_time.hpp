// sbatch --begin: "16:00", "now+1hour", "tomorrow", "2025-01-20T12:34:00", "noon",
// "12/25/25", "teatime", ... resolved against a clock passed in, so parsing stays pure:
// the CLI passes the real time and time zone, tests a fixed one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "core/result.hpp"

namespace drover::script {

// A wall-clock time in some time zone; month 1-12, day 1-31.
struct CivilTime {
  int year = 1970;
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;
  int second = 0;
  bool operator==(const CivilTime&) const = default;
};

// "Now" and the local time zone. The composition root builds one from time(),
// localtime_r and mktime; fixed_offset() is UTC plus a constant offset.
struct Clock {
  std::int64_t now = 0;  // epoch seconds
  std::function<CivilTime(std::int64_t epoch)> to_local;
  // nullopt for a wall-clock time that does not exist (a DST gap).
  std::function<std::optional<std::int64_t>(const CivilTime&)> from_local;

  static Clock fixed_offset(std::int64_t now, std::int32_t utc_offset_seconds = 0);
};

// Epoch seconds <-> civil time in UTC (proleptic Gregorian).
CivilTime civil_from_epoch(std::int64_t epoch);
std::int64_t epoch_from_civil(const CivilTime& t);

// Parses Slurm's --begin formats (slurm parse_time): words separated by blanks, each one of
//   today, tomorrow, midnight, noon, elevenses (11:00), fika (15:00), teatime (16:00),
//   now[+-N[seconds|minutes|hours|days|weeks]] (seconds by default),
//   HH:MM[:SS] [AM|PM], YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], MM.DD[.YY], MMDD[YY],
//   MM/DD[/YY]-HH:MM[:SS], uts<epoch seconds>.
// A time without a date is the next such time; a date without a year the next such date;
// a date without a time starts at 00:00. Returns epoch seconds.
Result<std::int64_t> parse_begin_time(std::string_view text, const Clock& clock);

}  // namespace drover::script
