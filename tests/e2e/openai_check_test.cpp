// The key check (realtime-bridge-server --check) against the fake OpenAI in
// each way the real one fails: every failure is told apart, with its fix.
#include <filesystem>

#include <fmt/format.h>
#include <unistd.h>

#include "e2e_support.hpp"
#include "peers/test_ca.hpp"
#include "realtime_bridge/lws/openai_check.hpp"

namespace rtb::e2e {

using problem = lws_adapter::openai_check_result::problem;

TEST_CASE("the key check tells each failure apart and says how to fix it", "[e2e][check]") {
  call_config config = bridge::default_config();
  peers::fake_openai_options options;
  options.expected_api_key = std::string(test_api_key);
  problem expected = problem::none;
  std::string in_detail, in_fix;
  SECTION("a working key: a session is configured") { expected = problem::none; }
  SECTION("403 on the upgrade") {
    options.failure = peers::failure_mode::refuse_upgrade;
    expected = problem::upgrade_refused;
    in_detail = "HTTP 403";
    in_fix = "new API key";
  }
  SECTION("invalid_api_key") {
    options.failure = peers::failure_mode::error_then_close_3000;
    expected = problem::invalid_api_key;
    in_fix = "OPENAI_API_KEY";
  }
  SECTION("model_not_found: a key from before Realtime access") {
    options.failure = peers::failure_mode::model_not_found;
    expected = problem::model_not_found;
    in_fix = "create a new key";
  }
  SECTION("beta_api_shape_disabled") {
    options.failure = peers::failure_mode::error_then_close_4000;
    expected = problem::beta_api_shape;
    in_fix = "OpenAI-Beta";
  }
  SECTION("a rejected setting is named") {
    config.openai.config.voice = "nova";
    expected = problem::setting_rejected;
    in_detail = "session.audio.output.voice";
    in_fix = "VOICE";
  }
  SECTION("no answer") {
    options.failure = peers::failure_mode::go_silent;
    expected = problem::timeout;
  }
  peers::fake_openai openai(options);
  lws_adapter::openai_endpoint endpoint;
  endpoint.url = openai.url();
  endpoint.api_key = std::string(test_api_key);
  const auto r = lws_adapter::check_openai(endpoint, config, 3s);
  INFO(to_string(r.what) << ": " << r.detail << " / fix: " << r.fix);
  CHECK(r.what == expected);
  if (!in_detail.empty()) CHECK(r.detail.find(in_detail) != std::string::npos);
  if (!in_fix.empty()) CHECK(r.fix.find(in_fix) != std::string::npos);
  CHECK(r.detail.find(test_api_key) == std::string::npos);
  CHECK(r.fix.find(test_api_key) == std::string::npos);
}

TEST_CASE("the key check: nothing listening, and a certificate nobody vouches for", "[e2e][check]") {
  lws_adapter::openai_endpoint endpoint;
  endpoint.api_key = std::string(test_api_key);
  SECTION("connection refused") {
    endpoint.url = "ws://127.0.0.1:9/v1/realtime?model=gpt-realtime";
    const auto r = lws_adapter::check_openai(endpoint, bridge::default_config(), 3s);
    CHECK(r.what == problem::connect_failed);
  }
  SECTION("TLS without the CA") {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtb-check-tls-{}", ::getpid());
    const auto ca = peers::make_test_ca(dir.string());
    peers::fake_openai_options options;
    options.cert_file = ca.cert_file;
    options.key_file = ca.key_file;
    peers::fake_openai openai(options);
    endpoint.url = openai.url();
    const auto r = lws_adapter::check_openai(endpoint, bridge::default_config(), 3s);
    INFO(r.detail);
    CHECK(r.what == problem::tls);
    endpoint.ca_file = ca.ca_file;
    CHECK(lws_adapter::check_openai(endpoint, bridge::default_config(), 3s).ok());
    std::filesystem::remove_all(dir);
  }
}

}  // namespace rtb::e2e
