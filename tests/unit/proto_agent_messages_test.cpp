// Head <-> agent messages: round trips, and malformed messages refused with an
// error naming the field instead of an exception.
#include "proto/agent_messages.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "test_cluster.hpp"

namespace drover::proto {
namespace {

void expect_same(const LaunchOrder& a, const LaunchOrder& b) {
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.attempt, b.attempt);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.argv, b.argv);
  EXPECT_EQ(a.script, b.script);
  EXPECT_EQ(a.environment, b.environment);
  EXPECT_EQ(a.environment_base, b.environment_base);
  EXPECT_EQ(a.has_base_environment, b.has_base_environment);
  EXPECT_EQ(a.base_environment, b.base_environment);
  EXPECT_EQ(a.working_dir, b.working_dir);
  EXPECT_EQ(a.stdout_path, b.stdout_path);
  EXPECT_EQ(a.stderr_path, b.stderr_path);
  EXPECT_EQ(a.cpus, b.cpus);
  EXPECT_EQ(a.gpus, b.gpus);
  EXPECT_EQ(a.memory_mib, b.memory_mib);
  EXPECT_EQ(a.timeout_seconds, b.timeout_seconds);
  EXPECT_EQ(a.rankfile, b.rankfile);
}

void expect_same(const ExitReport& a, const ExitReport& b) {
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.attempt, b.attempt);
  EXPECT_EQ(a.at, b.at);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.signal, b.signal);
  EXPECT_EQ(a.reason, b.reason);
}

LaunchOrder full_order() {
  LaunchOrder m;
  m.job_id = 123456789012LL;
  m.attempt = 2;
  m.uid = 1000;
  m.gid = 100;
  m.user = "alice";
  m.argv = {"/bin/echo", "a b", ""};
  m.script = "#!/bin/bash\necho hi\n";
  m.environment = {{"Z", "1"}, {"A", "x=y"}, {"EMPTY", ""}};
  m.working_dir = "/home/alice";
  m.stdout_path = "/home/alice/drover-1.out";
  m.stderr_path = "/home/alice/drover-1.err";
  m.cpus = {0, 1, 16, 17};
  m.gpus = {3};
  m.memory_mib = 4096;
  m.timeout_seconds = 600;
  m.rankfile = "rank 0=localhost slot=0,1\nrank 1=localhost slot=16,17\n";
  return m;
}

// dump_launch_order writes what dump(to_json()) wrote, byte for byte, for every
// shape of order and every kind of string (escapes, UTF-8, invalid bytes).
std::vector<LaunchOrder> many_orders() {
  std::vector<LaunchOrder> orders;
  orders.push_back(full_order());
  LaunchOrder minimal;
  minimal.job_id = 1;
  minimal.attempt = 1;
  orders.push_back(minimal);
  LaunchOrder multi = full_order();
  multi.num_nodes = 3;
  multi.node_index = 2;
  multi.hostfile = "n1 slots=2\nn2 slots=2\n";
  multi.checkpoint_signal = 10;
  multi.checkpoint_seconds = 60;
  multi.checkpoint_batch_only = true;
  multi.checkpoint_dir = "/scratch/ckpt";
  multi.append_output = true;
  multi.uid = 4294967295u;
  multi.gid = 0;
  multi.job_id = -7;
  multi.memory_mib = std::numeric_limits<std::int64_t>::max();
  orders.push_back(multi);
  // An array task's order: its own variables over a base, the base sent with
  // it (the first task on the agent), or only named (the rest).
  LaunchOrder with_base = full_order();
  with_base.environment_base = 77;
  with_base.has_base_environment = true;
  with_base.base_environment = {{"PATH", "/bin"}, {"HOME", "/home/alice"}, {"A", "base"}};
  orders.push_back(with_base);
  with_base.has_base_environment = false;
  with_base.base_environment.clear();
  orders.push_back(with_base);
  LaunchOrder empty_base = minimal;  // a submitter with no environment at all
  empty_base.environment_base = 5;
  empty_base.has_base_environment = true;
  orders.push_back(empty_base);
  LaunchOrder dir_only = minimal;
  dir_only.checkpoint_dir = "/c";
  dir_only.num_nodes = 2;  // no hostfile: not written
  orders.push_back(dir_only);
  // Every byte value once, alone and inside text, in every string field.
  std::vector<std::string> texts = {"", "plain", "quote\" back\\slash /slash", "tab\tnl\ncr\rbs\bff\f",
                                    std::string("nul\0byte", 8), "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                    "bad \xff\xfe utf8", "cut \xe2\x82", "\xc0\xaf overlong", "lone \xed\xa0\x80 surrogate"};
  for (int c = 0; c < 256; ++c) {
    texts.push_back(std::string(1, static_cast<char>(c)));
    texts.push_back("a" + std::string(1, static_cast<char>(c)) + "b");
  }
  for (const auto& t : texts) {
    LaunchOrder m = full_order();
    m.user = t;
    m.argv = {t, "x", t};
    m.script = "#!/bin/sh\n" + t;
    m.environment = {{t, t}, {"K", t}, {t, "v"}};
    m.environment_base = 3;
    m.has_base_environment = true;
    m.base_environment = {{"B", t}, {t, t}};
    m.working_dir = t;
    m.stdout_path = t;
    m.stderr_path = t;
    m.rankfile = t;
    m.checkpoint_dir = t;
    orders.push_back(m);
  }
  return orders;
}

TEST(AgentMessages, DumpLaunchOrderIsExactlyTheJsonDump) {
  for (const auto& m : many_orders()) EXPECT_EQ(dump_launch_order(m), dump(to_json(m)));
}

void expect_all_same(const LaunchOrder& a, const LaunchOrder& b) {
  expect_same(a, b);
  EXPECT_EQ(a.append_output, b.append_output);
  EXPECT_EQ(a.node_index, b.node_index);
  EXPECT_EQ(a.num_nodes, b.num_nodes);
  EXPECT_EQ(a.hostfile, b.hostfile);
  EXPECT_EQ(a.checkpoint_signal, b.checkpoint_signal);
  EXPECT_EQ(a.checkpoint_seconds, b.checkpoint_seconds);
  EXPECT_EQ(a.checkpoint_batch_only, b.checkpoint_batch_only);
  EXPECT_EQ(a.checkpoint_dir, b.checkpoint_dir);
}

// read_launch_frame gives what the general parse gives, for every order the
// head writes (valid UTF-8 only: the lexer refuses the rest, both ways).
TEST(AgentMessages, ReadLaunchFrameMatchesTheGeneralParse) {
  int read = 0;
  for (const auto& m : many_orders()) {
    const std::string frame = dump_launch_order(m);
    const Json j = Json::parse(frame, nullptr, false);
    auto fast = read_launch_frame(frame);
    if (j.is_discarded()) {
      EXPECT_FALSE(fast) << frame;
      continue;
    }
    auto general = launch_order_from_json(j);
    if (!general) {
      EXPECT_FALSE(fast) << frame;
      continue;
    }
    ASSERT_TRUE(fast) << frame;
    expect_all_same(*fast, *general);
    ++read;
  }
  EXPECT_GT(read, 400);
  // Any key order (the Json value's own dump sorts them too; this one does not).
  auto reordered = read_launch_frame(
      R"({"type":"launch","workingDirectory":"/w","stdoutPath":"/o","gid":5,"uid":7,"attempt":1,"jobId":9,)"
      R"("environment":[{"value":"1","name":"A"}],"cpus":[3,1],"argv":["x"]})");
  ASSERT_TRUE(reordered);
  EXPECT_EQ(reordered->job_id, 9);
  EXPECT_EQ(reordered->uid, 7u);
  EXPECT_EQ(reordered->environment, (KeyValues{{"A", "1"}}));
  EXPECT_EQ(reordered->cpus, (std::vector<int>{3, 1}));
}

// What it does not take goes the general way (which names what is wrong).
TEST(AgentMessages, ReadLaunchFrameLeavesEverythingElseToTheGeneralParse) {
  const std::string good = dump_launch_order(full_order());
  ASSERT_TRUE(read_launch_frame(good));
  auto with = [&](const std::string& from, const std::string& to) {
    std::string f = good;
    const auto at = f.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) f.replace(at, from.size(), to);
    return f;
  };
  for (const std::string& frame : {
           std::string("{}"), std::string("[]"), std::string("not json"), good.substr(0, good.size() - 1),
           good + " x", std::string(R"({"type":"kill","jobId":1,"attempt":1})"),
           with("\"type\":\"launch\"", "\"type\":\"signal\""),
           with("\"jobId\":123456789012", "\"jobId\":null"),
           with("\"jobId\":123456789012", "\"jobId\":1.5"),
           with("\"jobId\":123456789012", "\"jobId\":\"1\""),
           with("\"jobId\":123456789012,", ""),
           with("\"attempt\":2", "\"attempt\":4294967296"),
           with("\"uid\":1000", "\"uid\":-1"),
           with("\"cpus\":[0,1,16,17]", "\"cpus\":[0,-1]"),
           with("\"cpus\":[0,1,16,17]", "\"cpus\":[[0]]"),
           with("\"cpus\":[0,1,16,17]", "\"cpus\":[0,1],\"cpus\":[2]"),
           with("\"argv\":[", "\"argv\":[1,"),
           with("{\"name\":\"Z\",\"value\":\"1\"}", "{\"name\":\"Z\"}"),
           with("{\"name\":\"Z\",\"value\":\"1\"}", "{\"name\":\"Z\",\"value\":\"1\",\"x\":1}"),
           with("{\"name\":\"Z\",\"value\":\"1\"}", "\"Z=1\""),
           with("\"appendOutput\":false", "\"appendOutput\":0"),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"ok\":false"),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"numNodes\":2,\"nodeIndex\":2"),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"checkpointSignal\":65"),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"environmentBase\":\"7\""),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"baseEnvironment\":[\"A=1\"]"),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"baseEnvironment\":[{\"name\":\"A\"}]"),
           with("\"type\":\"launch\"", "\"type\":\"launch\",\"baseEnvironment\":{}"),
       })
    EXPECT_FALSE(read_launch_frame(frame)) << frame;
}

TEST(AgentMessages, LaunchOrderRoundTrip) {
  const LaunchOrder m = full_order();
  const Json j = to_json(m);
  EXPECT_EQ(j["type"], "launch");
  auto back = launch_order_from_json(Json::parse(dump(j)));
  ASSERT_TRUE(back) << back.message();
  expect_same(*back, m);

  LaunchOrder minimal;
  minimal.job_id = 1;
  minimal.attempt = 1;
  minimal.working_dir = "/";
  minimal.stdout_path = "/o";
  auto b2 = launch_order_from_json(to_json(minimal));
  ASSERT_TRUE(b2) << b2.message();
  expect_same(*b2, minimal);
}

TEST(AgentMessages, ExitReportRoundTrip) {
  for (const ExitReport& m :
       {ExitReport{7, 1, 1700000000000, 0, 0, ""}, ExitReport{7, 3, 5, 137, 0, "OutOfMemoryError"},
        ExitReport{8, 1, 5, std::nullopt, 9, "Job attempt duration exceeded timeout"}}) {
    const Json j = to_json(m);
    EXPECT_EQ(j["type"], "exited");
    auto back = exit_report_from_json(j);
    ASSERT_TRUE(back) << back.message();
    expect_same(*back, m);
  }
}

TEST(AgentMessages, RunningReportRoundTrip) {
  const RunningReport m{42, 2, 1700000000123};
  const Json j = to_json(m);
  EXPECT_EQ(j["type"], "started");
  auto back = running_report_from_json(j);
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->job_id, 42);
  EXPECT_EQ(back->attempt, 2);
  EXPECT_EQ(back->started_at, 1700000000123);
}

TEST(AgentMessages, HelloRoundTrip) {
  AgentHello m;
  m.node_name = "node07";
  m.topology = drover::testing::make_topology(8, 2, 131072, 4, 2);
  m.running = {{1, 1, 100}, {2, 3, 200}};
  m.exited = {{3, 1, 300, 0, 0, ""}, {4, 2, 400, std::nullopt, 15, "Terminated"}};
  const Json j = to_json(m);
  EXPECT_EQ(j["type"], "hello");
  EXPECT_EQ(j["version"], kAgentProtocolVersion);
  auto back = agent_hello_from_json(Json::parse(dump(j)));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->version, kAgentProtocolVersion);
  EXPECT_EQ(back->node_name, "node07");
  EXPECT_EQ(back->topology, m.topology);
  ASSERT_EQ(back->running.size(), 2u);
  EXPECT_EQ(back->running[1].job_id, 2);
  EXPECT_EQ(back->running[1].attempt, 3);
  EXPECT_EQ(back->running[1].started_at, 200);
  ASSERT_EQ(back->exited.size(), 2u);
  expect_same(back->exited[0], m.exited[0]);
  expect_same(back->exited[1], m.exited[1]);
}

struct BadMessage {
  const char* name;
  const char* kind;  // launch, exited, started, hello
  const char* json;
  const char* field;  // must appear in the message
};

class AgentMessageErrors : public ::testing::TestWithParam<BadMessage> {};

std::string decode_error(const std::string& kind, const Json& j) {
  auto err = [](const auto& r) { return r ? std::string() : r.message(); };
  if (kind == "launch") return err(launch_order_from_json(j));
  if (kind == "exited") return err(exit_report_from_json(j));
  if (kind == "started") return err(running_report_from_json(j));
  if (kind == "hello") return err(agent_hello_from_json(j));
  ADD_FAILURE() << kind;
  return {};
}

TEST_P(AgentMessageErrors, NameTheField) {
  const auto& p = GetParam();
  std::string msg;
  ASSERT_NO_THROW(msg = decode_error(p.kind, Json::parse(p.json)));
  ASSERT_FALSE(msg.empty()) << p.json << " was accepted";
  EXPECT_NE(msg.find(p.field), std::string::npos) << msg;
}

#define LAUNCH_OK R"("jobId": 1, "attempt": 1, "uid": 0, "gid": 0, "workingDirectory": "/", "stdoutPath": "/o")"

INSTANTIATE_TEST_SUITE_P(
    Cases, AgentMessageErrors,
    ::testing::Values(
        BadMessage{"LaunchNoJobId", "launch", R"({"attempt": 1})", "jobId"},
        BadMessage{"LaunchJobIdString", "launch",
                   R"({"jobId": "1", "attempt": 1, "uid": 0, "gid": 0, "workingDirectory": "/", "stdoutPath": "/o"})",
                   "jobId"},
        BadMessage{"LaunchNoWorkingDir", "launch",
                   R"({"jobId": 1, "attempt": 1, "uid": 0, "gid": 0, "stdoutPath": "/o"})",
                   "workingDirectory"},
        BadMessage{"LaunchUidNegative", "launch",
                   R"({"jobId": 1, "attempt": 1, "uid": -1, "gid": 0, "workingDirectory": "/", "stdoutPath": "/o"})",
                   "uid"},
        BadMessage{"LaunchArgvString", "launch", "{" LAUNCH_OK R"(, "argv": "ls"})", "argv"},
        BadMessage{"LaunchArgvNumbers", "launch", "{" LAUNCH_OK R"(, "argv": [1]})", "argv"},
        BadMessage{"LaunchCpusStrings", "launch", "{" LAUNCH_OK R"(, "cpus": ["0"]})", "cpus"},
        BadMessage{"LaunchEnvNoValue", "launch",
                   "{" LAUNCH_OK R"(, "environment": [{"name": "A"}]})", "value"},
        BadMessage{"LaunchEnvNotList", "launch", "{" LAUNCH_OK R"(, "environment": "A=1"})",
                   "environment"},
        BadMessage{"LaunchMemoryString", "launch", "{" LAUNCH_OK R"(, "memoryMiB": "4G"})",
                   "memoryMiB"},
        BadMessage{"LaunchNotObject", "launch", R"([1])", "launch"},
        BadMessage{"ExitNoAt", "exited", R"({"jobId": 1, "attempt": 1})", "at"},
        BadMessage{"ExitCodeString", "exited",
                   R"({"jobId": 1, "attempt": 1, "at": 5, "exitCode": "0"})", "exitCode"},
        BadMessage{"ExitSignalString", "exited",
                   R"({"jobId": 1, "attempt": 1, "at": 5, "signal": "KILL"})", "signal"},
        BadMessage{"ExitReasonNumber", "exited",
                   R"({"jobId": 1, "attempt": 1, "at": 5, "reason": 3})", "reason"},
        BadMessage{"ExitNotObject", "exited", R"("exit")", "exited"},
        BadMessage{"StartedNoAttempt", "started", R"({"jobId": 1, "at": 5})", "attempt"},
        BadMessage{"StartedAtFloat", "started", R"({"jobId": 1, "attempt": 1, "at": "now"})",
                   "at"},
        BadMessage{"HelloNoVersion", "hello", R"({"nodeName": "n"})", "version"},
        BadMessage{"HelloNoNodeName", "hello", R"({"version": 1})", "nodeName"},
        BadMessage{"HelloNodeNameNumber", "hello", R"({"version": 1, "nodeName": 7})",
                   "nodeName"},
        BadMessage{"HelloBadTopology", "hello",
                   R"({"version": 1, "nodeName": "n", "topology": {"cores": "x"}})", "cores"},
        BadMessage{"HelloTopologyNotObject", "hello",
                   R"({"version": 1, "nodeName": "n", "topology": []})", "topology"},
        BadMessage{"HelloRunningNotList", "hello",
                   R"({"version": 1, "nodeName": "n", "running": {"jobId": 1}})", "running"},
        BadMessage{"HelloBadRunningEntry", "hello",
                   R"({"version": 1, "nodeName": "n", "running": [{"jobId": 1}]})", "attempt"},
        BadMessage{"HelloBadExitedEntry", "hello",
                   R"({"version": 1, "nodeName": "n", "exited": [{"jobId": 1, "attempt": 1}]})",
                   "at"},
        BadMessage{"HelloNotObject", "hello", R"(null)", "hello"}),
    [](const auto& info) { return info.param.name; });

TEST(AgentMessageErrors, EveryDecoderSurvivesAnyJsonKind) {
  for (const Json& j : {Json(), Json(true), Json(3), Json(2.5), Json("s"), Json::array(),
                        Json::array({Json::object()}), Json::object()}) {
    for (const char* kind : {"launch", "exited", "started", "hello"}) {
      std::string msg;
      EXPECT_NO_THROW(msg = decode_error(kind, j)) << kind << " " << j.dump();
      EXPECT_FALSE(msg.empty()) << kind << " accepted " << j.dump();
    }
  }
}

}  // namespace
}  // namespace drover::proto
