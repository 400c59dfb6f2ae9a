// Twilio Media Streams codec: decoding the messages Twilio sends (shapes from
// twilio.md §1.2, including the 2019 capture) and encoding the three we send.
#include <algorithm>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/twilio/decoder.hpp"
#include "realtime_bridge/twilio/encoder.hpp"
#include "support/test_support.hpp"

namespace tw = rtb::twilio;
using Catch::Matchers::Contains;
using rtb::errc;
using rtb::test::frame;
using rtb::test::mulaw;

namespace {

constexpr std::string_view stream_sid = "MZ18ad3ab5a668481ce02b83e7395059f0";
constexpr std::string_view account_sid = "AC25e16e9a716a4a1786a7c47b1b23c9d9";
constexpr std::string_view call_sid = "CA5e2a4fa5b7d2a3d9f0e1c2b3a4d5e6f7";

/// A decoder plus the buffer it decodes from. Views in a decoded event point
/// into both and stay valid only until the next decode().
struct wire {
  explicit wire(std::size_t max_bytes = 64 * 1024) : dec(max_bytes) {}

  rtb::result<tw::event> decode(std::string_view text) {
    buf.assign(text);
    return dec.decode(buf);
  }

  /// The unknown fields of the last decode, as "parent.key" (or "key" at the top level).
  std::vector<std::string> unknown() const {
    std::vector<std::string> out;
    for (const auto& f : dec.unknown_fields())
      out.push_back(f.parent.empty() ? std::string(f.key) : std::string(f.parent) + "." + std::string(f.key));
    return out;
  }

  tw::decoder dec;
  rtb::padded_buffer buf;
};

template <class T>
T expect(const rtb::result<tw::event>& r) {
  if (!r) FAIL("decode failed: " << rtb::to_string(r.error().code) << ": " << r.error().message);
  REQUIRE(std::holds_alternative<T>(*r));
  return std::get<T>(*r);
}

rtb::error expect_error(const rtb::result<tw::event>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

/// `{"event":"media",…}` with `payload` spliced into the media object.
std::string media_message(std::string_view payload) {
  return R"({"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"102","payload":")" +
         std::string(payload) + R"("},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"})";
}

}  // namespace

// ---- every message kind, as Twilio sends it ----

TEST_CASE("twilio decoder reads the connected message", "[twilio][codec]") {
  wire w;
  auto c = expect<tw::connected>(w.decode(R"({ "event": "connected", "protocol": "Call", "version": "1.0.0" })"));
  CHECK(c.protocol == "Call");
  CHECK(c.version == "1.0.0");
  CHECK(w.unknown().empty());

  SECTION("an older version string is accepted as it is") {
    auto old = expect<tw::connected>(w.decode(R"({"event":"connected","protocol":"Call","version":"0.2.0"})"));
    CHECK(old.version == "0.2.0");
  }
}

TEST_CASE("twilio decoder reads the start message with tracks, media format and custom parameters", "[twilio][codec]") {
  wire w;
  auto s = expect<tw::start>(w.decode(
      R"({"event":"start","sequenceNumber":"1",
 "start":{"accountSid":"AC25e16e9a716a4a1786a7c47b1b23c9d9","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","callSid":"CA5e2a4fa5b7d2a3d9f0e1c2b3a4d5e6f7","tracks":["inbound"],
          "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},
          "customParameters":{"FirstName":"Jane","LastName":"Doe","RemoteParty":"Bob"}},
 "streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"})"));
  CHECK(s.sequence_number == 1);
  CHECK(s.stream_sid == stream_sid);
  CHECK(s.account_sid == account_sid);
  CHECK(s.call_sid == call_sid);
  REQUIRE(s.tracks.size() == 1);
  CHECK(s.tracks[0] == "inbound");
  CHECK(s.has_media_format);
  CHECK(s.format.encoding == "audio/x-mulaw");
  CHECK(s.format.sample_rate == 8000);
  CHECK(s.format.channels == 1);
  REQUIRE(s.custom_parameters.size() == 3);
  CHECK(s.custom_parameters[0].name == "FirstName");
  CHECK(s.custom_parameters[0].value == "Jane");
  CHECK(s.custom_parameters[1].name == "LastName");
  CHECK(s.custom_parameters[1].value == "Doe");
  CHECK(s.custom_parameters[2].name == "RemoteParty");
  CHECK(s.custom_parameters[2].value == "Bob");
  CHECK(w.unknown().empty());
}

TEST_CASE("twilio decoder reads a start message without optional parts", "[twilio][codec]") {
  wire w;
  auto s = expect<tw::start>(w.decode(R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1"}})"));
  CHECK(s.stream_sid == "MZ1");
  CHECK(s.call_sid == "CA1");
  CHECK(s.account_sid.empty());
  CHECK(s.sequence_number == 0);
  CHECK(s.tracks.empty());
  CHECK_FALSE(s.has_media_format);
  CHECK(s.custom_parameters.empty());

  SECTION("empty tracks and customParameters") {
    auto e = expect<tw::start>(
        w.decode(R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","tracks":[],"customParameters":{}}})"));
    CHECK(e.tracks.empty());
    CHECK(e.custom_parameters.empty());
  }
}

TEST_CASE("twilio decoder unescapes custom parameter names and values", "[twilio][codec]") {
  wire w;
  auto s = expect<tw::start>(w.decode(
      R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1",
          "customParameters":{"caller\"name":"Jos\u00e9 \"Pepe\"","line\\break":"a\nb","empty":""}}})"));
  REQUIRE(s.custom_parameters.size() == 3);
  CHECK(s.custom_parameters[0].name == "caller\"name");
  CHECK(s.custom_parameters[0].value == "Jos\xC3\xA9 \"Pepe\"");
  CHECK(s.custom_parameters[1].name == "line\\break");
  CHECK(s.custom_parameters[1].value == "a\nb");
  CHECK(s.custom_parameters[2].name == "empty");
  CHECK(s.custom_parameters[2].value.empty());
}

TEST_CASE("twilio decoder reads media counters sent as strings, as Twilio does", "[twilio][codec]") {
  wire w;
  const std::string payload = frame(0x7E);
  auto m = expect<tw::media>(w.decode(media_message(payload)));
  CHECK(m.sequence_number == 2);
  CHECK(m.stream_sid == stream_sid);
  CHECK(m.track == "inbound");
  CHECK(m.chunk == 1);
  CHECK(m.timestamp_ms == 102);
  CHECK(m.payload == payload);
  CHECK(rtb::audio::base64_decoded_size(m.payload) == 160);
  CHECK(w.unknown().empty());
}

TEST_CASE("twilio decoder reads media counters sent as JSON numbers", "[twilio][codec]") {
  wire w;
  const std::string payload = frame();
  auto m = expect<tw::media>(
      w.decode(R"({"event":"media","sequenceNumber":4,"media":{"track":"inbound","chunk":2,"timestamp":5,"payload":")" +
               payload + R"("},"streamSid":"MZ1"})"));
  CHECK(m.sequence_number == 4);
  CHECK(m.chunk == 2);
  CHECK(m.timestamp_ms == 5);
  CHECK(m.payload == payload);
}

TEST_CASE("twilio decoder reads counters up to the largest 64-bit value", "[twilio][codec]") {
  wire w;
  auto m = expect<tw::media>(w.decode(
      R"({"event":"media","sequenceNumber":"18446744073709551615","media":{"chunk":18446744073709551615,"timestamp":"0","payload":""}})"));
  CHECK(m.sequence_number == 18446744073709551615ull);
  CHECK(m.chunk == 18446744073709551615ull);
  CHECK(m.timestamp_ms == 0);
  CHECK(m.payload.empty());  // zero bytes of audio is still base64
}

TEST_CASE("twilio decoder reads the mark echo", "[twilio][codec]") {
  wire w;
  auto m = expect<tw::mark>(w.decode(
      R"({"event":"mark","sequenceNumber":"4","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"my label"}})"));
  CHECK(m.sequence_number == 4);
  CHECK(m.stream_sid == stream_sid);
  CHECK(m.name == "my label");
  CHECK(w.unknown().empty());

  SECTION("a name with JSON escapes is unescaped") {
    auto e = expect<tw::mark>(w.decode(R"({"event":"mark","mark":{"name":"caf\u00e9 \"x\" \\ \ud83d\ude00"}})"));
    CHECK(e.name == "caf\xC3\xA9 \"x\" \\ \xF0\x9F\x98\x80");
  }
  SECTION("an empty name is still a name") {
    auto e = expect<tw::mark>(w.decode(R"({"event":"mark","mark":{"name":""}})"));
    CHECK(e.name.empty());
  }
}

TEST_CASE("twilio decoder reads a dtmf key press", "[twilio][codec]") {
  wire w;
  auto d = expect<tw::dtmf>(w.decode(
      R"({"event":"dtmf","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}})"));
  CHECK(d.sequence_number == 5);
  CHECK(d.stream_sid == stream_sid);
  CHECK(d.track == "inbound_track");
  CHECK(d.digit == "1");
  CHECK(w.unknown().empty());

  for (const char* key : {"0", "9", "*", "#"}) {
    auto k = expect<tw::dtmf>(w.decode(std::string(R"({"event":"dtmf","dtmf":{"digit":")") + key + R"("}})"));
    CHECK(k.digit == key);
  }
}

TEST_CASE("twilio decoder reads the stop message", "[twilio][codec]") {
  wire w;
  auto s = expect<tw::stop>(w.decode(
      R"({"event":"stop","sequenceNumber":"352","stop":{"accountSid":"AC25e16e9a716a4a1786a7c47b1b23c9d9","callSid":"CA5e2a4fa5b7d2a3d9f0e1c2b3a4d5e6f7"},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"})"));
  CHECK(s.sequence_number == 352);
  CHECK(s.stream_sid == stream_sid);
  CHECK(s.account_sid == account_sid);
  CHECK(s.call_sid == call_sid);
  CHECK(w.unknown().empty());

  SECTION("the stop object itself is optional") {
    auto bare = expect<tw::stop>(w.decode(R"({"event":"stop","streamSid":"MZ1"})"));
    CHECK(bare.stream_sid == "MZ1");
    CHECK(bare.call_sid.empty());
  }
}

TEST_CASE("twilio decoder reads a whole stream in order with one decoder", "[twilio][codec]") {
  // connected -> start -> media -> dtmf -> mark -> stop, as in twilio.md §5.2.
  wire w;
  CHECK(
      std::holds_alternative<tw::connected>(*w.decode(R"({"event":"connected","protocol":"Call","version":"1.0.0"})")));
  auto s = expect<tw::start>(w.decode(
      R"({"event":"start","sequenceNumber":"1","start":{"streamSid":"MZ9","callSid":"CA9","tracks":["inbound"]},"streamSid":"MZ9"})"));
  const std::string sid(s.stream_sid);  // copy: views die with the next decode()
  std::uint64_t last_seq = s.sequence_number;
  for (int i = 0; i < 3; ++i) {
    const std::string seq = std::to_string(2 + i);
    auto m = expect<tw::media>(w.decode(R"({"event":"media","sequenceNumber":")" + seq +
                                        R"(","media":{"track":"inbound","chunk":")" + std::to_string(1 + i) +
                                        R"(","timestamp":")" + std::to_string(102 + 20 * i) + R"(","payload":")" +
                                        frame() + R"("},"streamSid":"MZ9"})"));
    CHECK(m.sequence_number == last_seq + 1);
    CHECK(m.chunk == static_cast<std::uint64_t>(1 + i));
    CHECK(m.timestamp_ms == static_cast<std::uint64_t>(102 + 20 * i));
    CHECK(m.stream_sid == sid);
    last_seq = m.sequence_number;
  }
  CHECK(
      expect<tw::dtmf>(
          w.decode(
              R"({"event":"dtmf","streamSid":"MZ9","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"#"}})"))
          .digit == "#");
  CHECK(expect<tw::mark>(
            w.decode(R"({"event":"mark","sequenceNumber":"6","streamSid":"MZ9","mark":{"name":"rtb.0.1.20"}})"))
            .name == "rtb.0.1.20");
  CHECK(
      expect<tw::stop>(
          w.decode(
              R"({"event":"stop","sequenceNumber":"7","stop":{"accountSid":"AC9","callSid":"CA9"},"streamSid":"MZ9"})"))
          .call_sid == "CA9");
}

// ---- order, unknown fields, unknown events ----

TEST_CASE("twilio decoder accepts fields in any order, the event name last included", "[twilio][codec]") {
  wire w;
  const std::string payload = frame(0x11);
  auto m = expect<tw::media>(
      w.decode(R"({"streamSid":"MZ1","media":{"payload":")" + payload +
               R"(","timestamp":"140","chunk":"3","track":"inbound"},"sequenceNumber":"9","event":"media"})"));
  CHECK(m.sequence_number == 9);
  CHECK(m.stream_sid == "MZ1");
  CHECK(m.chunk == 3);
  CHECK(m.timestamp_ms == 140);
  CHECK(m.payload == payload);

  auto s = expect<tw::start>(w.decode(
      R"({"streamSid":"MZ2","start":{"customParameters":{"k":"v"},"mediaFormat":{"channels":1,"sampleRate":8000,"encoding":"audio/x-mulaw"},"tracks":["inbound"],"callSid":"CA2","streamSid":"MZ2","accountSid":"AC2"},"sequenceNumber":"1","event":"start"})"));
  CHECK(s.stream_sid == "MZ2");
  CHECK(s.call_sid == "CA2");
  CHECK(s.account_sid == "AC2");
  CHECK(s.format.sample_rate == 8000);
  REQUIRE(s.custom_parameters.size() == 1);
  CHECK(s.custom_parameters[0].value == "v");

  auto d = expect<tw::dtmf>(w.decode(R"({"dtmf":{"digit":"7","track":"inbound_track"},"event":"dtmf"})"));
  CHECK(d.digit == "7");
}

TEST_CASE("twilio decoder accepts the media format numbers as strings", "[twilio][codec]") {
  wire w;
  auto s = expect<tw::start>(w.decode(
      R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":"8000","channels":"1"}}})"));
  CHECK(s.format.sample_rate == 8000);
  CHECK(s.format.channels == 1);
}

TEST_CASE("twilio decoder tolerates unknown fields and reports each by name", "[twilio][codec]") {
  wire w;
  const std::string payload = frame();

  SECTION("at the top level") {
    expect<tw::media>(
        w.decode(R"({"event":"media","foo":1,"media":{"payload":")" + payload + R"("},"bar":{"x":[1,2]}})"));
    CHECK(w.unknown() == std::vector<std::string>{"foo", "bar"});
  }
  SECTION("inside the media object") {
    auto m = expect<tw::media>(
        w.decode(R"({"event":"media","media":{"foo":"x","payload":")" + payload + R"(","bar":null}})"));
    CHECK(m.payload == payload);
    CHECK(w.unknown() == std::vector<std::string>{"media.foo", "media.bar"});
  }
  SECTION("inside start and its mediaFormat") {
    expect<tw::start>(w.decode(
        R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","region":"us1","mediaFormat":{"encoding":"audio/x-mulaw","bitDepth":8}}})"));
    CHECK(w.unknown() == std::vector<std::string>{"start.region", "start.mediaFormat.bitDepth"});
  }
  SECTION("inside mark, dtmf and stop") {
    expect<tw::mark>(w.decode(R"({"event":"mark","mark":{"name":"a","when":"now"}})"));
    CHECK(w.unknown() == std::vector<std::string>{"mark.when"});
    expect<tw::dtmf>(w.decode(R"({"event":"dtmf","dtmf":{"digit":"1","duration":100}})"));
    CHECK(w.unknown() == std::vector<std::string>{"dtmf.duration"});
    expect<tw::stop>(w.decode(R"({"event":"stop","stop":{"callSid":"CA1","reason":"hangup"}})"));
    CHECK(w.unknown() == std::vector<std::string>{"stop.reason"});
  }
  SECTION("an escaped key is reported unescaped") {
    expect<tw::stop>(w.decode(R"({"event":"stop","we\"ird":true})"));
    CHECK(w.unknown() == std::vector<std::string>{"we\"ird"});
  }
}

TEST_CASE("twilio decoder reports a payload object that belongs to another event as unknown", "[twilio][codec]") {
  wire w;
  const std::string payload = frame();

  SECTION("after the event's own payload") {
    expect<tw::media>(w.decode(R"({"event":"media","media":{"payload":")" + payload + R"("},"mark":{"name":"x"}})"));
    CHECK(w.unknown() == std::vector<std::string>{"mark"});
  }
  SECTION("before the event's own payload") {
    expect<tw::media>(w.decode(R"({"event":"media","mark":{"name":"x"},"media":{"payload":")" + payload + R"("}})"));
    CHECK(w.unknown() == std::vector<std::string>{"mark"});
  }
  SECTION("several foreign payloads") {
    expect<tw::mark>(w.decode(R"({"event":"mark","stop":{},"dtmf":{"digit":"1"},"mark":{"name":"x"}})"));
    auto unknown = w.unknown();
    std::sort(unknown.begin(), unknown.end());
    CHECK(unknown == std::vector<std::string>{"dtmf", "stop"});
  }
  SECTION("on a connected message") {
    expect<tw::connected>(w.decode(R"({"event":"connected","protocol":"Call","version":"1.0.0","stop":{}})"));
    CHECK(w.unknown() == std::vector<std::string>{"stop"});
  }
}

TEST_CASE("twilio decoder forgets the previous message's unknown fields", "[twilio][codec]") {
  wire w;
  expect<tw::stop>(w.decode(R"({"event":"stop","extra":1})"));
  CHECK(w.unknown().size() == 1);
  expect<tw::stop>(w.decode(R"({"event":"stop"})"));
  CHECK(w.unknown().empty());
}

TEST_CASE("twilio decoder turns an unknown event into unknown_event with its name", "[twilio][codec]") {
  wire w;
  // Several samples handle a "close" event that Twilio does not send.
  auto u = expect<tw::unknown_event>(w.decode(R"({"event":"close","streamSid":"MZ1","sequenceNumber":"9"})"));
  CHECK(u.name == "close");

  auto t = expect<tw::unknown_event>(w.decode(R"({"event":"transcription","transcription":{"text":"hi"}})"));
  CHECK(t.name == "transcription");
  CHECK(w.unknown() == std::vector<std::string>{"transcription"});

  auto empty = expect<tw::unknown_event>(w.decode(R"({"event":""})"));
  CHECK(empty.name.empty());

  // Event names are case sensitive.
  CHECK(expect<tw::unknown_event>(w.decode(R"({"event":"Media","media":{"payload":""}})")).name == "Media");
}

// ---- errors ----

TEST_CASE("twilio decoder names each missing required field", "[twilio][codec]") {
  wire w;
  struct missing_case {
    std::string message;
    std::string field;
  };
  const missing_case cases[] = {
      {R"({"streamSid":"MZ1","media":{"payload":""}})", "event"},
      {R"({"event":"media","streamSid":"MZ1"})", "media"},
      {R"({"event":"media","media":{"track":"inbound","chunk":"1","timestamp":"5"}})", "media.payload"},
      {R"({"event":"mark","streamSid":"MZ1"})", "mark"},  // the openai-realtime-twilio-demo shape
      {R"({"event":"mark","mark":{}})", "mark.name"},
      {R"({"event":"start","sequenceNumber":"1"})", "start"},
      {R"({"event":"start","start":{"callSid":"CA1","accountSid":"AC1"},"streamSid":"MZ1"})", "start.streamSid"},
      {R"({"event":"start","start":{"streamSid":"MZ1","accountSid":"AC1"}})", "start.callSid"},
      {R"({"event":"dtmf","streamSid":"MZ1"})", "dtmf"},
      {R"({"event":"dtmf","dtmf":{"track":"inbound_track"}})", "dtmf.digit"},
  };
  for (const auto& c : cases) {
    INFO(c.message);
    auto err = expect_error(w.decode(c.message));
    CHECK(err.code == errc::missing_field);
    CHECK_THAT(err.message, Contains("'" + c.field + "'"));
  }
}

TEST_CASE("twilio decoder rejects fields of the wrong type, naming the field", "[twilio][codec]") {
  wire w;
  struct type_case {
    std::string message;
    std::string field;
  };
  const type_case cases[] = {
      {R"({"event":5})", "event"},
      {R"({"event":null})", "event"},
      {R"({"event":"stop","sequenceNumber":true})", "sequenceNumber"},
      {R"({"event":"stop","sequenceNumber":"12a"})", "sequenceNumber"},
      {R"({"event":"stop","sequenceNumber":-1})", "sequenceNumber"},
      {R"({"event":"stop","sequenceNumber":1.5})", "sequenceNumber"},
      {R"({"event":"stop","sequenceNumber":"18446744073709551616"})", "sequenceNumber"},
      {R"({"event":"stop","streamSid":17})", "streamSid"},
      {R"({"event":"connected","protocol":["Call"]})", "protocol"},
      {R"({"event":"media","media":"payload"})", "media"},
      {R"({"event":"media","media":null})", "media"},
      {R"({"event":"media","media":{"payload":123}})", "media.payload"},
      {R"({"event":"media","media":{"payload":"","chunk":"one"}})", "media.chunk"},
      {R"({"event":"media","media":{"payload":"","timestamp":{}}})", "media.timestamp"},
      {R"({"event":"media","media":{"payload":"","track":1}})", "media.track"},
      {R"({"event":"mark","mark":{"name":null}})", "mark.name"},
      {R"({"event":"mark","mark":[]})", "mark"},
      {R"({"event":"start","start":{"streamSid":1,"callSid":"CA1"}})", "start.streamSid"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":false}})", "start.callSid"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","tracks":"inbound"}})", "start.tracks"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","tracks":["inbound",2]}})", "start.tracks"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":["a"]}})",
       "start.customParameters"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","customParameters":{"a":1}}})",
       "start.customParameters"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":"audio/x-mulaw"}})",
       "start.mediaFormat"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":{"sampleRate":"8k"}}})",
       "start.mediaFormat.sampleRate"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":{"channels":4294967296}}})",
       "start.mediaFormat.channels"},
      {R"({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1","mediaFormat":{"encoding":8}}})",
       "start.mediaFormat.encoding"},
      {R"({"event":"dtmf","dtmf":{"digit":1}})", "dtmf.digit"},
      {R"({"event":"stop","stop":{"callSid":7}})", "stop.callSid"},
  };
  for (const auto& c : cases) {
    INFO(c.message);
    auto err = expect_error(w.decode(c.message));
    CHECK(err.code == errc::wrong_type);
    CHECK_THAT(err.message, Contains("'" + c.field + "'"));
  }
}

TEST_CASE("twilio decoder rejects a media payload that is not base64", "[twilio][codec]") {
  wire w;
  for (std::string bad : {"not base64!", "abc", "Zg=", "Zm9v\nYmFy", "Zm9v YmFy", "Zm-_"}) {
    std::string escaped;
    for (char c : bad) escaped += (c == '\n') ? std::string("\\n") : std::string(1, c);
    INFO(escaped);
    auto err = expect_error(w.decode(R"({"event":"media","media":{"payload":")" + escaped + R"("}})"));
    CHECK(err.code == errc::invalid_value);
    CHECK_THAT(err.message, Contains("'media.payload'"));
  }
}

TEST_CASE("twilio decoder rejects text that is not one JSON object", "[twilio][codec]") {
  wire w;
  const char* cases[] = {
      "",
      "   ",
      "not json",
      "{",
      R"({"event":"media","media":{)",
      R"({"event":"stop",})",
      R"({"event":"stop" "streamSid":"MZ1"})",
      R"({event:"stop"})",
      R"(["event","stop"])",
      R"([{"event":"stop"}])",
      R"("stop")",
      "42",
      "null",
      R"({"event":"stop"} trailing)",
      R"({"event":"stop"}{"event":"stop"})",
      R"({"event":"stop"}])",
      R"({"event":"stop"}})",
      R"({"event":"stop"},)",
  };
  for (const char* text : cases) {
    INFO("message: " << text);
    auto err = expect_error(w.decode(text));
    CHECK(err.code == errc::malformed_json);
    CHECK_FALSE(err.message.empty());
  }
}

TEST_CASE("twilio decoder accepts whitespace around the object", "[twilio][codec]") {
  wire w;
  CHECK(std::holds_alternative<tw::stop>(*w.decode(" \n\t{\"event\":\"stop\"} \r\n")));
}

TEST_CASE("twilio decoder rejects a message larger than its limit and keeps working", "[twilio][codec]") {
  // A stop message padded with whitespace to exactly `size` bytes.
  auto sized = [](std::size_t size) {
    std::string m = R"({"event":"stop")";
    m.append(size - m.size() - 1, ' ');
    m.push_back('}');
    return m;
  };
  wire w(256);
  CHECK(std::holds_alternative<tw::stop>(*w.decode(sized(256))));
  auto err = expect_error(w.decode(sized(257)));
  CHECK(err.code == errc::too_large);
  CHECK(std::holds_alternative<tw::stop>(*w.decode(sized(100))));

  SECTION("the default limit is 64 KiB") {
    wire d;
    CHECK(std::holds_alternative<tw::media>(*d.decode(media_message(mulaw(40'000)))));
    CHECK(expect_error(d.decode(media_message(mulaw(50'000)))).code == errc::too_large);
  }
}

TEST_CASE("twilio decoder can be moved and keeps decoding", "[twilio][codec]") {
  tw::decoder first(1024);
  tw::decoder moved(std::move(first));
  rtb::padded_buffer buf(R"({"event":"mark","mark":{"name":"m"}})");
  auto r = moved.decode(buf);
  REQUIRE(r);
  CHECK(std::get<tw::mark>(*r).name == "m");
}

// ---- encoder ----

TEST_CASE("twilio encoder writes media exactly in Twilio's shape", "[twilio][codec]") {
  std::string out;
  tw::encode_media(out, "MZ18ad3ab5a668481ce02b83e7395059f0", "fvz+/g==");
  CHECK(out == R"({"event":"media","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","media":{"payload":"fvz+/g=="}})");

  out.clear();
  const std::string payload = frame();
  tw::encode_media(out, "MZ1", payload);
  CHECK(out == R"({"event":"media","streamSid":"MZ1","media":{"payload":")" + payload + R"("}})");
}

TEST_CASE("twilio encoder writes a mark exactly in Twilio's shape", "[twilio][codec]") {
  std::string out;
  tw::encode_mark(out, "MZ18ad3ab5a668481ce02b83e7395059f0", "rtb.3.7.1240");
  CHECK(out == R"({"event":"mark","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"rtb.3.7.1240"}})");
}

TEST_CASE("twilio encoder writes clear exactly in Twilio's shape", "[twilio][codec]") {
  std::string out;
  tw::encode_clear(out, "MZ18ad3ab5a668481ce02b83e7395059f0");
  CHECK(out == R"({"event":"clear","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"})");
}

TEST_CASE("twilio encoder escapes a streamSid or mark name that needs it", "[twilio][codec]") {
  std::string out;
  tw::encode_clear(out, "MZ\"1\\");
  CHECK(out == R"({"event":"clear","streamSid":"MZ\"1\\"})");

  out.clear();
  tw::encode_mark(out, "MZ\n", "say \"hi\"\tnow \x01 caf\xC3\xA9");
  CHECK(
      out ==
      "{\"event\":\"mark\",\"streamSid\":\"MZ\\n\",\"mark\":{\"name\":\"say \\\"hi\\\"\\tnow \\u0001 caf\xC3\xA9\"}}");

  out.clear();
  tw::encode_media(out, "MZ\"", "Zg==");
  CHECK(out == R"({"event":"media","streamSid":"MZ\"","media":{"payload":"Zg=="}})");

  out.clear();
  tw::encode_mark(out, "MZ1", "bad \xFF utf-8");
  CHECK(out == "{\"event\":\"mark\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"bad \xEF\xBF\xBD utf-8\"}}");
}

TEST_CASE("twilio encoder appends to the output buffer without clearing it", "[twilio][codec]") {
  std::string out = "x";
  tw::encode_clear(out, "MZ1");
  tw::encode_mark(out, "MZ1", "m");
  CHECK(out == R"(x{"event":"clear","streamSid":"MZ1"}{"event":"mark","streamSid":"MZ1","mark":{"name":"m"}})");
}

TEST_CASE("a mark we encode decodes, as Twilio's echo, to the same name", "[twilio][codec]") {
  // Twilio echoes the mark with the same shape plus a sequenceNumber.
  const std::string names[] = {"rtb.0.1.20", "with \"quotes\" and \\", "line\nbreak", "caf\xC3\xA9 \xF0\x9F\x98\x80",
                               ""};
  wire w;
  for (const auto& name : names) {
    std::string out;
    tw::encode_mark(out, "MZ\"sid", name);
    auto m = expect<tw::mark>(w.decode(out));
    CHECK(m.name == name);
    CHECK(m.stream_sid == "MZ\"sid");
    CHECK(w.unknown().empty());
  }
  std::string media;
  tw::encode_media(media, "MZ1", frame());
  CHECK(expect<tw::media>(w.decode(media)).payload == frame());
}

TEST_CASE("an unknown field is tolerated only if it is valid JSON", "[twilio][codec]") {
  rtb::twilio::decoder d;
  for (const char* text : {R"({"event":"stop","x":{"a":1,}})", R"({"event":"stop","x":[1 2]})",
                           R"({"event":"stop","stop":{"y":{"":}}})"}) {
    INFO(text);
    rtb::padded_buffer b(text);
    auto r = d.decode(b);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == rtb::errc::malformed_json);
  }
  rtb::padded_buffer ok(R"({"event":"stop","x":{"a":[1,{"b":null}],"c":"\u00e9"}})");
  REQUIRE(d.decode(ok).has_value());
}
