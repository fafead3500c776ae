// Thin wrappers over the system calls a commit needs, retrying on EINTR (a checkpoint signal
// may arrive at any time) and returning errors as values: "<what failed>: <strerror>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "drover/checkpoint.hpp"

namespace drover::checkpoint::detail {

// mkdir -p; fine if it exists as a directory.
Status make_directories(const std::string& path);
// mkdir, failing if it exists.
Status make_directory(const std::string& path);
// Creates `path` (which must not exist) with `content`, and fsyncs it.
Status write_file_durably(const std::string& path, const std::string& content);
// The whole file, if it is at most `limit` bytes.
Result<std::string> read_small_file(const std::string& path, std::size_t limit);
Result<std::uint64_t> file_size(const std::string& path);
// fsync of a file or directory.
Status sync_path(const std::string& path);
// CRC32C of bytes [offset, offset + length) of a file (see crc32c.hpp for combining parts).
Result<std::uint32_t> checksum_range(const std::string& path, std::uint64_t offset, std::uint64_t length);
// fsync of the file and, at the same time (another thread), the CRC32C of bytes
// [offset, offset + length): the checksum hides behind the flush.
Result<std::uint32_t> sync_and_checksum(const std::string& path, std::uint64_t offset, std::uint64_t length);
// Entry names of a directory (not "." or "..").
Result<std::vector<std::string>> list_directory(const std::string& path);
bool is_directory(const std::string& path);
// rm -rf.
Status remove_tree(const std::string& path);
// Puts directory `from` at `to`. If `to` exists it is replaced: atomically swapped where the
// file system can (renameat2 RENAME_EXCHANGE), else moved aside first; the old one is
// removed afterwards. `aside` is a free name in the same directory for that case.
Status rename_into_place(const std::string& from, const std::string& to, const std::string& aside);

// "host-pid-random": unique enough for temporary names of concurrent writers.
std::string unique_suffix();
// Milliseconds since the epoch.
std::int64_t now_ms();

}  // namespace drover::checkpoint::detail
