// G.711 µ-law audio for the test peers: conversion, energy, synthetic speech,
// speech from espeak-ng, WAV files. (The bridge itself never decodes audio;
// the fakes do, to detect speech and to write what was heard.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtb::peers {

using mulaw_bytes = std::vector<std::uint8_t>;  ///< 8 kHz, one byte per sample

std::int16_t mulaw_to_linear(std::uint8_t u) noexcept;
std::uint8_t linear_to_mulaw(std::int16_t sample) noexcept;

/// µ-law silence (0xFF) of `ms` milliseconds.
mulaw_bytes silence(int ms);

/// A speech-like test signal of `ms` milliseconds: voiced syllables (a pitch
/// around 120–220 Hz with harmonics, amplitude-modulated at ~4 Hz) loud enough
/// for any energy VAD. `seed` varies the pitch contour deterministically.
mulaw_bytes synthetic_speech(int ms, unsigned seed = 1);

/// A plain tone (for the fake model's voice when no speech synthesis is used).
mulaw_bytes tone(int ms, double hz = 440.0, double amplitude = 0.3);

/// Root-mean-square level of µ-law audio in dBFS (silence is about -80).
double level_dbfs(const std::uint8_t* data, std::size_t size) noexcept;

/// `text` spoken by espeak-ng, converted to 8 kHz µ-law with sox; nullopt when
/// either program is missing or fails. Runs both as child processes.
std::optional<mulaw_bytes> espeak(std::string_view text, std::string_view voice = "en-us");

/// True when espeak-ng and sox are both on PATH.
bool espeak_available();

/// Writes a WAV file (format 7, µ-law, 8 kHz mono) that any player opens.
bool write_wav(const std::string& path, const mulaw_bytes& audio);

/// Standard base64 of whole 3-byte groups, without allocating: writes
/// size / 3 * 4 characters at `out`. `size` must be a multiple of 3.
void base64_encode_groups(const std::uint8_t* data, std::size_t size, char* out) noexcept;
/// Decodes whole 4-character groups without padding, without allocating:
/// writes text.size() / 4 * 3 bytes at `out`. False on any character outside
/// the alphabet ('=' included). `text.size()` must be a multiple of 4.
bool base64_decode_groups(std::string_view text, std::uint8_t* out) noexcept;

/// Standard base64 of raw bytes / decode (for building and reading payloads).
std::string to_base64(const std::uint8_t* data, std::size_t size);
std::optional<mulaw_bytes> from_base64(std::string_view text);
/// Decodes into `out` (reusing its capacity); false when `text` is not
/// padded standard base64.
bool from_base64(std::string_view text, mulaw_bytes& out);

}  // namespace rtb::peers
