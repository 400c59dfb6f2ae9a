#include "call_link.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "ws_frame.hpp"

namespace rtb::lws_adapter {
namespace {

static_assert(LWS_PRE >= max_frame_header, "queued messages keep LWS_PRE bytes for the frame header");

// A leg that stops reading while we keep sending would grow its queue without
// bound; live audio that old is useless anyway.
constexpr std::size_t max_queued_bytes = 4 * 1024 * 1024;

// A close frame's payload: the code and at most 123 bytes of reason (RFC 6455 §5.5).
constexpr std::size_t max_close_payload = 125;

std::string_view leg_name(leg side) { return side == leg::twilio ? "twilio" : "openai"; }

std::int64_t steady_ms(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

call_link::call_link(service_thread& thread, std::uint64_t id, stream_request request, struct lws* twilio_wsi)
    : thread_(thread),
      shared_(thread.shared),
      id_(id),
      handle_state_(std::make_shared<call_handle::shared_state>()),
      request_(std::move(request)) {
  handle_state_->call_id = id_;
  handle_state_->mailbox = thread_.mailbox;
  state(leg::twilio).wsi = twilio_wsi;
  state(leg::twilio).connected = true;
  state(leg::openai).gone = true;  // until the call asks to connect
  timer_.owner = this;
  timer_.fire = &call_link::on_timer;
  thread_.calls[id_] = this;
  thread_.metrics.calls.add(1);
  ++shared_.calls_started;
  ++shared_.calls_active;
}

call_link::~call_link() {
  handle_state_->ended = true;
  for (leg side : {leg::twilio, leg::openai})
    if (thread_.batch(side).owner == this) thread_.batch(side).owner = nullptr;
  thread_.runner->cancel(timer_);
  thread_.calls.erase(id_);
  thread_.metrics.calls.add(static_cast<std::uint64_t>(-1));  // wraps back: one fewer
  shared_.admitted.fetch_sub(1);  // the slot its upgrade took (handed over at ESTABLISHED)
  --shared_.calls_active;
  ++shared_.calls_ended;
}

void call_link::log(log_level level, std::string_view line) const {
  const log_record r{level, line, id_, call_sid_, stream_sid_, agent_};
  if (shared_.options.log_records)
    shared_.options.log_records(r);
  else if (shared_.options.log)
    shared_.options.log(level, format_log_line(r));
}

bool call_link::start() {
  call_config config = shared_.options.call;
  try {
    if (auto custom = shared_.app->config_for_call(request_)) {
      if (auto ok = validate(*custom); !ok) {
        log(log_level::error, "the application's call configuration is invalid: " + ok.error().message);
        request_close(leg::twilio, close_internal_error, "configuration error");
        after_driver();
        return false;
      }
      config = std::move(*custom);
    }
    trace_ = shared_.app->trace_for_call(request_);
    app_observer_ = shared_.app->observer_for_call(call_handle(handle_state_));
  } catch (const std::exception& e) {
    log(log_level::error, fmt::format("the application failed to set up the call: {}", e.what()));
    request_close(leg::twilio, close_internal_error, "application error");
    after_driver();
    return false;
  }
  driver_ = std::make_unique<call_driver>(std::move(config), twilio_transport_, openai_transport_, logger_,
                                          shared_.options.limits, &clock::now, trace_.get(), &thread_.parser);
  driver_->set_connector(&connector_);
  log(log_level::info, fmt::format("media stream connected from {}", request_.peer));
  driver_->start();  // asks to connect now, or once Twilio's start has chosen the configuration
  after_driver();
  return true;
}

void call_link::link_connector::connect(openai_slot slot, std::string_view model) {
  leg_state& s = link.state(leg::openai);
  if (slot != openai_slot::current || !s.gone || link.connect_model_) {
    link.log(log_level::warning, "a second OpenAI connection was asked for; this adapter keeps one per call");
    return;
  }
  link.connect_model_ = std::string(model);
}

void call_link::connect_openai() {
  if (!connect_model_) return;
  const std::string path = with_model(shared_.openai.path, *connect_model_);  // lws copies it
  connect_model_.reset();
  leg_state& s = state(leg::openai);
  s = leg_state{};  // a fresh leg
  const ws_url& url = shared_.openai;
  lws_client_connect_info i;
  std::memset(&i, 0, sizeof i);
  i.context = thread_.context;
  i.vhost = thread_.vhost;
  i.address = url.host.c_str();
  i.port = url.port;
  i.path = path.c_str();
  i.host = shared_.openai_host.c_str();  // no Origin: this is not a browser
  i.ssl_connection = url.tls ? LCCSCF_USE_SSL : 0;
  i.local_protocol_name = "rtb-openai";
  i.opaque_user_data = this;
  i.pwsi = &state(leg::openai).wsi;
  i.retry_and_idle_policy = &shared_.retry;
  openai_connect_started_ = clock::now();
  connecting_ = true;
  struct lws* wsi = lws_client_connect_via_info(&i);
  connecting_ = false;
  // A synchronous failure may already have been reported through
  // CLIENT_CONNECTION_ERROR (then the leg is gone); report it once either way.
  if (!wsi && !state(leg::openai).gone) on_leg_gone(leg::openai, "could not start connecting to OpenAI");
}

void call_link::append_openai_headers(unsigned char** p, unsigned char* end, bool& failed) {
  const std::string& key = shared_.options.openai.api_key;
  if (key.empty()) return;
  const std::string value = "Bearer " + key;
  if (lws_add_http_header_by_name(state(leg::openai).wsi, reinterpret_cast<const unsigned char*>("authorization:"),
                                  reinterpret_cast<const unsigned char*>(value.data()), static_cast<int>(value.size()),
                                  p, end))
    failed = true;
}

void call_link::on_openai_established() {
  leg_state& s = state(leg::openai);
  s.connected = true;
  openai_open_at_ = clock::now();
  shared_.openai_last_open_ms = steady_ms(openai_open_at_);
  shared_.openai_connect.record_shared(
      std::chrono::duration_cast<std::chrono::microseconds>(openai_open_at_ - openai_connect_started_));
  log(log_level::info, "OpenAI socket open");
  driver_->on_openai_open();
  after_driver();
}

void call_link::on_receive(leg side, const void* data, std::size_t length, bool final_fragment) {
  if (!driver_) return;
  leg_state& s = state(side);
  padded_buffer& inbox = driver_->inbox(side);
  if (!s.oversized && inbox.size() + length > driver_->max_message_bytes(side)) {
    s.oversized = true;
    s.oversized_bytes = inbox.size();
    inbox.clear();
  }
  if (s.oversized) {
    s.oversized_bytes += length;
  } else {
    inbox.append(std::string_view(static_cast<const char*>(data), length));
  }
  if (!final_fragment) return;
  thread_.metrics.messages_in[side == leg::twilio ? 0 : 1].add();
  if (shared_.options.relay_latency_metrics) received_at_ = clock::now();
  if (s.oversized) {
    driver_->on_oversized(side, s.oversized_bytes);
    s.oversized = false;
    s.oversized_bytes = 0;
  } else {
    driver_->on_message(side);
  }
  after_driver();
}

void call_link::enqueue(leg side, std::string_view message) {
  leg_state& s = state(side);
  if (s.gone || s.pending_close) {
    ++s.dropped_after_close;
    return;
  }
  thread_.metrics.messages_out[side == leg::twilio ? 0 : 1].add();
  if (s.connected && s.queue.empty() && !lws_partial_buffered(s.wsi)) {
    // Nothing is waiting: frame it into the batch that leaves when the driver
    // returns (flush_writes), with no WRITEABLE round trip (which would cost
    // two epoll_ctl calls and a wake-up).
    service_thread::write_batch& batch = thread_.batch(side);
    if (batch.owner != this) {
      if (batch.owner) batch.owner->flush_writes();  // left by a driver call that threw
      batch.owner = this;
      batch.bytes.resize(LWS_PRE);
    }
    append_frame(batch.bytes, ws_opcode::text, message, mask_for(side));
    return;
  }
  if (s.queue.bytes() + message.size() > max_queued_bytes) {
    log(log_level::error,
        fmt::format("{} is not reading: {} bytes queued; closing it", leg_name(side), s.queue.bytes()));
    request_close(side, close_internal_error, "send queue overflow");
    return;
  }
  s.queue.push(message);
}

void call_link::flush_writes() {
  bool wrote = false;
  for (leg side : {leg::twilio, leg::openai}) {
    service_thread::write_batch& batch = thread_.batch(side);
    if (batch.owner != this) continue;
    batch.owner = nullptr;
    const std::size_t length = batch.bytes.size() - LWS_PRE;
    leg_state& s = state(side);
    if (length == 0 || !s.connected) continue;
    // If the socket takes only part, lws keeps the rest and writes it before
    // the next WRITEABLE (and enqueue() queues until then).
    if (lws_write(s.wsi, batch.bytes.data() + LWS_PRE, length, LWS_WRITE_RAW) < static_cast<int>(length)) {
      log(log_level::warning, fmt::format("write to {} failed; closing it", leg_name(side)));
      s.connected = false;
      lws_set_timeout(s.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    wrote = true;
  }
  if (received_at_) {
    if (wrote)
      thread_.metrics.relay.record(std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - *received_at_));
    received_at_.reset();
  }
}

std::optional<std::array<std::uint8_t, 4>> call_link::mask_for(leg side) {
  if (side == leg::openai) return thread_.masks.next();
  return std::nullopt;
}

void call_link::request_close(leg side, std::uint16_t code, std::string_view reason) {
  leg_state& s = state(side);
  if (s.gone || s.pending_close) return;
  s.pending_close.emplace(code, std::string(reason.substr(0, 120)));
  if (!s.connected && s.wsi) {
    // Still connecting (the OpenAI leg): abandon the attempt.
    lws_set_timeout(s.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
  }
}

int call_link::on_writeable(leg side) {
  leg_state& s = state(side);
  if (!s.wsi || !s.connected || s.close_sent) return 0;
  if (!s.queue.empty()) {
    std::string& buffer = s.queue.front();
    const std::size_t length = s.queue.front_length();
    auto* payload = reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE;
    const bool written = write_frame(side, ws_opcode::text, payload, length);
    s.queue.pop();
    if (!written) {
      log(log_level::warning, fmt::format("write to {} failed; closing it", leg_name(side)));
      return -1;
    }
    if (!s.queue.empty() || s.pending_close) lws_callback_on_writable(s.wsi);
    return 0;
  }
  if (s.pending_close) return send_close(side) ? 0 : -1;
  return 0;
}

bool call_link::send_close(leg side) {
  leg_state& s = state(side);
  const auto& [code, reason] = *s.pending_close;
  unsigned char buffer[LWS_PRE + max_close_payload];
  unsigned char* payload = buffer + LWS_PRE;
  payload[0] = static_cast<unsigned char>(code >> 8);
  payload[1] = static_cast<unsigned char>(code & 0xFF);
  const std::size_t reason_length = std::min(reason.size(), max_close_payload - 2);
  std::memcpy(payload + 2, reason.data(), reason_length);
  const bool written = write_frame(side, ws_opcode::close, payload, 2 + reason_length);
  s.close_sent = true;
  // The peer answers with its own close (on_peer_close then drops the
  // connection); one that does not is dropped when this runs out.
  lws_set_timeout(s.wsi, PENDING_TIMEOUT_CLOSE_ACK, static_cast<int>(shared_.options.close_timeout.count()));
  return written;
}

bool call_link::write_frame(leg side, ws_opcode opcode, unsigned char* payload, std::size_t length) {
  // lws sends the finished frame as it is, or keeps what the socket did not
  // take and sends it before anything else.
  const std::size_t header = frame_in_place(opcode, payload, length, mask_for(side));
  const std::size_t frame = header + length;
  return lws_write(state(side).wsi, payload - header, frame, LWS_WRITE_RAW) >= static_cast<int>(frame);
}

bool call_link::on_peer_close(leg side, const void* payload, std::size_t length) {
  leg_state& s = state(side);
  if (s.close_sent) return true;  // the answer to our close: the handshake is complete
  const auto* bytes = static_cast<const unsigned char*>(payload);
  if (length >= 2) {
    s.peer_close_code = static_cast<std::uint16_t>(bytes[0] << 8 | bytes[1]);
    s.peer_close_reason.assign(reinterpret_cast<const char*>(bytes) + 2, length - 2);
  }
  return false;
}

void call_link::on_leg_gone(leg side, std::string_view why) {
  leg_state& s = state(side);
  if (s.gone) return;
  if (side == leg::openai && !s.connected && !s.pending_close)
    shared_.openai_last_failure_ms = steady_ms(clock::now());  // it never opened, and we did not give up on it
  s.gone = true;
  s.connected = false;
  s.wsi = nullptr;
  s.queue.clear();
  const std::string reason = s.peer_close_reason.empty() ? std::string(why) : s.peer_close_reason;
  log(log_level::info, fmt::format("{} leg closed (code {}{}{})", leg_name(side), s.peer_close_code,
                                   reason.empty() ? "" : ", ", reason));
  if (driver_) {
    driver_->on_closed(side, s.peer_close_code, reason);
    after_driver();
  }
}

void call_link::after_driver() {
  connect_openai();
  flush_writes();
  for (leg side : {leg::twilio, leg::openai}) {
    leg_state& s = state(side);
    if (s.wsi && s.connected && (!s.queue.empty() || s.pending_close)) lws_callback_on_writable(s.wsi);
  }
  if (!driver_ || driver_->finished()) {
    thread_.runner->cancel(timer_);
    return;
  }
  const auto next = driver_->next_timeout();
  if (!next) {
    thread_.runner->cancel(timer_);
    return;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(*next - clock::now()).count();
  thread_.runner->schedule(thread_.context, timer_, us > 0 ? us : 0);
}

void call_link::on_timer(loop_timer& timer) {
  call_link& self = *static_cast<call_link*>(timer.owner);
  try {
    if (self.driver_) self.driver_->on_timer();
    self.after_driver();
  } catch (const std::exception& e) {
    self.log(log_level::error, fmt::format("timer failed: {}", e.what()));
  }
}

void call_link::run(const posted_command& c) {
  if (!driver_) return;
  switch (c.what) {
    case posted_command::kind::tool_result: driver_->submit_tool_result(c.a, c.b); break;
    case posted_command::kind::user_text: driver_->send_user_text(c.a, c.flag); break;
    case posted_command::kind::end_call: driver_->end_call(c.a); break;
    case posted_command::kind::end_after_playout: driver_->end_after_playout(c.a, c.b, c.c); break;
    case posted_command::kind::set_agent: agent_ = c.a; return;
    case posted_command::kind::configure:
      if (c.config)
        driver_->configure(*c.config);
      else
        driver_->keep_configuration();
      break;
    case posted_command::kind::task: break;  // the thread's, never a call's
  }
  after_driver();
}

// --- logging observer ---

void call_link::logging_observer::on_stream_started(const to_host::stream_started& e) {
  link.call_sid_ = std::string(e.call_sid);
  link.stream_sid_ = std::string(e.stream_sid);
  link.log(log_level::info, fmt::format("stream started ({} custom parameters)", e.custom_parameters.size()));
  if (link.app_observer_) link.app_observer_->on_stream_started(e);
}
void call_link::logging_observer::on_session_ready(const to_host::session_ready& e) {
  link.shared_.session_setup.record_shared(
      std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - link.openai_open_at_));
  link.log(log_level::info, fmt::format("AI session ready ({})", e.session_id));
  if (link.app_observer_) link.app_observer_->on_session_ready(e);
}
void call_link::logging_observer::on_caller_transcript(const to_host::caller_transcript& e) {
  link.log(log_level::debug, fmt::format("caller said: {}", e.text));
  if (link.app_observer_) link.app_observer_->on_caller_transcript(e);
}
void call_link::logging_observer::on_ai_transcript(const to_host::ai_transcript& e) {
  link.log(log_level::debug, fmt::format("AI said: {}", e.text));
  if (link.app_observer_) link.app_observer_->on_ai_transcript(e);
}
void call_link::logging_observer::on_ai_interrupted(const to_host::ai_interrupted& e) {
  link.log(log_level::info,
           fmt::format("barge-in: the caller heard {} of {} ms of {}", e.heard_ms, e.sent_ms, e.item_id));
  if (link.app_observer_) link.app_observer_->on_ai_interrupted(e);
}
void call_link::logging_observer::on_dtmf(const to_host::dtmf& e) {
  link.log(log_level::info, fmt::format("DTMF {}", e.digit));
  if (link.app_observer_) link.app_observer_->on_dtmf(e);
}

void call_link::logging_observer::on_playout_finished(const to_host::playout_finished& e) {
  if (link.app_observer_) link.app_observer_->on_playout_finished(e);
}
void call_link::logging_observer::on_tool_call(const to_host::tool_call& e) {
  link.log(log_level::info, fmt::format("tool call {} ({})", e.name, e.call_id));
  if (link.app_observer_) link.app_observer_->on_tool_call(e);
}
void call_link::logging_observer::on_warning(const to_host::warning& e) {
  if (e.code == warning_code::openai_error) link.shared_.count_openai_error(e.detail);
  link.log(log_level::warning, fmt::format("{}: {}", to_string(e.code), e.detail));
  if (link.app_observer_) link.app_observer_->on_warning(e);
}
void call_link::logging_observer::on_call_ended(const call_summary& s) {
  link.handle_state_->ended = true;
  link.shared_.totals.add(s);
  if (s.reason == end_reason::openai_rejected) link.shared_.count_openai_error(s.detail);
  const call_counters& c = s.counters;
  link.log(ai_side_failure(s.reason) ? log_level::warning : log_level::info,
           fmt::format("call ended: {}{}{} (frames in {}, appended {} in {} messages, deltas {}, media out {}, "
                       "barge-ins {}, truncates {}, deletes {}, rejected {}/{})",
                       to_string(s.reason), s.detail.empty() ? "" : ": ", s.detail, c.twilio.media_frames,
                       c.caller_frames_forwarded, c.caller_audio_appends, c.openai.audio_deltas, c.playout.media_sent,
                       c.playout.barge_ins, c.playout.truncates, c.playout.deletes, c.rejected_twilio_messages, c.rejected_openai_messages));
  if (link.app_observer_) link.app_observer_->on_call_ended(s);
}

}  // namespace rtb::lws_adapter
