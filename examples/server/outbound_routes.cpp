#include "server/outbound_routes.hpp"

#include <fmt/format.h>

#include "realtime_bridge/service/store.hpp"
#include "realtime_bridge/service/store_url.hpp"
#include "realtime_bridge/twilio/signature.hpp"

namespace rtb::server_app {
namespace {

lws_adapter::http_response json_response(int status, std::string_view body) {
  return {status, "application/json", std::string(body)};
}

}  // namespace

result<std::unique_ptr<outbound_routes>> outbound_routes::create(const settings& s, lws_adapter::log_function log) {
  if (!s.outbound.enabled()) return std::unique_ptr<outbound_routes>();
  auto url = service::parse_database_url(s.database_url);
  if (!url) return url.error();
  auto store = service::open_campaign_store(*url, service::default_instance_name());
  if (!store) return error{store.error().code, "the campaign store: " + store.error().message};
  return std::unique_ptr<outbound_routes>(new outbound_routes(s, std::move(*store), std::move(log)));
}

outbound_routes::outbound_routes(settings s, std::unique_ptr<service::campaign_store> store,
                                 lws_adapter::log_function log)
    : settings_(std::move(s)), store_(std::move(store)), log_(std::move(log)) {}

outbound_routes::~outbound_routes() { attach(nullptr); }

void outbound_routes::set_agent_lookup(std::function<std::optional<service::agent_profile>(std::string_view)> find) {
  find_agent_ = std::move(find);
}

void outbound_routes::attach(lws_adapter::server* server) {
  std::shared_ptr<service::outbound_service> old;
  {
    const std::lock_guard lock(mutex_);
    old = std::move(service_);
    service_.reset();
  }
  old.reset();  // its queued store writes finish here
  if (!server) return;
  const outbound_settings& out = settings_.outbound;
  service::outbound_options o;
  o.rest.api_base = out.api_base;
  o.rest.credentials.account_sid = out.account_sid;
  o.rest.credentials.username = out.api_key_sid.empty() ? out.account_sid : out.api_key_sid;
  o.rest.credentials.password = out.api_key_sid.empty() ? settings_.twilio_auth_token : out.api_key_secret;
  o.from = out.from;
  o.callback_base = settings_.public_url;
  o.stream_url = settings_.stream_url();
  o.fallback = fallback_of(settings_);
  // With agent profiles the agent may end or transfer the call: Twilio asks
  // what next at /call-ended, like for an inbound call.
  if (!settings_.agents_file.empty()) o.action_url = settings_.public_url + std::string(call_ended_path);
  o.dialing.calls_per_second = out.calls_per_second;
  o.max_concurrent_limit = out.max_concurrent;
  o.find_agent = find_agent_;
  if (log_) o.log = [log = log_](std::string_view line) { log(lws_adapter::log_level::info, line); };
  auto svc = std::make_shared<service::outbound_service>(std::move(o), store_.get(), *server, *server);
  svc->start();
  const std::lock_guard lock(mutex_);
  service_ = std::move(svc);
}

bool outbound_routes::owns_api(const lws_adapter::http_request& request) const {
  return service::outbound_service::handles(request.method, request.path);
}

bool outbound_routes::signed_by_twilio(const lws_adapter::http_request& request) const {
  if (settings_.twilio_auth_token.empty()) return true;  // ALLOW_UNSIGNED (warned about at start)
  // Twilio signs the URL it was given (ours, from PUBLIC_URL, with the
  // callback's query as sent) and the form's parameters.
  const std::string url = settings_.public_url + (request.target.empty() ? request.path : request.target);
  return twilio::validate_signature(settings_.twilio_auth_token, request.twilio_signature, url,
                                    twilio::parse_form(request.body));
}

std::optional<lws_adapter::http_response> outbound_routes::on_http(const lws_adapter::http_request& request) {
  const bool status = request.path == service::outbound_service::status_path;
  if (status || request.path == service::outbound_service::amd_path) {
    if (request.method != "POST") return lws_adapter::http_response{405, "text/plain", "method not allowed\n", {{"Allow", "POST"}}};
    if (!signed_by_twilio(request)) {
      if (log_)
        log_(lws_adapter::log_level::warning,
             fmt::format("{} from {}: invalid or missing X-Twilio-Signature", request.path, request.peer));
      return lws_adapter::http_response{403, "text/plain", "invalid or missing X-Twilio-Signature\n"};
    }
    std::shared_ptr<service::outbound_service> svc;
    {
      const std::lock_guard lock(mutex_);
      svc = service_;
    }
    if (!svc) return lws_adapter::http_response{503, "text/plain", "starting or stopping\n"};
    const auto query = twilio::parse_form(request.query);
    const auto body = twilio::parse_form(request.body);
    if (status)
      svc->status_callback(query, body);
    else
      svc->amd_callback(query, body);
    return lws_adapter::http_response{204, "text/plain", ""};
  }
  if (!owns_api(request)) return std::nullopt;
  if (settings_.admin_token.empty() ||
      !twilio::signatures_equal(request.authorization, "Bearer " + settings_.admin_token))
    return lws_adapter::http_response{401, "application/json", R"({"error":"a bearer token is required"})",
                                      {{"WWW-Authenticate", "Bearer"}}};
  lws_adapter::http_response later;
  later.later = true;
  return later;
}

bool outbound_routes::on_pending(const lws_adapter::pending_response& pending,
                                 const lws_adapter::http_request& request) {
  if (!owns_api(request)) return false;
  std::shared_ptr<service::outbound_service> svc;
  {
    const std::lock_guard lock(mutex_);
    svc = service_;
  }
  if (!svc) {
    pending.respond(json_response(503, R"({"error":"starting or stopping"})"));
    return true;
  }
  service::api_request r;
  r.method = request.method;
  r.path = request.path;
  r.query = twilio::parse_form(request.query);
  r.authorization = request.authorization;
  r.body = request.body;
  svc->handle(r, [pending](service::api_response a) { pending.respond({a.status, a.content_type, a.body}); });
  return true;
}

}  // namespace rtb::server_app
