// The OpenAI side of a call:
//   connecting -> configuring -> ready <-> responding -> closed | failed
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/openai/events.hpp"
#include "realtime_bridge/openai/session_config.hpp"
#include "realtime_bridge/time.hpp"
#include "realtime_bridge/timer_table.hpp"

namespace rtb::openai {

/// How the AI speaks first, once both the session and the Twilio stream are up.
struct greeting {
  enum class style {
    none,          ///< wait for the caller to speak
    user_message,  ///< conversation.item.create(user text) + response.create (Twilio sample style)
    instructions,  ///< response.create with per-response instructions; adds no user item
  };
  style how = style::none;
  std::string text;
  friend bool operator==(const greeting&, const greeting&) = default;
};

struct session_timeouts {
  std::chrono::milliseconds connect{10'000};    ///< WebSocket open
  std::chrono::milliseconds configure{10'000};  ///< session.update -> session.updated
  friend bool operator==(const session_timeouts&, const session_timeouts&) = default;
};

struct session_options {
  session_config config;
  openai::greeting greeting;
  session_timeouts timeouts;
  friend bool operator==(const session_options&, const session_options&) = default;
};

enum class session_phase { connecting, configuring, ready, responding, closed, failed };
std::string_view to_string(session_phase p) noexcept;

/// Why a session can no longer serve the call.
struct session_failure {
  enum class kind {
    connect_failed,  ///< the WebSocket never opened
    connect_timeout,
    configure_timeout,  ///< no session.updated in time
    rejected,           ///< a fatal error event or failed response, or our formats were refused
    closed,             ///< the server closed the socket
  };
  kind what;
  std::string detail;  ///< e.g. "invalid_api_key: Incorrect API key provided"
  std::string code;    ///< the error code that caused it, if any (e.g. "session_expired")
  friend bool operator==(const session_failure&, const session_failure&) = default;
};

// Inputs besides server events.
namespace session_in {
struct leg_opened {};  ///< the WebSocket to OpenAI is open
struct leg_closed {    ///< it closed, or failed to open
  std::uint16_t code = 0;
  std::string_view reason;
};
struct stream_ready {};  ///< Twilio's `start` arrived; audio can reach the caller
struct tool_result {     ///< the host ran a tool call
  std::string_view call_id;
  std::string_view output;
  bool respond = true;  ///< ask for a response once the batch is answered (false: the call is ending)
};
struct prompt {  ///< ask for a response with these instructions (queued behind any in progress)
  std::string_view instructions;
};
struct user_text {  ///< the host injects what the caller "said"
  std::string_view text;
  bool respond = true;
};
struct shutdown {};  ///< the call is ending for another reason: close quietly
/// This session replaces one that failed (reconnect) or is retired
/// (rollover): the tool calls still open there are open here, and a response
/// is requested once ready if `respond`. While configuring or ready (before
/// it has answered anything); the call sends the conversation so far just before.
struct resume {
  std::span<const std::string> open_tool_calls;
  bool respond = false;
};
}  // namespace session_in

using session_input = std::variant<event, session_in::leg_opened, session_in::leg_closed, session_in::stream_ready,
                                   session_in::tool_result, session_in::user_text, session_in::prompt,
                                   session_in::shutdown, session_in::resume>;

struct session_counters {
  std::uint64_t responses = 0;         ///< response.created
  std::uint64_t responses_failed = 0;  ///< response.done with status failed
  std::uint64_t responses_cancelled = 0;
  std::uint64_t audio_deltas = 0;
  std::uint64_t audio_bytes = 0;  ///< µ-law bytes received
  std::uint64_t errors = 0;       ///< error events
  std::uint64_t truncates_rejected = 0;  ///< error events refusing a truncate (is_truncate_rejection)
  std::uint64_t tool_calls = 0;
  std::uint64_t unknown_events = 0;
  std::int64_t input_text_tokens = 0;
  std::int64_t input_audio_tokens = 0;
  std::int64_t input_cached_tokens = 0;
  std::int64_t output_text_tokens = 0;
  std::int64_t output_audio_tokens = 0;
  /// Adds another session's counters (a call that reconnected or rolled
  /// over counts every session it had).
  session_counters& operator+=(const session_counters& o) noexcept;
};

/// Pure state machine over the Realtime session. It emits the client events
/// the session needs (session.update, response.create, tool outputs) and the
/// host-facing outputs (transcripts, tool calls, warnings); it never sees
/// Twilio and never touches audio bytes beyond counting them.
///
/// response.create is only ever sent when no response is active or already
/// requested; further requests queue and go out after response.done.
class session {
 public:
  session(session_options options, timestamp now);

  [[nodiscard]] const actions& handle(const session_input& input, timestamp now);
  [[nodiscard]] std::optional<timestamp> next_timeout() const noexcept;
  /// Safe to call spuriously.
  [[nodiscard]] const actions& handle_timeout(timestamp now);

  session_phase phase() const noexcept;
  /// True once the WebSocket is open and session.update has been sent: audio
  /// appended from now on is read as µ-law.
  bool accepts_audio() const noexcept;
  /// The response in progress (created and not yet done), or "".
  std::string_view active_response() const noexcept { return active_response_; }
  /// A response is requested, active or queued.
  bool responding() const noexcept {
    return response_requested_ || !active_response_.empty() || !pending_responses_.empty();
  }
  /// Tool calls the host has not answered yet.
  bool has_open_tool_calls() const noexcept { return !open_tool_calls_.empty(); }
  /// µ-law bytes received so far for an output item (0 if unknown).
  std::uint64_t item_audio_bytes(std::string_view item_id) const noexcept;
  const std::optional<session_failure>& failure() const noexcept { return failure_; }
  /// Tool calls the host has not answered yet.
  const std::vector<std::string>& open_tool_calls() const noexcept { return open_tool_calls_; }
  /// A response is requested, active or queued.
  bool response_pending() const noexcept {
    return response_requested_ || !active_response_.empty() || !pending_responses_.empty();
  }
  const session_counters& counters() const noexcept { return counters_; }
  const session_options& options() const noexcept { return options_; }

 private:
  enum class timer { connect_deadline, configure_deadline, count_ };

  struct queued_text {
    std::string text;
    bool respond = true;
  };
  struct item_record {
    std::string id;
    std::uint64_t audio_bytes = 0;
  };

  void on_event(const event& ev);
  void on_session_updated(const session_updated& ev);
  void on_error(const error_event& ev);
  void on_response_done(const response_done& ev);
  void on_output_item_done(const output_item_done& ev);
  void on_tool_result(const session_in::tool_result& r);
  void on_user_text(const session_in::user_text& t);
  void on_leg_closed(const session_in::leg_closed& c);
  void maybe_greet();
  void request_response(std::string_view instructions);
  void send_next_response();
  void fail(session_failure::kind what, std::string detail, std::string_view code = {});
  void warn(warning_code code, std::string detail);
  item_record& item(std::string_view id);

  session_options options_;
  session_phase phase_ = session_phase::connecting;
  timer_table<timer> timers_;
  actions out_;

  bool stream_ready_ = false;
  bool greeted_ = false;
  bool response_requested_ = false;  ///< response.create sent, response.created not yet seen
  std::string active_response_;
  std::deque<std::string> pending_responses_;    ///< instructions of queued response.create
  std::vector<queued_text> pending_user_texts_;  ///< received before the session was ready
  std::vector<std::string> open_tool_calls_;     ///< call ids awaiting a host result
  std::vector<item_record> items_;               ///< recent output items (bounded)
  std::string session_id_;
  std::string last_error_;
  std::optional<session_failure> failure_;
  session_counters counters_;
};

}  // namespace rtb::openai
