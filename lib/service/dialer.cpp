#include "realtime_bridge/service/dialer.hpp"

#include <algorithm>
#include <array>
#include <cmath>

namespace rtb::service {
namespace {

using namespace dialer_actions;

bool is_active(entry_state s) noexcept {
  return s == entry_state::dialing || s == entry_state::queued || s == entry_state::ringing ||
         s == entry_state::in_progress;
}

int rank(entry_state s) noexcept {
  switch (s) {
    case entry_state::dialing: return 0;
    case entry_state::queued: return 1;
    case entry_state::ringing: return 2;
    case entry_state::in_progress: return 3;
    default: return -1;
  }
}

std::chrono::sys_seconds seconds_ceil(dial_time t) { return std::chrono::ceil<std::chrono::seconds>(t); }

void count_active(campaign_view& c) {
  c.active = static_cast<int>(std::count_if(c.entries.begin(), c.entries.end(),
                                            [](const campaign_entry& e) { return is_active(e.state); }));
}

bool is_machine(std::string_view answered_by) {
  return answered_by.starts_with("machine") || answered_by == "fax";
}

}  // namespace

std::string_view to_string(entry_state s) noexcept {
  switch (s) {
    case entry_state::pending: return "pending";
    case entry_state::dialing: return "dialing";
    case entry_state::queued: return "queued";
    case entry_state::ringing: return "ringing";
    case entry_state::in_progress: return "in_progress";
    case entry_state::done: return "done";
    case entry_state::invalid: return "invalid";
  }
  return "pending";
}

std::optional<entry_state> parse_entry_state(std::string_view s) noexcept {
  for (auto v : {entry_state::pending, entry_state::dialing, entry_state::queued, entry_state::ringing,
                 entry_state::in_progress, entry_state::done, entry_state::invalid})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

std::string_view to_string(campaign_state s) noexcept {
  switch (s) {
    case campaign_state::running: return "running";
    case campaign_state::paused: return "paused";
    case campaign_state::canceled: return "canceled";
    case campaign_state::completed: return "completed";
  }
  return "running";
}

std::optional<campaign_state> parse_campaign_state(std::string_view s) noexcept {
  for (auto v : {campaign_state::running, campaign_state::paused, campaign_state::canceled, campaign_state::completed})
    if (to_string(v) == s) return v;
  return std::nullopt;
}

std::optional<call_progress> parse_call_progress(std::string_view s) noexcept {
  static constexpr std::array<std::pair<std::string_view, call_progress>, 10> names = {{
      {"queued", call_progress::queued},
      {"initiated", call_progress::initiated},
      {"ringing", call_progress::ringing},
      {"in-progress", call_progress::in_progress},
      {"answered", call_progress::in_progress},
      {"completed", call_progress::completed},
      {"busy", call_progress::busy},
      {"no-answer", call_progress::no_answer},
      {"failed", call_progress::failed},
      {"canceled", call_progress::canceled},
  }};
  for (const auto& [name, p] : names)
    if (name == s) return p;
  return std::nullopt;
}

std::string_view to_string(call_progress p) noexcept {
  switch (p) {
    case call_progress::queued: return "queued";
    case call_progress::initiated: return "initiated";
    case call_progress::ringing: return "ringing";
    case call_progress::in_progress: return "in-progress";
    case call_progress::completed: return "completed";
    case call_progress::busy: return "busy";
    case call_progress::no_answer: return "no-answer";
    case call_progress::failed: return "failed";
    case call_progress::canceled: return "canceled";
  }
  return "queued";
}

bool is_final(call_progress p) noexcept {
  return p == call_progress::completed || p == call_progress::busy || p == call_progress::no_answer ||
         p == call_progress::failed || p == call_progress::canceled;
}

std::chrono::milliseconds call_interval(double calls_per_second) noexcept {
  if (!(calls_per_second > 0)) return std::chrono::hours(1);
  const double ms = std::ceil(1000.0 / calls_per_second);
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(ms)));
}

dialer::dialer(options o) : options_(o), interval_(call_interval(o.calls_per_second)) {}

campaign_view* dialer::get(std::string_view id) {
  const auto it = campaigns_.find(id);
  return it == campaigns_.end() ? nullptr : &it->second;
}

const campaign_view* dialer::find(std::string_view id) const {
  const auto it = campaigns_.find(id);
  return it == campaigns_.end() ? nullptr : &it->second;
}

campaign_entry* dialer::entry(std::string_view id, std::int64_t index, int attempt) {
  campaign_view* c = get(id);
  if (!c || index < 0 || index >= static_cast<std::int64_t>(c->entries.size())) return nullptr;
  campaign_entry& e = c->entries[static_cast<std::size_t>(index)];
  if (e.attempts != attempt) return nullptr;  // another attempt's news
  return &e;
}

std::vector<dialer_action> dialer::add(campaign_plan plan, campaign_state state, std::vector<campaign_entry> entries,
                                       dial_time now) {
  std::vector<dialer_action> out;
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
  for (std::size_t i = 0; i < entries.size(); ++i) entries[i].index = static_cast<std::int64_t>(i);
  const std::string id = plan.id;
  campaign_view& c = campaigns_[id];
  c = campaign_view{};
  c.plan = std::move(plan);
  c.state = state;
  c.entries = std::move(entries);
  c.next_slot = now;
  if (std::find(order_.begin(), order_.end(), id) == order_.end()) order_.push_back(id);
  for (campaign_entry& e : c.entries) {
    if (!is_active(e.state)) continue;
    if (e.call_sid.empty()) {
      // Marked dialing, and Twilio's answer never stored: it may have placed
      // the call. Never again; a callback of this attempt can still tell.
      finish(c, e, outcome::unknown,
             "the bridge stopped before Twilio answered the request; not dialled again", now, out);
    } else {
      out.push_back(fetch_call{id, e.index, e.attempts, e.call_sid});
    }
  }
  count_active(c);
  check_completed(c, out);
  return out;
}

std::optional<dial_time> dialer::due(const campaign_view& c) const {
  if (c.state != campaign_state::running || c.active >= c.plan.max_concurrent) return std::nullopt;
  std::optional<dial_time> earliest;
  for (const campaign_entry& e : c.entries) {
    if (e.state != entry_state::pending) continue;
    const dial_time t = e.next_attempt_at.value_or(dial_time{});
    if (!earliest || t < *earliest) earliest = t;
  }
  if (!earliest) return std::nullopt;
  dial_time t = std::max({*earliest, c.next_slot, next_global_});
  if (c.plan.window) {
    const auto open = c.plan.window->next_open(seconds_ceil(t));
    if (open == std::chrono::sys_seconds::max()) return std::nullopt;
    if (!c.plan.window->open_at(std::chrono::floor<std::chrono::seconds>(t)))
      t = std::max(t, dial_time{std::chrono::duration_cast<std::chrono::milliseconds>(open.time_since_epoch())});
  }
  return t;
}

std::optional<dial_time> dialer::next_wakeup() const {
  std::optional<dial_time> next;
  const auto consider = [&](dial_time t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& [id, c] : campaigns_) {
    if (auto t = due(c)) consider(*t);
    for (const campaign_entry& e : c.entries)
      if (is_active(e.state)) consider(e.updated_at + options_.stale_after);
  }
  return next;
}

std::vector<dialer_action> dialer::tick(dial_time now) {
  std::vector<dialer_action> out;
  // Calls with no news for too long: ask Twilio.
  for (auto& [id, c] : campaigns_) {
    for (campaign_entry& e : c.entries) {
      if (!is_active(e.state) || e.updated_at + options_.stale_after > now) continue;
      if (e.call_sid.empty()) {
        finish(c, e, outcome::unknown, "no answer from Twilio to the request", now, out);
      } else {
        e.updated_at = now;
        out.push_back(fetch_call{id, e.index, e.attempts, e.call_sid});
      }
    }
    count_active(c);
  }
  // One call, from the campaigns in turn.
  if (now < next_global_ || order_.empty()) return out;
  for (std::size_t k = 0; k < order_.size(); ++k) {
    const std::size_t i = (turn_ + k) % order_.size();
    campaign_view* c = get(order_[i]);
    if (!c) continue;
    const auto t = due(*c);
    if (!t || *t > now) continue;
    campaign_entry* pick = nullptr;
    for (campaign_entry& e : c->entries) {
      if (e.state != entry_state::pending || e.next_attempt_at.value_or(dial_time{}) > now) continue;
      if (!pick || e.next_attempt_at.value_or(dial_time{}) < pick->next_attempt_at.value_or(dial_time{})) pick = &e;
    }
    if (!pick) continue;
    pick->state = entry_state::dialing;
    pick->attempts += 1;
    pick->call_sid.clear();
    pick->answered_by.clear();
    pick->next_attempt_at.reset();
    pick->updated_at = now;
    out.push_back(dial{c->plan.id, *pick});
    c->next_slot = now + call_interval(c->plan.calls_per_second);
    next_global_ = now + interval_;
    turn_ = (i + 1) % order_.size();
    count_active(*c);
    break;
  }
  return out;
}

std::vector<dialer_action> dialer::placed(std::string_view id, std::int64_t index, int attempt,
                                          std::string_view call_sid, dial_time now) {
  std::vector<dialer_action> out;
  campaign_entry* e = entry(id, index, attempt);
  if (!e) return out;
  if (!e->call_sid.empty() && e->call_sid != call_sid) return out;
  e->call_sid = std::string(call_sid);
  if (e->state == entry_state::dialing) e->state = entry_state::queued;
  e->updated_at = now;
  out.push_back(save_entry{std::string(id), *e});
  return out;
}

std::vector<dialer_action> dialer::refused(std::string_view id, std::int64_t index, int attempt, refusal what,
                                           std::string_view detail, dial_time now) {
  std::vector<dialer_action> out;
  campaign_entry* e = entry(id, index, attempt);
  campaign_view* c = get(id);
  if (!e || !c || e->state != entry_state::dialing) return out;
  switch (what) {
    case refusal::not_placed:
      e->state = entry_state::pending;
      e->detail = std::string(detail);
      e->next_attempt_at = now + options_.requeue_after;
      e->updated_at = now;
      out.push_back(save_entry{c->plan.id, *e});
      count_active(*c);
      break;
    case refusal::rejected: finish(*c, *e, outcome::rejected, detail, now, out); break;
    case refusal::unknown: finish(*c, *e, outcome::unknown, detail, now, out); break;
  }
  return out;
}

std::vector<dialer_action> dialer::status(std::string_view id, std::int64_t index, int attempt,
                                          std::string_view call_sid, call_progress progress,
                                          std::string_view answered_by, dial_time now) {
  std::vector<dialer_action> out;
  campaign_entry* e = entry(id, index, attempt);
  campaign_view* c = get(id);
  if (!e || !c) return out;
  const bool revivable = e->state == entry_state::done && e->outcome == outcome::unknown;
  if (!is_active(e->state) && !revivable) return out;  // finished, or waiting for a retry: old news
  if (!e->call_sid.empty() && !call_sid.empty() && e->call_sid != call_sid) return out;
  if (e->call_sid.empty()) e->call_sid = std::string(call_sid);
  if (!answered_by.empty()) e->answered_by = std::string(answered_by);
  e->updated_at = now;
  if (!is_final(progress)) {
    const entry_state next = progress == call_progress::in_progress ? entry_state::in_progress
                             : progress == call_progress::ringing   ? entry_state::ringing
                                                                    : entry_state::queued;
    if (revivable) {
      e->state = next;
      e->outcome.clear();
      e->detail.clear();
    } else if (rank(next) > rank(e->state)) {
      e->state = next;
    }
    out.push_back(save_entry{c->plan.id, *e});
    count_active(*c);
    return out;
  }
  switch (progress) {
    case call_progress::completed:
      finish(*c, *e, is_machine(e->answered_by) ? outcome::machine : outcome::answered, "", now, out);
      break;
    case call_progress::busy: retry_or_finish(*c, *e, outcome::busy, now, out); break;
    case call_progress::no_answer: retry_or_finish(*c, *e, outcome::no_answer, now, out); break;
    case call_progress::failed: finish(*c, *e, outcome::failed, "", now, out); break;
    default: finish(*c, *e, outcome::canceled, "", now, out); break;
  }
  return out;
}

std::vector<dialer_action> dialer::detected(std::string_view id, std::int64_t index, int attempt,
                                            std::string_view answered_by, dial_time now) {
  std::vector<dialer_action> out;
  campaign_entry* e = entry(id, index, attempt);
  if (!e || answered_by.empty() || e->answered_by == answered_by) return out;
  e->answered_by = std::string(answered_by);
  if (e->state == entry_state::done && e->outcome == outcome::answered && is_machine(answered_by))
    e->outcome = std::string(outcome::machine);
  e->updated_at = std::max(e->updated_at, now);
  out.push_back(save_entry{std::string(id), *e});
  return out;
}

void dialer::retry_or_finish(campaign_view& c, campaign_entry& e, std::string_view why, dial_time now,
                             std::vector<dialer_action>& out) {
  const bool busy = why == outcome::busy;
  const retry_rule& rule = busy ? c.plan.busy : c.plan.no_answer;
  int& used = busy ? e.busy_retries : e.no_answer_retries;
  if (used >= rule.max_retries || c.state == campaign_state::canceled) return finish(c, e, why, "", now, out);
  ++used;
  e.state = entry_state::pending;
  e.outcome = std::string(why);
  e.detail.clear();
  e.next_attempt_at = now + rule.after;
  e.updated_at = now;
  out.push_back(save_entry{c.plan.id, e});
  count_active(c);
}

void dialer::finish(campaign_view& c, campaign_entry& e, std::string_view why, std::string_view detail, dial_time now,
                    std::vector<dialer_action>& out) {
  e.state = entry_state::done;
  e.outcome = std::string(why);
  e.detail = std::string(detail);
  e.next_attempt_at.reset();
  e.updated_at = now;
  out.push_back(save_entry{c.plan.id, e});
  count_active(c);
  check_completed(c, out);
}

void dialer::check_completed(campaign_view& c, std::vector<dialer_action>& out) {
  if (c.state != campaign_state::running) return;
  const bool all_done = std::all_of(c.entries.begin(), c.entries.end(), [](const campaign_entry& e) {
    return e.state == entry_state::done || e.state == entry_state::invalid;
  });
  if (!all_done) return;
  c.state = campaign_state::completed;
  out.push_back(save_campaign{c.plan.id, c.state});
}

std::vector<dialer_action> dialer::pause(std::string_view id, dial_time) {
  std::vector<dialer_action> out;
  campaign_view* c = get(id);
  if (!c || c->state != campaign_state::running) return out;
  c->state = campaign_state::paused;
  out.push_back(save_campaign{c->plan.id, c->state});
  return out;
}

std::vector<dialer_action> dialer::resume(std::string_view id, dial_time) {
  std::vector<dialer_action> out;
  campaign_view* c = get(id);
  if (!c || c->state != campaign_state::paused) return out;
  c->state = campaign_state::running;
  out.push_back(save_campaign{c->plan.id, c->state});
  check_completed(*c, out);
  return out;
}

std::vector<dialer_action> dialer::cancel(std::string_view id, dial_time now) {
  std::vector<dialer_action> out;
  campaign_view* c = get(id);
  if (!c || (c->state != campaign_state::running && c->state != campaign_state::paused)) return out;
  c->state = campaign_state::canceled;
  out.push_back(save_campaign{c->plan.id, c->state});
  for (campaign_entry& e : c->entries) {
    if (e.state != entry_state::pending) continue;
    e.state = entry_state::done;
    e.outcome = std::string(outcome::not_called);
    e.next_attempt_at.reset();
    e.updated_at = now;
    out.push_back(save_entry{c->plan.id, e});
  }
  return out;
}

dial_time dialer::reserve_slot(dial_time now) {
  const dial_time t = std::max(now, next_global_);
  next_global_ = t + interval_;
  return t;
}

void dialer::forget_finished() {
  for (auto it = campaigns_.begin(); it != campaigns_.end();) {
    const campaign_view& c = it->second;
    if ((c.state == campaign_state::completed || c.state == campaign_state::canceled) && c.active == 0) {
      std::erase(order_, it->first);
      it = campaigns_.erase(it);
    } else {
      ++it;
    }
  }
  if (!order_.empty()) turn_ %= order_.size();
}

}  // namespace rtb::service
