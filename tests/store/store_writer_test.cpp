// The writer's guarantees, against a backend the test controls: record()
// never waits, a full queue drops and counts, batches take what queued up,
// failures are retried then isolated, stop() drains.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/service/store_writer.hpp"

namespace svc = rtb::service;
using namespace std::chrono_literals;

namespace {

// A backend whose writes can be held at a gate, and that fails every batch
// containing a record of call "bad".
class gated_backend final : public svc::store_backend {
 public:
  struct shared {
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    int waiting = 0;                       ///< writes held at the gate
    std::vector<std::size_t> batch_sizes;  ///< committed batches
    std::vector<std::string> written;      ///< call_sid:seq of each committed record, in order
    int write_calls = 0;
    int recoveries = 0;
    int closes = 0;
    svc::store_time closed_at{};
    bool wrote_before_close = false;
  };

  explicit gated_backend(std::shared_ptr<shared> s) : s_(std::move(s)) {}

  rtb::result<void> write(std::span<const svc::record> batch) override {
    std::unique_lock lock(s_->m);
    ++s_->write_calls;
    if (s_->closes == 0) s_->wrote_before_close = true;
    ++s_->waiting;
    s_->cv.notify_all();
    s_->cv.wait(lock, [&] { return s_->open; });
    --s_->waiting;
    for (const auto& r : batch) {
      if (svc::call_sid_of(r) == "bad") return rtb::error{rtb::errc::invalid_value, "bad record"};
    }
    s_->batch_sizes.push_back(batch.size());
    for (const auto& r : batch) {
      const auto* i = std::get_if<svc::records::item>(&r);
      s_->written.push_back(std::string(svc::call_sid_of(r)) + ":" + (i ? std::to_string(i->seq) : "-"));
    }
    return {};
  }
  rtb::result<std::uint64_t> close_open_calls(svc::store_time now) override {
    std::lock_guard lock(s_->m);
    ++s_->closes;
    s_->closed_at = now;
    return std::uint64_t{3};
  }
  rtb::result<svc::call_page> list_calls(const svc::call_query&) override { return svc::call_page{}; }
  rtb::result<std::optional<svc::call_detail>> get_call(std::string_view) override {
    return std::optional<svc::call_detail>{};
  }
  void recover_connection() override {
    std::lock_guard lock(s_->m);
    ++s_->recoveries;
  }

 private:
  std::shared_ptr<shared> s_;
};

svc::record an_item(std::string sid, std::int64_t seq) {
  svc::records::item i;
  i.call_sid = std::move(sid);
  i.seq = seq;
  i.text = "words";
  return i;
}

struct fixture {
  std::shared_ptr<gated_backend::shared> s = std::make_shared<gated_backend::shared>();
  std::unique_ptr<svc::store_writer> writer;

  explicit fixture(svc::writer_options o = {}) {
    auto w = svc::store_writer::start(std::make_unique<gated_backend>(s), std::move(o), svc::store_time{42ms});
    REQUIRE(w);
    writer = std::move(*w);
  }
  void close_gate() {
    std::lock_guard lock(s->m);
    s->open = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(s->m);
      s->open = true;
    }
    s->cv.notify_all();
  }
  /// Waits until the writer is held at the gate.
  void wait_held() {
    std::unique_lock lock(s->m);
    REQUIRE(s->cv.wait_for(lock, 10s, [&] { return s->waiting > 0; }));
  }
};

}  // namespace

TEST_CASE("record() never waits for the database: past the queue's capacity records are dropped and counted",
          "[store][writer]") {
  svc::writer_options o;
  o.queue_capacity = 50;
  fixture f(o);
  f.close_gate();
  f.writer->record(an_item("CA1", 0));
  f.wait_held();  // the writer is stuck in the database with record 0

  // Every record() below returns although the database does not: had one
  // waited for it, this test would hang here.
  for (int i = 1; i < 60; ++i) f.writer->record(an_item("CA1", i));
  auto st = f.writer->stats();
  CHECK(st.accepted == 50);
  CHECK(st.dropped == 10);
  CHECK(st.queue_depth == 50);  // the one being written counts until it is done
  CHECK(st.max_queue_depth == 50);
  CHECK(st.written == 0);
  CHECK_FALSE(f.writer->flush(50ms));  // stuck: flush gives up at its timeout

  f.open_gate();
  REQUIRE(f.writer->flush(10s));
  st = f.writer->stats();
  CHECK(st.written == 50);
  CHECK(st.queue_depth == 0);
  CHECK(st.dropped == 10);
  CHECK(st.failed == 0);
  // Written in the order accepted: 0..49, and the dropped ones are the last ten.
  REQUIRE(f.s->written.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(f.s->written[static_cast<std::size_t>(i)] == "CA1:" + std::to_string(i));

  // Room again: the call goes on being recorded.
  f.writer->record(an_item("CA1", 60));
  REQUIRE(f.writer->flush(10s));
  CHECK(f.writer->stats().written == 51);
}

TEST_CASE("what queues while a transaction runs goes in the next one, max_batch records at most", "[store][writer]") {
  svc::writer_options o;
  o.max_batch = 10;
  fixture f(o);
  f.close_gate();
  f.writer->record(an_item("CA1", 0));
  f.wait_held();
  for (int i = 1; i <= 25; ++i) f.writer->record(an_item("CA1", i));
  f.open_gate();
  REQUIRE(f.writer->flush(10s));
  CHECK(f.s->batch_sizes == std::vector<std::size_t>{1, 10, 10, 5});
  CHECK(f.writer->stats().batches == 4);

  // A lone record does not wait for company.
  f.writer->record(an_item("CA1", 26));
  REQUIRE(f.writer->flush(10s));
  CHECK(f.s->batch_sizes.back() == 1);
}

TEST_CASE("a failed transaction is retried after recover_connection, then split so a bad record fails alone",
          "[store][writer]") {
  svc::writer_options o;
  o.retries = 2;
  o.retry_pause = 1ms;
  std::vector<std::string> log;
  o.log = [&](std::string_view line) { log.emplace_back(line); };
  fixture f(o);
  f.close_gate();
  f.writer->record(an_item("CA0", 0));
  f.wait_held();
  f.writer->record(an_item("CA1", 0));
  f.writer->record(an_item("bad", 0));
  f.writer->record(an_item("CA1", 1));
  f.open_gate();
  REQUIRE(f.writer->flush(10s));
  const auto st = f.writer->stats();
  CHECK(st.written == 3);
  CHECK(st.failed == 1);
  CHECK(st.batch_failures == 3);  // the batch of three, and its two retries
  CHECK(f.s->recoveries == 2);
  CHECK(f.s->written == std::vector<std::string>{"CA0:0", "CA1:0", "CA1:1"});
  CHECK(st.queue_depth == 0);
  REQUIRE(log.size() == 2);
  CHECK_THAT(log[0], Catch::Contains("a transaction of 3 records failed: bad record"));
  CHECK_THAT(log[1], Catch::Contains("gave up a record of call bad"));
}

TEST_CASE("start() closes the calls left open before anything is written", "[store][writer]") {
  fixture f;
  CHECK(f.s->closes == 1);
  CHECK(f.s->closed_at == svc::store_time{42ms});
  CHECK(f.writer->stats().recovered_calls == 3);
  f.writer->record(an_item("CA1", 0));
  REQUIRE(f.writer->flush(10s));
  CHECK_FALSE(f.s->wrote_before_close);
}

TEST_CASE("stop() writes everything accepted and records after it are dropped and counted", "[store][writer]") {
  fixture f;
  f.close_gate();
  f.writer->record(an_item("CA1", 0));
  f.wait_held();
  for (int i = 1; i < 20; ++i) f.writer->record(an_item("CA1", i));
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);
    f.open_gate();
  });
  f.writer->stop();
  opener.join();
  auto st = f.writer->stats();
  CHECK(st.written == 20);
  CHECK(st.queue_depth == 0);
  f.writer->record(an_item("CA1", 20));
  st = f.writer->stats();
  CHECK(st.dropped == 1);
  CHECK(st.accepted == 20);
  f.writer->stop();  // again: nothing happens
}

TEST_CASE("store_writer refuses a missing backend and an empty queue", "[store][writer]") {
  CHECK_FALSE(svc::store_writer::start(nullptr));
  svc::writer_options o;
  o.queue_capacity = 0;
  CHECK_FALSE(svc::store_writer::start(std::make_unique<gated_backend>(std::make_shared<gated_backend::shared>()), o));
}
