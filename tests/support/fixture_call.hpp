// Replays an OpenAI event fixture (tests/fixtures/openai) through a whole
// call_driver: server lines go to the OpenAI leg, client appends become Twilio
// media frames, Twilio's playout is simulated, and the fixture's
// function_call_output lines become the host's tool results.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "realtime_bridge/call_driver.hpp"
#include "support/test_support.hpp"
#include "support/twilio_playout.hpp"

namespace rtb::test {

struct fixture_line {
  std::int64_t t_ms = 0;
  bool server = false;
  int repeat = 1;
  std::string type;
  std::string event;  ///< minified JSON
};

/// Loads tests/fixtures/openai/<name>.jsonl (from `dir`, default the source tree).
std::vector<fixture_line> load_fixture(const std::string& name, const std::string& dir = RTB_FIXTURES_DIR);

/// The configuration the fixtures' session.update describes.
call_config acme_config();

/// One message the bridge sent to OpenAI.
struct sent_event {
  std::string type;
  std::string json;
};

class fixture_call {
 public:
  fixture_call(call_config config, std::chrono::microseconds twilio_start_delay, trace_sink* trace = nullptr);

  /// Runs the whole fixture, then Twilio's stop one second after its last line.
  void run(const std::vector<fixture_line>& lines);
  std::vector<sent_event> sent_to_openai() const;

  timestamp now{};
  simulated_twilio twilio;
  recording_transport openai;
  recording_observer observer;
  call_driver driver;
};

}  // namespace rtb::test
