#include "realtime_bridge/round_trip.hpp"

#include <algorithm>

namespace rtb {

void round_trip::add(std::chrono::microseconds sample) noexcept {
  if (sample.count() < 0) return;
  recent_[count_ % window] = sample;
  ++count_;
}

std::optional<std::chrono::microseconds> round_trip::estimate() const noexcept {
  if (count_ == 0) return std::nullopt;
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(count_, window));
  std::array<std::chrono::microseconds, window> sorted = recent_;
  std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n));
  return sorted[(n - 1) / 2];
}

}  // namespace rtb
