#include "realtime_bridge/heard_text.hpp"

namespace rtb {

std::string_view heard_text(std::string_view transcript, std::int64_t heard_ms, std::int64_t audio_ms) noexcept {
  if (heard_ms <= 0 || audio_ms <= 0 || transcript.empty()) return {};
  if (heard_ms >= audio_ms) return transcript;
  auto cut = static_cast<std::size_t>(static_cast<double>(transcript.size()) * static_cast<double>(heard_ms) /
                                      static_cast<double>(audio_ms));
  // Back to a word boundary: a word the caller heard only part of is left out.
  if (cut < transcript.size() && transcript[cut] != ' ')
    while (cut > 0 && transcript[cut - 1] != ' ') --cut;
  while (cut > 0 && (transcript[cut - 1] == ' ' || transcript[cut - 1] == ',')) --cut;
  return transcript.substr(0, cut);
}

}  // namespace rtb
