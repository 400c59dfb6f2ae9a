// X-Twilio-Signature: Base64(HMAC-SHA1(auth token, URL + sorted POST
// parameters)), and the URL variants Twilio's helper libraries accept
// (https://www.twilio.com/docs/usage/security#validating-requests).
#include "realtime_bridge/twilio/signature.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/audio.hpp"
#include "sha1.hpp"

namespace rtb::twilio {
namespace {

/// Base64(HMAC-SHA1(key, data)).
std::string hmac_sha1_base64(std::string_view key, std::string_view data) {
  const crypto::sha1_digest md = crypto::hmac_sha1(key, data);
  std::string out;
  audio::append_base64(std::string_view(reinterpret_cast<const char*>(md.data()), md.size()), out);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// A URL cut into the pieces the variants change:
///   scheme "://" userinfo@ host [":" port] path ["?" query] ["#" fragment]
struct url_parts {
  std::string_view scheme;    ///< without "://"
  std::string_view userinfo;  ///< including the '@', or ""
  std::string_view host;      ///< including brackets for IPv6
  bool has_port = false;
  std::string_view port;  ///< without the ':'
  std::string_view path;
  std::string_view tail;  ///< "?query#fragment" (either part optional), or ""

  std::string join(bool with_port, std::string_view port_text, std::string_view new_path) const {
    std::string out;
    out.reserve(scheme.size() + 3 + userinfo.size() + host.size() + 6 + new_path.size() + tail.size());
    out.append(scheme).append("://").append(userinfo).append(host);
    if (with_port) out.append(":").append(port_text);
    out.append(new_path).append(tail);
    return out;
  }
};

/// Splits an absolute URL; false when it has no "scheme://".
bool split_url(std::string_view url, url_parts& p) {
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  p.scheme = url.substr(0, sep);
  std::string_view rest = url.substr(sep + 3);
  const std::size_t auth_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, auth_end);
  rest.remove_prefix(auth_end);

  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    p.userinfo = authority.substr(0, at + 1);
    authority.remove_prefix(at + 1);
  }
  std::size_t colon = std::string_view::npos;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close != std::string_view::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      colon = close + 1;
  } else {
    colon = authority.rfind(':');
  }
  if (colon != std::string_view::npos) {
    p.host = authority.substr(0, colon);
    p.has_port = true;
    p.port = authority.substr(colon + 1);
  } else {
    p.host = authority;
  }

  const std::size_t path_end = std::min(rest.find_first_of("?#"), rest.size());
  p.path = rest.substr(0, path_end);
  p.tail = rest.substr(path_end);
  return true;
}

std::string_view default_port(std::string_view scheme) {
  if (iequals(scheme, "https") || iequals(scheme, "wss")) return "443";
  if (iequals(scheme, "http") || iequals(scheme, "ws")) return "80";
  return {};
}

/// The query normalisation of the WHATWG URL parser, which twilio-node applies
/// (`new URL(url).toString()`) before signing: in the query of a special
/// scheme, C0 controls, space, '"', '\'', '<', '>' and bytes >= 0x7F are
/// percent-encoded. The only published vector this matters for is node's
/// "special characters" one, where the request URL ends in
/// `&Body=It's+amazing` and the signature (TfZzewPq8wqrGlMfyAud8+/IvJ0=) was
/// computed over `&Body=It%27s+amazing`. Existing escapes are kept as they are.
std::string normalise_query(std::string_view url) {
  const std::size_t q = url.find('?');
  if (q == std::string_view::npos) return std::string(url);
  const std::size_t hash = url.find('#', q);
  const std::size_t end = hash == std::string_view::npos ? url.size() : hash;
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out(url.substr(0, q + 1));
  for (std::size_t i = q + 1; i < end; ++i) {
    const auto c = static_cast<unsigned char>(url[i]);
    if (c <= 0x20 || c >= 0x7F || c == '"' || c == '\'' || c == '<' || c == '>') {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0F]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.append(url.substr(end));
  return out;
}

/// Every URL validate_signature() tries, without duplicates, the given one first.
std::vector<std::string> url_variants(std::string_view url) {
  std::vector<std::string> out;
  const auto add = [&out](std::string u) {
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(std::move(u));
  };

  // 1. Port: as given; without it (any port: Twilio drops the port of HTTPS
  //    callbacks before signing, so a request on :1234 carries the signature
  //    of the port-less URL); with the scheme's default port if there is none.
  std::vector<std::string> ported;
  url_parts p;
  if (split_url(url, p)) {
    // 2. Path: as given, and with the trailing '/' toggled (a WebSocket
    //    upgrade's URL may be signed with a trailing '/' added; the reverse
    //    covers a configured URL that already ends in '/').
    std::string toggled(p.path);
    if (!toggled.empty() && toggled.back() == '/')
      toggled.pop_back();
    else
      toggled.push_back('/');
    for (const std::string_view path : {p.path, std::string_view(toggled)}) {
      ported.push_back(p.join(p.has_port, p.port, path));
      if (p.has_port) ported.push_back(p.join(false, {}, path));
      const std::string_view def = default_port(p.scheme);
      if (!p.has_port && !def.empty()) ported.push_back(p.join(true, def, path));
    }
  } else {
    ported.emplace_back(url);
  }
  // 3. Query: as given, and normalised like twilio-node's `new URL()`.
  for (const std::string& u : ported) add(u);
  for (const std::string& u : ported) add(normalise_query(u));
  return out;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

std::string form_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && is_hex(text[i + 1]) && is_hex(text[i + 2])) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);  // includes a malformed '%' escape, kept literally
    }
  }
  return out;
}

}  // namespace

std::string compute_signature(std::string_view auth_token, std::string_view url, const form_parameters& params) {
  // Sort by name, then value, in byte order (std::string compares as unsigned
  // char), and drop exact duplicates of a name/value pair as both helper
  // libraries do (`sorted(set(values))` in twilio-python, `new Set(values)` in
  // twilio-node): the published multi-value vector has Digits=[5678,1234,1234]
  // and signs "Digits1234Digits5678".
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(params.size());
  for (const auto& p : params) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return *a < *b; });
  sorted.erase(std::unique(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return *a == *b; }),
               sorted.end());

  std::string data(url);
  for (const auto* p : sorted) data.append(p->first).append(p->second);
  return hmac_sha1_base64(auth_token, data);
}

bool signatures_equal(std::string_view a, std::string_view b) noexcept {
  // Every byte of the common length is visited whatever the contents; the
  // only data-dependent branch is on the lengths.
  std::size_t diff = a.size() ^ b.size();
  const std::size_t n = std::min(a.size(), b.size());
  volatile unsigned char acc = 0;
  for (std::size_t i = 0; i < n; ++i)
    acc = static_cast<unsigned char>(acc | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
  diff |= acc;
  return diff == 0;
}

bool validate_signature(std::string_view auth_token, std::string_view signature, std::string_view url,
                        const form_parameters& params) {
  // An empty token would be an HMAC key anyone can use; an empty header is
  // never a signature.
  if (auth_token.empty() || signature.empty()) return false;
  bool valid = false;
  for (const std::string& candidate : url_variants(url)) {
    const std::string expected = compute_signature(auth_token, candidate, params);
    // No early exit: every variant is computed and compared.
    valid = (signatures_equal(signature, expected) && !expected.empty()) || valid;
  }
  return valid;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0F]);
    }
  }
  return out;
}

form_parameters parse_form(std::string_view body) {
  form_parameters out;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view piece = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (piece.empty()) continue;  // "a=1&&b=2", a trailing '&'
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos)
      out.emplace_back(form_decode(piece), std::string{});
    else
      out.emplace_back(form_decode(piece.substr(0, eq)), form_decode(piece.substr(eq + 1)));
  }
  return out;
}

}  // namespace rtb::twilio
