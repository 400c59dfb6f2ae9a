#include "realtime_bridge/fetch.hpp"

namespace rtb {

std::string_view to_string(fetch_error e) noexcept {
  switch (e) {
    case fetch_error::none: return "none";
    case fetch_error::bad_url: return "bad_url";
    case fetch_error::connect_failed: return "connect_failed";
    case fetch_error::timeout: return "timeout";
    case fetch_error::too_large: return "too_large";
    case fetch_error::stopped: return "stopped";
  }
  return "unknown";
}

}  // namespace rtb
