// Scenarios for caller audio batching (include/realtime_bridge/caller_audio_batch.hpp).
// The composed behaviour (flushes before other OpenAI messages, at the end of
// the call, held audio) is in call_test.cpp ("[call][batch]").
#include "realtime_bridge/caller_audio_batch.hpp"
#include "realtime_bridge/audio.hpp"
#include "support/test_support.hpp"

using namespace rtb;
using namespace rtb::test;

namespace {

/// The 160 bytes of frame(fill).
std::string frame_bytes(unsigned char fill) { return std::string(160, static_cast<char>(fill)); }

struct batch_fixture {
  explicit batch_fixture(std::chrono::milliseconds length) : b(length) {}
  const actions& frame(const std::string& payload, std::int64_t t) {
    b.begin_step();
    return b.handle(caller_audio::frame{payload}, at(t));
  }
  caller_audio_batch b;
};

}  // namespace

TEST_CASE("off: every frame is its own append, its payload unchanged, and nothing is ever pending", "[batch]") {
  batch_fixture f(0ms);
  const std::string f1 = frame(1), f2 = frame(2);
  const auto& out = f.frame(f1, 0);
  REQUIRE(out == actions{to_openai::append_audio{f1}});
  CHECK(std::get<to_openai::append_audio>(out[0]).audio.data() == f1.data());  // a view, not a copy
  REQUIRE(f.frame(f2, 20) == actions{to_openai::append_audio{f2}});
  CHECK_FALSE(f.b.pending());
  CHECK_FALSE(f.b.next_timeout().has_value());
  CHECK(f.b.handle(caller_audio::flush{}, at(30)) == actions{});
  CHECK(f.b.handle_timeout(at(1000)) == actions{});
  CHECK(f.b.frames_forwarded() == 2);
  CHECK(f.b.appends() == 2);
}

TEST_CASE("a full batch goes out as one append of the frames' bytes, in order", "[batch]") {
  batch_fixture f(60ms);
  REQUIRE(f.frame(frame(1), 0) == actions{});
  CHECK(f.b.next_timeout() == at(60));
  REQUIRE(f.frame(frame(2), 20) == actions{});
  CHECK(f.b.next_timeout() == at(60));  // from the oldest frame
  REQUIRE(f.frame(frame(3), 40) ==
          actions{to_openai::append_audio{base64(frame_bytes(1) + frame_bytes(2) + frame_bytes(3))}});
  CHECK_FALSE(f.b.pending());
  CHECK_FALSE(f.b.next_timeout().has_value());
  CHECK(f.b.frames_forwarded() == 3);
  CHECK(f.b.appends() == 1);
}

TEST_CASE("a batch that is not full goes out at its deadline, a spurious timeout does nothing", "[batch]") {
  batch_fixture f(100ms);
  REQUIRE(f.frame(frame(1), 0) == actions{});
  REQUIRE(f.frame(frame(2), 20) == actions{});
  REQUIRE(f.b.handle_timeout(at(99)) == actions{});
  CHECK(f.b.frames_forwarded() == 0);  // pending frames are not forwarded yet
  REQUIRE(f.b.handle_timeout(at(100)) == actions{to_openai::append_audio{base64(frame_bytes(1) + frame_bytes(2))}});
  CHECK(f.b.frames_forwarded() == 2);
  REQUIRE(f.b.handle_timeout(at(101)) == actions{});
}

TEST_CASE("when the timer is late, the overdue batch goes out before the next frame starts a new one", "[batch]") {
  batch_fixture f(40ms);
  REQUIRE(f.frame(frame(1), 0) == actions{});
  REQUIRE(f.frame(frame(2), 45) == actions{to_openai::append_audio{base64(frame_bytes(1))}});
  CHECK(f.b.next_timeout() == at(85));
}

TEST_CASE("flush sends what is pending at once, drop forgets it", "[batch]") {
  batch_fixture f(200ms);
  REQUIRE(f.frame(frame(1), 0) == actions{});
  SECTION("flush") {
    REQUIRE(f.b.handle(caller_audio::flush{}, at(5)) == actions{to_openai::append_audio{base64(frame_bytes(1))}});
    CHECK(f.b.frames_forwarded() == 1);
  }
  SECTION("drop") {
    REQUIRE(f.b.handle(caller_audio::drop{}, at(5)) == actions{});
    CHECK(f.b.frames_forwarded() == 0);
    REQUIRE(f.b.handle(caller_audio::flush{}, at(6)) == actions{});
  }
  CHECK_FALSE(f.b.pending());
  CHECK_FALSE(f.b.next_timeout().has_value());
}

TEST_CASE("batches of one step keep their own texts, the next step reuses them", "[batch]") {
  batch_fixture f(40ms);
  f.b.begin_step();
  // Held audio released in one step: two full batches.
  std::vector<std::string> texts;
  for (unsigned char i = 1; i <= 4; ++i) {
    const std::string p = frame(i);
    for (const auto& a : f.b.handle(caller_audio::frame{p}, at(0)))
      texts.emplace_back(std::get<to_openai::append_audio>(a).audio);
  }
  REQUIRE(texts.size() == 2);
  CHECK(texts[0] == base64(frame_bytes(1) + frame_bytes(2)));
  CHECK(texts[1] == base64(frame_bytes(3) + frame_bytes(4)));

  f.b.begin_step();
  (void)f.b.handle(caller_audio::frame{frame(5)}, at(20));
  const auto& out = f.b.handle(caller_audio::frame{frame(6)}, at(40));
  REQUIRE(out.size() == 1);
  CHECK(std::get<to_openai::append_audio>(out[0]).audio == base64(frame_bytes(5) + frame_bytes(6)));
}

TEST_CASE("validate_batch_length accepts 0 and multiples of 20 ms from 40 to 200 ms", "[batch][config]") {
  for (auto ok : {0ms, 40ms, 60ms, 100ms, 200ms}) CHECK(validate_batch_length(ok));
  for (auto bad : {-20ms, 10ms, 20ms, 30ms, 50ms, 190ms, 220ms, 1000ms}) {
    const auto r = validate_batch_length(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "caller audio batch must be 0 (off) or a multiple of 20 ms from 40 to 200 ms, not " +
                                   std::to_string(bad.count()) + " ms");
  }
}

TEST_CASE("messages for OpenAI other than caller audio must follow pending caller audio", "[batch]") {
  CHECK(must_follow_caller_audio(to_openai::truncate_item{"i", 0, 1}));
  CHECK(must_follow_caller_audio(to_openai::cancel_response{}));
  CHECK(must_follow_caller_audio(to_openai::update_session{}));
  CHECK(must_follow_caller_audio(to_openai::close{1000, ""}));
  CHECK_FALSE(must_follow_caller_audio(to_openai::append_audio{"x"}));
  CHECK_FALSE(must_follow_caller_audio(to_twilio::clear{}));
  CHECK_FALSE(must_follow_caller_audio(to_host::dtmf{"1"}));
}
