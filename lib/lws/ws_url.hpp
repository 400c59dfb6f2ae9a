// WebSocket URLs as the adapter connects to them.
#pragma once

#include <string>
#include <string_view>

#include "realtime_bridge/loopback.hpp"
#include "realtime_bridge/result.hpp"

namespace rtb::lws_adapter {

struct ws_url {
  bool tls = false;
  std::string host;  ///< without brackets for IPv6
  int port = 0;
  std::string path;  ///< path and query, at least "/"

  /// The Host header's value: the host (bracketed when IPv6) and the port
  /// unless it is the scheme's default (RFC 9110 §7.2).
  [[nodiscard]] std::string host_header() const;
};

/// Parses ws://host[:port]/path?query or wss://… (scheme in any case). The
/// default ports are 80 and 443. Errors describe what is wrong with "the URL";
/// callers say which URL it was.
[[nodiscard]] result<ws_url> parse_ws_url(std::string_view url);

/// `path` (a path and query, as ws_url::path) with the query's `model`
/// parameter set to `model`, percent-encoded (letters, digits, "-._~:" are
/// kept): the first `model=` is replaced and any later one dropped, or one is
/// appended. An empty `model` leaves `path` as it is. The adapter opens each
/// call's OpenAI WebSocket at the URL this gives for the call's model.
[[nodiscard]] std::string with_model(std::string_view path, std::string_view model);

/// Parses http://host[:port]/path?query or https://… the same way (tls for
/// https; default ports 80 and 443).
[[nodiscard]] result<ws_url> parse_http_url(std::string_view url);

using rtb::is_loopback_host;

}  // namespace rtb::lws_adapter
