// Links realtime_bridge::lws: starts the adapter on a free loopback port and
// stops it.
#include <cstdio>
#include <memory>

#include <realtime_bridge/lws/server.hpp>

int main() {
  rtb::lws_adapter::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.threads = 1;
  o.openai.api_key = "sk-unused";
  o.log = [](rtb::lws_adapter::log_level, std::string_view) {};
  auto server = rtb::lws_adapter::server::start(o, std::make_shared<rtb::lws_adapter::application>());
  if (!server) {
    std::printf("start failed: %s\n", server.error().message.c_str());
    return 1;
  }
  const int port = (*server)->port();
  (*server)->stop();
  if (port <= 0) {
    std::printf("no port\n");
    return 1;
  }
  std::printf("vendored realtime_bridge::lws works (served on port %d)\n", port);
  return 0;
}
