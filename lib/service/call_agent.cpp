// The call agent (include/realtime_bridge/service/call_agent.hpp).
#include "realtime_bridge/service/call_agent.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "json.hpp"

namespace rtb::service {
namespace {

std::string error_output(std::string_view message) {
  std::string out = R"({"error":)";
  json::append_string(out, message);
  out.push_back('}');
  return out;
}

/// The `to` member of the model's arguments, "" when absent or not JSON.
std::string requested_number(std::string_view arguments) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(arguments.data(), arguments.size()).get(doc)) return {};
  std::string_view to;
  if (doc["to"].get_string().get(to)) return {};
  return std::string(to);
}

std::string_view parameter(const to_host::stream_started& e, std::string_view name) {
  for (const auto& p : e.custom_parameters)
    if (p.name == name) return p.value;
  return {};
}

}  // namespace

call_agent::call_agent(const agent_settings& settings, std::shared_ptr<call_commands> commands,
                       std::unique_ptr<call_observer> next)
    : settings_(settings), commands_(std::move(commands)), next_(std::move(next)) {}

void call_agent::log(agent_log_level level, std::string_view line) const {
  if (settings_.log) settings_.log(level, context_.call_sid, context_.stream_sid, line);
}

void call_agent::on_stream_started(const to_host::stream_started& e) {
  context_.call_sid = std::string(e.call_sid);
  context_.stream_sid = std::string(e.stream_sid);
  context_.from = std::string(parameter(e, "From"));
  context_.to = std::string(parameter(e, "To"));
  profiles_ = settings_.profiles ? settings_.profiles() : nullptr;
  if (profiles_) {
    profile_ = &profiles_->select(context_.to, parameter(e, "agent"));
    context_.agent = profile_->name;
    call_variables vars;
    for (const auto& p : e.custom_parameters)
      if (p.name != "agent") vars.emplace_back(std::string(p.name), std::string(p.value));
    std::vector<std::string> missing;
    call_config chosen = profile_call_config(*profile_, settings_.base, vars, &missing);
    commands_->set_agent(profile_->name);
    commands_->configure(std::move(chosen));
    std::string line = fmt::format("agent '{}'", profile_->name);
    if (!missing.empty()) line += fmt::format(" (instructions name variables this call has not: {})", fmt::join(missing, ", "));
    log(missing.empty() ? agent_log_level::info : agent_log_level::warning, line);
  }
  if (next_) next_->on_stream_started(e);
}

void call_agent::on_tool_call(const to_host::tool_call& e) {
  if (next_) next_->on_tool_call(e);
  const std::string call_id(e.call_id);
  if (e.name == end_call_tool && (!profile_ || profile_->end_call)) {
    if (settings_.dispositions && !context_.call_sid.empty()) {
      settings_.dispositions->record(context_.call_sid, {call_disposition::kind::hang_up, {}});
      disposed_ = true;
    }
    log(agent_log_level::info, "the model ends the call: hanging up once its goodbye has played");
    commands_->end_after_playout("end_call", call_id, R"({"ok":true,"note":"The call ends once your goodbye has played."})");
    return;
  }
  if (e.name == transfer_call_tool && profile_) {
    transfer(e);
    return;
  }
  const http_tool* tool = nullptr;
  if (profile_) {
    const auto it = std::find_if(profile_->tools.begin(), profile_->tools.end(),
                                 [&](const http_tool& t) { return t.name == e.name; });
    if (it != profile_->tools.end()) tool = &*it;
  }
  if (!tool || !settings_.http) {
    log(agent_log_level::warning, fmt::format("the model called '{}', which this agent does not have", e.name));
    commands_->submit_tool_result(call_id, error_output(fmt::format("There is no tool named {}.", e.name)));
    return;
  }
  // The answer comes later, maybe after the call ended: the callback holds
  // only what it needs, by value, never this agent.
  call_http_tool(*settings_.http, *tool, settings_.tools, context_, call_id, e.arguments,
                 [commands = commands_, log_to = settings_.log, metrics = settings_.metrics, context = context_, call_id,
                  name = tool->name](tool_result r) {
                   commands->submit_tool_result(call_id, r.output);
                   if (metrics) metrics->record(r.outcome, r.latency);
                   if (!log_to) return;
                   const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.latency).count();
                   if (r.outcome == tool_reply::answered)
                     log_to(agent_log_level::info, context.call_sid, context.stream_sid,
                            fmt::format("tool '{}' answered in {} ms", name, ms));
                   else
                     log_to(agent_log_level::warning, context.call_sid, context.stream_sid,
                            fmt::format("tool '{}' failed ({}) after {} ms: {}; the model was told", name,
                                        to_string(r.outcome), ms, r.detail));
                 });
}

void call_agent::transfer(const to_host::tool_call& e) {
  const std::string call_id(e.call_id);
  std::string number = profile_->transfer_to;
  if (!profile_->transfer_numbers.empty()) {
    const std::string asked = requested_number(e.arguments);
    const auto& allowed = profile_->transfer_numbers;
    if (std::find(allowed.begin(), allowed.end(), asked) != allowed.end())
      number = asked;
    else if (number.empty() || !asked.empty())
      number.clear();
  }
  if (number.empty()) {
    log(agent_log_level::warning,
        fmt::format("the model asked for a transfer this agent does not allow (arguments {})", e.arguments));
    commands_->submit_tool_result(call_id, error_output("That number is not one the caller can be transferred to."));
    return;
  }
  if (settings_.dispositions && !context_.call_sid.empty()) {
    settings_.dispositions->record(context_.call_sid, {call_disposition::kind::transfer, number});
    disposed_ = true;
  }
  log(agent_log_level::info, fmt::format("the model transfers the caller to {} once its handover has played", number));
  std::string output = R"({"ok":true,"transferring_to":)";
  json::append_string(output, number);
  output.push_back('}');
  commands_->end_after_playout("transfer_call", call_id, output);
}

void call_agent::on_call_ended(const call_summary& s) {
  // The call's own timers ended it politely: Twilio hangs up rather than
  // playing the failure fallback.
  if (!disposed_ && settings_.dispositions && !context_.call_sid.empty() &&
      (s.reason == end_reason::caller_idle || s.reason == end_reason::max_duration))
    settings_.dispositions->record(context_.call_sid, {call_disposition::kind::hang_up, {}});
  if (next_) next_->on_call_ended(s);
}

void call_agent::on_session_ready(const to_host::session_ready& e) {
  if (next_) next_->on_session_ready(e);
}
void call_agent::on_caller_transcript(const to_host::caller_transcript& e) {
  if (next_) next_->on_caller_transcript(e);
}
void call_agent::on_ai_transcript(const to_host::ai_transcript& e) {
  if (next_) next_->on_ai_transcript(e);
}
void call_agent::on_ai_interrupted(const to_host::ai_interrupted& e) {
  if (next_) next_->on_ai_interrupted(e);
}
void call_agent::on_dtmf(const to_host::dtmf& e) {
  if (next_) next_->on_dtmf(e);
}
void call_agent::on_playout_finished(const to_host::playout_finished& e) {
  if (next_) next_->on_playout_finished(e);
}
void call_agent::on_warning(const to_host::warning& e) {
  if (next_) next_->on_warning(e);
}

}  // namespace rtb::service
