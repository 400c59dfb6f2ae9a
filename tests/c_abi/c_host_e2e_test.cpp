// The C example host (examples/c_host: plain C over the C ABI) running whole
// calls over loopback sockets between fake Twilio callers and the fake OpenAI
// (tools/peers): a tool call answered from C, a barge-in, OpenAI refusing the
// upgrade. The host runs as its own process, as a C program would.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"
#include "realtime_bridge/config_json.hpp"

extern char** environ;

using namespace rtb;
using namespace std::chrono_literals;

namespace {

constexpr const char* api_key = "sk-c-host-test";
constexpr const char* tool_result = R"({"status":"shipped","eta":"tomorrow"})";

/// A child process whose stdout the test reads line by line. Killed (by its
/// pid) and reaped on destruction if it is still running.
class child_process {
 public:
  explicit child_process(const std::vector<std::string>& args) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int err = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];
    fcntl(out_, F_SETFL, fcntl(out_, F_GETFL, 0) | O_NONBLOCK);
    REQUIRE(err == 0);
  }
  ~child_process() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      int s = 0;
      waitpid(pid_, &s, 0);
    }
    close(out_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The next line of output, or nothing if none came within `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (const auto nl = buffered_.find('\n'); nl != std::string::npos) {
        std::string line = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        all_ += line + "\n";
        return line;
      }
      if (!fill(until)) return std::nullopt;
    }
  }

  /// Waits for the process to exit (reading its output meanwhile): its exit
  /// status, or nothing after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int s = 0;
      if (waitpid(pid_, &s, WNOHANG) == pid_) {
        status_ = WIFEXITED(s) ? WEXITSTATUS(s) : 128 + WTERMSIG(s);
        break;
      }
      if (std::chrono::steady_clock::now() > until) return std::nullopt;
      fill(std::chrono::steady_clock::now() + 50ms);
    }
    while (fill(std::chrono::steady_clock::now() + 100ms)) {
    }
    all_ += buffered_;
    buffered_.clear();
    return status_;
  }

  /// Everything it printed so far.
  const std::string& output() const { return all_; }

 private:
  bool fill(std::chrono::steady_clock::time_point until) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) <= 0) return false;
    char chunk[4096];
    const ssize_t n = read(out_, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffered_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffered_;
  std::string all_;
  std::optional<int> status_;
};

/// A configuration file for the host, removed at the end of the test.
class config_file {
 public:
  explicit config_file(const call_config& config)
      : path_(std::filesystem::temp_directory_path() /
              ("rtb-c-host-" + std::to_string(getpid()) + "-" + std::to_string(counter_++) + ".json")) {
    std::string json;
    append_config_json(json, config);
    std::ofstream(path_) << json;
  }
  ~config_file() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

/// Like the adapter's end-to-end tests: loopback needs no barge-in margin,
/// and a test wants OpenAI's failures reported in seconds.
call_config test_config() {
  call_config c;
  c.barge_in.margin = 0ms;
  c.openai.timeouts.connect = 3000ms;
  c.openai.timeouts.configure = 3000ms;
  c.twilio.media_idle = 0ms;
  return c;
}

/// The host serving one call; its stream URL from its first line of output.
struct c_host {
  c_host(const peers::fake_openai& openai, const config_file& config)
      : process({RTB_C_HOST, "--openai-url", openai.url(), "--api-key", api_key, "--config", config.path(), "--calls",
                 "1", "--tool-result", tool_result}) {
    const auto first = process.read_line(10s);
    REQUIRE(first);
    const std::string prefix = "listening on ";
    REQUIRE(first->rfind(prefix, 0) == 0);
    stream_url = first->substr(prefix.size());
  }
  child_process process;
  std::string stream_url;
};

peers::fake_openai_options fake_options() {
  peers::fake_openai_options o;
  o.expected_api_key = api_key;
  return o;
}

}  // namespace

TEST_CASE("the C host runs a call with a tool call it answers from C", "[c_host]") {
  auto options = fake_options();
  options.script = {
      peers::scripted_response{"Let me check that.",
                               {},
                               500,
                               std::pair<std::string, std::string>{"get_order_status", R"({"order":"48217"})"},
                               false},
      peers::scripted_response{"Your order has shipped.", {}, 700, std::nullopt, false}};
  peers::fake_openai openai(options);
  call_config config = test_config();
  config.openai.config.tools.push_back(
      {"get_order_status", "Look up an order.", R"({"type":"object","properties":{"order":{"type":"string"}}})"});
  const config_file file(config);
  c_host host(openai, file);

  peers::caller_pool callers;
  const int id =
      callers.start_call({.url = host.stream_url,
                          .parameters = {{"tenant", "acme"}},
                          .script = {peers::step::pause{200ms}, peers::step::say{peers::synthetic_speech(700)},
                                     peers::step::wait_for_ai_audio{0ms, 5s}, peers::step::pause{1500ms},
                                     peers::step::wait_for_ai_silence{5s}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 20s));
  const auto caller = callers.result(id);
  CHECK(caller.connected);
  CHECK(caller.violations.empty());
  CHECK(caller.audio_bytes_received == (500 + 700) * 8);  // both answers, unchanged
  CHECK(caller.marks_echoed == caller.marks_received);
  CHECK(caller.marks_received > 0);

  REQUIRE(host.process.wait(10s) == 0);
  const std::string& out = host.process.output();
  INFO(out);
  CHECK(out.find("call 1:   tenant = acme") != std::string::npos);
  CHECK(out.find(R"(call 1: tool call )") != std::string::npos);
  CHECK(out.find(R"(get_order_status({"order":"48217"}))") != std::string::npos);
  CHECK(out.find("call 1 ended: caller_hung_up") != std::string::npos);

  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 1);
  const auto& s = sessions[0];
  CHECK(s.path == "/v1/realtime?model=gpt-realtime");
  CHECK(s.authorization == std::string("Bearer ") + api_key);
  CHECK(s.session_update.find(R"("type":"audio/pcmu")") != std::string::npos);
  REQUIRE(s.function_outputs.size() == 1);
  CHECK(s.function_outputs[0].second == tool_result);
  CHECK(s.responses == 2);
  // Every caller frame reached OpenAI as one append, byte for byte.
  CHECK(s.appends == caller.frames_sent);
  CHECK(s.appended_bytes == caller.frames_sent * 160);
}

TEST_CASE("the C host: the caller barges in and the truncate matches what was heard", "[c_host]") {
  auto options = fake_options();
  options.script = {
      peers::scripted_response{"A very long answer that the caller will interrupt.", {}, 6000, std::nullopt, false}};
  peers::fake_openai openai(options);
  const config_file file(test_config());
  c_host host(openai, file);

  peers::caller_pool callers;
  const int id = callers.start_call(
      {.url = host.stream_url,
       .script = {peers::step::pause{200ms}, peers::step::say{peers::synthetic_speech(700, 3)},
                  peers::step::wait_for_ai_audio{1500ms, 5s}, peers::step::say{peers::synthetic_speech(700, 4)},
                  peers::step::wait_for_ai_silence{5s}, peers::step::pause{500ms}, peers::step::hang_up{}},
       .playout_delay = 40ms});
  REQUIRE(callers.wait(id, 20s));
  const auto caller = callers.result(id);
  REQUIRE(caller.clears == 1);
  REQUIRE(caller.heard_at_clears.size() == 1);
  const auto sessions = openai.sessions();
  REQUIRE(sessions.size() == 1);
  REQUIRE(sessions[0].truncates.size() == 1);
  const auto& t = sessions[0].truncates[0];
  INFO("heard " << caller.heard_at_clears[0] << " ms, truncated at " << t.audio_end_ms << " ms");
  CHECK(t.accepted);
  // The adapter's own test holds this to 20 ms; here the clear also waits for
  // another process's poll() loop on a machine the other tests load, and the
  // caller hears whatever plays meanwhile.
  CHECK(std::abs(t.audio_end_ms - caller.heard_at_clears[0]) <= 60);

  REQUIRE(host.process.wait(10s) == 0);
  const std::string& out = host.process.output();
  INFO(out);
  CHECK(out.find("call 1: barge-in: heard ") != std::string::npos);
  CHECK(out.find("1 barge-ins") != std::string::npos);
}

TEST_CASE("the C host: OpenAI refusing the upgrade closes Twilio's stream with 1011", "[c_host]") {
  auto options = fake_options();
  options.failure = peers::failure_mode::refuse_upgrade;
  peers::fake_openai openai(options);
  const config_file file(test_config());
  c_host host(openai, file);

  peers::caller_pool callers;
  const int id = callers.start_call(
      {.url = host.stream_url,
       .script = {peers::step::say{peers::synthetic_speech(700)}, peers::step::pause{5s}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 15s));
  const auto caller = callers.result(id);
  CHECK(caller.connected);
  CHECK(caller.closed_by_bridge);
  CHECK(caller.close_code == 1011);
  CHECK(caller.close_reason == "openai_unreachable");
  CHECK(openai.upgrades_refused() == 1);

  REQUIRE(host.process.wait(10s) == 0);
  const std::string& out = host.process.output();
  INFO(out);
  CHECK(out.find("call 1 ended: openai_unreachable (connection failed (upgrade refused: HTTP/1.") != std::string::npos);
  CHECK(out.find(" 403 Forbidden") != std::string::npos);
}
