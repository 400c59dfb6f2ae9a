// Percentiles of latency samples (µs).
#pragma once

#include <cstdint>
#include <vector>

namespace rtb::loadgen {

struct latency_summary {
  std::uint64_t count = 0;
  double mean_us = 0;
  std::uint32_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

/// Nearest-rank percentiles; sorts `samples` in place.
latency_summary summarize(std::vector<std::uint32_t>& samples);

}  // namespace rtb::loadgen
