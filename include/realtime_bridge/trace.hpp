// Recording and replaying calls (the trace format is in docs/trace-format.md).
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

#include "realtime_bridge/call.hpp"
#include "realtime_bridge/result.hpp"
#include "realtime_bridge/transport.hpp"

namespace rtb {

/// A trace_sink that writes each line, newline-terminated, to a stream.
class ostream_trace_sink final : public trace_sink {
 public:
  explicit ostream_trace_sink(std::ostream& os) : os_(os) {}
  void write_line(std::string_view line) override;

 private:
  std::ostream& os_;
};

/// Replays a recorded trace through a fresh call_driver and writes, one line
/// per action, everything the call did: messages sent on each leg, closes, and
/// host outputs, each stamped with the trace time. The output depends only on
/// the trace, so two replays of one trace are byte-for-byte identical.
[[nodiscard]] result<void> replay_trace(std::istream& trace, std::ostream& out);

}  // namespace rtb
