// What has been said in a call, as text, to replay to a new OpenAI session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "realtime_bridge/actions.hpp"

namespace rtb {

struct conversation_log_limits {
  std::size_t max_entries = 200;
  /// Text kept in all (about 4 characters a token: 6,000 tokens, a fifth of
  /// gpt-realtime's 32k context). The oldest entries go first.
  std::size_t max_chars = 24'000;
};

/// A bounded record of the conversation in order: caller turns (their
/// transcripts), what the caller *heard* of each AI answer (its transcript,
/// cut where barge-in cut the audio), texts the host injected, tool calls and
/// their outputs. replay() gives it as conversation.item.create actions, the
/// only way to seed a new session (it cannot take assistant audio).
///
/// Entries are placed when the conversation gets them (a caller item when its
/// audio is committed, an answer when its item is added) and filled in when
/// the text comes (transcription arrives late, asynchronously).
class conversation_log {
 public:
  explicit conversation_log(conversation_log_limits limits = {}) : limits_(limits) {}

  void caller_item(std::string_view item_id);  ///< input_audio_buffer.committed
  void caller_transcript(std::string_view item_id, std::string_view text);
  void caller_transcript_failed(std::string_view item_id);
  /// A committed caller turn still waits for its transcript.
  bool caller_transcript_pending() const noexcept;
  void caller_text(std::string_view text);  ///< the host injected text as the caller
  void assistant_item(std::string_view item_id);
  void assistant_transcript_delta(std::string_view item_id, std::string_view delta);
  void assistant_transcript(std::string_view item_id, std::string_view text);  ///< the whole transcript
  /// Barge-in: the caller heard `heard_ms` of the `sent_ms` forwarded (0: nothing).
  void assistant_heard(std::string_view item_id, std::int64_t heard_ms, std::int64_t sent_ms);
  void tool_call(std::string_view call_id, std::string_view name, std::string_view arguments);
  void tool_output(std::string_view call_id, std::string_view output);
  bool has_tool_call(std::string_view call_id) const noexcept;

  /// The conversation as items to create, oldest first, appended to `out`:
  /// caller turns without a transcript and answers the caller heard nothing
  /// of are left out.
  void replay(actions& out) const;
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t chars() const noexcept { return chars_; }
  std::uint64_t trimmed() const noexcept { return trimmed_; }

 private:
  struct entry {
    to_openai::create_item::kind what;
    std::string item_id;  ///< the server's item id, or call id for tool calls and outputs
    std::string text;     ///< transcript, tool arguments or tool output
    std::string name;     ///< tool name
    std::int64_t heard_ms = -1;  ///< barge-in: how much of the answer was heard (-1: all)
    std::int64_t sent_ms = 0;
    bool pending = false;  ///< a caller turn whose transcript has not come yet
  };
  entry* find(to_openai::create_item::kind what, std::string_view id);
  void add(entry e);
  void set_text(entry& e, std::string_view text, bool append);
  void trim();

  conversation_log_limits limits_;
  std::deque<entry> entries_;
  std::size_t chars_ = 0;
  std::uint64_t trimmed_ = 0;
};

}  // namespace rtb
