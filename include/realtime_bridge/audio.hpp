// G.711 µ-law audio as base64 text: sizes and durations without decoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rtb::audio {

/// µ-law at 8 kHz: one byte per sample, eight samples per millisecond.
inline constexpr std::uint64_t mulaw_bytes_per_ms = 8;

/// True when `text` is canonical base64 (RFC 4648 alphabet, length a multiple
/// of four, at most two trailing '='). Empty text is valid (zero bytes).
bool is_base64(std::string_view text) noexcept;

/// Number of bytes `text` decodes to. `text` must satisfy is_base64().
constexpr std::uint64_t base64_decoded_size(std::string_view text) noexcept {
  if (text.empty()) return 0;
  std::uint64_t n = text.size() / 4 * 3;
  if (text.back() == '=') --n;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --n;
  return n;
}

/// Whole milliseconds of µ-law audio in `bytes` (floor).
constexpr std::int64_t mulaw_ms(std::uint64_t bytes) noexcept {
  return static_cast<std::int64_t>(bytes / mulaw_bytes_per_ms);
}

}  // namespace rtb::audio
