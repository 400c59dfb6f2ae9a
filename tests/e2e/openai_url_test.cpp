// The model of each call's configuration reaches OpenAI in the connection
// URL's model parameter (docs/embedding.md, "Configuration reference"), as
// well as in session.update.
#include <atomic>

#include "e2e_support.hpp"

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
