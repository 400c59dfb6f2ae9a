// Session rollover timing (see session_rollover.hpp for the table).
#include "realtime_bridge/session_rollover.hpp"

namespace rtb {

result<void> validate(const rollover_config& c) {
  if (c.after.count() == 0) return {};
  if (c.after < std::chrono::seconds(1) || c.after >= c.switch_by || c.switch_by > std::chrono::seconds(3590))
    return error{errc::invalid_config,
                 "session rollover: 'after' must be 0 (off) or at least 1 s and less than 'switch_by', which is at "
                 "most 3590 s"};
  return {};
}

void session_rollover::session_started(timestamp now) noexcept {
  phase_ = phase::steady;
  started_ = now;
  retry_at_.reset();
  failures_ = 0;
}

bool session_rollover::open_due(timestamp now) noexcept {
  if (!enabled() || phase_ != phase::steady || !started_ || failures_ >= max_failures) return false;
  if (now < *started_ + config_.after) return false;
  if (retry_at_ && now < *retry_at_) return false;
  if (now >= *started_ + config_.switch_by) return false;  // too late: the cap (and reconnect) will do
  phase_ = phase::opening;
  retry_at_.reset();
  return true;
}

void session_rollover::next_ready() noexcept {
  if (phase_ == phase::opening) phase_ = phase::ready;
}

void session_rollover::next_failed(timestamp now) noexcept {
  if (phase_ == phase::steady) return;
  phase_ = phase::steady;
  ++failures_;
  ++failures_total_;
  retry_at_ = now + retry_delay;
}

bool session_rollover::switch_due(timestamp now, bool turn_boundary) const noexcept {
  if (phase_ != phase::ready || !started_) return false;
  return turn_boundary || now >= *started_ + config_.switch_by;
}

void session_rollover::switched(timestamp next_started) noexcept {
  ++rollovers_;
  session_started(next_started);
}

std::optional<timestamp> session_rollover::next_timeout() const noexcept {
  if (!enabled() || !started_) return std::nullopt;
  switch (phase_) {
    case phase::steady: {
      if (failures_ >= max_failures) return std::nullopt;
      const timestamp open_at = *started_ + config_.after;
      if (retry_at_ && *retry_at_ > open_at) return *retry_at_ < *started_ + config_.switch_by ? retry_at_ : std::nullopt;
      return open_at < *started_ + config_.switch_by ? std::optional<timestamp>(open_at) : std::nullopt;
    }
    case phase::opening: return std::nullopt;  // the next session's own timeouts
    case phase::ready: return *started_ + config_.switch_by;
  }
  return std::nullopt;
}

}  // namespace rtb
