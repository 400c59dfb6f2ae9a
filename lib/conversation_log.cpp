// The conversation as text, kept for replay to a new session (reconnect,
// rollover). Bounded in entries and characters; the oldest go first.
#include "realtime_bridge/conversation_log.hpp"

#include <algorithm>

#include "realtime_bridge/heard_text.hpp"

namespace rtb {
namespace {
using kind = to_openai::create_item::kind;
// One answer's transcript deltas, bounded (a long monologue is cut, not kept whole).
constexpr std::size_t max_entry_chars = 8'000;
}  // namespace

conversation_log::entry* conversation_log::find(kind what, std::string_view id) {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->what == what && it->item_id == id) return &*it;
  return nullptr;
}

bool conversation_log::has_tool_call(std::string_view call_id) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return e.what == kind::function_call && e.item_id == call_id; });
}

void conversation_log::add(entry e) {
  chars_ += e.text.size() + e.name.size();
  entries_.push_back(std::move(e));
  trim();
}

void conversation_log::set_text(entry& e, std::string_view text, bool append) {
  chars_ -= e.text.size();
  if (!append) e.text.clear();
  const std::size_t room = max_entry_chars > e.text.size() ? max_entry_chars - e.text.size() : 0;
  e.text.append(text.substr(0, std::min(room, text.size())));
  chars_ += e.text.size();
  trim();
}

void conversation_log::trim() {
  while (!entries_.empty() && (entries_.size() > limits_.max_entries || chars_ > limits_.max_chars)) {
    chars_ -= entries_.front().text.size() + entries_.front().name.size();
    entries_.pop_front();
    ++trimmed_;
  }
}

void conversation_log::caller_item(std::string_view item_id) {
  if (item_id.empty() || find(kind::caller, item_id)) return;
  add({kind::caller, std::string(item_id), {}, {}});
  entries_.back().pending = true;
}

void conversation_log::caller_transcript_failed(std::string_view item_id) {
  if (entry* e = find(kind::caller, item_id)) e->pending = false;
}

bool conversation_log::caller_transcript_pending() const noexcept {
  return std::any_of(entries_.begin(), entries_.end(), [](const entry& e) { return e.pending; });
}

void conversation_log::caller_transcript(std::string_view item_id, std::string_view text) {
  entry* e = find(kind::caller, item_id);
  if (!e) {
    // Committed before the log started (or trimmed): keep it, at the end.
    add({kind::caller, std::string(item_id), {}, {}});
    e = &entries_.back();
  }
  e->pending = false;
  set_text(*e, text, false);
}

void conversation_log::caller_text(std::string_view text) { add({kind::caller, {}, std::string(text), {}}); }

void conversation_log::assistant_item(std::string_view item_id) {
  if (item_id.empty() || find(kind::assistant, item_id)) return;
  add({kind::assistant, std::string(item_id), {}, {}});
}

void conversation_log::assistant_transcript_delta(std::string_view item_id, std::string_view delta) {
  assistant_item(item_id);
  if (entry* e = find(kind::assistant, item_id)) set_text(*e, delta, true);
}

void conversation_log::assistant_transcript(std::string_view item_id, std::string_view text) {
  assistant_item(item_id);
  if (entry* e = find(kind::assistant, item_id)) set_text(*e, text, false);
}

void conversation_log::assistant_heard(std::string_view item_id, std::int64_t heard_ms, std::int64_t sent_ms) {
  assistant_item(item_id);
  if (entry* e = find(kind::assistant, item_id)) {
    e->heard_ms = heard_ms;
    e->sent_ms = sent_ms;
  }
}

void conversation_log::tool_call(std::string_view call_id, std::string_view name, std::string_view arguments) {
  add({kind::function_call, std::string(call_id), std::string(arguments.substr(0, max_entry_chars)),
       std::string(name)});
}

void conversation_log::tool_output(std::string_view call_id, std::string_view output) {
  add({kind::function_output, std::string(call_id), std::string(output.substr(0, max_entry_chars)), {}});
}

void conversation_log::replay(actions& out) const {
  for (const entry& e : entries_) {
    switch (e.what) {
      case kind::caller:
      case kind::assistant: {
        std::string_view text = e.text;
        if (e.what == kind::assistant && e.heard_ms >= 0) text = heard_text(e.text, e.heard_ms, e.sent_ms);
        if (text.empty()) continue;
        out.push_back(to_openai::create_item{e.what, std::string(text), {}, {}});
        break;
      }
      case kind::function_call:
        out.push_back(to_openai::create_item{e.what, e.text, e.item_id, e.name});
        break;
      case kind::function_output:
        if (!has_tool_call(e.item_id)) continue;  // its call was trimmed: the server would refuse it
        out.push_back(to_openai::create_item{e.what, e.text, e.item_id, {}});
        break;
    }
  }
}

}  // namespace rtb
