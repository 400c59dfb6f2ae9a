#include "realtime_bridge/service/events_webhook.hpp"

#include <future>
#include <memory>

#include "realtime_bridge/service/http_tools.hpp"

namespace rtb::service {

events_webhook::events_webhook(fetcher& http, webhook_options options) : http_(http), options_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
}

events_webhook::~events_webhook() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void events_webhook::enqueue(const live_event& e) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.max_queue) {
      ++stats_.dropped;
      return;
    }
    queue_.push_back(e.json);
    stats_.queued = queue_.size();
  }
  wake_.notify_one();
}

webhook_stats events_webhook::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

fetch_result events_webhook::attempt(const std::string& body) {
  fetch_request r;
  r.url = options_.url;
  r.body = body;
  r.timeout = options_.timeout;
  r.max_response_bytes = 4096;
  if (!options_.secret.empty()) r.headers.emplace_back("X-Bridge-Signature", sign_body(options_.secret, body));
  // The callback may come after we stopped waiting (it always comes): it
  // holds its own share of the promise.
  auto promise = std::make_shared<std::promise<fetch_result>>();
  auto result = promise->get_future();
  http_.fetch(std::move(r), [promise](const fetch_result& res) { promise->set_value(res); });
  if (result.wait_for(options_.timeout + std::chrono::seconds(2)) == std::future_status::ready) return result.get();
  fetch_result late;
  late.error = fetch_error::timeout;
  return late;
}

void events_webhook::run() {
  for (;;) {
    std::string body;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        stats_.failed += queue_.size();
        queue_.clear();
        stats_.queued = 0;
        return;
      }
      body = std::move(queue_.front());
      queue_.pop_front();
      stats_.queued = queue_.size();
    }
    auto backoff = options_.first_backoff;
    for (int attempt_number = 1;; ++attempt_number) {
      const fetch_result r = attempt(body);
      const bool ok = r.ok();
      const bool permanent = r.error == fetch_error::bad_url ||
                             (r.error == fetch_error::none && r.status >= 400 && r.status < 500 && r.status != 429);
      std::unique_lock lock(mutex_);
      if (ok) {
        ++stats_.sent;
        break;
      }
      if (permanent || attempt_number >= options_.max_attempts || stopping_) {
        ++stats_.failed;
        break;
      }
      ++stats_.retries;
      wake_.wait_for(lock, backoff, [&] { return stopping_; });
      backoff *= 2;
    }
  }
}

}  // namespace rtb::service
