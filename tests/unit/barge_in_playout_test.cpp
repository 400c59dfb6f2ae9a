// Barge-in against a simulated Twilio at the end of a network link
// (twilio_link in tests/support/twilio_playout.hpp): audio plays in real time,
// marks are echoed when played, and every message takes its time on the
// wire. The ground truth of each scenario is what the caller had heard when
// the clear reached Twilio.
//
// Conventions: 25 ms each way, margin 20 ms (not the default, 0: it shows
// where the margin applies), deltas of 20 ms unless said
// otherwise; times are ms at the bridge after t0. Each scenario gives the
// timeline at Twilio in a comment.
#include <algorithm>
#include <array>
#include <map>
#include <random>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/barge_in.hpp"
#include "support/test_support.hpp"
#include "support/twilio_playout.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

/// One barge-in that cleared Twilio, with what was on Twilio's timeline then.
struct interruption {
  std::size_t clear = 0;  ///< index into playout.heard_at_clears()
  struct span {
    std::uint64_t start = 0;  ///< bytes on Twilio's timeline (since its last clear)
    std::uint64_t sent = 0;
  };
  std::map<std::string, span, std::less<>> items;
  actions out;
};

/// The playout machine wired to a simulated Twilio: echoes reach the machine
/// when the link delivers them, and what it sends goes down the link.
struct linked_call {
  explicit linked_call(barge_in_config config = {.margin = 20ms}, std::chrono::milliseconds to_twilio = 25ms,
                       std::chrono::milliseconds to_bridge = 25ms,
                       std::chrono::milliseconds start_delay = std::chrono::milliseconds(0))
      : b(config), twilio(to_twilio, to_bridge, start_delay) {}

  barge_in b;
  twilio_link twilio;
  std::map<std::string, std::uint64_t, std::less<>> received;  ///< bytes the server produced, per item
  std::vector<interruption> interruptions;

  /// `ms` of audio of `item` at `t`, in deltas of `delta_ms`.
  actions audio(std::int64_t t, std::string_view resp, std::string_view item, int ms, int delta_ms = 20) {
    run_to(t);
    actions all;
    for (int offset = 0; offset < ms; offset += delta_ms) {
      const std::string payload = mulaw(static_cast<std::size_t>(std::min(delta_ms, ms - offset)) * 8);
      auto& total = received[std::string(item)];
      total += audio::base64_decoded_size(payload);
      const auto& out = b.handle(playout::assistant_audio{resp, item, 0, payload, total}, at(t));
      send(out, at(t), item);
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  }
  actions speech(std::int64_t t, std::string_view active_response = "") {
    run_to(t);
    actions out = b.handle(playout::caller_speech_started{active_response}, at(t));
    if (std::find(out.begin(), out.end(), action{to_twilio::clear{}}) != out.end()) {
      interruptions.push_back({clears_++, twilio_items_, out});
      twilio_items_.clear();
      twilio_bytes_ = 0;
    }
    twilio.send(out, at(t));
    return out;
  }
  actions done(std::int64_t t, std::string_view resp) {
    run_to(t);
    return b.handle(playout::response_finished{resp}, at(t));
  }
  /// Lets everything sent play out and every echo come back.
  void finish() { run_to(now_ + 60'000); }

  /// Ground truth: ms of `item` the caller had heard when the `k`-th clear reached Twilio.
  std::int64_t heard_ms(std::string_view item, std::size_t k = 0) {
    finish();
    const interruption& i = interruptions.at(k);
    const auto& span = i.items.at(std::string(item));
    const auto heard = static_cast<std::uint64_t>(twilio.playout.heard_at_clears().at(i.clear)) * 8;
    return audio::mulaw_ms(std::clamp(heard, span.start, span.start + span.sent) - span.start);
  }

 private:
  void run_to(std::int64_t t) {
    for (auto& e : twilio.advance(at(t))) REQUIRE(b.handle(playout::mark_echoed{e.name}, e.at).empty());
    now_ = std::max(now_, t);
  }
  void send(const actions& out, timestamp when, std::string_view item) {
    for (const auto& a : out) {
      if (const auto* m = std::get_if<to_twilio::media>(&a)) {
        const auto it = twilio_items_.try_emplace(std::string(item), interruption::span{twilio_bytes_, 0}).first;
        it->second.sent += audio::base64_decoded_size(m->payload);
        twilio_bytes_ += audio::base64_decoded_size(m->payload);
      }
    }
    twilio.send(out, when);
  }

  std::int64_t now_ = 0;
  std::size_t clears_ = 0;
  std::uint64_t twilio_bytes_ = 0;  ///< sent since the last clear: Twilio's timeline
  std::map<std::string, interruption::span, std::less<>> twilio_items_;
};

const action clear = to_twilio::clear{};

}  // namespace

TEST_CASE("after an idle gap, the next answer is heard from when its audio was sent, not from the last echo",
          "[barge_in][playout]") {
  linked_call c;
  c.audio(0, "resp_1", "item_A", 400);
  (void)c.done(10, "resp_1");
  // Twilio plays item_A from 25 to 425 ms; its last echo reaches us at 450.
  // The next answer starts playing 500 ms later: sent at 900, played from 925.
  SECTION("100 ms deltas, faster than real time") {
    c.audio(900, "resp_2", "item_B", 100, 100);
    c.audio(915, "resp_2", "item_B", 100, 100);
    c.audio(930, "resp_2", "item_B", 100, 100);
  }
  SECTION("20 ms deltas, all at once") { c.audio(900, "resp_2", "item_B", 300); }
  // The caller barges in 40 ms into it: the clear reaches Twilio at 965.
  REQUIRE(c.speech(940, "resp_2") ==
          actions{clear, to_openai::truncate_item{"item_B", 0, 60}, to_host::ai_interrupted{"item_B", 60, 300}});
  CHECK(c.heard_ms("item_B") == 40);
}

TEST_CASE("after a tool call, a burst of audio is heard from when it was sent", "[barge_in][playout]") {
  linked_call c;
  c.audio(0, "resp_1", "item_A", 400);  // "Let me look that up."
  (void)c.done(20, "resp_1");           // ... and the function call
  // Twilio plays item_A from 25 to 425. The tool takes 1.5 s (its output at
  // 1520); the answer's audio comes 50 ms later, 2 s of it at once, and plays
  // from 1595.
  c.audio(1570, "resp_2", "item_B", 2000);
  (void)c.done(1575, "resp_2");
  // The caller barges in 40 ms into it: the clear reaches Twilio at 1635.
  REQUIRE(c.speech(1610) ==
          actions{clear, to_openai::truncate_item{"item_B", 0, 60}, to_host::ai_interrupted{"item_B", 60, 2000}});
  CHECK(c.heard_ms("item_B") == 40);
}

TEST_CASE("a stall in the server's audio: what follows it is heard from when it was sent", "[barge_in][playout]") {
  linked_call c;
  c.audio(0, "resp_1", "item_A", 300);
  // Twilio plays the first 300 ms from 25 to 325 and runs dry; the server
  // resumes 1.3 s after its first delta, played from 1325.
  c.audio(1300, "resp_1", "item_A", 300);
  // The caller barges in 40 ms into the rest: the clear reaches Twilio at 1365.
  REQUIRE(c.speech(1340, "resp_1") ==
          actions{clear, to_openai::truncate_item{"item_A", 0, 360}, to_host::ai_interrupted{"item_A", 360, 600}});
  CHECK(c.heard_ms("item_A") == 340);
}

TEST_CASE("an item heard before its first echo came back is truncated at the estimate, not deleted",
          "[barge_in][playout]") {
  linked_call c;
  // Twilio plays from 25; the first mark's echo would reach us at 70.
  c.audio(0, "resp_1", "item_A", 200);
  // The caller barges in 50 ms into it: the clear reaches Twilio at 75.
  REQUIRE(c.speech(50, "resp_1") ==
          actions{clear, to_openai::truncate_item{"item_A", 0, 70}, to_host::ai_interrupted{"item_A", 70, 200}});
  REQUIRE(c.done(60, "resp_1") == actions{});
  CHECK(c.heard_ms("item_A") == 50);
  CHECK(c.b.counters().deletes == 0);
}

TEST_CASE("an item queued behind audio still playing is deleted: the caller heard none of it", "[barge_in][playout]") {
  linked_call c;
  c.audio(0, "resp_1", "item_A", 200);  // plays from 25 to 225
  c.audio(0, "resp_1", "item_B", 200);  // would play from 225
  // item_A's echoes have come back since 70: each says what had played when
  // it left Twilio, 25 ms earlier, and the clear takes another 25 ms. The
  // probe mark sent ahead of the audio came back at 50: the round trip is
  // 50 ms, so the estimate is what had played at 125, the clear's arrival.
  REQUIRE(c.speech(100, "resp_1") == actions{clear, to_openai::truncate_item{"item_A", 0, 120},
                                             to_host::ai_interrupted{"item_A", 120, 200},
                                             to_host::ai_interrupted{"item_B", 0, 200}});
  REQUIRE(c.done(110, "resp_1") == actions{to_openai::delete_item{"item_B"}});
  CHECK(c.heard_ms("item_A") == 100);
  CHECK(c.heard_ms("item_B") == 0);
}

TEST_CASE("an item of the interrupted response that never reached the caller is deleted once the response is done",
          "[barge_in][playout]") {
  const bool forget = GENERATE(true, false);
  linked_call c(barge_in_config{.margin = 20ms, .forget_unheard = forget});
  c.audio(0, "resp_1", "item_A", 200);
  REQUIRE(c.speech(100, "resp_1") ==
          actions{clear, to_openai::truncate_item{"item_A", 0, 120}, to_host::ai_interrupted{"item_A", 120, 200}});
  // Audio of the interrupted response still in flight: more of item_A, which
  // stays truncated, and a new item the caller will never hear.
  REQUIRE(c.audio(105, "resp_1", "item_A", 40) == actions{});
  REQUIRE(c.audio(110, "resp_1", "item_B", 60) == actions{to_host::ai_interrupted{"item_B", 0, 0}});
  REQUIRE(c.audio(115, "resp_1", "item_B", 20) == actions{});
  CHECK(c.b.counters().late_deltas_dropped == 6);
  if (forget) {
    REQUIRE(c.done(130, "resp_1") == actions{to_openai::delete_item{"item_B"}});
    CHECK(c.b.counters().deletes == 1);
  } else {
    REQUIRE(c.done(130, "resp_1") == actions{});
  }
  // The answer to the interruption plays as usual (after a new probe: the clear emptied Twilio's buffer).
  const actions next = c.audio(900, "resp_2", "item_C", 20);
  CHECK(next.size() == 3);
  CHECK(only<to_twilio::mark>(next) == std::vector<to_twilio::mark>{{{2, 0, 0}}, {{2, 2, 20}}});
  CHECK(c.heard_ms("item_A") == 100);
}

TEST_CASE("property: the truncate never exceeds what the caller heard plus the margin", "[barge_in][playout]") {
  // Random answers (items of deltas of 20 to 200 ms, sent in bursts or spread
  // out), idle gaps, stalls, tool calls, barge-ins during an answer or after
  // it, late audio of interrupted answers, on links of 0 to 80 ms each way.
  std::mt19937 rng(20260317);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  int truncates_checked = 0, deletes_checked = 0;
  for (int run = 0; run < 300; ++run) {
    const auto to_twilio = std::chrono::milliseconds(pick(81));
    const auto to_bridge = std::chrono::milliseconds(pick(81));
    const auto margin = std::chrono::milliseconds(std::array{0, 20, 20, pick(150)}[pick(4)]);
    const std::int64_t round_trip = (to_twilio + to_bridge).count();
    linked_call c(barge_in_config{.margin = margin}, to_twilio, to_bridge);
    INFO("run " << run << ": " << to_twilio.count() << " ms to Twilio, " << to_bridge.count() << " ms back, margin "
                << margin.count() << " ms");

    std::int64_t t = 0;
    int responses = 0, items = 0;
    std::string resp, item;  // the response in progress ("" if none) and its current item
    for (int step = 0; step < 60; ++step) {
      const int gap = pick(10);
      t += gap < 6 ? pick(40) : gap < 9 ? 100 + pick(900) : 1000 + pick(3000);  // idle gaps, stalls
      switch (pick(8)) {
        case 0:
        case 1:
        case 2:
        case 3: {
          if (resp.empty()) resp = "resp_" + std::to_string(++responses);
          if (item.empty() || pick(5) == 0) item = "item_" + std::to_string(++items);
          const int delta_ms = std::array{20, 40, 100, 200}[pick(4)];
          const int n = 1 + pick(8);
          const bool spread = pick(2);
          for (int i = 0; i < n; ++i) {
            for (const auto& a : c.audio(t, resp, item, delta_ms, delta_ms))
              if (const auto* late = std::get_if<to_host::ai_interrupted>(&a)) CHECK(late->sent_ms == 0);
            if (spread) t += pick(delta_ms + 1);
          }
          break;
        }
        case 4:
        case 5:
          if (!resp.empty()) (void)c.done(t, resp);
          resp.clear();
          item.clear();
          break;
        default:
          (void)c.speech(t, resp);
          if (pick(2)) {  // the late audio of the response goes on for a bit, or the next answer starts
            resp.clear();
            item.clear();
          }
          break;
      }
    }
    c.finish();

    for (std::size_t k = 0; k < c.interruptions.size(); ++k) {
      for (const auto& a : c.interruptions[k].out) {
        if (const auto* tr = std::get_if<to_openai::truncate_item>(&a)) {
          const std::int64_t heard = c.heard_ms(tr->item_id, k);
          INFO("clear " << k << ": " << tr->item_id << " truncated at " << tr->audio_end_ms << " ms, heard " << heard
                        << " ms");
          CHECK(tr->audio_end_ms > 0);
          CHECK(static_cast<std::uint64_t>(tr->audio_end_ms) * 8 <= c.received.at(tr->item_id));
          CHECK(tr->audio_end_ms <= heard + margin.count());
          // The other direction, until the round trip is measured: an echo
          // reports what played one echo's journey ago, and the clear takes
          // its own journey.
          CHECK(tr->audio_end_ms >= heard - round_trip);
          ++truncates_checked;
        } else if (const auto* ai = std::get_if<to_host::ai_interrupted>(&a); ai && ai->heard_ms == 0) {
          INFO("clear " << k << ": " << ai->item_id << " judged unheard");
          CHECK(c.heard_ms(ai->item_id, k) <= round_trip);
          ++deletes_checked;
        }
      }
    }
  }
  CHECK(truncates_checked > 300);  // the property was exercised, not vacuously true
  CHECK(deletes_checked > 30);
}

TEST_CASE("property: once the link is measured, the truncate is what the caller heard, plus the margin",
          "[barge_in][playout]") {
  // The same random calls, on links of 0 to 80 ms each way, with Twilio
  // waiting 0 to 60 ms before it plays audio that reaches an empty buffer.
  // Every barge-in made once the round trip and the start delay are measured
  // (a probe came back, and the first mark after audio sent into Twilio's
  // empty buffer) is checked.
  std::mt19937 rng(20261209);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  int checked = 0;
  std::map<std::int64_t, int> errors;  // truncate - (heard + margin), ms -> count
  for (int run = 0; run < 400; ++run) {
    const bool symmetric = run % 2 == 0;
    const auto to_twilio = std::chrono::milliseconds(pick(81));
    const auto to_bridge = symmetric ? to_twilio : std::chrono::milliseconds(pick(81));
    const auto start_delay = std::chrono::milliseconds(std::array{0, 0, 20, pick(61)}[pick(4)]);
    const auto margin = std::chrono::milliseconds(std::array{0, 0, 5, 20}[pick(4)]);
    linked_call c(barge_in_config{.margin = margin}, to_twilio, to_bridge, start_delay);
    INFO("run " << run << ": " << to_twilio.count() << " ms to Twilio, " << to_bridge.count()
                << " ms back, start delay " << start_delay.count() << " ms, margin " << margin.count() << " ms");
    std::int64_t t = 0;
    int responses = 0, items = 0;
    std::string resp, item;
    std::vector<std::size_t> measured;  // interruptions made with the round trip known
    for (int step = 0; step < 60; ++step) {
      const int gap = pick(10);
      t += gap < 6 ? pick(40) : gap < 9 ? 100 + pick(900) : 1000 + pick(3000);
      switch (pick(8)) {
        case 0:
        case 1:
        case 2:
        case 3: {
          if (resp.empty()) resp = "resp_" + std::to_string(++responses);
          if (item.empty() || pick(5) == 0) item = "item_" + std::to_string(++items);
          const int delta_ms = std::array{20, 40, 100, 200}[pick(4)];
          const int n = 1 + pick(8);
          const bool spread = pick(2);
          for (int i = 0; i < n; ++i) {
            (void)c.audio(t, resp, item, delta_ms, delta_ms);
            if (spread) t += pick(delta_ms + 1);
          }
          break;
        }
        case 4:
        case 5:
          if (!resp.empty()) (void)c.done(t, resp);
          resp.clear();
          item.clear();
          break;
        default: {
          const std::size_t before = c.interruptions.size();
          const bool known = c.b.round_trip_time().has_value() && c.b.start_delay().has_value();
          (void)c.speech(t, resp);
          if (known && c.interruptions.size() > before) measured.push_back(before);
          if (pick(2)) {
            resp.clear();
            item.clear();
          }
          break;
        }
      }
    }
    c.finish();
    for (const std::size_t k : measured) {
      for (const auto& a : c.interruptions[k].out) {
        const auto* tr = std::get_if<to_openai::truncate_item>(&a);
        if (!tr) continue;
        const std::int64_t heard = c.heard_ms(tr->item_id, k);
        const std::int64_t sent = audio::mulaw_ms(c.interruptions[k].items.at(tr->item_id).sent);
        const std::int64_t expected = std::min(heard + margin.count(), sent);
        INFO("clear " << k << ": " << tr->item_id << " truncated at " << tr->audio_end_ms << " ms, heard " << heard
                      << " ms of " << sent << " ms sent");
        CHECK(static_cast<std::uint64_t>(tr->audio_end_ms) * 8 <= c.received.at(tr->item_id));
        CHECK(std::abs(tr->audio_end_ms - expected) <= 1);  // rounding to whole ms
        ++errors[tr->audio_end_ms - expected];
        ++checked;
      }
    }
  }
  for (const auto& [e, n] : errors) UNSCOPED_INFO("error " << e << " ms: " << n);
  CHECK(checked > 300);
}
