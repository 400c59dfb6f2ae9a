// Scenarios for call control (include/realtime_bridge/call_control.hpp): the
// goodbye played before the call ends, the idle and maximum-duration timers,
// and keypad digits told to the model.
#include "realtime_bridge/call_control.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

call_control_config timers(std::chrono::milliseconds idle, std::chrono::milliseconds max = 0ms) {
  call_control_config c;
  c.idle_timeout = idle;
  c.max_duration = max;
  c.max_duration_warning = 10'000ms;
  c.goodbye_timeout = 5'000ms;
  c.idle_prompt = "check in";
  c.idle_goodbye = "say goodbye";
  c.max_duration_prompt = "wrap up";
  c.max_duration_goodbye = "time is up";
  return c;
}

const control_actions none{};

control_action prompt(std::string text) { return control_out::prompt{std::move(text)}; }
control_action ends(end_reason r, std::string detail) { return control_out::end{r, std::move(detail)}; }

}  // namespace

TEST_CASE("the idle timer: a check-in after the quiet time, then a goodbye, then the end once it played",
          "[control]") {
  call_control c(timers(20'000ms));
  REQUIRE(c.handle(control_in::stream_started{}, at(0)) == none);
  CHECK(c.next_timeout() == at(20'000));
  // The AI greets: the caller is listening, not idle.
  REQUIRE(c.handle(control_in::ai_busy{true}, at(100)) == none);
  CHECK_FALSE(c.next_timeout());
  REQUIRE(c.handle(control_in::ai_busy{false}, at(3'000)) == none);
  CHECK(c.next_timeout() == at(23'000));

  SECTION("the caller speaking restarts the quiet time") {
    REQUIRE(c.handle(control_in::caller_activity{}, at(10'000)) == none);
    CHECK(c.next_timeout() == at(30'000));
  }

  SECTION("silence: a check-in, then the goodbye, then the end") {
    REQUIRE(c.handle_timeout(at(23'000)) == control_actions{prompt("check in")});
    CHECK(c.idle_prompted());
    REQUIRE(c.handle(control_in::ai_busy{true}, at(23'001)) == none);
    REQUIRE(c.handle(control_in::ai_busy{false}, at(25'000)) == none);
    CHECK(c.next_timeout() == at(45'000));

    AND_THEN("a word from the caller forgives it") {
      REQUIRE(c.handle(control_in::caller_activity{}, at(30'000)) == none);
      CHECK_FALSE(c.idle_prompted());
      REQUIRE(c.handle_timeout(at(50'000)) == control_actions{prompt("check in")});
    }
    AND_THEN("still nothing: the goodbye is asked for, and the call ends once it has played") {
      REQUIRE(c.handle_timeout(at(45'000)) == control_actions{prompt("say goodbye")});
      CHECK(c.ending());
      REQUIRE(c.handle(control_in::ai_busy{true}, at(45'001)) == none);
      REQUIRE(c.handle(control_in::caller_activity{}, at(46'000)) == none);  // too late to change its mind
      REQUIRE(c.handle(control_in::ai_busy{false}, at(48'000)) ==
              control_actions{ends(end_reason::caller_idle, "no caller speech for 20 s after a check-in")});
      CHECK_FALSE(c.ending());
      CHECK_FALSE(c.next_timeout());
    }
    AND_THEN("a goodbye that never finishes playing ends the call at the goodbye timeout") {
      REQUIRE(c.handle_timeout(at(45'000)) == control_actions{prompt("say goodbye")});
      REQUIRE(c.handle(control_in::ai_busy{true}, at(45'001)) == none);
      CHECK(c.next_timeout() == at(50'000));
      REQUIRE(c.handle_timeout(at(50'000)) ==
              control_actions{ends(end_reason::caller_idle, "no caller speech for 20 s after a check-in")});
    }
  }
}

TEST_CASE("the idle timer is off by default and waits for Twilio's start", "[control]") {
  call_control off;
  REQUIRE(off.handle(control_in::stream_started{}, at(0)) == none);
  CHECK_FALSE(off.next_timeout());

  call_control waiting(timers(20'000ms));
  REQUIRE(waiting.handle(control_in::ai_busy{false}, at(0)) == none);
  CHECK_FALSE(waiting.next_timeout());
}

TEST_CASE("the maximum duration: a warning before the limit, then a goodbye and the end", "[control]") {
  call_control c(timers(0ms, 60'000ms));
  REQUIRE(c.handle(control_in::stream_started{}, at(1'000)) == none);
  CHECK(c.next_timeout() == at(51'000));
  REQUIRE(c.handle_timeout(at(51'000)) == control_actions{prompt("wrap up")});
  CHECK(c.next_timeout() == at(61'000));

  SECTION("the AI is quiet at the limit: the goodbye is asked for, and the end follows it") {
    REQUIRE(c.handle_timeout(at(61'000)) == control_actions{prompt("time is up")});
    REQUIRE(c.handle(control_in::ai_busy{true}, at(61'000)) == none);
    REQUIRE(c.handle(control_in::ai_busy{false}, at(63'500)) ==
            control_actions{ends(end_reason::max_duration, "the call reached its 60 s limit")});
  }
  SECTION("the AI is talking at the limit: the goodbye follows what it says, and the end the next quiet moment") {
    REQUIRE(c.handle(control_in::ai_busy{true}, at(60'000)) == none);
    REQUIRE(c.handle_timeout(at(61'000)) == control_actions{prompt("time is up")});
    REQUIRE(c.handle(control_in::ai_busy{false}, at(66'000)) ==
            control_actions{ends(end_reason::max_duration, "the call reached its 60 s limit")});
  }
  SECTION("an ending already under way is not prompted again") {
    REQUIRE(c.handle(control_in::end_after_playout{end_reason::host_ended, "goodbye said", false}, at(55'000)) ==
            control_actions{ends(end_reason::host_ended, "goodbye said")});
    REQUIRE(c.handle_timeout(at(61'000)) == none);
  }
}

TEST_CASE("a warning not shorter than the limit is not given", "[control]") {
  call_control_config cfg = timers(0ms, 5'000ms);
  cfg.max_duration_warning = 5'000ms;
  call_control c(cfg);
  (void)c.handle(control_in::stream_started{}, at(0));
  CHECK(c.next_timeout() == at(5'000));
}

TEST_CASE("ending after playout: at once when the AI is quiet, else when it has played", "[control]") {
  call_control c(timers(0ms));
  (void)c.handle(control_in::stream_started{}, at(0));

  SECTION("quiet and nothing coming: now") {
    REQUIRE(c.handle(control_in::end_after_playout{end_reason::host_ended, "done", false}, at(10)) ==
            control_actions{ends(end_reason::host_ended, "done")});
  }
  SECTION("the goodbye still playing: when it has played") {
    REQUIRE(c.handle(control_in::ai_busy{true}, at(10)) == none);
    REQUIRE(c.handle(control_in::end_after_playout{end_reason::host_ended, "done", false}, at(20)) == none);
    REQUIRE(c.handle(control_in::end_after_playout{end_reason::host_ended, "again", false}, at(30)) == none);
    REQUIRE(c.handle(control_in::ai_busy{false}, at(1'200)) == control_actions{ends(end_reason::host_ended, "done")});
  }
  SECTION("a goodbye response requested: not before it has come and played") {
    REQUIRE(c.handle(control_in::end_after_playout{end_reason::host_ended, "done", true}, at(20)) == none);
    REQUIRE(c.handle(control_in::ai_busy{false}, at(30)) == none);
    REQUIRE(c.handle(control_in::ai_busy{true}, at(40)) == none);
    REQUIRE(c.handle(control_in::ai_busy{false}, at(2'000)) == control_actions{ends(end_reason::host_ended, "done")});
  }
  SECTION("a goodbye that never comes: the goodbye timeout") {
    REQUIRE(c.handle(control_in::end_after_playout{end_reason::host_ended, "done", true}, at(20)) == none);
    CHECK(c.next_timeout() == at(5'020));
    REQUIRE(c.handle_timeout(at(5'020)) == control_actions{ends(end_reason::host_ended, "done")});
  }
}

TEST_CASE("keypad digits reach the model grouped, when the profile says so", "[control]") {
  call_control_config cfg = timers(0ms);
  cfg.dtmf_to_model = true;
  cfg.dtmf_pause = 1'000ms;
  call_control c(cfg);
  (void)c.handle(control_in::stream_started{}, at(0));
  REQUIRE(c.handle(control_in::digit{'4'}, at(100)) == none);
  REQUIRE(c.handle(control_in::digit{'2'}, at(600)) == none);
  CHECK(c.next_timeout() == at(1'600));

  SECTION("a pause tells them") {
    REQUIRE(c.handle_timeout(at(1'600)) ==
            control_actions{control_out::tell{"The caller pressed 4 2 on the keypad."}});
    CHECK_FALSE(c.next_timeout());
  }
  SECTION("# tells them at once") {
    REQUIRE(c.handle(control_in::digit{'#'}, at(700)) ==
            control_actions{control_out::tell{"The caller pressed 4 2 # on the keypad."}});
  }
  SECTION("off by default") {
    call_control quiet(timers(0ms));
    REQUIRE(quiet.handle(control_in::digit{'4'}, at(100)) == none);
    CHECK_FALSE(quiet.next_timeout());
  }
}

TEST_CASE("call control settings are checked", "[control]") {
  CHECK(validate(call_control_config{}));
  call_control_config c;
  c.idle_timeout = -1ms;
  CHECK(validate(c).error().message == "idle timeout must be from 0 to 24 hours, not -1 ms");
  c = {};
  c.max_duration = 30'000ms;
  c.max_duration_goodbye.clear();
  CHECK_FALSE(validate(c));
  c = {};
  c.goodbye_timeout = 0ms;
  CHECK_FALSE(validate(c));
}
