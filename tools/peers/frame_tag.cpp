#include "peers/frame_tag.hpp"

#include "peers/mulaw.hpp"

#include <array>
#include <chrono>

namespace rtb::peers::frame_tag {
namespace {

constexpr std::uint8_t magic = 0xB7;
constexpr std::size_t nibbles = tag_bytes;  // one nibble per byte
constexpr std::size_t crc_at = nibbles - 2;

std::uint8_t crc8(const std::uint8_t* nib, std::size_t n) noexcept {
  std::uint8_t crc = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    crc ^= static_cast<std::uint8_t>((nib[i] << 4) | nib[i + 1]);
    for (int b = 0; b < 8; ++b) crc = static_cast<std::uint8_t>((crc & 0x80) ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc;
}

/// Writes `count` nibbles of `v`, most significant first, at nib[at].
void put(std::uint8_t* nib, std::size_t at, std::size_t count, std::uint64_t v) noexcept {
  for (std::size_t i = 0; i < count; ++i) nib[at + i] = static_cast<std::uint8_t>((v >> (4 * (count - 1 - i))) & 0xF);
}

std::uint64_t get(const std::uint8_t* nib, std::size_t at, std::size_t count) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < count; ++i) v = (v << 4) | nib[at + i];
  return v;
}

void to_nibbles(const tag& t, std::uint8_t* nib) noexcept {
  put(nib, 0, 2, magic);
  put(nib, 2, 1, static_cast<std::uint8_t>(t.dir));
  put(nib, 3, 4, t.call);
  put(nib, 7, 6, t.seq & seq_mask);
  put(nib, 13, 3, t.response & response_mask);
  put(nib, 16, 4, t.delta);
  put(nib, 20, 8, t.sent_us);
  put(nib, crc_at, 2, crc8(nib, crc_at));
}

std::optional<tag> from_nibbles(const std::uint8_t* nib) noexcept {
  if (get(nib, 0, 2) != magic) return std::nullopt;
  if (get(nib, crc_at, 2) != crc8(nib, crc_at)) return std::nullopt;
  const auto dir = get(nib, 2, 1);
  if (dir != static_cast<std::uint8_t>(direction::caller) && dir != static_cast<std::uint8_t>(direction::ai))
    return std::nullopt;
  tag t;
  t.dir = static_cast<direction>(dir);
  t.call = static_cast<std::uint16_t>(get(nib, 3, 4));
  t.seq = static_cast<std::uint32_t>(get(nib, 7, 6));
  t.response = static_cast<std::uint16_t>(get(nib, 13, 3));
  t.delta = static_cast<std::uint16_t>(get(nib, 16, 4));
  t.sent_us = static_cast<std::uint32_t>(get(nib, 20, 8));
  return t;
}

}  // namespace

void encode(const tag& t, std::uint8_t* frame) noexcept {
  std::uint8_t nib[nibbles];
  to_nibbles(t, nib);
  for (std::size_t i = 0; i < nibbles; ++i) frame[i] = static_cast<std::uint8_t>(0xF0 | nib[i]);
}

std::optional<tag> decode(const std::uint8_t* frame, std::size_t size) noexcept {
  if (frame == nullptr || size < tag_bytes) return std::nullopt;
  std::uint8_t nib[nibbles];
  for (std::size_t i = 0; i < nibbles; ++i) {
    if ((frame[i] & 0xF0) != 0xF0) return std::nullopt;
    nib[i] = frame[i] & 0x0F;
  }
  return from_nibbles(nib);
}

void encode_base64(const tag& t, char* out40) noexcept {
  std::uint8_t bytes[tag_bytes];
  encode(t, bytes);
  base64_encode_groups(bytes, tag_bytes, out40);
}

std::optional<tag> decode_base64(std::string_view payload) noexcept {
  // '=' is refused too: a tagged payload is longer than its tag.
  std::uint8_t bytes[tag_bytes];
  if (payload.size() < tag_base64_chars || !base64_decode_groups(payload.substr(0, tag_base64_chars), bytes))
    return std::nullopt;
  return decode(bytes, tag_bytes);
}

std::uint32_t now_us() noexcept {
  static const auto epoch = std::chrono::steady_clock::now();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - epoch);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(us.count()));
}

}  // namespace rtb::peers::frame_tag
