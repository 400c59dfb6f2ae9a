// The load generator's command line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtb::loadgen {

enum class mode { realtime, flood };

/// How the syscalls of the system under test are counted (a separate phase
/// after the CPU window): perf stat on the syscall tracepoints (cheap), or
/// strace -c (ptrace: slows the process a lot).
enum class syscall_tool { none, perf, strace };

struct options {
  std::string server;  ///< realtime-bridge-server binary (target "bridge")
  std::string floor;   ///< floor-relay binary (targets "floor-poll", "floor-uv", "floor-ev")
  std::vector<std::string> targets{"bridge"};
  int calls = 200;
  double duration_s = 30;  ///< the measurement window
  double warmup_s = 5;     ///< after the last call started, before the window
  double ramp_s = 5;       ///< calls start evenly over this period
  mode run_mode = mode::realtime;
  int window = 8;  ///< flood: frames (and deltas) in flight per call
  int server_cpu = 0;
  int load_cpu = 1;
  int server_threads = 1;
  bool generator_epoll = true;  ///< the peers' lws contexts wait with libev (epoll) rather than poll()
  std::vector<std::pair<std::string, std::string>> server_env;  ///< extra settings for the bridge
  /// GET /metrics on the bridge targets every this many ms during the window
  /// (0: never), as Prometheus would scrape it.
  int scrape_ms = 0;
  /// The bridge's OpenAI leg over wss:// (a TLS fake OpenAI, a throwaway CA in
  /// out_dir as OPENAI_CA_FILE); bridge target only. false: plain ws://.
  bool openai_tls = false;
  syscall_tool syscalls = syscall_tool::none;
  double syscalls_s = 5;
  std::string json_path;                ///< "" = no JSON file
  std::string out_dir = "loadgen-out";  ///< server logs, syscall profiles
  // the conversation
  double ai_speed = 2.0;      ///< the fake model streams its audio this many times faster than real time
  int ai_response_ms = 3000;  ///< mean length of an answer (answers are 2/3, 1, 4/3 of it)
  unsigned seed = 1;
  std::string preset;  ///< "", "quick" or "smoke" (for the report)
};

/// Parses argv; on error or --help returns nullopt after printing to stderr
/// (help: to stdout) and sets `exit_code`.
std::optional<options> parse_options(int argc, char** argv, int& exit_code);

/// The floor targets, in the order they run by default: floor-relay with
/// --event-loop poll, uv (lws' libuv event library) and ev (lws' libev event
/// library, like the bridge).
inline constexpr const char* floor_targets[] = {"floor-poll", "floor-uv", "floor-ev"};

/// The floor-relay --event-loop value of a floor target; nullptr for any other name.
const char* floor_event_loop(std::string_view target);

/// The bridge targets: "bridge", and "bridge-no-metrics", the same server with
/// METRICS_ENABLED=false (no relay latency measured, no /metrics), to price the metrics.
bool is_bridge_target(std::string_view target);

std::string usage();
const char* to_string(mode m);
const char* to_string(syscall_tool t);

/// Where --openai-tls makes its throwaway CA and the fake OpenAI's certificate.
inline std::string openai_tls_dir(const std::string& out_dir) { return out_dir + "/openai-tls"; }

}  // namespace rtb::loadgen
