// Playout tracking and barge-in: what the caller has actually heard, and what
// to do when they start talking over the AI.
//
// See docs/design.md ("Barge-in") for the algorithm and the reasons behind it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/openai/session_config.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/round_trip.hpp"
#include "realtime_bridge/time.hpp"
#include "realtime_bridge/timer_table.hpp"

namespace rtb {

struct barge_in_config {
  /// React to the caller speaking over the AI at all. Off: the AI is not
  /// interruptible; speech_started changes nothing on the Twilio side.
  bool enabled = true;
  /// Added to the estimated heard position of the interrupted item. The
  /// estimate already covers the time the `clear` takes to reach Twilio, once
  /// the round trip is measured (probe marks), and is centred on what was
  /// heard (within a few ms on loopback and over 40 ms each way), so the
  /// default adds nothing: a margin only makes the model believe the caller
  /// heard audio they did not. Raise it to err towards "heard".
  std::chrono::milliseconds margin{0};
  /// Delete output items of which the caller heard nothing, so the model does
  /// not remember saying them. Off: leave them in the conversation.
  bool forget_unheard = true;
  /// Echo guard: ignore the caller's speech for this long after the AI's
  /// audio starts playing (measured from the first echo of audio sent into
  /// Twilio's empty buffer, not from sending it), so that line echo of the
  /// AI's first words cannot interrupt it. Real speech in that window does
  /// not interrupt either. 0 (the default): off. At most 10 s.
  std::chrono::milliseconds echo_guard{0};
  /// Interrupt the AI only once the caller has been speaking this long
  /// (speech_started and no speech_stopped for this long); shorter sounds
  /// (a cough, a click, "uh-huh") leave the answer playing. Delays every real
  /// barge-in by this much. 0 (the default): interrupt at speech_started.
  /// At most 10 s.
  std::chrono::milliseconds min_speech{0};
  /// The server cancels its own response on speech (turn detection with
  /// interrupt_response). When false we send response.cancel ourselves.
  /// Not configuration: derive_interrupt_response() sets it.
  bool server_cancels = true;
  friend bool operator==(const barge_in_config&, const barge_in_config&) = default;
};

/// Checks the barge-in settings; the message names the bad one.
[[nodiscard]] result<void> validate(const barge_in_config& config);

/// Whether barge-in lets the server cancel its own response when the caller
/// starts speaking (turn_detection.interrupt_response). Not when barge-in is
/// disabled: the server would stop the answer while Twilio goes on playing
/// what it holds, and the caller would hear it cut off mid-sentence. Nor with
/// an echo guard or a minimum speech: the bridge decides whether speech
/// interrupts, and cancels the response itself when it does.
[[nodiscard]] bool allows_server_interrupt(const barge_in_config& config) noexcept;

/// Barge-in decides the session's interrupt_response: false when it does not
/// allow the server to interrupt (allows_server_interrupt), else the
/// configured value. Sets config.server_cancels to what the server will then
/// do (false also without turn detection), so that barge-in sends
/// response.cancel itself exactly when the server does not.
void derive_interrupt_response(barge_in_config& config, openai::session_config& session) noexcept;

// Inputs.
namespace playout {
/// An audio delta ready to forward to the caller.
struct assistant_audio {
  std::string_view response_id;
  std::string_view item_id;
  std::int64_t content_index = 0;
  std::string_view payload;               ///< base64 µ-law
  std::uint64_t item_received_bytes = 0;  ///< all audio received for the item so far, this delta included
};
/// Twilio echoed a mark.
struct mark_echoed {
  std::string_view name;
};
/// The server heard the caller start speaking.
struct caller_speech_started {
  std::string_view active_response_id;  ///< the response in progress, "" if none
};
/// A response ended (response.done), whatever its status.
struct response_finished {
  std::string_view response_id;
};
/// The server heard the caller stop speaking.
struct caller_speech_stopped {};
}  // namespace playout

using barge_in_input = std::variant<playout::assistant_audio, playout::mark_echoed, playout::caller_speech_started,
                                    playout::response_finished, playout::caller_speech_stopped>;

struct playout_counters {
  std::uint64_t media_sent = 0;           ///< media messages forwarded to Twilio
  std::uint64_t bytes_sent = 0;           ///< µ-law bytes in them
  std::uint64_t marks_sent = 0;           ///< marks after audio (probes not included)
  std::uint64_t marks_echoed = 0;         ///< echoes of the current generation
  std::uint64_t stale_marks = 0;          ///< echoes flushed by a clear, ignored
  std::uint64_t foreign_marks = 0;        ///< echoes of marks we did not send
  std::uint64_t late_deltas_dropped = 0;  ///< audio of an interrupted response
  std::uint64_t barge_ins = 0;            ///< speech while audio was still queued at Twilio
  std::uint64_t clears = 0;
  std::uint64_t truncates = 0;
  std::uint64_t deletes = 0;
  std::uint64_t cancels = 0;
  std::uint64_t probes_sent = 0;  ///< marks sent alone into Twilio's empty buffer (round-trip samples)
  std::uint64_t probes_echoed = 0;
  std::uint64_t speech_guarded = 0;    ///< speech ignored: it began in the echo guard's window
  std::uint64_t speech_too_short = 0;  ///< speech that stopped before min_speech: no barge-in
};

/// Pure state machine. Forwards assistant audio with a mark after every
/// chunk, estimates from when each chunk was sent and from the marks Twilio
/// echoes what has been heard, and on barge-in clears Twilio, truncates or
/// deletes exactly what the caller did not hear, and drops (and forgets) the
/// interrupted response's late audio.
///
/// Positions are kept per *generation* on one timeline of bytes sent to
/// Twilio. A clear starts a new generation, so marks Twilio echoes because of
/// the clear are recognised as stale and ignored.
class barge_in {
 public:
  explicit barge_in(barge_in_config config);

  [[nodiscard]] const actions& handle(const barge_in_input& input, timestamp now);
  /// With min_speech: when speech that started becomes a barge-in, unless it stops first.
  [[nodiscard]] std::optional<timestamp> next_timeout() const noexcept { return timers_.next(); }
  /// Safe to call spuriously.
  [[nodiscard]] const actions& handle_timeout(timestamp now);

  /// Marks sent in this generation that Twilio has not echoed yet, i.e. audio
  /// still queued at Twilio.
  std::uint64_t marks_outstanding() const noexcept { return marks_outstanding_; }
  bool audio_playing() const noexcept { return marks_outstanding_ > 0; }
  std::uint32_t generation() const noexcept { return generation_; }
  /// The round trip to Twilio and back, once a probe mark has come back.
  std::optional<std::chrono::microseconds> round_trip_time() const noexcept { return round_trip_.estimate(); }
  /// Network delay assumed each way (half the round trip; 0 until measured).
  std::chrono::microseconds one_way_delay() const noexcept { return one_way_delay_; }
  /// How long Twilio waits before playing audio that reaches an empty
  /// buffer, once measured (a probe and the first mark after audio sent into
  /// the empty buffer came back); until then it is taken as 0.
  std::optional<std::chrono::microseconds> start_delay() const noexcept {
    if (round_trip_.samples() == 0 || lead_.samples() == 0) return std::nullopt;
    return start_delay_;
  }
  const playout_counters& counters() const noexcept { return counters_; }
  const barge_in_config& config() const noexcept { return config_; }

 private:
  /// One output audio item (one content part) on the generation's timeline.
  struct item_entry {
    std::uint32_t seq = 0;
    std::string item_id;
    std::string response_id;
    std::int64_t content_index = 0;
    std::uint64_t start = 0;     ///< timeline position of its first byte
    std::uint64_t sent = 0;      ///< bytes forwarded
    std::uint64_t received = 0;  ///< bytes the server produced so far
    std::uint64_t heard = 0;     ///< bytes confirmed played by a mark echo
    bool complete = false;       ///< no more audio will come for it
  };
  /// Where the timeline plays, as far as the bridge can tell: the byte at
  /// `position` starts playing at `at`, and everything sent after it follows
  /// without a gap. Times are on Twilio's side of the link (ours shifted by
  /// one_way_delay_). See "Heard position" in barge_in.cpp.
  struct playout_anchor {
    std::uint64_t position = 0;
    timestamp at{};  ///< from an echo; or, if from_send, when the audio was sent
    /// No echo has placed it yet: it plays from `at` plus the delays as
    /// estimated now (they may be measured after the audio was sent).
    bool from_send = false;
    /// Known to have played by `at`: `position` after a gap (the buffer ran
    /// dry before it), less if an echo of earlier audio moved the anchor.
    std::uint64_t played = 0;
  };
  struct discarded_response {
    std::string response_id;
    bool finished = false;  ///< its response.done came: no more audio for it
  };
  struct item_ref {
    std::string item_id;
    std::string response_id;
  };
  enum class timer { min_speech, count_ };
  /// Speech that started but has not lasted min_speech yet.
  struct pending_speech {
    std::string active_response;  ///< the response in progress ("" if none), kept current
  };
  /// A probe mark in flight: sent alone while Twilio's buffer was empty, so
  /// Twilio echoes it at once and its echo measures the round trip.
  struct probe {
    std::uint32_t generation = 0;
    timestamp sent_at{};
  };
  /// Audio sent into Twilio's empty buffer (every mark echoed): the AI starts
  /// talking again. Its first mark's echo measures the round trip plus the
  /// start delay.
  struct spurt {
    std::uint64_t start = 0;       ///< timeline position of its first byte
    std::uint64_t first_mark = 0;  ///< position of the mark after its first chunk
    timestamp sent_at{};
    bool measured = false;  ///< the first mark came back
    /// When the start of its playback was seen here: its first echo, less the
    /// audio before that mark.
    std::optional<timestamp> start_seen;
  };

  void on_audio(const playout::assistant_audio& a, timestamp now);
  void on_late_audio(const playout::assistant_audio& a, const discarded_response& r);
  /// Records an item of a discarded response as reconciled; false if it already was.
  bool settle(std::string_view item_id, std::string_view response_id);
  void on_mark(const playout::mark_echoed& m, timestamp now);
  void on_probe_echo(const playout_mark& mark, timestamp now);
  void update_delays() noexcept;
  void on_speech(const playout::caller_speech_started& s, timestamp now);
  void on_speech_stopped();
  /// The caller interrupts the AI: clear, cancel, truncate, delete.
  void interrupt(std::string_view active, timestamp now);
  /// Speech now began in the echo guard's window after the AI started playing.
  bool in_echo_window(timestamp now) const noexcept;
  void on_response_finished(const playout::response_finished& f);
  item_entry& entry_for(const playout::assistant_audio& a);
  std::uint64_t heard_position(timestamp now) const noexcept;
  /// When the anchor's position starts playing, on Twilio's side.
  timestamp anchor_time() const noexcept;
  discarded_response* discarded(std::string_view response_id) noexcept;
  void prune();
  void start_new_generation();

  barge_in_config config_;
  actions out_;
  timer_table<timer> timers_;
  std::optional<pending_speech> pending_speech_;
  std::uint32_t generation_ = 1;
  std::uint32_t next_item_seq_ = 1;
  std::vector<item_entry> items_;   ///< this generation's items, oldest first
  std::uint64_t timeline_end_ = 0;  ///< bytes sent in this generation
  std::uint64_t marks_outstanding_ = 0;
  std::optional<playout_anchor> anchor_;  ///< none until audio is sent in this generation
  std::optional<probe> probe_;
  std::optional<spurt> spurt_;  ///< the latest, until the next clear
  round_trip round_trip_;       ///< probe echoes: the round trip
  round_trip lead_;             ///< first echoes of spurts: the round trip plus the start delay
  /// Network delay from us to Twilio, and from Twilio back to us: half the
  /// round trip, zero until it is measured. Sent audio starts playing later,
  /// an echo reports an earlier play time, and heard_position() looks ahead to
  /// when a clear would reach Twilio.
  std::chrono::microseconds one_way_delay_{0};
  /// Twilio's wait before playing audio that reaches an empty buffer (a jitter
  /// buffer): lead minus round trip, zero until both are measured.
  std::chrono::microseconds start_delay_{0};
  std::vector<discarded_response> discarded_responses_;  ///< most recent last, bounded
  /// Items of discarded responses already reconciled with the caller (at the
  /// barge-in, or found unheard when their late audio came), bounded.
  std::vector<item_ref> settled_items_;
  std::vector<item_ref> pending_deletes_;
  playout_counters counters_;
};

}  // namespace rtb
