#include "realtime_bridge/service/http_tools.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "json.hpp"

namespace rtb::service {
namespace {

void append_member(std::string& out, std::string_view key, std::string_view value) {
  if (out.size() > 1) out.push_back(',');
  json::append_string(out, key);
  out.push_back(':');
  json::append_string(out, value);
}

std::string error_output(std::string_view code, std::string_view message) {
  std::string out = "{";
  append_member(out, "error", code);
  append_member(out, "message", message);
  out.push_back('}');
  return out;
}

}  // namespace

std::string_view to_string(tool_reply o) noexcept {
  switch (o) {
    case tool_reply::answered: return "answered";
    case tool_reply::http_error: return "http_error";
    case tool_reply::timeout: return "timeout";
    case tool_reply::unreachable: return "unreachable";
    case tool_reply::too_large: return "too_large";
  }
  return "unknown";
}

std::string sign_body(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &length);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[mac[i] >> 4]);
    out.push_back(hex[mac[i] & 0x0F]);
  }
  return out;
}

std::string tool_request_body(const tool_call_context& call, std::string_view tool, std::string_view call_id,
                              std::string_view arguments) {
  std::string out = "{";
  append_member(out, "call_sid", call.call_sid);
  append_member(out, "stream_sid", call.stream_sid);
  append_member(out, "agent", call.agent);
  append_member(out, "tool", tool);
  append_member(out, "call_id", call_id);
  out.append(R"(,"arguments":)");
  simdjson::dom::parser parser;
  simdjson::dom::element parsed;
  if (!arguments.empty() && !parser.parse(arguments.data(), arguments.size()).get(parsed))
    out.append(simdjson::minify(parsed));
  else
    json::append_string(out, arguments);
  append_member(out, "from", call.from);
  append_member(out, "to", call.to);
  out.push_back('}');
  return out;
}

tool_result tool_result_of(const fetch_result& r, std::string_view tool, std::chrono::milliseconds timeout) {
  tool_result t;
  t.status = r.status;
  t.latency = r.elapsed;
  switch (r.error) {
    case fetch_error::none:
      if (r.ok()) {
        t.outcome = tool_reply::answered;
        t.output = r.body.empty() ? std::string(R"({"ok":true})") : r.body;
        return t;
      }
      t.outcome = tool_reply::http_error;
      t.detail = fmt::format("HTTP {}", r.status);
      t.output = error_output(
          "tool_failed", fmt::format("The {} service answered with an error (HTTP {}). Tell the caller it cannot be "
                                     "done right now.",
                                     tool, r.status));
      return t;
    case fetch_error::timeout:
      t.outcome = tool_reply::timeout;
      t.detail = r.detail;
      t.output = error_output("tool_timeout", fmt::format("The {} service did not answer within {} seconds. Tell the "
                                                          "caller it cannot be done right now.",
                                                          tool, (timeout.count() + 999) / 1000));
      return t;
    case fetch_error::too_large:
      t.outcome = tool_reply::too_large;
      t.detail = r.detail;
      t.output = error_output("tool_failed", fmt::format("The {} service's answer was too large to use.", tool));
      return t;
    case fetch_error::bad_url:
    case fetch_error::connect_failed:
    case fetch_error::stopped:
      t.outcome = tool_reply::unreachable;
      t.detail = r.detail;
      t.output = error_output(
          "tool_unavailable",
          fmt::format("The {} service cannot be reached. Tell the caller it cannot be done right now.", tool));
      return t;
  }
  return t;
}

void call_http_tool(fetcher& http, const http_tool& tool, const tool_settings& settings, const tool_call_context& call,
                    std::string_view call_id, std::string_view arguments, std::function<void(tool_result)> done) {
  fetch_request r;
  r.method = "POST";
  r.url = tool.url;
  r.body = tool_request_body(call, tool.name, call_id, arguments);
  if (!settings.secret.empty()) r.headers.emplace_back("X-Bridge-Signature", sign_body(settings.secret, r.body));
  r.timeout = tool.timeout.count() > 0 ? tool.timeout : settings.timeout;
  r.max_response_bytes = settings.max_response_bytes;
  const std::chrono::milliseconds timeout = r.timeout;
  http.fetch(std::move(r), [done = std::move(done), name = tool.name, timeout](const fetch_result& res) {
    done(tool_result_of(res, name, timeout));
  });
}

}  // namespace rtb::service
