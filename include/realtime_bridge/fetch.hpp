// Outbound HTTP: what the service layer needs to call tool servers, send
// webhooks and use REST APIs, as an interface the shell implements. The
// libwebsockets adapter's server is one (lws_adapter::server::fetch: on its
// service threads, non-blocking, TLS verified as for OpenAI); an embedder
// with an HTTP client of its own implements `fetcher` with it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtb {

struct fetch_request {
  std::string method = "POST";
  std::string url;                                ///< https://host[:port]/path?query; http:// only to a loopback host
  std::string content_type = "application/json";  ///< of `body`; ignored without one
  std::string body;
  /// More request headers (Host, Content-Type and Content-Length are set by the adapter).
  std::vector<std::pair<std::string, std::string>> headers;
  /// The whole exchange, from connecting to the last byte of the response.
  std::chrono::milliseconds timeout{8000};
  /// A longer response body is not read: the exchange fails with too_large.
  std::size_t max_response_bytes = 64 * 1024;
};

enum class fetch_error {
  none,            ///< a response arrived (any status; see fetch_result::status)
  bad_url,         ///< not http(s)://, or http:// to a host other than loopback
  connect_failed,  ///< DNS, TCP or TLS failed, or the server closed before answering
  timeout,         ///< no complete response within fetch_request::timeout
  too_large,       ///< the response body exceeded max_response_bytes
  stopped,         ///< the server stopped before the response came
};
std::string_view to_string(fetch_error e) noexcept;

struct fetch_result {
  fetch_error error = fetch_error::none;
  int status = 0;  ///< the HTTP status (0 without a response)
  std::string content_type;
  std::string body;
  std::string detail;  ///< what failed, for logs (never a header's value)
  std::chrono::microseconds elapsed{0};
  bool ok() const noexcept { return error == fetch_error::none && status >= 200 && status < 300; }
};

/// Called exactly once per request (the lws adapter: on the service thread that ran it).
using fetch_callback = std::function<void(const fetch_result&)>;

/// Makes HTTP requests. Implementations must be safe to call from any thread
/// and must call every callback exactly once, whatever happens.
class fetcher {
 public:
  virtual ~fetcher() = default;
  virtual void fetch(fetch_request request, fetch_callback done) = 0;
};

}  // namespace rtb
