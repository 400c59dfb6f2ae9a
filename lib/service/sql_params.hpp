// The parameters of one SQL statement, for both backends: text is made
// storable (invalid UTF-8 and NUL bytes, which PostgreSQL refuses, become
// U+FFFD) into storage that lives as long as the list.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/service/call_store.hpp"
#include "service/sql_connection.hpp"

namespace rtb::service::detail {

/// `text` if it is valid UTF-8 without NUL, else a cleaned copy kept in `scratch`.
std::string_view clean_text(std::string_view text, std::string& scratch);

class sql_params {
 public:
  sql_params& text(std::string_view t);
  sql_params& integer(std::int64_t n) {
    list_.emplace_back(n);
    return *this;
  }
  sql_params& real(double d) {
    list_.emplace_back(d);
    return *this;
  }
  sql_params& time(store_time t) { return integer(t.time_since_epoch().count()); }
  sql_params& optional_time(const std::optional<store_time>& t) {
    if (t) return time(*t);
    list_.emplace_back(nullptr);
    return *this;
  }
  sql_params& optional_integer(const std::optional<std::int64_t>& n) {
    if (n) return integer(*n);
    list_.emplace_back(nullptr);
    return *this;
  }
  sql_params& optional_text(const std::optional<std::string>& t) {
    if (t) return text(*t);
    list_.emplace_back(nullptr);
    return *this;
  }
  /// The placeholder of the parameter added last ("$3").
  std::string last() const { return "$" + std::to_string(list_.size()); }
  std::span<const sql_param> span() const noexcept { return list_; }

 private:
  std::vector<sql_param> list_;
  std::deque<std::string> scratch_;  // a deque: string_views into it stay valid as it grows
};

}  // namespace rtb::service::detail
