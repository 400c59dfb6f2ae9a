#include "json.hpp"

#include <cmath>

#include <fmt/format.h>

namespace rtb::json {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is invalid
// (truncated, overlong, a surrogate, or above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  std::size_t plain_from = 0;  // start of the run of bytes copied as they are
  std::size_t i = 0;
  auto flush = [&] { out.append(text.data() + plain_from, i - plain_from); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (std::size_t n = utf8_sequence_length(text, i)) {
        i += n;
        continue;
      }
      flush();
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      plain_from = ++i;
      continue;
    }
    flush();
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        out.append("\\u00");
        out.push_back(hex_digits[c >> 4]);
        out.push_back(hex_digits[c & 0xF]);
    }
    plain_from = ++i;
  }
  flush();
  out.push_back('"');
}

void append_int(std::string& out, std::int64_t value) { fmt::format_to(std::back_inserter(out), "{}", value); }

void append_double(std::string& out, double value) {
  // JSON has no infinities or NaN: write null rather than invalid JSON.
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}", value);
}

simdjson::error_code get_counter(value v, std::uint64_t& out) noexcept {
  simdjson::ondemand::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type == simdjson::ondemand::json_type::string) return v.get_uint64_in_string().get(out);
  return v.get_uint64().get(out);
}

rtb::error decode_error(simdjson::error_code e) {
  if (e == simdjson::CAPACITY) return {errc::too_large, "message exceeds the size limit"};
  return {errc::malformed_json, std::string("not valid JSON: ") + simdjson::error_message(e)};
}

std::optional<rtb::error> open_message(simdjson::ondemand::parser& parser, std::size_t max_bytes,
                                       const padded_buffer& message, simdjson::ondemand::document& doc,
                                       simdjson::ondemand::object& obj) {
  if (message.size() > max_bytes) return rtb::error{errc::too_large, "message exceeds the size limit"};
  if (auto e = parser.iterate(message.data(), message.size(), message.readable()).get(doc)) return decode_error(e);
  if (auto e = doc.get_object().get(obj)) {
    if (e == simdjson::INCORRECT_TYPE) return rtb::error{errc::malformed_json, "not a JSON object"};
    return decode_error(e);
  }
  return std::nullopt;
}

simdjson::error_code skip_value(value v, int max_depth) noexcept {
  if (max_depth < 0) return simdjson::DEPTH_ERROR;
  simdjson::ondemand::json_type type;
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object obj;
      if (auto e = v.get_object().get(obj)) return e;
      for (auto f : obj) {
        simdjson::ondemand::field field;
        if (auto e = std::move(f).get(field)) return e;
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        if (auto e = skip_value(field.value(), max_depth - 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      for (auto element : arr) {
        value item;
        if (auto e = std::move(element).get(item)) return e;
        if (auto e = skip_value(item, max_depth - 1)) return e;
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view ignored;
      return v.get_string().get(ignored);
    }
    case simdjson::ondemand::json_type::number: {
      simdjson::ondemand::number ignored;
      return v.get_number().get(ignored);
    }
    case simdjson::ondemand::json_type::boolean: {
      bool ignored = false;
      return v.get_bool().get(ignored);
    }
    case simdjson::ondemand::json_type::null: {
      bool null = false;
      if (auto e = v.is_null().get(null)) return e;
      return null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
    }
  }
  return simdjson::TAPE_ERROR;
}

simdjson::error_code get_string_or_null(value v, std::string_view& out) noexcept {
  bool null = false;
  if (auto e = v.is_null().get(null)) return e;
  if (null) {
    out = {};
    return simdjson::SUCCESS;
  }
  return v.get_string().get(out);
}

}  // namespace rtb::json
