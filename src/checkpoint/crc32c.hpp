// CRC32C (Castagnoli, the checksum iSCSI, ext4 and Btrfs use): the manifest's checksum of each
// file. Hardware instructions (SSE4.2) when the CPU has them, a table otherwise; combine()
// joins the CRCs of adjacent byte ranges, so ranks can checksum their parts of one file.
#pragma once

#include <cstddef>
#include <cstdint>

namespace drover::checkpoint::detail {

// Continues `crc` (0 for a fresh start) over `size` bytes.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t crc32c(const void* data, std::size_t size) { return crc32c_extend(0, data, size); }

// The CRC of A followed by B, from crc(A), crc(B) and the length of B (zlib's crc32_combine,
// for the Castagnoli polynomial).
std::uint32_t crc32c_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t size_b);

}  // namespace drover::checkpoint::detail

namespace drover::checkpoint::detail::testing {
std::uint32_t crc32c_table_only(const void* data, std::size_t size);
}
