#include "script/signal_spec.hpp"

#include "core/text.hpp"

namespace drover::script {

namespace {

// Linux (x86, ARM) numbers; the module stays free of <csignal>, whose POSIX names are not
// standard C++, and the numbers travel to the node agent, which runs Linux.
struct NamedSignal {
  const char* name;
  int number;
};
constexpr NamedSignal kSignals[] = {
    {"HUP", 1},     {"INT", 2},     {"QUIT", 3},    {"ILL", 4},      {"TRAP", 5},
    {"ABRT", 6},    {"BUS", 7},     {"FPE", 8},     {"KILL", 9},     {"USR1", 10},
    {"SEGV", 11},   {"USR2", 12},   {"PIPE", 13},   {"ALRM", 14},    {"TERM", 15},
    {"STKFLT", 16}, {"CHLD", 17},   {"CONT", 18},   {"STOP", 19},    {"TSTP", 20},
    {"TTIN", 21},   {"TTOU", 22},   {"URG", 23},    {"XCPU", 24},    {"XFSZ", 25},
    {"VTALRM", 26}, {"PROF", 27},   {"WINCH", 28},  {"IO", 29},      {"PWR", 30},
    {"SYS", 31},
};
constexpr int kMaxSignal = 64;

Error bad(std::string_view text, const std::string& why) {
  return make_error("signal " + quoted(text), why);
}

}  // namespace

std::optional<int> signal_number(std::string_view name) {
  if (name.empty()) return std::nullopt;
  if (is_digits(name)) {
    const auto n = parse_uint(name, kMaxSignal);
    if (!n || *n < 1) return std::nullopt;
    return static_cast<int>(*n);
  }
  std::string upper = to_upper(name);
  if (upper.rfind("SIG", 0) == 0) upper.erase(0, 3);
  for (const auto& s : kSignals)
    if (upper == s.name) return s.number;
  return std::nullopt;
}

std::string signal_name(int number) {
  for (const auto& s : kSignals)
    if (s.number == number) return s.name;
  return std::to_string(number);
}

std::string SignalSpec::to_string() const {
  std::string out;
  if (reservation) out += 'R';
  if (batch_shell_only) out += 'B';
  if (!out.empty()) out += ':';
  out += signal_name(number);
  if (seconds_before != 60) out += '@' + std::to_string(seconds_before);
  return out;
}

Result<SignalSpec> parse_signal_spec(std::string_view text) {
  SignalSpec spec;
  std::string_view rest = text;
  if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    const std::string flags = to_upper(rest.substr(0, colon));
    if (flags != "B" && flags != "R" && flags != "RB" && flags != "BR")
      return bad(text, "'" + std::string(rest.substr(0, colon)) + ":' is not B: (batch shell) or R: (reservation)");
    spec.batch_shell_only = flags.find('B') != std::string::npos;
    spec.reservation = flags.find('R') != std::string::npos;
    rest = rest.substr(colon + 1);
  }
  std::string_view sig = rest;
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    sig = rest.substr(0, at);
    const std::string_view secs = rest.substr(at + 1);
    const auto s = parse_uint(secs, 65535);
    if (!s) return bad(text, "'@" + std::string(secs) + "': expected seconds before the time limit, 0 to 65535");
    spec.seconds_before = static_cast<int>(*s);
  }
  if (sig.empty()) return bad(text, "no signal; expected e.g. USR1, B:USR1@90 or 10@60");
  const auto n = signal_number(sig);
  if (!n) return bad(text, quoted(sig) + " is not a signal; use a name such as USR1, TERM or INT, or a number 1-64");
  spec.number = *n;
  return spec;
}

}  // namespace drover::script
