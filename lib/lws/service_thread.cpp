// The lws callbacks: HTTP routes and the media-stream WebSocket on protocol 0,
// the OpenAI client WebSocket on protocol 1. No C++ exception leaves a
// callback: each body runs inside guarded().
#include <chrono>
#include <cstring>
#include <exception>

#include <fmt/format.h>

#include "call_link.hpp"
#include "fetch_exchange.hpp"
#include "internal.hpp"
#include "listener.hpp"
#include "upgrade_refusal.hpp"

namespace rtb::lws_adapter {
namespace {

constexpr std::size_t rx_buffer_bytes = 64 * 1024;
/// Where "rtb-fetch" sits in protocol_table().
constexpr std::size_t fetch_protocol_index = 4;
/// How long the listening socket is left alone once descriptors run out.
constexpr lws_usec_t accept_pause = 250 * LWS_US_PER_MS;

/// Per-session data of protocol 0. lws zero-allocates and free()s it: plain
/// pointers only.
struct twilio_pss {
  struct http_exchange* http;
  call_link* link;
};

struct http_exchange {
  http_request request;
  std::size_t content_length = 0;
  bool body_too_large = false;
  bool answered = false;  ///< one response per request, whatever lws reports after it
  std::string response;   ///< LWS_PRE headroom + body, written in HTTP_WRITEABLE
  /// A streamed response (http_response::event_stream): what the
  /// application's handles share with this connection.
  std::shared_ptr<event_stream::shared_state> stream;
  /// An answer that comes later (http_response::later), and how long it may take.
  std::shared_ptr<pending_response::shared_state> pending;
  loop_timer pending_timeout{};
  service_thread* thread = nullptr;
  struct lws* pending_wsi = nullptr;  ///< the connection, for a `later` answer
  ~http_exchange() {
    if (thread) thread->runner->cancel(pending_timeout);
    if (pending) {
      const std::lock_guard lock(pending->mutex);
      pending->done = true;
      pending->exchange = nullptr;
    }
    if (stream) {
      const std::lock_guard lock(stream->mutex);
      stream->closed = true;
      stream->wsi = nullptr;
      stream->queued.clear();
    }
  }
};



service_thread& thread_of(struct lws* wsi) {
  return *static_cast<service_thread*>(lws_context_user(lws_get_context(wsi)));
}

std::string header(struct lws* wsi, lws_token_indexes token) {
  const int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return {};
  std::string value(static_cast<std::size_t>(n) + 1, '\0');
  const int copied = lws_hdr_copy(wsi, value.data(), n + 1, token);
  value.resize(copied > 0 ? static_cast<std::size_t>(copied) : 0);
  return value;
}

std::string custom_header(struct lws* wsi, const char* name_with_colon) {
  const int name_length = static_cast<int>(std::strlen(name_with_colon));
  const int n = lws_hdr_custom_length(wsi, name_with_colon, name_length);
  if (n <= 0) return {};
  std::string value(static_cast<std::size_t>(n) + 1, '\0');
  const int copied = lws_hdr_custom_copy(wsi, value.data(), n + 1, name_with_colon, name_length);
  value.resize(copied > 0 ? static_cast<std::size_t>(copied) : 0);
  return value;
}

std::string peer_of(struct lws* wsi) {
  char buf[128] = {};
  if (!lws_get_peer_simple(wsi, buf, sizeof buf)) return "?";
  return buf;
}

// The method and target of the request. `path` is lws' copy, decoded, for
// routing; `target` and `query` are the bytes as received, kept by the
// request-line gate (request_line.hpp), because lws decodes its copy of the
// query past recovery ('+' and %20 both become a space). `consume`: an HTTP
// request, whose connection serves no other (respond() closes it).
void request_target(struct lws* wsi, std::string& path, std::string& target, std::string& query, std::string& method,
                    bool consume) {
  // lws keeps the path under the token of the request's method.
  static constexpr std::pair<lws_token_indexes, const char*> methods[] = {
      {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},     {WSI_TOKEN_HEAD_URI, "HEAD"},
      {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_PATCH_URI, "PATCH"},
      {WSI_TOKEN_OPTIONS_URI, "OPTIONS"}};
  method = "OTHER";
  for (const auto& [token, name] : methods) {
    if (lws_hdr_total_length(wsi, token) <= 0) continue;
    method = name;
    path = header(wsi, token);
    break;
  }
  target = thread_of(wsi).requests.target(wsi, consume).value_or(std::string());
  const std::size_t q = target.find('?');
  query = q == std::string::npos ? std::string() : target.substr(q + 1);
}

stream_request stream_request_of(struct lws* wsi) {
  stream_request r;
  std::string method;
  request_target(wsi, r.path, r.target, r.query, method, false);
  r.host = header(wsi, WSI_TOKEN_HOST);
  r.twilio_signature = custom_header(wsi, "x-twilio-signature:");
  r.peer = peer_of(wsi);
  return r;
}

// Sends a complete HTTP response: headers now, the body at HTTP_WRITEABLE.
int respond(struct lws* wsi, http_exchange& ex, const http_response& r) {
  if (ex.answered) return 0;
  ex.answered = true;
  unsigned char buf[LWS_PRE + 2048];
  unsigned char* start = buf + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buf + sizeof buf - 1;
  std::string body = r.body.empty() && !r.event_stream ? std::string("\n") : r.body;
  // Given no length, lws adds "connection: close" and ends the connection
  // after this response: each request is then the first on its connection,
  // the one whose request line the gate read as received (request_line.hpp).
  if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(r.status), r.content_type.c_str(),
                                  LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end))
    return 1;
  if (r.event_stream) {
    // No length: the body runs until the connection closes.
    static constexpr std::string_view no_cache = "no-cache";
    if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("cache-control:"),
                                    reinterpret_cast<const unsigned char*>(no_cache.data()),
                                    static_cast<int>(no_cache.size()), &p, end))
      return 1;
  } else if (lws_add_http_header_content_length(wsi, body.size(), &p, end)) {
    return 1;
  }
  for (const auto& [name, value] : r.headers) {
    const std::string key = name + ":";
    if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(key.c_str()),
                                    reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()),
                                    &p, end))
      return 1;
  }
  if (lws_finalize_write_http_header(wsi, start, &p, end)) return 1;
  ex.response.assign(LWS_PRE, '\0');
  ex.response += body;
  if (r.event_stream) {
    service_thread& t = thread_of(wsi);
    ex.stream = std::make_shared<event_stream::shared_state>();
    ex.stream->wsi = wsi;
    ex.stream->mailbox = t.mailbox;
    t.shared.app->on_event_stream(event_stream(ex.stream), ex.request);
  }
  lws_callback_on_writable(wsi);
  return 0;
}

// A streamed response: what its handles queued, or its end.
int write_stream(struct lws* wsi, http_exchange& ex) {
  std::string out(LWS_PRE, '\0');
  bool close = false;
  {
    const std::lock_guard lock(ex.stream->mutex);
    out += ex.stream->queued;
    ex.stream->queued.clear();
    close = ex.stream->close_asked || ex.stream->closed;
  }
  if (out.size() > LWS_PRE &&
      lws_write(wsi, reinterpret_cast<unsigned char*>(out.data()) + LWS_PRE, out.size() - LWS_PRE, LWS_WRITE_HTTP) < 0)
    return -1;
  return close ? -1 : 0;
}

/// The answer a `later` request was given, now on its own thread.
int answer_pending(struct lws* wsi, http_exchange& ex, http_response r) {
  ex.thread->runner->cancel(ex.pending_timeout);
  r.later = false;
  r.event_stream = false;
  ex.thread->shared.log(r.quiet ? log_level::debug : log_level::info,
                        fmt::format("HTTP {} {} from {} -> {}", ex.request.method, ex.request.path, ex.request.peer,
                                    r.status));
  return respond(wsi, ex, r);
}

// Waits for the application's answer (http_response::later).
int defer_answer(struct lws* wsi, http_exchange& ex) {
  service_thread& t = thread_of(wsi);
  ex.thread = &t;
  ex.pending = std::make_shared<pending_response::shared_state>();
  ex.pending->exchange = &ex;
  ex.pending->mailbox = t.mailbox;
  ex.pending_wsi = wsi;
  ex.pending_timeout.owner = wsi;
  ex.pending_timeout.fire = [](loop_timer& timer) {
    auto* w = static_cast<struct lws*>(timer.owner);
    auto* pss = static_cast<twilio_pss*>(lws_wsi_user(w));
    if (!pss || !pss->http) return;
    {
      const std::lock_guard lock(pss->http->pending->mutex);
      if (pss->http->pending->done) return;
      pss->http->pending->done = true;
    }
    if (answer_pending(w, *pss->http, {504, "text/plain", "the answer took too long\n"})) lws_set_timeout(w, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  };
  t.runner->schedule(t.context, ex.pending_timeout,
                     std::chrono::duration_cast<std::chrono::microseconds>(t.shared.options.pending_answer_timeout).count());
  t.shared.app->on_pending_response(pending_response(ex.pending), ex.request);
  return 0;
}

int answer_http(struct lws* wsi, http_exchange& ex) {
  service_thread& t = thread_of(wsi);
  ++t.shared.http_requests;
  http_response r;
  if (ex.body_too_large) {
    r = {413, "text/plain", "request body too large\n"};
  } else {
    try {
      r = t.shared.app->on_http(ex.request);
    } catch (const std::exception& e) {
      t.shared.log(log_level::error,
                   fmt::format("HTTP {} {} failed: {}", ex.request.method, ex.request.path, e.what()));
      r = {500, "text/plain", "internal error\n"};
    }
  }
  if (r.later) return defer_answer(wsi, ex);
  t.shared.log(r.quiet ? log_level::debug : log_level::info,
               fmt::format("HTTP {} {} from {} -> {}", ex.request.method, ex.request.path, ex.request.peer, r.status));
  return respond(wsi, ex, r);
}

// A media stream refused because max_calls are in progress: counted, and
// logged at most once a second (a flood of refusals must not flood the log).
void refuse_full(service_thread& t, const stream_request& request) {
  const auto n = ++t.shared.admission_refusals;
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  std::int64_t last = t.shared.last_refusal_log_ms.load();
  if (now_ms - last < 1000 || !t.shared.last_refusal_log_ms.compare_exchange_strong(last, now_ms)) return;
  t.shared.log(log_level::warning,
               fmt::format("media stream from {} refused: {} calls in progress, the most this process takes "
                           "(max_calls); {} refused so far",
                           request.peer, t.shared.max_calls, n));
}

// A leg's connection is going away: the link forgets it, and is freed with
// its last leg. Never touch the link after this.
void release_twilio_leg(twilio_pss& pss, std::string_view why) {
  call_link* link = pss.link;
  pss.link = nullptr;
  link->on_leg_gone(leg::twilio, nullptr, why);
  if (link->done()) delete link;
}

void release_openai_leg(struct lws* wsi, call_link& link, std::string_view why) {
  lws_set_opaque_user_data(wsi, nullptr);
  link.on_leg_gone(leg::openai, wsi, why);
  if (link.done()) delete &link;
}

// lws reports every connection's destruction to protocols[0], this one's,
// whatever the connection's protocol. A leg still attached to its link here
// lost its close callback on some path of lws we did not foresee: let go of
// it now rather than leave the link a pointer to freed memory, and say so.
void on_wsi_destroyed(struct lws* wsi, twilio_pss* pss) {
  const lws_protocols* protocol = lws_get_protocol(wsi);
  service_thread& t = thread_of(wsi);
  t.requests.forget(wsi);
  if (protocol == &protocol_table()[1]) {
    if (auto* link = static_cast<call_link*>(lws_get_opaque_user_data(wsi))) {
      ++t.shared.unexpected_destroys;
      link->log(log_level::error, "the OpenAI connection was destroyed without a close callback");
      release_openai_leg(wsi, *link, "connection destroyed");
    }
    return;
  }
  if (protocol == &protocol_table()[fetch_protocol_index]) {
    if (auto* x = static_cast<fetch_exchange*>(lws_get_opaque_user_data(wsi))) {
      ++t.shared.unexpected_destroys;
      t.shared.log(log_level::error, "an outbound HTTP connection was destroyed without a close callback");
      lws_set_opaque_user_data(wsi, nullptr);
      x->finish_by_lws(fetch_error::connect_failed, "the connection was destroyed");
    }
    return;
  }
  if (protocol != &protocol_table()[0]) return;
  if (t.admitted_upgrades.erase(wsi) > 0) t.shared.admitted.fetch_sub(1);  // admitted, never established
  if (!pss) return;
  delete pss->http;
  pss->http = nullptr;
  if (pss->link) {
    ++t.shared.unexpected_destroys;
    pss->link->log(log_level::error, "the Twilio connection was destroyed without a close callback");
    release_twilio_leg(*pss, "connection destroyed");
  }
}

int twilio_callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  auto* pss = static_cast<twilio_pss*>(user);
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      // Broadcast to every protocol of every vhost: handled here only.
      thread_of(wsi).drain_inbox();
      return 0;

    // --- HTTP routes ---
    case LWS_CALLBACK_HTTP: {
      if (!pss) return -1;
      auto* ex = new http_exchange;
      pss->http = ex;
      request_target(wsi, ex->request.path, ex->request.target, ex->request.query, ex->request.method, true);
      ex->request.content_type = header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
      ex->request.host = header(wsi, WSI_TOKEN_HOST);
      ex->request.twilio_signature = custom_header(wsi, "x-twilio-signature:");
      ex->request.authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
      ex->request.peer = peer_of(wsi);
      const std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
      ex->content_length = length.empty() ? 0 : std::strtoull(length.c_str(), nullptr, 10);
      if (ex->request.method == "POST" && ex->content_length > 0) return 0;  // the body follows
      // No body: answer now (lws may still report a body completion; the
      // exchange answers once).
      return answer_http(wsi, *ex);
    }
    case LWS_CALLBACK_HTTP_BODY:
      if (pss && pss->http) {
        http_exchange& ex = *pss->http;
        if (ex.request.body.size() + len > thread_of(wsi).shared.options.max_http_body_bytes)
          ex.body_too_large = true;
        else
          ex.request.body.append(static_cast<const char*>(in), len);
      }
      return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (pss && pss->http) return answer_http(wsi, *pss->http);
      return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: {
      if (!pss || !pss->http) return 0;
      http_exchange& ex = *pss->http;
      if (ex.stream) {
        // The body given with the response first, then what the handles send.
        if (ex.response.size() > LWS_PRE) {
          const std::size_t length = ex.response.size() - LWS_PRE;
          if (lws_write(wsi, reinterpret_cast<unsigned char*>(ex.response.data()) + LWS_PRE, length,
                        LWS_WRITE_HTTP) < 0)
            return -1;
          ex.response.resize(LWS_PRE);
        }
        return write_stream(wsi, ex);
      }
      if (ex.response.size() <= LWS_PRE) return 0;
      std::string& out = ex.response;
      const std::size_t length = out.size() - LWS_PRE;
      if (lws_write(wsi, reinterpret_cast<unsigned char*>(out.data()) + LWS_PRE, length, LWS_WRITE_HTTP_FINAL) !=
          static_cast<int>(length))
        return -1;
      out.resize(LWS_PRE);
      if (lws_http_transaction_completed(wsi)) return -1;
      return 0;
    }
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
      if (pss && pss->http) {
        delete pss->http;
        pss->http = nullptr;
      }
      return 0;

    // --- the media-stream WebSocket ---
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
      service_thread& t = thread_of(wsi);
      const stream_request request = stream_request_of(wsi);
      std::optional<http_response> refusal;
      if (std::string_view(static_cast<const char*>(in)) != "websocket") {
        refusal = http_response{400, "text/plain", "only WebSocket upgrades are served\n"};
      } else if (request.path != t.shared.options.stream_path) {
        refusal = http_response{404, "text/plain", "not found\n"};
      } else if (!t.shared.accepting) {
        refusal = http_response{503, "text/plain", "shutting down\n"};
      } else {
        refusal = t.shared.app->check_stream(request);
      }
      if (!refusal) {
        // lws has no per-session data for the connection yet (it comes with
        // the upgrade): the thread remembers which upgrades hold a slot.
        if (t.shared.admitted.fetch_add(1) < t.shared.max_calls) {
          t.admitted_upgrades.insert(wsi);
          return 0;
        }
        t.shared.admitted.fetch_sub(1);
        refuse_full(t, request);
        refusal = http_response{503, "text/plain", "at capacity\n"};
      } else {
        t.shared.log(log_level::warning,
                     fmt::format("media stream from {} refused: {} {}", request.peer, refusal->status, refusal->body));
      }
      ++t.shared.streams_refused;
      if (lws_return_http_status(wsi, static_cast<unsigned int>(refusal->status), nullptr)) return -1;
      return 1;
    }
    case LWS_CALLBACK_ESTABLISHED: {
      if (!pss) return -1;
      service_thread& t = thread_of(wsi);
      auto* link = new call_link(t, t.shared.next_call_id++, stream_request_of(wsi), wsi);
      pss->link = link;
      t.admitted_upgrades.erase(wsi);  // the call holds the slot now, until it is freed
      link->start();
      return 0;
    }
    case LWS_CALLBACK_RECEIVE:
      if (pss && pss->link)
        pss->link->on_receive(leg::twilio, wsi, in, len,
                              lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi));
      return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      if (pss && pss->link) return pss->link->on_writeable(leg::twilio, wsi);
      return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (pss && pss->link && pss->link->on_peer_close(leg::twilio, wsi, in, len)) return 1;
      return 0;
    case LWS_CALLBACK_CLOSED:
      if (pss && pss->link) release_twilio_leg(*pss, "closed");
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      on_wsi_destroyed(wsi, pss);
      return 0;
    default: break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int openai_callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  auto* link = static_cast<call_link*>(lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      if (!link) return 0;
      bool failed = false;
      auto** p = static_cast<unsigned char**>(in);
      link->append_openai_headers(wsi, p, *p + len, failed);
      return failed ? -1 : 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (link) link->on_openai_established(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      if (link)
        link->on_receive(leg::openai, wsi, in, len, lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi));
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (link) return link->on_writeable(leg::openai, wsi);
      return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (link && link->on_peer_close(leg::openai, wsi, in, len)) return 1;
      return 0;
    // Every way lws lets go of the connection. A client whose upgrade was
    // sent but never answered is still an HTTP client when lws' handshake
    // timeout closes it: that close comes as CLOSED_CLIENT_HTTP, neither of
    // the other two.
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
      if (link) {
        std::string why;
        if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR) {
          // A refused upgrade still has its status here (upgrade_refusal.hpp).
          const unsigned status = lws_http_client_http_response(wsi);
          why = status != 0 && status != 101
                    ? describe_upgrade_refusal(status)
                    : fmt::format("connection failed: {}", in ? static_cast<const char*>(in) : "unknown error");
        } else {
          why = reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP ? "connection closed before the upgrade" : "closed";
        }
        release_openai_leg(wsi, *link, why);
      }
      return 0;
    default: break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

// Outbound HTTP (fetch_exchange.hpp): the exchange is the connection's opaque
// user data until lws reports the connection's end.
int fetch_callback_fn(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  auto* x = static_cast<fetch_exchange*>(lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      if (!x) return 0;
      bool failed = false;
      auto** p = static_cast<unsigned char**>(in);
      x->append_headers(p, *p + len, failed);
      return failed ? -1 : 0;
    }
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: return x ? x->on_writeable() : 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
      if (x)
        x->on_status(static_cast<int>(lws_http_client_http_response(wsi)), header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE),
                     lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 ||
                         lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0);
      return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buffer[LWS_PRE + 4096];
      char* p = buffer + LWS_PRE;
      int n = static_cast<int>(sizeof buffer - LWS_PRE);
      return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
      return x && !x->on_body(static_cast<const char*>(in), len) ? -1 : 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
      if (x) x->on_complete();
      return -1;  // one exchange per connection: close it now
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
      if (x) {
        lws_set_opaque_user_data(wsi, nullptr);
        if (reason == LWS_CALLBACK_CLOSED_CLIENT_HTTP)
          x->finish_by_lws(fetch_error::connect_failed, "the connection closed before the response was complete");
        else
          x->finish_by_lws(fetch_error::connect_failed,
                           fmt::format("connection failed: {}", in ? static_cast<const char*>(in) : "unknown error"));
      }
      return 0;
    default: break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

// The thread's listening socket, watched as a raw descriptor: accept every
// pending connection and hand it to lws as an HTTP connection of this vhost.
int listen_callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  if (reason == LWS_CALLBACK_RAW_RX_FILE) {
    int error_number = 0;
    const accept_outcome outcome = accept_all(
        lws_get_socket_fd(wsi),
        [&](int fd) { thread_of(wsi).requests.accepted(fd); },  // adopted once its request line is in
        error_number);
    if (outcome == accept_outcome::out_of_descriptors) thread_of(wsi).pause_accepting(wsi, error_number);
    return 0;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

// The request-line gate's epoll descriptor, watched as a raw file
// (request_line.hpp).
int request_line_callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  if (reason == LWS_CALLBACK_RAW_RX_FILE) {
    thread_of(wsi).requests.on_readable();
    return 0;
  }
  if (reason == LWS_CALLBACK_RAW_CLOSE_FILE) {
    thread_of(wsi).requests.on_watch_closed();
    return 0;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

// Catches every exception at the C boundary: a failing call closes its own
// connection, never the process.
template <int (*Callback)(struct lws*, enum lws_callback_reasons, void*, void*, std::size_t)>
int guarded(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  try {
    return Callback(wsi, reason, user, in, len);
  } catch (const std::exception& e) {
    thread_of(wsi).shared.log(log_level::error,
                              fmt::format("callback {} failed: {}", static_cast<int>(reason), e.what()));
  } catch (...) {
    thread_of(wsi).shared.log(log_level::error, fmt::format("callback {} failed", static_cast<int>(reason)));
  }
  return -1;
}

const lws_protocols protocols[] = {
    {"rtb-twilio", &guarded<&twilio_callback>, sizeof(twilio_pss), rx_buffer_bytes, 0, nullptr, 0},
    {"rtb-openai", &guarded<&openai_callback>, 0, rx_buffer_bytes, 0, nullptr, 0},
    {"rtb-listen", &guarded<&listen_callback>, 0, 0, 0, nullptr, 0},
    {"rtb-request-line", &guarded<&request_line_callback>, 0, 0, 0, nullptr, 0},
    {"rtb-fetch", &guarded<&fetch_callback_fn>, 0, 4096, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

const lws_protocols* protocol_table() { return protocols; }

void service_thread::pause_accepting(struct lws* listener, int error_number) {
  ++shared.accept_pauses;
  shared.log(log_level::error,
             fmt::format("thread {}: cannot accept connections: {}; not accepting for {} ms ({} calls on this thread; "
                         "raise the open-files limit, ulimit -n)",
                         index, std::strerror(error_number), accept_pause / LWS_US_PER_MS, calls.size()));
  lws_rx_flow_control(listener, 0);
  accept_resume.owner = listener;
  accept_resume.fire = [](loop_timer& t) { lws_rx_flow_control(static_cast<struct lws*>(t.owner), 1); };
  runner->schedule(context, accept_resume, accept_pause);
}

void service_thread::drain_inbox() {
  std::vector<posted_command> commands;
  {
    const std::lock_guard lock(mailbox->mutex);
    commands.swap(mailbox->commands);
  }
  for (auto& c : commands) {
    if (c.what == posted_command::kind::task) {
      if (c.task) c.task(this);
    } else {
      (void)run_now(c);
    }
  }
  if (end_all_calls.exchange(false)) {
    std::vector<call_link*> all;
    for (auto& [id, link] : calls) all.push_back(link);
    for (call_link* link : all) link->run({link->id(), posted_command::kind::end_call, "server shutdown", {}, false, {}});
  }
}

bool service_thread::run_now(const posted_command& command) {
  auto it = calls.find(command.call_id);
  if (it == calls.end()) return false;
  it->second->run(command);
  return true;
}

void service_thread::close_mailbox() {
  std::vector<posted_command> left;
  {
    const std::lock_guard lock(mailbox->mutex);
    mailbox->context = nullptr;
    mailbox->thread = nullptr;
    left.swap(mailbox->commands);
  }
  for (auto& c : left)
    if (c.what == posted_command::kind::task && c.task) c.task(nullptr);
}

void post_task(thread_mailbox& mailbox, std::function<void(service_thread*)> work) {
  posted_command c;
  c.what = posted_command::kind::task;
  c.task = std::move(work);
  const std::lock_guard lock(mailbox.mutex);
  if (!mailbox.context) return;  // the server is stopping: its connections close anyway
  mailbox.commands.push_back(std::move(c));
  lws_cancel_service(mailbox.context);
}

bool pending_response::respond(http_response response) const {
  if (!state_) return false;
  {
    const std::lock_guard lock(state_->mutex);
    if (state_->done) return false;
    state_->done = true;
    state_->answer = std::move(response);
  }
  post_task(*state_->mailbox, [state = state_](service_thread* t) {
    if (!t) return;
    http_exchange* ex = nullptr;
    http_response answer;
    {
      const std::lock_guard lock(state->mutex);
      ex = static_cast<http_exchange*>(state->exchange);
      if (!ex || !state->answer) return;  // the client left
      answer = std::move(*state->answer);
      state->answer.reset();
    }
    if (answer_pending(ex->pending_wsi, *ex, std::move(answer)))
      lws_set_timeout(ex->pending_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  });
  return true;
}

bool service_thread::post(posted_command command) {
  const std::lock_guard lock(mailbox->mutex);
  if (!mailbox->context) return false;
  mailbox->commands.push_back(std::move(command));
  lws_cancel_service(mailbox->context);
  return true;
}

namespace {
thread_local service_thread* current_service_thread = nullptr;
}  // namespace

service_thread* service_thread::current() noexcept { return current_service_thread; }

void service_thread::defer(std::chrono::milliseconds delay, std::function<void(bool stopped)> work) {
  if (deferred_closed) {
    work(true);
    return;
  }
  deferred.emplace_back();
  auto it = std::prev(deferred.end());
  it->work = std::move(work);
  it->thread = this;
  it->timer.owner = &*it;
  it->timer.fire = [](loop_timer& t) {
    auto* d = static_cast<deferred_work*>(t.owner);
    service_thread& self = *d->thread;
    auto job = std::move(d->work);
    self.deferred.remove_if([d](const deferred_work& x) { return &x == d; });
    job(false);
  };
  runner->schedule(context, it->timer, std::chrono::duration_cast<std::chrono::microseconds>(delay).count());
}

void service_thread::cancel_deferred() {
  deferred_closed = true;
  std::list<deferred_work> left;
  left.swap(deferred);
  for (auto& d : left) {
    runner->cancel(d.timer);
    if (d.work) d.work(true);
  }
}

void service_thread::run() {
  current_service_thread = this;
  thread_id = std::this_thread::get_id();
  {
    const std::lock_guard lock(mailbox->mutex);
    mailbox->owner = thread_id;
  }
  arm_tick();
  runner->run(context, exit);
  runner->cancel(tick);
  cancel_deferred();
  // The loop may also stop on its own (lws failed): refuse commands before
  // the context they would wake is gone.
  close_mailbox();
  runner->destroy(context);
}

}  // namespace rtb::lws_adapter
