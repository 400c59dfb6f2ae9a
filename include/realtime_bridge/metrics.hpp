// Metrics without a dependency: counters and latency histograms cheap enough
// for the relay path (relaxed atomics, written by one thread, read by the
// scraper), and the Prometheus text format to expose them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtb {

/// A counter written by one thread and read by any: an increment is a
/// relaxed load and store (no locked instruction on the relay path).
class single_writer_counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A latency histogram with fixed buckets from 50 µs to 10 s (upper bounds,
/// Prometheus `le`), for one writing thread at a time (or many, through
/// record_shared()).
class latency_histogram {
 public:
  static constexpr std::array<std::int64_t, 16> bounds_us = {50,     100,     250,     500,     1'000,   2'500,
                                                            5'000,  10'000,  25'000,  50'000,  100'000, 250'000,
                                                            500'000, 1'000'000, 2'500'000, 10'000'000};
  struct snapshot {
    std::array<std::uint64_t, bounds_us.size() + 1> buckets{};  ///< per bucket (not cumulative); last: +Inf
    std::uint64_t count = 0;
    std::uint64_t sum_us = 0;
    snapshot& operator+=(const snapshot& other) noexcept;
  };

  /// From the one thread that owns this histogram.
  void record(std::chrono::microseconds d) noexcept;
  /// From any thread.
  void record_shared(std::chrono::microseconds d) noexcept;
  snapshot read() const noexcept;

 private:
  static std::size_t bucket_of(std::int64_t us) noexcept;
  std::array<single_writer_counter, bounds_us.size() + 1> buckets_;
  single_writer_counter sum_us_;
  std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> shared_buckets_{};
  std::atomic<std::uint64_t> shared_sum_us_{0};
};

/// Writes the Prometheus text exposition format (version 0.0.4).
class prometheus_writer {
 public:
  using labels = std::vector<std::pair<std::string_view, std::string>>;
  /// `# HELP` and `# TYPE` lines for a metric family; once per family, before its samples.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const labels& l, double value);
  void sample(std::string_view name, const labels& l, std::uint64_t value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  void sample(std::string_view name, std::uint64_t value) { sample(name, {}, value); }
  /// `name_bucket{le=…}` (cumulative, in seconds), `name_sum`, `name_count`.
  void histogram(std::string_view name, const labels& l, const latency_histogram::snapshot& h);
  const std::string& text() const noexcept { return out_; }

 private:
  void write_labels(const labels& l, std::string_view extra_name = {}, std::string_view extra_value = {});
  std::string out_;
};

}  // namespace rtb
