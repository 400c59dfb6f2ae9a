#include "realtime_bridge/service/call_tracker.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "json.hpp"
#include "realtime_bridge/heard_text.hpp"

namespace rtb::service {
namespace {

constexpr std::size_t max_open_items = 8;  // an interruption concerns the latest items only

/// A small JSON object writer for live events.
class json_out {
 public:
  json_out& str(std::string_view k, std::string_view v) {
    key(k);
    json::append_string(out_, v);
    return *this;
  }
  json_out& num(std::string_view k, std::int64_t v) {
    key(k);
    json::append_int(out_, v);
    return *this;
  }
  json_out& boolean(std::string_view k, bool v) {
    key(k);
    out_.append(v ? "true" : "false");
    return *this;
  }
  std::string done() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void key(std::string_view k) {
    out_.push_back(out_.empty() ? '{' : ',');
    json::append_string(out_, k);
    out_.push_back(':');
  }
  std::string out_;
};

std::int64_t ms_of(store_time t) { return t.time_since_epoch().count(); }

}  // namespace

call_tracker::call_tracker(tracker_options options) : options_(std::move(options)) {}

void call_tracker::set_numbers(std::string from, std::string to) {
  from_ = std::move(from);
  to_ = std::move(to);
}

void call_tracker::publish(std::string_view type, std::string json) {
  if (options_.hub) options_.hub->publish(live_event{std::string(type), call_sid_, std::move(json)});
}

void call_tracker::publish_item(const records::item& i) {
  if (!options_.hub) return;
  json_out j;
  j.str("type", "item").str("call_sid", call_sid_).num("seq", i.seq).str("item_id", i.item_id);
  j.str("role", to_string(i.role)).str("text", i.text).boolean("interrupted", i.interrupted);
  if (i.heard_text) j.str("heard_text", *i.heard_text);
  if (i.heard_ms) j.num("heard_ms", *i.heard_ms);
  j.num("at", ms_of(i.ended_at.value_or(i.started_at)));
  publish("item", j.done());
}

void call_tracker::on_stream_started(const to_host::stream_started& e) {
  call_sid_ = std::string(e.call_sid);
  stream_sid_ = std::string(e.stream_sid);
  for (const auto& p : e.custom_parameters) {
    if (p.name == "From" && from_.empty()) from_ = std::string(p.value);
    if (p.name == "To" && to_.empty()) to_ = std::string(p.value);
    if (p.name == "agent" && agent_.empty()) agent_ = std::string(p.value);
    // A call the bridge placed (outbound_twiml()) says so in its parameters.
    if (p.name == "direction" && p.value == "outbound") options_.direction = call_direction::outbound;
  }
  const store_time now = store_now();
  if (options_.store) {
    recorder_ = std::make_unique<call_recorder>(*options_.store, call_sid_);
    recorder_->started({call_sid_, stream_sid_, from_, to_, options_.direction, agent_, now});
    recorder_->answered({call_sid_, stream_sid_, now});
    if (!options_.trace_path.empty()) recorder_->event("trace", json_object({{"path", options_.trace_path}}), now);
  }
  publish("call_started", json_out{}
                              .str("type", "call_started")
                              .str("call_sid", call_sid_)
                              .str("stream_sid", stream_sid_)
                              .str("from", from_)
                              .str("to", to_)
                              .str("agent", agent_)
                              .str("direction", to_string(options_.direction))
                              .num("at", ms_of(now))
                              .done());
}

void call_tracker::on_caller_transcript(const to_host::caller_transcript& e) {
  if (call_sid_.empty()) return;
  records::item i;
  i.call_sid = call_sid_;
  i.item_id = std::string(e.item_id);
  i.role = item_role::caller;
  i.text = std::string(e.text);
  i.started_at = store_now();
  i.ended_at = i.started_at;
  if (recorder_) i.seq = recorder_->item(i);
  publish_item(i);
}

call_tracker::open_item& call_tracker::assistant_item(std::string_view item_id) {
  for (auto& i : assistant_items_)
    if (i.item_id == item_id) return i;
  if (assistant_items_.size() >= max_open_items) assistant_items_.erase(assistant_items_.begin());
  open_item o;
  o.item_id = std::string(item_id);
  o.record.call_sid = call_sid_;
  o.record.item_id = o.item_id;
  o.record.role = item_role::assistant;
  o.record.started_at = store_now();
  assistant_items_.push_back(std::move(o));
  return assistant_items_.back();
}

void call_tracker::on_ai_transcript(const to_host::ai_transcript& e) {
  if (call_sid_.empty()) return;
  open_item& o = assistant_item(e.item_id);
  o.record.text = std::string(e.text);
  o.record.ended_at = store_now();
  if (o.record.interrupted)
    o.record.heard_text = std::string(heard_text(o.record.text, o.record.heard_ms.value_or(0), o.record.audio_ms));
  if (recorder_) {
    if (o.seq < 0)
      o.seq = recorder_->item(o.record);
    else
      recorder_->replace_item(o.record);
  }
  o.record.seq = std::max<std::int64_t>(o.seq, 0);
  publish_item(o.record);
}

void call_tracker::on_ai_interrupted(const to_host::ai_interrupted& e) {
  if (call_sid_.empty()) return;
  open_item& o = assistant_item(e.item_id);
  o.record.interrupted = true;
  o.record.heard_ms = e.heard_ms;
  o.record.audio_ms = e.sent_ms;
  o.record.heard_text = std::string(heard_text(o.record.text, e.heard_ms, e.sent_ms));
  if (recorder_) {
    recorder_->event(event_kind::barge_in,
                     json_object({{"item_id", e.item_id}, {"heard_ms", e.heard_ms}, {"sent_ms", e.sent_ms}}));
    // Written once its transcript is known; until then only the event says it.
    if (o.seq >= 0) recorder_->replace_item(o.record);
  }
  publish("barge_in", json_out{}
                          .str("type", "barge_in")
                          .str("call_sid", call_sid_)
                          .str("item_id", e.item_id)
                          .num("heard_ms", e.heard_ms)
                          .num("sent_ms", e.sent_ms)
                          .num("at", ms_of(store_now()))
                          .done());
  if (o.seq >= 0) publish_item(o.record);
}

void call_tracker::on_dtmf(const to_host::dtmf& e) {
  if (call_sid_.empty()) return;
  if (recorder_) recorder_->event(event_kind::dtmf, json_object({{"digit", e.digit}}));
  publish("dtmf", json_out{}
                      .str("type", "dtmf")
                      .str("call_sid", call_sid_)
                      .str("digit", e.digit)
                      .num("at", ms_of(store_now()))
                      .done());
}

void call_tracker::on_tool_call(const to_host::tool_call& e) {
  if (call_sid_.empty()) return;
  open_tool t;
  t.call_id = std::string(e.call_id);
  t.record.call_sid = call_sid_;
  t.record.tool_call_id = t.call_id;
  t.record.name = std::string(e.name);
  t.record.arguments = std::string(e.arguments);
  t.record.started_at = store_now();
  open_tools_.push_back(std::move(t));
}

void call_tracker::tool_answered(std::string_view call_id, std::string_view output, tool_outcome outcome,
                                 std::chrono::milliseconds latency) {
  const auto it =
      std::find_if(open_tools_.begin(), open_tools_.end(), [&](const open_tool& t) { return t.call_id == call_id; });
  if (it == open_tools_.end()) return;
  records::tool_call r = std::move(it->record);
  open_tools_.erase(it);
  r.output = std::string(output);
  r.outcome = outcome;
  r.latency_ms = latency.count();
  if (recorder_) r.seq = recorder_->tool_call(r);
  publish("tool_call", json_out{}
                           .str("type", "tool_call")
                           .str("call_sid", call_sid_)
                           .str("name", r.name)
                           .str("call_id", r.tool_call_id)
                           .str("arguments", r.arguments)
                           .str("output", r.output)
                           .str("outcome", to_string(r.outcome))
                           .num("latency_ms", r.latency_ms)
                           .num("at", ms_of(store_now()))
                           .done());
}

void call_tracker::on_call_ended(const call_summary& s) {
  if (call_sid_.empty()) return;
  const store_time now = store_now();
  for (auto& t : open_tools_) {
    t.record.outcome = tool_outcome::cancelled;
    t.record.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - t.record.started_at).count();
    if (recorder_) (void)recorder_->tool_call(t.record);
  }
  open_tools_.clear();
  if (recorder_) {
    records::call_ended r;
    r.call_sid = call_sid_;
    r.ended_at = now;
    r.end_reason = std::string(to_string(s.reason));
    r.end_detail = std::string(s.detail);
    r.tokens = tokens_of(s.counters);
    r.cost_usd = estimate_cost(r.tokens, options_.prices);
    r.counters_json = counters_json(s.counters);
    recorder_->ended(std::move(r));
  }
  publish("call_ended", json_out{}
                            .str("type", "call_ended")
                            .str("call_sid", call_sid_)
                            .str("reason", to_string(s.reason))
                            .str("detail", s.detail)
                            .num("at", ms_of(now))
                            .done());
}

}  // namespace rtb::service
