// TwiML for connecting a call to the bridge
// (<Connect><Stream>: https://www.twilio.com/docs/voice/twiml/stream).
#include "realtime_bridge/twilio/twiml.hpp"

#include <string>
#include <string_view>

namespace rtb::twilio {
namespace {

constexpr std::string_view xml_declaration = R"(<?xml version="1.0" encoding="UTF-8"?>)";

void append_element(std::string& out, std::string_view name, std::string_view text) {
  out.append("<").append(name).append(">");
  append_xml_escaped(out, text);
  out.append("</").append(name).append(">");
}

void append_attribute(std::string& out, std::string_view name, std::string_view value) {
  out.append(" ").append(name).append("=\"");
  append_xml_escaped(out, value);
  out.append("\"");
}

/// The fallback verb: <Say>text</Say>, <Dial>number</Dial>, or nothing (also
/// for a say without text or a dial without a number: an empty verb is an
/// error on Twilio's side, and with no verb the call simply ends).
void append_fallback(std::string& out, const fallback& f) {
  switch (f.what) {
    case fallback::kind::say:
      if (!f.text.empty()) append_element(out, "Say", f.text);
      break;
    case fallback::kind::dial:
      if (!f.number.empty()) append_element(out, "Dial", f.number);
      break;
    case fallback::kind::none: break;
  }
}

}  // namespace

void append_xml_escaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '&': out.append("&amp;"); break;
      case '<': out.append("&lt;"); break;
      case '>': out.append("&gt;"); break;
      case '"': out.append("&quot;"); break;
      case '\'': out.append("&apos;"); break;
      case '\t':
      case '\n':
      case '\r': out.push_back(c); break;
      default:
        // Other C0 controls cannot appear in an XML 1.0 document at all,
        // not even escaped: drop them so the TwiML stays well-formed.
        if (static_cast<unsigned char>(c) >= 0x20) out.push_back(c);
        break;
    }
  }
}

std::string render(const connect_stream_twiml& t) {
  std::string out;
  out.reserve(256 + t.say_first.size() + t.stream_url.size() + t.fallback.text.size());
  out.append(xml_declaration).append("<Response>");
  if (!t.say_first.empty()) append_element(out, "Say", t.say_first);
  out.append("<Connect");
  if (!t.action_url.empty()) append_attribute(out, "action", t.action_url);
  out.append("><Stream");
  append_attribute(out, "url", t.stream_url);
  if (t.parameters.empty()) {
    out.append("/>");
  } else {
    out.append(">");
    for (const auto& [name, value] : t.parameters) {
      out.append("<Parameter");
      append_attribute(out, "name", name);
      append_attribute(out, "value", value);
      out.append("/>");
    }
    out.append("</Stream>");
  }
  out.append("</Connect>");
  if (t.action_url.empty()) append_fallback(out, t.fallback);
  out.append("</Response>");
  return out;
}

std::string render_hangup() { return std::string(xml_declaration) + "<Response><Hangup/></Response>"; }

std::string render_fallback(const fallback& f) {
  std::string out;
  out.append(xml_declaration).append("<Response>");
  append_fallback(out, f);
  out.append("</Response>");
  return out;
}

}  // namespace rtb::twilio
