#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

#include "json.hpp"
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

namespace {

/// "2026-12-06T01:02:03.456Z"
std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", stamp, ms);
}

std::mutex& stderr_mutex() {
  static std::mutex m;
  return m;
}

void write_text(log_level level, std::string_view line) {
  const std::string stamp = utc_now();
  const std::lock_guard lock(stderr_mutex());
  std::fprintf(stderr, "%s %-7s %.*s\n", stamp.c_str(), to_string(level).data(), static_cast<int>(line.size()),
               line.data());
}

}  // namespace

log_function stderr_log(log_level min) {
  return [min](log_level level, std::string_view line) {
    if (level >= min) write_text(level, line);
  };
}

std::string format_log_line(const log_record& r) {
  if (r.call_id == 0) return std::string(r.message);
  if (r.call_sid.empty()) return fmt::format("call {}: {}", r.call_id, r.message);
  return fmt::format("call {} {}/{}: {}", r.call_id, r.call_sid, r.stream_sid, r.message);
}

record_function stderr_text_log(log_level min) {
  return [min](const log_record& r) {
    if (r.level >= min) write_text(r.level, format_log_line(r));
  };
}

std::string format_json_log_line(const log_record& r) {
  std::string line = R"({"time":)";
  json::append_string(line, utc_now());
  line.append(R"(,"level":)");
  json::append_string(line, to_string(r.level));
  line.append(R"(,"msg":)");
  json::append_string(line, r.message);
  if (r.call_id != 0) fmt::format_to(std::back_inserter(line), R"(,"call_id":{})", r.call_id);
  const auto field = [&](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    line.append(",");
    json::append_string(line, key);
    line.push_back(':');
    json::append_string(line, value);
  };
  field("call_sid", r.call_sid);
  field("stream_sid", r.stream_sid);
  field("agent", r.agent);
  line.push_back('}');
  return line;
}

record_function stderr_json_log(log_level min) {
  return [min](const log_record& r) {
    if (r.level < min) return;
    const std::string line = format_json_log_line(r);
    const std::lock_guard lock(stderr_mutex());
    std::fprintf(stderr, "%s\n", line.c_str());
  };
}

}  // namespace rtb::lws_adapter
