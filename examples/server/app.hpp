// The reference server's application: its HTTP routes, Twilio signature
// checks and per-call traces, on top of the lws adapter.
#pragma once

#include <atomic>
#include <memory>

#include "realtime_bridge/lws/server.hpp"
#include "server/settings.hpp"

namespace rtb::server_app {

class bridge_app final : public lws_adapter::application {
 public:
  explicit bridge_app(settings s);

  /// GET|HEAD / → health JSON (503 while draining); GET|POST /incoming-call
  /// → TwiML (403 on a bad signature when TWILIO_AUTH_TOKEN is set; the
  /// fallback alone while draining or at MAX_CALLS); another method on those
  /// paths → 405 with Allow; anything else → 404.
  lws_adapter::http_response on_http(const lws_adapter::http_request& request) override;
  /// Refuses (403) a media stream whose signature does not match the stream
  /// URL built from PUBLIC_URL, when TWILIO_AUTH_TOKEN is set.
  std::optional<lws_adapter::http_response> check_stream(const lws_adapter::stream_request& request) override;
  std::unique_ptr<trace_sink> trace_for_call(const lws_adapter::stream_request& request) override;

  /// Lets the routes see the server's counters and whether it takes calls.
  void attach(const lws_adapter::server* server) { server_ = server; }
  /// Where the application's own log lines go (e.g. a trace it cannot write).
  void set_log(lws_adapter::log_function log) { log_ = std::move(log); }

 private:
  lws_adapter::http_response incoming_call(const lws_adapter::http_request& request);
  lws_adapter::http_response fallback_twiml() const;
  lws_adapter::http_response liveness(const lws_adapter::server* server) const;
  lws_adapter::http_response readiness(const lws_adapter::server* server) const;
  lws_adapter::http_response metrics(const lws_adapter::server* server, const lws_adapter::http_request& request) const;

  settings settings_;
  std::atomic<const lws_adapter::server*> server_{nullptr};
  lws_adapter::log_function log_;
  std::atomic<std::uint64_t> trace_counter_{0};
};

}  // namespace rtb::server_app
