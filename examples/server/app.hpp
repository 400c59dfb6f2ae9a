// The reference server's application: its HTTP routes, Twilio signature
// checks and per-call traces, on top of the lws adapter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/service/call_agent.hpp"
#include "realtime_bridge/service/call_dispositions.hpp"
#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/calls_api.hpp"
#include "realtime_bridge/service/events_webhook.hpp"
#include "realtime_bridge/service/live_events.hpp"
#include "realtime_bridge/service/work_queue.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "server/settings.hpp"

namespace rtb::server_app {

class outbound_routes;

class bridge_app final : public lws_adapter::application {
 public:
  /// `store`: where calls are recorded (null: nowhere; DATABASE_URL=off).
  explicit bridge_app(settings s, std::unique_ptr<service::call_store> store = nullptr);
  ~bridge_app() override;

  /// GET|HEAD / → health JSON (503 while draining); GET|POST /incoming-call
  /// → TwiML (403 on a bad signature when TWILIO_AUTH_TOKEN is set; the
  /// fallback alone while draining or at MAX_CALLS); another method on those
  /// paths → 405 with Allow; anything else → 404.
  lws_adapter::http_response on_http(const lws_adapter::http_request& request) override;
  /// Refuses (403) a media stream whose signature does not match the stream
  /// URL built from PUBLIC_URL, when TWILIO_AUTH_TOKEN is set.
  std::optional<lws_adapter::http_response> check_stream(const lws_adapter::stream_request& request) override;
  std::unique_ptr<trace_sink> trace_for_call(const lws_adapter::stream_request& request) override;
  /// With agent profiles, calls wait for Twilio's start to choose theirs.
  std::optional<call_config> config_for_call(const lws_adapter::stream_request& request) override;
  /// The call's agent (profile, tools, call control), which records the call
  /// (store, live events).
  std::unique_ptr<call_observer> observer_for_call(lws_adapter::call_handle handle) override;
  /// The calls API's answers, off the service threads.
  void on_pending_response(lws_adapter::pending_response pending, const lws_adapter::http_request& request) override;
  /// /api/events: live events as Server-Sent Events.
  void on_event_stream(lws_adapter::event_stream stream, const lws_adapter::http_request& request) override;

  /// Lets the routes see the server's counters and whether it takes calls,
  /// and the events webhook send through it. attach(nullptr) before the
  /// server is destroyed.
  void attach(lws_adapter::server* server);
  service::event_hub& events() noexcept { return hub_; }
  service::call_store* store() noexcept { return store_.get(); }
  /// Outbound calls and campaigns (outbound_routes.hpp), when TWILIO_ACCOUNT_SID is set; before attach().
  [[nodiscard]] result<void> enable_outbound();
  /// Where the application's own log lines go (e.g. a trace it cannot write).
  void set_log(lws_adapter::log_function log) { log_ = std::move(log); }
  /// Where the agents' lines about calls go, with the call's sids.
  void set_call_log(lws_adapter::record_function records) { records_ = std::move(records); }
  /// From now on /readyz answers 503 ("stopping"): the first step of a drain
  /// behind a load balancer (DRAIN_NOTICE_SECONDS), while calls are still taken.
  void announce_stop() noexcept { stop_announced_ = true; }
  /// Reads AGENTS_FILE again (SIGHUP). On an error the profiles in effect
  /// stay, and the error is returned; calls in progress keep theirs either way.
  result<void> reload_profiles();
  /// The profiles in effect (null without AGENTS_FILE).
  std::shared_ptr<const service::profile_set> profiles() const;

 private:
  lws_adapter::http_response incoming_call(const lws_adapter::http_request& request);
  /// Twilio's request to <Connect action> when a call's stream ended: what it
  /// does next (hang up, dial, or the fallback).
  lws_adapter::http_response call_ended(const lws_adapter::http_request& request);
  /// The TwiML for `d`, logged with where it came from.
  lws_adapter::http_response disposition_answer(std::string_view call_sid, const service::call_disposition& d,
                                                std::string_view source) const;
  /// Reads a call this instance did not decide from the store, again every
  /// moment while its end is not there yet (service::disposition_wait).
  void look_up_disposition(lws_adapter::pending_response pending, std::string call_sid,
                           std::chrono::steady_clock::time_point asked);
  /// Twilio's signature over PUBLIC_URL + the target as received (+ a POST's
  /// form parameters), when TWILIO_AUTH_TOKEN is set.
  bool signed_by_twilio(const lws_adapter::http_request& request, const twilio::form_parameters& fields) const;
  lws_adapter::http_response fallback_twiml() const;
  lws_adapter::http_response liveness(const lws_adapter::server* server) const;
  lws_adapter::http_response readiness(const lws_adapter::server* server) const;
  lws_adapter::http_response metrics(const lws_adapter::server* server, const lws_adapter::http_request& request) const;
  lws_adapter::http_response operator_route(const lws_adapter::http_request& request);
  void log(lws_adapter::log_level level, const std::string& line) const {
    if (log_) log_(level, line);
  }

  /// The HTTP client the agents' tools use: the server once attached.
  class server_fetcher final : public fetcher {
   public:
    explicit server_fetcher(const std::atomic<lws_adapter::server*>& server) : server_(server) {}
    void fetch(fetch_request request, fetch_callback done) override;

   private:
    const std::atomic<lws_adapter::server*>& server_;
  };

  settings settings_;
  std::atomic<lws_adapter::server*> server_{nullptr};
  std::atomic<bool> stop_announced_{false};
  lws_adapter::log_function log_;
  lws_adapter::record_function records_;
  // The business line: agent profiles (swapped whole on reload), tools over
  // HTTP, and what Twilio does after each call's stream.
  mutable std::mutex profiles_mutex_;
  std::shared_ptr<const service::profile_set> profiles_;
  service::disposition_book dispositions_;
  service::disposition_wait disposition_wait_;
  service::tool_metrics tool_metrics_;
  server_fetcher http_{server_};
  service::agent_settings agent_;
  std::atomic<std::uint64_t> trace_counter_{0};
  // The operator's view: records, live events, the calls API.
  std::unique_ptr<service::call_store> store_;
  service::calls_api_options api_;
  service::event_hub hub_;
  std::unique_ptr<service::events_webhook> webhook_;
  std::unique_ptr<service::work_queue> reads_;
  std::thread keepalive_;  ///< pings event streams so that a client that left is noticed
  std::mutex keepalive_mutex_;
  std::condition_variable keepalive_wake_;
  bool stopping_ = false;
  std::unique_ptr<outbound_routes> outbound_;  ///< null: outbound calls off
};

}  // namespace rtb::server_app
