// X-Twilio-Signature validation: Base64(HMAC-SHA1(auth token, URL + sorted
// POST parameters)), compared in constant time
// (https://www.twilio.com/docs/usage/security#validating-requests).
//
// Part of realtime_bridge::core, like the other Twilio pieces: it needs no
// crypto library (the core has its own HMAC-SHA1).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtb::twilio {

using form_parameters = std::vector<std::pair<std::string, std::string>>;

/// The signature Twilio computes for `url` and (POST) `params`: the URL,
/// followed by each parameter's name and value, sorted by name in byte order
/// (values of repeated names sorted too), no separators; HMAC-SHA1 keyed with
/// the auth token; Base64. Like both helper libraries, an exact repeat of a
/// name/value pair counts once (the published Digits=[5678,1234,1234] vector).
/// For a JSON body, `url` carries bodySHA256 and `params` is empty.
std::string compute_signature(std::string_view auth_token, std::string_view url, const form_parameters& params);

/// Constant-time comparison of two signatures (length differences leak only the length).
bool signatures_equal(std::string_view a, std::string_view b) noexcept;

/// True when `signature` matches `url` + `params`, trying the variants Twilio's
/// own helper libraries accept: the URL as given, with the default port added
/// (:443 for https/wss, :80 for http/ws) when it has none, or with its port
/// (any port, as twilio-python and twilio-node do) removed; each with and
/// without a trailing slash on the path (a WebSocket upgrade's URL may be
/// signed either way); and each with its query normalised the way twilio-node's
/// `new URL()` does (' " < > space, controls and non-ASCII percent-encoded,
/// e.g. `It's` -> `It%27s`). Userinfo (user:pass@) is kept. Every variant is
/// computed and compared; an empty token or signature never validates. The
/// body hash of a bodySHA256 URL is not checked here.
bool validate_signature(std::string_view auth_token, std::string_view signature, std::string_view url,
                        const form_parameters& params);

/// Parses an application/x-www-form-urlencoded body (or query string, without
/// the '?') into name/value pairs, in order: '+' is a space, %XX is decoded;
/// malformed escapes are kept literally; a piece without '=' has an empty
/// value; empty pieces ("a=1&&b=2") are skipped.
form_parameters parse_form(std::string_view body);

/// Percent-encodes a form field's name or value, or a query value: RFC 3986's
/// unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other byte becomes
/// %XX (upper-case hex). parse_form() reads it back unchanged.
std::string percent_encode(std::string_view s);

}  // namespace rtb::twilio
