// Starting a job process: everything that allocates (paths, argv, environment,
// group lists, CPU masks) is prepared before the spawn (child::spawn, a
// vfork-style clone sharing the agent's memory), because the child may only use
// async-signal-safe calls and must leave the agent's memory alone.
// The child reports a failure before exec through a close-on-exec pipe, so the
// parent learns "exec succeeded" (EOF, no data) or exactly what went wrong.
#include "agent/job_launcher.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include "agent/child_setup.hpp"
#include "agent/syscall.hpp"

namespace drover::agent {
namespace {

// What execvpe(3) searches when the environment has no PATH.
constexpr const char* kDefaultPath = "/bin:/usr/bin";

// Everything the child needs, computed in the parent.
struct ChildPlan : child::Confinement {
  std::vector<std::string> exec_candidates;  // argv[0] resolved through the job's PATH
  std::string program;                       // argv[0] as given, for messages
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::string working_dir;
  std::string stdout_path;
  std::string stderr_path;  // empty: same file as stdout
  bool append_output = false;
  std::vector<std::string> make_dirs;  // made in order as the user (EEXIST is fine)
};

// ---- child side: async-signal-safe only --------------------------------------

int open_output(const std::string& path, bool append_output) {
  const int flags = O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC | (append_output ? O_APPEND : O_TRUNC);
  return retry_eintr([&] { return ::open(path.c_str(), flags, 0644); });
}

// Moves fd above the standard descriptors so that dup2 onto 0..2 cannot clobber it.
int lift_fd(int fd) {
  if (fd > 2) return fd;
  return ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

[[noreturn]] void run_child(const ChildPlan& plan, int error_fd) {
  child::confine(plan, error_fd);

  // From here on the user's own permissions apply.
  if (retry_eintr([&] { return ::chdir(plan.working_dir.c_str()); }) != 0)
    child::fail(error_fd, "cannot change to working directory", plan.working_dir.c_str(), errno);

  for (const auto& dir : plan.make_dirs)
    if (retry_eintr([&] { return ::mkdir(dir.c_str(), 0755); }) != 0 && errno != EEXIST)
      child::fail(error_fd, "cannot create directory", dir.c_str(), errno);
  // EEXIST is fine for a directory only (as with mkdir -p): a file there is no
  // place for the job's checkpoints.
  if (!plan.make_dirs.empty()) {
    struct stat st {};
    const char* dir = plan.make_dirs.back().c_str();
    if (::stat(dir, &st) != 0) child::fail(error_fd, "cannot create directory", dir, errno);
    if (!S_ISDIR(st.st_mode)) child::fail(error_fd, "cannot create directory", dir, EEXIST);
  }

  int out_fd = open_output(plan.stdout_path, plan.append_output);
  if (out_fd < 0) child::fail(error_fd, "cannot open output file", plan.stdout_path.c_str(), errno);
  int err_fd = out_fd;
  if (!plan.stderr_path.empty()) {
    err_fd = open_output(plan.stderr_path, plan.append_output);
    if (err_fd < 0)
      child::fail(error_fd, "cannot open error file", plan.stderr_path.c_str(), errno);
  }
  int in_fd = retry_eintr([] { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); });
  if (in_fd < 0) child::fail(error_fd, "cannot open", "/dev/null", errno);

  const bool same = err_fd == out_fd;
  in_fd = lift_fd(in_fd);
  out_fd = lift_fd(out_fd);
  err_fd = same ? out_fd : lift_fd(err_fd);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0)
    child::fail(error_fd, "cannot set up standard streams", "", errno);
  if (retry_eintr([&] { return ::dup2(in_fd, 0); }) < 0 ||
      retry_eintr([&] { return ::dup2(out_fd, 1); }) < 0 ||
      retry_eintr([&] { return ::dup2(err_fd, 2); }) < 0)
    child::fail(error_fd, "cannot set up standard streams", "", errno);

  // No descriptor of the agent (sockets, the database, other jobs' files) may leak
  // into the job. Marking them close-on-exec keeps error_fd usable until exec.
  child::close_inherited_on_exec(plan.max_fd);

  // Search like execvpe, but through the job's PATH: EACCES anywhere wins over
  // "not found", and anything else stops the search.
  int err = ENOENT;
  bool denied = false;
  for (const auto& candidate : plan.exec_candidates) {
    for (int busy = 0;; ++busy) {
      ::execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
      // ETXTBSY: another thread's fork may briefly hold the freshly written script open.
      if (errno != ETXTBSY || busy >= 50) break;
      const struct timespec pause {0, 10'000'000};
      ::nanosleep(&pause, nullptr);
    }
    err = errno;
    if (err == EACCES) {
      denied = true;
      continue;
    }
    if (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT)
      continue;
    break;
  }
  if (denied && (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV ||
                 err == ETIMEDOUT))
    err = EACCES;
  child::fail(error_fd, "cannot execute", plan.program.c_str(), err);
}

struct ChildStart {
  const ChildPlan* plan;
  int read_fd;   // the parent's end of the status pipe
  int error_fd;  // the child's end
};

int child_main(void* arg) {
  const auto* start = static_cast<const ChildStart*>(arg);
  ::close(start->read_fd);
  run_child(*start->plan, start->error_fd);
}

// ---- parent side ----------------------------------------------------------

std::vector<std::string> exec_candidates(const std::string& program, const KeyValues& env) {
  if (program.find('/') != std::string::npos) return {program};
  const std::string* path_value = find_value(env, "PATH");
  const std::string path = path_value ? *path_value : kDefaultPath;
  std::vector<std::string> result;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t end = path.find(':', pos);
    std::string dir = path.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    // An empty PATH entry means the current directory, by POSIX.
    result.push_back(dir.empty() ? program : dir + "/" + program);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return result;
}


// Makes `dir` (agent-owned parent) the job user's own (0700) and returns an
// fd of it, or -1 with errno set.
int make_user_dir(const std::string& dir, std::uint32_t uid, std::uint32_t gid, std::string& what) {
  if (retry_eintr([&] { return ::mkdir(dir.c_str(), 0700); }) != 0 && errno != EEXIST) {
    what = "cannot create job directory " + dir;
    return -1;
  }
  // O_NOFOLLOW and fd-relative calls: the user owns the directory afterwards and
  // could plant links in it for a later attempt of the same job.
  const int dir_fd = retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
  if (dir_fd < 0) {
    what = "cannot open job directory " + dir;
    return -1;
  }
  if (::fchown(dir_fd, uid, gid) != 0)
    what = "cannot give job directory " + dir + " to uid " + std::to_string(uid);
  else if (::fchmod(dir_fd, 0700) != 0)
    what = "cannot set the mode of " + dir;
  else
    return dir_fd;
  const int err = errno;
  ::close(dir_fd);
  errno = err;
  return -1;
}

Status check_interpreter(const std::string& script) {
  if (script.rfind("#!", 0) != 0)
    return make_error("cannot run job script", "its first line must name an interpreter, e.g. #!/bin/bash");
  return {};
}

// Writes the batch script as <dir>/script, owned by the job's user, who may
// then read (and run) it but not the agent's other jobs' scripts.
Result<std::string> write_script_in(const std::string& dir, const std::string& script, std::uint32_t uid,
                                    std::uint32_t gid) {
  if (auto st = check_interpreter(script); !st) return st.error();
  std::string what;
  const int dir_fd = make_user_dir(dir, uid, gid, what);
  if (dir_fd < 0) return make_error(what, errno_text(errno));
  auto fail = [&](const std::string& what) -> Result<std::string> {
    const int err = errno;
    ::close(dir_fd);
    return make_error(what, errno_text(err));
  };

  const std::string path = dir + "/script";
  if (::unlinkat(dir_fd, "script", 0) != 0 && errno != ENOENT)
    return fail("cannot replace job script " + path);
  const int fd = retry_eintr([&] {
    return ::openat(dir_fd, "script", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
  });
  if (fd < 0) return fail("cannot create job script " + path);
  ::close(dir_fd);
  auto fail_file = [&](const std::string& what) -> Result<std::string> {
    const int err = errno;
    ::close(fd);
    return make_error(what, errno_text(err));
  };
  std::size_t done = 0;
  while (done < script.size()) {
    const ssize_t n = retry_eintr(
        [&] { return ::write(fd, script.data() + done, script.size() - done); });
    if (n < 0) return fail_file("cannot write job script " + path);
    done += static_cast<std::size_t>(n);
  }
  if (::fchown(fd, uid, gid) != 0)
    return fail_file("cannot give job script " + path + " to uid " + std::to_string(uid));
  // The umask may have removed bits from the 0700 given to open.
  if (::fchmod(fd, 0700) != 0) return fail_file("cannot set the mode of " + path);
  if (::close(fd) != 0 && errno != EINTR)
    return make_error("cannot write job script " + path, errno_text(errno));
  return path;
}

Result<std::string> write_script(const LaunchSpec& spec) {
  if (spec.job_dir.empty())
    return make_error("cannot write job script", "no job directory given");
  return write_script_in(spec.job_dir, spec.script, spec.uid, spec.gid);
}

std::int64_t ns(const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

// A cgroup of the same name can only be left over from an earlier agent that
// crashed while the job ran; its processes are orphans of a lost attempt.
Status clear_stale_cgroup(const CgroupLayout& layout, const std::string& name) {
  const JobCgroup stale = JobCgroup::open(layout, name);
  if (!stale.active()) return {};
  if (auto st = stale.kill_all(); !st)
    return make_error("cannot clear stale cgroup " + name, st.message());
  if (auto st = stale.remove(); !st)
    return make_error("cannot clear stale cgroup " + name, st.message());
  return {};
}

void discard_cgroup(const JobCgroup& cgroup) {
  (void)cgroup.kill_all();
  (void)cgroup.remove();
}

}  // namespace

Result<std::string> ScriptCache::acquire(const std::string& script, std::uint32_t uid, std::uint32_t gid) {
  ++clock_;
  for (auto& e : entries_) {
    if (e.stale || e.uid != uid || e.gid != gid || e.script != script) continue;
    // Still the file written (its owner may have changed or replaced it)?
    struct stat st {};
    if (::lstat(e.path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0700 &&
        st.st_uid == uid && st.st_gid == gid && st.st_dev == e.dev && st.st_ino == e.ino &&
        ns(st.st_mtim) == e.mtime_ns && ns(st.st_ctim) == e.ctime_ns &&
        static_cast<std::size_t>(st.st_size) == script.size()) {
      ++e.users;
      e.used = clock_;
      return e.path;
    }
    e.stale = true;
    break;
  }
  Entry e;
  e.dir = dir_ + "/" + std::to_string(++next_name_);
  auto path = write_script_in(e.dir, script, uid, gid);
  if (!path) {
    std::error_code ec;
    std::filesystem::remove_all(e.dir, ec);
    return path.error();
  }
  struct stat st {};
  if (::lstat(path->c_str(), &st) != 0) return make_error("cannot use job script " + *path, errno_text(errno));
  e.script = script;
  e.uid = uid;
  e.gid = gid;
  e.path = *path;
  e.dev = st.st_dev;
  e.ino = st.st_ino;
  e.mtime_ns = ns(st.st_mtim);
  e.ctime_ns = ns(st.st_ctim);
  e.users = 1;
  e.used = clock_;
  entries_.push_back(std::move(e));
  drop_unused();
  return *path;
}

void ScriptCache::release(const std::string& path) {
  for (auto& e : entries_)
    if (e.path == path && e.users > 0) {
      --e.users;
      break;
    }
  drop_unused();
}

void ScriptCache::drop_unused() {
  // Files no job runs: stale ones at once, the rest beyond the newest few.
  constexpr std::size_t kKeep = 16;
  auto remove = [](const Entry& e) {
    std::error_code ec;
    std::filesystem::remove_all(e.dir, ec);
  };
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->stale && it->users == 0) {
      remove(*it);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  while (entries_.size() > kKeep) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->users == 0 && (oldest == entries_.end() || it->used < oldest->used)) oldest = it;
    if (oldest == entries_.end()) return;
    remove(*oldest);
    entries_.erase(oldest);
  }
}

Result<LaunchedJob> launch_job(const LaunchSpec& spec, const CgroupLayout& cgroups) {
  ChildPlan plan;
  const bool root = ::geteuid() == 0;
  if (!root && spec.uid != ::getuid())
    return make_error("cannot run job as uid " + std::to_string(spec.uid),
                      "the agent runs as uid " + std::to_string(::getuid()) +
                          ", not as root, and can only run jobs as itself");
  if (!root && spec.gid != ::getgid())
    return make_error("cannot run job with gid " + std::to_string(spec.gid),
                      "the agent runs with gid " + std::to_string(::getgid()) +
                          ", not as root, and can only run jobs with its own group");
  if (spec.script.empty() && (spec.argv.empty() || spec.argv.front().empty()))
    return make_error("cannot start job " + std::to_string(spec.job_id),
                      "it has neither a script nor a command");

  if (auto s = child::set_identity(plan, spec.uid, spec.gid, spec.user, root); !s) return s.error();

  std::string shared_script;
  // Whatever fails from here on gives the shared script back.
  struct Release {
    ScriptCache* cache;
    std::string* path;
    ~Release() {
      if (cache && !path->empty()) cache->release(*path);
    }
  } release{spec.scripts, &shared_script};
  if (!spec.script.empty()) {
    Result<std::string> path = Error{};
    if (spec.scripts) {
      if (auto st = check_interpreter(spec.script); !st) return st.error();
      path = spec.scripts->acquire(spec.script, spec.uid, spec.gid);
      if (path) shared_script = *path;
    } else {
      path = write_script(spec);
    }
    if (!path) return path.error();
    plan.argv_storage = {*path};
    // With a script, argv holds the script's arguments (sbatch script.sh a b).
    plan.argv_storage.insert(plan.argv_storage.end(), spec.argv.begin(), spec.argv.end());
  } else {
    plan.argv_storage = spec.argv;
  }
  plan.program = plan.argv_storage.front();
  plan.exec_candidates = exec_candidates(plan.program, spec.environment);
  for (auto& arg : plan.argv_storage) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  for (const auto& [key, value] : spec.environment) plan.env_storage.push_back(key + "=" + value);
  for (auto& entry : plan.env_storage) plan.envp.push_back(entry.data());
  plan.envp.push_back(nullptr);

  if (!spec.cpus.empty()) {
    const int highest = *std::max_element(spec.cpus.begin(), spec.cpus.end());
    for (int cpu : spec.cpus) {
      if (cpu < 0) return make_error("cannot bind job to CPUs", "invalid CPU index " + std::to_string(cpu));
      if (!plan.cpu_list.empty()) plan.cpu_list += ',';
      plan.cpu_list += std::to_string(cpu);
    }
    plan.cpu_set.reset(CPU_ALLOC(highest + 1));
    if (!plan.cpu_set) return make_error("cannot bind job to CPUs", errno_text(ENOMEM));
    plan.cpu_set_size = CPU_ALLOC_SIZE(highest + 1);
    CPU_ZERO_S(plan.cpu_set_size, plan.cpu_set.get());
    for (int cpu : spec.cpus) CPU_SET_S(static_cast<std::size_t>(cpu), plan.cpu_set_size, plan.cpu_set.get());
  }

  plan.working_dir = !spec.working_dir.empty() ? spec.working_dir
                     : !spec.job_dir.empty()   ? spec.job_dir
                                               : "/";
  if (spec.working_dir.empty() && !spec.job_dir.empty() && (spec.script.empty() || spec.scripts)) {
    // The job starts in its job directory, which no script made.
    std::string what;
    const int fd = make_user_dir(spec.job_dir, spec.uid, spec.gid, what);
    if (fd < 0) return make_error(what, errno_text(errno));
    ::close(fd);
  }
  plan.stdout_path = spec.stdout_path.empty() ? "/dev/null" : spec.stdout_path;
  if (!spec.stderr_path.empty() && spec.stderr_path != plan.stdout_path)
    plan.stderr_path = spec.stderr_path;
  plan.append_output = spec.append_output;
  if (!spec.make_dir.empty()) {
    if (spec.make_dir[0] != '/')
      return make_error("cannot create directory " + spec.make_dir, "not an absolute path");
    // Every prefix, so that the user makes what is missing of the path.
    for (std::size_t slash = spec.make_dir.find('/', 1);; slash = spec.make_dir.find('/', slash + 1)) {
      plan.make_dirs.push_back(spec.make_dir.substr(0, slash));
      if (slash == std::string::npos) break;
    }
  }
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY)
    plan.max_fd = static_cast<int>(std::min<rlim_t>(files.rlim_cur, 1 << 20));

  const std::string name = "job_" + std::to_string(spec.job_id);
  if (auto st = clear_stale_cgroup(cgroups, name); !st) return st.error();
  const CgroupLimits limits{spec.memory_limit_mib, spec.cpus, spec.mems, spec.denied_devices};
  auto cgroup = spec.cgroup_pool ? spec.cgroup_pool->acquire(cgroups, name, limits)
                                 : JobCgroup::create(cgroups, name, limits);
  if (!cgroup) return cgroup.error();
  for (const auto& dir : cgroup->dirs()) plan.cgroup_procs.push_back(dir + "/cgroup.procs");
  plan.cgroup_procs_fds = cgroup->procs_fds();

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const int err = errno;
    discard_cgroup(*cgroup);
    return make_error("cannot start job process: cannot create pipe", errno_text(err));
  }
  // The child rearranges descriptors 0..2; its end of the pipe must not be one of them.
  if (pipe_fds[1] <= 2) {
    const int lifted = ::fcntl(pipe_fds[1], F_DUPFD_CLOEXEC, 3);
    ::close(pipe_fds[1]);
    if (lifted < 0) {
      const int err = errno;
      ::close(pipe_fds[0]);
      discard_cgroup(*cgroup);
      return make_error("cannot start job process: cannot move pipe", errno_text(err));
    }
    pipe_fds[1] = lifted;
  }

  // Returns once the child has exec'd or failed: the pipe then holds its
  // message, or nothing.
  ChildStart start{&plan, pipe_fds[0], pipe_fds[1]};
  const pid_t pid = child::spawn(child_main, &start);
  if (pid < 0) {
    const int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    discard_cgroup(*cgroup);
    return make_error("cannot start job process", errno_text(err));
  }

  ::close(pipe_fds[1]);
  std::string message;
  char buf[512];
  for (;;) {
    const ssize_t n = retry_eintr([&] { return ::read(pipe_fds[0], buf, sizeof buf); });
    if (n <= 0) break;
    message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (message.empty()) {
    LaunchedJob launched{pid, std::move(*cgroup), shared_script};
    shared_script.clear();  // the job holds it now
    return launched;
  }

  // The child has exited or is about to (_exit right after its message); reap it
  // here, as the agent never learned of this pid. With SIGCHLD ignored the kernel
  // reaps it and waitpid fails with ECHILD, which is fine.
  int status = 0;
  (void)retry_eintr([&] { return ::waitpid(pid, &status, 0); });
  discard_cgroup(*cgroup);
  return Error{std::move(message)};
}

void signal_job(const LaunchedJob& job, int sig) {
  // The process group reaches everything when there are no cgroups; the cgroup
  // also reaches processes that left the group (setsid, daemonized helpers).
  if (job.pid > 0) ::kill(-job.pid, sig);
  job.cgroup.signal_all(sig);
}

namespace {
// Whether the process has a handler for the signal (SigCgt in /proc/PID/status).
bool handles_signal(pid_t pid, int sig) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = ::fopen(path.c_str(), "re");
  if (!f) return false;
  char line[256];
  bool caught = false;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "SigCgt:", 7) != 0) continue;
    const unsigned long long mask = std::strtoull(line + 7, nullptr, 16);
    caught = sig >= 1 && sig <= 64 && ((mask >> (sig - 1)) & 1ULL);
    break;
  }
  std::fclose(f);
  return caught;
}
}  // namespace

int signal_job_handlers(const LaunchedJob& job, int sig) {
  std::vector<pid_t> pids;
  if (job.cgroup.active()) {
    pids = job.cgroup.pids();
  } else if (job.pid > 0) {
    // No cgroup: the members of the job's process group, from /proc.
    if (DIR* d = ::opendir("/proc")) {
      while (const dirent* e = ::readdir(d)) {
        char* end = nullptr;
        const long pid = std::strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end) continue;
        if (::getpgid(static_cast<pid_t>(pid)) == job.pid) pids.push_back(static_cast<pid_t>(pid));
      }
      ::closedir(d);
    }
  }
  int n = 0;
  for (const pid_t pid : pids)
    if (handles_signal(pid, sig) && ::kill(pid, sig) == 0) ++n;
  return n;
}

ExitStatus decode_wait_status(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace drover::agent
