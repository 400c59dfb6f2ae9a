// Which Realtime API errors end a call and which a bridge rides out.
#pragma once

#include <string_view>

namespace rtb::openai {

enum class error_severity {
  recoverable,  ///< log, count, carry on
  fatal,        ///< the session cannot serve this call any more
};

/// Classifies an `error` event's code (the table in docs/troubleshooting.md,
/// "OpenAI error codes", lists them).
///
/// - Fatal whatever the phase: authentication, protocol and model problems
///   (invalid_api_key, beta_api_shape_disabled, invalid_model,
///   model_not_found, session_expired, insufficient_quota, …).
/// - While configuring (our session.update is the only control event sent),
///   parameter errors (unknown_parameter, invalid_type,
///   missing_required_parameter, invalid_value) mean the configuration was
///   rejected, which is fatal too.
/// - Everything else, including unknown codes, is recoverable: most errors
///   leave the session open.
error_severity classify_error(std::string_view code, bool configuring) noexcept;

/// True for an error answering a `conversation.item.truncate` the server
/// refused: audio_end_ms past the item's audio ("Audio content of 3700ms is
/// already shorter than 3760ms", no code of its own) or an item without
/// audio ("Only model output audio messages can be truncated"). Matched on the
/// message, as openai-realtime.md §4.1 advises. Counted, never fatal.
bool is_truncate_rejection(std::string_view message) noexcept;

/// Classifies the error of a `response.done` with status "failed": fatal when
/// no later response can succeed either (model or account problems).
error_severity classify_response_failure(std::string_view code) noexcept;

}  // namespace rtb::openai
