// Tests of the fake OpenAI Realtime server (tools/peers/fake_openai.hpp) over
// real loopback WebSockets, with a small libwebsockets client local to this
// file. Every wait is bounded by a timeout of a few seconds.
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <simdjson.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "peers/fake_openai.hpp"

namespace {

using namespace std::chrono_literals;
using rtb::peers::failure_mode;
using rtb::peers::fake_openai;
using rtb::peers::fake_openai_options;
using rtb::peers::scripted_response;
using rtb::peers::session_record;

constexpr auto k_timeout = 5s;

// ---------------------------------------------------------------------------
// audio and base64 helpers (local, so these tests don't depend on mulaw.cpp)
// ---------------------------------------------------------------------------

std::uint8_t to_ulaw(int pcm) {
  int sign = (pcm >> 8) & 0x80;
  if (sign) pcm = -pcm;
  pcm = std::min(pcm, 32635) + 0x84;
  int exponent = 7;
  for (int mask = 0x4000; (pcm & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | ((pcm >> (exponent + 3)) & 0x0F)));
}

std::vector<std::uint8_t> ulaw_silence(int ms) {
  return std::vector<std::uint8_t>(static_cast<std::size_t>(ms) * 8, 0xFF);
}

std::vector<std::uint8_t> ulaw_tone(int ms, double amplitude = 0.3) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(ms) * 8);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = to_ulaw(static_cast<int>(amplitude * 32767.0 * std::sin(6.283185307179586 * 300.0 * double(i) / 8000.0)));
  return out;
}

std::string b64(const std::vector<std::uint8_t>& d) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < d.size(); i += 3) {
    const unsigned v = (unsigned{d[i]} << 16) | (unsigned{d[i + 1]} << 8) | d[i + 2];
    out += {t[(v >> 18) & 63], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i < d.size()) {
    unsigned v = unsigned{d[i]} << 16;
    if (i + 1 < d.size()) v |= unsigned{d[i + 1]} << 8;
    out += {t[(v >> 18) & 63], t[(v >> 12) & 63], i + 1 < d.size() ? t[(v >> 6) & 63] : '=', '='};
  }
  return out;
}

std::size_t b64_decoded_size(const std::string& s) {
  std::size_t pad = 0;
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
  return s.size() / 4 * 3 - pad;
}

// ---------------------------------------------------------------------------
// JSON reading
// ---------------------------------------------------------------------------

struct event {
  std::string raw;
  std::chrono::steady_clock::time_point at;
};

std::optional<simdjson::dom::element> at_path(simdjson::dom::parser& p, const std::string& raw,
                                              std::initializer_list<std::string_view> path) {
  simdjson::dom::element e;
  if (p.parse(raw).get(e)) return std::nullopt;
  for (std::string_view k : path) {
    if (!k.empty() && k[0] == '#') {  // "#N" = array index
      simdjson::dom::array a;
      if (e.get(a)) return std::nullopt;
      if (a.at(static_cast<std::size_t>(std::stoul(std::string(k.substr(1))))).get(e)) return std::nullopt;
    } else if (e.at_key(k).get(e)) {
      return std::nullopt;
    }
  }
  return e;
}

std::string str(const std::string& raw, std::initializer_list<std::string_view> path) {
  simdjson::dom::parser p;
  auto e = at_path(p, raw, path);
  std::string_view s;
  if (!e || e->get(s)) return "<missing>";
  return std::string(s);
}

std::int64_t num(const std::string& raw, std::initializer_list<std::string_view> path) {
  simdjson::dom::parser p;
  auto e = at_path(p, raw, path);
  double d = 0;
  if (!e || e->get(d)) return -999999;
  return static_cast<std::int64_t>(d);
}

bool is_null(const std::string& raw, std::initializer_list<std::string_view> path) {
  simdjson::dom::parser p;
  auto e = at_path(p, raw, path);
  return e && e->is_null();
}

std::size_t array_size(const std::string& raw, std::initializer_list<std::string_view> path) {
  simdjson::dom::parser p;
  auto e = at_path(p, raw, path);
  simdjson::dom::array a;
  if (!e || e->get(a)) return 0;
  return a.size();
}

std::string type_of(const std::string& raw) { return str(raw, {"type"}); }

bool valid_id(const std::string& id, const char* prefix, int n = 21) {
  return std::regex_match(id, std::regex(std::string(prefix) + "[A-Za-z0-9]{" + std::to_string(n) + "}"));
}

// ---------------------------------------------------------------------------
// A minimal lws WebSocket client on its own context and service thread.
// ---------------------------------------------------------------------------

struct client_options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/v1/realtime?model=gpt-realtime";
  bool tls = false;
  std::string ca_file;  // TLS: trust this CA (otherwise nothing)
  std::optional<std::string> authorization = std::string("Bearer sk-test");
  std::optional<std::string> beta;  // value of an OpenAI-Beta header
};

class ws_client {
 public:
  struct state {
    bool established = false;
    bool failed = false;
    bool closed = false;
    std::string error;
    int http_status = 0;
    int close_code = 0;  // from the server's close frame
    std::string close_reason;
    std::vector<event> events;
  };

  explicit ws_client(client_options o) : opt_(std::move(o)) {
    protocols_[0] = lws_protocols{"test-client", &ws_client::callback, 0, 65536, 0, nullptr, 0};
    protocols_[1] = lws_protocols{nullptr, nullptr, 0, 0, 0, nullptr, 0};
    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols_;
    info.user = this;
    if (opt_.tls) {
      // Our own client SSL_CTX: lws 4.1.6 re-assigns a global OpenSSL ex_data
      // index whenever a TLS context is created and then cannot free the
      // client SSL_CTX of an older context (a leak under LSan). A supplied
      // one is left alone by lws. Without ca_file it trusts nothing.
      info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      ssl_ctx_ = SSL_CTX_new(TLS_client_method());
      REQUIRE(ssl_ctx_ != nullptr);
      if (!opt_.ca_file.empty()) REQUIRE(SSL_CTX_load_verify_locations(ssl_ctx_, opt_.ca_file.c_str(), nullptr) == 1);
      info.provided_client_ssl_ctx = ssl_ctx_;
    }
    ctx_ = lws_create_context(&info);
    REQUIRE(ctx_ != nullptr);

    lws_client_connect_info ci;
    std::memset(&ci, 0, sizeof ci);
    ci.context = ctx_;
    ci.address = opt_.host.c_str();
    ci.port = opt_.port;
    ci.path = opt_.path.c_str();
    ci.host = opt_.host.c_str();
    ci.origin = opt_.host.c_str();
    ci.ssl_connection = opt_.tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = "test-client";
    ci.ietf_version_or_minus_one = -1;
    ci.pwsi = &wsi_;
    if (!lws_client_connect_via_info(&ci)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!st_.failed) {
        st_.failed = true;
        st_.error = "connect failed synchronously";
      }
    }
    thread_ = std::thread([this] {
      while (!stop_.load())
        if (lws_service(ctx_, 0) < 0) break;
    });
  }

  ~ws_client() {
    stop_.store(true);
    lws_cancel_service(ctx_);
    thread_.join();
    lws_context_destroy(ctx_);
    if (ssl_ctx_) SSL_CTX_free(ssl_ctx_);
  }

  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  void send(std::string text) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      outbox_.push_back(std::move(text));
    }
    lws_cancel_service(ctx_);
  }

  void send_audio(const std::vector<std::uint8_t>& audio) {
    for (std::size_t off = 0; off < audio.size(); off += 160) {
      const std::vector<std::uint8_t> frame(
          audio.begin() + static_cast<std::ptrdiff_t>(off),
          audio.begin() + static_cast<std::ptrdiff_t>(std::min(audio.size(), off + 160)));
      send(R"({"type":"input_audio_buffer.append","audio":")" + b64(frame) + "\"}");
    }
  }

  void close(int code) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      close_code_ = code;
    }
    lws_cancel_service(ctx_);
  }

  state snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return st_;
  }

  bool wait(const std::function<bool(const state&)>& pred, std::chrono::milliseconds timeout = k_timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (pred(snapshot())) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
  }

  /// Waits until `n` events of `type` have arrived.
  bool wait_for(const std::string& type, std::size_t n = 1, std::chrono::milliseconds timeout = k_timeout) const {
    return wait([&](const state& s) { return count(s.events, type) >= n; }, timeout);
  }

  std::vector<std::string> events() const {
    std::vector<std::string> out;
    for (auto& e : snapshot().events) out.push_back(e.raw);
    return out;
  }

  static std::size_t count(const std::vector<event>& evs, const std::string& type) {
    return static_cast<std::size_t>(
        std::count_if(evs.begin(), evs.end(), [&](const event& e) { return type_of(e.raw) == type; }));
  }

 private:
  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
    auto* self = static_cast<ws_client*>(lws_context_user(lws_get_context(wsi)));
    (void)user;
    try {
      switch (reason) {
        case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
          auto** p = static_cast<unsigned char**>(in);
          unsigned char* end = *p + len;
          auto add = [&](const char* name, const std::string& value) {
            return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name),
                                               reinterpret_cast<const unsigned char*>(value.data()),
                                               static_cast<int>(value.size()), p, end);
          };
          if (self->opt_.authorization && add("authorization:", *self->opt_.authorization)) return -1;
          if (self->opt_.beta && add("openai-beta:", *self->opt_.beta)) return -1;
          return 0;
        }
        case LWS_CALLBACK_CLIENT_ESTABLISHED: {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->st_.established = true;
          // messages queued before the upgrade finished
          if (!self->outbox_.empty() || self->close_code_) lws_callback_on_writable(wsi);
          return 0;
        }
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->st_.failed = true;
          self->st_.error = in ? std::string(static_cast<const char*>(in), len) : std::string("(null)");
          self->st_.http_status = static_cast<int>(lws_http_client_http_response(wsi));
          self->wsi_ = nullptr;
          return 0;
        }
        case LWS_CALLBACK_CLIENT_RECEIVE: {
          self->rx_.append(static_cast<const char*>(in), len);
          if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
            std::lock_guard<std::mutex> lock(self->mu_);
            self->st_.events.push_back({std::move(self->rx_), std::chrono::steady_clock::now()});
            self->rx_.clear();
          }
          return 0;
        }
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
          std::lock_guard<std::mutex> lock(self->mu_);
          const auto* b = static_cast<const unsigned char*>(in);
          if (b && len >= 2) {
            self->st_.close_code = (b[0] << 8) | b[1];
            self->st_.close_reason.assign(reinterpret_cast<const char*>(b) + 2, len - 2);
          } else {
            self->st_.close_code = 1005;
          }
          return 0;
        }
        case LWS_CALLBACK_CLIENT_CLOSED: {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->st_.closed = true;
          self->wsi_ = nullptr;
          return 0;
        }
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
          // user is NULL and wsi is a placeholder here: work through self.
          std::lock_guard<std::mutex> lock(self->mu_);
          if (self->wsi_ && self->st_.established && (!self->outbox_.empty() || self->close_code_))
            lws_callback_on_writable(self->wsi_);
          return 0;
        }
        case LWS_CALLBACK_CLIENT_WRITEABLE: {
          std::string msg;
          bool more = false;
          int close_code = 0;
          {
            std::lock_guard<std::mutex> lock(self->mu_);
            if (!self->outbox_.empty()) {
              msg = std::move(self->outbox_.front());
              self->outbox_.pop_front();
              more = !self->outbox_.empty();
            } else {
              close_code = self->close_code_;
            }
          }
          if (close_code) {
            unsigned char why[] = "bye";
            lws_close_reason(wsi, static_cast<lws_close_status>(close_code), why, 3);
            return -1;
          }
          if (msg.empty()) return 0;
          // lws masks client payloads in place: a buffer of our own with LWS_PRE headroom.
          std::vector<unsigned char> buf(LWS_PRE + msg.size());
          std::memcpy(buf.data() + LWS_PRE, msg.data(), msg.size());
          const int n = lws_write(wsi, buf.data() + LWS_PRE, msg.size(), LWS_WRITE_TEXT);
          if (n < static_cast<int>(msg.size())) return -1;
          if (more || self->close_code_) lws_callback_on_writable(wsi);
          return 0;
        }
        default: break;
      }
    } catch (...) {
      return -1;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  }

  client_options opt_;
  lws_protocols protocols_[2]{};
  lws_context* ctx_ = nullptr;
  SSL_CTX* ssl_ctx_ = nullptr;
  lws* wsi_ = nullptr;  // service thread (and the constructor before it starts)
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::string rx_;
  mutable std::mutex mu_;
  state st_;
  std::deque<std::string> outbox_;
  int close_code_ = 0;
};

client_options to(const fake_openai& f) {
  client_options o;
  o.port = f.port();
  return o;
}

std::size_t index_of(const std::vector<std::string>& evs, const std::string& type, std::size_t from = 0) {
  for (std::size_t i = from; i < evs.size(); ++i)
    if (type_of(evs[i]) == type) return i;
  return evs.size();
}

std::vector<std::string> of_type(const std::vector<std::string>& evs, const std::string& type) {
  std::vector<std::string> out;
  for (auto& e : evs)
    if (type_of(e) == type) out.push_back(e);
  return out;
}

const std::string k_ga_update =
    R"({"type":"session.update","event_id":"evt_update_1","session":{"type":"realtime","output_modalities":["audio"],)"
    R"("instructions":"You are a test.","audio":{"input":{"format":{"type":"audio/pcmu"},)"
    R"("transcription":{"model":"gpt-4o-mini-transcribe","language":"en"},"noise_reduction":{"type":"near_field"},)"
    R"("turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500,)"
    R"("create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}},)"
    R"("tools":[{"type":"function","name":"get_order_status","parameters":{"type":"object","properties":{}}}],)"
    R"("tool_choice":"auto"}})";

std::string error_code(const std::string& ev) { return str(ev, {"error", "code"}); }

void silence_lws_logs() {
  static std::once_flag once;
  std::call_once(once, [] { lws_set_log_level(LLL_ERR, nullptr); });
}

}  // namespace

TEST_CASE("fake_openai: session.created, session.update and the recorded handshake", "[fake_openai]") {
  silence_lws_logs();
  fake_openai fake({});
  REQUIRE(fake.port() > 0);
  CHECK(fake.url() == "ws://127.0.0.1:" + std::to_string(fake.port()) + "/v1/realtime?model=gpt-realtime");
  ws_client c(to(fake));
  REQUIRE(c.wait_for("session.created"));
  const std::string created = c.events().at(0);
  CHECK(type_of(created) == "session.created");
  CHECK(valid_id(str(created, {"event_id"}), "event_"));
  CHECK(valid_id(str(created, {"session", "id"}), "sess_"));
  CHECK(str(created, {"session", "model"}) == "gpt-realtime");
  CHECK(str(created, {"session", "audio", "input", "format", "type"}) == "audio/pcm");
  CHECK(num(created, {"session", "audio", "input", "format", "rate"}) == 24000);
  CHECK(str(created, {"session", "audio", "output", "voice"}) == "alloy");
  CHECK(num(created, {"session", "audio", "input", "turn_detection", "silence_duration_ms"}) == 200);
  CHECK(is_null(created, {"session", "audio", "input", "transcription"}));

  c.send(k_ga_update);
  REQUIRE(c.wait_for("session.updated"));
  const std::string updated = c.events().at(1);
  CHECK(str(updated, {"session", "id"}) == str(created, {"session", "id"}));
  CHECK(str(updated, {"session", "audio", "input", "format", "type"}) == "audio/pcmu");
  CHECK(str(updated, {"session", "audio", "output", "format", "type"}) == "audio/pcmu");
  CHECK(str(updated, {"session", "audio", "output", "voice"}) == "marin");
  CHECK(str(updated, {"session", "audio", "input", "transcription", "model"}) == "gpt-4o-mini-transcribe");
  CHECK(num(updated, {"session", "audio", "input", "turn_detection", "silence_duration_ms"}) == 500);
  CHECK(str(updated, {"session", "instructions"}) == "You are a test.");
  CHECK(str(updated, {"session", "tools", "#0", "name"}) == "get_order_status");

  SECTION("beta-shaped and invalid updates are rejected and change nothing") {
    c.send(
        R"({"type":"session.update","event_id":"evt_beta","session":{"type":"realtime","input_audio_format":"g711_ulaw"}})");
    c.send(R"({"type":"session.update","session":{"output_modalities":["audio"]}})");
    c.send(
        R"({"type":"session.update","session":{"type":"realtime","audio":{"input":{"turn_detection":{"type":"server_vad","create_response":null}}}}})");
    c.send(
        R"({"type":"session.update","session":{"type":"realtime","audio":{"output":{"format":{"type":"audio/pcm"}}}}})");
    REQUIRE(c.wait_for("error", 4));
    const auto errors = of_type(c.events(), "error");
    CHECK(error_code(errors[0]) == "unknown_parameter");
    CHECK(str(errors[0], {"error", "param"}) == "session.input_audio_format");
    CHECK(str(errors[0], {"error", "message"}) == "Unknown parameter: 'session.input_audio_format'.");
    CHECK(str(errors[0], {"error", "event_id"}) == "evt_beta");
    CHECK(str(errors[0], {"error", "type"}) == "invalid_request_error");
    CHECK(error_code(errors[1]) == "missing_required_parameter");
    CHECK(str(errors[1], {"error", "param"}) == "session.type");
    CHECK(is_null(errors[1], {"error", "event_id"}));
    CHECK(error_code(errors[2]) == "invalid_type");
    CHECK(error_code(errors[3]) == "missing_required_parameter");
    CHECK(str(errors[3], {"error", "param"}) == "session.audio.output.format.rate");
    // still pcmu: a valid empty update echoes the unchanged session
    c.send(R"({"type":"session.update","session":{"type":"realtime"}})");
    REQUIRE(c.wait_for("session.updated", 2));
    const auto last = of_type(c.events(), "session.updated").back();
    CHECK(str(last, {"session", "audio", "input", "format", "type"}) == "audio/pcmu");
    CHECK(str(last, {"session", "audio", "input", "transcription", "model"}) == "gpt-4o-mini-transcribe");
  }

  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 1);
  CHECK(fake.sessions_opened() == 1);
  CHECK(recs[0].session_id == str(created, {"session", "id"}));
  CHECK(recs[0].path == "/v1/realtime?model=gpt-realtime");
  CHECK(recs[0].authorization == "Bearer sk-test");
  CHECK_FALSE(recs[0].beta_header);
  REQUIRE_FALSE(recs[0].client_event_types.empty());
  CHECK(recs[0].client_event_types[0] == "session.update");
  CHECK(recs[0].open);
}

TEST_CASE("fake_openai: a caller turn gives VAD events, a commit, a transcription and a paced response",
          "[fake_openai]") {
  silence_lws_logs();
  fake_openai_options opt;
  opt.speed = 2.0;
  opt.caller_transcripts = {"Where is my order?"};
  scripted_response sr;
  sr.transcript = "Hello there, dear friend.";
  sr.audio_ms = 400;
  opt.script = {sr};
  fake_openai fake(opt);
  ws_client c(to(fake));
  c.send(k_ga_update);
  REQUIRE(c.wait_for("session.updated"));

  // 400 ms silence, 600 ms "speech", 600 ms silence (whole 20 ms frames)
  c.send_audio(ulaw_silence(400));
  c.send_audio(ulaw_tone(600));
  c.send_audio(ulaw_silence(600));
  REQUIRE(c.wait_for("response.done"));
  REQUIRE(c.wait_for("rate_limits.updated"));
  const auto evs = c.events();
  const auto all = c.snapshot().events;

  const std::size_t i_started = index_of(evs, "input_audio_buffer.speech_started");
  const std::size_t i_stopped = index_of(evs, "input_audio_buffer.speech_stopped");
  const std::size_t i_committed = index_of(evs, "input_audio_buffer.committed");
  const std::size_t i_added = index_of(evs, "conversation.item.added");
  const std::size_t i_created = index_of(evs, "response.created");
  const std::size_t i_transcribed = index_of(evs, "conversation.item.input_audio_transcription.completed");
  const std::size_t i_first_delta = index_of(evs, "response.output_audio.delta");
  const std::size_t i_done = index_of(evs, "response.done");
  const std::size_t i_rate = index_of(evs, "rate_limits.updated");
  REQUIRE(i_started < i_stopped);
  REQUIRE(i_stopped < i_committed);
  REQUIRE(i_committed < i_added);
  REQUIRE(i_added < i_created);
  REQUIRE(i_created < i_transcribed);
  REQUIRE(i_transcribed < i_first_delta);
  REQUIRE(i_first_delta < i_done);
  REQUIRE(i_done < i_rate);

  const std::string user_item = str(evs[i_started], {"item_id"});
  CHECK(valid_id(user_item, "item_"));
  CHECK(num(evs[i_started], {"audio_start_ms"}) == 100);  // 400 - prefix_padding_ms 300
  CHECK(num(evs[i_stopped], {"audio_end_ms"}) == 1500);   // speech ends at 1000, + 500 silence
  CHECK(str(evs[i_stopped], {"item_id"}) == user_item);
  CHECK(str(evs[i_committed], {"item_id"}) == user_item);
  CHECK(is_null(evs[i_committed], {"previous_item_id"}));
  CHECK(str(evs[i_added], {"item", "id"}) == user_item);
  CHECK(str(evs[i_added], {"item", "role"}) == "user");
  CHECK(str(evs[i_added], {"item", "content", "#0", "type"}) == "input_audio");
  CHECK(str(evs[i_transcribed], {"transcript"}) == "Where is my order?");
  CHECK(str(evs[i_transcribed], {"item_id"}) == user_item);
  CHECK(str(evs[i_created], {"response", "status"}) == "in_progress");
  const std::string resp_id = str(evs[i_created], {"response", "id"});
  CHECK(valid_id(resp_id, "resp_"));
  CHECK(str(evs[i_created], {"response", "audio", "output", "format", "type"}) == "audio/pcmu");

  // assistant item: added, content part, deltas, .done cascade
  const auto item_added = of_type(evs, "response.output_item.added");
  REQUIRE(item_added.size() == 1);
  const std::string item = str(item_added[0], {"item", "id"});
  CHECK(str(item_added[0], {"item", "status"}) == "in_progress");
  const auto part = of_type(evs, "response.content_part.added");
  REQUIRE(part.size() == 1);
  CHECK(str(part[0], {"part", "type"}) == "audio");
  const auto deltas = of_type(evs, "response.output_audio.delta");
  CHECK(deltas.size() == 20);
  std::size_t bytes = 0;
  for (auto& d : deltas) {
    CHECK(str(d, {"item_id"}) == item);
    CHECK(str(d, {"response_id"}) == resp_id);
    bytes += b64_decoded_size(str(d, {"delta"}));
  }
  CHECK(bytes == 400 * 8);
  std::string transcript;
  for (auto& t : of_type(evs, "response.output_audio_transcript.delta")) transcript += str(t, {"delta"});
  CHECK(transcript == "Hello there, dear friend.");
  const auto item_done = of_type(evs, "response.output_item.done");
  REQUIRE(item_done.size() == 1);
  CHECK(str(item_done[0], {"item", "status"}) == "completed");
  CHECK(str(item_done[0], {"item", "content", "#0", "type"}) == "output_audio");
  CHECK(str(item_done[0], {"item", "content", "#0", "transcript"}) == "Hello there, dear friend.");
  CHECK(str(evs[i_done], {"response", "status"}) == "completed");
  CHECK(is_null(evs[i_done], {"response", "status_details"}));
  CHECK(array_size(evs[i_done], {"response", "output"}) == 1);
  CHECK(num(evs[i_done], {"response", "usage", "total_tokens"}) > 0);
  // every event id is unique and well-formed
  std::vector<std::string> ids;
  for (auto& e : evs) {
    CHECK(valid_id(str(e, {"event_id"}), "event_"));
    ids.push_back(str(e, {"event_id"}));
  }
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());

  // pacing: 400 ms of audio at speed 2 takes about 200 ms from first to last delta
  const auto first_delta_at = all[i_first_delta].at;
  const auto done_at = all[i_done].at;
  CHECK(done_at - first_delta_at >= 150ms);

  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].appends == 80);
  CHECK(recs[0].appended_bytes == 1600 * 8);
  CHECK(recs[0].speech_started == 1);
  CHECK(recs[0].responses == 1);
  CHECK(recs[0].responses_cancelled == 0);
}

TEST_CASE("fake_openai: barge-in cancels the response and truncates are checked against generated audio",
          "[fake_openai]") {
  silence_lws_logs();
  fake_openai_options opt;
  opt.speed = 1.0;
  scripted_response sr;
  sr.transcript = "This is a long answer that the caller will interrupt before it ends.";
  sr.audio_ms = 3000;
  opt.script = {sr};
  fake_openai fake(opt);
  ws_client c(to(fake));
  c.send(k_ga_update);
  REQUIRE(c.wait_for("session.updated"));
  c.send(R"({"type":"response.create","event_id":"evt_greet"})");
  REQUIRE(c.wait_for("response.output_audio.delta", 5));
  c.send(R"({"type":"response.create","event_id":"evt_again"})");
  REQUIRE(c.wait_for("error"));
  {
    const auto err = of_type(c.events(), "error").at(0);
    CHECK(error_code(err) == "conversation_already_has_active_response");
    CHECK(str(err, {"error", "event_id"}) == "evt_again");
  }

  c.send_audio(ulaw_tone(200));
  REQUIRE(c.wait_for("response.done"));
  auto evs = c.events();
  const std::size_t i_started = index_of(evs, "input_audio_buffer.speech_started");
  const std::size_t i_done = index_of(evs, "response.done");
  REQUIRE(i_started < i_done);
  CHECK(str(evs[i_done], {"response", "status"}) == "cancelled");
  CHECK(str(evs[i_done], {"response", "status_details", "type"}) == "cancelled");
  CHECK(str(evs[i_done], {"response", "status_details", "reason"}) == "turn_detected");
  const auto item_done = of_type(evs, "response.output_item.done");
  REQUIRE(item_done.size() == 1);
  CHECK(str(item_done[0], {"item", "status"}) == "incomplete");
  CHECK(index_of(evs, "response.output_audio.done") < i_done);
  const std::string item = str(item_done[0], {"item", "id"});

  // no audio after the cancel
  const std::size_t deltas = of_type(evs, "response.output_audio.delta").size();
  std::this_thread::sleep_for(150ms);
  evs = c.events();
  CHECK(of_type(evs, "response.output_audio.delta").size() == deltas);
  CHECK(deltas < 3000 / 20);
  const auto generated_ms = static_cast<std::int64_t>(deltas) * 20;

  c.send(R"({"type":"conversation.item.truncate","event_id":"evt_t1","item_id":")" + item +
         R"(","content_index":0,"audio_end_ms":)" + std::to_string(generated_ms + 500) + "}");
  c.send(R"({"type":"conversation.item.truncate","event_id":"evt_t2","item_id":")" + item +
         R"(","content_index":0,"audio_end_ms":60})");
  c.send(R"({"type":"response.cancel","event_id":"evt_cancel"})");
  REQUIRE(c.wait_for("conversation.item.truncated"));
  REQUIRE(c.wait_for("error", 3));
  evs = c.events();
  const auto errors = of_type(evs, "error");
  CHECK(error_code(errors[1]) == "invalid_value");
  CHECK(str(errors[1], {"error", "message"}) == "Audio content of " + std::to_string(generated_ms) +
                                                    "ms is already shorter than " + std::to_string(generated_ms + 500) +
                                                    "ms");
  CHECK(str(errors[1], {"error", "event_id"}) == "evt_t1");
  const auto truncated = of_type(evs, "conversation.item.truncated").at(0);
  CHECK(str(truncated, {"item_id"}) == item);
  CHECK(num(truncated, {"audio_end_ms"}) == 60);
  CHECK(error_code(errors[2]) == "response_cancel_not_active");

  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 1);
  REQUIRE(recs[0].truncates.size() == 2);
  CHECK_FALSE(recs[0].truncates[0].accepted);
  CHECK(recs[0].truncates[0].item_audio_ms == generated_ms);
  CHECK(recs[0].truncates[0].item_sent_ms == generated_ms);
  CHECK(recs[0].truncates[0].audio_end_ms == generated_ms + 500);
  CHECK(recs[0].truncates[1].accepted);
  CHECK(recs[0].responses == 1);
  CHECK(recs[0].responses_cancelled == 1);
  CHECK(recs[0].speech_started == 1);
  CHECK(recs[0].errors_sent == std::vector<std::string>{"conversation_already_has_active_response", "invalid_value",
                                                        "response_cancel_not_active"});
}

TEST_CASE("fake_openai: a function call round trip", "[fake_openai]") {
  silence_lws_logs();
  fake_openai_options opt;
  opt.speed = 20.0;
  scripted_response first;
  first.transcript = "Let me check that for you.";
  first.audio_ms = 200;
  first.function_call = std::make_pair(std::string("get_order_status"), std::string(R"({"order_number":"48217"})"));
  scripted_response second;
  second.transcript = "Your order has shipped.";
  second.audio_ms = 200;
  opt.script = {first, second};
  fake_openai fake(opt);
  ws_client c(to(fake));
  c.send(k_ga_update);
  REQUIRE(c.wait_for("session.updated"));
  c.send(R"({"type":"response.create"})");
  REQUIRE(c.wait_for("response.done"));
  auto evs = c.events();
  const auto added = of_type(evs, "response.output_item.added");
  REQUIRE(added.size() == 2);
  CHECK(str(added[0], {"item", "type"}) == "message");
  CHECK(num(added[0], {"output_index"}) == 0);
  CHECK(str(added[1], {"item", "type"}) == "function_call");
  CHECK(num(added[1], {"output_index"}) == 1);
  CHECK(str(added[1], {"item", "name"}) == "get_order_status");
  CHECK(str(added[1], {"item", "arguments"}).empty());
  const std::string call_id = str(added[1], {"item", "call_id"});
  const std::string call_item = str(added[1], {"item", "id"});
  CHECK(valid_id(call_id, "call_", 16));
  std::string args;
  for (auto& d : of_type(evs, "response.function_call_arguments.delta")) {
    CHECK(str(d, {"call_id"}) == call_id);
    args += str(d, {"delta"});
  }
  CHECK(args == R"({"order_number":"48217"})");
  const auto args_done = of_type(evs, "response.function_call_arguments.done").at(0);
  CHECK(str(args_done, {"arguments"}) == args);
  CHECK(str(args_done, {"name"}) == "get_order_status");
  // the spoken preamble finishes before the call starts
  CHECK(index_of(evs, "response.output_audio.done") < index_of(evs, "response.function_call_arguments.delta"));
  const auto done = of_type(evs, "response.done").at(0);
  CHECK(str(done, {"response", "status"}) == "completed");
  CHECK(array_size(done, {"response", "output"}) == 2);
  CHECK(str(done, {"response", "output", "#1", "status"}) == "completed");
  CHECK(str(done, {"response", "output", "#1", "arguments"}) == args);

  c.send(R"({"type":"conversation.item.create","item":{"type":"function_call_output","call_id":")" + call_id +
         R"(","output":"{\"status\":\"shipped\"}"}})");
  c.send(R"({"type":"response.create"})");
  REQUIRE(c.wait_for("response.done", 2));
  evs = c.events();
  const std::size_t i_out = index_of(evs, "conversation.item.added", index_of(evs, "response.done"));
  REQUIRE(i_out < evs.size());
  CHECK(str(evs[i_out], {"item", "type"}) == "function_call_output");
  CHECK(str(evs[i_out], {"previous_item_id"}) == call_item);
  CHECK(str(evs[i_out], {"item", "output"}) == R"({"status":"shipped"})");
  const auto done2 = of_type(evs, "response.done").at(1);
  CHECK(str(done2, {"response", "output", "#0", "content", "#0", "transcript"}) == "Your order has shipped.");

  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 1);
  REQUIRE(recs[0].function_outputs.size() == 1);
  CHECK(recs[0].function_outputs[0].first == call_id);
  CHECK(recs[0].function_outputs[0].second == R"({"status":"shipped"})");
  CHECK(recs[0].responses == 2);
}

TEST_CASE("fake_openai: conversation items, manual commit and client errors", "[fake_openai]") {
  silence_lws_logs();
  fake_openai fake({});
  ws_client c(to(fake));
  c.send(
      R"({"type":"session.update","session":{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"},"turn_detection":null},"output":{"format":{"type":"audio/pcmu"}}}}})");
  REQUIRE(c.wait_for("session.updated"));
  CHECK(is_null(of_type(c.events(), "session.updated").at(0), {"session", "audio", "input", "turn_detection"}));

  c.send(
      R"({"type":"conversation.item.create","event_id":"evt_hi","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}})");
  REQUIRE(c.wait_for("conversation.item.done"));
  const auto added = of_type(c.events(), "conversation.item.added").at(0);
  const std::string user_item = str(added, {"item", "id"});
  CHECK(valid_id(user_item, "item_"));
  CHECK(is_null(added, {"previous_item_id"}));
  CHECK(str(added, {"item", "content", "#0", "text"}) == "hi");

  c.send(R"({"type":"conversation.item.truncate","item_id":")" + user_item +
         R"(","content_index":0,"audio_end_ms":10})");
  c.send(R"({"type":"conversation.item.delete","item_id":"item_nope"})");
  c.send(R"({"type":"conversation.item.delete","item_id":")" + user_item + R"("})");
  c.send(
      R"({"type":"conversation.item.create","item":{"type":"message","role":"assistant","content":[{"type":"output_audio"}]}})");
  c.send_audio(ulaw_tone(60));
  c.send(R"({"type":"input_audio_buffer.commit"})");
  c.send_audio(ulaw_tone(200));
  c.send(R"({"type":"input_audio_buffer.commit"})");
  c.send(R"({"type":"input_audio_buffer.clear"})");
  c.send(R"({"type":"no.such.event"})");
  c.send("this is not json");
  REQUIRE(c.wait_for("error", 6));
  REQUIRE(c.wait_for("input_audio_buffer.cleared"));
  const auto evs = c.events();
  const auto errors = of_type(evs, "error");
  CHECK(error_code(errors[0]) == "unsupported_content_type");
  CHECK(str(errors[0], {"error", "message"}) == "Only model output audio messages can be truncated");
  CHECK(error_code(errors[1]) == "invalid_value");
  CHECK(error_code(errors[2]) == "missing_required_parameter");
  CHECK(str(errors[2], {"error", "param"}) == "item.content[0].text");
  CHECK(error_code(errors[3]) == "input_audio_buffer_commit_empty");
  CHECK(error_code(errors[4]) == "invalid_value");
  CHECK(str(errors[4], {"error", "param"}) == "type");
  CHECK(error_code(errors[5]) == "invalid_json");
  CHECK(str(of_type(evs, "conversation.item.deleted").at(0), {"item_id"}) == user_item);
  const auto committed = of_type(evs, "input_audio_buffer.committed");
  REQUIRE(committed.size() == 1);
  CHECK(is_null(committed[0], {"previous_item_id"}));                // the text item was deleted
  CHECK(of_type(evs, "input_audio_buffer.speech_started").empty());  // VAD off
  CHECK(of_type(evs, "response.created").empty());

  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].user_texts == std::vector<std::string>{"hi"});
  CHECK(recs[0].deleted_items == std::vector<std::string>{user_item});
  CHECK(recs[0].appends == 13);
  CHECK(recs[0].client_event_types.back().empty());  // the unparseable one
  CHECK(recs[0].truncates.size() == 1);
}

TEST_CASE("fake_openai: authentication and the beta header fail like the real service", "[fake_openai]") {
  silence_lws_logs();
  fake_openai_options opt;
  opt.expected_api_key = "sk-good";
  fake_openai fake(opt);

  auto expect_fatal = [&](client_options o, const char* code, int close_code) {
    ws_client c(std::move(o));
    REQUIRE(c.wait([](const ws_client::state& s) { return s.closed || s.failed; }));
    const auto st = c.snapshot();
    CHECK(st.established);
    REQUIRE(st.events.size() == 1);
    CHECK(type_of(st.events[0].raw) == "error");
    CHECK(error_code(st.events[0].raw) == code);
    CHECK(st.close_code == close_code);
    CHECK(st.close_reason == std::string("invalid_request_error.") + code);
  };

  client_options none = to(fake);
  none.authorization.reset();
  expect_fatal(none, "invalid_api_key", 3000);

  client_options wrong = to(fake);
  wrong.authorization = "Bearer sk-bad-key-1234";
  expect_fatal(wrong, "invalid_api_key", 3000);

  client_options beta = to(fake);
  beta.authorization = "Bearer sk-good";
  beta.beta = "realtime=v1";
  expect_fatal(beta, "beta_api_shape_disabled", 4000);

  client_options good = to(fake);
  good.authorization = "Bearer sk-good";
  ws_client c(good);
  REQUIRE(c.wait_for("session.created"));

  REQUIRE(fake.wait_for(
      [](const std::vector<session_record>& r) { return r.size() == 4 && !r[0].open && !r[1].open && !r[2].open; },
      k_timeout));
  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 4);
  CHECK(recs[0].authorization.empty());
  CHECK(recs[1].authorization == "Bearer sk-bad-key-1234");
  CHECK(recs[2].beta_header);
  CHECK(recs[0].errors_sent == std::vector<std::string>{"invalid_api_key"});
  CHECK(recs[2].errors_sent == std::vector<std::string>{"beta_api_shape_disabled"});
  CHECK_FALSE(recs[0].open);
  CHECK_FALSE(recs[0].closed_by_client);
  CHECK(recs[3].open);
}

TEST_CASE("fake_openai: scripted failures", "[fake_openai]") {
  silence_lws_logs();
  fake_openai_options opt;
  SECTION("refuse_upgrade answers 403") {
    opt.failure = failure_mode::refuse_upgrade;
    fake_openai fake(opt);
    ws_client c(to(fake));
    REQUIRE(c.wait([](const ws_client::state& s) { return s.failed || s.closed; }));
    const auto st = c.snapshot();
    CHECK(st.failed);
    CHECK_FALSE(st.established);
    INFO(st.error);
    CHECK((st.http_status == 403 || st.error.find("not 101") != std::string::npos));
    CHECK(fake.upgrades_refused() == 1);
    CHECK(fake.sessions_opened() == 0);
  }
  SECTION("error_then_close_3000") {
    opt.failure = failure_mode::error_then_close_3000;
    fake_openai fake(opt);
    ws_client c(to(fake));
    REQUIRE(c.wait([](const ws_client::state& s) { return s.closed; }));
    const auto st = c.snapshot();
    REQUIRE(st.events.size() == 1);
    CHECK(error_code(st.events[0].raw) == "invalid_api_key");
    CHECK(st.close_code == 3000);
    CHECK(st.close_reason == "invalid_request_error.invalid_api_key");
  }
  SECTION("error_then_close_4000") {
    opt.failure = failure_mode::error_then_close_4000;
    fake_openai fake(opt);
    ws_client c(to(fake));
    REQUIRE(c.wait([](const ws_client::state& s) { return s.closed; }));
    const auto st = c.snapshot();
    REQUIRE(st.events.size() == 1);
    CHECK(error_code(st.events[0].raw) == "beta_api_shape_disabled");
    CHECK(st.close_code == 4000);
  }
  SECTION("close_mid_response closes with 1011 during the audio") {
    opt.failure = failure_mode::close_mid_response;
    opt.speed = 10;
    fake_openai fake(opt);
    ws_client c(to(fake));
    REQUIRE(c.wait_for("session.created"));
    c.send(R"({"type":"response.create"})");
    REQUIRE(c.wait([](const ws_client::state& s) { return s.closed; }));
    const auto st = c.snapshot();
    CHECK(st.close_code == 1011);
    const std::size_t deltas = ws_client::count(st.events, "response.output_audio.delta");
    CHECK(deltas >= 1);
    CHECK(deltas < 1500 / 20);
    CHECK(ws_client::count(st.events, "response.done") == 0);
  }
  SECTION("go_silent accepts and records but never answers") {
    opt.failure = failure_mode::go_silent;
    fake_openai fake(opt);
    ws_client c(to(fake));
    REQUIRE(c.wait([](const ws_client::state& s) { return s.established; }));
    c.send(k_ga_update);
    c.send(R"({"type":"response.create"})");
    c.send_audio(ulaw_tone(100));
    REQUIRE(fake.wait_for(
        [](const std::vector<session_record>& r) { return !r.empty() && r[0].client_event_types.size() == 7; },
        k_timeout));
    std::this_thread::sleep_for(200ms);
    CHECK(c.snapshot().events.empty());
    const auto recs = fake.sessions();
    CHECK(recs[0].appends == 5);
    CHECK(recs[0].appended_bytes == 800);
    CHECK(recs[0].speech_started == 0);
    CHECK(recs[0].responses == 0);
  }
  SECTION("a path other than /v1/realtime is not upgraded") {
    fake_openai fake(opt);
    client_options o = to(fake);
    o.path = "/v1/other";
    ws_client c(o);
    REQUIRE(c.wait([](const ws_client::state& s) { return s.failed || s.closed; }));
    CHECK_FALSE(c.snapshot().established);
    CHECK(fake.sessions_opened() == 0);
  }
}

TEST_CASE("fake_openai: wss with a throwaway CA", "[fake_openai]") {
  silence_lws_logs();
  namespace fs = std::filesystem;
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    WARN("openssl CLI not found; TLS test skipped");
    return;
  }
  const fs::path dir = fs::temp_directory_path() / ("rtb_fake_openai_tls_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct cleanup {
    fs::path p;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup_dir{dir};
  {
    std::ofstream ext(dir / "server.ext");
    ext << "basicConstraints=CA:FALSE\n"
           "keyUsage=critical,digitalSignature,keyEncipherment\n"
           "extendedKeyUsage=serverAuth\n"
           "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  }
  const std::string d = dir.string();
  const std::string cmd =
      "cd '" + d +
      "' && "
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj '/CN=rtb fake_openai test CA' -addext 'basicConstraints=critical,CA:TRUE' "
      "-addext 'keyUsage=critical,keyCertSign,cRLSign' && "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr "
      "-subj '/CN=localhost' && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile server.ext";
  REQUIRE(std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0);

  fake_openai_options opt;
  opt.cert_file = d + "/server.pem";
  opt.key_file = d + "/server.key";
  fake_openai fake(opt);
  CHECK(fake.tls());
  CHECK(fake.url().rfind("wss://127.0.0.1:", 0) == 0);

  client_options o = to(fake);
  o.tls = true;
  o.ca_file = d + "/ca.pem";
  {
    ws_client c(o);
    REQUIRE(c.wait_for("session.created"));
    c.send(k_ga_update);
    REQUIRE(c.wait_for("session.updated"));
  }
  {
    o.host = "localhost";  // the DNS name in the certificate works too
    ws_client c(o);
    REQUIRE(c.wait_for("session.created"));
  }
  {
    client_options untrusted = to(fake);
    untrusted.tls = true;  // no CA: the throwaway certificate is not trusted
    ws_client c(untrusted);
    REQUIRE(c.wait([](const ws_client::state& s) { return s.failed || s.closed; }));
    CHECK_FALSE(c.snapshot().established);
  }
  CHECK(fake.sessions_opened() == 2);
}

TEST_CASE("fake_openai: concurrent sessions, client close, two audio items, text and PCM output", "[fake_openai]") {
  silence_lws_logs();
  fake_openai_options opt;
  opt.speed = 0;  // no pacing
  scripted_response sr;
  sr.transcript = "One two three.";
  sr.audio_ms = 100;
  sr.two_audio_items = true;
  opt.script = {sr};
  fake_openai fake(opt);

  ws_client a(to(fake));
  ws_client b(to(fake));
  REQUIRE(a.wait_for("session.created"));
  REQUIRE(b.wait_for("session.created"));
  CHECK(str(a.events()[0], {"session", "id"}) != str(b.events()[0], {"session", "id"}));

  // a: default session format (24 kHz PCM), two audio items
  a.send(R"({"type":"response.create","response":{"metadata":{"purpose":"greeting"}}})");
  REQUIRE(a.wait_for("response.done"));
  auto evs = a.events();
  const auto added = of_type(evs, "response.output_item.added");
  REQUIRE(added.size() == 2);
  CHECK(num(added[1], {"output_index"}) == 1);
  CHECK(str(added[0], {"item", "id"}) != str(added[1], {"item", "id"}));
  const auto deltas = of_type(evs, "response.output_audio.delta");
  REQUIRE(deltas.size() == 10);
  CHECK(b64_decoded_size(str(deltas[0], {"delta"})) == 20 * 48);  // 20 ms of 24 kHz 16-bit PCM
  const auto done = of_type(evs, "response.done").at(0);
  CHECK(array_size(done, {"response", "output"}) == 2);
  CHECK(str(done, {"response", "metadata", "purpose"}) == "greeting");
  // the second item follows the first in the conversation
  const auto conv_added = of_type(evs, "conversation.item.added");
  REQUIRE(conv_added.size() == 2);
  CHECK(str(conv_added[1], {"previous_item_id"}) == str(added[0], {"item", "id"}));

  // b: text output
  b.send(R"({"type":"session.update","session":{"type":"realtime","output_modalities":["text"]}})");
  b.send(R"({"type":"response.create"})");
  REQUIRE(b.wait_for("response.done"));
  evs = b.events();
  CHECK(of_type(evs, "response.output_audio.delta").empty());
  std::string text;
  for (auto& t : of_type(evs, "response.output_text.delta")) text += str(t, {"delta"});
  CHECK(text == "One two three.One two three.");
  CHECK(str(of_type(evs, "response.content_part.added").at(0), {"part", "type"}) == "text");
  CHECK(str(of_type(evs, "response.output_item.done").at(0), {"item", "content", "#0", "type"}) == "output_text");

  // records are in accept order, which for a and b is a race: find them by id
  const std::string a_id = str(a.events()[0], {"session", "id"});
  const std::string b_id = str(b.events()[0], {"session", "id"});
  auto find = [](const std::vector<session_record>& r, const std::string& id) {
    return std::find_if(r.begin(), r.end(), [&](const session_record& x) { return x.session_id == id; });
  };
  a.close(1000);
  REQUIRE(a.wait([](const ws_client::state& s) { return s.closed; }));
  REQUIRE(fake.wait_for(
      [&](const std::vector<session_record>& r) {
        auto it = find(r, a_id);
        return it != r.end() && !it->open;
      },
      k_timeout));
  const auto recs = fake.sessions();
  REQUIRE(recs.size() == 2);
  const auto ra = find(recs, a_id);
  const auto rb = find(recs, b_id);
  REQUIRE(ra != recs.end());
  REQUIRE(rb != recs.end());
  CHECK(ra->closed_by_client);
  CHECK(ra->client_close_code == 1000);
  CHECK(ra->responses == 1);
  CHECK(rb->open);
  CHECK(rb->responses == 1);
}

TEST_CASE("fake_openai: a busy port is an error at construction", "[fake_openai]") {
  silence_lws_logs();
  fake_openai first({});
  fake_openai_options opt;
  opt.port = first.port();
  CHECK_THROWS_AS(fake_openai(opt), std::runtime_error);
}
