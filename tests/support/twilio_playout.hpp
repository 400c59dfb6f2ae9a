// A transport standing in for Twilio's end of the media stream, for in-memory
// tests: it checks each message against Twilio's accepted shapes and plays it
// out through rtb::peers::playout_model.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "peers/playout_model.hpp"
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

}  // namespace rtb::test
