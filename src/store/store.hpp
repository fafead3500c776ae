// Durable state of the head in SQLite (WAL mode). The server applies events to
// ClusterState, then saves what they changed in one transaction before any
// reply leaves: a request is acknowledged only once it is on disk (group commit:
// every request of one event-loop turn shares one fsync).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_state.hpp"
#include "core/result.hpp"

struct sqlite3;

namespace drover::store {

struct HistoryFilter {
  std::int64_t since_ms = 0;                  // stopped at or after
  std::optional<JobState> state;              // SUCCEEDED or FAILED
  std::optional<std::uint32_t> uid;
  std::string queue;
  int limit = 1000;
};

class Store {
 public:
  // synchronous_full: fsync every commit (durable across power loss); otherwise
  // durable across a crash of droverd only (synchronous=NORMAL).
  static Result<std::unique_ptr<Store>> open(const std::string& path, bool synchronous_full = true);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Loads every stored entity into an empty state.
  Status load(ClusterState& state);
  // Writes the entities named in dirty (as they are in state now) and the new
  // payloads, all in one transaction.
  Status save(const ClusterState& state, const DirtySet& dirty,
              const std::vector<std::pair<std::int64_t, JobPayload>>& payloads);
  Result<JobPayload> payload(std::int64_t job_id);
  // Finished jobs, newest first.
  Result<std::vector<Job>> history(const HistoryFilter& filter);
  // A job by id, straight from disk (for jobs no longer held in memory).
  Result<std::optional<Job>> load_job(std::int64_t id);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status exec(const char* sql);
  sqlite3* db_;
};

}  // namespace drover::store
