// The store's SQL, the same text on SQLite and PostgreSQL (see
// sql_connection.hpp for how parameters are bound on each).
//
// Text is cleaned before it is bound: invalid UTF-8 and NUL bytes become
// U+FFFD. PostgreSQL refuses both (the whole batch would fail), SQLite would
// keep them; cleaning makes both store the same thing, and a transcript or a
// model's tool arguments can never sink a batch.
#include "service/sql_backend.hpp"

#include <charconv>
#include <string>
#include <system_error>
#include <vector>

#include "service/sql_params.hpp"
#include "service/sql_row.hpp"

namespace rtb::service::detail {

namespace {

rtb::error store_error(std::string message) { return {errc::invalid_value, std::move(message)}; }

constexpr std::string_view insert_call = R"sql(
INSERT INTO calls (call_sid, stream_sid, from_number, to_number, direction, agent, instance, started_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (call_sid) DO UPDATE SET stream_sid = excluded.stream_sid, from_number = excluded.from_number,
  to_number = excluded.to_number, direction = excluded.direction, agent = excluded.agent,
  instance = excluded.instance, started_ms = excluded.started_ms)sql";

constexpr std::string_view answer_call = "UPDATE calls SET answered_ms = $2 WHERE call_sid = $1";
constexpr std::string_view answer_call_with_stream =
    "UPDATE calls SET answered_ms = $2, stream_sid = $3 WHERE call_sid = $1";

constexpr std::string_view end_call = R"sql(
UPDATE calls SET ended_ms = $2, end_reason = $3, end_detail = $4, input_text_tokens = $5, input_audio_tokens = $6,
  input_cached_tokens = $7, output_text_tokens = $8, output_audio_tokens = $9, cost_usd = $10, counters = $11
WHERE call_sid = $1)sql";

constexpr std::string_view dispose_call = "UPDATE calls SET disposition = $2, transfer_to = $3 WHERE call_sid = $1";

constexpr std::string_view upsert_item = R"sql(
INSERT INTO call_items (call_sid, seq, item_id, role, content, heard_text, interrupted, audio_ms, heard_ms,
  started_ms, ended_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (call_sid, seq) DO UPDATE SET item_id = excluded.item_id, role = excluded.role,
  content = excluded.content, heard_text = excluded.heard_text, interrupted = excluded.interrupted,
  audio_ms = excluded.audio_ms, heard_ms = excluded.heard_ms, started_ms = excluded.started_ms,
  ended_ms = excluded.ended_ms)sql";

constexpr std::string_view upsert_tool_call = R"sql(
INSERT INTO call_tool_calls (call_sid, seq, tool_call_id, name, arguments, output, outcome, started_ms, latency_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (call_sid, seq) DO UPDATE SET tool_call_id = excluded.tool_call_id, name = excluded.name,
  arguments = excluded.arguments, output = excluded.output, outcome = excluded.outcome,
  started_ms = excluded.started_ms, latency_ms = excluded.latency_ms)sql";

constexpr std::string_view upsert_event = R"sql(
INSERT INTO call_events (call_sid, seq, at_ms, kind, detail) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (call_sid, seq) DO UPDATE SET at_ms = excluded.at_ms, kind = excluded.kind, detail = excluded.detail)sql";

constexpr std::string_view call_columns =
    "call_sid, stream_sid, from_number, to_number, direction, agent, instance, started_ms, answered_ms, ended_ms, "
    "end_reason, end_detail, input_text_tokens, input_audio_tokens, input_cached_tokens, output_text_tokens, "
    "output_audio_tokens, cost_usd, counters, disposition, transfer_to";

stored_call call_from(const sql_row& row) {
  stored_call c;
  c.call_sid = text_at(row, 0);
  c.stream_sid = text_at(row, 1);
  c.from = text_at(row, 2);
  c.to = text_at(row, 3);
  c.direction = parse_call_direction(text_at(row, 4)).value_or(call_direction::inbound);
  c.agent = text_at(row, 5);
  c.instance = text_at(row, 6);
  c.started_at = time_at(row, 7);
  c.answered_at = optional_time_at(row, 8);
  c.ended_at = optional_time_at(row, 9);
  c.end_reason = text_at(row, 10);
  c.end_detail = text_at(row, 11);
  c.tokens = {int_at(row, 12), int_at(row, 13), int_at(row, 14), int_at(row, 15), int_at(row, 16)};
  c.cost_usd = double_at(row, 17);
  c.counters_json = text_at(row, 18);
  c.disposition = text_at(row, 19);
  c.transfer_to = text_at(row, 20);
  return c;
}

std::string cursor_of(const stored_call& c) {
  return std::to_string(c.started_at.time_since_epoch().count()) + ":" + c.call_sid;
}

}  // namespace

result<int> migrate(sql_connection& conn, std::span<const migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return store_error("migrations must be numbered 1, 2, 3... with no gaps");
    }
  }
  const int latest = static_cast<int>(migrations.size());
  if (auto r = conn.begin_exclusive(); !r) return r.error();
  auto fail = [&](rtb::error e) -> result<int> {
    (void)conn.exec("ROLLBACK");
    return e;
  };
  if (auto r =
          conn.exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, description TEXT NOT NULL, "
                    "applied_ms BIGINT NOT NULL)");
      !r) {
    return fail(r.error());
  }
  auto rows = conn.query("SELECT MAX(version) FROM schema_version", {});
  if (!rows) return fail(rows.error());
  const int current = rows->empty() ? 0 : static_cast<int>(int_at(rows->front(), 0));
  if (current > latest) {
    return fail({errc::invalid_config, "the database's schema version is " + std::to_string(current) +
                                           ", newer than this build knows (" + std::to_string(latest) +
                                           "): upgrade the bridge"});
  }
  for (const migration& m : migrations) {
    if (m.version <= current) continue;
    if (auto r = conn.exec(m.sql); !r) {
      return fail({r.error().code, "migration " + std::to_string(m.version) + ": " + r.error().message});
    }
    sql_params p;
    p.integer(m.version).text(m.description).time(store_now());
    if (auto r =
            conn.run("INSERT INTO schema_version (version, description, applied_ms) VALUES ($1, $2, $3)", p.span());
        !r) {
      return fail(r.error());
    }
  }
  if (auto r = conn.exec("COMMIT"); !r) return fail(r.error());
  return latest;
}

result<std::unique_ptr<sql_backend>> sql_backend::open(std::unique_ptr<sql_connection> writer, std::string instance,
                                                       recovery scope, std::span<const migration> migrations) {
  if (auto v = migrate(*writer, migrations); !v) return v.error();
  return std::unique_ptr<sql_backend>(new sql_backend(std::move(writer), std::move(instance), scope));
}

result<void> sql_backend::apply(const record& r) {
  sql_params p;
  std::string_view sql;
  bool must_change = false;  // an update of a call that does not exist is an error
  if (const auto* s = std::get_if<records::call_started>(&r)) {
    p.text(s->call_sid).text(s->stream_sid).text(s->from).text(s->to).text(to_string(s->direction));
    p.text(s->agent).text(instance_).time(s->started_at);
    sql = insert_call;
  } else if (const auto* a = std::get_if<records::call_answered>(&r)) {
    p.text(a->call_sid).time(a->answered_at);
    if (a->stream_sid.empty()) {
      sql = answer_call;
    } else {
      p.text(a->stream_sid);
      sql = answer_call_with_stream;
    }
    must_change = true;
  } else if (const auto* d = std::get_if<records::call_disposed>(&r)) {
    p.text(d->call_sid).text(d->disposition).text(d->transfer_to);
    sql = dispose_call;
    must_change = true;
  } else if (const auto* e = std::get_if<records::call_ended>(&r)) {
    p.text(e->call_sid).time(e->ended_at).text(e->end_reason).text(e->end_detail);
    p.integer(e->tokens.input_text).integer(e->tokens.input_audio).integer(e->tokens.input_cached);
    p.integer(e->tokens.output_text).integer(e->tokens.output_audio).real(e->cost_usd).text(e->counters_json);
    sql = end_call;
    must_change = true;
  } else if (const auto* i = std::get_if<records::item>(&r)) {
    p.text(i->call_sid).integer(i->seq).text(i->item_id).text(to_string(i->role)).text(i->text);
    p.optional_text(i->heard_text).integer(i->interrupted ? 1 : 0).integer(i->audio_ms).optional_integer(i->heard_ms);
    p.time(i->started_at).optional_time(i->ended_at);
    sql = upsert_item;
  } else if (const auto* t = std::get_if<records::tool_call>(&r)) {
    p.text(t->call_sid).integer(t->seq).text(t->tool_call_id).text(t->name).text(t->arguments).text(t->output);
    p.text(to_string(t->outcome)).time(t->started_at).integer(t->latency_ms);
    sql = upsert_tool_call;
  } else {
    const auto& ev = std::get<records::event>(r);
    p.text(ev.call_sid).integer(ev.seq).time(ev.at).text(ev.kind).text(ev.detail);
    sql = upsert_event;
  }
  auto changed = writer_->run(sql, p.span());
  if (!changed) return changed.error();
  if (must_change && *changed == 0) return store_error("no call " + std::string(call_sid_of(r)) + " to update");
  return {};
}

result<void> sql_backend::write(std::span<const record> batch) {
  if (auto r = writer_->exec("BEGIN"); !r) return r;
  for (const record& r : batch) {
    if (auto done = apply(r); !done) {
      (void)writer_->exec("ROLLBACK");
      return done;
    }
  }
  if (auto r = writer_->exec("COMMIT"); !r) {
    (void)writer_->exec("ROLLBACK");
    return r;
  }
  return {};
}

result<std::uint64_t> sql_backend::close_open_calls(store_time now) {
  sql_params p;
  p.time(now).text(bridge_restarted).text("the bridge stopped before the call ended");
  std::string sql = "UPDATE calls SET ended_ms = $1, end_reason = $2, end_detail = $3 WHERE ended_ms IS NULL";
  if (scope_ == recovery::own_instance) sql += " AND instance = " + p.text(instance_).last();
  auto changed = writer_->run(sql, p.span());
  if (!changed) return changed.error();
  return static_cast<std::uint64_t>(*changed);
}

result<call_page> sql_backend::list_calls(const call_query& q) {
  if (q.limit == 0 || q.limit > max_page_size) {
    return store_error("limit must be from 1 to " + std::to_string(max_page_size));
  }
  sql_params p;
  std::string sql = "SELECT " + std::string(call_columns) + " FROM calls WHERE 1 = 1";
  if (q.since) sql += " AND started_ms >= " + p.time(*q.since).last();
  if (q.until) sql += " AND started_ms < " + p.time(*q.until).last();
  if (!q.agent.empty()) sql += " AND agent = " + p.text(q.agent).last();
  if (!q.number.empty()) {
    const std::string n = p.text(q.number).last();
    sql += " AND (from_number = " + n + " OR to_number = " + n + ")";
  }
  if (!q.end_reason.empty()) sql += " AND end_reason = " + p.text(q.end_reason).last();
  if (q.open_only) sql += " AND ended_ms IS NULL";
  if (!q.cursor.empty()) {
    const auto colon = q.cursor.find(':');
    std::int64_t ms = 0;
    const char* end = q.cursor.data() + (colon == std::string::npos ? 0 : colon);
    if (colon == std::string::npos || colon == 0 || std::from_chars(q.cursor.data(), end, ms).ptr != end) {
      return store_error("invalid cursor");
    }
    const std::string at = p.integer(ms).last();
    const std::string sid = p.text(std::string_view(q.cursor).substr(colon + 1)).last();
    sql += " AND (started_ms < " + at + " OR (started_ms = " + at + " AND call_sid < " + sid + "))";
  }
  sql += " ORDER BY started_ms DESC, call_sid DESC LIMIT " + p.integer(std::int64_t{q.limit} + 1).last();

  std::lock_guard lock(read_mutex_);
  if (!reader_) return store_error("the store has no reader");
  auto rows = reader_->query(sql, p.span());
  if (!rows) {
    reader_->reconnect();
    return rows.error();
  }
  call_page page;
  for (const sql_row& row : *rows) {
    if (page.calls.size() == q.limit) {
      page.next_cursor = cursor_of(page.calls.back());
      break;
    }
    page.calls.push_back(call_from(row));
  }
  return page;
}

result<std::optional<call_detail>> sql_backend::get_call(std::string_view call_sid) {
  std::lock_guard lock(read_mutex_);
  if (!reader_) return store_error("the store has no reader");
  // One read transaction, so the call and its lists are one snapshot.
  if (auto r = reader_->exec("BEGIN"); !r) {
    reader_->reconnect();
    return r.error();
  }
  auto detail = read_call(call_sid);
  (void)reader_->exec("COMMIT");
  if (!detail) reader_->reconnect();
  return detail;
}

result<std::optional<call_detail>> sql_backend::read_call(std::string_view call_sid) {
  sql_params p;
  p.text(call_sid);
  auto calls = reader_->query("SELECT " + std::string(call_columns) + " FROM calls WHERE call_sid = $1", p.span());
  if (!calls) return calls.error();
  if (calls->empty()) return std::optional<call_detail>{};
  call_detail d;
  d.call = call_from(calls->front());

  auto items = reader_->query(
      "SELECT call_sid, seq, item_id, role, content, heard_text, interrupted, audio_ms, heard_ms, started_ms, "
      "ended_ms FROM call_items WHERE call_sid = $1 ORDER BY seq",
      p.span());
  if (!items) return items.error();
  for (const sql_row& row : *items) {
    records::item i;
    i.call_sid = text_at(row, 0);
    i.seq = int_at(row, 1);
    i.item_id = text_at(row, 2);
    i.role = parse_item_role(text_at(row, 3)).value_or(item_role::system);
    i.text = text_at(row, 4);
    if (row[5]) i.heard_text = *row[5];
    i.interrupted = int_at(row, 6) != 0;
    i.audio_ms = int_at(row, 7);
    i.heard_ms = optional_int_at(row, 8);
    i.started_at = time_at(row, 9);
    i.ended_at = optional_time_at(row, 10);
    d.items.push_back(std::move(i));
  }

  auto tools = reader_->query(
      "SELECT call_sid, seq, tool_call_id, name, arguments, output, outcome, started_ms, latency_ms "
      "FROM call_tool_calls WHERE call_sid = $1 ORDER BY seq",
      p.span());
  if (!tools) return tools.error();
  for (const sql_row& row : *tools) {
    records::tool_call t;
    t.call_sid = text_at(row, 0);
    t.seq = int_at(row, 1);
    t.tool_call_id = text_at(row, 2);
    t.name = text_at(row, 3);
    t.arguments = text_at(row, 4);
    t.output = text_at(row, 5);
    t.outcome = parse_tool_outcome(text_at(row, 6)).value_or(tool_outcome::error);
    t.started_at = time_at(row, 7);
    t.latency_ms = int_at(row, 8);
    d.tool_calls.push_back(std::move(t));
  }

  auto events = reader_->query(
      "SELECT call_sid, seq, at_ms, kind, detail FROM call_events WHERE call_sid = $1 ORDER BY seq", p.span());
  if (!events) return events.error();
  for (const sql_row& row : *events) {
    records::event e;
    e.call_sid = text_at(row, 0);
    e.seq = int_at(row, 1);
    e.at = time_at(row, 2);
    e.kind = text_at(row, 3);
    e.detail = text_at(row, 4);
    d.events.push_back(std::move(e));
  }
  return std::optional<call_detail>{std::move(d)};
}

}  // namespace rtb::service::detail
