// The typed configuration a bridge sends in its GA `session.update`.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "realtime_bridge/result.hpp"

namespace rtb::openai {

/// Server-side voice activity detection (energy based).
struct server_vad {
  double threshold = 0.5;  ///< 0.0–1.0; raise it on noisy lines
  int prefix_padding_ms = 300;
  int silence_duration_ms = 500;
  std::optional<int> idle_timeout_ms;  ///< 5000–30000, or unset
  bool create_response = true;
  bool interrupt_response = true;  ///< the server cancels its response when the caller speaks
  friend bool operator==(const server_vad&, const server_vad&) = default;
};

/// Model-based end-of-turn detection.
struct semantic_vad {
  std::string eagerness = "auto";  ///< low | medium | high | auto
  bool create_response = true;
  bool interrupt_response = true;
  friend bool operator==(const semantic_vad&, const semantic_vad&) = default;
};

/// No turn detection: the host commits audio and creates responses itself.
struct no_turn_detection {
  friend bool operator==(const no_turn_detection&, const no_turn_detection&) = default;
};

using turn_detection = std::variant<server_vad, semantic_vad, no_turn_detection>;

struct transcription {
  std::string model = "gpt-4o-mini-transcribe";
  std::string language;  ///< ISO-639-1; empty = let the model decide
  std::string prompt;
  friend bool operator==(const transcription&, const transcription&) = default;
};

/// A function the model may call. `parameters_json` is a JSON Schema object,
/// inserted verbatim (validate() checks that it is a JSON object).
struct tool {
  std::string name;
  std::string description;
  std::string parameters_json = R"({"type":"object","properties":{}})";
  friend bool operator==(const tool&, const tool&) = default;
};

enum class output_modality { audio, text };
enum class noise_reduction { off, near_field, far_field };

/// Everything the bridge puts in `session.update`. Audio formats are not
/// configurable: the bridge always passes Twilio's µ-law through unchanged, so
/// it always sends `audio/pcmu` in both directions.
struct session_config {
  std::string model = "gpt-realtime";  ///< also the `model=` of the connection URL
  std::string instructions;
  std::string voice = "marin";
  output_modality modality = output_modality::audio;
  turn_detection turn = server_vad{};
  std::optional<transcription> input_transcription;
  noise_reduction noise = noise_reduction::off;
  std::optional<double> speed;  ///< 0.25–1.5
  std::vector<tool> tools;
  /// "auto", "none", "required", or the name of one function to force.
  std::string tool_choice = "auto";
  friend bool operator==(const session_config&, const session_config&) = default;
};

/// Checks ranges and that every tool schema is a JSON object. The message
/// names the offending setting.
[[nodiscard]] result<void> validate(const session_config& config);

/// True when the server itself cancels an ongoing response as soon as the
/// caller starts speaking (turn detection with interrupt_response).
bool server_interrupts(const session_config& config) noexcept;

}  // namespace rtb::openai
