#include "fetch_exchange.hpp"

#include <cstring>

#include <fmt/format.h>

#include "internal.hpp"

namespace rtb::lws_adapter {

void fetch_exchange::start(service_thread& thread, fetch_request request, fetch_callback done) {
  auto* x = new fetch_exchange(thread, std::move(request), std::move(done));
  x->connect();
}

fetch_exchange::fetch_exchange(service_thread& thread, fetch_request request, fetch_callback done)
    : thread_(thread),
      request_(std::move(request)),
      done_(std::move(done)),
      started_(std::chrono::steady_clock::now()) {
  timer_.owner = this;
  timer_.fire = &fetch_exchange::on_timeout;
  ++thread_.shared.fetches_active;
}

fetch_exchange::~fetch_exchange() {
  thread_.runner->cancel(timer_);
  --thread_.shared.fetches_active;
}

void fetch_exchange::connect() {
  auto url = parse_http_url(request_.url);
  if (!url) {
    deliver(fetch_error::bad_url, "the URL: " + url.error().message);
    delete this;
    return;
  }
  if (!url->tls && !is_loopback_host(url->host)) {
    deliver(fetch_error::bad_url, "plain http:// is only allowed to a loopback host; use https://");
    delete this;
    return;
  }
  if (!thread_.shared.accepting_fetches) {
    deliver(fetch_error::stopped, "the server is stopping");
    delete this;
    return;
  }
  url_ = std::move(*url);
  host_header_ = url_.host_header();
  thread_.runner->schedule(thread_.context, timer_,
                           std::chrono::duration_cast<std::chrono::microseconds>(request_.timeout).count());

  lws_client_connect_info i;
  std::memset(&i, 0, sizeof i);
  i.context = thread_.context;
  i.vhost = thread_.vhost;
  i.address = url_.host.c_str();
  i.port = url_.port;
  i.path = url_.path.c_str();
  i.host = host_header_.c_str();
  i.method = request_.method.c_str();
  i.alpn = "http/1.1";
  i.ssl_connection = url_.tls ? LCCSCF_USE_SSL : 0;
  i.local_protocol_name = "rtb-fetch";
  i.opaque_user_data = this;
  i.pwsi = &wsi_;
  connecting_ = true;
  struct lws* wsi = lws_client_connect_via_info(&i);
  connecting_ = false;
  // A synchronous failure may already have been reported (lws_finished_);
  // either way this exchange ends here.
  if (!wsi || lws_finished_) {
    wsi_ = nullptr;
    deliver(fetch_error::connect_failed, result_.detail.empty() ? "could not start connecting" : result_.detail);
    delete this;
  }
}

void fetch_exchange::append_headers(unsigned char** p, unsigned char* end, bool& failed) {
  const auto add = [&](std::string_view name_with_colon, std::string_view value) {
    if (lws_add_http_header_by_name(wsi_, reinterpret_cast<const unsigned char*>(std::string(name_with_colon).c_str()),
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), p, end))
      failed = true;
  };
  for (const auto& [name, value] : request_.headers) add(name + ":", value);
  if (request_.body.empty() && request_.method == "GET") return;
  add("content-type:", request_.content_type);
  const std::string length = std::to_string(request_.body.size());
  add("content-length:", length);
  // The body follows in CLIENT_HTTP_WRITEABLE.
  lws_client_http_body_pending(wsi_, 1);
  lws_callback_on_writable(wsi_);
}

int fetch_exchange::on_writeable() {
  if (body_sent_ || delivered_) return 0;
  body_sent_ = true;
  std::string buffer(LWS_PRE, '\0');
  buffer += request_.body;
  auto* data = reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE;
  lws_client_http_body_pending(wsi_, 0);
  // lws keeps what the socket does not take and sends it before anything else.
  if (lws_write(wsi_, data, request_.body.size(), LWS_WRITE_HTTP_FINAL) < 0) return -1;
  return 0;
}

void fetch_exchange::on_status(int status, std::string content_type, bool has_length) {
  result_.status = status;
  result_.content_type = std::move(content_type);
  ends_at_close_ = !has_length;
}

bool fetch_exchange::on_body(const char* data, std::size_t length) {
  if (delivered_) return false;
  if (result_.body.size() + length > request_.max_response_bytes) {
    deliver(fetch_error::too_large,
            fmt::format("the response body is larger than {} bytes", request_.max_response_bytes));
    return false;
  }
  result_.body.append(data, length);
  return true;
}

void fetch_exchange::on_complete() { deliver(fetch_error::none, {}); }

void fetch_exchange::finish_by_lws(fetch_error error, std::string detail) {
  wsi_ = nullptr;
  if (!thread_.shared.accepting_fetches) {
    error = fetch_error::stopped;
    detail = "the server stopped";
  } else if (ends_at_close_ && result_.status != 0 && error == fetch_error::connect_failed) {
    error = fetch_error::none;  // the body ran to the end of the connection
    detail.clear();
  }
  if (connecting_) {
    // Inside lws_client_connect_via_info(): connect() finishes the job.
    lws_finished_ = true;
    result_.detail = std::move(detail);
    return;
  }
  deliver(error, std::move(detail));
  delete this;
}

void fetch_exchange::deliver(fetch_error error, std::string detail) {
  if (delivered_) return;
  delivered_ = true;
  thread_.runner->cancel(timer_);
  result_.error = error;
  if (error != fetch_error::none) {
    result_.status = error == fetch_error::too_large ? result_.status : 0;
    result_.body.clear();
  }
  result_.detail = std::move(detail);
  result_.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  fetch_callback done = std::move(done_);
  try {
    done(result_);
  } catch (const std::exception& e) {
    thread_.shared.log(log_level::error, fmt::format("a fetch callback failed: {}", e.what()));
  }
}

void fetch_exchange::on_timeout(loop_timer& timer) {
  auto& self = *static_cast<fetch_exchange*>(timer.owner);
  self.deliver(fetch_error::timeout, fmt::format("no complete response within {} ms", self.request_.timeout.count()));
  // lws reports the end of the connection later, and that deletes the exchange.
  if (self.wsi_) lws_set_timeout(self.wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

}  // namespace rtb::lws_adapter
