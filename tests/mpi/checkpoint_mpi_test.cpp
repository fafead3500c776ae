// libdrover-checkpoint under a real mpirun: tests/mpi/checkpoint_ranks.cpp with 2 ranks
// writing one shared file collectively (parallel HDF5), read back by 1 and by 3 ranks with
// other decompositions; the checkpoint signal seen by one rank stops all; a rank that fails
// means nobody commits.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

namespace {

namespace fs = std::filesystem;
const std::string kRanks = DROVER_CHECKPOINT_RANKS;

std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class CheckpointMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kRanks.empty()) GTEST_SKIP() << "libdrover-checkpoint was built without MPI (serial HDF5)";
    if (run("command -v mpirun").first != 0) GTEST_SKIP() << "mpirun is not installed";
    char tmpl[] = "/tmp/drover-ckpt-mpi-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  // mpirun as CI runs it: as root, more ranks than cores.
  std::pair<int, std::string> mpirun(int ranks, const std::string& args) {
    return run("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
               "mpirun --oversubscribe -np " + std::to_string(ranks) + " " + kRanks + " " + args);
  }
  std::string dir_;
};

TEST_F(CheckpointMpi, TwoRanksWriteOneSharedFileThatOneAndThreeRanksReadBack) {
  // 7 rows do not split evenly over 2 or 3 ranks; 5 columns neither.
  auto [rc, out] = mpirun(2, "write " + dir_ + " 12 7 5");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("rank 0 committed 12 ranks 2"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 1 committed 12 ranks 2"), std::string::npos) << out;
  ASSERT_TRUE(fs::exists(dir_ + "/ckpt-000000000012/data.h5")) << out;
  EXPECT_FALSE(fs::exists(dir_ + "/ckpt-000000000012/data.h5.0"));  // one shared file, nothing per rank

  const std::regex line(R"(rank (\d) of (\d) step 12 written by 2 ranks checked (\d+) wrong 0 mismatch: (.*))");
  for (int readers : {1, 3}) {
    auto [rrc, rout] = mpirun(readers, "read " + dir_ + " 7 5");
    ASSERT_EQ(rrc, 0) << readers << " readers:\n" << rout;
    int seen = 0;
    for (auto it = std::sregex_iterator(rout.begin(), rout.end(), line); it != std::sregex_iterator(); ++it, ++seen) {
      EXPECT_EQ(std::stoi((*it)[2]), readers) << rout;
      EXPECT_EQ((*it)[4].str(),
                "checkpoint 12: read of dataset 'T' failed: shape mismatch: the checkpoint has [7,5], the caller "
                "expects [8,5]")
          << rout;
    }
    EXPECT_EQ(seen, readers) << rout;
  }
}

TEST_F(CheckpointMpi, OneRankSignalledMeansEveryRankStops) {
  auto [rc, out] = mpirun(2, "stop " + dir_);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("rank 0 local 0 agreed 1"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 1 local 1 agreed 1"), std::string::npos) << out;
}

TEST_F(CheckpointMpi, AFailingRankMeansNobodyCommits) {
  auto [wrc, wout] = mpirun(2, "write " + dir_ + " 3 4 4");
  ASSERT_EQ(wrc, 0) << wout;
  auto [rc, out] = mpirun(2, "fail " + dir_ + " 4");
  ASSERT_EQ(rc, 0) << out;
  const std::string why =
      "checkpoint 4: write of dataset 'T' failed: slab offset [6] count [4] is outside the global shape [8] (on rank 1)";
  EXPECT_NE(out.find("rank 0 write: " + why + " | commit: checkpoint 4: not committed: write of dataset 'T' failed"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("rank 1 write: " + why), std::string::npos) << out;
  EXPECT_NE(out.find("rank 0 write: "), std::string::npos) << out;
  EXPECT_NE(out.find("| latest 3"), std::string::npos) << out;
  EXPECT_EQ(out.find("| latest 4"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ + "/ckpt-000000000004"));
}

}  // namespace
