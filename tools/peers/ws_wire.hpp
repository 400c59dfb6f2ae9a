// WebSocket and HTTP bytes on the wire, built and read by hand: for peers that
// must be able to send what a well-behaved library never would (a frame with
// reserved bits set, a half-written upgrade, a reply that is not HTTP). No
// sockets here; the fault peers (fault_peers.hpp) carry these bytes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtb::peers::wire {

enum class opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

using masking_key = std::array<std::uint8_t, 4>;

struct frame_shape {
  bool fin = true;
  std::uint8_t rsv = 0;                ///< the three reserved bits (0..7): non-zero is a protocol error
  std::optional<masking_key> mask;     ///< a client's frames are masked, a server's are not
};

/// One frame carrying `payload`, as the bytes to send.
std::string frame(opcode op, std::string_view payload, frame_shape shape = {});
/// A close frame with `code` and `reason` (at most 123 bytes of it).
std::string close_frame(std::uint16_t code, std::string_view reason, std::optional<masking_key> mask = std::nullopt);

struct received_frame {
  opcode op = opcode::text;
  bool fin = true;
  std::string payload;  ///< unmasked
  /// For close frames: the code (0 when the payload has none) and reason.
  std::uint16_t close_code() const noexcept;
};

/// Reads frames out of a byte stream, as it arrives. Frames larger than
/// `max_payload` are skipped, their size remembered (too_large()).
class frame_reader {
 public:
  explicit frame_reader(std::size_t max_payload = 16 * 1024 * 1024) : max_payload_(max_payload) {}
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  /// The next complete frame, if one has arrived.
  std::optional<received_frame> next();
  /// Bytes fed that are not yet part of a returned frame.
  std::size_t buffered() const noexcept { return buffer_.size(); }

 private:
  std::string buffer_;
  std::size_t max_payload_;
};

/// A WebSocket upgrade request (client side), ending with the blank line.
std::string upgrade_request(std::string_view host, std::string_view path, std::string_view key,
                            std::string_view extra_headers = {});
/// The value of header `name` (case-insensitive) in an HTTP head, if present.
std::optional<std::string> header_value(std::string_view head, std::string_view name);
/// The status code of an HTTP response head ("HTTP/1.1 101 ..."), 0 if it is not one.
int status_code(std::string_view head);
/// The end of an HTTP head in `bytes` (just past the blank line), or npos.
std::size_t head_end(std::string_view bytes);

}  // namespace rtb::peers::wire
