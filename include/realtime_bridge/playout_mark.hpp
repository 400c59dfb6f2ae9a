// The names of the marks we interleave with outbound audio.
//
// A mark tells us, when Twilio echoes it, that the caller has heard the audio
// sent before it. Its name carries everything needed to interpret the echo
// without a lookup table: the barge-in generation it belongs to (echoes from
// an older generation were flushed by a `clear`, not played), which audio item
// it follows, and how many milliseconds of that item had been sent.
//
// Wire form: "rtb.<generation>.<item>.<sent_ms>", e.g. "rtb.3.7.1240".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtb {

struct playout_mark {
  std::uint32_t generation = 0;
  std::uint32_t item = 0;    ///< the item's sequence number within the call
  std::int64_t sent_ms = 0;  ///< audio of that item sent before this mark

  friend bool operator==(const playout_mark&, const playout_mark&) = default;
};

/// Appends the wire name of `m` to `out`.
void append_mark_name(std::string& out, const playout_mark& m);
std::string to_string(const playout_mark& m);

/// Parses a name produced by append_mark_name(); anything else (a mark some
/// other component sent on the stream) yields nullopt.
std::optional<playout_mark> parse_mark_name(std::string_view name) noexcept;

}  // namespace rtb
