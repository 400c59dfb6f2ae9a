// fake-twilio: one simulated Twilio caller against a bridge's media-stream
// endpoint. It says something (espeak-ng when installed, else a synthetic
// speech-like signal), listens for --seconds, hangs up (stop + close 1000)
// and prints what happened; --wav writes what the caller heard.
//
//   fake-twilio --url ws://127.0.0.1:5050/media-stream --say-text "What time is it?" --seconds 8 --wav heard.wav
#include <fmt/core.h>
#include <libwebsockets.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "peers/fake_twilio.hpp"
#include "peers/mulaw.hpp"

namespace {

std::atomic<bool> interrupted{false};
extern "C" void on_signal(int) { interrupted = true; }

void usage(FILE* out) {
  fmt::print(out,
             "usage: fake-twilio --url ws://HOST:PORT/PATH [options]\n"
             "  --url URL             the bridge's stream endpoint (ws:// or wss://)\n"
             "  --signature SIG       send X-Twilio-Signature: SIG on the upgrade\n"
             "  --say-text TEXT       what the caller says first (default: \"Hello, can you hear me?\")\n"
             "  --seconds N           listen this long after speaking, then hang up (default 10)\n"
             "  --wav FILE            write what the caller heard (µ-law 8 kHz WAV)\n"
             "  --param NAME=VALUE    a <Parameter> for start.customParameters (repeatable)\n"
             "  --playout-delay-ms N  playback starts N ms after audio arrives (default 0)\n"
             "  --synthetic           use the synthetic speech signal even if espeak-ng is installed\n"
             "  --self-signed         wss://: accept a self-signed certificate for any host name\n"
             "  --verbose             lws warnings and notices on stderr\n");
}

std::optional<long> to_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const std::string copy(s);
  const long v = std::strtol(copy.c_str(), &end, 10);
  if (end == nullptr || *end != '\0' || v < 0) return std::nullopt;
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rtb::peers;
  using namespace std::chrono_literals;

  caller_options options;
  std::string text = "Hello, can you hear me?";
  std::string wav;
  long seconds = 10;
  bool synthetic = false;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else if (arg == "--synthetic") {
      synthetic = true;
      continue;
    } else if (arg == "--verbose") {
      verbose = true;
      continue;
    } else if (arg == "--self-signed") {
      options.tls_allow_self_signed = true;
      continue;
    }
    if (arg != "--url" && arg != "--signature" && arg != "--say-text" && arg != "--seconds" && arg != "--wav" &&
        arg != "--param" && arg != "--playout-delay-ms") {
      fmt::print(stderr, "fake-twilio: unknown option {}\n", arg);
      usage(stderr);
      return 2;
    }
    v = value();
    if (!v) {
      fmt::print(stderr, "fake-twilio: {} needs a value\n", arg);
      usage(stderr);
      return 2;
    }
    if (arg == "--url") {
      options.url = *v;
    } else if (arg == "--signature") {
      options.signature = *v;
    } else if (arg == "--say-text") {
      text = *v;
    } else if (arg == "--seconds") {
      auto n = to_number(*v);
      if (!n) {
        fmt::print(stderr, "fake-twilio: bad --seconds {}\n", *v);
        return 2;
      }
      seconds = *n;
    } else if (arg == "--wav") {
      wav = *v;
    } else if (arg == "--param") {
      const auto eq = v->find('=');
      if (eq == std::string::npos) {
        fmt::print(stderr, "fake-twilio: --param wants NAME=VALUE\n");
        return 2;
      }
      options.parameters.emplace_back(v->substr(0, eq), v->substr(eq + 1));
    } else if (arg == "--playout-delay-ms") {
      auto n = to_number(*v);
      if (!n) {
        fmt::print(stderr, "fake-twilio: bad --playout-delay-ms {}\n", *v);
        return 2;
      }
      options.playout_delay = std::chrono::milliseconds(*n);
    }
  }
  if (options.url.empty()) {
    usage(stderr);
    return 2;
  }
  lws_set_log_level(verbose ? LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR, nullptr);

  mulaw_bytes speech;
  std::string source = "synthetic speech";
  if (!text.empty() && !synthetic) {
    if (auto spoken = espeak(text)) {
      speech = std::move(*spoken);
      source = "espeak-ng";
    }
  }
  if (speech.empty()) speech = synthetic_speech(static_cast<int>(std::max<std::size_t>(text.size(), 10) * 70), 1);
  fmt::print("saying {:.1f} s of {}: \"{}\"\n", static_cast<double>(speech.size()) / 8000.0, source, text);

  options.script = {step::say{std::move(speech)}, step::pause{std::chrono::seconds(seconds)}, step::hang_up{}};

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  call_result r;
  {
    caller_pool pool(caller_pool_options{.tls = options.url.rfind("wss://", 0) == 0});
    const int id = pool.start_call(options);
    const auto limit = std::chrono::steady_clock::now() + options.connect_timeout + std::chrono::seconds(seconds) + 60s;
    while (!pool.wait(id, 100ms)) {
      if (interrupted) {
        fmt::print("interrupted: hanging up\n");
        break;
      }
      if (std::chrono::steady_clock::now() > limit) {
        fmt::print("the call did not end in time: hanging up\n");
        break;
      }
    }
    r = pool.result(id);
  }  // the pool hangs up a call still open

  fmt::print("call {}  stream {}\n", r.call_sid, r.stream_sid);
  if (!r.connected) {
    if (r.refused_status != 0)
      fmt::print("upgrade refused: HTTP {} ({})\n", r.refused_status, r.error);
    else
      fmt::print("could not connect: {}\n", r.error.empty() ? "unknown error" : r.error);
    return 1;
  }
  fmt::print("connected; ended by {}", r.closed_by_bridge ? "the bridge" : "the caller");
  if (r.close_code != 0) fmt::print(" (close {} \"{}\")", r.close_code, r.close_reason);
  if (!r.error.empty()) fmt::print(" [{}]", r.error);
  fmt::print("\n");
  fmt::print("sent      {} media frames ({:.1f} s)\n", r.frames_sent, static_cast<double>(r.frames_sent) * 0.02);
  fmt::print("received  {} media messages, {:.1f} s of audio, {} marks ({} echoed), {} clears\n", r.media_received,
             static_cast<double>(r.audio_bytes_received) / 8000.0, r.marks_received, r.marks_echoed, r.clears);
  fmt::print("heard     {:.1f} s of audio\n", static_cast<double>(r.heard_audio.size()) / 8000.0);
  for (std::size_t i = 0; i < r.heard_at_clears.size(); ++i)
    fmt::print("clear {}   after {} ms of the answer\n", i + 1, r.heard_at_clears[i]);
  for (const auto& l : r.response_latencies) fmt::print("latency   {} ms from end of speech to AI audio\n", l.count());
  if (r.response_latencies.empty()) fmt::print("latency   no AI audio after the caller spoke\n");
  fmt::print("violations {}\n", r.violations.size());
  for (const auto& v : r.violations) fmt::print("  {}\n", v);
  if (!wav.empty()) {
    if (write_wav(wav, r.heard_audio))
      fmt::print("wrote {}\n", wav);
    else
      fmt::print(stderr, "fake-twilio: cannot write {}\n", wav);
  }
  return r.violations.empty() ? 0 : 1;
}
