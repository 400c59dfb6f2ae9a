#include "realtime_bridge/openai/session_config.hpp"

#include <cmath>

#include <simdjson.h>

namespace rtb::openai {
namespace {

error bad(std::string message) { return {errc::invalid_config, std::move(message)}; }

bool valid_json_object(const std::string& text) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc)) return false;
  return doc.is_object();
}

}  // namespace

result<void> validate(const session_config& c) {
  if (c.model.empty()) return bad("openai model must not be empty");
  if (c.modality == output_modality::text)
    return bad("output modality 'text' produces no audio for the caller; use 'audio'");
  if (const auto* vad = std::get_if<server_vad>(&c.turn)) {
    if (!std::isfinite(vad->threshold) || vad->threshold < 0.0 || vad->threshold > 1.0)
      return bad("server_vad threshold must be between 0.0 and 1.0");
    if (vad->prefix_padding_ms < 0) return bad("server_vad prefix_padding_ms must not be negative");
    if (vad->silence_duration_ms < 0) return bad("server_vad silence_duration_ms must not be negative");
    if (vad->idle_timeout_ms && (*vad->idle_timeout_ms < 5000 || *vad->idle_timeout_ms > 30000))
      return bad("server_vad idle_timeout_ms must be between 5000 and 30000");
  }
  if (const auto* sem = std::get_if<semantic_vad>(&c.turn)) {
    if (sem->eagerness != "low" && sem->eagerness != "medium" && sem->eagerness != "high" && sem->eagerness != "auto")
      return bad("semantic_vad eagerness must be low, medium, high or auto");
  }
  if (c.speed && (!std::isfinite(*c.speed) || *c.speed < 0.25 || *c.speed > 1.5))
    return bad("speed must be between 0.25 and 1.5");
  if (c.input_transcription && c.input_transcription->model.empty())
    return bad("input transcription model must not be empty");
  bool choice_found = c.tool_choice == "auto" || c.tool_choice == "none" || c.tool_choice == "required";
  for (std::size_t i = 0; i < c.tools.size(); ++i) {
    const tool& t = c.tools[i];
    if (t.name.empty()) return bad("tools[" + std::to_string(i) + "] has no name");
    for (std::size_t j = 0; j < i; ++j)
      if (c.tools[j].name == t.name) return bad("tools[" + std::to_string(i) + "] repeats the name '" + t.name + "'");
    if (!valid_json_object(t.parameters_json))
      return bad("tools[" + std::to_string(i) + "] (" + t.name + ") parameters are not a JSON object");
    if (t.name == c.tool_choice) choice_found = true;
  }
  if (!choice_found)
    return bad("tool_choice '" + c.tool_choice + "' is neither auto, none, required nor a configured tool");
  return {};
}

bool server_interrupts(const session_config& c) noexcept {
  if (const auto* vad = std::get_if<server_vad>(&c.turn)) return vad->interrupt_response;
  if (const auto* sem = std::get_if<semantic_vad>(&c.turn)) return sem->interrupt_response;
  return false;
}

}  // namespace rtb::openai
