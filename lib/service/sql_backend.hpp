// Internal: the store's SQL, once for both backends.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/migrations.hpp"
#include "service/sql_connection.hpp"

namespace rtb::service::detail {

class sql_backend final : public store_backend {
 public:
  /// Which open calls close_open_calls() closes.
  enum class recovery {
    own_instance,   ///< those of this instance (PostgreSQL: instances share the database)
    all_instances,  ///< all (SQLite: the file belongs to one bridge, whatever its host name is today)
  };
  /// Applies `migrations` on `writer`, then returns the backend. Reads need
  /// set_reader() before they work.
  [[nodiscard]] static result<std::unique_ptr<sql_backend>> open(std::unique_ptr<sql_connection> writer,
                                                                 std::string instance, recovery scope,
                                                                 std::span<const migration> migrations);
  void set_reader(std::unique_ptr<sql_connection> reader) { reader_ = std::move(reader); }

  result<void> write(std::span<const record> batch) override;
  result<std::uint64_t> close_open_calls(store_time now) override;
  result<call_page> list_calls(const call_query& query) override;
  result<std::optional<call_detail>> get_call(std::string_view call_sid) override;
  void recover_connection() override { writer_->reconnect(); }

 private:
  sql_backend(std::unique_ptr<sql_connection> writer, std::string instance, recovery scope)
      : writer_(std::move(writer)), instance_(std::move(instance)), scope_(scope) {}
  result<void> apply(const record& r);
  result<std::optional<call_detail>> read_call(std::string_view call_sid);

  std::unique_ptr<sql_connection> writer_;  ///< the writer thread's (and start-up's) only
  std::mutex read_mutex_;                   ///< readers take turns on their connection
  std::unique_ptr<sql_connection> reader_;
  std::string instance_;
  recovery scope_;
};

/// Applies the migrations newer than the database's schema_version in one
/// exclusive transaction; returns the version reached.
[[nodiscard]] result<int> migrate(sql_connection& conn, std::span<const migration> migrations);

}  // namespace rtb::service::detail
