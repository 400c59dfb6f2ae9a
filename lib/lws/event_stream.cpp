// event_stream: writes to a streamed HTTP response from any thread. The
// handle holds the shared state, never the connection; the connection's own
// thread does the writing, woken through its mailbox.
#include "internal.hpp"

namespace rtb::lws_adapter {

namespace {

// Asks the stream's thread to write (or close). Any thread; the task keeps
// the state alive until it runs.
void wake(const std::shared_ptr<event_stream::shared_state>& state) {
  post_task(*state->mailbox, [state](service_thread* t) {
    if (!t) return;
    const std::lock_guard lock(state->mutex);
    if (state->wsi) lws_callback_on_writable(state->wsi);
  });
}

}  // namespace

bool event_stream::send(std::string_view data) const {
  if (!state_) return false;
  {
    const std::lock_guard lock(state_->mutex);
    if (state_->closed || state_->close_asked) return false;
    if (state_->queued.size() + data.size() > shared_state::max_queued_bytes) {
      state_->close_asked = true;  // it fell behind: let it go
    } else {
      state_->queued.append(data);
    }
  }
  wake(state_);
  return open();
}

void event_stream::close() const {
  if (!state_) return;
  {
    const std::lock_guard lock(state_->mutex);
    if (state_->closed || state_->close_asked) return;
    state_->close_asked = true;
  }
  wake(state_);
}

bool event_stream::open() const noexcept {
  if (!state_) return false;
  const std::lock_guard lock(state_->mutex);
  return !state_->closed && !state_->close_asked;
}

}  // namespace rtb::lws_adapter
