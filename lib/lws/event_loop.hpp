// How a service thread waits for its sockets and timers.
//
// poll:  lws' built-in loop. Every wake-up scans every socket of the thread
//        with poll(), which dominates the CPU once a thread has hundreds of
//        calls.
// libuv: lws' libuv event library (epoll). The adapter owns the uv loop and
//        hands it to lws as a "foreign" loop, because a loop lws creates for
//        itself also installs process-wide signal handlers (SIGINT, SIGTERM,
//        SIGSEGV, …), which a library embedded in someone else's process must
//        never do. The libuv event library is a plugin lws loads at run time
//        (Debian: libwebsockets-evlib-uv).
#pragma once

#include <atomic>
#include <memory>

#include <libwebsockets.h>

#include "realtime_bridge/lws/server.hpp"

namespace rtb::lws_adapter {

class loop_runner {
 public:
  virtual ~loop_runner() = default;

  virtual event_loop kind() const noexcept = 0;
  /// Sets what lws_create_context needs for this loop. `slot` is where the
  /// caller keeps the context.
  virtual void prepare(lws_context_creation_info& info, lws_context** slot) = 0;
  /// Runs the loop on the calling thread until `exit` is set and wake() is
  /// called; then destroys `context` (setting it to null) and returns.
  virtual void run(lws_context*& context, const std::atomic<bool>& exit) = 0;
  /// Makes run() look at `exit`. Any thread.
  virtual void wake(lws_context* context) = 0;
  /// Destroys a context whose loop never ran (a failed start).
  virtual void destroy_unrun(lws_context*& context) = 0;
};

/// A runner of the given kind (`automatic` is not a kind: choose first).
std::unique_ptr<loop_runner> make_loop_runner(event_loop kind);

const char* event_loop_name(event_loop kind) noexcept;

}  // namespace rtb::lws_adapter
