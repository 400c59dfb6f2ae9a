// The call store on both backends: every scenario runs on SQLite and on
// PostgreSQL, through the same writer the bridge uses.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/service/call_dispositions.hpp"
#include "realtime_bridge/service/store.hpp"
#include "store/store_test_support.hpp"

namespace svc = rtb::service;
using rtb::test::postgres_db;
using rtb::test::query_one;
using rtb::test::sqlite_db;
using namespace std::chrono_literals;

namespace {

const svc::store_time t0{std::chrono::milliseconds{1'700'000'000'000}};
svc::store_time at(std::int64_t ms) { return t0 + std::chrono::milliseconds{ms}; }

template <class Db>
std::unique_ptr<svc::store_writer> open_store(const Db& db, const std::string& instance = "bridge-1",
                                              svc::writer_options options = {}, svc::store_time now = at(3'600'000)) {
  auto backend = db.open_backend(instance);
  if (!backend) FAIL(backend.error().message);
  auto store = svc::store_writer::start(std::move(*backend), std::move(options), now);
  if (!store) FAIL(store.error().message);
  return std::move(*store);
}

svc::records::call_started started(std::string sid, svc::store_time when, std::string from = "+15550001",
                                   std::string to = "+15559999", std::string agent = "support") {
  svc::records::call_started s;
  s.call_sid = std::move(sid);
  s.stream_sid = "MZ" + s.call_sid;
  s.from = std::move(from);
  s.to = std::move(to);
  s.agent = std::move(agent);
  s.started_at = when;
  return s;
}

svc::records::call_ended ended(std::string sid, svc::store_time when, std::string reason = "caller_hung_up") {
  svc::records::call_ended e;
  e.call_sid = std::move(sid);
  e.ended_at = when;
  e.end_reason = std::move(reason);
  return e;
}

svc::records::item item(std::string sid, std::int64_t seq, svc::item_role role, std::string text,
                        svc::store_time when) {
  svc::records::item i;
  i.call_sid = std::move(sid);
  i.seq = seq;
  i.item_id = "item_" + std::to_string(seq);
  i.role = role;
  i.text = std::move(text);
  i.audio_ms = 1200 + seq;
  i.started_at = when;
  i.ended_at = when + 1200ms;
  return i;
}

std::vector<std::string> sids(const svc::call_page& page) {
  std::vector<std::string> out;
  for (const auto& c : page.calls) out.push_back(c.call_sid);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("a call, its items, tool calls and events read back exactly as they were recorded", "[store]",
                   sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open_store(db);

  auto s = started("CA1", at(0));
  s.direction = svc::call_direction::outbound;
  store->record(s);
  store->record(svc::records::call_answered{"CA1", "MZ-final", at(900)});

  auto caller = item("CA1", 0, svc::item_role::caller, "Où est ma commande ? \"#42\"\n\ttab", at(1000));
  caller.item_id = "item_caller";
  store->record(caller);
  auto answer = item("CA1", 1, svc::item_role::assistant, "It shipped yesterday 📦, and it should arrive", at(3000));
  answer.interrupted = true;
  answer.heard_text = "It shipped yesterday 📦";
  answer.heard_ms = 700;
  store->record(answer);
  auto note = item("CA1", 2, svc::item_role::system, "", at(5000));
  note.ended_at.reset();
  store->record(note);

  svc::records::tool_call tool{
      "CA1",    0,  "call_7", "lookup_order", R"({"order":"42"})", R"({"status":"shipped"})", svc::tool_outcome::ok,
      at(1500), 230};
  store->record(tool);
  svc::records::tool_call late{"CA1",    1, "call_8", "refund", "{not json", "", svc::tool_outcome::cancelled,
                               at(6000), 0};
  store->record(late);

  svc::records::event barge{"CA1", 0, at(3700), std::string(svc::event_kind::barge_in),
                            svc::json_object({{"item", "item_1"}, {"heard_ms", std::int64_t{700}}})};
  svc::records::event digit{"CA1", 1, at(4000), std::string(svc::event_kind::dtmf), svc::json_object({{"digit", "5"}})};
  store->record(barge);
  store->record(digit);

  auto e = ended("CA1", at(7000), "host_ended");
  e.end_detail = "transferred";
  e.tokens = {120, 3400, 1000, 80, 5600};
  e.cost_usd = svc::estimate_cost(e.tokens, {4.0, 32.0, 0.4, 16.0, 64.0});
  e.counters_json = R"({"playout":{"barge_ins":1}})";
  store->record(e);
  REQUIRE(store->flush(10s));

  auto got = store->get_call("CA1");
  REQUIRE(got);
  REQUIRE(got->has_value());
  const svc::call_detail& d = **got;
  CHECK(d.call.call_sid == "CA1");
  CHECK(d.call.stream_sid == "MZ-final");
  CHECK(d.call.from == "+15550001");
  CHECK(d.call.to == "+15559999");
  CHECK(d.call.direction == svc::call_direction::outbound);
  CHECK(d.call.agent == "support");
  CHECK(d.call.instance == "bridge-1");
  CHECK(d.call.started_at == at(0));
  CHECK(d.call.answered_at == at(900));
  CHECK(d.call.ended_at == at(7000));
  CHECK(d.call.end_reason == "host_ended");
  CHECK(d.call.end_detail == "transferred");
  CHECK(d.call.tokens == e.tokens);
  CHECK(d.call.cost_usd == e.cost_usd);  // exactly: both backends read doubles back bit for bit
  CHECK(d.call.counters_json == e.counters_json);

  REQUIRE(d.items.size() == 3);
  CHECK(d.items[0] == caller);
  CHECK(d.items[1] == answer);
  CHECK(d.items[2] == note);
  REQUIRE(d.tool_calls.size() == 2);
  CHECK(d.tool_calls[0] == tool);
  CHECK(d.tool_calls[1] == late);
  REQUIRE(d.events.size() == 2);
  CHECK(d.events[0] == barge);
  CHECK(d.events[0].detail == R"({"item":"item_1","heard_ms":700})");
  CHECK(d.events[1] == digit);

  CHECK(store->get_call("CA-none")->has_value() == false);
  const auto st = store->stats();
  CHECK(st.accepted == 10);
  CHECK(st.written == 10);
  CHECK(st.dropped == 0);
  CHECK(st.failed == 0);
  CHECK(st.queue_depth == 0);
  CHECK(st.batches >= 1);
}

TEMPLATE_TEST_CASE("a disposition written by one instance is read by another sharing the store", "[store]",
                   sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto carrying = open_store(db);
  auto other = open_store(db, "bridge-2");
  carrying->record(started("CA1", at(0)));
  carrying->record(started("CA2", at(0)));
  carrying->record(started("CA3", at(0)));
  svc::disposition_book book;
  book.write_to(carrying.get());
  book.record("CA1", {svc::call_disposition::kind::transfer, "+15550009999"});
  book.record("CA2", {svc::call_disposition::kind::hang_up, ""});
  REQUIRE(carrying->flush(10s));
  // Decided before the call ends (the goodbye is still playing): readable at once.
  CHECK(svc::stored_disposition((*other->get_call("CA1"))->call));
  // Neither decided nor ended: another instance waits for the call's end.
  CHECK_FALSE(svc::stored_disposition((*other->get_call("CA3"))->call));
  carrying->record(ended("CA1", at(5000), "host_ended"));
  carrying->record(ended("CA2", at(5000), "host_ended"));
  carrying->record(ended("CA3", at(5000), "twilio_disconnected"));
  REQUIRE(carrying->flush(10s));
  const auto one = (*other->get_call("CA1"))->call;
  CHECK(one.disposition == "transfer");
  CHECK(one.transfer_to == "+15550009999");
  CHECK(svc::stored_disposition(one) == svc::call_disposition{svc::call_disposition::kind::transfer, "+15550009999"});
  CHECK(svc::stored_disposition((*other->get_call("CA2"))->call) ==
        svc::call_disposition{svc::call_disposition::kind::hang_up, ""});
  // Ended without one: the fallback.
  CHECK(svc::stored_disposition((*other->get_call("CA3"))->call) == svc::call_disposition{});
  // A disposition for a call the store never saw fails alone, counted.
  book.record("CA-none", {svc::call_disposition::kind::hang_up, ""});
  REQUIRE(carrying->flush(10s));
  CHECK(carrying->stats().failed == 1);
}

TEMPLATE_TEST_CASE("text that is not valid UTF-8 is stored with U+FFFD in place of each bad byte", "[store]", sqlite_db,
                   postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open_store(db);
  store->record(started("CA1", at(0)));
  store->record(item("CA1", 0, svc::item_role::caller, std::string("ok \xC3\x28 nul\0!", 11), at(1)));
  svc::records::tool_call t{"CA1", 0, "c", "f", "\xFF{}", "\xE2\x82", svc::tool_outcome::error, at(2), 5};
  store->record(t);
  REQUIRE(store->flush(10s));
  auto d = **store->get_call("CA1");
  REQUIRE(d.items.size() == 1);
  CHECK(d.items[0].text == "ok \xEF\xBF\xBD( nul\xEF\xBF\xBD!");
  REQUIRE(d.tool_calls.size() == 1);
  CHECK(d.tool_calls[0].arguments == "\xEF\xBF\xBD{}");
  CHECK(d.tool_calls[0].output == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(store->stats().failed == 0);
}

TEMPLATE_TEST_CASE("an item written again with its seq replaces it: written when it completes, again when interrupted",
                   "[store]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open_store(db);
  store->record(started("CA1", at(0)));
  svc::call_recorder rec(*store, "CA1");
  auto first = item("", 0, svc::item_role::assistant, "Your order shipped on Monday.", at(100));
  const auto seq = rec.item(first);
  rec.item(item("", 0, svc::item_role::caller, "Wait", at(900)));
  REQUIRE(store->flush(10s));
  CHECK((**store->get_call("CA1")).items.size() == 2);

  first.seq = seq;
  first.interrupted = true;
  first.heard_text = "Your order";
  first.heard_ms = 420;
  rec.replace_item(first);
  REQUIRE(store->flush(10s));
  auto d = **store->get_call("CA1");
  REQUIRE(d.items.size() == 2);
  CHECK(d.items[0].seq == 0);
  CHECK(d.items[0].interrupted);
  CHECK(d.items[0].heard_text == "Your order");
  CHECK(d.items[0].heard_ms == 420);
  CHECK(d.items[1].seq == 1);
  CHECK(d.items[1].text == "Wait");
}

TEMPLATE_TEST_CASE("migrations: every one on a new database, none again on reopening, N+1 once, a newer schema refused",
                   "[store]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  const auto built_in = svc::call_store_migrations();
  REQUIRE(built_in.size() >= 1);
  const std::string latest = std::to_string(built_in.size());
  {
    auto backend = db.open_backend("bridge-1");
    REQUIRE(backend);
  }
  auto raw = db.raw();
  CHECK(query_one(*raw, "SELECT MAX(version) FROM schema_version") == latest);
  CHECK(query_one(*raw, "SELECT COUNT(*) FROM schema_version") == latest);
  CHECK(query_one(*raw, "SELECT description FROM schema_version WHERE version = 1") == built_in[0].description);

  // Reopening applies nothing (a second CREATE TABLE calls would fail).
  REQUIRE(db.open_backend("bridge-1"));
  CHECK(query_one(*raw, "SELECT COUNT(*) FROM schema_version") == latest);

  // The next migration is one more entry in the list.
  std::vector<svc::migration> next(built_in.begin(), built_in.end());
  next.push_back({static_cast<int>(built_in.size()) + 1, "campaign markers",
                  "CREATE TABLE test_called (campaign TEXT NOT NULL, number TEXT NOT NULL, "
                  "PRIMARY KEY (campaign, number)); "
                  "INSERT INTO test_called (campaign, number) VALUES ('c1', '+1555') ON CONFLICT DO NOTHING"});
  {
    auto backend = db.open_backend("bridge-1", next);
    REQUIRE(backend);
  }
  REQUIRE(db.open_backend("bridge-1", next));
  CHECK(query_one(*raw, "SELECT MAX(version) FROM schema_version") == std::to_string(next.size()));
  CHECK(query_one(*raw, "SELECT COUNT(*) FROM test_called") == "1");

  // This build's list is now older than the database: refused, not written into.
  auto refused = db.open_backend("bridge-1");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == rtb::errc::invalid_config);
  CHECK_THAT(refused.error().message, Catch::Contains("newer than this build knows"));

  // A migration that fails leaves the database as it was.
  next.push_back(
      {static_cast<int>(next.size()) + 1, "broken", "CREATE TABLE ok_one (x BIGINT); SELECT nope FROM nowhere"});
  auto broken = db.open_backend("bridge-1", next);
  REQUIRE_FALSE(broken);
  CHECK_THAT(broken.error().message, Catch::Contains("migration " + std::to_string(next.size())));
  CHECK(query_one(*raw, "SELECT MAX(version) FROM schema_version") == std::to_string(next.size() - 1));
  next.back().sql = "CREATE TABLE ok_one (x BIGINT)";
  CHECK(db.open_backend("bridge-1", next));  // ok_one was rolled back with the rest
}

TEMPLATE_TEST_CASE("at start-up the calls left open are closed as bridge_restarted (PostgreSQL: this instance's only)",
                   "[store]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  {
    auto a = open_store(db, "bridge-a");
    a->record(started("CA-open", at(0)));
    a->record(item("CA-open", 0, svc::item_role::caller, "hello", at(10)));
    a->record(started("CA-done", at(1)));
    a->record(ended("CA-done", at(500)));
    REQUIRE(a->flush(10s));
    CHECK(a->stats().recovered_calls == 0);
    // Another instance's call, written straight through its backend (its
    // writer would run its own recovery first).
    auto b = db.open_backend("bridge-b");
    REQUIRE(b);
    const std::vector<svc::record> other{started("CA-other", at(2))};
    REQUIRE((*b)->write(other));
  }  // both stop without ending their open calls, as a crash would leave them

  constexpr bool shared = std::is_same_v<TestType, postgres_db>;
  auto again = open_store(db, "bridge-a", {}, at(9'000));
  CHECK(again->stats().recovered_calls == (shared ? 1 : 2));
  auto open = **again->get_call("CA-open");
  CHECK(open.call.end_reason == "bridge_restarted");
  CHECK(open.call.ended_at == at(9'000));
  CHECK(open.items.size() == 1);
  auto done = **again->get_call("CA-done");
  CHECK(done.call.end_reason == "caller_hung_up");
  CHECK(done.call.ended_at == at(500));
  auto other = **again->get_call("CA-other");
  svc::call_query q;
  q.open_only = true;
  if (shared) {  // another instance's call, maybe still going on
    CHECK_FALSE(other.call.ended_at.has_value());
    CHECK(other.call.end_reason.empty());
    CHECK(sids(*again->list_calls(q)) == std::vector<std::string>{"CA-other"});
  } else {  // one bridge's file, whatever its name was
    CHECK(other.call.end_reason == "bridge_restarted");
    CHECK(sids(*again->list_calls(q)).empty());
  }
}

TEMPLATE_TEST_CASE("listing calls: filters, newest first, and a cursor that pages through every call once", "[store]",
                   sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open_store(db);
  // 30 calls; three share a start time, so the cursor must break ties.
  for (int i = 0; i < 30; ++i) {
    const std::string sid = "CA" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    const auto when = at(i >= 20 && i < 23 ? 20'000 : i * 1000);
    store->record(started(sid, when, i % 3 == 0 ? "+1555000" : "+1555111", i % 5 == 0 ? "+1800" : "+1555999",
                          i % 2 == 0 ? "sales" : "support"));
    if (i % 4 != 0) store->record(ended(sid, when + 30s, i % 7 == 0 ? "twilio_idle" : "caller_hung_up"));
  }
  REQUIRE(store->flush(10s));

  svc::call_query all;
  all.limit = 7;
  std::vector<std::string> seen;
  int pages = 0;
  for (;;) {
    auto page = store->list_calls(all);
    REQUIRE(page);
    ++pages;
    for (auto& sid : sids(*page)) seen.push_back(sid);
    if (page->next_cursor.empty()) break;
    all.cursor = page->next_cursor;
    // A call that starts meanwhile (newer than the cursor) does not shift the pages.
    if (pages == 1) store->record(started("CA-new", at(100'000)));
    REQUIRE(store->flush(10s));
  }
  CHECK(pages == 5);
  REQUIRE(seen.size() == 30);
  CHECK(seen.front() == "CA29");
  CHECK(seen.back() == "CA00");
  // Ties on started_at come by call_sid, descending.
  const auto tie = std::find(seen.begin(), seen.end(), "CA22");
  REQUIRE(tie != seen.end());
  CHECK(std::vector<std::string>(tie, tie + 3) == std::vector<std::string>{"CA22", "CA21", "CA20"});
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] != seen[i - 1]);

  svc::call_query q;
  q.limit = 100;
  q.agent = "sales";
  CHECK(store->list_calls(q)->calls.size() == 15);
  q = {};
  q.number = "+1800";  // "to" of every fifth call
  CHECK(sids(*store->list_calls(q)) == std::vector<std::string>{"CA25", "CA20", "CA15", "CA10", "CA05", "CA00"});
  q.number = "+1555000";  // "from" of every third call
  CHECK(store->list_calls(q)->calls.size() == 10);
  q = {};
  q.end_reason = "twilio_idle";
  CHECK(sids(*store->list_calls(q)) == std::vector<std::string>{"CA21", "CA14", "CA07"});
  q = {};
  q.since = at(25'000);
  q.until = at(28'000);
  CHECK(sids(*store->list_calls(q)) == std::vector<std::string>{"CA27", "CA26", "CA25"});
  q = {};
  q.open_only = true;
  q.agent = "sales";
  q.since = at(0);  // CA-new is open too, but of agent support
  CHECK(sids(*store->list_calls(q)) ==
        std::vector<std::string>{"CA28", "CA24", "CA20", "CA16", "CA12", "CA08", "CA04", "CA00"});

  q = {};
  q.limit = 0;
  CHECK_FALSE(store->list_calls(q));
  q.limit = svc::max_page_size + 1;
  CHECK_FALSE(store->list_calls(q));
  q = {};
  q.cursor = "not a cursor";
  CHECK_FALSE(store->list_calls(q));
}

TEMPLATE_TEST_CASE("a record that cannot be written fails alone: the rest of its batch is written", "[store]",
                   sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  svc::writer_options o;
  o.retries = 1;
  o.retry_pause = 1ms;
  std::vector<std::string> log;
  o.log = [&](std::string_view line) { log.emplace_back(line); };
  auto store = open_store(db, "bridge-1", o);
  store->record(started("CA1", at(0)));
  REQUIRE(store->flush(10s));
  // Taken in one batch: the writer is idle, so these queue up together only if
  // they are recorded faster than one transaction; either way each bad record
  // must fail alone.
  store->record(item("CA1", 0, svc::item_role::caller, "one", at(1)));
  store->record(item("CA-never-started", 0, svc::item_role::caller, "lost", at(2)));
  store->record(ended("CA-never-started", at(3)));
  store->record(item("CA1", 1, svc::item_role::assistant, "two", at(4)));
  store->record(ended("CA1", at(5)));
  REQUIRE(store->flush(20s));
  const auto st = store->stats();
  CHECK(st.failed == 2);
  CHECK(st.written == 4);
  CHECK(st.queue_depth == 0);
  auto d = **store->get_call("CA1");
  CHECK(d.items.size() == 2);
  CHECK(d.call.end_reason == "caller_hung_up");
  CHECK_FALSE(store->get_call("CA-never-started")->has_value());
  REQUIRE(log.size() >= 2);
}

TEMPLATE_TEST_CASE("reads are not held up by a transaction writing at the same time", "[store]", sqlite_db,
                   postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open_store(db);
  store->record(started("CA1", at(0)));
  REQUIRE(store->flush(10s));

  // Another connection holds the write lock with an uncommitted insert.
  auto other = db.raw();
  REQUIRE(other->exec("BEGIN"));
  REQUIRE(other->exec("INSERT INTO calls (call_sid, direction, started_ms) VALUES ('CA-uncommitted', 'inbound', 5)"));
  REQUIRE(other->exec("UPDATE calls SET agent = 'busy' WHERE call_sid = 'CA1'"));

  const auto before = std::chrono::steady_clock::now();
  auto page = store->list_calls({});
  auto one = store->get_call("CA1");
  const auto took = std::chrono::steady_clock::now() - before;
  REQUIRE(page);
  CHECK(sids(*page) == std::vector<std::string>{"CA1"});  // the committed state only
  REQUIRE(one);
  CHECK((**one).call.agent == "support");
  CHECK(took < 2s);  // well under the 5 s busy timeout: the reader never waited for the lock
  REQUIRE(other->exec("ROLLBACK"));
}

TEMPLATE_TEST_CASE("calls recorded from many threads at once are all written", "[store]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  auto store = open_store(db);
  constexpr int threads = 4, calls_per_thread = 25, items_per_call = 8;
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&, t] {
      for (int c = 0; c < calls_per_thread; ++c) {
        const std::string sid = "CA-" + std::to_string(t) + "-" + std::to_string(c);
        svc::call_recorder rec(*store, sid);
        rec.started(started(sid, at(t * 100'000 + c)));
        for (int i = 0; i < items_per_call; ++i) {
          rec.item(item(sid, 0, i % 2 ? svc::item_role::assistant : svc::item_role::caller, "words", at(i)));
        }
        rec.event(svc::event_kind::dtmf, svc::json_object({{"digit", "1"}}), at(5));
        rec.ended(ended(sid, at(t * 100'000 + c + 60'000)));
      }
    });
  }
  for (auto& p : producers) p.join();
  REQUIRE(store->flush(30s));
  const auto st = store->stats();
  CHECK(st.written == threads * calls_per_thread * (items_per_call + 3));
  CHECK(st.dropped == 0);
  CHECK(st.failed == 0);
  svc::call_query q;
  q.limit = svc::max_page_size;
  CHECK(store->list_calls(q)->calls.size() == threads * calls_per_thread);
  auto d = **store->get_call("CA-3-24");
  CHECK(d.items.size() == items_per_call);
  CHECK(d.items.back().seq == items_per_call - 1);
  CHECK(d.events.size() == 1);
}

TEMPLATE_TEST_CASE("open_call_store opens the backend a DATABASE_URL names", "[store]", sqlite_db, postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  svc::store_options o;
  o.instance = "bridge-x";
  auto store = svc::open_call_store(db.url(), o);
  REQUIRE(store);
  REQUIRE(*store);
  (*store)->record(started("CA1", at(0)));
  REQUIRE((*store)->flush(10s));
  CHECK((**(*store)->get_call("CA1")).call.instance == "bridge-x");
}

TEST_CASE("open_call_store: DATABASE_URL=off is no store and a default instance name is the host's", "[store]") {
  auto off = svc::open_call_store(*svc::parse_database_url("off"));
  REQUIRE(off);
  CHECK(*off == nullptr);
  CHECK_FALSE(svc::default_instance_name().empty());
  auto unreachable = svc::open_call_store(
      {svc::database_url::kind::postgresql, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"});
  REQUIRE_FALSE(unreachable);
  CHECK_THAT(unreachable.error().message, Catch::Contains("cannot connect"));
  auto bad_path = svc::open_call_store({svc::database_url::kind::sqlite, "/proc/forbidden/calls.db"});
  REQUIRE_FALSE(bad_path);
}

TEMPLATE_TEST_CASE("the embedding guide's example records a call and reads it back", "[store]", sqlite_db,
                   postgres_db) {
  TestType db;
  RTB_NEED_DATABASE(db);
  const std::string from = "+15550001", to = "+15559999", transcript = "Hello?";
  const auto t = svc::store_now();
  rtb::call_counters counters;
  counters.openai.output_audio_tokens = 90;
  svc::store_options options;
  options.instance = "bridge-1";
  auto store = svc::open_call_store(db.url(), options);
  REQUIRE(store);
  REQUIRE(*store);

  // As in docs/embedding.md, "The call store".
  struct {  // the fields of rtb::call_summary the example reads
    rtb::end_reason reason;
    const rtb::call_counters& counters;
  } summary{rtb::end_reason::caller_hung_up, counters};
  const svc::price_table my_prices{};
  svc::call_recorder call(**store, "CA123");
  svc::records::call_started s;
  s.from = from;
  s.to = to;
  s.agent = "support";
  s.started_at = svc::store_now();
  call.started(std::move(s));

  svc::records::item said;  // when the caller's transcript is complete
  said.role = svc::item_role::caller;
  said.text = transcript;
  said.started_at = t;
  const auto seq = call.item(std::move(said));  // record it again with this seq to update it
  call.event(svc::event_kind::dtmf, svc::json_object({{"digit", "5"}}));

  svc::records::call_ended end;  // in on_call_ended
  end.ended_at = svc::store_now();
  end.end_reason = rtb::to_string(summary.reason);
  end.tokens = svc::tokens_of(summary.counters);
  end.cost_usd = svc::estimate_cost(end.tokens, my_prices);  // a price_table; all zero: unknown, cost 0
  end.counters_json = svc::counters_json(summary.counters);
  call.ended(std::move(end));
  REQUIRE((*store)->flush(10s));
  svc::call_query q;
  q.agent = "support";
  q.limit = 50;
  auto page = (*store)->list_calls(q);
  REQUIRE(page);
  CHECK(sids(*page) == std::vector<std::string>{"CA123"});
  auto detail = (*store)->get_call("CA123");
  REQUIRE(detail);
  REQUIRE(detail->has_value());
  CHECK(seq == 0);
  CHECK((**detail).items.at(0).text == "Hello?");
  CHECK((**detail).events.at(0).detail == R"({"digit":"5"})");
  CHECK((**detail).call.end_reason == "caller_hung_up");
  CHECK((**detail).call.tokens.output_audio == 90);
}
