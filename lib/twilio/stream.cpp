// Theory of operation
// -------------------
// The Twilio stream machine classifies every Twilio event and keeps what the
// rest of the call needs from it: the streamSid every outbound message must
// carry, the callSid and custom parameters the host wants, and counters.
//
// Transition table (event/timer in phase -> verdict, next phase):
//
//   phase           input              verdict                   next
//   awaiting_start  connected          ignore                    awaiting_start
//   awaiting_start  start (µ-law 8k)   started                   streaming
//   awaiting_start  start (other fmt)  rejected_media_format     stopped
//   awaiting_start  media              dropped_early_media       awaiting_start
//   awaiting_start  mark | dtmf        ignore                    awaiting_start
//   awaiting_start  stop               stopped                   stopped
//   awaiting_start  start deadline     start_timed_out           stopped
//   streaming       media              forward_audio             streaming
//   streaming       mark               mark_echoed               streaming
//   streaming       dtmf               digit                     streaming
//   streaming       start              rejected_duplicate_start  streaming
//   streaming       stop               stopped                   stopped
//   streaming       no media for idle  went_idle                 stopped
//   stopped         media|mark|dtmf    dropped_late_event        stopped
//   stopped         anything else      ignore                    stopped
//   any             unknown event      ignore                    (unchanged)
//
// The media-idle timer is lazy: arming it on every frame would change
// next_timeout() 50 times a second. Instead it is armed once, and when it
// fires it re-arms itself from the time of the last frame if one arrived.
#include "realtime_bridge/twilio/stream.hpp"

#include <type_traits>

#include "realtime_bridge/audio.hpp"

namespace rtb::twilio {

std::string_view to_string(stream_verdict v) noexcept {
  switch (v) {
    case stream_verdict::ignore: return "ignore";
    case stream_verdict::started: return "started";
    case stream_verdict::forward_audio: return "forward_audio";
    case stream_verdict::dropped_early_media: return "dropped_early_media";
    case stream_verdict::dropped_late_event: return "dropped_late_event";
    case stream_verdict::mark_echoed: return "mark_echoed";
    case stream_verdict::digit: return "digit";
    case stream_verdict::stopped: return "stopped";
    case stream_verdict::rejected_duplicate_start: return "rejected_duplicate_start";
    case stream_verdict::rejected_media_format: return "rejected_media_format";
    case stream_verdict::start_timed_out: return "start_timed_out";
    case stream_verdict::went_idle: return "went_idle";
  }
  return "unknown";
}

stream::stream(stream_timeouts timeouts, timestamp now) : timeouts_(timeouts) {
  timers_.set(timer::start_deadline, now + timeouts_.start);
}

std::optional<timestamp> stream::next_timeout() const noexcept { return timers_.next(); }

stream_verdict stream::on_start(const start& s, timestamp now) {
  if (phase_ == stream_phase::streaming) {
    ++counters_.duplicate_starts;
    return stream_verdict::rejected_duplicate_start;
  }
  timers_.stop(timer::start_deadline);
  stream_sid_ = s.stream_sid;
  call_sid_ = s.call_sid;
  account_sid_ = s.account_sid;
  parameters_.clear();
  for (const auto& p : s.custom_parameters) parameters_.push_back({std::string(p.name), std::string(p.value)});
  // We pass the caller's audio to OpenAI as audio/pcmu unchanged, so anything
  // but µ-law at 8 kHz mono would be garbage there.
  if (s.has_media_format &&
      (s.format.encoding != "audio/x-mulaw" || s.format.sample_rate != 8000 || s.format.channels != 1)) {
    phase_ = stream_phase::stopped;
    return stream_verdict::rejected_media_format;
  }
  phase_ = stream_phase::streaming;
  last_media_ = now;
  if (timeouts_.media_idle.count() > 0) timers_.set(timer::media_idle, now + timeouts_.media_idle);
  return stream_verdict::started;
}

stream_verdict stream::handle(const event& ev, timestamp now) {
  return std::visit(
      [&](const auto& e) -> stream_verdict {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, start>) {
          if (phase_ == stream_phase::stopped) return stream_verdict::ignore;
          return on_start(e, now);
        } else if constexpr (std::is_same_v<T, media>) {
          switch (phase_) {
            case stream_phase::awaiting_start:
              ++counters_.early_media_dropped;
              return stream_verdict::dropped_early_media;
            case stream_phase::stopped: ++counters_.late_events_dropped; return stream_verdict::dropped_late_event;
            case stream_phase::streaming: break;
          }
          ++counters_.media_frames;
          counters_.media_bytes += audio::base64_decoded_size(e.payload);
          if (now > last_media_) last_media_ = now;
          return stream_verdict::forward_audio;
        } else if constexpr (std::is_same_v<T, mark> || std::is_same_v<T, dtmf>) {
          if (phase_ == stream_phase::stopped) {
            ++counters_.late_events_dropped;
            return stream_verdict::dropped_late_event;
          }
          if (phase_ != stream_phase::streaming) return stream_verdict::ignore;
          if constexpr (std::is_same_v<T, mark>) {
            ++counters_.marks;
            return stream_verdict::mark_echoed;
          } else {
            ++counters_.digits;
            return stream_verdict::digit;
          }
        } else if constexpr (std::is_same_v<T, stop>) {
          if (phase_ == stream_phase::stopped) return stream_verdict::ignore;
          phase_ = stream_phase::stopped;
          timers_.stop(timer::start_deadline);
          timers_.stop(timer::media_idle);
          return stream_verdict::stopped;
        } else if constexpr (std::is_same_v<T, unknown_event>) {
          ++counters_.unknown_events;
          return stream_verdict::ignore;
        } else {
          return stream_verdict::ignore;  // connected
        }
      },
      ev);
}

stream_verdict stream::handle_timeout(timestamp now) {
  if (timers_.expired(timer::start_deadline, now)) {
    timers_.stop(timer::start_deadline);
    if (phase_ == stream_phase::awaiting_start) {
      phase_ = stream_phase::stopped;
      return stream_verdict::start_timed_out;
    }
  }
  if (timers_.expired(timer::media_idle, now)) {
    timers_.stop(timer::media_idle);
    if (phase_ != stream_phase::streaming) return stream_verdict::ignore;
    const timestamp idle_at = last_media_ + timeouts_.media_idle;
    if (idle_at > now) {
      timers_.set(timer::media_idle, idle_at);  // media arrived since: re-arm lazily
      return stream_verdict::ignore;
    }
    phase_ = stream_phase::stopped;
    return stream_verdict::went_idle;
  }
  return stream_verdict::ignore;
}

}  // namespace rtb::twilio
