#include "latency_stats.hpp"

#include <algorithm>
#include <cmath>

namespace rtb::loadgen {

latency_summary summarize(std::vector<std::uint32_t>& samples) {
  latency_summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.count = samples.size();
  double sum = 0;
  for (auto v : samples) sum += v;
  s.mean_us = sum / static_cast<double>(samples.size());
  auto rank = [&](double p) {
    // nearest rank: the smallest value with at least p of the samples at or below it
    const auto n = static_cast<double>(samples.size());
    auto k = static_cast<std::size_t>(std::ceil(p * n));
    if (k < 1) k = 1;
    return samples[std::min(k, samples.size()) - 1];
  };
  s.p50_us = rank(0.50);
  s.p90_us = rank(0.90);
  s.p99_us = rank(0.99);
  s.p999_us = rank(0.999);
  s.max_us = samples.back();
  return s;
}

}  // namespace rtb::loadgen
