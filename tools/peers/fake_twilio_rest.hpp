// A fake Twilio REST API on loopback (http://127.0.0.1:<port>): the shell
// around fake_twilio_rest_model. It answers Calls.json requests, carries out
// the model's timed actions on one thread of its own (status callbacks
// POSTed and signed like Twilio's, answering-machine verdicts), and
// "answers" a call by connecting a fake Twilio caller (caller_pool) to the
// stream URL of the call's TwiML with its <Parameter>s, signed like Twilio's
// upgrade. When that caller's stream ends, the call is completed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "peers/fake_http_server.hpp"
#include "peers/fake_twilio.hpp"
#include "peers/fake_twilio_rest_model.hpp"

namespace rtb::peers {

struct fake_twilio_rest_options {
  fake_rest_options model;
  /// What an answering person does (default: speaks, waits for the AI's
  /// answer, hangs up) and what an answering machine does (a greeting, then
  /// silence until it is hung up on, at most a few seconds).
  std::vector<caller_step> human_script;
  std::vector<caller_step> machine_script;
};

/// One callback the fake posted.
struct posted_callback {
  std::chrono::steady_clock::time_point at;
  std::string url;
  rest_form params;
  int status = 0;  ///< what our server answered (0: no answer)
};

/// One call connected to the bridge.
struct connected_call {
  std::string call_sid;
  int caller_id = 0;  ///< in the shell's caller_pool
  bool machine = false;
  bool ended = false;
};

class fake_twilio_rest {
 public:
  explicit fake_twilio_rest(fake_twilio_rest_options o);
  ~fake_twilio_rest();  ///< stops the timer thread, then the callers, then the HTTP server
  fake_twilio_rest(const fake_twilio_rest&) = delete;
  fake_twilio_rest& operator=(const fake_twilio_rest&) = delete;

  /// http://127.0.0.1:<port>: TWILIO_API_BASE.
  std::string base_url() const;

  std::vector<created_record> creates() const;
  std::vector<posted_callback> callbacks() const;
  std::vector<connected_call> connected() const;
  /// The fake caller's view of a connected call.
  call_result caller_result(int caller_id) const;
  /// A copy of one call's state in the model.
  std::optional<fake_call> call(std::string_view sid) const;
  /// The model's milliseconds (since this fake started) of a steady time.
  std::int64_t ms_of(std::chrono::steady_clock::time_point t) const;

 private:
  http_reply on_request(const recorded_request& r);
  void schedule(std::vector<fake_rest_action> actions);
  void run_timers();
  void carry_out(const fake_rest_action& a);
  std::int64_t now_ms() const;

  fake_twilio_rest_options options_;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;  ///< guards everything below
  std::condition_variable wake_;
  fake_twilio_rest_model model_;
  std::multimap<std::chrono::steady_clock::time_point, fake_rest_action> due_;
  std::vector<posted_callback> posted_;
  std::vector<connected_call> connected_;
  bool stop_ = false;
  std::unique_ptr<caller_pool> callers_;
  std::thread timer_;
  std::unique_ptr<fake_http_server> http_;
};

struct form_reply {
  int status = 0;    ///< 0: no response within the timeout
  std::string body;  ///< what came after the headers, until the server closed
};

/// POSTs a form to an http:// URL on loopback with X-Twilio-Signature (when
/// `auth_token` is not empty), as Twilio posts its webhooks and callbacks;
/// the response, read until the server closes or `timeout` passes.
form_reply post_signed_form(const std::string& url, const rest_form& params, const std::string& auth_token,
                            std::chrono::milliseconds timeout);

}  // namespace rtb::peers
