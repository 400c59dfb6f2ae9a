#include "realtime_bridge/openai/encoder.hpp"

#include "json.hpp"

namespace rtb::openai {
namespace {

// `{"type":"<type>"` plus `,"event_id":…` when there is one. The caller closes the object.
void open_event(std::string& out, std::string_view type, std::string_view event_id) {
  out.append(R"({"type":")");
  out.append(type);
  out.push_back('"');
  if (!event_id.empty()) {
    out.append(R"(,"event_id":)");
    json::append_string(out, event_id);
  }
}

void append_bool(std::string& out, bool b) { out.append(b ? "true" : "false"); }

void append_turn_detection(std::string& out, const turn_detection& td) {
  std::visit(
      [&](const auto& t) {
        using T = std::decay_t<decltype(t)>;
        if constexpr (std::is_same_v<T, no_turn_detection>) {
          out.append("null");
        } else if constexpr (std::is_same_v<T, server_vad>) {
          out.append(R"({"type":"server_vad","threshold":)");
          json::append_double(out, t.threshold);
          out.append(R"(,"prefix_padding_ms":)");
          json::append_int(out, t.prefix_padding_ms);
          out.append(R"(,"silence_duration_ms":)");
          json::append_int(out, t.silence_duration_ms);
          if (t.idle_timeout_ms) {
            out.append(R"(,"idle_timeout_ms":)");
            json::append_int(out, *t.idle_timeout_ms);
          }
          out.append(R"(,"create_response":)");
          append_bool(out, t.create_response);
          out.append(R"(,"interrupt_response":)");
          append_bool(out, t.interrupt_response);
          out.push_back('}');
        } else {
          out.append(R"({"type":"semantic_vad","eagerness":)");
          json::append_string(out, t.eagerness);
          out.append(R"(,"create_response":)");
          append_bool(out, t.create_response);
          out.append(R"(,"interrupt_response":)");
          append_bool(out, t.interrupt_response);
          out.push_back('}');
        }
      },
      td);
}

void append_tool_choice(std::string& out, std::string_view choice) {
  if (choice == "auto" || choice == "none" || choice == "required") {
    json::append_string(out, choice);
    return;
  }
  out.append(R"({"type":"function","name":)");
  json::append_string(out, choice);
  out.push_back('}');
}

}  // namespace

void encode_session_update(std::string& out, const session_config& c, std::string_view event_id) {
  open_event(out, "session.update", event_id);
  out.append(R"(,"session":{"type":"realtime")");
  if (!c.model.empty()) {
    out.append(R"(,"model":)");
    json::append_string(out, c.model);
  }
  out.append(c.modality == output_modality::audio ? R"(,"output_modalities":["audio"])"
                                                  : R"(,"output_modalities":["text"])");
  if (!c.instructions.empty()) {
    out.append(R"(,"instructions":)");
    json::append_string(out, c.instructions);
  }
  out.append(R"(,"audio":{"input":{"format":{"type":"audio/pcmu"})");
  if (c.input_transcription) {
    out.append(R"(,"transcription":{"model":)");
    json::append_string(out, c.input_transcription->model);
    if (!c.input_transcription->language.empty()) {
      out.append(R"(,"language":)");
      json::append_string(out, c.input_transcription->language);
    }
    if (!c.input_transcription->prompt.empty()) {
      out.append(R"(,"prompt":)");
      json::append_string(out, c.input_transcription->prompt);
    }
    out.push_back('}');
  }
  if (c.noise != noise_reduction::off) {
    out.append(c.noise == noise_reduction::near_field ? R"(,"noise_reduction":{"type":"near_field"})"
                                                      : R"(,"noise_reduction":{"type":"far_field"})");
  }
  out.append(R"(,"turn_detection":)");
  append_turn_detection(out, c.turn);
  out.append(R"(},"output":{"format":{"type":"audio/pcmu"})");
  if (!c.voice.empty()) {
    out.append(R"(,"voice":)");
    json::append_string(out, c.voice);
  }
  if (c.speed) {
    out.append(R"(,"speed":)");
    json::append_double(out, *c.speed);
  }
  out.append("}}");
  if (!c.tools.empty()) {
    out.append(R"(,"tools":[)");
    for (std::size_t i = 0; i < c.tools.size(); ++i) {
      const tool& t = c.tools[i];
      if (i) out.push_back(',');
      out.append(R"({"type":"function","name":)");
      json::append_string(out, t.name);
      if (!t.description.empty()) {
        out.append(R"(,"description":)");
        json::append_string(out, t.description);
      }
      out.append(R"(,"parameters":)");
      out.append(t.parameters_json);  // validated JSON object, inserted verbatim
      out.push_back('}');
    }
    out.push_back(']');
    out.append(R"(,"tool_choice":)");
    append_tool_choice(out, c.tool_choice);
  }
  out.append("}}");
}

void encode_append_audio(std::string& out, std::string_view audio_base64) {
  out.append(R"({"type":"input_audio_buffer.append","audio":")");
  out.append(audio_base64);
  out.append(R"("})");
}

void encode_truncate(std::string& out, std::string_view event_id, std::string_view item_id, std::int64_t content_index,
                     std::int64_t audio_end_ms) {
  open_event(out, "conversation.item.truncate", event_id);
  out.append(R"(,"item_id":)");
  json::append_string(out, item_id);
  out.append(R"(,"content_index":)");
  json::append_int(out, content_index);
  out.append(R"(,"audio_end_ms":)");
  json::append_int(out, audio_end_ms);
  out.push_back('}');
}

void encode_delete_item(std::string& out, std::string_view event_id, std::string_view item_id) {
  open_event(out, "conversation.item.delete", event_id);
  out.append(R"(,"item_id":)");
  json::append_string(out, item_id);
  out.push_back('}');
}

void encode_user_message(std::string& out, std::string_view event_id, std::string_view text) {
  open_event(out, "conversation.item.create", event_id);
  out.append(R"(,"item":{"type":"message","role":"user","content":[{"type":"input_text","text":)");
  json::append_string(out, text);
  out.append("}]}}");
}

void encode_assistant_message(std::string& out, std::string_view event_id, std::string_view text) {
  open_event(out, "conversation.item.create", event_id);
  out.append(R"(,"item":{"type":"message","role":"assistant","content":[{"type":"output_text","text":)");
  json::append_string(out, text);
  out.append("}]}}");
}

void encode_function_call(std::string& out, std::string_view event_id, std::string_view call_id, std::string_view name,
                          std::string_view arguments) {
  open_event(out, "conversation.item.create", event_id);
  out.append(R"(,"item":{"type":"function_call","call_id":)");
  json::append_string(out, call_id);
  out.append(R"(,"name":)");
  json::append_string(out, name);
  out.append(R"(,"arguments":)");
  json::append_string(out, arguments);
  out.append("}}");
}

void encode_function_output(std::string& out, std::string_view event_id, std::string_view call_id,
                            std::string_view output) {
  open_event(out, "conversation.item.create", event_id);
  out.append(R"(,"item":{"type":"function_call_output","call_id":)");
  json::append_string(out, call_id);
  out.append(R"(,"output":)");
  json::append_string(out, output);
  out.append("}}");
}

void encode_response_create(std::string& out, std::string_view event_id, std::string_view instructions) {
  open_event(out, "response.create", event_id);
  if (!instructions.empty()) {
    out.append(R"(,"response":{"instructions":)");
    json::append_string(out, instructions);
    out.push_back('}');
  }
  out.push_back('}');
}

void encode_response_cancel(std::string& out, std::string_view event_id) {
  open_event(out, "response.cancel", event_id);
  out.push_back('}');
}

}  // namespace rtb::openai
