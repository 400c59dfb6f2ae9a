// Scenarios for the call machine (include/realtime_bridge/call.hpp): the two
// legs and barge-in composed.
#include "realtime_bridge/call.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

const std::string chunk = frame();
const std::string voice = frame(0x55);

call_config config_with(openai::greeting g = {}) {
  call_config c;
  c.openai.greeting = std::move(g);
  c.twilio.media_idle = 0ms;
  c.barge_in.margin = 20ms;  // not the default (0): the barge-in numbers show where it applies
  c.reconnect.attempts = 0;  // OpenAI failures end these calls; reconnect_test.cpp has the other story
  return c;
}

// A call whose two legs are up: Twilio started, OpenAI configured.
struct live_call {
  explicit live_call(call_config cfg = config_with()) : c(std::move(cfg), at(0)) {
    (void)c.handle(twilio::event{twilio::connected{"Call", "1.0.0"}}, at(0));
    (void)c.handle(twilio::event{start_event()}, at(5));
    (void)c.handle(call_in::openai_opened{}, at(100));
    (void)c.handle(openai::event{session_updated_pcmu()}, at(200));
  }
  const actions& tw(twilio::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  const actions& oa(openai::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  call c;
};

}  // namespace

TEST_CASE("a greeting call: session.update on open, greeting once both legs are up, audio with marks", "[call]") {
  call c(config_with({openai::greeting::style::instructions, "Greet the caller."}), at(0));
  REQUIRE(c.handle(twilio::event{twilio::connected{"Call", "1.0.0"}}, at(0)) == actions{});
  REQUIRE(c.handle(call_in::openai_opened{}, at(80)) == actions{to_openai::update_session{}});
  REQUIRE(c.handle(openai::event{session_updated_pcmu()}, at(200)) == actions{to_host::session_ready{"sess_1"}});
  REQUIRE(c.handle(twilio::event{start_event("MZ9", "CA9")}, at(250)) ==
          actions{to_host::stream_started{"CA9", "MZ9", {}}, to_openai::create_response{"Greet the caller."}});
  CHECK(c.stream_sid() == "MZ9");
  REQUIRE(c.handle(openai::event{response_created("resp_1")}, at(300)) == actions{});
  REQUIRE(c.handle(openai::event{delta("resp_1", "item_A", chunk)}, at(350)) ==
          actions{to_twilio::mark{{1, 0, 0}}, to_twilio::media{chunk}, to_twilio::mark{{1, 1, 20}}});
}

TEST_CASE("caller audio is passed to OpenAI unchanged once the socket is open", "[call]") {
  live_call lc;
  REQUIRE(lc.tw(media_event(voice), 300) == actions{to_openai::append_audio{voice}});
  CHECK(lc.c.counters().caller_frames_forwarded == 1);
}

TEST_CASE("caller audio before the OpenAI socket opens is held, then sent right after session.update", "[call]") {
  call_config cfg = config_with();
  cfg.limits.held_caller_audio = 40ms;  // two frames
  call c(cfg, at(0));
  (void)c.handle(twilio::event{start_event()}, at(5));
  const std::string f1 = frame(1), f2 = frame(2), f3 = frame(3);
  REQUIRE(c.handle(twilio::event{media_event(f1)}, at(20)) == actions{});
  REQUIRE(c.handle(twilio::event{media_event(f2)}, at(40)) == actions{});
  const auto& over = c.handle(twilio::event{media_event(f3)}, at(60));
  REQUIRE(over.size() == 1);  // the oldest frame is dropped, once with a warning
  CHECK(std::get<to_host::warning>(over[0]).code == warning_code::audio_held_overflow);
  REQUIRE(c.handle(call_in::openai_opened{}, at(100)) ==
          actions{to_openai::update_session{}, to_openai::append_audio{f2}, to_openai::append_audio{f3}});
  CHECK(c.counters().held_caller_frames_dropped == 1);
}

TEST_CASE("AI audio that arrives before Twilio's start is held and sent once the streamSid is known", "[call]") {
  call c(config_with(), at(0));
  (void)c.handle(call_in::openai_opened{}, at(10));
  (void)c.handle(openai::event{session_updated_pcmu()}, at(50));
  (void)c.handle(openai::event{response_created("resp_1")}, at(60));
  const std::string a = frame(1), b = frame(2);
  REQUIRE(c.handle(openai::event{delta("resp_1", "item_A", a)}, at(70)) == actions{});
  REQUIRE(c.handle(openai::event{delta("resp_1", "item_A", b)}, at(71)) == actions{});
  REQUIRE(c.handle(twilio::event{start_event()}, at(90)) ==
          actions{to_host::stream_started{"CA1", "MZ1", {}}, to_twilio::mark{{1, 0, 0}}, to_twilio::media{a},
                  to_twilio::mark{{1, 1, 20}}, to_twilio::media{b}, to_twilio::mark{{1, 1, 40}}});
}

TEST_CASE("speech over the AI clears Twilio and truncates what was not heard", "[call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 300);
  for (int i = 0; i < 10; ++i) (void)lc.oa(delta("resp_1", "item_A", chunk), 310);
  REQUIRE(lc.tw(mark_event("rtb.1.1.20"), 330) == actions{});
  REQUIRE(lc.tw(mark_event("rtb.1.1.40"), 350) == actions{});
  REQUIRE(lc.oa(speech_started(), 350) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 60},
                                                  to_host::ai_interrupted{"item_A", 60, 200}});
  // The interrupted response's audio still in flight never reaches the caller.
  REQUIRE(lc.oa(delta("resp_1", "item_A", chunk), 352) == actions{});
  // The clear emptied Twilio's buffer: with the response over, the AI is quiet.
  REQUIRE(lc.oa(response_done("resp_1", "cancelled"), 360) == actions{to_host::playout_finished{}});
  CHECK(lc.c.counters().playout.late_deltas_dropped == 1);
}

TEST_CASE("Twilio's stop closes the OpenAI leg and ends the call", "[call]") {
  live_call lc;
  REQUIRE(lc.tw(twilio::stop{}, 5000) == actions{to_twilio::close{close_normal, "caller_hung_up"},
                                                 to_openai::close{close_normal, "caller_hung_up"},
                                                 to_host::call_ended{end_reason::caller_hung_up, ""}});
  CHECK(lc.c.ended());
  CHECK(lc.c.openai_session().phase() == openai::session_phase::closed);
  SECTION("everything after the end is counted and ignored") {
    REQUIRE(lc.c.handle(call_in::leg_closed{leg::twilio, 1000, ""}, at(5001)) == actions{});
    REQUIRE(lc.oa(delta("resp_1", "item_A", chunk), 5002) == actions{});
    CHECK(lc.c.counters().inputs_after_end == 2);
    CHECK_FALSE(lc.c.next_timeout().has_value());
  }
}

TEST_CASE("Twilio's socket closing without stop ends the call as a disconnect", "[call]") {
  live_call lc;
  REQUIRE(lc.c.handle(call_in::leg_closed{leg::twilio, 1006, "abnormal"}, at(5000)) ==
          actions{to_openai::close{close_normal, "twilio_disconnected"},
                  to_host::call_ended{end_reason::twilio_disconnected,
                                      "Twilio closed the stream without stop (code 1006 abnormal)"}});
}

TEST_CASE("an OpenAI failure closes the Twilio stream so Twilio moves on to the fallback TwiML", "[call]") {
  SECTION("a fatal error") {
    live_call lc;
    openai::error_event e;
    e.error.code = "invalid_api_key";
    e.error.message = "Incorrect API key provided";
    REQUIRE(lc.oa(e, 300) ==
            actions{to_twilio::close{close_internal_error, "openai_rejected"},
                    to_openai::close{close_normal, "openai_rejected"},
                    to_host::call_ended{end_reason::openai_rejected, "invalid_api_key: Incorrect API key provided"}});
  }
  SECTION("OpenAI closes the socket mid-call") {
    live_call lc;
    REQUIRE(lc.c.handle(call_in::leg_closed{leg::openai, 1011, "server error"}, at(300)) ==
            actions{to_twilio::close{close_internal_error, "openai_closed"},
                    to_host::call_ended{end_reason::openai_closed, "closed with code 1011 (server error)"}});
  }
  SECTION("OpenAI never answers") {
    call c(config_with(), at(0));
    (void)c.handle(twilio::event{start_event()}, at(5));
    REQUIRE(c.next_timeout() == at(10'000));
    const auto& out = c.handle_timeout(at(10'000));
    REQUIRE(out.size() == 3);
    CHECK(out[0] == action{to_twilio::close{close_internal_error, "openai_unreachable"}});
    CHECK(std::get<to_host::call_ended>(out[2]).reason == end_reason::openai_unreachable);
  }
}

TEST_CASE("Twilio connecting but never sending start ends the call after the start timeout", "[call]") {
  call c(config_with(), at(0));
  (void)c.handle(call_in::openai_opened{}, at(10));
  (void)c.handle(openai::event{session_updated_pcmu()}, at(50));
  REQUIRE(c.next_timeout() == at(10'000));
  const auto& out = c.handle_timeout(at(10'000));
  REQUIRE(out.size() == 3);
  CHECK(std::get<to_host::call_ended>(out[2]).reason == end_reason::twilio_start_timeout);
}

TEST_CASE("bad messages are dropped and counted, a flood ends only this call", "[call]") {
  call_config cfg = config_with();
  cfg.limits.max_rejected_messages = 12;
  live_call lc(cfg);
  for (int i = 1; i <= 12; ++i) {
    const auto& out =
        lc.c.handle(call_in::message_rejected{leg::twilio, errc::malformed_json, "not valid JSON"}, at(300 + i));
    REQUIRE(out.size() == (i <= 10 ? 1u : 0u));  // reported ten times, then only counted
  }
  REQUIRE_FALSE(lc.c.ended());
  REQUIRE(lc.tw(media_event(voice), 400) == actions{to_openai::append_audio{voice}});  // the call goes on
  const auto& out =
      lc.c.handle(call_in::message_rejected{leg::twilio, errc::malformed_json, "not valid JSON"}, at(500));
  REQUIRE_FALSE(out.empty());
  CHECK(std::get<to_host::call_ended>(out.back()).reason == end_reason::twilio_protocol_error);
  CHECK(lc.c.counters().rejected_twilio_messages == 13);
}

TEST_CASE("DTMF digits reach the host", "[call]") {
  live_call lc;
  REQUIRE(lc.tw(twilio::dtmf{5, "MZ1", "inbound_track", "7"}, 300) == actions{to_host::dtmf{"7"}});
}

TEST_CASE("a tool call round trip through the call", "[call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 300);
  openai::output_item_done fc;
  fc.response_id = "resp_1";
  fc.item = {"item_F", "function_call", "", "completed", "call_1", "get_order_status", R"({"order_number":"1"})"};
  REQUIRE(lc.oa(fc, 400) == actions{to_host::tool_call{"call_1", "get_order_status", R"({"order_number":"1"})"}});
  REQUIRE(lc.oa(response_done("resp_1"), 410) == actions{});
  REQUIRE(lc.c.handle(call_in::tool_result{"call_1", R"({"status":"shipped"})"}, at(600)) ==
          actions{to_openai::send_function_output{"call_1", R"({"status":"shipped"})"}, to_openai::create_response{}});
}

TEST_CASE("a start announcing another audio format ends the call with a protocol error", "[call]") {
  call c(config_with(), at(0));
  auto st = start_event();
  st.format.sample_rate = 16000;
  const auto& out = c.handle(twilio::event{st}, at(5));
  REQUIRE_FALSE(out.empty());
  CHECK(std::get<to_host::call_ended>(out.back()).reason == end_reason::twilio_protocol_error);
}

TEST_CASE("unknown events are reported once per name, documented ones not at all", "[call]") {
  live_call lc;
  REQUIRE(lc.oa(openai::unknown_event{"response.content_part.added", true}, 300) == actions{});
  REQUIRE(lc.oa(openai::unknown_event{"brand.new_event", false}, 301).size() == 1);
  REQUIRE(lc.oa(openai::unknown_event{"brand.new_event", false}, 302) == actions{});
  REQUIRE(lc.tw(twilio::unknown_event{"transcription"}, 303).size() == 1);
  REQUIRE(lc.tw(twilio::unknown_event{"transcription"}, 304) == actions{});
}

TEST_CASE("the host can end the call", "[call]") {
  live_call lc;
  REQUIRE(lc.c.handle(call_in::end_call{"transfer to agent"}, at(300)) ==
          actions{to_twilio::close{close_normal, "host_ended"}, to_openai::close{close_normal, "host_ended"},
                  to_host::call_ended{end_reason::host_ended, "transfer to agent"}});
}

TEST_CASE("the call's next timeout is the earliest of its machines'", "[call]") {
  call_config cfg = config_with();
  cfg.twilio.start = 3000ms;
  cfg.openai.timeouts.connect = 5000ms;
  call c(cfg, at(0));
  CHECK(c.next_timeout() == at(3000));
  (void)c.handle(twilio::event{start_event()}, at(100));
  CHECK(c.next_timeout() == at(5000));
}

// ---- caller audio batching (limits.caller_audio_batch) ----

namespace {

call_config batching(std::chrono::milliseconds batch) {
  call_config c = config_with();
  c.limits.caller_audio_batch = batch;
  return c;
}

/// The 160 bytes of frame(fill).
std::string frame_bytes(unsigned char fill) { return std::string(160, static_cast<char>(fill)); }

}  // namespace

TEST_CASE("without batching every caller frame is its own append, and appends count frames", "[call][batch]") {
  live_call lc;
  const std::string f1 = frame(1), f2 = frame(2);
  REQUIRE(lc.tw(media_event(f1), 300) == actions{to_openai::append_audio{f1}});
  REQUIRE(lc.tw(media_event(f2), 320) == actions{to_openai::append_audio{f2}});
  CHECK_FALSE(lc.c.next_timeout().has_value());
  CHECK(lc.c.counters().caller_frames_forwarded == 2);
  CHECK(lc.c.counters().caller_audio_appends == 2);
}

TEST_CASE("with a 60 ms batch, three caller frames go to OpenAI as one append of their 480 bytes in order",
          "[call][batch]") {
  live_call lc(batching(60ms));
  const std::string f1 = frame(1), f2 = frame(2), f3 = frame(3);
  REQUIRE(lc.tw(media_event(f1), 300) == actions{});
  REQUIRE(lc.tw(media_event(f2), 320) == actions{});
  const auto& out = lc.tw(media_event(f3), 340);
  REQUIRE(out == actions{to_openai::append_audio{base64(frame_bytes(1) + frame_bytes(2) + frame_bytes(3))}});
  CHECK(audio::base64_decoded_size(std::get<to_openai::append_audio>(out[0]).audio) == 480);
  CHECK(lc.c.counters().caller_frames_forwarded == 3);
  CHECK(lc.c.counters().caller_audio_appends == 1);
  CHECK_FALSE(lc.c.next_timeout().has_value());  // nothing pending
  const void* text_at = std::get<to_openai::append_audio>(out[0]).audio.data();

  SECTION("and the next three make the next append, in the same reused buffer") {
    REQUIRE(lc.tw(media_event(f3), 360) == actions{});
    REQUIRE(lc.tw(media_event(f2), 380) == actions{});
    const auto& next = lc.tw(media_event(f1), 400);
    REQUIRE(next == actions{to_openai::append_audio{base64(frame_bytes(3) + frame_bytes(2) + frame_bytes(1))}});
    CHECK(static_cast<const void*>(std::get<to_openai::append_audio>(next[0]).audio.data()) == text_at);
    CHECK(lc.c.counters().caller_frames_forwarded == 6);
    CHECK(lc.c.counters().caller_audio_appends == 2);
  }
}

TEST_CASE("a partial batch is sent when its oldest frame has waited the batch length", "[call][batch]") {
  live_call lc(batching(60ms));
  const std::string f1 = frame(1), f2 = frame(2);
  REQUIRE(lc.tw(media_event(f1), 300) == actions{});
  REQUIRE(lc.tw(media_event(f2), 320) == actions{});
  REQUIRE(lc.c.next_timeout() == at(360));
  REQUIRE(lc.c.handle_timeout(at(359)) == actions{});  // spurious: nothing yet
  REQUIRE(lc.c.handle_timeout(at(360)) == actions{to_openai::append_audio{base64(frame_bytes(1) + frame_bytes(2))}});
  CHECK_FALSE(lc.c.next_timeout().has_value());
  CHECK(lc.c.counters().caller_frames_forwarded == 2);
  CHECK(lc.c.counters().caller_audio_appends == 1);

  SECTION("the next frame starts a new batch with its own deadline") {
    REQUIRE(lc.tw(media_event(f1), 365) == actions{});
    CHECK(lc.c.next_timeout() == at(425));
  }
  SECTION("if the timer is late, the overdue batch goes before the next frame joins one") {
    REQUIRE(lc.tw(media_event(f1), 400) == actions{});
    REQUIRE(lc.tw(media_event(f2), 470) == actions{to_openai::append_audio{base64(frame_bytes(1))}});
    CHECK(lc.c.next_timeout() == at(530));
  }
}

TEST_CASE("pending caller audio goes to OpenAI before any other message for OpenAI", "[call][batch]") {
  live_call lc(batching(100ms));
  const std::string f1 = frame(1);
  const std::string pending = base64(frame_bytes(1));
  SECTION("a barge-in's truncate") {
    (void)lc.oa(response_created("resp_1"), 300);
    for (int i = 0; i < 5; ++i) (void)lc.oa(delta("resp_1", "item_A", chunk), 310);
    REQUIRE(lc.tw(mark_event("rtb.1.1.20"), 330) == actions{});
    REQUIRE(lc.tw(media_event(f1), 340) == actions{});
    REQUIRE(lc.oa(speech_started(), 350) == actions{to_openai::append_audio{pending}, to_twilio::clear{},
                                                    to_openai::truncate_item{"item_A", 0, 60},
                                                    to_host::ai_interrupted{"item_A", 60, 100}});
  }
  SECTION("text from the host, and the response it asks for") {
    REQUIRE(lc.tw(media_event(f1), 300) == actions{});
    REQUIRE(lc.c.handle(call_in::user_text{"the caller pressed 0", true}, at(310)) ==
            actions{to_openai::append_audio{pending}, to_openai::create_user_message{"the caller pressed 0"},
                    to_openai::create_response{}});
  }
  SECTION("a tool result") {
    (void)lc.oa(response_created("resp_1"), 300);
    openai::output_item_done fc;
    fc.response_id = "resp_1";
    fc.item = {"item_F", "function_call", "", "completed", "call_1", "lookup", "{}"};
    (void)lc.oa(fc, 310);
    (void)lc.oa(response_done("resp_1"), 320);
    REQUIRE(lc.tw(media_event(f1), 330) == actions{});
    REQUIRE(lc.c.handle(call_in::tool_result{"call_1", "{}"}, at(340)) ==
            actions{to_openai::append_audio{pending}, to_openai::send_function_output{"call_1", "{}"},
                    to_openai::create_response{}});
  }
  SECTION("but not before messages for Twilio or the host: AI audio does not cut a batch") {
    (void)lc.oa(response_created("resp_1"), 300);
    REQUIRE(lc.tw(media_event(f1), 305) == actions{});
    REQUIRE(lc.oa(delta("resp_1", "item_A", chunk), 310) ==
            actions{to_twilio::mark{{1, 0, 0}}, to_twilio::media{chunk}, to_twilio::mark{{1, 1, 20}}});
    REQUIRE(lc.tw(twilio::dtmf{5, "MZ1", "inbound_track", "7"}, 315) == actions{to_host::dtmf{"7"}});
    CHECK(lc.c.next_timeout() == at(405));
    REQUIRE(lc.c.handle_timeout(at(405)) == actions{to_openai::append_audio{pending}});
  }
}

TEST_CASE("at the end of a call a pending batch is sent if OpenAI still takes audio, else dropped", "[call][batch]") {
  live_call lc(batching(60ms));
  const std::string f1 = frame(1);
  const std::string pending = base64(frame_bytes(1));
  REQUIRE(lc.tw(media_event(f1), 300) == actions{});
  SECTION("Twilio's stop: the audio, then the closes") {
    REQUIRE(lc.tw(twilio::stop{}, 310) == actions{to_openai::append_audio{pending},
                                                  to_twilio::close{close_normal, "caller_hung_up"},
                                                  to_openai::close{close_normal, "caller_hung_up"},
                                                  to_host::call_ended{end_reason::caller_hung_up, ""}});
    CHECK(lc.c.counters().caller_frames_forwarded == 1);
  }
  SECTION("the host ends the call") {
    REQUIRE(lc.c.handle(call_in::end_call{"done"}, at(310)) ==
            actions{to_openai::append_audio{pending}, to_twilio::close{close_normal, "host_ended"},
                    to_openai::close{close_normal, "host_ended"}, to_host::call_ended{end_reason::host_ended, "done"}});
  }
  SECTION("OpenAI closed the socket: nothing more is sent to it") {
    REQUIRE(lc.c.handle(call_in::leg_closed{leg::openai, 1011, "server error"}, at(310)) ==
            actions{to_twilio::close{close_internal_error, "openai_closed"},
                    to_host::call_ended{end_reason::openai_closed, "closed with code 1011 (server error)"}});
    CHECK(lc.c.counters().caller_frames_forwarded == 0);
  }
  SECTION("OpenAI rejected the session") {
    openai::error_event e;
    e.error.code = "invalid_api_key";
    e.error.message = "Incorrect API key provided";
    const auto& out = lc.oa(e, 310);
    CHECK(only<to_openai::append_audio>(out).empty());
    CHECK(lc.c.counters().caller_frames_forwarded == 0);
  }
  CHECK_FALSE(lc.c.next_timeout().has_value());
}

TEST_CASE("caller audio held while OpenAI connects is batched the same way when it is released", "[call][batch]") {
  call c(batching(40ms), at(0));
  (void)c.handle(twilio::event{start_event()}, at(5));
  const std::string f[] = {frame(1), frame(2), frame(3), frame(4), frame(5), frame(6)};
  for (int i = 0; i < 5; ++i) REQUIRE(c.handle(twilio::event{media_event(f[i])}, at(20 + 20 * i)) == actions{});
  // Two full batches, each from its own buffer; the fifth frame starts the next batch.
  REQUIRE(c.handle(call_in::openai_opened{}, at(150)) ==
          actions{to_openai::update_session{}, to_openai::append_audio{base64(frame_bytes(1) + frame_bytes(2))},
                  to_openai::append_audio{base64(frame_bytes(3) + frame_bytes(4))}});
  CHECK(c.next_timeout() == at(190));
  REQUIRE(c.handle(twilio::event{media_event(f[5])}, at(160)) ==
          actions{to_openai::append_audio{base64(frame_bytes(5) + frame_bytes(6))}});
  CHECK(c.counters().caller_frames_forwarded == 6);
  CHECK(c.counters().caller_audio_appends == 3);
}

// ---- barge-in decides interrupt_response ----

TEST_CASE("with barge-in disabled the session.update asks the server not to interrupt, and speech changes nothing",
          "[call][barge_in]") {
  call_config cfg = config_with();
  cfg.barge_in.enabled = false;
  REQUIRE(openai::server_interrupts(cfg.openai.config));  // the default turn detection interrupts
  live_call lc(cfg);
  CHECK_FALSE(openai::server_interrupts(lc.c.config().openai.config));
  CHECK_FALSE(lc.c.config().barge_in.server_cancels);
  CHECK(rtb::validate(lc.c.config()));

  (void)lc.oa(response_created("resp_1"), 300);
  for (int i = 0; i < 5; ++i) (void)lc.oa(delta("resp_1", "item_A", chunk), 310);
  REQUIRE(lc.oa(speech_started(), 350) == actions{});
  // The answer goes on playing.
  REQUIRE(lc.oa(delta("resp_1", "item_A", chunk), 360) ==
          actions{to_twilio::media{chunk}, to_twilio::mark{{1, 1, 120}}});
}

TEST_CASE("with barge-in enabled the configured interrupt_response is kept", "[call][barge_in]") {
  const bool interrupt = GENERATE(true, false);
  call_config cfg = config_with();
  cfg.openai.config.turn = openai::semantic_vad{"auto", true, interrupt};
  call c(cfg, at(0));
  CHECK(openai::server_interrupts(c.config().openai.config) == interrupt);
  CHECK(c.config().barge_in.server_cancels == interrupt);
}

TEST_CASE("with a minimum speech the call routes speech_stopped and runs barge-in's timer", "[call][barge_in]") {
  call_config cfg = config_with();
  cfg.barge_in.min_speech = 300ms;
  live_call lc(cfg);
  CHECK_FALSE(openai::server_interrupts(lc.c.config().openai.config));  // the bridge decides
  (void)lc.oa(response_created("resp_1"), 300);
  for (int i = 0; i < 10; ++i) (void)lc.oa(delta("resp_1", "item_A", chunk), 310);
  REQUIRE(lc.oa(speech_started(), 400) == actions{});
  REQUIRE(lc.c.next_timeout() == at(700));
  SECTION("it stops in time: a cough, the answer goes on") {
    openai::speech_stopped stopped;
    stopped.item_id = "item_user";
    REQUIRE(lc.oa(stopped, 500) == actions{});
    CHECK_FALSE(lc.c.next_timeout().has_value());
    REQUIRE(lc.oa(delta("resp_1", "item_A", chunk), 510).size() == 2);
  }
  SECTION("it lasts: the barge-in happens at the deadline, with the bridge's cancel") {
    const auto& out = lc.c.handle_timeout(at(700));
    REQUIRE(out.size() == 4);
    CHECK(out[0] == action{to_openai::cancel_response{}});
    CHECK(out[1] == action{to_twilio::clear{}});
    CHECK(std::holds_alternative<to_openai::truncate_item>(out[2]));
    REQUIRE(lc.oa(delta("resp_1", "item_A", chunk), 710) == actions{});  // late audio dropped
  }
}
