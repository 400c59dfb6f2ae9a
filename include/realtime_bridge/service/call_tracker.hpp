// Keeps what a call leaves behind: a call_observer that turns the call's host
// events into records in the call store (the call, each conversation item as
// it completes, tool calls, barge-ins, DTMF) and live events for operators.
// One per call, on the call's thread; the store and the hub take their
// records without waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/live_events.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb::service {

struct tracker_options {
  call_store* store = nullptr;  ///< null: no records
  event_hub* hub = nullptr;     ///< null: no live events
  call_direction direction = call_direction::inbound;
  price_table prices;
  std::string trace_path;  ///< recorded as an event, for the calls API's /trace
};

class call_tracker final : public call_observer {
 public:
  explicit call_tracker(tracker_options options);

  /// The agent chosen for the call (before or at stream_started).
  void set_agent(std::string agent) { agent_ = std::move(agent); }
  /// The From and To of the call (from the stream's parameters when not given).
  void set_numbers(std::string from, std::string to);
  /// A tool the host answered: its output, how it went, and how long it took.
  void tool_answered(std::string_view call_id, std::string_view output, tool_outcome outcome,
                     std::chrono::milliseconds latency);

  void on_stream_started(const to_host::stream_started& e) override;
  void on_caller_transcript(const to_host::caller_transcript& e) override;
  void on_ai_transcript(const to_host::ai_transcript& e) override;
  void on_ai_interrupted(const to_host::ai_interrupted& e) override;
  void on_dtmf(const to_host::dtmf& e) override;
  void on_tool_call(const to_host::tool_call& e) override;
  void on_call_ended(const call_summary& s) override;

  const std::string& call_sid() const noexcept { return call_sid_; }

 private:
  struct open_item {  ///< an assistant item, until the call ends (it may still be interrupted)
    std::string item_id;
    std::int64_t seq = -1;
    records::item record;
  };
  struct open_tool {
    std::string call_id;
    records::tool_call record;
  };
  void publish(std::string_view type, std::string json);
  void publish_item(const records::item& i);
  open_item& assistant_item(std::string_view item_id);

  tracker_options options_;
  std::unique_ptr<call_recorder> recorder_;
  std::string call_sid_, stream_sid_, from_, to_, agent_;
  std::vector<open_item> assistant_items_;  ///< bounded: the latest few
  std::vector<open_tool> open_tools_;
};

}  // namespace rtb::service
