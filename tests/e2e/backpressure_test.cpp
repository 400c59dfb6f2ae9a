// Writes the bridge cannot finish at once. A Twilio caller on a raw socket
// with a tiny receive buffer stops reading while the fake OpenAI streams a
// minute of speech as fast as it can, so the bridge's writes to Twilio come
// back partial and would block. Then the caller reads everything: each byte
// of the AI's audio must arrive once, in order, and the call must still end
// with a proper close. Run on both event loops (see tests/CMakeLists.txt).
// Checked with strace when written: the kernel took about 2.8 MB, one write
// came back short (lws kept its remainder), and some 2 MB waited in the
// bridge's queue until the caller read again.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "e2e_support.hpp"
#include "lws/mask_source.hpp"
#include "lws/ws_frame.hpp"

namespace rtb::e2e {
namespace {

/// A minimal WebSocket client on a blocking socket: just enough protocol to
/// play Twilio's side while choosing exactly when to read.
class raw_caller {
 public:
  raw_caller(int port, int receive_buffer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    // Before connect, so the window the bridge sees is small from the start.
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer) == 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    send_all(
        fmt::format("GET /media-stream HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n",
                    port));
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      char c;
      REQUIRE(::recv(fd_, &c, 1, 0) == 1);
      head.push_back(c);
    }
    REQUIRE(head.starts_with("HTTP/1.1 101"));
  }
  ~raw_caller() { ::close(fd_); }

  void send_text(const std::string& text) {
    std::string buffer(lws_adapter::max_frame_header, '\0');
    buffer += text;
    auto* payload = reinterpret_cast<unsigned char*>(buffer.data()) + lws_adapter::max_frame_header;
    const std::size_t header =
        lws_adapter::frame_in_place(lws_adapter::ws_opcode::text, payload, text.size(), masks_.next());
    send_all(std::string_view(reinterpret_cast<const char*>(payload - header), header + text.size()));
  }

  /// The next frame's opcode and payload; opcode 0 when nothing came within `timeout`.
  std::pair<int, std::string> read_frame(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return {0, {}};
    unsigned char h[2];
    read_exact(h, 2);
    std::uint64_t length = h[1] & 0x7F;
    if (length == 126) {
      unsigned char l[2];
      read_exact(l, 2);
      length = static_cast<std::uint64_t>(l[0] << 8 | l[1]);
    } else if (length == 127) {
      unsigned char l[8];
      read_exact(l, 8);
      length = 0;
      for (unsigned char b : l) length = length << 8 | b;
    }
    REQUIRE((h[1] & 0x80) == 0);  // a server never masks
    REQUIRE((h[0] & 0x80) != 0);  // the bridge never fragments
    std::string payload(length, '\0');
    read_exact(reinterpret_cast<unsigned char*>(payload.data()), length);
    return {h[0] & 0x0F, payload};
  }

 private:
  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void read_exact(unsigned char* out, std::size_t n) {
    while (n > 0) {
      const ssize_t got = ::recv(fd_, out, n, 0);
      REQUIRE(got > 0);
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  }

  int fd_ = -1;
  lws_adapter::mask_source masks_;
};

std::string field(const std::string& json, std::string_view key) {
  const std::string needle = fmt::format("\"{}\":\"", key);
  const auto at = json.find(needle);
  if (at == std::string::npos) return {};
  const auto start = at + needle.size();
  return json.substr(start, json.find('"', start) - start);
}

}  // namespace

TEST_CASE("a caller that stops reading: partial writes are resumed, every byte arrives in order", "[e2e]") {
  // 1.9 MB of µ-law: about 12000 media messages and as many marks, 4.9 MB in
  // all, more than the kernel buffers on loopback (tcp_wmem at most 4 MB).
  constexpr int speech_ms = 240'000;
  peers::fake_openai_options options;
  options.expected_api_key = std::string(test_api_key);
  options.script = {peers::scripted_response{"A very long greeting.", {}, speech_ms, std::nullopt, false}};
  options.speed = 0;  // as fast as the fake can send
  peers::fake_openai openai(options);
  auto app = std::make_shared<recording_app>();
  call_config config = bridge::default_config();
  config.openai.greeting = {openai::greeting::style::instructions, "Greet the caller."};
  bridge b(openai, app, config);

  raw_caller caller(b.server->port(), 4096);
  const std::string sid = "MZ0123456789abcdef0123456789abcdef";
  caller.send_text(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
  caller.send_text(fmt::format(
      R"({{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC0123456789abcdef0123456789abcdef",)"
      R"("streamSid":"{0}","callSid":"CA0123456789abcdef0123456789abcdef","tracks":["inbound"],)"
      R"("mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{}}}},)"
      R"("streamSid":"{0}"}})",
      sid));

  // Not reading while the whole answer is generated and relayed: the bridge
  // can hand the kernel only a few kilobytes; the rest waits in lws and in
  // the bridge's queue.
  REQUIRE(openai.wait_for([](const auto& s) { return s.size() == 1 && s[0].responses == 1; }, 5s));
  std::this_thread::sleep_for(1500ms);

  std::string audio;
  std::size_t media = 0;
  std::size_t marks = 0;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  // Every media message is followed by its mark.
  while ((audio.size() < speech_ms * 8u || marks < media) && std::chrono::steady_clock::now() < deadline) {
    const auto [opcode, text] = caller.read_frame(2s);
    if (opcode == 0) break;
    REQUIRE(opcode == 1);
    if (text.find(R"("event":"media")") != std::string::npos) {
      ++media;
      const auto bytes = peers::from_base64(field(text, "payload"));
      REQUIRE(bytes);
      audio.append(bytes->begin(), bytes->end());
    } else if (text.find(R"("event":"mark")") != std::string::npos) {
      ++marks;
    }
  }
  const auto tone = peers::tone(speech_ms);
  CHECK(audio.size() == tone.size());
  CHECK(audio == std::string(tone.begin(), tone.end()));  // nothing lost, doubled or reordered
  CHECK(marks == media);

  // The call still ends properly: stop, then the bridge's close frame.
  caller.send_text(fmt::format(R"({{"event":"stop","sequenceNumber":"2","streamSid":"{}","stop":{{}}}})", sid));
  int opcode = 1;
  while (opcode == 1) opcode = caller.read_frame(5s).first;
  CHECK(opcode == 8);
  REQUIRE(app->wait_ended(1, 5s));
  CHECK(app->calls()[0].ended == end_reason::caller_hung_up);
}

}  // namespace rtb::e2e
