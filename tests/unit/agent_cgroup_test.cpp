// Job cgroups against the real kernel: needs root and a writable cgroup hierarchy,
// and skips (saying why) elsewhere. Every test makes its own parent cgroup
// ("drover-test-<pid>-<n>") and removes it again.
#include "agent/cgroup.hpp"

#include <gtest/gtest.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace drover::agent {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool is_filesystem(const std::string& path, long magic) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == magic;
}

std::string unique_parent() {
  static int counter = 0;
  return "drover-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// Waits for a child of this process; fails the test instead of hanging forever.
int wait_for(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 3000; ++i) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ADD_FAILURE() << "process " << pid << " did not exit within 30 s";
  return status;
}

void remove_layout(const CgroupLayout& layout) {
  for (const auto& dir : {layout.v1_memory, layout.v1_cpuset, layout.v1_devices, layout.v2_dir})
    if (!dir.empty()) ::rmdir(dir.c_str());
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
    layout_ = detect_cgroups(unique_parent());
    if (layout_.mode == CgroupMode::None)
      GTEST_SKIP() << "no usable cgroups here: " << layout_.why_none;
  }
  void TearDown() override {
    for (const auto& cgroup : made_) {
      (void)cgroup.kill_all();
      (void)cgroup.remove();
    }
    remove_layout(layout_);
  }
  // Creates a job cgroup that TearDown removes whatever the test does.
  Result<JobCgroup> make(const std::string& name, std::int64_t mib,
                         const std::vector<int>& cpus) {
    auto cgroup = JobCgroup::create(layout_, name, mib, cpus);
    if (cgroup) made_.push_back(*cgroup);
    return cgroup;
  }
  const std::string& parent_cpuset_cpus() {
    if (parent_cpus_.empty()) parent_cpus_ = trimmed(read_text(layout_.v1_cpuset + "/cpuset.cpus"));
    return parent_cpus_;
  }

  CgroupLayout layout_;
  std::vector<JobCgroup> made_;
  std::string parent_cpus_;
};

TEST_F(CgroupTest, DetectsTheMountedHierarchyAndCreatesTheParent) {
  if (is_filesystem("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC)) {
    EXPECT_EQ(layout_.mode, CgroupMode::V1);
    EXPECT_EQ(layout_.v1_memory.rfind("/sys/fs/cgroup/memory/drover-test-", 0), 0u)
        << layout_.v1_memory;
    EXPECT_TRUE(fs::is_directory(layout_.v1_memory));
    ASSERT_FALSE(layout_.v1_cpuset.empty()) << "cpuset hierarchy not used";
    EXPECT_TRUE(fs::is_directory(layout_.v1_cpuset));
    // A fresh v1 cpuset is unusable until cpus and mems are filled in.
    EXPECT_FALSE(trimmed(read_text(layout_.v1_cpuset + "/cpuset.cpus")).empty());
    EXPECT_FALSE(trimmed(read_text(layout_.v1_cpuset + "/cpuset.mems")).empty());
  } else {
    EXPECT_EQ(layout_.mode, CgroupMode::V2);
    EXPECT_TRUE(fs::is_directory(layout_.v2_dir));
  }
  EXPECT_TRUE(layout_.why_none.empty());
}

TEST_F(CgroupTest, DetectsDeviceControlAndDeniesDevicesInAJobCgroup) {
  if (layout_.mode == CgroupMode::V1 && is_filesystem("/sys/fs/cgroup/devices", CGROUP_SUPER_MAGIC)) {
    ASSERT_TRUE(layout_.devices) << layout_.why_no_devices;
    EXPECT_EQ(layout_.v1_devices.rfind("/sys/fs/cgroup/devices/drover-test-", 0), 0u) << layout_.v1_devices;
    CgroupLimits limits;
    limits.denied_devices = {{'c', 195, 1, "/dev/nvidia1"}, {'c', 226, 129, "/dev/dri/renderD129"}};
    auto cgroup = JobCgroup::create(layout_, "job_9", limits);
    ASSERT_TRUE(cgroup) << cgroup.message();
    made_.push_back(*cgroup);
    ASSERT_EQ(cgroup->dirs().size(), 3u);  // memory, cpuset, devices
    EXPECT_EQ(cgroup->dirs().back(), layout_.v1_devices + "/job_9");
    // Everything else stays allowed (devices.list shows only "a *:* rwm" in that mode,
    // not the exceptions: agent_launcher_test's DeviceCgroupTest checks a job's opens).
    EXPECT_EQ(read_text(layout_.v1_devices + "/job_9/devices.list"), "a *:* rwm\n");
    EXPECT_EQ(JobCgroup::open(layout_, "job_9").dirs(), cgroup->dirs());
  } else if (layout_.mode == CgroupMode::V2) {
    EXPECT_TRUE(layout_.devices || !layout_.why_no_devices.empty());
  } else {
    GTEST_SKIP() << "no devices hierarchy here";
  }
}

TEST_F(CgroupTest, DetectingTwiceReusesTheParent) {
  const std::string parent = fs::path(layout_.mode == CgroupMode::V1 ? layout_.v1_memory
                                                                     : layout_.v2_dir)
                                 .filename();
  const CgroupLayout again = detect_cgroups(parent);
  EXPECT_EQ(again.mode, layout_.mode) << again.why_none;
  EXPECT_EQ(again.v1_memory, layout_.v1_memory);
  EXPECT_EQ(again.v1_cpuset, layout_.v1_cpuset);
  EXPECT_EQ(again.v2_dir, layout_.v2_dir);
}

TEST_F(CgroupTest, CreateAppliesMemoryLimitAndCpus) {
  auto cgroup = make("job_1", 50, {0});
  ASSERT_TRUE(cgroup) << cgroup.message();
  EXPECT_TRUE(cgroup->active());
  const std::string limit = std::to_string(50 * 1024 * 1024);
  if (layout_.mode == CgroupMode::V1) {
    ASSERT_EQ(cgroup->dirs().size(), 2u);
    const std::string memory = layout_.v1_memory + "/job_1";
    const std::string cpuset = layout_.v1_cpuset + "/job_1";
    EXPECT_EQ(cgroup->dirs()[0], memory);
    EXPECT_EQ(cgroup->dirs()[1], cpuset);
    EXPECT_EQ(trimmed(read_text(memory + "/memory.limit_in_bytes")), limit);
    if (fs::exists(memory + "/memory.memsw.limit_in_bytes")) {
      EXPECT_EQ(trimmed(read_text(memory + "/memory.memsw.limit_in_bytes")), limit);
    }
    EXPECT_EQ(trimmed(read_text(cpuset + "/cpuset.cpus")), "0");
    EXPECT_EQ(trimmed(read_text(cpuset + "/cpuset.mems")),
              trimmed(read_text(layout_.v1_cpuset + "/cpuset.mems")));
  } else {
    ASSERT_EQ(cgroup->dirs().size(), 1u);
    EXPECT_EQ(trimmed(read_text(cgroup->dirs()[0] + "/memory.max")), limit);
  }
  EXPECT_TRUE(cgroup->pids().empty());
  EXPECT_FALSE(cgroup->oom_killed());
  ASSERT_TRUE(cgroup->remove());
  for (const auto& dir : cgroup->dirs()) EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST_F(CgroupTest, CreateWithoutLimitOrCpusTakesTheParentsSet) {
  auto cgroup = make("job_2", 0, {});
  ASSERT_TRUE(cgroup) << cgroup.message();
  if (layout_.mode == CgroupMode::V1) {
    // The kernel's "no limit" is a huge number, not "max".
    EXPECT_GT(std::stoll(read_text(cgroup->dirs()[0] + "/memory.limit_in_bytes")),
              std::int64_t{1} << 50);
    EXPECT_EQ(trimmed(read_text(cgroup->dirs()[1] + "/cpuset.cpus")), parent_cpuset_cpus());
  } else {
    EXPECT_EQ(trimmed(read_text(cgroup->dirs()[0] + "/memory.max")), "max");
  }
}

TEST_F(CgroupTest, CreateFailsCleanlyForCpusOutsideTheParent) {
  if (layout_.mode == CgroupMode::V1 && layout_.v1_cpuset.empty())
    GTEST_SKIP() << "no cpuset hierarchy";
  auto cgroup = make("job_3", 10, {4000});
  ASSERT_FALSE(cgroup);
  EXPECT_NE(cgroup.message().find("cpuset.cpus"), std::string::npos) << cgroup.message();
  EXPECT_NE(cgroup.message().find("\"4000\""), std::string::npos) << cgroup.message();
  // Nothing is left behind for a failed create.
  for (const auto& base : {layout_.v1_memory, layout_.v1_cpuset, layout_.v2_dir})
    if (!base.empty()) {
      EXPECT_FALSE(fs::exists(base + "/job_3")) << base;
    }
}

TEST_F(CgroupTest, CreateRefusesAnExistingCgroupAndOpenFindsIt) {
  auto first = make("job_4", 0, {});
  ASSERT_TRUE(first) << first.message();
  auto second = JobCgroup::create(layout_, "job_4", 0, {});
  ASSERT_FALSE(second);
  EXPECT_NE(second.message().find("File exists"), std::string::npos) << second.message();
  // The failed create must not have removed the first one's directories.
  for (const auto& dir : first->dirs()) EXPECT_TRUE(fs::exists(dir)) << dir;

  const JobCgroup opened = JobCgroup::open(layout_, "job_4");
  EXPECT_TRUE(opened.active());
  EXPECT_EQ(opened.dirs(), first->dirs());
  const JobCgroup missing = JobCgroup::open(layout_, "job_404");
  EXPECT_FALSE(missing.active());
  EXPECT_TRUE(missing.dirs().empty());
}

TEST_F(CgroupTest, RejectsNamesThatAreNotOneDirectory) {
  for (const char* name : {"", "a/b", "..", "."}) {
    auto cgroup = JobCgroup::create(layout_, name, 0, {});
    EXPECT_FALSE(cgroup) << "name \"" << name << "\"";
  }
}

TEST_F(CgroupTest, AddListSignalKillAndRemove) {
  auto cgroup = make("job_5", 0, {});
  ASSERT_TRUE(cgroup) << cgroup.message();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  ASSERT_TRUE(cgroup->add(child)) << cgroup->add(child).message();
  EXPECT_EQ(cgroup->pids(), std::vector<pid_t>{child});
  if (layout_.mode == CgroupMode::V1) {
    // Both hierarchies hold the process: memory for limits, cpuset for binding.
    EXPECT_EQ(trimmed(read_text(cgroup->dirs()[1] + "/cgroup.procs")), std::to_string(child));
  }
  EXPECT_EQ(cgroup->signal_all(SIGCONT), 1);
  // Busy cgroups cannot be removed; remove() says so rather than pretending.
  const auto busy = cgroup->remove();
  EXPECT_FALSE(busy);
  EXPECT_NE(busy.message().find("Device or resource busy"), std::string::npos) << busy.message();

  ASSERT_TRUE(cgroup->kill_all());
  EXPECT_TRUE(cgroup->pids().empty());
  const int status = wait_for(child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  ASSERT_TRUE(cgroup->remove()) << cgroup->remove().message();
  for (const auto& dir : cgroup->dirs()) EXPECT_FALSE(fs::exists(dir)) << dir;
  // Removing again is harmless (the agent may retry after a crash).
  EXPECT_TRUE(cgroup->remove());
}

TEST_F(CgroupTest, KillAllCatchesProcessesThatKeepForking) {
  auto cgroup = make("job_6", 0, {});
  ASSERT_TRUE(cgroup) << cgroup.message();
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    // A chain of session leaders, each forking the next and then sleeping: a
    // process group kill misses them, and new ones appear while killing.
    for (int generation = 0; generation < 300; ++generation) {
      ::usleep(2000);
      const pid_t next = ::fork();
      if (next < 0) break;
      if (next > 0) break;
      ::setsid();
    }
    for (;;) ::pause();
  }
  ::close(go[0]);
  ASSERT_TRUE(cgroup->add(child));
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  ::usleep(50'000);
  EXPECT_GT(cgroup->pids().size(), 1u);
  ASSERT_TRUE(cgroup->kill_all()) << cgroup->kill_all().message();
  EXPECT_TRUE(cgroup->pids().empty());
  wait_for(child);
  EXPECT_TRUE(cgroup->remove()) << cgroup->remove().message();
}

TEST_F(CgroupTest, MemoryLimitIsEnforcedByTheOomKiller) {
  auto cgroup = make("job_7", 50, {});
  ASSERT_TRUE(cgroup) << cgroup.message();
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    const std::size_t size = std::size_t{200} << 20;
    volatile char* p = static_cast<volatile char*>(std::malloc(size));
    if (!p) ::_exit(2);
    for (std::size_t i = 0; i < size; i += 4096) p[i] = 1;
    ::_exit(0);
  }
  ::close(go[0]);
  ASSERT_TRUE(cgroup->add(child));
  EXPECT_FALSE(cgroup->oom_killed());
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  const int status = wait_for(child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(cgroup->oom_killed());
  const std::int64_t peak = cgroup->memory_peak_bytes();
  if (layout_.mode == CgroupMode::V1 || fs::exists(cgroup->dirs()[0] + "/memory.peak")) {
    EXPECT_GT(peak, 10 << 20);
    EXPECT_LE(peak, 50 << 20);
  }
}

TEST_F(CgroupTest, ModestUseIsNotKilled) {
  auto cgroup = make("job_8", 50, {});
  ASSERT_TRUE(cgroup) << cgroup.message();
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    if (::read(go[0], &c, 1) != 1) ::_exit(1);
    const std::size_t size = std::size_t{20} << 20;
    volatile char* p = static_cast<volatile char*>(std::malloc(size));
    if (!p) ::_exit(2);
    for (std::size_t i = 0; i < size; i += 4096) p[i] = 1;
    ::_exit(0);
  }
  ::close(go[0]);
  ASSERT_TRUE(cgroup->add(child));
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  const int status = wait_for(child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(cgroup->oom_killed());
}

// ---- detection without a usable hierarchy (no root needed) -----------------

TEST(CgroupDetectTest, NoneWhenTheMountRootHasNoCgroups) {
  char dir_template[] = "/tmp/drover-nocgroup-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const CgroupLayout layout = detect_cgroups(unique_parent(), dir_template);
  EXPECT_EQ(layout.mode, CgroupMode::None);
  EXPECT_NE(layout.why_none.find(dir_template), std::string::npos) << layout.why_none;
  // Nothing may be created under a root that is not a cgroup mount.
  EXPECT_TRUE(fs::is_empty(dir_template));
  fs::remove_all(dir_template);
}

TEST(CgroupDetectTest, NoneForAV2MountWithoutTheMemoryController) {
  const std::string unified = "/sys/fs/cgroup/unified";
  if (!is_filesystem(unified, CGROUP2_SUPER_MAGIC)) GTEST_SKIP() << unified << " is not cgroup2";
  if (read_text(unified + "/cgroup.controllers").find("memory") != std::string::npos)
    GTEST_SKIP() << unified << " has the memory controller";
  const std::string parent = unique_parent();
  const CgroupLayout layout = detect_cgroups(parent, unified);
  EXPECT_EQ(layout.mode, CgroupMode::None);
  EXPECT_NE(layout.why_none.find("no memory controller"), std::string::npos) << layout.why_none;
  EXPECT_FALSE(fs::exists(unified + "/" + parent));
}

TEST(CgroupDetectTest, NoneWithAReasonWhenNotPermitted) {
  // As root, check the unprivileged path by dropping to nobody in a child.
  const std::string parent = unique_parent();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    const CgroupLayout layout = detect_cgroups(parent);
    const std::string report =
        std::to_string(static_cast<int>(layout.mode)) + "\n" + layout.why_none;
    if (::write(fds[1], report.data(), report.size()) < 0) ::_exit(4);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  const int status = wait_for(child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_FALSE(report.empty());
  EXPECT_EQ(report[0], '0') << report;  // CgroupMode::None
  EXPECT_NE(report.find("Permission denied"), std::string::npos) << report;
  EXPECT_NE(report.find("not writable"), std::string::npos) << report;
  EXPECT_FALSE(fs::exists("/sys/fs/cgroup/memory/" + parent));
}

TEST(CgroupDetectTest, NoneLayoutGivesACgroupThatDoesNothing) {
  const CgroupLayout none;
  auto cgroup = JobCgroup::create(none, "job_1", 100, {0});
  ASSERT_TRUE(cgroup);
  EXPECT_FALSE(cgroup->active());
  EXPECT_TRUE(cgroup->dirs().empty());
  EXPECT_TRUE(cgroup->add(::getpid()));
  EXPECT_TRUE(cgroup->pids().empty());
  EXPECT_EQ(cgroup->signal_all(0), 0);
  EXPECT_TRUE(cgroup->kill_all());
  EXPECT_FALSE(cgroup->oom_killed());
  EXPECT_EQ(cgroup->memory_peak_bytes(), 0);
  EXPECT_TRUE(cgroup->remove());
}

}  // namespace
}  // namespace drover::agent
