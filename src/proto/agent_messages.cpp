#include "proto/agent_messages.hpp"

namespace drover::proto {

namespace {
template <class F>
auto guard(F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const std::exception& e) {
    return Error{std::string("malformed agent message: ") + e.what()};
  }
}
}  // namespace

Json to_json(const LaunchOrder& m) {
  Json j = {{"type", "launch"},
            {"jobId", m.job_id},
            {"attempt", m.attempt},
            {"uid", m.uid},
            {"gid", m.gid},
            {"user", m.user},
            {"argv", m.argv},
            {"environment", to_env_json(m.environment)},
            {"workingDirectory", m.working_dir},
            {"stdoutPath", m.stdout_path},
            {"stderrPath", m.stderr_path},
            {"cpus", m.cpus},
            {"gpus", m.gpus},
            {"memoryMiB", m.memory_mib},
            {"timeoutSeconds", m.timeout_seconds}};
  if (!m.script.empty()) j["script"] = m.script;
  return j;
}

Json to_json(const ExitReport& m) {
  Json j = {{"type", "exited"}, {"jobId", m.job_id}, {"attempt", m.attempt}, {"at", m.at},
            {"signal", m.signal}, {"reason", m.reason}};
  if (m.exit_code) j["exitCode"] = *m.exit_code;
  return j;
}

Json to_json(const RunningReport& m) {
  return {{"type", "started"}, {"jobId", m.job_id}, {"attempt", m.attempt}, {"at", m.started_at}};
}

Json to_json(const AgentHello& m) {
  Json running = Json::array(), exited = Json::array();
  for (const auto& r : m.running) running.push_back(to_json(r));
  for (const auto& e : m.exited) exited.push_back(to_json(e));
  return {{"type", "hello"},          {"version", m.version},    {"nodeName", m.node_name},
          {"topology", to_json(m.topology)}, {"running", std::move(running)},
          {"exited", std::move(exited)}};
}

Result<LaunchOrder> launch_order_from_json(const Json& j) {
  return guard([&] {
    LaunchOrder m;
    m.job_id = j.at("jobId").get<std::int64_t>();
    m.attempt = j.at("attempt").get<int>();
    m.uid = j.at("uid").get<std::uint32_t>();
    m.gid = j.at("gid").get<std::uint32_t>();
    m.user = j.value("user", "");
    m.argv = j.value("argv", std::vector<std::string>{});
    m.script = j.value("script", "");
    for (const auto& e : j.value("environment", Json::array()))
      m.environment.emplace_back(e.at("name").get<std::string>(), e.at("value").get<std::string>());
    m.working_dir = j.at("workingDirectory").get<std::string>();
    m.stdout_path = j.at("stdoutPath").get<std::string>();
    m.stderr_path = j.value("stderrPath", "");
    m.cpus = j.value("cpus", std::vector<int>{});
    m.gpus = j.value("gpus", std::vector<int>{});
    m.memory_mib = j.value("memoryMiB", std::int64_t{0});
    m.timeout_seconds = j.value("timeoutSeconds", std::int64_t{0});
    return m;
  });
}

Result<ExitReport> exit_report_from_json(const Json& j) {
  return guard([&] {
    ExitReport m;
    m.job_id = j.at("jobId").get<std::int64_t>();
    m.attempt = j.at("attempt").get<int>();
    m.at = j.at("at").get<std::int64_t>();
    if (j.contains("exitCode") && !j["exitCode"].is_null()) m.exit_code = j["exitCode"].get<int>();
    m.signal = j.value("signal", 0);
    m.reason = j.value("reason", "");
    return m;
  });
}

Result<RunningReport> running_report_from_json(const Json& j) {
  return guard([&] {
    RunningReport m;
    m.job_id = j.at("jobId").get<std::int64_t>();
    m.attempt = j.at("attempt").get<int>();
    m.started_at = j.at("at").get<std::int64_t>();
    return m;
  });
}

Result<AgentHello> agent_hello_from_json(const Json& j) {
  auto topo = topology_from_json(j.value("topology", Json::object()));
  if (!topo) return topo.error();
  return guard([&]() -> AgentHello {
    AgentHello m;
    m.version = j.at("version").get<int>();
    m.node_name = j.at("nodeName").get<std::string>();
    m.topology = *topo;
    for (const auto& r : j.value("running", Json::array())) {
      auto x = running_report_from_json(r);
      if (!x) throw std::runtime_error(x.message());
      m.running.push_back(*x);
    }
    for (const auto& e : j.value("exited", Json::array())) {
      auto x = exit_report_from_json(e);
      if (!x) throw std::runtime_error(x.message());
      m.exited.push_back(*x);
    }
    return m;
  });
}

}  // namespace drover::proto
