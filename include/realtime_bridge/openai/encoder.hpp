// Client events we send to the Realtime API (GA shapes).
//
// Each function appends one complete JSON message to `out`. Free text
// (instructions, tool output, user text) is JSON-escaped; invalid UTF-8 in it
// is replaced by U+FFFD so the message is always valid JSON. Audio is copied
// verbatim and must already be base64. `event_id` may be empty (omitted).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "realtime_bridge/openai/session_config.hpp"

namespace rtb::openai {

void encode_session_update(std::string& out, const session_config& config, std::string_view event_id);
void encode_append_audio(std::string& out, std::string_view audio_base64);
void encode_truncate(std::string& out, std::string_view event_id, std::string_view item_id, std::int64_t content_index,
                     std::int64_t audio_end_ms);
void encode_delete_item(std::string& out, std::string_view event_id, std::string_view item_id);
/// conversation.item.create with a user message of one input_text part.
void encode_user_message(std::string& out, std::string_view event_id, std::string_view text);
/// conversation.item.create with an assistant message of one output_text part
/// (what the AI said, replayed to a new session).
void encode_assistant_message(std::string& out, std::string_view event_id, std::string_view text);
/// conversation.item.create with a function_call item (replayed).
void encode_function_call(std::string& out, std::string_view event_id, std::string_view call_id, std::string_view name,
                          std::string_view arguments);
/// conversation.item.create with a function_call_output item.
void encode_function_output(std::string& out, std::string_view event_id, std::string_view call_id,
                            std::string_view output);
/// response.create; `instructions` empty means none (use the session's).
void encode_response_create(std::string& out, std::string_view event_id, std::string_view instructions);
void encode_response_cancel(std::string& out, std::string_view event_id);

}  // namespace rtb::openai
