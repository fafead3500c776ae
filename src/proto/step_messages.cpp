#include "proto/step_messages.hpp"

#include <array>
#include <limits>
#include <stdexcept>

namespace drover::proto {

namespace {

// Field readers that throw inside this file only; guard() turns that into an Error.
[[noreturn]] void fail(const std::string& field, const std::string& why) {
  throw std::runtime_error(field + ": " + why);
}

template <class F>
auto guard(const char* what, F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const std::exception& e) {
    return Error{std::string("malformed ") + what + ": " + e.what()};
  }
}

Json parse_object(std::string_view frame, const char* what) {
  Json j = Json::parse(frame.begin(), frame.end(), nullptr, false);
  if (j.is_discarded()) fail(what, "not JSON");
  if (!j.is_object()) fail(what, std::string("expected an object, got ") + j.type_name());
  return j;
}

std::int64_t whole(const Json& j, const char* key, std::int64_t lo, std::int64_t hi,
                   std::optional<std::int64_t> def = std::nullopt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!def) fail(key, "missing");
    return *def;
  }
  if (!it->is_number_integer()) fail(key, std::string("expected a whole number, got ") + it->type_name());
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    fail(key, it->dump() + " is out of range");
  const std::int64_t v = it->get<std::int64_t>();
  if (v < lo || v > hi) fail(key, it->dump() + " is out of range");
  return v;
}

// Strings that end up in argv, the environment or paths: a NUL would cut them short.
std::string text(const Json& j, const char* key, bool required, std::size_t max = kMaxStepFrame) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) fail(key, "missing");
    return {};
  }
  if (!it->is_string()) fail(key, std::string("expected a string, got ") + it->type_name());
  std::string s = it->get<std::string>();
  if (s.size() > max) fail(key, "longer than " + std::to_string(max) + " bytes");
  if (s.find('\0') != std::string::npos) fail(key, "contains a NUL character");
  return s;
}

const Json& list(const Json& j, const char* key) {
  static const Json kEmpty = Json::array();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return kEmpty;
  if (!it->is_array()) fail(key, std::string("expected a list, got ") + it->type_name());
  if (it->size() > kMaxStepWords) fail(key, "more than " + std::to_string(kMaxStepWords) + " entries");
  return *it;
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  static const std::array<int, 256> kValue = [] {
    std::array<int, 256> v{};
    v.fill(-1);
    for (int i = 0; i < 64; ++i) v[static_cast<unsigned char>(kAlphabet[i])] = i;
    return v;
  }();
  if (text.size() % 4 != 0) return make_error("bad base64", "length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    unsigned v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = kValue[static_cast<unsigned char>(c)];
      if (d < 0 || pad > 0) return make_error("bad base64", "unexpected character at " + std::to_string(i + k));
      v = (v << 6) | static_cast<unsigned>(d);
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

std::string step_credential_payload(std::int64_t job_id, const std::string& node) {
  return dump(Json{{"purpose", kStepCredentialPurpose}, {"job", job_id}, {"node", node}});
}

Result<StepClaim> step_claim_from_payload(std::string_view payload) {
  return guard("step credential", [&] {
    const Json j = parse_object(payload, "payload");
    if (text(j, "purpose", true) != kStepCredentialPurpose)
      fail("purpose", "the credential was made for something else, not for starting a step");
    StepClaim c;
    c.job_id = whole(j, "job", 1, std::numeric_limits<std::int64_t>::max());
    c.node = text(j, "node", true, 1024);
    return c;
  });
}

Json to_json(const StepLaunch& m) {
  return {{"type", "step_launch"},      {"version", m.version}, {"credential", m.credential},
          {"jobId", m.job_id},          {"node", m.node},       {"argv", m.argv},
          {"cwd", m.cwd},               {"environment", to_env_json(m.environment)}};
}

Json to_json(const StepAccepted& m) { return {{"type", "step_accepted"}, {"stepId", m.step_id}}; }

Json to_json(const StepRefused& m) { return {{"type", "step_refused"}, {"reason", m.reason}}; }

Json to_json(const StepOutput& m) {
  return {{"type", "step_output"},
          {"stream", m.stream == StepStream::Stdout ? "stdout" : "stderr"},
          {"data", base64_encode(m.data)}};
}

Json to_json(const StepExit& m) {
  Json j = {{"type", "step_exit"}, {"signal", m.signal}};
  if (m.exit_code) j["exitCode"] = *m.exit_code;
  if (!m.reason.empty()) j["reason"] = m.reason;
  return j;
}

Result<StepLaunch> step_launch_from_frame(std::string_view frame) {
  return guard("step request", [&] {
    const Json j = parse_object(frame, "request");
    if (text(j, "type", true) != "step_launch") fail("type", "expected step_launch");
    StepLaunch m;
    m.version = static_cast<int>(whole(j, "version", 0, std::numeric_limits<int>::max()));
    m.credential = text(j, "credential", true, kMaxCredential);
    m.job_id = whole(j, "jobId", 1, std::numeric_limits<std::int64_t>::max());
    m.node = text(j, "node", true, 1024);
    for (const auto& a : list(j, "argv")) {
      if (!a.is_string()) fail("argv", "every element must be a string");
      m.argv.push_back(a.get<std::string>());
      if (m.argv.back().find('\0') != std::string::npos) fail("argv", "contains a NUL character");
    }
    if (m.argv.empty()) fail("argv", "no command given");
    m.cwd = text(j, "cwd", false, 4096);
    for (const auto& e : list(j, "environment")) {
      if (!e.is_object()) fail("environment", "every element must be {name, value}");
      std::string name = text(e, "name", true), value = text(e, "value", true);
      if (name.empty() || name.find('=') != std::string::npos)
        fail("environment", "bad variable name '" + name + "'");
      m.environment.emplace_back(std::move(name), std::move(value));
    }
    return m;
  });
}

Result<StepReply> step_reply_from_frame(std::string_view frame) {
  return guard("step reply", [&]() -> StepReply {
    const Json j = parse_object(frame, "reply");
    if (j.contains("ok") && j["ok"].is_boolean() && !j["ok"].get<bool>())
      return StepRefused{text(j, "error", false)};
    const std::string type = text(j, "type", true);
    if (type == "step_accepted") return StepAccepted{text(j, "stepId", false, 256)};
    if (type == "step_refused") return StepRefused{text(j, "reason", false)};
    if (type == "step_output") {
      StepOutput o;
      const std::string stream = text(j, "stream", true);
      if (stream == "stdout")
        o.stream = StepStream::Stdout;
      else if (stream == "stderr")
        o.stream = StepStream::Stderr;
      else
        fail("stream", "expected stdout or stderr, got '" + stream + "'");
      auto data = base64_decode(text(j, "data", true));
      if (!data) fail("data", data.message());
      if (data->size() > kMaxStepOutputChunk)
        fail("data", "chunk larger than " + std::to_string(kMaxStepOutputChunk) + " bytes");
      o.data = std::move(*data);
      return o;
    }
    if (type == "step_exit") {
      StepExit e;
      if (j.contains("exitCode") && !j["exitCode"].is_null())
        e.exit_code = static_cast<int>(whole(j, "exitCode", 0, 255));
      e.signal = static_cast<int>(whole(j, "signal", 0, 127, 0));
      if (!e.exit_code && e.signal == 0) fail("step_exit", "neither exitCode nor signal");
      e.reason = text(j, "reason", false, 4096);
      return e;
    }
    fail("type", "unknown reply '" + type + "'");
  });
}

}  // namespace drover::proto
