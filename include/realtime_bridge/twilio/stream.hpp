// The Twilio side of a call: awaiting start -> streaming -> stopped.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/time.hpp"
#include "realtime_bridge/timer_table.hpp"
#include "realtime_bridge/twilio/events.hpp"

namespace rtb::twilio {

enum class stream_phase { awaiting_start, streaming, stopped };

/// What the bridge should do with one Twilio event (or a timer).
enum class stream_verdict {
  ignore,               ///< nothing to do (connected, unknown events)
  started,              ///< `start` accepted: the stream ids are now known
  forward_audio,        ///< caller audio to pass on to the AI
  dropped_early_media,  ///< media before `start`: counted and dropped
  dropped_late_event,   ///< media, mark or dtmf after `stop`: counted and dropped
  mark_echoed,          ///< a mark came back: hand it to playout tracking
  digit,                ///< DTMF: tell the host
  stopped,              ///< `stop`: the caller hung up or the stream ended
  rejected_duplicate_start,
  rejected_media_format,  ///< `start` announced audio we cannot pass through
  start_timed_out,        ///< no `start` within the configured time
  went_idle,              ///< no media for the configured time while streaming
};

std::string_view to_string(stream_verdict v) noexcept;

struct stream_timeouts {
  /// How long after the WebSocket opened `start` must arrive.
  std::chrono::milliseconds start{10'000};
  /// Media silence (no frames at all) that means the stream is dead; Twilio
  /// sends a frame every 20 ms even when the caller says nothing. 0 = off.
  std::chrono::milliseconds media_idle{20'000};
  friend bool operator==(const stream_timeouts&, const stream_timeouts&) = default;
};

struct stream_counters {
  std::uint64_t media_frames = 0;         ///< accepted while streaming
  std::uint64_t media_bytes = 0;          ///< µ-law bytes in accepted frames
  std::uint64_t early_media_dropped = 0;  ///< before `start`
  std::uint64_t late_events_dropped = 0;  ///< after `stop`
  std::uint64_t marks = 0;
  std::uint64_t digits = 0;
  std::uint64_t duplicate_starts = 0;
  std::uint64_t unknown_events = 0;
};

struct stream_parameter {
  std::string name;
  std::string value;
  friend bool operator==(const stream_parameter&, const stream_parameter&) = default;
};

/// Pure state machine over Twilio events. It reads no clock and sends nothing:
/// it classifies each event, keeps the stream's identity, and counts.
///
///   awaiting_start --start--> streaming --stop--> stopped
///   awaiting_start --(start deadline)--> stopped (start_timed_out)
///   streaming --(no media for media_idle)--> stopped (went_idle)
class stream {
 public:
  stream(stream_timeouts timeouts, timestamp now);

  [[nodiscard]] stream_verdict handle(const event& ev, timestamp now);
  [[nodiscard]] std::optional<timestamp> next_timeout() const noexcept;
  /// Safe to call spuriously; returns `ignore` when nothing expired.
  [[nodiscard]] stream_verdict handle_timeout(timestamp now);

  stream_phase phase() const noexcept { return phase_; }
  bool streaming() const noexcept { return phase_ == stream_phase::streaming; }
  std::string_view stream_sid() const noexcept { return stream_sid_; }
  std::string_view call_sid() const noexcept { return call_sid_; }
  std::string_view account_sid() const noexcept { return account_sid_; }
  const std::vector<stream_parameter>& custom_parameters() const noexcept { return parameters_; }
  const stream_counters& counters() const noexcept { return counters_; }

 private:
  enum class timer { start_deadline, media_idle, count_ };

  stream_verdict on_start(const start& s, timestamp now);

  stream_timeouts timeouts_;
  stream_phase phase_ = stream_phase::awaiting_start;
  timer_table<timer> timers_;
  timestamp last_media_{};
  std::string stream_sid_;
  std::string call_sid_;
  std::string account_sid_;
  std::vector<stream_parameter> parameters_;
  stream_counters counters_;
};

}  // namespace rtb::twilio
