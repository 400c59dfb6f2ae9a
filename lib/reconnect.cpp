// Reconnect policy: which failures are worth a new session, and the bounded
// backoff between attempts (see reconnect.hpp for the transition table).
#include "realtime_bridge/reconnect.hpp"

#include "realtime_bridge/openai/errors.hpp"

#include <array>
#include <string_view>

namespace rtb {
namespace {

// The session ran out of time, or the server had a problem it reported: the
// next session starts afresh.
constexpr std::array<std::string_view, 2> transient_codes = {"session_expired", "server_error"};

}  // namespace

result<void> validate(const reconnect_config& c) {
  if (c.attempts > 10) return error{errc::invalid_config, "reconnect attempts must be 0 to 10"};
  if (c.window < std::chrono::seconds(1) || c.window > std::chrono::seconds(120))
    return error{errc::invalid_config, "reconnect window must be 1 to 120 s"};
  if (c.backoff.count() < 0 || c.backoff > std::chrono::seconds(10))
    return error{errc::invalid_config, "reconnect backoff must be 0 to 10 s"};
  return {};
}

failure_class classify(const openai::session_failure& f, bool was_ready) noexcept {
  if (!was_ready) return failure_class::fatal;
  for (auto c : transient_codes)
    if (f.code == c) return failure_class::transient;
  // A close whose reason names a fatal error (invalid_api_key, invalid_model…).
  if (!f.code.empty() && openai::classify_error(f.code, false) == openai::error_severity::fatal)
    return failure_class::fatal;
  using kind = openai::session_failure::kind;
  switch (f.what) {
    case kind::connect_failed:
    case kind::connect_timeout:
    case kind::configure_timeout:
    case kind::closed: return failure_class::transient;
    case kind::rejected:
      for (auto c : transient_codes)
        if (f.code == c) return failure_class::transient;
      return failure_class::fatal;
  }
  return failure_class::fatal;
}

std::optional<timestamp> reconnect_policy::deadline() const noexcept {
  if (!outage_start_) return std::nullopt;
  return *outage_start_ + config_.window;
}

std::optional<timestamp> reconnect_policy::on_failure(timestamp now) noexcept {
  const bool stable = recovered_at_ && now >= *recovered_at_ + config_.window;
  if (!outage_start_ || stable) {
    outage_start_ = now;
    attempts_ = 0;
  }
  recovered_at_.reset();
  awaiting_ = true;
  if (attempts_ >= config_.attempts) return std::nullopt;
  timestamp at = now;
  if (attempts_ > 0) {
    auto wait = config_.backoff;
    for (std::uint32_t i = 1; i < attempts_ && wait < config_.window; ++i) wait *= 2;
    at = now + wait;
  }
  if (at >= *outage_start_ + config_.window) return std::nullopt;
  ++attempts_;
  ++total_attempts_;
  return at;
}

void reconnect_policy::on_recovered(timestamp now) noexcept {
  if (!awaiting_) return;
  awaiting_ = false;
  recovered_at_ = now;
  ++recoveries_;
}

}  // namespace rtb
