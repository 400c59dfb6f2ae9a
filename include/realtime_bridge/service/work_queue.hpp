// A few threads for work that may block (database reads for the calls API),
// so that it never runs on a thread that carries calls. Bounded: when full,
// submit() says no and the caller answers "busy" at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rtb::service {

class work_queue {
 public:
  explicit work_queue(std::size_t threads = 2, std::size_t max_pending = 256);
  ~work_queue();  ///< runs what is queued, then stops
  work_queue(const work_queue&) = delete;
  work_queue& operator=(const work_queue&) = delete;

  /// False (and `task` not run) when max_pending tasks already wait.
  bool submit(std::function<void()> task);

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::size_t max_pending_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace rtb::service
