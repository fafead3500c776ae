// Length-prefixed framing: frames cut from a byte stream however it arrives.
#include "proto/frame.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace drover::proto {
namespace {

std::vector<std::string> drain(FrameDecoder& d) {
  std::vector<std::string> out;
  while (true) {
    auto r = d.next();
    EXPECT_TRUE(r) << r.message();
    if (!r || !*r) break;
    out.push_back(std::move(**r));
  }
  return out;
}

TEST(Frame, EncodeIsBigEndianLengthThenPayload) {
  EXPECT_EQ(encode_frame(""), std::string("\0\0\0\0", 4));
  EXPECT_EQ(encode_frame("ab"), std::string("\0\0\0\2ab", 6));
  const std::string big(0x010203, 'x');
  const std::string f = encode_frame(big);
  EXPECT_EQ(f.substr(0, 4), std::string("\0\1\2\3", 4));
  EXPECT_EQ(f.size(), 4 + big.size());
}

TEST(Frame, WholeFrame) {
  FrameDecoder d;
  const std::string f = encode_frame(R"({"type":"hello"})");
  d.feed(f.data(), f.size());
  EXPECT_EQ(drain(d), (std::vector<std::string>{R"({"type":"hello"})"}));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, ByteByByte) {
  FrameDecoder d;
  const std::vector<std::string> msgs = {"first", "", std::string(300, 'y'),
                                         std::string("bin\0ary\xff", 8)};
  std::string stream;
  for (const auto& m : msgs) stream += encode_frame(m);
  std::vector<std::string> got;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    d.feed(&stream[i], 1);
    for (auto& f : drain(d)) got.push_back(std::move(f));
    if (i + 1 < stream.size()) EXPECT_LT(got.size(), msgs.size());
  }
  EXPECT_EQ(got, msgs);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, NothingUntilTheLengthAndPayloadAreComplete) {
  FrameDecoder d;
  const std::string f = encode_frame("hello");
  d.feed(f.data(), 3);
  auto r = d.next();
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  d.feed(f.data() + 3, 4);  // length complete, payload not
  r = d.next();
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_EQ(d.buffered(), 7u);
  d.feed(f.data() + 7, f.size() - 7);
  EXPECT_EQ(drain(d), (std::vector<std::string>{"hello"}));
}

TEST(Frame, SeveralFramesInOneFeed) {
  FrameDecoder d;
  const std::string s = encode_frame("a") + encode_frame("bb") + encode_frame("") +
                        encode_frame("ccc") + encode_frame("dd").substr(0, 5);
  d.feed(s.data(), s.size());
  EXPECT_EQ(drain(d), (std::vector<std::string>{"a", "bb", "", "ccc"}));
  EXPECT_EQ(d.buffered(), 5u);  // the partial fifth frame waits
  d.feed("d", 1);
  EXPECT_EQ(drain(d), (std::vector<std::string>{"dd"}));
}

TEST(Frame, EmptyFrame) {
  FrameDecoder d;
  const std::string f = encode_frame("");
  d.feed(f.data(), f.size());
  auto r = d.next();
  ASSERT_TRUE(r);
  ASSERT_TRUE(*r);
  EXPECT_EQ(**r, "");
}

TEST(Frame, OversizedLengthIsAnErrorAndStaysOne) {
  FrameDecoder d(1024);
  const std::string ok = encode_frame(std::string(1024, 'a'));  // exactly the limit
  d.feed(ok.data(), ok.size());
  EXPECT_EQ(drain(d).size(), 1u);
  const char huge[4] = {'\x7f', '\xff', '\xff', '\xff'};
  d.feed(huge, 4);
  auto r = d.next();
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("message too large"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("2147483647"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("1024"), std::string::npos) << r.message();
  // The stream cannot be resynchronised: the decoder keeps refusing.
  const std::string more = encode_frame("x");
  d.feed(more.data(), more.size());
  EXPECT_FALSE(d.next());
}

TEST(Frame, OneByteOverTheLimit) {
  FrameDecoder d(16);
  const std::string f = encode_frame(std::string(17, 'a'));
  d.feed(f.data(), 4);  // refused on the header alone, before the payload arrives
  EXPECT_FALSE(d.next());
}

TEST(Frame, DefaultLimitIs16MiB) {
  FrameDecoder d;
  const char len[4] = {'\x01', '\x00', '\x00', '\x01'};  // 16 MiB + 1
  d.feed(len, 4);
  EXPECT_FALSE(d.next());
  FrameDecoder e;
  const char ok[4] = {'\x01', '\x00', '\x00', '\x00'};  // 16 MiB: waits for the payload
  e.feed(ok, 4);
  auto r = e.next();
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(*r);
}

TEST(Frame, CompactionKeepsFramesIntactOverManyFrames) {
  // Random message sizes fed in random chunk sizes: exercises the compaction
  // path (consumed prefix > 4096 bytes) many times with a frame straddling it.
  std::mt19937 rng(12345);
  FrameDecoder d;
  std::vector<std::string> sent, got;
  std::string stream;
  for (int i = 0; i < 3000; ++i) {
    std::string m(std::uniform_int_distribution<int>(0, 700)(rng), '\0');
    for (auto& ch : m) ch = static_cast<char>(rng());
    stream += encode_frame(m);
    sent.push_back(std::move(m));
  }
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t n =
        std::min<std::size_t>(stream.size() - pos, std::uniform_int_distribution<int>(1, 5000)(rng));
    d.feed(stream.data() + pos, n);
    pos += n;
    for (auto& f : drain(d)) got.push_back(std::move(f));
  }
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, BufferedCountsOnlyUnconsumedBytes) {
  FrameDecoder d;
  std::string s;
  for (int i = 0; i < 100; ++i) s += encode_frame(std::string(100, 'z'));
  d.feed(s.data(), s.size());
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(d.next());  // past the compaction threshold
  EXPECT_EQ(d.buffered(), 40u * 104u);
  EXPECT_EQ(drain(d).size(), 40u);
  EXPECT_EQ(d.buffered(), 0u);
}

}  // namespace
}  // namespace drover::proto
