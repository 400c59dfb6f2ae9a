#include "proc_stats.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace rtb::loadgen {
namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The value (first number) of "Key:" in a status file, or 0.
std::uint64_t status_field(const std::string& text, const char* key) {
  const std::string k = std::string(key) + ":";
  const auto at = text.find(k);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + k.size(), nullptr, 10);
}

}  // namespace

std::optional<cpu_sample> read_cpu(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const auto stat = slurp(base + "/stat");
  if (!stat) return std::nullopt;
  cpu_sample s;
  // Fields after the command (which is in parentheses and may hold spaces):
  // state(3) ... utime(14) stime(15).
  const auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat->substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const auto hz = static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK));
  s.utime_ns = utime * 1'000'000'000ull / hz;
  s.stime_ns = stime * 1'000'000'000ull / hz;
  s.stat_ns = s.utime_ns + s.stime_ns;

  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(base + "/task", ec)) {
    const std::string t = task.path().string();
    if (const auto ss = slurp(t + "/schedstat")) {
      s.sched_ns += std::strtoull(ss->c_str(), nullptr, 10);
      ++s.threads;
    }
    if (const auto st = slurp(t + "/status")) {
      s.voluntary_switches += status_field(*st, "voluntary_ctxt_switches");
      s.involuntary_switches += status_field(*st, "nonvoluntary_ctxt_switches");
    }
  }
  if (ec) return std::nullopt;
  return s;
}

std::optional<cpu_sample> read_own_cpu() { return read_cpu(getpid()); }

std::optional<memory_sample> read_memory(pid_t pid) {
  const auto st = slurp("/proc/" + std::to_string(pid) + "/status");
  if (!st) return std::nullopt;
  memory_sample m;
  m.vm_rss_kib = status_field(*st, "VmRSS");
  m.rss_anon_kib = status_field(*st, "RssAnon");
  m.vm_hwm_kib = status_field(*st, "VmHWM");
  return m;
}

}  // namespace rtb::loadgen
