// Scenarios for the OpenAI session machine (include/realtime_bridge/openai/session.hpp).
#include "realtime_bridge/openai/session.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;
using openai::session_phase;
namespace in = openai::session_in;

namespace {

openai::session_options options(openai::greeting g = {}) {
  openai::session_options o;
  o.greeting = std::move(g);
  o.timeouts = {.connect = 5000ms, .configure = 3000ms};
  return o;
}

openai::error_event error_with(std::string_view code, std::string_view message = "message") {
  openai::error_event e;
  e.error.type = "invalid_request_error";
  e.error.code = code;
  e.error.message = message;
  return e;
}

openai::output_item_done function_call_done(std::string_view call_id, std::string_view status = "completed") {
  openai::output_item_done d;
  d.response_id = "resp_1";
  d.item.id = "item_fc";
  d.item.type = "function_call";
  d.item.status = status;
  d.item.call_id = call_id;
  d.item.name = "get_order_status";
  d.item.arguments = R"({"order_number":"48217"})";
  return d;
}

// A session that is open and configured.
openai::session ready_session(openai::greeting g = {}) {
  openai::session s(options(std::move(g)), at(0));
  (void)s.handle(in::leg_opened{}, at(100));
  (void)s.handle(openai::event{session_updated_pcmu()}, at(300));
  return s;
}

}  // namespace

TEST_CASE("opening the socket sends session.update, session.updated makes the session ready", "[openai][session]") {
  openai::session s(options(), at(0));
  CHECK(s.phase() == session_phase::connecting);
  CHECK_FALSE(s.accepts_audio());
  REQUIRE(s.handle(in::leg_opened{}, at(100)) == actions{to_openai::update_session{}});
  CHECK(s.phase() == session_phase::configuring);
  CHECK(s.accepts_audio());  // appends after session.update are read as µ-law
  REQUIRE(
      s.handle(openai::event{openai::session_created{{"sess_1", "gpt-realtime", 0, "audio/pcm", "audio/pcm", "alloy"}}},
               at(150)) == actions{});
  REQUIRE(s.handle(openai::event{session_updated_pcmu("sess_1")}, at(300)) ==
          actions{to_host::session_ready{"sess_1"}});
  CHECK(s.phase() == session_phase::ready);
  CHECK_FALSE(s.next_timeout().has_value());
}

TEST_CASE("a session.updated that kept another audio format fails the session", "[openai][session]") {
  openai::session s(options(), at(0));
  (void)s.handle(in::leg_opened{}, at(100));
  auto updated = session_updated_pcmu();
  updated.session.output_format = "audio/pcm";
  REQUIRE(s.handle(openai::event{updated}, at(300)) == actions{});
  CHECK(s.phase() == session_phase::failed);
  REQUIRE(s.failure());
  CHECK(s.failure()->what == openai::session_failure::kind::rejected);
  CHECK(s.failure()->detail.find("audio/pcm") != std::string::npos);
}

TEST_CASE("connect and configure deadlines fail the session", "[openai][session]") {
  SECTION("never connected") {
    openai::session s(options(), at(0));
    REQUIRE(s.next_timeout() == at(5000));
    REQUIRE(s.handle_timeout(at(4999)) == actions{});
    CHECK(s.phase() == session_phase::connecting);
    REQUIRE(s.handle_timeout(at(5000)) == actions{});
    REQUIRE(s.failure());
    CHECK(s.failure()->what == openai::session_failure::kind::connect_timeout);
  }
  SECTION("connected, never configured") {
    openai::session s(options(), at(0));
    (void)s.handle(in::leg_opened{}, at(100));
    REQUIRE(s.next_timeout() == at(3100));
    REQUIRE(s.handle_timeout(at(3100)) == actions{});
    REQUIRE(s.failure());
    CHECK(s.failure()->what == openai::session_failure::kind::configure_timeout);
  }
  SECTION("the socket failed to open") {
    openai::session s(options(), at(0));
    REQUIRE(s.handle(in::leg_closed{0, "HTTP 403"}, at(50)) == actions{});
    REQUIRE(s.failure());
    CHECK(s.failure()->what == openai::session_failure::kind::connect_failed);
    CHECK(s.failure()->detail.find("HTTP 403") != std::string::npos);
  }
}

TEST_CASE("the greeting waits for both the session and the Twilio stream", "[openai][session]") {
  const openai::greeting hello{openai::greeting::style::user_message, "Greet the caller."};
  SECTION("stream first, then session.updated") {
    openai::session s(options(hello), at(0));
    REQUIRE(s.handle(in::stream_ready{}, at(10)) == actions{});
    (void)s.handle(in::leg_opened{}, at(100));
    REQUIRE(s.handle(openai::event{session_updated_pcmu()}, at(300)) ==
            actions{to_host::session_ready{"sess_1"}, to_openai::create_user_message{"Greet the caller."},
                    to_openai::create_response{}});
    CHECK(s.phase() == session_phase::responding);
  }
  SECTION("session first, then the stream") {
    auto s = ready_session(hello);
    REQUIRE(s.handle(in::stream_ready{}, at(400)) ==
            actions{to_openai::create_user_message{"Greet the caller."}, to_openai::create_response{}});
  }
  SECTION("by per-response instructions, adding no user item") {
    auto s = ready_session({openai::greeting::style::instructions, "Say hello."});
    REQUIRE(s.handle(in::stream_ready{}, at(400)) == actions{to_openai::create_response{"Say hello."}});
  }
  SECTION("only once") {
    auto s = ready_session(hello);
    REQUIRE(s.handle(in::stream_ready{}, at(400)).size() == 2);
    REQUIRE(s.handle(in::stream_ready{}, at(500)) == actions{});
  }
}

TEST_CASE("response.create is sent only when no response is active, others queue", "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(in::user_text{"first", true}, at(400)) ==
          actions{to_openai::create_user_message{"first"}, to_openai::create_response{}});
  // Requested but not yet created: a second request waits.
  REQUIRE(s.handle(in::user_text{"second", true}, at(410)) == actions{to_openai::create_user_message{"second"}});
  REQUIRE(s.handle(openai::event{response_created("resp_1")}, at(450)) == actions{});
  CHECK(s.active_response() == "resp_1");
  REQUIRE(s.handle(in::user_text{"third", true}, at(460)) == actions{to_openai::create_user_message{"third"}});
  // One response.done releases one queued request (two plain requests coalesce).
  REQUIRE(s.handle(openai::event{response_done("resp_1")}, at(900)) == actions{to_openai::create_response{}});
  REQUIRE(s.handle(openai::event{response_created("resp_2")}, at(950)) == actions{});
  REQUIRE(s.handle(openai::event{response_done("resp_2")}, at(1500)) == actions{});
  CHECK(s.phase() == session_phase::ready);
}

TEST_CASE("a response the server started itself also blocks response.create", "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(openai::event{response_created("resp_vad")}, at(400)) == actions{});
  CHECK(s.phase() == session_phase::responding);
  REQUIRE(s.handle(in::user_text{"hi", true}, at(410)) == actions{to_openai::create_user_message{"hi"}});
  REQUIRE(s.handle(openai::event{response_done("resp_vad")}, at(900)) == actions{to_openai::create_response{}});
}

TEST_CASE("conversation_already_has_active_response drops our request: the model is already answering",
          "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(in::user_text{"hi", true}, at(400)).size() == 2);
  const auto& out = s.handle(openai::event{error_with("conversation_already_has_active_response")}, at(420));
  REQUIRE(out.size() == 1);
  CHECK(std::get<to_host::warning>(out[0]).code == warning_code::openai_error);
  CHECK(s.phase() == session_phase::ready);
  // The next request goes out immediately.
  REQUIRE(s.handle(in::user_text{"again", true}, at(500)) ==
          actions{to_openai::create_user_message{"again"}, to_openai::create_response{}});
}

TEST_CASE("tool calls: surfaced when complete, answered with one response.create after all results",
          "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(openai::event{response_created("resp_1")}, at(400)) == actions{});
  REQUIRE(s.handle(openai::event{function_call_done("call_A")}, at(500)) ==
          actions{to_host::tool_call{"call_A", "get_order_status", R"({"order_number":"48217"})"}});
  REQUIRE(s.handle(openai::event{function_call_done("call_B")}, at(501)).size() == 1);
  REQUIRE(s.handle(openai::event{response_done("resp_1")}, at(510)) == actions{});
  REQUIRE(s.handle(in::tool_result{"call_A", R"({"status":"shipped"})"}, at(700)) ==
          actions{to_openai::send_function_output{"call_A", R"({"status":"shipped"})"}});
  REQUIRE(s.handle(in::tool_result{"call_B", "ok"}, at(710)) ==
          actions{to_openai::send_function_output{"call_B", "ok"}, to_openai::create_response{}});
  CHECK(s.counters().tool_calls == 2);
}

TEST_CASE("a tool result arriving while a response is active waits for response.done", "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(openai::event{response_created("resp_1")}, at(400)) == actions{});
  REQUIRE(s.handle(openai::event{function_call_done("call_A")}, at(500)).size() == 1);
  REQUIRE(s.handle(in::tool_result{"call_A", "42"}, at(505)) ==
          actions{to_openai::send_function_output{"call_A", "42"}});
  REQUIRE(s.handle(openai::event{response_done("resp_1")}, at(510)) == actions{to_openai::create_response{}});
}

TEST_CASE("a function call of a cancelled response is not run", "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(openai::event{function_call_done("call_A", "incomplete")}, at(500)) == actions{});
  SECTION("and a result for an unknown call id is refused with a warning") {
    const auto& out = s.handle(in::tool_result{"call_A", "42"}, at(600));
    REQUIRE(out.size() == 1);
    CHECK(std::get<to_host::warning>(out[0]).code == warning_code::unknown_tool_call);
  }
}

TEST_CASE("errors are classified: fatal ones fail the session, others are warnings", "[openai][session]") {
  SECTION("invalid_api_key is fatal at any time") {
    auto s = ready_session();
    REQUIRE(s.handle(openai::event{error_with("invalid_api_key", "Incorrect API key provided")}, at(400)) == actions{});
    REQUIRE(s.failure());
    CHECK(s.failure()->what == openai::session_failure::kind::rejected);
    CHECK(s.failure()->detail == "invalid_api_key: Incorrect API key provided");
  }
  SECTION("a parameter error while configuring means our configuration was rejected") {
    openai::session s(options(), at(0));
    (void)s.handle(in::leg_opened{}, at(100));
    REQUIRE(s.handle(openai::event{error_with("unknown_parameter", "Unknown parameter: 'session.foo'.")}, at(150)) ==
            actions{});
    CHECK(s.phase() == session_phase::failed);
  }
  SECTION("the same error once ready is only a warning (e.g. a rejected truncate)") {
    auto s = ready_session();
    const auto& out = s.handle(
        openai::event{error_with("invalid_value", "Audio content of 9250ms is already shorter than 57340ms")}, at(400));
    REQUIRE(out == actions{to_host::warning{warning_code::openai_error,
                                            "invalid_value: Audio content of 9250ms is already shorter than 57340ms"}});
    CHECK(s.phase() == session_phase::ready);
    CHECK(s.counters().truncates_rejected == 1);  // counted (rtb_truncates_rejected_total)
    (void)s.handle(openai::event{error_with("unsupported_content_type",
                                            "Only model output audio messages can be truncated")},
                   at(500));
    CHECK(s.counters().truncates_rejected == 2);
    (void)s.handle(openai::event{error_with("invalid_value", "Invalid value: 'x'.")}, at(600));
    CHECK(s.counters().truncates_rejected == 2);
    CHECK(s.counters().errors == 3);
  }
  SECTION("response_cancel_not_active is benign and silent") {
    auto s = ready_session();
    REQUIRE(s.handle(openai::event{error_with("response_cancel_not_active")}, at(400)) == actions{});
    CHECK(s.counters().errors == 1);
  }
}

TEST_CASE("failed responses: model and account problems are fatal, others warnings", "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(openai::event{response_created("resp_1")}, at(400)) == actions{});
  auto failed = response_done("resp_1", "failed");
  SECTION("server_error") {
    failed.error = {"server_error", "server_error", "", "", ""};
    const auto& out = s.handle(openai::event{failed}, at(500));
    REQUIRE(out.size() == 1);
    CHECK(std::get<to_host::warning>(out[0]).code == warning_code::response_failed);
    CHECK(s.phase() == session_phase::ready);
  }
  SECTION("model_not_found") {
    failed.error = {"invalid_request_error", "model_not_found", "The model `gpt-realtime` does not exist", "", ""};
    REQUIRE(s.handle(openai::event{failed}, at(500)) == actions{});
    REQUIRE(s.failure());
    CHECK(s.failure()->detail.find("model_not_found") != std::string::npos);
  }
  CHECK(s.counters().responses_failed == 1);
}

TEST_CASE("transcripts of both sides reach the host", "[openai][session]") {
  auto s = ready_session();
  REQUIRE(s.handle(openai::event{openai::input_transcription_completed{"item_U", 0, "What time do you close?"}},
                   at(400)) == actions{to_host::caller_transcript{"item_U", "What time do you close?"}});
  REQUIRE(s.handle(openai::event{openai::transcript_done{"resp_1", "item_A", 0, "Until 8 PM."}}, at(500)) ==
          actions{to_host::ai_transcript{"item_A", "Until 8 PM."}});
  openai::input_transcription_failed f{
      "item_U2", 0, {"transcription_error", "audio_unintelligible", "The audio could not be transcribed.", "", ""}};
  const auto& out = s.handle(openai::event{f}, at(600));
  REQUIRE(out.size() == 1);
  CHECK(std::get<to_host::warning>(out[0]).code == warning_code::transcription_failed);
}

TEST_CASE("audio received is counted per output item", "[openai][session]") {
  auto s = ready_session();
  const std::string chunk = frame();
  (void)s.handle(openai::event{delta("resp_1", "item_A", chunk)}, at(400));
  (void)s.handle(openai::event{delta("resp_1", "item_A", chunk)}, at(401));
  (void)s.handle(openai::event{delta("resp_1", "item_B", chunk)}, at(402));
  CHECK(s.item_audio_bytes("item_A") == 320);
  CHECK(s.item_audio_bytes("item_B") == 160);
  CHECK(s.item_audio_bytes("item_X") == 0);
  CHECK(s.counters().audio_bytes == 480);
}

TEST_CASE("text from the host before the session is ready is queued, then sent", "[openai][session]") {
  openai::session s(options(), at(0));
  REQUIRE(s.handle(in::user_text{"early", true}, at(10)) == actions{});
  (void)s.handle(in::leg_opened{}, at(100));
  REQUIRE(s.handle(openai::event{session_updated_pcmu()}, at(300)) == actions{to_host::session_ready{"sess_1"},
                                                                              to_openai::create_user_message{"early"},
                                                                              to_openai::create_response{}});
}

TEST_CASE("the server closing the socket fails the session with the close and the last error", "[openai][session]") {
  auto s = ready_session();
  (void)s.handle(openai::event{error_with("session_expired", "Your session hit the maximum duration of 60 minutes.")},
                 at(400));
  REQUIRE(s.failure());
  SECTION("a fatal error followed by a close keeps the first failure") {
    (void)s.handle(in::leg_closed{4000, "invalid_request_error.session_expired"}, at(401));
    CHECK(s.failure()->what == openai::session_failure::kind::rejected);
  }
  auto s2 = ready_session();
  (void)s2.handle(openai::event{error_with("rate_limit_exceeded", "slow down")}, at(400));
  REQUIRE(s2.handle(in::leg_closed{1011, "internal"}, at(410)) == actions{});
  REQUIRE(s2.failure());
  CHECK(s2.failure()->what == openai::session_failure::kind::closed);
  CHECK(s2.failure()->detail == "closed with code 1011 (internal); last error: rate_limit_exceeded: slow down");
}

TEST_CASE("token usage of every response is summed", "[openai][session]") {
  auto s = ready_session();
  auto done = response_done("resp_1");
  done.usage.input_audio_tokens = 52;
  done.usage.output_audio_tokens = 41;
  done.usage.input_cached_tokens = 384;
  (void)s.handle(openai::event{done}, at(400));
  (void)s.handle(openai::event{done}, at(900));
  CHECK(s.counters().input_audio_tokens == 104);
  CHECK(s.counters().output_audio_tokens == 82);
  CHECK(s.counters().input_cached_tokens == 768);
  SECTION("counts from the peer cannot make the sums go negative or overflow") {
    done.usage.input_audio_tokens = std::numeric_limits<std::int64_t>::max();
    done.usage.output_audio_tokens = -5;
    (void)s.handle(openai::event{done}, at(1000));
    (void)s.handle(openai::event{done}, at(1100));
    CHECK(s.counters().input_audio_tokens == std::numeric_limits<std::int64_t>::max());
    CHECK(s.counters().output_audio_tokens == 82);
  }
}
