#include "realtime_bridge/service/tool_metrics.hpp"

#include <string>

namespace rtb::service {

void tool_metrics::record(tool_reply outcome, std::chrono::microseconds latency) noexcept {
  for (std::size_t i = 0; i < std::size(all); ++i)
    if (all[i] == outcome) outcomes_[i].fetch_add(1, std::memory_order_relaxed);
  latency_.record_shared(latency);
}

void tool_metrics::write(prometheus_writer& w) const {
  w.family("rtb_tool_requests_total", "counter", "Requests to the agents' HTTP tools, by outcome.");
  for (std::size_t i = 0; i < std::size(all); ++i)
    w.sample("rtb_tool_requests_total", {{"outcome", std::string(to_string(all[i]))}},
             outcomes_[i].load(std::memory_order_relaxed));
  w.family("rtb_tool_request_seconds", "histogram", "A tool request sent -> its answer (or its failure).");
  w.histogram("rtb_tool_request_seconds", {}, latency_.read());
}

}  // namespace rtb::service
