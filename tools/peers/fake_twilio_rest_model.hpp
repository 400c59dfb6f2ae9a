// Twilio's REST API for calls, modelled in memory (the logic of the fake
// Twilio REST server, fake_twilio_rest.hpp, without sockets or clocks):
// requests in, replies and timed actions out.
//
// Like Twilio (shared/protocol/twilio-rest.md §9): Basic auth with the account
// SID and auth token or an API key pair (else 401, code 20003); a form body;
// To (E.164, else 21211), From and Twiml or Url required; 201 with a Call
// resource (sid CA + 32 hex, status queued); update and fetch of a call (404
// 20404 for an unknown one, 21220 to update an ended one). Then the call's
// life as timed actions: status callbacks for the subscribed events (from
// SequenceNumber 0; terminal ones with CallDuration and SipResponseCode), the
// stream connected when the call is answered (the URL and <Parameter>s of the
// TwiML's <Stream>), the answering machine's verdict to AsyncAmdStatusCallback.
//
// Scripted per number (one outcome per attempt; the last repeats): answer,
// busy, no_answer, failed, machine, slow_answer. And 429 (20429, nothing
// created) on chosen create requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rtb::peers {

using rest_form = std::vector<std::pair<std::string, std::string>>;

enum class dial_outcome { answer, busy, no_answer, failed, machine, slow_answer };

struct fake_rest_options {
  std::string account_sid = "AC0123456789abcdef0123456789abcdef";
  std::string auth_token = "fake-auth-token-0123456789";
  std::map<std::string, std::string> api_keys;  ///< SK… → secret
  std::chrono::milliseconds ring{300};          ///< until answered, busy
  std::chrono::milliseconds slow_ring{3000};    ///< slow_answer
  std::chrono::milliseconds no_answer_after{1500};
  std::chrono::milliseconds amd_after{1200};  ///< after the answer: the machine's verdict
  dial_outcome default_outcome = dial_outcome::answer;
  std::map<std::string, std::vector<dial_outcome>> numbers;  ///< per To: the outcome of each attempt
  std::set<int> too_many_requests;  ///< these create requests (1 = the first) answer 429
  int storm = 0;                    ///< the first `storm` create requests answer 429
};

struct rest_request {
  std::string method;
  std::string path;  ///< without the query
  std::string authorization;
  std::string content_type;
  std::string body;
};

struct rest_reply {
  int status = 200;
  std::string body;  ///< JSON
};

namespace fake_rest_actions {
/// POST these parameters to `url`, signed with the auth token.
struct callback {
  std::chrono::milliseconds after{0};
  std::string call_sid;
  std::string url;
  rest_form params;
};
/// Connect a caller to the stream `url` with these custom parameters.
struct connect {
  std::chrono::milliseconds after{0};
  std::string call_sid;
  std::string url;
  rest_form parameters;
  bool machine = false;  ///< an answering machine: it only plays a greeting
};
}  // namespace fake_rest_actions
using fake_rest_action = std::variant<fake_rest_actions::callback, fake_rest_actions::connect>;

struct fake_call {
  std::string sid;
  std::string to;
  std::string from;
  std::string status = "queued";
  std::string status_callback;
  std::vector<std::string> events;  ///< subscribed
  std::string machine_detection;
  std::string amd_callback;
  std::string twiml;
  dial_outcome outcome = dial_outcome::answer;
  int attempt = 1;  ///< how many calls to this number so far (this one included)
  int sequence = 0;
  std::int64_t created_ms = 0;   ///< the request's time (ms of the shell's clock)
  std::int64_t answered_ms = -1;
  std::string answered_by;  ///< the answering-machine verdict it will give (with MachineDetection)
  bool ended = false;       ///< a final status was reached
  std::int64_t ended_ms = -1;  ///< when (busy, no-answer, failed: when Twilio would report it)
  std::vector<std::string> updates;  ///< Twiml of each update
};

struct created_record {
  std::int64_t at_ms = 0;  ///< when the create request arrived
  int status = 0;          ///< what the fake answered
  std::string to;
  std::string sid;              ///< when 201
  std::string status_callback;  ///< identifies the attempt (the dialer's c, e, a)
};

class fake_twilio_rest_model {
 public:
  explicit fake_twilio_rest_model(fake_rest_options o) : o_(std::move(o)) {}

  /// One request at `now_ms`: the reply, and what happens next.
  std::pair<rest_reply, std::vector<fake_rest_action>> handle(const rest_request& r, std::int64_t now_ms);
  /// The shell carried out a connect action: the call is in progress from `now_ms`.
  void answered(std::string_view call_sid, std::int64_t now_ms);
  /// The caller of a connected call hung up (or the stream closed): completed.
  std::vector<fake_rest_action> stream_ended(std::string_view call_sid, std::int64_t now_ms);

  const std::vector<created_record>& creates() const { return creates_; }
  const fake_call* call(std::string_view sid) const;
  const std::map<std::string, fake_call, std::less<>>& calls() const { return calls_; }
  const fake_rest_options& options() const { return o_; }

  /// Parses a form body ('+' is a space, %XX decoded).
  static rest_form parse_form(std::string_view body);
  /// The <Stream url> and its <Parameter>s of a TwiML document (XML-unescaped).
  static std::optional<std::pair<std::string, rest_form>> stream_of(std::string_view twiml);

 private:
  rest_reply error(int status, int code, std::string_view message) const;
  bool authorized(const rest_request& r, std::string_view account) const;
  std::string call_json(const fake_call& c) const;
  fake_rest_actions::callback status_callback(fake_call& c, std::string_view status, std::chrono::milliseconds after,
                                              const rest_form& extra = {});
  std::pair<rest_reply, std::vector<fake_rest_action>> create(const rest_request& r, std::int64_t now_ms);
  std::pair<rest_reply, std::vector<fake_rest_action>> update(fake_call& c, const rest_request& r, std::int64_t now_ms);
  std::vector<fake_rest_action> end_call(fake_call& c, std::string_view status, std::int64_t now_ms,
                                         std::chrono::milliseconds after);

  fake_rest_options o_;
  int create_requests_ = 0;
  std::uint64_t next_sid_ = 1;
  std::map<std::string, int> attempts_;  ///< per To
  std::map<std::string, fake_call, std::less<>> calls_;
  std::vector<created_record> creates_;
};

}  // namespace rtb::peers
