// When a call reopens its OpenAI session after a failure, and when it gives up.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "realtime_bridge/openai/session.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/time.hpp"

namespace rtb {

struct reconnect_config {
  /// Attempts per outage (an outage ends when a new session is ready). 0: off,
  /// any OpenAI failure ends the call. At most 10.
  std::uint32_t attempts = 3;
  /// Every attempt of one outage must start within this long of the failure;
  /// the new sessions' connect and configure timeouts are cut to fit it.
  /// 1 to 120 s.
  std::chrono::milliseconds window{10'000};
  /// Wait before the second attempt (the first one starts at once), doubled
  /// for each further attempt. 0 to 10 s.
  std::chrono::milliseconds backoff{500};
  /// Switch input transcription on (gpt-4o-mini-transcribe) when the
  /// configuration has none, so that what the caller said can be replayed to a
  /// new session. Off: caller turns are not replayed (only the AI's, tool
  /// calls and injected texts). Costs a transcription per caller turn.
  bool transcribe_caller = true;
  friend bool operator==(const reconnect_config&, const reconnect_config&) = default;
};

[[nodiscard]] result<void> validate(const reconnect_config& c);

/// Whether a session failure is worth another session.
enum class failure_class {
  transient,  ///< the connection broke or the session expired: a new session may serve
  fatal,      ///< authentication, model, configuration: a new session would fail the same way
};

/// Transient: a closed or failed connection, a connect or configure timeout,
/// session_expired; once a session has been ready (`was_ready`). Before that
/// (the first connect, a refused upgrade, a refused configuration) every
/// failure is fatal, as are the fatal error codes (invalid_api_key,
/// model_not_found, beta_api_shape_disabled, invalid_model, quota…).
failure_class classify(const openai::session_failure& f, bool was_ready) noexcept;

/// Pure bounded-backoff policy for one call: counts attempts per outage and
/// says when the next one may start. An outage ends when a new session has
/// stayed up for a whole window: a session that keeps failing soon after
/// it is ready spends the same outage's attempts (no endless flapping).
///
///   state       input                              -> next        result
///   steady      failure                            -> failed      now (attempt 1)
///   failed      failure, attempts left and
///               retry time within the window       -> failed      now + backoff·2^(n-2)
///   failed      failure, otherwise                 -> given_up    nullopt
///   failed      recovered (a session ready)        -> recovered   (recoveries + 1)
///   recovered   failure within a window of it      -> failed      as failed above
///   recovered   failure later                      -> failed      now (a new outage, attempt 1)
class reconnect_policy {
 public:
  explicit reconnect_policy(reconnect_config config) : config_(config) {}

  /// A session failed transiently at `now`: when the next attempt may start,
  /// or nullopt to give up (no attempts left, or out of the window).
  std::optional<timestamp> on_failure(timestamp now) noexcept;
  /// A new session is ready.
  void on_recovered(timestamp now) noexcept;

  /// A failure has not been followed by a ready session yet.
  bool awaiting_recovery() const noexcept { return awaiting_; }
  /// The end of the current outage's window (none when not in one).
  std::optional<timestamp> deadline() const noexcept;
  std::uint32_t attempts_in_outage() const noexcept { return attempts_; }
  std::uint64_t total_attempts() const noexcept { return total_attempts_; }
  std::uint64_t recoveries() const noexcept { return recoveries_; }
  const reconnect_config& config() const noexcept { return config_; }

 private:
  reconnect_config config_;
  std::optional<timestamp> outage_start_;
  std::optional<timestamp> recovered_at_;
  bool awaiting_ = false;
  std::uint32_t attempts_ = 0;
  std::uint64_t total_attempts_ = 0;
  std::uint64_t recoveries_ = 0;
};

}  // namespace rtb
