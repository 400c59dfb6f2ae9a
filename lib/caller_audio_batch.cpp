// Theory of operation
// -------------------
// Off (length 0, the default): every caller frame is relayed on its own as
// input_audio_buffer.append, its payload unchanged; nothing is ever pending.
//
// Batching (length > 0, opt-in). Base64 of 160 bytes ends in padding, so
// payloads cannot be joined as text: each frame is decoded into bytes_ and the
// batch is encoded once. This is the one place the bridge decodes audio
// (everywhere else it is passed through), and only because the host asked for
// it. The invariant: the OpenAI leg receives exactly the messages it would
// without batching, in the same order, except that runs of consecutive
// appends are merged. A batch is sent
//   1. when it holds `length` of audio (full);
//   2. when its oldest frame has waited `length`: at that deadline
//      (next_timeout / handle_timeout), or, if the timer is late, before the
//      next frame joins (held audio counts from its release, as it enters);
//   3. on `flush`: the composing machine is about to emit another message for
//      OpenAI (must_follow_caller_audio), so nothing the caller said first is
//      overtaken; and at the end of the call while OpenAI still takes audio;
//   4. never after `drop` (OpenAI failed or closed): like audio held for a
//      session that never came.
// Frames are counted as forwarded when their batch is sent.
//
// | state   | input                | next    | emits                          |
// |---------|----------------------|---------|--------------------------------|
// | empty   | frame (off)          | empty   | append(payload)                |
// | empty   | frame (batching)     | pending | -  (deadline = now + length)   |
// | pending | frame, batch full    | empty   | append(batch)                  |
// | pending | frame, overdue       | pending | append(old batch); new batch   |
// | pending | frame                | pending | -                              |
// | pending | timeout at deadline  | empty   | append(batch)                  |
// | pending | flush                | empty   | append(batch)                  |
// | pending | drop                 | empty   | -                              |
// | empty   | flush, drop, timeout | empty   | -                              |
#include "realtime_bridge/caller_audio_batch.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "realtime_bridge/audio.hpp"

namespace rtb {
namespace {

constexpr std::int64_t frame_ms = 20;  // Twilio's frame
constexpr std::int64_t max_batch_ms = 200;

}  // namespace

result<void> validate_batch_length(std::chrono::milliseconds length) {
  const auto ms = length.count();
  if (ms != 0 && (ms < 2 * frame_ms || ms > max_batch_ms || ms % frame_ms != 0))
    return error{errc::invalid_config,
                 fmt::format("caller audio batch must be 0 (off) or a multiple of {} ms from {} to {} ms, not {} ms",
                             frame_ms, 2 * frame_ms, max_batch_ms, ms)};
  return {};
}

bool must_follow_caller_audio(const action& a) noexcept {
  static_assert(std::variant_size_v<action> == 24,
                "a new action: decide whether it goes to OpenAI, and list it here if it does");
  return std::visit(
      [](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return std::is_same_v<T, to_openai::update_session> || std::is_same_v<T, to_openai::truncate_item> ||
               std::is_same_v<T, to_openai::delete_item> || std::is_same_v<T, to_openai::create_user_message> ||
               std::is_same_v<T, to_openai::send_function_output> || std::is_same_v<T, to_openai::create_response> ||
               std::is_same_v<T, to_openai::cancel_response> || std::is_same_v<T, to_openai::close>;
      },
      a);
}

caller_audio_batch::caller_audio_batch(std::chrono::milliseconds length) : length_(length) {
  out_.reserve(2);
  if (batching()) bytes_.reserve(static_cast<std::size_t>(length_.count()) * audio::mulaw_bytes_per_ms);
}

const actions& caller_audio_batch::handle(const caller_audio_input& input, timestamp now) {
  out_.clear();
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, caller_audio::frame>) {
          on_frame(in.payload, now);
        } else if constexpr (std::is_same_v<T, caller_audio::flush>) {
          send_pending();
        } else {
          bytes_.clear();
          frames_pending_ = 0;
        }
      },
      input);
  return out_;
}

std::optional<timestamp> caller_audio_batch::next_timeout() const noexcept {
  if (!pending()) return std::nullopt;
  return since_ + length_;
}

const actions& caller_audio_batch::handle_timeout(timestamp now) {
  out_.clear();
  if (pending() && now >= since_ + length_) send_pending();
  return out_;
}

void caller_audio_batch::on_frame(std::string_view payload, timestamp now) {
  if (!batching()) {
    out_.push_back(to_openai::append_audio{payload});
    ++frames_forwarded_;
    ++appends_;
    return;
  }
  if (pending() && now >= since_ + length_) send_pending();  // overdue: the timer was late
  if (!pending()) since_ = now;
  // Decoding cannot fail: the Twilio decoder lets only canonical base64 through
  // (a host feeding the machine anything else garbles that frame, nothing more).
  audio::append_base64_decoded(payload, bytes_);
  ++frames_pending_;
  if (bytes_.size() >= static_cast<std::size_t>(length_.count()) * audio::mulaw_bytes_per_ms) send_pending();
}

void caller_audio_batch::send_pending() {
  if (!pending()) return;
  // Grows only when a step sends more batches than any step before it.
  if (texts_used_ == texts_.size()) {
    texts_.push_back(std::make_unique<std::string>());
    texts_.back()->reserve((bytes_.capacity() + 2) / 3 * 4);
  }
  std::string& text = *texts_[texts_used_++];
  text.clear();
  audio::append_base64(bytes_, text);
  out_.push_back(to_openai::append_audio{text});
  frames_forwarded_ += frames_pending_;
  ++appends_;
  bytes_.clear();
  frames_pending_ = 0;
}

}  // namespace rtb
