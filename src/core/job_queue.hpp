// Job queues and compute environments (AWS Batch CreateJobQueue /
// CreateComputeEnvironment). An UNMANAGED environment is a set of registered nodes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drover {

inline constexpr int kMaxEnvironmentsPerQueue = 3;

// AWS Batch's fair-share scheduling policy (here part of its queue): jobs of
// the share that uses least, relative to its weight, go first.
struct ShareWeight {
  std::string identifier;  // a share, or a prefix ending in '*'
  double weight = 1.0;     // weightFactor: lower gets more (0.0001 .. 999.9999)
  bool operator==(const ShareWeight&) const = default;
};
struct FairShare {
  bool enabled = false;
  // Past use counts with a half-life of this many seconds (0: only what runs now).
  std::int64_t share_decay_seconds = 0;
  // Percent: (reservation/100)^active_shares of the queue's vCPUs is kept for
  // shares that have nothing running (AWS computeReservation, 0..99).
  int compute_reservation = 0;
  std::vector<ShareWeight> weights;
  double weight_of(const std::string& share) const;
  bool operator==(const FairShare&) const = default;
};
// A share's decayed past use in a queue: vCPU-seconds as of `at` (epoch ms).
struct ShareUsage {
  double vcpu_seconds = 0;
  std::int64_t at = 0;
  double as_of(std::int64_t now, std::int64_t half_life_s) const;
  bool operator==(const ShareUsage&) const = default;
};

// What may happen to a queue's RUNNING jobs when a job of a queue with a
// strictly higher priority cannot start for lack of resources (Slurm's
// PreemptType=preempt/partition_prio with PreemptMode=OFF/REQUEUE/CANCEL):
// Off: never preempted; Requeue: stopped and queued again (same id, next
// attempt); Cancel: stopped and ended.
enum class PreemptMode { Off, Requeue, Cancel };
const char* to_string(PreemptMode m);  // "OFF", "REQUEUE", "CANCEL"
std::optional<PreemptMode> parse_preempt_mode(std::string_view s);  // case-insensitive

// How a queue's jobs behind one that cannot start are treated (a Drover
// extension, `backfill` in the queue's document; sched::Backfill holds the
// details): Easy: the first blocked job gets a reservation, later ones start
// only if they do not delay it; Conservative: every blocked job gets one;
// Fifo: the first blocked job blocks the rest of its queue.
enum class QueueBackfill : std::uint8_t { Easy, Conservative, Fifo };
const char* to_string(QueueBackfill b);  // "EASY", "CONSERVATIVE", "FIFO"
std::optional<QueueBackfill> parse_queue_backfill(std::string_view s);  // case-insensitive

struct JobQueue {
  std::string name;
  bool enabled = true;    // DISABLED: accepts no new jobs, still runs what it holds
  int priority = 1;       // higher is considered first
  std::vector<std::string> compute_environments;  // in order of preference, at most 3
  bool slurm_env = true;  // jobs get the SLURM_* compatibility variables
  // Limits (0: none). A job without a time limit gets the default, else the
  // maximum; one asking for more than the maximum is refused at submit.
  std::int64_t default_time_limit_s = 0;
  std::int64_t max_time_limit_s = 0;
  int max_jobs_per_user = 0;   // running at once; more wait with reason QuotaUser
  int max_vcpus_per_user = 0;  // in use at once
  FairShare fair_share;
  // How this queue's running jobs may be preempted by jobs of higher-priority queues.
  PreemptMode preempt_mode = PreemptMode::Off;
  // Unset: the scheduler's own mode (droverd: EASY; the simulator: --policy).
  std::optional<QueueBackfill> backfill;
  // Whether a job whose dependency can never be satisfied fails (true, the
  // default) or stays PENDING (reason DependencyNeverSatisfied) until it is
  // cancelled or its dependencies are changed; a job's own
  // --kill-on-invalid-dep wins.
  bool kill_on_invalid_dep = true;
  std::map<std::string, ShareUsage> usage;  // by share, fair-share queues only
  std::int64_t created_at = 0;
  bool operator==(const JobQueue&) const = default;
};

struct ComputeEnvironment {
  std::string name;
  std::string type = "UNMANAGED";
  bool enabled = true;        // DISABLED: starts nothing new
  int max_vcpus = 0;          // 0: no cap beyond the nodes themselves
  std::vector<std::string> nodes;  // node names; a node may sit in several environments
  std::int64_t created_at = 0;
  bool operator==(const ComputeEnvironment&) const = default;
};

}  // namespace drover
