// rtb::json::append_string / append_int / append_double: whatever the input,
// the output is one valid JSON value that reads back (through simdjson) as the
// input, with invalid UTF-8 replaced by U+FFFD.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>
#include <catch2/catch.hpp>

#include "json.hpp"

namespace {

using namespace std::string_literals;

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

std::string as_json(std::string_view text) {
  std::string out;
  rtb::json::append_string(out, text);
  return out;
}

// Parses `json`, which must be a JSON string literal, and returns the text it
// denotes. Fails the test when simdjson rejects it (invalid JSON or UTF-8).
std::string read_back(const std::string& json) {
  simdjson::dom::parser parser;
  std::string_view s;
  const auto err = parser.parse(json).get_string().get(s);
  INFO("JSON: " << json << " -> " << simdjson::error_message(err));
  REQUIRE(err == simdjson::SUCCESS);
  return std::string(s);
}

std::string round_trip(std::string_view text) { return read_back(as_json(text)); }

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

}  // namespace

TEST_CASE("append_string quotes plain ASCII and copies it unchanged", "[json][codec]") {
  CHECK(as_json("") == R"("")");
  CHECK(as_json("hello world") == R"("hello world")");
  CHECK(as_json("MZ18ad3ab5a668481ce02b83e7395059f0") == R"("MZ18ad3ab5a668481ce02b83e7395059f0")");
  CHECK(as_json("/slash/ is not escaped") == R"("/slash/ is not escaped")");
}

TEST_CASE("append_string appends to what the buffer already holds", "[json][codec]") {
  std::string out = R"({"k":)";
  rtb::json::append_string(out, "v");
  out.push_back('}');
  CHECK(out == R"({"k":"v"})");
}

TEST_CASE("append_string escapes quotes and backslashes", "[json][codec]") {
  CHECK(as_json("\"") == R"("\"")");
  CHECK(as_json("\\") == R"("\\")");
  CHECK(as_json(R"(say "hi" \ C:\path\)") == R"("say \"hi\" \\ C:\\path\\")");
  CHECK(round_trip(R"(say "hi" \ C:\path\)") == R"(say "hi" \ C:\path\)");
  CHECK(round_trip(R"(\"\\\"")") == R"(\"\\\"")");
}

TEST_CASE("append_string escapes every control character 0x00-0x1F and reads back exactly", "[json][codec]") {
  for (int c = 0; c < 0x20; ++c) {
    const std::string one(1, static_cast<char>(c));
    std::string expected;
    switch (c) {
      case '\b': expected = R"("\b")"; break;
      case '\t': expected = R"("\t")"; break;
      case '\n': expected = R"("\n")"; break;
      case '\f': expected = R"("\f")"; break;
      case '\r': expected = R"("\r")"; break;
      default: {
        static constexpr char hex[] = "0123456789abcdef";
        expected = "\"\\u00"s + hex[c >> 4] + hex[c & 0xF] + "\"";
      }
    }
    INFO("control character 0x" << std::hex << c);
    CHECK(as_json(one) == expected);
    CHECK(round_trip(one) == one);
    // Surrounded by text, too.
    const std::string framed = "a" + one + "b";
    CHECK(round_trip(framed) == framed);
  }
}

TEST_CASE("append_string keeps NUL bytes inside the string instead of ending it", "[json][codec]") {
  const std::string text("a\0b\0"s);
  REQUIRE(text.size() == 4);
  CHECK(as_json(text) == R"("a\u0000b\u0000")");
  CHECK(round_trip(text) == text);
}

TEST_CASE("append_string passes DEL (0x7F) through, which JSON allows unescaped", "[json][codec]") {
  CHECK(as_json("\x7F") == "\"\x7F\"");
  CHECK(round_trip("a\x7F"
                   "b") ==
        "a\x7F"
        "b");
}

TEST_CASE("append_string passes valid multi-byte UTF-8 through unchanged", "[json][codec]") {
  const std::vector<std::string> samples = {
      "\xC2\x80",                          // U+0080, smallest 2-byte
      "\xC3\xA9",                          // é
      "\xDF\xBF",                          // U+07FF, largest 2-byte
      "\xE0\xA0\x80",                      // U+0800, smallest 3-byte
      "\xE2\x82\xAC",                      // €
      "\xE2\x80\x99",                      // ’ (the fixtures' apostrophe)
      "\xED\x9F\xBF",                      // U+D7FF, just below the surrogates
      "\xEE\x80\x80",                      // U+E000, just above the surrogates
      "\xEF\xBF\xBD",                      // U+FFFD itself
      "\xEF\xBF\xBF",                      // U+FFFF
      "\xF0\x90\x80\x80",                  // U+10000, smallest 4-byte
      "\xF0\x9F\x98\x80",                  // 😀
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",  // 👍🏽 (emoji + skin-tone modifier)
      "\xF4\x8F\xBF\xBF",                  // U+10FFFF, the last code point
      "Gr\xC3\xBC\xC3\x9F"
      "e aus K\xC3\xB6ln, \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E, \xF0\x9F\x93\x9E call!",
  };
  for (const auto& s : samples) {
    INFO("input: " << s);
    CHECK(as_json(s) == "\"" + s + "\"");
    CHECK(round_trip(s) == s);
  }
}

TEST_CASE("append_string replaces lone continuation bytes with U+FFFD", "[json][codec]") {
  const std::string r(replacement);
  CHECK(as_json("\x80") == "\"" + r + "\"");
  CHECK(as_json("\xBF") == "\"" + r + "\"");
  CHECK(round_trip("a\x80"
                   "b") == "a" + r + "b");
  CHECK(round_trip("\x80\x81\x82") == r + r + r);
  // A continuation byte right after a complete sequence is not absorbed into it.
  CHECK(round_trip("\xC3\xA9\xA9") == "\xC3\xA9" + r);
}

TEST_CASE("append_string replaces each byte of a truncated sequence with U+FFFD", "[json][codec]") {
  const std::string r(replacement);
  CHECK(round_trip("\xC3") == r);          // 2-byte lead at the end
  CHECK(round_trip("\xC3(") == r + "(");   // 2-byte lead before ASCII
  CHECK(round_trip("\xE2\x82") == r + r);  // 3-byte, one continuation short
  CHECK(round_trip("\xE2\x82z") == r + r + "z");
  CHECK(round_trip("\xF0\x9F\x98") == r + r + r);  // 4-byte, one short
  CHECK(round_trip("\xF0\x9F") == r + r);
  CHECK(round_trip("\xF0") == r);
  // Decoding resynchronises on the next valid sequence.
  CHECK(round_trip("\xE2\x82\xE2\x82\xAC") == r + r + "\xE2\x82\xAC");
  // A truncated sequence before a quote: the quote is still escaped.
  CHECK(as_json("\xE2\"") == "\"" + r + "\\\"\"");
}

TEST_CASE("append_string replaces overlong encodings with U+FFFD", "[json][codec]") {
  const std::string r(replacement);
  CHECK(round_trip("\xC0\x80") == r + r);          // overlong NUL
  CHECK(round_trip("\xC1\xBF") == r + r);          // overlong U+007F
  CHECK(round_trip("\xE0\x80\x80") == r + r + r);  // overlong NUL, 3 bytes
  CHECK(round_trip("\xE0\x9F\xBF") == r + r + r);  // overlong U+07FF
  CHECK(round_trip("\xF0\x80\x80\x80") == repeat(r, 4));
  CHECK(round_trip("\xF0\x8F\xBF\xBF") == repeat(r, 4));  // overlong U+FFFF
  // An overlong slash must not sneak an unescaped '/' or '"' through.
  CHECK(round_trip("\xC0\xA2") == r + r);
}

TEST_CASE("append_string replaces UTF-16 surrogates encoded in UTF-8 with U+FFFD", "[json][codec]") {
  const std::string r(replacement);
  CHECK(round_trip("\xED\xA0\x80") == r + r + r);                 // U+D800
  CHECK(round_trip("\xED\xBF\xBF") == r + r + r);                 // U+DFFF
  CHECK(round_trip("\xED\xA0\xBD\xED\xB8\x80") == repeat(r, 6));  // a CESU-8 surrogate pair
}

TEST_CASE("append_string replaces code points above U+10FFFF and impossible bytes with U+FFFD", "[json][codec]") {
  const std::string r(replacement);
  CHECK(round_trip("\xF4\x90\x80\x80") == repeat(r, 4));  // U+110000
  CHECK(round_trip("\xF5\x80\x80\x80") == repeat(r, 4));
  CHECK(round_trip("\xF8\x88\x80\x80\x80") == repeat(r, 5));  // old 5-byte form
  CHECK(round_trip("\xFE") == r);
  CHECK(round_trip("\xFF") == r);
  CHECK(round_trip("ok\xFF"
                   "ok") == "ok" + r + "ok");
}

TEST_CASE("append_string produces valid JSON for any byte sequence", "[json][codec]") {
  // Deterministic pseudo-random inputs, biased towards bytes that matter.
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  static constexpr unsigned char interesting[] = {0x00, 0x1F, '"',  '\\', 0x7F, 0x80, 0xBF, 0xC0, 0xC2,
                                                  0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 'a'};
  int valid_inputs = 0;
  for (int n = 0; n < 2000; ++n) {
    std::string text;
    const auto length = next() % 12;
    for (std::uint32_t i = 0; i < length; ++i) {
      const auto pick = next();
      text.push_back(static_cast<char>(pick % 3 == 0 ? pick % 256 : interesting[pick % sizeof interesting]));
    }
    const std::string json = as_json(text);
    INFO("input bytes: " << json);
    const std::string back = read_back(json);
    if (simdjson::validate_utf8(text.data(), text.size())) {
      ++valid_inputs;
      CHECK(back == text);
    } else {
      CHECK(back.find(replacement) != std::string::npos);
    }
  }
  CHECK(valid_inputs > 0);  // the generator exercises both branches
}

TEST_CASE("append_int writes decimal integers across the whole int64 range", "[json][codec]") {
  const std::vector<std::pair<std::int64_t, std::string>> cases = {
      {0, "0"},
      {1300, "1300"},
      {-1, "-1"},
      {std::numeric_limits<std::int64_t>::max(), "9223372036854775807"},
      {std::numeric_limits<std::int64_t>::min(), "-9223372036854775808"},
  };
  simdjson::dom::parser parser;
  for (const auto& [value, text] : cases) {
    std::string out = "[";
    rtb::json::append_int(out, value);
    CHECK(out == "[" + text);
    out.push_back(']');
    std::int64_t back = 0;
    REQUIRE(parser.parse(out).at(0).get_int64().get(back) == simdjson::SUCCESS);
    CHECK(back == value);
  }
}

TEST_CASE("append_double writes null for infinities and NaN, which JSON cannot express", "[json][codec]") {
  for (double d : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    std::string out = "[";
    rtb::json::append_double(out, d);
    out += "]";
    CHECK(out == "[null]");
  }
}

TEST_CASE("append_double writes the shortest text that reads back to the same double", "[json][codec]") {
  auto text_of = [](double d) {
    std::string out;
    rtb::json::append_double(out, d);
    return out;
  };
  CHECK(text_of(0.5) == "0.5");
  CHECK(text_of(2.265) == "2.265");
  CHECK(text_of(0.1) == "0.1");
  CHECK(text_of(1.0) == "1");  // an integral double prints without ".0"; still a JSON number

  const std::vector<double> values = {0.0,
                                      -0.0,
                                      1.0,
                                      0.25,
                                      1.5,
                                      0.1 + 0.2,
                                      1.0 / 3.0,
                                      -123456.789,
                                      1e300,
                                      1e-7,
                                      5e-324,  // smallest denormal
                                      std::numeric_limits<double>::max(),
                                      std::numeric_limits<double>::lowest(),
                                      std::numeric_limits<double>::min(),
                                      9007199254740993.0};
  simdjson::dom::parser parser;
  for (double d : values) {
    const std::string json = "[" + text_of(d) + "]";
    INFO("value " << json);
    double back = 0;
    REQUIRE(parser.parse(json).at(0).get_double().get(back) == simdjson::SUCCESS);
    CHECK(back == d);  // exact; -0.0 is written "-0", which JSON readers may take as the integer 0
  }
}
