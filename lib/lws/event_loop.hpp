// How a service thread waits for its sockets and timers.
//
// poll:  lws' built-in loop. Every wake-up scans every socket of the thread
//        with poll(), which dominates the CPU once a thread has hundreds of
//        calls.
// libev: lws' libev event library (epoll). The adapter owns the ev loop and
//        hands it to lws as a "foreign" loop, because a loop lws creates for
//        itself also watches SIGINT process-wide, which a library embedded in
//        someone else's process must never do. The libev event library is a
//        plugin lws loads at run time (Debian: libwebsockets-evlib-ev).
//
// Not libuv: lws' libuv glue turns a socket error into a hangup without
// reading, so a peer's last frames are lost when its RST arrives with them
// (docs/design.md). libev's epoll backend reports the error as readable, and
// lws reads what came first.
#pragma once

#include <atomic>
#include <memory>

#include <ev.h>
#include <libwebsockets.h>

#include "realtime_bridge/lws/server.hpp"

namespace rtb::lws_adapter {

class loop_runner;

/// A one-shot timer of the adapter's own (each call's, the accept pause), on
/// the loop of the thread that owns it. Under libev it is an ev_timer, not
/// an lws timer: lws 4.1.6's libev glue re-arms its single ev_timer with
/// ev_timer_set() while it is running, which libev ignores, so an lws timer
/// due before the one already armed runs late (seconds late on a quiet loop).
struct loop_timer {
  lws_sorted_usec_list_t sul{};  // first member: lws' callback gets its address
  ev_timer ev{};
  void (*fire)(loop_timer&) = nullptr;
  void* owner = nullptr;
  bool armed = false;
  bool counted = true;                  ///< in server_stats::timers_pending
  loop_runner* owner_runner = nullptr;  ///< the runner it is armed on
};

class loop_runner {
 public:
  virtual ~loop_runner() = default;

  virtual event_loop kind() const noexcept = 0;
  /// Sets what lws_create_context needs for this loop. False if the loop
  /// itself could not be created (then no context may be created on it).
  virtual bool prepare(lws_context_creation_info& info) = 0;
  /// Runs the loop on the calling thread until `exit` is set and wake() is
  /// called (or lws fails); the caller then destroys the context (destroy()).
  virtual void run(lws_context* context, const std::atomic<bool>& exit) = 0;
  /// Makes run() look at `exit`. Any thread.
  virtual void wake(lws_context* context) = 0;
  /// Destroys `context` (setting it to null): after run(), or instead of it
  /// (a failed start). On the thread that ran it, if any.
  virtual void destroy(lws_context*& context) = 0;
  /// (Re)arms `timer` to call its `fire` once, `delay_us` from now. On the
  /// loop's thread only, like cancel().
  void schedule(lws_context* context, loop_timer& timer, lws_usec_t delay_us) {
    if (!timer.armed && timer.counted) ++*pending_;
    timer.armed = true;
    arm(context, timer, delay_us);
  }
  void cancel(loop_timer& timer) {
    if (!timer.armed) return;
    timer.armed = false;
    if (timer.counted) --*pending_;
    disarm(timer);
  }

 protected:
  explicit loop_runner(std::atomic<std::int64_t>& pending) : pending_(&pending) {}
  virtual void arm(lws_context* context, loop_timer& timer, lws_usec_t delay_us) = 0;
  virtual void disarm(loop_timer& timer) = 0;
  /// The loop calls this when a timer comes due.
  void fire(loop_timer& timer) {
    if (timer.armed) {
      timer.armed = false;
      if (timer.counted) --*pending_;
    }
    timer.fire(timer);
  }

 private:
  std::atomic<std::int64_t>* pending_;
};

/// A runner of the given kind (`automatic` is not a kind: choose first).
/// `pending` counts the timers armed on it (server_stats::timers_pending).
std::unique_ptr<loop_runner> make_loop_runner(event_loop kind, std::atomic<std::int64_t>& pending);

const char* event_loop_name(event_loop kind) noexcept;

}  // namespace rtb::lws_adapter
