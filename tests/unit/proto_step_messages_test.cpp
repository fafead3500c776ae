// Step protocol messages (drover-launch <-> drover-noded): round trips, and
// garbled, truncated or oversized input refused with an error, never a crash.
#include "proto/step_messages.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "proto/frame.hpp"

namespace drover::proto {
namespace {

StepLaunch full_request() {
  StepLaunch m;
  m.credential = "MUNGE:AwQFAAB...:";
  m.job_id = 123456789012LL;
  m.node = "node07";
  m.argv = {" orted", "-mca", "ess", "\"env\"", "-mca", "orte_hnp_uri", "\"1.0;tcp://10.0.0.1:4242\""};
  m.cwd = "/home/alice/run";
  m.environment = {{"PATH", "/usr/bin"}, {"EMPTY", ""}, {"WITH_EQUALS", "a=b=c"}, {"UNICODE", "\xc3\xa9t\xc3\xa9"}};
  return m;
}

template <class T>
T reply_as(const std::string& frame) {
  auto r = step_reply_from_frame(frame);
  EXPECT_TRUE(r) << r.message();
  EXPECT_TRUE(std::holds_alternative<T>(*r)) << frame;
  return std::get<T>(*r);
}

TEST(StepMessages, LaunchRoundTrip) {
  const StepLaunch m = full_request();
  auto back = step_launch_from_frame(dump(to_json(m)));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->version, kStepProtocolVersion);
  EXPECT_EQ(back->credential, m.credential);
  EXPECT_EQ(back->job_id, m.job_id);
  EXPECT_EQ(back->node, m.node);
  EXPECT_EQ(back->argv, m.argv);
  EXPECT_EQ(back->cwd, m.cwd);
  EXPECT_EQ(back->environment, m.environment);
}

TEST(StepMessages, RepliesRoundTrip) {
  EXPECT_EQ(reply_as<StepAccepted>(dump(to_json(StepAccepted{"7.3"}))).step_id, "7.3");
  EXPECT_EQ(reply_as<StepRefused>(dump(to_json(StepRefused{"job 9 is not running on node n1"}))).reason,
            "job 9 is not running on node n1");

  StepOutput out;
  out.stream = StepStream::Stderr;
  out.data = std::string("bin\0ary\xff\xfe\n", 11);
  const StepOutput got = reply_as<StepOutput>(dump(to_json(out)));
  EXPECT_EQ(got.stream, StepStream::Stderr);
  EXPECT_EQ(got.data, out.data);

  StepExit code;
  code.exit_code = 3;
  const StepExit c = reply_as<StepExit>(dump(to_json(code)));
  EXPECT_EQ(c.exit_code, 3);
  EXPECT_EQ(c.signal, 0);
  StepExit sig;
  sig.signal = 15;
  sig.reason = "the job was killed";
  const StepExit s = reply_as<StepExit>(dump(to_json(sig)));
  EXPECT_FALSE(s.exit_code);
  EXPECT_EQ(s.signal, 15);
  EXPECT_EQ(s.reason, "the job was killed");
}

TEST(StepMessages, TheConnectionsOwnRefusalIsARefusal) {
  const StepRefused r = reply_as<StepRefused>(R"({"ok":false,"error":"message too large: 99 bytes"})");
  EXPECT_EQ(r.reason, "message too large: 99 bytes");
}

TEST(StepMessages, CredentialPayloadBindsPurposeJobAndNode) {
  auto claim = step_claim_from_payload(step_credential_payload(42, "n2"));
  ASSERT_TRUE(claim) << claim.message();
  EXPECT_EQ(claim->job_id, 42);
  EXPECT_EQ(claim->node, "n2");
  auto other = step_claim_from_payload(R"({"purpose":"agent-hello","job":42,"node":"n2"})");
  ASSERT_FALSE(other);
  EXPECT_NE(other.message().find("purpose"), std::string::npos) << other.message();
  EXPECT_FALSE(step_claim_from_payload("agent-hello node01"));
  EXPECT_FALSE(step_claim_from_payload(R"({"purpose":"drover-step","node":"n2"})"));
  EXPECT_FALSE(step_claim_from_payload(R"({"purpose":"drover-step","job":0,"node":"n2"})"));
}

TEST(StepMessages, BadRequestsNameTheField) {
  auto with = [](const char* key, Json value) {
    Json j = to_json(full_request());
    j[key] = std::move(value);
    return dump(j);
  };
  auto expect_bad = [](const std::string& frame, const std::string& needle) {
    auto r = step_launch_from_frame(frame);
    ASSERT_FALSE(r) << frame;
    EXPECT_NE(r.message().find(needle), std::string::npos) << r.message();
  };
  expect_bad("", "not JSON");
  expect_bad("{\"type\":\"step_launch\"", "not JSON");
  expect_bad("[1,2]", "expected an object");
  expect_bad(with("type", "step_exit"), "type");
  expect_bad(with("jobId", "7"), "jobId");
  expect_bad(with("jobId", -1), "jobId");
  expect_bad(with("jobId", Json(18446744073709551615ull)), "jobId");
  expect_bad(with("argv", Json::array()), "argv");
  expect_bad(with("argv", Json::array({"a", 1})), "argv");
  expect_bad(with("argv", Json::array({std::string("a\0b", 3)})), "NUL");
  expect_bad(with("environment", Json::array({Json{{"name", "A=B"}, {"value", "x"}}})), "environment");
  expect_bad(with("environment", Json::array({Json{{"name", ""}, {"value", "x"}}})), "environment");
  expect_bad(with("environment", Json{{"A", "x"}}), "environment");
  expect_bad(with("credential", 5), "credential");
  expect_bad(with("credential", std::string(kMaxCredential + 1, 'x')), "credential");
  Json many = Json::array();
  for (std::size_t i = 0; i <= kMaxStepWords; ++i) many.push_back("w");
  expect_bad(with("argv", many), "argv");
}

TEST(StepMessages, BadRepliesAreErrors) {
  EXPECT_FALSE(step_reply_from_frame("garbage"));
  EXPECT_FALSE(step_reply_from_frame(R"({"type":"step_nonsense"})"));
  EXPECT_FALSE(step_reply_from_frame(R"({"type":"step_output","stream":"stdin","data":""})"));
  EXPECT_FALSE(step_reply_from_frame(R"({"type":"step_output","stream":"stdout","data":"@@@@"})"));
  EXPECT_FALSE(step_reply_from_frame(R"({"type":"step_output","stream":"stdout","data":"abc"})"));
  EXPECT_FALSE(step_reply_from_frame(R"({"type":"step_exit"})"));
  EXPECT_FALSE(step_reply_from_frame(R"({"type":"step_exit","exitCode":256})"));
  const std::string big(kMaxStepOutputChunk + 1, 'x');
  EXPECT_FALSE(step_reply_from_frame(dump(Json{{"type", "step_output"}, {"stream", "stdout"},
                                               {"data", base64_encode(big)}})));
}

TEST(StepMessages, Base64) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto back = base64_decode(base64_encode(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_FALSE(base64_decode("Zm8"));
  EXPECT_FALSE(base64_decode("Z=8="));
  EXPECT_FALSE(base64_decode("Zm8=Zm8="));
}

TEST(StepMessages, RandomBytesNeverCrashTheDecoders) {
  std::mt19937 rng(7);
  const std::string valid = dump(to_json(full_request()));
  for (int i = 0; i < 2000; ++i) {
    std::string s = valid;
    // Truncate, and flip a few bytes.
    s.resize(rng() % (s.size() + 1));
    for (int k = 0; k < 3 && !s.empty(); ++k) s[rng() % s.size()] = static_cast<char>(rng());
    (void)step_launch_from_frame(s);
    (void)step_reply_from_frame(s);
  }
  // A frame decoder with the step limit refuses a huge length before buffering it.
  FrameDecoder d(kMaxStepFrame);
  const std::string header = "\xff\xff\xff\xff";
  d.feed(header.data(), header.size());
  EXPECT_FALSE(d.next());
}

}  // namespace
}  // namespace drover::proto
