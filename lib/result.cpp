#include "realtime_bridge/result.hpp"

namespace rtb {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::malformed_json: return "malformed_json";
    case errc::missing_field: return "missing_field";
    case errc::wrong_type: return "wrong_type";
    case errc::invalid_value: return "invalid_value";
    case errc::too_large: return "too_large";
    case errc::invalid_config: return "invalid_config";
    case errc::invalid_trace: return "invalid_trace";
  }
  return "unknown";
}

}  // namespace rtb
