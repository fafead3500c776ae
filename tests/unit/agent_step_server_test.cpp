// The step service against the real drover-launch: a StepServer runs in its own
// process (as in drover-noded: an EventLoop that reaps its children and hands
// them to the server), with a private munged, and the test runs drover-launch
// as mpirun would. Runs as root (steps as other users, cgroups); skips with a
// message where munged cannot start.
#include "agent/step_server.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/munge_daemon.hpp"
#include "agent/job_launcher.hpp"
#include "proto/frame.hpp"
#include "proto/step_messages.hpp"
#include "transport/connection.hpp"
#include "transport/log.hpp"
#include "transport/munge_credential.hpp"

namespace drover::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kLauncher = DROVER_BIN_DIR "/drover-launch";
constexpr std::uint32_t kNobody = 65534;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool wait_until(const std::function<bool()>& pred, int timeout_ms = 10000) {
  const auto deadline = now_ms() + timeout_ms;
  while (!pred()) {
    if (now_ms() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// read(2), not ifstream: a /proc file of a process exiting mid-read fails with ESRCH.
std::string read_text(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  ::close(fd);
  return out;
}

// Alive and not a zombie.
bool process_alive(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

pid_t read_pid_file(const std::string& path) {
  pid_t pid = 0;
  wait_until([&] {
    pid = static_cast<pid_t>(std::atoi(read_text(path).c_str()));
    return pid > 0;
  });
  return pid;
}

// The highest CPU this test may run on: binding a step to it alone is visible
// in Cpus_allowed_list (unless the machine has a single CPU).
int some_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  ::sched_getaffinity(0, sizeof set, &set);
  int cpu = 0;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) cpu = i;
  return cpu;
}

// A StepServer in a child process. Its control socket takes "count" and
// "kill <job>" lines; closing it stops the server.
class ServerProcess {
 public:
  ServerProcess(const std::string& node, const std::string& munge_socket, std::map<std::int64_t, StepTarget> jobs,
                const std::string& log_path) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(sv[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log >= 0) ::dup2(log, 2);
      ::_exit(serve(sv[1], node, munge_socket, std::move(jobs)));
    }
    ::close(sv[1]);
    control_ = sv[0];
    address_ = call("address");
  }
  ~ServerProcess() {
    if (control_ >= 0) ::close(control_);
    if (pid_ > 0) {
      int status = 0;
      const bool gone = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 5000);
      if (!gone) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
  }
  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0 && process_alive(pid_); }

  std::string call(const std::string& line) {
    const std::string msg = line + "\n";
    if (::write(control_, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) return "";
    std::string reply;
    char c;
    pollfd p{control_, POLLIN, 0};
    while (::poll(&p, 1, 10000) == 1 && ::read(control_, &c, 1) == 1 && c != '\n') reply += c;
    return reply;
  }
  std::size_t step_count() { return static_cast<std::size_t>(std::atoi(call("count").c_str())); }

 private:
  static int serve(int control, const std::string& node, const std::string& munge_socket,
                   std::map<std::int64_t, StepTarget> jobs) {
    ::signal(SIGPIPE, SIG_IGN);
    log::set_name("step-server-test");
    transport::EventLoop loop;
    StepServer server(loop, node, munge_socket, [&jobs](std::int64_t id) -> std::optional<StepTarget> {
      auto it = jobs.find(id);
      if (it == jobs.end()) return std::nullopt;
      return it->second;
    });
    server.set_kill_grace_ms(500);
    server.set_request_timeout_ms(2000);
    if (auto st = server.listen("tcp:127.0.0.1:0"); !st) {
      log::error(st.message());
      return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    const int sigchld = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    loop.add(sigchld, EPOLLIN, [&](std::uint32_t) {
      signalfd_siginfo si{};
      while (::read(sigchld, &si, sizeof si) == sizeof si) {
      }
      for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        server.on_child_exit(pid, status);
      }
    });
    std::string pending;
    loop.add(control, EPOLLIN, [&](std::uint32_t) {
      char buf[256];
      const ssize_t n = ::read(control, buf, sizeof buf);
      if (n <= 0) return loop.stop();
      pending.append(buf, static_cast<std::size_t>(n));
      for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        const std::string cmd = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        std::string reply = "?";
        if (cmd == "address") reply = server.address();
        if (cmd == "count") reply = std::to_string(server.step_count());
        if (cmd.rfind("kill ", 0) == 0) {
          server.kill_steps(std::atoll(cmd.c_str() + 5));
          reply = "ok";
        }
        reply += "\n";
        (void)!::write(control, reply.data(), reply.size());
      }
    });
    loop.run();
    loop.remove(control);
    loop.remove(sigchld);
    return 0;
  }

  pid_t pid_ = -1;
  int control_ = -1;
  std::string address_;
};

struct Outcome {
  int code = -1;  // exit status, 128+N when killed by signal N
  std::string out, err;
  std::string describe() const { return "exit " + std::to_string(code) + "\nstdout: " + out + "\nstderr: " + err; }
};

// One drover-launch run, started now and collected by finish().
class Launch {
 public:
  Launch(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& cwd,
         std::optional<std::uint32_t> as_uid = std::nullopt) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    std::vector<std::string> argv_storage = {kLauncher};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<std::string> env_storage = env;
    std::vector<char*> argv, envp;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int in = ::open("/dev/null", O_RDONLY);
      ::dup2(in, 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (as_uid && (::setgroups(0, nullptr) != 0 || ::setgid(*as_uid) != 0 || ::setuid(*as_uid) != 0)) {
        ::perror("cannot switch user");
        ::_exit(126);
      }
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      ::execve(argv[0], argv.data(), envp.data());
      ::perror(argv[0]);
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Launch() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      finish();
    }
  }
  pid_t pid() const { return pid_; }

  Outcome finish(int timeout_ms = 30000) {
    Outcome o;
    const auto deadline = now_ms() + timeout_ms;
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    int open_fds = 2;
    bool killed = false;
    while (open_fds > 0) {
      const int wait = static_cast<int>(std::max<std::int64_t>(0, deadline - now_ms()));
      const int r = ::poll(fds, 2, killed ? 1000 : wait);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        if (killed) break;
        ::kill(pid_, SIGKILL);
        killed = true;
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          (i == 0 ? o.out : o.err).append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        }
      }
    }
    for (auto& f : fds)
      if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    done_ = true;
    if (killed) {
      o.code = 124;
      o.err += "[drover-launch killed after " + std::to_string(timeout_ms) + " ms]";
    } else if (WIFEXITED(status)) {
      o.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      o.code = 128 + WTERMSIG(status);
    }
    return o;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool done_ = false;
};

class StepServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!munged_.available()) GTEST_SKIP() << "needs munged (Debian package munge): " << munged_.why();
    if (::geteuid() != 0) GTEST_SKIP() << "runs steps as other users: needs root";
    char tmpl[] = "/tmp/drover-steps-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;  // 0700: a step of another user cannot enter it
    cpu_ = some_cpu();
    static int counter = 0;
    layout_ = detect_cgroups("drover-steptest-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    if (layout_.mode != CgroupMode::None) {
      auto cg = JobCgroup::create(layout_, "job_9", 0, {});
      if (cg) cgroup_ = std::move(*cg);
    }

    StepTarget mine;  // job 7: the test's own user, bound to one CPU
    mine.uid = ::getuid();
    mine.gid = ::getgid();
    mine.user = "root";
    mine.working_dir = dir_;
    mine.cpus = {cpu_};
    mine.environment_overrides = {{"DROVER_CPU_LIST", std::to_string(cpu_)}};
    StepTarget nobody;  // job 8: another user's
    nobody.uid = kNobody;
    nobody.gid = kNobody;
    nobody.working_dir = "/";
    StepTarget grouped = mine;  // job 9: in a cgroup, where this machine has them
    grouped.cpus.clear();
    grouped.cgroup = &cgroup_;
    server_ = std::make_unique<ServerProcess>(
        "node-a", munged_.socket(), std::map<std::int64_t, StepTarget>{{7, mine}, {8, nobody}, {9, grouped}},
        dir_ + "/server.log");
    ASSERT_FALSE(server_->address().empty()) << "the step server did not start:\n" << log();
  }

  void TearDown() override {
    server_.reset();
    if (cgroup_.active()) {
      (void)cgroup_.kill_all();
      (void)cgroup_.remove();
    }
    for (const auto& d : {layout_.v1_memory, layout_.v1_cpuset, layout_.v1_devices, layout_.v2_dir})
      if (!d.empty()) ::rmdir(d.c_str());
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  std::string log() const { return read_text(dir_ + "/server.log"); }

  std::vector<std::string> env(std::int64_t job = 7, const std::string& munge_socket = "") const {
    return {"PATH=/usr/local/bin:/usr/bin:/bin",
            "DROVER_JOB_ID=" + std::to_string(job),
            "DROVER_NODE_ADDRESSES=node-z=tcp:127.0.0.1:1,node-a=" + server_->address(),
            "DROVER_MUNGE_SOCKET=" + (munge_socket.empty() ? munged_.socket() : munge_socket),
            "DROVER_CPU_LIST=from-the-client",
            "FOO=bar"};
  }

  Outcome run(const std::vector<std::string>& args, std::int64_t job = 7) {
    return Launch(args, env(job), dir_).finish();
  }

  testing::MungeDaemon munged_;
  std::string dir_;
  int cpu_ = 0;
  CgroupLayout layout_;
  JobCgroup cgroup_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(StepServerTest, RelaysOutputAndExitCode) {
  const Outcome o = run({"node-a", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(o.code, 3) << o.describe() << log();
  EXPECT_EQ(o.out, "out\n");
  EXPECT_EQ(o.err, "err\n");
  EXPECT_TRUE(wait_until([&] { return server_->step_count() == 0; }));
}

TEST_F(StepServerTest, RunsTheWordsAsSshDoesThroughTheShell) {
  // mpirun passes orted's arguments with shell quotes, e.g. "1.0;tcp://...":
  // only a shell given the words joined by spaces reads them right.
  const Outcome o = run({"-x", "-o", "BatchMode=yes", "node-a", "echo", "\"a;b\"", "c;", "echo", "$FOO"});
  EXPECT_EQ(o.code, 0) << o.describe() << log();
  EXPECT_EQ(o.out, "a;b c\nbar\n");
}

TEST_F(StepServerTest, EnvironmentAndDirectoryComeFromTheClientWithTheNodesOverrides) {
  const Outcome o = run({"node-a", "pwd; echo $DROVER_CPU_LIST; echo $DROVER_STEP_ID"});
  ASSERT_EQ(o.code, 0) << o.describe() << log();
  std::istringstream lines(o.out);
  std::string pwd, cpus, step;
  std::getline(lines, pwd);
  std::getline(lines, cpus);
  std::getline(lines, step);
  EXPECT_EQ(pwd, dir_);
  EXPECT_EQ(cpus, std::to_string(cpu_));
  EXPECT_EQ(step.rfind("7.", 0), 0u) << step;
}

TEST_F(StepServerTest, BinaryAndLargeOutputArriveExactly) {
  const Outcome bin = run({"node-a", "printf '\\377\\000\\001x'"});
  EXPECT_EQ(bin.code, 0) << bin.describe();
  EXPECT_EQ(bin.out, std::string("\xff\0\x01x", 4));
  // More than the server queues before it stops reading the step's pipes.
  const Outcome big = run({"node-a", "head -c 5000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero >&2"});
  EXPECT_EQ(big.code, 0) << big.err << log();
  EXPECT_EQ(big.out.size(), 5000000u);
  EXPECT_EQ(big.out.find_first_not_of('x'), std::string::npos);
  EXPECT_EQ(big.err, std::string(300000, '\0'));
}

TEST_F(StepServerTest, ASignalledCommandGives128PlusTheSignal) {
  const Outcome o = run({"node-a", "kill -9 $$"});
  EXPECT_EQ(o.code, 128 + 9) << o.describe();
}

TEST_F(StepServerTest, TheCommandRunsBoundToTheJobsCpus) {
  const Outcome o = run({"node-a", "grep Cpus_allowed_list /proc/self/status"});
  ASSERT_EQ(o.code, 0) << o.describe() << log();
  EXPECT_EQ(o.out, "Cpus_allowed_list:\t" + std::to_string(cpu_) + "\n");
}

TEST_F(StepServerTest, TheCommandRunsAsTheJobsOwnerWhenRootAsks) {
  // Root may start processes in any job; they run as the job's owner, in the
  // job's directory when the client's (private to root) cannot be entered.
  const Outcome o = run({"node-a", "id -u; id -g; pwd"}, 8);
  EXPECT_EQ(o.code, 0) << o.describe() << log();
  EXPECT_EQ(o.out, "65534\n65534\n/\n");
}

TEST_F(StepServerTest, AJobThatDoesNotRunHereIsRefused) {
  const Outcome o = run({"node-a", "echo should not run"}, 99);
  EXPECT_EQ(o.code, 255) << o.describe();
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("node-a: refused: job 99 is not running on node node-a"), std::string::npos) << o.err;
  EXPECT_NE(log().find("step refused"), std::string::npos) << log();
}

TEST_F(StepServerTest, ACredentialForAnotherNodeIsRefused) {
  // node-z's entry points at this server: the credential names node-z.
  std::vector<std::string> e = env();
  e[2] = "DROVER_NODE_ADDRESSES=node-z=" + server_->address();
  const Outcome o = Launch({"node-z", "echo should not run"}, e, dir_).finish();
  EXPECT_EQ(o.code, 255) << o.describe();
  EXPECT_NE(o.err.find("this is node node-a"), std::string::npos) << o.err;
}

TEST_F(StepServerTest, ACredentialFromAnotherMungeKeyIsRefused) {
  testing::MungeDaemon other;
  ASSERT_TRUE(other.available()) << other.why();
  const Outcome o = Launch({"node-a", "echo should not run"}, env(7, other.socket()), dir_).finish();
  EXPECT_EQ(o.code, 255) << o.describe();
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("refused: MUNGE credential refused"), std::string::npos) << o.err;
}

TEST_F(StepServerTest, AnotherUsersCredentialIsRefused) {
  // nobody asks to run something in root's job 7.
  const Outcome o = Launch({"node-a", "echo should not run"}, env(7), "/", kNobody).finish();
  EXPECT_EQ(o.code, 255) << o.describe();
  EXPECT_EQ(o.out, "");
  EXPECT_NE(o.err.find("uid 65534 may not start processes in job 7"), std::string::npos) << o.err;
}

TEST_F(StepServerTest, TheOwnerMayStartProcessesInTheirJob) {
  const Outcome o = Launch({"node-a", "id -u"}, env(8), "/", kNobody).finish();
  EXPECT_EQ(o.code, 0) << o.describe() << log();
  EXPECT_EQ(o.out, "65534\n");
}

TEST_F(StepServerTest, KillingDroverLaunchKillsTheRemoteCommand) {
  for (int sig : {SIGTERM, SIGKILL, SIGHUP}) {
    const std::string pid_file = dir_ + "/pid" + std::to_string(sig);
    Launch l({"node-a", "echo $$ > " + pid_file + "; exec sleep 100"}, env(), dir_);
    const pid_t remote = read_pid_file(pid_file);
    ASSERT_GT(remote, 0) << log();
    ASSERT_TRUE(process_alive(remote));
    EXPECT_EQ(server_->step_count(), 1u);
    ::kill(l.pid(), sig);
    const Outcome o = l.finish();
    EXPECT_EQ(o.code, 128 + sig) << o.describe();
    EXPECT_TRUE(wait_until([&] { return !process_alive(remote); }, 5000))
        << "the remote command outlived drover-launch (signal " << sig << ")\n" << log();
    EXPECT_TRUE(wait_until([&] { return server_->step_count() == 0; }, 5000)) << log();
  }
}

TEST_F(StepServerTest, KillStepsStopsTheJobsCommands) {
  const std::string pid_file = dir_ + "/pid";
  Launch l({"node-a", "echo $$ > " + pid_file + "; exec sleep 100"}, env(), dir_);
  const pid_t remote = read_pid_file(pid_file);
  ASSERT_GT(remote, 0) << log();
  EXPECT_EQ(server_->call("kill 8"), "ok");  // another job's: no effect
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(process_alive(remote));
  EXPECT_EQ(server_->call("kill 7"), "ok");
  const Outcome o = l.finish();
  EXPECT_EQ(o.code, 128 + SIGTERM) << o.describe();
  EXPECT_NE(o.err.find("command stopped: the job ended on this node"), std::string::npos) << o.err;
  EXPECT_FALSE(process_alive(remote));
}

TEST_F(StepServerTest, ACommandThatIgnoresSigtermIsKilledAfterTheGrace) {
  const std::string pid_file = dir_ + "/pid";
  Launch l({"node-a", "trap '' TERM; echo $$ > " + pid_file + "; while :; do sleep 0.05; done"}, env(), dir_);
  const pid_t remote = read_pid_file(pid_file);
  ASSERT_GT(remote, 0) << log();
  EXPECT_EQ(server_->call("kill 7"), "ok");
  const auto start = now_ms();
  const Outcome o = l.finish();
  EXPECT_EQ(o.code, 128 + SIGKILL) << o.describe();
  EXPECT_GE(now_ms() - start, 400);  // the grace is 500 ms
  EXPECT_FALSE(process_alive(remote));
}

TEST_F(StepServerTest, ProcessesThatLeftTheGroupDieWithTheStepWhereThereIsACgroup) {
  if (!cgroup_.active()) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  const std::string pid_file = dir_ + "/pid";
  // A daemonizing child (as orted --daemonize): own session, out of the step's group.
  Launch l({"node-a", "grep -q job_9 /proc/self/cgroup || exit 9; setsid sh -c 'echo $$ > " + pid_file +
                          "; exec sleep 100' </dev/null >/dev/null 2>&1 & sleep 100"},
           env(9), dir_);
  const pid_t escaped = read_pid_file(pid_file);
  ASSERT_GT(escaped, 0) << log();
  ::kill(l.pid(), SIGTERM);
  (void)l.finish();
  EXPECT_TRUE(wait_until([&] { return !process_alive(escaped); }, 5000)) << log();
}

TEST_F(StepServerTest, OutputOfABackgroundProcessComesBeforeTheExit) {
  // Like sshd: the exit is reported once nobody holds the output open any more.
  const Outcome o = run({"node-a", "(sleep 0.3; echo late) & echo early"});
  EXPECT_EQ(o.code, 0) << o.describe();
  EXPECT_EQ(o.out, "early\nlate\n");
}

TEST_F(StepServerTest, StepsRunSideBySide) {
  std::vector<std::unique_ptr<Launch>> runs;
  for (int i = 0; i < 4; ++i)
    runs.push_back(std::make_unique<Launch>(
        std::vector<std::string>{"node-a", "sleep 0.5; echo " + std::to_string(i)}, env(), dir_));
  EXPECT_TRUE(wait_until([&] { return server_->step_count() == 4; }, 5000)) << log();
  for (int i = 0; i < 4; ++i) {
    const Outcome o = runs[i]->finish();
    EXPECT_EQ(o.code, 0) << o.describe();
    EXPECT_EQ(o.out, std::to_string(i) + "\n");
  }
}

TEST_F(StepServerTest, GarbageOnTheSocketIsRefusedAndTheNextRequestWorks) {
  auto addr = transport::Address::parse(server_->address());
  ASSERT_TRUE(addr);
  auto send_raw = [&](const std::string& bytes, bool read_reply) {
    auto fd = transport::connect_to(*addr);
    if (!fd) return std::string("cannot connect: ") + fd.message();
    (void)!::send(*fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string reply;
    if (read_reply) {
      pollfd p{*fd, POLLIN, 0};
      char buf[4096];
      while (::poll(&p, 1, 5000) == 1) {
        const ssize_t n = ::read(*fd, buf, sizeof buf);
        if (n <= 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
      }
    }
    ::close(*fd);
    return reply;
  };
  std::mt19937 rng(11);
  std::string noise(10000, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  send_raw(noise, false);
  // A length far over the limit: refused, connection closed.
  EXPECT_NE(send_raw(std::string("\x7f\xff\xff\xff", 4) + "xx", true).find("too large"), std::string::npos);
  // A whole frame that is not a request: refused with the reason.
  const std::string reply = send_raw(proto::encode_frame("{not json"), true);
  EXPECT_NE(reply.find("step_refused"), std::string::npos) << reply;
  EXPECT_NE(send_raw(proto::encode_frame(R"({"type":"step_launch","version":1})"), true).find("credential"),
            std::string::npos);
  // Half a frame, then gone; and a connection that says nothing (timed out).
  send_raw(proto::encode_frame("{\"type\":\"step_launch\"}").substr(0, 10), false);
  EXPECT_NE(send_raw("", true).find("no request within"), std::string::npos);

  ASSERT_TRUE(server_->alive()) << log();
  const Outcome o = run({"node-a", "echo still here"});
  EXPECT_EQ(o.code, 0) << o.describe() << log();
  EXPECT_EQ(o.out, "still here\n");
}

TEST_F(StepServerTest, AReplayedRequestIsRefused) {
  // A request recorded on the wire and sent again: munged has seen its credential.
  proto::StepLaunch r;
  r.job_id = 7;
  r.node = "node-a";
  r.argv = {"true"};
  auto cred = transport::munge_encode(proto::step_credential_payload(7, "node-a"), munged_.socket());
  ASSERT_TRUE(cred) << cred.message();
  r.credential = *cred;
  const std::string frame = proto::dump(proto::to_json(r));
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto c = transport::Client::connect(server_->address(), proto::kMaxStepFrame);
    ASSERT_TRUE(c) << c.message();
    auto reply = c->call(frame, 5000);
    ASSERT_TRUE(reply) << reply.message();
    auto m = proto::step_reply_from_frame(*reply);
    ASSERT_TRUE(m) << m.message();
    if (attempt == 0) {
      EXPECT_TRUE(std::holds_alternative<proto::StepAccepted>(*m)) << *reply;
    } else {
      ASSERT_TRUE(std::holds_alternative<proto::StepRefused>(*m)) << *reply;
      EXPECT_NE(std::get<proto::StepRefused>(*m).reason.find("eplayed"), std::string::npos) << *reply;
    }
  }
}

TEST_F(StepServerTest, UsageErrorsAreClear) {
  const std::string addr = server_->address();
  Outcome o = Launch({"node-a"}, env(), dir_).finish();
  EXPECT_EQ(o.code, 255);
  EXPECT_NE(o.err.find("no command given"), std::string::npos) << o.err;
  o = Launch({"-Z", "node-a", "true"}, env(), dir_).finish();
  EXPECT_EQ(o.code, 255);
  EXPECT_NE(o.err.find("unknown option -Z"), std::string::npos) << o.err;
  o = Launch({"node-a", "true"}, {"PATH=/usr/bin:/bin"}, dir_).finish();
  EXPECT_EQ(o.code, 255);
  EXPECT_NE(o.err.find("drover-launch runs only inside a Drover job"), std::string::npos) << o.err;
  o = Launch({"-l", "nobody", "node-a", "true"}, env(), dir_).finish();
  EXPECT_EQ(o.code, 255);
  EXPECT_NE(o.err.find("as the job's owner only"), std::string::npos) << o.err;
  o = Launch({"-l", "root", "root@node-a", "echo", "ok"}, env(), dir_).finish();
  EXPECT_EQ(o.code, 0) << o.describe();
  // No agent listening there.
  o = Launch({"node-z", "true"}, env(), dir_).finish();
  EXPECT_EQ(o.code, 255);
  EXPECT_NE(o.err.find("drover-launch: node-z: cannot connect"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace drover::agent
