// The operator's view end to end: a call through the reference server's
// application is recorded in a SQLite store, streamed live over Server-Sent
// Events, and read back through the calls API.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "e2e_support.hpp"
#include "realtime_bridge/service/store.hpp"
#include "server/app.hpp"

namespace rtb::e2e {
namespace {

class http_client {
 public:
  explicit http_client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~http_client() { ::close(fd_); }
  void get(std::string_view path, std::string_view token) {
    const std::string r = fmt::format("GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", path, token);
    REQUIRE(::send(fd_, r.data(), r.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(r.size()));
  }
  /// Reads until `needle` arrives or the connection closes or the time is up.
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (needle.empty() || received.find(needle) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return needle.empty();
      received.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  std::string received;

 private:
  int fd_ = -1;
};

std::string fetch_api(int port, std::string_view path, std::string_view token) {
  http_client c(port);
  c.get(path, token);
  c.read_until("", 5s);  // to the end: the response closes its connection
  return c.received;
}

}  // namespace

TEST_CASE("a call is recorded, streamed live and read back through the calls API", "[e2e][operator][service]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("rtb-operator-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto store = service::open_call_store(*service::parse_database_url("sqlite:" + (dir / "calls.db").string()));
  REQUIRE(store);
  REQUIRE(*store);

  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {peers::scripted_response{"We open at nine tomorrow.", {}, 800, std::nullopt, false}};
  fo.caller_transcripts = {"When do you open?"};
  peers::fake_openai openai(fo);
  server_app::settings s;
  s.allow_unsigned = true;
  s.admin_token = "admin-token-42";
  auto app = std::make_shared<server_app::bridge_app>(s, std::move(*store));
  call_config config = bridge::default_config();
  config.openai.config.input_transcription = openai::transcription{};
  bridge b(openai, app, config);
  app->attach(b.server.get());
  const int port = b.server->port();

  SECTION("without the token: nothing") {
    http_client c(port);
    c.get("/api/calls", "wrong");
    REQUIRE(c.read_until("\r\n\r\n", 5s));
    CHECK(c.received.starts_with("HTTP/1.1 401"));
    http_client e(port);
    e.get("/api/events", "wrong");
    REQUIRE(e.read_until("\r\n\r\n", 5s));
    CHECK(e.received.starts_with("HTTP/1.1 401"));
  }

  SECTION("live events while the call runs, then the record") {
    http_client events(port);
    events.get("/api/events", "admin-token-42");
    REQUIRE(events.read_until(": live call events", 5s));
    for (int i = 0; i < 100 && app->events().subscribers() == 0; ++i) std::this_thread::sleep_for(10ms);

    peers::caller_pool callers;
    const int id = callers.start_call({.url = b.stream_url(), .script = ask_and_hang_up(700)});
    // The caller's words reach the page as they are written: from the item's
    // time (when its transcript came in) to its event here.
    REQUIRE(events.read_until(R"("role":"caller","text":"When do you open?")", 20s));
    const auto received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    {
      const auto item = events.received.rfind(R"("role":"caller")");
      const auto at = events.received.find(R"("at":)", item);
      REQUIRE(at != std::string::npos);
      const long long item_ms = std::stoll(events.received.substr(at + 5));
      CHECK(received_ms - item_ms >= 0);
      CHECK(received_ms - item_ms < 1000);
      std::printf("figure: a transcript item's SSE event arrived %lld ms after the item\n", received_ms - item_ms);
    }
    REQUIRE(callers.wait(id, 20s));
    const std::string sid = callers.result(id).call_sid;
    REQUIRE(events.read_until("event: call_ended", 10s));
    CHECK(events.received.find("event: call_started\ndata: {\"type\":\"call_started\",\"call_sid\":\"" + sid) !=
          std::string::npos);
    CHECK(events.received.find(R"("role":"caller","text":"When do you open?")") != std::string::npos);
    CHECK(events.received.find(R"("role":"assistant","text":"We open at nine tomorrow.")") != std::string::npos);

    REQUIRE(app->store()->flush(5s));
    const std::string list = fetch_api(port, "/api/calls?limit=10", "admin-token-42");
    CHECK(list.starts_with("HTTP/1.1 200"));
    CHECK(list.find(R"("call_sid":")" + sid) != std::string::npos);
    CHECK(list.find(R"("end_reason":"caller_hung_up")") != std::string::npos);
    const std::string one = fetch_api(port, "/api/calls/" + sid, "admin-token-42");
    CHECK(one.starts_with("HTTP/1.1 200"));
    CHECK(one.find(R"("text":"When do you open?")") != std::string::npos);
    CHECK(one.find(R"("text":"We open at nine tomorrow.")") != std::string::npos);
    CHECK(fetch_api(port, "/api/calls/CAnosuchcall", "admin-token-42").starts_with("HTTP/1.1 404"));
    CHECK(fetch_api(port, "/api/calls?limit=0", "admin-token-42").starts_with("HTTP/1.1 400"));
    const std::string page = fetch_api(port, "/calls", "");
    CHECK(page.starts_with("HTTP/1.1 200"));
    CHECK(page.find("<title>Calls") != std::string::npos);
  }
  b.server->stop();
  app->attach(nullptr);
  fs::remove_all(dir);
}

}  // namespace rtb::e2e
