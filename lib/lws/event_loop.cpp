#include "event_loop.hpp"

#include <ev.h>

namespace rtb::lws_adapter {
namespace {

class poll_runner final : public loop_runner {
 public:
  explicit poll_runner(std::atomic<std::int64_t>& pending) : loop_runner(pending) {}
  event_loop kind() const noexcept override { return event_loop::poll; }
  bool prepare(lws_context_creation_info&) override { return true; }
  void run(lws_context* context, const std::atomic<bool>& exit) override {
    while (!exit.load())
      if (lws_service(context, 0) < 0) break;
  }
  void wake(lws_context* context) override {
    if (context) lws_cancel_service(context);
  }
  void destroy(lws_context*& context) override {
    lws_context_destroy(context);
    context = nullptr;
  }

 protected:
  void arm(lws_context* context, loop_timer& timer, lws_usec_t delay_us) override {
    // lws' poll loop computes each wait from its timer list: lws timers are exact here.
    timer.owner_runner = this;
    lws_sul_schedule(context, 0, &timer.sul, &poll_runner::on_sul, delay_us);
  }
  void disarm(loop_timer& timer) override { lws_sul_cancel(&timer.sul); }

 private:
  static void on_sul(lws_sorted_usec_list_t* sul) {
    auto* timer = reinterpret_cast<loop_timer*>(sul);
    static_cast<poll_runner*>(timer->owner_runner)->fire(*timer);
  }
};

/// lws' libev event library on an epoll loop the adapter owns.
class libev_runner final : public loop_runner {
 public:
  explicit libev_runner(std::atomic<std::int64_t>& pending)
      : loop_runner(pending), loop_(ev_loop_new(EVBACKEND_EPOLL)) {
    if (!loop_) return;
    ev_async_init(&stop_, &libev_runner::on_stop);
    stop_.data = this;
    ev_async_start(loop_, &stop_);
  }
  ~libev_runner() override {
    if (loop_) ev_loop_destroy(loop_);
  }

  event_loop kind() const noexcept override { return event_loop::libev; }

  bool prepare(lws_context_creation_info& info) override {
    // Without a loop of ours lws would create its own, with a SIGINT watcher.
    if (!loop_) return false;
    info.options |= LWS_SERVER_OPTION_LIBEV;
    foreign_[0] = loop_;
    info.foreign_loops = foreign_;
    return true;
  }

  void run(lws_context* context, const std::atomic<bool>& exit) override {
    exit_ = &exit;
    // lws' own timers (timeouts, pings) run late under its libev glue (see
    // loop_timer); a periodic nudge through its event pipe makes it look at
    // them at least this often.
    nudge_.data = context;
    ev_timer_init(&nudge_, &libev_runner::on_nudge, lws_timer_nudge_s, lws_timer_nudge_s);
    ev_timer_start(loop_, &nudge_);
    ev_run(loop_, 0);  // until on_stop breaks it
    ev_timer_stop(loop_, &nudge_);
  }

  void wake(lws_context*) override { ev_async_send(loop_, &stop_); }  // thread-safe by libev's contract

  void destroy(lws_context*& context) override {
    lws_context_destroy(context);
    context = nullptr;
    if (loop_) ev_async_stop(loop_, &stop_);
  }

 protected:
  void arm(lws_context*, loop_timer& timer, lws_usec_t delay_us) override {
    ev_timer_stop(loop_, &timer.ev);
    ev_timer_init(&timer.ev, &libev_runner::on_timer, static_cast<ev_tstamp>(delay_us) / 1e6, 0.);
    timer.ev.data = &timer;
    timer.owner_runner = this;
    ev_timer_start(loop_, &timer.ev);
  }
  void disarm(loop_timer& timer) override { ev_timer_stop(loop_, &timer.ev); }

 private:
  static constexpr ev_tstamp lws_timer_nudge_s = 0.1;

  static void on_timer(struct ev_loop*, ev_timer* w, int) {
    auto* timer = static_cast<loop_timer*>(w->data);
    static_cast<libev_runner*>(timer->owner_runner)->fire(*timer);
  }
  static void on_nudge(struct ev_loop*, ev_timer* w, int) { lws_cancel_service(static_cast<lws_context*>(w->data)); }

  static void on_stop(struct ev_loop* loop, ev_async* handle, int) {
    auto* self = static_cast<libev_runner*>(handle->data);
    if (self->exit_ && self->exit_->load()) ev_break(loop, EVBREAK_ALL);
  }

  struct ev_loop* loop_;
  ev_async stop_{};
  ev_timer nudge_{};
  void* foreign_[1] = {nullptr};
  const std::atomic<bool>* exit_ = nullptr;
};

}  // namespace

std::unique_ptr<loop_runner> make_loop_runner(event_loop kind, std::atomic<std::int64_t>& pending) {
  if (kind == event_loop::libev) return std::make_unique<libev_runner>(pending);
  return std::make_unique<poll_runner>(pending);
}

const char* event_loop_name(event_loop kind) noexcept {
  switch (kind) {
    case event_loop::automatic: return "automatic";
    case event_loop::poll: return "poll";
    case event_loop::libev: return "libev";
  }
  return "?";
}

}  // namespace rtb::lws_adapter
