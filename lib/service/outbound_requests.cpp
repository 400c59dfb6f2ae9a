#include "realtime_bridge/service/outbound_requests.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "json.hpp"

namespace rtb::service {
namespace {

using simdjson::dom::element;

rtb::error bad(std::string_view field, std::string_view what) {
  return {errc::invalid_value, fmt::format("{} {}", field, what)};
}

// Parameter names the bridge sets itself on the stream.
bool reserved(std::string_view name) {
  return name == "agent" || name == "direction" || name == "From" || name == "To" || name == "CallSid";
}

/// Why `vars` cannot go on a stream as <Parameter>s, or "".
std::string variables_problem(const call_variables& vars) {
  for (const auto& [name, value] : vars) {
    if (name.empty() || name.size() > 64 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
      return fmt::format("variable '{}': names are 1-64 letters, digits or '_'", name.substr(0, 64));
    if (reserved(name)) return fmt::format("variable '{}' is set by the bridge itself", name);
    if (name.size() + value.size() >= 500)
      return fmt::format("variable '{}': Twilio takes under 500 characters for a name and its value", name);
  }
  return {};
}

std::optional<rtb::error> read_variables(element v, std::string_view field, call_variables& out) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj)) return bad(field, "must be an object of names and values");
  for (auto kv : obj) {
    std::string value;
    std::string_view s;
    if (!kv.value.get_string().get(s)) {
      value = std::string(s);
    } else if (kv.value.is_number() || kv.value.is_bool()) {
      value = simdjson::minify(kv.value);
    } else {
      return bad(fmt::format("{}.{}", field, std::string_view(kv.key)), "must be a string, a number or a boolean");
    }
    out.emplace_back(std::string(kv.key), std::move(value));
  }
  return std::nullopt;
}

std::optional<rtb::error> read_string(element v, std::string_view field, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s)) return bad(field, "must be a string");
  out = std::string(s);
  return std::nullopt;
}

std::optional<rtb::error> read_int(element v, std::string_view field, std::int64_t min, std::int64_t max, int& out) {
  std::int64_t n = 0;
  if (v.get_int64().get(n) || n < min || n > max) return bad(field, fmt::format("must be a whole number from {} to {}", min, max));
  out = static_cast<int>(n);
  return std::nullopt;
}

// The members a call and a campaign share: from, agent, machine detection.
std::optional<std::optional<rtb::error>> common_member(std::string_view k, element v, std::string& from,
                                                      std::string& agent, machine_settings& m, int& ring_timeout) {
  if (k == "from") return read_string(v, "from", from);
  if (k == "agent") return read_string(v, "agent", agent);
  if (k == "voicemail_message") return read_string(v, "voicemail_message", m.voicemail_message);
  if (k == "ring_timeout_seconds") return read_int(v, "ring_timeout_seconds", 5, 600, ring_timeout);
  if (k == "machine_detection") {
    bool on = false;
    std::string_view s;
    if (!v.get_bool().get(on)) {
      m.detection = on ? "Enable" : "";
    } else if (!v.get_string().get(s) && (s == "Enable" || s == "DetectMessageEnd")) {
      m.detection = std::string(s);
    } else {
      return bad("machine_detection", "must be true, false, \"Enable\" or \"DetectMessageEnd\"");
    }
    return std::optional<rtb::error>{};
  }
  if (k == "on_machine") {
    std::string_view s;
    std::optional<machine_policy> p;
    if (!v.get_string().get(s)) p = parse_machine_policy(s);
    if (!p) return bad("on_machine", "must be \"hang_up\" or \"leave_message\"");
    m.on_machine = p;
    return std::optional<rtb::error>{};
  }
  return std::nullopt;
}

std::optional<rtb::error> check_common(const std::string& from, const machine_settings& m) {
  if (!from.empty() && !is_e164_number(from)) return bad("from", "must be an E.164 number (+ and 8 to 15 digits)");
  if (m.on_machine == machine_policy::leave_message && m.voicemail_message.empty())
    return bad("voicemail_message", "is needed with \"on_machine\": \"leave_message\"");
  if (m.voicemail_message.size() > 1000) return bad("voicemail_message", "must be at most 1000 characters");
  return std::nullopt;
}

std::optional<rtb::error> read_retry(element v, std::string_view field, retry_rule& r) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj)) return bad(field, "must be an object");
  for (auto kv : obj) {
    const std::string f = fmt::format("{}.{}", field, std::string_view(kv.key));
    int n = 0;
    if (kv.key == "after_minutes") {
      if (auto e = read_int(kv.value, f, 0, 7 * 24 * 60, n)) return e;
      r.after = std::chrono::minutes(n);
    } else if (kv.key == "after_seconds") {
      if (auto e = read_int(kv.value, f, 0, 7 * 24 * 3600, n)) return e;
      r.after = std::chrono::seconds(n);
    } else if (kv.key == "max_retries") {
      if (auto e = read_int(kv.value, f, 0, 10, n)) return e;
      r.max_retries = n;
    } else {
      return bad(f, "is not a retry setting (after_minutes, after_seconds, max_retries)");
    }
  }
  return std::nullopt;
}

std::optional<rtb::error> read_window(element v, window_request& w) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj)) return bad("window", "must be an object");
  for (auto kv : obj) {
    const std::string f = fmt::format("window.{}", std::string_view(kv.key));
    if (kv.key == "time_zone") {
      if (auto e = read_string(kv.value, f, w.time_zone)) return e;
    } else if (kv.key == "start") {
      if (auto e = read_string(kv.value, f, w.start)) return e;
    } else if (kv.key == "end") {
      if (auto e = read_string(kv.value, f, w.end)) return e;
    } else if (kv.key == "days") {
      simdjson::dom::array arr;
      if (kv.value.get_array().get(arr)) return bad(f, "must be an array of days (\"mon\" … \"sun\")");
      for (element d : arr) {
        std::string day;
        if (auto e = read_string(d, f, day)) return e;
        if (!parse_weekday_bit(day)) return bad(f, fmt::format("has '{}', not a day (\"mon\" … \"sun\")", day));
        w.days.push_back(day);
      }
    } else {
      return bad(f, "is not a window setting (time_zone, start, end, days)");
    }
  }
  auto start = parse_time_of_day(w.start);
  if (!start) return bad("window.start", "must be a time of day (HH:MM)");
  auto end = parse_time_of_day(w.end);
  if (!end) return bad("window.end", "must be a time of day (HH:MM)");
  if (*end <= *start) return bad("window.end", "must be after window.start");
  return std::nullopt;
}

campaign_number read_number(element v) {
  campaign_number n;
  std::string_view s;
  if (!v.get_string().get(s)) {
    n.to = std::string(s);
  } else {
    simdjson::dom::object obj;
    if (v.get_object().get(obj)) {
      n.error = "an entry must be a number (\"+1…\") or an object {\"to\":…, \"variables\":{…}}";
      return n;
    }
    for (auto kv : obj) {
      if (kv.key == "to") {
        if (kv.value.get_string().get(s)) n.error = "to must be a string";
        else n.to = std::string(s);
      } else if (kv.key == "variables") {
        if (auto e = read_variables(kv.value, "variables", n.variables)) n.error = e->message;
      } else {
        n.error = fmt::format("'{}' is not an entry field (to, variables)", std::string_view(kv.key));
      }
      if (!n.error.empty()) return n;
    }
  }
  if (n.to.size() > 32) n.to.resize(32);  // reported, not echoed at length
  if (!is_e164_number(n.to)) {
    n.error = "not an E.164 number (+ and 8 to 15 digits)";
  } else if (auto p = variables_problem(n.variables); !p.empty()) {
    n.error = p;
  }
  return n;
}

void append_retry(std::string& out, std::string_view name, const retry_rule& r) {
  out += fmt::format(R"("{}":{{"after_seconds":{},"max_retries":{}}})", name,
                     std::chrono::duration_cast<std::chrono::seconds>(r.after).count(), r.max_retries);
}

}  // namespace

bool is_e164_number(std::string_view s) noexcept {
  if (s.size() < 9 || s.size() > 16 || s[0] != '+' || s[1] == '0') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

result<outbound_call_request> parse_outbound_call(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(json.data(), json.size()).get(doc) || doc.get_object().get(obj))
    return rtb::error{errc::malformed_json, "the body must be a JSON object"};
  outbound_call_request r;
  bool has_to = false;
  for (auto kv : obj) {
    const std::string_view k = kv.key;
    if (auto c = common_member(k, kv.value, r.from, r.agent, r.machine, r.ring_timeout_seconds)) {
      if (*c) return **c;
    } else if (k == "to") {
      has_to = true;
      if (auto e = read_string(kv.value, "to", r.to)) return *e;
    } else if (k == "variables") {
      if (auto e = read_variables(kv.value, "variables", r.variables)) return *e;
    } else {
      return bad(k.substr(0, 64), "is not a call field (to, from, agent, variables, machine_detection, on_machine, "
                                  "voicemail_message, ring_timeout_seconds)");
    }
  }
  if (!has_to) return rtb::error{errc::missing_field, "to is required"};
  if (!is_e164_number(r.to)) return bad("to", "must be an E.164 number (+ and 8 to 15 digits)");
  if (auto e = check_common(r.from, r.machine)) return *e;
  if (auto p = variables_problem(r.variables); !p.empty()) return rtb::error{errc::invalid_value, p};
  return r;
}

result<campaign_request> parse_campaign_request(std::string_view json, bool numbers_required) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(json.data(), json.size()).get(doc) || doc.get_object().get(obj))
    return rtb::error{errc::malformed_json, "the body must be a JSON object"};
  campaign_request r;
  bool has_numbers = false;
  for (auto kv : obj) {
    const std::string_view k = kv.key;
    if (auto c = common_member(k, kv.value, r.from, r.agent, r.machine, r.ring_timeout_seconds)) {
      if (*c) return **c;
    } else if (k == "name") {
      if (auto e = read_string(kv.value, "name", r.name)) return *e;
      if (r.name.size() > 200) return bad("name", "must be at most 200 characters");
    } else if (k == "max_concurrent") {
      if (auto e = read_int(kv.value, "max_concurrent", 1, 1000, r.max_concurrent)) return *e;
    } else if (k == "calls_per_second") {
      double d = 0;
      if (kv.value.get_double().get(d) || !std::isfinite(d) || d <= 0 || d > 100)
        return bad("calls_per_second", "must be a number above 0, at most 100");
      r.calls_per_second = d;
    } else if (k == "window") {
      window_request w;
      if (auto e = read_window(kv.value, w)) return *e;
      r.window = std::move(w);
    } else if (k == "retry") {
      simdjson::dom::object retry;
      if (kv.value.get_object().get(retry)) return bad("retry", "must be an object");
      for (auto rk : retry) {
        if (rk.key == "busy") {
          if (auto e = read_retry(rk.value, "retry.busy", r.busy)) return *e;
        } else if (rk.key == "no_answer") {
          if (auto e = read_retry(rk.value, "retry.no_answer", r.no_answer)) return *e;
        } else {
          return bad(fmt::format("retry.{}", std::string_view(rk.key).substr(0, 64)), "is not retried (busy, no_answer)");
        }
      }
    } else if (k == "numbers") {
      has_numbers = true;
      simdjson::dom::array arr;
      if (kv.value.get_array().get(arr)) return bad("numbers", "must be an array");
      for (element n : arr) r.numbers.push_back(read_number(n));
    } else {
      return bad(k.substr(0, 64), "is not a campaign field");
    }
  }
  if (auto e = check_common(r.from, r.machine)) return *e;
  if (numbers_required && (!has_numbers || r.numbers.empty()))
    return rtb::error{errc::missing_field, "numbers is required: a list of E.164 numbers"};
  if (r.numbers.size() > 100'000) return bad("numbers", "must hold at most 100000 entries per campaign");
  return r;
}

std::string campaign_settings_json(const campaign_request& r) {
  std::string out = "{";
  const auto str = [&](std::string_view k, std::string_view v) {
    if (out.size() > 1) out.push_back(',');
    json::append_string(out, k);
    out.push_back(':');
    json::append_string(out, v);
  };
  str("name", r.name);
  str("agent", r.agent);
  if (!r.from.empty()) str("from", r.from);
  out += fmt::format(R"(,"max_concurrent":{},"calls_per_second":)", r.max_concurrent);
  json::append_double(out, r.calls_per_second);
  if (r.window) {
    out += R"(,"window":{"time_zone":)";
    json::append_string(out, r.window->time_zone);
    out += R"(,"start":)";
    json::append_string(out, r.window->start);
    out += R"(,"end":)";
    json::append_string(out, r.window->end);
    out += R"(,"days":[)";
    for (std::size_t i = 0; i < r.window->days.size(); ++i) {
      if (i) out.push_back(',');
      json::append_string(out, r.window->days[i]);
    }
    out += "]}";
  }
  out += R"(,"retry":{)";
  append_retry(out, "busy", r.busy);
  out.push_back(',');
  append_retry(out, "no_answer", r.no_answer);
  out.push_back('}');
  out += R"(,"machine_detection":)";
  if (r.machine.detection.empty())
    out += "false";
  else
    json::append_string(out, r.machine.detection);
  if (r.machine.on_machine) str("on_machine", to_string(*r.machine.on_machine));
  if (!r.machine.voicemail_message.empty()) str("voicemail_message", r.machine.voicemail_message);
  if (r.ring_timeout_seconds > 0) out += fmt::format(R"(,"ring_timeout_seconds":{})", r.ring_timeout_seconds);
  out.push_back('}');
  return out;
}

result<calling_window> make_window(const window_request& w, const std::string& zoneinfo_dir) {
  calling_window out;
  auto zone = time_zone::load(w.time_zone, zoneinfo_dir);
  if (!zone) return rtb::error{errc::invalid_value, "window.time_zone: " + zone.error().message};
  out.zone = std::move(*zone);
  auto start = parse_time_of_day(w.start);
  auto end = parse_time_of_day(w.end);
  if (!start || !end || *end <= *start) return rtb::error{errc::invalid_value, "window: start must be before end"};
  out.start = *start;
  out.end = *end;
  if (!w.days.empty()) {
    out.days = 0;
    for (const auto& d : w.days) {
      auto bit = parse_weekday_bit(d);
      if (!bit) return bit.error();
      out.days = static_cast<std::uint8_t>(out.days | *bit);
    }
  }
  return out;
}

std::string variables_json(const call_variables& vars) {
  std::string out = "{";
  for (std::size_t i = 0; i < vars.size(); ++i) {
    if (i) out.push_back(',');
    json::append_string(out, vars[i].first);
    out.push_back(':');
    json::append_string(out, vars[i].second);
  }
  out.push_back('}');
  return out;
}

result<call_variables> parse_variables_json(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return rtb::error{errc::malformed_json, "variables: not JSON"};
  call_variables out;
  if (auto e = read_variables(doc, "variables", out)) return *e;
  return out;
}

}  // namespace rtb::service
