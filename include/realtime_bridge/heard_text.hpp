// What the caller heard of an answer they interrupted, as text: the model's
// transcript cut where the audio was cut, for records a person reads.
#pragma once

#include <cstdint>
#include <string_view>

namespace rtb {

/// The start of `transcript` the caller heard when `heard_ms` of the item's
/// `audio_ms` had played: the same share of the text, back to the end of the
/// last whole word (an estimate: speech runs about evenly through a
/// transcript). All of it when heard_ms >= audio_ms; "" when nothing was heard.
std::string_view heard_text(std::string_view transcript, std::int64_t heard_ms, std::int64_t audio_ms) noexcept;

}  // namespace rtb
