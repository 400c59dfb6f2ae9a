#include "listener.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <cstring>

#include <fmt/format.h>

namespace rtb::lws_adapter {
namespace {

error failed(std::string_view what, const std::string& address, int port) {
  return {errc::invalid_config,
          fmt::format("could not {} {}:{}: {}", what, address.empty() ? "*" : address, port, std::strerror(errno))};
}

/// A socket bound to `bind_address`:`port`, with SO_REUSEPORT when `share`.
result<int> bind_socket(const std::string& bind_address, int port, bool share, int& bound_port) {
  sockaddr_storage addr{};
  socklen_t addr_length = 0;
  int family = AF_INET6;
  if (bind_address.empty()) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_addr = in6addr_any;
    a6->sin6_port = htons(static_cast<std::uint16_t>(port));
    addr_length = sizeof(sockaddr_in6);
  } else {
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(bind_address.c_str(), nullptr, &hints, &found) != 0 || !found)
      return error{errc::invalid_config, fmt::format("bind address '{}' is not an IP address", bind_address)};
    std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
    addr_length = found->ai_addrlen;
    family = found->ai_family;
    ::freeaddrinfo(found);
    if (family == AF_INET)
      reinterpret_cast<sockaddr_in*>(&addr)->sin_port = htons(static_cast<std::uint16_t>(port));
    else
      reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = htons(static_cast<std::uint16_t>(port));
  }

  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && bind_address.empty()) {
    // No IPv6 on this machine: every IPv4 interface instead.
    family = AF_INET;
    addr = {};
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    a4->sin_port = htons(static_cast<std::uint16_t>(port));
    addr_length = sizeof(sockaddr_in);
    fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) return failed("open a socket for", bind_address, port);
  const int on = 1, off = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (share && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
    ::close(fd);
    return failed("share (SO_REUSEPORT)", bind_address, port);
  }
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_length) < 0) {
    ::close(fd);
    return failed("listen on", bind_address, port);
  }
  sockaddr_storage actual{};
  socklen_t actual_length = sizeof actual;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&actual), &actual_length);
  bound_port = actual.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&actual)->sin_port)
                                           : ntohs(reinterpret_cast<sockaddr_in6*>(&actual)->sin6_port);
  return fd;
}

}  // namespace

result<int> claim_port(const std::string& bind_address, int port) {
  // Without SO_REUSEPORT the bind fails while any socket listens on the port
  // (SO_REUSEADDR only lets it past connections of an earlier process still
  // in TIME_WAIT); with port 0 the kernel picks one nobody holds.
  int bound_port = 0;
  auto probe = bind_socket(bind_address, port, false, bound_port);
  if (!probe) return probe.error();
  ::close(*probe);
  return bound_port;
}

result<int> open_listener(const std::string& bind_address, int port, int& bound_port) {
  auto fd = bind_socket(bind_address, port, true, bound_port);
  if (!fd) return fd.error();
  if (::listen(*fd, 1024) < 0) {
    ::close(*fd);
    return failed("listen on", bind_address, port);
  }
  return fd;
}

}  // namespace rtb::lws_adapter
