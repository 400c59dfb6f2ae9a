// Deferred work (server::after, rtb::scheduler): runs on a service thread after
// its delay, in order of due time; from a service thread it stays on that
// thread; everything still waiting when the server stops is told so, exactly
// once, and nothing is left armed.
#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "e2e_support.hpp"

namespace rtb::e2e {
namespace {

struct quiet_app final : lws_adapter::application {};

std::unique_ptr<lws_adapter::server> start_server() {
  lws_adapter::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.loop = loop_under_test();
  o.openai.url = "ws://127.0.0.1:9/v1/realtime";  // never used here
  o.log = {};
  auto started = lws_adapter::server::start(std::move(o), std::make_shared<quiet_app>());
  if (!started) FAIL("the bridge did not start: " << started.error().message);
  return std::move(*started);
}

}  // namespace

TEST_CASE("scheduler: work runs after its delay, in due order, never early", "[e2e][scheduler]") {
  auto server = start_server();
  std::mutex m;
  std::vector<int> order;
  std::vector<std::chrono::steady_clock::duration> waited;
  std::promise<void> all;
  std::atomic<int> left{3};
  const auto t0 = std::chrono::steady_clock::now();
  for (const int ms : {120, 30, 60}) {
    server->after(std::chrono::milliseconds(ms), [&, ms](bool stopped) {
      CHECK_FALSE(stopped);
      {
        std::lock_guard lock(m);
        order.push_back(ms);
        waited.push_back(std::chrono::steady_clock::now() - t0);
      }
      if (--left == 0) all.set_value();
    });
  }
  REQUIRE(all.get_future().wait_for(5s) == std::future_status::ready);
  std::lock_guard lock(m);
  // Posted to different threads, so only each one's own lower bound holds.
  REQUIRE(order.size() == 3);
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(waited[i] >= std::chrono::milliseconds(order[i]));
  CHECK(server->stats().timers_pending <= 2);  // the loop-lag ticks only
}

TEST_CASE("scheduler: work scheduled from a service thread stays on it", "[e2e][scheduler]") {
  auto server = start_server();
  std::promise<std::pair<std::thread::id, std::thread::id>> ids;
  server->after(10ms, [&](bool) {
    const auto first = std::this_thread::get_id();
    server->after(10ms, [&, first](bool) { ids.set_value({first, std::this_thread::get_id()}); });
  });
  auto f = ids.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  const auto [first, second] = f.get();
  CHECK((first == second));
  CHECK((first != std::this_thread::get_id()));
}

TEST_CASE("scheduler: stopping tells waiting work it was stopped, once each", "[e2e][scheduler]") {
  auto server = start_server();
  std::atomic<int> stopped{0};
  std::atomic<int> ran{0};
  std::atomic<int> rescheduled_stopped{0};
  for (int i = 0; i < 50; ++i) {
    server->after(1h, [&](bool was_stopped) {
      if (!was_stopped) {
        ++ran;
        return;
      }
      ++stopped;
      // Giving up may try again; that is refused at once, not lost.
      server->after(1ms, [&](bool again) {
        if (again) ++rescheduled_stopped;
      });
    });
  }
  std::this_thread::sleep_for(50ms);  // the posts reach their threads
  server->stop();
  server.reset();
  CHECK(ran == 0);
  CHECK(stopped == 50);
  CHECK(rescheduled_stopped == 50);
}

}  // namespace rtb::e2e
