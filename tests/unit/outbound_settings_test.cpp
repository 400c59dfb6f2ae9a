// The server's outbound settings: read with every other setting, checked,
// with messages naming the setting and never showing the secret.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "server/settings.hpp"

namespace app = rtb::server_app;
using Catch::Matchers::Contains;

namespace {

using env_map = std::map<std::string, std::string, std::less<>>;

constexpr std::string_view account = "AC0123456789abcdef0123456789abcdef";
constexpr std::string_view key_sid = "SK0123456789abcdef0123456789abcdef";

rtb::result<app::settings> load(env_map env, const std::vector<std::string>& args = {}) {
  env.emplace("ALLOW_UNSIGNED", "true");
  return app::load_settings(
      [&env](std::string_view name) -> std::optional<std::string> {
        if (auto it = env.find(name); it != env.end()) return it->second;
        return std::nullopt;
      },
      args);
}

env_map outbound_env() {
  return {{"TWILIO_ACCOUNT_SID", std::string(account)},
          {"TWILIO_AUTH_TOKEN", "token-0123456789abcdef"},
          {"PUBLIC_URL", "https://bridge.example.com"},
          {"ADMIN_TOKEN", "admin-0123456789"}};
}

std::string error_of(const env_map& env, const std::vector<std::string>& args = {}) {
  auto r = load(env, args);
  CHECK_FALSE(r.has_value());
  return r ? std::string() : r.error().message;
}

}  // namespace

TEST_CASE("outbound settings: off by default, on with an account, defaults", "[server][settings][outbound]") {
  auto off = load({});
  REQUIRE(off);
  CHECK_FALSE(off->outbound.enabled());
  auto on = load(outbound_env());
  REQUIRE(on);
  CHECK(on->outbound.enabled());
  CHECK(on->outbound.api_base == "https://api.twilio.com");
  CHECK(on->outbound.calls_per_second == 1);
  CHECK(on->outbound.max_concurrent == 50);
}

TEST_CASE("outbound settings: values from variables and flags", "[server][settings][outbound]") {
  auto env = outbound_env();
  env["TWILIO_API_BASE"] = "http://127.0.0.1:8089/";
  env["TWILIO_FROM"] = "+15550001111";
  env["OUTBOUND_CALLS_PER_SECOND"] = "2.5";
  auto s = load(env, {"--outbound-max-concurrent", "7", "--twilio-api-key-sid", std::string(key_sid),
                      "--twilio-api-key-secret=key-secret-0123456789"});
  REQUIRE(s);
  CHECK(s->outbound.api_base == "http://127.0.0.1:8089");
  CHECK(s->outbound.from == "+15550001111");
  CHECK(s->outbound.calls_per_second == 2.5);
  CHECK(s->outbound.max_concurrent == 7);
  CHECK(s->outbound.api_key_sid == key_sid);
  const auto lines = app::describe(*s);
  CHECK(std::find(lines.begin(), lines.end(), "TWILIO_API_KEY_SECRET=(set)") != lines.end());
  for (const auto& l : lines) CHECK(l.find("key-secret-0123456789") == std::string::npos);
  CHECK_THAT(app::usage(), Contains("--outbound-calls-per-second (OUTBOUND_CALLS_PER_SECOND)"));
}

TEST_CASE("outbound settings: bad values are errors naming the setting", "[server][settings][outbound]") {
  const auto with = [](std::string name, std::string value) {
    auto env = outbound_env();
    env[name] = value;
    return env;
  };
  CHECK_THAT(error_of(with("TWILIO_ACCOUNT_SID", "AC123")), Contains("TWILIO_ACCOUNT_SID must be an account SID"));
  CHECK_THAT(error_of(with("TWILIO_API_BASE", "http://api.twilio.com")),
             Contains("TWILIO_API_BASE must be an https:// origin"));
  CHECK_THAT(error_of(with("TWILIO_API_BASE", "https://api.twilio.com/2010-04-01")), Contains("without a path"));
  CHECK_THAT(error_of(with("TWILIO_FROM", "5550001111")), Contains("TWILIO_FROM must be an E.164 phone number"));
  CHECK_THAT(error_of(with("OUTBOUND_CALLS_PER_SECOND", "0")), Contains("from 0.01 to 100, not '0'"));
  CHECK_THAT(error_of(with("OUTBOUND_CALLS_PER_SECOND", "fast")), Contains("OUTBOUND_CALLS_PER_SECOND must be"));
  CHECK_THAT(error_of(with("OUTBOUND_MAX_CONCURRENT", "0")), Contains("OUTBOUND_MAX_CONCURRENT must be"));
  CHECK_THAT(error_of(with("TWILIO_API_KEY_SID", std::string(key_sid))), Contains("go together"));
  // The secret is never echoed, even in a mistake next to it.
  auto env = with("TWILIO_API_KEY_SECRET", "key-secret-0123456789");
  env["TWILIO_API_KEY_SID"] = "SK-key-secret-0123456789";
  const std::string message = error_of(env);
  CHECK(message.find("key-secret-0123456789") == std::string::npos);
}

TEST_CASE("outbound settings: what they need of the others", "[server][settings][outbound]") {
  auto env = outbound_env();
  env.erase("PUBLIC_URL");
  env.erase("TWILIO_AUTH_TOKEN");
  CHECK_THAT(error_of(env), Contains("needs TWILIO_AUTH_TOKEN, or an API key pair"));
  env = outbound_env();
  env.erase("PUBLIC_URL");
  env.erase("TWILIO_AUTH_TOKEN");
  env["TWILIO_API_KEY_SID"] = std::string(key_sid);
  env["TWILIO_API_KEY_SECRET"] = "key-secret-0123456789";
  CHECK_THAT(error_of(env), Contains("TWILIO_ACCOUNT_SID needs PUBLIC_URL"));
  env = outbound_env();
  env.erase("ADMIN_TOKEN");
  CHECK_THAT(error_of(env), Contains("TWILIO_ACCOUNT_SID needs ADMIN_TOKEN"));
  CHECK_THAT(error_of({{"TWILIO_FROM", "+15550001111"}}), Contains("TWILIO_ACCOUNT_SID is not"));
}
