// Time as the core sees it: a value passed in by the caller, never read from a clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace rtb {

/// The clock the shell reads once per input. Machines only ever receive its values.
using clock = std::chrono::steady_clock;
/// A point in time. Inputs must carry non-decreasing timestamps; a machine that
/// receives an earlier one treats it as equal to the latest it has seen.
using timestamp = clock::time_point;
using duration = clock::duration;

/// Whole milliseconds between two timestamps (floor, never negative).
constexpr std::int64_t elapsed_ms(timestamp from, timestamp to) noexcept {
  if (to <= from) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

}  // namespace rtb
