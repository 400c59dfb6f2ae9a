/*
 * realtime_bridge's C ABI: one phone call (a Twilio Media Stream) bridged to
 * one OpenAI Realtime session, driven from C or from any language with a C
 * foreign-function interface (Go, Rust, Python, ...).
 *
 * This header is C99 and includes only <stddef.h> and <stdint.h>. It wraps the
 * C++ call driver (realtime_bridge/call_driver.hpp) and links as
 * realtime_bridge::c (librealtime_bridge_c, a shared library by default that
 * exports only the rtb_ functions below). docs/embedding.md ("From C") walks
 * through a whole host.
 *
 * Shape
 * -----
 * The library opens no socket, starts no thread and reads no clock. The host
 * owns both WebSocket legs of a call (Twilio's, accepted; OpenAI's, opened by
 * the host) and feeds the call:
 *
 *   - every complete text message of a leg   rtb_call_on_text(), or its pieces
 *                                              with rtb_call_on_fragment()
 *   - the OpenAI socket opened                rtb_call_on_openai_open()
 *   - a leg closed (or OpenAI failed to open) rtb_call_on_closed()
 *   - the deadline from rtb_call_next_timeout() has come   rtb_call_on_timer()
 *   - the host's own commands                 rtb_call_submit_tool_result(),
 *                                              rtb_call_send_user_text(),
 *                                              rtb_call_end()
 *
 * each with the current time. In return the call asks the host to send text
 * on a leg, to close a leg, and tells it what happened (events). The host
 * chooses how it hears that when it creates the call:
 *
 *   - callbacks (rtb_call_options.callbacks set): send_text, close_leg and
 *     on_event are called from inside the function that fed the input, in
 *     order;
 *   - an action list (callbacks NULL): the same requests are queued as
 *     rtb_action values; take them with rtb_call_next_action() after each
 *     input, until it returns NULL.
 *
 * After every input, re-arm your timer from rtb_call_next_timeout().
 *
 * Time
 * ----
 * Every input carries `now_us`: microseconds on a monotonic clock of the
 * host's choice (CLOCK_MONOTONIC, say). Only differences matter; the call's
 * origin is the `now_us` given to rtb_call_create(). A time earlier than one
 * already given counts as that later time. Deadlines come back on the same
 * clock. Values must stay within 2^53 microseconds (285 years) of the
 * origin.
 *
 * Errors
 * ------
 * Functions that can fail return an rtb_status: RTB_OK (0) or a negative
 * RTB_E_ code. After a failure, rtb_last_error() says what went wrong, in
 * words. Nothing is thrown across this interface: a failure inside the library
 * becomes RTB_E_NO_MEMORY or RTB_E_INTERNAL. A peer's bad input is never an
 * error here: the call reports it as a RTB_EVENT_WARNING or ends with a
 * reason (see docs/troubleshooting.md). Getters that cannot fail return their
 * value directly (documented for a NULL handle).
 *
 * Strings
 * -------
 * Strings going in are (pointer, length) pairs; they need no terminating NUL,
 * and a NULL pointer is allowed with length 0. They are copied before the
 * function returns.
 *
 * Strings coming out are rtb_string values: `data` is never NULL and is
 * followed by a NUL byte (data[size] == 0), so it can be used as a C string;
 * `size` is authoritative, because a transcript may contain a NUL. Lifetimes:
 *   - anything passed to a callback is valid only during that callback;
 *   - an rtb_action from rtb_call_next_action(), and everything it points to,
 *     is valid until the next call of rtb_call_next_action(), of an input
 *     function (rtb_call_on_*, the host commands) or rtb_call_destroy() on
 *     the same call;
 *   - rtb_version(), rtb_status_name(), rtb_end_reason_name(),
 *     rtb_warning_name() and rtb_config_default_json() return static
 *     strings, valid for the life of the process;
 *   - rtb_last_error() is valid until the next rtb_ call on the same thread.
 * Copy what you keep.
 *
 * Threads
 * -------
 * A call (and everything it calls back) belongs to one thread at a time: do
 * not call into the same call from two threads at once. Different calls may
 * run on different threads. An rtb_parser may be shared by calls that take
 * turns (the calls of one event-loop thread), never by calls running at the
 * same time. rtb_last_error() is per thread. The functions without a call or
 * parser argument are safe from any thread.
 *
 * Inside a callback, the host may call the host commands
 * (rtb_call_submit_tool_result, rtb_call_send_user_text, rtb_call_end: they
 * run once the current input is done), the getters, and rtb_call_destroy()
 * (the call is freed when the outermost rtb_ function returns, and no
 * callback runs after it). An input function called from a callback fails
 * with RTB_E_REENTRANT. Callbacks must return normally (no longjmp, no C++
 * exception).
 */
#ifndef REALTIME_BRIDGE_C_REALTIME_BRIDGE_H
#define REALTIME_BRIDGE_C_REALTIME_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

/* ---- Version --------------------------------------------------------------
 * The version of this header. rtb_version() and rtb_version_number() give the
 * library's, which a host can compare at start-up: the ABI is kept within a
 * major.minor version (structs only grow at their end; see
 * rtb_call_options.struct_size).
 */
#define RTB_VERSION_MAJOR 0
#define RTB_VERSION_MINOR 1
#define RTB_VERSION_PATCH 0
#define RTB_VERSION_STRING "0.1.0"
/* major * 10000 + minor * 100 + patch */
#define RTB_VERSION_NUMBER (RTB_VERSION_MAJOR * 10000 + RTB_VERSION_MINOR * 100 + RTB_VERSION_PATCH)

/* Marks the exported functions. The library is built with hidden visibility,
 * so these are the only symbols it exports. */
#if defined(__GNUC__) || defined(__clang__)
#define RTB_API __attribute__((visibility("default")))
#else
#define RTB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Basic types ------------------------------------------------------- */

/* A string the library hands out: data[size] is always 0 (see "Strings"). */
typedef struct rtb_string {
  const char* data;
  size_t size;
} rtb_string;

/* RTB_OK or a negative RTB_E_ code. */
typedef int32_t rtb_status;
enum {
  RTB_OK = 0,
  /* A NULL handle or output pointer, a NULL string with a non-zero length,
     an unknown leg, or a time too far from the call's origin. */
  RTB_E_INVALID_ARGUMENT = -1,
  /* The configuration was refused; rtb_last_error() names the setting. */
  RTB_E_INVALID_CONFIG = -2,
  /* An input function was called from inside one of the call's own callbacks. */
  RTB_E_REENTRANT = -3,
  /* Memory ran out while handling an input: end and destroy the call. */
  RTB_E_NO_MEMORY = -4,
  /* rtb_call_options.struct_size does not describe a known layout. */
  RTB_E_VERSION = -5,
  /* An unexpected failure inside the library (a bug; please report it with
     the call's trace). Destroy the call. */
  RTB_E_INTERNAL = -6
};

/* The two legs of a call. */
enum { RTB_LEG_TWILIO = 0, RTB_LEG_OPENAI = 1 };

/* rtb_call_next_timeout() when the call has no deadline. */
#define RTB_NO_TIMEOUT INT64_MAX

/* WebSocket close codes the bridge uses. */
enum {
  RTB_CLOSE_NORMAL = 1000,
  RTB_CLOSE_GOING_AWAY = 1001,
  RTB_CLOSE_POLICY_VIOLATION = 1008,
  RTB_CLOSE_INTERNAL_ERROR = 1011
};

/* Why a call ended (RTB_EVENT_CALL_ENDED's `code`); docs/troubleshooting.md
   explains each. */
enum {
  RTB_END_CALLER_HUNG_UP = 0,       /* Twilio sent stop */
  RTB_END_TWILIO_DISCONNECTED = 1,  /* Twilio's socket closed without stop */
  RTB_END_TWILIO_START_TIMEOUT = 2, /* Twilio connected but never sent start */
  RTB_END_TWILIO_IDLE = 3,          /* Twilio stopped sending media */
  RTB_END_TWILIO_PROTOCOL_ERROR = 4,
  RTB_END_OPENAI_UNREACHABLE = 5, /* could not connect, or no session in time */
  RTB_END_OPENAI_REJECTED = 6,    /* a fatal error event */
  RTB_END_OPENAI_CLOSED = 7,      /* OpenAI closed the socket */
  RTB_END_OPENAI_PROTOCOL_ERROR = 8,
  RTB_END_HOST_ENDED = 9, /* the host called rtb_call_end() */
  RTB_END_CALLER_IDLE = 10, /* the caller stayed silent after a check-in (idle timeout) */
  RTB_END_MAX_DURATION = 11 /* the call reached its maximum duration */
};

/* Recoverable problems (RTB_EVENT_WARNING's `code`). */
enum {
  RTB_WARNING_REJECTED_MESSAGE = 0,
  RTB_WARNING_UNKNOWN_EVENT = 1,
  RTB_WARNING_UNKNOWN_FIELD = 2,
  RTB_WARNING_EARLY_MEDIA = 3,
  RTB_WARNING_LATE_EVENT = 4,
  RTB_WARNING_DUPLICATE_START = 5,
  RTB_WARNING_AUDIO_HELD_OVERFLOW = 6,
  RTB_WARNING_OPENAI_ERROR = 7,
  RTB_WARNING_RESPONSE_FAILED = 8,
  RTB_WARNING_TRANSCRIPTION_FAILED = 9,
  RTB_WARNING_UNKNOWN_TOOL_CALL = 10,
  RTB_WARNING_FOREIGN_MARK = 11,
  RTB_WARNING_CONFIGURATION_IGNORED = 12 /* a configuration given too late or invalid */
};

/* What a call counted (docs/embedding.md, "What the observer hears"). */
typedef struct rtb_counters {
  /* Twilio's leg */
  uint64_t twilio_media_frames; /* accepted while streaming */
  uint64_t twilio_media_bytes;
  uint64_t twilio_early_media_dropped;
  uint64_t twilio_late_events_dropped;
  uint64_t twilio_marks;
  uint64_t twilio_digits;
  uint64_t twilio_duplicate_starts;
  uint64_t twilio_unknown_events;
  /* OpenAI's leg */
  uint64_t openai_responses;
  uint64_t openai_responses_failed;
  uint64_t openai_responses_cancelled;
  uint64_t openai_audio_deltas;
  uint64_t openai_audio_bytes;
  uint64_t openai_errors;
  uint64_t openai_tool_calls;
  uint64_t openai_unknown_events;
  int64_t openai_input_text_tokens;
  int64_t openai_input_audio_tokens;
  int64_t openai_input_cached_tokens;
  int64_t openai_output_text_tokens;
  int64_t openai_output_audio_tokens;
  /* Playout and barge-in */
  uint64_t playout_media_sent;
  uint64_t playout_bytes_sent;
  uint64_t playout_marks_sent;
  uint64_t playout_marks_echoed;
  uint64_t playout_stale_marks;
  uint64_t playout_foreign_marks;
  uint64_t playout_late_deltas_dropped;
  uint64_t playout_barge_ins;
  uint64_t playout_clears;
  uint64_t playout_truncates;
  uint64_t playout_deletes;
  uint64_t playout_cancels;
  /* The call */
  uint64_t caller_frames_forwarded; /* Twilio frames whose audio went to OpenAI */
  uint64_t caller_audio_appends;    /* input_audio_buffer.append messages sent */
  uint64_t held_caller_frames_dropped;
  uint64_t held_ai_deltas_dropped;
  uint64_t rejected_twilio_messages;
  uint64_t rejected_openai_messages;
  uint64_t inputs_after_end;
} rtb_counters;

/* ---- Events: what the host hears ---------------------------------------- */

enum {
  /* Twilio's start: call_sid, stream_sid, parameters (the TwiML <Parameter>s). */
  RTB_EVENT_STREAM_STARTED = 1,
  /* OpenAI accepted the configuration: session_id. */
  RTB_EVENT_SESSION_READY = 2,
  /* The caller's words (with input transcription configured): item_id, text. */
  RTB_EVENT_CALLER_TRANSCRIPT = 3,
  /* The AI's words for one output item: item_id, text. */
  RTB_EVENT_AI_TRANSCRIPT = 4,
  /* The caller barged in: of sent_ms of item_id, heard_ms were heard
     (0: the item was deleted). */
  RTB_EVENT_AI_INTERRUPTED = 5,
  /* The caller pressed a key: text (one character). */
  RTB_EVENT_DTMF = 6,
  /* The model wants a function run: call_id, name, arguments (JSON text as
     the model wrote it, unvalidated). Answer with rtb_call_submit_tool_result(). */
  RTB_EVENT_TOOL_CALL = 7,
  /* Something recoverable went wrong: code (RTB_WARNING_), text (detail). */
  RTB_EVENT_WARNING = 8,
  /* Once, last: code (RTB_END_), text (detail), call_sid, stream_sid (empty
     if Twilio never started), counters. Both legs have been asked to close. */
  RTB_EVENT_CALL_ENDED = 9
};

typedef struct rtb_parameter {
  rtb_string name;
  rtb_string value;
} rtb_parameter;

/* One event. Only the fields its type names are meaningful; every other
   string is empty (never NULL) and every other number 0. */
typedef struct rtb_event {
  int32_t type; /* RTB_EVENT_ */
  int32_t code; /* RTB_WARNING_ or RTB_END_ */
  rtb_string call_sid;
  rtb_string stream_sid;
  rtb_string session_id;
  rtb_string item_id;
  rtb_string text;
  rtb_string call_id;
  rtb_string name;
  rtb_string arguments;
  const rtb_parameter* parameters; /* parameter_count of them (NULL when 0) */
  size_t parameter_count;
  int64_t heard_ms;
  int64_t sent_ms;
  const rtb_counters* counters; /* RTB_EVENT_CALL_ENDED only, else NULL */
} rtb_event;

/* ---- Actions: the list-draining style ------------------------------------ */

enum {
  /* Queue `text` as one WebSocket text message on `leg`. */
  RTB_ACTION_SEND_TEXT = 1,
  /* Close `leg` with close_code and reason `text`, after the messages queued
     before it have been written. */
  RTB_ACTION_CLOSE_LEG = 2,
  /* Tell the host: `event`. */
  RTB_ACTION_EVENT = 3
};

typedef struct rtb_action {
  int32_t type; /* RTB_ACTION_ */
  int32_t leg;  /* RTB_LEG_ (SEND_TEXT, CLOSE_LEG) */
  uint16_t close_code;
  rtb_string text;        /* SEND_TEXT: the message; CLOSE_LEG: the reason */
  const rtb_event* event; /* EVENT only, else NULL */
} rtb_action;

/* ---- Handles -------------------------------------------------------------- */

typedef struct rtb_call rtb_call;
typedef struct rtb_parser rtb_parser;

/* The callback style. Called from inside the input function that caused
   them, in order. `user` is rtb_callbacks.user. send_text and close_leg
   should only queue (write and close from your own loop). */
typedef struct rtb_callbacks {
  void* user;
  /* Required. Queue one text message on `leg`. */
  void (*send_text)(void* user, int32_t leg, const char* text, size_t length);
  /* Required. Close `leg` after what was queued before. */
  void (*close_leg)(void* user, int32_t leg, uint16_t code, const char* reason, size_t reason_length);
  /* Optional. `call` is the call the event belongs to (for host commands). */
  void (*on_event)(void* user, rtb_call* call, const rtb_event* event);
} rtb_callbacks;

typedef struct rtb_call_options {
  /* sizeof(rtb_call_options) as the host was compiled: set by
     rtb_call_options_init(). Later versions only add fields at the end. */
  size_t struct_size;
  /* The call's configuration: a JSON object of the shape the C++
     parse_config_json() reads (docs/embedding.md, "Configuration
     reference"; rtb_config_default_json() shows every setting). Members
     left out keep their defaults; unknown members are refused. NULL or
     length 0: the defaults. */
  const char* config_json;
  size_t config_json_length;
  /* NULL: drain actions with rtb_call_next_action(). Otherwise copied at
     creation. */
  const rtb_callbacks* callbacks;
  /* The largest message accepted from each leg, in bytes (larger ones are
     dropped and reported as warnings). 0: 64 KiB for Twilio, 4 MiB for
     OpenAI. */
  size_t max_twilio_message_bytes;
  size_t max_openai_message_bytes;
  /* Optional: receives the call's trace, one JSON line (no newline) at a
     time, for replaying the call (docs/trace-format.md). Called like the
     other callbacks. */
  void (*trace_line)(void* user, const char* line, size_t length);
  void* trace_user;
  /* Optional: a parser shared with the other calls of this thread
     (see rtb_parser_create). It must outlive the call. */
  rtb_parser* parser;
} rtb_call_options;

/* ---- Library ---------------------------------------------------------------- */

/* The library's version, e.g. "0.1.0". */
RTB_API const char* rtb_version(void);
/* The library's RTB_VERSION_NUMBER. */
RTB_API uint32_t rtb_version_number(void);

/* What the last failed rtb_ function on this thread failed with, in words;
   "" after a success. */
RTB_API const char* rtb_last_error(void);
/* "ok", "invalid_argument", "invalid_config", "reentrant", "no_memory",
   "version", "internal"; "unknown" for other values. */
RTB_API const char* rtb_status_name(rtb_status status);
/* "caller_hung_up", "openai_unreachable", ... ("unknown" for other values). */
RTB_API const char* rtb_end_reason_name(int32_t reason);
/* 1 for the reasons that mean the AI side failed (the caller should get a
   fallback, not silence), else 0. */
RTB_API int rtb_end_reason_is_ai_failure(int32_t reason);
/* "rejected_message", "unknown_event", ... ("unknown" for other values). */
RTB_API const char* rtb_warning_name(int32_t code);

/* The default configuration as JSON, every setting spelled out. */
RTB_API rtb_status rtb_config_default_json(rtb_string* json);
/* Checks a configuration as rtb_call_create() would. RTB_E_INVALID_CONFIG
   with the reason in rtb_last_error(). */
RTB_API rtb_status rtb_config_check(const char* json, size_t length);

/* A JSON parser's working memory (about 6 bytes per byte of the largest
   message seen) for calls that take turns; see "Threads". */
RTB_API rtb_status rtb_parser_create(rtb_parser** parser);
/* NULL is ignored. Destroy the calls that use it first. */
RTB_API void rtb_parser_destroy(rtb_parser* parser);

/* ---- Calls ---------------------------------------------------------------- */

/* Zeroes `options` and sets struct_size. */
RTB_API void rtb_call_options_init(rtb_call_options* options);

/* Creates a call when Twilio's WebSocket has connected. Then open the
   WebSocket to OpenAI right away: wss://api.openai.com/v1/realtime?model=<the
   configuration's openai.model>, with the header "Authorization: Bearer
   <key>" and no OpenAI-Beta header. Caller audio that arrives before it is
   open is held (bounded) and sent once it is.
   RTB_E_INVALID_ARGUMENT, RTB_E_INVALID_CONFIG, RTB_E_VERSION,
   RTB_E_NO_MEMORY. */
RTB_API rtb_status rtb_call_create(const rtb_call_options* options, int64_t now_us, rtb_call** call);

/* Frees the call; NULL is ignored. Nothing is sent or closed: do it when the
   call has finished (rtb_call_finished) and your sockets have closed. From a
   callback, the call is freed once the outermost rtb_ function returns. */
RTB_API void rtb_call_destroy(rtb_call* call);

/* A complete text message arrived on `leg`. */
RTB_API rtb_status rtb_call_on_text(rtb_call* call, int32_t leg, const char* text, size_t length, int64_t now_us);

/* A piece of a text message arrived on `leg` (for WebSocket stacks that
   deliver fragments): the pieces are gathered until `final_fragment` is
   non-zero, then handled as one message. A message that grows beyond the
   leg's limit stops being buffered and is reported as one oversized message.
   `now_us` of the final piece is the message's time. */
RTB_API rtb_status rtb_call_on_fragment(rtb_call* call, int32_t leg, const char* data, size_t length,
                                        int final_fragment, int64_t now_us);

/* The WebSocket to OpenAI has opened (the upgrade succeeded). */
RTB_API rtb_status rtb_call_on_openai_open(rtb_call* call, int64_t now_us);

/* `leg` closed, or the OpenAI WebSocket failed to open. `code` is the close
   frame's code, 0 when there was none. */
RTB_API rtb_status rtb_call_on_closed(rtb_call* call, int32_t leg, uint16_t code, const char* reason,
                                      size_t reason_length, int64_t now_us);

/* The time from rtb_call_next_timeout() has come. Calling it early, or
   when there is no deadline, does nothing. */
RTB_API rtb_status rtb_call_on_timer(rtb_call* call, int64_t now_us);

/* The call's next deadline, on the host's clock; RTB_NO_TIMEOUT when it has
   none (also for a NULL call). */
RTB_API int64_t rtb_call_next_timeout(const rtb_call* call);

/* Host commands. Inside a callback they run once the current input is done,
   at its time (`now_us` is then not used). */
/* The answer to RTB_EVENT_TOOL_CALL `call_id`: `output` is the function's
   result (usually JSON). A spoken response follows once every call of the
   model's batch is answered. */
RTB_API rtb_status rtb_call_submit_tool_result(rtb_call* call, const char* call_id, size_t call_id_length,
                                               const char* output, size_t output_length, int64_t now_us);
/* Text as if the caller had said it; with `respond` non-zero the AI answers. */
RTB_API rtb_status rtb_call_send_user_text(rtb_call* call, const char* text, size_t length, int respond,
                                           int64_t now_us);
/* Ends the call: both legs are closed (Twilio then continues with the TwiML
   after <Connect>) and RTB_EVENT_CALL_ENDED follows with RTB_END_HOST_ENDED. */
RTB_API rtb_status rtb_call_end(rtb_call* call, const char* reason, size_t length, int64_t now_us);

/* The action-list style: the next queued action, or NULL when there is none
   (always NULL with callbacks, and for a NULL call). See "Strings" for how
   long it stays valid. */
RTB_API const rtb_action* rtb_call_next_action(rtb_call* call);

/* 1 once RTB_EVENT_CALL_ENDED has been delivered (or queued), else 0 (also
   for a NULL call). */
RTB_API int rtb_call_finished(const rtb_call* call);

/* Copies the call's counters into `out`, at most `out_size` bytes of them
   (pass sizeof(rtb_counters)). */
RTB_API rtb_status rtb_call_get_counters(const rtb_call* call, rtb_counters* out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* REALTIME_BRIDGE_C_REALTIME_BRIDGE_H */
