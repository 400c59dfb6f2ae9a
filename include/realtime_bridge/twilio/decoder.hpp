// JSON text from Twilio -> twilio::event.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/shared_parser.hpp"
#include "realtime_bridge/twilio/events.hpp"

namespace rtb::twilio {

/// Decodes Twilio Media Stream messages. One decoder per call leg; not
/// thread-safe. Steady-state decoding allocates nothing.
///
/// Rules:
/// - Counters (`sequenceNumber`, `media.chunk`, `media.timestamp`) are accepted
///   as JSON strings (what Twilio sends) or numbers; so are `sampleRate` and
///   `channels`.
/// - Fields may appear in any order. Unknown fields are skipped and listed in
///   unknown_fields(); unknown `event` names decode to unknown_event.
/// - A missing required field, a field of the wrong type, or a media payload
///   that is not base64 is an error whose message names the field.
class decoder {
 public:
  /// With `parser`, decodes in that shared parser (shared_parser.hpp).
  explicit decoder(std::size_t max_message_bytes = 64 * 1024, shared_parser* parser = nullptr);
  ~decoder();
  decoder(decoder&&) noexcept;
  decoder& operator=(decoder&&) noexcept;

  /// The returned event's views point into this decoder (or its shared
  /// parser) and `message`; both must stay unchanged until the event is no
  /// longer used.
  [[nodiscard]] result<event> decode(const padded_buffer& message);

  /// Fields the last decode() skipped because it did not know them.
  std::span<const unknown_field> unknown_fields() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rtb::twilio
