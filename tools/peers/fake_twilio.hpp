// Fake Twilio callers on libwebsockets, for tests, the simulated-call demo and
// the benchmarks. One caller_pool runs one service thread and any number of
// calls: each is a WebSocket client to the bridge's media-stream endpoint that
// behaves like Twilio's side of a bidirectional <Connect><Stream> (twilio.md §5):
//
//   - sends `connected`, then `start` (sequenceNumber "1", streamSid, callSid,
//     tracks ["inbound"], mediaFormat audio/x-mulaw 8000 1, customParameters),
//     then a `media` frame every 20 ms, in real time, for the whole call
//     (silence between scripted speech), with string counters exactly like
//     Twilio's (sequenceNumber, chunk from "1", timestamp from `first_timestamp`);
//   - plays what the bridge sends through a playout_model at 8 bytes/ms, echoes
//     each `mark` when its audio has played (at once if nothing is buffered),
//     and on `clear` drops the buffer and echoes every pending mark at once;
//   - validates every message it receives like Twilio does (31951): only media,
//     mark and clear, exactly their fields, the right streamSid, text frames
//     only — violations are recorded, not fatal;
//   - follows its script: speech, silence, DTMF digits, then `stop` and a close.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "peers/mulaw.hpp"

namespace rtb::peers {

namespace step {
struct say { mulaw_bytes audio; };                 ///< stream this audio (then silence again)
struct pause { std::chrono::milliseconds length; };///< silence frames for this long
struct digit { char key; };                        ///< a dtmf message
/// Silence until AI audio starts playing (after this step began), then `after`
/// more; or until `timeout`. Used to interrupt the AI mid-sentence.
struct wait_for_ai_audio { std::chrono::milliseconds after{0}; std::chrono::milliseconds timeout{10'000}; };
/// Silence until nothing is queued or playing, or `timeout`.
struct wait_for_ai_silence { std::chrono::milliseconds timeout{15'000}; };
struct hang_up {};                                 ///< send stop, then close (code 1000)
struct drop_connection {};                         ///< close the socket without stop
struct send_raw { std::string text; };             ///< send this text frame verbatim (bad-input tests)
}  // namespace step

using caller_step = std::variant<step::say, step::pause, step::digit, step::wait_for_ai_audio,
                                 step::wait_for_ai_silence, step::hang_up, step::drop_connection,
                                 step::send_raw>;

struct caller_options {
  /// The bridge's stream endpoint, e.g. ws://127.0.0.1:5050/media-stream.
  std::string url;
  /// Sent as X-Twilio-Signature on the upgrade when not empty.
  std::string signature;
  std::string account_sid = "AC00000000000000000000000000000000";
  std::string call_sid;    ///< "" = generated, CA + 32 hex digits
  std::string stream_sid;  ///< "" = generated, MZ + 32 hex digits
  std::vector<std::pair<std::string, std::string>> parameters;
  std::vector<caller_step> script;
  /// Playback starts this long after audio arrives (network + jitter buffer).
  std::chrono::milliseconds playout_delay{0};
  std::uint64_t first_timestamp = 102;     ///< media.timestamp of the first frame (Twilio's is not 0)
  std::chrono::milliseconds connect_timeout{5'000};
};

/// Ground truth and observations of one call, for assertions and reports.
struct call_result {
  bool connected = false;            ///< the WebSocket upgrade succeeded
  int refused_status = 0;            ///< HTTP status if the upgrade was refused
  bool finished = false;             ///< the call is over (either side closed)
  bool closed_by_bridge = false;
  int close_code = 0;                ///< from the bridge's close frame, if any
  std::string close_reason;
  std::uint64_t frames_sent = 0;     ///< media frames sent
  std::uint64_t media_received = 0;  ///< media messages received
  std::uint64_t audio_bytes_received = 0;
  std::uint64_t marks_received = 0;
  std::uint64_t marks_echoed = 0;
  int clears = 0;
  /// For each clear: ms of AI audio played since the previous clear (what the
  /// caller heard of the interrupted answer).
  std::vector<std::int64_t> heard_at_clears;
  std::vector<std::string> violations;     ///< messages Twilio would reject
  mulaw_bytes heard_audio;                 ///< everything actually played, in order (for a WAV)
  /// Latency: from the end of each scripted `say` to the first AI audio after it.
  std::vector<std::chrono::milliseconds> response_latencies;
  std::string call_sid;
  std::string stream_sid;
};

class caller_pool {
 public:
  caller_pool();   ///< starts the service thread
  ~caller_pool();  ///< closes remaining calls, stops the thread
  caller_pool(const caller_pool&) = delete;
  caller_pool& operator=(const caller_pool&) = delete;

  /// Starts a call; returns its id. Thread-safe.
  int start_call(caller_options options);
  /// Waits until the call has finished (or the timeout); true if finished.
  bool wait(int id, std::chrono::milliseconds timeout);
  call_result result(int id) const;  ///< a snapshot, safe at any time
  std::size_t active_calls() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb::peers
