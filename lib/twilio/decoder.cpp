#include "realtime_bridge/twilio/decoder.hpp"

#include <string>
#include <utility>
#include <vector>

#include "json.hpp"
#include "realtime_bridge/audio.hpp"

namespace rtb::twilio {

namespace {

using simdjson::ondemand::object;
using simdjson::ondemand::value;

error wrong_type(std::string_view field, std::string_view expected) {
  return {errc::wrong_type, "field '" + std::string(field) + "' must be " + std::string(expected)};
}

error missing(std::string_view field) { return {errc::missing_field, "missing field '" + std::string(field) + "'"}; }

// Type errors inside a field become wrong_type; structural ones stay malformed.
error field_error(simdjson::error_code e, std::string_view field, std::string_view expected) {
  if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR || e == simdjson::NUMBER_OUT_OF_RANGE)
    return wrong_type(field, expected);
  return json::decode_error(e);
}

constexpr std::string_view a_string = "a string";
constexpr std::string_view a_counter = "a number or a string of digits";

}  // namespace

struct decoder::impl {
  impl(std::size_t max, shared_parser* shared) : max_bytes(max), parser(shared) {}
  std::size_t max_bytes;

  json::decoder_parser parser;
  std::vector<std::string_view> tracks;
  std::vector<custom_parameter> parameters;
  std::vector<unknown_field> unknown;

  // Each parse_* reads one payload object; nullopt on success.
  std::optional<error> parse_start(value v, start& s, bool& has_stream, bool& has_call);
  std::optional<error> parse_media_format(value v, media_format& f);
  std::optional<error> parse_media(value v, media& m, bool& has_payload);
  std::optional<error> parse_mark(value v, mark& m, bool& has_name);
  std::optional<error> parse_dtmf(value v, dtmf& d, bool& has_digit);
  std::optional<error> parse_stop(value v, stop& s);
};

// Iterates the fields of the object `v` (named `parent` for diagnostics) and
// calls `on_field(key, value)`, which returns: nullopt when it consumed the
// field, an error to abort, or `skip` to record the key as unknown.
namespace {
struct skip_t {};
constexpr skip_t skip{};
}  // namespace

template <class F>
static std::optional<error> for_each_field(value v, std::string_view parent, std::vector<unknown_field>& unknown,
                                           F&& on_field) {
  object obj;
  if (auto e = v.get_object().get(obj)) return field_error(e, parent, "an object");
  for (auto f : obj) {
    simdjson::ondemand::field field;
    if (auto e = std::move(f).get(field)) return json::decode_error(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return json::decode_error(e);
    value fv = field.value();
    std::variant<std::monostate, error, skip_t> r = on_field(key, fv);
    if (auto* err = std::get_if<error>(&r)) return std::move(*err);
    if (std::holds_alternative<skip_t>(r)) {
      unknown.push_back({parent, key});
      if (auto e = json::skip_value(fv)) return json::decode_error(e);  // tolerated, but it must be valid JSON
    }
  }
  return std::nullopt;
}

using field_result = std::variant<std::monostate, error, skip_t>;

static field_result read_string(value v, std::string_view name, std::string_view& out) {
  if (auto e = v.get_string().get(out)) return field_error(e, name, a_string);
  return std::monostate{};
}

static field_result read_counter(value v, std::string_view name, std::uint64_t& out) {
  if (auto e = json::get_counter(v, out)) return field_error(e, name, a_counter);
  return std::monostate{};
}

static field_result read_u32(value v, std::string_view name, std::uint32_t& out) {
  std::uint64_t n = 0;
  if (auto e = json::get_counter(v, n)) return field_error(e, name, a_counter);
  if (n > 0xFFFFFFFFu) return wrong_type(name, "a 32-bit number");
  out = static_cast<std::uint32_t>(n);
  return std::monostate{};
}

std::optional<error> decoder::impl::parse_media_format(value v, media_format& f) {
  return for_each_field(v, "start.mediaFormat", unknown, [&](std::string_view k, value fv) -> field_result {
    if (k == "encoding") return read_string(fv, "start.mediaFormat.encoding", f.encoding);
    if (k == "sampleRate") return read_u32(fv, "start.mediaFormat.sampleRate", f.sample_rate);
    if (k == "channels") return read_u32(fv, "start.mediaFormat.channels", f.channels);
    return skip;
  });
}

std::optional<error> decoder::impl::parse_start(value v, start& s, bool& has_stream, bool& has_call) {
  return for_each_field(v, "start", unknown, [&](std::string_view k, value fv) -> field_result {
    if (k == "streamSid") {
      has_stream = true;
      return read_string(fv, "start.streamSid", s.stream_sid);
    }
    if (k == "callSid") {
      has_call = true;
      return read_string(fv, "start.callSid", s.call_sid);
    }
    if (k == "accountSid") return read_string(fv, "start.accountSid", s.account_sid);
    if (k == "tracks") {
      simdjson::ondemand::array arr;
      if (auto e = fv.get_array().get(arr)) return field_error(e, "start.tracks", "an array of strings");
      for (auto t : arr) {
        std::string_view track;
        if (auto e = t.get_string().get(track)) return field_error(e, "start.tracks", "an array of strings");
        tracks.push_back(track);
      }
      return std::monostate{};
    }
    if (k == "mediaFormat") {
      s.has_media_format = true;
      if (auto err = parse_media_format(fv, s.format)) return std::move(*err);
      return std::monostate{};
    }
    if (k == "customParameters") {
      object params;
      if (auto e = fv.get_object().get(params)) return field_error(e, "start.customParameters", "an object");
      for (auto p : params) {
        simdjson::ondemand::field field;
        if (auto e = std::move(p).get(field)) return json::decode_error(e);
        custom_parameter cp;
        if (auto e = field.unescaped_key().get(cp.name)) return json::decode_error(e);
        if (auto e = field.value().get_string().get(cp.value))
          return field_error(e, "start.customParameters", "an object of strings");
        parameters.push_back(cp);
      }
      return std::monostate{};
    }
    return skip;
  });
}

std::optional<error> decoder::impl::parse_media(value v, media& m, bool& has_payload) {
  return for_each_field(v, "media", unknown, [&](std::string_view k, value fv) -> field_result {
    if (k == "payload") {
      has_payload = true;
      return read_string(fv, "media.payload", m.payload);
    }
    if (k == "track") return read_string(fv, "media.track", m.track);
    if (k == "chunk") return read_counter(fv, "media.chunk", m.chunk);
    if (k == "timestamp") return read_counter(fv, "media.timestamp", m.timestamp_ms);
    return skip;
  });
}

std::optional<error> decoder::impl::parse_mark(value v, mark& m, bool& has_name) {
  return for_each_field(v, "mark", unknown, [&](std::string_view k, value fv) -> field_result {
    if (k == "name") {
      has_name = true;
      return read_string(fv, "mark.name", m.name);
    }
    return skip;
  });
}

std::optional<error> decoder::impl::parse_dtmf(value v, dtmf& d, bool& has_digit) {
  return for_each_field(v, "dtmf", unknown, [&](std::string_view k, value fv) -> field_result {
    if (k == "digit") {
      has_digit = true;
      return read_string(fv, "dtmf.digit", d.digit);
    }
    if (k == "track") return read_string(fv, "dtmf.track", d.track);
    return skip;
  });
}

std::optional<error> decoder::impl::parse_stop(value v, stop& s) {
  return for_each_field(v, "stop", unknown, [&](std::string_view k, value fv) -> field_result {
    if (k == "accountSid") return read_string(fv, "stop.accountSid", s.account_sid);
    if (k == "callSid") return read_string(fv, "stop.callSid", s.call_sid);
    return skip;
  });
}

decoder::decoder(std::size_t max_message_bytes, shared_parser* parser)
    : impl_(std::make_unique<impl>(max_message_bytes, parser)) {}
decoder::~decoder() = default;
decoder::decoder(decoder&&) noexcept = default;
decoder& decoder::operator=(decoder&&) noexcept = default;

std::span<const unknown_field> decoder::unknown_fields() const noexcept { return impl_->unknown; }

result<event> decoder::decode(const padded_buffer& message) {
  impl& d = *impl_;
  d.tracks.clear();
  d.parameters.clear();
  d.unknown.clear();
  simdjson::ondemand::document doc;
  object obj;
  if (auto err = json::open_message(d.parser.get(), d.max_bytes, message, doc, obj)) return std::move(*err);

  // One pass in whatever order the fields come. Each payload object is parsed
  // into its own struct by its key; `event` decides which one is used.
  std::string_view name;
  bool has_event = false;
  std::uint64_t seq = 0;
  std::string_view stream_sid;
  connected conn;
  start st;
  media md;
  mark mk;
  dtmf dt;
  stop sp;
  bool has_start = false, has_start_stream = false, has_start_call = false;
  bool has_media = false, has_payload = false;
  bool has_mark = false, has_mark_name = false;
  bool has_dtmf = false, has_digit = false;
  bool has_stop = false;

  for (auto f : obj) {
    simdjson::ondemand::field field;
    if (auto e = std::move(f).get(field)) return json::decode_error(e);
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return json::decode_error(e);
    value v = field.value();
    std::optional<error> err;
    if (key == "event") {
      has_event = true;
      if (auto e = v.get_string().get(name)) return field_error(e, "event", a_string);
    } else if (key == "sequenceNumber") {
      if (auto e = json::get_counter(v, seq)) return field_error(e, "sequenceNumber", a_counter);
    } else if (key == "streamSid") {
      if (auto e = v.get_string().get(stream_sid)) return field_error(e, "streamSid", a_string);
    } else if (key == "protocol") {
      if (auto e = v.get_string().get(conn.protocol)) return field_error(e, "protocol", a_string);
    } else if (key == "version") {
      if (auto e = v.get_string().get(conn.version)) return field_error(e, "version", a_string);
    } else if (key == "start") {
      has_start = true;
      err = d.parse_start(v, st, has_start_stream, has_start_call);
    } else if (key == "media") {
      has_media = true;
      err = d.parse_media(v, md, has_payload);
    } else if (key == "mark") {
      has_mark = true;
      err = d.parse_mark(v, mk, has_mark_name);
    } else if (key == "dtmf") {
      has_dtmf = true;
      err = d.parse_dtmf(v, dt, has_digit);
    } else if (key == "stop") {
      has_stop = true;
      err = d.parse_stop(v, sp);
    } else {
      d.unknown.push_back({"", key});
      if (auto e = json::skip_value(v)) return json::decode_error(e);  // tolerated, but it must be valid JSON
    }
    if (err) return std::move(*err);
  }
  if (json::has_trailing_content(doc)) return error{errc::malformed_json, "trailing content after the JSON object"};
  if (!has_event) return missing("event");

  // A payload object that does not belong to this event is an unknown field.
  auto foreign_payload = [&](std::string_view expected) {
    const std::pair<bool, std::string_view> payloads[] = {
        {has_start, "start"}, {has_media, "media"}, {has_mark, "mark"}, {has_dtmf, "dtmf"}, {has_stop, "stop"}};
    for (const auto& [seen, key] : payloads)
      if (seen && key != expected) d.unknown.push_back({"", key});
  };

  if (name == "media") {
    foreign_payload("media");
    if (!has_media) return missing("media");
    if (!has_payload) return missing("media.payload");
    if (!audio::is_base64(md.payload)) return error{errc::invalid_value, "field 'media.payload' is not base64"};
    md.sequence_number = seq;
    md.stream_sid = stream_sid;
    return event{md};
  }
  if (name == "mark") {
    foreign_payload("mark");
    if (!has_mark) return missing("mark");
    if (!has_mark_name) return missing("mark.name");
    mk.sequence_number = seq;
    mk.stream_sid = stream_sid;
    return event{mk};
  }
  if (name == "start") {
    foreign_payload("start");
    if (!has_start) return missing("start");
    if (!has_start_stream) return missing("start.streamSid");
    if (!has_start_call) return missing("start.callSid");
    st.sequence_number = seq;
    st.tracks = d.tracks;
    st.custom_parameters = d.parameters;
    return event{st};
  }
  if (name == "dtmf") {
    foreign_payload("dtmf");
    if (!has_dtmf) return missing("dtmf");
    if (!has_digit) return missing("dtmf.digit");
    dt.sequence_number = seq;
    dt.stream_sid = stream_sid;
    return event{dt};
  }
  if (name == "stop") {
    foreign_payload("stop");
    sp.sequence_number = seq;
    sp.stream_sid = stream_sid;
    return event{sp};
  }
  if (name == "connected") {
    foreign_payload("");
    return event{conn};
  }
  return event{unknown_event{name}};
}

}  // namespace rtb::twilio
