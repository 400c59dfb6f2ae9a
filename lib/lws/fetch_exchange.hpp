// One outbound HTTP exchange on a service thread (rtb::fetcher, implemented
// by server::fetch).
//
// Lifetime. An exchange is created by start() on its service thread and
// deleted in exactly one place, finish_by_lws(), when lws reports the end of
// its connection: CLIENT_CONNECTION_ERROR or CLOSED_CLIENT_HTTP (or, as a
// safety net, WSI_DESTROY), or at once when no connection was ever made. The
// result is delivered exactly once, to the first of: the complete response,
// a connection error, the timeout, an oversized body, the server stopping.
// After the timeout (or an oversized body) the connection is killed and its
// remaining callbacks only clean up.
#pragma once

#include <chrono>
#include <string>

#include "event_loop.hpp"
#include "realtime_bridge/fetch.hpp"
#include "ws_url.hpp"

struct lws;

namespace rtb::lws_adapter {

struct service_thread;

class fetch_exchange {
 public:
  /// Starts `request` on `thread` (its own thread only). `done` is called
  /// once, possibly before this returns (a bad URL, a refused connect).
  static void start(service_thread& thread, fetch_request request, fetch_callback done);

  // From the lws callbacks of protocol "rtb-fetch".
  void append_headers(unsigned char** p, unsigned char* end, bool& failed);
  /// Writes the body. -1: close the connection.
  int on_writeable();
  /// The response's status line and headers arrived. Without a
  /// Content-Length the body ends when the server closes the connection.
  void on_status(int status, std::string content_type, bool has_length);
  /// A chunk of the body. False once it is too large (close the connection).
  bool on_body(const char* data, std::size_t length);
  void on_complete();
  /// lws is done with the connection: deliver (if not yet) and delete this.
  void finish_by_lws(fetch_error error, std::string detail);

 private:
  fetch_exchange(service_thread& thread, fetch_request request, fetch_callback done);
  ~fetch_exchange();
  void connect();
  void deliver(fetch_error error, std::string detail);
  static void on_timeout(loop_timer& timer);

  service_thread& thread_;
  fetch_request request_;
  fetch_callback done_;
  ws_url url_;
  std::string host_header_;
  fetch_result result_;
  std::chrono::steady_clock::time_point started_;
  loop_timer timer_{};
  struct lws* wsi_ = nullptr;
  bool delivered_ = false;
  bool body_sent_ = false;
  bool connecting_ = false;     ///< inside lws_client_connect_via_info()
  bool lws_finished_ = false;   ///< lws reported the end while connecting_
  bool ends_at_close_ = false;  ///< a response without Content-Length: its body ends with the connection
};

}  // namespace rtb::lws_adapter
