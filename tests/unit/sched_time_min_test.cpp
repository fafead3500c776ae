// sbatch --time-min: a job whose limit does not fit before a reservation may still
// start in the hole, with its limit cut down (whole minutes, never below its
// minimum) so that it ends before the reservation needs the room. Every schedule
// is checked by hand; times are minutes from the pass (kNow).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sched/scheduler.hpp"
#include "sched_test_support.hpp"
#include "test_cluster.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_job;
using drover::testing::make_topology;
using test_support::Ids;
using test_support::reasons;
using test_support::started;

constexpr std::int64_t kNow = 1000;  // ms
constexpr std::int64_t kMin = 60;    // s

Policy with(Backfill b) {
  Policy p;
  p.backfill = b;
  return p;
}
void submit(ClusterBuilder& c, std::int64_t id, int vcpus, std::int64_t limit_s, int time_min_minutes = 0,
            int nodes = 1) {
  Job j = make_test_job(id, "q", vcpus);
  j.timeout_seconds = limit_s;
  j.time_min_minutes = static_cast<std::uint16_t>(time_min_minutes);
  j.nodes = nodes;
  j.ntasks = nodes * vcpus;
  c.submit(std::move(j));
}
// Job `id` runs on `node` on PUs [0, n) from kNow, for at most limit_s.
void running(ClusterBuilder& c, std::int64_t id, const std::string& node, int n, std::int64_t limit_s) {
  submit(c, id, n, limit_s);
  std::vector<int> cpus;
  for (int i = 0; i < n; ++i) cpus.push_back(i);
  c.dispatch(id, node, cpus);
  c.start(id, kNow);
}
const Decision* decision(const PassResult& r, std::int64_t id) {
  for (const auto& d : r.starts)
    if (d.job_id == id) return &d;
  return nullptr;
}

// n1: 8 PUs; job 1 holds 6 until 60 min; job 2 (8 PUs) reserves 60 min on.
// The hole beside job 1 is 2 PUs for 60 minutes.
void hole_of_an_hour(ClusterBuilder& c) {
  c.simple(8);
  running(c, 1, "n1", 6, 60 * kMin);
  submit(c, 2, 8, 60 * kMin);
}

TEST(TimeMin, ShortenedToTheHoleInWholeMinutes) {
  for (Backfill mode : {Backfill::Easy, Backfill::Conservative}) {
    SCOPED_TRACE(mode == Backfill::Easy ? "EASY" : "CONSERVATIVE");
    ClusterBuilder c;
    hole_of_an_hour(c);
    submit(c, 3, 2, 120 * kMin, 30);  // 2 h asked, 30 min would do: gets the 60-minute hole
    const PassResult r = schedule(c.state(), kNow, with(mode));
    EXPECT_EQ(started(r), (Ids{3}));
    const Decision* d = decision(r, 3);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->time_limit_s, 60 * kMin);
    // The reservation did not move.
    EXPECT_EQ(reasons(r)[2].estimated_start_ms, kNow + 60 * kMin * 1000);
  }
}

TEST(TimeMin, AHoleShorterThanTheMinimumIsNotUsed) {
  ClusterBuilder c;
  hole_of_an_hour(c);
  submit(c, 3, 2, 120 * kMin, 61);  // needs 61 minutes: the hole is 60
  submit(c, 4, 2, 120 * kMin);      // no minimum: its 2 h would delay job 2
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  EXPECT_EQ(started(r), (Ids{}));
  EXPECT_EQ(reasons(r)[3].reason, "Priority");
}

TEST(TimeMin, NotShortenedWhenTheWholeLimitFits) {
  ClusterBuilder c;
  hole_of_an_hour(c);
  submit(c, 3, 2, 45 * kMin, 30);  // 45 min fits in the hour as asked
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  ASSERT_EQ(started(r), (Ids{3}));
  EXPECT_EQ(decision(r, 3)->time_limit_s, 0);  // its own limit
}

TEST(TimeMin, NoReservationNoShortening) {
  // Nothing is reserved on the node: the job starts with its whole limit.
  ClusterBuilder c;
  c.simple(8);
  running(c, 1, "n1", 6, 60 * kMin);
  submit(c, 3, 2, 120 * kMin, 30);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  ASSERT_EQ(started(r), (Ids{3}));
  EXPECT_EQ(decision(r, 3)->time_limit_s, 0);
}

TEST(TimeMin, AJobWithoutALimitGetsAFiniteOne) {
  // UNLIMITED with --time-min: it may start in the hole with the hole's length.
  ClusterBuilder c;
  hole_of_an_hour(c);
  submit(c, 3, 2, 0, 10);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  ASSERT_EQ(started(r), (Ids{3}));
  EXPECT_EQ(decision(r, 3)->time_limit_s, 60 * kMin);
}

TEST(TimeMin, PartialMinutesAreCutDown) {
  // Job 1 ends 90.5 minutes from now: the hole is 90 whole minutes.
  ClusterBuilder c;
  c.simple(8);
  running(c, 1, "n1", 6, 90 * kMin + 30);
  submit(c, 2, 8, 60 * kMin);
  submit(c, 3, 2, 300 * kMin, 90);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  ASSERT_EQ(started(r), (Ids{3}));
  EXPECT_EQ(decision(r, 3)->time_limit_s, 90 * kMin);
}

TEST(TimeMin, TheShortenedJobHoldsItsRoomOnlyUntilItsNewEnd) {
  // Conservative. Job 1 holds 6 of 8 PUs until 60 min; job 2 (7 PUs) reserves
  // 60 min on, leaving 1 PU free beside it. Job 3 (2 PUs, 2 h, at least 30 min)
  // starts shortened to 60 min. Job 4 (1 PU, 30 min) finds no room now and is
  // reserved at 60 min, in the PU job 3 gives back then: counted with job 3's
  // asked 2 h, there would be none until 120 min.
  ClusterBuilder c;
  c.simple(8);
  running(c, 1, "n1", 6, 60 * kMin);
  submit(c, 2, 7, 60 * kMin);
  submit(c, 3, 2, 120 * kMin, 30);
  submit(c, 4, 1, 30 * kMin);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Conservative));
  EXPECT_EQ(started(r), (Ids{3}));
  EXPECT_EQ(decision(r, 3)->time_limit_s, 60 * kMin);
  auto w = reasons(r);
  EXPECT_EQ(w[2].estimated_start_ms, kNow + 60 * kMin * 1000);
  EXPECT_EQ(w[4].estimated_start_ms, kNow + 60 * kMin * 1000);
}

TEST(TimeMin, ARunningShortenedAttemptEndsAtItsOwnLimit) {
  // Job 1 was started shortened to 30 min (its limit is 5 h): the next
  // reservation counts on its room at 30 min, not 5 h.
  ClusterBuilder c;
  c.simple(8);
  submit(c, 1, 8, 300 * kMin, 30);
  c.ok(JobDispatched{1, "n1", {0, 1, 2, 3, 4, 5, 6, 7}, {}, kNow, -1, 0, {}, 30 * kMin});
  c.start(1, kNow);
  EXPECT_EQ(c.state().job(1)->attempt_time_limit_s(), 30 * kMin);
  submit(c, 2, 8, 60 * kMin);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  EXPECT_EQ(reasons(r)[2].estimated_start_ms, kNow + 30 * kMin * 1000);
}

TEST(TimeMin, AMultiNodeJobGetsTheShortestHoleOfItsNodes) {
  // n1 and n2: 4 PUs each. Job 1 holds 2 PUs of n1 until 40 min, job 5 2 PUs
  // of n2 until 70 min; job 2 (both nodes whole) reserves 70 min on. Job 3
  // (2 nodes x 2 PUs, 3 h, at least 30 min) fits in the 70-minute hole.
  ClusterBuilder c;
  c.node("n1", make_topology(4, 1, 16384, 0));
  c.node("n2", make_topology(4, 1, 16384, 0));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  running(c, 1, "n1", 2, 40 * kMin);
  running(c, 5, "n2", 2, 70 * kMin);
  submit(c, 2, 4, 60 * kMin, 0, 2);
  submit(c, 3, 2, 180 * kMin, 30, 2);
  submit(c, 4, 2, 180 * kMin, 71, 2);  // would need 71 minutes
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  ASSERT_EQ(started(r), (Ids{3}));
  const Decision* d = decision(r, 3);
  EXPECT_EQ(d->time_limit_s, 70 * kMin);
  EXPECT_EQ(d->more_nodes.size(), 1u);
  EXPECT_EQ(reasons(r)[2].estimated_start_ms, kNow + 70 * kMin * 1000);
}

TEST(TimeMin, TheDispatchRecordsTheAttemptsLimit) {
  ClusterBuilder c;
  c.simple(8);
  submit(c, 1, 2, 120 * kMin, 30);
  // Longer than the job's own limit: refused.
  EXPECT_FALSE(c.state().apply(JobDispatched{1, "n1", {0, 1}, {}, kNow, -1, 0, {}, 121 * kMin}));
  c.ok(JobDispatched{1, "n1", {0, 1}, {}, kNow, -1, 0, {}, 45 * kMin});
  EXPECT_EQ(c.state().job(1)->current_attempt()->time_limit_s, 45 * kMin);
  EXPECT_EQ(c.state().job(1)->timeout_seconds, 120 * kMin);  // what was asked stays
}

}  // namespace
}  // namespace drover::sched
