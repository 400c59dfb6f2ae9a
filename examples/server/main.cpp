// realtime-bridge-server: connects Twilio calls to the OpenAI Realtime API.
// A drop-in for Twilio's sample: the same routes (/incoming-call,
// /media-stream) and environment (OPENAI_API_KEY, PORT). See
// docs/server.md for every setting.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "realtime_bridge/lws/openai_check.hpp"
#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/service/store.hpp"
#include "realtime_bridge/version.hpp"
#include "server/app.hpp"
#include "server/outbound_routes.hpp"
#include "server/settings.hpp"

namespace {

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

rtb::lws_adapter::log_level level_of(const std::string& name) {
  if (name == "debug") return rtb::lws_adapter::log_level::debug;
  if (name == "warning") return rtb::lws_adapter::log_level::warning;
  if (name == "error") return rtb::lws_adapter::log_level::error;
  return rtb::lws_adapter::log_level::info;
}

/// Each call holds two sockets, and the usual soft limit of 1024 open files
/// would stop this process near 500 calls: take what the hard limit allows
/// (the library logs the room it leaves).
void raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

/// --check: 0 when a session was configured, 1 otherwise, with the diagnosis.
int run_check(const rtb::server_app::settings& s) {
  using namespace rtb;
  lws_adapter::openai_endpoint endpoint;
  endpoint.url = s.effective_openai_url();
  endpoint.api_key = s.openai_api_key;
  endpoint.ca_file = s.openai_ca_file;
  if (endpoint.api_key.empty() && s.openai_realtime_url.empty()) {
    std::fprintf(stderr, "realtime-bridge-server --check: OPENAI_API_KEY is not set.\n");
    return 1;
  }
  std::printf("checking %s (model %s, voice %s)…\n", endpoint.url.c_str(), s.openai_model.c_str(), s.voice.c_str());
  const auto r = lws_adapter::check_openai(endpoint, server_app::call_config_from(s));
  if (r.ok()) {
    std::printf("OK: %s (WebSocket in %lld ms, session configured %lld ms later)\n", r.detail.c_str(),
                static_cast<long long>(r.connect_time.count()), static_cast<long long>(r.setup_time.count()));
    return 0;
  }
  std::printf("FAILED (%.*s): %s\n", static_cast<int>(to_string(r.what).size()), to_string(r.what).data(),
              r.detail.c_str());
  if (!r.fix.empty()) std::printf("fix: %s\n", r.fix.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rtb;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(server_app::usage().c_str(), stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("realtime-bridge-server %.*s\n", static_cast<int>(rtb::version.size()), rtb::version.data());
      return 0;
    }
  }
  // --check: try the OpenAI side as a call would, say what is wrong, exit.
  const bool check = std::erase(args, std::string("--check")) > 0;
  auto loaded = server_app::load_settings(&server_app::process_env, args);
  if (!loaded) {
    std::fprintf(stderr, "realtime-bridge-server: %s\n", loaded.error().message.c_str());
    return 2;
  }
  server_app::settings s = std::move(*loaded);
  // Every line, the adapter's and ours, goes out as a record: text or JSON.
  const lws_adapter::record_function records = s.log_format == "json"
                                                   ? lws_adapter::stderr_json_log(level_of(s.log_level))
                                                   : lws_adapter::stderr_text_log(level_of(s.log_level));
  const lws_adapter::log_function log = [records](lws_adapter::log_level level, std::string_view line) {
    records(lws_adapter::log_record{level, line, 0, {}, {}, {}});
  };

  if (check) return run_check(s);

  if (s.realtime_enabled && s.openai_api_key.empty() && s.openai_realtime_url.empty()) {
    std::fprintf(stderr,
                 "realtime-bridge-server: OPENAI_API_KEY is not set. Set it (or REALTIME_ENABLED=false to answer with "
                 "the fallback only). To see a whole call without a key, run ./scripts/run.sh, which simulates one.\n");
    return 2;
  }
  if (auto ok = server_app::check_signatures_configured(s); !ok) {
    std::fprintf(stderr, "realtime-bridge-server: %s\n", ok.error().message.c_str());
    return 2;
  }
  for (const auto& line : server_app::describe(s)) log(lws_adapter::log_level::info, "setting " + line);
  if (s.twilio_auth_token.empty())
    log(lws_adapter::log_level::warning,
        "ALLOW_UNSIGNED=true: requests are NOT checked for Twilio's signature. Anyone who finds this server can "
        "place calls on your OpenAI account. Set TWILIO_AUTH_TOKEN and PUBLIC_URL in production.");

  lws_adapter::server_options options;
  options.bind_address = s.bind_address;
  options.port = s.port;
  options.threads = s.threads;
  options.loop = s.event_loop == "poll"    ? lws_adapter::event_loop::poll
                 : s.event_loop == "libev" ? lws_adapter::event_loop::libev
                                           : lws_adapter::event_loop::automatic;
  options.stream_path = s.stream_path;
  options.openai.url = s.effective_openai_url();
  options.openai.api_key = s.openai_api_key;
  options.openai.ca_file = s.openai_ca_file;
  options.call = server_app::call_config_from(s);
  options.max_calls = s.max_calls;
  options.relay_latency_metrics = s.metrics_enabled;
  options.log_records = records;

  // The call store: SQLite by default, PostgreSQL for several instances, or off.
  auto database = service::parse_database_url(s.database_url);
  if (!database) {
    std::fprintf(stderr, "realtime-bridge-server: DATABASE_URL: %s\n", database.error().message.c_str());
    return 2;
  }
  if (database->type == service::database_url::kind::sqlite) {
    std::error_code ec;
    const auto dir = std::filesystem::path(database->target).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  }
  service::store_options store_options;
  store_options.instance = s.instance_name;
  auto store = service::open_call_store(*database, store_options);
  if (!store) {
    std::fprintf(stderr, "realtime-bridge-server: the call store (%s): %s\n", database->redacted().c_str(),
                 store.error().message.c_str());
    return 1;
  }
  log(lws_adapter::log_level::info, *store ? fmt::format("recording calls in {}", database->redacted())
                                           : std::string("not recording calls (DATABASE_URL=off)"));

  auto app = std::make_shared<server_app::bridge_app>(s, std::move(*store));
  app->set_log(log);
  app->set_call_log(records);
  if (const auto profiles = app->profiles())
    log(lws_adapter::log_level::info,
        fmt::format("{} agent profile(s) from {}; default '{}' (SIGHUP reloads them)", profiles->agents.size(),
                    s.agents_file, profiles->default_agent));
  if (auto outbound = app->enable_outbound(); !outbound) {  // TWILIO_ACCOUNT_SID: outbound calls and campaigns
    std::fprintf(stderr, "realtime-bridge-server: outbound calls: %s\n", outbound.error().message.c_str());
    return 1;
  }
  if (s.outbound.enabled()) options.max_http_body_bytes = server_app::outbound_routes::max_body_bytes;
  raise_open_files_limit();
  auto started = lws_adapter::server::start(std::move(options), app);
  if (!started) {
    std::fprintf(stderr, "realtime-bridge-server: %s\n", started.error().message.c_str());
    return 1;
  }
  auto server = std::move(*started);
  app->attach(server.get());

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_signal);
  for (;;) {
    while (g_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_signal != SIGHUP) break;
    g_signal = 0;
    // New calls get the new profiles; calls in progress keep theirs.
    if (auto reloaded = app->reload_profiles(); !reloaded)
      log(lws_adapter::log_level::error, "SIGHUP: the agent profiles were not reloaded, the previous ones stay: " +
                                             reloaded.error().message);
    else if (const auto profiles = app->profiles())
      log(lws_adapter::log_level::info, fmt::format("SIGHUP: {} agent profile(s) reloaded from {}",
                                                    profiles->agents.size(), s.agents_file));
  }

  if (s.drain_notice.count() > 0) {
    // Behind a load balancer: not ready from now on, but new calls are still
    // taken until its health checks have seen that (a second signal cuts it short).
    app->announce_stop();
    log(lws_adapter::log_level::info,
        fmt::format("signal {}: not ready; still taking calls for {} s while the load balancer notices",
                    g_signal.load(), s.drain_notice.count()));
    const int first = g_signal.exchange(0);
    const auto until = std::chrono::steady_clock::now() + s.drain_notice;
    while ((g_signal == 0 || g_signal == SIGHUP) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_signal == 0 || g_signal == SIGHUP) g_signal = first;
  }
  const auto active = server->stats().calls_active;
  log(lws_adapter::log_level::info, fmt::format("signal {}: no longer accepting calls; {} active, waiting up to {} s",
                                                g_signal.load(), active, s.shutdown_grace.count()));
  server->stop_accepting();
  if (!server->wait_idle(s.shutdown_grace))
    log(lws_adapter::log_level::warning, "grace period over: closing the remaining calls");
  server->stop();
  app->attach(nullptr);
  if (app->store() && !app->store()->flush(std::chrono::seconds(5)))
    log(lws_adapter::log_level::warning, "the call store did not finish writing within 5 s");
  log(lws_adapter::log_level::info, "stopped");
  return 0;
}
