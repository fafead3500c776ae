#include "proto/frame.hpp"

namespace drover::proto {

std::string encode_frame(std::string_view payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string out;
  out.reserve(4 + payload.size());
  out += static_cast<char>((n >> 24) & 0xff);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out.append(payload);
  return out;
}

Result<std::optional<std::string>> FrameDecoder::next() {
  if (buf_.size() - pos_ < 4) return std::optional<std::string>{};
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  const std::size_t n = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                        (std::size_t{p[2]} << 8) | std::size_t{p[3]};
  if (n > max_)
    return make_error("message too large", std::to_string(n) + " bytes, limit " +
                                               std::to_string(max_));
  if (buf_.size() - pos_ < 4 + n) return std::optional<std::string>{};
  std::string frame = buf_.substr(pos_ + 4, n);
  pos_ += 4 + n;
  // Compact once the consumed prefix dominates, keeping appends amortised O(1).
  if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return std::optional<std::string>{std::move(frame)};
}

}  // namespace drover::proto
