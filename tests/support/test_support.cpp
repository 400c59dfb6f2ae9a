#include "support/test_support.hpp"

namespace rtb::test {

std::string base64(std::string_view bytes) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += table[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string mulaw(std::size_t bytes, unsigned char fill) { return base64(std::string(bytes, static_cast<char>(fill))); }

twilio::start start_event(std::string_view stream_sid, std::string_view call_sid) {
  twilio::start s;
  s.sequence_number = 1;
  s.stream_sid = stream_sid;
  s.call_sid = call_sid;
  s.account_sid = "AC1";
  s.has_media_format = true;
  s.format = {"audio/x-mulaw", 8000, 1};
  return s;
}

twilio::media media_event(std::string_view payload) {
  twilio::media m;
  m.payload = payload;
  m.track = "inbound";
  return m;
}

twilio::mark mark_event(std::string_view name) {
  twilio::mark m;
  m.name = name;
  return m;
}

openai::audio_delta delta(std::string_view response_id, std::string_view item_id, std::string_view payload) {
  openai::audio_delta d;
  d.response_id = response_id;
  d.item_id = item_id;
  d.delta = payload;
  return d;
}

openai::response_created response_created(std::string_view response_id) { return {response_id, "in_progress"}; }

openai::response_done response_done(std::string_view response_id, std::string_view status) {
  openai::response_done d;
  d.response_id = response_id;
  d.status = status;
  return d;
}

openai::speech_started speech_started(std::string_view item_id) { return {0, item_id}; }

openai::session_updated session_updated_pcmu(std::string_view session_id) {
  openai::session_updated u;
  u.session.id = session_id;
  u.session.model = "gpt-realtime";
  u.session.input_format = "audio/pcmu";
  u.session.output_format = "audio/pcmu";
  u.session.voice = "marin";
  return u;
}

std::vector<std::string> recording_transport::matching(std::string_view needle) const {
  std::vector<std::string> out;
  for (const auto& m : sent)
    if (m.find(needle) != std::string::npos) out.push_back(m);
  return out;
}

bool recording_observer::saw(std::string_view prefix) const {
  for (const auto& l : lines)
    if (l.substr(0, prefix.size()) == prefix) return true;
  return false;
}

}  // namespace rtb::test

#include <algorithm>
#include <charconv>
#include <map>

#include <simdjson.h>

namespace rtb::test {
namespace {

// A drop key without dots applies at any depth; "a.b" only at that path.
bool dropped(std::initializer_list<std::string_view> drop, std::string_view path, std::string_view key) {
  for (auto d : drop) {
    if (d.find('.') == std::string_view::npos ? d == key : d == path) return true;
  }
  return false;
}

void canonical(simdjson::dom::element e, std::initializer_list<std::string_view> drop, const std::string& path,
               std::string& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::map<std::string_view, simdjson::dom::element> sorted;
      simdjson::dom::object obj;
      if (e.get(obj)) return;
      for (auto [k, v] : obj) {
        const std::string child = path.empty() ? std::string(k) : path + "." + std::string(k);
        if (!dropped(drop, child, k)) sorted.emplace(k, v);
      }
      out += '{';
      bool first = true;
      for (auto& [k, v] : sorted) {
        if (!first) out += ',';
        first = false;
        out += '"';
        out += k;
        out += "\":";
        canonical(v, drop, path.empty() ? std::string(k) : path + "." + std::string(k), out);
      }
      out += '}';
      break;
    }
    case simdjson::dom::element_type::ARRAY: {
      out += '[';
      bool first = true;
      simdjson::dom::array arr;
      if (e.get(arr)) return;
      for (auto v : arr) {
        if (!first) out += ',';
        first = false;
        canonical(v, drop, path + "[]", out);
      }
      out += ']';
      break;
    }
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: {
      // Compare numbers by value: 1 and 1.0 are the same number.
      char buf[64];
      double d = 0;
      if (e.get(d)) return;
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      break;
    }
    default: out += simdjson::minify(e);
  }
}

}  // namespace

std::string canonical_json(std::string_view json, std::initializer_list<std::string_view> drop_keys) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root)) return "<invalid JSON: " + std::string(json) + ">";
  std::string out;
  canonical(root, drop_keys, "", out);
  return out;
}

}  // namespace rtb::test
