// The frames the adapter builds: header sizes, masking (RFC 6455 §5.7's
// examples), close frames, and the mask source's keys.
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "lws/mask_source.hpp"
#include "lws/ws_frame.hpp"

using rtb::lws_adapter::append_frame;
using rtb::lws_adapter::frame_header_size;
using rtb::lws_adapter::frame_in_place;
using rtb::lws_adapter::mask_source;
using rtb::lws_adapter::max_frame_header;
using rtb::lws_adapter::ws_opcode;

namespace {

using mask_key = std::array<std::uint8_t, 4>;

/// A buffer with header room, the frame built in it, and the frame's bytes.
std::vector<unsigned char> frame(const std::string& text, std::optional<std::array<std::uint8_t, 4>> key,
                                 ws_opcode opcode = ws_opcode::text) {
  std::vector<unsigned char> buffer(max_frame_header + text.size());
  unsigned char* payload = buffer.data() + max_frame_header;
  std::copy(text.begin(), text.end(), payload);
  const std::size_t header = frame_in_place(opcode, payload, text.size(), key);
  return {payload - header, payload + text.size()};
}

std::string unmask(const std::vector<unsigned char>& f, std::size_t header) {
  std::string out;
  for (std::size_t i = header; i < f.size(); ++i)
    out.push_back(static_cast<char>(f[i] ^ f[header - 4 + (i - header) % 4]));
  return out;
}

}  // namespace

TEST_CASE("a short text frame is masked exactly like RFC 6455's example", "[ws_frame]") {
  const auto f = frame("Hello", mask_key{0x37, 0xfa, 0x21, 0x3d});
  const std::vector<unsigned char> expected{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  CHECK(f == expected);
}

TEST_CASE("an unmasked frame is RFC 6455's server example", "[ws_frame]") {
  const auto f = frame("Hello", std::nullopt);
  const std::vector<unsigned char> expected{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
  CHECK(f == expected);
  const auto close = frame(std::string("\x03\xe9", 2), std::nullopt, ws_opcode::close);  // 1001
  CHECK(close == std::vector<unsigned char>{0x88, 0x02, 0x03, 0xe9});
}

TEST_CASE("frame lengths use the 7-bit, 16-bit and 64-bit forms at their limits", "[ws_frame]") {
  const std::array<std::uint8_t, 4> key{1, 2, 3, 4};
  for (const std::size_t n : {std::size_t{0}, std::size_t{125}}) {
    const auto f = frame(std::string(n, 'a'), key);
    CHECK(f.size() == 6 + n);
    CHECK(f[1] == (0x80 | n));
  }
  for (const std::size_t n : {std::size_t{126}, std::size_t{65535}}) {
    const auto f = frame(std::string(n, 'b'), key);
    REQUIRE(f.size() == 8 + n);
    CHECK(f[1] == (0x80 | 126));
    CHECK(((f[2] << 8) | f[3]) == static_cast<int>(n));
    CHECK(unmask(f, 8) == std::string(n, 'b'));
  }
  const std::size_t big = 65536 + 3;  // 64-bit length; an odd size exercises the byte-wise tail
  const auto f = frame(std::string(big, 'c'), key);
  REQUIRE(f.size() == 14 + big);
  CHECK(f[1] == (0x80 | 127));
  std::uint64_t length = 0;
  for (int i = 2; i < 10; ++i) length = length << 8 | f[static_cast<std::size_t>(i)];
  CHECK(length == big);
  CHECK(unmask(f, 14) == std::string(big, 'c'));
}

TEST_CASE("a typical append survives masking byte for byte", "[ws_frame]") {
  const std::string append = R"({"type":"input_audio_buffer.append","audio":")" + std::string(216, 'Q') + "=\"}";
  const auto f = frame(append, mask_key{0xde, 0xad, 0xbe, 0xef});
  CHECK(f[0] == 0x81);
  CHECK(unmask(f, 4 + 4) == append);
}

TEST_CASE("frames appended to one buffer are each the frame built in place, back to back", "[ws_frame]") {
  // A media message and its mark leave in one send this way.
  const std::vector<std::string> texts{std::string(200, 'm'), "mark", std::string(70000, 'x'), ""};
  for (const bool masked : {false, true}) {
    const std::optional<mask_key> key = masked ? std::optional<mask_key>(mask_key{5, 6, 7, 8}) : std::nullopt;
    std::vector<unsigned char> batch{0xAA};  // what was in the buffer before stays
    std::vector<unsigned char> expected{0xAA};
    for (const auto& t : texts) {
      append_frame(batch, ws_opcode::text, t, key);
      const auto alone = frame(t, key);
      CHECK(alone.size() == frame_header_size(t.size(), masked) + t.size());
      expected.insert(expected.end(), alone.begin(), alone.end());
    }
    CHECK(batch == expected);
  }
}

TEST_CASE("a close frame carries the code and reason, masked", "[ws_frame]") {
  const std::string payload = std::string("\x03\xe8", 2) + "call ended";  // 1000
  const auto f = frame(payload, mask_key{9, 8, 7, 6}, ws_opcode::close);
  CHECK(f[0] == 0x88);
  CHECK(f[1] == (0x80 | payload.size()));
  CHECK(unmask(f, 6) == payload);
}

TEST_CASE("the mask source gives fresh keys and reads the kernel once per 1024 frames", "[ws_frame]") {
  mask_source masks;
  std::set<std::array<std::uint8_t, 4>> seen;
  for (std::size_t i = 0; i < mask_source::keys_per_refill; ++i) seen.insert(masks.next());
  CHECK(masks.refills() == 1);
  // 1024 random 32-bit keys collide with probability ~1e-4; a stuck or zeroed
  // source gives far fewer distinct keys.
  CHECK(seen.size() >= mask_source::keys_per_refill - 2);
  CHECK(seen.count({0, 0, 0, 0}) == 0);
  masks.next();
  CHECK(masks.refills() == 2);
}
