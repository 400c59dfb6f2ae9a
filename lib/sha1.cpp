#include "sha1.hpp"

#include <cstddef>
#include <cstdint>

namespace rtb::crypto {
namespace {

constexpr std::size_t block_size = 64;

std::uint32_t rotl(std::uint32_t x, int n) noexcept { return (x << n) | (x >> (32 - n)); }

class sha1_state {
 public:
  void update(std::string_view data) noexcept {
    for (char ch : data) {
      block_[used_++] = static_cast<unsigned char>(ch);
      if (used_ == block_size) {
        compress();
        used_ = 0;
      }
    }
    length_ += data.size();
  }

  sha1_digest finish() noexcept {
    const std::uint64_t bits = length_ * 8;
    block_[used_++] = 0x80;
    if (used_ > block_size - 8) {
      while (used_ < block_size) block_[used_++] = 0;
      compress();
      used_ = 0;
    }
    while (used_ < block_size - 8) block_[used_++] = 0;
    for (int i = 7; i >= 0; --i) block_[used_++] = static_cast<unsigned char>(bits >> (8 * i));
    compress();
    sha1_digest out{};
    for (std::size_t i = 0; i < 5; ++i)
      for (std::size_t j = 0; j < 4; ++j) out[4 * i + j] = static_cast<unsigned char>(h_[i] >> (24 - 8 * j));
    return out;
  }

 private:
  void compress() noexcept {
    std::uint32_t w[80];
    for (std::size_t t = 0; t < 16; ++t)
      w[t] = (std::uint32_t{block_[4 * t]} << 24) | (std::uint32_t{block_[4 * t + 1]} << 16) |
             (std::uint32_t{block_[4 * t + 2]} << 8) | std::uint32_t{block_[4 * t + 3]};
    for (std::size_t t = 16; t < 80; ++t) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
    for (std::size_t t = 0; t < 80; ++t) {
      std::uint32_t f = 0, k = 0;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const std::uint32_t temp = rotl(a, 5) + f + e + k + w[t];
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = temp;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
  }

  std::uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  unsigned char block_[block_size] = {};
  std::size_t used_ = 0;
  std::uint64_t length_ = 0;
};

}  // namespace

sha1_digest sha1(std::string_view data) noexcept {
  sha1_state s;
  s.update(data);
  return s.finish();
}

sha1_digest hmac_sha1(std::string_view key, std::string_view data) noexcept {
  // RFC 2104: a key longer than a block is hashed first; then
  // H((K ^ opad) || H((K ^ ipad) || data)).
  unsigned char k[block_size] = {};
  if (key.size() > block_size) {
    const sha1_digest hashed = sha1(key);
    for (std::size_t i = 0; i < hashed.size(); ++i) k[i] = hashed[i];
  } else {
    for (std::size_t i = 0; i < key.size(); ++i) k[i] = static_cast<unsigned char>(key[i]);
  }
  char pad[block_size];
  for (std::size_t i = 0; i < block_size; ++i) pad[i] = static_cast<char>(k[i] ^ 0x36);
  sha1_state inner;
  inner.update(std::string_view(pad, block_size));
  inner.update(data);
  const sha1_digest inner_digest = inner.finish();
  for (std::size_t i = 0; i < block_size; ++i) pad[i] = static_cast<char>(k[i] ^ 0x5c);
  sha1_state outer;
  outer.update(std::string_view(pad, block_size));
  outer.update(std::string_view(reinterpret_cast<const char*>(inner_digest.data()), inner_digest.size()));
  return outer.finish();
}

}  // namespace rtb::crypto
