// The SQLite store: what is saved loads back equal, payloads and history are
// found, data survives reopening, and bad paths or newer schemas are refused
// with clear errors.
#include "store/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_cluster.hpp"

namespace drover::store {
namespace {

namespace fs = std::filesystem;
using drover::testing::ClusterBuilder;
using drover::testing::expect_same_job;
using drover::testing::make_test_job;
using drover::testing::make_topology;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "drover-store-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "state.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> open() {
    auto s = Store::open(path_, false);
    EXPECT_TRUE(s) << s.message();
    return s ? std::move(*s) : nullptr;
  }

  // Saves everything the state marked dirty.
  static void save(Store& store, ClusterState& state,
                   const std::vector<std::pair<std::int64_t, JobPayload>>& payloads = {}) {
    auto s = store.save(state, state.take_dirty(), payloads);
    ASSERT_TRUE(s) << s.message();
  }

  // Runs raw SQL against the database file (for cases only a newer or broken
  // writer could produce).
  void sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  fs::path dir_;
  std::string path_;
};

// Every entity kind, jobs in every state, payloads of each shape.
void build_everything(ClusterBuilder& c) {
  c.node("n1", make_topology(8, 2, 65536, 2, 2), 100);
  c.node("n2", make_topology(4, 1, 8192), 100);
  c.node("n3", make_topology(2), 100);
  c.ok(NodeStateSet{"n3", NodeState::Drain, "bad fan"});
  c.env("ce", {"n1", "n2"}, 64);
  c.env("off", {"n3"}, 0, false);
  c.queue("q", {"ce"}, 10);
  c.queue("low", {"ce", "off"}, 1, false);

  JobDefinition d;
  d.name = "blast";
  d.revision = 1;
  d.command = {"blastn", "Ref::db"};
  d.parameters = {{"db", "nt"}};
  d.environment = {{"Z", "1"}, {"A", "2"}};
  d.resources = {4, 1024, 0};
  d.retry.attempts = 3;
  d.retry.evaluate_on_exit = {{"1", "", "", "EXIT"}};
  d.timeout_seconds = 60;
  d.tags = {{"team", "bio"}};
  d.created_at = 5;
  c.ok(DefinitionRegistered{d});
  d.revision = 2;
  d.resources.vcpus = 8;
  c.ok(DefinitionRegistered{d});
  c.ok(DefinitionDeregistered{"blast", 1});

  Job j1 = make_test_job(1);  // RUNNABLE, with everything set
  j1.definition = "blast";
  j1.definition_revision = 2;
  j1.parameters = {{"db", "nt"}};
  j1.tags = {{"k", "v"}};
  j1.retry = d.retry;
  j1.timeout_seconds = 60;
  j1.stderr_path = "err-%j";
  c.submit(j1);
  c.submit(make_test_job(2, "q", 2, 2048, 1));  // STARTING on n1
  c.dispatch(2, "n1", {0, 1}, {1}, 150);
  c.submit(make_test_job(3, "q", 3, 1000));  // RUNNING on n2
  c.dispatch(3, "n2", {0, 1, 2}, {}, 160);
  c.start(3, 170);
  Job j4 = make_test_job(4);  // SUCCEEDED after a retry
  j4.retry.attempts = 2;
  c.submit(j4);
  c.run(4, 1, "n1", {4});
  c.run(4, 0, "n1", {5});
  c.submit(make_test_job(5, "low"));  // FAILED by termination
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{5, 180, "Cancelled by alice"}));
  Job j6 = make_test_job(6);  // PENDING on 3
  j6.depends_on = {{3, DependencyType::AfterOk}};
  c.submit(j6);
  ASSERT_TRUE(c.state().apply(JobTerminationRequested{3, 190, "Terminated"}));  // flag only
}

std::vector<std::pair<std::int64_t, JobPayload>> payloads() {
  return {{1, JobPayload{{"blastn", "nt"}, "", {{"Z", "1"}, {"A", "2"}}}},
          {2, JobPayload{{"a1"}, "#!/bin/bash\necho \"$@\"\n", {}}},
          {3, JobPayload{{"x"}, "", {{"BIN", "caf\xc3\xa9"}}}}};
}

TEST_F(StoreTest, SaveLoadRoundTripOfEverything) {
  ClusterBuilder c;
  build_everything(c);
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state(), payloads());
  }
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState loaded;
  auto s = store->load(loaded);
  ASSERT_TRUE(s) << s.message();
  const ClusterState& live = c.state();

  EXPECT_EQ(loaded.definitions(), live.definitions());
  EXPECT_EQ(loaded.queues(), live.queues());
  EXPECT_EQ(loaded.environments(), live.environments());
  ASSERT_EQ(loaded.nodes().size(), live.nodes().size());
  for (const auto& [name, n] : live.nodes()) {
    SCOPED_TRACE(name);
    const Node* b = loaded.node(name);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->topology, n.topology);
    EXPECT_EQ(b->last_seen, n.last_seen);
    EXPECT_EQ(b->pu_used, n.pu_used);
    EXPECT_EQ(b->gpu_used, n.gpu_used);
    EXPECT_EQ(b->memory_used_mib, n.memory_used_mib);
    EXPECT_EQ(b->jobs_running, n.jobs_running);
    EXPECT_FALSE(b->connected);  // until the agent says hello
  }
  EXPECT_EQ(loaded.node("n1")->state, NodeState::Down);
  EXPECT_EQ(loaded.node("n3")->state, NodeState::Drain);
  EXPECT_EQ(loaded.node("n3")->state_reason, "bad fan");

  ASSERT_EQ(loaded.jobs().size(), live.jobs().size());
  for (const auto& [id, j] : live.jobs()) {
    ASSERT_NE(loaded.job(id), nullptr) << id;
    expect_same_job(*loaded.job(id), j);
  }
  EXPECT_EQ(loaded.runnable("q"), live.runnable("q"));
  EXPECT_EQ(loaded.runnable_count(), live.runnable_count());
  EXPECT_EQ(loaded.next_job_id(), live.next_job_id());
  EXPECT_TRUE(loaded.take_dirty().empty());

  for (const auto& [id, p] : payloads()) {
    auto got = store->payload(id);
    ASSERT_TRUE(got) << got.message();
    EXPECT_EQ(*got, p);
  }
}

TEST_F(StoreTest, LoadOfANewDatabaseIsEmpty) {
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState s;
  ASSERT_TRUE(store->load(s));
  EXPECT_TRUE(s.jobs().empty());
  EXPECT_TRUE(s.nodes().empty());
  EXPECT_EQ(s.next_job_id(), 1);
}

TEST_F(StoreTest, SavingNothingIsANoOp) {
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState s;
  EXPECT_TRUE(store->save(s, DirtySet{}, {}));
  // Dirty names of entities that no longer exist are skipped.
  DirtySet gone;
  gone.jobs = {99};
  gone.queues = {"nope"};
  gone.definitions = {{"nope", 1}};
  gone.environments = {"nope"};
  gone.nodes = {"nope"};
  EXPECT_TRUE(store->save(s, gone, {}));
  auto j = store->load_job(99);
  ASSERT_TRUE(j);
  EXPECT_FALSE(*j);
}

TEST_F(StoreTest, LaterSavesReplaceEarlierRows) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  auto store = open();
  ASSERT_TRUE(store);
  save(*store, c.state(), {{1, JobPayload{{"v1"}, "", {}}}});
  c.run(1, 0);
  c.queue("q", {"ce"}, 99);
  save(*store, c.state(), {{1, JobPayload{{"v2"}, "", {}}}});

  auto j = store->load_job(1);
  ASSERT_TRUE(j) << j.message();
  ASSERT_TRUE(*j);
  EXPECT_EQ((*j)->state, JobState::Succeeded);
  EXPECT_EQ(store->payload(1)->command, (std::vector<std::string>{"v2"}));
  ClusterState loaded;
  ASSERT_TRUE(store->load(loaded));
  EXPECT_EQ(loaded.jobs().size(), 1u);
  EXPECT_EQ(loaded.queue("q")->priority, 99);
}

TEST_F(StoreTest, QueuePreemptionModeIsKeptAndOldRowsLoadAsOff) {
  ClusterBuilder c;
  c.simple();
  JobQueue q = *c.state().queue("q");
  q.preempt_mode = PreemptMode::Cancel;
  c.ok(QueueSaved{q});
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }
  {
    auto store = open();
    ASSERT_TRUE(store);
    ClusterState loaded;
    ASSERT_TRUE(store->load(loaded));
    ASSERT_NE(loaded.queue("q"), nullptr);
    EXPECT_EQ(loaded.queue("q")->preempt_mode, PreemptMode::Cancel);
  }
  // A queue written before preemption existed has no preemptionMode.
  sql(R"(INSERT OR REPLACE INTO queues (name, doc) VALUES ('old', '{"jobQueueName": "old", "priority": 3, )"
      R"("computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}]}'))");
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState loaded;
  auto s = store->load(loaded);
  ASSERT_TRUE(s) << s.message();
  ASSERT_NE(loaded.queue("old"), nullptr);
  EXPECT_EQ(loaded.queue("old")->preempt_mode, PreemptMode::Off);
  EXPECT_EQ(loaded.queue("old")->priority, 3);
}

TEST_F(StoreTest, QueueBackfillModeAndKillOnInvalidDependencyAreKept) {
  ClusterBuilder c;
  c.simple();
  JobQueue q = *c.state().queue("q");
  q.backfill = QueueBackfill::Conservative;
  q.kill_on_invalid_dep = false;
  c.ok(QueueSaved{q});
  Job j = make_test_job(1);
  j.kill_on_invalid_dep = 0;
  c.submit(std::move(j));
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState loaded;
  ASSERT_TRUE(store->load(loaded));
  ASSERT_NE(loaded.queue("q"), nullptr);
  EXPECT_EQ(loaded.queue("q")->backfill, QueueBackfill::Conservative);
  EXPECT_FALSE(loaded.queue("q")->kill_on_invalid_dep);
  ASSERT_NE(loaded.job(1), nullptr);
  EXPECT_EQ(loaded.job(1)->kill_on_invalid_dep, 0);
}

// A running multi-node job whose node groups ask different resources comes
// back with each group's request, and each node's memory counted by its own.
TEST_F(StoreTest, NodeGroupsWithDifferentResourcesAreKept) {
  ClusterBuilder c;
  for (const char* n : {"n1", "n2", "n3"}) c.node(n, make_topology(4, 1, 8192, 1));
  c.env("ce", {"n1", "n2", "n3"});
  c.queue("q", {"ce"});
  Job j = drover::testing::make_test_job(1, "q", 4, 4096, 1);
  j.nodes = 3;
  j.ntasks = 6;
  j.node_requests = Boxed<std::vector<NodeRequest>>(
      std::vector<NodeRequest>{{0, 0, {4, 4096, 1}}, {1, 2, {1, 512, 0}}});
  c.submit(j);
  c.ok(JobDispatched{1, "n2", {0, 1, 2, 3}, {0}, 5000, -1, 0, {{"n1", {0}, {}}, {"n3", {1}, {}}}});
  EXPECT_EQ(c.state().node("n2")->memory_used_mib, 4096);
  EXPECT_EQ(c.state().node("n1")->memory_used_mib, 512);
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState loaded;
  auto s = store->load(loaded);
  ASSERT_TRUE(s) << s.message();
  ASSERT_NE(loaded.job(1), nullptr);
  expect_same_job(*loaded.job(1), *c.state().job(1));
  ASSERT_TRUE(loaded.job(1)->mixed_nodes());
  EXPECT_EQ(loaded.job(1)->request_on(2).memory_mib, 512);
  EXPECT_EQ(loaded.job(1)->total_vcpus(), 6);
  for (const char* n : {"n1", "n2", "n3"})
    EXPECT_EQ(loaded.node(n)->memory_used_mib, c.state().node(n)->memory_used_mib) << n;
}

TEST_F(StoreTest, PayloadOfAnUnknownJob) {
  auto store = open();
  ASSERT_TRUE(store);
  auto p = store->payload(12);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.message(), "job 12: no stored command");
}

TEST_F(StoreTest, LoadJob) {
  ClusterBuilder c;
  build_everything(c);
  auto store = open();
  ASSERT_TRUE(store);
  save(*store, c.state());
  for (std::int64_t id : {1, 3, 4, 6}) {
    auto j = store->load_job(id);
    ASSERT_TRUE(j) << j.message();
    ASSERT_TRUE(*j) << id;
    expect_same_job(**j, *c.state().job(id));
  }
  auto none = store->load_job(1234);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

// Finished jobs: (id, queue, uid, exit code, stopped at).
class StoreHistory : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    c.simple(4);
    c.queue("other", {"ce"});
    struct Finished {
      std::int64_t id;
      const char* queue;
      std::uint32_t uid;
      int code;
      std::int64_t stopped;
    };
    for (const Finished& f : std::vector<Finished>{{1, "q", 1000, 0, 5000},
                                                   {2, "q", 1001, 1, 6000},
                                                   {3, "other", 1000, 0, 7000},
                                                   {4, "q", 1000, 2, 7000},
                                                   {5, "other", 1001, 0, 9000}}) {
      Job j = make_test_job(f.id, f.queue);
      j.uid = f.uid;
      c.submit(j);
      c.dispatch(f.id, "n1", {0});
      c.start(f.id, f.stopped - 100);
      c.exit(f.id, f.code, f.stopped);
    }
    c.submit(6);  // still RUNNABLE: never in history
    c.submit(7);  // RUNNING
    c.dispatch(7, "n1", {1});
    c.start(7, 8000);
    store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }

  std::vector<std::int64_t> ids(const HistoryFilter& f) {
    auto h = store->history(f);
    EXPECT_TRUE(h) << h.message();
    std::vector<std::int64_t> out;
    if (h)
      for (const auto& j : *h) out.push_back(j.id);
    return out;
  }

  ClusterBuilder c;
  std::unique_ptr<Store> store;
};

TEST_F(StoreHistory, Filters) {
  using V = std::vector<std::int64_t>;
  HistoryFilter f;
  EXPECT_EQ(ids(f), (V{5, 4, 3, 2, 1}));  // newest first; ties by id, highest first
  f.since_ms = 7000;
  EXPECT_EQ(ids(f), (V{5, 4, 3}));  // stopped at or after
  f.since_ms = 9001;
  EXPECT_EQ(ids(f), (V{}));
  f = {};
  f.state = JobState::Failed;
  EXPECT_EQ(ids(f), (V{4, 2}));
  f.state = JobState::Succeeded;
  EXPECT_EQ(ids(f), (V{5, 3, 1}));
  f = {};
  f.uid = 1001;
  EXPECT_EQ(ids(f), (V{5, 2}));
  f = {};
  f.queue = "other";
  EXPECT_EQ(ids(f), (V{5, 3}));
  f = {};
  f.limit = 2;
  EXPECT_EQ(ids(f), (V{5, 4}));
  f = {};
  f.queue = "q";
  f.uid = 1000;
  f.state = JobState::Succeeded;
  f.since_ms = 1;
  EXPECT_EQ(ids(f), (V{1}));
  f = {};
  f.queue = "nope";
  EXPECT_EQ(ids(f), (V{}));
}

TEST_F(StoreHistory, JobsComeBackWhole) {
  auto h = store->history(HistoryFilter{});
  ASSERT_TRUE(h);
  for (const auto& j : *h) expect_same_job(j, *c.state().job(j.id));
}

TEST_F(StoreTest, ReopenKeepsDataAndWal) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state(), {{1, JobPayload{{"echo"}, "", {}}}});
  }
  for (int i = 0; i < 2; ++i) {  // twice: reopening must not reset anything
    auto store = open();
    ASSERT_TRUE(store);
    ClusterState s;
    ASSERT_TRUE(store->load(s));
    ASSERT_NE(s.job(1), nullptr);
    EXPECT_EQ(s.job(1)->state, JobState::Runnable);
    EXPECT_NE(s.queue("q"), nullptr);
    EXPECT_TRUE(store->payload(1));
  }
  // Durable mode opens too.
  auto full = Store::open(path_, true);
  ASSERT_TRUE(full) << full.message();
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  { ASSERT_TRUE(open()); }
  sql("UPDATE meta SET value = '2' WHERE key = 'schema'");
  auto s = Store::open(path_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("newer Drover"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("schema 2"), std::string::npos) << s.message();
}

TEST_F(StoreTest, UnreadableSchemaVersionIsAnErrorNotACrash) {
  { ASSERT_TRUE(open()); }
  sql("UPDATE meta SET value = 'banana' WHERE key = 'schema'");
  Result<std::unique_ptr<Store>> s = Error{};
  ASSERT_NO_THROW(s = Store::open(path_));
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("banana"), std::string::npos) << s.message();
}

TEST_F(StoreTest, CorruptJobRowIsReported) {
  ClusterBuilder c;
  c.simple();
  c.submit(1);
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }
  sql("UPDATE jobs SET doc = '{not json' WHERE id = 1");
  auto store = open();
  ASSERT_TRUE(store);
  ClusterState s;
  auto st = store->load(s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("corrupt"), std::string::npos) << st.message();
  auto j = store->load_job(1);
  ASSERT_FALSE(j);
  EXPECT_NE(j.message().find("job 1"), std::string::npos) << j.message();

  sql("UPDATE jobs SET doc = '{\"jobId\": \"1\"}' WHERE id = 1");  // JSON, but not a job
  ClusterState s2;
  st = store->load(s2);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("jobName"), std::string::npos) << st.message();
}

TEST_F(StoreTest, MissingDirectoryIsAClearError) {
  const std::string bad = (dir_ / "no" / "such" / "dir" / "state.db").string();
  auto s = Store::open(bad);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("cannot open state database"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
}

TEST_F(StoreTest, ParentIsAFileIsAClearError) {
  const fs::path file = dir_ / "plain-file";
  std::ofstream(file) << "x";
  const std::string bad = (file / "state.db").string();
  auto s = Store::open(bad);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
}

TEST_F(StoreTest, PathIsADirectoryIsAClearError) {
  auto s = Store::open(dir_.string());
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(dir_.string()), std::string::npos) << s.message();
}

TEST_F(StoreTest, UnwritableDirectoryIsAClearError) {
  if (geteuid() == 0) GTEST_SKIP() << "root can write anywhere; permissions cannot be tested";
  const fs::path ro = dir_ / "ro";
  fs::create_directory(ro);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  const std::string bad = (ro / "state.db").string();
  auto s = Store::open(bad);
  fs::permissions(ro, fs::perms::owner_all);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
}

TEST_F(StoreTest, NotADatabaseIsAClearError) {
  std::ofstream(path_) << std::string(4096, 'z');
  auto s = Store::open(path_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
}

}  // namespace
}  // namespace drover::store

namespace drover::store {
namespace {

// A lazy commit (durable=false) is written but waits for an fsync: unsynced()
// says so until a durable commit or sync(); opened without synchronous_full
// nothing ever waits. The job id floor is kept across reopening.
TEST_F(StoreTest, LazyCommitsWaitForSyncAndTheIdFloorSurvivesReopening) {
  {
    auto opened = Store::open(path_, true);
    ASSERT_TRUE(opened) << opened.message();
    Store& store = **opened;
    ClusterBuilder c;
    c.node("n1", make_topology(2), 100);
    c.env("ce", {"n1"}, 64);
    c.queue("q", {"ce"}, 10);
    EXPECT_FALSE(store.unsynced());
    ASSERT_TRUE(store.save(c.state(), c.state().take_dirty(), {}, false));
    EXPECT_TRUE(store.unsynced());
    ASSERT_TRUE(store.sync());
    EXPECT_FALSE(store.unsynced());
    ASSERT_TRUE(store.save(c.state(), DirtySet{{}, {}, {"q"}}, {}, false));
    EXPECT_TRUE(store.unsynced());
    // The id floor is always written durably.
    store.reserve_job_ids(5000);
    ASSERT_TRUE(store.save(c.state(), DirtySet{}, {}, false));
    EXPECT_FALSE(store.unsynced());
  }
  auto again = Store::open(path_, true);
  ASSERT_TRUE(again) << again.message();
  ClusterState loaded;
  ASSERT_TRUE((*again)->load(loaded));
  EXPECT_EQ(loaded.next_job_id(), 5000);
  EXPECT_TRUE(loaded.queue("q"));

  auto normal = Store::open(path_, false);
  ASSERT_TRUE(normal) << normal.message();
  ASSERT_TRUE((*normal)->save(loaded, DirtySet{{}, {}, {"q"}}, {}, false));
  EXPECT_FALSE((*normal)->unsynced());
}

}  // namespace
}  // namespace drover::store
