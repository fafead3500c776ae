// Helpers shared by the agent's tests that start real job processes: reading a
// small file, waiting for a child with a bound, and a guard that kills, reaps and
// removes a launched job even when a test fails halfway.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "agent/job_launcher.hpp"

namespace drover::agent::test_support {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits for a child of this process with a bound, so a broken test fails instead of hanging.
inline int wait_for(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(30)) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "process " << pid << " did not exit in time";
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Kills, reaps and removes whatever a test launched, even when it fails halfway.
class JobGuard {
 public:
  explicit JobGuard(LaunchedJob job) : job_(std::move(job)) {}
  ~JobGuard() {
    if (!reaped_) {
      signal_job(job_, SIGKILL);
      (void)job_.cgroup.kill_all();
      wait_for(job_.pid);
    }
    (void)job_.cgroup.remove();
  }
  JobGuard(const JobGuard&) = delete;
  JobGuard& operator=(const JobGuard&) = delete;
  int wait() {
    const int status = wait_for(job_.pid);
    reaped_ = true;
    return status;
  }
  const LaunchedJob& job() const { return job_; }

 private:
  LaunchedJob job_;
  bool reaped_ = false;
};

}  // namespace drover::agent::test_support
