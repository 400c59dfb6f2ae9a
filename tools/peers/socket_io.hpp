// One socket's bytes for the test peers that speak raw protocols (the fault
// peers, the fake HTTP server): plain or TLS, non-blocking, every call
// bounded by a deadline, and the misbehaviours a fault needs (RST, FIN only).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

namespace rtb::peers {

using steady = std::chrono::steady_clock;

void set_nonblocking(int fd);

class link_io {
 public:
  enum class status { ok, eof, error, timeout };

  /// Takes `fd` (and `ssl`, if any): both are freed with this.
  link_io(int fd, SSL* ssl);
  ~link_io();
  link_io(const link_io&) = delete;
  link_io& operator=(const link_io&) = delete;

  bool tls() const noexcept { return ssl_ != nullptr; }
  /// Appends what arrives (at least one byte) to `out`.
  status read_some(std::string& out, steady::time_point deadline);
  status write_all(std::string_view bytes, steady::time_point deadline);
  /// The server side of a TLS handshake.
  bool tls_accept(steady::time_point deadline);
  /// A TCP RST: no FIN, no close_notify.
  void reset();
  /// A TCP FIN on our side only (for TLS: without close_notify).
  void shutdown_write();

 private:
  bool wait(int events, steady::time_point deadline);

  int fd_;
  SSL* ssl_;
};

/// Reads and discards until the other side closes; true if it did within the deadline.
bool hold_until_closed(link_io& io, steady::time_point deadline);

/// Reads until a complete HTTP head arrived; false on EOF, error or timeout.
bool read_head(link_io& io, std::string& bytes, steady::time_point deadline);

}  // namespace rtb::peers
