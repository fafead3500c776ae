// A real one-node Drover cluster for integration tests: droverd and drover-noded
// run as separate processes in a fresh directory under /tmp, the `drover` CLI is
// run as a real program against them, and teardown leaves nothing behind: no
// daemon, no job process, no cgroup, no test user, no directory.
//
// Every job started through run_cli() inherits DROVER_IT_TAG=<tag> (the CLI copies
// its environment into the job), so every process a job starts can be found in
// /proc and killed, whatever it did to its process group. The same tag names the
// agent's cgroup parent (/sys/fs/cgroup/{memory,cpuset}/<tag>).
//
// Waiting is always polling with a deadline, never a fixed sleep.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/api_client.hpp"

namespace drover::it {

using Json = proto::Json;
namespace fs = std::filesystem;

inline const std::string kBinDir = DROVER_BIN_DIR;
inline const std::string kTestData = DROVER_TEST_DATA;
inline const std::string kSourceDir = DROVER_SOURCE_DIR;

inline std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Polls pred every interval_ms until it holds or timeout_ms has passed.
inline bool wait_until(const std::function<bool()>& pred, int timeout_ms, int interval_ms = 20) {
  const auto deadline = now_ms() + timeout_ms;
  for (;;) {
    if (pred()) return true;
    if (now_ms() >= deadline) return false;
    sleep_ms(interval_ms);
  }
}

// Plain read(2): a /proc file of a process that exits mid-read fails with ESRCH,
// which libstdc++'s filebuf turns into an exception; here it just ends the text.
inline std::string read_file(const std::string& path) {
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

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << text; }
  ::chmod(path.c_str(), mode);
}

inline std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The last `n` characters of a daemon log, for failure messages.
inline std::string tail(const std::string& text, std::size_t n = 2000) {
  return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

struct CliResult {
  int code = -1;     // exit status; 128+N when killed by signal N; -1: could not run
  std::string out;
  std::string err;
  std::string describe() const {
    return "exit " + std::to_string(code) + "\n--- stdout:\n" + out + "\n--- stderr:\n" + err;
  }
};

// A throwaway local user (useradd), removed again by the cluster's teardown.
struct TestUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

struct CliOptions {
  const TestUser* as = nullptr;  // run as this user instead of root
  std::string cwd;               // default: the cluster's work directory
  std::vector<std::pair<std::string, std::string>> env;  // added to the environment
  int timeout_ms = 30000;        // killed (and reported as code 124) after this
};

// Pids of processes whose command line or environment contains `marker`.
inline std::vector<pid_t> pids_with_marker(const std::string& marker) {
  std::vector<pid_t> found;
  DIR* d = ::opendir("/proc");
  if (!d) return found;
  const pid_t self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == self) continue;
    const std::string base = std::string("/proc/") + e->d_name;
    // Zombies have empty files; they are gone as soon as their parent reaps them.
    const std::string cmdline = read_file(base + "/cmdline");
    if (contains(cmdline, marker) || contains(read_file(base + "/environ"), marker))
      found.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return found;
}

// Whether pid exists and is not a zombie.
inline bool process_alive(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

class Cluster {
 public:
  struct Config {
    std::string node_name = "n1";
    std::string topology_xml;  // empty: this machine (jobs are bound to real CPUs)
    double kill_grace_s = 1;
    int head_max_files = 0;    // droverd's RLIMIT_NOFILE; 0: inherited
    std::vector<std::string> head_args;  // more droverd options
    std::vector<std::string> agent_args; // more drover-noded options
  };

  Cluster() : Cluster(Config{}) {}
  explicit Cluster(Config config) : config_(std::move(config)) {
    static std::atomic<int> counter{0};
    tag_ = "drover-it-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    char tmpl[] = "/tmp/drover-it-XXXXXX";
    if (::mkdtemp(tmpl)) {
      dir_ = tmpl;
      // Test users must be able to reach the sockets and their work directories.
      ::chmod(dir_.c_str(), 0755);
      fs::create_directories(work_dir());
      ::chmod(work_dir().c_str(), 0755);
    }
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster() { teardown(); }

  // ---- paths and names ----
  const std::string& dir() const { return dir_; }
  const std::string& tag() const { return tag_; }
  const std::string& node() const { return config_.node_name; }
  std::string socket() const { return dir_ + "/droverd.sock"; }
  std::string agent_socket() const { return dir_ + "/agents.sock"; }
  std::string head_state_dir() const { return dir_ + "/head"; }
  std::string work_dir() const { return dir_ + "/work"; }
  std::string head_log() const { return read_file(dir_ + "/droverd.log"); }
  std::string agent_log() const { return read_file(dir_ + "/noded.log"); }
  std::string logs() const {
    return "--- droverd.log:\n" + tail(head_log()) + "\n--- noded.log:\n" + tail(agent_log());
  }
  // Whether the agent found cgroups it can use (root, v1 or v2 with controllers):
  // memory limits and killing processes that left the job's group depend on them.
  bool has_cgroups() const {
    const std::string log = agent_log();
    return contains(log, "cgroups: v1") || contains(log, "cgroups: v2");
  }
  pid_t head_pid() const { return head_pid_; }
  pid_t agent_pid() const { return agent_pid_; }

  // ---- starting and stopping ----

  // Starts both daemons and waits until the node is connected. Returns "" or what failed.
  std::string start() {
    if (dir_.empty()) return std::string("cannot create a temporary directory: ") + std::strerror(errno);
    if (auto e = start_head(); !e.empty()) return e;
    if (auto e = start_agent(); !e.empty()) return e;
    return wait_for_node();
  }

  std::string start_head() {
    if (head_pid_ > 0) return "droverd is already running";
    std::vector<std::string> argv = {kBinDir + "/droverd", "--state-dir", head_state_dir(), "--socket",
                                     socket(), "--agent-socket", agent_socket(), "--init-local-node",
                                     config_.node_name};
    argv.insert(argv.end(), config_.head_args.begin(), config_.head_args.end());
    head_pid_ = spawn(argv, dir_ + "/droverd.log", config_.head_max_files);
    if (head_pid_ < 0) return "cannot start droverd";
    const bool up = wait_until(
        [&] {
          if (!child_running(head_pid_)) return true;
          auto c = cli::ApiClient::connect(socket());
          return c && c->call("Status", Json::object(), 2000).has_value();
        },
        10000, 10);
    if (!up || !child_running(head_pid_)) {
      const std::string log = head_log();
      if (child_running(head_pid_)) stop_process(head_pid_, SIGKILL, 0);
      head_pid_ = -1;
      return "droverd did not start:\n" + tail(log);
    }
    return "";
  }

  std::string start_agent() {
    if (agent_pid_ > 0) return "drover-noded is already running";
    std::ostringstream grace;
    grace << config_.kill_grace_s;
    std::vector<std::string> argv = {kBinDir + "/drover-noded", "--head", agent_socket(), "--name",
                                     config_.node_name, "--state-dir", dir_ + "/node",
                                     "--kill-grace", grace.str(), "--cgroup-parent", tag_};
    if (!config_.topology_xml.empty()) {
      argv.push_back("--topology-xml");
      argv.push_back(config_.topology_xml);
    }
    argv.insert(argv.end(), config_.agent_args.begin(), config_.agent_args.end());
    agent_pid_ = spawn(argv, dir_ + "/noded.log");
    return agent_pid_ < 0 ? "cannot start drover-noded" : "";
  }

  // Waits until droverd reports the node connected.
  std::string wait_for_node(int timeout_ms = 10000) {
    Json last;
    const bool ok = wait_until(
        [&] {
          if (agent_pid_ > 0 && !child_running(agent_pid_)) return true;
          auto c = cli::ApiClient::connect(socket());
          if (!c) return false;
          auto r = c->call("ListNodes", Json::object(), 2000);
          if (!r) return false;
          last = *r;
          for (const auto& n : (*r)["nodes"])
            if (n.value("nodeName", "") == config_.node_name && n.value("connected", false)) return true;
          return false;
        },
        timeout_ms);
    if (agent_pid_ > 0 && !child_running(agent_pid_)) {
      agent_pid_ = -1;
      return "drover-noded exited:\n" + logs();
    }
    if (!ok) return "node " + config_.node_name + " did not connect; nodes: " + last.dump() + "\n" + logs();
    return "";
  }

  // Kills droverd (SIGKILL: a crash; SIGTERM: a clean stop) and reaps it.
  void kill_head(int sig = SIGKILL) {
    if (head_pid_ > 0) stop_process(head_pid_, sig, 5000);
    head_pid_ = -1;
  }

  // Starts droverd again on the same state and waits until the node is back.
  std::string restart_head() {
    kill_head(SIGKILL);
    if (auto e = start_head(); !e.empty()) return e;
    return wait_for_node();
  }

  // Kills drover-noded (SIGKILL: a crash, its jobs are left running) and reaps it.
  void kill_agent(int sig = SIGKILL) {
    if (agent_pid_ > 0) stop_process(agent_pid_, sig, 5000);
    agent_pid_ = -1;
  }

  // Starts drover-noded again and waits until droverd sees it.
  std::string restart_agent() {
    kill_agent(SIGKILL);
    if (auto e = start_agent(); !e.empty()) return e;
    return wait_for_node();
  }

  // Starts one more drover-noded on this machine as node `name` (its own state
  // directory and log, noded-NAME.log) and waits until droverd sees it. The
  // node still has to be put in a compute environment. Stopped at teardown.
  std::string start_extra_agent(const std::string& name, const std::vector<std::string>& args = {}) {
    std::ostringstream grace;
    grace << config_.kill_grace_s;
    std::vector<std::string> argv = {kBinDir + "/drover-noded", "--head", agent_socket(), "--name", name,
                                     "--state-dir", dir_ + "/node-" + name, "--kill-grace", grace.str(),
                                     "--cgroup-parent", tag_ + "-" + name};
    cgroup_parents_.push_back(tag_ + "-" + name);
    argv.insert(argv.end(), args.begin(), args.end());
    const pid_t pid = spawn(argv, dir_ + "/noded-" + name + ".log");
    if (pid < 0) return "cannot start drover-noded " + name;
    extra_agents_.push_back(pid);
    const bool ok = wait_until(
        [&] {
          if (!child_running(pid)) return true;
          auto c = cli::ApiClient::connect(socket());
          if (!c) return false;
          auto r = c->call("ListNodes", Json::object(), 2000);
          if (!r) return false;
          for (const auto& n : (*r)["nodes"])
            if (n.value("nodeName", "") == name && n.value("connected", false)) return true;
          return false;
        },
        10000);
    if (!child_running(pid)) return "drover-noded " + name + " exited:\n" + read_file(dir_ + "/noded-" + name + ".log");
    return ok ? "" : "node " + name + " did not connect\n" + read_file(dir_ + "/noded-" + name + ".log");
  }

  // Stops everything and removes what the test made. Idempotent.
  void teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    // The agents first, with SIGINT: they kill their jobs (as `drover down` does).
    for (pid_t p : extra_agents_) stop_process(p, SIGINT, 5000);
    extra_agents_.clear();
    if (agent_pid_ > 0) stop_process(agent_pid_, SIGINT, 5000);
    agent_pid_ = -1;
    if (head_pid_ > 0) stop_process(head_pid_, SIGTERM, 5000);
    head_pid_ = -1;
    // Whatever is left of the jobs is a leak: kill it, and let the test fail.
    std::vector<pid_t> left;
    if (!tag_.empty()) {
      for (pid_t p : pids_with_marker(job_marker()))
        if (process_alive(p)) left.push_back(p);
      kill_tagged();
    }
    remove_cgroups();
    for (auto it = users_.rbegin(); it != users_.rend(); ++it) remove_user(*it);
    users_.clear();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
    if (!left.empty() && !allow_leftovers_) {
      std::string list;
      for (pid_t p : left)
        list += " " + std::to_string(p) + " (" + trim(read_file("/proc/" + std::to_string(p) + "/comm")) + ")";
      ADD_FAILURE() << "job processes were still running after drover-noded stopped:" << list;
    }
  }

  // Tests that kill the agent itself may leave jobs behind on purpose.
  void allow_leftovers() { allow_leftovers_ = true; }

  // ---- users ----

  // Creates a local user (GTEST_SKIP in the caller when not root). Removed at teardown.
  std::optional<TestUser> create_user(const std::string& suffix) {
    const std::string name = "drvt" + std::to_string(::getpid() % 1000000) + suffix;
    for (int i = 0; i < 100; ++i) {
      // useradd fails while another process holds the passwd lock: try again.
      const CliResult r = run_program({"useradd", "-m", "-s", "/bin/sh", "-U", name}, {}, 10000);
      if (r.code == 0) break;
      if (r.code == 9) break;  // exists (left by a crashed run): reuse it
      if (i == 99) {
        ADD_FAILURE() << "useradd " << name << " failed: " << r.describe();
        return std::nullopt;
      }
      sleep_ms(50);
    }
    passwd* pw = ::getpwnam(name.c_str());
    if (!pw) {
      ADD_FAILURE() << "user " << name << " not found after useradd";
      return std::nullopt;
    }
    TestUser u{name, pw->pw_uid, pw->pw_gid, pw->pw_dir};
    users_.push_back(u);
    return u;
  }

  // A directory under the cluster's directory owned by `user`.
  std::string make_user_dir(const TestUser& user, const std::string& name) {
    const std::string d = dir_ + "/" + name;
    fs::create_directories(d);
    ::chown(d.c_str(), user.uid, user.gid);
    ::chmod(d.c_str(), 0755);
    return d;
  }

  // ---- the CLI and the API ----

  // Runs `drover --socket <ours> args...` and collects its exit code and output.
  CliResult run_cli(const std::vector<std::string>& args, const CliOptions& opts = {}) {
    std::vector<std::string> argv = {kBinDir + "/drover", "--socket", socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::pair<std::string, std::string>> env = {
        {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        {"LANG", "C.UTF-8"},
        {"DROVER_IT_TAG", tag_}};
    if (opts.as) {
      env.push_back({"HOME", opts.as->home});
      env.push_back({"USER", opts.as->name});
      env.push_back({"LOGNAME", opts.as->name});
    } else {
      env.push_back({"HOME", dir_});
      env.push_back({"USER", "root"});
      env.push_back({"LOGNAME", "root"});
    }
    for (const auto& kv : opts.env) env.push_back(kv);
    return run_program(argv, env, opts.timeout_ms, opts.cwd.empty() ? work_dir() : opts.cwd, opts.as);
  }

  template <class... A>
  CliResult cli(A&&... args) {
    return run_cli(std::vector<std::string>{std::string(std::forward<A>(args))...});
  }

  // `drover submit --parsable args...`: the new job's id, or "" (and a test failure).
  std::string submit(const std::vector<std::string>& args, const CliOptions& opts = {}) {
    std::vector<std::string> a = {"submit", "--parsable"};
    a.insert(a.end(), args.begin(), args.end());
    const CliResult r = run_cli(a, opts);
    const std::string id = trim(r.out);
    if (r.code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
      ADD_FAILURE() << "submit failed: " << r.describe();
      return "";
    }
    return id;
  }

  // The node as ListNodes reports it (vcpus, memoryMiB, connected, ...); null if unknown.
  Json node_info() const {
    auto c = api();
    if (!c) return nullptr;
    auto r = c->call("ListNodes", Json::object(), 5000);
    if (!r) return nullptr;
    for (const auto& n : (*r)["nodes"])
      if (n.value("nodeName", "") == config_.node_name) return n;
    return nullptr;
  }

  // A fresh API connection (as root).
  Result<cli::ApiClient> api() const { return cli::ApiClient::connect(socket()); }

  // The job as DescribeJobs returns it (as `drover show --json` prints it); null if unknown.
  Json describe(const std::string& id) const {
    auto c = api();
    if (!c) return nullptr;
    auto r = c->call("DescribeJobs", Json{{"jobs", Json::array({id})}}, 5000);
    if (!r || !r->contains("jobs") || (*r)["jobs"].empty()) return nullptr;
    return (*r)["jobs"][0];
  }

  std::string state(const std::string& id) const {
    const Json j = describe(id);
    return j.is_object() ? j.value("status", "") : "";
  }

  // Waits until the job is in `state`; false (with the job's last description
  // recorded as a test failure) on timeout. A terminal state other than the one
  // awaited ends the wait early.
  bool wait_for_state(const std::string& id, const std::string& want, int timeout_ms = 10000) {
    Json last;
    const bool ok = wait_until(
        [&] {
          last = describe(id);
          if (!last.is_object()) return false;
          const std::string s = last.value("status", "");
          // A finished job changes no more: stop early on the wrong ending.
          return s == want || s == "SUCCEEDED" || s == "FAILED";
        },
        timeout_ms);
    const std::string got = last.is_object() ? last.value("status", "") : "";
    if (!ok || got != want) {
      ADD_FAILURE() << "job " << id << ": wanted " << want << ", got " << (got.empty() ? "?" : got)
                    << " after " << timeout_ms << " ms\n" << last.dump(2) << "\n" << logs();
      return false;
    }
    return true;
  }

  // Waits until the job has ended and returns its description (null on timeout).
  Json wait_for_end(const std::string& id, int timeout_ms = 10000) {
    Json last;
    const bool ok = wait_until(
        [&] {
          last = describe(id);
          const std::string s = last.is_object() ? last.value("status", "") : "";
          return s == "SUCCEEDED" || s == "FAILED";
        },
        timeout_ms);
    if (!ok) {
      ADD_FAILURE() << "job " << id << " did not end within " << timeout_ms << " ms\n"
                    << last.dump(2) << "\n" << logs();
      return nullptr;
    }
    return last;
  }

  // Runs a program (not the CLI) with a clean environment; used for useradd & co.
  static CliResult run_program(const std::vector<std::string>& argv,
                               std::vector<std::pair<std::string, std::string>> env, int timeout_ms,
                               const std::string& cwd = "/", const TestUser* as = nullptr) {
    CliResult res;
    if (env.empty()) env = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
    std::vector<std::string> env_storage;
    for (const auto& [k, v] : env) env_storage.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_storage = argv;
    for (auto& a : argv_storage) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<gid_t> groups;
    if (as) {
      int n = 64;
      groups.resize(64);
      if (::getgrouplist(as->name.c_str(), as->gid, groups.data(), &n) < 0) n = 0;
      groups.resize(static_cast<std::size_t>(n));
      if (groups.empty()) groups.push_back(as->gid);
    }
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return res;
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return res;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
      return res;
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setpgid(0, 0);
      const int in = ::open("/dev/null", O_RDONLY);
      ::dup2(in, 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (as) {
        if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(as->gid) != 0 ||
            ::setuid(as->uid) != 0) {
          ::perror("cannot switch user");
          ::_exit(126);
        }
      }
      if (::chdir(cwd.c_str()) != 0) {
        ::perror("chdir");
        ::_exit(126);
      }
      ::execvpe(args[0], args.data(), envp.data());
      ::perror(args[0]);
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    const auto deadline = now_ms() + timeout_ms;
    bool killed = false;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
      const int wait = static_cast<int>(std::max<std::int64_t>(0, deadline - now_ms()));
      const int r = ::poll(fds, 2, killed ? 1000 : wait);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        if (killed) break;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        killed = true;
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          (i == 0 ? res.out : res.err).append(buf, static_cast<std::size_t>(n));
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
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (killed) {
      res.code = 124;
      res.err += "\n[killed after " + std::to_string(timeout_ms) + " ms]";
    } else if (WIFEXITED(status)) {
      res.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      res.code = 128 + WTERMSIG(status);
    }
    return res;
  }

  // What every job process of this cluster has in its environment (exactly: the
  // entry ends with NUL, so that tag ...-1 does not match ...-12).
  std::string job_marker() const { return "DROVER_IT_TAG=" + tag_ + std::string(1, '\0'); }

  // Kills every process carrying this cluster's tag and waits until they are gone.
  void kill_tagged() {
    for (int round = 0; round < 100; ++round) {
      bool any = false;
      for (pid_t p : pids_with_marker(job_marker())) {
        if (!process_alive(p)) continue;
        any = true;
        ::kill(p, SIGKILL);
      }
      if (!any) return;
      sleep_ms(20);
    }
  }

 private:
  // Whether our child is still running (reaps it when it has exited).
  static bool child_running(pid_t pid) {
    if (pid <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    return r == 0;
  }

  // Signals a daemon we started and reaps it, escalating to SIGKILL after timeout_ms.
  static void stop_process(pid_t pid, int sig, int timeout_ms) {
    ::kill(pid, sig);
    int status = 0;
    const bool gone = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) != 0; }, timeout_ms, 5);
    if (!gone) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  // Starts a daemon with its output in log; it dies with the test process.
  static pid_t spawn(const std::vector<std::string>& argv, const std::string& log, int max_files = 0) {
    std::vector<std::string> storage = argv;
    std::vector<char*> args;
    for (auto& a : storage) args.push_back(a.data());
    args.push_back(nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
      // If the test crashes, the daemons go with it instead of lingering.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setpgid(0, 0);
      if (max_files > 0) {
        const rlimit files{static_cast<rlim_t>(max_files), static_cast<rlim_t>(max_files)};
        ::setrlimit(RLIMIT_NOFILE, &files);
      }
      const int in = ::open("/dev/null", O_RDONLY);
      ::dup2(in, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execv(args[0], args.data());
      ::perror(args[0]);
      ::_exit(127);
    }
    ::close(fd);
    return pid;
  }

  void remove_cgroups() {
    if (tag_.empty()) return;
    cgroup_parents_.push_back(tag_);
    for (const auto& name : cgroup_parents_)
      for (const char* hierarchy : {"memory", "cpuset", "devices", "unified"}) {
        const std::string parent = std::string("/sys/fs/cgroup/") + hierarchy + "/" + name;
        std::error_code ec;
        if (!fs::is_directory(parent, ec)) continue;
        // Children (job_<id>) first; a cgroup directory is removed with rmdir only.
        for (int round = 0; round < 100; ++round) {
          bool busy = false;
          for (const auto& e : fs::directory_iterator(parent, ec)) {
            if (!e.is_directory()) continue;
            for (const auto& line : split_lines(read_file(e.path().string() + "/cgroup.procs")))
              ::kill(std::atoi(line.c_str()), SIGKILL);
            if (::rmdir(e.path().c_str()) != 0) busy = true;
          }
          if (!busy) break;
          sleep_ms(20);
        }
        for (const auto& line : split_lines(read_file(parent + "/cgroup.procs")))
          ::kill(std::atoi(line.c_str()), SIGKILL);
        wait_until([&] { return ::rmdir(parent.c_str()) == 0 || errno == ENOENT; }, 2000);
      }
  }

  static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
      if (!l.empty()) lines.push_back(l);
    return lines;
  }

  static void remove_user(const TestUser& u) {
    // Any process of the user is gone by now; -f in case nscd or a leftover says otherwise.
    for (int i = 0; i < 100; ++i) {
      const CliResult r = run_program({"userdel", "-f", "-r", u.name}, {}, 10000);
      // 0: removed; 6: no such user; 12: home could not be removed (still, the user is gone).
      if (r.code == 0 || r.code == 6 || r.code == 12) break;
      sleep_ms(50);
    }
    std::error_code ec;
    if (!u.home.empty() && u.home.rfind("/home/drvt", 0) == 0) fs::remove_all(u.home, ec);
  }

  Config config_;
  std::string tag_;
  std::string dir_;
  pid_t head_pid_ = -1;
  pid_t agent_pid_ = -1;
  std::vector<pid_t> extra_agents_;
  std::vector<std::string> cgroup_parents_;  // the extra agents'
  std::vector<TestUser> users_;
  bool torn_down_ = false;
  bool allow_leftovers_ = false;
};

// A test with a running cluster: cluster().cli(...), cluster().submit(...).
// A cluster whose node is named like this host, as `drover up` names it: jobs'
// SLURM_NODELIST is the node name, and Open MPI treats any other name as a remote
// node to be reached with srun.
inline Cluster::Config host_named_config() {
  Cluster::Config c;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  c.node_name = host;
  return c;
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<Cluster>(config());
    const std::string e = cluster_->start();
    ASSERT_EQ(e, "") << "cluster did not start";
  }
  void TearDown() override { cluster_.reset(); }
  virtual Cluster::Config config() const { return {}; }
  Cluster& cluster() { return *cluster_; }

  // The description of a finished job (fails the test on timeout).
  Json finished(const std::string& id, int timeout_ms = 10000) { return cluster_->wait_for_end(id, timeout_ms); }

  std::unique_ptr<Cluster> cluster_;
};

}  // namespace drover::it
