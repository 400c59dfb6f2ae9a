// Builds against an installed realtime_bridge and drives a call a little way.
#include <cstdio>

#include <realtime_bridge/realtime_bridge.hpp>

int main() {
  rtb::call_config config;
  if (auto ok = rtb::validate(config); !ok) {
    std::printf("default config invalid: %s\n", ok.error().message.c_str());
    return 1;
  }
  rtb::call c(config, rtb::timestamp{});
  const auto& out = c.handle(rtb::call_in::openai_opened{}, rtb::timestamp{});
  if (out.size() != 1 || !std::holds_alternative<rtb::to_openai::update_session>(out[0])) {
    std::printf("expected session.update, got %zu actions\n", out.size());
    return 1;
  }
  std::printf("realtime_bridge package works\n");
  return 0;
}
