// Internals of the libwebsockets adapter, shared by its translation units.
//
// Theory of operation
// -------------------
// A server runs N service threads. Each owns one lws_context with one vhost,
// and its own SO_REUSEPORT listening socket on the shared port (listener.hpp),
// so the kernel spreads new connections over the threads and a call never
// crosses threads.
//
// Protocols (the same table on every vhost):
//   [0] "rtb-twilio": HTTP routes and the media-stream WebSocket. Index 0,
//       because a WebSocket upgrade without a subprotocol (Twilio's) binds to
//       protocols[0]; HTTP without mounts lands there too.
//   [1] "rtb-openai": the client WebSocket to OpenAI, bound explicitly with
//       local_protocol_name.
//   [2] "rtb-listen": the thread's own listening socket (see listener.hpp).
//   [3] "rtb-request-line": the epoll descriptor where accepted connections
//       wait for their request line before lws gets them (request_line.hpp).
//
// One call_link per call holds both legs, the call_driver, one outbound queue
// per leg, and the driver's timer. The Twilio wsi's per-session data points at
// it; the OpenAI wsi reaches it through lws' opaque user data. It is freed when
// the last leg is gone (the raw-proxy plugin's rule).
//
// When a leg has nothing queued and lws holds no unsent remainder, what one
// call into the driver sends it is framed into the thread's batch for that leg
// and written with one lws_write when the driver returns; otherwise messages
// are queued and written from WRITEABLE, one lws_write per callback. Frames to OpenAI are built here (ws_frame.hpp)
// with keys from mask_source, not by lws, which reads /dev/urandom per frame.
// Cross-thread commands (call_handle from another thread) go through the
// thread's mailbox and lws_cancel_service(). The mailbox is shared with every
// handle, so it outlives the thread; it is closed (refuses commands) before
// the thread's lws context is destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <functional>
#include <list>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <libwebsockets.h>

#include "event_loop.hpp"
#include "mask_source.hpp"
#include "realtime_bridge/lws/server.hpp"
#include "realtime_bridge/metrics.hpp"
#include "realtime_bridge/shared_parser.hpp"
#include "request_line.hpp"
#include "ws_url.hpp"

namespace rtb::lws_adapter {

class call_link;
struct service_thread;

/// A host command for a call, queued from another thread.
struct posted_command {
  enum class kind { tool_result, user_text, end_call, end_after_playout, set_agent, configure, task };
  std::uint64_t call_id = 0;
  kind what = kind::end_call;
  std::string a;
  std::string b;
  bool flag = false;
  /// kind::task: work for the thread itself (not for a call). Called with the
  /// thread, or with null when the mailbox closes before it ran: it must then
  /// give up cleanly (e.g. tell its caller the server stopped).
  std::function<void(service_thread*)> task;
  /// kind::configure: the call's configuration (null keeps its own).
  std::shared_ptr<const call_config> config = nullptr;
  std::string c = {};  ///< end_after_playout: the tool output
};

/// A service thread's inbox for commands from other threads.
struct thread_mailbox {
  std::mutex mutex;
  std::vector<posted_command> commands;
  lws_context* context = nullptr;    ///< null once closed: the thread's loop is stopping or gone
  std::thread::id owner;             ///< the service thread, once it runs
  service_thread* thread = nullptr;  ///< valid while open; dereferenced on `owner` only
};

}  // namespace rtb::lws_adapter

/// Shared by a call and every handle on it.
struct rtb::lws_adapter::call_handle::shared_state {
  std::uint64_t call_id = 0;
  std::shared_ptr<thread_mailbox> mailbox;
  std::atomic<bool> ended{false};
};

namespace rtb::lws_adapter {

/// What one service thread counts as it relays; written by that thread
/// alone (single_writer_counter), read by whoever scrapes.
struct thread_metrics {
  single_writer_counter messages_in[2];   ///< complete messages received: [0] Twilio, [1] OpenAI
  single_writer_counter messages_out[2];  ///< messages sent
  single_writer_counter calls;            ///< calls on the thread now (add and subtract by this thread)
  latency_histogram relay;                ///< a message received -> the frames it caused written
  latency_histogram loop_lag;             ///< how late the thread's once-a-second tick ran
};

/// Totals of ended calls (their counters at the end), from any thread.
struct call_totals {
  static constexpr std::size_t reasons = 16;
  std::atomic<std::uint64_t> ended_by_reason[reasons]{};
  std::atomic<std::uint64_t> caller_frames{0}, ai_audio_deltas{0}, media_sent{0}, marks_sent{0}, barge_ins{0},
      clears{0}, truncates{0}, truncates_rejected{0}, deletes{0}, cancels{0}, late_deltas_dropped{0},
      rejected_twilio{0}, rejected_openai{0},
      responses{0}, tool_calls{0}, openai_errors{0}, input_text_tokens{0}, input_audio_tokens{0},
      input_cached_tokens{0}, output_text_tokens{0}, output_audio_tokens{0};
  void add(const call_summary& s) noexcept;
};

}  // namespace rtb::lws_adapter

/// Shared by a streamed HTTP response (on its service thread) and the
/// application's event_stream handles (any thread).
struct rtb::lws_adapter::event_stream::shared_state {
  static constexpr std::size_t max_queued_bytes = 1024 * 1024;
  std::mutex mutex;
  std::string queued;  ///< what waits to be written
  bool closed = false;  ///< no more writes: the client left, fell behind, or close() was asked
  bool close_asked = false;
  struct lws* wsi = nullptr;  ///< on the owner thread only; null once the connection is gone
  std::shared_ptr<thread_mailbox> mailbox;
};

/// Shared by a request waiting for its answer (on its service thread) and
/// the application's pending_response handles (any thread).
struct rtb::lws_adapter::pending_response::shared_state {
  std::mutex mutex;
  std::optional<http_response> answer;  ///< set once, by the first respond()
  bool done = false;                    ///< answered, or the client left
  void* exchange = nullptr;             ///< the waiting request (owner thread only); null once it is gone
  std::shared_ptr<thread_mailbox> mailbox;
};

namespace rtb::lws_adapter {

/// Runs `work` on the thread of `mailbox`, soon; nothing if it is closed.
void post_task(thread_mailbox& mailbox, std::function<void(service_thread*)> work);

struct server_shared {
  server_options options;
  std::shared_ptr<application> app;
  ws_url openai;
  std::string openai_host;  ///< the Host header for `openai`
  lws_retry_bo_t retry{};
  std::atomic<bool> accepting{true};
  std::size_t max_calls = 0;  ///< options.max_calls, or derived at start()
  /// Calls admitted and not yet over: a slot is taken when an upgrade is
  /// accepted (before the call exists), so the limit holds across threads.
  std::atomic<std::size_t> admitted{0};
  std::atomic<std::uint64_t> admission_refusals{0};
  std::atomic<std::int64_t> last_refusal_log_ms{0};
  std::atomic<std::uint64_t> next_call_id{1};
  std::atomic<std::uint64_t> calls_started{0};
  std::atomic<std::uint64_t> calls_active{0};
  std::atomic<std::uint64_t> calls_ended{0};
  std::atomic<std::uint64_t> openai_reconnects{0};  ///< OpenAI connects after the call's first (reconnects)
  std::atomic<std::uint64_t> openai_rollovers{0};   ///< switches to a next session (rollover)
  std::atomic<std::uint64_t> streams_refused{0};
  std::atomic<std::uint64_t> accept_pauses{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> unexpected_destroys{0};
  std::atomic<std::int64_t> timers_pending{0};
  std::atomic<std::int64_t> fetches_active{0};
  /// When a connection to OpenAI last opened, and last failed to (ms on the
  /// steady clock; 0: never): readiness looks at these.
  std::atomic<std::int64_t> openai_last_open_ms{0};
  std::atomic<std::int64_t> openai_last_failure_ms{0};
  call_totals totals;
  latency_histogram openai_connect;  ///< connect started -> WebSocket open (record_shared)
  latency_histogram session_setup;   ///< WebSocket open -> session.updated
  mutable std::mutex error_codes_mutex;
  std::map<std::string, std::uint64_t, std::less<>> openai_error_codes;  ///< bounded (see count_openai_error)
  /// Counts an OpenAI error by its code (the text before ':' in `detail`).
  void count_openai_error(std::string_view detail);
  std::atomic<bool> accepting_fetches{true};
  std::atomic<std::uint64_t> next_fetch_thread{0};

  void log(log_level level, std::string_view line) const {
    if (options.log_records)
      options.log_records(log_record{level, line, 0, {}, {}, {}});
    else if (options.log)
      options.log(level, line);
  }
};

struct service_thread {
  service_thread(server_shared& s, int i) : shared(s), index(i) {}

  server_shared& shared;
  int index;
  std::unique_ptr<loop_runner> runner;
  lws_context* context = nullptr;
  lws_vhost* vhost = nullptr;
  std::thread thread;
  std::thread::id thread_id;
  std::atomic<bool> exit{false};
  std::atomic<bool> end_all_calls{false};

  std::shared_ptr<thread_mailbox> mailbox = std::make_shared<thread_mailbox>();

  /// Calls living on this thread; touched only by this thread.
  std::unordered_map<std::uint64_t, call_link*> calls;
  /// Media-stream upgrades admitted (holding a slot of max_calls) whose
  /// WebSocket is not established yet; this thread only.
  std::unordered_set<struct lws*> admitted_upgrades;
  thread_metrics metrics;
  /// Work scheduled with server::after on this thread: one timer each, until
  /// it fires; what is left when the thread stops is told so.
  struct deferred_work {
    loop_timer timer{};
    std::function<void(bool stopped)> work;
    service_thread* thread = nullptr;
  };
  std::list<deferred_work> deferred;
  bool deferred_closed = false;  ///< after the loop ends: told stopped at once
  void defer(std::chrono::milliseconds delay, std::function<void(bool stopped)> work);
  void cancel_deferred();
  loop_timer tick{};  ///< once a second: the loop's lag
  std::chrono::steady_clock::time_point tick_due{};
  std::atomic<std::int64_t> last_tick_ms{0};  ///< steady clock: liveness
  void arm_tick();

  /// Masking keys for frames to OpenAI; this thread only.
  mask_source masks;
  /// The JSON parser every call on this thread decodes in, one message at a
  /// time (shared_parser.hpp): tens of KiB per call otherwise.
  shared_parser parser;

  /// The frames one call into a driver writes at once to a leg
  /// (call_link::enqueue), sent together when the driver returns
  /// (call_link::flush_writes): a media message and its mark leave in one
  /// send, one TCP segment. Unowned between calls into drivers.
  struct write_batch {
    call_link* owner = nullptr;
    std::vector<unsigned char> bytes;  ///< LWS_PRE bytes of headroom, then whole frames
  };
  write_batch batches[2];  ///< [0] Twilio, [1] OpenAI
  write_batch& batch(leg side) noexcept { return batches[side == leg::twilio ? 0 : 1]; }

  /// Out of descriptors: stop watching the listening socket (its queued
  /// connections wait in the kernel's backlog) and watch it again after
  /// accept_pause. On the service thread only.
  void pause_accepting(struct lws* listener, int error_number);
  loop_timer accept_resume{};
  /// Accepted connections wait here until their request line has arrived
  /// (request_line.hpp); it keeps each request's target as received.
  request_line_gate requests{*this};

  /// The service thread running on the calling thread, if any.
  static service_thread* current() noexcept;
  /// Runs queued commands; on the service thread only.
  void drain_inbox();
  /// Runs a command for one of this thread's calls, on the service thread.
  /// False if the call is gone.
  bool run_now(const posted_command& command);
  /// Refuses further commands; before the context is destroyed. Any thread.
  /// Tasks still queued are told they will not run.
  void close_mailbox();
  /// Queues `command` for this thread; false if the mailbox is closed. Any thread.
  bool post(posted_command command);
  void run();
};

/// The adapter's metrics (server::write_metrics).
void write_adapter_metrics(const server_shared& shared, const std::vector<std::unique_ptr<service_thread>>& threads,
                           prometheus_writer& out);

/// The protocol table every vhost uses.
const lws_protocols* protocol_table();

}  // namespace rtb::lws_adapter
