#include "syscall_profile.hpp"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "child_process.hpp"

namespace rtb::loadgen {
namespace {

/// perf trace -s: per thread, a table "syscall calls errors total min avg
/// max stddev"; the calls of each syscall are summed over the threads.
void parse_perf(std::istream& in, syscall_profile& p) {
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string tok;
    while (ss >> tok) f.push_back(tok);
    if (f.size() < 8 || f[0] == "syscall" || f[0][0] == '-') continue;
    if (f[1].empty() || f[1].find_first_not_of("0123456789") != std::string::npos) continue;
    if (f[2].find_first_not_of("0123456789") != std::string::npos) continue;
    const std::uint64_t n = std::stoull(f[1]);
    p.calls[f[0]] += n;
    p.total += n;
  }
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
    spec.args = {"trace", "-s", "-p", std::to_string(pid), "-o", raw_path};
  } else {
    spec.path = "/usr/bin/strace";
    spec.args = {"-f", "-c", "-o", raw_path, "-p", std::to_string(pid)};
  }
  try {
    child_process tracer(spec);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    // Both run until interrupted (perf stat -p ignores a command's duration),
    // then detach and write their counts.
    std::this_thread::sleep_until(deadline);
    ::kill(tracer.pid(), SIGINT);
    if (!wait_until([&] { return !tracer.running(); }, std::chrono::milliseconds(10'000))) {
      tracer.stop();
      p.error = std::string(to_string(tool)) + " did not finish";
      return p;
    }
    const int st = tracer.exit_status();
    if (!WIFEXITED(st)) {
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
