// Counts the syscalls of a running process for a while, with perf stat on the
// kernel's syscall tracepoints (counting only: about 0.2 µs per syscall; the
// common syscalls by name, the rest as "other") or strace -c (ptrace: every
// syscall stops the process twice, a large cost, but every syscall by name).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "options.hpp"

namespace rtb::loadgen {

struct syscall_profile {
  bool ok = false;
  std::string error;                           ///< why not, when !ok
  std::map<std::string, std::uint64_t> calls;  ///< syscall name -> count
  std::uint64_t total = 0;
  double seconds = 0;
};

/// Profiles `pid` for `seconds` with `tool`, running the tool on CPU `cpu`
/// (-1: anywhere); the tool's raw output is kept in `raw_path`. The counts
/// cover `seconds` of the call (perf needs a moment to attach before it
/// starts counting; strace attaches at once), so scale what else is counted
/// over the call to `seconds`.
syscall_profile profile_syscalls(pid_t pid, syscall_tool tool, double seconds, int cpu, const std::string& raw_path);

}  // namespace rtb::loadgen
