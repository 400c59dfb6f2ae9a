// Call control (include/realtime_bridge/call_control.hpp).
//
// Transitions:
//
// | state / input           | effect                                                                 |
// |-------------------------|------------------------------------------------------------------------|
// | stream_started          | max-duration clocks start; the idle clock starts                       |
// | caller_activity         | idle clock restarts; a check-in prompt is forgiven                      |
// | ai_busy{true}           | idle clock stops (the caller is listening)                              |
// | ai_busy{false}          | idle clock restarts from now; an ending whose goodbye played ends       |
// | idle expires, first     | prompt(idle_prompt); the idle clock restarts once the AI is quiet       |
// | idle expires, prompted  | prompt(idle_goodbye), then end(caller_idle) after it played             |
// | max_warning expires     | prompt(max_duration_prompt)                                             |
// | max_end expires         | prompt(max_duration_goodbye), then end(max_duration) after it played    |
// | end_after_playout       | end now if the AI is quiet and no goodbye is coming, else after it      |
// | goodbye_deadline        | end now, played or not                                                  |
// | digit                   | (dtmf_to_model) grouped; `#` or dtmf_pause of quiet tells the model     |
//
// An ending is final: later timers do not prompt again, a second request to
// end keeps the first reason, and once the end is decided nothing else is.
#include "realtime_bridge/call_control.hpp"

#include <fmt/format.h>

namespace rtb {
namespace {

constexpr std::chrono::milliseconds longest{24 * 60 * 60 * 1000};

result<void> check_duration(std::chrono::milliseconds d, std::string_view name) {
  if (d.count() < 0 || d > longest)
    return error{errc::invalid_config, fmt::format("{} must be from 0 to 24 hours, not {} ms", name, d.count())};
  return {};
}

}  // namespace

result<void> validate(const call_control_config& c) {
  if (auto r = check_duration(c.idle_timeout, "idle timeout"); !r) return r;
  if (auto r = check_duration(c.max_duration, "maximum call duration"); !r) return r;
  if (auto r = check_duration(c.max_duration_warning, "maximum duration warning"); !r) return r;
  if (auto r = check_duration(c.goodbye_timeout, "goodbye timeout"); !r) return r;
  if (c.goodbye_timeout.count() == 0) return error{errc::invalid_config, "goodbye timeout must be positive"};
  if (auto r = check_duration(c.dtmf_pause, "dtmf pause"); !r) return r;
  if (c.idle_timeout.count() > 0 && (c.idle_prompt.empty() || c.idle_goodbye.empty()))
    return error{errc::invalid_config, "the idle timeout needs its prompt and goodbye instructions"};
  if (c.max_duration.count() > 0 && (c.max_duration_prompt.empty() || c.max_duration_goodbye.empty()))
    return error{errc::invalid_config, "the maximum duration needs its prompt and goodbye instructions"};
  return {};
}

call_control::call_control(call_control_config config) : config_(std::move(config)) { out_.reserve(4); }

const control_actions& call_control::handle(const control_input& input, timestamp now) {
  out_.clear();
  if (finished_) return out_;
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, control_in::stream_started>) {
          if (started_) return;
          started_ = true;
          const auto max = config_.max_duration;
          if (max.count() > 0) {
            timers_.set(timer::max_end, now + max);
            if (config_.max_duration_warning.count() > 0 && config_.max_duration_warning < max)
              timers_.set(timer::max_warning, now + max - config_.max_duration_warning);
          }
          arm_idle(now);
        } else if constexpr (std::is_same_v<T, control_in::caller_activity>) {
          idle_prompted_ = false;
          arm_idle(now);
        } else if constexpr (std::is_same_v<T, control_in::ai_busy>) {
          on_busy(in.busy, now);
        } else if constexpr (std::is_same_v<T, control_in::digit>) {
          if (!config_.dtmf_to_model || ending_) return;
          idle_prompted_ = false;
          arm_idle(now);
          digits_.push_back(in.value);
          if (in.value == '#' || digits_.size() >= 32)
            flush_digits();
          else
            timers_.set(timer::dtmf_flush, now + config_.dtmf_pause);
        } else if constexpr (std::is_same_v<T, control_in::end_after_playout>) {
          begin_ending({in.reason, in.detail}, in.expect_response, now);
        }
      },
      input);
  return out_;
}

std::optional<timestamp> call_control::next_timeout() const noexcept { return timers_.next(); }

const control_actions& call_control::handle_timeout(timestamp now) {
  out_.clear();
  if (timers_.expired(timer::dtmf_flush, now)) flush_digits();
  if (timers_.expired(timer::goodbye_deadline, now) && ending_) {
    finish();
    return out_;
  }
  if (ending_) return out_;
  if (timers_.expired(timer::max_end, now)) {
    timers_.stop(timer::max_end);
    timers_.stop(timer::max_warning);
    out_.push_back(control_out::prompt{config_.max_duration_goodbye});
    begin_ending({end_reason::max_duration, fmt::format("the call reached its {} s limit",
                                                        config_.max_duration.count() / 1000)},
                 true, now);
    return out_;
  }
  if (timers_.expired(timer::max_warning, now)) {
    timers_.stop(timer::max_warning);
    out_.push_back(control_out::prompt{config_.max_duration_prompt});
  }
  if (timers_.expired(timer::idle, now)) {
    timers_.stop(timer::idle);
    if (!idle_prompted_) {
      idle_prompted_ = true;
      out_.push_back(control_out::prompt{config_.idle_prompt});
      arm_idle(now);  // runs again once the check-in has played (ai_busy)
    } else {
      out_.push_back(control_out::prompt{config_.idle_goodbye});
      begin_ending({end_reason::caller_idle, fmt::format("no caller speech for {} s after a check-in",
                                                         config_.idle_timeout.count() / 1000)},
                   true, now);
    }
  }
  return out_;
}

void call_control::on_busy(bool busy, timestamp now) {
  if (busy == busy_) return;
  busy_ = busy;
  if (busy) {
    timers_.stop(timer::idle);
    if (ending_) ending_->awaiting_response = false;
    return;
  }
  arm_idle(now);
  maybe_finish_ending();
}

void call_control::begin_ending(control_out::end e, bool expect_response, timestamp now) {
  if (ending_ || finished_) return;
  // A goodbye requested while the AI is busy follows what it is saying
  // without a quiet moment between (the session queues it): the ending then
  // waits for the next quiet moment only.
  ending_ = pending_end{std::move(e), expect_response && !busy_};
  timers_.stop(timer::idle);
  timers_.stop(timer::dtmf_flush);
  digits_.clear();
  timers_.set(timer::goodbye_deadline, now + config_.goodbye_timeout);
  maybe_finish_ending();
}

void call_control::maybe_finish_ending() {
  if (!ending_ || busy_ || ending_->awaiting_response) return;
  finish();
}

void call_control::finish() {
  out_.push_back(std::move(ending_->end));
  ending_.reset();
  finished_ = true;
  timers_ = {};
}

void call_control::arm_idle(timestamp now) {
  if (!started_ || busy_ || ending_ || config_.idle_timeout.count() == 0) {
    timers_.stop(timer::idle);
    return;
  }
  timers_.set(timer::idle, now + config_.idle_timeout);
}

void call_control::flush_digits() {
  timers_.stop(timer::dtmf_flush);
  if (digits_.empty()) return;
  std::string spaced;
  for (char d : digits_) {
    if (!spaced.empty()) spaced.push_back(' ');
    spaced.push_back(d);
  }
  digits_.clear();
  out_.push_back(control_out::tell{fmt::format("The caller pressed {} on the keypad.", spaced)});
}

}  // namespace rtb
