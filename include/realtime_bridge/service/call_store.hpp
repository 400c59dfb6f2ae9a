// The call store: what a call leaves behind (the call, its conversation, its
// tool calls and its events), written off the audio path and read back by
// call id or by filters.
//
// Two interfaces, for two ways of plugging in a store of your own:
//
//   call_store     what the bridge talks to. record() is called from the
//                  threads that run calls, so it must never block on I/O;
//                  reads are called from threads that may wait (HTTP workers).
//   store_backend  a synchronous database: writes one batch per transaction.
//                  store_writer (store_writer.hpp) turns any backend into a
//                  call_store: a bounded queue, one writer thread, batches.
//
// The SQLite and PostgreSQL backends (sqlite_store.hpp, postgres_store.hpp)
// share one schema (migrations.hpp); open_call_store() (store.hpp) opens
// either from a DATABASE_URL.
//
// Records are plain values that own their strings: build one on any thread,
// move it into record(), and the store owns it from then on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "realtime_bridge/result.hpp"

namespace rtb {
struct call_counters;
}

namespace rtb::service {

/// Wall-clock time in milliseconds since the Unix epoch (UTC). The store keeps
/// every time at this precision, as a 64-bit integer.
using store_time = std::chrono::sys_time<std::chrono::milliseconds>;
/// The current wall-clock time, at the store's precision.
store_time store_now() noexcept;

/// The end reason the store gives calls that a crash left open (see
/// store_backend::close_open_calls). Other reasons are rtb::to_string(end_reason).
inline constexpr std::string_view bridge_restarted = "bridge_restarted";

enum class call_direction { inbound, outbound };
std::string_view to_string(call_direction d) noexcept;
std::optional<call_direction> parse_call_direction(std::string_view s) noexcept;

/// Who a conversation item is from.
enum class item_role {
  caller,     ///< the caller's speech (its transcript), or text injected as the caller
  assistant,  ///< the model's answer
  system,     ///< instructions or notes added by the bridge or the host
};
std::string_view to_string(item_role r) noexcept;
std::optional<item_role> parse_item_role(std::string_view s) noexcept;

/// How a tool call ended.
enum class tool_outcome {
  ok,         ///< the host answered
  error,      ///< the host answered with an error
  timeout,    ///< the host did not answer in time
  cancelled,  ///< the call ended before the host answered
};
std::string_view to_string(tool_outcome o) noexcept;
std::optional<tool_outcome> parse_tool_outcome(std::string_view s) noexcept;

/// Tokens OpenAI reported for a call, by modality (openai::session_counters).
struct token_usage {
  std::int64_t input_text = 0;
  std::int64_t input_audio = 0;
  std::int64_t input_cached = 0;  ///< cached input tokens (text and audio), billed at the cached rate
  std::int64_t output_text = 0;
  std::int64_t output_audio = 0;
  friend bool operator==(const token_usage&, const token_usage&) = default;
};

/// Prices in US dollars per million tokens. All zero (the default) means
/// unknown, and the estimated cost is 0. Set it from your contract's prices;
/// the library ships none, because they change.
struct price_table {
  double input_text = 0;
  double input_audio = 0;
  double input_cached = 0;
  double output_text = 0;
  double output_audio = 0;
  friend bool operator==(const price_table&, const price_table&) = default;
};

/// The estimated cost of `tokens` in US dollars (0 when the prices are unknown).
/// Cached tokens are billed at `input_cached` instead of their modality's rate;
/// OpenAI reports them as part of input_text + input_audio, so they are taken
/// off those first (from text, then audio).
double estimate_cost(const token_usage& tokens, const price_table& prices) noexcept;

/// The tokens in a call's counters.
token_usage tokens_of(const call_counters& counters) noexcept;

/// The call's counters as a JSON object (every counter by name, grouped by
/// leg: {"twilio":{...},"openai":{...},"playout":{...},...}).
std::string counters_json(const call_counters& counters);

/// A value in a JSON detail object built with json_object().
using json_value = std::variant<std::string_view, std::int64_t, double, bool>;
/// Builds a flat JSON object, e.g. json_object({{"digit", "5"}}) or
/// json_object({{"heard_ms", std::int64_t{1300}}}). Strings are escaped;
/// invalid UTF-8 becomes U+FFFD.
std::string json_object(std::initializer_list<std::pair<std::string_view, json_value>> fields);

// ---------------------------------------------------------------------------
// What is written: one record per thing that happened, in the order it
// happened. Items, tool calls and events are numbered per call (`seq`, from
// 0, each kind its own sequence; call_recorder numbers them for you); a
// record with the (call_sid, seq) of one already stored replaces it, so an
// item can be written when it completes and again when it is interrupted.

namespace records {

/// A call began (Twilio's stream started, or an outbound call was placed).
struct call_started {
  std::string call_sid;
  std::string stream_sid;  ///< empty if not known yet (call_answered can set it)
  std::string from;
  std::string to;
  call_direction direction = call_direction::inbound;
  std::string agent;  ///< the agent (profile) that answered, empty if none
  store_time started_at{};
  friend bool operator==(const call_started&, const call_started&) = default;
};

/// The call was answered (for an inbound call, usually when its stream started).
struct call_answered {
  std::string call_sid;
  std::string stream_sid;  ///< replaces the stored one unless empty
  store_time answered_at{};
  friend bool operator==(const call_answered&, const call_answered&) = default;
};

/// The call is over.
struct call_ended {
  std::string call_sid;
  store_time ended_at{};
  std::string end_reason;  ///< rtb::to_string(end_reason), or bridge_restarted
  std::string end_detail;
  token_usage tokens;
  double cost_usd = 0;               ///< estimate_cost(tokens, prices); 0 if unknown
  std::string counters_json = "{}";  ///< counters_json(summary.counters), or any JSON object
  friend bool operator==(const call_ended&, const call_ended&) = default;
};

/// What Twilio does when the call's stream ends (call_dispositions.hpp):
/// written when the bridge decides it (the AI hung up or transferred the
/// caller), before the call ends, so that whichever instance receives
/// Twilio's <Connect action> request can answer it from a shared store.
struct call_disposed {
  std::string call_sid;
  std::string disposition;  ///< "hang_up" or "transfer" (to_string(call_disposition::kind))
  std::string transfer_to;  ///< transfer: the number dialled (E.164)
  friend bool operator==(const call_disposed&, const call_disposed&) = default;
};

/// One conversation item, written when it completes.
struct item {
  std::string call_sid;
  std::int64_t seq = 0;
  std::string item_id;  ///< OpenAI's item id, if any
  item_role role = item_role::caller;
  std::string text;  ///< the transcript, or the text
  /// For an interrupted assistant item, what the caller heard of `text`
  /// (empty when nothing). Unset when the item was not interrupted.
  std::optional<std::string> heard_text;
  bool interrupted = false;
  std::int64_t audio_ms = 0;             ///< audio of the item (sent to the caller, or from the caller)
  std::optional<std::int64_t> heard_ms;  ///< of audio_ms, heard by the caller (interrupted items)
  store_time started_at{};
  std::optional<store_time> ended_at;
  friend bool operator==(const item&, const item&) = default;
};

/// A function the model asked the host to run, written when it is answered
/// (or abandoned).
struct tool_call {
  std::string call_sid;
  std::int64_t seq = 0;
  std::string tool_call_id;  ///< OpenAI's call_id
  std::string name;
  std::string arguments;  ///< JSON text, as the model wrote it (may be invalid)
  std::string output;     ///< what the host answered (empty when none)
  tool_outcome outcome = tool_outcome::ok;
  store_time started_at{};
  std::int64_t latency_ms = 0;  ///< from the model's request to the host's answer
  friend bool operator==(const tool_call&, const tool_call&) = default;
};

/// Something else that happened: a barge-in, a DTMF digit, a reconnect, a
/// transfer, a warning. `kind` is a short name (see event_kind); `detail` a
/// JSON object (json_object()).
struct event {
  std::string call_sid;
  std::int64_t seq = 0;
  store_time at{};
  std::string kind;
  std::string detail = "{}";
  friend bool operator==(const event&, const event&) = default;
};

}  // namespace records

/// Suggested event kinds. Any short name works; readers filter on it.
namespace event_kind {
inline constexpr std::string_view barge_in = "barge_in";
inline constexpr std::string_view dtmf = "dtmf";
inline constexpr std::string_view reconnect = "reconnect";
inline constexpr std::string_view transfer = "transfer";
inline constexpr std::string_view warning = "warning";
}  // namespace event_kind

using record = std::variant<records::call_started, records::call_answered, records::call_disposed,
                            records::call_ended, records::item, records::tool_call, records::event>;

/// The call_sid a record belongs to.
std::string_view call_sid_of(const record& r) noexcept;

// ---------------------------------------------------------------------------
// What is read.

/// A call as stored: what call_started, call_answered, call_disposed and call_ended said.
struct stored_call {
  std::string call_sid;
  std::string stream_sid;
  std::string from;
  std::string to;
  call_direction direction = call_direction::inbound;
  std::string agent;
  std::string instance;  ///< the bridge instance that wrote it (store_options::instance)
  store_time started_at{};
  std::optional<store_time> answered_at;
  std::optional<store_time> ended_at;  ///< unset while the call is going on
  std::string end_reason;              ///< empty while the call is going on
  std::string end_detail;
  std::string disposition;  ///< "hang_up", "transfer", or empty (none: Twilio got the fallback)
  std::string transfer_to;  ///< the number a transfer dialled
  token_usage tokens;
  double cost_usd = 0;
  std::string counters_json = "{}";
  friend bool operator==(const stored_call&, const stored_call&) = default;
};

/// One call with everything recorded about it, each list in `seq` order.
struct call_detail {
  stored_call call;
  std::vector<records::item> items;
  std::vector<records::tool_call> tool_calls;
  std::vector<records::event> events;
};

/// Which calls to list. Every filter that is set must match. Calls come
/// newest first (by started_at, then call_sid).
struct call_query {
  std::optional<store_time> since;  ///< started at or after
  std::optional<store_time> until;  ///< started before
  std::string agent;                ///< exactly this agent (empty: any)
  std::string number;               ///< from or to is exactly this number (empty: any)
  std::string end_reason;           ///< exactly this end reason (empty: any)
  bool open_only = false;           ///< only calls that have not ended
  std::uint32_t limit = 50;         ///< at most this many (1 to max_page_size)
  std::string cursor;               ///< from call_page::next_cursor, to continue a listing
};

inline constexpr std::uint32_t max_page_size = 1000;

struct call_page {
  std::vector<stored_call> calls;
  /// Set when more calls match: pass it as call_query::cursor (with the same
  /// filters) for the next page. Opaque; stable under concurrent inserts.
  std::string next_cursor;
};

/// The writer's figures, for metrics. Every record handed to record() ends up
/// counted exactly once in written, dropped or failed (or is still queued).
struct store_stats {
  std::uint64_t queue_depth = 0;      ///< records accepted and not yet written or failed
  std::uint64_t queue_capacity = 0;   ///< record() drops beyond this depth
  std::uint64_t max_queue_depth = 0;  ///< the highest depth seen
  std::uint64_t accepted = 0;         ///< taken by record()
  std::uint64_t written = 0;          ///< committed to the database
  std::uint64_t dropped = 0;          ///< refused by record() because the queue was full
  std::uint64_t failed = 0;           ///< given up after write errors
  std::uint64_t batches = 0;          ///< transactions committed
  std::uint64_t batch_failures = 0;   ///< transactions that failed (each retried, then split)
  std::uint64_t recovered_calls = 0;  ///< open calls closed as bridge_restarted at start-up
};

// ---------------------------------------------------------------------------

/// What the bridge talks to. Implementations must be thread-safe.
class call_store {
 public:
  virtual ~call_store() = default;

  /// Takes a record for writing. Called on the threads that run calls: must
  /// return at once, never wait for I/O, and never throw for a full queue or
  /// a failing database (count it instead; the call goes on).
  virtual void record(record r) noexcept = 0;

  /// Reads. They may block on I/O: call them from threads that can wait, never
  /// from a call's thread. They see what has been written, not what is still
  /// queued (flush() first to read your own writes).
  [[nodiscard]] virtual result<call_page> list_calls(const call_query& query) = 0;
  /// Nothing when no call has this call_sid.
  [[nodiscard]] virtual result<std::optional<call_detail>> get_call(std::string_view call_sid) = 0;

  /// Waits until every record accepted before this call has been written (or
  /// counted as failed), or until `timeout`. True if it got there.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;

  virtual store_stats stats() const = 0;
};

/// A synchronous database behind a store_writer. write() is only ever called
/// from the writer's one thread; the reads from any thread, concurrently with
/// write() (give them their own connection).
class store_backend {
 public:
  virtual ~store_backend() = default;

  /// Writes `batch` in one transaction: all of it, or (on error) none of it.
  /// Records must be applied in order. Replacing an item, tool call or event
  /// with the same (call_sid, seq) is not an error; a record for a call that
  /// was never started is (the batch fails).
  [[nodiscard]] virtual result<void> write(std::span<const record> batch) = 0;

  /// Closes the calls a crash left without an end time, with end reason
  /// bridge_restarted and end time `now`; returns how many. Called once at
  /// start-up, before any write. A database shared by several instances must
  /// close only this instance's calls (PostgreSQL does; SQLite, one bridge's
  /// file, closes all).
  [[nodiscard]] virtual result<std::uint64_t> close_open_calls(store_time now) = 0;

  [[nodiscard]] virtual result<call_page> list_calls(const call_query& query) = 0;
  [[nodiscard]] virtual result<std::optional<call_detail>> get_call(std::string_view call_sid) = 0;

  /// After a failed write: reconnect if the connection is broken. Called by
  /// the writer before it retries. The default does nothing.
  virtual void recover_connection() {}
};

/// Numbers a call's items, tool calls and events and hands them to a store.
/// Thread-safe: the call's thread and others (an HTTP request that transfers
/// the call, a tool worker) may record for the same call.
class call_recorder {
 public:
  call_recorder(call_store& store, std::string call_sid) : store_(store), call_sid_(std::move(call_sid)) {}

  const std::string& call_sid() const noexcept { return call_sid_; }

  void started(records::call_started r);
  void answered(records::call_answered r);
  void ended(records::call_ended r);
  /// Numbers the item and returns its seq: record it again with that seq
  /// (replace_item) to update it, e.g. when it is interrupted.
  std::int64_t item(records::item r);
  void replace_item(records::item r);
  std::int64_t tool_call(records::tool_call r);
  std::int64_t event(std::string_view kind, std::string detail, store_time at = store_now());

 private:
  call_store& store_;
  std::string call_sid_;
  std::atomic<std::int64_t> next_item_{0};
  std::atomic<std::int64_t> next_tool_call_{0};
  std::atomic<std::int64_t> next_event_{0};
};

}  // namespace rtb::service
