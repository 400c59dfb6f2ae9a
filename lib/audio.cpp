#include "realtime_bridge/audio.hpp"

#include <array>

namespace rtb::audio {
namespace {

constexpr std::array<bool, 256> make_alphabet() {
  std::array<bool, 256> t{};
  for (char c = 'A'; c <= 'Z'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c = 'a'; c <= 'z'; ++c) t[static_cast<unsigned char>(c)] = true;
  for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = true;
  t['+'] = true;
  t['/'] = true;
  return t;
}
constexpr auto alphabet = make_alphabet();

}  // namespace

bool is_base64(std::string_view text) noexcept {
  if (text.size() % 4 != 0) return false;
  std::size_t body = text.size();
  if (body > 0 && text[body - 1] == '=') --body;
  if (body > 0 && text[body - 1] == '=' && body == text.size() - 1) --body;
  for (std::size_t i = 0; i < body; ++i)
    if (!alphabet[static_cast<unsigned char>(text[i])]) return false;
  return true;
}

}  // namespace rtb::audio
