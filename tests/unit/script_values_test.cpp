// The value syntaxes of submit options: every time-limit and memory format as an option
// reads it, array specs, dependency expressions, begin times, signal specs.
#include <gtest/gtest.h>

#include <string>

#include "script/array_spec.hpp"
#include "script/begin_time.hpp"
#include "script/dependency.hpp"
#include "script/signal_spec.hpp"
#include "script/submit_options.hpp"

namespace drover::script {
namespace {

const Origin kLine7 = Origin::directive(Source::SbatchDirective, "job.sh", 7);

// ---- --time and --time-min: core's parse_time_limit, plus sbatch's zero = unlimited ----

struct TimeCase {
  const char* text;
  std::int64_t seconds;
};

class TimeOption : public ::testing::TestWithParam<TimeCase> {};

TEST_P(TimeOption, EveryFormat) {
  for (const char* option : {"--time", "--time-min"}) {
    SubmitOptions o;
    auto st = apply_option(o, option, std::string_view(GetParam().text), kLine7);
    ASSERT_TRUE(st) << st.message();
    const auto& field = std::string(option) == "--time" ? o.time_limit_s : o.time_min_s;
    ASSERT_TRUE(field.has_value());
    EXPECT_EQ(*field, GetParam().seconds) << option << "=" << GetParam().text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, TimeOption,
    ::testing::Values(TimeCase{"30", 30 * 60},                    // M
                      TimeCase{"5:30", 5 * 60 + 30},              // M:S
                      TimeCase{"1:30:00", 5400},                  // H:M:S
                      TimeCase{"48:00:00", 48 * 3600},            // H:M:S past a day
                      TimeCase{"2-12", 2 * 86400 + 12 * 3600},    // D-H
                      TimeCase{"1-2:30", 86400 + 2 * 3600 + 1800},  // D-H:M
                      TimeCase{"7-00:00:00", 7 * 86400},          // D-H:M:S
                      TimeCase{"UNLIMITED", 0}, TimeCase{"unlimited", 0}, TimeCase{"INFINITE", 0},
                      TimeCase{"0", 0}, TimeCase{"00:00:00", 0},  // sbatch: zero means no limit
                      TimeCase{"0-0", 0}, TimeCase{"-1", 0}));

TEST(TimeOption, BadValueSaysFileLineOptionAndFormats) {
  SubmitOptions o;
  auto st = apply_option(o, "--time", std::string_view("abc"), kLine7);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message().rfind("job.sh:7: --time=abc: invalid time limit; use minutes", 0), 0u) << st.message();
  EXPECT_NE(st.message().find("D-H:M:S"), std::string::npos);
  EXPECT_NE(st.message().find("UNLIMITED"), std::string::npos);
  for (const char* bad : {"-5", "-2", "1:2:3:4", "1h", "1.5", "99999999999", "", "0:", "1-"}) {
    SubmitOptions p;
    EXPECT_FALSE(apply_option(p, "-t", std::string_view(bad), kLine7)) << bad;
  }
}

// ---- memory: K/M/G/T, sbatch's optional trailing B, MiB when bare ----

struct MemCase {
  const char* text;
  std::int64_t mib;
};

class MemoryOption : public ::testing::TestWithParam<MemCase> {};

TEST_P(MemoryOption, EveryUnit) {
  for (const char* option : {"--mem", "--mem-per-cpu", "--mem-per-gpu"}) {
    SubmitOptions o;
    auto st = apply_option(o, option, std::string_view(GetParam().text), kLine7);
    ASSERT_TRUE(st) << st.message();
    const std::string opt = option;
    const auto& f = opt == "--mem" ? o.mem_per_node_mib : opt == "--mem-per-cpu" ? o.mem_per_cpu_mib : o.mem_per_gpu_mib;
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(*f, GetParam().mib) << option << "=" << GetParam().text;
  }
}

INSTANTIATE_TEST_SUITE_P(Units, MemoryOption,
                         ::testing::Values(MemCase{"2048", 2048}, MemCase{"0", 0}, MemCase{"512K", 1},
                                           MemCase{"4096k", 4}, MemCase{"500M", 500}, MemCase{"500m", 500},
                                           MemCase{"4G", 4096}, MemCase{"32g", 32768},
                                           MemCase{"1T", 1048576}, MemCase{"4GB", 4096},
                                           MemCase{"32Gb", 32768}, MemCase{"500mb", 500},
                                           MemCase{"2TB", 2097152}, MemCase{"8Gi", 8192}));

TEST(MemoryOption, BadValues) {
  for (const char* bad : {"-4G", "4X", "4 G", "1.5G", "G", "4GBB", "B", "4B", "99999999999", ""}) {
    SubmitOptions o;
    auto st = apply_option(o, "--mem", std::string_view(bad), kLine7);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.message().rfind("job.sh:7: --mem=", 0), 0u) << st.message();
  }
  SubmitOptions o;
  auto st = apply_option(o, "--mem", std::string_view("4X"), kLine7);
  EXPECT_NE(st.message().find("invalid memory size; unknown unit 'X'"), std::string::npos) << st.message();
}

// ---- --array ----

TEST(ArraySpec, Forms) {
  auto a = parse_array_spec("0-15");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ranges, (std::vector<ArrayRange>{{0, 15, 1}}));
  EXPECT_EQ(a->task_count, 16);
  EXPECT_FALSE(a->max_running);

  a = parse_array_spec("1,3,5-9");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->task_count, 7);
  EXPECT_EQ(a->to_string(), "1,3,5-9");

  a = parse_array_spec("0-99:10");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ranges[0], (ArrayRange{0, 90, 10}));
  EXPECT_EQ(a->task_count, 10);

  a = parse_array_spec("1-10:4%2");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ranges[0], (ArrayRange{1, 9, 4}));  // 1, 5, 9
  EXPECT_EQ(a->task_count, 3);
  EXPECT_EQ(a->max_running, 2);
  EXPECT_EQ(a->to_string(), "1-9:4%2");

  a = parse_array_spec("1-1000%50");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->task_count, 1000);
  EXPECT_EQ(a->max_running, 50);

  a = parse_array_spec("7");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->task_count, 1);

  a = parse_array_spec("0-5,3-8,4");  // overlapping: each index once
  ASSERT_TRUE(a);
  EXPECT_EQ(a->task_count, 9);

  a = parse_array_spec("0-999999");  // exactly the limit
  ASSERT_TRUE(a);
  EXPECT_EQ(a->task_count, 1'000'000);
}

TEST(ArraySpec, TooManyTasksNamesTheLimit) {
  auto a = parse_array_spec("0-99999999");
  ASSERT_FALSE(a);
  EXPECT_NE(a.message().find("100000000 tasks; an array holds at most 1000000"), std::string::npos) << a.message();
  a = parse_array_spec("0-999999,1000000");
  ASSERT_FALSE(a);
  EXPECT_NE(a.message().find("at most 1000000"), std::string::npos) << a.message();
  SubmitOptions o;
  auto st = apply_option(o, "--array", std::string_view("0-99999999"), kLine7);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), "job.sh:7: --array=0-99999999: 100000000 tasks; an array holds at most 1000000");
}

TEST(ArraySpec, ThrottleZeroIsRefused) {
  auto a = parse_array_spec("1-10%0");
  ASSERT_FALSE(a);
  EXPECT_NE(a.message().find("%0 would never run a task"), std::string::npos) << a.message();
}

TEST(ArraySpec, BadSpecs) {
  for (const char* bad : {"", "%4", "1-", "-1", "5-1", "1-10:0", "1-10:-2", "a", "1,,2", "1-10%", "1-10%x",
                          "1-10%-1", "1:2", "1-2-3", "0-1000000000", "1-10%1000001", " 1", "1 ", "1-10:2:3"}) {
    auto a = parse_array_spec(bad);
    EXPECT_FALSE(a) << "'" << bad << "' accepted as " << a->to_string();
    if (!a) {
      EXPECT_EQ(a.message().rfind("array '", 0), 0u) << a.message();
    }
  }
}

// ---- --dependency ----

TEST(Dependency, Kinds) {
  auto d = parse_dependency("afterok:12:13,afterany:14");
  ASSERT_TRUE(d) << d.message();
  EXPECT_FALSE(d->any);
  ASSERT_EQ(d->terms.size(), 2u);
  EXPECT_EQ(d->terms[0].kind, DependencyKind::AfterOk);
  EXPECT_EQ(d->terms[0].targets.size(), 2u);
  EXPECT_EQ(d->terms[0].targets[1].job_id, 13);
  EXPECT_EQ(d->terms[1].kind, DependencyKind::AfterAny);
  EXPECT_EQ(d->to_string(), "afterok:12:13,afterany:14");

  d = parse_dependency("after:12+5:13");
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->terms[0].kind, DependencyKind::After);
  EXPECT_EQ(d->terms[0].targets[0].delay_minutes, 5);
  EXPECT_EQ(d->terms[0].targets[1].delay_minutes, 0);
  EXPECT_EQ(d->to_string(), "after:12+5:13");

  d = parse_dependency("afternotok:7?aftercorr:8");
  ASSERT_TRUE(d) << d.message();
  EXPECT_TRUE(d->any);
  EXPECT_EQ(d->terms[0].kind, DependencyKind::AfterNotOk);
  EXPECT_EQ(d->terms[1].kind, DependencyKind::AfterCorr);
  EXPECT_EQ(d->to_string(), "afternotok:7?aftercorr:8");

  d = parse_dependency("singleton");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->terms[0].kind, DependencyKind::Singleton);
  EXPECT_TRUE(d->terms[0].targets.empty());

  d = parse_dependency("AfterOK:5,SINGLETON");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->to_string(), "afterok:5,singleton");

  d = parse_dependency("42");  // Slurm's old format: after any end
  ASSERT_TRUE(d);
  EXPECT_EQ(d->terms[0].kind, DependencyKind::AfterAny);
  EXPECT_EQ(d->terms[0].targets[0].job_id, 42);

  d = parse_dependency("afterok:12_3");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->terms[0].targets[0].array_task, 3);

  for (const char* none : {"", "0"}) {
    d = parse_dependency(none);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->terms.empty());
  }
}

TEST(Dependency, Errors) {
  struct Bad {
    const char* text;
    const char* why;
  };
  for (const Bad& b : {Bad{"afterok:1,afterany:2?afterok:3", "mixes"}, Bad{"afterok", "not a dependency"},
                       Bad{"afterok:", "missing"}, Bad{"afterok:x", "not a job id"},
                       Bad{"afterok:0", "ids start at 1"}, Bad{"afterok:1+5", "only goes with after"},
                       Bad{"before:1", "not a dependency type"}, Bad{"afterok:1,,2", "empty entry"},
                       Bad{"afterok:-1", "not a job id"}, Bad{"afterok:99999999999999999999", "too large"},
                       Bad{"after:1+x", "+MINUTES"}, Bad{"expand:1", "not supported"},
                       Bad{"afterok:1_", "JOBID_TASK"}}) {
    auto d = parse_dependency(b.text);
    ASSERT_FALSE(d) << b.text;
    EXPECT_EQ(d.message().rfind("dependency '", 0), 0u) << d.message();
    EXPECT_NE(d.message().find(b.why), std::string::npos) << b.text << ": " << d.message();
  }
}

// ---- --begin, against a fixed clock: 2024-03-15 10:30:00 UTC, a Friday ----

const std::int64_t kNow = 1710498600;  // 2024-03-15T10:30:00Z

std::int64_t at(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return epoch_from_civil(CivilTime{y, mo, d, h, mi, s});
}

TEST(BeginTime, CivilConversionsRoundTrip) {
  EXPECT_EQ(at(2024, 3, 15, 10, 30), kNow);
  EXPECT_EQ(at(1970, 1, 1), 0);
  for (std::int64_t e : {std::int64_t{0}, std::int64_t{951782400}, std::int64_t{1709164800},
                         std::int64_t{4102444800}, std::int64_t{-86400}, kNow}) {
    EXPECT_EQ(epoch_from_civil(civil_from_epoch(e)), e);
  }
  EXPECT_EQ(civil_from_epoch(at(2024, 2, 29, 23, 59, 59)), (CivilTime{2024, 2, 29, 23, 59, 59}));
}

struct BeginCase {
  const char* text;
  std::int64_t epoch;
};

class BeginFormats : public ::testing::TestWithParam<BeginCase> {};

TEST_P(BeginFormats, Resolve) {
  const auto clock = Clock::fixed_offset(kNow);
  auto t = parse_begin_time(GetParam().text, clock);
  ASSERT_TRUE(t) << GetParam().text << ": " << t.message();
  EXPECT_EQ(*t, GetParam().epoch) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Slurm, BeginFormats,
    ::testing::Values(BeginCase{"2024-12-25", at(2024, 12, 25)},
                      BeginCase{"2024-12-25T08:15", at(2024, 12, 25, 8, 15)},
                      BeginCase{"2024-12-25T08:15:30", at(2024, 12, 25, 8, 15, 30)},
                      BeginCase{"2024-01-01T00:00", at(2024, 1, 1)},  // in the past: as given
                      BeginCase{"16:00", at(2024, 3, 15, 16)},        // later today
                      BeginCase{"16:00:30", at(2024, 3, 15, 16, 0, 30)},
                      BeginCase{"09:00", at(2024, 3, 16, 9)},  // passed today: tomorrow
                      BeginCase{"10:30", at(2024, 3, 16, 10, 30)},  // now exactly: tomorrow
                      BeginCase{"4:00 PM", at(2024, 3, 15, 16)}, BeginCase{"4:00pm", at(2024, 3, 15, 16)},
                      BeginCase{"12:00 AM", at(2024, 3, 16, 0)}, BeginCase{"11:45am", at(2024, 3, 15, 11, 45)},
                      BeginCase{"now", kNow}, BeginCase{"now+60", kNow + 60},
                      BeginCase{"now+90seconds", kNow + 90}, BeginCase{"now+1second", kNow + 1},
                      BeginCase{"now+10minutes", kNow + 600}, BeginCase{"now+1minute", kNow + 60},
                      BeginCase{"now+1hour", kNow + 3600}, BeginCase{"now+2hours", kNow + 7200},
                      BeginCase{"now+1day", kNow + 86400}, BeginCase{"now+3days", kNow + 3 * 86400},
                      BeginCase{"now+1week", kNow + 604800}, BeginCase{"now+2weeks", kNow + 2 * 604800},
                      BeginCase{"now + 5 minutes", kNow + 300}, BeginCase{"NOW+1HOUR", kNow + 3600},
                      BeginCase{"now-60", kNow - 60},
                      BeginCase{"today", at(2024, 3, 15)}, BeginCase{"tomorrow", at(2024, 3, 16)},
                      BeginCase{"Tomorrow", at(2024, 3, 16)},
                      BeginCase{"midnight", at(2024, 3, 16)}, BeginCase{"noon", at(2024, 3, 15, 12)},
                      BeginCase{"teatime", at(2024, 3, 15, 16)}, BeginCase{"fika", at(2024, 3, 15, 15)},
                      BeginCase{"elevenses", at(2024, 3, 15, 11)},
                      BeginCase{"tomorrow noon", at(2024, 3, 16, 12)},
                      BeginCase{"noon tomorrow", at(2024, 3, 16, 12)},
                      BeginCase{"today 16:00", at(2024, 3, 15, 16)},
                      BeginCase{"12/25", at(2024, 12, 25)}, BeginCase{"12/25/25", at(2025, 12, 25)},
                      BeginCase{"03/01", at(2025, 3, 1)},  // passed this year: next year
                      BeginCase{"12.25.24", at(2024, 12, 25)}, BeginCase{"122524", at(2024, 12, 25)},
                      BeginCase{"1225", at(2024, 12, 25)},
                      BeginCase{"12/25/24-08:00", at(2024, 12, 25, 8)},
                      BeginCase{"uts1800000000", 1800000000}));

TEST(BeginTime, TimeZoneFromTheClock) {
  // UTC+2: 16:00 local is 14:00 UTC; local now is 12:30.
  const auto clock = Clock::fixed_offset(kNow, 7200);
  auto t = parse_begin_time("16:00", clock);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, at(2024, 3, 15, 14));
  t = parse_begin_time("11:00", clock);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, at(2024, 3, 16, 9));
  t = parse_begin_time("now+1hour", clock);  // relative: no zone involved
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, kNow + 3600);
}

TEST(BeginTime, ClockThatRefusesALocalTime) {
  auto clock = Clock::fixed_offset(kNow);
  clock.from_local = [](const CivilTime&) -> std::optional<std::int64_t> { return std::nullopt; };
  auto t = parse_begin_time("2024-03-31T02:30", clock);
  ASSERT_FALSE(t);
  EXPECT_NE(t.message().find("daylight-saving"), std::string::npos);
}

TEST(BeginTime, Errors) {
  const auto clock = Clock::fixed_offset(kNow);
  for (const char* bad : {"", "  ", "25:00", "12:60", "12:5", "12:30:6", "1:00 PM PM", "2024-13-01",
                          "2024-02-30", "2023-02-29", "13/01", "02/30", "now+", "now+x", "now+1fortnight",
                          "now*2", "yesterday", "soon", "now+99999999999999", "uts12", "12/25/2025",
                          "16:00 zz", "0:00 PM", "13:00 AM", "2024-12-25T8"}) {
    auto t = parse_begin_time(bad, clock);
    EXPECT_FALSE(t) << "'" << bad << "' accepted as " << *t;
    if (!t) {
      EXPECT_EQ(t.message().rfind("begin time '", 0), 0u) << t.message();
    }
  }
}

// ---- --signal ----

TEST(Signal, Forms) {
  struct Case {
    const char* text;
    SignalSpec spec;
  };
  for (const Case& c : {Case{"USR1", {10, 60, false, false}}, Case{"SIGUSR1", {10, 60, false, false}},
                        Case{"usr1", {10, 60, false, false}}, Case{"10", {10, 60, false, false}},
                        Case{"USR1@90", {10, 90, false, false}}, Case{"B:USR1@300", {10, 300, true, false}},
                        Case{"B:TERM", {15, 60, true, false}}, Case{"R:INT@0", {2, 0, false, true}},
                        Case{"RB:2", {2, 60, true, true}}, Case{"br:HUP@65535", {1, 65535, true, true}},
                        Case{"SIGXCPU@120", {24, 120, false, false}}, Case{"40@5", {40, 5, false, false}}}) {
    auto s = parse_signal_spec(c.text);
    ASSERT_TRUE(s) << c.text << ": " << s.message();
    EXPECT_EQ(*s, c.spec) << c.text;
  }
  EXPECT_EQ(parse_signal_spec("B:SIGUSR1@90")->to_string(), "B:USR1@90");
  EXPECT_EQ(parse_signal_spec("10")->to_string(), "USR1");
  EXPECT_EQ(signal_name(40), "40");
}

TEST(Signal, Errors) {
  for (const char* bad : {"", "@60", "USR3", "0", "65", "-1", "USR1@", "USR1@-5", "USR1@65536", "USR1@1.5",
                          "X:USR1", "B:", "B:USR1@60@60", "SIG", "10x"}) {
    auto s = parse_signal_spec(bad);
    EXPECT_FALSE(s) << "'" << bad << "' accepted as " << s->to_string();
    if (!s) {
      EXPECT_EQ(s.message().rfind("signal '", 0), 0u) << s.message();
    }
  }
}

}  // namespace
}  // namespace drover::script
