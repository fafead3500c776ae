// One scheduling pass: a pure function from the cluster's state (read-only, the
// snapshot) and the time to the jobs to start now and why the others wait.
// The daemon, the benchmarks and (later) the simulator call the same code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cluster_state.hpp"

namespace drover::sched {

struct Decision {
  std::int64_t job_id = 0;
  std::int64_t array_index = -1;  // job_id is an array's parent: start this task
  std::string node;
  std::vector<int> cpus;
  std::vector<int> gpus;
  std::vector<NodeSlice> more_nodes;  // multi-node jobs: the other nodes, in order
  // sbatch --time-min: the shortened time limit of this attempt (seconds), so that
  // it ends before a reservation needs its room; 0: the job's own limit.
  std::int64_t time_limit_s = 0;
};

struct WaitReason {
  std::int64_t job_id = 0;
  std::string reason;  // Resources, Priority, NodesUnavailable, ArrayThrottle, Preempting, ...
  // With backfill: when the job is expected to start (epoch ms), from the time
  // limits of the jobs ahead of it; 0 when unknown.
  std::int64_t estimated_start_ms = 0;
};

// A running job to stop so that a waiting job of a higher-priority queue can
// start: the pass found that `for_job_id` (the first job of its queue that
// cannot start for lack of resources) fits once its victims have stopped. The
// waiting job does not start in this pass; its reason is "Preempting", and
// the room it needs beyond what the victims free stays held for it.
struct Preemption {
  std::int64_t job_id = 0;      // the victim: a STARTING or RUNNING job
  std::int64_t for_job_id = 0;  // the waiting job it makes room for (an array's parent for a task)
  PreemptMode mode = PreemptMode::Requeue;  // the victim's queue's: Requeue or Cancel, never Off
};

struct PassResult {
  std::vector<Decision> starts;
  // Only where the reason changed, and, with EASY or conservative backfill,
  // every job holding a reservation (its estimated start may have moved).
  std::vector<WaitReason> reasons;
  // Jobs to stop for jobs of higher-priority queues; each victim once. Empty
  // when no queue's preemptionMode allows it.
  std::vector<Preemption> preemptions;
};

// How jobs that are behind a job that cannot start are treated.
//  Greedy:       every job that fits now starts, in order (no reservations);
//                a big job can wait forever behind a stream of small ones.
//  None:         strict FIFO per queue: the first job that cannot start
//                blocks the rest of its queue ("Priority").
//  Easy:         the first job of each queue that cannot start gets a
//                reservation (node and time); later jobs start now only if
//                they do not delay it (end before it, or use what it leaves).
//  Conservative: every job that cannot start gets a reservation, in order;
//                no later job may delay any of them.
// Reservations come from time limits: running jobs end at their attempt's
// start + timeout (now + timeout while STARTING); a job without a limit uses
// Policy::default_time_limit_s, and when that is 0 it is taken to run forever.
enum class Backfill { Greedy, None, Easy, Conservative };
const char* to_string(Backfill b);

struct Policy {
  // Stop scanning a queue's jobs after this many could not start (0: scan all).
  // A pass never starts a job out of its queue's order unless it fits now.
  std::size_t max_blocked_scan = 0;
  // Consider only jobs with this id or higher. The head passes the first id
  // submitted since the last pass when nothing else changed: jobs that could
  // not start then still cannot, so a pass costs O(new jobs), not O(queued).
  // With backfill, jobs older than first_job_id are known not to fit now but
  // still hold their reservations (EASY: the queue's first one; conservative:
  // all of them, so an incremental conservative pass still costs O(queued)).
  // As time passes a waiting job may become able to backfill (it ends before a
  // reservation sooner); a full pass finds it.
  std::int64_t first_job_id = 0;
  // For queues that set no mode of their own; a queue's JobQueue::backfill
  // (EASY, CONSERVATIVE, FIFO = None) wins. Reservations bind every job
  // considered after them, of any queue (README.md).
  Backfill backfill = Backfill::Greedy;
  // Time limit for jobs without one (seconds); 0: unknown, i.e. infinite.
  std::int64_t default_time_limit_s = 0;
  // Conservative: at most this many reservations per pass (0: no limit); jobs
  // beyond it may still start now when that delays no reservation.
  std::size_t max_reservations = 0;
};

PassResult schedule(const ClusterState& state, std::int64_t now_ms, const Policy& policy = {});

}  // namespace drover::sched
