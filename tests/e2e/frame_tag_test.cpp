// Frame tags (tools/peers/frame_tag.hpp), the sequence checker and the
// benchmark probe's accounting (tools/peers/bench_probe.hpp), in memory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "peers/bench_probe.hpp"
#include "peers/frame_tag.hpp"
#include "peers/mulaw.hpp"

using namespace rtb::peers;
namespace ft = rtb::peers::frame_tag;

namespace {

constexpr std::size_t frame = 160;

mulaw_bytes tagged(mulaw_bytes f, const ft::tag& t) {
  ft::encode(t, f.data());
  return f;
}

ft::tag caller_tag(std::uint16_t call, std::uint32_t seq, std::uint32_t us = 0) {
  return ft::tag{ft::direction::caller, call, seq, 0, 0, us};
}

ft::tag ai_tag(std::uint16_t call, std::uint32_t seq, std::uint16_t response, std::uint16_t delta) {
  return ft::tag{ft::direction::ai, call, seq, response, delta, 0};
}

std::string payload_of(const ft::tag& t) {
  const auto f = tagged(silence(20), t);
  return to_base64(f.data(), f.size());
}

}  // namespace

TEST_CASE("a frame tag survives encoding, field by field", "[frame_tag]") {
  const std::vector<ft::tag> tags{
      ft::tag{ft::direction::caller, 0, 0, 0, 0, 0},
      ft::tag{ft::direction::caller, 199, 12345, 0, 0, 987654321},
      ft::tag{ft::direction::ai, 65535, ft::seq_mask, ft::response_mask, 65535, 0xFFFFFFFF},
      ft::tag{ft::direction::ai, 7, 50, 3, 49, 1},
  };
  for (const auto& t : tags) {
    mulaw_bytes f = tagged(synthetic_speech(20, 3), t);
    const auto back = ft::decode(f.data(), f.size());
    REQUIRE(back);
    CHECK(*back == t);
    for (std::size_t i = 0; i < ft::tag_bytes; ++i) CHECK((f[i] & 0xF0) == 0xF0);
  }
}

TEST_CASE("frame tag fields wider than their slot keep their low bits", "[frame_tag]") {
  mulaw_bytes f(frame, 0xFF);
  ft::encode(ft::tag{ft::direction::ai, 1, 0x1234567, 0x1ABC, 2, 3}, f.data());
  const auto back = ft::decode(f.data(), f.size());
  REQUIRE(back);
  CHECK(back->seq == 0x234567);
  CHECK(back->response == 0xABC);
}

TEST_CASE("a frame tag reads back from the first 40 base64 characters", "[frame_tag]") {
  const ft::tag t{ft::direction::caller, 42, 1000, 0, 0, 123456};
  const auto f = tagged(synthetic_speech(20, 9), t);
  const std::string b64 = to_base64(f.data(), f.size());
  char head[ft::tag_base64_chars];
  ft::encode_base64(t, head);
  CHECK(std::string(head, sizeof head) == b64.substr(0, ft::tag_base64_chars));
  const auto back = ft::decode_base64(b64);
  REQUIRE(back);
  CHECK(*back == t);
  CHECK(ft::decode_base64(std::string_view(b64).substr(0, ft::tag_base64_chars)) == t);

  SECTION("re-stamping the head changes only the time") {
    std::string copy = b64;
    ft::tag later = t;
    later.sent_us = 999;
    ft::encode_base64(later, copy.data());
    CHECK(copy.substr(ft::tag_base64_chars) == b64.substr(ft::tag_base64_chars));
    CHECK(ft::decode_base64(copy) == later);
  }
}

TEST_CASE("audio without a tag decodes as no tag", "[frame_tag]") {
  const auto quiet = silence(20);
  CHECK_FALSE(ft::decode(quiet.data(), quiet.size()));
  const auto speech = synthetic_speech(1000, 5);
  for (std::size_t off = 0; off + frame <= speech.size(); off += frame)
    CHECK_FALSE(ft::decode(speech.data() + off, frame));
  const auto t = tone(20);
  CHECK_FALSE(ft::decode(t.data(), t.size()));
  CHECK_FALSE(ft::decode_base64(to_base64(quiet.data(), quiet.size())));
  CHECK_FALSE(ft::decode_base64(""));
  CHECK_FALSE(ft::decode_base64("not base64 at all, but long enough to be read as one"));

  SECTION("a damaged tag is no tag") {
    const auto good = tagged(silence(20), caller_tag(3, 77, 5));
    REQUIRE(ft::decode(good.data(), good.size()));
    for (std::size_t i = 0; i < ft::tag_bytes; ++i) {
      auto bad = good;
      bad[i] = static_cast<std::uint8_t>(0xF0 | ((bad[i] + 1) & 0x0F));  // one nibble changed
      CHECK_FALSE(ft::decode(bad.data(), bad.size()));
    }
    auto low = good;
    low[5] = 0x05;  // not a 0xF0|nibble code
    CHECK_FALSE(ft::decode(low.data(), low.size()));
    CHECK_FALSE(ft::decode(good.data(), ft::tag_bytes - 1));
  }
}

TEST_CASE("a tagged silent frame stays far below a speech threshold", "[frame_tag]") {
  CHECK(level_dbfs(silence(20).data(), frame) < -70);
  for (const auto& t : {caller_tag(0, 0), caller_tag(65535, ft::seq_mask, 0xFFFFFFFF),
                        ai_tag(0x8000, 0x800000, 0x800, 0x8000), ft::tag{ft::direction::ai, 0, 0, 0, 0, 0}}) {
    const auto f = tagged(silence(20), t);
    CHECK(level_dbfs(f.data(), f.size()) < -50);
  }
  // The loudest the 30 tag bytes can be: every nibble 0 (+120 each).
  mulaw_bytes loudest(frame, 0xFF);
  std::fill_n(loudest.begin(), ft::tag_bytes, std::uint8_t{0xF0});
  CHECK(level_dbfs(loudest.data(), loudest.size()) < -55);
}

TEST_CASE("a tagged speech frame is still speech", "[frame_tag]") {
  const auto speech = synthetic_speech(2000, 11);
  int speech_frames = 0;
  for (std::size_t off = 0; off + frame <= speech.size(); off += frame) {
    mulaw_bytes f(speech.begin() + static_cast<std::ptrdiff_t>(off),
                  speech.begin() + static_cast<std::ptrdiff_t>(off + frame));
    const double before = level_dbfs(f.data(), f.size());
    ft::encode(caller_tag(1, static_cast<std::uint32_t>(off / frame), 77), f.data());
    const double after = level_dbfs(f.data(), f.size());
    if (before > -40) {
      ++speech_frames;
      CHECK(after > -40);  // the fake OpenAI's VAD threshold
    }
    CHECK(after > before - 3);
  }
  CHECK(speech_frames > 90);
}

TEST_CASE("the tag clock counts microseconds and wraps without harm", "[frame_tag]") {
  const auto a = ft::now_us();
  const auto b = ft::now_us();
  CHECK(ft::elapsed_us(a, b) < 1'000'000);
  CHECK(ft::elapsed_us(0xFFFFFFF0u, 0x10u) == 0x20u);
}

TEST_CASE("the sequence checker tells gaps, late arrivals and duplicates apart", "[frame_tag]") {
  using v = sequence_checker::verdict;
  sequence_checker s;
  CHECK(s.feed(0) == v::first);
  CHECK(s.feed(1) == v::in_order);
  CHECK(s.feed(2) == v::in_order);
  CHECK(s.lost() == 0);
  CHECK(s.feed(5) == v::gap);  // 3 and 4 missing
  CHECK(s.lost() == 2);
  CHECK(s.feed(3) == v::late);  // 3 after all: reordered, not lost
  CHECK(s.lost() == 1);
  CHECK(s.late() == 1);
  CHECK(s.feed(3) == v::duplicate);
  CHECK(s.feed(5) == v::duplicate);
  CHECK(s.duplicates() == 2);
  CHECK(s.feed(6) == v::in_order);
  CHECK(s.next() == 7);
  CHECK(s.received() == 8);

  SECTION("a stream that starts late records where it started") {
    sequence_checker t;
    t.feed(10);
    t.feed(11);
    CHECK(t.first() == 10);
    CHECK(t.lost() == 0);
  }
  SECTION("long gaps") {
    s.feed(1000);
    CHECK(s.lost() == 1 + 993);
    CHECK(s.feed(999) == v::late);
    CHECK(s.feed(999) == v::duplicate);
    CHECK(s.feed(100) == v::late);  // older than the bitmap: counted late while something is missing
  }
}

TEST_CASE("the probe checks caller frames at the fake OpenAI", "[frame_tag]") {
  bench_probe p(4);
  for (std::uint32_t i = 0; i < 5; ++i) p.caller_frame_written(2);
  p.set_recording(true);
  int call = -1;
  call = p.openai_append(call, payload_of(caller_tag(2, 0, ft::now_us())), ft::now_us());
  CHECK(call == 2);
  call = p.openai_append(call, payload_of(caller_tag(2, 1, ft::now_us())), ft::now_us());
  call = p.openai_append(call, payload_of(caller_tag(2, 3, ft::now_us())), ft::now_us());  // 2 lost
  call = p.openai_append(call, payload_of(caller_tag(1, 4, ft::now_us())), ft::now_us());  // another call's frame
  const auto silence_b64 = to_base64(silence(20).data(), frame);
  call = p.openai_append(call, silence_b64, ft::now_us());
  CHECK(call == 2);
  const auto t = p.totals();
  CHECK(t.frames_sent == 5);
  CHECK(t.appends_received == 3);
  CHECK(t.appends_misrouted == 1);
  CHECK(t.appends_untagged == 1);
  CHECK(t.inbound_lost == 1);
  CHECK(t.inbound_in_flight == 1);  // frame 4 never came
  CHECK(t.calls_with_two_sessions == 0);
  CHECK(p.take_latencies(ft::direction::caller).size() == 3);
  CHECK(p.take_latencies(ft::direction::caller).empty());

  SECTION("an append of several frames (batched caller audio) counts each frame") {
    std::vector<std::uint8_t> batch;
    for (std::uint32_t seq : {4u, 5u, 6u}) {
      const auto f = tagged(silence(20), caller_tag(2, seq, ft::now_us()));
      batch.insert(batch.end(), f.begin(), f.end());
    }
    for (int i = 0; i < 2; ++i) p.caller_frame_written(2);
    call = p.openai_append_frames(call, batch.data(), batch.size(), frame, ft::now_us());
    CHECK(call == 2);
    CHECK(p.totals().appends_received == 6);
    CHECK(p.totals().inbound_lost == 1);  // only frame 2, as before
    CHECK(p.totals().inbound_in_flight == 0);
  }
  SECTION("a second session for the same call is noticed") {
    p.openai_append(-1, payload_of(caller_tag(2, 4)), ft::now_us());
    CHECK(p.totals().calls_with_two_sessions == 1);
  }
  SECTION("frames dropped before the session was ready are counted apart") {
    int other = p.openai_append(-1, payload_of(caller_tag(0, 7)), ft::now_us());
    p.openai_append(other, payload_of(caller_tag(0, 8)), ft::now_us());
    CHECK(p.totals().inbound_skipped_at_start == 7);
    CHECK(p.totals().inbound_lost == 1);
  }
}

TEST_CASE("the probe counts AI audio lost only where it must have arrived", "[frame_tag]") {
  bench_probe p(2);
  auto send = [&](std::uint16_t response, std::uint16_t delta) { p.openai_delta_written(1, response, delta); };
  auto hear = [&](std::uint16_t response, std::uint16_t delta) {
    p.caller_media(1, payload_of(ai_tag(1, 0, response, delta)), ft::now_us());
  };
  // Response 0 completes: 4 deltas written, the caller hears 0, 1, 3 (2 lost).
  p.openai_response_started(1, 0);
  for (std::uint16_t d = 0; d < 4; ++d) send(0, d);
  hear(0, 0);
  hear(0, 1);
  hear(0, 3);
  p.openai_response_finished(1, 0, false);
  // Response 1 is cancelled after 5 deltas; the caller hears 0..2 (the tail is cut).
  p.openai_response_started(1, 1);
  for (std::uint16_t d = 0; d < 5; ++d) send(1, d);
  for (std::uint16_t d = 0; d < 3; ++d) hear(1, d);
  p.openai_response_finished(1, 1, true);
  // Response 2 completes but its last delta never arrives; one delta twice.
  p.openai_response_started(1, 2);
  for (std::uint16_t d = 0; d < 3; ++d) send(2, d);
  hear(2, 0);
  hear(2, 1);
  hear(2, 1);
  p.openai_response_finished(1, 2, false);
  // A delta of another call, and one without a tag.
  p.caller_media(0, payload_of(ai_tag(1, 0, 2, 2)), ft::now_us());
  p.caller_media(0, to_base64(silence(20).data(), frame), ft::now_us());

  const auto unsettled = p.totals(60'000'000);
  CHECK(unsettled.responses_settled == 0);
  CHECK(unsettled.outbound_lost == 0);
  const auto t = p.totals(0);
  CHECK(t.deltas_sent == 12);
  CHECK(t.media_received == 9);
  CHECK(t.media_misrouted == 1);
  CHECK(t.media_untagged == 1);
  CHECK(t.responses_started == 3);
  CHECK(t.responses_completed == 2);
  CHECK(t.responses_cancelled == 1);
  CHECK(t.responses_settled == 3);
  CHECK(t.outbound_lost == 1 + 1);  // a hole in response 0, the tail of response 2
  CHECK(t.outbound_cut_by_cancel == 2);
  CHECK(t.outbound_duplicated == 1);
  CHECK(t.outbound_reordered == 0);

  SECTION("a delta of an earlier response after a later one is reordered") {
    hear(1, 3);
    CHECK(p.totals(0).outbound_reordered == 1);
  }
}

TEST_CASE("the probe's flood window holds a sender until the receiver catches up", "[frame_tag]") {
  bench_probe p(1);
  int woken = 0;
  p.set_caller_waker([&] { ++woken; });
  CHECK(p.caller_may_send(0));  // no window: always
  p.set_window(2);
  CHECK(p.caller_may_send(0));
  CHECK(p.caller_may_send(0));
  CHECK_FALSE(p.caller_may_send(0));
  CHECK(woken == 0);
  p.openai_append(-1, payload_of(caller_tag(0, 0)), ft::now_us());
  CHECK(woken == 1);
  CHECK(p.caller_may_send(0));
  CHECK_FALSE(p.caller_may_send(0));
  p.set_caller_waker(nullptr);
  p.openai_append(0, payload_of(caller_tag(0, 1)), ft::now_us());
  CHECK(woken == 1);
}
