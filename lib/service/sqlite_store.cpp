// The SQLite backend: the store's SQL (sql_backend.cpp) over two connections
// to one file in WAL mode, one for the writer thread and one for readers.
//
// Settings, and why:
// - journal_mode=WAL: readers never block the writer and the writer never
//   blocks readers, so the calls page can read while calls are written.
// - synchronous=NORMAL: in WAL mode a commit is then written to the WAL but
//   not fsync'ed; the WAL is synced at checkpoints. A crash of the process
//   (even SIGKILL) loses nothing committed, because the data is in the OS's
//   page cache; only a power failure or kernel crash can lose the last
//   commits, and the database stays consistent either way. FULL would fsync
//   every batch, costing milliseconds per commit for a guarantee the records
//   (a log of calls, not money) do not need.
// - busy_timeout: another process on the same file (a backup, the sqlite3
//   shell, a second instance started by mistake) makes us wait, not fail.
// - foreign_keys=ON: the same constraints as PostgreSQL enforces.
#include "realtime_bridge/service/sqlite_store.hpp"

#include <sqlite3.h>

#include <charconv>
#include <filesystem>
#include <string>
#include <system_error>
#include <unordered_map>

#include "service/sql_backend.hpp"
#include "service/sql_connection.hpp"

namespace rtb::service {

namespace detail {

namespace {

rtb::error sqlite_error(sqlite3* db, std::string_view what) {
  return {errc::invalid_value, "sqlite: " + std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory")};
}

class sqlite_connection final : public sql_connection {
 public:
  explicit sqlite_connection(sqlite3* db) : db_(db) {}
  ~sqlite_connection() override {
    for (auto& [sql, s] : statements_) sqlite3_finalize(s.stmt);
    sqlite3_close_v2(db_);
  }
  sqlite_connection(const sqlite_connection&) = delete;
  sqlite_connection& operator=(const sqlite_connection&) = delete;

  result<void> exec(std::string_view sql) override {
    const std::string text(sql);
    char* message = nullptr;
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      rtb::error e{errc::invalid_value, std::string("sqlite: ") + (message ? message : sqlite3_errmsg(db_))};
      sqlite3_free(message);
      return e;
    }
    return {};
  }

  result<std::int64_t> run(std::string_view sql, std::span<const sql_param> params) override {
    auto it = statements_.find(std::string(sql));
    if (it == statements_.end()) {
      auto prepared = prepare(sql, SQLITE_PREPARE_PERSISTENT);
      if (!prepared) return prepared.error();
      it = statements_.emplace(std::string(sql), *prepared).first;
    }
    const statement& s = it->second;
    sqlite3_reset(s.stmt);
    sqlite3_clear_bindings(s.stmt);
    if (auto bound = bind(s, params); !bound) return bound.error();
    int rc;
    while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    }
    sqlite3_reset(s.stmt);
    if (rc != SQLITE_DONE) return sqlite_error(db_, "step");
    return static_cast<std::int64_t>(sqlite3_changes64(db_));
  }

  result<std::vector<sql_row>> query(std::string_view sql, std::span<const sql_param> params) override {
    auto prepared = prepare(sql, 0);
    if (!prepared) return prepared.error();
    const statement s = *prepared;
    std::vector<sql_row> rows;
    auto bound = bind(s, params);
    int rc = SQLITE_DONE;
    if (bound) {
      const int columns = sqlite3_column_count(s.stmt);
      while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
        sql_row& row = rows.emplace_back();
        row.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
          const int type = sqlite3_column_type(s.stmt, c);
          if (type == SQLITE_NULL) {
            row.emplace_back();
          } else if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
            // SQLite's own text for a REAL keeps 15 digits; PostgreSQL's is
            // the shortest that reads back exactly. Both backends give the latter.
            char buf[32];
            const auto end = type == SQLITE_INTEGER
                                 ? std::to_chars(buf, buf + sizeof buf, sqlite3_column_int64(s.stmt, c)).ptr
                                 : std::to_chars(buf, buf + sizeof buf, sqlite3_column_double(s.stmt, c)).ptr;
            row.emplace_back(std::string(buf, end));
          } else {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, c));
            row.emplace_back(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s.stmt, c))));
          }
        }
      }
    }
    sqlite3_finalize(s.stmt);
    if (!bound) return bound.error();
    if (rc != SQLITE_DONE) return sqlite_error(db_, "query");
    return rows;
  }

  result<void> begin_exclusive() override { return exec("BEGIN IMMEDIATE"); }

 private:
  struct statement {
    sqlite3_stmt* stmt = nullptr;
    std::vector<int> slots;  ///< slots[i]: the index of parameter $i+1 (0 if unused)
  };

  result<statement> prepare(std::string_view sql, unsigned flags) {
    statement s;
    if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), flags, &s.stmt, nullptr) != SQLITE_OK) {
      return sqlite_error(db_, "prepare");
    }
    const int count = sqlite3_bind_parameter_count(s.stmt);
    for (int i = 1; i <= count; ++i) {
      const std::string name = "$" + std::to_string(i);
      s.slots.push_back(sqlite3_bind_parameter_index(s.stmt, name.c_str()));
    }
    return s;
  }

  result<void> bind(const statement& s, std::span<const sql_param> params) {
    for (std::size_t i = 0; i < params.size() && i < s.slots.size(); ++i) {
      const int slot = s.slots[i];
      if (slot == 0) continue;
      int rc = SQLITE_OK;
      if (const auto* n = std::get_if<std::int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(s.stmt, slot, *n);
      } else if (const auto* d = std::get_if<double>(&params[i])) {
        rc = sqlite3_bind_double(s.stmt, slot, *d);
      } else if (const auto* t = std::get_if<std::string_view>(&params[i])) {
        rc = sqlite3_bind_text64(s.stmt, slot, t->data(), t->size(), SQLITE_STATIC, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(s.stmt, slot);
      }
      if (rc != SQLITE_OK) return sqlite_error(db_, "bind");
    }
    return {};
  }

  sqlite3* db_;
  std::unordered_map<std::string, statement> statements_;
};

}  // namespace

result<std::unique_ptr<sql_connection>> open_sqlite_connection(const std::string& path,
                                                               std::chrono::milliseconds busy_timeout, bool writer) {
  if (writer) {
    const auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return rtb::error{errc::invalid_config, "sqlite: cannot create " + parent.string() + ": " + ec.message()};
  }
  sqlite3* db = nullptr;
  // NOMUTEX: each connection is used by one thread at a time (the writer's, or
  // readers under the backend's read lock).
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    auto e = sqlite_error(db, "cannot open " + path);
    e.code = errc::invalid_config;
    sqlite3_close_v2(db);
    return e;
  }
  auto conn = std::make_unique<sqlite_connection>(db);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  sqlite3_extended_result_codes(db, 1);
  if (writer) {
    auto mode = conn->query("PRAGMA journal_mode=WAL", {});
    if (!mode) return mode.error();
    if (mode->empty() || !(*mode)[0][0] || *(*mode)[0][0] != "wal") {
      return rtb::error{errc::invalid_config, "sqlite: " + path + " cannot use WAL mode"};
    }
    if (auto r = conn->exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON"); !r) return r.error();
  } else {
    if (auto r = conn->exec("PRAGMA query_only=ON"); !r) return r.error();
  }
  return std::unique_ptr<sql_connection>(std::move(conn));
}

}  // namespace detail

result<std::unique_ptr<store_backend>> open_sqlite_backend(const sqlite_options& options,
                                                           std::span<const migration> migrations) {
  auto writer = detail::open_sqlite_connection(options.path, options.busy_timeout, true);
  if (!writer) return writer.error();
  auto backend = detail::sql_backend::open(std::move(*writer), options.instance,
                                           detail::sql_backend::recovery::all_instances, migrations);
  if (!backend) return backend.error();
  // The reader opens once the writer has created the file and set WAL mode.
  auto reader = detail::open_sqlite_connection(options.path, options.busy_timeout, false);
  if (!reader) return reader.error();
  (*backend)->set_reader(std::move(*reader));
  return std::unique_ptr<store_backend>(std::move(*backend));
}

}  // namespace rtb::service
