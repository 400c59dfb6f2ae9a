// SHA-1 and HMAC-SHA1 (FIPS 180-4, RFC 2104), for Twilio's request signatures
// (twilio/signature.cpp). The core needs nothing else from a crypto library,
// so it does not depend on one (docs/design.md, "Signatures in the core").
//
// SHA-1 is broken for collisions, not for HMAC: an HMAC-SHA1 tag still cannot
// be forged without the key, which is all signature validation relies on.
#pragma once

#include <array>
#include <string_view>

namespace rtb::crypto {

using sha1_digest = std::array<unsigned char, 20>;

sha1_digest sha1(std::string_view data) noexcept;
sha1_digest hmac_sha1(std::string_view key, std::string_view data) noexcept;

}  // namespace rtb::crypto
