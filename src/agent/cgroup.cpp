// Job cgroups on v1 (separate memory and cpuset hierarchies) and v2 (one unified
// tree). Every kernel interaction goes through the small wrappers below so that
// EINTR never surfaces and every failure becomes "<what failed>: <why>".
#include "agent/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "agent/syscall.hpp"

namespace drover::agent {
namespace {

using namespace std::chrono_literals;

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Reads a whole (small, pseudo-)file. The error carries only the errno text; callers
// say what they were reading.
Result<std::string> read_text(const std::string& path) {
  const int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return make_error("cannot read " + path, errno_text(errno));
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return make_error("cannot read " + path, errno_text(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

// Writes value with a single write(2): cgroup files act on each write separately,
// so a value must never be split. Returns the errno (0 on success) because callers
// word the message themselves, or ignore particular errors.
int write_value(const std::string& path, const std::string& value) {
  const int fd = retry_eintr([&] { return ::open(path.c_str(), O_WRONLY | O_CLOEXEC); });
  if (fd < 0) return errno;
  const ssize_t n = retry_eintr([&] { return ::write(fd, value.data(), value.size()); });
  int err = 0;
  if (n < 0)
    err = errno;
  else if (static_cast<std::size_t>(n) != value.size())
    err = EIO;
  if (::close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
  return err;
}

Status write_file(const std::string& path, const std::string& value) {
  if (const int err = write_value(path, value))
    return make_error("cannot write \"" + value + "\" to " + path, errno_text(err));
  return {};
}

// mkdir that treats an existing directory as success.
int make_dir(const std::string& path) {
  if (retry_eintr([&] { return ::mkdir(path.c_str(), 0755); }) == 0) return 0;
  return errno == EEXIST ? 0 : errno;
}

// rmdir that waits briefly while the kernel still counts exiting processes
// (EBUSY with an empty cgroup.procs), and treats a missing directory as success.
Status remove_dir(const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    if (retry_eintr([&] { return ::rmdir(path.c_str()); }) == 0 || errno == ENOENT) return {};
    const int err = errno;
    bool live = false;
    if (err == EBUSY) {
      auto procs = read_text(path + "/cgroup.procs");
      live = procs && procs->find_first_not_of(" \n") != std::string::npos;
    }
    if (err != EBUSY || live || attempt >= 100) {
      std::string why = errno_text(err);
      if (live) why += " (processes still in it)";
      return make_error("cannot remove cgroup " + path, why);
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
  return s.substr(start);
}

bool is_filesystem(const std::string& path, long magic) {
  struct statfs fs {};
  if (retry_eintr([&] { return ::statfs(path.c_str(), &fs); }) != 0) return false;
  return static_cast<long>(fs.f_type) == magic;
}

// Whether the space-separated list in <dir>/cgroup.controllers names controller.
bool has_controller(const std::string& file, const std::string& controller) {
  auto text = read_text(file);
  if (!text) return false;
  std::size_t pos = 0;
  const std::string& s = *text;
  while (pos < s.size()) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n')) ++pos;
    std::size_t end = pos;
    while (end < s.size() && s[end] != ' ' && s[end] != '\n') ++end;
    if (s.compare(pos, end - pos, controller) == 0 && end > pos) return true;
    pos = end;
  }
  return false;
}

// Value of "key N" in a flat keyed file such as memory.events or memory.oom_control.
std::int64_t keyed_value(const std::string& text, const std::string& key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ' ')
      return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
    pos = end + 1;
  }
  return 0;
}

// The parent name split into its components, so that "a/b" creates both levels.
std::vector<std::string> path_components(const std::string& parent) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos <= parent.size()) {
    std::size_t end = parent.find('/', pos);
    if (end == std::string::npos) end = parent.size();
    if (end > pos) parts.push_back(parent.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

// A new v1 cpuset starts with empty cpus and mems, and no task may join it until
// both are set; give each level of the parent the set of the level above.
Status fill_cpuset_from_parent(const std::string& dir, const std::string& above) {
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    auto current = read_text(dir + "/" + file);
    if (!current) return current.error();
    if (!trim(*current).empty()) continue;
    auto inherited = read_text(above + "/" + file);
    if (!inherited) return inherited.error();
    if (auto st = write_file(dir + "/" + file, trim(*inherited)); !st) return st;
  }
  return {};
}

// "0-2,5\n" -> {0, 1, 2, 5}; what cpuset.mems and cpuset.cpus hold.
std::vector<int> parse_index_list(const std::string& text) {
  std::vector<int> out;
  const char* p = text.c_str();
  while (*p) {
    char* end = nullptr;
    const long first = std::strtol(p, &end, 10);
    if (end == p) {
      ++p;
      continue;
    }
    long last = first;
    p = end;
    if (*p == '-') {
      last = std::strtol(p + 1, &end, 10);
      p = end;
    }
    for (long i = first; i <= last && i - first < 65536; ++i) out.push_back(static_cast<int>(i));
  }
  return out;
}

std::string format_index_list(const std::vector<int>& v) {
  std::string s;
  for (int x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

// ---- cgroup v2 device control: a BPF_PROG_TYPE_CGROUP_DEVICE program ----------
// The kernel runs it for every open or mknod of a device file by a process in the
// cgroup; it returns 0 to deny, 1 to allow. Ours denies exactly the listed
// devices (any access) and allows everything else, like the v1 rules
// "a *:* rwm" + "c M:m rwm" in devices.deny. Hand-assembled: five instructions
// per rule, no libbpf needed.

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

std::vector<bpf_insn> device_program(const std::vector<DeviceRule>& denied) {
  std::vector<bpf_insn> p;
  // struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major; u32 minor; }
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
  p.push_back(insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 4, 0));
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 8, 0));
  for (const auto& rule : denied) {
    const int type = rule.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
    p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 4, type));
    p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 3, static_cast<std::int32_t>(rule.major)));
    p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 2, static_cast<std::int32_t>(rule.minor)));
    p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
    p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  }
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
  p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

// Loads the program; returns its fd, or -1 with errno set.
int load_device_program(const std::vector<DeviceRule>& denied) {
  const auto program = device_program(denied);
  static const char kLicense[] = "GPL";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<std::uint64_t>(program.data());
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.license = reinterpret_cast<std::uint64_t>(kLicense);
  return static_cast<int>(retry_eintr([&] { return ::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr); }));
}

// Attaches a program denying `denied` to the cgroup directory. ALLOW_MULTI: a
// program an ancestor has (systemd's, a container runtime's) still runs too,
// and a device is only opened when every program allows it.
Status attach_device_program(const std::string& dir, const std::vector<DeviceRule>& denied) {
  const int prog = load_device_program(denied);
  if (prog < 0)
    return make_error("cannot deny device files in cgroup " + dir,
                      "cannot load the BPF device program: " + errno_text(errno));
  const int cg = retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (cg < 0) {
    const int err = errno;
    ::close(prog);
    return make_error("cannot deny device files in cgroup " + dir, errno_text(err));
  }
  bpf_attr attr{};
  attr.target_fd = static_cast<std::uint32_t>(cg);
  attr.attach_bpf_fd = static_cast<std::uint32_t>(prog);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  const long rc = retry_eintr([&] { return ::syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr); });
  const int err = errno;
  // The attachment holds the program; it goes with the cgroup.
  ::close(cg);
  ::close(prog);
  if (rc != 0)
    return make_error("cannot deny device files in cgroup " + dir,
                      "BPF_PROG_ATTACH: " + errno_text(err) +
                          (err == EPERM ? " (an ancestor cgroup's device program forbids more)" : ""));
  return {};
}

CgroupLayout none(std::string why) {
  CgroupLayout layout;
  layout.why_none = std::move(why);
  return layout;
}

CgroupLayout detect_v2(const std::string& root, const std::vector<std::string>& parts) {
  // Controllers are only usable in a child when every ancestor below the root
  // delegates them through cgroup.subtree_control.
  const bool cpuset = has_controller(root + "/cgroup.controllers", "cpuset");
  std::string dir = root;
  for (const auto& part : parts) {
    if (const int err = write_value(dir + "/cgroup.subtree_control", "+memory"))
      return none("cannot enable the memory controller in " + dir +
                  "/cgroup.subtree_control: " + errno_text(err));
    // Without cpuset, jobs are still bound by sched_setaffinity.
    if (cpuset) write_value(dir + "/cgroup.subtree_control", "+cpuset");
    dir += "/" + part;
    if (const int err = make_dir(dir))
      return none("cgroup v2 hierarchy not writable: cannot create " + dir + ": " +
                  errno_text(err));
  }
  if (const int err = write_value(dir + "/cgroup.subtree_control", "+memory"))
    return none("cannot enable the memory controller in " + dir +
                "/cgroup.subtree_control: " + errno_text(err));
  if (cpuset) write_value(dir + "/cgroup.subtree_control", "+cpuset");
  if (::access(dir.c_str(), W_OK) != 0)
    return none("cgroup v2 hierarchy not writable: " + errno_text(errno));
  CgroupLayout layout;
  layout.mode = CgroupMode::V2;
  layout.v2_dir = dir;
  // v2 has no device controller files; a job's device files are fenced by a BPF
  // program, which needs CAP_BPF (or CAP_SYS_ADMIN) and a kernel that allows it.
  const int probe = load_device_program({});
  if (probe >= 0) {
    ::close(probe);
    layout.devices = true;
  } else {
    layout.why_no_devices = "cannot load a BPF_PROG_TYPE_CGROUP_DEVICE program: " + errno_text(errno);
  }
  return layout;
}

CgroupLayout detect_v1(const std::string& memory_root, const std::string& cpuset_root,
                       const std::string& devices_root, const std::vector<std::string>& parts) {
  std::string memory = memory_root;
  for (const auto& part : parts) {
    memory += "/" + part;
    if (const int err = make_dir(memory))
      return none("cgroup v1 memory hierarchy not writable: " + errno_text(err));
  }
  // The parent may survive from a run with other privileges; mkdir then succeeds
  // (EEXIST) although job directories could not be made in it.
  if (::access(memory.c_str(), W_OK) != 0)
    return none("cgroup v1 memory hierarchy not writable: " + errno_text(errno));
  CgroupLayout layout;
  layout.mode = CgroupMode::V1;
  layout.v1_memory = memory;
  // The cpuset hierarchy is optional: without it jobs are still bound by
  // sched_setaffinity, only not fenced against sched_setaffinity of their own.
  if (is_filesystem(cpuset_root, CGROUP_SUPER_MAGIC) &&
      path_exists(cpuset_root + "/cpuset.cpus")) {
    std::string above = cpuset_root;
    std::string dir = cpuset_root;
    bool ok = true;
    for (const auto& part : parts) {
      dir += "/" + part;
      if (make_dir(dir) != 0 || !fill_cpuset_from_parent(dir, above)) {
        ok = false;
        break;
      }
      above = dir;
    }
    if (ok) layout.v1_cpuset = dir;
  }
  // The devices hierarchy is optional too: without it jobs can open every GPU.
  if (is_filesystem(devices_root, CGROUP_SUPER_MAGIC) && path_exists(devices_root + "/devices.deny")) {
    std::string dir = devices_root;
    int err = 0;
    for (const auto& part : parts) {
      dir += "/" + part;
      if ((err = make_dir(dir)) != 0) break;
    }
    if (err == 0 && ::access(dir.c_str(), W_OK) != 0) err = errno;
    if (err == 0) {
      layout.v1_devices = dir;
      layout.devices = true;
    } else {
      layout.why_no_devices = "cgroup v1 devices hierarchy not writable: " + dir + ": " + errno_text(err);
    }
  } else {
    layout.why_no_devices = "no cgroup v1 devices hierarchy at " + devices_root;
  }
  return layout;
}

}  // namespace

CgroupLayout detect_cgroups(const std::string& parent, const std::string& mount_root) {
  const auto parts = path_components(parent);
  if (parts.empty()) return none("no cgroup parent name given");
  for (const auto& part : parts)
    if (part == "." || part == "..") return none("invalid cgroup parent name " + parent);

  // v2 either owns the whole mount (unified systems) or sits at <root>/unified
  // (hybrid systems, where it usually has no controllers and is of no use to us).
  std::string v2_without_memory;
  for (const std::string& root : {mount_root, mount_root + "/unified"}) {
    if (!is_filesystem(root, CGROUP2_SUPER_MAGIC)) continue;
    if (has_controller(root + "/cgroup.controllers", "memory")) return detect_v2(root, parts);
    if (v2_without_memory.empty()) v2_without_memory = root;
  }
  const std::string memory_root = mount_root + "/memory";
  if (is_filesystem(memory_root, CGROUP_SUPER_MAGIC) &&
      path_exists(memory_root + "/memory.limit_in_bytes"))
    return detect_v1(memory_root, mount_root + "/cpuset", mount_root + "/devices", parts);

  if (!v2_without_memory.empty())
    return none("cgroup v2 at " + v2_without_memory +
                " has no memory controller and no cgroup v1 memory hierarchy is mounted at " +
                memory_root);
  return none("no cgroup v2 with a memory controller and no cgroup v1 memory hierarchy under " +
              mount_root);
}

// ---- control files kept open -------------------------------------------------

namespace {

// How many more control-file descriptors all job cgroups together may keep open:
// a quarter of the agent's descriptor limit (at most 4096), so that jobs'
// cgroups never starve its sockets. Beyond it files are opened for each use.
std::atomic<int>& fd_budget() {
  static std::atomic<int> budget = [] {
    struct rlimit files {};
    rlim_t soft = 1024;
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0) soft = files.rlim_cur;
    return static_cast<int>(std::min<rlim_t>(soft / 4, 4096));
  }();
  return budget;
}

// The whole text of an open (pseudo-)file: a read at offset 0 makes the kernel
// generate it anew.
Result<std::string> read_fd(int fd, const std::string& path) {
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = retry_eintr([&] { return ::pread(fd, buf, sizeof buf, static_cast<off_t>(text.size())); });
    if (n < 0) return make_error("cannot read " + path, errno_text(errno));
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

// One write(2), as write_value: a cgroup file acts on each write separately.
int write_fd(int fd, const std::string& value) {
  const ssize_t n = retry_eintr([&] { return ::pwrite(fd, value.data(), value.size(), 0); });
  if (n < 0) return errno;
  return static_cast<std::size_t>(n) == value.size() ? 0 : EIO;
}

}  // namespace

// Descriptors of a v1 cgroup's control files, opened on first use and kept until
// the cgroup goes (they follow the directory through renames). A cgroup that a
// CgroupPool keeps is read and written a few dozen times per job, and opening a
// cgroup file costs the kernel far more than reading or writing it.
class CgroupFiles {
 public:
  CgroupFiles() = default;
  CgroupFiles(const CgroupFiles&) = delete;
  CgroupFiles& operator=(const CgroupFiles&) = delete;
  ~CgroupFiles() { close_all(); }

  // The descriptor of <dir>/<name> (slot: which directory), or -1 when it cannot
  // be kept open (no budget left, or open fails: the caller then uses the path,
  // which reports the failure) or, for writing, is open for reading only.
  int get(int slot, const std::string& dir, const char* name, bool for_writing) {
    for (const auto& f : open_[slot])
      if (std::strcmp(f.name, name) == 0) return for_writing && !f.writable ? -1 : f.fd;
    if (fd_budget().fetch_sub(1) <= 0) {
      fd_budget().fetch_add(1);
      return -1;
    }
    const std::string path = dir + "/" + name;
    bool writable = true;
    int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDWR | O_CLOEXEC); });
    if (fd < 0 && errno == EACCES) {  // a read-only file (memory.usage_in_bytes)
      writable = false;
      fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
    }
    if (fd < 0) {
      fd_budget().fetch_add(1);
      return -1;
    }
    open_[slot].push_back({name, fd, writable});
    return for_writing && !writable ? -1 : fd;
  }
  void close_all() {
    for (auto& files : open_) {
      for (const auto& f : files) {
        ::close(f.fd);
        fd_budget().fetch_add(1);
      }
      files.clear();
    }
  }

 private:
  struct Open {
    const char* name;  // a string literal
    int fd;
    bool writable;
  };
  std::vector<Open> open_[2];
};

Result<std::string> JobCgroup::read_control(Hierarchy h, const char* name) const {
  const std::string& dir = h == kMemory ? memory_dir_ : cpuset_dir_;
  if (files_ && !dir.empty())
    if (const int fd = files_->get(h, dir, name, false); fd >= 0) return read_fd(fd, dir + "/" + name);
  return read_text(dir + "/" + name);
}

int JobCgroup::write_control(Hierarchy h, const char* name, const std::string& value) const {
  const std::string& dir = h == kMemory ? memory_dir_ : cpuset_dir_;
  if (files_ && !dir.empty())
    if (const int fd = files_->get(h, dir, name, true); fd >= 0) return write_fd(fd, value);
  return write_value(dir + "/" + name, value);
}

std::vector<int> JobCgroup::procs_fds() const {
  std::vector<int> fds;
  for (const auto& dir : dirs_) {
    int fd = -1;
    if (files_ && mode_ == CgroupMode::V1) {
      if (dir == memory_dir_) fd = files_->get(kMemory, dir, "cgroup.procs", true);
      else if (dir == cpuset_dir_) fd = files_->get(kCpuset, dir, "cgroup.procs", true);
    }
    fds.push_back(fd);
  }
  return fds;
}

JobCgroup JobCgroup::open(const CgroupLayout& layout, const std::string& name) {
  JobCgroup cgroup;
  cgroup.mode_ = layout.mode;
  auto keep = [&](const std::string& base) {
    if (!base.empty() && path_exists(base + "/" + name)) cgroup.dirs_.push_back(base + "/" + name);
  };
  if (layout.mode == CgroupMode::V1) {
    keep(layout.v1_memory);
    keep(layout.v1_cpuset);
    keep(layout.v1_devices);
    for (const auto& dir : cgroup.dirs_) {
      if (dir == layout.v1_memory + "/" + name) cgroup.memory_dir_ = dir;
      else if (dir == layout.v1_cpuset + "/" + name) cgroup.cpuset_dir_ = dir;
      else cgroup.devices_dir_ = dir;
    }
  } else if (layout.mode == CgroupMode::V2) {
    keep(layout.v2_dir);
  }
  if (cgroup.dirs_.empty()) cgroup.mode_ = CgroupMode::None;
  return cgroup;
}

// The NUMA nodes of `wanted` that the parent's cpuset has (its file holds a list
// such as "0-1"); all of them when `wanted` is empty or none is left.
static std::vector<int> usable_mems_of(const std::vector<int>& wanted, const Result<std::string>& text) {
  if (wanted.empty() || !text) return {};
  const auto parent = parse_index_list(*text);
  std::vector<int> out;
  for (int m : wanted)
    if (std::find(parent.begin(), parent.end(), m) != parent.end() &&
        std::find(out.begin(), out.end(), m) == out.end())
      out.push_back(m);
  std::sort(out.begin(), out.end());
  return out;
}

static std::vector<int> usable_mems(const std::vector<int>& wanted, const std::string& parent_file) {
  if (wanted.empty()) return {};
  return usable_mems_of(wanted, read_text(parent_file));
}

Result<JobCgroup> JobCgroup::create(const CgroupLayout& layout, const std::string& name,
                                    const CgroupLimits& limits) {
  JobCgroup cgroup;
  if (layout.mode == CgroupMode::None) return cgroup;
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return make_error("cannot create cgroup", "invalid name \"" + name + "\"");
  if (!limits.denied_devices.empty() && !layout.devices)
    return make_error("cannot deny device files to job cgroup " + name, layout.why_no_devices);
  cgroup.mode_ = layout.mode;

  const std::string cpu_list = format_index_list(limits.cpus);
  const std::string limit =
      std::to_string(limits.memory_limit_mib * static_cast<std::int64_t>(1024 * 1024));

  // On any failure the directories made so far go again; none holds a process yet.
  auto fail = [&](Error error) -> Result<JobCgroup> {
    (void)cgroup.remove();
    return error;
  };
  auto make = [&](const std::string& dir) -> Status {
    if (retry_eintr([&] { return ::mkdir(dir.c_str(), 0755); }) != 0)
      return make_error("cannot create cgroup " + dir, errno_text(errno));
    cgroup.dirs_.push_back(dir);
    return {};
  };

  if (layout.mode == CgroupMode::V1) {
    cgroup.files_ = std::make_shared<CgroupFiles>();
    const std::string memory = layout.v1_memory + "/" + name;
    if (auto st = make(memory); !st) return fail(st.error());
    cgroup.memory_dir_ = memory;
    cgroup.memory_limit_mib_ = limits.memory_limit_mib;
    if (limits.memory_limit_mib > 0) {
      if (auto st = write_file(memory + "/memory.limit_in_bytes", limit); !st)
        return fail(st.error());
      // Without a memory+swap limit the job would be swapped out rather than
      // OOM-killed, and run on slowly instead of failing clearly.
      if (path_exists(memory + "/memory.memsw.limit_in_bytes"))
        (void)write_value(memory + "/memory.memsw.limit_in_bytes", limit);
      (void)write_value(memory + "/memory.swappiness", "0");
    }
    if (!layout.v1_cpuset.empty()) {
      const std::string cpuset = layout.v1_cpuset + "/" + name;
      if (auto st = make(cpuset); !st) return fail(st.error());
      cgroup.cpuset_dir_ = cpuset;
      cgroup.cpu_list_ = cpu_list;
      if (!cpu_list.empty()) {
        if (auto st = write_file(cpuset + "/cpuset.cpus", cpu_list); !st) return fail(st.error());
      }
      cgroup.mems_ = usable_mems(limits.mems, layout.v1_cpuset + "/cpuset.mems");
      cgroup.mem_list_ = format_index_list(cgroup.mems_);
      if (!cgroup.mems_.empty()) {
        if (auto st = write_file(cpuset + "/cpuset.mems", format_index_list(cgroup.mems_)); !st)
          return fail(st.error());
      }
      if (auto st = fill_cpuset_from_parent(cpuset, layout.v1_cpuset); !st)
        return fail(st.error());
    }
    if (!limits.denied_devices.empty()) {
      // A new devices cgroup copies its parent's rules ("a *:* rwm" at the top):
      // each deny adds an exception for one device.
      const std::string devices = layout.v1_devices + "/" + name;
      if (auto st = make(devices); !st) return fail(st.error());
      cgroup.devices_dir_ = devices;
      for (const auto& rule : limits.denied_devices)
        if (auto st = write_file(devices + "/devices.deny", rule.numbers() + " rwm"); !st)
          return fail(st.error());
    }
  } else {
    const std::string dir = layout.v2_dir + "/" + name;
    if (auto st = make(dir); !st) return fail(st.error());
    if (limits.memory_limit_mib > 0) {
      if (auto st = write_file(dir + "/memory.max", limit); !st) return fail(st.error());
      // Same reason as memsw on v1: swap would hide the limit.
      if (path_exists(dir + "/memory.swap.max")) (void)write_value(dir + "/memory.swap.max", "0");
    }
    // An empty cpuset.cpus means "the parent's set", which is what we want without cpus.
    if (!cpu_list.empty() && path_exists(dir + "/cpuset.cpus")) {
      if (auto st = write_file(dir + "/cpuset.cpus", cpu_list); !st) return fail(st.error());
    }
    if (path_exists(dir + "/cpuset.mems")) {
      cgroup.mems_ = usable_mems(limits.mems, layout.v2_dir + "/cpuset.mems.effective");
      if (!cgroup.mems_.empty()) {
        if (auto st = write_file(dir + "/cpuset.mems", format_index_list(cgroup.mems_)); !st)
          return fail(st.error());
      }
    }
    if (!limits.denied_devices.empty()) {
      if (auto st = attach_device_program(dir, limits.denied_devices); !st) return fail(st.error());
    }
  }
  return cgroup;
}

Status JobCgroup::add(pid_t pid) const {
  for (const auto& dir : dirs_) {
    if (const int err = write_value(dir + "/cgroup.procs", std::to_string(pid)))
      return make_error("cannot add process " + std::to_string(pid) + " to cgroup " + dir,
                        errno_text(err));
  }
  return {};
}

std::vector<pid_t> JobCgroup::pids() const {
  std::vector<pid_t> result;
  if (dirs_.empty()) return result;
  // v1: the memory directory comes first; every process of the job is in it.
  // Opened anew each time: v1 keeps the list an open file read first for a
  // second, so a kept descriptor would show processes already gone.
  auto text = read_text(dirs_.front() + "/cgroup.procs");
  if (!text) return result;
  const char* p = text->c_str();
  while (*p) {
    char* end = nullptr;
    const long pid = std::strtol(p, &end, 10);
    if (end == p) {
      ++p;
      continue;
    }
    if (pid > 0) result.push_back(static_cast<pid_t>(pid));
    p = end;
  }
  return result;
}

int JobCgroup::signal_all(int sig) const {
  int signalled = 0;
  for (pid_t pid : pids())
    if (::kill(pid, sig) == 0) ++signalled;
  return signalled;
}

Status JobCgroup::kill_all() const {
  if (dirs_.empty()) return {};
  const std::string kill_file = dirs_.front() + "/cgroup.kill";
  const bool has_kill_file = mode_ == CgroupMode::V2 && path_exists(kill_file);
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  // Repeat, because a process may fork between reading cgroup.procs and the kill;
  // cgroup.kill (v2, Linux 5.14+) does it atomically, but we still wait for exit.
  for (;;) {
    const auto left = pids();
    if (left.empty()) return {};
    if (has_kill_file) {
      (void)write_value(kill_file, "1");
    } else {
      for (pid_t pid : left) ::kill(pid, SIGKILL);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error("cannot kill the processes of cgroup " + dirs_.front(),
                        std::to_string(left.size()) + " still running after 2 s");
    std::this_thread::sleep_for(10ms);
  }
}

bool JobCgroup::oom_killed() const {
  if (dirs_.empty()) return false;
  if (mode_ == CgroupMode::V1 && !memory_dir_.empty()) {
    auto text = read_control(kMemory, "memory.oom_control");
    return text && keyed_value(*text, "oom_kill") > 0;
  }
  const std::string file =
      dirs_.front() + (mode_ == CgroupMode::V1 ? "/memory.oom_control" : "/memory.events");
  auto text = read_text(file);
  return text && keyed_value(*text, "oom_kill") > 0;
}

std::int64_t JobCgroup::memory_peak_bytes() const {
  if (dirs_.empty()) return 0;
  // v2 only reports a peak from Linux 5.19 (memory.peak).
  auto text = mode_ == CgroupMode::V1 && !memory_dir_.empty() ? read_control(kMemory, "memory.max_usage_in_bytes")
                                                              : read_text(dirs_.front() + "/memory.peak");
  if (!text) return 0;
  // A kept cgroup (CgroupPool) starts with what the job before left charged.
  return std::max<std::int64_t>(0, std::strtoll(text->c_str(), nullptr, 10) - peak_baseline_);
}

Status JobCgroup::remove() const {
  if (files_) files_->close_all();  // the copies of this object have no use for them either
  Status result;
  // Leaves first is not needed (job cgroups have no children); try every
  // directory even when one fails, and report the first failure.
  for (const auto& dir : dirs_) {
    auto st = remove_dir(dir);
    if (!st && result) result = st;
  }
  return result;
}

// ---- CgroupPool ----------------------------------------------------------------

namespace {

// Counters a job can read or that peaks are computed from; each is reset by writing 0.
constexpr const char* kResetCounters[] = {
    "memory.max_usage_in_bytes",      "memory.failcnt",
    "memory.memsw.max_usage_in_bytes", "memory.memsw.failcnt",
    "memory.kmem.max_usage_in_bytes",  "memory.kmem.failcnt",
    "memory.kmem.tcp.max_usage_in_bytes", "memory.kmem.tcp.failcnt",
};

// A directory with no subdirectory: kernfs counts them in the link count.
bool has_no_children(const std::string& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 2;
}

int rename_dir(const std::string& from, const std::string& to) {
  return retry_eintr([&] { return ::rename(from.c_str(), to.c_str()); }) == 0 ? 0 : errno;
}


}  // namespace

void CgroupPool::release(const CgroupLayout& layout, const JobCgroup& cgroup, bool trusted) {
  if (layout.mode != CgroupMode::V1 || cgroup.mode_ != CgroupMode::V1 || cgroup.memory_dir_.empty() ||
      idle_.size() >= capacity_ || cgroup.dirs_.empty() || cgroup.dirs_.front() != cgroup.memory_dir_) {
    (void)cgroup.remove();
    return;
  }
  JobCgroup kept = cgroup;
  auto discard = [&] { (void)kept.remove(); };
  if (!kept.pids().empty()) return discard();
  if (!kept.cpuset_dir_.empty()) {
    auto procs = read_text(kept.cpuset_dir_ + "/cgroup.procs");  // not kept open: see pids()
    if (!procs || procs->find_first_not_of(" \n") != std::string::npos) return discard();
  }
  // The device cgroup is the job's own: a new one for the next job.
  if (!kept.devices_dir_.empty()) {
    if (!remove_dir(kept.devices_dir_)) return discard();
    kept.dirs_.erase(std::remove(kept.dirs_.begin(), kept.dirs_.end(), kept.devices_dir_), kept.dirs_.end());
    kept.devices_dir_.clear();
  }
  const std::string& memory = kept.memory_dir_;
  if (!has_no_children(memory) || (!kept.cpuset_dir_.empty() && !has_no_children(kept.cpuset_dir_)))
    return discard();
  {
    auto oom = kept.read_control(JobCgroup::kMemory, "memory.oom_control");
    if (!oom || keyed_value(*oom, "oom_kill") != 0 || keyed_value(*oom, "under_oom") != 0) return discard();
  }
  // What stays charged goes towards the next job's limit and peak. A trivial job
  // leaves some kernel memory (slab objects, the per-CPU charge caches: 50-400
  // KiB here) that not even memory.force_empty takes back at once, and
  // force_empty costs more than a new cgroup. A job that left more (page cache
  // of files it wrote) gets no successor: its cgroup is removed, its charges go
  // to the parent.
  std::int64_t usage = -1;
  if (auto text = kept.read_control(JobCgroup::kMemory, "memory.usage_in_bytes"))
    usage = std::strtoll(text->c_str(), nullptr, 10);
  if (usage < 0 || usage > kMaxLeftoverBytes) return discard();
  if (!counters_probed_) {
    for (const char* file : kResetCounters)
      if (path_exists(memory + "/" + file)) counters_.push_back(file);
    counters_probed_ = 1;
  }
  for (const char* file : counters_)
    if (kept.write_control(JobCgroup::kMemory, file, "0") != 0) return discard();
  // The agent's pid in the name: two agents sharing a parent (tests, a restart
  // racing the old one) never take each other's.
  const std::string idle_name = "job_idle" + std::to_string(::getpid()) + "_" + std::to_string(next_++);
  const std::string idle_memory = layout.v1_memory + "/" + idle_name;
  if (rename_dir(memory, idle_memory) != 0) return discard();
  kept.dirs_.front() = kept.memory_dir_ = idle_memory;
  if (!kept.cpuset_dir_.empty()) {
    const std::string idle_cpuset = layout.v1_cpuset + "/" + idle_name;
    if (rename_dir(kept.cpuset_dir_, idle_cpuset) != 0) return discard();
    for (auto& dir : kept.dirs_)
      if (dir == kept.cpuset_dir_) dir = idle_cpuset;
    kept.cpuset_dir_ = idle_cpuset;
  }
  // The next job's peak is measured from what is charged now.
  kept.peak_baseline_ = usage;
  idle_.push_back(Idle{std::move(kept), !trusted});
}

Result<JobCgroup> CgroupPool::acquire(const CgroupLayout& layout, const std::string& name,
                                      const CgroupLimits& limits) {
  const bool usable = layout.mode == CgroupMode::V1 && !name.empty() && name.find('/') == std::string::npos &&
                      name != "." && name != ".." && (limits.denied_devices.empty() || layout.devices);
  while (usable && !idle_.empty()) {
    Idle entry = std::move(idle_.back());
    idle_.pop_back();
    JobCgroup& cg = entry.cgroup;
    auto discard = [&] { (void)cg.remove(); };
    // Should the layout have changed (tests use several), the entry is not ours to reuse.
    if (cg.memory_dir_.rfind(layout.v1_memory + "/", 0) != 0 ||
        cg.cpuset_dir_.empty() != layout.v1_cpuset.empty()) {
      discard();
      continue;
    }
    const std::string memory = layout.v1_memory + "/" + name;
    if (rename_dir(cg.memory_dir_, memory) != 0) {
      discard();
      break;  // e.g. a cgroup of that name exists: create says so
    }
    cg.dirs_.front() = cg.memory_dir_ = memory;
    if (!cg.cpuset_dir_.empty()) {
      const std::string cpuset = layout.v1_cpuset + "/" + name;
      if (rename_dir(cg.cpuset_dir_, cpuset) != 0) {
        discard();
        break;
      }
      for (auto& dir : cg.dirs_)
        if (dir == cg.cpuset_dir_) dir = cpuset;
      cg.cpuset_dir_ = cpuset;
    }
    // A kept cgroup that cannot be set up goes; a new one is made instead (and
    // says what is wrong if that fails too).
    auto failed = [&](const Error&) -> Result<JobCgroup> {
      discard();
      return JobCgroup::create(layout, name, limits);
    };
    // Through the kept cgroup's open files; a failure names the file.
    auto write = [&](JobCgroup::Hierarchy h, const char* file, const std::string& value) -> Status {
      if (const int err = cg.write_control(h, file, value))
        return make_error("cannot write \"" + value + "\" to " + (h == JobCgroup::kMemory ? memory : cg.cpuset_dir_) +
                              "/" + file,
                          errno_text(err));
      return {};
    };
    if (entry.dirty || limits.memory_limit_mib != cg.memory_limit_mib_) {
      // memsw may never be below the plain limit: lift it first. It is missing
      // where the kernel does not account swap.
      const bool has_memsw = cg.write_control(JobCgroup::kMemory, "memory.memsw.limit_in_bytes", "-1") != ENOENT;
      const std::string bytes =
          limits.memory_limit_mib > 0
              ? std::to_string(limits.memory_limit_mib * static_cast<std::int64_t>(1024 * 1024))
              : std::string("-1");
      if (auto st = write(JobCgroup::kMemory, "memory.limit_in_bytes", bytes); !st) return failed(st.error());
      if (limits.memory_limit_mib > 0) {
        if (has_memsw) (void)cg.write_control(JobCgroup::kMemory, "memory.memsw.limit_in_bytes", bytes);
        (void)cg.write_control(JobCgroup::kMemory, "memory.swappiness", "0");
      } else if (auto parent = parent_value(layout, false, "memory.swappiness")) {
        (void)cg.write_control(JobCgroup::kMemory, "memory.swappiness", *parent);
      }
      cg.memory_limit_mib_ = limits.memory_limit_mib;
    }
    if (entry.dirty) {
      // Settings a job running as root could have changed, back to a new cgroup's.
      if (auto st = write(JobCgroup::kMemory, "memory.oom_control", "0"); !st) return failed(st.error());
      (void)cg.write_control(JobCgroup::kMemory, "memory.soft_limit_in_bytes", "-1");
      (void)cg.write_control(JobCgroup::kMemory, "memory.move_charge_at_immigrate", "0");
    }
    if (!cg.cpuset_dir_.empty()) {
      const std::string cpu_list = format_index_list(limits.cpus);
      if (entry.dirty || cpu_list != cg.cpu_list_) {
        std::string value = cpu_list;
        if (value.empty()) {
          auto parent = parent_value(layout, true, "cpuset.cpus");
          if (!parent) return failed(parent.error());
          value = *parent;
        }
        if (auto st = write(JobCgroup::kCpuset, "cpuset.cpus", value); !st) return failed(st.error());
        cg.cpu_list_ = cpu_list;
      }
      if (!limits.mems.empty()) cg.mems_ = usable_mems_of(limits.mems, parent_value(layout, true, "cpuset.mems"));
      else cg.mems_.clear();
      const std::string mem_list = format_index_list(cg.mems_);
      if (entry.dirty || mem_list != cg.mem_list_) {
        std::string value = mem_list;
        if (value.empty()) {
          auto parent = parent_value(layout, true, "cpuset.mems");
          if (!parent) return failed(parent.error());
          value = *parent;
        }
        if (auto st = write(JobCgroup::kCpuset, "cpuset.mems", value); !st) return failed(st.error());
        cg.mem_list_ = mem_list;
      }
    } else {
      cg.mems_.clear();
    }
    if (!limits.denied_devices.empty()) {
      const std::string devices = layout.v1_devices + "/" + name;
      if (retry_eintr([&] { return ::mkdir(devices.c_str(), 0755); }) != 0)
        return failed(make_error("cannot create cgroup " + devices, errno_text(errno)));
      cg.dirs_.push_back(devices);
      cg.devices_dir_ = devices;
      for (const auto& rule : limits.denied_devices)
        if (auto st = write_file(devices + "/devices.deny", rule.numbers() + " rwm"); !st)
          return failed(st.error());
    }
    ++reused_;
    return std::move(cg);
  }
  return JobCgroup::create(layout, name, limits);
}

void CgroupPool::clear() {
  for (auto& entry : idle_) (void)entry.cgroup.remove();
  idle_.clear();
  parent_files_.reset();
}

Result<std::string> CgroupPool::parent_value(const CgroupLayout& layout, bool cpuset, const char* name) {
  if (!parent_files_ || parent_memory_ != layout.v1_memory || parent_cpuset_ != layout.v1_cpuset) {
    parent_files_ = std::make_shared<CgroupFiles>();
    parent_memory_ = layout.v1_memory;
    parent_cpuset_ = layout.v1_cpuset;
  }
  const std::string& dir = cpuset ? parent_cpuset_ : parent_memory_;
  const int fd = parent_files_->get(cpuset ? 1 : 0, dir, name, false);
  auto text = fd >= 0 ? read_fd(fd, dir + "/" + name) : read_text(dir + "/" + name);
  if (!text) return text.error();
  return trim(*text);
}

}  // namespace drover::agent
