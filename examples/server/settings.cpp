// realtime-bridge-server's configuration: environment, then flags.
#include "settings.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "realtime_bridge/loopback.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"
#include "realtime_bridge/service/store_url.hpp"
#include "realtime_bridge/twilio/signature.hpp"

namespace rtb::server_app {
namespace {

// Every setting, in the order of the header (and of usage() and describe()).
struct setting_def {
  std::string_view env;
  std::string_view help;
};

constexpr setting_def base_setting_defs[] = {
    {"PORT", "TCP port to listen on, 0-65535 (0 = any free port). Default 5050."},
    {"BIND_ADDRESS", "Address to listen on. Default: all interfaces."},
    {"THREADS", "Service threads, 0-256 (0 = one per core). Default 0."},
    {"EVENT_LOOP",
     "auto, libev or poll: how each thread waits for its sockets (auto: libev, epoll, if lws' plugin "
     "loads; else poll). Default auto."},
    {"STREAM_PATH", "Path of the media-stream WebSocket; starts with '/', no query. Default /media-stream."},
    {"PUBLIC_URL",
     "Public origin Twilio reaches, e.g. https://bridge.example.com (http:// for local tests; no path). "
     "The TwiML stream URL and the signed URL are its wss:// (ws://) form + STREAM_PATH."},
    {"OPENAI_API_KEY", "OpenAI API key (secret; never printed)."},
    {"OPENAI_MODEL", "Realtime model. Default gpt-realtime."},
    {"OPENAI_REALTIME_URL", "ws:// or wss:// URL to use instead of OpenAI's (proxies, test peers)."},
    {"OPENAI_CA_FILE", "CA bundle for the OpenAI TLS connection. Default: the system's."},
    {"VOICE", "Voice of the AI: alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin or cedar. Default marin."},
    {"ALLOW_UNKNOWN_VOICE", "true: accept a VOICE not in that list (a voice newer than this server). Default false."},
    {"INSTRUCTIONS", "System instructions for the model."},
    {"INSTRUCTIONS_FILE", "File to read INSTRUCTIONS from (not together with INSTRUCTIONS)."},
    {"GREETING", "What the AI says first when the call connects. Default: wait for the caller."},
    {"TRANSCRIPTION_MODEL", "Transcribe the caller with this model, e.g. gpt-4o-mini-transcribe. Default: off."},
    {"VAD_THRESHOLD", "Server VAD threshold, 0.0-1.0 (raise on noisy lines). Default 0.5."},
    {"SILENCE_DURATION_MS", "Silence that ends the caller's turn, in ms (0 or more). Default 500."},
    {"CALLER_AUDIO_BATCH_MS",
     "Caller audio per message to OpenAI, in ms: 0 (one message per 20 ms frame) or a multiple of 20 from 40 to "
     "200. Fewer messages for up to that much more latency. Default 0."},
    {"BARGE_IN_MARGIN_MS",
     "Added to what the caller is estimated to have heard of an interrupted answer, in ms (0-1000). Default 0: "
     "the estimate already covers the network."},
    {"ECHO_GUARD_MS",
     "Ignore the caller's speech for this long after the AI starts playing (line echo), in ms (0-10000). Also "
     "ignores real speech in that window. Default 0 (off)."},
    {"MIN_BARGE_IN_SPEECH_MS",
     "Interrupt the AI only when the caller has spoken this long (noise, coughs and \"uh-huh\" do not), in ms "
     "(0-10000). Delays every barge-in by as much. Default 0 (off)."},
    {"RECONNECT_ATTEMPTS",
     "New OpenAI sessions tried when a call's session fails mid-call (dropped, closed, expired), 0-10; the "
     "conversation is replayed to it as text. 0: the call ends (Twilio's fallback). Default 3."},
    {"RECONNECT_WINDOW_SECONDS",
     "Every reconnect attempt of one outage starts within this many seconds of the failure (1-120). Default 10."},
    {"SESSION_ROLLOVER_SECONDS",
     "At this OpenAI session age (0 or 60-3500 s) a second session takes over between two turns, before OpenAI's "
     "60-minute cap. 0: off (the call reconnects at the cap, with a gap). Default 3300."},
    {"TWILIO_AUTH_TOKEN",
     "Twilio auth token for X-Twilio-Signature checks (secret; never printed). Required, with PUBLIC_URL, unless "
     "ALLOW_UNSIGNED=true."},
    {"ALLOW_UNSIGNED",
     "true: run without TWILIO_AUTH_TOKEN, taking requests nobody signed (local tests only: anyone who finds the "
     "server can then place calls on your OpenAI account). Default false."},
    {"SAY_FIRST", "Text Twilio says (<Say>) before connecting the stream. Default: none."},
    {"FALLBACK_SAY", "Text Twilio says when the stream ends early or the bridge is disabled."},
    {"FALLBACK_DIAL", "E.164 number (+ and 8-15 digits) to dial instead of FALLBACK_SAY."},
    {"REALTIME_ENABLED", "true/false (1/0, yes/no). false: answer every call with the fallback. Default true."},
    {"SHUTDOWN_GRACE_SECONDS", "Seconds ongoing calls get to finish when the server stops (0 or more). Default 30."},
    {"DRAIN_NOTICE_SECONDS",
     "Behind a load balancer: seconds after SIGTERM during which /readyz answers 503 but new calls are still "
     "taken, so that the balancer's health checks send new calls elsewhere first (0 to 300). Default 0: new calls "
     "are refused at once."},
    {"MAX_CALLS",
     "Calls at once in this process; beyond it the webhook answers the fallback and media streams get 503. "
     "Default 0: as many as the open-files limit leaves room for."},
    {"TRACE_DIR", "Directory to record a trace of every call in; must exist and be writable. Default: off."},
    {"LOG_LEVEL", "debug, info, warning or error. Default info."},
    {"LOG_FORMAT",
     "text (one human line per event) or json (one JSON object per line, the call's fields apart). "
     "Default text."},
    {"METRICS_TOKEN", "Bearer token GET /metrics requires (secret; never printed). Default: /metrics is open."},
    {"METRICS_ENABLED",
     "true/false. false: GET /metrics answers 404 and the relay latency of each message is not measured. "
     "Default true."},
    {"DATABASE_URL",
     "Where calls are recorded: sqlite:///path/calls.db, sqlite:relative/path.db, postgresql://user:pass@host/db, "
     "or off. Default: SQLite at data/calls.db under the working directory."},
    {"INSTANCE_NAME",
     "This instance's name in the call store (letters, digits, '.', '-', '_'; at most 64). Instances sharing a "
     "database need distinct names, each kept across restarts. Default: the host name."},
    {"ADMIN_TOKEN",
     "Bearer token for the calls API, the live events and the /calls page (secret; never printed). Default: they "
     "are off."},
    {"EVENTS_URL", "POST every live event as JSON to this URL (https://; http:// only to loopback). Default: off."},
    {"EVENTS_SECRET", "Key of the events' X-Bridge-Signature (HMAC-SHA256; secret). Default: not signed."},
    {"AGENTS_FILE",
     "JSON file of agent profiles (instructions, voice, greeting, numbers, tools over HTTP, transfer, timers; "
     "docs/server.md). SIGHUP reloads it. Default: one agent from the settings above."},
    {"TOOL_SECRET", "Key of the tool requests' X-Bridge-Signature (HMAC-SHA256; secret). Default: not signed."},
    {"TOOL_TIMEOUT_MS", "How long a tool server may take to answer, in ms (100-120000). Default 8000."},
};

// …then the outbound calls' (outbound_settings.hpp).
constexpr auto setting_defs = [] {
  std::array<setting_def, std::size(base_setting_defs) + std::size(outbound_setting_defs)> all{};
  std::size_t i = 0;
  for (const setting_def& d : base_setting_defs) all[i++] = d;
  for (const outbound_setting_def& d : outbound_setting_defs) all[i++] = {d.env, d.help};
  return all;
}();

constexpr std::string_view openai_api_key_name = "OPENAI_API_KEY";
constexpr std::string_view twilio_auth_token_name = "TWILIO_AUTH_TOKEN";
constexpr std::string_view metrics_token_name = "METRICS_TOKEN";
constexpr std::string_view admin_token_name = "ADMIN_TOKEN";
constexpr std::string_view events_secret_name = "EVENTS_SECRET";
constexpr std::string_view tool_secret_name = "TOOL_SECRET";

/// PORT -> --port, OPENAI_API_KEY -> --openai-api-key.
std::string flag_of(std::string_view env_name) {
  std::string out = "--";
  for (const char c : env_name) {
    if (c == '_')
      out.push_back('-');
    else if (c >= 'A' && c <= 'Z')
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    else
      out.push_back(c);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// One setting's raw value and where it came from (for messages).
struct raw_value {
  std::string value;  ///< "" = not set (an empty variable or flag counts as not set)
  std::string name;   ///< "PORT" from the environment, "--port" from a flag
};

class loader {
 public:
  explicit loader(std::vector<raw_value> raw) : raw_(std::move(raw)) {
    for (std::string_view secret :
         {openai_api_key_name, twilio_auth_token_name, metrics_token_name, admin_token_name, events_secret_name,
          tool_secret_name}) {
      const std::string& v = get(secret).value;
      if (!v.empty()) secrets_.push_back(v);
    }
    for (std::string_view secret : outbound_secret_names)
      if (const std::string& v = get(secret).value; !v.empty()) secrets_.push_back(v);
  }

  const raw_value& get(std::string_view env_name) const {
    for (std::size_t i = 0; i < std::size(setting_defs); ++i)
      if (setting_defs[i].env == env_name) return raw_[i];
    static const raw_value none;
    return none;
  }

  /// `'value'`, unless the value contains a secret: then a placeholder.
  std::string quoted(std::string_view value) const {
    for (const std::string& s : secrets_)
      if (value.find(s) != std::string_view::npos) return "(a value containing a secret)";
    return "'" + std::string(value) + "'";
  }

  error bad(std::string_view env_name, std::string_view requirement) const {
    const raw_value& r = get(env_name);
    return redact(fmt::format("{} must be {}, not {}", r.name, requirement, quoted(r.value)));
  }

  /// Last line of defence: no message carries a (realistically long) secret.
  error redact(std::string message) const {
    for (const std::string& s : secrets_) {
      if (s.size() < 8) continue;  // quoted() already hides values containing short ones
      for (std::size_t at = message.find(s); at != std::string::npos; at = message.find(s, at))
        message.replace(at, s.size(), "(secret)");
    }
    return error{errc::invalid_config, std::move(message)};
  }

  /// Integer setting in [min, max]; false (and `err` set) when malformed.
  bool integer(std::string_view env_name, long long min, long long max, std::string_view requirement, long long& out,
               std::optional<error>& err) const {
    const std::string& v = get(env_name).value;
    if (v.empty()) return true;
    long long n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < min || n > max) {
      err = bad(env_name, requirement);
      return false;
    }
    out = n;
    return true;
  }

 private:
  std::vector<raw_value> raw_;
  std::vector<std::string> secrets_;
};

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' || c == '_';
}

/// "https://host[:port]" (a trailing '/' removed), or nullopt when `url` is not
/// an http(s) origin.
std::optional<std::string> parse_origin(std::string_view url) {
  std::string scheme;
  if (starts_with_icase(url, "https://"))
    scheme = "https://";
  else if (starts_with_icase(url, "http://"))
    scheme = "http://";
  else
    return std::nullopt;
  std::string_view rest = url.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;

  std::string_view host = rest;
  std::string_view port;
  if (rest.front() == '[') {  // IPv6 literal
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    for (const char c : rest.substr(1, close - 1))
      if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
        return std::nullopt;
    host = rest.substr(0, close + 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty()) return std::nullopt;
    for (const char c : host)
      if (!valid_host_char(c)) return std::nullopt;  // also rejects '/', '?', '#', '@', spaces
  }
  if (!port.empty()) {
    if (port.size() > 5) return std::nullopt;
    int n = 0;
    for (const char c : port) {
      if (!is_digit(c)) return std::nullopt;
      n = n * 10 + (c - '0');
    }
    if (n < 1 || n > 65535) return std::nullopt;
  }
  return scheme + std::string(rest);
}

// OpenAI's built-in Realtime voices (openai-realtime.md, "Voices").
constexpr std::string_view known_voices[] = {"alloy", "ash",     "ballad", "coral", "echo",
                                             "sage",  "shimmer", "verse",  "marin", "cedar"};

bool parse_bool(std::string_view v, bool& out) {
  const std::string b = lower(v);
  if (b == "true" || b == "1" || b == "yes") {
    out = true;
    return true;
  }
  if (b == "false" || b == "0" || b == "no") {
    out = false;
    return true;
  }
  return false;
}

/// https://host…, or http:// to a loopback host (a test receiver).
bool https_or_local_http(std::string_view url) {
  if (starts_with_icase(url, "https://")) return url.size() > 8;
  if (!starts_with_icase(url, "http://")) return false;
  std::string_view host = url.substr(7);
  host = host.substr(0, host.find_first_of("/?#"));
  if (host.starts_with('[')) return host.starts_with("[::1]");
  return is_loopback_host(host.substr(0, host.find(':')));
}

bool is_e164(std::string_view s) {
  if (s.size() < 9 || s.size() > 16 || s.front() != '+') return false;
  for (const char c : s.substr(1))
    if (!is_digit(c)) return false;
  return true;
}

/// The whole file, or the reason it cannot be read.
std::optional<std::string> read_file(const std::string& path, std::string& why) {
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    why = std::generic_category().message(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int saved = errno;
  std::fclose(f);
  if (failed) {
    why = std::generic_category().message(saved != 0 ? saved : EIO);
    return std::nullopt;
  }
  return out;
}

}  // namespace

result<service::profile_set> load_profiles(const std::string& path) {
  std::string why;
  const auto text = read_file(path, why);
  if (!text) return error{errc::invalid_config, fmt::format("AGENTS_FILE {} cannot be read: {}", path, why)};
  return service::parse_profiles(*text, path);
}

namespace {


}  // namespace

std::string settings::effective_openai_url() const {
  if (!openai_realtime_url.empty()) return openai_realtime_url;
  return "wss://api.openai.com/v1/realtime?model=" + twilio::percent_encode(openai_model);
}

std::string settings::stream_url() const {
  if (public_url.empty()) return {};
  if (public_url.starts_with("https://")) return "wss://" + public_url.substr(8) + stream_path;
  if (public_url.starts_with("http://")) return "ws://" + public_url.substr(7) + stream_path;
  return {};  // not reachable for settings from load_settings()
}

result<settings> load_settings(const std::function<std::optional<std::string>(std::string_view)>& env,
                               const std::vector<std::string>& args) {
  // 1. The environment, then the flags over it. The flags, the numbers and the
  // help text are handled here rather than by CLI11 (Debian's 2.1.2): it takes
  // "--name=" for "--name" and the next argument as the value, so a flag
  // could not clear a variable and "--greeting= --voice=x" would greet with
  // "--voice=x"; its errors quote the argument, which may be a secret; it reads
  // 0x10, 010 (octal), " 5050" and "on" as numbers and booleans that are
  // refused here; and it does not wrap help text.
  std::vector<raw_value> raw(std::size(setting_defs));
  for (std::size_t i = 0; i < std::size(setting_defs); ++i) {
    raw[i].name = std::string(setting_defs[i].env);
    if (env) {
      if (auto v = env(setting_defs[i].env)) raw[i].value = std::move(*v);
    }
  }
  for (std::size_t a = 0; a < args.size(); ++a) {
    const std::string& arg = args[a];
    if (arg == "--help" || arg == "-h") return error{errc::invalid_config, usage()};
    if (!arg.starts_with("--") || arg.size() == 2) {
      // Not echoed: a stray argument may well be a secret that lost its flag
      // (e.g. "--openai-api-key= sk-…").
      return error{
          errc::invalid_config,
          fmt::format("unexpected argument {}: settings are given as --name value or --name=value (see --help)",
                      a + 1)};
    }
    const std::size_t eq = arg.find('=');
    const std::string flag = arg.substr(0, eq);
    std::size_t index = std::size(setting_defs);
    for (std::size_t i = 0; i < std::size(setting_defs); ++i)
      if (flag_of(setting_defs[i].env) == flag) index = i;
    if (index == std::size(setting_defs))
      return error{errc::invalid_config, fmt::format("unknown flag '{}' (see --help)", flag)};
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else {
      if (a + 1 >= args.size() || args[a + 1].starts_with("--"))
        return error{errc::invalid_config, fmt::format("{} needs a value: {} value or {}=value", flag, flag, flag)};
      value = args[++a];
    }
    raw[index].value = std::move(value);
    raw[index].name = flag;
  }

  // 2. Each setting, in order; the first bad one is reported.
  const loader in(std::move(raw));
  settings s;
  std::optional<error> err;
  const auto str = [&](std::string_view name, std::string& field) {
    if (const std::string& v = in.get(name).value; !v.empty()) field = v;
  };

  const auto boolean = [&](std::string_view name, bool& field) -> std::optional<error> {
    if (const std::string& v = in.get(name).value; !v.empty() && !parse_bool(v, field))
      return in.bad(name, "true or false (or 1/0, yes/no)");
    return std::nullopt;
  };

  long long n = s.port;
  if (!in.integer("PORT", 0, 65535, "a number from 0 to 65535", n, err)) return *err;
  s.port = static_cast<int>(n);
  if (const std::string& v = in.get("BIND_ADDRESS").value; !v.empty()) {
    unsigned char buf[sizeof(in6_addr)];
    if (::inet_pton(AF_INET, v.c_str(), buf) != 1 && ::inet_pton(AF_INET6, v.c_str(), buf) != 1)
      return in.bad("BIND_ADDRESS", "an IPv4 or IPv6 address, e.g. 127.0.0.1 or ::1");
    s.bind_address = v;
  }
  n = s.threads;
  if (!in.integer("THREADS", 0, 256, "a number from 0 to 256", n, err)) return *err;
  s.threads = static_cast<int>(n);
  if (const std::string& v = in.get("STREAM_PATH").value; !v.empty()) {
    if (v.front() != '/' || v.find_first_of("?#") != std::string::npos)
      return in.bad("STREAM_PATH", "a path starting with '/' without a query string");
    s.stream_path = v;
  }
  if (const std::string& v = in.get("PUBLIC_URL").value; !v.empty()) {
    auto origin = parse_origin(v);
    if (!origin)
      return in.bad("PUBLIC_URL",
                    "an https:// (or http://) origin without a path or query, e.g. https://bridge.example.com");
    s.public_url = std::move(*origin);
  }

  str("OPENAI_API_KEY", s.openai_api_key);
  if (const raw_value& model = in.get("OPENAI_MODEL"); !model.value.empty()) {
    // The model goes into the connection URL and the logs: a key pasted here
    // by mistake must not be echoed anywhere.
    if (model.value.starts_with("sk-") || model.value.size() > 100 ||
        !std::all_of(model.value.begin(), model.value.end(), [](char c) { return valid_host_char(c) || c == ':'; }))
      return error{errc::invalid_config,
                   fmt::format("{} must be a model name (letters, digits, '-', '.', '_', ':'; e.g. gpt-realtime); "
                               "the value given is not shown, in case it is a key",
                               model.name)};
    s.openai_model = model.value;
  }
  if (const std::string& v = in.get("OPENAI_REALTIME_URL").value; !v.empty()) {
    const bool ws = starts_with_icase(v, "ws://") || starts_with_icase(v, "wss://");
    if (!ws || v.size() == v.find("://") + 3) return in.bad("OPENAI_REALTIME_URL", "a ws:// or wss:// URL");
    if (auto ok = lws_adapter::validate_openai_url(v); !ok)
      return in.bad("OPENAI_REALTIME_URL", fmt::format("a usable ws:// or wss:// URL ({})", ok.error().message));
    s.openai_realtime_url = v;
  }
  if (const raw_value& ca = in.get("OPENAI_CA_FILE"); !ca.value.empty()) {
    std::string why;
    if (!read_file(ca.value, why))
      return in.redact(fmt::format("{} {} cannot be read: {}", ca.name, in.quoted(ca.value), why));
    s.openai_ca_file = ca.value;
  }
  str("VOICE", s.voice);
  if (auto e = boolean("ALLOW_UNKNOWN_VOICE", s.allow_unknown_voice)) return *e;
  if (!s.allow_unknown_voice &&
      std::find(std::begin(known_voices), std::end(known_voices), s.voice) == std::end(known_voices))
    return in.bad(
        "VOICE",
        "one of alloy, ash, ballad, coral, echo, sage, shimmer, verse, marin, cedar (ALLOW_UNKNOWN_VOICE=true "
        "accepts others)");
  str("INSTRUCTIONS", s.instructions);
  if (const raw_value& file = in.get("INSTRUCTIONS_FILE"); !file.value.empty()) {
    if (!s.instructions.empty())
      return in.redact(fmt::format("{} and {} cannot both be set", in.get("INSTRUCTIONS").name, file.name));
    std::string why;
    auto text = read_file(file.value, why);
    if (!text) return in.redact(fmt::format("{} {} cannot be read: {}", file.name, in.quoted(file.value), why));
    s.instructions = std::move(*text);
  }
  str("GREETING", s.greeting);
  str("TRANSCRIPTION_MODEL", s.transcription_model);
  if (const std::string& v = in.get("VAD_THRESHOLD").value; !v.empty()) {
    double d = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc{} || end != v.data() + v.size() || !std::isfinite(d) || d < 0.0 || d > 1.0)
      return in.bad("VAD_THRESHOLD", "a number from 0.0 to 1.0");
    s.vad_threshold = d;
  }
  constexpr long long int_max = std::numeric_limits<int>::max();
  n = s.silence_duration_ms;
  if (!in.integer("SILENCE_DURATION_MS", 0, int_max, "a number of milliseconds, 0 or more", n, err)) return *err;
  s.silence_duration_ms = static_cast<int>(n);
  n = s.caller_audio_batch_ms;
  constexpr std::string_view batch_requirement = "a number of milliseconds: 0 (off) or a multiple of 20 from 40 to 200";
  if (!in.integer("CALLER_AUDIO_BATCH_MS", 0, 200, batch_requirement, n, err)) return *err;
  if (n != 0 && (n < 40 || n % 20 != 0)) return in.bad("CALLER_AUDIO_BATCH_MS", batch_requirement);
  s.caller_audio_batch_ms = static_cast<int>(n);
  n = s.barge_in_margin_ms;
  if (!in.integer("BARGE_IN_MARGIN_MS", 0, 1000, "a number of milliseconds from 0 to 1000", n, err)) return *err;
  s.barge_in_margin_ms = static_cast<int>(n);
  n = s.echo_guard_ms;
  if (!in.integer("ECHO_GUARD_MS", 0, 10'000, "a number of milliseconds from 0 to 10000", n, err)) return *err;
  s.echo_guard_ms = static_cast<int>(n);
  n = s.min_barge_in_speech_ms;
  if (!in.integer("MIN_BARGE_IN_SPEECH_MS", 0, 10'000, "a number of milliseconds from 0 to 10000", n, err)) return *err;
  s.min_barge_in_speech_ms = static_cast<int>(n);
  n = s.reconnect_attempts;
  if (!in.integer("RECONNECT_ATTEMPTS", 0, 10, "a number from 0 to 10", n, err)) return *err;
  s.reconnect_attempts = static_cast<int>(n);
  n = s.reconnect_window_seconds;
  if (!in.integer("RECONNECT_WINDOW_SECONDS", 1, 120, "a number of seconds from 1 to 120", n, err)) return *err;
  s.reconnect_window_seconds = static_cast<int>(n);
  n = s.session_rollover_seconds;
  constexpr std::string_view rollover_requirement = "0 (off) or a number of seconds from 60 to 3500";
  if (!in.integer("SESSION_ROLLOVER_SECONDS", 0, 3500, rollover_requirement, n, err)) return *err;
  if (n != 0 && n < 60) return in.bad("SESSION_ROLLOVER_SECONDS", rollover_requirement);
  s.session_rollover_seconds = static_cast<int>(n);

  str("TWILIO_AUTH_TOKEN", s.twilio_auth_token);
  if (auto e = boolean("ALLOW_UNSIGNED", s.allow_unsigned)) return *e;
  str("SAY_FIRST", s.say_first);
  str("FALLBACK_SAY", s.fallback_say);
  if (const std::string& v = in.get("FALLBACK_DIAL").value; !v.empty()) {
    if (!is_e164(v)) return in.bad("FALLBACK_DIAL", "an E.164 phone number (+ and 8 to 15 digits)");
    s.fallback_dial = v;
  }
  if (auto e = boolean("REALTIME_ENABLED", s.realtime_enabled)) return *e;

  n = s.shutdown_grace.count();
  if (!in.integer("SHUTDOWN_GRACE_SECONDS", 0, int_max, "a number of seconds, 0 or more", n, err)) return *err;
  s.shutdown_grace = std::chrono::seconds{n};
  n = s.drain_notice.count();
  if (!in.integer("DRAIN_NOTICE_SECONDS", 0, 300, "a number of seconds from 0 to 300", n, err)) return *err;
  s.drain_notice = std::chrono::seconds{n};
  n = 0;
  if (!in.integer("MAX_CALLS", 0, 1'000'000, "a number of calls from 0 (from the open-files limit) to 1000000", n, err))
    return *err;
  s.max_calls = static_cast<std::size_t>(n);
  if (const raw_value& dir = in.get("TRACE_DIR"); !dir.value.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir.value, ec))
      return in.redact(fmt::format("{} {} must be an existing directory", dir.name, in.quoted(dir.value)));
    if (::access(dir.value.c_str(), W_OK | X_OK) != 0)
      return in.redact(fmt::format("{} {} is not writable by this process: {}", dir.name, in.quoted(dir.value),
                                   std::generic_category().message(errno)));
    s.trace_dir = dir.value;
  }
  if (const std::string& v = in.get("EVENT_LOOP").value; !v.empty()) {
    const std::string l = lower(v);
    if (l != "auto" && l != "libev" && l != "poll") return in.bad("EVENT_LOOP", "one of auto, libev, poll");
    s.event_loop = l;
  }
  if (const std::string& v = in.get("LOG_LEVEL").value; !v.empty()) {
    const std::string l = lower(v);
    if (l != "debug" && l != "info" && l != "warning" && l != "error")
      return in.bad("LOG_LEVEL", "one of debug, info, warning, error");
    s.log_level = l;
  }
  if (const std::string& v = in.get("LOG_FORMAT").value; !v.empty()) {
    const std::string l = lower(v);
    if (l != "text" && l != "json") return in.bad("LOG_FORMAT", "text or json");
    s.log_format = l;
  }
  str("METRICS_TOKEN", s.metrics_token);
  if (auto e = boolean("METRICS_ENABLED", s.metrics_enabled)) return *e;
  if (const raw_value& db = in.get("DATABASE_URL"); !db.value.empty()) {
    auto parsed = service::parse_database_url(db.value);
    if (!parsed) return in.redact(fmt::format("{} is not usable: {}", db.name, parsed.error().message));
    s.database_url = db.value;
  }
  if (const std::string& v = in.get("INSTANCE_NAME").value; !v.empty()) {
    const bool valid = v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
                         return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                                c == '-' || c == '_';
                       });
    if (!valid) return in.bad("INSTANCE_NAME", "letters, digits, '.', '-' and '_', at most 64");
    s.instance_name = v;
  }
  str("ADMIN_TOKEN", s.admin_token);
  if (const std::string& v = in.get("EVENTS_URL").value; !v.empty()) {
    if (!https_or_local_http(v)) return in.bad("EVENTS_URL", "an https:// URL (http:// only to a loopback host)");
    s.events_url = v;
  }
  str("EVENTS_SECRET", s.events_secret);
  if (const raw_value& file = in.get("AGENTS_FILE"); !file.value.empty()) {
    if (auto profiles = load_profiles(file.value); !profiles) return in.redact(profiles.error().message);
    s.agents_file = file.value;
  }
  str("TOOL_SECRET", s.tool_secret);
  n = s.tool_timeout_ms;
  if (!in.integer("TOOL_TIMEOUT_MS", 100, 120'000, "a number of milliseconds from 100 to 120000", n, err)) return *err;
  s.tool_timeout_ms = static_cast<int>(n);

  if (auto e = load_outbound([&](std::string_view name) -> const std::string& { return in.get(name).value; },
                             [&](std::string_view name, std::string_view req) { return in.bad(name, req); },
                             s.outbound))
    return *e;
  if (auto e = check_outbound(s.outbound, !s.twilio_auth_token.empty(), !s.public_url.empty(), !s.admin_token.empty()))
    return in.redact(e->message);

  // 3. The call configuration they make must be valid too.
  if (auto ok = validate(call_config_from(s)); !ok) return in.redact(ok.error().message);
  return s;
}

result<void> check_signatures_configured(const settings& s) {
  if (!s.twilio_auth_token.empty() && s.public_url.empty())
    return error{errc::invalid_config,
                 "TWILIO_AUTH_TOKEN needs PUBLIC_URL: signatures are checked against the public URL Twilio calls, "
                 "never the Host header"};
  if (s.twilio_auth_token.empty() && !s.allow_unsigned && s.realtime_enabled)
    return error{errc::invalid_config,
                 "TWILIO_AUTH_TOKEN is not set: without it anyone who finds this server can place calls on your "
                 "OpenAI account. Set TWILIO_AUTH_TOKEN and PUBLIC_URL, or ALLOW_UNSIGNED=true for a local test"};
  return {};
}

std::optional<std::string> process_env(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::vector<std::string> describe(const settings& s) {
  const settings d;  // the defaults
  std::vector<std::string> secrets;
  for (const std::string* v :
       {&s.openai_api_key, &s.twilio_auth_token, &s.metrics_token, &s.admin_token, &s.events_secret, &s.tool_secret,
        &s.outbound.api_key_secret})
    if (!v->empty()) secrets.push_back(*v);

  // A printable, bounded copy of a free-text value, secrets blanked out
  // (before cutting, so no part of one can remain).
  const auto shown = [&](std::string_view v) {
    std::string full(v);
    for (const std::string& secret : secrets)
      for (std::size_t at = full.find(secret); at != std::string::npos; at = full.find(secret, at))
        full.replace(at, secret.size(), "(secret)");
    constexpr std::size_t max_chars = 80;
    std::string out;
    for (const char c : std::string_view(full).substr(0, max_chars))
      out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    if (full.size() > max_chars) out += fmt::format("… ({} chars)", v.size());
    return out;
  };
  std::vector<std::string> lines;
  const auto line = [&](std::string_view name, const std::string& value, bool is_default, std::string_view unset = {}) {
    if (value.empty())
      lines.push_back(fmt::format("{}=({})", name, unset.empty() ? "not set" : unset));
    else
      lines.push_back(fmt::format("{}={}{}", name, shown(value), is_default ? " (default)" : ""));
  };
  const auto secret = [&](std::string_view name, const std::string& value) {
    lines.push_back(fmt::format("{}={}", name, value.empty() ? "(not set)" : "(set)"));
  };

  line("PORT", std::to_string(s.port), s.port == d.port);
  line("BIND_ADDRESS", s.bind_address, false, "not set: all interfaces");
  line("THREADS", std::to_string(s.threads), s.threads == d.threads);
  line("EVENT_LOOP", s.event_loop, s.event_loop == d.event_loop);
  line("STREAM_PATH", s.stream_path, s.stream_path == d.stream_path);
  line("PUBLIC_URL", s.public_url, false);
  secret("OPENAI_API_KEY", s.openai_api_key);
  line("OPENAI_MODEL", s.openai_model, s.openai_model == d.openai_model);
  line("OPENAI_REALTIME_URL", s.openai_realtime_url, false, "not set: " + s.effective_openai_url());
  line("OPENAI_CA_FILE", s.openai_ca_file, false, "not set: system CAs");
  line("VOICE", s.voice, s.voice == d.voice);
  line("ALLOW_UNKNOWN_VOICE", s.allow_unknown_voice ? "true" : "false", s.allow_unknown_voice == d.allow_unknown_voice);
  line("INSTRUCTIONS", s.instructions, false);
  line("GREETING", s.greeting, false, "not set: wait for the caller");
  line("TRANSCRIPTION_MODEL", s.transcription_model, false, "not set: no caller transcripts");
  line("VAD_THRESHOLD", fmt::format("{}", s.vad_threshold), s.vad_threshold == d.vad_threshold);
  line("SILENCE_DURATION_MS", std::to_string(s.silence_duration_ms), s.silence_duration_ms == d.silence_duration_ms);
  line("CALLER_AUDIO_BATCH_MS", std::to_string(s.caller_audio_batch_ms),
       s.caller_audio_batch_ms == d.caller_audio_batch_ms);
  line("BARGE_IN_MARGIN_MS", std::to_string(s.barge_in_margin_ms), s.barge_in_margin_ms == d.barge_in_margin_ms);
  line("ECHO_GUARD_MS", std::to_string(s.echo_guard_ms), s.echo_guard_ms == d.echo_guard_ms);
  line("MIN_BARGE_IN_SPEECH_MS", std::to_string(s.min_barge_in_speech_ms),
       s.min_barge_in_speech_ms == d.min_barge_in_speech_ms);
  line("RECONNECT_ATTEMPTS", std::to_string(s.reconnect_attempts), s.reconnect_attempts == d.reconnect_attempts);
  line("RECONNECT_WINDOW_SECONDS", std::to_string(s.reconnect_window_seconds),
       s.reconnect_window_seconds == d.reconnect_window_seconds);
  line("SESSION_ROLLOVER_SECONDS", std::to_string(s.session_rollover_seconds),
       s.session_rollover_seconds == d.session_rollover_seconds);
  secret("TWILIO_AUTH_TOKEN", s.twilio_auth_token);
  line("ALLOW_UNSIGNED", s.allow_unsigned ? "true" : "false", s.allow_unsigned == d.allow_unsigned);
  line("SAY_FIRST", s.say_first, false);
  line("FALLBACK_SAY", s.fallback_say, s.fallback_say == d.fallback_say);
  line("FALLBACK_DIAL", s.fallback_dial, false);
  line("REALTIME_ENABLED", s.realtime_enabled ? "true" : "false", s.realtime_enabled == d.realtime_enabled);
  line("SHUTDOWN_GRACE_SECONDS", std::to_string(s.shutdown_grace.count()), s.shutdown_grace == d.shutdown_grace);
  line("DRAIN_NOTICE_SECONDS", std::to_string(s.drain_notice.count()), s.drain_notice == d.drain_notice);
  line("MAX_CALLS", std::to_string(s.max_calls), false);
  if (s.max_calls == 0) lines.back() = "MAX_CALLS=0 (default: from the open-files limit)";
  line("TRACE_DIR", s.trace_dir, false, "not set: no traces");
  line("LOG_LEVEL", s.log_level, s.log_level == d.log_level);
  line("LOG_FORMAT", s.log_format, s.log_format == d.log_format);
  secret("METRICS_TOKEN", s.metrics_token);
  line("METRICS_ENABLED", s.metrics_enabled ? "true" : "false", s.metrics_enabled == d.metrics_enabled);
  if (s.database_url.empty()) {
    lines.push_back(fmt::format("DATABASE_URL=(not set: sqlite:{})", service::default_sqlite_path));
  } else {
    auto parsed = service::parse_database_url(s.database_url);
    lines.push_back(fmt::format("DATABASE_URL={}", parsed ? shown(parsed->redacted()) : std::string("(invalid)")));
  }
  line("INSTANCE_NAME", s.instance_name, false, "not set: the host name");
  secret("ADMIN_TOKEN", s.admin_token);
  line("EVENTS_URL", s.events_url, false);
  secret("EVENTS_SECRET", s.events_secret);
  line("AGENTS_FILE", s.agents_file, false, "not set: one agent from these settings");
  secret("TOOL_SECRET", s.tool_secret);
  line("TOOL_TIMEOUT_MS", std::to_string(s.tool_timeout_ms), s.tool_timeout_ms == d.tool_timeout_ms);
  for (std::string& l : describe_outbound(s.outbound)) lines.push_back(std::move(l));
  return lines;
}

std::string usage() {
  std::string out =
      "Usage: realtime-bridge-server [--name value | --name=value]...\n"
      "\n"
      "Bridges Twilio Media Streams calls to the OpenAI Realtime API. Twilio's voice\n"
      "webhook goes to POST /incoming-call; the media stream to STREAM_PATH.\n"
      "\n"
      "Every setting is read from the environment variable NAME and can be\n"
      "overridden by the flag --name (lower case, '-' for '_'). An empty value\n"
      "counts as not set.\n"
      "\n";
  for (const setting_def& def : setting_defs) {
    out += fmt::format("  {} ({})\n", flag_of(def.env), def.env);
    // The help text, word-wrapped at 78 columns under a 6-space indent.
    std::string line = "     ";
    std::string_view rest = def.help;
    while (!rest.empty()) {
      const std::size_t space = rest.find(' ');
      const std::string_view word = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      if (line.size() > 6 && line.size() + 1 + word.size() > 78) {
        out += line + "\n";
        line = "     ";
      }
      line.append(" ").append(word);
    }
    out += line + "\n";
  }
  out +=
      "  --check\n      Connect to OpenAI as a call would (key, URL, model, session settings),\n"
      "      print what is wrong and how to fix it, and exit (0: a session was\n"
      "      configured).\n";
  out += "  --version\n      Print the version.\n";
  out += "  --help, -h\n      Show this text.\n";
  return out;
}

call_config call_config_from(const settings& s) {
  call_config c;
  openai::session_config& cfg = c.openai.config;
  cfg.model = s.openai_model;
  cfg.voice = s.voice;
  cfg.instructions = s.instructions;
  openai::server_vad vad;
  vad.threshold = s.vad_threshold;
  vad.silence_duration_ms = s.silence_duration_ms;
  cfg.turn = vad;
  if (!s.transcription_model.empty()) {
    openai::transcription t;
    t.model = s.transcription_model;
    cfg.input_transcription = std::move(t);
  }
  c.limits.caller_audio_batch = std::chrono::milliseconds{s.caller_audio_batch_ms};
  c.barge_in.margin = std::chrono::milliseconds{s.barge_in_margin_ms};
  c.barge_in.echo_guard = std::chrono::milliseconds{s.echo_guard_ms};
  c.reconnect.attempts = static_cast<std::uint32_t>(s.reconnect_attempts);
  c.reconnect.window = std::chrono::seconds{s.reconnect_window_seconds};
  c.rollover.after = std::chrono::seconds{s.session_rollover_seconds};
  c.barge_in.min_speech = std::chrono::milliseconds{s.min_barge_in_speech_ms};
  if (!s.greeting.empty()) {
    // Per-response instructions rather than a fake user message: nothing the
    // caller did not say enters the conversation (see settings.hpp).
    c.openai.greeting.how = openai::greeting::style::instructions;
    c.openai.greeting.text = "Greet the caller by saying: " + s.greeting;
  }
  return c;
}

twilio::fallback fallback_of(const settings& s) {
  twilio::fallback f;
  if (!s.fallback_dial.empty()) {
    f.what = twilio::fallback::kind::dial;
    f.number = s.fallback_dial;
    f.text.clear();
  } else {
    f.what = twilio::fallback::kind::say;
    f.text = s.fallback_say;
  }
  return f;
}

std::string incoming_call_twiml(const settings& s, const std::vector<std::pair<std::string, std::string>>& parameters) {
  twilio::fallback f = fallback_of(s);
  if (!s.realtime_enabled) return twilio::render_fallback(f);
  twilio::connect_stream_twiml t;
  t.say_first = s.say_first;
  t.stream_url = s.stream_url();
  t.parameters = parameters;
  // With agents, a call may end in a hang-up or a transfer: Twilio asks what
  // next when the stream ends, and gets the fallback only after a failure.
  if (!s.agents_file.empty() && !s.public_url.empty()) t.action_url = s.public_url + std::string(call_ended_path);
  t.fallback = std::move(f);
  return twilio::render(t);
}

}  // namespace rtb::server_app
