// JSON text from OpenAI -> openai::event.
#pragma once

#include <cstddef>
#include <memory>

#include "realtime_bridge/openai/events.hpp"
#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/shared_parser.hpp"

namespace rtb::openai {

/// Decodes Realtime API server events. One decoder per call leg; not
/// thread-safe. Steady-state decoding allocates nothing.
///
/// A message that is not a JSON object, has no string `type`, lacks a field
/// the event needs (the message names it, e.g. "response.output_audio.delta:
/// missing field 'delta'"), or carries audio that is not base64 is an error.
/// Unknown types and unknown fields are not.
class decoder {
 public:
  /// With `parser`, decodes in that shared parser (shared_parser.hpp).
  explicit decoder(std::size_t max_message_bytes = 4 * 1024 * 1024, shared_parser* parser = nullptr);
  ~decoder();
  decoder(decoder&&) noexcept;
  decoder& operator=(decoder&&) noexcept;

  /// The returned event's views point into this decoder (or its shared
  /// parser) and `message`; both must stay unchanged until the event is no
  /// longer used.
  [[nodiscard]] result<event> decode(const padded_buffer& message);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb::openai
