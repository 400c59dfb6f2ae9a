// Scenarios for session rollover (call.cpp "Rollover", session_rollover.hpp):
// a session nearing OpenAI's cap is replaced make-before-break at a turn
// boundary.
#include "realtime_bridge/call.hpp"
#include "realtime_bridge/session_rollover.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

using item = to_openai::create_item;
const std::string voice = frame(0x55);

call_config rolling_config() {
  call_config c;
  c.twilio.media_idle = 0ms;
  c.rollover.after = 10s;
  c.rollover.switch_by = 20s;
  return c;
}

bool has_warning(const actions& out, warning_code code) {
  for (const auto& w : only<to_host::warning>(out))
    if (w.code == code) return true;
  return false;
}

struct live_call {
  explicit live_call(call_config cfg = rolling_config()) : c(std::move(cfg), at(0)) {
    (void)c.start(at(0));
    (void)c.handle(twilio::event{start_event()}, at(5));
    (void)c.handle(call_in::openai_opened{}, at(100));
    (void)c.handle(openai::event{session_updated_pcmu()}, at(200));
    (void)c.handle(openai::event{openai::input_committed{"item_u1", ""}}, at(1000));
    (void)c.handle(openai::event{openai::input_transcription_completed{"item_u1", 0, "Hello"}}, at(1100));
  }
  const actions& tw(twilio::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  const actions& oa(openai::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  const actions& next(openai::event e, std::int64_t t) { return c.handle(call_in::next_session_event{&e}, at(t)); }
  const actions& in(call_input i, std::int64_t t) { return c.handle(i, at(t)); }
  // Opens the next session and configures it (at 10 s, 10.1 s, 10.2 s).
  const actions& next_ready() {
    REQUIRE(c.next_timeout() == at(10'000));
    REQUIRE(c.handle_timeout(at(10'000)) == actions{to_openai::connect{openai_slot::next}});
    REQUIRE(in(call_in::openai_opened{openai_slot::next}, 10'100) ==
            actions{to_openai::update_session{openai_slot::next}});
    return next(session_updated_pcmu("sess_2"), 10'200);
  }
  call c;
};

}  // namespace

TEST_CASE("rollover timing: open at `after`, switch at a boundary or at `switch_by`, retry a failed next",
          "[rollover]") {
  session_rollover r({10s, 100s});
  r.session_started(at(0));
  CHECK(r.next_timeout() == at(10'000));
  CHECK_FALSE(r.open_due(at(9'999)));
  CHECK(r.open_due(at(10'000)));
  CHECK_FALSE(r.switch_due(at(10'500), true));  // not ready yet
  r.next_ready();
  CHECK_FALSE(r.switch_due(at(10'500), false));
  CHECK(r.switch_due(at(10'500), true));
  CHECK(r.switch_due(at(100'000), false));  // the hard deadline
  SECTION("a failed next session is retried later") {
    r.next_failed(at(11'000));
    CHECK(r.next_timeout() == at(11'000) + session_rollover::retry_delay);
    CHECK_FALSE(r.open_due(at(12'000)));
  }
  SECTION("after the switch the new session's age counts") {
    r.switched(at(10'000));
    CHECK(r.rollovers() == 1);
    CHECK(r.next_timeout() == at(20'000));
  }
}

TEST_CASE("rollover settings are validated", "[rollover][config]") {
  CHECK(validate(rollover_config{}));
  CHECK(validate(rollover_config{0ms, 0ms}));  // off
  CHECK_FALSE(validate(rollover_config{20s, 10s}));
  CHECK_FALSE(validate(rollover_config{500ms, 10s}));
  CHECK_FALSE(validate(rollover_config{3000s, 3600s}));
}

TEST_CASE("rollover at a turn boundary: replay to the next session, close the old one, promote, audio moves over",
          "[rollover][call]") {
  live_call lc;
  REQUIRE(lc.tw(media_event(voice), 9'000) == actions{to_openai::append_audio{voice}});
  const auto& ready = lc.next_ready();  // idle: the switch happens at once
  REQUIRE(ready.size() == 4);
  CHECK(ready[0] == action{item{item::kind::caller, "Hello", {}, {}, openai_slot::next}});
  CHECK(ready[1] == action{to_openai::close{close_normal, "session rollover"}});
  CHECK(ready[2] == action{to_openai::promote_next{}});
  CHECK(std::get<to_host::warning>(ready[3]).code == warning_code::openai_rollover);
  CHECK_FALSE(lc.c.rolling_over());
  CHECK(lc.c.counters().rollovers == 1);
  // Caller audio now goes to the new session (the current slot again).
  REQUIRE(lc.tw(media_event(voice), 10'220) == actions{to_openai::append_audio{voice}});
  // The new session serves the call: its responses play.
  (void)lc.oa(response_created("resp_9"), 10'300);
  CHECK(only<to_twilio::media>(lc.oa(delta("resp_9", "item_9", frame()), 10'310)).size() == 1);
  // And the next rollover is due a whole `after` later, from the new session's start.
  CHECK(lc.c.next_timeout() == at(20'000));
}

TEST_CASE("rollover waits for the turn to end: response done, playout idle, caller silent", "[rollover][call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 9'500);
  (void)lc.oa(delta("resp_1", "item_a", frame()), 9'510);
  const auto& ready = lc.next_ready();
  CHECK(only<to_openai::promote_next>(ready).empty());
  CHECK(lc.c.rolling_over());
  CHECK(only<to_openai::promote_next>(lc.oa(response_done("resp_1"), 10'300)).empty());  // still playing
  CHECK(only<to_openai::promote_next>(lc.oa(speech_started(), 10'310)).empty());  // the caller speaks
  (void)lc.tw(mark_event("rtb.1.1.20"), 10'320);  // played out (cleared by the barge-in anyway)
  CHECK(only<to_openai::promote_next>(lc.oa(openai::speech_stopped{900, "item_u2"}, 10'900)).empty());
  // The turn is committed and the server will answer it on this session.
  CHECK(only<to_openai::promote_next>(lc.oa(openai::input_committed{"item_u2", "item_u1"}, 10'910)).empty());
  CHECK(only<to_openai::promote_next>(lc.oa(response_created("resp_2"), 10'950)).empty());
  CHECK(only<to_openai::promote_next>(lc.oa(response_done("resp_2"), 10'960)).empty());
  // The caller's transcript is pending: it must be in the replay.
  const auto& switched = lc.oa(openai::input_transcription_completed{"item_u2", 0, "Stop."}, 11'000);
  CAPTURE(switched, lc.c.openai_session().response_pending(), lc.c.playout().audio_playing(),
          lc.c.conversation().caller_transcript_pending());
  REQUIRE(only<to_openai::promote_next>(switched).size() == 1);
  const auto replayed = only<item>(switched);
  REQUIRE(replayed.size() == 2);
  CHECK(replayed[1].text == "Stop.");
}

TEST_CASE("at switch_by the switch happens mid-answer, and the answer is asked for again", "[rollover][call]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 9'500);
  (void)lc.next_ready();
  REQUIRE(lc.c.next_timeout() == at(20'000));
  const auto& forced = lc.c.handle_timeout(at(20'000));
  REQUIRE(only<to_openai::promote_next>(forced).size() == 1);
  CHECK(only<to_openai::create_response>(forced).size() == 1);  // to the new session, after the promote
  CHECK(std::holds_alternative<to_openai::create_response>(forced[forced.size() - 2]));
}

TEST_CASE("a next session that fails is closed and retried later, the call goes on", "[rollover][call]") {
  live_call lc;
  REQUIRE(lc.c.handle_timeout(at(10'000)) == actions{to_openai::connect{openai_slot::next}});
  SECTION("its socket closes") {
    const auto& out = lc.in(call_in::leg_closed{leg::openai, 1006, "", openai_slot::next}, 10'100);
    CHECK(has_warning(out, warning_code::openai_rollover));
    CHECK(only<to_openai::close>(out).empty());
  }
  SECTION("it never configures") {
    REQUIRE(lc.in(call_in::openai_opened{openai_slot::next}, 10'100).size() == 1);
    const auto& out = lc.c.handle_timeout(at(20'100));  // the configure timeout (10 s)
    CHECK(only<to_openai::close>(out) ==
          std::vector<to_openai::close>{{close_normal, "rollover abandoned", openai_slot::next}});
  }
  CHECK_FALSE(lc.c.ended());
  CHECK_FALSE(lc.c.rolling_over());
  CHECK(lc.c.counters().rollover_failures == 1);
  REQUIRE(lc.tw(media_event(voice), 20'200) == actions{to_openai::append_audio{voice}});
}

TEST_CASE("the current session failing during a rollover drops the next one and reconnects", "[rollover][call]") {
  live_call lc;
  (void)lc.c.handle_timeout(at(10'000));
  (void)lc.in(call_in::openai_opened{openai_slot::next}, 10'100);
  const auto& out = lc.in(call_in::leg_closed{leg::openai, 1006, ""}, 10'150);
  CHECK(only<to_openai::close>(out) ==
        std::vector<to_openai::close>{{close_normal, "rollover abandoned", openai_slot::next}});
  CHECK(only<to_openai::connect>(out) == std::vector<to_openai::connect>{{openai_slot::current}});
  CHECK(lc.c.reconnecting());
}

TEST_CASE("ending the call during a rollover closes both sessions", "[rollover][call]") {
  live_call lc;
  (void)lc.c.handle_timeout(at(10'000));
  const auto& out = lc.in(call_in::end_call{"bye"}, 10'050);
  CHECK(only<to_openai::close>(out) == std::vector<to_openai::close>{{close_normal, "host_ended"},
                                                                      {close_normal, "host_ended", openai_slot::next}});
}

TEST_CASE("rollover moves a pending caller batch to the new session: no frame lost or sent twice",
          "[rollover][call][batch]") {
  call_config cfg = rolling_config();
  cfg.limits.caller_audio_batch = 60ms;
  live_call lc(cfg);
  (void)lc.c.handle_timeout(at(10'000));
  (void)lc.in(call_in::openai_opened{openai_slot::next}, 10'100);
  // The caller's silence frames arrive while the next session configures.
  REQUIRE(lc.tw(media_event(frame(1)), 10'190) == actions{});
  const auto& switched = lc.next(session_updated_pcmu("sess_2"), 10'200);
  REQUIRE(only<to_openai::promote_next>(switched).size() == 1);
  // The pending frame was not sent to the old session: it goes out with the new one's first batch.
  CHECK(only<to_openai::append_audio>(switched).empty());
  (void)lc.tw(media_event(frame(2)), 10'210);
  const auto& batch = lc.tw(media_event(frame(3)), 10'230);
  REQUIRE(only<to_openai::append_audio>(batch).size() == 1);
  CHECK(lc.c.counters().caller_frames_forwarded == 3);
}

TEST_CASE("a call that rolled over counts both sessions' tokens", "[rollover][call]") {
  live_call lc;
  auto first = response_done("resp_1");
  first.usage.input_audio_tokens = 700;
  first.usage.output_audio_tokens = 900;
  (void)lc.oa(response_created("resp_1"), 2'000);
  (void)lc.oa(first, 2'400);
  (void)lc.next_ready();
  REQUIRE(lc.c.counters().rollovers == 1);
  auto second = response_done("resp_2");
  second.usage.input_audio_tokens = 70;
  second.usage.output_audio_tokens = 90;
  (void)lc.oa(response_created("resp_2"), 11'000);
  (void)lc.oa(second, 11'400);
  const auto c = lc.c.counters();
  CHECK(c.openai.responses == 2);
  CHECK(c.openai.input_audio_tokens == 770);
  CHECK(c.openai.output_audio_tokens == 990);
}
