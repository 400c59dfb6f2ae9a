// Tools over HTTP: the model's function call becomes a signed HTTPS POST to
// the tool's URL, and the answer (or what went wrong) becomes the
// function_call_output the model speaks about. Never silence, never a stuck
// call: every request ends in one output, within the tool's timeout.
//
// The request body (application/json):
//   {"call_sid":"CA…","stream_sid":"MZ…","agent":"front-desk","tool":"lookup_order",
//    "call_id":"call_…","arguments":{…the model's arguments…},"from":"+1…","to":"+1…"}
// with the header  X-Bridge-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with TOOL_SECRET>
// (docs/server.md shows how a tool server checks it).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "realtime_bridge/fetch.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"

namespace rtb::service {

struct tool_call_context {
  std::string call_sid;
  std::string stream_sid;
  std::string agent;
  std::string from;
  std::string to;
};

struct tool_settings {
  std::string secret;                       ///< TOOL_SECRET; empty: requests are not signed
  std::chrono::milliseconds timeout{8000};  ///< a tool's own timeout_ms wins
  std::size_t max_response_bytes = 16 * 1024;
};

enum class tool_reply {
  answered,     ///< a 2xx answer; its body is the output
  http_error,   ///< another status
  timeout,      ///< no answer within the timeout
  unreachable,  ///< refused, reset, TLS failed, bad URL
  too_large,    ///< the answer exceeded max_response_bytes
};
std::string_view to_string(tool_reply o) noexcept;

struct tool_result {
  tool_reply outcome = tool_reply::answered;
  std::string output;  ///< what goes back to the model
  int status = 0;
  std::chrono::microseconds latency{0};
  std::string detail;  ///< for logs
};

/// The header value for `body`: "sha256=" + lower-case hex HMAC-SHA256.
std::string sign_body(std::string_view secret, std::string_view body);

/// The JSON the tool server receives. `arguments` is the model's JSON text:
/// inserted as JSON when it parses, else as a string.
std::string tool_request_body(const tool_call_context& call, std::string_view tool, std::string_view call_id,
                              std::string_view arguments);

/// Turns a fetch's result into the tool's output: the body on a 2xx (or
/// {"ok":true} when empty), else a short JSON error the model can speak about.
tool_result tool_result_of(const fetch_result& r, std::string_view tool, std::chrono::milliseconds timeout);

/// Calls `tool` through `http` and reports once to `done`.
void call_http_tool(fetcher& http, const http_tool& tool, const tool_settings& settings, const tool_call_context& call,
                    std::string_view call_id, std::string_view arguments, std::function<void(tool_result)> done);

}  // namespace rtb::service
