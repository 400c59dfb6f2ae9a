// The campaign store on both backends: campaigns and entries round-trip,
// attempt markers are written once and only once, outbound calls and their
// statuses land in the calls table without overwriting what a stream wrote.
#include <catch2/catch.hpp>

#include "realtime_bridge/service/campaign_store.hpp"
#include "realtime_bridge/service/store.hpp"
#include "store/store_test_support.hpp"

namespace svc = rtb::service;
using rtb::test::postgres_db;
using rtb::test::query_one;
using rtb::test::sqlite_db;
using namespace std::chrono_literals;

namespace {

const svc::store_time t0{std::chrono::milliseconds{1'700'000'000'000}};

template <class Db>
std::unique_ptr<svc::campaign_store> open(const Db& db, std::string instance = "bridge-1") {
  auto s = svc::open_campaign_store(db.url(), std::move(instance));
  if (!s) FAIL(s.error().message);
  REQUIRE(*s);
  return std::move(*s);
}

std::vector<svc::campaign_entry> entries() {
  std::vector<svc::campaign_entry> out(3);
  for (int i = 0; i < 3; ++i) {
    out[i].index = i;
    out[i].to = "+1555000100" + std::to_string(i);
    out[i].updated_at = t0;
  }
  out[1].variables_json = R"({"name":"Ann"})";
  out[2].state = svc::entry_state::invalid;
  out[2].outcome = "invalid";
  out[2].detail = "not an E.164 number";
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("campaign store: campaigns and entries round-trip, attempt markers are written once",
                   "[store][campaigns]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open(db);
  svc::stored_campaign c{"CP1", "July", svc::campaign_state::running, R"({"max_concurrent":5})", "", t0, t0};
  REQUIRE(store->create(c, entries()));
  REQUIRE_FALSE(store->create(c, entries()));  // the same id again: refused, nothing changed

  auto got = store->get("CP1");
  REQUIRE(got);
  REQUIRE(*got);
  CHECK((*got)->name == "July");
  CHECK((*got)->settings_json == R"({"max_concurrent":5})");
  CHECK((*got)->instance == "bridge-1");
  CHECK_FALSE(*store->get("CPnone"));
  auto e = store->entries("CP1");
  REQUIRE(e);
  REQUIRE(e->size() == 3);
  CHECK((*e)[1].variables_json == R"({"name":"Ann"})");
  CHECK((*e)[2].state == svc::entry_state::invalid);
  CHECK((*e)[2].detail == "not an E.164 number");

  // The dialer marks entry 0 dialing, attempt 1.
  svc::campaign_entry d = (*e)[0];
  d.state = svc::entry_state::dialing;
  d.attempts = 1;
  d.updated_at = t0 + 1s;
  auto first = store->begin_attempt("CP1", d, t0 + 1s);
  REQUIRE(first);
  CHECK(*first);
  auto second = store->begin_attempt("CP1", d, t0 + 2s);  // the same attempt again: no
  REQUIRE(second);
  CHECK_FALSE(*second);
  REQUIRE(store->attempt_placed("CP1", 0, 1, "CA1"));
  d.state = svc::entry_state::done;
  d.outcome = "busy";
  d.next_attempt_at = t0 + 10min;
  d.busy_retries = 1;
  d.call_sid = "CA1";
  d.answered_by = "human";
  REQUIRE(store->save_entry("CP1", d));
  e = store->entries("CP1");
  REQUIRE(e);
  CHECK((*e)[0] == d);
  auto a = store->attempts("CP1");
  REQUIRE(a);
  REQUIRE(a->size() == 1);
  CHECK((*a)[0].call_sid == "CA1");
  CHECK((*a)[0].attempt == 1);
  CHECK((*a)[0].to == "+15550001000");

  auto unfinished = store->list(true, 10);
  REQUIRE(unfinished);
  CHECK(unfinished->size() == 1);
  REQUIRE(store->set_state("CP1", svc::campaign_state::completed, t0 + 1h));
  unfinished = store->list(true, 10);
  REQUIRE(unfinished);
  CHECK(unfinished->empty());
  auto all = store->list(false, 10);
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK(all->front().state == svc::campaign_state::completed);
}

TEMPLATE_TEST_CASE("campaign store: outbound calls and their statuses in the calls table", "[store][campaigns]",
                   sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open(db);
  svc::records::call_started c;
  c.call_sid = "CAout";
  c.from = "+15550009999";
  c.to = "+15550001000";
  c.direction = svc::call_direction::outbound;
  c.agent = "reminders";
  c.started_at = t0;
  REQUIRE(store->outbound_call(c));
  svc::records::event ringing{"CAout", 1'000'001, t0 + 1s, "status", R"({"status":"ringing"})"};
  REQUIRE(store->call_progress(c, ringing, false, ""));
  REQUIRE(store->call_progress(c, ringing, false, ""));  // a repeated callback replaces its event
  svc::records::event busy{"CAout", 1'000'002, t0 + 5s, "status", R"({"status":"busy"})"};
  REQUIRE(store->call_progress(c, busy, false, "busy"));
  svc::records::event late{"CAout", 1'000'003, t0 + 6s, "status", R"({"status":"completed"})"};
  REQUIRE(store->call_progress(c, late, false, "completed"));  // the first end stays

  auto raw = db.raw();
  CHECK(query_one(*raw, "SELECT direction FROM calls WHERE call_sid = 'CAout'") == "outbound");
  CHECK(query_one(*raw, "SELECT agent FROM calls WHERE call_sid = 'CAout'") == "reminders");
  CHECK(query_one(*raw, "SELECT end_reason FROM calls WHERE call_sid = 'CAout'") == "busy");
  CHECK(query_one(*raw, "SELECT COUNT(*) FROM call_events WHERE call_sid = 'CAout'") == "3");

  // A call whose stream wrote it first keeps what the stream wrote.
  auto backend = db.open_backend("bridge-1");
  REQUIRE(backend);
  auto writer = svc::store_writer::start(std::move(*backend), {}, t0);
  REQUIRE(writer);
  svc::records::call_started streamed = c;
  streamed.call_sid = "CAstream";
  streamed.stream_sid = "MZ1";
  (*writer)->record(streamed);
  REQUIRE((*writer)->flush(10s));
  svc::records::call_started from_callback = c;
  from_callback.call_sid = "CAstream";
  from_callback.agent.clear();
  svc::records::event answered{"CAstream", 1'000'000, t0 + 2s, "status", R"({"status":"in-progress"})"};
  REQUIRE(store->call_progress(from_callback, answered, true, ""));
  CHECK(query_one(*raw, "SELECT stream_sid FROM calls WHERE call_sid = 'CAstream'") == "MZ1");
  CHECK(query_one(*raw, "SELECT agent FROM calls WHERE call_sid = 'CAstream'") == "reminders");
  CHECK(query_one(*raw, "SELECT answered_ms FROM calls WHERE call_sid = 'CAstream'") ==
        std::to_string((t0 + 2s).time_since_epoch().count()));
}

TEST_CASE("campaign store: on PostgreSQL a restart resumes only this instance's campaigns", "[store][campaigns]") {
  postgres_db db;
  RTB_NEED_DATABASE(db);
  auto a = open(db, "bridge-a");
  auto b = open(db, "bridge-b");
  REQUIRE(a->create({"CPa", "", svc::campaign_state::running, "{}", "", t0, t0}, {}));
  REQUIRE(b->create({"CPb", "", svc::campaign_state::paused, "{}", "", t0, t0}, {}));
  auto mine = a->list(true, 10);
  REQUIRE(mine);
  REQUIRE(mine->size() == 1);
  CHECK(mine->front().id == "CPa");
  auto every = a->list(false, 10);
  REQUIRE(every);
  CHECK(every->size() == 2);
}
