// Durable state of the head in SQLite (WAL mode). The server applies events to
// ClusterState, then saves what they changed in one transaction before any
// reply leaves. A commit is either durable (fsync'd: it survives a power loss;
// group commit: every request of one event-loop turn shares one fsync) or lazy
// (written, not fsync'd: it survives a crash of droverd, and the next durable
// commit or sync() makes it, and every commit before it, durable too).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/cluster_state.hpp"
#include "core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

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

  // Loads every stored entity into an empty state (and the id floor below).
  Status load(ClusterState& state);
  // Writes the entities named in dirty (as they are in state now) and the new
  // payloads, all in one transaction. durable=false skips the fsync of this
  // commit (WAL, synchronous=NORMAL): for changes that the agents' re-sync can
  // put right if a power loss takes them (launches, exits, "started", wait
  // reasons); the next durable commit or sync() makes them durable too.
  // README.md says what droverd promises.
  Status save(const ClusterState& state, const DirtySet& dirty,
              const std::vector<std::pair<std::int64_t, JobPayload>>& payloads, bool durable = true);
  // Job ids below `floor` are never used again after a restart. Written with
  // the next save, which is then durable whatever it is asked to be.
  void reserve_job_ids(std::int64_t floor) { id_floor_ = floor; }
  // Makes every commit so far durable (one fsync of the WAL), without a
  // transaction. Does nothing when nothing is waiting for it.
  Status sync();
  // Whether a commit is not durable yet (always false when opened with
  // synchronous_full false: then nothing ever is, across a power loss).
  bool unsynced() const { return unsynced_; }
  Result<JobPayload> payload(std::int64_t job_id);
  // Finished jobs, newest first.
  Result<std::vector<Job>> history(const HistoryFilter& filter);
  // A job by id, straight from disk (for jobs no longer held in memory).
  Result<std::optional<Job>> load_job(std::int64_t id);
  // The id of an array's task by its index; 0 if it never started.
  Result<std::int64_t> find_task(std::int64_t parent, std::int64_t index);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status set_durable(bool durable);
  Status exec(const char* sql);
  // A statement prepared once and kept (reset after each use); nullptr if it
  // cannot be prepared. Keyed by the text's address: string literals only.
  sqlite3_stmt* prepared(const char* sql);
  // Runs a cached statement without parameters (BEGIN, COMMIT, PRAGMA).
  Status run(const char* sql);
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> prepared_;
  bool synchronous_full_ = true;  // as opened
  bool durable_now_ = true;       // the connection's current setting
  bool unsynced_ = false;         // a lazy commit since the last fsync
  std::int64_t id_floor_ = 0;     // to write with the next save; 0: none
};

}  // namespace drover::store
