// µ-law audio helpers of the test peers: codec, levels, generators, base64,
// WAV files and espeak-ng speech.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "peers/mulaw.hpp"

using namespace rtb::peers;

namespace {

std::uint32_t u32_at(const std::string& s, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 3])) << 24;
}
std::uint16_t u16_at(const std::string& s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) | static_cast<unsigned char>(s[at + 1]) << 8);
}

}  // namespace

TEST_CASE("mu-law decodes the G.711 reference points", "[mulaw]") {
  CHECK(mulaw_to_linear(0xFF) == 0);
  CHECK(mulaw_to_linear(0x7F) == 0);
  CHECK(mulaw_to_linear(0x80) == 32124);
  CHECK(mulaw_to_linear(0x00) == -32124);
  CHECK(mulaw_to_linear(0xFE) == 8);
  CHECK(mulaw_to_linear(0x7E) == -8);
  CHECK(mulaw_to_linear(0xEF) == 132);  // first step of segment 1
}

TEST_CASE("mu-law encodes with bias 0x84 and clips at 32635", "[mulaw]") {
  CHECK(linear_to_mulaw(0) == 0xFF);
  CHECK(linear_to_mulaw(32767) == 0x80);
  CHECK(linear_to_mulaw(32635) == 0x80);
  CHECK(linear_to_mulaw(-32768) == 0x00);
  CHECK(linear_to_mulaw(-1) == 0x7F);
  CHECK(linear_to_mulaw(8) == 0xFE);
  CHECK(linear_to_mulaw(-8) == 0x7E);
}

TEST_CASE("every mu-law code survives decode then encode", "[mulaw]") {
  for (int u = 0; u < 256; ++u) {
    const auto code = static_cast<std::uint8_t>(u);
    const std::uint8_t back = linear_to_mulaw(mulaw_to_linear(code));
    if (code == 0x7F)
      CHECK(back == 0xFF);  // negative zero decodes to 0, which encodes as positive zero
    else
      CHECK(back == code);
  }
}

TEST_CASE("mu-law encoding is monotonic and close to the input", "[mulaw]") {
  int previous = mulaw_to_linear(linear_to_mulaw(-32768));
  for (int x = -32768; x <= 32767; x += 7) {
    const int y = mulaw_to_linear(linear_to_mulaw(static_cast<std::int16_t>(x)));
    REQUIRE(y >= previous);
    previous = y;
    // Quantisation error is at most half a step of the segment (step 2^(seg+3)), 1/16 relative roughly.
    if (std::abs(x) < 32000) REQUIRE(std::abs(y - x) <= std::max(8, std::abs(x) / 16 + 8));
  }
}

TEST_CASE("silence is 0xFF and about -80 dBFS", "[mulaw]") {
  const auto s = silence(20);
  REQUIRE(s.size() == 160);
  CHECK(std::all_of(s.begin(), s.end(), [](std::uint8_t b) { return b == 0xFF; }));
  CHECK(level_dbfs(s.data(), s.size()) == Approx(-80.0).margin(0.5));
  CHECK(silence(0).empty());
  CHECK(level_dbfs(nullptr, 0) == Approx(-80.0));
}

TEST_CASE("a tone has the level of its amplitude", "[mulaw]") {
  const auto t = tone(1000, 440.0, 0.3);
  REQUIRE(t.size() == 8000);
  // RMS of a sine is amplitude / sqrt(2): 20*log10(0.3/1.414) = -13.47 dBFS.
  CHECK(level_dbfs(t.data(), t.size()) == Approx(-13.47).margin(0.3));
}

TEST_CASE("synthetic speech is loud, varied and deterministic", "[mulaw]") {
  const auto a = synthetic_speech(2000, 1);
  REQUIRE(a.size() == 16000);
  CHECK(level_dbfs(a.data(), a.size()) > -30.0);
  CHECK(level_dbfs(a.data(), a.size()) < -3.0);
  CHECK(synthetic_speech(2000, 1) == a);
  CHECK(synthetic_speech(2000, 2) != a);
  // Every 20 ms frame is audible (an energy VAD never sees a gap)...
  double quietest = 0.0, loudest = -100.0;
  for (std::size_t i = 0; i + 160 <= a.size(); i += 160) {
    const double l = level_dbfs(a.data() + i, 160);
    quietest = std::min(quietest, l);
    loudest = std::max(loudest, l);
  }
  CHECK(quietest > -40.0);
  // ...but the level moves like syllables do.
  CHECK(loudest - quietest > 6.0);
}

TEST_CASE("base64 matches RFC 4648 and rejects malformed text", "[mulaw]") {
  auto enc = [](std::string_view s) { return to_base64(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); };
  CHECK(enc("") == "");
  CHECK(enc("f") == "Zg==");
  CHECK(enc("fo") == "Zm8=");
  CHECK(enc("foo") == "Zm9v");
  CHECK(enc("foob") == "Zm9vYg==");
  CHECK(enc("fooba") == "Zm9vYmE=");
  CHECK(enc("foobar") == "Zm9vYmFy");
  auto dec = [](std::string_view s) -> std::optional<std::string> {
    auto b = from_base64(s);
    if (!b) return std::nullopt;
    return std::string(b->begin(), b->end());
  };
  CHECK(dec("") == std::string());
  CHECK(dec("Zg==") == std::string("f"));
  CHECK(dec("Zm8=") == std::string("fo"));
  CHECK(dec("Zm9vYmFy") == std::string("foobar"));
  CHECK(dec("+/+/") == std::string("\xfb\xff\xbf"));
  CHECK_FALSE(dec("Zg="));
  CHECK_FALSE(dec("Z==="));
  CHECK_FALSE(dec("=Zm9"));
  CHECK_FALSE(dec("Zg==Zg=="));
  CHECK_FALSE(dec("Zm9v!A=="));
  CHECK_FALSE(dec("Zm9v\nYmFy"));
  CHECK_FALSE(dec("Zm=v"));

  const auto frame = synthetic_speech(20);
  const auto text = to_base64(frame.data(), frame.size());
  CHECK(text.size() == 216);
  CHECK(from_base64(text) == frame);
}

TEST_CASE("write_wav writes a mu-law RIFF file with a fact chunk", "[mulaw]") {
  const std::string path = "/tmp/rtb-mulaw-test-" + std::to_string(::getpid()) + ".wav";
  const auto audio = tone(125, 440.0, 0.5);  // 1000 bytes
  mulaw_bytes odd = audio;
  odd.push_back(0xFF);  // 1001 bytes: needs a pad byte
  for (const mulaw_bytes* a : std::initializer_list<const mulaw_bytes*>{&audio, &odd}) {
    REQUIRE(write_wav(path, *a));
    std::ifstream f(path, std::ios::binary);
    const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const std::size_t pad = a->size() & 1;
    REQUIRE(s.size() == 58 + a->size() + pad);
    CHECK(s.substr(0, 4) == "RIFF");
    CHECK(u32_at(s, 4) == s.size() - 8);
    CHECK(s.substr(8, 4) == "WAVE");
    CHECK(s.substr(12, 4) == "fmt ");
    CHECK(u32_at(s, 16) == 18);
    CHECK(u16_at(s, 20) == 7);     // µ-law
    CHECK(u16_at(s, 22) == 1);     // mono
    CHECK(u32_at(s, 24) == 8000);  // Hz
    CHECK(u32_at(s, 28) == 8000);  // bytes/s
    CHECK(u16_at(s, 32) == 1);     // block align
    CHECK(u16_at(s, 34) == 8);     // bits
    CHECK(s.substr(38, 4) == "fact");
    CHECK(u32_at(s, 42) == 4);
    CHECK(u32_at(s, 46) == a->size());
    CHECK(s.substr(50, 4) == "data");
    CHECK(u32_at(s, 54) == a->size());
    CHECK(std::equal(a->begin(), a->end(), s.begin() + 58,
                     [](std::uint8_t x, char y) { return x == static_cast<unsigned char>(y); }));
  }
  if (espeak_available()) {
    // sox itself reads it back as 8 kHz µ-law.
    REQUIRE(write_wav(path, audio));
    const std::string cmd = "sox --i -r " + path + " 2>/dev/null";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[64] = {};
      const std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
      ::pclose(p);
      CHECK(std::string(buf, n).find("8000") == 0);
    }
  }
  std::remove(path.c_str());
  CHECK_FALSE(write_wav("/nonexistent-dir/x.wav", audio));
}

TEST_CASE("espeak speaks text as 8 kHz mu-law, with no shell in the way", "[mulaw]") {
  if (!espeak_available()) {
    WARN("espeak-ng or sox not installed: skipped");
    CHECK_FALSE(espeak("hello"));
    return;
  }
  const auto a = espeak("Hello, this is a test call.");
  REQUIRE(a);
  CHECK(a->size() > 8000 / 2);   // more than half a second
  CHECK(a->size() < 8000 * 10);  // less than ten
  CHECK(level_dbfs(a->data(), a->size()) > -40.0);

  // Text that a shell or an option parser would act on is just spoken.
  const std::string marker = "/tmp/rtb-espeak-pwned-" + std::to_string(::getpid());
  const auto b = espeak("--help; touch " + marker + " $(touch " + marker + ") `touch " + marker + "` \"' \\");
  REQUIRE(b);
  CHECK(b->size() > 8000 / 2);
  CHECK(std::fopen(marker.c_str(), "r") == nullptr);

  // Another voice works too (espeak-ng falls back to its default for an unknown one).
  CHECK(espeak("hello", "en-gb"));
}
