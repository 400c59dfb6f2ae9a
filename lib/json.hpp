// Internal JSON helpers shared by the codecs: escaping on the way out, typed
// field access on the way in.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/shared_parser.hpp"

namespace rtb {

struct shared_parser::impl {
  simdjson::ondemand::parser parser;  // no limit of its own: each decoder checks its own
};

}  // namespace rtb

namespace rtb::json {

/// The parser a decoder decodes in: the shared one it was given, else its own.
class decoder_parser {
 public:
  explicit decoder_parser(shared_parser* shared)
      : own_(shared ? nullptr : std::make_unique<shared_parser>()),
        parser_((shared ? shared : own_.get())->get().parser) {}
  simdjson::ondemand::parser& get() noexcept { return parser_; }

 private:
  std::unique_ptr<shared_parser> own_;
  simdjson::ondemand::parser& parser_;
};

}  // namespace rtb::json

namespace rtb::json {

static_assert(padded_buffer::padding >= simdjson::SIMDJSON_PADDING);

/// A simdjson error as the decoders report it: too_large for CAPACITY,
/// malformed_json otherwise.
rtb::error decode_error(simdjson::error_code e);

/// Starts decoding one message: checks it against `max_bytes`, iterates it
/// into `doc` and opens its top-level object into `obj`.
std::optional<rtb::error> open_message(simdjson::ondemand::parser& parser, std::size_t max_bytes,
                                       const padded_buffer& message, simdjson::ondemand::document& doc,
                                       simdjson::ondemand::object& obj);

/// True when something follows the (fully consumed) top-level value.
inline bool has_trailing_content(simdjson::ondemand::document& doc) { return !doc.current_location().error(); }

/// Appends `text` as a JSON string literal, quotes included. Escapes quotes,
/// backslashes and control characters; passes valid UTF-8 through unchanged;
/// replaces each invalid UTF-8 byte with U+FFFD, so the output is always valid
/// JSON whatever the input.
void append_string(std::string& out, std::string_view text);

/// Appends a decimal integer.
void append_int(std::string& out, std::int64_t value);

/// Appends a double in the shortest form that reads back exactly; null for
/// infinities and NaN, which JSON cannot express.
void append_double(std::string& out, double value);

using simdjson::ondemand::value;

/// Reads an unsigned counter that may be sent as a JSON number or as a string
/// of decimal digits (Twilio sends strings).
simdjson::error_code get_counter(value v, std::uint64_t& out) noexcept;

/// Consumes a value the caller has no use for, checking that it is valid JSON
/// all the way down (On-Demand would otherwise skip it without looking).
/// Nesting deeper than `max_depth` is DEPTH_ERROR.
simdjson::error_code skip_value(value v, int max_depth = 64) noexcept;

/// Reads a string, accepting null as "".
simdjson::error_code get_string_or_null(value v, std::string_view& out) noexcept;

}  // namespace rtb::json
