#include "realtime_bridge/metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace rtb {

latency_histogram::snapshot& latency_histogram::snapshot::operator+=(const snapshot& other) noexcept {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  count += other.count;
  sum_us += other.sum_us;
  return *this;
}

std::size_t latency_histogram::bucket_of(std::int64_t us) noexcept {
  return static_cast<std::size_t>(std::lower_bound(bounds_us.begin(), bounds_us.end(), us) - bounds_us.begin());
}

void latency_histogram::record(std::chrono::microseconds d) noexcept {
  const std::int64_t us = std::max<std::int64_t>(0, d.count());
  buckets_[bucket_of(us)].add();
  sum_us_.add(static_cast<std::uint64_t>(us));
}

void latency_histogram::record_shared(std::chrono::microseconds d) noexcept {
  const std::int64_t us = std::max<std::int64_t>(0, d.count());
  shared_buckets_[bucket_of(us)].fetch_add(1, std::memory_order_relaxed);
  shared_sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
}

latency_histogram::snapshot latency_histogram::read() const noexcept {
  snapshot s;
  for (std::size_t i = 0; i < s.buckets.size(); ++i) {
    s.buckets[i] = buckets_[i].get() + shared_buckets_[i].load(std::memory_order_relaxed);
    s.count += s.buckets[i];
  }
  s.sum_us = sum_us_.get() + shared_sum_us_.load(std::memory_order_relaxed);
  return s;
}

void prometheus_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void prometheus_writer::write_labels(const labels& l, std::string_view extra_name, std::string_view extra_value) {
  if (l.empty() && extra_name.empty()) return;
  out_.push_back('{');
  bool first = true;
  const auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out_.push_back(',');
    first = false;
    out_.append(name).append("=\"");
    for (const char c : value) {
      if (c == '\\')
        out_.append("\\\\");
      else if (c == '"')
        out_.append("\\\"");
      else if (c == '\n')
        out_.append("\\n");
      else
        out_.push_back(c);
    }
    out_.push_back('"');
  };
  for (const auto& [name, value] : l) one(name, value);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_.push_back('}');
}

void prometheus_writer::sample(std::string_view name, const labels& l, double value) {
  out_.append(name);
  write_labels(l);
  if (std::isfinite(value))
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  else
    out_.append(std::isnan(value) ? " NaN\n" : value > 0 ? " +Inf\n" : " -Inf\n");
}

void prometheus_writer::sample(std::string_view name, const labels& l, std::uint64_t value) {
  out_.append(name);
  write_labels(l);
  fmt::format_to(std::back_inserter(out_), " {}\n", value);
}

void prometheus_writer::histogram(std::string_view name, const labels& l, const latency_histogram::snapshot& h) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_histogram::bounds_us.size(); ++i) {
    cumulative += h.buckets[i];
    out_.append(bucket);
    write_labels(l, "le", fmt::format("{}", static_cast<double>(latency_histogram::bounds_us[i]) / 1e6));
    fmt::format_to(std::back_inserter(out_), " {}\n", cumulative);
  }
  out_.append(bucket);
  write_labels(l, "le", "+Inf");
  fmt::format_to(std::back_inserter(out_), " {}\n", h.count);
  out_.append(name).append("_sum");
  write_labels(l);
  fmt::format_to(std::back_inserter(out_), " {}\n", static_cast<double>(h.sum_us) / 1e6);
  out_.append(name).append("_count");
  write_labels(l);
  fmt::format_to(std::back_inserter(out_), " {}\n", h.count);
}

}  // namespace rtb
