#include "support/twilio_playout.hpp"

#include <simdjson.h>

#include "realtime_bridge/audio.hpp"

namespace rtb::test {

void simulated_twilio::send_text(std::string_view message) {
  sent.emplace_back(message);
  const timestamp now = clock_();
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(message.data(), message.size()).get(obj)) {
    violations.push_back("not a JSON object: " + std::string(message));
    return;
  }
  std::string_view event, sid;
  if (obj["event"].get_string().get(event) || obj["streamSid"].get_string().get(sid) || sid != expected_stream_sid) {
    violations.push_back("missing event or wrong streamSid: " + std::string(message));
    return;
  }
  const std::size_t fields = obj.size();
  if (event == "media") {
    std::string_view payload;
    if (fields != 3 || obj["media"].get_object().size() != 1 || obj["media"]["payload"].get_string().get(payload) ||
        !audio::is_base64(payload)) {
      violations.push_back("bad media: " + std::string(message));
      return;
    }
    media_payloads.emplace_back(payload);
    playout.media(audio::base64_decoded_size(payload), now);
  } else if (event == "mark") {
    std::string_view name;
    if (fields != 3 || obj["mark"].get_object().size() != 1 || obj["mark"]["name"].get_string().get(name)) {
      violations.push_back("bad mark: " + std::string(message));
      return;
    }
    playout.mark(std::string(name), now);
  } else if (event == "clear") {
    if (fields != 2) {
      violations.push_back("bad clear: " + std::string(message));
      return;
    }
    ++clears;
    playout.clear(now);
  } else {
    violations.push_back("unsupported event: " + std::string(message));
  }
}

void simulated_twilio::close(std::uint16_t code, std::string_view reason) { closed.emplace(code, std::string(reason)); }

}  // namespace rtb::test
