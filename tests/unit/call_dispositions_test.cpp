// The answers to <Connect action> requests, kept per call.
#include <catch2/catch.hpp>

#include "realtime_bridge/service/call_dispositions.hpp"
#include "support/memory_store.hpp"

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

TEST_CASE("a stored call's disposition: recorded, the fallback once ended without one, nothing while open",
          "[dispositions]") {
  stored_call c;
  c.call_sid = "CA1";
  CHECK_FALSE(stored_disposition(c));
  c.disposition = "hang_up";
  CHECK(stored_disposition(c) == call_disposition{call_disposition::kind::hang_up, ""});
  c.disposition = "transfer";
  c.transfer_to = "+15550009999";
  CHECK(stored_disposition(c) == call_disposition{call_disposition::kind::transfer, "+15550009999"});
  c.disposition.clear();
  c.transfer_to.clear();
  c.ended_at = store_time{std::chrono::milliseconds{5000}};
  CHECK(stored_disposition(c) == call_disposition{});
  c.disposition = "transfer";  // a transfer without a number is not one
  CHECK(stored_disposition(c) == call_disposition{});
}

TEST_CASE("looking in a shared store: answer what is there, wait for an open call, not long for an unknown one",
          "[dispositions]") {
  const disposition_wait wait;  // 50 ms between reads, 300 ms for an unknown call, 3 s for an open one
  stored_call open;
  open.call_sid = "CA1";
  CHECK_FALSE(wait.decide(open, 0ms));
  CHECK_FALSE(wait.decide(open, 2900ms));
  CHECK(wait.decide(open, 2960ms) == call_disposition{});  // the next read would come too late
  stored_call done = open;
  done.disposition = "hang_up";
  CHECK(wait.decide(done, 0ms) == call_disposition{call_disposition::kind::hang_up, ""});
  CHECK_FALSE(wait.decide(std::nullopt, 200ms));
  CHECK(wait.decide(std::nullopt, 260ms) == call_disposition{});
}


TEST_CASE("a book with a store writes each disposition there as it is recorded", "[dispositions]") {
  test::memory_store store;
  disposition_book book;
  book.record("CA0", {call_disposition::kind::hang_up, ""});  // before write_to: memory only
  book.write_to(&store);
  book.record("CA1", {call_disposition::kind::transfer, "+15550009999"});
  book.record("CA2", {call_disposition::kind::hang_up, ""});
  const auto written = store.all<records::call_disposed>();
  REQUIRE(store.records.size() == 2);
  REQUIRE(written.size() == 2);
  CHECK(written[0] == records::call_disposed{"CA1", "transfer", "+15550009999"});
  CHECK(written[1] == records::call_disposed{"CA2", "hang_up", ""});
  CHECK(book.take("CA1"));  // and keeps them for this instance
}
