// The call tracker: a call's host events become store records (each item as
// it completes, rewritten when interrupted) and live events; the event hub
// and the events webhook deliver them.
#include <catch2/catch.hpp>

#include <mutex>

#include "realtime_bridge/service/call_tracker.hpp"
#include "realtime_bridge/service/events_webhook.hpp"
#include "support/memory_store.hpp"

using namespace rtb;
using namespace rtb::service;
using namespace std::chrono_literals;

namespace {

using test::memory_store;

}  // namespace

TEST_CASE("a call's host events become records and live events", "[tracker]") {
  memory_store store;
  event_hub hub;
  std::vector<live_event> events;
  hub.subscribe([&](const live_event& e) {
    events.push_back(e);
    return true;
  });
  call_tracker t({&store, &hub, call_direction::inbound, {}, "/tmp/call.jsonl"});
  t.set_agent("front-desk");
  const to_host::parameter params[] = {{"From", "+14155550100"}, {"To", "+15551230001"}};
  t.on_stream_started({"CA1", "MZ1", params});
  t.on_caller_transcript({"item_u1", "Where is my order?"});
  t.on_tool_call({"call_7", "lookup_order", R"({"order":"48217"})"});
  t.tool_answered("call_7", R"({"status":"shipped"})", tool_outcome::ok, 120ms);
  t.on_ai_transcript({"item_a1", "Your order has shipped, and should arrive tomorrow."});
  t.on_ai_interrupted({"item_a1", 2000, 4000});
  t.on_dtmf({"5"});
  call_counters counters;
  counters.openai.output_audio_tokens = 300;
  t.on_call_ended(call_summary{end_reason::caller_hung_up, "", "CA1", "MZ1", counters});

  const auto started = store.all<records::call_started>();
  REQUIRE(started.size() == 1);
  CHECK(started[0].from == "+14155550100");
  CHECK(started[0].to == "+15551230001");
  CHECK(started[0].agent == "front-desk");
  const auto items = store.all<records::item>();
  REQUIRE(items.size() == 3);  // the caller's, the AI's, the AI's again once interrupted
  CHECK(items[0].role == item_role::caller);
  CHECK(items[0].seq == 0);
  CHECK(items[1].seq == 1);
  CHECK(items[2].seq == 1);  // the same item, rewritten
  CHECK(items[2].interrupted);
  CHECK(items[2].heard_text == std::optional<std::string>("Your order has shipped"));
  CHECK(items[2].heard_ms == std::optional<std::int64_t>(2000));
  const auto tools = store.all<records::tool_call>();
  REQUIRE(tools.size() == 1);
  CHECK(tools[0].name == "lookup_order");
  CHECK(tools[0].latency_ms == 120);
  const auto ended = store.all<records::call_ended>();
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].end_reason == "caller_hung_up");
  CHECK(ended[0].tokens.output_audio == 300);
  const auto evs = store.all<records::event>();
  REQUIRE(evs.size() == 3);
  CHECK(evs[0].kind == "trace");
  CHECK(evs[1].kind == "barge_in");
  CHECK(evs[2].kind == "dtmf");

  std::vector<std::string> types;
  for (const auto& e : events) types.push_back(e.type);
  CHECK(types == std::vector<std::string>{"call_started", "item", "tool_call", "item", "barge_in", "item", "dtmf",
                                          "call_ended"});
  CHECK(events[5].json.find(R"("heard_text":"Your order has shipped")") != std::string::npos);
  CHECK(sse_frame(events[0]).starts_with("event: call_started\ndata: {\"type\":\"call_started\",\"call_sid\":\"CA1\""));
}

TEST_CASE("a call the bridge placed says so in its stream's parameters: recorded as outbound with its agent",
          "[tracker]") {
  memory_store store;
  call_tracker t({&store, nullptr, call_direction::inbound, {}, {}});
  const to_host::parameter params[] = {
      {"agent", "reminders"}, {"direction", "outbound"}, {"From", "+15550001111"}, {"To", "+15551230001"}};
  t.on_stream_started({"CA2", "MZ2", params});
  const auto started = store.all<records::call_started>();
  REQUIRE(started.size() == 1);
  CHECK(started[0].direction == call_direction::outbound);
  CHECK(started[0].agent == "reminders");
}

TEST_CASE("a tool unanswered when the call ends is recorded as cancelled", "[tracker]") {
  memory_store store;
  call_tracker t({&store, nullptr, call_direction::inbound, {}, ""});
  t.on_stream_started({"CA1", "MZ1", {}});
  t.on_tool_call({"call_1", "slow", "{}"});
  t.on_call_ended(call_summary{end_reason::caller_hung_up, "", "CA1", "MZ1", call_counters{}});
  const auto tools = store.all<records::tool_call>();
  REQUIRE(tools.size() == 1);
  CHECK(tools[0].outcome == tool_outcome::cancelled);
}

TEST_CASE("the event hub drops a subscriber that wants no more", "[tracker]") {
  event_hub hub;
  int a = 0, b = 0;
  hub.subscribe([&](const live_event&) { return ++a < 2; });
  const auto id = hub.subscribe([&](const live_event&) {
    ++b;
    return true;
  });
  for (int i = 0; i < 3; ++i) hub.publish({"x", "CA1", "{}"});
  CHECK(a == 2);
  CHECK(b == 3);
  CHECK(hub.subscribers() == 1);
  hub.unsubscribe(id);
  CHECK(hub.subscribers() == 0);
}

namespace {
/// Answers with a scripted sequence of statuses (then 200), on its own thread.
struct scripted_fetcher final : fetcher {
  std::mutex mutex;
  std::vector<int> statuses;
  std::vector<fetch_request> seen;
  void fetch(fetch_request r, fetch_callback done) override {
    fetch_result res;
    {
      const std::lock_guard lock(mutex);
      res.status = statuses.empty() ? 200 : statuses.front();
      if (!statuses.empty()) statuses.erase(statuses.begin());
      seen.push_back(std::move(r));
    }
    std::thread([done, res] { done(res); }).detach();
  }
};
}  // namespace

TEST_CASE("the events webhook retries 5xx and 429 with backoff, gives up on other 4xx, in order", "[tracker]") {
  scripted_fetcher http;
  http.statuses = {503, 429, 200, 400};
  webhook_options o;
  o.url = "https://events.example/hook";
  o.secret = "s";
  o.first_backoff = 5ms;
  events_webhook hook(http, o);
  hook.enqueue({"call_started", "CA1", R"({"n":1})"});
  hook.enqueue({"call_ended", "CA1", R"({"n":2})"});
  for (int i = 0; i < 200 && hook.stats().sent + hook.stats().failed < 2; ++i) std::this_thread::sleep_for(10ms);
  const auto st = hook.stats();
  CHECK(st.sent == 1);
  CHECK(st.failed == 1);  // the 400 is not retried
  CHECK(st.retries == 2);
  const std::lock_guard lock(http.mutex);
  REQUIRE(http.seen.size() == 4);
  CHECK(http.seen[0].body == R"({"n":1})");
  CHECK(http.seen[2].body == R"({"n":1})");
  CHECK(http.seen[3].body == R"({"n":2})");
  CHECK(http.seen[0].headers[0].first == "X-Bridge-Signature");
}

TEST_CASE("the events webhook queue is bounded: beyond it events are dropped and counted", "[tracker]") {
  scripted_fetcher http;
  http.statuses = std::vector<int>(100, 503);
  webhook_options o;
  o.url = "https://events.example/hook";
  o.max_queue = 3;
  o.first_backoff = 1s;  // the first event waits in its backoff while the rest queue
  events_webhook hook(http, o);
  for (int i = 0; i < 10; ++i) hook.enqueue({"x", "CA1", "{}"});
  CHECK(hook.stats().dropped >= 6);
}
