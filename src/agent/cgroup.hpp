// A job's control group: memory limit, CPU set and memory nodes, the device files
// it may not open (other jobs' GPUs), and the set of the job's processes, so that
// every process of a job can be found and killed. Supports cgroup v1 (memory +
// cpuset + devices hierarchies, as mounted on these machines) and v2 (unified,
// with memory and cpuset controllers enabled in the parent; devices through a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the job's cgroup).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace drover::agent {

enum class CgroupMode { None, V1, V2 };

// A device file by its numbers, as the kernel's device controller sees it:
// {'c', 195, 1, "/dev/nvidia1"} is "c 195:1". path is for messages only.
struct DeviceRule {
  char type = 'c';  // 'c' character device, 'b' block device
  unsigned major = 0;
  unsigned minor = 0;
  std::string path;
  bool operator==(const DeviceRule&) const = default;
  std::string numbers() const {
    return std::string(1, type) + " " + std::to_string(major) + ":" + std::to_string(minor);
  }
};

// Where job cgroups are made: <mount>/<parent>/job_<id>. Detected once at start.
struct CgroupLayout {
  CgroupMode mode = CgroupMode::None;
  std::string v1_memory;  // e.g. /sys/fs/cgroup/memory/<parent>
  std::string v1_cpuset;  // e.g. /sys/fs/cgroup/cpuset/<parent>
  std::string v2_dir;     // e.g. /sys/fs/cgroup/<parent>
  std::string why_none;   // when mode is None: what was missing, for the log
  // Device isolation: v1 through this devices hierarchy, v2 through BPF programs.
  std::string v1_devices;        // e.g. /sys/fs/cgroup/devices/<parent>
  bool devices = false;          // whether jobs can be denied device files
  std::string why_no_devices;    // when not: why, for the log
};

// Finds a usable cgroup hierarchy and creates the parent directory `parent`
// (e.g. "drover" or a unique name in tests). mount_root is normally
// /sys/fs/cgroup. Never fails: falls back to None with why_none set.
CgroupLayout detect_cgroups(const std::string& parent,
                            const std::string& mount_root = "/sys/fs/cgroup");

// What a job's cgroup enforces.
// Open descriptors of a v1 job cgroup's control files (cgroup.cpp).
class CgroupFiles;

struct CgroupLimits {
  std::int64_t memory_limit_mib = 0;  // 0: no limit
  std::vector<int> cpus;              // PU OS indexes; empty: the parent's set
  // NUMA node OS indexes for cpuset.mems; empty: the parent's. Nodes the parent
  // lacks are left out (a node told its topology by an XML file may name NUMA
  // nodes this machine does not have); if none is left, the parent's set.
  std::vector<int> mems;
  std::vector<DeviceRule> denied_devices;  // needs layout.devices; else an error
};

class JobCgroup {
 public:
  // Creates <parent>/<name> with the limits. With mode None returns an object
  // that does nothing.
  static Result<JobCgroup> create(const CgroupLayout& layout, const std::string& name,
                                  const CgroupLimits& limits);
  // The same with a memory limit and CPUs only.
  static Result<JobCgroup> create(const CgroupLayout& layout, const std::string& name,
                                  std::int64_t memory_limit_mib, const std::vector<int>& cpus) {
    return create(layout, name, CgroupLimits{memory_limit_mib, cpus, {}, {}});
  }
  // Refers to an existing job cgroup without changing it, e.g. one left behind by
  // an earlier agent, so that it can be killed and removed. Directories that do not
  // exist are left out; with none the result does nothing.
  static JobCgroup open(const CgroupLayout& layout, const std::string& name);
  JobCgroup() = default;

  // Puts a process in the cgroup (from the parent, before it runs the job).
  Status add(pid_t pid) const;
  // Processes currently in the cgroup (empty with mode None).
  std::vector<pid_t> pids() const;
  // Sends sig to every process in the cgroup; returns how many were signalled.
  int signal_all(int sig) const;
  // SIGKILLs every process and waits (bounded, ~2 s) until the cgroup is empty.
  Status kill_all() const;
  // Whether the kernel's OOM killer acted inside this cgroup.
  bool oom_killed() const;
  // Peak memory in bytes when the kernel reports it, else 0.
  std::int64_t memory_peak_bytes() const;
  // Removes the cgroup directories (must be empty of processes).
  Status remove() const;
  bool active() const { return mode_ != CgroupMode::None; }
  const std::vector<std::string>& dirs() const { return dirs_; }
  // For each of dirs(): its cgroup.procs open for writing, or -1 where none is
  // kept open. A process joins by writing "0" to it (the job's child, before exec).
  std::vector<int> procs_fds() const;
  // The NUMA nodes written to cpuset.mems by create (empty: the parent's set).
  const std::vector<int>& mems() const { return mems_; }

 private:
  friend class CgroupPool;
  CgroupMode mode_ = CgroupMode::None;
  std::vector<std::string> dirs_;  // every directory made for this job (v1: memory, cpuset, devices)
  std::vector<int> mems_;
  // v1, for CgroupPool: which of dirs_ is which, and the settings create wrote.
  std::string memory_dir_, cpuset_dir_, devices_dir_;
  std::int64_t memory_limit_mib_ = 0;
  std::string cpu_list_, mem_list_;  // as written; empty: the parent's set
  std::int64_t peak_baseline_ = 0;   // bytes charged when a kept cgroup was handed on
  // v1: the control files opened so far, shared by the copies of this object.
  std::shared_ptr<CgroupFiles> files_;
  enum Hierarchy { kMemory = 0, kCpuset = 1 };
  // <memory or cpuset dir>/<name>, through files_ when it can be kept open.
  Result<std::string> read_control(Hierarchy h, const char* name) const;
  int write_control(Hierarchy h, const char* name, const std::string& value) const;  // errno or 0
};

// Empty job cgroups kept for the next job (cgroup v1 only): making and removing a
// memory and a cpuset cgroup costs the kernel far more than resetting one, and an
// array's tasks would pay it for every task. A cgroup is kept only when it can be
// handed on as good as new:
//   - no process and no child cgroup is left in it (the job cannot follow the
//     next one in, nor leave anything behind that the next one could reach);
//   - the kernel's OOM killer never acted in it (the oom_kill count cannot be
//     reset, and the next job would be reported killed for lack of memory);
//   - at most kMaxLeftoverBytes (1 MiB) stay charged to it: page cache the job
//     wrote would count towards the next job's limit and peak. A trivial job
//     leaves 50-400 KiB (kernel objects, per-CPU charge caches) that not even
//     memory.force_empty takes back at once; the next job's peak is reported
//     less what was charged when its cgroup was kept, and its limit is
//     effectively that much smaller;
//   - its peak and failure counters (memory, memsw, kmem, kmem.tcp) are reset.
// The device cgroup (GPU isolation) is never kept: each job gets a new one. On
// reuse the memory limit, swappiness, CPUs and memory nodes are written again
// when they differ from what the last job had, or when that job ran as root
// (root could have changed them). The control files a job's cycle reads and writes
// stay open while the cgroup lives (CgroupFiles): opening a cgroup file costs
// the kernel more than using it. Counters that only grow and cannot be reset
// (memory.stat's pgfault, pgpgin, ...) stay; nothing reads them for accounting.
// Kept cgroups are named job_idle<agent pid>_<N> (an agent that starts clears every job_*
// directory) and are renamed to the job's name when reused. v2 cgroups are never
// kept: memory.events cannot be reset.
class CgroupPool {
 public:
  static constexpr std::int64_t kMaxLeftoverBytes = 1024 * 1024;
  explicit CgroupPool(std::size_t capacity = 16) : capacity_(capacity) {}
  ~CgroupPool() { clear(); }
  CgroupPool(const CgroupPool&) = delete;
  CgroupPool& operator=(const CgroupPool&) = delete;

  // A cgroup named `name` with the limits: a kept one, reset, else JobCgroup::create.
  Result<JobCgroup> acquire(const CgroupLayout& layout, const std::string& name, const CgroupLimits& limits);
  // Takes an ended job's cgroup (its processes killed): keeps it when it can be
  // reused (above), else removes it. trusted: the job did not run as root.
  void release(const CgroupLayout& layout, const JobCgroup& cgroup, bool trusted);
  // Removes every kept cgroup.
  void clear();
  std::size_t idle() const { return idle_.size(); }
  std::uint64_t reused() const { return reused_; }

 private:
  struct Idle {
    JobCgroup cgroup;  // dirs_ are the job_idle<N> names
    bool dirty = false;
  };
  std::size_t capacity_;
  std::vector<Idle> idle_;
  std::uint64_t next_ = 0, reused_ = 0;
  int counters_probed_ = 0;               // 0: not yet; 1: done
  std::vector<const char*> counters_;     // the reset files this kernel has
  // The parent's memory.swappiness, cpuset.cpus and cpuset.mems (what "as a new
  // cgroup" means), read through descriptors kept open for the layout in use.
  Result<std::string> parent_value(const CgroupLayout& layout, bool cpuset, const char* name);
  std::string parent_memory_, parent_cpuset_;
  std::shared_ptr<CgroupFiles> parent_files_;
};

}  // namespace drover::agent
