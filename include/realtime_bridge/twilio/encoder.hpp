// The three messages we may send to Twilio, in exactly Twilio's shape.
//
// Each function appends one complete JSON message to `out`. No other fields
// are ever added: Twilio rejects unexpected fields (warning 31951).
#pragma once

#include <string>
#include <string_view>

namespace rtb::twilio {

/// `{"event":"media","streamSid":…,"media":{"payload":…}}`. `payload_base64`
/// is copied verbatim and must already be base64.
void encode_media(std::string& out, std::string_view stream_sid, std::string_view payload_base64);

/// `{"event":"mark","streamSid":…,"mark":{"name":…}}`
void encode_mark(std::string& out, std::string_view stream_sid, std::string_view name);

/// `{"event":"clear","streamSid":…}`
void encode_clear(std::string& out, std::string_view stream_sid);

}  // namespace rtb::twilio
