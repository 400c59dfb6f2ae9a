// The store's plain values: DATABASE_URL, costs, counters and details as JSON,
// the recorder's numbering.
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include <catch2/catch.hpp>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/store_url.hpp"

namespace svc = rtb::service;
using kind = svc::database_url::kind;

TEST_CASE("DATABASE_URL: unset is the default SQLite file, off is none, sqlite and postgresql URLs", "[store]") {
  CHECK(*svc::parse_database_url("") == svc::database_url{kind::sqlite, "data/calls.db"});
  CHECK(*svc::parse_database_url("off") == svc::database_url{kind::off, ""});
  CHECK(*svc::parse_database_url("OFF") == svc::database_url{kind::off, ""});
  CHECK(*svc::parse_database_url("sqlite:///var/lib/realtime-bridge/calls.db") ==
        svc::database_url{kind::sqlite, "/var/lib/realtime-bridge/calls.db"});
  CHECK(*svc::parse_database_url("sqlite:out/calls.db") == svc::database_url{kind::sqlite, "out/calls.db"});
  CHECK(*svc::parse_database_url("postgresql://rtb:s3cret@db.internal:5432/calls?sslmode=require") ==
        svc::database_url{kind::postgresql, "postgresql://rtb:s3cret@db.internal:5432/calls?sslmode=require"});
  CHECK(svc::parse_database_url("postgres://h/db")->type == kind::postgresql);

  for (const char* bad : {"sqlite://host/calls.db", "sqlite:", "sqlite:///var/lib/", "sqlite:///x.db?mode=ro",
                          "mysql://root@localhost/db", "calls.db"}) {
    INFO(bad);
    auto r = svc::parse_database_url(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == rtb::errc::invalid_config);
    CHECK_THAT(r.error().message, Catch::StartsWith("DATABASE_URL: "));
  }
}

TEST_CASE("a DATABASE_URL for logs hides the PostgreSQL password", "[store]") {
  CHECK(svc::parse_database_url("postgresql://rtb:s3cret@db:5432/calls")->redacted() ==
        "postgresql://rtb:***@db:5432/calls");
  CHECK(svc::parse_database_url("postgresql://rtb@db/calls")->redacted() == "postgresql://rtb@db/calls");
  CHECK(svc::parse_database_url("postgresql://db:5432/calls")->redacted() == "postgresql://db:5432/calls");
  CHECK(svc::parse_database_url("sqlite:///a/b.db")->redacted() == "sqlite:/a/b.db");
  CHECK(svc::parse_database_url("off")->redacted() == "off");
}

TEST_CASE("the estimated cost bills cached input once, at the cached rate and unknown prices cost 0", "[store]") {
  const svc::token_usage t{1'000, 2'000'000, 500'000, 10'000, 1'000'000};
  CHECK(svc::estimate_cost(t, {}) == 0.0);
  const svc::price_table p{4.0, 32.0, 0.4, 16.0, 64.0};
  // text 1000 all cached; audio 2M of which 499000 cached.
  const double expected = (0 * 4.0 + 1'501'000 * 32.0 + 500'000 * 0.4 + 10'000 * 16.0 + 1'000'000 * 64.0) / 1e6;
  CHECK(svc::estimate_cost(t, p) == Approx(expected).epsilon(1e-12));
  CHECK(svc::estimate_cost({0, 0, 0, 0, 1'000'000}, p) == Approx(64.0));
}

TEST_CASE("a call's counters are a JSON object with every counter by leg and tokens come from them", "[store]") {
  rtb::call_counters c;
  c.twilio.media_frames = 1500;
  c.openai.input_audio_tokens = 321;
  c.openai.output_text_tokens = 7;
  c.playout.barge_ins = 2;
  c.inputs_after_end = 1;
  const std::string json = svc::counters_json(c);
  simdjson::padded_string padded(json);
  simdjson::dom::parser parser;
  auto doc = parser.parse(padded);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  CHECK(std::int64_t(doc["twilio"]["media_frames"]) == 1500);
  CHECK(std::int64_t(doc["openai"]["input_audio_tokens"]) == 321);
  CHECK(std::int64_t(doc["playout"]["barge_ins"]) == 2);
  CHECK(std::int64_t(doc["inputs_after_end"]) == 1);
  CHECK(svc::tokens_of(c) == svc::token_usage{0, 321, 0, 7, 0});
}

TEST_CASE("json_object escapes strings and writes numbers and booleans", "[store]") {
  CHECK(svc::json_object({}) == "{}");
  CHECK(svc::json_object({{"digit", "5"}, {"ms", std::int64_t{-3}}, {"ok", true}, {"x", 0.5}}) ==
        R"({"digit":"5","ms":-3,"ok":true,"x":0.5})");
  CHECK(svc::json_object({{"text", "a \"quote\"\n\x01"}}) == R"({"text":"a \"quote\"\n\u0001"})");
}

namespace {
struct collecting_store final : svc::call_store {
  std::mutex m;
  std::vector<svc::record> got;
  void record(svc::record r) noexcept override {
    std::lock_guard lock(m);
    got.push_back(std::move(r));
  }
  rtb::result<svc::call_page> list_calls(const svc::call_query&) override { return svc::call_page{}; }
  rtb::result<std::optional<svc::call_detail>> get_call(std::string_view) override {
    return std::optional<svc::call_detail>{};
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  svc::store_stats stats() const override { return {}; }
};
}  // namespace

TEST_CASE("call_recorder stamps the call and numbers items, tool calls and events apart, across threads", "[store]") {
  collecting_store store;
  svc::call_recorder rec(store, "CA9");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        rec.item({});
        rec.event(svc::event_kind::transfer, "{}");
      }
      rec.tool_call({});
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> items(400), events(400), tools(4);
  for (const auto& r : store.got) {
    CHECK(svc::call_sid_of(r) == "CA9");
    if (auto* i = std::get_if<svc::records::item>(&r)) ++items.at(static_cast<std::size_t>(i->seq));
    if (auto* e = std::get_if<svc::records::event>(&r)) ++events.at(static_cast<std::size_t>(e->seq));
    if (auto* t = std::get_if<svc::records::tool_call>(&r)) ++tools.at(static_cast<std::size_t>(t->seq));
  }
  CHECK(items == std::vector<int>(400, 1));
  CHECK(events == std::vector<int>(400, 1));
  CHECK(tools == std::vector<int>(4, 1));
}
