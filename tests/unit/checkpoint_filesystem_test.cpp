// libdrover-checkpoint on file systems that refuse: a full disk and a read-only one. Each
// case runs in a child process with a private mount namespace and a tiny tmpfs (root only;
// the test skips, saying why, where namespaces cannot be made).
#include <gtest/gtest.h>

#include <iostream>

#include "checkpoint_support.hpp"

namespace drover::checkpoint {
namespace {

using namespace testing;

std::string listing(const std::string& dir) {
  std::string out;
  for (const auto& e : entries(dir)) out += (out.empty() ? "" : " ") + e;
  return out;
}

// Commits step `step` with `n` doubles; "" or the error.
std::string commit_doubles(Store& store, std::int64_t step, std::size_t n) {
  auto w = store.begin(step, 0.0);
  if (!w) return w.message();
  std::vector<double> v(n, static_cast<double>(step));
  if (auto r = w->write_whole<double>("T", Shape{n}, v); !r) return r.message();
  auto c = w->commit();
  return c ? "" : c.message();
}

Store open_quiet(const std::string& dir) {
  Options o;
  o.directory = dir;
  o.install_signal_handler = false;
  o.on_warning = [](const std::string&) {};
  auto s = Store::open(o);
  if (!s) std::abort();
  return std::move(*s);
}

TEST(CheckpointFileSystem, FullDiskFailsTheCheckpointAndKeepsThePreviousOne) {
  TempDir mnt;
  auto child = run_child([&](int fd) {
    if (auto why = private_tmpfs(mnt.path(), "size=1m"); !why.empty()) {
      say(fd, "SKIP " + why);
      return 0;
    }
    const std::string dir = mnt / "ckpt";
    Store store = open_quiet(dir);
    say(fd, "first: " + commit_doubles(store, 1, 8192));  // 64 KiB
    // 2 MiB does not fit in 1 MiB: the write (or the flush at commit) fails.
    say(fd, "second: " + commit_doubles(store, 2, 1 << 18));
    say(fd, "entries: " + listing(dir));
    Store again = open_quiet(dir);
    auto l = again.latest();
    say(fd, "latest: " + (l && *l ? std::to_string((*l)->step) : std::string("none")));
    // Space comes back (an old file removed): the next checkpoint works.
    say(fd, "third: " + commit_doubles(again, 3, 8192));
    say(fd, "entries: " + listing(dir));
    return 0;
  });
  std::cout << child.output;  // what the checkpoint said, for the log
  ASSERT_EQ(child.status, 0) << child.output;
  if (child.output.rfind("SKIP ", 0) == 0) GTEST_SKIP() << "no private tmpfs: " << child.output.substr(5);
  EXPECT_NE(child.output.find("first: \n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("second: checkpoint 2: "), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("No space left on device"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("entries: ckpt-000000000001\n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("latest: 1\n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("third: \n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("entries: ckpt-000000000001 ckpt-000000000003\n"), std::string::npos) << child.output;
}

TEST(CheckpointFileSystem, ReadOnlyDirectoryFailsTheCheckpointAndStillRestarts) {
  TempDir mnt;
  auto child = run_child([&](int fd) {
    if (auto why = private_tmpfs(mnt.path(), "size=4m"); !why.empty()) {
      say(fd, "SKIP " + why);
      return 0;
    }
    const std::string dir = mnt / "ckpt";
    {
      Store store = open_quiet(dir);
      say(fd, "first: " + commit_doubles(store, 1, 100));
    }
    if (::mount(nullptr, mnt.path().c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      say(fd, std::string("SKIP remount read-only: ") + std::strerror(errno));
      return 0;
    }
    Store store = open_quiet(dir);
    say(fd, "second: " + commit_doubles(store, 2, 100));
    auto l = store.latest();
    say(fd, "latest: " + (l && *l ? std::to_string((*l)->step) : std::string("none")));
    Options o;
    o.directory = mnt / "elsewhere";
    o.install_signal_handler = false;
    auto missing = Store::open(o);
    say(fd, "open: " + (missing ? std::string("ok") : missing.message()));
    return 0;
  });
  std::cout << child.output;  // what the checkpoint said, for the log
  ASSERT_EQ(child.status, 0) << child.output;
  const auto skip = child.output.find("SKIP ");
  if (skip != std::string::npos) GTEST_SKIP() << child.output.substr(skip + 5);
  EXPECT_NE(child.output.find("first: \n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("second: checkpoint 2: cannot create directory " + mnt.path() + "/ckpt/.tmp-ckpt-000000000002-"),
            std::string::npos)
      << child.output;
  EXPECT_NE(child.output.find(": Read-only file system\n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("latest: 1\n"), std::string::npos) << child.output;
  EXPECT_NE(child.output.find("open: open checkpoint store: cannot create directory " + mnt.path() + "/elsewhere: Read-only file system"),
            std::string::npos)
      << child.output;
}

}  // namespace
}  // namespace drover::checkpoint
