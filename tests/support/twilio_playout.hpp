// Twilio's end of the media stream for in-memory tests, played out through
// rtb::peers::playout_model: a transport that checks each message against
// Twilio's accepted shapes, and a link with network latency that takes the
// playout machine's actions directly.
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "peers/playout_model.hpp"
#include "realtime_bridge/actions.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb::test {

using peers::playout_model;

/// A transport standing in for Twilio's end of the media stream. It checks
/// every message against Twilio's accepted shapes (only media, mark and clear;
/// exactly their fields; the stream's streamSid) and feeds a playout_model.
class simulated_twilio final : public transport {
 public:
  explicit simulated_twilio(std::function<timestamp()> clock,
                            std::chrono::microseconds start_delay = std::chrono::microseconds(0))
      : playout(start_delay), clock_(std::move(clock)) {}

  void send_text(std::string_view message) override;
  void close(std::uint16_t code, std::string_view reason) override;

  std::string expected_stream_sid = "MZ1";
  playout_model playout;
  std::vector<std::string> sent;        ///< every message, as received
  std::vector<std::string> violations;  ///< messages Twilio would reject (31951)
  std::vector<std::string> media_payloads;
  int clears = 0;
  std::optional<std::pair<std::uint16_t, std::string>> closed;

 private:
  std::function<timestamp()> clock_;
};

/// Twilio at the far end of a network link, for scenario tests of the playout
/// machine (rtb::barge_in) without a transport: what the bridge sends reaches
/// Twilio `to_twilio` later and is played by a playout_model on Twilio's
/// clock; each mark echo reaches the bridge `to_bridge` after Twilio sends it.
/// The link is one TCP connection each way: nothing overtakes anything.
///
/// Ground truth: `playout.heard_at_clears()[k]` is what the caller had heard,
/// since the previous clear, when the k-th clear reached Twilio.
class twilio_link {
 public:
  struct echo {
    timestamp at;  ///< when it reaches the bridge
    std::string name;
  };

  twilio_link(std::chrono::microseconds to_twilio, std::chrono::microseconds to_bridge,
              std::chrono::microseconds start_delay = std::chrono::microseconds(0))
      : playout(start_delay), to_twilio_(to_twilio), to_bridge_(to_bridge) {}

  /// The bridge sent the Twilio messages among `out` (media, mark, clear) at `now`.
  void send(const actions& out, timestamp now);
  /// Runs the link and Twilio up to `now`; returns the echoes that reached the
  /// bridge meanwhile, in order.
  std::vector<echo> advance(timestamp now);

  playout_model playout;

 private:
  struct message {
    timestamp at;  ///< when it reaches Twilio
    enum class kind { media, mark, clear } what;
    std::uint64_t bytes = 0;
    std::string name;
  };
  std::chrono::microseconds to_twilio_;
  std::chrono::microseconds to_bridge_;
  std::deque<message> to_twilio_queue_;
  std::deque<echo> to_bridge_queue_;
};

}  // namespace rtb::test
