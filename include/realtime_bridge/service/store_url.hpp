// DATABASE_URL: which call store to open.
//
//   (unset or empty)            sqlite at default_sqlite_path, under the working directory
//   off                         no store
//   sqlite:///var/lib/x/calls.db   SQLite, absolute path (three slashes, then the path)
//   sqlite:data/calls.db        SQLite, path relative to the working directory
//   postgresql://user:pass@host:5432/db?sslmode=require   PostgreSQL (also postgres://),
//                               handed to libpq unchanged (any libpq URI parameter works)
#pragma once

#include <string>
#include <string_view>

#include "realtime_bridge/result.hpp"

namespace rtb::service {

/// Where the SQLite store goes when DATABASE_URL is unset, relative to the
/// working directory.
inline constexpr std::string_view default_sqlite_path = "data/calls.db";

struct database_url {
  enum class kind { off, sqlite, postgresql };
  kind type = kind::off;
  /// The SQLite file's path, or the PostgreSQL URI as given.
  std::string target;

  /// The URL for logs: a PostgreSQL password is replaced by `***`.
  std::string redacted() const;
  friend bool operator==(const database_url&, const database_url&) = default;
};

/// Parses a DATABASE_URL value (see the top of this file). Errors
/// (errc::invalid_config) name what is wrong without echoing a password.
[[nodiscard]] result<database_url> parse_database_url(std::string_view url);

}  // namespace rtb::service
