#include "peers/bench_probe.hpp"

#include <algorithm>

namespace rtb::peers {

// ---- sequence_checker --------------------------------------------------------

sequence_checker::verdict sequence_checker::feed(std::uint32_t seq) noexcept {
  ++received_;
  if (!started_) {
    started_ = true;
    first_ = seq;
    next_ = seq + 1;
    seen_ = 1;
    return verdict::first;
  }
  if (seq == next_) {
    seen_ = (seen_ << 1) | 1;
    ++next_;
    return verdict::in_order;
  }
  if (seq > next_) {
    const std::uint32_t skipped = seq - next_;
    lost_ += skipped;
    seen_ = skipped + 1 >= 64 ? 1 : (seen_ << (skipped + 1)) | 1;
    next_ = seq + 1;
    return verdict::gap;
  }
  // Below next_: seen before (duplicate), or a skipped one arriving late.
  const std::uint32_t back = next_ - 1 - seq;
  if (back < 64) {
    const std::uint64_t bit = std::uint64_t{1} << back;
    if (seen_ & bit) {
      ++duplicates_;
      return verdict::duplicate;
    }
    seen_ |= bit;
  } else if (lost_ == 0 || seq < first_) {
    ++duplicates_;  // too old to tell; nothing is missing, so it was seen
    return verdict::duplicate;
  }
  if (seq < first_) {
    ++late_;
    return verdict::late;
  }
  ++late_;
  if (lost_ > 0) --lost_;
  return verdict::late;
}

// ---- bench_probe ---------------------------------------------------------------

bench_probe::bench_probe(std::size_t calls)
    : calls_(calls),
      state_(calls),
      in_window_(std::make_unique<window_state[]>(calls)),
      out_window_(std::make_unique<window_state[]>(calls)) {}

std::vector<std::uint32_t> bench_probe::take_latencies(frame_tag::direction d) {
  std::lock_guard lk(mu_);
  auto& v = d == frame_tag::direction::caller ? latency_in_ : latency_out_;
  std::vector<std::uint32_t> out;
  out.swap(v);
  v.reserve(out.size());
  return out;
}

bench_probe::response_tally& bench_probe::tally(call_state& c, std::uint16_t response) {
  if (c.responses.size() <= response) c.responses.resize(std::size_t{response} + 1);
  return c.responses[response];
}

probe_totals bench_probe::totals(std::uint32_t settle_us) const {
  const std::uint32_t now = frame_tag::now_us();
  std::lock_guard lk(mu_);
  probe_totals t = counts_;
  for (std::size_t i = 0; i < calls_; ++i) {
    const call_state& c = state_[i];
    t.inbound_lost += c.inbound.lost();
    t.inbound_duplicated += c.inbound.duplicates();
    t.inbound_reordered += c.inbound.late();
    if (c.inbound.started()) t.inbound_skipped_at_start += c.inbound.first();
    const std::uint64_t arrived = c.inbound.started() ? c.inbound.next() : 0;
    const std::uint64_t in_flight = c.frames_written > arrived ? c.frames_written - arrived : 0;
    t.inbound_in_flight += in_flight;
    t.inbound_in_flight_max = std::max(t.inbound_in_flight_max, in_flight);
    if (c.sessions > 1) ++t.calls_with_two_sessions;
    for (const response_tally& r : c.responses) {
      if (!r.started) continue;
      ++t.responses_started;
      if (!r.finished) continue;
      ++(r.cancelled ? t.responses_cancelled : t.responses_completed);
      if (frame_tag::elapsed_us(r.finished_us, now) < settle_us) continue;
      ++t.responses_settled;
      // Holes below the highest delta received are lost either way; what
      // is missing after it is lost only if the response was not cancelled.
      const std::uint32_t holes = r.highest_plus1 > r.received ? r.highest_plus1 - r.received : 0;
      const std::uint32_t tail = r.sent > r.highest_plus1 ? r.sent - r.highest_plus1 : 0;
      t.outbound_lost += holes;
      (r.cancelled ? t.outbound_cut_by_cancel : t.outbound_lost) += tail;
    }
  }
  return t;
}

// ---- caller side ----------------------------------------------------------------

void bench_probe::caller_frame_written(int call) {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return;
  std::lock_guard lk(mu_);
  ++state_[static_cast<std::size_t>(call)].frames_written;
  ++counts_.frames_sent;
}

bool bench_probe::caller_media(int call, std::string_view payload, std::uint32_t now_us, bool ack) {
  const auto t = frame_tag::decode_base64(payload);
  std::lock_guard lk(mu_);
  if (!t) {
    ++counts_.media_untagged;
    return false;
  }
  if (t->dir != frame_tag::direction::ai || t->call != call || static_cast<std::size_t>(call) >= calls_) {
    ++counts_.media_misrouted;
    return false;
  }
  ++counts_.media_received;
  if (recording()) latency_out_.push_back(frame_tag::elapsed_us(t->sent_us, now_us));
  if (ack) acknowledge(out_window_[t->call], wake_openai_);
  call_state& c = state_[t->call];
  const int response = t->response;
  if (response < c.out_response) {
    ++counts_.outbound_reordered;  // a delta of an earlier response, after a later one began
    return true;
  }
  if (response > c.out_response) {
    c.out_response = response;
    c.outbound.reset();
  }
  const auto verdict = c.outbound.feed(t->delta);
  if (verdict == sequence_checker::verdict::duplicate) {
    ++counts_.outbound_duplicated;
    return true;
  }
  if (verdict == sequence_checker::verdict::late) ++counts_.outbound_reordered;
  response_tally& r = tally(c, t->response);
  ++r.received;
  r.highest_plus1 = std::max<std::uint32_t>(r.highest_plus1, std::uint32_t{t->delta} + 1);
  return true;
}

void bench_probe::caller_acknowledge(int call) {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return;
  std::lock_guard lk(mu_);
  acknowledge(out_window_[static_cast<std::size_t>(call)], wake_openai_);
}

void bench_probe::caller_mark_received() {
  std::lock_guard lk(mu_);
  ++counts_.marks_received;
}

void bench_probe::caller_mark_echoed() {
  std::lock_guard lk(mu_);
  ++counts_.marks_echoed;
}

void bench_probe::caller_clear() {
  std::lock_guard lk(mu_);
  ++counts_.clears_received;
}

// ---- fake OpenAI side ------------------------------------------------------------

int bench_probe::openai_append(int session_call, std::string_view payload, std::uint32_t now_us) {
  return count_append(session_call, frame_tag::decode_base64(payload), now_us);
}

int bench_probe::openai_append_frames(int session_call, const std::uint8_t* bytes, std::size_t size,
                                      std::size_t frame_bytes, std::uint32_t now_us) {
  for (std::size_t at = 0; at < size; at += frame_bytes)
    session_call = count_append(session_call, frame_tag::decode(bytes + at, std::min(frame_bytes, size - at)), now_us);
  return session_call;
}

int bench_probe::count_append(int session_call, const std::optional<frame_tag::tag>& t, std::uint32_t now_us) {
  std::lock_guard lk(mu_);
  if (!t) {
    ++counts_.appends_untagged;
    return session_call;
  }
  if (t->dir != frame_tag::direction::caller || static_cast<std::size_t>(t->call) >= calls_ ||
      (session_call >= 0 && t->call != session_call)) {
    ++counts_.appends_misrouted;
    return session_call;
  }
  call_state& c = state_[t->call];
  if (session_call < 0) ++c.sessions;
  ++counts_.appends_received;
  if (recording()) latency_in_.push_back(frame_tag::elapsed_us(t->sent_us, now_us));
  c.inbound.feed(t->seq);
  acknowledge(in_window_[t->call], wake_callers_);
  return t->call;
}

void bench_probe::openai_delta_written(int call, std::uint16_t response, std::uint16_t delta) {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return;
  std::lock_guard lk(mu_);
  ++counts_.deltas_sent;
  response_tally& r = tally(state_[static_cast<std::size_t>(call)], response & frame_tag::response_mask);
  r.sent = std::max<std::uint32_t>(r.sent, std::uint32_t{delta} + 1);
}

void bench_probe::openai_untagged_delta_written() {
  std::lock_guard lk(mu_);
  ++counts_.deltas_untagged_sent;
}

void bench_probe::openai_response_started(int call, std::uint16_t response) {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return;
  std::lock_guard lk(mu_);
  tally(state_[static_cast<std::size_t>(call)], response & frame_tag::response_mask).started = true;
}

void bench_probe::openai_response_finished(int call, std::uint16_t response, bool cancelled) {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return;
  const std::uint32_t now = frame_tag::now_us();
  std::lock_guard lk(mu_);
  response_tally& r = tally(state_[static_cast<std::size_t>(call)], response & frame_tag::response_mask);
  r.started = true;
  r.finished = true;
  r.cancelled = cancelled;
  r.finished_us = now;
}

// ---- flood windows ------------------------------------------------------------------

void bench_probe::set_caller_waker(std::function<void()> wake) {
  std::lock_guard lk(mu_);
  wake_callers_ = std::move(wake);
}

void bench_probe::set_openai_waker(std::function<void()> wake) {
  std::lock_guard lk(mu_);
  wake_openai_ = std::move(wake);
}

bool bench_probe::may_send(window_state& w, std::uint32_t window) noexcept {
  if (window == 0) return true;
  auto take = [&] {
    if (w.sent.load(std::memory_order_seq_cst) - w.acked.load(std::memory_order_seq_cst) >= window) return false;
    w.sent.fetch_add(1, std::memory_order_seq_cst);  // only the sender's thread adds to `sent`
    return true;
  };
  if (take()) return true;
  w.waiting.store(true, std::memory_order_seq_cst);
  if (!take()) return false;  // the receiver sees `waiting` at its next acknowledgement and wakes us
  w.waiting.store(false, std::memory_order_seq_cst);
  return true;
}

void bench_probe::acknowledge(window_state& w, const std::function<void()>& wake) noexcept {
  w.acked.fetch_add(1, std::memory_order_seq_cst);
  if (w.waiting.load(std::memory_order_seq_cst) && w.waiting.exchange(false, std::memory_order_seq_cst) && wake) {
    wake();
  }
}

bool bench_probe::caller_may_send(int call) noexcept {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return true;
  return may_send(in_window_[static_cast<std::size_t>(call)], window_);
}

bool bench_probe::openai_may_send(int call) noexcept {
  if (call < 0 || static_cast<std::size_t>(call) >= calls_) return true;
  return may_send(out_window_[static_cast<std::size_t>(call)], window_);
}

}  // namespace rtb::peers
