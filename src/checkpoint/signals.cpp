#include "signals.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "errors.hpp"

namespace drover::checkpoint {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_checkpoint_signal(int) { g_stop = 1; }

struct Named {
  const char* name;
  int number;
};

constexpr Named kSignals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ABRT", SIGABRT}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"PWR", SIGPWR},   {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"PIPE", SIGPIPE},
};

bool parse_int(std::string_view s, int& out) {
  if (s.empty() || s.size() > 4) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

bool stop_requested_locally() { return g_stop != 0; }

void request_stop() { g_stop = 1; }

void clear_stop_request() { g_stop = 0; }

int attempt() {
  const char* v = std::getenv("DROVER_ATTEMPT");
  int n = 0;
  if (!v || !parse_int(v, n) || n < 1) return 1;
  return n;
}

bool restart_requested_by_drover() {
  const char* v = std::getenv("DROVER_RESTART");
  return v && std::string_view(v) == "1";
}

Result<int> parse_signal(std::string_view text) {
  const std::string original(text);
  auto bad = [&](const std::string& why) {
    return detail::make_error(ErrorCode::invalid_argument, "signal '" + original + "'", why);
  };
  // sbatch --signal's "[R:|B:]SIG@SECS": the seconds matter to Drover, not here.
  if (text.size() > 2 && text[1] == ':' && (text[0] == 'R' || text[0] == 'B')) text.remove_prefix(2);
  if (const auto at = text.find('@'); at != std::string_view::npos) text = text.substr(0, at);
  std::string s;
  for (char c : text) s += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  if (s.rfind("SIG", 0) == 0) s.erase(0, 3);
  int number = -1;
  if (parse_int(s, number)) {
  } else if (s.rfind("RTMIN", 0) == 0 || s.rfind("RTMAX", 0) == 0) {
    const bool min = s[3] == 'I';
    int offset = 0;
    const std::string rest = s.substr(5);
    if (!rest.empty()) {
      if ((min && rest[0] != '+') || (!min && rest[0] != '-') || !parse_int(rest.substr(1), offset))
        return bad("not a signal name or number");
    }
    number = min ? SIGRTMIN + offset : SIGRTMAX - offset;
    if (number < SIGRTMIN || number > SIGRTMAX) return bad("outside SIGRTMIN..SIGRTMAX");
  } else {
    for (const auto& n : kSignals)
      if (s == n.name) number = n.number;
    if (number < 0) return bad("not a signal name or number");
  }
  if (number <= 0 || number >= NSIG) return bad("no such signal");
  if (number == SIGKILL || number == SIGSTOP) return bad("it cannot be caught");
  return number;
}

namespace detail {

Result<int> resolve_signal(int requested) {
  if (requested != 0) {
    if (requested < 0 || requested >= NSIG || requested == SIGKILL || requested == SIGSTOP)
      return make_error(ErrorCode::invalid_argument, "signal " + std::to_string(requested), "cannot be caught");
    return requested;
  }
  const char* env = std::getenv("DROVER_CHECKPOINT_SIGNAL");
  if (!env || !*env) return SIGUSR1;
  auto r = parse_signal(env);
  if (!r) return with_context("DROVER_CHECKPOINT_SIGNAL", r.error());
  return r;
}

Status install_handler(int signal) {
  struct sigaction sa {};
  sa.sa_handler = on_checkpoint_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (::sigaction(signal, &sa, nullptr) != 0)
    return make_error(ErrorCode::io, "cannot install the handler of signal " + std::to_string(signal),
                      errno_text(errno));
  return {};
}

}  // namespace detail
}  // namespace drover::checkpoint
