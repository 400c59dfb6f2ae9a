#include "realtime_bridge/openai/decoder.hpp"

#include <string>

#include "json.hpp"
#include "realtime_bridge/audio.hpp"

// Decoding strategy: every object is read in one pass over its members, in
// whatever order they come; only the top-level "type" is looked up by name,
// and only before anything else is read. simdjson 3.0.1's unordered lookup
// wraps around to the start of an object when a key is not found after the
// current position, and on that second pass it *assumes* (SIMDJSON_ASSUME) the
// object's structure was validated by the first. On malformed input it was
// not, and the assumption fails: an assertion in debug builds, undefined
// behaviour in release (found by fuzz_openai_decoder). Iterating members never
// relies on that assumption, and costs one pass per object.

namespace rtb::openai {

namespace {

using simdjson::ondemand::object;
using simdjson::ondemand::value;

#define RTB_TRY(expr)                                \
  do {                                               \
    if (auto err_ = (expr)) return std::move(*err_); \
  } while (0)

using maybe_error = std::optional<error>;

// Value readers for one event. They remember the event type so every error
// says where it happened, e.g. "response.output_audio.delta: missing field 'delta'".
class reader {
 public:
  explicit reader(std::string_view type) : type_(type) {}

  // A string, or null (read as "").
  maybe_error str(value v, std::string_view key, std::string_view& out) const {
    if (auto e = json::get_string_or_null(v, out)) return fail(e, key, "a string");
    return std::nullopt;
  }
  // A string that must be present and non-empty; `seen` records presence.
  maybe_error required_str(value v, std::string_view key, std::string_view& out, bool& seen) const {
    seen = true;
    RTB_TRY(str(v, key, out));
    if (out.empty()) return error{errc::invalid_value, where(key) + " is empty"};
    return std::nullopt;
  }
  // An integer, or null (left unchanged).
  maybe_error num(value v, std::string_view key, std::int64_t& out) const {
    bool null = false;
    if (auto e = v.is_null().get(null)) return json::decode_error(e);
    if (null) return std::nullopt;
    if (auto e = v.get_int64().get(out)) return fail(e, key, "an integer");
    return std::nullopt;
  }
  // Calls `on(key, value)` for every member of the object `v`; a null `v` has
  // no members. `on` returns an error to stop. `present` (if given) says
  // whether `v` was an object rather than null.
  template <class F>
  maybe_error members(value v, std::string_view key, F&& on, bool* present = nullptr) const {
    bool null = false;
    if (auto e = v.is_null().get(null)) return json::decode_error(e);
    if (present) *present = !null;
    if (null) return std::nullopt;
    object obj;
    if (auto e = v.get_object().get(obj)) return fail(e, key, "an object");
    return members(obj, on);
  }
  template <class F>
  maybe_error members(object& obj, F&& on) const {
    for (auto f : obj) {
      simdjson::ondemand::field field;
      if (auto e = std::move(f).get(field)) return json::decode_error(e);
      std::string_view k;
      if (auto e = field.unescaped_key().get(k)) return json::decode_error(e);
      RTB_TRY(on(k, field.value()));
    }
    return std::nullopt;
  }

  // Consumes a value the bridge does not use, checking that it is valid JSON
  // (On-Demand would otherwise skip it unchecked).
  maybe_error skip(value v) const {
    if (auto e = json::skip_value(v)) {
      if (e == simdjson::DEPTH_ERROR) return error{errc::malformed_json, std::string(type_) + ": nested too deeply"};
      return json::decode_error(e);
    }
    return std::nullopt;
  }

  // The top-level members, except "type": decode() has read that one already,
  // and reading a string twice is unsafe in On-Demand (the second unescape
  // writes past the end of the parser's string buffer; found by fuzzing with
  // an instrumented simdjson).
  template <class F>
  maybe_error top_members(object& obj, F&& on) const {
    return members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "type") return std::nullopt;  // left unconsumed: On-Demand steps over it
      return on(k, v);
    });
  }

  maybe_error require(bool seen, std::string_view key) const {
    if (!seen) return error{errc::missing_field, std::string(type_) + ": missing field '" + std::string(key) + "'"};
    return std::nullopt;
  }
  std::string where(std::string_view key) const { return std::string(type_) + ": field '" + std::string(key) + "'"; }
  error fail(simdjson::error_code e, std::string_view key, std::string_view expected) const {
    if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR || e == simdjson::NUMBER_OUT_OF_RANGE)
      return {errc::wrong_type, where(key) + " must be " + std::string(expected)};
    return json::decode_error(e);
  }

 private:
  std::string_view type_;
};

maybe_error read_error_info(const reader& r, value v, std::string_view key, error_info& out, bool* present = nullptr) {
  return r.members(
      v, key,
      [&](std::string_view k, value m) -> maybe_error {
        if (k == "type") return r.str(m, k, out.type);
        if (k == "code") return r.str(m, k, out.code);
        if (k == "message") return r.str(m, k, out.message);
        if (k == "param") return r.str(m, k, out.param);
        if (k == "event_id") return r.str(m, k, out.event_id);
        return r.skip(m);
      },
      present);
}

maybe_error read_item(const reader& r, value v, item_info& out, bool& seen) {
  return r.members(
      v, "item",
      [&](std::string_view k, value m) -> maybe_error {
        if (k == "id") return r.str(m, k, out.id);
        if (k == "type") return r.str(m, k, out.type);
        if (k == "status") return r.str(m, k, out.status);
        if (k == "role") return r.str(m, k, out.role);
        if (k == "name") return r.str(m, k, out.name);
        if (k == "call_id") return r.str(m, k, out.call_id);
        if (k == "arguments") return r.str(m, k, out.arguments);
        return r.skip(m);
      },
      &seen);
}

// audio.input / audio.output: the format's type, and (output) the voice.
maybe_error read_audio_direction(const reader& r, value v, std::string_view key, std::string_view& format,
                                 std::string_view* voice) {
  return r.members(v, key, [&](std::string_view k, value m) -> maybe_error {
    if (k == "format")
      return r.members(m, k, [&](std::string_view fk, value fm) -> maybe_error {
        if (fk == "type") return r.str(fm, fk, format);
        return r.skip(fm);
      });
    if (voice && k == "voice") return r.str(m, k, *voice);
    return r.skip(m);
  });
}

maybe_error read_session(const reader& r, value v, session_info& out, bool& seen) {
  return r.members(
      v, "session",
      [&](std::string_view k, value m) -> maybe_error {
        if (k == "id") return r.str(m, k, out.id);
        if (k == "model") return r.str(m, k, out.model);
        if (k == "expires_at") return r.num(m, k, out.expires_at);
        if (k == "audio")
          return r.members(m, k, [&](std::string_view ak, value am) -> maybe_error {
            if (ak == "input") return read_audio_direction(r, am, ak, out.input_format, nullptr);
            if (ak == "output") return read_audio_direction(r, am, ak, out.output_format, &out.voice);
            return r.skip(am);
          });
        return r.skip(m);
      },
      &seen);
}

maybe_error read_usage(const reader& r, value v, usage& u) {
  return r.members(v, "usage", [&](std::string_view k, value m) -> maybe_error {
    if (k == "total_tokens") return r.num(m, k, u.total_tokens);
    if (k == "input_tokens") return r.num(m, k, u.input_tokens);
    if (k == "output_tokens") return r.num(m, k, u.output_tokens);
    if (k == "input_token_details")
      return r.members(m, k, [&](std::string_view dk, value dm) -> maybe_error {
        if (dk == "text_tokens") return r.num(dm, dk, u.input_text_tokens);
        if (dk == "audio_tokens") return r.num(dm, dk, u.input_audio_tokens);
        if (dk == "cached_tokens") return r.num(dm, dk, u.input_cached_tokens);
        return r.skip(dm);
      });
    if (k == "output_token_details")
      return r.members(m, k, [&](std::string_view dk, value dm) -> maybe_error {
        if (dk == "text_tokens") return r.num(dm, dk, u.output_text_tokens);
        if (dk == "audio_tokens") return r.num(dm, dk, u.output_audio_tokens);
        return r.skip(dm);
      });
    return r.skip(m);
  });
}

// The `response` object of response.created / response.done.
maybe_error read_response(const reader& r, value v, std::string_view& id, bool& id_seen, std::string_view& status,
                          response_done* done, bool& seen) {
  RTB_TRY(r.members(
      v, "response",
      [&](std::string_view k, value m) -> maybe_error {
        if (k == "id") return r.required_str(m, k, id, id_seen);
        if (k == "status") return r.str(m, k, status);
        if (!done) return r.skip(m);
        if (k == "status_details")
          return r.members(m, k, [&](std::string_view dk, value dm) -> maybe_error {
            if (dk == "reason") return r.str(dm, dk, done->status_reason);
            if (dk == "error") return read_error_info(r, dm, dk, done->error);
            return r.skip(dm);
          });
        if (k == "usage") return read_usage(r, m, done->usage);
        return r.skip(m);
      },
      &seen));
  if (!seen) return std::nullopt;  // the caller reports the missing response
  return r.require(id_seen, "response.id");
}

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

result<event> decode_fields(std::string_view type, object& obj) {
  const reader r(type);

  // Most frequent first: audio deltas arrive ~50 times a second while the AI talks.
  if (type == "response.output_audio.delta" || type == "response.audio.delta") {
    audio_delta d;
    bool has_response = false, has_item = false, has_delta = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response_id") return r.required_str(v, k, d.response_id, has_response);
      if (k == "item_id") return r.required_str(v, k, d.item_id, has_item);
      if (k == "output_index") return r.num(v, k, d.output_index);
      if (k == "content_index") return r.num(v, k, d.content_index);
      if (k == "delta") {
        has_delta = true;
        return r.str(v, k, d.delta);
      }
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_response, "response_id"));
    RTB_TRY(r.require(has_item, "item_id"));
    RTB_TRY(r.require(has_delta, "delta"));
    if (!audio::is_base64(d.delta)) return error{errc::invalid_value, r.where("delta") + " is not base64"};
    return event{d};
  }
  if (type == "response.output_audio_transcript.delta" || type == "response.audio_transcript.delta" ||
      type == "response.output_audio_transcript.done" || type == "response.audio_transcript.done") {
    std::string_view response_id, item_id, text;
    std::int64_t content_index = 0;
    bool has_item = false;
    const bool done = type.ends_with(".done");
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response_id") return r.str(v, k, response_id);
      if (k == "item_id") return r.required_str(v, k, item_id, has_item);
      if (k == "content_index") return r.num(v, k, content_index);
      if (k == (done ? "transcript" : "delta")) return r.str(v, k, text);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_item, "item_id"));
    if (done) return event{transcript_done{response_id, item_id, content_index, text}};
    return event{transcript_delta{response_id, item_id, content_index, text}};
  }
  if (type == "response.output_audio.done" || type == "response.audio.done") {
    audio_done d;
    bool has_response = false, has_item = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response_id") return r.required_str(v, k, d.response_id, has_response);
      if (k == "item_id") return r.required_str(v, k, d.item_id, has_item);
      if (k == "output_index") return r.num(v, k, d.output_index);
      if (k == "content_index") return r.num(v, k, d.content_index);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_response, "response_id"));
    RTB_TRY(r.require(has_item, "item_id"));
    return event{d};
  }
  if (type == "input_audio_buffer.speech_started" || type == "input_audio_buffer.speech_stopped") {
    std::int64_t ms = 0;
    std::string_view item_id;
    const bool started = type == "input_audio_buffer.speech_started";
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == (started ? "audio_start_ms" : "audio_end_ms")) return r.num(v, k, ms);
      if (k == "item_id") return r.str(v, k, item_id);
      return r.skip(v);
    }));
    if (started) return event{speech_started{ms, item_id}};
    return event{speech_stopped{ms, item_id}};
  }
  if (type == "input_audio_buffer.committed") {
    input_committed c;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "previous_item_id") return r.str(v, k, c.previous_item_id);
      if (k == "item_id") return r.str(v, k, c.item_id);
      return r.skip(v);
    }));
    return event{c};
  }
  if (type == "response.created" || type == "response.done") {
    response_done d;
    bool has_response = false, has_id = false;
    const bool created = type == "response.created";
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response")
        return read_response(r, v, d.response_id, has_id, d.status, created ? nullptr : &d, has_response);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_response, "response"));
    if (created) return event{response_created{d.response_id, d.status}};
    return event{d};
  }
  if (type == "response.output_item.added" || type == "response.output_item.done") {
    std::string_view response_id;
    std::int64_t output_index = 0;
    item_info item;
    bool has_item = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response_id") return r.str(v, k, response_id);
      if (k == "output_index") return r.num(v, k, output_index);
      if (k == "item") return read_item(r, v, item, has_item);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_item, "item"));
    if (type == "response.output_item.added") return event{output_item_added{response_id, output_index, item}};
    return event{output_item_done{response_id, output_index, item}};
  }
  if (type == "conversation.item.added" || type == "conversation.item.created" || type == "conversation.item.done") {
    std::string_view previous;
    item_info item;
    bool has_item = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "previous_item_id") return r.str(v, k, previous);
      if (k == "item") return read_item(r, v, item, has_item);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_item, "item"));
    if (type == "conversation.item.done") return event{item_done{previous, item}};
    return event{item_added{previous, item}};
  }
  if (type == "conversation.item.truncated") {
    item_truncated t;
    bool has_item = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "item_id") return r.required_str(v, k, t.item_id, has_item);
      if (k == "content_index") return r.num(v, k, t.content_index);
      if (k == "audio_end_ms") return r.num(v, k, t.audio_end_ms);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_item, "item_id"));
    return event{t};
  }
  if (type == "conversation.item.deleted") {
    item_deleted d;
    bool has_item = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "item_id") return r.required_str(v, k, d.item_id, has_item);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_item, "item_id"));
    return event{d};
  }
  if (type == "conversation.item.input_audio_transcription.completed" ||
      type == "conversation.item.input_audio_transcription.failed") {
    std::string_view item_id, transcript;
    std::int64_t content_index = 0;
    error_info err;
    bool has_item = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "item_id") return r.required_str(v, k, item_id, has_item);
      if (k == "content_index") return r.num(v, k, content_index);
      if (k == "transcript") return r.str(v, k, transcript);
      if (k == "error") return read_error_info(r, v, k, err);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_item, "item_id"));
    if (type.ends_with(".completed")) return event{input_transcription_completed{item_id, content_index, transcript}};
    return event{input_transcription_failed{item_id, content_index, err}};
  }
  if (type == "response.function_call_arguments.delta") {
    function_arguments_delta d;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response_id") return r.str(v, k, d.response_id);
      if (k == "item_id") return r.str(v, k, d.item_id);
      if (k == "call_id") return r.str(v, k, d.call_id);
      if (k == "delta") return r.str(v, k, d.delta);
      return r.skip(v);
    }));
    return event{d};
  }
  if (type == "response.function_call_arguments.done") {
    function_arguments_done d;
    bool has_call = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "response_id") return r.str(v, k, d.response_id);
      if (k == "item_id") return r.str(v, k, d.item_id);
      if (k == "call_id") return r.required_str(v, k, d.call_id, has_call);
      if (k == "name") return r.str(v, k, d.name);
      if (k == "arguments") return r.str(v, k, d.arguments);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_call, "call_id"));
    return event{d};
  }
  if (type == "error") {
    error_event e;
    bool has_error = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "error") return read_error_info(r, v, k, e.error, &has_error);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_error, "error"));
    return event{e};
  }
  if (type == "session.created" || type == "session.updated") {
    session_info s;
    bool has_session = false;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k == "session") return read_session(r, v, s, has_session);
      return r.skip(v);
    }));
    RTB_TRY(r.require(has_session, "session"));
    if (type == "session.created") return event{session_created{s}};
    return event{session_updated{s}};
  }
  if (type == "rate_limits.updated") {
    rate_limits_updated u;
    RTB_TRY(r.top_members(obj, [&](std::string_view k, value v) -> maybe_error {
      if (k != "rate_limits") return r.skip(v);
      simdjson::ondemand::array limits;
      if (auto e = v.get_array().get(limits)) return r.fail(e, k, "an array");
      for (auto item : limits) {
        value limit;
        if (auto e = std::move(item).get(limit)) return json::decode_error(e);
        std::string_view name;
        std::int64_t remaining = -1;
        auto inner = r.members(limit, k, [&](std::string_view lk, value lv) -> maybe_error {
          if (lk == "name") return r.str(lv, lk, name);
          if (lk == "remaining") return r.num(lv, lk, remaining);
          return r.skip(lv);
        });
        if (inner) return inner;
        if (name == "tokens") u.tokens_remaining = remaining;
      }
      return std::nullopt;
    }));
    return event{u};
  }
  // Other events: make sure the rest of the object is well-formed enough to
  // walk, so a broken message is not passed on as a harmless unknown event.
  RTB_TRY(r.top_members(obj, [&](std::string_view, value v) -> maybe_error { return r.skip(v); }));
  return event{unknown_event{type, is_documented(type)}};
}

}  // namespace

struct decoder::impl {
  impl(std::size_t max, shared_parser* shared) : max_bytes(max), parser(shared) {}
  std::size_t max_bytes;
  json::decoder_parser parser;
};

decoder::decoder(std::size_t max_message_bytes, shared_parser* parser)
    : impl_(std::make_unique<impl>(max_message_bytes, parser)) {}
decoder::~decoder() = default;
decoder::decoder(decoder&&) noexcept = default;
decoder& decoder::operator=(decoder&&) noexcept = default;

result<event> decoder::decode(const padded_buffer& message) {
  impl& d = *impl_;
  simdjson::ondemand::document doc;
  object obj;
  if (auto err = json::open_message(d.parser.get(), d.max_bytes, message, doc, obj)) return std::move(*err);
  // "type" is the one member looked up by name: first, from the start of the
  // object, so the lookup never wraps around (see the note at the top).
  std::string_view type;
  {
    value v;
    auto e = obj["type"].get(v);
    if (e == simdjson::NO_SUCH_FIELD) return error{errc::missing_field, "missing field 'type'"};
    if (e) return json::decode_error(e);
    if (auto e2 = v.get_string().get(type)) {
      if (e2 == simdjson::INCORRECT_TYPE) return error{errc::wrong_type, "field 'type' must be a string"};
      return json::decode_error(e2);
    }
  }
  if (auto e = obj.reset().error()) return json::decode_error(e);
  auto ev = decode_fields(type, obj);
  if (ev && json::has_trailing_content(doc))
    return error{errc::malformed_json, "trailing content after the JSON object"};
  return ev;
}

}  // namespace rtb::openai
