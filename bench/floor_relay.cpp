// floor-relay: the "physical floor" of the performance benchmark.
//
//   floor-relay --openai-url ws://127.0.0.1:PORT/v1/realtime?model=x
//               [--port P] [--bind ADDR] [--event-loop poll|uv|ev] [--lws-log MASK]
//
// The bridge's CPU cost per call is compared with this: a deliberately minimal
// relay doing the same job (Twilio Media Stream <-> OpenAI Realtime, µ-law
// both ways) on the same stack (libwebsockets 4.1.6, one service thread, one
// lws_context), with none of the bridge's work on top: no JSON parsing, no
// state machines, no marks, no barge-in accounting, no trace. What is left is
// the cost of the sockets, the WebSocket framing and lws itself, which no
// relay on this stack can go below.
//
// Once listening it prints exactly one line, "floor-relay listening on port N",
// to stdout and flushes it (--port 0, the default, picks a free port), so a
// parent process can read the port. It exits on SIGTERM or SIGINT, at once,
// without closing anything: it is a benchmark tool killed by its parent.
//
// Per call (any path; Twilio sends no subprotocol, so the Twilio protocol is
// protocols[0]):
//   - when the Twilio WebSocket is established, a client WebSocket to
//     --openai-url is opened (plain ws://, loopback only) with
//     "Authorization: Bearer floor", and one fixed session.update (µ-law both
//     ways, server VAD that creates and interrupts responses) is queued
//     first on it, so it is the first thing OpenAI reads once connected;
//   - Twilio `start`: the streamSid is kept; `media`: its payload goes to
//     OpenAI as input_audio_buffer.append (queued until OpenAI is connected);
//     `stop`: both sockets close; anything else is ignored;
//   - OpenAI `response.output_audio.delta` (or the beta name
//     `response.audio.delta`): the delta goes to Twilio as `media` (dropped
//     before `start`); `input_audio_buffer.speech_started`: a Twilio `clear`;
//     anything else is ignored.
// Fields are found by substring search (`"event":"`, `"type":"`,
// `"streamSid":"`, `"payload":"`, `"delta":"`), taking the first occurrence
// and the text up to the next quote: enough for the peers' real messages,
// whose type comes first and whose base64 never contains a quote or a
// backslash. The peers are trusted: a value with an escaped quote would be
// cut short and relayed broken.
//
// The lws pattern is the classic one, on purpose ("the floor" means no
// optimisation beyond it):
//   - receive: fragments are appended to a per-leg buffer (reused) until
//     lws_is_final_fragment() and no payload remains, then the message is
//     handled;
//   - send: each leg has a FIFO of preformatted messages, each with LWS_PRE
//     bytes of headroom; the slots are recycled std::strings, so steady state
//     allocates nothing. Queueing calls lws_callback_on_writable(); each
//     WRITEABLE callback does exactly one lws_write() and asks for another if
//     more is queued. There is no backpressure: the queues are unbounded
//     (the benchmark's peers are real-time);
//   - lifetime: one heap `call` holds both legs; both wsis point at it through
//     lws' opaque user data. When one leg closes (or Twilio says `stop`), the
//     other is asked to close: when it is established, by a flag and WRITEABLE
//     callbacks that drain its queue, then write a close frame (1000) and wait
//     up to 5 s for the peer's answering close; while the OpenAI leg is still
//     connecting, by lws_set_timeout(PENDING_TIMEOUT_KILLED_BY_PARENT,
//     LWS_TO_KILL_ASYNC).
//     The call is freed when the second leg reports CLOSED, CLIENT_CLOSED or
//     CLIENT_CONNECTION_ERROR (lws delivers exactly one of these per wsi).
//     A connect that fails inside lws_client_connect_via_info() is reported
//     there (NULL) with the CONNECTION_ERROR callback suppressed, so it is
//     handled at the call site, once.
//
// --event-loop poll (default) is lws' own poll() loop, serviced by
// lws_service() in a loop. --event-loop uv is lws' libuv event library
// (LWS_SERVER_OPTION_LIBUV; Debian's lws loads the plugin
// libwebsockets-evlib_uv.so), with lws creating its own loop: lws_service()
// runs uv_run() and returns only when the loop ends. --event-loop ev is lws'
// libev event library (LWS_SERVER_OPTION_LIBEV, plugin
// libwebsockets-evlib_ev.so) the way the bridge uses it: on an epoll loop
// created here (ev_loop_new(EVBACKEND_EPOLL)) and given to lws as a foreign
// loop, run by ev_run() here. (A loop lws creates for itself would watch
// SIGINT only, not SIGTERM, the signal the benchmark stops its targets with.)
// Signals: in poll mode a handler sets a flag and wakes the loop with
// lws_cancel_service(); with libuv, lws has libuv catch SIGINT and SIGTERM
// itself (overriding ours), and they reach `signal_cb` on the loop, which
// exits; with libev, two ev_signal watchers on the loop (libev's handlers
// replace ours) break it. In every mode the process ends with exit(0), or a
// return from main(), from normal context, so LeakSanitizer still checks it.
// One libev caveat: lws 4.1.6 keeps one ev_timer for its timers and re-arms
// it with ev_timer_set() and ev_timer_start(), which libev ignores while that
// timer is running, so a timer due before the armed one runs only at the
// first socket event after it is due (lws runs due timers after every event)
// or when the armed one fires. The relay's only timers are lws_set_timeout()'s:
// the async kill is due at once and runs after the event that set it; the
// 5 s close-ack wait may run late on a quiet loop.
//
// What the floor costs in system calls (strace -f -c, one 10 s call: 485
// caller frames and 401 messages to the caller relayed), per relayed message:
//   - poll: 1.9 poll, 1.0 recvfrom, 1.0 sendto, and 0.57 read: lws reads each
//     client frame's 4-byte mask from /dev/urandom, one read per message to
//     OpenAI. Two loop wake-ups per message: readable, then the WRITEABLE
//     round trip;
//   - uv: the same plus 4.1 epoll_ctl: lws changes the socket's event mask
//     twice per message (POLLOUT on, off) and libuv's uv_poll_start()
//     re-registers the fd each time (EPOLL_CTL_DEL, then ADD);
//   - ev: 3.0 epoll_wait, 2.0 epoll_ctl, 1.0 recvfrom, 1.0 sendto and the
//     0.61 mask read (7.6 in all; loadgen --calls 1 --syscalls=strace, 822
//     messages in 10 s, which gives the poll and uv figures above too). A
//     blocking epoll_wait wakes for the readable socket; asking for WRITEABLE
//     starts lws' write watcher on the fd, which libev applies before its next
//     epoll_wait as one EPOLL_CTL_MOD (IN|OUT), and stopping it after the
//     write is one more MOD (IN): half of uv's epoll_ctl, as libev modifies
//     the registration instead of deleting and re-adding it. lws starts an
//     ev_idle watcher after every socket event, and libev polls with timeout
//     0 while an idle watcher is pending, so the WRITEABLE round trip costs two
//     non-blocking epoll_waits on top of the blocking one. At 200 calls
//     (loadgen --syscalls, perf) the wake-ups are shared between sockets:
//     0.59 epoll_wait, 1.99 epoll_ctl, 1.03 recvfrom, 1.00 sendto, 0.67 read,
//     5.3 in all per message.
//
// Every lws callback is noexcept: an exception (only std::bad_alloc is
// possible) closes that connection. Logging is lws' errors and warnings only
// (--lws-log sets another lws log mask); nothing is printed per message.
#include <ev.h>
#include <libwebsockets.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace {

// ---------------------------------------------------------------- settings

enum class event_loop { poll, uv, ev };

struct settings {
  int port = 0;
  std::string bind = "127.0.0.1";
  event_loop loop = event_loop::poll;
  int log_mask = LLL_ERR | LLL_WARN;
  // --openai-url, split for lws_client_connect_info.
  std::string openai_address;  // connect address (no brackets)
  int openai_port = 80;
  std::string openai_host;  // Host header: host[:port] as in the URL
  std::string openai_path;  // path and query
};

settings g_settings;

constexpr std::size_t rx_buffer_bytes = 64 * 1024;  // the bridge uses the same
constexpr std::size_t max_message_bytes = 4 * 1024 * 1024;

constexpr std::string_view session_update =
    R"({"type":"session.update","session":{"type":"realtime","output_modalities":["audio"],)"
    R"("audio":{"input":{"format":{"type":"audio/pcmu"},"turn_detection":{"type":"server_vad","threshold":0.5,)"
    R"("prefix_padding_ms":300,"silence_duration_ms":500,"create_response":true,"interrupt_response":true}},)"
    R"("output":{"format":{"type":"audio/pcmu"},"voice":"marin"}}}})";

constexpr std::string_view auth_header_name = "authorization:";
constexpr std::string_view auth_header_value = "Bearer floor";

// ---------------------------------------------------------------- one call

/// A FIFO of outbound messages. Slots are std::strings that keep their
/// capacity, so a steady stream of messages allocates nothing; each message
/// starts with LWS_PRE bytes of headroom that lws may write into.
class message_queue {
 public:
  /// A fresh message (LWS_PRE bytes of headroom, nothing else) at the back.
  std::string& push() {
    if (count_ == slots_.size()) grow();
    std::string& s = slots_[(head_ + count_) % slots_.size()];
    ++count_;
    s.assign(LWS_PRE, '\0');
    return s;
  }
  std::string& front() noexcept { return slots_[head_]; }
  void pop() noexcept {
    head_ = (head_ + 1) % slots_.size();
    --count_;
  }
  bool empty() const noexcept { return count_ == 0; }

 private:
  void grow() {
    std::rotate(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(head_), slots_.end());
    head_ = 0;
    slots_.resize(std::max<std::size_t>(8, slots_.size() * 2));
  }

  std::vector<std::string> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

struct leg {
  lws* wsi = nullptr;
  bool live = false;         // the wsi exists: no close callback yet
  bool established = false;  // WRITEABLE callbacks can be asked for
  bool close_requested = false;
  bool close_sent = false;  // our close frame is out; waiting for the peer's
  std::string in;           // reassembly of the message being received
  message_queue out;        // messages to send, in order
};

struct call {
  leg twilio;
  leg openai;
  std::string stream_sid;  // empty until Twilio's start
};

enum class side { twilio, openai };

leg& leg_of(call& c, side s) noexcept { return s == side::twilio ? c.twilio : c.openai; }

call* call_of(lws* wsi) noexcept { return static_cast<call*>(lws_get_opaque_user_data(wsi)); }

// ---------------------------------------------------------------- sending and closing

void append(std::string& m, std::string_view text) { m.append(text.data(), text.size()); }

/// Asks lws for a WRITEABLE callback when the leg can take one.
void want_write(leg& l) noexcept {
  if (l.live && l.established && l.wsi) lws_callback_on_writable(l.wsi);
}

/// Closes a leg after what is already queued on it.
void request_close(leg& l) noexcept {
  if (!l.live || l.close_requested || !l.wsi) return;
  l.close_requested = true;
  if (l.established)
    lws_callback_on_writable(l.wsi);
  else
    lws_set_timeout(l.wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

// lws 4.1.6 handles a close frame given to lws_write() but keeps the value
// private ("LWS_WRITE_CLOSE is handled by lws_close_reason()" in
// lws-write.h; it is 4 in lib/roles/ws/private-lib-roles-ws.h).
constexpr auto ws_write_close = static_cast<lws_write_protocol>(4);

/// One WRITEABLE callback: exactly one message, or the close frame once
/// drained. The close frame is written here rather than left to lws
/// (lws_close_reason() and -1) because with the libuv event library 4.1.6
/// drops it: a debug build (Debian's is one) closes a wsi that a callback
/// refused twice ("close_and_handled uv repeat test" in lws_service_fd_tsi),
/// and the second close kills the connection that the first one was closing
/// politely.
int on_writeable(leg& l, lws* wsi) noexcept {
  if (l.close_sent) return 0;
  if (!l.out.empty()) {
    std::string& m = l.out.front();
    const std::size_t len = m.size() - LWS_PRE;
    const int n = lws_write(wsi, reinterpret_cast<unsigned char*>(m.data()) + LWS_PRE, len, LWS_WRITE_TEXT);
    if (n < 0 || static_cast<std::size_t>(n) < len) return -1;
    l.out.pop();
    if (!l.out.empty() || l.close_requested) lws_callback_on_writable(wsi);
    return 0;
  }
  if (l.close_requested) {
    unsigned char frame[LWS_PRE + 2];
    frame[LWS_PRE] = LWS_CLOSE_STATUS_NORMAL >> 8;
    frame[LWS_PRE + 1] = LWS_CLOSE_STATUS_NORMAL & 0xff;
    if (lws_write(wsi, frame + LWS_PRE, 2, ws_write_close) < 2) return -1;
    l.close_sent = true;
    // The peer's answering close ends it (WS_PEER_INITIATED_CLOSE); a peer
    // that does not answer is cut off.
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 5);
    return 0;
  }
  return 0;  // WRITEABLE may come with nothing queued
}

/// A leg's close callback: asks the other leg to close, or frees the call
/// when the other one is already gone. `c` must not be used afterwards.
void on_leg_closed(call* c, side s) noexcept {
  leg& self = leg_of(*c, s);
  leg& other = leg_of(*c, s == side::twilio ? side::openai : side::twilio);
  if (!self.live) return;
  self.live = false;
  self.established = false;
  self.wsi = nullptr;
  if (other.live)
    request_close(other);
  else
    delete c;
}

// ---------------------------------------------------------------- relaying

/// The text between `key` (which ends with the value's opening quote) and the
/// next quote, at the key's first occurrence; empty if absent.
std::string_view string_after(std::string_view message, std::string_view key) noexcept {
  const void* at = memmem(message.data(), message.size(), key.data(), key.size());
  if (!at) return {};
  const std::size_t start = static_cast<std::size_t>(static_cast<const char*>(at) - message.data()) + key.size();
  const std::size_t end = message.find('"', start);
  if (end == std::string_view::npos) return {};
  return message.substr(start, end - start);
}

/// A whole message from Twilio.
void on_twilio_message(call& c, std::string_view m) {
  const std::string_view event = string_after(m, R"("event":")");
  if (event == "media") {
    if (!c.openai.live || c.openai.close_requested) return;
    const std::string_view payload = string_after(m, R"("payload":")");
    if (payload.empty()) return;
    std::string& out = c.openai.out.push();
    append(out, R"({"type":"input_audio_buffer.append","audio":")");
    append(out, payload);
    append(out, R"("})");
    want_write(c.openai);
  } else if (event == "start") {
    c.stream_sid = string_after(m, R"("streamSid":")");
  } else if (event == "stop") {
    request_close(c.twilio);
    request_close(c.openai);
  }
}

/// A whole message from OpenAI.
void on_openai_message(call& c, std::string_view m) {
  const std::string_view type = string_after(m, R"("type":")");
  if (type == "response.output_audio.delta" || type == "response.audio.delta") {
    if (c.stream_sid.empty() || !c.twilio.live || c.twilio.close_requested) return;
    const std::string_view delta = string_after(m, R"("delta":")");
    if (delta.empty()) return;
    std::string& out = c.twilio.out.push();
    append(out, R"({"event":"media","streamSid":")");
    append(out, c.stream_sid);
    append(out, R"(","media":{"payload":")");
    append(out, delta);
    append(out, R"("}})");
    want_write(c.twilio);
  } else if (type == "input_audio_buffer.speech_started") {
    if (c.stream_sid.empty() || !c.twilio.live || c.twilio.close_requested) return;
    std::string& out = c.twilio.out.push();
    append(out, R"({"event":"clear","streamSid":")");
    append(out, c.stream_sid);
    append(out, R"("})");
    want_write(c.twilio);
  }
}

/// A RECEIVE callback: reassembles, then handles whole messages.
int on_receive(call& c, side s, lws* wsi, const void* in, std::size_t len) {
  leg& l = leg_of(c, s);
  l.in.append(static_cast<const char*>(in), len);
  if (l.in.size() > max_message_bytes) return -1;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0) return 0;
  if (s == side::twilio)
    on_twilio_message(c, l.in);
  else
    on_openai_message(c, l.in);
  l.in.clear();
  return 0;
}

/// The Twilio WebSocket is up: create the call and connect to OpenAI.
int on_twilio_established(lws* wsi) {
  auto* c = new call;
  c->twilio.wsi = wsi;
  c->twilio.live = true;
  c->twilio.established = true;
  lws_set_opaque_user_data(wsi, c);
  try {
    append(c->openai.out.push(), session_update);
  } catch (...) {
    lws_set_opaque_user_data(wsi, nullptr);
    delete c;
    throw;
  }

  const settings& s = g_settings;
  lws_client_connect_info i;
  std::memset(&i, 0, sizeof i);
  i.context = lws_get_context(wsi);
  i.address = s.openai_address.c_str();
  i.port = s.openai_port;
  i.path = s.openai_path.c_str();
  i.host = s.openai_host.c_str();
  i.origin = nullptr;  // a server-side client sends no Origin
  i.protocol = nullptr;
  i.local_protocol_name = "floor-openai";
  i.ietf_version_or_minus_one = -1;
  i.pwsi = &c->openai.wsi;
  i.opaque_user_data = c;
  c->openai.live = true;
  if (!lws_client_connect_via_info(&i) && c->openai.live) {
    // Failed synchronously; lws reports that only by returning NULL.
    c->openai.live = false;
    c->openai.wsi = nullptr;
    request_close(c->twilio);
  }
  return 0;
}

int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  switch (reason) {
    // ---- the Twilio leg (server)
    case LWS_CALLBACK_ESTABLISHED: return on_twilio_established(wsi);
    case LWS_CALLBACK_RECEIVE: {
      call* c = call_of(wsi);
      return c ? on_receive(*c, side::twilio, wsi, in, len) : -1;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
      call* c = call_of(wsi);
      return c ? on_writeable(c->twilio, wsi) : 0;
    }
    case LWS_CALLBACK_CLOSED:
      if (call* c = call_of(wsi)) on_leg_closed(c, side::twilio);
      return 0;

    // ---- either leg: a close frame came. If it answers ours, close now;
    // otherwise lws answers it and closes.
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      call* c = call_of(wsi);
      if (!c) return -1;
      const leg& l = c->twilio.wsi == wsi ? c->twilio : c->openai;
      return l.close_sent ? -1 : 0;
    }

    // ---- the OpenAI leg (client)
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      // HTTP/1 copies the name verbatim, so it carries its colon.
      auto** p = static_cast<unsigned char**>(in);
      if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(auth_header_name.data()),
                                      reinterpret_cast<const unsigned char*>(auth_header_value.data()),
                                      static_cast<int>(auth_header_value.size()), p, *p + len))
        return -1;
      return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (call* c = call_of(wsi)) {
        c->openai.wsi = wsi;
        c->openai.established = true;
        if (!c->openai.out.empty() || c->openai.close_requested) lws_callback_on_writable(wsi);
      }
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
      call* c = call_of(wsi);
      return c ? on_receive(*c, side::openai, wsi, in, len) : -1;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      call* c = call_of(wsi);
      return c ? on_writeable(c->openai, wsi) : 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (call* c = call_of(wsi)) on_leg_closed(c, side::openai);
      return 0;

    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

int guarded_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len) noexcept {
  try {
    return callback(wsi, reason, user, in, len);
  } catch (const std::exception& e) {
    lwsl_err("floor-relay: %s\n", e.what());
  } catch (...) {
    lwsl_err("floor-relay: unknown exception\n");
  }
  return -1;
}

// protocols[0] gets upgrades without a subprotocol (Twilio's); the OpenAI
// client binds to its protocol by name.
const lws_protocols protocols[] = {
    {"floor-twilio", &guarded_callback, 0, rx_buffer_bytes, 0, nullptr, 0},
    {"floor-openai", &guarded_callback, 0, rx_buffer_bytes, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

// ---------------------------------------------------------------- signals

lws_context* volatile g_context = nullptr;
volatile std::sig_atomic_t g_stop = 0;

// poll mode: flag, then wake poll() (lws_cancel_service is one eventfd write).
extern "C" void on_signal(int) {
  g_stop = 1;
  if (lws_context* ctx = g_context) lws_cancel_service(ctx);
}

// libuv mode: lws' uv signal watchers call this on the loop, not in the handler.
void on_uv_signal(void*, int) { std::exit(0); }

// libev mode: the loop (ours, handed to lws) and its SIGTERM and SIGINT
// watchers, which run on the loop, not in the handler. Installing them
// replaces on_signal; a signal that came before that has set g_stop.
struct ev_loop* g_ev_loop = nullptr;
ev_signal g_ev_sigterm;
ev_signal g_ev_sigint;

void on_ev_signal(struct ev_loop* loop, ev_signal*, int) {
  g_stop = 1;
  ev_break(loop, EVBREAK_ALL);
}

/// Creates the epoll loop and starts the signal watchers on it.
bool start_ev_loop() {
  g_ev_loop = ev_loop_new(EVBACKEND_EPOLL);
  if (!g_ev_loop) return false;
  ev_signal_init(&g_ev_sigterm, &on_ev_signal, SIGTERM);
  ev_signal_start(g_ev_loop, &g_ev_sigterm);
  ev_signal_init(&g_ev_sigint, &on_ev_signal, SIGINT);
  ev_signal_start(g_ev_loop, &g_ev_sigint);
  return true;
}

// ---------------------------------------------------------------- command line

void usage(std::FILE* to) {
  std::fputs(
      "usage: floor-relay --openai-url ws://127.0.0.1:PORT/v1/realtime?model=x\n"
      "                   [--port P] [--bind ADDR] [--event-loop poll|uv|ev] [--lws-log MASK]\n"
      "  --port P          listen here (default 0: a free port; the port is printed)\n"
      "  --bind ADDR       listen address (default 127.0.0.1)\n"
      "  --openai-url URL  the OpenAI Realtime endpoint: plain ws://, loopback only\n"
      "  --event-loop L    poll (lws' own loop, default), uv (lws' libuv event library)\n"
      "                    or ev (lws' libev event library, on an epoll loop)\n"
      "  --lws-log MASK    lws log levels (default 3: errors and warnings)\n",
      to);
}

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || (host.substr(0, 4) == "127." && host.size() > 4);
}

/// Splits ws://host[:port][/path] into `s`; false (with a message) if not a
/// plain-ws loopback URL.
bool parse_openai_url(std::string_view url, settings& s, std::string& problem) {
  constexpr std::string_view scheme = "ws://";
  if (url.substr(0, scheme.size()) != scheme) {
    problem = "must start with ws:// (TLS is not supported)";
    return false;
  }
  std::string_view rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  s.openai_path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      problem = "unterminated [";
      return false;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        problem = "junk after ]";
        return false;
      }
      port = after.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    problem = "no host";
    return false;
  }
  if (!is_loopback(host)) {
    problem = "the host must be a loopback address (127.0.0.0/8, ::1, localhost)";
    return false;
  }
  s.openai_port = 80;
  if (!port.empty() || authority.back() == ':') {
    int p = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9' || p > 65535) {
        problem = "bad port";
        return false;
      }
      p = p * 10 + (ch - '0');
    }
    if (port.empty() || p < 1 || p > 65535) {
      problem = "bad port";
      return false;
    }
    s.openai_port = p;
  }
  s.openai_address = std::string(host);
  s.openai_host = std::string(authority);  // names a non-default port, as proxies need
  return true;
}

bool parse_int(const char* text, int lo, int hi, int& out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 0);
  if (end == text || *end != '\0' || v < lo || v > hi) return false;
  out = static_cast<int>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  settings& s = g_settings;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "floor-relay: %s needs a value (or is unknown)\n", argv[i]);
      usage(stderr);
      return 2;
    }
    const char* v = argv[++i];
    std::string problem;
    if (a == "--port") {
      if (!parse_int(v, 0, 65535, s.port)) problem = "bad port";
    } else if (a == "--bind") {
      s.bind = v;
    } else if (a == "--openai-url") {
      have_url = parse_openai_url(v, s, problem);
    } else if (a == "--event-loop") {
      if (std::string_view(v) == "poll")
        s.loop = event_loop::poll;
      else if (std::string_view(v) == "uv")
        s.loop = event_loop::uv;
      else if (std::string_view(v) == "ev")
        s.loop = event_loop::ev;
      else
        problem = "must be poll, uv or ev";
    } else if (a == "--lws-log") {
      if (!parse_int(v, 0, 0xffff, s.log_mask)) problem = "bad mask";
    } else {
      problem = "unknown option";
    }
    if (!problem.empty()) {
      std::fprintf(stderr, "floor-relay: %.*s %s: %s\n", static_cast<int>(a.size()), a.data(), v, problem.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (!have_url) {
    std::fprintf(stderr, "floor-relay: --openai-url is required\n");
    usage(stderr);
    return 2;
  }

  lws_set_log_level(s.log_mask, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = &on_signal;  // no SA_RESTART: poll() returns EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = s.port;
  info.iface = s.bind.empty() ? nullptr : s.bind.c_str();
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  void* foreign_loops[1] = {nullptr};
  if (s.loop == event_loop::uv) {
    // lws creates the loop itself; libuv takes over SIGINT and SIGTERM (and,
    // without UV_NO_SIGSEGV_SIGFPE_SPIN, SIGSEGV/SIGFPE/SIGHUP too).
    info.options |= LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
    info.signal_cb = &on_uv_signal;
  } else if (s.loop == event_loop::ev) {
    // Our loop, so lws installs no signal watcher of its own (it would take
    // SIGINT only).
    if (!start_ev_loop()) {
      std::fprintf(stderr, "floor-relay: cannot create a libev epoll loop\n");
      return 1;
    }
    info.options |= LWS_SERVER_OPTION_LIBEV;
    foreign_loops[0] = g_ev_loop;
    info.foreign_loops = foreign_loops;
  }
  lws_context* ctx = lws_create_context(&info);
  if (!ctx) {
    std::fprintf(stderr, "floor-relay: cannot create the lws context (listen on %s:%d%s)\n", s.bind.c_str(), s.port,
                 s.loop == event_loop::uv   ? ", libuv event library"
                 : s.loop == event_loop::ev ? ", libev event library"
                                            : "");
    return 1;
  }
  g_context = ctx;
  lws_vhost* vh = lws_get_vhost_by_name(ctx, "default");
  const int port = vh ? lws_get_vhost_listen_port(vh) : -1;
  if (port <= 0) {
    std::fprintf(stderr, "floor-relay: no listening port\n");
    return 1;
  }
  std::printf("floor-relay listening on port %d\n", port);
  std::fflush(stdout);

  if (s.loop == event_loop::ev) {
    // Runs until on_ev_signal() breaks it. Nothing is closed or freed: the
    // calls stay reachable through g_context, the loop through g_ev_loop.
    if (!g_stop) ev_run(g_ev_loop, 0);
    if (g_stop) return 0;
    std::fprintf(stderr, "floor-relay: the libev loop ended\n");
    return 1;
  }
  if (s.loop == event_loop::uv) {
    // lws_service() runs the loop; it ends only by on_uv_signal() exiting.
    if (!g_stop) lws_service(ctx, 0);
    if (g_stop) return 0;  // the signal came before libuv took it over
    std::fprintf(stderr, "floor-relay: the libuv loop ended\n");
    return 1;
  }
  while (!g_stop) {
    if (lws_service(ctx, 0) < 0) {
      std::fprintf(stderr, "floor-relay: lws_service failed\n");
      return 1;
    }
  }
  return 0;
}
