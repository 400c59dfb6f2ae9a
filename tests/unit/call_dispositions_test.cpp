// The answers to <Connect action> requests, kept per call.
#include <catch2/catch.hpp>

#include "realtime_bridge/service/call_dispositions.hpp"

using namespace rtb;
using namespace rtb::service;
using namespace std::chrono_literals;

TEST_CASE("a disposition is taken once, an unknown call gets none", "[dispositions]") {
  disposition_book book;
  const auto t0 = disposition_book::clock::time_point{} + 1h;
  book.record("CA1", {call_disposition::kind::hang_up, ""}, t0);
  book.record("CA2", {call_disposition::kind::transfer, "+15550009999"}, t0);
  CHECK(book.take("CA1", t0 + 1s) == call_disposition{call_disposition::kind::hang_up, ""});
  CHECK_FALSE(book.take("CA1", t0 + 2s));
  CHECK_FALSE(book.take("CA9", t0 + 2s));
  CHECK(book.take("CA2", t0 + 3s)->number == "+15550009999");
  CHECK(book.size() == 0);
}

TEST_CASE("dispositions are bounded in age and count", "[dispositions]") {
  disposition_book book(3, 10min);
  const auto t0 = disposition_book::clock::time_point{} + 1h;
  book.record("old", {call_disposition::kind::hang_up, ""}, t0);
  CHECK_FALSE(book.take("old", t0 + 11min));  // too old to matter: Twilio asks within seconds
  for (int i = 0; i < 5; ++i) book.record("CA" + std::to_string(i), {call_disposition::kind::hang_up, ""}, t0 + 20min);
  CHECK(book.size() == 3);
  CHECK_FALSE(book.take("CA0", t0 + 20min));  // the oldest made room
  CHECK(book.take("CA4", t0 + 20min));
}

TEST_CASE("the TwiML of each disposition", "[dispositions]") {
  twilio::fallback f;
  f.text = "Sorry.";
  CHECK(disposition_twiml({call_disposition::kind::hang_up, ""}, f).ends_with("<Response><Hangup/></Response>"));
  CHECK(disposition_twiml({call_disposition::kind::transfer, "+15550009999"}, f)
            .ends_with("<Response><Dial>+15550009999</Dial></Response>"));
  CHECK(
      disposition_twiml({call_disposition::kind::fallback, ""}, f).ends_with("<Response><Say>Sorry.</Say></Response>"));
}
