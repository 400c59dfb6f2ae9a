// Agent profiles: named per-agent settings (instructions, voice, tools over
// HTTP, transfer numbers, call timers), read from a JSON file and chosen per
// call: by the number called, else by an explicit agent name, else the
// default.
//
// The file (AGENTS_FILE in the reference server; docs/server.md):
//
//   {"default": "front-desk",
//    "agents": {"front-desk": {"instructions": "You answer for {{business}}…", "voice": "marin",
//                              "greeting": "Hello, …", "numbers": ["+15551230001"], "language": "en",
//                              "tools": [{"name": "lookup_order", "description": "…",
//                                         "parameters": {"type": "object", "properties": {}},
//                                         "url": "https://crm.example/tools/lookup_order"}],
//                              "transfer_to": "+15550009999", "idle_timeout_seconds": 20,
//                              "max_call_seconds": 1800}}}
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/result.hpp"

namespace rtb::service {

/// A function the model may call, answered by an HTTP POST to `url`.
struct http_tool {
  std::string name;
  std::string description;
  std::string parameters_json = R"({"type":"object","properties":{}})";
  std::string url;                       ///< https://…; http:// only to a loopback host
  std::chrono::milliseconds timeout{0};  ///< 0: the server's TOOL_TIMEOUT_MS
  friend bool operator==(const http_tool&, const http_tool&) = default;
};

/// What an outbound call does when answering-machine detection says a
/// machine answered (docs/server.md, "Outbound calls").
enum class machine_policy {
  hang_up,        ///< end the call at once
  leave_message,  ///< wait for the beep, say voicemail_message, hang up
};
std::string_view to_string(machine_policy p) noexcept;
std::optional<machine_policy> parse_machine_policy(std::string_view s) noexcept;

struct agent_profile {
  std::string name;
  std::string model;                 ///< "" = the server's default model
  std::string instructions;          ///< may use {{From}}, {{To}}, {{CallSid}} and custom parameters
  std::string voice;                 ///< "" = the server's default voice
  std::string greeting;              ///< what the AI says first; "" = wait for the caller
  std::vector<std::string> numbers;  ///< E.164 numbers this agent answers
  std::string language;              ///< ISO-639-1 for caller transcription; "" = auto
  bool transcribe_caller = true;     ///< caller transcripts (for records and the model's replay)
  std::vector<http_tool> tools;
  /// Built-in call control the model may use (declared as tools).
  bool end_call = true;
  std::string transfer_to;                    ///< E.164; enables transfer_call
  std::vector<std::string> transfer_numbers;  ///< or several the model may pick from
  std::chrono::seconds idle_timeout{0};       ///< 0 = off
  std::chrono::seconds max_call{0};           ///< 0 = off
  bool dtmf_to_model = false;                 ///< tell the model the keys the caller presses
  /// A holding phrase when a tool has not answered after this long (0 = off).
  std::chrono::milliseconds filler_after{0};
  /// Outbound calls placed with answering-machine detection: "on_machine"
  /// ("hang_up" or "leave_message") and "voicemail_message" (needed by
  /// leave_message).
  machine_policy on_machine = machine_policy::hang_up;
  std::string voicemail_message;
  friend bool operator==(const agent_profile&, const agent_profile&) = default;
};

struct profile_set {
  std::string default_agent;
  std::map<std::string, agent_profile, std::less<>> agents;

  const agent_profile* find(std::string_view name) const noexcept;
  /// The agent for a call: the one whose numbers include `to`, else the one
  /// named `agent` (if it exists), else the default.
  const agent_profile& select(std::string_view to, std::string_view agent) const noexcept;
};

/// Parses and checks a profiles file. Errors read "<file>: <path>: <what is
/// wrong>", e.g. "agents.json: agents.front-desk.tools[0].url: plain http://
/// is only allowed to a loopback host".
[[nodiscard]] result<profile_set> parse_profiles(std::string_view json, std::string_view file_name);

/// The call's variables for {{name}} in instructions: From, To, CallSid and
/// the stream's custom parameters.
using call_variables = std::vector<std::pair<std::string, std::string>>;

/// `text` with every {{name}} replaced by its variable's value; a name with
/// no variable becomes "" and is added to `missing` (if given).
std::string expand_variables(std::string_view text, const call_variables& vars,
                             std::vector<std::string>* missing = nullptr);

/// The call configuration for `profile`: `base` (the server's defaults) with
/// the profile's model, voice, instructions (expanded), greeting,
/// transcription language, tools (HTTP tools and the built-in call control).
/// Names the instructions use that `vars` lacks go to `missing` (if given).
call_config profile_call_config(const agent_profile& profile, const call_config& base, const call_variables& vars,
                                std::vector<std::string>* missing = nullptr);

/// The built-in tools' names.
inline constexpr std::string_view end_call_tool = "end_call";
inline constexpr std::string_view transfer_call_tool = "transfer_call";

}  // namespace rtb::service
