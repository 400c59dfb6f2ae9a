#include "peers/fault_peers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "peers/json_text.hpp"
#include "peers/socket_io.hpp"
#include "peers/ws_wire.hpp"

namespace rtb::peers {
namespace {

using namespace std::chrono_literals;
using faults::fault;
using faults::stage;

constexpr std::size_t oversized_openai_bytes = 5 * 1024 * 1024;  // the bridge takes at most 4 MiB from OpenAI
constexpr std::size_t oversized_twilio_bytes = 80 * 1024;        // and 64 KiB from Twilio
constexpr std::size_t oversized_head_bytes = 64 * 1024;
constexpr int flood_deltas = 8000;  // 160 s of audio (3 MB to Twilio): more than the sockets' buffers hold
constexpr std::chrono::milliseconds slice{20};

// 20 ms of µ-law silence, base64.
const std::string& silence_frame() {
  static const std::string s = [] {
    std::string out;
    const std::string raw(160, static_cast<char>(0xFF));
    out.resize(4 * ((raw.size() + 2) / 3));
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(raw.data()),
                    static_cast<int>(raw.size()));
    return out;
  }();
  return s;
}

std::string accept_key(std::string_view key) {
  const std::string input = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  std::string out(4 * ((SHA_DIGEST_LENGTH + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), digest, SHA_DIGEST_LENGTH);
  return out;
}

// A string field of a JSON message, found by text (the peers read only what they wrote for).
std::string text_field(std::string_view json, std::string_view key) {
  const std::string needle = fmt::format("\"{}\":\"", key);
  const std::size_t at = json.find(needle);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + needle.size();
  const std::size_t end = json.find('"', start);
  return std::string(json.substr(start, end == std::string_view::npos ? 0 : end - start));
}

// ---- the OpenAI side's messages ------------------------------------------------

std::string session_json(std::string_view type) {
  return json_object{}
      .str("type", type)
      .str("event_id", "event_fault_1")
      .raw("session", json_object{}
                          .str("type", "realtime")
                          .str("id", "sess_fault")
                          .str("model", "gpt-realtime")
                          .raw("audio", R"({"input":{"format":{"type":"audio/pcmu"}},)"
                                        R"("output":{"format":{"type":"audio/pcmu"},"voice":"alloy"}})")
                          .done())
      .done();
}

std::vector<std::string> response_json(int number, int deltas) {
  const std::string response = fmt::format("resp_fault_{}", number);
  const std::string item = fmt::format("item_fault_{}", number);
  std::vector<std::string> out;
  out.push_back(json_object{}
                    .str("type", "response.created")
                    .str("event_id", "event_fault_r")
                    .raw("response", json_object{}.str("id", response).str("status", "in_progress").done())
                    .done());
  for (int i = 0; i < deltas; ++i)
    out.push_back(json_object{}
                      .str("type", "response.output_audio.delta")
                      .str("event_id", "event_fault_d")
                      .str("response_id", response)
                      .str("item_id", item)
                      .num("output_index", 0)
                      .num("content_index", 0)
                      .str("delta", silence_frame())
                      .done());
  out.push_back(json_object{}
                    .str("type", "response.done")
                    .str("event_id", "event_fault_e")
                    .raw("response", json_object{}.str("id", response).str("status", "completed").done())
                    .done());
  return out;
}

std::string big_message(std::size_t bytes) {
  std::string m = R"({"type":"filler","data":")";
  m.append(bytes, 'x');
  m += "\"}";
  return m;
}

// ---- the Twilio side's messages -----------------------------------------------

struct twilio_text {
  std::string call_sid;
  std::string stream_sid = "MZ00000000000000000000000000fault";
  int sequence = 0;

  std::string seq() { return std::to_string(++sequence); }
  std::string connected() { return R"({"event":"connected","protocol":"Call","version":"1.0.0"})"; }
  std::string start() {
    return fmt::format(
        R"({{"event":"start","sequenceNumber":"{}","start":{{"accountSid":"AC00000000000000000000000000000000",)"
        R"("streamSid":"{}","callSid":"{}","tracks":["inbound"],)"
        R"("mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{}}}},)"
        R"("streamSid":"{}"}})",
        seq(), stream_sid, call_sid, stream_sid);
  }
  std::string media(int chunk) {
    return fmt::format(
        R"({{"event":"media","sequenceNumber":"{}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}",)"
        R"("payload":"{}"}},"streamSid":"{}"}})",
        seq(), chunk, chunk * 20, silence_frame(), stream_sid);
  }
  std::string mark(std::string_view name) {
    return fmt::format(R"({{"event":"mark","sequenceNumber":"{}","streamSid":"{}","mark":{{"name":{}}}}})", seq(),
                       stream_sid, json_string(name));
  }
  std::string stop() {
    return fmt::format(
        R"({{"event":"stop","sequenceNumber":"{}","stop":{{"accountSid":"AC00000000000000000000000000000000",)"
        R"("callSid":"{}"}},"streamSid":"{}"}})",
        seq(), call_sid, stream_sid);
  }
};

wire::masking_key next_key() {
  static std::atomic<std::uint32_t> counter{0x5A17C0DE};
  const std::uint32_t v = counter.fetch_add(0x9E3779B9);
  return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 24)};
}

}  // namespace

// =============================================================================
// fault_openai

fault_openai::fault_openai(options o) : options_(std::move(o)) {
  if (!options_.cert_file.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, options_.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      if (ctx) SSL_CTX_free(ctx);
      throw std::runtime_error("fault_openai: cannot load the TLS certificate");
    }
    tls_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error(std::string("fault_openai: cannot listen: ") + std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

fault_openai::~fault_openai() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> workers;
  {
    const std::lock_guard lock(mutex_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.join();
  for (int fd : held_) ::close(fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (tls_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_));
}

std::string fault_openai::url() const {
  return fmt::format("{}://127.0.0.1:{}/v1/realtime?model=gpt-realtime", tls_ ? "wss" : "ws", port_);
}

void fault_openai::next(stage at, fault what) {
  const std::lock_guard lock(mutex_);
  scripts_.emplace_back(at, what);
}

void fault_openai::fire() { fired_ = 1; }

void fault_openai::hold() {
  // A backlog of 0 holds one connection; with it taken by one of ours, the
  // kernel drops further SYNs, and connects wait.
  const std::lock_guard lock(mutex_);
  state_ = listening::held;
  ::listen(listen_fd_, 0);
  for (int i = 0; i < 8; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    pollfd p{fd, POLLOUT, 0};
    const bool connected = ::poll(&p, 1, 200) == 1 && !(p.revents & (POLLERR | POLLHUP));
    if (!connected) {
      ::close(fd);  // its SYN went unanswered: the backlog is full
      return;
    }
    held_.push_back(fd);
  }
}

void fault_openai::refuse() {
  const std::lock_guard lock(mutex_);
  state_ = listening::refused;
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void fault_openai::restore() {
  const std::lock_guard lock(mutex_);
  if (state_ == listening::refused) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error(std::string("fault_openai: cannot listen again: ") + std::strerror(errno));
  }
  if (state_ == listening::held) {
    // Take the connections queued meanwhile (ours, and any SYN retried late).
    set_nonblocking(listen_fd_);
    for (int fd; (fd = ::accept(listen_fd_, nullptr, nullptr)) >= 0;) ::close(fd);
  }
  for (int fd : held_) ::close(fd);
  held_.clear();
  ::listen(listen_fd_, 64);
  state_ = listening::accepting;
}

void fault_openai::accept_loop() {
  while (!stop_) {
    int fd = -1;
    {
      std::unique_lock lock(mutex_);
      if (state_ != listening::accepting) {
        lock.unlock();
        std::this_thread::sleep_for(slice);
        continue;
      }
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 0) == 1) fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        auto script = scripts_.empty() ? std::pair{stage::open, fault::none} : scripts_.front();
        if (!scripts_.empty()) scripts_.pop_front();
        ++open_;
        workers_.emplace_back([this, fd, script] { serve(fd, script.first, script.second); });
        continue;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void fault_openai::record(fault_report r) {
  {
    const std::lock_guard lock(mutex_);
    finished_.push_back(std::move(r));
    --open_;
  }
  changed_.notify_all();
}

bool fault_openai::wait_finished(std::size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return finished_.size() >= n; });
}

std::uint64_t fault_openai::reached_count() const {
  const std::lock_guard lock(mutex_);
  return reached_;
}

bool fault_openai::wait_reached(std::uint64_t above, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return reached_ > above; });
}

std::vector<fault_report> fault_openai::finished() const {
  const std::lock_guard lock(mutex_);
  return finished_;
}

std::size_t fault_openai::connections_open() const {
  const std::lock_guard lock(mutex_);
  return open_;
}

void fault_openai::serve(int fd, stage at, fault what) {
  fault_report r;
  r.at = at;
  r.what = what;
  SSL* ssl = nullptr;
  if (tls_ && at != stage::tls_handshake) {  // that stage reads the handshake's raw bytes
    ssl = SSL_new(static_cast<SSL_CTX*>(tls_));
    SSL_set_fd(ssl, fd);
  }
  link_io io(fd, ssl);
  const auto linger = [&] { return steady::now() + options_.linger_limit; };
  const auto reach = [&] {
    r.reached = true;
    {
      const std::lock_guard lock(mutex_);
      ++reached_;
    }
    changed_.notify_all();
  };
  // After the fault: wait for the bridge to close the connection.
  const auto await_close = [&] {
    if (hold_until_closed(io, linger()))
      r.bridge_closed = true;
    else
      r.never_closed = true;
  };
  const auto send = [&](const std::string& bytes) { return io.write_all(bytes, linger()) == link_io::status::ok; };
  // The faults every stage shares; false if `what` is not one of them.
  const auto common_fault = [&]() -> bool {
    switch (what) {
      case fault::silent:
      case fault::silent_call_first: await_close(); return true;
      case fault::reset:
        io.reset();
        r.peer_reset = true;
        return true;
      case fault::fin:
        io.shutdown_write();
        await_close();
        return true;
      default: return false;
    }
  };

  // TLS handshake.
  if (tls_ && at == stage::tls_handshake) {
    std::string hello;
    if (io.read_some(hello, steady::now() + 5s) == link_io::status::ok) reach();
    if (!common_fault()) {
      if (what == fault::malformed) (void)send("HTTP/1.1 400 Bad Request\r\n\r\n");  // not TLS
      await_close();
    }
    record(std::move(r));
    return;
  }
  if (tls_ && !io.tls_accept(steady::now() + 5s)) {
    r.error = "TLS handshake failed";
    await_close();
    record(std::move(r));
    return;
  }

  // The upgrade.
  std::string bytes;
  if (!read_head(io, bytes, steady::now() + 5s)) {
    r.bridge_closed = true;
    r.error = "no upgrade request";
    record(std::move(r));
    return;
  }
  const std::string head = bytes.substr(0, wire::head_end(bytes));
  bytes.erase(0, head.size());
  if (at == stage::upgrade_sent) {
    reach();
    if (!common_fault()) {
      if (what == fault::malformed) (void)send("SSH-2.0-OpenSSH_9.2\r\n\r\n");
      if (what == fault::refused) (void)send("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
      if (what == fault::oversized)
        (void)send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Filler: " +
                   std::string(oversized_head_bytes, 'x') + "\r\n\r\n");
      await_close();
    }
    record(std::move(r));
    return;
  }
  const auto key = wire::header_value(head, "Sec-WebSocket-Key").value_or("");
  if (!send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
            accept_key(key) + "\r\n\r\n")) {
    r.bridge_closed = true;
    record(std::move(r));
    return;
  }
  r.upgraded = true;
  (void)send(wire::frame(wire::opcode::text, session_json("session.created")));
  wire::frame_reader reader;
  reader.feed(bytes);
  if (at == stage::configuring) {
    // The stage begins when the bridge's session.update arrives.
    const auto until = steady::now() + 5s;
    for (bool updating = false; !updating && steady::now() < until;) {
      if (auto f = reader.next()) {
        updating = f->op == wire::opcode::text && text_field(f->payload, "type") == "session.update";
        continue;
      }
      bytes.clear();
      if (io.read_some(bytes, until) != link_io::status::ok) break;
      reader.feed(bytes);
    }
    reach();
    if (!common_fault() && what == fault::close_frame) {
      (void)send(wire::close_frame(1011, "server_error"));
      await_close();
    }
    record(std::move(r));
    return;
  }

  // The session: answer session.update, speak once when audio arrives,
  // answer pings and closes; commit the fault at its stage.
  bool silent = false;           // past a silent fault: say nothing more
  bool quiet = false;            // past a malformed frame: only answer a close
  bool waiting_to_fire = false;  // a fault that waits for fire()
  bool responded = false;
  const auto session_deadline = steady::now() + 60s;
  int responses = 0;
  const auto commit_open_fault = [&]() -> bool {  // true when the connection is over
    reach();
    switch (what) {
      case fault::silent: silent = true; return false;
      case fault::reset:
      case fault::fin: return common_fault();
      case fault::close_frame: (void)send(wire::close_frame(1011, "server_error")); return false;
      case fault::malformed:
        // Then quiet, but a close is answered (lws waits for that before it lets go).
        (void)send(wire::frame(wire::opcode::text, R"({"type":"x"})", {.rsv = 3, .mask = std::nullopt}));
        quiet = true;
        return false;
      case fault::oversized: (void)send(wire::frame(wire::opcode::text, big_message(oversized_openai_bytes))); return false;
      case fault::simultaneous_close:
      case fault::stops_reading: waiting_to_fire = true; return false;
      default: return false;
    }
  };
  for (;;) {
    if (steady::now() > session_deadline) {
      r.never_closed = true;
      break;
    }
    if (waiting_to_fire && fired_.exchange(0)) {
      waiting_to_fire = false;
      if (what == fault::stops_reading) {
        for (const auto& m : response_json(++responses, flood_deltas))
          if (!send(wire::frame(wire::opcode::text, m))) break;
      }
      (void)send(wire::close_frame(1011, "server_error"));
    }
    std::optional<wire::received_frame> f = reader.next();
    if (!f) {
      bytes.clear();
      const auto st = io.read_some(bytes, steady::now() + slice);
      if (st == link_io::status::timeout) continue;
      if (st != link_io::status::ok) {
        r.bridge_closed = true;
        break;
      }
      reader.feed(bytes);
      continue;
    }
    if (f->op == wire::opcode::close) {
      r.close_frame_received = true;
      r.close_code = f->close_code();
      if (at == stage::closing) {
        reach();
        if (common_fault()) break;
        if (what == fault::malformed) (void)send(wire::frame(wire::opcode::text, "{}", {.rsv = 5, .mask = std::nullopt}));
        if (what == fault::oversized) (void)send(wire::frame(wire::opcode::text, big_message(oversized_openai_bytes)));
        if (what == fault::close_frame) (void)send(wire::close_frame(1000, ""));
        await_close();
        break;
      }
      if (!silent) (void)send(wire::close_frame(r.close_code ? r.close_code : 1000, ""));
      r.bridge_closed = true;  // the server closes the TCP connection after the handshake
      break;
    }
    if (silent || quiet) continue;
    if (f->op == wire::opcode::ping) {
      (void)send(wire::frame(wire::opcode::pong, f->payload));
      continue;
    }
    if (f->op != wire::opcode::text) continue;
    ++r.messages_received;
    const std::string type = text_field(f->payload, "type");
    if (type == "session.update") {
      (void)send(wire::frame(wire::opcode::text, session_json("session.updated")));
    } else if (type == "input_audio_buffer.append") {
      ++r.audio_received;
      if (r.audio_received == 1 && at == stage::open && commit_open_fault()) break;
      if (!responded && !silent) {
        responded = true;
        for (const auto& m : response_json(++responses, options_.response_deltas))
          (void)send(wire::frame(wire::opcode::text, m));
      }
    }
  }
  record(std::move(r));
}

// =============================================================================
// fault_caller

fault_caller::fault_caller(options o) : options_(std::move(o)) {
  thread_ = std::thread([this] { run(); });
}

fault_caller::~fault_caller() {
  hang_up_ = true;
  if (thread_.joinable()) thread_.join();
}

void fault_caller::hang_up() { hang_up_ = true; }
void fault_caller::fire() { fired_ = true; }

void fault_caller::update(const std::function<void(fault_report&)>& f) {
  {
    const std::lock_guard lock(mutex_);
    f(report_);
  }
  changed_.notify_all();
}

bool fault_caller::wait_done(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return done_; });
}

bool fault_caller::wait_media(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return report_.audio_received >= n || done_; }) &&
         report_.audio_received >= n;
}

bool fault_caller::wait_reached(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return report_.reached || done_; }) && report_.reached;
}

fault_report fault_caller::result() const {
  const std::lock_guard lock(mutex_);
  return report_;
}

void fault_caller::run() {
  const stage at = options_.at;
  const fault what = options_.what;
  update([&](fault_report& r) {
    r.at = at;
    r.what = what;
  });
  const auto finish = [&](const std::function<void(fault_report&)>& f) {
    {
      const std::lock_guard lock(mutex_);
      f(report_);
      done_ = true;
    }
    changed_.notify_all();
  };

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (what == fault::stops_reading) {
    const int small = 4096;  // before connect, so the window the bridge sees is small from the start
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(options_.port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    finish([](fault_report& r) { r.error = "cannot connect"; });
    return;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  link_io io(fd, nullptr);
  const auto linger = [&] { return steady::now() + options_.linger_limit; };
  const auto send = [&](const std::string& bytes) { return io.write_all(bytes, linger()) == link_io::status::ok; };
  const auto send_text = [&](const std::string& text) {
    return send(wire::frame(wire::opcode::text, text, {.mask = next_key()}));
  };
  const auto send_close = [&](std::uint16_t code) { return send(wire::close_frame(code, "", next_key())); };
  const auto reach = [&] { update([](fault_report& r) { r.reached = true; }); };
  bool bridge_closed = false, never_closed = false, peer_reset = false;
  const auto await_close = [&] {
    if (hold_until_closed(io, linger()))
      bridge_closed = true;
    else
      never_closed = true;
  };
  const auto common_fault = [&]() -> bool {
    switch (what) {
      case fault::silent: await_close(); return true;
      case fault::reset:
        io.reset();
        peer_reset = true;
        return true;
      case fault::fin:
        io.shutdown_write();
        await_close();
        return true;
      default: return false;
    }
  };
  const auto done = [&] {
    finish([&](fault_report& r) {
      r.bridge_closed = bridge_closed;
      r.never_closed = never_closed;
      r.peer_reset = peer_reset;
    });
  };

  const std::string host = fmt::format("127.0.0.1:{}", options_.port);
  if (at == stage::upgrading) {
    (void)send("GET /media-stream HTTP/1.1\r\nHost: " + host + "\r\n");
    reach();
    if (!common_fault()) {
      if (what == fault::malformed) (void)send("\x16\x03\x01 this is not HTTP\r\n\r\n");
      if (what == fault::oversized) (void)send("X-Filler: " + std::string(oversized_head_bytes, 'x') + "\r\n\r\n");
      await_close();
    }
    done();
    return;
  }
  std::string bytes;
  (void)send(wire::upgrade_request(host, "/media-stream", "dGhlIHNhbXBsZSBub25jZQ=="));
  if (!read_head(io, bytes, steady::now() + 5s)) {
    bridge_closed = true;
    done();
    return;
  }
  const std::size_t head = wire::head_end(bytes);
  const int status = wire::status_code(bytes.substr(0, head));
  update([&](fault_report& r) {
    r.http_status = status;
    r.upgraded = status == 101;
  });
  if (status != 101) {
    await_close();
    done();
    return;
  }
  bytes.erase(0, head);

  twilio_text t;
  t.call_sid = options_.call_sid;
  (void)send_text(t.connected());
  bool started = false;
  bool silent = false;           // past a silent fault
  bool quiet = false;            // past a malformed frame: only answer a close
  bool not_reading = false;      // stops_reading, until fire()
  bool waiting_to_fire = false;  // simultaneous_close
  bool stopped = false;
  if (at == stage::before_start) {
    reach();
    if (common_fault()) {
      done();
      return;
    }
    if (what == fault::close_frame) {
      (void)send_close(1000);
      stopped = true;
    }
    if (what == fault::malformed) {
      (void)send(wire::frame(wire::opcode::text, "{}", {.rsv = 3, .mask = next_key()}));
      quiet = true;
    }
    if (what == fault::oversized) (void)send_text(big_message(oversized_twilio_bytes));
  }
  const bool start_now = at != stage::before_start || what == fault::oversized;
  if (start_now) {
    (void)send_text(t.start());
    started = true;
  }
  const auto started_at = steady::now();
  auto next_frame = started_at + slice;
  int chunk = 0;
  bool fault_done = at != stage::streaming;
  wire::frame_reader reader;
  reader.feed(bytes);
  const auto call_deadline = steady::now() + 60s;

  for (;;) {
    const auto now = steady::now();
    if (now > call_deadline) {
      never_closed = true;
      break;
    }
    if (hang_up_.exchange(false) && !stopped) {
      stopped = true;
      (void)send_text(t.stop());
      (void)send_close(1000);
    }
    if (!fault_done && (now >= started_at + options_.fault_after || fired_)) {
      const bool needs_fire = what == fault::simultaneous_close;
      if (!needs_fire || fired_.exchange(false)) {
        fault_done = true;
        reach();
        if (what == fault::silent) {
          silent = true;
        } else if (what == fault::reset || what == fault::fin) {
          if (common_fault()) break;
        } else if (what == fault::close_frame) {
          (void)send_close(1000);
          stopped = true;
        } else if (what == fault::malformed) {
          (void)send(wire::frame(wire::opcode::text, "{}", {.rsv = 3, .mask = next_key()}));
          quiet = true;
        } else if (what == fault::oversized) {
          (void)send_text(big_message(oversized_twilio_bytes));
        } else if (what == fault::simultaneous_close) {
          stopped = true;
          (void)send_text(t.stop());
          (void)send_close(1000);
        } else if (what == fault::stops_reading) {
          not_reading = true;
          waiting_to_fire = true;
        }
      }
    }
    if (started && !silent && !quiet && !stopped && now >= next_frame) {
      // (While it does not read, what it sends may sit in the socket: a send
      // that cannot go now is not waited for.)
      if (not_reading)
        (void)io.write_all(wire::frame(wire::opcode::text, t.media(++chunk), {.mask = next_key()}), now);
      else
        (void)send_text(t.media(++chunk));
      next_frame += slice;
    }
    if (not_reading) {
      if (waiting_to_fire && fired_.exchange(false)) {
        // Read again: by now the bridge should have given up on us.
        not_reading = false;
        await_close();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    std::optional<wire::received_frame> f = reader.next();
    if (!f) {
      bytes.clear();
      const auto st = io.read_some(bytes, std::min(next_frame, steady::now() + slice));
      if (st == link_io::status::timeout) continue;
      if (st != link_io::status::ok) {
        bridge_closed = true;
        break;
      }
      reader.feed(bytes);
      continue;
    }
    if (f->op == wire::opcode::close) {
      update([&](fault_report& r) {
        r.close_frame_received = true;
        r.close_code = f->close_code();
      });
      if (at == stage::closing) {
        reach();
        if (common_fault()) break;
        if (what == fault::malformed) (void)send(wire::frame(wire::opcode::text, "{}", {.rsv = 5, .mask = next_key()}));
        if (what == fault::oversized) (void)send_text(big_message(oversized_twilio_bytes));
        if (what == fault::close_frame) (void)send_close(1000);
        if (what == fault::simultaneous_close) {
          (void)send_text(t.stop());
          (void)send_close(1000);
        }
        await_close();
        break;
      }
      if (!silent && !stopped) (void)send_close(f->close_code() ? f->close_code() : 1000);
      await_close();
      break;
    }
    if (silent || quiet) continue;
    if (f->op == wire::opcode::ping) {
      (void)send(wire::frame(wire::opcode::pong, f->payload, {.mask = next_key()}));
      continue;
    }
    if (f->op != wire::opcode::text) continue;
    const std::string event = text_field(f->payload, "event");
    update([&](fault_report& r) {
      ++r.messages_received;
      if (event == "media") ++r.audio_received;
    });
    if (event == "mark" && !stopped) (void)send_text(t.mark(text_field(f->payload, "name")));
  }
  done();
}

}  // namespace rtb::peers
