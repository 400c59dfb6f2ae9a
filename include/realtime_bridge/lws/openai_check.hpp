// The key check: connect to OpenAI with the configured key, URL and model,
// send the session.update a call would send, and say what went wrong and how
// to fix it. What `realtime-bridge-server --check` runs.
#pragma once

#include <chrono>
#include <string>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/lws/server.hpp"

namespace rtb::lws_adapter {

struct openai_check_result {
  enum class problem {
    none,             ///< a session was configured: the key, URL, model and settings work
    connect_failed,   ///< DNS or TCP: the host cannot be reached
    tls,              ///< the server's certificate was not trusted
    upgrade_refused,  ///< an HTTP status instead of the WebSocket (http_status)
    invalid_api_key,
    model_not_found,  ///< the key cannot use the model: usually a key created before Realtime access
    beta_api_shape,   ///< an OpenAI-Beta header reached OpenAI
    setting_rejected, ///< session.update refused: `param` names the setting
    closed,           ///< the connection closed before the session was configured
    timeout,
    other_error,      ///< another error event (`code`)
  };
  problem what = problem::none;
  int http_status = 0;
  std::string code;    ///< the error event's code, if any
  std::string param;   ///< for setting_rejected, e.g. session.audio.output.voice
  std::string detail;  ///< what happened, in a sentence (never the key)
  std::string fix;     ///< what to do about it
  std::chrono::milliseconds connect_time{0};  ///< to the WebSocket open
  std::chrono::milliseconds setup_time{0};    ///< from the open to session.updated
  bool ok() const noexcept { return what == problem::none; }
};

std::string_view to_string(openai_check_result::problem p) noexcept;

/// Runs the check on the calling thread (its own event loop, bounded by
/// `timeout`). Never throws for anything the network or OpenAI does.
openai_check_result check_openai(const openai_endpoint& endpoint, const call_config& config,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(15));

}  // namespace rtb::lws_adapter
