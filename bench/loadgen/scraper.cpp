#include "scraper.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace rtb::loadgen {
namespace {

using clock = std::chrono::steady_clock;

struct answer {
  int status = 0;
  std::uint64_t body_bytes = 0;
};

/// One GET /metrics over a fresh connection (as Prometheus makes by default
/// when the target closes), read until the server closes; 0 status on failure.
answer get_metrics(int port, std::chrono::milliseconds timeout) {
  answer a;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return a;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  constexpr std::string_view request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string in;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    const auto deadline = clock::now() + timeout;
    while (clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (::poll(&p, 1, static_cast<int>(left > 0 ? left : 1)) != 1) break;
      char buf[16384];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  if (in.starts_with("HTTP/1.1 ") && in.size() >= 12) a.status = std::atoi(in.c_str() + 9);
  if (const auto end = in.find("\r\n\r\n"); end != std::string::npos) a.body_bytes = in.size() - end - 4;
  return a;
}

}  // namespace

scraper::scraper(int port, std::chrono::milliseconds every) : port_(port), every_(every) {
  thread_ = std::thread([this] { run(); });
}

scraper::~scraper() { (void)stop(); }

scrape_summary scraper::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  summary_.latency = summarize(latencies_us_);
  return summary_;
}

void scraper::run() {
  auto next = clock::now();
  while (!stop_) {
    const auto t0 = clock::now();
    const answer a = get_metrics(port_, std::chrono::seconds(5));
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0).count();
    if (a.status == 200) {
      ++summary_.scrapes;
      summary_.bytes = a.body_bytes;
      latencies_us_.push_back(static_cast<std::uint32_t>(us));
    } else {
      ++summary_.failures;
    }
    next += every_;
    while (!stop_ && clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace rtb::loadgen
