// The C ABI (include/realtime_bridge/c/realtime_bridge.h) over rtb::call_driver.
//
// Theory of operation
// -------------------
// An rtb_call owns a call_driver and the three things the driver calls out
// to: a transport per leg and an observer. Each of them turns what the driver
// gives it (string_views into the driver's buffers, to_host structs) into the
// C shapes: NUL-terminated copies, an rtb_event, an rtb_action. Then either
//   - the host's callback runs at once (callback style), with one reusable
//     scratch action, so steady state allocates nothing; or
//   - the action is queued (list style) in a deque whose elements are reused
//     once the host has drained them all; a deque, so that queuing more never
//     moves the action the host is holding.
//
// The driver reads the time through a clock_function bound to `now_`, which
// every entry point sets from its `now_us` before calling in. The call's
// timestamps count from the origin (the `now_us` given at creation), so any
// host clock works.
//
// Every entry point catches everything: nothing is thrown across the C
// boundary. An entry counts itself in `depth_`; rtb_call_destroy() from inside
// a callback only marks the call, which the outermost entry frees on its way
// out, and no callback runs after the mark.
#include "realtime_bridge/c/realtime_bridge.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/call_driver.hpp"
#include "realtime_bridge/config_json.hpp"
#include "realtime_bridge/shared_parser.hpp"
#include "realtime_bridge/transport.hpp"

static_assert(RTB_VERSION_MAJOR == RTB_PROJECT_VERSION_MAJOR && RTB_VERSION_MINOR == RTB_PROJECT_VERSION_MINOR &&
                  RTB_VERSION_PATCH == RTB_PROJECT_VERSION_PATCH,
              "realtime_bridge.h's version macros must match the project's version (CMakeLists.txt)");

// The C constants are the C++ enumerators' values.
static_assert(RTB_END_CALLER_HUNG_UP == static_cast<int>(rtb::end_reason::caller_hung_up));
static_assert(RTB_END_TWILIO_DISCONNECTED == static_cast<int>(rtb::end_reason::twilio_disconnected));
static_assert(RTB_END_TWILIO_START_TIMEOUT == static_cast<int>(rtb::end_reason::twilio_start_timeout));
static_assert(RTB_END_TWILIO_IDLE == static_cast<int>(rtb::end_reason::twilio_idle));
static_assert(RTB_END_TWILIO_PROTOCOL_ERROR == static_cast<int>(rtb::end_reason::twilio_protocol_error));
static_assert(RTB_END_OPENAI_UNREACHABLE == static_cast<int>(rtb::end_reason::openai_unreachable));
static_assert(RTB_END_OPENAI_REJECTED == static_cast<int>(rtb::end_reason::openai_rejected));
static_assert(RTB_END_OPENAI_CLOSED == static_cast<int>(rtb::end_reason::openai_closed));
static_assert(RTB_END_OPENAI_PROTOCOL_ERROR == static_cast<int>(rtb::end_reason::openai_protocol_error));
static_assert(RTB_END_HOST_ENDED == static_cast<int>(rtb::end_reason::host_ended));
static_assert(RTB_END_CALLER_IDLE == static_cast<int>(rtb::end_reason::caller_idle));
static_assert(RTB_END_MAX_DURATION == static_cast<int>(rtb::end_reason::max_duration));
static_assert(RTB_WARNING_REJECTED_MESSAGE == static_cast<int>(rtb::warning_code::rejected_message));
static_assert(RTB_WARNING_UNKNOWN_EVENT == static_cast<int>(rtb::warning_code::unknown_event));
static_assert(RTB_WARNING_UNKNOWN_FIELD == static_cast<int>(rtb::warning_code::unknown_field));
static_assert(RTB_WARNING_EARLY_MEDIA == static_cast<int>(rtb::warning_code::early_media));
static_assert(RTB_WARNING_LATE_EVENT == static_cast<int>(rtb::warning_code::late_event));
static_assert(RTB_WARNING_DUPLICATE_START == static_cast<int>(rtb::warning_code::duplicate_start));
static_assert(RTB_WARNING_AUDIO_HELD_OVERFLOW == static_cast<int>(rtb::warning_code::audio_held_overflow));
static_assert(RTB_WARNING_OPENAI_ERROR == static_cast<int>(rtb::warning_code::openai_error));
static_assert(RTB_WARNING_RESPONSE_FAILED == static_cast<int>(rtb::warning_code::response_failed));
static_assert(RTB_WARNING_TRANSCRIPTION_FAILED == static_cast<int>(rtb::warning_code::transcription_failed));
static_assert(RTB_WARNING_UNKNOWN_TOOL_CALL == static_cast<int>(rtb::warning_code::unknown_tool_call));
static_assert(RTB_WARNING_FOREIGN_MARK == static_cast<int>(rtb::warning_code::foreign_mark));
static_assert(RTB_WARNING_CONFIGURATION_IGNORED == static_cast<int>(rtb::warning_code::configuration_ignored));
static_assert(RTB_CLOSE_NORMAL == rtb::close_normal && RTB_CLOSE_GOING_AWAY == rtb::close_going_away &&
              RTB_CLOSE_POLICY_VIOLATION == rtb::close_policy_violation &&
              RTB_CLOSE_INTERNAL_ERROR == rtb::close_internal_error);
static_assert(RTB_LEG_TWILIO == static_cast<int>(rtb::leg::twilio) &&
              RTB_LEG_OPENAI == static_cast<int>(rtb::leg::openai));

struct rtb_parser {
  rtb::shared_parser parser;
};

namespace {

using namespace std::chrono;

thread_local std::string last_error;

rtb_status fail(rtb_status status, std::string_view message) {
  try {
    last_error.assign(message);
  } catch (...) {
    last_error.clear();  // keeps its capacity: cannot throw
  }
  return status;
}

rtb_status succeed() {
  last_error.clear();
  return RTB_OK;
}

// Turns whatever escaped the library into a status. Called from catch blocks only.
rtb_status current_exception_status() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return fail(RTB_E_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(RTB_E_INTERNAL, e.what());
  } catch (...) {
    return fail(RTB_E_INTERNAL, "unknown failure");
  }
}

// Inputs may be this far from the call's origin: far enough for any call,
// near enough that microseconds convert to the driver's nanoseconds exactly.
constexpr std::int64_t max_offset_us = std::int64_t{1} << 53;

rtb_string view(const std::string& s) noexcept { return rtb_string{s.c_str(), s.size()}; }
constexpr rtb_string empty_string{"", 0};

bool valid_leg(std::int32_t leg) noexcept { return leg == RTB_LEG_TWILIO || leg == RTB_LEG_OPENAI; }

std::string_view input(const char* data, std::size_t size) noexcept {
  return data ? std::string_view(data, size) : std::string_view{};
}

void fill_counters(rtb_counters& out, const rtb::call_counters& c) noexcept {
  out.twilio_media_frames = c.twilio.media_frames;
  out.twilio_media_bytes = c.twilio.media_bytes;
  out.twilio_early_media_dropped = c.twilio.early_media_dropped;
  out.twilio_late_events_dropped = c.twilio.late_events_dropped;
  out.twilio_marks = c.twilio.marks;
  out.twilio_digits = c.twilio.digits;
  out.twilio_duplicate_starts = c.twilio.duplicate_starts;
  out.twilio_unknown_events = c.twilio.unknown_events;
  out.openai_responses = c.openai.responses;
  out.openai_responses_failed = c.openai.responses_failed;
  out.openai_responses_cancelled = c.openai.responses_cancelled;
  out.openai_audio_deltas = c.openai.audio_deltas;
  out.openai_audio_bytes = c.openai.audio_bytes;
  out.openai_errors = c.openai.errors;
  out.openai_tool_calls = c.openai.tool_calls;
  out.openai_unknown_events = c.openai.unknown_events;
  out.openai_input_text_tokens = c.openai.input_text_tokens;
  out.openai_input_audio_tokens = c.openai.input_audio_tokens;
  out.openai_input_cached_tokens = c.openai.input_cached_tokens;
  out.openai_output_text_tokens = c.openai.output_text_tokens;
  out.openai_output_audio_tokens = c.openai.output_audio_tokens;
  out.playout_media_sent = c.playout.media_sent;
  out.playout_bytes_sent = c.playout.bytes_sent;
  out.playout_marks_sent = c.playout.marks_sent;
  out.playout_marks_echoed = c.playout.marks_echoed;
  out.playout_stale_marks = c.playout.stale_marks;
  out.playout_foreign_marks = c.playout.foreign_marks;
  out.playout_late_deltas_dropped = c.playout.late_deltas_dropped;
  out.playout_barge_ins = c.playout.barge_ins;
  out.playout_clears = c.playout.clears;
  out.playout_truncates = c.playout.truncates;
  out.playout_deletes = c.playout.deletes;
  out.playout_cancels = c.playout.cancels;
  out.caller_frames_forwarded = c.caller_frames_forwarded;
  out.caller_audio_appends = c.caller_audio_appends;
  out.held_caller_frames_dropped = c.held_caller_frames_dropped;
  out.held_ai_deltas_dropped = c.held_ai_deltas_dropped;
  out.rejected_twilio_messages = c.rejected_twilio_messages;
  out.rejected_openai_messages = c.rejected_openai_messages;
  out.inputs_after_end = c.inputs_after_end;
}

// An event with its own copies of every string.
struct stored_event {
  std::int32_t type = 0;
  std::int32_t code = 0;
  std::string call_sid, stream_sid, session_id, item_id, text, call_id, name, arguments;
  std::vector<std::string> parameter_text;  // name, value, name, value, ...
  std::int64_t heard_ms = 0;
  std::int64_t sent_ms = 0;
  rtb_counters counters{};
  // The C view, filled by view() from the members above.
  rtb_event event{};
  std::vector<rtb_parameter> parameters;

  void reset(std::int32_t t) {
    type = t;
    code = 0;
    for (std::string* s : {&call_sid, &stream_sid, &session_id, &item_id, &text, &call_id, &name, &arguments})
      s->clear();
    parameter_text.clear();
    heard_ms = sent_ms = 0;
  }

  const rtb_event* view() {
    parameters.clear();
    for (std::size_t i = 0; i + 1 < parameter_text.size(); i += 2)
      parameters.push_back(rtb_parameter{::view(parameter_text[i]), ::view(parameter_text[i + 1])});
    event = rtb_event{};
    event.type = type;
    event.code = code;
    event.call_sid = ::view(call_sid);
    event.stream_sid = ::view(stream_sid);
    event.session_id = ::view(session_id);
    event.item_id = ::view(item_id);
    event.text = ::view(text);
    event.call_id = ::view(call_id);
    event.name = ::view(name);
    event.arguments = ::view(arguments);
    event.parameters = parameters.empty() ? nullptr : parameters.data();
    event.parameter_count = parameters.size();
    event.heard_ms = heard_ms;
    event.sent_ms = sent_ms;
    event.counters = type == RTB_EVENT_CALL_ENDED ? &counters : nullptr;
    return &event;
  }
};

struct stored_action {
  std::int32_t type = 0;
  std::int32_t leg = 0;
  std::uint16_t close_code = 0;
  std::string text;
  stored_event event;
  rtb_action action{};

  const rtb_action* view() {
    action = rtb_action{};
    action.type = type;
    action.leg = leg;
    action.close_code = close_code;
    action.text = type == RTB_ACTION_EVENT ? empty_string : ::view(text);
    action.event = type == RTB_ACTION_EVENT ? event.view() : nullptr;
    return &action;
  }
};

class c_transport final : public rtb::transport {
 public:
  c_transport(rtb_call& call, std::int32_t leg) : call_(call), leg_(leg) {}
  void send_text(std::string_view message) override;
  void close(std::uint16_t code, std::string_view reason) override;

 private:
  rtb_call& call_;
  std::int32_t leg_;
};

class c_observer final : public rtb::call_observer {
 public:
  explicit c_observer(rtb_call& call) : call_(call) {}
  void on_stream_started(const rtb::to_host::stream_started&) override;
  void on_session_ready(const rtb::to_host::session_ready&) override;
  void on_caller_transcript(const rtb::to_host::caller_transcript&) override;
  void on_ai_transcript(const rtb::to_host::ai_transcript&) override;
  void on_ai_interrupted(const rtb::to_host::ai_interrupted&) override;
  void on_dtmf(const rtb::to_host::dtmf&) override;
  void on_tool_call(const rtb::to_host::tool_call&) override;
  void on_warning(const rtb::to_host::warning&) override;
  void on_call_ended(const rtb::call_summary&) override;

 private:
  rtb_call& call_;
};

class c_trace final : public rtb::trace_sink {
 public:
  explicit c_trace(rtb_call& call) : call_(call) {}
  void write_line(std::string_view line) override;

 private:
  rtb_call& call_;
};

rtb::call_config parse_config(const char* json, std::size_t length, rtb_status& status) {
  status = RTB_OK;
  if (length == 0) return {};
  auto parsed = rtb::parse_config_json(std::string_view(json, length));
  if (!parsed) {
    status = fail(RTB_E_INVALID_CONFIG, parsed.error().message);
    return {};
  }
  if (auto ok = rtb::validate(*parsed); !ok) {
    status = fail(RTB_E_INVALID_CONFIG, ok.error().message);
    return {};
  }
  return std::move(*parsed);
}

}  // namespace

struct rtb_call {
  rtb_call(const rtb_call_options& options, rtb::call_config config, std::int64_t origin_us)
      : origin_us_(origin_us),
        callback_mode_(options.callbacks != nullptr),
        callbacks_(options.callbacks ? *options.callbacks : rtb_callbacks{}),
        trace_line_(options.trace_line),
        trace_user_(options.trace_user),
        twilio_(*this, RTB_LEG_TWILIO),
        openai_(*this, RTB_LEG_OPENAI),
        observer_(*this),
        trace_(*this),
        driver_(
            std::move(config), twilio_, openai_, observer_, limits(options), [this] { return now_; },
            options.trace_line ? &trace_ : nullptr, options.parser ? &options.parser->parser : nullptr) {}

  static rtb::driver_limits limits(const rtb_call_options& o) {
    rtb::driver_limits l;
    if (o.max_twilio_message_bytes) l.max_twilio_message_bytes = o.max_twilio_message_bytes;
    if (o.max_openai_message_bytes) l.max_openai_message_bytes = o.max_openai_message_bytes;
    return l;
  }

  // Counts an entry point; the outermost one frees a call destroyed meanwhile.
  class entry {
   public:
    explicit entry(rtb_call* c) noexcept : c_(c) { ++c_->depth_; }
    ~entry() {
      if (--c_->depth_ == 0 && c_->destroy_requested_) delete c_;
    }
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

   private:
    rtb_call* c_;
  };

  // Checks shared by the input functions and sets the time.
  rtb_status begin_input(std::int64_t now_us) {
    if (destroy_requested_) return fail(RTB_E_INVALID_ARGUMENT, "the call has been destroyed");
    if (callback_depth_ > 0 || in_trace_)
      return fail(RTB_E_REENTRANT, "an input function was called from inside one of the call's callbacks");
    return set_time(now_us);
  }

  // Host commands may come from inside callbacks (not the trace's): the
  // driver runs them once the current input is done.
  rtb_status begin_command(std::int64_t now_us) {
    if (destroy_requested_) return fail(RTB_E_INVALID_ARGUMENT, "the call has been destroyed");
    if (in_trace_) return fail(RTB_E_REENTRANT, "a host command was called from inside the trace callback");
    if (callback_depth_ > 0) return RTB_OK;  // the driver queues it; the time is the current input's
    return set_time(now_us);
  }

  rtb_status set_time(std::int64_t now_us) {
    std::int64_t offset = 0;
    if (__builtin_sub_overflow(now_us, origin_us_, &offset) || offset > max_offset_us || offset < -max_offset_us)
      return fail(RTB_E_INVALID_ARGUMENT, "now_us is more than 2^53 microseconds away from the call's origin");
    now_ = rtb::timestamp{} + microseconds(offset);
    return RTB_OK;
  }

  std::int64_t next_timeout() const noexcept {
    const auto due = driver_.next_timeout();
    if (!due) return RTB_NO_TIMEOUT;
    // Rounded up, so that on_timer() at the time returned finds it due.
    const std::int64_t offset = ceil<microseconds>(due->time_since_epoch()).count();
    std::int64_t at = 0;
    if (__builtin_add_overflow(origin_us_, offset, &at) || at == RTB_NO_TIMEOUT) return RTB_NO_TIMEOUT - 1;
    return at;
  }

  // Fragments of one message on one leg.
  void fragment(std::int32_t leg, std::string_view data, bool final_fragment) {
    const rtb::leg side = static_cast<rtb::leg>(leg);
    partial& p = partial_[leg];
    rtb::padded_buffer& inbox = driver_.inbox(side);
    if (!p.oversized && inbox.size() + data.size() > driver_.max_message_bytes(side)) {
      p.oversized = true;
      p.oversized_bytes = inbox.size();
      inbox.clear();
    }
    if (p.oversized)
      p.oversized_bytes += data.size();
    else
      inbox.append(data);
    if (!final_fragment) return;
    if (p.oversized) {
      const std::size_t size = p.oversized_bytes;
      p = partial{};
      driver_.on_oversized(side, size);
    } else {
      driver_.on_message(side);
    }
  }

  void text(std::int32_t leg, std::string_view message) {
    partial_[leg] = partial{};
    driver_.on_text(static_cast<rtb::leg>(leg), message);
  }

  // --- what the driver asks for ---

  stored_action& next_slot() {
    if (callback_mode_) return scratch_;
    if (head_ == size_) head_ = size_ = 0;  // all taken: reuse from the front
    if (size_ == queue_.size()) queue_.emplace_back();
    return queue_[size_++];
  }

  const rtb_action* take_action() {
    if (callback_mode_ || head_ == size_) return nullptr;
    return queue_[head_++].view();
  }

  bool silenced() const noexcept { return destroy_requested_; }

  void send(std::int32_t leg, std::string_view message) {
    if (silenced()) return;
    stored_action& a = next_slot();
    a.type = RTB_ACTION_SEND_TEXT;
    a.leg = leg;
    a.close_code = 0;
    a.text.assign(message);
    if (callback_mode_) {
      callback_scope scope(*this);
      callbacks_.send_text(callbacks_.user, leg, a.text.c_str(), a.text.size());
    }
  }

  void close(std::int32_t leg, std::uint16_t code, std::string_view reason) {
    if (silenced()) return;
    stored_action& a = next_slot();
    a.type = RTB_ACTION_CLOSE_LEG;
    a.leg = leg;
    a.close_code = code;
    a.text.assign(reason);
    if (callback_mode_) {
      callback_scope scope(*this);
      callbacks_.close_leg(callbacks_.user, leg, code, a.text.c_str(), a.text.size());
    }
  }

  // Starts an event; fill its fields, then call deliver().
  stored_event* begin_event(std::int32_t type) {
    if (silenced()) return nullptr;
    if (callback_mode_ && !callbacks_.on_event) return nullptr;
    stored_action& a = next_slot();
    a.type = RTB_ACTION_EVENT;
    a.leg = 0;
    a.close_code = 0;
    a.text.clear();
    a.event.reset(type);
    return &a.event;
  }

  void deliver(stored_event& e) {
    if (!callback_mode_) return;  // queued
    const rtb_event* ev = e.view();
    callback_scope scope(*this);
    callbacks_.on_event(callbacks_.user, this, ev);
  }

  void trace(std::string_view line) {
    if (silenced() || !trace_line_) return;
    trace_text_.assign(line);
    in_trace_ = true;
    trace_line_(trace_user_, trace_text_.c_str(), trace_text_.size());
    in_trace_ = false;
  }

  void request_destroy() noexcept { destroy_requested_ = true; }
  int depth() const noexcept { return depth_; }

  rtb::call_driver& driver() noexcept { return driver_; }
  const rtb::call_driver& driver() const noexcept { return driver_; }

 private:
  struct partial {
    bool oversized = false;
    std::size_t oversized_bytes = 0;
  };

  class callback_scope {
   public:
    explicit callback_scope(rtb_call& c) noexcept : c_(c) { ++c_.callback_depth_; }
    ~callback_scope() { --c_.callback_depth_; }
    callback_scope(const callback_scope&) = delete;
    callback_scope& operator=(const callback_scope&) = delete;

   private:
    rtb_call& c_;
  };

  std::int64_t origin_us_;
  rtb::timestamp now_{};
  bool callback_mode_;
  rtb_callbacks callbacks_;
  void (*trace_line_)(void*, const char*, std::size_t);
  void* trace_user_;
  int depth_ = 0;
  int callback_depth_ = 0;
  bool in_trace_ = false;
  bool destroy_requested_ = false;
  partial partial_[2];
  stored_action scratch_;
  std::deque<stored_action> queue_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::string trace_text_;

  c_transport twilio_;
  c_transport openai_;
  c_observer observer_;
  c_trace trace_;
  rtb::call_driver driver_;  // last: it uses everything above
};

namespace {

void c_transport::send_text(std::string_view message) { call_.send(leg_, message); }
void c_transport::close(std::uint16_t code, std::string_view reason) { call_.close(leg_, code, reason); }

void c_observer::on_stream_started(const rtb::to_host::stream_started& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_STREAM_STARTED);
  if (!e) return;
  e->call_sid.assign(a.call_sid);
  e->stream_sid.assign(a.stream_sid);
  for (const auto& p : a.custom_parameters) {
    e->parameter_text.emplace_back(p.name);
    e->parameter_text.emplace_back(p.value);
  }
  call_.deliver(*e);
}

void c_observer::on_session_ready(const rtb::to_host::session_ready& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_SESSION_READY);
  if (!e) return;
  e->session_id.assign(a.session_id);
  call_.deliver(*e);
}

void c_observer::on_caller_transcript(const rtb::to_host::caller_transcript& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_CALLER_TRANSCRIPT);
  if (!e) return;
  e->item_id.assign(a.item_id);
  e->text.assign(a.text);
  call_.deliver(*e);
}

void c_observer::on_ai_transcript(const rtb::to_host::ai_transcript& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_AI_TRANSCRIPT);
  if (!e) return;
  e->item_id.assign(a.item_id);
  e->text.assign(a.text);
  call_.deliver(*e);
}

void c_observer::on_ai_interrupted(const rtb::to_host::ai_interrupted& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_AI_INTERRUPTED);
  if (!e) return;
  e->item_id.assign(a.item_id);
  e->heard_ms = a.heard_ms;
  e->sent_ms = a.sent_ms;
  call_.deliver(*e);
}

void c_observer::on_dtmf(const rtb::to_host::dtmf& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_DTMF);
  if (!e) return;
  e->text.assign(a.digit);
  call_.deliver(*e);
}

void c_observer::on_tool_call(const rtb::to_host::tool_call& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_TOOL_CALL);
  if (!e) return;
  e->call_id.assign(a.call_id);
  e->name.assign(a.name);
  e->arguments.assign(a.arguments);
  call_.deliver(*e);
}

void c_observer::on_warning(const rtb::to_host::warning& a) {
  stored_event* e = call_.begin_event(RTB_EVENT_WARNING);
  if (!e) return;
  e->code = static_cast<std::int32_t>(a.code);
  e->text.assign(a.detail);
  call_.deliver(*e);
}

void c_observer::on_call_ended(const rtb::call_summary& s) {
  stored_event* e = call_.begin_event(RTB_EVENT_CALL_ENDED);
  if (!e) return;
  e->code = static_cast<std::int32_t>(s.reason);
  e->text.assign(s.detail);
  e->call_sid.assign(s.call_sid);
  e->stream_sid.assign(s.stream_sid);
  fill_counters(e->counters, s.counters);
  call_.deliver(*e);
}

void c_trace::write_line(std::string_view line) { call_.trace(line); }

}  // namespace

// ---- the exported functions ---------------------------------------------

extern "C" {

RTB_API const char* rtb_version(void) { return RTB_VERSION_STRING; }

RTB_API uint32_t rtb_version_number(void) { return RTB_VERSION_NUMBER; }

RTB_API const char* rtb_last_error(void) { return last_error.c_str(); }

RTB_API const char* rtb_status_name(rtb_status status) {
  switch (status) {
    case RTB_OK: return "ok";
    case RTB_E_INVALID_ARGUMENT: return "invalid_argument";
    case RTB_E_INVALID_CONFIG: return "invalid_config";
    case RTB_E_REENTRANT: return "reentrant";
    case RTB_E_NO_MEMORY: return "no_memory";
    case RTB_E_VERSION: return "version";
    case RTB_E_INTERNAL: return "internal";
    default: return "unknown";
  }
}

RTB_API const char* rtb_end_reason_name(int32_t reason) {
  if (reason < RTB_END_CALLER_HUNG_UP || reason > RTB_END_MAX_DURATION) return "unknown";
  // to_string() returns views of string literals: NUL-terminated.
  return rtb::to_string(static_cast<rtb::end_reason>(reason)).data();
}

RTB_API int rtb_end_reason_is_ai_failure(int32_t reason) {
  if (reason < RTB_END_CALLER_HUNG_UP || reason > RTB_END_MAX_DURATION) return 0;
  return rtb::ai_side_failure(static_cast<rtb::end_reason>(reason)) ? 1 : 0;
}

RTB_API const char* rtb_warning_name(int32_t code) {
  if (code < RTB_WARNING_REJECTED_MESSAGE || code > RTB_WARNING_CONFIGURATION_IGNORED) return "unknown";
  return rtb::to_string(static_cast<rtb::warning_code>(code)).data();
}

RTB_API rtb_status rtb_config_default_json(rtb_string* json) {
  if (!json) return fail(RTB_E_INVALID_ARGUMENT, "json is NULL");
  try {
    static const std::string defaults = [] {
      std::string s;
      rtb::append_config_json(s, rtb::call_config{});
      return s;
    }();
    *json = view(defaults);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_config_check(const char* json, size_t length) {
  if (!json && length) return fail(RTB_E_INVALID_ARGUMENT, "json is NULL but its length is not 0");
  try {
    rtb_status status = RTB_OK;
    (void)parse_config(json, length, status);
    return status == RTB_OK ? succeed() : status;
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_parser_create(rtb_parser** parser) {
  if (!parser) return fail(RTB_E_INVALID_ARGUMENT, "parser is NULL");
  *parser = nullptr;
  try {
    *parser = new rtb_parser;
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API void rtb_parser_destroy(rtb_parser* parser) { delete parser; }

RTB_API void rtb_call_options_init(rtb_call_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  options->struct_size = sizeof *options;
}

RTB_API rtb_status rtb_call_create(const rtb_call_options* options, int64_t now_us, rtb_call** call) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  *call = nullptr;
  if (!options) return fail(RTB_E_INVALID_ARGUMENT, "options is NULL");
  // Version 0.1 knows one layout; a later one accepts this one and its own.
  if (options->struct_size != sizeof(rtb_call_options))
    return fail(RTB_E_VERSION,
                "options.struct_size is not sizeof(rtb_call_options) of this version "
                "(call rtb_call_options_init)");
  if (!options->config_json && options->config_json_length)
    return fail(RTB_E_INVALID_ARGUMENT, "options.config_json is NULL but its length is not 0");
  if (options->callbacks && (!options->callbacks->send_text || !options->callbacks->close_leg))
    return fail(RTB_E_INVALID_ARGUMENT, "callbacks need send_text and close_leg");
  try {
    rtb_status status = RTB_OK;
    rtb::call_config config = parse_config(options->config_json, options->config_json_length, status);
    if (status != RTB_OK) return status;
    *call = new rtb_call(*options, std::move(config), now_us);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API void rtb_call_destroy(rtb_call* call) {
  if (!call) return;
  if (call->depth() > 0) {
    call->request_destroy();  // freed by the outermost entry on its way out
    return;
  }
  delete call;
}

RTB_API rtb_status rtb_call_on_text(rtb_call* call, int32_t leg, const char* text, size_t length, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  if (!valid_leg(leg)) return fail(RTB_E_INVALID_ARGUMENT, "leg is not RTB_LEG_TWILIO or RTB_LEG_OPENAI");
  if (!text && length) return fail(RTB_E_INVALID_ARGUMENT, "text is NULL but its length is not 0");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_input(now_us); s != RTB_OK) return s;
  try {
    call->text(leg, input(text, length));
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_call_on_fragment(rtb_call* call, int32_t leg, const char* data, size_t length,
                                        int final_fragment, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  if (!valid_leg(leg)) return fail(RTB_E_INVALID_ARGUMENT, "leg is not RTB_LEG_TWILIO or RTB_LEG_OPENAI");
  if (!data && length) return fail(RTB_E_INVALID_ARGUMENT, "data is NULL but its length is not 0");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_input(now_us); s != RTB_OK) return s;
  try {
    call->fragment(leg, input(data, length), final_fragment != 0);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_call_on_openai_open(rtb_call* call, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_input(now_us); s != RTB_OK) return s;
  try {
    call->driver().on_openai_open();
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_call_on_closed(rtb_call* call, int32_t leg, uint16_t code, const char* reason,
                                      size_t reason_length, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  if (!valid_leg(leg)) return fail(RTB_E_INVALID_ARGUMENT, "leg is not RTB_LEG_TWILIO or RTB_LEG_OPENAI");
  if (!reason && reason_length) return fail(RTB_E_INVALID_ARGUMENT, "reason is NULL but its length is not 0");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_input(now_us); s != RTB_OK) return s;
  try {
    const std::string copy(input(reason, reason_length));
    call->driver().on_closed(static_cast<rtb::leg>(leg), code, copy);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_call_on_timer(rtb_call* call, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_input(now_us); s != RTB_OK) return s;
  try {
    call->driver().on_timer();
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API int64_t rtb_call_next_timeout(const rtb_call* call) {
  if (!call) return RTB_NO_TIMEOUT;
  return call->next_timeout();
}

RTB_API rtb_status rtb_call_submit_tool_result(rtb_call* call, const char* call_id, size_t call_id_length,
                                               const char* output, size_t output_length, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  if ((!call_id && call_id_length) || (!output && output_length))
    return fail(RTB_E_INVALID_ARGUMENT, "a string is NULL but its length is not 0");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_command(now_us); s != RTB_OK) return s;
  try {
    // Copies: in the list style the arguments may point into a queued action
    // that the actions this command queues would overwrite.
    const std::string id(input(call_id, call_id_length));
    const std::string out(input(output, output_length));
    call->driver().submit_tool_result(id, out);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_call_send_user_text(rtb_call* call, const char* text, size_t length, int respond,
                                           int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  if (!text && length) return fail(RTB_E_INVALID_ARGUMENT, "text is NULL but its length is not 0");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_command(now_us); s != RTB_OK) return s;
  try {
    const std::string copy(input(text, length));
    call->driver().send_user_text(copy, respond != 0);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API rtb_status rtb_call_end(rtb_call* call, const char* reason, size_t length, int64_t now_us) {
  if (!call) return fail(RTB_E_INVALID_ARGUMENT, "call is NULL");
  if (!reason && length) return fail(RTB_E_INVALID_ARGUMENT, "reason is NULL but its length is not 0");
  rtb_call::entry guard(call);
  if (rtb_status s = call->begin_command(now_us); s != RTB_OK) return s;
  try {
    const std::string copy(input(reason, length));
    call->driver().end_call(copy);
    return succeed();
  } catch (...) {
    return current_exception_status();
  }
}

RTB_API const rtb_action* rtb_call_next_action(rtb_call* call) {
  if (!call) return nullptr;
  try {
    return call->take_action();
  } catch (...) {
    (void)current_exception_status();
    return nullptr;
  }
}

RTB_API int rtb_call_finished(const rtb_call* call) { return call && call->driver().finished() ? 1 : 0; }

RTB_API rtb_status rtb_call_get_counters(const rtb_call* call, rtb_counters* out, size_t out_size) {
  if (!call || !out) return fail(RTB_E_INVALID_ARGUMENT, "call or out is NULL");
  rtb_counters all{};
  fill_counters(all, call->driver().call().counters());
  std::memcpy(out, &all, out_size < sizeof all ? out_size : sizeof all);
  return succeed();
}

}  // extern "C"
