// Base64 µ-law sizes and durations (audio.hpp), and the names of the marks we
// interleave with outbound audio (playout_mark.hpp).
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/playout_mark.hpp"
#include "support/test_support.hpp"

using rtb::playout_mark;
using rtb::audio::base64_decoded_size;
using rtb::audio::is_base64;
using rtb::audio::mulaw_ms;
using rtb::test::base64;
using rtb::test::frame;
using rtb::test::mulaw;

// ---- is_base64 ----

TEST_CASE("is_base64 accepts canonical base64 of every padding length", "[audio][codec]") {
  CHECK(is_base64(""));
  CHECK(is_base64("Zg=="));  // "f"
  CHECK(is_base64("Zm8="));  // "fo"
  CHECK(is_base64("Zm9v"));  // "foo"
  CHECK(is_base64("Zm9vYmFy"));
  CHECK(is_base64("+/+/"));  // both non-alphanumeric characters of the alphabet
  CHECK(is_base64(frame()));
  CHECK(is_base64(frame(0x00)));
  // A payload verbatim from the OpenAI fixtures (160 bytes of µ-law).
  CHECK(
      is_base64("s6TvcleHtm/OQm6eZRJSzr9SOa77ohyxU43rn6VEfSaJFAf+KRAkZcIAwf0lo2ttHnHSyYwlDP0X1R/h0DZqiSsKkL8aLs8jnZD"
                "SFkx/U5wXaiefDIVJquta7mBgY7WMsmnf+TvzUYrGlaxxI+63sZRt4yDclRPGBv2UboQkVWypPaur7Bg8IdXRNfZq1PBgob1Fl2Lx"
                "6EIoQRHpMM1/iw=="));
  for (std::size_t n = 0; n < 20; ++n) {
    INFO(n << " bytes");
    CHECK(is_base64(mulaw(n, 0x5A)));
  }
}

TEST_CASE("is_base64 rejects text whose length is not a multiple of four", "[audio][codec]") {
  CHECK_FALSE(is_base64("Z"));
  CHECK_FALSE(is_base64("Zg"));
  CHECK_FALSE(is_base64("Zg="));
  CHECK_FALSE(is_base64("Zm9vY"));
  CHECK_FALSE(is_base64(frame() + "A"));
}

TEST_CASE("is_base64 rejects misplaced or excess padding", "[audio][codec]") {
  CHECK_FALSE(is_base64("Z==="));
  CHECK_FALSE(is_base64("===="));
  CHECK_FALSE(is_base64("=Zm9"));
  CHECK_FALSE(is_base64("Zm=v"));
  CHECK_FALSE(is_base64("A=A="));
  CHECK_FALSE(is_base64("Zg==Zm9v"));  // padding in the middle of concatenated chunks
}

TEST_CASE("is_base64 rejects characters outside the RFC 4648 alphabet", "[audio][codec]") {
  CHECK_FALSE(is_base64("Zm9v YmFy"));
  CHECK_FALSE(is_base64("Zm9v\nYmFy"));
  CHECK_FALSE(is_base64("Zm9vYmF\n"));
  CHECK_FALSE(is_base64("-_-_"));   // base64url is not what Twilio or OpenAI send
  CHECK_FALSE(is_base64("Zm9\""));  // a quote
  CHECK_FALSE(is_base64("Zm9\\"));
  CHECK_FALSE(is_base64(std::string("Zm9\0", 4)));
  CHECK_FALSE(is_base64("Zm\xC3\xA9"));  // é
  CHECK_FALSE(is_base64("Zm9v\xFF\xFF\xFF\xFF"));
}

// ---- sizes and durations ----

TEST_CASE("base64_decoded_size counts the bytes the text decodes to", "[audio][codec]") {
  CHECK(base64_decoded_size("") == 0);
  CHECK(base64_decoded_size("Zg==") == 1);
  CHECK(base64_decoded_size("Zm8=") == 2);
  CHECK(base64_decoded_size("Zm9v") == 3);
  CHECK(base64_decoded_size(frame()) == 160);
  for (std::size_t n = 0; n < 40; ++n) {
    INFO(n << " bytes");
    CHECK(base64_decoded_size(base64(std::string(n, 'x'))) == n);
  }
  static_assert(base64_decoded_size("Zm9vYg==") == 4, "usable in constant expressions");
}

TEST_CASE("mulaw_ms converts µ-law bytes to whole milliseconds at 8 bytes per ms, rounding down", "[audio][codec]") {
  CHECK(rtb::audio::mulaw_bytes_per_ms == 8);
  CHECK(mulaw_ms(0) == 0);
  CHECK(mulaw_ms(7) == 0);
  CHECK(mulaw_ms(8) == 1);
  CHECK(mulaw_ms(15) == 1);
  CHECK(mulaw_ms(160) == 20);  // one Twilio frame
  CHECK(mulaw_ms(161) == 20);
  CHECK(mulaw_ms(20 * 160) == 400);  // a fixture line with repeat:20
  CHECK(mulaw_ms(8000) == 1000);
  CHECK(mulaw_ms(base64_decoded_size(frame())) == 20);
  static_assert(mulaw_ms(16'000) == 2'000, "usable in constant expressions");
}

// ---- decoding and encoding (caller audio batching) ----

TEST_CASE("append_base64 writes the canonical base64 of any bytes", "[audio][codec]") {
  std::string out;
  rtb::audio::append_base64("", out);
  CHECK(out.empty());
  rtb::audio::append_base64("f", out);
  CHECK(out == "Zg==");
  out.clear();
  rtb::audio::append_base64("foobar", out);
  CHECK(out == "Zm9vYmFy");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  for (std::size_t n = 0; n <= all.size(); n += (n < 10 ? 1 : 37)) {
    INFO(n << " bytes");
    out.clear();
    rtb::audio::append_base64(std::string_view(all).substr(0, n), out);
    CHECK(out == base64(all.substr(0, n)));
    CHECK(is_base64(out));
  }
}

TEST_CASE("append_base64_decoded gives back the bytes, after what the buffer already holds", "[audio][codec]") {
  std::string all;
  for (int b = 255; b >= 0; --b) all.push_back(static_cast<char>(b));
  for (std::size_t n = 0; n <= all.size(); n += (n < 10 ? 1 : 37)) {
    INFO(n << " bytes");
    std::string out = "kept";
    rtb::audio::append_base64_decoded(base64(all.substr(0, n)), out);
    CHECK(out == "kept" + all.substr(0, n));
  }
  // Three frames, decoded one after the other, are the 480 bytes in order.
  std::string batch;
  for (const std::string& f : {frame(1), frame(2), frame(3)}) rtb::audio::append_base64_decoded(f, batch);
  CHECK(batch == std::string(160, '\x01') + std::string(160, '\x02') + std::string(160, '\x03'));
}

TEST_CASE("base64 decoding and encoding in reused buffers allocate nothing", "[audio][codec]") {
  std::string bytes, text;
  bytes.reserve(480);
  text.reserve(640);
  const void* bytes_at = bytes.data();
  const void* text_at = text.data();
  for (int round = 0; round < 3; ++round) {
    bytes.clear();
    text.clear();
    for (int i = 0; i < 3; ++i) rtb::audio::append_base64_decoded(frame(0x55), bytes);
    rtb::audio::append_base64(bytes, text);
    CHECK(static_cast<const void*>(bytes.data()) == bytes_at);
    CHECK(static_cast<const void*>(text.data()) == text_at);
    CHECK(text == mulaw(480, 0x55));
  }
}

TEST_CASE("append_base64_decoded never writes more than the text's length allows", "[audio][codec]") {
  // Not canonical base64 (the decoders never let it through): garbled bytes, but bounded.
  for (const char* text : {"Z", "Zm9", "Zm9v!", "====", "A===", "Zm9v\xFF\xFF\xFF\xFF"}) {
    INFO(text);
    std::string out;
    rtb::audio::append_base64_decoded(text, out);
    CHECK(out.size() <= std::string_view(text).size() / 4 * 3);
  }
}

// ---- playout mark names ----

TEST_CASE("a playout mark's wire name is rtb.<generation>.<item>.<sent_ms>", "[audio][mark][codec]") {
  CHECK(rtb::to_string(playout_mark{3, 7, 1240}) == "rtb.3.7.1240");
  CHECK(rtb::to_string(playout_mark{0, 0, 0}) == "rtb.0.0.0");
  std::string out = "prefix:";
  rtb::append_mark_name(out, playout_mark{1, 2, 3});
  CHECK(out == "prefix:rtb.1.2.3");
}

TEST_CASE("a playout mark name parses back to the same mark", "[audio][mark][codec]") {
  constexpr auto u32_max = std::numeric_limits<std::uint32_t>::max();
  constexpr auto i64_max = std::numeric_limits<std::int64_t>::max();
  const playout_mark marks[] = {
      {0, 0, 0}, {3, 7, 1240}, {1, 1, 20}, {u32_max, u32_max, i64_max}, {42, 0, 60'000},
  };
  for (const auto& m : marks) {
    const std::string name = rtb::to_string(m);
    INFO(name);
    const auto back = rtb::parse_mark_name(name);
    REQUIRE(back.has_value());
    CHECK(*back == m);
  }
  const auto parsed = rtb::parse_mark_name("rtb.3.7.1240");
  REQUIRE(parsed.has_value());
  CHECK(parsed->generation == 3);
  CHECK(parsed->item == 7);
  CHECK(parsed->sent_ms == 1240);
}

TEST_CASE("mark names we did not produce are not mistaken for playout marks", "[audio][mark][codec]") {
  const char* foreign[] = {
      "",
      "responsePart",  // the Twilio samples' mark name
      "my label",      // Twilio's documentation example
      "1",             // openai-agents-python's integer mark names
      "rtb",
      "rtb.",
      "rtb.1.2",  // too few fields
      "rtb.1",
      "rtb.a.b.c",    // not numbers
      "rtb.1.2.3x",   // trailing garbage
      "rtb.1.2.3.4",  // too many fields
      "rtb.1.2.3.",
      "rtb..2.3",  // empty fields
      "rtb.1..3",
      "rtb.1.2.",
      "rtb...",
      "rtb.1.2.-5",  // negative numbers
      "rtb.-1.2.3",
      "rtb.1.-2.3",
      "rtb.+1.2.3",  // signs are not digits
      "rtb. 1.2.3",  // spaces
      "rtb.1.2.3 ",
      " rtb.1.2.3",
      "RTB.1.2.3",  // the prefix is case sensitive
      "rtx.1.2.3",
      "rtb.0x1.2.3",
      "rtb.4294967296.0.0",           // generation overflows uint32
      "rtb.0.4294967296.0",           // item overflows uint32
      "rtb.0.0.9223372036854775808",  // sent_ms overflows int64
      "rtb.99999999999999999999.0.0",
  };
  for (const char* name : foreign) {
    INFO("name: \"" << name << "\"");
    CHECK_FALSE(rtb::parse_mark_name(name).has_value());
  }
}

TEST_CASE("only the canonical spelling of a playout mark name is accepted", "[audio][mark][codec]") {
  // append_mark_name never writes leading zeros, so a name with them came from
  // someone else; accepting it would make two names denote the same mark.
  CHECK_FALSE(rtb::parse_mark_name("rtb.01.2.3").has_value());
  CHECK_FALSE(rtb::parse_mark_name("rtb.1.02.3").has_value());
  CHECK_FALSE(rtb::parse_mark_name("rtb.1.2.0030").has_value());
  CHECK_FALSE(rtb::parse_mark_name("rtb.00.0.0").has_value());
  CHECK(rtb::parse_mark_name("rtb.0.0.0").has_value());
  CHECK(rtb::parse_mark_name("rtb.10.20.300").has_value());
}

TEST_CASE("a mark name with an embedded NUL is not a playout mark", "[audio][mark][codec]") {
  CHECK_FALSE(rtb::parse_mark_name(std::string_view("rtb.1.2.3\0", 10)).has_value());
  CHECK_FALSE(rtb::parse_mark_name(std::string_view("rtb.1\0.2.3", 10)).has_value());
}
