#include "peers/ws_wire.hpp"

#include <algorithm>
#include <cctype>

namespace rtb::peers::wire {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string frame(opcode op, std::string_view payload, frame_shape shape) {
  std::string out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<char>((shape.fin ? 0x80 : 0) | ((shape.rsv & 0x7) << 4) | static_cast<std::uint8_t>(op)));
  const std::uint8_t mask_bit = shape.mask ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  const std::size_t body = out.size();
  if (shape.mask)
    for (std::uint8_t b : *shape.mask) out.push_back(static_cast<char>(b));
  out.append(payload);
  if (shape.mask)
    for (std::size_t i = 0; i < payload.size(); ++i)
      out[body + 4 + i] = static_cast<char>(static_cast<std::uint8_t>(out[body + 4 + i]) ^ (*shape.mask)[i % 4]);
  return out;
}

std::string close_frame(std::uint16_t code, std::string_view reason, std::optional<masking_key> mask) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.substr(0, 123));
  return frame(opcode::close, payload, {.mask = mask});
}

std::uint16_t received_frame::close_code() const noexcept {
  if (payload.size() < 2) return 0;
  return static_cast<std::uint16_t>(static_cast<std::uint8_t>(payload[0]) << 8 | static_cast<std::uint8_t>(payload[1]));
}

std::optional<received_frame> frame_reader::next() {
  for (;;) {
    if (buffer_.size() < 2) return std::nullopt;
    const auto* b = reinterpret_cast<const std::uint8_t*>(buffer_.data());
    const bool masked = b[1] & 0x80;
    std::uint64_t length = b[1] & 0x7F;
    std::size_t header = 2;
    if (length == 126) {
      if (buffer_.size() < 4) return std::nullopt;
      length = static_cast<std::uint64_t>(b[2]) << 8 | b[3];
      header = 4;
    } else if (length == 127) {
      if (buffer_.size() < 10) return std::nullopt;
      length = 0;
      for (int i = 0; i < 8; ++i) length = length << 8 | b[2 + i];
      header = 10;
    }
    const std::size_t key_at = header;
    if (masked) header += 4;
    if (buffer_.size() < header) return std::nullopt;
    if (length > max_payload_) {
      // Not worth keeping: drop it as it arrives.
      if (buffer_.size() < header + length) return std::nullopt;
      buffer_.erase(0, header + length);
      continue;
    }
    if (buffer_.size() < header + length) return std::nullopt;
    received_frame f;
    f.fin = b[0] & 0x80;
    f.op = static_cast<opcode>(b[0] & 0x0F);
    f.payload = buffer_.substr(header, length);
    if (masked)
      for (std::size_t i = 0; i < f.payload.size(); ++i)
        f.payload[i] = static_cast<char>(static_cast<std::uint8_t>(f.payload[i]) ^ b[key_at + i % 4]);
    buffer_.erase(0, header + length);
    return f;
  }
}

std::string upgrade_request(std::string_view host, std::string_view path, std::string_view key,
                            std::string_view extra_headers) {
  std::string r;
  r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ").append(key);
  r.append("\r\nSec-WebSocket-Version: 13\r\n").append(extra_headers).append("\r\n");
  return r;
}

std::optional<std::string> header_value(std::string_view head, std::string_view name) {
  std::size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const std::size_t start = at + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end == std::string_view::npos ? head.npos : end - start);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name))
      return std::string(trim(line.substr(colon + 1)));
    at = end;
  }
  return std::nullopt;
}

int status_code(std::string_view head) {
  if (!head.starts_with("HTTP/1.") || head.size() < 12 || head[8] != ' ') return 0;
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(head[i]))) return 0;
    code = code * 10 + (head[i] - '0');
  }
  return code;
}

std::size_t head_end(std::string_view bytes) {
  const std::size_t at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? at : at + 4;
}

}  // namespace rtb::peers::wire
