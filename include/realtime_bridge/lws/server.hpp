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
#include "realtime_bridge/fetch.hpp"
#include "realtime_bridge/metrics.hpp"
#include "realtime_bridge/scheduler.hpp"
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

/// One log line with its fields apart, for structured logs.
struct log_record {
  log_level level = log_level::info;
  std::string_view message;  ///< without the call's prefix
  std::uint64_t call_id = 0;  ///< the adapter's number for the call; 0: not about a call
  std::string_view call_sid;  ///< once Twilio's start has come
  std::string_view stream_sid;
  std::string_view agent;  ///< when the application named one (call_handle::set_agent)
};
/// Receives every log record; like log_function, concurrently from service
/// threads, and never with a secret in it.
using record_function = std::function<void(const log_record&)>;

/// The human line of a record: "call 12 CA…/MZ…: message" (or the message alone).
std::string format_log_line(const log_record& r);
/// A record as one JSON object (no newline): the time, level, message and
/// the call's fields as separate keys (empty ones left out).
std::string format_json_log_line(const log_record& r);
/// Records as JSON objects, one per line on stderr, at `min` and above:
/// {"time":"…","level":"info","msg":"…","call_id":12,"call_sid":"CA…","stream_sid":"MZ…","agent":"…"}
record_function stderr_json_log(log_level min = log_level::info);
/// Records as human lines on stderr (format_log_line), at `min` and above.
record_function stderr_text_log(log_level min = log_level::info);

struct http_request {
  std::string method;  ///< GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS, or OTHER
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
  std::string authorization;     ///< the Authorization header, if any
  std::string peer;              ///< the client's address
};

struct http_response {
  using header_list = std::vector<std::pair<std::string, std::string>>;
  http_response(int status_code = 200, std::string type = "text/plain", std::string text = {}, header_list more = {})
      : status(status_code), content_type(std::move(type)), body(std::move(text)), headers(std::move(more)) {}

  int status;
  std::string content_type;
  std::string body;
  /// More response headers, e.g. {"Allow", "GET, POST"} with a 405.
  header_list headers;
  /// Logged at debug rather than info (health probes, scrapes).
  bool quiet = false;
  /// Keep the response open and stream to it (Server-Sent Events): the
  /// headers go out now, without a length, and the application gets an
  /// event_stream to write to (application::on_event_stream). `body`, if
  /// any, is written first.
  bool event_stream = false;
  /// The answer is not ready (it needs I/O that must not run on a service
  /// thread, e.g. a database read): the application gets a pending_response
  /// to answer later, from any thread (application::on_pending_response).
  /// Nothing else of this response is used.
  bool later = false;
};

/// A request whose answer comes later (http_response::later): a plain value,
/// safe to copy and use from any thread. The first respond() wins; a request
/// not answered within server_options::pending_answer_timeout gets 504; a client that left makes respond() a no-op.
class pending_response {
 public:
  pending_response() = default;
  /// Sends `response` (not a streamed or later one). False if it was already
  /// answered or the client is gone.
  bool respond(http_response response) const;

  struct shared_state;
  explicit pending_response(std::shared_ptr<shared_state> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<shared_state> state_;
};

/// An open streamed HTTP response (http_response::event_stream): a plain
/// value, safe to copy and use from any thread at any time. What is sent is
/// written in order; a client that does not keep up (more than 1 MiB waiting)
/// is disconnected.
class event_stream {
 public:
  event_stream() = default;
  /// Queues `data` (e.g. "data: {…}\n\n"). False once the stream is closed
  /// (the client left, it fell behind, the server stopped): drop the handle.
  bool send(std::string_view data) const;
  /// Ends the response and closes the connection.
  void close() const;
  bool open() const noexcept;

  struct shared_state;
  explicit event_stream(std::shared_ptr<shared_state> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<shared_state> state_;
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

/// What a call_handle command did.
enum class command_result {
  accepted,        ///< run at once (on the call's own thread) or queued to the call's thread
  call_ended,      ///< the call has ended (or the handle names none): nothing was done
  server_stopped,  ///< the server has stopped: nothing was done
};
std::string_view to_string(command_result r) noexcept;

/// A handle on one call, for the application to steer it: answer its tool
/// calls, inject text, end it. A plain value: copy it, keep it as long as you
/// like, use it from any thread, also after the call has ended or the server
/// has stopped (then it does nothing and says so).
///
/// On the call's own service thread (inside an observer callback) a command
/// runs at once. From any other thread it is queued to the call's thread and
/// runs there shortly; `accepted` then means handed over: a call that ends
/// before its thread gets to the command drops it.
class call_handle {
 public:
  call_handle() = default;  ///< names no call: every command returns call_ended

  command_result submit_tool_result(std::string_view call_id, std::string_view output) const;
  command_result send_user_text(std::string_view text, bool respond = true) const;
  command_result end_call(std::string_view reason) const;
  /// Ends the call once what the AI is saying has played (the goodbye is
  /// heard; call_driver::end_after_playout). With the model's tool call id
  /// (end_call, transfer), that call is answered with `tool_output` first.
  command_result end_after_playout(std::string_view reason, std::string_view tool_call_id = {},
                                   std::string_view tool_output = {}) const;
  /// Names the call's agent in its log records (log_record::agent).
  command_result set_agent(std::string_view name) const;
  /// The call's configuration, chosen from Twilio's `start` (its custom
  /// parameters, call sid): for calls whose configuration connects to OpenAI
  /// only then (call_config::connect = openai_connect::after_start). Takes
  /// effect only from inside call_observer::on_stream_started on the call's
  /// thread; a call given none there keeps the one it started with, and a
  /// later or invalid one is ignored with a configuration_ignored warning.
  command_result configure(call_config config) const;

  /// False once the call has ended (and for a handle that names no call).
  bool active() const noexcept;
  /// The adapter's number for the call (as in its log lines); 0 for none.
  std::uint64_t id() const noexcept;

  struct shared_state;  ///< the adapter's: shared by the call and its handles
  explicit call_handle(std::shared_ptr<shared_state> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<shared_state> state_;
};

/// The embedding application's decisions. Called on service threads; calls on
/// different threads may run concurrently, so implementations must be
/// thread-safe.
class application {
 public:
  virtual ~application() = default;
  /// Any HTTP request other than the media-stream upgrade, also while the
  /// server drains (see server::draining(): answer what Twilio should hear
  /// then). Default: 404. Each response closes its connection ("connection:
  /// close"), so that every request's target is read as received
  /// (http_request::target).
  virtual http_response on_http(const http_request& request);
  /// A request on_http() answered with `later`: answer it through
  /// `pending` (from any thread). Default: 501.
  virtual void on_pending_response(pending_response pending, const http_request& request);
  /// A response on_http() marked event_stream has sent its headers; write to
  /// it through `stream`. Default: close it.
  virtual void on_event_stream(event_stream stream, const http_request& request);
  /// Accept (nullopt) or refuse (the response, e.g. 403) a media-stream
  /// upgrade. Refused upgrades never open an OpenAI session. Default: accept.
  virtual std::optional<http_response> check_stream(const stream_request& request);
  /// The configuration for a new call. Default: server_options::call.
  virtual std::optional<call_config> config_for_call(const stream_request& request);
  /// An observer for a new call, owned by the adapter and destroyed with the
  /// call. `handle` steers the call (see call_handle; keep copies as you
  /// like). Default: none (the adapter still logs every event).
  virtual std::unique_ptr<call_observer> observer_for_call(call_handle handle);
  /// Where to record a new call's trace (see docs/trace-format.md), or null.
  virtual std::unique_ptr<trace_sink> trace_for_call(const stream_request& request);
};

struct openai_endpoint {
  /// The WebSocket URL, query included: wss://api.openai.com/v1/realtime?model=gpt-realtime.
  /// Each call connects with the URL's `model` parameter set to its own
  /// configuration's openai.config.model (added if the URL has none).
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
  /// A request answered `later` that gets no answer in this time gets 504.
  std::chrono::milliseconds pending_answer_timeout{30'000};
  /// Calls at once, in the whole process (all threads). A media stream
  /// beyond it is refused with 503 before any OpenAI session opens (counted
  /// in server_stats::admission_refusals, logged at most once a second).
  /// 0: as many as the open-files limit leaves room for (two descriptors per
  /// call, and a reserve), computed at start().
  std::size_t max_calls = 0;
  /// Measure the relay latency of every message (two clock reads each);
  /// off: rtb_relay_latency_seconds stays empty.
  bool relay_latency_metrics = true;
  /// WebSocket pings on both legs; a peer silent for `idle_hangup` is dropped.
  std::chrono::seconds ping_interval{20};
  std::chrono::seconds idle_hangup{60};
  /// lws gives up on an HTTP request, a TLS handshake or a WebSocket upgrade
  /// (on either leg) that has not completed in this time. A call's own OpenAI
  /// connect timeout (openai::session_timeouts::connect) ends it sooner when
  /// it is shorter.
  std::chrono::seconds handshake_timeout{10};
  /// How long a peer has to answer our close frame before its connection is dropped.
  std::chrono::seconds close_timeout{5};
  log_function log = stderr_log();
  /// When set, receives every log line instead of `log`, with its fields apart.
  record_function log_records;
};

struct server_stats {
  std::uint64_t calls_started = 0;  ///< media streams accepted
  std::uint64_t calls_active = 0;
  std::uint64_t calls_ended = 0;
  std::uint64_t streams_refused = 0;     ///< upgrades refused (the application's checks, draining, full)
  std::uint64_t admission_refusals = 0;  ///< of which: max_calls reached
  /// Times a thread stopped accepting for a while because the process ran
  /// out of descriptors (logged as errors; raise the open-files limit).
  std::uint64_t accept_pauses = 0;
  std::uint64_t http_requests = 0;
  /// Connections lws destroyed without the close callback the adapter
  /// expects (each one logged as an error; should stay 0).
  std::uint64_t unexpected_destroys = 0;
  /// The adapter's own timers armed right now (each call's, the accept
  /// pauses); with no call active, 0.
  std::int64_t timers_pending = 0;
  /// Outbound HTTP requests (fetch) in progress.
  std::int64_t fetches_active = 0;
  /// How long ago a connection to OpenAI last opened, and last failed to
  /// open (never: nullopt).
  std::optional<std::chrono::milliseconds> openai_last_open_ago;
  std::optional<std::chrono::milliseconds> openai_last_failure_ago;
};

/// Checks an OpenAI WebSocket URL as server::start() would: ws:// or wss://,
/// and plain ws:// only to a loopback host. The message says what is wrong.
[[nodiscard]] result<void> validate_openai_url(std::string_view url);

/// The running adapter: listening socket(s), service threads, calls.
class server final : public fetcher, public scheduler {
 public:
  /// Validates the options, binds the port and starts the service threads.
  /// The error message names the bad option or the failed system call.
  [[nodiscard]] static result<std::unique_ptr<server>> start(server_options options, std::shared_ptr<application> app);
  ~server() override;  ///< stop()
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  int port() const noexcept;
  /// New media streams get 503 from now on; calls in progress continue. HTTP
  /// requests still reach the application, which sees draining().
  void stop_accepting();
  bool draining() const noexcept;
  /// options.max_calls, or the limit start() derived from the open-files limit.
  std::size_t max_calls() const noexcept;
  /// True when a new call would be refused: draining, or max_calls active.
  bool full() const noexcept;
  /// True when every service thread has run its event loop within `within`
  /// (each ticks once a second): the liveness a probe wants.
  bool threads_alive(std::chrono::milliseconds within = std::chrono::seconds(5)) const noexcept;
  /// Waits until no call is active, or the timeout passes. True if idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  /// Closes every remaining call and stops the service threads.
  void stop();
  server_stats stats() const;
  /// Makes an HTTP request (rtb::fetcher). From a service thread (e.g. inside
  /// an observer callback) it runs on that thread and `done` is called there;
  /// from any other thread it runs on one of the service threads. `done` is
  /// called exactly once, with fetch_error::stopped if the server stops first.
  void fetch(fetch_request request, fetch_callback done) override;
  /// Runs `work` on a service thread's event loop after `delay`
  /// (rtb::scheduler): on the calling service thread if called from one,
  /// else on one of them. With stopped = true if the server stops first.
  void after(std::chrono::milliseconds delay, std::function<void(bool stopped)> work) override;
  /// Writes the adapter's metrics (calls, admission, messages each way, relay
  /// latency, OpenAI connect and setup times and errors, per-thread calls and
  /// loop lag, totals of ended calls) in the Prometheus text format. Cheap:
  /// per-thread counters, read here.
  void write_metrics(prometheus_writer& out) const;
  /// The loop the threads run (never `automatic`).
  event_loop loop() const noexcept;

 private:
  struct impl;
  explicit server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb::lws_adapter
