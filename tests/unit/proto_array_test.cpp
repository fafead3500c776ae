// Arrays in the JSON codec: AWS Batch's arrayProperties {size} and Drover's
// {ranges, maxRunning} in a submit request, bad values refused with an error
// that names the field, and an array's parent and tasks as the API shows them
// (statusSummary, pendingIndexes) surviving to_json -> job_from_json.
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
using Ranges = std::vector<IndexRange>;

Result<JobRequest> request(const std::string& array_properties) {
  return job_request_from_json(
      Json::parse(R"({"jobName": "a", "command": ["true"], "arrayProperties": )" + array_properties + "}"));
}

// ---- submit requests --------------------------------------------------------------------

TEST(CodecArrayRequest, SizeIsIndexesFromZero) {
  auto r = request(R"({"size": 1000})");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->array, (Ranges{{0, 999, 1}}));
  EXPECT_EQ(r->array_max_running, 0);

  auto one = request(R"({"size": 1})");
  ASSERT_TRUE(one) << one.message();
  EXPECT_EQ(one->array, (Ranges{{0, 0, 1}}));

  auto most = request(R"({"size": 1000000, "maxRunning": 50})");
  ASSERT_TRUE(most) << most.message();
  EXPECT_EQ(most->array, (Ranges{{0, 999'999, 1}}));
  EXPECT_EQ(most->array_max_running, 50);

  auto text = request(R"({"size": "8"})");  // AWS sends some numbers as strings
  ASSERT_TRUE(text) << text.message();
  EXPECT_EQ(text->array, (Ranges{{0, 7, 1}}));
}

TEST(CodecArrayRequest, NoArrayPropertiesIsNoArray) {
  auto r = job_request_from_json(Json::parse(R"({"jobName": "a", "command": ["true"]})"));
  ASSERT_TRUE(r) << r.message();
  EXPECT_TRUE(r->array.empty());
  EXPECT_EQ(r->array_max_running, 0);
  auto n = request("null");
  ASSERT_TRUE(n) << n.message();
  EXPECT_TRUE(n->array.empty());
}

TEST(CodecArrayRequest, RangesAndThrottle) {
  // --array=0-15:5,20,40-42%4
  auto r = request(R"({"ranges": [[0, 15, 5], [20, 20, 1], [40, 42]], "maxRunning": 4})");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->array, (Ranges{{0, 15, 5}, {20, 20, 1}, {40, 42, 1}}));
  EXPECT_EQ(r->array_max_running, 4);
  // The request keeps them as given: ArrayIndexes::make (at submit) sorts them.
  auto unsorted = request(R"({"ranges": [[9, 9], [0, 3]]})");
  ASSERT_TRUE(unsorted) << unsorted.message();
  EXPECT_EQ(unsorted->array, (Ranges{{9, 9, 1}, {0, 3, 1}}));
}

TEST(CodecArrayRequest, BadValuesNameTheField) {
  struct Case {
    const char* properties;
    const char* field;  // the message names it
    const char* says;   // and says what is wrong
  };
  const std::vector<Case> cases = {
      {R"({"size": 0})", "arrayProperties.size", "1 to 1000000"},
      {R"({"size": -5})", "arrayProperties.size", "out of range"},
      {R"({"size": 1000001})", "arrayProperties.size", "1 to 1000000"},
      {R"({"size": 2.5})", "size", "whole number"},
      {R"({"size": "ten"})", "size", "whole number"},
      {R"({"size": true})", "size", "expected a number"},
      {R"({"maxRunning": 3})", "size", "missing"},
      {R"({"size": 10, "maxRunning": 0})", "arrayProperties.maxRunning", "at least 1"},
      {R"({"size": 10, "maxRunning": -2})", "arrayProperties.maxRunning", "at least 1"},
      {R"({"size": 10, "maxRunning": 1.5})", "maxRunning", "whole number"},
      {R"({"ranges": "0-9"})", "ranges", "list"},
      {R"({"ranges": {"first": 0}})", "ranges", "list"},
      {R"({"ranges": []})", "arrayProperties.ranges", "no ranges"},
      {R"({"ranges": [5]})", "ranges", "[first, last"},
      {R"({"ranges": [[5]]})", "ranges", "[first, last"},
      {R"({"ranges": [[0, 1, 2, 3]]})", "ranges", "[first, last"},
      {R"({"ranges": [[0, "9"]]})", "ranges", "whole numbers"},
      {R"({"ranges": [[0, 9.5]]})", "ranges", "whole numbers"},
      {R"({"ranges": [[0, 9, null]]})", "ranges", "whole numbers"},
      {R"("size=10")", "arrayProperties", "expected an object"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.properties);
    Result<JobRequest> r = Error{"not run"};
    ASSERT_NO_THROW(r = request(c.properties));
    ASSERT_FALSE(r);
    EXPECT_NE(r.message().find(c.field), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(c.says), std::string::npos) << r.message();
  }
}

TEST(CodecArrayRequest, IndexRangesFromJson) {
  auto r = index_ranges_from_json(Json::parse(R"({"arrayIndexes": [[1, 7, 3], [10, 10]]})"), "arrayIndexes");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(*r, (Ranges{{1, 7, 3}, {10, 10, 1}}));
  auto none = index_ranges_from_json(Json::parse("{}"), "arrayIndexes");
  ASSERT_TRUE(none) << none.message();
  EXPECT_TRUE(none->empty());
  auto bad = index_ranges_from_json(Json::parse(R"({"arrayIndexes": [[1, "x"]]})"), "arrayIndexes");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("arrayIndexes"), std::string::npos) << bad.message();
}

// ---- jobs as the API shows them ----------------------------------------------------------

// Array 1 (0-9, at most 3 at once): 0 (id 20) succeeded, 1 (id 21) starting,
// 5 cancelled; 2-4 and 6-9 not started. Array 2 (0-3) waits on job 3.
void build(ClusterBuilder& c) {
  c.simple(4);
  c.submit(make_test_array(1, {{0, 9, 1}}, 3));
  c.submit(3);
  Job b = make_test_array(2, {{0, 3, 1}});
  b.depends_on = {{3, DependencyType::AfterOk}};
  c.submit(b);
  c.dispatch_task(1, 0, 20, "n1", {0}, 1500);
  c.start(20, 2000);
  c.exit(20, 0, 3000);
  c.dispatch_task(1, 1, 21, "n1", {1}, 3100);
  c.ok(JobTerminationRequested{1, 3200, "not needed", {{5, 5, 1}}});
}

TEST(CodecArrayJob, ParentShowsSummaryAndPendingIndexes) {
  ClusterBuilder c;
  build(c);
  const Job& p = *c.state().job(1);
  ASSERT_EQ(p.state, JobState::Runnable);  // no task RUNNING yet
  const Json j = to_json(p);
  ASSERT_TRUE(j.contains("arrayProperties")) << j.dump();
  const Json& ap = j["arrayProperties"];
  EXPECT_EQ(ap["size"], 10);
  EXPECT_EQ(ap["indexes"], "0-9");
  EXPECT_EQ(ap["pendingIndexes"], "2-4,6-9");
  EXPECT_EQ(ap["maxRunning"], 3);
  EXPECT_EQ(ap["cancelled"], 1);
  EXPECT_FALSE(ap.contains("parentJobId"));
  const Json& s = ap["statusSummary"];
  EXPECT_EQ(s, (Json{{"SUBMITTED", 0}, {"PENDING", 0}, {"RUNNABLE", 7}, {"STARTING", 1},
                     {"RUNNING", 0}, {"SUCCEEDED", 1}, {"FAILED", 1}}))
      << s.dump();
  std::int64_t total = 0;
  for (const auto& [k, v] : s.items()) total += v.get<std::int64_t>();
  EXPECT_EQ(total, 10);  // every task counted once

  // Once a task runs the parent is RUNNING; tasks not started stay RUNNABLE.
  c.start(21, 3300);
  const Json running = to_json(*c.state().job(1));
  EXPECT_EQ(running["status"], "RUNNING");
  EXPECT_EQ(running["arrayProperties"]["statusSummary"]["RUNNING"], 1);
  EXPECT_EQ(running["arrayProperties"]["statusSummary"]["RUNNABLE"], 7);
  EXPECT_EQ(running["arrayProperties"]["statusSummary"]["STARTING"], 0);
}

TEST(CodecArrayJob, PendingParentCountsTasksAsPending) {
  ClusterBuilder c;
  build(c);
  const Job& b = *c.state().job(2);
  ASSERT_EQ(b.state, JobState::Pending);
  const Json ap = to_json(b)["arrayProperties"];
  EXPECT_EQ(ap["statusSummary"]["PENDING"], 4);
  EXPECT_EQ(ap["statusSummary"]["RUNNABLE"], 0);
  EXPECT_EQ(ap["pendingIndexes"], "0-3");
  EXPECT_FALSE(ap.contains("maxRunning"));  // no throttle
  // Its dependency met: the same tasks are RUNNABLE.
  c.dispatch(3, "n1", {2});
  c.start(3);
  c.exit(3, 0);
  ASSERT_EQ(c.state().job(2)->state, JobState::Runnable);
  const Json now = to_json(*c.state().job(2))["arrayProperties"]["statusSummary"];
  EXPECT_EQ(now["PENDING"], 0);
  EXPECT_EQ(now["RUNNABLE"], 4);
}

TEST(CodecArrayJob, TaskNamesItsArrayAndIndex) {
  ClusterBuilder c;
  build(c);
  const Json j = to_json(*c.state().job(21));
  ASSERT_TRUE(j.contains("arrayProperties")) << j.dump();
  EXPECT_EQ(j["arrayProperties"]["index"], 1);
  EXPECT_EQ(j["arrayProperties"]["parentJobId"], "1");
  EXPECT_FALSE(j["arrayProperties"].contains("statusSummary"));
  EXPECT_FALSE(to_json(*c.state().job(3)).contains("arrayProperties"));  // not an array
}

TEST(CodecArrayJob, RoundTrip) {
  ClusterBuilder c;
  build(c);
  c.start(21, 3300);
  // A finished array too: every task ended, some cancelled before they started.
  c.submit(make_test_array(30, {{1, 1'000'000, 7}, {5, 5, 1}}));
  c.dispatch_task(30, 1, 31, "n1", {2});
  c.start(31);
  c.exit(31, 0);
  c.ok(JobTerminationRequested{30, 5000, "cancelled by user", {}});
  ASSERT_EQ(c.state().job(30)->state, JobState::Failed);
  ASSERT_GE(c.state().jobs().size(), 7u);
  for (const auto& [id, job] : c.state().jobs()) {
    SCOPED_TRACE(id);
    // Through text too, as the store and the API carry it.
    auto back = job_from_json(Json::parse(dump(to_json(job))));
    ASSERT_TRUE(back) << back.message();
    expect_same_job(*back, job);
    if (job.array) {
      ASSERT_TRUE(back->array);
      EXPECT_TRUE(*back->array == *job.array);
      EXPECT_EQ(back->array->pending.intervals(), job.array->pending.intervals());
      EXPECT_EQ(back->array->count, job.array->count);
    }
  }
  // A hand-made parent with several fragments and a throttle.
  Job p = make_test_array(77, {{0, 99, 1}, {1000, 2000, 100}}, 9);
  p.state = JobState::Running;
  p.array->pending.erase(3, 10);
  p.array->pending.erase(50);
  p.array->pending.erase(104, 106);
  p.array->count[static_cast<int>(JobState::Running)] = 7;
  p.array->count[static_cast<int>(JobState::Failed)] = 3;
  p.array->cancelled = 2;
  auto back = job_from_json(to_json(p));
  ASSERT_TRUE(back) << back.message();
  expect_same_job(*back, p);
  EXPECT_EQ(to_json(p)["arrayProperties"]["pendingIndexes"], "0-2,10-49,51-99,1000-1300:100,1600-2000:100");
}

TEST(CodecArrayJob, CorruptStoredArrayIsAnError) {
  Job p = make_test_array(5, {{0, 9, 1}});
  const Json good = to_json(p);
  ASSERT_TRUE(job_from_json(good));
  auto with = [&](auto&& change) {
    Json j = good;
    change(j["arrayProperties"]);
    Result<Job> r = Error{"not run"};
    EXPECT_NO_THROW(r = job_from_json(j));
    return r;
  };
  auto r = with([](Json& ap) { ap.erase("taskCounts"); });
  EXPECT_FALSE(r);
  r = with([](Json& ap) { ap["taskCounts"] = Json::parse("[1, 2]"); });
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("taskCounts"), std::string::npos) << r.message();
  r = with([](Json& ap) { ap["ranges"] = Json::parse("[[9, 0, 1]]"); });
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("arrayProperties.ranges"), std::string::npos) << r.message();
  r = with([](Json& ap) { ap["pendingPositions"] = Json::parse("[[0]]"); });
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("pendingPositions"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace drover::proto
