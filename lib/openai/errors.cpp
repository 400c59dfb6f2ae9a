#include "realtime_bridge/openai/errors.hpp"

#include <array>

namespace rtb::openai {
namespace {

// No later request on this session can succeed.
constexpr std::array<std::string_view, 10> always_fatal = {
    "invalid_api_key",
    "beta_api_shape_disabled",
    "invalid_model",
    "model_not_found",
    "session_expired",
    "insufficient_quota",
    "account_deactivated",
    "organization_deactivated",
    "billing_hard_limit_reached",
    "unsupported_country_region_territory",
};

// A bad client event. Fatal only when it was our session.update.
constexpr std::array<std::string_view, 4> parameter_errors = {"unknown_parameter", "invalid_type",
                                                              "missing_required_parameter", "invalid_value"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view code) {
  for (auto c : set)
    if (c == code) return true;
  return false;
}

}  // namespace

error_severity classify_error(std::string_view code, bool configuring) noexcept {
  if (contains(always_fatal, code)) return error_severity::fatal;
  if (configuring && contains(parameter_errors, code)) return error_severity::fatal;
  return error_severity::recoverable;
}

error_severity classify_response_failure(std::string_view code) noexcept {
  return contains(always_fatal, code) ? error_severity::fatal : error_severity::recoverable;
}

bool is_truncate_rejection(std::string_view message) noexcept {
  return message.find("is already shorter than") != std::string_view::npos ||
         message.find("can be truncated") != std::string_view::npos;
}

}  // namespace rtb::openai
