// What the load generator learns from the frame tags (frame_tag.hpp): one
// object shared by the fake callers and the fake OpenAI of one process. The
// callers tag what they send and check what they receive; the fake OpenAI
// does the same on its side; both report here, keyed by the call index in
// the tags. The generator reads snapshots and latency samples.
//
// Checks, per call:
//   caller → OpenAI: the frames reach the fake in order, each once, none
//     missing. The first frames may legitimately never arrive if the bridge's
//     hold (audio waiting for the OpenAI socket) overflowed: counted apart.
//   OpenAI → caller: within each response the delta indices arrive as
//     0, 1, 2, … with no gap, duplicate or reorder. A response may stop early
//     at the caller (barge-in), so its tail is only counted as lost when the
//     response completed (was not cancelled); that needs the fake's count of
//     deltas written, so it is settled a while after the response finished.
//
// Flood mode: with a window W > 0, a caller sends while fewer than W of its
// frames are unacknowledged by the fake OpenAI, and the fake sends deltas
// while fewer than W are unacknowledged by the caller. Each side registers a
// waker (lws_cancel_service of its context) that the other side calls when
// it frees room for a sender that found its window full.
//
// Thread-safe: counters and sequence state behind one mutex (each message
// takes it once); the flood windows are atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "peers/frame_tag.hpp"

namespace rtb::peers {

/// Classifies a stream of sequence numbers that should count up by one.
class sequence_checker {
 public:
  enum class verdict { first, in_order, gap, late, duplicate };
  verdict feed(std::uint32_t seq) noexcept;
  void reset() noexcept { *this = sequence_checker{}; }

  bool started() const noexcept { return started_; }
  std::uint32_t first() const noexcept { return first_; }  ///< the first number seen
  std::uint32_t next() const noexcept { return next_; }    ///< one past the highest seen
  std::uint64_t received() const noexcept { return received_; }
  std::uint64_t lost() const noexcept { return lost_; }  ///< numbers skipped and not (yet) seen late
  std::uint64_t late() const noexcept { return late_; }  ///< arrived after a higher one (reordered)
  std::uint64_t duplicates() const noexcept { return duplicates_; }

 private:
  bool started_ = false;
  std::uint32_t first_ = 0;
  std::uint32_t next_ = 0;
  std::uint64_t seen_ = 0;  // bit i: next_-1-i was received
  std::uint64_t received_ = 0, lost_ = 0, late_ = 0, duplicates_ = 0;
};

/// Totals over all calls (a snapshot).
struct probe_totals {
  // caller → OpenAI
  std::uint64_t frames_sent = 0;        ///< tagged media frames written by the callers
  std::uint64_t appends_received = 0;   ///< tagged appends read by the fake OpenAI
  std::uint64_t appends_untagged = 0;   ///< appends without a tag
  std::uint64_t appends_misrouted = 0;  ///< a tag of another call (or direction) than the session's
  std::uint64_t inbound_lost = 0;       ///< gaps in a call's frames not filled later
  std::uint64_t inbound_duplicated = 0;
  std::uint64_t inbound_reordered = 0;
  std::uint64_t inbound_skipped_at_start = 0;  ///< first frames of calls that never arrived (held audio dropped)
  std::uint64_t inbound_in_flight = 0;         ///< sent, not yet received (all calls)
  std::uint64_t inbound_in_flight_max = 0;     ///< the largest of one call
  std::uint64_t calls_with_two_sessions = 0;   ///< a call's tags seen in more than one OpenAI session
  // OpenAI → caller
  std::uint64_t deltas_sent = 0;           ///< tagged audio deltas written by the fake OpenAI
  std::uint64_t deltas_untagged_sent = 0;  ///< deltas sent before the session's call was known
  std::uint64_t media_received = 0;        ///< tagged media read by the callers
  std::uint64_t media_untagged = 0;
  std::uint64_t media_misrouted = 0;  ///< a tag of another call (or direction)
  std::uint64_t outbound_lost = 0;    ///< deltas missing inside a response, or at the end of a completed one
  std::uint64_t outbound_duplicated = 0;
  std::uint64_t outbound_reordered = 0;
  std::uint64_t outbound_cut_by_cancel = 0;  ///< the tails of cancelled responses never delivered (legitimate)
  std::uint64_t responses_started = 0;
  std::uint64_t responses_completed = 0;
  std::uint64_t responses_cancelled = 0;
  std::uint64_t responses_settled = 0;  ///< finished long enough ago to be counted for loss
  // other Twilio traffic at the callers
  std::uint64_t marks_received = 0;
  std::uint64_t marks_echoed = 0;
  std::uint64_t clears_received = 0;
};

class bench_probe {
 public:
  /// `calls`: call indexes 0..calls-1 are valid (others are counted as misrouted).
  explicit bench_probe(std::size_t calls);
  bench_probe(const bench_probe&) = delete;
  bench_probe& operator=(const bench_probe&) = delete;

  std::size_t calls() const noexcept { return calls_; }

  // ---- the measurement window: latency samples are kept only while recording
  void set_recording(bool on) noexcept { recording_.store(on, std::memory_order_relaxed); }
  bool recording() const noexcept { return recording_.load(std::memory_order_relaxed); }
  /// Moves out the samples (µs) gathered so far for one direction.
  std::vector<std::uint32_t> take_latencies(frame_tag::direction d);

  /// Totals now. Responses count for loss once they finished more than
  /// `settle_us` ago (their last deltas have had time to arrive).
  probe_totals totals(std::uint32_t settle_us = 1'000'000) const;

  // ---- caller side (the fake callers' thread)
  /// A tagged frame was written to the socket.
  void caller_frame_written(int call);
  /// A media message arrived at caller `call` with this base64 payload.
  /// Returns true if it was a tagged delta of that call. Unless
  /// `acknowledge` is false, that also frees its place in the flood window.
  bool caller_media(int call, std::string_view payload, std::uint32_t now_us, bool acknowledge = true);
  /// Frees a place in caller `call`'s flood window for a delta received
  /// earlier (caller_media with acknowledge = false).
  void caller_acknowledge(int call);
  void caller_mark_received();
  void caller_mark_echoed();
  void caller_clear();

  // ---- fake OpenAI side (its service thread)
  /// An append arrived in a session whose call is `session_call` (-1: not
  /// known yet). Returns the session's call from now on.
  int openai_append(int session_call, std::string_view payload, std::uint32_t now_us);
  /// The same for an append of several frames (a bridge batching caller
  /// audio): `bytes` decoded, each `frame_bytes` with its own tag.
  int openai_append_frames(int session_call, const std::uint8_t* bytes, std::size_t size, std::size_t frame_bytes,
                           std::uint32_t now_us);
  /// A tagged delta (response, delta index) was written to the socket.
  void openai_delta_written(int call, std::uint16_t response, std::uint16_t delta);
  void openai_untagged_delta_written();
  void openai_response_started(int call, std::uint16_t response);
  void openai_response_finished(int call, std::uint16_t response, bool cancelled);

  // ---- flood windows
  /// 0 (the default): no flood, senders are paced by their scripts.
  void set_window(std::uint32_t frames) noexcept { window_ = frames; }
  std::uint32_t window() const noexcept { return window_; }
  /// Called by each side once, before traffic: how to wake its thread.
  void set_caller_waker(std::function<void()> wake);
  void set_openai_waker(std::function<void()> wake);
  /// True if the caller may queue one more frame now, and then counts it as
  /// in flight; if not, the caller's waker runs once it may. Always true
  /// without a window.
  bool caller_may_send(int call) noexcept;
  /// The same for the fake OpenAI's deltas to caller `call`.
  bool openai_may_send(int call) noexcept;

 private:
  int count_append(int session_call, const std::optional<frame_tag::tag>& t, std::uint32_t now_us);

  struct response_tally {
    std::uint32_t sent = 0;
    std::uint32_t received = 0;  // distinct delta indexes
    std::uint32_t highest_plus1 = 0;
    std::uint32_t finished_us = 0;
    bool started = false, finished = false, cancelled = false;
  };
  struct call_state {
    std::uint64_t frames_written = 0;
    sequence_checker inbound;
    std::uint32_t sessions = 0;
    std::vector<response_tally> responses;
    int out_response = -1;
    sequence_checker outbound;  // delta indexes of out_response
  };
  struct window_state {
    std::atomic<std::uint64_t> sent{0}, acked{0};
    std::atomic<bool> waiting{false};
  };

  response_tally& tally(call_state& c, std::uint16_t response);
  static bool may_send(window_state& w, std::uint32_t window) noexcept;
  static void acknowledge(window_state& w, const std::function<void()>& wake) noexcept;

  const std::size_t calls_;
  std::atomic<bool> recording_{false};
  std::uint32_t window_ = 0;
  mutable std::mutex mu_;
  std::vector<call_state> state_;
  probe_totals counts_;  // the plain counters (the rest is derived in totals())
  std::vector<std::uint32_t> latency_in_, latency_out_;
  std::unique_ptr<window_state[]> in_window_, out_window_;
  std::function<void()> wake_callers_, wake_openai_;
};

}  // namespace rtb::peers
