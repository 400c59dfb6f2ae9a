// A fixed set of named deadlines (one optional timestamp per timer), after
// quinn's TimerTable. Machines keep one and report next() as next_timeout().
#pragma once

#include <array>
#include <cstddef>
#include <optional>

#include "realtime_bridge/time.hpp"

namespace rtb {

/// `Timer` is an enum class whose last enumerator is `count_`.
template <class Timer>
class timer_table {
 public:
  void set(Timer t, timestamp at) noexcept { at_[index(t)] = at; }
  void stop(Timer t) noexcept { at_[index(t)].reset(); }
  std::optional<timestamp> get(Timer t) const noexcept { return at_[index(t)]; }
  bool expired(Timer t, timestamp now) const noexcept {
    const auto& at = at_[index(t)];
    return at && *at <= now;
  }
  /// The earliest armed deadline, if any.
  std::optional<timestamp> next() const noexcept {
    std::optional<timestamp> best;
    for (const auto& at : at_)
      if (at && (!best || *at < *best)) best = at;
    return best;
  }

 private:
  static constexpr std::size_t index(Timer t) noexcept { return static_cast<std::size_t>(t); }
  std::array<std::optional<timestamp>, static_cast<std::size_t>(Timer::count_)> at_{};
};

}  // namespace rtb
