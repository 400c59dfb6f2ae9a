#include "realtime_bridge/lws/server.hpp"

namespace rtb::lws_adapter {

http_response application::on_http(const http_request&) { return {404, "text/plain", "not found\n"}; }

void application::on_event_stream(event_stream stream, const http_request&) { stream.close(); }

void application::on_pending_response(pending_response pending, const http_request&) {
  pending.respond({501, "text/plain", "not implemented\n"});
}

std::optional<http_response> application::check_stream(const stream_request&) { return std::nullopt; }

std::optional<call_config> application::config_for_call(const stream_request&) { return std::nullopt; }

std::unique_ptr<call_observer> application::observer_for_call(call_handle) { return nullptr; }

std::unique_ptr<trace_sink> application::trace_for_call(const stream_request&) { return nullptr; }

}  // namespace rtb::lws_adapter
