// The PostgreSQL backend: the store's SQL (sql_backend.cpp) over two libpq
// connections, one for the writer thread and one for readers.
//
// Parameters go as text (PostgreSQL parses them by the column's type); the
// write statements are prepared once per connection. A connection that breaks
// is reset when the writer retries (recover_connection) or after a failed
// read; its prepared statements are prepared again.
#include "realtime_bridge/service/postgres_store.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <string>
#include <unordered_map>
#include <vector>

#include "service/sql_backend.hpp"
#include "service/sql_connection.hpp"

namespace rtb::service {

namespace detail {

namespace {

std::string trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

class pg_result {
 public:
  explicit pg_result(PGresult* r) : r_(r) {}
  ~pg_result() { PQclear(r_); }
  pg_result(const pg_result&) = delete;
  pg_result& operator=(const pg_result&) = delete;
  PGresult* get() const noexcept { return r_; }

 private:
  PGresult* r_;
};

class pg_connection final : public sql_connection {
 public:
  explicit pg_connection(PGconn* conn) : conn_(conn) {}
  ~pg_connection() override { PQfinish(conn_); }
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  result<void> exec(std::string_view sql) override {
    pg_result r(PQexec(conn_, std::string(sql).c_str()));
    if (auto e = check(r.get())) return *e;
    return {};
  }

  result<std::int64_t> run(std::string_view sql, std::span<const sql_param> params) override {
    auto it = prepared_.find(std::string(sql));
    if (it == prepared_.end()) {
      std::string name = "rtb_" + std::to_string(prepared_.size() + 1);
      pg_result r(PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr));
      if (auto e = check(r.get())) return *e;
      it = prepared_.emplace(std::string(sql), std::move(name)).first;
    }
    const text_params values(params);
    pg_result r(PQexecPrepared(conn_, it->second.c_str(), values.count(), values.values(), nullptr, nullptr, 0));
    if (auto e = check(r.get())) return *e;
    std::int64_t changed = 0;
    const char* n = PQcmdTuples(r.get());
    std::from_chars(n, n + std::char_traits<char>::length(n), changed);
    return changed;
  }

  result<std::vector<sql_row>> query(std::string_view sql, std::span<const sql_param> params) override {
    const text_params values(params);
    pg_result r(
        PQexecParams(conn_, std::string(sql).c_str(), values.count(), nullptr, values.values(), nullptr, nullptr, 0));
    if (auto e = check(r.get())) return *e;
    std::vector<sql_row> rows;
    const int n = PQntuples(r.get());
    const int columns = PQnfields(r.get());
    rows.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      sql_row& row = rows.emplace_back();
      row.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (PQgetisnull(r.get(), i, c)) {
          row.emplace_back();
        } else {
          row.emplace_back(
              std::string(PQgetvalue(r.get(), i, c), static_cast<std::size_t>(PQgetlength(r.get(), i, c))));
        }
      }
    }
    return rows;
  }

  result<void> begin_exclusive() override {
    // Any constant works as long as it is always the same: every instance
    // migrating this database waits here for the others.
    return exec("BEGIN; SELECT pg_advisory_xact_lock(7142240385)");
  }

  void reconnect() override {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    PQreset(conn_);
    prepared_.clear();
  }

 private:
  // Parameters in PostgreSQL's text format, NUL-terminated.
  class text_params {
   public:
    explicit text_params(std::span<const sql_param> params) {
      storage_.reserve(params.size());
      for (const sql_param& p : params) {
        if (std::holds_alternative<std::nullptr_t>(p)) {
          storage_.emplace_back();
          null_.push_back(true);
          continue;
        }
        null_.push_back(false);
        if (const auto* n = std::get_if<std::int64_t>(&p)) {
          storage_.push_back(std::to_string(*n));
        } else if (const auto* d = std::get_if<double>(&p)) {
          char buf[32];
          storage_.emplace_back(buf, std::to_chars(buf, buf + sizeof buf, *d).ptr);
        } else {
          storage_.emplace_back(std::get<std::string_view>(p));
        }
      }
      for (std::size_t i = 0; i < storage_.size(); ++i) pointers_.push_back(null_[i] ? nullptr : storage_[i].c_str());
    }
    int count() const noexcept { return static_cast<int>(pointers_.size()); }
    const char* const* values() const noexcept { return pointers_.data(); }

   private:
    std::vector<std::string> storage_;
    std::vector<bool> null_;
    std::vector<const char*> pointers_;
  };

  std::optional<rtb::error> check(PGresult* r) {
    const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return std::nullopt;
    return rtb::error{errc::invalid_value,
                      "postgresql: " + trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_))};
  }

  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;
};

void ignore_notice(void*, const char*) {}

}  // namespace

result<std::unique_ptr<sql_connection>> open_postgres_connection(const std::string& uri,
                                                                 std::string_view application_name) {
  const std::string app(application_name);
  // Keywords before dbname are defaults the URI can override; expand_dbname
  // makes libpq read the URI (or conninfo string) given as dbname. A server
  // that stops answering must not hold the writer (and stop()) forever: TCP
  // keepalives and tcp_user_timeout make a dead connection fail in about 30 s.
  const char* keywords[] = {"connect_timeout",  "keepalives",
                            "keepalives_idle",  "keepalives_interval",
                            "keepalives_count", "tcp_user_timeout",
                            "application_name", "client_encoding",
                            "dbname",           nullptr};
  const char* values[] = {"10", "1", "10", "5", "3", "30000", app.c_str(), "UTF8", uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  if (!conn) return rtb::error{errc::invalid_config, "postgresql: out of memory"};
  if (PQstatus(conn) != CONNECTION_OK) {
    rtb::error e{errc::invalid_config, "postgresql: cannot connect: " + trimmed(PQerrorMessage(conn))};
    PQfinish(conn);
    return e;
  }
  // NOTICEs ("relation already exists, skipping") would go to stderr.
  PQsetNoticeProcessor(conn, ignore_notice, nullptr);
  return std::unique_ptr<sql_connection>(std::make_unique<pg_connection>(conn));
}

}  // namespace detail

result<std::unique_ptr<store_backend>> open_postgres_backend(const postgres_options& options,
                                                             std::span<const migration> migrations) {
  auto writer = detail::open_postgres_connection(options.uri, "realtime-bridge store writer");
  if (!writer) return writer.error();
  auto backend = detail::sql_backend::open(std::move(*writer), options.instance,
                                           detail::sql_backend::recovery::own_instance, migrations);
  if (!backend) return backend.error();
  auto reader = detail::open_postgres_connection(options.uri, "realtime-bridge store reader");
  if (!reader) return reader.error();
  (*backend)->set_reader(std::move(*reader));
  return std::unique_ptr<store_backend>(std::move(*backend));
}

}  // namespace rtb::service
