// The adapter's metrics: per-thread relay counters and histograms (written by
// their thread only), totals of ended calls, and their Prometheus rendering.
#include <algorithm>

#include <fmt/format.h>

#include "internal.hpp"

namespace rtb::lws_adapter {
namespace {

constexpr std::size_t max_error_codes = 64;  // a peer cannot grow the map without bound
constexpr auto tick_interval = std::chrono::seconds(1);

void add(std::atomic<std::uint64_t>& a, std::uint64_t n) { a.fetch_add(n, std::memory_order_relaxed); }
void add_tokens(std::atomic<std::uint64_t>& a, std::int64_t n) {
  if (n > 0) add(a, static_cast<std::uint64_t>(n));
}
std::uint64_t get(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

void call_totals::add(const call_summary& s) noexcept {
  const auto reason = static_cast<std::size_t>(s.reason);
  if (reason < reasons) lws_adapter::add(ended_by_reason[reason], 1);
  const call_counters& c = s.counters;
  lws_adapter::add(caller_frames, c.twilio.media_frames);
  lws_adapter::add(ai_audio_deltas, c.openai.audio_deltas);
  lws_adapter::add(media_sent, c.playout.media_sent);
  lws_adapter::add(marks_sent, c.playout.marks_sent);
  lws_adapter::add(barge_ins, c.playout.barge_ins);
  lws_adapter::add(clears, c.playout.clears);
  lws_adapter::add(truncates, c.playout.truncates);
  lws_adapter::add(truncates_rejected, c.openai.truncates_rejected);
  lws_adapter::add(deletes, c.playout.deletes);
  lws_adapter::add(cancels, c.playout.cancels);
  lws_adapter::add(late_deltas_dropped, c.playout.late_deltas_dropped);
  lws_adapter::add(rejected_twilio, c.rejected_twilio_messages);
  lws_adapter::add(rejected_openai, c.rejected_openai_messages);
  lws_adapter::add(responses, c.openai.responses);
  lws_adapter::add(tool_calls, c.openai.tool_calls);
  lws_adapter::add(openai_errors, c.openai.errors);
  add_tokens(input_text_tokens, c.openai.input_text_tokens);
  add_tokens(input_audio_tokens, c.openai.input_audio_tokens);
  add_tokens(input_cached_tokens, c.openai.input_cached_tokens);
  add_tokens(output_text_tokens, c.openai.output_text_tokens);
  add_tokens(output_audio_tokens, c.openai.output_audio_tokens);
}

void server_shared::count_openai_error(std::string_view detail) {
  std::string_view code = detail.substr(0, detail.find(':'));
  if (code.empty() || code.size() > 64 || code.find(' ') != std::string_view::npos) code = "other";
  const std::lock_guard lock(error_codes_mutex);
  auto it = openai_error_codes.find(code);
  if (it == openai_error_codes.end()) {
    if (openai_error_codes.size() >= max_error_codes) code = "other";
    it = openai_error_codes.emplace(std::string(code), 0).first;
  }
  ++it->second;
}

void service_thread::arm_tick() {
  tick.owner = this;
  tick.counted = false;  // always armed: not a sign of a call left behind
  tick.fire = [](loop_timer& t) {
    auto& self = *static_cast<service_thread*>(t.owner);
    const auto now = std::chrono::steady_clock::now();
    self.metrics.loop_lag.record(std::chrono::duration_cast<std::chrono::microseconds>(now - self.tick_due));
    self.last_tick_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    self.arm_tick();
  };
  const auto now = std::chrono::steady_clock::now();
  if (last_tick_ms == 0) last_tick_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  tick_due = now + tick_interval;
  runner->schedule(context, tick, std::chrono::duration_cast<std::chrono::microseconds>(tick_interval).count());
}

void write_adapter_metrics(const server_shared& s, const std::vector<std::unique_ptr<service_thread>>& threads,
                           prometheus_writer& w) {
  using labels = prometheus_writer::labels;

  w.family("rtb_calls_active", "gauge", "Calls in progress.");
  w.sample("rtb_calls_active", static_cast<std::uint64_t>(s.calls_active.load()));
  w.family("rtb_calls_started_total", "counter", "Media streams accepted.");
  w.sample("rtb_calls_started_total", s.calls_started.load());
  w.family("rtb_calls_ended_total", "counter", "Calls ended, by end reason.");
  for (const end_reason r : all_end_reasons()) {
    const auto i = static_cast<std::size_t>(r);
    if (i < call_totals::reasons)
      w.sample("rtb_calls_ended_total", labels{{"reason", std::string(to_string(r))}}, get(s.totals.ended_by_reason[i]));
  }
  w.family("rtb_openai_reconnects_total", "counter",
           "New OpenAI sessions opened for calls whose session failed (reconnect attempts).");
  w.sample("rtb_openai_reconnects_total", s.openai_reconnects.load());
  w.family("rtb_openai_rollovers_total", "counter",
           "Calls switched to a new OpenAI session before the old one reached its time limit.");
  w.sample("rtb_openai_rollovers_total", s.openai_rollovers.load());
  w.family("rtb_max_calls", "gauge", "The most calls this process takes at once.");
  w.sample("rtb_max_calls", static_cast<std::uint64_t>(s.max_calls));
  w.family("rtb_admission_refusals_total", "counter", "Media streams refused because max_calls were in progress.");
  w.sample("rtb_admission_refusals_total", s.admission_refusals.load());
  w.family("rtb_streams_refused_total", "counter", "Media streams refused (signature, draining, capacity).");
  w.sample("rtb_streams_refused_total", s.streams_refused.load());
  w.family("rtb_draining", "gauge", "1 once the server stopped accepting calls.");
  w.sample("rtb_draining", std::uint64_t{s.accepting.load() ? 0u : 1u});

  // Live, per thread.
  w.family("rtb_messages_total", "counter", "WebSocket messages relayed, by leg and direction.");
  for (const auto& t : threads)
    for (int leg_index = 0; leg_index < 2; ++leg_index) {
      const std::string leg = leg_index == 0 ? "twilio" : "openai", thread = std::to_string(t->index);
      w.sample("rtb_messages_total", labels{{"leg", leg}, {"direction", "in"}, {"thread", thread}},
               t->metrics.messages_in[leg_index].get());
      w.sample("rtb_messages_total", labels{{"leg", leg}, {"direction", "out"}, {"thread", thread}},
               t->metrics.messages_out[leg_index].get());
    }
  w.family("rtb_thread_calls", "gauge", "Calls on each service thread.");
  for (const auto& t : threads)
    w.sample("rtb_thread_calls", labels{{"thread", std::to_string(t->index)}}, t->metrics.calls.get());
  w.family("rtb_relay_latency_seconds", "histogram",
           "From a message received to the frames it caused written, inside the bridge.");
  latency_histogram::snapshot relay;
  for (const auto& t : threads) relay += t->metrics.relay.read();
  w.histogram("rtb_relay_latency_seconds", {}, relay);
  w.family("rtb_event_loop_lag_seconds", "histogram", "How late each thread's once-a-second tick ran.");
  for (const auto& t : threads)
    w.histogram("rtb_event_loop_lag_seconds", labels{{"thread", std::to_string(t->index)}}, t->metrics.loop_lag.read());

  w.family("rtb_openai_connect_seconds", "histogram", "From starting to connect to OpenAI to the WebSocket open.");
  w.histogram("rtb_openai_connect_seconds", {}, s.openai_connect.read());
  w.family("rtb_openai_session_setup_seconds", "histogram", "From the WebSocket open to session.updated.");
  w.histogram("rtb_openai_session_setup_seconds", {}, s.session_setup.read());
  w.family("rtb_openai_errors_total", "counter", "OpenAI error events, by code.");
  {
    const std::lock_guard lock(s.error_codes_mutex);
    for (const auto& [code, n] : s.openai_error_codes) w.sample("rtb_openai_errors_total", labels{{"code", code}}, n);
  }

  // Totals of ended calls.
  const call_totals& c = s.totals;
  const auto total = [&](std::string_view name, std::string_view help, const std::atomic<std::uint64_t>& v) {
    w.family(name, "counter", help);
    w.sample(name, get(v));
  };
  total("rtb_caller_frames_total", "Twilio media frames received (ended calls).", c.caller_frames);
  total("rtb_ai_audio_deltas_total", "OpenAI audio deltas received (ended calls).", c.ai_audio_deltas);
  total("rtb_media_sent_total", "Media messages sent to Twilio (ended calls).", c.media_sent);
  total("rtb_barge_ins_total", "Callers speaking over audio still queued at Twilio (ended calls).", c.barge_ins);
  total("rtb_clears_total", "Clears sent to Twilio (ended calls).", c.clears);
  total("rtb_truncates_total", "conversation.item.truncate sent (ended calls).", c.truncates);
  total("rtb_truncates_rejected_total", "Truncates OpenAI refused with an error (ended calls).", c.truncates_rejected);
  total("rtb_deletes_total", "conversation.item.delete sent for audio never heard (ended calls).", c.deletes);
  total("rtb_late_deltas_dropped_total", "Audio of interrupted responses dropped (ended calls).", c.late_deltas_dropped);
  w.family("rtb_rejected_messages_total", "counter", "Messages dropped as malformed or too large, by leg (ended calls).");
  w.sample("rtb_rejected_messages_total", labels{{"leg", "twilio"}}, get(c.rejected_twilio));
  w.sample("rtb_rejected_messages_total", labels{{"leg", "openai"}}, get(c.rejected_openai));
  total("rtb_responses_total", "Responses the model created (ended calls).", c.responses);
  total("rtb_model_tool_calls_total", "Function calls the model made (ended calls).", c.tool_calls);
  w.family("rtb_tokens_total", "counter", "Tokens, by direction and modality (ended calls).");
  w.sample("rtb_tokens_total", labels{{"direction", "input"}, {"modality", "text"}}, get(c.input_text_tokens));
  w.sample("rtb_tokens_total", labels{{"direction", "input"}, {"modality", "audio"}}, get(c.input_audio_tokens));
  w.sample("rtb_tokens_total", labels{{"direction", "input"}, {"modality", "cached"}}, get(c.input_cached_tokens));
  w.sample("rtb_tokens_total", labels{{"direction", "output"}, {"modality", "text"}}, get(c.output_text_tokens));
  w.sample("rtb_tokens_total", labels{{"direction", "output"}, {"modality", "audio"}}, get(c.output_audio_tokens));

  w.family("rtb_http_requests_total", "counter", "HTTP requests served.");
  w.sample("rtb_http_requests_total", s.http_requests.load());
  w.family("rtb_fetches_active", "gauge", "Outbound HTTP requests in progress.");
  w.sample("rtb_fetches_active", static_cast<double>(s.fetches_active.load()));
  w.family("rtb_accept_pauses_total", "counter", "Times accepting paused for lack of descriptors.");
  w.sample("rtb_accept_pauses_total", s.accept_pauses.load());
}

}  // namespace rtb::lws_adapter
