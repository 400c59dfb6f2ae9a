// Checks the floor relay (bench/floor_relay.cpp) end to end, as a process:
//
//   floor_relay_test FLOOR_RELAY_BINARY poll|uv|ev
//
// For each scenario it starts the relay binary with the given event loop and
// --port 0, reads its "listening on port N" line, runs scripted calls with the
// test peers (fake Twilio caller -> relay -> fake OpenAI), checks what both
// peers saw, then sends SIGTERM (SIGINT in the last scenario) and checks that
// the relay exits with status 0 promptly. Scenarios:
//   - a call: the caller speaks, hears the AI, interrupts it, hangs up; every
//     caller frame reached OpenAI as one append, the caller got audio and a
//     clear, the session.update was accepted (Twilio closes first);
//   - OpenAI closes mid-answer: the relay closes the caller (OpenAI first);
//   - OpenAI refuses the upgrade (HTTP 403), and nothing listens on its port:
//     the relay closes the caller.
// With FLOOR_RELAY_WRAPPER set (e.g. "valgrind --leak-check=full
// --error-exitcode=99"), the relay runs under that command (split on spaces)
// and the waits are longer. Exit status 0 when every check passed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <libwebsockets.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"

namespace {

using namespace std::chrono_literals;
using rtb::peers::call_result;
using rtb::peers::caller_options;
using rtb::peers::caller_pool;
using rtb::peers::fake_openai;
using rtb::peers::fake_openai_options;
using rtb::peers::session_record;
namespace step = rtb::peers::step;

int g_failures = 0;

void check(bool ok, std::string_view what) {
  if (!ok) {
    ++g_failures;
    fmt::print("  FAILED: {}\n", what);
  }
}

std::vector<std::string> split_words(const char* text) {
  std::vector<std::string> out;
  if (!text) return out;
  std::string word;
  for (const char* p = text;; ++p) {
    if (*p == ' ' || *p == '\0') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
      if (*p == '\0') break;
    } else {
      word += *p;
    }
  }
  return out;
}

/// The relay as a child process; killed on destruction if still running.
class relay_process {
 public:
  relay_process(const std::string& binary, const std::string& loop, const std::string& openai_url) {
    std::vector<std::string> args = split_words(std::getenv("FLOOR_RELAY_WRAPPER"));
    wrapped_ = !args.empty();
    for (const char* a : {binary.c_str(), "--port", "0", "--event-loop", loop.c_str(), "--openai-url"})
      args.emplace_back(a);
    args.push_back(openai_url);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec (the parent has threads).
      dup2(fds[1], STDOUT_FILENO);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    if (pid_ < 0) {
      close(fds[0]);
      return;
    }
    port_ = read_port(fds[0], wrapped_ ? 60s : 10s);
    close(fds[0]);
  }
  ~relay_process() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  relay_process(const relay_process&) = delete;
  relay_process& operator=(const relay_process&) = delete;

  int port() const { return port_; }
  std::string stream_url() const { return fmt::format("ws://127.0.0.1:{}/media-stream", port_); }

  /// `sig` (SIGTERM or SIGINT), then waits for the exit; the exit status, or
  /// nullopt if it did not exit normally in time (then it is killed).
  std::optional<int> terminate(int sig) {
    if (pid_ <= 0 || reaped_) return std::nullopt;
    kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + (wrapped_ ? 60s : 5s);
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        fmt::print("  relay ended by signal {}\n", WIFSIGNALED(status) ? WTERMSIG(status) : -1);
        return std::nullopt;
      }
      std::this_thread::sleep_for(5ms);
    }
    fmt::print("  relay did not exit within the deadline after {}\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return std::nullopt;
  }

 private:
  static int read_port(int fd, std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.find('\n') == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return -1;
      pollfd p{fd, POLLIN, 0};
      const int n = poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return -1;
      char buf[256];
      const ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0) return -1;
      line.append(buf, static_cast<std::size_t>(got));
    }
    constexpr std::string_view prefix = "floor-relay listening on port ";
    if (line.compare(0, prefix.size(), prefix) != 0) return -1;
    return std::atoi(line.c_str() + prefix.size());
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  bool wrapped_ = false;
  int port_ = -1;
};

/// A loopback TCP port that is bound but not listening: connects are refused.
class refusing_port {
 public:
  refusing_port() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
  }
  ~refusing_port() {
    if (fd_ >= 0) close(fd_);
  }
  refusing_port(const refusing_port&) = delete;
  refusing_port& operator=(const refusing_port&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = -1;
};

bool all_closed(const std::vector<session_record>& sessions) {
  return std::none_of(sessions.begin(), sessions.end(), [](const session_record& s) { return s.open; });
}

void check_relay_exit(relay_process& relay, std::chrono::milliseconds slack, int sig = SIGTERM) {
  // Let the last closes finish first, so that a leak checker running the
  // relay sees every call gone.
  std::this_thread::sleep_for(200ms + slack / 10);
  const auto status = relay.terminate(sig);
  check(status.has_value() && *status == 0,
        fmt::format("the relay exits with status 0 on {} (got {})", sig == SIGINT ? "SIGINT" : "SIGTERM",
                    status ? std::to_string(*status) : "none"));
}

struct context {
  std::string binary;
  std::string loop;
  std::chrono::milliseconds slack;  // extra wait under a wrapper such as valgrind
  caller_pool callers;
};

// The caller speaks, waits for AI audio, interrupts it, hangs up: Twilio's leg closes first.
void scenario_call(context& cx) {
  fmt::print("scenario: a call with a barge-in ({})\n", cx.loop);
  fake_openai_options o;
  o.script = {rtb::peers::scripted_response{"A long answer that the caller will interrupt.", {}, 6000, {}, false}};
  fake_openai openai(o);
  relay_process relay(cx.binary, cx.loop, openai.url("x"));
  check(relay.port() > 0, "the relay prints its port");
  if (relay.port() <= 0) return;

  const int id = cx.callers.start_call(
      {.url = relay.stream_url(),
       .script = {step::pause{200ms}, step::say{rtb::peers::synthetic_speech(700, 1)},
                  step::wait_for_ai_audio{500ms, 8s + cx.slack}, step::say{rtb::peers::synthetic_speech(700, 2)},
                  step::wait_for_ai_silence{5s}, step::pause{300ms}, step::hang_up{}}});
  check(cx.callers.wait(id, 20s + cx.slack), "the call finishes");
  const call_result r = cx.callers.result(id);
  check(openai.wait_for(all_closed, 5s + cx.slack), "the OpenAI session is closed after the hang-up");
  const auto sessions = openai.sessions();

  fmt::print("  caller: frames sent {}, media received {} ({} bytes), clears {}, violations {}\n", r.frames_sent,
             r.media_received, r.audio_bytes_received, r.clears, r.violations.size());
  check(r.connected, "the caller connects");
  check(r.stop_sent, "the caller hung up (stop sent)");
  check(r.audio_bytes_received > 0, "the caller hears AI audio");
  check(r.clears >= 1, "the caller gets a clear when it interrupts");
  check(r.violations.empty(), "nothing the caller got breaks Twilio's rules");
  for (const auto& v : r.violations) fmt::print("    {}\n", v);

  check(sessions.size() == 1, "one OpenAI session");
  if (sessions.size() != 1) return;
  const session_record& s = sessions[0];
  fmt::print("  openai: appends {} ({} bytes), responses {} (cancelled {}), speech_started {}, errors {}\n", s.appends,
             s.appended_bytes, s.responses, s.responses_cancelled, s.speech_started, s.errors_sent.size());
  check(s.authorization == "Bearer floor", "OpenAI gets Authorization: Bearer floor");
  check(s.host == fmt::format("127.0.0.1:{}", openai.port()), "the Host header names the port");
  check(!s.origin_header && !s.beta_header, "no Origin, no OpenAI-Beta header");
  check(s.path == "/v1/realtime?model=x", "the path and query are the URL's");
  check(!s.client_event_types.empty() && s.client_event_types[0] == "session.update",
        "session.update is the first client event");
  check(s.errors_sent.empty(), "OpenAI sent no error (the session.update was accepted)");
  for (const auto& e : s.errors_sent) fmt::print("    error {}\n", e);
  check(s.appends == r.frames_sent, "every caller frame reached OpenAI as one append");
  check(s.appended_bytes == r.frames_sent * 160, "byte for byte");
  check(s.responses >= 1 && s.speech_started >= 2, "OpenAI heard both utterances and answered");
  check(s.closed_by_client && s.client_close_code == 1000, "the relay closed the OpenAI leg with 1000");
  check_relay_exit(relay, cx.slack);
}

// OpenAI closes mid-answer (1011): the OpenAI leg closes first, the relay then closes the caller.
void scenario_openai_closes(context& cx) {
  fmt::print("scenario: OpenAI closes mid-answer ({})\n", cx.loop);
  fake_openai_options o;
  o.failure = rtb::peers::failure_mode::close_mid_response;
  fake_openai openai(o);
  relay_process relay(cx.binary, cx.loop, openai.url("x"));
  check(relay.port() > 0, "the relay prints its port");
  if (relay.port() <= 0) return;

  const int id = cx.callers.start_call({.url = relay.stream_url(),
                                        .script = {step::pause{200ms}, step::say{rtb::peers::synthetic_speech(700, 3)},
                                                   step::pause{20s}, step::hang_up{}}});
  check(cx.callers.wait(id, 10s + cx.slack), "the call finishes");
  const call_result r = cx.callers.result(id);
  fmt::print("  caller: frames sent {}, media received {}, closed by the relay {}\n", r.frames_sent, r.media_received,
             r.closed_by_bridge);
  check(r.connected && r.finished && r.closed_by_bridge && !r.stop_sent, "the relay closes the caller");
  check(r.close_code == 1000, fmt::format("with 1000 (got {})", r.close_code));
  check(r.audio_bytes_received > 0, "the caller heard the first half of the answer");
  const auto sessions = openai.sessions();
  check(sessions.size() == 1 && !sessions[0].closed_by_client, "OpenAI closed the session");
  check_relay_exit(relay, cx.slack);
}

// OpenAI is never reached: an HTTP 403 on the upgrade, or a refused TCP connect
// (this one ends the relay with SIGINT rather than SIGTERM).
void scenario_openai_unreachable(context& cx, bool refuse_upgrade) {
  fmt::print("scenario: {} ({})\n", refuse_upgrade ? "OpenAI refuses the upgrade" : "nothing listens for OpenAI",
             cx.loop);
  std::optional<fake_openai> openai;
  refusing_port nobody;
  std::string url;
  if (refuse_upgrade) {
    fake_openai_options o;
    o.failure = rtb::peers::failure_mode::refuse_upgrade;
    openai.emplace(o);
    url = openai->url("x");
  } else {
    check(nobody.port() > 0, "a refusing port");
    url = fmt::format("ws://127.0.0.1:{}/v1/realtime?model=x", nobody.port());
  }
  relay_process relay(cx.binary, cx.loop, url);
  check(relay.port() > 0, "the relay prints its port");
  if (relay.port() <= 0) return;

  // Two calls, so the relay is known to keep serving after a failed one.
  for (int n = 0; n < 2; ++n) {
    const int id = cx.callers.start_call({.url = relay.stream_url(), .script = {step::pause{20s}, step::hang_up{}}});
    check(cx.callers.wait(id, 5s + cx.slack), "the call finishes");
    const call_result r = cx.callers.result(id);
    check(r.connected && r.finished && r.closed_by_bridge && !r.stop_sent, "the relay closes the caller");
    check(r.close_code == 1000, fmt::format("with 1000 (got {})", r.close_code));
  }
  if (openai) check(openai->upgrades_refused() == 2, "both upgrades were refused");
  check_relay_exit(relay, cx.slack, refuse_upgrade ? SIGTERM : SIGINT);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view loop = argc == 3 ? argv[2] : "";
  if (loop != "poll" && loop != "uv" && loop != "ev") {
    fmt::print(stderr, "usage: floor_relay_test FLOOR_RELAY_BINARY poll|uv|ev\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  lws_set_log_level(LLL_ERR | LLL_WARN, nullptr);  // the peers' lws contexts
  const bool wrapped = !split_words(std::getenv("FLOOR_RELAY_WRAPPER")).empty();
  try {
    context cx{argv[1], argv[2], wrapped ? 20000ms : 0ms, caller_pool{}};
    scenario_call(cx);
    scenario_openai_closes(cx);
    scenario_openai_unreachable(cx, true);
    scenario_openai_unreachable(cx, false);
  } catch (const std::exception& e) {
    fmt::print("FAILED: {}\n", e.what());
    return 1;
  }
  fmt::print("{}\n", g_failures == 0 ? "all checks passed" : fmt::format("{} checks failed", g_failures));
  return g_failures == 0 ? 0 : 1;
}
