// Many frequent timers on one lws service thread, without lws' timers.
//
// Why: lws 4.1.6 turns the time to its next sul (lws_sorted_usec_list_t)
// into a poll() or libuv timeout in whole milliseconds, rounded down
// (lib/plat/unix/unix-service.c, lib/event-libs/libuv/libuv.c), so during
// the last millisecond before every sul the loop waits 0 ms and spins. A
// fake caller has a sul every 20 ms per call and the fake OpenAI one per
// response chunk: with a hundred calls one is always less than a
// millisecond away, and the service thread spins all the time (measured:
// more than half of the load generator's CPU in clock_gettime).
//
// How: the timers live here, in time order. A ticker thread looks every
// millisecond and, when the earliest is due, wakes the service thread with
// lws_cancel_service() (the one lws call allowed from another thread); the
// service thread runs the due timers from LWS_CALLBACK_EVENT_WAIT_CANCELLED
// (run_due). Resolution: about a millisecond. A timer set to fire at once
// from inside run_due fires at the next wake, not in the same pass, so the
// sockets are served in between.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "realtime_bridge/time.hpp"

struct lws_context;

namespace rtb::peers {

class service_timers {
 public:
  struct timer {
    void (*fire)(timer&) = nullptr;  ///< set by the owner; runs on the service thread
    void* owner = nullptr;           ///< for the owner's use
    // bookkeeping
    bool armed = false;
    std::uint64_t generation = 0;  // changes at every schedule/cancel
    std::multimap<timestamp, timer*>::iterator at{};
  };

  /// Starts the ticker for `ctx`.
  explicit service_timers(lws_context* ctx);
  ~service_timers();  ///< stop()
  service_timers(const service_timers&) = delete;
  service_timers& operator=(const service_timers&) = delete;

  /// Stops the ticker (joins it). Call before the context is destroyed; the
  /// timers no longer fire afterwards. Any thread but the ticker.
  void stop();

  // Service thread only. A timer's owner must cancel it before it goes away,
  // and must not be destroyed from inside a fire().
  void schedule(timer& t, timestamp due);
  void cancel(timer& t) noexcept;
  /// Runs the timers due at `now` (each fire() may schedule or cancel timers).
  void run_due(timestamp now);

 private:
  void publish_next() noexcept;
  void tick_loop();

  lws_context* ctx_;
  std::multimap<timestamp, timer*> queue_;
  std::atomic<std::int64_t> next_due_ns_;  // steady_clock ns of the earliest timer; max = none
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_{false};
  std::vector<std::pair<timer*, std::uint64_t>> due_;  // run_due's batch (reused)
  std::thread ticker_;
};

}  // namespace rtb::peers
