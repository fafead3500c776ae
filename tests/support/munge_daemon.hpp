// A private munged for a test: its own key, socket and log in a temporary
// directory, stopped when the object goes away. Needs munged (Debian: munge);
// available() is false, with why(), where it cannot start.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

namespace drover::testing {

class MungeDaemon {
 public:
  // key: a file to share with another daemon (several "nodes" with one key);
  // empty: a fresh random key.
  explicit MungeDaemon(const std::string& key = {}) {
    char tmpl[] = "/tmp/drover-munge-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      why_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);  // job users reach the socket too
    key_ = key.empty() ? dir_ + "/munge.key" : key;
    if (key.empty()) {
      std::ofstream k(key_, std::ios::binary);
      std::random_device rd;
      for (int i = 0; i < 1024; ++i) k.put(static_cast<char>(rd()));
      k.close();
      ::chmod(key_.c_str(), 0400);
    }
    const std::string cmd = "munged -f --socket=" + socket() + " --key-file=" + key_ +
                            " --pid-file=" + dir_ + "/munged.pid --seed-file=" + dir_ +
                            "/munged.seed --log-file=" + dir_ + "/munged.log 2>" + dir_ + "/start.err";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream e(dir_ + "/start.err");
      std::string line;
      std::getline(e, line);
      why_ = "munged did not start: " + line;
      return;
    }
    for (int i = 0; i < 100 && !std::filesystem::exists(socket()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::ifstream p(dir_ + "/munged.pid");
    p >> pid_;
    if (pid_ <= 0) why_ = "munged wrote no pid file";
  }
  ~MungeDaemon() {
    // SIGTERM makes munged save its seed and wait ~1.5 s for its threads;
    // a test's daemon has nothing worth keeping.
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  MungeDaemon(const MungeDaemon&) = delete;
  MungeDaemon& operator=(const MungeDaemon&) = delete;

  bool available() const { return pid_ > 0; }
  const std::string& why() const { return why_; }
  std::string socket() const { return dir_ + "/munge.sock"; }
  const std::string& key_file() const { return key_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, key_, why_;
  pid_t pid_ = 0;
};

}  // namespace drover::testing
