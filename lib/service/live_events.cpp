#include "realtime_bridge/service/live_events.hpp"

#include <algorithm>

namespace rtb::service {

std::string sse_frame(const live_event& e) {
  std::string out;
  out.reserve(e.json.size() + e.type.size() + 16);
  out.append("event: ").append(e.type).append("\ndata: ").append(e.json).append("\n\n");
  return out;
}

void event_hub::publish(const live_event& e) {
  // Subscribers are called under the lock: they only queue, and this keeps
  // each subscriber's events in the order they were published.
  const std::lock_guard lock(mutex_);
  ++published_;
  std::erase_if(subscribers_, [&](auto& s) { return !s.second(e); });
}

std::uint64_t event_hub::subscribe(subscriber s) {
  const std::lock_guard lock(mutex_);
  subscribers_.emplace_back(next_id_, std::move(s));
  return next_id_++;
}

void event_hub::unsubscribe(std::uint64_t id) {
  const std::lock_guard lock(mutex_);
  std::erase_if(subscribers_, [&](const auto& s) { return s.first == id; });
}

std::size_t event_hub::subscribers() const {
  const std::lock_guard lock(mutex_);
  return subscribers_.size();
}

std::uint64_t event_hub::published() const {
  const std::lock_guard lock(mutex_);
  return published_;
}

}  // namespace rtb::service
