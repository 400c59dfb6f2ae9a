// The server binary with an agents file: a malformed file stops start-up
// with the file, the path in it and what is wrong; SIGHUP reloads the file
// for new calls, and a bad reload keeps the profiles in effect.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "e2e_support.hpp"
#include "peers/child_process.hpp"

namespace rtb::e2e {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_agents(const fs::path& p, std::string_view model) {
  std::ofstream(p) << fmt::format(R"({{"agents": {{"sales": {{"instructions": "You sell.", "model": "{}"}}}}}})", model);
}

}  // namespace

TEST_CASE("the server binary: a bad agents file stops start-up, SIGHUP reloads, a bad reload keeps the old profiles",
          "[e2e][agents][service]") {
  const fs::path dir = fs::temp_directory_path() / fmt::format("rtb-agents-reload-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path agents = dir / "agents.json";
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  peers::fake_openai openai(fo);

  const int port = peers::free_loopback_port();
  peers::child_spec spec;
  spec.path = RTB_SERVER_BINARY;
  spec.env = {{"PORT", std::to_string(port)},
              {"BIND_ADDRESS", "127.0.0.1"},
              {"OPENAI_API_KEY", std::string(test_api_key)},
              {"OPENAI_REALTIME_URL", openai.url()},
              {"ALLOW_UNSIGNED", "true"},
              {"DATABASE_URL", "off"},
              {"AGENTS_FILE", agents.string()},
              {"LOG_LEVEL", "info"}};
  spec.unset_env = {"TWILIO_AUTH_TOKEN", "TRACE_DIR", "PUBLIC_URL", "EVENTS_URL"};
  spec.log_path = (dir / "server.log").string();

  SECTION("a malformed file: the server does not start, and says where") {
    std::ofstream(agents) << R"({"agents": {"sales": {"instructions": "x", "tools": [{"name": "t", "url": "ftp://x"}]}}})";
    peers::child_process server(spec);
    for (int i = 0; i < 100 && server.running(); ++i) std::this_thread::sleep_for(50ms);
    REQUIRE_FALSE(server.running());
    CHECK(server.exit_status() != 0);
    const std::string log = read_all(spec.log_path);
    INFO(log);
    CHECK(log.find(agents.string() + ": agents.sales.tools[0].url") != std::string::npos);
  }

  SECTION("SIGHUP") {
    write_agents(agents, "gpt-realtime-mini");
    peers::child_process server(spec);
    REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/healthz", 500ms); }, 10s));
    // A call's OpenAI session, as the fake saw it: its URL names the model.
    const auto call = [&](std::size_t n) -> std::string {
      // A caller that fails (a machine busy with parallel tests) is
      // replaced by a fresh one, up to three times.
      std::string caller_error;
      for (int attempt = 0; attempt < 3; ++attempt) {
        peers::caller_pool callers;
        const int id = callers.start_call({.url = fmt::format("ws://127.0.0.1:{}/media-stream", port),
                                           .script = {peers::step::pause{10s}, peers::step::hang_up{}}});
        // The caller stays until the session is open; the pool hangs up when it goes.
        if (openai.wait_for([&](const auto& s) { return s.size() >= n; }, 5s)) return openai.sessions()[n - 1].path;
        caller_error = callers.result(id).error;
      }
      FAIL("no OpenAI session for call " << n << "; caller: " << caller_error << "; server log:\n"
                                         << read_all(spec.log_path));
      return {};
    };
    CHECK(call(1) == "/v1/realtime?model=gpt-realtime-mini");

    write_agents(agents, "gpt-realtime");
    ::kill(server.pid(), SIGHUP);
    REQUIRE(peers::wait_until([&] { return read_all(spec.log_path).find("reloaded from") != std::string::npos; }, 5s));
    CHECK(call(2) == "/v1/realtime?model=gpt-realtime");

    std::ofstream(agents) << "{not json";
    ::kill(server.pid(), SIGHUP);
    REQUIRE(peers::wait_until(
        [&] { return read_all(spec.log_path).find("were not reloaded, the previous ones stay") != std::string::npos; },
        5s));
    CHECK(server.running());
    CHECK(call(3) == "/v1/realtime?model=gpt-realtime");
    CHECK(server.stop() == "exit 0");
  }
  fs::remove_all(dir);
}

}  // namespace rtb::e2e
