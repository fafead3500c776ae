// As in job_launcher.cpp: everything that allocates or consults NSS (group
// lists, the login shell, argv, environment, CPU masks) is prepared before
// the spawn (child::spawn, sharing the agent's memory until exec); the child only
// makes async-signal-safe calls and reports a failure before exec through a
// close-on-exec pipe.
#include "agent/step_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "agent/child_setup.hpp"
#include "agent/syscall.hpp"

namespace drover::agent {
namespace {

struct ChildPlan : child::Confinement {
  std::string shell;
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<std::string> directories;
};

// ---- child side: async-signal-safe only --------------------------------------

[[noreturn]] void run_child(const ChildPlan& plan, int error_fd, int out_fd, int err_fd) {
  child::confine(plan, error_fd);

  // As the user: the first directory that can be entered (the client's cwd may
  // not exist on this node), like sshd falling back when $HOME is missing.
  bool entered = false;
  for (const auto& dir : plan.directories)
    if (!dir.empty() && retry_eintr([&] { return ::chdir(dir.c_str()); }) == 0) {
      entered = true;
      break;
    }
  if (!entered && ::chdir("/") != 0) child::fail(error_fd, "cannot change to directory", "/", errno);

  int in_fd = retry_eintr([] { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); });
  if (in_fd < 0) child::fail(error_fd, "cannot open", "/dev/null", errno);
  // out_fd and err_fd are above 2 (the parent made sure); lift stdin's too.
  if (in_fd <= 2) in_fd = ::fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
  if (in_fd < 0 || retry_eintr([&] { return ::dup2(in_fd, 0); }) < 0 ||
      retry_eintr([&] { return ::dup2(out_fd, 1); }) < 0 ||
      retry_eintr([&] { return ::dup2(err_fd, 2); }) < 0)
    child::fail(error_fd, "cannot set up standard streams", "", errno);

  // Nothing of the agent (sockets, other steps' pipes) may leak into the step.
  child::close_inherited_on_exec(plan.max_fd);
  ::execve(plan.shell.c_str(), plan.argv.data(), plan.envp.data());
  child::fail(error_fd, "cannot execute", plan.shell.c_str(), errno);
}

struct ChildStart {
  const ChildPlan* plan;
  int error_fd, out_fd, err_fd;
};

int child_main(void* arg) {
  const auto* start = static_cast<const ChildStart*>(arg);
  run_child(*start->plan, start->error_fd, start->out_fd, start->err_fd);
}

// ---- parent side ----------------------------------------------------------

// A pipe whose ends are both above the standard descriptors, so that the child's
// dup2 onto 0..2 cannot clobber one of them.
Status make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) return make_error("cannot create pipe", errno_text(errno));
  for (int i = 0; i < 2; ++i) {
    if (fds[i] > 2) continue;
    const int lifted = ::fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
    const int err = errno;
    ::close(fds[i]);
    fds[i] = lifted;
    if (lifted < 0) {
      if (fds[1 - i] >= 0) ::close(fds[1 - i]);
      return make_error("cannot move pipe", errno_text(err));
    }
  }
  return {};
}

void close_all(std::initializer_list<int> fds) {
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
}

}  // namespace

std::string step_shell(std::uint32_t uid) {
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found || !pw.pw_shell ||
      !*pw.pw_shell)
    return "/bin/sh";
  const std::string shell = pw.pw_shell;
  const std::string base = shell.substr(shell.rfind('/') + 1);
  if (base == "nologin" || base == "false" || ::access(shell.c_str(), X_OK) != 0) return "/bin/sh";
  return shell;
}

Result<SpawnedStep> spawn_step(const StepSpawnSpec& spec) {
  ChildPlan plan;
  const bool root = ::geteuid() == 0;
  if (!root && (spec.uid != ::getuid() || spec.gid != ::getgid()))
    return make_error("cannot run a step as uid " + std::to_string(spec.uid),
                      "the agent does not run as root");
  if (auto s = child::set_identity(plan, spec.uid, spec.gid, spec.user, root); !s) return s.error();
  plan.shell = step_shell(spec.uid);
  // argv[0] is the shell's base name, as sshd gives it (no "-": not a login shell).
  plan.argv_storage = {plan.shell.substr(plan.shell.rfind('/') + 1), "-c", spec.command};
  for (auto& a : plan.argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (const auto& [key, value] : spec.environment) plan.env_storage.push_back(key + "=" + value);
  for (auto& e : plan.env_storage) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  plan.directories = spec.directories;
  for (const auto& dir : spec.cgroup_dirs) plan.cgroup_procs.push_back(dir + "/cgroup.procs");

  if (!spec.cpus.empty()) {
    const int highest = *std::max_element(spec.cpus.begin(), spec.cpus.end());
    for (int cpu : spec.cpus) {
      if (cpu < 0) return make_error("cannot bind step to CPUs", "invalid CPU index " + std::to_string(cpu));
      if (!plan.cpu_list.empty()) plan.cpu_list += ',';
      plan.cpu_list += std::to_string(cpu);
    }
    plan.cpu_set.reset(CPU_ALLOC(highest + 1));
    if (!plan.cpu_set) return make_error("cannot bind step to CPUs", errno_text(ENOMEM));
    plan.cpu_set_size = CPU_ALLOC_SIZE(highest + 1);
    CPU_ZERO_S(plan.cpu_set_size, plan.cpu_set.get());
    for (int cpu : spec.cpus) CPU_SET_S(static_cast<std::size_t>(cpu), plan.cpu_set_size, plan.cpu_set.get());
  }
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY)
    plan.max_fd = static_cast<int>(std::min<rlim_t>(files.rlim_cur, 1 << 20));

  int out[2] = {-1, -1}, err[2] = {-1, -1}, error_pipe[2] = {-1, -1};
  if (auto st = make_pipe(out); !st) return make_error("cannot start step", st.message());
  if (auto st = make_pipe(err); !st) {
    close_all({out[0], out[1]});
    return make_error("cannot start step", st.message());
  }
  if (auto st = make_pipe(error_pipe); !st) {
    close_all({out[0], out[1], err[0], err[1]});
    return make_error("cannot start step", st.message());
  }

  ChildStart start{&plan, error_pipe[1], out[1], err[1]};
  const pid_t pid = child::spawn(child_main, &start);
  if (pid < 0) {
    const int e = errno;
    close_all({out[0], out[1], err[0], err[1], error_pipe[0], error_pipe[1]});
    return make_error("cannot start step", errno_text(e));
  }

  close_all({out[1], err[1], error_pipe[1]});
  std::string message;
  char buf[512];
  for (;;) {
    const ssize_t n = retry_eintr([&] { return ::read(error_pipe[0], buf, sizeof buf); });
    if (n <= 0) break;
    message.append(buf, static_cast<std::size_t>(n));
  }
  ::close(error_pipe[0]);
  if (!message.empty()) {
    // The child exits right after its message; reap it here, the caller never
    // learns this pid.
    int status = 0;
    (void)retry_eintr([&] { return ::waitpid(pid, &status, 0); });
    close_all({out[0], err[0]});
    return Error{std::move(message)};
  }
  for (int fd : {out[0], err[0]}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return SpawnedStep{pid, out[0], err[0]};
}

}  // namespace drover::agent
