// Barge-in over loopback sockets with a simulated network between the caller
// (Twilio) and the bridge: the truncate against the ground truth of what the
// caller had heard when the clear reached them, and barge-in turned off.
#include <cstdlib>

#include "e2e_support.hpp"

using namespace rtb;
using namespace rtb::e2e;
using namespace std::chrono_literals;

namespace {

peers::fake_openai_options long_answer() {
  peers::fake_openai_options o;
  o.expected_api_key = std::string(test_api_key);
  o.script = {
      peers::scripted_response{"A very long answer that the caller will interrupt.", {}, 6000, std::nullopt, false}};
  return o;
}

/// Speak, let the answer play for `into`, speak over it, then hang up.
std::vector<peers::caller_step> interrupt_after(std::chrono::milliseconds into) {
  return {peers::step::pause{200ms},
          peers::step::say{peers::synthetic_speech(700, 3)},
          peers::step::wait_for_ai_audio{into, 5s},
          peers::step::say{peers::synthetic_speech(700, 4)},
          peers::step::wait_for_ai_silence{5s},
          peers::step::pause{500ms},
          peers::step::hang_up{}};
}

}  // namespace

TEST_CASE("barge-in over a network: the truncate is what the caller had heard when the clear reached them",
          "[e2e][barge_in]") {
  // The issue's target: |truncate - heard| <= 20 ms at 0 and 40 ms each way,
  // never rejected; and with Twilio's start delay on top.
  const auto [network, start_delay] = GENERATE(table<int, int>({{0, 0}, {40, 0}, {40, 40}, {0, 40}}));
  peers::fake_openai openai(long_answer());
  auto app = std::make_shared<recording_app>();
  bridge b(openai, app);

  peers::caller_pool callers;
  const int id = callers.start_call({.url = b.stream_url(),
                                     .script = interrupt_after(1500ms),
                                     .playout_delay = std::chrono::milliseconds(start_delay),
                                     .network_delay = std::chrono::milliseconds(network)});
  if (!callers.wait(id, 20s)) {
    // Seen once under ASan on a loaded machine and not reproduced: say where the call was.
    const auto r = callers.result(id);
    FAIL("the call did not end within 20 s: connected " << r.connected << ", frames sent " << r.frames_sent
                                                        << ", media received " << r.media_received << ", marks echoed "
                                                        << r.marks_echoed << ", clears " << r.clears << ", stop sent "
                                                        << r.stop_sent << ", error '" << r.error << "'; OpenAI sessions "
                                                        << openai.sessions().size() << ", truncates "
                                                        << (openai.sessions().empty()
                                                                ? 0
                                                                : openai.sessions()[0].truncates.size()));
  }
  const auto caller = callers.result(id);
  CHECK(caller.violations.empty());
  REQUIRE(caller.clears == 1);
  REQUIRE(caller.heard_at_clears.size() == 1);
  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 1);
  REQUIRE(sessions[0].truncates.size() == 1);
  const auto& t = sessions[0].truncates[0];
  const std::int64_t heard = caller.heard_at_clears[0];
  // Reported, for the record of how exact it is (ctest -V shows it).
  WARN("network " << network << " ms each way, start delay " << start_delay << " ms: heard " << heard
                  << " ms, truncated at " << t.audio_end_ms << " ms (error " << t.audio_end_ms - heard << " ms)");
  CHECK(t.accepted);
  CHECK(std::abs(t.audio_end_ms - heard) <= 20);
  CHECK(t.audio_end_ms <= t.item_audio_ms);
  REQUIRE(app->wait_ended(1, 5s));
  const auto calls = app->calls();
  const auto& counters = calls[0].counters.playout;
  CHECK(counters.barge_ins == 1);
  CHECK(counters.probes_echoed >= 1);
}

TEST_CASE("barge-in disabled: the session asks the server not to interrupt, and the answer plays out whole",
          "[e2e][barge_in]") {
  peers::fake_openai_options options = long_answer();
  options.script = {peers::scripted_response{"An answer nobody can interrupt.", {}, 2500, std::nullopt, false}};
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  call_config config = bridge::default_config();
  config.barge_in.enabled = false;
  bridge b(openai, app, config);

  peers::caller_pool callers;
  const int id = callers.start_call({.url = b.stream_url(), .script = interrupt_after(500ms)});
  REQUIRE(callers.wait(id, 20s));
  const auto caller = callers.result(id);
  CHECK(caller.violations.empty());
  CHECK(caller.clears == 0);
  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 1);
  const auto& s = sessions[0];
  CHECK(s.session_update.find(R"("interrupt_response":false)") != std::string::npos);
  CHECK(s.speech_started >= 2);       // the caller did speak over the answer ...
  CHECK(s.responses_cancelled == 0);  // ... and the server went on
  CHECK(s.truncates.empty());
  CHECK(std::count(s.client_event_types.begin(), s.client_event_types.end(), "response.cancel") == 0);
  CHECK(caller.audio_bytes_received >= 2500 * 8);  // the whole first answer reached the caller
  REQUIRE(app->wait_ended(1, 5s));
  CHECK(app->calls()[0].counters.playout.barge_ins == 0);
}

TEST_CASE("minimum speech: a short noise leaves the answer playing, speech that lasts interrupts it",
          "[e2e][barge_in]") {
  peers::fake_openai_options options = long_answer();
  options.speed = 1.0;  // real time: the answer is still being generated when the caller interrupts
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  call_config config = bridge::default_config();
  openai::server_vad vad;
  vad.silence_duration_ms = 200;  // so that the noise's speech_stopped comes before min_speech
  config.openai.config.turn = vad;
  config.barge_in.min_speech = 400ms;
  bridge b(openai, app, config);

  peers::caller_pool callers;
  const int id = callers.start_call(
      {.url = b.stream_url(),
       .script = {peers::step::pause{200ms}, peers::step::say{peers::synthetic_speech(700, 3)},
                  peers::step::wait_for_ai_audio{1000ms, 5s},
                  peers::step::say{peers::synthetic_speech(120, 5)},  // a cough
                  peers::step::pause{1000ms}, peers::step::say{peers::synthetic_speech(900, 4)},
                  peers::step::wait_for_ai_silence{5s}, peers::step::pause{500ms}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 20s));
  const auto caller = callers.result(id);
  CHECK(caller.violations.empty());
  REQUIRE(caller.clears == 1);  // the cough cleared nothing
  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 1);
  const auto& s = sessions[0];
  CHECK(s.session_update.find(R"("interrupt_response":false)") != std::string::npos);
  CHECK(s.speech_started >= 3);
  REQUIRE(s.truncates.size() == 1);
  CHECK(s.truncates[0].accepted);
  CHECK(std::abs(s.truncates[0].audio_end_ms - caller.heard_at_clears.at(0)) <= 20);
  // The bridge cancelled the answer itself, once.
  CHECK(std::count(s.client_event_types.begin(), s.client_event_types.end(), "response.cancel") == 1);
  CHECK(s.responses_cancelled == 1);
  REQUIRE(app->wait_ended(1, 5s));
  const auto calls = app->calls();
  const auto& counters = calls[0].counters.playout;
  CHECK(counters.speech_too_short == 1);
  CHECK(counters.barge_ins == 1);
}

TEST_CASE("echo guard: speech just after the AI starts playing does not interrupt it", "[e2e][barge_in]") {
  peers::fake_openai_options options = long_answer();
  options.script = {peers::scripted_response{"An answer with an echo.", {}, 2500, std::nullopt, false}};
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  call_config config = bridge::default_config();
  config.barge_in.echo_guard = 1500ms;
  bridge b(openai, app, config);

  peers::caller_pool callers;
  // The "echo": sound from the caller's side 100 ms into the answer.
  const int id = callers.start_call(
      {.url = b.stream_url(),
       .script = {peers::step::pause{200ms}, peers::step::say{peers::synthetic_speech(700, 3)},
                  peers::step::wait_for_ai_audio{100ms, 5s}, peers::step::say{peers::synthetic_speech(300, 6)},
                  peers::step::wait_for_ai_silence{5s}, peers::step::pause{300ms}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 20s));
  const auto caller = callers.result(id);
  CHECK(caller.violations.empty());
  CHECK(caller.clears == 0);
  CHECK(caller.audio_bytes_received >= 2500 * 8);
  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0].session_update.find(R"("interrupt_response":false)") != std::string::npos);
  CHECK(sessions[0].responses_cancelled == 0);
  CHECK(sessions[0].truncates.empty());
  REQUIRE(app->wait_ended(1, 5s));
  CHECK(app->calls()[0].counters.playout.speech_guarded >= 1);
  CHECK(app->calls()[0].counters.playout.barge_ins == 0);
}
