// libFuzzer target: rtb::openai::decoder::decode on arbitrary bytes.
//
// The input is one Realtime API server event. On success every view of the
// decoded event is read, so ASan sees any view that dangles or points past
// the message. Besides memory safety it checks what the decoder documents:
//   - audio deltas are base64 and carry non-empty response_id and item_id;
//   - other required ids (the ones whose absence is an error) are non-empty;
//   - decoding is a pure function of the message: a second decode() of the
//     same buffer by the same (reused) decoder gives the same result;
//   - a decoder whose limit is smaller than the message rejects it as too_large.
//
// Fixed since, reproducers kept in regressions/:
//   fuzz_openai_decoder-session-audio-invalid-json-segv: invalid JSON sent
//     simdjson's out-of-order lookup off the document;
//   fuzz_openai_decoder-long-type-string-buffer-overflow: the top-level "type"
//     string was unescaped twice, writing past simdjson's string buffer (only
//     visible with an instrumented simdjson, RTB_FUZZ_SIMDJSON_SOURCE).
#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/openai/decoder.hpp"
#include "realtime_bridge/padded_buffer.hpp"

namespace {

using namespace rtb;
using namespace rtb::openai;

std::size_t touch(std::string_view s) {
  std::size_t h = s.size();
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}
std::size_t touch(std::int64_t n) { return static_cast<std::size_t>(n); }

std::size_t touch(const error_info& e) {
  return touch(e.type) + 2 * touch(e.code) + 3 * touch(e.message) + 5 * touch(e.param) + 7 * touch(e.event_id);
}
std::size_t touch(const session_info& s) {
  return touch(s.id) + touch(s.model) + touch(s.expires_at) + touch(s.input_format) + touch(s.output_format) +
         touch(s.voice);
}
std::size_t touch(const item_info& i) {
  return touch(i.id) + touch(i.type) + touch(i.role) + touch(i.status) + touch(i.call_id) + touch(i.name) +
         touch(i.arguments);
}
std::size_t touch(const usage& u) {
  return touch(u.total_tokens) + touch(u.input_tokens) + touch(u.output_tokens) + touch(u.input_text_tokens) +
         touch(u.input_audio_tokens) + touch(u.input_cached_tokens) + touch(u.output_text_tokens) +
         touch(u.output_audio_tokens);
}

void require_id(std::string_view id) {
  if (id.empty()) __builtin_trap();
}

std::size_t touch(const event& ev) {
  return std::visit(
      [](const auto& e) -> std::size_t {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, session_created> || std::is_same_v<T, session_updated>) {
          return touch(e.session);
        } else if constexpr (std::is_same_v<T, error_event>) {
          return touch(e.error);
        } else if constexpr (std::is_same_v<T, speech_started>) {
          return touch(e.audio_start_ms) + touch(e.item_id);
        } else if constexpr (std::is_same_v<T, speech_stopped>) {
          return touch(e.audio_end_ms) + touch(e.item_id);
        } else if constexpr (std::is_same_v<T, input_committed>) {
          return touch(e.item_id) + touch(e.previous_item_id);
        } else if constexpr (std::is_same_v<T, item_added> || std::is_same_v<T, item_done>) {
          return touch(e.previous_item_id) + touch(e.item);
        } else if constexpr (std::is_same_v<T, item_truncated>) {
          require_id(e.item_id);
          return touch(e.item_id) + touch(e.content_index) + touch(e.audio_end_ms);
        } else if constexpr (std::is_same_v<T, item_deleted>) {
          require_id(e.item_id);
          return touch(e.item_id);
        } else if constexpr (std::is_same_v<T, response_created>) {
          require_id(e.response_id);
          return touch(e.response_id) + touch(e.status);
        } else if constexpr (std::is_same_v<T, output_item_added> || std::is_same_v<T, output_item_done>) {
          return touch(e.response_id) + touch(e.output_index) + touch(e.item);
        } else if constexpr (std::is_same_v<T, audio_delta>) {
          require_id(e.response_id);
          require_id(e.item_id);
          if (!audio::is_base64(e.delta)) __builtin_trap();  // empty is valid base64 (zero bytes)
          return touch(e.response_id) + touch(e.item_id) + touch(e.output_index) + touch(e.content_index) +
                 touch(e.delta) + audio::base64_decoded_size(e.delta);
        } else if constexpr (std::is_same_v<T, audio_done>) {
          require_id(e.response_id);
          require_id(e.item_id);
          return touch(e.response_id) + touch(e.item_id) + touch(e.output_index) + touch(e.content_index);
        } else if constexpr (std::is_same_v<T, transcript_delta>) {
          require_id(e.item_id);
          return touch(e.response_id) + touch(e.item_id) + touch(e.content_index) + touch(e.delta);
        } else if constexpr (std::is_same_v<T, transcript_done>) {
          require_id(e.item_id);
          return touch(e.response_id) + touch(e.item_id) + touch(e.content_index) + touch(e.transcript);
        } else if constexpr (std::is_same_v<T, input_transcription_completed>) {
          require_id(e.item_id);
          return touch(e.item_id) + touch(e.content_index) + touch(e.transcript);
        } else if constexpr (std::is_same_v<T, input_transcription_failed>) {
          require_id(e.item_id);
          return touch(e.item_id) + touch(e.content_index) + touch(e.error);
        } else if constexpr (std::is_same_v<T, function_arguments_delta>) {
          return touch(e.response_id) + touch(e.item_id) + touch(e.call_id) + touch(e.delta);
        } else if constexpr (std::is_same_v<T, function_arguments_done>) {
          require_id(e.call_id);
          return touch(e.response_id) + touch(e.item_id) + touch(e.call_id) + touch(e.name) + touch(e.arguments);
        } else if constexpr (std::is_same_v<T, response_done>) {
          require_id(e.response_id);
          return touch(e.response_id) + touch(e.status) + touch(e.status_reason) + touch(e.error) + touch(e.usage);
        } else if constexpr (std::is_same_v<T, rate_limits_updated>) {
          return touch(e.tokens_remaining);
        } else {
          static_assert(std::is_same_v<T, unknown_event>);
          return touch(e.type) + (e.documented ? 1 : 0);
        }
      },
      ev);
}

volatile std::size_t sink;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const padded_buffer message(text);

  // A decoder whose limit is below the message size must refuse it.
  if (size > 0) {
    openai::decoder small(size - 1);
    auto r = small.decode(message);
    if (r || r.error().code != errc::too_large) __builtin_trap();
  }

  openai::decoder decoder;
  std::size_t h1 = 0;
  std::size_t index1 = 0;
  std::optional<errc> error1;
  {
    auto r = decoder.decode(message);
    if (r) {
      h1 = touch(*r);
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
      if (r->index() != index1 || touch(*r) != h1) __builtin_trap();
    } else if (r.error().code != *error1 || touch(r.error().message) != h1) {
      __builtin_trap();
    }
  }
  sink = h1;
  return 0;
}
