// What the outbound API accepts (docs/server.md, "Outbound calls and
// campaigns"): one call (POST /api/calls) or a campaign (POST /api/campaigns),
// parsed and checked. A campaign-level mistake refuses the request with a
// message naming the field; a bad number is reported for its entry and the
// campaign goes on without it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"
#include "realtime_bridge/service/calling_window.hpp"
#include "realtime_bridge/service/dialer.hpp"

namespace rtb::service {

/// + then 8 to 15 digits, the first not 0 (ITU-T E.164).
bool is_e164_number(std::string_view s) noexcept;

/// Answering-machine detection for a call or a campaign.
struct machine_settings {
  std::string detection;                     ///< "" (off), "Enable" or "DetectMessageEnd"
  std::optional<machine_policy> on_machine;  ///< none: the agent's (else hang up)
  std::string voicemail_message;             ///< leave_message: what is said after the beep
};

struct outbound_call_request {
  std::string to;
  std::string from;   ///< "": TWILIO_FROM
  std::string agent;  ///< "": the default agent
  call_variables variables;
  machine_settings machine;
  int ring_timeout_seconds = 0;  ///< 0: Twilio's default (60)
};

/// {"to":"+1…","from":"+1…","agent":"reminders","variables":{"name":"Ann"},
///  "machine_detection":"Enable","on_machine":"hang_up","voicemail_message":"…","ring_timeout_seconds":30}
[[nodiscard]] result<outbound_call_request> parse_outbound_call(std::string_view json);

struct campaign_number {
  std::string to;
  call_variables variables;
  std::string error;  ///< not empty: the entry is invalid, and why
};

struct window_request {
  std::string time_zone = "UTC";
  std::string start = "09:00";
  std::string end = "20:00";
  std::vector<std::string> days;  ///< empty: every day
};

struct campaign_request {
  std::string name;
  std::string agent;
  std::string from;
  int max_concurrent = 1;
  double calls_per_second = 1;
  std::optional<window_request> window;
  retry_rule busy;
  retry_rule no_answer;
  machine_settings machine;
  int ring_timeout_seconds = 0;
  std::vector<campaign_number> numbers;
};

/// {"name":"…","agent":"…","from":"+1…","max_concurrent":5,"calls_per_second":2,
///  "window":{"time_zone":"America/New_York","start":"09:00","end":"20:00","days":["mon",…]},
///  "retry":{"busy":{"after_minutes":10,"max_retries":2},"no_answer":{"after_seconds":600,"max_retries":1}},
///  "machine_detection":"DetectMessageEnd","on_machine":"leave_message","voicemail_message":"…",
///  "numbers":["+1…", {"to":"+1…","variables":{"name":"Ann"}}, …]}
/// `numbers_required` false: the stored settings, which have none.
[[nodiscard]] result<campaign_request> parse_campaign_request(std::string_view json, bool numbers_required = true);
/// The request without its numbers, as JSON parse_campaign_request() reads back.
std::string campaign_settings_json(const campaign_request& r);
/// The window the request describes, its time zone loaded from `zoneinfo_dir`.
[[nodiscard]] result<calling_window> make_window(const window_request& w,
                                                 const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

/// Variables as a JSON object of strings, and back.
std::string variables_json(const call_variables& vars);
[[nodiscard]] result<call_variables> parse_variables_json(std::string_view json);

}  // namespace rtb::service
