// call_handle: commands for a call from anywhere, at any time. The handle
// holds the call's shared state (its id, whether it has ended, its thread's
// mailbox), never the call itself.
#include <thread>

#include "internal.hpp"

namespace rtb::lws_adapter {
namespace {

command_result dispatch(const std::shared_ptr<call_handle::shared_state>& state, posted_command command) {
  if (!state) return command_result::call_ended;
  thread_mailbox& mailbox = *state->mailbox;
  std::unique_lock lock(mailbox.mutex);
  if (!mailbox.context) return command_result::server_stopped;
  if (state->ended) return command_result::call_ended;
  command.call_id = state->call_id;
  if (std::this_thread::get_id() == mailbox.owner) {
    // On the call's own thread, inside one of its callbacks: the thread is
    // running, so it cannot be torn down under us.
    service_thread* thread = mailbox.thread;
    lock.unlock();
    return thread->run_now(command) ? command_result::accepted : command_result::call_ended;
  }
  mailbox.commands.push_back(std::move(command));
  lws_cancel_service(mailbox.context);  // safe from any thread; the context lives while the mailbox is open
  return command_result::accepted;
}

}  // namespace

std::string_view to_string(command_result r) noexcept {
  switch (r) {
    case command_result::accepted: return "accepted";
    case command_result::call_ended: return "call_ended";
    case command_result::server_stopped: return "server_stopped";
  }
  return "unknown";
}

command_result call_handle::submit_tool_result(std::string_view call_id, std::string_view output) const {
  return dispatch(state_, {0, posted_command::kind::tool_result, std::string(call_id), std::string(output), false, {}});
}

command_result call_handle::send_user_text(std::string_view text, bool respond) const {
  return dispatch(state_, {0, posted_command::kind::user_text, std::string(text), {}, respond, {}});
}

command_result call_handle::end_call(std::string_view reason) const {
  return dispatch(state_, {0, posted_command::kind::end_call, std::string(reason), {}, false, {}});
}

command_result call_handle::end_after_playout(std::string_view reason, std::string_view tool_call_id,
                                              std::string_view tool_output) const {
  posted_command c{0, posted_command::kind::end_after_playout, std::string(reason), std::string(tool_call_id), false, {}};
  c.c = std::string(tool_output);
  return dispatch(state_, std::move(c));
}

command_result call_handle::set_agent(std::string_view name) const {
  return dispatch(state_, {0, posted_command::kind::set_agent, std::string(name), {}, false, {}});
}

command_result call_handle::configure(call_config config) const {
  posted_command c{0, posted_command::kind::configure, {}, {}, false, {}};
  c.config = std::make_shared<const call_config>(std::move(config));
  return dispatch(state_, std::move(c));
}

bool call_handle::active() const noexcept { return state_ && !state_->ended.load(); }

std::uint64_t call_handle::id() const noexcept { return state_ ? state_->call_id : 0; }

}  // namespace rtb::lws_adapter
