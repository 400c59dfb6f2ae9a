// realtime-bridge-server's /incoming-call: the signature is checked over the
// request target as received (http_request::target), and a GET's call fields
// come from its query. Signatures are from Twilio's helper library (npm
// twilio 6.2.0, getExpectedTwilioSignature), token "12345".
#include <string>

#include <catch2/catch.hpp>

#include "server/app.hpp"
#include "server/settings.hpp"

namespace app = rtb::server_app;
using rtb::lws_adapter::http_request;

namespace {

app::settings signed_settings() {
  app::settings s;
  s.public_url = "https://bridge.example.com";
  s.twilio_auth_token = "12345";
  return s;
}

constexpr const char* get_query =
    "From=%2B14155550100&To=%2B15005550006&CallSid=CA5f0e1d2c3b4a59687f8e9d0c1b2a3948&CallerName=Jane+Doe";
// https://bridge.example.com/incoming-call?<get_query>, no parameters.
constexpr const char* get_signature = "+uJo97Y178ZTcvqsaQL7+sektHo=";

http_request get_request() {
  http_request r;
  r.method = "GET";
  r.path = "/incoming-call";
  r.query = get_query;
  r.target = std::string("/incoming-call?") + get_query;
  r.twilio_signature = get_signature;
  return r;
}

constexpr const char* parameters =
    R"(<Parameter name="From" value="+14155550100"/><Parameter name="To" value="+15005550006"/>)"
    R"(<Parameter name="CallSid" value="CA5f0e1d2c3b4a59687f8e9d0c1b2a3948"/>)";

}  // namespace

TEST_CASE("/incoming-call: a signed GET is checked over its query as received", "[server][signature]") {
  app::bridge_app a(signed_settings());
  SECTION("accepted, and its call fields become the stream's parameters, decoded") {
    const auto r = a.on_http(get_request());
    CHECK(r.status == 200);
    CHECK(r.body.find(parameters) != std::string::npos);
  }
  SECTION("the query as lws decodes it does not validate") {
    http_request r = get_request();
    r.query = "From=+14155550100&To=+15005550006&CallSid=CA5f0e1d2c3b4a59687f8e9d0c1b2a3948&CallerName=Jane Doe";
    r.target = "/incoming-call?" + r.query;
    CHECK(a.on_http(r).status == 403);
  }
  SECTION("a changed query, signature or a missing target") {
    http_request r = get_request();
    r.target += "&Extra=1";
    CHECK(a.on_http(r).status == 403);
    r = get_request();
    r.twilio_signature = "qVyYSnrW04Vq/1tOewugQjdW7Jc=";
    CHECK(a.on_http(r).status == 403);
    r = get_request();
    r.twilio_signature.clear();
    CHECK(a.on_http(r).status == 403);
    // Without the target as received only the path is known: the signed
    // query is missing, so it fails closed.
    r = get_request();
    r.target.clear();
    CHECK(a.on_http(r).status == 403);
  }
}

TEST_CASE("/incoming-call: a signed POST with a query string", "[server][signature]") {
  app::bridge_app a(signed_settings());
  http_request r;
  r.method = "POST";
  r.path = "/incoming-call";
  r.target = "/incoming-call?tenant=acme";
  r.query = "tenant=acme";
  r.body = "From=%2B14155550100&CallerName=Jane+Doe&To=%2B15005550006&CallSid=CA1";
  r.content_type = "application/x-www-form-urlencoded";
  // https://bridge.example.com/incoming-call?tenant=acme, with the four form parameters.
  r.twilio_signature = "ahK3TaTOeKTj1uBTGZ/Expq4/Yw=";
  const auto ok = a.on_http(r);
  CHECK(ok.status == 200);
  CHECK(ok.body.find(R"(<Parameter name="From" value="+14155550100"/><Parameter name="To" value="+15005550006"/>)"
                     R"(<Parameter name="CallSid" value="CA1"/>)") != std::string::npos);
  r.body = "From=%2B14155550101&CallerName=Jane+Doe&To=%2B15005550006&CallSid=CA1";
  CHECK(a.on_http(r).status == 403);
}

TEST_CASE("/incoming-call without signature checks: a GET's call fields still reach the TwiML", "[server]") {
  app::settings s;
  s.public_url = "https://bridge.example.com";
  app::bridge_app a(s);
  http_request r = get_request();
  r.twilio_signature.clear();
  const auto answer = a.on_http(r);
  CHECK(answer.status == 200);
  CHECK(answer.body.find(parameters) != std::string::npos);
}
