// Call control: ending a call after its goodbye has played, the idle and
// maximum-duration timers, and the caller's keypad digits told to the model.
//
// A pure machine like the others: the call feeds it what happens (Twilio's
// start, the caller's activity, whether the AI is busy, digits, the host's
// requests) with the time, and routes what it decides: a response to prompt
// from the model, text to tell it, or the end of the call.
//
// "Busy" means the AI is answering or its audio is still playing to the
// caller (a response requested, active, or marks not yet echoed). Timers
// that wait for the caller only run while the AI is not busy.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/time.hpp"
#include "realtime_bridge/timer_table.hpp"

namespace rtb {

struct call_control_config {
  /// No caller activity for this long (while the AI is quiet): the model is
  /// prompted to check in once; this long again and the call ends politely
  /// (end_reason::caller_idle). 0 = off.
  std::chrono::milliseconds idle_timeout{0};
  /// The call ends politely at this age (end_reason::max_duration). 0 = off.
  std::chrono::milliseconds max_duration{0};
  /// The model is told this long before max_duration (ignored when it is not
  /// shorter than max_duration).
  std::chrono::milliseconds max_duration_warning{60'000};
  /// The longest the call waits for a goodbye to play before it ends anyway.
  std::chrono::milliseconds goodbye_timeout{15'000};
  /// Tell the model the digits the caller presses ("The caller pressed 4 2
  /// on the keypad."), with a response. The host hears them either way.
  bool dtmf_to_model = false;
  /// Digits pressed within this of each other are told together; `#` ends a
  /// group at once.
  std::chrono::milliseconds dtmf_pause{1'000};
  /// Instructions for the responses the timers ask for.
  std::string idle_prompt =
      "The caller has been silent for a while. Briefly ask whether they are still there and if there is anything "
      "else you can help with.";
  std::string idle_goodbye = "The caller is not answering. Say a short, friendly goodbye; the call then ends.";
  std::string max_duration_prompt =
      "The call is close to its time limit. Let the caller know politely and help them wrap up.";
  std::string max_duration_goodbye =
      "The call has reached its time limit. Thank the caller and say a short goodbye; the call then ends.";
  friend bool operator==(const call_control_config&, const call_control_config&) = default;
};

/// Checks the timers (not negative, at most a day) and that prompts are set
/// for the timers that are on.
[[nodiscard]] result<void> validate(const call_control_config& config);

namespace control_in {
struct stream_started {};  ///< Twilio's start: the call's clock starts
struct caller_activity {};  ///< the caller spoke (speech started or stopped)
struct ai_busy {           ///< whether the AI is answering or playing, after every step
  bool busy = false;
};
struct digit {  ///< a keypad digit from Twilio
  char value = '0';
};
/// End the call once what the AI is saying has played (after the response
/// that `expect_response` says is coming, if any), within goodbye_timeout.
struct end_after_playout {
  end_reason reason = end_reason::host_ended;
  std::string detail;
  bool expect_response = false;  ///< a goodbye response was just requested: wait for it too
};
}  // namespace control_in

using control_input = std::variant<control_in::stream_started, control_in::caller_activity, control_in::ai_busy,
                                   control_in::digit, control_in::end_after_playout>;

namespace control_out {
struct prompt {  ///< ask for a response with these instructions
  std::string instructions;
  friend bool operator==(const prompt&, const prompt&) = default;
};
struct tell {  ///< tell the model this (a user message) and ask for a response
  std::string text;
  friend bool operator==(const tell&, const tell&) = default;
};
struct end {  ///< end the call now
  end_reason reason = end_reason::host_ended;
  std::string detail;
  friend bool operator==(const end&, const end&) = default;
};
}  // namespace control_out

using control_action = std::variant<control_out::prompt, control_out::tell, control_out::end>;
using control_actions = std::vector<control_action>;

class call_control {
 public:
  explicit call_control(call_control_config config = {});

  [[nodiscard]] const control_actions& handle(const control_input& input, timestamp now);
  [[nodiscard]] std::optional<timestamp> next_timeout() const noexcept;
  [[nodiscard]] const control_actions& handle_timeout(timestamp now);

  /// Waiting for a goodbye to play before the call ends.
  bool ending() const noexcept { return ending_.has_value(); }
  /// The model was prompted because the caller went quiet, and the caller
  /// has not been heard since.
  bool idle_prompted() const noexcept { return idle_prompted_; }
  const call_control_config& config() const noexcept { return config_; }

 private:
  enum class timer { idle, max_warning, max_end, goodbye_deadline, dtmf_flush, count_ };
  struct pending_end {
    control_out::end end;
    bool awaiting_response = false;  ///< the goodbye was requested; it has not been busy yet
  };

  void on_busy(bool busy, timestamp now);
  void begin_ending(control_out::end e, bool expect_response, timestamp now);
  void maybe_finish_ending();
  /// Decides the end: the pending ending's, and nothing after it.
  void finish();
  void arm_idle(timestamp now);
  void flush_digits();

  call_control_config config_;
  timer_table<timer> timers_;
  control_actions out_;
  bool started_ = false;
  bool busy_ = false;
  bool idle_prompted_ = false;
  bool finished_ = false;
  std::optional<pending_end> ending_;
  std::string digits_;
};

}  // namespace rtb
