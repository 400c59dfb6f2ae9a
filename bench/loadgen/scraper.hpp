// Scrapes the bridge's /metrics the way Prometheus does, during the window:
// what one scrape costs while the calls run (its latency on loopback and the
// size of the text), and what scraping adds to the target's CPU (compare a
// run with --scrape-ms against the same run without).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "latency_stats.hpp"

namespace rtb::loadgen {

struct scrape_summary {
  std::uint64_t scrapes = 0;   ///< answered with 200
  std::uint64_t failures = 0;  ///< no answer, or not 200
  std::uint64_t bytes = 0;     ///< the last answer's body
  latency_summary latency;     ///< request written -> whole answer read
};

class scraper {
 public:
  /// GETs http://127.0.0.1:port/metrics every `every` until stop().
  scraper(int port, std::chrono::milliseconds every);
  ~scraper();  ///< stop()
  scraper(const scraper&) = delete;
  scraper& operator=(const scraper&) = delete;
  scrape_summary stop();

 private:
  void run();
  int port_;
  std::chrono::milliseconds every_;
  std::atomic<bool> stop_{false};
  scrape_summary summary_;
  std::vector<std::uint32_t> latencies_us_;
  std::thread thread_;
};

}  // namespace rtb::loadgen
