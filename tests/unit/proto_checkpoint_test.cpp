// The checkpoint contract on the wire: a Job's "checkpoint" and "requeue", the
// payload's "checkpointDirectory", the submit request's "checkpoint" object with
// its exact errors, and the agent messages (LaunchOrder's checkpoint fields,
// SignalOrder, ExitReport.checkpointAt).
#include <gtest/gtest.h>

#include <string>

#include "proto/agent_messages.hpp"
#include "proto/codec.hpp"
#include "test_cluster.hpp"

namespace drover::proto {
namespace {

using drover::testing::expect_same_job;
using drover::testing::make_test_job;

void expect_same_checkpoint(const Job& a, const Job& b) {
  EXPECT_EQ(a.checkpoint_signal, b.checkpoint_signal);
  EXPECT_EQ(a.checkpoint_seconds, b.checkpoint_seconds);
  EXPECT_EQ(a.checkpoint_signal_batch_only, b.checkpoint_signal_batch_only);
  EXPECT_EQ(a.requeue, b.requeue);
}

// ---- Job -----------------------------------------------------------------------------------

TEST(CheckpointJobJson, ACheckpointingJobRoundTrips) {
  Job j = make_test_job(7);
  j.checkpoint_signal = 12;
  j.checkpoint_seconds = 30;
  j.checkpoint_signal_batch_only = true;
  j.requeue = 0;
  Attempt requeued;
  requeued.node = "n1";
  requeued.exit_code = 75;
  requeued.status_reason = kRequeuedAttempt;
  Attempt now;
  now.node = "n2";
  j.attempts = {requeued, now};
  j.state = JobState::Running;

  const Json doc = to_json(j);
  EXPECT_EQ(doc["checkpoint"], Json::parse(R"({"signal": 12, "secondsBefore": 30, "batchShellOnly": true})"));
  EXPECT_EQ(doc["requeue"], false);
  auto back = job_from_json(Json::parse(dump(doc)));
  ASSERT_TRUE(back) << back.message();
  expect_same_job(*back, j);
  expect_same_checkpoint(*back, j);
  // The requeued attempt stays uncounted after a restart: only the running one counts.
  EXPECT_EQ(back->attempts[0].status_reason, kRequeuedAttempt);
  EXPECT_EQ(back->counted_attempts(), 1);

  j.requeue = 1;
  j.checkpoint_signal_batch_only = false;
  back = job_from_json(to_json(j));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(to_json(j)["requeue"], true);
  expect_same_checkpoint(*back, j);
}

TEST(CheckpointJobJson, AJobThatDoesNotCheckpointSaysNothing) {
  const Job j = make_test_job(7);
  const Json doc = to_json(j);
  EXPECT_FALSE(doc.contains("checkpoint")) << doc.dump();
  EXPECT_FALSE(doc.contains("requeue")) << doc.dump();
  auto back = job_from_json(doc);
  ASSERT_TRUE(back) << back.message();
  expect_same_checkpoint(*back, j);
  EXPECT_EQ(back->requeue, -1);

  Job asked = j;
  asked.requeue = 1;  // --requeue without checkpointing
  back = job_from_json(to_json(asked));
  ASSERT_TRUE(back);
  EXPECT_FALSE(to_json(asked).contains("checkpoint"));
  EXPECT_EQ(back->requeue, 1);
  EXPECT_FALSE(back->checkpoints());
}

TEST(CheckpointJobJson, PayloadDirectoryRoundTrips) {
  JobPayload p;
  p.command = {"./heat2d"};
  p.checkpoint_dir = "/scratch/%u/ckpt-%j";
  const Json doc = to_json(p);
  EXPECT_EQ(doc["checkpointDirectory"], "/scratch/%u/ckpt-%j");
  auto back = payload_from_json(doc);
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(*back, p);

  p.checkpoint_dir.clear();
  EXPECT_FALSE(to_json(p).contains("checkpointDirectory"));
  back = payload_from_json(to_json(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, p);
}

// ---- the submit request --------------------------------------------------------------------

Result<JobRequest> request(const std::string& extra) {
  return job_request_from_json(Json::parse(R"({"jobName": "sim", "command": ["./sim"])" + extra + "}"));
}

TEST(CheckpointRequestJson, EveryField) {
  auto r = request(
      R"(, "checkpoint": {"signal": 12, "secondsBefore": 120, "batchShellOnly": true, "directory": "ck/%j"},
           "requeue": false)");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->checkpoint_signal, 12);
  EXPECT_EQ(r->checkpoint_seconds, 120);
  EXPECT_TRUE(r->checkpoint_batch_only);
  EXPECT_EQ(r->checkpoint_dir, "ck/%j");
  EXPECT_EQ(r->requeue, false);
}

TEST(CheckpointRequestJson, Defaults) {
  auto r = request(R"(, "checkpoint": {"signal": 10})");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->checkpoint_signal, 10);
  EXPECT_EQ(r->checkpoint_seconds, 60);
  EXPECT_FALSE(r->checkpoint_batch_only);
  EXPECT_TRUE(r->checkpoint_dir.empty());
  EXPECT_FALSE(r->requeue.has_value());

  r = request("");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->checkpoint_signal, 0);
  EXPECT_FALSE(r->requeue.has_value());

  r = request(R"(, "requeue": null, "checkpoint": null)");
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(r->requeue.has_value());
  EXPECT_EQ(r->checkpoint_signal, 0);

  // A directory alone names where checkpoints go; without a signal the job is
  // not signalled.
  r = request(R"(, "checkpoint": {"directory": "/scratch/ck"}, "requeue": true)");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->checkpoint_signal, 0);
  EXPECT_EQ(r->checkpoint_dir, "/scratch/ck");
  EXPECT_EQ(r->requeue, true);
}

TEST(CheckpointRequestJson, EdgesOfTheRanges) {
  for (const char* ok : {R"({"signal": 1, "secondsBefore": 0})", R"({"signal": 64, "secondsBefore": 65535})"}) {
    auto r = request(std::string(R"(, "checkpoint": )") + ok);
    EXPECT_TRUE(r) << ok << ": " << r.message();
  }
}

TEST(CheckpointRequestJson, BadValuesSayWhatAndWhy) {
  struct Case {
    const char* checkpoint;
    const char* message;
  };
  for (const Case& c : {
           Case{R"({"signal": 0})", "checkpoint.signal: 0 is not a signal number (1 to 64)"},
           Case{R"({"signal": 65})", "checkpoint.signal: 65 is not a signal number (1 to 64)"},
           Case{R"({"signal": -10})", "checkpoint.signal: -10 is not a signal number (1 to 64)"},
           Case{R"({"signal": 10, "secondsBefore": -1})",
                "checkpoint.secondsBefore: -1 is out of range; give 0 to 65535"},
           Case{R"({"signal": 10, "secondsBefore": 65536})",
                "checkpoint.secondsBefore: 65536 is out of range; give 0 to 65535"},
           Case{R"({"signal": 10, "secondsBefore": 99999999999})", "secondsBefore: number out of range"},
           Case{R"({"signal": "USR1"})", "signal: 'USR1' is not a whole number"},
           Case{R"({"signal": 10, "batchShellOnly": "yes"})", "batchShellOnly: expected true or false, got string"},
           Case{R"({"signal": 10, "directory": 5})", "directory: expected a string, got number"},
           Case{R"(10)", "checkpoint: expected an object, got number"},
       }) {
    auto r = request(std::string(R"(, "checkpoint": )") + c.checkpoint);
    ASSERT_FALSE(r) << c.checkpoint << " was accepted";
    EXPECT_EQ(r.message(), c.message) << c.checkpoint;
  }
  auto r = request(R"(, "requeue": "yes")");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.message(), "requeue: expected true or false, got string");
}

// ---- head <-> agent ------------------------------------------------------------------------

LaunchOrder order() {
  LaunchOrder m;
  m.job_id = 42;
  m.attempt = 3;
  m.working_dir = "/home/alice";
  m.stdout_path = "/home/alice/drover-42.out";
  m.timeout_seconds = 600;
  return m;
}

TEST(CheckpointAgentMessages, LaunchOrderCarriesTheCheckpointFields) {
  LaunchOrder m = order();
  m.checkpoint_signal = 12;
  m.checkpoint_seconds = 90;
  m.checkpoint_batch_only = true;
  m.checkpoint_dir = "/home/alice/drover-checkpoints/42";
  const Json j = to_json(m);
  EXPECT_EQ(j["checkpointSignal"], 12);
  EXPECT_EQ(j["checkpointSeconds"], 90);
  EXPECT_EQ(j["checkpointBatchOnly"], true);
  EXPECT_EQ(j["checkpointDirectory"], "/home/alice/drover-checkpoints/42");
  auto back = launch_order_from_json(Json::parse(dump(j)));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->checkpoint_signal, 12);
  EXPECT_EQ(back->checkpoint_seconds, 90);
  EXPECT_TRUE(back->checkpoint_batch_only);
  EXPECT_EQ(back->checkpoint_dir, m.checkpoint_dir);
  EXPECT_EQ(back->timeout_seconds, 600);

  // A member node of a multi-node job gets them too.
  m.num_nodes = 2;
  m.node_index = 1;
  back = launch_order_from_json(to_json(m));
  ASSERT_TRUE(back) << back.message();
  EXPECT_TRUE(back->member());
  EXPECT_EQ(back->checkpoint_signal, 12);
  EXPECT_EQ(back->checkpoint_seconds, 90);
}

TEST(CheckpointAgentMessages, ALaunchOrderWithoutCheckpointsHasNoFields) {
  const Json j = to_json(order());
  for (const char* k : {"checkpointSignal", "checkpointSeconds", "checkpointBatchOnly", "checkpointDirectory"})
    EXPECT_FALSE(j.contains(k)) << k;
  auto back = launch_order_from_json(j);
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->checkpoint_signal, 0);
  EXPECT_EQ(back->checkpoint_seconds, 0);
  EXPECT_FALSE(back->checkpoint_batch_only);
  EXPECT_TRUE(back->checkpoint_dir.empty());
}

TEST(CheckpointAgentMessages, ALaunchOrderWithABadSignalIsRefused) {
  for (const int bad : {-1, 65, 1000}) {
    Json j = to_json(order());
    j["checkpointSignal"] = bad;
    auto back = launch_order_from_json(j);
    ASSERT_FALSE(back) << bad;
    EXPECT_EQ(back.message(),
              "malformed agent message: checkpointSignal: " + std::to_string(bad) + " is not a signal number");
  }
  Json j = to_json(order());
  j["checkpointSignal"] = "USR1";
  auto back = launch_order_from_json(j);
  ASSERT_FALSE(back);
  EXPECT_NE(back.message().find("checkpointSignal"), std::string::npos) << back.message();
}

TEST(CheckpointAgentMessages, SignalOrderRoundTrips) {
  for (const SignalOrder& m : {SignalOrder{42, 3, 10, false}, SignalOrder{9007199254740993LL, 1, 64, true},
                               SignalOrder{5, 0, 1, false}}) {
    const Json j = to_json(m);
    EXPECT_EQ(j["type"], "signal");
    auto back = signal_order_from_json(Json::parse(dump(j)));
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(back->job_id, m.job_id);
    EXPECT_EQ(back->attempt, m.attempt);
    EXPECT_EQ(back->signal, m.signal);
    EXPECT_EQ(back->batch_only, m.batch_only);
  }
  // attempt and batchOnly may be left out.
  auto back = signal_order_from_json(Json::parse(R"({"type": "signal", "jobId": 4, "signal": 12})"));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->attempt, 0);
  EXPECT_FALSE(back->batch_only);
}

TEST(CheckpointAgentMessages, BadSignalOrdersAreRefused) {
  struct Case {
    const char* json;
    const char* message;  // exact when it starts with '=', else a part of it
  };
  for (const Case& c : {Case{R"({"jobId": 4, "signal": 0})", "=malformed agent message: signal: 0 is not a signal number"},
                        Case{R"({"jobId": 4, "signal": 65})", "=malformed agent message: signal: 65 is not a signal number"},
                        Case{R"({"jobId": 4, "signal": -9})", "=malformed agent message: signal: -9 is not a signal number"},
                        Case{R"({"jobId": 4})", "signal"},
                        Case{R"({"jobId": 4, "signal": "USR1"})", "signal"},
                        Case{R"({"signal": 10})", "jobId"},
                        Case{R"({"jobId": "4", "signal": 10})", "jobId"},
                        Case{R"([1])", "signal"},
                        Case{R"(null)", "signal"}}) {
    Result<SignalOrder> r = Error{""};
    ASSERT_NO_THROW(r = signal_order_from_json(Json::parse(c.json))) << c.json;
    ASSERT_FALSE(r) << c.json << " was accepted";
    const std::string want = c.message;
    if (want[0] == '=')
      EXPECT_EQ(r.message(), want.substr(1)) << c.json;
    else
      EXPECT_NE(r.message().find(want), std::string::npos) << c.json << ": " << r.message();
  }
}

TEST(CheckpointAgentMessages, ExitReportCarriesWhenTheNewestCheckpointWasWritten) {
  ExitReport m{42, 2, 1700000600000, std::nullopt, 15, "Job attempt duration exceeded timeout"};
  m.checkpoint_at = 1700000540123;
  Json j = to_json(m);
  EXPECT_EQ(j["checkpointAt"], 1700000540123);
  auto back = exit_report_from_json(Json::parse(dump(j)));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->checkpoint_at, 1700000540123);
  EXPECT_EQ(back->reason, m.reason);

  m.checkpoint_at = 0;
  j = to_json(m);
  EXPECT_FALSE(j.contains("checkpointAt"));
  back = exit_report_from_json(j);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->checkpoint_at, 0);

  // In the hello's list of exits kept for the head, too.
  AgentHello hello;
  hello.node_name = "n1";
  hello.topology = drover::testing::make_topology(2);
  m.checkpoint_at = 99;
  hello.exited = {m};
  auto h = agent_hello_from_json(Json::parse(dump(to_json(hello))));
  ASSERT_TRUE(h) << h.message();
  ASSERT_EQ(h->exited.size(), 1u);
  EXPECT_EQ(h->exited[0].checkpoint_at, 99);

  j = to_json(m);
  j["checkpointAt"] = "soon";
  back = exit_report_from_json(j);
  ASSERT_FALSE(back);
  EXPECT_NE(back.message().find("checkpointAt"), std::string::npos) << back.message();
}

}  // namespace
}  // namespace drover::proto
