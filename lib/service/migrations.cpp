#include "realtime_bridge/service/migrations.hpp"

#include <array>

namespace rtb::service {

namespace {

// Times are milliseconds since the Unix epoch (UTC) in BIGINT columns: the
// same on both backends, and cursors compare them exactly. Booleans are
// SMALLINT 0/1. Items, tool calls and events are keyed by (call_sid, seq), so
// writing one again replaces it and a retried batch never duplicates rows.
constexpr std::string_view v1_sql = R"sql(
CREATE TABLE calls (
  call_sid TEXT PRIMARY KEY,
  stream_sid TEXT NOT NULL DEFAULT '',
  from_number TEXT NOT NULL DEFAULT '',
  to_number TEXT NOT NULL DEFAULT '',
  direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  agent TEXT NOT NULL DEFAULT '',
  instance TEXT NOT NULL DEFAULT '',
  started_ms BIGINT NOT NULL,
  answered_ms BIGINT,
  ended_ms BIGINT,
  end_reason TEXT NOT NULL DEFAULT '',
  end_detail TEXT NOT NULL DEFAULT '',
  input_text_tokens BIGINT NOT NULL DEFAULT 0,
  input_audio_tokens BIGINT NOT NULL DEFAULT 0,
  input_cached_tokens BIGINT NOT NULL DEFAULT 0,
  output_text_tokens BIGINT NOT NULL DEFAULT 0,
  output_audio_tokens BIGINT NOT NULL DEFAULT 0,
  cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
  counters TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX calls_by_start ON calls (started_ms, call_sid);
CREATE INDEX calls_by_agent ON calls (agent, started_ms);
CREATE INDEX calls_by_from ON calls (from_number, started_ms);
CREATE INDEX calls_by_to ON calls (to_number, started_ms);
CREATE INDEX calls_by_end_reason ON calls (end_reason, started_ms);
CREATE INDEX calls_open ON calls (instance) WHERE ended_ms IS NULL;

CREATE TABLE call_items (
  call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  item_id TEXT NOT NULL DEFAULT '',
  role TEXT NOT NULL CHECK (role IN ('caller', 'assistant', 'system')),
  content TEXT NOT NULL DEFAULT '',
  heard_text TEXT,
  interrupted SMALLINT NOT NULL DEFAULT 0,
  audio_ms BIGINT NOT NULL DEFAULT 0,
  heard_ms BIGINT,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT,
  PRIMARY KEY (call_sid, seq)
);

CREATE TABLE call_tool_calls (
  call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  tool_call_id TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL,
  arguments TEXT NOT NULL DEFAULT '',
  output TEXT NOT NULL DEFAULT '',
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'timeout', 'cancelled')),
  started_ms BIGINT NOT NULL,
  latency_ms BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (call_sid, seq)
);

CREATE TABLE call_events (
  call_sid TEXT NOT NULL REFERENCES calls (call_sid) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  at_ms BIGINT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (call_sid, seq)
);
CREATE INDEX call_events_by_kind ON call_events (kind, at_ms);
)sql";

// Campaigns (campaign_store.hpp). Each entry is one number of a campaign,
// keyed by (campaign_id, seq); campaign_attempts holds one row per call the
// dialer started, written before Twilio is asked (INSERT ... ON CONFLICT DO
// NOTHING: a row that already exists means the attempt was made, and it is
// never made again, whatever crashed in between).
constexpr std::string_view v2_sql = R"sql(
CREATE TABLE campaigns (
  campaign_id TEXT PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'canceled', 'completed')),
  settings TEXT NOT NULL DEFAULT '{}',
  instance TEXT NOT NULL DEFAULT '',
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE INDEX campaigns_by_created ON campaigns (created_ms, campaign_id);

CREATE TABLE campaign_entries (
  campaign_id TEXT NOT NULL REFERENCES campaigns (campaign_id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  to_number TEXT NOT NULL,
  variables TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL CHECK (state IN ('pending', 'dialing', 'queued', 'ringing', 'in_progress', 'done', 'invalid')),
  outcome TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '',
  attempts BIGINT NOT NULL DEFAULT 0,
  busy_retries BIGINT NOT NULL DEFAULT 0,
  no_answer_retries BIGINT NOT NULL DEFAULT 0,
  next_attempt_ms BIGINT,
  call_sid TEXT NOT NULL DEFAULT '',
  answered_by TEXT NOT NULL DEFAULT '',
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, seq)
);

CREATE TABLE campaign_attempts (
  campaign_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  to_number TEXT NOT NULL,
  call_sid TEXT NOT NULL DEFAULT '',
  started_ms BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, seq, attempt),
  FOREIGN KEY (campaign_id, seq) REFERENCES campaign_entries (campaign_id, seq) ON DELETE CASCADE
);
CREATE INDEX campaign_attempts_by_call ON campaign_attempts (call_sid);
)sql";

// What Twilio was told to do when each call's stream ended (records::call_disposed):
// with several instances on one database, any of them answers Twilio's
// <Connect action> request for a call another one carried.
constexpr std::string_view v3_sql = R"sql(
ALTER TABLE calls ADD COLUMN disposition TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN transfer_to TEXT NOT NULL DEFAULT '';
)sql";

constexpr std::array<migration, 3> all = {{
    {1, "calls, conversation items, tool calls and events", v1_sql},
    {2, "campaigns, their entries and attempt markers", v2_sql},
    {3, "each call's disposition (hang-up or transfer)", v3_sql},
}};

}  // namespace

std::span<const migration> call_store_migrations() noexcept { return all; }

}  // namespace rtb::service
