// Small text helpers shared by the parsers of user text (src/script, core/hostlist).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace drover {

std::string to_lower(std::string_view s);
std::string to_upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool is_digits(std::string_view s);  // non-empty, 0-9 only
bool is_blank(std::string_view s);   // empty or whitespace only
std::string_view trim(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);

// A whole number from decimal digits only (no sign, no spaces), at most `max`;
// nullopt on anything else, overflow included.
std::optional<std::int64_t> parse_uint(std::string_view s, std::int64_t max);

// A count with the reason spelled out when it is not one: "must be a whole number",
// "must be at least 1", "must be at most 1000000" (negative numbers get their own words).
Result<std::int64_t> parse_count(std::string_view s, std::int64_t min, std::int64_t max);

// Text for messages: quoted, with control bytes escaped and long text cut, so that an
// error about a hostile 4 MiB line stays one readable line.
std::string quoted(std::string_view s, std::size_t max_chars = 80);

// Levenshtein distance, capped: returns cap+1 as soon as it is certain to exceed cap.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap);

}  // namespace drover
