#include <fcntl.h>
#include <sys/resource.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include <openssl/ssl.h>
#include <unistd.h>

#include "internal.hpp"
#include "client_tls.hpp"
#include "fetch_exchange.hpp"
#include "listener.hpp"

namespace rtb::lws_adapter {

struct server::impl {
  server_shared shared;
  std::vector<std::unique_ptr<service_thread>> threads;
  /// One client TLS context for every thread's vhost, owned here: when lws
  /// creates its own per context, several contexts in one process lose track of
  /// them at destruction (a process-wide OpenSSL ex_data index is reassigned
  /// by each), leaking each context's CA store.
  SSL_CTX* client_tls = nullptr;
  int port = 0;
  event_loop loop = event_loop::libev;
  bool stopped = false;

  ~impl() {
    shut_down();
    if (client_tls) SSL_CTX_free(client_tls);
  }

  void shut_down() {
    if (stopped) return;
    stopped = true;
    shared.accepting_fetches = false;  // fetches end as stopped from now on
    for (auto& t : threads) {
      t->close_mailbox();  // call handles say server_stopped from now on
      t->exit = true;
      if (t->context) t->runner->wake(t->context);
    }
    for (auto& t : threads)
      if (t->thread.joinable()) t->thread.join();
    // A thread that never ran still owns its context.
    for (auto& t : threads)
      if (t->context) t->runner->destroy(t->context);
  }
};

namespace {

error bad_option(std::string message) { return {errc::invalid_config, std::move(message)}; }

/// The thread's context on a loop of `kind`; null if lws refuses (for libev:
/// its plugin is missing). The thread keeps the runner either way.
lws_context* create_context(service_thread& t, event_loop kind, bool tls) {
  t.runner = make_loop_runner(kind, t.shared.timers_pending);
  lws_context_creation_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
  ci.user = &t;
  ci.port = CONTEXT_PORT_NO_LISTEN;
  ci.timeout_secs = static_cast<unsigned int>(t.shared.options.handshake_timeout.count());
  if (!t.runner->prepare(ci)) return nullptr;
  return lws_create_context(&ci);
}

/// Each call holds two sockets; a process out of descriptors stops
/// accepting (service_thread::pause_accepting). Unless told otherwise,
/// admit as many calls as the open-files limit leaves room for, keeping a
/// reserve for HTTP requests, probes and files, and say so.
std::size_t derive_max_calls(const server_shared& s) {
  constexpr long reserve = 64;  // descriptors kept for everything but calls
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 100000;
  long open = 0;
  for (long fd = 0; fd < static_cast<long>(limit.rlim_cur) && fd < 65536; ++fd)
    if (::fcntl(static_cast<int>(fd), F_GETFD) != -1) ++open;
  const long room = std::max(1L, (static_cast<long>(limit.rlim_cur) - open - reserve) / 2);
  s.log(room < 1000 ? log_level::warning : log_level::info,
        fmt::format("open-files limit {} ({} open): room for about {} concurrent calls{}", limit.rlim_cur, open, room,
                    room < 1000 ? "; raise it (ulimit -n, or LimitNOFILE= in a systemd unit)" : ""));
  return static_cast<std::size_t>(room);
}

result<void> check(const server_options& o) {
  if (o.port < 0 || o.port > 65535) return bad_option("port must be from 0 to 65535");
  if (o.threads < 0 || o.threads > 256) return bad_option("threads must be from 0 to 256");
  if (o.stream_path.empty() || o.stream_path.front() != '/' || o.stream_path.find('?') != std::string::npos)
    return bad_option("stream_path must start with '/' and have no query");
  if (o.ping_interval.count() <= 0 || o.idle_hangup <= o.ping_interval)
    return bad_option("ping_interval must be positive and idle_hangup longer than it");
  if (o.ping_interval.count() > 65535 || o.idle_hangup.count() > 65535)
    return bad_option("ping_interval and idle_hangup must be under 65536 seconds");
  if (o.handshake_timeout.count() <= 0 || o.handshake_timeout.count() > 3600)
    return bad_option("handshake_timeout must be from 1 to 3600 seconds");
  if (o.close_timeout.count() <= 0 || o.close_timeout.count() > 3600)
    return bad_option("close_timeout must be from 1 to 3600 seconds");
  if (auto ok = validate(o.call); !ok) return ok;
  return {};
}

}  // namespace

server::server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

server::~server() = default;

result<std::unique_ptr<server>> server::start(server_options options, std::shared_ptr<application> app) {
  if (!app) return bad_option("an application is required");
  if (auto ok = check(options); !ok) return ok.error();
  if (auto ok = validate_openai_url(options.openai.url); !ok) return bad_option("the OpenAI URL: " + ok.error().message);
  auto url = parse_ws_url(options.openai.url);

  auto p = std::make_unique<impl>();
  server_shared& s = p->shared;
  s.options = std::move(options);
  s.app = std::move(app);
  s.openai = std::move(*url);
  s.openai_host = s.openai.host_header();
  s.retry.secs_since_valid_ping = static_cast<std::uint16_t>(s.options.ping_interval.count());
  s.retry.secs_since_valid_hangup = static_cast<std::uint16_t>(s.options.idle_hangup.count());

  lws_set_log_level(LLL_ERR, nullptr);
  // TLS for every client connection: OpenAI, and the https:// of fetch().
  const bool tls = true;
  {
    auto ctx = make_client_tls(s.options.openai.ca_file);
    if (!ctx) return ctx.error();
    p->client_tls = *ctx;
  }

  const int count =
      s.options.threads > 0 ? s.options.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  // Our own port, not one another process listens on (listener.hpp).
  auto claimed = claim_port(s.options.bind_address, s.options.port);
  if (!claimed) return claimed.error();
  int port = *claimed;
  p->loop = s.options.loop == event_loop::automatic ? event_loop::libev : s.options.loop;
  for (int i = 0; i < count; ++i) {
    auto t = std::make_unique<service_thread>(s, i);
    t->context = create_context(*t, p->loop, tls);
    if (!t->context && i == 0 && s.options.loop == event_loop::automatic) {
      s.log(log_level::warning,
            "lws' libev event library is not available (Debian: libwebsockets-evlib-ev); using the poll loop");
      p->loop = event_loop::poll;
      t->context = create_context(*t, p->loop, tls);
    }
    if (!t->context)
      return error{errc::invalid_config,
                   fmt::format("could not create a {} event loop (lws_create_context)", event_loop_name(p->loop))};

    // The vhost serves connections we accept ourselves (see listener.hpp),
    // and connects to OpenAI with the shared client TLS context.
    lws_context_creation_info vi;
    std::memset(&vi, 0, sizeof vi);
    vi.vhost_name = "rtb";
    vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    vi.protocols = protocol_table();
    vi.options = tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
    vi.provided_client_ssl_ctx = p->client_tls;
    vi.retry_and_idle_policy = &s.retry;
    // A request head (either leg) or a connect (to OpenAI) that takes longer
    // than this is given up: a client that sends half a request holds a
    // descriptor no longer.
    const auto handshake = static_cast<unsigned int>(s.options.handshake_timeout.count());
    vi.timeout_secs_ah_idle = static_cast<int>(handshake);
    vi.connect_timeout_secs = handshake;
    t->vhost = lws_create_vhost(t->context, &vi);
    if (!t->vhost) {
      t->runner->destroy(t->context);
      return error{errc::invalid_config, "could not create the server (lws_create_vhost)"};
    }
    if (auto gate = t->requests.open(); !gate) {
      t->runner->destroy(t->context);
      return gate.error();
    }
    auto listener = open_listener(s.options.bind_address, port, port);
    if (!listener) {
      t->runner->destroy(t->context);
      return listener.error();
    }
    lws_sock_file_fd_type fd;
    fd.filefd = *listener;
    if (!lws_adopt_descriptor_vhost(t->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "rtb-listen", nullptr)) {
      ::close(*listener);
      t->runner->destroy(t->context);
      return error{errc::invalid_config, "could not watch the listening socket (lws_adopt_descriptor_vhost)"};
    }
    p->threads.push_back(std::move(t));
  }
  p->port = port;
  for (auto& t : p->threads) {
    const std::lock_guard lock(t->mailbox->mutex);
    t->mailbox->context = t->context;
    t->mailbox->thread = t.get();
  }
  for (auto& t : p->threads) {
    service_thread* raw = t.get();
    t->thread = std::thread([raw] { raw->run(); });
  }
  s.log(log_level::info, fmt::format("listening on {}:{} with {} service thread{} ({} loop); media streams at {}",
                                     s.options.bind_address.empty() ? "*" : s.options.bind_address, port, count,
                                     count == 1 ? "" : "s", event_loop_name(p->loop), s.options.stream_path));
  const std::size_t room = derive_max_calls(s);
  s.max_calls = s.options.max_calls > 0 ? s.options.max_calls : room;
  if (s.options.max_calls > room)
    s.log(log_level::warning, fmt::format("max_calls {} is more than the open-files limit leaves room for ({})",
                                          s.options.max_calls, room));
  s.log(log_level::info, fmt::format("admitting at most {} calls at once{}", s.max_calls,
                                     s.options.max_calls > 0 ? "" : " (from the open-files limit)"));
  return std::unique_ptr<server>(new server(std::move(p)));
}

int server::port() const noexcept { return impl_->port; }

event_loop server::loop() const noexcept { return impl_->loop; }

void server::stop_accepting() { impl_->shared.accepting = false; }

bool server::draining() const noexcept { return !impl_->shared.accepting.load(); }

std::size_t server::max_calls() const noexcept { return impl_->shared.max_calls; }

bool server::full() const noexcept {
  const server_shared& s = impl_->shared;
  return !s.accepting.load() || s.admitted.load() >= s.max_calls;
}

void server::after(std::chrono::milliseconds delay, std::function<void(bool stopped)> work) {
  service_thread* here = service_thread::current();
  if (here && &here->shared == &impl_->shared) {
    here->defer(delay, std::move(work));
    return;
  }
  const auto& threads = impl_->threads;
  service_thread& target = *threads[impl_->shared.next_fetch_thread++ % threads.size()];
  auto shared_work = std::make_shared<std::function<void(bool)>>(std::move(work));
  posted_command c;
  c.what = posted_command::kind::task;
  c.task = [delay, shared_work](service_thread* t) {
    if (t)
      t->defer(delay, std::move(*shared_work));
    else
      (*shared_work)(true);
  };
  if (!target.post(std::move(c))) (*shared_work)(true);
}

void server::write_metrics(prometheus_writer& out) const { write_adapter_metrics(impl_->shared, impl_->threads, out); }

void server::fetch(fetch_request request, fetch_callback done) {
  service_thread* here = service_thread::current();
  if (here && &here->shared == &impl_->shared) {
    fetch_exchange::start(*here, std::move(request), std::move(done));
    return;
  }
  const auto& threads = impl_->threads;
  service_thread& target = *threads[impl_->shared.next_fetch_thread++ % threads.size()];
  // The callback moves into the task; whoever runs the task (the thread, or
  // the mailbox closing) calls it once.
  auto shared_done = std::make_shared<fetch_callback>(std::move(done));
  posted_command c;
  c.what = posted_command::kind::task;
  c.task = [request = std::move(request), shared_done](service_thread* t) mutable {
    if (t) {
      fetch_exchange::start(*t, std::move(request), std::move(*shared_done));
      return;
    }
    fetch_result r;
    r.error = fetch_error::stopped;
    r.detail = "the server stopped";
    (*shared_done)(r);
  };
  if (!target.post(std::move(c))) {
    fetch_result r;
    r.error = fetch_error::stopped;
    r.detail = "the server is stopped";
    (*shared_done)(r);
  }
}

bool server::threads_alive(std::chrono::milliseconds within) const noexcept {
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  for (const auto& t : impl_->threads)
    if (now_ms - t->last_tick_ms.load() > within.count()) return false;
  return true;
}

result<void> validate_openai_url(std::string_view text) {
  auto url = parse_ws_url(std::string(text));
  if (!url) return error{errc::invalid_config, url.error().message};
  if (!url->tls && !is_loopback_host(url->host))
    return error{errc::invalid_config, "plain ws:// is only allowed to a loopback host; use wss://"};
  return {};
}

bool server::wait_idle(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (impl_->shared.calls_active.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void server::stop() {
  if (impl_->stopped) return;
  impl_->shared.accepting = false;
  // Close the remaining calls properly (both legs get close frames), then stop.
  for (auto& t : impl_->threads) {
    t->end_all_calls = true;
    lws_cancel_service(t->context);
  }
  wait_idle(std::chrono::seconds(3));
  impl_->shut_down();
}

server_stats server::stats() const {
  const server_shared& s = impl_->shared;
  server_stats out;
  out.calls_started = s.calls_started.load();
  out.calls_active = s.calls_active.load();
  out.calls_ended = s.calls_ended.load();
  out.streams_refused = s.streams_refused.load();
  out.admission_refusals = s.admission_refusals.load();
  out.accept_pauses = s.accept_pauses.load();
  out.http_requests = s.http_requests.load();
  out.unexpected_destroys = s.unexpected_destroys.load();
  out.timers_pending = s.timers_pending.load();
  out.fetches_active = s.fetches_active.load();
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (const auto at = s.openai_last_open_ms.load(); at != 0) out.openai_last_open_ago = std::chrono::milliseconds(now_ms - at);
  if (const auto at = s.openai_last_failure_ms.load(); at != 0)
    out.openai_last_failure_ago = std::chrono::milliseconds(now_ms - at);
  return out;
}

}  // namespace rtb::lws_adapter
