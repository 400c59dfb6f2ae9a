// The running estimate of a delay on the Twilio link (include/realtime_bridge/round_trip.hpp).
#include <catch2/catch.hpp>

#include "realtime_bridge/round_trip.hpp"

using namespace std::chrono_literals;

TEST_CASE("round_trip: nothing before the first sample, then the median of the samples kept", "[rtt]") {
  rtb::round_trip r;
  CHECK_FALSE(r.estimate().has_value());
  r.add(80ms);
  CHECK(r.estimate() == 80ms);
  r.add(90ms);
  CHECK(r.estimate() == 80ms);  // the lower middle of two
  r.add(300ms);                 // one late sample (a queue, a slow loop) ...
  CHECK(r.estimate() == 90ms);  // ... moves it by one place only
  r.add(85ms);
  CHECK(r.estimate() == 85ms);
  CHECK(r.samples() == 4);
}

TEST_CASE("round_trip: follows a lasting change of the link within half a window", "[rtt]") {
  rtb::round_trip r;
  for (int i = 0; i < 20; ++i) r.add(40ms);
  for (std::size_t i = 0; i < rtb::round_trip::window / 2; ++i) r.add(120ms);
  CHECK(r.estimate() == 40ms);
  r.add(120ms);
  CHECK(r.estimate() == 120ms);
  for (std::size_t i = 0; i < rtb::round_trip::window; ++i) r.add(60ms);
  CHECK(r.estimate() == 60ms);  // old samples are forgotten
}

TEST_CASE("round_trip: negative samples are ignored", "[rtt]") {
  rtb::round_trip r;
  r.add(-5ms);
  CHECK_FALSE(r.estimate().has_value());
  r.add(0ms);
  CHECK(r.estimate() == 0ms);
}
