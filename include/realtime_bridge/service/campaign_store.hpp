// Where campaigns live (migration 2), and the outbound side of the calls
// table: campaigns with their settings and state, one row per number with its
// outcome and retry schedule, and one marker per call the dialer started.
//
// Unlike call_store (whose record() never waits), every method here commits
// before it returns: the dialer's promise ("nobody is called twice, even
// across a SIGKILL") rests on the attempt marker being durable before Twilio
// is asked. So call it from threads that may wait (the outbound service's
// own worker), never from a thread that carries calls. Thread-safe.
//
// SQLite and PostgreSQL, like the call store, with the same SQL; the store
// opens a connection of its own next to the call store's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/result.hpp"
#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/dialer.hpp"
#include "realtime_bridge/service/store_url.hpp"

namespace rtb::service {

struct stored_campaign {
  std::string id;
  std::string name;
  campaign_state state = campaign_state::running;
  std::string settings_json = "{}";  ///< campaign_settings_json()
  std::string instance;              ///< the bridge instance that runs it
  store_time created_at{};
  store_time updated_at{};
};

struct campaign_attempt {
  std::int64_t index = 0;
  int attempt = 0;
  std::string to;
  std::string call_sid;  ///< empty until Twilio answered
  store_time started_at{};
};

class campaign_store {
 public:
  virtual ~campaign_store() = default;

  /// A new campaign and all its entries, in one transaction.
  [[nodiscard]] virtual result<void> create(const stored_campaign& c, std::span<const campaign_entry> entries) = 0;
  [[nodiscard]] virtual result<void> set_state(std::string_view id, campaign_state s, store_time now) = 0;
  [[nodiscard]] virtual result<void> save_entry(std::string_view id, const campaign_entry& e) = 0;
  /// Writes the marker of attempt e.attempts and the entry, in one
  /// transaction. False, and nothing written, when that marker already
  /// exists: the attempt was made before and must not be made again.
  [[nodiscard]] virtual result<bool> begin_attempt(std::string_view id, const campaign_entry& e, store_time now) = 0;
  /// Twilio's call sid for an attempt.
  [[nodiscard]] virtual result<void> attempt_placed(std::string_view id, std::int64_t index, int attempt,
                                                    std::string_view call_sid) = 0;

  /// Newest first; `unfinished_only`: running and paused ones (what a
  /// restart resumes), of this instance only on PostgreSQL.
  [[nodiscard]] virtual result<std::vector<stored_campaign>> list(bool unfinished_only, std::uint32_t limit) = 0;
  [[nodiscard]] virtual result<std::optional<stored_campaign>> get(std::string_view id) = 0;
  [[nodiscard]] virtual result<std::vector<campaign_entry>> entries(std::string_view id) = 0;
  [[nodiscard]] virtual result<std::vector<campaign_attempt>> attempts(std::string_view id) = 0;

  /// The calls table, for calls the bridge placed: the call (inserted if it
  /// is not there yet; a row the call's stream wrote is left alone).
  [[nodiscard]] virtual result<void> outbound_call(const records::call_started& c) = 0;
  /// One status of a call as an event (kind "status" or "amd", keyed by
  /// `seq`: a repeated callback replaces its event); `answered` sets the
  /// answer time if none; `end_reason` ends the call if nothing ended it yet
  /// (busy, no-answer… for a call whose stream never started).
  [[nodiscard]] virtual result<void> call_progress(const records::call_started& c, const records::event& e,
                                                   bool answered, std::string_view end_reason) = 0;
};

/// Opens the campaign store on the database `url` names (the call store's),
/// applying the migrations if needed. Null (no error) for DATABASE_URL=off.
[[nodiscard]] result<std::unique_ptr<campaign_store>> open_campaign_store(
    const database_url& url, std::string instance,
    std::chrono::milliseconds sqlite_busy_timeout = std::chrono::seconds(5));

}  // namespace rtb::service
