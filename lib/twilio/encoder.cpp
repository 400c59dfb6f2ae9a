#include "realtime_bridge/twilio/encoder.hpp"

#include "json.hpp"

namespace rtb::twilio {

void encode_media(std::string& out, std::string_view stream_sid, std::string_view payload_base64) {
  out.append(R"({"event":"media","streamSid":)");
  json::append_string(out, stream_sid);
  out.append(R"(,"media":{"payload":")");
  out.append(payload_base64);
  out.append(R"("}})");
}

void encode_mark(std::string& out, std::string_view stream_sid, std::string_view name) {
  out.append(R"({"event":"mark","streamSid":)");
  json::append_string(out, stream_sid);
  out.append(R"(,"mark":{"name":)");
  json::append_string(out, name);
  out.append("}}");
}

void encode_clear(std::string& out, std::string_view stream_sid) {
  out.append(R"({"event":"clear","streamSid":)");
  json::append_string(out, stream_sid);
  out.push_back('}');
}

}  // namespace rtb::twilio
