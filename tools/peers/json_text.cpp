#include "peers/json_text.hpp"

#include <cmath>
#include <cstdio>
#include <utility>

namespace rtb::peers {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

std::string json_double(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  std::string s(buf);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

json_object& json_object::str(std::string_view k, std::string_view value) {
  key(k);
  append_json_string(text_, value);
  return *this;
}

json_object& json_object::raw(std::string_view k, std::string_view json) {
  key(k);
  text_ += json;
  return *this;
}

json_object& json_object::num(std::string_view k, std::int64_t value) {
  key(k);
  text_ += std::to_string(value);
  return *this;
}

json_object& json_object::dbl(std::string_view k, double value) {
  key(k);
  text_ += json_double(value);
  return *this;
}

json_object& json_object::boolean(std::string_view k, bool value) {
  key(k);
  text_ += value ? "true" : "false";
  return *this;
}

json_object& json_object::null(std::string_view k) {
  key(k);
  text_ += "null";
  return *this;
}

std::string json_object::done() {
  text_.push_back('}');
  return std::move(text_);
}

void json_object::key(std::string_view k) {
  if (!first_) text_.push_back(',');
  first_ = false;
  append_json_string(text_, k);
  text_.push_back(':');
}

}  // namespace rtb::peers
