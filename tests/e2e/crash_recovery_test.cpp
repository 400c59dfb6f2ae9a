// Nothing is lost on a crash: the real server, killed with SIGKILL in the
// middle of a call, has written the call and its items so far; started again,
// it closes that call as bridge_restarted, and the calls API shows it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "e2e_support.hpp"
#include "raw_client.hpp"
#include "peers/child_process.hpp"
#include "realtime_bridge/service/store.hpp"

namespace rtb::e2e {
namespace {

std::string api_get(int port, const std::string& path) {
  // A small blocking HTTP GET with the test's admin token.
  return http_exchange(port, fmt::format("GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer crash-admin\r\n\r\n", path));
}

}  // namespace

TEST_CASE("a server killed mid-call has written the call so far, restarted, it closes it as bridge_restarted",
          "[e2e][crash][service]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("rtb-crash-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  peers::fake_openai_options fo;
  fo.expected_api_key = std::string(test_api_key);
  fo.script = {peers::scripted_response{"Let me see.", {}, 600, std::nullopt, false}};
  fo.caller_transcripts = {"Is my order there?"};
  peers::fake_openai openai(fo);

  const int port = peers::free_loopback_port();
  peers::child_spec spec;
  spec.path = RTB_SERVER_BINARY;
  spec.env = {{"PORT", std::to_string(port)},
              {"BIND_ADDRESS", "127.0.0.1"},
              {"OPENAI_API_KEY", std::string(test_api_key)},
              {"OPENAI_REALTIME_URL", openai.url()},
              {"ALLOW_UNSIGNED", "true"},
              {"TRANSCRIPTION_MODEL", "gpt-4o-mini-transcribe"},
              {"DATABASE_URL", "sqlite:" + (dir / "calls.db").string()},
              {"ADMIN_TOKEN", "crash-admin"},
              {"LOG_LEVEL", "warning"}};
  spec.unset_env = {"TWILIO_AUTH_TOKEN", "TRACE_DIR", "PUBLIC_URL", "EVENTS_URL"};
  spec.log_path = (dir / "server.log").string();

  std::string sid;
  {
    peers::child_process server(spec);
    REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/healthz", 500ms); }, 10s));
    peers::caller_pool callers;
    const int id = callers.start_call(
        {.url = fmt::format("ws://127.0.0.1:{}/media-stream", port),
         .script = {peers::step::pause{200ms}, peers::step::say{peers::synthetic_speech(700)},
                    peers::step::wait_for_ai_audio{0ms, 8s}, peers::step::wait_for_ai_silence{8s},
                    peers::step::pause{30s}, peers::step::hang_up{}}});
    sid = callers.result(id).call_sid;
    // The caller's words and the answer are written as they complete.
    REQUIRE(peers::wait_until(
        [&] {
          const std::string call = api_get(port, "/api/calls/" + sid);
          return call.find("Is my order there?") != std::string::npos && call.find("Let me see.") != std::string::npos;
        },
        15s));
    server.kill_now(SIGKILL);  // mid-call: no goodbye, no flush
    callers.wait(id, 10s);
  }
  {
    peers::child_process again(spec);
    REQUIRE(peers::wait_until([&] { return peers::http_get_ok(port, "/healthz", 500ms); }, 10s));
    const std::string call = api_get(port, "/api/calls/" + sid);
    INFO(call);
    CHECK(call.find(R"("end_reason":"bridge_restarted")") != std::string::npos);
    CHECK(call.find(R"("text":"Is my order there?")") != std::string::npos);
    CHECK(call.find(R"("text":"Let me see.")") != std::string::npos);
    again.stop();
  }
  fs::remove_all(dir);
}

}  // namespace rtb::e2e
