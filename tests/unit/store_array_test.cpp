// Arrays in the store: a parent (its indexes, positions not started, counts,
// cancelled, throttle) and its tasks load back equal, the index of tasks in
// memory is rebuilt, and a task's id is found by (array, index) once it was
// saved starting, also after it left memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"
#include "test_cluster.hpp"

namespace drover::store {
namespace {

namespace fs = std::filesystem;
using drover::testing::ClusterBuilder;
using drover::testing::expect_same_job;
using drover::testing::make_test_array;
using drover::testing::make_test_job;

class StoreArrayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "drover-store-array-test-XXXXXX").string();
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
  static void save(Store& store, ClusterState& state) {
    auto s = store.save(state, state.take_dirty(), {});
    ASSERT_TRUE(s) << s.message();
  }
  // A fresh state loaded from the file.
  void load(ClusterState& into) {
    auto store = open();
    ASSERT_TRUE(store);
    auto s = store->load(into);
    ASSERT_TRUE(s) << s.message();
  }
  static std::int64_t task(Store& store, std::int64_t parent, std::int64_t index) {
    auto r = store.find_task(parent, index);
    EXPECT_TRUE(r) << r.message();
    return r ? *r : -1;
  }

  fs::path dir_;
  std::string path_;
};

// Array 1: indexes 0-9 and 100-120:10 (13 tasks), at most 3 at once. Tasks:
// 0 (id 20) succeeded, 1 (id 21) running, 2 (id 22) starting; 5, 6 and 110
// cancelled before they started: the positions not started are fragmented.
// Array 2: 4 tasks waiting on job 3. Job 3: a plain runnable job.
void build(ClusterBuilder& c) {
  c.simple(4);
  Job a = make_test_array(1, {{0, 9, 1}, {100, 120, 10}}, 3);
  a.timeout_seconds = 60;
  a.retry.attempts = 2;
  c.submit(a);
  c.submit(3);
  Job b = make_test_array(2, {{0, 3, 1}});
  b.depends_on = {{3, DependencyType::AfterOk}};
  c.submit(b);
  c.dispatch_task(1, 0, 20, "n1", {0}, 1500);
  c.dispatch_task(1, 1, 21, "n1", {1}, 1500);
  c.start(20, 2000);
  c.start(21, 2000);
  c.exit(20, 0, 3000);
  c.dispatch_task(1, 2, 22, "n1", {0}, 3100);
  c.ok(JobTerminationRequested{1, 3200, "not needed", {{5, 6, 1}, {110, 110, 1}}});
}

TEST_F(StoreArrayTest, ParentAndTasksLoadBackEqual) {
  ClusterBuilder c;
  build(c);
  const ClusterState& live = c.state();
  const Job& p = *live.job(1);
  // What is being saved is what the test means.
  ASSERT_TRUE(p.array);
  EXPECT_EQ(p.state, JobState::Running);
  EXPECT_EQ(p.array->cancelled, 3);
  EXPECT_EQ(p.array->pending.intervals().size(), 3u);  // positions 3-4, 7-10, 12
  EXPECT_EQ(to_text(p.array->indexes.indexes_at(p.array->pending)), "3-4,7-9,100,120");
  EXPECT_EQ(p.array->count[static_cast<int>(JobState::Succeeded)], 1);
  EXPECT_EQ(p.array->count[static_cast<int>(JobState::Running)], 1);
  EXPECT_EQ(p.array->count[static_cast<int>(JobState::Starting)], 1);
  EXPECT_EQ(p.array->count[static_cast<int>(JobState::Failed)], 3);
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }
  ClusterState loaded;
  load(loaded);
  if (HasFatalFailure()) return;

  ASSERT_EQ(loaded.jobs().size(), live.jobs().size());
  for (const auto& [id, j] : live.jobs()) {
    ASSERT_NE(loaded.job(id), nullptr) << id;
    expect_same_job(*loaded.job(id), j);
  }
  const Job& lp = *loaded.job(1);
  ASSERT_TRUE(lp.array);
  EXPECT_TRUE(*lp.array == *p.array);
  EXPECT_EQ(lp.array->indexes, p.array->indexes);
  EXPECT_EQ(lp.array->pending, p.array->pending);
  EXPECT_EQ(lp.array->count, p.array->count);
  EXPECT_EQ(lp.array->cancelled, 3);
  EXPECT_EQ(lp.array->max_running, 3);
  // Not persisted, rebuilt from the task records.
  EXPECT_EQ(lp.array->live, p.array->live);
  EXPECT_EQ(lp.array->live, (std::map<std::int64_t, std::int64_t>{{0, 20}, {1, 21}, {2, 22}}));
  const Job& b = *loaded.job(2);
  ASSERT_TRUE(b.array);
  EXPECT_EQ(b.state, JobState::Pending);
  EXPECT_TRUE(b.array->live.empty());

  // The derived indexes: the array waits in its queue, its tasks hold the node.
  EXPECT_EQ(loaded.runnable("q"), live.runnable("q"));
  EXPECT_TRUE(loaded.runnable("q").count(1));
  EXPECT_FALSE(loaded.runnable("q").count(2));
  EXPECT_EQ(loaded.active_jobs(), live.active_jobs());
  EXPECT_EQ(loaded.active_jobs(), (std::set<std::int64_t>{21, 22}));
  EXPECT_EQ(loaded.node("n1")->pus_free(), live.node("n1")->pus_free());
  EXPECT_EQ(loaded.node("n1")->pus_free(), 2);
  EXPECT_EQ(loaded.next_job_id(), live.next_job_id());
  EXPECT_TRUE(loaded.take_dirty().empty());

  // The loaded state goes on as the live one would: the dependency of array 2
  // resolves, and array 1 finishes when its last tasks end.
  ClusterState& s = loaded;
  ASSERT_TRUE(s.apply(JobDispatched{3, "n1", {2}, {}, 4000}));
  ASSERT_TRUE(s.apply(JobStarted{3, 4000}));
  ASSERT_TRUE(s.apply(JobExited{3, 4100, 0, 0, ""}));
  EXPECT_EQ(s.job(2)->state, JobState::Runnable);
  EXPECT_TRUE(s.runnable("q").count(2));
  // Task 2 cannot start twice; a waiting index can.
  EXPECT_FALSE(s.apply(JobDispatched{1, "n1", {2}, {}, 4200, 2, 30}));
  ASSERT_TRUE(s.apply(JobDispatched{1, "n1", {2}, {}, 4200, 3, 30}));
  EXPECT_EQ(s.job(1)->array->live.at(3), 30);
  EXPECT_EQ(s.job(1)->array->pending.count(), 6);
}

TEST_F(StoreArrayTest, FinishedArrayLoadsBackEqual) {
  ClusterBuilder c;
  c.simple(4);
  c.submit(make_test_array(1, {{0, 2, 1}}));
  c.dispatch_task(1, 0, 10, "n1", {0});
  c.start(10);
  c.exit(10, 0);
  c.ok(JobTerminationRequested{1, 3500, "cancelled by user", {}});
  ASSERT_EQ(c.state().job(1)->state, JobState::Failed);
  {
    auto store = open();
    ASSERT_TRUE(store);
    save(*store, c.state());
  }
  ClusterState loaded;
  load(loaded);
  if (HasFatalFailure()) return;
  for (const auto& [id, j] : c.state().jobs()) {
    ASSERT_NE(loaded.job(id), nullptr) << id;
    expect_same_job(*loaded.job(id), j);
  }
  EXPECT_EQ(loaded.job(1)->array->cancelled, 2);
  EXPECT_TRUE(loaded.runnable("q").empty());
  // History has it (and its task), as a finished job.
  auto store = open();
  auto h = store->history({});
  ASSERT_TRUE(h) << h.message();
  std::set<std::int64_t> ids;
  for (const auto& j : *h) ids.insert(j.id);
  EXPECT_EQ(ids, (std::set<std::int64_t>{1, 10}));
}

TEST_F(StoreArrayTest, FindTaskByIndex) {
  ClusterBuilder c;
  c.simple(4);
  Job a = make_test_array(1, {{0, 9, 1}});
  a.retry.attempts = 2;
  c.submit(a);
  c.submit(make_test_array(2, {{0, 9, 1}}));
  auto store = open();
  ASSERT_TRUE(store);
  save(*store, c.state());
  EXPECT_EQ(task(*store, 1, 0), 0);  // not started

  c.dispatch_task(1, 0, 10, "n1", {0});
  c.dispatch_task(1, 7, 11, "n1", {1});
  save(*store, c.state());  // saved STARTING, one attempt
  EXPECT_EQ(task(*store, 1, 0), 10);
  EXPECT_EQ(task(*store, 1, 7), 11);
  EXPECT_EQ(task(*store, 1, 1), 0);   // never started
  EXPECT_EQ(task(*store, 1, 99), 0);  // not an index
  EXPECT_EQ(task(*store, 2, 0), 0);   // another array
  EXPECT_EQ(task(*store, 10, 0), 0);  // not an array

  // Retried: the same id, the row stays.
  c.start(10);
  c.exit(10, 1, 3000);
  ASSERT_EQ(c.state().job(10)->state, JobState::Runnable);
  save(*store, c.state());
  c.dispatch(10, "n1", {0});
  save(*store, c.state());
  c.start(10);
  c.exit(10, 0, 4000);
  c.start(11);
  c.exit(11, 0, 4000);
  save(*store, c.state());
  EXPECT_EQ(task(*store, 1, 0), 10);

  // Forgotten from memory and the store reopened: still found, and loads.
  EXPECT_EQ(c.state().evict_finished(5000), 2u);
  EXPECT_FALSE(c.state().job(10));
  EXPECT_FALSE(c.state().job(1)->array->live.count(0));
  store.reset();
  store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(task(*store, 1, 0), 10);
  EXPECT_EQ(task(*store, 1, 7), 11);
  auto j = store->load_job(10);
  ASSERT_TRUE(j) << j.message();
  ASSERT_TRUE(*j);
  EXPECT_EQ((*j)->array_parent, 1);
  EXPECT_EQ((*j)->array_index, 0);
  EXPECT_EQ((*j)->state, JobState::Succeeded);
  EXPECT_EQ((*j)->attempts.size(), 2u);
}

}  // namespace
}  // namespace drover::store
