// Scenarios for how a call ends on purpose (call_in::end_after_playout, the
// timers of call_control) and tells the model what the caller keys in: the
// call machine routing call_control's decisions into the session.
#include "realtime_bridge/call.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

const std::string chunk = frame();

call_config ending_config() {
  call_config c;
  c.twilio.media_idle = 0ms;
  c.control.idle_timeout = 10'000ms;
  c.control.goodbye_timeout = 5'000ms;
  c.control.idle_prompt = "check in";
  c.control.idle_goodbye = "say goodbye";
  c.control.dtmf_to_model = true;
  return c;
}

struct live_call {
  live_call() : c(ending_config(), at(0)) {
    (void)c.handle(twilio::event{start_event()}, at(5));
    (void)c.handle(call_in::openai_opened{}, at(100));
    (void)c.handle(openai::event{session_updated_pcmu()}, at(200));
  }
  const actions& oa(openai::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  const actions& tw(twilio::event e, std::int64_t t) { return c.handle(std::move(e), at(t)); }
  call c;
};

openai::output_item_done function_call(std::string_view name) {
  openai::output_item_done fc;
  fc.response_id = "resp_1";
  fc.item = {"item_F", "function_call", "", "completed", "call_1", name, "{}"};
  return fc;
}

twilio::dtmf key(std::string_view digit) {
  twilio::dtmf d{};
  d.stream_sid = "MZ1";
  d.track = "inbound_track";
  d.digit = digit;
  return d;
}

bool has(const actions& out, const action& wanted) {
  return std::find(out.begin(), out.end(), wanted) != out.end();
}

}  // namespace

TEST_CASE("end_call after the goodbye: the call ends once the goodbye has played, Twilio closed normally",
          "[call][control]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 300);
  (void)lc.oa(delta("resp_1", "item_A", chunk), 310);  // "Goodbye!" (20 ms) with a probe mark and its mark
  const auto fc = function_call("end_call");
  REQUIRE(lc.oa(fc, 320) == actions{to_host::tool_call{"call_1", "end_call", "{}"}});

  // The model already said its goodbye: the answer asks for no response.
  REQUIRE(lc.c.handle(call_in::end_after_playout{"end_call", "call_1", R"({"ok":true})"}, at(330)) ==
          actions{to_openai::send_function_output{"call_1", R"({"ok":true})"}});
  REQUIRE(lc.oa(response_done("resp_1"), 340) == actions{});
  REQUIRE(lc.tw(mark_event("rtb.1.0.0"), 380) == actions{});
  CHECK_FALSE(lc.c.ended());
  // The last mark echoed: the caller has heard the goodbye.
  REQUIRE(lc.tw(mark_event("rtb.1.1.20"), 400) ==
          actions{to_host::playout_finished{}, to_twilio::close{close_normal, "host_ended"},
                  to_openai::close{close_normal, "host_ended"}, to_host::call_ended{end_reason::host_ended, "end_call"}});
}

TEST_CASE("end_call with nothing said first: the answer asks for the goodbye, and the end follows it",
          "[call][control]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 300);
  const auto fc = function_call("end_call");
  (void)lc.oa(fc, 320);
  REQUIRE(lc.c.handle(call_in::end_after_playout{"end_call", "call_1", R"({"ok":true})"}, at(330)) ==
          actions{to_openai::send_function_output{"call_1", R"({"ok":true})"}});
  // The response that carried the call ends: the goodbye is requested now.
  REQUIRE(lc.oa(response_done("resp_1"), 340) == actions{to_openai::create_response{}});
  (void)lc.oa(response_created("resp_2"), 400);
  (void)lc.oa(delta("resp_2", "item_B", chunk), 410);
  CHECK_FALSE(lc.c.ended());
  (void)lc.oa(response_done("resp_2"), 420);
  (void)lc.tw(mark_event("rtb.1.0.0"), 450);
  const actions& out = lc.tw(mark_event("rtb.1.1.20"), 470);
  CHECK(lc.c.ended());
  CHECK(has(out, to_host::call_ended{end_reason::host_ended, "end_call"}));
}

TEST_CASE("a goodbye whose marks never come back ends the call at the goodbye timeout", "[call][control]") {
  live_call lc;
  (void)lc.oa(response_created("resp_1"), 300);
  (void)lc.oa(delta("resp_1", "item_A", chunk), 310);
  (void)lc.c.handle(call_in::end_after_playout{"transfer", {}, {}}, at(320));
  (void)lc.oa(response_done("resp_1"), 340);
  REQUIRE(lc.c.next_timeout() <= at(5'320));
  const actions& out = lc.c.handle_timeout(at(5'320));
  CHECK(has(out, to_host::call_ended{end_reason::host_ended, "transfer"}));
}

TEST_CASE("a silent caller: a check-in from the model, then a goodbye, then the end", "[call][control]") {
  live_call lc;
  REQUIRE(lc.c.next_timeout() == at(10'005));
  REQUIRE(lc.c.handle_timeout(at(10'005)) == actions{to_openai::create_response{"check in"}});
  (void)lc.oa(response_created("resp_1"), 10'100);
  (void)lc.oa(delta("resp_1", "item_A", chunk), 10'110);
  (void)lc.oa(response_done("resp_1"), 10'120);
  (void)lc.tw(mark_event("rtb.1.0.0"), 10'150);
  REQUIRE(lc.tw(mark_event("rtb.1.1.20"), 10'170) == actions{to_host::playout_finished{}});
  REQUIRE(lc.c.next_timeout() == at(20'170));
  REQUIRE(lc.c.handle_timeout(at(20'170)) == actions{to_openai::create_response{"say goodbye"}});
  (void)lc.oa(response_created("resp_2"), 20'300);
  (void)lc.oa(response_done("resp_2"), 20'400);  // a goodbye without audio
  CHECK(lc.c.ended());
  CHECK(lc.c.reason() == end_reason::caller_idle);
}

TEST_CASE("keypad digits go to the model as text with a response, and to the host", "[call][control]") {
  live_call lc;
  REQUIRE(lc.tw(key("4"), 300) == actions{to_host::dtmf{"4"}});
  REQUIRE(lc.tw(key("#"), 500) ==
          actions{to_host::dtmf{"#"}, to_openai::create_user_message{"The caller pressed 4 # on the keypad."},
                  to_openai::create_response{}});
}
