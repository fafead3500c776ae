#include "agent/step_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/job_launcher.hpp"
#include "agent/step_process.hpp"
#include "agent/syscall.hpp"
#include "transport/log.hpp"
#include "transport/munge_credential.hpp"

namespace drover::agent {

namespace {

constexpr std::size_t kMaxPending = 256;           // connections that have not sent their request
constexpr std::size_t kHighWater = 1u << 20;       // stop reading a step's output above this much queued
constexpr std::size_t kLowWater = 256u << 10;      // ... and start again below this
constexpr std::int64_t kResumePollMs = 10;
constexpr std::int64_t kAfterKillMs = 500;         // SIGKILL -> give up on pipes held by escapees

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else {
    return "local";
  }
  return std::string(host) + ":" + std::to_string(port);
}

// A client whose machine died sends no FIN: keepalive finds it within about two
// minutes, so its step does not run on forever.
void keep_alive(int fd) {
  const int on = 1, idle = 60, interval = 10, count = 6;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::string shorten(const std::string& s, std::size_t n = 200) {
  return s.size() > n ? s.substr(0, n) + "..." : s;
}

// Whether /proc/<pid>/environ holds exactly the entry `entry` (NAME=value).
bool has_environment_entry(pid_t pid, const std::string& entry) {
  const std::string path = "/proc/" + std::to_string(pid) + "/environ";
  const int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return false;
  std::string env;
  char buf[16384];
  for (;;) {
    const ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n <= 0) break;
    env.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::size_t pos = 0;
  while (pos < env.size()) {
    std::size_t end = env.find('\0', pos);
    if (end == std::string::npos) end = env.size();
    if (env.compare(pos, end - pos, entry) == 0) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

struct StepServer::Step {
  std::uint64_t number = 0;
  std::string id;        // "<job>.<number>", DROVER_STEP_ID
  std::int64_t job_id = 0;
  std::uint64_t conn_id = 0;
  std::shared_ptr<transport::Connection> conn;  // null once the client has gone
  pid_t pid = -1;
  int fds[2] = {-1, -1};           // stdout, stderr
  bool watched[2] = {false, false};
  bool paused = false;
  bool reaped = false;
  int wait_status = 0;
  std::uint64_t kill_timer = 0;
  std::string reason;              // why the agent stopped it
  JobCgroup cgroup;
};

StepServer::StepServer(transport::EventLoop& loop, std::string node_name, std::string munge_socket,
                       Lookup lookup)
    : loop_(loop),
      node_name_(std::move(node_name)),
      munge_socket_(std::move(munge_socket)),
      lookup_(std::move(lookup)) {}

StepServer::~StepServer() {
  alive_.reset();
  listener_.reset();
  for (auto& [number, step] : steps_) {
    signal_step(*step, SIGKILL);
    for (int which = 0; which < 2; ++which) close_output(*step, which);
    if (step->conn) {
      step->conn->on_close(nullptr);
      step->conn->on_message(nullptr);
    }
  }
  for (auto& [id, p] : pending_) {
    p.conn->on_close(nullptr);
    p.conn->on_message(nullptr);
  }
  for (auto& [id, c] : closing_) c->on_close(nullptr);
}

Status StepServer::listen(const std::string& address) {
  auto addr = transport::Address::parse(address);
  if (!addr) return addr.error();
  if (!addr->tcp)
    return make_error("bad step service address '" + address + "'", "expected tcp:HOST:PORT, e.g. tcp:0.0.0.0:6819");
  auto l = transport::Listener::listen(loop_, *addr, 0600, [this](int fd) { on_accept(fd); });
  if (!l) return make_error("cannot start the step service", l.message());
  listener_ = std::move(*l);
  // Not fatal: munged may come up later. But an admin should learn now why
  // every drover-launch would be refused.
  if (auto probe = transport::munge_encode("drover-noded probe", munge_socket_); !probe)
    log::warn("step service: drover-launch will be refused until munged answers: " + probe.message());
  return {};
}

std::string StepServer::address() const { return listener_ ? listener_->address().to_string() : ""; }

void StepServer::on_accept(int fd) {
  const std::string peer = peer_name(fd);
  if (pending_.size() >= kMaxPending) {
    log::warn("step service: " + std::to_string(pending_.size()) +
              " connections are waiting to send their request; closed one from " + peer);
    ::close(fd);
    return;
  }
  keep_alive(fd);
  const std::uint64_t id = next_conn_++;
  auto conn = transport::Connection::adopt(loop_, fd, proto::kMaxStepFrame);
  std::weak_ptr<bool> alive = alive_;
  conn->on_message([this, alive, id](const auto&, std::string frame) {
    if (!alive.expired()) on_request(id, frame);
  });
  conn->on_close([this, alive, id](const auto&, const std::string& why) {
    if (alive.expired()) return;
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    loop_.cancel(it->second.timer);
    // A frame too large or cut short: the Connection has said so to the peer.
    log::warn("step request from " + it->second.peer + " dropped: " + why);
    pending_.erase(it);  // the Connection keeps itself alive through this call
  });
  Pending& p = pending_[id];
  p.conn = conn;
  p.peer = peer;
  p.timer = loop_.after(request_timeout_ms_, [this, alive, id] {
    if (alive.expired()) return;
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    it->second.timer = 0;
    refuse(id, "no request within " + std::to_string(request_timeout_ms_ / 1000) + " s");
  });
  conn->start();
}

void StepServer::refuse(std::uint64_t conn_id, const std::string& reason) {
  auto it = pending_.find(conn_id);
  if (it == pending_.end()) return;
  log::warn("step refused for " + it->second.peer + ": " + reason);
  auto conn = std::move(it->second.conn);
  if (it->second.timer) loop_.cancel(it->second.timer);
  pending_.erase(it);
  conn->send(proto::dump(proto::to_json(proto::StepRefused{reason})));
  close_after_flush(conn_id, std::move(conn));
}

void StepServer::close_after_flush(std::uint64_t conn_id, std::shared_ptr<transport::Connection> conn) {
  conn->on_message(nullptr);
  if (!conn->open()) return;
  std::weak_ptr<bool> alive = alive_;
  conn->on_close([this, alive, conn_id](const auto&, const std::string&) {
    if (alive.expired()) return;
    // Not now: this runs inside the Connection, whose owner is the map entry.
    loop_.defer([this, alive, conn_id] {
      if (!alive.expired()) closing_.erase(conn_id);
    });
  });
  closing_[conn_id] = conn;
  conn->close_after_flush();
}

std::string StepServer::authorize(const proto::StepLaunch& r, StepTarget& target, std::uint32_t& uid) {
  if (r.version != proto::kStepProtocolVersion)
    return "unsupported step protocol version " + std::to_string(r.version) + " (this agent speaks " +
           std::to_string(proto::kStepProtocolVersion) + ")";
  // The credential first: nothing about this node's jobs is told to a stranger.
  auto who = transport::munge_decode(r.credential, munge_socket_);
  if (!who) return who.message();
  auto claim = proto::step_claim_from_payload(who->payload);
  if (!claim) return claim.message();
  if (claim->job_id != r.job_id || claim->node != r.node)
    return "the credential is for job " + std::to_string(claim->job_id) + " on node " + claim->node +
           ", not for job " + std::to_string(r.job_id) + " on node " + r.node;
  if (claim->node != node_name_)
    return "the credential is for node " + claim->node + ", this is node " + node_name_;
  auto found = lookup_(r.job_id);
  if (!found) return "job " + std::to_string(r.job_id) + " is not running on node " + node_name_;
  if (who->uid != 0 && who->uid != found->uid)
    return "uid " + std::to_string(who->uid) + " may not start processes in job " + std::to_string(r.job_id) +
           ", which belongs to uid " + std::to_string(found->uid);
  target = std::move(*found);
  uid = who->uid;
  return "";
}

void StepServer::on_request(std::uint64_t conn_id, const std::string& frame) {
  auto it = pending_.find(conn_id);
  if (it == pending_.end()) return;  // a running step's client has nothing more to say
  auto request = proto::step_launch_from_frame(frame);
  if (!request) return refuse(conn_id, request.message());
  StepTarget target;
  std::uint32_t uid = 0;
  if (const std::string why = authorize(*request, target, uid); !why.empty()) return refuse(conn_id, why);
  start_step(conn_id, *request, target, uid);
}

void StepServer::start_step(std::uint64_t conn_id, const proto::StepLaunch& r, const StepTarget& target,
                            std::uint32_t asked_by) {
  const std::uint64_t number = next_step_++;
  const std::string step_id = std::to_string(r.job_id) + "." + std::to_string(number);
  StepSpawnSpec spec;
  spec.uid = target.uid;
  spec.gid = target.gid;
  spec.user = target.user;
  spec.command = join_words(r.argv);
  spec.environment = r.environment;
  for (const auto& [k, v] : target.environment_overrides) set_value(spec.environment, k, v);
  set_value(spec.environment, "DROVER_STEP_ID", step_id);
  spec.directories = {r.cwd, target.working_dir};
  spec.cpus = target.cpus;
  JobCgroup cgroup;
  if (target.cgroup && target.cgroup->active()) {
    cgroup = *target.cgroup;
    spec.cgroup_dirs = cgroup.dirs();
  }
  auto spawned = spawn_step(spec);
  if (!spawned) return refuse(conn_id, "cannot start the command: " + spawned.message());

  auto p = pending_.find(conn_id);
  const std::string peer = p->second.peer;
  auto conn = std::move(p->second.conn);
  if (p->second.timer) loop_.cancel(p->second.timer);
  pending_.erase(p);

  auto step = std::make_unique<Step>();
  step->number = number;
  step->id = step_id;
  step->job_id = r.job_id;
  step->conn_id = conn_id;
  step->conn = conn;
  step->pid = spawned->pid;
  step->fds[0] = spawned->stdout_fd;
  step->fds[1] = spawned->stderr_fd;
  step->cgroup = std::move(cgroup);
  Step& s = *step;
  steps_[number] = std::move(step);
  step_of_pid_[s.pid] = number;

  std::weak_ptr<bool> alive = alive_;
  conn->on_message(nullptr);
  conn->on_close([this, alive, number, conn_id](const auto&, const std::string& why) {
    if (alive.expired()) return;
    loop_.defer([this, alive, number, conn_id, why] {
      if (alive.expired()) return;
      closing_.erase(conn_id);
      on_disconnect(number, why);
    });
  });
  log::info("step " + step_id + " (pid " + std::to_string(s.pid) + ", uid " + std::to_string(target.uid) +
            ") for uid " + std::to_string(asked_by) + " at " + peer + ": " + shorten(spec.command));
  conn->send(proto::dump(proto::to_json(proto::StepAccepted{step_id})));
  watch_output(s);
}

void StepServer::watch_output(Step& s) {
  std::weak_ptr<bool> alive = alive_;
  for (int which = 0; which < 2; ++which) {
    if (s.fds[which] < 0 || s.watched[which]) continue;
    const std::uint64_t number = s.number;
    loop_.add(s.fds[which], EPOLLIN, [this, alive, number, which](std::uint32_t) {
      if (!alive.expired()) read_output(number, which);
    });
    s.watched[which] = true;
  }
  s.paused = false;
}

void StepServer::read_output(std::uint64_t number, int which) {
  auto it = steps_.find(number);
  if (it == steps_.end()) return;
  Step& s = *it->second;
  char buf[proto::kMaxStepOutputChunk];
  // A bounded number of chunks per turn, so one chatty step cannot starve the loop.
  for (int round = 0; round < 16 && s.fds[which] >= 0; ++round) {
    if (s.conn && s.conn->queued_bytes() > kHighWater) return pause_output(s);
    const ssize_t n = ::read(s.fds[which], buf, sizeof buf);
    if (n > 0) {
      proto::StepOutput out;
      out.stream = which == 0 ? proto::StepStream::Stdout : proto::StepStream::Stderr;
      out.data.assign(buf, static_cast<std::size_t>(n));
      // Without a client the output is read and dropped, so the step never blocks on it.
      if (s.conn) s.conn->send(proto::dump(proto::to_json(out)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_output(s, which);  // EOF: every writer has gone
    return maybe_finish(number);
  }
}

void StepServer::pause_output(Step& s) {
  // Removed from the loop rather than asked for no events: epoll reports a
  // hang-up whatever one asks, and would spin.
  for (int which = 0; which < 2; ++which)
    if (s.watched[which]) {
      loop_.remove(s.fds[which]);
      s.watched[which] = false;
    }
  if (s.paused) return;
  s.paused = true;
  std::weak_ptr<bool> alive = alive_;
  const std::uint64_t number = s.number;
  loop_.after(kResumePollMs, [this, alive, number] {
    if (alive.expired()) return;
    auto it = steps_.find(number);
    if (it == steps_.end()) return;
    Step& step = *it->second;
    if (!step.conn || step.conn->queued_bytes() < kLowWater) return watch_output(step);
    step.paused = false;
    pause_output(step);  // checks again later
  });
}

void StepServer::close_output(Step& s, int which) {
  if (s.fds[which] < 0) return;
  if (s.watched[which]) loop_.remove(s.fds[which]);
  s.watched[which] = false;
  ::close(s.fds[which]);
  s.fds[which] = -1;
}

bool StepServer::on_child_exit(pid_t pid, int wait_status) {
  auto p = step_of_pid_.find(pid);
  if (p == step_of_pid_.end()) return false;
  const std::uint64_t number = p->second;
  step_of_pid_.erase(p);
  auto it = steps_.find(number);
  if (it == steps_.end()) return true;
  it->second->reaped = true;
  it->second->wait_status = wait_status;
  // The exit is reported once the pipes have drained: like sshd, output a
  // background process still writes comes first.
  maybe_finish(number);
  return true;
}

void StepServer::maybe_finish(std::uint64_t number) {
  auto it = steps_.find(number);
  if (it == steps_.end()) return;
  Step& s = *it->second;
  if (!s.reaped || s.fds[0] >= 0 || s.fds[1] >= 0) return;
  const ExitStatus es = decode_wait_status(s.wait_status);
  proto::StepExit e;
  if (es.signal == 0) e.exit_code = es.exit_code;
  e.signal = es.signal;
  e.reason = s.reason;
  log::info("step " + s.id + " ended: " +
            (es.signal ? "signal " + std::to_string(es.signal) : "exit " + std::to_string(es.exit_code)) +
            (s.reason.empty() ? "" : " (" + s.reason + ")"));
  if (s.kill_timer) loop_.cancel(s.kill_timer);
  if (s.conn) {
    s.conn->send(proto::dump(proto::to_json(e)));
    close_after_flush(s.conn_id, std::move(s.conn));
  }
  steps_.erase(it);
}

void StepServer::on_disconnect(std::uint64_t number, const std::string& why) {
  auto it = steps_.find(number);
  if (it == steps_.end()) return;
  Step& s = *it->second;
  s.conn.reset();
  log::info("step " + s.id + ": its client went away (" + why + "); stopping it");
  terminate(s, "its client went away");
  // Output nobody will read must not block the step: keep draining it.
  if (s.paused) watch_output(s);
}

void StepServer::kill_steps(std::int64_t job_id, const std::string& reason) {
  for (auto& [number, step] : steps_)
    if (step->job_id == job_id) terminate(*step, reason);
}

void StepServer::kill_all_steps() {
  for (auto& [number, step] : steps_) {
    if (step->reason.empty()) step->reason = "the agent stopped";
    signal_step(*step, SIGKILL);
  }
}

void StepServer::terminate(Step& s, const std::string& reason) {
  if (s.reason.empty()) s.reason = reason;
  signal_step(s, SIGTERM);
  if (s.kill_timer) return;
  std::weak_ptr<bool> alive = alive_;
  const std::uint64_t number = s.number;
  s.kill_timer = loop_.after(kill_grace_ms_, [this, alive, number] {
    if (alive.expired()) return;
    auto it = steps_.find(number);
    if (it == steps_.end()) return;
    it->second->kill_timer = 0;
    signal_step(*it->second, SIGKILL);
    // Pipes still held after SIGKILL belong to processes that left both the
    // process group and the job's cgroup (or there is none): stop waiting.
    it->second->kill_timer = loop_.after(kAfterKillMs, [this, alive, number] {
      if (alive.expired()) return;
      auto it = steps_.find(number);
      if (it == steps_.end()) return;
      it->second->kill_timer = 0;
      for (int which = 0; which < 2; ++which) {
        if (it->second->fds[which] >= 0) read_output(number, which);
        if (steps_.count(number)) close_output(*it->second, which);
        else return;
      }
      maybe_finish(number);
    });
  });
}

void StepServer::signal_step(const Step& s, int sig) const {
  // The group outlives its leader while members remain (and its id is not
  // reused while it does); once the pipes have closed too there is nobody left.
  if (!s.reaped || s.fds[0] >= 0 || s.fds[1] >= 0) ::kill(-s.pid, sig);
  if (!s.cgroup.active()) return;
  // Processes that left the group (setsid, daemonized orted) but not the job's cgroup.
  const std::string marker = "DROVER_STEP_ID=" + s.id;
  for (pid_t pid : s.cgroup.pids())
    if (has_environment_entry(pid, marker)) ::kill(pid, sig);
}

}  // namespace drover::agent
