// libFuzzer target: rtb::twilio::decoder::decode on arbitrary bytes.
//
// The input is one Twilio message. On success every view of the decoded event
// (and of unknown_fields()) is read, so ASan sees any view that dangles or
// points past the message. Besides memory safety it checks what the decoder
// documents:
//   - a decoded `media` payload is base64;
//   - decoding is a pure function of the message: a second decode() of the
//     same buffer by the same (reused) decoder gives the same result;
//   - a decoder whose limit is smaller than the message rejects it as too_large.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/padded_buffer.hpp"
#include "realtime_bridge/twilio/decoder.hpp"

namespace {

using namespace rtb;

// Forces a read of every byte of a view: ASan reports views into freed or
// foreign memory, and the sum keeps the reads from being optimised away.
std::size_t touch(std::string_view s) {
  std::size_t h = s.size();
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}

std::size_t touch(const twilio::event& ev) {
  return std::visit(
      [](const auto& e) -> std::size_t {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, twilio::connected>) {
          return touch(e.protocol) + touch(e.version);
        } else if constexpr (std::is_same_v<T, twilio::start>) {
          std::size_t h = e.sequence_number + touch(e.stream_sid) + touch(e.account_sid) + touch(e.call_sid);
          for (std::string_view t : e.tracks) h += touch(t);
          h += touch(e.format.encoding) + e.format.sample_rate + e.format.channels + (e.has_media_format ? 1 : 0);
          for (const auto& p : e.custom_parameters) h += touch(p.name) * 3 + touch(p.value);
          return h;
        } else if constexpr (std::is_same_v<T, twilio::media>) {
          if (!audio::is_base64(e.payload)) __builtin_trap();  // documented: validated as base64
          return e.sequence_number + touch(e.stream_sid) + touch(e.track) + e.chunk + e.timestamp_ms +
                 touch(e.payload) + audio::base64_decoded_size(e.payload);
        } else if constexpr (std::is_same_v<T, twilio::mark>) {
          return e.sequence_number + touch(e.stream_sid) + touch(e.name);
        } else if constexpr (std::is_same_v<T, twilio::dtmf>) {
          return e.sequence_number + touch(e.stream_sid) + touch(e.track) + touch(e.digit);
        } else if constexpr (std::is_same_v<T, twilio::stop>) {
          return e.sequence_number + touch(e.stream_sid) + touch(e.account_sid) + touch(e.call_sid);
        } else {
          static_assert(std::is_same_v<T, twilio::unknown_event>);
          return touch(e.name);
        }
      },
      ev);
}

std::size_t touch_unknown(const twilio::decoder& d) {
  std::size_t h = 0;
  for (const auto& f : d.unknown_fields()) h += touch(f.parent) * 7 + touch(f.key);
  return h;
}

volatile std::size_t sink;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const padded_buffer message(text);

  twilio::decoder decoder;
  std::size_t h1 = 0;
  std::size_t index1 = 0;
  std::optional<errc> error1;
  {
    auto r = decoder.decode(message);
    if (r) {
      h1 = touch(*r) + touch_unknown(decoder);
      index1 = r->index();
    } else {
      error1 = r.error().code;
      h1 = touch(r.error().message);
    }
  }
  // Same decoder, same message: same answer (no state leaks between decodes).
  {
    auto r = decoder.decode(message);
    if (r.has_value() == error1.has_value()) __builtin_trap();
    if (r) {
      if (r->index() != index1 || touch(*r) + touch_unknown(decoder) != h1) __builtin_trap();
    } else if (r.error().code != *error1 || touch(r.error().message) != h1) {
      __builtin_trap();
    }
  }
  sink = h1;

  // A decoder whose limit is below the message size must refuse it.
  if (size > 0) {
    twilio::decoder small(size - 1);
    auto r = small.decode(message);
    if (r || r.error().code != errc::too_large) __builtin_trap();
  }
  return 0;
}
