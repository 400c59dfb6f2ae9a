// Twilio's side of playback, modelled in memory: used by the fake Twilio caller
// and by in-memory test harnesses.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/time.hpp"

namespace rtb::peers {

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
  /// When the audio received so far has played (or played out, if earlier).
  timestamp playing_until() const { return busy_until_; }
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
  static std::chrono::microseconds duration_of(std::uint64_t bytes) {
    return std::chrono::microseconds(bytes * 1000 / 8);  // 8 µ-law bytes per ms
  }

  std::chrono::microseconds start_delay_;
  timestamp busy_until_{};
  std::vector<chunk> chunks_;        // since the last clear
  std::uint64_t played_before_ = 0;  // bytes played in earlier generations
  std::deque<pending_mark> pending_;
  std::vector<std::int64_t> heard_at_clears_;
};

}  // namespace rtb::peers
