// Starts a job's main process as its owner: user, group and supplementary groups,
// working directory, environment, output files, CPU binding, cgroup. Synchronous
// and small: the agent's event loop owns timing, waiting and reporting.
#pragma once

#include <sys/types.h>

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/cgroup.hpp"
#include "core/job_definition.hpp"
#include "core/result.hpp"

namespace drover::agent {

// Batch scripts written once and shared by the jobs that run the same script as
// the same user and group (an array's tasks): <dir>/<n>/script, in a directory
// of the user's (0700) as a job's own script is. A file that changed since it
// was written (its owner may change it) is not used again: the next job gets a
// fresh copy. A file goes when no running job uses it and newer ones are kept.
class ScriptCache {
 public:
  explicit ScriptCache(std::string dir) : dir_(std::move(dir)) {}
  // The file holding `script` for a job of uid:gid, written if needed; the
  // job uses it until release(path).
  Result<std::string> acquire(const std::string& script, std::uint32_t uid, std::uint32_t gid);
  void release(const std::string& path);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string script;
    std::uint32_t uid, gid;
    std::string dir, path;
    dev_t dev;
    ino_t ino;
    std::int64_t mtime_ns, ctime_ns;
    int users = 0;
    bool stale = false;      // changed on disk: used by no new job
    std::uint64_t used = 0;  // clock_ at the last acquire
  };
  void drop_unused();
  std::string dir_;
  std::vector<Entry> entries_;
  std::uint64_t clock_ = 0, next_name_ = 0;
};

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
  ScriptCache* scripts = nullptr;    // the script from here, not written to job_dir
  CgroupPool* cgroup_pool = nullptr; // the job's cgroup from here (a kept one when it can)
  std::string make_dir;              // absolute; made (with its parents) as the job's user
                                     // before it starts, e.g. its checkpoint directory
};

struct LaunchedJob {
  pid_t pid = -1;      // main process; leader of its own session and process group
  JobCgroup cgroup;
  std::string shared_script;  // from LaunchSpec::scripts: release it when the job ends
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
