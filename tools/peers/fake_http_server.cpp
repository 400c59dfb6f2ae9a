#include "peers/fake_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/ssl.h>

#include "peers/socket_io.hpp"
#include "peers/ws_wire.hpp"

namespace rtb::peers {
namespace {

using namespace std::chrono_literals;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The request line and headers of `head` (up to the blank line).
recorded_request parse_head(std::string_view head) {
  recorded_request r;
  const std::size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const std::size_t a = line.find(' '), b = line.rfind(' ');
  if (a != std::string_view::npos && b > a) {
    r.method = std::string(line.substr(0, a));
    r.target = std::string(line.substr(a + 1, b - a - 1));
  }
  std::size_t at = line_end;
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const std::size_t start = at + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view h = head.substr(start, end == std::string_view::npos ? head.npos : end - start);
    const std::size_t colon = h.find(':');
    if (colon != std::string_view::npos)
      r.headers.emplace_back(lower(trim(h.substr(0, colon))), std::string(trim(h.substr(colon + 1))));
    at = end;
  }
  return r;
}

}  // namespace

std::string recorded_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

fake_http_server::fake_http_server(options o) {
  if (!o.cert_file.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ctx) SSL_CTX_free(ctx);
      throw std::runtime_error("fake_http_server: cannot load the TLS certificate");
    }
    tls_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error(std::string("fake_http_server: cannot listen: ") + std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fake_http_server::~fake_http_server() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    const std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.join();
  ::close(listen_fd_);
  if (tls_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_));
}

std::string fake_http_server::url(std::string_view path) const {
  return fmt::format("{}://127.0.0.1:{}{}", tls_ ? "https" : "http", port_, path);
}

void fake_http_server::on(const std::string& path, handler h) {
  const std::lock_guard lock(mutex_);
  handlers_[path] = std::move(h);
}

void fake_http_server::on_prefix(const std::string& prefix, handler h) {
  const std::lock_guard lock(mutex_);
  prefix_handlers_[prefix] = std::move(h);
}

std::vector<recorded_request> fake_http_server::requests() const {
  const std::lock_guard lock(mutex_);
  return requests_;
}

bool fake_http_server::wait_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

std::size_t fake_http_server::connections_open() const {
  const std::lock_guard lock(mutex_);
  return open_;
}

void fake_http_server::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) != 1) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const std::lock_guard lock(mutex_);
    ++open_;
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void fake_http_server::serve(int fd) {
  SSL* ssl = nullptr;
  if (tls_) {
    ssl = SSL_new(static_cast<SSL_CTX*>(tls_));
    SSL_set_fd(ssl, fd);
  }
  {
    link_io io(fd, ssl);
    const auto limit = [] { return steady::now() + 10s; };
    const auto wait_until_gone = [&] {
      // Until the client leaves (or the server stops).
      std::string sink;
      while (!stop_) {
        sink.clear();
        const auto st = io.read_some(sink, steady::now() + 50ms);
        if (st == link_io::status::eof || st == link_io::status::error) return;
      }
    };
    std::string bytes;
    if ((!tls_ || io.tls_accept(limit())) && read_head(io, bytes, limit())) {
      const std::size_t end = wire::head_end(bytes);
      recorded_request r = parse_head(std::string_view(bytes).substr(0, end));
      r.body = bytes.substr(end);
      const std::string length = r.header("content-length");
      const std::size_t want = length.empty() ? 0 : std::stoul(length);
      while (r.body.size() < want && io.read_some(r.body, limit()) == link_io::status::ok) {
      }
      r.at = std::chrono::steady_clock::now();
      handler h;
      {
        const std::lock_guard lock(mutex_);
        const std::string path = r.target.substr(0, r.target.find('?'));
        if (auto it = handlers_.find(path); it != handlers_.end()) {
          h = it->second;
        } else {
          std::size_t longest = 0;
          for (const auto& [prefix, ph] : prefix_handlers_)
            if (path.starts_with(prefix) && prefix.size() >= longest) {
              longest = prefix.size();
              h = ph;
            }
        }
        requests_.push_back(r);
      }
      changed_.notify_all();
      http_reply reply = h ? h(r) : http_reply{http_reply::behaviour::answer, 404, "text/plain", "not found\n", 0, {}};
      const auto until = steady::now() + reply.delay;
      while (!stop_ && steady::now() < until) std::this_thread::sleep_for(5ms);
      switch (reply.what) {
        case http_reply::behaviour::answer: {
          const std::size_t size = reply.filler_bytes ? reply.filler_bytes : reply.body.size();
          std::string head = fmt::format(
              "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
              "Connection: close\r\n\r\n",
              reply.status, reply.content_type, size);
          if (io.write_all(head, limit()) != link_io::status::ok) break;
          if (reply.filler_bytes) {
            const std::string chunk(64 * 1024, 'x');
            for (std::size_t sent = 0; sent < size && !stop_;) {
              const std::size_t n = std::min(chunk.size(), size - sent);
              if (io.write_all(std::string_view(chunk).substr(0, n), limit()) != link_io::status::ok) break;
              sent += n;
            }
          } else {
            (void)io.write_all(reply.body, limit());
          }
          wait_until_gone();
          break;
        }
        case http_reply::behaviour::never_answer: wait_until_gone(); break;
        case http_reply::behaviour::close: break;
        case http_reply::behaviour::reset: io.reset(); break;
      }
    }
  }
  {
    const std::lock_guard lock(mutex_);
    --open_;
  }
  changed_.notify_all();
}

}  // namespace rtb::peers
