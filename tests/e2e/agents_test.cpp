// The business line end to end, over loopback: the reference server's
// application with an agents file, a fake caller, the fake OpenAI and a fake
// tool server. A profile is chosen per call, its tools are called over HTTP,
// and the model's end_call and transfer_call end the call once their goodbye
// has played, after which Twilio's <Connect action> request gets <Hangup/> or
// <Dial>.
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "e2e_support.hpp"
#include "peers/child_process.hpp"
#include "peers/fake_http_server.hpp"
#include "peers/test_ca.hpp"
#include "raw_client.hpp"
#include "realtime_bridge/service/http_tools.hpp"
#include "realtime_bridge/service/store.hpp"
#include "server/app.hpp"

using namespace rtb;
using namespace rtb::e2e;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view tool_secret = "tool-secret-5150";

std::string agents_json(const std::string& tool_url) {
  return fmt::format(R"({{"default": "front-desk",
 "agents": {{
  "front-desk": {{"instructions": "You answer the phone for Acme. The caller is {{{{From}}}}.",
                 "greeting": "Hello, Acme here.", "numbers": ["+15551230001"],
                 "tools": [{{"name": "lookup_order", "description": "Look an order up.",
                            "parameters": {{"type": "object", "properties": {{"order": {{"type": "string"}}}}}},
                            "url": "{}"}}],
                 "transfer_to": "+15550009999", "dtmf_to_model": true}},
  "sales": {{"instructions": "You sell.", "model": "gpt-realtime-mini", "idle_timeout_seconds": 1}}
 }}}})",
                     tool_url);
}

/// The server's application with an agents file in a fresh directory; its
/// agents' lines (with the calls' sids) are kept.
struct line_under_test {
  explicit line_under_test(peers::fake_openai& openai, const std::string& tool_url,
                           std::chrono::milliseconds tool_timeout = 8000ms, std::string ca_file = {},
                           std::unique_ptr<service::call_store> store = nullptr)
      : dir(fs::temp_directory_path() / fmt::format("rtb-agents-{}-{}", ::getpid(), counter++)) {
    fs::create_directories(dir);
    std::ofstream(dir / "agents.json") << agents_json(tool_url);
    server_app::settings s;
    s.allow_unsigned = true;
    s.public_url = "https://bridge.example.com";
    s.agents_file = (dir / "agents.json").string();
    s.tool_secret = std::string(tool_secret);
    s.tool_timeout_ms = static_cast<int>(tool_timeout.count());
    app = std::make_shared<server_app::bridge_app>(s, std::move(store));
    app->set_call_log([this](const lws_adapter::log_record& r) {
      const std::lock_guard lock(mutex);
      lines.push_back(fmt::format("[{} {}] {}", r.call_sid, r.stream_sid, r.message));
    });
    b = std::make_unique<bridge>(openai, app, bridge::default_config(), [&](lws_adapter::server_options& o) {
      o.log = {};
      o.openai.ca_file = ca_file;  // the CA tools over https are verified against, as OpenAI is
    });
    app->attach(b->server.get());
  }
  ~line_under_test() {
    app->attach(nullptr);
    b.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  /// The server's /metrics text (with headers).
  std::string metrics() const {
    raw_client c(b->server->port());
    c.send("GET /metrics HTTP/1.1\r\nHost: bridge.example.com\r\nConnection: close\r\n\r\n");
    bool closed = false;
    return c.read_all(5s, closed);
  }
  /// What Twilio's <Connect action> request for `call_sid` gets.
  std::string action_answer(const std::string& call_sid) const {
    return action_answer_from(*b, call_sid);
  }
  static std::string action_answer_from(const bridge& to, const std::string& call_sid) {
    const std::string body = "CallSid=" + call_sid + "&CallStatus=in-progress";
    raw_client c(to.server->port());
    c.send(fmt::format("POST /call-ended HTTP/1.1\r\nHost: bridge.example.com\r\nContent-Type: "
                       "application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
                       body.size(), body));
    bool closed = false;
    return c.read_all(5s, closed);
  }
  bool logged(std::string_view needle) const {
    const std::lock_guard lock(mutex);
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }

  static inline int counter = 0;
  fs::path dir;
  std::shared_ptr<server_app::bridge_app> app;
  std::unique_ptr<bridge> b;
  mutable std::mutex mutex;
  std::vector<std::string> lines;
};

peers::scripted_response spoken(std::string text, int ms,
                                std::optional<std::pair<std::string, std::string>> call = std::nullopt) {
  return peers::scripted_response{std::move(text), {}, ms, std::move(call), false};
}

peers::caller_options caller(const bridge& b, std::string to, std::vector<peers::caller_step> script,
                             std::vector<std::pair<std::string, std::string>> extra = {}) {
  peers::caller_options o;
  o.url = b.stream_url();
  o.call_sid = "CA0123456789abcdef0123456789abcdef";
  o.parameters = {{"From", "+14155550100"}, {"To", std::move(to)}, {"CallSid", o.call_sid}};
  for (auto& p : extra) o.parameters.push_back(std::move(p));
  o.script = std::move(script);
  return o;
}

}  // namespace

TEST_CASE("an agent by the number called, a tool over HTTP, and a hang-up once the goodbye has played",
          "[e2e][agents][service]") {
  peers::fake_http_server tools;
  std::mutex seen_mutex;
  std::string seen_body, seen_signature;
  tools.on("/tools/lookup_order", [&](const peers::recorded_request& r) {
    const std::lock_guard lock(seen_mutex);
    seen_body = r.body;
    seen_signature = r.header("x-bridge-signature");
    return peers::http_reply{peers::http_reply::behaviour::answer, 200, "application/json",
                             R"({"status":"shipped","eta":"tomorrow"})"};
  });
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {spoken("Hello, Acme here.", 600),
               spoken("Let me look that up.", 400, std::pair<std::string, std::string>{"lookup_order", R"({"order":"48217"})"}),
               spoken("It has shipped. Goodbye!", 800, std::pair<std::string, std::string>{"end_call", R"({"reason":"done"})"})};
  peers::fake_openai openai(fo);
  line_under_test line(openai, tools.url("/tools/lookup_order"));
  peers::caller_pool callers;
  const int id = callers.start_call(caller(*line.b, "+15551230001",
                                           {peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                                            peers::step::say{peers::synthetic_speech(700)}}));
  REQUIRE(callers.wait(id, 20s));
  const auto result = callers.result(id);
  INFO("agent lines: " << fmt::format("{}", fmt::join(line.lines, "\n")));

  // The bridge ended the call, normally, after the whole goodbye played.
  CHECK(result.closed_by_bridge);
  CHECK(result.close_code == 1000);
  CHECK(result.close_reason == "host_ended");
  CHECK(result.audio_bytes_received == (600 + 400 + 800) * 8);
  REQUIRE(result.close_after_playout.has_value());
  CHECK(result.close_after_playout->count() >= 0);
  CHECK(result.close_after_playout->count() < 400);
  std::printf("figure: hang-up %lld ms after the goodbye's last audio finished playing\n",
              static_cast<long long>(result.close_after_playout->count()));

  // The profile reached OpenAI; the tool was called, signed, with the call's fields.
  REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && s[0].function_outputs.size() == 2; }, 5s));
  const auto session = openai.sessions()[0];
  CHECK(session.session_update.find("You answer the phone for Acme. The caller is +14155550100.") != std::string::npos);
  CHECK(session.session_update.find(R"("name":"end_call")") != std::string::npos);
  CHECK(session.session_update.find(R"("name":"transfer_call")") != std::string::npos);
  CHECK(session.function_outputs[0].second == R"({"status":"shipped","eta":"tomorrow"})");
  {
    const std::lock_guard lock(seen_mutex);
    CHECK(seen_body.find(R"("call_sid":"CA0123456789abcdef0123456789abcdef")") != std::string::npos);
    CHECK(seen_body.find(R"("agent":"front-desk")") != std::string::npos);
    CHECK(seen_body.find(R"("tool":"lookup_order")") != std::string::npos);
    CHECK(seen_body.find(R"("arguments":{"order":"48217"})") != std::string::npos);
    CHECK(seen_body.find(R"("from":"+14155550100")") != std::string::npos);
    CHECK(seen_signature == service::sign_body(tool_secret, seen_body));
  }
  CHECK(line.logged("[CA0123456789abcdef0123456789abcdef MZ"));
  CHECK(line.logged("agent 'front-desk'"));
  CHECK(line.logged("tool 'lookup_order' answered in"));
  const std::string metrics = line.metrics();
  CHECK(metrics.find("rtb_tool_requests_total{outcome=\"answered\"} 1\n") != std::string::npos);
  CHECK(metrics.find("rtb_tool_requests_total{outcome=\"timeout\"} 0\n") != std::string::npos);
  CHECK(metrics.find("rtb_tool_request_seconds_count 1\n") != std::string::npos);

  // Twilio asks what next: hang up.
  const std::string answer = line.action_answer("CA0123456789abcdef0123456789abcdef");
  CHECK(answer.find("<Hangup/>") != std::string::npos);
  // Asked again (or for another call): the fallback, as after a failure.
  CHECK(line.action_answer("CA0123456789abcdef0123456789abcdef").find("<Say>") != std::string::npos);
}

TEST_CASE("a tool server over https that fails: the model hears what went wrong, and the call goes on",
          "[e2e][agents][service]") {
  const fs::path ca_dir = fs::temp_directory_path() / fmt::format("rtb-agents-ca-{}", ::getpid());
  fs::create_directories(ca_dir);
  const auto ca = peers::make_test_ca(ca_dir.string());
  peers::fake_http_server tools({ca.cert_file, ca.key_file});
  std::string tool_url = tools.url("/tools/lookup_order");
  peers::http_reply reply;
  std::string expect_in_output;
  SECTION("slow but in time: the answer") {
    reply.delay = 300ms;
    reply.body = R"({"status":"shipped"})";
    expect_in_output = "shipped";
  }
  SECTION("nobody listening: refused") {
    tool_url = fmt::format("https://127.0.0.1:{}/tools/lookup_order", peers::free_loopback_port());
    expect_in_output = "cannot be reached";
  }
  SECTION("a 500") {
    reply.status = 500;
    reply.body = "database down";
    expect_in_output = "500";
  }
  SECTION("no answer within TOOL_TIMEOUT_MS") {
    reply.what = peers::http_reply::behaviour::never_answer;
    expect_in_output = "did not answer";
  }
  SECTION("a 10 MB answer") {
    reply.filler_bytes = 10 * 1024 * 1024;
    expect_in_output = "too large";
  }
  SECTION("the connection reset") {
    reply.what = peers::http_reply::behaviour::reset;
    expect_in_output = "cannot be reached";
  }
  tools.on("/tools/lookup_order", [reply](const peers::recorded_request&) { return reply; });
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {spoken("Hello, Acme here.", 300),
               spoken("Let me look.", 300, std::pair<std::string, std::string>{"lookup_order", R"({"order":"1"})"}),
               spoken("Sorry, I cannot see orders right now.", 500)};
  peers::fake_openai openai(fo);
  line_under_test line(openai, tool_url, 600ms, ca.ca_file);
  peers::caller_pool callers;
  const int id = callers.start_call(caller(*line.b, "+15551230001",
                                           {peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                                            peers::step::say{peers::synthetic_speech(700)},
                                            peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                                            peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                                            peers::step::hang_up{}}));
  REQUIRE(callers.wait(id, 25s));
  const auto result = callers.result(id);
  CHECK_FALSE(result.closed_by_bridge);
  CHECK(result.audio_bytes_received == (300 + 300 + 500) * 8);  // the apology after the failure played
  REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && s[0].function_outputs.size() == 1; }, 5s));
  const std::string output = openai.sessions()[0].function_outputs[0].second;
  INFO(output);
  CHECK(output.find(expect_in_output) != std::string::npos);
  CHECK(output.size() < 1024);
  if (expect_in_output != "shipped") {
    CHECK(output.starts_with(R"({"error":)"));
    CHECK(line.logged("tool 'lookup_order' failed"));
  }
  std::error_code ec;
  fs::remove_all(ca_dir, ec);
}

TEST_CASE("transfer_call: the handover plays, then Twilio dials the agent's number", "[e2e][agents][service]") {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {spoken("Hello, Acme here.", 300),
               spoken("Connecting you to a colleague now.", 700,
                      std::pair<std::string, std::string>{"transfer_call", "{}"})};
  peers::fake_openai openai(fo);
  line_under_test line(openai, "http://127.0.0.1:9/unused");
  peers::caller_pool callers;
  const int id = callers.start_call(caller(*line.b, "+15551230001",
                                           {peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                                            peers::step::say{peers::synthetic_speech(700)}}));
  REQUIRE(callers.wait(id, 20s));
  const auto result = callers.result(id);
  CHECK(result.closed_by_bridge);
  CHECK(result.close_code == 1000);
  CHECK(result.audio_bytes_received == (300 + 700) * 8);
  CHECK(line.action_answer("CA0123456789abcdef0123456789abcdef").find("<Dial>+15550009999</Dial>") !=
        std::string::npos);
}

TEST_CASE("an agent by name: its model in the URL, its idle timer checks in, then ends the call politely",
          "[e2e][agents][service]") {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {spoken("Are you still there?", 300), spoken("Goodbye then.", 300)};
  peers::fake_openai openai(fo);
  line_under_test line(openai, "http://127.0.0.1:9/unused");
  peers::caller_pool callers;
  // The sales agent has no greeting: the caller's silence starts the clock.
  const int id = callers.start_call(caller(*line.b, "+15550000000", {peers::step::pause{10s}}, {{"agent", "sales"}}));
  REQUIRE(callers.wait(id, 15s));
  const auto result = callers.result(id);
  CHECK(result.closed_by_bridge);
  CHECK(result.close_code == 1000);
  CHECK(result.close_reason == "caller_idle");
  CHECK(result.audio_bytes_received == 600 * 8);
  const auto s = openai.sessions();
  REQUIRE(s.size() == 1);
  CHECK(s[0].path == "/v1/realtime?model=gpt-realtime-mini");
  CHECK(s[0].session_update.find("You sell.") != std::string::npos);
  CHECK(line.action_answer("CA0123456789abcdef0123456789abcdef").find("<Hangup/>") != std::string::npos);
}

TEST_CASE("keypad digits reach the model when the agent says so", "[e2e][agents][service]") {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {spoken("Hello, Acme here.", 300), spoken("Thanks, got it.", 300)};
  peers::fake_openai openai(fo);
  line_under_test line(openai, "http://127.0.0.1:9/unused");
  peers::caller_pool callers;
  const int id = callers.start_call(
      caller(*line.b, "+15551230001",
             {peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s}, peers::step::digit{'4'},
              peers::step::digit{'2'}, peers::step::digit{'#'}, peers::step::wait_for_ai_audio{0ms, 8s},
              peers::step::wait_for_ai_silence{8s}, peers::step::hang_up{}}));
  REQUIRE(callers.wait(id, 20s));
  const auto s = openai.sessions();
  REQUIRE(s.size() == 1);
  REQUIRE(s[0].user_texts.size() == 1);
  CHECK(s[0].user_texts[0] == "The caller pressed 4 2 # on the keypad.");
  CHECK(callers.result(id).audio_bytes_received == 600 * 8);
}

TEST_CASE("two instances sharing a call store: the one that did not carry the call answers Twilio's action request",
          "[e2e][agents][service]") {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {spoken("Hello, Acme here.", 300),
               spoken("Connecting you to a colleague now.", 500,
                      std::pair<std::string, std::string>{"transfer_call", "{}"})};
  peers::fake_openai openai(fo);
  // One SQLite file, two instances (on PostgreSQL the same, across machines:
  // tests/deploy runs that behind HAProxy).
  const fs::path db_dir = fs::temp_directory_path() / fmt::format("rtb-shared-store-{}", ::getpid());
  fs::create_directories(db_dir);
  const auto open = [&](std::string instance) {
    service::store_options o;
    o.instance = std::move(instance);
    auto url = service::parse_database_url("sqlite:" + (db_dir / "calls.db").string());
    REQUIRE(url);
    auto store = service::open_call_store(*url, o);
    REQUIRE(store);
    return std::move(*store);
  };
  line_under_test carrying(openai, "http://127.0.0.1:9/unused", 8000ms, {}, open("a"));
  line_under_test other(openai, "http://127.0.0.1:9/unused", 8000ms, {}, open("b"));
  peers::caller_pool callers;
  const int id = callers.start_call(caller(*carrying.b, "+15551230001",
                                           {peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                                            peers::step::say{peers::synthetic_speech(700)}}));
  REQUIRE(callers.wait(id, 20s));
  CHECK(callers.result(id).close_code == 1000);
  // Asked the moment the stream closed, of the instance that did not carry it.
  const auto asked = std::chrono::steady_clock::now();
  CHECK(line_under_test::action_answer_from(*other.b, "CA0123456789abcdef0123456789abcdef")
            .find("<Dial>+15550009999</Dial>") != std::string::npos);
  std::printf("figure: the other instance answered the action request from the store in %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - asked)
                                         .count()));
  // A call no instance carried (its stream never started): the fallback, soon.
  const auto unknown_asked = std::chrono::steady_clock::now();
  CHECK(line_under_test::action_answer_from(*other.b, "CAffffffffffffffffffffffffffffffff").find("<Say>") !=
        std::string::npos);
  const auto unknown_ms = std::chrono::steady_clock::now() - unknown_asked;
  CHECK(unknown_ms >= 250ms);  // it looked a while: a call's first record can be on its way
  CHECK(unknown_ms < 2s);
  // The call's record says where it went.
  REQUIRE(other.app->store()->flush(5s));
  const auto stored = other.app->store()->get_call("CA0123456789abcdef0123456789abcdef");
  REQUIRE(stored);
  REQUIRE(stored->has_value());
  CHECK((*stored)->call.instance == "a");
  CHECK((*stored)->call.disposition == "transfer");
  CHECK((*stored)->call.transfer_to == "+15550009999");
  // The writer's figures are in /metrics.
  REQUIRE(carrying.app->store()->flush(5s));
  const std::string metrics = carrying.metrics();
  CHECK(metrics.find("rtb_store_queue_depth 0\n") != std::string::npos);
  CHECK(metrics.find("rtb_store_records_total{result=\"dropped\"} 0\n") != std::string::npos);
  CHECK(metrics.find("rtb_store_records_total{result=\"written\"} 0\n") == std::string::npos);
  std::error_code ec;
  fs::remove_all(db_dir, ec);
}
