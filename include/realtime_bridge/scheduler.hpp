// Deferred work, as an interface the shell implements: retries with backoff,
// a campaign's pacing. The libwebsockets adapter's server is one (timers on
// its service threads' event loops; no sleeping threads).
#pragma once

#include <chrono>
#include <functional>

namespace rtb {

class scheduler {
 public:
  virtual ~scheduler() = default;
  /// Runs `work` once, `delay` from now, with stopped = false; or, if the
  /// scheduler stops first, with stopped = true (give up cleanly). Always
  /// exactly once. Safe from any thread.
  virtual void after(std::chrono::milliseconds delay, std::function<void(bool stopped)> work) = 0;
};

}  // namespace rtb
