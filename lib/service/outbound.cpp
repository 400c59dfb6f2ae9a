#include "realtime_bridge/service/outbound.hpp"

#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "json.hpp"
#include "realtime_bridge/service/outbound_requests.hpp"
#include "realtime_bridge/twilio/signature.hpp"
#include "realtime_bridge/service/work_queue.hpp"

namespace rtb::service {
namespace {

constexpr std::string_view calls_prefix = "/api/calls";
constexpr std::string_view campaigns_prefix = "/api/campaigns";
// Status events are numbered apart from the call's own events (which its
// tracker numbers from 0): a callback's SequenceNumber from here, the
// answering-machine verdict at amd_seq. A repeated callback replaces its event.
constexpr std::int64_t status_seq = 1'000'000;
constexpr std::int64_t amd_seq = 2'000'000;

api_response json_error(int status, std::string_view message, std::string extra = {}) {
  std::string body = R"({"error":)";
  json::append_string(body, message);
  body += extra;
  body.push_back('}');
  return {status, "application/json", std::move(body)};
}

std::string random_id(std::string_view prefix) {
  unsigned char bytes[16] = {};
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  std::string out(prefix);
  for (const unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

std::string_view find(const std::vector<std::pair<std::string, std::string>>& f, std::string_view name) {
  for (const auto& [k, v] : f)
    if (k == name) return v;
  return {};
}

std::optional<std::int64_t> number(std::string_view s) {
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return n;
}

bool is_machine(std::string_view answered_by) { return answered_by.starts_with("machine") || answered_by == "fax"; }

/// The calls table's end reason for a final status.
std::string_view end_reason_of(call_progress p) {
  switch (p) {
    case call_progress::busy: return "busy";
    case call_progress::no_answer: return "no_answer";
    case call_progress::failed: return "failed";
    case call_progress::canceled: return "canceled";
    case call_progress::completed: return "completed";
    default: return "";
  }
}

struct campaign_info {
  campaign_request settings;  ///< without its numbers
};

struct single_call {
  std::string agent;
  machine_settings machine;
};

void write_entry(std::string& out, const campaign_entry& e) {
  out += fmt::format(R"({{"index":{},"to":)", e.index);
  json::append_string(out, e.to);
  out += R"(,"state":)";
  json::append_string(out, to_string(e.state));
  out += R"(,"outcome":)";
  json::append_string(out, e.outcome);
  out += R"(,"detail":)";
  json::append_string(out, e.detail);
  out += fmt::format(R"(,"attempts":{},"call_sid":)", e.attempts);
  json::append_string(out, e.call_sid);
  out += R"(,"answered_by":)";
  json::append_string(out, e.answered_by);
  out += R"(,"next_attempt_at":)";
  if (e.next_attempt_at)
    json::append_int(out, e.next_attempt_at->time_since_epoch().count());
  else
    out += "null";
  out += R"(,"variables":)";
  out += e.variables_json.empty() ? std::string("{}") : e.variables_json;
  out.push_back('}');
}

void write_campaign_head(std::string& out, const stored_campaign& c) {
  out += R"({"campaign_id":)";
  json::append_string(out, c.id);
  out += R"(,"name":)";
  json::append_string(out, c.name);
  out += R"(,"state":)";
  json::append_string(out, to_string(c.state));
  out += fmt::format(R"(,"created_at":{},"updated_at":{})", c.created_at.time_since_epoch().count(),
                     c.updated_at.time_since_epoch().count());
}

}  // namespace

std::string outbound_twiml(std::string_view stream_url, std::string_view agent, std::string_view from,
                           std::string_view to, const call_variables& variables, const twilio::fallback& fallback,
                           std::string_view action_url) {
  twilio::connect_stream_twiml t;
  t.stream_url = std::string(stream_url);
  if (!agent.empty()) t.parameters.emplace_back("agent", std::string(agent));
  t.parameters.emplace_back("direction", "outbound");
  t.parameters.emplace_back("From", std::string(from));
  t.parameters.emplace_back("To", std::string(to));
  for (const auto& v : variables) t.parameters.push_back(v);
  t.fallback = fallback;
  t.action_url = std::string(action_url);
  return twilio::render(t);
}

struct outbound_service::impl : std::enable_shared_from_this<impl> {
  impl(outbound_options o, campaign_store* s, fetcher& http, scheduler& t)
      : options(std::move(o)), store(s), timers(t), client(http, t, options.rest), model(options.dialing) {}

  /// A create retried after a 429 takes a slot of the process-wide pacing
  /// like any new call: the rate holds for retries too.
  void pace_retries() {
    client.set_create_pacer([weak = weak_from_this()](std::chrono::milliseconds backoff) {
      auto me = weak.lock();
      if (!me) return backoff;
      const store_time now = store_now();
      dial_time at;
      {
        std::lock_guard lock(me->mutex);
        at = me->model.reserve_slot(now + backoff);
      }
      return std::max(backoff, std::chrono::duration_cast<std::chrono::milliseconds>(at - now));
    });
  }

  outbound_options options;
  campaign_store* store;
  scheduler& timers;
  twilio_rest_client client;
  std::unique_ptr<work_queue> worker = std::make_unique<work_queue>(1, 1'000'000);
  std::atomic<bool> stopping{false};

  std::mutex mutex;  // guards everything below
  dialer model;
  std::optional<dial_time> armed;
  std::map<std::string, campaign_info, std::less<>> campaigns;
  std::map<std::string, single_call, std::less<>> singles;  ///< by call sid (not kept across restarts)

  void log(std::string_view line) const {
    if (options.log) options.log(line);
  }

  /// Runs `task` on the worker, in order with every other store access.
  void later(std::function<void()> task) {
    if (stopping) return;
    if (!worker->submit(std::move(task))) log("outbound: the store queue is full; a write was dropped");
  }

  std::string callback_url(std::string_view path, std::string_view campaign, std::int64_t index, int attempt) const {
    std::string url = options.callback_base + std::string(path);
    if (!campaign.empty()) url += fmt::format("?c={}&e={}&a={}", twilio::percent_encode(campaign), index, attempt);
    return url;
  }

  // --- the model's actions

  void apply(std::vector<dialer_action> actions) {
    for (auto& a : actions) {
      if (auto* d = std::get_if<dialer_actions::dial>(&a)) {
        dial(std::move(*d));
      } else if (auto* s = std::get_if<dialer_actions::save_entry>(&a)) {
        later([self = shared_from_this(), s = std::move(*s)] {
          if (auto r = self->store->save_entry(s.campaign_id, s.entry); !r)
            self->log("outbound: cannot store an entry of " + s.campaign_id + ": " + r.error().message);
        });
      } else if (auto* c = std::get_if<dialer_actions::save_campaign>(&a)) {
        log(fmt::format("campaign {}: {}", c->campaign_id, to_string(c->state)));
        later([self = shared_from_this(), c = *c] {
          if (auto r = self->store->set_state(c.campaign_id, c.state, store_now()); !r)
            self->log("outbound: cannot store campaign " + c.campaign_id + ": " + r.error().message);
        });
      } else if (auto* f = std::get_if<dialer_actions::fetch_call>(&a)) {
        ask_about(std::move(*f));
      }
    }
    reschedule();
  }

  void dial(dialer_actions::dial d) {
    later([self = shared_from_this(), d = std::move(d)] {
      const auto& e = d.entry;
      auto fresh = self->store->begin_attempt(d.campaign_id, e, store_now());
      if (!fresh || !*fresh) {
        const bool stored = fresh.has_value();
        std::vector<dialer_action> next;
        {
          std::lock_guard lock(self->mutex);
          next = stored ? self->model.refused(d.campaign_id, e.index, e.attempts, refusal::unknown,
                                              "this attempt was already made", store_now())
                        : self->model.refused(d.campaign_id, e.index, e.attempts, refusal::not_placed,
                                              "the store could not mark the attempt: " + fresh.error().message,
                                              store_now());
        }
        return self->apply(std::move(next));
      }
      create_call_params p;
      std::string agent;
      {
        std::lock_guard lock(self->mutex);
        const auto it = self->campaigns.find(d.campaign_id);
        if (it == self->campaigns.end()) return;
        const campaign_request& s = it->second.settings;
        agent = s.agent;
        p.from = s.from.empty() ? self->options.from : s.from;
        p.machine_detection = s.machine.detection;
        p.ring_timeout_seconds = s.ring_timeout_seconds;
      }
      p.to = e.to;
      auto vars = parse_variables_json(e.variables_json);
      p.twiml = outbound_twiml(self->options.stream_url, agent, p.from, p.to, vars ? *vars : call_variables{},
                               self->options.fallback, self->options.action_url);
      p.status_callback = self->callback_url(status_path, d.campaign_id, e.index, e.attempts);
      if (!p.machine_detection.empty())
        p.async_amd_callback = self->callback_url(amd_path, d.campaign_id, e.index, e.attempts);
      if (self->stopping) return;
      self->client.create_call(p, false, [weak = self->weak_from_this(), d, p](const rest_result& r) {
        auto me = weak.lock();
        if (!me) return;
        me->dialed(d, p, r);
      });
    });
  }

  void dialed(const dialer_actions::dial& d, const create_call_params& p, const rest_result& r) {
    const auto& e = d.entry;
    std::vector<dialer_action> next;
    std::string agent;
    {
      std::lock_guard lock(mutex);
      if (r.ok) {
        next = model.placed(d.campaign_id, e.index, e.attempts, r.call.sid, store_now());
      } else {
        next = model.refused(d.campaign_id, e.index, e.attempts, r.what, r.error.describe(), store_now());
      }
      if (const auto it = campaigns.find(d.campaign_id); it != campaigns.end()) agent = it->second.settings.agent;
    }
    if (r.ok) {
      log(fmt::format("campaign {}: entry {} attempt {}: {} to {}", d.campaign_id, e.index, e.attempts, r.call.sid,
                      e.to));
      later([self = shared_from_this(), d, sid = r.call.sid, p, agent] {
        (void)self->store->attempt_placed(d.campaign_id, d.entry.index, d.entry.attempts, sid);
        records::call_started c{sid, "", p.from, p.to, call_direction::outbound, agent, store_now()};
        if (auto w = self->store->outbound_call(c); !w) self->log("outbound: cannot record call " + sid + ": " + w.error().message);
      });
    } else {
      log(fmt::format("campaign {}: entry {} attempt {} to {}: {}", d.campaign_id, e.index, e.attempts, e.to,
                      r.error.describe()));
    }
    apply(std::move(next));
  }

  void ask_about(dialer_actions::fetch_call f) {
    if (stopping) return;
    client.fetch_call(f.call_sid, [weak = weak_from_this(), f](const rest_result& r) {
      auto me = weak.lock();
      if (!me || !r.ok) return;
      const auto progress = parse_call_progress(r.call.status);
      if (!progress) return;
      std::vector<dialer_action> next;
      {
        std::lock_guard lock(me->mutex);
        next = me->model.status(f.campaign_id, f.index, f.attempt, f.call_sid, *progress, r.call.answered_by,
                                store_now());
      }
      me->apply(std::move(next));
    });
  }

  void reschedule() {
    std::chrono::milliseconds delay{0};
    {
      std::lock_guard lock(mutex);
      const auto next = model.next_wakeup();
      if (!next || (armed && *armed <= *next)) return;
      armed = next;
      delay = std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(*next - store_now()));
    }
    if (stopping) return;
    timers.after(delay, [weak = weak_from_this()](bool stopped) {
      auto me = weak.lock();
      if (!me || stopped || me->stopping) return;
      std::vector<dialer_action> next;
      {
        std::lock_guard lock(me->mutex);
        me->armed.reset();
        next = me->model.tick(store_now());
      }
      me->apply(std::move(next));
    });
  }

  // --- the API

  void place_one(const api_request& r, std::function<void(api_response)> respond) {
    auto req = parse_outbound_call(r.body);
    if (!req) return respond(json_error(400, req.error().message));
    create_call_params p;
    p.to = req->to;
    p.from = req->from.empty() ? options.from : req->from;
    if (p.from.empty()) return respond(json_error(400, "from is required (or set TWILIO_FROM)"));
    p.twiml = outbound_twiml(options.stream_url, req->agent, p.from, p.to, req->variables, options.fallback, options.action_url);
    if (p.twiml.size() > 4000)
      return respond(json_error(400, "the call's TwiML would exceed Twilio's 4000 characters: shorten the variables"));
    p.status_callback = callback_url(status_path, {}, 0, 0);
    p.machine_detection = req->machine.detection;
    if (!p.machine_detection.empty()) p.async_amd_callback = callback_url(amd_path, {}, 0, 0);
    p.ring_timeout_seconds = req->ring_timeout_seconds;
    dial_time at;
    {
      std::lock_guard lock(mutex);
      at = model.reserve_slot(store_now());
    }
    const auto wait = std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(at - store_now()));
    auto send = [weak = weak_from_this(), p, agent = req->agent, machine = req->machine, respond](bool stopped) {
      auto me = weak.lock();
      if (!me || stopped || me->stopping) return respond(json_error(503, "the server is stopping"));
      // A single call is an operator's request for one call now: a 5xx is
      // retried too (Twilio's advice for idempotent requests; see docs).
      me->client.create_call(p, true, [weak, p, agent, machine, respond](const rest_result& res) {
        auto self = weak.lock();
        if (!self) return respond(json_error(503, "the server is stopping"));
        if (!res.ok) {
          self->log(fmt::format("outbound call to {}: {}", p.to, res.error.describe()));
          std::string extra = fmt::format(R"(,"twilio":{{"http_status":{},"code":{},"message":)", res.error.http_status,
                                          res.error.code);
          json::append_string(extra, res.error.message);
          extra += R"(,"more_info":)";
          json::append_string(extra, res.error.more_info);
          extra += "}";
          return respond(json_error(502, "Twilio did not place the call: " + res.error.describe(), extra));
        }
        {
          std::lock_guard lock(self->mutex);
          self->singles[res.call.sid] = single_call{agent, machine};
        }
        self->log(fmt::format("outbound call {} to {} (agent {})", res.call.sid, p.to, agent.empty() ? "default" : agent));
        self->later([self, res, p, agent, respond] {
          if (self->store) {
            records::call_started c{res.call.sid, "", p.from, p.to, call_direction::outbound, agent, store_now()};
            if (auto w = self->store->outbound_call(c); !w)
              self->log("outbound: cannot record call " + res.call.sid + ": " + w.error().message);
          }
          std::string body = R"({"call_sid":)";
          json::append_string(body, res.call.sid);
          body += R"(,"status":)";
          json::append_string(body, res.call.status);
          body += R"(,"to":)";
          json::append_string(body, p.to);
          body += R"(,"from":)";
          json::append_string(body, p.from);
          body += R"(,"agent":)";
          json::append_string(body, agent);
          body += R"(,"direction":"outbound"})";
          respond({201, "application/json", std::move(body)});
        });
      });
    };
    if (wait.count() == 0) return send(false);
    timers.after(wait, std::move(send));
  }

  api_response create_campaign(const api_request& r) {
    auto req = parse_campaign_request(r.body);
    if (!req) return json_error(400, req.error().message);
    if (options.max_concurrent_limit > 0 && req->max_concurrent > options.max_concurrent_limit)
      return json_error(400, fmt::format("max_concurrent must be at most {} (OUTBOUND_MAX_CONCURRENT)",
                                         options.max_concurrent_limit));
    campaign_plan plan;
    plan.id = random_id("CP");
    plan.max_concurrent = req->max_concurrent;
    plan.calls_per_second = req->calls_per_second;
    plan.busy = req->busy;
    plan.no_answer = req->no_answer;
    if (req->window) {
      auto w = make_window(*req->window, options.zoneinfo_dir);
      if (!w) return json_error(400, w.error().message);
      plan.window = std::move(*w);
    }
    const std::string from = req->from.empty() ? options.from : req->from;
    if (from.empty()) return json_error(400, "from is required (or set TWILIO_FROM)");
    const store_time now = store_now();
    std::vector<campaign_entry> entries;
    std::string invalid;
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < req->numbers.size(); ++i) {
      const campaign_number& n = req->numbers[i];
      campaign_entry e;
      e.index = static_cast<std::int64_t>(i);
      e.to = n.to;
      e.variables_json = variables_json(n.variables);
      e.updated_at = now;
      std::string error = n.error;
      if (error.empty() &&
          outbound_twiml(options.stream_url, req->agent, from, n.to, n.variables, options.fallback, options.action_url).size() > 4000)
        error = "its TwiML would exceed Twilio's 4000 characters: shorten the variables";
      if (!error.empty()) {
        e.state = entry_state::invalid;
        e.outcome = std::string(outcome::invalid);
        e.detail = error;
        if (!invalid.empty()) invalid.push_back(',');
        invalid += fmt::format(R"({{"index":{},"to":)", i);
        json::append_string(invalid, n.to);
        invalid += R"(,"error":)";
        json::append_string(invalid, error);
        invalid.push_back('}');
      } else {
        ++accepted;
      }
      entries.push_back(std::move(e));
    }
    stored_campaign c{plan.id, req->name, campaign_state::running, campaign_settings_json(*req), "", now, now};
    if (auto w = store->create(c, entries); !w) return json_error(503, "cannot store the campaign: " + w.error().message);
    std::vector<dialer_action> actions;
    {
      std::lock_guard lock(mutex);
      campaign_request settings = *req;
      settings.numbers.clear();
      campaigns[plan.id] = campaign_info{std::move(settings)};
      actions = model.add(plan, campaign_state::running, std::move(entries), now);
    }
    log(fmt::format("campaign {} ({}): {} numbers, {} accepted, {} calls at once, {} per second", plan.id, req->name,
                    req->numbers.size(), accepted, plan.max_concurrent, plan.calls_per_second));
    apply(std::move(actions));
    std::string body = R"({"campaign_id":)";
    json::append_string(body, plan.id);
    body += fmt::format(R"(,"state":"running","entries":{},"accepted":{},"invalid":[{}]}})", req->numbers.size(),
                        accepted, invalid);
    return {201, "application/json", std::move(body)};
  }

  api_response campaign_detail(std::string_view id) {
    auto c = store->get(id);
    if (!c) return json_error(503, c.error().message);
    if (!*c) return json_error(404, "no such campaign");
    auto entries = store->entries(id);
    if (!entries) return json_error(503, entries.error().message);
    std::map<std::string, int> states, outcomes;
    for (const auto& e : *entries) {
      ++states[std::string(to_string(e.state))];
      if (e.state == entry_state::done || e.state == entry_state::invalid) ++outcomes[e.outcome];
    }
    std::string out;
    write_campaign_head(out, **c);
    out += R"(,"settings":)";
    out += (*c)->settings_json;
    const auto count = [&](std::string_view k) {
      const auto it = states.find(std::string(k));
      return it == states.end() ? 0 : it->second;
    };
    const int in_flight = count("dialing") + count("queued") + count("ringing") + count("in_progress");
    out += fmt::format(R"(,"progress":{{"total":{},"pending":{},"in_flight":{},"done":{},"invalid":{}}})",
                       entries->size(), count("pending"), in_flight, count("done"), count("invalid"));
    out += R"(,"outcomes":{)";
    bool first = true;
    for (const auto& [k, n] : outcomes) {
      if (!first) out.push_back(',');
      first = false;
      json::append_string(out, k);
      out += fmt::format(":{}", n);
    }
    out += R"(},"entries":[)";
    for (std::size_t i = 0; i < entries->size(); ++i) {
      if (i) out.push_back(',');
      write_entry(out, (*entries)[i]);
    }
    out += "]}";
    return {200, "application/json", std::move(out)};
  }

  api_response campaign_list() {
    auto list = store->list(false, 100);
    if (!list) return json_error(503, list.error().message);
    std::string out = R"({"campaigns":[)";
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (i) out.push_back(',');
      write_campaign_head(out, (*list)[i]);
      out.push_back('}');
    }
    out += "]}";
    return {200, "application/json", std::move(out)};
  }

  api_response command(std::string_view id, std::string_view verb) {
    std::vector<dialer_action> actions;
    std::optional<campaign_state> now_state;
    {
      std::lock_guard lock(mutex);
      const store_time now = store_now();
      actions = verb == "pause"    ? model.pause(id, now)
                : verb == "resume" ? model.resume(id, now)
                                   : model.cancel(id, now);
      if (const campaign_view* v = model.find(id)) now_state = v->state;
    }
    if (actions.empty()) {
      auto c = store->get(id);
      if (!c) return json_error(503, c.error().message);
      if (!*c) return json_error(404, "no such campaign");
      return json_error(409, fmt::format("the campaign is {}: it cannot be {}", to_string((*c)->state),
                                         verb == "pause" ? "paused" : verb == "resume" ? "resumed" : "cancelled"));
    }
    log(fmt::format("campaign {}: {} by the operator", id, verb));
    apply(std::move(actions));
    std::string body = R"({"campaign_id":)";
    json::append_string(body, id);
    body += R"(,"state":)";
    json::append_string(body, now_state ? to_string(*now_state) : std::string_view("unknown"));
    body.push_back('}');
    return {200, "application/json", std::move(body)};
  }

  void resume_stored() {
    auto list = store->list(true, 10'000);
    if (!list) return log("outbound: cannot read the campaigns to resume: " + list.error().message);
    for (const stored_campaign& c : *list) {
      auto settings = parse_campaign_request(c.settings_json, false);
      auto entries = store->entries(c.id);
      if (!settings || !entries) {
        log("outbound: cannot resume campaign " + c.id);
        continue;
      }
      campaign_plan plan;
      plan.id = c.id;
      plan.max_concurrent = settings->max_concurrent;
      plan.calls_per_second = settings->calls_per_second;
      plan.busy = settings->busy;
      plan.no_answer = settings->no_answer;
      if (settings->window) {
        auto w = make_window(*settings->window, options.zoneinfo_dir);
        if (!w) {
          log("outbound: campaign " + c.id + ": " + w.error().message);
          continue;
        }
        plan.window = std::move(*w);
      }
      std::vector<dialer_action> actions;
      {
        std::lock_guard lock(mutex);
        campaigns[c.id] = campaign_info{std::move(*settings)};
        actions = model.add(plan, c.state, std::move(*entries), store_now());
      }
      log(fmt::format("campaign {} resumed after a restart ({})", c.id, to_string(c.state)));
      apply(std::move(actions));
    }
  }
};

outbound_service::outbound_service(outbound_options options, campaign_store* store, fetcher& http,
                                   scheduler& timers)
    : impl_(std::make_shared<impl>(std::move(options), store, http, timers)) {
  impl_->pace_retries();
}

outbound_service::~outbound_service() {
  impl_->stopping = true;
  impl_->worker.reset();  // runs what is queued (store writes), then stops
}

void outbound_service::start() {
  if (!impl_->store) return;
  impl_->later([self = impl_] { self->resume_stored(); });
}

bool outbound_service::handles(std::string_view method, std::string_view path) noexcept {
  if (path == calls_prefix) return method == "POST";
  return path == campaigns_prefix || (path.starts_with(campaigns_prefix) && path.size() > campaigns_prefix.size() &&
                                      path[campaigns_prefix.size()] == '/');
}

void outbound_service::handle(const api_request& r, std::function<void(api_response)> respond) {
  if (r.path == calls_prefix) {
    if (r.method != "POST") return respond(json_error(405, "POST places a call; GET lists them"));
    return impl_->place_one(r, std::move(respond));
  }
  if (!impl_->store) return respond(json_error(503, "campaigns need the call store (DATABASE_URL)"));
  const bool queued = impl_->worker->submit([self = impl_, r, respond] {
    std::string_view rest = std::string_view(r.path).substr(campaigns_prefix.size());
    if (rest.empty()) {
      if (r.method == "POST") return respond(self->create_campaign(r));
      if (r.method == "GET" || r.method == "HEAD") return respond(self->campaign_list());
      return respond(json_error(405, "POST creates a campaign; GET lists them"));
    }
    rest.remove_prefix(1);
    const std::size_t slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    if (id.empty()) return respond(json_error(404, "not found"));
    if (slash == std::string_view::npos) {
      if (r.method != "GET" && r.method != "HEAD") return respond(json_error(405, "only GET"));
      return respond(self->campaign_detail(id));
    }
    const std::string_view verb = rest.substr(slash + 1);
    if (verb != "pause" && verb != "resume" && verb != "cancel") return respond(json_error(404, "not found"));
    if (r.method != "POST") return respond(json_error(405, "only POST"));
    respond(self->command(id, verb));
  });
  if (!queued) respond(json_error(503, "busy: try again"));
}

void outbound_service::status_callback(const form& query, const form& body) {
  const std::string sid(find(body, "CallSid"));
  const std::string_view status = find(body, "CallStatus");
  const auto progress = parse_call_progress(status);
  if (sid.empty() || !progress) return;
  const std::string_view answered_by = find(body, "AnsweredBy");
  const std::string campaign(find(query, "c"));
  const auto index = number(find(query, "e"));
  const auto attempt = number(find(query, "a"));
  const auto seq = number(find(body, "SequenceNumber"));
  auto& self = *impl_;
  std::vector<dialer_action> actions;
  std::string agent;
  {
    std::lock_guard lock(self.mutex);
    if (!campaign.empty() && index && attempt) {
      actions = self.model.status(campaign, *index, static_cast<int>(*attempt), sid, *progress, answered_by, store_now());
      if (const auto it = self.campaigns.find(campaign); it != self.campaigns.end()) agent = it->second.settings.agent;
    } else if (const auto it = self.singles.find(sid); it != self.singles.end()) {
      agent = it->second.agent;
      if (is_final(*progress)) self.singles.erase(it);
    }
  }
  self.log(fmt::format("call {}: {}{}", sid, status, campaign.empty() ? "" : fmt::format(" (campaign {} entry {})", campaign, index.value_or(-1))));
  self.apply(std::move(actions));
  if (!self.store) return;
  records::call_started c{sid, "", std::string(find(body, "From")), std::string(find(body, "To")),
                          call_direction::outbound, agent, store_now()};
  std::string detail = R"({"status":)";
  json::append_string(detail, status);
  for (std::string_view k : {"SequenceNumber", "CallDuration", "SipResponseCode", "AnsweredBy", "ErrorCode"}) {
    if (const auto v = find(body, k); !v.empty()) {
      detail.push_back(',');
      json::append_string(detail, k);
      detail.push_back(':');
      json::append_string(detail, v);
    }
  }
  if (!campaign.empty()) {
    detail += R"(,"campaign_id":)";
    json::append_string(detail, campaign);
  }
  detail.push_back('}');
  const std::int64_t event_seq = status_seq + (seq ? std::clamp<std::int64_t>(*seq, 0, 999'999)
                                                   : static_cast<std::int64_t>(*progress) + 900'000);
  records::event e{sid, event_seq, store_now(), "status", std::move(detail)};
  const bool answered = *progress == call_progress::in_progress;
  const std::string end(is_final(*progress) ? end_reason_of(*progress) : std::string_view{});
  self.later([me = impl_, c = std::move(c), e = std::move(e), answered, end] {
    if (auto w = me->store->call_progress(c, e, answered, end); !w)
      me->log("outbound: cannot record the status of " + c.call_sid + ": " + w.error().message);
  });
}

void outbound_service::amd_callback(const form& query, const form& body) {
  const std::string sid(find(body, "CallSid"));
  const std::string answered_by(find(body, "AnsweredBy"));
  if (sid.empty() || answered_by.empty()) return;
  const std::string campaign(find(query, "c"));
  const auto index = number(find(query, "e"));
  const auto attempt = number(find(query, "a"));
  auto& self = *impl_;
  std::vector<dialer_action> actions;
  machine_settings machine;
  std::string agent;
  {
    std::lock_guard lock(self.mutex);
    if (!campaign.empty() && index && attempt) {
      actions = self.model.detected(campaign, *index, static_cast<int>(*attempt), answered_by, store_now());
      if (const auto it = self.campaigns.find(campaign); it != self.campaigns.end()) {
        machine = it->second.settings.machine;
        agent = it->second.settings.agent;
      }
    } else if (const auto it = self.singles.find(sid); it != self.singles.end()) {
      machine = it->second.machine;
      agent = it->second.agent;
    }
  }
  self.apply(std::move(actions));
  if (self.store) {
    std::string detail = R"({"answered_by":)";
    json::append_string(detail, answered_by);
    if (const auto ms = find(body, "MachineDetectionDuration"); !ms.empty()) {
      detail += R"(,"detection_ms":)";
      json::append_string(detail, ms);
    }
    detail.push_back('}');
    records::call_started c{sid, "", "", "", call_direction::outbound, agent, store_now()};
    records::event e{sid, amd_seq, store_now(), "amd", std::move(detail)};
    self.later([me = impl_, c = std::move(c), e = std::move(e)] { (void)me->store->call_progress(c, e, false, ""); });
  }
  if (!is_machine(answered_by)) return;
  // A machine: the policy of the call (or campaign), else the agent's, else hang up.
  machine_policy policy = machine_policy::hang_up;
  std::string message = machine.voicemail_message;
  if (machine.on_machine) {
    policy = *machine.on_machine;
  } else if (self.options.find_agent) {
    if (const std::optional<agent_profile> a = self.options.find_agent(agent)) {
      policy = a->on_machine;
      message = a->voicemail_message;
    }
  }
  std::string twiml = R"(<?xml version="1.0" encoding="UTF-8"?><Response>)";
  if (policy == machine_policy::leave_message && !message.empty()) {
    twiml += "<Say>";
    twilio::append_xml_escaped(twiml, message);
    twiml += "</Say>";
  }
  twiml += "<Hangup/></Response>";
  self.log(fmt::format("call {}: answered by {}: {}", sid, answered_by,
                       policy == machine_policy::leave_message ? "leaving the message" : "hanging up"));
  if (self.stopping) return;
  self.client.update_call(sid, {{"Twiml", twiml}}, [weak = impl_->weak_from_this(), sid](const rest_result& r) {
    auto me = weak.lock();
    if (me && !r.ok) me->log("call " + sid + ": the machine policy failed: " + r.error.describe());
  });
}

}  // namespace rtb::service
