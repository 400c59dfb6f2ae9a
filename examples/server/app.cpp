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

/// The agent's commands over the adapter's call handle (safe from any
/// thread, and after the call ended).
class handle_commands final : public service::call_commands {
 public:
  explicit handle_commands(lws_adapter::call_handle handle) : handle_(std::move(handle)) {}
  void configure(call_config config) override { (void)handle_.configure(std::move(config)); }
  void submit_tool_result(std::string_view call_id, std::string_view output) override {
    (void)handle_.submit_tool_result(call_id, output);
  }
  void end_after_playout(std::string_view reason, std::string_view tool_call_id,
                         std::string_view tool_output) override {
    (void)handle_.end_after_playout(reason, tool_call_id, tool_output);
  }
  void set_agent(std::string_view name) override { (void)handle_.set_agent(name); }

 private:
  lws_adapter::call_handle handle_;
};

/// `name`'s value among the query's parameters, "" if absent.
std::string query_value(std::string_view query, std::string_view name) {
  for (const auto& [k, v] : twilio::parse_form(query))
    if (k == name) return v;
  return {};
}

/// The call store's writer: its queue, and where each record went.
void write_store_metrics(prometheus_writer& w, const service::store_stats& s) {
  w.family("rtb_store_queue_depth", "gauge", "Records waiting for the call store's writer.");
  w.sample("rtb_store_queue_depth", s.queue_depth);
  w.family("rtb_store_queue_capacity", "gauge", "Records the writer's queue holds; beyond it records are dropped.");
  w.sample("rtb_store_queue_capacity", s.queue_capacity);
  w.family("rtb_store_queue_depth_max", "gauge", "The deepest the queue has been.");
  w.sample("rtb_store_queue_depth_max", s.max_queue_depth);
  w.family("rtb_store_records_total", "counter",
           "Records handed to the call store: written, dropped (queue full) or failed (given up after errors).");
  w.sample("rtb_store_records_total", {{"result", "written"}}, s.written);
  w.sample("rtb_store_records_total", {{"result", "dropped"}}, s.dropped);
  w.sample("rtb_store_records_total", {{"result", "failed"}}, s.failed);
  w.family("rtb_store_batch_failures_total", "counter", "Write transactions that failed (each retried, then split).");
  w.sample("rtb_store_batch_failures_total", s.batch_failures);
  w.family("rtb_store_recovered_calls_total", "counter", "Calls a crash left open, closed as bridge_restarted at start-up.");
  w.sample("rtb_store_recovered_calls_total", s.recovered_calls);
}

/// Twilio's parameters: a POST's in its form body, a GET's in the query
/// (twilio.md §3.1). The query is the one received, still encoded.
twilio::form_parameters twilio_fields(const lws_adapter::http_request& request) {
  return twilio::parse_form(request.method == "POST" ? request.body : request.query);
}

std::string call_sid_of(const twilio::form_parameters& fields) {
  for (const auto& [name, value] : fields)
    if (name == "CallSid") return value;
  return {};
}

}  // namespace

bridge_app::bridge_app(settings s, std::unique_ptr<service::call_store> store)
    : settings_(std::move(s)), store_(std::move(store)) {
  api_.admin_token = settings_.admin_token;
  api_.trace_dir = settings_.trace_dir;
  if (!settings_.agents_file.empty()) {
    // load_settings() read it already; a file changed since then is caught here.
    if (auto loaded = load_profiles(settings_.agents_file))
      profiles_ = std::make_shared<const service::profile_set>(std::move(*loaded));
  }
  agent_.profiles = [this] { return profiles(); };
  agent_.base = call_config_from(settings_);
  agent_.http = &http_;
  agent_.tools.secret = settings_.tool_secret;
  agent_.tools.timeout = std::chrono::milliseconds(settings_.tool_timeout_ms);
  agent_.dispositions = &dispositions_;
  agent_.metrics = &tool_metrics_;
  agent_.log = [this](service::agent_log_level level, std::string_view call_sid, std::string_view stream_sid,
                      std::string_view line) {
    if (records_)
      records_(lws_adapter::log_record{
          level == service::agent_log_level::warning ? lws_adapter::log_level::warning : lws_adapter::log_level::info,
          line, 0, call_sid, stream_sid, {}});
  };
  if (store_) {
    reads_ = std::make_unique<service::work_queue>(2, 256);
    // Each disposition goes to the store too, for the instance that answers
    // Twilio's <Connect action> request when it is not this one.
    dispositions_.write_to(store_.get());
  }
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
  // A machine's policy: the call's or campaign's, else its agent's (AGENTS_FILE).
  if (outbound_)
    outbound_->set_agent_lookup([this](std::string_view agent) -> std::optional<service::agent_profile> {
      const auto set = profiles();
      if (!set) return std::nullopt;
      return set->select("", agent);
    });
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

std::shared_ptr<const service::profile_set> bridge_app::profiles() const {
  const std::lock_guard lock(profiles_mutex_);
  return profiles_;
}

result<void> bridge_app::reload_profiles() {
  if (settings_.agents_file.empty()) return error{errc::invalid_config, "AGENTS_FILE is not set: nothing to reload"};
  auto loaded = load_profiles(settings_.agents_file);
  if (!loaded) return loaded.error();
  auto next = std::make_shared<const service::profile_set>(std::move(*loaded));
  const std::lock_guard lock(profiles_mutex_);
  profiles_ = std::move(next);
  return {};
}

std::optional<call_config> bridge_app::config_for_call(const lws_adapter::stream_request&) {
  if (!profiles()) return std::nullopt;  // the server's own configuration, connecting at once
  call_config c = agent_.base;
  c.connect = openai_connect::after_start;  // the profile comes with Twilio's start
  return c;
}

std::unique_ptr<call_observer> bridge_app::observer_for_call(lws_adapter::call_handle handle) {
  std::unique_ptr<call_observer> tracker;
  if (store_ || !settings_.admin_token.empty() || !settings_.events_url.empty()) {
    service::tracker_options o;
    o.store = store_.get();
    o.hub = &hub_;
    tracker = std::make_unique<service::call_tracker>(std::move(o));
  }
  return std::make_unique<service::call_agent>(agent_, std::make_shared<handle_commands>(std::move(handle)),
                                               std::move(tracker));
}

void bridge_app::server_fetcher::fetch(fetch_request request, fetch_callback done) {
  lws_adapter::server* server = server_.load();
  if (!server) {
    fetch_result r;
    r.error = fetch_error::stopped;
    r.detail = "the server is not running";
    done(r);
    return;
  }
  server->fetch(std::move(request), std::move(done));
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
  if (request.path == call_ended_path) {
    look_up_disposition(std::move(pending), call_sid_of(twilio_fields(request)), std::chrono::steady_clock::now());
    return;
  }
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
  if (request.path == call_ended_path) {
    if (request.method != "GET" && request.method != "POST") return method_not_allowed("GET, POST");
    return call_ended(request);
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
  if (stop_announced_) return {503, "text/plain", "stopping: taking calls only until the balancer notices\n"};
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
  if (!settings_.metrics_enabled) return {404, "text/plain", "metrics are off (METRICS_ENABLED=false)\n"};
  if (!settings_.metrics_token.empty() &&
      !twilio::signatures_equal(request.authorization, "Bearer " + settings_.metrics_token))
    return {401, "text/plain", "a bearer token is required\n", {{"WWW-Authenticate", "Bearer"}}};
  prometheus_writer w;
  w.family("rtb_build_info", "gauge", "The running version.");
  w.sample("rtb_build_info", prometheus_writer::labels{{"version", std::string(version)}}, std::uint64_t{1});
  if (server) server->write_metrics(w);
  tool_metrics_.write(w);
  if (store_) write_store_metrics(w, store_->stats());
  return {200, "text/plain; version=0.0.4", w.text()};
}

lws_adapter::http_response bridge_app::fallback_twiml() const {
  return {200, "text/xml", twilio::render_fallback(fallback_of(settings_))};
}

lws_adapter::http_response bridge_app::incoming_call(const lws_adapter::http_request& request) {
  const twilio::form_parameters fields = twilio_fields(request);
  if (!signed_by_twilio(request, fields)) return forbidden();
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
  // An explicit agent (/incoming-call?agent=sales) goes with them: the stream
  // chooses the profile from these when Twilio's start arrives.
  if (std::string agent = query_value(request.query, "agent"); !agent.empty())
    parameters.emplace_back("agent", std::move(agent));
  settings effective = settings_;
  if (effective.public_url.empty() && !request.host.empty()) {
    // Without PUBLIC_URL (and so without signature checks) follow Twilio's
    // sample: the stream is on the host Twilio called.
    effective.public_url = "https://" + request.host;
  }
  return {200, "text/xml", incoming_call_twiml(effective, parameters)};
}

bool bridge_app::signed_by_twilio(const lws_adapter::http_request& request,
                                  const twilio::form_parameters& fields) const {
  if (settings_.twilio_auth_token.empty()) return true;
  // Twilio signs the URL it requested, byte for byte: ours, from PUBLIC_URL
  // (never the Host header), and the path and query exactly as received,
  // never decoded and encoded again; then a POST's form parameters. A GET
  // has none: its parameters are signed as part of the query.
  const std::string url = settings_.public_url + (request.target.empty() ? request.path : request.target);
  return twilio::validate_signature(settings_.twilio_auth_token, request.twilio_signature, url,
                                    request.method == "POST" ? fields : twilio::form_parameters{});
}

lws_adapter::http_response bridge_app::call_ended(const lws_adapter::http_request& request) {
  const twilio::form_parameters fields = twilio_fields(request);
  if (!signed_by_twilio(request, fields)) return forbidden();
  const std::string call_sid = call_sid_of(fields);
  if (auto d = dispositions_.take(call_sid)) return disposition_answer(call_sid, *d, "");
  // Not a call this instance decided: another instance sharing the store may
  // have carried it, or it ended without a disposition. The store says which
  // (read off this thread, see on_pending_response).
  if (reads_ && !call_sid.empty()) {
    lws_adapter::http_response later;
    later.later = true;
    return later;
  }
  return disposition_answer(call_sid, {}, "");
}

lws_adapter::http_response bridge_app::disposition_answer(std::string_view call_sid,
                                                          const service::call_disposition& d,
                                                          std::string_view source) const {
  if (log_)
    log_(lws_adapter::log_level::info,
         fmt::format("call {} stream ended: Twilio {}{}", call_sid.empty() ? "(no CallSid)" : call_sid,
                     d.what == service::call_disposition::kind::hang_up    ? "hangs up"
                     : d.what == service::call_disposition::kind::transfer ? "dials " + d.number
                                                                           : "plays the fallback",
                     source));
  return {200, "text/xml", service::disposition_twiml(d, fallback_of(settings_))};
}

void bridge_app::look_up_disposition(lws_adapter::pending_response pending, std::string call_sid,
                                     std::chrono::steady_clock::time_point asked) {
  const bool queued = reads_->submit([this, pending, call_sid, asked] {
    auto found = store_->get_call(call_sid);
    if (!found) log(lws_adapter::log_level::warning,
                    fmt::format("call {}: cannot read it from the call store: {}", call_sid, found.error().message));
    const std::optional<service::stored_call> call =
        found && *found ? std::optional<service::stored_call>((*found)->call) : std::nullopt;
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked);
    if (auto d = disposition_wait_.decide(call, elapsed)) {
      pending.respond(disposition_answer(
          call_sid, *d,
          fmt::format(" ({} after {} ms)", call ? "from the call store" : "no such call in the call store",
                      elapsed.count())));
      return;
    }
    lws_adapter::server* server = server_.load();
    if (!server) {
      pending.respond(disposition_answer(call_sid, {}, " (stopping)"));
      return;
    }
    // The server holds this application while it runs; once it stops, the
    // answer is the fallback, made without it.
    server->after(disposition_wait_.retry_every,
                  [this, pending, call_sid, asked, fallback = fallback_twiml()](bool stopped) {
                    if (stopped)
                      pending.respond(fallback);
                    else
                      look_up_disposition(pending, call_sid, asked);
                  });
  });
  if (!queued) pending.respond(disposition_answer(call_sid, {}, " (the call store's readers are busy)"));
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
