// A call store that keeps what it is given, for tests of what gets recorded.
#pragma once

#include <optional>
#include <variant>
#include <vector>

#include "realtime_bridge/service/call_store.hpp"

namespace rtb::test {

struct memory_store final : service::call_store {
  std::vector<service::record> records;
  void record(service::record r) noexcept override { records.push_back(std::move(r)); }
  result<service::call_page> list_calls(const service::call_query&) override { return service::call_page{}; }
  result<std::optional<service::call_detail>> get_call(std::string_view) override {
    return std::optional<service::call_detail>{};
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  service::store_stats stats() const override { return {}; }
  /// The records of one kind, in order.
  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& r : records)
      if (const auto* x = std::get_if<T>(&r)) out.push_back(*x);
    return out;
  }
};

}  // namespace rtb::test
