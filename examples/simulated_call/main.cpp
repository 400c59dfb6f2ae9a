// simulated-call: one whole phone call through the real bridge, with no
// Twilio and no OpenAI account. On loopback:
//
//   fake caller (Twilio's side)  ->  realtime_bridge server  ->  fake OpenAI Realtime
//
// The caller asks two questions, the AI looks an order up with a tool call,
// and the caller interrupts its long answer (barge-in). Voices come from
// espeak-ng when it is installed, else from synthetic speech and tones.
// Prints the call as it happens and a summary; writes what the caller heard
// as a WAV file and the call's trace (replayable with examples/replay).
//
//   simulated-call [--out DIR]      (default: out/simulated-call)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"
#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/trace.hpp"
#include "realtime_bridge/twilio/signature.hpp"

using namespace rtb;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;
const steady::time_point t0 = steady::now();

void say(std::string_view who, std::string_view what) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
  std::printf("%6.2f s  %-7s %.*s\n", static_cast<double>(ms) / 1000.0, std::string(who).c_str(),
              static_cast<int>(what.size()), what.data());
  std::fflush(stdout);
}

peers::mulaw_bytes voice(const std::string& text, const std::string& espeak_voice, unsigned seed, int fallback_ms) {
  if (auto audio = peers::espeak(text, espeak_voice)) return std::move(*audio);
  return peers::synthetic_speech(fallback_ms, seed);
}

// Prints the call's events and answers the tool call, like a host product would.
class demo_host final : public lws_adapter::application {
 public:
  explicit demo_host(std::string trace_path) : trace_path_(std::move(trace_path)) {}

  /// The stream URL callers must sign (known once the server has its port).
  std::string stream_url;
  /// Like the reference server: a stream without Twilio's signature over its
  /// URL is refused before any AI session opens.
  std::optional<lws_adapter::http_response> check_stream(const lws_adapter::stream_request& request) override {
    if (twilio::validate_signature(auth_token, request.twilio_signature, stream_url, {})) return std::nullopt;
    say("bridge", "refused a media stream without a valid signature");
    return lws_adapter::http_response{403, "text/plain", "invalid or missing X-Twilio-Signature\n"};
  }
  static constexpr std::string_view auth_token = "simulated-twilio-auth-token";

  std::unique_ptr<trace_sink> trace_for_call(const lws_adapter::stream_request&) override {
    struct file_sink final : trace_sink {
      explicit file_sink(const std::string& path) : file(path), sink(file) {}
      void write_line(std::string_view line) override { sink.write_line(line); }
      std::ofstream file;
      ostream_trace_sink sink;
    };
    return std::make_unique<file_sink>(trace_path_);
  }

  std::unique_ptr<call_observer> observer_for_call(lws_adapter::call_handle control) override {
    struct printer final : call_observer {
      printer(demo_host& h, lws_adapter::call_handle c) : host(h), control(std::move(c)) {}
      void on_stream_started(const to_host::stream_started& e) override {
        say("bridge", fmt::format("call {} connected (stream {})", e.call_sid, e.stream_sid));
      }
      void on_session_ready(const to_host::session_ready&) override { say("bridge", "AI session configured"); }
      void on_caller_transcript(const to_host::caller_transcript& e) override {
        say("caller", fmt::format("\"{}\"", e.text));
      }
      void on_ai_transcript(const to_host::ai_transcript& e) override { say("AI", fmt::format("\"{}\"", e.text)); }
      void on_ai_interrupted(const to_host::ai_interrupted& e) override {
        say("bridge",
            fmt::format("barge-in: the caller heard {} ms of {} ms sent; the rest is cut from the AI's memory",
                        e.heard_ms, e.sent_ms));
        const std::lock_guard lock(host.mutex);
        host.heard_ms = e.heard_ms;
        host.sent_ms = e.sent_ms;
      }
      void on_tool_call(const to_host::tool_call& e) override {
        say("host", fmt::format("tool call {}({}) -> answering", e.name, e.arguments));
        (void)control.submit_tool_result(e.call_id,
                                   R"({"order":"48217","status":"shipped","carrier":"UPS","eta":"tomorrow"})");
      }
      void on_warning(const to_host::warning& e) override { say("warning", e.detail); }
      void on_call_ended(const call_summary& s) override {
        say("bridge", fmt::format("call ended: {}", to_string(s.reason)));
        const std::lock_guard lock(host.mutex);
        host.counters = s.counters;
        host.ended = true;
      }
      demo_host& host;
      lws_adapter::call_handle control;
    };
    return std::make_unique<printer>(*this, std::move(control));
  }

  std::mutex mutex;
  call_counters counters;
  bool ended = false;
  std::int64_t heard_ms = 0;
  std::int64_t sent_ms = 0;

 private:
  std::string trace_path_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = "out/simulated-call";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--out") out_dir = argv[i + 1];
  std::filesystem::create_directories(out_dir);
  const bool espeak = peers::espeak_available();
  std::printf("simulated call: fake caller -> realtime_bridge -> fake OpenAI, all on loopback (%s)\n\n",
              espeak ? "voices by espeak-ng" : "espeak-ng not installed: synthetic voices");

  // The fake model's answers, in order.
  const std::string greeting = "Hi! Thanks for calling Acme Outfitters. How can I help you today?";
  const std::string hours = "We are open until eight P M tonight. Is there anything else?";
  const std::string checking = "Let me check that for you.";
  const std::string status =
      "Your order four eight two one seven has shipped with U P S and should arrive tomorrow. You can track it on our "
      "website, and if anything goes wrong with the delivery, just call us again and we will sort it out.";
  const std::string goodbye = "You're welcome. Have a great day, goodbye!";
  peers::fake_openai_options fo;
  fo.script = {
      {greeting, voice(greeting, "en-us+f3", 11, 3000), 0, std::nullopt, false},
      {hours, voice(hours, "en-us+f3", 12, 3000), 0, std::nullopt, false},
      {checking, voice(checking, "en-us+f3", 13, 1200), 0,
       std::pair<std::string, std::string>{"get_order_status", R"({"order_number":"48217"})"}, false},
      {status, voice(status, "en-us+f3", 14, 9000), 0, std::nullopt, false},
      {goodbye, voice(goodbye, "en-us+f3", 15, 2000), 0, std::nullopt, false},
  };
  fo.caller_transcripts = {"What time do you close today?", "Where is my order four eight two one seven?",
                           "Great, thanks, that's all I needed."};
  peers::fake_openai openai(fo);

  // The bridge, exactly as the server runs it, pointed at the fake.
  auto host = std::make_shared<demo_host>(out_dir + "/call-trace.jsonl");
  lws_adapter::server_options so;
  so.bind_address = "127.0.0.1";
  so.port = 0;
  so.openai.url = openai.url();
  so.openai.api_key = "sk-simulated";
  so.call.openai.config.instructions = "You are the phone assistant for Acme Outfitters.";
  so.call.openai.config.input_transcription = openai::transcription{};
  so.call.openai.config.tools.push_back({"get_order_status", "Look up an order's shipping status.",
                                         R"({"type":"object","properties":{"order_number":{"type":"string"}}})"});
  so.call.openai.greeting = {openai::greeting::style::instructions, "Greet the caller and offer help."};
  so.log = lws_adapter::stderr_log(lws_adapter::log_level::warning);
  auto started = lws_adapter::server::start(so, host);
  if (!started) {
    std::fprintf(stderr, "simulated-call: %s\n", started.error().message.c_str());
    return 1;
  }
  auto server = std::move(*started);

  // The caller.
  peers::caller_pool callers;
  peers::caller_options co;
  co.url = fmt::format("ws://127.0.0.1:{}/media-stream", server->port());
  host->stream_url = co.url;
  co.signature = twilio::compute_signature(demo_host::auth_token, co.url, {});  // as Twilio signs the upgrade
  co.playout_delay = 60ms;
  co.script = {
      peers::step::wait_for_ai_audio{0ms, 10s},
      peers::step::wait_for_ai_silence{20s},
      peers::step::say{voice(fo.caller_transcripts[0], "en-us", 1, 1600)},
      peers::step::wait_for_ai_audio{0ms, 10s},
      peers::step::wait_for_ai_silence{20s},
      peers::step::say{voice(fo.caller_transcripts[1], "en-us", 2, 2000)},
      // "Let me check" plays, the tool runs, the long answer follows straight
      // on; about three seconds into it the caller talks over it.
      peers::step::wait_for_ai_audio{5000ms, 10s},
      peers::step::say{voice(fo.caller_transcripts[2], "en-us", 3, 1500)},
      peers::step::wait_for_ai_audio{0ms, 10s},
      peers::step::wait_for_ai_silence{20s},
      peers::step::pause{500ms},
      peers::step::hang_up{},
  };
  const int id = callers.start_call(co);
  const bool finished = callers.wait(id, 120s);
  server->stop_accepting();
  server->wait_idle(5s);
  const auto caller = callers.result(id);

  peers::write_wav(out_dir + "/heard-by-caller.wav", caller.heard_audio);
  std::printf("\nsummary\n");
  std::printf("  finished:           %s\n", finished && caller.finished ? "yes" : "NO (timed out)");
  {
    const std::lock_guard lock(host->mutex);
    const call_counters& c = host->counters;
    std::printf("  AI responses:       %llu\n", static_cast<unsigned long long>(c.openai.responses));
    std::printf("  frames relayed:     caller->AI %llu, AI->caller %llu\n",
                static_cast<unsigned long long>(c.caller_frames_forwarded),
                static_cast<unsigned long long>(c.playout.media_sent));
    std::printf(
        "  barge-ins:          %llu (the caller heard %lld ms of the %lld ms answer; the model keeps only that)\n",
        static_cast<unsigned long long>(c.playout.barge_ins), static_cast<long long>(host->heard_ms),
        static_cast<long long>(host->sent_ms));
    std::printf("  late audio dropped: %llu chunk(s) of the interrupted answer never reached the caller\n",
                static_cast<unsigned long long>(c.playout.late_deltas_dropped));
  }
  for (std::size_t i = 0; i < caller.response_latencies.size(); ++i)
    std::printf("  latency, turn %zu:    %lld ms from the end of the caller's speech to the AI's first audio\n", i + 1,
                static_cast<long long>(caller.response_latencies[i].count()));
  std::printf("  Twilio-side checks: %zu message(s) Twilio would reject\n", caller.violations.size());
  std::printf("\nfiles\n  %s/heard-by-caller.wav   what the caller heard (µ-law, 8 kHz)\n", out_dir.c_str());
  std::printf("  %s/call-trace.jsonl      the call's trace: build/release/examples/replay %s/call-trace.jsonl\n",
              out_dir.c_str(), out_dir.c_str());
  server->stop();
  return finished && caller.finished && caller.violations.empty() ? 0 : 1;
}
