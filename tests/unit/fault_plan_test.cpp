// The fault matrix's model: the table in docs/design.md is the one the model
// renders, and the matrix covers what it claims to.
#include <fstream>
#include <iterator>
#include <set>

#include <catch2/catch.hpp>

#include "peers/fault_plan.hpp"

using namespace rtb::peers::faults;

TEST_CASE("docs/design.md carries the fault matrix exactly as the model renders it", "[fault_plan]") {
  std::ifstream in(std::string(RTB_SOURCE_DIR) + "/docs/design.md");
  REQUIRE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- fault matrix: begin -->\n", end = "<!-- fault matrix: end -->";
  const auto from = doc.find(begin), to = doc.find(end);
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  const std::string table = doc.substr(from + begin.size(), to - from - begin.size());
  INFO("the table docs/design.md should carry between the markers:\n" << markdown_table());
  CHECK(table == "\n" + markdown_table() + "\n");
}

TEST_CASE("the fault matrix covers every stage of both legs, and each cell once", "[fault_plan]") {
  std::set<std::string> names;
  std::set<stage> openai_stages, twilio_stages;
  for (const cell& c : matrix()) {
    CHECK(names.insert(name(c)).second);
    (c.leg == leg_kind::openai ? openai_stages : twilio_stages).insert(c.at);
    CHECK(c.what != fault::none);
    if (c.expect.call_goes_on) CHECK(c.expect.reasons.size() == 1);
  }
  CHECK(openai_stages == std::set<stage>{stage::tcp_connecting, stage::tls_handshake, stage::upgrade_sent,
                                         stage::configuring, stage::open, stage::closing});
  CHECK(twilio_stages == std::set<stage>{stage::upgrading, stage::before_start, stage::streaming, stage::closing});
  CHECK(names.size() >= 60);
}
