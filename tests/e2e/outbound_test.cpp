// Outbound calls and campaigns end to end: the real server (a child process)
// places calls through the fake Twilio REST API, which "answers" them by
// connecting a fake caller to the server's media stream, where the fake
// OpenAI talks to it; status callbacks come back signed. Figures (rate held,
// outcomes, duplicates) are printed for the issue's closing note.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "e2e_support.hpp"
#include "raw_client.hpp"
#include "peers/child_process.hpp"
#include "peers/fake_twilio_rest.hpp"

namespace rtb::e2e {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view admin = "outbound-admin-token";
constexpr std::string_view from_number = "+15550001111";

struct http_answer {
  int status = 0;
  std::string body;
};

http_answer api(int port, std::string_view method, std::string_view path, std::string_view body = {}) {
  const std::string out = http_exchange(
      port,
      fmt::format("{} {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n"
                  "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                  method, path, admin, body.size(), body),
      20s);
  http_answer h;
  if (out.starts_with("HTTP/1.1 ") && out.size() > 12) h.status = std::atoi(out.c_str() + 9);
  if (const auto at = out.find("\r\n\r\n"); at != std::string::npos) h.body = out.substr(at + 4);
  // A chunked body (lws answers deferred responses so): keep the JSON only.
  if (const auto open = h.body.find('{'); open != std::string::npos && open > 0) {
    h.body = h.body.substr(open);
    if (const auto close = h.body.rfind('}'); close != std::string::npos) h.body.resize(close + 1);
  }
  return h;
}

/// The server under test with outbound calls on, pointed at `twilio` and `openai`.
peers::child_spec server_spec(int port, const fs::path& dir, const peers::fake_twilio_rest& twilio,
                              const peers::fake_openai& openai, std::string_view auth_token, double cps) {
  peers::child_spec spec;
  spec.path = RTB_SERVER_BINARY;
  spec.env = {{"PORT", std::to_string(port)},
              {"BIND_ADDRESS", "127.0.0.1"},
              {"OPENAI_API_KEY", std::string(test_api_key)},
              {"OPENAI_REALTIME_URL", openai.url()},
              {"TWILIO_AUTH_TOKEN", std::string(auth_token)},
              {"PUBLIC_URL", fmt::format("http://127.0.0.1:{}", port)},
              {"TRANSCRIPTION_MODEL", "gpt-4o-mini-transcribe"},
              {"DATABASE_URL", "sqlite:" + (dir / "calls.db").string()},
              {"ADMIN_TOKEN", std::string(admin)},
              {"TWILIO_ACCOUNT_SID", peers::fake_rest_options{}.account_sid},
              {"TWILIO_API_BASE", twilio.base_url()},
              {"TWILIO_FROM", std::string(from_number)},
              {"OUTBOUND_CALLS_PER_SECOND", fmt::format("{}", cps)},
              {"LOG_LEVEL", "info"}};
  spec.unset_env = {"TRACE_DIR", "EVENTS_URL", "ALLOW_UNSIGNED", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"};
  spec.log_path = (dir / "server.log").string();
  return spec;
}

fs::path fresh_dir(std::string_view name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("rtb-outbound-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

peers::fake_openai_options openai_options() {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {peers::scripted_response{"Hi Ann, this is a reminder of your appointment.", {}, 600, std::nullopt, false}};
  fo.caller_transcripts = {"Hello?"};
  fo.speed = 8;
  return fo;
}

std::string json_field(std::string_view body, std::string_view key) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(body.data(), body.size()).get(e)) return {};
  std::string_view v;
  if (e[key].get(v)) return {};
  return std::string(v);
}

/// Requests to the fake in any window of one second, at most.
std::size_t max_per_second(std::vector<std::int64_t> t) {
  std::sort(t.begin(), t.end());
  std::size_t best = 0;
  for (std::size_t i = 0, j = 0; i < t.size(); ++i) {
    while (t[i] - t[j] >= 1000) ++j;
    best = std::max(best, i - j + 1);
  }
  return best;
}

std::int64_t min_gap(std::vector<std::int64_t> t) {
  std::sort(t.begin(), t.end());
  std::int64_t gap = 1'000'000;
  for (std::size_t i = 1; i < t.size(); ++i) gap = std::min(gap, t[i] - t[i - 1]);
  return gap;
}

/// Calls under way at once at the fake (created, not yet over), at most.
int max_concurrent(const peers::fake_twilio_rest& twilio) {
  std::vector<std::pair<std::int64_t, int>> edges;
  for (const auto& c : twilio.creates()) {
    if (c.status != 201) continue;
    const auto call = twilio.call(c.sid);
    edges.emplace_back(c.at_ms, +1);
    edges.emplace_back(call && call->ended_ms >= 0 ? call->ended_ms : std::numeric_limits<std::int64_t>::max(), -1);
  }
  std::sort(edges.begin(), edges.end());
  int now = 0, best = 0;
  for (const auto& [t, d] : edges) best = std::max(best, now += d);
  return best;
}

/// (entry, attempt) → Twilio calls created for it: more than one is a duplicate.
std::map<std::string, int> placed_per_attempt(const peers::fake_twilio_rest& twilio) {
  std::map<std::string, int> out;
  for (const auto& c : twilio.creates())
    if (c.status == 201) ++out[c.status_callback.substr(c.status_callback.find('?') + 1)];
  return out;
}

std::string campaign_body(std::size_t numbers, int max_concurrent, double cps, const std::vector<std::string>& extra,
                          std::string_view more = {}) {
  std::string list;
  for (std::size_t i = 0; i < numbers; ++i)
    list += fmt::format(R"({}{{"to":"+1555200{:04d}","variables":{{"name":"Caller {}"}}}})", i ? "," : "", i, i);
  for (const auto& e : extra) list += "," + e;
  return fmt::format(R"({{"name":"reminders","agent":"reminders","max_concurrent":{},"calls_per_second":{},)"
                     R"("retry":{{"busy":{{"after_seconds":1,"max_retries":2}},"no_answer":{{"after_seconds":1,"max_retries":1}}}}{},)"
                     R"("numbers":[{}]}})",
                     max_concurrent, cps, more, list);
}

}  // namespace

TEST_CASE("outbound: one call through Twilio's REST API, answered, a conversation with the AI recorded as outbound",
          "[e2e][outbound][service]") {
  const fs::path dir = fresh_dir("one");
  peers::fake_openai openai(openai_options());
  peers::fake_twilio_rest twilio({});
  const int port = peers::free_loopback_port();
  peers::child_process server(server_spec(port, dir, twilio, openai, peers::fake_rest_options{}.auth_token, 1));
  REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));

  const auto placed = api(port, "POST", "/api/calls",
                          R"({"to":"+15551230001","agent":"reminders","variables":{"name":"Ann"}})");
  INFO(placed.body);
  REQUIRE(placed.status == 201);
  const std::string sid = json_field(placed.body, "call_sid");
  REQUIRE(sid.size() == 34);
  // The fake connected a caller with the agent and the variables as parameters; it talked and hung up.
  REQUIRE(peers::wait_until([&] { return !twilio.connected().empty() && twilio.connected()[0].ended; }, 20s));
  const auto call = twilio.call(sid);
  REQUIRE(call);
  CHECK(call->twiml.find(R"(<Parameter name="agent" value="reminders")") != std::string::npos);
  CHECK(call->twiml.find(R"(<Parameter name="name" value="Ann")") != std::string::npos);
  CHECK(call->twiml.find(R"(<Parameter name="direction" value="outbound")") != std::string::npos);
  const auto heard = twilio.caller_result(twilio.connected()[0].caller_id);
  CHECK(heard.connected);
  CHECK(heard.media_received > 0);
  // Every status callback was accepted (signed by the fake with the account's token).
  REQUIRE(peers::wait_until([&] { return twilio.callbacks().size() >= 4; }, 10s));
  for (const auto& cb : twilio.callbacks()) CHECK(cb.status == 204);
  // The calls API shows it: outbound, its statuses, the conversation.
  std::string record;
  REQUIRE(peers::wait_until(
      [&] {
        record = api(port, "GET", "/api/calls/" + sid).body;
        return record.find("reminder of your appointment") != std::string::npos &&
               record.find(R"("status":"completed")") != std::string::npos;
      },
      15s));
  INFO(record);
  CHECK(record.find(R"("direction":"outbound")") != std::string::npos);
  CHECK(record.find(R"("agent":"reminders")") != std::string::npos);
  CHECK(record.find(R"("status":"ringing")") != std::string::npos);
  server.stop();
  fs::remove_all(dir);
}

TEST_CASE("outbound: bad numbers, a wrong token (Twilio 20003), a 429 storm, a forged status callback",
          "[e2e][outbound][service]") {
  const fs::path dir = fresh_dir("errors");
  peers::fake_openai openai(openai_options());
  peers::fake_rest_options ro;
  ro.storm = 2;  // the first two create requests: 429
  peers::fake_twilio_rest_options o;
  o.model = ro;
  peers::fake_twilio_rest twilio(o);
  const int port = peers::free_loopback_port();
  peers::child_process server(server_spec(port, dir, twilio, openai, ro.auth_token, 5));
  REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));

  const auto bad = api(port, "POST", "/api/calls", R"({"to":"555-1234"})");
  CHECK(bad.status == 400);
  CHECK(twilio.creates().empty());  // never sent to Twilio

  const auto stormed = api(port, "POST", "/api/calls", R"({"to":"+15551230002"})");
  INFO(stormed.body);
  CHECK(stormed.status == 201);
  const auto creates = twilio.creates();
  REQUIRE(creates.size() == 3);
  CHECK(creates[0].status == 429);
  CHECK(creates[1].status == 429);
  CHECK(creates[2].status == 201);
  CHECK(creates[1].at_ms - creates[0].at_ms >= 400);  // backed off

  // A status callback nobody signed is refused.
  const int forged = peers::post_signed_form(fmt::format("http://127.0.0.1:{}/twilio/call-status", port),
                                             {{"CallSid", creates[2].sid}, {"CallStatus", "completed"}}, "", 2s)
                         .status;
  CHECK(forged == 403);
  const int wrong = peers::post_signed_form(fmt::format("http://127.0.0.1:{}/twilio/call-status", port),
                                            {{"CallSid", creates[2].sid}, {"CallStatus", "completed"}}, "not-the-token",
                                            2s)
                        .status;
  CHECK(wrong == 403);
  server.stop();

  // The same server with a token Twilio does not know: 20003, surfaced with its code.
  peers::child_process wrong_token(server_spec(port, dir, twilio, openai, "a-token-twilio-does-not-know", 5));
  REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));
  const auto refused = api(port, "POST", "/api/calls", R"({"to":"+15551230003"})");
  INFO(refused.body);
  CHECK(refused.status == 502);
  CHECK(refused.body.find(R"("code":20003)") != std::string::npos);
  CHECK(twilio.creates().size() == 3);  // refused at authentication: no call
  wrong_token.stop();
  // The token never reaches the log.
  std::ifstream log(dir / "server.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  CHECK(text.find("a-token-twilio-does-not-know") == std::string::npos);
  CHECK(text.find(ro.auth_token) == std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("outbound: a campaign of 50 numbers with mixed outcomes, 5 at once, 2 calls per second",
          "[e2e][outbound][service]") {
  const fs::path dir = fresh_dir("campaign");
  peers::fake_openai openai(openai_options());
  peers::fake_twilio_rest_options o;
  // Per number: 1 in 10 busy then answered, 1 in 10 no answer (always),
  // 1 in 10 failed, 1 in 10 an answering machine; the rest answer.
  for (int i = 0; i < 48; ++i) {
    const std::string to = fmt::format("+1555200{:04d}", i);
    if (i % 10 == 1) o.model.numbers[to] = {peers::dial_outcome::busy, peers::dial_outcome::answer};
    if (i % 10 == 2) o.model.numbers[to] = {peers::dial_outcome::no_answer};
    if (i % 10 == 3) o.model.numbers[to] = {peers::dial_outcome::failed};
    if (i % 10 == 4) o.model.numbers[to] = {peers::dial_outcome::machine};
  }
  o.model.too_many_requests = {7, 19};  // Twilio's 429 now and then
  o.model.ring = 250ms;
  o.model.no_answer_after = 800ms;
  o.model.amd_after = 600ms;
  o.human_script = {peers::step::pause{100ms}, peers::step::say{peers::synthetic_speech(500, 3)},
                    peers::step::wait_for_ai_audio{300ms, 5s}, peers::step::hang_up{}};
  o.machine_script = {peers::step::say{peers::synthetic_speech(1000, 4)}, peers::step::pause{2s},
                      peers::step::hang_up{}};
  peers::fake_twilio_rest twilio(o);
  const int port = peers::free_loopback_port();
  peers::child_process server(server_spec(port, dir, twilio, openai, o.model.auth_token, 2));
  REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));

  // 48 good numbers and 2 bad ones: 50 entries.
  const auto created = api(port, "POST", "/api/campaigns",
                           campaign_body(48, 5, 2, {R"("12345")", R"({"to":"+0123456789"})"},
                                         R"(,"machine_detection":"Enable","on_machine":"hang_up")"));
  INFO(created.body);
  REQUIRE(created.status == 201);
  const std::string id = json_field(created.body, "campaign_id");
  CHECK(created.body.find(R"("accepted":48)") != std::string::npos);
  CHECK(created.body.find(R"("index":48)") != std::string::npos);  // the bad ones, by entry

  std::string detail;
  REQUIRE(peers::wait_until(
      [&] {
        detail = api(port, "GET", "/api/campaigns/" + id).body;
        return detail.find(R"("state":"completed")") != std::string::npos;
      },
      100s));
  INFO(detail);
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(detail);
  std::map<std::string, std::int64_t> outcomes;
  for (auto [k, v] : doc["outcomes"].get_object()) outcomes[std::string(k)] = v.get_int64();
  CHECK(outcomes["answered"] == 28 + 5);  // the busy ones were answered on their retry
  CHECK(outcomes["no_answer"] == 5);
  CHECK(outcomes["failed"] == 5);
  CHECK(outcomes["machine"] == 5);
  CHECK(outcomes["invalid"] == 2);

  // Rate, concurrency, duplicates, from the fake's side.
  std::vector<std::int64_t> all, placed;
  std::size_t too_many = 0;
  for (const auto& c : twilio.creates()) {
    all.push_back(c.at_ms);
    if (c.status == 201) placed.push_back(c.at_ms);
    too_many += c.status == 429;
  }
  const auto per_attempt = placed_per_attempt(twilio);
  const auto duplicates = std::count_if(per_attempt.begin(), per_attempt.end(), [](const auto& kv) { return kv.second > 1; });
  const double span_s = static_cast<double>(*std::max_element(all.begin(), all.end()) - *std::min_element(all.begin(), all.end())) / 1000.0;
  fmt::print("\n[outbound figures] campaign of 50 (48 valid, 2 invalid), max_concurrent 5, calls_per_second 2 "
             "(OUTBOUND_CALLS_PER_SECOND 2):\n");
  fmt::print("  create requests {} (201: {}, 429: {}), over {:.1f} s = {:.2f}/s; most in any 1 s window: {}; "
             "smallest gap between requests: {} ms\n",
             all.size(), placed.size(), too_many,
             span_s, static_cast<double>(all.size() - 1) / span_s, max_per_second(all), min_gap(all));
  fmt::print("  most calls under way at once: {}; attempts placed twice: {}\n", max_concurrent(twilio), duplicates);
  fmt::print("  outcomes:");
  for (const auto& [k, v] : outcomes) fmt::print(" {}={}", k, v);
  fmt::print("\n");
  CHECK(duplicates == 0);
  CHECK(max_concurrent(twilio) <= 5);
  // The pacing is 500 ms between the calls' slots; the store's write (the
  // attempt marker) before each request adds jitter on the way to Twilio,
  // up to ~100 ms on a loaded machine. The average holds exactly.
  CHECK(min_gap(all) >= 300);
  CHECK(static_cast<double>(all.size() - 1) / span_s <= 2.05);
  // Busy numbers were called twice (the retry), the others once.
  std::map<std::string, int> calls_per_number;
  for (const auto& c : twilio.creates())
    if (c.status == 201) ++calls_per_number[c.to];
  CHECK(calls_per_number["+15552000001"] == 2);
  CHECK(calls_per_number["+15552000002"] == 2);  // no answer: one retry
  CHECK(calls_per_number["+15552000000"] == 1);
  CHECK(calls_per_number["+15552000003"] == 1);
  server.stop();
  fs::remove_all(dir);
}

TEST_CASE("outbound: a server killed with SIGKILL mid-campaign and restarted completes it without calling anyone twice",
          "[e2e][outbound][crash][service]") {
  const fs::path dir = fresh_dir("restart");
  peers::fake_openai openai(openai_options());
  peers::fake_twilio_rest_options o;
  o.model.ring = 200ms;
  o.human_script = {peers::step::pause{100ms}, peers::step::say{peers::synthetic_speech(400, 5)},
                    peers::step::wait_for_ai_audio{200ms, 5s}, peers::step::hang_up{}};
  peers::fake_twilio_rest twilio(o);
  const int port = peers::free_loopback_port();
  const auto spec = server_spec(port, dir, twilio, openai, o.model.auth_token, 4);
  std::string id;
  {
    peers::child_process server(spec);
    REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));
    const auto created = api(port, "POST", "/api/campaigns", campaign_body(30, 4, 4, {}));
    REQUIRE(created.status == 201);
    id = json_field(created.body, "campaign_id");
    REQUIRE(peers::wait_until([&] { return twilio.creates().size() >= 12; }, 20s));
    server.kill_now(SIGKILL);
  }
  const std::size_t before = twilio.creates().size();
  std::this_thread::sleep_for(500ms);
  {
    peers::child_process again(spec);
    REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));
    std::string detail;
    REQUIRE(peers::wait_until(
        [&] {
          detail = api(port, "GET", "/api/campaigns/" + id).body;
          return detail.find(R"("state":"completed")") != std::string::npos;
        },
        60s));
    INFO(detail);
    std::map<std::string, int> calls_per_number;
    for (const auto& c : twilio.creates())
      if (c.status == 201) ++calls_per_number[c.to];
    int twice = 0;
    for (const auto& [to, n] : calls_per_number) twice += n > 1;
    simdjson::dom::parser p;
    simdjson::dom::element doc = p.parse(detail);
    std::map<std::string, std::int64_t> outcomes;
    for (auto [k, v] : doc["outcomes"].get_object()) outcomes[std::string(k)] = v.get_int64();
    fmt::print("\n[outbound figures] SIGKILL after {} of 30 calls were placed; after the restart: {} numbers called, "
               "called twice: {}; outcomes:",
               before, calls_per_number.size(), twice);
    for (const auto& [k, v] : outcomes) fmt::print(" {}={}", k, v);
    fmt::print("\n");
    CHECK(twice == 0);
    CHECK(calls_per_number.size() >= 29);  // all but at most a call in flight at the kill
    std::int64_t total = 0;
    for (const auto& [k, v] : outcomes) total += v;
    CHECK(total == 30);
    again.stop();
  }
  fs::remove_all(dir);
}

TEST_CASE("outbound: a campaign paused, resumed and cancelled", "[e2e][outbound][service]") {
  const fs::path dir = fresh_dir("commands");
  peers::fake_openai openai(openai_options());
  peers::fake_twilio_rest_options o;
  o.human_script = {peers::step::pause{100ms}, peers::step::hang_up{}};
  peers::fake_twilio_rest twilio(o);
  const int port = peers::free_loopback_port();
  peers::child_process server(server_spec(port, dir, twilio, openai, o.model.auth_token, 2));
  REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));
  const auto created = api(port, "POST", "/api/campaigns", campaign_body(20, 2, 2, {}));
  REQUIRE(created.status == 201);
  const std::string id = json_field(created.body, "campaign_id");
  REQUIRE(peers::wait_until([&] { return twilio.creates().size() >= 2; }, 10s));
  CHECK(api(port, "POST", "/api/campaigns/" + id + "/pause").status == 200);
  const std::size_t at_pause = twilio.creates().size();
  std::this_thread::sleep_for(1500ms);
  CHECK(twilio.creates().size() <= at_pause + 1);  // at most one already on its way
  CHECK(api(port, "POST", "/api/campaigns/" + id + "/pause").status == 409);
  CHECK(api(port, "POST", "/api/campaigns/" + id + "/resume").status == 200);
  REQUIRE(peers::wait_until([&] { return twilio.creates().size() >= at_pause + 3; }, 10s));
  CHECK(api(port, "POST", "/api/campaigns/" + id + "/cancel").status == 200);
  std::string detail;
  REQUIRE(peers::wait_until(
      [&] {
        detail = api(port, "GET", "/api/campaigns/" + id).body;
        return detail.find(R"("state":"canceled")") != std::string::npos &&
               detail.find(R"("in_flight":0)") != std::string::npos;
      },
      20s));
  INFO(detail);
  CHECK(detail.find(R"("not_called":)") != std::string::npos);
  const std::size_t at_cancel = twilio.creates().size();
  std::this_thread::sleep_for(1s);
  CHECK(twilio.creates().size() == at_cancel);
  CHECK(api(port, "GET", "/api/campaigns/CPnope").status == 404);
  server.stop();
  fs::remove_all(dir);
}

}  // namespace rtb::e2e

namespace rtb::e2e {

TEST_CASE("outbound: the process-wide rate holds at 1 and 5 calls per second, whatever a campaign asks",
          "[e2e][outbound][rate][service]") {
  for (const double cps : {1.0, 5.0}) {
    const fs::path dir = fresh_dir(fmt::format("rate{}", cps));
    peers::fake_openai openai(openai_options());
    peers::fake_twilio_rest_options o;
    o.model.default_outcome = peers::dial_outcome::failed;  // over at once: only the pacing counts
    peers::fake_twilio_rest twilio(o);
    const int port = peers::free_loopback_port();
    peers::child_process server(server_spec(port, dir, twilio, openai, o.model.auth_token, cps));
    REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));
    const std::size_t n = cps < 2 ? 8 : 31;
    // The campaign asks for 10 per second; OUTBOUND_CALLS_PER_SECOND caps the process.
    const auto created = api(port, "POST", "/api/campaigns", campaign_body(n, 20, 10, {}));
    REQUIRE(created.status == 201);
    REQUIRE(peers::wait_until([&] { return twilio.creates().size() >= n; }, 60s));
    std::vector<std::int64_t> t;
    for (const auto& c : twilio.creates()) t.push_back(c.at_ms);
    const double span_s = static_cast<double>(t.back() - t.front()) / 1000.0;
    const double rate = static_cast<double>(t.size() - 1) / span_s;
    fmt::print("\n[outbound figures] OUTBOUND_CALLS_PER_SECOND={} (campaign asks 10): {} calls in {:.2f} s = {:.2f}/s, "
               "smallest gap {} ms (setting: {} ms)\n",
               cps, t.size(), span_s, rate, min_gap(t), static_cast<int>(1000 / cps));
    CHECK(rate <= cps * 1.02);
    CHECK(rate >= cps * 0.8);
    CHECK(min_gap(t) >= static_cast<std::int64_t>(1000 / cps * 0.6));
    server.stop();
    fs::remove_all(dir);
  }
}

}  // namespace rtb::e2e

namespace rtb::e2e {

TEST_CASE("outbound: outside its calling window a campaign calls nobody", "[e2e][outbound][service]") {
  const fs::path dir = fresh_dir("window");
  peers::fake_openai openai(openai_options());
  peers::fake_twilio_rest twilio({});
  const int port = peers::free_loopback_port();
  peers::child_process server(server_spec(port, dir, twilio, openai, peers::fake_rest_options{}.auth_token, 5));
  REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/readyz", 500ms); }, 10s));
  // A one-hour window that starts two hours from now (UTC), or, late in the day, one that ended.
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  const int start = utc.tm_hour <= 20 ? utc.tm_hour + 2 : 0;
  const std::string window = fmt::format(
      R"(,"window":{{"time_zone":"Etc/UTC","start":"{:02d}:00","end":"{:02d}:59"}})", start, start + 1 > 23 ? 23 : start + 1);
  const auto created = api(port, "POST", "/api/campaigns", campaign_body(3, 2, 5, {}, window));
  INFO(created.body);
  REQUIRE(created.status == 201);
  const std::string id = json_field(created.body, "campaign_id");
  std::this_thread::sleep_for(2s);
  CHECK(twilio.creates().empty());
  const auto detail = api(port, "GET", "/api/campaigns/" + id);
  CHECK(detail.body.find(R"("pending":3)") != std::string::npos);
  // A time zone the tz database does not have is refused, naming the field.
  const auto bad = api(port, "POST", "/api/campaigns",
                       campaign_body(1, 1, 1, {}, R"(,"window":{"time_zone":"Mars/Olympus","start":"09:00","end":"17:00"})"));
  CHECK(bad.status == 400);
  CHECK(bad.body.find("Mars/Olympus") != std::string::npos);
  server.stop();
  fs::remove_all(dir);
}

}  // namespace rtb::e2e
