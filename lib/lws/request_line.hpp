// The request target of every HTTP request, exactly as it was received.
//
// lws 4.1.6 decodes the request target while it parses it, and keeps no copy
// of the bytes: %xx is decoded, '+' becomes a space (so "Jane+Doe" and
// "Jane%20Doe" both read "Jane Doe"), the query is split at '&' and ';' into
// separate arguments, an encoded '=' in a name becomes '_', and "//", "/./"
// and "/../" are collapsed in the path (lib/roles/http/parsers.c,
// lws_parse_urldecode). X-Twilio-Signature signs the URL as Twilio requested
// it, and a decoded query cannot be encoded back to it.
//
// So the adapter reads each connection's request line itself before lws does.
// It already accepts connections itself (listener.hpp); before handing one to
// lws it peeks at its first bytes (MSG_PEEK: they stay in the socket for lws)
// until the request line is complete, keeps the target, and only then adopts
// the socket. While it waits, the socket is in an epoll set of the gate's own
// (edge-triggered, so a partial line does not spin), and that epoll descriptor
// is watched by lws as a raw file: one mechanism for every event loop.
//
// Only the first request of a connection is seen this way, so the adapter's
// HTTP responses close their connection (service_thread.cpp, respond): every
// request is the first on its connection.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "event_loop.hpp"
#include "realtime_bridge/result.hpp"

struct lws;

namespace rtb::lws_adapter {

struct service_thread;

enum class line_scan {
  complete,    ///< `out` holds the method and target
  incomplete,  ///< no end of line yet
  malformed,   ///< not "METHOD SP target SP version": lws will answer it
};

struct request_line {
  std::string_view method;
  std::string_view target;  ///< the request target, byte for byte
};

/// Finds the request line at the start of a connection's bytes: "METHOD SP
/// request-target SP HTTP-version", ended by LF (CR LF, or a bare LF as lws
/// accepts), after any empty lines (RFC 9112 §2.2). The views point into
/// `bytes`.
line_scan scan_request_line(std::string_view bytes, request_line& out) noexcept;

/// Holds each accepted connection of one service thread until its request
/// line has arrived, then adopts it into lws and remembers its target for the
/// callbacks. On the service thread only.
class request_line_gate {
 public:
  /// The longest request line kept: lws' own limit for the whole header
  /// block is 4 KiB (max_http_header_data), so a longer line fails there too.
  static constexpr std::size_t max_line = 8192;

  explicit request_line_gate(service_thread& thread) : thread_(thread) {}
  ~request_line_gate();
  request_line_gate(const request_line_gate&) = delete;
  request_line_gate& operator=(const request_line_gate&) = delete;

  /// Creates the gate's epoll set and has lws watch it; once, before the
  /// thread serves.
  [[nodiscard]] result<void> open();
  /// A connection just accepted (non-blocking); the gate owns `fd` from now.
  /// It has server_options::handshake_timeout to send its request line.
  void accepted(int fd);
  /// The gate's epoll descriptor is readable (lws' RAW_RX_FILE).
  void on_readable();
  /// lws closed the gate's epoll descriptor (the context is going away):
  /// every connection still waiting is closed.
  void on_watch_closed();

  /// The target of `wsi`'s request as received, if the gate saw it.
  /// `consume` forgets it (an HTTP request: the connection serves no other).
  std::optional<std::string> target(struct lws* wsi, bool consume);
  /// `wsi` is being destroyed.
  void forget(struct lws* wsi) { targets_.erase(wsi); }

  std::size_t waiting() const noexcept { return pending_.size(); }

 private:
  enum class verdict { wait, adopt, close };
  verdict look(int fd, std::optional<std::string>& target);
  void adopt(int fd, std::optional<std::string> target);
  bool watch(int fd);
  void release(int fd);
  void arm_sweep();
  static void on_sweep(loop_timer& timer);

  service_thread& thread_;
  int epoll_fd_ = -1;
  bool epoll_in_lws_ = false;  ///< lws owns (and closes) epoll_fd_
  using clock = std::chrono::steady_clock;
  std::unordered_map<int, clock::time_point> pending_;  ///< fd → when it is given up
  std::unordered_map<struct lws*, std::string> targets_;
  loop_timer sweep_{};
  std::array<char, max_line> buffer_{};
};

}  // namespace rtb::lws_adapter
