#include "crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define DROVER_CRC32C_X86 1
#endif

namespace drover::checkpoint::detail {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;  // Castagnoli, bit-reflected

// Slicing-by-8 tables: t[k][b] advances byte b through k further zero bytes.
struct Tables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (std::uint32_t b = 0; b < 256; ++b) {
      std::uint32_t c = b;
      for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? kPolynomial : 0u);
      t[0][b] = c;
    }
    for (std::uint32_t b = 0; b < 256; ++b)
      for (int k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  }
};
constexpr Tables kTables;

// a * b modulo the polynomial, in the reflected bit order (Mark Adler's multmodp).
constexpr std::uint32_t multiply_mod_p(std::uint32_t a, std::uint32_t b) {
  std::uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1u) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return p;
}

// x^(2^k) modulo the polynomial, k = 0..31.
struct PowerTable {
  std::array<std::uint32_t, 32> x2n{};
  constexpr PowerTable() {
    std::uint32_t p = 1u << 30;  // x^1
    x2n[0] = p;
    for (int k = 1; k < 32; ++k) x2n[k] = p = multiply_mod_p(p, p);
  }
};
constexpr PowerTable kPowers;

// x^(8 * bytes) modulo the polynomial: multiplying a CRC register by it is the same as
// feeding it `bytes` zero bytes.
constexpr std::uint32_t zeros_operator(std::uint64_t bytes) {
  std::uint32_t p = 1u << 31;  // x^0
  unsigned k = 3;              // 8 = 2^3 bits per byte
  while (bytes) {
    if (bytes & 1u) p = multiply_mod_p(kPowers.x2n[k & 31], p);
    bytes >>= 1;
    ++k;
  }
  return p;
}

// The CRC "register" functions below take and return the raw register (no inversions).
std::uint32_t extend_table(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  const auto& t = kTables.t;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);  // little-endian hosts (x86-64, little-endian arm64)
    word ^= crc;
    crc = t[7][word & 0xFF] ^ t[6][(word >> 8) & 0xFF] ^ t[5][(word >> 16) & 0xFF] ^
          t[4][(word >> 24) & 0xFF] ^ t[3][(word >> 32) & 0xFF] ^ t[2][(word >> 40) & 0xFF] ^
          t[1][(word >> 48) & 0xFF] ^ t[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#ifdef DROVER_CRC32C_X86
// Three independent streams hide the crc32 instruction's latency (3 cycles, 1 per cycle
// throughput). A register r followed by block B equals shift(r, |B|) ^ crc(0, B), so the
// streams are joined with two multiplications per 24 KiB.
constexpr std::size_t kBlock = 8192;
constexpr std::uint32_t kShiftBlock = zeros_operator(kBlock);

__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc,
                                                               const unsigned char* p,
                                                               std::size_t n) {
  std::uint64_t c0 = crc;
  while (n >= 3 * kBlock) {
    std::uint64_t c1 = 0, c2 = 0;
    for (std::size_t i = 0; i < kBlock; i += 8) {
      std::uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p + kBlock + i, 8);
      std::memcpy(&w2, p + 2 * kBlock + i, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    std::uint32_t r = multiply_mod_p(kShiftBlock, static_cast<std::uint32_t>(c0)) ^
                      static_cast<std::uint32_t>(c1);
    r = multiply_mod_p(kShiftBlock, r) ^ static_cast<std::uint32_t>(c2);
    c0 = r;
    p += 3 * kBlock;
    n -= 3 * kBlock;
  }
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c0 = _mm_crc32_u64(c0, w);
    p += 8;
    n -= 8;
  }
  auto c = static_cast<std::uint32_t>(c0);
  while (n--) c = _mm_crc32_u8(c, *p++);
  return c;
}

bool has_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t r = ~crc;
#ifdef DROVER_CRC32C_X86
  if (has_sse42()) return ~extend_sse42(r, p, size);
#endif
  return ~extend_table(r, p, size);
}

std::uint32_t crc32c_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t size_b) {
  return multiply_mod_p(zeros_operator(size_b), crc_a) ^ crc_b;
}

namespace testing {  // NOLINT
// Exposed for the unit test, to compare the hardware and table paths.
std::uint32_t crc32c_table_only(const void* data, std::size_t size) {
  return ~extend_table(~0u, static_cast<const unsigned char*>(data), size);
}
}  // namespace testing

}  // namespace drover::checkpoint::detail
