// Twilio's REST API for calls (shared/protocol/twilio-rest.md): create a
// call, update it (hang up, new TwiML), fetch its status. Non-blocking, on
// any rtb::fetcher (the lws adapter's HTTP client: no thread per request);
// retries wait on an rtb::scheduler (timers on the event loop, no sleeping).
//
// - Basic auth with the account SID and auth token, or an API key pair
//   (SK… and its secret); the account SID is always in the path. The
//   Authorization header is the only place the secret goes: never logged,
//   never in an error message.
// - Twilio's errors ({"code":21211,"message":…,"more_info":…,"status":400})
//   are parsed and surfaced with their code.
// - 429 (Twilio's 20429: the request was not processed) and connection
//   failures are retried with exponential backoff; 5xx and timeouts too,
//   except for a create that asks not to (a campaign's: after a 5xx or a
//   timeout the call may exist, and Twilio has no idempotency key, so it is
//   reported as refusal::unknown instead of risking a second call). Other
//   4xx are never retried.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realtime_bridge/fetch.hpp"
#include "realtime_bridge/scheduler.hpp"
#include "realtime_bridge/service/dialer.hpp"

namespace rtb::service {

struct twilio_credentials {
  std::string account_sid;  ///< AC…: in every path
  std::string username;     ///< AC… (with the auth token) or SK… (an API key)
  std::string password;     ///< the auth token or the key's secret: never logged
};

struct twilio_rest_options {
  /// https://api.twilio.com; plain http:// only to a loopback host (test fakes).
  std::string api_base = "https://api.twilio.com";
  twilio_credentials credentials;
  int max_attempts = 4;  ///< the first try included
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{8000};
  std::chrono::milliseconds timeout{15'000};  ///< per attempt
};

using form_fields = std::vector<std::pair<std::string, std::string>>;

struct create_call_params {
  std::string to;
  std::string from;
  std::string twiml;  ///< inline TwiML (≤ 4000 characters)
  std::string status_callback;
  std::vector<std::string> status_callback_events = {"initiated", "ringing", "answered", "completed"};
  std::string machine_detection;  ///< "", "Enable" or "DetectMessageEnd"
  std::string async_amd_callback;  ///< with machine_detection: AsyncAmd=true and this callback
  int ring_timeout_seconds = 0;    ///< Timeout; 0: Twilio's default (60)
};

/// The fields of a create request (PascalCase; StatusCallbackEvent repeated).
form_fields create_call_form(const create_call_params& p);
/// application/x-www-form-urlencoded: everything but A-Z a-z 0-9 - . _ ~ percent-encoded.
std::string form_encode(const form_fields& fields);
/// "Basic " + base64(user:password).
std::string basic_authorization(std::string_view user, std::string_view password);

/// A Twilio error, or what went wrong on the way.
struct twilio_error {
  int http_status = 0;  ///< 0: no response
  int code = 0;         ///< Twilio's error code (20003, 21211, 20429…), 0 if none
  std::string message;
  std::string more_info;
  fetch_error transport = fetch_error::none;
  /// "Twilio 21211 (HTTP 400): The 'To' number … (https://www.twilio.com/docs/errors/21211)".
  std::string describe() const;
};
/// Twilio's error JSON of a response with status `http_status`; a body that is
/// not Twilio's shape gives code 0 and the body's start as the message.
twilio_error parse_twilio_error(int http_status, std::string_view body);

/// The parts of a Call resource the bridge uses.
struct call_resource {
  std::string sid;
  std::string status;  ///< queued, ringing, in-progress, completed, busy, no-answer, failed, canceled
  std::string answered_by;
  std::string to;
  std::string from;
};
[[nodiscard]] result<call_resource> parse_call_resource(std::string_view body);

/// What to do with a response: done, retry, or give up (and what that means).
struct rest_verdict {
  bool ok = false;
  bool retry = false;
  refusal what = refusal::not_placed;  ///< when not ok: whether a create may have placed the call
};
/// `create`: the request creates a call (a 5xx or timeout may have); with
/// `retry_uncertain` false such a create is not retried.
rest_verdict judge(const fetch_result& r, bool create, bool retry_uncertain) noexcept;
/// The pause before attempt `attempt` + 1 (attempt ≥ 1): first_backoff doubled each time, capped.
std::chrono::milliseconds backoff_after(int attempt, const twilio_rest_options& o) noexcept;

struct rest_result {
  bool ok = false;
  call_resource call;  ///< when ok
  twilio_error error;  ///< when not
  refusal what = refusal::not_placed;
  int attempts = 0;
};
using rest_callback = std::function<void(const rest_result&)>;

class twilio_rest_client {
 public:
  /// `http` and `timers` must outlive every request (their callbacks included).
  twilio_rest_client(fetcher& http, scheduler& timers, twilio_rest_options options);

  /// POST /2010-04-01/Accounts/{sid}/Calls.json. `retry_uncertain`: retry
  /// after a 5xx or a timeout too (the call may then be placed twice).
  void create_call(const create_call_params& params, bool retry_uncertain, rest_callback done);
  /// POST …/Calls/{CallSid}.json with `fields` (Twiml, Status=completed…).
  void update_call(std::string_view call_sid, const form_fields& fields, rest_callback done);
  /// GET …/Calls/{CallSid}.json.
  void fetch_call(std::string_view call_sid, rest_callback done);

  /// Paces the retries of creates with the caller's own pacing (the account's
  /// calls per second hold for retries too): called with the backoff before
  /// each retry of a create, it returns the pause to take (at least that) and
  /// reserves that moment. Set before the first request.
  using pacer = std::function<std::chrono::milliseconds(std::chrono::milliseconds backoff)>;
  void set_create_pacer(pacer p) { pacer_ = std::move(p); }

  const twilio_rest_options& options() const noexcept { return options_; }
  /// …/2010-04-01/Accounts/{sid}/Calls.json (or /Calls/{CallSid}.json).
  std::string calls_url(std::string_view call_sid = {}) const;

 private:
  void send(fetch_request request, bool create, bool retry_uncertain, rest_callback done);

  fetcher& http_;
  scheduler& timers_;
  twilio_rest_options options_;
  std::string authorization_;
  pacer pacer_;
};

}  // namespace rtb::service
