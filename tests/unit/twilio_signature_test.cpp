// X-Twilio-Signature: every published vector of twilio.md §3.3 (twilio-python's
// and twilio-node's own tests, the [SEC] worked example), the two wss://
// vectors for the Media Stream handshake, the URL variants validation accepts,
// and form decoding.
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/twilio/signature.hpp"

namespace tw = rtb::twilio;

namespace {

constexpr std::string_view token = "12345";
constexpr std::string_view base_url = "https://mycompany.com/myapp.php?foo=1&bar=2";
constexpr std::string_view basic_signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

// Deliberately not in sorted order: compute_signature sorts.
const tw::form_parameters default_params = {
    {"CallSid", "CA1234567890ABCDE"}, {"Digits", "1234"},         {"From", "+14158675309"},
    {"To", "+18005551212"},           {"Caller", "+14158675309"},
};

constexpr std::string_view body_hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
constexpr std::string_view empty_body_hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

std::string str(std::string_view s) { return std::string(s); }

}  // namespace

TEST_CASE("compute_signature reproduces the published vectors", "[twilio][signature]") {
  SECTION("basic (both helper libraries)") {
    CHECK(tw::compute_signature(token, base_url, default_params) == basic_signature);
  }
  SECTION("https with :443") {
    CHECK(tw::compute_signature(token, "https://mycompany.com:443/myapp.php?foo=1&bar=2", default_params) ==
          "kvajT1Ptam85bY51eRf/AJRuM3w=");
  }
  SECTION("http with :80") {
    CHECK(tw::compute_signature(token, "http://mycompany.com:80/myapp.php?foo=1&bar=2", default_params) ==
          "0ZXoZLH/DfblKGATFgpif+LLRf4=");
  }
  SECTION("http with :1234") {
    CHECK(tw::compute_signature(token, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", default_params) ==
          "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
  }
  SECTION("duplicate / multi-value parameters: values sorted, exact duplicates dropped") {
    const tw::form_parameters three = {
        {"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}, {"Digits", "1234"}};
    CHECK(tw::compute_signature(token, base_url, three) == "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    // twilio-python's MultiDict / QueryDict variant of the same test.
    const tw::form_parameters two = {{"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}};
    CHECK(tw::compute_signature(token, base_url, two) == "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
  }
  SECTION("array parameter, values in any order (node)") {
    const tw::form_parameters a = {{"MessagingBinding.Address", "+1325xxxxxxx"},
                                   {"MessagingBinding.Address", "+1415xxxxxxx"}};
    const tw::form_parameters b = {{"MessagingBinding.Address", "+1415xxxxxxx"},
                                   {"MessagingBinding.Address", "+1325xxxxxxx"}};
    CHECK(tw::compute_signature(token, base_url, a) == "83O6e2vORAoJHUNzJjDWN1jz+BA=");
    CHECK(tw::compute_signature(token, base_url, b) == "83O6e2vORAoJHUNzJjDWN1jz+BA=");
  }
  SECTION("credentials in the URL (node)") {
    CHECK(tw::compute_signature(token, "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2", default_params) ==
          "CukzLTc1tT5dXEDIHm/tKBanW10=");
    CHECK(tw::compute_signature(token, "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2", default_params) ==
          "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=");
    CHECK(tw::compute_signature(token, "https://user@mycompany.com/myapp.php?foo=1&bar=2", default_params) ==
          "2YRLlVAflCqxaNicjMpJcSTgzSs=");
  }
  SECTION("special characters: the published signature is over the %27 form") {
    CHECK(tw::compute_signature(token, str(base_url) + "&Body=It%27s+amazing", default_params) ==
          "TfZzewPq8wqrGlMfyAud8+/IvJ0=");
    // An older twilio-node test signed the URL exactly as requested.
    CHECK(tw::compute_signature(token, str(base_url) + "&Body=It's+amazing", default_params) ==
          "dsq4Ehbj6cs+KdTkpF5sSSplOWw=");
  }
  SECTION("JSON bodies: bodySHA256 in the URL, no parameters") {
    CHECK(tw::compute_signature(token, str(base_url) + "&bodySHA256=" + str(body_hash), {}) ==
          "a9nBmqA0ju/hNViExpshrM61xv4=");
    CHECK(tw::compute_signature(token, "https://mycompany.com/myapp.php?bodySHA256=" + str(body_hash), {}) ==
          "y77kIzt2vzLz71DgmJGsen2scGs=");
    CHECK(tw::compute_signature(token,
                                "https://mycompany.com:443/myapp.php?foo=1&bar=2&bodySHA256=" + str(empty_body_hash),
                                {}) == "Ldidvp12m26NI7eqEvxnEpkd9Hc=");
  }
  SECTION("the worked example of Twilio's security page") {
    const tw::form_parameters params = {{"CallSid", "CA1234567890ABCDE"},
                                        {"Caller", "+14158675310"},
                                        {"Digits", "1234"},
                                        {"From", "+14158675310"},
                                        {"To", "+18005551212"}};
    CHECK(tw::compute_signature(token, "https://example.com/myapp.php?foo=1&bar=2", params) ==
          "L/OH5YylLD5NRKLltdqwSvS0BnU=");
  }
  SECTION("the Media Stream handshake: the wss:// URL, no parameters") {
    CHECK(tw::compute_signature(token, "wss://example.com/media-stream", {}) == "XFfwGS2Ev7f9qAP9MmRoMS7C724=");
    CHECK(tw::compute_signature(token, "wss://example.com/media-stream/", {}) == "7J0iz81itFhCXVuZK8EmM4YZwLA=");
  }
}

TEST_CASE("compute_signature sorts names and values in byte order", "[twilio][signature]") {
  // The signed string is the URL followed by the pairs, so signing it with no
  // parameters must give the same result: that pins the exact order.
  const auto signed_as = [](std::string_view data) { return tw::compute_signature(token, data, {}); };
  // Case-sensitive (Unix) ordering: uppercase before lowercase; values sorted within a name.
  CHECK(tw::compute_signature(token, "https://x.test/", {{"b", "2"}, {"B", "1"}, {"a", "z"}, {"a", "Z"}}) ==
        signed_as("https://x.test/B1aZazb2"));
  // A name that is a prefix of another sorts first, whatever the values.
  CHECK(tw::compute_signature(token, "https://x.test/", {{"SidAccount", "A"}, {"Sid", "Z"}}) ==
        signed_as("https://x.test/SidZSidAccountA"));
  // Bytes >= 0x80 sort after ASCII (unsigned comparison).
  CHECK(tw::compute_signature(token, "https://x.test/", {{"\xc3\xa9", "1"}, {"z", "2"}}) ==
        signed_as("https://x.test/z2\xc3\xa9"
                  "1"));
  // No separators: a different split of the same bytes signs the same string.
  CHECK(tw::compute_signature(token, "https://x.test/", {{"ab", "c"}}) ==
        tw::compute_signature(token, "https://x.test/", {{"a", "bc"}}));
  // Empty values still contribute their names.
  CHECK(tw::compute_signature(token, "https://x.test/", {{"a", ""}}) == signed_as("https://x.test/a"));
  // The token is case-sensitive, and any token (even empty) gives a 28-character signature.
  CHECK(tw::compute_signature("abc", "https://x.test/", {}) != tw::compute_signature("ABC", "https://x.test/", {}));
  CHECK(tw::compute_signature("", "", {}).size() == 28);
}

TEST_CASE("validate_signature accepts the published vectors and their documented variants", "[twilio][signature]") {
  SECTION("basic") { CHECK(tw::validate_signature(token, basic_signature, base_url, default_params)); }
  SECTION("https without a port in the request, signed with :443 (port added)") {
    CHECK(tw::validate_signature(token, "kvajT1Ptam85bY51eRf/AJRuM3w=", base_url, default_params));
  }
  SECTION("http without a port in the request, signed with :80 (port added)") {
    CHECK(tw::validate_signature(token, "0ZXoZLH/DfblKGATFgpif+LLRf4=", "http://mycompany.com/myapp.php?foo=1&bar=2",
                                 default_params));
  }
  SECTION("http with :1234 in the request, signed with it (as given)") {
    CHECK(tw::validate_signature(
        token, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", "http://mycompany.com:1234/myapp.php?foo=1&bar=2", default_params));
  }
  SECTION("https with :1234 in the request, signed without it (port removed)") {
    CHECK(tw::validate_signature(token, basic_signature, "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
                                 default_params));
  }
  SECTION("https with :443 in the request, signed without it (port removed)") {
    CHECK(tw::validate_signature(token, basic_signature, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                 default_params));
  }
  SECTION("duplicate values") {
    CHECK(tw::validate_signature(
        token, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", base_url,
        {{"Sid", "CA123"}, {"SidAccount", "AC123"}, {"Digits", "5678"}, {"Digits", "1234"}, {"Digits", "1234"}}));
  }
  SECTION("array values in either order") {
    CHECK(tw::validate_signature(
        token, "83O6e2vORAoJHUNzJjDWN1jz+BA=", base_url,
        {{"MessagingBinding.Address", "+1415xxxxxxx"}, {"MessagingBinding.Address", "+1325xxxxxxx"}}));
  }
  SECTION("credentials: as given, and with :443 added after the host (not after the user)") {
    const std::string creds = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
    CHECK(tw::validate_signature(token, "CukzLTc1tT5dXEDIHm/tKBanW10=", creds, default_params));
    CHECK(tw::validate_signature(token, "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=", creds, default_params));
    CHECK(tw::validate_signature(
        token, "2YRLlVAflCqxaNicjMpJcSTgzSs=", "https://user@mycompany.com/myapp.php?foo=1&bar=2", default_params));
    // The port of https://user:pass@host:443 is removed correctly too.
    CHECK(tw::validate_signature(token, "CukzLTc1tT5dXEDIHm/tKBanW10=",
                                 "https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2", default_params));
  }
  SECTION("special characters: It's+amazing validates against the %27-normalised signature") {
    const std::string request = str(base_url) + "&Body=It's+amazing";
    CHECK(tw::validate_signature(token, "TfZzewPq8wqrGlMfyAud8+/IvJ0=", request, default_params));
    // ... and against a signature of the URL exactly as requested.
    CHECK(tw::validate_signature(token, "dsq4Ehbj6cs+KdTkpF5sSSplOWw=", request, default_params));
    // Already-encoded URLs are not encoded twice.
    CHECK(tw::validate_signature(token, "TfZzewPq8wqrGlMfyAud8+/IvJ0=", str(base_url) + "&Body=It%27s+amazing",
                                 default_params));
  }
  SECTION("JSON bodies") {
    CHECK(tw::validate_signature(token, "a9nBmqA0ju/hNViExpshrM61xv4=", str(base_url) + "&bodySHA256=" + str(body_hash),
                                 {}));
    CHECK(tw::validate_signature(
        token, "y77kIzt2vzLz71DgmJGsen2scGs=", "https://mycompany.com/myapp.php?bodySHA256=" + str(body_hash), {}));
    // Signed with :443; the request URL has no port.
    CHECK(tw::validate_signature(
        token, "Ldidvp12m26NI7eqEvxnEpkd9Hc=", str(base_url) + "&bodySHA256=" + str(empty_body_hash), {}));
  }
  SECTION("the worked example of Twilio's security page") {
    CHECK(tw::validate_signature(token, "L/OH5YylLD5NRKLltdqwSvS0BnU=", "https://example.com/myapp.php?foo=1&bar=2",
                                 {{"To", "+18005551212"},
                                  {"From", "+14158675310"},
                                  {"Digits", "1234"},
                                  {"Caller", "+14158675310"},
                                  {"CallSid", "CA1234567890ABCDE"}}));
  }
}

TEST_CASE("validate_signature on the Media Stream handshake", "[twilio][signature]") {
  constexpr std::string_view plain = "XFfwGS2Ev7f9qAP9MmRoMS7C724=";    // wss://example.com/media-stream
  constexpr std::string_view slashed = "7J0iz81itFhCXVuZK8EmM4YZwLA=";  // wss://example.com/media-stream/
  const std::string with_443 = tw::compute_signature(token, "wss://example.com:443/media-stream", {});
  const std::string with_443_slashed = tw::compute_signature(token, "wss://example.com:443/media-stream/", {});

  SECTION("configured without a trailing slash") {
    const std::string_view url = "wss://example.com/media-stream";
    CHECK(tw::validate_signature(token, plain, url, {}));
    CHECK(tw::validate_signature(token, slashed, url, {}));
    CHECK(tw::validate_signature(token, with_443, url, {}));
    CHECK(tw::validate_signature(token, with_443_slashed, url, {}));
  }
  SECTION("configured with a trailing slash") {
    const std::string_view url = "wss://example.com/media-stream/";
    CHECK(tw::validate_signature(token, plain, url, {}));
    CHECK(tw::validate_signature(token, slashed, url, {}));
    CHECK(tw::validate_signature(token, with_443, url, {}));
  }
  SECTION("configured with :443") {
    const std::string_view url = "wss://example.com:443/media-stream";
    CHECK(tw::validate_signature(token, plain, url, {}));
    CHECK(tw::validate_signature(token, slashed, url, {}));
    CHECK(tw::validate_signature(token, with_443, url, {}));
  }
  SECTION("ws:// uses :80 as its default port") {
    const std::string sig = tw::compute_signature(token, "ws://localhost:80/media-stream", {});
    CHECK(tw::validate_signature(token, sig, "ws://localhost/media-stream", {}));
    CHECK_FALSE(tw::validate_signature(token, with_443, "ws://example.com/media-stream", {}));
  }
  SECTION("what is not accepted") {
    const std::string_view url = "wss://example.com/media-stream";
    // The https:// form of the same URL (twilio-aspnet #162: Twilio signs wss://).
    CHECK_FALSE(
        tw::validate_signature(token, tw::compute_signature(token, "https://example.com/media-stream", {}), url, {}));
    // Another path, host or a query string.
    CHECK_FALSE(tw::validate_signature(token, plain, "wss://example.com/media", {}));
    CHECK_FALSE(tw::validate_signature(token, plain, "wss://example.org/media-stream", {}));
    CHECK_FALSE(tw::validate_signature(token, plain, "wss://example.com/media-stream?x=1", {}));
    CHECK_FALSE(tw::validate_signature(token, plain, "wss://example.com/media-stream//", {}));
    // A non-default port is removed, never added.
    CHECK_FALSE(tw::validate_signature(token, tw::compute_signature(token, "wss://example.com:8443/media-stream", {}),
                                       url, {}));
    // Parameters where there are none.
    CHECK_FALSE(tw::validate_signature(token, plain, url, {{"a", "b"}}));
    // The wrong token, a wrong, truncated, empty or case-changed signature.
    CHECK_FALSE(tw::validate_signature("12346", plain, url, {}));
    CHECK_FALSE(tw::validate_signature(token, "XFfwGS2Ev7f9qAP9MmRoMS7C724", url, {}));
    CHECK_FALSE(tw::validate_signature(token, "xFfwGS2Ev7f9qAP9MmRoMS7C724=", url, {}));
    CHECK_FALSE(tw::validate_signature(token, "", url, {}));
    CHECK_FALSE(tw::validate_signature(token, str(plain) + " ", url, {}));
  }
}

TEST_CASE("a GET is validated over its query exactly as received", "[twilio][signature]") {
  // Signed by Twilio's helper library (npm twilio 6.2.0,
  // getExpectedTwilioSignature(token, url, {})): a GET carries its
  // parameters in the query, so the whole URL, escapes included, is signed.
  const std::string plus = "https://mycompany.com/myapp.php?From=%2B14155550100&CallerName=Jane+Doe";
  const std::string pct20 = "https://mycompany.com/myapp.php?From=%2B14155550100&CallerName=Jane%20Doe";
  const std::string decoded = "https://mycompany.com/myapp.php?From=+14155550100&CallerName=Jane Doe";
  constexpr std::string_view plus_sig = "qVyYSnrW04Vq/1tOewugQjdW7Jc=";
  constexpr std::string_view pct20_sig = "7ean4xaP9nXpnE49q69PsMK0t+Y=";
  constexpr std::string_view decoded_sig = "m9uEsddRC/soMgreM6meUg+P6lI=";
  CHECK(tw::compute_signature(token, plus, {}) == plus_sig);
  CHECK(tw::compute_signature(token, pct20, {}) == pct20_sig);
  CHECK(tw::compute_signature(token, decoded, {}) == decoded_sig);
  CHECK(tw::validate_signature(token, plus_sig, plus, {}));
  CHECK(tw::validate_signature(token, pct20_sig, pct20, {}));

  SECTION("the same values encoded another way are another URL") {
    CHECK_FALSE(tw::validate_signature(token, plus_sig, pct20, {}));
    CHECK_FALSE(tw::validate_signature(token, pct20_sig, plus, {}));
    // What the adapter used to validate: lws' decoded arguments joined again
    // ("Jane Doe" then read as Jane%20Doe by the node-style normalisation).
    CHECK_FALSE(tw::validate_signature(token, plus_sig, decoded, {}));
    CHECK_FALSE(tw::validate_signature(token, plus_sig,
                                       "https://mycompany.com/myapp.php?From=%2b14155550100&CallerName=Jane+Doe", {}));
  }
  SECTION("& and = inside values, a ';', UTF-8") {
    const std::string url =
        "https://mycompany.com/myapp.php?CallerName=Smith%20%26%20Sons%3Dok&Note=a;b&CallerCity=%E6%97%A5%E6%9C%AC";
    CHECK(tw::validate_signature(token, "HhGu6UQ2fV304lyFYAc2GdUdEQc=", url, {}));
  }
  SECTION("the query's parameters are not also signed as form parameters") {
    CHECK_FALSE(
        tw::validate_signature(token, plus_sig, plus, tw::parse_form("From=%2B14155550100&CallerName=Jane+Doe")));
  }
  SECTION("with :443 added, or a trailing slash on the path, as for any URL") {
    CHECK(tw::validate_signature(
        token, tw::compute_signature(token, "https://mycompany.com:443/myapp.php?From=%2B1&a=b+c", {}),
        "https://mycompany.com/myapp.php?From=%2B1&a=b+c", {}));
    CHECK(tw::validate_signature(token,
                                 tw::compute_signature(token, "https://mycompany.com/myapp.php/?From=%2B1&a=b+c", {}),
                                 "https://mycompany.com/myapp.php?From=%2B1&a=b+c", {}));
  }
}

TEST_CASE("validate_signature rejects wrong signatures, tokens, URLs and parameters", "[twilio][signature]") {
  CHECK_FALSE(tw::validate_signature(token, "WRONG_SIGNATURE", base_url, default_params));
  CHECK_FALSE(tw::validate_signature(token, "", base_url, default_params));
  CHECK_FALSE(tw::validate_signature("54321", basic_signature, base_url, default_params));
  CHECK_FALSE(
      tw::validate_signature(token, basic_signature, "https://mycompany.com/myapp.php?foo=1&bar=3", default_params));
  CHECK_FALSE(
      tw::validate_signature(token, basic_signature, "http://mycompany.com/myapp.php?foo=1&bar=2", default_params));
  CHECK_FALSE(
      tw::validate_signature(token, basic_signature, str(base_url) + "&somethingUnexpected=true", default_params));
  CHECK_FALSE(tw::validate_signature(token, basic_signature, base_url, {}));
  auto changed = default_params;
  changed[1].second = "1235";
  CHECK_FALSE(tw::validate_signature(token, basic_signature, base_url, changed));
  auto extra = default_params;
  extra.emplace_back("Extra", "");
  CHECK_FALSE(tw::validate_signature(token, basic_signature, base_url, extra));
  // A trimmed value (Laravel's TrimStrings, twilio.md §3.1) breaks it too.
  auto padded = default_params;
  padded[0].second += " ";
  CHECK_FALSE(tw::validate_signature(token, basic_signature, base_url, padded));
  // Signed with :80 but requested over https (and vice versa): wrong default port.
  CHECK_FALSE(tw::validate_signature(
      token, "0ZXoZLH/DfblKGATFgpif+LLRf4=", "https://mycompany.com/myapp.php?foo=1&bar=2", default_params));
  CHECK_FALSE(tw::validate_signature(
      token, "kvajT1Ptam85bY51eRf/AJRuM3w=", "http://mycompany.com/myapp.php?foo=1&bar=2", default_params));
  // An empty auth token never validates, even against its own signature.
  CHECK_FALSE(tw::validate_signature("", tw::compute_signature("", base_url, {}), base_url, {}));
}

TEST_CASE("signatures_equal compares every byte", "[twilio][signature]") {
  CHECK(tw::signatures_equal("", ""));
  CHECK(tw::signatures_equal(basic_signature, basic_signature));
  CHECK(tw::signatures_equal(str(basic_signature), basic_signature));
  CHECK_FALSE(tw::signatures_equal(basic_signature, "SSOYDt4T1cUTdK1PDd93/VVr8B8="));  // first byte
  CHECK_FALSE(tw::signatures_equal(basic_signature, "RSOYDt4T1cUTdK1PDd93/VVr8B8A"));  // last byte
  CHECK_FALSE(tw::signatures_equal(basic_signature, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));   // prefix
  CHECK_FALSE(tw::signatures_equal("RSOYDt4T1cUTdK1PDd93/VVr8B8", basic_signature));
  CHECK_FALSE(tw::signatures_equal("", basic_signature));
  CHECK_FALSE(tw::signatures_equal(basic_signature, ""));
  CHECK_FALSE(tw::signatures_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  CHECK(tw::signatures_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  // Bytes that differ only in the high bit.
  CHECK_FALSE(tw::signatures_equal("\x80", std::string_view("\0", 1)));
  CHECK_FALSE(tw::signatures_equal("\xff", "\x7f"));
  // A single differing bit anywhere.
  std::string flipped(basic_signature);
  for (std::size_t i = 0; i < flipped.size(); ++i) {
    std::string copy = flipped;
    copy[i] = static_cast<char>(copy[i] ^ 0x01);
    CHECK_FALSE(tw::signatures_equal(basic_signature, copy));
  }
}

TEST_CASE("parse_form decodes application/x-www-form-urlencoded", "[twilio][signature]") {
  using fp = tw::form_parameters;
  CHECK(tw::parse_form("") == fp{});
  CHECK(tw::parse_form("a=1") == fp{{"a", "1"}});
  CHECK(tw::parse_form("CallSid=CA123&From=%2B14158675309&Body=It%27s+amazing") ==
        fp{{"CallSid", "CA123"}, {"From", "+14158675309"}, {"Body", "It's amazing"}});
  SECTION("'+' is a space, %XX in either case, in names too") {
    CHECK(tw::parse_form("a+b=c+d") == fp{{"a b", "c d"}});
    CHECK(tw::parse_form("x=%2b%2B%3d%26") == fp{{"x", "++=&"}});
    CHECK(tw::parse_form("%41%62=%C3%A9") == fp{{"Ab", "\xc3\xa9"}});
    CHECK(tw::parse_form("x=%00") == fp{{"x", std::string(1, '\0')}});
  }
  SECTION("malformed escapes are kept literally") {
    CHECK(tw::parse_form("x=%") == fp{{"x", "%"}});
    CHECK(tw::parse_form("x=%4") == fp{{"x", "%4"}});
    CHECK(tw::parse_form("x=%zz1") == fp{{"x", "%zz1"}});
    CHECK(tw::parse_form("x=%4g") == fp{{"x", "%4g"}});
    CHECK(tw::parse_form("x=100%") == fp{{"x", "100%"}});
    CHECK(tw::parse_form("x=%%41") == fp{{"x", "%A"}});
  }
  SECTION("empty values, missing '=', extra '=', empty pieces") {
    CHECK(tw::parse_form("a=&b") == fp{{"a", ""}, {"b", ""}});
    CHECK(tw::parse_form("a=b=c") == fp{{"a", "b=c"}});
    CHECK(tw::parse_form("=v") == fp{{"", "v"}});
    CHECK(tw::parse_form("&a=1&&b=2&") == fp{{"a", "1"}, {"b", "2"}});
  }
  SECTION("repeated names keep their order and every value") {
    CHECK(tw::parse_form("Digits=5678&Digits=1234&Digits=1234") ==
          fp{{"Digits", "5678"}, {"Digits", "1234"}, {"Digits", "1234"}});
  }
  SECTION("a parsed body signs like the published vector") {
    const fp params = tw::parse_form(
        "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309");
    CHECK(params == default_params);
    CHECK(tw::validate_signature(token, basic_signature, base_url, params));
  }
}
