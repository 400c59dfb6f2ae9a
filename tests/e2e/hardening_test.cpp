// Call handles used from other threads at any time, admission control, and
// the reference server's HTTP edges: all over loopback, under ASan in CI.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "e2e_support.hpp"
#include "raw_client.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "server/app.hpp"

namespace rtb::e2e {
namespace {

std::size_t count_of(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string_view::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

peers::fake_openai_options tool_first_options() {
  // The first response is a bare function call: the tool is asked for at once.
  peers::fake_openai_options o;
  o.expected_api_key = std::string(test_api_key);
  o.script = {peers::scripted_response{"", {}, 0, std::pair<std::string, std::string>{"lookup", "{}"}, false},
              peers::scripted_response{"Done.", {}, 200, std::nullopt, false}};
  return o;
}

call_config tool_config() {
  call_config c = bridge::default_config();
  c.openai.greeting = {openai::greeting::style::instructions, "Look it up."};
  c.openai.config.tools.push_back({"lookup", "Looks something up.", R"({"type":"object","properties":{}})"});
  return c;
}

/// Keeps every call's handle and tool call id; answers nothing by itself.
class handle_keeper final : public lws_adapter::application {
 public:
  struct kept {
    lws_adapter::call_handle handle;
    std::string tool_call_id;
  };
  std::unique_ptr<call_observer> observer_for_call(lws_adapter::call_handle handle) override {
    struct observer final : call_observer {
      observer(handle_keeper& k, lws_adapter::call_handle h) : keeper(k), handle(std::move(h)) {}
      void on_tool_call(const to_host::tool_call& e) override { keeper.tool_called(handle, std::string(e.call_id)); }
      void on_call_ended(const call_summary&) override { keeper.ended(); }
      handle_keeper& keeper;
      lws_adapter::call_handle handle;
    };
    return std::make_unique<observer>(*this, std::move(handle));
  }
  /// Called on the call's service thread; overridable by tests via `on_tool`.
  std::function<void(lws_adapter::call_handle, std::string)> on_tool;
  void tool_called(const lws_adapter::call_handle& h, std::string id) {
    {
      const std::lock_guard lock(mutex_);
      kept_.push_back({h, id});
    }
    if (on_tool) on_tool(h, std::move(id));
    changed_.notify_all();
  }
  void ended() {
    {
      const std::lock_guard lock(mutex_);
      ++ended_;
    }
    changed_.notify_all();
  }
  bool wait_ended(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return ended_ >= n; });
  }
  bool wait_kept(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return kept_.size() >= n; });
  }
  std::vector<kept> kept_calls() {
    const std::lock_guard lock(mutex_);
    return kept_;
  }
  std::size_t ended_calls() {
    const std::lock_guard lock(mutex_);
    return ended_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<kept> kept_;
  std::size_t ended_ = 0;
};

}  // namespace

TEST_CASE("a tool answered from another thread 1 s after the caller hung up does nothing, and says so",
          "[e2e][handles]") {
  peers::fake_openai openai(tool_first_options());
  auto app = std::make_shared<handle_keeper>();
  bridge b(openai, app, tool_config());
  peers::caller_pool callers;
  const int id = callers.start_call({.url = b.stream_url(), .script = {peers::step::pause{300ms}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 10s));
  REQUIRE(app->wait_ended(1, 5s));
  const auto kept = app->kept_calls();
  REQUIRE(kept.size() == 1);
  CHECK_FALSE(kept[0].handle.active());
  std::this_thread::sleep_for(1s);
  lws_adapter::command_result results[3];
  std::thread worker([&] {
    results[0] = kept[0].handle.submit_tool_result(kept[0].tool_call_id, R"({"late":true})");
    results[1] = kept[0].handle.send_user_text("hello?");
    results[2] = kept[0].handle.end_call("too late");
  });
  worker.join();
  for (auto r : results) CHECK(r == lws_adapter::command_result::call_ended);
  // A handle that names no call is as harmless.
  CHECK(lws_adapter::call_handle{}.end_call("x") == lws_adapter::command_result::call_ended);
  CHECK(lws_adapter::call_handle{}.id() == 0);
}

TEST_CASE("a tool answered from another thread while the call goes on reaches the model", "[e2e][handles]") {
  peers::fake_openai openai(tool_first_options());
  auto app = std::make_shared<handle_keeper>();
  std::atomic<int> accepted{0};
  std::vector<std::thread> workers;
  std::mutex workers_mutex;
  app->on_tool = [&](lws_adapter::call_handle h, std::string call_id) {
    const std::lock_guard lock(workers_mutex);
    workers.emplace_back([&accepted, h = std::move(h), call_id] {
      std::this_thread::sleep_for(100ms);
      if (h.submit_tool_result(call_id, R"({"found":true})") == lws_adapter::command_result::accepted) ++accepted;
    });
  };
  bridge b(openai, app, tool_config());
  peers::caller_pool callers;
  const int id = callers.start_call({.url = b.stream_url(),
                                     .script = {peers::step::wait_for_ai_audio{0ms, 5s},
                                                peers::step::wait_for_ai_silence{5s}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(id, 10s));
  {
    const std::lock_guard lock(workers_mutex);
    for (auto& w : workers) w.join();
  }
  CHECK(accepted == 1);
  REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && s[0].function_outputs.size() == 1; }, 5s));
  CHECK(openai.sessions()[0].function_outputs[0].second == R"({"found":true})");
  CHECK(callers.result(id).audio_bytes_received == 200 * 8);  // the answer after the tool
}

TEST_CASE("1000 calls whose tools answer late from a thread pool: no handle touches a call that is gone",
          "[e2e][handles]") {
  // The first answer is a short sentence and a tool call: callers hang up
  // 60-260 ms after its first audio (the tool call comes some 30 ms after
  // it), while a pool of 4 threads answers each tool 0-200 ms after it was
  // asked for: some answers land, some find the call gone.
  auto options = tool_first_options();
  options.record_client_events = false;
  options.script[0] =
      peers::scripted_response{"One moment.", {}, 100, std::pair<std::string, std::string>{"lookup", "{}"}, false};
  peers::fake_openai openai(options);
  auto app = std::make_shared<handle_keeper>();

  struct job {
    std::chrono::steady_clock::time_point at;
    lws_adapter::call_handle handle;
    std::string call_id;
  };
  std::mutex pool_mutex;
  std::condition_variable pool_cv;
  std::deque<job> jobs;
  bool stopping = false;
  std::atomic<int> accepted{0}, gone{0}, stopped{0};
  std::mt19937 rng(42);
  app->on_tool = [&](lws_adapter::call_handle h, std::string id) {
    const std::lock_guard lock(pool_mutex);
    jobs.push_back({std::chrono::steady_clock::now() + std::chrono::milliseconds(rng() % 200), std::move(h),
                    std::move(id)});
    pool_cv.notify_one();
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i)
    pool.emplace_back([&] {
      for (;;) {
        job j;
        {
          std::unique_lock lock(pool_mutex);
          pool_cv.wait(lock, [&] { return stopping || !jobs.empty(); });
          if (jobs.empty()) return;
          j = std::move(jobs.front());
          jobs.pop_front();
        }
        std::this_thread::sleep_until(j.at);
        switch (j.handle.submit_tool_result(j.call_id, R"({"ok":1})")) {
          case lws_adapter::command_result::accepted: ++accepted; break;
          case lws_adapter::command_result::call_ended: ++gone; break;
          case lws_adapter::command_result::server_stopped: ++stopped; break;
        }
      }
    });

  {
    bridge b(openai, app, tool_config());
    peers::caller_pool callers;
    constexpr int total = 1000, at_once = 50;
    std::mt19937 hang_up_rng(7);
    for (int started = 0; started < total; started += at_once) {
      std::vector<int> ids;
      for (int i = 0; i < at_once; ++i) {
        const auto wait = std::chrono::milliseconds(60 + hang_up_rng() % 200);
        ids.push_back(callers.start_call(
            {.url = b.stream_url(),
             .script = {peers::step::wait_for_ai_audio{0ms, 10s}, peers::step::pause{wait}, peers::step::hang_up{}}}));
      }
      for (int id : ids) REQUIRE(callers.wait(id, 20s));
    }
    REQUIRE(app->wait_ended(total, 30s));
    CHECK(b.server->wait_idle(10s));
  }
  {
    const std::lock_guard lock(pool_mutex);
    stopping = true;
  }
  pool_cv.notify_all();
  for (auto& t : pool) t.join();
  INFO("accepted " << accepted << ", call ended " << gone << ", server stopped " << stopped);
  // Most calls asked for their tool before the caller hung up (on a slow
  // build many hang up first), and every answer said what became of it.
  const auto asked = app->kept_calls().size();
  CHECK(asked >= 500);
  CHECK(static_cast<std::size_t>(accepted + gone + stopped) == asked);
  CHECK(accepted > 0);
  CHECK(gone > 0);
}

TEST_CASE("a handle kept after the server stopped says so", "[e2e][handles]") {
  peers::fake_openai openai(tool_first_options());
  auto app = std::make_shared<handle_keeper>();
  lws_adapter::call_handle kept;
  {
    bridge b(openai, app, tool_config());
    peers::caller_pool callers;
    const int id = callers.start_call({.url = b.stream_url(), .script = {peers::step::pause{2s}, peers::step::hang_up{}}});
    REQUIRE(app->wait_kept(1, 5s));
    kept = app->kept_calls()[0].handle;
    CHECK(kept.active());
    b.server->stop();  // ends the call in progress
    callers.wait(id, 5s);
  }  // the server is destroyed here
  lws_adapter::call_handle copy = kept;
  std::thread other([copy] { CHECK(copy.end_call("after stop") == lws_adapter::command_result::server_stopped); });
  other.join();
  CHECK(kept.send_user_text("x") == lws_adapter::command_result::server_stopped);
  CHECK_FALSE(kept.active());
}

TEST_CASE("admission: beyond max_calls a stream gets 503 before any OpenAI session, refusals are counted, "
          "logged at most once a second",
          "[e2e][admission]") {
  auto options = tool_first_options();
  options.script = {peers::scripted_response{"Hello.", {}, 200, std::nullopt, false}};
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  bridge b(openai, app, bridge::default_config(), [](lws_adapter::server_options& o) { o.max_calls = 2; });
  CHECK(b.server->max_calls() == 2);
  peers::caller_pool callers;
  const auto long_call = std::vector<peers::caller_step>{peers::step::pause{1500ms}, peers::step::hang_up{}};
  const int a = callers.start_call({.url = b.stream_url(), .script = long_call});
  const int c = callers.start_call({.url = b.stream_url(), .script = long_call});
  REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 2; }, 5s));
  CHECK(b.server->full());
  std::vector<int> refused;
  for (int i = 0; i < 5; ++i)
    refused.push_back(callers.start_call({.url = b.stream_url(), .script = {peers::step::hang_up{}}}));
  for (int id : refused) {
    REQUIRE(callers.wait(id, 5s));
    CHECK(callers.result(id).refused_status == 503);
  }
  CHECK(openai.sessions_opened() == 2);
  const auto stats = b.server->stats();
  CHECK(stats.admission_refusals == 5);
  CHECK(stats.streams_refused == 5);
  std::size_t refusal_lines = 0;
  for (const auto& line : app->log_lines()) refusal_lines += line.find("the most this process takes") != std::string::npos;
  CHECK(refusal_lines == 1);
  // When a call ends its slot is free again.
  REQUIRE(callers.wait(a, 10s));
  REQUIRE(callers.wait(c, 10s));
  CHECK(b.server->wait_idle(5s));
  CHECK_FALSE(b.server->full());
  const int later = callers.start_call({.url = b.stream_url(), .script = {peers::step::pause{200ms}, peers::step::hang_up{}}});
  REQUIRE(callers.wait(later, 10s));
  CHECK(callers.result(later).connected);
}

TEST_CASE("the reference server's HTTP edges: empty POST, wrong methods, the webhook while full or draining",
          "[e2e][http]") {
  peers::fake_openai openai(tool_first_options());
  server_app::settings s;
  s.public_url = "http://127.0.0.1";
  s.allow_unsigned = true;
  s.fallback_say = "Please call back later.";
  auto app = std::make_shared<server_app::bridge_app>(s);
  bridge b(openai, app, bridge::default_config(), [](lws_adapter::server_options& o) { o.max_calls = 1; });
  app->attach(b.server.get());
  const int port = b.server->port();

  SECTION("a POST with an empty body gets one well-formed response") {
    const std::string r = http_exchange(
        port, "POST /incoming-call HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    CHECK(r.starts_with("HTTP/1.1 200"));
    CHECK(count_of(r, "HTTP/1.1 ") == 1);
    CHECK(count_of(r, "content-type:") + count_of(r, "Content-Type:") == 1);
    CHECK(r.find("<Connect>") != std::string::npos);
  }
  SECTION("a method a route does not take gets 405 with Allow") {
    const std::string put = http_exchange(
        port, "PUT /incoming-call HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    CHECK(put.starts_with("HTTP/1.1 405"));
    CHECK((put.find("allow: GET, POST") != std::string::npos || put.find("Allow: GET, POST") != std::string::npos));
    const std::string del = http_exchange(port, "DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(del.starts_with("HTTP/1.1 405"));
    CHECK((del.find("allow: GET, HEAD") != std::string::npos || del.find("Allow: GET, HEAD") != std::string::npos));
    CHECK(http_exchange(port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").starts_with("HTTP/1.1 404"));
  }
  SECTION("at max_calls the webhook answers the fallback TwiML, not an error") {
    peers::caller_pool callers;
    const int id = callers.start_call({.url = b.stream_url(), .script = {peers::step::pause{1s}, peers::step::hang_up{}}});
    REQUIRE(openai.wait_for([](const auto& sessions) { return sessions.size() == 1; }, 5s));
    const std::string r =
        http_exchange(port, "GET /incoming-call?From=%2B14155550100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.starts_with("HTTP/1.1 200"));
    CHECK(r.find("<Say>Please call back later.</Say>") != std::string::npos);
    CHECK(r.find("<Connect>") == std::string::npos);
    REQUIRE(callers.wait(id, 10s));
  }
  SECTION("while draining: the webhook answers the fallback TwiML, / says so with 503") {
    b.server->stop_accepting();
    const std::string r = http_exchange(port, "GET /incoming-call HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.starts_with("HTTP/1.1 200"));
    CHECK(r.find("<Say>Please call back later.</Say>") != std::string::npos);
    const std::string health = http_exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(health.starts_with("HTTP/1.1 503"));
    CHECK(health.find(R"("status":"draining")") != std::string::npos);
  }
}

}  // namespace rtb::e2e
