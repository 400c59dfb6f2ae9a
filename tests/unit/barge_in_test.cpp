// Scenarios for playout tracking and barge-in (include/realtime_bridge/barge_in.hpp).
//
// Conventions: every audio chunk is 160 µ-law bytes (20 ms) unless said
// otherwise; marks are named rtb.<generation>.<item>.<sent_ms>; times are ms
// after t0. The scenarios use a margin of 20 ms (the default is 0), so that
// every number shows where the margin applies; the server cancels on its own.
#include <map>
#include <random>

#include "realtime_bridge/barge_in.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

const std::string chunk = frame();  // 20 ms

struct playout_fixture {
  explicit playout_fixture(barge_in_config c = {.margin = 20ms}) : b(c) {}

  barge_in b;

  // Forwards `n` chunks of `item` (all of response `resp`) at time `t`.
  actions send(std::string_view resp, std::string_view item, int n, std::int64_t t = 0) {
    actions all;
    for (int i = 0; i < n; ++i) {
      received[std::string(item)] += 160;
      const auto& out = b.handle(playout::assistant_audio{resp, item, 0, chunk, received[std::string(item)]}, at(t));
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  }
  const actions& echo(std::string_view name, std::int64_t t) { return b.handle(playout::mark_echoed{name}, at(t)); }
  const actions& speech(std::int64_t t, std::string_view active_response = "") {
    return b.handle(playout::caller_speech_started{active_response}, at(t));
  }
  const actions& done(std::string_view resp, std::int64_t t) {
    return b.handle(playout::response_finished{resp}, at(t));
  }

  std::map<std::string, std::uint64_t> received;
};

}  // namespace

TEST_CASE("each forwarded chunk is followed by a mark naming generation, item and ms sent", "[barge_in]") {
  playout_fixture p;
  // The first audio into Twilio's empty buffer is preceded by a probe mark (item 0; see the round-trip tests).
  REQUIRE(p.send("resp_1", "item_A", 1) ==
          actions{to_twilio::mark{{1, 0, 0}}, to_twilio::media{chunk}, to_twilio::mark{{1, 1, 20}}});
  REQUIRE(p.send("resp_1", "item_A", 1) == actions{to_twilio::media{chunk}, to_twilio::mark{{1, 1, 40}}});
  SECTION("a second item gets the next item number and counts its own ms") {
    REQUIRE(p.send("resp_1", "item_B", 1) == actions{to_twilio::media{chunk}, to_twilio::mark{{1, 2, 20}}});
  }
  CHECK(p.b.marks_outstanding() >= 2);
}

TEST_CASE("no clear and no truncate when the caller speaks before any audio was sent", "[barge_in]") {
  playout_fixture p;
  SECTION("no response at all") { REQUIRE(p.speech(1000) == actions{}); }
  SECTION("a response is being generated but has produced no audio yet") {
    REQUIRE(p.speech(1000, "resp_1") == actions{});
    // The server cancels that response; its audio still in flight is dropped,
    // and its item, which the caller never heard, is forgotten once the
    // response is done.
    REQUIRE(p.send("resp_1", "item_A", 1) == actions{to_host::ai_interrupted{"item_A", 0, 0}});
    REQUIRE(p.send("resp_1", "item_A", 1) == actions{});
    CHECK(p.b.counters().late_deltas_dropped == 2);
    REQUIRE(p.done("resp_1", 1100) == actions{to_openai::delete_item{"item_A"}});
  }
  CHECK(p.b.counters().clears == 0);
}

TEST_CASE("barge-in mid-playout truncates at the last acknowledged position plus the margin", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 10);  // 200 ms sent at once, faster than real time
  for (int ms = 20; ms <= 100; ms += 20) REQUIRE(p.echo(to_string(playout_mark{1, 1, ms}), ms) == actions{});
  REQUIRE(p.b.marks_outstanding() == 5);

  SECTION("speech arrives right at the last echo") {
    REQUIRE(p.speech(100, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 120},
                                               to_host::ai_interrupted{"item_A", 120, 200}});
  }
  SECTION("speech arrives 30 ms later: playback went on meanwhile") {
    REQUIRE(p.speech(130, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 150},
                                               to_host::ai_interrupted{"item_A", 150, 200}});
  }
  SECTION("the estimate never passes what was sent") {
    REQUIRE(p.speech(400, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 200},
                                               to_host::ai_interrupted{"item_A", 200, 200}});
  }
  CHECK(p.b.counters().barge_ins == 1);
  CHECK(p.b.counters().truncates == 1);
  CHECK(p.b.generation() == 2);
  CHECK_FALSE(p.b.audio_playing());
}

TEST_CASE("barge-in after all audio was sent and the response is done still clears and truncates", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 10);  // 200 ms
  REQUIRE(p.done("resp_1", 5) == actions{});
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.echo("rtb.1.1.40", 40) == actions{});
  // No response is active any more, but Twilio is still playing item_A.
  REQUIRE(p.speech(40) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 60},
                                  to_host::ai_interrupted{"item_A", 60, 200}});
  CHECK(p.b.counters().cancels == 0);
}

TEST_CASE("barge-in after playback finished does nothing", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 3);
  REQUIRE(p.done("resp_1", 1) == actions{});
  for (int ms = 20; ms <= 60; ms += 20) REQUIRE(p.echo(to_string(playout_mark{1, 1, ms}), ms) == actions{});
  REQUIRE_FALSE(p.b.audio_playing());
  REQUIRE(p.speech(500) == actions{});
  CHECK(p.b.counters().clears == 0);
  CHECK(p.b.counters().truncates == 0);
}

TEST_CASE("marks Twilio echoes because of a clear are ignored", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 10);
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.speech(20, "resp_1").size() == 3);  // clear, truncate, ai_interrupted
  // Twilio now echoes the nine marks the clear flushed; none was played.
  for (int ms = 40; ms <= 200; ms += 20) REQUIRE(p.echo(to_string(playout_mark{1, 1, ms}), 25) == actions{});
  CHECK(p.b.counters().stale_marks == 9);
  CHECK_FALSE(p.b.audio_playing());

  // The next response starts from zero in generation 2 ...
  REQUIRE(p.send("resp_2", "item_B", 1, 1000) == actions{to_twilio::media{chunk}, to_twilio::mark{{2, 2, 20}}});
  p.send("resp_2", "item_B", 4, 1000);
  // ... and a flushed echo of generation 1 arriving late still cannot move it.
  REQUIRE(p.echo("rtb.1.1.200", 1010) == actions{});
  REQUIRE(p.echo("rtb.2.2.20", 1020) == actions{});
  REQUIRE(p.speech(1020, "resp_2") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 40},
                                              to_host::ai_interrupted{"item_B", 40, 100}});
}

TEST_CASE("late deltas of an interrupted response are dropped, the next response plays", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5);
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE_FALSE(p.speech(20, "resp_1").empty());
  REQUIRE(p.send("resp_1", "item_A", 3, 25) == actions{});
  CHECK(p.b.counters().late_deltas_dropped == 3);
  REQUIRE(p.send("resp_2", "item_C", 1, 900) == actions{to_twilio::media{chunk}, to_twilio::mark{{2, 2, 20}}});
}

TEST_CASE("late audio of an interrupted response: a new item is forgotten, a truncated one stays truncated",
          "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5);
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.speech(20, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 40},
                                            to_host::ai_interrupted{"item_A", 40, 100}});
  REQUIRE(p.send("resp_1", "item_A", 2, 25) == actions{});
  // The caller never hears item_B: the host learns it at once, OpenAI
  // forgets it once the response is final.
  REQUIRE(p.send("resp_1", "item_B", 2, 30) == actions{to_host::ai_interrupted{"item_B", 0, 0}});
  REQUIRE(p.done("resp_1", 40) == actions{to_openai::delete_item{"item_B"}});
  SECTION("audio the server sends after response.done is only dropped") {
    REQUIRE(p.send("resp_1", "item_C", 1, 50) == actions{});
    REQUIRE(p.done("resp_1", 60) == actions{});
  }
  CHECK(p.b.counters().deletes == 1);
  CHECK(p.b.counters().late_deltas_dropped >= 4);
}

TEST_CASE("a response with two audio items: the audible one is truncated, the unheard one deleted", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5);  // 100 ms, then ...
  p.send("resp_1", "item_B", 5);  // ... another 100 ms item queued behind it
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.echo("rtb.1.1.40", 40) == actions{});

  SECTION("while the response is still generating, the delete waits for its response.done") {
    REQUIRE(p.speech(40, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 60},
                                              to_host::ai_interrupted{"item_A", 60, 100},
                                              to_host::ai_interrupted{"item_B", 0, 100}});
    REQUIRE(p.done("resp_1", 60) == actions{to_openai::delete_item{"item_B"}});
    CHECK(p.b.counters().deletes == 1);
  }
  SECTION("once the response is done, the delete goes out at once") {
    REQUIRE(p.done("resp_1", 30) == actions{});
    REQUIRE(p.speech(40) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 60},
                                    to_host::ai_interrupted{"item_A", 60, 100},
                                    to_host::ai_interrupted{"item_B", 0, 100}, to_openai::delete_item{"item_B"}});
  }
  SECTION("with forget_unheard off the unheard item stays") {
    playout_fixture q(barge_in_config{.margin = 20ms, .forget_unheard = false});
    q.send("resp_1", "item_A", 5);
    q.send("resp_1", "item_B", 5);
    REQUIRE(q.echo("rtb.1.1.40", 40) == actions{});
    REQUIRE(q.speech(40, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 60},
                                              to_host::ai_interrupted{"item_A", 60, 100},
                                              to_host::ai_interrupted{"item_B", 0, 100}});
    REQUIRE(q.done("resp_1", 60) == actions{});
  }
}

TEST_CASE("when the caller heard the first item fully, only the second one is truncated", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5);
  p.send("resp_1", "item_B", 5);
  for (int ms = 20; ms <= 100; ms += 20) REQUIRE(p.echo(to_string(playout_mark{1, 1, ms}), ms) == actions{});
  REQUIRE(p.echo("rtb.1.2.20", 120) == actions{});
  REQUIRE(p.speech(120, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 40},
                                             to_host::ai_interrupted{"item_B", 40, 100}});
}

TEST_CASE("an item the caller heard no whole ms of is deleted, never truncated at 0 ms", "[barge_in]") {
  SECTION("the caller spoke as the audio left") {
    playout_fixture p;
    p.send("resp_1", "item_A", 5);
    REQUIRE(p.done("resp_1", 0) == actions{});
    REQUIRE(p.speech(0) ==
            actions{to_twilio::clear{}, to_host::ai_interrupted{"item_A", 0, 100}, to_openai::delete_item{"item_A"}});
  }
  SECTION("half a millisecond played, no margin") {
    playout_fixture p(barge_in_config{.margin = std::chrono::milliseconds(0)});
    p.send("resp_1", "item_A", 5);
    REQUIRE(p.done("resp_1", 0) == actions{});
    REQUIRE(p.b.handle(playout::caller_speech_started{}, t0 + 500us) ==
            actions{to_twilio::clear{}, to_host::ai_interrupted{"item_A", 0, 100}, to_openai::delete_item{"item_A"}});
  }
  SECTION("but audio playing for 10 ms, echoed or not, was heard") {
    playout_fixture p;
    p.send("resp_1", "item_A", 5);
    REQUIRE(p.done("resp_1", 1) == actions{});
    // Twilio has not echoed a single mark yet: the estimate comes from when
    // the audio was sent.
    REQUIRE(p.speech(10) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 30},
                                    to_host::ai_interrupted{"item_A", 30, 100}});
    CHECK(p.b.counters().deletes == 0);
  }
}

TEST_CASE("audio sent while earlier audio still plays is queued behind it", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5, 0);   // plays from 0 to 100
  p.send("resp_1", "item_B", 5, 50);  // arrives while item_A plays: from 100 to 200
  REQUIRE(p.speech(150, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 70},
                                             to_host::ai_interrupted{"item_B", 70, 100}});
}

TEST_CASE("after the line went quiet, new audio is heard from when it was sent, not from the last echo", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5);
  for (int ms = 20; ms <= 100; ms += 20) REQUIRE(p.echo(to_string(playout_mark{1, 1, ms}), ms) == actions{});
  REQUIRE(p.done("resp_1", 100) == actions{});
  REQUIRE_FALSE(p.b.audio_playing());
  // Half a second of silence (a tool call, or the model waiting for the
  // caller), then the next answer: 200 ms at once.
  p.send("resp_2", "item_B", 10, 600);
  SECTION("before its first echo, from its send time") {
    REQUIRE(p.speech(650, "resp_2") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 70},
                                               to_host::ai_interrupted{"item_B", 70, 200}});
  }
  SECTION("after, from its own echoes") {
    REQUIRE(p.echo("rtb.1.2.20", 630) == actions{});  // Twilio started it 10 ms late
    REQUIRE(p.speech(650, "resp_2") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 60},
                                               to_host::ai_interrupted{"item_B", 60, 200}});
  }
  SECTION("the same inside one answer: the server's audio stalled, Twilio ran dry") {
    playout_fixture q;
    q.send("resp_1", "item_A", 5);
    for (int ms = 20; ms <= 100; ms += 20) REQUIRE(q.echo(to_string(playout_mark{1, 1, ms}), ms) == actions{});
    q.send("resp_1", "item_A", 10, 600);
    REQUIRE(q.speech(650, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 170},
                                               to_host::ai_interrupted{"item_A", 170, 300}});
  }
}

TEST_CASE("an echo of earlier audio can only delay the audio sent after it", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 5, 0);  // no echo yet at 110: as far as we know, it played from 0 to 100
  p.send("resp_2", "item_B", 5, 110);
  SECTION("nothing more known: item_B plays from its send time") {
    REQUIRE(p.speech(150) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 60},
                                     to_host::ai_interrupted{"item_B", 60, 100}});
  }
  SECTION("item_A finished only at 130 (Twilio started late): item_B played from then") {
    REQUIRE(p.echo("rtb.1.1.100", 130) == actions{});
    REQUIRE(p.speech(150) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 40},
                                     to_host::ai_interrupted{"item_B", 40, 100}});
  }
  SECTION("item_A still had 20 ms to play at 120: item_B plays from 140") {
    REQUIRE(p.echo("rtb.1.1.80", 120) == actions{});
    REQUIRE(p.speech(150) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 30},
                                     to_host::ai_interrupted{"item_B", 30, 100}});
  }
  SECTION("an echo that came before item_B was sent changes nothing for it") {
    REQUIRE(p.echo("rtb.1.1.100", 100) == actions{});
    REQUIRE(p.speech(150) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 60},
                                     to_host::ai_interrupted{"item_B", 60, 100}});
  }
}

TEST_CASE("a second barge-in in a later response works (no stale counters)", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 10);
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.speech(20, "resp_1").size() == 3);
  REQUIRE(p.echo("rtb.1.1.40", 21) == actions{});  // flushed by the clear

  // The answer to the interruption plays for a while, then the caller interrupts again.
  p.send("resp_2", "item_B", 25, 1000);  // 500 ms
  for (int ms = 20; ms <= 300; ms += 20) REQUIRE(p.echo(to_string(playout_mark{2, 2, ms}), 1000 + ms) == actions{});
  REQUIRE(p.speech(1300, "resp_2") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 320},
                                              to_host::ai_interrupted{"item_B", 320, 500}});
  CHECK(p.b.counters().barge_ins == 2);
  CHECK(p.b.generation() == 3);
}

TEST_CASE("a truncate never exceeds the audio received for the item", "[barge_in]") {
  SECTION("a large margin is capped by what was received") {
    playout_fixture p(barge_in_config{.margin = std::chrono::milliseconds(500)});
    p.send("resp_1", "item_A", 5);  // 100 ms received and sent
    REQUIRE(p.echo("rtb.1.1.60", 60) == actions{});
    REQUIRE(p.speech(60, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 100},
                                              to_host::ai_interrupted{"item_A", 100, 100}});
  }
  SECTION("property: over many random calls, every truncate is within the audio received") {
    std::mt19937 rng(20261124);
    int truncates_seen = 0;
    for (int run = 0; run < 300; ++run) {
      playout_fixture p(barge_in_config{.margin = std::chrono::milliseconds(rng() % 200)});
      std::int64_t t = 0;
      int item = 0;
      std::string resp = "resp_0";
      std::vector<std::string> names;
      for (int step = 0; step < 60; ++step) {
        t += rng() % 40;
        switch (rng() % 6) {
          case 0:
          case 1: {
            if (rng() % 4 == 0) ++item;
            const std::string id = "item_" + std::to_string(item);
            for (const auto& a : p.send(resp, id, 1 + static_cast<int>(rng() % 5), t))
              if (const auto* m = std::get_if<to_twilio::mark>(&a)) names.push_back(to_string(m->mark));
            break;
          }
          case 2:
            if (!names.empty()) {
              const auto n = std::min<std::size_t>(names.size(), 1 + rng() % 3);
              for (std::size_t i = 0; i < n; ++i) (void)p.echo(names[i], t);
              names.erase(names.begin(), names.begin() + static_cast<long>(n));
            }
            break;
          case 3:
            (void)p.done(resp, t);
            resp = "resp_" + std::to_string(step);
            break;
          default:
            for (const auto& a : p.speech(t, rng() % 2 ? resp : "")) {
              if (const auto* tr = std::get_if<to_openai::truncate_item>(&a)) {
                REQUIRE(tr->audio_end_ms > 0);
                REQUIRE(static_cast<std::uint64_t>(tr->audio_end_ms) * 8 <= p.received[tr->item_id]);
                ++truncates_seen;
              }
            }
            break;
        }
      }
    }
    CHECK(truncates_seen > 100);  // the property was exercised, not vacuously true
  }
}

TEST_CASE("with interrupt_response off the bridge cancels the response itself", "[barge_in]") {
  playout_fixture p(barge_in_config{.margin = 20ms, .server_cancels = false});
  p.send("resp_1", "item_A", 5);
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.speech(20, "resp_1") == actions{to_openai::cancel_response{}, to_twilio::clear{},
                                            to_openai::truncate_item{"item_A", 0, 40},
                                            to_host::ai_interrupted{"item_A", 40, 100}});
  SECTION("but never when no response is active") {
    p.send("resp_2", "item_B", 5, 1000);
    REQUIRE(p.done("resp_2", 1001) == actions{});
    const auto& out = p.speech(1001);
    CHECK(only<to_openai::cancel_response>(out).empty());
  }
}

TEST_CASE("with barge-in disabled the caller cannot interrupt", "[barge_in]") {
  playout_fixture p(barge_in_config{.enabled = false});
  p.send("resp_1", "item_A", 5);
  REQUIRE(p.speech(20, "resp_1") == actions{});
  // and the response keeps playing
  REQUIRE(p.send("resp_1", "item_A", 1, 21).size() == 2);
}

TEST_CASE("an underrun: all audio heard while the response still generates is truncated at what was sent",
          "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 2);
  REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
  REQUIRE(p.echo("rtb.1.1.40", 40) == actions{});
  REQUIRE_FALSE(p.b.audio_playing());
  // Nothing is queued at Twilio, so no clear; but the server may hold audio
  // the caller will never hear.
  REQUIRE(p.speech(200, "resp_1") ==
          actions{to_openai::truncate_item{"item_A", 0, 40}, to_host::ai_interrupted{"item_A", 40, 40}});
}

TEST_CASE("marks the bridge did not send are counted and ignored", "[barge_in]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 2);
  REQUIRE(p.echo("responsePart", 10) == actions{});
  REQUIRE(p.echo("rtb.x.1.20", 10) == actions{});
  CHECK(p.b.counters().foreign_marks == 2);
  CHECK(p.b.marks_outstanding() == 2);
}

// ---- barge-in's own settings: validation and the session's interrupt_response ----

TEST_CASE("barge-in validates its own settings, naming the bad one", "[barge_in][config]") {
  CHECK(validate(barge_in_config{}));
  barge_in_config c;
  c.margin = std::chrono::milliseconds(-1);
  const auto r = validate(c);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_config);
  CHECK(r.error().message == "barge-in margin must not be negative");
}

TEST_CASE("barge-in decides interrupt_response: off when it is disabled, else as configured", "[barge_in][config]") {
  struct row {
    bool enabled;
    bool configured;  // interrupt_response as configured
    bool sent;        // in session.update
    bool server_cancels;
  };
  // Disabled: the server must not stop an answer Twilio goes on playing.
  const row rows[] = {
      {true, true, true, true},
      {true, false, false, false},
      {false, true, false, false},
      {false, false, false, false},
  };
  for (const row& r : rows) {
    INFO("enabled " << r.enabled << ", configured interrupt_response " << r.configured);
    for (const bool semantic : {false, true}) {
      barge_in_config b{.enabled = r.enabled};
      openai::session_config s;
      if (semantic)
        s.turn = openai::semantic_vad{"auto", true, r.configured};
      else
        s.turn = openai::server_vad{0.5, 300, 500, std::nullopt, true, r.configured};
      derive_interrupt_response(b, s);
      CHECK(openai::server_interrupts(s) == r.sent);
      CHECK(b.server_cancels == r.server_cancels);
      // Nothing else of the turn detection changes.
      if (semantic)
        CHECK(std::get<openai::semantic_vad>(s.turn).create_response);
      else
        CHECK(std::get<openai::server_vad>(s.turn) == openai::server_vad{0.5, 300, 500, std::nullopt, true, r.sent});
    }
  }
  SECTION("without turn detection the bridge always cancels itself") {
    barge_in_config b;
    openai::session_config s;
    s.turn = openai::no_turn_detection{};
    derive_interrupt_response(b, s);
    CHECK_FALSE(b.server_cancels);
    CHECK(s.turn == openai::turn_detection{openai::no_turn_detection{}});
  }
  SECTION("deriving twice changes nothing more") {
    barge_in_config b{.enabled = false};
    openai::session_config s;
    derive_interrupt_response(b, s);
    const auto once = s;
    derive_interrupt_response(b, s);
    CHECK(s == once);
  }
}

// ---- the round trip to Twilio (probe marks) and Twilio's start delay ----

TEST_CASE("a probe mark goes ahead of audio sent into Twilio's empty buffer, one at a time", "[barge_in][rtt]") {
  playout_fixture p;
  REQUIRE(p.send("resp_1", "item_A", 2, 0) == actions{to_twilio::mark{{1, 0, 0}}, to_twilio::media{chunk},
                                                      to_twilio::mark{{1, 1, 20}}, to_twilio::media{chunk},
                                                      to_twilio::mark{{1, 1, 40}}});
  CHECK(p.b.counters().probes_sent == 1);
  CHECK(p.b.counters().marks_sent == 2);  // probes are not counted with the marks after audio
  CHECK(p.b.marks_outstanding() == 2);    // nor as audio queued at Twilio
  SECTION("while marks are outstanding, Twilio is playing: no probe") {
    REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
    REQUIRE(p.send("resp_1", "item_A", 1, 30) == actions{to_twilio::media{chunk}, to_twilio::mark{{1, 1, 60}}});
  }
  SECTION("once every mark came back, the next audio gets a probe, if the last one came back") {
    REQUIRE(p.echo("rtb.1.0.0", 0) == actions{});
    REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
    REQUIRE(p.echo("rtb.1.1.40", 40) == actions{});
    REQUIRE(p.send("resp_2", "item_B", 1, 500) ==
            actions{to_twilio::mark{{1, 0, 0}}, to_twilio::media{chunk}, to_twilio::mark{{1, 2, 20}}});
    CHECK(p.b.counters().probes_sent == 2);
    CHECK(p.b.counters().probes_echoed == 1);
  }
  SECTION("a probe that has not come back is not repeated") {
    REQUIRE(p.echo("rtb.1.1.20", 20) == actions{});
    REQUIRE(p.echo("rtb.1.1.40", 40) == actions{});
    REQUIRE(p.send("resp_2", "item_B", 1, 500) == actions{to_twilio::media{chunk}, to_twilio::mark{{1, 2, 20}}});
  }
}

TEST_CASE("the probe's echo measures the round trip, the first echo after it, the start delay", "[barge_in][rtt]") {
  // 40 ms each way; Twilio waits 30 ms before playing audio that reaches an empty buffer.
  playout_fixture p;
  p.send("resp_1", "item_A", 10, 0);  // reaches Twilio at 40, plays from 70 to 270
  CHECK_FALSE(p.b.round_trip_time().has_value());
  CHECK(p.b.one_way_delay() == 0us);
  REQUIRE(p.echo("rtb.1.0.0", 80) == actions{});  // echoed on arrival
  CHECK(p.b.round_trip_time() == 80ms);
  CHECK(p.b.one_way_delay() == 40ms);
  CHECK_FALSE(p.b.start_delay().has_value());
  REQUIRE(p.echo("rtb.1.1.20", 130) == actions{});  // the first chunk ended at 90 on Twilio's side
  CHECK(p.b.start_delay() == 30ms);
  CHECK(p.b.round_trip_time() == 80ms);
}

TEST_CASE("with the round trip measured, the truncate is what had played when the clear reaches Twilio",
          "[barge_in][rtt]") {
  // 40 ms each way, no start delay, no margin: audio sent at 0 plays from 40.
  playout_fixture p(barge_in_config{.margin = 0ms});
  p.send("resp_1", "item_A", 10, 0);
  REQUIRE(p.echo("rtb.1.0.0", 80) == actions{});
  REQUIRE(p.echo("rtb.1.1.20", 100) == actions{});  // ended at 60 on Twilio's side
  REQUIRE(p.echo("rtb.1.1.40", 120) == actions{});  // ended at 80
  // A clear sent at 130 reaches Twilio at 170: 130 ms had played. The last
  // echo (40 ms at 120) plus the time since (10) plus both journeys (80).
  REQUIRE(p.speech(130, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 130},
                                             to_host::ai_interrupted{"item_A", 130, 200}});
  SECTION("before the probe came back the echoes were taken at face value: a round trip short") {
    playout_fixture q(barge_in_config{.margin = 0ms});
    q.send("resp_1", "item_A", 10, 0);
    REQUIRE(q.echo("rtb.1.1.20", 100) == actions{});
    REQUIRE(q.echo("rtb.1.1.40", 120) == actions{});
    REQUIRE(q.speech(130, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 50},
                                               to_host::ai_interrupted{"item_A", 50, 200}});
  }
}

TEST_CASE("with the start delay measured, audio sent into an empty buffer is heard from when it starts playing",
          "[barge_in][rtt]") {
  // 40 ms each way; Twilio waits 30 ms before playing audio that reaches an empty buffer.
  playout_fixture p(barge_in_config{.margin = 0ms});
  p.send("resp_1", "item_A", 5, 0);  // plays from 70 to 170
  REQUIRE(p.echo("rtb.1.0.0", 80) == actions{});
  for (int ms = 20; ms <= 100; ms += 20) REQUIRE(p.echo(to_string(playout_mark{1, 1, ms}), 110 + ms) == actions{});
  REQUIRE(p.done("resp_1", 200) == actions{});
  REQUIRE(p.b.start_delay() == 30ms);
  // The next answer, sent at 1000, reaches Twilio at 1040 and plays from 1070.
  p.send("resp_2", "item_B", 10, 1000);
  SECTION("the caller spoke before it started: nothing of it was heard") {
    // The clear, sent at 1020, reaches Twilio at 1060.
    REQUIRE(p.speech(1020, "resp_2") == actions{to_twilio::clear{}, to_host::ai_interrupted{"item_B", 0, 200}});
    REQUIRE(p.done("resp_2", 1030) == actions{to_openai::delete_item{"item_B"}});
  }
  SECTION("50 ms into it, before its first echo") {
    // The clear, sent at 1080, reaches Twilio at 1120.
    REQUIRE(p.speech(1080, "resp_2") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_B", 0, 50},
                                                to_host::ai_interrupted{"item_B", 50, 200}});
  }
}

TEST_CASE("an echo of the segment's own audio places it exactly, earlier as well as later", "[barge_in][rtt]") {
  playout_fixture p(barge_in_config{.margin = 0ms});
  p.send("resp_1", "item_A", 10, 0);
  REQUIRE(p.echo("rtb.1.1.20", 35) == actions{});  // a late echo: as if playback had started at 15
  REQUIRE(p.echo("rtb.1.1.40", 40) == actions{});  // back on time: it started at 0
  REQUIRE(p.speech(50, "resp_1") == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 50},
                                            to_host::ai_interrupted{"item_A", 50, 200}});
}

TEST_CASE("a probe echo of an older generation still measures the round trip", "[barge_in][rtt]") {
  playout_fixture p;
  p.send("resp_1", "item_A", 10, 0);
  REQUIRE(p.speech(10, "resp_1").size() == 3);    // clear, truncate, ai_interrupted; generation 2 begins
  REQUIRE(p.echo("rtb.1.0.0", 60) == actions{});  // the probe had reached an empty buffer: echoed at once
  CHECK(p.b.round_trip_time() == 60ms);
  SECTION("but an unexpected one does not") {
    REQUIRE(p.echo("rtb.1.0.0", 70) == actions{});
    REQUIRE(p.echo("rtb.2.0.0", 70) == actions{});
    CHECK(p.b.counters().probes_echoed == 1);
    CHECK(p.b.round_trip_time() == 60ms);
  }
}

// ---- the echo guard (opt-in): ignore speech just after the AI starts playing, and speech too short ----

namespace {

/// An answer of 1 s sent at `t` into Twilio's empty buffer on a link of 40 ms
/// each way, with the probe echoed at t + 80 and the first chunk's mark at
/// t + 100 + `start_delay` (the AI is heard from t + 40 + start_delay at
/// Twilio, which the bridge sees at t + 80 + start_delay).
void answer_playing(playout_fixture& p, std::int64_t t, std::int64_t start_delay = 0, std::string_view resp = "resp_1",
                    std::string_view item = "item_A") {
  p.send(resp, item, 50, t);
  const auto gen = p.b.generation();
  if (p.b.counters().probes_echoed < p.b.counters().probes_sent)
    REQUIRE(p.echo(to_string(playout_mark{gen, 0, 0}), t + 80) == actions{});
  REQUIRE(p.echo(to_string(playout_mark{gen, static_cast<std::uint32_t>(p.b.counters().media_sent / 50), 20}),
                 t + 100 + start_delay) == actions{});
}

barge_in_config guarded(std::chrono::milliseconds echo_guard, std::chrono::milliseconds min_speech = 0ms) {
  // The bridge decides: the server does not cancel on speech (derive_interrupt_response).
  return barge_in_config{.margin = 0ms, .echo_guard = echo_guard, .min_speech = min_speech, .server_cancels = false};
}

}  // namespace

TEST_CASE("echo guard: speech in the first N ms of the AI's playback is ignored, the answer goes on",
          "[barge_in][echo_guard]") {
  playout_fixture p(guarded(500ms));
  answer_playing(p, 0);  // its start is seen here at 80: the window is [80, 580)
  SECTION("inside the window: nothing happens") {
    REQUIRE(p.speech(300, "resp_1") == actions{});
    CHECK(p.b.counters().speech_guarded == 1);
    CHECK(p.b.counters().barge_ins == 0);
    REQUIRE(p.send("resp_1", "item_A", 1, 310).size() == 2);  // media + mark: still playing
    SECTION("a second speech_started in the window neither") { REQUIRE(p.speech(570, "resp_1") == actions{}); }
  }
  SECTION("after the window: a barge-in, with the bridge's own cancel") {
    REQUIRE(p.speech(580, "resp_1") == actions{to_openai::cancel_response{}, to_twilio::clear{},
                                               to_openai::truncate_item{"item_A", 0, 580},
                                               to_host::ai_interrupted{"item_A", 580, 1000}});
  }
  SECTION("before the AI could be heard: not its echo, a barge-in") {
    playout_fixture q(guarded(500ms));
    q.send("resp_1", "item_A", 50, 0);
    REQUIRE(q.echo("rtb.1.0.0", 80) == actions{});
    // Seen from 80 + 0 (no start delay measured yet); speech at 60 came first.
    const auto& out = q.speech(60, "resp_1");
    CHECK(only<to_twilio::clear>(out).size() == 1);
    CHECK(only<to_openai::cancel_response>(out).size() == 1);
  }
}

TEST_CASE("echo guard: the window starts when playback starts (the first echo), not when the audio was sent",
          "[barge_in][echo_guard]") {
  playout_fixture p(guarded(500ms));
  answer_playing(p, 0, 200);  // Twilio waited 200 ms: seen to start at 280, window [280, 780)
  CHECK(p.b.start_delay() == 200ms);
  REQUIRE(p.speech(700, "resp_1") == actions{});  // a window from sending (0 to 500) would have let this through
  CHECK(p.b.counters().speech_guarded == 1);
  SECTION("and it opens again each time the AI starts talking after silence") {
    for (int ms = 40; ms <= 1000; ms += 20) (void)p.echo(to_string(playout_mark{1, 1, ms}), 1100);
    REQUIRE(p.done("resp_1", 1100) == actions{});
    REQUIRE_FALSE(p.b.audio_playing());
    // The next answer at 2000: probe back at 2080; first chunk seen at
    // 2000 + 80 + 200 (the start delay measured), its echo at 2300.
    p.send("resp_2", "item_B", 50, 2000);
    REQUIRE(p.echo("rtb.1.0.0", 2080) == actions{});
    REQUIRE(p.speech(2290, "resp_2") == actions{});  // before the echo: from the estimate, in [2280, 2780)
    REQUIRE(p.echo("rtb.1.2.20", 2300) == actions{});
    REQUIRE(p.speech(2700, "resp_2") == actions{});
    CHECK(p.b.counters().speech_guarded == 3);
    CHECK_FALSE(p.speech(2800, "resp_2").empty());
  }
}

TEST_CASE("minimum speech: speech that stops before M ms leaves the answer playing", "[barge_in][echo_guard]") {
  playout_fixture p(guarded(0ms, 300ms));
  answer_playing(p, 0);
  REQUIRE(p.speech(200, "resp_1") == actions{});
  REQUIRE(p.b.next_timeout() == at(500));
  REQUIRE(p.b.handle_timeout(at(499)) == actions{});  // spurious
  REQUIRE(p.b.handle(playout::caller_speech_stopped{}, at(350)) == actions{});
  CHECK_FALSE(p.b.next_timeout().has_value());
  CHECK(p.b.counters().speech_too_short == 1);
  CHECK(p.b.counters().barge_ins == 0);
  REQUIRE(p.b.handle_timeout(at(500)) == actions{});
  REQUIRE(p.send("resp_1", "item_A", 1, 510).size() == 2);  // still playing
}

TEST_CASE("minimum speech: speech that lasts M ms interrupts then, at what had been heard then",
          "[barge_in][echo_guard]") {
  playout_fixture p(guarded(0ms, 300ms));
  answer_playing(p, 0);
  REQUIRE(p.speech(200, "resp_1") == actions{});
  SECTION("the timer fires while the caller speaks") {
    // A clear sent at 500 reaches Twilio at 540: 500 ms of the answer had played.
    REQUIRE(p.b.handle_timeout(at(500)) == actions{to_openai::cancel_response{}, to_twilio::clear{},
                                                   to_openai::truncate_item{"item_A", 0, 500},
                                                   to_host::ai_interrupted{"item_A", 500, 1000}});
    CHECK_FALSE(p.b.next_timeout().has_value());
    CHECK(p.b.counters().barge_ins == 1);
    REQUIRE(p.b.handle(playout::caller_speech_stopped{}, at(900)) == actions{});
    CHECK(p.b.counters().speech_too_short == 0);
  }
  SECTION("a second speech_started while waiting changes nothing") {
    REQUIRE(p.speech(300, "resp_1") == actions{});
    CHECK(p.b.next_timeout() == at(500));
  }
  SECTION("the response finished generating meanwhile: no cancel, the rest is still cleared") {
    REQUIRE(p.done("resp_1", 400) == actions{});
    REQUIRE(p.b.handle_timeout(at(500)) == actions{to_twilio::clear{}, to_openai::truncate_item{"item_A", 0, 500},
                                                   to_host::ai_interrupted{"item_A", 500, 1000}});
  }
}

TEST_CASE("minimum speech: with nothing playing and no response, speech is handled at once", "[barge_in][echo_guard]") {
  playout_fixture p(guarded(0ms, 300ms));
  REQUIRE(p.speech(100) == actions{});
  CHECK_FALSE(p.b.next_timeout().has_value());
  SECTION("but a response being generated, with no audio yet, waits to see") {
    REQUIRE(p.speech(200, "resp_1") == actions{});
    CHECK(p.b.next_timeout() == at(500));
    REQUIRE(p.b.handle_timeout(at(500)) == actions{to_openai::cancel_response{}});
  }
}

TEST_CASE("echo guard and minimum speech together: speech in the window does not even start the wait",
          "[barge_in][echo_guard]") {
  playout_fixture p(guarded(500ms, 300ms));
  answer_playing(p, 0);
  REQUIRE(p.speech(300, "resp_1") == actions{});
  CHECK_FALSE(p.b.next_timeout().has_value());
  REQUIRE(p.speech(600, "resp_1") == actions{});
  REQUIRE(p.b.next_timeout() == at(900));
  CHECK_FALSE(p.b.handle_timeout(at(900)).empty());
}

TEST_CASE("with barge-in disabled the guards change nothing: no timer", "[barge_in][echo_guard]") {
  barge_in_config c = guarded(500ms, 300ms);
  c.enabled = false;
  playout_fixture p(c);
  answer_playing(p, 0);
  REQUIRE(p.speech(700, "resp_1") == actions{});
  CHECK_FALSE(p.b.next_timeout().has_value());
}

TEST_CASE("the echo guard and the minimum speech have the bridge decide: interrupt_response goes off",
          "[barge_in][echo_guard][config]") {
  for (const auto& [guard, min_speech] : {std::pair{500ms, 0ms}, std::pair{0ms, 300ms}}) {
    barge_in_config b{.echo_guard = guard, .min_speech = min_speech};
    CHECK_FALSE(allows_server_interrupt(b));
    openai::session_config s;
    derive_interrupt_response(b, s);
    CHECK_FALSE(openai::server_interrupts(s));
    CHECK_FALSE(b.server_cancels);
  }
  CHECK(allows_server_interrupt(barge_in_config{}));
}

TEST_CASE("the echo guard's settings are validated", "[barge_in][echo_guard][config]") {
  barge_in_config c;
  c.echo_guard = -1ms;
  CHECK(validate(c).error().message == "barge-in echo guard must be from 0 to 10000 ms, not -1 ms");
  c.echo_guard = 10'001ms;
  CHECK(validate(c).error().message == "barge-in echo guard must be from 0 to 10000 ms, not 10001 ms");
  c.echo_guard = 10'000ms;
  CHECK(validate(c));
  c.min_speech = -5ms;
  CHECK(validate(c).error().message == "barge-in minimum speech must be from 0 to 10000 ms, not -5 ms");
  c.min_speech = 20'000ms;
  CHECK(validate(c).error().message == "barge-in minimum speech must be from 0 to 10000 ms, not 20000 ms");
}
