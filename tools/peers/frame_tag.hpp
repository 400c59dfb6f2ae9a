// In-band frame tags for the load generator. The bridge passes audio through
// unchanged (base64 µ-law both ways), so a peer can mark each 20 ms frame in
// its first bytes and the other peer can read the mark back: which call it
// belongs to, its place in its stream, and when it was sent.
//
// Layout: 30 µ-law bytes, each carrying 4 bits as 0xF0|nibble (120 bits, most
// significant nibble first):
//
//   nibbles  0–1   magic 0xB7
//   nibble   2     direction (1 caller audio, 2 AI audio)
//   nibbles  3–6   call index (16 bits)
//   nibbles  7–12  sequence number of the frame in its direction (24 bits)
//   nibbles 13–15  response number (12 bits; AI audio only, else 0)
//   nibbles 16–19  delta index within the response (16 bits; AI audio only)
//   nibbles 20–27  send time, µs since a process-wide steady epoch (32 bits,
//                  wraps after ~71 minutes: subtract with elapsed_us())
//   nibbles 28–29  CRC-8 (polynomial 0x07) of nibbles 0–27 packed in pairs
//
// Why 0xF0|nibble: those codes decode to +8·(15−nibble), at most 120 of 32768
// (−49 dBFS peak). A tagged silent frame measures about −60 dBFS (never more
// than −56), well below any energy VAD; in a speech frame the tag replaces
// the first 3.75 ms, which leaves it speech. 30 bytes are exactly 40 base64
// characters, so a payload's tag is read from, and can be rewritten in, its
// first 40 characters without touching the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rtb::peers::frame_tag {

enum class direction : std::uint8_t { caller = 1, ai = 2 };

struct tag {
  direction dir = direction::caller;
  std::uint16_t call = 0;
  std::uint32_t seq = 0;       ///< only the low 24 bits travel
  std::uint16_t response = 0;  ///< only the low 12 bits travel
  std::uint16_t delta = 0;
  std::uint32_t sent_us = 0;
  friend bool operator==(const tag&, const tag&) = default;
};

inline constexpr std::size_t tag_bytes = 30;
inline constexpr std::size_t tag_base64_chars = 40;
inline constexpr std::uint32_t seq_mask = 0xFFFFFF;
inline constexpr std::uint16_t response_mask = 0xFFF;

/// Writes the tag over the first tag_bytes of `frame` (which must hold that many).
void encode(const tag& t, std::uint8_t* frame) noexcept;
/// The tag at the start of `frame`, or nullopt (too short, no magic, bad CRC,
/// a byte that is not 0xF0|nibble, an unknown direction).
std::optional<tag> decode(const std::uint8_t* frame, std::size_t size) noexcept;

/// The tag as the base64 text of its 30 bytes (exactly what the first 40
/// characters of the base64 of a tagged frame are).
void encode_base64(const tag& t, char* out40) noexcept;
/// Reads the tag from the first 40 characters of a base64 payload.
std::optional<tag> decode_base64(std::string_view payload) noexcept;

/// µs since the process-wide steady epoch (the first call), modulo 2^32.
std::uint32_t now_us() noexcept;
/// `to − from` on the wrapping 32-bit µs clock.
inline std::uint32_t elapsed_us(std::uint32_t from, std::uint32_t to) noexcept { return to - from; }

}  // namespace rtb::peers::frame_tag
