#include "request_line.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "internal.hpp"

namespace rtb::lws_adapter {

line_scan scan_request_line(std::string_view bytes, request_line& out) noexcept {
  std::size_t start = 0;
  while (start < bytes.size() && (bytes[start] == '\r' || bytes[start] == '\n')) ++start;
  const std::size_t end = bytes.find('\n', start);
  if (end == std::string_view::npos) return line_scan::incomplete;
  std::string_view line = bytes.substr(start, end - start);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t first = line.find(' ');
  if (first == std::string_view::npos || first == 0) return line_scan::malformed;
  const std::size_t second = line.find(' ', first + 1);
  if (second == std::string_view::npos || second == first + 1) return line_scan::malformed;
  if (!line.substr(second + 1).starts_with("HTTP/")) return line_scan::malformed;
  out.method = line.substr(0, first);
  out.target = line.substr(first + 1, second - first - 1);
  return line_scan::complete;
}

request_line_gate::~request_line_gate() {
  for (const auto& [fd, deadline] : pending_) ::close(fd);
  if (epoll_fd_ >= 0 && !epoll_in_lws_) ::close(epoll_fd_);
}

void request_line_gate::accepted(int fd) {
  std::optional<std::string> target;
  switch (look(fd, target)) {
    case verdict::adopt: adopt(fd, std::move(target)); return;
    case verdict::close: ::close(fd); return;
    case verdict::wait:
      // Without a watch, lws takes the connection as it always could: its
      // request then has no target as received, and a signed query fails.
      if (!watch(fd)) adopt(fd, std::nullopt);
      return;
  }
}

request_line_gate::verdict request_line_gate::look(int fd, std::optional<std::string>& target) {
  const ssize_t n = ::recv(fd, buffer_.data(), buffer_.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? verdict::wait : verdict::close;
  if (n == 0) return verdict::close;  // gone before sending anything
  request_line line;
  switch (scan_request_line(std::string_view(buffer_.data(), static_cast<std::size_t>(n)), line)) {
    case line_scan::complete: target = std::string(line.target); return verdict::adopt;
    case line_scan::malformed: return verdict::adopt;  // lws answers it as it sees fit
    case line_scan::incomplete: break;
  }
  // A line longer than lws would take: lws refuses it, without our help.
  return static_cast<std::size_t>(n) == buffer_.size() ? verdict::adopt : verdict::wait;
}

void request_line_gate::adopt(int fd, std::optional<std::string> target) {
  struct lws* wsi = lws_adopt_socket_vhost(thread_.vhost, fd);  // closes fd on failure
  if (!wsi) {
    thread_.shared.log(log_level::error, "could not adopt an accepted connection");
    return;
  }
  if (target)
    targets_[wsi] = std::move(*target);
  else
    targets_.erase(wsi);
}

result<void> request_line_gate::open() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0)
    return error{errc::invalid_config, fmt::format("could not create an epoll set: {}", std::strerror(errno))};
  lws_sock_file_fd_type d;
  d.filefd = epoll_fd_;
  if (!lws_adopt_descriptor_vhost(thread_.vhost, LWS_ADOPT_RAW_FILE_DESC, d, "rtb-request-line", nullptr)) {
    ::close(epoll_fd_);
    epoll_fd_ = -1;
    return error{errc::invalid_config, "could not watch the request-line epoll set (lws_adopt_descriptor_vhost)"};
  }
  epoll_in_lws_ = true;
  return {};
}

bool request_line_gate::watch(int fd) {
  if (epoll_fd_ < 0) return false;
  // Edge-triggered: the bytes stay in the socket (peeked), so a level-
  // triggered watch would report a partial line over and over.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) return false;
  pending_[fd] = clock::now() + thread_.shared.options.handshake_timeout;
  arm_sweep();
  return true;
}

void request_line_gate::release(int fd) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  pending_.erase(fd);
  if (pending_.empty()) thread_.runner->cancel(sweep_);  // nothing left to give up on
}

void request_line_gate::on_readable() {
  if (epoll_fd_ < 0) return;
  std::array<epoll_event, 64> events{};
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (!pending_.contains(fd)) continue;
      std::optional<std::string> target;
      verdict v = look(fd, target);
      // A peer that stopped sending before the end of the line never finishes it.
      if (v == verdict::wait && (events[static_cast<std::size_t>(i)].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        v = verdict::close;
      if (v == verdict::wait) continue;
      release(fd);
      if (v == verdict::adopt)
        adopt(fd, std::move(target));
      else
        ::close(fd);
    }
    if (n < static_cast<int>(events.size())) return;
  }
}

void request_line_gate::on_watch_closed() {
  epoll_fd_ = -1;  // lws closes it
  epoll_in_lws_ = false;
  thread_.runner->cancel(sweep_);
  for (const auto& [fd, deadline] : pending_) ::close(fd);
  pending_.clear();
}

std::optional<std::string> request_line_gate::target(struct lws* wsi, bool consume) {
  const auto it = targets_.find(wsi);
  if (it == targets_.end()) return std::nullopt;
  if (!consume) return it->second;
  std::string t = std::move(it->second);
  targets_.erase(it);
  return t;
}

void request_line_gate::arm_sweep() {
  if (sweep_.armed || pending_.empty()) return;
  clock::time_point first = clock::time_point::max();
  for (const auto& [fd, deadline] : pending_) first = std::min(first, deadline);
  const auto wait = std::chrono::duration_cast<std::chrono::microseconds>(first - clock::now());
  sweep_.owner = this;
  sweep_.fire = &request_line_gate::on_sweep;
  thread_.runner->schedule(thread_.context, sweep_, std::max<lws_usec_t>(wait.count(), 0) + 1000);
}

void request_line_gate::on_sweep(loop_timer& timer) {
  auto& gate = *static_cast<request_line_gate*>(timer.owner);
  const clock::time_point now = clock::now();
  std::vector<int> expired;
  for (const auto& [fd, deadline] : gate.pending_)
    if (deadline <= now) expired.push_back(fd);
  for (const int fd : expired) {
    gate.release(fd);
    ::close(fd);
  }
  if (!expired.empty())
    gate.thread_.shared.log(log_level::debug,
                            fmt::format("closed {} connection{} that sent no request line within {} s", expired.size(),
                                        expired.size() == 1 ? "" : "s",
                                        gate.thread_.shared.options.handshake_timeout.count()));
  gate.arm_sweep();
}

}  // namespace rtb::lws_adapter
