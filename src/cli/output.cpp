#include "cli/output.hpp"

#include <chrono>
#include <ctime>
#include <iostream>

#include "script/array_spec.hpp"

namespace drover::cli {

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> w;
  for (const auto& r : rows_)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (const auto& r : rows_) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string format_time(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t t = ms / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int fail(const std::string& cmd, const std::string& message) {
  std::cerr << "drover " << cmd << ": " << message << "\n";
  return 1;
}

Result<ApiClient> connect(const std::string& socket) {
  return ApiClient::connect(socket.empty() ? default_socket_path() : socket);
}

std::string str(const proto::Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::int64_t num(const proto::Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

Result<proto::Json> job_ref_args(const std::string& text) {
  const auto open = text.find("_[");
  if (open == std::string::npos || text.back() != ']') return proto::Json{{"jobId", text}};
  auto spec = script::parse_array_spec(std::string_view(text).substr(open + 2, text.size() - open - 3));
  if (!spec) return make_error("job " + text, spec.message());
  if (spec->max_running) return make_error("job " + text, "a throttle (%) has no meaning here");
  proto::Json ranges = proto::Json::array();
  for (const auto& r : spec->ranges) ranges.push_back({r.first, r.last, r.step});
  return proto::Json{{"jobId", text.substr(0, open)}, {"arrayIndexes", std::move(ranges)}};
}

std::string decode_base64(const std::string& text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : text) {
    int v;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '+') v = 62;
    else if (ch == '/') v = 63;
    else continue;  // '=' padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace drover::cli
