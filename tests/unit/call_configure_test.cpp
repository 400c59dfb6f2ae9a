// Scenarios for how a call asks to connect to OpenAI (to_openai::connect) and
// takes its configuration at Twilio's start (openai_connect::after_start,
// call_in::configure): the call's agent chosen from the stream's parameters.
#include <algorithm>

#include "realtime_bridge/call.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

call_config waiting_config() {
  call_config c;
  c.twilio.media_idle = 0ms;
  c.connect = openai_connect::after_start;
  c.openai.config.instructions = "the server's default";
  return c;
}

call_config agent_config() {
  call_config c;
  c.openai.config.model = "gpt-realtime-mini";
  c.openai.config.instructions = "You are the front desk.";
  c.openai.greeting = {openai::greeting::style::instructions, "Greet the caller as the front desk."};
  c.twilio.start = 1ms;  // the call's running stream keeps its own timeouts
  return c;
}

bool has_warning(const actions& out, warning_code code) {
  return std::any_of(out.begin(), out.end(), [&](const action& a) {
    const auto* w = std::get_if<to_host::warning>(&a);
    return w && w->code == code;
  });
}

}  // namespace

TEST_CASE("a call that connects at once asks for its OpenAI connection when it starts", "[call][configure]") {
  call_config c = waiting_config();
  c.connect = openai_connect::at_once;
  call the_call(c, at(0));
  REQUIRE(the_call.start(at(0)) == actions{to_openai::connect{openai_slot::current}});
  REQUIRE(the_call.handle(twilio::event{start_event()}, at(5)) ==
          actions{to_host::stream_started{"CA1", "MZ1", {}}});
  CHECK_FALSE(the_call.awaiting_configuration());

  SECTION("a configuration it was not waiting for is ignored, with a warning, and nothing connects again") {
    call_config other = agent_config();
    const actions& out = the_call.handle(call_in::configure{&other}, at(10));
    CHECK(has_warning(out, warning_code::configuration_ignored));
    CHECK(std::none_of(out.begin(), out.end(),
                       [](const action& a) { return std::holds_alternative<to_openai::connect>(a); }));
    CHECK(the_call.config().openai.config.instructions == "the server's default");
  }
}

TEST_CASE("a call that waits for Twilio's start connects with the configuration chosen there", "[call][configure]") {
  call the_call(waiting_config(), at(0));
  REQUIRE(the_call.start(at(0)) == actions{});
  REQUIRE(the_call.handle(twilio::event{twilio::connected{"Call", "1.0.0"}}, at(1)) == actions{});
  REQUIRE(the_call.handle(twilio::event{start_event()}, at(5)) ==
          actions{to_host::stream_started{"CA1", "MZ1", {}}});
  REQUIRE(the_call.awaiting_configuration());

  SECTION("the host's configuration applies: model, instructions, greeting; the stream keeps its timeouts") {
    const call_config chosen = agent_config();
    REQUIRE(the_call.handle(call_in::configure{&chosen}, at(6)) == actions{to_openai::connect{openai_slot::current}});
    CHECK_FALSE(the_call.awaiting_configuration());
    CHECK(the_call.config().openai.config.model == "gpt-realtime-mini");
    CHECK(the_call.config().openai.config.instructions == "You are the front desk.");
    CHECK(the_call.config().twilio.start == waiting_config().twilio.start);
    CHECK(the_call.config().connect == openai_connect::after_start);
    REQUIRE(the_call.handle(call_in::openai_opened{}, at(90)) == actions{to_openai::update_session{}});
    REQUIRE(the_call.handle(openai::event{session_updated_pcmu()}, at(200)) ==
            actions{to_host::session_ready{"sess_1"},
                    to_openai::create_response{"Greet the caller as the front desk."}});

    AND_THEN("a second configuration is ignored with a warning") {
      const call_config again = waiting_config();
      CHECK(has_warning(the_call.handle(call_in::configure{&again}, at(300)), warning_code::configuration_ignored));
      CHECK(the_call.config().openai.config.instructions == "You are the front desk.");
    }
  }

  SECTION("none keeps the configuration the call started with") {
    REQUIRE(the_call.handle(call_in::configure{nullptr}, at(6)) == actions{to_openai::connect{openai_slot::current}});
    CHECK(the_call.config().openai.config.instructions == "the server's default");
  }

  SECTION("an invalid one is ignored with a warning, and the call connects with its own") {
    call_config broken = agent_config();
    broken.openai.config.model.clear();
    const actions& out = the_call.handle(call_in::configure{&broken}, at(6));
    CHECK(has_warning(out, warning_code::configuration_ignored));
    CHECK(out.back() == action{to_openai::connect{openai_slot::current}});
    CHECK(the_call.config().openai.config.instructions == "the server's default");
  }

  SECTION("caller audio while it waits is held for the session, as before any OpenAI connection") {
    const std::string voice = frame(0x55);
    REQUIRE(the_call.handle(twilio::event{media_event(voice)}, at(25)) == actions{});
    const call_config chosen = agent_config();
    (void)the_call.handle(call_in::configure{&chosen}, at(30));
    REQUIRE(the_call.handle(call_in::openai_opened{}, at(90)) ==
            actions{to_openai::update_session{}, to_openai::append_audio{voice}});
  }
}

TEST_CASE("a waiting call whose caller hangs up before Twilio's start never asks to connect", "[call][configure]") {
  call the_call(waiting_config(), at(0));
  REQUIRE(the_call.start(at(0)) == actions{});
  const actions& out = the_call.handle(call_in::leg_closed{leg::twilio, 1000, ""}, at(50));
  CHECK(the_call.ended());
  CHECK(std::none_of(out.begin(), out.end(),
                     [](const action& a) { return std::holds_alternative<to_openai::connect>(a); }));
}
