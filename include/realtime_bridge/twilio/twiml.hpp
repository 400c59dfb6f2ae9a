// TwiML for connecting a call to the bridge.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtb::twilio {

/// What Twilio does after the stream ends (the server closed it, e.g. because
/// the AI side failed): either apologise, or dial a number.
struct fallback {
  enum class kind { say, dial, none };
  kind what = kind::say;
  std::string text = "Sorry, our assistant is not available right now. Please call again later.";
  std::string number;  ///< for dial: E.164, e.g. +14155550100
};

struct connect_stream_twiml {
  std::string say_first;                                        ///< optional <Say> before connecting ("" = none)
  std::string stream_url;                                       ///< wss://host/media-stream (no query string)
  std::vector<std::pair<std::string, std::string>> parameters;  ///< <Parameter name= value=>
  /// <Connect action="…">: Twilio requests this URL when the stream ends and
  /// runs the TwiML it gets (hang up, dial, the fallback), instead of the
  /// verbs after <Connect>. "" = none: the fallback follows <Connect>.
  std::string action_url;
  twilio::fallback fallback;
};

/// The full TwiML document, on one line:
///   <?xml version="1.0" encoding="UTF-8"?><Response>[<Say>say_first</Say>]
///   <Connect[ action="…"]><Stream url="…"/></Connect>[fallback]</Response>
/// (with an action URL the fallback is left out: Twilio would not reach it).
/// with `<Stream url="…"><Parameter name="…" value="…"/>…</Stream>` when there
/// are parameters (in the given order). The fallback verb is `<Say>text</Say>`,
/// `<Dial>number</Dial>`, or nothing (kind none, or an empty text/number).
/// All text and attribute values are XML-escaped.
std::string render(const connect_stream_twiml& t);

/// The fallback alone (`<Response><Say>…</Say></Response>` or `<Dial>`, after
/// the same XML declaration; `<Response></Response>` for none), for when the
/// realtime bridge is disabled, and for a <Connect action> after a failure.
std::string render_fallback(const fallback& f);

/// `<Response><Hangup/></Response>`: the answer to a <Connect action> after
/// the AI ended the call.
std::string render_hangup();

/// Escapes & < > " ' for use in XML text and attribute values. Control
/// characters XML 1.0 cannot carry at all (below 0x20 except tab, LF, CR) are
/// dropped; everything else, UTF-8 included, is copied as is.
void append_xml_escaped(std::string& out, std::string_view text);

}  // namespace rtb::twilio
