// The webhook and the upgrade as raw bytes on loopback: the server reads each
// connection's request line itself, byte for byte, before lws decodes it
// (lib/lws/request_line.hpp), and validates X-Twilio-Signature over it. The
// request line is sent in pieces, as a slow network delivers it.
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "e2e_support.hpp"
#include "raw_client.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "server/app.hpp"

using namespace rtb;
using namespace rtb::e2e;
using namespace std::chrono_literals;

namespace {

constexpr const char* token = "test-auth-token-9f8e7d";
constexpr const char* query = "From=%2B14155550100&To=%2B15005550006&CallSid=CA1&CallerName=Jane+Doe&Note=a;b%3D%26";

/// Records what the adapter hands the application; refuses every upgrade (no
/// OpenAI session needed).
class target_recorder final : public lws_adapter::application {
 public:
  lws_adapter::http_response on_http(const lws_adapter::http_request& r) override {
    const std::lock_guard lock(mutex);
    http.push_back(r);
    return {200, "text/plain", "ok\n"};
  }
  std::optional<lws_adapter::http_response> check_stream(const lws_adapter::stream_request& r) override {
    const std::lock_guard lock(mutex);
    streams.push_back(r);
    return lws_adapter::http_response{403, "text/plain", "no\n"};
  }
  std::mutex mutex;
  std::vector<lws_adapter::http_request> http;
  std::vector<lws_adapter::stream_request> streams;
};

std::shared_ptr<server_app::bridge_app> signing_app() {
  server_app::settings s;
  s.public_url = "https://bridge.example.com";
  s.twilio_auth_token = token;
  s.openai_api_key = std::string(test_api_key);
  return std::make_shared<server_app::bridge_app>(s);
}

void quiet(lws_adapter::server_options& o) { o.log = {}; }

std::string signed_get_headers() {
  const std::string signature =
      twilio::compute_signature(token, std::string("https://bridge.example.com/incoming-call?") + query, {});
  return " HTTP/1.1\r\nHost: bridge.example.com\r\nX-Twilio-Signature: " + signature + "\r\n\r\n";
}

}  // namespace

TEST_CASE("a signed GET webhook, its request line in pieces: 200, the call fields in the TwiML, then close",
          "[e2e][signature][webhook]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  bridge b(openai, signing_app(), bridge::default_config(), quiet);
  raw_client c(b.server->port());
  const std::string line = std::string("GET /incoming-call?") + query;
  c.send(line.substr(0, 25));  // "GET /incoming-call?From=%"
  std::this_thread::sleep_for(150ms);
  c.send(line.substr(25, 20));
  std::this_thread::sleep_for(150ms);
  c.send(line.substr(45) + signed_get_headers());
  bool closed = false;
  const std::string answer = c.read_all(5s, closed);
  CHECK(closed);
  CHECK(answer.starts_with("HTTP/1.1 200 "));
  CHECK(answer.find("connection: close\r\n") != std::string::npos);
  CHECK(answer.find(R"(<Parameter name="From" value="+14155550100"/><Parameter name="To" value="+15005550006"/>)"
                    R"(<Parameter name="CallSid" value="CA1"/>)") != std::string::npos);
}

TEST_CASE("a GET signed over another encoding of its query is refused", "[e2e][signature][webhook]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  bridge b(openai, signing_app(), bridge::default_config(), quiet);
  // Signed with a space as %20, sent with '+': lws decodes both to a space,
  // the signature tells them apart.
  const std::string sent = "/incoming-call?From=%2B14155550100&CallerName=Jane+Doe";
  const std::string signature = twilio::compute_signature(
      token, "https://bridge.example.com/incoming-call?From=%2B14155550100&CallerName=Jane%20Doe", {});
  raw_client c(b.server->port());
  c.send("GET " + sent + " HTTP/1.1\r\nHost: bridge.example.com\r\nX-Twilio-Signature: " + signature + "\r\n\r\n");
  bool closed = false;
  CHECK(c.read_all(5s, closed).starts_with("HTTP/1.1 403 "));
}

TEST_CASE("one request per connection: a second request on it is not served", "[e2e][webhook]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  bridge b(openai, signing_app(), bridge::default_config(), quiet);
  raw_client c(b.server->port());
  c.send(std::string("GET /incoming-call?") + query + signed_get_headers() + "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  const std::string answer = c.read_all(5s, closed);
  CHECK(closed);
  CHECK(answer.starts_with("HTTP/1.1 200 "));
  CHECK(answer.find("HTTP/1.1", 1) == std::string::npos);
}

TEST_CASE("a signed stream upgrade, its request line in pieces, is accepted", "[e2e][signature][webhook]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  bridge b(openai, signing_app(), bridge::default_config(), quiet);
  raw_client c(b.server->port());
  c.send("GET /media");
  std::this_thread::sleep_for(150ms);
  c.send(
      "-stream HTTP/1.1\r\nHost: bridge.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Twilio-Signature: " +
      twilio::compute_signature(token, "wss://bridge.example.com/media-stream", {}) + "\r\n\r\n");
  bool closed = false;
  CHECK(c.read_all(1s, closed).starts_with("HTTP/1.1 101 "));
}

TEST_CASE("connections that never finish their request line are closed, others are served meanwhile",
          "[e2e][webhook]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  bridge b(openai, signing_app(), bridge::default_config(), [](lws_adapter::server_options& o) {
    quiet(o);
    o.handshake_timeout = 3s;
  });
  raw_client silent(b.server->port());
  raw_client partial(b.server->port());
  partial.send("GET /incoming-call?From=%2B1415");
  raw_client gone(b.server->port());
  gone.send("GET /incoming-call?From=%2B1415");
  gone.stop_sending();  // it will never finish the line
  bool closed = false;
  gone.read_all(2s, closed);
  CHECK(closed);

  raw_client served(b.server->port());
  served.send(std::string("GET /incoming-call?") + query + signed_get_headers());
  CHECK(served.read_all(2s, closed).starts_with("HTTP/1.1 200 "));

  // The others are given up after handshake_timeout.
  const auto start = std::chrono::steady_clock::now();
  silent.read_all(6s, closed);
  CHECK(closed);
  partial.read_all(2s, closed);
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("the application gets each request's target and query as received, and lws' decoded path", "[e2e][webhook]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  auto app = std::make_shared<target_recorder>();
  bridge b(openai, app, bridge::default_config(), quiet);
  bool closed = false;
  {
    raw_client c(b.server->port());
    c.send("GET /incoming%2Dcall?From=%2B1415&Name=Jane+Doe;x=%3D%26&Flag HTTP/1.1\r\nHost: h\r\n\r\n");
    c.read_all(5s, closed);
  }
  {
    raw_client c(b.server->port());
    c.send("POST /incoming-call?tenant=acme%20corp HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\nFrom=%2");
    std::this_thread::sleep_for(100ms);
    c.send("B");
    c.read_all(5s, closed);
  }
  {
    raw_client c(b.server->port());
    c.send(
        "GET /media-stream?t=%2Bx HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    const std::string answer = c.read_all(5s, closed);
    CHECK(answer.find(" 403 ") == 8);  // lws answers a refused upgrade as HTTP/1.0
  }
  const std::lock_guard lock(app->mutex);
  REQUIRE(app->http.size() == 2);
  CHECK(app->http[0].method == "GET");
  CHECK(app->http[0].path == "/incoming-call");
  CHECK(app->http[0].target == "/incoming%2Dcall?From=%2B1415&Name=Jane+Doe;x=%3D%26&Flag");
  CHECK(app->http[0].query == "From=%2B1415&Name=Jane+Doe;x=%3D%26&Flag");
  CHECK(app->http[1].method == "POST");
  CHECK(app->http[1].target == "/incoming-call?tenant=acme%20corp");
  CHECK(app->http[1].query == "tenant=acme%20corp");
  CHECK(app->http[1].body == "From=%2B");
  REQUIRE(app->streams.size() == 1);
  CHECK(app->streams[0].path == "/media-stream");
  CHECK(app->streams[0].target == "/media-stream?t=%2Bx");
  CHECK(app->streams[0].query == "t=%2Bx");
}
