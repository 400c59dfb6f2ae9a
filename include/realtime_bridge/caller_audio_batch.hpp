// Caller audio on its way to OpenAI: one input_audio_buffer.append per Twilio
// frame, or, with call_limits::caller_audio_batch, one per batch of frames.
//
// See docs/design.md ("Caller audio batching") for the rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/time.hpp"

namespace rtb {

// Inputs.
namespace caller_audio {
/// One frame of caller audio (base64 µ-law, as Twilio sent it) for OpenAI.
struct frame {
  std::string_view payload;
};
/// Another message for OpenAI is about to go out (or the call ends while
/// OpenAI still takes audio): send what is pending first.
struct flush {};
/// OpenAI takes no more audio (it failed or closed): forget what is pending.
struct drop {};
}  // namespace caller_audio

using caller_audio_input = std::variant<caller_audio::frame, caller_audio::flush, caller_audio::drop>;

/// Checks call_limits::caller_audio_batch: 0 (off) or a multiple of 20 ms (a
/// Twilio frame) from 40 to 200 ms. The message names the setting.
[[nodiscard]] result<void> validate_batch_length(std::chrono::milliseconds length);

/// True for the actions that go to OpenAI, other than caller audio itself:
/// the ones pending caller audio must precede, so that OpenAI sees the same
/// messages in the same order as without batching.
[[nodiscard]] bool must_follow_caller_audio(const action& a) noexcept;

/// Pure state machine. Without batching (length 0) every frame becomes its
/// own to_openai::append_audio, its payload unchanged (a view of the input).
/// With batching, frames are decoded into one buffer and sent as one append
/// when the batch is full, when its oldest frame has waited `length`
/// (next_timeout(), or before the next frame joins if the timer was late), or
/// on caller_audio::flush.
///
/// Lifetime: the text of a batched append stays valid until begin_step(): a
/// step of the composing machine may gather several batches (held audio
/// released at once) before the shell executes them. Call begin_step() at the
/// start of every step, once the previous step's actions have been executed.
/// Steady state allocates nothing.
class caller_audio_batch {
 public:
  /// `length`: 0 (off), or the audio per batch (call_limits::caller_audio_batch,
  /// already validated: a multiple of 20 ms from 40 to 200 ms).
  explicit caller_audio_batch(std::chrono::milliseconds length);

  [[nodiscard]] const actions& handle(const caller_audio_input& input, timestamp now);
  /// When the pending batch is due, if one is pending.
  [[nodiscard]] std::optional<timestamp> next_timeout() const noexcept;
  /// Sends the pending batch if it is due. Safe to call spuriously.
  [[nodiscard]] const actions& handle_timeout(timestamp now);
  /// A new step of the composing machine begins: the texts of earlier appends
  /// may be reused.
  void begin_step() noexcept { texts_used_ = 0; }

  bool batching() const noexcept { return length_.count() > 0; }
  bool pending() const noexcept { return frames_pending_ > 0; }
  /// Frames whose audio went to OpenAI (pending ones not yet).
  std::uint64_t frames_forwarded() const noexcept { return frames_forwarded_; }
  /// input_audio_buffer.append messages produced.
  std::uint64_t appends() const noexcept { return appends_; }

 private:
  void on_frame(std::string_view payload, timestamp now);
  void send_pending();

  std::chrono::milliseconds length_;
  actions out_;
  std::string bytes_;  ///< the pending frames, decoded
  std::uint64_t frames_pending_ = 0;
  timestamp since_{};  ///< when the oldest pending frame joined
  /// The base64 of the batches sent in this step: backing store for their
  /// append actions (one step can send several, e.g. held audio released).
  std::vector<std::unique_ptr<std::string>> texts_;
  std::size_t texts_used_ = 0;
  std::uint64_t frames_forwarded_ = 0;
  std::uint64_t appends_ = 0;
};

}  // namespace rtb
