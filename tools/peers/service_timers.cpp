#include "peers/service_timers.hpp"

#include <libwebsockets.h>
#include <time.h>

#include <limits>

namespace rtb::peers {
namespace {

constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

std::int64_t ns_of(timestamp t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

service_timers::service_timers(lws_context* ctx) : ctx_(ctx), next_due_ns_(none) {
  ticker_ = std::thread([this] { tick_loop(); });
}

service_timers::~service_timers() { stop(); }

void service_timers::stop() {
  stop_.store(true);
  if (ticker_.joinable()) ticker_.join();
}

void service_timers::tick_loop() {
  // steady_clock is CLOCK_MONOTONIC on Linux: sleep to absolute millisecond
  // steps so the ticks do not drift.
  timespec next{};
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!stop_.load(std::memory_order_relaxed)) {
    next.tv_nsec += 1'000'000;
    if (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
    const std::int64_t due = next_due_ns_.load(std::memory_order_acquire);
    if (due == none || ns_of(clock::now()) < due) continue;
    if (!wake_pending_.exchange(true)) lws_cancel_service(ctx_);
  }
}

void service_timers::publish_next() noexcept {
  next_due_ns_.store(queue_.empty() ? none : ns_of(queue_.begin()->first), std::memory_order_release);
}

void service_timers::schedule(timer& t, timestamp due) {
  if (t.armed) queue_.erase(t.at);
  t.at = queue_.emplace(due, &t);
  t.armed = true;
  ++t.generation;
  publish_next();
}

void service_timers::cancel(timer& t) noexcept {
  ++t.generation;  // also stops it if it is in run_due's batch
  if (!t.armed) return;
  queue_.erase(t.at);
  t.armed = false;
  publish_next();
}

void service_timers::run_due(timestamp now) {
  wake_pending_.store(false);
  // Take the batch first: what fire() schedules for now waits for the next wake.
  due_.clear();
  while (!queue_.empty() && queue_.begin()->first <= now) {
    timer* t = queue_.begin()->second;
    queue_.erase(queue_.begin());
    t->armed = false;
    due_.emplace_back(t, t->generation);
  }
  publish_next();
  for (std::size_t i = 0; i < due_.size(); ++i) {
    auto [t, generation] = due_[i];
    // Rescheduled or cancelled by an earlier fire() of this batch: not due any more.
    if (t->armed || t->generation != generation || t->fire == nullptr) continue;
    t->fire(*t);
  }
}

}  // namespace rtb::peers
