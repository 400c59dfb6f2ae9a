// Runs one call: owns its buffers, codecs and clock, feeds the call machine and
// carries out its actions through the two transports and the observer. This is
// what a socket adapter (such as the libwebsockets one) calls into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/shared_parser.hpp"
#include "realtime_bridge/time.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb {

struct driver_limits {
  std::size_t max_twilio_message_bytes = 64 * 1024;
  std::size_t max_openai_message_bytes = 4 * 1024 * 1024;
};

class call_driver {
 public:
  using clock_function = std::function<timestamp()>;

  /// Reads the clock once to start the call. `config` must pass validate().
  /// `twilio`, `openai`, `observer` and `trace` (optional) must outlive the
  /// driver. With a trace sink, the trace header and every input are recorded.
  /// With `parser`, both legs decode in that shared parser (shared_parser.hpp):
  /// give every driver on a thread the same one to save tens of KiB per call.
  call_driver(call_config config, transport& twilio, transport& openai, call_observer& observer,
              driver_limits limits = {}, clock_function now_source = &clock::now, trace_sink* trace = nullptr,
              shared_parser* parser = nullptr);
  ~call_driver();
  call_driver(const call_driver&) = delete;
  call_driver& operator=(const call_driver&) = delete;

  /// Who opens connections to OpenAI when the call asks (to_openai::connect).
  /// Without one, connect requests are ignored: the shell must then open the
  /// OpenAI leg itself right away (openai_connect::at_once only). Set it
  /// before start(); it must outlive the driver.
  void set_connector(connector* c) noexcept;
  /// Runs the call's first actions (call::start): with a connector, the
  /// OpenAI connection starts opening. Call once, before any input.
  void start();
  /// Replaying a trace: the driver issues no host command of its own (the
  /// trace holds them all, e.g. the configuration kept at Twilio's start).
  void set_replaying(bool replaying) noexcept;

  /// Zero-copy receive: append a message's bytes (fragment by fragment) here,
  /// then call on_message(). Check size() against max_message_bytes() while
  /// appending to avoid buffering a message that will be rejected anyway.
  padded_buffer& inbox(leg side) noexcept;
  std::size_t max_message_bytes(leg side) const noexcept;
  /// Processes the complete message in inbox(side), then empties it.
  void on_message(leg side);
  /// Convenience: copies `text` into the inbox and processes it.
  void on_text(leg side, std::string_view text);
  /// A message that exceeded the size limit and was not buffered.
  void on_oversized(leg side, std::size_t size);

  void on_openai_open();
  /// A leg closed, or (OpenAI) failed to connect. `code` 0 when there was no close frame.
  void on_closed(leg side, std::uint16_t code, std::string_view reason);
  /// Call when the time from next_timeout() has come (spurious calls are fine).
  void on_timer();
  std::optional<timestamp> next_timeout() const noexcept;

  // Host commands. Safe to call from observer callbacks.
  void submit_tool_result(std::string_view call_id, std::string_view output);
  void send_user_text(std::string_view text, bool respond = true);
  void end_call(std::string_view reason);
  /// Ends the call once what the AI is saying has played (call_in::end_after_playout):
  /// the goodbye is heard, and Twilio's stream closes normally. With a tool
  /// call id (the model's end_call or transfer), that call is answered with
  /// `tool_output` first.
  void end_after_playout(std::string_view reason, std::string_view tool_call_id = {},
                         std::string_view tool_output = {});
  /// The call's configuration, chosen when Twilio's start is in (inside
  /// on_stream_started, with openai_connect::after_start; call_in::configure).
  /// If the observer gives none there, the driver keeps the one the call
  /// started with. At any other time the call ignores it (with a warning).
  void configure(const call_config& config);
  /// The same, keeping the configuration the call started with.
  void keep_configuration();

  /// True once the call has ended (call_ended was delivered).
  bool finished() const noexcept;
  const rtb::call& call() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb
