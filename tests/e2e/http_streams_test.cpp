// Answers that take time and answers that never end: pending_response (an
// answer given later, from another thread) and event_stream (Server-Sent
// Events), over loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>

#include "e2e_support.hpp"

namespace rtb::e2e {
namespace {

/// A raw HTTP client connection.
class client {
 public:
  explicit client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void get(std::string_view path) {
    const std::string r = fmt::format("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", path);
    REQUIRE(::send(fd_, r.data(), r.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(r.size()));
  }
  /// Reads until `needle` has arrived (or EOF, or the time is up).
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received.find(needle) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      received.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  std::string received;

 private:
  int fd_ = -1;
};

class streaming_app final : public lws_adapter::application {
 public:
  lws_adapter::http_response on_http(const lws_adapter::http_request& r) override {
    if (r.path == "/events") {
      lws_adapter::http_response s{200, "text/event-stream", ": hello\n\n"};
      s.event_stream = true;
      return s;
    }
    lws_adapter::http_response later;
    later.later = true;
    if (r.path == "/never") never_asked = true;
    return later;
  }
  void on_event_stream(lws_adapter::event_stream stream, const lws_adapter::http_request&) override {
    const std::lock_guard lock(mutex);
    streams.push_back(std::move(stream));
  }
  void on_pending_response(lws_adapter::pending_response pending, const lws_adapter::http_request& r) override {
    if (r.path == "/never") return;  // forgotten: the adapter answers 504
    std::thread([pending, path = r.path] {
      std::this_thread::sleep_for(50ms);
      CHECK(pending.respond({200, "application/json", R"({"path":")" + path + "\"}"}));
      CHECK_FALSE(pending.respond({500, "text/plain", "twice"}));  // the first answer wins
    }).detach();
  }
  std::vector<lws_adapter::event_stream> taken() {
    const std::lock_guard lock(mutex);
    return streams;
  }
  std::mutex mutex;
  std::vector<lws_adapter::event_stream> streams;
  std::atomic<bool> never_asked{false};
};

}  // namespace

TEST_CASE("an answer given later, from another thread, one never given gets 504", "[e2e][http]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  auto app = std::make_shared<streaming_app>();
  bridge b(openai, app, bridge::default_config(),
           [](lws_adapter::server_options& o) { o.pending_answer_timeout = 500ms; });
  client c(b.server->port());
  c.get("/api/thing");
  REQUIRE(c.read_until(R"({"path":"/api/thing"})", 5s));
  CHECK(c.received.starts_with("HTTP/1.1 200"));
  client n(b.server->port());
  n.get("/never");
  REQUIRE(n.read_until("took too long", 5s));
  CHECK(n.received.starts_with("HTTP/1.1 504"));
}

TEST_CASE("Server-Sent Events: streamed from other threads, in order, until the client leaves", "[e2e][http]") {
  peers::fake_openai openai(peers::fake_openai_options{});
  auto app = std::make_shared<streaming_app>();
  bridge b(openai, app);
  client c(b.server->port());
  c.get("/events");
  REQUIRE(c.read_until(": hello\n\n", 5s));
  CHECK(c.received.starts_with("HTTP/1.1 200"));
  CHECK(c.received.find("text/event-stream") != std::string::npos);
  REQUIRE(app->taken().size() == 1);
  const lws_adapter::event_stream s = app->taken()[0];
  std::thread sender([s] {
    for (int i = 0; i < 100; ++i) CHECK(s.send(fmt::format("data: {}\n\n", i)));
  });
  sender.join();
  REQUIRE(c.read_until("data: 99\n\n", 5s));
  for (int i = 0; i < 99; ++i)
    CHECK(c.received.find(fmt::format("data: {}\n\ndata: {}\n\n", i, i + 1)) != std::string::npos);
  c.close();
  // The adapter notices the client left; sends then fail.
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {
    closed = !s.send("data: more\n\n");
    std::this_thread::sleep_for(10ms);
  }
  CHECK(closed);
  CHECK_FALSE(s.open());

  SECTION("a client that does not read is let go once 1 MiB waits") {
    client slow(b.server->port());
    slow.get("/events");
    REQUIRE(slow.read_until(": hello\n\n", 5s));
    REQUIRE(app->taken().size() == 2);
    const lws_adapter::event_stream t = app->taken()[1];
    const std::string chunk = "data: " + std::string(64 * 1024, 'x') + "\n\n";
    bool refused = false;
    for (int i = 0; i < 400 && !refused; ++i) refused = !t.send(chunk);
    CHECK(refused);
  }
  SECTION("a handle outlives the server") {
    client other(b.server->port());
    other.get("/events");
    REQUIRE(other.read_until(": hello\n\n", 5s));
    const lws_adapter::event_stream t = app->taken().back();
    b.server->stop();
    CHECK_FALSE(t.send("data: after\n\n"));
  }
}

}  // namespace rtb::e2e
