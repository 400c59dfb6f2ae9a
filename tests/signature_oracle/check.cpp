// The signature oracle's checker. generate.js has Twilio's own helper library
// (npm twilio) sign a matrix of webhook and stream requests; this checks every
// case twice:
//   1. our validator, over the URL the server builds (PUBLIC_URL + the target
//      as received) and the form parameters it decodes from the body;
//   2. the real server (realtime-bridge-server's application on the lws
//      adapter), over loopback, on each event loop: a webhook must get 200
//      with the call's From, To and CallSid as <Parameter>s, or 403; a stream
//      upgrade must get 101 or 403.
// It prints one line per case and exits 1 if any case fails.
//   signature_oracle_check cases.json
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "realtime_bridge/twilio/twiml.hpp"
#include "server/app.hpp"
#include "server/settings.hpp"

namespace {

using namespace rtb;
using pairs = std::vector<std::pair<std::string, std::string>>;

struct oracle_case {
  std::string name, kind, method, public_url, target, url, body, token, signature, expect;
  pairs params, forwarded;
  std::optional<std::string> library_differs;
};

std::string str(simdjson::dom::element e) { return std::string(std::string_view(e)); }

pairs pairs_of(simdjson::dom::element e) {
  pairs out;
  for (simdjson::dom::element p : e.get_array()) {
    simdjson::dom::array a = p.get_array();
    out.emplace_back(str(a.at(0)), str(a.at(1)));
  }
  return out;
}

/// One HTTP exchange on a fresh loopback connection: the raw request out, the
/// status and body back (the server closes the connection after answering;
/// after a 101 the headers are all that is read).
struct http_answer {
  int status = 0;
  std::string body;
};

http_answer round_trip(int port, const std::string& request) {
  http_answer answer;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return answer;
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string in;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
      if (in.starts_with("HTTP/1.1 101") && in.find("\r\n\r\n") != std::string::npos) break;
    }
  }
  ::close(fd);
  if (in.size() > 12 && in.starts_with("HTTP/1.")) answer.status = std::atoi(in.c_str() + 9);
  if (const std::size_t end = in.find("\r\n\r\n"); end != std::string::npos) answer.body = in.substr(end + 4);
  return answer;
}

std::string request_of(const oracle_case& c) {
  if (c.kind == "stream")
    return fmt::format(
        "GET {} HTTP/1.1\r\nHost: bridge.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Twilio-Signature: {}\r\n\r\n",
        c.target, c.signature);
  std::string r = fmt::format(
      "{} {} HTTP/1.1\r\nHost: bridge.example.com\r\nUser-Agent: TwilioProxy/1.1\r\n"
      "X-Twilio-Signature: {}\r\n",
      c.method, c.target, c.signature);
  if (c.method == "POST")
    r += fmt::format("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", c.body.size());
  return r + "\r\n" + c.body;
}

/// The reference server with PUBLIC_URL and TWILIO_AUTH_TOKEN, configured
/// through its own settings loader, on loopback with a free port.
struct running_server {
  std::shared_ptr<server_app::bridge_app> app;
  std::unique_ptr<lws_adapter::server> server;
};

std::optional<running_server> start_server(const std::string& public_url, const std::string& token,
                                           lws_adapter::event_loop loop) {
  const std::map<std::string, std::string, std::less<>> env = {
      {"PUBLIC_URL", public_url},
      {"TWILIO_AUTH_TOKEN", token},
      // Upgrades that pass open a session here; nothing listens, so the call ends at once.
      {"OPENAI_REALTIME_URL", "ws://127.0.0.1:9/v1/realtime"},
  };
  auto s = server_app::load_settings(
      [&](std::string_view name) -> std::optional<std::string> {
        const auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
      },
      {});
  if (!s) {
    std::fprintf(stderr, "settings: %s\n", s.error().message.c_str());
    return std::nullopt;
  }
  lws_adapter::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.loop = loop;
  o.stream_path = s->stream_path;
  o.openai.url = s->effective_openai_url();
  o.call = server_app::call_config_from(*s);
  o.log = [](lws_adapter::log_level, std::string_view) {};
  running_server r;
  r.app = std::make_shared<server_app::bridge_app>(*s);
  auto started = lws_adapter::server::start(std::move(o), r.app);
  if (!started) {
    std::fprintf(stderr, "server: %s\n", started.error().message.c_str());
    return std::nullopt;
  }
  r.server = std::move(*started);
  r.app->attach(r.server.get());
  return r;
}

std::string parameter_element(const std::string& name, const std::string& value) {
  std::string out = "<Parameter name=\"";
  twilio::append_xml_escaped(out, name);
  out += "\" value=\"";
  twilio::append_xml_escaped(out, value);
  return out + "\"/>";
}

/// What the server did with `c`, or why it was wrong ("" if right).
std::string check_server(const oracle_case& c, int port, std::string& seen) {
  const http_answer a = round_trip(port, request_of(c));
  seen = std::to_string(a.status);
  const bool accept = c.expect == "accept";
  const int want = accept ? (c.kind == "stream" ? 101 : 200) : 403;
  if (a.status != want) return fmt::format("got {}, expected {}", a.status, want);
  if (accept && c.kind == "webhook") {
    if (c.forwarded.empty()) return "the case forwards nothing to check";
    for (const auto& [name, value] : c.forwarded)
      if (a.body.find(parameter_element(name, value)) == std::string::npos)
        return fmt::format("TwiML lacks {}: {}", parameter_element(name, value), a.body);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s cases.json\n", argv[0]);
    return 2;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto error = parser.load(argv[1]).get(doc)) {
    std::fprintf(stderr, "%s: %s\n", argv[1], simdjson::error_message(error));
    return 2;
  }
  std::vector<oracle_case> cases;
  for (simdjson::dom::element e : doc["cases"].get_array()) {
    oracle_case c;
    c.name = str(e["name"]);
    c.kind = str(e["kind"]);
    c.method = str(e["method"]);
    c.public_url = str(e["public_url"]);
    c.target = str(e["target"]);
    c.url = str(e["url"]);
    c.body = str(e["body"]);
    c.token = str(e["token"]);
    c.signature = str(e["signature"]);
    c.expect = str(e["expect"]);
    c.params = pairs_of(e["params"]);
    if (simdjson::dom::element f; e["forwarded"].get(f) == simdjson::SUCCESS) c.forwarded = pairs_of(f);
    if (std::string_view d; e["library_differs"].get(d) == simdjson::SUCCESS) c.library_differs = std::string(d);
    cases.push_back(std::move(c));
  }
  std::printf("signature oracle: %zu cases signed by %s on node %s\n", cases.size(),
              std::string(std::string_view(doc["library"])).c_str(),
              std::string(std::string_view(doc["node"])).c_str());

  // One server per event loop and PUBLIC_URL.
  const std::pair<lws_adapter::event_loop, const char*> loops[] = {{lws_adapter::event_loop::libev, "libev"},
                                                                   {lws_adapter::event_loop::poll, "poll"}};
  std::map<std::pair<int, std::string>, running_server> servers;
  for (const auto& c : cases)
    for (std::size_t l = 0; l < std::size(loops); ++l)
      if (!servers.contains({static_cast<int>(l), c.public_url})) {
        auto s = start_server(c.public_url, c.token, loops[l].first);
        if (!s) return 1;
        servers.emplace(std::pair{static_cast<int>(l), c.public_url}, std::move(*s));
      }

  int failed = 0, accepted = 0;
  for (const auto& c : cases) {
    std::vector<std::string> problems;
    // 1. The validator, fed what the server feeds it.
    const twilio::form_parameters form = c.method == "POST" ? twilio::parse_form(c.body) : twilio::form_parameters{};
    if (form != c.params) problems.push_back("our form decoding differs from the generator's parameters");
    const bool valid = twilio::validate_signature(c.token, c.signature, c.url, form);
    if (valid != (c.expect == "accept")) problems.push_back(valid ? "validator accepted it" : "validator refused it");
    // 2. The server, on each loop.
    std::string seen_all;
    for (std::size_t l = 0; l < std::size(loops); ++l) {
      std::string seen;
      const std::string problem = check_server(c, servers.at({static_cast<int>(l), c.public_url}).server->port(), seen);
      seen_all += fmt::format(" {}:{}", loops[l].second, seen);
      if (!problem.empty()) problems.push_back(fmt::format("server ({} loop): {}", loops[l].second, problem));
    }
    accepted += c.expect == "accept";
    std::printf("%s  %-6s validator:%-6s server%s  %s%s\n", problems.empty() ? "pass" : "FAIL", c.expect.c_str(),
                valid ? "accept" : "refuse", seen_all.c_str(), c.name.c_str(),
                c.library_differs ? " (twilio.validateRequest differs: see generate.js)" : "");
    for (const auto& p : problems) std::printf("      %s\n", p.c_str());
    failed += !problems.empty();
  }
  for (auto& [key, s] : servers) s.server->stop();
  std::printf("signature oracle: %zu cases (%d to accept, %zu to refuse): %zu passed, %d failed\n", cases.size(),
              accepted, cases.size() - static_cast<std::size_t>(accepted),
              cases.size() - static_cast<std::size_t>(failed), failed);
  return failed == 0 ? 0 : 1;
}
