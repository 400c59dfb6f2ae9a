// The Twilio REST client's pure parts (the form, errors, the call resource,
// what is retried) and the client itself against a scripted fetcher and a
// scheduler that runs at once: retries, their limit, and what a failure means.
#include <deque>

#include <catch2/catch.hpp>

#include "realtime_bridge/service/outbound_requests.hpp"
#include "realtime_bridge/service/twilio_rest.hpp"

using namespace rtb;
using namespace rtb::service;

namespace {

struct scripted_fetcher final : fetcher {
  std::deque<fetch_result> answers;
  std::vector<fetch_request> requests;
  void fetch(fetch_request r, fetch_callback done) override {
    requests.push_back(r);
    fetch_result a = answers.empty() ? fetch_result{} : answers.front();
    if (!answers.empty()) answers.pop_front();
    done(a);
  }
};

struct instant_scheduler final : scheduler {
  std::vector<std::chrono::milliseconds> delays;
  void after(std::chrono::milliseconds d, std::function<void(bool)> work) override {
    delays.push_back(d);
    work(false);
  }
};

fetch_result answer(int status, std::string body) {
  fetch_result r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

const char* const created = R"({"sid":"CA0123456789abcdef0123456789abcdef","status":"queued","to":"+15551230001",)"
                            R"("from":"+15550009999","answered_by":null,"price":null})";
const char* const too_many = R"({"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429})";

}  // namespace

TEST_CASE("twilio rest: the create form, Basic auth and the URL", "[twilio_rest]") {
  create_call_params p;
  p.to = "+15551230001";
  p.from = "+15550009999";
  p.twiml = R"(<Response><Say>a&b</Say></Response>)";
  p.status_callback = "https://bridge.example/twilio/call-status?c=CP1&e=0&a=1";
  p.machine_detection = "Enable";
  p.async_amd_callback = "https://bridge.example/twilio/amd";
  const std::string body = form_encode(create_call_form(p));
  CHECK(body.starts_with("To=%2B15551230001&From=%2B15550009999&Twiml=%3CResponse%3E%3CSay%3Ea%26b%3C%2FSay%3E"));
  CHECK(body.find("StatusCallback=https%3A%2F%2Fbridge.example%2Ftwilio%2Fcall-status%3Fc%3DCP1%26e%3D0%26a%3D1") !=
        std::string::npos);
  CHECK(body.find("StatusCallbackEvent=initiated&StatusCallbackEvent=ringing&StatusCallbackEvent=answered&"
                  "StatusCallbackEvent=completed") != std::string::npos);
  CHECK(body.find("MachineDetection=Enable&AsyncAmd=true&AsyncAmdStatusCallback=") != std::string::npos);
  CHECK(basic_authorization("ACxxx", "token") == "Basic QUN4eHg6dG9rZW4=");
}

TEST_CASE("twilio rest: errors parsed with their code, what is retried", "[twilio_rest]") {
  const twilio_error e = parse_twilio_error(
      400, R"({"code":21211,"message":"The 'To' number 12 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400})");
  CHECK(e.code == 21211);
  CHECK(e.describe() ==
        "Twilio 21211 (HTTP 400): The 'To' number 12 is not a valid phone number. "
        "(https://www.twilio.com/docs/errors/21211)");
  CHECK(parse_twilio_error(502, "<html>Bad gateway</html>").describe() == "Twilio HTTP 502: <html>Bad gateway</html>");
  CHECK(parse_call_resource(created)->sid == "CA0123456789abcdef0123456789abcdef");
  CHECK_FALSE(parse_call_resource("{}"));

  CHECK(judge(answer(201, ""), true, false).ok);
  CHECK(judge(answer(429, ""), true, false).retry);
  CHECK(judge(answer(429, ""), true, false).what == refusal::not_placed);
  CHECK_FALSE(judge(answer(400, ""), true, true).retry);
  CHECK(judge(answer(401, ""), true, true).what == refusal::rejected);
  CHECK(judge(answer(500, ""), false, false).retry);  // not a create: always
  CHECK(judge(answer(500, ""), true, true).retry);
  CHECK_FALSE(judge(answer(500, ""), true, false).retry);  // a campaign's create: may exist
  CHECK(judge(answer(500, ""), true, false).what == refusal::unknown);
  fetch_result timeout;
  timeout.error = fetch_error::timeout;
  CHECK(judge(timeout, true, false).what == refusal::unknown);
  CHECK_FALSE(judge(timeout, true, false).retry);
  twilio_rest_options o;
  CHECK(backoff_after(1, o) == std::chrono::milliseconds(500));
  CHECK(backoff_after(3, o) == std::chrono::milliseconds(2000));
  CHECK(backoff_after(10, o) == o.max_backoff);
}

TEST_CASE("twilio rest: 429 retried with backoff until it passes, 4xx not, the limit holds", "[twilio_rest]") {
  scripted_fetcher http;
  instant_scheduler timers;
  twilio_rest_options o;
  o.api_base = "http://127.0.0.1:9/";
  o.credentials = {"AC123", "SK456", "secret"};
  twilio_rest_client client(http, timers, o);
  create_call_params p;
  p.to = "+15551230001";
  p.from = "+15550009999";
  p.twiml = "<Response/>";

  http.answers = {answer(429, too_many), answer(429, too_many), answer(201, created)};
  rest_result got;
  client.create_call(p, false, [&](const rest_result& r) { got = r; });
  CHECK(got.ok);
  CHECK(got.attempts == 3);
  CHECK(got.call.sid == "CA0123456789abcdef0123456789abcdef");
  CHECK(timers.delays == std::vector<std::chrono::milliseconds>{std::chrono::milliseconds(500), std::chrono::milliseconds(1000)});
  REQUIRE(http.requests.size() == 3);
  CHECK(http.requests[0].url == "http://127.0.0.1:9/2010-04-01/Accounts/AC123/Calls.json");
  CHECK(http.requests[0].content_type == "application/x-www-form-urlencoded");
  bool authorized = false;
  for (const auto& [k, v] : http.requests[0].headers)
    if (k == "Authorization") authorized = v == basic_authorization("SK456", "secret");
  CHECK(authorized);

  http.requests.clear();
  http.answers = {answer(401, R"({"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401})")};
  client.create_call(p, true, [&](const rest_result& r) { got = r; });
  CHECK_FALSE(got.ok);
  CHECK(got.attempts == 1);
  CHECK(got.error.code == 20003);
  CHECK(got.what == refusal::rejected);
  CHECK(got.error.describe().find("secret") == std::string::npos);

  http.requests.clear();
  http.answers = {answer(429, too_many), answer(429, too_many), answer(429, too_many), answer(429, too_many),
                  answer(201, created)};
  client.create_call(p, false, [&](const rest_result& r) { got = r; });
  CHECK_FALSE(got.ok);
  CHECK(got.attempts == o.max_attempts);
  CHECK(got.error.code == 20429);
  CHECK(got.what == refusal::not_placed);

  http.answers = {answer(500, "oops"), answer(201, created)};
  client.create_call(p, false, [&](const rest_result& r) { got = r; });
  CHECK_FALSE(got.ok);
  CHECK(got.what == refusal::unknown);
  client.fetch_call("CA1", [&](const rest_result& r) { got = r; });  // not a create: retried
  CHECK(got.ok);
}

TEST_CASE("outbound requests: a call, a campaign, bad entries reported one by one", "[outbound_requests]") {
  auto call = parse_outbound_call(
      R"({"to":"+15551230001","agent":"reminders","variables":{"name":"Ann","slot":3},"machine_detection":true,"on_machine":"leave_message","voicemail_message":"Hi"})");
  REQUIRE(call);
  CHECK(call->variables == call_variables{{"name", "Ann"}, {"slot", "3"}});
  CHECK(call->machine.detection == "Enable");
  CHECK(call->machine.on_machine == machine_policy::leave_message);
  CHECK(parse_outbound_call(R"({"to":"5551230001"})").error().message ==
        "to must be an E.164 number (+ and 8 to 15 digits)");
  CHECK(parse_outbound_call(R"({})").error().message == "to is required");
  CHECK_FALSE(parse_outbound_call(R"({"to":"+15551230001","variables":{"agent":"x"}})"));
  CHECK_FALSE(parse_outbound_call(R"({"to":"+15551230001","on_machine":"leave_message"})"));
  CHECK_FALSE(parse_outbound_call(R"({"to":"+15551230001","bogus":1})"));

  auto c = parse_campaign_request(R"({"name":"July reminders","agent":"reminders","max_concurrent":5,
      "calls_per_second":2,"window":{"time_zone":"America/New_York","start":"09:00","end":"20:00","days":["mon","fri"]},
      "retry":{"busy":{"after_minutes":10,"max_retries":2},"no_answer":{"after_seconds":30,"max_retries":1}},
      "numbers":["+15551230001",{"to":"+15551230002","variables":{"name":"Bo"}},"12345",{"to":"+15551230003","variables":{"To":"x"}},7]})");
  REQUIRE(c);
  CHECK(c->max_concurrent == 5);
  CHECK(c->calls_per_second == 2.0);
  CHECK(c->busy.after == std::chrono::minutes(10));
  CHECK(c->no_answer.after == std::chrono::seconds(30));
  REQUIRE(c->numbers.size() == 5);
  CHECK(c->numbers[0].error.empty());
  CHECK(c->numbers[1].variables == call_variables{{"name", "Bo"}});
  CHECK(c->numbers[2].error == "not an E.164 number (+ and 8 to 15 digits)");
  CHECK(c->numbers[3].error == "variable 'To' is set by the bridge itself");
  CHECK_FALSE(c->numbers[4].error.empty());
  // The settings round-trip without the numbers.
  auto again = parse_campaign_request(campaign_settings_json(*c), false);
  REQUIRE(again);
  CHECK(again->busy == c->busy);
  CHECK(again->no_answer == c->no_answer);
  CHECK(again->window->time_zone == "America/New_York");
  CHECK(again->window->days == std::vector<std::string>{"mon", "fri"});
  CHECK(again->calls_per_second == 2.0);
  auto w = make_window(*again->window);
  REQUIRE(w);
  CHECK(w->days == (1 | 16));
  CHECK(parse_campaign_request(R"({"numbers":[],"max_concurrent":0})").error().message ==
        "max_concurrent must be a whole number from 1 to 1000");
  CHECK(parse_campaign_request(R"({"numbers":["+15551230001"],"window":{"start":"20:00","end":"09:00"}})")
            .error()
            .message == "window.end must be after window.start");
  CHECK_FALSE(make_window({"Mars/Olympus", "09:00", "17:00", {}}));
  CHECK(is_e164_number("+15551230001"));
  CHECK_FALSE(is_e164_number("+05551230001"));
  CHECK_FALSE(is_e164_number("+1555"));
  CHECK(*parse_variables_json(variables_json({{"a", "x\"y"}})) == call_variables{{"a", "x\"y"}});
}
