#include "store/store.hpp"

#include <sqlite3.h>

#include <charconv>

#include "proto/codec.hpp"

namespace drover::store {

namespace {

constexpr int kSchemaVersion = 1;

// A prepared statement: owned (finalized at the end of its scope), or one of
// the Store's cached ones (reset and its bindings cleared at the end of scope).
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db), owned_(true) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  Stmt(sqlite3* db, sqlite3_stmt* cached) : db_(db), s_(cached), owned_(false) {}
  ~Stmt() {
    if (owned_) sqlite3_finalize(s_);
    else if (s_) reset();
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return s_ != nullptr; }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, col)) : "";
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(s_, col); }
  std::string error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  bool owned_;
};

Error db_error(sqlite3* db, const std::string& what) { return make_error(what, sqlite3_errmsg(db)); }

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY, state TEXT NOT NULL, uid INTEGER NOT NULL, queue TEXT NOT NULL,
  stopped_at INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_stopped ON jobs(stopped_at) WHERE stopped_at > 0;
CREATE TABLE IF NOT EXISTS payloads (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS definitions (
  name TEXT NOT NULL, revision INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (name, revision));
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS environments (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS array_tasks (
  parent INTEGER NOT NULL, idx INTEGER NOT NULL, id INTEGER NOT NULL,
  PRIMARY KEY (parent, idx)) WITHOUT ROWID;
)sql";

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path, bool synchronous_full) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    Error e = make_error("cannot open state database " + path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<Store> s(new Store(db));
  s->synchronous_full_ = s->durable_now_ = synchronous_full;
  sqlite3_busy_timeout(db, 5000);
  // SQLite opens lazily: a directory or a file that is not a database fails here.
  auto failed = [&](const Status& st) {
    return make_error("cannot open state database " + path, st.message());
  };
  if (auto st = s->exec("PRAGMA journal_mode=WAL"); !st) return failed(st);
  if (auto st = s->exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !st)
    return failed(st);
  if (auto st = s->exec("PRAGMA foreign_keys=OFF"); !st) return failed(st);
  if (auto st = s->exec(kSchema); !st) return failed(st);
  Stmt v(db, "SELECT value FROM meta WHERE key='schema'");
  if (v.ok() && v.step() == SQLITE_ROW) {
    const std::string text = v.text(0);
    int version = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (ec != std::errc() || p != text.data() + text.size() || version < 1)
      return make_error("cannot use state database " + path,
                        "unreadable schema version '" + text + "'");
    if (version > kSchemaVersion)
      return make_error("cannot use state database " + path,
                        "it was written by a newer Drover (schema " + text + ")");
  } else {
    if (auto st = s->exec("INSERT INTO meta VALUES ('schema', '1')"); !st) return failed(st);
  }
  return s;
}

Store::~Store() {
  for (auto& [sql, stmt] : prepared_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

sqlite3_stmt* Store::prepared(const char* sql) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  // Not cached when it fails: the caller's Stmt reports it (ok() is false).
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return nullptr;
  }
  prepared_.emplace(sql, stmt);
  return stmt;
}

Status Store::run(const char* sql) {
  Stmt st(db_, prepared(sql));
  if (!st.ok()) return db_error(db_, "database error");
  const int rc = st.step();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_error(db_, "database error");
  return {};
}

Status Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Error e = make_error("database error", err ? err : "unknown");
    sqlite3_free(err);
    return e;
  }
  return {};
}

Status Store::load(ClusterState& state) {
  using proto::Json;
  auto each = [&](const char* sql, auto&& fn) -> Status {
    Stmt q(db_, sql);
    if (!q.ok()) return db_error(db_, "cannot read state");
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      Json j = Json::parse(q.text(0), nullptr, false);
      if (j.is_discarded()) return make_error("corrupt state database", std::string("bad JSON in: ") + sql);
      if (auto s = fn(j); !s) return s;
    }
    if (rc != SQLITE_DONE) return db_error(db_, "cannot read state");
    return {};
  };
  if (auto s = each("SELECT doc FROM environments", [&](const Json& j) -> Status {
        auto e = proto::environment_from_json(j);
        if (!e) return e.error();
        state.restore(std::move(*e));
        return {};
      }); !s)
    return s;
  if (auto s = each("SELECT doc FROM queues", [&](const Json& j) -> Status {
        auto q = proto::queue_from_json(j);
        if (!q) return q.error();
        state.restore(std::move(*q));
        return {};
      }); !s)
    return s;
  if (auto s = each("SELECT doc FROM definitions ORDER BY name, revision", [&](const Json& j) -> Status {
        auto d = proto::definition_from_json(j);
        if (!d) return d.error();
        state.restore(std::move(*d));
        return {};
      }); !s)
    return s;
  if (auto s = each("SELECT doc FROM nodes", [&](const Json& j) -> Status {
        auto n = proto::node_from_json(j);
        if (!n) return n.error();
        state.restore(std::move(*n));
        return {};
      }); !s)
    return s;
  if (auto s = each("SELECT doc FROM jobs", [&](const Json& j) -> Status {
        auto job = proto::job_from_json(j);
        if (!job) return make_error("corrupt job in state database", job.message());
        state.restore(std::move(*job));
        return {};
      }); !s)
    return s;
  state.finish_restore();
  Stmt floor(db_, "SELECT value FROM meta WHERE key='jobIdFloor'");
  if (floor.ok() && floor.step() == SQLITE_ROW) state.raise_next_job_id(floor.integer(0));
  return {};
}

Status Store::set_durable(bool durable) {
  durable = durable && synchronous_full_;
  if (durable == durable_now_) return {};
  if (auto s = run(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !s) return s;
  durable_now_ = durable;
  return {};
}

Status Store::save(const ClusterState& state, const DirtySet& dirty,
                   const std::vector<std::pair<std::int64_t, JobPayload>>& payloads, bool durable) {
  if (dirty.empty() && payloads.empty() && !id_floor_) return {};
  durable = durable || id_floor_ != 0;
  if (auto s = set_durable(durable); !s) return s;
  // Statements stay prepared across commits (parsing them was a large part of a
  // small commit's cost).
  if (auto s = run("BEGIN IMMEDIATE"); !s) return s;
  auto rollback = [&](Error e) -> Status {
    (void)exec("ROLLBACK");
    return e;
  };
  {
    Stmt put(db_, prepared("INSERT OR REPLACE INTO jobs (id, state, uid, queue, stopped_at, doc) "
                           "VALUES (?, ?, ?, ?, ?, ?)"));
    if (!put.ok()) return rollback(db_error(db_, "cannot save jobs"));
    for (auto id : dirty.jobs) {
      const Job* j = state.job(id);
      if (!j) continue;
      put.bind(1, j->id).bind(2, std::string(to_string(j->state))).bind(3, std::int64_t{j->uid})
          .bind(4, j->queue).bind(5, is_terminal(j->state) ? j->stopped_at : 0)
          .bind(6, proto::dump(proto::to_json(*j)));
      if (put.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save job " + std::to_string(id)));
      put.reset();
      // An array task's id by its index (written with each save of the task; the
      // first one sticks).
      if (j->array_parent) {
        Stmt task(db_, prepared("INSERT OR IGNORE INTO array_tasks (parent, idx, id) VALUES (?, ?, ?)"));
        if (!task.ok()) return rollback(db_error(db_, "cannot save array task " + std::to_string(id)));
        task.bind(1, j->array_parent).bind(2, j->array_index).bind(3, j->id);
        if (task.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save array task " + std::to_string(id)));
      }
    }
    Stmt pay(db_, prepared("INSERT OR REPLACE INTO payloads (id, doc) VALUES (?, ?)"));
    if (!pay.ok()) return rollback(db_error(db_, "cannot save state"));
    for (const auto& [id, p] : payloads) {
      pay.bind(1, id).bind(2, proto::dump(proto::to_json(p)));
      if (pay.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save job payload"));
      pay.reset();
    }
    Stmt def(db_, prepared("INSERT OR REPLACE INTO definitions (name, revision, doc) VALUES (?, ?, ?)"));
    if (!def.ok()) return rollback(db_error(db_, "cannot save state"));
    for (const auto& [name, rev] : dirty.definitions) {
      const JobDefinition* d = state.definition(name, rev);
      if (!d) continue;
      def.bind(1, name).bind(2, std::int64_t{rev}).bind(3, proto::dump(proto::to_json(*d)));
      if (def.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save job definition"));
      def.reset();
    }
    Stmt q(db_, prepared("INSERT OR REPLACE INTO queues (name, doc) VALUES (?, ?)"));
    if (!q.ok()) return rollback(db_error(db_, "cannot save state"));
    for (const auto& name : dirty.queues)
      if (const auto* x = state.queue(name)) {
        q.bind(1, name).bind(2, proto::dump(proto::to_json(*x)));
        if (q.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save queue"));
        q.reset();
      }
    Stmt e(db_, prepared("INSERT OR REPLACE INTO environments (name, doc) VALUES (?, ?)"));
    if (!e.ok()) return rollback(db_error(db_, "cannot save state"));
    for (const auto& name : dirty.environments)
      if (const auto* x = state.environment(name)) {
        e.bind(1, name).bind(2, proto::dump(proto::to_json(*x)));
        if (e.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save compute environment"));
        e.reset();
      }
    Stmt n(db_, prepared("INSERT OR REPLACE INTO nodes (name, doc) VALUES (?, ?)"));
    if (!n.ok()) return rollback(db_error(db_, "cannot save state"));
    for (const auto& name : dirty.nodes)
      if (const auto* x = state.node(name)) {
        n.bind(1, name).bind(2, proto::dump(proto::to_json(*x)));
        if (n.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save node"));
        n.reset();
      }
    if (id_floor_) {
      Stmt f(db_, prepared("INSERT OR REPLACE INTO meta (key, value) VALUES ('jobIdFloor', ?)"));
      if (!f.ok()) return rollback(db_error(db_, "cannot save state"));
      f.bind(1, id_floor_);
      if (f.step() != SQLITE_DONE) return rollback(db_error(db_, "cannot save the job id floor"));
    }
  }
  if (auto s = run("COMMIT"); !s) return rollback(s.error());
  id_floor_ = 0;
  // A durable commit's fsync of the WAL covers the lazy commits before it.
  unsynced_ = synchronous_full_ && !durable;
  return {};
}

Status Store::sync() {
  if (!unsynced_) return {};
  // The WAL holds every commit not yet checkpointed, and a checkpoint syncs the
  // WAL first: syncing the WAL makes every commit so far durable.
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || !wal ||
      !wal->pMethods)
    return make_error("cannot sync state database", "no write-ahead log open");
  if (const int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL); rc != SQLITE_OK)
    return make_error("cannot sync state database", sqlite3_errstr(rc));
  unsynced_ = false;
  return {};
}

Result<JobPayload> Store::payload(std::int64_t job_id) {
  Stmt q(db_, prepared("SELECT doc FROM payloads WHERE id = ?"));
  if (!q.ok()) return db_error(db_, "cannot read state");
  q.bind(1, job_id);
  if (q.step() != SQLITE_ROW) return make_error("job " + std::to_string(job_id), "no stored command");
  auto j = proto::Json::parse(q.text(0), nullptr, false);
  if (j.is_discarded()) return make_error("job " + std::to_string(job_id), "corrupt stored command");
  return proto::payload_from_json(j);
}

Result<std::vector<Job>> Store::history(const HistoryFilter& f) {
  std::string sql = "SELECT doc FROM jobs WHERE stopped_at > 0 AND stopped_at >= ?";
  if (f.state) sql += " AND state = ?";
  if (f.uid) sql += " AND uid = ?";
  if (!f.queue.empty()) sql += " AND queue = ?";
  sql += " ORDER BY stopped_at DESC, id DESC LIMIT ?";
  Stmt q(db_, sql.c_str());
  if (!q.ok()) return db_error(db_, "cannot read history");
  int i = 1;
  q.bind(i++, f.since_ms);
  if (f.state) q.bind(i++, std::string(to_string(*f.state)));
  if (f.uid) q.bind(i++, std::int64_t{*f.uid});
  if (!f.queue.empty()) q.bind(i++, f.queue);
  q.bind(i++, std::int64_t{f.limit});
  std::vector<Job> out;
  while (q.step() == SQLITE_ROW) {
    auto j = proto::Json::parse(q.text(0), nullptr, false);
    if (j.is_discarded()) continue;
    if (auto job = proto::job_from_json(j)) out.push_back(std::move(*job));
  }
  return out;
}

Result<std::int64_t> Store::find_task(std::int64_t parent, std::int64_t index) {
  Stmt q(db_, prepared("SELECT id FROM array_tasks WHERE parent = ? AND idx = ?"));
  if (!q.ok()) return db_error(db_, "cannot read state");
  q.bind(1, parent).bind(2, index);
  return q.step() == SQLITE_ROW ? q.integer(0) : std::int64_t{0};
}

Result<std::optional<Job>> Store::load_job(std::int64_t id) {
  Stmt q(db_, prepared("SELECT doc FROM jobs WHERE id = ?"));
  if (!q.ok()) return db_error(db_, "cannot read state");
  q.bind(1, id);
  if (q.step() != SQLITE_ROW) return std::optional<Job>{};
  auto j = proto::Json::parse(q.text(0), nullptr, false);
  if (j.is_discarded()) return make_error("job " + std::to_string(id), "corrupt record");
  auto job = proto::job_from_json(j);
  if (!job) return job.error();
  return std::optional<Job>{std::move(*job)};
}

}  // namespace drover::store
