#include "realtime_bridge/service/time_zone.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace rtb::service {
namespace {

rtb::error bad(std::string message) { return {errc::invalid_config, std::move(message)}; }

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.find("..") != std::string_view::npos)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
           c == '-' || c == '+';
  });
}

// Big-endian integers from a TZif file.
std::int64_t be(std::string_view b, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  if (n == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

// A small cursor over a POSIX TZ string.
struct cursor {
  std::string_view s;
  std::size_t at = 0;
  bool done() const { return at >= s.size(); }
  char peek() const { return done() ? '\0' : s[at]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++at;
    return true;
  }
  bool number(int& out, int max_digits) {
    int n = 0, digits = 0;
    while (!done() && s[at] >= '0' && s[at] <= '9' && digits < max_digits) {
      n = n * 10 + (s[at++] - '0');
      ++digits;
    }
    out = n;
    return digits > 0;
  }
  // A zone abbreviation: 3+ letters, or <...> (may hold digits and signs).
  bool abbreviation() {
    if (take('<')) {
      const std::size_t close = s.find('>', at);
      if (close == std::string_view::npos || close == at) return false;
      at = close + 1;
      return true;
    }
    const std::size_t start = at;
    while (!done() && ((s[at] >= 'a' && s[at] <= 'z') || (s[at] >= 'A' && s[at] <= 'Z'))) ++at;
    return at - start >= 3;
  }
  // [+-]hh[:mm[:ss]] in seconds, with POSIX's sign (west positive).
  bool hms(std::int32_t& out, int max_hours) {
    int sign = 1;
    if (take('-'))
      sign = -1;
    else
      take('+');
    int h = 0, m = 0, sec = 0;
    if (!number(h, 3) || h > max_hours) return false;
    if (take(':')) {
      if (!number(m, 2) || m > 59) return false;
      if (take(':') && (!number(sec, 2) || sec > 59)) return false;
    }
    out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }
  bool date(time_zone::posix_rule::date_rule& r) {
    if (!take('M')) return false;  // Jn and n forms are not used by current zones
    int m = 0, w = 0, d = 0;
    if (!number(m, 2) || !take('.') || !number(w, 1) || !take('.') || !number(d, 1)) return false;
    if (m < 1 || m > 12 || w < 1 || w > 5 || d > 6) return false;
    r.month = static_cast<unsigned>(m);
    r.week = static_cast<unsigned>(w);
    r.weekday = static_cast<unsigned>(d);
    r.time = 7200;
    if (take('/') && !hms(r.time, 167)) return false;
    return true;
  }
};

// The local midnight (as sys_days) of a rule's day in `y`.
std::chrono::sys_days rule_day(int y, const time_zone::posix_rule::date_rule& r) {
  using namespace std::chrono;
  const year yy{y};
  const month mm{r.month};
  const weekday wd{r.weekday};
  if (r.week == 5) return sys_days{year_month_weekday_last{yy, mm, weekday_last{wd}}};
  return sys_days{year_month_weekday{yy, mm, weekday_indexed{wd, r.week}}};
}

std::int32_t rule_offset(const time_zone::posix_rule& r, std::int64_t t) {
  if (!r.has_dst) return r.std_offset;
  using namespace std::chrono;
  const sys_seconds at{seconds{t}};
  const int y = static_cast<int>(year_month_day{floor<days>(at)}.year());
  const auto start = sys_seconds{rule_day(y, r.start)} + seconds{r.start.time} - seconds{r.std_offset};
  const auto end = sys_seconds{rule_day(y, r.end)} + seconds{r.end.time} - seconds{r.dst_offset};
  const bool dst = start < end ? (at >= start && at < end) : !(at >= end && at < start);
  return dst ? r.dst_offset : r.std_offset;
}

}  // namespace

result<time_zone::posix_rule> time_zone::parse_posix(std::string_view text) {
  cursor c{text};
  posix_rule r;
  std::int32_t west = 0;
  if (!c.abbreviation() || !c.hms(west, 24)) return bad("not a POSIX TZ rule: '" + std::string(text) + "'");
  r.std_offset = -west;
  if (!c.done()) {
    if (!c.abbreviation()) return bad("not a POSIX TZ rule: '" + std::string(text) + "'");
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (c.peek() != ',' && !c.done()) {
      if (!c.hms(west, 24)) return bad("not a POSIX TZ rule: '" + std::string(text) + "'");
      r.dst_offset = -west;
    }
    if (c.done()) {  // POSIX's default: the US rule
      r.start = {3, 2, 0, 7200};
      r.end = {11, 1, 0, 7200};
    } else if (!c.take(',') || !c.date(r.start) || !c.take(',') || !c.date(r.end) || !c.done()) {
      return bad("unsupported POSIX TZ rule (only the M form is): '" + std::string(text) + "'");
    }
  }
  return r;
}

result<time_zone> time_zone::from_posix(std::string_view rule, std::string name) {
  auto r = parse_posix(rule);
  if (!r) return r.error();
  time_zone z;
  z.name_ = std::move(name);
  z.rule_ = *r;
  z.initial_offset_ = r->std_offset;
  return z;
}

result<time_zone> time_zone::from_tzif(std::string_view b, std::string name) {
  const auto broken = [&](std::string_view why) { return bad(name + ": not a usable TZif file (" + std::string(why) + ")"); };
  // Header: magic, version, 15 reserved bytes, six counts.
  struct counts {
    std::int64_t isut, isstd, leap, time, type, chars;
  };
  const auto header = [&](std::size_t at, counts& c) {
    if (b.size() < at + 44 || b.substr(at, 4) != "TZif") return false;
    c = {be(b, at + 20, 4), be(b, at + 24, 4), be(b, at + 28, 4), be(b, at + 32, 4), be(b, at + 36, 4), be(b, at + 40, 4)};
    return c.isut >= 0 && c.isstd >= 0 && c.leap >= 0 && c.time >= 0 && c.type > 0 && c.chars >= 0 && c.type <= 256;
  };
  const auto block_size = [](const counts& c, std::size_t time_size) {
    return static_cast<std::size_t>(c.time) * time_size + static_cast<std::size_t>(c.time) +
           static_cast<std::size_t>(c.type) * 6 + static_cast<std::size_t>(c.chars) +
           static_cast<std::size_t>(c.leap) * (time_size + 4) + static_cast<std::size_t>(c.isstd) +
           static_cast<std::size_t>(c.isut);
  };
  counts c{};
  if (!header(0, c)) return broken("bad header");
  std::size_t at = 44;
  std::size_t time_size = 4;
  const bool v2 = b[4] >= '2';
  if (v2) {
    at += block_size(c, 4);
    if (!header(at, c)) return broken("bad second header");
    at += 44;
    time_size = 8;
  }
  if (b.size() < at + block_size(c, time_size)) return broken("truncated");
  const auto n = static_cast<std::size_t>(c.time);
  const auto types = static_cast<std::size_t>(c.type);
  const std::size_t times_at = at, index_at = at + n * time_size, info_at = index_at + n;
  std::vector<std::int32_t> type_offsets(types);
  for (std::size_t i = 0; i < types; ++i) {
    type_offsets[i] = static_cast<std::int32_t>(be(b, info_at + i * 6, 4));
    if (type_offsets[i] <= -25 * 3600 || type_offsets[i] >= 26 * 3600) return broken("offset out of range");
  }
  time_zone z;
  z.name_ = std::move(name);
  z.initial_offset_ = type_offsets[0];
  for (std::size_t i = 0; i < n; ++i) {
    const auto idx = static_cast<unsigned char>(b[index_at + i]);
    if (idx >= types) return broken("bad type index");
    const std::int64_t t = be(b, times_at + i * time_size, time_size);
    if (!z.transitions_.empty() && t <= z.transitions_.back()) return broken("transitions out of order");
    z.transitions_.push_back(t);
    z.offsets_.push_back(type_offsets[idx]);
  }
  if (v2) {
    // The footer: "\n<POSIX TZ>\n".
    const std::size_t footer = at + block_size(c, time_size);
    if (footer < b.size() && b[footer] == '\n') {
      const std::size_t end = b.find('\n', footer + 1);
      if (end != std::string_view::npos && end > footer + 1) {
        if (auto r = parse_posix(b.substr(footer + 1, end - footer - 1))) z.rule_ = *r;
      }
    }
  }
  return z;
}

result<time_zone> time_zone::load(std::string_view name, const std::string& zoneinfo_dir) {
  if (!valid_name(name)) return bad("'" + std::string(name) + "' is not a time zone name (e.g. America/New_York)");
  const std::string path = zoneinfo_dir + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad("unknown time zone '" + std::string(name) + "' (no " + path + ")");
  std::string bytes;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    bytes.append(buf, static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > 1024 * 1024) return bad(path + " is too large for a TZif file");
  }
  return from_tzif(bytes, std::string(name));
}

std::chrono::seconds time_zone::offset_at(std::chrono::sys_seconds t) const {
  const std::int64_t s = t.time_since_epoch().count();
  if (!transitions_.empty() && s < transitions_.back()) {
    const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
    if (it == transitions_.begin()) return std::chrono::seconds{initial_offset_};
    return std::chrono::seconds{offsets_[static_cast<std::size_t>(it - transitions_.begin()) - 1]};
  }
  if (rule_) return std::chrono::seconds{rule_offset(*rule_, s)};
  return std::chrono::seconds{transitions_.empty() ? initial_offset_ : offsets_.back()};
}

std::chrono::sys_seconds time_zone::from_local(std::chrono::sys_seconds local) const {
  // Try the offsets in force around the moment; the first that maps back to
  // this local time wins (the earlier instant in an overlap).
  const auto before = offset_at(local - std::chrono::hours(26));
  const auto after = offset_at(local + std::chrono::hours(26));
  const auto first = std::max(before, after), second = std::min(before, after);
  for (const auto o : {first, second})
    if (offset_at(local - o) == o) return local - o;
  // A gap: the offset in force before it, which lands past the gap.
  return local - before;
}

}  // namespace rtb::service
