#include "server/app.hpp"
#include "server/calls_page.hpp"
#include "server/outbound_routes.hpp"

#include <chrono>
#include <fstream>

#include <fmt/format.h>

#include "realtime_bridge/metrics.hpp"
#include "realtime_bridge/service/call_tracker.hpp"
#include "realtime_bridge/trace.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "realtime_bridge/version.hpp"

namespace rtb::server_app {
namespace {

// Owns the file a call's trace goes to.
class file_trace final : public trace_sink {
 public:
  explicit file_trace(const std::string& path) : file_(path), sink_(file_) {}
  bool ok() const { return static_cast<bool>(file_); }
  void write_line(std::string_view line) override { sink_.write_line(line); }

 private:
  std::ofstream file_;
  ostream_trace_sink sink_;
};

lws_adapter::http_response forbidden() { return {403, "text/plain", "invalid or missing X-Twilio-Signature\n"}; }

lws_adapter::http_response method_not_allowed(std::string_view allow) {
  return {405, "text/plain", "method not allowed\n", {{"Allow", std::string(allow)}}};
}

}  // namespace

bridge_app::bridge_app(settings s, std::unique_ptr<service::call_store> store)
    : settings_(std::move(s)), store_(std::move(store)) {
  api_.admin_token = settings_.admin_token;
  api_.trace_dir = settings_.trace_dir;
  if (store_) reads_ = std::make_unique<service::work_queue>(2, 256);
  // Event streams hear from us at least this often: a client that left is
  // noticed (the write fails) even when no call is going on.
  keepalive_ = std::thread([this] {
    std::unique_lock lock(keepalive_mutex_);
    while (!keepalive_wake_.wait_for(lock, std::chrono::seconds(15), [&] { return stopping_; }))
      hub_.publish(service::live_event{});  // the SSE subscribers send a comment for it
  });
}

bridge_app::~bridge_app() {
  {
    const std::lock_guard lock(keepalive_mutex_);
    stopping_ = true;
  }
  keepalive_wake_.notify_all();
  keepalive_.join();
  webhook_.reset();  // before the server it sends through
  reads_.reset();    // before the store it reads
}

result<void> bridge_app::enable_outbound() {
  auto routes = outbound_routes::create(settings_, log_);
  if (!routes) return routes.error();
  outbound_ = std::move(*routes);
  return {};
}

void bridge_app::attach(lws_adapter::server* server) {
  if (outbound_) outbound_->attach(server);  // before /readyz says ready
  server_ = server;
  if (!server) {  // the server is going away: nothing may send through it any more
    webhook_.reset();
    return;
  }
  if (!settings_.events_url.empty() && !webhook_) {
    service::webhook_options o;
    o.url = settings_.events_url;
    o.secret = settings_.events_secret;
    webhook_ = std::make_unique<service::events_webhook>(*server, o);
    hub_.subscribe([hook = webhook_.get()](const service::live_event& e) {
      if (!e.type.empty()) hook->enqueue(e);
      return true;
    });
  }
}

std::unique_ptr<call_observer> bridge_app::observer_for_call(lws_adapter::call_handle) {
  if (!store_ && settings_.admin_token.empty() && settings_.events_url.empty()) return nullptr;
  service::tracker_options o;
  o.store = store_.get();
  o.hub = &hub_;
  return std::make_unique<service::call_tracker>(std::move(o));
}

lws_adapter::http_response bridge_app::operator_route(const lws_adapter::http_request& request) {
  if (settings_.admin_token.empty()) return {404, "text/plain", "not found (the operator's view needs ADMIN_TOKEN)\n"};
  if (request.path == "/calls") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET, HEAD");
    return {200, "text/html; charset=utf-8", std::string(calls_page)};
  }
  if (!service::admin_authorized(api_, request.authorization))
    return {401, "application/json", R"({"error":"a bearer token is required"})", {{"WWW-Authenticate", "Bearer"}}};
  if (request.path == "/api/events") {
    if (request.method != "GET") return method_not_allowed("GET");
    lws_adapter::http_response r{200, "text/event-stream", ": live call events\n\n"};
    r.event_stream = true;
    return r;
  }
  if (!store_) return {404, "application/json", R"json({"error":"no call store (DATABASE_URL=off)"})json"};
  lws_adapter::http_response later;
  later.later = true;
  return later;
}

void bridge_app::on_pending_response(lws_adapter::pending_response pending, const lws_adapter::http_request& request) {
  if (outbound_ && outbound_->on_pending(pending, request)) return;
  service::api_request r;
  r.method = request.method;
  r.path = request.path;
  r.query = twilio::parse_form(request.query);
  r.authorization = request.authorization;
  const bool queued = reads_ && reads_->submit([this, pending, r = std::move(r)] {
    const service::api_response a = service::handle_calls_api(*store_, api_, r);
    pending.respond({a.status, a.content_type, a.body});
  });
  if (!queued) pending.respond({503, "application/json", R"({"error":"busy: try again"})"});
}

void bridge_app::on_event_stream(lws_adapter::event_stream stream, const lws_adapter::http_request&) {
  hub_.subscribe([stream](const service::live_event& e) {
    return stream.send(e.type.empty() ? std::string(": ping\n\n") : service::sse_frame(e));
  });
}

lws_adapter::http_response bridge_app::on_http(const lws_adapter::http_request& request) {
  const lws_adapter::server* server = server_.load();
  if (request.path == "/healthz" || request.path == "/readyz" || request.path == "/metrics") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET, HEAD");
    lws_adapter::http_response r = request.path == "/healthz"  ? liveness(server)
                                   : request.path == "/readyz" ? readiness(server)
                                                               : metrics(server, request);
    r.quiet = true;  // probes and scrapes every few seconds: not worth an info line each
    return r;
  }
  if (outbound_)
    if (auto r = outbound_->on_http(request)) return std::move(*r);
  if (request.path == "/calls" || request.path == "/api/events" || service::is_calls_api_path(request.path))
    return operator_route(request);
  if (request.path == "/") {
    if (request.method != "GET" && request.method != "HEAD") return method_not_allowed("GET, HEAD");
    const auto stats = server ? server->stats() : lws_adapter::server_stats{};
    const bool draining = server && server->draining();
    return {draining ? 503 : 200, "application/json",
            fmt::format(R"({{"status":"{}","realtime_enabled":{},"calls_active":{},"calls_started":{},)"
                        R"("calls_ended":{}}})"
                        "\n",
                        draining ? "draining" : "ok", settings_.realtime_enabled, stats.calls_active,
                        stats.calls_started, stats.calls_ended)};
  }
  if (request.path == "/incoming-call") {
    if (request.method != "GET" && request.method != "POST") return method_not_allowed("GET, POST");
    return incoming_call(request);
  }
  return {404, "text/plain", "not found\n"};
}

lws_adapter::http_response bridge_app::liveness(const lws_adapter::server* server) const {
  // Answered by a service thread, so that thread lives; the others must have
  // ticked lately too.
  if (server && !server->threads_alive()) return {503, "text/plain", "a service thread is stuck\n"};
  return {200, "text/plain", "ok\n"};
}

lws_adapter::http_response bridge_app::readiness(const lws_adapter::server* server) const {
  if (!server) return {503, "text/plain", "starting\n"};
  if (server->draining()) return {503, "text/plain", "draining\n"};
  if (server->full()) return {503, "text/plain", "at MAX_CALLS\n"};
  // OpenAI unreachable: the last connection attempt failed, within the last
  // minute, and none opened since.
  const auto st = server->stats();
  if (st.openai_last_failure_ago && *st.openai_last_failure_ago < std::chrono::minutes(1) &&
      (!st.openai_last_open_ago || *st.openai_last_open_ago > *st.openai_last_failure_ago))
    return {503, "text/plain", "OpenAI unreachable\n"};
  return {200, "text/plain", "ready\n"};
}

lws_adapter::http_response bridge_app::metrics(const lws_adapter::server* server,
                                               const lws_adapter::http_request& request) const {
  if (!settings_.metrics_token.empty() &&
      !twilio::signatures_equal(request.authorization, "Bearer " + settings_.metrics_token))
    return {401, "text/plain", "a bearer token is required\n", {{"WWW-Authenticate", "Bearer"}}};
  prometheus_writer w;
  w.family("rtb_build_info", "gauge", "The running version.");
  w.sample("rtb_build_info", prometheus_writer::labels{{"version", std::string(version)}}, std::uint64_t{1});
  if (server) server->write_metrics(w);
  return {200, "text/plain; version=0.0.4", w.text()};
}

lws_adapter::http_response bridge_app::fallback_twiml() const {
  twilio::fallback f;
  if (!settings_.fallback_dial.empty()) {
    f.what = twilio::fallback::kind::dial;
    f.number = settings_.fallback_dial;
  } else {
    f.text = settings_.fallback_say;
  }
  return {200, "text/xml", twilio::render_fallback(f)};
}

lws_adapter::http_response bridge_app::incoming_call(const lws_adapter::http_request& request) {
  // Twilio's parameters: a POST's in its form body, a GET's in the query
  // (twilio.md §3.1). The query is the one received, still encoded.
  const bool post = request.method == "POST";
  const twilio::form_parameters fields = twilio::parse_form(post ? request.body : request.query);
  if (!settings_.twilio_auth_token.empty()) {
    // Twilio signs the URL it requested, byte for byte: ours, from PUBLIC_URL
    // (never the Host header), and the path and query exactly as received,
    // never decoded and encoded again; then a POST's form parameters. A GET
    // has none: its parameters are signed as part of the query.
    const std::string url = settings_.public_url + (request.target.empty() ? request.path : request.target);
    if (!twilio::validate_signature(settings_.twilio_auth_token, request.twilio_signature, url,
                                    post ? fields : twilio::form_parameters{}))
      return forbidden();
  }
  if (!settings_.realtime_enabled) return fallback_twiml();
  // Draining, or as many calls as this process takes: Twilio plays only TwiML
  // it receives (an error status would be its own "application error"), so
  // the caller gets the fallback now rather than a stream we would refuse.
  if (const auto* server = server_.load(); server && server->full()) {
    if (log_)
      log_(lws_adapter::log_level::info, fmt::format("webhook from {} answered with the fallback: {}", request.peer,
                                                     server->draining() ? "draining" : "at MAX_CALLS"));
    return fallback_twiml();
  }
  // Pass the caller's number on to the stream: it arrives in `start`.
  std::vector<std::pair<std::string, std::string>> parameters;
  for (const auto& [name, value] : fields)
    if (name == "From" || name == "To" || name == "CallSid") parameters.emplace_back(name, value);
  settings effective = settings_;
  if (effective.public_url.empty() && !request.host.empty()) {
    // Without PUBLIC_URL (and so without signature checks) follow Twilio's
    // sample: the stream is on the host Twilio called.
    effective.public_url = "https://" + request.host;
  }
  return {200, "text/xml", incoming_call_twiml(effective, parameters)};
}

std::optional<lws_adapter::http_response> bridge_app::check_stream(const lws_adapter::stream_request& request) {
  if (!settings_.realtime_enabled) return lws_adapter::http_response{503, "text/plain", "realtime disabled\n"};
  if (settings_.twilio_auth_token.empty()) return std::nullopt;
  if (!twilio::validate_signature(settings_.twilio_auth_token, request.twilio_signature, settings_.stream_url(), {}))
    return forbidden();
  return std::nullopt;
}

std::unique_ptr<trace_sink> bridge_app::trace_for_call(const lws_adapter::stream_request& request) {
  if (settings_.trace_dir.empty()) return nullptr;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const std::string path =
      fmt::format("{}/call-{}-{}.jsonl", settings_.trace_dir,
                  std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), trace_counter_++);
  auto trace = std::make_unique<file_trace>(path);
  if (!trace->ok()) {
    if (log_)
      log_(lws_adapter::log_level::warning,
           fmt::format("call from {}: cannot write its trace to {}; the call goes on without one", request.peer, path));
    return nullptr;
  }
  return trace;
}

}  // namespace rtb::server_app
