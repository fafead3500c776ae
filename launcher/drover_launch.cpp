// drover-launch: what mpirun (plm_rsh_agent) and other ssh-style launchers use
// inside a Drover job instead of ssh. `drover-launch HOST COMMAND...` asks the
// drover-noded on HOST, authenticated with MUNGE, to run COMMAND inside this job
// there, copies its output here and exits with its exit status. See README.md.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "proto/step_messages.hpp"
#include "transport/connection.hpp"
#include "transport/munge_credential.hpp"

extern char** environ;

namespace {

using namespace drover;

constexpr int kFailure = 255;  // as ssh: the launcher itself failed, not the command
constexpr int kDefaultAgentPort = 6819;

constexpr const char* kUsage =
    "usage: drover-launch [-l USER] [ssh options, ignored] HOST COMMAND [ARG...]\n"
    "Runs COMMAND on HOST inside the current Drover job, as ssh would run it there\n"
    "(the words joined by spaces, run by your shell). For mpirun:\n"
    "  mpirun --mca plm_rsh_agent drover-launch ...\n"
    "Needs DROVER_JOB_ID (set in every Drover job); finds HOST's agent in\n"
    "DROVER_NODE_ADDRESSES (name=tcp:IP:PORT,...) or at tcp:HOST:$DROVER_AGENT_PORT\n"
    "(default 6819); munged's socket in DROVER_MUNGE_SOCKET (default: libmunge's).\n";

[[noreturn]] void die(const std::string& message) {
  std::cerr << "drover-launch: " << message << "\n";
  std::exit(kFailure);
}

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "drover-launch: " << message << "\n"
            << "usage: drover-launch [-l USER] [ssh options, ignored] HOST COMMAND [ARG...] (see --help)\n";
  std::exit(kFailure);
}

struct Invocation {
  std::string host;
  std::string login;  // -l USER or USER@HOST
  std::vector<std::string> command;
};

// ssh's options: those that take a value, and flags. Both are accepted and
// ignored (mpirun and scripts written for ssh pass some), except -l.
constexpr std::string_view kWithValue = "BbcDEeFIiJLlmOopQRSWw";
constexpr std::string_view kFlags = "46AaCfGgKkMNnqsTtVvXxYy";

Invocation parse_arguments(int argc, char** argv) {
  Invocation inv;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    // Flags may be grouped (-xq); an option with a value takes the rest of the
    // word or the next one (-luser, -l user).
    for (std::size_t k = 1; k < arg.size(); ++k) {
      const char c = arg[k];
      if (kFlags.find(c) != std::string_view::npos) continue;
      if (kWithValue.find(c) == std::string_view::npos)
        usage_error(std::string("unknown option -") + c);
      std::string value = arg.substr(k + 1);
      if (value.empty()) {
        if (i + 1 >= argc) usage_error(std::string("option -") + c + " needs a value");
        value = argv[++i];
      }
      if (c == 'l') inv.login = value;
      break;
    }
  }
  if (i >= argc) usage_error("no host given");
  inv.host = argv[i++];
  if (const auto at = inv.host.rfind('@'); at != std::string::npos) {
    inv.login = inv.host.substr(0, at);
    inv.host = inv.host.substr(at + 1);
  }
  if (inv.host.empty()) usage_error("no host given");
  for (; i < argc; ++i) inv.command.emplace_back(argv[i]);
  if (inv.command.empty())
    usage_error("no command given (drover-launch runs commands; it opens no interactive shells)");
  return inv;
}

struct Target {
  std::string node;     // the agent's node name, bound into the credential
  std::string address;  // tcp:IP:PORT
};

std::string short_name(const std::string& host) { return host.substr(0, host.find('.')); }

// DROVER_NODE_ADDRESSES "n1=tcp:10.0.0.1:6819,n2=tcp:10.0.0.2:6819" names the job's
// nodes and their agents. HOST may be a node's name, its short name, or the IP in
// its address (hostfiles hold any of them).
Target resolve(const std::string& host) {
  if (const char* list = std::getenv("DROVER_NODE_ADDRESSES"); list && *list) {
    std::optional<Target> by_short, by_ip;
    const std::string text = list;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      std::size_t end = text.find(',', pos);
      if (end == std::string::npos) end = text.size();
      const std::string entry = text.substr(pos, end - pos);
      pos = end + 1;
      const auto eq = entry.find('=');
      if (entry.empty()) continue;
      if (eq == std::string::npos || eq == 0)
        die("bad DROVER_NODE_ADDRESSES entry '" + entry + "': expected NAME=tcp:IP:PORT");
      Target t{entry.substr(0, eq), entry.substr(eq + 1)};
      auto addr = transport::Address::parse(t.address);
      if (!addr || !addr->tcp) die("bad DROVER_NODE_ADDRESSES entry '" + entry + "': expected NAME=tcp:IP:PORT");
      if (t.node == host) return t;
      if (!by_short && short_name(t.node) == short_name(host)) by_short = t;
      if (!by_ip && addr->host == host) by_ip = t;
    }
    if (by_short) return *by_short;
    if (by_ip) return *by_ip;
  }
  int port = kDefaultAgentPort;
  if (const char* p = std::getenv("DROVER_AGENT_PORT"); p && *p) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (*end != '\0' || v <= 0 || v > 65535) die("bad DROVER_AGENT_PORT '" + std::string(p) + "'");
    port = static_cast<int>(v);
  }
  return {host, "tcp:" + host + ":" + std::to_string(port)};
}

std::int64_t job_id() {
  const char* v = std::getenv("DROVER_JOB_ID");
  if (!v || !*v) {
    std::cerr << "drover-launch runs only inside a Drover job (DROVER_JOB_ID is not set)\n";
    std::exit(kFailure);
  }
  char* end = nullptr;
  errno = 0;
  const long long id = std::strtoll(v, &end, 10);
  if (*end != '\0' || id <= 0 || errno == ERANGE) die("bad DROVER_JOB_ID '" + std::string(v) + "'");
  return id;
}

KeyValues environment() {
  KeyValues env;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry = *e;
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    env.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

std::string current_directory() {
  std::vector<char> buf(4096);
  for (;;) {
    if (::getcwd(buf.data(), buf.size())) return buf.data();
    if (errno != ERANGE || buf.size() > (1u << 20)) return "";
    buf.resize(buf.size() * 2);
  }
}

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::exit(kFailure);  // our own output is gone; closing the connection stops the command
    done += static_cast<std::size_t>(n);
  }
}

// A node that dies sends no FIN; without keepalive we would wait for its
// command forever (and so would mpirun).
void keep_alive(int fd) {
  const int on = 1, idle = 60, interval = 10, count = 6;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// SIGTERM, SIGINT, SIGHUP: die of the signal. The kernel closes the connection,
// and the agent stops the remote command (SIGTERM, then SIGKILL).
void on_fatal_signal(int sig) {
  ::signal(sig, SIG_DFL);
  ::kill(::getpid(), sig);
}

}  // namespace

int main(int argc, char** argv) {
  const Invocation inv = parse_arguments(argc, argv);
  if (!inv.login.empty()) {
    const passwd* pw = ::getpwnam(inv.login.c_str());
    if (!pw || pw->pw_uid != ::getuid())
      usage_error("cannot log in as " + inv.login + ": drover-launch runs commands as the job's owner only");
  }
  const std::int64_t job = job_id();
  const Target target = resolve(inv.host);
  const char* munge_socket = std::getenv("DROVER_MUNGE_SOCKET");

  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::signal(sig, on_fatal_signal);

  proto::StepLaunch request;
  request.job_id = job;
  request.node = target.node;
  request.argv = inv.command;
  request.cwd = current_directory();
  request.environment = environment();
  auto credential = transport::munge_encode(proto::step_credential_payload(job, target.node),
                                            munge_socket ? munge_socket : "");
  if (!credential) die(inv.host + ": " + credential.message());
  request.credential = std::move(*credential);

  auto client = transport::Client::connect(target.address, proto::kMaxStepFrame);
  if (!client) die(inv.host + ": " + client.message() + " (is drover-noded running there with --listen?)");
  keep_alive(client->fd());
  if (auto st = client->send(proto::dump(proto::to_json(request))); !st) die(inv.host + ": " + st.message());

  for (;;) {
    auto frame = client->receive();
    if (!frame) die(inv.host + ": connection lost before the command ended (" + frame.message() + ")");
    auto reply = proto::step_reply_from_frame(*frame);
    if (!reply) die(inv.host + ": " + reply.message());
    if (auto* out = std::get_if<proto::StepOutput>(&*reply)) {
      write_all(out->stream == proto::StepStream::Stdout ? STDOUT_FILENO : STDERR_FILENO, out->data);
    } else if (auto* refused = std::get_if<proto::StepRefused>(&*reply)) {
      die(inv.host + ": refused: " + refused->reason);
    } else if (auto* exit = std::get_if<proto::StepExit>(&*reply)) {
      if (!exit->reason.empty())
        std::cerr << "drover-launch: " << inv.host << ": command stopped: " << exit->reason << "\n";
      return exit->exit_code ? *exit->exit_code : 128 + exit->signal;
    }
    // step_accepted: the command runs; nothing to do.
  }
}
