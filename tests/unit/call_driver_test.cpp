// Scenarios for the call driver (include/realtime_bridge/call_driver.hpp): the
// shell that decodes, runs the call, encodes and records.
#include <algorithm>
#include <sstream>

#include "realtime_bridge/call_driver.hpp"
#include "realtime_bridge/trace.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

const std::string connected_json = R"({"event":"connected","protocol":"Call","version":"1.0.0"})";
const std::string start_json =
    R"({"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"tenant":"acme"}},"streamSid":"MZ1"})";
const std::string session_updated_json =
    R"({"type":"session.updated","event_id":"event_1","session":{"type":"realtime","id":"sess_1","model":"gpt-realtime","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}}}})";

std::string media_json(const std::string& payload) {
  return R"({"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":")" +
         payload + R"("},"streamSid":"MZ1"})";
}
std::string delta_json(const std::string& resp, const std::string& item, const std::string& payload) {
  return R"({"type":"response.output_audio.delta","event_id":"e","response_id":")" + resp + R"(","item_id":")" + item +
         R"(","output_index":0,"content_index":0,"delta":")" + payload + R"("})";
}

struct rig {
  explicit rig(call_config config = {}, driver_limits limits = {}, trace_sink* trace = nullptr)
      : driver(
            std::move(config), twilio, openai, observer, limits, [this] { return now; }, trace) {}

  void up() {
    driver.on_text(leg::twilio, connected_json);
    driver.on_text(leg::twilio, start_json);
    driver.on_openai_open();
    driver.on_text(leg::openai, session_updated_json);
  }

  timestamp now{};
  recording_transport twilio;
  recording_transport openai;
  recording_observer observer;
  call_driver driver;
};

/// What the driver sent to OpenAI, as the replay prints it.
std::vector<std::string> sent_to_openai(const rig& r) {
  std::vector<std::string> out;
  for (const auto& m : r.openai.sent) out.push_back("-> openai " + m);
  return out;
}

/// Replays `trace` into `replayed` and returns the messages to OpenAI in it
/// (the close is the replay's own line, not a message).
std::vector<std::string> replayed_openai_messages(const std::string& trace, std::ostringstream& replayed) {
  std::istringstream in(trace);
  REQUIRE(replay_trace(in, replayed));
  std::vector<std::string> out;
  std::istringstream lines(replayed.str());
  for (std::string l; std::getline(lines, l);) {
    const auto p = l.find(' ');
    if (l.compare(p + 1, 10, "-> openai ") == 0 && l.find(" close ") == std::string::npos)
      out.push_back(l.substr(p + 1));
  }
  return out;
}

}  // namespace

TEST_CASE("the driver encodes each action onto the right leg, in Twilio's and OpenAI's exact shapes", "[driver]") {
  rig r;
  r.up();
  REQUIRE(r.openai.sent.size() == 1);
  CHECK(r.openai.sent[0].rfind(R"({"type":"session.update","event_id":"rtb_1","session":{"type":"realtime")", 0) == 0);
  CHECK(r.observer.lines ==
        std::vector<std::string>{"host.stream_started{CA1, MZ1, tenant=acme}", "host.session_ready{sess_1}"});

  const std::string caller = frame(0x55);
  r.driver.on_text(leg::twilio, media_json(caller));
  REQUIRE(r.openai.sent.back() == R"({"type":"input_audio_buffer.append","audio":")" + caller + R"("})");

  const std::string ai = frame(0x2A);
  r.driver.on_text(leg::openai, delta_json("resp_1", "item_A", ai));
  REQUIRE(r.twilio.sent ==
          std::vector<std::string>{R"({"event":"mark","streamSid":"MZ1","mark":{"name":"rtb.1.0.0"}})",
                                   R"({"event":"media","streamSid":"MZ1","media":{"payload":")" + ai + R"("}})",
                                   R"({"event":"mark","streamSid":"MZ1","mark":{"name":"rtb.1.1.20"}})"});
}

TEST_CASE("a message that is not valid JSON is dropped, reported and counted, the call goes on", "[driver]") {
  rig r;
  r.up();
  r.driver.on_text(leg::twilio, "{\"event\":\"media\",");
  r.driver.on_text(leg::openai, "not json at all");
  CHECK(r.observer.saw("host.warning{rejected_message, \"twilio message dropped: not valid JSON"));
  CHECK(r.observer.saw("host.warning{rejected_message, \"openai message dropped: not a JSON object"));
  const std::string caller = frame();
  r.driver.on_text(leg::twilio, media_json(caller));
  CHECK(r.openai.sent.back().find(caller) != std::string::npos);
  CHECK_FALSE(r.driver.finished());
  CHECK(r.driver.call().counters().rejected_twilio_messages == 1);
  CHECK(r.driver.call().counters().rejected_openai_messages == 1);
}

TEST_CASE("messages over the size limit are rejected, whether buffered or not", "[driver]") {
  rig r({}, driver_limits{.max_twilio_message_bytes = 1024, .max_openai_message_bytes = 4096});
  r.up();
  SECTION("a complete message that is too large") {
    r.driver.on_text(leg::twilio, media_json(mulaw(3000)));
    CHECK(r.observer.saw("host.warning{rejected_message, \"twilio message dropped: message exceeds the size limit"));
  }
  SECTION("an adapter that stopped buffering reports the size") {
    r.driver.on_oversized(leg::openai, 1'000'000);
    CHECK(
        r.observer.saw("host.warning{rejected_message, \"openai message dropped: message of 1000000 bytes exceeds the "
                       "4096-byte limit"));
  }
  CHECK(r.driver.max_message_bytes(leg::twilio) == 1024);
}

TEST_CASE("the host may answer a tool call from inside the callback", "[driver]") {
  struct answering_observer : recording_observer {
    call_driver* driver = nullptr;
    void on_tool_call(const to_host::tool_call& t) override {
      recording_observer::on_tool_call(t);
      driver->submit_tool_result(t.call_id, R"({"ok":true})");  // re-enters the driver
    }
  };
  answering_observer obs;
  timestamp now{};
  recording_transport tw, oa;
  call_driver d({}, tw, oa, obs, {}, [&] { return now; });
  obs.driver = &d;
  d.on_text(leg::twilio, start_json);
  d.on_openai_open();
  d.on_text(leg::openai, session_updated_json);
  d.on_text(leg::openai, R"({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}})");
  d.on_text(
      leg::openai,
      R"({"type":"response.output_item.done","response_id":"resp_1","output_index":0,"item":{"id":"item_F","type":"function_call","status":"completed","name":"lookup","call_id":"call_9","arguments":"{}"}})");
  // The result went out after the event that asked for it had been handled.
  REQUIRE_FALSE(oa.matching("function_call_output").empty());
  CHECK(
      oa.matching("function_call_output")[0] ==
      R"({"type":"conversation.item.create","event_id":"rtb_2","item":{"type":"function_call_output","call_id":"call_9","output":"{\"ok\":true}"}})");
  CHECK(oa.matching("response.create").empty());  // a response is still active
  d.on_text(leg::openai, R"({"type":"response.done","response":{"id":"resp_1","status":"completed"}})");
  CHECK(oa.matching("response.create").size() == 1);
}

TEST_CASE("deadlines fire through on_timer and end the call with both legs closed", "[driver]") {
  rig r;
  r.driver.on_text(leg::twilio, connected_json);
  r.driver.on_text(leg::twilio, start_json);
  REQUIRE(r.driver.next_timeout() == at(10'000));
  r.now = at(9'999);
  r.driver.on_timer();  // not yet due: nothing happens
  CHECK_FALSE(r.driver.finished());
  r.now = at(10'000);
  r.driver.on_timer();
  CHECK(r.driver.finished());
  CHECK(r.observer.ended == std::vector<end_reason>{end_reason::openai_unreachable});
  CHECK(r.twilio.closes ==
        std::vector<std::pair<std::uint16_t, std::string>>{{close_internal_error, "openai_unreachable"}});
  CHECK(r.openai.closes.size() == 1);
}

TEST_CASE("unknown Twilio fields are reported once each", "[driver]") {
  rig r;
  r.up();
  const std::string caller = frame();
  const std::string with_extra =
      R"({"event":"media","media":{"payload":")" + caller + R"(","volume":3},"streamSid":"MZ1","x":1})";
  r.driver.on_text(leg::twilio, with_extra);
  r.driver.on_text(leg::twilio, with_extra);
  int reports = 0;
  for (const auto& l : r.observer.lines) reports += l.find("unknown_field") != std::string::npos;
  CHECK(reports == 2);  // media.volume and x, each once
  CHECK(r.observer.saw("host.warning{unknown_field, \"Twilio message has an unknown field 'media.volume'"));
  CHECK(r.openai.matching(caller).size() == 2);  // the frames themselves were forwarded
}

TEST_CASE("the call summary reaches the observer exactly once, with the counters", "[driver]") {
  rig r;
  r.up();
  r.driver.on_text(leg::twilio, media_json(frame()));
  r.driver.on_text(
      leg::twilio,
      R"({"event":"stop","sequenceNumber":"3","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"})");
  r.driver.on_closed(leg::twilio, 1000, "");
  r.driver.on_closed(leg::openai, 1000, "");
  REQUIRE(r.observer.ended == std::vector<end_reason>{end_reason::caller_hung_up});
  CHECK(r.observer.final_counters[0].twilio.media_frames == 1);
  CHECK(r.observer.final_counters[0].caller_frames_forwarded == 1);
  CHECK(r.driver.finished());
}

TEST_CASE("a recorded trace replays to exactly the messages the live call sent", "[driver][trace]") {
  std::ostringstream trace_text;
  ostream_trace_sink sink(trace_text);
  rig r({}, {}, &sink);
  r.up();
  r.now = at(100);
  r.driver.on_text(leg::openai, R"({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}})");
  for (int i = 0; i < 5; ++i)
    r.driver.on_text(leg::openai, delta_json("resp_1", "item_A", frame(static_cast<unsigned char>(i))));
  r.now = at(140);
  r.driver.on_text(leg::twilio, R"({"event":"mark","streamSid":"MZ1","mark":{"name":"rtb.1.1.20"}})");
  r.now = at(150);
  r.driver.on_text(leg::twilio, "garbage");
  r.driver.on_text(leg::openai,
                   R"({"type":"input_audio_buffer.speech_started","audio_start_ms":10,"item_id":"item_U"})");
  r.now = at(200);
  r.driver.send_user_text("the caller pressed 0", true);
  r.driver.end_call("done");

  std::ostringstream replayed;
  CHECK(replayed_openai_messages(trace_text.str(), replayed) == sent_to_openai(r));
  CHECK(replayed.str().find("truncate") != std::string::npos);
  CHECK(replayed.str().find("host.call_ended{host_ended, \"done\"}") != std::string::npos);

  SECTION("and replaying twice gives byte-identical output") {
    std::istringstream again(trace_text.str());
    std::ostringstream second;
    REQUIRE(replay_trace(again, second));
    CHECK(second.str() == replayed.str());
  }
}

TEST_CASE("a trace that cannot be replayed is refused with the line number", "[driver][trace]") {
  std::ostringstream out;
  SECTION("empty") {
    std::istringstream in("");
    auto r = replay_trace(in, out);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_trace);
  }
  SECTION("a bad entry") {
    std::string header;
    {
      std::ostringstream t;
      ostream_trace_sink sink(t);
      recording_transport a, b;
      recording_observer o;
      call_driver d(
          {}, a, b, o, {}, [] { return timestamp{}; }, &sink);
      header = t.str();
    }
    std::istringstream in(header + R"({"t_us":5,"leg":"nowhere","text":"{}"})" + "\n");
    auto r = replay_trace(in, out);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "trace line 2: leg must be twilio or openai");
  }
}

TEST_CASE("a host command issued from an unknown-field warning runs after that message", "[driver]") {
  struct ending_observer : recording_observer {
    call_driver* driver = nullptr;
    void on_warning(const to_host::warning& w) override {
      recording_observer::on_warning(w);
      if (w.code == warning_code::unknown_field) driver->end_call("unexpected field");
    }
  };
  ending_observer obs;
  timestamp now{};
  recording_transport tw, oa;
  call_driver d({}, tw, oa, obs, {}, [&] { return now; });
  obs.driver = &d;
  d.on_text(leg::twilio, R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","extra":1},"streamSid":"MZ1"})");
  // The start was handled first (the stream started), then the call ended.
  REQUIRE(obs.lines.size() == 3);
  CHECK(obs.lines[0].rfind("host.warning{unknown_field", 0) == 0);
  CHECK(obs.lines[1] == "host.stream_started{CA1, MZ1}");
  CHECK(obs.lines[2] == "host.call_ended{host_ended, \"unexpected field\"}");
}

TEST_CASE("with caller audio batching the driver sends one append per batch, and the trace replays it",
          "[driver][trace][batch]") {
  std::ostringstream trace_text;
  ostream_trace_sink sink(trace_text);
  call_config config;
  config.limits.caller_audio_batch = 40ms;
  rig r(config, {}, &sink);
  r.up();
  const std::size_t before = r.openai.sent.size();
  const std::string f1 = frame(0x11), f2 = frame(0x22), f3 = frame(0x33);
  r.now = at(20);
  r.driver.on_text(leg::twilio, media_json(f1));
  CHECK(r.openai.sent.size() == before);
  r.now = at(40);
  r.driver.on_text(leg::twilio, media_json(f2));
  REQUIRE(r.openai.sent.size() == before + 1);
  CHECK(r.openai.sent.back() == R"({"type":"input_audio_buffer.append","audio":")" +
                                    base64(std::string(160, '\x11') + std::string(160, '\x22')) + R"("})");
  // A lone frame waits for its deadline, which the adapter arms from next_timeout().
  r.now = at(60);
  r.driver.on_text(leg::twilio, media_json(f3));
  REQUIRE(r.driver.next_timeout() == at(100));
  r.now = at(100);
  r.driver.on_timer();
  REQUIRE(r.openai.sent.size() == before + 2);
  CHECK(r.openai.sent.back() == R"({"type":"input_audio_buffer.append","audio":")" + f3 + R"("})");
  r.driver.end_call("done");
  REQUIRE(r.observer.final_counters.size() == 1);
  CHECK(r.observer.final_counters[0].caller_frames_forwarded == 3);
  CHECK(r.observer.final_counters[0].caller_audio_appends == 2);

  std::ostringstream replayed;
  CHECK(replayed_openai_messages(trace_text.str(), replayed) == sent_to_openai(r));
}

TEST_CASE("the session.update on the wire carries the interrupt_response barge-in decided", "[driver][barge_in]") {
  call_config config;
  SECTION("barge-in disabled: false, though the configuration says true") {
    config.barge_in.enabled = false;
    rig r(config);
    r.up();
    REQUIRE_FALSE(r.openai.sent.empty());
    CHECK(r.openai.sent[0].find(R"("interrupt_response":false)") != std::string::npos);
    CHECK(r.openai.sent[0].find(R"("interrupt_response":true)") == std::string::npos);
  }
  SECTION("barge-in enabled: as configured") {
    rig r(config);
    r.up();
    REQUIRE_FALSE(r.openai.sent.empty());
    CHECK(r.openai.sent[0].find(R"("interrupt_response":true)") != std::string::npos);
  }
}

namespace {

// Chooses the call's configuration from the stream's parameters, as a server
// picking an agent does.
struct choosing_observer final : recording_observer {
  call_driver* driver = nullptr;
  bool choose = true;
  void on_stream_started(const to_host::stream_started& a) override {
    recording_observer::on_stream_started(a);
    if (!choose) return;
    call_config chosen;
    chosen.openai.config.model = "gpt-realtime-mini";
    chosen.openai.config.instructions = "You are acme's front desk.";
    driver->configure(chosen);
  }
};

struct recording_connector final : connector {
  std::vector<std::string> requests;
  void connect(openai_slot slot, std::string_view model) override {
    requests.push_back((slot == openai_slot::current ? "current " : "next ") + std::string(model));
  }
};

call_config connects_after_start() {
  call_config c;
  c.connect = openai_connect::after_start;
  return c;
}

}  // namespace

TEST_CASE("the driver asks its connector to connect: at start, or with the configuration chosen at Twilio's start",
          "[driver][configure]") {
  timestamp now{};
  recording_transport twilio;
  recording_transport openai;
  choosing_observer observer;
  recording_connector connector;

  SECTION("at once") {
    call_driver driver({}, twilio, openai, observer, {}, [&] { return now; });
    driver.set_connector(&connector);
    driver.start();
    CHECK(connector.requests == std::vector<std::string>{"current gpt-realtime"});
  }

  SECTION("after start, the observer's choice from inside on_stream_started") {
    call_driver driver(connects_after_start(), twilio, openai, observer, {}, [&] { return now; });
    observer.driver = &driver;
    driver.set_connector(&connector);
    driver.start();
    CHECK(connector.requests.empty());
    driver.on_text(leg::twilio, start_json);
    CHECK(connector.requests == std::vector<std::string>{"current gpt-realtime-mini"});
    driver.on_openai_open();
    REQUIRE(openai.sent.size() == 1);
    CHECK(openai.sent[0].find("You are acme's front desk.") != std::string::npos);
  }

  SECTION("after start, an observer that chooses nothing: the call keeps its own") {
    observer.choose = false;
    call_driver driver(connects_after_start(), twilio, openai, observer, {}, [&] { return now; });
    driver.set_connector(&connector);
    driver.start();
    driver.on_text(leg::twilio, start_json);
    CHECK(connector.requests == std::vector<std::string>{"current gpt-realtime"});
    CHECK_FALSE(driver.call().awaiting_configuration());
  }
}

TEST_CASE("a configuration chosen at Twilio's start is in the trace, and replays to the same messages",
          "[driver][configure][trace]") {
  std::ostringstream trace_text;
  ostream_trace_sink sink(trace_text);
  choosing_observer observer;
  timestamp now{};
  recording_transport twilio;
  recording_transport openai;
  call_driver driver(connects_after_start(), twilio, openai, observer, {}, [&] { return now; }, &sink);
  observer.driver = &driver;
  driver.start();
  driver.on_text(leg::twilio, start_json);
  now = at(80);
  driver.on_openai_open();
  driver.on_text(leg::openai, session_updated_json);
  driver.end_call("done");
  CHECK(trace_text.str().find(R"("host":"configure","config":{)") != std::string::npos);

  std::vector<std::string> live;
  for (const auto& m : openai.sent) live.push_back("-> openai " + m);
  std::ostringstream replayed;
  CHECK(replayed_openai_messages(trace_text.str(), replayed) == live);
  CHECK(replayed.str().find("You are acme's front desk.") != std::string::npos);
}

TEST_CASE("a call that reconnects to OpenAI replays from its trace to exactly the messages it sent",
          "[driver][trace][reconnect]") {
  std::ostringstream trace_text;
  ostream_trace_sink sink(trace_text);
  struct counting_connector : connector {
    int connects = 0;
    void connect(openai_slot, std::string_view) override { ++connects; }
  } connector;
  rig r({}, {}, &sink);
  r.driver.set_connector(&connector);
  r.driver.start();
  r.up();
  r.now = at(100);
  r.driver.on_text(leg::openai, R"({"type":"input_audio_buffer.committed","item_id":"item_U","previous_item_id":null})");
  r.driver.on_text(
      leg::openai,
      R"({"type":"conversation.item.input_audio_transcription.completed","item_id":"item_U","content_index":0,"transcript":"Where is my order?"})");
  r.driver.on_text(leg::openai, R"({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}})");
  r.driver.on_text(
      leg::openai,
      R"({"type":"response.output_audio_transcript.delta","response_id":"resp_1","item_id":"item_A","content_index":0,"delta":"Let me check"})");
  r.driver.on_text(leg::openai, delta_json("resp_1", "item_A", frame(1)));
  r.now = at(300);
  r.driver.on_closed(leg::openai, 1006, "abnormal");  // the drop: reconnect at once
  CHECK(connector.connects == 2);
  r.now = at(320);
  r.driver.on_text(leg::twilio, media_json(frame(0x55)));  // held
  r.now = at(400);
  r.driver.on_openai_open();
  r.driver.on_text(leg::openai, session_updated_json);
  CHECK(r.openai.sent.back() == R"({"type":"response.create","event_id":"rtb_5"})");
  r.now = at(500);
  r.driver.end_call("done");

  const auto& sent = r.openai.sent;
  CHECK(std::count_if(sent.begin(), sent.end(),
                      [](const std::string& m) { return m.find(R"("type":"session.update")") != std::string::npos; }) == 2);
  CHECK(std::find(sent.begin(), sent.end(),
                  R"({"type":"conversation.item.create","event_id":"rtb_4","item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me check"}]}})") !=
        sent.end());
  std::ostringstream replayed;
  CHECK(replayed_openai_messages(trace_text.str(), replayed) == sent_to_openai(r));
  CHECK(replayed.str().find("host.call_ended{host_ended, \"done\"}") != std::string::npos);
}
