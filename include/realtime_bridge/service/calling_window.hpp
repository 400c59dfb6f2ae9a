// When a campaign may call: hours of the day on some days of the week, in the
// called people's time zone ("09:00" to "20:00", Monday to Friday,
// America/New_York). Pure: the time goes in, the answer comes out.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/time_zone.hpp"

namespace rtb::service {

struct calling_window {
  time_zone zone;                      ///< UTC by default
  std::chrono::minutes start{9 * 60};  ///< local time of day the window opens
  std::chrono::minutes end{20 * 60};   ///< local time of day it closes (after start; 24:00 = midnight)
  /// Days it opens on: bit 0 = Monday … bit 6 = Sunday.
  std::uint8_t days = 0x7f;

  /// True when a call may start at `t`.
  bool open_at(std::chrono::sys_seconds t) const;
  /// `t` if the window is open then; else the next time it opens (within a
  /// week); sys_seconds::max() when no day is enabled.
  std::chrono::sys_seconds next_open(std::chrono::sys_seconds t) const;
};

/// "09:30" → 570 minutes ("24:00" allowed, for an end at midnight).
[[nodiscard]] result<std::chrono::minutes> parse_time_of_day(std::string_view hhmm);
/// "mon", "tue", … "sun" (or the full English names, any case) → its bit.
[[nodiscard]] result<std::uint8_t> parse_weekday_bit(std::string_view day);

}  // namespace rtb::service
