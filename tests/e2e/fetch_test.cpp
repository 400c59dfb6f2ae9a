// Outbound HTTP (server::fetch) against a fake HTTP(S) server on loopback:
// answers, slow answers, timeouts, refusals, errors, huge bodies, resets, and
// the server stopping with requests in flight. Every callback exactly once,
// nothing left behind.
#include <atomic>
#include <filesystem>
#include <future>

#include <fmt/format.h>
#include <unistd.h>

#include "e2e_support.hpp"
#include "peers/fake_http_server.hpp"
#include "peers/test_ca.hpp"

namespace rtb::e2e {
namespace {

using peers::fake_http_server;
using peers::http_reply;

struct quiet_app final : lws_adapter::application {};

std::unique_ptr<lws_adapter::server> start_server(const std::string& ca_file = {}) {
  lws_adapter::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.loop = loop_under_test();
  o.openai.url = "ws://127.0.0.1:9/v1/realtime";  // never used here
  o.openai.ca_file = ca_file;
  o.log = {};
  auto started = lws_adapter::server::start(std::move(o), std::make_shared<quiet_app>());
  if (!started) FAIL("the bridge did not start: " << started.error().message);
  return std::move(*started);
}

/// Runs one fetch and waits for its single callback.
fetch_result fetch_now(lws_adapter::server& s, fetch_request r, std::chrono::milliseconds wait = 10s) {
  std::promise<fetch_result> p;
  auto f = p.get_future();
  std::atomic<int> calls{0};
  s.fetch(std::move(r), [&](const fetch_result& res) {
    if (++calls == 1) p.set_value(res);
  });
  REQUIRE(f.wait_for(wait) == std::future_status::ready);
  std::this_thread::sleep_for(20ms);  // a second call would show here
  CHECK(calls == 1);
  return f.get();
}

bool settles(lws_adapter::server& s) {
  for (int i = 0; i < 200; ++i) {
    const auto st = s.stats();
    if (st.fetches_active == 0 && st.timers_pending == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

TEST_CASE("fetch: a POST gets its answer, with its headers and body delivered", "[e2e][fetch]") {
  fake_http_server http;
  http.on("/tools/lookup", [](const peers::recorded_request& r) {
    return http_reply{http_reply::behaviour::answer, 200, "application/json", R"({"echo":)" + r.body + "}", 0, {}};
  });
  auto server = start_server();
  fetch_request r;
  r.url = http.url("/tools/lookup?x=1");
  r.body = R"({"order":"48217"})";
  r.headers = {{"X-Bridge-Signature", "sha256=abc"}};
  const fetch_result res = fetch_now(*server, r);
  CHECK(res.ok());
  CHECK(res.status == 200);
  CHECK(res.content_type == "application/json");
  CHECK(res.body == R"({"echo":{"order":"48217"}})");
  const auto requests = http.requests();
  REQUIRE(requests.size() == 1);
  const auto& got = requests[0];
  CHECK(got.method == "POST");
  CHECK(got.target == "/tools/lookup?x=1");
  CHECK(got.header("x-bridge-signature") == "sha256=abc");
  CHECK(got.header("content-type") == "application/json");
  CHECK(got.header("host") == fmt::format("127.0.0.1:{}", http.port()));
  CHECK(settles(*server));
}

TEST_CASE("fetch: what can go wrong ends in one clear result, and leaves nothing behind", "[e2e][fetch]") {
  fake_http_server http;
  http.on("/slow",
          [](const auto&) { return http_reply{http_reply::behaviour::answer, 200, "text/plain", "late", 0, 300ms}; });
  http.on("/never", [](const auto&) { return http_reply{http_reply::behaviour::never_answer, 200, "", "", 0, {}}; });
  http.on("/error",
          [](const auto&) { return http_reply{http_reply::behaviour::answer, 500, "text/plain", "boom", 0, {}}; });
  http.on("/huge", [](const auto&) {
    return http_reply{http_reply::behaviour::answer, 200, "text/plain", "", 10 * 1024 * 1024, {}};
  });
  http.on("/close", [](const auto&) { return http_reply{http_reply::behaviour::close, 200, "", "", 0, {}}; });
  http.on("/reset", [](const auto&) { return http_reply{http_reply::behaviour::reset, 200, "", "", 0, {}}; });
  auto server = start_server();
  const auto request = [&](std::string path, std::chrono::milliseconds timeout = 2s) {
    fetch_request r;
    r.url = http.url(path);
    r.body = "{}";
    r.timeout = timeout;
    return r;
  };

  SECTION("slow, within the timeout") {
    const auto res = fetch_now(*server, request("/slow", 2s));
    CHECK(res.ok());
    CHECK(res.body == "late");
    CHECK(res.elapsed >= 300ms);
  }
  SECTION("no answer: a timeout, and the connection is dropped") {
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = fetch_now(*server, request("/never", 500ms));
    CHECK(res.error == fetch_error::timeout);
    CHECK(res.status == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);
    for (int i = 0; i < 100 && http.connections_open() > 0; ++i) std::this_thread::sleep_for(10ms);
    CHECK(http.connections_open() == 0);
  }
  SECTION("a 500 is an answer, not a failure") {
    const auto res = fetch_now(*server, request("/error"));
    CHECK(res.error == fetch_error::none);
    CHECK(res.status == 500);
    CHECK_FALSE(res.ok());
    CHECK(res.body == "boom");
  }
  SECTION("10 MB against a 64 KiB limit: too large, not read") {
    const auto res = fetch_now(*server, request("/huge"));
    CHECK(res.error == fetch_error::too_large);
    CHECK(res.body.empty());
  }
  SECTION("closed or reset without an answer") {
    CHECK(fetch_now(*server, request("/close")).error == fetch_error::connect_failed);
    CHECK(fetch_now(*server, request("/reset")).error == fetch_error::connect_failed);
  }
  SECTION("nothing listens") {
    fetch_request r = request("/x");
    r.url = "http://127.0.0.1:9/x";
    CHECK(fetch_now(*server, r).error == fetch_error::connect_failed);
  }
  SECTION("plain http to a host that is not loopback, or not a URL at all") {
    fetch_request r = request("/x");
    r.url = "http://tools.example.com/x";
    CHECK(fetch_now(*server, r).error == fetch_error::bad_url);
    r.url = "ftp://127.0.0.1/x";
    CHECK(fetch_now(*server, r).error == fetch_error::bad_url);
  }
  CHECK(settles(*server));
  CHECK(server->stats().unexpected_destroys == 0);
}

TEST_CASE("fetch over https verifies the server against the configured CA", "[e2e][fetch][tls]") {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtb-fetch-tls-{}", ::getpid());
  const auto ca = peers::make_test_ca(dir.string());
  fake_http_server https({ca.cert_file, ca.key_file});
  https.on("/t",
           [](const auto&) { return http_reply{http_reply::behaviour::answer, 200, "text/plain", "secure", 0, {}}; });
  fetch_request r;
  r.url = https.url("/t");
  SECTION("with the CA: answered") {
    auto server = start_server(ca.ca_file);
    const auto res = fetch_now(*server, r);
    CHECK(res.ok());
    CHECK(res.body == "secure");
    CHECK(settles(*server));
  }
  SECTION("without it: the certificate is refused") {
    auto server = start_server();
    const auto res = fetch_now(*server, r);
    CHECK(res.error == fetch_error::connect_failed);
    CHECK(https.requests().empty());
    CHECK(settles(*server));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("fetch: requests in flight when the server stops are told so, once", "[e2e][fetch]") {
  fake_http_server http;
  http.on("/never", [](const auto&) { return http_reply{http_reply::behaviour::never_answer, 200, "", "", 0, {}}; });
  auto server = start_server();
  std::atomic<int> stopped{0}, other{0};
  for (int i = 0; i < 20; ++i) {
    fetch_request r;
    r.url = http.url("/never");
    r.timeout = 30s;
    server->fetch(r, [&](const fetch_result& res) { ++(res.error == fetch_error::stopped ? stopped : other); });
  }
  REQUIRE(http.wait_requests(20, 5s));
  server->stop();
  CHECK(stopped == 20);
  CHECK(other == 0);
  // And after the stop, at once.
  fetch_request r;
  r.url = http.url("/never");
  server->fetch(r, [&](const fetch_result& res) { ++(res.error == fetch_error::stopped ? stopped : other); });
  CHECK(stopped == 21);
}

}  // namespace rtb::e2e
