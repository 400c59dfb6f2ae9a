#include "realtime_bridge/playout_mark.hpp"

#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace rtb {
namespace {

constexpr std::string_view prefix = "rtb.";

// Parses decimal digits up to `stop` (or the end), in the canonical spelling
// append_mark_name() writes (no leading zeros); advances `s` past them.
template <class T>
bool take_number(std::string_view& s, char stop, T& out) noexcept {
  const auto end = stop ? s.find(stop) : s.size();
  if (end == std::string_view::npos || end == 0) return false;
  for (std::size_t i = 0; i < end; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  if (end > 1 && s[0] == '0') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + end, out);
  if (ec != std::errc{} || ptr != s.data() + end) return false;
  s.remove_prefix(stop ? end + 1 : end);
  return true;
}

}  // namespace

void append_mark_name(std::string& out, const playout_mark& m) {
  fmt::format_to(std::back_inserter(out), "rtb.{}.{}.{}", m.generation, m.item, m.sent_ms);
}

std::string to_string(const playout_mark& m) {
  std::string s;
  append_mark_name(s, m);
  return s;
}

std::optional<playout_mark> parse_mark_name(std::string_view name) noexcept {
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  name.remove_prefix(prefix.size());
  playout_mark m;
  if (!take_number(name, '.', m.generation)) return std::nullopt;
  if (!take_number(name, '.', m.item)) return std::nullopt;
  if (!take_number(name, '\0', m.sent_ms)) return std::nullopt;
  return m;
}

}  // namespace rtb
