#include "event_loop.hpp"

#include <uv.h>

#include <cstdio>

namespace rtb::lws_adapter {
namespace {

class poll_runner final : public loop_runner {
 public:
  event_loop kind() const noexcept override { return event_loop::poll; }
  void prepare(lws_context_creation_info&, lws_context**) override {}
  void run(lws_context*& context, const std::atomic<bool>& exit) override {
    while (!exit.load())
      if (lws_service(context, 0) < 0) break;
    lws_context_destroy(context);
    context = nullptr;
  }
  void wake(lws_context* context) override {
    if (context) lws_cancel_service(context);
  }
  void destroy_unrun(lws_context*& context) override {
    lws_context_destroy(context);
    context = nullptr;
  }
};

class libuv_runner final : public loop_runner {
 public:
  libuv_runner() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_, &libuv_runner::on_stop);
    stop_.data = this;
  }
  ~libuv_runner() override { finish(); }

  event_loop kind() const noexcept override { return event_loop::libuv; }

  void prepare(lws_context_creation_info& info, lws_context** slot) override {
    info.options |= LWS_SERVER_OPTION_LIBUV;
    foreign_[0] = &loop_;
    info.foreign_loops = foreign_;
    // lws clears this when it has finally freed the context, which on a
    // foreign loop happens in stages, as its handles finish closing.
    info.pcontext = slot;
  }

  void run(lws_context*& context, const std::atomic<bool>& exit) override {
    context_ = &context;
    exit_ = &exit;
    // Returns once on_stop has begun destroying the context and the handles
    // lws keeps referenced are closed.
    uv_run(&loop_, UV_RUN_DEFAULT);
    finish_destroying(context);
  }

  void wake(lws_context*) override { uv_async_send(&stop_); }  // thread-safe by libuv's contract

  void destroy_unrun(lws_context*& context) override {
    lws_context_destroy(context);
    finish_destroying(context);
  }

 private:
  static void on_stop(uv_async_t* handle) {
    auto* self = static_cast<libuv_runner*>(handle->data);
    if (!self->exit_ || !self->exit_->load()) return;
    // On the loop's thread and outside any lws callback: the place lws
    // documents for destroying a context on a foreign loop.
    if (*self->context_) lws_context_destroy(*self->context_);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
  }

  /// lws 4.1.6 frees a context on a foreign loop only when
  /// lws_context_destroy() is called again after its handles have closed
  /// (each call advances one stage); it clears the caller's pointer (the
  /// pcontext given at creation) once the context is gone.
  void finish_destroying(lws_context*& context) {
    for (int stage = 0; context && stage < 4; ++stage) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      lws_context_destroy(context);
    }
    if (context) {
      std::fprintf(stderr, "realtime_bridge: an lws context was not freed at shutdown\n");
      context = nullptr;
    }
    finish();
  }

  void finish() {
    if (closed_) return;
    closed_ = true;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&stop_)))
      uv_close(reinterpret_cast<uv_handle_t*>(&stop_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop_) != 0)
      std::fprintf(stderr, "realtime_bridge: a libuv loop still had handles at shutdown\n");
  }

  uv_loop_t loop_{};
  uv_async_t stop_{};
  void* foreign_[1] = {nullptr};
  lws_context** context_ = nullptr;
  const std::atomic<bool>* exit_ = nullptr;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<loop_runner> make_loop_runner(event_loop kind) {
  if (kind == event_loop::libuv) return std::make_unique<libuv_runner>();
  return std::make_unique<poll_runner>();
}

const char* event_loop_name(event_loop kind) noexcept {
  switch (kind) {
    case event_loop::automatic: return "automatic";
    case event_loop::poll: return "poll";
    case event_loop::libuv: return "libuv";
  }
  return "?";
}

}  // namespace rtb::lws_adapter
