// core_bench: the cost through the core of one relayed message, each way, at
// steady state: nanoseconds and heap allocations per message.
//
//   inbound:  Twilio media JSON -> decode -> call -> encode input_audio_buffer.append
//   outbound: OpenAI audio delta JSON -> decode -> call -> encode Twilio media + mark
//
// usage: core_bench [--seconds S] [--json FILE]
// Prints a table and writes a JSON report (default bench_core.json).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "realtime_bridge/call_driver.hpp"

// Counts every heap allocation in the process.
static std::atomic<std::uint64_t> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct null_transport final : rtb::transport {
  std::uint64_t bytes = 0;
  void send_text(std::string_view m) override { bytes += m.size(); }
  void close(std::uint16_t, std::string_view) override {}
};

std::string base64_of(std::size_t n, unsigned char fill) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string raw(n, static_cast<char>(fill)), out;
  std::size_t i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8) |
                 static_cast<unsigned char>(raw[i + 2]);
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += t[v >> 6 & 63];
    out += t[v & 63];
  }
  if (n - i == 1) {
    unsigned v = static_cast<unsigned char>(raw[i]) << 16;
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += "==";
  } else if (n - i == 2) {
    unsigned v = (static_cast<unsigned char>(raw[i]) << 16) | (static_cast<unsigned char>(raw[i + 1]) << 8);
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += t[v >> 6 & 63];
    out += '=';
  }
  return out;
}

struct result_row {
  std::string name;
  double ns_per_message;
  double allocations_per_message;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  std::string json_path = "bench_core.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (a == "--json")
      json_path = argv[i + 1];
  }

  rtb::timestamp now{};
  null_transport twilio, openai;
  rtb::call_observer observer;
  rtb::call_config config;
  config.twilio.media_idle = std::chrono::milliseconds(0);
  rtb::call_driver driver(config, twilio, openai, observer, {}, [&] { return now; });
  driver.on_text(
      rtb::leg::twilio,
      R"({"event":"start","sequenceNumber":"1","start":{"accountSid":"ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","streamSid":"MZxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","callSid":"CAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}},"streamSid":"MZxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})");
  driver.on_openai_open();
  driver.on_text(
      rtb::leg::openai,
      R"({"type":"session.updated","event_id":"event_1","session":{"type":"realtime","id":"sess_1","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"}}}}})");
  driver.on_text(
      rtb::leg::openai,
      R"({"type":"response.created","event_id":"event_2","response":{"id":"resp_CIltVFKftXbEbt0z7gFQB","status":"in_progress"}})");

  const std::string payload = base64_of(160, 0xFF);
  const std::string media =
      R"({"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":")" +
      payload + R"("},"streamSid":"MZxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})";
  const std::string delta =
      R"({"type":"response.output_audio.delta","event_id":"event_CwG5xmoRbmucQGWpro4Gu","response_id":"resp_CIltVFKftXbEbt0z7gFQB","item_id":"item_CWjEv1UFkfG1F9PvvL9i2","output_index":0,"content_index":0,"delta":")" +
      payload + R"("})";

  auto measure = [&](const char* name, const std::string& message, rtb::leg side) {
    // Warm up: buffers reach their steady size.
    for (int i = 0; i < 2000; ++i) driver.on_text(side, message);
    std::vector<double> ns_runs;
    std::vector<double> alloc_runs;
    for (int run = 0; run < 5; ++run) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds / 10);
      std::uint64_t n = 0;
      const auto allocs_before = g_allocations.load();
      const auto t0 = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() < deadline) {
        for (int i = 0; i < 1000; ++i) driver.on_text(side, message);
        n += 1000;
      }
      const auto t1 = std::chrono::steady_clock::now();
      ns_runs.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n));
      alloc_runs.push_back(static_cast<double>(g_allocations.load() - allocs_before) / static_cast<double>(n));
    }
    std::sort(ns_runs.begin(), ns_runs.end());
    std::sort(alloc_runs.begin(), alloc_runs.end());
    return result_row{name, ns_runs[ns_runs.size() / 2], alloc_runs[alloc_runs.size() / 2]};
  };

  std::vector<result_row> rows;
  rows.push_back(measure("inbound media -> append", media, rtb::leg::twilio));
  rows.push_back(measure("outbound delta -> media + mark", delta, rtb::leg::openai));
  // Keep Twilio's playout "acknowledged" so the ledger stays small, as in a live call.
  if (driver.finished()) {
    std::fprintf(stderr, "core_bench: the call ended unexpectedly\n");
    return 1;
  }

  std::printf("%-34s %14s %16s\n", "path (median of 5 runs)", "ns/message", "allocs/message");
  for (const auto& r : rows)
    std::printf("%-34s %14.0f %16.3f\n", r.name.c_str(), r.ns_per_message, r.allocations_per_message);

  std::ofstream json(json_path);
  json << "{\"benchmark\":\"core\",\"results\":[";
  for (std::size_t i = 0; i < rows.size(); ++i)
    json << (i ? "," : "")
         << fmt::format(R"({{"path":"{}","ns_per_message":{:.1f},"allocations_per_message":{:.4f}}})", rows[i].name,
                        rows[i].ns_per_message, rows[i].allocations_per_message);
  json << "]}\n";
  std::printf("report: %s\n", json_path.c_str());
  return 0;
}
