// The bridge at the open-files limit: a thread that cannot accept stops
// watching its listening socket for a while (rather than spinning on it), and
// the waiting caller is accepted once descriptors are free again. The resume
// is the adapter's own timer on a quiet loop: under libev, an lws timer here
// ran seconds late (event_loop.hpp, loop_timer), and this test failed.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "e2e_support.hpp"

using namespace rtb;
using namespace rtb::e2e;
using namespace std::chrono_literals;

TEST_CASE("out of descriptors: the bridge pauses accepting, then takes the waiting call", "[e2e]") {
  peers::fake_openai_options options;
  options.expected_api_key = std::string(test_api_key);
  options.script = {peers::scripted_response{"Hello, sorry for the wait.", {}, 600, std::nullopt, false}};
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  call_config config = bridge::default_config();
  config.openai.greeting = {openai::greeting::style::instructions, "Greet the caller."};
  bridge b(openai, app, config, [](lws_adapter::server_options& o) { o.threads = 1; });
  peers::caller_pool callers;  // its loop and descriptors exist before the ceiling
  const std::string url = b.stream_url();

  // Room for exactly one more descriptor: the caller's socket. The bridge's
  // accept4() then fails with EMFILE. Nothing but the caller's start runs at
  // the limit: UBSan's type checks open a pipe to probe memory and, without a
  // descriptor for it, report a valid object as having an invalid vptr.
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const int next = ::dup(0);
  ::close(next);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(next + 1);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);

  const int id = callers.start_call({.url = url,
                                     .script = {peers::step::wait_for_ai_audio{0ms, 5s},
                                                peers::step::wait_for_ai_silence{5s}, peers::step::hang_up{}}});
  bool paused = false;
  for (int i = 0; i < 200 && !paused; ++i) {
    paused = app->logged("cannot accept connections");
    if (!paused) std::this_thread::sleep_for(5ms);
  }
  // Let the pause run a while at the limit: a loop that spins instead would
  // log (and burn a core) thousands of times here.
  std::this_thread::sleep_for(100ms);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  REQUIRE(paused);

  REQUIRE(callers.wait(id, 15s));
  const auto caller = callers.result(id);
  INFO("caller: " << caller.error << "; bridge log:\n" << fmt::format("{}", fmt::join(app->log_lines(), "\n")));
  CHECK(caller.connected);
  CHECK(caller.audio_bytes_received == 600 * 8);  // the whole greeting
  REQUIRE(app->wait_ended(1, 5s));
  CHECK(app->calls()[0].ended == end_reason::caller_hung_up);

  const auto lines = app->log_lines();
  const auto pauses = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("cannot accept connections") != std::string::npos;
  });
  CHECK(pauses >= 1);
  CHECK(pauses <= 2);  // one pause of 250 ms covers the 100 ms at the limit
  CHECK(b.server->stats().accept_pauses == static_cast<std::uint64_t>(pauses));
  CHECK(app->logged("Too many open files"));
}
