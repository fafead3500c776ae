#include "manifest.hpp"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "errors.hpp"

namespace drover::checkpoint::detail {

using Json = nlohmann::json;

std::string to_json(const Manifest& m) {
  // ordered_json keeps the documented key order, for people reading the file.
  using Ordered = nlohmann::ordered_json;
  Ordered files = Ordered::array();
  for (const auto& f : m.files) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", f.crc32c);
    files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"crc32c", hex}});
  }
  Ordered datasets = Ordered::array();
  for (const auto& d : m.datasets)
    datasets.push_back({{"name", d.name}, {"type", to_string(d.type)}, {"shape", d.shape}});
  Ordered j;
  j["format"] = kFormat;
  j["version"] = kFormatVersion;
  j["step"] = m.step;
  j["time"] = m.time;
  j["createdAt"] = m.created_at_ms;
  j["ranks"] = m.ranks;
  j["bytes"] = m.bytes;
  j["files"] = files;
  j["datasets"] = datasets;
  return j.dump(1) + "\n";
}

namespace {

Error bad(const std::string& why) { return make_error(ErrorCode::corrupt, "manifest.json", why); }

// The string at `key`, or "" when it is missing or not a string (value() would throw).
std::string text_at(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool is_uint(const Json& j) { return j.is_number_unsigned() || (j.is_number_integer() && j.get<std::int64_t>() >= 0); }

}  // namespace

Result<Manifest> parse_manifest(std::string_view text) {
  const Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("not a JSON object");
  if (text_at(j, "format") != kFormat) return bad("\"format\" is not \"drover-checkpoint\"");
  if (!j.contains("version") || !j["version"].is_number_integer()) return bad("no \"version\"");
  if (j["version"].get<std::int64_t>() != kFormatVersion)
    return bad("version " + std::to_string(j["version"].get<std::int64_t>()) + " is not supported (this library reads " +
               std::to_string(kFormatVersion) + ")");
  Manifest m;
  if (!j.contains("step") || !j["step"].is_number_integer()) return bad("no integer \"step\"");
  m.step = j["step"].get<std::int64_t>();
  if (!j.contains("time") || !j["time"].is_number()) return bad("no number \"time\"");
  m.time = j["time"].get<double>();
  if (j.contains("createdAt") && j["createdAt"].is_number_integer()) m.created_at_ms = j["createdAt"].get<std::int64_t>();
  if (!j.contains("ranks") || !j["ranks"].is_number_integer() || j["ranks"].get<std::int64_t>() < 1 || j["ranks"].get<std::int64_t>() > (1 << 30))
    return bad("no positive \"ranks\"");
  m.ranks = j["ranks"].get<int>();
  if (!j.contains("bytes") || !is_uint(j["bytes"])) return bad("no \"bytes\"");
  m.bytes = j["bytes"].get<std::uint64_t>();
  if (!j.contains("files") || !j["files"].is_array() || j["files"].empty()) return bad("no \"files\"");
  for (const auto& f : j["files"]) {
    if (!f.is_object()) return bad("a \"files\" entry is not an object");
    ManifestFile mf;
    mf.name = text_at(f, "name");
    if (mf.name.empty() || mf.name.find('/') != std::string::npos || mf.name[0] == '.')
      return bad("a file has no plain name");
    if (!f.contains("bytes") || !is_uint(f["bytes"])) return bad("file " + mf.name + " has no \"bytes\"");
    mf.bytes = f["bytes"].get<std::uint64_t>();
    const std::string hex = text_at(f, "crc32c");
    if (hex.size() != 8 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      return bad("file " + mf.name + " has no 8-digit hex \"crc32c\"");
    mf.crc32c = static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16));
    m.files.push_back(std::move(mf));
  }
  bool has_data = false;
  for (const auto& f : m.files) has_data |= f.name == kDataFile;
  if (!has_data) return bad("\"files\" does not list data.h5");
  if (j.contains("datasets")) {
    if (!j["datasets"].is_array()) return bad("\"datasets\" is not an array");
    for (const auto& d : j["datasets"]) {
      if (!d.is_object() || !d.contains("shape") || !d["shape"].is_array())
        return bad("a \"datasets\" entry has no \"shape\"");
      DatasetEntry e;
      e.name = text_at(d, "name");
      if (e.name.empty()) return bad("a dataset has no name");
      auto t = parse_type(text_at(d, "type"));
      if (!t) return bad("dataset '" + e.name + "': " + t.message());
      e.type = *t;
      for (const auto& n : d["shape"]) {
        if (!is_uint(n)) return bad("dataset '" + e.name + "' has a bad shape");
        e.shape.push_back(n.get<std::uint64_t>());
      }
      m.datasets.push_back(std::move(e));
    }
  }
  return m;
}

std::string committed_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%012lld", kCommittedPrefix, static_cast<long long>(step));
  return buf;
}

std::int64_t step_of(std::string_view name) {
  const std::string_view prefix = kCommittedPrefix;
  if (name.size() != prefix.size() + 12 || name.substr(0, prefix.size()) != prefix) return -1;
  std::int64_t step = 0;
  for (char c : name.substr(prefix.size())) {
    if (c < '0' || c > '9') return -1;
    step = step * 10 + (c - '0');
  }
  return step;
}

Result<DataType> parse_type(std::string_view name) {
  for (DataType t : {DataType::float64, DataType::float32, DataType::int32, DataType::int64, DataType::uint8})
    if (name == to_string(t)) return t;
  return make_error(ErrorCode::invalid_argument, "unknown type '" + std::string(name) + "'");
}

std::string shape_text(std::span<const std::uint64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace drover::checkpoint::detail
