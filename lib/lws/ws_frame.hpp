// WebSocket frames the adapter builds itself and hands to lws as raw bytes:
// every frame to OpenAI (we are its client, so they are masked, with keys
// from mask_source rather than a read of /dev/urandom per frame), and the
// close frames of both legs (lws 4.1.6 has no public way to send a close
// frame except its close path, which Debian's debug build breaks under
// libuv; docs/design.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace rtb::lws_adapter {

/// The longest header: 2 bytes, an 8-byte length, a 4-byte key. lws'
/// LWS_PRE headroom is larger, so every queued message has room for it.
inline constexpr std::size_t max_frame_header = 14;

enum class ws_opcode : unsigned char { text = 0x1, close = 0x8 };

/// Frames `length` bytes at `payload` as one final frame, in place: writes
/// the header into the bytes just before the payload (which must exist: at
/// least max_frame_header) and, given a key, masks the payload (a client's
/// frame). Returns the number of header bytes; the frame starts at payload
/// minus that.
std::size_t frame_in_place(ws_opcode opcode, unsigned char* payload, std::size_t length,
                           std::optional<std::array<std::uint8_t, 4>> key) noexcept;

/// The header frame_in_place writes for a payload of `length` bytes.
std::size_t frame_header_size(std::size_t length, bool masked) noexcept;

/// Appends `payload` to `out` as one final frame (masked given a key), right
/// after what `out` holds: several frames in one buffer leave in one send.
void append_frame(std::vector<unsigned char>& out, ws_opcode opcode, std::string_view payload,
                  std::optional<std::array<std::uint8_t, 4>> key);

}  // namespace rtb::lws_adapter
