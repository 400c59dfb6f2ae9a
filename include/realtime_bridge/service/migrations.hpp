// The store's schema, as a list of versioned migrations applied at start-up.
//
// Each migration is SQL that runs unchanged on SQLite and on PostgreSQL (the
// types are ones both accept: TEXT, BIGINT, SMALLINT, DOUBLE PRECISION; the
// upserts are `INSERT ... ON CONFLICT`, which both have), so the two backends
// have the same schema by construction.
//
// Opening a store applies, in one transaction, every migration newer than the
// database's `schema_version` and records each there. Instances starting at
// once take turns (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock). A
// database whose version is newer than this build knows is refused: an older
// binary must not write into a schema it does not know.
//
// To change the schema, append migration N+1 (never edit a released one).
// Migration 2 added the campaigns (campaign_store.hpp): campaigns, their
// entries (per-number outcomes and the retry schedule) and attempt markers
// made idempotent by a primary key and `INSERT ... ON CONFLICT DO NOTHING`.
#pragma once

#include <span>
#include <string_view>

namespace rtb::service {

struct migration {
  int version = 0;  ///< 1, 2, 3... with no gaps
  std::string_view description;
  std::string_view sql;  ///< statements separated by ';'
};

/// The call store's migrations, oldest first.
std::span<const migration> call_store_migrations() noexcept;

}  // namespace rtb::service
