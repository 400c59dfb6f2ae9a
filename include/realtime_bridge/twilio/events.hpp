// Messages Twilio sends on a bidirectional Media Stream, as decoded views.
//
// Every std::string_view and std::span in these structs points into the
// decoder that produced the event (or into the message it decoded) and is
// valid until that decoder's next decode() call.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

namespace rtb::twilio {

/// `{"event":"connected","protocol":"Call","version":"1.0.0"}`: the first message.
struct connected {
  std::string_view protocol;
  std::string_view version;
};

struct media_format {
  std::string_view encoding;  ///< always "audio/x-mulaw" in practice
  std::uint32_t sample_rate = 0;
  std::uint32_t channels = 0;
};

/// One `<Parameter name=… value=…>` from the TwiML.
struct custom_parameter {
  std::string_view name;
  std::string_view value;
};

/// `start`: sent once; carries the ids every outbound message must echo.
struct start {
  std::uint64_t sequence_number = 0;
  std::string_view stream_sid;  ///< required (start.streamSid)
  std::string_view account_sid;
  std::string_view call_sid;  ///< required (start.callSid)
  std::span<const std::string_view> tracks;
  bool has_media_format = false;
  media_format format;
  std::span<const custom_parameter> custom_parameters;
};

/// `media`: 20 ms of caller audio, base64 µ-law, normally 160 bytes.
struct media {
  std::uint64_t sequence_number = 0;
  std::string_view stream_sid;
  std::string_view track;
  std::uint64_t chunk = 0;
  std::uint64_t timestamp_ms = 0;  ///< presentation time since the stream began
  std::string_view payload;        ///< required; validated as base64
};

/// `mark`: Twilio echoes a mark we sent once the audio before it has played
/// (or was discarded by a `clear`).
struct mark {
  std::uint64_t sequence_number = 0;
  std::string_view stream_sid;
  std::string_view name;  ///< required (mark.name)
};

/// `dtmf`: a key the caller pressed.
struct dtmf {
  std::uint64_t sequence_number = 0;
  std::string_view stream_sid;
  std::string_view track;
  std::string_view digit;  ///< required (dtmf.digit)
};

/// `stop`: the call ended or the stream was stopped.
struct stop {
  std::uint64_t sequence_number = 0;
  std::string_view stream_sid;
  std::string_view account_sid;
  std::string_view call_sid;
};

/// Any `event` name this library does not know. Tolerated, never an error.
struct unknown_event {
  std::string_view name;
};

using event = std::variant<connected, start, media, mark, dtmf, stop, unknown_event>;

/// A field the decoder did not recognise, e.g. {"media", "foo"} for media.foo.
/// Unknown fields are tolerated; they are reported so a host can notice
/// protocol drift.
struct unknown_field {
  std::string_view parent;  ///< "" for the top level
  std::string_view key;
};

}  // namespace rtb::twilio
