#include "realtime_bridge/service/work_queue.hpp"

namespace rtb::service {

work_queue::work_queue(std::size_t threads, std::size_t max_pending) : max_pending_(max_pending) {
  for (std::size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] {
      for (;;) {
        std::function<void()> task;
        {
          std::unique_lock lock(mutex_);
          wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
          if (tasks_.empty()) return;  // stopping, and nothing left
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        try {
          task();
        } catch (...) {
          // A task's own failure; the thread carries on.
        }
      }
    });
}

work_queue::~work_queue() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

bool work_queue::submit(std::function<void()> task) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || tasks_.size() >= max_pending_) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

}  // namespace rtb::service
