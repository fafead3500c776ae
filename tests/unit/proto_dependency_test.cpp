// Dependencies in the JSON codec: every kind in a submit request (Slurm's
// names, AWS Batch's N_TO_N and SEQUENTIAL, a task as "42_7" or "42:7",
// minutes, '?' as dependsOnAny), bad entries refused naming the field, and the
// state of waiting jobs and arrays surviving the store's JSON: a ClusterState
// restored from it goes on deciding them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/codec.hpp"
#include "test_cluster.hpp"

namespace drover::proto {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::expect_same_job;
using drover::testing::make_test_array;
using drover::testing::make_test_job;

Result<JobRequest> request(const std::string& extra) {
  return job_request_from_json(Json::parse(R"({"jobName": "a", "command": ["true"], )" + extra + "}"));
}

TEST(CodecDependencies, EveryKindInARequest) {
  auto r = request(R"("dependsOn": [
      {"jobId": "12", "type": "afterok"},
      {"jobId": "42_7", "type": "afternotok"},
      {"jobId": "42:8"},
      {"jobId": 13, "type": "after", "minutes": 10},
      {"jobId": "42", "type": "N_TO_N"},
      {"jobId": "43", "type": "aftercorr"},
      {"type": "SEQUENTIAL"},
      {"type": "singleton"}],
    "dependsOnAny": true)");
  ASSERT_TRUE(r) << r.message();
  const std::vector<Dependency> want = {
      {12, DependencyType::AfterOk},          {42, DependencyType::AfterNotOk, 7},
      {42, DependencyType::AfterOk, 8},       {13, DependencyType::After, -1, 10},
      {42, DependencyType::AfterCorr},        {43, DependencyType::AfterCorr},
      {0, DependencyType::Sequential},        {0, DependencyType::Singleton}};
  EXPECT_EQ(r->depends_on, want);
  EXPECT_TRUE(r->depends_any);
}

TEST(CodecDependencies, OutputNamesTasksAndMinutes) {
  EXPECT_EQ(to_json(Dependency{42, DependencyType::AfterOk, 7}), (Json{{"jobId", "42_7"}, {"type", "afterok"}}));
  EXPECT_EQ(to_json(Dependency{13, DependencyType::After, -1, 10}),
            (Json{{"jobId", "13"}, {"type", "after"}, {"minutes", 10}}));
  EXPECT_EQ(to_json(Dependency{0, DependencyType::Singleton}), (Json{{"type", "singleton"}}));
  EXPECT_EQ(to_json(Dependency{0, DependencyType::Sequential}), (Json{{"type", "SEQUENTIAL"}}));
  EXPECT_EQ(to_string(Dependency{13, DependencyType::After, -1, 10}), "after:13+10");
  EXPECT_EQ(to_string(Dependency{42, DependencyType::AfterCorr}), "aftercorr:42");
}

struct BadDep {
  const char* name;
  const char* deps;
  const char* field;
  const char* words;
};

class CodecDependencyErrors : public ::testing::TestWithParam<BadDep> {};

TEST_P(CodecDependencyErrors, NameTheField) {
  const auto& p = GetParam();
  auto r = request(std::string(R"("dependsOn": )") + p.deps);
  ASSERT_FALSE(r) << p.deps;
  EXPECT_EQ(r.message().rfind(std::string(p.field) + ": ", 0), 0u) << r.message();
  EXPECT_NE(r.message().find(p.words), std::string::npos) << r.message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CodecDependencyErrors,
    ::testing::Values(BadDep{"TaskNotNumber", R"([{"jobId": "42_x"}])", "jobId", "42_7"},
                      BadDep{"EmptyTask", R"([{"jobId": "42_"}])", "jobId", "not a job id"},
                      BadDep{"MinutesWithAfterOk", R"([{"jobId": "4", "type": "afterok", "minutes": 3}])",
                             "dependsOn.minutes", "after only"},
                      BadDep{"MinutesNegative", R"([{"jobId": "4", "type": "after", "minutes": -3}])",
                             "dependsOn.minutes", "out of range"},
                      BadDep{"SingletonWithJob", R"([{"jobId": "4", "type": "singleton"}])", "dependsOn.jobId",
                             "names no job"},
                      BadDep{"SequentialWithJob", R"([{"jobId": "4", "type": "SEQUENTIAL"}])",
                             "dependsOn.jobId", "names no job"},
                      BadDep{"AfterCorrNoJob", R"([{"type": "N_TO_N"}])", "jobId", "missing"},
                      BadDep{"BurstBuffer", R"([{"jobId": "4", "type": "afterburstbuffer"}])", "dependsOn.type",
                             "afterburstbuffer"}),
    [](const auto& info) { return info.param.name; });

// A state with every kind waiting, through the store's JSON and back.
void build(ClusterBuilder& c) {
  c.simple(8);
  c.submit(1);                                 // running, after:1+30 waits on its start
  c.submit(make_test_array(2, {{0, 9, 1}}));   // tasks 0 (ok), 1 (failed) ran
  Job a = make_test_job(3);
  a.depends_on = {{1, DependencyType::After, -1, 30}};
  c.submit(a);
  Job b = make_test_job(4);  // any of: task 2_5 ended ok, or job 1 failed
  b.depends_on = {{2, DependencyType::AfterOk, 5}, {1, DependencyType::AfterNotOk}};
  b.depends_any = true;
  c.submit(b);
  Job d = make_test_array(5, {{0, 9, 1}});
  d.depends_on = {{2, DependencyType::AfterCorr}};
  c.submit(d);
  Job s = make_test_array(6, {{0, 3, 1}});
  s.depends_on = {{0, DependencyType::Sequential}};
  c.submit(s);
  Job one = make_test_job(7);
  one.name = "job1";  // job 1's name: a singleton behind it
  one.depends_on = {{0, DependencyType::Singleton}};
  c.submit(one);
  c.dispatch(1, "n1", {0});
  c.start(1, 100'000);
  c.dispatch_task(2, 0, 20, "n1", {1});
  c.dispatch_task(2, 1, 21, "n1", {2});
  c.start(20);
  c.start(21);
  c.exit(20, 0);
  c.exit(21, 1);
}

ClusterState through_json(const ClusterState& s) {
  ClusterState r;
  for (const auto& [name, n] : s.nodes()) r.restore(n);
  for (const auto& [name, e] : s.environments()) r.restore(e);
  for (const auto& [name, q] : s.queues()) r.restore(q);
  for (const auto& [id, j] : s.jobs()) {
    auto back = job_from_json(Json::parse(dump(to_json(j))));
    EXPECT_TRUE(back) << back.message();
    if (back) r.restore(std::move(*back));
  }
  r.finish_restore();
  return r;
}

TEST(CodecDependencies, WaitingStateRoundTrips) {
  ClusterBuilder c;
  build(c);
  const Job* d = c.state().job(5);
  ASSERT_EQ(to_text(d->array->indexes.indexes_at(d->array->waiting()[0])), "2-9");  // 0 ready, 1 failed
  EXPECT_EQ(c.state().job(3)->dependency_ready_at(), 100'000 + 30 * 60'000);
  const Json j = to_json(*d);
  EXPECT_EQ(j["arrayProperties"]["dependencyWaitingIndexes"], Json::array({"2-9"}));
  EXPECT_EQ(j["arrayProperties"]["dependencyFailedIndexes"], "1");
  EXPECT_EQ(to_json(*c.state().job(4))["dependsOnAny"], true);
  EXPECT_EQ(to_json(*c.state().job(3))["dependenciesReadyAt"], 100'000 + 30 * 60'000);

  ClusterState r = through_json(c.state());
  for (const auto& [id, job] : c.state().jobs()) {
    SCOPED_TRACE(id);
    ASSERT_TRUE(r.job(id));
    expect_same_job(*r.job(id), job);
  }
  // The wake-up time and the singleton group are rebuilt.
  EXPECT_EQ(r.next_start_time(100'000), 100'000 + 30 * 60'000);
  EXPECT_EQ(r.singleton_blocker(*r.job(7)), 1);
}

TEST(CodecDependencies, RestoredStateGoesOnDecidingThem) {
  ClusterBuilder c;
  build(c);
  ClusterState r = through_json(c.state());
  auto ok = [&](const Event& e) {
    auto s = r.apply(e);
    ASSERT_TRUE(s) << s.message();
  };
  // Task 2_5 starts and succeeds: job 4 (any of) may start, array 5's task 5 too.
  ok(JobDispatched{2, "n1", {3}, {}, 0, 5, 22, {}});
  ok(JobStarted{22, 200'000});
  ok(JobExited{22, 210'000, 0});
  EXPECT_EQ(r.job(4)->state, JobState::Runnable);
  EXPECT_EQ(to_text(r.job(5)->array->indexes.indexes_at(r.job(5)->array->waiting()[0])), "2-4,6-9");
  // Array 6's task 0 succeeds: task 1 is ready.
  ok(JobDispatched{6, "n1", {4}, {}, 0, 0, 23, {}});
  ok(JobStarted{23, 220'000});
  ok(JobExited{23, 230'000, 0});
  EXPECT_EQ(r.job(6)->array->first_ready(), 1);
  // Job 1 ends: the singleton may go.
  ok(JobExited{1, 240'000, 0});
  EXPECT_EQ(r.singleton_blocker(*r.job(7)), 0);
}

}  // namespace
}  // namespace drover::proto
