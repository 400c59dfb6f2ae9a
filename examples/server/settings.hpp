// realtime-bridge-server's configuration: from the environment, overridden by
// command-line flags of the same names (PORT → --port, OPENAI_API_KEY →
// --openai-api-key). Drop-in compatible with Twilio's sample
// (OPENAI_API_KEY, PORT, /incoming-call, /media-stream).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"
#include "realtime_bridge/twilio/twiml.hpp"
#include "server/outbound_settings.hpp"

namespace rtb::server_app {

struct settings {
  // --- network
  int port = 5050;                            // PORT
  std::string bind_address;                   // BIND_ADDRESS ("" = all)
  int threads = 0;                            // THREADS (0 = one per core)
  std::string event_loop = "auto";            // EVENT_LOOP: auto, libev or poll
  std::string stream_path = "/media-stream";  // STREAM_PATH
  /// PUBLIC_URL: the public https origin Twilio reaches, e.g.
  /// https://bridge.example.com (no path). The stream URL in the TwiML, and
  /// the URL signatures are checked against, is its wss:// form + stream_path.
  std::string public_url;

  // --- OpenAI
  std::string openai_api_key;                 // OPENAI_API_KEY (secret: never logged or printed)
  std::string openai_model = "gpt-realtime";  // OPENAI_MODEL
  /// OPENAI_REALTIME_URL: the full WebSocket URL to use instead of OpenAI's
  /// (query included), for proxies and test peers.
  std::string openai_realtime_url;
  std::string openai_ca_file;        // OPENAI_CA_FILE
  std::string voice = "marin";       // VOICE (one of OpenAI's, unless ALLOW_UNKNOWN_VOICE)
  bool allow_unknown_voice = false;  // ALLOW_UNKNOWN_VOICE
  std::string instructions;          // INSTRUCTIONS, or the contents of INSTRUCTIONS_FILE
  std::string greeting;              // GREETING: what the AI says first ("" = wait for the caller)
  std::string transcription_model;   // TRANSCRIPTION_MODEL ("" = no caller transcripts)
  double vad_threshold = 0.5;        // VAD_THRESHOLD
  int silence_duration_ms = 500;     // SILENCE_DURATION_MS
  /// CALLER_AUDIO_BATCH_MS: caller audio per message to OpenAI (0 = off, one
  /// message per 20 ms frame; else a multiple of 20 from 40 to 200).
  int caller_audio_batch_ms = 0;
  int barge_in_margin_ms = 0;      // BARGE_IN_MARGIN_MS (0-1000)
  int echo_guard_ms = 0;           // ECHO_GUARD_MS (0 = off; 0-10000)
  int reconnect_attempts = 3;        // RECONNECT_ATTEMPTS (0 = off; 0-10)
  int reconnect_window_seconds = 10; // RECONNECT_WINDOW_SECONDS (1-120)
  int session_rollover_seconds = 3300; // SESSION_ROLLOVER_SECONDS (0 = off; 60-3500)
  int min_barge_in_speech_ms = 0;  // MIN_BARGE_IN_SPEECH_MS (0 = off; 0-10000)

  // --- Twilio
  std::string twilio_auth_token;  // TWILIO_AUTH_TOKEN (secret)
  bool allow_unsigned = false;    // ALLOW_UNSIGNED: run without TWILIO_AUTH_TOKEN (warned about)
  std::string say_first;          // SAY_FIRST: a <Say> before connecting ("" = none)
  std::string fallback_say =
      "Sorry, our assistant is not available right now. Please call again later.";  // FALLBACK_SAY
  std::string fallback_dial;     // FALLBACK_DIAL: dial this number instead of apologising
  bool realtime_enabled = true;  // REALTIME_ENABLED=false: answer every call with the fallback
  outbound_settings outbound;    // TWILIO_ACCOUNT_SID, TWILIO_FROM…: outbound calls (outbound_settings.hpp)

  // --- operations
  std::chrono::seconds shutdown_grace{30};  // SHUTDOWN_GRACE_SECONDS
  /// DRAIN_NOTICE_SECONDS: after SIGTERM, /readyz answers 503 at once but
  /// new calls are still taken this long, so that a load balancer's health
  /// checks see it and send new calls elsewhere before this instance starts
  /// refusing them (0 = refuse at once: one instance, nothing to notice).
  std::chrono::seconds drain_notice{0};
  std::size_t max_calls = 0;                // MAX_CALLS (0 = from the open-files limit)
  std::string trace_dir;                    // TRACE_DIR: record each call's trace there ("" = off)
  std::string log_level = "info";           // LOG_LEVEL: debug, info, warning, error
  std::string log_format = "text";          // LOG_FORMAT: text or json
  std::string metrics_token;                // METRICS_TOKEN (secret): bearer token for /metrics ("" = open)
  bool metrics_enabled = true;              // METRICS_ENABLED=false: no /metrics, no relay latency measured

  // --- records and the operator's view
  std::string database_url;   // DATABASE_URL ("" = SQLite at data/calls.db; "off"); may hold a password
  /// INSTANCE_NAME: this instance's name in the store ("" = the host name).
  /// Instances sharing a database need distinct names, each the same across
  /// its restarts: at start-up an instance closes the calls it left open.
  std::string instance_name;
  std::string admin_token;    // ADMIN_TOKEN (secret): the calls API, live events and /calls ("" = off)
  std::string events_url;     // EVENTS_URL: POST each live event here ("" = off)
  std::string events_secret;  // EVENTS_SECRET (secret): signs the events

  // --- the business line
  std::string agents_file;     // AGENTS_FILE: agent profiles ("" = one agent from these settings)
  std::string tool_secret;     // TOOL_SECRET (secret): signs the tool requests
  int tool_timeout_ms = 8000;  // TOOL_TIMEOUT_MS

  /// The OpenAI URL to connect to: openai_realtime_url, or OpenAI's with the model.
  std::string effective_openai_url() const;
  /// wss://<public host>[:port]<stream_path>, or "" without PUBLIC_URL.
  std::string stream_url() const;
};

/// Reads settings from `env` (a lookup: name → value, nullopt if unset) and
/// `args` (argv without the program name; --name=value or --name value;
/// --help or -h is reported as an error whose message is usage()). A flag
/// overrides its variable; the last of repeated flags wins; an empty value
/// (variable or flag) counts as not set, so `--name=` clears a variable.
/// A malformed or contradictory setting is an error (errc::invalid_config)
/// naming it as it was given, e.g. "PORT must be a number from 0 to 65535,
/// not 'abc'" or "--port must be …"; unknown flags are named; stray
/// arguments are reported by position only (they may be a secret that lost
/// its flag). Secrets' values never appear in messages: a quoted value that
/// contains one is replaced by "(a value containing a secret)".
/// OPENAI_API_KEY is not required here (the server decides, e.g. for a
/// simulated mode). The resulting call_config_from() passes rtb::validate().
[[nodiscard]] result<settings> load_settings(const std::function<std::optional<std::string>(std::string_view)>& env,
                                             const std::vector<std::string>& args);

/// Signatures are checked unless the operator opted out: TWILIO_AUTH_TOKEN
/// (with PUBLIC_URL) is required unless ALLOW_UNSIGNED=true (or
/// REALTIME_ENABLED=false, which places no calls). The message says what to set.
[[nodiscard]] result<void> check_signatures_configured(const settings& s);

/// Reads and checks AGENTS_FILE; errors name the file, the path in it and
/// what is wrong.
[[nodiscard]] result<service::profile_set> load_profiles(const std::string& path);

/// The process environment as a lookup for load_settings().
std::optional<std::string> process_env(std::string_view name);

/// One line per setting, "NAME=value", for the startup log: " (default)" is
/// appended when the value is the default (the struct does not record whether
/// a value came from a variable or a flag), unset ones read "(not set…)",
/// secrets are only "(set)" or "(not set)", free text is cut at 80 characters
/// and any secret inside another value is shown as "(secret)".
std::vector<std::string> describe(const settings& s);

/// The usage text for --help.
std::string usage();

/// The call configuration these settings describe: model, voice,
/// instructions, server_vad with VAD_THRESHOLD and SILENCE_DURATION_MS,
/// transcription with TRANSCRIPTION_MODEL if set; GREETING (if set) as a
/// greeting of style `instructions` with the text "Greet the caller by saying:
/// <GREETING>" (a per-response instruction, so no user message the caller
/// never said enters the conversation); limits.caller_audio_batch from
/// CALLER_AUDIO_BATCH_MS; barge_in.margin, echo_guard and min_speech from
/// BARGE_IN_MARGIN_MS, ECHO_GUARD_MS and MIN_BARGE_IN_SPEECH_MS. Everything
/// else is left default.
call_config call_config_from(const settings& s);

/// Where Twilio asks what to do when a call's stream ended (<Connect action>).
inline constexpr std::string_view call_ended_path = "/call-ended";

/// FALLBACK_DIAL as a <Dial>, else FALLBACK_SAY as a <Say>.
twilio::fallback fallback_of(const settings& s);

/// The TwiML for /incoming-call: SAY_FIRST, <Connect><Stream url=stream_url()>
/// with `parameters`, then the fallback (<Dial>FALLBACK_DIAL if set, else
/// <Say>FALLBACK_SAY). With REALTIME_ENABLED=false: the fallback alone.
std::string incoming_call_twiml(const settings& s, const std::vector<std::pair<std::string, std::string>>& parameters);

}  // namespace rtb::server_app
