// call_config <-> JSON, used by traces (and by hosts that keep configuration
// in files). Secrets are never part of a call_config.
#pragma once

#include <string>
#include <string_view>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/result.hpp"

namespace rtb {

/// Appends `config` as one JSON object: every setting, except that
/// limits.caller_audio_batch_ms appears only when batching is on (non-zero).
void append_config_json(std::string& out, const call_config& config);

/// Parses a JSON object produced by append_config_json(). Missing members keep
/// their defaults; unknown members are errors (they usually are typos).
[[nodiscard]] result<call_config> parse_config_json(std::string_view json);

}  // namespace rtb
