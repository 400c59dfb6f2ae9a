// Internal: the little of a SQL connection the store needs, so that one
// implementation of the store (sql_backend) runs on SQLite and on PostgreSQL.
//
// Statements use $1, $2... for parameters on both backends (SQLite takes
// them as named parameters and binds them by name, so their order in the text
// does not matter). Results come back as text, as PostgreSQL's text protocol
// gives them; NULL is nullopt.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/result.hpp"

namespace rtb::service::detail {

using sql_param = std::variant<std::nullptr_t, std::int64_t, double, std::string_view>;
using sql_row = std::vector<std::optional<std::string>>;

class sql_connection {
 public:
  virtual ~sql_connection() = default;

  /// Runs statements without parameters (several, separated by ';', allowed).
  [[nodiscard]] virtual result<void> exec(std::string_view sql) = 0;
  /// Runs one statement, prepared once per connection and kept; returns the
  /// rows it changed. For the write path: `sql` should be a constant.
  [[nodiscard]] virtual result<std::int64_t> run(std::string_view sql, std::span<const sql_param> params) = 0;
  /// Runs one query (not kept prepared) and returns its rows.
  [[nodiscard]] virtual result<std::vector<sql_row>> query(std::string_view sql, std::span<const sql_param> params) = 0;
  /// Starts the transaction that applies migrations: no other instance can
  /// start one until it ends (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
  /// advisory lock held to the end of the transaction).
  [[nodiscard]] virtual result<void> begin_exclusive() = 0;
  /// If the connection is broken, tries to open it again.
  virtual void reconnect() {}
};

[[nodiscard]] result<std::unique_ptr<sql_connection>> open_sqlite_connection(const std::string& path,
                                                                             std::chrono::milliseconds busy_timeout,
                                                                             bool writer);
/// `uri` is handed to libpq (a postgresql:// URI or a conninfo string).
[[nodiscard]] result<std::unique_ptr<sql_connection>> open_postgres_connection(const std::string& uri,
                                                                               std::string_view application_name);

}  // namespace rtb::service::detail
