// Preemption between queues: the first job of a queue that cannot start for
// lack of resources has running jobs of strictly lower-priority queues stopped
// for it, where their queue's preemptionMode allows (REQUEUE or CANCEL); the
// cheapest set that makes room, or none at all; each victim once per pass;
// jobs already being stopped count as room to come. Only the decisions: the
// head stops the victims.
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
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

constexpr std::int64_t kNow = 10'000'000;  // ms
constexpr PreemptMode kOff = PreemptMode::Off;
constexpr PreemptMode kRequeue = PreemptMode::Requeue;
constexpr PreemptMode kCancel = PreemptMode::Cancel;

Policy with(Backfill b) {
  Policy p;
  p.backfill = b;
  return p;
}
Policy easy() { return with(Backfill::Easy); }

void queue(ClusterBuilder& c, const std::string& name, int priority, PreemptMode mode,
           std::vector<std::string> envs = {"ce"}) {
  JobQueue q;
  q.name = name;
  q.priority = priority;
  q.preempt_mode = mode;
  q.compute_environments = std::move(envs);
  c.ok(QueueSaved{q});
}

// `count` nodes n1.. of `cores` cores (and `gpus` GPUs) in environment "ce".
void nodes(ClusterBuilder& c, int count, int cores, int gpus = 0) {
  std::vector<std::string> names;
  for (int i = 1; i <= count; ++i) {
    names.push_back("n" + std::to_string(i));
    c.node(names.back(), make_topology(cores, 1, 16384, gpus));
  }
  c.env("ce", names);
}

std::vector<int> pus(int first, int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(first + i);
  return v;
}

// Job `id` of `q` running on `node`, PUs first..first+n-1 (and GPUs), since `started`.
void running(ClusterBuilder& c, std::int64_t id, const std::string& q, const std::string& node, int first, int n,
             std::int64_t started, std::vector<int> gpus = {}) {
  Job j = make_test_job(id, q, n, 0, static_cast<int>(gpus.size()));
  j.timeout_seconds = 3600;
  c.submit(j);
  c.dispatch(id, node, pus(first, n), std::move(gpus), started);
  c.start(id, started);
}

// A waiting job of `q` asking for `vcpus` PUs on each of `n_nodes` nodes.
void waiting(ClusterBuilder& c, std::int64_t id, const std::string& q, int vcpus, int n_nodes = 1, int gpus = 0) {
  Job j = make_test_job(id, q, vcpus, 0, gpus);
  j.nodes = n_nodes;
  j.ntasks = vcpus * n_nodes;
  j.timeout_seconds = 600;
  c.submit(j);
}

Ids victims(const PassResult& r) {
  Ids ids;
  for (const auto& p : r.preemptions) ids.push_back(p.job_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}
std::string reason_of(const PassResult& r, std::int64_t id) {
  for (const auto& w : r.reasons)
    if (w.job_id == id) return w.reason;
  return "";
}
void apply_reasons(ClusterBuilder& c, const PassResult& r) {
  for (const auto& w : r.reasons) c.ok(JobPendingReasonSet{w.job_id, w.reason, w.estimated_start_ms});
}

// ---- the victim queue's mode -------------------------------------------------------

struct ModeCase {
  const char* name;
  PreemptMode mode;
  bool preempts;
};
void PrintTo(const ModeCase& k, std::ostream* os) { *os << k.name; }
class PreemptModes : public ::testing::TestWithParam<ModeCase> {};

TEST_P(PreemptModes, OffNeverRequeueAndCancelCarriedThrough) {
  const ModeCase& k = GetParam();
  for (Backfill b : {Backfill::Greedy, Backfill::None, Backfill::Easy, Backfill::Conservative}) {
    SCOPED_TRACE(to_string(b));
    ClusterBuilder c;
    nodes(c, 1, 4);
    queue(c, "high", 10, kOff);
    queue(c, "low", 1, k.mode);
    running(c, 1, "low", "n1", 0, 4, kNow - 60'000);
    waiting(c, 2, "high", 2);
    const PassResult r = schedule(c.state(), kNow, with(b));
    EXPECT_TRUE(r.starts.empty()) << "the waiting job starts only once its victims have stopped";
    if (!k.preempts) {
      EXPECT_TRUE(r.preemptions.empty());
      EXPECT_EQ(reason_of(r, 2), "Resources");
      continue;
    }
    ASSERT_EQ(r.preemptions.size(), 1u);
    EXPECT_EQ(r.preemptions[0].job_id, 1);
    EXPECT_EQ(r.preemptions[0].for_job_id, 2);
    EXPECT_EQ(r.preemptions[0].mode, k.mode);
    EXPECT_EQ(reason_of(r, 2), "Preempting");
  }
}

INSTANTIATE_TEST_SUITE_P(Table, PreemptModes,
                         ::testing::Values(ModeCase{"Off", kOff, false}, ModeCase{"Requeue", kRequeue, true},
                                           ModeCase{"Cancel", kCancel, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- only for strictly higher queues ---------------------------------------------------

struct RankCase {
  const char* name;
  int waiting_priority;
  int running_priority;
  bool preempts;
};
void PrintTo(const RankCase& k, std::ostream* os) { *os << k.name; }
class PreemptRank : public ::testing::TestWithParam<RankCase> {};

TEST_P(PreemptRank, OnlyAQueueOfStrictlyHigherPriorityPreempts) {
  const RankCase& k = GetParam();
  ClusterBuilder c;
  nodes(c, 1, 4);
  queue(c, "top", 100, kOff);  // so that preemption is possible in every case
  queue(c, "w", k.waiting_priority, kRequeue);
  queue(c, "r", k.running_priority, kRequeue);
  running(c, 1, "r", "n1", 0, 4, kNow - 1000);
  waiting(c, 2, "w", 4);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(victims(r), k.preempts ? Ids{1} : Ids{});
  EXPECT_EQ(reason_of(r, 2), k.preempts ? "Preempting" : "Resources");
}

INSTANTIATE_TEST_SUITE_P(Table, PreemptRank,
                         ::testing::Values(RankCase{"Higher", 10, 1, true}, RankCase{"Equal", 5, 5, false},
                                           RankCase{"Lower", 1, 10, false}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- which victims -------------------------------------------------------------------

struct Running {
  std::int64_t id;
  const char* queue;  // low1 (priority 1), low2 (priority 2), keep (priority 1, OFF)
  const char* node;
  int first, pus;
  std::int64_t age_s;  // started this long before now
};
struct ChoiceCase {
  const char* name;
  std::vector<Running> jobs;
  int vcpus;  // of the waiting job, in queue "high"
  int nodes;
  Ids victims;  // empty: none (no set frees enough)
};
void PrintTo(const ChoiceCase& k, std::ostream* os) { *os << k.name; }
class PreemptChoice : public ::testing::TestWithParam<ChoiceCase> {};

TEST_P(PreemptChoice, CheapestSetThatMakesRoomOrNothing) {
  const ChoiceCase& k = GetParam();
  ClusterBuilder c;
  nodes(c, 4, 8);
  queue(c, "high", 10, kOff);
  queue(c, "low1", 1, kRequeue);
  queue(c, "low2", 2, kRequeue);
  queue(c, "keep", 1, kOff);
  for (const auto& j : k.jobs) running(c, j.id, j.queue, j.node, j.first, j.pus, kNow - j.age_s * 1000);
  // Every node is full unless a case leaves room: fill the rest with "keep".
  std::int64_t filler = 100;
  for (int n = 1; n <= 4; ++n) {
    const std::string node = "n" + std::to_string(n);
    const int free = c.state().node(node)->pus_free();
    if (free > 0) running(c, filler++, "keep", node, 8 - free, free, kNow - 10);
  }
  waiting(c, 50, "high", k.vcpus, k.nodes);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(victims(r), k.victims);
  EXPECT_EQ(reason_of(r, 50), k.victims.empty() ? "Resources" : "Preempting");
  for (const auto& p : r.preemptions) EXPECT_EQ(p.for_job_id, 50);
}

INSTANTIATE_TEST_SUITE_P(
    Table, PreemptChoice,
    ::testing::Values(
        // The lowest queue first, even when its job is older and bigger.
        ChoiceCase{"LowestQueueFirst", {{1, "low2", "n1", 0, 4, 10}, {2, "low1", "n1", 4, 4, 1000}}, 4, 1, {2}},
        // Within a queue, the youngest attempt (least work lost).
        ChoiceCase{"YoungestFirst", {{1, "low1", "n1", 0, 4, 500}, {2, "low1", "n1", 4, 4, 100}}, 4, 1, {2}},
        // Same age: the smallest that makes room.
        ChoiceCase{"SmallestFirst",
                   {{1, "low1", "n1", 0, 2, 100}, {2, "low1", "n1", 2, 6, 100}}, 2, 1, {1}},
        // The young 1-PU job alone is not enough; once the old 4-PU one is
        // chosen it is not needed: only the old one goes.
        ChoiceCase{"NoMoreThanNeeded",
                   {{1, "low1", "n1", 0, 1, 10}, {2, "low1", "n1", 1, 4, 900}}, 4, 1, {2}},
        // Two jobs on one node when one is not enough.
        ChoiceCase{"SeveralOnOneNode",
                   {{1, "low1", "n1", 0, 2, 10}, {2, "low1", "n1", 2, 2, 20}, {3, "low1", "n1", 4, 4, 900}}, 4, 1,
                   {1, 2}},
        // Between nodes: the one whose victims are cheaper (younger).
        ChoiceCase{"CheapestNode", {{1, "low1", "n1", 0, 8, 900}, {2, "low1", "n2", 0, 8, 30}}, 8, 1, {2}},
        // The rest of the node is held by a queue that may not be preempted:
        // stopping the low job alone is not enough, so nothing is stopped.
        ChoiceCase{"NoPartialPreemption", {{1, "low1", "n1", 0, 4, 10}}, 8, 1, {}},
        ChoiceCase{"NothingPreemptable", {}, 1, 1, {}},
        // Multi-node: two nodes each freed by their youngest job.
        ChoiceCase{"MultiNodeYoungestNodes",
                   {{1, "low1", "n1", 0, 8, 40}, {2, "low1", "n2", 0, 8, 10}, {3, "low1", "n3", 0, 8, 20},
                    {4, "low1", "n4", 0, 8, 30}},
                   8, 2, {2, 3}},
        // Multi-node: three nodes needed, only two can be freed: nothing.
        ChoiceCase{"MultiNodeNotEnoughNodes", {{1, "low1", "n1", 0, 8, 40}, {2, "low1", "n2", 0, 8, 10}}, 8, 3, {}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Preempt, MultiNodeVictimFreesSeveralNodesOnce) {
  ClusterBuilder c;
  nodes(c, 3, 4);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  // Job 1 holds n1 and n2 (young); job 2 holds n3 (older).
  Job j = make_test_job(1, "low", 4);
  j.nodes = 2;
  j.ntasks = 8;
  c.submit(j);
  c.ok(JobDispatched{1, "n1", pus(0, 4), {}, kNow - 5000, -1, 0, {{"n2", pus(0, 4), {}}}});
  c.start(1, kNow - 5000);
  running(c, 2, "low", "n3", 0, 4, kNow - 900'000);
  waiting(c, 3, "high", 4, 2);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(victims(r), (Ids{1})) << "one victim frees both nodes";
}

TEST(Preempt, PlacementDecides) {
  // The waiting job needs a GPU: the younger CPU-only job does not help, the
  // GPU job does, and then the CPU-only one is not needed.
  ClusterBuilder c;
  nodes(c, 1, 4, 1);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  running(c, 1, "low", "n1", 0, 2, kNow - 900'000, {0});
  running(c, 2, "low", "n1", 2, 2, kNow - 1000);
  waiting(c, 3, "high", 1, 1, 1);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(victims(r), (Ids{1}));
}

TEST(Preempt, ArraysTasksAreVictimsAndAnArrayMayWaitForThem) {
  ClusterBuilder c;
  nodes(c, 1, 4);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  c.submit(drover::testing::make_test_array(1, {{0, 3, 1}}, 0, "low"));
  for (int i = 0; i < 4; ++i) {
    c.dispatch_task(1, i, 10 + i, "n1", {i}, kNow - 1000 * (4 - i));  // task 13 is the youngest
    c.start(10 + i, kNow - 1000 * (4 - i));
  }
  c.submit(drover::testing::make_test_array(2, {{0, 9, 1}}, 0, "high", 2));
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(victims(r), (Ids{12, 13})) << "the two youngest tasks, by their own ids";
  for (const auto& p : r.preemptions) EXPECT_EQ(p.for_job_id, 2) << "the waiting array";
  EXPECT_EQ(reason_of(r, 2), "Preempting");
}

// ---- jobs already being stopped ------------------------------------------------------

struct StoppingCase {
  const char* name;
  bool requeue;  // JobRequeueRequested, else JobTerminationRequested
  int vcpus;     // of the waiting job
  Ids victims;
};
void PrintTo(const StoppingCase& k, std::ostream* os) { *os << k.name; }
class PreemptStopping : public ::testing::TestWithParam<StoppingCase> {};

TEST_P(PreemptStopping, JobsBeingStoppedAreNotVictimsButTheirRoomCounts) {
  const StoppingCase& k = GetParam();
  ClusterBuilder c;
  nodes(c, 1, 4);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  running(c, 1, "low", "n1", 0, 2, kNow - 10);  // the youngest: preferred, but already stopping
  running(c, 2, "low", "n1", 2, 2, kNow - 900'000);
  if (k.requeue)
    c.ok(JobRequeueRequested{1, "preempted"});
  else
    c.ok(JobTerminationRequested{1, kNow, "preempted", {}});
  waiting(c, 3, "high", k.vcpus);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(victims(r), k.victims);
  EXPECT_EQ(reason_of(r, 3), "Preempting");
  EXPECT_TRUE(r.starts.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, PreemptStopping,
                         ::testing::Values(StoppingCase{"RequeueEnough", true, 2, {}},
                                           StoppingCase{"RequeueNeedsOneMore", true, 4, {2}},
                                           StoppingCase{"TerminateEnough", false, 2, {}},
                                           StoppingCase{"TerminateNeedsOneMore", false, 4, {2}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Preempt, OnePreemptionThenTheJobStartsWhenItsVictimsAreGone) {
  ClusterBuilder c;
  nodes(c, 1, 4);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  running(c, 1, "low", "n1", 0, 4, kNow - 1000);
  waiting(c, 2, "high", 4);
  PassResult r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(victims(r), (Ids{1}));
  apply_reasons(c, r);
  // What the head does: ask the victim to stop.
  c.ok(JobRequeueRequested{1, "preempted by job 2"});
  // While it winds down, later passes choose nothing more, and the room stays held.
  waiting(c, 3, "low", 1);
  for (Policy p : {easy(), [] { Policy i = easy(); i.first_job_id = 3; return i; }()}) {
    r = schedule(c.state(), kNow + 1000, p);
    EXPECT_TRUE(r.preemptions.empty());
    EXPECT_TRUE(r.starts.empty());
    EXPECT_EQ(reason_of(r, 2), "") << "still Preempting: unchanged";
  }
  c.exit(1, 0, kNow + 5000, "", 15);  // stopped by the head: requeued (requeue_requested)
  ASSERT_EQ(c.state().job(1)->state, JobState::Runnable);
  r = schedule(c.state(), kNow + 5000, easy());
  EXPECT_EQ(started(r), (Ids{2}));
  EXPECT_TRUE(r.preemptions.empty()) << "the requeued job waits; it preempts nobody";
}

// ---- several waiting jobs ------------------------------------------------------------

TEST(Preempt, AVictimIsChosenOnceAcrossQueues) {
  ClusterBuilder c;
  nodes(c, 2, 4);
  queue(c, "high1", 10, kOff);
  queue(c, "high2", 9, kOff);
  queue(c, "low", 1, kRequeue);
  running(c, 1, "low", "n1", 0, 4, kNow - 10);
  running(c, 2, "low", "n2", 0, 4, kNow - 20);
  waiting(c, 3, "high1", 4);
  waiting(c, 4, "high2", 4);
  PassResult r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.preemptions.size(), 2u);
  EXPECT_EQ(r.preemptions[0].job_id, 1);  // the youngest, for the highest queue
  EXPECT_EQ(r.preemptions[0].for_job_id, 3);
  EXPECT_EQ(r.preemptions[1].job_id, 2);
  EXPECT_EQ(r.preemptions[1].for_job_id, 4);

  // With one victim only, the second waiting job gets nothing.
  ClusterBuilder one;
  nodes(one, 1, 4);
  queue(one, "high1", 10, kOff);
  queue(one, "high2", 9, kOff);
  queue(one, "low", 1, kRequeue);
  running(one, 1, "low", "n1", 0, 4, kNow - 10);
  waiting(one, 3, "high1", 4);
  waiting(one, 4, "high2", 4);
  r = schedule(one.state(), kNow, easy());
  ASSERT_EQ(r.preemptions.size(), 1u);
  EXPECT_EQ(r.preemptions[0].for_job_id, 3);
  EXPECT_EQ(reason_of(r, 3), "Preempting");
  EXPECT_EQ(reason_of(r, 4), "Resources");
}

TEST(Preempt, OnlyTheFirstBlockedJobOfAQueuePreempts) {
  ClusterBuilder c;
  nodes(c, 2, 4);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  running(c, 1, "low", "n1", 0, 4, kNow - 10);
  running(c, 2, "low", "n2", 0, 4, kNow - 20);
  waiting(c, 3, "high", 4);
  waiting(c, 4, "high", 4);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(victims(r), (Ids{1}));
  EXPECT_EQ(reason_of(r, 3), "Preempting");
  EXPECT_EQ(reason_of(r, 4), "Priority");
}

TEST(Preempt, HeldRoomIsNotTakenByLaterJobs) {
  for (Backfill b : {Backfill::Greedy, Backfill::Easy, Backfill::Conservative}) {
    SCOPED_TRACE(to_string(b));
    ClusterBuilder c;
    nodes(c, 1, 4);
    queue(c, "high", 10, kOff);
    queue(c, "mid", 5, kOff);
    queue(c, "low", 1, kRequeue);
    running(c, 1, "low", "n1", 0, 2, kNow - 10);  // 2 PUs free besides it
    waiting(c, 2, "high", 4);
    waiting(c, 3, "high", 2);  // would fit in the free 2 PUs
    Job short_job = make_test_job(4, "mid", 1);
    short_job.timeout_seconds = 1;  // ends long before anything: backfill would start it
    c.submit(short_job);
    const PassResult r = schedule(c.state(), kNow, with(b));
    EXPECT_EQ(victims(r), (Ids{1}));
    EXPECT_TRUE(r.starts.empty()) << "the 2 free PUs are held for job 2";
  }
}

TEST(Preempt, IncrementalPassStillConsidersTheBlockedHeadJob) {
  ClusterBuilder c;
  nodes(c, 1, 4);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  running(c, 1, "low", "n1", 0, 4, kNow - 10);
  waiting(c, 2, "high", 4);
  waiting(c, 3, "high", 1);  // the new submission that triggers the pass
  Policy p = easy();
  p.first_job_id = 3;
  const PassResult r = schedule(c.state(), kNow, p);
  EXPECT_EQ(victims(r), (Ids{1}));
  EXPECT_EQ(reason_of(r, 2), "Preempting");
}

TEST(Preempt, NodesHoldingAnotherReservationAreLeftToIt) {
  // "top"'s job cannot be helped enough by preemption (the rest of n1 is a
  // queue that may not be preempted): it gets n1's reservation. "high" could
  // make room on n1 by preempting, but the node is left to the reservation
  // of the queue that came first.
  ClusterBuilder c;
  nodes(c, 1, 4);
  queue(c, "top", 20, kOff);
  queue(c, "high", 10, kOff);
  queue(c, "low", 1, kRequeue);
  queue(c, "keep", 0, kOff);
  running(c, 1, "keep", "n1", 0, 2, kNow - 10);
  running(c, 2, "low", "n1", 2, 2, kNow - 10);
  waiting(c, 3, "top", 3);
  waiting(c, 4, "high", 2);
  const PassResult r = schedule(c.state(), kNow, easy());
  EXPECT_EQ(reason_of(r, 3), "Resources");
  EXPECT_EQ(reason_of(r, 4), "Resources");
  EXPECT_TRUE(r.preemptions.empty());
}

TEST(Preempt, UnderAnEnvironmentCapTheVictimsMustGiveBackEnough) {
  // ce holds at most 6 PUs in use; n1 has 8. Low (preemptable) uses 2, keep 4:
  // 2 PUs are free on the node but none under the cap.
  struct Case {
    int vcpus;
    Ids victims;
  };
  for (const Case& k : {Case{2, {1}}, Case{4, {}}}) {
    SCOPED_TRACE(k.vcpus);
    ClusterBuilder c;
    c.node("n1", make_topology(8));
    c.env("ce", {"n1"}, 6);
    queue(c, "high", 10, kOff);
    queue(c, "low", 1, kRequeue);
    queue(c, "keep", 1, kOff);
    running(c, 1, "low", "n1", 0, 2, kNow - 10);
    running(c, 2, "keep", "n1", 2, 4, kNow - 10);
    waiting(c, 3, "high", k.vcpus);
    const PassResult r = schedule(c.state(), kNow, easy());
    EXPECT_TRUE(r.starts.empty());
    EXPECT_EQ(victims(r), k.victims) << "2 PUs fit the node now; the cap needs the low job's 2 back, "
                                        "and 4 would need more than it gives";
  }
}

// ---- nothing changes without a preemptable queue ---------------------------------------

void expect_same(const PassResult& a, const PassResult& b) {
  ASSERT_EQ(a.starts.size(), b.starts.size());
  for (std::size_t i = 0; i < a.starts.size(); ++i) {
    EXPECT_EQ(a.starts[i].job_id, b.starts[i].job_id);
    EXPECT_EQ(a.starts[i].array_index, b.starts[i].array_index);
    EXPECT_EQ(a.starts[i].node, b.starts[i].node);
    EXPECT_EQ(a.starts[i].cpus, b.starts[i].cpus);
    EXPECT_EQ(a.starts[i].gpus, b.starts[i].gpus);
    EXPECT_EQ(a.starts[i].more_nodes, b.starts[i].more_nodes);
  }
  ASSERT_EQ(a.reasons.size(), b.reasons.size());
  for (std::size_t i = 0; i < a.reasons.size(); ++i) {
    EXPECT_EQ(a.reasons[i].job_id, b.reasons[i].job_id);
    EXPECT_EQ(a.reasons[i].reason, b.reasons[i].reason);
    EXPECT_EQ(a.reasons[i].estimated_start_ms, b.reasons[i].estimated_start_ms);
  }
  EXPECT_TRUE(a.preemptions.empty());
  EXPECT_TRUE(b.preemptions.empty());
}

// A mixed cluster: three queues, running jobs, waiting jobs that fit, do not
// fit, need several nodes; `modes` for high, mid and low.
ClusterBuilder mixed(PreemptMode high, PreemptMode mid, PreemptMode low, bool low_runs = true) {
  ClusterBuilder c;
  nodes(c, 3, 4);
  queue(c, "high", 10, high);
  queue(c, "mid", 5, mid);
  queue(c, "low", 1, low);
  if (low_runs) {
    running(c, 1, "low", "n1", 0, 4, kNow - 100'000);
    running(c, 2, "low", "n2", 0, 2, kNow - 50'000);
  } else {
    running(c, 1, "mid", "n1", 0, 4, kNow - 100'000);
    running(c, 2, "mid", "n2", 0, 2, kNow - 50'000);
  }
  std::int64_t id = 10;
  for (const char* q : {"high", "mid", "low"}) {
    waiting(c, id++, q, 4);
    waiting(c, id++, q, 1);
    waiting(c, id++, q, 4, 2);
    waiting(c, id++, q, 2);
  }
  return c;
}

TEST(Preempt, WithoutAPreemptableQueueThePassIsTheSame) {
  for (Backfill b : {Backfill::Greedy, Backfill::None, Backfill::Easy, Backfill::Conservative}) {
    SCOPED_TRACE(to_string(b));
    ClusterBuilder base = mixed(kOff, kOff, kOff);
    const PassResult off = schedule(base.state(), kNow, with(b));
    // The top queue's mode does not matter: no queue is above it.
    ClusterBuilder top = mixed(kRequeue, kOff, kOff);
    expect_same(off, schedule(top.state(), kNow, with(b)));
    // A preemptable queue that runs nothing: nothing to preempt.
    ClusterBuilder idle_base = mixed(kOff, kOff, kOff, false);
    ClusterBuilder idle = mixed(kOff, kOff, kCancel, false);
    expect_same(schedule(idle_base.state(), kNow, with(b)), schedule(idle.state(), kNow, with(b)));
  }
}

}  // namespace
}  // namespace drover::sched
