// What Twilio should do when a call's stream ends: the answer to the call's
// <Connect action="…"> request. The bridge decides it when the call ends
// (the AI hung up, transferred the caller, or failed) and Twilio asks for it
// right after, with the call's sid.
//
// The book keeps them in memory, for the instance that carried the call.
// With several instances behind a load balancer the action request may reach
// another one: give the book the call store (write_to) and share the store
// (PostgreSQL) between the instances; the one that gets the request and has
// no entry reads the call from the store (stored_disposition), waiting a
// moment if the call's end is not written yet (disposition_wait).
// docs/deploy.md shows the whole arrangement.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "realtime_bridge/service/call_store.hpp"
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

/// "fallback", "hang_up", "transfer": the names the call store keeps.
std::string_view to_string(call_disposition::kind k) noexcept;

/// The TwiML for `d`: <Hangup/>, <Dial>number</Dial>, or `fallback`.
std::string disposition_twiml(const call_disposition& d, const twilio::fallback& fallback);

/// What a stored call says Twilio should do: its recorded disposition; the
/// fallback once it ended without one; nothing while it has not ended (its
/// disposition or its end may still be on the way to the store).
std::optional<call_disposition> stored_disposition(const stored_call& c);

/// How long an instance looks in the shared store for a call another one
/// carried. The carrying instance writes the disposition when it decides it
/// and the call's end right after the call ends, both through its writer
/// queue, while Twilio's request can arrive a few milliseconds after the
/// stream closed. A call not in the store at all is one whose stream never
/// started (refused, or the caller left first): the fallback comes sooner.
struct disposition_wait {
  std::chrono::milliseconds retry_every{50};
  std::chrono::milliseconds unknown_call{300};  ///< no such call: answer the fallback after this
  std::chrono::milliseconds open_call{3'000};   ///< the call has not ended: wait at most this

  /// The answer after a read at `elapsed` since the request came, or nothing
  /// to read again in retry_every. `call` is what the read found.
  std::optional<call_disposition> decide(const std::optional<stored_call>& call,
                                         std::chrono::milliseconds elapsed) const;
};

/// Dispositions by call sid, bounded in count and age. Thread-safe.
class disposition_book {
 public:
  using clock = std::chrono::steady_clock;
  explicit disposition_book(std::size_t capacity = 10'000, std::chrono::minutes keep = std::chrono::minutes(30))
      : capacity_(capacity), keep_(keep) {}

  /// Also writes each disposition recorded from now on to `store`
  /// (records::call_disposed), unless null. Call before the calls start.
  void write_to(call_store* store) noexcept { store_ = store; }

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
  call_store* store_ = nullptr;
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::pair<clock::time_point, std::string>> order_;  ///< oldest first
};

}  // namespace rtb::service
