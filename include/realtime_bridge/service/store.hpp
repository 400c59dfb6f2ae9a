// Opening the call store named by a DATABASE_URL.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/postgres_store.hpp"
#include "realtime_bridge/service/sqlite_store.hpp"
#include "realtime_bridge/service/store_url.hpp"
#include "realtime_bridge/service/store_writer.hpp"

namespace rtb::service {

struct store_options {
  /// This bridge instance's name, recorded with each call it starts. Empty:
  /// the host name. At start-up the calls a crash left open are closed as
  /// bridge_restarted: on PostgreSQL those recorded under this name only, so
  /// give each instance sharing a database its own name, the same across its
  /// restarts; on SQLite all of them.
  std::string instance;
  writer_options writer;
  std::chrono::milliseconds sqlite_busy_timeout{5'000};
};

/// The host name, the default instance name.
std::string default_instance_name();

/// Opens the store `url` names, applies the migrations, closes the calls this
/// instance left open, and starts the writer. A null pointer (and no error)
/// for DATABASE_URL=off.
[[nodiscard]] result<std::unique_ptr<call_store>> open_call_store(const database_url& url,
                                                                  const store_options& options = {});

}  // namespace rtb::service
