// When a call replaces its OpenAI session before the 60-minute cap.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/time.hpp"

namespace rtb {

struct rollover_config {
  /// At this session age a second session is opened beside the first, to
  /// take over at the next turn boundary. 0: off (the session expires at
  /// OpenAI's cap and the call reconnects, with a gap). Default 55 minutes.
  std::chrono::milliseconds after{3'300'000};
  /// At this age the switch happens even mid-turn (before OpenAI's 60-minute
  /// cap). More than `after`, at most 3590 s.
  std::chrono::milliseconds switch_by{3'540'000};
  friend bool operator==(const rollover_config&, const rollover_config&) = default;
};

[[nodiscard]] result<void> validate(const rollover_config& c);

/// Pure timing of session rollover, make-before-break. The call owns the
/// sessions; this machine says when to open the next one and when to switch.
///
///   phase    input                               -> next     the call
///   steady   age >= after (timer)                -> opening  opens a next session
///   opening  next ready                          -> ready
///   opening  next failed                         -> steady   retries after retry_delay (at most 3 times)
///   ready    a turn boundary, or age >= switch_by -> steady  replays, switches, closes the old one
///   ready    next failed                         -> steady   as above
///   any      a new session started (reconnect)   -> steady   age from now
class session_rollover {
 public:
  enum class phase { steady, opening, ready };
  static constexpr std::chrono::milliseconds retry_delay{30'000};
  static constexpr std::uint32_t max_failures = 3;

  explicit session_rollover(rollover_config config) : config_(config) {}

  /// The current session was asked for at `now` (its age starts).
  void session_started(timestamp now) noexcept;
  /// The timer: true when the next session should be opened now.
  [[nodiscard]] bool open_due(timestamp now) noexcept;
  void next_ready() noexcept;
  void next_failed(timestamp now) noexcept;
  /// Whether to switch now: the next session is ready and this is a turn
  /// boundary, or the session is at switch_by.
  [[nodiscard]] bool switch_due(timestamp now, bool turn_boundary) const noexcept;
  /// The next session took over; it was asked for at `next_started`.
  void switched(timestamp next_started) noexcept;

  std::optional<timestamp> next_timeout() const noexcept;
  phase current_phase() const noexcept { return phase_; }
  bool enabled() const noexcept { return config_.after.count() > 0; }
  std::uint64_t rollovers() const noexcept { return rollovers_; }
  std::uint64_t failures() const noexcept { return failures_total_; }

 private:
  rollover_config config_;
  phase phase_ = phase::steady;
  std::optional<timestamp> started_;
  std::optional<timestamp> retry_at_;
  std::uint32_t failures_ = 0;
  std::uint64_t failures_total_ = 0;
  std::uint64_t rollovers_ = 0;
};

}  // namespace rtb
