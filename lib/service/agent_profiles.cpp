#include "realtime_bridge/service/agent_profiles.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>
#include <simdjson.h>

#include "realtime_bridge/loopback.hpp"

namespace rtb::service {
namespace {

using simdjson::dom::element;

// Errors carry the file and the JSON path to the bad value.
class reader {
 public:
  explicit reader(std::string_view file) : file_(file) {}

  error bad(std::string_view path, std::string_view what) const {
    return {errc::invalid_config, fmt::format("{}: {}: {}", file_, path, what)};
  }

  /// Calls `on(key, value, path)` for each member; unknown keys (on returns
  /// false) are errors naming them.
  template <class F>
  std::optional<error> members(element e, const std::string& path, F&& on) const {
    simdjson::dom::object obj;
    if (e.get_object().get(obj)) return bad(path, "must be an object");
    for (auto [key, value] : obj) {
      const std::string child = path.empty() ? std::string(key) : path + "." + std::string(key);
      std::optional<std::optional<error>> r = on(key, value, child);
      if (!r) return bad(child, "is not a setting this version knows");
      if (*r) return **r;
    }
    return std::nullopt;
  }

  std::optional<error> str(element v, const std::string& path, std::string& out) const {
    std::string_view s;
    if (v.get_string().get(s)) return bad(path, "must be a string");
    out.assign(s);
    return std::nullopt;
  }
  std::optional<error> boolean(element v, const std::string& path, bool& out) const {
    if (v.get_bool().get(out)) return bad(path, "must be true or false");
    return std::nullopt;
  }
  std::optional<error> seconds(element v, const std::string& path, std::chrono::seconds& out, std::int64_t max) const {
    std::int64_t n = 0;
    if (v.get_int64().get(n) || n < 0 || n > max)
      return bad(path, fmt::format("must be a whole number of seconds from 0 (off) to {}", max));
    out = std::chrono::seconds(n);
    return std::nullopt;
  }
  std::optional<error> millis(element v, const std::string& path, std::chrono::milliseconds& out,
                              std::int64_t max) const {
    std::int64_t n = 0;
    if (v.get_int64().get(n) || n < 0 || n > max)
      return bad(path, fmt::format("must be a whole number of milliseconds from 0 to {}", max));
    out = std::chrono::milliseconds(n);
    return std::nullopt;
  }
  std::optional<error> strings(element v, const std::string& path, std::vector<std::string>& out) const {
    simdjson::dom::array arr;
    if (v.get_array().get(arr)) return bad(path, "must be an array of strings");
    for (element item : arr) {
      std::string_view s;
      if (item.get_string().get(s)) return bad(path, "must be an array of strings");
      out.emplace_back(s);
    }
    return std::nullopt;
  }

 private:
  std::string_view file_;
};

using member_result = std::optional<std::optional<error>>;
member_result done(std::optional<error> e) { return member_result{std::move(e)}; }

bool is_e164(std::string_view s) {
  return s.size() >= 9 && s.size() <= 16 && s.front() == '+' &&
         std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_tool_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// https://…, or http:// to a loopback host (test peers).
std::optional<std::string> url_problem(std::string_view url) {
  if (url.starts_with("https://") && url.size() > 8) return std::nullopt;
  if (url.starts_with("http://")) {
    std::string_view host = url.substr(7);
    host = host.substr(0, host.find_first_of("/?"));
    if (const auto colon = host.rfind(':'); colon != std::string_view::npos && !host.ends_with(']'))
      host = host.substr(0, colon);
    if (is_loopback_host(host)) return std::nullopt;
    return "plain http:// is only allowed to a loopback host; use https://";
  }
  return "must be an https:// URL";
}

std::optional<error> read_tool(const reader& in, element v, const std::string& path, http_tool& t) {
  bool has_name = false, has_url = false;
  auto err = in.members(v, path, [&](std::string_view k, element m, const std::string& p) -> member_result {
    if (k == "name") {
      has_name = true;
      return done(in.str(m, p, t.name));
    }
    if (k == "description") return done(in.str(m, p, t.description));
    if (k == "parameters") {
      if (!m.is_object()) return done(in.bad(p, "must be a JSON Schema object"));
      t.parameters_json = simdjson::minify(m);
      return done(std::nullopt);
    }
    if (k == "url") {
      has_url = true;
      return done(in.str(m, p, t.url));
    }
    if (k == "timeout_ms") return done(in.millis(m, p, t.timeout, 120'000));
    return std::nullopt;
  });
  if (err) return err;
  if (!has_name) return in.bad(path, "needs a name");
  if (!is_tool_name(t.name)) return in.bad(path + ".name", "must be 1-64 letters, digits, '_' or '-'");
  if (t.name == end_call_tool || t.name == transfer_call_tool)
    return in.bad(path + ".name", fmt::format("'{}' is a built-in tool; enable it instead of declaring it", t.name));
  if (!has_url) return in.bad(path, "needs a url (where the tool is answered)");
  if (auto problem = url_problem(t.url)) return in.bad(path + ".url", *problem);
  return std::nullopt;
}

std::optional<error> read_agent(const reader& in, element v, const std::string& path, agent_profile& a) {
  auto err = in.members(v, path, [&](std::string_view k, element m, const std::string& p) -> member_result {
    if (k == "model") return done(in.str(m, p, a.model));
    if (k == "instructions") return done(in.str(m, p, a.instructions));
    if (k == "voice") return done(in.str(m, p, a.voice));
    if (k == "greeting") return done(in.str(m, p, a.greeting));
    if (k == "numbers") return done(in.strings(m, p, a.numbers));
    if (k == "language") return done(in.str(m, p, a.language));
    if (k == "transcribe_caller") return done(in.boolean(m, p, a.transcribe_caller));
    if (k == "end_call") return done(in.boolean(m, p, a.end_call));
    if (k == "transfer_to") return done(in.str(m, p, a.transfer_to));
    if (k == "transfer_numbers") return done(in.strings(m, p, a.transfer_numbers));
    if (k == "idle_timeout_seconds") return done(in.seconds(m, p, a.idle_timeout, 3600));
    if (k == "max_call_seconds") return done(in.seconds(m, p, a.max_call, 6 * 3600));
    if (k == "dtmf_to_model") return done(in.boolean(m, p, a.dtmf_to_model));
    if (k == "filler_after_ms") return done(in.millis(m, p, a.filler_after, 60'000));
    if (k == "on_machine") {
      std::string policy;
      if (auto e = in.str(m, p, policy)) return done(std::move(e));
      const auto parsed = parse_machine_policy(policy);
      if (!parsed) return done(in.bad(p, "must be \"hang_up\" or \"leave_message\""));
      a.on_machine = *parsed;
      return done(std::nullopt);
    }
    if (k == "voicemail_message") return done(in.str(m, p, a.voicemail_message));
    if (k == "tools") {
      simdjson::dom::array arr;
      if (m.get_array().get(arr)) return done(in.bad(p, "must be an array"));
      std::size_t i = 0;
      for (element t : arr) {
        http_tool tool;
        if (auto e = read_tool(in, t, fmt::format("{}[{}]", p, i++), tool)) return done(std::move(e));
        a.tools.push_back(std::move(tool));
      }
      return done(std::nullopt);
    }
    return std::nullopt;
  });
  if (err) return err;
  for (std::size_t i = 0; i < a.numbers.size(); ++i)
    if (!is_e164(a.numbers[i]))
      return in.bad(fmt::format("{}.numbers[{}]", path, i), "must be an E.164 number (+ and 8 to 15 digits)");
  if (!a.transfer_to.empty() && !is_e164(a.transfer_to))
    return in.bad(path + ".transfer_to", "must be an E.164 number (+ and 8 to 15 digits)");
  for (std::size_t i = 0; i < a.transfer_numbers.size(); ++i)
    if (!is_e164(a.transfer_numbers[i]))
      return in.bad(fmt::format("{}.transfer_numbers[{}]", path, i), "must be an E.164 number (+ and 8 to 15 digits)");
  if (a.on_machine == machine_policy::leave_message && a.voicemail_message.empty())
    return in.bad(path + ".voicemail_message", "is needed with \"on_machine\": \"leave_message\"");
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < a.tools.size(); ++i)
    if (!names.insert(a.tools[i].name).second)
      return in.bad(fmt::format("{}.tools[{}].name", path, i), fmt::format("'{}' is declared twice", a.tools[i].name));
  // The rest of the configuration (voice, model) is checked with the call's
  // whole configuration (rtb::validate) when the file is loaded.
  return std::nullopt;
}

}  // namespace

std::string_view to_string(machine_policy p) noexcept {
  return p == machine_policy::leave_message ? "leave_message" : "hang_up";
}

std::optional<machine_policy> parse_machine_policy(std::string_view s) noexcept {
  if (s == "hang_up") return machine_policy::hang_up;
  if (s == "leave_message") return machine_policy::leave_message;
  return std::nullopt;
}

const agent_profile* profile_set::find(std::string_view name) const noexcept {
  const auto it = agents.find(name);
  return it == agents.end() ? nullptr : &it->second;
}

const agent_profile& profile_set::select(std::string_view to, std::string_view agent) const noexcept {
  if (!to.empty())
    for (const auto& [name, a] : agents)
      if (std::find(a.numbers.begin(), a.numbers.end(), to) != a.numbers.end()) return a;
  if (const agent_profile* named = find(agent)) return *named;
  return agents.at(default_agent);
}

result<profile_set> parse_profiles(std::string_view json, std::string_view file_name) {
  const reader in(file_name);
  simdjson::dom::parser parser;
  element root;
  if (auto e = parser.parse(json.data(), json.size()).get(root))
    return error{errc::invalid_config, fmt::format("{}: not valid JSON: {}", file_name, simdjson::error_message(e))};
  profile_set set;
  bool has_agents = false;
  auto err = in.members(root, "", [&](std::string_view k, element m, const std::string& p) -> member_result {
    if (k == "default") return done(in.str(m, p, set.default_agent));
    if (k == "agents") {
      has_agents = true;
      return done(in.members(m, p, [&](std::string_view name, element a, const std::string& ap) -> member_result {
        agent_profile profile;
        profile.name = std::string(name);
        if (auto e = read_agent(in, a, ap, profile)) return done(std::move(e));
        set.agents.emplace(profile.name, std::move(profile));
        return done(std::nullopt);
      }));
    }
    return std::nullopt;
  });
  if (err) return std::move(*err);
  if (!has_agents || set.agents.empty()) return in.bad("agents", "at least one agent is needed");
  if (set.default_agent.empty()) {
    if (set.agents.size() > 1) return in.bad("default", "must name one of the agents when there are several");
    set.default_agent = set.agents.begin()->first;
  }
  if (!set.find(set.default_agent))
    return in.bad("default", fmt::format("'{}' is not one of the agents", set.default_agent));
  // A number answered by two agents would make the choice arbitrary.
  std::map<std::string_view, std::string_view> owner;
  for (const auto& [name, a] : set.agents)
    for (const auto& n : a.numbers)
      if (auto [it, fresh] = owner.emplace(n, name); !fresh)
        return in.bad(fmt::format("agents.{}.numbers", name),
                      fmt::format("{} is also a number of agent '{}'", n, it->second));
  return set;
}

std::string expand_variables(std::string_view text, const call_variables& vars, std::vector<std::string>* missing) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t open = text.find("{{", at);
    if (open == std::string_view::npos) {
      out.append(text.substr(at));
      break;
    }
    const std::size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(at));
      break;
    }
    out.append(text.substr(at, open - at));
    std::string_view name = text.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    const auto it = std::find_if(vars.begin(), vars.end(), [&](const auto& v) { return v.first == name; });
    if (it != vars.end())
      out.append(it->second);
    else if (missing)
      missing->emplace_back(name);
    at = close + 2;
  }
  return out;
}

call_config profile_call_config(const agent_profile& p, const call_config& base, const call_variables& vars,
                                std::vector<std::string>* missing) {
  call_config c = base;
  openai::session_config& s = c.openai.config;
  if (!p.model.empty()) s.model = p.model;
  if (!p.voice.empty()) s.voice = p.voice;
  if (!p.instructions.empty()) s.instructions = expand_variables(p.instructions, vars, missing);
  if (!p.greeting.empty()) {
    // Per-response instructions, not a user message the caller never said.
    c.openai.greeting.how = openai::greeting::style::instructions;
    c.openai.greeting.text = "Greet the caller by saying: " + expand_variables(p.greeting, vars);
  }
  if (p.transcribe_caller) {
    openai::transcription t = s.input_transcription.value_or(openai::transcription{});
    if (!p.language.empty()) t.language = p.language;
    s.input_transcription = std::move(t);
  }
  for (const http_tool& t : p.tools) s.tools.push_back({t.name, t.description, t.parameters_json});
  if (p.idle_timeout.count() > 0) c.control.idle_timeout = p.idle_timeout;
  if (p.max_call.count() > 0) c.control.max_duration = p.max_call;
  if (p.dtmf_to_model) c.control.dtmf_to_model = true;
  if (p.end_call)
    s.tools.push_back(
        {std::string(end_call_tool),
         "End the phone call. Say a short goodbye first, in the same response; the call ends once "
         "the caller has heard it. Use it only when the caller has nothing more to ask.",
         R"({"type":"object","properties":{"reason":{"type":"string","description":"Why the call ends, in a few words."}}})"});
  if (!p.transfer_to.empty() || !p.transfer_numbers.empty()) {
    std::string numbers;
    if (!p.transfer_numbers.empty()) {
      numbers = R"(,"enum":[)";
      for (std::size_t i = 0; i < p.transfer_numbers.size(); ++i)
        numbers += (i ? ",\"" : "\"") + p.transfer_numbers[i] + "\"";
      numbers += "]";
    }
    s.tools.push_back(
        {std::string(transfer_call_tool),
         "Transfer the caller to a person. Tell the caller first, in the same response, that you are transferring "
         "them; the transfer happens once they have heard it.",
         p.transfer_numbers.empty()
             ? std::string(R"({"type":"object","properties":{}})")
             : R"({"type":"object","properties":{"to":{"type":"string","description":"The number to transfer to")" +
                   numbers + R"(}},"required":["to"]})"});
  }
  return c;
}

}  // namespace rtb::service
