#include "server/outbound_settings.hpp"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "realtime_bridge/loopback.hpp"
#include "realtime_bridge/service/outbound_requests.hpp"

namespace rtb::server_app {
namespace {

bool sid_with_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() != 34 || !s.starts_with(prefix)) return false;
  for (const char c : s.substr(2))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

/// https://host[:port] (no path), or http:// to a loopback host.
bool usable_api_base(std::string_view url) {
  std::string_view host;
  bool secure = false;
  if (url.starts_with("https://")) {
    host = url.substr(8);
    secure = true;
  } else if (url.starts_with("http://")) {
    host = url.substr(7);
  } else {
    return false;
  }
  if (host.ends_with('/')) host.remove_suffix(1);
  if (host.empty() || host.find_first_of("/?#@ ") != std::string_view::npos) return false;
  if (secure) return true;
  if (host.starts_with('[')) return host.starts_with("[::1]");
  return is_loopback_host(host.substr(0, host.find(':')));
}

}  // namespace

std::optional<error> load_outbound(const raw_setting& value, const bad_setting& bad, outbound_settings& out) {
  if (const std::string& v = value("TWILIO_ACCOUNT_SID"); !v.empty()) {
    if (!sid_with_prefix(v, "AC")) return bad("TWILIO_ACCOUNT_SID", "an account SID: AC and 32 hex digits");
    out.account_sid = v;
  }
  if (const std::string& v = value("TWILIO_API_KEY_SID"); !v.empty()) {
    if (!sid_with_prefix(v, "SK")) return bad("TWILIO_API_KEY_SID", "an API key SID: SK and 32 hex digits");
    out.api_key_sid = v;
  }
  out.api_key_secret = value("TWILIO_API_KEY_SECRET");
  if (out.api_key_sid.empty() != out.api_key_secret.empty())
    return error{errc::invalid_config, "TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET go together: set both or neither"};
  if (const std::string& v = value("TWILIO_API_BASE"); !v.empty()) {
    if (!usable_api_base(v))
      return bad("TWILIO_API_BASE", "an https:// origin without a path (http:// only to a loopback host)");
    out.api_base = v.ends_with('/') ? v.substr(0, v.size() - 1) : v;
  }
  if (const std::string& v = value("TWILIO_FROM"); !v.empty()) {
    if (!service::is_e164_number(v)) return bad("TWILIO_FROM", "an E.164 phone number (+ and 8 to 15 digits)");
    out.from = v;
  }
  if (const std::string& v = value("OUTBOUND_CALLS_PER_SECOND"); !v.empty()) {
    double d = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc{} || end != v.data() + v.size() || !std::isfinite(d) || d < 0.01 || d > 100)
      return bad("OUTBOUND_CALLS_PER_SECOND", "a number of calls per second from 0.01 to 100");
    out.calls_per_second = d;
  }
  if (const std::string& v = value("OUTBOUND_MAX_CONCURRENT"); !v.empty()) {
    int n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > 10'000)
      return bad("OUTBOUND_MAX_CONCURRENT", "a number of calls from 1 to 10000");
    out.max_concurrent = n;
  }
  return std::nullopt;
}

std::optional<error> check_outbound(const outbound_settings& o, bool has_auth_token, bool has_public_url,
                                    bool has_admin_token) {
  if (!o.enabled()) {
    if (!o.api_key_sid.empty() || !o.from.empty())
      return error{errc::invalid_config,
                   "outbound settings are given but TWILIO_ACCOUNT_SID is not: set it to place outbound calls"};
    return std::nullopt;
  }
  if (!has_auth_token && o.api_key_sid.empty())
    return error{errc::invalid_config,
                 "TWILIO_ACCOUNT_SID needs TWILIO_AUTH_TOKEN, or an API key pair (TWILIO_API_KEY_SID and "
                 "TWILIO_API_KEY_SECRET), to place calls"};
  if (!has_public_url)
    return error{errc::invalid_config,
                 "TWILIO_ACCOUNT_SID needs PUBLIC_URL: an answered call connects to its stream and Twilio posts the "
                 "call's progress to it"};
  if (!has_admin_token)
    return error{errc::invalid_config,
                 "TWILIO_ACCOUNT_SID needs ADMIN_TOKEN: outbound calls and campaigns are requested through the API"};
  return std::nullopt;
}

std::vector<std::string> describe_outbound(const outbound_settings& o) {
  const outbound_settings d;
  std::vector<std::string> lines;
  lines.push_back(o.account_sid.empty() ? "TWILIO_ACCOUNT_SID=(not set: no outbound calls)"
                                        : "TWILIO_ACCOUNT_SID=" + o.account_sid);
  lines.push_back(o.api_key_sid.empty() ? "TWILIO_API_KEY_SID=(not set)" : "TWILIO_API_KEY_SID=" + o.api_key_sid);
  lines.push_back(fmt::format("TWILIO_API_KEY_SECRET={}", o.api_key_secret.empty() ? "(not set)" : "(set)"));
  lines.push_back(fmt::format("TWILIO_API_BASE={}{}", o.api_base, o.api_base == d.api_base ? " (default)" : ""));
  lines.push_back(o.from.empty() ? "TWILIO_FROM=(not set)" : "TWILIO_FROM=" + o.from);
  lines.push_back(fmt::format("OUTBOUND_CALLS_PER_SECOND={}{}", o.calls_per_second,
                              o.calls_per_second == d.calls_per_second ? " (default)" : ""));
  lines.push_back(fmt::format("OUTBOUND_MAX_CONCURRENT={}{}", o.max_concurrent,
                              o.max_concurrent == d.max_concurrent ? " (default)" : ""));
  return lines;
}

}  // namespace rtb::server_app
