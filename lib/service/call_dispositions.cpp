#include "realtime_bridge/service/call_dispositions.hpp"

namespace rtb::service {

std::string_view to_string(call_disposition::kind k) noexcept {
  switch (k) {
    case call_disposition::kind::hang_up: return "hang_up";
    case call_disposition::kind::transfer: return "transfer";
    case call_disposition::kind::fallback: break;
  }
  return "fallback";
}

std::optional<call_disposition> stored_disposition(const stored_call& c) {
  if (c.disposition == to_string(call_disposition::kind::hang_up)) return call_disposition{call_disposition::kind::hang_up, {}};
  if (c.disposition == to_string(call_disposition::kind::transfer) && !c.transfer_to.empty())
    return call_disposition{call_disposition::kind::transfer, c.transfer_to};
  if (c.ended_at) return call_disposition{};
  return std::nullopt;
}

std::optional<call_disposition> disposition_wait::decide(const std::optional<stored_call>& call,
                                                         std::chrono::milliseconds elapsed) const {
  if (call)
    if (auto d = stored_disposition(*call)) return d;
  const auto limit = call ? open_call : unknown_call;
  if (elapsed + retry_every > limit) return call_disposition{};
  return std::nullopt;
}

std::string disposition_twiml(const call_disposition& d, const twilio::fallback& fallback) {
  switch (d.what) {
    case call_disposition::kind::hang_up: return twilio::render_hangup();
    case call_disposition::kind::transfer: {
      twilio::fallback dial;
      dial.what = twilio::fallback::kind::dial;
      dial.number = d.number;
      return twilio::render_fallback(dial);
    }
    case call_disposition::kind::fallback: break;
  }
  return twilio::render_fallback(fallback);
}

void disposition_book::record(std::string call_sid, call_disposition d, clock::time_point now) {
  if (store_)
    store_->record(records::call_disposed{call_sid, std::string(to_string(d.what)),
                                          d.what == call_disposition::kind::transfer ? d.number : std::string()});
  const std::lock_guard lock(mutex_);
  expire(now);
  while (entries_.size() >= capacity_ && !order_.empty()) {
    entries_.erase(order_.front().second);
    order_.pop_front();
  }
  order_.emplace_back(now, call_sid);
  entries_[std::move(call_sid)] = entry{std::move(d), now};
}

std::optional<call_disposition> disposition_book::take(std::string_view call_sid, clock::time_point now) {
  const std::lock_guard lock(mutex_);
  expire(now);
  const auto it = entries_.find(std::string(call_sid));
  if (it == entries_.end()) return std::nullopt;
  call_disposition d = std::move(it->second.disposition);
  entries_.erase(it);  // its place in order_ goes when it would have expired
  return d;
}

std::size_t disposition_book::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

void disposition_book::expire(clock::time_point now) {
  while (!order_.empty() && (now - order_.front().first > keep_ || !entries_.contains(order_.front().second))) {
    // An entry recorded again later has a newer place in order_: keep it.
    const auto it = entries_.find(order_.front().second);
    if (it != entries_.end() && it->second.at == order_.front().first && now - it->second.at > keep_)
      entries_.erase(it);
    order_.pop_front();
  }
}

}  // namespace rtb::service
