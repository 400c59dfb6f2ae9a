// Live call events for an operator's screen and other systems: call started,
// each conversation item as it completes, tool calls, barge-ins, DTMF, call
// ended. Published on calls' threads, fanned out to subscribers (the calls
// page over Server-Sent Events, a webhook) without ever waiting on them.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rtb::service {

/// One event: its type (call_started, item, tool_call, barge_in, dtmf,
/// call_ended) and its JSON object (with "type", "call_sid" and "at").
struct live_event {
  std::string type;
  std::string call_sid;
  std::string json;
};

/// The event as a Server-Sent Events frame: "event: <type>\ndata: <json>\n\n".
std::string sse_frame(const live_event& e);

/// Fans events out to subscribers. Thread-safe; publish() never waits on a
/// subscriber: each one must take the event at once (queue it) and say
/// whether it wants more.
class event_hub {
 public:
  /// Returns false once it wants no more (its client left): it is dropped.
  using subscriber = std::function<bool(const live_event&)>;

  void publish(const live_event& e);
  std::uint64_t subscribe(subscriber s);
  void unsubscribe(std::uint64_t id);
  std::size_t subscribers() const;
  std::uint64_t published() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::uint64_t, subscriber>> subscribers_;
  std::uint64_t next_id_ = 1;
  std::uint64_t published_ = 0;
};

}  // namespace rtb::service
