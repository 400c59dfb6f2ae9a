#include "syscall_profile.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "peers/child_process.hpp"

namespace rtb::loadgen {
using peers::child_process;
using peers::child_spec;
using peers::wait_until;
namespace {

// The syscalls a relay makes per message, by name; the rest is "other" (the
// total comes from raw_syscalls:sys_enter). Counting tracepoints cost about
// 0.1 µs per syscall each, and unlike perf trace they change nothing in how
// the target batches its work.
constexpr const char* counted_syscalls[] = {
    "sendto",      "recvfrom",  "read", "write", "readv", "writev",          "sendmsg", "recvmsg", "epoll_wait",
    "epoll_pwait", "epoll_ctl", "poll", "ppoll", "futex", "clock_nanosleep", "brk",     "mmap",    "munmap"};

std::string perf_events() {
  std::string e = "raw_syscalls:sys_enter";
  for (const char* name : counted_syscalls) e += std::string(",syscalls:sys_enter_") + name;
  return e;
}

/// perf stat -x, lines: "count,unit,event,...".
void parse_perf(std::istream& in, syscall_profile& p) {
  static const std::string prefix = "syscalls:sys_enter_";
  std::uint64_t total = 0, named = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() < 3 || f[0].empty() || f[0][0] < '0' || f[0][0] > '9') continue;  // <not counted>, comments
    const std::uint64_t n = std::stoull(f[0]);
    if (f[2] == "raw_syscalls:sys_enter") {
      total = n;
    } else if (f[2].rfind(prefix, 0) == 0 && n > 0) {
      p.calls[f[2].substr(prefix.size())] += n;
      named += n;
    }
  }
  if (total > named) p.calls["other"] = total - named;
  p.total = std::max(total, named);
}

/// strace -c: "% time seconds usecs/call calls [errors] syscall" rows.
void parse_strace(std::istream& in, syscall_profile& p) {
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string tok;
    while (ss >> tok) f.push_back(tok);
    if (f.size() < 5 || f.size() > 6) continue;
    if (f[0].empty() || f[0][0] < '0' || f[0][0] > '9') continue;  // header, separators
    const std::string& name = f.back();
    if (name == "total") continue;
    const std::uint64_t n = std::stoull(f[3]);
    p.calls[name] += n;
    p.total += n;
  }
}

}  // namespace

syscall_profile profile_syscalls(pid_t pid, syscall_tool tool, double seconds, int cpu, const std::string& raw_path) {
  syscall_profile p;
  p.seconds = seconds;
  child_spec spec;
  spec.cpu = cpu;
  spec.log_path = raw_path + ".log";
  if (tool == syscall_tool::perf) {
    spec.path = "/usr/bin/perf";
    // Counting runs while `sleep` does (perf attaches first, then starts it).
    spec.args = {"stat", "-x",     ",",  "-e",    perf_events(),          "-p", std::to_string(pid),
                 "-o",   raw_path, "--", "sleep", std::to_string(seconds)};
  } else {
    spec.path = "/usr/bin/strace";
    spec.args = {"-f", "-c", "-o", raw_path, "-p", std::to_string(pid)};
  }
  try {
    child_process tracer(spec);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    // strace runs until interrupted, then detaches and writes its counts.
    std::this_thread::sleep_until(deadline);
    if (tool == syscall_tool::strace) ::kill(tracer.pid(), SIGINT);
    if (!wait_until([&] { return !tracer.running(); }, std::chrono::milliseconds(10'000))) {
      tracer.stop();
      p.error = std::string(to_string(tool)) + " did not finish";
      return p;
    }
    const int st = tracer.exit_status();
    if (!WIFEXITED(st) && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT)) {  // perf re-raises the SIGINT
      p.error = std::string(to_string(tool)) + " failed (see " + spec.log_path + ")";
      return p;
    }
  } catch (const std::exception& e) {
    p.error = e.what();
    return p;
  }
  std::ifstream in(raw_path);
  if (!in) {
    p.error = "no output from " + std::string(to_string(tool));
    return p;
  }
  if (tool == syscall_tool::perf)
    parse_perf(in, p);
  else
    parse_strace(in, p);
  p.ok = p.total > 0;
  if (!p.ok) p.error = "no syscalls counted (see " + raw_path + ")";
  return p;
}

}  // namespace rtb::loadgen
