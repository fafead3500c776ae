// A real multi-node cluster on one machine, for tests: each node is a network
// namespace (its own IP on a private /24) plus a UTS namespace (its own hostname),
// and the nodes and the root namespace (the "head") are joined by a bridge
// (docs: /work/shared/DESIGN.md, "A real multi-node cluster on one machine").
//
//   root namespace: bridge <p>br, 10.A.B.1/24, name <p>head in /etc/hosts
//   node k (1..N):  namespace <p>n<k>, veth <p>v<k> <-> eth0, 10.A.B.(10+k)/24,
//                   hostname <p>n<k> (also in /etc/hosts)
//
// <p> is "dnt" + the test process's pid + a letter per cluster made by the process
// (at most 14 characters for any interface name). Everything made is named with
// it, so teardown removes exactly what this cluster made, and sweep() removes what
// runs that crashed left behind (their pid is no longer alive): namespaces and the
// processes still in them, links, /etc/hosts lines (marked "# drover-netns <p>"),
// cgroups and /tmp directories named "<p>...".
//
// Programs run "on node k" in a forked child that joins the node's network
// namespace with setns() and a fresh UTS namespace named like the node. This is
// `nsenter --net=/run/netns/<ns> unshare --uts`, not `ip netns exec`: the latter
// also remounts /sys for the namespace, which hides /sys/fs/cgroup (and with it
// the cgroups drover-noded needs). The mount namespace, and so every file, is
// shared with the test. Children die with the test process (PR_SET_PDEATHSIG).
//
// Header-only and free of Drover's libraries: standard library and POSIX only.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace drover::netns {

namespace detail {

inline std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

inline bool wait_until(const std::function<bool()>& pred, int timeout_ms, int interval_ms = 20) {
  const auto deadline = now_ms() + timeout_ms;
  for (;;) {
    if (pred()) return true;
    if (now_ms() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
}

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

inline bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

inline std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// Whether a process with this pid exists (zombies count: their parent is alive).
inline bool pid_exists(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Whether pid exists and is not a zombie.
inline bool process_alive(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

// Pids of the live processes whose network namespace is the one at ns_path
// (/run/netns/<name>), as `ip netns pids` lists them.
inline std::vector<pid_t> pids_in_netns(const std::string& ns_path) {
  std::vector<pid_t> found;
  struct stat target {};
  if (::stat(ns_path.c_str(), &target) != 0) return found;
  DIR* d = ::opendir("/proc");
  if (!d) return found;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == ::getpid()) continue;
    struct stat st {};
    const std::string ns = std::string("/proc/") + e->d_name + "/ns/net";
    if (::stat(ns.c_str(), &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino &&
        process_alive(static_cast<pid_t>(pid)))
      found.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return found;
}

// Kills every process in the namespace and waits (up to timeout_ms) until none is left.
inline bool kill_netns_processes(const std::string& ns_path, int timeout_ms = 5000) {
  return wait_until(
      [&] {
        const auto pids = pids_in_netns(ns_path);
        for (pid_t p : pids) ::kill(p, SIGKILL);
        return pids.empty();
      },
      timeout_ms, 20);
}

// An exclusive lock shared by every test process on the machine, held while a
// subnet is chosen and the bridge made, /etc/hosts rewritten, or leftovers swept.
// Re-entrant within a process (flock would block on a second open of the file).
class MachineLock {
 public:
  MachineLock() {
    if (depth()++ > 0) return;
    fd() = ::open("/tmp/drover-netns.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd() >= 0)
      while (::flock(fd(), LOCK_EX) != 0 && errno == EINTR) {
      }
  }
  ~MachineLock() {
    if (--depth() > 0) return;
    if (fd() >= 0) ::close(fd());  // releases the lock
    fd() = -1;
  }
  MachineLock(const MachineLock&) = delete;
  MachineLock& operator=(const MachineLock&) = delete;

 private:
  static int& depth() {
    static int d = 0;
    return d;
  }
  static int& fd() {
    static int f = -1;
    return f;
  }
};

}  // namespace detail

// What a program run to its end said.
struct ProcResult {
  int code = -1;  // exit status; 128+N when killed by signal N; 124: timed out; -1: could not run
  std::string out;
  std::string err;
  std::string describe() const {
    return "exit " + std::to_string(code) + "\n--- stdout:\n" + out + "\n--- stderr:\n" + err;
  }
};

struct ExecOptions {
  // Added to a small fixed environment (PATH, LANG=C.UTF-8, HOME=/root); "KEY=VALUE".
  std::vector<std::string> env;
  std::string cwd = "/";
  std::string log;          // spawn(): stdout and stderr appended to this file ("": /dev/null)
  int timeout_ms = 30000;   // run(): killed (and code 124) after this
};

class NetnsCluster {
 public:
  struct Config {
    int nodes = 2;  // 1..9
  };

  static constexpr const char* kPrefix = "dnt";            // every name made starts so
  static constexpr const char* kHostsMarker = "# drover-netns ";

  NetnsCluster() : NetnsCluster(Config{}) {}
  explicit NetnsCluster(Config config) : config_(config) {
    static std::atomic<int> counter{0};
    prefix_ = std::string(kPrefix) + std::to_string(::getpid()) +
              static_cast<char>('a' + counter++ % 26);
  }
  NetnsCluster(const NetnsCluster&) = delete;
  NetnsCluster& operator=(const NetnsCluster&) = delete;
  ~NetnsCluster() { teardown(); }

  // "" where namespaces can be made here; otherwise why not (for GTEST_SKIP).
  // Makes and removes a probe namespace.
  static std::string skip_reason() {
    if (::geteuid() != 0) return "needs root (network namespaces, veths, a bridge, /etc/hosts)";
    const std::string ip = find_ip();
    if (ip.empty()) return "the `ip` command (iproute2) is not installed";
    const std::string probe = std::string(kPrefix) + std::to_string(::getpid()) + "z";  // swept if left
    const ProcResult add = run_program({ip, "netns", "add", probe});
    if (add.code != 0) return "cannot create a network namespace (`ip netns add`): " + trimmed(add.err);
    const ProcResult bridge = run_program({ip, "link", "add", probe + "b", "type", "bridge"});
    (void)run_program({ip, "link", "del", probe + "b"});
    (void)run_program({ip, "netns", "del", probe});
    if (bridge.code != 0) return "cannot create a bridge (`ip link add type bridge`): " + trimmed(bridge.err);
    return "";
  }

  // Builds the cluster (after sweeping leftovers of crashed runs). Returns "" or
  // what failed; on failure everything made so far is removed again.
  std::string start() {
    if (started_) return "already started";
    started_ = true;
    ip_ = find_ip();
    if (ip_.empty()) return "the `ip` command is not installed";
    if (config_.nodes < 1 || config_.nodes > 9) return "nodes must be 1..9";
    sweep();
    char tmpl[64];
    std::snprintf(tmpl, sizeof tmpl, "/tmp/%s-XXXXXX", prefix_.c_str());
    if (!::mkdtemp(tmpl)) return std::string("cannot create a temporary directory: ") + std::strerror(errno);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);
    std::string e = build();
    if (e.empty()) e = check_connectivity();
    if (!e.empty()) {
      const std::string t = teardown();
      return e + (t.empty() ? "" : "\n(teardown: " + t + ")");
    }
    return "";
  }

  // Stops what we started, kills what is left in the namespaces, removes the
  // namespaces, links, /etc/hosts lines and the directory. Idempotent; returns ""
  // or what could not be removed.
  std::string teardown() {
    if (torn_down_ || !started_) return "";
    torn_down_ = true;
    std::string errors;
    for (pid_t p : children_) {
      ::kill(-p, SIGKILL);
      ::kill(p, SIGKILL);
      int st = 0;
      while (::waitpid(p, &st, 0) < 0 && errno == EINTR) {
      }
    }
    children_.clear();
    for (int k = 1; k <= config_.nodes; ++k) {
      const std::string ns = node_name(k);
      if (!made_ns_.count(ns)) continue;
      if (!detail::kill_netns_processes(netns_path(k))) errors += "processes left in namespace " + ns + "; ";
    }
    for (int k = config_.nodes; k >= 1; --k) {
      if (made_links_.count(veth(k))) {
        const ProcResult r = ip({"link", "del", veth(k)});
        if (r.code != 0) errors += "ip link del " + veth(k) + ": " + trimmed(r.err) + "; ";
      }
      if (made_ns_.count(node_name(k))) {
        const ProcResult r = ip({"netns", "del", node_name(k)});
        if (r.code != 0) errors += "ip netns del " + node_name(k) + ": " + trimmed(r.err) + "; ";
      }
    }
    if (made_links_.count(bridge())) {
      const ProcResult r = ip({"link", "del", bridge()});
      if (r.code != 0) errors += "ip link del " + bridge() + ": " + trimmed(r.err) + "; ";
    }
    made_links_.clear();
    made_ns_.clear();
    if (hosts_added_) {
      detail::MachineLock lock;
      if (auto e = rewrite_hosts([&](const std::string& p) { return p == prefix_; }, {}); !e.empty())
        errors += e + "; ";
      hosts_added_ = false;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      if (ec) errors += "cannot remove " + dir_ + ": " + ec.message() + "; ";
    }
    return errors;
  }

  // Removes what earlier runs left (named "dnt<pid>..." with that pid gone):
  // namespaces (killing what still runs in them), links, /etc/hosts lines,
  // cgroups and /tmp directories. Safe while other test processes run.
  static void sweep() {
    detail::MachineLock lock;
    const std::string ipcmd = find_ip();
    if (!ipcmd.empty()) {
      for (const auto& line : detail::split_lines(run_program({ipcmd, "netns", "list"}).out)) {
        const auto words = detail::split_words(line);
        if (words.empty() || !is_stale(words[0])) continue;
        detail::kill_netns_processes("/run/netns/" + words[0]);
        (void)run_program({ipcmd, "netns", "del", words[0]});
      }
      // "3: dnt123abr: <...>" / "4: dnt123av1@if2: <...>"; bridges last, after their ports.
      std::vector<std::string> links, bridges;
      for (const auto& line : detail::split_lines(run_program({ipcmd, "-o", "link", "show"}).out)) {
        const auto colon = line.find(": ");
        if (colon == std::string::npos) continue;
        std::string name = line.substr(colon + 2);
        name = name.substr(0, name.find_first_of(":@ "));
        if (!is_stale(name)) continue;
        (name.size() > 2 && name.compare(name.size() - 2, 2, "br") == 0 ? bridges : links).push_back(name);
      }
      for (const auto& l : links) (void)run_program({ipcmd, "link", "del", l});
      for (const auto& b : bridges) (void)run_program({ipcmd, "link", "del", b});
    }
    (void)rewrite_hosts([](const std::string& p) { return is_stale(p); }, {});
    for (const char* h : {"memory", "cpuset", "devices", "unified", "pids"}) sweep_cgroups(std::string("/sys/fs/cgroup/") + h);
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
      const std::string name = e.path().filename().string();
      if (is_stale(name.substr(0, name.find('-'))) && e.is_directory(ec)) std::filesystem::remove_all(e.path(), ec);
    }
  }

  // ---- names and addresses ----
  const std::string& prefix() const { return prefix_; }
  int node_count() const { return config_.nodes; }
  std::string node_name(int k) const { return prefix_ + "n" + std::to_string(k); }  // hostname = netns name
  std::vector<std::string> node_names() const {
    std::vector<std::string> v;
    for (int k = 1; k <= config_.nodes; ++k) v.push_back(node_name(k));
    return v;
  }
  std::string node_ip(int k) const { return net_ + std::to_string(10 + k); }
  std::string head_ip() const { return net_ + "1"; }     // the bridge, in the root namespace
  std::string head_name() const { return prefix_ + "head"; }
  std::string subnet() const { return net_ + "0/24"; }   // e.g. 10.213.7.0/24
  std::string bridge() const { return prefix_ + "br"; }
  std::string veth(int k) const { return prefix_ + "v" + std::to_string(k); }
  std::string netns_path(int k) const { return "/run/netns/" + node_name(k); }
  const std::string& dir() const { return dir_; }        // /tmp/<prefix>-XXXXXX, removed at teardown

  // ---- running programs ----

  // Starts argv on node k (0: the root namespace, with the machine's hostname).
  // The child has its own process group and dies with the test. -1 on failure.
  pid_t spawn(int node, const std::vector<std::string>& argv, const ExecOptions& opts = {}) {
    int out = -1;
    if (!opts.log.empty()) out = ::open(opts.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const pid_t pid = start_child(node, argv, opts, -1, out, out);
    if (out >= 0) ::close(out);
    if (pid > 0) children_.push_back(pid);
    return pid;
  }

  // Runs argv on node k to its end (or opts.timeout_ms) and collects its output.
  ProcResult run(int node, const std::vector<std::string>& argv, const ExecOptions& opts = {}) {
    return collect(
        [&](int out, int err) { return start_child(node, argv, opts, -1, out, err); }, opts.timeout_ms);
  }

  // Waits for a child started by spawn(); its wait status (as waitpid gives it), or -1 on timeout.
  int wait(pid_t pid, int timeout_ms = 10000) {
    int status = -1;
    const bool done = detail::wait_until(
        [&] {
          const pid_t r = ::waitpid(pid, &status, WNOHANG);
          return r == pid || (r < 0 && errno == ECHILD);
        },
        timeout_ms, 5);
    if (!done) return -1;
    forget(pid);
    return status;
  }

  // Whether a child started by spawn() still runs (reaps it when it has ended).
  bool running(pid_t pid) {
    int status = 0;
    if (pid <= 0) return false;
    if (::waitpid(pid, &status, WNOHANG) != 0) {
      forget(pid);
      return false;
    }
    return true;
  }

  // Signals a child started by spawn() and reaps it, escalating to SIGKILL after
  // timeout_ms. Returns its wait status.
  int stop(pid_t pid, int sig = SIGTERM, int timeout_ms = 5000) {
    if (pid <= 0) return -1;
    ::kill(pid, sig);
    int status = wait(pid, timeout_ms);
    if (status == -1) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      status = wait(pid, 5000);
    }
    return status;
  }

  // Cuts node k off the network (its veth down: no FIN, no RST, packets are just
  // lost, as with a pulled cable) or connects it again. "" or what failed.
  std::string set_link(int k, bool up) const {
    const ProcResult r = ip({"link", "set", veth(k), up ? "up" : "down"});
    return r.code == 0 ? "" : "ip link set " + veth(k) + ": " + trimmed(r.err);
  }

  // The live processes in node k's network namespace (whoever started them).
  std::vector<pid_t> pids_on_node(int k) const { return detail::pids_in_netns(netns_path(k)); }

  // Kills every process on node k; false if some are still there after timeout_ms.
  bool kill_node_processes(int k, int timeout_ms = 5000) const {
    return detail::kill_netns_processes(netns_path(k), timeout_ms);
  }

  // Kills the processes of a cgroup directory tree and removes it, children first.
  static void remove_cgroup_tree(const std::string& path) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path, ec))
      if (e.is_directory(ec)) remove_cgroup_tree(e.path().string());
    detail::wait_until(
        [&] {
          for (const auto& l : detail::split_lines(detail::read_file(path + "/cgroup.procs")))
            if (!l.empty()) ::kill(std::atoi(l.c_str()), SIGKILL);
          return ::rmdir(path.c_str()) == 0 || errno == ENOENT;
        },
        2000);
  }
  // Runs a program in the root namespace with a clean environment.
  static ProcResult run_program(const std::vector<std::string>& argv, int timeout_ms = 30000) {
    ExecOptions o;
    o.timeout_ms = timeout_ms;
    return collect([&](int out, int err) { return start_child_in(std::string(), "", argv, o, -1, out, err); },
                   timeout_ms);
  }

 private:
  static std::string trimmed(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    return s;
  }

  static std::string find_ip() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
      if (::access(p, X_OK) == 0) return p;
    return "";
  }

  ProcResult ip(std::vector<std::string> args) const {
    args.insert(args.begin(), ip_);
    return run_program(args);
  }

  // Names made by a run whose process is gone: "dnt<pid><letter>...".
  static bool is_stale(const std::string& name) {
    const std::size_t n = std::strlen(kPrefix);
    if (name.size() <= n + 1 || name.compare(0, n, kPrefix) != 0) return false;
    std::size_t i = n;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
    if (i == n || i >= name.size() || !std::islower(static_cast<unsigned char>(name[i]))) return false;
    return !detail::pid_exists(std::strtol(name.c_str() + n, nullptr, 10));
  }

  static void sweep_cgroups(const std::string& hierarchy) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(hierarchy, ec)) {
      const std::string name = e.path().filename().string();
      if (!e.is_directory(ec) || !is_stale(name.substr(0, name.find('-')))) continue;
      remove_cgroup_tree(e.path().string());
    }
  }



  std::string build() {
    {
      detail::MachineLock lock;  // no other run may pick the same subnet meanwhile
      net_ = pick_subnet();
      if (net_.empty()) return "no free 10.200-250.x.0/24 subnet";
      ProcResult r = ip({"link", "add", bridge(), "type", "bridge"});
      if (r.code != 0) return "ip link add " + bridge() + " type bridge: " + trimmed(r.err);
      made_links_.insert(bridge());
      for (const std::vector<std::string>& a : {std::vector<std::string>{"addr", "add", head_ip() + "/24", "dev", bridge()},
                                                std::vector<std::string>{"link", "set", bridge(), "up"}}) {
        r = ip(a);
        if (r.code != 0) return "ip " + join(a) + ": " + trimmed(r.err);
      }
    }
    for (int k = 1; k <= config_.nodes; ++k) {
      const std::string ns = node_name(k);
      ProcResult r = ip({"netns", "add", ns});
      if (r.code != 0) return "ip netns add " + ns + ": " + trimmed(r.err);
      made_ns_.insert(ns);
      r = ip({"link", "add", veth(k), "type", "veth", "peer", "name", "eth0", "netns", ns});
      if (r.code != 0) return "ip link add " + veth(k) + " type veth: " + trimmed(r.err);
      made_links_.insert(veth(k));
      for (const std::vector<std::string>& a :
           {std::vector<std::string>{"link", "set", veth(k), "master", bridge(), "up"},
            std::vector<std::string>{"-n", ns, "addr", "add", node_ip(k) + "/24", "dev", "eth0"},
            std::vector<std::string>{"-n", ns, "link", "set", "eth0", "up"},
            std::vector<std::string>{"-n", ns, "link", "set", "lo", "up"}}) {
        r = ip(a);
        if (r.code != 0) return "ip " + join(a) + ": " + trimmed(r.err);
      }
    }
    std::vector<std::string> lines = {head_ip() + " " + head_name() + " " + kHostsMarker + prefix_};
    for (int k = 1; k <= config_.nodes; ++k)
      lines.push_back(node_ip(k) + " " + node_name(k) + " " + kHostsMarker + prefix_);
    detail::MachineLock lock;
    hosts_added_ = true;
    return rewrite_hosts([&](const std::string& p) { return p == prefix_; }, lines);
  }

  // A TCP connection from every node to the head's address must get through.
  std::string check_connectivity() {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, head_ip().c_str(), &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(l, 16) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      const std::string why = std::strerror(errno);
      if (l >= 0) ::close(l);
      return "cannot listen on " + head_ip() + ": " + why;
    }
    std::string errors;
    for (int k = 1; k <= config_.nodes; ++k) {
      const pid_t pid = start_child_in(netns_path(k), node_name(k), {}, {}, -1, -1, -1, [sa]() -> int {
        // Retried: a bridge port may take a moment to forward.
        const auto deadline = detail::now_ms() + 5000;
        while (detail::now_ms() < deadline) {
          const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          if (s >= 0 && ::connect(s, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) return 0;
          if (s >= 0) ::close(s);
          ::usleep(50000);
        }
        return 1;
      });
      int st = 0;
      while (pid > 0 && ::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      if (pid <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        errors += "node " + node_name(k) + " (" + node_ip(k) + ") cannot reach " + head_ip() + " over the bridge; ";
    }
    ::close(l);
    return errors;
  }

  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& w : v) s += (s.empty() ? "" : " ") + w;
    return s;
  }

  // "10.A.B." for a /24 in 10.200-250.x.0 that no address or route of the root
  // namespace overlaps. Call with the machine lock held.
  std::string pick_subnet() const {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> used;  // [first, last]
    auto note = [&](const std::string& cidr) {
      const auto slash = cidr.find('/');
      in_addr a{};
      if (::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1) return;
      const int bits = slash == std::string::npos ? 32 : std::atoi(cidr.c_str() + slash + 1);
      const std::uint32_t host = ntohl(a.s_addr);
      const std::uint32_t mask = bits <= 0 ? 0 : ~std::uint32_t{0} << (32 - std::min(bits, 32));
      used.push_back({host & mask, (host & mask) | ~mask});
    };
    for (const auto& line : detail::split_lines(ip({"-4", "-o", "addr", "show"}).out)) {
      const auto w = detail::split_words(line);
      for (std::size_t i = 0; i + 1 < w.size(); ++i)
        if (w[i] == "inet") note(w[i + 1]);
    }
    for (const auto& line : detail::split_lines(ip({"-4", "route", "show", "table", "all"}).out)) {
      auto w = detail::split_words(line);
      if (!w.empty() && (w[0] == "local" || w[0] == "broadcast" || w[0] == "unicast") && w.size() > 1)
        w.erase(w.begin());
      if (!w.empty() && w[0] != "default") note(w[0]);
    }
    const auto seed = static_cast<std::uint32_t>(::getpid()) * 2654435761u ^
                      static_cast<std::uint32_t>(detail::now_ms());
    for (std::uint32_t i = 0; i < 51 * 256; ++i) {
      const std::uint32_t c = (seed + i) % (51 * 256);
      const std::uint32_t a = 200 + c / 256, b = c % 256;
      const std::uint32_t first = (10u << 24) | (a << 16) | (b << 8), last = first | 0xff;
      bool clash = false;
      for (const auto& [lo, hi] : used) clash |= !(last < lo || first > hi);
      if (!clash) return "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    }
    return "";
  }

  // Rewrites /etc/hosts without the lines marked for a prefix `drop` accepts,
  // plus `add`; every other line stays as it is. Atomic (a new file renamed over
  // the old) where /etc/hosts is a plain file; in place where it is a bind mount.
  // Call with the machine lock held.
  static std::string rewrite_hosts(const std::function<bool(const std::string&)>& drop,
                                   const std::vector<std::string>& add) {
    const std::string path = "/etc/hosts";
    const std::string old_text = detail::read_file(path);
    std::string text;
    bool changed = false;
    for (const auto& line : detail::split_lines(old_text)) {
      const auto m = line.find(kHostsMarker);
      if (m != std::string::npos) {
        const auto words = detail::split_words(line.substr(m + std::strlen(kHostsMarker)));
        if (!words.empty() && drop(words[0])) {
          changed = true;
          continue;
        }
      }
      text += line + "\n";
    }
    for (const auto& l : add) text += l + "\n";
    if (!changed && add.empty()) return "";
    struct stat st {};
    const bool have = ::stat(path.c_str(), &st) == 0;
    std::string tmp = "/etc/.hosts.drover-netns.XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd >= 0) {
      if (have) {
        ::fchmod(fd, st.st_mode & 07777);
        (void)::fchown(fd, st.st_uid, st.st_gid);
      } else {
        ::fchmod(fd, 0644);
      }
      const bool ok = detail::write_all(fd, text) && ::fsync(fd) == 0;
      ::close(fd);
      if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return "";
      ::unlink(tmp.c_str());
    }
    // A bind-mounted /etc/hosts (containers) cannot be replaced: write it in place.
    const int out = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (out < 0 || !detail::write_all(out, text)) {
      const std::string why = std::strerror(errno);
      if (out >= 0) ::close(out);
      return "cannot rewrite " + path + ": " + why;
    }
    ::close(out);
    return "";
  }

  void forget(pid_t pid) { children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end()); }

  pid_t start_child(int node, const std::vector<std::string>& argv, const ExecOptions& opts, int in, int out,
                    int err) const {
    if (node < 0 || node > config_.nodes) return -1;
    return start_child_in(node == 0 ? std::string() : netns_path(node), node == 0 ? "" : node_name(node), argv,
                          opts, in, out, err);
  }

  // Forks a child that joins the network namespace at ns_path (unless empty) and
  // a new UTS namespace called `hostname`, then runs argv, or `body` instead.
  static pid_t start_child_in(const std::string& ns_path, const std::string& hostname,
                              const std::vector<std::string>& argv, const ExecOptions& opts, int in, int out,
                              int err, const std::function<int()>& body = nullptr) {
    // Everything the child needs is made before fork.
    std::vector<std::string> env_storage = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                            "LANG=C.UTF-8", "HOME=/root"};
    for (const auto& kv : opts.env) {
      const auto key = kv.substr(0, kv.find('=') + 1);
      env_storage.erase(std::remove_if(env_storage.begin(), env_storage.end(),
                                       [&](const std::string& e) { return e.compare(0, key.size(), key) == 0; }),
                        env_storage.end());
      env_storage.push_back(kv);
    }
    std::vector<char*> envp, args;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_storage = argv;
    for (auto& a : argv_storage) args.push_back(a.data());
    args.push_back(nullptr);
    if (!body && argv.empty()) return -1;
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    // ---- child ----
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the test died before prctl
    ::setpgid(0, 0);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(in >= 0 ? in : devnull, 0);
    ::dup2(out >= 0 ? out : devnull, 1);
    ::dup2(err >= 0 ? err : devnull, 2);
    // Nothing else of the test's (pipes, sockets) may leak into the child.
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
      for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    auto die = [](const char* what) {  // no allocation after fork
      const char* why = std::strerror(errno);
      for (const char* part : {"netns_cluster: ", what, ": ", why, "\n"}) (void)!::write(2, part, std::strlen(part));
      ::_exit(127);
    };
    if (!ns_path.empty()) {
      const int fd = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) die(ns_path.c_str());
      if (::setns(fd, CLONE_NEWNET) != 0) die("setns");
      ::close(fd);
      if (::unshare(CLONE_NEWUTS) != 0) die("unshare(CLONE_NEWUTS)");
      if (::sethostname(hostname.data(), hostname.size()) != 0) die("sethostname");
    }
    if (body) ::_exit(body());
    if (::chdir(opts.cwd.c_str()) != 0) die("chdir");
    ::execvpe(args[0], args.data(), envp.data());
    die(args[0]);
    return -1;  // not reached
  }

  // Runs a child made by `start(out_fd, err_fd)` to its end, collecting its output.
  static ProcResult collect(const std::function<pid_t(int, int)>& start, int timeout_ms) {
    ProcResult res;
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return res;
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return res;
    }
    const pid_t pid = start(out[1], err[1]);
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
      ::close(out[0]);
      ::close(err[0]);
      return res;
    }
    const auto deadline = detail::now_ms() + timeout_ms;
    bool killed = false;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
      const int wait = static_cast<int>(std::max<std::int64_t>(0, deadline - detail::now_ms()));
      const int r = ::poll(fds, 2, killed ? 1000 : wait);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        if (killed) break;  // a grandchild holds the pipe open
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

  Config config_;
  std::string prefix_;
  std::string ip_;
  std::string net_;  // "10.A.B."
  std::string dir_;
  std::set<std::string> made_ns_, made_links_;
  bool hosts_added_ = false;
  bool started_ = false;
  bool torn_down_ = false;
  std::vector<pid_t> children_;
};

}  // namespace drover::netns
