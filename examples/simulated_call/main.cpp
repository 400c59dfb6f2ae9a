// simulated-call: one whole phone call through the real bridge, with no
// Twilio and no OpenAI account. On loopback:
//
//   fake caller (Twilio's side)  ->  realtime_bridge server  ->  fake OpenAI Realtime
//
// The server's application answers as the front-desk agent of
// examples/agents.json (its tool pointed at a local tool server): the caller
// asks two questions, the AI looks an order up with the agent's HTTP tool,
// the caller interrupts its long answer (barge-in), and the AI says goodbye
// and hangs up (end_call): the bridge ends the call once the goodbye has
// played, and Twilio's <Connect action> request gets <Hangup/>. Voices come
// from espeak-ng when it is installed, else from synthetic speech and tones.
// Prints the call as it happens and a summary; writes what the caller heard
// as a WAV file and the call's trace (replayable with examples/replay).
//
//   simulated-call [--out DIR] [--agents FILE]   (default: out/simulated-call, examples/agents.json)
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "peers/fake_http_server.hpp"
#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"
#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/trace.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "realtime_bridge/service/store.hpp"
#include "server/app.hpp"

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

// The reference server's application (agents, tools, call control), with
// the call's events printed as they happen.
class demo_host final : public lws_adapter::application {
 public:
  demo_host(std::shared_ptr<server_app::bridge_app> app, std::string trace_path)
      : app_(std::move(app)), trace_path_(std::move(trace_path)) {}

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

  lws_adapter::http_response on_http(const lws_adapter::http_request& request) override {
    return app_->on_http(request);
  }
  void on_pending_response(lws_adapter::pending_response pending, const lws_adapter::http_request& request) override {
    app_->on_pending_response(std::move(pending), request);
  }
  void on_event_stream(lws_adapter::event_stream stream, const lws_adapter::http_request& request) override {
    app_->on_event_stream(std::move(stream), request);
  }
  std::optional<call_config> config_for_call(const lws_adapter::stream_request& request) override {
    return app_->config_for_call(request);
  }
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
    // Prints each event, then hands it to the server's agent.
    struct printer final : call_observer {
      printer(demo_host& h, std::unique_ptr<call_observer> a) : host(h), agent(std::move(a)) {}
      void on_stream_started(const to_host::stream_started& e) override {
        say("bridge", fmt::format("call {} connected (stream {})", e.call_sid, e.stream_sid));
        agent->on_stream_started(e);
      }
      void on_session_ready(const to_host::session_ready& e) override {
        say("bridge", "AI session configured");
        agent->on_session_ready(e);
      }
      void on_caller_transcript(const to_host::caller_transcript& e) override {
        say("caller", fmt::format("\"{}\"", e.text));
        agent->on_caller_transcript(e);
      }
      void on_ai_transcript(const to_host::ai_transcript& e) override {
        say("AI", fmt::format("\"{}\"", e.text));
        agent->on_ai_transcript(e);
      }
      void on_ai_interrupted(const to_host::ai_interrupted& e) override {
        say("bridge",
            fmt::format("barge-in: the caller heard {} ms of {} ms sent; the rest is cut from the AI's memory",
                        e.heard_ms, e.sent_ms));
        {
          const std::lock_guard lock(host.mutex);
          host.heard_ms = e.heard_ms;
          host.sent_ms = e.sent_ms;
        }
        agent->on_ai_interrupted(e);
      }
      void on_dtmf(const to_host::dtmf& e) override { agent->on_dtmf(e); }
      void on_playout_finished(const to_host::playout_finished& e) override { agent->on_playout_finished(e); }
      void on_tool_call(const to_host::tool_call& e) override {
        say("AI", fmt::format("calls {}({})", e.name, e.arguments));
        agent->on_tool_call(e);
      }
      void on_warning(const to_host::warning& e) override {
        say("warning", e.detail);
        agent->on_warning(e);
      }
      void on_call_ended(const call_summary& s) override {
        say("bridge", fmt::format("call ended: {} {}", to_string(s.reason), s.detail));
        {
          const std::lock_guard lock(host.mutex);
          host.counters = s.counters;
          host.ended = true;
        }
        agent->on_call_ended(s);
      }
      demo_host& host;
      std::unique_ptr<call_observer> agent;
    };
    return std::make_unique<printer>(*this, app_->observer_for_call(std::move(control)));
  }

  std::mutex mutex;
  call_counters counters;
  bool ended = false;
  std::int64_t heard_ms = 0;
  std::int64_t sent_ms = 0;

 private:
  std::shared_ptr<server_app::bridge_app> app_;
  std::string trace_path_;
};

/// The agents file with its tools' URLs pointed at the local tool server.
std::string local_agents(const std::string& path, const std::string& tool_url, std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot read " + path;
    return {};
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string remote = "https://crm.example.com/tools/lookup_order";
  for (auto at = text.find(remote); at != std::string::npos; at = text.find(remote, at + tool_url.size()))
    text.replace(at, remote.size(), tool_url);
  return text;
}

/// One plain HTTP exchange with the server on loopback; the response's body.
std::string http_exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    timeval tv{3, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0 && out.size() < 65536;) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body_at = out.find("\r\n\r\n");
  return body_at == std::string::npos ? out : out.substr(body_at + 4);
}

/// Twilio's request to <Connect action> when the stream has ended, signed
/// as Twilio signs it: the public URL and the form parameters.
std::string ask_what_next(int port, const std::string& public_url, std::string_view token,
                          const std::string& call_sid) {
  const std::string body = "CallSid=" + call_sid;
  const std::string signature =
      twilio::compute_signature(token, public_url + "/call-ended", {{"CallSid", call_sid}});
  return http_exchange(port, fmt::format("POST /call-ended HTTP/1.1\r\nHost: localhost\r\nX-Twilio-Signature: {}\r\n"
                                         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n"
                                         "\r\n{}",
                                         signature, body.size(), body));
}

constexpr std::string_view admin_token = "simulated-admin-token";

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = "out/simulated-call";
  std::string agents_path = "examples/agents.json";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--out") out_dir = argv[i + 1];
    if (std::string_view(argv[i]) == "--agents") agents_path = argv[i + 1];
  }
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
       std::pair<std::string, std::string>{"lookup_order", R"({"order":"48217"})"}, false},
      {status, voice(status, "en-us+f3", 14, 9000), 0, std::nullopt, false},
      // The goodbye, then the model hangs up: the bridge waits until it has played.
      {goodbye, voice(goodbye, "en-us+f3", 15, 2000), 0,
       std::pair<std::string, std::string>{"end_call", R"({"reason":"the caller has what they needed"})"}, false},
  };
  fo.caller_transcripts = {"What time do you close today?", "Where is my order four eight two one seven?",
                           "Great, thanks, that's all I needed."};
  peers::fake_openai openai(fo);

  // The agent's tool server, on loopback: the CRM that knows the orders.
  peers::fake_http_server crm;
  crm.on("/tools/lookup_order", [](const peers::recorded_request& r) {
    say("CRM", fmt::format("lookup_order request: {}", r.body));
    return peers::http_reply{peers::http_reply::behaviour::answer, 200, "application/json",
                             R"({"order":"48217","status":"shipped","carrier":"UPS","eta":"tomorrow"})"};
  });
  std::string why;
  const std::string agents_text = local_agents(agents_path, crm.url("/tools/lookup_order"), why);
  if (agents_text.empty()) {
    std::fprintf(stderr, "simulated-call: %s (run it from the project's root, or give --agents)\n", why.c_str());
    return 1;
  }
  const std::string agents_file = out_dir + "/agents.json";
  std::ofstream(agents_file) << agents_text;

  // The server's application, configured as an operator would, and the
  // bridge under it pointed at the fake OpenAI.
  server_app::settings settings;
  settings.twilio_auth_token = std::string(demo_host::auth_token);  // every request is signed, as Twilio does
  settings.agents_file = agents_file;
  settings.tool_secret = "simulated-tool-secret";
  settings.public_url = "https://bridge.example.com";
  if (auto profiles = server_app::load_profiles(agents_file); !profiles) {
    std::fprintf(stderr, "simulated-call: %s\n", profiles.error().message.c_str());
    return 1;
  }
  // Recorded like a server's calls: in the default SQLite store, with the
  // calls API and page on (ADMIN_TOKEN).
  settings.admin_token = std::string(admin_token);
  const auto database = service::parse_database_url("");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(database->target).parent_path(), ec);
  auto store = service::open_call_store(*database);
  if (!store) {
    std::fprintf(stderr, "simulated-call: the call store %s: %s\n", database->redacted().c_str(),
                 store.error().message.c_str());
    return 1;
  }
  auto app = std::make_shared<server_app::bridge_app>(settings, std::move(*store));
  app->set_call_log([](const lws_adapter::log_record& r) { say("agent", r.message); });
  auto host = std::make_shared<demo_host>(app, out_dir + "/call-trace.jsonl");
  lws_adapter::server_options so;
  so.bind_address = "127.0.0.1";
  so.port = 0;
  so.openai.url = openai.url();
  so.openai.api_key = "sk-simulated";
  so.call = server_app::call_config_from(settings);
  so.log = lws_adapter::stderr_log(lws_adapter::log_level::warning);
  auto started = lws_adapter::server::start(so, host);
  if (!started) {
    std::fprintf(stderr, "simulated-call: %s\n", started.error().message.c_str());
    return 1;
  }
  auto server = std::move(*started);
  app->attach(server.get());
  std::printf("recording the call in %s; while it runs: http://127.0.0.1:%d/calls (token %.*s)\n\n",
              database->target.c_str(), server->port(), static_cast<int>(admin_token.size()), admin_token.data());

  // The caller.
  peers::caller_pool callers;
  peers::caller_options co;
  co.url = fmt::format("ws://127.0.0.1:{}/media-stream", server->port());
  host->stream_url = co.url;
  co.signature = twilio::compute_signature(demo_host::auth_token, co.url, {});  // as Twilio signs the upgrade
  // Each run is a call of its own in the store.
  co.call_sid = fmt::format("CA{:032x}", static_cast<unsigned long long>(
                                             std::chrono::system_clock::now().time_since_epoch().count()));
  // What the webhook puts into the stream's <Parameter>s: the number called picks the agent.
  co.parameters = {{"From", "+14155550100"}, {"To", "+15551230001"}, {"CallSid", co.call_sid}};
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
      // The goodbye plays; the bridge ends the call (the caller does not hang up).
      peers::step::wait_for_ai_audio{0ms, 10s},
      peers::step::wait_for_ai_silence{20s},
      peers::step::pause{10s},
  };
  const int id = callers.start_call(co);
  const bool finished = callers.wait(id, 120s);
  server->stop_accepting();
  server->wait_idle(5s);
  const auto caller = callers.result(id);
  // Twilio, told the stream ended, asks the <Connect action> URL what next.
  const std::string next = ask_what_next(server->port(), settings.public_url, demo_host::auth_token, co.call_sid);
  say("Twilio", fmt::format("<Connect action> answered: {}", next));
  if (app->store()) (void)app->store()->flush(std::chrono::seconds(5));
  const std::string record =
      http_exchange(server->port(), fmt::format("GET /api/calls/{} HTTP/1.1\r\nHost: localhost\r\nAuthorization: "
                                                "Bearer {}\r\n\r\n",
                                                co.call_sid, admin_token));

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
  std::printf("  ended by:           %s\n",
              caller.closed_by_bridge ? "the bridge, after the AI's goodbye (end_call)" : "the caller");
  if (caller.close_after_playout)
    std::printf("  hang-up delay:      %lld ms after the goodbye's last audio finished playing\n",
                static_cast<long long>(caller.close_after_playout->count()));
  std::printf("  what Twilio does:   %s\n", next.find("<Hangup/>") != std::string::npos ? "hangs up" : next.c_str());
  for (std::size_t i = 0; i < caller.response_latencies.size(); ++i)
    std::printf("  latency, turn %zu:    %lld ms from the end of the caller's speech to the AI's first audio\n", i + 1,
                static_cast<long long>(caller.response_latencies[i].count()));
  std::printf("  Twilio-side checks: %zu message(s) Twilio would reject\n", caller.violations.size());
  std::printf("  the call's record:  %zu bytes of JSON from GET /api/calls/%s (%s)\n", record.size(),
              co.call_sid.c_str(), record.find("\"end_reason\":\"host_ended\"") != std::string::npos
                                        ? "ended host_ended, with its conversation"
                                        : "not found");
  std::printf("\nfiles\n  %s/heard-by-caller.wav   what the caller heard (µ-law, 8 kHz)\n", out_dir.c_str());
  std::printf("  %s/call-trace.jsonl      the call's trace: build/release/examples/replay %s/call-trace.jsonl\n",
              out_dir.c_str(), out_dir.c_str());
  std::printf("  %s                  every simulated call's record (the server's default store)\n",
              database->target.c_str());
  server->stop();
  app->attach(nullptr);
  return finished && caller.finished && caller.closed_by_bridge && caller.violations.empty() &&
                 next.find("<Hangup/>") != std::string::npos
             ? 0
             : 1;
}
