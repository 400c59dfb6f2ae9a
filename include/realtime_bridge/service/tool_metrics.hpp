// What the agents' HTTP tools did, for /metrics: requests by outcome and how
// long they took. Thread-safe: answers arrive on whichever thread the HTTP
// client calls back on; a scrape reads the counters from another.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "realtime_bridge/metrics.hpp"
#include "realtime_bridge/service/http_tools.hpp"

namespace rtb::service {

class tool_metrics {
 public:
  void record(tool_reply outcome, std::chrono::microseconds latency) noexcept;
  /// rtb_tool_requests_total{outcome} and the rtb_tool_request_seconds histogram.
  void write(prometheus_writer& w) const;

 private:
  static constexpr tool_reply all[] = {tool_reply::answered, tool_reply::http_error, tool_reply::timeout,
                                       tool_reply::unreachable, tool_reply::too_large};
  std::array<std::atomic<std::uint64_t>, std::size(all)> outcomes_{};
  latency_histogram latency_;
};

}  // namespace rtb::service
