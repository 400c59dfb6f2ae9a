// G.711 µ-law audio as base64 text: sizes and durations without decoding, and
// the base64 codec for the one place that must decode (caller audio batching).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
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

/// Appends the bytes `text` decodes to. `text` must satisfy is_base64() (the
/// decoders check every payload); other text appends unspecified bytes, never
/// more than base64_decoded_size() would allow for its length.
///
/// Audio is passed through as base64 everywhere else; the one user is caller
/// audio batching (call_limits::caller_audio_batch), which cannot join padded
/// payloads as text. Appends in place: with the capacity reserved, no allocation.
void append_base64_decoded(std::string_view text, std::string& out);

/// Appends the canonical base64 of `bytes` (RFC 4648, padded).
void append_base64(std::string_view bytes, std::string& out);

/// Whole milliseconds of µ-law audio in `bytes` (floor).
constexpr std::int64_t mulaw_ms(std::uint64_t bytes) noexcept {
  return static_cast<std::int64_t>(bytes / mulaw_bytes_per_ms);
}

}  // namespace rtb::audio
