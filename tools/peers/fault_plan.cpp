#include "peers/fault_plan.hpp"

#include <fmt/format.h>

namespace rtb::peers::faults {
namespace {

using enum end_reason;

outcome ends(end_reason r) { return {{r}, false, false}; }
outcome ends_either(end_reason a, end_reason b) { return {{a, b}, false, false}; }
outcome goes_on_rejecting(end_reason later) { return {{later}, true, true}; }
outcome no_call() { return {}; }

std::vector<cell> build() {
  std::vector<cell> m;
  const auto openai = [&](stage s, fault f, outcome o, std::string_view note) {
    m.push_back({leg_kind::openai, s, f, std::move(o), note});
  };
  const auto twilio = [&](stage s, fault f, outcome o, std::string_view note) {
    m.push_back({leg_kind::twilio, s, f, std::move(o), note});
  };

  // --- OpenAI leg ---
  openai(stage::tcp_connecting, fault::silent, ends(openai_unreachable), "lws' connect timeout; Twilio closed 1011");
  openai(stage::tcp_connecting, fault::silent_call_first, ends(openai_unreachable),
         "the call's connect timeout; the attempt is abandoned");
  openai(stage::tcp_connecting, fault::reset, ends(openai_unreachable), "connection refused");
  openai(stage::tcp_connecting, fault::other_leg_closes, ends(caller_hung_up), "the attempt is abandoned");

  openai(stage::tls_handshake, fault::silent, ends(openai_unreachable), "lws' handshake timeout");
  openai(stage::tls_handshake, fault::silent_call_first, ends(openai_unreachable), "the call's connect timeout");
  openai(stage::tls_handshake, fault::reset, ends(openai_unreachable), "connection failed");
  openai(stage::tls_handshake, fault::fin, ends(openai_unreachable), "connection failed");
  openai(stage::tls_handshake, fault::malformed, ends(openai_unreachable), "TLS fails");
  openai(stage::tls_handshake, fault::other_leg_closes, ends(caller_hung_up), "the attempt is abandoned");

  openai(stage::upgrade_sent, fault::silent, ends(openai_unreachable),
         "lws' handshake timeout (closes as CLOSED_CLIENT_HTTP)");
  openai(stage::upgrade_sent, fault::silent_call_first, ends(openai_unreachable), "the call's connect timeout");
  openai(stage::upgrade_sent, fault::reset, ends(openai_unreachable), "connection failed");
  openai(stage::upgrade_sent, fault::fin, ends(openai_unreachable), "connection failed");
  openai(stage::upgrade_sent, fault::malformed, ends(openai_unreachable), "the reply is not HTTP");
  openai(stage::upgrade_sent, fault::refused, ends(openai_unreachable), "upgrade refused");
  openai(stage::upgrade_sent, fault::oversized, ends(openai_unreachable), "a 64 KiB reply header");
  openai(stage::upgrade_sent, fault::other_leg_closes, ends(caller_hung_up), "the attempt is abandoned");

  openai(stage::configuring, fault::silent, ends(openai_unreachable), "the call's configure timeout");
  openai(stage::configuring, fault::reset, ends(openai_closed), "");
  openai(stage::configuring, fault::close_frame, ends(openai_closed), "");

  openai(stage::open, fault::silent, ends(openai_closed), "no pong: lws hangs up after idle_hangup");
  openai(stage::open, fault::reset, ends(openai_closed), "");
  openai(stage::open, fault::fin, ends(openai_closed), "");
  openai(stage::open, fault::close_frame, ends(openai_closed), "the close is answered");
  openai(stage::open, fault::malformed, ends(openai_closed), "lws closes 1002");
  openai(stage::open, fault::oversized, goes_on_rejecting(caller_hung_up), "5 MiB message dropped, counted");
  openai(stage::open, fault::simultaneous_close, ends_either(caller_hung_up, openai_closed),
         "whichever the bridge reads first");
  openai(stage::open, fault::other_leg_closes, ends(twilio_disconnected), "the caller's RST; OpenAI closed 1000");

  openai(stage::closing, fault::silent, ends(caller_hung_up), "dropped after close_timeout");
  openai(stage::closing, fault::reset, ends(caller_hung_up), "");
  openai(stage::closing, fault::fin, ends(caller_hung_up), "");
  openai(stage::closing, fault::close_frame, ends(caller_hung_up), "the normal close handshake");
  openai(stage::closing, fault::malformed, ends(caller_hung_up), "");
  openai(stage::closing, fault::oversized, ends(caller_hung_up), "");

  // --- Twilio leg ---
  twilio(stage::upgrading, fault::silent, no_call(), "lws' handshake timeout closes it");
  twilio(stage::upgrading, fault::reset, no_call(), "");
  twilio(stage::upgrading, fault::fin, no_call(), "");
  twilio(stage::upgrading, fault::malformed, no_call(), "HTTP 400");
  twilio(stage::upgrading, fault::oversized, no_call(), "a 64 KiB request header");

  twilio(stage::before_start, fault::silent, ends(twilio_start_timeout), "OpenAI closed 1000");
  twilio(stage::before_start, fault::reset, ends(twilio_disconnected), "");
  twilio(stage::before_start, fault::fin, ends(twilio_disconnected), "");
  twilio(stage::before_start, fault::close_frame, ends(twilio_disconnected), "");
  twilio(stage::before_start, fault::malformed, ends(twilio_start_timeout),
         "lws sends close 1002, drops the socket 5 s later (its close-ack timeout); the start timeout is sooner");
  twilio(stage::before_start, fault::oversized, goes_on_rejecting(caller_hung_up), "80 KiB message dropped, counted");
  twilio(stage::before_start, fault::other_leg_closes, ends(openai_closed), "Twilio closed 1011");

  twilio(stage::streaming, fault::silent, ends(twilio_idle), "media_idle timeout");
  twilio(stage::streaming, fault::reset, ends(twilio_disconnected), "");
  twilio(stage::streaming, fault::fin, ends(twilio_disconnected), "");
  twilio(stage::streaming, fault::close_frame, ends(twilio_disconnected), "closed without stop");
  twilio(stage::streaming, fault::malformed, ends(twilio_idle),
         "lws sends close 1002, drops the socket 5 s later; the media idle timeout is sooner");
  twilio(stage::streaming, fault::oversized, goes_on_rejecting(caller_hung_up), "80 KiB message dropped, counted");
  twilio(stage::streaming, fault::simultaneous_close, ends_either(caller_hung_up, openai_closed),
         "whichever the bridge reads first");
  twilio(stage::streaming, fault::other_leg_closes, ends(openai_closed), "Twilio closed 1011");
  twilio(stage::streaming, fault::stops_reading, ends(openai_closed),
         "the close waits behind queued audio; dropped after close_timeout");

  twilio(stage::closing, fault::silent, ends(openai_closed), "dropped after close_timeout");
  twilio(stage::closing, fault::reset, ends(openai_closed), "");
  twilio(stage::closing, fault::fin, ends(openai_closed), "");
  twilio(stage::closing, fault::close_frame, ends(openai_closed), "the normal close handshake");
  twilio(stage::closing, fault::malformed, ends(openai_closed), "");
  twilio(stage::closing, fault::oversized, ends(openai_closed), "");
  twilio(stage::closing, fault::simultaneous_close, ends(openai_closed), "`stop` crosses the close frame");
  return m;
}

std::string describe(const outcome& o) {
  if (o.reasons.empty()) return "no call; the connection is closed";
  std::string reasons;
  for (std::size_t i = 0; i < o.reasons.size(); ++i)
    reasons += fmt::format("{}`{}`", i == 0 ? "" : " or ", to_string(o.reasons[i]));
  if (o.call_goes_on) return fmt::format("the call goes on (1 rejected message); later {}", reasons);
  return reasons;
}

}  // namespace

const std::vector<cell>& matrix() {
  static const std::vector<cell> m = build();
  return m;
}

std::string_view to_string(leg_kind l) noexcept { return l == leg_kind::openai ? "openai" : "twilio"; }

std::string_view to_string(stage s) noexcept {
  switch (s) {
    case stage::tcp_connecting: return "tcp_connecting";
    case stage::tls_handshake: return "tls_handshake";
    case stage::upgrade_sent: return "upgrade_sent";
    case stage::configuring: return "configuring";
    case stage::open: return "open";
    case stage::upgrading: return "upgrading";
    case stage::before_start: return "before_start";
    case stage::streaming: return "streaming";
    case stage::closing: return "closing";
  }
  return "?";
}

std::string_view to_string(fault f) noexcept {
  switch (f) {
    case fault::none: return "none";
    case fault::silent: return "silent";
    case fault::silent_call_first: return "silent_call_first";
    case fault::reset: return "reset";
    case fault::fin: return "fin";
    case fault::close_frame: return "close_frame";
    case fault::malformed: return "malformed";
    case fault::oversized: return "oversized";
    case fault::refused: return "refused";
    case fault::simultaneous_close: return "simultaneous_close";
    case fault::other_leg_closes: return "other_leg_closes";
    case fault::stops_reading: return "stops_reading";
  }
  return "?";
}

std::string name(const cell& c) { return fmt::format("{}/{}/{}", to_string(c.leg), to_string(c.at), to_string(c.what)); }

std::string markdown_table() {
  std::string out = "| leg | stage | fault | outcome | how |\n|---|---|---|---|---|\n";
  for (const cell& c : matrix())
    out += fmt::format("| {} | {} | {} | {} | {} |\n", to_string(c.leg), to_string(c.at), to_string(c.what),
                       describe(c.expect), c.note);
  return out;
}

}  // namespace rtb::peers::faults
