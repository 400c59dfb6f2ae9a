#include "ws_url.hpp"

#include <cctype>
#include <charconv>

namespace rtb::lws_adapter {

namespace {

// scheme://authority/path?query, where `secure` (e.g. "wss") means TLS on
// port 443 and `plain` (e.g. "ws") no TLS on port 80.
result<ws_url> parse_url(std::string_view url, std::string_view secure, std::string_view plain) {
  ws_url u;
  const auto scheme_is = [&url](std::string_view scheme) {
    if (url.size() < scheme.size() + 3 || url.substr(scheme.size(), 3) != "://") return false;
    for (std::size_t i = 0; i < scheme.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(url[i])) != scheme[i]) return false;
    return true;
  };
  if (scheme_is(secure)) {
    u.tls = true;
    url.remove_prefix(secure.size() + 3);
    u.port = 443;
  } else if (scheme_is(plain)) {
    url.remove_prefix(plain.size() + 3);
    u.port = 80;
  } else {
    return error{errc::invalid_config, "the URL must start with " + std::string(secure) + ":// or " +
                                           std::string(plain) + "://"};
  }
  const auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? std::string_view{} : url.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return error{errc::invalid_config, "the URL must not contain credentials"};
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return error{errc::invalid_config, "the URL has an unclosed IPv6 address"};
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return error{errc::invalid_config, "the URL's host is malformed"};
      port_text = authority.substr(close + 2);
      has_port = true;
    }
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (u.host.empty()) return error{errc::invalid_config, "the URL has no host"};
  if (has_port) {
    int port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || p != port_text.data() + port_text.size() || port <= 0 || port > 65535)
      return error{errc::invalid_config, "the URL's port is not a number from 1 to 65535"};
    u.port = port;
  }
  if (rest.empty()) rest = "/";
  if (rest.front() == '?')
    u.path = "/" + std::string(rest);
  else
    u.path = std::string(rest);
  return u;
}

}  // namespace

result<ws_url> parse_ws_url(std::string_view url) { return parse_url(url, "wss", "ws"); }

result<ws_url> parse_http_url(std::string_view url) { return parse_url(url, "https", "http"); }

std::string ws_url::host_header() const {
  std::string h = host.find(':') == std::string::npos ? host : "[" + host + "]";
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

std::string with_model(std::string_view path, std::string_view model) {
  if (model.empty()) return std::string(path);
  std::string value;
  for (const char ch : model) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      value.push_back(ch);
    } else {
      static constexpr char hex[] = "0123456789ABCDEF";
      value.push_back('%');
      value.push_back(hex[c >> 4]);
      value.push_back(hex[c & 0x0F]);
    }
  }
  const auto q = path.find('?');
  std::string out(path.substr(0, q));
  out.push_back('?');
  bool set = false;
  bool first = true;
  std::string_view query = q == std::string_view::npos ? std::string_view{} : path.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const bool is_model = piece.substr(0, piece.find('=')) == "model";
    if (piece.empty() || (is_model && set)) continue;
    if (!first) out.push_back('&');
    first = false;
    if (is_model) {
      out.append("model=").append(value);
      set = true;
    } else {
      out.append(piece);
    }
  }
  if (!set) {
    if (!first) out.push_back('&');
    out.append("model=").append(value);
  }
  return out;
}

}  // namespace rtb::lws_adapter
