// The calls API: the call store as JSON over HTTP, for operators and their
// tools. Plain functions from a request to a response, so any HTTP server can
// host them; they read the store, which may block: run them off the threads
// that carry calls (work_queue.hpp).
//
//   GET /api/calls                 newest first; filters since, until, agent,
//                                  number, end_reason, open=1; paging with
//                                  limit and cursor (the response's next_cursor)
//   GET /api/calls/{CallSid}       the call with its items, tool calls and events
//   GET /api/calls/{CallSid}/trace the call's trace (JSON lines), when one was recorded
//
// Every request needs "Authorization: Bearer <admin token>"; without a token
// configured the API is off (404).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realtime_bridge/service/call_store.hpp"

namespace rtb::service {

struct api_request {
  std::string method;
  std::string path;                                        ///< decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  ///< decoded
  std::string authorization;                               ///< the Authorization header
  std::string body;                                        ///< a POST's body (the outbound API's JSON)
};

struct api_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

struct calls_api_options {
  std::string admin_token;  ///< empty: the API is off
  std::string trace_dir;    ///< traces are served only from under it
  std::size_t max_trace_bytes = 64 * 1024 * 1024;
};

/// True for the paths the API serves (/api/calls…).
bool is_calls_api_path(std::string_view path) noexcept;

/// True when `authorization` carries the admin token (compared in constant time).
bool admin_authorized(const calls_api_options& options, std::string_view authorization) noexcept;

/// Answers one request. Blocks on the store's reads.
api_response handle_calls_api(call_store& store, const calls_api_options& options, const api_request& request);

/// The JSON of a stored call, and of one call with everything recorded about it.
std::string call_json(const stored_call& c);
std::string call_detail_json(const call_detail& d);

/// Milliseconds since the epoch from "1733450000000" or an RFC 3339 UTC time
/// ("2026-12-06T01:02:03Z", fractions allowed); nullopt if neither.
std::optional<store_time> parse_api_time(std::string_view text) noexcept;

}  // namespace rtb::service
