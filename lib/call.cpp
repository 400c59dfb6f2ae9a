// Theory of operation
// -------------------
// The call composes three machines and owns the routing between them:
//
//   Twilio event ─► twilio::stream ─verdict─► call ─► session / barge_in / host
//   OpenAI event ─► openai::session ─actions─► (out)
//                 └► call routes audio, speech_started, response.done ─► barge_in
//
// Routing rules:
//   - Caller audio (verdict forward_audio) goes to OpenAI as
//     input_audio_buffer.append, unchanged. Until the OpenAI socket is open it
//     is held (bounded, oldest dropped) and flushed right after session.update.
//   - With limits.caller_audio_batch, caller frames (live or released from the
//     hold) are gathered into one append per batch instead (caller_audio_batch).
//   - AI audio deltas go through barge_in, which emits media + mark for Twilio.
//     Until Twilio's `start` gives us the streamSid they are held (bounded).
//   - Mark echoes go to barge_in; speech_started goes to barge_in with the
//     session's active response, speech_stopped after it (the echo guard's
//     minimum speech); response.done tells barge_in a response ended.
//   - Timers: the earliest of the machines' (stream, session, caller audio
//     batch, barge-in); handle_timeout runs each machine's.
//
// Ending: exactly once, for the first of: Twilio stop/close/timeouts/bad
// format, an OpenAI failure (from the session), too many rejected messages on
// one leg, or the host. Ending closes whichever legs are still open and emits
// to_host::call_ended last. Inputs after the end are counted and ignored.
//
// Caller audio goes through caller_audio_batch (one append per frame, or per
// batch with limits.caller_audio_batch): every action for OpenAI the session
// or barge-in emits is preceded by a flush of what is pending, so batching
// never reorders the OpenAI leg (see caller_audio_batch.cpp).
#include "realtime_bridge/call.hpp"

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>

namespace rtb {
namespace {

// Barge-in decides the session's interrupt_response (and so whether it
// cancels responses itself).
call_config derive(call_config c) {
  derive_interrupt_response(c.barge_in, c.openai.config);
  // Replaying what the caller said needs their words as text.
  if ((c.reconnect.attempts > 0 || c.rollover.after.count() > 0) && c.reconnect.transcribe_caller &&
      !c.openai.config.input_transcription)
    c.openai.config.input_transcription = openai::transcription{};
  return c;
}

end_reason reason_for(openai::session_failure::kind k) {
  switch (k) {
    case openai::session_failure::kind::connect_failed:
    case openai::session_failure::kind::connect_timeout:
    case openai::session_failure::kind::configure_timeout: return end_reason::openai_unreachable;
    case openai::session_failure::kind::rejected: return end_reason::openai_rejected;
    case openai::session_failure::kind::closed: return end_reason::openai_closed;
  }
  return end_reason::openai_closed;
}

// The server starts a response by itself when the caller's turn ends.
bool server_answers_turns(const openai::session_config& c) {
  return std::visit(
      [](const auto& t) {
        if constexpr (requires { t.create_response; })
          return t.create_response;
        else
          return false;
      },
      c.turn);
}

constexpr std::size_t max_unknown_names = 32;
constexpr std::uint64_t rejections_logged = 10;

}  // namespace

std::string_view to_string(leg l) noexcept { return l == leg::twilio ? "twilio" : "openai"; }

result<void> validate(const call_config& c) {
  if (auto r = openai::validate(c.openai.config); !r) return r;
  if (c.openai.greeting.how != openai::greeting::style::none && c.openai.greeting.text.empty())
    return error{errc::invalid_config, "greeting text must not be empty when a greeting is configured"};
  if (c.openai.timeouts.connect.count() <= 0 || c.openai.timeouts.configure.count() <= 0)
    return error{errc::invalid_config, "openai timeouts must be positive"};
  if (c.twilio.start.count() <= 0) return error{errc::invalid_config, "twilio start timeout must be positive"};
  if (c.twilio.media_idle.count() < 0)
    return error{errc::invalid_config, "twilio media idle timeout must not be negative"};
  if (auto r = validate(c.barge_in); !r) return r;
  if (c.limits.held_caller_audio.count() < 0 || c.limits.held_ai_audio.count() < 0)
    return error{errc::invalid_config, "held audio limits must not be negative"};
  if (auto r = validate_batch_length(c.limits.caller_audio_batch); !r) return r;
  if (auto r = validate(c.reconnect); !r) return r;
  if (auto r = validate(c.rollover); !r) return r;
  if (auto r = validate(c.control); !r) return r;
  return {};
}

call::call(call_config config, timestamp now)
    : config_(derive(std::move(config))),
      stream_(config_.twilio, now),
      session_(config_.openai, now),
      barge_in_(config_.barge_in),
      caller_audio_(config_.limits.caller_audio_batch),
      control_(config_.control),
      held_caller_(config_.limits.held_caller_audio.count()),
      held_ai_(config_.limits.held_ai_audio.count()),
      reconnect_(config_.reconnect),
      rollover_(config_.rollover) {
  out_.reserve(16);
}

void call::begin_step() {
  out_.clear();
  scratch_.clear();
  released_caller_.clear();
  released_ai_.clear();
  caller_audio_.begin_step();
}

const actions& call::start(timestamp now) {
  if (now > now_) now_ = now;
  begin_step();
  if (!ended() && config_.connect == openai_connect::at_once) {
    out_.push_back(to_openai::connect{});
    rollover_.session_started(now);
  }
  return out_;
}

const actions& call::handle(const call_input& input, timestamp now) {
  if (now > now_) now_ = now;
  begin_step();
  if (ended()) {
    ++inputs_after_end_;
    return out_;
  }
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, twilio::event>) {
          on_twilio(in, now);
        } else if constexpr (std::is_same_v<T, openai::event>) {
          on_openai(in, now);
        } else if constexpr (std::is_same_v<T, call_in::openai_opened>) {
          if (in.slot == openai_slot::next) {
            if (next_) append_next(next_->handle(openai::session_in::leg_opened{}, now));
            return;
          }
          append(session_.handle(openai::session_in::leg_opened{}, now));
          if (gap_ == gap::connecting) replay_into_session();
          release_held_caller_audio();
          after_session_step();
        } else if constexpr (std::is_same_v<T, call_in::leg_closed>) {
          on_leg_closed(in, now);
        } else if constexpr (std::is_same_v<T, call_in::message_rejected>) {
          on_rejected(in);
        } else if constexpr (std::is_same_v<T, call_in::tool_result>) {
          on_tool_result(in, now);
        } else if constexpr (std::is_same_v<T, call_in::user_text>) {
          on_user_text(in, now);
        } else if constexpr (std::is_same_v<T, call_in::end_call>) {
          end(end_reason::host_ended, std::string(in.reason));
        } else if constexpr (std::is_same_v<T, call_in::configure>) {
          on_configure(in, now);
        } else if constexpr (std::is_same_v<T, call_in::next_session_event>) {
          if (in.event) on_next_event(*in.event, now);
        } else if constexpr (std::is_same_v<T, call_in::end_after_playout>) {
          on_end_after_playout(in, now);
        }
      },
      input);
  maybe_switch();
  update_control(now_);
  return out_;
}

std::optional<timestamp> call::next_timeout() const noexcept {
  if (ended()) return std::nullopt;
  std::optional<timestamp> next;
  std::optional<timestamp> reconnect;
  if (gap_ == gap::waiting) reconnect = reconnect_at_;
  if (gap_ == gap::closing_old) reconnect = reconnect_.deadline();
  std::optional<timestamp> rollover;
  if (gap_ == gap::none) rollover = rollover_.next_timeout();
  std::optional<timestamp> next_session;
  if (next_) next_session = next_->next_timeout();
  for (const auto& t : {stream_.next_timeout(), session_.next_timeout(), caller_audio_.next_timeout(),
                        barge_in_.next_timeout(), control_.next_timeout(), reconnect, rollover,
                        next_session})
    if (t && (!next || *t < *next)) next = t;
  return next;
}

const actions& call::handle_timeout(timestamp now) {
  if (now > now_) now_ = now;
  begin_step();
  if (ended()) return out_;
  append(caller_audio_.handle_timeout(now_));
  playout_step(barge_in_.handle_timeout(now_));
  on_stream_verdict(stream_.handle_timeout(now), nullptr, now);
  if (!ended()) {
    append(session_.handle_timeout(now));
    after_session_step();
  }
  if (!ended() && gap_ == gap::waiting && reconnect_at_ && *reconnect_at_ <= now) reconnect_now();
  if (!ended() && gap_ == gap::closing_old && reconnect_.deadline() && *reconnect_.deadline() <= now)
    end(end_reason::openai_closed, "the failed OpenAI session's socket did not close within the reconnect window");
  if (!ended() && next_) {
    append_next(next_->handle_timeout(now));
    if (next_ && next_->failure()) abandon_next(next_->failure()->detail);
  }
  if (!ended() && gap_ == gap::none && rollover_.open_due(now)) open_next_session();
  maybe_switch();
  if (!ended()) route_control(control_.handle_timeout(now_), now_);
  update_control(now_);
  return out_;
}

call_counters call::counters() const {
  call_counters c;
  c.twilio = stream_.counters();
  c.openai = replaced_sessions_;
  c.openai += session_.counters();
  c.playout = barge_in_.counters();
  c.caller_frames_forwarded = caller_audio_.frames_forwarded();
  c.caller_audio_appends = caller_audio_.appends();
  c.held_caller_frames_dropped = held_caller_.dropped();
  c.held_ai_deltas_dropped = held_ai_.dropped();
  c.rejected_twilio_messages = rejected_twilio_;
  c.rejected_openai_messages = rejected_openai_;
  c.inputs_after_end = inputs_after_end_;
  c.openai_reconnect_attempts = reconnect_.total_attempts();
  c.openai_reconnects = reconnect_.recoveries();
  c.replayed_items = replayed_items_;
  c.rollovers = rollover_.rollovers();
  c.rollover_failures = rollover_.failures();
  return c;
}

void call::append(const actions& more) {
  if (caller_audio_.pending() && std::any_of(more.begin(), more.end(), must_follow_caller_audio)) {
    const auto& pending = caller_audio_.handle(caller_audio::flush{}, now_);
    out_.insert(out_.end(), pending.begin(), pending.end());
  }
  out_.insert(out_.end(), more.begin(), more.end());
}

void call::on_twilio(const twilio::event& ev, timestamp now) { on_stream_verdict(stream_.handle(ev, now), &ev, now); }

void call::on_stream_verdict(twilio::stream_verdict v, const twilio::event* ev, timestamp now) {
  using twilio::stream_verdict;
  switch (v) {
    case stream_verdict::forward_audio: forward_caller_audio(std::get<twilio::media>(*ev).payload); return;
    case stream_verdict::mark_echoed: {
      const auto foreign_before = barge_in_.counters().foreign_marks;
      playout_step(barge_in_.handle(playout::mark_echoed{std::get<twilio::mark>(*ev).name}, now));
      if (barge_in_.counters().foreign_marks != foreign_before)
        warn_once(warning_code::foreign_mark,
                  fmt::format("Twilio echoed a mark the bridge did not send: '{}'", std::get<twilio::mark>(*ev).name));
      return;
    }
    case stream_verdict::started: {
      parameter_views_.clear();
      for (const auto& p : stream_.custom_parameters()) parameter_views_.push_back({p.name, p.value});
      out_.push_back(to_host::stream_started{stream_.call_sid(), stream_.stream_sid(), parameter_views_});
      if (config_.connect == openai_connect::after_start) awaiting_configuration_ = true;
      route_control(control_.handle(control_in::stream_started{}, now), now);
      append(session_.handle(openai::session_in::stream_ready{}, now));
      release_held_ai_audio(now);
      after_session_step();
      return;
    }
    case stream_verdict::digit: {
      const std::string_view digit = std::get<twilio::dtmf>(*ev).digit;
      out_.push_back(to_host::dtmf{digit});
      if (digit.size() == 1) route_control(control_.handle(control_in::digit{digit[0]}, now), now);
      return;
    }
    case stream_verdict::stopped: end(end_reason::caller_hung_up, ""); return;
    case stream_verdict::dropped_early_media:
      warn_once(warning_code::early_media, "Twilio sent media before start; dropped (and counted) until start");
      return;
    case stream_verdict::dropped_late_event:
      warn_once(warning_code::late_event, "Twilio sent media, mark or dtmf after stop; dropped");
      return;
    case stream_verdict::rejected_duplicate_start:
      warn(warning_code::duplicate_start, "Twilio sent a second start; the first one stays in effect");
      return;
    case stream_verdict::rejected_media_format: {
      const auto& s = std::get<twilio::start>(*ev);
      end(end_reason::twilio_protocol_error,
          fmt::format(
              "unsupported media format {} at {} Hz, {} channel(s); the bridge needs audio/x-mulaw at 8000 Hz mono",
              s.format.encoding, s.format.sample_rate, s.format.channels));
      return;
    }
    case stream_verdict::start_timed_out:
      end(end_reason::twilio_start_timeout,
          fmt::format("no start message within {} ms of connecting", config_.twilio.start.count()));
      return;
    case stream_verdict::went_idle:
      end(end_reason::twilio_idle, fmt::format("no media for {} ms", config_.twilio.media_idle.count()));
      return;
    case stream_verdict::ignore:
      if (ev) {
        if (const auto* u = std::get_if<twilio::unknown_event>(ev)) {
          if (std::find(unknown_names_seen_.begin(), unknown_names_seen_.end(), u->name) == unknown_names_seen_.end() &&
              unknown_names_seen_.size() < max_unknown_names) {
            unknown_names_seen_.emplace_back(u->name);
            warn(warning_code::unknown_event, fmt::format("unknown Twilio event '{}' ignored", u->name));
          }
        }
      }
      return;
  }
}

void call::forward_caller_audio(std::string_view payload) {
  if (session_.accepts_audio()) {
    send_caller_frame(payload);
    return;
  }
  // Failed or closed with no new session coming: the call is ending.
  if (gap_ == gap::none && session_.phase() != openai::session_phase::connecting) return;
  if (held_caller_.push({std::string(payload)}) > 0)
    warn_once(warning_code::audio_held_overflow,
              fmt::format("caller audio beyond {} ms held while OpenAI (re)connects was dropped (oldest first)",
                          config_.limits.held_caller_audio.count()));
}

void call::release_held_caller_audio() {
  held_caller_.release_into(released_caller_);
  for (const auto& f : released_caller_) send_caller_frame(f.payload);
}

void call::send_caller_frame(std::string_view payload) {
  append(caller_audio_.handle(caller_audio::frame{payload}, now_));
}

void call::forward_ai_audio(const openai::audio_delta& d, timestamp now) {
  const std::uint64_t received = session_.item_audio_bytes(d.item_id);
  if (stream_.streaming()) {
    playout_step(
        barge_in_.handle(playout::assistant_audio{d.response_id, d.item_id, d.content_index, d.delta, received}, now));
    return;
  }
  if (stream_.phase() != twilio::stream_phase::awaiting_start) return;  // stopped: the call is ending
  held_delta h{std::string(d.response_id), std::string(d.item_id), d.content_index, std::string(d.delta), received};
  if (held_ai_.push(std::move(h)) > 0)
    warn_once(warning_code::audio_held_overflow,
              fmt::format("AI audio beyond {} ms held until Twilio's start was dropped (oldest first)",
                          config_.limits.held_ai_audio.count()));
}

void call::release_held_ai_audio(timestamp now) {
  held_ai_.release_into(released_ai_);
  for (const auto& h : released_ai_)
    playout_step(barge_in_.handle(
        playout::assistant_audio{h.response_id, h.item_id, h.content_index, h.payload, h.item_received_bytes}, now));
}

void call::on_openai(const openai::event& ev, timestamp now) {
  if (gap_ == gap::closing_old || gap_ == gap::waiting) return;  // the failed session's last words
  append(session_.handle(ev, now));
  log_openai_event(ev);
  if (const auto* d = std::get_if<openai::audio_delta>(&ev)) {
    response_had_audio_ = true;
    forward_ai_audio(*d, now);
  } else if (std::holds_alternative<openai::response_created>(ev)) {
    response_had_audio_ = false;
    turn_unanswered_ = false;
  } else if (std::holds_alternative<openai::speech_started>(ev)) {
    caller_speaking_ = true;
    playout_step(barge_in_.handle(playout::caller_speech_started{session_.active_response()}, now));
    route_control(control_.handle(control_in::caller_activity{}, now), now);
  } else if (std::holds_alternative<openai::speech_stopped>(ev)) {
    caller_speaking_ = false;
    turn_unanswered_ = server_answers_turns(config_.openai.config);
    playout_step(barge_in_.handle(playout::caller_speech_stopped{}, now));
    route_control(control_.handle(control_in::caller_activity{}, now), now);
  } else if (const auto* r = std::get_if<openai::response_done>(&ev)) {
    playout_step(barge_in_.handle(playout::response_finished{r->response_id}, now));
  } else if (const auto* u = std::get_if<openai::unknown_event>(&ev)) {
    if (!u->documented &&
        std::find(unknown_names_seen_.begin(), unknown_names_seen_.end(), u->type) == unknown_names_seen_.end() &&
        unknown_names_seen_.size() < max_unknown_names) {
      unknown_names_seen_.emplace_back(u->type);
      warn(warning_code::unknown_event, fmt::format("unknown OpenAI event '{}' ignored", u->type));
    }
  }
  after_session_step();
}

void call::after_session_step() {
  if (ended()) return;
  const auto phase = session_.phase();
  if (phase == openai::session_phase::ready || phase == openai::session_phase::responding) {
    ever_ready_ = true;
    if (reconnect_.awaiting_recovery()) {
      reconnect_.on_recovered(now_);
      warn(warning_code::openai_reconnect,
           fmt::format("a new OpenAI session is ready; {} conversation items replayed", replayed_items_));
    }
  }
  if (gap_ == gap::closing_old || gap_ == gap::waiting) return;  // that failure is being handled
  if (const auto& f = session_.failure()) on_session_failed(*f);
}

// Reconnect
// ---------
// A session failure ends the call unless it is transient (classify()) and the
// policy allows another attempt. Then:
//
//   gap          input                                  -> next         emits
//   none         transient failure, socket still open   -> closing_old  openai.close, warning
//   none         transient failure, socket gone         -> waiting      warning
//   closing_old  leg_closed (the old socket)            -> waiting      (connect at once if due)
//   closing_old  window over                            -> (ended)      openai_closed
//   waiting      retry time                             -> connecting   openai.connect
//   connecting   openai_opened                          -> none         update_session, replayed items,
//                                                                       held caller audio, (response)
//   connecting   failure                                -> as none (next attempt or the end)
//   none         session ready, in an outage            -> (recovered)  warning
//
// Caller audio is held from the failure until the new socket opens (bounded by
// limits.held_caller_audio, oldest dropped, counted) and sent after the
// replay. AI audio already at Twilio keeps playing; barge-in forgets the old
// session's items (session_replaced). Tool calls open at the failure stay
// open: results that come in the gap are replayed as outputs. If a response
// was under way, one is requested after the replay; there is no new greeting.
void call::on_session_failed(const openai::session_failure& f) {
  if (config_.reconnect.attempts == 0 || classify(f, ever_ready_) == failure_class::fatal) {
    end(reason_for(f.what), f.detail);
    return;
  }
  const auto retry_at = reconnect_.on_failure(now_);
  if (!retry_at) {
    end(reason_for(f.what),
        fmt::format("{} (gave up after {} reconnect attempts)", f.detail, reconnect_.attempts_in_outage()));
    return;
  }
  warn(warning_code::openai_reconnect,
       fmt::format("OpenAI session lost ({}); attempt {} of {}", f.detail, reconnect_.attempts_in_outage(),
                   config_.reconnect.attempts));
  begin_outage(*retry_at);
}

void call::begin_outage(timestamp retry_at) {
  if (next_) abandon_next("the current session failed first");
  caller_speaking_ = false;
  turn_unanswered_ = false;
  if (gap_ == gap::none) {
    // What the failed session owed the call. (After a failed attempt, the
    // carried state is already here: the new session never took it.)
    if (carried_calls_.empty()) carried_calls_ = session_.open_tool_calls();
    respond_after_replay_ = respond_after_replay_ || (session_.response_pending() && carried_calls_.empty());
    barge_in_.session_replaced();
  }
  // Caller audio batched for the failed session waits for the next one.
  for (const auto& a : caller_audio_.handle(caller_audio::take{}, now_))
    if (const auto* ap = std::get_if<to_openai::append_audio>(&a)) (void)held_caller_.push({std::string(ap->audio)});
  (void)session_.handle(openai::session_in::shutdown{}, now_);
  reconnect_at_ = retry_at;
  if (!openai_closed_) {
    out_.push_back(to_openai::close{close_normal, "reconnecting"});
    openai_closed_ = true;
    gap_ = gap::closing_old;
    return;
  }
  gap_ = gap::waiting;
  if (retry_at <= now_) reconnect_now();
}

void call::reconnect_now() {
  openai::session_options options = config_.openai;
  options.greeting.how = openai::greeting::style::none;  // the caller was greeted already
  if (const auto deadline = reconnect_.deadline(); deadline && *deadline > now_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now_) +
                      std::chrono::milliseconds(1);
    options.timeouts.connect = std::min(options.timeouts.connect, left);
    options.timeouts.configure = std::min(options.timeouts.configure, left);
  }
  replaced_sessions_ += session_.counters();
  session_ = openai::session(std::move(options), now_);
  if (stream_.streaming()) (void)session_.handle(openai::session_in::stream_ready{}, now_);
  rollover_.session_started(now_);
  gap_ = gap::connecting;
  reconnect_at_.reset();
  openai_closed_ = false;
  out_.push_back(to_openai::connect{});
}

void call::replay_into_session() {
  scratch_.clear();
  log_.replay(scratch_);
  replayed_items_ += scratch_.size();
  append(scratch_);
  append(session_.handle(openai::session_in::resume{carried_calls_, respond_after_replay_}, now_));
  carried_calls_.clear();
  respond_after_replay_ = false;
  gap_ = gap::none;
}

// Rollover
// --------
// Make-before-break replacement of a session before OpenAI's 60-minute cap
// (session_rollover.hpp decides when):
//
//   state      input                                 -> next      emits
//   one        session age >= rollover.after (timer) -> opening   openai.connect{next}
//   opening    next socket open                      -> opening   update_session{next}
//   opening    next session.updated                  -> ready
//   opening|ready  next fails (closed, timeout, error) -> one     openai.close{next}, warning; retried later
//   ready      turn boundary, or age >= switch_by    -> one       replayed items{next}, openai.close (old),
//                                                                 promote_next, (response), held caller audio
//   any        the current session fails             -> (reconnect) openai.close{next}, warning
//
// A turn boundary: no response requested, active or queued; nothing queued
// at Twilio; the caller not speaking; no caller transcript pending (it would
// be missing from the replay); no reconnect under way. The conversation is
// replayed at the switch, not when the next session opens, so it holds every
// turn up to the switch. Caller audio goes to the old session up to the
// switch and to the new one after it (a pending batch moves over): each frame
// reaches exactly one session. The shell retires the old connection at
// promote_next, so none of its audio reaches the caller after the switch.
void call::open_next_session() {
  openai::session_options options = config_.openai;
  options.greeting.how = openai::greeting::style::none;
  next_.emplace(std::move(options), now_);
  if (stream_.streaming()) (void)next_->handle(openai::session_in::stream_ready{}, now_);
  next_started_ = now_;
  next_leg_open_ = true;
  out_.push_back(to_openai::connect{openai_slot::next});
}

void call::on_next_event(const openai::event& ev, timestamp now) {
  if (!next_) return;  // abandoned: its last words
  append_next(next_->handle(ev, now));
  if (!next_) return;
  if (next_->failure()) {
    abandon_next(next_->failure()->detail);
    return;
  }
  const auto phase = next_->phase();
  if (phase == openai::session_phase::ready || phase == openai::session_phase::responding) rollover_.next_ready();
}

void call::append_next(const actions& more) {
  for (const auto& a : more) {
    if (const auto* u = std::get_if<to_openai::update_session>(&a)) {
      to_openai::update_session x = *u;
      x.slot = openai_slot::next;
      out_.push_back(x);
    } else if (std::holds_alternative<to_host::warning>(a)) {
      out_.push_back(a);
    }
    // Nothing else of a session that has not taken over reaches anyone: it
    // has no greeting, no audio and no turns yet.
  }
}

void call::abandon_next(std::string_view why) {
  // `why` may be the next session's own failure detail: say it before the
  // session goes.
  std::string detail = fmt::format("the next OpenAI session failed before taking over: {}", why);
  if (next_leg_open_) {
    out_.push_back(to_openai::close{close_normal, "rollover abandoned", openai_slot::next});
    next_leg_open_ = false;
  }
  next_.reset();
  rollover_.next_failed(now_);
  warn(warning_code::openai_rollover, std::move(detail));
}

bool call::turn_boundary() const noexcept {
  const auto phase = session_.phase();
  return gap_ == gap::none && phase == openai::session_phase::ready && !session_.response_pending() &&
         !barge_in_.audio_playing() && !caller_speaking_ && !turn_unanswered_ && held_ai_.empty() &&
         !(config_.openai.config.input_transcription && log_.caller_transcript_pending());
}

void call::maybe_switch() {
  if (ended() || !next_ || gap_ != gap::none) return;
  if (rollover_.switch_due(now_, turn_boundary())) switch_sessions();
}

void call::switch_sessions() {
  // A pending caller batch stays pending: it goes to the new session (nothing
  // below flushes it before the promote).
  scratch_.clear();
  log_.replay(scratch_);
  for (auto& a : scratch_)
    if (auto* i = std::get_if<to_openai::create_item>(&a)) i->slot = openai_slot::next;
  replayed_items_ += scratch_.size();
  out_.insert(out_.end(), scratch_.begin(), scratch_.end());
  const bool respond = session_.response_pending();
  const std::vector<std::string> calls = session_.open_tool_calls();
  if (!openai_closed_) out_.push_back(to_openai::close{close_normal, "session rollover"});
  out_.push_back(to_openai::promote_next{});
  (void)session_.handle(openai::session_in::shutdown{}, now_);
  replaced_sessions_ += session_.counters();
  session_ = std::move(*next_);
  next_.reset();
  next_leg_open_ = false;
  openai_closed_ = false;
  barge_in_.session_replaced();
  caller_speaking_ = false;
  turn_unanswered_ = false;
  rollover_.switched(next_started_);
  append(session_.handle(openai::session_in::resume{calls, respond}, now_));
  warn(warning_code::openai_rollover,
       fmt::format("the OpenAI session was replaced before its time limit ({} conversation items replayed)",
                   scratch_.size()));
  release_held_caller_audio();
}

void call::on_tool_result(const call_in::tool_result& r, timestamp now) {
  if (gap_ != gap::none) {
    auto it = std::find(carried_calls_.begin(), carried_calls_.end(), r.call_id);
    if (it == carried_calls_.end()) {
      warn(warning_code::unknown_tool_call, fmt::format("no open tool call with id '{}'", r.call_id));
      return;
    }
    carried_calls_.erase(it);
    log_.tool_output(r.call_id, r.output);  // replayed to the next session
    if (carried_calls_.empty()) respond_after_replay_ = true;
    return;
  }
  const auto& open = session_.open_tool_calls();
  if (std::find(open.begin(), open.end(), r.call_id) != open.end()) log_.tool_output(r.call_id, r.output);
  append(session_.handle(openai::session_in::tool_result{r.call_id, r.output}, now));
  after_session_step();
}

void call::on_user_text(const call_in::user_text& t, timestamp now) {
  if (gap_ != gap::none) {
    log_.caller_text(t.text);  // replayed to the next session
    respond_after_replay_ = respond_after_replay_ || t.respond;
    return;
  }
  log_.caller_text(t.text);
  append(session_.handle(openai::session_in::user_text{t.text, t.respond}, now));
  after_session_step();
}

void call::playout_step(const actions& more) {
  for (const auto& a : more)
    if (const auto* i = std::get_if<to_host::ai_interrupted>(&a)) log_.assistant_heard(i->item_id, i->heard_ms, i->sent_ms);
  append(more);
}

void call::log_openai_event(const openai::event& ev) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, openai::input_committed>) {
          log_.caller_item(e.item_id);
        } else if constexpr (std::is_same_v<T, openai::input_transcription_completed>) {
          log_.caller_transcript(e.item_id, e.transcript);
        } else if constexpr (std::is_same_v<T, openai::input_transcription_failed>) {
          log_.caller_transcript_failed(e.item_id);
        } else if constexpr (std::is_same_v<T, openai::output_item_added>) {
          if (e.item.type == "message") log_.assistant_item(e.item.id);
        } else if constexpr (std::is_same_v<T, openai::transcript_delta>) {
          log_.assistant_transcript_delta(e.item_id, e.delta);
        } else if constexpr (std::is_same_v<T, openai::transcript_done>) {
          log_.assistant_transcript(e.item_id, e.transcript);
        } else if constexpr (std::is_same_v<T, openai::output_item_done>) {
          if (e.item.type == "function_call" && e.item.status == "completed")
            log_.tool_call(e.item.call_id, e.item.name, e.item.arguments);
        }
      },
      ev);
}

void call::on_leg_closed(const call_in::leg_closed& c, timestamp now) {
  if (c.side == leg::openai && c.slot == openai_slot::next) {
    if (next_ && next_leg_open_) {
      next_leg_open_ = false;
      abandon_next(fmt::format("its socket closed (code {} {})", c.code, c.reason));
    }
    return;
  }
  if (c.side == leg::twilio) {
    twilio_open_ = false;
    if (stream_.phase() == twilio::stream_phase::stopped) {
      end(end_reason::caller_hung_up, "");
    } else {
      end(end_reason::twilio_disconnected,
          fmt::format("Twilio closed the stream without stop (code {} {})", c.code, c.reason));
    }
    return;
  }
  if (gap_ == gap::closing_old) {  // the failed session's socket: the next attempt may start
    gap_ = gap::waiting;
    if (reconnect_at_ && *reconnect_at_ <= now) reconnect_now();
    return;
  }
  if (gap_ == gap::waiting) return;
  openai_closed_ = true;
  append(session_.handle(openai::session_in::leg_closed{c.code, c.reason}, now));
  after_session_step();
}

void call::on_configure(const call_in::configure& c, timestamp now) {
  if (!awaiting_configuration_) {
    warn(warning_code::configuration_ignored,
         "a call configuration arrived when the call was not waiting for one (only once, at Twilio's start, with "
         "openai_connect::after_start)");
    return;
  }
  awaiting_configuration_ = false;
  if (c.config) {
    if (auto ok = validate(*c.config); !ok) {
      warn(warning_code::configuration_ignored,
           "the host's call configuration is invalid; the call keeps its own: " + ok.error().message);
    } else {
      // Nothing has reached OpenAI yet and no AI audio has played: the
      // machines that depend on the configuration start afresh with it. The
      // Twilio stream keeps its timeouts (it is already running).
      call_config next = derive(*c.config);
      next.twilio = config_.twilio;
      next.connect = config_.connect;
      config_ = std::move(next);
      session_ = openai::session(config_.openai, now);
      barge_in_ = barge_in(config_.barge_in);
      caller_audio_ = caller_audio_batch(config_.limits.caller_audio_batch);
      reconnect_ = reconnect_policy(config_.reconnect);
      rollover_ = session_rollover(config_.rollover);
      control_ = call_control(config_.control);
      control_busy_ = false;
      route_control(control_.handle(control_in::stream_started{}, now), now);
      append(session_.handle(openai::session_in::stream_ready{}, now));
    }
  }
  out_.push_back(to_openai::connect{});
  rollover_.session_started(now);
}

void call::on_end_after_playout(const call_in::end_after_playout& e, timestamp now) {
  bool goodbye_coming = false;
  if (!e.tool_call_id.empty()) {
    // The model called end_call (or transfer) without saying anything first:
    // the answer asks for a response, and that response is its goodbye.
    goodbye_coming = !response_had_audio_;
    append(session_.handle(openai::session_in::tool_result{e.tool_call_id, e.tool_output, goodbye_coming}, now));
    after_session_step();
    if (ended()) return;
  }
  route_control(control_.handle(control_in::end_after_playout{end_reason::host_ended, std::string(e.reason),
                                                              goodbye_coming},
                                now),
                now);
}

bool call::ai_busy() const noexcept {
  return session_.responding() || session_.has_open_tool_calls() || barge_in_.audio_playing();
}

void call::update_control(timestamp now) {
  // Each routed decision may change whether the AI is busy (a prompt makes it
  // so): a few rounds settle it.
  for (int round = 0; round < 3 && !ended(); ++round) {
    const bool busy = ai_busy();
    if (busy == control_busy_) return;
    control_busy_ = busy;
    if (!busy && stream_.streaming()) out_.push_back(to_host::playout_finished{});
    route_control(control_.handle(control_in::ai_busy{busy}, now), now);
  }
}

void call::route_control(const control_actions& decided, timestamp now) {
  for (const auto& a : decided) {
    if (ended()) return;
    if (const auto* p = std::get_if<control_out::prompt>(&a)) {
      append(session_.handle(openai::session_in::prompt{p->instructions}, now));
    } else if (const auto* t = std::get_if<control_out::tell>(&a)) {
      append(session_.handle(openai::session_in::user_text{t->text, true}, now));
    } else if (const auto* e = std::get_if<control_out::end>(&a)) {
      end(e->reason, e->detail);
      return;
    }
    after_session_step();
  }
}

void call::on_rejected(const call_in::message_rejected& r) {
  std::uint64_t& count = r.side == leg::twilio ? rejected_twilio_ : rejected_openai_;
  ++count;
  if (count <= rejections_logged) {
    warn(warning_code::rejected_message,
         fmt::format("{} message dropped: {}{}", to_string(r.side), r.message,
                     count == rejections_logged ? " (further rejections are counted, not reported)" : ""));
  }
  if (count > config_.limits.max_rejected_messages) {
    end(r.side == leg::twilio ? end_reason::twilio_protocol_error : end_reason::openai_protocol_error,
        fmt::format("{} bad messages from {}; last: {}", count, to_string(r.side), r.message));
  }
}

void call::end(end_reason why, std::string detail) {
  if (end_) return;
  end_ = why;
  if (!openai_closed_ && session_.accepts_audio())
    append(caller_audio_.handle(caller_audio::flush{}, now_));
  else
    (void)caller_audio_.handle(caller_audio::drop{}, now_);
  const std::uint16_t code = ai_side_failure(why) ? close_internal_error : close_normal;
  if (twilio_open_) {
    out_.push_back(to_twilio::close{code, std::string(to_string(why))});
    twilio_open_ = false;
  }
  if (!openai_closed_) {
    out_.push_back(to_openai::close{close_normal, std::string(to_string(why))});
    openai_closed_ = true;
  }
  if (next_leg_open_) {
    out_.push_back(to_openai::close{close_normal, std::string(to_string(why)), openai_slot::next});
    next_leg_open_ = false;
  }
  next_.reset();
  (void)session_.handle(openai::session_in::shutdown{}, now_);
  held_caller_.clear();
  held_ai_.clear();
  out_.push_back(to_host::call_ended{why, std::move(detail)});
}

void call::warn(warning_code code, std::string detail) { out_.push_back(to_host::warning{code, std::move(detail)}); }

void call::warn_once(warning_code code, std::string detail) {
  const auto bit = static_cast<std::size_t>(code);
  if (warned_once_.test(bit)) return;
  warned_once_.set(bit);
  warn(code, std::move(detail));
}

}  // namespace rtb
