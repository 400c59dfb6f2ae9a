// The server's settings for outbound calls and campaigns (docs/server.md,
// "Outbound calls and campaigns"): Twilio's REST credentials, the caller id
// and the process-wide pacing. Declared and checked here, read by
// load_settings() with every other setting (same flags, same messages).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/result.hpp"

namespace rtb::server_app {

struct outbound_settings {
  std::string account_sid;     // TWILIO_ACCOUNT_SID (AC…): turns outbound calls on
  std::string api_key_sid;     // TWILIO_API_KEY_SID (SK…): instead of the auth token
  std::string api_key_secret;  // TWILIO_API_KEY_SECRET (secret)
  std::string api_base = "https://api.twilio.com";  // TWILIO_API_BASE
  std::string from;                                 // TWILIO_FROM: the default caller id (E.164)
  double calls_per_second = 1;                      // OUTBOUND_CALLS_PER_SECOND (the account's CPS)
  int max_concurrent = 50;                          // OUTBOUND_MAX_CONCURRENT: the most a campaign may ask for

  bool enabled() const noexcept { return !account_sid.empty(); }
};

struct outbound_setting_def {
  std::string_view env;
  std::string_view help;
};

inline constexpr outbound_setting_def outbound_setting_defs[] = {
    {"TWILIO_ACCOUNT_SID",
     "Twilio account SID (AC + 32 hex digits): turns on outbound calls and campaigns (POST /api/calls, "
     "/api/campaigns), authenticated with TWILIO_AUTH_TOKEN or an API key pair. Needs PUBLIC_URL and ADMIN_TOKEN. "
     "Default: off."},
    {"TWILIO_API_KEY_SID", "Twilio API key SID (SK + 32 hex digits) to place calls with instead of the auth token."},
    {"TWILIO_API_KEY_SECRET", "The API key's secret (secret; never printed)."},
    {"TWILIO_API_BASE",
     "Twilio's REST API origin (https://; http:// only to a loopback host, for test fakes). Default "
     "https://api.twilio.com."},
    {"TWILIO_FROM", "Caller id of outbound calls that name none: a Twilio number in E.164 (+ and 8-15 digits)."},
    {"OUTBOUND_CALLS_PER_SECOND",
     "Outbound calls started per second by the whole process, campaigns and single calls together (Twilio's "
     "account limit, 1 by default), 0.01-100. Default 1."},
    {"OUTBOUND_MAX_CONCURRENT", "The highest max_concurrent a campaign may ask for, 1-10000. Default 50."},
};

inline constexpr std::string_view outbound_secret_names[] = {"TWILIO_API_KEY_SECRET"};

/// The raw value of a setting ("" when not set) and the error for a bad one
/// ("NAME must be <requirement>, not '…'"), from load_settings().
using raw_setting = std::function<const std::string&(std::string_view env)>;
using bad_setting = std::function<error(std::string_view env, std::string_view requirement)>;

/// Reads and checks each outbound setting; the first bad one is returned.
std::optional<error> load_outbound(const raw_setting& value, const bad_setting& bad, outbound_settings& out);

/// What outbound calls need of the other settings (checked once all are
/// read): a credential, PUBLIC_URL (callbacks and the stream), ADMIN_TOKEN (the API).
std::optional<error> check_outbound(const outbound_settings& o, bool has_auth_token, bool has_public_url,
                                    bool has_admin_token);

/// describe()'s lines for these settings (the secret only "(set)").
std::vector<std::string> describe_outbound(const outbound_settings& o);

}  // namespace rtb::server_app
