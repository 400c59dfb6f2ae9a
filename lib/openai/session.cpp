// Theory of operation
// -------------------
// The session machine is the bridge's model of one Realtime API session. It
// decides which client events to send besides audio (session.update,
// response.create, conversation items) and what the host hears about
// (transcripts, tool calls, recoverable errors). Audio itself never passes
// through here: the call routes it; this machine only counts it per item.
//
// Phases (responding is derived: ready with a response requested or active):
//
//   phase        input                                   -> next        emits
//   connecting   leg_opened                              -> configuring update_session
//   connecting   leg_closed | connect deadline           -> failed
//   configuring  session.updated (pcmu both ways)        -> ready       session_ready, queued
//                                                                       user texts, greeting
//   configuring  session.updated (other format)          -> failed
//   configuring  fatal or parameter error | deadline     -> failed
//   ready        response.create requested / created     -> responding  create_response
//   responding   response.done                           -> ready       next queued create_response
//   ready|resp.  fatal error | fatal response failure    -> failed
//   any open     leg_closed                              -> failed (closed)
//   any open     shutdown (the call ends for another reason) -> closed
//
// The one-response rule: response.create goes out only when no response is
// requested or active. Other requests wait in pending_responses_ and go out
// one per response.done. If the server answers ours with
// conversation_already_has_active_response (server VAD started one at the
// same moment), our request is dropped: the model is already answering.
//
// Greeting: once the session is ready *and* Twilio's stream has started,
// either a user message + response.create, or a response.create with
// instructions, exactly once.
//
// Tool calls: surfaced to the host on response.output_item.done for a
// completed function_call (a cancelled response yields an incomplete item,
// which is not run). Each host result becomes a function_call_output item;
// when no call of that batch is still open, one response.create follows.
#include "realtime_bridge/openai/session.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/openai/errors.hpp"

namespace rtb::openai {
namespace {

constexpr std::size_t max_tracked_items = 32;

// Token counts come from the peer: ignore nonsense, never overflow.
void add_tokens(std::int64_t& total, std::int64_t n) {
  if (n <= 0) return;
  total = n > std::numeric_limits<std::int64_t>::max() - total ? std::numeric_limits<std::int64_t>::max() : total + n;
}

std::string describe_error(const error_info& e) {
  const std::string_view code = e.code.empty() ? e.type : e.code;
  if (e.message.empty()) return std::string(code);
  return fmt::format("{}: {}", code, e.message);
}

}  // namespace

std::string_view to_string(session_phase p) noexcept {
  switch (p) {
    case session_phase::connecting: return "connecting";
    case session_phase::configuring: return "configuring";
    case session_phase::ready: return "ready";
    case session_phase::responding: return "responding";
    case session_phase::closed: return "closed";
    case session_phase::failed: return "failed";
  }
  return "unknown";
}

session::session(session_options options, timestamp now) : options_(std::move(options)) {
  timers_.set(timer::connect_deadline, now + options_.timeouts.connect);
  out_.reserve(8);
}

session_phase session::phase() const noexcept {
  if (phase_ == session_phase::ready && (response_requested_ || !active_response_.empty()))
    return session_phase::responding;
  return phase_;
}

bool session::accepts_audio() const noexcept {
  return phase_ == session_phase::configuring || phase_ == session_phase::ready;
}

std::optional<timestamp> session::next_timeout() const noexcept { return timers_.next(); }

std::uint64_t session::item_audio_bytes(std::string_view item_id) const noexcept {
  for (const auto& it : items_)
    if (it.id == item_id) return it.audio_bytes;
  return 0;
}

session::item_record& session::item(std::string_view id) {
  for (auto& it : items_)
    if (it.id == id) return it;
  if (items_.size() >= max_tracked_items) items_.erase(items_.begin());
  items_.push_back({std::string(id), 0});
  return items_.back();
}

const actions& session::handle(const session_input& input, timestamp now) {
  out_.clear();
  if (phase_ == session_phase::failed || phase_ == session_phase::closed) return out_;
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, event>) {
          on_event(in);
        } else if constexpr (std::is_same_v<T, session_in::leg_opened>) {
          if (phase_ != session_phase::connecting) return;
          timers_.stop(timer::connect_deadline);
          timers_.set(timer::configure_deadline, now + options_.timeouts.configure);
          phase_ = session_phase::configuring;
          out_.push_back(to_openai::update_session{});
        } else if constexpr (std::is_same_v<T, session_in::leg_closed>) {
          on_leg_closed(in);
        } else if constexpr (std::is_same_v<T, session_in::stream_ready>) {
          stream_ready_ = true;
          maybe_greet();
        } else if constexpr (std::is_same_v<T, session_in::tool_result>) {
          on_tool_result(in);
        } else if constexpr (std::is_same_v<T, session_in::user_text>) {
          on_user_text(in);
        } else if constexpr (std::is_same_v<T, session_in::resume>) {
          if (phase_ != session_phase::configuring && phase_ != session_phase::ready) return;
          greeted_ = true;  // the call was greeted by the first session
          open_tool_calls_.assign(in.open_tool_calls.begin(), in.open_tool_calls.end());
          if (in.respond) request_response("");
        } else if constexpr (std::is_same_v<T, session_in::prompt>) {
          if (phase_ != session_phase::failed && phase_ != session_phase::closed) request_response(in.instructions);
        } else if constexpr (std::is_same_v<T, session_in::shutdown>) {
          phase_ = session_phase::closed;
          timers_.stop(timer::connect_deadline);
          timers_.stop(timer::configure_deadline);
        }
      },
      input);
  return out_;
}

const actions& session::handle_timeout(timestamp now) {
  out_.clear();
  if (timers_.expired(timer::connect_deadline, now)) {
    timers_.stop(timer::connect_deadline);
    if (phase_ == session_phase::connecting)
      fail(session_failure::kind::connect_timeout,
           fmt::format("no connection to OpenAI within {} ms", options_.timeouts.connect.count()));
  }
  if (timers_.expired(timer::configure_deadline, now)) {
    timers_.stop(timer::configure_deadline);
    if (phase_ == session_phase::configuring)
      fail(session_failure::kind::configure_timeout,
           fmt::format("no session.updated within {} ms of session.update", options_.timeouts.configure.count()));
  }
  return out_;
}

void session::on_event(const event& ev) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, audio_delta>) {
          const auto bytes = audio::base64_decoded_size(e.delta);
          ++counters_.audio_deltas;
          counters_.audio_bytes += bytes;
          item(e.item_id).audio_bytes += bytes;
        } else if constexpr (std::is_same_v<T, session_created>) {
          session_id_ = e.session.id;
        } else if constexpr (std::is_same_v<T, session_updated>) {
          on_session_updated(e);
        } else if constexpr (std::is_same_v<T, error_event>) {
          on_error(e);
        } else if constexpr (std::is_same_v<T, response_created>) {
          ++counters_.responses;
          response_requested_ = false;
          active_response_ = e.response_id;
        } else if constexpr (std::is_same_v<T, response_done>) {
          on_response_done(e);
        } else if constexpr (std::is_same_v<T, output_item_added>) {
          if (e.item.type == "message") item(e.item.id);
        } else if constexpr (std::is_same_v<T, output_item_done>) {
          on_output_item_done(e);
        } else if constexpr (std::is_same_v<T, transcript_done>) {
          out_.push_back(to_host::ai_transcript{e.item_id, e.transcript});
        } else if constexpr (std::is_same_v<T, input_transcription_completed>) {
          out_.push_back(to_host::caller_transcript{e.item_id, e.transcript});
        } else if constexpr (std::is_same_v<T, input_transcription_failed>) {
          warn(warning_code::transcription_failed, fmt::format("item {}: {}", e.item_id, describe_error(e.error)));
        } else if constexpr (std::is_same_v<T, unknown_event>) {
          ++counters_.unknown_events;
        }
      },
      ev);
}

void session::on_session_updated(const session_updated& ev) {
  if (phase_ != session_phase::configuring) return;  // a later echo; nothing to do
  for (std::string_view format : {ev.session.input_format, ev.session.output_format}) {
    if (!format.empty() && format != "audio/pcmu") {
      fail(session_failure::kind::rejected,
           fmt::format("the session kept audio format {}; the bridge needs audio/pcmu", format));
      return;
    }
  }
  timers_.stop(timer::configure_deadline);
  phase_ = session_phase::ready;
  if (!ev.session.id.empty()) session_id_ = ev.session.id;
  out_.push_back(to_host::session_ready{session_id_});
  for (auto& t : pending_user_texts_) {
    out_.push_back(to_openai::create_user_message{std::move(t.text)});
    if (t.respond) request_response("");
  }
  pending_user_texts_.clear();
  maybe_greet();
  send_next_response();
}

session_counters& session_counters::operator+=(const session_counters& o) noexcept {
  responses += o.responses;
  responses_failed += o.responses_failed;
  responses_cancelled += o.responses_cancelled;
  audio_deltas += o.audio_deltas;
  audio_bytes += o.audio_bytes;
  errors += o.errors;
  truncates_rejected += o.truncates_rejected;
  tool_calls += o.tool_calls;
  unknown_events += o.unknown_events;
  input_text_tokens += o.input_text_tokens;
  input_audio_tokens += o.input_audio_tokens;
  input_cached_tokens += o.input_cached_tokens;
  output_text_tokens += o.output_text_tokens;
  output_audio_tokens += o.output_audio_tokens;
  return *this;
}

void session::on_error(const error_event& ev) {
  ++counters_.errors;
  const std::string_view code = ev.error.code;
  std::string detail = describe_error(ev.error);
  last_error_ = detail;
  if (is_truncate_rejection(ev.error.message)) ++counters_.truncates_rejected;
  if (code == "response_cancel_not_active") return;  // benign: the response had already ended
  if (code == "conversation_already_has_active_response") response_requested_ = false;
  if (classify_error(code, phase_ == session_phase::configuring) == error_severity::fatal) {
    fail(session_failure::kind::rejected, std::move(detail), code);
    return;
  }
  warn(warning_code::openai_error, std::move(detail));
}

void session::on_response_done(const response_done& ev) {
  if (ev.response_id == active_response_) active_response_.clear();
  add_tokens(counters_.input_text_tokens, ev.usage.input_text_tokens);
  add_tokens(counters_.input_audio_tokens, ev.usage.input_audio_tokens);
  add_tokens(counters_.input_cached_tokens, ev.usage.input_cached_tokens);
  add_tokens(counters_.output_text_tokens, ev.usage.output_text_tokens);
  add_tokens(counters_.output_audio_tokens, ev.usage.output_audio_tokens);
  if (ev.status == "cancelled") {
    ++counters_.responses_cancelled;
  } else if (ev.status == "failed") {
    ++counters_.responses_failed;
    std::string detail = fmt::format("response {} failed: {}", ev.response_id, describe_error(ev.error));
    if (classify_response_failure(ev.error.code) == error_severity::fatal) {
      last_error_ = detail;
      fail(session_failure::kind::rejected, std::move(detail), ev.error.code);
      return;
    }
    warn(warning_code::response_failed, std::move(detail));
  } else if (ev.status == "incomplete") {
    warn(warning_code::response_failed, fmt::format("response {} incomplete: {}", ev.response_id, ev.status_reason));
  }
  send_next_response();
}

void session::on_output_item_done(const output_item_done& ev) {
  if (ev.item.type != "function_call" || ev.item.status != "completed") return;
  ++counters_.tool_calls;
  open_tool_calls_.emplace_back(ev.item.call_id);
  out_.push_back(to_host::tool_call{ev.item.call_id, ev.item.name, ev.item.arguments});
}

void session::on_tool_result(const session_in::tool_result& r) {
  auto it = std::find(open_tool_calls_.begin(), open_tool_calls_.end(), r.call_id);
  if (it == open_tool_calls_.end()) {
    warn(warning_code::unknown_tool_call, fmt::format("no open tool call with id '{}'", r.call_id));
    return;
  }
  open_tool_calls_.erase(it);
  out_.push_back(to_openai::send_function_output{std::string(r.call_id), std::string(r.output)});
  if (open_tool_calls_.empty() && r.respond) request_response("");
}

void session::on_user_text(const session_in::user_text& t) {
  if (phase_ == session_phase::connecting || phase_ == session_phase::configuring) {
    pending_user_texts_.push_back({std::string(t.text), t.respond});
    return;
  }
  out_.push_back(to_openai::create_user_message{std::string(t.text)});
  if (t.respond) request_response("");
}

void session::on_leg_closed(const session_in::leg_closed& c) {
  std::string detail = c.code ? fmt::format("closed with code {} ({})", c.code, c.reason)
                              : fmt::format("connection failed ({})", c.reason);
  if (!last_error_.empty()) detail += "; last error: " + last_error_;
  // OpenAI's close reason carries the error as type.code, e.g.
  // "invalid_request_error.invalid_api_key" (openai-realtime.md §1.3).
  const auto dot = c.reason.rfind('.');
  const std::string_view code = dot == std::string_view::npos ? std::string_view{} : c.reason.substr(dot + 1);
  fail(phase_ == session_phase::connecting ? session_failure::kind::connect_failed : session_failure::kind::closed,
       std::move(detail), code);
}

void session::maybe_greet() {
  if (greeted_ || options_.greeting.how == greeting::style::none || !stream_ready_ || phase_ != session_phase::ready)
    return;
  greeted_ = true;
  if (options_.greeting.how == greeting::style::user_message) {
    out_.push_back(to_openai::create_user_message{options_.greeting.text});
    request_response("");
  } else {
    request_response(options_.greeting.text);
  }
}

void session::request_response(std::string_view instructions) {
  // Plain requests queued behind one another would only produce one answer
  // after another to the same context: keep one.
  if (instructions.empty() && !pending_responses_.empty() && pending_responses_.back().empty()) return;
  pending_responses_.emplace_back(instructions);
  send_next_response();
}

void session::send_next_response() {
  if (phase_ != session_phase::ready || response_requested_ || !active_response_.empty() || pending_responses_.empty())
    return;
  out_.push_back(to_openai::create_response{std::move(pending_responses_.front())});
  pending_responses_.pop_front();
  response_requested_ = true;
}

void session::fail(session_failure::kind what, std::string detail, std::string_view code) {
  if (failure_) return;
  failure_ = session_failure{what, std::move(detail), std::string(code)};
  phase_ = session_phase::failed;
  timers_.stop(timer::connect_deadline);
  timers_.stop(timer::configure_deadline);
}

void session::warn(warning_code code, std::string detail) { out_.push_back(to_host::warning{code, std::move(detail)}); }

}  // namespace rtb::openai
