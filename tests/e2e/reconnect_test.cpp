// End to end over sockets: the fake OpenAI fails mid-call and the bridge
// reconnects, replays the conversation and goes on (call.cpp, "Reconnect").
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "e2e_support.hpp"
#include "realtime_bridge/trace.hpp"

using namespace rtb;
using namespace rtb::e2e;

namespace {

// The trace's time of a line (t_us), or -1.
std::int64_t t_us(const std::string& line) {
  const auto p = line.find(R"("t_us":)");
  if (p == std::string::npos) return -1;
  return std::stoll(line.substr(p + 7));
}

// From the OpenAI leg's close (the drop) to the first AI audio of the new
// session forwarded to Twilio, in ms (-1 if the trace has no such pair).
double drop_to_ai_audio_ms(const std::vector<std::string>& trace) {
  std::int64_t dropped = -1;
  bool reopened = false;
  for (const auto& l : trace) {
    if (dropped < 0 && l.find(R"("leg":"openai","closed")") != std::string::npos) dropped = t_us(l);
    if (dropped >= 0 && l.find(R"("leg":"openai","open":true)") != std::string::npos) reopened = true;
    if (reopened && l.find("response.output_audio.delta") != std::string::npos)
      return static_cast<double>(t_us(l) - dropped) / 1000.0;
  }
  return -1;
}

}  // namespace

TEST_CASE("OpenAI fails mid-answer: the bridge reconnects, replays, and the caller hears the AI again",
          "[e2e][reconnect]") {
  peers::fake_openai_options options;
  options.expected_api_key = std::string(test_api_key);
  options.script = {peers::scripted_response{"Thanks for calling Acme, how can I help you today?", {}, 1600,
                                             std::nullopt, false}};
  options.failing_sessions = 1;
  std::string how;
  SECTION("close 1011") {
    options.failure = peers::failure_mode::close_mid_response;
    how = "close 1011";
  }
  SECTION("TCP reset") {
    options.failure = peers::failure_mode::reset_mid_response;
    how = "TCP reset";
  }
  SECTION("server_error, then close 1011") {
    options.failure = peers::failure_mode::server_error_mid_response;
    how = "server_error then close";
  }
  SECTION("session_expired, then close") {
    options.failure = peers::failure_mode::expire_mid_response;
    how = "session_expired";
  }
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  app->capture_traces = true;
  call_config config = bridge::default_config();
  config.openai.greeting = {openai::greeting::style::instructions, "Greet the caller."};
  bridge b(openai, app, config);
  peers::caller_pool callers;
  const int id = callers.start_call(
      {.url = b.stream_url(),
       .script = {peers::step::wait_for_ai_audio{}, peers::step::pause{2500ms}, peers::step::wait_for_ai_silence{},
                  peers::step::say{peers::synthetic_speech(700)}, peers::step::wait_for_ai_audio{},
                  peers::step::wait_for_ai_silence{}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 30s));
  const auto caller = callers.result(id);
  CHECK_FALSE(caller.closed_by_bridge);  // the caller hung up: the call did not end at the failure
  REQUIRE(app->wait_ended(1, 5s));
  const auto events = app->calls()[0];
  CHECK(events.ended == end_reason::caller_hung_up);
  CHECK(events.counters.openai_reconnects == 1);
  CHECK(events.counters.openai_reconnect_attempts == 1);
  CHECK(caller.violations.empty());

  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 2);
  // The new session: configured, given what was said so far, asked to answer;
  // never greeted again.
  const auto& second = sessions[1];
  const auto& types = second.client_event_types;
  REQUIRE(types.size() >= 3);
  CHECK(types[0] == "session.update");
  CHECK(types[1] == "conversation.item.create");  // the part of the greeting that was said
  CHECK(std::count(types.begin(), types.end(), "response.create") >= 1);
  CHECK(second.responses >= 2);  // the re-requested answer, then the caller's turn
  // The caller heard the AI after the failure: the first session's half
  // answer, the new session's answer and the answer to their turn.
  CHECK(caller.audio_bytes_received > 8 * 1600);

  const auto trace = app->trace_lines();
  const double gap_ms = drop_to_ai_audio_ms(trace);
  CHECK(gap_ms > 0);
  std::printf("reconnect figure (%s): OpenAI drop -> first AI audio of the new session forwarded to Twilio: %.1f ms "
              "(loopback fake OpenAI)\n",
              how.c_str(), gap_ms);

  // The call's trace replays, reconnect included.
  std::string text;
  for (const auto& l : trace) text += l + "\n";
  std::istringstream in(text);
  std::ostringstream out;
  REQUIRE(replay_trace(in, out));
  CHECK(out.str().find("conversation.item.create") != std::string::npos);
  CHECK(out.str().find("caller_hung_up") != std::string::npos);
}

TEST_CASE("session rollover over sockets: a second session takes over between turns, no caller audio lost or "
          "duplicated, the call goes on",
          "[e2e][rollover]") {
  peers::fake_openai_options options;
  options.expected_api_key = std::string(test_api_key);
  options.script = {peers::scripted_response{"Sure, one moment.", {}, 800, std::nullopt, false}};
  options.caller_transcripts = {"Where is my order?", "Thanks, and my invoice?"};
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  app->capture_traces = true;
  call_config config = bridge::default_config();
  config.rollover.after = 4s;  // during the pause, once; the call ends before a second one
  config.rollover.switch_by = 20s;
  bridge b(openai, app, config);
  peers::caller_pool callers;
  const int id = callers.start_call(
      {.url = b.stream_url(),
       .script = {peers::step::pause{300ms}, peers::step::say{peers::synthetic_speech(700)},
                  peers::step::wait_for_ai_audio{}, peers::step::wait_for_ai_silence{}, peers::step::pause{3s},
                  peers::step::say{peers::synthetic_speech(700)}, peers::step::wait_for_ai_audio{},
                  peers::step::wait_for_ai_silence{}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 30s));
  const auto caller = callers.result(id);
  CHECK_FALSE(caller.closed_by_bridge);
  REQUIRE(app->wait_ended(1, 5s));
  const auto events = app->calls()[0];
  CHECK(events.ended == end_reason::caller_hung_up);
  CHECK(events.counters.rollovers == 1);
  CHECK(events.counters.openai_reconnect_attempts == 0);
  CHECK(caller.violations.empty());

  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 2);
  CHECK(sessions[0].closed_by_client);  // the old session was closed by the bridge after the switch
  const auto& types = sessions[1].client_event_types;
  REQUIRE(!types.empty());
  CHECK(types[0] == "session.update");
  CHECK(std::count(types.begin(), types.end(), "conversation.item.create") >= 2);  // the first turn, replayed
  CHECK(sessions[1].responses == 1);  // the second turn was answered by the new session
  CHECK(sessions[0].responses == 1);
  // Every caller frame reached exactly one session.
  const std::uint64_t appended = sessions[0].appended_bytes + sessions[1].appended_bytes;
  CHECK(appended == caller.frames_sent * 160);
  CHECK(events.counters.caller_frames_forwarded == caller.frames_sent);
  REQUIRE(caller.response_latencies.size() == 2);
  const auto before = caller.response_latencies[0].count();
  const auto after = caller.response_latencies[1].count();
  std::printf("rollover figures: caller audio lost %lld ms, duplicated %lld ms at the switch; AI answer latency "
              "%lld ms before the switch, %lld ms after it (loopback fake OpenAI)\n",
              static_cast<long long>(caller.frames_sent * 160 > appended ? (caller.frames_sent * 160 - appended) / 8 : 0),
              static_cast<long long>(appended > caller.frames_sent * 160 ? (appended - caller.frames_sent * 160) / 8 : 0),
              static_cast<long long>(before), static_cast<long long>(after));

  const auto trace = app->trace_lines();
  CHECK(std::any_of(trace.begin(), trace.end(),
                    [](const std::string& l) { return l.find(R"("slot":"next")") != std::string::npos; }));
  std::string text;
  for (const auto& l : trace) text += l + "\n";
  std::istringstream in(text);
  std::ostringstream out;
  REQUIRE(replay_trace(in, out));
  CHECK(out.str().find("-> openai.next ") != std::string::npos);
  CHECK(out.str().find("caller_hung_up") != std::string::npos);
}
