#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "realtime_bridge/lws/server.hpp"

namespace rtb::lws_adapter {

std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
  }
  return "info";
}

log_function stderr_log(log_level min) {
  return [min](log_level level, std::string_view line) {
    if (level < min) return;
    static std::mutex m;
    const auto now = std::chrono::system_clock::now();
    const auto t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    const std::lock_guard lock(m);
    std::fprintf(stderr, "%s.%03dZ %-7s %.*s\n", stamp, static_cast<int>(ms), to_string(level).data(),
                 static_cast<int>(line.size()), line.data());
  };
}

}  // namespace rtb::lws_adapter
