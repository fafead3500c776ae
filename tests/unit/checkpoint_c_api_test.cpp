// The C API (include/drover/checkpoint.h), driven from C: tests/unit/checkpoint_c_api_roundtrip.c.
#include <gtest/gtest.h>

#include "checkpoint_support.hpp"

extern "C" {
int c_api_roundtrip(const char* dir, char* why, size_t why_size);
int c_api_errors(const char* dir, char* why, size_t why_size);
int c_api_warning_handler(const char* dir, const char* damaged_file, char* warnings, char* why, size_t why_size);
}

namespace drover::checkpoint {
namespace {

using namespace testing;

TEST(CheckpointCApi, RoundTrip) {
  TempDir dir;
  char why[512] = "";
  EXPECT_EQ(c_api_roundtrip(dir.path().c_str(), why, sizeof why), 0) << why;
  // keep_last 2 of steps 1..3
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"ckpt-000000000002", "ckpt-000000000003"}));
}

TEST(CheckpointCApi, ErrorsAreCodesAndMessages) {
  TempDir dir;
  ScopedEnv unset("DROVER_CHECKPOINT_DIR", std::nullopt);
  char why[512] = "";
  EXPECT_EQ(c_api_errors(dir.path().c_str(), why, sizeof why), 0) << why;
  EXPECT_TRUE(entries(dir.path()).empty());
}

TEST(CheckpointCApi, WarningsGoToTheHandler) {
  TempDir dir;
  char why[512] = "";
  ASSERT_EQ(c_api_roundtrip(dir.path().c_str(), why, sizeof why), 0) << why;
  std::vector<char> warnings(4096, '\0');
  const std::string damaged = dir / "ckpt-000000000003/manifest.json";
  EXPECT_EQ(c_api_warning_handler(dir.path().c_str(), damaged.c_str(), warnings.data(), why, sizeof why), 0) << why;
  const std::string text = warnings.data();
  EXPECT_NE(text.find("skipped checkpoint " + (dir / "ckpt-000000000003") + ": manifest.json: not valid JSON"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace drover::checkpoint
