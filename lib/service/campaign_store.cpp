// The campaign store: the same SQL on SQLite and PostgreSQL (see
// sql_connection.hpp), one connection, one statement or transaction at a time.
#include "realtime_bridge/service/campaign_store.hpp"

#include <deque>
#include <mutex>

#include "realtime_bridge/service/migrations.hpp"
#include "service/sql_backend.hpp"
#include "service/sql_connection.hpp"
#include "service/sql_params.hpp"
#include "service/sql_row.hpp"

namespace rtb::service {
namespace {

using detail::int_at;
using detail::sql_connection;
using detail::sql_param;
using detail::sql_params;
using detail::sql_row;
using detail::text_at;
using detail::time_at;

constexpr std::string_view upsert_entry = R"sql(
INSERT INTO campaign_entries (campaign_id, seq, to_number, variables, state, outcome, detail, attempts, busy_retries,
  no_answer_retries, next_attempt_ms, call_sid, answered_by, updated_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (campaign_id, seq) DO UPDATE SET state = excluded.state, outcome = excluded.outcome,
  detail = excluded.detail, attempts = excluded.attempts, busy_retries = excluded.busy_retries,
  no_answer_retries = excluded.no_answer_retries, next_attempt_ms = excluded.next_attempt_ms,
  call_sid = excluded.call_sid, answered_by = excluded.answered_by, updated_ms = excluded.updated_ms)sql";

constexpr std::string_view entry_columns =
    "seq, to_number, variables, state, outcome, detail, attempts, busy_retries, no_answer_retries, next_attempt_ms, "
    "call_sid, answered_by, updated_ms";

constexpr std::string_view campaign_columns = "campaign_id, name, state, settings, instance, created_ms, updated_ms";

void bind_entry(sql_params& p, std::string_view id, const campaign_entry& e) {
  p.text(id).integer(e.index).text(e.to).text(e.variables_json).text(to_string(e.state)).text(e.outcome);
  p.text(e.detail).integer(e.attempts).integer(e.busy_retries).integer(e.no_answer_retries);
  p.optional_time(e.next_attempt_at).text(e.call_sid).text(e.answered_by).time(e.updated_at);
}

stored_campaign campaign_from(const sql_row& row) {
  stored_campaign c;
  c.id = text_at(row, 0);
  c.name = text_at(row, 1);
  c.state = parse_campaign_state(text_at(row, 2)).value_or(campaign_state::paused);
  c.settings_json = text_at(row, 3);
  c.instance = text_at(row, 4);
  c.created_at = time_at(row, 5);
  c.updated_at = time_at(row, 6);
  return c;
}

class sql_campaign_store final : public campaign_store {
 public:
  sql_campaign_store(std::unique_ptr<sql_connection> conn, std::string instance, bool shared)
      : conn_(std::move(conn)), instance_(std::move(instance)), shared_(shared) {}

  result<void> create(const stored_campaign& c, std::span<const campaign_entry> entries) override {
    std::lock_guard lock(mutex_);
    return transaction([&]() -> result<void> {
      sql_params p;
      p.text(c.id).text(c.name).text(to_string(c.state)).text(c.settings_json).text(instance_).time(c.created_at);
      p.time(c.updated_at);
      if (auto r = conn_->run("INSERT INTO campaigns (" + std::string(campaign_columns) +
                                  ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              p.span());
          !r)
        return r.error();
      for (const campaign_entry& e : entries) {
        sql_params q;
        bind_entry(q, c.id, e);
        if (auto r = conn_->run(upsert_entry, q.span()); !r) return r.error();
      }
      return {};
    });
  }

  result<void> set_state(std::string_view id, campaign_state s, store_time now) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    p.text(id).text(to_string(s)).time(now);
    auto r = conn_->run("UPDATE campaigns SET state = $2, updated_ms = $3 WHERE campaign_id = $1", p.span());
    if (!r) return failed(r.error());
    return {};
  }

  result<void> save_entry(std::string_view id, const campaign_entry& e) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    bind_entry(p, id, e);
    auto r = conn_->run(upsert_entry, p.span());
    if (!r) return failed(r.error());
    return {};
  }

  result<bool> begin_attempt(std::string_view id, const campaign_entry& e, store_time now) override {
    std::lock_guard lock(mutex_);
    bool fresh = false;
    auto done = transaction([&]() -> result<void> {
      sql_params m;
      m.text(id).integer(e.index).integer(e.attempts).text(e.to).time(now);
      auto inserted = conn_->run(
          "INSERT INTO campaign_attempts (campaign_id, seq, attempt, to_number, started_ms) VALUES ($1, $2, $3, $4, $5) "
          "ON CONFLICT (campaign_id, seq, attempt) DO NOTHING",
          m.span());
      if (!inserted) return inserted.error();
      fresh = *inserted == 1;
      if (!fresh) return {};
      sql_params p;
      bind_entry(p, id, e);
      if (auto r = conn_->run(upsert_entry, p.span()); !r) return r.error();
      return {};
    });
    if (!done) return done.error();
    return fresh;
  }

  result<void> attempt_placed(std::string_view id, std::int64_t index, int attempt, std::string_view sid) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    p.text(id).integer(index).integer(attempt).text(sid);
    auto r = conn_->run("UPDATE campaign_attempts SET call_sid = $4 WHERE campaign_id = $1 AND seq = $2 AND attempt = $3",
                        p.span());
    if (!r) return failed(r.error());
    return {};
  }

  result<std::vector<stored_campaign>> list(bool unfinished_only, std::uint32_t limit) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    std::string sql = "SELECT " + std::string(campaign_columns) + " FROM campaigns WHERE 1 = 1";
    if (unfinished_only) {
      sql += " AND state IN ('running', 'paused')";
      if (shared_) {
        p.text(instance_);
        sql += " AND instance = $1";
      }
    }
    p.integer(limit);
    sql += " ORDER BY created_ms DESC, campaign_id DESC LIMIT $" + std::to_string(p.span().size());
    auto rows = conn_->query(sql, p.span());
    if (!rows) return failed(rows.error());
    std::vector<stored_campaign> out;
    for (const sql_row& row : *rows) out.push_back(campaign_from(row));
    return out;
  }

  result<std::optional<stored_campaign>> get(std::string_view id) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    p.text(id);
    auto rows =
        conn_->query("SELECT " + std::string(campaign_columns) + " FROM campaigns WHERE campaign_id = $1", p.span());
    if (!rows) return failed(rows.error());
    if (rows->empty()) return std::optional<stored_campaign>{};
    return std::optional<stored_campaign>{campaign_from(rows->front())};
  }

  result<std::vector<campaign_entry>> entries(std::string_view id) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    p.text(id);
    auto rows = conn_->query(
        "SELECT " + std::string(entry_columns) + " FROM campaign_entries WHERE campaign_id = $1 ORDER BY seq", p.span());
    if (!rows) return failed(rows.error());
    std::vector<campaign_entry> out;
    out.reserve(rows->size());
    for (const sql_row& row : *rows) {
      campaign_entry e;
      e.index = int_at(row, 0);
      e.to = text_at(row, 1);
      e.variables_json = text_at(row, 2);
      e.state = parse_entry_state(text_at(row, 3)).value_or(entry_state::done);
      e.outcome = text_at(row, 4);
      e.detail = text_at(row, 5);
      e.attempts = static_cast<int>(int_at(row, 6));
      e.busy_retries = static_cast<int>(int_at(row, 7));
      e.no_answer_retries = static_cast<int>(int_at(row, 8));
      if (row[9]) e.next_attempt_at = time_at(row, 9);
      e.call_sid = text_at(row, 10);
      e.answered_by = text_at(row, 11);
      e.updated_at = time_at(row, 12);
      out.push_back(std::move(e));
    }
    return out;
  }

  result<std::vector<campaign_attempt>> attempts(std::string_view id) override {
    std::lock_guard lock(mutex_);
    sql_params p;
    p.text(id);
    auto rows = conn_->query(
        "SELECT seq, attempt, to_number, call_sid, started_ms FROM campaign_attempts WHERE campaign_id = $1 "
        "ORDER BY seq, attempt",
        p.span());
    if (!rows) return failed(rows.error());
    std::vector<campaign_attempt> out;
    for (const sql_row& row : *rows)
      out.push_back({int_at(row, 0), static_cast<int>(int_at(row, 1)), text_at(row, 2), text_at(row, 3),
                     time_at(row, 4)});
    return out;
  }

  result<void> outbound_call(const records::call_started& c) override {
    std::lock_guard lock(mutex_);
    auto r = insert_call(c);
    if (!r) return failed(r.error());
    return {};
  }

  result<void> call_progress(const records::call_started& c, const records::event& e, bool answered,
                             std::string_view end_reason) override {
    std::lock_guard lock(mutex_);
    return transaction([&]() -> result<void> {
      if (auto r = insert_call(c); !r) return r;
      sql_params p;
      p.text(e.call_sid).integer(e.seq).time(e.at).text(e.kind).text(e.detail);
      if (auto r = conn_->run(
              "INSERT INTO call_events (call_sid, seq, at_ms, kind, detail) VALUES ($1, $2, $3, $4, $5) "
              "ON CONFLICT (call_sid, seq) DO UPDATE SET at_ms = excluded.at_ms, kind = excluded.kind, "
              "detail = excluded.detail",
              p.span());
          !r)
        return r.error();
      if (answered) {
        sql_params a;
        a.text(e.call_sid).time(e.at);
        if (auto r = conn_->run("UPDATE calls SET answered_ms = $2 WHERE call_sid = $1 AND answered_ms IS NULL",
                                a.span());
            !r)
          return r.error();
      }
      if (!end_reason.empty()) {
        sql_params x;
        x.text(e.call_sid).time(e.at).text(end_reason).text("Twilio's status callback");
        if (auto r = conn_->run(
                "UPDATE calls SET ended_ms = $2, end_reason = $3, end_detail = $4 WHERE call_sid = $1 AND ended_ms IS NULL",
                x.span());
            !r)
          return r.error();
      }
      return {};
    });
  }

 private:
  result<void> insert_call(const records::call_started& c) {
    sql_params p;
    p.text(c.call_sid).text(c.stream_sid).text(c.from).text(c.to).text(to_string(c.direction)).text(c.agent);
    p.text(instance_).time(c.started_at);
    auto r = conn_->run(
        "INSERT INTO calls (call_sid, stream_sid, from_number, to_number, direction, agent, instance, started_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (call_sid) DO NOTHING",
        p.span());
    if (!r) return r.error();
    return {};
  }

  template <class F>
  result<void> transaction(F&& body) {
    if (auto r = conn_->exec("BEGIN"); !r) return failed(r.error());
    auto r = body();
    if (!r) {
      (void)conn_->exec("ROLLBACK");
      return failed(r.error());
    }
    if (auto c = conn_->exec("COMMIT"); !c) {
      (void)conn_->exec("ROLLBACK");
      return failed(c.error());
    }
    return {};
  }

  rtb::error failed(rtb::error e) {
    conn_->reconnect();  // a broken connection is opened again for the next call
    return e;
  }

  std::mutex mutex_;
  std::unique_ptr<sql_connection> conn_;
  std::string instance_;
  bool shared_;
};

}  // namespace

result<std::unique_ptr<campaign_store>> open_campaign_store(const database_url& url, std::string instance,
                                                            std::chrono::milliseconds sqlite_busy_timeout) {
  result<std::unique_ptr<sql_connection>> conn = rtb::error{errc::invalid_config, "no store"};
  switch (url.type) {
    case database_url::kind::off: return std::unique_ptr<campaign_store>();
    case database_url::kind::sqlite:
      conn = detail::open_sqlite_connection(url.target, sqlite_busy_timeout, true);
      break;
    case database_url::kind::postgresql:
      conn = detail::open_postgres_connection(url.target, "realtime-bridge campaigns");
      break;
  }
  if (!conn) return conn.error();
  if (auto v = detail::migrate(**conn, call_store_migrations()); !v) return v.error();
  return std::unique_ptr<campaign_store>(std::make_unique<sql_campaign_store>(
      std::move(*conn), std::move(instance), url.type == database_url::kind::postgresql));
}

}  // namespace rtb::service
