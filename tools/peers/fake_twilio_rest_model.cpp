#include "peers/fake_twilio_rest_model.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "peers/json_text.hpp"
#include "realtime_bridge/twilio/signature.hpp"

namespace rtb::peers {
namespace {

constexpr std::string_view api_prefix = "/2010-04-01/Accounts/";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool e164(std::string_view s) {
  if (s.size() < 9 || s.size() > 16 || s.front() != '+' || s[1] == '0') return false;
  return std::all_of(s.begin() + 1, s.end(), is_digit);
}

std::string_view field(const rest_form& f, std::string_view name) {
  for (const auto& [k, v] : f)
    if (k == name) return v;
  return {};
}

std::string base64_decode(std::string_view in) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (const char c : in) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return {};
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> entities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool done = false;
    for (const auto& [name, c] : entities) {
      if (s.substr(i, name.size()) == name) {
        out.push_back(c);
        i += name.size() - 1;
        done = true;
        break;
      }
    }
    if (!done) out.push_back('&');
  }
  return out;
}

/// The value of attribute `name` in the tag text `tag` (between < and >).
std::optional<std::string> attribute(std::string_view tag, std::string_view name) {
  const std::string key = std::string(name) + "=\"";
  for (std::size_t at = tag.find(key); at != std::string_view::npos; at = tag.find(key, at + 1)) {
    if (at > 0 && tag[at - 1] != ' ' && tag[at - 1] != '\t' && tag[at - 1] != '\n') continue;
    const std::size_t start = at + key.size();
    const std::size_t end = tag.find('"', start);
    if (end == std::string_view::npos) return std::nullopt;
    return xml_unescape(tag.substr(start, end - start));
  }
  return std::nullopt;
}

std::string_view status_name(dial_outcome o) {
  switch (o) {
    case dial_outcome::busy: return "busy";
    case dial_outcome::no_answer: return "no-answer";
    case dial_outcome::failed: return "failed";
    default: return "completed";
  }
}

}  // namespace

rest_form fake_twilio_rest_model::parse_form(std::string_view body) { return twilio::parse_form(body); }

std::optional<std::pair<std::string, rest_form>> fake_twilio_rest_model::stream_of(std::string_view twiml) {
  const std::size_t open = twiml.find("<Stream");
  if (open == std::string_view::npos) return std::nullopt;
  const std::size_t close = twiml.find('>', open);
  if (close == std::string_view::npos) return std::nullopt;
  const std::string_view tag = twiml.substr(open, close - open);
  auto url = attribute(tag, "url");
  if (!url || url->empty()) return std::nullopt;
  rest_form params;
  if (tag.ends_with('/')) return std::make_pair(std::move(*url), std::move(params));
  const std::size_t end = twiml.find("</Stream>", close);
  const std::string_view inside = twiml.substr(close + 1, end == std::string_view::npos ? 0 : end - close - 1);
  for (std::size_t at = inside.find("<Parameter"); at != std::string_view::npos;
       at = inside.find("<Parameter", at + 1)) {
    const std::size_t tag_end = inside.find('>', at);
    if (tag_end == std::string_view::npos) break;
    const std::string_view p = inside.substr(at, tag_end - at);
    auto name = attribute(p, "name");
    auto value = attribute(p, "value");
    if (name) params.emplace_back(std::move(*name), value.value_or(""));
  }
  return std::make_pair(std::move(*url), std::move(params));
}

rest_reply fake_twilio_rest_model::error(int status, int code, std::string_view message) const {
  std::string body = fmt::format(R"({{"code":{},"message":)", code);
  append_json_string(body, message);
  body += fmt::format(R"(,"more_info":"https://www.twilio.com/docs/errors/{}","status":{}}})", code, status);
  return {status, std::move(body)};
}

bool fake_twilio_rest_model::authorized(const rest_request& r, std::string_view account) const {
  if (account != o_.account_sid) return false;
  if (!r.authorization.starts_with("Basic ")) return false;
  const std::string pair = base64_decode(std::string_view(r.authorization).substr(6));
  const std::size_t colon = pair.find(':');
  if (colon == std::string::npos) return false;
  const std::string user = pair.substr(0, colon);
  const std::string password = pair.substr(colon + 1);
  if (user == o_.account_sid) return password == o_.auth_token;
  const auto it = o_.api_keys.find(user);
  return it != o_.api_keys.end() && it->second == password;
}

std::string fake_twilio_rest_model::call_json(const fake_call& c) const {
  std::string out = R"({"sid":)";
  append_json_string(out, c.sid);
  out += R"(,"account_sid":)";
  append_json_string(out, o_.account_sid);
  out += R"(,"to":)";
  append_json_string(out, c.to);
  out += R"(,"from":)";
  append_json_string(out, c.from);
  out += R"(,"status":)";
  append_json_string(out, c.status);
  out += R"(,"direction":"outbound-api","answered_by":)";
  if (c.answered_by.empty())
    out += "null";
  else
    append_json_string(out, c.answered_by);
  out += R"(,"api_version":"2010-04-01"})";
  return out;
}

fake_rest_actions::callback fake_twilio_rest_model::status_callback(fake_call& c, std::string_view status,
                                                                     std::chrono::milliseconds after,
                                                                     const rest_form& extra) {
  fake_rest_actions::callback cb;
  cb.after = after;
  cb.call_sid = c.sid;
  cb.url = c.status_callback;
  cb.params = {{"AccountSid", o_.account_sid}, {"ApiVersion", "2010-04-01"},
               {"CallSid", c.sid},             {"CallStatus", std::string(status)},
               {"Direction", "outbound-api"},  {"From", c.from},
               {"To", c.to},                   {"CallbackSource", "call-progress-events"},
               {"SequenceNumber", std::to_string(c.sequence++)}};
  for (const auto& kv : extra) cb.params.push_back(kv);
  return cb;
}

namespace {
bool subscribed(const fake_call& c, std::string_view event) {
  if (c.status_callback.empty()) return false;
  if (c.events.empty()) return event == "completed";  // Twilio's default
  return std::find(c.events.begin(), c.events.end(), event) != c.events.end();
}
}  // namespace

std::pair<rest_reply, std::vector<fake_rest_action>> fake_twilio_rest_model::handle(const rest_request& r,
                                                                                     std::int64_t now_ms) {
  std::string_view path = r.path;
  if (!path.starts_with(api_prefix)) return {error(404, 20404, "The requested resource was not found"), {}};
  path.remove_prefix(api_prefix.size());
  const std::size_t slash = path.find('/');
  const std::string_view account = path.substr(0, slash);
  const std::string_view rest = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  if (!authorized(r, account)) return {error(401, 20003, "Authenticate"), {}};
  if (rest == "/Calls.json") {
    if (r.method != "POST") return {error(405, 20004, "Method not allowed"), {}};
    return create(r, now_ms);
  }
  constexpr std::string_view calls = "/Calls/";
  if (rest.starts_with(calls) && rest.ends_with(".json")) {
    const std::string_view sid = rest.substr(calls.size(), rest.size() - calls.size() - 5);
    const auto it = calls_.find(sid);
    if (it == calls_.end())
      return {error(404, 20404, fmt::format("The requested resource /2010-04-01/Accounts/{}/Calls/{}.json was not found",
                                            account, sid)),
              {}};
    if (r.method == "GET") return {{200, call_json(it->second)}, {}};
    if (r.method == "POST") return update(it->second, r, now_ms);
    return {error(405, 20004, "Method not allowed"), {}};
  }
  return {error(404, 20404, "The requested resource was not found"), {}};
}

std::pair<rest_reply, std::vector<fake_rest_action>> fake_twilio_rest_model::create(const rest_request& r,
                                                                                     std::int64_t now_ms) {
  const int n = ++create_requests_;
  const rest_form f = parse_form(r.body);
  created_record rec;
  rec.at_ms = now_ms;
  rec.to = std::string(field(f, "To"));
  rec.status_callback = std::string(field(f, "StatusCallback"));
  const auto refuse = [&](rest_reply reply) {
    rec.status = reply.status;
    creates_.push_back(rec);
    return std::make_pair(std::move(reply), std::vector<fake_rest_action>{});
  };
  if (n <= o_.storm || o_.too_many_requests.count(n) > 0) return refuse(error(429, 20429, "Too Many Requests"));
  if (rec.to.empty()) return refuse(error(400, 21201, "No 'To' number is specified"));
  if (!e164(rec.to))
    return refuse(error(400, 21211, fmt::format("The 'To' number {} is not a valid phone number.", rec.to)));
  const std::string_view from = field(f, "From");
  if (from.empty()) return refuse(error(400, 21603, "A 'From' phone number is required."));
  if (!e164(from))
    return refuse(error(400, 21212, fmt::format("The 'From' number {} is not a valid phone number.", from)));
  const std::string_view twiml = field(f, "Twiml");
  if (twiml.empty() && field(f, "Url").empty()) return refuse(error(400, 21205, "Url parameter is required."));
  if (twiml.size() > 4000) return refuse(error(400, 13002, "Twiml exceeds the maximum length of 4000 characters."));

  fake_call c;
  c.sid = fmt::format("CA{:032x}", next_sid_++);
  c.to = rec.to;
  c.from = std::string(from);
  c.status_callback = std::string(field(f, "StatusCallback"));
  for (const auto& [k, v] : f)
    if (k == "StatusCallbackEvent") c.events.push_back(v);
  c.machine_detection = std::string(field(f, "MachineDetection"));
  c.amd_callback = std::string(field(f, "AsyncAmdStatusCallback"));
  c.twiml = std::string(twiml);
  c.attempt = ++attempts_[c.to];
  c.created_ms = now_ms;
  if (const auto it = o_.numbers.find(c.to); it != o_.numbers.end() && !it->second.empty())
    c.outcome = it->second[std::min<std::size_t>(static_cast<std::size_t>(c.attempt - 1), it->second.size() - 1)];
  else
    c.outcome = o_.default_outcome;
  rec.status = 201;
  rec.sid = c.sid;
  creates_.push_back(rec);

  std::vector<fake_rest_action> out;
  if (subscribed(c, "initiated")) out.push_back(status_callback(c, "initiated", std::chrono::milliseconds(20)));
  const auto ring_at = std::chrono::milliseconds(60);
  const bool rings = c.outcome != dial_outcome::failed;
  if (rings && subscribed(c, "ringing")) out.push_back(status_callback(c, "ringing", ring_at));
  switch (c.outcome) {
    case dial_outcome::answer:
    case dial_outcome::slow_answer:
    case dial_outcome::machine: {
      const auto answer_at = c.outcome == dial_outcome::slow_answer ? o_.slow_ring : o_.ring;
      if (subscribed(c, "answered")) out.push_back(status_callback(c, "in-progress", answer_at));
      if (auto stream = stream_of(c.twiml)) {
        fake_rest_actions::connect k;
        k.after = answer_at;
        k.call_sid = c.sid;
        k.url = std::move(stream->first);
        k.parameters = std::move(stream->second);
        k.machine = c.outcome == dial_outcome::machine;
        out.emplace_back(std::move(k));
      }
      if (!c.machine_detection.empty() && !c.amd_callback.empty()) {
        std::string by = "human";
        if (c.outcome == dial_outcome::machine)
          by = c.machine_detection == "DetectMessageEnd" ? "machine_end_beep" : "machine_start";
        fake_rest_actions::callback cb;
        cb.after = answer_at + o_.amd_after;
        cb.call_sid = c.sid;
        cb.url = c.amd_callback;
        cb.params = {{"AccountSid", o_.account_sid},
                     {"CallSid", c.sid},
                     {"AnsweredBy", by},
                     {"MachineDetectionDuration", std::to_string(o_.amd_after.count())}};
        out.emplace_back(std::move(cb));
        c.answered_by = by;
      }
      c.status = "queued";  // in-progress once the shell reports the answer time (see answered())
      break;
    }
    case dial_outcome::busy:
    case dial_outcome::no_answer:
    case dial_outcome::failed: {
      const auto at = c.outcome == dial_outcome::busy        ? o_.ring
                      : c.outcome == dial_outcome::no_answer ? o_.no_answer_after
                                                             : std::chrono::milliseconds(40);
      const std::string sip = c.outcome == dial_outcome::busy ? "486" : c.outcome == dial_outcome::no_answer ? "487" : "404";
      c.status = std::string(status_name(c.outcome));  // final already: a fetch after `at` sees it
      c.ended = true;
      c.ended_ms = now_ms + at.count();
      if (subscribed(c, "completed"))
        out.push_back(status_callback(c, c.status, at, {{"CallDuration", "0"}, {"SipResponseCode", sip}}));
      break;
    }
  }
  std::string body = call_json(c);
  calls_.emplace(c.sid, std::move(c));
  return {{201, std::move(body)}, std::move(out)};
}

void fake_twilio_rest_model::answered(std::string_view call_sid, std::int64_t now_ms) {
  const auto it = calls_.find(call_sid);
  if (it == calls_.end() || it->second.ended) return;
  it->second.status = "in-progress";
  it->second.answered_ms = now_ms;
}

std::vector<fake_rest_action> fake_twilio_rest_model::end_call(fake_call& c, std::string_view status,
                                                               std::int64_t now_ms, std::chrono::milliseconds after) {
  if (c.ended) return {};
  c.ended = true;
  c.ended_ms = now_ms;
  c.status = std::string(status);
  const std::int64_t seconds = c.answered_ms < 0 ? 0 : (now_ms - c.answered_ms + 999) / 1000;
  std::vector<fake_rest_action> out;
  if (subscribed(c, "completed"))
    out.push_back(status_callback(c, status, after, {{"CallDuration", std::to_string(seconds)}, {"SipResponseCode", "200"}}));
  return out;
}

std::vector<fake_rest_action> fake_twilio_rest_model::stream_ended(std::string_view call_sid, std::int64_t now_ms) {
  const auto it = calls_.find(call_sid);
  if (it == calls_.end()) return {};
  return end_call(it->second, "completed", now_ms, std::chrono::milliseconds(0));
}

std::pair<rest_reply, std::vector<fake_rest_action>> fake_twilio_rest_model::update(fake_call& c,
                                                                                     const rest_request& r,
                                                                                     std::int64_t now_ms) {
  if (c.ended) return {error(400, 21220, "Call is not in-progress. Cannot redirect."), {}};
  const rest_form f = parse_form(r.body);
  const std::string_view status = field(f, "Status");
  const std::string_view twiml = field(f, "Twiml");
  std::vector<fake_rest_action> out;
  if (!twiml.empty()) c.updates.emplace_back(twiml);
  if (status == "completed" || status == "canceled") {
    out = end_call(c, c.answered_ms < 0 ? "canceled" : "completed", now_ms, std::chrono::milliseconds(0));
  } else if (twiml.find("<Hangup") != std::string_view::npos) {
    // A <Say> before it takes a moment to play.
    const auto after = std::chrono::milliseconds(twiml.find("<Say") != std::string_view::npos ? 200 : 0);
    out = end_call(c, "completed", now_ms + after.count(), after);
  }
  return {{200, call_json(c)}, std::move(out)};
}

const fake_call* fake_twilio_rest_model::call(std::string_view sid) const {
  const auto it = calls_.find(sid);
  return it == calls_.end() ? nullptr : &it->second;
}

}  // namespace rtb::peers
