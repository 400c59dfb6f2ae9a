// The campaign dialer's decisions, as a pure model: who to call next, when,
// and what each answer means, from inputs and the time they happened. No
// sockets, no clocks, no database: the shell (outbound.hpp) feeds it Twilio's
// answers and the time, and carries out what it returns, in order.
//
// Theory of operation
// -------------------
// - A campaign is a list of entries (numbers), each going
//     pending → dialing → queued → ringing → in_progress → done
//   and back to pending when a busy or unanswered call is to be retried.
//   `invalid` entries (not E.164) are never dialled.
// - tick(now) starts at most one call per call; the shell calls it again at
//   next_wakeup(). A call is started when its campaign is running, its
//   calling window is open, it has fewer than max_concurrent calls under way
//   (dialing to in_progress), its own pacing (1 / calls_per_second since its
//   last call) and the process-wide pacing (1 / options::calls_per_second,
//   shared by every campaign and by single calls through reserve_slot())
//   allow it. The spacing is counted from the moment of each call, so a late
//   timer never makes the next call early: the rate holds in every interval,
//   not only on average.
// - A started call comes out as a `dial` action with the entry marked
//   dialing and its attempt number raised. The shell must store that durably
//   BEFORE asking Twilio (an attempt marker keyed by campaign, entry and
//   attempt, written with ON CONFLICT DO NOTHING: if it already existed, the
//   attempt was made before and must not be made again).
// - Twilio's answers come back through placed() / refused(), and the call's
//   progress through status() (status callbacks, or a fetch of the call).
//   Only the entry's current attempt counts; repeated, late and out-of-order
//   callbacks of other attempts, or of a finished entry, change nothing.
// - Outcomes: answered, machine (answering-machine detection said so),
//   busy, no_answer (after their retries), failed, canceled (Twilio's
//   statuses), rejected (Twilio refused the request: a 4xx, e.g. 21211),
//   unknown (Twilio may or may not have placed the call: a 5xx or timeout
//   after the retries, or a restart between marking and Twilio's answer; such
//   an entry is never dialled again, but a later callback of that attempt
//   still gives it its real outcome), not_called (the campaign was cancelled
//   first) and invalid.
// - Restarts: add() takes the entries as stored. Dialing entries without a
//   call sid become unknown at once (never re-dialled: that is what makes a
//   restart place no call twice); entries with a call sid that is not done
//   get a fetch_call action, so their status is asked from Twilio.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "realtime_bridge/service/call_store.hpp"
#include "realtime_bridge/service/calling_window.hpp"

namespace rtb::service {

using dial_time = store_time;  ///< wall-clock milliseconds (the store's time)

struct retry_rule {
  std::chrono::milliseconds after{std::chrono::minutes(10)};
  int max_retries = 0;  ///< 0: never retried
  friend bool operator==(const retry_rule&, const retry_rule&) = default;
};

struct campaign_plan {
  std::string id;
  int max_concurrent = 1;
  double calls_per_second = 1;
  std::optional<calling_window> window;  ///< none: any time
  retry_rule busy;
  retry_rule no_answer;
};

enum class entry_state { pending, dialing, queued, ringing, in_progress, done, invalid };
std::string_view to_string(entry_state s) noexcept;
std::optional<entry_state> parse_entry_state(std::string_view s) noexcept;

enum class campaign_state { running, paused, canceled, completed };
std::string_view to_string(campaign_state s) noexcept;
std::optional<campaign_state> parse_campaign_state(std::string_view s) noexcept;

/// Outcome names (campaign_entry::outcome).
namespace outcome {
inline constexpr std::string_view answered = "answered";
inline constexpr std::string_view machine = "machine";
inline constexpr std::string_view busy = "busy";
inline constexpr std::string_view no_answer = "no_answer";
inline constexpr std::string_view failed = "failed";
inline constexpr std::string_view canceled = "canceled";
inline constexpr std::string_view rejected = "rejected";
inline constexpr std::string_view unknown = "unknown";
inline constexpr std::string_view not_called = "not_called";
inline constexpr std::string_view invalid = "invalid";
}  // namespace outcome

struct campaign_entry {
  std::int64_t index = 0;  ///< its place in the submitted list, from 0
  std::string to;
  std::string variables_json = "{}";  ///< {"name":"Ann",…}: <Parameter>s for the agent's {{name}}
  entry_state state = entry_state::pending;
  std::string outcome;  ///< the final one once done; the last attempt's while waiting for a retry
  std::string detail;   ///< e.g. "Twilio 21211: The 'To' number … is not a valid phone number."
  int attempts = 0;     ///< calls started (the current one included)
  int busy_retries = 0;
  int no_answer_retries = 0;
  std::optional<dial_time> next_attempt_at;  ///< a pending entry: not before this
  std::string call_sid;                      ///< the current (or last) attempt's
  std::string answered_by;                   ///< answering-machine detection's verdict, if any
  dial_time updated_at{};
  friend bool operator==(const campaign_entry&, const campaign_entry&) = default;
};

/// Twilio's call statuses (the status callback's CallStatus, a call's status).
enum class call_progress { queued, initiated, ringing, in_progress, completed, busy, no_answer, failed, canceled };
std::optional<call_progress> parse_call_progress(std::string_view s) noexcept;
std::string_view to_string(call_progress p) noexcept;
bool is_final(call_progress p) noexcept;

/// What a failed create means for "was the call placed?".
enum class refusal {
  not_placed,  ///< surely not (429 after the retries, connection refused): dialled again later
  rejected,    ///< Twilio refused it (4xx): the entry is done
  unknown,     ///< it may have been (5xx, timeout): never dialled again
};

namespace dialer_actions {
/// Store `entry` (marked dialing, `attempts` raised) with its attempt marker,
/// then, if the marker is new, ask Twilio to call.
struct dial {
  std::string campaign_id;
  campaign_entry entry;
};
/// Store the entry as it is now.
struct save_entry {
  std::string campaign_id;
  campaign_entry entry;
};
/// Store the campaign's state.
struct save_campaign {
  std::string campaign_id;
  campaign_state state;
};
/// Ask Twilio for this call's status and feed it to status().
struct fetch_call {
  std::string campaign_id;
  std::int64_t index = 0;
  int attempt = 0;
  std::string call_sid;
};
}  // namespace dialer_actions

using dialer_action =
    std::variant<dialer_actions::dial, dialer_actions::save_entry, dialer_actions::save_campaign, dialer_actions::fetch_call>;

struct campaign_view {
  campaign_plan plan;
  campaign_state state = campaign_state::running;
  std::vector<campaign_entry> entries;
  int active = 0;          ///< calls under way (dialing to in_progress)
  dial_time next_slot{};   ///< its own pacing: no call before this
};

class dialer {
 public:
  struct options {
    double calls_per_second = 1;  ///< the whole process (Twilio's account CPS)
    /// A surely-not-placed call (see refusal::not_placed) is tried again after this.
    std::chrono::milliseconds requeue_after{std::chrono::seconds(10)};
    /// A call with no news for this long is asked about (fetch_call).
    std::chrono::milliseconds stale_after{std::chrono::hours(2)};
  };

  explicit dialer(options o);

  /// A new campaign, or one loaded after a restart (see the top of the file).
  std::vector<dialer_action> add(campaign_plan plan, campaign_state state, std::vector<campaign_entry> entries,
                                 dial_time now);
  /// Starts what is due at `now` (at most one call), asks about stale calls.
  std::vector<dialer_action> tick(dial_time now);
  /// When tick() next has something to do; nothing when nothing is pending.
  std::optional<dial_time> next_wakeup() const;

  /// Twilio took the call (201): its sid and status.
  std::vector<dialer_action> placed(std::string_view campaign_id, std::int64_t index, int attempt,
                                    std::string_view call_sid, dial_time now);
  /// Twilio did not take it (after the REST client's own retries).
  std::vector<dialer_action> refused(std::string_view campaign_id, std::int64_t index, int attempt, refusal what,
                                     std::string_view detail, dial_time now);
  /// The call's progress. `answered_by` may be empty.
  std::vector<dialer_action> status(std::string_view campaign_id, std::int64_t index, int attempt,
                                    std::string_view call_sid, call_progress progress, std::string_view answered_by,
                                    dial_time now);
  /// Answering-machine detection's verdict for the attempt (kept for the outcome).
  std::vector<dialer_action> detected(std::string_view campaign_id, std::int64_t index, int attempt,
                                      std::string_view answered_by, dial_time now);

  /// Operator commands; nothing changes (empty) when the campaign is not in a
  /// state they apply to (pause: running; resume: paused; cancel: running or paused).
  std::vector<dialer_action> pause(std::string_view campaign_id, dial_time now);
  std::vector<dialer_action> resume(std::string_view campaign_id, dial_time now);
  std::vector<dialer_action> cancel(std::string_view campaign_id, dial_time now);

  /// A single call (outside campaigns) takes the next process-wide slot: the
  /// time it may be placed (now, or later).
  dial_time reserve_slot(dial_time now);

  const campaign_view* find(std::string_view campaign_id) const;
  /// Campaigns that are done (completed or cancelled with nothing under way)
  /// are dropped from memory; their state is in the store.
  void forget_finished();

 private:
  campaign_view* get(std::string_view id);
  campaign_entry* entry(std::string_view id, std::int64_t index, int attempt);
  void finish(campaign_view& c, campaign_entry& e, std::string_view outcome, std::string_view detail, dial_time now,
              std::vector<dialer_action>& out);
  void retry_or_finish(campaign_view& c, campaign_entry& e, std::string_view outcome, dial_time now,
                       std::vector<dialer_action>& out);
  void check_completed(campaign_view& c, std::vector<dialer_action>& out);
  std::optional<dial_time> due(const campaign_view& c) const;

  options options_;
  std::chrono::milliseconds interval_;
  dial_time next_global_{};
  std::vector<std::string> order_;  ///< campaign ids in the order added (fair turns)
  std::map<std::string, campaign_view, std::less<>> campaigns_;
  std::size_t turn_ = 0;
};

/// The interval between calls at `calls_per_second` (at least 1 ms).
std::chrono::milliseconds call_interval(double calls_per_second) noexcept;

}  // namespace rtb::service
