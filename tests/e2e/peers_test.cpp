// placeholder: the fake peers' own tests are being written
#include <catch2/catch.hpp>
