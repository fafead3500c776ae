// JSON codec: every model type survives to_json -> from_json unchanged; AWS
// Batch request shapes decode; bad input comes back as an error that names the
// field, never as an exception.
#include "proto/codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_cluster.hpp"

namespace drover::proto {
namespace {

using drover::testing::expect_same_job;
using drover::testing::make_topology;

Job full_job() {
  Job j;
  j.id = 9007199254740993LL;  // above 2^53: must survive as a string id
  j.name = "align-reads";
  j.uid = 4294967294u;
  j.gid = 100;
  j.user = "alice";
  j.queue = "gpu";
  j.definition = "blast";
  j.definition_revision = 12;
  j.state = JobState::Failed;
  j.status_reason = "exited with code 3";
  j.created_at = 1700000000000;
  j.started_at = 1700000001000;
  j.stopped_at = 1700000002000;
  j.request = {16, 65536, 2};
  j.timeout_seconds = 3600;
  j.retry.attempts = 3;
  j.retry.evaluate_on_exit = {{"1*", "", "", "EXIT"},
                              {"", "OutOfMemory*", "*limit*", "RETRY"}};
  j.depends_on = {{3, DependencyType::AfterOk}, {4, DependencyType::AfterAny},
                  {5, DependencyType::AfterNotOk}, {6, DependencyType::After}};
  Attempt a1;
  a1.node = "n1";
  a1.cpus = {0, 1, 2};
  a1.gpus = {0, 1};
  a1.started_at = 1700000000500;
  a1.stopped_at = 1700000000900;
  a1.exit_code = std::nullopt;
  a1.signal = 9;
  a1.reason = "OutOfMemoryError: memory limit 64 GiB";
  a1.status_reason = "OutOfMemoryError: memory limit 64 GiB";
  Attempt a2;
  a2.node = "n2";
  a2.cpus = {4};
  a2.started_at = 1700000001000;
  a2.stopped_at = 1700000002000;
  a2.exit_code = 3;
  a2.status_reason = "exited with code 3";
  Attempt a3;  // exit code 0 is kept, not dropped as "no code"
  a3.node = "n3";
  a3.exit_code = 0;
  j.attempts = {a1, a2, a3};
  j.working_dir = "/home/alice/w";
  j.stdout_path = "out-%j.log";
  j.stderr_path = "err-%j.log";
  j.parameters = {{"db", "nt"}, {"evalue", "1e-5"}};  // in key order: JSON objects sort
  j.tags = {{"project", "x"}, {"unicode", "\xc3\xa9t\xc3\xa9"}};
  j.terminate_requested = true;
  j.terminate_reason = "Cancelled by alice";
  return j;
}

TEST(CodecRoundTrip, FullJob) {
  const Job j = full_job();
  const Json doc = to_json(j);
  EXPECT_EQ(doc["jobId"], "9007199254740993");
  EXPECT_EQ(doc["status"], "FAILED");
  EXPECT_EQ(doc["jobDefinition"], "blast:12");
  auto back = job_from_json(doc);
  ASSERT_TRUE(back) << back.message();
  expect_same_job(*back, j);
  // And through text, as the store and the wire carry it.
  auto again = job_from_json(Json::parse(dump(doc)));
  ASSERT_TRUE(again) << again.message();
  expect_same_job(*again, j);
}

TEST(CodecRoundTrip, MinimalJobInEveryState) {
  for (auto s : {JobState::Submitted, JobState::Pending, JobState::Runnable, JobState::Starting,
                 JobState::Running, JobState::Succeeded, JobState::Failed}) {
    Job j = drover::testing::make_test_job(1);
    j.state = s;
    auto back = job_from_json(to_json(j));
    ASSERT_TRUE(back) << back.message();
    expect_same_job(*back, j);
  }
}

TEST(CodecRoundTrip, KeyValuesComeBackInKeyOrder) {
  Job j = drover::testing::make_test_job(1);
  j.tags = {{"b", "1"}, {"a", "2"}};
  auto back = job_from_json(to_json(j));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->tags, (KeyValues{{"a", "2"}, {"b", "1"}}));
}

TEST(CodecRoundTrip, Payload) {
  for (const JobPayload& p :
       {JobPayload{{"echo", "a b", ""}, "", {{"Z", "1"}, {"A", ""}, {"PATH", "/bin:/usr/bin"}}},
        JobPayload{{"arg1"}, "#!/bin/bash\necho \"$1\"\n", {}},
        JobPayload{{}, "#!/bin/sh\ntrue\n", {{"X", "multi\nline"}}}, JobPayload{}}) {
    auto back = payload_from_json(to_json(p));
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(*back, p);  // the environment keeps its order: it is a list
  }
}

TEST(CodecRoundTrip, Definition) {
  JobDefinition d;
  d.name = "blast";
  d.revision = 3;
  d.active = false;
  d.type = DefinitionType::Multinode;
  d.command = {"blastn", "-db", "Ref::db"};
  d.parameters = {{"db", "nt"}};
  d.environment = {{"Z", "1"}, {"A", "2"}};
  d.resources = {8, 4096, 1};
  d.retry.attempts = 4;
  d.retry.evaluate_on_exit = {{"", "", "Host*", "RETRY"}};
  d.timeout_seconds = 7200;
  d.tags = {{"team", "bio"}};
  d.created_at = 1700000000000;
  auto back = definition_from_json(to_json(d));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(*back, d);

  JobDefinition plain;
  plain.name = "p";
  plain.revision = 1;
  back = definition_from_json(to_json(plain));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(*back, plain);
}

TEST(CodecRoundTrip, QueueAndEnvironment) {
  JobQueue q;
  q.name = "gpu";
  q.enabled = false;
  q.priority = 0;
  q.compute_environments = {"c", "a", "b"};
  q.created_at = 5;
  auto qb = queue_from_json(to_json(q));
  ASSERT_TRUE(qb) << qb.message();
  EXPECT_EQ(*qb, q);
  for (PreemptMode m : {PreemptMode::Off, PreemptMode::Requeue, PreemptMode::Cancel}) {
    q.preempt_mode = m;
    EXPECT_EQ(to_json(q).value("preemptionMode", ""), to_string(m));
    auto back = queue_from_json(to_json(q));
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(*back, q);
  }

  ComputeEnvironment e;
  e.name = "ce";
  e.enabled = false;
  e.max_vcpus = 256;
  e.nodes = {"n2", "n1"};
  e.created_at = 6;
  auto eb = environment_from_json(to_json(e));
  ASSERT_TRUE(eb) << eb.message();
  EXPECT_EQ(*eb, e);
}

TEST(CodecRoundTrip, TopologyAndNode) {
  NodeTopology t = make_topology(4, 2, 65536, 2, 2);
  t.gpus[1].numa = -1;
  t.gpus[1].local_pus = {4, 5, 6, 7};
  auto tb = topology_from_json(to_json(t));
  ASSERT_TRUE(tb) << tb.message();
  EXPECT_EQ(*tb, t);
  EXPECT_EQ(*topology_from_json(to_json(NodeTopology{})), NodeTopology{});

  Node n;
  n.name = "n1";
  n.topology = t;
  n.state = NodeState::Drain;
  n.state_reason = "bad DIMM";
  n.last_seen = 1700000000000;
  n.pu_used = {true, false, true};
  n.memory_used_mib = 100;
  const Json doc = to_json(n);
  EXPECT_EQ(doc["vcpus"], 8);
  EXPECT_EQ(doc["vcpusUsed"], 2);
  EXPECT_EQ(doc["cpusUsed"], Json::array({0, 2}));
  auto nb = node_from_json(doc);
  ASSERT_TRUE(nb) << nb.message();
  EXPECT_EQ(nb->name, n.name);
  EXPECT_EQ(nb->topology, n.topology);
  EXPECT_EQ(nb->state, n.state);
  EXPECT_EQ(nb->state_reason, n.state_reason);
  EXPECT_EQ(nb->last_seen, n.last_seen);
  EXPECT_FALSE(nb->connected);        // live facts are not decoded
  EXPECT_TRUE(nb->pu_used.empty());
  for (auto s : {NodeState::Up, NodeState::Down}) {
    n.state = s;
    n.state_reason.clear();
    EXPECT_EQ(node_from_json(to_json(n))->state, s);
  }
}

TEST(CodecRoundTrip, ResourcesAndRetry) {
  for (const Resources& r : {Resources{1, 0, 0}, Resources{64, 1 << 20, 8}}) {
    auto back = resources_from_json(Json{{"resourceRequirements", to_json(r)}});
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(*back, r);
  }
  RetryStrategy rs;
  rs.attempts = 10;
  rs.evaluate_on_exit = {{"137", "", "", "RETRY"}, {"*", "", "", "EXIT"}};
  EXPECT_EQ(*retry_from_json(to_json(rs)), rs);
}

// ---- AWS Batch shapes ---------------------------------------------------------------

TEST(CodecAws, SubmitJobRequestWithContainerOverrides) {
  const Json j = Json::parse(R"({
    "jobName": "example",
    "jobQueue": "HighPriority",
    "jobDefinition": "sleep60:2",
    "parameters": {"codec": "mp4"},
    "containerOverrides": {
      "command": ["echo", "Ref::codec"],
      "environment": [{"name": "A", "value": "1"}, {"name": "B"}],
      "resourceRequirements": [{"type": "VCPU", "value": "2"},
                               {"type": "MEMORY", "value": "2048"},
                               {"type": "GPU", "value": 1}]
    },
    "dependsOn": [{"jobId": "12", "type": "afterany"}, {"jobId": 13}],
    "retryStrategy": {"attempts": "3",
                      "evaluateOnExit": [{"onExitCode": "1", "action": "exit"}]},
    "timeout": {"attemptDurationSeconds": "120"},
    "tags": {"k": "v"},
    "workingDirectory": "/scratch",
    "stdoutPath": "o.log"
  })");
  auto r = job_request_from_json(j);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->name, "example");
  EXPECT_EQ(r->queue, "HighPriority");
  EXPECT_EQ(r->definition, "sleep60:2");
  EXPECT_EQ(r->parameters, (KeyValues{{"codec", "mp4"}}));
  EXPECT_EQ(r->command, (std::vector<std::string>{"echo", "Ref::codec"}));
  EXPECT_EQ(r->environment, (KeyValues{{"A", "1"}, {"B", ""}}));
  EXPECT_EQ(r->vcpus, 2);
  EXPECT_EQ(r->memory_mib, 2048);
  EXPECT_EQ(r->gpus, 1);
  ASSERT_EQ(r->depends_on.size(), 2u);
  EXPECT_EQ(r->depends_on[0], (Dependency{12, DependencyType::AfterAny}));
  EXPECT_EQ(r->depends_on[1], (Dependency{13, DependencyType::AfterOk}));
  ASSERT_TRUE(r->retry);
  EXPECT_EQ(r->retry->attempts, 3);
  ASSERT_EQ(r->retry->evaluate_on_exit.size(), 1u);
  EXPECT_EQ(r->retry->evaluate_on_exit[0].action, "EXIT");
  EXPECT_EQ(r->timeout_seconds, 120);
  EXPECT_EQ(r->tags, (KeyValues{{"k", "v"}}));
  EXPECT_EQ(r->working_dir, "/scratch");
  EXPECT_EQ(r->stdout_path, "o.log");
}

TEST(CodecAws, RequestLeavesUnsetResourcesToTheDefinition) {
  auto r = job_request_from_json(
      Json::parse(R"({"containerOverrides": {"resourceRequirements": [{"type": "MEMORY", "value": "64"}]}})"));
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(r->vcpus);
  EXPECT_EQ(r->memory_mib, 64);
  EXPECT_FALSE(r->gpus);
  EXPECT_FALSE(r->timeout_seconds);
  EXPECT_FALSE(r->retry);

  auto flat = job_request_from_json(Json::parse(R"({"command": ["true"], "jobName": "f"})"));
  ASSERT_TRUE(flat) << flat.message();
  EXPECT_EQ(flat->command, (std::vector<std::string>{"true"}));
  EXPECT_FALSE(flat->vcpus);
}

TEST(CodecAws, RegisterJobDefinitionWithContainerProperties) {
  const Json j = Json::parse(R"({
    "jobDefinitionName": "sleep60",
    "type": "container",
    "containerProperties": {
      "command": ["sleep", "60"],
      "environment": [{"name": "X", "value": "1"}],
      "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}]
    },
    "retryStrategy": {"attempts": 2},
    "timeout": {"attemptDurationSeconds": 90},
    "parameters": {"p": "v"}
  })");
  auto d = definition_from_json(j);
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->name, "sleep60");
  EXPECT_EQ(d->type, DefinitionType::Single);
  EXPECT_TRUE(d->active);
  EXPECT_EQ(d->command, (std::vector<std::string>{"sleep", "60"}));
  EXPECT_EQ(d->environment, (KeyValues{{"X", "1"}}));
  EXPECT_EQ(d->resources, (Resources{1, 128, 0}));
  EXPECT_EQ(d->retry.attempts, 2);
  EXPECT_EQ(d->timeout_seconds, 90);
  EXPECT_EQ(d->parameters, (KeyValues{{"p", "v"}}));
}

TEST(CodecAws, QueuePreemptionMode) {
  // Absent (queues stored before preemption existed): OFF. Any case is accepted.
  auto plain = queue_from_json(Json::parse(R"({"jobQueueName": "q"})"));
  ASSERT_TRUE(plain) << plain.message();
  EXPECT_EQ(plain->preempt_mode, PreemptMode::Off);
  auto lower = queue_from_json(Json::parse(R"({"jobQueueName": "q", "preemptionMode": "requeue"})"));
  ASSERT_TRUE(lower) << lower.message();
  EXPECT_EQ(lower->preempt_mode, PreemptMode::Requeue);
  auto bad = queue_from_json(Json::parse(R"({"jobQueueName": "q", "preemptionMode": "x"})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "preemptionMode: expected OFF, REQUEUE or CANCEL, got 'x'");
}

TEST(CodecRoundTrip, QueueBackfillAndKillOnInvalidDependency) {
  JobQueue q;
  q.name = "q";
  EXPECT_FALSE(to_json(q).contains("backfill")) << "unset: the scheduler's own mode";
  EXPECT_EQ(to_json(q).value("killOnInvalidDependency", false), true);
  for (QueueBackfill b : {QueueBackfill::Easy, QueueBackfill::Conservative, QueueBackfill::Fifo}) {
    q.backfill = b;
    q.kill_on_invalid_dep = b != QueueBackfill::Fifo;
    EXPECT_EQ(to_json(q).value("backfill", ""), to_string(b));
    auto back = queue_from_json(to_json(q));
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(*back, q);
  }
  // Absent (queues stored before): unset, and jobs with dead dependencies fail.
  auto plain = queue_from_json(Json::parse(R"({"jobQueueName": "q"})"));
  ASSERT_TRUE(plain) << plain.message();
  EXPECT_FALSE(plain->backfill.has_value());
  EXPECT_TRUE(plain->kill_on_invalid_dep);
  auto lower = queue_from_json(Json::parse(R"({"jobQueueName": "q", "backfill": "conservative"})"));
  ASSERT_TRUE(lower) << lower.message();
  EXPECT_EQ(lower->backfill, QueueBackfill::Conservative);
  auto bad = queue_from_json(Json::parse(R"({"jobQueueName": "q", "backfill": "greedy"})"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message(), "backfill: expected EASY, CONSERVATIVE or FIFO, got 'greedy'");
  auto number = queue_from_json(Json::parse(R"({"jobQueueName": "q", "killOnInvalidDependency": "no"})"));
  ASSERT_FALSE(number);
  EXPECT_NE(number.message().find("killOnInvalidDependency"), std::string::npos) << number.message();

  // A job's own choice: absent (its queue's), yes or no, kept by the codec.
  Job j = drover::testing::make_test_job(7);
  EXPECT_FALSE(to_json(j).contains("killOnInvalidDependency"));
  for (std::int8_t v : {std::int8_t{0}, std::int8_t{1}}) {
    j.kill_on_invalid_dep = v;
    auto back = job_from_json(to_json(j));
    ASSERT_TRUE(back) << back.message();
    EXPECT_EQ(back->kill_on_invalid_dep, v);
  }
  auto req = job_request_from_json(Json::parse(R"({"jobName": "x", "killOnInvalidDependency": false})"));
  ASSERT_TRUE(req) << req.message();
  EXPECT_EQ(req->kill_on_invalid_dep, std::optional<bool>(false));
}

TEST(CodecRoundTrip, Distribution) {
  Job j = drover::testing::make_test_job(7);
  EXPECT_FALSE(to_json(j).contains("distribution")) << "block:block is the default, not written";
  j.distribution = TaskDistribution{NodeDistribution::Cyclic, CoreDistribution::FCyclic}.pack();
  EXPECT_EQ(to_json(j).value("distribution", ""), "cyclic:fcyclic");
  auto back = job_from_json(to_json(j));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->distribution, j.distribution);
  auto req = job_request_from_json(Json::parse(R"({"jobName": "x", "distribution": "block:cyclic"})"));
  ASSERT_TRUE(req) << req.message();
  EXPECT_EQ(to_string(req->distribution), "block:cyclic");
  auto bad = job_request_from_json(Json::parse(R"({"jobName": "x", "distribution": "plane=2"})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("distribution"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("plane is not supported"), std::string::npos) << bad.message();
}

TEST(CodecAws, QueueOrderIsSortedByOrderField) {
  auto q = queue_from_json(Json::parse(R"({
    "jobQueueName": "q", "priority": "10",
    "computeEnvironmentOrder": [{"order": 2, "computeEnvironment": "b"},
                                {"order": 1, "computeEnvironment": "a"},
                                {"order": 3, "computeEnvironment": "c"}]})"));
  ASSERT_TRUE(q) << q.message();
  EXPECT_EQ(q->compute_environments, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(q->priority, 10);
  EXPECT_TRUE(q->enabled);
  auto names = queue_from_json(Json::parse(R"({"jobQueueName": "q",
      "computeEnvironmentOrder": ["x", "y"]})"));
  ASSERT_TRUE(names) << names.message();
  EXPECT_EQ(names->compute_environments, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(names->priority, 1);
}

TEST(CodecAws, NullExitCodeIsNoExitCode) {
  Json j = to_json(drover::testing::make_test_job(1));
  j["attempts"] = Json::parse(R"([{"container": {"exitCode": null, "signal": 9}}])");
  auto r = job_from_json(j);
  ASSERT_TRUE(r) << r.message();
  ASSERT_EQ(r->attempts.size(), 1u);
  EXPECT_FALSE(r->attempts[0].exit_code.has_value());  // not a successful 0
  EXPECT_EQ(r->attempts[0].signal, 9);
}

TEST(CodecAws, JobIdsAsStringsOrNumbers) {
  Json j = to_json(drover::testing::make_test_job(1));
  for (const Json& id : {Json("42"), Json(42), Json(42u)}) {
    j["jobId"] = id;
    auto r = job_from_json(j);
    ASSERT_TRUE(r) << id.dump() << ": " << r.message();
    EXPECT_EQ(r->id, 42);
  }
}

// ---- errors name the field ----------------------------------------------------------

struct BadCase {
  const char* name;
  const char* what;  // job, request, definition, queue, environment, node, topology, payload
  const char* json;
  const char* field;  // the message starts with "<field>: "
};

class CodecErrors : public ::testing::TestWithParam<BadCase> {};

Status decode(const std::string& what, const Json& j) {
  auto st = [](const auto& r) -> Status {
    if (r) return {};
    return r.error();
  };
  if (what == "job") return st(job_from_json(j));
  if (what == "request") return st(job_request_from_json(j));
  if (what == "definition") return st(definition_from_json(j));
  if (what == "queue") return st(queue_from_json(j));
  if (what == "environment") return st(environment_from_json(j));
  if (what == "node") return st(node_from_json(j));
  if (what == "topology") return st(topology_from_json(j));
  if (what == "payload") return st(payload_from_json(j));
  if (what == "retry") return st(retry_from_json(j));
  if (what == "resources") return st(resources_from_json(j));
  if (what == "kv") return st(key_values_from_json(j, "tags"));
  ADD_FAILURE() << what;
  return {};
}

TEST_P(CodecErrors, NameTheField) {
  const auto& p = GetParam();
  Status s;
  ASSERT_NO_THROW(s = decode(p.what, Json::parse(p.json)));
  ASSERT_FALSE(s) << p.json << " was accepted";
  EXPECT_EQ(s.message().rfind(std::string(p.field) + ": ", 0), 0u) << s.message();
}

#define JOB_BASE R"("jobId": "1", "jobName": "j", "status": "RUNNING")"

INSTANTIATE_TEST_SUITE_P(
    Cases, CodecErrors,
    ::testing::Values(
        BadCase{"JobMissingId", "job", R"({"jobName": "j", "status": "RUNNING"})", "jobId"},
        BadCase{"JobIdNotANumber", "job", R"({"jobId": "abc", "jobName": "j", "status": "RUNNING"})",
                "jobId"},
        BadCase{"JobIdZeroString", "job", R"({"jobId": "0", "jobName": "j", "status": "RUNNING"})",
                "jobId"},
        BadCase{"JobIdZeroNumber", "job", R"({"jobId": 0, "jobName": "j", "status": "RUNNING"})",
                "jobId"},
        BadCase{"JobIdNegative", "job", R"({"jobId": -4, "jobName": "j", "status": "RUNNING"})",
                "jobId"},
        BadCase{"JobIdFloat", "job", R"({"jobId": 1.5, "jobName": "j", "status": "RUNNING"})",
                "jobId"},
        BadCase{"JobIdList", "job", R"({"jobId": [1], "jobName": "j", "status": "RUNNING"})",
                "jobId"},
        BadCase{"JobMissingName", "job", R"({"jobId": "1", "status": "RUNNING"})", "jobName"},
        BadCase{"JobNameNumber", "job", R"({"jobId": "1", "jobName": 3, "status": "RUNNING"})",
                "jobName"},
        BadCase{"JobMissingStatus", "job", R"({"jobId": "1", "jobName": "j"})", "status"},
        BadCase{"JobBadStatus", "job", R"({"jobId": "1", "jobName": "j", "status": "DONE"})",
                "status"},
        BadCase{"JobCreatedAtString", "job", "{" JOB_BASE R"(, "createdAt": "soon"})",
                "createdAt"},
        BadCase{"JobCreatedAtBool", "job", "{" JOB_BASE R"(, "createdAt": true})", "createdAt"},
        BadCase{"JobOwnerNotObject", "job", "{" JOB_BASE R"(, "owner": "alice"})", "owner"},
        BadCase{"JobBadDependencyType", "job",
                "{" JOB_BASE R"(, "dependsOn": [{"jobId": "2", "type": "whenever"}]})",
                "dependsOn.type"},
        BadCase{"JobBadDefinitionRevision", "job", "{" JOB_BASE R"(, "jobDefinition": "x:abc"})",
                "jobDefinition"},
        BadCase{"JobDependsOnString", "job", "{" JOB_BASE R"(, "dependsOn": "2"})", "dependsOn"},
        BadCase{"JobAttemptsObject", "job", "{" JOB_BASE R"(, "attempts": {"n": 1}})", "attempts"},
        BadCase{"JobAttemptNotObject", "job", "{" JOB_BASE R"(, "attempts": [1]})", "attempts"},
        BadCase{"JobAttemptCpusNotList", "job",
                "{" JOB_BASE R"(, "attempts": [{"container": {"cpus": 3}}]})", "cpus"},
        BadCase{"JobAttemptExitCodeString", "job",
                "{" JOB_BASE R"(, "attempts": [{"container": {"exitCode": "x"}}]})", "exitCode"},
        BadCase{"JobTerminateNotBool", "job", "{" JOB_BASE R"(, "terminateRequested": "yes"})",
                "terminateRequested"},
        BadCase{"JobBadResourceType", "job",
                "{" JOB_BASE R"(, "resourceRequirements": [{"type": "CPU", "value": "1"}]})",
                "resourceRequirements.type"},
        BadCase{"RequestNotObject", "request", R"([1, 2])", "request"},
        BadCase{"RequestNameNumber", "request", R"({"jobName": 5})", "jobName"},
        BadCase{"RequestCommandString", "request", R"({"containerOverrides": {"command": "ls"}})",
                "command"},
        BadCase{"RequestCommandNumbers", "request", R"({"command": [1, 2]})", "command"},
        BadCase{"RequestOverridesNotObject", "request", R"({"containerOverrides": []})",
                "containerOverrides"},
        BadCase{"RequestResourcesNotList", "request",
                R"({"containerOverrides": {"resourceRequirements": {"VCPU": 2}}})",
                "resourceRequirements"},
        BadCase{"RequestResourceValueWord", "request",
                R"({"containerOverrides": {"resourceRequirements": [{"type": "VCPU", "value": "two"}]}})",
                "value"},
        BadCase{"RequestResourceNoType", "request",
                R"({"containerOverrides": {"resourceRequirements": [{"value": "2"}]}})", "type"},
        BadCase{"RequestEnvironmentString", "request",
                R"({"containerOverrides": {"environment": "A=1"}})", "environment"},
        BadCase{"RequestEnvironmentEntryNoName", "request",
                R"({"containerOverrides": {"environment": [{"value": "1"}]}})", "name"},
        BadCase{"RequestParametersNumber", "request", R"({"parameters": {"p": 1}})",
                "parameters.p"},
        BadCase{"RequestTagsList", "request", R"({"tags": [1]})", "tags"},
        BadCase{"RequestDependsOnObject", "request", R"({"dependsOn": {"jobId": "1"}})",
                "dependsOn"},
        BadCase{"RequestDependsOnBadType", "request",
                R"({"dependsOn": [{"jobId": "1", "type": "N_TO_M"}]})", "dependsOn.type"},
        BadCase{"RequestDependsOnBadId", "request", R"({"dependsOn": [{"jobId": "x1"}]})",
                "jobId"},
        BadCase{"RequestDependsOnNoId", "request", R"({"dependsOn": [{"type": "afterok"}]})",
                "jobId"},
        BadCase{"RequestTimeoutNoSeconds", "request", R"({"timeout": {}})",
                "attemptDurationSeconds"},
        BadCase{"RequestTimeoutNotObject", "request", R"({"timeout": 60})", "timeout"},
        BadCase{"RequestRetryAttemptsWord", "request", R"({"retryStrategy": {"attempts": "x"}})",
                "attempts"},
        BadCase{"RequestRetryAttemptsHuge", "request",
                R"({"retryStrategy": {"attempts": 9999999999}})", "attempts"},
        BadCase{"RequestRuleWithoutAction", "request",
                R"({"retryStrategy": {"evaluateOnExit": [{"onExitCode": "1"}]}})", "action"},
        BadCase{"RequestRulesNotList", "request", R"({"retryStrategy": {"evaluateOnExit": 1}})",
                "retryStrategy.evaluateOnExit"},
        BadCase{"DefinitionNotObject", "definition", R"("blast")", "jobDefinition"},
        BadCase{"DefinitionNoName", "definition", R"({"type": "container"})",
                "jobDefinitionName"},
        BadCase{"DefinitionBadType", "definition", R"({"jobDefinitionName": "d", "type": "batch"})",
                "type"},
        BadCase{"DefinitionRevisionWord", "definition",
                R"({"jobDefinitionName": "d", "revision": "latest"})", "revision"},
        BadCase{"QueueNoName", "queue", R"({"priority": 1})", "jobQueueName"},
        BadCase{"QueueBadState", "queue", R"({"jobQueueName": "q", "state": "PAUSED"})", "state"},
        BadCase{"QueuePriorityWord", "queue", R"({"jobQueueName": "q", "priority": "high"})",
                "priority"},
        BadCase{"QueuePreemptionModeWord", "queue", R"({"jobQueueName": "q", "preemptionMode": "SUSPEND"})",
                "preemptionMode"},
        BadCase{"QueuePreemptionModeNumber", "queue", R"({"jobQueueName": "q", "preemptionMode": 1})",
                "preemptionMode"},
        BadCase{"QueueOrderNotList", "queue",
                R"({"jobQueueName": "q", "computeEnvironmentOrder": "ce"})",
                "computeEnvironmentOrder"},
        BadCase{"QueueOrderEntryWithoutName", "queue",
                R"({"jobQueueName": "q", "computeEnvironmentOrder": [{"order": 1}]})",
                "computeEnvironment"},
        BadCase{"EnvironmentNoName", "environment", R"({"type": "UNMANAGED"})",
                "computeEnvironmentName"},
        BadCase{"EnvironmentBadState", "environment",
                R"({"computeEnvironmentName": "ce", "state": "ON"})", "state"},
        BadCase{"EnvironmentNodesString", "environment",
                R"({"computeEnvironmentName": "ce", "nodes": "n1"})", "nodes"},
        BadCase{"EnvironmentMaxVcpusWord", "environment",
                R"({"computeEnvironmentName": "ce", "maxvCpus": "many"})", "maxvCpus"},
        BadCase{"NodeNoName", "node", R"({"state": "UP"})", "nodeName"},
        BadCase{"NodeBadState", "node", R"({"nodeName": "n", "state": "BROKEN"})", "state"},
        BadCase{"NodeNotObject", "node", R"([])", "node"},
        BadCase{"NodeTopologyNotObject", "node", R"({"nodeName": "n", "topology": 5})",
                "topology"},
        BadCase{"NodeBadTopology", "node",
                R"({"nodeName": "n", "topology": {"cores": [{"pus": [-1]}]}})",
                "topology.cores.pus"},
        BadCase{"TopologyNotObject", "topology", R"("8 cores")", "topology"},
        BadCase{"TopologyCoresNotList", "topology", R"({"cores": "8"})", "cores"},
        BadCase{"TopologyCoreNotObject", "topology", R"({"cores": [7]})", "cores"},
        BadCase{"TopologyNumaNotList", "topology", R"({"numa": {"osIndex": 0}})", "numa"},
        BadCase{"TopologyGpusNotList", "topology", R"({"gpus": 2})", "gpus"},
        BadCase{"TopologyPuTooLarge", "topology", R"({"cores": [{"pus": [70000]}]})",
                "topology.cores.pus"},
        BadCase{"TopologyPusNotNumbers", "topology", R"({"cores": [{"pus": ["0"]}]})", "pus"},
        BadCase{"TopologyMemoryWord", "topology", R"({"memoryMiB": "lots"})", "memoryMiB"},
        BadCase{"TopologyGpuIndexWord", "topology", R"({"gpus": [{"index": "first"}]})", "index"},
        BadCase{"PayloadCommandString", "payload", R"({"command": "ls -l"})", "command"},
        BadCase{"PayloadScriptNumber", "payload", R"({"script": 1})", "script"},
        BadCase{"PayloadEnvironmentNumber", "payload", R"({"environment": 1})", "environment"},
        BadCase{"RetryAttemptsList", "retry", R"({"attempts": [1]})", "attempts"},
        BadCase{"ResourcesBadType", "resources",
                R"({"resourceRequirements": [{"type": "DISK", "value": "1"}]})",
                "resourceRequirements.type"},
        BadCase{"KeyValuesNumber", "kv", R"(7)", "tags"},
        BadCase{"KeyValuesEntryNotObject", "kv", R"(["a=b"])", "tags"}),
    [](const auto& info) { return info.param.name; });

TEST(CodecErrors, EveryDecoderSurvivesAnyJsonKind) {
  const std::vector<Json> kinds = {Json(),          Json(true),       Json(1),
                                   Json(-1.5),      Json("text"),     Json::array(),
                                   Json::array({1}), Json::object(), Json{{"x", nullptr}}};
  for (const Json& j : kinds) {
    for (const char* what : {"job", "request", "definition", "queue", "environment", "node",
                             "topology", "payload", "retry", "resources", "kv"}) {
      EXPECT_NO_THROW((void)decode(what, j)) << what << " " << j.dump();
    }
  }
}

// ---- dump -------------------------------------------------------------------------------

TEST(CodecDump, InvalidUtf8DoesNotThrow) {
  Json j = {{"environment", "\xff\xfe bad \xc3"}, {"ok", "\xc3\xa9"}};
  std::string s;
  ASSERT_NO_THROW(s = dump(j));
  EXPECT_NE(s.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD replacement
  EXPECT_NE(s.find("\xc3\xa9"), std::string::npos);      // valid UTF-8 kept
  EXPECT_TRUE(Json::accept(s));
  // A payload with such bytes is stored and read back without failing.
  JobPayload p;
  p.environment = {{"BIN", std::string("\x80\x81", 2)}};
  auto back = payload_from_json(Json::parse(dump(to_json(p))));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->environment.size(), 1u);
}

TEST(CodecDump, CompactOneLine) {
  EXPECT_EQ(dump(Json{{"a", 1}, {"b", "x"}}), R"({"a":1,"b":"x"})");
}

}  // namespace
}  // namespace drover::proto
