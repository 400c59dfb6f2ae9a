// G.711 µ-law for the test peers. The codec is the classic ITU-T G.711
// µ-law with the bias 0x84 and clip 32635 used by every telephony stack (the
// Sun g711.c reference); speech comes from espeak-ng piped into sox, run as
// child processes with posix_spawnp (no shell: the text goes through a temp
// file, never through a command line).
#include "peers/mulaw.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

extern char** environ;

namespace rtb::peers {

namespace {

constexpr int mulaw_bias = 0x84;
constexpr int mulaw_clip = 32635;

}  // namespace

std::int16_t mulaw_to_linear(std::uint8_t u) noexcept {
  const int v = static_cast<std::uint8_t>(~u);
  const int sign = v & 0x80;
  const int exponent = (v >> 4) & 0x07;
  const int mantissa = v & 0x0F;
  const int magnitude = (((mantissa << 3) + mulaw_bias) << exponent) - mulaw_bias;
  return static_cast<std::int16_t>(sign ? -magnitude : magnitude);
}

std::uint8_t linear_to_mulaw(std::int16_t sample) noexcept {
  int s = sample;
  int sign = 0;
  if (s < 0) {
    sign = 0x80;
    s = -s;
  }
  if (s > mulaw_clip) s = mulaw_clip;
  s += mulaw_bias;
  int exponent = 7;
  for (int mask = 0x4000; (s & mask) == 0 && exponent > 0; mask >>= 1) --exponent;
  const int mantissa = (s >> (exponent + 3)) & 0x0F;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

mulaw_bytes silence(int ms) { return mulaw_bytes(ms > 0 ? static_cast<std::size_t>(ms) * 8 : 0, 0xFF); }

namespace {

std::uint8_t encode(double x) {
  x = std::clamp(x, -1.0, 1.0);
  return linear_to_mulaw(static_cast<std::int16_t>(std::lround(x * 32767.0)));
}

// A small deterministic generator (splitmix64), identical on every platform,
// unlike the standard distributions.
struct splitmix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) / 9007199254740992.0;
  }
};

}  // namespace

mulaw_bytes synthetic_speech(int ms, unsigned seed) {
  const std::size_t n = ms > 0 ? static_cast<std::size_t>(ms) * 8 : 0;
  mulaw_bytes out;
  out.reserve(n);
  splitmix rng{0x5EEDULL * (seed + 1)};
  const double base = rng.uniform(120.0, 220.0);  // speaker's mean pitch
  const double drift_hz = rng.uniform(0.4, 0.9);  // slow intonation
  const double drift_phase = rng.uniform(0.0, 2 * std::numbers::pi);
  double syllable_hz = rng.uniform(3.5, 4.5);  // ~4 syllables per second
  double am_phase = 0.0;
  double pitch_phase = 0.0;
  constexpr double dt = 1.0 / 8000.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) * dt;
    const double f0 = base * (1.0 + 0.15 * std::sin(2 * std::numbers::pi * drift_hz * t + drift_phase));
    pitch_phase += 2 * std::numbers::pi * f0 * dt;
    const double prev_am = am_phase;
    am_phase += 2 * std::numbers::pi * syllable_hz * dt;
    // A new syllable each AM cycle gets its own rate, for a less robotic rhythm.
    if (std::floor(am_phase / (2 * std::numbers::pi)) != std::floor(prev_am / (2 * std::numbers::pi)))
      syllable_hz = rng.uniform(3.5, 4.5);
    // Voiced harmonics with a falling spectrum and a crude formant near 500–700 Hz.
    double v = 0.0;
    for (int k = 1; k <= 10; ++k) {
      const double fk = f0 * k;
      if (fk > 3600.0) break;
      const double formant = 1.0 + 1.5 * std::exp(-std::pow((fk - 600.0) / 250.0, 2));
      v += formant / k * std::sin(k * pitch_phase);
    }
    // Syllable envelope: never fully silent, peaks around 0.5 full scale.
    const double env = 0.2 + 0.8 * (0.5 - 0.5 * std::cos(am_phase));
    out.push_back(encode(0.22 * env * v));
  }
  return out;
}

mulaw_bytes tone(int ms, double hz, double amplitude) {
  const std::size_t n = ms > 0 ? static_cast<std::size_t>(ms) * 8 : 0;
  mulaw_bytes out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(encode(amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / 8000.0)));
  return out;
}

double level_dbfs(const std::uint8_t* data, std::size_t size) noexcept {
  if (data == nullptr || size == 0) return -80.0;
  double sum = 0.0;
  for (std::size_t i = 0; i < size; ++i) {
    const double x = mulaw_to_linear(data[i]) / 32768.0;
    sum += x * x;
  }
  const double rms = std::sqrt(sum / static_cast<double>(size));
  return 20.0 * std::log10(std::max(rms, 1e-4));
}

// ---- espeak-ng | sox ----------------------------------------------------

namespace {

bool on_path(const char* program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string full = dir + "/" + program;
    if (::access(full.c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

struct fd_guard {
  int fd = -1;
  fd_guard() = default;
  explicit fd_guard(int f) : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Spawns `argv` with the given stdin/stdout (stderr to /dev/null); -1 on failure.
pid_t spawn(const std::vector<std::string>& args, int in_fd, int out_fd) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0) return -1;
  posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

bool reap(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

bool espeak_available() { return on_path("espeak-ng") && on_path("sox"); }

std::optional<mulaw_bytes> espeak(std::string_view text, std::string_view voice) {
  if (!espeak_available()) return std::nullopt;

  // The text goes to espeak-ng through a file (-f), so nothing in it can be
  // taken for an option or reach a shell.
  char tmpl[] = "/tmp/rtb-espeak-XXXXXX";
  const int tfd = ::mkstemp(tmpl);
  if (tfd < 0) return std::nullopt;
  const std::string text_path = tmpl;
  {
    fd_guard g(tfd);
    std::size_t off = 0;
    while (off < text.size()) {
      const ssize_t w = ::write(tfd, text.data() + off, text.size() - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        ::unlink(text_path.c_str());
        return std::nullopt;
      }
      off += static_cast<std::size_t>(w);
    }
  }

  std::optional<mulaw_bytes> result;
  int speech_pipe[2];  // espeak-ng -> sox
  int out_pipe[2];     // sox -> us
  if (::pipe2(speech_pipe, O_CLOEXEC) != 0) {
    ::unlink(text_path.c_str());
    return std::nullopt;
  }
  fd_guard speech_r(speech_pipe[0]), speech_w(speech_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::unlink(text_path.c_str());
    return std::nullopt;
  }
  fd_guard out_r(out_pipe[0]), out_w(out_pipe[1]);
  fd_guard devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  const pid_t espeak_pid =
      spawn({"espeak-ng", "-v", std::string(voice), "-f", text_path, "--stdout"}, devnull.fd, speech_w.fd);
  const pid_t sox_pid =
      spawn({"sox", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "u-law", "-b", "8", "-c", "1", "-"}, speech_r.fd,
            out_w.fd);
  // Only the children hold the pipe ends now, so EOF arrives when sox exits.
  speech_r.reset();
  speech_w.reset();
  out_w.reset();
  devnull.reset();

  mulaw_bytes audio;
  if (sox_pid > 0) {
    std::array<std::uint8_t, 16384> buf;
    for (;;) {
      const ssize_t r = ::read(out_r.fd, buf.data(), buf.size());
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (r == 0) break;
      audio.insert(audio.end(), buf.begin(), buf.begin() + r);
    }
  }
  out_r.reset();
  const bool espeak_ok = reap(espeak_pid);
  const bool sox_ok = reap(sox_pid);
  ::unlink(text_path.c_str());
  if (espeak_ok && sox_ok && !audio.empty()) result = std::move(audio);
  return result;
}

// ---- WAV ------------------------------------------------------------------

namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
}

}  // namespace

bool write_wav(const std::string& path, const mulaw_bytes& audio) {
  if (audio.size() > 0xFFFFFF00u) return false;
  const auto data_size = static_cast<std::uint32_t>(audio.size());
  const std::uint32_t pad = data_size & 1u;
  std::string header;
  header += "RIFF";
  // "WAVE" + fmt chunk (8 + 18) + fact chunk (8 + 4) + data chunk (8 + data + pad)
  put_u32(header, 4 + 26 + 12 + 8 + data_size + pad);
  header += "WAVE";
  header += "fmt ";
  put_u32(header, 18);
  put_u16(header, 7);     // WAVE_FORMAT_MULAW
  put_u16(header, 1);     // channels
  put_u32(header, 8000);  // sample rate
  put_u32(header, 8000);  // bytes per second
  put_u16(header, 1);     // block align
  put_u16(header, 8);     // bits per sample
  put_u16(header, 0);     // cbSize
  header += "fact";
  put_u32(header, 4);
  put_u32(header, data_size);  // samples per channel
  header += "data";
  put_u32(header, data_size);

  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return false;
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(audio.data()), static_cast<std::streamsize>(audio.size()));
  if (pad) f.put('\0');
  f.flush();
  return static_cast<bool>(f);
}

// ---- base64 ---------------------------------------------------------------

namespace {

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> b64_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}
constexpr auto b64_decode_table = b64_table();

}  // namespace

void base64_encode_groups(const std::uint8_t* data, std::size_t size, char* out) noexcept {
  for (std::size_t i = 0; i + 3 <= size; i += 3, out += 4) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out[0] = b64_alphabet[(v >> 18) & 63];
    out[1] = b64_alphabet[(v >> 12) & 63];
    out[2] = b64_alphabet[(v >> 6) & 63];
    out[3] = b64_alphabet[v & 63];
  }
}

bool base64_decode_groups(std::string_view text, std::uint8_t* out) noexcept {
  for (std::size_t i = 0; i + 4 <= text.size(); i += 4, out += 3) {
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const std::int8_t d = b64_decode_table[static_cast<unsigned char>(text[i + k])];
      if (d < 0) return false;
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out[0] = static_cast<std::uint8_t>(v >> 16);
    out[1] = static_cast<std::uint8_t>(v >> 8);
    out[2] = static_cast<std::uint8_t>(v);
  }
  return true;
}

std::string to_base64(const std::uint8_t* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  const std::size_t i = size / 3 * 3;
  out.resize(i / 3 * 4);
  base64_encode_groups(data, i, out.data());
  if (size - i == 1) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16;
    out.push_back(b64_alphabet[(v >> 18) & 63]);
    out.push_back(b64_alphabet[(v >> 12) & 63]);
    out += "==";
  } else if (size - i == 2) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out.push_back(b64_alphabet[(v >> 18) & 63]);
    out.push_back(b64_alphabet[(v >> 12) & 63]);
    out.push_back(b64_alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::optional<mulaw_bytes> from_base64(std::string_view text) {
  mulaw_bytes out;
  if (!from_base64(text, out)) return std::nullopt;
  return out;
}

bool from_base64(std::string_view text, mulaw_bytes& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  // Every group but the last has no padding.
  const std::size_t body = text.size() - 4;
  out.resize(body / 4 * 3);
  if (!base64_decode_groups(text.substr(0, body), out.data())) return false;
  // The last: padding only in its last two places, and nothing after it.
  std::uint32_t v = 0;
  int pads = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const char c = text[body + k];
    std::int32_t d = 0;
    if (c == '=') {
      if (k < 2) return false;
      ++pads;
    } else {
      if (pads > 0) return false;
      d = b64_decode_table[static_cast<unsigned char>(c)];
      if (d < 0) return false;
    }
    v = (v << 6) | static_cast<std::uint32_t>(d);
  }
  out.push_back(static_cast<std::uint8_t>((v >> 16) & 0xFF));
  if (pads < 2) out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
  if (pads < 1) out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  return true;
}

}  // namespace rtb::peers
