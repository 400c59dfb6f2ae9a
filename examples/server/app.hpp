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

  /// GET / → health JSON; GET|POST /incoming-call → TwiML (403 on a bad
  /// signature when TWILIO_AUTH_TOKEN is set); anything else → 404.
  lws_adapter::http_response on_http(const lws_adapter::http_request& request) override;
  /// Refuses (403) a media stream whose signature does not match the stream
  /// URL built from PUBLIC_URL, when TWILIO_AUTH_TOKEN is set.
  std::optional<lws_adapter::http_response> check_stream(const lws_adapter::stream_request& request) override;
  std::unique_ptr<trace_sink> trace_for_call(const lws_adapter::stream_request& request) override;

  /// Lets the health route report the server's counters.
  void attach(const lws_adapter::server* server) { server_ = server; }

 private:
  lws_adapter::http_response incoming_call(const lws_adapter::http_request& request);

  settings settings_;
  const lws_adapter::server* server_ = nullptr;
  std::atomic<std::uint64_t> trace_counter_{0};
};

}  // namespace rtb::server_app
