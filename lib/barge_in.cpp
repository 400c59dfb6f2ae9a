// Theory of operation
// -------------------
// Twilio plays the audio we send in order, at 8 µ-law bytes per millisecond,
// and echoes each mark when the audio before it has played. So if every chunk
// we forward is followed by a mark, the echoes tell us, chunk by chunk, what
// the caller has heard. This machine keeps that account on a *timeline*: the
// bytes sent to Twilio since the last `clear`, each output item occupying the
// span [start, start + sent).
//
// Heard position. Twilio plays each chunk when the chunk before it has
// finished, or, if its buffer ran dry, once the chunk has arrived and waited
// Twilio's start delay sd (a jitter buffer: Twilio documents none, but
// nothing promises there is none). The machine follows that with an *anchor*:
// "the byte at position q starts playing at time a, and everything sent
// after it follows without a gap". Times are on Twilio's side of the link:
// ours shifted by the one-way delay d.
//
//   - Audio sent at s arrives at s + d. If what is queued before it should
//     have finished playing by then (a + (timeline_end - q)/rate <= s + d),
//     Twilio's buffer has run dry (the line went quiet: a tool call, an idle
//     gap, a stall of the server), and the new audio starts a new segment:
//     anchor = (timeline_end, s + d + sd), everything before it played.
//     Otherwise it joins the segment playing. (d and sd are applied when the
//     heard position is computed, so a segment sent before they were
//     measured benefits from them.)
//   - An echo of position p arriving at t says p finished playing at t - d.
//     For audio of the anchor's own segment (p > q) that places the anchor
//     exactly: a = (t - d) - (p - q). An echo of earlier audio (p <= q, still
//     in flight when the new segment began) can only show that the gap before
//     the segment was shorter than it seemed: a = max(a, (t - d) - (p - q)).
//
// So the caller has heard, when a clear sent now reaches Twilio,
//
//     heard(now) = min(timeline_end, max(played, q + rate * (now + d - a)))
//
// where `played` is q after a gap, or the echoed p that moved the anchor
// (audio before q still playing). From an echo that is the echoed position,
// plus the time since, plus the echo's journey and the clear's: p + rate *
// (now - t + 2d).
//
// The round trip. d is half the round trip, measured with *probe* marks: a
// mark sent alone (item 0: "rtb.<generation>.0.0") just before audio that
// goes into Twilio's empty buffer (every mark sent has come back), which
// Twilio echoes on arrival. sd is measured by the first mark after that
// audio: it comes back after the round trip, the start delay and the audio
// before it. Each is a running median of recent samples (round_trip). Until
// a probe has come back, d = sd = 0 and the echoes are taken at face value
// (the truncate is then up to a round trip short); until the first mark after
// the probe has, sd = 0 (audio sent into an empty buffer is then taken to
// play on arrival, up to sd early).
//
// Barge-in (the server's input_audio_buffer.speech_started):
//   1. The response in progress is *discarded*: its late deltas are dropped.
//      If the server does not cancel it by itself (interrupt_response off),
//      we send response.cancel.
//   2. If audio is still queued at Twilio (a mark is outstanding), `clear` it.
//   3. Reconcile every item on the timeline with what the caller heard:
//        - heard it all, and the server has no more of it: nothing to do;
//        - heard part of it: conversation.item.truncate at
//          min(heard + margin, sent, received) ms (the margin, 0 by default,
//          is for hosts that prefer to err towards "heard"). Never more than
//          the audio received, or OpenAI rejects it ("Audio content of X ms
//          is already shorter than Y ms");
//        - heard none of it (not a whole ms): truncating at 0 is not
//          accepted, so the item is deleted instead (config forget_unheard),
//          once the server has finished it (immediately if its response is
//          done, else at that response's response.done).
//      Late audio of the discarded response for an item not reconciled here
//      never reaches the caller either: that item is deleted at its
//      response's response.done.
//   4. If we cleared, start a new *generation*. Mark names carry their
//      generation, so the echoes Twilio sends for the marks the clear flushed
//      are recognised as stale and cannot advance the new timeline.
//
// Nothing is playing (every mark echoed): no clear. Items are only truncated
// if their response is still generating (the server may hold audio we never
// received); a finished response that finished playing is left alone.
//
// Echo guard (opt-in; either rule turns interrupt_response off, so that the
// server does not cancel and the bridge decides, and cancels, itself):
//   - echo_guard N: speech starting in [seen, seen + N) is ignored, where
//     `seen` is when the start of the current spurt's playback was seen here
//     (its first echo less the audio before that mark; until that echo, its
//     send time plus the round trip and start delay). Speech before `seen`
//     cannot be the AI's echo.
//   - min_speech M: speech_started arms a timer at now + M; speech_stopped
//     before it was noise; the timer firing is the barge-in, at that time.
//
//   | state   | input          | condition                        | next    | emits           |
//   |---------|----------------|----------------------------------|---------|-----------------|
//   | idle    | speech_started | disabled, or in the echo window  | idle    | -               |
//   | idle    | speech_started | M = 0, or nothing queued and no  | idle    | barge-in        |
//   |         |                | response in progress             |         |                 |
//   | idle    | speech_started | otherwise                        | waiting | - (timer)       |
//   | waiting | speech_started |                                  | waiting | -               |
//   | waiting | speech_stopped |                                  | idle    | - (too short)   |
//   | waiting | response.done  | of the response it would cancel  | waiting | - (no cancel)   |
//   | waiting | timer          |                                  | idle    | barge-in        |
#include "realtime_bridge/barge_in.hpp"

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>

#include "realtime_bridge/audio.hpp"

namespace rtb {
namespace {

constexpr std::size_t max_discarded_responses = 8;
constexpr std::size_t max_settled_items = 16;
constexpr std::size_t max_pending_deletes = 16;
constexpr std::chrono::milliseconds max_guard{10'000};

// One µ-law byte plays for 125 µs.
constexpr std::int64_t us_per_byte = 1000 / static_cast<std::int64_t>(audio::mulaw_bytes_per_ms);

std::int64_t us_between(timestamp from, timestamp to) noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

template <class T>
void push_bounded(std::vector<T>& list, T value, std::size_t max) {
  if (list.size() >= max) list.erase(list.begin());
  list.push_back(std::move(value));
}

}  // namespace

result<void> validate(const barge_in_config& c) {
  if (c.margin.count() < 0) return error{errc::invalid_config, "barge-in margin must not be negative"};
  if (c.echo_guard.count() < 0 || c.echo_guard > max_guard)
    return error{errc::invalid_config, fmt::format("barge-in echo guard must be from 0 to {} ms, not {} ms",
                                                   max_guard.count(), c.echo_guard.count())};
  if (c.min_speech.count() < 0 || c.min_speech > max_guard)
    return error{errc::invalid_config, fmt::format("barge-in minimum speech must be from 0 to {} ms, not {} ms",
                                                   max_guard.count(), c.min_speech.count())};
  return {};
}

bool allows_server_interrupt(const barge_in_config& c) noexcept {
  return c.enabled && c.echo_guard.count() == 0 && c.min_speech.count() == 0;
}

void derive_interrupt_response(barge_in_config& c, openai::session_config& session) noexcept {
  const bool allowed = allows_server_interrupt(c);
  std::visit(
      [&](auto& turn) {
        if constexpr (requires { turn.interrupt_response; })
          turn.interrupt_response = turn.interrupt_response && allowed;
      },
      session.turn);
  c.server_cancels = openai::server_interrupts(session);
}

barge_in::barge_in(barge_in_config config) : config_(config) {
  out_.reserve(8);
  items_.reserve(8);
}

const actions& barge_in::handle(const barge_in_input& input, timestamp now) {
  out_.clear();
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, playout::assistant_audio>)
          on_audio(in, now);
        else if constexpr (std::is_same_v<T, playout::mark_echoed>)
          on_mark(in, now);
        else if constexpr (std::is_same_v<T, playout::caller_speech_started>)
          on_speech(in, now);
        else if constexpr (std::is_same_v<T, playout::caller_speech_stopped>)
          on_speech_stopped();
        else
          on_response_finished(in);
      },
      input);
  return out_;
}

const actions& barge_in::handle_timeout(timestamp now) {
  out_.clear();
  if (timers_.expired(timer::min_speech, now) && pending_speech_) {
    // The caller has been speaking long enough: it is a barge-in, now.
    timers_.stop(timer::min_speech);
    const std::string active = std::move(pending_speech_->active_response);
    pending_speech_.reset();
    interrupt(active, now);
  }
  return out_;
}

barge_in::discarded_response* barge_in::discarded(std::string_view response_id) noexcept {
  for (auto& r : discarded_responses_)
    if (r.response_id == response_id) return &r;
  return nullptr;
}

barge_in::item_entry& barge_in::entry_for(const playout::assistant_audio& a) {
  if (!items_.empty()) {
    item_entry& last = items_.back();
    if (last.item_id == a.item_id && last.content_index == a.content_index) return last;
    for (auto& e : items_)
      if (e.item_id == a.item_id && e.content_index == a.content_index) return e;
  }
  // A new item begins: the server streams items one after another, so every
  // earlier one is final.
  for (auto& e : items_) e.complete = true;
  item_entry e;
  e.seq = next_item_seq_++;
  e.item_id = a.item_id;
  e.response_id = a.response_id;
  e.content_index = a.content_index;
  e.start = timeline_end_;
  items_.push_back(std::move(e));
  return items_.back();
}

void barge_in::on_audio(const playout::assistant_audio& a, timestamp now) {
  if (const discarded_response* r = discarded(a.response_id)) {
    ++counters_.late_deltas_dropped;
    on_late_audio(a, *r);
    return;
  }
  if (pending_speech_ && pending_speech_->active_response.empty()) pending_speech_->active_response = a.response_id;
  item_entry& e = entry_for(a);
  const std::uint64_t bytes = audio::base64_decoded_size(a.payload);
  // Every mark sent has come back: Twilio's buffer is empty.
  const bool starts_spurt = marks_outstanding_ == 0;
  if (starts_spurt && !probe_) {
    // A mark alone, ahead of the audio: Twilio echoes it on arrival.
    out_.push_back(to_twilio::mark{playout_mark{generation_, 0, 0}});
    probe_ = probe{generation_, now};
    ++counters_.probes_sent;
  }
  // Where this chunk starts playing: after what is queued, or, if Twilio
  // will have played all that when it arrives, once it has waited the start
  // delay.
  if (!anchor_ || us_between(anchor_time(), now + one_way_delay_) >=
                      static_cast<std::int64_t>(timeline_end_ - anchor_->position) * us_per_byte)
    anchor_ = playout_anchor{timeline_end_, now, true, timeline_end_};
  if (starts_spurt) spurt_ = spurt{timeline_end_, timeline_end_ + bytes, now, false, std::nullopt};
  e.sent += bytes;
  e.received = std::max({e.received, a.item_received_bytes, e.sent});
  timeline_end_ += bytes;
  out_.push_back(to_twilio::media{a.payload});
  out_.push_back(to_twilio::mark{playout_mark{generation_, e.seq, audio::mulaw_ms(e.sent)}});
  ++marks_outstanding_;
  ++counters_.media_sent;
  counters_.bytes_sent += bytes;
  ++counters_.marks_sent;
}

void barge_in::on_late_audio(const playout::assistant_audio& a, const discarded_response& r) {
  // After its response.done the server sends nothing more for it; if it does,
  // the delta is only dropped.
  if (r.finished) return;
  if (!settle(a.item_id, a.response_id)) return;
  // An item the barge-in did not see: none of it reached the caller.
  out_.push_back(to_host::ai_interrupted{std::string(a.item_id), 0, 0});
  // (A server that streams more new items than any real response has cannot
  // grow the list without bound.)
  if (config_.forget_unheard && pending_deletes_.size() < max_pending_deletes)
    pending_deletes_.push_back({std::string(a.item_id), std::string(a.response_id)});
}

bool barge_in::settle(std::string_view item_id, std::string_view response_id) {
  for (const auto& i : settled_items_)
    if (i.item_id == item_id && i.response_id == response_id) return false;
  push_bounded(settled_items_, item_ref{std::string(item_id), std::string(response_id)}, max_settled_items);
  return true;
}

void barge_in::on_mark(const playout::mark_echoed& m, timestamp now) {
  const auto mark = parse_mark_name(m.name);
  if (!mark) {
    ++counters_.foreign_marks;
    return;
  }
  if (mark->item == 0) {
    on_probe_echo(*mark, now);
    return;
  }
  if (mark->generation != generation_) {
    ++counters_.stale_marks;
    return;
  }
  ++counters_.marks_echoed;
  if (marks_outstanding_ > 0) --marks_outstanding_;
  for (auto& e : items_) {
    if (e.seq != mark->item) continue;
    const std::uint64_t played =
        std::min<std::uint64_t>(static_cast<std::uint64_t>(mark->sent_ms) * audio::mulaw_bytes_per_ms, e.sent);
    e.heard = std::max(e.heard, played);
    const std::uint64_t position = e.start + played;
    if (spurt_ && !spurt_->measured && position >= spurt_->first_mark) {
      spurt_->measured = true;
      spurt_->start_seen =
          now - std::chrono::microseconds(static_cast<std::int64_t>(position - spurt_->start) * us_per_byte);
      // Sent at s into an empty buffer, the first chunk played from
      // s + d + start delay; its echo left Twilio when it ended.
      if (position == spurt_->first_mark) {
        lead_.add(std::chrono::duration_cast<std::chrono::microseconds>(now - spurt_->sent_at) -
                  std::chrono::microseconds(static_cast<std::int64_t>(position - spurt_->start) * us_per_byte));
        update_delays();
      }
    }
    if (anchor_) {
      // Position p finished playing at now - d, so the anchor's position
      // started at (now - d) - (p - q): exactly, for audio of the anchor's
      // own segment (p > q); no earlier, for audio before it.
      const std::int64_t p = static_cast<std::int64_t>(position);
      const std::int64_t q = static_cast<std::int64_t>(anchor_->position);
      const timestamp implied = now - one_way_delay_ - std::chrono::microseconds((p - q) * us_per_byte);
      if (p > q)
        *anchor_ = playout_anchor{anchor_->position, implied, false, anchor_->position};
      else if (implied > anchor_time())
        *anchor_ = playout_anchor{anchor_->position, implied, false, position};
    }
    break;
  }
  prune();
}

void barge_in::on_probe_echo(const playout_mark& mark, timestamp now) {
  if (!probe_ || probe_->generation != mark.generation || mark.sent_ms != 0) {
    ++counters_.stale_marks;
    return;
  }
  ++counters_.probes_echoed;
  round_trip_.add(std::chrono::duration_cast<std::chrono::microseconds>(now - probe_->sent_at));
  probe_.reset();
  update_delays();
}

void barge_in::update_delays() noexcept {
  const auto rtt = round_trip_.estimate();
  if (!rtt) return;  // until the round trip is known, the echoes speak for themselves
  one_way_delay_ = *rtt / 2;
  if (const auto lead = lead_.estimate()) start_delay_ = std::max(std::chrono::microseconds(0), *lead - *rtt);
}

timestamp barge_in::anchor_time() const noexcept {
  if (!anchor_->from_send) return anchor_->at;
  return anchor_->at + one_way_delay_ + start_delay_;
}

std::uint64_t barge_in::heard_position(timestamp now) const noexcept {
  if (!anchor_) return 0;
  // In µs of audio from the start of the timeline, when a clear sent now
  // would reach Twilio.
  const std::int64_t played_us =
      static_cast<std::int64_t>(anchor_->position) * us_per_byte + us_between(anchor_time(), now + one_way_delay_);
  const std::uint64_t played = played_us <= 0 ? 0 : static_cast<std::uint64_t>(played_us / us_per_byte);
  return std::min(timeline_end_, std::max(anchor_->played, played));
}

void barge_in::on_speech(const playout::caller_speech_started& s, timestamp now) {
  if (!config_.enabled) return;
  if (pending_speech_) return;  // already waiting to see whether it lasts
  if (in_echo_window(now)) {
    ++counters_.speech_guarded;
    return;
  }
  if (config_.min_speech.count() > 0 && (marks_outstanding_ > 0 || !s.active_response_id.empty())) {
    pending_speech_ = pending_speech{std::string(s.active_response_id)};
    timers_.set(timer::min_speech, now + config_.min_speech);
    return;
  }
  interrupt(s.active_response_id, now);
}

void barge_in::on_speech_stopped() {
  if (!pending_speech_) return;
  // Too short to be the caller taking the turn: the answer goes on.
  pending_speech_.reset();
  timers_.stop(timer::min_speech);
  ++counters_.speech_too_short;
}

bool barge_in::in_echo_window(timestamp now) const noexcept {
  if (config_.echo_guard.count() <= 0 || !spurt_) return false;
  // Before the first echo, when it would be seen: the round trip and the
  // start delay after the audio was sent (as far as measured).
  const timestamp seen = spurt_->start_seen ? *spurt_->start_seen : spurt_->sent_at + 2 * one_way_delay_ + start_delay_;
  // Speech before the AI could be heard is not its echo.
  return now >= seen && now < seen + config_.echo_guard;
}

void barge_in::interrupt(std::string_view active, timestamp now) {
  const bool discards = !active.empty() && !discarded(active);
  if (discards) {
    push_bounded(discarded_responses_, discarded_response{std::string(active)}, max_discarded_responses);
    if (!config_.server_cancels) {
      out_.push_back(to_openai::cancel_response{});
      ++counters_.cancels;
    }
  }

  const bool queued_at_twilio = marks_outstanding_ > 0;
  if (queued_at_twilio) {
    out_.push_back(to_twilio::clear{});
    ++counters_.clears;
    ++counters_.barge_ins;
  }

  const std::uint64_t heard_at = heard_position(now);
  const std::int64_t margin_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.margin).count();
  for (const item_entry& e : items_) {
    // Late audio for this item is dropped without deleting it: what is done
    // here is final.
    if (discards && e.response_id == active) settle(e.item_id, e.response_id);
    const bool server_may_have_more = !active.empty() && e.response_id == active && !e.complete;
    const std::uint64_t heard = heard_at <= e.start ? 0 : std::min(heard_at - e.start, e.sent);
    if (heard >= e.sent && e.sent >= e.received && !server_may_have_more) continue;  // heard it all

    const std::int64_t sent_ms = audio::mulaw_ms(e.sent);
    const std::int64_t heard_ms = audio::mulaw_ms(heard);
    if (heard_ms == 0) {
      out_.push_back(to_host::ai_interrupted{e.item_id, 0, sent_ms});
      if (!config_.forget_unheard) continue;
      if (server_may_have_more) {
        pending_deletes_.push_back({e.item_id, e.response_id});
      } else {
        out_.push_back(to_openai::delete_item{e.item_id});
        ++counters_.deletes;
      }
      continue;
    }
    const std::int64_t end_ms = std::min({heard_ms + margin_ms, sent_ms, audio::mulaw_ms(e.received)});
    out_.push_back(to_openai::truncate_item{e.item_id, e.content_index, end_ms});
    out_.push_back(to_host::ai_interrupted{e.item_id, end_ms, sent_ms});
    ++counters_.truncates;
  }

  if (queued_at_twilio) {
    start_new_generation();
  } else {
    // Twilio's buffer is empty: the next audio starts a new segment anyway.
    items_.clear();
    timeline_end_ = 0;
    anchor_.reset();
    spurt_.reset();
  }
}

void barge_in::on_response_finished(const playout::response_finished& f) {
  if (pending_speech_ && pending_speech_->active_response == f.response_id) pending_speech_->active_response.clear();
  for (auto it = pending_deletes_.begin(); it != pending_deletes_.end();) {
    if (it->response_id == f.response_id) {
      out_.push_back(to_openai::delete_item{std::move(it->item_id)});
      ++counters_.deletes;
      it = pending_deletes_.erase(it);
    } else {
      ++it;
    }
  }
  if (discarded_response* r = discarded(f.response_id)) {
    r->finished = true;
    std::erase_if(settled_items_, [&](const item_ref& i) { return i.response_id == f.response_id; });
  }
  for (auto& e : items_)
    if (e.response_id == f.response_id) e.complete = true;
  prune();
}

void barge_in::prune() {
  // Items at the front that are final and fully heard can no longer matter.
  auto keep = std::find_if(items_.begin(), items_.end(),
                           [](const item_entry& e) { return !(e.complete && e.heard >= e.sent); });
  items_.erase(items_.begin(), keep);
}

void barge_in::start_new_generation() {
  ++generation_;
  items_.clear();
  timeline_end_ = 0;
  marks_outstanding_ = 0;
  anchor_.reset();
  spurt_.reset();
}

}  // namespace rtb
