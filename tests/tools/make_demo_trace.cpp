// Records the trace bundled in examples/traces: fixture B (a caller barging in
// on the AI) run through a whole call against a simulated Twilio whose
// playback starts 40 ms after audio arrives. Writes the trace to stdout.
#include <iostream>

#include "realtime_bridge/trace.hpp"
#include "support/fixture_call.hpp"

int main() {
  rtb::ostream_trace_sink sink(std::cout);
  rtb::test::fixture_call call(rtb::test::acme_config(), std::chrono::milliseconds(40), &sink);
  call.run(rtb::test::load_fixture("b_barge_in"));
  return call.driver.finished() ? 0 : 1;
}
