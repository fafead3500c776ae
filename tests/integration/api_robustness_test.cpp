// Hostile or broken clients on droverd's API socket: each gets a clear error or a
// closed connection, and droverd keeps serving everyone else with its jobs intact.
#include <sys/socket.h>
#include <sys/un.h>

#include "cluster.hpp"
#include "proto/frame.hpp"

namespace drover::it {
namespace {

// A raw connection to a Unix socket, for bytes no well-behaved client would send.
class RawConn {
 public:
  explicit RawConn(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  bool send_bytes(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool send_frame(const std::string& payload) { return send_bytes(proto::encode_frame(payload)); }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // The next reply as JSON; null when the connection closed or nothing came in time.
  Json reply(int timeout_ms = 5000) {
    auto frame = next_frame(timeout_ms);
    if (!frame) return nullptr;
    return Json::parse(*frame, nullptr, false);
  }

  // Whether the peer closed the connection (EOF) within timeout_ms, ignoring any frames.
  bool closed_by_peer(int timeout_ms = 5000) {
    const auto deadline = now_ms() + timeout_ms;
    for (;;) {
      const int wait = static_cast<int>(std::max<std::int64_t>(0, deadline - now_ms()));
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, wait) <= 0) return false;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n < 0 && errno != EINTR) return true;
    }
  }

 private:
  std::optional<std::string> next_frame(int timeout_ms) {
    const auto deadline = now_ms() + timeout_ms;
    for (;;) {
      if (buf_.size() >= 4) {
        const auto* p = reinterpret_cast<const unsigned char*>(buf_.data());
        const std::size_t n = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                              (std::size_t{p[2]} << 8) | std::size_t{p[3]};
        if (buf_.size() >= 4 + n) {
          std::string f = buf_.substr(4, n);
          buf_.erase(0, 4 + n);
          return f;
        }
      }
      const int wait = static_cast<int>(std::max<std::int64_t>(0, deadline - now_ms()));
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, wait) <= 0) return std::nullopt;
      char buf[65536];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buf_.append(buf, static_cast<std::size_t>(n));
    }
  }

  int fd_ = -1;
  std::string buf_;
};

std::string be32(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

class ApiRobustnessTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    if (HasFatalFailure()) return;
    earlier_ = cluster().submit({"--wrap", "echo earlier"});
    ASSERT_TRUE(cluster().wait_for_state(earlier_, "SUCCEEDED"));
  }

  // droverd still answers, the earlier job is intact, and a new job runs.
  void expect_still_serving() {
    const Json j = cluster().describe(earlier_);
    ASSERT_TRUE(j.is_object()) << "the earlier job is gone\n" << cluster().logs();
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED");
    const std::string id = cluster().submit({"--wrap", "echo after"});
    ASSERT_FALSE(id.empty()) << cluster().logs();
    EXPECT_TRUE(cluster().wait_for_state(id, "SUCCEEDED"));
    EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + id + ".out"), "after\n");
  }

  // Sends one frame and expects an error reply whose message contains `what`.
  void expect_error(const std::string& payload, const std::string& what) {
    RawConn c(cluster().socket());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send_frame(payload));
    const Json r = c.reply();
    ASSERT_TRUE(r.is_object()) << "no reply to " << payload.substr(0, 200);
    EXPECT_EQ(r.value("ok", true), false) << r.dump();
    EXPECT_TRUE(contains(r.value("error", ""), what))
        << "for " << payload.substr(0, 200) << "\nwanted an error naming '" << what << "', got " << r.dump();
    // The connection stays usable after a request-level error.
    ASSERT_TRUE(c.send_frame(R"({"op":"Status"})"));
    const Json s = c.reply();
    EXPECT_EQ(s.value("ok", false), true) << s.dump();
  }

  std::string earlier_;
};

TEST_F(ApiRobustnessTest, GarbageBytesCloseTheConnection) {
  RawConn c(cluster().socket());
  ASSERT_TRUE(c.ok());
  // "GET " read as a length is ~1.1 GB, beyond the frame limit.
  ASSERT_TRUE(c.send_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const Json r = c.reply();
  ASSERT_TRUE(r.is_object()) << "expected an error reply before the close";
  EXPECT_EQ(r.value("ok", true), false);
  EXPECT_TRUE(contains(r.value("error", ""), "too large")) << r.dump();
  EXPECT_TRUE(c.closed_by_peer());
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, OversizedLengthHeaderIsRefused) {
  RawConn c(cluster().socket());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send_bytes(be32(0x7fffffff) + "{}"));
  const Json r = c.reply();
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.value("ok", true), false);
  EXPECT_TRUE(contains(r.value("error", ""), "too large")) << r.dump();
  EXPECT_TRUE(c.closed_by_peer());
  // All ones, too.
  RawConn c2(cluster().socket());
  ASSERT_TRUE(c2.send_bytes(be32(0xffffffff)));
  EXPECT_TRUE(c2.closed_by_peer());
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, TruncatedFrameThenCloseIsDropped) {
  {
    RawConn c(cluster().socket());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send_bytes(be32(100) + R"({"op":"Sub)"));
  }
  {
    // Half a header.
    RawConn c(cluster().socket());
    ASSERT_TRUE(c.send_bytes(std::string("\0\0", 2)));
  }
  {
    // A whole request whose length promises more than is sent, then a half close:
    // the daemon must neither run it nor hang.
    RawConn c(cluster().socket());
    const std::string req = R"({"op":"SubmitJob","args":{"script":"#!/bin/sh\necho x\n","workingDirectory":"/tmp"}})";
    ASSERT_TRUE(c.send_bytes(be32(static_cast<std::uint32_t>(req.size() + 10)) + req));
    c.shutdown_write();
    EXPECT_TRUE(c.closed_by_peer());
  }
  expect_still_serving();
  // Nothing was submitted by the truncated request: only the two jobs of this test exist.
  auto api = cluster().api();
  ASSERT_TRUE(api.has_value());
  auto r = api->call("ListJobs", Json{{"jobStatus", Json::array({"SUCCEEDED", "FAILED", "RUNNABLE", "RUNNING",
                                                                  "PENDING", "SUBMITTED", "STARTING"})}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)["jobSummaryList"].size(), 2u) << r->dump(2);
}

TEST_F(ApiRobustnessTest, InvalidJsonGetsAnError) {
  expect_error("{not json", "not a JSON object");
  expect_error("", "not a JSON object");
  expect_error("[1,2,3]", "not a JSON object");
  expect_error("\"SubmitJob\"", "not a JSON object");
  expect_error("null", "not a JSON object");
  expect_error(std::string("{\"op\":\"Status\",\"x\":\"\xff\xfe\"}"), "not a JSON object");
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, DeeplyNestedJsonDoesNotCrashTheDaemon) {
  const std::string deep = R"({"op":"Status","args":{"x":)" + std::string(200000, '[') + std::string(200000, ']') + "}}";
  RawConn c(cluster().socket());
  ASSERT_TRUE(c.send_frame(deep));
  const Json r = c.reply(10000);
  ASSERT_TRUE(r.is_object()) << "no reply\n" << cluster().logs();
  EXPECT_EQ(r.value("ok", true), false) << r.dump();
  EXPECT_TRUE(contains(r.value("error", ""), "nested")) << r.dump();
  const std::string open_only = R"({"op":"Status","args":)" + std::string(1 << 20, '[');
  RawConn c2(cluster().socket());
  ASSERT_TRUE(c2.send_frame(open_only));
  const Json r2 = c2.reply(10000);
  EXPECT_EQ(r2.value("ok", true), false) << "no error reply\n" << cluster().logs();
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, UnknownOperationGetsAnError) {
  expect_error(R"({"op":"Frobnicate","args":{}})", "unknown operation 'Frobnicate'");
  expect_error(R"({"args":{}})", "unknown operation");
  expect_error(R"({"op":42})", "\"op\" must be a string");
  expect_error(R"({"op":null,"args":{}})", "\"op\" must be a string");
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, SubmitWithWrongFieldTypesIsRefused) {
  const std::string base = R"("script":"#!/bin/sh\necho x\n","workingDirectory":"/tmp")";
  auto submit = [&](const std::string& extra) {
    return R"({"op":"SubmitJob","args":{)" + base + (extra.empty() ? "" : "," + extra) + "}}";
  };
  expect_error(submit(R"("jobName":5)"), "jobName");
  expect_error(submit(R"("jobQueue":["default"])"), "jobQueue");
  expect_error(submit(R"("resourceRequirements":"lots")"), "resourceRequirements");
  expect_error(submit(R"("resourceRequirements":[{"type":"VCPU","value":"many"}])"), "'many' is not a whole number");
  expect_error(submit(R"("resourceRequirements":[{"type":"VCPU","value":"99999999999999999999"}])"), "not a whole number");
  expect_error(submit(R"("resourceRequirements":[{"type":"MEMORY","value":-5}])"), "memory");
  expect_error(submit(R"("timeout":{"attemptDurationSeconds":"soon"})"), "attemptDurationSeconds");
  expect_error(submit(R"("timeout":7)"), "timeout");
  expect_error(submit(R"("retryStrategy":{"attempts":true})"), "attempts");
  expect_error(submit(R"("dependsOn":"1")"), "dependsOn");
  expect_error(submit(R"("dependsOn":[{"jobId":{},"type":"afterok"}])"), "jobId");
  expect_error(submit(R"("environment":[1,2])"), "environment");
  expect_error(submit(R"("environment":{"A":{"b":1}})"), "environment");
  expect_error(submit(R"("command":"echo hi")"), "command");
  expect_error(submit(R"("parameters":"x=1")"), "parameters");
  expect_error(R"({"op":"SubmitJob","args":{"script":7,"workingDirectory":"/tmp"}})", "script");
  expect_error(R"({"op":"SubmitJob","args":{"script":"#!/bin/sh\n","workingDirectory":5}})", "workingDirectory");
  // args that is not an object is no arguments at all.
  expect_error(R"({"op":"SubmitJob","args":"yes"})", "nothing to run");
  expect_error(R"({"op":"DescribeJobs","args":{"jobs":"1"}})", "jobs");
  expect_error(R"({"op":"DescribeJobs","args":{"jobs":[{"a":1}]}})", "jobId");
  expect_error(R"({"op":"TerminateJob","args":{"jobId":-1}})", "jobId");
  expect_error(R"({"op":"ReadLog","args":{"jobId":"1","offset":"x"}})", "offset");
  expect_error(R"({"op":"ReadLog","args":{"jobId":"1","offset":-1}})", "offset");
  expect_error(R"({"op":"ReadLog","args":{"jobId":"1","maxBytes":1.5}})", "maxBytes");
  expect_error(R"({"op":"ListJobs","args":{"jobStatus":[1]}})", "jobStatus");
  expect_error(R"({"op":"ListJobHistory","args":{"since":"yesterday"}})", "since");
  expect_error(R"({"op":"ListJobHistory","args":{"limit":[]}})", "limit");
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConn c(cluster().socket());
  std::string batch;
  for (int i = 0; i < 20; ++i)
    batch += proto::encode_frame(i % 2 ? R"({"op":"Status"})" : R"({"op":"Nope"})");
  ASSERT_TRUE(c.send_bytes(batch));
  for (int i = 0; i < 20; ++i) {
    const Json r = c.reply();
    ASSERT_TRUE(r.is_object()) << "reply " << i;
    EXPECT_EQ(r.value("ok", false), i % 2 == 1) << i << ": " << r.dump();
  }
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, ManyAbandonedConnectionsDoNotHurt) {
  for (int i = 0; i < 200; ++i) {
    RawConn c(cluster().socket());
    ASSERT_TRUE(c.ok()) << "connection " << i << "\n" << cluster().logs();
    if (i % 3 == 0) c.send_bytes(be32(50));
    if (i % 3 == 1) c.send_frame(R"({"op":"Status"})");  // and never read the reply
  }
  expect_still_serving();
}

TEST_F(ApiRobustnessTest, GarbageOnTheAgentSocketLeavesTheNodeConnected) {
  {
    RawConn c(cluster().agent_socket());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send_frame("{not json"));
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    RawConn c(cluster().agent_socket());
    ASSERT_TRUE(c.send_frame(R"({"type":"exited","jobId":1,"attempt":1})"));
    EXPECT_TRUE(c.closed_by_peer()) << "a message before hello must close the connection";
  }
  {
    RawConn c(cluster().agent_socket());
    ASSERT_TRUE(c.send_frame(R"({"type":"hello","nodeName":7})"));
    const Json r = c.reply();
    EXPECT_EQ(r.value("ok", true), false) << r.dump();
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    // An agent of the protocol before environment bases would start array
    // tasks without the submitter's environment: refused, saying why.
    RawConn c(cluster().agent_socket());
    ASSERT_TRUE(c.send_frame(R"({"type":"hello","version":1,"nodeName":"old-agent"})"));
    const Json r = c.reply();
    EXPECT_EQ(r.value("ok", true), false) << r.dump();
    EXPECT_NE(r.value("error", "").find("protocol version 1 not supported"), std::string::npos) << r.dump();
    EXPECT_TRUE(c.closed_by_peer());
  }
  EXPECT_TRUE(cluster().node_info().value("connected", false));
  expect_still_serving();
}


// CPU seconds (user + system) a process has used so far, in clock ticks.
long cpu_ticks(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

class FewFilesTest : public ApiRobustnessTest {
 protected:
  Cluster::Config config() const override {
    Cluster::Config c;
    c.head_max_files = 64;
    return c;
  }
};

TEST_F(FewFilesTest, RunningOutOfDescriptorsNeitherSpinsNorWedges) {
  // More idle connections than droverd has descriptors: the rest wait in the
  // backlog. droverd must not busy-loop on them, and must serve again once
  // the idle ones go away.
  std::vector<std::unique_ptr<RawConn>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawConn>(cluster().socket()));
    ASSERT_TRUE(idle.back()->ok()) << i;
  }
  sleep_ms(100);
  const long before = cpu_ticks(cluster().head_pid());
  sleep_ms(600);
  const long used = cpu_ticks(cluster().head_pid()) - before;
  EXPECT_LT(used, sysconf(_SC_CLK_TCK) / 5) << "droverd used " << used << " ticks in 600 ms while out of descriptors";
  idle.clear();
  expect_still_serving();
}

}  // namespace
}  // namespace drover::it
