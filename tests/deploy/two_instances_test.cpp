// Two server instances behind HAProxy, as docs/deploy.md describes them: one
// shared PostgreSQL store, the balancer checking /readyz. Calls spread across
// both; SIGTERM to one makes it not ready, the balancer sends new calls to the
// other while its own calls finish; and every call's <Connect action> request
// gets the right answer (<Hangup/> or <Dial>) whichever instance receives it.
//
// Each call is driven the way Twilio drives it: the signed webhook through the
// balancer, a fake caller on the stream URL of the TwiML it got back, and once
// the bridge ends the stream, the signed action request through the balancer.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "peers/child_process.hpp"
#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"
#include "peers/fake_twilio_rest.hpp"
#include "peers/fake_twilio_rest_model.hpp"
#include "realtime_bridge/service/store.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "store/store_test_support.hpp"

// Fails with the three servers' logs when `cond` does not hold.
#define REQUIRE_OR_LOGS(cond)                   \
  do {                                          \
    if (!(cond)) FAIL(#cond << "\n" << logs()); \
  } while (0)

namespace rtb::deploy_test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view auth_token = "deploy-test-auth-token";
constexpr std::string_view api_key = "sk-deploy-test";
constexpr std::string_view transfer_number = "+15550009999";
constexpr int drain_notice_seconds = 2;

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// HAProxy from Debian's package, or empty (with RTB_REQUIRE_HAPROXY=1, as in
/// CI, its absence fails the test instead of skipping it).
std::string haproxy_binary() {
  for (const char* p : {"/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

bool haproxy_required() {
  const char* v = std::getenv("RTB_REQUIRE_HAPROXY");
  return v && std::string_view(v) == "1";
}

/// The balancer: HTTP mode (WebSocket upgrades become tunnels), the fewest
/// connections first (a stream is one long connection), /readyz checked every
/// 200 ms, a server out after two failed checks.
std::string haproxy_config(int front, int a, int b) {
  return fmt::format(R"(global
  maxconn 1000

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout tunnel 1h

frontend phone
  bind 127.0.0.1:{}
  default_backend bridges

backend bridges
  balance leastconn
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 200ms fall 2 rise 2
  server a 127.0.0.1:{} check
  server b 127.0.0.1:{} check
)",
                     front, a, b);
}

/// Two agents, told apart by the number called; each has its own model so
/// that the one fake OpenAI can play each its own script.
constexpr std::string_view agents_json = R"({"default": "closer",
 "agents": {
  "closer": {"instructions": "You answer and say goodbye.", "greeting": "Hello, Acme here.",
             "numbers": ["+15551230001"]},
  "handover": {"instructions": "You hand callers over.", "greeting": "Hello, Acme sales.", "model": "gpt-realtime-mini",
               "numbers": ["+15551230002"], "transfer_to": "+15550009999"}
 }})";

peers::scripted_response spoken(std::string text, int ms,
                                std::optional<std::pair<std::string, std::string>> call = std::nullopt) {
  return peers::scripted_response{std::move(text), {}, ms, std::move(call), false};
}

constexpr int greeting_ms = 300;
constexpr int goodbye_ms = 600;

struct instance {
  std::string name;
  int port = 0;
  fs::path log;
  std::unique_ptr<peers::child_process> process;
};

/// One call as Twilio makes it, through the balancer.
struct phone_call {
  std::string call_sid;
  std::string to;
  bool transfer = false;  ///< the handover agent: expect <Dial>, else <Hangup/>
  int caller_id = -1;
  std::string webhook_error;
  std::string action_url;
  std::string action_answer;
};

std::string attribute_of(std::string_view xml, std::string_view tag, std::string_view name) {
  const std::size_t at = xml.find(tag);
  if (at == std::string_view::npos) return {};
  const std::size_t end = xml.find('>', at);
  const std::string key = std::string(" ") + std::string(name) + "=\"";
  const std::size_t a = xml.substr(at, end - at).find(key);
  if (a == std::string_view::npos) return {};
  const std::size_t from = at + a + key.size();
  return std::string(xml.substr(from, xml.find('"', from) - from));
}

class phone_line {
 public:
  phone_line(std::string public_url, peers::caller_pool& callers) : public_url_(std::move(public_url)), callers_(callers) {}

  /// The webhook, then the caller on the stream it names. `hold` is how long
  /// the caller listens after the greeting before it speaks (and the agent
  /// ends the call).
  void start(phone_call& c, std::chrono::milliseconds hold) {
    const peers::rest_form fields{{"CallSid", c.call_sid},
                                  {"AccountSid", "AC00000000000000000000000000000000"},
                                  {"From", "+14155550100"},
                                  {"To", c.to},
                                  {"CallStatus", "in-progress"}};
    const auto reply =
        peers::post_signed_form(public_url_ + "/incoming-call", fields, std::string(auth_token), 5s);
    const auto stream = peers::fake_twilio_rest_model::stream_of(reply.body);
    if (reply.status != 200 || !stream) {
      c.webhook_error = fmt::format("webhook: status {}, body {}", reply.status, reply.body);
      return;
    }
    c.action_url = attribute_of(reply.body, "<Connect", "action");
    peers::caller_options o;
    o.url = stream->first;
    o.signature = twilio::compute_signature(auth_token, stream->first, {});
    o.call_sid = c.call_sid;
    o.parameters = stream->second;
    o.keep_heard_audio = false;
    o.script = {peers::step::wait_for_ai_audio{0ms, 10s}, peers::step::wait_for_ai_silence{10s},
                peers::step::pause{hold}, peers::step::say{peers::synthetic_speech(700)}};
    c.caller_id = callers_.start_call(std::move(o));
  }

  /// Once the bridge ended the stream: Twilio's action request.
  void finish(phone_call& c) {
    if (c.caller_id < 0 || c.action_url.empty()) return;
    const auto reply = peers::post_signed_form(c.action_url, {{"CallSid", c.call_sid}, {"CallStatus", "in-progress"}},
                                               std::string(auth_token), 10s);
    c.action_answer = reply.body;
  }

 private:
  std::string public_url_;
  peers::caller_pool& callers_;
};

}  // namespace

TEST_CASE("two instances behind HAProxy: calls spread, SIGTERM drains one with no call lost, and every action "
          "request is answered right whichever instance gets it",
          "[deploy]") {
  const std::string haproxy = haproxy_binary();
  if (haproxy.empty()) {
    if (haproxy_required()) FAIL("HAProxy is required (RTB_REQUIRE_HAPROXY=1): install Debian's haproxy package");
    WARN("HAProxy SKIPPED: no haproxy binary (install Debian's haproxy package)");
    return;
  }
  test::postgres_db db;
  RTB_NEED_DATABASE(db);

  const fs::path dir = fs::temp_directory_path() / fmt::format("rtb-deploy-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "agents.json") << agents_json;

  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(api_key);
  fo.scripts_by_model["gpt-realtime"] = {spoken("Hello, Acme here.", greeting_ms),
                                         spoken("Goodbye!", goodbye_ms, std::pair<std::string, std::string>{
                                                                            "end_call", R"({"reason":"done"})"})};
  fo.scripts_by_model["gpt-realtime-mini"] = {
      spoken("Hello, Acme sales.", greeting_ms),
      spoken("Connecting you now.", goodbye_ms, std::pair<std::string, std::string>{"transfer_call", "{}"})};
  peers::fake_openai openai(fo);

  const int front = peers::free_loopback_port();
  const std::string public_url = fmt::format("http://127.0.0.1:{}", front);
  std::vector<instance> bridges(2);
  for (std::size_t i = 0; i < bridges.size(); ++i) {
    instance& b = bridges[i];
    b.name = i == 0 ? "a" : "b";
    b.port = peers::free_loopback_port();
    b.log = dir / ("server-" + b.name + ".log");
  }
  std::ofstream(dir / "haproxy.cfg") << haproxy_config(front, bridges[0].port, bridges[1].port);

  const auto logs = [&] {
    return fmt::format("--- a:\n{}\n--- b:\n{}\n--- haproxy:\n{}", read_all(bridges[0].log), read_all(bridges[1].log),
                       read_all(dir / "haproxy.log"));
  };
  for (instance& b : bridges) {
    peers::child_spec spec;
    spec.path = RTB_SERVER_BINARY;
    spec.env = {{"PORT", std::to_string(b.port)},
                {"BIND_ADDRESS", "127.0.0.1"},
                {"PUBLIC_URL", public_url},  // Twilio calls the balancer: signatures are over its URL
                {"TWILIO_AUTH_TOKEN", std::string(auth_token)},
                {"OPENAI_API_KEY", std::string(api_key)},
                {"OPENAI_REALTIME_URL", openai.url()},
                {"DATABASE_URL", db.url().target},
                {"INSTANCE_NAME", b.name},
                {"AGENTS_FILE", (dir / "agents.json").string()},
                {"DRAIN_NOTICE_SECONDS", std::to_string(drain_notice_seconds)},
                {"SHUTDOWN_GRACE_SECONDS", "30"},
                {"LOG_LEVEL", "info"}};
    spec.unset_env = {"TRACE_DIR", "EVENTS_URL", "ADMIN_TOKEN", "ALLOW_UNSIGNED", "TWILIO_ACCOUNT_SID"};
    spec.log_path = b.log.string();
    b.process = std::make_unique<peers::child_process>(spec);
  }
  for (instance& b : bridges)
    REQUIRE_OR_LOGS(peers::wait_until([&] { return peers::http_get_ok(b.port, "/readyz", 500ms); }, 15s));
  peers::child_spec balancer;
  balancer.path = haproxy;
  balancer.args = {"-db", "-f", (dir / "haproxy.cfg").string()};
  balancer.log_path = (dir / "haproxy.log").string();
  peers::child_process lb(balancer);
  REQUIRE_OR_LOGS(peers::wait_until([&] { return peers::http_get_ok(front, "/readyz", 500ms); }, 10s));
  std::this_thread::sleep_for(600ms);  // both servers' first checks passed (rise 2 × 200 ms)

  peers::caller_pool callers;
  phone_line line(public_url, callers);
  std::vector<phone_call> calls;
  const auto add_call = [&](std::size_t n, std::chrono::milliseconds hold) {
    phone_call c;
    c.call_sid = fmt::format("CA{:032x}", calls.size() + 1);
    c.transfer = n % 2 == 1;
    c.to = c.transfer ? "+15551230002" : "+15551230001";
    line.start(c, hold);
    calls.push_back(std::move(c));
  };

  // Before: six calls, long enough to outlast the drain's notice.
  for (std::size_t n = 0; n < 6; ++n) {
    add_call(n, 6s);
    std::this_thread::sleep_for(100ms);
  }
  const std::size_t before = calls.size();
  REQUIRE_OR_LOGS(peers::wait_until([&] { return openai.sessions_opened() >= before; }, 10s));

  // SIGTERM to a: it is no longer ready at once, still takes calls during the
  // notice, and the balancer stops sending it any.
  ::kill(bridges[0].process->pid(), SIGTERM);
  REQUIRE_OR_LOGS(peers::wait_until([&] { return !peers::http_get_ok(bridges[0].port, "/readyz", 300ms); }, 2s));
  // Calls that arrive before the balancer noticed may still go to a, which
  // takes them during its notice (without one, they would get the fallback).
  for (std::size_t n = 0; n < 2; ++n) add_call(n, 500ms);
  const std::size_t noticed = calls.size();
  std::this_thread::sleep_for(1s);  // two failed checks, 200 ms apart, and some room

  // Later in the drain: four more calls, all of them on b.
  for (std::size_t n = 0; n < 4; ++n) {
    add_call(n, 500ms);
    std::this_thread::sleep_for(100ms);
  }

  for (const phone_call& c : calls) {
    INFO(c.call_sid << ": " << c.webhook_error);
    REQUIRE(c.caller_id >= 0);
  }
  // Twilio asks for the action as soon as a stream ends.
  std::vector<bool> asked(calls.size(), false);
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (std::find(asked.begin(), asked.end(), false) != asked.end() && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (asked[i] || !callers.result(calls[i].caller_id).finished) continue;
      line.finish(calls[i]);
      asked[i] = true;
    }
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE_OR_LOGS(std::find(asked.begin(), asked.end(), false) == asked.end());
  // a finishes its calls and exits by itself, well within its grace.
  REQUIRE_OR_LOGS(peers::wait_until([&] { return !bridges[0].process->running(); }, 20s));
  CHECK(bridges[0].process->stop() == "exit 0 (had exited)");

  // Where each call ran, from the shared store.
  service::store_options reader;
  reader.instance = "deploy-test-reader";
  auto store = service::open_call_store(db.url(), reader);
  REQUIRE(store);
  std::map<std::string, int> carried;
  int lost = 0, a_calls_answered_by_b = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const phone_call& c = calls[i];
    const auto r = callers.result(c.caller_id);
    auto stored = (*store)->get_call(c.call_sid);
    REQUIRE(stored);
    const std::string where = *stored ? (**stored).call.instance : "(not stored)";
    ++carried[where];
    const bool right_answer = c.action_answer.find(c.transfer ? "<Dial>+15550009999</Dial>" : "<Hangup/>") !=
                              std::string::npos;
    // Not lost: the whole greeting and goodbye heard, the bridge ended the
    // stream normally, and Twilio was told what to do next.
    const bool whole = r.connected && r.closed_by_bridge && r.close_code == 1000 &&
                       r.audio_bytes_received == static_cast<std::uint64_t>(greeting_ms + goodbye_ms) * 8;
    INFO(c.call_sid << " on " << where << ": caller " << (r.error.empty() ? "ok" : r.error) << ", close "
                    << r.close_code << ", audio " << r.audio_bytes_received << " bytes, action answer "
                    << c.action_answer);
    CHECK(whole);
    CHECK(right_answer);
    if (!whole || !right_answer) ++lost;
    if (i >= noticed) CHECK(where == "b");  // none sent to a once the balancer saw it was not ready
    if (where == "a" && read_all(bridges[1].log).find("call " + c.call_sid + " stream ended") != std::string::npos)
      ++a_calls_answered_by_b;
  }
  INFO(logs());
  CHECK(carried["a"] >= 1);  // the streams before the drain were spread
  CHECK(carried["b"] >= 1);
  const auto webhooks = [&](const instance& b) {
    const std::string log = read_all(b.log);
    std::size_t n = 0;
    for (std::size_t at = log.find("POST /incoming-call"); at != std::string::npos;
         at = log.find("POST /incoming-call", at + 1))
      ++n;
    return n;
  };
  CHECK(webhooks(bridges[0]) >= 1);  // and so were the webhooks
  CHECK(webhooks(bridges[1]) >= 1);
  CHECK(webhooks(bridges[0]) + webhooks(bridges[1]) == calls.size());
  CHECK(a_calls_answered_by_b == carried["a"]);  // a was gone from the balancer when they ended
  CHECK(lost == 0);
  // How long b took to find a's calls in the store ("... (from the call store after N ms)").
  long slowest_lookup_ms = -1;
  {
    const std::string log = read_all(bridges[1].log);
    constexpr std::string_view marker = "(from the call store after ";
    for (std::size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1))
      slowest_lookup_ms = std::max(slowest_lookup_ms, std::strtol(log.c_str() + at + marker.size(), nullptr, 10));
  }
  std::printf("figure: two instances behind HAProxy, drain of a: %zu calls (a carried %d, b %d; %zu started "
              "during the drain, %zu of them after the balancer noticed, all on b), calls lost %d, a's calls "
              "answered by b from the store: %d (the slowest lookup %ld ms)\n",
              calls.size(), carried["a"], carried["b"], calls.size() - before, calls.size() - noticed, lost,
              a_calls_answered_by_b, slowest_lookup_ms);
  CHECK(bridges[1].process->stop() == "exit 0");
  lb.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace rtb::deploy_test
