// The fake OpenAI Realtime server (GA protocol) on libwebsockets 4.1.6.
//
// Shape: one lws_context with one vhost, serviced by one std::thread. Every
// accepted WebSocket gets a heap `session` (the lws per-session data holds
// only a pointer to it). All protocol work happens on the service thread:
// received messages are parsed with simdjson's DOM API, answers are queued
// per session and written one per SERVER_WRITEABLE callback, and response
// audio is paced with a per-session lws_sorted_usec_list_t timer. The only
// state shared with other threads is the vector of session_records, behind a
// mutex. No C++ exception leaves an lws callback.
//
// Appends as the bridge writes them take a fast path (no JSON parse) that
// behaves exactly like the general one; the VAD reads levels from a table.
// With a bench_probe, each append's frame tag is reported (and teaches the
// session its call), and each audio delta carries a tag whose time is
// stamped into the queued text just before lws_write. Flood mode replaces
// the pacing timer by the probe's window; the probe's waker
// (lws_cancel_service) resumes the sessions from EVENT_WAIT_CANCELLED.
#include "peers/fake_openai.hpp"
#include "peers/bench_probe.hpp"
#include "peers/frame_tag.hpp"
#include "peers/json_text.hpp"
#include "peers/service_timers.hpp"

#include "lws/event_loop.hpp"

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <simdjson.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

namespace rtb::peers {
namespace {

// ============================================================================
// Ids: "<prefix>C" + alphanumerics, from a counter through a mixing function,
// so a run is deterministic but the ids look like the real service's.
// ============================================================================

constexpr std::string_view k_alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class id_generator {
 public:
  /// `prefix` followed by `n` characters: 'C' then n-1 alphanumerics.
  std::string make(std::string_view prefix, std::size_t n) {
    std::string out(prefix);
    out.reserve(prefix.size() + n);
    std::uint64_t state = mix64(++counter_);
    std::uint64_t bits = state;
    int left = 10;  // 62^10 < 2^64
    out.push_back('C');
    for (std::size_t i = 1; i < n; ++i) {
      if (left == 0) {
        state = mix64(state);
        bits = state;
        left = 10;
      }
      out.push_back(k_alnum[bits % k_alnum.size()]);
      bits /= k_alnum.size();
      --left;
    }
    return out;
  }
  std::string event_id() { return make("event_", 21); }

 private:
  std::uint64_t counter_ = 0;
};

// ============================================================================
// Audio formats: G.711 A-law, 24 kHz PCM, level
// ============================================================================

std::int16_t alaw_to_linear(std::uint8_t a) noexcept {
  a ^= 0x55;
  int t = (a & 0x0F) << 4;
  const int seg = (a & 0x70) >> 4;
  if (seg == 0) {
    t += 8;
  } else {
    t += 0x108;
    t <<= seg - 1;
  }
  return static_cast<std::int16_t>((a & 0x80) ? t : -t);
}

std::uint8_t linear_to_alaw(std::int16_t sample) noexcept {
  int pcm = sample;
  int mask = 0xD5;
  if (pcm < 0) {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  if (pcm > 32767) pcm = 32767;
  int seg = 0;
  for (int v = pcm >> 8; v > 0 && seg < 7; v >>= 1) ++seg;
  int aval = seg << 4;
  aval |= (seg < 2) ? ((pcm >> 4) & 0x0F) : ((pcm >> (seg + 3)) & 0x0F);
  return static_cast<std::uint8_t>(aval ^ mask);
}

enum class audio_format { pcmu, pcma, pcm24k };

std::size_t bytes_per_ms(audio_format f) noexcept { return f == audio_format::pcm24k ? 48 : 8; }

std::string format_json(audio_format f) {
  switch (f) {
    case audio_format::pcmu: return R"({"type":"audio/pcmu"})";
    case audio_format::pcma: return R"({"type":"audio/pcma"})";
    case audio_format::pcm24k: break;
  }
  return R"({"type":"audio/pcm","rate":24000})";
}

/// Squares of the decoded G.711 codes (the VAD runs on every appended frame).
struct square_tables {
  std::array<double, 256> mulaw{}, alaw{};
  square_tables() {
    for (int i = 0; i < 256; ++i) {
      const double u = mulaw_to_linear(static_cast<std::uint8_t>(i));
      const double a = alaw_to_linear(static_cast<std::uint8_t>(i));
      mulaw[static_cast<std::size_t>(i)] = u * u;
      alaw[static_cast<std::size_t>(i)] = a * a;
    }
  }
};

double level_dbfs_of(const std::uint8_t* p, std::size_t n, audio_format f) noexcept {
  static const square_tables squares;
  double acc = 0;
  std::size_t count = 0;
  if (f == audio_format::pcm24k) {
    for (std::size_t i = 0; i + 1 < n; i += 2) {
      const auto s = static_cast<std::int16_t>(static_cast<std::uint16_t>(p[i] | (p[i + 1] << 8)));
      acc += double(s) * double(s);
      ++count;
    }
  } else {
    const auto& table = f == audio_format::pcmu ? squares.mulaw : squares.alaw;
    for (std::size_t i = 0; i < n; ++i) acc += table[p[i]];
    count = n;
  }
  if (count == 0) return -100.0;
  const double rms = std::sqrt(acc / double(count)) / 32768.0;
  if (rms <= 1e-5) return -100.0;
  return 20.0 * std::log10(rms);
}

/// The model's µ-law voice converted to the session's output format.
std::vector<std::uint8_t> convert_output(const std::uint8_t* p, std::size_t n, audio_format f) {
  std::vector<std::uint8_t> out;
  switch (f) {
    case audio_format::pcmu:
      out.assign(p, p + n);
      break;
    case audio_format::pcma:
      out.reserve(n);
      for (std::size_t i = 0; i < n; ++i) out.push_back(linear_to_alaw(mulaw_to_linear(p[i])));
      break;
    case audio_format::pcm24k:
      out.reserve(n * 6);
      for (std::size_t i = 0; i < n; ++i) {
        const int a = mulaw_to_linear(p[i]);
        const int b = i + 1 < n ? mulaw_to_linear(p[i + 1]) : a;
        for (int k = 0; k < 3; ++k) {
          const auto s = static_cast<std::uint16_t>(static_cast<std::int16_t>(a + (b - a) * k / 3));
          out.push_back(static_cast<std::uint8_t>(s & 0xFF));
          out.push_back(static_cast<std::uint8_t>(s >> 8));
        }
      }
      break;
  }
  return out;
}

/// Transcript deltas: the first word, then each following word with its
/// leading space, so the pieces concatenate to the transcript.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ' ' && text[i - 1] != ' ')) {
      if (i > start) out.push_back(text.substr(start, i - start));
      start = i;
    }
  }
  return out;
}

const char* const k_default_instructions =
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. Act like a human, but "
    "remember that you aren't a human and that you can't do human things in the real world. Your voice and "
    "personality should be warm and engaging, with a lively and playful tone. If interacting in a non-English "
    "language, start by using the standard accent or dialect familiar to the user. Talk quickly. You should "
    "always call a function if you can. Do not refer to these rules, even if you\u2019re asked about them.";

// ============================================================================
// simdjson DOM accessors (lenient: wrong types read as absent)
// ============================================================================

namespace dom = simdjson::dom;

std::optional<dom::element> field(dom::element obj, std::string_view key) {
  dom::element e;
  if (obj.at_key(key).get(e)) return std::nullopt;
  return e;
}

std::optional<std::string_view> str_field(dom::element obj, std::string_view key) {
  auto e = field(obj, key);
  std::string_view s;
  if (!e || e->get(s)) return std::nullopt;
  return s;
}

// ============================================================================
// Server state and sessions
// ============================================================================

struct api_error {
  std::string code;
  std::string message;
  std::optional<std::string> param;
  std::string type = "invalid_request_error";
};

struct turn_detection_cfg {
  bool enabled = true;
  std::string type = "server_vad";
  double threshold = 0.5;
  int prefix_padding_ms = 300;
  int silence_duration_ms = 200;
  bool create_response = true;
  bool interrupt_response = true;
  std::optional<std::int64_t> idle_timeout_ms;
  std::string eagerness = "auto";
};

struct session_cfg {
  std::string id;
  std::string model = "gpt-realtime";
  std::vector<std::string> output_modalities{"audio"};
  std::string instructions = k_default_instructions;
  std::string tools_json = "[]";
  std::string tool_choice_json = "\"auto\"";
  std::string max_output_tokens_json = "\"inf\"";
  std::string tracing_json = "null";
  std::string truncation_json = "\"auto\"";
  std::string prompt_json = "null";
  std::string include_json = "null";
  std::int64_t expires_at = 0;
  audio_format in_format = audio_format::pcm24k;
  audio_format out_format = audio_format::pcm24k;
  std::string transcription_json = "null";
  std::string noise_reduction_json = "null";
  turn_detection_cfg td;
  std::string voice_json = "\"alloy\"";
  double speed = 1.0;
};

struct out_msg {
  std::string buf;             // LWS_PRE bytes of headroom, then the payload
  std::string item_id;         // audio deltas: the item they belong to
  std::uint64_t audio_bytes = 0;  // µ-law-equivalent bytes (8 per ms) in this delta
  // benchmarks: a tagged delta's tag, re-stamped with the time at the write
  std::optional<frame_tag::tag> tag;
  std::size_t tag_at = 0;  // offset of the base64 payload in buf
};

struct conv_item {
  std::string id;
  std::string type;  // message | function_call | function_call_output
  std::string role;
  bool assistant_audio = false;
  std::uint64_t audio_bytes = 0;  // generated (µ-law-equivalent, 8 per ms)
  std::uint64_t sent_bytes = 0;   // written to the socket
  std::string json;               // the item as last reported
};

struct resp_item {
  std::string id;
  int output_index = 0;
  bool is_call = false;
  std::string previous_item_id_json = "null";
  // spoken item
  std::string transcript;
  std::vector<std::string> pieces;
  mulaw_bytes audio;
  std::size_t chunk_bytes = 160;
  std::size_t chunks_total = 0;
  std::size_t chunks_sent = 0;
  std::size_t pieces_sent = 0;
  std::string text_so_far;
  bool started = false;
  bool done = false;
  std::string final_json;
  // function call
  std::string name;
  std::string arguments;
  std::string call_id;
};

struct response_state {
  std::string id;
  std::uint16_t number = 0;  // in the session, from 0 (frame tags)
  std::uint32_t deltas = 0;  // audio deltas emitted so far (frame tags)
  std::vector<resp_item> items;
  std::size_t cur = 0;
  bool text_mode = false;
  std::string metadata_json = "null";
  bool close_mid = false;
  std::uint64_t audio_bytes_out = 0;
  std::size_t text_pieces_out = 0;
};

class session;

struct pss_t {
  session* s;
};

struct server_state {
  fake_openai_options opt;
  lws_protocols protocols[2]{};
  lws_context* ctx = nullptr;
  std::unique_ptr<lws_adapter::loop_runner> runner;  // poll or libev (options.epoll)
  std::atomic<std::int64_t> runner_timers{0};
  std::unique_ptr<service_timers> timers;            // options.ticker_timers
  SSL_CTX* client_ssl_ctx = nullptr;  // TLS mode: an unused client SSL_CTX of our own (see the constructor)
  int port = 0;
  std::thread thread;
  std::atomic<bool> stop{false};

  mutable std::mutex mu;
  std::vector<session_record> records;
  std::size_t opened = 0;
  std::size_t refused = 0;
  int sessions_started = 0;  // service thread only

  // service thread only
  id_generator ids;
  dom::parser parser;
  std::vector<session*> live;  // every session (flood mode resumes them when woken)
  std::int64_t rate_limit_remaining = 40000;

  template <class F>
  void update(std::size_t idx, F&& f) {
    std::lock_guard<std::mutex> lock(mu);
    f(records[idx]);
  }
};

/// Whether `bind:port` can be bound now (numeric addresses only; anything
/// else is left to lws). lws 4.1.6 leaks memory when lws_create_context fails,
/// so the common "port in use" case is caught here first.
std::string bind_problem(const std::string& bind, int port) {
  if (port <= 0 || bind.empty()) return {};
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(bind.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return {};
  std::string problem;
  const int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd >= 0) {
    const int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) problem = std::strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  return problem;
}

server_state* state_of(lws* wsi) { return static_cast<server_state*>(lws_context_user(lws_get_context(wsi))); }

std::string header(lws* wsi, lws_token_indexes h) {
  const int n = lws_hdr_total_length(wsi, h);
  if (n <= 0) return {};
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  const int got = lws_hdr_copy(wsi, s.data(), n + 1, h);
  if (got < 0) return {};
  s.resize(static_cast<std::size_t>(got));
  return s;
}

/// Request path with its query string (lws splits and url-decodes the args).
std::string request_path(lws* wsi, std::string* model) {
  std::string path = header(wsi, WSI_TOKEN_GET_URI);
  char buf[1024];
  for (int i = 0;; ++i) {
    const int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    const std::string_view arg(buf, static_cast<std::size_t>(n));
    path += i == 0 ? '?' : '&';
    path += arg;
    if (model && arg.substr(0, 6) == "model=") *model = std::string(arg.substr(6));
  }
  return path;
}

class session {
 public:
  session(server_state& st, lws* wsi, std::size_t rec) : st_(st), wsi_(wsi), rec_(rec) {
    timer_.self = this;
    tick_timer_.owner = this;
    tick_timer_.fire = &session::on_tick_timer;
  }
  ~session() { cancel_timer(); }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  server_state& state() { return st_; }

  std::string rx;  // reassembly of fragmented messages

  void start(const std::string& model, const std::string& authorization, bool beta) {
    cfg_.id = st_.ids.make("sess_", 21);
    conversation_id_ = st_.ids.make("conv_", 21);
    if (!model.empty()) cfg_.model = model;
    cfg_.expires_at = static_cast<std::int64_t>(std::time(nullptr)) + 3600;
    failing_ = st_.opt.failing_sessions <= 0 || st_.sessions_started < st_.opt.failing_sessions;
    ++st_.sessions_started;

    switch (failing_ ? st_.opt.failure : failure_mode::none) {
      case failure_mode::go_silent:
        silent_ = true;
        st_.update(rec_, [&](session_record& r) { r.session_id = cfg_.id; });
        return;
      case failure_mode::error_then_close_3000:
        fatal("invalid_api_key", "Incorrect API key provided. You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.", 3000);
        return;
      case failure_mode::error_then_close_4000:
        fatal("beta_api_shape_disabled",
              "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.", 4000);
        return;
      case failure_mode::model_not_found:
        fatal("model_not_found",
              "The model `" + cfg_.model + "` does not exist or you do not have access to it.", 3000);
        return;
      default:
        break;
    }
    const std::string_view bearer = "Bearer ";
    if (authorization.size() <= bearer.size() || authorization.compare(0, bearer.size(), bearer) != 0) {
      fatal("invalid_api_key",
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            3000);
      return;
    }
    if (!st_.opt.expected_api_key.empty() && authorization.substr(bearer.size()) != st_.opt.expected_api_key) {
      fatal("invalid_api_key", "Incorrect API key provided: " + redact(authorization.substr(bearer.size())) +
                                   ". You can find your API key at https://platform.openai.com/account/api-keys.",
            3000);
      return;
    }
    if (beta) {
      fatal("beta_api_shape_disabled",
            "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.", 4000);
      return;
    }
    st_.update(rec_, [&](session_record& r) { r.session_id = cfg_.id; });
    send(json_object{}.str("type", "session.created").str("event_id", eid()).raw("session", session_json()).done());
  }

  void on_message(std::string_view text) {
    // The common case first, without a parse: an append as the bridge writes
    // it (type then audio, no event_id, nothing escaped), handled exactly as
    // the general path would.
    static constexpr std::string_view append_head = R"({"type":"input_audio_buffer.append","audio":")";
    static constexpr std::string_view append_tail = R"("})";
    if (text.size() > append_head.size() + append_tail.size() && text.starts_with(append_head) &&
        text.ends_with(append_tail)) {
      const std::string_view audio =
          text.substr(append_head.size(), text.size() - append_head.size() - append_tail.size());
      if (audio.find_first_of("\\\"") == std::string_view::npos) {
        if (st_.opt.record_client_events)
          st_.update(rec_, [](session_record& r) { r.client_event_types.emplace_back("input_audio_buffer.append"); });
        if (ended() || silent_) {
          if (from_base64(audio, scratch_)) record_append(scratch_.size());
          return;
        }
        on_append_audio(audio, std::nullopt);
        return;
      }
    }
    dom::element root;
    if (st_.parser.parse(text.data(), text.size()).get(root) || !root.is_object()) {
      if (st_.opt.record_client_events)
        st_.update(rec_, [](session_record& r) { r.client_event_types.emplace_back(); });
      if (!ended()) {
        send_error({"invalid_json",
                    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                    "your HTTP library correctly. The OpenAI API expects a JSON payload.)",
                    std::nullopt},
                   std::nullopt);
      }
      return;
    }
    const std::string type(str_field(root, "type").value_or(""));
    std::optional<std::string> event_id;
    if (auto e = str_field(root, "event_id")) event_id = std::string(*e);
    if (st_.opt.failure == failure_mode::error_then_reset && !ended()) {
      fatal("invalid_api_key", "Incorrect API key provided.", 3000);
      return;
    }

    if (st_.opt.record_client_events || type == "session.update") {
      st_.update(rec_, [&](session_record& r) {
        if (st_.opt.record_client_events) r.client_event_types.push_back(type);
        if (type == "session.update") r.session_update = std::string(text);
      });
    }
    if (ended() || silent_) {
      // no answers any more, but what arrives is still counted
      if (type == "input_audio_buffer.append") {
        if (auto audio = str_field(root, "audio"); audio && from_base64(*audio, scratch_)) record_append(scratch_.size());
      }
      return;
    }

    if (type.empty()) {
      send_error({"missing_required_parameter", "Missing required parameter: 'type'.", "type"}, event_id);
    } else if (type == "input_audio_buffer.append") {
      on_append(root, event_id);
    } else if (type == "session.update") {
      on_session_update(root, event_id);
    } else if (type == "input_audio_buffer.commit") {
      on_commit(event_id);
    } else if (type == "input_audio_buffer.clear") {
      buffer_bytes_ = 0;
      residual_.clear();
      reset_vad();
      send(json_object{}.str("type", "input_audio_buffer.cleared").str("event_id", eid()).done());
    } else if (type == "conversation.item.create") {
      on_item_create(root, event_id);
    } else if (type == "conversation.item.retrieve") {
      on_item_retrieve(root, event_id);
    } else if (type == "conversation.item.truncate") {
      on_truncate(root, event_id);
    } else if (type == "conversation.item.delete") {
      on_item_delete(root, event_id);
    } else if (type == "response.create") {
      on_response_create(root, event_id);
    } else if (type == "response.cancel") {
      on_response_cancel(root, event_id);
    } else if (type == "output_audio_buffer.clear") {
      send_error({"invalid_value", "output_audio_buffer.clear is only supported for WebRTC and SIP sessions.",
                  "type"},
                 event_id);
    } else {
      send_error({"invalid_value",
                  "Invalid value: '" + type +
                      "'. Supported values are: 'session.update', 'input_audio_buffer.append', "
                      "'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', "
                      "'conversation.item.retrieve', 'conversation.item.truncate', 'conversation.item.delete', "
                      "'response.create', 'response.cancel' and 'output_audio_buffer.clear'.",
                  "type"},
                 event_id);
    }
  }

  int on_writeable() {
    if (!out_.empty()) {
      out_msg& m = out_.front();
      const std::size_t len = m.buf.size() - LWS_PRE;
      if (m.tag) {
        m.tag->sent_us = frame_tag::now_us();
        frame_tag::encode_base64(*m.tag, m.buf.data() + m.tag_at);
      }
      const int n = lws_write(wsi_, reinterpret_cast<unsigned char*>(m.buf.data()) + LWS_PRE, len, LWS_WRITE_TEXT);
      if (n < 0 || static_cast<std::size_t>(n) < len) return -1;
      if (m.audio_bytes > 0) {
        if (conv_item* it = find_item(m.item_id)) it->sent_bytes += m.audio_bytes;
      }
      if (m.tag) {
        delta_written(*m.tag);
      } else if (m.audio_bytes > 0 && st_.opt.probe) {
        st_.opt.probe->openai_untagged_delta_written();
      }
      out_.pop_front();
      if (!out_.empty() || close_pending_) lws_callback_on_writable(wsi_);
      return 0;
    }
    if (close_pending_ && st_.opt.failure == failure_mode::error_then_reset) return reset_after_close();
    if (close_pending_ && reset_pending_) {
      sockaddr unspecified{};
      unspecified.sa_family = AF_UNSPEC;
      ::connect(lws_get_socket_fd(wsi_), &unspecified, sizeof unspecified);
      return -1;
    }
    if (close_pending_) {
      lws_close_reason(wsi_, static_cast<lws_close_status>(close_code_),
                       reinterpret_cast<unsigned char*>(close_reason_.data()), close_reason_.size());
      return -1;
    }
    return 0;
  }

  /// Writes the close frame itself, then resets the connection: connect()
  /// with AF_UNSPEC disconnects a TCP socket with an RST and leaves the
  /// descriptor to lws, which closes it.
  int reset_after_close() {
    std::string frame(LWS_PRE, '\0');
    frame.push_back(static_cast<char>(0x88));  // FIN, close
    frame.push_back(static_cast<char>(2 + close_reason_.size()));
    frame.push_back(static_cast<char>(close_code_ >> 8));
    frame.push_back(static_cast<char>(close_code_ & 0xFF));
    frame += close_reason_;
    const std::size_t len = frame.size() - LWS_PRE;
    lws_write(wsi_, reinterpret_cast<unsigned char*>(frame.data()) + LWS_PRE, len, LWS_WRITE_RAW);
    sockaddr unspecified{};
    unspecified.sa_family = AF_UNSPEC;
    ::connect(lws_get_socket_fd(wsi_), &unspecified, sizeof unspecified);
    return -1;
  }

  void on_peer_close(const void* in, std::size_t len) {
    int code = 1005;
    if (in && len >= 2) {
      const auto* b = static_cast<const std::uint8_t*>(in);
      code = (b[0] << 8) | b[1];
    }
    st_.update(rec_, [&](session_record& r) {
      r.closed_by_client = true;
      r.client_close_code = code;
    });
  }

  void on_closed() {
    st_.update(rec_, [](session_record& r) { r.open = false; });
  }

  /// Flood mode: woken because the caller acknowledged deltas.
  void resume_flood() {
    if (flood_blocked_ && active_ && !ended()) {
      flood_blocked_ = false;
      tick();
    }
  }

 private:
  struct timer_holder {
    lws_sorted_usec_list_t sul;  // first member: the callback casts back
    session* self;
  };

  // ---------------------------------------------------------------- output

  std::string eid() { return st_.ids.event_id(); }

  bool ended() const { return close_pending_ || fatal_; }

  void send(std::string payload, const std::string& item_id = {}, std::uint64_t audio_bytes = 0,
            std::optional<frame_tag::tag> tag = std::nullopt, std::size_t tag_at = 0) {
    if (silent_ || close_pending_) return;
    out_msg m;
    m.buf.reserve(LWS_PRE + payload.size());
    m.buf.assign(LWS_PRE, '\0');
    m.buf += payload;
    m.item_id = item_id;
    m.audio_bytes = audio_bytes;
    m.tag = tag;
    m.tag_at = LWS_PRE + tag_at;
    out_.push_back(std::move(m));
    lws_callback_on_writable(wsi_);
  }

  void delta_written(const frame_tag::tag& t) {
    st_.opt.probe->openai_delta_written(t.call, t.response, t.delta);
    st_.update(rec_, [&](session_record& r) {
      if (r.response_tallies.size() <= t.response) r.response_tallies.resize(std::size_t{t.response} + 1);
      auto& tally = r.response_tallies[t.response];
      tally.deltas_written = std::max<std::uint32_t>(tally.deltas_written, std::uint32_t{t.delta} + 1);
    });
  }

  bool flooding() const { return st_.opt.probe && st_.opt.probe->window() > 0; }

  /// Flood mode: once the session is configured and its call known, answer
  /// without being asked, one response after another.
  void maybe_flood() {
    if (!flooding() || call_ < 0 || !configured_ || active_ || ended() || silent_) return;
    start_response(std::nullopt);
  }

  void send_error(const api_error& e, const std::optional<std::string>& client_event_id) {
    json_object err;
    err.str("type", e.type).str("code", e.code).str("message", e.message);
    if (e.param) err.str("param", *e.param);
    else err.null("param");
    if (client_event_id) err.str("event_id", *client_event_id);
    else err.null("event_id");
    send(json_object{}.str("type", "error").str("event_id", eid()).raw("error", err.done()).done());
    st_.update(rec_, [&](session_record& r) { r.errors_sent.push_back(e.code); });
  }

  void start_close(int code, std::string reason) {
    if (close_pending_) return;
    close_pending_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (close_reason_.size() > 123) close_reason_.resize(123);
    cancel_timer();
    lws_callback_on_writable(wsi_);
  }

  void fail_mid_response() {
    switch (st_.opt.failure) {
      case failure_mode::reset_mid_response:
        reset_pending_ = true;
        start_close(1011, "reset");  // not sent: the connection is reset instead
        return;
      case failure_mode::server_error_mid_response:
        send_error({"server_error", "The server had an error while processing your request.", std::nullopt},
                   std::nullopt);
        start_close(1011, "server_error");
        return;
      case failure_mode::expire_mid_response:
        send_error({"session_expired", "Your session hit the maximum duration of 60 minutes.", std::nullopt},
                   std::nullopt);
        start_close(1000, "invalid_request_error.session_expired");
        return;
      default: start_close(1011, "Internal server error"); return;
    }
  }

  void fatal(const std::string& code, const std::string& message, int close_code) {
    send_error({code, message, std::nullopt}, std::nullopt);
    fatal_ = true;
    start_close(close_code, "invalid_request_error." + code);
  }

  static std::string redact(const std::string& key) {
    if (key.size() <= 8) return "***";
    return key.substr(0, 4) + std::string(4, '*') + key.substr(key.size() - 4);
  }

  // ---------------------------------------------------------------- session

  std::string turn_detection_json() const {
    const auto& td = cfg_.td;
    if (!td.enabled) return "null";
    json_object o;
    o.str("type", td.type);
    if (td.type == "semantic_vad") {
      o.str("eagerness", td.eagerness);
    } else {
      o.dbl("threshold", td.threshold)
          .num("prefix_padding_ms", td.prefix_padding_ms)
          .num("silence_duration_ms", td.silence_duration_ms);
      if (td.idle_timeout_ms) o.num("idle_timeout_ms", *td.idle_timeout_ms);
      else o.null("idle_timeout_ms");
    }
    o.boolean("create_response", td.create_response).boolean("interrupt_response", td.interrupt_response);
    return o.done();
  }

  std::string modalities_json(const std::vector<std::string>& m) const {
    std::string s = "[";
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (i) s += ',';
      s += json_string(m[i]);
    }
    return s + "]";
  }

  std::string session_json() const {
    const std::string input = json_object{}
                                  .raw("format", format_json(cfg_.in_format))
                                  .raw("transcription", cfg_.transcription_json)
                                  .raw("noise_reduction", cfg_.noise_reduction_json)
                                  .raw("turn_detection", turn_detection_json())
                                  .done();
    const std::string output = json_object{}
                                   .raw("format", format_json(cfg_.out_format))
                                   .raw("voice", cfg_.voice_json)
                                   .dbl("speed", cfg_.speed)
                                   .done();
    return json_object{}
        .str("type", "realtime")
        .str("object", "realtime.session")
        .str("id", cfg_.id)
        .str("model", cfg_.model)
        .raw("output_modalities", modalities_json(cfg_.output_modalities))
        .str("instructions", cfg_.instructions)
        .raw("tools", cfg_.tools_json)
        .raw("tool_choice", cfg_.tool_choice_json)
        .raw("max_output_tokens", cfg_.max_output_tokens_json)
        .raw("tracing", cfg_.tracing_json)
        .raw("truncation", cfg_.truncation_json)
        .raw("prompt", cfg_.prompt_json)
        .num("expires_at", cfg_.expires_at)
        .raw("audio", json_object{}.raw("input", input).raw("output", output).done())
        .raw("include", cfg_.include_json)
        .done();
  }

  static std::optional<api_error> unknown(const std::string& param) {
    return api_error{"unknown_parameter", "Unknown parameter: '" + param + "'.", param};
  }
  static std::optional<api_error> bad_type(const std::string& param, const char* expected, dom::element v) {
    const char* got = v.is_null() ? "null" : v.is_string() ? "a string" : v.is_bool() ? "a boolean"
                    : v.is_number() ? "a number" : v.is_array() ? "an array" : "an object";
    return api_error{"invalid_type",
                     "Invalid type for '" + param + "': expected " + expected + ", but got " + got + " instead.",
                     param};
  }
  static std::optional<api_error> bad_value(const std::string& param, std::string_view value) {
    return api_error{"invalid_value", "Invalid value: '" + std::string(value) + "'.", param};
  }

  static std::optional<api_error> parse_format(dom::element v, const std::string& param, audio_format& f) {
    if (!v.is_object()) return bad_type(param, "an object", v);
    const auto type = str_field(v, "type");
    if (!type) return api_error{"missing_required_parameter", "Missing required parameter: '" + param + ".type'.",
                                param + ".type"};
    if (*type == "audio/pcmu") {
      f = audio_format::pcmu;
    } else if (*type == "audio/pcma") {
      f = audio_format::pcma;
    } else if (*type == "audio/pcm") {
      auto rate = field(v, "rate");
      if (!rate) return api_error{"missing_required_parameter", "Missing required parameter: '" + param + ".rate'.",
                                  param + ".rate"};
      double r = 0;
      if (rate->get(r) || r != 24000.0) return bad_value(param + ".rate", simdjson::minify(*rate));
      f = audio_format::pcm24k;
    } else {
      return bad_value(param + ".type", *type);
    }
    return std::nullopt;
  }

  static std::optional<api_error> parse_turn_detection(dom::element v, turn_detection_cfg& td) {
    const std::string p = "session.audio.input.turn_detection";
    if (v.is_null()) {
      td.enabled = false;
      return std::nullopt;
    }
    if (!v.is_object()) return bad_type(p, "an object", v);
    turn_detection_cfg n;
    const auto type = str_field(v, "type");
    if (!type) return api_error{"missing_required_parameter", "Missing required parameter: '" + p + ".type'.",
                                p + ".type"};
    if (*type != "server_vad" && *type != "semantic_vad") return bad_value(p + ".type", *type);
    n.type = std::string(*type);
    if (n.type == "semantic_vad") n.silence_duration_ms = 500;
    for (auto [key, val] : dom::object(v)) {
      const std::string k(key);
      const std::string kp = p + "." + k;
      if (k == "type") continue;
      if (k == "threshold") {
        if (val.get(n.threshold)) return bad_type(kp, "a number", val);
      } else if (k == "prefix_padding_ms" || k == "silence_duration_ms") {
        double d = 0;
        if (val.get(d)) return bad_type(kp, "an integer", val);
        (k == "prefix_padding_ms" ? n.prefix_padding_ms : n.silence_duration_ms) = static_cast<int>(d);
      } else if (k == "create_response" || k == "interrupt_response") {
        bool b = false;
        if (val.get(b)) return bad_type(kp, "a boolean", val);
        (k == "create_response" ? n.create_response : n.interrupt_response) = b;
      } else if (k == "idle_timeout_ms") {
        double d = 0;
        if (val.is_null()) n.idle_timeout_ms.reset();
        else if (val.get(d)) return bad_type(kp, "an integer", val);
        else n.idle_timeout_ms = static_cast<std::int64_t>(d);
      } else if (k == "eagerness") {
        std::string_view e;
        if (val.get(e)) return bad_type(kp, "a string", val);
        if (e != "low" && e != "medium" && e != "high" && e != "auto") return bad_value(kp, e);
        n.eagerness = std::string(e);
        if (n.type == "semantic_vad") n.silence_duration_ms = e == "low" ? 1000 : e == "high" ? 250 : 500;
      } else {
        return unknown(kp);
      }
    }
    td = n;
    return std::nullopt;
  }

  static std::optional<api_error> apply_session(dom::element s, session_cfg& c) {
    bool have_type = false;
    for (auto [key, val] : dom::object(s)) {
      const std::string k(key);
      const std::string kp = "session." + k;
      if (k == "type") {
        std::string_view t;
        if (val.get(t)) return bad_type(kp, "a string", val);
        if (t != "realtime") {
          return api_error{"invalid_value",
                           "Invalid value: '" + std::string(t) +
                               "'. This server only supports realtime sessions ('realtime').",
                           kp};
        }
        have_type = true;
      } else if (k == "model") {
        std::string_view m;
        if (val.get(m)) return bad_type(kp, "a string", val);
      } else if (k == "output_modalities") {
        dom::array a;
        if (val.get(a)) return bad_type(kp, "an array", val);
        std::vector<std::string> mods;
        for (dom::element e : a) {
          std::string_view m;
          if (e.get(m)) return bad_type(kp, "an array of strings", val);
          if (m != "audio" && m != "text") return bad_value(kp, m);
          mods.emplace_back(m);
        }
        if (mods.size() != 1) {
          return api_error{"invalid_value",
                           "Invalid value for 'session.output_modalities': exactly one of 'audio' or 'text' is "
                           "supported.",
                           kp};
        }
        c.output_modalities = mods;
      } else if (k == "instructions") {
        std::string_view i;
        if (val.get(i)) return bad_type(kp, "a string", val);
        c.instructions = std::string(i);
      } else if (k == "tools") {
        if (!val.is_array()) return bad_type(kp, "an array", val);
        c.tools_json = simdjson::minify(val);
      } else if (k == "tool_choice") {
        c.tool_choice_json = simdjson::minify(val);
      } else if (k == "max_output_tokens") {
        c.max_output_tokens_json = simdjson::minify(val);
      } else if (k == "tracing") {
        c.tracing_json = simdjson::minify(val);
      } else if (k == "truncation") {
        c.truncation_json = simdjson::minify(val);
      } else if (k == "prompt") {
        c.prompt_json = simdjson::minify(val);
      } else if (k == "include") {
        c.include_json = simdjson::minify(val);
      } else if (k == "reasoning" || k == "parallel_tool_calls") {
        // later models; accepted and ignored
      } else if (k == "audio") {
        if (!val.is_object()) return bad_type(kp, "an object", val);
        for (auto [akey, aval] : dom::object(val)) {
          const std::string ak(akey);
          const std::string akp = kp + "." + ak;
          if (!aval.is_object()) return bad_type(akp, "an object", aval);
          for (auto [dkey, dval] : dom::object(aval)) {
            const std::string dk(dkey);
            const std::string dkp = akp + "." + dk;
            if (ak == "input" && dk == "format") {
              if (auto e = parse_format(dval, dkp, c.in_format)) return e;
            } else if (ak == "input" && dk == "transcription") {
              if (dval.is_null()) {
                c.transcription_json = "null";
              } else if (!dval.is_object()) {
                return bad_type(dkp, "an object", dval);
              } else {
                json_object t;
                t.str("model", str_field(dval, "model").value_or("whisper-1"));
                if (auto l = str_field(dval, "language")) t.str("language", *l);
                t.str("prompt", str_field(dval, "prompt").value_or(""));
                c.transcription_json = t.done();
              }
            } else if (ak == "input" && dk == "noise_reduction") {
              if (!dval.is_null() && !dval.is_object()) return bad_type(dkp, "an object", dval);
              c.noise_reduction_json = simdjson::minify(dval);
            } else if (ak == "input" && dk == "turn_detection") {
              if (auto e = parse_turn_detection(dval, c.td)) return e;
            } else if (ak == "output" && dk == "format") {
              if (auto e = parse_format(dval, dkp, c.out_format)) return e;
            } else if (ak == "output" && dk == "voice") {
              if (!dval.is_string() && !dval.is_object()) return bad_type(dkp, "a string", dval);
              if (dval.is_string()) {
                static constexpr std::string_view voices[] = {"alloy", "ash",     "ballad", "coral", "echo",
                                                              "sage",  "shimmer", "verse",  "marin", "cedar"};
                const std::string_view v = dval.get_string().value_unsafe();
                if (std::find(std::begin(voices), std::end(voices), v) == std::end(voices))
                  return api_error{"invalid_value",
                                   "Invalid value: '" + std::string(v) +
                                       "'. Supported values are: 'alloy', 'ash', 'ballad', 'coral', 'echo', 'sage', "
                                       "'shimmer', 'verse', 'marin', and 'cedar'.",
                                   dkp};
              }
              c.voice_json = simdjson::minify(dval);
            } else if (ak == "output" && dk == "speed") {
              if (dval.get(c.speed)) return bad_type(dkp, "a number", dval);
            } else {
              return unknown(dkp);
            }
          }
          if (ak != "input" && ak != "output") return unknown(akp);
        }
      } else {
        // includes the beta top-level fields: modalities, voice, input_audio_format,
        // output_audio_format, turn_detection, input_audio_transcription,
        // input_audio_noise_reduction, temperature, max_response_output_tokens, speed
        return unknown(kp);
      }
    }
    if (!have_type) {
      return api_error{"missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type"};
    }
    return std::nullopt;
  }

  void on_session_update(dom::element root, const std::optional<std::string>& event_id) {
    auto s = field(root, "session");
    if (!s || !s->is_object()) {
      send_error({"missing_required_parameter", "Missing required parameter: 'session'.", "session"}, event_id);
      return;
    }
    session_cfg next = cfg_;
    if (auto e = apply_session(*s, next)) {
      send_error(*e, event_id);
      return;
    }
    if (audio_produced_ && next.voice_json != cfg_.voice_json) {
      send_error({"cannot_update_voice", "Cannot update a conversation's voice if assistant audio is present.",
                  "session.audio.output.voice"},
                 event_id);
      return;
    }
    if (next.in_format != cfg_.in_format) residual_.clear();
    if (!next.td.enabled || next.td.type != cfg_.td.type) reset_vad();
    cfg_ = std::move(next);
    send(json_object{}.str("type", "session.updated").str("event_id", eid()).raw("session", session_json()).done());
    configured_ = true;
    maybe_flood();
  }

  // ---------------------------------------------------------------- input audio + VAD

  void reset_vad() {
    speaking_ = false;
    speech_run_ = 0;
    silence_ms_ = 0;
  }

  void on_append(dom::element root, const std::optional<std::string>& event_id) {
    const auto audio = str_field(root, "audio");
    if (!audio) {
      send_error({"missing_required_parameter", "Missing required parameter: 'audio'.", "audio"}, event_id);
      return;
    }
    on_append_audio(*audio, event_id);
  }

  void on_append_audio(std::string_view audio, const std::optional<std::string>& event_id) {
    if (!from_base64(audio, scratch_)) {
      send_error({"invalid_value", "Invalid 'audio'. Expected base64-encoded audio bytes.", "audio"}, event_id);
      return;
    }
    const std::size_t frame = 20 * bytes_per_ms(cfg_.in_format);
    if (auto& probe = st_.opt.probe) {
      const int before = call_;
      // A bridge that batches caller audio sends several tagged frames per append.
      call_ = scratch_.size() > frame
                  ? probe->openai_append_frames(call_, scratch_.data(), scratch_.size(), frame, frame_tag::now_us())
                  : probe->openai_append(call_, audio, frame_tag::now_us());
      if (call_ != before) {
        st_.update(rec_, [&](session_record& r) { r.call_index = call_; });
        maybe_flood();
      }
    }
    const auto n = scratch_.size();
    record_append(n);
    buffer_bytes_ += n;
    const std::uint8_t* p = scratch_.data();
    std::size_t size = n;
    if (!residual_.empty()) {
      residual_.insert(residual_.end(), scratch_.begin(), scratch_.end());
      p = residual_.data();
      size = residual_.size();
    }
    std::size_t off = 0;
    while (size - off >= frame && !ended()) {
      const double level = level_dbfs_of(p + off, frame, cfg_.in_format);
      off += frame;
      on_frame(level);
    }
    if (p == scratch_.data()) {
      residual_.assign(scratch_.begin() + static_cast<std::ptrdiff_t>(off), scratch_.end());
    } else {
      residual_.erase(residual_.begin(), residual_.begin() + static_cast<std::ptrdiff_t>(off));
    }
  }

  void record_append(std::size_t n) {
    st_.update(rec_, [&](session_record& r) {
      r.appends += 1;
      r.appended_bytes += n;
    });
  }

  void on_frame(double level) {
    ++frames_;
    const std::int64_t end_ms = frames_ * 20;
    const std::int64_t start_ms = end_ms - 20;
    const auto& td = cfg_.td;
    if (!td.enabled) return;
    const bool speech = level > st_.opt.vad_threshold_dbfs;
    if (!speaking_) {
      if (!speech) {
        speech_run_ = 0;
        return;
      }
      if (speech_run_ == 0) speech_run_start_ = start_ms;
      ++speech_run_;
      if (speech_run_ * 20 < k_speech_start_ms) return;
      speaking_ = true;
      silence_ms_ = 0;
      pending_user_item_ = st_.ids.make("item_", 21);
      st_.update(rec_, [](session_record& r) { r.speech_started += 1; });
      send(json_object{}
               .str("type", "input_audio_buffer.speech_started")
               .str("event_id", eid())
               .num("audio_start_ms", std::max<std::int64_t>(0, speech_run_start_ - td.prefix_padding_ms))
               .str("item_id", pending_user_item_)
               .done());
      if (active_ && td.interrupt_response) finish_response("cancelled", "turn_detected");
      return;
    }
    if (speech) {
      silence_ms_ = 0;
      return;
    }
    silence_ms_ += 20;
    if (silence_ms_ < td.silence_duration_ms) return;
    reset_vad();
    const std::string item_id = pending_user_item_;
    send(json_object{}
             .str("type", "input_audio_buffer.speech_stopped")
             .str("event_id", eid())
             .num("audio_end_ms", end_ms)
             .str("item_id", item_id)
             .done());
    commit_user_audio(item_id);
    if (td.create_response && !active_) start_response(std::nullopt);
    flush_transcription();
  }

  void on_commit(const std::optional<std::string>& event_id) {
    const double ms = double(buffer_bytes_) / double(bytes_per_ms(cfg_.in_format));
    if (ms < 100.0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f", ms);
      send_error({"input_audio_buffer_commit_empty",
                  std::string("Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                              "audio, but buffer only has ") + buf + "ms of audio.",
                  std::nullopt},
                 event_id);
      return;
    }
    const std::string item_id = speaking_ ? pending_user_item_ : st_.ids.make("item_", 21);
    reset_vad();
    commit_user_audio(item_id);
    flush_transcription();
  }

  void commit_user_audio(const std::string& item_id) {
    const std::string prev = last_item_json();
    send(json_object{}
             .str("type", "input_audio_buffer.committed")
             .str("event_id", eid())
             .raw("previous_item_id", prev)
             .str("item_id", item_id)
             .done());
    conv_item ci;
    ci.id = item_id;
    ci.type = "message";
    ci.role = "user";
    ci.json = json_object{}
                  .str("id", item_id)
                  .str("type", "message")
                  .str("status", "completed")
                  .str("role", "user")
                  .raw("content", R"([{"type":"input_audio","transcript":null}])")
                  .done();
    conv_.push_back(ci);
    send_item_event("conversation.item.added", prev, ci.json);
    send_item_event("conversation.item.done", prev, ci.json);
    buffer_bytes_ = 0;
    const auto& ts = st_.opt.caller_transcripts;
    if (cfg_.transcription_json != "null" && !ts.empty()) {
      pending_transcription_ = {item_id, ts[user_turns_ % ts.size()]};
    }
    ++user_turns_;
  }

  void flush_transcription() {
    if (!pending_transcription_) return;
    auto [item_id, text] = std::move(*pending_transcription_);
    pending_transcription_.reset();
    send(json_object{}
             .str("type", "conversation.item.input_audio_transcription.delta")
             .str("event_id", eid())
             .str("item_id", item_id)
             .num("content_index", 0)
             .str("delta", text)
             .str("obfuscation", st_.ids.make("", 12))
             .done());
    const auto words = static_cast<std::int64_t>(split_words(text).size());
    send(json_object{}
             .str("type", "conversation.item.input_audio_transcription.completed")
             .str("event_id", eid())
             .str("item_id", item_id)
             .num("content_index", 0)
             .str("transcript", text)
             .raw("usage", json_object{}
                               .str("type", "tokens")
                               .num("total_tokens", 12 + words)
                               .num("input_tokens", 12)
                               .raw("input_token_details", R"({"text_tokens":0,"audio_tokens":12})")
                               .num("output_tokens", words)
                               .done())
             .done());
  }

  // ---------------------------------------------------------------- conversation items

  conv_item* find_item(const std::string& id) {
    for (auto& c : conv_)
      if (c.id == id) return &c;
    return nullptr;
  }

  std::string last_item_json() const { return conv_.empty() ? "null" : json_string(conv_.back().id); }

  void send_item_event(const char* type, const std::string& prev_json, const std::string& item_json) {
    send(json_object{}
             .str("type", type)
             .str("event_id", eid())
             .raw("previous_item_id", prev_json)
             .raw("item", item_json)
             .done());
  }

  void on_item_create(dom::element root, const std::optional<std::string>& event_id) {
    auto item = field(root, "item");
    if (!item || !item->is_object()) {
      send_error({"missing_required_parameter", "Missing required parameter: 'item'.", "item"}, event_id);
      return;
    }
    std::optional<std::string> previous;
    if (auto p = str_field(root, "previous_item_id")) {
      previous = std::string(*p);
      if (*previous != "root" && !find_item(*previous)) {
        send_error({"invalid_value",
                    "Invalid value: '" + *previous + "'. previous_item_id does not exist in the conversation.",
                    "previous_item_id"},
                   event_id);
        return;
      }
    }
    const auto type = str_field(*item, "type");
    if (!type) {
      send_error({"missing_required_parameter", "Missing required parameter: 'item.type'.", "item.type"}, event_id);
      return;
    }
    conv_item ci;
    ci.id = std::string(str_field(*item, "id").value_or(""));
    if (ci.id.empty()) ci.id = st_.ids.make("item_", 21);
    if (find_item(ci.id)) {
      send_error({"invalid_value", "Item with id '" + ci.id + "' already exists.", "item.id"}, event_id);
      return;
    }
    ci.type = std::string(*type);
    std::vector<std::string> user_texts;
    std::optional<std::pair<std::string, std::string>> fn_output;
    if (ci.type == "message") {
      const auto role = str_field(*item, "role");
      if (!role) {
        send_error({"missing_required_parameter", "Missing required parameter: 'item.role'.", "item.role"}, event_id);
        return;
      }
      if (*role != "user" && *role != "assistant" && *role != "system") {
        send_error(*bad_value("item.role", *role), event_id);
        return;
      }
      ci.role = std::string(*role);
      auto content = field(*item, "content");
      dom::array parts;
      if (!content || content->get(parts)) {
        send_error({"missing_required_parameter", "Missing required parameter: 'item.content'.", "item.content"},
                   event_id);
        return;
      }
      std::size_t idx = 0;
      for (dom::element part : parts) {
        const std::string ctype(str_field(part, "type").value_or(""));
        const auto text = str_field(part, "text");
        const std::string p = "item.content[" + std::to_string(idx) + "]";
        if ((ctype == "input_text" || ctype == "output_text" || ctype == "text") && !text) {
          send_error({"missing_required_parameter", "Missing required parameter: '" + p + ".text'.", p + ".text"},
                     event_id);
          return;
        }
        if (ci.role == "assistant" && ctype != "output_text" && ctype != "text") {
          send_error({"missing_required_parameter", "Missing required parameter: '" + p + ".text'.", p + ".text"},
                     event_id);
          return;
        }
        if (ci.role == "user" && ctype == "input_text") user_texts.emplace_back(*text);
        ++idx;
      }
      ci.json = json_object{}
                    .str("id", ci.id)
                    .str("type", "message")
                    .str("status", "completed")
                    .str("role", ci.role)
                    .raw("content", simdjson::minify(*content))
                    .done();
    } else if (ci.type == "function_call_output") {
      const auto call_id = str_field(*item, "call_id");
      const auto output = str_field(*item, "output");
      if (!call_id || !output) {
        const char* missing = !call_id ? "item.call_id" : "item.output";
        send_error({"missing_required_parameter", std::string("Missing required parameter: '") + missing + "'.",
                    missing},
                   event_id);
        return;
      }
      fn_output = {std::string(*call_id), std::string(*output)};
      ci.json = json_object{}
                    .str("id", ci.id)
                    .str("type", "function_call_output")
                    .str("call_id", *call_id)
                    .str("output", *output)
                    .done();
    } else if (ci.type == "function_call") {
      ci.json = json_object{}
                    .str("id", ci.id)
                    .str("type", "function_call")
                    .str("status", "completed")
                    .str("name", str_field(*item, "name").value_or(""))
                    .str("call_id", str_field(*item, "call_id").value_or(""))
                    .str("arguments", str_field(*item, "arguments").value_or(""))
                    .done();
    } else {
      send_error(*bad_value("item.type", ci.type), event_id);
      return;
    }
    st_.update(rec_, [&](session_record& r) {
      for (auto& t : user_texts) r.user_texts.push_back(t);
      if (fn_output) r.function_outputs.push_back(*fn_output);
    });
    std::string prev_json;
    if (previous && *previous == "root") {
      prev_json = "null";
      conv_.insert(conv_.begin(), ci);
    } else if (previous) {
      prev_json = json_string(*previous);
      auto it = std::find_if(conv_.begin(), conv_.end(), [&](const conv_item& c) { return c.id == *previous; });
      conv_.insert(it + 1, ci);
    } else {
      prev_json = last_item_json();
      conv_.push_back(ci);
    }
    send_item_event("conversation.item.added", prev_json, ci.json);
    send_item_event("conversation.item.done", prev_json, ci.json);
  }

  void on_item_retrieve(dom::element root, const std::optional<std::string>& event_id) {
    const std::string id(str_field(root, "item_id").value_or(""));
    const conv_item* ci = find_item(id);
    if (!ci) {
      send_error({"invalid_value", "Item with item_id not found: " + id, "item_id"}, event_id);
      return;
    }
    send(json_object{}.str("type", "conversation.item.retrieved").str("event_id", eid()).raw("item", ci->json).done());
  }

  void on_item_delete(dom::element root, const std::optional<std::string>& event_id) {
    const std::string id(str_field(root, "item_id").value_or(""));
    auto it = std::find_if(conv_.begin(), conv_.end(), [&](const conv_item& c) { return c.id == id; });
    if (it == conv_.end()) {
      send_error({"invalid_value", "Item with item_id not found: " + id, "item_id"}, event_id);
      return;
    }
    conv_.erase(it);
    st_.update(rec_, [&](session_record& r) { r.deleted_items.push_back(id); });
    send(json_object{}.str("type", "conversation.item.deleted").str("event_id", eid()).str("item_id", id).done());
  }

  void on_truncate(dom::element root, const std::optional<std::string>& event_id) {
    session_record::truncate_record tr;
    tr.item_id = std::string(str_field(root, "item_id").value_or(""));
    double end_ms = -1;
    auto end_el = field(root, "audio_end_ms");
    const bool have_end = end_el && !end_el->get(end_ms);
    tr.audio_end_ms = static_cast<std::int64_t>(end_ms);
    double content_index = 0;
    if (auto ci_el = field(root, "content_index"); ci_el && ci_el->get(content_index)) content_index = -1;
    conv_item* ci = find_item(tr.item_id);
    if (ci) {
      tr.item_audio_ms = static_cast<std::int64_t>(ci->audio_bytes / 8);
      tr.item_sent_ms = static_cast<std::int64_t>(ci->sent_bytes / 8);
    }
    std::optional<api_error> err;
    if (!have_end) {
      err = api_error{"missing_required_parameter", "Missing required parameter: 'audio_end_ms'.", "audio_end_ms"};
    } else if (!ci) {
      err = api_error{"invalid_value", "Item with item_id not found: " + tr.item_id, "item_id"};
    } else if (!(ci->type == "message" && ci->role == "assistant" && ci->assistant_audio && ci->audio_bytes > 0)) {
      err = api_error{"unsupported_content_type", "Only model output audio messages can be truncated", "item_id"};
    } else if (content_index != 0) {
      err = api_error{"invalid_value", "Invalid value: content_index " + std::to_string(int(content_index)) +
                                           " does not exist for this item.",
                      "content_index"};
    } else if (end_ms < 0) {
      err = api_error{"invalid_value", "Invalid 'audio_end_ms': must be a non-negative integer.", "audio_end_ms"};
    } else if (tr.audio_end_ms > tr.item_audio_ms) {
      err = api_error{"invalid_value",
                      "Audio content of " + std::to_string(tr.item_audio_ms) + "ms is already shorter than " +
                          std::to_string(tr.audio_end_ms) + "ms",
                      "audio_end_ms"};
    }
    tr.accepted = !err;
    st_.update(rec_, [&](session_record& r) { r.truncates.push_back(tr); });
    if (err) {
      send_error(*err, event_id);
      return;
    }
    ci->audio_bytes = static_cast<std::uint64_t>(tr.audio_end_ms) * 8;
    send(json_object{}
             .str("type", "conversation.item.truncated")
             .str("event_id", eid())
             .str("item_id", tr.item_id)
             .num("content_index", 0)
             .num("audio_end_ms", tr.audio_end_ms)
             .done());
  }

  // ---------------------------------------------------------------- responses

  void on_response_create(dom::element root, const std::optional<std::string>& event_id) {
    if (active_) {
      send_error({"conversation_already_has_active_response",
                  "Conversation already has an active response in progress: " + active_->id +
                      ". Wait until the response is finished before creating a new one.",
                  std::nullopt},
                 event_id);
      return;
    }
    start_response(field(root, "response"));
  }

  void on_response_cancel(dom::element root, const std::optional<std::string>& event_id) {
    const auto rid = str_field(root, "response_id");
    if (!active_ || (rid && !rid->empty() && *rid != active_->id)) {
      send_error({"response_cancel_not_active", "Cancellation failed: no active response found", std::nullopt},
                 event_id);
      return;
    }
    finish_response("cancelled", "client_cancelled");
  }

  resp_item make_spoken(const scripted_response& sr, int index, bool text_mode) {
    resp_item it;
    it.id = st_.ids.make("item_", 21);
    it.output_index = index;
    it.transcript = sr.transcript;
    it.pieces = split_words(sr.transcript);
    it.chunk_bytes = static_cast<std::size_t>(std::max(1, st_.opt.chunk_ms)) * 8;
    if (text_mode) {
      it.chunks_total = std::max<std::size_t>(1, it.pieces.size());
    } else {
      it.audio = sr.audio.empty() ? tone(sr.audio_ms) : sr.audio;
      it.chunks_total = (it.audio.size() + it.chunk_bytes - 1) / it.chunk_bytes;
    }
    return it;
  }

  void start_response(std::optional<dom::element> params) {
    const auto by_model = st_.opt.scripts_by_model.find(cfg_.model);
    const auto& script = by_model == st_.opt.scripts_by_model.end() ? st_.opt.script : by_model->second;
    static const scripted_response fallback{};
    const scripted_response& sr = script.empty() ? fallback : script[responses_ % script.size()];
    ++responses_;

    response_state r;
    r.id = st_.ids.make("resp_", 21);
    r.number = static_cast<std::uint16_t>(responses_ - 1);
    std::vector<std::string> modalities = cfg_.output_modalities;
    if (params && params->is_object()) {
      if (auto m = field(*params, "metadata")) r.metadata_json = simdjson::minify(*m);
      dom::array mods;
      if (auto m = field(*params, "output_modalities"); m && !m->get(mods)) {
        std::vector<std::string> v;
        for (dom::element e : mods) {
          std::string_view s;
          if (!e.get(s)) v.emplace_back(s);
        }
        if (v.size() == 1) modalities = v;
      }
    }
    r.text_mode = modalities.size() == 1 && modalities[0] == "text";
    r.close_mid = failing_ && responses_ == 1 && !r.text_mode &&
                  (st_.opt.failure == failure_mode::close_mid_response ||
                   st_.opt.failure == failure_mode::reset_mid_response ||
                   st_.opt.failure == failure_mode::server_error_mid_response ||
                   st_.opt.failure == failure_mode::expire_mid_response);

    int index = 0;
    const bool spoken = !(sr.audio.empty() && sr.audio_ms <= 0 && sr.transcript.empty());
    if (spoken) {
      r.items.push_back(make_spoken(sr, index++, r.text_mode));
      if (sr.two_audio_items) r.items.push_back(make_spoken(sr, index++, r.text_mode));
    }
    if (sr.function_call) {
      resp_item fc;
      fc.id = st_.ids.make("item_", 21);
      fc.output_index = index++;
      fc.is_call = true;
      fc.name = sr.function_call->first;
      fc.arguments = sr.function_call->second;
      fc.call_id = st_.ids.make("call_", 16);
      r.items.push_back(std::move(fc));
    }
    st_.update(rec_, [&](session_record& rec) {
      rec.responses += 1;
      if (st_.opt.probe && rec.response_tallies.size() <= r.number)
        rec.response_tallies.resize(std::size_t{r.number} + 1);
    });
    if (st_.opt.probe) st_.opt.probe->openai_response_started(call_, r.number);
    active_ = std::move(r);
    response_modalities_ = modalities;
    send(json_object{}
             .str("type", "response.created")
             .str("event_id", eid())
             .raw("response", response_json("in_progress", "null", "[]", "null"))
             .done());
    schedule(std::chrono::duration_cast<std::chrono::microseconds>(st_.opt.first_audio_delay).count());
  }

  std::string response_json(const char* status, const std::string& details, const std::string& output,
                            const std::string& usage) const {
    const auto& r = *active_;
    return json_object{}
        .str("object", "realtime.response")
        .str("id", r.id)
        .str("status", status)
        .raw("status_details", details)
        .raw("output", output)
        .str("conversation_id", conversation_id_)
        .raw("output_modalities", modalities_json(response_modalities_))
        .raw("max_output_tokens", cfg_.max_output_tokens_json)
        .raw("audio", json_object{}
                          .raw("output", json_object{}
                                             .raw("format", format_json(cfg_.out_format))
                                             .raw("voice", cfg_.voice_json)
                                             .done())
                          .done())
        .raw("usage", usage)
        .raw("metadata", r.metadata_json)
        .done();
  }

  void schedule(std::int64_t us) {
    if (st_.timers) {
      st_.timers->schedule(tick_timer_, clock::now() + std::chrono::microseconds(std::max<std::int64_t>(0, us)));
      return;
    }
    lws_sul_schedule(st_.ctx, 0, &timer_.sul, &session::on_timer, std::max<std::int64_t>(0, us));
  }

  void cancel_timer() {
    lws_sul_cancel(&timer_.sul);
    if (st_.timers) st_.timers->cancel(tick_timer_);
  }

  static void on_tick_timer(service_timers::timer& t) {
    try {
      static_cast<session*>(t.owner)->tick();
    } catch (const std::exception& e) {
      lwsl_err("fake_openai: tick: %s\n", e.what());
    } catch (...) {
      lwsl_err("fake_openai: tick: unknown exception\n");
    }
  }

  static void on_timer(lws_sorted_usec_list_t* sul) {
    auto* holder = reinterpret_cast<timer_holder*>(sul);
    try {
      holder->self->tick();
    } catch (const std::exception& e) {
      lwsl_err("fake_openai: tick: %s\n", e.what());
    } catch (...) {
      lwsl_err("fake_openai: tick: unknown exception\n");
    }
  }

  std::int64_t chunk_interval_us() const {
    if (st_.opt.speed <= 0) return 0;
    return static_cast<std::int64_t>(double(std::max(1, st_.opt.chunk_ms)) * 1000.0 / st_.opt.speed);
  }

  std::string common(const response_state& r, const resp_item& it) const {
    // "response_id":…,"item_id":…,"output_index":…,"content_index":0 (without braces)
    std::string s = json_object{}
                        .str("response_id", r.id)
                        .str("item_id", it.id)
                        .num("output_index", it.output_index)
                        .num("content_index", 0)
                        .done();
    return s.substr(1, s.size() - 2);
  }

  void tick() {
    if (!flooding()) {
      step();
      return;
    }
    // Flood: as many steps as the window allows; the next response follows
    // at once; a full window waits for the caller's acknowledgements.
    for (;;) {
      if (!active_ || ended()) return;
      if (!st_.opt.probe->openai_may_send(call_)) {
        flood_blocked_ = true;
        return;
      }
      if (!step()) return;
      if (!active_) maybe_flood();
    }
  }

  /// One step of the active response: the next chunk (or call item), and the
  /// end of the response after the last one. Paced: schedules the next step.
  /// Returns false when there is nothing more to do now.
  bool step() {
    if (!active_ || ended()) return false;
    response_state& r = *active_;
    if (r.cur < r.items.size()) {
      resp_item& it = r.items[r.cur];
      if (it.is_call) {
        emit_call(r, it);
        ++r.cur;
      } else {
        if (!it.started) emit_item_start(r, it);
        emit_chunk(r, it);
        if (r.close_mid && it.chunks_sent >= std::max<std::size_t>(1, it.chunks_total / 2)) {
          active_.reset();
          fail_mid_response();
          return false;
        }
        if (it.chunks_sent >= it.chunks_total) {
          emit_item_done(r, it, "completed");
          ++r.cur;
        }
      }
    }
    if (r.cur >= r.items.size()) {
      finish_response("completed", "");
      return true;
    }
    if (!flooding()) schedule(chunk_interval_us());
    return true;
  }

  /// A new output item of response `r`: response.output_item.added, the item
  /// joins the conversation (`ci` with its id and JSON filled in here), then
  /// conversation.item.added.
  void announce_item(const response_state& r, const resp_item& it, const std::string& item_json, conv_item ci) {
    send(json_object{}
             .str("type", "response.output_item.added")
             .str("event_id", eid())
             .str("response_id", r.id)
             .num("output_index", it.output_index)
             .raw("item", item_json)
             .done());
    ci.id = it.id;
    ci.json = item_json;
    conv_.push_back(std::move(ci));
    send_item_event("conversation.item.added", it.previous_item_id_json, item_json);
  }

  void emit_item_start(response_state& r, resp_item& it) {
    it.previous_item_id_json = last_item_json();
    const std::string item_json = json_object{}
                                      .str("id", it.id)
                                      .str("type", "message")
                                      .str("status", "in_progress")
                                      .str("role", "assistant")
                                      .raw("content", "[]")
                                      .done();
    conv_item ci;
    ci.type = "message";
    ci.role = "assistant";
    ci.assistant_audio = !r.text_mode;
    announce_item(r, it, item_json, std::move(ci));
    send("{\"type\":\"response.content_part.added\",\"event_id\":" + json_string(eid()) + "," + common(r, it) +
         ",\"part\":" + (r.text_mode ? R"({"type":"text","text":""})" : R"({"type":"audio","transcript":""})") + "}");
    it.started = true;
  }

  void emit_chunk(response_state& r, resp_item& it) {
    const std::size_t k = it.chunks_sent;
    const std::size_t np = it.pieces.size();
    const std::size_t due = it.chunks_total == 0 ? np : ((k + 1) * np + it.chunks_total - 1) / it.chunks_total;
    while (it.pieces_sent < std::min(due, np)) {
      const std::string& piece = it.pieces[it.pieces_sent++];
      it.text_so_far += piece;
      ++r.text_pieces_out;
      if (r.text_mode) {
        send("{\"type\":\"response.output_text.delta\",\"event_id\":" + json_string(eid()) + "," + common(r, it) +
             ",\"delta\":" + json_string(piece) + "}");
      } else {
        send("{\"type\":\"response.output_audio_transcript.delta\",\"event_id\":" + json_string(eid()) + "," +
             common(r, it) + ",\"delta\":" + json_string(piece) +
             ",\"obfuscation\":" + json_string(st_.ids.make("", 8 + it.pieces_sent % 7)) + "}");
      }
    }
    if (it.chunks_total == 0) return;
    if (!r.text_mode) {
      const std::size_t off = k * it.chunk_bytes;
      const std::size_t n = std::min(it.chunk_bytes, it.audio.size() - off);
      auto bytes = convert_output(it.audio.data() + off, n, cfg_.out_format);
      if (conv_item* ci = find_item(it.id)) ci->audio_bytes += n;
      r.audio_bytes_out += n;
      audio_produced_ = true;
      std::optional<frame_tag::tag> tag;
      if (st_.opt.probe && call_ >= 0 && cfg_.out_format == audio_format::pcmu &&
          bytes.size() >= frame_tag::tag_bytes) {
        tag = frame_tag::tag{frame_tag::direction::ai,
                             static_cast<std::uint16_t>(call_),
                             ai_seq_++,
                             r.number,
                             static_cast<std::uint16_t>(r.deltas),
                             0};
        frame_tag::encode(*tag, bytes.data());  // the time is stamped at the write
      }
      ++r.deltas;
      std::string head = "{\"type\":\"response.output_audio.delta\",\"event_id\":" + json_string(eid()) + "," +
                         common(r, it) + ",\"delta\":\"";
      const std::size_t tag_at = head.size();
      send(std::move(head) + to_base64(bytes.data(), bytes.size()) + "\"}", it.id, n, tag, tag_at);
    }
    ++it.chunks_sent;
  }

  void emit_item_done(response_state& r, resp_item& it, const char* status) {
    const std::string& text = it.text_so_far;
    std::string content;
    if (r.text_mode) {
      send("{\"type\":\"response.output_text.done\",\"event_id\":" + json_string(eid()) + "," + common(r, it) +
           ",\"text\":" + json_string(text) + "}");
      send("{\"type\":\"response.content_part.done\",\"event_id\":" + json_string(eid()) + "," + common(r, it) +
           ",\"part\":" + json_object{}.str("type", "text").str("text", text).done() + "}");
      content = "[" + json_object{}.str("type", "output_text").str("text", text).done() + "]";
    } else {
      send("{\"type\":\"response.output_audio.done\",\"event_id\":" + json_string(eid()) + "," + common(r, it) + "}");
      send("{\"type\":\"response.output_audio_transcript.done\",\"event_id\":" + json_string(eid()) + "," +
           common(r, it) + ",\"transcript\":" + json_string(text) + "}");
      send("{\"type\":\"response.content_part.done\",\"event_id\":" + json_string(eid()) + "," + common(r, it) +
           ",\"part\":" + json_object{}.str("type", "audio").str("transcript", text).done() + "}");
      content = "[" + json_object{}.str("type", "output_audio").str("transcript", text).done() + "]";
    }
    it.final_json = json_object{}
                        .str("id", it.id)
                        .str("type", "message")
                        .str("status", status)
                        .str("role", "assistant")
                        .raw("content", content)
                        .done();
    if (conv_item* ci = find_item(it.id)) ci->json = it.final_json;
    send(json_object{}
             .str("type", "response.output_item.done")
             .str("event_id", eid())
             .str("response_id", r.id)
             .num("output_index", it.output_index)
             .raw("item", it.final_json)
             .done());
    send_item_event("conversation.item.done", it.previous_item_id_json, it.final_json);
    it.done = true;
  }

  void emit_call(response_state& r, resp_item& it) {
    it.previous_item_id_json = last_item_json();
    auto item = [&](const char* status, std::string_view args) {
      return json_object{}
          .str("id", it.id)
          .str("type", "function_call")
          .str("status", status)
          .str("name", it.name)
          .str("call_id", it.call_id)
          .str("arguments", args)
          .done();
    };
    const std::string added = item("in_progress", "");
    conv_item ci;
    ci.type = "function_call";
    announce_item(r, it, added, std::move(ci));
    // stream the arguments in about three pieces, never splitting a UTF-8 sequence
    const std::string& a = it.arguments;
    std::size_t pos = 0;
    const std::size_t step = std::max<std::size_t>(1, (a.size() + 2) / 3);
    while (pos < a.size()) {
      std::size_t end = std::min(a.size(), pos + step);
      while (end < a.size() && (static_cast<unsigned char>(a[end]) & 0xC0) == 0x80) ++end;
      send(json_object{}
               .str("type", "response.function_call_arguments.delta")
               .str("event_id", eid())
               .str("response_id", r.id)
               .str("item_id", it.id)
               .num("output_index", it.output_index)
               .str("call_id", it.call_id)
               .str("delta", std::string_view(a).substr(pos, end - pos))
               .done());
      pos = end;
    }
    send(json_object{}
             .str("type", "response.function_call_arguments.done")
             .str("event_id", eid())
             .str("response_id", r.id)
             .str("item_id", it.id)
             .num("output_index", it.output_index)
             .str("call_id", it.call_id)
             .str("name", it.name)
             .str("arguments", a)
             .done());
    it.final_json = item("completed", a);
    if (conv_item* c = find_item(it.id)) c->json = it.final_json;
    send(json_object{}
             .str("type", "response.output_item.done")
             .str("event_id", eid())
             .str("response_id", r.id)
             .num("output_index", it.output_index)
             .raw("item", it.final_json)
             .done());
    send_item_event("conversation.item.done", it.previous_item_id_json, it.final_json);
    it.started = true;
    it.done = true;
  }

  void finish_response(const char* status, const char* reason) {
    if (!active_) return;
    cancel_timer();
    response_state& r = *active_;
    if (r.cur < r.items.size()) {
      resp_item& it = r.items[r.cur];
      if (it.started && !it.done) emit_item_done(r, it, "incomplete");
    }
    std::string output = "[";
    bool first = true;
    for (const auto& it : r.items) {
      if (!it.done) continue;
      if (!first) output += ',';
      first = false;
      output += it.final_json;
    }
    output += ']';
    const bool completed = std::strcmp(status, "completed") == 0;
    const std::string details =
        completed ? "null" : json_object{}.str("type", status).str("reason", reason).done();
    const auto audio_tokens = static_cast<std::int64_t>(r.audio_bytes_out / 8 / 50);
    const auto text_tokens = static_cast<std::int64_t>(r.text_pieces_out);
    const std::int64_t input_text = 420 + 40 * static_cast<std::int64_t>(conv_.size());
    const std::int64_t input_audio = 10 * static_cast<std::int64_t>(user_turns_);
    const std::int64_t input = input_text + input_audio;
    const std::int64_t output_tokens = audio_tokens + text_tokens;
    const std::string usage =
        json_object{}
            .num("total_tokens", input + output_tokens)
            .num("input_tokens", input)
            .num("output_tokens", output_tokens)
            .raw("input_token_details",
                 json_object{}
                     .num("text_tokens", input_text)
                     .num("audio_tokens", input_audio)
                     .num("image_tokens", 0)
                     .num("cached_tokens", 0)
                     .raw("cached_tokens_details", R"({"text_tokens":0,"audio_tokens":0,"image_tokens":0})")
                     .done())
            .raw("output_token_details",
                 json_object{}.num("text_tokens", text_tokens).num("audio_tokens", audio_tokens).done())
            .done();
    send(json_object{}
             .str("type", "response.done")
             .str("event_id", eid())
             .raw("response", response_json(status, details, output, usage))
             .done());
    st_.rate_limit_remaining = std::max<std::int64_t>(0, st_.rate_limit_remaining - input - output_tokens);
    if (st_.rate_limit_remaining < 1000) st_.rate_limit_remaining = 40000;
    send(json_object{}
             .str("type", "rate_limits.updated")
             .str("event_id", eid())
             .raw("rate_limits", "[" +
                                     json_object{}
                                         .str("name", "tokens")
                                         .num("limit", 40000)
                                         .num("remaining", st_.rate_limit_remaining)
                                         .dbl("reset_seconds", 2.265)
                                         .done() +
                                     "]")
             .done());
    if (!completed) st_.update(rec_, [](session_record& rec) { rec.responses_cancelled += 1; });
    if (st_.opt.probe) {
      st_.opt.probe->openai_response_finished(call_, r.number, !completed);
      st_.update(rec_, [&](session_record& rec) {
        if (rec.response_tallies.size() <= r.number) rec.response_tallies.resize(std::size_t{r.number} + 1);
        rec.response_tallies[r.number].cancelled = !completed;
        rec.response_tallies[r.number].finished = true;
      });
    }
    active_.reset();
  }

  // ---------------------------------------------------------------- state

  static constexpr int k_speech_start_ms = 60;

  server_state& st_;
  lws* wsi_;
  std::size_t rec_;
  timer_holder timer_{};
  service_timers::timer tick_timer_{};  // instead of timer_ with options.ticker_timers
  std::deque<out_msg> out_;
  bool silent_ = false;
  bool fatal_ = false;
  bool close_pending_ = false;
  bool reset_pending_ = false;  // reset_mid_response: reset instead of closing
  bool failing_ = true;         // the failure mode applies to this session
  int close_code_ = 1000;
  std::string close_reason_;

  session_cfg cfg_;
  std::string conversation_id_;
  std::vector<conv_item> conv_;
  bool audio_produced_ = false;

  std::vector<std::uint8_t> scratch_;
  std::vector<std::uint8_t> residual_;
  std::uint64_t buffer_bytes_ = 0;
  std::int64_t frames_ = 0;
  bool speaking_ = false;
  int speech_run_ = 0;
  std::int64_t speech_run_start_ = 0;
  int silence_ms_ = 0;
  std::string pending_user_item_;
  std::optional<std::pair<std::string, std::string>> pending_transcription_;
  std::size_t user_turns_ = 0;

  std::optional<response_state> active_;
  std::vector<std::string> response_modalities_;
  std::size_t responses_ = 0;

  // benchmarks (options.probe)
  int call_ = -1;               // from the inbound frame tags
  std::uint32_t ai_seq_ = 0;    // tagged deltas so far
  bool configured_ = false;     // a session.update was applied
  bool flood_blocked_ = false;  // flood mode: waiting for the caller's acknowledgements
};

void destroy_session(pss_t* pss) {
  if (!pss || !pss->s) return;
  auto& live = pss->s->state().live;
  live.erase(std::remove(live.begin(), live.end(), pss->s), live.end());
  pss->s->on_closed();
  delete pss->s;
  pss->s = nullptr;
}

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
  try {
    auto* pss = static_cast<pss_t*>(user);
    switch (reason) {
      case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        // Runs on protocols[0] (ours) while the headers are still attached.
        server_state* st = state_of(wsi);
        if (header(wsi, WSI_TOKEN_GET_URI) != "/v1/realtime") {
          lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, nullptr);
          return 1;
        }
        if (st->opt.failure == failure_mode::refuse_upgrade) {
          {
            std::lock_guard<std::mutex> lock(st->mu);
            st->refused += 1;
          }
          lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, nullptr);
          return 1;
        }
        return 0;
      }
      case LWS_CALLBACK_ESTABLISHED: {
        // The last moment the upgrade request's headers are available.
        server_state* st = state_of(wsi);
        if (!pss) return -1;
        session_record rec;
        std::string model;
        rec.path = request_path(wsi, &model);
        rec.authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
        rec.host = header(wsi, WSI_TOKEN_HOST);
        rec.origin_header = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0;
        rec.beta_header = lws_hdr_custom_length(wsi, "openai-beta:", 12) >= 0;
        std::size_t idx = 0;
        {
          std::lock_guard<std::mutex> lock(st->mu);
          idx = st->records.size();
          st->records.push_back(rec);
          st->opened += 1;
        }
        pss->s = new session(*st, wsi, idx);
        st->live.push_back(pss->s);
        pss->s->start(model, rec.authorization, rec.beta_header);
        return 0;
      }
      case LWS_CALLBACK_RECEIVE: {
        if (!pss || !pss->s) return 0;
        session* s = pss->s;
        if (in && len) s->rx.append(static_cast<const char*>(in), len);
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
          std::string msg;
          msg.swap(s->rx);
          s->on_message(msg);
        }
        return 0;
      }
      case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss || !pss->s) return 0;
        return pss->s->on_writeable();
      case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (pss && pss->s) pss->s->on_peer_close(in, len);
        return 0;
      case LWS_CALLBACK_CLOSED:
        destroy_session(pss);
        return 0;
      case LWS_CALLBACK_WSI_DESTROY:
        // Sent to protocols[0] (ours) for every wsi; a session still here
        // never got CLOSED.
        destroy_session(pss);
        return 0;
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        // lws_cancel_service(): the probe's waker (flood mode) or shutdown.
        server_state* st = static_cast<server_state*>(lws_context_user(lws_get_context(wsi)));
        if (st && st->timers) st->timers->run_due(clock::now());
        if (st && st->opt.probe) {
          const std::vector<session*> live = st->live;  // resume_flood may close a session
          for (session* s : live) s->resume_flood();
        }
        return 0;
      }
      default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  } catch (const std::exception& e) {
    lwsl_err("fake_openai: callback %d: %s\n", static_cast<int>(reason), e.what());
    return -1;
  } catch (...) {
    lwsl_err("fake_openai: callback %d: unknown exception\n", static_cast<int>(reason));
    return -1;
  }
}

}  // namespace

// ============================================================================
// fake_openai
// ============================================================================

struct fake_openai::impl {
  server_state st;
};

fake_openai::fake_openai(fake_openai_options options) : impl_(std::make_unique<impl>()) {
  server_state& st = impl_->st;
  st.opt = std::move(options);
  if (st.opt.script.empty()) st.opt.script.emplace_back();
  if (st.opt.cert_file.empty() != st.opt.key_file.empty())
    throw std::runtime_error("fake_openai: cert_file and key_file must be given together");

  if (auto problem = bind_problem(st.opt.bind, st.opt.port); !problem.empty())
    throw std::runtime_error("fake_openai: cannot listen on " + st.opt.bind + ":" + std::to_string(st.opt.port) +
                             ": " + problem);

  st.protocols[0] = lws_protocols{
      .name = "openai-realtime",
      .callback = &callback,
      .per_session_data_size = sizeof(pss_t),
      .rx_buffer_size = 65536,
      .id = 0,
      .user = nullptr,
      .tx_packet_size = 0,
  };
  st.protocols[1] = lws_protocols{nullptr, nullptr, 0, 0, 0, nullptr, 0};

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = st.opt.port;
  info.iface = st.opt.bind.empty() ? nullptr : st.opt.bind.c_str();
  info.protocols = st.protocols;
  info.user = &st;
  info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  if (!st.opt.cert_file.empty()) {
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = st.opt.cert_file.c_str();
    info.ssl_private_key_filepath = st.opt.key_file.c_str();
    info.alpn = "http/1.1";
    // DO_SSL_GLOBAL_INIT makes lws build a client SSL_CTX for the vhost too,
    // loading the whole OS CA store, and 4.1.6 leaks that SSL_CTX at destroy
    // when another TLS context was created after this one (it re-assigns its
    // global SSL_CTX ex_data index per context, then cannot find its own
    // bookkeeping). The fake never connects out, so give lws a bare client
    // SSL_CTX that it leaves alone ("user supplied") and free it ourselves.
    st.client_ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!st.client_ssl_ctx) throw std::runtime_error("fake_openai: SSL_CTX_new failed");
    info.provided_client_ssl_ctx = st.client_ssl_ctx;
  }

  st.runner =
      lws_adapter::make_loop_runner(st.opt.epoll ? lws_adapter::event_loop::libev : lws_adapter::event_loop::poll,
                                    st.runner_timers);
  st.ctx = st.runner->prepare(info) ? lws_create_context(&info) : nullptr;
  if (!st.ctx) {
    if (st.client_ssl_ctx) SSL_CTX_free(st.client_ssl_ctx);
    st.client_ssl_ctx = nullptr;
    throw std::runtime_error("fake_openai: cannot listen on " + st.opt.bind + ":" + std::to_string(st.opt.port) +
                             (st.opt.cert_file.empty() ? "" : " (or TLS setup failed)"));
  }
  lws_vhost* vh = lws_get_vhost_by_name(st.ctx, "default");
  st.port = vh ? lws_get_vhost_listen_port(vh) : -1;
  if (st.port <= 0) {
    st.runner->destroy(st.ctx);
    if (st.client_ssl_ctx) SSL_CTX_free(st.client_ssl_ctx);
    st.client_ssl_ctx = nullptr;
    throw std::runtime_error("fake_openai: no listening port");
  }
  if (st.opt.ticker_timers) st.timers = std::make_unique<service_timers>(st.ctx);
  if (st.opt.probe) {
    lws_context* ctx = st.ctx;
    st.opt.probe->set_openai_waker([ctx] { lws_cancel_service(ctx); });
  }
  server_state* sp = &st;
  // The runner destroys the context on this thread when told to stop
  // (closing the sessions: their CLOSED callbacks run there).
  st.thread = std::thread([sp] {
    sp->runner->run(sp->ctx, sp->stop);
    sp->runner->destroy(sp->ctx);
  });
}

fake_openai::~fake_openai() {
  server_state& st = impl_->st;
  if (st.opt.probe) st.opt.probe->set_openai_waker(nullptr);
  if (st.timers) st.timers->stop();  // it wakes the context: stopped before the context goes
  st.stop.store(true);
  if (st.ctx) st.runner->wake(st.ctx);
  if (st.thread.joinable()) st.thread.join();
  if (st.client_ssl_ctx) SSL_CTX_free(st.client_ssl_ctx);
  st.client_ssl_ctx = nullptr;
}

int fake_openai::port() const noexcept { return impl_->st.port; }

bool fake_openai::tls() const noexcept { return !impl_->st.opt.cert_file.empty(); }

std::string fake_openai::url(const std::string& model) const {
  const auto& st = impl_->st;
  std::string host = st.opt.bind;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(tls() ? "wss://" : "ws://") + host + ":" + std::to_string(st.port) +
         "/v1/realtime?model=" + model;
}

std::vector<session_record> fake_openai::sessions() const {
  std::lock_guard<std::mutex> lock(impl_->st.mu);
  return impl_->st.records;
}

std::size_t fake_openai::sessions_opened() const {
  std::lock_guard<std::mutex> lock(impl_->st.mu);
  return impl_->st.opened;
}

std::size_t fake_openai::upgrades_refused() const {
  std::lock_guard<std::mutex> lock(impl_->st.mu);
  return impl_->st.refused;
}

bool fake_openai::wait_for(const std::function<bool(const std::vector<session_record>&)>& done,
                           std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done(sessions())) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace rtb::peers
