// The adapter's WebSocket URLs: what parse_ws_url accepts and refuses, and the
// Host header sent with each.
#include <catch2/catch.hpp>

#include "lws/ws_url.hpp"
#include "realtime_bridge/lws/server.hpp"

using rtb::lws_adapter::is_loopback_host;
using rtb::lws_adapter::parse_ws_url;
using rtb::lws_adapter::with_model;

TEST_CASE("OpenAI's URL: wss on the default port, the query kept, Host without a port", "[ws_url]") {
  const auto u = parse_ws_url("wss://api.openai.com/v1/realtime?model=gpt-realtime");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->host == "api.openai.com");
  CHECK(u->port == 443);
  CHECK(u->path == "/v1/realtime?model=gpt-realtime");
  CHECK(u->host_header() == "api.openai.com");
}

TEST_CASE("a proxy on its own port is named with the port in the Host header", "[ws_url]") {
  const auto u = parse_ws_url("wss://proxy.example.com:8443/realtime");
  REQUIRE(u);
  CHECK(u->port == 8443);
  CHECK(u->host_header() == "proxy.example.com:8443");

  const auto plain = parse_ws_url("ws://127.0.0.1:9000/v1/realtime?model=fake");
  REQUIRE(plain);
  CHECK_FALSE(plain->tls);
  CHECK(plain->host_header() == "127.0.0.1:9000");
}

TEST_CASE("IPv6 hosts are bracketed in the Host header only", "[ws_url]") {
  const auto u = parse_ws_url("ws://[::1]:8080/x");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->port == 8080);
  CHECK(u->host_header() == "[::1]:8080");
  const auto dflt = parse_ws_url("wss://[2001:db8::1]/x");
  REQUIRE(dflt);
  CHECK(dflt->host_header() == "[2001:db8::1]");
}

TEST_CASE("a missing path becomes / and a bare query gets one", "[ws_url]") {
  CHECK(parse_ws_url("ws://localhost")->path == "/");
  CHECK(parse_ws_url("ws://localhost:80")->host_header() == "localhost");
  CHECK(parse_ws_url("ws://localhost?model=x")->path == "/?model=x");
}

TEST_CASE("the scheme is matched in any case", "[ws_url]") {
  const auto u = parse_ws_url("WSS://api.openai.com/v1/realtime");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->port == 443);
}

TEST_CASE("malformed URLs are refused with a message that says why", "[ws_url]") {
  const auto message = [](std::string_view url) {
    const auto u = parse_ws_url(url);
    REQUIRE_FALSE(u);
    CHECK(u.error().code == rtb::errc::invalid_config);
    return u.error().message;
  };
  CHECK(message("https://api.openai.com/v1/realtime").find("wss://") != std::string::npos);
  CHECK(message("wss://user:secret@api.openai.com/").find("credentials") != std::string::npos);
  CHECK(message("wss:///v1/realtime").find("no host") != std::string::npos);
  CHECK(message("wss://[::1/x").find("IPv6") != std::string::npos);
  CHECK(message("wss://[::1]x/").find("malformed") != std::string::npos);
  for (const char* bad_port : {"wss://h:0/", "wss://h:65536/", "wss://h:8a/", "wss://h:/"})
    CHECK(message(bad_port).find("port") != std::string::npos);
}

TEST_CASE("only loopback hosts count as loopback", "[ws_url]") {
  CHECK(is_loopback_host("localhost"));
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.5.6.7"));
  CHECK(is_loopback_host("::1"));
  CHECK_FALSE(is_loopback_host("api.openai.com"));
  CHECK_FALSE(is_loopback_host("10.0.0.1"));
  CHECK_FALSE(is_loopback_host("localhost.example.com"));
  CHECK_FALSE(is_loopback_host("127.example.com"));  // a public name, not 127.0.0.0/8
  CHECK_FALSE(is_loopback_host("127.0.0.1.example.com"));
  CHECK_FALSE(is_loopback_host("127.0.0"));
  CHECK_FALSE(is_loopback_host("127.0.0.256"));
  CHECK_FALSE(is_loopback_host("127.0.-1.1"));
  CHECK_FALSE(is_loopback_host("127.0.0.1."));
}

TEST_CASE("each call's model goes into the OpenAI URL's model parameter", "[ws_url]") {
  SECTION("replacing the configured one") {
    CHECK(with_model("/v1/realtime?model=gpt-realtime", "gpt-realtime-mini") == "/v1/realtime?model=gpt-realtime-mini");
  }
  SECTION("the same model leaves the URL as it was") {
    CHECK(with_model("/v1/realtime?model=gpt-realtime", "gpt-realtime") == "/v1/realtime?model=gpt-realtime");
  }
  SECTION("other parameters are kept, in order") {
    CHECK(with_model("/realtime?a=1&model=x&b=2", "m") == "/realtime?a=1&model=m&b=2");
    CHECK(with_model("/realtime?a=1", "m") == "/realtime?a=1&model=m");
    CHECK(with_model("/realtime?modelx=1&amodel=2", "m") == "/realtime?modelx=1&amodel=2&model=m");
  }
  SECTION("a URL without a query gets one") {
    CHECK(with_model("/v1/realtime", "gpt-realtime") == "/v1/realtime?model=gpt-realtime");
    CHECK(with_model("/v1/realtime?", "m") == "/v1/realtime?model=m");
  }
  SECTION("repeated model parameters become one; empty pieces go") {
    CHECK(with_model("/r?model=a&x=1&model=b&&", "c") == "/r?model=c&x=1");
    CHECK(with_model("/r?model", "c") == "/r?model=c");
  }
  SECTION("the model is percent-encoded; fine-tuned names keep their colons") {
    CHECK(with_model("/r", "ft:gpt-realtime:acme:v1") == "/r?model=ft:gpt-realtime:acme:v1");
    CHECK(with_model("/r", "a b&c=d/é") == "/r?model=a%20b%26c%3Dd%2F%C3%A9");
  }
  SECTION("an empty model leaves the URL alone") {
    CHECK(with_model("/v1/realtime?model=gpt-realtime&x=1", "") == "/v1/realtime?model=gpt-realtime&x=1");
  }
}

TEST_CASE("a JSON log line has the call's fields apart and escapes the message", "[log]") {
  const rtb::lws_adapter::log_record r{rtb::lws_adapter::log_level::warning, "said \"hi\"\n", 12, "CA1", "MZ1", "front-desk"};
  const std::string line = rtb::lws_adapter::format_json_log_line(r);
  CHECK(line.starts_with(R"({"time":")"));
  CHECK(line.find(R"("level":"warning","msg":"said \"hi\"\n","call_id":12,"call_sid":"CA1","stream_sid":"MZ1","agent":"front-desk"})") !=
        std::string::npos);
  CHECK(rtb::lws_adapter::format_log_line(r) == "call 12 CA1/MZ1: said \"hi\"\n");
  const rtb::lws_adapter::log_record plain{rtb::lws_adapter::log_level::info, "listening", 0, {}, {}, {}};
  CHECK(rtb::lws_adapter::format_json_log_line(plain).ends_with(R"("level":"info","msg":"listening"})"));
  CHECK(rtb::lws_adapter::format_log_line(plain) == "listening");
}
