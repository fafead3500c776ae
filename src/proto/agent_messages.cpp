#include "proto/agent_messages.hpp"

#include "core/node_selection.hpp"

#include <climits>
#include <limits>
#include <optional>
#include <stdexcept>

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

// Readers that name the field in their error, as the codec's do; thrown inside
// this file only and turned into an Error by guard().
[[noreturn]] void fail(const std::string& field, const std::string& why) {
  throw std::runtime_error(field + ": " + why);
}

void need_object(const Json& j, const char* what) {
  if (!j.is_object()) fail(what, std::string("expected an object, got ") + j.type_name());
}

// A whole number that fits T; required unless a default is given.
template <class T>
T number(const Json& j, const char* key, std::optional<T> def = std::nullopt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!def) fail(key, "missing");
    return *def;
  }
  if (!it->is_number_integer())
    fail(key, std::string("expected a whole number, got ") + it->type_name());
  const bool fits = it->is_number_unsigned()
                        ? it->get<std::uint64_t>() <=
                              static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                        : it->get<std::int64_t>() >=
                                  static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                              it->get<std::int64_t>() <=
                                  static_cast<std::int64_t>(std::numeric_limits<T>::max());
  if (!fits) fail(key, it->dump() + " is out of range");
  return it->is_number_unsigned() ? static_cast<T>(it->get<std::uint64_t>())
                                  : static_cast<T>(it->get<std::int64_t>());
}

std::string text(const Json& j, const char* key, bool required = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) fail(key, "missing");
    return {};
  }
  if (!it->is_string()) fail(key, std::string("expected a string, got ") + it->type_name());
  return it->get<std::string>();
}

const Json& list(const Json& j, const char* key) {
  static const Json kEmpty = Json::array();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kEmpty;
  if (!it->is_array()) fail(key, std::string("expected a list, got ") + it->type_name());
  return *it;
}

std::vector<std::string> strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  for (const auto& e : list(j, key)) {
    if (!e.is_string()) fail(key, "every element must be a string");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::vector<int> ints(const Json& j, const char* key) {
  std::vector<int> out;
  for (const auto& e : list(j, key)) {
    if (!e.is_number_integer() || e.get<std::int64_t>() < 0 || e.get<std::int64_t>() > INT32_MAX)
      fail(key, "every element must be a whole number from 0");
    out.push_back(e.get<int>());
  }
  return out;
}

RunningReport running_report(const Json& j) {
  need_object(j, "started");
  RunningReport m;
  m.job_id = number<std::int64_t>(j, "jobId");
  m.attempt = number<int>(j, "attempt");
  m.started_at = number<std::int64_t>(j, "at");
  return m;
}

ExitReport exit_report(const Json& j) {
  need_object(j, "exited");
  ExitReport m;
  m.job_id = number<std::int64_t>(j, "jobId");
  m.attempt = number<int>(j, "attempt");
  m.at = number<std::int64_t>(j, "at");
  if (j.contains("exitCode") && !j["exitCode"].is_null()) m.exit_code = number<int>(j, "exitCode");
  m.signal = number<int>(j, "signal", 0);
  m.reason = text(j, "reason");
  m.checkpoint_at = number<std::int64_t>(j, "checkpointAt", 0);
  return m;
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
            {"timeoutSeconds", m.timeout_seconds},
            {"appendOutput", m.append_output}};
  if (m.environment_base) j["environmentBase"] = m.environment_base;
  if (m.has_base_environment) j["baseEnvironment"] = to_env_json(m.base_environment);
  if (m.num_nodes > 1) {
    j["nodeIndex"] = m.node_index;
    j["numNodes"] = m.num_nodes;
    if (!m.hostfile.empty()) j["hostfile"] = m.hostfile;
  }
  if (!m.rankfile.empty()) j["rankfile"] = m.rankfile;
  if (!m.script.empty()) j["script"] = m.script;
  if (m.checkpoint_signal) {
    j["checkpointSignal"] = m.checkpoint_signal;
    j["checkpointSeconds"] = m.checkpoint_seconds;
    j["checkpointBatchOnly"] = m.checkpoint_batch_only;
  }
  if (!m.checkpoint_dir.empty()) j["checkpointDirectory"] = m.checkpoint_dir;
  return j;
}

namespace {

// A JSON string as dump() writes it. Plain ASCII is escaped here; a string with
// other bytes goes through nlohmann itself, whose UTF-8 checks and replacement
// of invalid bytes it must match exactly.
void append_string(std::string& out, const std::string& s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) {
      out += dump(Json(s));
      return;
    }
  out += '"';
  std::size_t plain = 0;  // start of the run not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s, plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        static const char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      }
    }
  }
  out.append(s, plain, s.size() - plain);
  out += '"';
}

template <typename T>
void append_ints(std::string& out, const std::vector<T>& v) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += ']';
}

void append_key(std::string& out, const char* key) {
  out += out.size() > 1 ? ",\"" : "\"";
  out += key;
  out += "\":";
}

// [{"name":...,"value":...},...], as to_env_json dumps.
void append_env(std::string& out, const KeyValues& env) {
  out += '[';
  for (std::size_t i = 0; i < env.size(); ++i) {
    out += i ? ",{\"name\":" : "{\"name\":";
    append_string(out, env[i].first);
    out += ",\"value\":";
    append_string(out, env[i].second);
    out += '}';
  }
  out += ']';
}

}  // namespace

std::string dump_launch_order(const LaunchOrder& m) {
  std::size_t size = 512 + m.script.size() + m.hostfile.size() + m.rankfile.size();
  for (const auto& [k, v] : m.environment) size += k.size() + v.size() + 24;
  for (const auto& [k, v] : m.base_environment) size += k.size() + v.size() + 24;
  std::string out;
  out.reserve(size);
  out += '{';
  // Keys in the order dump() writes an object's: sorted.
  append_key(out, "appendOutput");
  out += m.append_output ? "true" : "false";
  append_key(out, "argv");
  out += '[';
  for (std::size_t i = 0; i < m.argv.size(); ++i) {
    if (i) out += ',';
    append_string(out, m.argv[i]);
  }
  out += ']';
  append_key(out, "attempt");
  out += std::to_string(m.attempt);
  if (m.has_base_environment) {
    append_key(out, "baseEnvironment");
    append_env(out, m.base_environment);
  }
  if (m.checkpoint_signal) {
    append_key(out, "checkpointBatchOnly");
    out += m.checkpoint_batch_only ? "true" : "false";
  }
  if (!m.checkpoint_dir.empty()) {
    append_key(out, "checkpointDirectory");
    append_string(out, m.checkpoint_dir);
  }
  if (m.checkpoint_signal) {
    append_key(out, "checkpointSeconds");
    out += std::to_string(m.checkpoint_seconds);
    append_key(out, "checkpointSignal");
    out += std::to_string(m.checkpoint_signal);
  }
  append_key(out, "cpus");
  append_ints(out, m.cpus);
  append_key(out, "environment");
  append_env(out, m.environment);
  if (m.environment_base) {
    append_key(out, "environmentBase");
    out += std::to_string(m.environment_base);
  }
  append_key(out, "gid");
  out += std::to_string(m.gid);
  append_key(out, "gpus");
  append_ints(out, m.gpus);
  if (m.num_nodes > 1 && !m.hostfile.empty()) {
    append_key(out, "hostfile");
    append_string(out, m.hostfile);
  }
  append_key(out, "jobId");
  out += std::to_string(m.job_id);
  append_key(out, "memoryMiB");
  out += std::to_string(m.memory_mib);
  if (m.num_nodes > 1) {
    append_key(out, "nodeIndex");
    out += std::to_string(m.node_index);
    append_key(out, "numNodes");
    out += std::to_string(m.num_nodes);
  }
  if (!m.rankfile.empty()) {
    append_key(out, "rankfile");
    append_string(out, m.rankfile);
  }
  if (!m.script.empty()) {
    append_key(out, "script");
    append_string(out, m.script);
  }
  append_key(out, "stderrPath");
  append_string(out, m.stderr_path);
  append_key(out, "stdoutPath");
  append_string(out, m.stdout_path);
  append_key(out, "timeoutSeconds");
  out += std::to_string(m.timeout_seconds);
  append_key(out, "type");
  out += "\"launch\"";
  append_key(out, "uid");
  out += std::to_string(m.uid);
  append_key(out, "user");
  append_string(out, m.user);
  append_key(out, "workingDirectory");
  append_string(out, m.working_dir);
  out += '}';
  return out;
}

Json to_json(const SignalOrder& m) {
  return {{"type", "signal"}, {"jobId", m.job_id}, {"attempt", m.attempt}, {"signal", m.signal},
          {"batchOnly", m.batch_only}};
}

Result<SignalOrder> signal_order_from_json(const Json& j) {
  return guard([&] {
    need_object(j, "signal");
    SignalOrder m;
    m.job_id = number<std::int64_t>(j, "jobId");
    m.attempt = number<int>(j, "attempt", 0);
    m.signal = number<int>(j, "signal");
    if (m.signal < 1 || m.signal > 64) fail("signal", std::to_string(m.signal) + " is not a signal number");
    if (auto it = j.find("batchOnly"); it != j.end() && it->is_boolean()) m.batch_only = it->get<bool>();
    return m;
  });
}

Json to_json(const ExitReport& m) {
  Json j = {{"type", "exited"}, {"jobId", m.job_id}, {"attempt", m.attempt}, {"at", m.at},
            {"signal", m.signal}, {"reason", m.reason}};
  if (m.exit_code) j["exitCode"] = *m.exit_code;
  if (m.checkpoint_at) j["checkpointAt"] = m.checkpoint_at;
  return j;
}

Json to_json(const RunningReport& m) {
  return {{"type", "started"}, {"jobId", m.job_id}, {"attempt", m.attempt}, {"at", m.started_at}};
}

Json to_json(const AgentHello& m) {
  Json running = Json::array(), exited = Json::array();
  for (const auto& r : m.running) running.push_back(to_json(r));
  for (const auto& e : m.exited) exited.push_back(to_json(e));
  Json j = {{"type", "hello"},          {"version", m.version},    {"nodeName", m.node_name},
            {"topology", to_json(m.topology)}, {"running", std::move(running)},
            {"exited", std::move(exited)}};
  if (!m.credential.empty()) j["credential"] = m.credential;
  if (!m.step_address.empty()) j["stepAddress"] = m.step_address;
  if (!m.features.empty()) j["features"] = m.features;
  return j;
}

std::string hello_payload(const std::string& node_name) { return "drover-agent-hello:" + node_name; }
std::string welcome_payload(const std::string& node_name) { return "drover-head-welcome:" + node_name; }

Result<LaunchOrder> launch_order_from_json(const Json& j) {
  return guard([&] {
    need_object(j, "launch");
    LaunchOrder m;
    m.job_id = number<std::int64_t>(j, "jobId");
    m.attempt = number<int>(j, "attempt");
    m.uid = number<std::uint32_t>(j, "uid");
    m.gid = number<std::uint32_t>(j, "gid");
    m.user = text(j, "user");
    m.argv = strings(j, "argv");
    m.script = text(j, "script");
    for (const auto& e : list(j, "environment")) {
      need_object(e, "environment");
      m.environment.emplace_back(text(e, "name", true), text(e, "value", true));
    }
    m.environment_base = number<std::int64_t>(j, "environmentBase", 0);
    if (j.contains("baseEnvironment")) {
      m.has_base_environment = true;
      for (const auto& e : list(j, "baseEnvironment")) {
        need_object(e, "baseEnvironment");
        m.base_environment.emplace_back(text(e, "name", true), text(e, "value", true));
      }
    }
    m.working_dir = text(j, "workingDirectory", true);
    m.stdout_path = text(j, "stdoutPath", true);
    m.stderr_path = text(j, "stderrPath");
    m.cpus = ints(j, "cpus");
    m.gpus = ints(j, "gpus");
    m.memory_mib = number<std::int64_t>(j, "memoryMiB", 0);
    m.timeout_seconds = number<std::int64_t>(j, "timeoutSeconds", 0);
    if (auto it = j.find("appendOutput"); it != j.end() && it->is_boolean()) m.append_output = it->get<bool>();
    m.num_nodes = number<int>(j, "numNodes", 1);
    m.node_index = number<int>(j, "nodeIndex", 0);
    if (m.num_nodes < 1 || m.node_index < 0 || m.node_index >= m.num_nodes)
      fail("nodeIndex", std::to_string(m.node_index) + " is not a node of " + std::to_string(m.num_nodes));
    m.hostfile = text(j, "hostfile");
    m.rankfile = text(j, "rankfile");
    m.checkpoint_signal = number<int>(j, "checkpointSignal", 0);
    if (m.checkpoint_signal < 0 || m.checkpoint_signal > 64)
      fail("checkpointSignal", std::to_string(m.checkpoint_signal) + " is not a signal number");
    m.checkpoint_seconds = number<int>(j, "checkpointSeconds", 0);
    if (auto it = j.find("checkpointBatchOnly"); it != j.end() && it->is_boolean())
      m.checkpoint_batch_only = it->get<bool>();
    m.checkpoint_dir = text(j, "checkpointDirectory");
    return m;
  });
}

namespace {

// SAX events of one launch frame into a LaunchOrder. Returning false stops the
// parse: the frame is left to the general path.
class LaunchFrameReader : public nlohmann::json_sax<Json> {
 public:
  enum class Field { None, JobId, Attempt, Uid, Gid, User, Argv, Script, Environment, WorkingDir, StdoutPath,
                     StderrPath, Cpus, Gpus, MemoryMib, TimeoutSeconds, AppendOutput, NumNodes, NodeIndex,
                     Hostfile, Rankfile, CheckpointSignal, CheckpointSeconds, CheckpointBatchOnly, CheckpointDir,
                     Type, EnvironmentBase, BaseEnvironment, Count };
  static_assert(static_cast<unsigned>(Field::Count) <= 32, "seen holds a bit per field");
  LaunchOrder order;
  bool typed = false;  // "type" was "launch"
  std::uint32_t seen = 0;

  bool has(Field f) const { return seen & (1u << static_cast<unsigned>(f)); }

  bool null() override { return false; }
  bool boolean(bool v) override {
    if (depth_ != 1) return false;
    if (field_ == Field::AppendOutput) order.append_output = v;
    else if (field_ == Field::CheckpointBatchOnly) order.checkpoint_batch_only = v;
    else return false;
    return true;
  }
  bool number_integer(std::int64_t v) override { return whole(v < 0, static_cast<std::uint64_t>(v), v); }
  bool number_unsigned(std::uint64_t v) override { return whole(false, v, 0); }
  bool number_float(double, const std::string&) override { return false; }
  bool binary(binary_t&) override { return false; }
  bool string(std::string& v) override {
    if (depth_ == 1) {
      switch (field_) {
        case Field::User: order.user = std::move(v); return true;
        case Field::Script: order.script = std::move(v); return true;
        case Field::WorkingDir: order.working_dir = std::move(v); return true;
        case Field::StdoutPath: order.stdout_path = std::move(v); return true;
        case Field::StderrPath: order.stderr_path = std::move(v); return true;
        case Field::Hostfile: order.hostfile = std::move(v); return true;
        case Field::Rankfile: order.rankfile = std::move(v); return true;
        case Field::CheckpointDir: order.checkpoint_dir = std::move(v); return true;
        case Field::Type: typed = v == "launch"; return typed;
        default: return false;
      }
    }
    if (depth_ == 2 && in_array_ && field_ == Field::Argv) {
      order.argv.push_back(std::move(v));
      return true;
    }
    if (depth_ == 3 && env_field()) {
      if (env_key_ == 1 && !has_name_) {
        env().back().first = std::move(v);
        has_name_ = true;
      } else if (env_key_ == 2 && !has_value_) {
        env().back().second = std::move(v);
        has_value_ = true;
      } else {
        return false;
      }
      env_key_ = 0;
      return true;
    }
    return false;
  }
  bool start_object(std::size_t) override {
    if (depth_ == 0) return ++depth_ == 1;
    if (depth_ == 2 && in_array_ && env_field()) {
      ++depth_;
      env().emplace_back();
      has_name_ = has_value_ = false;
      env_key_ = 0;
      return true;
    }
    return false;
  }
  bool end_object() override {
    if (depth_ == 3) {
      --depth_;
      return has_name_ && has_value_;
    }
    if (depth_ == 1) {
      --depth_;
      return true;
    }
    return false;
  }
  bool start_array(std::size_t) override {
    if (depth_ != 1 || (field_ != Field::Argv && !env_field() && field_ != Field::Cpus && field_ != Field::Gpus))
      return false;
    if (field_ == Field::BaseEnvironment) order.has_base_environment = true;
    ++depth_;
    in_array_ = true;
    return true;
  }
  bool end_array() override {
    if (depth_ != 2 || !in_array_) return false;
    --depth_;
    in_array_ = false;
    return true;
  }
  bool key(std::string& k) override {
    if (depth_ == 3) {
      if (k == "name") env_key_ = 1;
      else if (k == "value") env_key_ = 2;
      else return false;
      return true;
    }
    if (depth_ != 1) return false;
    field_ = field_of(k);
    if (field_ == Field::None || has(field_)) return false;
    seen |= 1u << static_cast<unsigned>(field_);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  static Field field_of(const std::string& k) {
    static const std::pair<const char*, Field> kFields[] = {
        {"jobId", Field::JobId}, {"attempt", Field::Attempt}, {"uid", Field::Uid}, {"gid", Field::Gid},
        {"user", Field::User}, {"argv", Field::Argv}, {"script", Field::Script},
        {"environment", Field::Environment}, {"workingDirectory", Field::WorkingDir},
        {"stdoutPath", Field::StdoutPath}, {"stderrPath", Field::StderrPath}, {"cpus", Field::Cpus},
        {"gpus", Field::Gpus}, {"memoryMiB", Field::MemoryMib}, {"timeoutSeconds", Field::TimeoutSeconds},
        {"appendOutput", Field::AppendOutput}, {"numNodes", Field::NumNodes}, {"nodeIndex", Field::NodeIndex},
        {"hostfile", Field::Hostfile}, {"rankfile", Field::Rankfile},
        {"checkpointSignal", Field::CheckpointSignal}, {"checkpointSeconds", Field::CheckpointSeconds},
        {"checkpointBatchOnly", Field::CheckpointBatchOnly}, {"checkpointDirectory", Field::CheckpointDir},
        {"type", Field::Type}, {"environmentBase", Field::EnvironmentBase},
        {"baseEnvironment", Field::BaseEnvironment}};
    for (const auto& [name, field] : kFields)
      if (k == name) return field;
    return Field::None;
  }
  // A whole number: negative holds its value in s, else u.
  bool whole(bool negative, std::uint64_t u, std::int64_t s) {
    auto fits = [&](std::int64_t lo, std::int64_t hi) {
      return negative ? s >= lo && s <= hi : u <= static_cast<std::uint64_t>(hi);
    };
    const std::int64_t v = negative ? s : static_cast<std::int64_t>(u);
    if (depth_ == 2 && in_array_ && (field_ == Field::Cpus || field_ == Field::Gpus)) {
      if (!fits(0, INT32_MAX)) return false;
      (field_ == Field::Cpus ? order.cpus : order.gpus).push_back(static_cast<int>(v));
      return true;
    }
    if (depth_ != 1) return false;
    constexpr std::int64_t kIntMin = std::numeric_limits<int>::min(), kIntMax = std::numeric_limits<int>::max();
    constexpr std::int64_t kI64Min = std::numeric_limits<std::int64_t>::min(),
                           kI64Max = std::numeric_limits<std::int64_t>::max();
    switch (field_) {
      case Field::JobId: return fits(kI64Min, kI64Max) && (order.job_id = v, true);
      case Field::EnvironmentBase: return fits(kI64Min, kI64Max) && (order.environment_base = v, true);
      case Field::Attempt: return fits(kIntMin, kIntMax) && (order.attempt = static_cast<int>(v), true);
      case Field::Uid: return fits(0, UINT32_MAX) && (order.uid = static_cast<std::uint32_t>(v), true);
      case Field::Gid: return fits(0, UINT32_MAX) && (order.gid = static_cast<std::uint32_t>(v), true);
      case Field::MemoryMib: return fits(kI64Min, kI64Max) && (order.memory_mib = v, true);
      case Field::TimeoutSeconds: return fits(kI64Min, kI64Max) && (order.timeout_seconds = v, true);
      case Field::NumNodes: return fits(kIntMin, kIntMax) && (order.num_nodes = static_cast<int>(v), true);
      case Field::NodeIndex: return fits(kIntMin, kIntMax) && (order.node_index = static_cast<int>(v), true);
      case Field::CheckpointSignal:
        return fits(kIntMin, kIntMax) && (order.checkpoint_signal = static_cast<int>(v), true);
      case Field::CheckpointSeconds:
        return fits(kIntMin, kIntMax) && (order.checkpoint_seconds = static_cast<int>(v), true);
      default: return false;
    }
  }

  bool env_field() const { return field_ == Field::Environment || field_ == Field::BaseEnvironment; }
  KeyValues& env() { return field_ == Field::Environment ? order.environment : order.base_environment; }

  int depth_ = 0;
  bool in_array_ = false;
  Field field_ = Field::None;
  int env_key_ = 0;  // in an environment entry: 1 "name", 2 "value" comes next
  bool has_name_ = false, has_value_ = false;
};

}  // namespace

std::optional<LaunchOrder> read_launch_frame(const std::string& frame) {
  using Field = LaunchFrameReader::Field;
  LaunchFrameReader reader;
  bool ok = false;
  try {
    ok = Json::sax_parse(frame, &reader, nlohmann::detail::input_format_t::json, true);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const LaunchOrder& m = reader.order;
  if (!ok || !reader.typed) return std::nullopt;
  for (Field f : {Field::JobId, Field::Attempt, Field::Uid, Field::Gid, Field::WorkingDir, Field::StdoutPath})
    if (!reader.has(f)) return std::nullopt;
  // The checks launch_order_from_json makes beyond a field's type.
  if (m.num_nodes < 1 || m.node_index < 0 || m.node_index >= m.num_nodes) return std::nullopt;
  if (m.checkpoint_signal < 0 || m.checkpoint_signal > 64) return std::nullopt;
  return std::move(reader.order);
}

Result<ExitReport> exit_report_from_json(const Json& j) {
  return guard([&] { return exit_report(j); });
}

Result<RunningReport> running_report_from_json(const Json& j) {
  return guard([&] { return running_report(j); });
}

Result<AgentHello> agent_hello_from_json(const Json& j) {
  return guard([&]() -> AgentHello {
    need_object(j, "hello");
    AgentHello m;
    m.version = number<int>(j, "version");
    m.node_name = text(j, "nodeName", true);
    m.credential = text(j, "credential");
    m.step_address = text(j, "stepAddress");
    auto topo = topology_from_json(j.contains("topology") ? j["topology"] : Json::object());
    if (!topo) throw std::runtime_error(topo.message());
    m.topology = std::move(*topo);
    auto features = parse_features(join_features(strings(j, "features")));
    if (!features) fail("features", features.message());
    m.features = std::move(*features);
    const Json& running = list(j, "running");
    for (std::size_t i = 0; i < running.size(); ++i) {
      try {
        m.running.push_back(running_report(running[i]));
      } catch (const std::exception& e) {
        fail("running[" + std::to_string(i) + "]", e.what());
      }
    }
    const Json& exited = list(j, "exited");
    for (std::size_t i = 0; i < exited.size(); ++i) {
      try {
        m.exited.push_back(exit_report(exited[i]));
      } catch (const std::exception& e) {
        fail("exited[" + std::to_string(i) + "]", e.what());
      }
    }
    return m;
  });
}

}  // namespace drover::proto
