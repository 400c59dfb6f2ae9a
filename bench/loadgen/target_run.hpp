// One target of a run: start it, put the calls on it, measure it, stop it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "latency_stats.hpp"
#include "peers/test_ca.hpp"
#include "options.hpp"
#include "peers/bench_probe.hpp"
#include "proc_stats.hpp"
#include "scraper.hpp"
#include "syscall_profile.hpp"

namespace rtb::loadgen {

struct target_result {
  std::string name;  ///< bridge, floor-poll, floor-uv, floor-ev
  bool ok = false;   ///< the run was carried out (figures are meaningful)
  std::string error;
  std::string exit;  ///< how the target process ended
  std::string log_path;
  std::string openai_leg = "ws";  ///< "wss" when the target reached the fake OpenAI over TLS
  std::string openai_url;         ///< the fake OpenAI's URL the target was given

  // calls
  int calls_started = 0;
  int calls_connected = 0;
  int calls_active_at_end = 0;  ///< connected and still open when the window closed
  int calls_failed = 0;         ///< not connected, ended early, or with protocol violations
  int calls_not_connected = 0, calls_closed_early = 0, calls_with_violations = 0;
  std::vector<std::string> failure_samples;  ///< the first few reasons

  // the window
  double window_s = 0;
  cpu_sample server_cpu;       ///< deltas over the window
  cpu_sample generator_cpu;    ///< deltas over the window (this process)
  peers::probe_totals window;  ///< deltas of the counters over the window
  latency_summary inbound;     ///< caller frame written → append read by the fake OpenAI
  latency_summary outbound;    ///< delta written by the fake OpenAI → media read by the caller

  /// With --scrape-ms (bridge target): what the scrapes during the window cost.
  std::optional<scrape_summary> scrapes;

  // memory
  memory_sample memory_idle;      ///< before any call
  memory_sample memory_steady;    ///< at the end of the window
  std::uint64_t rss_max_kib = 0;  ///< the largest VmRSS sampled during the window

  // integrity, over the whole run up to the end of the window (+ settling)
  peers::probe_totals totals;

  // syscalls (a separate phase)
  std::optional<syscall_profile> syscalls;
  std::uint64_t syscall_phase_messages = 0;  ///< relayed messages during the profile

  // the target's own log
  int log_warnings = 0;
  int log_errors = 0;
  std::vector<std::string> log_samples;

  // derived
  std::uint64_t relayed() const { return window.appends_received + window.media_received; }
  double server_cpu_us() const { return static_cast<double>(server_cpu.sched_ns) / 1000.0; }
  double cpu_us_per_call_second() const {
    const double cs = calls_active_at_end * window_s;
    return cs > 0 ? server_cpu_us() / cs : 0;
  }
  double cpu_us_per_message() const { return relayed() ? server_cpu_us() / static_cast<double>(relayed()) : 0; }
  double messages_per_second() const { return window_s > 0 ? static_cast<double>(relayed()) / window_s : 0; }
  /// Relayed messages per second of the target's CPU time (flood: the most one core can relay).
  double messages_per_cpu_second() const {
    return server_cpu.sched_ns ? static_cast<double>(relayed()) * 1e9 / static_cast<double>(server_cpu.sched_ns) : 0;
  }
  double rss_per_call_kib() const {
    if (calls_active_at_end <= 0 || memory_steady.vm_rss_kib < memory_idle.vm_rss_kib) return 0;
    return static_cast<double>(memory_steady.vm_rss_kib - memory_idle.vm_rss_kib) / calls_active_at_end;
  }
  std::uint64_t integrity_problems() const {
    return totals.inbound_lost + totals.inbound_duplicated + totals.inbound_reordered + totals.appends_misrouted +
           totals.outbound_lost + totals.outbound_duplicated + totals.outbound_reordered + totals.media_misrouted +
           totals.calls_with_two_sessions;
  }
};

/// Runs `target` ("bridge", "floor-poll", "floor-uv", "floor-ev") with the options.
/// `tls`: the fake OpenAI serves wss:// with these files and the bridge trusts
/// their CA (bridge only); null: plain ws://.
/// Never throws: problems end up in `error` (and ok = false).
target_result run_target(const options& o, const std::string& target, const peers::test_ca_files* tls = nullptr);

}  // namespace rtb::loadgen
