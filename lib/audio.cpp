#include "realtime_bridge/audio.hpp"

#include <array>
#include <cstdint>

namespace rtb::audio {
namespace {

constexpr std::array<bool, 256> make_alphabet() {
  std::array<bool, 256> t{};
  for (char c = 'A'; c <= 'Z'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c = 'a'; c <= 'z'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
  t['+'] = true;
  t['/'] = true;
  return t;
}
constexpr auto alphabet = make_alphabet();

constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The 6-bit value of each base64 digit; anything else (padding included) is 0.
constexpr std::array<std::uint8_t, 256> make_values() {
  std::array<std::uint8_t, 256> t{};
  for (std::uint8_t v = 0; v < 64; ++v) t[static_cast<unsigned char>(digits[v])] = v;
  return t;
}
constexpr auto values = make_values();

std::uint32_t value_of(char c) { return values[static_cast<unsigned char>(c)]; }

}  // namespace

bool is_base64(std::string_view text) noexcept {
  if (text.size() % 4 != 0) return false;
  std::size_t body = text.size();
  if (body > 0 && text[body - 1] == '=') --body;
  if (body > 0 && text[body - 1] == '=' && body == text.size() - 1) --body;
  for (std::size_t i = 0; i < body; ++i)
    if (!alphabet[static_cast<unsigned char>(text[i])]) return false;
  return true;
}

void append_base64_decoded(std::string_view text, std::string& out) {
  text = text.substr(0, text.size() / 4 * 4);  // whole groups only (valid text has nothing else)
  if (text.empty()) return;
  const std::size_t start = out.size();
  const std::size_t size = base64_decoded_size(text);
  out.resize(start + size);  // exactly: a buffer reserved for the bytes never grows
  char* to = out.data() + start;
  const auto group = [&](std::size_t i) {
    return (value_of(text[i]) << 18) | (value_of(text[i + 1]) << 12) | (value_of(text[i + 2]) << 6) |
           value_of(text[i + 3]);
  };
  const std::size_t last = text.size() - 4;  // the group that may hold padding
  for (std::size_t i = 0; i < last; i += 4, to += 3) {
    const std::uint32_t n = group(i);
    to[0] = static_cast<char>(n >> 16);
    to[1] = static_cast<char>((n >> 8) & 0xFF);
    to[2] = static_cast<char>(n & 0xFF);
  }
  const std::uint32_t n = group(last);
  const std::size_t rest = size - last / 4 * 3;  // 1 to 3 bytes
  to[0] = static_cast<char>(n >> 16);
  if (rest > 1) to[1] = static_cast<char>((n >> 8) & 0xFF);
  if (rest > 2) to[2] = static_cast<char>(n & 0xFF);
}

void append_base64(std::string_view bytes, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + (bytes.size() + 2) / 3 * 4);
  char* to = out.data() + start;
  const auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])); };
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3, to += 4) {
    const std::uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    to[0] = digits[n >> 18];
    to[1] = digits[(n >> 12) & 63];
    to[2] = digits[(n >> 6) & 63];
    to[3] = digits[n & 63];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const std::uint32_t n = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
    to[0] = digits[n >> 18];
    to[1] = digits[(n >> 12) & 63];
    to[2] = rest == 2 ? digits[(n >> 6) & 63] : '=';
    to[3] = '=';
  }
}

}  // namespace rtb::audio
