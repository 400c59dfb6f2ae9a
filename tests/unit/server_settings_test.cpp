// realtime-bridge-server's settings: environment and flags, the exact messages
// for bad values, secrets kept out of every message and of describe(), and the
// call configuration, TwiML and URLs derived from them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/call.hpp"
#include "server/settings.hpp"

namespace app = rtb::server_app;
using Catch::Matchers::Contains;

namespace {

using env_map = std::map<std::string, std::string, std::less<>>;

rtb::result<app::settings> load(const env_map& env, const std::vector<std::string>& args = {}) {
  return app::load_settings(
      [&env](std::string_view name) -> std::optional<std::string> {
        if (auto it = env.find(name); it != env.end()) return it->second;
        return std::nullopt;
      },
      args);
}

/// The error message of a load that must fail ("" and a failed check if it succeeded).
std::string error_of(const env_map& env, const std::vector<std::string>& args = {}) {
  auto r = load(env, args);
  CHECK_FALSE(r.has_value());
  if (r.has_value()) return {};
  CHECK(r.error().code == rtb::errc::invalid_config);
  return r.error().message;
}

/// A file in the temporary directory, removed at the end of the scope.
struct temp_file {
  std::filesystem::path path;
  explicit temp_file(std::string_view contents) {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("rtb_settings_test_" + std::to_string(rd()) + ".txt");
    std::ofstream(path, std::ios::binary) << contents;
  }
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
};

const std::vector<std::string> all_names = {
    "PORT",
    "BIND_ADDRESS",
    "THREADS",
    "EVENT_LOOP",
    "STREAM_PATH",
    "PUBLIC_URL",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
    "OPENAI_REALTIME_URL",
    "OPENAI_CA_FILE",
    "VOICE",
    "ALLOW_UNKNOWN_VOICE",
    "INSTRUCTIONS",
    "INSTRUCTIONS_FILE",
    "GREETING",
    "TRANSCRIPTION_MODEL",
    "VAD_THRESHOLD",
    "SILENCE_DURATION_MS",
    "CALLER_AUDIO_BATCH_MS",
    "BARGE_IN_MARGIN_MS",
    "ECHO_GUARD_MS",
    "MIN_BARGE_IN_SPEECH_MS",
    "RECONNECT_ATTEMPTS",
    "RECONNECT_WINDOW_SECONDS",
    "SESSION_ROLLOVER_SECONDS",
    "TWILIO_AUTH_TOKEN",
    "ALLOW_UNSIGNED",
    "SAY_FIRST",
    "FALLBACK_SAY",
    "FALLBACK_DIAL",
    "REALTIME_ENABLED",
    "SHUTDOWN_GRACE_SECONDS",
    "MAX_CALLS",
    "TRACE_DIR",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "METRICS_TOKEN",
    "DATABASE_URL",
    "ADMIN_TOKEN",
    "EVENTS_URL",
    "EVENTS_SECRET",
};

std::string flag_of(std::string_view env_name) {
  std::string out = "--";
  for (const char c : env_name)
    out.push_back(c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  return out;
}

}  // namespace

TEST_CASE("settings defaults", "[server][settings]") {
  auto r = load({});
  REQUIRE(r.has_value());
  const app::settings& s = *r;
  CHECK(s.port == 5050);
  CHECK(s.bind_address.empty());
  CHECK(s.threads == 0);
  CHECK(s.stream_path == "/media-stream");
  CHECK(s.public_url.empty());
  CHECK(s.openai_api_key.empty());  // not required here: the server decides (simulated mode)
  CHECK(s.openai_model == "gpt-realtime");
  CHECK(s.openai_realtime_url.empty());
  CHECK(s.voice == "marin");
  CHECK(s.instructions.empty());
  CHECK(s.greeting.empty());
  CHECK(s.transcription_model.empty());
  CHECK(s.vad_threshold == 0.5);
  CHECK(s.silence_duration_ms == 500);
  CHECK(s.caller_audio_batch_ms == 0);
  CHECK(s.barge_in_margin_ms == 0);
  CHECK(s.echo_guard_ms == 0);
  CHECK(s.min_barge_in_speech_ms == 0);
  CHECK(s.twilio_auth_token.empty());
  CHECK(s.say_first.empty());
  CHECK(s.fallback_say == "Sorry, our assistant is not available right now. Please call again later.");
  CHECK(s.fallback_dial.empty());
  CHECK(s.realtime_enabled);
  CHECK(s.shutdown_grace == std::chrono::seconds{30});
  CHECK(s.trace_dir.empty());
  CHECK(s.log_level == "info");
  CHECK(s.stream_url().empty());
  CHECK(s.effective_openai_url() == "wss://api.openai.com/v1/realtime?model=gpt-realtime");

  // No environment function at all, and empty values, are the same as unset.
  auto none = app::load_settings({}, {});
  REQUIRE(none.has_value());
  CHECK(none->port == 5050);
  env_map empty;
  for (const auto& n : all_names) empty[n] = "";
  auto blank = load(empty);
  REQUIRE(blank.has_value());
  CHECK(blank->port == 5050);
  CHECK(blank->voice == "marin");
  CHECK(blank->fallback_say == s.fallback_say);
}

TEST_CASE("good settings", "[server][settings]") {
  struct good_case {
    std::string name;
    std::string value;
    std::function<void(const app::settings&)> check;
  };
  const std::vector<good_case> cases = {
      {"PORT", "0", [](const app::settings& s) { CHECK(s.port == 0); }},
      {"PORT", "65535", [](const app::settings& s) { CHECK(s.port == 65535); }},
      {"PORT", "8080", [](const app::settings& s) { CHECK(s.port == 8080); }},
      {"PORT", "010", [](const app::settings& s) { CHECK(s.port == 10); }},  // decimal, never octal
      {"BIND_ADDRESS", "127.0.0.1", [](const app::settings& s) { CHECK(s.bind_address == "127.0.0.1"); }},
      {"THREADS", "0", [](const app::settings& s) { CHECK(s.threads == 0); }},
      {"THREADS", "256", [](const app::settings& s) { CHECK(s.threads == 256); }},
      {"STREAM_PATH", "/ws", [](const app::settings& s) { CHECK(s.stream_path == "/ws"); }},
      {"STREAM_PATH", "/", [](const app::settings& s) { CHECK(s.stream_path == "/"); }},
      {"STREAM_PATH", "/a/b/", [](const app::settings& s) { CHECK(s.stream_path == "/a/b/"); }},
      {"PUBLIC_URL", "https://bridge.example.com",
       [](const app::settings& s) {
         CHECK(s.public_url == "https://bridge.example.com");
         CHECK(s.stream_url() == "wss://bridge.example.com/media-stream");
       }},
      {"PUBLIC_URL", "https://bridge.example.com/",
       [](const app::settings& s) {
         CHECK(s.public_url == "https://bridge.example.com");
         CHECK(s.stream_url() == "wss://bridge.example.com/media-stream");
       }},
      {"PUBLIC_URL", "https://bridge.example.com:8443",
       [](const app::settings& s) { CHECK(s.stream_url() == "wss://bridge.example.com:8443/media-stream"); }},
      {"PUBLIC_URL", "http://localhost:5050",
       [](const app::settings& s) { CHECK(s.stream_url() == "ws://localhost:5050/media-stream"); }},
      {"PUBLIC_URL", "HTTPS://Bridge.Example.com",
       [](const app::settings& s) { CHECK(s.stream_url() == "wss://Bridge.Example.com/media-stream"); }},
      {"PUBLIC_URL", "https://[::1]:8443",
       [](const app::settings& s) { CHECK(s.stream_url() == "wss://[::1]:8443/media-stream"); }},
      {"PUBLIC_URL", "https://abc123.ngrok-free.app",
       [](const app::settings& s) { CHECK(s.stream_url() == "wss://abc123.ngrok-free.app/media-stream"); }},
      {"OPENAI_API_KEY", "sk-test", [](const app::settings& s) { CHECK(s.openai_api_key == "sk-test"); }},
      {"OPENAI_MODEL", "gpt-realtime-mini",
       [](const app::settings& s) {
         CHECK(s.openai_model == "gpt-realtime-mini");
         CHECK(s.effective_openai_url() == "wss://api.openai.com/v1/realtime?model=gpt-realtime-mini");
       }},
      {"OPENAI_MODEL", "ft:gpt-realtime_x.1",
       [](const app::settings& s) {
         CHECK(s.effective_openai_url() == "wss://api.openai.com/v1/realtime?model=ft%3Agpt-realtime_x.1");
       }},
      {"VOICE", "cedar", [](const app::settings& s) { CHECK(s.voice == "cedar"); }},
      {"ALLOW_UNKNOWN_VOICE", "true", [](const app::settings& s) { CHECK(s.allow_unknown_voice); }},
      {"ALLOW_UNSIGNED", "yes", [](const app::settings& s) { CHECK(s.allow_unsigned); }},
      {"MAX_CALLS", "250", [](const app::settings& s) { CHECK(s.max_calls == 250); }},
      {"BIND_ADDRESS", "::1", [](const app::settings& s) { CHECK(s.bind_address == "::1"); }},
      {"BIND_ADDRESS", "127.0.0.1", [](const app::settings& s) { CHECK(s.bind_address == "127.0.0.1"); }},
      {"OPENAI_REALTIME_URL", "ws://127.0.0.1:9000/v1/realtime?model=fake",
       [](const app::settings& s) {
         CHECK(s.openai_realtime_url == "ws://127.0.0.1:9000/v1/realtime?model=fake");
         CHECK(s.effective_openai_url() == "ws://127.0.0.1:9000/v1/realtime?model=fake");
       }},
      {"OPENAI_REALTIME_URL", "wss://proxy.example.com/realtime",
       [](const app::settings& s) { CHECK(s.effective_openai_url() == "wss://proxy.example.com/realtime"); }},
      {"OPENAI_CA_FILE", RTB_SOURCE_DIR "/LICENSE",  // any readable file (its contents are for TLS to judge)
       [](const app::settings& s) { CHECK(s.openai_ca_file == RTB_SOURCE_DIR "/LICENSE"); }},
      {"VOICE", "cedar", [](const app::settings& s) { CHECK(s.voice == "cedar"); }},
      {"INSTRUCTIONS", "Be brief.", [](const app::settings& s) { CHECK(s.instructions == "Be brief."); }},
      {"GREETING", "Hello!", [](const app::settings& s) { CHECK(s.greeting == "Hello!"); }},
      {"TRANSCRIPTION_MODEL", "whisper-1", [](const app::settings& s) { CHECK(s.transcription_model == "whisper-1"); }},
      {"VAD_THRESHOLD", "0", [](const app::settings& s) { CHECK(s.vad_threshold == 0.0); }},
      {"VAD_THRESHOLD", "1", [](const app::settings& s) { CHECK(s.vad_threshold == 1.0); }},
      {"VAD_THRESHOLD", "1.0", [](const app::settings& s) { CHECK(s.vad_threshold == 1.0); }},
      {"VAD_THRESHOLD", "0.75", [](const app::settings& s) { CHECK(s.vad_threshold == 0.75); }},
      {"SILENCE_DURATION_MS", "0", [](const app::settings& s) { CHECK(s.silence_duration_ms == 0); }},
      {"SILENCE_DURATION_MS", "1200", [](const app::settings& s) { CHECK(s.silence_duration_ms == 1200); }},
      {"CALLER_AUDIO_BATCH_MS", "0", [](const app::settings& s) { CHECK(s.caller_audio_batch_ms == 0); }},
      {"CALLER_AUDIO_BATCH_MS", "40", [](const app::settings& s) { CHECK(s.caller_audio_batch_ms == 40); }},
      {"CALLER_AUDIO_BATCH_MS", "60", [](const app::settings& s) { CHECK(s.caller_audio_batch_ms == 60); }},
      {"CALLER_AUDIO_BATCH_MS", "200", [](const app::settings& s) { CHECK(s.caller_audio_batch_ms == 200); }},
      {"BARGE_IN_MARGIN_MS", "0", [](const app::settings& s) { CHECK(s.barge_in_margin_ms == 0); }},
      {"BARGE_IN_MARGIN_MS", "1000", [](const app::settings& s) { CHECK(s.barge_in_margin_ms == 1000); }},
      {"ECHO_GUARD_MS", "1500", [](const app::settings& s) { CHECK(s.echo_guard_ms == 1500); }},
      {"RECONNECT_ATTEMPTS", "0", [](const app::settings& s) { CHECK(s.reconnect_attempts == 0); }},
      {"RECONNECT_ATTEMPTS", "10", [](const app::settings& s) { CHECK(s.reconnect_attempts == 10); }},
      {"RECONNECT_WINDOW_SECONDS", "120", [](const app::settings& s) { CHECK(s.reconnect_window_seconds == 120); }},
      {"SESSION_ROLLOVER_SECONDS", "0", [](const app::settings& s) { CHECK(s.session_rollover_seconds == 0); }},
      {"SESSION_ROLLOVER_SECONDS", "600", [](const app::settings& s) { CHECK(s.session_rollover_seconds == 600); }},
      {"ECHO_GUARD_MS", "10000", [](const app::settings& s) { CHECK(s.echo_guard_ms == 10000); }},
      {"MIN_BARGE_IN_SPEECH_MS", "250", [](const app::settings& s) { CHECK(s.min_barge_in_speech_ms == 250); }},
      {"MIN_BARGE_IN_SPEECH_MS", "0", [](const app::settings& s) { CHECK(s.min_barge_in_speech_ms == 0); }},
      {"TWILIO_AUTH_TOKEN", "tok", [](const app::settings& s) { CHECK(s.twilio_auth_token == "tok"); }},
      {"SAY_FIRST", "Connecting you now.", [](const app::settings& s) { CHECK(s.say_first == "Connecting you now."); }},
      {"FALLBACK_SAY", "Bye.", [](const app::settings& s) { CHECK(s.fallback_say == "Bye."); }},
      {"FALLBACK_DIAL", "+14155550100", [](const app::settings& s) { CHECK(s.fallback_dial == "+14155550100"); }},
      {"FALLBACK_DIAL", "+12345678", [](const app::settings& s) { CHECK(s.fallback_dial == "+12345678"); }},
      {"FALLBACK_DIAL", "+123456789012345",
       [](const app::settings& s) { CHECK(s.fallback_dial == "+123456789012345"); }},
      {"REALTIME_ENABLED", "true", [](const app::settings& s) { CHECK(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "1", [](const app::settings& s) { CHECK(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "yes", [](const app::settings& s) { CHECK(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "TRUE", [](const app::settings& s) { CHECK(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "false", [](const app::settings& s) { CHECK_FALSE(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "0", [](const app::settings& s) { CHECK_FALSE(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "no", [](const app::settings& s) { CHECK_FALSE(s.realtime_enabled); }},
      {"REALTIME_ENABLED", "False", [](const app::settings& s) { CHECK_FALSE(s.realtime_enabled); }},
      {"SHUTDOWN_GRACE_SECONDS", "0", [](const app::settings& s) { CHECK(s.shutdown_grace.count() == 0); }},
      {"SHUTDOWN_GRACE_SECONDS", "120", [](const app::settings& s) { CHECK(s.shutdown_grace.count() == 120); }},
      {"TRACE_DIR", std::filesystem::temp_directory_path().string(),
       [](const app::settings& s) { CHECK(s.trace_dir == std::filesystem::temp_directory_path().string()); }},
      {"EVENT_LOOP", "poll", [](const app::settings& s) { CHECK(s.event_loop == "poll"); }},
      {"EVENT_LOOP", "LibEV", [](const app::settings& s) { CHECK(s.event_loop == "libev"); }},
      {"LOG_LEVEL", "debug", [](const app::settings& s) { CHECK(s.log_level == "debug"); }},
      {"LOG_LEVEL", "warning", [](const app::settings& s) { CHECK(s.log_level == "warning"); }},
      {"LOG_LEVEL", "ERROR", [](const app::settings& s) { CHECK(s.log_level == "error"); }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name, c.value);
    // From the environment...
    auto from_env = load({{c.name, c.value}});
    REQUIRE(from_env.has_value());
    c.check(*from_env);
    // ...and from the flag, in both forms.
    auto joined = load({}, {flag_of(c.name) + "=" + c.value});
    REQUIRE(joined.has_value());
    c.check(*joined);
    auto separate = load({}, {flag_of(c.name), c.value});
    REQUIRE(separate.has_value());
    c.check(*separate);
  }
}

TEST_CASE("bad settings are errors naming the setting", "[server][settings]") {
  struct bad_case {
    std::string name;
    std::string value;
    std::string message;  ///< for the environment variable
  };
  const std::string port = "must be a number from 0 to 65535";
  const std::string threads = "must be a number from 0 to 256";
  const std::string grace = "must be a number of seconds, 0 or more";
  const std::string vad = "must be a number from 0.0 to 1.0";
  const std::string silence = "must be a number of milliseconds, 0 or more";
  const std::string batch = "must be a number of milliseconds: 0 (off) or a multiple of 20 from 40 to 200";
  const std::string margin = "must be a number of milliseconds from 0 to 1000";
  const std::string guard = "must be a number of milliseconds from 0 to 10000";
  const std::string enabled = "must be true or false (or 1/0, yes/no)";
  const std::string level = "must be one of debug, info, warning, error";
  const std::string loop = "must be one of auto, libev, poll";
  const std::string path = "must be a path starting with '/' without a query string";
  const std::string origin =
      "must be an https:// (or http://) origin without a path or query, e.g. https://bridge.example.com";
  const std::string ws = "must be a ws:// or wss:// URL";
  const std::string dial = "must be an E.164 phone number (+ and 8 to 15 digits)";
  const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> table = {
      {"PORT",
       {{"abc", port},
        {"65536", port},
        {"-1", port},
        {" 5050", port},
        {"5050 ", port},
        {"+5050", port},
        {"50.5", port},
        {"0x10", port},
        {"99999999999999999999", port}}},
      {"THREADS", {{"257", threads}, {"-1", threads}, {"many", threads}}},
      {"SHUTDOWN_GRACE_SECONDS", {{"-1", grace}, {"1.5", grace}, {"30s", grace}}},
      {"VAD_THRESHOLD", {{"1.01", vad}, {"-0.1", vad}, {"nan", vad}, {"inf", vad}, {"half", vad}, {"0.5x", vad}}},
      {"SILENCE_DURATION_MS", {{"-5", silence}, {"500ms", silence}}},
      {"CALLER_AUDIO_BATCH_MS",
       {{"20", batch},
        {"50", batch},
        {"210", batch},
        {"220", batch},
        {"-20", batch},
        {"60ms", batch},
        {"off", batch},
        {"99999999999999999999", batch}}},
      {"BARGE_IN_MARGIN_MS", {{"-1", margin}, {"1001", margin}, {"20ms", margin}}},
      {"ECHO_GUARD_MS", {{"-1", guard}, {"10001", guard}, {"1.5", guard}}},
      {"MIN_BARGE_IN_SPEECH_MS", {{"-1", guard}, {"20000", guard}, {"short", guard}}},
      {"RECONNECT_ATTEMPTS", {{"-1", "must be a number from 0 to 10"}, {"11", "must be a number from 0 to 10"}}},
      {"RECONNECT_WINDOW_SECONDS",
       {{"0", "must be a number of seconds from 1 to 120"}, {"121", "must be a number of seconds from 1 to 120"}}},
      {"SESSION_ROLLOVER_SECONDS",
       {{"30", "must be 0 (off) or a number of seconds from 60 to 3500"},
        {"3600", "must be 0 (off) or a number of seconds from 60 to 3500"}}},
      {"REALTIME_ENABLED", {{"maybe", enabled}, {"on", enabled}, {"2", enabled}}},
      {"LOG_LEVEL", {{"verbose", level}, {"warn", level}, {"info ", level}}},
      {"EVENT_LOOP", {{"epoll", loop}, {"uv", loop}}},
      {"STREAM_PATH", {{"media-stream", path}, {"/media?x=1", path}, {"/a#b", path}}},
      {"PUBLIC_URL",
       {{"bridge.example.com", origin},
        {"ftp://bridge.example.com", origin},
        {"wss://bridge.example.com", origin},
        {"https://", origin},
        {"https:///", origin},
        {"https://bridge.example.com/path", origin},
        {"https://bridge.example.com//", origin},
        {"https://bridge.example.com?q=1", origin},
        {"https://bridge.example.com#x", origin},
        {"https://user@bridge.example.com", origin},
        {"https://bridge.example.com:", origin},
        {"https://bridge.example.com:0", origin},
        {"https://bridge.example.com:99999", origin},
        {"https://bridge.example.com:80a", origin},
        {"https://bridge example.com", origin},
        {"https://[::1", origin}}},
      {"OPENAI_REALTIME_URL",
       {{"https://api.openai.com/v1/realtime", ws},
        {"ws://", ws},
        {"api.openai.com", ws},
        {"ws://proxy.example.com/realtime",
         "must be a usable ws:// or wss:// URL (plain ws:// is only allowed to a loopback host; use wss://)"},
        {"wss://:443/x", "must be a usable ws:// or wss:// URL (the URL has no host)"}}},
      {"VOICE",
       {{"nova",
         "must be one of alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar (ALLOW_UNKNOWN_VOICE=true "
         "accepts others)"},
        {"Marin",
         "must be one of alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar (ALLOW_UNKNOWN_VOICE=true "
         "accepts others)"}}},
      {"ALLOW_UNKNOWN_VOICE", {{"sure", enabled}}},
      {"ALLOW_UNSIGNED", {{"please", enabled}}},
      {"MAX_CALLS",
       {{"-1", "must be a number of calls from 0 (from the open-files limit) to 1000000"},
        {"lots", "must be a number of calls from 0 (from the open-files limit) to 1000000"}}},
      {"BIND_ADDRESS",
       {{"localhost", "must be an IPv4 or IPv6 address, e.g. 127.0.0.1 or ::1"},
        {"0.0.0.0:80", "must be an IPv4 or IPv6 address, e.g. 127.0.0.1 or ::1"}}},
      {"FALLBACK_DIAL",
       {{"14155550100", dial},
        {"+1234567", dial},
        {"+1234567890123456", dial},
        {"+1 415 555 0100", dial},
        {"+1415555010a", dial},
        {"+", dial}}},
  };
  for (const auto& [name, values] : table) {
    for (const auto& [value, requirement] : values) {
      CAPTURE(name, value);
      CHECK(error_of({{name, value}}) == name + " " + requirement + ", not '" + value + "'");
      // From a flag the message names the flag.
      CHECK(error_of({}, {flag_of(name) + "=" + value}) == flag_of(name) + " " + requirement + ", not '" + value + "'");
    }
  }
  SECTION("the example of the header") {
    CHECK(error_of({{"PORT", "abc"}}) == "PORT must be a number from 0 to 65535, not 'abc'");
  }
  SECTION("the first bad setting is the one reported") {
    CHECK(error_of({{"PORT", "x"}, {"LOG_LEVEL", "y"}}) == "PORT must be a number from 0 to 65535, not 'x'");
  }
}

TEST_CASE("INSTRUCTIONS and INSTRUCTIONS_FILE", "[server][settings]") {
  SECTION("the file's contents become the instructions") {
    const temp_file f("You are a helpful assistant.\nBe brief.\n");
    auto r = load({{"INSTRUCTIONS_FILE", f.path.string()}});
    REQUIRE(r.has_value());
    CHECK(r->instructions == "You are a helpful assistant.\nBe brief.\n");
    auto flag = load({}, {"--instructions-file", f.path.string()});
    REQUIRE(flag.has_value());
    CHECK(flag->instructions == r->instructions);
  }
  SECTION("both together is an error") {
    const temp_file f("x");
    CHECK(error_of({{"INSTRUCTIONS", "a"}, {"INSTRUCTIONS_FILE", f.path.string()}}) ==
          "INSTRUCTIONS and INSTRUCTIONS_FILE cannot both be set");
    CHECK(error_of({{"INSTRUCTIONS_FILE", f.path.string()}}, {"--instructions=a"}) ==
          "--instructions and INSTRUCTIONS_FILE cannot both be set");
  }
  SECTION("a flag can clear the other one's environment variable") {
    const temp_file f("from the file");
    auto r =
        load({{"INSTRUCTIONS", "from the environment"}, {"INSTRUCTIONS_FILE", f.path.string()}}, {"--instructions="});
    REQUIRE(r.has_value());
    CHECK(r->instructions == "from the file");
  }
  SECTION("an unreadable file is an error naming it") {
    CHECK(error_of({{"INSTRUCTIONS_FILE", "/nonexistent-rtb-dir/instructions.txt"}}) ==
          "INSTRUCTIONS_FILE '/nonexistent-rtb-dir/instructions.txt' cannot be read: No such file or directory");
    CHECK(error_of({}, {"--instructions-file=/nonexistent-rtb-dir/i.txt"}) ==
          "--instructions-file '/nonexistent-rtb-dir/i.txt' cannot be read: No such file or directory");
    const std::string dir = std::filesystem::temp_directory_path().string();
    CHECK_THAT(error_of({{"INSTRUCTIONS_FILE", dir}}),
               Catch::StartsWith("INSTRUCTIONS_FILE '" + dir + "' cannot be read: "));
  }
}

TEST_CASE("settings that name files and directories are checked at start-up", "[server][settings]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("rtb-settings-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  SECTION("TRACE_DIR must exist and be writable") {
    CHECK(error_of({{"TRACE_DIR", (dir / "missing").string()}}) ==
          "TRACE_DIR '" + (dir / "missing").string() + "' must be an existing directory");
    CHECK(error_of({}, {"--trace-dir=" + (dir / "missing").string()}) ==
          "--trace-dir '" + (dir / "missing").string() + "' must be an existing directory");
    if (::geteuid() != 0) {  // root writes anywhere
      fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
      CHECK(error_of({{"TRACE_DIR", dir.string()}}) ==
            "TRACE_DIR '" + dir.string() + "' is not writable by this process: Permission denied");
      fs::permissions(dir, fs::perms::owner_all);
    }
    CHECK(load({{"TRACE_DIR", dir.string()}}).has_value());
  }
  SECTION("OPENAI_CA_FILE must be readable") {
    CHECK(error_of({{"OPENAI_CA_FILE", (dir / "none.pem").string()}}) ==
          "OPENAI_CA_FILE '" + (dir / "none.pem").string() + "' cannot be read: No such file or directory");
    std::ofstream(dir / "ca.pem") << "-----BEGIN CERTIFICATE-----\n";
    CHECK(load({{"OPENAI_CA_FILE", (dir / "ca.pem").string()}}).has_value());
  }
  SECTION("OPENAI_MODEL is a model name; a key pasted there is never echoed") {
    const std::string key_like = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (const std::string& model : {key_like, std::string("my model"), std::string("a/b?c")}) {
      CAPTURE(model);
      const std::string m = error_of({{"OPENAI_MODEL", model}});
      CHECK(m.starts_with("OPENAI_MODEL must be a model name"));
      CHECK(m.find(model) == std::string::npos);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("signatures are required unless explicitly turned off", "[server][settings]") {
  const auto check = [](const env_map& env) {
    auto s = load(env);
    REQUIRE(s.has_value());
    auto ok = app::check_signatures_configured(*s);
    return ok ? std::string("ok") : ok.error().message;
  };
  CHECK(check({}).starts_with("TWILIO_AUTH_TOKEN is not set: without it anyone"));
  CHECK(check({{"ALLOW_UNSIGNED", "true"}}) == "ok");
  CHECK(check({{"REALTIME_ENABLED", "false"}}) == "ok");  // places no calls
  CHECK(check({{"TWILIO_AUTH_TOKEN", "token-1234567890"}}).starts_with("TWILIO_AUTH_TOKEN needs PUBLIC_URL"));
  CHECK(check({{"TWILIO_AUTH_TOKEN", "token-1234567890"}, {"PUBLIC_URL", "https://bridge.example.com"}}) == "ok");
  // The message never carries the token.
  CHECK(check({{"TWILIO_AUTH_TOKEN", "token-1234567890"}}).find("token-1234567890") == std::string::npos);
}

TEST_CASE("flags override the environment", "[server][settings]") {
  const env_map env = {{"PORT", "6000"}, {"VOICE", "ash"}, {"LOG_LEVEL", "debug"}, {"REALTIME_ENABLED", "false"}};
  auto r = load(env, {"--port", "7000", "--voice=cedar", "--realtime-enabled", "yes"});
  REQUIRE(r.has_value());
  CHECK(r->port == 7000);
  CHECK(r->voice == "cedar");
  CHECK(r->realtime_enabled);
  CHECK(r->log_level == "debug");  // not overridden

  SECTION("the last of repeated flags wins") {
    auto again = load({}, {"--port=1", "--port", "2"});
    REQUIRE(again.has_value());
    CHECK(again->port == 2);
  }
  SECTION("a bad environment value is overridden by a good flag") {
    auto fixed = load({{"PORT", "abc"}}, {"--port=5051"});
    REQUIRE(fixed.has_value());
    CHECK(fixed->port == 5051);
  }
  SECTION("an empty flag takes no value from the next argument") {
    auto next = load({{"GREETING", "Hi"}, {"INSTRUCTIONS", "Be brief."}},
                     {"--greeting=", "--voice=cedar", "--instructions=", "--port", "7001"});
    REQUIRE(next.has_value());
    CHECK(next->greeting.empty());
    CHECK(next->voice == "cedar");
    CHECK(next->instructions.empty());
    CHECK(next->port == 7001);
  }
  SECTION("an empty flag means unset: back to the default") {
    auto cleared = load(env, {"--port="});
    REQUIRE(cleared.has_value());
    CHECK(cleared->port == 5050);
  }
  SECTION("values may contain '=' and spaces") {
    auto v = load({}, {"--instructions=a=b c", "--say-first", "Hello, caller"});
    REQUIRE(v.has_value());
    CHECK(v->instructions == "a=b c");
    CHECK(v->say_first == "Hello, caller");
  }
  SECTION("every setting has its flag") {
    for (const auto& name : all_names) {
      CAPTURE(name);
      auto one = load({}, {flag_of(name) + "="});
      CHECK(one.has_value());
    }
    CHECK(flag_of("OPENAI_API_KEY") == "--openai-api-key");
    CHECK(flag_of("SHUTDOWN_GRACE_SECONDS") == "--shutdown-grace-seconds");
  }
}

TEST_CASE("flag errors and --help", "[server][settings]") {
  CHECK(error_of({}, {"--help"}) == app::usage());
  CHECK(error_of({}, {"-h"}) == app::usage());
  CHECK(error_of({}, {"--port=1", "--help"}) == app::usage());
  CHECK(error_of({}, {"--nope"}) == "unknown flag '--nope' (see --help)");
  CHECK(error_of({}, {"--nope=1"}) == "unknown flag '--nope' (see --help)");
  CHECK(error_of({}, {"--PORT=1"}) == "unknown flag '--PORT' (see --help)");
  CHECK(error_of({}, {"--openai_api_key=sk-x"}) == "unknown flag '--openai_api_key' (see --help)");
  CHECK(error_of({}, {"--port"}) == "--port needs a value: --port value or --port=value");
  CHECK(error_of({}, {"--port", "--voice", "x"}) == "--port needs a value: --port value or --port=value");
  CHECK(error_of({}, {"5050"}) ==
        "unexpected argument 1: settings are given as --name value or --name=value (see --help)");
  CHECK(error_of({}, {"--port=1", "extra"}) ==
        "unexpected argument 2: settings are given as --name value or --name=value (see --help)");
  CHECK(error_of({}, {"--"}) ==
        "unexpected argument 1: settings are given as --name value or --name=value (see --help)");
  CHECK(error_of({}, {"-p", "1"}) ==
        "unexpected argument 1: settings are given as --name value or --name=value (see --help)");

  SECTION("the usage text lists every setting and its flag") {
    const std::string u = app::usage();
    for (const auto& name : all_names) {
      CAPTURE(name);
      CHECK_THAT(u, Contains(name) && Contains(flag_of(name)));
    }
    CHECK_THAT(u, Contains("--help"));
    // Wrapped for an 80-column terminal.
    std::istringstream lines(u);
    for (std::string line; std::getline(lines, line);) {
      CAPTURE(line);
      CHECK(line.size() <= 78);
    }
  }
}

TEST_CASE("secrets never appear in messages or in describe()", "[server][settings]") {
  const std::string key = "sk-CANARY-openai-0123456789abcdef";
  const std::string token = "CANARY-twilio-fedcba9876543210";
  const auto clean = [&](const std::string& text) {
    CAPTURE(text);
    CHECK(text.find("CANARY") == std::string::npos);
  };
  const std::string metrics = "CANARY-metrics-5555aaaa";
  const env_map secrets = {{"OPENAI_API_KEY", key}, {"TWILIO_AUTH_TOKEN", token}, {"METRICS_TOKEN", metrics}};

  // Every bad value, with the secrets set.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"PORT", "abc"},
      {"THREADS", "999"},
      {"STREAM_PATH", "x"},
      {"PUBLIC_URL", "x"},
      {"OPENAI_REALTIME_URL", "x"},
      {"VAD_THRESHOLD", "2"},
      {"SILENCE_DURATION_MS", "-1"},
      {"CALLER_AUDIO_BATCH_MS", "50"},
      {"BARGE_IN_MARGIN_MS", "-1"},
      {"ECHO_GUARD_MS", "x"},
      {"MIN_BARGE_IN_SPEECH_MS", "99999"},
      {"FALLBACK_DIAL", "1"},
      {"REALTIME_ENABLED", "x"},
      {"SHUTDOWN_GRACE_SECONDS", "-1"},
      {"LOG_LEVEL", "x"},
      {"INSTRUCTIONS_FILE", "/nonexistent-rtb-dir/x"},
  };
  for (const auto& [name, value] : bad) {
    env_map env = secrets;
    env[name] = value;
    clean(error_of(env));
  }
  // A secret pasted into another setting, from the environment or a flag.
  for (const std::string& secret : {key, token, metrics}) {
    for (const std::string name : {"PORT", "PUBLIC_URL", "OPENAI_REALTIME_URL", "FALLBACK_DIAL", "LOG_LEVEL",
                                   "STREAM_PATH", "INSTRUCTIONS_FILE", "VAD_THRESHOLD"}) {
      CAPTURE(name);
      env_map env = secrets;
      env[name] = secret;
      const std::string m = error_of(env);
      clean(m);
      CHECK_THAT(m, Contains("(a value containing a secret)"));
      clean(error_of(secrets, {flag_of(name), "prefix-" + secret}));
      clean(error_of({}, {"--openai-api-key", key, "--twilio-auth-token=" + token, "--metrics-token", metrics,
                          flag_of(name) + "=" + secret}));
    }
  }
  // A secret that lost its flag, or went to a misspelt one.
  clean(error_of({}, {"--openai-api-key=", key}));
  clean(error_of({}, {"--twilio-auth-token=" + token, token}));
  clean(error_of({}, {"--openai_api_key=" + key}));
  CHECK(error_of({}, {"--nope=" + key}) == "unknown flag '--nope' (see --help)");
  clean(error_of({}, {"--openai-api-key", key, "--help"}));
  clean(error_of(secrets, {"--port"}));
  clean(error_of(secrets, {"--instructions=x", "--instructions-file=/nonexistent"}));
  // Even a short secret is kept out of the value it is part of.
  CHECK(error_of({{"OPENAI_API_KEY", "abc"}, {"PORT", "abc"}}) ==
        "PORT must be a number from 0 to 65535, not (a value containing a secret)");

  SECTION("describe() shows (set) and (not set)") {
    env_map env = secrets;
    env["OPENAI_REALTIME_URL"] = "wss://proxy.example.com/realtime?api_key=" + key;
    env["INSTRUCTIONS"] = "Never say " + token;
    auto r = load(env);
    REQUIRE(r.has_value());
    const auto lines = app::describe(*r);
    for (const auto& l : lines) clean(l);
    CHECK(std::count(lines.begin(), lines.end(), "OPENAI_API_KEY=(set)") == 1);
    CHECK(std::count(lines.begin(), lines.end(), "TWILIO_AUTH_TOKEN=(set)") == 1);
    CHECK(std::count(lines.begin(), lines.end(),
                     "OPENAI_REALTIME_URL=wss://proxy.example.com/realtime?api_key=(secret)") == 1);
    CHECK(std::count(lines.begin(), lines.end(), "INSTRUCTIONS=Never say (secret)") == 1);

    auto unset = load({});
    REQUIRE(unset.has_value());
    const auto plain = app::describe(*unset);
    CHECK(std::count(plain.begin(), plain.end(), "OPENAI_API_KEY=(not set)") == 1);
    CHECK(std::count(plain.begin(), plain.end(), "TWILIO_AUTH_TOKEN=(not set)") == 1);
  }
}

TEST_CASE("describe() lists every setting once", "[server][settings]") {
  auto r = load({});
  REQUIRE(r.has_value());
  const std::vector<std::string> defaults = {
      "PORT=5050 (default)",
      "BIND_ADDRESS=(not set: all interfaces)",
      "THREADS=0 (default)",
      "EVENT_LOOP=auto (default)",
      "STREAM_PATH=/media-stream (default)",
      "PUBLIC_URL=(not set)",
      "OPENAI_API_KEY=(not set)",
      "OPENAI_MODEL=gpt-realtime (default)",
      "OPENAI_REALTIME_URL=(not set: wss://api.openai.com/v1/realtime?model=gpt-realtime)",
      "OPENAI_CA_FILE=(not set: system CAs)",
      "VOICE=marin (default)",
      "ALLOW_UNKNOWN_VOICE=false (default)",
      "INSTRUCTIONS=(not set)",
      "GREETING=(not set: wait for the caller)",
      "TRANSCRIPTION_MODEL=(not set: no caller transcripts)",
      "VAD_THRESHOLD=0.5 (default)",
      "SILENCE_DURATION_MS=500 (default)",
      "CALLER_AUDIO_BATCH_MS=0 (default)",
      "BARGE_IN_MARGIN_MS=0 (default)",
      "ECHO_GUARD_MS=0 (default)",
      "MIN_BARGE_IN_SPEECH_MS=0 (default)",
      "RECONNECT_ATTEMPTS=3 (default)",
      "RECONNECT_WINDOW_SECONDS=10 (default)",
      "SESSION_ROLLOVER_SECONDS=3300 (default)",
      "TWILIO_AUTH_TOKEN=(not set)",
      "ALLOW_UNSIGNED=false (default)",
      "SAY_FIRST=(not set)",
      "FALLBACK_SAY=Sorry, our assistant is not available right now. Please call again later. (default)",
      "FALLBACK_DIAL=(not set)",
      "REALTIME_ENABLED=true (default)",
      "SHUTDOWN_GRACE_SECONDS=30 (default)",
      "DRAIN_NOTICE_SECONDS=0 (default)",
      "MAX_CALLS=0 (default: from the open-files limit)",
      "TRACE_DIR=(not set: no traces)",
      "LOG_LEVEL=info (default)",
      "LOG_FORMAT=text (default)",
      "METRICS_TOKEN=(not set)",
      "METRICS_ENABLED=true (default)",
      "DATABASE_URL=(not set: sqlite:data/calls.db)",
      "INSTANCE_NAME=(not set: the host name)",
      "ADMIN_TOKEN=(not set)",
      "EVENTS_URL=(not set)",
      "EVENTS_SECRET=(not set)",
      "AGENTS_FILE=(not set: one agent from these settings)",
      "TOOL_SECRET=(not set)",
      "TOOL_TIMEOUT_MS=8000 (default)",
      // Outbound calls (outbound_settings.hpp).
      "TWILIO_ACCOUNT_SID=(not set: no outbound calls)",
      "TWILIO_API_KEY_SID=(not set)",
      "TWILIO_API_KEY_SECRET=(not set)",
      "TWILIO_API_BASE=https://api.twilio.com (default)",
      "TWILIO_FROM=(not set)",
      "OUTBOUND_CALLS_PER_SECOND=1 (default)",
      "OUTBOUND_MAX_CONCURRENT=50 (default)",
  };
  CHECK(app::describe(*r) == defaults);

  auto custom = load({{"PORT", "8080"},
                      {"PUBLIC_URL", "https://bridge.example.com/"},
                      {"VAD_THRESHOLD", "0.7"},
                      {"INSTRUCTIONS", std::string(100, 'x') + "\nend"},
                      {"REALTIME_ENABLED", "no"},
                      {"CALLER_AUDIO_BATCH_MS", "60"},
                      {"ECHO_GUARD_MS", "800"}});
  REQUIRE(custom.has_value());
  const auto lines = app::describe(*custom);
  CHECK(lines.size() == defaults.size());
  CHECK(lines[0] == "PORT=8080");
  CHECK(lines[5] == "PUBLIC_URL=https://bridge.example.com");
  CHECK(lines[12] == "INSTRUCTIONS=" + std::string(80, 'x') + "… (104 chars)");
  CHECK(lines[15] == "VAD_THRESHOLD=0.7");
  CHECK(lines[17] == "CALLER_AUDIO_BATCH_MS=60");
  CHECK(lines[19] == "ECHO_GUARD_MS=800");
  CHECK(lines[29] == "REALTIME_ENABLED=false");
  for (const auto& l : lines) CHECK(l.find('\n') == std::string::npos);
}

TEST_CASE("call_config_from", "[server][settings]") {
  SECTION("defaults: only the session fields differ from a default call_config, and it validates") {
    auto r = load({});
    REQUIRE(r.has_value());
    const rtb::call_config c = app::call_config_from(*r);
    CHECK(rtb::validate(c).has_value());
    rtb::call_config expected;
    expected.openai.config.model = "gpt-realtime";
    expected.openai.config.voice = "marin";
    expected.openai.config.turn = rtb::openai::server_vad{};
    CHECK(c == expected);
  }
  SECTION("every mapped setting") {
    auto r = load({{"OPENAI_MODEL", "gpt-realtime-mini"},
                   {"VOICE", "cedar"},
                   {"INSTRUCTIONS", "Be brief."},
                   {"VAD_THRESHOLD", "0.8"},
                   {"SILENCE_DURATION_MS", "700"},
                   {"TRANSCRIPTION_MODEL", "gpt-4o-transcribe"},
                   {"GREETING", "Hi, this is Ada from Acme. How can I help?"},
                   {"CALLER_AUDIO_BATCH_MS", "60"},
                   {"BARGE_IN_MARGIN_MS", "5"},
                   {"ECHO_GUARD_MS", "1500"},
                   {"MIN_BARGE_IN_SPEECH_MS", "250"}});
    REQUIRE(r.has_value());
    const rtb::call_config c = app::call_config_from(*r);
    REQUIRE(rtb::validate(c).has_value());

    rtb::call_config expected;
    expected.openai.config.model = "gpt-realtime-mini";
    expected.openai.config.voice = "cedar";
    expected.openai.config.instructions = "Be brief.";
    rtb::openai::server_vad vad;
    vad.threshold = 0.8;
    vad.silence_duration_ms = 700;
    expected.openai.config.turn = vad;
    rtb::openai::transcription t;
    t.model = "gpt-4o-transcribe";
    expected.openai.config.input_transcription = t;
    expected.openai.greeting.how = rtb::openai::greeting::style::instructions;
    expected.openai.greeting.text = "Greet the caller by saying: Hi, this is Ada from Acme. How can I help?";
    expected.limits.caller_audio_batch = std::chrono::milliseconds{60};
    expected.barge_in.margin = std::chrono::milliseconds{5};
    expected.barge_in.echo_guard = std::chrono::milliseconds{1500};
    expected.barge_in.min_speech = std::chrono::milliseconds{250};
    CHECK(c == expected);
    // Spelled out, for the reader.
    const auto* v = std::get_if<rtb::openai::server_vad>(&c.openai.config.turn);
    REQUIRE(v != nullptr);
    CHECK(v->threshold == 0.8);
    CHECK(v->silence_duration_ms == 700);
    CHECK(v->interrupt_response);
    CHECK(c.openai.config.input_transcription->model == "gpt-4o-transcribe");
    CHECK(c.openai.config.input_transcription->language.empty());
  }
  SECTION("the range ends validate") {
    for (const auto& [t, ms, batch] :
         std::vector<std::tuple<std::string, std::string, std::string>>{{"0", "0", "40"}, {"1", "600000", "200"}}) {
      auto r = load({{"VAD_THRESHOLD", t},
                     {"SILENCE_DURATION_MS", ms},
                     {"CALLER_AUDIO_BATCH_MS", batch},
                     {"BARGE_IN_MARGIN_MS", batch == "40" ? "0" : "1000"},
                     {"ECHO_GUARD_MS", batch == "40" ? "0" : "10000"},
                     {"MIN_BARGE_IN_SPEECH_MS", batch == "40" ? "0" : "10000"}});
      REQUIRE(r.has_value());
      CHECK(rtb::validate(app::call_config_from(*r)).has_value());
    }
  }
}

TEST_CASE("incoming_call_twiml", "[server][settings]") {
  constexpr std::string_view decl = R"(<?xml version="1.0" encoding="UTF-8"?>)";
  SECTION("stream URL, parameters, <Say> first and the apology after <Connect>") {
    auto r = load({{"PUBLIC_URL", "https://bridge.example.com"},
                   {"SAY_FIRST", "Connecting you & yours."},
                   {"FALLBACK_SAY", "Sorry, try later."}});
    REQUIRE(r.has_value());
    CHECK(app::incoming_call_twiml(*r, {{"From", "+14155550100"}, {"CallSid", "CA1"}}) ==
          std::string(decl) +
              "<Response><Say>Connecting you &amp; yours.</Say>"
              R"(<Connect><Stream url="wss://bridge.example.com/media-stream">)"
              R"(<Parameter name="From" value="+14155550100"/><Parameter name="CallSid" value="CA1"/>)"
              "</Stream></Connect><Say>Sorry, try later.</Say></Response>");
  }
  SECTION("FALLBACK_DIAL replaces the apology") {
    auto r = load({{"PUBLIC_URL", "http://localhost:5050"}, {"STREAM_PATH", "/ws"}, {"FALLBACK_DIAL", "+14155550199"}});
    REQUIRE(r.has_value());
    CHECK(app::incoming_call_twiml(*r, {}) == std::string(decl) +
                                                  R"(<Response><Connect><Stream url="ws://localhost:5050/ws"/>)"
                                                  "</Connect><Dial>+14155550199</Dial></Response>");
  }
  SECTION("the default apology") {
    auto r = load({{"PUBLIC_URL", "https://b.example"}});
    REQUIRE(r.has_value());
    CHECK_THAT(app::incoming_call_twiml(*r, {}),
               Catch::EndsWith("</Connect><Say>Sorry, our assistant is not available right now. Please call again "
                               "later.</Say></Response>"));
  }
  SECTION("REALTIME_ENABLED=false answers with the fallback alone") {
    auto r = load({{"PUBLIC_URL", "https://b.example"}, {"SAY_FIRST", "Hi"}, {"REALTIME_ENABLED", "false"}});
    REQUIRE(r.has_value());
    CHECK(app::incoming_call_twiml(*r, {{"a", "b"}}) ==
          std::string(decl) +
              "<Response><Say>Sorry, our assistant is not available right now. Please call again later.</Say>"
              "</Response>");
    auto dial = load({{"FALLBACK_DIAL", "+14155550199"}, {"REALTIME_ENABLED", "0"}});
    REQUIRE(dial.has_value());
    CHECK(app::incoming_call_twiml(*dial, {}) == std::string(decl) + "<Response><Dial>+14155550199</Dial></Response>");
  }
}

TEST_CASE("process_env reads the process environment", "[server][settings]") {
  ::setenv("RTB_SETTINGS_TEST_VARIABLE", "value 1", 1);
  CHECK(app::process_env("RTB_SETTINGS_TEST_VARIABLE") == std::optional<std::string>("value 1"));
  ::unsetenv("RTB_SETTINGS_TEST_VARIABLE");
  CHECK_FALSE(app::process_env("RTB_SETTINGS_TEST_VARIABLE").has_value());
}

TEST_CASE("the operator's settings: DATABASE_URL, ADMIN_TOKEN, EVENTS_URL", "[server][settings]") {
  CHECK(load({{"DATABASE_URL", "off"}})->database_url == "off");
  CHECK(load({{"DATABASE_URL", "sqlite:data/x.db"}})->database_url == "sqlite:data/x.db");
  CHECK(load({{"EVENTS_URL", "https://events.example/hook"}})->events_url == "https://events.example/hook");
  CHECK(load({{"EVENTS_URL", "http://127.0.0.1:8080/hook"}}).has_value());
  CHECK(error_of({{"EVENTS_URL", "http://events.example/hook"}}) ==
        "EVENTS_URL must be an https:// URL (http:// only to a loopback host), not 'http://events.example/hook'");
  CHECK(error_of({{"DATABASE_URL", "mysql://db/calls"}}).starts_with("DATABASE_URL is not usable: "));
  // A PostgreSQL password never shows.
  const std::string url = "postgresql://bridge:hunter2-secret@db.example:5432/calls";
  auto r = load({{"DATABASE_URL", url}, {"ADMIN_TOKEN", "admin-CANARY-1234"}});
  REQUIRE(r.has_value());
  for (const auto& line : app::describe(*r)) {
    CHECK(line.find("hunter2") == std::string::npos);
    CHECK(line.find("admin-CANARY") == std::string::npos);
  }
}

TEST_CASE("the business line's settings: AGENTS_FILE is read and checked, TOOL_TIMEOUT_MS bounded, TOOL_SECRET hidden",
          "[settings]") {
  temp_file good(R"({"agents": {"front-desk": {"instructions": "Hello."}}})");
  auto r = load({{"AGENTS_FILE", good.path.string()}, {"TOOL_SECRET", "tool-secret-xyz"}, {"TOOL_TIMEOUT_MS", "2500"}});
  REQUIRE(r.has_value());
  CHECK(r->agents_file == good.path.string());
  CHECK(r->tool_timeout_ms == 2500);
  for (const auto& line : app::describe(*r)) CHECK(line.find("tool-secret-xyz") == std::string::npos);

  temp_file bad(R"({"agents": {"front-desk": {"voice": 7}}})");
  CHECK(error_of({{"AGENTS_FILE", bad.path.string()}}) == bad.path.string() + ": agents.front-desk.voice: must be a string");
  CHECK(error_of({{"AGENTS_FILE", "/nonexistent/agents.json"}}).starts_with("AGENTS_FILE /nonexistent/agents.json cannot be read"));
  CHECK(error_of({{"TOOL_TIMEOUT_MS", "50"}}) == "TOOL_TIMEOUT_MS must be a number of milliseconds from 100 to 120000, not '50'");
}

TEST_CASE("operating several instances: DRAIN_NOTICE_SECONDS, INSTANCE_NAME, METRICS_ENABLED", "[server][settings]") {
  auto defaults = load({});
  REQUIRE(defaults.has_value());
  CHECK(defaults->drain_notice == std::chrono::seconds(0));
  CHECK(defaults->instance_name.empty());
  CHECK(defaults->metrics_enabled);

  auto set = load({{"DRAIN_NOTICE_SECONDS", "6"}, {"INSTANCE_NAME", "bridge-a.eu_1"}, {"METRICS_ENABLED", "false"}});
  REQUIRE(set.has_value());
  CHECK(set->drain_notice == std::chrono::seconds(6));
  CHECK(set->instance_name == "bridge-a.eu_1");
  CHECK_FALSE(set->metrics_enabled);
  const auto lines = app::describe(*set);
  CHECK(std::find(lines.begin(), lines.end(), "DRAIN_NOTICE_SECONDS=6") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "INSTANCE_NAME=bridge-a.eu_1") != lines.end());

  auto flags = load({}, {"--drain-notice-seconds=10", "--instance-name", "b"});
  REQUIRE(flags.has_value());
  CHECK(flags->drain_notice == std::chrono::seconds(10));
  CHECK(flags->instance_name == "b");

  CHECK(error_of({{"DRAIN_NOTICE_SECONDS", "301"}}) ==
        "DRAIN_NOTICE_SECONDS must be a number of seconds from 0 to 300, not '301'");
  CHECK(error_of({{"INSTANCE_NAME", "a b"}}) ==
        "INSTANCE_NAME must be letters, digits, '.', '-' and '_', at most 64, not 'a b'");
  CHECK(error_of({{"INSTANCE_NAME", std::string(65, 'a')}}).starts_with("INSTANCE_NAME must be letters"));
  CHECK(error_of({{"METRICS_ENABLED", "maybe"}}) == "METRICS_ENABLED must be true or false (or 1/0, yes/no), not 'maybe'");
}
