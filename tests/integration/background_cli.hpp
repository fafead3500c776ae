// `drover ARGS...` running in the background while a test acts on it (drover run:
// send it a signal, read its output while the job runs). Output goes to files.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include "cluster.hpp"

namespace drover::it {

class BackgroundCli {
 public:
  BackgroundCli(Cluster& cluster, const std::vector<std::string>& args,
                std::vector<std::pair<std::string, std::string>> env = {}) {
    static int counter = 0;
    const std::string base = cluster.dir() + "/bg-" + std::to_string(++counter);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    std::vector<std::string> argv = {kBinDir + "/drover", "--socket", cluster.socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    env.insert(env.begin(), {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                             {"LANG", "C.UTF-8"},
                             {"HOME", cluster.dir()},
                             {"USER", "root"},
                             {"DROVER_IT_TAG", cluster.tag()}});
    std::vector<std::string> env_storage;
    for (const auto& [k, v] : env) env_storage.push_back(k + "=" + v);
    const std::string cwd = cluster.work_dir();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<char*> a, e;
      for (auto& s : argv) a.push_back(s.data());
      a.push_back(nullptr);
      for (auto& s : env_storage) e.push_back(s.data());
      e.push_back(nullptr);
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0 || ::chdir(cwd.c_str()) != 0) ::_exit(121);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execve(a[0], a.data(), e.data());
      ::_exit(122);
    }
  }
  BackgroundCli(const BackgroundCli&) = delete;
  BackgroundCli& operator=(const BackgroundCli&) = delete;
  ~BackgroundCli() {
    if (pid_ > 0 && code_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Whether it has exited (reaped: its code is then known).
  bool exited() {
    if (code_ >= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  // Its exit code, or -1 if it still runs after timeout_ms.
  int wait(int timeout_ms = 30000) {
    wait_until([&] { return exited(); }, timeout_ms);
    return code_;
  }
  std::string describe() const { return "exit " + std::to_string(code_) + "\n--- stdout:\n" + out() + "\n--- stderr:\n" + err(); }

 private:
  pid_t pid_ = -1;
  int code_ = -1;
  std::string out_path_, err_path_;
};

}  // namespace drover::it
