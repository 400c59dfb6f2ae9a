#include "realtime_bridge/openai/decoder.hpp"

#include <string>

#include "json.hpp"
#include "realtime_bridge/audio.hpp"

namespace rtb::openai {

static_assert(padded_buffer::padding >= simdjson::SIMDJSON_PADDING);

namespace {

using simdjson::ondemand::object;
using simdjson::ondemand::value;

error malformed(simdjson::error_code e) {
  if (e == simdjson::CAPACITY) return {errc::too_large, "message exceeds the size limit"};
  return {errc::malformed_json, std::string("not valid JSON: ") + simdjson::error_message(e)};
}

// Field readers for one event. They remember the event type so every error
// says where it happened, e.g. "response.output_audio.delta: missing field 'delta'".
class reader {
 public:
  explicit reader(std::string_view type) : type_(type) {}

  std::optional<error> string(object& obj, std::string_view key, std::string_view& out, bool required = false) {
    value v;
    auto e = obj[key].get(v);
    if (e == simdjson::NO_SUCH_FIELD) {
      if (required) return missing(key);
      return std::nullopt;
    }
    if (e) return malformed(e);
    if (auto e2 = json::get_string_or_null(v, out)) return fail(e2, key, "a string");
    if (required && out.empty()) return error{errc::invalid_value, where(key) + " is empty"};
    return std::nullopt;
  }

  std::optional<error> integer(object& obj, std::string_view key, std::int64_t& out) {
    value v;
    auto e = obj[key].get(v);
    if (e == simdjson::NO_SUCH_FIELD) return std::nullopt;
    if (e) return malformed(e);
    bool null = false;
    if (auto e2 = v.is_null().get(null)) return malformed(e2);
    if (null) return std::nullopt;
    if (auto e2 = v.get_int64().get(out)) return fail(e2, key, "an integer");
    return std::nullopt;
  }

  // Looks up an object member; `found` is false when absent or null.
  std::optional<error> child(object& obj, std::string_view key, object& out, bool& found) {
    found = false;
    value v;
    auto e = obj[key].get(v);
    if (e == simdjson::NO_SUCH_FIELD) return std::nullopt;
    if (e) return malformed(e);
    bool null = false;
    if (auto e2 = v.is_null().get(null)) return malformed(e2);
    if (null) return std::nullopt;
    if (auto e2 = v.get_object().get(out)) return fail(e2, key, "an object");
    found = true;
    return std::nullopt;
  }

  error missing(std::string_view key) const {
    return {errc::missing_field, std::string(type_) + ": missing field '" + std::string(key) + "'"};
  }
  std::string where(std::string_view key) const { return std::string(type_) + ": field '" + std::string(key) + "'"; }
  error fail(simdjson::error_code e, std::string_view key, std::string_view expected) const {
    if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR || e == simdjson::NUMBER_OUT_OF_RANGE)
      return {errc::wrong_type, where(key) + " must be " + std::string(expected)};
    return malformed(e);
  }

 private:
  std::string_view type_;
};

#define RTB_TRY(expr)                                \
  do {                                               \
    if (auto err_ = (expr)) return std::move(*err_); \
  } while (0)

std::optional<error> read_error_info(reader& r, object& obj, error_info& out) {
  RTB_TRY(r.string(obj, "type", out.type));
  RTB_TRY(r.string(obj, "code", out.code));
  RTB_TRY(r.string(obj, "message", out.message));
  RTB_TRY(r.string(obj, "param", out.param));
  RTB_TRY(r.string(obj, "event_id", out.event_id));
  return std::nullopt;
}

std::optional<error> read_item(reader& r, object& obj, item_info& out) {
  RTB_TRY(r.string(obj, "id", out.id));
  RTB_TRY(r.string(obj, "type", out.type));
  RTB_TRY(r.string(obj, "status", out.status));
  RTB_TRY(r.string(obj, "role", out.role));
  RTB_TRY(r.string(obj, "name", out.name));
  RTB_TRY(r.string(obj, "call_id", out.call_id));
  RTB_TRY(r.string(obj, "arguments", out.arguments));
  return std::nullopt;
}

std::optional<error> read_format_type(reader& r, object& direction, std::string_view& type) {
  object format;
  bool found = false;
  RTB_TRY(r.child(direction, "format", format, found));
  if (found) RTB_TRY(r.string(format, "type", type));
  return std::nullopt;
}

std::optional<error> read_session(reader& r, object& obj, session_info& out) {
  object s;
  bool found = false;
  RTB_TRY(r.child(obj, "session", s, found));
  if (!found) return r.missing("session");
  RTB_TRY(r.string(s, "id", out.id));
  RTB_TRY(r.string(s, "model", out.model));
  RTB_TRY(r.integer(s, "expires_at", out.expires_at));
  object audio;
  RTB_TRY(r.child(s, "audio", audio, found));
  if (!found) return std::nullopt;
  object input, output;
  RTB_TRY(r.child(audio, "input", input, found));
  if (found) RTB_TRY(read_format_type(r, input, out.input_format));
  RTB_TRY(r.child(audio, "output", output, found));
  if (found) {
    RTB_TRY(read_format_type(r, output, out.output_format));
    RTB_TRY(r.string(output, "voice", out.voice));
  }
  return std::nullopt;
}

std::optional<error> read_usage(reader& r, object& obj, usage& u) {
  RTB_TRY(r.integer(obj, "total_tokens", u.total_tokens));
  RTB_TRY(r.integer(obj, "input_tokens", u.input_tokens));
  RTB_TRY(r.integer(obj, "output_tokens", u.output_tokens));
  object details;
  bool found = false;
  RTB_TRY(r.child(obj, "input_token_details", details, found));
  if (found) {
    RTB_TRY(r.integer(details, "text_tokens", u.input_text_tokens));
    RTB_TRY(r.integer(details, "audio_tokens", u.input_audio_tokens));
    RTB_TRY(r.integer(details, "cached_tokens", u.input_cached_tokens));
  }
  RTB_TRY(r.child(obj, "output_token_details", details, found));
  if (found) {
    RTB_TRY(r.integer(details, "text_tokens", u.output_text_tokens));
    RTB_TRY(r.integer(details, "audio_tokens", u.output_audio_tokens));
  }
  return std::nullopt;
}

std::optional<error> read_response(reader& r, object& obj, std::string_view& id, std::string_view& status,
                                   response_done* done) {
  object resp;
  bool found = false;
  RTB_TRY(r.child(obj, "response", resp, found));
  if (!found) return r.missing("response");
  RTB_TRY(r.string(resp, "id", id, true));
  RTB_TRY(r.string(resp, "status", status));
  if (!done) return std::nullopt;
  object details;
  RTB_TRY(r.child(resp, "status_details", details, found));
  if (found) {
    RTB_TRY(r.string(details, "reason", done->status_reason));
    object err;
    RTB_TRY(r.child(details, "error", err, found));
    if (found) RTB_TRY(read_error_info(r, err, done->error));
  }
  object u;
  RTB_TRY(r.child(resp, "usage", u, found));
  if (found) RTB_TRY(read_usage(r, u, done->usage));
  return std::nullopt;
}

template <class T>
std::optional<error> read_audio_ids(reader& r, object& obj, T& out) {
  RTB_TRY(r.string(obj, "response_id", out.response_id, true));
  RTB_TRY(r.string(obj, "item_id", out.item_id, true));
  RTB_TRY(r.integer(obj, "output_index", out.output_index));
  RTB_TRY(r.integer(obj, "content_index", out.content_index));
  return std::nullopt;
}

result<event> decode_fields(std::string_view type, object& obj);

// GA server events that carry nothing a telephony bridge acts on.
bool is_documented(std::string_view type) noexcept {
  static constexpr std::string_view types[] = {
      "conversation.created",
      "conversation.item.retrieved",
      "conversation.item.input_audio_transcription.delta",
      "conversation.item.input_audio_transcription.segment",
      "input_audio_buffer.cleared",
      "input_audio_buffer.timeout_triggered",
      "input_audio_buffer.dtmf_event_received",
      "output_audio_buffer.started",
      "output_audio_buffer.stopped",
      "output_audio_buffer.cleared",
      "response.content_part.added",
      "response.content_part.done",
      "response.output_text.delta",
      "response.output_text.done",
      "response.text.delta",
      "response.text.done",
      "transcription_session.created",
      "transcription_session.updated",
  };
  for (auto t : types)
    if (t == type) return true;
  return type.substr(0, 4) == "mcp_" || type.substr(0, 13) == "response.mcp_";
}

}  // namespace

struct decoder::impl {
  explicit impl(std::size_t max) : parser(max) {}
  simdjson::ondemand::parser parser;
};

decoder::decoder(std::size_t max_message_bytes) : impl_(std::make_unique<impl>(max_message_bytes)) {}
decoder::~decoder() = default;
decoder::decoder(decoder&&) noexcept = default;
decoder& decoder::operator=(decoder&&) noexcept = default;

result<event> decoder::decode(const padded_buffer& message) {
  impl& d = *impl_;
  if (message.size() > d.parser.max_capacity()) return error{errc::too_large, "message exceeds the size limit"};
  simdjson::ondemand::document doc;
  if (auto e = d.parser.iterate(message.data(), message.size(), message.readable()).get(doc)) return malformed(e);
  object obj;
  if (auto e = doc.get_object().get(obj)) {
    if (e == simdjson::INCORRECT_TYPE) return error{errc::malformed_json, "not a JSON object"};
    return malformed(e);
  }
  std::string_view type;
  {
    value v;
    auto e = obj["type"].get(v);
    if (e == simdjson::NO_SUCH_FIELD) return error{errc::missing_field, "missing field 'type'"};
    if (e) return malformed(e);
    if (auto e2 = v.get_string().get(type)) {
      if (e2 == simdjson::INCORRECT_TYPE) return error{errc::wrong_type, "field 'type' must be a string"};
      return malformed(e2);
    }
  }
  return decode_fields(type, obj);
}

namespace {

result<event> decode_fields(std::string_view type, object& obj) {
  reader r(type);

  // Most frequent first: audio deltas arrive ~50 times a second while the AI talks.
  if (type == "response.output_audio.delta" || type == "response.audio.delta") {
    audio_delta d;
    RTB_TRY(read_audio_ids(r, obj, d));
    RTB_TRY(r.string(obj, "delta", d.delta, true));
    if (!audio::is_base64(d.delta)) return error{errc::invalid_value, r.where("delta") + " is not base64"};
    return event{d};
  }
  if (type == "response.output_audio_transcript.delta" || type == "response.audio_transcript.delta") {
    transcript_delta d;
    RTB_TRY(r.string(obj, "response_id", d.response_id));
    RTB_TRY(r.string(obj, "item_id", d.item_id, true));
    RTB_TRY(r.integer(obj, "content_index", d.content_index));
    RTB_TRY(r.string(obj, "delta", d.delta));
    return event{d};
  }
  if (type == "response.output_audio.done" || type == "response.audio.done") {
    audio_done d;
    RTB_TRY(read_audio_ids(r, obj, d));
    return event{d};
  }
  if (type == "response.output_audio_transcript.done" || type == "response.audio_transcript.done") {
    transcript_done d;
    RTB_TRY(r.string(obj, "response_id", d.response_id));
    RTB_TRY(r.string(obj, "item_id", d.item_id, true));
    RTB_TRY(r.integer(obj, "content_index", d.content_index));
    RTB_TRY(r.string(obj, "transcript", d.transcript));
    return event{d};
  }
  if (type == "input_audio_buffer.speech_started") {
    speech_started s;
    RTB_TRY(r.integer(obj, "audio_start_ms", s.audio_start_ms));
    RTB_TRY(r.string(obj, "item_id", s.item_id));
    return event{s};
  }
  if (type == "input_audio_buffer.speech_stopped") {
    speech_stopped s;
    RTB_TRY(r.integer(obj, "audio_end_ms", s.audio_end_ms));
    RTB_TRY(r.string(obj, "item_id", s.item_id));
    return event{s};
  }
  if (type == "input_audio_buffer.committed") {
    input_committed c;
    RTB_TRY(r.string(obj, "previous_item_id", c.previous_item_id));
    RTB_TRY(r.string(obj, "item_id", c.item_id));
    return event{c};
  }
  if (type == "response.created") {
    response_created c;
    RTB_TRY(read_response(r, obj, c.response_id, c.status, nullptr));
    return event{c};
  }
  if (type == "response.done") {
    response_done d;
    RTB_TRY(read_response(r, obj, d.response_id, d.status, &d));
    return event{d};
  }
  if (type == "response.output_item.added" || type == "response.output_item.done") {
    std::string_view response_id;
    std::int64_t output_index = 0;
    item_info item;
    RTB_TRY(r.string(obj, "response_id", response_id));
    RTB_TRY(r.integer(obj, "output_index", output_index));
    object it;
    bool found = false;
    RTB_TRY(r.child(obj, "item", it, found));
    if (!found) return r.missing("item");
    RTB_TRY(read_item(r, it, item));
    if (type == "response.output_item.added") return event{output_item_added{response_id, output_index, item}};
    return event{output_item_done{response_id, output_index, item}};
  }
  if (type == "conversation.item.added" || type == "conversation.item.created" || type == "conversation.item.done") {
    std::string_view previous;
    item_info item;
    RTB_TRY(r.string(obj, "previous_item_id", previous));
    object it;
    bool found = false;
    RTB_TRY(r.child(obj, "item", it, found));
    if (!found) return r.missing("item");
    RTB_TRY(read_item(r, it, item));
    if (type == "conversation.item.done") return event{item_done{previous, item}};
    return event{item_added{previous, item}};
  }
  if (type == "conversation.item.truncated") {
    item_truncated t;
    RTB_TRY(r.string(obj, "item_id", t.item_id, true));
    RTB_TRY(r.integer(obj, "content_index", t.content_index));
    RTB_TRY(r.integer(obj, "audio_end_ms", t.audio_end_ms));
    return event{t};
  }
  if (type == "conversation.item.deleted") {
    item_deleted d;
    RTB_TRY(r.string(obj, "item_id", d.item_id, true));
    return event{d};
  }
  if (type == "conversation.item.input_audio_transcription.completed") {
    input_transcription_completed c;
    RTB_TRY(r.string(obj, "item_id", c.item_id, true));
    RTB_TRY(r.integer(obj, "content_index", c.content_index));
    RTB_TRY(r.string(obj, "transcript", c.transcript));
    return event{c};
  }
  if (type == "conversation.item.input_audio_transcription.failed") {
    input_transcription_failed f;
    RTB_TRY(r.string(obj, "item_id", f.item_id, true));
    RTB_TRY(r.integer(obj, "content_index", f.content_index));
    object err;
    bool found = false;
    RTB_TRY(r.child(obj, "error", err, found));
    if (found) RTB_TRY(read_error_info(r, err, f.error));
    return event{f};
  }
  if (type == "response.function_call_arguments.delta") {
    function_arguments_delta d;
    RTB_TRY(r.string(obj, "response_id", d.response_id));
    RTB_TRY(r.string(obj, "item_id", d.item_id));
    RTB_TRY(r.string(obj, "call_id", d.call_id));
    RTB_TRY(r.string(obj, "delta", d.delta));
    return event{d};
  }
  if (type == "response.function_call_arguments.done") {
    function_arguments_done d;
    RTB_TRY(r.string(obj, "response_id", d.response_id));
    RTB_TRY(r.string(obj, "item_id", d.item_id));
    RTB_TRY(r.string(obj, "call_id", d.call_id, true));
    RTB_TRY(r.string(obj, "name", d.name));
    RTB_TRY(r.string(obj, "arguments", d.arguments));
    return event{d};
  }
  if (type == "error") {
    error_event e;
    object err;
    bool found = false;
    RTB_TRY(r.child(obj, "error", err, found));
    if (!found) return r.missing("error");
    RTB_TRY(read_error_info(r, err, e.error));
    return event{e};
  }
  if (type == "session.created" || type == "session.updated") {
    session_info s;
    RTB_TRY(read_session(r, obj, s));
    if (type == "session.created") return event{session_created{s}};
    return event{session_updated{s}};
  }
  if (type == "rate_limits.updated") {
    rate_limits_updated u;
    value v;
    auto e = obj["rate_limits"].get(v);
    if (e == simdjson::NO_SUCH_FIELD) return event{u};
    if (e) return malformed(e);
    simdjson::ondemand::array limits;
    if (auto e2 = v.get_array().get(limits)) return r.fail(e2, "rate_limits", "an array");
    for (auto item : limits) {
      object limit;
      if (auto e2 = item.get_object().get(limit)) return r.fail(e2, "rate_limits", "an array of objects");
      std::string_view name;
      RTB_TRY(r.string(limit, "name", name));
      if (name != "tokens") continue;
      RTB_TRY(r.integer(limit, "remaining", u.tokens_remaining));
    }
    return event{u};
  }
  return event{unknown_event{type, is_documented(type)}};
}

}  // namespace
}  // namespace rtb::openai
