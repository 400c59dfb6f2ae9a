#include "support/twilio_playout.hpp"

#include <algorithm>

#include <simdjson.h>

#include "realtime_bridge/audio.hpp"

namespace rtb::test {

std::uint64_t playout_model::played_of(const std::vector<chunk>& chunks, timestamp now) {
  std::uint64_t played = 0;
  for (const auto& c : chunks) {
    if (now <= c.start) break;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - c.start).count();
    played += std::min<std::uint64_t>(c.bytes, static_cast<std::uint64_t>(us) * audio::mulaw_bytes_per_ms / 1000);
  }
  return played;
}

void playout_model::media(std::uint64_t bytes, timestamp now) {
  const timestamp start = busy_until_ > now ? busy_until_ : now + start_delay_;
  chunks_.push_back({start, bytes});
  busy_until_ = start + std::chrono::microseconds(bytes * 1000 / audio::mulaw_bytes_per_ms);
}

void playout_model::mark(std::string name, timestamp now) {
  pending_.push_back({std::move(name), busy_until_ > now ? busy_until_ : now});
}

void playout_model::clear(timestamp now) {
  const std::uint64_t heard = played_of(chunks_, now);
  heard_at_clears_.push_back(audio::mulaw_ms(heard));
  played_before_ += heard;
  chunks_.clear();
  busy_until_ = now;
  for (auto& p : pending_) p.due = std::min(p.due, now);
}

std::optional<timestamp> playout_model::next_echo() const {
  if (pending_.empty()) return std::nullopt;
  return pending_.front().due;
}

std::vector<std::string> playout_model::take_echoes(timestamp now) {
  std::vector<std::string> out;
  while (!pending_.empty() && pending_.front().due <= now) {
    out.push_back(std::move(pending_.front().name));
    pending_.pop_front();
  }
  return out;
}

std::uint64_t playout_model::played_since_clear(timestamp now) const { return played_of(chunks_, now); }

std::uint64_t playout_model::played_total(timestamp now) const { return played_before_ + played_of(chunks_, now); }

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
