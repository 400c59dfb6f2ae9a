#include "store/store_test_support.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "realtime_bridge/service/postgres_store.hpp"
#include "realtime_bridge/service/sqlite_store.hpp"

namespace rtb::test {

namespace fs = std::filesystem;

sqlite_db::sqlite_db() {
  std::string templ = (fs::temp_directory_path() / "rtb-store-XXXXXX").string();
  REQUIRE(mkdtemp(templ.data()) != nullptr);
  dir_ = templ;
  path_ = dir_ + "/calls.db";
}

sqlite_db::~sqlite_db() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

result<std::unique_ptr<service::store_backend>> sqlite_db::open_backend(
    const std::string& instance, std::span<const service::migration> migrations) const {
  return service::open_sqlite_backend({path_, instance, 5s}, migrations);
}

std::unique_ptr<service::detail::sql_connection> sqlite_db::raw() const {
  auto c = service::detail::open_sqlite_connection(path_, 5s, true);
  REQUIRE(c);
  return std::move(*c);
}

std::uint64_t sqlite_db::bytes_on_disk() const {
  auto c = raw();
  REQUIRE(c->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  std::uint64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    const auto size = fs::file_size(path_ + suffix, ec);
    if (!ec) total += size;
  }
  return total;
}

bool postgres_required() {
  const char* v = std::getenv("RTB_REQUIRE_POSTGRES");
  return v && std::string_view(v) == "1";
}

std::string test_postgres_url(std::string* why) {
  if (const char* url = std::getenv("RTB_TEST_POSTGRES_URL"); url && *url) return url;
  const char* file = std::getenv("RTB_TEST_POSTGRES_URL_FILE");
  if (!file || !*file) {
    if (why)
      *why =
          "neither RTB_TEST_POSTGRES_URL nor RTB_TEST_POSTGRES_URL_FILE is set (run through ctest, or start "
          "tests/pg/start_cluster.sh)";
    return {};
  }
  std::ifstream in(file);
  std::string url;
  if (!(in >> url) || url.empty()) {
    if (why) *why = std::string("no server: ") + file + " is missing (see the 'store: start PostgreSQL' test's output)";
    return {};
  }
  return url;
}

postgres_db::postgres_db() {
  admin_uri_ = test_postgres_url(&skip_reason_);
  if (admin_uri_.empty()) return;
  static std::atomic<int> counter{0};
  schema_ = "rtb_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  auto admin = raw();
  REQUIRE(admin->exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE; CREATE SCHEMA " + schema_));
  uri_ = admin_uri_ + (admin_uri_.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
}

postgres_db::~postgres_db() {
  if (schema_.empty()) return;
  auto admin = service::detail::open_postgres_connection(admin_uri_, "rtb store tests");
  if (admin) (void)(*admin)->exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
}

result<std::unique_ptr<service::store_backend>> postgres_db::open_backend(
    const std::string& instance, std::span<const service::migration> migrations) const {
  return service::open_postgres_backend({uri_, instance}, migrations);
}

std::unique_ptr<service::detail::sql_connection> postgres_db::raw() const {
  auto c = service::detail::open_postgres_connection(uri_.empty() ? admin_uri_ : uri_, "rtb store tests");
  if (!c) FAIL(c.error().message);
  return std::move(*c);
}

std::string query_one(service::detail::sql_connection& conn, const std::string& sql) {
  auto rows = conn.query(sql, {});
  if (!rows) FAIL(sql << ": " << rows.error().message);
  REQUIRE(!rows->empty());
  REQUIRE(!rows->front().empty());
  return rows->front()[0].value_or("NULL");
}

}  // namespace rtb::test
