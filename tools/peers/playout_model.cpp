#include "playout_model.hpp"

#include <algorithm>

#include "realtime_bridge/audio.hpp"

namespace rtb::peers {

std::uint64_t playout_model::played_of(const std::vector<chunk>& chunks, timestamp now) {
  std::uint64_t played = 0;
  for (const auto& c : chunks) {
    if (now <= c.start) break;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - c.start).count();
    played += std::min<std::uint64_t>(c.bytes, static_cast<std::uint64_t>(us) * audio::mulaw_bytes_per_ms / 1000);
  }
  return played;
}

void playout_model::media(std::uint64_t bytes, timestamp now) {
  const bool continues = busy_until_ > now;
  const timestamp start = continues ? busy_until_ : now + start_delay_;
  // Audio that plays right after the previous chunk extends it (8 bytes are
  // exactly 1000 µs, so a merged chunk plays exactly like its parts): a long
  // answer is one chunk, not one per message.
  if (continues && !chunks_.empty() && chunks_.back().start + duration_of(chunks_.back().bytes) == start)
    chunks_.back().bytes += bytes;
  else
    chunks_.push_back({start, bytes});
  busy_until_ = start + duration_of(bytes);
}

void playout_model::mark(std::string name, timestamp now) {
  pending_.push_back({std::move(name), busy_until_ > now ? busy_until_ : now});
}

void playout_model::clear(timestamp now) {
  const std::uint64_t heard = played_of(chunks_, now);
  heard_at_clears_.push_back(audio::mulaw_ms(heard));
  played_before_ += heard;
  chunks_.clear();
  busy_until_ = now;
  for (auto& p : pending_) p.due = std::min(p.due, now);
}

std::optional<timestamp> playout_model::next_echo() const {
  if (pending_.empty()) return std::nullopt;
  return pending_.front().due;
}

std::vector<std::string> playout_model::take_echoes(timestamp now) {
  std::vector<std::string> out;
  while (!pending_.empty() && pending_.front().due <= now) {
    out.push_back(std::move(pending_.front().name));
    pending_.pop_front();
  }
  return out;
}

std::uint64_t playout_model::played_since_clear(timestamp now) const { return played_of(chunks_, now); }

std::uint64_t playout_model::played_total(timestamp now) const { return played_before_ + played_of(chunks_, now); }

}  // namespace rtb::peers
