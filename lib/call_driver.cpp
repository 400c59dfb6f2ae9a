// The driver is the shell around one call: it reads the clock once per input,
// decodes messages, feeds the call machine, encodes the actions it returns and
// hands them to the transports and the observer. Everything stateful about the
// protocol stays in the machines; this file only moves bytes and records the
// trace.
#include "realtime_bridge/call_driver.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "json.hpp"
#include "realtime_bridge/config_json.hpp"
#include "realtime_bridge/openai/decoder.hpp"
#include "realtime_bridge/openai/encoder.hpp"
#include "realtime_bridge/twilio/decoder.hpp"
#include "realtime_bridge/twilio/encoder.hpp"

namespace rtb {
namespace {

// A host command issued from inside an observer callback, run after the
// current input has been fully executed.
struct deferred_command {
  enum class kind { tool_result, user_text, end_call, end_after_playout, configure } what;
  std::string a;
  std::string b;
  bool flag = false;
  std::optional<call_config> config = std::nullopt;  ///< configure: none keeps the call's own
  std::string c = {};
};

constexpr std::size_t max_unknown_fields_reported = 32;

}  // namespace

struct call_driver::impl {
  impl(call_config config, transport& tw, transport& oa, call_observer& obs, driver_limits lim, clock_function clk,
       trace_sink* tr, shared_parser* parser)
      : twilio(tw),
        openai(oa),
        observer(obs),
        limits(lim),
        now_source(std::move(clk)),
        trace(tr),
        t0(now_source()),
        last_now(t0),
        the_call(std::move(config), t0),
        twilio_decoder(lim.max_twilio_message_bytes, parser),
        openai_decoder(lim.max_openai_message_bytes, parser) {
    out.reserve(1024);
    if (trace) {
      line.assign(R"({"rtb_trace":1,"config":)");
      append_config_json(line, the_call.config());
      fmt::format_to(std::back_inserter(line),
                     R"(,"limits":{{"max_twilio_message_bytes":{},"max_openai_message_bytes":{}}}}})",
                     lim.max_twilio_message_bytes, lim.max_openai_message_bytes);
      trace->write_line(line);
    }
  }

  transport& twilio;
  transport& openai;
  call_observer& observer;
  driver_limits limits;
  clock_function now_source;
  trace_sink* trace;
  timestamp t0;
  timestamp last_now;
  rtb::call the_call;
  twilio::decoder twilio_decoder;
  openai::decoder openai_decoder;
  padded_buffer twilio_inbox;
  padded_buffer openai_inbox;
  std::string out;  // encoded message being sent
  std::string mark_name;
  std::string line;  // trace line being written
  std::uint64_t next_event_id = 1;
  std::string event_id;
  connector* connect_to = nullptr;
  bool replaying = false;
  bool executing = false;
  bool finished = false;
  std::deque<deferred_command> deferred;
  std::vector<std::string> unknown_fields_seen;

  timestamp now() {
    const timestamp t = now_source();
    if (t > last_now) last_now = t;
    return last_now;
  }

  // Starts a trace line `{"t_us":N,` for an input at `at`; the caller appends the rest.
  bool begin_trace(timestamp at) {
    if (!trace) return false;
    line.assign(R"({"t_us":)");
    json::append_int(line, std::chrono::duration_cast<std::chrono::microseconds>(at - t0).count());
    line.push_back(',');
    return true;
  }
  void end_trace() {
    line.push_back('}');
    trace->write_line(line);
  }

  std::string_view new_event_id() {
    event_id.assign("rtb_");
    json::append_int(event_id, static_cast<std::int64_t>(next_event_id++));
    return event_id;
  }

  void run(const call_input& input, timestamp at) {
    execute(the_call.handle(input, at));
    drain_deferred(at);
  }

  void execute(const actions& list) {
    executing = true;
    for (const action& a : list) std::visit([&](const auto& x) { perform(x); }, a);
    executing = false;
  }

  void drain_deferred(timestamp at) {
    while (!deferred.empty()) {
      deferred_command c = std::move(deferred.front());
      deferred.pop_front();
      switch (c.what) {
        case deferred_command::kind::tool_result: tool_result(c.a, c.b, at); break;
        case deferred_command::kind::user_text: user_text(c.a, c.flag, at); break;
        case deferred_command::kind::end_call: end_call(c.a, at); break;
        case deferred_command::kind::end_after_playout: end_after_playout(c.a, c.b, c.c, at); break;
        case deferred_command::kind::configure: configure(c.config ? &*c.config : nullptr, at); break;
      }
    }
  }

  void tool_result(std::string_view call_id, std::string_view output, timestamp at) {
    if (begin_trace(at)) {
      line.append(R"("host":"tool_result","call_id":)");
      json::append_string(line, call_id);
      line.append(R"(,"output":)");
      json::append_string(line, output);
      end_trace();
    }
    run(call_in::tool_result{call_id, output}, at);
  }
  void user_text(std::string_view text, bool respond, timestamp at) {
    if (begin_trace(at)) {
      line.append(R"("host":"user_text","text":)");
      json::append_string(line, text);
      line.append(respond ? R"(,"respond":true)" : R"(,"respond":false)");
      end_trace();
    }
    run(call_in::user_text{text, respond}, at);
  }
  void end_call(std::string_view reason, timestamp at) {
    if (begin_trace(at)) {
      line.append(R"("host":"end_call","reason":)");
      json::append_string(line, reason);
      end_trace();
    }
    run(call_in::end_call{reason}, at);
  }
  void end_after_playout(std::string_view reason, std::string_view call_id, std::string_view output, timestamp at) {
    if (begin_trace(at)) {
      line.append(R"("host":"end_after_playout","reason":)");
      json::append_string(line, reason);
      if (!call_id.empty()) {
        line.append(R"(,"call_id":)");
        json::append_string(line, call_id);
        line.append(R"(,"output":)");
        json::append_string(line, output);
      }
      end_trace();
    }
    run(call_in::end_after_playout{reason, call_id, output}, at);
  }

  void configure(const call_config* config, timestamp at) {
    if (begin_trace(at)) {
      line.append(R"("host":"configure","config":)");
      if (config)
        append_config_json(line, *config);
      else
        line.append("null");
      end_trace();
    }
    run(call_in::configure{config}, at);
  }
  bool configure_pending() const {
    return std::any_of(deferred.begin(), deferred.end(),
                       [](const deferred_command& c) { return c.what == deferred_command::kind::configure; });
  }

  void message(leg side, timestamp at) {
    padded_buffer& inbox = side == leg::twilio ? twilio_inbox : openai_inbox;
    if (begin_trace(at)) {
      line.append(side == leg::twilio ? R"("leg":"twilio","text":)" : R"("leg":"openai","text":)");
      json::append_string(line, inbox.view());
      end_trace();
    }
    if (side == leg::twilio) {
      auto ev = twilio_decoder.decode(inbox);
      if (!ev) {
        run(call_in::message_rejected{side, ev.error().code, ev.error().message}, at);
      } else {
        // Like every other host callback, these warnings may issue host
        // commands; those wait until the message itself has been handled.
        executing = true;
        report_unknown_fields();
        executing = false;
        run(*ev, at);
      }
    } else {
      auto ev = openai_decoder.decode(inbox);
      if (!ev) {
        run(call_in::message_rejected{side, ev.error().code, ev.error().message}, at);
      } else {
        run(*ev, at);
      }
    }
    inbox.clear();
  }

  void report_unknown_fields() {
    if (finished) return;  // nothing reaches the host after call_ended
    for (const auto& f : twilio_decoder.unknown_fields()) {
      std::string name = f.parent.empty() ? std::string(f.key) : fmt::format("{}.{}", f.parent, f.key);
      if (std::find(unknown_fields_seen.begin(), unknown_fields_seen.end(), name) != unknown_fields_seen.end())
        continue;
      if (unknown_fields_seen.size() >= max_unknown_fields_reported) return;
      observer.on_warning(to_host::warning{warning_code::unknown_field,
                                           fmt::format("Twilio message has an unknown field '{}' (ignored)", name)});
      unknown_fields_seen.push_back(std::move(name));
    }
  }

  // --- carrying out actions ---
  void perform(const to_twilio::media& a) {
    out.clear();
    twilio::encode_media(out, the_call.stream_sid(), a.payload);
    twilio.send_text(out);
  }
  void perform(const to_twilio::mark& a) {
    mark_name.clear();
    append_mark_name(mark_name, a.mark);
    out.clear();
    twilio::encode_mark(out, the_call.stream_sid(), mark_name);
    twilio.send_text(out);
  }
  void perform(const to_twilio::clear&) {
    out.clear();
    twilio::encode_clear(out, the_call.stream_sid());
    twilio.send_text(out);
  }
  void perform(const to_twilio::close& a) { twilio.close(a.code, a.reason); }
  void perform(const to_openai::connect& a) {
    if (connect_to) connect_to->connect(a.slot, the_call.config().openai.config.model);
  }
  void perform(const to_openai::update_session&) {
    out.clear();
    openai::encode_session_update(out, the_call.config().openai.config, new_event_id());
    openai.send_text(out);
  }
  void perform(const to_openai::append_audio& a) {
    out.clear();
    openai::encode_append_audio(out, a.audio);
    openai.send_text(out);
  }
  void perform(const to_openai::truncate_item& a) {
    out.clear();
    openai::encode_truncate(out, new_event_id(), a.item_id, a.content_index, a.audio_end_ms);
    openai.send_text(out);
  }
  void perform(const to_openai::delete_item& a) {
    out.clear();
    openai::encode_delete_item(out, new_event_id(), a.item_id);
    openai.send_text(out);
  }
  void perform(const to_openai::create_user_message& a) {
    out.clear();
    openai::encode_user_message(out, new_event_id(), a.text);
    openai.send_text(out);
  }
  void perform(const to_openai::send_function_output& a) {
    out.clear();
    openai::encode_function_output(out, new_event_id(), a.call_id, a.output);
    openai.send_text(out);
  }
  void perform(const to_openai::create_response& a) {
    out.clear();
    openai::encode_response_create(out, new_event_id(), a.instructions);
    openai.send_text(out);
  }
  void perform(const to_openai::cancel_response&) {
    out.clear();
    openai::encode_response_cancel(out, new_event_id());
    openai.send_text(out);
  }
  void perform(const to_openai::close& a) { openai.close(a.code, a.reason); }
  void perform(const to_host::stream_started& a) {
    observer.on_stream_started(a);
    // The call waits for its configuration: the observer's, else its own.
    if (the_call.awaiting_configuration() && !replaying && !configure_pending())
      deferred.push_back({deferred_command::kind::configure, {}, {}, false, std::nullopt});
  }
  void perform(const to_host::session_ready& a) { observer.on_session_ready(a); }
  void perform(const to_host::caller_transcript& a) { observer.on_caller_transcript(a); }
  void perform(const to_host::ai_transcript& a) { observer.on_ai_transcript(a); }
  void perform(const to_host::ai_interrupted& a) { observer.on_ai_interrupted(a); }
  void perform(const to_host::dtmf& a) { observer.on_dtmf(a); }
  void perform(const to_host::playout_finished& a) { observer.on_playout_finished(a); }
  void perform(const to_host::tool_call& a) { observer.on_tool_call(a); }
  void perform(const to_host::warning& a) { observer.on_warning(a); }
  void perform(const to_host::call_ended& a) {
    finished = true;
    const call_counters counters = the_call.counters();
    observer.on_call_ended(call_summary{a.reason, a.detail, the_call.call_sid(), the_call.stream_sid(), counters});
  }
};

call_driver::call_driver(call_config config, transport& twilio, transport& openai, call_observer& observer,
                         driver_limits limits, clock_function now_source, trace_sink* trace, shared_parser* parser)
    : impl_(std::make_unique<impl>(std::move(config), twilio, openai, observer, limits, std::move(now_source), trace,
                                   parser)) {}

call_driver::~call_driver() = default;

padded_buffer& call_driver::inbox(leg side) noexcept {
  return side == leg::twilio ? impl_->twilio_inbox : impl_->openai_inbox;
}

std::size_t call_driver::max_message_bytes(leg side) const noexcept {
  return side == leg::twilio ? impl_->limits.max_twilio_message_bytes : impl_->limits.max_openai_message_bytes;
}

void call_driver::on_message(leg side) { impl_->message(side, impl_->now()); }

void call_driver::on_text(leg side, std::string_view text) {
  inbox(side).assign(text);
  on_message(side);
}

void call_driver::on_oversized(leg side, std::size_t size) {
  impl& d = *impl_;
  const timestamp at = d.now();
  if (d.begin_trace(at)) {
    d.line.append(side == leg::twilio ? R"("leg":"twilio","oversized":)" : R"("leg":"openai","oversized":)");
    json::append_int(d.line, static_cast<std::int64_t>(size));
    d.end_trace();
  }
  inbox(side).clear();
  const std::string message =
      fmt::format("message of {} bytes exceeds the {}-byte limit", size, max_message_bytes(side));
  d.run(call_in::message_rejected{side, errc::too_large, message}, at);
}

void call_driver::on_openai_open() {
  impl& d = *impl_;
  const timestamp at = d.now();
  if (d.begin_trace(at)) {
    d.line.append(R"("leg":"openai","open":true)");
    d.end_trace();
  }
  d.run(call_in::openai_opened{}, at);
}

void call_driver::on_closed(leg side, std::uint16_t code, std::string_view reason) {
  impl& d = *impl_;
  const timestamp at = d.now();
  if (d.begin_trace(at)) {
    d.line.append(side == leg::twilio ? R"("leg":"twilio","closed":{"code":)" : R"("leg":"openai","closed":{"code":)");
    json::append_int(d.line, code);
    d.line.append(R"(,"reason":)");
    json::append_string(d.line, reason);
    d.line.push_back('}');
    d.end_trace();
  }
  d.run(call_in::leg_closed{side, code, reason}, at);
}

void call_driver::on_timer() {
  impl& d = *impl_;
  const timestamp at = d.now();
  const auto due = d.the_call.next_timeout();
  if (!due || *due > at) return;
  if (d.begin_trace(at)) {
    d.line.append(R"("timer":true)");
    d.end_trace();
  }
  d.execute(d.the_call.handle_timeout(at));
  d.drain_deferred(at);
}

std::optional<timestamp> call_driver::next_timeout() const noexcept { return impl_->the_call.next_timeout(); }

void call_driver::submit_tool_result(std::string_view call_id, std::string_view output) {
  impl& d = *impl_;
  if (d.executing) {
    d.deferred.push_back({deferred_command::kind::tool_result, std::string(call_id), std::string(output)});
    return;
  }
  d.tool_result(call_id, output, d.now());
}

void call_driver::send_user_text(std::string_view text, bool respond) {
  impl& d = *impl_;
  if (d.executing) {
    d.deferred.push_back({deferred_command::kind::user_text, std::string(text), {}, respond});
    return;
  }
  d.user_text(text, respond, d.now());
}

void call_driver::end_call(std::string_view reason) {
  impl& d = *impl_;
  if (d.executing) {
    d.deferred.push_back({deferred_command::kind::end_call, std::string(reason), {}});
    return;
  }
  d.end_call(reason, d.now());
}

void call_driver::end_after_playout(std::string_view reason, std::string_view tool_call_id,
                                    std::string_view tool_output) {
  impl& d = *impl_;
  if (d.executing) {
    d.deferred.push_back({deferred_command::kind::end_after_playout, std::string(reason), std::string(tool_call_id),
                          false, std::nullopt, std::string(tool_output)});
    return;
  }
  d.end_after_playout(reason, tool_call_id, tool_output, d.now());
}

void call_driver::configure(const call_config& config) {
  impl& d = *impl_;
  if (d.executing) {
    deferred_command c{deferred_command::kind::configure, {}, {}, false, config};
    d.deferred.push_back(std::move(c));
    return;
  }
  d.configure(&config, d.now());
}

void call_driver::keep_configuration() {
  impl& d = *impl_;
  if (d.executing) {
    d.deferred.push_back({deferred_command::kind::configure, {}, {}, false, std::nullopt});
    return;
  }
  d.configure(nullptr, d.now());
}

void call_driver::set_connector(connector* c) noexcept { impl_->connect_to = c; }

void call_driver::set_replaying(bool replaying) noexcept { impl_->replaying = replaying; }

void call_driver::start() {
  impl& d = *impl_;
  const timestamp at = d.now();
  d.execute(d.the_call.start(at));
  d.drain_deferred(at);
}

bool call_driver::finished() const noexcept { return impl_->finished; }

const call& call_driver::call() const noexcept { return impl_->the_call; }

}  // namespace rtb
