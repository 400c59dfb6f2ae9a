// Time zones for calling windows, read from the system's tz database
// (/usr/share/zoneinfo, Debian's tzdata) without the C library's global TZ
// state and without C++20's <chrono> zones (libstdc++ 12 has none).
//
// A TZif file (RFC 8536, versions 1 to 4) holds the zone's transitions (each
// one an instant and the UTC offset from then on) and, in its footer, a POSIX
// TZ rule ("EST5EDT,M3.2.0,M11.1.0") for instants after the last transition.
// Both are used: the table for the past and the years it covers, the rule
// beyond it. Only the rule's M (month.week.day) form is understood, which is
// what every current zone uses; a footer in another form is ignored and the
// last transition's offset stays in force.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/result.hpp"

namespace rtb::service {

class time_zone {
 public:
  /// UTC.
  time_zone() = default;

  /// The zone `name` ("America/New_York", "Europe/Berlin", "UTC") from the
  /// TZif file under `zoneinfo_dir`. A name with "..", a leading '/', or
  /// characters other than letters, digits, '/', '_', '-' and '+' is refused
  /// before any file is opened.
  [[nodiscard]] static result<time_zone> load(std::string_view name,
                                              const std::string& zoneinfo_dir = "/usr/share/zoneinfo");
  /// A zone from the bytes of a TZif file.
  [[nodiscard]] static result<time_zone> from_tzif(std::string_view bytes, std::string name);
  /// A zone from a POSIX TZ rule alone, e.g. "CET-1CEST,M3.5.0,M10.5.0/3".
  [[nodiscard]] static result<time_zone> from_posix(std::string_view rule, std::string name);

  const std::string& name() const noexcept { return name_; }

  /// The offset from UTC in force at `t` (local = UTC + offset).
  std::chrono::seconds offset_at(std::chrono::sys_seconds t) const;
  /// The local wall-clock time at `t`, as a sys_seconds value that reads as
  /// that wall-clock time (its date and time of day are the local ones).
  std::chrono::sys_seconds to_local(std::chrono::sys_seconds t) const { return t + offset_at(t); }
  /// The instant of a local wall-clock time. In a gap (spring forward) the
  /// result is as far past the gap as the time was into it; in an overlap
  /// (fall back), the earlier instant.
  std::chrono::sys_seconds from_local(std::chrono::sys_seconds local) const;

  /// The parsed POSIX rule (for tests).
  struct posix_rule {
    struct date_rule {
      unsigned month = 1;  ///< 1-12
      unsigned week = 1;   ///< 1-5; 5 = the last
      unsigned weekday = 0;  ///< 0 = Sunday
      std::int32_t time = 7200;  ///< seconds after local midnight (may be negative or past 24 h)
    };
    std::int32_t std_offset = 0;  ///< seconds east of UTC
    bool has_dst = false;
    std::int32_t dst_offset = 0;
    date_rule start, end;
  };
  [[nodiscard]] static result<posix_rule> parse_posix(std::string_view rule);

 private:
  std::string name_ = "UTC";
  std::vector<std::int64_t> transitions_;   ///< UTC seconds, ascending
  std::vector<std::int32_t> offsets_;       ///< offsets_[i] is in force from transitions_[i]
  std::int32_t initial_offset_ = 0;         ///< before the first transition
  std::optional<posix_rule> rule_;          ///< after the last transition
};

}  // namespace rtb::service
