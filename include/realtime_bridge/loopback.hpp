// Which hosts count as this machine: the only ones plain ws:// and http://
// may reach (test peers, sidecars), everything else needs TLS.
#pragma once

#include <string_view>

namespace rtb {

/// True for localhost, ::1 (bracketed or not) and 127.0.0.0/8 as a dotted quad
/// ("127.example.com" is a name anyone can register).
bool is_loopback_host(std::string_view host) noexcept;

}  // namespace rtb
