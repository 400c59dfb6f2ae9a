#include "realtime_bridge/service/twilio_rest.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <simdjson.h>

#include "realtime_bridge/twilio/signature.hpp"

namespace rtb::service {
namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

// A readable start of a body that is not Twilio's JSON (an HTML error page).
std::string excerpt(std::string_view body) {
  std::string out;
  for (const char c : body.substr(0, 200)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  return out;
}

}  // namespace

std::string form_encode(const form_fields& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out.push_back('&');
    out += twilio::percent_encode(fields[i].first);
    out.push_back('=');
    out += twilio::percent_encode(fields[i].second);
  }
  return out;
}

form_fields create_call_form(const create_call_params& p) {
  form_fields f{{"To", p.to}, {"From", p.from}};
  if (!p.twiml.empty()) f.emplace_back("Twiml", p.twiml);
  if (!p.status_callback.empty()) {
    f.emplace_back("StatusCallback", p.status_callback);
    f.emplace_back("StatusCallbackMethod", "POST");
    for (const auto& e : p.status_callback_events) f.emplace_back("StatusCallbackEvent", e);
  }
  if (!p.machine_detection.empty()) {
    f.emplace_back("MachineDetection", p.machine_detection);
    if (!p.async_amd_callback.empty()) {
      f.emplace_back("AsyncAmd", "true");
      f.emplace_back("AsyncAmdStatusCallback", p.async_amd_callback);
      f.emplace_back("AsyncAmdStatusCallbackMethod", "POST");
    }
  }
  if (p.ring_timeout_seconds > 0) f.emplace_back("Timeout", std::to_string(p.ring_timeout_seconds));
  return f;
}

std::string basic_authorization(std::string_view user, std::string_view password) {
  std::string pair(user);
  pair.push_back(':');
  pair.append(password);
  return "Basic " + base64(pair);
}

std::string twilio_error::describe() const {
  if (http_status == 0) return fmt::format("no answer from Twilio ({})", to_string(transport));
  std::string out = code ? fmt::format("Twilio {} (HTTP {})", code, http_status) : fmt::format("Twilio HTTP {}", http_status);
  if (!message.empty()) out += ": " + message;
  if (!more_info.empty()) out += " (" + more_info + ")";
  return out;
}

twilio_error parse_twilio_error(int http_status, std::string_view body) {
  twilio_error e;
  e.http_status = http_status;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(doc) || doc.get_object().get(obj)) {
    e.message = excerpt(body);
    return e;
  }
  for (auto field : obj) {
    const std::string_view k = field.key;
    std::string_view s;
    std::int64_t n = 0;
    if (k == "code") {
      if (!field.value.get_int64().get(n)) e.code = static_cast<int>(n);
      else if (!field.value.get_string().get(s)) e.code = std::atoi(std::string(s).c_str());
    } else if ((k == "message" || k == "detail") && !field.value.get_string().get(s)) {
      if (e.message.empty() || k == "message") e.message = std::string(s);
    } else if (k == "more_info" && !field.value.get_string().get(s)) {
      e.more_info = std::string(s);
    }
  }
  return e;
}

result<call_resource> parse_call_resource(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(doc) || doc.get_object().get(obj))
    return rtb::error{errc::malformed_json, "Twilio's answer is not a JSON object"};
  call_resource c;
  for (auto field : obj) {
    std::string_view s;
    if (field.value.get_string().get(s)) continue;  // null and non-strings: not used
    if (field.key == "sid") c.sid = std::string(s);
    else if (field.key == "status") c.status = std::string(s);
    else if (field.key == "answered_by") c.answered_by = std::string(s);
    else if (field.key == "to") c.to = std::string(s);
    else if (field.key == "from") c.from = std::string(s);
  }
  if (!c.sid.starts_with("CA")) return rtb::error{errc::missing_field, "Twilio's answer has no call sid"};
  return c;
}

rest_verdict judge(const fetch_result& r, bool create, bool retry_uncertain) noexcept {
  rest_verdict v;
  switch (r.error) {
    case fetch_error::none: break;
    case fetch_error::connect_failed: v.retry = true; return v;
    case fetch_error::timeout:
      v.what = refusal::unknown;
      v.retry = !create || retry_uncertain;
      return v;
    case fetch_error::too_large: v.what = refusal::unknown; return v;
    case fetch_error::bad_url:
    case fetch_error::stopped: return v;
  }
  if (r.status >= 200 && r.status < 300) {
    v.ok = true;
    return v;
  }
  if (r.status == 429) {  // 20429: not processed, safe to try again
    v.retry = true;
    return v;
  }
  if (r.status >= 500) {
    v.what = refusal::unknown;
    v.retry = !create || retry_uncertain;
    return v;
  }
  v.what = refusal::rejected;
  return v;
}

std::chrono::milliseconds backoff_after(int attempt, const twilio_rest_options& o) noexcept {
  auto pause = o.first_backoff;
  for (int i = 1; i < attempt && pause < o.max_backoff; ++i) pause *= 2;
  return std::min(pause, o.max_backoff);
}

twilio_rest_client::twilio_rest_client(fetcher& http, scheduler& timers, twilio_rest_options options)
    : http_(http),
      timers_(timers),
      options_(std::move(options)),
      authorization_(basic_authorization(options_.credentials.username, options_.credentials.password)) {
  while (options_.api_base.ends_with('/')) options_.api_base.pop_back();
}

std::string twilio_rest_client::calls_url(std::string_view call_sid) const {
  std::string url = options_.api_base + "/2010-04-01/Accounts/" + options_.credentials.account_sid + "/Calls";
  if (!call_sid.empty()) url += "/" + std::string(call_sid);
  return url + ".json";
}

void twilio_rest_client::create_call(const create_call_params& params, bool retry_uncertain, rest_callback done) {
  fetch_request r;
  r.method = "POST";
  r.url = calls_url();
  r.content_type = "application/x-www-form-urlencoded";
  r.body = form_encode(create_call_form(params));
  send(std::move(r), true, retry_uncertain, std::move(done));
}

void twilio_rest_client::update_call(std::string_view call_sid, const form_fields& fields, rest_callback done) {
  fetch_request r;
  r.method = "POST";
  r.url = calls_url(call_sid);
  r.content_type = "application/x-www-form-urlencoded";
  r.body = form_encode(fields);
  send(std::move(r), false, true, std::move(done));
}

void twilio_rest_client::fetch_call(std::string_view call_sid, rest_callback done) {
  fetch_request r;
  r.method = "GET";
  r.url = calls_url(call_sid);
  send(std::move(r), false, true, std::move(done));
}

namespace {

// One request and its retries; owns everything it needs, so it outlives the client.
struct exchange : std::enable_shared_from_this<exchange> {
  fetcher* http = nullptr;
  scheduler* timers = nullptr;
  twilio_rest_options options;
  fetch_request request;
  bool create = false;
  bool retry_uncertain = false;
  rest_callback done;
  twilio_rest_client::pacer pace;  ///< creates: the pause before a retry
  int attempts = 0;

  void go() {
    ++attempts;
    http->fetch(request, [self = shared_from_this()](const fetch_result& r) { self->answered(r); });
  }

  void answered(const fetch_result& r) {
    const rest_verdict v = judge(r, create, retry_uncertain);
    if (v.ok) {
      rest_result out;
      out.attempts = attempts;
      auto call = parse_call_resource(r.body);
      if (call) {
        out.ok = true;
        out.call = std::move(*call);
      } else {
        // 2xx without a call: for a create, Twilio has it but we do not know its sid.
        out.what = create ? refusal::unknown : refusal::rejected;
        out.error.http_status = r.status;
        out.error.message = call.error().message;
      }
      return done(out);
    }
    if (v.retry && attempts < options.max_attempts) {
      const auto backoff = backoff_after(attempts, options);
      timers->after(create && pace ? std::max(backoff, pace(backoff)) : backoff, [self = shared_from_this(), r](bool stopped) {
        if (stopped) return self->fail(r, refusal::not_placed);
        self->go();
      });
      return;
    }
    fail(r, v.what);
  }

  void fail(const fetch_result& r, refusal what) {
    rest_result out;
    out.attempts = attempts;
    out.what = what;
    if (r.error == fetch_error::none) {
      out.error = parse_twilio_error(r.status, r.body);
    } else {
      out.error.transport = r.error;
      out.error.message = r.detail;
    }
    done(out);
  }
};

}  // namespace

void twilio_rest_client::send(fetch_request request, bool create, bool retry_uncertain, rest_callback done) {
  request.headers.emplace_back("Authorization", authorization_);
  request.headers.emplace_back("Accept", "application/json");
  request.timeout = options_.timeout;
  request.max_response_bytes = 256 * 1024;
  auto x = std::make_shared<exchange>();
  x->http = &http_;
  x->timers = &timers_;
  x->options = options_;
  x->request = std::move(request);
  x->create = create;
  x->retry_uncertain = retry_uncertain;
  x->done = std::move(done);
  if (create) x->pace = pacer_;
  x->go();
}

}  // namespace rtb::service
