#include "options.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace rtb::loadgen {
namespace {

bool to_int(std::string_view s, int& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

bool to_double(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

}  // namespace

const char* floor_event_loop(std::string_view target) {
  if (target == "floor-poll") return "poll";
  if (target == "floor-uv") return "uv";
  if (target == "floor-ev") return "ev";
  return nullptr;
}

bool is_bridge_target(std::string_view target) { return target == "bridge" || target == "bridge-no-metrics"; }

const char* to_string(mode m) { return m == mode::flood ? "flood" : "realtime"; }

const char* to_string(syscall_tool t) {
  switch (t) {
    case syscall_tool::perf: return "perf";
    case syscall_tool::strace: return "strace";
    case syscall_tool::none: break;
  }
  return "none";
}

std::string usage() {
  return R"(usage: loadgen --server PATH [--floor PATH] [options]

Runs N concurrent calls (fake Twilio callers and a fake OpenAI, in this
process) against each target in turn, and measures the target's process
from /proc during a steady window.

targets and processes
  --server PATH          realtime-bridge-server (target "bridge")
  --floor PATH           floor-relay (targets "floor-poll", "floor-uv", "floor-ev")
  --targets LIST         comma-separated: bridge,bridge-no-metrics,floor-poll,floor-uv,floor-ev
                         (default: bridge, plus all three floors when --floor is given);
                         bridge-no-metrics is the bridge with METRICS_ENABLED=false
  --scrape-ms N          GET the bridge's /metrics every N ms during the window and report
                         what a scrape costs (default 0: no scrapes)
  --server-cpu N         CPU the target is pinned to (default 0)
  --load-cpu N           CPU this generator is pinned to (default 1)
  --server-threads N     THREADS of the bridge (default 1)
  --server-env K=V       an extra setting for the bridge (repeatable), e.g. EVENT_LOOP=poll
  --openai-tls           the bridge reaches the fake OpenAI over wss:// (TLS), as it reaches
                         the real one: a throwaway CA and a certificate for 127.0.0.1 are
                         made with the openssl tool in --out-dir/openai-tls, the bridge gets
                         OPENAI_REALTIME_URL=wss://127.0.0.1:<port>/... and OPENAI_CA_FILE.
                         Bridge target only (floor-relay speaks plain ws://); without it
                         the OpenAI leg is plain ws://
  --generator-loop ev|poll  how this process's peers wait for their sockets (default ev, libev:
                         poll() scans every socket at every wake-up, too slow for 200 calls)

the run
  --calls N              concurrent calls (default 200)
  --ramp S               calls start evenly over S seconds (default 5)
  --warmup S             then S seconds before measuring (default 5)
  --duration S           the measurement window (default 30)
  --mode realtime|flood  realtime: a frame every 20 ms, continuous turn taking with
                         barge-ins; flood: unpaced, at most --window frames in flight
                         per call each way (default realtime)
  --window N             flood window (default 8)
  --ai-speed X           the fake model streams answers X times real time (default 2)
  --ai-response-ms N     mean answer length (default 3000)
  --seed N               varies the callers' speech and timing (default 1)
  --syscalls[=perf|strace]  after the window, count the target's syscalls for
                         --syscalls-seconds (default 5) with perf (default) or strace
  --syscalls-seconds S

output
  --json FILE            the full report as JSON
  --out-dir DIR          target logs and profiles (default loadgen-out)

presets (set calls/ramp/warmup/duration; later flags override)
  --quick                20 calls, ramp 3 s, warmup 2 s, window 5 s
  --smoke                5 calls, ramp 0.5 s, warmup 0.5 s, window 1.5 s (CI)
)";
}

std::optional<options> parse_options(int argc, char** argv, int& exit_code) {
  options o;
  bool targets_given = false;
  exit_code = 2;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto fail = [&](const std::string& msg) -> std::optional<options> {
    std::fprintf(stderr, "loadgen: %s\n(loadgen --help for usage)\n", msg.c_str());
    return std::nullopt;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto next = [&](std::string& out) {
      if (has_value) {
        out = value;
        return true;
      }
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    auto need = [&]() -> bool { return next(v); };
    auto int_arg = [&](int& out, int lo) { return need() && to_int(v, out) && out >= lo; };
    auto double_arg = [&](double& out, double lo) { return need() && to_double(v, out) && out >= lo; };

    if (a == "--help" || a == "-h") {
      std::fputs(usage().c_str(), stdout);
      exit_code = 0;
      return std::nullopt;
    } else if (a == "--server") {
      if (!need()) return fail("--server needs a path");
      o.server = v;
    } else if (a == "--floor") {
      if (!need()) return fail("--floor needs a path");
      o.floor = v;
    } else if (a == "--targets") {
      if (!need()) return fail("--targets needs a list");
      o.targets = split(v, ',');
      targets_given = true;
      for (const auto& t : o.targets)
        if (!is_bridge_target(t) && !floor_event_loop(t)) return fail("unknown target '" + t + "'");
    } else if (a == "--calls") {
      if (!int_arg(o.calls, 1) || o.calls > 65535) return fail("--calls needs a number from 1 to 65535");
    } else if (a == "--duration") {
      if (!double_arg(o.duration_s, 0.1)) return fail("--duration needs seconds (>= 0.1)");
    } else if (a == "--warmup") {
      if (!double_arg(o.warmup_s, 0)) return fail("--warmup needs seconds");
    } else if (a == "--ramp") {
      if (!double_arg(o.ramp_s, 0)) return fail("--ramp needs seconds");
    } else if (a == "--mode") {
      if (!need() || (v != "realtime" && v != "flood")) return fail("--mode is realtime or flood");
      o.run_mode = v == "flood" ? mode::flood : mode::realtime;
    } else if (a == "--window") {
      if (!int_arg(o.window, 1)) return fail("--window needs a positive number");
    } else if (a == "--server-cpu") {
      if (!int_arg(o.server_cpu, -1)) return fail("--server-cpu needs a CPU number (-1: not pinned)");
    } else if (a == "--load-cpu") {
      if (!int_arg(o.load_cpu, -1)) return fail("--load-cpu needs a CPU number (-1: not pinned)");
    } else if (a == "--server-threads") {
      if (!int_arg(o.server_threads, 0)) return fail("--server-threads needs a number");
    } else if (a == "--generator-loop") {
      if (!need() || (v != "ev" && v != "poll")) return fail("--generator-loop is ev or poll");
      o.generator_epoll = v == "ev";
    } else if (a == "--server-env") {
      if (!need() || v.find('=') == std::string::npos || v.front() == '=') return fail("--server-env needs K=V");
      o.server_env.emplace_back(v.substr(0, v.find('=')), v.substr(v.find('=') + 1));
    } else if (a == "--scrape-ms") {
      if (!int_arg(o.scrape_ms, 0)) return fail("--scrape-ms needs milliseconds (0: no scrapes)");
    } else if (a == "--openai-tls") {
      if (has_value) return fail("--openai-tls takes no value");
      o.openai_tls = true;
    } else if (a == "--syscalls") {
      o.syscalls = syscall_tool::perf;
      if (has_value) {
        if (value == "perf")
          o.syscalls = syscall_tool::perf;
        else if (value == "strace")
          o.syscalls = syscall_tool::strace;
        else
          return fail("--syscalls=perf or --syscalls=strace");
      }
    } else if (a == "--syscalls-seconds") {
      if (!double_arg(o.syscalls_s, 0.5)) return fail("--syscalls-seconds needs seconds (>= 0.5)");
    } else if (a == "--json") {
      if (!need()) return fail("--json needs a file");
      o.json_path = v;
    } else if (a == "--out-dir") {
      if (!need()) return fail("--out-dir needs a directory");
      o.out_dir = v;
    } else if (a == "--ai-speed") {
      if (!double_arg(o.ai_speed, 0.1)) return fail("--ai-speed needs a factor (>= 0.1)");
    } else if (a == "--ai-response-ms") {
      if (!int_arg(o.ai_response_ms, 200)) return fail("--ai-response-ms needs milliseconds (>= 200)");
    } else if (a == "--seed") {
      int s = 0;
      if (!int_arg(s, 0)) return fail("--seed needs a number");
      o.seed = static_cast<unsigned>(s);
    } else if (a == "--quick") {
      o.preset = "quick";
      o.calls = 20;
      o.ramp_s = 3;
      o.warmup_s = 2;
      o.duration_s = 5;
    } else if (a == "--smoke") {
      o.preset = "smoke";
      o.calls = 5;
      o.ramp_s = 0.5;
      o.warmup_s = 0.5;
      o.duration_s = 1.5;
      o.syscalls_s = 1;
    } else {
      return fail("unknown argument '" + args[i] + "'");
    }
  }
  if (!targets_given) {
    o.targets.clear();
    if (!o.server.empty()) o.targets.push_back("bridge");
    if (!o.floor.empty()) {
      for (const char* f : floor_targets) o.targets.push_back(f);
    }
    if (o.targets.empty()) return fail("give --server PATH and/or --floor PATH");
  }
  for (const auto& t : o.targets) {
    if (is_bridge_target(t) && o.server.empty()) return fail("target " + t + " needs --server PATH");
    if (!is_bridge_target(t) && o.floor.empty()) return fail("target " + t + " needs --floor PATH");
  }
  if (o.openai_tls) {
    for (const auto& t : o.targets)
      if (!is_bridge_target(t))
        return fail("--openai-tls measures the bridge only: floor-relay speaks plain ws:// to OpenAI, so target " + t +
                    " cannot run with a TLS OpenAI leg (and a ratio against a plain floor would mix the two); "
                    "use --targets bridge, and run the floors in a separate run without --openai-tls");
  }
  exit_code = 0;
  return o;
}

}  // namespace rtb::loadgen
