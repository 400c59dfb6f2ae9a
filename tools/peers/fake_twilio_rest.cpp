#include "peers/fake_twilio_rest.hpp"

#include <cctype>
#include <cstdlib>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "realtime_bridge/twilio/signature.hpp"

namespace rtb::peers {
namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::vector<caller_step> default_human() {
  return {step::pause{200ms}, step::say{synthetic_speech(700, 7)}, step::wait_for_ai_audio{0ms, 5s},
          step::wait_for_ai_silence{5s}, step::pause{200ms}, step::hang_up{}};
}

std::vector<caller_step> default_machine() {
  return {step::say{synthetic_speech(1500, 9)}, step::pause{4s}, step::hang_up{}};
}

/// True when `in` holds a response's headers and as much body as its
/// Content-Length says (without one: never, the server's close ends it).
bool whole_response(std::string_view in) {
  const std::size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  std::string headers(in.substr(0, end));
  for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::size_t at = headers.find("\r\ncontent-length:");
  if (at == std::string::npos) return false;
  const std::size_t length = std::strtoul(headers.c_str() + at + 17, nullptr, 10);
  return in.size() - end - 4 >= length;
}

}  // namespace

form_reply post_signed_form(const std::string& url, const rest_form& params, const std::string& auth_token,
                            std::chrono::milliseconds timeout) {
  if (!url.starts_with("http://")) return {};
  const std::string rest = url.substr(7);
  const std::size_t slash = rest.find('/');
  const std::string hostport = rest.substr(0, slash);
  const std::string target = slash == std::string::npos ? "/" : rest.substr(slash);
  const std::size_t colon = hostport.rfind(':');
  const std::string host = hostport.substr(0, colon);
  const int port = colon == std::string::npos ? 80 : std::atoi(hostport.c_str() + colon + 1);
  if (host != "127.0.0.1" && host != "localhost") return {};  // loopback only
  std::string body;
  for (const auto& [k, v] : params) {
    if (!body.empty()) body.push_back('&');
    body += twilio::percent_encode(k) + "=" + twilio::percent_encode(v);
  }
  std::string request = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n"
      "Connection: close\r\nUser-Agent: TwilioProxy/1.1\r\n",
      target, hostport, body.size());
  if (!auth_token.empty())
    request += "X-Twilio-Signature: " + twilio::compute_signature(auth_token, url, params) + "\r\n";
  request += "\r\n" + body;

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  form_reply reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    const auto deadline = steady::now() + timeout;
    std::string in;
    // Until the body has its Content-Length, or the server closes (Connection: close).
    while (steady::now() < deadline && !whole_response(in)) {
      pollfd p{fd, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) != 1) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    if (in.starts_with("HTTP/1.1 ") && in.size() >= 12) reply.status = std::atoi(in.c_str() + 9);
    if (const std::size_t end = in.find("\r\n\r\n"); end != std::string::npos) reply.body = in.substr(end + 4);
  }
  ::close(fd);
  return reply;
}

fake_twilio_rest::fake_twilio_rest(fake_twilio_rest_options o) : options_(std::move(o)), model_(options_.model) {
  if (options_.human_script.empty()) options_.human_script = default_human();
  if (options_.machine_script.empty()) options_.machine_script = default_machine();
  callers_ = std::make_unique<caller_pool>();
  timer_ = std::thread([this] { run_timers(); });
  http_ = std::make_unique<fake_http_server>();
  http_->on_prefix("/", [this](const recorded_request& r) { return on_request(r); });
}

fake_twilio_rest::~fake_twilio_rest() {
  http_.reset();  // no new requests
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  timer_.join();
  callers_.reset();
}

std::string fake_twilio_rest::base_url() const { return fmt::format("http://127.0.0.1:{}", http_->port()); }

std::int64_t fake_twilio_rest::ms_of(steady::time_point t) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - epoch_).count();
}

std::int64_t fake_twilio_rest::now_ms() const { return ms_of(steady::now()); }

http_reply fake_twilio_rest::on_request(const recorded_request& r) {
  rest_request req;
  req.method = r.method;
  req.path = r.target.substr(0, r.target.find('?'));
  req.authorization = r.header("authorization");
  req.content_type = r.header("content-type");
  req.body = r.body;
  std::pair<rest_reply, std::vector<fake_rest_action>> out;
  {
    const std::lock_guard lock(mutex_);
    out = model_.handle(req, ms_of(r.at));
  }
  schedule(std::move(out.second));
  http_reply reply;
  reply.status = out.first.status;
  reply.body = std::move(out.first.body);
  return reply;
}

void fake_twilio_rest::schedule(std::vector<fake_rest_action> actions) {
  if (actions.empty()) return;
  {
    const std::lock_guard lock(mutex_);
    const auto now = steady::now();
    for (auto& a : actions) {
      const auto after = std::visit([](const auto& x) { return x.after; }, a);
      due_.emplace(now + after, std::move(a));
    }
  }
  wake_.notify_all();
}

void fake_twilio_rest::run_timers() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    const auto next = due_.empty() ? steady::now() + 50ms : std::min(due_.begin()->first, steady::now() + 50ms);
    wake_.wait_until(lock, next, [&] { return stop_ || (!due_.empty() && due_.begin()->first <= steady::now()); });
    if (stop_) break;
    std::vector<fake_rest_action> now_due;
    while (!due_.empty() && due_.begin()->first <= steady::now()) {
      now_due.push_back(std::move(due_.begin()->second));
      due_.erase(due_.begin());
    }
    // Calls whose stream ended are completed.
    std::vector<fake_rest_action> after_end;
    for (auto& c : connected_) {
      if (c.ended || !callers_->result(c.caller_id).finished) continue;
      c.ended = true;
      auto more = model_.stream_ended(c.call_sid, now_ms());
      for (auto& m : more) after_end.push_back(std::move(m));
    }
    lock.unlock();
    for (const auto& a : now_due) carry_out(a);
    schedule(std::move(after_end));
    lock.lock();
  }
}

void fake_twilio_rest::carry_out(const fake_rest_action& a) {
  if (const auto* cb = std::get_if<fake_rest_actions::callback>(&a)) {
    posted_callback p{steady::now(), cb->url, cb->params, 0};
    p.status = post_signed_form(cb->url, cb->params, options_.model.auth_token, 2s).status;
    const std::lock_guard lock(mutex_);
    posted_.push_back(std::move(p));
    return;
  }
  const auto& k = std::get<fake_rest_actions::connect>(a);
  caller_options c;
  c.url = k.url;
  c.signature = twilio::compute_signature(options_.model.auth_token, k.url, {});
  c.account_sid = options_.model.account_sid;
  c.call_sid = k.call_sid;
  c.parameters = k.parameters;
  c.script = k.machine ? options_.machine_script : options_.human_script;
  c.keep_heard_audio = false;
  {
    const std::lock_guard lock(mutex_);
    model_.answered(k.call_sid, now_ms());
  }
  const int id = callers_->start_call(std::move(c));
  const std::lock_guard lock(mutex_);
  connected_.push_back({k.call_sid, id, k.machine, false});
}

std::vector<created_record> fake_twilio_rest::creates() const {
  const std::lock_guard lock(mutex_);
  return model_.creates();
}

std::vector<posted_callback> fake_twilio_rest::callbacks() const {
  const std::lock_guard lock(mutex_);
  return posted_;
}

std::vector<connected_call> fake_twilio_rest::connected() const {
  const std::lock_guard lock(mutex_);
  return connected_;
}

call_result fake_twilio_rest::caller_result(int caller_id) const { return callers_->result(caller_id); }

std::optional<fake_call> fake_twilio_rest::call(std::string_view sid) const {
  const std::lock_guard lock(mutex_);
  const fake_call* c = model_.call(sid);
  if (!c) return std::nullopt;
  return *c;
}

}  // namespace rtb::peers
