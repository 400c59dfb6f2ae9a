// The SQLite call store: one file, WAL mode, the embedded default.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/migrations.hpp"

namespace rtb::service {

struct sqlite_options {
  std::string path;  ///< the database file; it and its directory are created if missing
  /// This bridge instance's name (store_options::instance), recorded with
  /// its calls. At start-up every open call in the file is closed as
  /// bridge_restarted, whatever instance wrote it: a SQLite file belongs to
  /// one bridge, and its host name may change across restarts (containers).
  std::string instance;
  /// How long a write or read waits for another process holding the file's
  /// lock before it fails.
  std::chrono::milliseconds busy_timeout{5'000};
};

/// Opens the file (in WAL mode, synchronous=NORMAL: see sqlite_store.cpp for
/// why), applies `migrations` and returns the backend, with a connection for
/// the writer and one for readers. Wrap it in a store_writer to use it.
[[nodiscard]] result<std::unique_ptr<store_backend>> open_sqlite_backend(
    const sqlite_options& options, std::span<const migration> migrations = call_store_migrations());

}  // namespace rtb::service
