// The databases the store tests run on, one type per backend, so that every
// scenario is a TEMPLATE_TEST_CASE over both.
//
// PostgreSQL: the server tests/pg/start_cluster.sh started (ctest's fixture
// writes its URL to the file RTB_TEST_POSTGRES_URL_FILE names), or the one
// RTB_TEST_POSTGRES_URL names. Each database object gets a schema of its own
// (through the URL's search_path), so tests run in parallel on one server.
// Without a server the PostgreSQL cases skip, with a message, unless
// RTB_REQUIRE_POSTGRES=1 (CI), where they fail.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/migrations.hpp"
#include "realtime_bridge/service/store_url.hpp"
#include "service/sql_connection.hpp"

namespace rtb::test {

using namespace std::chrono_literals;

/// A fresh SQLite database in a temporary directory, removed afterwards.
class sqlite_db {
 public:
  static constexpr const char* name = "SQLite";
  sqlite_db();
  ~sqlite_db();
  sqlite_db(const sqlite_db&) = delete;
  sqlite_db& operator=(const sqlite_db&) = delete;

  bool available() const { return true; }
  std::string skip_reason() const { return {}; }
  service::database_url url() const { return {service::database_url::kind::sqlite, path_}; }
  const std::string& path() const { return path_; }
  result<std::unique_ptr<service::store_backend>> open_backend(
      const std::string& instance,
      std::span<const service::migration> migrations = service::call_store_migrations()) const;
  /// A connection of the test's own, for looking under the store.
  std::unique_ptr<service::detail::sql_connection> raw() const;
  /// Bytes the database takes on disk (after a checkpoint).
  std::uint64_t bytes_on_disk() const;

 private:
  std::string dir_;
  std::string path_;
};

/// A fresh schema on the test PostgreSQL server, dropped afterwards.
class postgres_db {
 public:
  static constexpr const char* name = "PostgreSQL";
  postgres_db();
  ~postgres_db();
  postgres_db(const postgres_db&) = delete;
  postgres_db& operator=(const postgres_db&) = delete;

  bool available() const { return !uri_.empty(); }
  std::string skip_reason() const { return skip_reason_; }
  service::database_url url() const { return {service::database_url::kind::postgresql, uri_}; }
  result<std::unique_ptr<service::store_backend>> open_backend(
      const std::string& instance,
      std::span<const service::migration> migrations = service::call_store_migrations()) const;
  std::unique_ptr<service::detail::sql_connection> raw() const;

 private:
  std::string admin_uri_;
  std::string schema_;
  std::string uri_;
  std::string skip_reason_;
};

/// True when RTB_REQUIRE_POSTGRES=1.
bool postgres_required();

/// The server's base URL, or empty (with the reason in `why`).
std::string test_postgres_url(std::string* why = nullptr);

/// Runs `sql` on `conn` and returns the first column of the first row.
std::string query_one(service::detail::sql_connection& conn, const std::string& sql);

}  // namespace rtb::test

/// Skips the rest of a test case when its database is not there (failing
/// instead where RTB_REQUIRE_POSTGRES=1).
#define RTB_NEED_DATABASE(db)                                                                        \
  do {                                                                                               \
    if (!(db).available()) {                                                                         \
      if (rtb::test::postgres_required()) FAIL((db).name << " is required: " << (db).skip_reason()); \
      WARN((db).name << " SKIPPED: " << (db).skip_reason());                                         \
      return;                                                                                        \
    }                                                                                                \
  } while (0)
