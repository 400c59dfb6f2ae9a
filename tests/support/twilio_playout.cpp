#include "support/twilio_playout.hpp"

#include <simdjson.h>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/playout_mark.hpp"

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

namespace rtb::test {

void twilio_link::send(const actions& out, timestamp now) {
  const timestamp at = now + to_twilio_;
  for (const auto& a : out) {
    if (const auto* m = std::get_if<to_twilio::media>(&a))
      to_twilio_queue_.push_back({at, message::kind::media, audio::base64_decoded_size(m->payload), {}});
    else if (const auto* k = std::get_if<to_twilio::mark>(&a))
      to_twilio_queue_.push_back({at, message::kind::mark, 0, to_string(k->mark)});
    else if (std::holds_alternative<to_twilio::clear>(a))
      to_twilio_queue_.push_back({at, message::kind::clear, 0, {}});
  }
}

std::vector<twilio_link::echo> twilio_link::advance(timestamp now) {
  std::vector<echo> arrived;
  // Three clocks run at once: messages reaching Twilio, Twilio sending echoes,
  // echoes reaching the bridge. Take the earliest event each time; at equal
  // times Twilio handles what it receives before echoing.
  for (;;) {
    const std::optional<timestamp> receive =
        to_twilio_queue_.empty() ? std::nullopt : std::optional(to_twilio_queue_.front().at);
    const std::optional<timestamp> emit = playout.next_echo();
    const std::optional<timestamp> deliver =
        to_bridge_queue_.empty() ? std::nullopt : std::optional(to_bridge_queue_.front().at);
    std::optional<timestamp> next;
    for (const auto& t : {receive, emit, deliver})
      if (t && (!next || *t < *next)) next = t;
    if (!next || *next > now) break;

    if (receive == next) {
      message m = std::move(to_twilio_queue_.front());
      to_twilio_queue_.pop_front();
      switch (m.what) {
        case message::kind::media: playout.media(m.bytes, m.at); break;
        case message::kind::mark: playout.mark(std::move(m.name), m.at); break;
        case message::kind::clear: playout.clear(m.at); break;
      }
    } else if (emit == next) {
      for (auto& name : playout.take_echoes(*emit)) to_bridge_queue_.push_back({*emit + to_bridge_, std::move(name)});
    } else {
      arrived.push_back(std::move(to_bridge_queue_.front()));
      to_bridge_queue_.pop_front();
    }
  }
  return arrived;
}

}  // namespace rtb::test
