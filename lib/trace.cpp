#include "realtime_bridge/trace.hpp"

#include <istream>
#include <ostream>

#include <fmt/format.h>
#include <simdjson.h>

#include "realtime_bridge/call_driver.hpp"
#include "realtime_bridge/config_json.hpp"

namespace rtb {

void ostream_trace_sink::write_line(std::string_view line) {
  os_.write(line.data(), static_cast<std::streamsize>(line.size()));
  os_.put('\n');
}

namespace {

using simdjson::dom::element;

// Prints everything the replayed call does, stamped with the replay clock.
class printer final : public transport, public call_observer {
 public:
  printer(std::ostream& out, const std::string& stamp, std::string_view leg_name)
      : out_(out), stamp_(stamp), leg_(leg_name) {}

  void send_text(std::string_view message) override { line() << "-> " << leg_ << ' ' << message << '\n'; }
  void close(std::uint16_t code, std::string_view reason) override {
    line() << "-> " << leg_ << " close " << code << ' ' << reason << '\n';
  }

  void on_stream_started(const to_host::stream_started& a) override { host(a); }
  void on_session_ready(const to_host::session_ready& a) override { host(a); }
  void on_caller_transcript(const to_host::caller_transcript& a) override { host(a); }
  void on_ai_transcript(const to_host::ai_transcript& a) override { host(a); }
  void on_ai_interrupted(const to_host::ai_interrupted& a) override { host(a); }
  void on_dtmf(const to_host::dtmf& a) override { host(a); }
  void on_playout_finished(const to_host::playout_finished& a) override { host(a); }
  void on_tool_call(const to_host::tool_call& a) override { host(a); }
  void on_warning(const to_host::warning& a) override { host(a); }
  void on_call_ended(const call_summary& s) override {
    const call_counters& c = s.counters;
    line() << describe(action{to_host::call_ended{s.reason, std::string(s.detail)}}) << '\n';
    line() << fmt::format(
        "host.counters twilio_media_in={} appends={} deltas_in={} media_out={} marks_out={} marks_echoed={} "
        "stale_marks={} late_deltas_dropped={} barge_ins={} truncates={} deletes={} rejected_twilio={} "
        "rejected_openai={} output_audio_tokens={}\n",
        c.twilio.media_frames, c.caller_frames_forwarded, c.openai.audio_deltas, c.playout.media_sent,
        c.playout.marks_sent, c.playout.marks_echoed, c.playout.stale_marks, c.playout.late_deltas_dropped,
        c.playout.barge_ins, c.playout.truncates, c.playout.deletes, c.rejected_twilio_messages,
        c.rejected_openai_messages, c.openai.output_audio_tokens);
  }

 private:
  std::ostream& line() { return out_ << stamp_ << ' '; }
  template <class T>
  void host(const T& a) {
    line() << describe(action{a}) << '\n';
  }

  std::ostream& out_;
  const std::string& stamp_;
  std::string_view leg_;
};

error bad_line(std::size_t n, std::string_view what) {
  return {errc::invalid_trace, fmt::format("trace line {}: {}", n, what)};
}

}  // namespace

result<void> replay_trace(std::istream& trace, std::ostream& out) {
  simdjson::dom::parser parser;
  std::string text;
  std::size_t line_no = 0;

  if (!std::getline(trace, text)) return error{errc::invalid_trace, "empty trace"};
  ++line_no;
  element header;
  if (parser.parse(text).get(header)) return bad_line(line_no, "the header is not JSON");
  std::int64_t version = 0;
  if (header["rtb_trace"].get_int64().get(version) || version != 1)
    return bad_line(line_no, "not a realtime_bridge trace of version 1");
  element config_json;
  if (header["config"].get(config_json)) return bad_line(line_no, "the header has no config");
  auto config = parse_config_json(simdjson::minify(config_json));
  if (!config) return bad_line(line_no, config.error().message);
  driver_limits limits;
  element lim;
  if (!header["limits"].get(lim)) {
    std::uint64_t n = 0;
    if (!lim["max_twilio_message_bytes"].get_uint64().get(n)) limits.max_twilio_message_bytes = n;
    if (!lim["max_openai_message_bytes"].get_uint64().get(n)) limits.max_openai_message_bytes = n;
  }

  timestamp now{};
  std::string stamp = "@0.000";
  printer twilio_side(out, stamp, "twilio");
  printer openai_side(out, stamp, "openai");
  call_driver driver(std::move(*config), twilio_side, openai_side, twilio_side, limits, [&] { return now; });
  driver.set_replaying(true);
  driver.start();

  while (std::getline(trace, text)) {
    ++line_no;
    if (text.empty()) continue;
    element entry;
    if (parser.parse(text).get(entry)) return bad_line(line_no, "not JSON");
    std::int64_t t_us = 0;
    if (entry["t_us"].get_int64().get(t_us) || t_us < 0) return bad_line(line_no, "missing or negative t_us");
    now = timestamp{} + std::chrono::microseconds(t_us);
    stamp = fmt::format("@{}.{:03}", t_us / 1000, t_us % 1000);

    std::string_view leg_name;
    std::string_view host;
    if (!entry["leg"].get_string().get(leg_name)) {
      leg side;
      if (leg_name == "twilio")
        side = leg::twilio;
      else if (leg_name == "openai")
        side = leg::openai;
      else
        return bad_line(line_no, "leg must be twilio or openai");
      std::string_view message;
      std::uint64_t size = 0;
      element closed;
      if (!entry["text"].get_string().get(message)) {
        driver.on_text(side, message);
      } else if (!entry["oversized"].get_uint64().get(size)) {
        driver.on_oversized(side, size);
      } else if (entry["open"].is_bool()) {
        driver.on_openai_open();
      } else if (!entry["closed"].get(closed)) {
        std::uint64_t code = 0;
        std::string_view reason;
        if (closed["code"].get_uint64().get(code) || code > 0xFFFF)
          return bad_line(line_no, "closed.code is not a close code");
        if (closed["reason"].get_string().get(reason)) reason = {};
        driver.on_closed(side, static_cast<std::uint16_t>(code), reason);
      } else {
        return bad_line(line_no, "a leg entry needs text, oversized, open or closed");
      }
    } else if (entry["timer"].is_bool()) {
      driver.on_timer();
    } else if (!entry["host"].get_string().get(host)) {
      std::string_view a, b;
      if (host == "tool_result") {
        if (entry["call_id"].get_string().get(a) || entry["output"].get_string().get(b))
          return bad_line(line_no, "tool_result needs call_id and output");
        driver.submit_tool_result(a, b);
      } else if (host == "user_text") {
        bool respond = true;
        if (entry["text"].get_string().get(a)) return bad_line(line_no, "user_text needs text");
        if (entry["respond"].get_bool().get(respond)) respond = true;
        driver.send_user_text(a, respond);
      } else if (host == "end_call") {
        if (entry["reason"].get_string().get(a)) a = {};
        driver.end_call(a);
      } else if (host == "end_after_playout") {
        std::string_view call_id, output;
        if (entry["reason"].get_string().get(a)) a = {};
        if (entry["call_id"].get_string().get(call_id)) call_id = {};
        if (entry["output"].get_string().get(output)) output = {};
        driver.end_after_playout(a, call_id, output);
      } else if (host == "configure") {
        element given;
        if (entry["config"].get(given)) return bad_line(line_no, "configure needs config (an object or null)");
        if (given.is_null()) {
          driver.keep_configuration();
        } else {
          auto chosen = parse_config_json(simdjson::minify(given));
          if (!chosen) return bad_line(line_no, chosen.error().message);
          driver.configure(*chosen);
        }
      } else {
        return bad_line(line_no, "unknown host command");
      }
    } else {
      return bad_line(line_no, "an entry needs leg, timer or host");
    }
  }
  return {};
}

}  // namespace rtb
