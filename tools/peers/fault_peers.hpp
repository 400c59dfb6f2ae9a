// Peers that misbehave on purpose, for the adapter's fault matrix
// (fault_plan.hpp): a fake OpenAI server and a fake Twilio caller on plain
// sockets (and OpenSSL for TLS), each connection on a thread of its own,
// able to stop at any stage of a connection and commit any of the matrix's
// faults there. Between faults they behave, minimally: enough protocol for a
// call to carry audio both ways and end cleanly.
//
// Every wait is bounded: a connection that the bridge never closes is given up
// after `linger_limit` and reported as such (never_closed), so a test fails
// instead of hanging.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "peers/fault_plan.hpp"

namespace rtb::peers {

/// What a fault peer saw of one connection, for assertions.
struct fault_report {
  faults::stage at = faults::stage::open;
  faults::fault what = faults::fault::none;
  bool reached = false;          ///< the connection got to its stage (the fault was committed there)
  bool upgraded = false;         ///< the WebSocket upgrade completed
  int http_status = 0;           ///< the caller: the status of the upgrade's answer
  int messages_received = 0;     ///< text messages from the bridge
  int audio_received = 0;        ///< OpenAI: appends; caller: media messages
  bool close_frame_received = false;
  std::uint16_t close_code = 0;  ///< of the bridge's close frame
  bool peer_reset = false;       ///< this peer ended the connection with an RST itself
  bool bridge_closed = false;    ///< the bridge closed (or reset) the connection
  bool never_closed = false;     ///< given up after linger_limit with the connection still open
  std::string error;             ///< a protocol surprise (not a fault of this peer's)
};

/// The OpenAI side. Each accepted connection takes the next script queued
/// with next(); connections with none left behave.
class fault_openai {
 public:
  struct options {
    std::string cert_file;  ///< with key_file: serve wss://
    std::string key_file;
    std::chrono::milliseconds linger_limit{8000};
    /// Audio deltas of each response (20 ms each) to a behaving session: one
    /// response when the first append arrives.
    int response_deltas = 5;
  };
  explicit fault_openai(options o);
  ~fault_openai();
  fault_openai(const fault_openai&) = delete;
  fault_openai& operator=(const fault_openai&) = delete;

  int port() const noexcept { return port_; }
  std::string url() const;

  void next(faults::stage at, faults::fault what);
  /// tcp_connecting faults: hold() stops accepting with the backlog full (SYNs
  /// go unanswered); refuse() stops listening (connections are refused);
  /// restore() accepts again.
  void hold();
  void refuse();
  void restore();
  /// Commits a fault that waits for its moment (simultaneous_close,
  /// other_leg_closes from the OpenAI side, the flood of stops_reading).
  void fire();

  /// Waits until `n` connections have ended; false on timeout.
  bool wait_finished(std::size_t n, std::chrono::milliseconds timeout);
  /// Connections that have reached their stage so far.
  std::uint64_t reached_count() const;
  /// Waits until more than `above` connections have reached their stage.
  bool wait_reached(std::uint64_t above, std::chrono::milliseconds timeout);
  std::vector<fault_report> finished() const;
  std::size_t connections_open() const;

 private:
  struct connection;
  void accept_loop();
  void serve(int fd, faults::stage at, faults::fault what);
  void record(fault_report r);

  options options_;
  int listen_fd_ = -1;
  int port_ = 0;
  void* tls_ = nullptr;  // SSL_CTX*
  std::vector<int> held_;  // connections filling the backlog while held
  std::atomic<bool> stop_{false};
  std::atomic<int> fired_{0};
  std::thread acceptor_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<faults::stage, faults::fault>> scripts_;
  enum class listening { accepting, held, refused } state_ = listening::accepting;
  std::vector<std::thread> workers_;
  std::vector<fault_report> finished_;
  std::size_t open_ = 0;
  std::uint64_t reached_ = 0;  ///< connections that reached their stage
};

/// The Twilio side: one caller per object, on its own thread.
class fault_caller {
 public:
  struct options {
    int port = 0;
    faults::stage at = faults::stage::streaming;
    faults::fault what = faults::fault::none;
    std::string call_sid = "CA00000000000000000000000000000000";
    std::chrono::milliseconds linger_limit{8000};
    /// Streaming faults are committed this long after `start` (unless they
    /// wait for fire()).
    std::chrono::milliseconds fault_after{200};
  };
  explicit fault_caller(options o);
  ~fault_caller();
  fault_caller(const fault_caller&) = delete;
  fault_caller& operator=(const fault_caller&) = delete;

  /// Sends `stop` and a close frame (a normal hang-up), now.
  void hang_up();
  /// Commits the fault now (a streaming fault, instead of after fault_after;
  /// simultaneous_close and stops_reading wait for this).
  void fire();
  bool wait_done(std::chrono::milliseconds timeout);
  bool wait_media(int n, std::chrono::milliseconds timeout);
  bool wait_reached(std::chrono::milliseconds timeout);
  fault_report result() const;

 private:
  void run();
  void update(const std::function<void(fault_report&)>& f);

  options options_;
  std::atomic<bool> hang_up_{false};
  std::atomic<bool> fired_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  fault_report report_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace rtb::peers
