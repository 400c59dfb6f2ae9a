// Everything a call asks its shell to do, as plain comparable data.
//
// Machines return `const actions&`: a list owned by the machine and reused on
// each call, so steady-state processing allocates nothing. The list, and any
// std::string_view inside an action, is valid until the next call into the
// machine that returned it; execute or copy the actions before feeding the
// next input.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/playout_mark.hpp"

namespace rtb {

/// WebSocket close codes the bridge uses.
inline constexpr std::uint16_t close_normal = 1000;
inline constexpr std::uint16_t close_going_away = 1001;
inline constexpr std::uint16_t close_policy_violation = 1008;
inline constexpr std::uint16_t close_internal_error = 1011;

/// Why a call ended. Hosts act on it: e.g. `openai_*` reasons mean the AI was
/// unavailable and the caller should be routed to a fallback.
enum class end_reason {
  caller_hung_up,         ///< Twilio sent `stop`
  twilio_disconnected,    ///< Twilio's socket closed without `stop`
  twilio_start_timeout,   ///< Twilio connected but never sent `start`
  twilio_idle,            ///< Twilio stopped sending media
  twilio_protocol_error,  ///< unusable media format, or too many bad messages
  openai_unreachable,     ///< could not connect, or no session in time
  openai_rejected,        ///< a fatal error (authentication, model, configuration, expiry)
  openai_closed,          ///< OpenAI closed the socket
  openai_protocol_error,  ///< too many bad messages from OpenAI
  host_ended,             ///< the host asked to end the call
  caller_idle,            ///< the caller stayed silent after a check-in (call_control)
  max_duration,           ///< the call reached its maximum duration (call_control)
};

std::string_view to_string(end_reason r) noexcept;
/// Every end reason, in declaration order (for counters per reason).
std::span<const end_reason> all_end_reasons() noexcept;
/// True for the reasons that mean the AI side failed (the caller should get
/// the fallback, not silence).
bool ai_side_failure(end_reason r) noexcept;

/// Recoverable problems, reported to the host (logged and counted), never fatal
/// on their own.
enum class warning_code {
  rejected_message,      ///< a message was not valid JSON, too large, or malformed
  unknown_event,         ///< an event type we do not know (first of each name)
  unknown_field,         ///< a Twilio message carried an unknown field (first of each)
  early_media,           ///< Twilio media before `start` (first one)
  late_event,            ///< Twilio media/mark/dtmf after `stop` (first one)
  duplicate_start,       ///< a second Twilio `start`
  audio_held_overflow,   ///< audio held for a leg that was not ready was dropped
  openai_error,          ///< a recoverable `error` event
  response_failed,       ///< a response ended with status failed or incomplete
  transcription_failed,  ///< input transcription failed for an item
  unknown_tool_call,     ///< the host returned a result for a call id we do not know
  foreign_mark,          ///< Twilio echoed a mark we did not send (first one)
  configuration_ignored,  ///< the host's call configuration was invalid or came too late; the call keeps its own
};

std::string_view to_string(warning_code w) noexcept;

namespace to_twilio {
/// A `media` message carrying this base64 µ-law payload unchanged.
struct media {
  std::string_view payload;
  friend bool operator==(const media&, const media&) = default;
};
/// A `mark` message named after `mark` (see playout_mark.hpp).
struct mark {
  playout_mark mark;
  friend bool operator==(const struct mark&, const struct mark&) = default;
};
/// A `clear` message: Twilio drops all buffered audio and echoes pending marks.
struct clear {
  friend bool operator==(const clear&, const clear&) = default;
};
/// Close the Twilio WebSocket. Twilio then runs the TwiML after <Connect>.
struct close {
  std::uint16_t code = close_normal;
  std::string reason;
  friend bool operator==(const close&, const close&) = default;
};
}  // namespace to_twilio

/// Which OpenAI connection an action is for.
enum class openai_slot : std::uint8_t {
  current,  ///< the call's session
  next,     ///< a session being prepared to take over (rollover)
};

namespace to_openai {
/// Open a WebSocket to OpenAI, with the call's configured model in its URL.
/// The shell reports the outcome: call_in::openai_opened or a leg_closed.
struct connect {
  openai_slot slot = openai_slot::current;
  friend bool operator==(const connect&, const connect&) = default;
};
/// `session.update` built from the call's session_config.
struct update_session {
  friend bool operator==(const update_session&, const update_session&) = default;
};
/// `input_audio_buffer.append` with this base64 µ-law audio unchanged.
struct append_audio {
  std::string_view audio;
  friend bool operator==(const append_audio&, const append_audio&) = default;
};
struct truncate_item {
  std::string item_id;
  std::int64_t content_index = 0;
  std::int64_t audio_end_ms = 0;
  friend bool operator==(const truncate_item&, const truncate_item&) = default;
};
/// `conversation.item.delete`: used for audio the caller never heard at all.
struct delete_item {
  std::string item_id;
  friend bool operator==(const delete_item&, const delete_item&) = default;
};
struct create_user_message {
  std::string text;
  friend bool operator==(const create_user_message&, const create_user_message&) = default;
};
struct send_function_output {
  std::string call_id;
  std::string output;
  friend bool operator==(const send_function_output&, const send_function_output&) = default;
};
/// `response.create`, with per-response instructions when non-empty.
struct create_response {
  std::string instructions;
  friend bool operator==(const create_response&, const create_response&) = default;
};
struct cancel_response {
  friend bool operator==(const cancel_response&, const cancel_response&) = default;
};
struct close {
  std::uint16_t code = close_normal;
  std::string reason;
  friend bool operator==(const close&, const close&) = default;
};
}  // namespace to_openai

namespace to_host {
struct parameter {
  std::string_view name;
  std::string_view value;
  friend bool operator==(const parameter&, const parameter&) = default;
};
/// Twilio's `start` arrived: the call is identified.
struct stream_started {
  std::string_view call_sid;
  std::string_view stream_sid;
  std::span<const parameter> custom_parameters;
  friend bool operator==(const stream_started& a, const stream_started& b);
};
/// The AI session accepted our configuration.
struct session_ready {
  std::string_view session_id;
  friend bool operator==(const session_ready&, const session_ready&) = default;
};
struct caller_transcript {
  std::string_view item_id;
  std::string_view text;
  friend bool operator==(const caller_transcript&, const caller_transcript&) = default;
};
/// The full transcript the model generated for an item. If the caller
/// interrupted it, an ai_interrupted for the same item says how much was heard.
struct ai_transcript {
  std::string_view item_id;
  std::string_view text;
  friend bool operator==(const ai_transcript&, const ai_transcript&) = default;
};
/// The caller barged in: of `sent_ms` forwarded for this item, about
/// `heard_ms` reached the caller (0: nothing; the item is deleted).
struct ai_interrupted {
  std::string item_id;
  std::int64_t heard_ms = 0;
  std::int64_t sent_ms = 0;
  friend bool operator==(const ai_interrupted&, const ai_interrupted&) = default;
};
struct dtmf {
  std::string_view digit;
  friend bool operator==(const dtmf&, const dtmf&) = default;
};
/// The AI has gone quiet: no response requested or active, no tool call
/// waiting, and everything it said has played to the caller (its last mark
/// echoed). Once per busy spell.
struct playout_finished {
  friend bool operator==(const playout_finished&, const playout_finished&) = default;
};
/// The model wants a function run. Answer with the call's tool_result input
/// (call_driver::submit_tool_result) carrying the same call_id.
struct tool_call {
  std::string_view call_id;
  std::string_view name;
  std::string_view arguments;  ///< a JSON text, as the model wrote it (may be invalid)
  friend bool operator==(const tool_call&, const tool_call&) = default;
};
struct warning {
  warning_code code;
  std::string detail;
  friend bool operator==(const warning&, const warning&) = default;
};
/// Always the last action of a call, exactly once. Counters are available from
/// call::counters() (and are passed to call_observer::on_call_ended).
struct call_ended {
  end_reason reason;
  std::string detail;
  friend bool operator==(const call_ended&, const call_ended&) = default;
};
}  // namespace to_host

using action =
    std::variant<to_twilio::media, to_twilio::mark, to_twilio::clear, to_twilio::close, to_openai::connect,
                 to_openai::update_session,
                 to_openai::append_audio, to_openai::truncate_item, to_openai::delete_item,
                 to_openai::create_user_message, to_openai::send_function_output, to_openai::create_response,
                 to_openai::cancel_response, to_openai::close, to_host::stream_started, to_host::session_ready,
                 to_host::caller_transcript, to_host::ai_transcript, to_host::ai_interrupted, to_host::dtmf,
                 to_host::playout_finished, to_host::tool_call, to_host::warning, to_host::call_ended>;

using actions = std::vector<action>;

/// A one-line human description, e.g. `openai.truncate_item{item_1, 0, 1300ms}`.
/// Used by test failure messages and logs; not a wire format.
std::string describe(const action& a);
std::ostream& operator<<(std::ostream& os, const action& a);
std::ostream& operator<<(std::ostream& os, const actions& list);

}  // namespace rtb
