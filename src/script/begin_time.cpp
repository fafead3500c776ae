#include "script/begin_time.hpp"

#include <cctype>
#include <string>

#include "core/text.hpp"

namespace drover::script {

namespace {

constexpr std::string_view kForms =
    "use HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], now+N[seconds|minutes|hours|days|weeks], "
    "today, tomorrow, midnight or noon";

// Far enough for any real deferral, small enough that epoch arithmetic never overflows.
constexpr std::int64_t kMaxDeltaSeconds = 100LL * 366 * 86400;

// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

int days_in_month(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

struct Parts {
  int hour = -1, minute = 0, second = 0;
  int year = -1, month = -1, day = -1;
  std::optional<std::int64_t> exact;  // "now[+N]" alone, or uts<epoch>
};

class BeginParser {
 public:
  BeginParser(std::string_view text, const Clock& clock) : t_(text), clock_(clock) {}

  Result<std::int64_t> run() {
    if (is_blank(t_)) return bad("empty; " + std::string(kForms));
    if (t_.size() > 3 && iequals(t_.substr(0, 3), "uts")) {
      const auto v = parse_uint(t_.substr(3), 99'999'999'999);
      if (!v || *v < 1'000'000) return bad("uts needs epoch seconds, e.g. uts1700000000");
      return *v;
    }
    bool now_only = true;
    std::optional<std::int64_t> now_value;
    while (pos_ < t_.size()) {
      const char c = t_[pos_];
      if (c == ' ' || c == '\t' || c == '-') {
        ++pos_;
        continue;
      }
      if (word("today")) {
        set_date(clock_.to_local(clock_.now));
      } else if (word("tomorrow")) {
        set_date(clock_.to_local(clock_.now + 86400));
      } else if (word("midnight")) {
        set_time(0, 0, 0);
      } else if (word("noon")) {
        set_time(12, 0, 0);
      } else if (word("elevenses")) {
        set_time(11, 0, 0);
      } else if (word("fika")) {
        set_time(15, 0, 0);
      } else if (word("teatime")) {
        set_time(16, 0, 0);
      } else if (word("now")) {
        auto delta = now_delta();
        if (!delta) return delta.error();
        now_value = clock_.now + *delta;
        const CivilTime at = clock_.to_local(*now_value);
        set_date(at);
        set_time(at.hour, at.minute, at.second);
        continue;
      } else if (c == 'T') {  // between a date and its time
        ++pos_;
        continue;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        const bool is_time = (pos_ + 1 < t_.size() && t_[pos_ + 1] == ':') ||
                             (pos_ + 2 < t_.size() && t_[pos_ + 2] == ':');
        if (auto s = is_time ? clock_time() : date(); !s) return s.error();
      } else {
        return bad("unexpected " + quoted(t_.substr(pos_, 12)) + "; " + std::string(kForms));
      }
      now_only = false;
    }
    if (now_value && now_only) return *now_value;  // exact, whatever the zone does
    return resolve();
  }

 private:
  Error bad(const std::string& why) const { return make_error("begin time " + quoted(t_), why); }

  bool word(std::string_view w) {
    if (t_.size() - pos_ < w.size() || !iequals(t_.substr(pos_, w.size()), w)) return false;
    pos_ += w.size();
    return true;
  }

  void set_date(const CivilTime& c) {
    p_.year = c.year;
    p_.month = c.month;
    p_.day = c.day;
  }
  void set_time(int h, int m, int s) {
    p_.hour = h;
    p_.minute = m;
    p_.second = s;
  }

  int digits(int max_count) {  // up to max_count digits at pos_, -1 if none
    int v = -1, n = 0;
    while (n < max_count && pos_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[pos_]))) {
      v = (v < 0 ? 0 : v * 10) + (t_[pos_++] - '0');
      ++n;
    }
    return v;
  }

  // After "now": nothing, or +/-N with an optional unit.
  Result<std::int64_t> now_delta() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t')) ++pos_;
    if (pos_ == t_.size()) return std::int64_t{0};
    const char sign = t_[pos_];
    if (sign != '+' && sign != '-') return bad("after 'now' expected +N or -N, e.g. now+1hour");
    ++pos_;
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t')) ++pos_;
    const std::size_t start = pos_;
    while (pos_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[pos_]))) ++pos_;
    const auto n = parse_uint(t_.substr(start, pos_ - start), kMaxDeltaSeconds);
    if (!n) return bad(pos_ == start ? "expected a number after now" + std::string(1, sign)
                                     : "the offset after now is too large");
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t')) ++pos_;
    std::int64_t unit = 1;
    static const std::pair<std::string_view, std::int64_t> kUnits[] = {
        {"seconds", 1},     {"second", 1},      {"minutes", 60},         {"minute", 60},
        {"hours", 3600},    {"hour", 3600},     {"days", 86400},         {"day", 86400},
        {"weeks", 604800},  {"week", 604800}};
    if (pos_ < t_.size()) {
      bool found = false;
      for (const auto& [name, mult] : kUnits)
        if (word(name)) {
          unit = mult;
          found = true;
          break;
        }
      if (!found)
        return bad("unknown unit " + quoted(t_.substr(pos_, 12)) +
                   "; use seconds, minutes, hours, days or weeks");
    }
    if (*n > kMaxDeltaSeconds / unit) return bad("the offset after now is too large");
    return (sign == '-' ? -1 : 1) * *n * unit;
  }

  Status clock_time() {
    const int h = digits(2);
    if (pos_ >= t_.size() || t_[pos_] != ':') return bad("expected HH:MM[:SS]");
    ++pos_;
    const std::size_t m_start = pos_;
    const int m = digits(2);
    if (pos_ - m_start != 2) return bad("minutes need two digits, as in 16:05");
    int s = 0;
    if (pos_ < t_.size() && t_[pos_] == ':') {
      ++pos_;
      const std::size_t s_start = pos_;
      s = digits(2);
      if (pos_ - s_start != 2) return bad("seconds need two digits, as in 16:05:09");
    }
    if (h > 23 || m > 59 || s > 59) return bad("no such time of day; hours 0-23, minutes and seconds 0-59");
    int hour = h;
    std::size_t save = pos_;
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t')) ++pos_;
    if (word("pm")) {
      if (h < 1 || h > 12) return bad("with PM the hour must be 1-12");
      hour = h == 12 ? 12 : h + 12;
    } else if (word("am")) {
      if (h < 1 || h > 12) return bad("with AM the hour must be 1-12");
      hour = h == 12 ? 0 : h;
    } else {
      pos_ = save;
    }
    set_time(hour, m, s);
    return {};
  }

  Status date() {
    if (t_.size() > pos_ + 7 && t_[pos_ + 4] == '-' && t_[pos_ + 7] == '-') {
      const std::size_t start = pos_;
      const int y = digits(4);
      if (pos_ - start != 4) return bad("expected YYYY-MM-DD");
      ++pos_;
      const int mo = digits(2);
      if (mo < 0 || pos_ >= t_.size() || t_[pos_] != '-') return bad("expected YYYY-MM-DD");
      ++pos_;
      const int d = digits(2);
      if (d < 0) return bad("expected YYYY-MM-DD");
      return set_checked_date(y, mo, d);
    }
    // MM/DD[/YY], MM.DD[.YY], MMDD[YY]
    const int mo = digits(2);
    if (pos_ < t_.size() && (t_[pos_] == '/' || t_[pos_] == '.')) ++pos_;
    const int d = digits(2);
    if (d < 0) return bad("expected a date: MM/DD[/YY] or YYYY-MM-DD");
    if (pos_ < t_.size() && (t_[pos_] == '/' || t_[pos_] == '.')) ++pos_;
    int y = -1;
    if (pos_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[pos_]))) {
      const std::size_t start = pos_;
      const int yy = digits(2);
      if (pos_ - start != 2) return bad("the year needs two digits, as in 12/25/25");
      y = 2000 + yy;
    }
    return set_checked_date(y, mo, d);
  }

  Status set_checked_date(int y, int mo, int d) {
    if (mo < 1 || mo > 12) return bad("no month " + std::to_string(mo) + "; months are 1-12");
    if (d < 1 || d > 31 || (y >= 0 && d > days_in_month(y, mo)) || (y < 0 && d > days_in_month(2000, mo)))
      return bad("no such day of the month");
    p_.year = y;
    p_.month = mo;
    p_.day = d;
    return {};
  }

  Result<std::int64_t> resolve() {
    const CivilTime now = clock_.to_local(clock_.now);
    if (p_.hour < 0 && p_.month < 0) return bad(std::string(kForms));
    if (p_.hour < 0) set_time(0, 0, 0);  // a date alone starts at midnight
    if (p_.month < 0) {
      // A time alone is the next such time: today if still ahead, else tomorrow.
      const bool today = p_.hour > now.hour || (p_.hour == now.hour && p_.minute > now.minute);
      set_date(today ? now : clock_.to_local(clock_.now + 86400));
    }
    if (p_.year < 0) {
      // A date without a year is the next such date.
      const auto key = [](int mo, int d, int h, int mi) { return ((mo * 32 + d) * 24 + h) * 60 + mi; };
      const bool this_year = key(p_.month, p_.day, p_.hour, p_.minute) > key(now.month, now.day, now.hour, now.minute);
      p_.year = this_year ? now.year : now.year + 1;
      if (p_.day > days_in_month(p_.year, p_.month)) return bad("no such day in " + std::to_string(p_.year));
    }
    CivilTime at{p_.year, p_.month, p_.day, p_.hour, p_.minute, p_.second};
    const auto epoch = clock_.from_local(at);
    if (!epoch) return bad("that local time does not exist (a daylight-saving change)");
    return *epoch;
  }

  std::string_view t_;
  const Clock& clock_;
  std::size_t pos_ = 0;
  Parts p_;
};

}  // namespace

CivilTime civil_from_epoch(std::int64_t epoch) {
  std::int64_t days = epoch / 86400;
  std::int64_t secs = epoch % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  CivilTime t;
  t.year = static_cast<int>(y + (m <= 2));
  t.month = static_cast<int>(m);
  t.day = static_cast<int>(d);
  t.hour = static_cast<int>(secs / 3600);
  t.minute = static_cast<int>(secs / 60 % 60);
  t.second = static_cast<int>(secs % 60);
  return t;
}

std::int64_t epoch_from_civil(const CivilTime& t) {
  return days_from_civil(t.year, static_cast<unsigned>(t.month), static_cast<unsigned>(t.day)) * 86400 +
         t.hour * 3600 + t.minute * 60 + t.second;
}

Clock Clock::fixed_offset(std::int64_t now, std::int32_t utc_offset_seconds) {
  Clock c;
  c.now = now;
  c.to_local = [utc_offset_seconds](std::int64_t epoch) { return civil_from_epoch(epoch + utc_offset_seconds); };
  c.from_local = [utc_offset_seconds](const CivilTime& t) -> std::optional<std::int64_t> {
    return epoch_from_civil(t) - utc_offset_seconds;
  };
  return c;
}

Result<std::int64_t> parse_begin_time(std::string_view text, const Clock& clock) {
  return BeginParser(text, clock).run();
}

}  // namespace drover::script
