// The adapter's fault matrix as data: for each leg, the stages a connection
// goes through, the faults a peer can commit at each, and what the bridge must
// do. The fault peers (fault_peers.hpp) act it out over real sockets; the
// matrix test (tests/e2e/fault_matrix_test.cpp) checks every cell; docs/design.md
// carries the table this file renders (a unit test keeps the two equal).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/actions.hpp"

namespace rtb::peers::faults {

enum class leg_kind { openai, twilio };

/// Where a connection is when the fault happens.
enum class stage {
  // The OpenAI leg (the fault peer plays OpenAI's server).
  tcp_connecting,  ///< the bridge's SYN is out, no connection yet
  tls_handshake,   ///< TCP is up, the TLS handshake is under way
  upgrade_sent,    ///< the bridge's upgrade request arrived, no answer yet
  configuring,     ///< upgraded and session.created sent; session.update not answered
  open,            ///< the session is configured and audio flows
  // The Twilio leg (the fault peer plays Twilio's client).
  upgrading,     ///< the upgrade request is half written
  before_start,  ///< upgraded and `connected` sent; no `start` yet
  streaming,     ///< `start` sent, media flowing both ways
  // Either leg.
  closing,  ///< the bridge has sent its close frame on this leg
};

enum class fault {
  none,                  ///< behaves (the calls between cells)
  silent,                ///< stops speaking (no data, no pong, no close answer); keeps the socket open
  silent_call_first,     ///< silent, with the call's own connect timeout shorter than lws' handshake timeout
  reset,                 ///< a TCP RST (SO_LINGER 0); for tcp_connecting: nothing listens on the port
  fin,                   ///< shuts down its sending side without a close frame
  close_frame,           ///< a close frame (1011 from OpenAI, 1000 from Twilio); at `closing`: the normal answer
  malformed,             ///< bytes that break the protocol at this stage (a frame with reserved bits set, a reply that
                         ///< is not HTTP, a handshake that is not TLS, a request that is not HTTP)
  oversized,             ///< a message (or request head) larger than the bridge accepts
  refused,               ///< an HTTP 401 instead of the upgrade
  simultaneous_close,    ///< closes just as the other leg's peer hangs up
  other_leg_closes,      ///< the peer of the other leg goes away at this moment (Twilio: hangs up; OpenAI: close 1011)
  stops_reading,         ///< Twilio stops reading while OpenAI streams audio, then OpenAI fails
};

/// What the bridge must do in a cell.
struct outcome {
  /// The call's end reason: one of these (two when the order of two peers'
  /// actions decides). Empty: no call is created at all.
  std::vector<end_reason> reasons;
  /// The call survives the fault (it ends later, when the harness hangs up:
  /// `reasons` is then the reason of that end).
  bool call_goes_on = false;
  /// A message the bridge counts as rejected (and otherwise ignores).
  bool counts_a_rejection = false;
};

struct cell {
  leg_kind leg = leg_kind::openai;
  stage at = stage::open;
  fault what = fault::none;
  outcome expect;
  std::string_view note;  ///< how the bridge gets there, for the table
};

/// Every cell of the matrix, OpenAI leg first.
const std::vector<cell>& matrix();

std::string_view to_string(leg_kind l) noexcept;
std::string_view to_string(stage s) noexcept;
std::string_view to_string(fault f) noexcept;
/// "openai/upgrade_sent/silent": a cell's name in test output.
std::string name(const cell& c);

/// The matrix as a Markdown table (leg | stage | fault | outcome), as in docs/design.md.
std::string markdown_table();

}  // namespace rtb::peers::faults
