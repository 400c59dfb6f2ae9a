#include <catch2/catch.hpp>

#include "realtime_bridge/heard_text.hpp"

TEST_CASE("the heard part of a transcript is cut at a word boundary, in proportion to the audio heard",
          "[heard_text]") {
  const std::string_view t = "Your order has shipped, and should arrive tomorrow.";
  CHECK(rtb::heard_text(t, 0, 4000).empty());
  CHECK(rtb::heard_text(t, 4000, 4000) == t);
  CHECK(rtb::heard_text(t, 5000, 4000) == t);
  CHECK(rtb::heard_text(t, 2000, 4000) == "Your order has shipped");  // half the text ends inside "and"
  CHECK(rtb::heard_text(t, 100, 4000).empty());                       // not one whole word
  CHECK(rtb::heard_text("", 100, 200).empty());
  CHECK(rtb::heard_text(t, 100, 0).empty());
}
