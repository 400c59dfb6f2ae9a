#include "realtime_bridge/actions.hpp"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

namespace rtb {

std::string_view to_string(end_reason r) noexcept {
  switch (r) {
    case end_reason::caller_hung_up: return "caller_hung_up";
    case end_reason::twilio_disconnected: return "twilio_disconnected";
    case end_reason::twilio_start_timeout: return "twilio_start_timeout";
    case end_reason::twilio_idle: return "twilio_idle";
    case end_reason::twilio_protocol_error: return "twilio_protocol_error";
    case end_reason::openai_unreachable: return "openai_unreachable";
    case end_reason::openai_rejected: return "openai_rejected";
    case end_reason::openai_closed: return "openai_closed";
    case end_reason::openai_protocol_error: return "openai_protocol_error";
    case end_reason::host_ended: return "host_ended";
    case end_reason::caller_idle: return "caller_idle";
    case end_reason::max_duration: return "max_duration";
  }
  return "unknown";
}

std::span<const end_reason> all_end_reasons() noexcept {
  static constexpr end_reason all[] = {
      end_reason::caller_hung_up,     end_reason::twilio_disconnected, end_reason::twilio_start_timeout,
      end_reason::twilio_idle,        end_reason::twilio_protocol_error, end_reason::openai_unreachable,
      end_reason::openai_rejected,    end_reason::openai_closed,       end_reason::openai_protocol_error,
      end_reason::host_ended,         end_reason::caller_idle,         end_reason::max_duration};
  return all;
}

bool ai_side_failure(end_reason r) noexcept {
  switch (r) {
    case end_reason::openai_unreachable:
    case end_reason::openai_rejected:
    case end_reason::openai_closed:
    case end_reason::openai_protocol_error: return true;
    default: return false;
  }
}

std::string_view to_string(warning_code w) noexcept {
  switch (w) {
    case warning_code::rejected_message: return "rejected_message";
    case warning_code::unknown_event: return "unknown_event";
    case warning_code::unknown_field: return "unknown_field";
    case warning_code::early_media: return "early_media";
    case warning_code::late_event: return "late_event";
    case warning_code::duplicate_start: return "duplicate_start";
    case warning_code::audio_held_overflow: return "audio_held_overflow";
    case warning_code::openai_error: return "openai_error";
    case warning_code::response_failed: return "response_failed";
    case warning_code::transcription_failed: return "transcription_failed";
    case warning_code::unknown_tool_call: return "unknown_tool_call";
    case warning_code::foreign_mark: return "foreign_mark";
    case warning_code::configuration_ignored: return "configuration_ignored";
  }
  return "unknown";
}

namespace to_host {
bool operator==(const stream_started& a, const stream_started& b) {
  return a.call_sid == b.call_sid && a.stream_sid == b.stream_sid &&
         std::equal(a.custom_parameters.begin(), a.custom_parameters.end(), b.custom_parameters.begin(),
                    b.custom_parameters.end());
}
}  // namespace to_host

namespace {

struct describer {
  std::string operator()(const to_twilio::media& a) const {
    return fmt::format("twilio.media{{{} chars}}", a.payload.size());
  }
  std::string operator()(const to_twilio::mark& a) const { return "twilio.mark{" + to_string(a.mark) + "}"; }
  std::string operator()(const to_twilio::clear&) const { return "twilio.clear"; }
  std::string operator()(const to_twilio::close& a) const {
    return fmt::format("twilio.close{{{}, {}}}", a.code, a.reason);
  }
  std::string operator()(const to_openai::connect& a) const {
    return a.slot == openai_slot::current ? "openai.connect" : "openai.connect{next}";
  }
  std::string operator()(const to_openai::update_session&) const { return "openai.update_session"; }
  std::string operator()(const to_openai::append_audio& a) const {
    return fmt::format("openai.append_audio{{{} chars}}", a.audio.size());
  }
  std::string operator()(const to_openai::truncate_item& a) const {
    return fmt::format("openai.truncate_item{{{}, {}, {}ms}}", a.item_id, a.content_index, a.audio_end_ms);
  }
  std::string operator()(const to_openai::delete_item& a) const {
    return fmt::format("openai.delete_item{{{}}}", a.item_id);
  }
  std::string operator()(const to_openai::create_user_message& a) const {
    return fmt::format("openai.create_user_message{{{:?}}}", a.text);
  }
  std::string operator()(const to_openai::send_function_output& a) const {
    return fmt::format("openai.send_function_output{{{}, {:?}}}", a.call_id, a.output);
  }
  std::string operator()(const to_openai::create_response& a) const {
    return a.instructions.empty() ? std::string("openai.create_response")
                                  : fmt::format("openai.create_response{{{:?}}}", a.instructions);
  }
  std::string operator()(const to_openai::cancel_response&) const { return "openai.cancel_response"; }
  std::string operator()(const to_openai::close& a) const {
    return fmt::format("openai.close{{{}, {}}}", a.code, a.reason);
  }
  std::string operator()(const to_host::stream_started& a) const {
    std::string s = fmt::format("host.stream_started{{{}, {}", a.call_sid, a.stream_sid);
    for (const auto& p : a.custom_parameters) fmt::format_to(std::back_inserter(s), ", {}={}", p.name, p.value);
    return s + "}";
  }
  std::string operator()(const to_host::session_ready& a) const {
    return fmt::format("host.session_ready{{{}}}", a.session_id);
  }
  std::string operator()(const to_host::caller_transcript& a) const {
    return fmt::format("host.caller_transcript{{{}, {:?}}}", a.item_id, a.text);
  }
  std::string operator()(const to_host::ai_transcript& a) const {
    return fmt::format("host.ai_transcript{{{}, {:?}}}", a.item_id, a.text);
  }
  std::string operator()(const to_host::ai_interrupted& a) const {
    return fmt::format("host.ai_interrupted{{{}, heard {}ms of {}ms}}", a.item_id, a.heard_ms, a.sent_ms);
  }
  std::string operator()(const to_host::dtmf& a) const { return fmt::format("host.dtmf{{{}}}", a.digit); }
  std::string operator()(const to_host::playout_finished&) const { return "host.playout_finished"; }
  std::string operator()(const to_host::tool_call& a) const {
    return fmt::format("host.tool_call{{{}, {}, {:?}}}", a.call_id, a.name, a.arguments);
  }
  std::string operator()(const to_host::warning& a) const {
    return fmt::format("host.warning{{{}, {:?}}}", to_string(a.code), a.detail);
  }
  std::string operator()(const to_host::call_ended& a) const {
    return fmt::format("host.call_ended{{{}, {:?}}}", to_string(a.reason), a.detail);
  }
};

}  // namespace

std::string describe(const action& a) { return std::visit(describer{}, a); }

std::ostream& operator<<(std::ostream& os, const action& a) { return os << describe(a); }

std::ostream& operator<<(std::ostream& os, const actions& list) {
  os << "{";
  for (std::size_t i = 0; i < list.size(); ++i) os << (i ? ", " : " ") << describe(list[i]);
  return os << (list.empty() ? "}" : " }");
}

}  // namespace rtb
