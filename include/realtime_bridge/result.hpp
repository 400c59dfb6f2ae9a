// A minimal std::expected look-alike: the core's API never throws for bad input.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rtb {

/// What went wrong, by category. The message says exactly what and where.
enum class errc {
  malformed_json,  ///< not JSON, truncated, or the top level is not an object
  missing_field,   ///< a required field is absent (the message names it)
  wrong_type,      ///< a field has a type the protocol does not allow
  invalid_value,   ///< a field has the right type but an unusable value
  too_large,       ///< a message exceeds the configured size limit
  invalid_config,  ///< a configuration value is unusable
  invalid_trace,   ///< a recorded trace line cannot be replayed
};

std::string_view to_string(errc code) noexcept;

struct error {
  errc code;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

/// Holds either a T or an error. Mirrors the std::expected subset we need, so it
/// can become `std::expected<T, error>` once the toolchain moves to C++23.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}   // NOLINT: implicit by design
  result(rtb::error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const rtb::error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, rtb::error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(rtb::error e) : e_(std::move(e)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  const rtb::error& error() const { return *e_; }

 private:
  std::optional<rtb::error> e_;
};

}  // namespace rtb
