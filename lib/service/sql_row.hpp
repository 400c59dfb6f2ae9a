// Reading a row of a query's result back (sql_connection::query): columns by
// index. Columns the schema declares NOT NULL are never null; a null where a
// value is expected reads as empty or 0 rather than failing a read.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "realtime_bridge/service/call_store.hpp"
#include "service/sql_connection.hpp"

namespace rtb::service::detail {

inline const std::string& text_at(const sql_row& row, std::size_t i) {
  static const std::string empty;
  return row[i] ? *row[i] : empty;
}
inline std::int64_t int_at(const sql_row& row, std::size_t i) {
  std::int64_t n = 0;
  if (row[i]) std::from_chars(row[i]->data(), row[i]->data() + row[i]->size(), n);
  return n;
}
inline std::optional<std::int64_t> optional_int_at(const sql_row& row, std::size_t i) {
  if (!row[i]) return std::nullopt;
  return int_at(row, i);
}
inline store_time time_at(const sql_row& row, std::size_t i) {
  return store_time{std::chrono::milliseconds{int_at(row, i)}};
}
inline std::optional<store_time> optional_time_at(const sql_row& row, std::size_t i) {
  if (!row[i]) return std::nullopt;
  return time_at(row, i);
}
inline double double_at(const sql_row& row, std::size_t i) {
  double d = 0;
  if (row[i]) std::from_chars(row[i]->data(), row[i]->data() + row[i]->size(), d);
  return d;
}

}  // namespace rtb::service::detail
