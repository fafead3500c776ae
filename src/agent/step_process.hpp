// Starts one step process (a command drover-launch asked for) as the job's
// user, the way sshd runs a command: `<login shell> -c "<command>"`, in the
// job's cgroup and CPU binding, stdin from /dev/null, stdout and stderr into
// pipes that the caller reads. Synchronous and small, like job_launcher: the
// StepServer's event loop owns the pipes, waiting and killing.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/job_definition.hpp"
#include "core/result.hpp"

namespace drover::agent {

struct StepSpawnSpec {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;                       // for supplementary groups and the login shell
  std::string command;                    // given to the shell's -c
  KeyValues environment;                  // exactly the step's environment
  std::vector<std::string> directories;   // the first one that can be entered; "/" at last
  std::vector<int> cpus;                  // empty: no binding
  std::vector<std::string> cgroup_dirs;   // cgroups to join (JobCgroup::dirs())
};

struct SpawnedStep {
  pid_t pid = -1;        // leader of its own session and process group
  int stdout_fd = -1;    // read ends, non-blocking, close-on-exec; the caller closes them
  int stderr_fd = -1;
};

// The shell sshd would use for this user: the passwd entry's, or /bin/sh where
// there is none or it refuses logins (nologin, false), since a job's owner may
// run processes whatever their login shell.
std::string step_shell(std::uint32_t uid);

// Errors say what failed and why, e.g. "cannot set user id to 1000: Operation not permitted".
Result<SpawnedStep> spawn_step(const StepSpawnSpec& spec);

}  // namespace drover::agent
