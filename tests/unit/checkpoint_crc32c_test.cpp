// CRC32C: known values, the hardware and table paths agree, and combining the CRCs of the
// parts of a file (one per rank) gives the CRC of the whole.
#include "checkpoint/crc32c.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "checkpoint_support.hpp"

namespace drover::checkpoint::detail {
namespace {

TEST(CheckpointCrc32c, KnownValues) {
  EXPECT_EQ(crc32c("", 0), 0u);
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);  // the standard check value
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  const std::string ones(32, '\xff');
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(CheckpointCrc32c, EveryPathAgreesWithTheReference) {
  std::mt19937 rng(7);
  std::string data(200'000, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  // Sizes around the 3 x 8 KiB blocks of the hardware path, at odd offsets.
  for (std::size_t size : {0ul, 1ul, 7ul, 8ul, 9ul, 24575ul, 24576ul, 24577ul, 49152ul + 13, 199'000ul}) {
    for (std::size_t offset : {0ul, 1ul, 3ul}) {
      const std::string part = data.substr(offset, size);
      const std::uint32_t want = checkpoint::testing::reference_crc32c(part);
      EXPECT_EQ(crc32c(part.data(), part.size()), want) << size << "@" << offset;
      EXPECT_EQ(detail::testing::crc32c_table_only(part.data(), part.size()), want) << size << "@" << offset;
    }
  }
}

TEST(CheckpointCrc32c, ExtendAndCombineEqualTheWhole) {
  std::mt19937 rng(11);
  std::string data(100'003, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  const std::uint32_t whole = crc32c(data.data(), data.size());
  for (int ranks : {1, 2, 3, 7}) {
    std::uint32_t joined = 0;
    for (int r = 0; r < ranks; ++r) {
      const std::size_t lo = data.size() * r / ranks, hi = data.size() * (r + 1) / ranks;
      const std::uint32_t part = crc32c(data.data() + lo, hi - lo);
      joined = r == 0 ? part : crc32c_combine(joined, part, hi - lo);
    }
    EXPECT_EQ(joined, whole) << ranks << " parts";
  }
  const std::uint32_t first = crc32c(data.data(), 5000);
  EXPECT_EQ(crc32c_extend(first, data.data() + 5000, data.size() - 5000), whole);
  EXPECT_EQ(crc32c_combine(whole, 0, 0), whole);  // an empty part changes nothing
}

}  // namespace
}  // namespace drover::checkpoint::detail
