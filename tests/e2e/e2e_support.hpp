// End-to-end harness: the real server (lws adapter) on loopback between the
// fake OpenAI server and fake Twilio callers. Everything is bounded in time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "peers/fake_openai.hpp"
#include "peers/fake_twilio.hpp"
#include "realtime_bridge/lws/server.hpp"

namespace rtb::e2e {

using namespace std::chrono_literals;

/// What the application saw of one call.
struct call_events {
  std::vector<std::string> dtmf;
  std::vector<std::string> caller_transcripts;
  std::vector<std::string> ai_transcripts;
  std::vector<std::string> tool_calls;                              ///< "name(arguments)"
  std::vector<std::pair<std::string, std::int64_t>> interruptions;  ///< item, heard ms
  std::vector<std::string> warnings;
  std::optional<end_reason> ended;
  std::string end_detail;
  call_counters counters;
};

/// An application that records every call's host events and log lines, and
/// answers tool calls with `tool_output`.
class recording_app final : public lws_adapter::application {
 public:
  std::string tool_output = R"({"status":"shipped","eta":"tomorrow"})";

  std::unique_ptr<call_observer> observer_for_call(lws_adapter::call_handle control) override;

  std::vector<call_events> calls() const;
  /// Waits until `n` calls have ended.
  bool wait_ended(std::size_t n, std::chrono::milliseconds timeout) const;

  lws_adapter::log_function logger();
  std::vector<std::string> log_lines() const;
  bool logged(std::string_view needle) const;

 private:
  struct observer;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<std::shared_ptr<call_events>> calls_;
  std::vector<std::string> log_;
};

/// The bridge under test, wired to a fake OpenAI.
/// The event loop the bridges of this run use: RTB_TEST_EVENT_LOOP=poll, or
/// the default (libev) when unset. ctest runs the end-to-end tests with each.
lws_adapter::event_loop loop_under_test();

struct bridge {
  explicit bridge(peers::fake_openai& openai, std::shared_ptr<lws_adapter::application> app,
                  call_config config = default_config(), std::function<void(lws_adapter::server_options&)> tweak = {});
  ~bridge();

  /// A call's configuration for tests: short OpenAI timeouts, no Twilio
  /// media-idle deadline. Barge-in keeps its defaults (margin 0: the estimate
  /// covers the clear's journey once the round trip is measured).
  static call_config default_config();
  std::string stream_url() const;  ///< ws://127.0.0.1:<port>/media-stream

  std::unique_ptr<lws_adapter::server> server;
};

/// The API key the bridge is given in tests (checked never to appear in logs).
inline constexpr std::string_view test_api_key = "sk-test-SECRET-key-0123456789";

/// A caller script: speak, wait for the answer, hang up.
std::vector<peers::caller_step> ask_and_hang_up(int speech_ms = 800);

}  // namespace rtb::e2e
