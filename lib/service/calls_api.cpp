#include "realtime_bridge/service/calls_api.hpp"

#include <openssl/crypto.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <simdjson.h>

#include "json.hpp"

namespace rtb::service {
namespace {

constexpr std::string_view prefix = "/api/calls";

api_response json_error(int status, std::string_view message) {
  std::string body = R"({"error":)";
  json::append_string(body, message);
  body.push_back('}');
  return {status, "application/json", std::move(body)};
}

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}
  json_writer& open() {
    out_.push_back('{');
    first_ = true;
    return *this;
  }
  json_writer& close() {
    out_.push_back('}');
    first_ = false;
    return *this;
  }
  json_writer& key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    json::append_string(out_, k);
    out_.push_back(':');
    return *this;
  }
  json_writer& str(std::string_view k, std::string_view v) {
    key(k);
    json::append_string(out_, v);
    return *this;
  }
  json_writer& num(std::string_view k, std::int64_t v) {
    key(k);
    json::append_int(out_, v);
    return *this;
  }
  json_writer& dbl(std::string_view k, double v) {
    key(k);
    json::append_double(out_, v);
    return *this;
  }
  json_writer& boolean(std::string_view k, bool v) {
    key(k);
    out_.append(v ? "true" : "false");
    return *this;
  }
  json_writer& null(std::string_view k) {
    key(k);
    out_.append("null");
    return *this;
  }
  /// `v` must already be JSON (the store keeps details and counters as JSON text).
  json_writer& raw(std::string_view k, std::string_view v) {
    key(k);
    out_.append(v.empty() ? std::string_view("null") : v);
    return *this;
  }
  json_writer& time(std::string_view k, const std::optional<store_time>& t) {
    if (t) return num(k, t->time_since_epoch().count());
    return null(k);
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void write_call(std::string& out, const stored_call& c) {
  json_writer w(out);
  w.open()
      .str("call_sid", c.call_sid)
      .str("stream_sid", c.stream_sid)
      .str("from", c.from)
      .str("to", c.to)
      .str("direction", to_string(c.direction))
      .str("agent", c.agent)
      .str("instance", c.instance)
      .time("started_at", c.started_at)
      .time("answered_at", c.answered_at)
      .time("ended_at", c.ended_at)
      .str("end_reason", c.end_reason)
      .str("end_detail", c.end_detail)
      .str("disposition", c.disposition)
      .str("transfer_to", c.transfer_to);
  w.key("tokens")
      .open()
      .num("input_text", c.tokens.input_text)
      .num("input_audio", c.tokens.input_audio)
      .num("input_cached", c.tokens.input_cached)
      .num("output_text", c.tokens.output_text)
      .num("output_audio", c.tokens.output_audio)
      .close();
  w.dbl("cost_usd", c.cost_usd).raw("counters", c.counters_json).close();
}

std::string_view find(const api_request& r, std::string_view name) {
  for (const auto& [k, v] : r.query)
    if (k == name) return v;
  return {};
}

api_response list(call_store& store, const api_request& r) {
  call_query q;
  if (auto v = find(r, "since"); !v.empty()) {
    q.since = parse_api_time(v);
    if (!q.since) return json_error(400, "since must be a time: milliseconds since 1970, or 2026-12-06T01:02:03Z");
  }
  if (auto v = find(r, "until"); !v.empty()) {
    q.until = parse_api_time(v);
    if (!q.until) return json_error(400, "until must be a time: milliseconds since 1970, or 2026-12-06T01:02:03Z");
  }
  q.agent = std::string(find(r, "agent"));
  q.number = std::string(find(r, "number"));
  q.end_reason = std::string(find(r, "end_reason"));
  q.open_only = find(r, "open") == "1" || find(r, "open") == "true";
  if (auto v = find(r, "limit"); !v.empty()) {
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 1 || n > max_page_size)
      return json_error(400, fmt::format("limit must be a number from 1 to {}", max_page_size));
    q.limit = n;
  }
  q.cursor = std::string(find(r, "cursor"));
  auto page = store.list_calls(q);
  if (!page) return json_error(page.error().code == errc::invalid_config ? 400 : 503, page.error().message);
  std::string out = R"({"calls":[)";
  for (std::size_t i = 0; i < page->calls.size(); ++i) {
    if (i) out.push_back(',');
    write_call(out, page->calls[i]);
  }
  out.append(R"(],"next_cursor":)");
  if (page->next_cursor.empty())
    out.append("null");
  else
    json::append_string(out, page->next_cursor);
  out.push_back('}');
  return {200, "application/json", std::move(out)};
}

api_response trace(call_store& store, const calls_api_options& o, std::string_view sid) {
  auto call = store.get_call(sid);
  if (!call) return json_error(503, call.error().message);
  if (!*call) return json_error(404, "no such call");
  std::string path;
  for (const auto& e : (*call)->events) {
    if (e.kind != "trace") continue;
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view v;
    if (!p.parse(e.detail).get(doc) && !doc["path"].get_string().get(v)) path = std::string(v);
  }
  if (path.empty() || o.trace_dir.empty()) return json_error(404, "no trace was recorded for this call");
  // Only files under the trace directory, whatever the record says.
  std::error_code ec;
  const auto dir = std::filesystem::weakly_canonical(o.trace_dir, ec);
  const auto file = std::filesystem::weakly_canonical(path, ec);
  if (ec || file.string().rfind(dir.string() + "/", 0) != 0)
    return json_error(404, "no trace was recorded for this call");
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return json_error(404, "the call's trace is gone");
  if (size > o.max_trace_bytes)
    return json_error(413, "the trace is larger than this API serves; read it on the server");
  std::ifstream in(file, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {200, "application/x-ndjson", std::move(body)};
}

}  // namespace

bool is_calls_api_path(std::string_view path) noexcept {
  return path == prefix || (path.size() > prefix.size() && path.starts_with(prefix) && path[prefix.size()] == '/');
}

bool admin_authorized(const calls_api_options& options, std::string_view authorization) noexcept {
  if (options.admin_token.empty()) return false;
  const std::string expected = "Bearer " + options.admin_token;
  return authorization.size() == expected.size() &&
         CRYPTO_memcmp(authorization.data(), expected.data(), expected.size()) == 0;
}

api_response handle_calls_api(call_store& store, const calls_api_options& options, const api_request& r) {
  if (options.admin_token.empty()) return json_error(404, "the calls API is off (no ADMIN_TOKEN)");
  if (!admin_authorized(options, r.authorization)) return json_error(401, "a bearer token is required");
  if (r.method != "GET" && r.method != "HEAD") return json_error(405, "only GET");
  if (r.path == prefix) return list(store, r);
  std::string_view rest = std::string_view(r.path).substr(prefix.size() + 1);
  const bool wants_trace = rest.ends_with("/trace");
  if (wants_trace) rest.remove_suffix(6);
  if (rest.empty() || rest.find('/') != std::string_view::npos) return json_error(404, "not found");
  if (wants_trace) return trace(store, options, rest);
  auto call = store.get_call(rest);
  if (!call) return json_error(503, call.error().message);
  if (!*call) return json_error(404, "no such call");
  return {200, "application/json", call_detail_json(**call)};
}

std::string call_json(const stored_call& c) {
  std::string out;
  write_call(out, c);
  return out;
}

std::string call_detail_json(const call_detail& d) {
  std::string out = R"({"call":)";
  write_call(out, d.call);
  out.append(R"(,"items":[)");
  for (std::size_t i = 0; i < d.items.size(); ++i) {
    const records::item& it = d.items[i];
    if (i) out.push_back(',');
    json_writer w(out);
    w.open().num("seq", it.seq).str("item_id", it.item_id).str("role", to_string(it.role)).str("text", it.text);
    if (it.heard_text)
      w.str("heard_text", *it.heard_text);
    else
      w.null("heard_text");
    w.boolean("interrupted", it.interrupted).num("audio_ms", it.audio_ms);
    if (it.heard_ms)
      w.num("heard_ms", *it.heard_ms);
    else
      w.null("heard_ms");
    w.time("started_at", it.started_at).time("ended_at", it.ended_at).close();
  }
  out.append(R"(],"tool_calls":[)");
  for (std::size_t i = 0; i < d.tool_calls.size(); ++i) {
    const records::tool_call& t = d.tool_calls[i];
    if (i) out.push_back(',');
    json_writer(out)
        .open()
        .num("seq", t.seq)
        .str("call_id", t.tool_call_id)
        .str("name", t.name)
        .str("arguments", t.arguments)
        .str("output", t.output)
        .str("outcome", to_string(t.outcome))
        .time("started_at", t.started_at)
        .num("latency_ms", t.latency_ms)
        .close();
  }
  out.append(R"(],"events":[)");
  for (std::size_t i = 0; i < d.events.size(); ++i) {
    const records::event& e = d.events[i];
    if (i) out.push_back(',');
    json_writer(out).open().num("seq", e.seq).time("at", e.at).str("kind", e.kind).raw("detail", e.detail).close();
  }
  out.append("]}");
  return out;
}

std::optional<store_time> parse_api_time(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::int64_t n = 0;
  if (const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      ec == std::errc{} && end == text.data() + text.size())
    return store_time(std::chrono::milliseconds(n));
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const auto number = [&](std::size_t at, std::size_t len, int& out) {
    if (at + len > text.size()) return false;
    const auto [e, ec] = std::from_chars(text.data() + at, text.data() + at + len, out);
    return ec == std::errc{} && e == text.data() + at + len;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':' || !number(0, 4, y) || !number(5, 2, mo) || !number(8, 2, d) || !number(11, 2, h) ||
      !number(14, 2, mi) || !number(17, 2, s))
    return std::nullopt;
  std::size_t at = 19;
  int millis = 0;
  if (text[at] == '.') {
    int digits = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++digits)
      if (digits < 3) millis = millis * 10 + (text[at] - '0');
    for (; digits < 3 && digits > 0; ++digits) millis *= 10;
  }
  if (at + 1 != text.size() || text[at] != 'Z') return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  const auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{s} + milliseconds{millis};
  return store_time(duration_cast<milliseconds>(t.time_since_epoch()));
}

}  // namespace rtb::service
