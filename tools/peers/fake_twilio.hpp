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

class bench_probe;

namespace step {
/// Stream this audio (then silence again).
struct say {
  mulaw_bytes audio{};
};
/// Silence frames for this long.
struct pause {
  std::chrono::milliseconds length{};
};
/// A dtmf message.
struct digit {
  char key{};
};
/// Silence until AI audio starts playing (after this step began), then `after`
/// more; or until `timeout`. Used to interrupt the AI mid-sentence.
struct wait_for_ai_audio {
  std::chrono::milliseconds after{0};
  std::chrono::milliseconds timeout{10'000};
};
/// Silence until nothing is queued or playing, or `timeout`. Checked at
/// once: if the AI has not started answering yet, this step ends at once
/// (put a wait_for_ai_audio before it to wait for a whole answer).
struct wait_for_ai_silence {
  std::chrono::milliseconds timeout{15'000};
};
/// Send stop, then close (code 1000); the media stops.
struct hang_up {};
/// Close the TCP connection: no stop, no close frame.
struct drop_connection {};
/// Send this text frame verbatim (bad-input tests).
struct send_raw {
  std::string text{};
};
/// Go back to step `to` (0: the first) and run from there again, forever:
/// a call that keeps taking turns. A loop whose steps take no frames (only
/// digits or raw messages) runs once per frame, not in a busy loop.
struct repeat {
  std::size_t to = 0;
};
}  // namespace step

/// Steps run in order on the 20 ms frame clock: `say`, `pause` and the waits
/// take frames; `digit` and `send_raw` go out before the frame of the tick
/// they are reached in. After the last step the caller keeps sending silence
/// until the bridge closes (or the pool is destroyed).
using caller_step =
    std::variant<step::say, step::pause, step::digit, step::wait_for_ai_audio, step::wait_for_ai_silence, step::hang_up,
                 step::drop_connection, step::send_raw, step::repeat>;

struct caller_options {
  /// The bridge's stream endpoint, e.g. ws://127.0.0.1:5050/media-stream.
  std::string url{};
  /// Sent as X-Twilio-Signature on the upgrade when not empty.
  std::string signature{};
  std::string account_sid = "AC00000000000000000000000000000000";
  std::string call_sid{};    ///< "" = generated, CA + 32 hex digits
  std::string stream_sid{};  ///< "" = generated, MZ + 32 hex digits
  std::vector<std::pair<std::string, std::string>> parameters{};
  std::vector<caller_step> script{};
  /// Playback starts this long after audio arrives in an empty buffer (a
  /// jitter buffer: Twilio's start delay).
  std::chrono::milliseconds playout_delay{0};
  /// The network between Twilio and the bridge, each way: every message the
  /// bridge sends reaches the caller (its playout, its mark and clear
  /// handling) this much after it was received, and every message the caller
  /// sends (media, mark echoes, dtmf, stop) leaves this much after it was
  /// made. Order is kept. heard_at_clears is then what had played when each
  /// clear reached the caller, the ground truth of a truncate.
  std::chrono::milliseconds network_delay{0};
  std::uint64_t first_timestamp = 102;  ///< media.timestamp of the first frame (Twilio's is not 0)
  std::chrono::milliseconds connect_timeout{5'000};
  /// wss:// only (needs caller_pool_options::tls): accept a self-signed
  /// certificate and any host name (for a bridge on loopback with a test
  /// certificate). Off: the system CAs verify.
  bool tls_allow_self_signed = false;
  /// Keep the received audio to build call_result::heard_audio (about 8 KB
  /// per second of AI speech); turn off for large benchmarks (then nothing
  /// grows per frame).
  bool keep_heard_audio = true;
  /// Benchmarks (with caller_pool_options::probe): this call's index in the
  /// probe, -1 = none. Every media frame sent then carries a frame tag
  /// (frame_tag.hpp: this index, a sequence number from 0, the time just
  /// before the write), and every media received is checked against its tag
  /// and reported to the probe. With a probe window (flood mode) frames are
  /// sent unpaced, at most `window` ahead of what the fake OpenAI received.
  int probe_call = -1;
  /// Echo each mark as soon as it arrives, as if the audio had played
  /// (flood mode: audio arrives faster than it could play).
  bool instant_playout = false;
};

/// Ground truth and observations of one call, for assertions and reports.
struct call_result {
  bool connected = false;         ///< the WebSocket upgrade succeeded
  int refused_status = 0;         ///< HTTP status if the upgrade was refused
  bool finished = false;          ///< the call is over (either side closed)
  bool closed_by_bridge = false;  ///< the bridge closed first (close frame or TCP)
  /// From the bridge's close frame, if any (1005 when it had no code). Note
  /// lws 4.1.6 reports codes a peer may not send (1004–1006, 1012–1015,
  /// 1016–2999, <1000) as 1002.
  int close_code = 0;
  std::string close_reason{};
  std::uint64_t frames_sent = 0;     ///< media frames sent
  std::uint64_t media_received = 0;  ///< media messages received
  std::uint64_t audio_bytes_received = 0;
  std::uint64_t marks_received = 0;
  std::uint64_t marks_echoed = 0;
  int clears = 0;
  /// For each clear: ms of AI audio played since the previous clear (what the
  /// caller heard of the interrupted answer).
  std::vector<std::int64_t> heard_at_clears{};
  std::vector<std::string> violations{};  ///< messages Twilio would reject
  mulaw_bytes heard_audio{};              ///< everything actually played, in order (for a WAV)
  /// Latency: from the end of each scripted `say` (when its last frame was
  /// sent) to when the first AI audio received after it starts playing
  /// (playout_delay included). A `say` with no answer before the next `say`
  /// ends has no entry.
  std::vector<std::chrono::milliseconds> response_latencies{};
  /// From when the last AI audio received finished playing to the bridge's
  /// close frame (negative: the bridge closed while audio was still playing,
  /// cutting it off). Unset when the bridge did not close first.
  std::optional<std::chrono::milliseconds> close_after_playout{};
  std::string call_sid{};
  std::string stream_sid{};
  bool stop_sent = false;  ///< the caller sent `stop` (hang_up, or the pool's destructor)
  /// Why the call ended without a WebSocket close: the lws connection error
  /// (e.g. "HS: ws upgrade response not 101", "connect timeout"), "" otherwise.
  std::string error{};
};

struct caller_pool_options {
  /// Initialise OpenSSL in the pool's lws context, so that calls may use
  /// wss:// (verified against the system CAs). Off by default because lws
  /// 4.1.6 re-creates its process-global OpenSSL ex_data indexes in every
  /// context created with LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT, after which
  /// any *other* such context already alive leaks its client SSL_CTX (with the
  /// whole system CA store, ~700 KB) when destroyed — LeakSanitizer failures
  /// in tests that run the bridge, the fake OpenAI and the callers together.
  /// The pool itself never leaks (it hands lws its own client SSL_CTX).
  bool tls = false;
  /// Benchmarks: the probe the calls' frame tags are reported to (see
  /// caller_options::probe_call). The pool registers its waker with it.
  std::shared_ptr<bench_probe> probe{};
  /// Wait for sockets with lws' libev event library (epoll) instead of its
  /// poll() loop, which scans every socket at every wake-up: for hundreds
  /// of calls (the benchmarks).
  bool epoll = false;
  /// Run the calls' frame clocks and mark echoes on a 1 ms ticker thread
  /// (service_timers.hpp) instead of lws' timers, around which lws 4.1.6
  /// spins for a millisecond each: with hundreds of calls, all the time.
  bool ticker_timers = false;
};

class caller_pool {
 public:
  caller_pool();  ///< starts the service thread (ws:// only)
  explicit caller_pool(caller_pool_options options);
  /// Calls still open hang up (stop, close 1000); after at most about a
  /// second the rest are cut off; then the thread stops. Results stay valid
  /// until the pool is gone.
  ~caller_pool();
  caller_pool(const caller_pool&) = delete;
  caller_pool& operator=(const caller_pool&) = delete;

  /// Starts a call; returns its id (from 1). Thread-safe: the connect happens
  /// on the service thread. call_sid/stream_sid are known at once (result()).
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
