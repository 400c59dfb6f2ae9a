#include "ws_url.hpp"

#include <charconv>

namespace rtb::lws_adapter {

result<ws_url> parse_ws_url(std::string_view url) {
  ws_url u;
  if (url.starts_with("wss://")) {
    u.tls = true;
    url.remove_prefix(6);
    u.port = 443;
  } else if (url.starts_with("ws://")) {
    url.remove_prefix(5);
    u.port = 80;
  } else {
    return error{errc::invalid_config, "the OpenAI URL must start with wss:// (or ws:// for a loopback test peer)"};
  }
  const auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? std::string_view{} : url.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return error{errc::invalid_config, "the OpenAI URL must not contain credentials"};
  std::string_view port_text;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      return error{errc::invalid_config, "the OpenAI URL has an unclosed IPv6 address"};
    u.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return error{errc::invalid_config, "the OpenAI URL's host is malformed"};
      port_text = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return error{errc::invalid_config, "the OpenAI URL has no host"};
  if (!port_text.empty()) {
    int port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || p != port_text.data() + port_text.size() || port <= 0 || port > 65535)
      return error{errc::invalid_config, "the OpenAI URL's port is not a number from 1 to 65535"};
    u.port = port;
  }
  if (rest.empty()) rest = "/";
  if (rest.front() == '?')
    u.path = "/" + std::string(rest);
  else
    u.path = std::string(rest);
  return u;
}

bool is_loopback_host(std::string_view host) noexcept {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace rtb::lws_adapter
