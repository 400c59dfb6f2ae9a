// What Twilio should do when a call's stream ends: the answer to the call's
// <Connect action="…"> request. The bridge decides it when the call ends
// (the AI hung up, transferred the caller, or failed) and Twilio asks for it
// right after, with the call's sid.
//
// This book keeps them in memory, which is right for one instance. With
// several instances behind a load balancer the action request may reach
// another instance: record the disposition in the shared call store instead
// (docs/deploy.md), or send it to Twilio directly with the REST API.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "realtime_bridge/twilio/twiml.hpp"

namespace rtb::service {

struct call_disposition {
  enum class kind {
    fallback,  ///< the AI failed or the call ended otherwise: apologise or dial FALLBACK_DIAL
    hang_up,   ///< the AI ended the call after its goodbye
    transfer,  ///< the AI handed the caller to a person
  };
  kind what = kind::fallback;
  std::string number;  ///< transfer: E.164
  friend bool operator==(const call_disposition&, const call_disposition&) = default;
};

/// The TwiML for `d`: <Hangup/>, <Dial>number</Dial>, or `fallback`.
std::string disposition_twiml(const call_disposition& d, const twilio::fallback& fallback);

/// Dispositions by call sid, bounded in count and age. Thread-safe.
class disposition_book {
 public:
  using clock = std::chrono::steady_clock;
  explicit disposition_book(std::size_t capacity = 10'000, std::chrono::minutes keep = std::chrono::minutes(30))
      : capacity_(capacity), keep_(keep) {}

  void record(std::string call_sid, call_disposition d, clock::time_point now = clock::now());
  /// The call's disposition, forgotten once taken; nullopt if none was recorded.
  std::optional<call_disposition> take(std::string_view call_sid, clock::time_point now = clock::now());
  std::size_t size() const;

 private:
  void expire(clock::time_point now);

  struct entry {
    call_disposition disposition;
    clock::time_point at;
  };
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::chrono::minutes keep_;
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::pair<clock::time_point, std::string>> order_;  ///< oldest first
};

}  // namespace rtb::service
