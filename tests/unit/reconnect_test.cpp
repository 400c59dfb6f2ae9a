// Scenarios for reconnect with context replay (call.cpp "Reconnect",
// reconnect.hpp, conversation_log.hpp): given these events at these times,
// these actions.
#include "realtime_bridge/call.hpp"
#include "realtime_bridge/conversation_log.hpp"
#include "realtime_bridge/reconnect.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

using item = to_openai::create_item;

bool has_warning(const actions& out, warning_code code) {
  for (const auto& w : only<to_host::warning>(out))
    if (w.code == code) return true;
  return false;
}
const std::string voice = frame(0x55);

call_config reconnecting_config() {
  call_config c;
  c.twilio.media_idle = 0ms;
  c.reconnect.attempts = 3;
  c.reconnect.window = 10s;
  c.reconnect.backoff = 500ms;
  return c;
}

openai::error_event error_with(std::string_view code) {
  openai::error_event e;
  e.error.type = "invalid_request_error";
  e.error.code = code;
  e.error.message = "m";
  return e;
}

// Twilio started, OpenAI configured; then one caller turn and an answer the
// caller heard all of.
struct live_call {
  explicit live_call(call_config cfg = reconnecting_config()) : c(std::move(cfg), at(0)) {
    (void)c.start(at(0));
    (void)c.handle(twilio::event{start_event()}, at(5));
    (void)c.handle(call_in::openai_opened{}, at(100));
    (void)c.handle(openai::event{session_updated_pcmu()}, at(200));
  }
  const actions& tw(twilio::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  const actions& oa(openai::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  const actions& in(call_input i, std::int64_t t) { return c.handle(i, at(t)); }
  void one_turn() {
    (void)oa(openai::input_committed{"item_u1", ""}, 1000);
    (void)oa(openai::input_transcription_completed{"item_u1", 0, "What time do you close?"}, 1100);
    (void)oa(response_created("resp_1"), 1200);
    openai::output_item_added added;
    added.response_id = "resp_1";
    added.item.id = "item_a1";
    added.item.type = "message";
    (void)oa(added, 1210);
    (void)oa(openai::transcript_done{"resp_1", "item_a1", 0, "We close at eight."}, 1300);
    (void)oa(response_done("resp_1"), 1400);
  }
  call c;
};

}  // namespace

TEST_CASE("reconnect policy: attempts at once, then with doubling backoff, within the window", "[reconnect]") {
  reconnect_policy p({3, 10s, 500ms, true});
  CHECK(p.on_failure(at(1000)) == at(1000));
  CHECK(p.on_failure(at(1200)) == at(1700));
  CHECK(p.on_failure(at(2000)) == at(3000));
  CHECK_FALSE(p.on_failure(at(3100)).has_value());  // three attempts made
  CHECK(p.total_attempts() == 3);
  SECTION("a session that stays up a whole window ends the outage: the next failure has all its attempts") {
    p.on_recovered(at(3500));
    CHECK(p.recoveries() == 1);
    CHECK(p.on_failure(at(13'500)) == at(13'500));
    CHECK(p.attempts_in_outage() == 1);
  }
}

TEST_CASE("reconnect policy: a session that fails soon after it is ready spends the same outage", "[reconnect]") {
  reconnect_policy p({2, 10s, 500ms, true});
  CHECK(p.on_failure(at(0)) == at(0));
  p.on_recovered(at(300));
  CHECK(p.on_failure(at(2000)) == at(2500));
  p.on_recovered(at(2800));
  CHECK_FALSE(p.on_failure(at(4000)).has_value());  // flapping: no endless reconnects
}

TEST_CASE("reconnect policy: no attempt starts after the window", "[reconnect]") {
  reconnect_policy p({5, 2s, 1500ms, true});
  CHECK(p.on_failure(at(0)) == at(0));
  CHECK(p.on_failure(at(400)) == at(1900));
  CHECK_FALSE(p.on_failure(at(1950)).has_value());  // 1950 + 3000 is past 2000
}

TEST_CASE("failures: what is worth another session", "[reconnect]") {
  using kind = openai::session_failure::kind;
  CHECK(classify({kind::closed, "closed with code 1006", ""}, true) == failure_class::transient);
  CHECK(classify({kind::connect_failed, "", ""}, true) == failure_class::transient);
  CHECK(classify({kind::connect_timeout, "", ""}, true) == failure_class::transient);
  CHECK(classify({kind::configure_timeout, "", ""}, true) == failure_class::transient);
  CHECK(classify({kind::rejected, "", "session_expired"}, true) == failure_class::transient);
  CHECK(classify({kind::rejected, "", "server_error"}, true) == failure_class::transient);
  for (auto code : {"invalid_api_key", "model_not_found", "beta_api_shape_disabled", "invalid_model"})
    CHECK(classify({kind::rejected, "", code}, true) == failure_class::fatal);
  // A close whose reason names a fatal error (type.code).
  CHECK(classify({kind::closed, "", "invalid_model"}, true) == failure_class::fatal);
  CHECK(classify({kind::closed, "", "session_expired"}, true) == failure_class::transient);
  // Before any session was ready (the first connect, a refused upgrade): fatal.
  CHECK(classify({kind::connect_failed, "HTTP 401", ""}, false) == failure_class::fatal);
  CHECK(classify({kind::closed, "", ""}, false) == failure_class::fatal);
}

TEST_CASE("reconnect settings are validated", "[reconnect][config]") {
  CHECK(validate(reconnect_config{}));
  CHECK_FALSE(validate(reconnect_config{11, 10s, 500ms, true}));
  CHECK_FALSE(validate(reconnect_config{3, 500ms, 500ms, true}));
  CHECK_FALSE(validate(reconnect_config{3, 10s, 11s, true}));
  call_config c;
  c.reconnect.window = 0ms;
  CHECK_FALSE(validate(c));
}

TEST_CASE("reconnect switches input transcription on for replay, unless told not to", "[reconnect][config]") {
  call_config c;
  CHECK(call(c, at(0)).config().openai.config.input_transcription.has_value());
  c.reconnect.transcribe_caller = false;
  CHECK_FALSE(call(c, at(0)).config().openai.config.input_transcription.has_value());
  c.reconnect.transcribe_caller = true;
  c.reconnect.attempts = 0;
  c.rollover.after = 0ms;
  CHECK_FALSE(call(c, at(0)).config().openai.config.input_transcription.has_value());
}

TEST_CASE("a TCP drop mid-call: reconnect at once, configure, replay, no greeting", "[reconnect][call]") {
  call_config cfg = reconnecting_config();
  cfg.openai.greeting = {openai::greeting::style::instructions, "Greet the caller."};
  live_call lc(cfg);
  lc.one_turn();
  const auto& dropped = lc.in(call_in::leg_closed{leg::openai, 1006, "abnormal"}, 2000);
  REQUIRE(dropped.size() == 2);
  CHECK(std::get<to_host::warning>(dropped[0]).code == warning_code::openai_reconnect);
  CHECK(dropped[1] == action{to_openai::connect{}});
  CHECK(lc.c.reconnecting());
  CHECK_FALSE(lc.c.ended());
  // Caller audio in the gap is held, then follows the replay.
  REQUIRE(lc.tw(media_event(voice), 2020) == actions{});
  REQUIRE(lc.in(call_in::openai_opened{}, 2100) ==
          actions{to_openai::update_session{}, item{item::kind::caller, "What time do you close?", {}, {}},
                  item{item::kind::assistant, "We close at eight.", {}, {}}, to_openai::append_audio{voice}});
  const auto& ready = lc.oa(session_updated_pcmu("sess_2"), 2200);
  CHECK(ready.front() == action{to_host::session_ready{"sess_2"}});
  CHECK(only<to_openai::create_response>(ready).empty());  // no greeting again
  CHECK(has_warning(ready, warning_code::openai_reconnect));
  CHECK(lc.c.counters().openai_reconnects == 1);
  CHECK(lc.c.counters().openai_reconnect_attempts == 1);
  CHECK(lc.c.counters().replayed_items == 2);
  REQUIRE(lc.tw(media_event(voice), 2220) == actions{to_openai::append_audio{voice}});
}

TEST_CASE("server_error then close 1011: reconnect, and a new response for the cut answer", "[reconnect][call]") {
  live_call lc;
  (void)lc.oa(openai::input_committed{"item_u1", ""}, 1000);
  (void)lc.oa(openai::input_transcription_completed{"item_u1", 0, "Tell me a story."}, 1050);
  (void)lc.oa(response_created("resp_1"), 1100);
  (void)lc.oa(openai::transcript_delta{"resp_1", "item_a1", 0, "Once upon"}, 1150);
  (void)lc.oa(delta("resp_1", "item_a1", frame()), 1160);
  const auto& err = lc.oa(error_with("server_error"), 1200);
  CHECK(has_warning(err, warning_code::openai_error));  // recoverable on its own
  const auto& closed = lc.in(call_in::leg_closed{leg::openai, 1011, "server_error"}, 1210);
  CHECK(only<to_openai::connect>(closed).size() == 1);
  REQUIRE(lc.in(call_in::openai_opened{}, 1300) ==
          actions{to_openai::update_session{}, item{item::kind::caller, "Tell me a story.", {}, {}},
                  item{item::kind::assistant, "Once upon", {}, {}}});
  const auto& ready = lc.oa(session_updated_pcmu("sess_2"), 1400);
  CHECK(only<to_openai::create_response>(ready) == std::vector<to_openai::create_response>{{}});
}

TEST_CASE("session_expired: the old socket is closed first, then a new session", "[reconnect][call]") {
  live_call lc;
  lc.one_turn();
  const auto& expired = lc.oa(error_with("session_expired"), 3'600'000);
  REQUIRE(expired.size() == 2);
  CHECK(std::get<to_host::warning>(expired[0]).code == warning_code::openai_reconnect);
  CHECK(expired[1] == action{to_openai::close{close_normal, "reconnecting"}});
  // Late events of the old session are ignored; the connect waits for its close.
  REQUIRE(lc.oa(delta("resp_x", "item_x", frame()), 3'600'010) == actions{});
  REQUIRE(lc.in(call_in::leg_closed{leg::openai, 1000, ""}, 3'600'050) == actions{to_openai::connect{}});
  REQUIRE(lc.in(call_in::openai_opened{}, 3'600'100).size() == 3);
}

TEST_CASE("a failed reconnect waits the backoff, after the last attempt the call ends as before",
          "[reconnect][call]") {
  live_call lc;
  lc.one_turn();
  REQUIRE(only<to_openai::connect>(lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 2000)).size() == 1);
  // Attempt 1 fails to connect: attempt 2 after 500 ms.
  REQUIRE(lc.in(call_in::leg_closed{leg::openai, 0, "connection refused"}, 2050).size() == 1);  // the warning
  CHECK(lc.c.next_timeout() == at(2550));
  REQUIRE(lc.c.handle_timeout(at(2549)) == actions{});
  REQUIRE(lc.c.handle_timeout(at(2550)) == actions{to_openai::connect{}});
  // Attempt 2 fails: attempt 3 after 1000 ms.
  (void)lc.in(call_in::leg_closed{leg::openai, 0, "connection refused"}, 2600);
  CHECK(lc.c.next_timeout() == at(3600));
  REQUIRE(lc.c.handle_timeout(at(3600)) == actions{to_openai::connect{}});
  const auto& last = lc.in(call_in::leg_closed{leg::openai, 0, "connection refused"}, 3700);
  REQUIRE(lc.c.ended());
  CHECK(last.front() == action{to_twilio::close{close_internal_error, "openai_unreachable"}});
  CHECK(std::get<to_host::call_ended>(last.back()).reason == end_reason::openai_unreachable);
  CHECK(lc.c.counters().openai_reconnect_attempts == 3);
}

TEST_CASE("fatal errors and first-connect failures are not retried", "[reconnect][call]") {
  SECTION("invalid_api_key mid-call") {
    live_call lc;
    const auto& out = lc.oa(error_with("invalid_api_key"), 1000);
    CHECK(lc.c.ended());
    CHECK(only<to_openai::connect>(out).empty());
  }
  SECTION("a refused upgrade on the first connect") {
    call c(reconnecting_config(), at(0));
    (void)c.start(at(0));
    const auto& out = c.handle(call_in::leg_closed{leg::openai, 0, "HTTP 401"}, at(50));
    CHECK(c.ended());
    CHECK(only<to_openai::connect>(out).empty());
  }
  SECTION("a close naming a fatal error mid-call") {
    live_call lc;
    const auto& out = lc.in(call_in::leg_closed{leg::openai, 4000, "invalid_request_error.invalid_model"}, 1000);
    CHECK(lc.c.reason() == end_reason::openai_closed);
    CHECK(only<to_openai::connect>(out).empty());
  }
  SECTION("reconnect off: a drop ends the call") {
    call_config cfg = reconnecting_config();
    cfg.reconnect.attempts = 0;
    live_call lc(cfg);
    (void)lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 1000);
    CHECK(lc.c.reason() == end_reason::openai_closed);
  }
}

TEST_CASE("tool calls open at a drop are carried: a result in the gap is replayed, then a response",
          "[reconnect][call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 1000);
  openai::output_item_done call_item;
  call_item.response_id = "resp_1";
  call_item.item = {"item_fc", "function_call", "", "completed", "call_1", "lookup", R"({"q":1})"};
  (void)lc.oa(call_item, 1100);
  (void)lc.oa(response_done("resp_1"), 1150);
  (void)lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 1200);
  REQUIRE(lc.in(call_in::tool_result{"call_1", "42"}, 1250) == actions{});
  REQUIRE(lc.in(call_in::openai_opened{}, 1300) ==
          actions{to_openai::update_session{}, item{item::kind::function_call, R"({"q":1})", "call_1", "lookup"},
                  item{item::kind::function_output, "42", "call_1", {}}});
  CHECK(only<to_openai::create_response>(lc.oa(session_updated_pcmu("sess_2"), 1400)).size() == 1);
  SECTION("a result after the new socket opened goes to the new session") {}
}

TEST_CASE("a tool result after the reconnect reaches the new session, which knows the call", "[reconnect][call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 1000);
  openai::output_item_done call_item;
  call_item.response_id = "resp_1";
  call_item.item = {"item_fc", "function_call", "", "completed", "call_1", "lookup", "{}"};
  (void)lc.oa(call_item, 1100);
  (void)lc.oa(response_done("resp_1"), 1150);
  (void)lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 1200);
  (void)lc.in(call_in::openai_opened{}, 1300);
  (void)lc.oa(session_updated_pcmu("sess_2"), 1400);
  REQUIRE(lc.in(call_in::tool_result{"call_1", "42"}, 1500) ==
          actions{to_openai::send_function_output{"call_1", "42"}, to_openai::create_response{}});
}

TEST_CASE("an interrupted answer is replayed as far as the caller heard it", "[reconnect][call]") {
  call_config cfg = reconnecting_config();
  live_call lc(cfg);
  (void)lc.oa(response_created("resp_1"), 1000);
  (void)lc.oa(openai::transcript_delta{"resp_1", "item_a1", 0, "one two three four"}, 1000);
  for (int i = 0; i < 10; ++i) (void)lc.oa(delta("resp_1", "item_a1", frame()), 1010);  // 200 ms sent
  (void)lc.tw(mark_event("rtb.1.1.20"), 1030);
  (void)lc.tw(mark_event("rtb.1.1.40"), 1050);
  (void)lc.tw(mark_event("rtb.1.1.60"), 1070);
  (void)lc.tw(mark_event("rtb.1.1.80"), 1090);
  (void)lc.tw(mark_event("rtb.1.1.100"), 1110);
  const auto& barge = lc.oa(speech_started(), 1110);
  REQUIRE(only<to_host::ai_interrupted>(barge).size() == 1);
  (void)lc.oa(response_done("resp_1", "cancelled"), 1120);
  (void)lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 2000);
  const auto replayed = only<to_openai::create_item>(lc.in(call_in::openai_opened{}, 2100));
  REQUIRE(replayed.size() == 1);
  CHECK(replayed[0].text == "one two");
}

TEST_CASE("after a reconnect, barge-in on the old answer clears Twilio but tells the new session nothing",
          "[reconnect][call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 1000);
  for (int i = 0; i < 10; ++i) (void)lc.oa(delta("resp_1", "item_a1", frame()), 1010);
  (void)lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 1020);
  (void)lc.in(call_in::openai_opened{}, 1100);
  (void)lc.oa(session_updated_pcmu("sess_2"), 1150);
  const auto& barge = lc.oa(speech_started(), 1160);
  CHECK(only<to_twilio::clear>(barge).size() == 1);
  CHECK(only<to_openai::truncate_item>(barge).empty());
  CHECK(only<to_openai::delete_item>(barge).empty());
  CHECK(only<to_openai::cancel_response>(barge).empty());
}

TEST_CASE("caller audio held in a reconnect gap is bounded: the oldest is dropped and counted", "[reconnect][call]") {
  call_config cfg = reconnecting_config();
  cfg.limits.held_caller_audio = 40ms;
  live_call lc(cfg);
  (void)lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 1000);
  const std::string f1 = frame(1), f2 = frame(2), f3 = frame(3);
  (void)lc.tw(media_event(f1), 1020);
  (void)lc.tw(media_event(f2), 1040);
  (void)lc.tw(media_event(f3), 1060);
  REQUIRE(lc.in(call_in::openai_opened{}, 1100) ==
          actions{to_openai::update_session{}, to_openai::append_audio{f2}, to_openai::append_audio{f3}});
  CHECK(lc.c.counters().held_caller_frames_dropped == 1);
}

TEST_CASE("conversation log: bounded, oldest first out, outputs without their call are not replayed",
          "[reconnect]") {
  conversation_log log({4, 1000});
  log.tool_call("call_1", "f", "{}");
  log.tool_output("call_1", "1");
  log.caller_text("a");
  log.caller_text("b");
  log.caller_text("c");  // the call goes
  actions out;
  log.replay(out);
  CHECK(out == actions{item{item::kind::caller, "a", {}, {}}, item{item::kind::caller, "b", {}, {}},
                       item{item::kind::caller, "c", {}, {}}});
  CHECK(log.trimmed() == 1);
  SECTION("a caller turn without a transcript is left out") {
    log.caller_item("item_u");
    out.clear();
    log.replay(out);
    CHECK(out.size() == 3);
  }
}

TEST_CASE("a call that reconnected counts every session's tokens and responses", "[reconnect][call]") {
  live_call lc;
  auto done = response_done("resp_1");
  done.usage.input_text_tokens = 100;
  done.usage.output_audio_tokens = 400;
  (void)lc.oa(response_created("resp_1"), 1000);
  (void)lc.oa(done, 1400);
  (void)lc.in(call_in::leg_closed{leg::openai, 1006, "abnormal"}, 2000);
  (void)lc.in(call_in::openai_opened{}, 2100);
  (void)lc.oa(session_updated_pcmu("sess_2"), 2200);
  auto again = response_done("resp_2");
  again.usage.input_text_tokens = 30;
  again.usage.output_audio_tokens = 50;
  (void)lc.oa(response_created("resp_2"), 3000);
  (void)lc.oa(again, 3400);
  const auto c = lc.c.counters();
  CHECK(c.openai_reconnects == 1);
  CHECK(c.openai.responses == 2);
  CHECK(c.openai.input_text_tokens == 130);
  CHECK(c.openai.output_audio_tokens == 450);
}
