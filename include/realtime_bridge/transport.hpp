// What the shell plugs into a call: one transport per leg, an observer for the
// host, and optionally a sink for the call's trace.
#pragma once

#include <cstdint>
#include <string_view>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/call.hpp"

namespace rtb {

/// One WebSocket leg as the driver sees it. Implementations only enqueue: they
/// must not call back into the driver from inside these functions.
class transport {
 public:
  virtual ~transport() = default;
  /// Queue one complete text message. `message` is only valid during the call.
  virtual void send_text(std::string_view message) = 0;
  /// Close the leg after the queued messages are written.
  virtual void close(std::uint16_t code, std::string_view reason) = 0;
};

/// Opens connections to OpenAI when the call asks (to_openai::connect). The
/// outcome comes back through call_driver::on_openai_open() or on_closed().
class connector {
 public:
  virtual ~connector() = default;
  /// Start opening a WebSocket to OpenAI for `slot`, with `model` in its URL.
  /// Must not call back into the driver from inside (report later).
  virtual void connect(openai_slot slot, std::string_view model) = 0;
};

/// Everything the host learns about a call when it ends.
struct call_summary {
  end_reason reason;
  std::string_view detail;
  std::string_view call_sid;
  std::string_view stream_sid;
  const call_counters& counters;
};

/// Host-facing outputs. Every view is valid only during the callback. The
/// callbacks may call back into the driver (e.g. submit_tool_result from
/// on_tool_call): such calls are queued and run once the current input is done.
class call_observer {
 public:
  virtual ~call_observer() = default;
  virtual void on_stream_started(const to_host::stream_started&) {}
  virtual void on_session_ready(const to_host::session_ready&) {}
  virtual void on_caller_transcript(const to_host::caller_transcript&) {}
  virtual void on_ai_transcript(const to_host::ai_transcript&) {}
  virtual void on_ai_interrupted(const to_host::ai_interrupted&) {}
  virtual void on_dtmf(const to_host::dtmf&) {}
  /// The AI has gone quiet and all it said has played (to_host::playout_finished).
  virtual void on_playout_finished(const to_host::playout_finished&) {}
  virtual void on_tool_call(const to_host::tool_call&) {}
  virtual void on_warning(const to_host::warning&) {}
  virtual void on_call_ended(const call_summary&) {}
};

/// Receives the call's trace, one JSON line at a time (see docs/trace-format.md).
class trace_sink {
 public:
  virtual ~trace_sink() = default;
  /// `line` has no trailing newline and is only valid during the call.
  virtual void write_line(std::string_view line) = 0;
};

}  // namespace rtb
