// realtime_bridge::lws — the libwebsockets adapter. One process serves, on one
// port, HTTP routes and Twilio's media-stream WebSocket, and opens a WebSocket
// to OpenAI for every call. Calls are spread over service threads (one per core
// by default), each with its own event loop; a call never crosses threads.
//
// Public headers include only the standard library: libwebsockets and OpenSSL
// stay inside the library.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/call_driver.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb::lws_adapter {

enum class log_level { debug, info, warning, error };
std::string_view to_string(log_level l) noexcept;

/// Receives the adapter's log lines (one per call event, with the call and
/// stream sids). Called from service threads, concurrently: it must be
/// thread-safe. API keys and auth tokens never appear in these lines.
using log_function = std::function<void(log_level, std::string_view line)>;

/// A log function writing "<time> <level> <line>" to stderr, at `min` and above.
log_function stderr_log(log_level min = log_level::info);

struct http_request {
  std::string method;  ///< GET, POST, HEAD, or OTHER
  /// The path decoded by lws, for routing: %XX decoded, '+' read as a space,
  /// "//", "/./" and "/../" collapsed; without the query.
  std::string path;
  /// The request target exactly as received: path and query, still
  /// percent-encoded ("/incoming-call?From=%2B14155550100"). This is what
  /// Twilio signs after the origin. Empty if the adapter could not read it
  /// (a request line over 8 KiB, which lws cuts short anyway).
  std::string target;
  /// The query of `target` as received, without the '?', still encoded:
  /// decode it with twilio::parse_form(). Empty when there is none.
  std::string query;
  std::string body;  ///< POST body (bounded by server_options::max_http_body_bytes)
  std::string content_type;
  std::string host;              ///< the Host header (not to be trusted for signatures)
  std::string twilio_signature;  ///< X-Twilio-Signature, if any
  std::string peer;              ///< the client's address
};

struct http_response {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

/// A caller's media-stream WebSocket upgrade, before it is accepted.
struct stream_request {
  std::string path;    ///< decoded by lws, as http_request::path
  std::string target;  ///< as received, as http_request::target
  std::string query;   ///< as received, as http_request::query
  std::string host;
  std::string twilio_signature;
  std::string peer;
};

/// Controls one call. Every function is safe from any thread: from the call's
/// own service thread (e.g. inside an observer callback) it acts at once (or
/// right after the current event), from other threads it is queued to the call's
/// thread. After the call has ended it does nothing.
class call_control {
 public:
  virtual ~call_control() = default;
  virtual void submit_tool_result(std::string_view call_id, std::string_view output) = 0;
  virtual void send_user_text(std::string_view text, bool respond = true) = 0;
  virtual void end_call(std::string_view reason) = 0;
};

/// The embedding application's decisions. Called on service threads; calls on
/// different threads may run concurrently, so implementations must be
/// thread-safe.
class application {
 public:
  virtual ~application() = default;
  /// Any HTTP request other than the media-stream upgrade. Default: 404.
  /// Each response closes its connection ("connection: close"), so that every
  /// request's target is read as received (http_request::target).
  virtual http_response on_http(const http_request& request);
  /// Accept (nullopt) or refuse (the response, e.g. 403) a media-stream
  /// upgrade. Refused upgrades never open an OpenAI session. Default: accept.
  virtual std::optional<http_response> check_stream(const stream_request& request);
  /// The configuration for a new call. Default: server_options::call.
  virtual std::optional<call_config> config_for_call(const stream_request& request);
  /// An observer for a new call, owned by the adapter and destroyed with the
  /// call. `control` lives as long as the observer. Default: none (the adapter
  /// still logs every event).
  virtual std::unique_ptr<call_observer> observer_for_call(call_control& control);
  /// Where to record a new call's trace (see docs/trace-format.md), or null.
  virtual std::unique_ptr<trace_sink> trace_for_call(const stream_request& request);
};

struct openai_endpoint {
  /// The WebSocket URL, query included: wss://api.openai.com/v1/realtime?model=gpt-realtime.
  /// ws:// is accepted only for loopback hosts (test peers).
  std::string url = "wss://api.openai.com/v1/realtime?model=gpt-realtime";
  std::string api_key;  ///< sent as "Authorization: Bearer …"; never logged
  /// Trust anchors for wss: empty uses the system's CA store; otherwise a PEM
  /// file (e.g. a test CA). Peer verification is always on.
  std::string ca_file;
};

/// How each service thread waits for its sockets (docs/design.md, "The
/// libwebsockets adapter").
enum class event_loop {
  automatic,  ///< libev when lws' libev plugin loads, else poll (logged)
  poll,       ///< lws' built-in poll() loop: scans every socket at every wake-up
  libev,      ///< lws' libev event library (epoll), on a loop the adapter owns; no signal handlers
};

struct server_options {
  std::string bind_address;  ///< "" = all interfaces
  int port = 5050;           ///< 0 = pick a free port (see server::port())
  int threads = 0;           ///< service threads; 0 = one per core
  event_loop loop = event_loop::automatic;
  std::string stream_path = "/media-stream";
  openai_endpoint openai;
  call_config call;      ///< the default configuration of every call
  driver_limits limits;  ///< per-leg message size limits
  std::size_t max_http_body_bytes = 64 * 1024;
  /// WebSocket pings on both legs; a peer silent for `idle_hangup` is dropped.
  std::chrono::seconds ping_interval{20};
  std::chrono::seconds idle_hangup{60};
  log_function log = stderr_log();
};

struct server_stats {
  std::uint64_t calls_started = 0;  ///< media streams accepted
  std::uint64_t calls_active = 0;
  std::uint64_t calls_ended = 0;
  std::uint64_t streams_refused = 0;  ///< upgrades the application refused
  /// Times a thread stopped accepting for a while because the process ran
  /// out of descriptors (logged as errors; raise the open-files limit).
  std::uint64_t accept_pauses = 0;
  std::uint64_t http_requests = 0;
};

/// The running adapter: listening socket(s), service threads, calls.
class server {
 public:
  /// Validates the options, binds the port and starts the service threads.
  /// The error message names the bad option or the failed system call.
  [[nodiscard]] static result<std::unique_ptr<server>> start(server_options options, std::shared_ptr<application> app);
  ~server();  ///< stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  int port() const noexcept;
  /// New media streams and HTTP requests get 503 from now on; calls in
  /// progress continue.
  void stop_accepting();
  /// Waits until no call is active, or the timeout passes. True if idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  /// Closes every remaining call and stops the service threads.
  void stop();
  server_stats stats() const;
  /// The loop the threads run (never `automatic`).
  event_loop loop() const noexcept;

 private:
  struct impl;
  explicit server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb::lws_adapter
