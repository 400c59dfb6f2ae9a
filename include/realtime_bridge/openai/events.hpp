// Server events of the OpenAI Realtime API (GA protocol), as decoded views.
//
// Only the events and fields a telephony bridge needs are decoded; any other
// event type decodes to unknown_event (never an error) and unknown fields are
// ignored. Beta-era names that users still meet decode to their GA
// equivalents: response.audio.* -> audio_*, response.audio_transcript.* ->
// transcript_*, conversation.item.created -> item_added.
//
// Every std::string_view points into the decoder that produced the event (or
// the message it decoded) and is valid until that decoder's next decode().
#pragma once

#include <cstdint>
#include <string_view>
#include <variant>

namespace rtb::openai {

/// The `error` object of an `error` event, of `status_details.error`, or of a
/// failed input transcription. Absent members are empty.
struct error_info {
  std::string_view type;
  std::string_view code;
  std::string_view message;
  std::string_view param;
  std::string_view event_id;  ///< the client event that caused it, if it had one
};

/// The parts of the session object a bridge checks.
struct session_info {
  std::string_view id;
  std::string_view model;
  std::int64_t expires_at = 0;     ///< Unix seconds, 0 when absent
  std::string_view input_format;   ///< audio.input.format.type
  std::string_view output_format;  ///< audio.output.format.type
  std::string_view voice;          ///< audio.output.voice
};

struct session_created {
  session_info session;
};
struct session_updated {
  session_info session;
};
struct error_event {
  error_info error;
};

struct speech_started {
  std::int64_t audio_start_ms = 0;
  std::string_view item_id;
};
struct speech_stopped {
  std::int64_t audio_end_ms = 0;
  std::string_view item_id;
};
struct input_committed {
  std::string_view item_id;
  std::string_view previous_item_id;
};

/// A conversation item as it appears in item and output_item events.
struct item_info {
  std::string_view id;
  std::string_view type;     ///< "message", "function_call", "function_call_output", …
  std::string_view role;     ///< for messages
  std::string_view status;   ///< "in_progress", "completed", "incomplete"
  std::string_view call_id;  ///< for function calls
  std::string_view name;
  std::string_view arguments;
};

struct item_added {  ///< conversation.item.added (GA) or conversation.item.created (beta)
  std::string_view previous_item_id;
  item_info item;
};
struct item_done {
  std::string_view previous_item_id;
  item_info item;
};
struct item_truncated {
  std::string_view item_id;
  std::int64_t content_index = 0;
  std::int64_t audio_end_ms = 0;
};
struct item_deleted {
  std::string_view item_id;
};

struct response_created {
  std::string_view response_id;
  std::string_view status;
};

struct output_item_added {
  std::string_view response_id;
  std::int64_t output_index = 0;
  item_info item;
};
struct output_item_done {
  std::string_view response_id;
  std::int64_t output_index = 0;
  item_info item;
};

/// response.output_audio.delta: base64 audio in the session's output format.
struct audio_delta {
  std::string_view response_id;
  std::string_view item_id;
  std::int64_t output_index = 0;
  std::int64_t content_index = 0;
  std::string_view delta;  ///< validated as base64
};
struct audio_done {
  std::string_view response_id;
  std::string_view item_id;
  std::int64_t output_index = 0;
  std::int64_t content_index = 0;
};

struct transcript_delta {
  std::string_view response_id;
  std::string_view item_id;
  std::int64_t content_index = 0;
  std::string_view delta;
};
struct transcript_done {
  std::string_view response_id;
  std::string_view item_id;
  std::int64_t content_index = 0;
  std::string_view transcript;
};

struct input_transcription_completed {
  std::string_view item_id;
  std::int64_t content_index = 0;
  std::string_view transcript;
};
struct input_transcription_failed {
  std::string_view item_id;
  std::int64_t content_index = 0;
  error_info error;
};

struct function_arguments_delta {
  std::string_view response_id;
  std::string_view item_id;
  std::string_view call_id;
  std::string_view delta;
};
struct function_arguments_done {
  std::string_view response_id;
  std::string_view item_id;
  std::string_view call_id;
  std::string_view name;  ///< only in newer servers; prefer the item's name
  std::string_view arguments;
};

/// Token usage of one response (response.done.response.usage). Zero when absent.
struct usage {
  std::int64_t total_tokens = 0;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t input_text_tokens = 0;
  std::int64_t input_audio_tokens = 0;
  std::int64_t input_cached_tokens = 0;
  std::int64_t output_text_tokens = 0;
  std::int64_t output_audio_tokens = 0;
};

struct response_done {
  std::string_view response_id;
  std::string_view status;         ///< completed | cancelled | failed | incomplete
  std::string_view status_reason;  ///< e.g. turn_detected, client_cancelled, max_output_tokens
  error_info error;                ///< status_details.error, for failed responses
  struct usage usage;
};

struct rate_limits_updated {
  std::int64_t tokens_remaining = -1;  ///< the "tokens" limit's remaining, -1 if absent
};

/// Any other event type. `documented` is true for GA events the bridge has no
/// use for (content parts, text output, transcription deltas, …) and false for
/// types that are new to this library, which hosts may want to hear about.
struct unknown_event {
  std::string_view type;
  bool documented = false;
};

using event =
    std::variant<session_created, session_updated, error_event, speech_started, speech_stopped, input_committed,
                 item_added, item_done, item_truncated, item_deleted, response_created, output_item_added,
                 output_item_done, audio_delta, audio_done, transcript_delta, transcript_done,
                 input_transcription_completed, input_transcription_failed, function_arguments_delta,
                 function_arguments_done, response_done, rate_limits_updated, unknown_event>;

}  // namespace rtb::openai
