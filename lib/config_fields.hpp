// Every setting of a call_config, listed once, with its JSON name.
//
// The JSON writer and reader (config_json.cpp) and the configuration tests
// all walk this list, so a setting cannot be written but not read, read under
// another name, or left out of the round-trip test. To add a setting, add one
// line here (new settings that are off by default use field_if_set, so traces
// of calls that do not use them keep the header they had before the setting
// existed).
//
// A visitor `v` provides (names are JSON member names; the order here is the
// order written):
//   v.field(name, T&)                 T: std::string, bool, double, int,
//                                     std::uint32_t, std::chrono::milliseconds
//   v.field_if_set(name, ms&)         written only when not 0 (off)
//   v.nullable(name, std::optional<T>&)            T: int, double; null when unset
//   v.enumeration(name, E&, const enum_names<E, N>&)  one of the names
//   v.enumeration_if_set(name, E&, names)  written only when not names[0] (the default)
//   v.object(name, T&)                a nested object: visit_fields(v, T&)
//   v.nullable_object(name, std::optional<T>&)     an object, or null when unset
//   v.object_array(name, std::vector<T>&)          an array of objects
//   v.raw_object(name, std::string&)  any JSON object, kept as its text
//   v.tagged(name, std::variant<T...>&, const std::array<std::string_view, N>&)
//                                     an object whose "type" member names the
//                                     alternative (tags in the variant's order)
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "realtime_bridge/call.hpp"

namespace rtb::config_fields {

template <class E>
struct enum_name {
  E value;
  std::string_view name;
};
template <class E, std::size_t N>
using enum_names = std::array<enum_name<E>, N>;

inline constexpr enum_names<openai::output_modality, 2> modality_names{{
    {openai::output_modality::audio, "audio"},
    {openai::output_modality::text, "text"},
}};
inline constexpr enum_names<openai::noise_reduction, 3> noise_names{{
    {openai::noise_reduction::off, "off"},
    {openai::noise_reduction::near_field, "near_field"},
    {openai::noise_reduction::far_field, "far_field"},
}};
inline constexpr enum_names<openai::greeting::style, 3> greeting_names{{
    {openai::greeting::style::none, "none"},
    {openai::greeting::style::user_message, "user_message"},
    {openai::greeting::style::instructions, "instructions"},
}};
inline constexpr enum_names<openai_connect, 2> connect_names{{
    {openai_connect::at_once, "at_once"},
    {openai_connect::after_start, "after_start"},
}};
/// The names of openai::turn_detection's alternatives, in its order.
inline constexpr std::array<std::string_view, 3> turn_detection_tags{"server_vad", "semantic_vad", "none"};
static_assert(std::variant_size_v<openai::turn_detection> == turn_detection_tags.size());

// The objects, outermost first.

template <class V>
void visit_fields(V& v, call_config& c);

template <class V>
void visit_fields(V& v, openai::session_options& o) {
  openai::session_config& c = o.config;
  v.field("model", c.model);
  v.field("instructions", c.instructions);
  v.field("voice", c.voice);
  v.enumeration("modality", c.modality, modality_names);
  v.tagged("turn_detection", c.turn, turn_detection_tags);
  v.nullable_object("transcription", c.input_transcription);
  v.enumeration("noise_reduction", c.noise, noise_names);
  v.nullable("speed", c.speed);
  v.object_array("tools", c.tools);
  v.field("tool_choice", c.tool_choice);
  v.object("greeting", o.greeting);
  v.object("timeouts", o.timeouts);
}

template <class V>
void visit_fields(V& v, openai::server_vad& t) {
  v.field("threshold", t.threshold);
  v.field("prefix_padding_ms", t.prefix_padding_ms);
  v.field("silence_duration_ms", t.silence_duration_ms);
  v.nullable("idle_timeout_ms", t.idle_timeout_ms);
  v.field("create_response", t.create_response);
  v.field("interrupt_response", t.interrupt_response);
}

template <class V>
void visit_fields(V& v, openai::semantic_vad& t) {
  v.field("eagerness", t.eagerness);
  v.field("create_response", t.create_response);
  v.field("interrupt_response", t.interrupt_response);
}

template <class V>
void visit_fields(V&, openai::no_turn_detection&) {}

template <class V>
void visit_fields(V& v, openai::transcription& t) {
  v.field("model", t.model);
  v.field("language", t.language);
  v.field("prompt", t.prompt);
}

template <class V>
void visit_fields(V& v, openai::tool& t) {
  v.field("name", t.name);
  v.field("description", t.description);
  v.raw_object("parameters", t.parameters_json);
}

template <class V>
void visit_fields(V& v, openai::greeting& g) {
  v.enumeration("style", g.how, greeting_names);
  v.field("text", g.text);
}

template <class V>
void visit_fields(V& v, openai::session_timeouts& t) {
  v.field("connect_ms", t.connect);
  v.field("configure_ms", t.configure);
}

template <class V>
void visit_fields(V& v, twilio::stream_timeouts& t) {
  v.field("start_timeout_ms", t.start);
  v.field("media_idle_ms", t.media_idle);
}

template <class V>
void visit_fields(V& v, barge_in_config& b) {
  // server_cancels is not configuration: derive_interrupt_response() sets it.
  v.field("enabled", b.enabled);
  v.field("margin_ms", b.margin);
  v.field("forget_unheard", b.forget_unheard);
  v.field_if_set("echo_guard_ms", b.echo_guard);
  v.field_if_set("min_speech_ms", b.min_speech);
}

template <class V>
void visit_fields(V& v, call_limits& l) {
  v.field("held_caller_audio_ms", l.held_caller_audio);
  v.field("held_ai_audio_ms", l.held_ai_audio);
  v.field("max_rejected_messages", l.max_rejected_messages);
  v.field_if_set("caller_audio_batch_ms", l.caller_audio_batch);
}

template <class V>
void visit_fields(V& v, call_control_config& c) {
  v.field("idle_timeout_ms", c.idle_timeout);
  v.field("max_duration_ms", c.max_duration);
  v.field("max_duration_warning_ms", c.max_duration_warning);
  v.field("goodbye_timeout_ms", c.goodbye_timeout);
  v.field("dtmf_to_model", c.dtmf_to_model);
  v.field("dtmf_pause_ms", c.dtmf_pause);
  v.field("idle_prompt", c.idle_prompt);
  v.field("idle_goodbye", c.idle_goodbye);
  v.field("max_duration_prompt", c.max_duration_prompt);
  v.field("max_duration_goodbye", c.max_duration_goodbye);
}

template <class V>
void visit_fields(V& v, call_config& c) {
  v.object("openai", c.openai);
  v.object("twilio", c.twilio);
  v.object("barge_in", c.barge_in);
  v.object("limits", c.limits);
  v.enumeration_if_set("openai_connect", c.connect, connect_names);
  v.object_if_changed("control", c.control);  // newer than traces: written only when not the default
}

/// Visits every setting of `c` (the root object).
template <class V>
void visit_config(V& v, call_config& c) {
  visit_fields(v, c);
}

/// Makes `index` the active alternative of `v` (default-constructed); false if
/// there is no such alternative.
template <class... T>
bool emplace_alternative(std::variant<T...>& v, std::size_t index) {
  bool done = false;
  std::size_t i = 0;
  ((i++ == index ? (v.template emplace<T>(), done = true) : false), ...);
  return done;
}

}  // namespace rtb::config_fields
