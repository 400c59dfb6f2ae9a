#include "support/fixture_call.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <simdjson.h>

namespace rtb::test {

std::vector<fixture_line> load_fixture(const std::string& name, const std::string& dir) {
  std::ifstream in(dir + "/openai/" + name + ".jsonl");
  if (!in) throw std::runtime_error("cannot open fixture " + name);
  std::vector<fixture_line> lines;
  simdjson::dom::parser parser;
  std::string text;
  while (std::getline(in, text)) {
    simdjson::dom::element e;
    if (parser.parse(text).get(e)) throw std::runtime_error("bad fixture line in " + name);
    fixture_line l;
    l.t_ms = e["t_ms"].get_int64().value();
    l.server = std::string_view(e["dir"].get_string().value()) == "server";
    std::int64_t repeat = 1;
    if (!e["repeat"].get_int64().get(repeat)) l.repeat = static_cast<int>(repeat);
    l.type = std::string(e["event"]["type"].get_string().value());
    l.event = simdjson::minify(e["event"].value());
    lines.push_back(std::move(l));
  }
  return lines;
}

call_config acme_config() {
  call_config c;
  auto& s = c.openai.config;
  s.instructions =
      "You are the phone assistant for Acme Outfitters. Keep answers short and friendly. Use get_order_status when "
      "the caller asks about an order.";
  s.voice = "marin";
  s.speed = 1.0;
  s.noise = openai::noise_reduction::near_field;
  s.input_transcription = openai::transcription{"gpt-4o-mini-transcribe", "en", ""};
  s.turn = openai::server_vad{0.5, 300, 500, std::nullopt, true, true};
  s.tools.push_back(
      {"get_order_status", "Look up the shipping status of an order by its order number.",
       R"({"type":"object","properties":{"order_number":{"type":"string","description":"The order number, digits only."}},"required":["order_number"]})"});
  c.twilio.media_idle = std::chrono::milliseconds(0);
  return c;
}

fixture_call::fixture_call(call_config config, std::chrono::microseconds twilio_start_delay, trace_sink* trace)
    : twilio([this] { return now; }, twilio_start_delay),
      driver(
          std::move(config), twilio, openai, observer, {}, [this] { return now; }, trace) {}

void fixture_call::run(const std::vector<fixture_line>& lines) {
  struct item {
    timestamp at;
    std::size_t order;
    enum { server, caller_frame, tool_result } what;
    std::string text;   // server event JSON, or frame payload
    std::string extra;  // tool output
  };
  std::vector<item> schedule;
  std::size_t order = 0;
  simdjson::dom::parser parser;
  for (const auto& l : lines) {
    const timestamp t = at(l.t_ms);
    if (l.server) {
      for (int i = 0; i < l.repeat; ++i) schedule.push_back({t, order++, item::server, l.event, {}});
    } else if (l.type == "input_audio_buffer.append") {
      simdjson::dom::element e = parser.parse(l.event).value();
      const std::string payload(e["audio"].get_string().value());
      for (int i = 0; i < l.repeat; ++i)
        schedule.push_back({t + std::chrono::milliseconds(20 * i), order++, item::caller_frame, payload, {}});
    } else if (l.type == "conversation.item.create") {
      simdjson::dom::element e = parser.parse(l.event).value();
      std::string_view item_type;
      if (!e["item"]["type"].get_string().get(item_type) && item_type == "function_call_output") {
        schedule.push_back({t, order++, item::tool_result, std::string(e["item"]["call_id"].get_string().value()),
                            std::string(e["item"]["output"].get_string().value())});
      }
    }
  }
  std::stable_sort(schedule.begin(), schedule.end(), [](const item& a, const item& b) { return a.at < b.at; });

  // Twilio connects and starts; the OpenAI socket opens.
  driver.on_text(leg::twilio, R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
  driver.on_text(
      leg::twilio,
      R"({"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}},"streamSid":"MZ1"})");
  driver.on_openai_open();

  std::size_t next = 0;
  std::uint64_t seq = 2;
  while (next < schedule.size() || twilio.playout.next_echo()) {
    timestamp t = next < schedule.size() ? schedule[next].at : timestamp::max();
    if (auto e = twilio.playout.next_echo(); e && *e < t) t = *e;
    now = std::max(now, t);
    for (auto& name : twilio.playout.take_echoes(now))
      driver.on_text(leg::twilio, R"({"event":"mark","sequenceNumber":")" + std::to_string(seq++) +
                                      R"(","streamSid":"MZ1","mark":{"name":")" + name + R"("}})");
    while (next < schedule.size() && schedule[next].at <= now) {
      const item& it = schedule[next++];
      switch (it.what) {
        case item::server: driver.on_text(leg::openai, it.text); break;
        case item::caller_frame:
          driver.on_text(leg::twilio, R"({"event":"media","sequenceNumber":")" + std::to_string(seq++) +
                                          R"(","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":")" +
                                          it.text + R"("},"streamSid":"MZ1"})");
          break;
        case item::tool_result: driver.submit_tool_result(it.text, it.extra); break;
      }
    }
  }
  now += std::chrono::seconds(1);
  driver.on_text(
      leg::twilio,
      R"({"event":"stop","sequenceNumber":"999","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}})");
}

std::vector<sent_event> fixture_call::sent_to_openai() const {
  std::vector<sent_event> out;
  simdjson::dom::parser parser;
  for (const auto& m : openai.sent) {
    simdjson::dom::element e = parser.parse(m).value();
    out.push_back({std::string(e["type"].get_string().value()), m});
  }
  return out;
}

}  // namespace rtb::test
