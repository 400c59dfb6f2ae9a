// The PostgreSQL call store, for deployments where several bridge instances
// share one database.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/migrations.hpp"

namespace rtb::service {

struct postgres_options {
  /// A postgresql:// URI or a libpq conninfo string, handed to libpq as is
  /// (sslmode, connect_timeout, options=-csearch_path%3D... all work).
  /// Unless the URI sets them: connect_timeout 10 s, TCP keepalives after
  /// 10 s idle, and tcp_user_timeout 30 s (a server that stops answering
  /// fails the connection instead of holding the writer).
  std::string uri;
  /// This bridge instance's name (store_options::instance). Each instance
  /// sharing the database needs its own: at start-up an instance closes the
  /// open calls recorded under its name.
  std::string instance;
};

/// Connects (two connections: the writer's and the readers'), applies
/// `migrations` and returns the backend. Wrap it in a store_writer to use it.
/// After a failed write the writer's connection is reset if it broke.
[[nodiscard]] result<std::unique_ptr<store_backend>> open_postgres_backend(
    const postgres_options& options, std::span<const migration> migrations = call_store_migrations());

}  // namespace rtb::service
