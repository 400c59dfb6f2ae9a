// The model of each call's configuration reaches OpenAI in the connection
// URL's model parameter (docs/embedding.md, "Configuration reference"), as
// well as in session.update.
#include <atomic>
#include <thread>

#include "e2e_support.hpp"
#include "raw_client.hpp"

using namespace rtb;
using namespace rtb::e2e;
using namespace std::chrono_literals;

namespace {

/// An application that gives the calls a model by their stream's path.
class model_app final : public lws_adapter::application {
 public:
  std::optional<call_config> config_for_call(const lws_adapter::stream_request&) override {
    call_config c = bridge::default_config();
    c.openai.config.model = next_model.load() == 0 ? "gpt-realtime-mini" : "ft:gpt-realtime:acme:v1";
    next_model.fetch_add(1);
    return c;
  }
  std::atomic<int> next_model{0};
};

/// An application that connects each call to OpenAI only once Twilio's start
/// is in, with the model its `agent` parameter names (as the server chooses
/// an agent profile).
class agent_app final : public lws_adapter::application {
 public:
  std::optional<call_config> config_for_call(const lws_adapter::stream_request&) override {
    call_config c = bridge::default_config();
    c.connect = openai_connect::after_start;
    return c;
  }
  std::unique_ptr<call_observer> observer_for_call(lws_adapter::call_handle handle) override {
    struct chooser final : call_observer {
      explicit chooser(lws_adapter::call_handle h) : handle(std::move(h)) {}
      void on_stream_started(const to_host::stream_started& e) override {
        for (const auto& p : e.custom_parameters) {
          if (p.name != "agent") continue;
          call_config c = bridge::default_config();
          c.openai.config.model = p.value == "sales" ? "gpt-realtime-mini" : "gpt-realtime";
          c.openai.config.instructions = "You are the " + std::string(p.value) + " line.";
          results.push_back(handle.configure(std::move(c)));
        }
      }
      lws_adapter::call_handle handle;
      std::vector<lws_adapter::command_result> results;
    };
    return std::make_unique<chooser>(std::move(handle));
  }
};

std::vector<peers::caller_step> short_call() { return {peers::step::pause{300ms}, peers::step::hang_up{}}; }

}  // namespace

TEST_CASE("the OpenAI URL carries each call's model", "[e2e][openai_url]") {
  peers::fake_openai openai({});  // its URL names model=gpt-realtime

  SECTION("the server's default configuration") {
    auto app = std::make_shared<recording_app>();
    call_config config = bridge::default_config();
    config.openai.config.model = "gpt-realtime-2025-08-28";
    bridge b(openai, app, config);
    peers::caller_pool callers;
    const int id = callers.start_call({.url = b.stream_url(), .script = short_call()});
    REQUIRE(callers.wait(id, 10s));
    REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && !s[0].session_update.empty(); }, 5s));
    const auto s = openai.sessions()[0];
    CHECK(s.path == "/v1/realtime?model=gpt-realtime-2025-08-28");
    CHECK(s.session_update.find(R"("model":"gpt-realtime-2025-08-28")") != std::string::npos);
  }
  SECTION("the application's configuration for each call") {
    bridge b(openai, std::make_shared<model_app>(), bridge::default_config(),
             [](lws_adapter::server_options& o) { o.log = [](lws_adapter::log_level, std::string_view) {}; });
    peers::caller_pool callers;
    for (int n = 0; n < 2; ++n) {
      const int id = callers.start_call({.url = b.stream_url(), .script = short_call()});
      REQUIRE(callers.wait(id, 10s));
    }
    REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 2; }, 5s));
    const auto s = openai.sessions();
    CHECK(s[0].path == "/v1/realtime?model=gpt-realtime-mini");
    CHECK(s[1].path == "/v1/realtime?model=ft:gpt-realtime:acme:v1");
  }
}

TEST_CASE("a call configured at Twilio's start connects to OpenAI with that configuration", "[e2e][openai_url]") {
  peers::fake_openai openai({});
  bridge b(openai, std::make_shared<agent_app>(), bridge::default_config(),
           [](lws_adapter::server_options& o) { o.log = [](lws_adapter::log_level, std::string_view) {}; });
  peers::caller_pool callers;

  SECTION("the configuration chosen from the stream's parameters") {
    const int id =
        callers.start_call({.url = b.stream_url(), .parameters = {{"agent", "sales"}}, .script = short_call()});
    REQUIRE(callers.wait(id, 10s));
    REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && !s[0].session_update.empty(); }, 5s));
    const auto s = openai.sessions()[0];
    CHECK(s.path == "/v1/realtime?model=gpt-realtime-mini");
    CHECK(s.session_update.find("You are the sales line.") != std::string::npos);
  }
  SECTION("none chosen: the call's own") {
    const int id = callers.start_call({.url = b.stream_url(), .script = short_call()});
    REQUIRE(callers.wait(id, 10s));
    REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && !s[0].session_update.empty(); }, 5s));
    CHECK(openai.sessions()[0].path == "/v1/realtime?model=" + bridge::default_config().openai.config.model);
  }
  SECTION("a caller gone before Twilio's start: no OpenAI connection at all, and the call is freed") {
    {
      raw_client c(b.server->port());
      c.send(
          "GET /media-stream HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
      bool closed = false;
      REQUIRE(c.read_all(300ms, closed).starts_with("HTTP/1.1 101 "));
      REQUIRE(b.server->stats().calls_active == 1);
    }  // the socket closes without a frame
    for (int i = 0; i < 200 && b.server->stats().calls_active > 0; ++i) std::this_thread::sleep_for(10ms);
    CHECK(b.server->stats().calls_active == 0);
    CHECK(b.server->stats().calls_ended == 1);
    CHECK(openai.sessions().empty());
  }
}
