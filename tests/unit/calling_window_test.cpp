// Time zones from the system's tz database and calling windows: offsets in
// and out of daylight-saving time, the POSIX rule beyond a file's table, the
// wall clock's gaps and overlaps, and when a window opens next.
#include <catch2/catch.hpp>

#include "realtime_bridge/service/calling_window.hpp"
#include "realtime_bridge/service/time_zone.hpp"

using namespace rtb::service;
using namespace std::chrono;

namespace {

sys_seconds utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return sys_seconds{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi};
}

time_zone zone(std::string_view name) {
  auto z = time_zone::load(name);
  if (!z) FAIL(z.error().message);
  return *z;
}

}  // namespace

TEST_CASE("time zones: offsets from the tz database, in and out of summer time, past the file's table",
          "[calling_window]") {
  const time_zone ny = zone("America/New_York");
  CHECK(ny.offset_at(utc(2024, 7, 1, 12)) == hours{-4});
  CHECK(ny.offset_at(utc(2024, 1, 15, 12)) == hours{-5});
  // 2024-03-10 02:00 EST = 07:00 UTC: summer time starts.
  CHECK(ny.offset_at(utc(2024, 3, 10, 6, 59)) == hours{-5});
  CHECK(ny.offset_at(utc(2024, 3, 10, 7, 0)) == hours{-4});
  // 2024-11-03 02:00 EDT = 06:00 UTC: it ends.
  CHECK(ny.offset_at(utc(2024, 11, 3, 5, 59)) == hours{-4});
  CHECK(ny.offset_at(utc(2024, 11, 3, 6, 0)) == hours{-5});
  // Far past any table: the POSIX rule in the file's footer.
  CHECK(ny.offset_at(utc(2090, 7, 1)) == hours{-4});
  CHECK(ny.offset_at(utc(2090, 1, 1)) == hours{-5});
  const time_zone berlin = zone("Europe/Berlin");
  CHECK(berlin.offset_at(utc(2024, 7, 1)) == hours{2});
  CHECK(berlin.offset_at(utc(2090, 12, 1)) == hours{1});
  const time_zone sydney = zone("Australia/Sydney");  // southern: summer across new year
  CHECK(sydney.offset_at(utc(2090, 1, 10)) == hours{11});
  CHECK(sydney.offset_at(utc(2090, 7, 10)) == hours{10});
  CHECK(zone("UTC").offset_at(utc(2024, 7, 1)) == seconds{0});
  CHECK(zone("Asia/Kolkata").offset_at(utc(2024, 7, 1)) == hours{5} + minutes{30});
}

TEST_CASE("time zones: the POSIX rule alone agrees with the file's table, hour by hour", "[calling_window]") {
  const time_zone file = zone("America/New_York");
  auto rule = time_zone::from_posix("EST5EDT,M3.2.0,M11.1.0", "rule");
  REQUIRE(rule);
  int differences = 0;
  for (sys_seconds t = utc(2010, 1, 1); t < utc(2030, 1, 1); t += hours{1})
    if (file.offset_at(t) != rule->offset_at(t)) ++differences;
  CHECK(differences == 0);
  auto cet = time_zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3", "cet");
  REQUIRE(cet);
  const time_zone berlin = zone("Europe/Berlin");
  for (sys_seconds t = utc(2015, 1, 1); t < utc(2030, 1, 1); t += hours{1})
    if (berlin.offset_at(t) != cet->offset_at(t)) ++differences;
  CHECK(differences == 0);
}

TEST_CASE("time zones: POSIX rules parsed, bad names refused before any file is opened", "[calling_window]") {
  auto r = time_zone::parse_posix("IST-2IDT,M3.4.4/26,M10.5.0");
  REQUIRE(r);
  CHECK(r->std_offset == 7200);
  CHECK(r->dst_offset == 10800);
  CHECK(r->start.month == 3);
  CHECK(r->start.week == 4);
  CHECK(r->start.weekday == 4);
  CHECK(r->start.time == 26 * 3600);
  auto fixed = time_zone::parse_posix("<+03>-3");
  REQUIRE(fixed);
  CHECK(fixed->std_offset == 3 * 3600);
  CHECK_FALSE(fixed->has_dst);
  CHECK_FALSE(time_zone::parse_posix("EST5EDT,J60,J300"));
  CHECK_FALSE(time_zone::parse_posix("5"));
  for (const char* name : {"../../etc/passwd", "/etc/passwd", "", "America/New York", "Nope/Nowhere"}) {
    auto z = time_zone::load(name);
    CHECK_FALSE(z);
  }
  CHECK_FALSE(time_zone::from_tzif("not a tzif file at all, just text that is long enough to have a header", "x"));
}

TEST_CASE("time zones: local wall-clock times back to instants, across the gap and the overlap", "[calling_window]") {
  const time_zone ny = zone("America/New_York");
  CHECK(ny.from_local(utc(2024, 7, 1, 9)) == utc(2024, 7, 1, 13));
  CHECK(ny.from_local(utc(2024, 1, 15, 9)) == utc(2024, 1, 15, 14));
  // 02:30 does not exist on 2024-03-10: 03:30 EDT.
  CHECK(ny.from_local(utc(2024, 3, 10, 2, 30)) == utc(2024, 3, 10, 7, 30));
  // 01:30 happens twice on 2024-11-03: the first (EDT).
  CHECK(ny.from_local(utc(2024, 11, 3, 1, 30)) == utc(2024, 11, 3, 5, 30));
  CHECK(ny.to_local(utc(2024, 7, 1, 13)) == utc(2024, 7, 1, 9));
}

TEST_CASE("calling windows: open on weekdays 09:00-20:00 New York time, when they open next", "[calling_window]") {
  calling_window w;
  w.zone = zone("America/New_York");
  w.start = hours{9};
  w.end = hours{20};
  w.days = 0x1f;  // Monday to Friday
  // Friday 2024-07-05, 19:59 EDT = 23:59 UTC: open; 20:00 closed.
  CHECK(w.open_at(utc(2024, 7, 5, 23, 59)));
  CHECK_FALSE(w.open_at(utc(2024, 7, 6, 0, 0)));
  // Next: Monday 2024-07-08 09:00 EDT = 13:00 UTC.
  CHECK(w.next_open(utc(2024, 7, 6, 0, 0)) == utc(2024, 7, 8, 13));
  CHECK(w.next_open(utc(2024, 7, 6, 15, 0)) == utc(2024, 7, 8, 13));  // Saturday
  // Tuesday 07:00 EDT: the same day at 09:00.
  CHECK(w.next_open(utc(2024, 7, 9, 11)) == utc(2024, 7, 9, 13));
  CHECK(w.next_open(utc(2024, 7, 9, 14)) == utc(2024, 7, 9, 14));  // open: now
  // In winter the same local hours are an hour later in UTC.
  CHECK(w.next_open(utc(2024, 1, 9, 11)) == utc(2024, 1, 9, 14));
  w.days = 0;
  CHECK(w.next_open(utc(2024, 1, 9, 11)) == sys_seconds::max());

  CHECK(*parse_time_of_day("09:30") == minutes{570});
  CHECK(*parse_time_of_day("24:00") == hours{24});
  CHECK_FALSE(parse_time_of_day("9:30"));
  CHECK_FALSE(parse_time_of_day("25:00"));
  CHECK_FALSE(parse_time_of_day("10:60"));
  CHECK(*parse_weekday_bit("Mon") == 1);
  CHECK(*parse_weekday_bit("sunday") == 64);
  CHECK_FALSE(parse_weekday_bit("funday"));
}
