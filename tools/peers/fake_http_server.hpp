// A fake HTTP(S) server for tests: tool servers, webhook receivers, REST APIs
// the bridge calls. Plain sockets and OpenSSL, a thread per connection, one
// request per connection (the bridge's client closes after each). Each path
// has a handler deciding the reply; every request is recorded.
//
// A reply can misbehave on purpose: answer late, never answer, close without
// answering, reset, send a huge body.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rtb::peers {

struct recorded_request {
  std::string method;
  std::string target;                                        ///< path and query as received
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased
  std::string body;
  std::chrono::steady_clock::time_point at;
  /// The value of header `name` (lower case), or "".
  std::string header(std::string_view name) const;
};

struct http_reply {
  enum class behaviour {
    answer,        ///< status, headers and body (after `delay`)
    never_answer,  ///< read the request, then say nothing until the client leaves
    close,         ///< close the connection without answering
    reset,         ///< reset the connection without answering
  };
  behaviour what = behaviour::answer;
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// Send this many bytes of filler as the body instead (a huge answer).
  std::size_t filler_bytes = 0;
  std::chrono::milliseconds delay{0};
};

class fake_http_server {
 public:
  struct options {
    std::string cert_file;  ///< with key_file: serve https://
    std::string key_file;
  };
  using handler = std::function<http_reply(const recorded_request&)>;

  explicit fake_http_server(options o = {});
  ~fake_http_server();
  fake_http_server(const fake_http_server&) = delete;
  fake_http_server& operator=(const fake_http_server&) = delete;

  int port() const noexcept { return port_; }
  /// http(s)://127.0.0.1:<port><path>
  std::string url(std::string_view path) const;
  /// The handler for requests to `path` (without the query); others get 404.
  void on(const std::string& path, handler h);
  /// The handler for requests whose path starts with `prefix` and that no
  /// exact path of on() takes (the longest prefix wins).
  void on_prefix(const std::string& prefix, handler h);

  std::vector<recorded_request> requests() const;
  bool wait_requests(std::size_t n, std::chrono::milliseconds timeout) const;
  /// Connections still open (a client that left shows here no more).
  std::size_t connections_open() const;

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  void* tls_ = nullptr;  // SSL_CTX*
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<std::string, handler> handlers_;
  std::map<std::string, handler> prefix_handlers_;
  std::vector<recorded_request> requests_;
  std::vector<std::thread> workers_;
  std::size_t open_ = 0;
};

}  // namespace rtb::peers
