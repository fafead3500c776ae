// What starting a job's main process (job_launcher) and a drover-launch step
// (step_process) share between spawn and exec: starting the child, failing with
// a message to the parent, resetting signals, a session of its own, joining the
// job's cgroup, CPU binding, becoming the job's user, keeping the agent's
// descriptors out. Child side: async-signal-safe calls only; everything is
// computed before the spawn.
//
// The child is started the way posix_spawn does it: clone(CLONE_VM |
// CLONE_VFORK) on a stack of its own. It shares the agent's memory until it
// execs or exits, and the calling thread waits until then, so nothing of the
// agent's address space is copied (fork was about a fifth of the agent's CPU
// time per trivial job). In exchange the child must not change anything of the agent's
// memory (it reads the plan, writes only its own stack and errno) nor run
// glibc code that acts on the whole process: ids change through raw system
// calls (glibc's setuid would signal the agent's threads), signals stay blocked
// until their dispositions are back to default.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/syscall.hpp"
#include "core/result.hpp"

namespace drover::agent::child {

struct CpuSetDeleter {
  void operator()(cpu_set_t* set) const { CPU_FREE(set); }
};

// The job's identity and confinement, as the child applies it.
struct Confinement {
  std::vector<std::string> cgroup_procs;  // cgroup.procs files to join
  std::vector<int> cgroup_procs_fds;      // the same files already open (-1: open the path)
  std::unique_ptr<cpu_set_t, CpuSetDeleter> cpu_set;
  std::size_t cpu_set_size = 0;
  std::string cpu_list;  // for messages
  bool change_ids = false;
  std::vector<gid_t> groups;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string uid_text;
  std::string gid_text;
  int max_fd = 1024;  // for closing descriptors where close_range is missing
};

// Appends a C string to a fixed buffer, truncating.
inline void append(char* buf, std::size_t size, std::size_t& len, const char* text) {
  while (*text && len + 1 < size) buf[len++] = *text++;
  buf[len] = '\0';
}

// Sends "<what> <subject>: <why>" to the parent and ends the child. strerrordesc_np
// returns a constant string, unlike strerror, which may translate and allocate.
[[noreturn]] inline void fail(int error_fd, const char* what, const char* subject, int err) {
  char buf[2048];
  std::size_t len = 0;
  buf[0] = '\0';
  append(buf, sizeof buf, len, what);
  if (subject && *subject) {
    append(buf, sizeof buf, len, " ");
    append(buf, sizeof buf, len, subject);
  }
  append(buf, sizeof buf, len, ": ");
  const char* why = strerrordesc_np(err);
  append(buf, sizeof buf, len, why ? why : "unknown error");
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::write(error_fd, buf + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::_exit(127);
}

// Signals back to default and unblocked, its own session, the cgroup joined
// (while still privileged), bound to its CPUs, then the job's user.
inline void confine(const Confinement& c, int error_fd) {
  // The agent may handle or ignore signals (SIGCHLD through signalfd, SIGPIPE
  // ignored); ignored dispositions and the mask survive exec, so reset both.
  // Dispositions first, so that no agent handler runs here once unblocked.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action {};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    ::sigaction(sig, &action, nullptr);  // fails harmlessly for glibc's internal signals
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // Own session and process group, so that it can be signalled as a whole and
  // does not receive the agent's terminal signals.
  if (::setsid() < 0) fail(error_fd, "cannot start a new session", "", errno);

  // "0" means the writing process.
  for (std::size_t i = 0; i < c.cgroup_procs.size(); ++i) {
    const auto& procs = c.cgroup_procs[i];
    if (i < c.cgroup_procs_fds.size() && c.cgroup_procs_fds[i] >= 0) {
      // The agent's descriptor: a copy of its table, open until exec.
      if (retry_eintr([&] { return ::pwrite(c.cgroup_procs_fds[i], "0", 1, 0); }) != 1)
        fail(error_fd, "cannot join cgroup", procs.c_str(), errno);
      continue;
    }
    const int fd = retry_eintr([&] { return ::open(procs.c_str(), O_WRONLY | O_CLOEXEC); });
    if (fd < 0) fail(error_fd, "cannot join cgroup", procs.c_str(), errno);
    if (retry_eintr([&] { return ::write(fd, "0", 1); }) != 1) {
      const int err = errno;
      ::close(fd);
      fail(error_fd, "cannot join cgroup", procs.c_str(), err);
    }
    ::close(fd);
  }

  // After joining a v1 cpuset, whose join resets the affinity to the cpuset.
  if (c.cpu_set && ::sched_setaffinity(0, c.cpu_set_size, c.cpu_set.get()) != 0)
    fail(error_fd, "cannot bind to CPUs", c.cpu_list.c_str(), errno);

  if (c.change_ids) {
    // Groups before gid before uid: each later step removes the right to do the
    // earlier. Raw system calls, for this process only (see the top).
    if (::syscall(SYS_setgroups, c.groups.size(), c.groups.data()) != 0)
      fail(error_fd, "cannot set supplementary groups for uid", c.uid_text.c_str(), errno);
    if (::syscall(SYS_setresgid, c.gid, c.gid, c.gid) != 0)
      fail(error_fd, "cannot set group id to", c.gid_text.c_str(), errno);
    if (::syscall(SYS_setresuid, c.uid, c.uid, c.uid) != 0)
      fail(error_fd, "cannot set user id to", c.uid_text.c_str(), errno);
  }
}

// Starts child(arg) as a new process sharing this one's memory (see the top)
// and returns once it has exec'd or exited: its pid, or -1 with errno. child
// must end in exec or _exit. Every signal is blocked across the clone, so no
// handler of the agent runs in the child; confine() unblocks them there after
// resetting the dispositions.
inline pid_t spawn(int (*child)(void*), void* arg) {
  // One stack per thread, reused: the thread is suspended while its child runs
  // on it. A guard page below it turns an overflow into a crash of the child.
  constexpr std::size_t kStack = 256 * 1024, kGuard = 4096;
  thread_local char* stack = nullptr;
  if (!stack) {
    void* m = ::mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) return -1;
    (void)::mprotect(m, kGuard, PROT_NONE);
    stack = static_cast<char*>(m);
  }
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  const pid_t pid = ::clone(child, stack + kStack + kGuard, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
  const int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return pid;
}

// No descriptor of the agent (sockets, the database, other jobs' files) may
// leak into the child. Close-on-exec keeps error_fd usable until exec.
inline void close_inherited_on_exec(int max_fd) {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < max_fd; ++fd) {
      const int flags = ::fcntl(fd, F_GETFD);
      if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }
}

// Parent side: the user's supplementary groups (getgrouplist), for Confinement::groups.
inline Result<std::vector<gid_t>> lookup_groups(const std::string& user, gid_t gid) {
  std::vector<gid_t> groups;
  int count = 32;
  for (int attempt = 0; attempt < 8; ++attempt) {
    groups.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(user.c_str(), gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(n));
      return groups;
    }
    // -1 with n set to the number needed; grow and ask again.
    count = std::max(n, count * 2);
  }
  return make_error("cannot list the groups of user " + user, "group list keeps growing");
}

// lookup_groups, remembered per user and group for up to a minute while
// /etc/group stays the same file: an array's tasks would otherwise read and
// parse it (or ask the directory service) once each. A change to /etc/group
// applies to the next job at once; one in a directory service (LDAP, sssd)
// within a minute.
inline Result<std::vector<gid_t>> supplementary_groups(const std::string& user, gid_t gid) {
  if (user.empty()) return std::vector<gid_t>{gid};
  struct Entry {
    std::string user;
    gid_t gid;
    std::vector<gid_t> groups;
    std::chrono::steady_clock::time_point at;
    struct stat file;
  };
  static std::mutex mutex;
  static std::vector<Entry> cache;
  struct stat file {};
  const bool have_file = ::stat("/etc/group", &file) == 0;
  auto same_file = [&](const struct stat& a) {
    return have_file && a.st_dev == file.st_dev && a.st_ino == file.st_ino && a.st_size == file.st_size &&
           a.st_mtim.tv_sec == file.st_mtim.tv_sec && a.st_mtim.tv_nsec == file.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == file.st_ctim.tv_sec && a.st_ctim.tv_nsec == file.st_ctim.tv_nsec;
  };
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex);
  auto it = std::find_if(cache.begin(), cache.end(), [&](const Entry& e) { return e.user == user && e.gid == gid; });
  if (it != cache.end() && same_file(it->file) && now - it->at < std::chrono::minutes(1)) return it->groups;
  auto groups = lookup_groups(user, gid);
  if (!groups || !have_file) return groups;
  if (it == cache.end()) {
    if (cache.size() >= 64) cache.erase(cache.begin());  // the oldest entry
    cache.push_back(Entry{user, gid, {}, now, file});
    it = cache.end() - 1;
  }
  it->groups = *groups;
  it->at = now;
  it->file = file;
  return groups;
}

// Parent side: the identity the child takes. As root: the user's uid, gid and
// supplementary groups (getgrouplist may consult NSS: never after fork).
// Otherwise the child keeps the agent's own identity.
inline Status set_identity(Confinement& c, uid_t uid, gid_t gid, const std::string& user, bool root) {
  if (root) {
    auto groups = supplementary_groups(user, gid);
    if (!groups) return groups.error();
    c.groups = std::move(*groups);
    c.change_ids = true;
  }
  c.uid = uid;
  c.gid = gid;
  c.uid_text = std::to_string(uid);
  c.gid_text = std::to_string(gid);
  return {};
}

}  // namespace drover::agent::child
