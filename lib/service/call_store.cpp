#include "realtime_bridge/service/call_store.hpp"

#include <algorithm>

#include "json.hpp"
#include "realtime_bridge/call.hpp"

namespace rtb::service {

store_time store_now() noexcept {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::string_view to_string(call_direction d) noexcept { return d == call_direction::outbound ? "outbound" : "inbound"; }

std::optional<call_direction> parse_call_direction(std::string_view s) noexcept {
  if (s == "inbound") return call_direction::inbound;
  if (s == "outbound") return call_direction::outbound;
  return std::nullopt;
}

std::string_view to_string(item_role r) noexcept {
  switch (r) {
    case item_role::caller: return "caller";
    case item_role::assistant: return "assistant";
    case item_role::system: return "system";
  }
  return "system";
}

std::optional<item_role> parse_item_role(std::string_view s) noexcept {
  if (s == "caller") return item_role::caller;
  if (s == "assistant") return item_role::assistant;
  if (s == "system") return item_role::system;
  return std::nullopt;
}

std::string_view to_string(tool_outcome o) noexcept {
  switch (o) {
    case tool_outcome::ok: return "ok";
    case tool_outcome::error: return "error";
    case tool_outcome::timeout: return "timeout";
    case tool_outcome::cancelled: return "cancelled";
  }
  return "error";
}

std::optional<tool_outcome> parse_tool_outcome(std::string_view s) noexcept {
  if (s == "ok") return tool_outcome::ok;
  if (s == "error") return tool_outcome::error;
  if (s == "timeout") return tool_outcome::timeout;
  if (s == "cancelled") return tool_outcome::cancelled;
  return std::nullopt;
}

double estimate_cost(const token_usage& t, const price_table& p) noexcept {
  // Cached tokens are part of the input totals: bill them once, at the cached rate.
  const std::int64_t cached = std::max<std::int64_t>(t.input_cached, 0);
  const std::int64_t cached_text = std::min(cached, std::max<std::int64_t>(t.input_text, 0));
  const std::int64_t cached_audio = std::min(cached - cached_text, std::max<std::int64_t>(t.input_audio, 0));
  const auto d = [](std::int64_t n) { return static_cast<double>(n); };
  const double per_million = d(t.input_text - cached_text) * p.input_text +
                             d(t.input_audio - cached_audio) * p.input_audio +
                             d(cached_text + cached_audio) * p.input_cached + d(t.output_text) * p.output_text +
                             d(t.output_audio) * p.output_audio;
  return per_million / 1e6;
}

token_usage tokens_of(const call_counters& c) noexcept {
  return {c.openai.input_text_tokens, c.openai.input_audio_tokens, c.openai.input_cached_tokens,
          c.openai.output_text_tokens, c.openai.output_audio_tokens};
}

namespace {

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) { out_ += '{'; }
  ~json_writer() { out_ += '}'; }
  json_writer(const json_writer&) = delete;
  json_writer& operator=(const json_writer&) = delete;

  void key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    json::append_string(out_, k);
    out_ += ':';
  }
  void field(std::string_view k, std::uint64_t v) { field(k, static_cast<std::int64_t>(v)); }
  void field(std::string_view k, std::int64_t v) {
    key(k);
    json::append_int(out_, v);
  }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace

std::string counters_json(const call_counters& c) {
  std::string out;
  out.reserve(1024);
  {
    json_writer top(out);
    top.key("twilio");
    {
      json_writer w(out);
      w.field("media_frames", c.twilio.media_frames);
      w.field("media_bytes", c.twilio.media_bytes);
      w.field("early_media_dropped", c.twilio.early_media_dropped);
      w.field("late_events_dropped", c.twilio.late_events_dropped);
      w.field("marks", c.twilio.marks);
      w.field("digits", c.twilio.digits);
      w.field("duplicate_starts", c.twilio.duplicate_starts);
      w.field("unknown_events", c.twilio.unknown_events);
    }
    top.key("openai");
    {
      json_writer w(out);
      w.field("responses", c.openai.responses);
      w.field("responses_failed", c.openai.responses_failed);
      w.field("responses_cancelled", c.openai.responses_cancelled);
      w.field("audio_deltas", c.openai.audio_deltas);
      w.field("audio_bytes", c.openai.audio_bytes);
      w.field("errors", c.openai.errors);
      w.field("tool_calls", c.openai.tool_calls);
      w.field("unknown_events", c.openai.unknown_events);
      w.field("input_text_tokens", c.openai.input_text_tokens);
      w.field("input_audio_tokens", c.openai.input_audio_tokens);
      w.field("input_cached_tokens", c.openai.input_cached_tokens);
      w.field("output_text_tokens", c.openai.output_text_tokens);
      w.field("output_audio_tokens", c.openai.output_audio_tokens);
    }
    top.key("playout");
    {
      json_writer w(out);
      w.field("media_sent", c.playout.media_sent);
      w.field("bytes_sent", c.playout.bytes_sent);
      w.field("marks_sent", c.playout.marks_sent);
      w.field("marks_echoed", c.playout.marks_echoed);
      w.field("stale_marks", c.playout.stale_marks);
      w.field("foreign_marks", c.playout.foreign_marks);
      w.field("late_deltas_dropped", c.playout.late_deltas_dropped);
      w.field("barge_ins", c.playout.barge_ins);
      w.field("clears", c.playout.clears);
      w.field("truncates", c.playout.truncates);
      w.field("deletes", c.playout.deletes);
      w.field("cancels", c.playout.cancels);
    }
    top.field("caller_frames_forwarded", c.caller_frames_forwarded);
    top.field("caller_audio_appends", c.caller_audio_appends);
    top.field("held_caller_frames_dropped", c.held_caller_frames_dropped);
    top.field("held_ai_deltas_dropped", c.held_ai_deltas_dropped);
    top.field("rejected_twilio_messages", c.rejected_twilio_messages);
    top.field("rejected_openai_messages", c.rejected_openai_messages);
    top.field("inputs_after_end", c.inputs_after_end);
  }
  return out;
}

std::string json_object(std::initializer_list<std::pair<std::string_view, json_value>> fields) {
  std::string out;
  {
    json_writer w(out);
    for (const auto& [k, v] : fields) {
      w.key(k);
      if (const auto* s = std::get_if<std::string_view>(&v)) {
        json::append_string(out, *s);
      } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
        json::append_int(out, *n);
      } else if (const auto* d = std::get_if<double>(&v)) {
        json::append_double(out, *d);
      } else {
        out += std::get<bool>(v) ? "true" : "false";
      }
    }
  }
  return out;
}

std::string_view call_sid_of(const record& r) noexcept {
  return std::visit([](const auto& x) -> std::string_view { return x.call_sid; }, r);
}

void call_recorder::started(records::call_started r) {
  r.call_sid = call_sid_;
  store_.record(std::move(r));
}

void call_recorder::answered(records::call_answered r) {
  r.call_sid = call_sid_;
  store_.record(std::move(r));
}

void call_recorder::ended(records::call_ended r) {
  r.call_sid = call_sid_;
  store_.record(std::move(r));
}

std::int64_t call_recorder::item(records::item r) {
  r.call_sid = call_sid_;
  r.seq = next_item_.fetch_add(1, std::memory_order_relaxed);
  const auto seq = r.seq;
  store_.record(std::move(r));
  return seq;
}

void call_recorder::replace_item(records::item r) {
  r.call_sid = call_sid_;
  store_.record(std::move(r));
}

std::int64_t call_recorder::tool_call(records::tool_call r) {
  r.call_sid = call_sid_;
  r.seq = next_tool_call_.fetch_add(1, std::memory_order_relaxed);
  const auto seq = r.seq;
  store_.record(std::move(r));
  return seq;
}

std::int64_t call_recorder::event(std::string_view kind, std::string detail, store_time at) {
  records::event e;
  e.call_sid = call_sid_;
  e.seq = next_event_.fetch_add(1, std::memory_order_relaxed);
  e.at = at;
  e.kind = std::string(kind);
  e.detail = std::move(detail);
  const auto seq = e.seq;
  store_.record(std::move(e));
  return seq;
}

}  // namespace rtb::service
