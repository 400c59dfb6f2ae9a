// tool_bench: what a tool over HTTP costs the bridge. From the model's tool
// call to the answer being ready for the model, with a tool server on
// loopback that answers at once: the signed request built, the non-blocking
// HTTP exchange on a service thread (a connection per request, as the bridge
// makes them), the reply turned into the model's output. The tool server's
// own time is then the only thing a real deployment adds.
//
//   tool_bench [--requests N] [--json FILE]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "peers/fake_http_server.hpp"
#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/service/http_tools.hpp"

using namespace rtb;
using clock_type = std::chrono::steady_clock;

namespace {

struct null_app final : lws_adapter::application {};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int requests = 400;
  std::string json_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--requests") requests = std::max(1, std::atoi(argv[i + 1]));
    if (std::string_view(argv[i]) == "--json") json_path = argv[i + 1];
  }
  peers::fake_http_server tools;
  tools.on("/tools/lookup_order", [](const peers::recorded_request&) {
    return peers::http_reply{peers::http_reply::behaviour::answer, 200, "application/json",
                             R"({"order":"48217","status":"shipped","eta":"tomorrow"})"};
  });
  lws_adapter::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  o.openai.url = "ws://127.0.0.1:9/v1/realtime";
  o.log = {};
  auto started = lws_adapter::server::start(o, std::make_shared<null_app>());
  if (!started) {
    std::fprintf(stderr, "tool_bench: %s\n", started.error().message.c_str());
    return 1;
  }
  auto server = std::move(*started);

  service::http_tool tool;
  tool.name = "lookup_order";
  tool.url = tools.url("/tools/lookup_order");
  service::tool_settings settings;
  settings.secret = "bench-secret";
  service::tool_call_context call{"CA0123456789abcdef0123456789abcdef", "MZ0123456789abcdef0123456789abcdef",
                                  "front-desk", "+14155550100", "+15551230001"};

  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(requests));
  int failures = 0;
  for (int i = 0; i < requests; ++i) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    service::tool_result result;
    const auto start = clock_type::now();
    service::call_http_tool(*server, tool, settings, call, fmt::format("call_{}", i), R"({"order":"48217"})",
                            [&](service::tool_result r) {
                              const std::lock_guard lock(m);
                              result = std::move(r);
                              done = true;
                              cv.notify_one();
                            });
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return done; })) {
      std::fprintf(stderr, "tool_bench: request %d did not finish in 10 s\n", i);
      return 1;
    }
    if (result.outcome != service::tool_reply::answered) ++failures;
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
  }
  server->stop();
  const double p50 = percentile(ms, 0.50), p99 = percentile(ms, 0.99), worst = percentile(ms, 1.0);
  std::printf("tool round trip through the bridge (tool server on loopback answering at once), %d requests:\n",
              requests);
  std::printf("  p50 %.3f ms   p99 %.3f ms   max %.3f ms   failures %d\n", p50, p99, worst, failures);
  if (!json_path.empty()) {
    std::ofstream(json_path) << fmt::format(
        R"({{"bench":"tool","requests":{},"p50_ms":{:.3f},"p99_ms":{:.3f},"max_ms":{:.3f},"failures":{}}})"
        "\n",
        requests, p50, p99, worst, failures);
  }
  return failures == 0 ? 0 : 1;
}
