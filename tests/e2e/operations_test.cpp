// Operating the reference server: /metrics (and its token), /healthz,
// /readyz through a drain, and log records in both formats without secrets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include <fmt/format.h>

#include "e2e_support.hpp"
#include "raw_client.hpp"
#include "server/app.hpp"

namespace rtb::e2e {
namespace {

std::string http_get(int port, std::string_view path, std::string_view extra_headers = {}) {
  return http_exchange(port, fmt::format("GET {} HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n", path, extra_headers));
}

int status_of(const std::string& response) {
  return response.size() >= 12 ? std::stoi(response.substr(9, 3)) : 0;
}

}  // namespace

TEST_CASE("/metrics, /healthz and /readyz: what a scraper and probes see, through a drain", "[e2e][operations]") {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {peers::scripted_response{"Hello.", {}, 400, std::nullopt, false}};
  peers::fake_openai openai(fo);
  server_app::settings s;
  s.allow_unsigned = true;
  s.metrics_token = "metrics-secret-123";
  auto app = std::make_shared<server_app::bridge_app>(s);
  std::mutex log_mutex;
  struct kept_record {  // log_record's views last only during the call
    lws_adapter::log_level level;
    std::string message, call_sid, stream_sid;
    std::uint64_t call_id;
  };
  std::vector<kept_record> records;
  std::vector<std::string> texts;
  bridge b(openai, app, bridge::default_config(), [&](lws_adapter::server_options& o) {
    o.log_records = [&](const lws_adapter::log_record& r) {
      const std::lock_guard lock(log_mutex);
      records.push_back({r.level, std::string(r.message), std::string(r.call_sid), std::string(r.stream_sid), r.call_id});
      texts.push_back(format_log_line(r) + " " + std::string(r.message));
    };
  });
  app->attach(b.server.get());
  const int port = b.server->port();

  // A call, so that the counters have something in them.
  peers::caller_pool callers;
  const int id = callers.start_call({.url = b.stream_url(), .script = ask_and_hang_up(500)});
  REQUIRE(callers.wait(id, 15s));
  REQUIRE(b.server->wait_idle(5s));

  SECTION("/metrics needs the token, and then has the call in it") {
    CHECK(status_of(http_get(port, "/metrics")) == 401);
    CHECK(status_of(http_get(port, "/metrics", "Authorization: Bearer wrong\r\n")) == 401);
    const std::string m = http_get(port, "/metrics", "Authorization: Bearer metrics-secret-123\r\n");
    CHECK(status_of(m) == 200);
    CHECK(m.find("rtb_calls_started_total 1") != std::string::npos);
    CHECK(m.find(R"(rtb_calls_ended_total{reason="caller_hung_up"} 1)") != std::string::npos);
    CHECK(m.find(R"(rtb_messages_total{leg="twilio",direction="in",thread=)") != std::string::npos);
    CHECK(m.find("rtb_relay_latency_seconds_count ") != std::string::npos);
    CHECK(m.find("rtb_relay_latency_seconds_count 0\n") == std::string::npos);  // measured
    CHECK(m.find("rtb_openai_connect_seconds_count 1") != std::string::npos);
    CHECK(m.find("rtb_openai_session_setup_seconds_count 1") != std::string::npos);
    CHECK(m.find(R"(rtb_build_info{version=")") != std::string::npos);
    CHECK(m.find("# TYPE rtb_relay_latency_seconds histogram") != std::string::npos);
  }
  SECTION("liveness and readiness; readiness flips when draining, liveness does not") {
    CHECK(status_of(http_get(port, "/healthz")) == 200);
    CHECK(status_of(http_get(port, "/readyz")) == 200);
    b.server->stop_accepting();
    CHECK(status_of(http_get(port, "/healthz")) == 200);
    const std::string ready = http_get(port, "/readyz");
    CHECK(status_of(ready) == 503);
    CHECK(ready.find("draining") != std::string::npos);
  }
  SECTION("probes are not logged at info; the call's lines carry its sids as fields") {
    (void)http_get(port, "/healthz");
    (void)http_get(port, "/readyz");
    const std::lock_guard lock(log_mutex);
    bool call_fields = false;
    for (const auto& r : records) {
      if (r.message.find("/healthz") != std::string::npos || r.message.find("/readyz") != std::string::npos)
        CHECK(r.level == lws_adapter::log_level::debug);
      if (r.call_id != 0 && !r.call_sid.empty() && r.call_sid.starts_with("CA") && r.stream_sid.starts_with("MZ"))
        call_fields = true;
    }
    CHECK(call_fields);
  }
  // No secret in any record, in either format.
  const std::lock_guard lock(log_mutex);
  for (const auto& t : texts) {
    CHECK(t.find(test_api_key) == std::string::npos);
    CHECK(t.find("metrics-secret-123") == std::string::npos);
  }
}

TEST_CASE("METRICS_ENABLED=false: /metrics answers 404 and no relay latency is measured", "[e2e][operations]") {
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {peers::scripted_response{"Hello.", {}, 400, std::nullopt, false}};
  peers::fake_openai openai(fo);
  server_app::settings s;
  s.allow_unsigned = true;
  s.metrics_enabled = false;
  auto app = std::make_shared<server_app::bridge_app>(s);
  // As main() does from the setting.
  bridge b(openai, app, bridge::default_config(),
           [&](lws_adapter::server_options& o) { o.relay_latency_metrics = s.metrics_enabled; });
  app->attach(b.server.get());
  peers::caller_pool callers;
  const int id = callers.start_call({.url = b.stream_url(), .script = ask_and_hang_up(500)});
  REQUIRE(callers.wait(id, 15s));
  CHECK(status_of(http_get(b.server->port(), "/metrics")) == 404);
  prometheus_writer w;
  b.server->write_metrics(w);
  CHECK(w.text().find("rtb_relay_latency_seconds_count 0\n") != std::string::npos);
  CHECK(status_of(http_get(b.server->port(), "/healthz")) == 200);  // the probes stay
  app->attach(nullptr);
}

TEST_CASE("a port another process (or server) listens on is refused, not silently shared", "[e2e][operations]") {
  struct quiet_app final : lws_adapter::application {};
  const auto start = [](int port, int threads) {
    lws_adapter::server_options o;
    o.bind_address = "127.0.0.1";
    o.port = port;
    o.threads = threads;
    o.openai.url = "ws://127.0.0.1:9/v1/realtime";  // never used here
    o.log = {};
    return lws_adapter::server::start(std::move(o), std::make_shared<quiet_app>());
  };
  auto first = start(0, 2);  // two threads: two SO_REUSEPORT sockets on one port
  REQUIRE(first);
  const int port = (*first)->port();
  // A second server on the same port: without the claim, SO_REUSEPORT would
  // let it in and the kernel would split the connections between the two.
  auto second = start(port, 1);
  REQUIRE_FALSE(second);
  CHECK(second.error().message == fmt::format("could not listen on 127.0.0.1:{}: Address already in use", port));
  // Nor can a plain listener take it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0);
  ::close(fd);
  // Port 0, many times: never a port a running server holds.
  std::vector<std::unique_ptr<lws_adapter::server>> more;
  for (int i = 0; i < 20; ++i) {
    auto s = start(0, 2);
    REQUIRE(s);
    CHECK((*s)->port() != port);
    for (const auto& m : more) CHECK((*s)->port() != m->port());
    more.push_back(std::move(*s));
  }
  // Once the first has stopped, its port can be had again at once.
  (*first)->stop();
  first->reset();
  auto again = start(port, 2);
  CHECK(again);
}

}  // namespace rtb::e2e
