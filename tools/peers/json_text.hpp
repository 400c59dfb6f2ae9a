// JSON text for the test peers: strings escaped per RFC 8259 and objects
// written field by field, in order. (The peers build their messages by hand,
// independently of the core's encoders, so that they check those encoders
// rather than share their mistakes.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rtb::peers {

/// Appends `s` as a quoted JSON string (control characters as \uXXXX).
void append_json_string(std::string& out, std::string_view s);

/// `s` as a quoted JSON string.
std::string json_string(std::string_view s);

/// A JSON number that reads back as a double ("1.0", not "1"); null when not finite.
std::string json_double(double v);

/// A JSON object written field by field, in order:
///   json_object{}.str("type", "error").num("n", 1).done()
class json_object {
 public:
  json_object& str(std::string_view key, std::string_view value);
  json_object& raw(std::string_view key, std::string_view json);  ///< `json` must already be valid JSON
  json_object& num(std::string_view key, std::int64_t value);
  json_object& dbl(std::string_view key, double value);
  json_object& boolean(std::string_view key, bool value);
  json_object& null(std::string_view key);
  std::string done();

 private:
  void key(std::string_view k);
  std::string text_ = "{";
  bool first_ = true;
};

}  // namespace rtb::peers
