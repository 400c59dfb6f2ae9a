// What /proc says about a process: CPU time, memory, context switches.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace rtb::loadgen {

struct cpu_sample {
  /// Sum over /proc/PID/task/*/schedstat field 1: ns on a CPU, per thread,
  /// from the scheduler's own clock (the precise figure).
  std::uint64_t sched_ns = 0;
  /// utime + stime from /proc/PID/stat, in ns (clock ticks: 10 ms steps;
  /// includes threads that have exited; the cross-check).
  std::uint64_t stat_ns = 0;
  std::uint64_t utime_ns = 0, stime_ns = 0;
  /// Summed over the tasks' /proc/PID/task/*/status.
  std::uint64_t voluntary_switches = 0, involuntary_switches = 0;
  int threads = 0;
};

struct memory_sample {
  std::uint64_t vm_rss_kib = 0;
  std::uint64_t rss_anon_kib = 0;
  std::uint64_t vm_hwm_kib = 0;  ///< peak RSS
};

std::optional<cpu_sample> read_cpu(pid_t pid);
std::optional<memory_sample> read_memory(pid_t pid);

/// CPU time of the calling process (all its threads), the same way.
std::optional<cpu_sample> read_own_cpu();

}  // namespace rtb::loadgen
