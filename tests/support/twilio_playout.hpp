// Twilio's side of playback, modelled in memory for tests and test peers.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/time.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb::test {

/// How Twilio plays what a bridge sends (twilio.md §1.4, §5): audio plays in
/// order at 8 µ-law bytes per ms, starting `start_delay` after it arrives when
/// nothing is playing; a mark is echoed when the audio queued before it has
/// played, at once if nothing is buffered; a clear drops all buffered audio
/// and echoes every pending mark at once. Records the ground truth of what was
/// heard.
class playout_model {
 public:
  explicit playout_model(std::chrono::microseconds start_delay = std::chrono::microseconds(0))
      : start_delay_(start_delay) {}

  void media(std::uint64_t bytes, timestamp now);
  void mark(std::string name, timestamp now);
  void clear(timestamp now);

  std::optional<timestamp> next_echo() const;
  /// Marks whose echo is due at or before `now`, in order.
  std::vector<std::string> take_echoes(timestamp now);

  /// µ-law bytes played since the last clear (or the start).
  std::uint64_t played_since_clear(timestamp now) const;
  /// All bytes ever played.
  std::uint64_t played_total(timestamp now) const;
  bool playing(timestamp now) const { return busy_until_ > now; }
  /// For each clear: ms of audio played since the previous clear.
  const std::vector<std::int64_t>& heard_at_clears() const { return heard_at_clears_; }

 private:
  struct chunk {
    timestamp start;
    std::uint64_t bytes;
  };
  struct pending_mark {
    std::string name;
    timestamp due;
  };
  static std::uint64_t played_of(const std::vector<chunk>& chunks, timestamp now);

  std::chrono::microseconds start_delay_;
  timestamp busy_until_{};
  std::vector<chunk> chunks_;        // since the last clear
  std::uint64_t played_before_ = 0;  // bytes played in earlier generations
  std::deque<pending_mark> pending_;
  std::vector<std::int64_t> heard_at_clears_;
};

/// A transport standing in for Twilio's end of the media stream. It checks
/// every message against Twilio's accepted shapes (only media, mark and clear;
/// exactly their fields; the stream's streamSid) and feeds a playout_model.
class simulated_twilio final : public transport {
 public:
  explicit simulated_twilio(std::function<timestamp()> clock,
                            std::chrono::microseconds start_delay = std::chrono::microseconds(0))
      : playout(start_delay), clock_(std::move(clock)) {}

  void send_text(std::string_view message) override;
  void close(std::uint16_t code, std::string_view reason) override;

  std::string expected_stream_sid = "MZ1";
  playout_model playout;
  std::vector<std::string> sent;        ///< every message, as received
  std::vector<std::string> violations;  ///< messages Twilio would reject (31951)
  std::vector<std::string> media_payloads;
  int clears = 0;
  std::optional<std::pair<std::uint16_t, std::string>> closed;

 private:
  std::function<timestamp()> clock_;
};

}  // namespace rtb::test
