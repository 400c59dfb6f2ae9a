#include "realtime_bridge/shared_parser.hpp"

#include "json.hpp"  // shared_parser::impl

namespace rtb {

shared_parser::shared_parser() : impl_(std::make_unique<impl>()) {}
shared_parser::~shared_parser() = default;

}  // namespace rtb
