// Slurm's time-limit and memory spellings, and squeue-style durations.
#include "core/units.hpp"

#include <gtest/gtest.h>

#include <string>

namespace drover {
namespace {

struct TimeCase {
  const char* text;
  std::int64_t seconds;
};

class ParseTimeLimit : public ::testing::TestWithParam<TimeCase> {};

TEST_P(ParseTimeLimit, Accepts) {
  auto r = parse_time_limit(GetParam().text);
  ASSERT_TRUE(r) << GetParam().text << ": " << r.message();
  EXPECT_EQ(*r, GetParam().seconds) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    SlurmFormats, ParseTimeLimit,
    ::testing::Values(TimeCase{"1", 60},                       // M
                      TimeCase{"90", 5400},                    // M
                      TimeCase{"0:30", 30},                    // M:S
                      TimeCase{"10:05", 605},                  // M:S
                      TimeCase{"1:30:00", 5400},               // H:M:S
                      TimeCase{"01:02:03", 3723},              // H:M:S, leading zeros
                      TimeCase{"100:00:00", 360000},           // H:M:S, many hours
                      TimeCase{"2-0", 2 * 86400},              // D-H
                      TimeCase{"1-12", 86400 + 12 * 3600},     // D-H
                      TimeCase{"1-2:30", 86400 + 2 * 3600 + 30 * 60},       // D-H:M
                      TimeCase{"2-12:00:00", 2 * 86400 + 12 * 3600},        // D-H:M:S
                      TimeCase{"0-0:0:1", 1},                               // D-H:M:S
                      TimeCase{"3-04:05:06", 3 * 86400 + 4 * 3600 + 5 * 60 + 6},
                      TimeCase{"UNLIMITED", 0}, TimeCase{"unlimited", 0},
                      TimeCase{"INFINITE", 0}, TimeCase{"Infinite", 0},
                      TimeCase{"1000000000", 60'000'000'000}));  // the largest field

class ParseTimeLimitBad : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseTimeLimitBad, Refuses) {
  const std::string text = GetParam();
  auto r = parse_time_limit(text);
  ASSERT_FALSE(r) << "'" << text << "' accepted as " << *r;
  EXPECT_EQ(r.message().rfind("time limit '" + text + "': ", 0), 0u) << r.message();
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, ParseTimeLimitBad,
    ::testing::Values("", "0", "0:0", "0-0", "0-0:0:0", "-5", "-1:00", "1:2:3:4", "1-2:3:4:5",
                      "a", "1h", "1.5", " 5", "5 ", "+5", "1:", ":30", "1::2", "1-", "-",
                      "1-2-3", "99999999999",  // 11 digits
                      "1000000001",            // over the per-field limit
                      "1-99999999999:00", "UNLIMITEDX", "1:2:a"));

TEST(ParseTimeLimit, ZeroSaysWhy) {
  auto r = parse_time_limit("0");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("longer than 0"), std::string::npos) << r.message();
  r = parse_time_limit("1:2:3:4");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("D-H:M:S"), std::string::npos) << r.message();
}

struct MemCase {
  const char* text;
  std::int64_t mib;
};

class ParseMemory : public ::testing::TestWithParam<MemCase> {};

TEST_P(ParseMemory, Accepts) {
  auto r = parse_memory_mib(GetParam().text);
  ASSERT_TRUE(r) << GetParam().text << ": " << r.message();
  EXPECT_EQ(*r, GetParam().mib) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Units, ParseMemory,
    ::testing::Values(MemCase{"500", 500}, MemCase{"0", 0}, MemCase{"500M", 500},
                      MemCase{"500m", 500}, MemCase{"4G", 4096}, MemCase{"4g", 4096},
                      MemCase{"1T", 1024 * 1024}, MemCase{"1t", 1024 * 1024},
                      MemCase{"2048K", 2}, MemCase{"2048k", 2},
                      MemCase{"1K", 1},      // rounded up to a whole MiB
                      MemCase{"1025K", 2},   // rounded up
                      MemCase{"4Gi", 4096}, MemCase{"4gi", 4096}, MemCase{"512Mi", 512},
                      MemCase{"2Ti", 2 * 1024 * 1024}, MemCase{"1024Ki", 1},
                      MemCase{"1000000000", 1'000'000'000},
                      MemCase{"1000000000T", 1'000'000'000LL * 1024 * 1024}));

class ParseMemoryBad : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseMemoryBad, Refuses) {
  const std::string text = GetParam();
  auto r = parse_memory_mib(text);
  ASSERT_FALSE(r) << "'" << text << "' accepted as " << *r;
  EXPECT_EQ(r.message().rfind("memory '" + text + "': ", 0), 0u) << r.message();
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, ParseMemoryBad,
    ::testing::Values("", "G", "Gi", "-1", "-4G", "4X", "4GB", "4B", "4i", "4 G", "1.5G",
                      "4GG", "0x10", "abc", "99999999999",  // 11 digits
                      "1000000001G",                        // over the per-field limit
                      "99999999999999999999T"));

TEST(ParseMemory, BadUnitIsNamed) {
  auto r = parse_memory_mib("4X");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("'X'"), std::string::npos) << r.message();
}

struct DurationCase {
  std::int64_t seconds;
  const char* text;
};

class FormatDuration : public ::testing::TestWithParam<DurationCase> {};

TEST_P(FormatDuration, LikeSqueue) {
  EXPECT_EQ(format_duration(GetParam().seconds), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FormatDuration,
    ::testing::Values(DurationCase{0, "0:00"}, DurationCase{-5, "0:00"}, DurationCase{5, "0:05"},
                      DurationCase{59, "0:59"}, DurationCase{60, "1:00"},
                      DurationCase{3599, "59:59"}, DurationCase{3600, "1:00:00"},
                      DurationCase{3723, "1:02:03"}, DurationCase{86399, "23:59:59"},
                      DurationCase{86400, "1-00:00:00"}, DurationCase{93784, "1-02:03:04"},
                      DurationCase{100 * 86400 + 1, "100-00:00:01"}));

TEST(FormatDuration, RoundTripsThroughParseTimeLimit) {
  for (std::int64_t s : {60, 61, 3599, 3600, 3723, 86400, 93784, 10 * 86400 + 7}) {
    auto r = parse_time_limit(format_duration(s));
    ASSERT_TRUE(r) << format_duration(s);
    EXPECT_EQ(*r, s) << format_duration(s);
  }
}

}  // namespace
}  // namespace drover
