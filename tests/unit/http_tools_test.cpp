// Tools over HTTP, without sockets: the request body, its signature, and the
// output the model gets for every way a tool server can answer or fail.
#include <catch2/catch.hpp>

#include "realtime_bridge/service/http_tools.hpp"

using namespace rtb;
using namespace rtb::service;
using namespace std::chrono_literals;

namespace {

/// A fetcher that records the request and answers with a fixed result.
struct canned_fetcher final : fetcher {
  fetch_result answer;
  std::vector<fetch_request> seen;
  void fetch(fetch_request request, fetch_callback done) override {
    seen.push_back(std::move(request));
    done(answer);
  }
};

}  // namespace

TEST_CASE("the signature is HMAC-SHA256 of the body in hex", "[tools]") {
  // RFC 4231, test case 2.
  CHECK(sign_body("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("the tool request carries the call, the tool and the parsed arguments", "[tools]") {
  const tool_call_context call{"CA1", "MZ1", "front-desk", "+14155550100", "+15551230001"};
  CHECK(tool_request_body(call, "lookup_order", "call_7", R"({"order": "48217"})") ==
        R"({"call_sid":"CA1","stream_sid":"MZ1","agent":"front-desk","tool":"lookup_order","call_id":"call_7",)"
        R"("arguments":{"order":"48217"},"from":"+14155550100","to":"+15551230001"})");
  // Arguments that are not JSON travel as a string.
  CHECK(tool_request_body(call, "t", "c", "not json").find(R"("arguments":"not json")") != std::string::npos);
}

TEST_CASE("every outcome of a tool request becomes one output the model can speak about", "[tools]") {
  canned_fetcher http;
  const http_tool tool{"lookup_order", "", "{}", "https://crm.example/t", 0ms};
  tool_settings settings;
  settings.secret = "s3cret";
  settings.timeout = 3000ms;
  const tool_call_context call{"CA1", "MZ1", "front-desk", "+1", "+2"};
  const auto run = [&](fetch_result r) {
    http.answer = std::move(r);
    std::vector<tool_result> results;
    call_http_tool(http, tool, settings, call, "c1", "{}", [&](tool_result t) { results.push_back(std::move(t)); });
    REQUIRE(results.size() == 1);
    return results[0];
  };

  SECTION("answered: the body, signed request, the tool's timeout") {
    fetch_result ok;
    ok.status = 200;
    ok.body = R"({"status":"shipped"})";
    const tool_result t = run(ok);
    CHECK(t.outcome == tool_reply::answered);
    CHECK(t.output == R"({"status":"shipped"})");
    REQUIRE(http.seen.size() == 1);
    const fetch_request& r = http.seen[0];
    CHECK(r.method == "POST");
    CHECK(r.url == "https://crm.example/t");
    CHECK(r.timeout == 3000ms);
    REQUIRE(r.headers.size() == 1);
    CHECK(r.headers[0].first == "X-Bridge-Signature");
    CHECK(r.headers[0].second == sign_body("s3cret", r.body));
  }
  SECTION("an empty 204") {
    fetch_result ok;
    ok.status = 204;
    CHECK(run(ok).output == R"({"ok":true})");
  }
  SECTION("a 500") {
    fetch_result bad;
    bad.status = 500;
    bad.body = "stack trace…";
    const tool_result t = run(bad);
    CHECK(t.outcome == tool_reply::http_error);
    CHECK(t.output.find("HTTP 500") != std::string::npos);
    CHECK(t.output.find("stack trace") == std::string::npos);  // the server's insides stay out of the model
  }
  SECTION("a timeout, a refusal, a huge body") {
    fetch_result r;
    r.error = fetch_error::timeout;
    CHECK(run(r).outcome == tool_reply::timeout);
    CHECK(run(r).output.find("within 3 seconds") != std::string::npos);
    r.error = fetch_error::connect_failed;
    CHECK(run(r).outcome == tool_reply::unreachable);
    r.error = fetch_error::too_large;
    CHECK(run(r).outcome == tool_reply::too_large);
  }
  SECTION("no secret: no signature header") {
    settings.secret.clear();
    fetch_result ok;
    ok.status = 200;
    (void)run(ok);
    CHECK(http.seen.back().headers.empty());
  }
}
