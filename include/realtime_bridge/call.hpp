// One phone call: the Twilio stream, the OpenAI session and barge-in, composed.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/audio_hold.hpp"
#include "realtime_bridge/barge_in.hpp"
#include "realtime_bridge/call_control.hpp"
#include "realtime_bridge/caller_audio_batch.hpp"
#include "realtime_bridge/conversation_log.hpp"
#include "realtime_bridge/openai/events.hpp"
#include "realtime_bridge/openai/session.hpp"
#include "realtime_bridge/reconnect.hpp"
#include "realtime_bridge/session_rollover.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/time.hpp"
#include "realtime_bridge/twilio/events.hpp"
#include "realtime_bridge/twilio/stream.hpp"

namespace rtb {

enum class leg { twilio, openai };
std::string_view to_string(leg l) noexcept;

struct call_limits {
  /// Caller audio held while the OpenAI socket is still connecting.
  std::chrono::milliseconds held_caller_audio{2'000};
  /// AI audio held until Twilio's `start` gives us the streamSid.
  std::chrono::milliseconds held_ai_audio{10'000};
  /// Bad messages (not JSON, too large, malformed) tolerated from one leg
  /// before the call is ended. Each one is dropped, logged and counted.
  std::uint32_t max_rejected_messages = 50;
  /// Caller audio sent to OpenAI in one input_audio_buffer.append per this
  /// much audio instead of one per Twilio frame (20 ms): fewer messages, for
  /// up to this much more latency. 0 (the default) is off: every frame is
  /// relayed on its own, its payload unchanged. Otherwise a multiple of 20 ms
  /// from 40 to 200 ms. A batch that is not full is sent when its oldest frame
  /// has waited this long (next_timeout()), and always before any other
  /// message to OpenAI, so OpenAI sees the same audio in the same order.
  std::chrono::milliseconds caller_audio_batch{0};
  friend bool operator==(const call_limits&, const call_limits&) = default;
};

/// When a call asks its shell to connect to OpenAI (to_openai::connect).
enum class openai_connect {
  at_once,      ///< when the call starts: the fastest answer
  after_start,  ///< once Twilio's `start` is in and the host has chosen the configuration (call_in::configure)
};

struct call_config {
  openai::session_options openai;  ///< session.update contents, greeting, timeouts
  twilio::stream_timeouts twilio;
  /// Also decides openai.config's turn_detection.interrupt_response: the call
  /// applies derive_interrupt_response() (config() shows the result).
  barge_in_config barge_in;
  call_limits limits;
  openai_connect connect = openai_connect::at_once;
  /// Reopening the OpenAI session after a transient failure (reconnect.hpp).
  reconnect_config reconnect;
  /// Replacing the session before OpenAI's 60-minute cap (session_rollover.hpp).
  rollover_config rollover;
  /// Idle and maximum-duration timers, digits to the model, the goodbye's wait.
  call_control_config control;
  friend bool operator==(const call_config&, const call_config&) = default;
};

/// Checks the whole configuration; the message names the bad setting.
[[nodiscard]] result<void> validate(const call_config& config);

// Inputs besides the two legs' events.
namespace call_in {
struct openai_opened {  ///< a WebSocket to OpenAI is open
  openai_slot slot = openai_slot::current;
};
struct leg_closed {       ///< a leg's socket closed (or, for OpenAI, failed to open)
  leg side = leg::twilio;
  std::uint16_t code = 0;
  std::string_view reason;
  openai_slot slot = openai_slot::current;  ///< for OpenAI: which connection
};
/// An event of the next OpenAI session (rollover), before it takes over.
struct next_session_event {
  const openai::event* event = nullptr;
};
struct message_rejected {  ///< a leg sent something we could not decode
  leg side = leg::twilio;
  errc code = errc::malformed_json;
  std::string_view message;
};
struct tool_result {  ///< the host's answer to a to_host::tool_call
  std::string_view call_id;
  std::string_view output;
};
struct user_text {  ///< text injected as if the caller said it
  std::string_view text;
  bool respond = true;
};
struct end_call {  ///< the host ends the call
  std::string_view reason;
};
/// End the call once what the AI is saying has played to the caller (bounded
/// by control.goodbye_timeout); Twilio's stream closes normally (1000) with
/// end_reason::host_ended and `reason` as detail. With `tool_call_id`, the
/// call first answers that tool call (the model's end_call or transfer) with
/// `tool_output`: if the model said nothing before calling it, the answer
/// asks for a response, its goodbye, and the call ends after that plays.
struct end_after_playout {
  std::string_view reason;
  std::string_view tool_call_id;
  std::string_view tool_output;
};
/// The host's configuration for the call, once Twilio's `start` is in (with
/// openai_connect::after_start; at any other time it is ignored, with a
/// warning). Everything but the Twilio timeouts and `connect` takes effect.
/// An invalid configuration is ignored too (the call keeps its own).
struct configure {
  const call_config* config = nullptr;  ///< null: keep the configuration the call started with
};
}  // namespace call_in

using call_input =
    std::variant<twilio::event, openai::event, call_in::openai_opened, call_in::leg_closed, call_in::message_rejected,
                 call_in::tool_result, call_in::user_text, call_in::end_call, call_in::configure,
                 call_in::next_session_event, call_in::end_after_playout>;

struct call_counters {
  twilio::stream_counters twilio;
  openai::session_counters openai;
  playout_counters playout;
  std::uint64_t caller_frames_forwarded = 0;  ///< Twilio frames whose audio went to OpenAI
  std::uint64_t caller_audio_appends = 0;     ///< input_audio_buffer.append sent (fewer when batching)
  std::uint64_t held_caller_frames_dropped = 0;
  std::uint64_t held_ai_deltas_dropped = 0;
  std::uint64_t rejected_twilio_messages = 0;
  std::uint64_t rejected_openai_messages = 0;
  std::uint64_t inputs_after_end = 0;
  std::uint64_t openai_reconnect_attempts = 0;  ///< new sessions opened after a failure
  std::uint64_t openai_reconnects = 0;          ///< outages that ended with a new session ready
  std::uint64_t replayed_items = 0;             ///< conversation items sent to new sessions
  std::uint64_t rollovers = 0;                  ///< sessions replaced before the cap
  std::uint64_t rollover_failures = 0;          ///< next sessions that failed before taking over
};

/// The whole call as one pure state machine. Feed it every event of both legs
/// and every leg change; execute the actions it returns in order.
///
/// It opens nothing itself: it asks the shell to (to_openai::connect, from
/// start() or later), and the shell reports the socket with
/// call_in::openai_opened or a leg_closed.
class call {
 public:
  call(call_config config, timestamp now);

  /// The call's first actions: to_openai::connect, unless the configuration
  /// waits for Twilio's start (openai_connect::after_start). Call it once,
  /// before any input.
  [[nodiscard]] const actions& start(timestamp now);
  [[nodiscard]] const actions& handle(const call_input& input, timestamp now);
  [[nodiscard]] std::optional<timestamp> next_timeout() const noexcept;
  /// Safe to call spuriously.
  [[nodiscard]] const actions& handle_timeout(timestamp now);

  bool ended() const noexcept { return end_.has_value(); }
  /// Twilio's start is in and the call waits for call_in::configure.
  bool awaiting_configuration() const noexcept { return awaiting_configuration_; }
  std::optional<end_reason> reason() const noexcept { return end_; }
  /// Empty until Twilio's `start`.
  std::string_view stream_sid() const noexcept { return stream_.stream_sid(); }
  std::string_view call_sid() const noexcept { return stream_.call_sid(); }
  call_counters counters() const;
  const call_config& config() const noexcept { return config_; }
  const twilio::stream& twilio_stream() const noexcept { return stream_; }
  const openai::session& openai_session() const noexcept { return session_; }
  const barge_in& playout() const noexcept { return barge_in_; }
  const conversation_log& conversation() const noexcept { return log_; }
  /// The OpenAI session failed and a new one is not open yet.
  bool reconnecting() const noexcept { return gap_ != gap::none; }
  /// A next session is open or opening beside the current one (rollover).
  bool rolling_over() const noexcept { return next_.has_value(); }
  const call_control& control() const noexcept { return control_; }

 private:
  struct held_frame {
    std::string payload;
  };
  struct held_delta {
    std::string response_id;
    std::string item_id;
    std::int64_t content_index = 0;
    std::string payload;
    std::uint64_t item_received_bytes = 0;
  };

  void on_twilio(const twilio::event& ev, timestamp now);
  void on_openai(const openai::event& ev, timestamp now);
  void on_stream_verdict(twilio::stream_verdict v, const twilio::event* ev, timestamp now);
  void forward_caller_audio(std::string_view payload);
  void send_caller_frame(std::string_view payload);
  void begin_step();
  void forward_ai_audio(const openai::audio_delta& d, timestamp now);
  void release_held_caller_audio();
  void release_held_ai_audio(timestamp now);
  void append(const actions& more);
  void after_session_step();
  void on_leg_closed(const call_in::leg_closed& c, timestamp now);
  void on_configure(const call_in::configure& c, timestamp now);
  void on_end_after_playout(const call_in::end_after_playout& e, timestamp now);
  /// The AI is answering, waiting for a tool, or still playing.
  bool ai_busy() const noexcept;
  /// After every step: tells call_control whether the AI is busy, and routes
  /// what it decides.
  void update_control(timestamp now);
  void route_control(const control_actions& decided, timestamp now);
  void on_rejected(const call_in::message_rejected& r);
  void on_tool_result(const call_in::tool_result& r, timestamp now);
  void on_user_text(const call_in::user_text& t, timestamp now);
  /// Barge-in's actions, noting in the conversation log what the caller heard.
  void playout_step(const actions& more);
  void log_openai_event(const openai::event& ev);
  void on_session_failed(const openai::session_failure& f);
  void begin_outage(timestamp retry_at);
  void reconnect_now();
  void replay_into_session();
  void open_next_session();
  void on_next_event(const openai::event& ev, timestamp now);
  /// Actions of the next session: messages addressed to it; nothing for the host but warnings.
  void append_next(const actions& more);
  void abandon_next(std::string_view why);
  bool turn_boundary() const noexcept;
  void maybe_switch();
  void switch_sessions();
  void end(end_reason why, std::string detail);
  void warn(warning_code code, std::string detail);
  void warn_once(warning_code code, std::string detail);

  call_config config_;
  twilio::stream stream_;
  openai::session session_;
  barge_in barge_in_;
  caller_audio_batch caller_audio_;
  call_control control_;
  actions out_;
  std::vector<to_host::parameter> parameter_views_;

  audio_hold<held_frame> held_caller_;
  audio_hold<held_delta> held_ai_;
  std::vector<held_frame> released_caller_;  ///< backing store for this step's actions
  std::vector<held_delta> released_ai_;

  timestamp now_{};  ///< the time of the input being handled (for inputs to sub-machines without one)
  bool awaiting_configuration_ = false;
  bool control_busy_ = false;          ///< what call_control was last told
  bool response_had_audio_ = false;    ///< the active (or last) response sent audio
  bool twilio_open_ = true;
  bool openai_closed_ = false;
  std::optional<end_reason> end_;
  std::bitset<16> warned_once_;
  std::vector<std::string> unknown_names_seen_;
  std::uint64_t rejected_twilio_ = 0;
  std::uint64_t rejected_openai_ = 0;
  std::uint64_t inputs_after_end_ = 0;

  // Reconnect (see "Reconnect" in call.cpp).
  enum class gap {
    none,        ///< the session serves the call (or is opening for the first time)
    closing_old, ///< the failed session's socket is closing; the next attempt waits for it
    waiting,     ///< backoff before the next attempt
    connecting,  ///< a new session's socket is opening
  };
  reconnect_policy reconnect_;
  conversation_log log_;
  gap gap_ = gap::none;
  std::optional<timestamp> reconnect_at_;
  std::vector<std::string> carried_calls_;  ///< tool calls open when the session failed
  bool respond_after_replay_ = false;       ///< a response was cut (or is due) when it failed
  bool ever_ready_ = false;                 ///< a session has been ready: later failures may be transient
  std::uint64_t replayed_items_ = 0;
  actions scratch_;

  // Rollover (see "Rollover" in call.cpp).
  session_rollover rollover_;
  std::optional<openai::session> next_;
  /// What the sessions this call replaced (reconnect, rollover) counted:
  /// their tokens are billed too.
  openai::session_counters replaced_sessions_;
  bool next_leg_open_ = false;  ///< the next socket was asked for and not reported closed
  timestamp next_started_{};
  bool caller_speaking_ = false;
  bool turn_unanswered_ = false;  ///< the caller's turn ended; the server's answer has not started
};

}  // namespace rtb
