// Messages waiting for a WebSocket to become writeable.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace rtb::lws_adapter {

/// A FIFO of text messages, each stored with `headroom` spare bytes in front
/// (lws needs LWS_PRE bytes before the payload, and masks client payloads in
/// place, so every message needs its own buffer). Buffers are recycled: once
/// the queue has seen its largest burst it stops allocating.
class outbound_queue {
 public:
  explicit outbound_queue(std::size_t headroom) : headroom_(headroom) {}

  void push(std::string_view message) {
    std::string buffer;
    if (!spare_.empty()) {
      buffer = std::move(spare_.back());
      spare_.pop_back();
    }
    buffer.assign(headroom_, '\0');
    buffer.append(message);
    bytes_ += message.size();
    items_.push_back(std::move(buffer));
  }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  /// The front message's buffer; the payload starts at data() + headroom.
  std::string& front() noexcept { return items_.front(); }
  std::size_t front_length() const noexcept { return items_.front().size() - headroom_; }
  void pop() {
    bytes_ -= front_length();
    spare_.push_back(std::move(items_.front()));
    items_.pop_front();
    if (spare_.size() > max_spare) spare_.pop_back();
  }
  void clear() {
    while (!items_.empty()) pop();
  }

 private:
  static constexpr std::size_t max_spare = 64;
  std::size_t headroom_;
  std::size_t bytes_ = 0;
  std::deque<std::string> items_;
  std::vector<std::string> spare_;
};

}  // namespace rtb::lws_adapter
