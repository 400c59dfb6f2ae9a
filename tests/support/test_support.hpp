// Shared helpers for the scenario tests: time, audio payloads, event builders,
// recording fakes, and Catch2 printers for actions.
#pragma once

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/openai/events.hpp"
#include "realtime_bridge/transport.hpp"
#include "realtime_bridge/twilio/events.hpp"
#include "realtime_bridge/twilio/stream.hpp"

namespace rtb::test {

using namespace std::chrono_literals;

/// The origin of every scenario's clock.
inline constexpr timestamp t0{};
/// t0 plus `ms` milliseconds: `at(1500)` reads "at 1.5 s".
inline timestamp at(std::int64_t ms) { return t0 + std::chrono::milliseconds(ms); }

/// Base64 of `bytes` bytes all equal to `fill` (0xFF is µ-law silence).
std::string mulaw(std::size_t bytes, unsigned char fill = 0xFF);
/// Standard base64 of arbitrary bytes.
std::string base64(std::string_view bytes);
/// One 20 ms Twilio frame (160 bytes).
inline std::string frame(unsigned char fill = 0xFF) { return mulaw(160, fill); }

// Twilio events (views into the arguments: keep them alive).
twilio::start start_event(std::string_view stream_sid = "MZ1", std::string_view call_sid = "CA1");
twilio::media media_event(std::string_view payload);
twilio::mark mark_event(std::string_view name);

// OpenAI events.
openai::audio_delta delta(std::string_view response_id, std::string_view item_id, std::string_view payload);
openai::response_created response_created(std::string_view response_id);
openai::response_done response_done(std::string_view response_id, std::string_view status = "completed");
openai::speech_started speech_started(std::string_view item_id = "item_user");
openai::session_updated session_updated_pcmu(std::string_view session_id = "sess_1");

/// A transport that records everything sent on it.
struct recording_transport final : transport {
  std::vector<std::string> sent;
  std::vector<std::pair<std::uint16_t, std::string>> closes;
  void send_text(std::string_view m) override { sent.emplace_back(m); }
  void close(std::uint16_t code, std::string_view reason) override { closes.emplace_back(code, std::string(reason)); }
  /// Messages whose text contains `needle`.
  std::vector<std::string> matching(std::string_view needle) const;
};

/// An observer that records one line per callback (describe() of the action).
struct recording_observer : call_observer {
  std::vector<std::string> lines;
  std::vector<end_reason> ended;
  std::vector<call_counters> final_counters;
  void on_stream_started(const to_host::stream_started& a) override { lines.push_back(describe(a)); }
  void on_session_ready(const to_host::session_ready& a) override { lines.push_back(describe(a)); }
  void on_caller_transcript(const to_host::caller_transcript& a) override { lines.push_back(describe(a)); }
  void on_ai_transcript(const to_host::ai_transcript& a) override { lines.push_back(describe(a)); }
  void on_ai_interrupted(const to_host::ai_interrupted& a) override { lines.push_back(describe(a)); }
  void on_dtmf(const to_host::dtmf& a) override { lines.push_back(describe(a)); }
  void on_tool_call(const to_host::tool_call& a) override { lines.push_back(describe(a)); }
  void on_warning(const to_host::warning& a) override { lines.push_back(describe(a)); }
  void on_call_ended(const call_summary& s) override {
    ended.push_back(s.reason);
    final_counters.push_back(s.counters);
    lines.push_back(describe(to_host::call_ended{s.reason, std::string(s.detail)}));
  }
  bool saw(std::string_view prefix) const;
};

/// Actions of one kind, in order.
template <class T>
std::vector<T> only(const actions& list) {
  std::vector<T> out;
  for (const auto& a : list)
    if (const auto* x = std::get_if<T>(&a)) out.push_back(*x);
  return out;
}

}  // namespace rtb::test

namespace Catch {
template <>
struct StringMaker<rtb::action> {
  static std::string convert(const rtb::action& a) { return rtb::describe(a); }
};
template <>
struct StringMaker<rtb::actions> {
  static std::string convert(const rtb::actions& list) {
    std::ostringstream os;
    rtb::operator<<(os, list);
    return os.str();
  }
};
template <>
struct StringMaker<rtb::twilio::stream_verdict> {
  static std::string convert(rtb::twilio::stream_verdict v) { return std::string(rtb::twilio::to_string(v)); }
};
}  // namespace Catch

namespace rtb::test {
/// `json` re-serialized with object keys sorted at every level, numbers written
/// by value, and the named keys removed ("key" at any depth, "a.b" at that
/// path only): for comparing JSON by meaning.
std::string canonical_json(std::string_view json, std::initializer_list<std::string_view> drop_keys = {});
}  // namespace rtb::test
