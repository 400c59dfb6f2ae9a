// One call's two WebSocket legs, its driver, queues and timer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "internal.hpp"
#include "outbound_queue.hpp"
#include "ws_frame.hpp"

namespace rtb::lws_adapter {

class call_link final {
 public:
  call_link(service_thread& thread, std::uint64_t id, stream_request request, struct lws* twilio_wsi);
  ~call_link();
  call_link(const call_link&) = delete;
  call_link& operator=(const call_link&) = delete;

  /// Creates the driver and starts connecting to OpenAI. False if the call
  /// could not be set up (the Twilio leg is then being closed).
  bool start();

  // From the lws callbacks.
  void on_receive(leg side, const void* data, std::size_t length, bool final_fragment);
  /// Writes one queued message (or the pending close). -1: close this wsi.
  int on_writeable(leg side);
  void on_openai_established();
  /// The peer's close frame. True when it answers ours: drop the connection
  /// without echoing it.
  bool on_peer_close(leg side, const void* payload, std::size_t length);
  void on_leg_gone(leg side, std::string_view why);
  void append_openai_headers(unsigned char** p, unsigned char* end, bool& failed);
  /// Both legs are gone: the link may be deleted.
  bool done() const noexcept { return legs_[0].gone && legs_[1].gone; }

  std::uint64_t id() const noexcept { return id_; }
  void run(const posted_command& command);

  void log(log_level level, std::string_view line) const;

 private:
  struct leg_state {
    struct lws* wsi = nullptr;
    bool connected = false;  ///< WebSocket established: writes may go out
    bool gone = false;       ///< closed, failed, or never created (OpenAI's: until the call asks to connect)
    outbound_queue queue{LWS_PRE};
    std::optional<std::pair<std::uint16_t, std::string>> pending_close;
    bool close_sent = false;  ///< our close frame is out; waiting for the peer's
    std::uint16_t peer_close_code = 0;
    std::string peer_close_reason;
    bool oversized = false;
    std::size_t oversized_bytes = 0;
    std::uint64_t dropped_after_close = 0;
  };

  /// The driver's view of a leg: sending only queues.
  struct leg_transport final : transport {
    leg_transport(call_link& l, leg s) : link(l), side(s) {}
    void send_text(std::string_view message) override { link.enqueue(side, message); }
    void close(std::uint16_t code, std::string_view reason) override { link.request_close(side, code, reason); }
    call_link& link;
    leg side;
  };

  /// The call's requests to connect to OpenAI, performed after the driver
  /// returns (connecting may report a failure at once, into the driver).
  struct link_connector final : connector {
    explicit link_connector(call_link& l) : link(l) {}
    void connect(openai_slot slot, std::string_view model) override;
    call_link& link;
  };

  /// Logs every host event with the call's sids, then hands it to the
  /// application's observer.
  struct logging_observer final : call_observer {
    explicit logging_observer(call_link& l) : link(l) {}
    void on_stream_started(const to_host::stream_started& e) override;
    void on_session_ready(const to_host::session_ready& e) override;
    void on_caller_transcript(const to_host::caller_transcript& e) override;
    void on_ai_transcript(const to_host::ai_transcript& e) override;
    void on_ai_interrupted(const to_host::ai_interrupted& e) override;
    void on_dtmf(const to_host::dtmf& e) override;
    void on_playout_finished(const to_host::playout_finished& e) override;
    void on_tool_call(const to_host::tool_call& e) override;
    void on_warning(const to_host::warning& e) override;
    void on_call_ended(const call_summary& s) override;
    call_link& link;
  };

  /// Sends a message to a leg: in this driver call's batch if nothing is
  /// waiting, else queued.
  void enqueue(leg side, std::string_view message);
  /// Writes the batches enqueue() built, one lws_write per leg.
  void flush_writes();
  /// A client's frames (to OpenAI) are masked with a fresh key; a server's are not.
  std::optional<std::array<std::uint8_t, 4>> mask_for(leg side);
  /// Frames a whole message in place (its buffer has LWS_PRE bytes of
  /// headroom before `payload`) and writes it with one lws_write. False if
  /// the connection failed.
  bool write_frame(leg side, ws_opcode opcode, unsigned char* payload, std::size_t length);
  void request_close(leg side, std::uint16_t code, std::string_view reason);
  /// Writes the pending close frame itself rather than through lws' close
  /// path (Debian's lws is a debug build whose libuv close path drops the
  /// frame; docs/design.md). False if the write failed.
  bool send_close(leg side);
  /// After every call into the driver: re-arm its timer, request writes.
  void after_driver();
  /// Starts the connect the call asked for, if any.
  void connect_openai();
  static void on_timer(loop_timer& timer);
  leg_state& state(leg side) noexcept { return legs_[side == leg::twilio ? 0 : 1]; }

  service_thread& thread_;
  server_shared& shared_;
  std::uint64_t id_;
  std::shared_ptr<call_handle::shared_state> handle_state_;  ///< shared with the application's handles
  stream_request request_;
  leg_state legs_[2];
  leg_transport twilio_transport_{*this, leg::twilio};
  leg_transport openai_transport_{*this, leg::openai};
  link_connector connector_{*this};
  std::optional<std::string> connect_model_;  ///< a connect the call asked for, with its model
  logging_observer logger_{*this};
  std::unique_ptr<call_observer> app_observer_;
  std::unique_ptr<trace_sink> trace_;
  std::unique_ptr<call_driver> driver_;
  loop_timer timer_{};
  bool connecting_ = false;  ///< inside lws_client_connect_via_info()
  /// Metrics: when the message being handled arrived (relay latency, until
  /// what it causes is written), when the OpenAI connect started and when
  /// its WebSocket opened.
  std::optional<clock::time_point> received_at_;
  clock::time_point openai_connect_started_{};
  clock::time_point openai_open_at_{};
  std::string call_sid_;     ///< for log lines, once Twilio's start came
  std::string stream_sid_;
  std::string agent_;        ///< as the application named it (call_handle::set_agent)
};

}  // namespace rtb::lws_adapter
