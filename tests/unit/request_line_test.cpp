// The request line the adapter reads before lws does (lib/lws/request_line.hpp):
// the target must come out byte for byte, whatever lws would decode.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "lws/request_line.hpp"

using rtb::lws_adapter::line_scan;
using rtb::lws_adapter::request_line;
using rtb::lws_adapter::scan_request_line;

namespace {

line_scan scan(std::string_view bytes, request_line& out) { return scan_request_line(bytes, out); }

}  // namespace

TEST_CASE("scan_request_line returns the target exactly as received", "[lws][request_line]") {
  request_line line;
  SECTION("a signed GET webhook: escapes, '+', ';' and '=' untouched") {
    const std::string bytes =
        "GET /incoming-call?From=%2B14155550100&CallerName=Jane+Doe&Note=a;b%3D%26 HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(scan(bytes, line) == line_scan::complete);
    CHECK(line.method == "GET");
    CHECK(line.target == "/incoming-call?From=%2B14155550100&CallerName=Jane+Doe&Note=a;b%3D%26");
  }
  SECTION("the path is not normalised either") {
    REQUIRE(scan("POST //incoming-call/./x/../%41 HTTP/1.1\r\n", line) == line_scan::complete);
    CHECK(line.method == "POST");
    CHECK(line.target == "//incoming-call/./x/../%41");
  }
  SECTION("the views point into the bytes") {
    const std::string bytes = "GET /a?b=c HTTP/1.1\r\n";
    REQUIRE(scan(bytes, line) == line_scan::complete);
    CHECK(line.target.data() == bytes.data() + 4);
  }
  SECTION("a bare LF ends the line, and empty lines before it are skipped") {
    REQUIRE(scan("\r\n\nGET /x?y=%20 HTTP/1.0\n", line) == line_scan::complete);
    CHECK(line.target == "/x?y=%20");
  }
  SECTION("the stream upgrade") {
    REQUIRE(scan("GET /media-stream HTTP/1.1\r\nUpgrade: websocket\r\n", line) == line_scan::complete);
    CHECK(line.target == "/media-stream");
  }
}

TEST_CASE("scan_request_line waits for the end of the line", "[lws][request_line]") {
  request_line line;
  CHECK(scan("", line) == line_scan::incomplete);
  CHECK(scan("\r\n", line) == line_scan::incomplete);
  CHECK(scan("GET /incoming-call?From=%2B1415", line) == line_scan::incomplete);
  CHECK(scan("GET /incoming-call HTTP/1.1\r", line) == line_scan::incomplete);
}

TEST_CASE("scan_request_line calls anything else malformed, for lws to answer", "[lws][request_line]") {
  request_line line;
  CHECK(scan("GET\r\n", line) == line_scan::malformed);
  CHECK(scan(" /x HTTP/1.1\r\n", line) == line_scan::malformed);
  CHECK(scan("GET  HTTP/1.1\r\n", line) == line_scan::malformed);
  CHECK(scan("GET /x\r\n", line) == line_scan::malformed);             // HTTP/0.9
  CHECK(scan("GET /a b HTTP/1.1\r\n", line) == line_scan::malformed);  // a space in the target
  using namespace std::string_view_literals;
  CHECK(scan("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n"sv, line) == line_scan::malformed);  // TLS on a plain port
}
