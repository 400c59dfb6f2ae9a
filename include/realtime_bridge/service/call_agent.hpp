// The call agent: one call's business logic, as a call_observer. At Twilio's
// start it picks the call's agent profile (by the number called, else the
// stream's `agent` parameter, else the default) and configures the call with
// it; when the model calls a tool it answers: the built-in end_call and
// transfer_call end the call once their goodbye has played and leave the
// disposition for the <Connect action> request; a profile's HTTP tools are
// called over the fetcher and their answer (or what went wrong) goes back to
// the model. Every other callback is passed on to `next` (e.g. a call_tracker).
//
// It steers the call through call_commands, which must be safe from any
// thread and for any lifetime (tool answers come after the call may have
// ended): the reference server implements it over lws_adapter::call_handle.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "realtime_bridge/fetch.hpp"
#include "realtime_bridge/service/agent_profiles.hpp"
#include "realtime_bridge/service/call_dispositions.hpp"
#include "realtime_bridge/service/tool_metrics.hpp"
#include "realtime_bridge/service/http_tools.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb::service {

/// How the agent steers its call. Safe from any thread, at any time.
class call_commands {
 public:
  virtual ~call_commands() = default;
  /// The call's configuration (only inside on_stream_started; see call_driver::configure).
  virtual void configure(call_config config) = 0;
  virtual void submit_tool_result(std::string_view call_id, std::string_view output) = 0;
  virtual void end_after_playout(std::string_view reason, std::string_view tool_call_id,
                                 std::string_view tool_output) = 0;
  /// Names the call's agent in its log lines.
  virtual void set_agent(std::string_view name) = 0;
};

enum class agent_log_level { info, warning };

/// A line about one call; the sids are its Twilio call and stream.
using agent_log = std::function<void(agent_log_level level, std::string_view call_sid, std::string_view stream_sid,
                                     std::string_view line)>;

struct agent_settings {
  /// The profiles in effect (a reload swaps them; a call keeps the set it
  /// started with). Null or returning null: the call keeps its own
  /// configuration and only the built-in tools it declares are answered.
  std::function<std::shared_ptr<const profile_set>()> profiles;
  /// The server's defaults, under every profile.
  call_config base;
  fetcher* http = nullptr;  ///< for HTTP tools; must outlive the calls
  tool_settings tools;
  disposition_book* dispositions = nullptr;  ///< where end_call and transfers leave what Twilio does next
  tool_metrics* metrics = nullptr;           ///< counts the HTTP tools' requests (for /metrics); outlives the calls
  agent_log log;
};

class call_agent final : public call_observer {
 public:
  call_agent(const agent_settings& settings, std::shared_ptr<call_commands> commands,
             std::unique_ptr<call_observer> next = nullptr);

  void on_stream_started(const to_host::stream_started& e) override;
  void on_session_ready(const to_host::session_ready& e) override;
  void on_caller_transcript(const to_host::caller_transcript& e) override;
  void on_ai_transcript(const to_host::ai_transcript& e) override;
  void on_ai_interrupted(const to_host::ai_interrupted& e) override;
  void on_dtmf(const to_host::dtmf& e) override;
  void on_playout_finished(const to_host::playout_finished& e) override;
  void on_tool_call(const to_host::tool_call& e) override;
  void on_warning(const to_host::warning& e) override;
  void on_call_ended(const call_summary& s) override;

  /// The profile chosen at Twilio's start (null before, or without profiles).
  const agent_profile* profile() const noexcept { return profile_; }

 private:
  void transfer(const to_host::tool_call& e);
  void log(agent_log_level level, std::string_view line) const;

  const agent_settings& settings_;
  std::shared_ptr<call_commands> commands_;
  std::unique_ptr<call_observer> next_;
  std::shared_ptr<const profile_set> profiles_;  ///< kept for the call: its profile lives in it
  const agent_profile* profile_ = nullptr;
  tool_call_context context_;
  bool disposed_ = false;  ///< a disposition was recorded for this call
};

}  // namespace rtb::service
