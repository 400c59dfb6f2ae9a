#include "e2e_support.hpp"

#include <cstdlib>

#include <fmt/format.h>

namespace rtb::e2e {

struct recording_app::observer final : call_observer {
  observer(recording_app& a, std::shared_ptr<call_events> e, lws_adapter::call_handle c)
      : app(a), events(std::move(e)), control(std::move(c)) {}

  template <class F>
  void update(F&& f) {
    {
      const std::lock_guard lock(app.mutex_);
      f(*events);
    }
    app.changed_.notify_all();
  }
  void on_dtmf(const to_host::dtmf& e) override {
    update([&](call_events& c) { c.dtmf.emplace_back(e.digit); });
  }
  void on_caller_transcript(const to_host::caller_transcript& e) override {
    update([&](call_events& c) { c.caller_transcripts.emplace_back(e.text); });
  }
  void on_ai_transcript(const to_host::ai_transcript& e) override {
    update([&](call_events& c) { c.ai_transcripts.emplace_back(e.text); });
  }
  void on_ai_interrupted(const to_host::ai_interrupted& e) override {
    update([&](call_events& c) { c.interruptions.emplace_back(e.item_id, e.heard_ms); });
  }
  void on_tool_call(const to_host::tool_call& e) override {
    update([&](call_events& c) { c.tool_calls.push_back(fmt::format("{}({})", e.name, e.arguments)); });
    (void)control.submit_tool_result(e.call_id, app.tool_output);  // answered from inside the callback
  }
  void on_warning(const to_host::warning& e) override {
    update([&](call_events& c) { c.warnings.push_back(fmt::format("{}: {}", to_string(e.code), e.detail)); });
  }
  void on_call_ended(const call_summary& s) override {
    update([&](call_events& c) {
      c.ended = s.reason;
      c.end_detail = std::string(s.detail);
      c.counters = s.counters;
    });
  }

  recording_app& app;
  std::shared_ptr<call_events> events;
  lws_adapter::call_handle control;
};

std::unique_ptr<call_observer> recording_app::observer_for_call(lws_adapter::call_handle control) {
  auto events = std::make_shared<call_events>();
  {
    const std::lock_guard lock(mutex_);
    calls_.push_back(events);
  }
  return std::make_unique<observer>(*this, events, std::move(control));
}

std::vector<call_events> recording_app::calls() const {
  const std::lock_guard lock(mutex_);
  std::vector<call_events> out;
  for (const auto& c : calls_) out.push_back(*c);
  return out;
}

bool recording_app::wait_ended(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    std::size_t ended = 0;
    for (const auto& c : calls_) ended += c->ended.has_value();
    return ended >= n;
  });
}

lws_adapter::log_function recording_app::logger() {
  return [this](lws_adapter::log_level, std::string_view line) {
    const std::lock_guard lock(mutex_);
    log_.emplace_back(line);
  };
}

std::vector<std::string> recording_app::log_lines() const {
  const std::lock_guard lock(mutex_);
  return log_;
}

bool recording_app::logged(std::string_view needle) const {
  const std::lock_guard lock(mutex_);
  for (const auto& l : log_)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

call_config bridge::default_config() {
  call_config c;
  c.openai.timeouts.connect = std::chrono::milliseconds(3000);
  c.openai.timeouts.configure = std::chrono::milliseconds(3000);
  c.twilio.media_idle = std::chrono::milliseconds(0);
  return c;
}

lws_adapter::event_loop loop_under_test() {
  const char* name = std::getenv("RTB_TEST_EVENT_LOOP");
  const std::string_view v = name ? name : "";
  if (v == "poll") return lws_adapter::event_loop::poll;
  return lws_adapter::event_loop::automatic;  // the adapter's default
}

bridge::bridge(peers::fake_openai& openai, std::shared_ptr<lws_adapter::application> app, call_config config,
               std::function<void(lws_adapter::server_options&)> tweak) {
  lws_adapter::server_options o;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.loop = loop_under_test();
  o.openai.url = openai.url();
  o.openai.api_key = std::string(test_api_key);
  o.call = std::move(config);
  if (auto* rec = dynamic_cast<recording_app*>(app.get())) o.log = rec->logger();
  if (tweak) tweak(o);
  auto started = lws_adapter::server::start(std::move(o), std::move(app));
  if (!started) FAIL("the bridge did not start: " << started.error().message);
  server = std::move(*started);
}

bridge::~bridge() {
  if (server) server->stop();
}

std::string bridge::stream_url() const { return fmt::format("ws://127.0.0.1:{}/media-stream", server->port()); }

std::vector<peers::caller_step> ask_and_hang_up(int speech_ms) {
  return {peers::step::pause{300ms},
          peers::step::say{peers::synthetic_speech(speech_ms)},
          peers::step::wait_for_ai_audio{0ms, 8s},
          peers::step::wait_for_ai_silence{8s},
          peers::step::pause{300ms},
          peers::step::hang_up{}};
}

}  // namespace rtb::e2e
