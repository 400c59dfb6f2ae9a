// The writer: turns a synchronous store_backend into a call_store whose
// record() never waits for the database.
//
// Guarantees (each one tested in tests/store/):
// - record() takes a lock held only to move the record into a queue (no I/O,
//   no allocation while the queue is below its capacity) and returns.
// - The queue is bounded by writer_options::queue_capacity records (queued or
//   being written). Beyond it record() drops the record and counts it in
//   store_stats::dropped; the call goes on.
// - One thread writes, in the order records were accepted, as soon as they
//   arrive: whatever has queued up while the previous transaction ran goes in
//   the next one (up to max_batch records per transaction). A record handed
//   to record() is committed within one transaction's time of the writer
//   becoming free; nothing waits for a batch to fill.
// - A failed transaction is retried (after backend->recover_connection(),
//   with a growing pause), then split: each record is written on its own, so
//   one bad record (say, an item of a call whose start was dropped) costs only
//   itself, counted in store_stats::failed.
// - start() closes the calls a crash left open (backend->close_open_calls())
//   with end reason bridge_restarted, before anything else is written.
// - stop() (and the destructor) write everything accepted so far, then end
//   the thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/call_store.hpp"

namespace rtb::service {

struct writer_options {
  std::size_t queue_capacity = 10'000;         ///< records accepted and not yet written
  std::size_t max_batch = 500;                 ///< records per transaction, at most
  std::uint32_t retries = 2;                   ///< retries of a failed transaction before it is split
  std::chrono::milliseconds retry_pause{200};  ///< before the first retry; doubled for each next one
  /// Called on the writer's thread with a line about each failed transaction
  /// and each record given up. Default: nothing.
  std::function<void(std::string_view)> log;
};

class store_writer final : public call_store {
 public:
  /// Closes the calls a crash left open (store_stats::recovered_calls), then
  /// starts the writer thread.
  [[nodiscard]] static result<std::unique_ptr<store_writer>> start(std::unique_ptr<store_backend> backend,
                                                                   writer_options options = {},
                                                                   store_time now = store_now());
  ~store_writer() override;
  store_writer(const store_writer&) = delete;
  store_writer& operator=(const store_writer&) = delete;

  void record(rtb::service::record r) noexcept override;
  result<call_page> list_calls(const call_query& query) override { return backend_->list_calls(query); }
  result<std::optional<call_detail>> get_call(std::string_view call_sid) override {
    return backend_->get_call(call_sid);
  }
  bool flush(std::chrono::milliseconds timeout) override;
  store_stats stats() const override;

  /// Writes what was accepted, then stops the thread; record() drops (and
  /// counts) anything later. Idempotent.
  void stop();

 private:
  store_writer(std::unique_ptr<store_backend> backend, writer_options options, std::uint64_t recovered);
  void run();
  void write_batch(std::span<const rtb::service::record> batch);
  void finished(std::uint64_t written, std::uint64_t failed, bool committed_batch);
  void log(std::string_view line) const;

  std::unique_ptr<store_backend> backend_;
  writer_options options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;             ///< the writer: records arrived, or stop
  std::condition_variable done_;             ///< flush(): records were written
  std::vector<rtb::service::record> queue_;  ///< reserved to queue_capacity
  std::vector<rtb::service::record> taken_;  ///< the writer's; swapped with queue_
  bool stopping_ = false;
  store_stats stats_;
  std::uint64_t completed_ = 0;  ///< written + failed

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace rtb::service
