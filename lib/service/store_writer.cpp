// The writer thread. Producers (the threads that run calls) and the writer
// share one mutex, held only to move records in (record()) or to swap the
// whole queue out (run()); every database call happens outside it.
#include "realtime_bridge/service/store_writer.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace rtb::service {

result<std::unique_ptr<store_writer>> store_writer::start(std::unique_ptr<store_backend> backend,
                                                          writer_options options, store_time now) {
  if (!backend) return rtb::error{errc::invalid_config, "store_writer: no backend"};
  if (options.queue_capacity == 0 || options.max_batch == 0) {
    return rtb::error{errc::invalid_config, "store_writer: queue_capacity and max_batch must be at least 1"};
  }
  auto recovered = backend->close_open_calls(now);
  if (!recovered) return rtb::error{recovered.error().code, "closing calls left open: " + recovered.error().message};
  return std::unique_ptr<store_writer>(new store_writer(std::move(backend), std::move(options), *recovered));
}

store_writer::store_writer(std::unique_ptr<store_backend> backend, writer_options options, std::uint64_t recovered)
    : backend_(std::move(backend)), options_(std::move(options)) {
  queue_.reserve(options_.queue_capacity);
  taken_.reserve(options_.queue_capacity);
  stats_.queue_capacity = options_.queue_capacity;
  stats_.recovered_calls = recovered;
  thread_ = std::thread([this] { run(); });
}

store_writer::~store_writer() { stop(); }

void store_writer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void store_writer::record(rtb::service::record r) noexcept {
  bool was_empty;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || stats_.queue_depth >= options_.queue_capacity) {
      ++stats_.dropped;
      return;  // `r` is freed after the lock is released
    }
    was_empty = queue_.empty();
    queue_.push_back(std::move(r));  // within the reserved capacity: no allocation
    ++stats_.accepted;
    ++stats_.queue_depth;
    stats_.max_queue_depth = std::max(stats_.max_queue_depth, stats_.queue_depth);
  }
  if (was_empty) wake_.notify_one();
}

bool store_writer::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = stats_.accepted;
  return done_.wait_for(lock, timeout, [&] { return completed_ >= target; });
}

store_stats store_writer::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void store_writer::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      std::swap(queue_, taken_);
    }
    const std::span<const rtb::service::record> all(taken_);
    for (std::size_t at = 0; at < all.size(); at += options_.max_batch) {
      write_batch(all.subspan(at, std::min(options_.max_batch, all.size() - at)));
    }
    taken_.clear();  // keeps its capacity for the next swap
  }
}

void store_writer::write_batch(std::span<const rtb::service::record> batch) {
  auto written = backend_->write(batch);
  if (written) return finished(batch.size(), 0, true);

  {
    std::lock_guard lock(mutex_);
    ++stats_.batch_failures;
  }
  log("call store: a transaction of " + std::to_string(batch.size()) + " records failed: " + written.error().message);
  auto pause = options_.retry_pause;
  for (std::uint32_t attempt = 0; attempt < options_.retries; ++attempt) {
    std::this_thread::sleep_for(pause);
    pause *= 2;
    backend_->recover_connection();
    written = backend_->write(batch);
    if (written) return finished(batch.size(), 0, true);
    {
      std::lock_guard lock(mutex_);
      ++stats_.batch_failures;
    }
  }
  if (batch.size() == 1) {
    log("call store: gave up a record of call " + std::string(call_sid_of(batch.front())) + ": " +
        written.error().message);
    return finished(0, 1, false);
  }
  // Split: one bad record must not take the others with it.
  for (const rtb::service::record& r : batch) {
    auto one = backend_->write(std::span(&r, 1));
    if (one) {
      finished(1, 0, true);
    } else {
      log("call store: gave up a record of call " + std::string(call_sid_of(r)) + ": " + one.error().message);
      finished(0, 1, false);
    }
  }
}

void store_writer::finished(std::uint64_t written, std::uint64_t failed, bool committed_batch) {
  {
    std::lock_guard lock(mutex_);
    stats_.written += written;
    stats_.failed += failed;
    stats_.queue_depth -= written + failed;
    if (committed_batch) ++stats_.batches;
    completed_ += written + failed;
  }
  done_.notify_all();
}

void store_writer::log(std::string_view line) const {
  if (options_.log) options_.log(line);
}

}  // namespace rtb::service
