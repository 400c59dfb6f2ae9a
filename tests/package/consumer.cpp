// Builds against an installed realtime_bridge (realtime_bridge::core alone,
// through its CMake package or pkg-config) and drives a call a little way;
// validates a Twilio signature (a core header, so it links with the core);
// prints the installed version header's version.
#include <cstdio>
#include <string>

#include <realtime_bridge/realtime_bridge.hpp>
#include <realtime_bridge/twilio/signature.hpp>
#include <realtime_bridge/version.hpp>

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
  // A published vector of Twilio's helper libraries (tests/unit/twilio_signature_test.cpp).
  const rtb::twilio::form_parameters params = {{"CallSid", "CA1234567890ABCDE"},
                                               {"Caller", "+14158675309"},
                                               {"Digits", "1234"},
                                               {"From", "+14158675309"},
                                               {"To", "+18005551212"}};
  if (!rtb::twilio::validate_signature(
          "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "https://mycompany.com/myapp.php?foo=1&bar=2", params)) {
    std::printf("the published signature does not validate\n");
    return 1;
  }
  const std::string parts = std::to_string(rtb::version_major) + "." + std::to_string(rtb::version_minor) + "." +
                            std::to_string(rtb::version_patch);
  if (rtb::version != parts) {
    std::printf("rtb::version %.*s is not %s\n", static_cast<int>(rtb::version.size()), rtb::version.data(),
                parts.c_str());
    return 1;
  }
  std::printf("realtime_bridge %.*s package works\n", static_cast<int>(rtb::version.size()), rtb::version.data());
  return 0;
}
