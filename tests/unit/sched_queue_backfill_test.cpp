// Each queue's own backfill mode (JobQueue::backfill: EASY, CONSERVATIVE,
// FIFO): the same job mix schedules differently under each, a queue that sets
// none follows Policy::backfill, and queues of different modes sharing nodes
// follow one rule: a reservation binds every job considered after it in the
// pass, whatever its queue's mode; a FIFO queue's blocked job reserves nothing.
// Every schedule below is checked by hand (times in seconds from the pass).
#include <gtest/gtest.h>

#include <map>
#include <optional>
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
using test_support::started;
using test_support::reasons;

constexpr std::int64_t kNow = 1000;  // ms

Policy with(Backfill b) {
  Policy p;
  p.backfill = b;
  return p;
}
void set_mode(ClusterBuilder& c, const std::string& queue, std::optional<QueueBackfill> mode) {
  JobQueue q = *c.state().queue(queue);
  q.backfill = mode;
  c.ok(QueueSaved{q});
}
void submit(ClusterBuilder& c, std::int64_t id, int vcpus, std::int64_t limit_s, const std::string& queue = "q") {
  Job j = make_test_job(id, queue, vcpus);
  j.timeout_seconds = limit_s;
  c.submit(std::move(j));
}
// Job `id` runs on n1 on PUs [0, n) from 1 s, for at most limit_s.
void running(ClusterBuilder& c, std::int64_t id, int n, std::int64_t limit_s, const std::string& queue = "q") {
  submit(c, id, n, limit_s, queue);
  std::vector<int> cpus;
  for (int i = 0; i < n; ++i) cpus.push_back(i);
  c.dispatch(id, "n1", cpus);
  c.start(id, 1000);
}

// n1 has 8 PUs; job 1 holds 6 until 101 s. Waiting, in order:
//  2: 4 PUs, 100 s  -- does not fit now; first free at 101 s
//  3: 8 PUs, 100 s  -- does not fit now; after job 2 at the earliest (201 s)
//  4: 2 PUs, 1000 s -- fits now; beside job 2's reservation, but in job 3's way
//  5: 1 PU, 50 s    -- fits now and ends (51 s) before any reservation
// EASY: only job 2 is protected: job 4 starts (2 PUs left free beside job 2),
// then nothing is left for job 5. CONSERVATIVE: job 3 is protected too, so job
// 4 waits and job 5 backfills. FIFO: job 2 blocks everything behind it.
void job_mix(ClusterBuilder& c) {
  c.simple(8);
  running(c, 1, 6, 100);
  submit(c, 2, 4, 100);
  submit(c, 3, 8, 100);
  submit(c, 4, 2, 1000);
  submit(c, 5, 1, 50);
}

TEST(QueueBackfill, SameJobMixUnderEachMode) {
  // The policy says Greedy: each queue's own mode must win.
  {
    SCOPED_TRACE("EASY");
    ClusterBuilder c;
    job_mix(c);
    set_mode(c, "q", QueueBackfill::Easy);
    const PassResult r = schedule(c.state(), kNow, with(Backfill::Greedy));
    EXPECT_EQ(started(r), (Ids{4}));
    auto w = reasons(r);
    EXPECT_EQ(w[2].reason, "Resources");
    EXPECT_EQ(w[2].estimated_start_ms, 101000);
    EXPECT_EQ(w[3].reason, "Priority");
    EXPECT_EQ(w[3].estimated_start_ms, 0);  // EASY: one reservation per queue
    EXPECT_EQ(w[5].reason, "Priority");
  }
  {
    SCOPED_TRACE("CONSERVATIVE");
    ClusterBuilder c;
    job_mix(c);
    set_mode(c, "q", QueueBackfill::Conservative);
    const PassResult r = schedule(c.state(), kNow, with(Backfill::Greedy));
    EXPECT_EQ(started(r), (Ids{5}));
    auto w = reasons(r);
    EXPECT_EQ(w[2].estimated_start_ms, 101000);
    EXPECT_EQ(w[3].estimated_start_ms, 201000);
    EXPECT_EQ(w[4].reason, "Priority");
    EXPECT_EQ(w[4].estimated_start_ms, 301000);  // after job 3
  }
  {
    SCOPED_TRACE("FIFO");
    ClusterBuilder c;
    job_mix(c);
    set_mode(c, "q", QueueBackfill::Fifo);
    const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
    EXPECT_TRUE(r.starts.empty());
    auto w = reasons(r);
    EXPECT_EQ(w[2].reason, "Resources");
    EXPECT_EQ(w[2].estimated_start_ms, 0);  // no reservations
    for (std::int64_t id : {3, 4, 5}) EXPECT_EQ(w[id].reason, "Priority") << "job " << id;
  }
}

TEST(QueueBackfill, QueueWithoutAModeFollowsThePolicy) {
  ClusterBuilder c;
  job_mix(c);
  ASSERT_FALSE(c.state().queue("q")->backfill.has_value());
  EXPECT_EQ(started(schedule(c.state(), kNow, with(Backfill::Conservative))), (Ids{5}));
  EXPECT_EQ(started(schedule(c.state(), kNow, with(Backfill::Easy))), (Ids{4}));
  EXPECT_TRUE(schedule(c.state(), kNow, with(Backfill::None)).starts.empty());
  // Set, it wins over the policy.
  set_mode(c, "q", QueueBackfill::Easy);
  EXPECT_EQ(started(schedule(c.state(), kNow, with(Backfill::Conservative))), (Ids{4}));
}

// Two queues on n1 (8 PUs, job 1 holds 6 until 101 s): "high" (priority 10)
// has job 2, 8 PUs for 100 s; "low" has job 3 (2 PUs, 1000 s) and job 4
// (1 PU, 50 s).
void two_queues(ClusterBuilder& c, std::optional<QueueBackfill> high, std::optional<QueueBackfill> low) {
  c.node("n1", make_topology(8));
  c.env("ce", {"n1"});
  c.queue("high", {"ce"}, 10);
  c.queue("low", {"ce"}, 1);
  set_mode(c, "high", high);
  set_mode(c, "low", low);
  running(c, 1, 6, 100, "low");
  submit(c, 2, 8, 100, "high");
  submit(c, 3, 2, 1000, "low");
  submit(c, 4, 1, 50, "low");
}

TEST(QueueBackfill, AHigherQueuesReservationBindsALowerQueueWhateverItsMode) {
  for (auto low : {std::optional<QueueBackfill>(QueueBackfill::Easy), std::optional<QueueBackfill>(QueueBackfill::Fifo),
                   std::optional<QueueBackfill>(QueueBackfill::Conservative), std::optional<QueueBackfill>()}) {
    SCOPED_TRACE(low ? to_string(*low) : "policy (greedy)");
    ClusterBuilder c;
    two_queues(c, QueueBackfill::Easy, low);
    const PassResult r = schedule(c.state(), kNow, with(Backfill::Greedy));
    auto w = reasons(r);
    // Job 2 holds all of n1 from 101 s: job 3 (to 1001 s) would delay it, in any mode.
    EXPECT_EQ(w[2].estimated_start_ms, 101000);
    EXPECT_EQ(w[3].reason, "Resources");
    // Job 4 ends at 51 s: it backfills unless its queue is FIFO (job 3 blocks it).
    if (low == QueueBackfill::Fifo) {
      EXPECT_TRUE(r.starts.empty());
      EXPECT_EQ(w[4].reason, "Priority");
    } else {
      EXPECT_EQ(started(r), (Ids{4}));
    }
    // A lower queue's reservation comes after the higher one's (job 3 at 201 s).
    if (low == QueueBackfill::Easy || low == QueueBackfill::Conservative)
      EXPECT_EQ(w[3].estimated_start_ms, 201000);
    else
      EXPECT_EQ(w[3].estimated_start_ms, 0);
  }
}

TEST(QueueBackfill, AFifoQueuesBlockedJobReservesNothingForLowerQueues) {
  ClusterBuilder c;
  two_queues(c, QueueBackfill::Fifo, QueueBackfill::Easy);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  // Nothing holds n1 for job 2: the low queue takes the 2 free PUs (job 3 first).
  EXPECT_EQ(started(r), (Ids{3}));
  auto w = reasons(r);
  EXPECT_EQ(w[2].reason, "Resources");
  EXPECT_EQ(w[2].estimated_start_ms, 0);
  EXPECT_EQ(w[4].reason, "Resources");  // n1 full now; reserved (EASY) for when job 1 ends
  EXPECT_EQ(w[4].estimated_start_ms, 101000);
}

TEST(QueueBackfill, ConservativeLowerQueueProtectsItsOwnJobsBehindAHigherReservation) {
  // high (EASY): job 2 reserved [101 s, 201 s) on all of n1. low: job 3 (8 PUs,
  // 100 s), job 4 (2 PUs, 1000 s), job 5 (1 PU, 50 s). Conservative: job 3 gets
  // [201 s, 301 s), job 4 would delay it, job 5 ends before anything: it starts.
  // EASY in low: job 3 is low's one reservation, the same here.
  for (auto low : {QueueBackfill::Conservative, QueueBackfill::Easy}) {
    SCOPED_TRACE(to_string(low));
    ClusterBuilder c;
    c.node("n1", make_topology(8));
    c.env("ce", {"n1"});
    c.queue("high", {"ce"}, 10);
    c.queue("low", {"ce"}, 1);
    set_mode(c, "high", QueueBackfill::Easy);
    set_mode(c, "low", low);
    running(c, 1, 6, 100, "low");
    submit(c, 2, 8, 100, "high");
    submit(c, 3, 8, 100, "low");
    submit(c, 4, 2, 1000, "low");
    submit(c, 5, 1, 50, "low");
    const PassResult r = schedule(c.state(), kNow, with(Backfill::Greedy));
    EXPECT_EQ(started(r), (Ids{5}));
    auto w = reasons(r);
    EXPECT_EQ(w[2].estimated_start_ms, 101000);
    EXPECT_EQ(w[3].estimated_start_ms, 201000);
    EXPECT_EQ(w[4].reason, "Priority");
    EXPECT_EQ(w[4].estimated_start_ms, low == QueueBackfill::Conservative ? 301000 : 0);
  }
}

TEST(QueueBackfill, IncrementalPassKeepsEachQueuesMode) {
  // Old jobs 2-3 waited at the last pass; 4 and 5 are new (first_job_id 4).
  for (auto mode : {QueueBackfill::Easy, QueueBackfill::Conservative, QueueBackfill::Fifo}) {
    SCOPED_TRACE(to_string(mode));
    ClusterBuilder c;
    job_mix(c);
    set_mode(c, "q", mode);
    Policy p = with(Backfill::Easy);
    const PassResult full = schedule(c.state(), kNow, p);
    for (const auto& w : full.reasons) c.ok(JobPendingReasonSet{w.job_id, w.reason});
    for (const auto& d : full.starts) c.dispatch(d.job_id, d.node, d.cpus);
    submit(c, 6, 2, 1000);  // like job 4
    submit(c, 7, 1, 50);    // like job 5
    p.first_job_id = 6;
    const PassResult inc = schedule(c.state(), kNow, p);
    switch (mode) {
      case QueueBackfill::Easy:  // job 4 took the 2 free PUs: nothing fits
        EXPECT_TRUE(inc.starts.empty());
        break;
      case QueueBackfill::Conservative:  // job 5 took 1 PU; job 7 fits in the other until 51 s
        EXPECT_EQ(started(inc), (Ids{7}));
        EXPECT_EQ(reasons(inc)[3].estimated_start_ms, 201000) << "old reservations are kept";
        break;
      case QueueBackfill::Fifo:  // old job 2 still blocks the queue
        EXPECT_TRUE(inc.starts.empty());
        EXPECT_EQ(reasons(inc)[7].reason, "Priority");
        break;
    }
  }
}

}  // namespace
}  // namespace drover::sched
