// Audio waiting for a leg that cannot take it yet, bounded by duration.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "realtime_bridge/audio.hpp"

namespace rtb {

/// A FIFO of audio entries (each with a base64 `payload` member) holding at
/// most `max_ms` of µ-law. When full, the oldest entries are dropped and
/// counted: for live speech the newest audio matters most.
template <class Entry>
class audio_hold {
 public:
  explicit audio_hold(std::int64_t max_ms)
      : max_bytes_(static_cast<std::uint64_t>(max_ms) * audio::mulaw_bytes_per_ms) {}

  /// Returns the number of entries dropped to make room (0 normally).
  std::uint64_t push(Entry e) {
    bytes_ += audio::base64_decoded_size(e.payload);
    entries_.push_back(std::move(e));
    std::uint64_t dropped = 0;
    while (bytes_ > max_bytes_ && !entries_.empty()) {
      bytes_ -= audio::base64_decoded_size(entries_.front().payload);
      entries_.pop_front();
      ++dropped;
    }
    dropped_ += dropped;
    return dropped;
  }

  /// Moves every entry, oldest first, to the end of `to`, and empties the hold.
  void release_into(std::vector<Entry>& to) {
    for (auto& e : entries_) to.push_back(std::move(e));
    entries_.clear();
    bytes_ = 0;
  }

  void clear() noexcept {
    entries_.clear();
    bytes_ = 0;
  }
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::uint64_t max_bytes_;
  std::uint64_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
  std::deque<Entry> entries_;
};

}  // namespace rtb
