#include "realtime_bridge/service/calling_window.hpp"

#include <array>
#include <string>

namespace rtb::service {
namespace {

unsigned day_bit(std::chrono::sys_days d) { return std::chrono::weekday{d}.iso_encoding() - 1; }

}  // namespace

bool calling_window::open_at(std::chrono::sys_seconds t) const {
  using namespace std::chrono;
  const sys_seconds local = zone.to_local(t);
  const sys_days day = floor<std::chrono::days>(local);
  if (!(days & (1u << day_bit(day)))) return false;
  const auto since_midnight = local - sys_seconds{day};
  return since_midnight >= start && since_midnight < end;
}

std::chrono::sys_seconds calling_window::next_open(std::chrono::sys_seconds t) const {
  using namespace std::chrono;
  if (open_at(t)) return t;
  if ((days & 0x7f) == 0 || start >= end) return sys_seconds::max();
  const sys_seconds local = zone.to_local(t);
  const sys_days today = floor<std::chrono::days>(local);
  for (int d = 0; d <= 7; ++d) {
    const sys_days day = today + std::chrono::days{d};
    if (!(days & (1u << day_bit(day)))) continue;
    const sys_seconds opens = sys_seconds{day} + start;
    if (local < opens) {
      const sys_seconds at = zone.from_local(opens);
      if (at > t) return at;
    }
  }
  return sys_seconds::max();
}

result<std::chrono::minutes> parse_time_of_day(std::string_view s) {
  const auto digit = [&](std::size_t i) { return s[i] >= '0' && s[i] <= '9'; };
  if (s.size() != 5 || s[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4))
    return rtb::error{errc::invalid_value, "'" + std::string(s) + "' is not a time of day (HH:MM, e.g. 09:00)"};
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0))
    return rtb::error{errc::invalid_value, "'" + std::string(s) + "' is not a time of day (00:00 to 24:00)"};
  return std::chrono::minutes{h * 60 + m};
}

result<std::uint8_t> parse_weekday_bit(std::string_view day) {
  static constexpr std::array<std::string_view, 7> names = {"monday", "tuesday",  "wednesday", "thursday",
                                                            "friday", "saturday", "sunday"};
  std::string lower(day);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (std::size_t i = 0; i < names.size(); ++i)
    if (lower == names[i] || (lower.size() == 3 && names[i].starts_with(lower)))
      return static_cast<std::uint8_t>(1u << i);
  return rtb::error{errc::invalid_value, "'" + std::string(day) + "' is not a day of the week (mon … sun)"};
}

}  // namespace rtb::service
