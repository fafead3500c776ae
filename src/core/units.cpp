#include "core/units.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace drover {

namespace {
constexpr std::int64_t kMaxField = 1'000'000'000;

bool parse_uint(const std::string& s, std::int64_t& out) {
  if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
  out = std::stoll(s);
  return out <= kMaxField;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}
}  // namespace

Result<std::int64_t> parse_time_limit(const std::string& text) {
  std::string t = text;
  std::string upper = t;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  if (upper == "UNLIMITED" || upper == "INFINITE") return std::int64_t{0};
  auto bad = [&] {
    return make_error("time limit '" + text + "'",
                      "use minutes (90), M:S, H:M:S (1:30:00), D-H, D-H:M, D-H:M:S (2-12:00:00) or UNLIMITED");
  };
  std::int64_t days = 0;
  const auto dash = t.find('-');
  const bool has_days = dash != std::string::npos;
  if (has_days) {
    if (!parse_uint(t.substr(0, dash), days)) return bad();
    t = t.substr(dash + 1);
  }
  const auto parts = split(t, ':');
  std::vector<std::int64_t> v;
  for (const auto& p : parts) {
    std::int64_t x = 0;
    if (!parse_uint(p, x)) return bad();
    v.push_back(x);
  }
  std::int64_t secs = 0;
  if (has_days) {  // D-H, D-H:M, D-H:M:S
    if (v.size() > 3) return bad();
    secs = days * 86400 + v[0] * 3600 + (v.size() > 1 ? v[1] * 60 : 0) + (v.size() > 2 ? v[2] : 0);
  } else if (v.size() == 1) {  // M
    secs = v[0] * 60;
  } else if (v.size() == 2) {  // M:S
    secs = v[0] * 60 + v[1];
  } else if (v.size() == 3) {  // H:M:S
    secs = v[0] * 3600 + v[1] * 60 + v[2];
  } else {
    return bad();
  }
  if (secs == 0) return make_error("time limit '" + text + "'", "must be longer than 0 (or UNLIMITED)");
  return secs;
}

Result<std::int64_t> parse_memory_mib(const std::string& text) {
  std::string num = text;
  std::int64_t mult_kib = 1024;  // MiB in KiB
  // GiB-style "Gi": the 'i' after a unit letter adds nothing (the units are binary).
  if (num.size() >= 2 && (num.back() == 'i' || num.back() == 'I') &&
      std::isalpha(static_cast<unsigned char>(num[num.size() - 2])))
    num.pop_back();
  if (!num.empty() && std::isalpha(static_cast<unsigned char>(num.back()))) {
    const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(num.back())));
    num.pop_back();
    switch (u) {
      case 'K': mult_kib = 1; break;
      case 'M': mult_kib = 1024; break;
      case 'G': mult_kib = 1024 * 1024; break;
      case 'T': mult_kib = 1024LL * 1024 * 1024; break;
      case 'B':
        return make_error("memory '" + text + "'", "use K, M, G or T, e.g. 500M or 4G");
      default:
        return make_error("memory '" + text + "'", std::string("unknown unit '") + u + "': use K, M, G or T");
    }
  }
  std::int64_t v = 0;
  if (!parse_uint(num, v))
    return make_error("memory '" + text + "'", "expected a whole number with an optional unit, e.g. 500M or 4G");
  const std::int64_t kib = v * mult_kib;
  if (kib / mult_kib != v) return make_error("memory '" + text + "'", "too large");
  return (kib + 1023) / 1024;
}

std::string format_duration(std::int64_t s) {
  if (s < 0) s = 0;
  const std::int64_t d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60, sec = s % 60;
  char buf[64];
  if (d > 0)
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(d),
                  static_cast<long long>(h), static_cast<long long>(m), static_cast<long long>(sec));
  else if (h > 0)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(sec));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(m), static_cast<long long>(sec));
  return buf;
}

}  // namespace drover
