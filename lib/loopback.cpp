#include "realtime_bridge/loopback.hpp"

#include <charconv>

namespace rtb {

bool is_loopback_host(std::string_view host) noexcept {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // 127.0.0.0/8 as a dotted quad; "127.example.com" is a name anyone can register.
  if (!host.starts_with("127.")) return false;
  int parts = 0;
  while (!host.empty()) {
    const auto dot = host.find('.');
    const std::string_view part = host.substr(0, dot);
    unsigned value = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || part.size() > 3 || ec != std::errc{} || p != part.data() + part.size() || value > 255)
      return false;
    ++parts;
    host = dot == std::string_view::npos ? std::string_view{} : host.substr(dot + 1);
    if (dot != std::string_view::npos && host.empty()) return false;  // trailing dot
  }
  return parts == 4;
}

}  // namespace rtb
