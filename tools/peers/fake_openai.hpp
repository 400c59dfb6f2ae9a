// A fake OpenAI Realtime API server (GA protocol) on libwebsockets, for tests,
// the simulated-call demo and the benchmarks. It speaks the protocol over a
// real WebSocket (ws:// or wss://) on loopback, runs its own service thread,
// and serves any number of sessions at once.
//
// What it does per session (openai-realtime.md is the reference):
//   - on connect: checks `Authorization: Bearer <key>` (when expected_api_key
//     is set) and refuses an `OpenAI-Beta` header like the real service
//     (error beta_api_shape_disabled, then close 4000); then sends
//     session.created with the GA default session (24 kHz PCM, alloy);
//   - session.update: applies it (format, voice, instructions, turn detection,
//     tools) and answers session.updated with the effective session;
//     beta-shaped fields give error unknown_parameter; a voice that is not
//     one of OpenAI's gives error invalid_value (param session.audio.output.voice);
//   - input_audio_buffer.append: decodes the audio (session input format:
//     µ-law, A-law or PCM) and runs an energy VAD with the session's
//     server_vad settings (prefix_padding_ms, silence_duration_ms; the level
//     is options.vad_threshold_dbfs, see below): speech_started (with
//     audio_start_ms), speech_stopped, committed, conversation.item.added/done
//     for the user item, an input transcription (scripted text) if configured,
//     and — with create_response — a response;
//   - a response: response.created, output items in order, each audio item as
//     output_item.added, content_part.added, transcript deltas, audio deltas
//     paced at `speed` times real time in chunks of `chunk_ms`, then the .done
//     cascade, conversation.item.done, response.done (completed, with usage);
//     a function-call item streams function_call_arguments.delta/done;
//   - speech_started while a response is in progress with interrupt_response:
//     the response is cancelled (remaining audio not sent; .done events with
//     status incomplete; response.done cancelled/turn_detected);
//   - response.create while a response is active: error
//     conversation_already_has_active_response; response.cancel with none:
//     error response_cancel_not_active;
//   - conversation.item.truncate: error "Audio content of Xms is already
//     shorter than Yms" (code invalid_value) when audio_end_ms exceeds the
//     audio generated for the item, unsupported_content_type for items without
//     audio, else conversation.item.truncated;
//   - conversation.item.delete: conversation.item.deleted (error if unknown);
//   - conversation.item.create: user text or function_call_output →
//     conversation.item.added/done;
//   - scripted failures (failure below).
//
// Details the tests may rely on:
//   - connect: `Authorization` must be `Bearer <something>`; without it, or
//     with a key other than expected_api_key, the session gets error
//     invalid_api_key and close 3000 "invalid_request_error.invalid_api_key".
//     An `OpenAI-Beta` header gets error beta_api_shape_disabled and close
//     4000 "invalid_request_error.beta_api_shape_disabled". Such sessions are
//     recorded (with an empty session_id). Only the path /v1/realtime
//     upgrades (others: HTTP 404, not recorded); refuse_upgrade answers 403
//     (not recorded either: see upgrades_refused()).
//   - session.update needs `session.type:"realtime"` (else
//     missing_required_parameter) and rejects any unknown field, including
//     the beta ones, with unknown_parameter (param e.g.
//     "session.input_audio_format"); a rejected update changes nothing.
//     `audio/pcm` needs rate 24000. A voice change after assistant audio:
//     cannot_update_voice. Output audio is converted to the session's output
//     format (pcmu, pcma, or 24 kHz PCM before any session.update).
//   - VAD: a 20 ms frame of appended audio is speech when its level is above
//     options.vad_threshold_dbfs (the session's `threshold` is echoed but not
//     used); speech_started after 60 ms of consecutive speech frames with
//     audio_start_ms = max(0, first speech frame - prefix_padding_ms);
//     speech_stopped after silence_duration_ms of non-speech with
//     audio_end_ms = the end of that silence. All ms count the audio appended
//     in the session (whole 20 ms frames). semantic_vad acts as server_vad
//     with a silence of 500 ms (low 1000, high 250).
//   - With transcription enabled, the transcription (one delta, then
//     completed) follows response.created when the turn creates a response,
//     else it follows conversation.item.done of the user item.
//   - Response pacing: response.created at once; after first_audio_delay the
//     assistant item's added events and its first delta; then one delta every
//     chunk_ms / speed (speed <= 0: as fast as the service loop runs).
//     Transcript deltas (one word each, with `obfuscation`) run slightly ahead
//     of the audio. After the last delta the .done cascade, then response.done
//     and rate_limits.updated. With output_modalities ["text"] the item has
//     output_text deltas instead of audio.
//   - Truncate accounting per assistant item: "generated" = audio of the
//     deltas the server has emitted (queued) for it, "sent" = of those written
//     to the socket. audio_end_ms > generated gives error invalid_value
//     "Audio content of <generated>ms is already shorter than <audio_end_ms>ms";
//     an accepted truncate shortens the item's generated audio to audio_end_ms.
//   - Client events are processed in order; every event is recorded (an
//     unparseable message records an empty type and gets error invalid_json).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "peers/mulaw.hpp"

namespace rtb::peers {

class bench_probe;

/// One response the fake model gives, in order: the first response of a
/// session uses script[0], the next script[1], …, wrapping around.
struct scripted_response {
  std::string transcript = "This is the fake assistant speaking.";
  /// The audio of the spoken item; empty = a tone as long as `audio_ms`.
  mulaw_bytes audio;
  int audio_ms = 1500;
  /// If set, the response also contains a function_call item (after the
  /// spoken one) with this name and these JSON arguments.
  std::optional<std::pair<std::string, std::string>> function_call;
  /// Two spoken items in one response (like gpt-realtime-2 can produce);
  /// each carries the whole transcript and audio above.
  bool two_audio_items = false;
  // A response whose transcript and audio are both empty (audio_ms <= 0) has
  // no spoken item: with function_call set it is a bare function call.
};

enum class failure_mode {
  none,
  refuse_upgrade,            ///< answer the WebSocket upgrade with HTTP 403
  error_then_close_3000,     ///< error invalid_api_key, then close 3000 "invalid_request_error.invalid_api_key"
  error_then_close_4000,     ///< error beta_api_shape_disabled, then close 4000
  model_not_found,           ///< error model_not_found (a key without Realtime access), then close 3000
  close_mid_response,        ///< during the first response's audio (after half its deltas), close 1011
  reset_mid_response,        ///< the same moment, a TCP reset instead (no close frame)
  server_error_mid_response, ///< the same moment, error server_error, then close 1011
  expire_mid_response,       ///< the same moment, error session_expired, then close 1000
  go_silent,                 ///< accept the socket, never send anything
  /// At the first client event: error invalid_api_key and close 3000, then a
  /// TCP reset straight after them (no waiting for the answer), so the client
  /// sees the frames and the RST together.
  error_then_reset,
};

struct fake_openai_options {
  std::string bind = "127.0.0.1";
  int port = 0;                       ///< 0 = pick a free port
  /// TLS: serve wss:// with this certificate chain and key (PEM files).
  std::string cert_file;
  std::string key_file;
  std::string expected_api_key;       ///< "" = accept any key (still required to be present)
  std::vector<scripted_response> script{scripted_response{}};
  /// A session whose URL names one of these models follows that script
  /// instead (agents with their own model: one fake, several behaviours).
  std::map<std::string, std::vector<scripted_response>> scripts_by_model;
  /// Transcripts of the caller's turns, in order (input transcription events
  /// are sent only when the session enables transcription).
  std::vector<std::string> caller_transcripts{"Hello?"};
  double speed = 4.0;                 ///< response audio is streamed this many times faster than real time (<= 0: no pacing)
  int chunk_ms = 20;                  ///< audio per delta
  std::chrono::milliseconds first_audio_delay{30};  ///< response.created -> first delta
  failure_mode failure = failure_mode::none;
  /// The failure applies to the first this many sessions only (0: every
  /// session), so that a bridge that reconnects finds a working server.
  int failing_sessions = 0;
  /// Energy VAD: a 20 ms frame counts as speech when louder than this.
  double vad_threshold_dbfs = -40.0;
  /// Record every client event's type in session_record::client_event_types
  /// (which grows by one string per append). Off for long runs.
  bool record_client_events = true;
  /// Benchmarks: with a probe, every append's frame tag is read and reported
  /// (latency, order, loss), and every audio delta (µ-law sessions) carries a
  /// tag: the call learned from the session's inbound tags, the response
  /// number in the session (from 0), the delta's index in the response, and
  /// the time just before it is written to the socket. A probe with a window
  /// (bench_probe::set_window) turns on flood mode: each session that knows
  /// its call streams one response after another, unpaced, keeping at most
  /// that many deltas unacknowledged by the caller (VAD responses still run).
  std::shared_ptr<bench_probe> probe;
  /// Wait for sockets with lws' libev event library (epoll) instead of its
  /// poll() loop, which scans every socket at every wake-up: for hundreds
  /// of sessions (the benchmarks).
  bool epoll = false;
  /// Pace the responses with a 1 ms ticker thread (service_timers.hpp)
  /// instead of lws' timers, around which lws 4.1.6 spins for a millisecond
  /// each: with hundreds of sessions, all the time.
  bool ticker_timers = false;
};

/// What happened in one session, for assertions.
struct session_record {
  std::string session_id;             ///< the sess_… id of session.created ("" if the session was refused)
  std::string path;                   ///< request path with query, e.g. /v1/realtime?model=gpt-realtime
  std::string authorization;          ///< the Authorization header as received
  std::string host;                   ///< the Host header as received
  bool origin_header = false;         ///< an Origin header came (a server-side client sends none)
  bool beta_header = false;
  std::vector<std::string> client_event_types;  ///< every client event's type, in order (appends included; only with
                                                ///< options.record_client_events)
  std::uint64_t appended_bytes = 0;   ///< µ-law received in appends
  std::uint64_t appends = 0;
  std::string session_update;         ///< the last session.update, verbatim
  struct truncate_record {
    std::string item_id;
    std::int64_t audio_end_ms = 0;
    std::int64_t item_audio_ms = 0;   ///< audio generated for the item
    std::int64_t item_sent_ms = 0;    ///< audio actually sent for it before the truncate arrived
    bool accepted = false;
  };
  std::vector<truncate_record> truncates;
  std::vector<std::string> deleted_items;
  std::vector<std::pair<std::string, std::string>> function_outputs;  ///< call_id, output
  std::vector<std::string> user_texts;
  int responses = 0;
  int responses_cancelled = 0;
  /// With a probe: the call index read from the inbound tags (-1: none yet),
  /// and per response (in order) the audio deltas written and whether it was
  /// cancelled (a cancelled response legitimately stops early).
  int call_index = -1;
  struct response_tally {
    std::uint32_t deltas_written = 0;
    bool cancelled = false;
    bool finished = false;
  };
  std::vector<response_tally> response_tallies;
  int speech_started = 0;
  std::vector<std::string> errors_sent;  ///< codes of error events sent
  bool closed_by_client = false;
  int client_close_code = 0;
  bool open = true;
};

class fake_openai {
 public:
  explicit fake_openai(fake_openai_options options);  ///< binds and starts serving; throws std::runtime_error if it cannot bind
  ~fake_openai();                                     ///< stops the service thread
  fake_openai(const fake_openai&) = delete;
  fake_openai& operator=(const fake_openai&) = delete;

  int port() const noexcept;
  /// True when serving wss:// (cert_file and key_file set).
  bool tls() const noexcept;
  /// ws://127.0.0.1:<port>/v1/realtime?model=<model> (wss:// in TLS mode;
  /// the host is options.bind unless that is empty or 0.0.0.0).
  std::string url(const std::string& model = "gpt-realtime") const;

  /// Snapshots, safe from any thread. One record per accepted WebSocket, in
  /// the order they were accepted.
  std::vector<session_record> sessions() const;
  std::size_t sessions_opened() const;
  /// Upgrades answered with HTTP 403 (failure_mode::refuse_upgrade).
  std::size_t upgrades_refused() const;
  /// Waits until `done(sessions())` holds, polling; false on timeout.
  bool wait_for(const std::function<bool(const std::vector<session_record>&)>& done,
                std::chrono::milliseconds timeout) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb::peers
