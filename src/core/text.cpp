#include "core/text.hpp"

#include <algorithm>
#include <cctype>

namespace drover {

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::optional<std::int64_t> parse_uint(std::string_view s, std::int64_t max) {
  if (!is_digits(s)) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    const int d = c - '0';
    if (v > (max - d) / 10) return std::nullopt;  // v * 10 + d > max, without overflowing
    v = v * 10 + d;
  }
  return v;
}

Result<std::int64_t> parse_count(std::string_view s, std::int64_t min, std::int64_t max) {
  const auto range = "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (s.empty()) return Error{"expected " + range};
  if (s[0] == '-' && is_digits(s.substr(1))) return Error{"must not be negative; expected " + range};
  if (s[0] == '+' && is_digits(s.substr(1))) s.remove_prefix(1);  // strtol accepts it, so does sbatch
  if (!is_digits(s)) return Error{"expected " + range};
  const auto v = parse_uint(s, max);
  if (!v) return Error{"too large; the most is " + std::to_string(max)};
  if (*v < min) return Error{"too small; the least is " + std::to_string(min)};
  return *v;
}

std::string quoted(std::string_view s, std::size_t max_chars) {
  std::string out = "'";
  std::size_t n = 0;
  for (char c : s) {
    if (n++ == max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap) {
  const std::size_t diff = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  if (diff > cap) return cap + 1;
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    std::size_t row_min = cur[0];
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > cap) return cap + 1;
    std::swap(prev, cur);
  }
  return std::min(prev[b.size()], cap + 1);
}

}  // namespace drover
