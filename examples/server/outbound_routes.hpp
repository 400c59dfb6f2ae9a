// The server's routes for outbound calls and campaigns, around the service
// layer's outbound_service (realtime_bridge/service/outbound.hpp):
//
//   POST /api/calls                              one call (bearer ADMIN_TOKEN)
//   GET|POST /api/campaigns, GET /api/campaigns/{id}, POST /api/campaigns/{id}/pause|resume|cancel
//   POST /twilio/call-status, POST /twilio/amd   Twilio's callbacks (X-Twilio-Signature checked)
//
// The application (app.cpp) asks these routes first; what they do not own
// goes on to its own routes (GET /api/calls stays the calls API).
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"
#include "realtime_bridge/service/campaign_store.hpp"
#include "realtime_bridge/service/outbound.hpp"
#include "server/settings.hpp"

namespace rtb::server_app {

class outbound_routes {
 public:
  /// A campaign of a few thousand numbers fits in a request body this large.
  static constexpr std::size_t max_body_bytes = 1024 * 1024;

  /// Opens the campaign store (DATABASE_URL's database; none with
  /// DATABASE_URL=off: single calls only). Null when outbound calls are off
  /// (no TWILIO_ACCOUNT_SID).
  [[nodiscard]] static result<std::unique_ptr<outbound_routes>> create(const settings& s,
                                                                       lws_adapter::log_function log);
  ~outbound_routes();
  outbound_routes(const outbound_routes&) = delete;
  outbound_routes& operator=(const outbound_routes&) = delete;

  /// The server (its HTTP client and timers) is up: campaigns a previous run
  /// left are resumed. nullptr: the server stopped; everything in flight is
  /// dropped (the store keeps what was written) before it is destroyed.
  void attach(lws_adapter::server* server);
  /// An agent's profile by name, for its answering-machine policy.
  void set_agent_lookup(std::function<std::optional<service::agent_profile>(std::string_view)> find);

  /// This route's answer, or nullopt when the request is not one of these routes.
  std::optional<lws_adapter::http_response> on_http(const lws_adapter::http_request& request);
  /// Answers a request on_http() deferred; false when it is not one of ours.
  bool on_pending(const lws_adapter::pending_response& pending, const lws_adapter::http_request& request);

 private:
  outbound_routes(settings s, std::unique_ptr<service::campaign_store> store, lws_adapter::log_function log);
  bool owns_api(const lws_adapter::http_request& request) const;
  bool signed_by_twilio(const lws_adapter::http_request& request) const;

  settings settings_;
  std::unique_ptr<service::campaign_store> store_;
  lws_adapter::log_function log_;
  std::function<std::optional<service::agent_profile>(std::string_view)> find_agent_;
  std::mutex mutex_;  ///< guards service_ (attach vs requests)
  std::shared_ptr<service::outbound_service> service_;
};

}  // namespace rtb::server_app
