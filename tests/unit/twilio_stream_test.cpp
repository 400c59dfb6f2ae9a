// Scenarios for the Twilio stream machine (include/realtime_bridge/twilio/stream.hpp).
#include "realtime_bridge/twilio/stream.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;
using twilio::stream_verdict;

namespace {
const std::string payload = frame();
twilio::stream make_stream(twilio::stream_timeouts t = {}) { return twilio::stream(t, at(0)); }
}  // namespace

TEST_CASE("media before start is counted and dropped", "[twilio][stream]") {
  auto s = make_stream();
  REQUIRE(s.handle(twilio::connected{"Call", "1.0.0"}, at(0)) == stream_verdict::ignore);
  REQUIRE(s.handle(media_event(payload), at(10)) == stream_verdict::dropped_early_media);
  REQUIRE(s.handle(media_event(payload), at(30)) == stream_verdict::dropped_early_media);
  CHECK(s.counters().early_media_dropped == 2);
  CHECK(s.counters().media_frames == 0);
  CHECK(s.phase() == twilio::stream_phase::awaiting_start);
}

TEST_CASE("start records the stream's identity, media is then forwarded", "[twilio][stream]") {
  auto s = make_stream();
  const twilio::custom_parameter params[] = {{"tenant", "acme"}, {"lang", "en"}};
  auto st = start_event("MZ123", "CA456");
  st.custom_parameters = params;
  REQUIRE(s.handle(st, at(5)) == stream_verdict::started);
  CHECK(s.stream_sid() == "MZ123");
  CHECK(s.call_sid() == "CA456");
  CHECK(s.account_sid() == "AC1");
  REQUIRE(s.custom_parameters() == std::vector<twilio::stream_parameter>{{"tenant", "acme"}, {"lang", "en"}});
  REQUIRE(s.handle(media_event(payload), at(25)) == stream_verdict::forward_audio);
  CHECK(s.counters().media_frames == 1);
  CHECK(s.counters().media_bytes == 160);
}

TEST_CASE("marks and digits are classified only while streaming", "[twilio][stream]") {
  auto s = make_stream();
  REQUIRE(s.handle(mark_event("rtb.1.1.20"), at(1)) == stream_verdict::ignore);
  REQUIRE(s.handle(twilio::dtmf{0, "", "inbound_track", "5"}, at(1)) == stream_verdict::ignore);
  REQUIRE(s.handle(start_event(), at(2)) == stream_verdict::started);
  REQUIRE(s.handle(mark_event("rtb.1.1.20"), at(3)) == stream_verdict::mark_echoed);
  REQUIRE(s.handle(twilio::dtmf{0, "", "inbound_track", "5"}, at(4)) == stream_verdict::digit);
  CHECK(s.counters().marks == 1);
  CHECK(s.counters().digits == 1);
}

TEST_CASE("stop ends the stream, whatever follows is dropped as late", "[twilio][stream]") {
  auto s = make_stream();
  REQUIRE(s.handle(start_event(), at(0)) == stream_verdict::started);
  REQUIRE(s.handle(twilio::stop{}, at(1000)) == stream_verdict::stopped);
  CHECK(s.phase() == twilio::stream_phase::stopped);
  REQUIRE(s.handle(media_event(payload), at(1010)) == stream_verdict::dropped_late_event);
  REQUIRE(s.handle(mark_event("rtb.1.1.20"), at(1010)) == stream_verdict::dropped_late_event);
  REQUIRE(s.handle(twilio::stop{}, at(1020)) == stream_verdict::ignore);
  CHECK(s.counters().late_events_dropped == 2);
  CHECK_FALSE(s.next_timeout().has_value());
}

TEST_CASE("a second start is rejected and the first one stays in effect", "[twilio][stream]") {
  auto s = make_stream();
  REQUIRE(s.handle(start_event("MZ1", "CA1"), at(0)) == stream_verdict::started);
  REQUIRE(s.handle(start_event("MZ2", "CA2"), at(5)) == stream_verdict::rejected_duplicate_start);
  CHECK(s.stream_sid() == "MZ1");
  CHECK(s.counters().duplicate_starts == 1);
}

TEST_CASE("a start announcing audio that is not 8 kHz mono µ-law is rejected", "[twilio][stream]") {
  auto s = make_stream();
  auto st = start_event();
  SECTION("other encoding") { st.format.encoding = "audio/l16"; }
  SECTION("other rate") { st.format.sample_rate = 16000; }
  SECTION("stereo") { st.format.channels = 2; }
  REQUIRE(s.handle(st, at(0)) == stream_verdict::rejected_media_format);
  CHECK(s.phase() == twilio::stream_phase::stopped);
}

TEST_CASE("a start without mediaFormat is accepted (µ-law is the only format Twilio sends)", "[twilio][stream]") {
  auto s = make_stream();
  auto st = start_event();
  st.has_media_format = false;
  REQUIRE(s.handle(st, at(0)) == stream_verdict::started);
}

TEST_CASE("no start within the deadline times the stream out", "[twilio][stream]") {
  auto s = make_stream({.start = 3000ms, .media_idle = 0ms});
  REQUIRE(s.next_timeout() == at(3000));
  REQUIRE(s.handle_timeout(at(2999)) == stream_verdict::ignore);  // spurious
  REQUIRE(s.handle_timeout(at(3000)) == stream_verdict::start_timed_out);
  CHECK(s.phase() == twilio::stream_phase::stopped);
  SECTION("but a start in time disarms it") {
    auto s2 = make_stream({.start = 3000ms, .media_idle = 0ms});
    REQUIRE(s2.handle(start_event(), at(100)) == stream_verdict::started);
    CHECK_FALSE(s2.next_timeout().has_value());
  }
}

TEST_CASE("the media-idle watchdog re-arms lazily and fires after real silence", "[twilio][stream]") {
  auto s = make_stream({.start = 10000ms, .media_idle = 1000ms});
  REQUIRE(s.handle(start_event(), at(0)) == stream_verdict::started);
  REQUIRE(s.next_timeout() == at(1000));
  // Frames every 20 ms do not move the deadline (no churn on every frame) ...
  for (int t = 20; t <= 600; t += 20) REQUIRE(s.handle(media_event(payload), at(t)) == stream_verdict::forward_audio);
  REQUIRE(s.next_timeout() == at(1000));
  // ... when it fires it re-arms from the last frame ...
  REQUIRE(s.handle_timeout(at(1000)) == stream_verdict::ignore);
  REQUIRE(s.next_timeout() == at(1600));
  // ... and after a second of nothing, the stream is dead.
  REQUIRE(s.handle_timeout(at(1600)) == stream_verdict::went_idle);
  CHECK(s.phase() == twilio::stream_phase::stopped);
}

TEST_CASE("unknown Twilio events are tolerated and counted", "[twilio][stream]") {
  auto s = make_stream();
  REQUIRE(s.handle(twilio::unknown_event{"transcription"}, at(0)) == stream_verdict::ignore);
  CHECK(s.counters().unknown_events == 1);
}
