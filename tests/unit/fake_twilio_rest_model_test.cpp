// The fake Twilio REST server's logic: what it accepts and refuses like
// Twilio, and the life it gives each call per its number's script.
#include <catch2/catch.hpp>

#include "peers/fake_twilio_rest_model.hpp"

namespace rtb::peers {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view account = "AC0123456789abcdef0123456789abcdef";
// base64("AC0123456789abcdef0123456789abcdef:fake-auth-token-0123456789")
const std::string good_auth =
    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpmYWtlLWF1dGgtdG9rZW4tMDEyMzQ1Njc4OQ==";

std::string twiml() {
  return "<Response><Connect><Stream url=\"wss://bridge.example.com/media-stream\"><Parameter name=\"agent\" "
         "value=\"reminders\"/><Parameter name=\"name\" value=\"Ann &amp; Bo\"/></Stream></Connect></Response>";
}

rest_request create_request(std::string_view to, std::string auth = good_auth) {
  rest_request r;
  r.method = "POST";
  r.path = "/2010-04-01/Accounts/" + std::string(account) + "/Calls.json";
  r.authorization = std::move(auth);
  r.content_type = "application/x-www-form-urlencoded";
  std::string to_enc(to);
  if (!to_enc.empty() && to_enc[0] == '+') to_enc = "%2B" + to_enc.substr(1);
  r.body = "To=" + to_enc + "&From=%2B15550001111&StatusCallback=https%3A%2F%2Fb%2Fs%3Fc%3D1" +
           "&StatusCallbackEvent=initiated&StatusCallbackEvent=ringing&StatusCallbackEvent=answered" +
           "&StatusCallbackEvent=completed&Twiml=" + [] {
             std::string t = twiml(), out;
             for (char c : t) {
               if (std::isalnum(static_cast<unsigned char>(c))) {
                 out.push_back(c);
               } else {
                 char buf[4];
                 std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
                 out += buf;
               }
             }
             return out;
           }();
  return r;
}

std::vector<std::string> statuses(const std::vector<fake_rest_action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions)
    if (const auto* cb = std::get_if<fake_rest_actions::callback>(&a))
      for (const auto& [k, v] : cb->params)
        if (k == "CallStatus") out.push_back(v);
  return out;
}

}  // namespace

TEST_CASE("fake Twilio REST: a wrong token is 401 with code 20003, an API key pair is accepted", "[fake_rest]") {
  fake_rest_options o;
  o.api_keys["SK0123456789abcdef0123456789abcdef"] = "key-secret";
  fake_twilio_rest_model m(o);
  auto [bad, none] = m.handle(create_request("+15551230001", "Basic QUM6eA=="), 0);
  CHECK(bad.status == 401);
  CHECK(bad.body.find("20003") != std::string::npos);
  CHECK(none.empty());
  // base64("SK0123456789abcdef0123456789abcdef:key-secret")
  auto [ok, actions] =
      m.handle(create_request("+15551230001", "Basic U0swMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjprZXktc2VjcmV0"), 0);
  CHECK(ok.status == 201);
  CHECK_FALSE(actions.empty());
}

TEST_CASE("fake Twilio REST: a bad To is 400 with 21211, nothing created", "[fake_rest]") {
  fake_twilio_rest_model m({});
  auto [reply, actions] = m.handle(create_request("5551230001"), 10);
  CHECK(reply.status == 400);
  CHECK(reply.body.find("21211") != std::string::npos);
  CHECK(actions.empty());
  REQUIRE(m.creates().size() == 1);
  CHECK(m.creates()[0].status == 400);
  CHECK(m.calls().empty());
}

TEST_CASE("fake Twilio REST: 429 on chosen create requests and in a storm", "[fake_rest]") {
  fake_rest_options o;
  o.storm = 2;
  o.too_many_requests = {4};
  fake_twilio_rest_model m(o);
  std::vector<int> got;
  for (int i = 0; i < 5; ++i) got.push_back(m.handle(create_request("+15551230001"), i).first.status);
  CHECK(got == std::vector<int>{429, 429, 201, 429, 201});
  CHECK(m.calls().size() == 2);
}

TEST_CASE("fake Twilio REST: an answered call is connected to the TwiML's stream, completed when it ends",
          "[fake_rest]") {
  fake_twilio_rest_model m({});
  auto [reply, actions] = m.handle(create_request("+15551230001"), 0);
  REQUIRE(reply.status == 201);
  CHECK(statuses(actions) == std::vector<std::string>{"initiated", "ringing", "in-progress"});
  const fake_rest_actions::connect* k = nullptr;
  for (const auto& a : actions)
    if (const auto* c = std::get_if<fake_rest_actions::connect>(&a)) k = c;
  REQUIRE(k != nullptr);
  CHECK(k->url == "wss://bridge.example.com/media-stream");
  CHECK(k->parameters == rest_form{{"agent", "reminders"}, {"name", "Ann & Bo"}});
  m.answered(k->call_sid, 300);
  CHECK(m.call(k->call_sid)->status == "in-progress");
  auto end = m.stream_ended(k->call_sid, 2400);
  CHECK(statuses(end) == std::vector<std::string>{"completed"});
  const auto& cb = std::get<fake_rest_actions::callback>(end[0]);
  CHECK(std::find(cb.params.begin(), cb.params.end(), std::pair<std::string, std::string>{"CallDuration", "3"}) !=
        cb.params.end());
  CHECK(m.stream_ended(k->call_sid, 2500).empty());  // once
}

TEST_CASE("fake Twilio REST: the per-number script gives each attempt its outcome, the last repeats", "[fake_rest]") {
  fake_rest_options o;
  o.numbers["+15551230002"] = {dial_outcome::busy, dial_outcome::no_answer, dial_outcome::failed};
  fake_twilio_rest_model m(o);
  std::vector<std::vector<std::string>> seen;
  for (int i = 0; i < 4; ++i) seen.push_back(statuses(m.handle(create_request("+15551230002"), i).second));
  CHECK(seen[0] == std::vector<std::string>{"initiated", "ringing", "busy"});
  CHECK(seen[1] == std::vector<std::string>{"initiated", "ringing", "no-answer"});
  CHECK(seen[2] == std::vector<std::string>{"initiated", "failed"});
  CHECK(seen[3] == seen[2]);
}

TEST_CASE("fake Twilio REST: a machine gets its verdict with AMD, a <Hangup/> update completes it, a later update is "
          "21220",
          "[fake_rest]") {
  fake_rest_options o;
  o.numbers["+15551230003"] = {dial_outcome::machine};
  fake_twilio_rest_model m(o);
  auto req = create_request("+15551230003");
  req.body += "&MachineDetection=Enable&AsyncAmd=true&AsyncAmdStatusCallback=https%3A%2F%2Fb%2Famd";
  auto [reply, actions] = m.handle(req, 0);
  REQUIRE(reply.status == 201);
  std::string sid, by;
  for (const auto& a : actions)
    if (const auto* cb = std::get_if<fake_rest_actions::callback>(&a); cb && cb->url == "https://b/amd") {
      sid = cb->call_sid;
      for (const auto& [k, v] : cb->params)
        if (k == "AnsweredBy") by = v;
    }
  CHECK(by == "machine_start");
  REQUIRE(!sid.empty());
  m.answered(sid, 300);
  rest_request u;
  u.method = "POST";
  u.path = "/2010-04-01/Accounts/" + std::string(account) + "/Calls/" + sid + ".json";
  u.authorization = good_auth;
  u.body = "Twiml=%3CResponse%3E%3CHangup%2F%3E%3C%2FResponse%3E";
  auto [ok, end] = m.handle(u, 1600);
  CHECK(ok.status == 200);
  CHECK(statuses(end) == std::vector<std::string>{"completed"});
  auto [late, nothing] = m.handle(u, 1700);
  CHECK(late.status == 400);
  CHECK(late.body.find("21220") != std::string::npos);
  u.method = "GET";
  CHECK(m.handle(u, 1800).first.body.find(R"("status":"completed")") != std::string::npos);
}

}  // namespace rtb::peers
