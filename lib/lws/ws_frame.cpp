#include "ws_frame.hpp"

#include <cstring>

namespace rtb::lws_adapter {
namespace {

void mask(unsigned char* p, std::size_t length, std::array<std::uint8_t, 4> key) noexcept {
  // Eight bytes at a time with the key repeated; the payload's offset from
  // the frame start is a multiple of 4 here, so the key phase is 0 throughout.
  std::uint64_t wide;
  unsigned char k8[8];
  for (int i = 0; i < 8; ++i) k8[i] = key[static_cast<std::size_t>(i & 3)];
  std::memcpy(&wide, k8, 8);
  std::size_t i = 0;
  for (; i + 8 <= length; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= wide;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < length; ++i) p[i] ^= key[i & 3];
}

}  // namespace

std::size_t frame_header_size(std::size_t length, bool masked) noexcept {
  const std::size_t extended = length < 126 ? 0 : length <= 0xFFFF ? 2 : 8;
  return 2 + extended + (masked ? 4 : 0);
}

void append_frame(std::vector<unsigned char>& out, ws_opcode opcode, std::string_view payload,
                  std::optional<std::array<std::uint8_t, 4>> key) {
  // Room for the header, then the payload copied once (not zero-filled first).
  const std::size_t body = out.size() + frame_header_size(payload.size(), key.has_value());
  out.resize(body);
  out.insert(out.end(), payload.begin(), payload.end());
  frame_in_place(opcode, out.data() + body, payload.size(), key);
}

std::size_t frame_in_place(ws_opcode opcode, unsigned char* payload, std::size_t length,
                           std::optional<std::array<std::uint8_t, 4>> key) noexcept {
  unsigned char header[max_frame_header];
  std::size_t n = 0;
  header[n++] = static_cast<unsigned char>(0x80 | static_cast<unsigned char>(opcode));  // FIN
  if (length < 126) {
    header[n++] = static_cast<unsigned char>(length);
  } else if (length <= 0xFFFF) {
    header[n++] = 126;
    header[n++] = static_cast<unsigned char>(length >> 8);
    header[n++] = static_cast<unsigned char>(length);
  } else {
    header[n++] = 127;
    for (int shift = 56; shift >= 0; shift -= 8)
      header[n++] = static_cast<unsigned char>(static_cast<std::uint64_t>(length) >> shift);
  }
  if (key) {
    header[1] |= 0x80;  // the mask bit
    std::memcpy(header + n, key->data(), 4);
    n += 4;
    mask(payload, length, *key);
  }
  std::memcpy(payload - n, header, n);
  return n;
}

}  // namespace rtb::lws_adapter
