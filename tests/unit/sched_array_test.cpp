// Array jobs in a scheduling pass: an array's parent starts its tasks in index
// order (Decision.array_index), as many as fit, up to its throttle; a held
// array starts nothing; a task being retried is a job under the same throttle;
// FIFO and EASY backfill treat an array like any job of its queue. A randomized
// run checks that no PU is handed out twice and that tasks start in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sched/scheduler.hpp"
#include "sched_test_support.hpp"
#include "test_cluster.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_array;
using drover::testing::make_test_job;
using drover::testing::make_topology;
using test_support::Ids;
using test_support::started;
using test_support::reasons;

constexpr std::int64_t kNow = 1000;  // ms

// The indexes a pass starts for array `parent`, in the pass's order.
Ids task_indexes(const PassResult& r, std::int64_t parent) {
  Ids out;
  for (const auto& d : r.starts)
    if (d.job_id == parent) out.push_back(d.array_index);
  return out;
}
Policy with(Backfill b) {
  Policy p;
  p.backfill = b;
  return p;
}

// Applies a pass as the head does: reasons first, then every start, an array's
// task under an id allocated now. Returns the new tasks' ids by (parent, index).
std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> apply(ClusterBuilder& c, const PassResult& r,
                                                                    std::int64_t at = kNow) {
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> tasks;
  for (const auto& w : r.reasons) c.ok(JobPendingReasonSet{w.job_id, w.reason, w.estimated_start_ms});
  for (const auto& d : r.starts) {
    if (d.array_index >= 0) {
      const std::int64_t id = c.state().allocate_job_id();
      c.ok(JobDispatched{d.job_id, d.node, d.cpus, d.gpus, at, d.array_index, id});
      tasks[{d.job_id, d.array_index}] = id;
    } else {
      c.dispatch(d.job_id, d.node, d.cpus, d.gpus, at);
    }
  }
  return tasks;
}

std::int64_t on_nodes(const Job& parent) {
  const auto& c = parent.array->count;
  return c[static_cast<int>(JobState::Starting)] + c[static_cast<int>(JobState::Running)];
}

// ---- order ---------------------------------------------------------------------------

TEST(ScheduleArrays, TasksStartInIndexOrderAsManyAsFit) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  const PassResult r = schedule(c.state(), kNow);
  ASSERT_EQ(r.starts.size(), 4u);
  for (const auto& d : r.starts) {
    EXPECT_EQ(d.job_id, 1);
    EXPECT_EQ(d.node, "n1");
    EXPECT_EQ(d.cpus.size(), 1u);
  }
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1, 2, 3}));
  std::set<int> pus;
  for (const auto& d : r.starts) pus.insert(d.cpus.begin(), d.cpus.end());
  EXPECT_EQ(pus.size(), 4u);  // each task its own PU
  EXPECT_EQ(reasons(r)[1].reason, "Resources");  // six tasks wait

  auto tasks = apply(c, r);
  ASSERT_EQ(tasks.size(), 4u);
  const Job* p = c.state().job(1);
  EXPECT_EQ(p->array->pending.count(), 6);
  EXPECT_EQ(on_nodes(*p), 4);
  for (std::int64_t i = 0; i < 4; ++i) {
    const Job* t = c.state().job(tasks.at({1, i}));
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->array_parent, 1);
    EXPECT_EQ(t->array_index, i);
    EXPECT_EQ(t->state, JobState::Starting);
  }
  // Full node: nothing more until a task ends; then the next index, 4.
  EXPECT_TRUE(schedule(c.state(), kNow).starts.empty());
  const std::int64_t t2 = tasks.at({1, 2});
  c.start(t2);
  c.exit(t2, 0);
  const PassResult next = schedule(c.state(), kNow + 1);
  EXPECT_EQ(task_indexes(next, 1), (Ids{4}));
  ASSERT_EQ(next.starts.size(), 1u);
  EXPECT_EQ(next.starts[0].cpus, c.state().job(t2)->attempts.back().cpus);  // the PU it freed
}

TEST(ScheduleArrays, StepsAndListsStartInIndexOrder) {
  ClusterBuilder c;
  c.simple(8);
  // --array=20,0-15:5,3 -> 0 3 5 10 15 20
  c.submit(make_test_array(1, {{20, 20, 1}, {0, 17, 5}, {3, 3, 1}}));
  const PassResult r = schedule(c.state(), kNow);
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 3, 5, 10, 15, 20}));
  apply(c, r);
  const Job* p = c.state().job(1);
  EXPECT_TRUE(p->array->pending.empty());
  EXPECT_FALSE(c.state().runnable("q").count(1));  // every task started
  EXPECT_EQ(on_nodes(*p), 6);
  EXPECT_TRUE(schedule(c.state(), kNow).starts.empty());
}

TEST(ScheduleArrays, CancelledIndexesAreSkipped) {
  ClusterBuilder c;
  c.simple(3);
  c.submit(make_test_array(1, {{0, 99, 3}}));  // 0 3 6 ... 99
  c.ok(JobTerminationRequested{1, kNow, "scancel", {{0, 3, 1}, {9, 9, 1}}});
  const PassResult r = schedule(c.state(), kNow);
  EXPECT_EQ(task_indexes(r, 1), (Ids{6, 12, 15}));
  apply(c, r);
  EXPECT_EQ(to_text(c.state().job(1)->array->indexes.indexes_at(c.state().job(1)->array->pending)),
            "18-99:3");
}

TEST(ScheduleArrays, WideTasksFillNodesInOrder) {
  ClusterBuilder c;
  c.node("a", make_topology(4));
  c.node("b", make_topology(6));
  c.env("ce", {"a", "b"});
  c.queue("q", {"ce"});
  c.submit(make_test_array(1, {{0, 9, 1}}, 0, "q", 3));  // 3 PUs each: one on a, two on b
  const PassResult r = schedule(c.state(), kNow);
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1, 2}));
  std::map<std::string, int> per_node;
  for (const auto& d : r.starts) {
    EXPECT_EQ(d.cpus.size(), 3u);
    ++per_node[d.node];
  }
  EXPECT_EQ(per_node["a"], 1);
  EXPECT_EQ(per_node["b"], 2);
  apply(c, r);
  EXPECT_EQ(c.state().node("a")->pus_free(), 1);
  EXPECT_EQ(c.state().node("b")->pus_free(), 0);
}

// ---- throttle -------------------------------------------------------------------------

TEST(ScheduleArrays, ThrottleStartsOnlyMaxRunningUntilATaskEnds) {
  ClusterBuilder c;
  c.simple(8);
  c.submit(make_test_array(1, {{0, 9, 1}}, 2));
  PassResult r = schedule(c.state(), kNow);
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1}));
  EXPECT_EQ(reasons(r)[1].reason, "ArrayThrottle");
  auto tasks = apply(c, r);
  EXPECT_EQ(c.state().job(1)->pending_reason, "ArrayThrottle");

  // Still throttled: while STARTING, and while RUNNING.
  r = schedule(c.state(), kNow + 1);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_FALSE(reasons(r).count(1));  // unchanged, so not repeated
  apply(c, r);
  c.start(tasks.at({1, 0}));
  c.start(tasks.at({1, 1}));
  r = schedule(c.state(), kNow + 2);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(c.state().job(1)->pending_reason, "ArrayThrottle");

  // One ends: exactly one more, the next index.
  c.exit(tasks.at({1, 0}), 0);
  r = schedule(c.state(), kNow + 3);
  EXPECT_EQ(task_indexes(r, 1), (Ids{2}));
  tasks = apply(c, r);
  EXPECT_EQ(on_nodes(*c.state().job(1)), 2);
  EXPECT_TRUE(schedule(c.state(), kNow + 4).starts.empty());
}

TEST(ScheduleArrays, ThrottleDoesNotBlockTheQueue) {
  // A throttled array is not waiting for resources: later jobs go on, even FIFO.
  for (Backfill b : {Backfill::Greedy, Backfill::None, Backfill::Easy, Backfill::Conservative}) {
    SCOPED_TRACE(to_string(b));
    ClusterBuilder c;
    c.simple(8);
    c.submit(make_test_array(1, {{0, 9, 1}}, 3));
    c.submit(2, "q", 2);
    const PassResult r = schedule(c.state(), kNow, with(b));
    EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1, 2}));
    EXPECT_EQ(started(r), (Ids{1, 1, 1, 2}));
    EXPECT_EQ(reasons(r)[1].reason, "ArrayThrottle");
  }
}

TEST(ScheduleArrays, ThrottleAboveWhatFitsIsResources) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}, 6));
  const PassResult r = schedule(c.state(), kNow);
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1, 2, 3}));
  EXPECT_EQ(reasons(r)[1].reason, "Resources");
}

TEST(ScheduleArrays, RetryingTaskIsUnderTheThrottle) {
  ClusterBuilder c;
  c.simple(8);
  Job a = make_test_array(1, {{0, 4, 1}}, 2);
  a.retry.attempts = 3;
  c.submit(a);
  auto tasks = apply(c, schedule(c.state(), kNow));
  ASSERT_EQ(tasks.size(), 2u);
  const std::int64_t t0 = tasks.at({1, 0}), t1 = tasks.at({1, 1});
  c.start(t0);
  c.start(t1);
  c.exit(t0, 1);  // retried: a RUNNABLE record of its own
  ASSERT_EQ(c.state().job(t0)->state, JobState::Runnable);
  EXPECT_TRUE(c.state().runnable("q").count(t0));

  // One task on a node, the throttle is 2: the retry and the next index share
  // one place. Exactly one starts.
  PassResult r = schedule(c.state(), kNow + 1);
  ASSERT_EQ(r.starts.size(), 1u) << "two starts would put 3 tasks of a %2 array on nodes";
  apply(c, r, kNow + 1);
  EXPECT_EQ(on_nodes(*c.state().job(1)), 2);
  r = schedule(c.state(), kNow + 2);
  EXPECT_TRUE(r.starts.empty());
  // Whichever waits, waits for the throttle.
  if (c.state().job(t0)->state == JobState::Runnable) {
    EXPECT_EQ(c.state().job(t0)->pending_reason, "ArrayThrottle");
  }
  EXPECT_EQ(c.state().job(1)->pending_reason, "ArrayThrottle");
}

TEST(ScheduleArrays, RetryIsAPlainStartAndSharesTheThrottle) {
  ClusterBuilder c;
  c.simple(8);
  Job a = make_test_array(1, {{0, 2, 1}}, 2);
  a.retry.attempts = 2;
  c.submit(a);
  // Tasks 0 and 1 start; 0 fails and is retried in its own place.
  auto tasks = apply(c, schedule(c.state(), kNow));
  const std::int64_t t0 = tasks.at({1, 0}), t1 = tasks.at({1, 1});
  c.start(t0);
  c.start(t1);
  c.exit(t0, 1);
  // Keep the parent from taking the free place (a held array holds its retries
  // too): cancel its last task not started.
  c.ok(JobTerminationRequested{1, kNow, "test", {{2, 2, 1}}});
  PassResult r = schedule(c.state(), kNow + 1);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job_id, t0);      // the retry, as a plain job
  EXPECT_EQ(r.starts[0].array_index, -1);
  apply(c, r, kNow + 1);
  EXPECT_EQ(c.state().job(t0)->attempts.size(), 2u);
  EXPECT_EQ(on_nodes(*c.state().job(1)), 2);

  // Array 1 is at its throttle again. Array 2, throttle 1: its retry and its
  // next index compete for the one place.
  c.start(t0);
  const std::int64_t b_id = c.state().allocate_job_id();
  Job b = make_test_array(b_id, {{0, 1, 1}}, 1);
  b.retry.attempts = 2;
  c.submit(b);
  tasks = apply(c, schedule(c.state(), kNow + 2));  // array 1: still full; array b: task 0
  EXPECT_FALSE(tasks.count({1, 2}));
  ASSERT_TRUE(tasks.count({b_id, 0}));
  const std::int64_t u0 = tasks.at({b_id, 0});
  c.start(u0);
  c.exit(u0, 1);  // retried: throttle 1, nothing on nodes
  ASSERT_EQ(c.state().job(u0)->state, JobState::Runnable);
  // The parent starts index 1 or the retry starts: never both.
  r = schedule(c.state(), kNow + 3);
  int of_b = 0;
  for (const auto& d : r.starts) of_b += d.job_id == b_id || d.job_id == u0;
  EXPECT_EQ(of_b, 1);
  apply(c, r, kNow + 3);
  EXPECT_EQ(on_nodes(*c.state().job(b_id)), 1);
  r = schedule(c.state(), kNow + 4);
  for (const auto& d : r.starts) EXPECT_TRUE(d.job_id != b_id && d.job_id != u0) << d.job_id;
}

TEST(ScheduleArrays, RetryStartsWhenEveryOtherTaskHasStarted) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 1, 1}});
  a.retry.attempts = 2;
  c.submit(a);
  auto tasks = apply(c, schedule(c.state(), kNow));
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_FALSE(c.state().runnable("q").count(1));
  const std::int64_t t1 = tasks.at({1, 1});
  c.start(t1);
  c.exit(t1, 7);
  const PassResult r = schedule(c.state(), kNow + 1);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job_id, t1);
  EXPECT_EQ(r.starts[0].array_index, -1);
}

// ---- hold ---------------------------------------------------------------------------------

TEST(ScheduleArrays, AHeldArrayHoldsItsRetriesToo) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 1, 1}});
  a.retry.attempts = 2;
  c.submit(a);
  auto tasks = apply(c, schedule(c.state(), kNow));
  const std::int64_t t0 = tasks.at({1, 0});
  c.start(t0);
  c.exit(t0, 1);
  ASSERT_EQ(c.state().job(t0)->state, JobState::Runnable);
  c.ok(JobHoldSet{1, true});
  PassResult r = schedule(c.state(), kNow + 1);
  EXPECT_TRUE(r.starts.empty());
  apply(c, r, kNow + 1);
  EXPECT_EQ(c.state().job(t0)->pending_reason, "Held");
  c.ok(JobHoldSet{1, false});
  r = schedule(c.state(), kNow + 2);
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job_id, t0);
}

TEST(ScheduleArrays, HeldArrayStartsNothing) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 9, 1}});
  a.held = true;
  c.submit(a);
  c.submit(2);
  PassResult r = schedule(c.state(), kNow, with(Backfill::None));
  EXPECT_EQ(started(r), (Ids{2}));  // a held job does not block its queue
  EXPECT_EQ(reasons(r)[1].reason, "Held");
  apply(c, r);
  c.ok(JobHoldSet{1, false});
  r = schedule(c.state(), kNow + 1);
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1, 2}));
}

TEST(ScheduleArrays, HoldingARunningArrayStopsFurtherStarts) {
  ClusterBuilder c;
  c.simple(2);
  c.submit(make_test_array(1, {{0, 9, 1}}));
  auto tasks = apply(c, schedule(c.state(), kNow));
  const std::int64_t t0 = tasks.at({1, 0});
  c.start(t0);
  c.ok(JobHoldSet{1, true});
  c.exit(t0, 0);
  const PassResult r = schedule(c.state(), kNow + 1);
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(reasons(r)[1].reason, "Held");
}

// ---- queue order and backfill -----------------------------------------------------------

TEST(ScheduleArrays, LaterJobWaitsBehindAnArrayThatFillsTheNode) {
  for (Backfill b : {Backfill::Greedy, Backfill::None, Backfill::Easy, Backfill::Conservative}) {
    SCOPED_TRACE(to_string(b));
    ClusterBuilder c;
    c.simple(4);
    Job a = make_test_array(1, {{0, 9, 1}});
    a.timeout_seconds = 100;
    c.submit(a);
    Job later = make_test_job(2);
    later.timeout_seconds = 100;
    c.submit(later);
    const PassResult r = schedule(c.state(), kNow, with(b));
    EXPECT_EQ(started(r), (Ids{1, 1, 1, 1}));
    auto rs = reasons(r);
    EXPECT_EQ(rs[1].reason, "Resources");
    EXPECT_EQ(rs[2].reason, b == Backfill::Greedy ? "Resources" : "Priority");
  }
}

TEST(ScheduleArrays, FifoAnArrayThatDoesNotFitBlocksLaterJobs) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(1, "q", 3);
  c.dispatch(1, "n1", {0, 1, 2});
  c.submit(make_test_array(2, {{0, 3, 1}}, 0, "q", 2));
  c.submit(3);  // would fit
  EXPECT_TRUE(schedule(c.state(), kNow, with(Backfill::None)).starts.empty());
  EXPECT_EQ(started(schedule(c.state(), kNow, with(Backfill::Greedy))), (Ids{3}));
}

TEST(ScheduleArrays, EasyReservesForTheArrayAndBackfillsOnlyWhatEndsBeforeIt) {
  ClusterBuilder c;
  c.simple(4);
  Job run = make_test_job(1, "q", 2);
  run.timeout_seconds = 100;
  c.submit(run);
  c.dispatch(1, "n1", {0, 1});
  c.start(1, 1000);  // ends by 101000
  Job a = make_test_array(2, {{0, 3, 1}}, 0, "q", 3);  // 3 PUs per task: none fits now
  a.timeout_seconds = 50;
  c.submit(a);
  Job long_job = make_test_job(3, "q", 2);  // fits now, but would hold 2 PUs past 101000
  long_job.timeout_seconds = 1000;
  c.submit(long_job);
  Job short_job = make_test_job(4, "q", 2);  // fits now and ends by 11000
  short_job.timeout_seconds = 10;
  c.submit(short_job);

  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  EXPECT_EQ(started(r), (Ids{4}));
  auto rs = reasons(r);
  EXPECT_EQ(rs[2].reason, "Resources");
  EXPECT_EQ(rs[2].estimated_start_ms, 101000);
  EXPECT_EQ(rs[3].reason, "Priority");
  // Greedy has no reservation: both later jobs could start; the first takes the room.
  EXPECT_EQ(started(schedule(c.state(), kNow, with(Backfill::Greedy))), (Ids{3}));

  // The running job ends: the array's first task starts at once.
  apply(c, r);
  c.exit(1, 0, 5000);
  c.start(4, 2000);
  c.exit(4, 0, 5000);
  const PassResult after = schedule(c.state(), 5000, with(Backfill::Easy));
  EXPECT_EQ(task_indexes(after, 2), (Ids{0}));
}

TEST(ScheduleArrays, EasyReservationCountsTasksStartedInThePass) {
  // The array fills the node in this pass; its next task is due when the
  // first of the tasks just started ends.
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 9, 1}});
  a.timeout_seconds = 100;
  c.submit(a);
  Job later = make_test_job(2);
  later.timeout_seconds = 1000;
  c.submit(later);
  const PassResult r = schedule(c.state(), kNow, with(Backfill::Easy));
  EXPECT_EQ(task_indexes(r, 1), (Ids{0, 1, 2, 3}));
  auto rs = reasons(r);
  EXPECT_EQ(rs[1].reason, "Resources");
  EXPECT_EQ(rs[1].estimated_start_ms, kNow + 100'000);
  EXPECT_EQ(rs[2].reason, "Priority");
}

// ---- randomized ------------------------------------------------------------------------------

TEST(ScheduleArraysProperty, NoOversubscriptionAndTasksStartInIndexOrder) {
  std::mt19937 rng(7041);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Backfill modes[] = {Backfill::Greedy, Backfill::None, Backfill::Easy, Backfill::Conservative};
  int task_starts = 0, job_starts = 0, throttled = 0;
  for (int round = 0; round < 80; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ClusterBuilder c;
    const int nodes = pick(1, 3);
    std::vector<std::string> names;
    for (int i = 0; i < nodes; ++i) {
      names.push_back("n" + std::to_string(i));
      c.node(names.back(), make_topology(pick(1, 8), pick(1, 2), pick(2, 8) * 1024));
    }
    c.env("a", std::vector<std::string>(names.begin(), names.begin() + (nodes + 1) / 2),
          pick(0, 1) ? 0 : pick(2, 12));
    c.env("b", std::vector<std::string>(names.begin() + nodes / 2, names.end()));
    c.queue("hi", {"a", "b"}, 10);
    c.queue("lo", {"b", "a"}, 1);
    const Policy policy = with(modes[round % 4]);
    std::map<std::int64_t, std::int64_t> last_index;  // per array: the last index started
    for (int pass = 0; pass < 8; ++pass) {
      const std::int64_t now = 1000 + pass * 1000;
      for (int k = pick(0, 4); k > 0; --k) {
        const std::int64_t id = c.state().allocate_job_id();
        const std::string q = pick(0, 1) ? "hi" : "lo";
        Job j;
        if (pick(0, 1)) {
          std::vector<IndexRange> ranges;
          for (int n = pick(1, 3); n > 0; --n) {
            const std::int64_t first = pick(0, 40);
            ranges.push_back({first, first + pick(0, 30), pick(1, 4)});
            ranges.back().last -= (ranges.back().last - first) % ranges.back().step;
          }
          j = make_test_array(id, ranges, pick(0, 2) ? 0 : pick(1, 4), q, pick(1, 3));
          if (pick(0, 3) == 0) {  // a few cancelled before they start
            const std::int64_t f = pick(0, 40);
            c.submit(j);
            c.ok(JobTerminationRequested{id, now, "x", {{f, f + pick(0, 5), 1}}});
            j = Job{};
          }
        } else {
          j = make_test_job(id, q, pick(1, 4), pick(0, 3) * 700);
        }
        j.timeout_seconds = pick(0, 3) * 10;
        if (pick(0, 3) == 0) j.retry.attempts = 2;
        if (j.id) c.submit(j);
      }
      // What each array has not started, in index order, before the pass.
      std::map<std::int64_t, Ids> waiting;
      for (const auto& [id, j] : c.state().jobs())
        if (j.array)
          for (const auto& r : j.array->indexes.indexes_at(j.array->pending))
            for (std::int64_t i = r.first; i <= r.last; i += r.step) waiting[id].push_back(i);

      const PassResult r = schedule(c.state(), now, policy);
      std::map<std::string, std::set<int>> given;
      std::map<std::int64_t, Ids> per_array;
      for (const auto& d : r.starts) {
        const Job* j = c.state().job(d.job_id);
        ASSERT_NE(j, nullptr);
        const Node* n = c.state().node(d.node);
        ASSERT_NE(n, nullptr);
        EXPECT_EQ(static_cast<int>(d.cpus.size()), j->request.vcpus);
        for (int pu : d.cpus) {
          EXPECT_FALSE(static_cast<std::size_t>(pu) < n->pu_used.size() && n->pu_used[pu])
              << "PU " << pu << " of " << d.node << " is in use";
          EXPECT_TRUE(given[d.node].insert(pu).second) << "PU " << pu << " handed out twice";
        }
        EXPECT_LE(static_cast<int>(given[d.node].size()), n->pus_total());
        if (j->array) {
          EXPECT_GE(d.array_index, 0);
          EXPECT_FALSE(j->held);
          per_array[d.job_id].push_back(d.array_index);
          auto it = last_index.find(d.job_id);
          EXPECT_TRUE(it == last_index.end() || it->second < d.array_index)
              << "array " << d.job_id << ": index " << d.array_index << " after " << it->second;
          last_index[d.job_id] = d.array_index;
          ++task_starts;
        } else {
          EXPECT_EQ(d.array_index, -1);
          EXPECT_EQ(j->state, JobState::Runnable);
          ++job_starts;
        }
      }
      // A pass starts the first tasks an array has waiting, none skipped.
      for (const auto& [id, idx] : per_array) {
        const Ids& w = waiting[id];
        ASSERT_LE(idx.size(), w.size());
        EXPECT_EQ(idx, Ids(w.begin(), w.begin() + static_cast<std::ptrdiff_t>(idx.size())))
            << "array " << id;
      }
      if (::testing::Test::HasFailure()) return;
      apply(c, r, now);
      if (::testing::Test::HasFailure()) return;

      // After the pass: no node holds more than it has, no throttle is exceeded,
      // and each array's counts agree with its tasks' records.
      std::map<std::string, int> used;
      std::map<std::int64_t, std::int64_t> active_tasks;
      for (const auto& [id, j] : c.state().jobs()) {
        if (j.array) continue;
        if (is_active(j.state)) used[j.attempts.back().node] += static_cast<int>(j.attempts.back().cpus.size());
        if (j.array_parent && is_active(j.state)) ++active_tasks[j.array_parent];
      }
      for (const auto& [name, n] : c.state().nodes()) {
        EXPECT_LE(used[name], n.pus_total()) << name;
        EXPECT_EQ(n.pus_free(), n.pus_total() - used[name]) << name;
      }
      for (const auto& [id, j] : c.state().jobs()) {
        if (!j.array) continue;
        EXPECT_EQ(on_nodes(j), active_tasks[id]) << "array " << id;
        if (j.array->max_running > 0) {
          EXPECT_LE(active_tasks[id], j.array->max_running) << "array " << id;
          throttled += active_tasks[id] == j.array->max_running;
        }
      }
      if (::testing::Test::HasFailure()) return;

      // Some jobs start, some end (some fail, to be retried).
      Ids active(c.state().active_jobs().begin(), c.state().active_jobs().end());
      for (auto id : active) {
        if (c.state().job(id)->state == JobState::Starting && pick(0, 1)) c.start(id, now + 100);
        if (pick(0, 2) == 0) c.exit(id, pick(0, 3) == 0 ? 1 : 0, now + 200);
      }
    }
  }
  RecordProperty("task_starts", task_starts);
  RecordProperty("job_starts", job_starts);
  EXPECT_GT(task_starts, 300);
  EXPECT_GT(job_starts, 50);
  EXPECT_GT(throttled, 5);
}

}  // namespace
}  // namespace drover::sched
