// The campaign dialer's decisions, scenario by scenario: given these events
// at these times, expect these actions. Time is simulated; nothing sleeps.
#include <algorithm>
#include <map>

#include <catch2/catch.hpp>

#include "realtime_bridge/service/dialer.hpp"

using namespace rtb::service;
using namespace std::chrono_literals;

namespace {

const dial_time t0{std::chrono::milliseconds{1'720'000'000'000}};  // 2024-07-03 09:46:40 UTC

std::vector<campaign_entry> numbers(int n) {
  std::vector<campaign_entry> out;
  for (int i = 0; i < n; ++i) {
    campaign_entry e;
    e.index = i;
    e.to = "+1555000" + std::to_string(1000 + i);
    out.push_back(e);
  }
  return out;
}

campaign_plan plan(std::string id, int max_concurrent, double cps) {
  campaign_plan p;
  p.id = std::move(id);
  p.max_concurrent = max_concurrent;
  p.calls_per_second = cps;
  return p;
}

template <class A>
std::vector<A> only(const std::vector<dialer_action>& actions) {
  std::vector<A> out;
  for (const auto& a : actions)
    if (const auto* x = std::get_if<A>(&a)) out.push_back(*x);
  return out;
}

std::optional<campaign_state> saved_state(const std::vector<dialer_action>& actions) {
  std::optional<campaign_state> s;
  for (const auto& a : only<dialer_actions::save_campaign>(actions)) s = a.state;
  return s;
}

// Runs the dialer against a simulated Twilio: every call is placed at once
// and ends `talk` later with `result(entry, attempt)`.
struct simulation {
  dialer d;
  struct call {
    std::string campaign;
    std::int64_t index;
    int attempt;
    dial_time ends;
  };
  std::vector<call> live;
  std::vector<std::pair<dial_time, dialer_actions::dial>> dials;
  int max_live = 0;
  std::function<call_progress(const campaign_entry&)> result = [](const campaign_entry&) {
    return call_progress::completed;
  };
  std::chrono::milliseconds talk = 5s;
  dial_time now = t0;

  explicit simulation(double process_cps) : d(dialer::options{process_cps}) {}

  void apply(const std::vector<dialer_action>& actions) {
    for (const auto& a : actions) {
      if (const auto* x = std::get_if<dialer_actions::dial>(&a)) {
        dials.emplace_back(now, *x);
        const std::string sid = "CA" + x->campaign_id + std::to_string(x->entry.index) + "_" +
                                std::to_string(x->entry.attempts);
        apply(d.placed(x->campaign_id, x->entry.index, x->entry.attempts, sid, now));
        live.push_back({x->campaign_id, x->entry.index, x->entry.attempts, now + talk});
        max_live = std::max(max_live, static_cast<int>(live.size()));
      }
    }
  }
  // Until nothing is left to do (bounded).
  void run(std::chrono::milliseconds limit = 10min) {
    const dial_time end = now + limit;
    for (int steps = 0; steps < 100'000 && now < end; ++steps) {
      std::optional<dial_time> next = d.next_wakeup();
      for (const auto& c : live)
        if (!next || c.ends < *next) next = c.ends;
      if (!next) return;
      now = std::max(now, *next);
      // Calls that end now.
      for (auto it = live.begin(); it != live.end();) {
        if (it->ends <= now) {
          const call c = *it;
          it = live.erase(it);
          const campaign_view* v = d.find(c.campaign);
          const campaign_entry& e = v->entries[static_cast<std::size_t>(c.index)];
          apply(d.status(c.campaign, c.index, c.attempt, "", result(e), "", now));
        } else {
          ++it;
        }
      }
      apply(d.tick(now));
    }
  }
};

}  // namespace

TEST_CASE("dialer: calls are spaced by the campaign's rate and never exceed max_concurrent", "[dialer]") {
  simulation sim(10);
  sim.talk = 2s;
  sim.apply(sim.d.add(plan("c1", 3, 2.0), campaign_state::running, numbers(20), t0));
  sim.run();
  REQUIRE(sim.dials.size() == 20);
  for (std::size_t i = 1; i < sim.dials.size(); ++i) CHECK(sim.dials[i].first - sim.dials[i - 1].first >= 500ms);
  CHECK(sim.max_live <= 3);
  // Three calls of 2 s at once: 1.5 calls per second at most, below the rate.
  CHECK(sim.dials.back().first - sim.dials.front().first >= 12s);
  const campaign_view* v = sim.d.find("c1");
  CHECK(v->state == campaign_state::completed);
  CHECK(std::all_of(v->entries.begin(), v->entries.end(), [](const campaign_entry& e) {
    return e.state == entry_state::done && e.outcome == outcome::answered && e.attempts == 1;
  }));
}

TEST_CASE("dialer: the process-wide rate is shared by every campaign, which take turns", "[dialer]") {
  simulation sim(2);
  sim.talk = 100ms;
  sim.apply(sim.d.add(plan("a", 10, 10), campaign_state::running, numbers(6), t0));
  sim.apply(sim.d.add(plan("b", 10, 10), campaign_state::running, numbers(6), t0));
  const dial_time single = sim.d.reserve_slot(t0);  // a single call takes a slot too
  CHECK(single == t0);
  sim.run();
  REQUIRE(sim.dials.size() == 12);
  CHECK(sim.dials.front().first == t0 + 500ms);
  for (std::size_t i = 1; i < sim.dials.size(); ++i) {
    CHECK(sim.dials[i].first - sim.dials[i - 1].first >= 500ms);
    CHECK(sim.dials[i].second.campaign_id != sim.dials[i - 1].second.campaign_id);
  }
}

TEST_CASE("dialer: busy and unanswered numbers are retried after their delay, at most their count", "[dialer]") {
  simulation sim(100);
  sim.talk = 1s;
  campaign_plan p = plan("c", 5, 100);
  p.busy = {2min, 2};
  p.no_answer = {5min, 1};
  // Entry 0 is always busy, 1 never answers, 2 is busy once then answers.
  sim.result = [](const campaign_entry& e) {
    if (e.index == 0) return call_progress::busy;
    if (e.index == 1) return call_progress::no_answer;
    if (e.index == 2) return e.attempts == 1 ? call_progress::busy : call_progress::completed;
    return call_progress::completed;
  };
  sim.apply(sim.d.add(p, campaign_state::running, numbers(4), t0));
  sim.run(1h);
  const campaign_view* v = sim.d.find("c");
  CHECK(v->entries[0].outcome == outcome::busy);
  CHECK(v->entries[0].attempts == 3);
  CHECK(v->entries[1].outcome == outcome::no_answer);
  CHECK(v->entries[1].attempts == 2);
  CHECK(v->entries[2].outcome == outcome::answered);
  CHECK(v->entries[2].attempts == 2);
  CHECK(v->entries[3].attempts == 1);
  // The retries came no earlier than their delay after the busy signal.
  std::vector<dial_time> entry0;
  for (const auto& [at, dial] : sim.dials)
    if (dial.entry.index == 0) entry0.push_back(at);
  REQUIRE(entry0.size() == 3);
  CHECK(entry0[1] - entry0[0] >= 2min + 1s);
  CHECK(entry0[2] - entry0[1] >= 2min + 1s);
  CHECK(v->state == campaign_state::completed);
}

TEST_CASE("dialer: late, repeated and out-of-order callbacks change nothing", "[dialer]") {
  dialer d({10});
  d.add(plan("c", 5, 10), campaign_state::running, numbers(2), t0);
  auto dials = only<dialer_actions::dial>(d.tick(t0));
  REQUIRE(dials.size() == 1);
  CHECK(dials[0].entry.state == entry_state::dialing);
  CHECK(dials[0].entry.attempts == 1);
  // The callback beats Twilio's 201.
  auto a = d.status("c", 0, 1, "CA1", call_progress::ringing, "", t0 + 100ms);
  CHECK(only<dialer_actions::save_entry>(a).at(0).entry.state == entry_state::ringing);
  a = d.placed("c", 0, 1, "CA1", t0 + 150ms);
  CHECK(only<dialer_actions::save_entry>(a).at(0).entry.state == entry_state::ringing);
  a = d.status("c", 0, 1, "CA1", call_progress::completed, "", t0 + 5s);
  CHECK(only<dialer_actions::save_entry>(a).at(0).entry.outcome == outcome::answered);
  // Afterwards: a late ringing, a duplicate completed, another attempt's, another sid's.
  CHECK(d.status("c", 0, 1, "CA1", call_progress::ringing, "", t0 + 6s).empty());
  CHECK(d.status("c", 0, 1, "CA1", call_progress::busy, "", t0 + 6s).empty());
  CHECK(d.status("c", 0, 2, "CA1", call_progress::busy, "", t0 + 6s).empty());
  CHECK(d.status("c", 1, 0, "CA9", call_progress::completed, "", t0 + 6s).empty());
  CHECK(d.find("c")->entries[0].outcome == outcome::answered);
  // A machine's verdict makes an answered call a machine's.
  dials = only<dialer_actions::dial>(d.tick(t0 + 7s));
  REQUIRE(dials.size() == 1);
  d.placed("c", 1, 1, "CA2", t0 + 7s);
  d.detected("c", 1, 1, "machine_end_beep", t0 + 9s);
  d.status("c", 1, 1, "CA2", call_progress::completed, "", t0 + 20s);
  CHECK(d.find("c")->entries[1].outcome == outcome::machine);
  CHECK(d.find("c")->state == campaign_state::completed);
}

TEST_CASE("dialer: what Twilio's refusals mean, an unknown attempt is never dialled again", "[dialer]") {
  dialer d({100});
  d.add(plan("c", 5, 100), campaign_state::running, numbers(3), t0);
  dial_time now = t0;
  std::vector<dialer_actions::dial> dials;
  for (int i = 0; i < 3; ++i) {
    auto got = only<dialer_actions::dial>(d.tick(now));
    dials.insert(dials.end(), got.begin(), got.end());
    now += 10ms;
  }
  REQUIRE(dials.size() == 3);
  // 429 after the retries: surely not placed, tried again later (attempt 2).
  auto a = d.refused("c", 0, 1, refusal::not_placed, "Twilio 20429: Too Many Requests", now);
  CHECK(only<dialer_actions::save_entry>(a).at(0).entry.state == entry_state::pending);
  CHECK(only<dialer_actions::dial>(d.tick(now + 5s)).empty());
  auto again = only<dialer_actions::dial>(d.tick(now + 10s));
  REQUIRE(again.size() == 1);
  CHECK(again[0].entry.index == 0);
  CHECK(again[0].entry.attempts == 2);
  // 21211: done, rejected.
  d.refused("c", 1, 1, refusal::rejected, "Twilio 21211: invalid To", now);
  CHECK(d.find("c")->entries[1].outcome == outcome::rejected);
  CHECK(d.find("c")->entries[1].detail == "Twilio 21211: invalid To");
  // A 500: it may exist. Never dialled again…
  d.refused("c", 2, 1, refusal::unknown, "Twilio answered 500", now);
  CHECK(d.find("c")->entries[2].outcome == outcome::unknown);
  for (int i = 0; i < 10; ++i) CHECK(only<dialer_actions::dial>(d.tick(now + 1min * (i + 1))).empty());
  // …but its callbacks still tell what happened.
  d.status("c", 2, 1, "CA77", call_progress::in_progress, "", now + 20min);
  CHECK(d.find("c")->entries[2].state == entry_state::in_progress);
  d.status("c", 2, 1, "CA77", call_progress::completed, "", now + 21min);
  CHECK(d.find("c")->entries[2].outcome == outcome::answered);
  CHECK(d.find("c")->entries[2].call_sid == "CA77");
}

TEST_CASE("dialer: after a restart, attempts without a call sid are never re-dialled, the others are asked about",
          "[dialer]") {
  auto entries = numbers(4);
  entries[0].state = entry_state::done;
  entries[0].outcome = std::string(outcome::answered);
  entries[0].attempts = 1;
  entries[1].state = entry_state::dialing;  // marked, then the process died
  entries[1].attempts = 1;
  entries[2].state = entry_state::ringing;
  entries[2].attempts = 1;
  entries[2].call_sid = "CA2";
  dialer d({100});
  auto a = d.add(plan("c", 5, 100), campaign_state::running, entries, t0);
  const auto fetches = only<dialer_actions::fetch_call>(a);
  REQUIRE(fetches.size() == 1);
  CHECK(fetches[0].call_sid == "CA2");
  CHECK(fetches[0].index == 2);
  CHECK(d.find("c")->entries[1].outcome == outcome::unknown);
  // Only entry 3 is dialled.
  std::vector<std::int64_t> dialled;
  for (int i = 0; i < 20; ++i)
    for (const auto& x : only<dialer_actions::dial>(d.tick(t0 + 100ms * i))) dialled.push_back(x.entry.index);
  CHECK(dialled == std::vector<std::int64_t>{3});
}

TEST_CASE("dialer: nothing is dialled outside the calling window, it wakes when the window opens", "[dialer]") {
  campaign_plan p = plan("c", 5, 10);
  calling_window w;  // UTC, 09:00-20:00
  w.start = std::chrono::hours{9};
  w.end = std::chrono::hours{20};
  p.window = w;
  // 2024-07-03 21:00 UTC: closed until 09:00 the next day.
  const dial_time evening{std::chrono::milliseconds{1'720'040'400'000}};
  dialer d({10});
  d.add(p, campaign_state::running, numbers(1), evening);
  CHECK(only<dialer_actions::dial>(d.tick(evening)).empty());
  const dial_time morning{std::chrono::milliseconds{1'720'083'600'000}};  // 2024-07-04 09:00 UTC
  REQUIRE(d.next_wakeup());
  CHECK(*d.next_wakeup() == morning);
  CHECK(only<dialer_actions::dial>(d.tick(morning - 1s)).empty());
  CHECK(only<dialer_actions::dial>(d.tick(morning)).size() == 1);
}

TEST_CASE("dialer: pause stops new calls, resume goes on, cancel ends what was not called", "[dialer]") {
  dialer d({100});
  d.add(plan("c", 5, 100), campaign_state::running, numbers(5), t0);
  REQUIRE(only<dialer_actions::dial>(d.tick(t0)).size() == 1);
  CHECK(saved_state(d.pause("c", t0 + 1ms)) == campaign_state::paused);
  CHECK(d.pause("c", t0 + 1ms).empty());  // already paused
  for (int i = 1; i < 20; ++i) CHECK(only<dialer_actions::dial>(d.tick(t0 + 100ms * i)).empty());
  CHECK_FALSE((d.next_wakeup().has_value() && *d.next_wakeup() < t0 + 2h));  // only the stale check remains
  CHECK(saved_state(d.resume("c", t0 + 2s)) == campaign_state::running);
  REQUIRE(only<dialer_actions::dial>(d.tick(t0 + 2s)).size() == 1);
  auto a = d.cancel("c", t0 + 3s);
  CHECK(saved_state(a) == campaign_state::canceled);
  CHECK(only<dialer_actions::save_entry>(a).size() == 3);
  for (const auto& s : only<dialer_actions::save_entry>(a)) CHECK(s.entry.outcome == outcome::not_called);
  CHECK(only<dialer_actions::dial>(d.tick(t0 + 10s)).empty());
  // Calls under way still end with their outcome.
  d.status("c", 0, 1, "CA0", call_progress::completed, "", t0 + 20s);
  CHECK(d.find("c")->entries[0].outcome == outcome::answered);
  CHECK(d.find("c")->state == campaign_state::canceled);
  CHECK(d.resume("c", t0 + 30s).empty());
}

TEST_CASE("dialer: a call with no news for too long is asked about", "[dialer]") {
  dialer::options o{100};
  o.stale_after = 10min;
  dialer d(o);
  d.add(plan("c", 5, 100), campaign_state::running, numbers(1), t0);
  REQUIRE(only<dialer_actions::dial>(d.tick(t0)).size() == 1);
  d.placed("c", 0, 1, "CA1", t0 + 100ms);
  CHECK(only<dialer_actions::fetch_call>(d.tick(t0 + 5min)).empty());
  REQUIRE(d.next_wakeup());
  CHECK(*d.next_wakeup() == t0 + 100ms + 10min);
  const auto f = only<dialer_actions::fetch_call>(d.tick(t0 + 100ms + 10min));
  REQUIRE(f.size() == 1);
  CHECK(f[0].call_sid == "CA1");
}
