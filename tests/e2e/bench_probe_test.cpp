// The peers' benchmark instrumentation over the real bridge: frame tags both
// ways, the probe's accounting, looping scripts and flood mode.
#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "e2e_support.hpp"
#include "peers/bench_probe.hpp"
#include "peers/frame_tag.hpp"

using namespace rtb;
using namespace rtb::e2e;
using namespace std::chrono_literals;

namespace {

peers::fake_openai_options probed_options(std::shared_ptr<peers::bench_probe> probe, bool load_generator_io) {
  peers::fake_openai_options o;
  o.expected_api_key = std::string(test_api_key);
  o.script = {peers::scripted_response{"A long answer the caller may interrupt.", {}, 2000, std::nullopt, false}};
  o.speed = 2.0;
  o.record_client_events = false;
  o.probe = std::move(probe);
  o.epoll = load_generator_io;
  o.ticker_timers = load_generator_io;
  return o;
}

}  // namespace

TEST_CASE("tagged calls: every frame is checked both ways and nothing is lost", "[e2e][bench]") {
  // Both ways the peers can wait: lws' poll loop with its timers, and what
  // the load generator uses (libev, the 1 ms ticker).
  const bool load_generator_io = GENERATE(false, true);
  INFO("libev and ticker timers: " << load_generator_io);
  auto probe = std::make_shared<peers::bench_probe>(2);
  peers::fake_openai openai(probed_options(probe, load_generator_io));
  auto app = std::make_shared<recording_app>();
  bridge b(openai, app);

  peers::caller_pool callers({.probe = probe, .epoll = load_generator_io, .ticker_timers = load_generator_io});
  probe->set_recording(true);
  std::vector<int> ids;
  for (int i = 0; i < 2; ++i) {
    ids.push_back(callers.start_call(
        {.url = b.stream_url(),
         .script = {peers::step::say{peers::synthetic_speech(600, 1 + i)}, peers::step::wait_for_ai_audio{0ms, 5s},
                    peers::step::wait_for_ai_silence{5s},  // a whole answer
                    peers::step::say{peers::synthetic_speech(600, 3 + i)},
                    peers::step::wait_for_ai_audio{300ms, 5s},  // then interrupt the next one
                    peers::step::say{peers::synthetic_speech(600, 5 + i)}, peers::step::wait_for_ai_audio{0ms, 5s},
                    peers::step::wait_for_ai_silence{5s}, peers::step::pause{300ms}, peers::step::hang_up{}},
         .keep_heard_audio = false,
         .probe_call = i}));
  }
  for (int id : ids) REQUIRE(callers.wait(id, 30s));
  std::this_thread::sleep_for(300ms);
  const auto t = probe->totals(0);

  std::uint64_t frames = 0, media = 0, marks = 0;
  for (int id : ids) {
    const auto r = callers.result(id);
    CHECK(r.violations.empty());
    CHECK(r.heard_audio.empty());
    CHECK(r.clears >= 1);
    frames += r.frames_sent;
    media += r.media_received;
    marks += r.marks_received;
  }
  // caller -> OpenAI: every frame arrived once, in order, with its call's tag
  CHECK(t.frames_sent == frames);
  CHECK(t.appends_received == frames);
  CHECK(t.appends_untagged == 0);
  CHECK(t.appends_misrouted == 0);
  CHECK(t.inbound_lost == 0);
  CHECK(t.inbound_duplicated == 0);
  CHECK(t.inbound_reordered == 0);
  CHECK(t.inbound_skipped_at_start == 0);
  CHECK(t.inbound_in_flight == 0);
  CHECK(t.calls_with_two_sessions == 0);
  // OpenAI -> caller: all deltas tagged, each delivered once, in order
  CHECK(t.deltas_untagged_sent == 0);
  CHECK(t.media_received == media);
  CHECK(t.media_untagged == 0);
  CHECK(t.media_misrouted == 0);
  CHECK(t.deltas_sent == media);
  CHECK(t.outbound_lost == 0);
  CHECK(t.outbound_duplicated == 0);
  CHECK(t.outbound_reordered == 0);
  CHECK(t.responses_started == 6);
  CHECK(t.responses_settled == 6);
  CHECK(t.responses_cancelled >= 2);  // the interrupted answers
  CHECK(t.marks_received == marks);
  CHECK(t.marks_echoed == marks);
  CHECK(t.clears_received >= 2);
  // latency samples, one per tagged message while recording
  CHECK(probe->take_latencies(peers::frame_tag::direction::caller).size() == frames);
  const auto out = probe->take_latencies(peers::frame_tag::direction::ai);
  CHECK(out.size() == media);
  for (auto us : out) CHECK(us < 2'000'000);

  // The fake OpenAI's own records agree, per session.
  REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 2 && !s[0].open && !s[1].open; }, 5s));
  std::set<int> calls_seen;
  for (const auto& s : openai.sessions()) {
    CHECK(s.client_event_types.empty());  // not recorded
    CHECK(s.appends > 0);
    calls_seen.insert(s.call_index);
    REQUIRE(s.response_tallies.size() == 3);
    int cancelled = 0;
    for (const auto& r : s.response_tallies) {
      CHECK(r.finished);
      CHECK(r.deltas_written > 0);
      cancelled += r.cancelled;
    }
    CHECK(cancelled >= 1);
  }
  CHECK(calls_seen == std::set<int>{0, 1});
}

TEST_CASE("a repeating script keeps taking turns", "[e2e][bench]") {
  peers::fake_openai_options o;
  o.expected_api_key = std::string(test_api_key);
  o.script = {peers::scripted_response{"Yes.", {}, 300, std::nullopt, false}};
  o.speed = 4.0;
  peers::fake_openai openai(o);
  auto app = std::make_shared<recording_app>();
  bridge b(openai, app);
  peers::caller_pool callers;
  const int id = callers.start_call(
      {.url = b.stream_url(),
       .script = {peers::step::say{peers::synthetic_speech(300, 7)}, peers::step::wait_for_ai_audio{0ms, 3s},
                  peers::step::wait_for_ai_silence{3s}, peers::step::digit{'5'}, peers::step::repeat{0}}});
  REQUIRE(openai.wait_for([](const auto& s) { return !s.empty() && s[0].responses >= 3; }, 15s));
  const auto r = callers.result(id);
  CHECK_FALSE(r.finished);
  CHECK(r.response_latencies.size() >= 2);

  SECTION("a loop of steps that take no time sends one round per frame") {
    const int busy =
        callers.start_call({.url = b.stream_url(), .script = {peers::step::digit{'1'}, peers::step::repeat{0}}});
    std::this_thread::sleep_for(500ms);
    const auto br = callers.result(busy);
    CHECK(br.connected);
    CHECK(br.frames_sent > 10);  // the frame clock kept running
  }
}

TEST_CASE("flood mode: unpaced both ways within the window, nothing lost", "[e2e][bench]") {
  auto probe = std::make_shared<peers::bench_probe>(2);
  probe->set_window(4);
  auto o = probed_options(probe, true);
  o.script = {peers::scripted_response{"Flood.", {}, 1000, std::nullopt, false}};
  peers::fake_openai openai(o);
  auto app = std::make_shared<recording_app>();
  bridge b(openai, app);
  peers::caller_pool callers({.probe = probe, .epoll = true, .ticker_timers = true});
  std::vector<int> ids;
  for (int i = 0; i < 2; ++i)
    ids.push_back(callers.start_call(
        {.url = b.stream_url(), .keep_heard_audio = false, .probe_call = i, .instant_playout = true}));
  std::this_thread::sleep_for(1500ms);
  const auto t = probe->totals(200'000);  // deltas of the latest responses are still in flight
  // Far more than real time (50 frames a second per call).
  CHECK(t.appends_received > 400);
  CHECK(t.media_received > 400);
  CHECK(t.inbound_in_flight_max <= 4);
  CHECK(t.inbound_lost == 0);
  CHECK(t.inbound_duplicated + t.inbound_reordered == 0);
  CHECK(t.outbound_lost == 0);
  CHECK(t.outbound_duplicated + t.outbound_reordered == 0);
  CHECK(t.responses_completed >= 2);
  for (int id : ids) {
    const auto r = callers.result(id);
    CHECK(r.connected);
    CHECK_FALSE(r.finished);
    CHECK(r.violations.empty());
    CHECK(r.marks_echoed == r.marks_received);
  }
}
