// The listening sockets. lws 4.1.6 only sets SO_REUSEPORT when one context
// runs several service threads, which Debian's build (LWS_MAX_SMP 1) never
// does; so each service thread opens its own SO_REUSEPORT socket on the shared
// port, hands it to its context as a raw descriptor, and accepts connections
// itself, adopting each into the context as an HTTP connection. The kernel
// spreads new connections across the threads' sockets.
#pragma once

#include <string>

#include "realtime_bridge/result.hpp"

namespace rtb::lws_adapter {

/// Checks that no socket listens on `bind_address`:`port` and, for port 0,
/// picks a free one; returns the port. Call it before open_listener():
/// SO_REUSEPORT would otherwise let the threads' sockets join another
/// process's on the same port (and split its connections with it) without
/// an error, whether that is a second instance started on the same port by
/// mistake or, for port 0, a port the kernel handed out twice.
[[nodiscard]] result<int> claim_port(const std::string& bind_address, int port);

/// A non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT on
/// `bind_address` ("" = every interface, IPv6 and IPv4) and `port` (0 = any).
/// Returns the descriptor; `bound_port` receives the actual port.
[[nodiscard]] result<int> open_listener(const std::string& bind_address, int port, int& bound_port);

/// Why accept_all returned.
enum class accept_outcome {
  drained,  ///< no connection is waiting
  /// The process (EMFILE) or the system (ENFILE, ENOBUFS, ENOMEM) is out of
  /// descriptors or memory. The connections stay queued and the socket stays
  /// readable: the caller must stop watching it for a while, or it spins.
  out_of_descriptors,
};

/// Accepts every pending connection on `listen_fd` (non-blocking, CLOEXEC),
/// calling `adopt(fd)` for each, until none is left or descriptors run out
/// (then `error_number` holds the errno).
template <class Adopt>
accept_outcome accept_all(int listen_fd, Adopt&& adopt, int& error_number);

}  // namespace rtb::lws_adapter

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <cerrno>

namespace rtb::lws_adapter {

template <class Adopt>
accept_outcome accept_all(int listen_fd, Adopt&& adopt, int& error_number) {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      error_number = errno;
      switch (errno) {
        case EINTR:
        case ECONNABORTED:  // that connection is gone; the next may be fine
        case EPROTO:
          continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          return accept_outcome::out_of_descriptors;
        default:
          return accept_outcome::drained;  // EAGAIN: nothing left
      }
    }
    // lws sets TCP_NODELAY only on sockets it accepts itself. Without it a
    // mark waits behind the ACK of the media before it (Nagle), which added
    // up to 10 ms (p99) to the AI's audio under load.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    adopt(fd);
  }
}

}  // namespace rtb::lws_adapter
