// The agent's side of the checkpoint contract: launch_job makes the job's
// checkpoint directory (LaunchSpec::make_dir) with its parents as the job's user
// before the job starts, and refuses to start it when it cannot; and
// signal_job_handlers signals only the processes of a job that handle the signal
// (SigCgt), leaving those the signal would kill alone. Real processes, each test
// in its own temporary directory; the other-user tests make a temporary user.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "agent/job_launcher.hpp"
#include "agent_test_support.hpp"

namespace drover::agent {
namespace {

namespace fs = std::filesystem;
using test_support::JobGuard;
using test_support::read_text;
using test_support::wait_for;
using namespace std::chrono_literals;


// Polls (bounded) until pred() holds.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

// A process's state letter from /proc/PID/stat ('R', 'S', 'Z'...); 0 when gone.
char process_state(pid_t pid) {
  const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return 0;
  return stat[close_paren + 2];
}
bool alive(pid_t pid) {
  const char s = process_state(pid);
  return s != 0 && s != 'Z' && s != 'X';
}

// The bit for `sig` in one of the masks of /proc/PID/status ("SigCgt", "ShdPnd"...).
bool status_mask_has(pid_t pid, const std::string& field, int sig) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) != 0) continue;
    const unsigned long long mask = std::strtoull(line.c_str() + field.size() + 1, nullptr, 16);
    return (mask >> (sig - 1)) & 1ULL;
  }
  ADD_FAILURE() << "no " << field << " for process " << pid;
  return false;
}



class CheckpointAgentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Orphans of a job come to us, so that they can be reaped.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    char dir_template[] = "/tmp/drover-ckpt-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    tmp_ = dir_template;
    ::chmod(tmp_.c_str(), 0755);  // other users' jobs reach their directories in here
  }

  void TearDown() override {
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

  std::string tmp_;
};

// ---- make_dir ------------------------------------------------------------------------------

TEST_F(CheckpointAgentTest, MakesTheCheckpointDirectoryWithItsParentsBeforeTheJobStarts) {
  LaunchSpec s = spec(1);
  s.make_dir = tmp_ + "/run/drover-checkpoints/1";
  // The job itself sees the directory from its first instruction.
  s.argv = {"sh", "-c", "test -d \"$0\" && echo there", s.make_dir};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  EXPECT_EQ(read_text(s.stdout_path), "there\n");
  EXPECT_TRUE(fs::is_directory(s.make_dir));

  // A directory that exists already (the next attempt) is fine, with or without
  // a trailing slash; what is in it stays.
  std::ofstream(s.make_dir + "/keep") << "x";
  s.make_dir += "/";
  s.argv = {"true"};
  job = launch_job(s, CgroupLayout{});
  ASSERT_TRUE(job) << job.message();
  JobGuard again(*job);
  EXPECT_EQ(decode_wait_status(again.wait()).exit_code, 0);
  EXPECT_EQ(read_text(tmp_ + "/run/drover-checkpoints/1/keep"), "x");
}

TEST_F(CheckpointAgentTest, ADirectoryUnderARegularFileIsAClearErrorAndTheJobDoesNotStart) {
  std::ofstream(tmp_ + "/file") << "not a directory";
  LaunchSpec s = spec(2);
  s.make_dir = tmp_ + "/file/ckpt/2";
  s.argv = {"touch", tmp_ + "/ran"};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot create directory " + tmp_ + "/file/ckpt: Not a directory");
  EXPECT_FALSE(fs::exists(tmp_ + "/ran"));
  EXPECT_FALSE(fs::exists(s.stdout_path));  // nothing opened before the directory
}

TEST_F(CheckpointAgentTest, ARegularFileWhereTheDirectoryShouldBeIsAnError) {
  // Like mkdir -p: the path exists, but it is no directory the job could write into.
  std::ofstream(tmp_ + "/ckpt") << "not a directory";
  LaunchSpec s = spec(3);
  s.make_dir = tmp_ + "/ckpt";
  s.argv = {"touch", tmp_ + "/ran"};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_FALSE(job) << "the job started with a file as its checkpoint directory";
  EXPECT_EQ(job.message().rfind("cannot create directory " + tmp_ + "/ckpt: ", 0), 0u) << job.message();
  EXPECT_FALSE(fs::exists(tmp_ + "/ran"));
}

TEST_F(CheckpointAgentTest, ARelativeDirectoryIsRefused) {
  LaunchSpec s = spec(4);
  s.make_dir = "drover-checkpoints/4";
  s.argv = {"touch", tmp_ + "/ran"};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot create directory drover-checkpoints/4: not an absolute path");
  EXPECT_FALSE(fs::exists(tmp_ + "/drover-checkpoints"));
  EXPECT_FALSE(fs::exists(tmp_ + "/ran"));
}

TEST_F(CheckpointAgentTest, NoDirectoryIsMadeWhenNoneIsAsked) {
  LaunchSpec s = spec(5);
  s.argv = {"true"};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  guard.wait();
  for (const auto& e : fs::directory_iterator(tmp_))
    EXPECT_TRUE(e.path() == s.stdout_path || e.path() == s.job_dir) << e.path();
}

// ---- as another user (root only) -----------------------------------------------------------

class CheckpointOtherUserTest : public CheckpointAgentTest {
 protected:
  static bool run_retrying(const std::string& command) {
    // Tests in parallel processes (ctest -j) may hold the lock on /etc/passwd.
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (std::system((command + " 2>/dev/null").c_str()) == 0) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  static void SetUpTestSuite() {
    CheckpointAgentTest::SetUpTestSuite();
    if (::geteuid() != 0) return;
    user_ = "drvc" + std::to_string(::getpid());
    created_ = run_retrying("useradd -M -s /usr/sbin/nologin " + user_);
    if (!created_) user_.clear();
  }
  static void TearDownTestSuite() {
    if (!user_.empty()) run_retrying("userdel " + user_);  // its own group too
    created_ = false;
  }
  void SetUp() override {
    CheckpointAgentTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run jobs as another user";
    if (!created_) GTEST_SKIP() << "could not create a temporary user with useradd";
    const passwd* pw = ::getpwnam(user_.c_str());
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
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
  static inline bool created_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::string home_;
};

TEST_F(CheckpointOtherUserTest, TheMissingPartsAreMadeByTheJobsUser) {
  LaunchSpec s = user_spec(10);
  s.make_dir = home_ + "/scratch/ckpt/10";
  s.argv = {"touch", s.make_dir + "/written-by-job"};  // the user can write into it
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  EXPECT_EQ(decode_wait_status(guard.wait()).exit_code, 0);
  for (const std::string& dir : {home_ + "/scratch", home_ + "/scratch/ckpt", s.make_dir}) {
    struct stat st {};
    ASSERT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_uid, uid_) << dir << " not made by the job's user";
    EXPECT_EQ(st.st_gid, gid_) << dir;
  }
  EXPECT_TRUE(fs::exists(s.make_dir + "/written-by-job"));
  // What existed before (tmp_, owned by root) is left as it was.
  struct stat st {};
  ASSERT_EQ(::stat(tmp_.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(CheckpointOtherUserTest, ADirectoryTheUserMayNotMakeIsReportedAndTheJobDoesNotStart) {
  const std::string root_only = tmp_ + "/root-only";
  fs::create_directory(root_only);
  ::chmod(root_only.c_str(), 0755);
  LaunchSpec s = user_spec(11);
  s.make_dir = root_only + "/ckpt/11";
  s.argv = {"touch", home_ + "/ran"};
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_FALSE(job);
  EXPECT_EQ(job.message(), "cannot create directory " + root_only + "/ckpt: Permission denied");
  EXPECT_FALSE(fs::exists(root_only + "/ckpt"));  // the agent did not make it as root either
  EXPECT_FALSE(fs::exists(home_ + "/ran"));
  EXPECT_FALSE(fs::exists(s.stdout_path));
}

// ---- signal_job_handlers -------------------------------------------------------------------

// Reads what the processes of a test write into a pipe, with a bound.
class PipeReader {
 public:
  PipeReader() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_ = fds[0];
    write_ = fds[1];
  }
  ~PipeReader() {
    if (read_ >= 0) ::close(read_);
    if (write_ >= 0) ::close(write_);
  }
  int write_end() const { return write_; }
  void close_write_end() {
    ::close(write_);
    write_ = -1;
  }
  // Reads until `want` appears `times` times in what was read (or 5 s pass).
  bool wait_for(char want, std::ptrdiff_t times = 1) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (count(want) < times) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{read_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[64];
      const ssize_t n = ::read(read_, buf, sizeof buf);
      if (n <= 0) return false;
      got_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  const std::string& got() const { return got_; }
  std::ptrdiff_t count(char c) const { return std::count(got_.begin(), got_.end(), c); }

 private:
  int read_ = -1;
  int write_ = -1;
  std::string got_;
};

int g_report_fd = -1;
extern "C" void report_usr1(int) {
  const char c = 'S';
  (void)!::write(g_report_fd, &c, 1);
}

// A job without a cgroup, as launch_job makes it: a process group whose leader
// is job.pid. The leader blocks SIGUSR1 and has no handler (a signal sent to it
// would stay pending: ShdPnd), one child handles SIGUSR1 (reports 'S'), one has
// no handler at all (would die of it). Each reports 'l', 'h', 'n' when ready.
struct ForkedJob {
  pid_t leader = -1;
  pid_t handler = -1;
  pid_t plain = -1;
};

[[noreturn]] void run_leader(int report_fd, int pid_fd) {
  ::setpgid(0, 0);
  ::signal(SIGUSR1, SIG_DFL);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ::sigprocmask(SIG_UNBLOCK, &usr1, nullptr);
  const pid_t handler = ::fork();
  if (handler == 0) {
    g_report_fd = report_fd;
    struct sigaction sa {};
    sa.sa_handler = report_usr1;
    ::sigaction(SIGUSR1, &sa, nullptr);
    (void)!::write(report_fd, "h", 1);
    for (;;) ::pause();
  }
  const pid_t plain = ::fork();
  if (plain == 0) {
    (void)!::write(report_fd, "n", 1);
    for (;;) ::pause();
  }
  ::sigprocmask(SIG_BLOCK, &usr1, nullptr);
  const pid_t pids[2] = {handler, plain};
  (void)!::write(pid_fd, pids, sizeof pids);
  (void)!::write(report_fd, "l", 1);
  for (;;) ::pause();
}

// Starts such a job, waits until all three are ready, and kills and reaps the
// whole group when it goes out of scope.
class ForkedJobGuard {
 public:
  explicit ForkedJobGuard(PipeReader& reports) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    job_.leader = ::fork();
    if (job_.leader == 0) run_leader(reports.write_end(), fds[1]);
    ::close(fds[1]);
    pid_t pids[2] = {-1, -1};
    ready_ = job_.leader > 0 && reports.wait_for('l') && reports.wait_for('h') && reports.wait_for('n') &&
             ::read(fds[0], pids, sizeof pids) == static_cast<ssize_t>(sizeof pids);
    ::close(fds[0]);
    job_.handler = pids[0];
    job_.plain = pids[1];
  }
  ~ForkedJobGuard() {
    if (job_.leader <= 0) return;
    ::kill(-job_.leader, SIGKILL);
    wait_for(job_.leader);
    // Its members come to us when we are a subreaper: reap them too.
    for (const pid_t pid : {job_.handler, job_.plain}) {
      if (pid <= 0) continue;
      int status;
      EXPECT_TRUE(eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid || errno == ECHILD || !alive(pid); }));
    }
  }
  ForkedJobGuard(const ForkedJobGuard&) = delete;
  ForkedJobGuard& operator=(const ForkedJobGuard&) = delete;
  bool ready() const { return ready_; }
  const ForkedJob& pids() const { return job_; }
  LaunchedJob launched() const {
    LaunchedJob j;
    j.pid = job_.leader;  // no cgroup: the job's process group, found through /proc
    return j;
  }

 private:
  ForkedJob job_;
  bool ready_ = false;
};

class SignalHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(forked_.ready()) << reports_.got();
    job_ = forked_.pids();
    // The handler's SigCgt is set by the time it reported 'h'.
    ASSERT_TRUE(status_mask_has(job_.handler, "SigCgt", SIGUSR1));
    ASSERT_FALSE(status_mask_has(job_.plain, "SigCgt", SIGUSR1));
    ASSERT_FALSE(status_mask_has(job_.leader, "SigCgt", SIGUSR1));
  }
  LaunchedJob launched() const { return forked_.launched(); }

  PipeReader reports_;
  ForkedJobGuard forked_{reports_};
  ForkedJob job_;
};

TEST_F(SignalHandlersTest, OnlyAProcessWithAHandlerIsSignalled) {
  EXPECT_EQ(signal_job_handlers(launched(), SIGUSR1), 1);
  EXPECT_TRUE(reports_.wait_for('S')) << "the handler got no signal: " << reports_.got();
  EXPECT_EQ(reports_.count('S'), 1);
  // The leader was not sent it (it would be pending, as it blocks it), and the
  // process without a handler is alive.
  EXPECT_FALSE(status_mask_has(job_.leader, "ShdPnd", SIGUSR1));
  EXPECT_TRUE(alive(job_.leader));
  EXPECT_TRUE(alive(job_.plain));
  EXPECT_TRUE(alive(job_.handler));

  // Again (drover checkpoint twice): the handler is still there.
  EXPECT_EQ(signal_job_handlers(launched(), SIGUSR1), 1);
  EXPECT_TRUE(reports_.wait_for('S', 2)) << reports_.got();
  EXPECT_FALSE(status_mask_has(job_.leader, "ShdPnd", SIGUSR1));
}

TEST_F(SignalHandlersTest, ASignalNobodyHandlesIsSentToNobody) {
  EXPECT_EQ(signal_job_handlers(launched(), SIGUSR2), 0);
  EXPECT_EQ(signal_job_handlers(launched(), SIGTERM), 0);
  EXPECT_TRUE(alive(job_.leader));
  EXPECT_TRUE(alive(job_.plain));
  EXPECT_TRUE(alive(job_.handler));
  EXPECT_EQ(reports_.count('S'), 0);
}

TEST_F(SignalHandlersTest, ProcessesOutsideTheJobAreLeftAlone) {
  // A second job of the same shape: signalling one reaches only its own handler.
  PipeReader other_reports;
  ForkedJobGuard other(other_reports);
  ASSERT_TRUE(other.ready()) << other_reports.got();

  EXPECT_EQ(signal_job_handlers(launched(), SIGUSR1), 1);
  EXPECT_TRUE(reports_.wait_for('S'));
  EXPECT_EQ(signal_job_handlers(other.launched(), SIGUSR1), 1);
  EXPECT_TRUE(other_reports.wait_for('S'));
  EXPECT_EQ(reports_.count('S'), 1) << "the first job got the second's signal";
  EXPECT_EQ(other_reports.count('S'), 1) << "the second job got the first's signal";
}

TEST(SignalHandlers, AJobWithoutProcessesIsSignalledNowhere) {
  EXPECT_EQ(signal_job_handlers(LaunchedJob{}, SIGUSR1), 0);  // pid -1: never launched
}

// A real job through launch_job: a batch shell that traps SIGUSR1 and a `sleep`
// it started, which does not.
TEST_F(CheckpointAgentTest, ABatchShellThatTrapsTheSignalGetsItAndItsSleepLives) {
  LaunchSpec s = spec(20);
  const std::string pid_file = tmp_ + "/sleep.pid";
  const std::string caught = tmp_ + "/caught";
  s.script = "#!/bin/sh\n"
             "trap 'echo caught > " + caught + "' USR1\n"
             "sleep 1000 &\n"
             "echo $! > " + pid_file + ".tmp && mv " + pid_file + ".tmp " + pid_file + "\n"
             "wait\n"
             "wait\n";
  auto job = launch_job(s, CgroupLayout{});
  ASSERT_TRUE(job) << job.message();
  JobGuard guard(*job);
  ASSERT_TRUE(eventually([&] { return !read_text(pid_file).empty(); })) << read_text(s.stdout_path);
  const pid_t sleeper = static_cast<pid_t>(std::stol(read_text(pid_file)));
  // Until it has run sleep, the shell's child is a copy of the shell, trap included.
  ASSERT_TRUE(eventually([&] { return read_text("/proc/" + std::to_string(sleeper) + "/comm") == "sleep\n"; }));
  ASSERT_FALSE(status_mask_has(sleeper, "SigCgt", SIGUSR1));
  ASSERT_TRUE(status_mask_has(job->pid, "SigCgt", SIGUSR1));

  EXPECT_EQ(signal_job_handlers(*job, SIGUSR1), 1);
  EXPECT_TRUE(eventually([&] { return read_text(caught) == "caught\n"; })) << read_text(s.stdout_path);
  EXPECT_TRUE(alive(sleeper)) << "sleep has no handler; it would have died of the signal";
  EXPECT_TRUE(alive(job->pid));
  EXPECT_FALSE(status_mask_has(sleeper, "ShdPnd", SIGUSR1));
}

}  // namespace
}  // namespace drover::agent
