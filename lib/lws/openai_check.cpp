#include "realtime_bridge/lws/openai_check.hpp"

#include <cstring>
#include <variant>

#include <fmt/format.h>

#include "client_tls.hpp"
#include "realtime_bridge/openai/decoder.hpp"
#include "realtime_bridge/openai/encoder.hpp"
#include "realtime_bridge/padded_buffer.hpp"
#include "upgrade_refusal.hpp"
#include "ws_url.hpp"

#include <libwebsockets.h>

namespace rtb::lws_adapter {
namespace {

using clock = std::chrono::steady_clock;
using problem = openai_check_result::problem;

std::chrono::milliseconds ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t);
}

bool contains(std::string_view text, std::string_view needle) { return text.find(needle) != std::string_view::npos; }

struct check_state {
  const openai_endpoint* endpoint = nullptr;
  const call_config* config = nullptr;
  ws_url url;
  std::string host_header;
  openai_check_result result;
  bool done = false;
  clock::time_point started = clock::now();
  clock::time_point opened{};
  padded_buffer inbox;
  openai::decoder decoder{4 * 1024 * 1024};
  std::string update;  ///< the session.update to send, LWS_PRE headroom first
  bool update_sent = false;
  std::uint16_t close_code = 0;
  std::string close_reason;

  void finish(problem p, std::string detail, std::string fix) {
    if (done) return;
    done = true;
    result.what = p;
    result.detail = std::move(detail);
    result.fix = std::move(fix);
  }

  void on_error_event(const openai::error_info& e) {
    result.code = std::string(e.code);
    result.param = std::string(e.param);
    const std::string what = fmt::format("{}: {}", e.code.empty() ? e.type : e.code, e.message);
    if (e.code == "invalid_api_key")
      finish(problem::invalid_api_key, what, "Check OPENAI_API_KEY: it is wrong or was revoked.");
    else if (e.code == "model_not_found" || e.code == "invalid_model")
      finish(problem::model_not_found, what,
             fmt::format("The key cannot use {}. Keys created before the project had Realtime access never get "
                         "it: create a new key. Otherwise check OPENAI_MODEL.",
                         config->openai.config.model));
    else if (e.code == "beta_api_shape_disabled")
      finish(problem::beta_api_shape, what,
             "Something between the bridge and OpenAI adds an OpenAI-Beta header (the bridge never sends one): "
             "remove it.");
    else if (!e.param.empty() && !update_sent)
      finish(problem::other_error, what, "");
    else if (!e.param.empty())
      finish(problem::setting_rejected, fmt::format("the setting {} was refused: {}", e.param, e.message),
             fmt::format("Change the setting behind {} (e.g. VOICE for session.audio.output.voice).", e.param));
    else
      finish(problem::other_error, what, "See docs/troubleshooting.md for this code.");
  }

  void on_message() {
    auto ev = decoder.decode(inbox);
    inbox.clear();
    if (!ev) return;
    if (const auto* e = std::get_if<openai::error_event>(&*ev)) {
      on_error_event(e->error);
    } else if (std::holds_alternative<openai::session_updated>(*ev)) {
      result.setup_time = ms_since(opened);
      finish(problem::none, fmt::format("a session was configured with model {} and voice {}",
                                        config->openai.config.model, config->openai.config.voice),
             "");
    }
  }
};

check_state& state_of(struct lws* wsi) { return *static_cast<check_state*>(lws_get_opaque_user_data(wsi)); }

int check_callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in, std::size_t len) {
  if (!lws_get_opaque_user_data(wsi)) return lws_callback_http_dummy(wsi, reason, user, in, len);
  check_state& s = state_of(wsi);
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      if (s.endpoint->api_key.empty()) return 0;
      const std::string value = "Bearer " + s.endpoint->api_key;
      auto** p = static_cast<unsigned char**>(in);
      return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("authorization:"),
                                         reinterpret_cast<const unsigned char*>(value.data()),
                                         static_cast<int>(value.size()), p, *p + len)
                 ? -1
                 : 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      s.opened = clock::now();
      s.result.connect_time = ms_since(s.started);
      lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (s.update_sent || s.done) return 0;
      s.update_sent = true;
      if (lws_write(wsi, reinterpret_cast<unsigned char*>(s.update.data()) + LWS_PRE, s.update.size() - LWS_PRE,
                    LWS_WRITE_TEXT) < 0)
        return -1;
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      s.inbox.append(std::string_view(static_cast<const char*>(in), len));
      if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) s.on_message();
      return s.done ? -1 : 0;  // the verdict is in: hang up
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (len >= 2) {
        const auto* b = static_cast<const unsigned char*>(in);
        s.close_code = static_cast<std::uint16_t>(b[0] << 8 | b[1]);
        s.close_reason.assign(reinterpret_cast<const char*>(b) + 2, len - 2);
      }
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      const std::string text = in ? static_cast<const char*>(in) : "unknown error";
      const unsigned status = lws_http_client_http_response(wsi);
      s.result.http_status = static_cast<int>(status);
      if (status != 0 && status != 101) {
        const std::string what = describe_upgrade_refusal(status);
        std::string fix = status == 401   ? "Check OPENAI_API_KEY."
                          : status == 403 ? "Create a new API key in a project with Realtime access."
                          : status == 404 ? "Check OPENAI_MODEL and OPENAI_REALTIME_URL."
                          : status == 429 ? "Check the account's rate limits, usage and billing."
                                          : "Try again later; if it persists, check status.openai.com.";
        s.finish(problem::upgrade_refused, what, std::move(fix));
      } else if (contains(text, "SSL") || contains(text, "ssl") || contains(text, "certificate") ||
                 contains(text, "verify")) {
        s.finish(problem::tls, fmt::format("TLS failed: {}", text),
                 "The server's certificate was not trusted. Behind a proxy that re-signs TLS, give its CA in "
                 "OPENAI_CA_FILE; otherwise check the system's CA store and clock.");
      } else {
        s.finish(problem::connect_failed, fmt::format("cannot connect to {}:{}: {}", s.url.host, s.url.port, text),
                 "Check DNS and that this machine may reach the host (egress firewall, proxy).");
      }
      lws_set_opaque_user_data(wsi, nullptr);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
      s.finish(problem::closed,
               fmt::format("OpenAI closed the connection (code {}{}{}) before the session was configured",
                           s.close_code, s.close_reason.empty() ? "" : ", ", s.close_reason),
               "See docs/troubleshooting.md for the close code.");
      lws_set_opaque_user_data(wsi, nullptr);
      return 0;
    default: break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const lws_protocols check_protocols[] = {
    {"rtb-check", &check_callback, 0, 64 * 1024, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

}  // namespace

std::string_view to_string(openai_check_result::problem p) noexcept {
  switch (p) {
    case problem::none: return "none";
    case problem::connect_failed: return "connect_failed";
    case problem::tls: return "tls";
    case problem::upgrade_refused: return "upgrade_refused";
    case problem::invalid_api_key: return "invalid_api_key";
    case problem::model_not_found: return "model_not_found";
    case problem::beta_api_shape: return "beta_api_shape";
    case problem::setting_rejected: return "setting_rejected";
    case problem::closed: return "closed";
    case problem::timeout: return "timeout";
    case problem::other_error: return "other_error";
  }
  return "unknown";
}

openai_check_result check_openai(const openai_endpoint& endpoint, const call_config& config,
                                 std::chrono::milliseconds timeout) {
  check_state s;
  s.endpoint = &endpoint;
  s.config = &config;
  const auto fail = [&](std::string detail, std::string fix) {
    s.finish(problem::connect_failed, std::move(detail), std::move(fix));
    return s.result;
  };
  if (auto ok = validate_openai_url(endpoint.url); !ok)
    return fail("the OpenAI URL: " + ok.error().message, "Check OPENAI_REALTIME_URL.");
  s.url = *parse_ws_url(endpoint.url);
  s.host_header = s.url.host_header();
  s.update.assign(LWS_PRE, '\0');
  openai::encode_session_update(s.update, config.openai.config, "rtb_check_1");

  auto tls = make_client_tls(endpoint.ca_file);
  if (!tls) return fail(tls.error().message, "Check OPENAI_CA_FILE.");
  lws_set_log_level(LLL_ERR, nullptr);
  lws_context_creation_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.port = CONTEXT_PORT_NO_LISTEN;
  ci.protocols = check_protocols;
  ci.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  ci.provided_client_ssl_ctx = *tls;
  ci.timeout_secs = static_cast<unsigned int>(std::max<std::int64_t>(1, timeout.count() / 1000));
  lws_context* context = lws_create_context(&ci);
  if (!context) {
    SSL_CTX_free(*tls);
    return fail("could not create an lws context", "");
  }
  lws_client_connect_info i;
  std::memset(&i, 0, sizeof i);
  i.context = context;
  i.address = s.url.host.c_str();
  i.port = s.url.port;
  i.path = s.url.path.c_str();
  i.host = s.host_header.c_str();
  i.ssl_connection = s.url.tls ? LCCSCF_USE_SSL : 0;
  i.local_protocol_name = "rtb-check";
  i.opaque_user_data = &s;
  struct lws* wsi = lws_client_connect_via_info(&i);
  if (!wsi && !s.done) s.finish(problem::connect_failed, "could not start connecting", "");
  const auto deadline = clock::now() + timeout;
  while (!s.done && clock::now() < deadline)
    if (lws_service(context, 0) < 0) break;
  if (!s.done)
    s.finish(problem::timeout,
             fmt::format("no {} within {} ms", s.update_sent ? "answer to session.update" : "WebSocket", timeout.count()),
             "Check egress to the host; OpenAI may be slow or unreachable from here.");
  lws_context_destroy(context);
  SSL_CTX_free(*tls);
  return s.result;
}

}  // namespace rtb::lws_adapter
