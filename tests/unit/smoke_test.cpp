#include "support/test_support.hpp"

TEST_CASE("test support: base64 helper matches known vectors", "[support]") {
  CHECK(rtb::test::base64("") == "");
  CHECK(rtb::test::base64("f") == "Zg==");
  CHECK(rtb::test::base64("fo") == "Zm8=");
  CHECK(rtb::test::base64("foo") == "Zm9v");
  CHECK(rtb::test::frame().size() == 216);
}
