// manifest.json: what a committed checkpoint holds, and the sizes and CRC32C checksums that
// prove it is whole. Its names are fixed (docs/CHECKPOINT.md); `drover show` reads them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drover/checkpoint.hpp"

namespace drover::checkpoint::detail {

inline constexpr const char* kFormat = "drover-checkpoint";
inline constexpr int kFormatVersion = 1;
inline constexpr const char* kDataFile = "data.h5";
inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kCommittedPrefix = "ckpt-";
inline constexpr const char* kTemporaryPrefix = ".tmp-ckpt-";
inline constexpr std::int64_t kMaxStep = 999'999'999'999;  // 12 digits

struct ManifestFile {
  std::string name;
  std::uint64_t bytes = 0;
  std::uint32_t crc32c = 0;
};

struct Manifest {
  std::int64_t step = 0;
  double time = 0;
  std::int64_t created_at_ms = 0;
  int ranks = 1;
  std::uint64_t bytes = 0;
  std::vector<ManifestFile> files;
  std::vector<DatasetEntry> datasets;
};

std::string to_json(const Manifest& m);
// Checks everything a restart relies on: format, version, types, names.
Result<Manifest> parse_manifest(std::string_view text);

// "ckpt-000000000042" for 42.
std::string committed_name(std::int64_t step);
// The step of a committed checkpoint's directory name; -1 if the name is not one.
std::int64_t step_of(std::string_view name);

Result<DataType> parse_type(std::string_view name);
// "[512,512]"
std::string shape_text(std::span<const std::uint64_t> shape);

}  // namespace drover::checkpoint::detail
