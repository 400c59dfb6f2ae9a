// A running estimate of a delay on the Twilio link, from samples.
//
// barge_in keeps two (see docs/design.md, "The round trip"): the round trip
// itself, from marks Twilio echoes at once, and the round trip plus Twilio's
// start delay, from the first mark after audio sent into an empty buffer.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace rtb {

/// The median of the last `window` samples: a delay that is typical of the
/// link now. One late sample (a queue, a retransmission, a slow service loop)
/// moves it by at most one place; it follows a lasting change of the link
/// after half a window. Fixed memory; add() never allocates.
class round_trip {
 public:
  static constexpr std::size_t window = 7;

  /// Negative samples (a clock that went backwards) are ignored.
  void add(std::chrono::microseconds sample) noexcept;
  /// The median of the samples kept (the lower middle one of an even count);
  /// nothing before the first sample.
  [[nodiscard]] std::optional<std::chrono::microseconds> estimate() const noexcept;
  /// Samples added so far (kept: at most `window`).
  std::uint64_t samples() const noexcept { return count_; }

 private:
  std::array<std::chrono::microseconds, window> recent_{};
  std::uint64_t count_ = 0;
};

}  // namespace rtb
