// The core's SHA-1 and HMAC-SHA1 (lib/sha1.hpp), which Twilio signature
// validation rests on: the published vectors (FIPS 180 / RFC 3174 for SHA-1,
// RFC 2202 for HMAC-SHA1) and, where OpenSSL is at hand, agreement with it on
// every length around the 64-byte block and its padding boundary.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "sha1.hpp"

#ifdef RTB_TEST_WITH_OPENSSL
#include <openssl/hmac.h>
#include <openssl/sha.h>
#endif

using rtb::crypto::hmac_sha1;
using rtb::crypto::sha1;
using rtb::crypto::sha1_digest;

namespace {

std::string hex(const sha1_digest& d) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : d) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

}  // namespace

TEST_CASE("SHA-1 gives the published digests", "[sha1]") {
  CHECK(hex(sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex(sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(hex(sha1(std::string(1'000'000, 'a'))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("HMAC-SHA1 gives RFC 2202's results, short and long keys alike", "[sha1]") {
  CHECK(hex(hmac_sha1(std::string(20, '\x0b'), "Hi There")) == "b617318655057264e28bc0b6fb378c8ef146be00");
  CHECK(hex(hmac_sha1("Jefe", "what do ya want for nothing?")) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  CHECK(hex(hmac_sha1(std::string(20, '\xaa'), std::string(50, '\xdd'))) == "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
  CHECK(hex(hmac_sha1(std::string(80, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  CHECK(hex(hmac_sha1(std::string(80, '\xaa'),
                      "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data")) ==
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
}

#ifdef RTB_TEST_WITH_OPENSSL
TEST_CASE("SHA-1 and HMAC-SHA1 agree with OpenSSL on every length around the block size", "[sha1]") {
  std::mt19937 random(20240615);
  const auto bytes = [&](std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(random() & 0xFF);
    return s;
  };
  for (std::size_t n = 0; n <= 300; ++n) {
    const std::string data = bytes(n);
    sha1_digest expected{};
    SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), expected.data());
    REQUIRE(sha1(data) == expected);

    const std::string key = bytes(n % 150);  // keys shorter than, equal to and longer than a block
    unsigned int size = 0;
    sha1_digest mac{};
    HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac.data(), &size);
    REQUIRE(size == mac.size());
    REQUIRE(hmac_sha1(key, data) == mac);
  }
}
#endif
