// Outbound calls and campaigns: the shell around the dialer model
// (dialer.hpp). It places calls through Twilio's REST API (twilio_rest.hpp),
// keeps campaigns in the store (campaign_store.hpp), paces them with timers
// on the server's event loops (rtb::scheduler), and takes Twilio's status and
// answering-machine callbacks. The HTTP side (routes, signatures, the admin
// token) is the host's: it hands requests here.
//
//   POST /api/calls                        one call now (201 with its sid, or 502 with Twilio's error)
//   POST /api/campaigns                    a campaign (201; bad numbers reported per entry)
//   GET  /api/campaigns                    the latest campaigns
//   GET  /api/campaigns/{id}               progress and per-number outcomes
//   POST /api/campaigns/{id}/pause|resume|cancel
//   POST /twilio/call-status               Twilio's status callbacks (signed; the host checks)
//   POST /twilio/amd                       answering-machine detection's verdicts (signed)
//
// Threads: one worker of its own runs store reads and writes, in order (the
// attempt marker is committed before Twilio is asked); the model sits behind
// a mutex held only for its (pure, quick) decisions; REST requests and timers
// run on the server's service threads. Nothing here blocks a service thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realtime_bridge/fetch.hpp"
#include "realtime_bridge/scheduler.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"
#include "realtime_bridge/service/calls_api.hpp"
#include "realtime_bridge/service/campaign_store.hpp"
#include "realtime_bridge/service/dialer.hpp"
#include "realtime_bridge/service/twilio_rest.hpp"
#include "realtime_bridge/twilio/twiml.hpp"

namespace rtb::service {

struct outbound_options {
  twilio_rest_options rest;
  std::string from;  ///< TWILIO_FROM: the caller id when a request names none
  /// The public origin Twilio reaches (PUBLIC_URL): status callbacks go to
  /// <callback_base>/twilio/call-status, verdicts to <callback_base>/twilio/amd.
  std::string callback_base;
  std::string stream_url;   ///< wss://…/media-stream: where an answered call is connected
  twilio::fallback fallback;  ///< what Twilio does if the stream ends early
  /// <Connect action>: where Twilio asks what to do once the stream ended
  /// (the agent's hang-up or transfer); empty: the fallback follows the stream.
  std::string action_url;
  dialer::options dialing;    ///< the process-wide rate (Twilio's CPS) and the rest
  int max_concurrent_limit = 0;  ///< the most a campaign may ask for (0: no limit)
  /// The agent's profile (a copy: profiles may be reloaded meanwhile), for
  /// its answering-machine policy; none, or no function: hang up.
  std::function<std::optional<agent_profile>(std::string_view agent)> find_agent;
  std::string zoneinfo_dir = "/usr/share/zoneinfo";
  /// Where the service's log lines go (none carries a secret). Default: nowhere.
  std::function<void(std::string_view)> log;
};

/// The TwiML an outbound call runs once answered: <Connect><Stream> to
/// `stream_url` with the parameters agent, direction=outbound, From, To and
/// one per variable, then the fallback (or, with `action_url`, <Connect action>).
std::string outbound_twiml(std::string_view stream_url, std::string_view agent, std::string_view from,
                           std::string_view to, const call_variables& variables, const twilio::fallback& fallback,
                           std::string_view action_url = {});

class outbound_service {
 public:
  static constexpr std::string_view status_path = "/twilio/call-status";
  static constexpr std::string_view amd_path = "/twilio/amd";

  /// `store` may be null: single calls work, campaigns answer 503. `http` and
  /// `timers` (the server) must outlive this object's use: destroy it after
  /// the server stopped and before it is destroyed.
  outbound_service(outbound_options options, campaign_store* store, fetcher& http, scheduler& timers);
  ~outbound_service();  ///< finishes the store writes already queued
  outbound_service(const outbound_service&) = delete;
  outbound_service& operator=(const outbound_service&) = delete;

  /// Resumes the campaigns a previous run left running or paused.
  void start();

  /// True for the API requests above (not the callbacks).
  static bool handles(std::string_view method, std::string_view path) noexcept;
  /// Answers one API request (the bearer token already checked), exactly
  /// once, later, from another thread.
  void handle(const api_request& request, std::function<void(api_response)> respond);

  using form = std::vector<std::pair<std::string, std::string>>;
  /// A status callback (its signature already checked): `query` is the
  /// callback URL's query (which campaign entry and attempt), `body` its form.
  void status_callback(const form& query, const form& body);
  /// An answering-machine verdict (AsyncAmdStatusCallback): the policy is applied.
  void amd_callback(const form& query, const form& body);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace rtb::service
