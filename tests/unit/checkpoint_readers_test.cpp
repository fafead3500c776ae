// Checkpoints are plain HDF5: h5dump and h5py read them without libdrover-checkpoint.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>

#include "checkpoint_support.hpp"

namespace drover::checkpoint {
namespace {

using namespace testing;

// Output and exit status of a shell command.
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

bool have(const std::string& program) { return run("command -v " + program).first == 0; }

class CheckpointReaders : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.directory = dir_.path();
    o.install_signal_handler = false;
    auto s = Store::open(o);
    ASSERT_TRUE(s) << s.message();
    auto w = s->begin(42, 1.5);
    ASSERT_TRUE(w) << w.message();
    std::vector<double> t(6);
    for (int i = 0; i < 6; ++i) t[i] = i + 0.5;
    std::vector<std::int32_t> n{7, 8, 9};
    ASSERT_TRUE(w->write_whole<double>("T", Shape{2, 3}, t));
    ASSERT_TRUE(w->write_whole<std::int32_t>("n", Shape{3}, n));
    ASSERT_TRUE(w->set_attribute("solver", "heat2d"));
    ASSERT_TRUE(w->set_attribute("nx", 512));
    auto c = w->commit();
    ASSERT_TRUE(c) << c.message();
    file_ = c->path + "/data.h5";
  }
  TempDir dir_;
  std::string file_;
};

TEST_F(CheckpointReaders, H5dump) {
  if (!have("h5dump")) GTEST_SKIP() << "h5dump is not installed (Debian: hdf5-tools)";
  auto [rc, out] = run("h5dump '" + file_ + "'");
  ASSERT_EQ(rc, 0) << out;
  for (const char* want :
       {"ATTRIBUTE \"drover_step\"", "H5T_STD_I64LE", "(0): 42", "ATTRIBUTE \"drover_time\"", "(0): 1.5",
        "ATTRIBUTE \"drover_ranks\"", "GROUP \"data\"", "DATASET \"T\"", "SIMPLE { ( 2, 3 ) / ( 2, 3 ) }",
        "(0,0): 0.5, 1.5, 2.5,", "(1,0): 3.5, 4.5, 5.5", "DATASET \"n\"", "(0): 7, 8, 9", "GROUP \"meta\"",
        "ATTRIBUTE \"solver\"", "\"heat2d\"", "ATTRIBUTE \"nx\""})
    EXPECT_NE(out.find(want), std::string::npos) << want << " not in\n" << out;
}

TEST_F(CheckpointReaders, H5py) {
  // Debian's h5py is in /usr/bin/python3's path; a python3 earlier in PATH may lack it.
  std::string python;
  for (const char* p : {"/usr/bin/python3", "python3"})
    if (run(std::string(p) + " -c 'import h5py'").first == 0) {
      python = p;
      break;
    }
  if (python.empty()) GTEST_SKIP() << "no python3 with h5py (Debian: python3-h5py)";
  const std::string script =
      "import h5py, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "print('step', int(f.attrs['drover_step']), 'time', float(f.attrs['drover_time']),"
      " 'ranks', int(f.attrs['drover_ranks']))\n"
      "print('T', f['data/T'].dtype, f['data/T'].shape, f['data/T'][1, 2])\n"
      "print('n', f['data/n'].dtype, list(f['data/n'][:]))\n"
      "print('solver', f['meta'].attrs['solver'], 'nx', int(f['meta'].attrs['nx']))\n";
  spit(dir_ / "read.py", script);
  auto [rc, out] = run(python + " '" + (dir_ / "read.py") + "' '" + file_ + "'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("step 42 time 1.5 ranks 1"), std::string::npos) << out;
  EXPECT_NE(out.find("T float64 (2, 3) 5.5"), std::string::npos) << out;
  EXPECT_NE(out.find("n int32 [7, 8, 9]"), std::string::npos) << out;
  EXPECT_NE(out.find("solver heat2d nx 512"), std::string::npos) << out;
}

}  // namespace
}  // namespace drover::checkpoint
