// Fake Twilio callers on libwebsockets (see fake_twilio.hpp for the contract).
//
// Theory of operation
// -------------------
// One lws_context (client only, CONTEXT_PORT_NO_LISTEN) is serviced by one
// std::thread. Every call is a heap `call` object owned by the pool (kept
// until the pool is destroyed, so results stay readable) and referenced from
// its wsi through opaque_user_data: the per-session data is that one pointer.
//
// Threads: start_call() queues the call in an inbox under the pool mutex and
// wakes the service thread with lws_cancel_service(); the connect happens on
// the service thread in LWS_CALLBACK_EVENT_WAIT_CANCELLED. Everything a call
// holds is touched only under the pool mutex (a recursive one: lws may call
// back synchronously from inside lws_client_connect_via_info or
// lws_context_destroy while a handler holds it), so result() can build a
// consistent snapshot at any time. The destructor sets `stopping` and wakes
// the thread, which hangs up the open calls and, once they are closed (or
// after a second), stops its timers and leaves its loop, destroying the
// context on its way out; the destructor then joins it. The loop is lws'
// poll() loop or, with caller_pool_options::epoll, its libev event library
// (the adapter's loop runners, lib/lws/event_loop.hpp).
//
// lws 4.1.6 reports the end of a client in three ways, all handled:
//   CLIENT_CONNECTION_ERROR — connect failed, or the upgrade was answered with
//       something else than 101 ("HS: ws upgrade response not 101"; the
//       status is still readable with lws_http_client_http_response());
//   CLOSED_CLIENT_HTTP — killed while waiting for the upgrade's answer (our
//       connect timeout): the wsi is still in the http role then;
//   CLIENT_CLOSED — after ESTABLISHED.
//
// Per call, four lws_sul timers:
//   media   — the 20 ms frame clock, against steady_clock: frame k is due at
//             t0 + 20k ms; a late wake-up sends every frame that is due (no
//             drift). Each tick also advances the script.
//   echo    — playout_model::next_echo(): mark echoes when their audio played.
//   connect — the connect timeout.
//   net     — caller_options::network_delay: received messages wait in
//             `inbound` until they "arrive" (then they are handled with that
//             time), and queued ones leave only once due.
//
// Outbound messages are queued, each in its own buffer with LWS_PRE headroom
// (lws masks client payloads in place), and written one per CLIENT_WRITEABLE.
// `sequenceNumber` is assigned when a message is queued; the queue is FIFO, so
// the numbers go out in order.
//
// Benchmarks (caller_pool_options::probe, caller_options::probe_call): each
// media frame gets a frame tag when it is queued, and its time is stamped
// into the queued text (the first 40 base64 characters of the payload) just
// before lws_write; each media received is reported to the probe. In flood
// mode the frame clock is replaced by the probe's window: media_tick sends
// while the window has room, and the probe's waker (lws_cancel_service)
// brings the thread back to EVENT_WAIT_CANCELLED, which resumes every
// flooding call.
//
// Closing: hang_up queues `stop`, and once the queue is empty the next
// WRITEABLE sets close reason 1000 and returns -1 (lws sends the close frame
// and waits for the ack). drop_connection returns -1 with no close reason:
// lws closes the TCP connection without a close frame. A close frame from the
// bridge arrives in LWS_CALLBACK_WS_PEER_INITIATED_CLOSE (2-byte code +
// reason); lws echoes it and then reports CLIENT_CLOSED.
#include "peers/fake_twilio.hpp"

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "lws/event_loop.hpp"
#include "lws/ws_url.hpp"
#include "peers/bench_probe.hpp"
#include "peers/frame_tag.hpp"
#include "peers/json_text.hpp"
#include "peers/playout_model.hpp"
#include "peers/service_timers.hpp"
#include "realtime_bridge/time.hpp"

namespace rtb::peers {

namespace fake_twilio_detail {

using namespace std::chrono_literals;

constexpr auto frame_interval = 20ms;
constexpr std::size_t frame_bytes = 160;
constexpr std::size_t max_violations = 256;
constexpr std::size_t max_message = 16u << 20;  // a message larger than this is a violation
constexpr char protocol_name[] = "rtb-fake-twilio";

std::int64_t us_until(timestamp due, timestamp now) {
  if (due <= now) return 0;
  return std::chrono::duration_cast<std::chrono::microseconds>(due - now).count();
}

std::string random_sid(std::mt19937_64& rng, const char* prefix) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s = prefix;
  for (int i = 0; i < 2; ++i) {
    std::uint64_t v = rng();
    for (int k = 0; k < 16; ++k, v >>= 4) s.push_back(hex[v & 15]);
  }
  return s;
}

struct call;
struct pool;

/// A sul with a back pointer; standard layout with the sul first, so the
/// callback can get back from the sul pointer without offsetof on `call`.
struct call_timer {
  lws_sorted_usec_list_t sul{};
  call* owner = nullptr;
};
static_assert(std::is_standard_layout_v<call_timer>);

inline call* owner_of(lws_sorted_usec_list_t* sul) { return reinterpret_cast<call_timer*>(sul)->owner; }

enum class call_state { queued, connecting, open, closing, done };

struct out_message {
  std::string buf;  // LWS_PRE bytes of headroom, then the payload
  bool media = false;
  timestamp due{};  // leaves no earlier (caller_options::network_delay)
  // benchmarks: a tagged frame's tag, re-stamped with the time at the write
  std::optional<frame_tag::tag> tag;
  std::size_t tag_at = 0;  // offset of the base64 payload in buf
};

struct call {
  struct pool* pool = nullptr;
  int id = 0;
  caller_options opt;
  call_result res;  // everything but the played tail of heard_audio, kept current
  lws_adapter::ws_url url;
  std::string host_header;  // kept alive for lws while it connects
  call_state state = call_state::queued;
  lws* wsi = nullptr;
  int http_status = 0;  // seen in ESTABLISHED_CLIENT_HTTP

  // outbound
  std::deque<out_message> outq;
  std::uint64_t seq = 0;    // last sequenceNumber used
  std::uint64_t chunk = 0;  // last media.chunk used
  bool media_running = false;
  bool want_close = false;  // send the close frame once outq is empty
  bool want_drop = false;   // drop the TCP connection at the next WRITEABLE
  bool we_closed = false;
  bool peer_close_seen = false;
  timestamp t0{};
  timestamp next_frame{};

  // script
  std::size_t step = 0;
  bool step_entered = false;
  timestamp step_started{};
  std::size_t say_offset = 0;
  std::int64_t pause_frames_left = 0;
  std::optional<timestamp> ai_audible_at;
  std::uint32_t tag_seq = 0;  // frames tagged so far (probe_call >= 0)
  std::uint32_t acks_owed = 0;  // flood: deltas received but not yet acknowledged to the probe

  // inbound
  struct delayed_message {
    std::string text;
    bool binary = false;
    timestamp arrives{};
  };
  std::deque<delayed_message> inbound;  // received, still "on the network" (network_delay)
  std::string rx;
  bool rx_in_message = false;
  bool rx_binary = false;
  bool rx_oversize = false;
  playout_model model;
  timestamp busy_until{};              // mirrors the model: when the queued audio ends
  timestamp audible_from{};            // start of the current contiguous run of audio
  mulaw_bytes gen_audio;               // audio received since the last clear
  std::optional<timestamp> say_ended;  // awaiting the first AI audio after it
  std::optional<timestamp> finished_at;

  call_timer media_timer, echo_timer, connect_timer, net_timer;
  // the same clocks on the pool's service_timers (caller_pool_options::ticker_timers)
  service_timers::timer media_tick_timer, echo_tick_timer, net_tick_timer;

  call(struct pool* p, int i, caller_options o)
      : pool(p),
        id(i),
        opt(std::move(o)),
        model(std::chrono::duration_cast<std::chrono::microseconds>(opt.playout_delay)) {
    media_timer.owner = echo_timer.owner = connect_timer.owner = net_timer.owner = this;
    media_tick_timer.owner = echo_tick_timer.owner = net_tick_timer.owner = this;  // fire: set by the pool
  }

  bool audible(timestamp now) const { return audible_from <= now && now < busy_until; }
};

struct pool {
  mutable std::recursive_mutex mu;
  std::condition_variable_any cv;
  lws_context* ctx = nullptr;
  std::unique_ptr<lws_adapter::loop_runner> runner;  // poll or libev (caller_pool_options::epoll)
  std::atomic<std::int64_t> runner_timers{0};
  std::atomic<bool> exit{false};                     // the runner returns once this is set and it is woken
  std::thread thread;
  std::map<int, std::unique_ptr<call>> calls;
  std::deque<call*> inbox;
  int next_id = 1;
  std::size_t active = 0;  // started and not finished
  bool stopping = false;   // set by the destructor
  bool shutdown_begun = false;
  bool destroying = false;  // the service thread is gone: schedule nothing
  timestamp shutdown_deadline{};
  struct pool_timer {
    lws_sorted_usec_list_t sul{};  // first member: the callback casts back
    pool* owner = nullptr;
  } wake_timer;
  std::mt19937_64 rng{std::random_device{}()};
  simdjson::dom::parser parser;  // service thread only
  mulaw_bytes scratch;           // service thread only: decoded media payloads
  std::shared_ptr<bench_probe> probe;
  std::vector<call*> flooding;  // flood-mode calls (resumed when the probe wakes us)
  std::unique_ptr<service_timers> timers;  // caller_pool_options::ticker_timers
  lws_protocols protocols[2]{};
  bool tls = false;
  SSL_CTX* client_ssl_ctx = nullptr;  // ours, handed to lws (see caller_pool_options::tls)

  explicit pool(caller_pool_options options);
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;
  void run();

  // All below run on the service thread with `mu` held.
  void drain_inbox();
  void begin_shutdown();
  void connect(call& c);
  void finish(call& c, timestamp now);
  void fail(call& c, std::string error);
  void schedule(call_timer& t, sul_cb_t cb, timestamp due, timestamp now);
  // The frame clock and the echo clock: lws suls, or the ticker's timers.
  void schedule_media(call& c, timestamp due, timestamp now);
  void schedule_echo(call& c, timestamp due, timestamp now);
  void cancel_media(call& c);
  void cancel_echo(call& c);
  // The network (caller_options::network_delay): when the next delayed message is due.
  void schedule_net(call& c, timestamp now);
  void cancel_net(call& c);
  void run_net(call& c, timestamp now);
  void want_write(call& c);
  void enqueue(call& c, std::string payload, bool media = false, std::optional<frame_tag::tag> tag = std::nullopt,
               std::size_t tag_at = 0);
  bool flood(const call& c) const { return probe && c.opt.probe_call >= 0 && probe->window() > 0; }
  std::string next_seq(call& c) { return std::to_string(++c.seq); }

  void on_established(call& c);
  void media_tick(call& c);
  bool run_script(call& c, timestamp now, mulaw_bytes& frame);
  void advance(call& c) {
    ++c.step;
    c.step_entered = false;
  }
  void send_stop(call& c);
  void on_receive(call& c, const char* data, std::size_t len);
  void on_message(call& c, std::string_view text, bool binary, timestamp now);
  void violation(call& c, std::string what);
  void pump_echoes(call& c, timestamp now);
  void echo_mark(call& c, std::string_view name);
  int on_writeable(call& c);
  call_result snapshot(const call& c) const;

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
  int handle(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);
  static void media_cb(lws_sorted_usec_list_t* sul);
  static void echo_cb(lws_sorted_usec_list_t* sul);
  static void media_fire(service_timers::timer& t);
  static void echo_fire(service_timers::timer& t);
  static void net_cb(lws_sorted_usec_list_t* sul);
  static void net_fire(service_timers::timer& t);
  static void connect_timeout_cb(lws_sorted_usec_list_t* sul);
  static void wake_cb(lws_sorted_usec_list_t* sul);
  void check_exit();
};

// ---- construction, the service thread, shutdown ---------------------------

pool::pool(caller_pool_options options) : probe(std::move(options.probe)), tls(options.tls) {
  wake_timer.owner = this;
  runner =
      lws_adapter::make_loop_runner(options.epoll ? lws_adapter::event_loop::libev : lws_adapter::event_loop::poll,
                                    runner_timers);
  protocols[0].name = protocol_name;
  protocols[0].callback = &pool::callback;
  protocols[0].per_session_data_size = 0;  // the call pointer is the wsi's opaque user data
  protocols[0].rx_buffer_size = 16384;
  protocols[0].user = this;
  // protocols[1] stays zeroed: the terminator (LWS_PROTOCOL_LIST_TERM is newer than 4.1.6)

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.user = this;
  info.gid = -1;
  info.uid = -1;
  if (tls) {
    // Our own client SSL_CTX: lws does not free a provided one, so the ex_data
    // index mix-up of lws 4.1.6 (see caller_pool_options::tls) cannot leak it;
    // verification flags are still applied by lws per connection.
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, nullptr);
    client_ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (client_ssl_ctx == nullptr) throw std::runtime_error("fake_twilio: SSL_CTX_new failed");
    SSL_CTX_set_default_verify_paths(client_ssl_ctx);  // the system CAs
    info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.provided_client_ssl_ctx = client_ssl_ctx;
  }
  ctx = runner->prepare(info) ? lws_create_context(&info) : nullptr;
  if (ctx == nullptr) {
    if (client_ssl_ctx != nullptr) SSL_CTX_free(client_ssl_ctx);
    throw std::runtime_error("fake_twilio: lws_create_context failed");
  }
  if (options.ticker_timers) timers = std::make_unique<service_timers>(ctx);
  if (probe) {
    lws_context* c = ctx;
    probe->set_caller_waker([c] { lws_cancel_service(c); });
  }
  thread = std::thread([this] { run(); });
}

pool::~pool() {
  if (probe) probe->set_caller_waker(nullptr);
  if (timers) timers->stop();  // it wakes the context: stopped before the context goes
  {
    std::lock_guard lk(mu);
    stopping = true;
  }
  lws_cancel_service(ctx);  // the service thread begins the shutdown (EVENT_WAIT_CANCELLED)
  // It leaves once every call has closed (or after a second), destroying the
  // context on its way out (check_exit).
  if (thread.joinable()) thread.join();
  std::lock_guard lk(mu);
  destroying = true;
  ctx = nullptr;
  if (client_ssl_ctx != nullptr) SSL_CTX_free(client_ssl_ctx);
  client_ssl_ctx = nullptr;
  const timestamp now = clock::now();
  for (auto& [id, c] : calls) {
    c->wsi = nullptr;
    if (!c->res.finished) {
      if (c->res.error.empty()) c->res.error = "caller pool destroyed";
      finish(*c, now);
    }
  }
}

void pool::run() {
  // Until check_exit() sets `exit`; then the runner destroys the context here
  // (CLIENT_CLOSED / CONNECTION_ERROR for what is left arrive on this thread).
  runner->run(ctx, exit);
  runner->destroy(ctx);
}

void pool::wake_cb(lws_sorted_usec_list_t* sul) {
  pool* p = reinterpret_cast<pool_timer*>(sul)->owner;
  try {
    std::lock_guard lk(p->mu);
    p->check_exit();
  } catch (...) {
  }
}

// During shutdown, every 20 ms: once no call is open (or the deadline has
// passed), stop every timer and let the runner leave.
void pool::check_exit() {
  if (!shutdown_begun || exit.load()) return;
  const timestamp now = clock::now();
  const bool live = std::any_of(calls.begin(), calls.end(), [](const auto& kv) { return kv.second->wsi != nullptr; });
  if (live && now < shutdown_deadline) {
    lws_sul_schedule(ctx, 0, &wake_timer.sul, &pool::wake_cb, 20'000);
    return;
  }
  destroying = true;
  lws_sul_cancel(&wake_timer.sul);
  for (auto& [id, c] : calls) {
    cancel_media(*c);
    cancel_echo(*c);
    cancel_net(*c);
    lws_sul_cancel(&c->connect_timer.sul);
  }
  exit.store(true);
  runner->wake(ctx);
}

void pool::drain_inbox() {
  while (!inbox.empty()) {
    call* c = inbox.front();
    inbox.pop_front();
    if (shutdown_begun) {
      fail(*c, "caller pool destroyed before connecting");
      continue;
    }
    connect(*c);
  }
}

void pool::begin_shutdown() {
  if (shutdown_begun) return;
  shutdown_begun = true;
  const timestamp now = clock::now();
  shutdown_deadline = now + 1s;
  lws_sul_schedule(ctx, 0, &wake_timer.sul, &pool::wake_cb, 20'000);
  drain_inbox();
  // Calls still running hang up like a caller would: stop, then close 1000.
  for (auto& [id, c] : calls) {
    if (c->state == call_state::open && c->wsi != nullptr && !c->want_close && !c->want_drop) {
      send_stop(*c);
      want_write(*c);
    }
  }
}

// ---- helpers ----------------------------------------------------------------

void pool::schedule(call_timer& t, sul_cb_t cb, timestamp due, timestamp now) {
  if (destroying || ctx == nullptr) return;
  lws_sul_schedule(ctx, 0, &t.sul, cb, us_until(due, now));
}

void pool::schedule_media(call& c, timestamp due, timestamp now) {
  if (timers) {
    if (!destroying) timers->schedule(c.media_tick_timer, due);
  } else {
    schedule(c.media_timer, &pool::media_cb, due, now);
  }
}

void pool::schedule_echo(call& c, timestamp due, timestamp now) {
  if (timers) {
    if (!destroying) timers->schedule(c.echo_tick_timer, due);
  } else {
    schedule(c.echo_timer, &pool::echo_cb, due, now);
  }
}

void pool::cancel_media(call& c) {
  lws_sul_cancel(&c.media_timer.sul);
  if (timers) timers->cancel(c.media_tick_timer);
}

void pool::cancel_echo(call& c) {
  lws_sul_cancel(&c.echo_timer.sul);
  if (timers) timers->cancel(c.echo_tick_timer);
}

void pool::cancel_net(call& c) {
  lws_sul_cancel(&c.net_timer.sul);
  if (timers) timers->cancel(c.net_tick_timer);
}

void pool::schedule_net(call& c, timestamp now) {
  std::optional<timestamp> due;
  if (!c.inbound.empty()) due = c.inbound.front().arrives;
  if (!c.outq.empty() && c.outq.front().due > now && (!due || c.outq.front().due < *due)) due = c.outq.front().due;
  if (!due) {
    cancel_net(c);
  } else if (timers) {
    if (!destroying) timers->schedule(c.net_tick_timer, *due);
  } else {
    schedule(c.net_timer, &pool::net_cb, *due, now);
  }
}

// Messages that have crossed the network by `now`: received ones are handled
// (with the time they arrived), queued ones may leave.
void pool::run_net(call& c, timestamp now) {
  while (c.state == call_state::open && !c.inbound.empty() && c.inbound.front().arrives <= now) {
    call::delayed_message m = std::move(c.inbound.front());
    c.inbound.pop_front();
    on_message(c, m.text, m.binary, m.arrives);
  }
  if (c.state != call_state::open) return;
  if (!c.outq.empty() && c.outq.front().due <= now) want_write(c);
  schedule_net(c, now);
}

void pool::net_cb(lws_sorted_usec_list_t* sul) {
  call* c = owner_of(sul);
  try {
    std::lock_guard lk(c->pool->mu);
    c->pool->run_net(*c, clock::now());
  } catch (...) {
  }
}

void pool::net_fire(service_timers::timer& t) {
  call* c = static_cast<call*>(t.owner);
  std::lock_guard lk(c->pool->mu);
  c->pool->run_net(*c, clock::now());
}

void pool::media_fire(service_timers::timer& t) {
  call* c = static_cast<call*>(t.owner);
  std::lock_guard lk(c->pool->mu);
  c->pool->media_tick(*c);
}

void pool::echo_fire(service_timers::timer& t) {
  call* c = static_cast<call*>(t.owner);
  std::lock_guard lk(c->pool->mu);
  if (c->state != call_state::open) return;
  c->pool->pump_echoes(*c, clock::now());
}

void pool::want_write(call& c) {
  if (c.wsi != nullptr && !destroying) lws_callback_on_writable(c.wsi);
}

void pool::enqueue(call& c, std::string payload, bool media, std::optional<frame_tag::tag> tag, std::size_t tag_at) {
  out_message m;
  m.buf.reserve(LWS_PRE + payload.size());
  m.buf.assign(LWS_PRE, '\0');
  m.buf += payload;
  m.media = media;
  m.tag = tag;
  m.tag_at = LWS_PRE + tag_at;
  if (c.opt.network_delay.count() > 0) m.due = clock::now() + c.opt.network_delay;
  c.outq.push_back(std::move(m));
}

void pool::violation(call& c, std::string what) {
  if (c.res.violations.size() < max_violations) c.res.violations.push_back(std::move(what));
}

void pool::finish(call& c, timestamp now) {
  if (c.res.finished) return;
  flooding.erase(std::remove(flooding.begin(), flooding.end(), &c), flooding.end());
  cancel_media(c);
  cancel_echo(c);
  cancel_net(c);
  lws_sul_cancel(&c.connect_timer.sul);
  c.media_running = false;
  c.inbound.clear();
  // Freeze what was heard: playback stops with the call.
  if (c.opt.keep_heard_audio) {
    const auto played = std::min<std::uint64_t>(c.model.played_since_clear(now), c.gen_audio.size());
    c.res.heard_audio.insert(c.res.heard_audio.end(), c.gen_audio.begin(),
                             c.gen_audio.begin() + static_cast<std::ptrdiff_t>(played));
  }
  c.gen_audio.clear();
  c.gen_audio.shrink_to_fit();
  c.outq.clear();
  c.rx.clear();
  c.rx.shrink_to_fit();
  c.finished_at = now;
  c.res.finished = true;
  c.state = call_state::done;
  c.wsi = nullptr;
  if (active > 0) --active;
  cv.notify_all();
}

void pool::fail(call& c, std::string error) {
  if (c.res.error.empty()) c.res.error = std::move(error);
  finish(c, clock::now());
}

call_result pool::snapshot(const call& c) const {
  call_result r = c.res;
  if (!c.res.finished && c.opt.keep_heard_audio) {
    const auto played = std::min<std::uint64_t>(c.model.played_since_clear(clock::now()), c.gen_audio.size());
    r.heard_audio.insert(r.heard_audio.end(), c.gen_audio.begin(),
                         c.gen_audio.begin() + static_cast<std::ptrdiff_t>(played));
  }
  return r;
}

// ---- connecting ---------------------------------------------------------------

void pool::connect(call& c) {
  auto u = lws_adapter::parse_ws_url(c.opt.url);
  if (!u) {
    fail(c, "bad url " + c.opt.url + ": " + u.error().message);
    return;
  }
  if (u->tls && !tls) {
    fail(c, "wss:// needs a caller_pool constructed with caller_pool_options{.tls = true}");
    return;
  }
  c.url = std::move(*u);
  c.host_header = c.url.host_header();
  c.state = call_state::connecting;

  lws_client_connect_info i;
  std::memset(&i, 0, sizeof i);
  i.context = ctx;
  i.address = c.url.host.c_str();
  i.port = c.url.port;
  i.path = c.url.path.c_str();
  i.host = c.host_header.c_str();
  i.origin = nullptr;    // Twilio sends no Origin
  i.protocol = nullptr;  // nor a subprotocol
  i.local_protocol_name = protocol_name;
  i.ssl_connection = c.url.tls ? LCCSCF_USE_SSL : 0;
  if (c.url.tls && c.opt.tls_allow_self_signed)
    i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
  i.pwsi = &c.wsi;
  i.opaque_user_data = &c;

  const timestamp now = clock::now();
  schedule(c.connect_timer, &pool::connect_timeout_cb, now + c.opt.connect_timeout, now);
  // May report CLIENT_CONNECTION_ERROR before returning (we hold `mu`
  // recursively, so that lands in finish()); handle a NULL return only if not.
  lws* w = lws_client_connect_via_info(&i);
  if (w == nullptr) {
    c.wsi = nullptr;
    if (!c.res.finished) fail(c, "connect failed");
  }
}

void pool::connect_timeout_cb(lws_sorted_usec_list_t* sul) {
  call* c = owner_of(sul);
  try {
    std::lock_guard lk(c->pool->mu);
    if (c->state != call_state::connecting) return;
    if (c->res.error.empty()) c->res.error = "connect timeout";
    if (c->wsi != nullptr)
      lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);  // -> CONNECTION_ERROR
    else
      c->pool->finish(*c, clock::now());
  } catch (...) {
  }
}

void pool::on_established(call& c) {
  const timestamp now = clock::now();
  lws_sul_cancel(&c.connect_timer.sul);
  c.state = call_state::open;
  c.res.connected = true;
  c.t0 = now;

  enqueue(c, R"({"event":"connected","protocol":"Call","version":"1.0.0"})");

  std::string s = R"({"event":"start","sequenceNumber":)";
  append_json_string(s, next_seq(c));
  s += R"(,"start":{"accountSid":)";
  append_json_string(s, c.opt.account_sid);
  s += R"(,"streamSid":)";
  append_json_string(s, c.res.stream_sid);
  s += R"(,"callSid":)";
  append_json_string(s, c.res.call_sid);
  s +=
      R"(,"tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{)";
  bool first = true;
  for (const auto& [k, v] : c.opt.parameters) {
    if (!first) s += ',';
    first = false;
    append_json_string(s, k);
    s += ':';
    append_json_string(s, v);
  }
  s += R"(}},"streamSid":)";
  append_json_string(s, c.res.stream_sid);
  s += '}';
  enqueue(c, std::move(s));

  // Twilio's first frame carries the first 20 ms of audio, so it goes out 20 ms in.
  c.media_running = true;
  c.next_frame = now + frame_interval;
  if (flood(c)) flooding.push_back(&c);
  schedule_media(c, c.next_frame, now);
  want_write(c);
}

// ---- the frame clock and the script ------------------------------------------------

void pool::media_cb(lws_sorted_usec_list_t* sul) {
  call* c = owner_of(sul);
  try {
    std::lock_guard lk(c->pool->mu);
    c->pool->media_tick(*c);
  } catch (...) {
  }
}

void pool::media_tick(call& c) {
  if (c.state != call_state::open || !c.media_running) return;
  const timestamp now = clock::now();
  const bool flooding_call = flood(c);
  // Flood mode: as many frames as the window allows (the probe wakes us when
  // the fake OpenAI frees room), each on the media clock's next slot so the
  // script and the timestamps advance as if time ran faster.
  while (c.media_running && (flooding_call ? probe->caller_may_send(c.opt.probe_call) : c.next_frame <= now)) {
    mulaw_bytes frame(frame_bytes, 0xFF);
    if (!run_script(c, now, frame)) break;
    ++c.chunk;
    const std::uint64_t ts = c.opt.first_timestamp + (c.chunk - 1) * 20;
    std::optional<frame_tag::tag> tag;
    if (probe && c.opt.probe_call >= 0) {
      tag = frame_tag::tag{
          frame_tag::direction::caller, static_cast<std::uint16_t>(c.opt.probe_call), c.tag_seq++, 0, 0, 0};
      frame_tag::encode(*tag, frame.data());  // the time is stamped at the write
    }
    std::string m = R"({"event":"media","sequenceNumber":")";
    m += next_seq(c);
    m += R"(","media":{"track":"inbound","chunk":")";
    m += std::to_string(c.chunk);
    m += R"(","timestamp":")";
    m += std::to_string(ts);
    m += R"(","payload":")";
    const std::size_t tag_at = m.size();
    m += to_base64(frame.data(), frame.size());
    m += R"("},"streamSid":)";
    append_json_string(m, c.res.stream_sid);
    m += '}';
    enqueue(c, std::move(m), true, tag, tag_at);
    c.next_frame += frame_interval;
  }
  if (c.media_running && !flooding_call) schedule_media(c, c.next_frame, now);
  if (!c.outq.empty() || c.want_close || c.want_drop) want_write(c);
}

// Fills `frame` (already silence) from the script; runs the steps that take no
// time. False when the media stops (hang_up, drop_connection).
bool pool::run_script(call& c, timestamp now, mulaw_bytes& frame) {
  bool repeated = false;
  for (;;) {
    if (c.step >= c.opt.script.size()) return true;  // script over: silence until the bridge closes
    caller_step& st = c.opt.script[c.step];
    if (auto* r = std::get_if<step::repeat>(&st)) {
      // At most one jump per frame: a loop of steps that take no frames
      // would otherwise never give the frame back.
      if (repeated) return true;
      repeated = true;
      c.step = std::min(r->to, c.opt.script.size());
      c.step_entered = false;
      continue;
    }
    const bool entering = !c.step_entered;
    if (entering) {
      c.step_entered = true;
      c.step_started = now;
      c.say_offset = 0;
      c.ai_audible_at.reset();
      if (auto* p = std::get_if<step::pause>(&st)) c.pause_frames_left = (p->length.count() + 19) / 20;
    }
    if (auto* say = std::get_if<step::say>(&st)) {
      const std::size_t left = say->audio.size() - std::min(c.say_offset, say->audio.size());
      if (left == 0) {
        advance(c);
        continue;
      }
      const std::size_t n = std::min(left, frame_bytes);
      std::copy_n(say->audio.begin() + static_cast<std::ptrdiff_t>(c.say_offset), n, frame.begin());
      c.say_offset += n;
      if (c.say_offset >= say->audio.size()) {
        c.say_ended = now;
        advance(c);
      }
      return true;
    }
    if (std::holds_alternative<step::pause>(st)) {
      if (c.pause_frames_left <= 0) {
        advance(c);
        continue;
      }
      if (--c.pause_frames_left == 0) advance(c);
      return true;
    }
    if (auto* d = std::get_if<step::digit>(&st)) {
      std::string m = R"({"event":"dtmf","streamSid":)";
      append_json_string(m, c.res.stream_sid);
      m += R"(,"sequenceNumber":")";
      m += next_seq(c);
      m += R"(","dtmf":{"track":"inbound_track","digit":)";
      append_json_string(m, std::string_view(&d->key, 1));
      m += "}}";
      enqueue(c, std::move(m));
      advance(c);
      continue;
    }
    if (auto* w = std::get_if<step::wait_for_ai_audio>(&st)) {
      if (!c.ai_audible_at && c.audible(now)) c.ai_audible_at = now;
      if ((c.ai_audible_at && now - *c.ai_audible_at >= w->after) || now - c.step_started >= w->timeout) {
        advance(c);
        continue;
      }
      return true;
    }
    if (auto* w = std::get_if<step::wait_for_ai_silence>(&st)) {
      if (!c.model.playing(now) || now - c.step_started >= w->timeout) {
        advance(c);
        continue;
      }
      return true;
    }
    if (std::holds_alternative<step::hang_up>(st)) {
      advance(c);
      send_stop(c);
      return false;
    }
    if (std::holds_alternative<step::drop_connection>(st)) {
      advance(c);
      c.media_running = false;
      c.want_drop = true;
      c.outq.clear();
      cancel_media(c);
      return false;
    }
    if (auto* raw = std::get_if<step::send_raw>(&st)) {
      enqueue(c, raw->text);
      advance(c);
      continue;
    }
    advance(c);  // unknown alternative (cannot happen)
  }
}

void pool::send_stop(call& c) {
  std::string m = R"({"event":"stop","sequenceNumber":")";
  m += next_seq(c);
  m += R"(","stop":{"accountSid":)";
  append_json_string(m, c.opt.account_sid);
  m += R"(,"callSid":)";
  append_json_string(m, c.res.call_sid);
  m += R"(},"streamSid":)";
  append_json_string(m, c.res.stream_sid);
  m += '}';
  enqueue(c, std::move(m));
  c.res.stop_sent = true;
  c.media_running = false;
  c.want_close = true;
  cancel_media(c);
}

// ---- receiving --------------------------------------------------------------------

void pool::on_receive(call& c, const char* data, std::size_t len) {
  if (!c.rx_in_message) {
    c.rx_in_message = true;
    c.rx.clear();
    c.rx_oversize = false;
    c.rx_binary = lws_frame_is_binary(c.wsi) != 0;
  }
  if (c.rx.size() + len > max_message)
    c.rx_oversize = true;
  else
    c.rx.append(data, len);
  if (!lws_is_final_fragment(c.wsi) || lws_remaining_packet_payload(c.wsi) != 0) return;
  c.rx_in_message = false;
  const timestamp now = clock::now();
  if (c.rx_oversize) {
    violation(c, "31951: message larger than " + std::to_string(max_message) + " bytes");
    return;
  }
  if (c.opt.network_delay.count() > 0) {
    c.inbound.push_back({c.rx, c.rx_binary, now + c.opt.network_delay});
    if (c.inbound.size() == 1) schedule_net(c, now);
    return;
  }
  on_message(c, c.rx, c.rx_binary, now);
}

namespace {

std::string excerpt(std::string_view s) {
  constexpr std::size_t n = 120;
  std::string out(s.substr(0, n));
  if (s.size() > n) out += "…";
  return out;
}

}  // namespace

void pool::on_message(call& c, std::string_view text, bool binary, timestamp now) {
  if (binary) {
    violation(c, "31950: binary frame of " + std::to_string(text.size()) + " bytes (text frames only)");
    return;
  }
  simdjson::dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS) {
    violation(c, "31951: not valid JSON: " + excerpt(text));
    return;
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    violation(c, "31951: not a JSON object: " + excerpt(text));
    return;
  }
  // Collect the top-level fields, rejecting duplicates.
  std::map<std::string_view, simdjson::dom::element> fields;
  for (auto field : obj) {
    if (!fields.emplace(field.key, field.value).second) {
      violation(c, "31951: duplicate field \"" + std::string(field.key) + "\": " + excerpt(text));
      return;
    }
  }
  std::string_view event;
  if (auto it = fields.find("event"); it == fields.end() || it->second.get_string().get(event) != simdjson::SUCCESS) {
    violation(c, "31951: missing or non-string \"event\": " + excerpt(text));
    return;
  }
  // The exact shape of each accepted event: top-level fields, and the one
  // nested object with its single string field.
  std::string_view nested, inner;
  if (event == "media") {
    nested = "media";
    inner = "payload";
  } else if (event == "mark") {
    nested = "mark";
    inner = "name";
  } else if (event != "clear") {
    violation(c, "31951: unsupported event \"" + std::string(event) + "\"");
    return;
  }
  for (const auto& [key, value] : fields) {
    if (key != "event" && key != "streamSid" && (nested.empty() || key != nested)) {
      violation(c, "31951: " + std::string(event) + ": unexpected field \"" + std::string(key) + "\"");
      return;
    }
  }
  std::string_view sid;
  if (auto it = fields.find("streamSid"); it == fields.end() || it->second.get_string().get(sid) != simdjson::SUCCESS) {
    violation(c, "31951: " + std::string(event) + ": missing or non-string \"streamSid\"");
    return;
  }
  if (sid != c.res.stream_sid) {
    violation(c, "31951: " + std::string(event) + ": streamSid \"" + std::string(sid) + "\" does not match \"" +
                     c.res.stream_sid + "\"");
    return;
  }
  std::string_view value;
  if (!nested.empty()) {
    auto it = fields.find(nested);
    simdjson::dom::object inner_obj;
    if (it == fields.end() || it->second.get_object().get(inner_obj) != simdjson::SUCCESS) {
      violation(c, "31951: " + std::string(event) + ": missing or non-object \"" + std::string(nested) + "\"");
      return;
    }
    bool found = false;
    for (auto f : inner_obj) {
      if (f.key != inner || found) {
        violation(c, "31951: " + std::string(event) + ": unexpected field \"" + std::string(nested) + "." +
                         std::string(f.key) + "\"");
        return;
      }
      if (f.value.get_string().get(value) != simdjson::SUCCESS) {
        violation(c, "31951: " + std::string(event) + ": \"" + std::string(nested) + "." + std::string(inner) +
                         "\" is not a string");
        return;
      }
      found = true;
    }
    if (!found) {
      violation(
          c, "31951: " + std::string(event) + ": missing \"" + std::string(nested) + "." + std::string(inner) + "\"");
      return;
    }
  }

  if (event == "media") {
    mulaw_bytes* audio = &scratch;
    if (!from_base64(value, scratch)) {
      violation(c, "31951: media: payload is not base64");
      return;
    }
    if (audio->size() >= 4 && std::memcmp(audio->data(), "RIFF", 4) == 0)
      violation(c, "media: payload starts with a RIFF/WAV header (plays as noise)");  // still played, like Twilio
    if (probe && c.opt.probe_call >= 0) {
      // Flood: a delta frees its place in the window only once this call's
      // queue is short, or the mark echoes (one per delta from the bridge)
      // would pile up without bound and starve our frames.
      const bool flooding_call = flood(c);
      const bool ack_now = !flooding_call || c.outq.size() < probe->window();
      if (probe->caller_media(c.opt.probe_call, value, frame_tag::now_us(), ack_now) && !ack_now) ++c.acks_owed;
    }
    const auto n = static_cast<std::uint64_t>(audio->size());
    ++c.res.media_received;
    c.res.audio_bytes_received += n;
    if (n > 0) {
      const bool continues = c.busy_until > now;
      const timestamp start = continues ? c.busy_until : now + c.opt.playout_delay;
      if (!continues) c.audible_from = start;
      c.busy_until = start + std::chrono::microseconds(n * 1000 / 8);
      if (c.say_ended) {
        c.res.response_latencies.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(start - *c.say_ended));
        c.say_ended.reset();
      }
      if (c.opt.keep_heard_audio) c.gen_audio.insert(c.gen_audio.end(), audio->begin(), audio->end());
    }
    c.model.media(n, now);
  } else if (event == "mark") {
    ++c.res.marks_received;
    if (probe && c.opt.probe_call >= 0) probe->caller_mark_received();
    if (c.opt.instant_playout) {
      echo_mark(c, value);
      want_write(c);
    } else {
      c.model.mark(std::string(value), now);
    }
  } else {  // clear
    ++c.res.clears;
    if (probe && c.opt.probe_call >= 0) probe->caller_clear();
    if (c.opt.keep_heard_audio) {
      const auto played = std::min<std::uint64_t>(c.model.played_since_clear(now), c.gen_audio.size());
      c.res.heard_audio.insert(c.res.heard_audio.end(), c.gen_audio.begin(),
                               c.gen_audio.begin() + static_cast<std::ptrdiff_t>(played));
    }
    c.gen_audio.clear();
    c.model.clear(now);
    c.res.heard_at_clears = c.model.heard_at_clears();
    c.busy_until = now;
  }
  pump_echoes(c, now);
}

void pool::echo_cb(lws_sorted_usec_list_t* sul) {
  call* c = owner_of(sul);
  try {
    std::lock_guard lk(c->pool->mu);
    if (c->state != call_state::open) return;
    c->pool->pump_echoes(*c, clock::now());
  } catch (...) {
  }
}

void pool::echo_mark(call& c, std::string_view name) {
  std::string m = R"({"event":"mark","sequenceNumber":")";
  m += next_seq(c);
  m += R"(","streamSid":)";
  append_json_string(m, c.res.stream_sid);
  m += R"(,"mark":{"name":)";
  append_json_string(m, name);
  m += "}}";
  enqueue(c, std::move(m));
  ++c.res.marks_echoed;
  if (probe && c.opt.probe_call >= 0) probe->caller_mark_echoed();
}

void pool::pump_echoes(call& c, timestamp now) {
  if (c.state != call_state::open) return;
  bool queued = false;
  for (auto& name : c.model.take_echoes(now)) {
    echo_mark(c, name);
    queued = true;
  }
  if (auto due = c.model.next_echo())
    schedule_echo(c, *due, now);
  else
    cancel_echo(c);
  if (queued) want_write(c);
}

// ---- writing ------------------------------------------------------------------------

int pool::on_writeable(call& c) {
  if (c.want_drop) {
    c.we_closed = true;
    return -1;  // no close reason set: lws drops the connection without a close frame
  }
  if (!c.outq.empty()) {
    if (c.outq.front().due > clock::now()) {  // still on the network (network_delay): the net timer brings us back
      schedule_net(c, clock::now());
      return 0;
    }
    out_message m = std::move(c.outq.front());
    c.outq.pop_front();
    const std::size_t len = m.buf.size() - LWS_PRE;
    if (m.tag) {
      m.tag->sent_us = frame_tag::now_us();
      frame_tag::encode_base64(*m.tag, m.buf.data() + m.tag_at);
    }
    auto* p = reinterpret_cast<unsigned char*>(m.buf.data()) + LWS_PRE;
    const int n = lws_write(c.wsi, p, len, LWS_WRITE_TEXT);
    if (n < 0 || static_cast<std::size_t>(n) < len) {
      if (c.res.error.empty()) c.res.error = "lws_write failed";
      return -1;
    }
    if (m.media) ++c.res.frames_sent;
    if (m.tag) probe->caller_frame_written(c.opt.probe_call);
    for (; c.acks_owed > 0 && c.outq.size() < probe->window(); --c.acks_owed)
      probe->caller_acknowledge(c.opt.probe_call);
    if (!c.outq.empty() || c.want_close) {
      if (!c.outq.empty() && c.outq.front().due > clock::now())
        schedule_net(c, clock::now());
      else
        lws_callback_on_writable(c.wsi);
    }
    return 0;
  }
  if (c.want_close) {
    c.we_closed = true;
    c.state = call_state::closing;
    static unsigned char no_reason[1] = {0};
    lws_close_reason(c.wsi, LWS_CLOSE_STATUS_NORMAL, no_reason, 0);
    return -1;
  }
  return 0;  // spurious WRITEABLE
}

// ---- the lws callback ---------------------------------------------------------------

int pool::callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, std::size_t len) {
  try {
    auto* self = static_cast<pool*>(lws_context_user(lws_get_context(wsi)));
    if (self == nullptr) return 0;
    return self->handle(wsi, reason, in, len);
  } catch (...) {
    return -1;
  }
}

int pool::handle(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len) {
  if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
    std::lock_guard lk(mu);
    if (stopping) begin_shutdown();
    drain_inbox();
    if (timers) timers->run_due(clock::now());
    // Flood mode: the fake OpenAI made room in some calls' windows.
    if (!shutdown_begun) {
      const std::vector<call*> calls_flooding = flooding;  // media_tick may finish a call
      for (call* c : calls_flooding) media_tick(*c);
    }
    return 0;
  }
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
    case LWS_CALLBACK_CLIENT_RECEIVE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP: break;
    default: return 0;
  }
  auto* c = static_cast<call*>(lws_get_opaque_user_data(wsi));
  if (c == nullptr) return reason == LWS_CALLBACK_CLIENT_WRITEABLE || reason == LWS_CALLBACK_CLIENT_RECEIVE ? -1 : 0;
  std::lock_guard lk(mu);
  if (c->res.finished) {
    // lws may still talk about a wsi we already wrote off; cut it loose.
    if (reason == LWS_CALLBACK_CLIENT_CLOSED || reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ||
        reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP)
      lws_set_opaque_user_data(wsi, nullptr);
    return reason == LWS_CALLBACK_CLIENT_WRITEABLE || reason == LWS_CALLBACK_CLIENT_RECEIVE ? -1 : 0;
  }
  c->wsi = wsi;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      // On HTTP/1 lws copies the name verbatim, so it carries its colon.
      static constexpr char ua[] = "Twilio.TmeWs/1.0";
      if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("user-agent:"),
                                      reinterpret_cast<const unsigned char*>(ua), static_cast<int>(sizeof ua - 1), p,
                                      end))
        return -1;
      if (!c->opt.signature.empty() &&
          lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("x-twilio-signature:"),
                                      reinterpret_cast<const unsigned char*>(c->opt.signature.data()),
                                      static_cast<int>(c->opt.signature.size()), p, end))
        return -1;
      return 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
      // For a ws client this is the last look at the upgrade's answer before
      // lws checks it for 101 (and reports anything else as a connection error).
      c->http_status = static_cast<int>(lws_http_client_http_response(wsi));
      return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED: on_established(*c); return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: on_receive(*c, static_cast<const char*>(in), len); return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: return on_writeable(*c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const auto* b = static_cast<const unsigned char*>(in);
      c->peer_close_seen = true;
      if (!c->we_closed) {
        c->res.closed_by_bridge = true;
        c->res.close_after_playout =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - c->model.playing_until());
      }
      if (b != nullptr && len >= 2) {
        c->res.close_code = (b[0] << 8) | b[1];
        c->res.close_reason.assign(reinterpret_cast<const char*>(b) + 2, len - 2);
      } else {
        c->res.close_code = 1005;  // no status code in the close frame
      }
      c->state = call_state::closing;
      c->media_running = false;
      cancel_media(*c);
      return 0;  // lws echoes the close frame, then CLIENT_CLOSED
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (!c->we_closed) c->res.closed_by_bridge = true;
      lws_set_opaque_user_data(wsi, nullptr);
      finish(*c, clock::now());
      return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
      // lws 4.1.6: a client killed while still waiting for the upgrade's
      // answer (our connect timeout, or the server hanging up without one)
      // is still in the http role, so it gets this, not CONNECTION_ERROR.
      if (c->http_status != 0 && c->http_status != 101) c->res.refused_status = c->http_status;
      lws_set_opaque_user_data(wsi, nullptr);
      fail(*c, "closed before the WebSocket upgrade completed");
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      int status = static_cast<int>(lws_http_client_http_response(wsi));
      if (status == 0) status = c->http_status;
      if (status != 0 && status != 101) c->res.refused_status = status;
      std::string why =
          in != nullptr ? std::string(static_cast<const char*>(in), ::strnlen(static_cast<const char*>(in), len)) : "";
      if (why.empty()) why = "connection error";
      if (c->state == call_state::open || c->state == call_state::closing) c->res.closed_by_bridge = !c->we_closed;
      lws_set_opaque_user_data(wsi, nullptr);
      fail(*c, std::move(why));
      return 0;
    }
    default: return 0;
  }
}

}  // namespace fake_twilio_detail

// ---- the public API ----------------------------------------------------------------------

struct caller_pool::impl : fake_twilio_detail::pool {
  using pool::pool;
};
using fake_twilio_detail::call;
using fake_twilio_detail::random_sid;

caller_pool::caller_pool() : caller_pool(caller_pool_options{}) {}
caller_pool::caller_pool(caller_pool_options options) : impl_(std::make_unique<impl>(options)) {}
caller_pool::~caller_pool() = default;

int caller_pool::start_call(caller_options options) {
  int id = 0;
  {
    std::lock_guard lk(impl_->mu);
    id = impl_->next_id++;
    auto c = std::make_unique<call>(impl_.get(), id, std::move(options));
    c->media_tick_timer.fire = &fake_twilio_detail::pool::media_fire;
    c->echo_tick_timer.fire = &fake_twilio_detail::pool::echo_fire;
    c->net_tick_timer.fire = &fake_twilio_detail::pool::net_fire;
    c->res.call_sid = c->opt.call_sid.empty() ? random_sid(impl_->rng, "CA") : c->opt.call_sid;
    c->res.stream_sid = c->opt.stream_sid.empty() ? random_sid(impl_->rng, "MZ") : c->opt.stream_sid;
    impl_->inbox.push_back(c.get());
    impl_->calls.emplace(id, std::move(c));
    ++impl_->active;
    if (impl_->stopping) {
      // Too late: the service thread may already be gone.
      call& cc = *impl_->calls.at(id);
      impl_->inbox.pop_back();
      cc.res.error = "caller pool is shutting down";
      impl_->finish(cc, clock::now());
      return id;
    }
  }
  lws_cancel_service(impl_->ctx);
  return id;
}

bool caller_pool::wait(int id, std::chrono::milliseconds timeout) {
  std::unique_lock lk(impl_->mu);
  auto it = impl_->calls.find(id);
  if (it == impl_->calls.end()) return false;
  const call* c = it->second.get();
  return impl_->cv.wait_for(lk, timeout, [c] { return c->res.finished; });
}

call_result caller_pool::result(int id) const {
  std::lock_guard lk(impl_->mu);
  auto it = impl_->calls.find(id);
  if (it == impl_->calls.end()) return {};
  return impl_->snapshot(*it->second);
}

std::size_t caller_pool::active_calls() const {
  std::lock_guard lk(impl_->mu);
  return impl_->active;
}

}  // namespace rtb::peers
