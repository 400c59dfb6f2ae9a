// libFuzzer target: a whole call through the C ABI
// (include/realtime_bridge/c/realtime_bridge.h), and nothing but it.
//
// The input is a program (format below). It runs twice, once with callbacks
// and once draining the action list, and both runs must record the same
// requests in the same order. Inside the runs the host also misbehaves the
// ways the ABI allows or refuses: inputs from inside callbacks (must fail with
// RTB_E_REENTRANT and change nothing), host commands from inside callbacks,
// destroying the call from inside one, fragments, a shared parser.
//
// Input format
// ------------
//   byte 0  host
//     bit 0  the host answers tool calls as soon as it hears of them
//     bit 1  the host destroys the call when it hears that it ended
//     bit 2  the host tries an input from inside each callback
//     bit 3  record the trace (checked: one line per input, each NUL-terminated)
//     bit 4  small message limits (512 bytes per leg)
//     bit 5  a greeting
//     bit 6  a parser shared with a second call that runs alongside
//     bit 7  the host sends user text when the session is ready
//   then operations until the input ends; each is
//     op  (low nibble: kind, high nibble: argument a)
//     dt  milliseconds to advance the clock first
//     ... kind-specific bytes. A "str" is a length byte and that many bytes.
//   kinds
//     0  Twilio text: str                     8  user text: str (respond = a&1)
//     1  OpenAI text: str                     9  end the call: str
//     2  Twilio fragment: str (final = a&1)   10 Twilio template a (connected, start, media, mark echo, dtmf, stop)
//     3  OpenAI fragment: str (final = a&1)   11 OpenAI template a (see openai_template)
//     4  OpenAI socket open                   12 counters into a buffer of a*8 bytes
//     5  leg a&1 closed: u16 code, str        13 the next deadline's timer (a&1: also a spurious one)
//     6  timer now                            14, 15 nothing (padding)
//     7  tool result: str call id (a&1: the last one heard of), str output
//
// Checks (violations print what failed and __builtin_trap()):
//   - every status is RTB_OK, except RTB_E_REENTRANT for inputs from callbacks;
//   - every string handed out is NUL-terminated and never NULL;
//   - RTB_EVENT_CALL_ENDED comes once, last; nothing after it; rtb_call_finished agrees;
//   - no callback runs after the host destroyed the call;
//   - after a timer at t, the next deadline is later than t; none once ended;
//   - both styles record the same requests.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "realtime_bridge/c/realtime_bridge.h"

namespace {

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "fuzz_c_api: invariant violated: %s\n", what);
  __builtin_trap();
}
#define CHECK(cond)                \
  do {                             \
    if (!(cond)) violation(#cond); \
  } while (0)

class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  bool empty() const noexcept { return p_ == end_; }
  std::uint8_t u8() noexcept { return p_ == end_ ? 0 : *p_++; }
  std::uint16_t u16() noexcept {
    const unsigned hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::string_view str() noexcept {
    std::size_t n = u8();
    n = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

void check_string(rtb_string s) {
  CHECK(s.data != nullptr);
  CHECK(s.data[s.size] == '\0');
}

constexpr std::int64_t origin_us = 987654321;

struct host {
  bool list_style = false;
  std::uint8_t flags = 0;
  rtb_call* call = nullptr;
  std::int64_t now_us = origin_us;
  std::vector<std::string> log;
  std::string last_tool_call;
  std::string last_mark;
  std::size_t trace_lines = 0;
  std::size_t inputs = 0;
  bool ended = false;
  bool destroyed = false;

  bool answers_tools() const { return flags & 1; }
  bool destroys_at_end() const { return flags & 2; }
  bool reenters() const { return flags & 4; }

  void record(std::string line) {
    CHECK(!destroyed);
    CHECK(!ended);  // nothing after the end
    log.push_back(std::move(line));
  }

  void try_reentering() {
    if (!reenters() || list_style || destroyed) return;
    CHECK(rtb_call_on_text(call, RTB_LEG_TWILIO, "{}", 2, now_us) == RTB_E_REENTRANT);
    CHECK(rtb_call_on_timer(call, now_us) == RTB_E_REENTRANT);
  }

  void event(rtb_call* c, const rtb_event* e) {
    for (const rtb_string s :
         {e->call_sid, e->stream_sid, e->session_id, e->item_id, e->text, e->call_id, e->name, e->arguments})
      check_string(s);
    CHECK((e->parameters == nullptr) == (e->parameter_count == 0));
    for (std::size_t i = 0; i < e->parameter_count; ++i) {
      check_string(e->parameters[i].name);
      check_string(e->parameters[i].value);
    }
    CHECK((e->counters != nullptr) == (e->type == RTB_EVENT_CALL_ENDED));
    std::string line = "event " + std::to_string(e->type) + " " + std::to_string(e->code) + " ";
    for (const rtb_string s :
         {e->call_sid, e->stream_sid, e->session_id, e->item_id, e->text, e->call_id, e->name, e->arguments})
      line.append(s.data, s.size).push_back('|');
    line += std::to_string(e->heard_ms) + "/" + std::to_string(e->sent_ms);
    record(std::move(line));
    try_reentering();
    switch (e->type) {
      case RTB_EVENT_TOOL_CALL:
        last_tool_call.assign(e->call_id.data, e->call_id.size);
        if (answers_tools())
          CHECK(rtb_call_submit_tool_result(c, e->call_id.data, e->call_id.size, "{\"ok\":1}", 8, now_us) == RTB_OK);
        break;
      case RTB_EVENT_SESSION_READY:
        if (flags & 128) CHECK(rtb_call_send_user_text(c, "hello", 5, 1, now_us) == RTB_OK);
        break;
      case RTB_EVENT_CALL_ENDED:
        ended = true;
        CHECK(rtb_call_finished(c) == 1);
        if (destroys_at_end()) {
          rtb_call_destroy(c);
          destroyed = true;
        }
        break;
      default: break;
    }
  }

  void send(std::int32_t leg, const char* text, std::size_t length) {
    CHECK(text != nullptr && text[length] == '\0');
    std::string line = leg == RTB_LEG_TWILIO ? "twilio< " : "openai< ";
    line.append(text, length);
    record(std::move(line));
    if (leg == RTB_LEG_TWILIO) {  // remember the last mark, for echoes
      const std::string_view t(text, length);
      if (const auto at = t.find(R"("name":")"); at != std::string_view::npos) {
        const auto end = t.find('"', at + 8);
        if (end != std::string_view::npos) last_mark.assign(t.substr(at + 8, end - at - 8));
      }
    }
    try_reentering();
  }

  void close(std::int32_t leg, std::uint16_t code, const char* reason, std::size_t length) {
    CHECK(reason != nullptr && reason[length] == '\0');
    record("close " + std::to_string(leg) + " " + std::to_string(code) + " " + std::string(reason, length));
    try_reentering();
  }

  void drain() {
    if (!list_style) {
      if (!destroyed) CHECK(rtb_call_next_action(call) == nullptr);
      return;
    }
    while (!destroyed) {
      const rtb_action* a = rtb_call_next_action(call);
      if (!a) break;
      check_string(a->text);
      switch (a->type) {
        case RTB_ACTION_SEND_TEXT: send(a->leg, a->text.data, a->text.size); break;
        case RTB_ACTION_CLOSE_LEG: close(a->leg, a->close_code, a->text.data, a->text.size); break;
        case RTB_ACTION_EVENT:
          CHECK(a->event != nullptr);
          event(call, a->event);
          break;
        default: violation("unknown action type");
      }
    }
  }

  // After every input: the status, the end, the deadline.
  void after(rtb_status s) {
    CHECK(s == RTB_OK);
    ++inputs;
    drain();
    if (!destroyed) CHECK(rtb_call_finished(call) == (ended ? 1 : 0));
  }
};

void on_send(void* user, std::int32_t leg, const char* text, std::size_t length) {
  static_cast<host*>(user)->send(leg, text, length);
}
void on_close(void* user, std::int32_t leg, std::uint16_t code, const char* reason, std::size_t length) {
  static_cast<host*>(user)->close(leg, code, reason, length);
}
void on_event(void* user, rtb_call* call, const rtb_event* e) { static_cast<host*>(user)->event(call, e); }
void on_trace(void* user, const char* line, std::size_t length) {
  CHECK(line != nullptr && line[length] == '\0');
  ++static_cast<host*>(user)->trace_lines;
}

std::string base64_frame(std::uint8_t fill) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (int i = 0; i < 160; i += 3) {
    const unsigned v = fill << 16 | (i + 1 < 160 ? fill << 8 : 0) | (i + 2 < 160 ? fill : 0);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < 160 ? table[(v >> 6) & 63] : '=';
    out += i + 2 < 160 ? table[v & 63] : '=';
  }
  return out;
}

std::string twilio_template(unsigned a, const host& h, std::uint8_t arg) {
  switch (a % 6) {
    case 0: return R"({"event":"connected","protocol":"Call","version":"1.0.0"})";
    case 1:
      return R"({"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"k":"v"}},"streamSid":"MZ1"})";
    case 2:
      return R"({"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":")" +
             base64_frame(arg) + R"("},"streamSid":"MZ1"})";
    case 3:
      return R"({"event":"mark","sequenceNumber":"3","streamSid":"MZ1","mark":{"name":")" + h.last_mark + R"("}})";
    case 4:
      return R"({"event":"dtmf","streamSid":"MZ1","sequenceNumber":"4","dtmf":{"track":"inbound_track","digit":")" +
             std::string(1, static_cast<char>('0' + arg % 10)) + R"("}})";
    default:
      return R"({"event":"stop","sequenceNumber":"9","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"})";
  }
}

std::string openai_template(unsigned a, std::uint8_t arg) {
  const std::string n = std::to_string(arg % 4);
  switch (a % 8) {
    case 0:
      return R"({"type":"session.updated","event_id":"e","session":{"type":"realtime","id":"sess_1","model":"gpt-realtime","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}}}})";
    case 1: return R"({"type":"response.created","response":{"id":"resp_)" + n + R"(","status":"in_progress"}})";
    case 2:
      return R"({"type":"response.output_audio.delta","event_id":"e","response_id":"resp_)" + n +
             R"(","item_id":"item_)" + n + R"(","output_index":0,"content_index":0,"delta":")" + base64_frame(arg) +
             R"("})";
    case 3:
      return R"({"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":0,"item_id":"item_u"})";
    case 4:
      return R"({"type":"response.output_item.done","response_id":"resp_)" + n +
             R"(","output_index":0,"item":{"id":"item_f","type":"function_call","status":"completed","name":"f","call_id":"call_)" +
             n + R"(","arguments":"{}"}})";
    case 5: return R"({"type":"response.done","response":{"id":"resp_)" + n + R"(","status":"completed"}})";
    case 6:
      return R"({"type":"response.output_audio_transcript.done","event_id":"e","response_id":"resp_)" + n +
             R"(","item_id":"item_)" + n + R"(","output_index":0,"content_index":0,"transcript":"hi\u0000there"})";
    default:
      return R"({"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":"invalid_api_key","message":"bad key","param":null,"event_id":null}})";
  }
}

std::vector<std::string> run(const std::uint8_t* data, std::size_t size, bool list_style) {
  reader in(data, size);
  host h;
  h.list_style = list_style;
  h.flags = in.u8();
  rtb_parser* parser = nullptr;
  rtb_call* other = nullptr;
  if (h.flags & 64) {
    CHECK(rtb_parser_create(&parser) == RTB_OK);
    rtb_call_options o;
    rtb_call_options_init(&o);
    o.parser = parser;
    CHECK(rtb_call_create(&o, 0, &other) == RTB_OK);
  }
  rtb_callbacks callbacks{&h, on_send, on_close, on_event};
  rtb_call_options options;
  rtb_call_options_init(&options);
  options.callbacks = list_style ? nullptr : &callbacks;
  if (h.flags & 8) {
    options.trace_line = on_trace;
    options.trace_user = &h;
  }
  if (h.flags & 16) options.max_twilio_message_bytes = options.max_openai_message_bytes = 512;
  const std::string greeting = R"({"openai":{"greeting":{"style":"user_message","text":"Hi"}}})";
  if (h.flags & 32) {
    options.config_json = greeting.data();
    options.config_json_length = greeting.size();
  }
  options.parser = parser;
  CHECK(rtb_call_create(&options, origin_us, &h.call) == RTB_OK);
  CHECK(h.trace_lines == ((h.flags & 8) ? 1u : 0u));

  while (!in.empty() && !h.destroyed) {
    const std::uint8_t op = in.u8();
    const unsigned kind = op & 0x0F;
    const unsigned a = op >> 4;
    h.now_us += std::int64_t{in.u8()} * 1000;
    rtb_call* c = h.call;
    switch (kind) {
      case 0:
      case 1: {
        const std::string_view s = in.str();
        h.after(rtb_call_on_text(c, kind == 0 ? RTB_LEG_TWILIO : RTB_LEG_OPENAI, s.data(), s.size(), h.now_us));
        break;
      }
      case 2:
      case 3: {
        const std::string_view s = in.str();
        h.after(
            rtb_call_on_fragment(c, kind == 2 ? RTB_LEG_TWILIO : RTB_LEG_OPENAI, s.data(), s.size(), a & 1, h.now_us));
        break;
      }
      case 4: h.after(rtb_call_on_openai_open(c, h.now_us)); break;
      case 5: {
        const std::uint16_t code = in.u16();
        const std::string_view reason = in.str();
        h.after(rtb_call_on_closed(c, (a & 1) ? RTB_LEG_OPENAI : RTB_LEG_TWILIO, code, reason.data(), reason.size(),
                                   h.now_us));
        break;
      }
      case 6: h.after(rtb_call_on_timer(c, h.now_us)); break;
      case 7: {
        std::string id(in.str());
        if (a & 1) id = h.last_tool_call;
        const std::string_view output = in.str();
        h.after(rtb_call_submit_tool_result(c, id.data(), id.size(), output.data(), output.size(), h.now_us));
        break;
      }
      case 8: {
        const std::string_view s = in.str();
        h.after(rtb_call_send_user_text(c, s.data(), s.size(), a & 1, h.now_us));
        break;
      }
      case 9: {
        const std::string_view s = in.str();
        h.after(rtb_call_end(c, s.data(), s.size(), h.now_us));
        break;
      }
      case 10: {
        const std::string t = twilio_template(a, h, in.u8());
        h.after(rtb_call_on_text(c, RTB_LEG_TWILIO, t.data(), t.size(), h.now_us));
        break;
      }
      case 11: {
        const std::string t = openai_template(a, in.u8());
        h.after(rtb_call_on_text(c, RTB_LEG_OPENAI, t.data(), t.size(), h.now_us));
        break;
      }
      case 12: {
        unsigned char buffer[sizeof(rtb_counters) + 8];
        std::memset(buffer, 0xEE, sizeof buffer);
        const std::size_t n = std::min<std::size_t>(a * 8u, sizeof(rtb_counters));
        CHECK(rtb_call_get_counters(c, reinterpret_cast<rtb_counters*>(buffer), n) == RTB_OK);
        for (std::size_t i = n; i < sizeof buffer; ++i) CHECK(buffer[i] == 0xEE);  // nothing past what was asked
        break;
      }
      case 13: {
        const std::int64_t due = rtb_call_next_timeout(c);
        if (due == RTB_NO_TIMEOUT) break;
        if (due > h.now_us) h.now_us = due;
        h.after(rtb_call_on_timer(c, h.now_us));
        if (!h.destroyed) {
          const std::int64_t next = rtb_call_next_timeout(c);
          CHECK(next > h.now_us);  // no busy loop
          if (h.ended) CHECK(next == RTB_NO_TIMEOUT);
        }
        if ((a & 1) && !h.destroyed) h.after(rtb_call_on_timer(c, h.now_us));
        break;
      }
      default: break;
    }
    if (other && (op & 0x80)) CHECK(rtb_call_on_text(other, RTB_LEG_TWILIO, "{\"event\":\"connected\"}", 21, 0) == 0);
  }
  if (h.trace_lines) CHECK(h.trace_lines <= 1 + 2 * h.inputs);  // a host command may trace twice (its own, deferred)
  if (!h.destroyed) rtb_call_destroy(h.call);
  rtb_call_destroy(other);
  rtb_parser_destroy(parser);
  return std::move(h.log);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto with_callbacks = run(data, size, false);
  const auto with_list = run(data, size, true);
  if (with_callbacks != with_list) {
    std::fprintf(stderr, "callbacks (%zu lines) and list (%zu lines) differ\n", with_callbacks.size(),
                 with_list.size());
    for (std::size_t i = 0; i < std::max(with_callbacks.size(), with_list.size()); ++i) {
      std::fprintf(stderr, "  %s\n  %s\n", i < with_callbacks.size() ? with_callbacks[i].c_str() : "-",
                   i < with_list.size() ? with_list[i].c_str() : "-");
    }
    violation("both styles record the same requests");
  }
  return 0;
}
