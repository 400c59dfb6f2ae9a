// A program under test as a child process (the server, a tracer): its own
// CPU, its own environment, its output in a log file, stopped with SIGTERM
// (or killed, to test a crash).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace rtb::peers {

struct child_spec {
  std::string path;
  std::vector<std::string> args;                         ///< after argv[0]
  std::vector<std::pair<std::string, std::string>> env;  ///< set (over the inherited environment)
  std::vector<std::string> unset_env;                    ///< removed from the inherited environment
  int cpu = -1;                                          ///< pinned to this CPU (-1: not pinned)
  std::string log_path;                                  ///< stdout and stderr go here
};

class child_process {
 public:
  /// Starts the child (fork + sched_setaffinity + execve); throws
  /// std::runtime_error if it cannot. The child gets SIGTERM if we die.
  explicit child_process(const child_spec& spec);
  ~child_process();  ///< stop() if still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  /// False once it has exited (reaps it; exit_status() is then valid).
  bool running();
  /// SIGTERM, wait up to `grace`, then SIGKILL. Returns a description of how
  /// it ended ("exit 0", "signal 9 after SIGKILL", ...).
  std::string stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  int exit_status() const noexcept { return status_; }
  /// Sends `signal` (e.g. SIGKILL, for a crash) and reaps the child.
  void kill_now(int signal);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

/// A TCP port on 127.0.0.1 that was free a moment ago.
int free_loopback_port();

/// True when 127.0.0.1:port answers GET `path` with HTTP 200 (within `timeout`).
bool http_get_ok(int port, const std::string& path, std::chrono::milliseconds timeout);

/// Waits until `pred()` holds, polling every 20 ms; false on timeout.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout);

}  // namespace rtb::peers

#include <thread>

template <class Pred>
bool rtb::peers::wait_until(Pred pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}
