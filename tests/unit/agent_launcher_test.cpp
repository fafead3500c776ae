// Starting real job processes: as root with cgroups where this machine allows it,
// skipping (saying why) where it does not. Each test works in its own temporary
// directory and parent cgroup and removes both; the user tests make a temporary
// user and group and delete them again.
#include "agent/job_launcher.hpp"
#include "agent/gpu_devices.hpp"
#include "agent_test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <thread>

namespace drover::agent {
namespace {

namespace fs = std::filesystem;
using test_support::JobGuard;
using test_support::read_text;
using test_support::wait_for;
using namespace std::chrono_literals;

// When a test starts this binary as a job with DROVER_TEST_TOUCH_MIB set, it only
// allocates and touches that much memory and exits: a memory hog that needs no
// interpreter.
const bool kMemoryHogMode = [] {
  const char* mib = std::getenv("DROVER_TEST_TOUCH_MIB");
  if (!mib) return false;
  const std::size_t size = static_cast<std::size_t>(std::atoll(mib)) << 20;
  volatile char* p = static_cast<volatile char*>(std::malloc(size));
  if (!p) ::_exit(2);
  for (std::size_t i = 0; i < size; i += 4096) p[i] = 1;
  ::_exit(0);
  return true;
}();


void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string self_exe() { return fs::read_symlink("/proc/self/exe").string(); }


// Whether pid has exited: reaped by us (we are a subreaper, so orphaned job
// processes come to us), or gone, or at least a zombie.
bool process_gone(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) return true;
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    const auto close_paren = stat.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < stat.size() &&
        stat[close_paren + 2] == 'Z')
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

bool wait_for_file(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (fs::exists(path) && !read_text(path).empty()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}


class LauncherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Orphans of a job (its daemonized helpers) are reparented to us, so tests can
    // reap them and see how they died.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    char dir_template[] = "/tmp/drover-launch-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    tmp_ = dir_template;
    // Other users' jobs must be able to reach their directories in here.
    ::chmod(tmp_.c_str(), 0755);
    static int counter = 0;
    if (::geteuid() == 0) {
      layout_ = detect_cgroups("drover-test-" + std::to_string(::getpid()) + "-" +
                               std::to_string(++counter));
    } else {
      layout_.why_none = "not root";
    }
  }

  void TearDown() override {
    for (const auto& dir : {layout_.v1_memory, layout_.v1_cpuset, layout_.v1_devices, layout_.v2_dir})
      if (!dir.empty()) ::rmdir(dir.c_str());
    std::error_code ignored;
    fs::remove_all(tmp_, ignored);
  }

  LaunchSpec spec(std::int64_t id) const {
    LaunchSpec s;
    s.job_id = id;
    s.uid = ::getuid();
    s.gid = ::getgid();
    if (const passwd* pw = ::getpwuid(s.uid)) s.user = pw->pw_name;
    s.environment = {{"PATH", "/usr/bin:/bin"}};
    s.working_dir = tmp_;
    s.stdout_path = tmp_ + "/out";
    s.job_dir = tmp_ + "/job_" + std::to_string(id);
    return s;
  }

  bool cgroup_exists(std::int64_t id) const {
    const std::string name = "/job_" + std::to_string(id);
    for (const auto& base : {layout_.v1_memory, layout_.v1_cpuset, layout_.v1_devices, layout_.v2_dir})
      if (!base.empty() && fs::exists(base + name)) return true;
    return false;
  }

  std::string tmp_;
  CgroupLayout layout_;
};

TEST_F(LauncherTest, RunsACommandWithExactlyTheJobsEnvironment) {
  ::setenv("DROVER_AGENT_ONLY", "must-not-leak", 1);
  LaunchSpec s = spec(1);
  s.argv = {"env"};  // found through the job's PATH, not the agent's
  s.environment = {{"PATH", "/usr/bin:/bin"}, {"A", "1"}, {"B", "two words"}, {"EMPTY", ""}};
  auto job = launch_job(s, layout_);
  ::unsetenv("DROVER_AGENT_ONLY");
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  const ExitStatus exit = decode_wait_status(guard.wait());
  EXPECT_EQ(exit.exit_code, 0);
  EXPECT_EQ(exit.signal, 0);
  EXPECT_EQ(read_text(s.stdout_path), "PATH=/usr/bin:/bin\nA=1\nB=two words\nEMPTY=\n");
}

TEST_F(LauncherTest, AnEmptyEnvironmentStaysEmpty) {
  LaunchSpec s = spec(2);
  s.argv = {"/usr/bin/env"};
  s.environment = {};
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  EXPECT_EQ(read_text(s.stdout_path), "");
}

TEST_F(LauncherTest, RunsTheScriptThroughItsInterpreterLine) {
  LaunchSpec s = spec(3);
  s.script = "#!/bin/sh\necho \"running $0 in $(pwd) with $# args\"\nexit 3\n";
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  const ExitStatus exit = decode_wait_status(guard.wait());
  EXPECT_EQ(exit.exit_code, 3);
  const std::string script = s.job_dir + "/script";
  EXPECT_EQ(read_text(s.stdout_path), "running " + script + " in " + tmp_ + " with 0 args\n");
  struct stat st {};
  ASSERT_EQ(::stat(script.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat(s.job_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(LauncherTest, ARetryRewritesTheScript) {
  LaunchSpec s = spec(4);
  s.script = "#!/bin/sh\necho first\n";
  {
    auto job = launch_job(s, layout_);
    ASSERT_TRUE(job) << job.message();
    JobGuard guard(*job);
    guard.wait();
  }
  s.script = "#!/bin/sh\necho second\n";
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  EXPECT_EQ(read_text(s.stdout_path), "second\n");
}

// An array's tasks run one script file (ScriptCache), not one each; a file its
// owner changed is not used again, and files go once no job runs them.
TEST_F(LauncherTest, JobsRunningTheSameScriptShareOneFileUntilItChanges) {
  ScriptCache cache(tmp_ + "/scripts");
  fs::create_directories(tmp_ + "/scripts");
  const std::string text = "#!/bin/sh\necho \"$0\"\n";
  auto run = [&](std::int64_t id) {
    LaunchSpec s = spec(id);
    s.script = text;
    s.scripts = &cache;
    s.stdout_path = tmp_ + "/out" + std::to_string(id);
    auto job = launch_job(s, layout_);
    EXPECT_TRUE(job) << job.message();
    if (!job) return std::string();
    const std::string path = job->shared_script;
    JobGuard guard(*job);
    EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
    EXPECT_EQ(read_text(s.stdout_path), path + "\n");
    EXPECT_FALSE(fs::exists(s.job_dir)) << "no job directory is needed for a shared script";
    return path;
  };
  const std::string first = run(11);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(run(12), first);
  struct stat st {};
  ASSERT_EQ(::stat(first.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::getuid());
  // Its owner changes it: the next job gets a fresh copy of what was submitted.
  { std::ofstream(first, std::ios::app) << "echo changed\n"; }
  const std::string second = run(13);
  EXPECT_NE(second, first);
  EXPECT_EQ(read_text(second), text);
  // The jobs above end (11 and 12 ran the first file): the changed one goes,
  // the other is kept for later jobs.
  for (const auto& p : {first, first, second}) cache.release(p);
  EXPECT_FALSE(fs::exists(first));
  EXPECT_TRUE(fs::exists(second));
  EXPECT_EQ(cache.size(), 1u);
  // Another script, or the same one for another group, is another file.
  auto other = cache.acquire("#!/bin/sh\ntrue\n", ::getuid(), ::getgid());
  ASSERT_TRUE(other) << other.message();
  EXPECT_NE(*other, second);
  EXPECT_EQ(cache.size(), 2u);
}

TEST_F(LauncherTest, AScriptWithoutInterpreterLineIsRefused) {
  LaunchSpec s = spec(5);
  s.script = "echo hi\n";
  auto job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_NE(job.message().find("#!"), std::string::npos) << job.message();
  EXPECT_FALSE(cgroup_exists(5));
}

TEST_F(LauncherTest, NothingToRunIsAnError) {
  auto job = launch_job(spec(6), layout_);
  ASSERT_FALSE(job);
  EXPECT_NE(job.message().find("neither a script nor a command"), std::string::npos)
      << job.message();
}

TEST_F(LauncherTest, SeparateOrSharedErrorOutputAndAppend) {
  LaunchSpec s = spec(7);
  s.argv = {"sh", "-c", "echo out; echo err >&2"};
  s.stderr_path = tmp_ + "/err";
  {
    auto job = launch_job(s, layout_);
    ASSERT_TRUE(job) << job.message();
    JobGuard(*job).wait();
  }
  EXPECT_EQ(read_text(s.stdout_path), "out\n");
  EXPECT_EQ(read_text(s.stderr_path), "err\n");

  s.stderr_path.clear();
  s.append_output = true;
  {
    auto job = launch_job(s, layout_);
    ASSERT_TRUE(job) << job.message();
    JobGuard(*job).wait();
  }
  EXPECT_EQ(read_text(s.stdout_path), "out\nout\nerr\n");

  s.append_output = false;
  {
    auto job = launch_job(s, layout_);
    ASSERT_TRUE(job) << job.message();
    JobGuard(*job).wait();
  }
  EXPECT_EQ(read_text(s.stdout_path), "out\nerr\n");
}

TEST_F(LauncherTest, StdinIsDevNull) {
  LaunchSpec s = spec(8);
  s.argv = {"sh", "-c", "cat; readlink /proc/self/fd/0"};
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  EXPECT_EQ(read_text(s.stdout_path), "/dev/null\n");
}

TEST_F(LauncherTest, NoDescriptorOfTheAgentLeaks) {
  const int leak = ::open("/dev/null", O_RDONLY);  // deliberately not close-on-exec
  ASSERT_GE(leak, 3);
  LaunchSpec s = spec(9);
  // ls runs as a child of sh, so its own directory descriptor is not in the list.
  s.argv = {"sh", "-c", "ls /proc/$$/fd; true"};
  auto job = launch_job(s, layout_);
  ::close(leak);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  EXPECT_EQ(read_text(s.stdout_path), "0\n1\n2\n");
}

TEST_F(LauncherTest, BlockedAndIgnoredSignalsOfTheAgentAreReset) {
  // The agent blocks SIGCHLD (signalfd) and ignores SIGPIPE; jobs must not inherit that.
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ignore {}, old_pipe {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);

  LaunchSpec s = spec(10);
  s.argv = {"grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status"};
  auto job = launch_job(s, layout_);

  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();  // works with SIGCHLD blocked: waitpid does not need the signal
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_EQ(read_text(s.stdout_path),
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

// The child shares the agent's memory until exec (a vfork-style spawn): what it
// changes for itself (signal mask and handlers, session, directory, failing
// half-way) must not change the agent.
TEST_F(LauncherTest, StartingAJobLeavesTheAgentAsItWas) {
  sigset_t block, before;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &before), 0);
  struct sigaction ignore {}, old_pipe {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  char cwd_before[4096];
  ASSERT_NE(::getcwd(cwd_before, sizeof cwd_before), nullptr);
  const pid_t sid_before = ::getsid(0);

  LaunchSpec ok = spec(40);
  ok.argv = {"true"};
  auto job = launch_job(ok, layout_);
  LaunchSpec bad = spec(41);
  bad.argv = {"/no/such/program"};
  auto failed = launch_job(bad, layout_);

  sigset_t now;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &now), 0);
  struct sigaction pipe_now {};
  ASSERT_EQ(::sigaction(SIGPIPE, &old_pipe, &pipe_now), 0);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.message().find("cannot execute /no/such/program"), std::string::npos) << failed.message();
  EXPECT_EQ(sigismember(&now, SIGCHLD), 1);
  EXPECT_EQ(sigismember(&now, SIGTERM), sigismember(&before, SIGTERM));
  EXPECT_EQ(pipe_now.sa_handler, SIG_IGN);
  char cwd_now[4096];
  ASSERT_NE(::getcwd(cwd_now, sizeof cwd_now), nullptr);
  EXPECT_STREQ(cwd_now, cwd_before);
  EXPECT_EQ(::getsid(0), sid_before);
  EXPECT_EQ(::geteuid(), ::getuid());
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

TEST_F(LauncherTest, TheJobLeadsItsOwnSessionAndProcessGroup) {
  LaunchSpec s = spec(11);
  s.argv = {"sh", "-c", "echo $$; ps -o pgid= -o sid= -p $$"};
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  std::istringstream out(read_text(s.stdout_path));
  pid_t self = 0, pgid = 0, sid = 0;
  out >> self >> pgid >> sid;
  if (!out) GTEST_SKIP() << "ps not available: " << read_text(s.stdout_path);
  EXPECT_EQ(self, job->pid);
  EXPECT_EQ(pgid, job->pid);
  EXPECT_EQ(sid, job->pid);
}

TEST_F(LauncherTest, ABadWorkingDirectoryIsReportedAndCleanedUp) {
  LaunchSpec s = spec(12);
  s.argv = {"true"};
  s.working_dir = tmp_ + "/no-such-dir";
  auto job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(),
            "cannot change to working directory " + s.working_dir + ": No such file or directory");
  EXPECT_FALSE(cgroup_exists(12));
  EXPECT_FALSE(fs::exists(s.stdout_path));  // nothing opened before chdir
}

TEST_F(LauncherTest, AnUnknownCommandIsReported) {
  LaunchSpec s = spec(13);
  s.argv = {"drover-no-such-command"};
  auto job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot execute drover-no-such-command: No such file or directory");
  EXPECT_FALSE(cgroup_exists(13));

  // The job's PATH decides, not the agent's.
  s.argv = {"true"};
  s.environment = {{"PATH", tmp_}};
  job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot execute true: No such file or directory");

  // A file found but not executable is "Permission denied", as execvp says.
  write_text(tmp_ + "/true", "#!/bin/sh\n");
  ::chmod((tmp_ + "/true").c_str(), 0644);
  job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot execute true: Permission denied");
}

TEST_F(LauncherTest, AnUnwritableOutputFileIsReported) {
  LaunchSpec s = spec(14);
  s.argv = {"true"};
  s.stdout_path = tmp_ + "/no-such-dir/out";
  auto job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(),
            "cannot open output file " + s.stdout_path + ": No such file or directory");
  EXPECT_FALSE(cgroup_exists(14));
}

TEST_F(LauncherTest, BindsToTheRequestedCpus) {
  cpu_set_t mine;
  ASSERT_EQ(::sched_getaffinity(0, sizeof mine, &mine), 0);
  if (!CPU_ISSET(1, &mine)) GTEST_SKIP() << "CPU 1 is not available to this process";
  LaunchSpec s = spec(15);
  s.argv = {"sh", "-c", "grep Cpus_allowed_list /proc/self/status > out"};
  s.stdout_path = tmp_ + "/stdout";
  s.cpus = {1};
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  if (layout_.mode == CgroupMode::V1 && !layout_.v1_cpuset.empty()) {
    EXPECT_EQ(read_text(layout_.v1_cpuset + "/job_15/cpuset.cpus"), "1\n");
  }
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  EXPECT_EQ(read_text(tmp_ + "/out"), "Cpus_allowed_list:\t1\n");
}

TEST_F(LauncherTest, WithoutCpusTheJobKeepsTheAgentsSet) {
  LaunchSpec s = spec(16);
  s.argv = {"grep", "Cpus_allowed_list", "/proc/self/status"};
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  const std::string mine = read_text("/proc/self/status");
  const auto at = mine.find("Cpus_allowed_list");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(read_text(s.stdout_path), mine.substr(at, mine.find('\n', at) - at + 1));
}

TEST_F(LauncherTest, TheMemoryLimitKillsAJobThatExceedsIt) {
  if (layout_.mode == CgroupMode::None) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  LaunchSpec s = spec(17);
  s.argv = {self_exe()};
  s.environment = {{"DROVER_TEST_TOUCH_MIB", "200"}};
  s.memory_limit_mib = 50;
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  const ExitStatus exit = decode_wait_status(guard.wait());
  EXPECT_EQ(exit.exit_code, -1);
  EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_TRUE(job->cgroup.oom_killed());
  EXPECT_LE(job->cgroup.memory_peak_bytes(), 50 << 20);
}

TEST_F(LauncherTest, AJobWithinItsMemoryLimitRunsToTheEnd) {
  if (layout_.mode == CgroupMode::None) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  LaunchSpec s = spec(18);
  s.argv = {self_exe()};
  s.environment = {{"DROVER_TEST_TOUCH_MIB", "20"}};
  s.memory_limit_mib = 50;
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  EXPECT_FALSE(job->cgroup.oom_killed());
  EXPECT_GE(job->cgroup.memory_peak_bytes(), 20 << 20);
}

// A job whose helper escapes its process group (setsid), as daemons and some MPI
// launchers do. Writes the helper's pid to <tmp>/helper.
LaunchSpec escaping_job(LaunchSpec s, const std::string& tmp) {
  // The helper writes its own pid once it has left the job's session, so the
  // test never looks at it before setsid() has happened.
  s.script = "#!/bin/sh\nsetsid sh -c 'echo $$ > " + tmp + "/helper.tmp; mv " + tmp +
             "/helper.tmp " + tmp + "/helper; exec sleep 1000' &\nsleep 1000\n";
  return s;
}

TEST_F(LauncherTest, SignalJobReachesProcessesThatLeftTheGroup) {
  if (layout_.mode == CgroupMode::None) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  auto job = launch_job(escaping_job(spec(19), tmp_), layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  ASSERT_TRUE(wait_for_file(tmp_ + "/helper"));
  const pid_t helper = std::stoi(read_text(tmp_ + "/helper"));
  const auto pids = job->cgroup.pids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), helper), pids.end());
  EXPECT_NE(::getpgid(helper), job->pid);  // a group kill alone would miss it

  signal_job(*job, SIGTERM);
  const ExitStatus exit = decode_wait_status(guard.wait());
  EXPECT_EQ(exit.signal, SIGTERM);
  EXPECT_TRUE(process_gone(helper));
  ASSERT_TRUE(job->cgroup.kill_all());
  EXPECT_TRUE(job->cgroup.pids().empty());
}

TEST_F(LauncherTest, KillAllLeavesNoProcess) {
  if (layout_.mode == CgroupMode::None) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  auto job = launch_job(escaping_job(spec(20), tmp_), layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  ASSERT_TRUE(wait_for_file(tmp_ + "/helper"));
  const pid_t helper = std::stoi(read_text(tmp_ + "/helper"));

  ASSERT_TRUE(job->cgroup.kill_all());
  EXPECT_TRUE(job->cgroup.pids().empty());
  EXPECT_EQ(decode_wait_status(guard.wait()).signal, SIGKILL);
  EXPECT_TRUE(process_gone(helper));
  ASSERT_TRUE(job->cgroup.remove());
  EXPECT_FALSE(cgroup_exists(20));
}

TEST_F(LauncherTest, ALeftoverCgroupOfTheSameJobIsClearedFirst) {
  if (layout_.mode == CgroupMode::None) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  LaunchSpec s = spec(21);
  s.argv = {"sleep", "1000"};
  auto first = launch_job(s, layout_);
  ASSERT_TRUE(first) << first.message();
  JobGuard first_guard(*first);
  // As if the agent had crashed: the cgroup and its process are still there.
  s.argv = {"true"};
  auto second = launch_job(s, layout_);
  ASSERT_TRUE(second) << second.message();
  JobGuard second_guard(*second);
  EXPECT_EQ(decode_wait_status(first_guard.wait()).signal, SIGKILL);
  EXPECT_EQ(decode_wait_status(second_guard.wait()).exit_code, 0);
}

TEST_F(LauncherTest, WithoutCgroupsJobsStillRunAndCanBeSignalled) {
  LaunchSpec s = spec(22);
  s.argv = {"sh", "-c", "sleep 1000 & wait"};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_FALSE(job->cgroup.active());
  std::this_thread::sleep_for(50ms);
  signal_job(*job, SIGKILL);
  EXPECT_EQ(decode_wait_status(guard.wait()).signal, SIGKILL);
}

TEST_F(LauncherTest, AnAgentThatIsNotRootRunsJobsOnlyAsItself) {
  // As root, take the unprivileged path in a child that dropped to nobody.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    LaunchSpec s;
    s.job_id = 23;
    s.uid = ::getuid() == 0 ? 1 : 0;
    s.gid = ::getgid();
    s.argv = {"true"};
    auto job = launch_job(s, CgroupLayout{});
    const std::string report = job ? std::string("launched") : job.message();
    if (job) ::waitpid(job->pid, nullptr, 0);
    if (::write(fds[1], report.data(), report.size()) < 0) ::_exit(4);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) report.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  wait_for(child);
  EXPECT_EQ(report.rfind("cannot run job as uid ", 0), 0u) << report;
  EXPECT_NE(report.find("not as root"), std::string::npos) << report;
}

TEST(DecodeWaitStatusTest, ExitCodesAndSignals) {
  const pid_t exits = ::fork();
  ASSERT_GE(exits, 0);
  if (exits == 0) ::_exit(5);
  const ExitStatus exited = decode_wait_status(wait_for(exits));
  EXPECT_EQ(exited.exit_code, 5);
  EXPECT_EQ(exited.signal, 0);

  const pid_t killed = ::fork();
  ASSERT_GE(killed, 0);
  if (killed == 0) {
    ::signal(SIGKILL, SIG_DFL);
    ::raise(SIGKILL);
    ::_exit(0);
  }
  const ExitStatus signalled = decode_wait_status(wait_for(killed));
  EXPECT_EQ(signalled.exit_code, -1);
  EXPECT_EQ(signalled.signal, SIGKILL);
}

// ---- jobs of another user (root only) --------------------------------------

class OtherUserTest : public LauncherTest {
 protected:
  // Tests run in parallel processes (ctest -j) may hold the lock on /etc/passwd.
  static bool run_retrying(const std::string& command) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (std::system((command + " 2>/dev/null").c_str()) == 0) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  static void SetUpTestSuite() {
    LauncherTest::SetUpTestSuite();
    if (::geteuid() != 0) return;
    const std::string suffix = std::to_string(::getpid());
    user_ = "drvt" + suffix;
    extra_group_ = "drvg" + suffix;
    if (!run_retrying("groupadd " + extra_group_)) {
      extra_group_.clear();
      return;
    }
    if (!run_retrying("useradd -M -s /usr/sbin/nologin -G " + extra_group_ + " " + user_)) {
      user_.clear();
      return;
    }
    created_ = true;
  }
  static void TearDownTestSuite() {
    // userdel also removes the user's own group (USERGROUPS_ENAB).
    if (!user_.empty()) run_retrying("userdel " + user_);
    if (!extra_group_.empty()) run_retrying("groupdel " + extra_group_);
    created_ = false;
  }

  void SetUp() override {
    LauncherTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run jobs as another user";
    if (!created_) GTEST_SKIP() << "could not create a temporary user with useradd";
    const passwd* pw = ::getpwnam(user_.c_str());
    const group* gr = ::getgrnam(extra_group_.c_str());
    ASSERT_NE(pw, nullptr);
    ASSERT_NE(gr, nullptr);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    extra_gid_ = gr->gr_gid;
    home_ = tmp_ + "/home";
    fs::create_directory(home_);
    ASSERT_EQ(::chown(home_.c_str(), uid_, gid_), 0);
  }

  LaunchSpec user_spec(std::int64_t id) const {
    LaunchSpec s = spec(id);
    s.uid = uid_;
    s.gid = gid_;
    s.user = user_;
    s.working_dir = home_;
    s.stdout_path = home_ + "/out";
    return s;
  }

  static inline std::string user_;
  static inline std::string extra_group_;
  static inline bool created_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  gid_t extra_gid_ = 0;
  std::string home_;
};

TEST_F(OtherUserTest, RunsWithTheUsersIdentityAndGroups) {
  LaunchSpec s = user_spec(30);
  s.script = "#!/bin/sh\nid -u\nid -g\nid -G\ntouch made-by-job\n";
  std::vector<gid_t> agent_groups(static_cast<std::size_t>(::getgroups(0, nullptr)));
  agent_groups.resize(static_cast<std::size_t>(::getgroups(static_cast<int>(agent_groups.size()), agent_groups.data())));
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  // The child shares the agent's memory until exec; its identity is its own.
  EXPECT_EQ(::getuid(), 0u);
  EXPECT_EQ(::geteuid(), 0u);
  EXPECT_EQ(::getegid(), 0u);
  std::vector<gid_t> groups_now(agent_groups.size() + 8);
  groups_now.resize(static_cast<std::size_t>(::getgroups(static_cast<int>(groups_now.size()), groups_now.data())));
  EXPECT_EQ(groups_now, agent_groups);

  std::istringstream out(read_text(s.stdout_path));
  uid_t uid = 0;
  gid_t gid = 0;
  out >> uid >> gid;
  EXPECT_EQ(uid, uid_);
  EXPECT_EQ(gid, gid_);
  std::vector<gid_t> groups;
  for (gid_t g; out >> g;) groups.push_back(g);
  EXPECT_NE(std::find(groups.begin(), groups.end(), gid_), groups.end());
  EXPECT_NE(std::find(groups.begin(), groups.end(), extra_gid_), groups.end());
  EXPECT_EQ(std::find(groups.begin(), groups.end(), 0u), groups.end()) << "root's group kept";

  struct stat st {};
  ASSERT_EQ(::stat((home_ + "/made-by-job").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  ASSERT_EQ(::stat(s.stdout_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);  // opened by the user, not by the agent
  ASSERT_EQ(::stat((s.job_dir + "/script").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(st.st_gid, gid_);
  ASSERT_EQ(::stat(s.job_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
}

// The agent remembers a user's groups (an array's tasks would each read
// /etc/group), but a change to /etc/group applies to the very next job.
TEST_F(OtherUserTest, AGroupChangeAppliesToTheNextJob) {
  auto groups_of_job = [&](std::int64_t id) {
    LaunchSpec s = user_spec(id);
    s.stdout_path = home_ + "/groups" + std::to_string(id);
    s.argv = {"id", "-G"};
    auto job = launch_job(s, layout_);
    EXPECT_TRUE(job) << job.message();
    if (!job) return std::vector<gid_t>{};
    JobGuard guard(*job);
    EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
    std::istringstream out(read_text(s.stdout_path));
    std::vector<gid_t> groups;
    for (gid_t g; out >> g;) groups.push_back(g);
    return groups;
  };
  auto has_extra = [&](const std::vector<gid_t>& groups) {
    return std::find(groups.begin(), groups.end(), extra_gid_) != groups.end();
  };
  EXPECT_TRUE(has_extra(groups_of_job(34)));
  EXPECT_TRUE(has_extra(groups_of_job(35)));  // /etc/group unchanged: the remembered list
  ASSERT_TRUE(run_retrying("gpasswd -d " + user_ + " " + extra_group_));
  const auto after = groups_of_job(36);
  ASSERT_TRUE(run_retrying("gpasswd -a " + user_ + " " + extra_group_));
  EXPECT_FALSE(has_extra(after)) << "the group the user just left is still given";
  EXPECT_NE(std::find(after.begin(), after.end(), gid_), after.end());
  EXPECT_TRUE(has_extra(groups_of_job(37)));
}

TEST_F(OtherUserTest, AnOutputFileTheUserCannotWriteIsReported) {
  const std::string root_only = tmp_ + "/root-only";
  fs::create_directory(root_only);
  ::chmod(root_only.c_str(), 0755);
  LaunchSpec s = user_spec(31);
  s.argv = {"true"};
  s.stdout_path = root_only + "/drover-31.out";
  auto job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot open output file " + s.stdout_path + ": Permission denied");
  EXPECT_FALSE(fs::exists(s.stdout_path));
  EXPECT_FALSE(cgroup_exists(31));

  s.stdout_path = home_ + "/out";
  s.stderr_path = root_only + "/drover-31.err";
  job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot open error file " + s.stderr_path + ": Permission denied");
}

TEST_F(OtherUserTest, AWorkingDirectoryTheUserCannotEnterIsReported) {
  const std::string closed = tmp_ + "/closed";
  fs::create_directory(closed);
  ::chmod(closed.c_str(), 0700);
  LaunchSpec s = user_spec(32);
  s.argv = {"true"};
  s.working_dir = closed;
  auto job = launch_job(s, layout_);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot change to working directory " + closed + ": Permission denied");
}

TEST_F(OtherUserTest, AnUnknownUserNameStillGetsItsPrimaryGroup) {
  LaunchSpec s = user_spec(33);
  s.user = "drover-nobody-" + std::to_string(::getpid());
  s.argv = {"id", "-G"};
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  EXPECT_EQ(read_text(s.stdout_path), std::to_string(gid_) + "\n");
}

// ---- GPU device files and memory nodes, applied to real job processes ----------

// Two fake GPUs: device files made here with the numbers of /dev/full (1:7) and
// /dev/zero (1:5), so that an allowed open succeeds and a denied one fails with
// EPERM from the device cgroup (not ENXIO, as for numbers with no driver).
class DeviceCgroupTest : public LauncherTest {
 protected:
  void SetUp() override {
    LauncherTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups and device files";
    for (auto [name, minor] : {std::pair{"gpu0", 7u}, std::pair{"gpu1", 5u}})
      ASSERT_EQ(::mknod((tmp_ + "/" + name).c_str(), S_IFCHR | 0666, ::makedev(1, minor)), 0)
          << "mknod " << name << ": " << std::strerror(errno);
    auto parsed = parse_gpu_devices_option("0=" + tmp_ + "/gpu0,1=" + tmp_ + "/gpu1", 2);
    ASSERT_TRUE(parsed) << parsed.message();
    gpus_ = *parsed;
  }

  // Runs a job given `job_gpus` under `layout`; returns what it could open.
  std::string run_opening(std::int64_t id, const std::vector<int>& job_gpus, const CgroupLayout& layout) {
    LaunchSpec s = spec(id);
    s.argv = {"sh", "-c", "for f in gpu0 gpu1; do head -c 1 $f > /dev/null && echo \"$f opened\"; done 2>&1"};
    s.denied_devices = denied_device_files(gpus_, job_gpus);
    auto job = launch_job(s, layout);
    if (!job) return "launch failed: " + job.message();
    JobGuard guard(*job);
    EXPECT_EQ(decode_wait_status(guard.wait()).signal, 0);
    return read_text(s.stdout_path);
  }

  void expect_isolation(const CgroupLayout& layout) {
    const std::string denied1 = "head: cannot open 'gpu1' for reading: Operation not permitted\n";
    const std::string denied0 = "head: cannot open 'gpu0' for reading: Operation not permitted\n";
    EXPECT_EQ(run_opening(30, {0}, layout), "gpu0 opened\n" + denied1);
    EXPECT_EQ(run_opening(31, {1}, layout), denied0 + "gpu1 opened\n");
    EXPECT_EQ(run_opening(32, {}, layout), denied0 + denied1);
    EXPECT_EQ(run_opening(33, {0, 1}, layout), "gpu0 opened\ngpu1 opened\n");
  }

  std::vector<GpuDeviceFiles> gpus_;
};

TEST_F(DeviceCgroupTest, AJobOpensOnlyItsOwnGpusDeviceFiles) {
  if (!layout_.devices) GTEST_SKIP() << "no device cgroup here: " << layout_.why_none << layout_.why_no_devices;
  expect_isolation(layout_);
}

// cgroup v2 has no devices.deny: a BPF program attached to the job's cgroup does
// it. Where this machine runs v1 for jobs but also mounts cgroup2 (hybrid), the
// v2 path is exercised on that mount.
TEST_F(DeviceCgroupTest, OnCgroupV2ABpfProgramDoesTheSame) {
  CgroupLayout v2 = layout_;
  std::string made;
  if (layout_.mode != CgroupMode::V2) {
    const std::string unified = "/sys/fs/cgroup/unified";
    struct statfs fs {};
    if (::statfs(unified.c_str(), &fs) != 0 || static_cast<long>(fs.f_type) != CGROUP2_SUPER_MAGIC)
      GTEST_SKIP() << "no cgroup v2 mount here";
    made = unified + "/drover-test-v2-" + std::to_string(::getpid());
    ASSERT_EQ(::mkdir(made.c_str(), 0755), 0) << std::strerror(errno);
    v2 = CgroupLayout{};
    v2.mode = CgroupMode::V2;
    v2.v2_dir = made;
    v2.devices = true;
  }
  if (!v2.devices) GTEST_SKIP() << "no BPF device programs here: " << v2.why_no_devices;
  expect_isolation(v2);
  if (!made.empty()) {
    EXPECT_EQ(::rmdir(made.c_str()), 0) << std::strerror(errno);
  }
}

TEST_F(DeviceCgroupTest, WithoutDeviceControlAJobDenyingDevicesDoesNotStart) {
  if (layout_.mode == CgroupMode::None) GTEST_SKIP() << "no cgroups: " << layout_.why_none;
  CgroupLayout no_devices = layout_;
  no_devices.devices = false;
  no_devices.why_no_devices = "no cgroup v1 devices hierarchy at /nowhere";
  LaunchSpec s = spec(34);
  s.argv = {"true"};
  s.denied_devices = denied_device_files(gpus_, {0});
  auto job = launch_job(s, no_devices);
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot deny device files to job cgroup job_34: no cgroup v1 devices hierarchy at /nowhere");
  EXPECT_FALSE(cgroup_exists(34));
}

std::string parent_mems(const CgroupLayout& layout) {
  const std::string file = layout.mode == CgroupMode::V1 ? layout.v1_cpuset + "/cpuset.mems"
                                                         : layout.v2_dir + "/cpuset.mems.effective";
  std::string text = read_text(file);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

TEST_F(LauncherTest, MemoryIsBoundToTheNumaNodesOfTheJob) {
  const bool cpuset = (layout_.mode == CgroupMode::V1 && !layout_.v1_cpuset.empty()) ||
                      (layout_.mode == CgroupMode::V2 && fs::exists(layout_.v2_dir + "/cpuset.mems.effective"));
  if (!cpuset) GTEST_SKIP() << "no cpuset cgroup here: " << layout_.why_none;
  auto mems_of_job = [&](std::int64_t id, std::vector<int> mems, std::vector<int>* written) {
    LaunchSpec s = spec(id);
    s.argv = {"grep", "Mems_allowed_list", "/proc/self/status"};
    s.mems = std::move(mems);
    auto job = launch_job(s, layout_);
    if (!job) return "launch failed: " + job.message();
    JobGuard guard(*job);
    *written = job->cgroup.mems();
    guard.wait();
    return read_text(s.stdout_path);
  };
  std::vector<int> written;
  // Node 0 exists on every machine: the job's memory is bound to it.
  EXPECT_EQ(mems_of_job(40, {0}, &written), "Mems_allowed_list:\t0\n");
  EXPECT_EQ(written, std::vector<int>{0});
  // A node this machine lacks (the agent was given another node's topology) is
  // left out; with none left the job keeps the agent's set.
  EXPECT_EQ(mems_of_job(41, {999}, &written), "Mems_allowed_list:\t" + parent_mems(layout_) + "\n");
  EXPECT_TRUE(written.empty());
  EXPECT_EQ(mems_of_job(42, {0, 999}, &written), "Mems_allowed_list:\t0\n");
  EXPECT_EQ(written, std::vector<int>{0});
}

// ---- kept job cgroups (CgroupPool, cgroup v1) --------------------------------

// What a job that ran in a cgroup from the pool reported, as NodeAgent::finish
// reads it, after which its cgroup goes back to the pool.
struct PooledRun {
  ExitStatus exit;
  bool oom = false;
  std::int64_t peak = 0;
  std::vector<std::string> dirs;
};

PooledRun run_pooled(CgroupPool& pool, const CgroupLayout& layout, LaunchSpec s, bool trusted = true) {
  s.cgroup_pool = &pool;
  auto job = launch_job(s, layout);
  EXPECT_TRUE(job) << job.message();
  if (!job) return {};
  PooledRun run;
  run.dirs = job->cgroup.dirs();
  run.exit = decode_wait_status(wait_for(job->pid));
  run.oom = job->cgroup.oom_killed();
  run.peak = job->cgroup.memory_peak_bytes();
  (void)job->cgroup.kill_all();
  pool.release(layout, job->cgroup, trusted);
  return run;
}

// The name CgroupPool gives the n-th cgroup it keeps.
std::string idle_name(int n) { return "job_idle" + std::to_string(::getpid()) + "_" + std::to_string(n); }

class CgroupPoolTest : public LauncherTest {
 protected:
  void SetUp() override {
    LauncherTest::SetUp();
    if (layout_.mode != CgroupMode::V1) GTEST_SKIP() << "cgroups are kept on cgroup v1 only (here: not v1)";
  }
};

TEST_F(CgroupPoolTest, EachJobReportsItsOwnPeakMemory) {
  CgroupPool pool;
  LaunchSpec big = spec(60);
  big.argv = {self_exe()};
  big.environment = {{"DROVER_TEST_TOUCH_MIB", "60"}};
  big.memory_limit_mib = 200;
  const PooledRun first = run_pooled(pool, layout_, big);
  EXPECT_EQ(first.exit.exit_code, 0);
  EXPECT_GE(first.peak, 60 << 20);
  ASSERT_EQ(pool.idle(), 1u);

  // Page cache the next job would otherwise be charged for: 40 MiB written to a file.
  LaunchSpec writer = spec(61);
  writer.argv = {"dd", "if=/dev/zero", "of=" + tmp_ + "/cache", "bs=1M", "count=40", "status=none"};
  writer.memory_limit_mib = 200;
  const PooledRun second = run_pooled(pool, layout_, writer);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(second.exit.exit_code, 0);
  EXPECT_LT(second.peak, 60 << 20) << "the first job's peak was carried over";
  EXPECT_FALSE(second.oom);

  // 40 MiB of page cache stay charged to its cgroup: not kept.
  const std::size_t kept = pool.idle();
  LaunchSpec small = spec(62);
  small.argv = {"true"};
  small.memory_limit_mib = 200;
  const PooledRun third = run_pooled(pool, layout_, small);
  EXPECT_EQ(kept, 0u);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(third.exit.exit_code, 0);
  EXPECT_LT(third.peak, 4 << 20) << "an earlier job's memory or page cache was counted";
  EXPECT_EQ(third.dirs.front(), layout_.v1_memory + "/job_62");
  // An idle cgroup waits under its own name, never under a job's; its counters start again.
  EXPECT_FALSE(cgroup_exists(62));
  ASSERT_EQ(pool.idle(), 1u);
  const std::string idle = layout_.v1_memory + "/" + idle_name(kept ? 2 : 1);
  ASSERT_TRUE(fs::exists(idle));
  EXPECT_LE(std::stoll(read_text(idle + "/memory.max_usage_in_bytes")), CgroupPool::kMaxLeftoverBytes);
  EXPECT_EQ(read_text(idle + "/memory.failcnt"), "0\n");
}

TEST_F(CgroupPoolTest, ATrivialJobAfterAMemoryHogReportsItsOwnPeak) {
  CgroupPool pool;
  LaunchSpec big = spec(76);
  big.argv = {self_exe()};
  big.environment = {{"DROVER_TEST_TOUCH_MIB", "80"}};
  const PooledRun first = run_pooled(pool, layout_, big);
  EXPECT_GE(first.peak, 80 << 20);
  for (int i = 0; i < 5; ++i) {
    LaunchSpec small = spec(77 + i);
    small.argv = {"true"};
    const PooledRun next = run_pooled(pool, layout_, small);
    EXPECT_EQ(next.exit.exit_code, 0);
    EXPECT_LT(next.peak, 4 << 20) << "job " << i;
    EXPECT_FALSE(next.oom);
  }
  EXPECT_EQ(pool.reused(), 5u);
}

TEST_F(CgroupPoolTest, AJobAfterAnOomKilledOneIsNotReportedOom) {
  CgroupPool pool;
  LaunchSpec hog = spec(63);
  hog.argv = {self_exe()};
  hog.environment = {{"DROVER_TEST_TOUCH_MIB", "200"}};
  hog.memory_limit_mib = 50;
  const PooledRun first = run_pooled(pool, layout_, hog);
  EXPECT_EQ(first.exit.signal, SIGKILL);
  EXPECT_TRUE(first.oom);
  // Its oom_kill count cannot be reset: the cgroup is not kept.
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_FALSE(cgroup_exists(63));

  LaunchSpec normal = spec(64);
  normal.argv = {self_exe()};
  normal.environment = {{"DROVER_TEST_TOUCH_MIB", "10"}};
  normal.memory_limit_mib = 50;
  const PooledRun second = run_pooled(pool, layout_, normal);
  EXPECT_EQ(second.exit.exit_code, 0);
  EXPECT_FALSE(second.oom);
  EXPECT_EQ(pool.idle(), 1u);
  const PooledRun third = run_pooled(pool, layout_, normal);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_FALSE(third.oom);
  EXPECT_NE(read_text(layout_.v1_memory + "/" + idle_name(1) + "/memory.oom_control").find("\noom_kill 0"), std::string::npos);
}

TEST_F(CgroupPoolTest, ACgroupWithAProcessOrAChildCgroupIsNotKept) {
  CgroupPool pool;
  LaunchSpec s = escaping_job(spec(65), tmp_);
  s.cgroup_pool = &pool;
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  ASSERT_TRUE(wait_for_file(tmp_ + "/helper"));
  // The main process ends, its escaped helper lives on in the cgroup.
  ::kill(job->pid, SIGKILL);
  wait_for(job->pid);
  ASSERT_FALSE(job->cgroup.pids().empty());
  pool.release(layout_, job->cgroup, true);
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_TRUE(cgroup_exists(65)) << "removed with a process in it";
  ASSERT_TRUE(job->cgroup.kill_all());
  EXPECT_TRUE(process_gone(std::stoi(read_text(tmp_ + "/helper"))));
  (void)job->cgroup.remove();

  LaunchSpec t = spec(66);
  t.argv = {"true"};
  t.cgroup_pool = &pool;
  auto other = launch_job(t, layout_);
  ASSERT_TRUE(other) << other.message();
  wait_for(other->pid);
  ASSERT_EQ(::mkdir((layout_.v1_memory + "/job_66/child").c_str(), 0755), 0);
  pool.release(layout_, other->cgroup, true);
  EXPECT_EQ(pool.idle(), 0u);
  ::rmdir((layout_.v1_memory + "/job_66/child").c_str());
  (void)other->cgroup.remove();
}

TEST_F(CgroupPoolTest, AKeptCgroupGetsTheNextJobsLimitsAndCpus) {
  cpu_set_t mine;
  ASSERT_EQ(::sched_getaffinity(0, sizeof mine, &mine), 0);
  if (!CPU_ISSET(0, &mine)) GTEST_SKIP() << "CPU 0 is not available to this process";
  CgroupPool pool;
  const std::string parent_cpus = read_text(layout_.v1_cpuset + "/cpuset.cpus");
  const std::string parent_swappiness = read_text(layout_.v1_memory + "/memory.swappiness");
  LaunchSpec bound = spec(67);
  bound.argv = {"grep", "Cpus_allowed_list", "/proc/self/status"};
  bound.stdout_path = tmp_ + "/bound";
  bound.cpus = {0};
  bound.memory_limit_mib = 64;
  run_pooled(pool, layout_, bound);
  EXPECT_EQ(read_text(tmp_ + "/bound"), "Cpus_allowed_list:\t0\n");

  // The next job has no limit and no CPUs of its own: a new cgroup's settings.
  LaunchSpec free = spec(68);
  free.script = "#!/bin/sh\ncat " + layout_.v1_memory + "/job_68/memory.limit_in_bytes " + layout_.v1_memory +
                "/job_68/memory.swappiness " + layout_.v1_cpuset + "/job_68/cpuset.cpus\n";
  free.stdout_path = tmp_ + "/free";
  const PooledRun second = run_pooled(pool, layout_, free);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(second.exit.exit_code, 0);
  const std::string fresh_limit = read_text(layout_.v1_memory + "/memory.limit_in_bytes");
  EXPECT_EQ(read_text(tmp_ + "/free"), fresh_limit + parent_swappiness + parent_cpus);

  // And back to a limit: a job over it is killed.
  LaunchSpec hog = spec(69);
  hog.argv = {self_exe()};
  hog.environment = {{"DROVER_TEST_TOUCH_MIB", "200"}};
  hog.memory_limit_mib = 50;
  const PooledRun third = run_pooled(pool, layout_, hog);
  EXPECT_EQ(pool.reused(), 2u);
  EXPECT_TRUE(third.oom);
  EXPECT_EQ(third.exit.signal, SIGKILL);
}

// The agent keeps a kept cgroup's control files open (cgroup.procs among them,
// which the child joins through); they follow the directory through its
// renames, so each job is in the cgroup that bears its own name.
TEST_F(CgroupPoolTest, EachJobRunsInTheKeptCgroupUnderItsOwnName) {
  CgroupPool pool;
  const std::string mount = "/sys/fs/cgroup/memory";
  if (layout_.v1_memory.rfind(mount + "/", 0) != 0) GTEST_SKIP() << "memory hierarchy not at " << mount;
  const std::string parent = layout_.v1_memory.substr(mount.size());
  for (int id = 72; id < 75; ++id) {
    LaunchSpec s = spec(id);
    s.argv = {"cat", "/proc/self/cgroup"};
    s.stdout_path = tmp_ + "/cgroup" + std::to_string(id);
    s.memory_limit_mib = 64 + id;  // a different limit each time: written through the kept files
    const PooledRun run = run_pooled(pool, layout_, s);
    EXPECT_EQ(run.exit.exit_code, 0);
    const std::string text = read_text(s.stdout_path);
    EXPECT_NE(text.find(":memory:" + parent + "/job_" + std::to_string(id) + "\n"), std::string::npos) << text;
    if (!layout_.v1_cpuset.empty())
      EXPECT_NE(text.find(":cpuset:"), std::string::npos) << text;
    EXPECT_EQ(pool.idle(), 1u);
  }
  EXPECT_EQ(pool.reused(), 2u);
  // The control files are open in this process (the pool's), under the name
  // the cgroup has now: the kept one's idle name.
  auto open_files = [] {
    std::set<std::string> paths;
    for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const auto target = fs::read_symlink(e.path(), ec);
      if (!ec) paths.insert(target.string());
    }
    return paths;
  };
  const std::string idle = layout_.v1_memory + "/" + idle_name(2);
  const auto files = open_files();
  for (const char* f : {"cgroup.procs", "memory.limit_in_bytes", "memory.max_usage_in_bytes", "memory.oom_control"})
    EXPECT_EQ(files.count(idle + "/" + f), 1u) << f << " of " << idle << " is not held open";
  // The last job's limit, written through a descriptor opened while the cgroup
  // had the first job's name.
  LaunchSpec last = spec(75);
  last.argv = {"cat", layout_.v1_memory + "/job_75/memory.limit_in_bytes"};
  last.stdout_path = tmp_ + "/limit";
  last.memory_limit_mib = 99;
  run_pooled(pool, layout_, last);
  EXPECT_EQ(read_text(last.stdout_path), std::to_string(99 << 20) + "\n");
}

TEST_F(CgroupPoolTest, AfterARootJobEverySettingIsWrittenAgain) {
  CgroupPool pool;
  LaunchSpec s = spec(70);
  s.argv = {"true"};
  s.memory_limit_mib = 64;
  s.cgroup_pool = &pool;
  auto job = launch_job(s, layout_);
  ASSERT_TRUE(job) << job.message();
  wait_for(job->pid);
  // What a job running as root could do to its own cgroup.
  const std::string dir = layout_.v1_memory + "/job_70";
  std::ofstream(dir + "/memory.limit_in_bytes") << "8388608";
  std::ofstream(dir + "/memory.oom_control") << "1";
  pool.release(layout_, job->cgroup, /*trusted=*/false);
  ASSERT_EQ(pool.idle(), 1u);
  LaunchSpec t = spec(71);
  t.argv = {"true"};
  t.memory_limit_mib = 64;
  t.cgroup_pool = &pool;
  auto next = launch_job(t, layout_);
  ASSERT_TRUE(next) << next.message();
  wait_for(next->pid);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(read_text(layout_.v1_memory + "/job_71/memory.limit_in_bytes"), std::to_string(64 << 20) + "\n");
  EXPECT_NE(read_text(layout_.v1_memory + "/job_71/memory.oom_control").find("oom_kill_disable 0"), std::string::npos);
  pool.release(layout_, next->cgroup, true);
}

TEST_F(CgroupPoolTest, DeviceRulesAreTheJobsOwn) {
  if (!layout_.devices) GTEST_SKIP() << "no device cgroup: " << layout_.why_no_devices;
  CgroupPool pool;
  const std::string probe =
      "#!/bin/sh\nhead -c1 /dev/full >/dev/null 2>&1; echo full=$?\nhead -c1 /dev/zero >/dev/null 2>&1; echo zero=$?\n";
  LaunchSpec s = spec(72);
  s.script = probe;
  s.stdout_path = tmp_ + "/first";
  s.denied_devices = {DeviceRule{'c', 1, 7, "/dev/full"}};
  run_pooled(pool, layout_, s);
  EXPECT_EQ(read_text(tmp_ + "/first"), "full=1\nzero=0\n");
  ASSERT_EQ(pool.idle(), 1u);
  EXPECT_FALSE(fs::exists(layout_.v1_devices + "/job_72"));
  EXPECT_FALSE(fs::exists(layout_.v1_devices + "/" + idle_name(0)));
  LaunchSpec t = spec(73);
  t.script = probe;
  t.stdout_path = tmp_ + "/second";
  t.denied_devices = {DeviceRule{'c', 1, 5, "/dev/zero"}};
  run_pooled(pool, layout_, t);
  EXPECT_EQ(pool.reused(), 1u);
  EXPECT_EQ(read_text(tmp_ + "/second"), "full=0\nzero=1\n");
  LaunchSpec u = spec(74);
  u.script = probe;
  u.stdout_path = tmp_ + "/third";
  run_pooled(pool, layout_, u);
  EXPECT_EQ(pool.reused(), 2u);
  EXPECT_EQ(read_text(tmp_ + "/third"), "full=0\nzero=0\n");
}

TEST_F(CgroupPoolTest, ThePoolRemovesItsCgroupsWhenItGoes) {
  {
    CgroupPool pool;
    LaunchSpec s = spec(75);
    s.argv = {"true"};
    run_pooled(pool, layout_, s);
    EXPECT_EQ(pool.idle(), 1u);
  }
  EXPECT_FALSE(fs::exists(layout_.v1_memory + "/" + idle_name(0)));
  EXPECT_FALSE(fs::exists(layout_.v1_cpuset + "/" + idle_name(0)));
}

}  // namespace
}  // namespace drover::agent
