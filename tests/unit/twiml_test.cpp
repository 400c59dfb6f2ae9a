// TwiML for <Connect><Stream> (twilio.md §2): exact documents, escaping, the
// fallback verb after <Connect>, and the fallback alone.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "realtime_bridge/twilio/twiml.hpp"

namespace tw = rtb::twilio;

namespace {

constexpr std::string_view decl = R"(<?xml version="1.0" encoding="UTF-8"?>)";
constexpr std::string_view default_apology =
    "Sorry, our assistant is not available right now. Please call again later.";

std::string doc(std::string_view body) { return std::string(decl) + "<Response>" + std::string(body) + "</Response>"; }

std::string escaped(std::string_view text) {
  std::string out;
  tw::append_xml_escaped(out, text);
  return out;
}

}  // namespace

TEST_CASE("append_xml_escaped escapes the five XML characters", "[twilio][twiml]") {
  CHECK(escaped("") == "");
  CHECK(escaped("plain text 123") == "plain text 123");
  CHECK(escaped("&") == "&amp;");
  CHECK(escaped("<") == "&lt;");
  CHECK(escaped(">") == "&gt;");
  CHECK(escaped("\"") == "&quot;");
  CHECK(escaped("'") == "&apos;");
  CHECK(escaped(R"(Tom & Jerry's "<b>" show)") == "Tom &amp; Jerry&apos;s &quot;&lt;b&gt;&quot; show");
  // Already-escaped text is escaped again (the input is text, not markup).
  CHECK(escaped("&amp;") == "&amp;amp;");
  CHECK(escaped("]]>") == "]]&gt;");
  SECTION("UTF-8 and whitespace pass through") {
    CHECK(escaped("caf\xc3\xa9 \xe2\x80\x94 ok") == "caf\xc3\xa9 \xe2\x80\x94 ok");
    CHECK(escaped("a\tb\nc\rd") == "a\tb\nc\rd");
  }
  SECTION("control characters XML 1.0 cannot carry are dropped") {
    CHECK(escaped(std::string_view("a\0b\x01\x1f"
                                   "c\x7f",
                                   7)) == "abc\x7f");
  }
  SECTION("it appends") {
    std::string out = "x=";
    tw::append_xml_escaped(out, "<1>");
    CHECK(out == "x=&lt;1&gt;");
  }
}

TEST_CASE("render produces the exact <Connect><Stream> document", "[twilio][twiml]") {
  tw::connect_stream_twiml t;
  t.stream_url = "wss://bridge.example.com/media-stream";

  SECTION("defaults: no <Say> first, no parameters, the default apology after <Connect>") {
    CHECK(tw::render(t) == doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream"/></Connect>)"
                               "<Say>Sorry, our assistant is not available right now. Please call again later.</Say>"));
  }
  SECTION("a <Say> first, parameters, and a dial fallback") {
    t.say_first = "Please wait while we connect your call.";
    t.parameters = {{"tenant", "acme"}, {"From", "+14155550100"}};
    t.fallback.what = tw::fallback::kind::dial;
    t.fallback.number = "+14155550199";
    CHECK(tw::render(t) == doc("<Say>Please wait while we connect your call.</Say>"
                               R"(<Connect><Stream url="wss://bridge.example.com/media-stream">)"
                               R"(<Parameter name="tenant" value="acme"/>)"
                               R"(<Parameter name="From" value="+14155550100"/>)"
                               "</Stream></Connect>"
                               "<Dial>+14155550199</Dial>"));
  }
  SECTION("parameters keep their order, repeated and empty ones included") {
    t.parameters = {{"b", "2"}, {"a", ""}, {"b", "3"}};
    t.fallback.what = tw::fallback::kind::none;
    CHECK(tw::render(t) == doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream">)"
                               R"(<Parameter name="b" value="2"/><Parameter name="a" value=""/>)"
                               R"(<Parameter name="b" value="3"/></Stream></Connect>)"));
  }
  SECTION("a custom apology") {
    t.fallback.text = "Goodbye.";
    CHECK(tw::render(t) ==
          doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream"/></Connect><Say>Goodbye.</Say>)"));
  }
  SECTION("no fallback: the call ends when the stream does") {
    t.fallback.what = tw::fallback::kind::none;
    CHECK(tw::render(t) == doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream"/></Connect>)"));
  }
  SECTION("empty fallback verbs are left out") {
    t.fallback.text.clear();
    CHECK(tw::render(t) == doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream"/></Connect>)"));
    t.fallback.what = tw::fallback::kind::dial;  // no number
    CHECK(tw::render(t) == doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream"/></Connect>)"));
  }
  SECTION("the dial fallback uses the number, not the text") {
    t.fallback.what = tw::fallback::kind::dial;
    t.fallback.number = "+442071838750";
    CHECK(tw::render(t) == doc(R"(<Connect><Stream url="wss://bridge.example.com/media-stream"/></Connect>)"
                               "<Dial>+442071838750</Dial>"));
  }
}

TEST_CASE("render escapes every text and attribute value", "[twilio][twiml]") {
  tw::connect_stream_twiml t;
  t.say_first = R"(Welcome to "A&B's" <shop>)";
  t.stream_url = R"(wss://h.example/s"x'<y>&z)";
  t.parameters = {{R"(n"&')", R"(v<>"'&)"}};
  t.fallback.text = "Q&A > 'later'";
  CHECK(tw::render(t) == doc("<Say>Welcome to &quot;A&amp;B&apos;s&quot; &lt;shop&gt;</Say>"
                             R"(<Connect><Stream url="wss://h.example/s&quot;x&apos;&lt;y&gt;&amp;z">)"
                             R"(<Parameter name="n&quot;&amp;&apos;" value="v&lt;&gt;&quot;&apos;&amp;"/>)"
                             "</Stream></Connect>"
                             "<Say>Q&amp;A &gt; &apos;later&apos;</Say>"));
  t.fallback.what = tw::fallback::kind::dial;
  t.fallback.number = "<+1>";
  CHECK_THAT(tw::render(t), Catch::EndsWith("<Dial>&lt;+1&gt;</Dial></Response>"));
}

TEST_CASE("render_fallback is the fallback verb alone", "[twilio][twiml]") {
  tw::fallback f;
  CHECK(tw::render_fallback(f) == doc("<Say>" + std::string(default_apology) + "</Say>"));
  f.text = "We're closed & <sorry>.";
  CHECK(tw::render_fallback(f) == doc("<Say>We&apos;re closed &amp; &lt;sorry&gt;.</Say>"));
  f.what = tw::fallback::kind::dial;
  f.number = "+14155550100";
  CHECK(tw::render_fallback(f) == doc("<Dial>+14155550100</Dial>"));
  f.what = tw::fallback::kind::none;
  CHECK(tw::render_fallback(f) == doc(""));
  CHECK(tw::render_fallback(f) == R"(<?xml version="1.0" encoding="UTF-8"?><Response></Response>)");
}

TEST_CASE("the documents have the shape of the TwiML examples", "[twilio][twiml]") {
  tw::connect_stream_twiml t;
  t.stream_url = "wss://example.com/media-stream";
  const std::string out = tw::render(t);
  CHECK_THAT(out, Catch::StartsWith(R"(<?xml version="1.0" encoding="UTF-8"?><Response>)"));
  CHECK_THAT(out, Catch::EndsWith("</Response>"));
  // The fallback comes after </Connect>: Twilio reaches it only when the stream ends.
  CHECK(out.find("</Connect>") < out.find("<Say>"));
  // No whitespace between elements, no query string added to the URL.
  CHECK(out.find('\n') == std::string::npos);
  CHECK(out.find("media-stream\"") != std::string::npos);
}

TEST_CASE("with an action URL, <Connect> names it and the fallback is left to the action's answer", "[twiml]") {
  rtb::twilio::connect_stream_twiml t;
  t.stream_url = "wss://bridge.example.com/media-stream";
  t.action_url = "https://bridge.example.com/call-ended?agent=a&x=1";
  t.fallback.text = "Sorry.";
  CHECK(rtb::twilio::render(t) ==
        R"(<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="https://bridge.example.com/call-ended?agent=a&amp;x=1">)"
        R"(<Stream url="wss://bridge.example.com/media-stream"/></Connect></Response>)");
  CHECK(rtb::twilio::render_hangup() == R"(<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>)");
}
