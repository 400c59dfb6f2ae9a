#include "peers/socket_io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <openssl/err.h>

#include "peers/ws_wire.hpp"

namespace rtb::peers {

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

link_io::link_io(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) { set_nonblocking(fd_); }

link_io::~link_io() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

link_io::status link_io::read_some(std::string& out, steady::time_point deadline) {
  char buffer[16384];
  for (;;) {
    int events = POLLIN;
    if (ssl_) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        return status::ok;
      }
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_ZERO_RETURN) return status::eof;
      if (e == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else if (e != SSL_ERROR_WANT_READ) {
        return n == 0 ? status::eof : status::error;
      }
    } else {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
        return status::ok;
      }
      if (n == 0) return status::eof;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return status::error;
    }
    if (!wait(events, deadline)) return status::timeout;
  }
}

link_io::status link_io::write_all(std::string_view bytes, steady::time_point deadline) {
  while (!bytes.empty()) {
    int events = POLLOUT;
    if (ssl_) {
      ERR_clear_error();
      const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<std::size_t>(bytes.size(), 1 << 20)));
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      const int e = SSL_get_error(ssl_, n);
      if (e == SSL_ERROR_WANT_READ) {
        events = POLLIN;
      } else if (e != SSL_ERROR_WANT_WRITE) {
        return status::error;
      }
    } else {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return status::error;
    }
    if (!wait(events, deadline)) return status::timeout;
  }
  return status::ok;
}

bool link_io::tls_accept(steady::time_point deadline) {
  for (;;) {
    ERR_clear_error();
    const int n = SSL_accept(ssl_);
    if (n == 1) return true;
    const int e = SSL_get_error(ssl_, n);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return false;
    if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return false;
  }
}

void link_io::reset() {
  const linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
}

void link_io::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool link_io::wait(int events, steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  if (left <= 0) return false;
  pollfd p{fd_, static_cast<short>(events), 0};
  return ::poll(&p, 1, static_cast<int>(left)) > 0;
}

bool hold_until_closed(link_io& io, steady::time_point deadline) {
  std::string sink;
  for (;;) {
    sink.clear();
    switch (io.read_some(sink, deadline)) {
      case link_io::status::ok: continue;
      case link_io::status::timeout: return false;
      default: return true;
    }
  }
}

bool read_head(link_io& io, std::string& bytes, steady::time_point deadline) {
  while (wire::head_end(bytes) == std::string::npos)
    if (io.read_some(bytes, deadline) != link_io::status::ok) return false;
  return true;
}

}  // namespace rtb::peers
