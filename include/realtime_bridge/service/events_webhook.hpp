// Live events to another system: each event POSTed as JSON to a URL
// (EVENTS_URL in the reference server), signed like tool requests
// (X-Bridge-Signature: sha256=<hex HMAC-SHA256 of the body>), in order, retried
// with backoff. A thread of its own and a bounded queue: a slow or dead
// receiver costs dropped events (counted), never a call's time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "realtime_bridge/fetch.hpp"
#include "realtime_bridge/service/live_events.hpp"

namespace rtb::service {

struct webhook_options {
  std::string url;
  std::string secret;  ///< empty: not signed
  std::size_t max_queue = 1000;
  int max_attempts = 5;                          ///< 5xx, 429, timeouts and refusals are retried; other 4xx are not
  std::chrono::milliseconds first_backoff{500};  ///< doubles after each failed attempt
  std::chrono::milliseconds timeout{5000};       ///< per attempt
};

struct webhook_stats {
  std::uint64_t queued = 0;   ///< waiting now
  std::uint64_t sent = 0;     ///< answered 2xx
  std::uint64_t failed = 0;   ///< given up on (attempts exhausted, or refused with a 4xx)
  std::uint64_t dropped = 0;  ///< not queued: the queue was full
  std::uint64_t retries = 0;
};

class events_webhook {
 public:
  events_webhook(fetcher& http, webhook_options options);
  ~events_webhook();  ///< stops; what is still queued is dropped (counted as failed)
  events_webhook(const events_webhook&) = delete;
  events_webhook& operator=(const events_webhook&) = delete;

  /// Never waits.
  void enqueue(const live_event& e);
  webhook_stats stats() const;

 private:
  void run();
  /// One attempt; the fetch's result, or a timeout of our own if it never came.
  fetch_result attempt(const std::string& body);

  fetcher& http_;
  webhook_options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  webhook_stats stats_;
  std::thread thread_;
};

}  // namespace rtb::service
