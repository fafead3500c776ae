// Starts a job's main process as its owner: user, group and supplementary groups,
// working directory, environment, output files, CPU binding, cgroup. Synchronous
// and small: the agent's event loop owns timing, waiting and reporting.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/cgroup.hpp"
#include "core/job_definition.hpp"
#include "core/result.hpp"

namespace drover::agent {

struct LaunchSpec {
  std::int64_t job_id = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;                  // for supplementary groups (getgrouplist)
  std::vector<std::string> argv;     // run directly when script is empty; else the script's arguments
  std::string script;                // batch script text; written to job_dir and run
  KeyValues environment;             // exactly the job's environment
  std::string working_dir;
  std::string stdout_path;           // absolute; opened by the job's user
  std::string stderr_path;           // absolute; empty: same as stdout
  bool append_output = false;
  std::vector<int> cpus;             // PU OS indexes to bind to; empty: no binding
  std::int64_t memory_limit_mib = 0; // 0: none
  std::vector<int> mems;             // NUMA nodes for the cgroup's cpuset.mems; empty: the parent's
  std::vector<DeviceRule> denied_devices;  // device files the job may not open (other jobs' GPUs)
  std::string job_dir;               // agent-owned scratch dir for this job (script)
  std::string make_dir;              // absolute; made (with its parents) as the job's user
                                     // before it starts, e.g. its checkpoint directory
};

struct LaunchedJob {
  pid_t pid = -1;      // main process; leader of its own session and process group
  JobCgroup cgroup;
};

// Starts the job. Errors say what failed and why, e.g.
// "cannot open output file /x/drover-7.out: Permission denied" or
// "cannot change to working directory /nope: No such file or directory"; the
// cgroup is removed again when starting fails.
Result<LaunchedJob> launch_job(const LaunchSpec& spec, const CgroupLayout& cgroups);

// Signals the job's process group, and with cgroups every process of the job.
void signal_job(const LaunchedJob& job, int sig);
// Signals every process of the job that handles `sig` (has a handler for it,
// /proc/PID/status SigCgt): the application's ranks, mpirun and orted (which
// forward it), a batch script that traps it. Processes that would die of the
// signal (a shell that does not trap it, drover-launch, sleep) are left alone.
// Without cgroups, the job's process group. Returns how many were signalled.
int signal_job_handlers(const LaunchedJob& job, int sig);

// Decodes a wait status into (exit code or signal).
struct ExitStatus {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
};
ExitStatus decode_wait_status(int status);

}  // namespace drover::agent
