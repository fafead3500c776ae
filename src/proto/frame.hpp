// Wire framing shared by the local API and the agent protocol: each message is
// a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. The
// same bytes travel over a Unix socket or TCP unchanged (docs/PROTOCOL.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace drover::proto {

inline constexpr std::size_t kDefaultMaxFrame = 16u << 20;  // 16 MiB

std::string encode_frame(std::string_view payload);

// Accumulates bytes from a stream and cuts them into frames. A frame longer
// than the limit poisons the decoder: the connection must be closed after the
// error is reported, because the stream cannot be resynchronised.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame = kDefaultMaxFrame) : max_(max_frame) {}
  void feed(const char* data, std::size_t n) { buf_.append(data, n); }
  // A complete frame, nothing yet (nullopt), or an error (oversized frame).
  Result<std::optional<std::string>> next();
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  std::size_t max_;
};

}  // namespace drover::proto
