// libFuzzer target: a whole call through rtb::call_driver.
//
// The input is a small program: a 2-byte header that picks the configuration
// and how the host behaves, then a sequence of operations (Twilio and OpenAI
// messages, leg opens and closes, timers, host commands). Operations either
// carry raw fuzz text or fill templates of real message shapes with fuzz
// bytes, and a few "scripts" (an AI turn, a barge-in, a tool call, Twilio
// echoing the marks it was sent) reach deep states in a handful of bytes.
//
// Input format
// ------------
//   byte 0  configuration
//     bits 0-1  greeting: 0 none, 1 user_message, 2 instructions, 3 user_message
//               and a third header byte (barge-in's own settings) follows byte 1
//     bits 2-3  turn detection: 0 server_vad, 1 server_vad without interrupt_response,
//               2 semantic_vad, 3 none
//     bit  4    barge_in.enabled = false
//     bit  5    barge_in.forget_unheard = false
//     bit  6    chaos: deliver inputs in orders no real socket produces (messages on
//               a leg before it opened or after it closed, a second open, ...);
//               only the order-independent checks apply
//     bit  7    record a trace and check that it replays to the same outputs
//   byte 1  limits and host behaviour
//     bits 0-1  limits: 0 defaults, 1 tight (short timeouts, small audio holds,
//               3 rejected messages), 2 media idle timeout off, 3 small message limits
//     bit  2    the host answers tool calls from inside on_tool_call
//     bit  3    the host sends user text from inside on_session_ready
//     bit  4    the host ends the call from inside on_dtmf ('#')
//     bit  5    the host sends user text from inside on_warning (once)
//     bit  6    messages go through inbox() in fragments instead of on_text()
//     bit  7    rich session config (tools, transcription, speed, idle timeout)
//   byte 2  (only when byte 0's bits 0-1 are 3) barge-in settings
//     bit  0    echo_guard 300 ms          bits 2-3  margin: 0, 5, 20 or 150 ms
//     bit  1    min_speech 200 ms          bits 4-7  unused
//   then operations until the input ends; each is
//     op  (low nibble: kind, high nibble: argument a)
//     dt  clock advance before the op: b < 100: b ms; b < 200: (b-99)*50 ms;
//         else (b-199) s. Timers due meanwhile fire at their time.
//     ... kind-specific bytes. A "str" is a length (one byte < 0x80, or two
//         bytes big-endian with the top bit set) followed by that many bytes.
//   kinds
//     0  Twilio message: str                      8  user text (respond = a&1): str
//     1  OpenAI message: str                      9  end call: str reason
//     2  Twilio template a (see twilio_template)  10 oversized message on leg a&1: u16 extra size
//     3  OpenAI template: byte t (openai_template) 11 a+1 Twilio media frames, 20 ms apart
//     4  OpenAI socket opened                     12 AI turn script: byte flags
//     5  leg a&1 closed (a&2: no close frame): u16 code, str reason
//     6  timer: a&1 jump to the next deadline; a&2 also a spurious on_timer()
//     7  tool result: a < 8: a call id the host was given (else str); str output
//     13 Twilio echoes the next a+1 marks it was sent: byte spacing (ms)
//     14 barge-in script: byte flags             15 tool call script: byte flags
//   (Twilio echoes (13) include the probe marks barge-in sends alone into
//   Twilio's empty buffer, so the round-trip and start-delay estimates and the
//   echo guard's window all follow the fuzzed echo times.)
//
// Environment: RTB_FUZZ_STRICT=1 turns off the workarounds for known library
// issues (listed below); RTB_FUZZ_VERBOSE=1 prints the call's inputs and
// outputs (to read a reproducer: fuzz_call FILE).
//
// Checks (violations print what failed and __builtin_trap()):
//   - finished() never goes back to false, and equals call().ended();
//   - call_ended is delivered at most once, and nothing reaches the transports
//     or the observer after it;
//   - each connection is closed at most once, and nothing is sent on it
//     afterwards; Twilio's only when the call ends, OpenAI's also when the call
//     reconnects (reconnect is on, as by default: 3 attempts in 10 s, 2 s with
//     tight limits): a failed session's socket is closed or reported closed,
//     then the call asks its connector for a new one, and the harness opens
//     it (at an "OpenAI socket opened" op or the next OpenAI message); the call
//     asks only once the old connection is gone;
//   - every message sent is one valid JSON object of an allowed kind: Twilio
//     media/mark/clear with the call's streamSid (never before `start`), marks
//     named by append_mark_name(), base64 media; OpenAI client event types;
//   - without chaos: nothing is sent to OpenAI before its socket opened;
//   - after on_timer() at time t, next_timeout() is not <= t (no busy loop), and
//     it is empty once the call has ended;
//   - response.create is only sent when no response is requested or active,
//     and a truncate is never at 0 ms nor beyond the audio received for the
//     item (the harness follows both from the events it delivers);
//   - the playout counters match what was sent (media, marks and probe marks,
//     clears, appends, truncates, deletes, cancels);
//   - with bit 7: the recorded trace replays (replay_trace) without error and,
//     when every text fed in was valid UTF-8, sends and closes exactly what
//     the live call sent and closed, in the same order.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "realtime_bridge/audio.hpp"
#include "realtime_bridge/call_driver.hpp"
#include "realtime_bridge/openai/decoder.hpp"
#include "realtime_bridge/playout_mark.hpp"
#include "realtime_bridge/trace.hpp"
#include "realtime_bridge/transport.hpp"

namespace {

using namespace rtb;
using namespace std::chrono_literals;

// Every library issue fuzzing found is fixed; its reproducer is kept in
// tests/fuzz/regressions/ and replayed by scripts/fuzz.sh, which fails if any
// of them fails again.

// RTB_FUZZ_VERBOSE=1 prints every input and output of the call to stderr
// (useful to read a reproducer; far too slow for fuzzing).
bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("RTB_FUZZ_VERBOSE");
    return e && *e && std::string_view(e) != "0";
  }();
  return v;
}

[[noreturn]] void violation(const char* what) {
  std::fprintf(stderr, "fuzz_call: invariant violated: %s\n", what);
  __builtin_trap();
}
#define CHECK(cond)                         \
  do {                                      \
    if (!(cond)) violation(#cond);          \
  } while (0)

// --- reading the input -------------------------------------------------------

class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  bool empty() const noexcept { return p_ == end_; }
  std::uint8_t u8() noexcept { return p_ == end_ ? 0 : *p_++; }
  std::uint16_t u16() noexcept {
    const unsigned hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::string_view bytes(std::size_t n) noexcept {
    n = std::min<std::size_t>(n, static_cast<std::size_t>(end_ - p_));
    std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  std::size_t length() noexcept {
    const unsigned b = u8();
    if (b < 0x80) return b;
    return ((b & 0x7Fu) << 8) | u8();
  }
  std::string_view str() noexcept { return bytes(length()); }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

std::chrono::milliseconds advance_for(std::uint8_t b) {
  if (b < 100) return std::chrono::milliseconds(b);
  if (b < 200) return std::chrono::milliseconds((b - 99) * 50);
  return std::chrono::milliseconds((b - 199) * 1000);
}

// --- building messages ---------------------------------------------------------

// A JSON string literal of `s`. Invalid UTF-8 is left as it is (the decoder
// must reject it); everything else is escaped properly.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20) {
      static constexpr char hex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

std::string base64(std::size_t bytes, unsigned char fill) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  const unsigned n = (static_cast<unsigned>(fill) << 16) | (static_cast<unsigned>(fill) << 8) | fill;
  std::size_t i = 0;
  for (; i + 3 <= bytes; i += 3) {
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += table[n & 63];
  }
  if (bytes - i == 1) {
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += "==";
  } else if (bytes - i == 2) {
    out += table[(n >> 18) & 63];
    out += table[(n >> 12) & 63];
    out += table[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

// A payload size picked by one byte: mostly one 20 ms frame, sometimes odd sizes.
std::size_t payload_size(std::uint8_t b) {
  switch (b & 7) {
    case 0:
    case 1:
    case 2: return 160;
    case 3: return 0;
    case 4: return 1 + (b >> 3);
    case 5: return 320;
    case 6: return 800;
    default: return 8 * (b >> 3) + 1;
  }
}

// An int64 picked by one byte: small values, and the extremes that overflow sums.
std::int64_t number(std::uint8_t b) {
  switch (b >> 5) {
    case 0:
    case 1:
    case 2: return b;
    case 3: return static_cast<std::int64_t>(b) * 1000;
    case 4: return -static_cast<std::int64_t>(b & 31);
    case 5: return INT64_MAX - (b & 31);
    case 6: return INT64_MIN + (b & 31);
    default: return static_cast<std::int64_t>(b & 31) * 20;
  }
}


bool valid_utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

// --- the harness ---------------------------------------------------------------

struct harness;

struct fuzz_transport final : transport {
  harness* h = nullptr;
  leg side = leg::twilio;
  void send_text(std::string_view message) override;
  void close(std::uint16_t code, std::string_view reason) override;
};

struct fuzz_observer final : call_observer {
  harness* h = nullptr;
  void on_stream_started(const to_host::stream_started& a) override;
  void on_session_ready(const to_host::session_ready& a) override;
  void on_caller_transcript(const to_host::caller_transcript& a) override;
  void on_ai_transcript(const to_host::ai_transcript& a) override;
  void on_ai_interrupted(const to_host::ai_interrupted& a) override;
  void on_dtmf(const to_host::dtmf& a) override;
  void on_tool_call(const to_host::tool_call& a) override;
  void on_warning(const to_host::warning& a) override;
  void on_call_ended(const call_summary& s) override;
};

struct fuzz_connector final : connector {
  harness* h = nullptr;
  void connect(openai_slot slot, std::string_view model) override;
};

struct string_trace final : trace_sink {
  std::string text;
  void write_line(std::string_view line) override {
    text.append(line);
    text.push_back('\n');
  }
};

struct harness {
  // configuration (from the header)
  bool chaos = false;
  bool check_replay = false;
  bool host_answers_tools = false;
  bool host_greets_on_ready = false;
  bool host_hangs_up_on_hash = false;
  bool host_talks_on_warning = false;
  bool fragmented = false;

  // the clock
  timestamp now{};

  // the call
  fuzz_transport twilio_side;
  fuzz_transport openai_side;
  fuzz_observer observer;
  fuzz_connector connector;
  string_trace trace;
  std::optional<call_driver> driver;
  driver_limits limits;

  // what the legs did, as seen by the host
  bool openai_opened = false;        // on_openai_open() was called
  bool openai_peer_closed = false;   // on_closed(openai) was called
  bool twilio_peer_closed = false;   // on_closed(twilio) was called
  int twilio_closes = 0;             // transport close() calls
  int openai_closes = 0;
  int call_ended = 0;
  bool reconnect_requested = false;  // the call asked for a new OpenAI connection
  int reconnects = 0;                // new OpenAI connections opened
  bool was_finished = false;
  bool all_text_utf8 = true;
  bool warned_talk = false;

  // Twilio as the harness models it: marks waiting to be echoed, counters
  std::deque<std::string> pending_marks;
  std::uint64_t twilio_seq = 1;
  std::uint64_t twilio_chunk = 0;
  std::uint64_t twilio_ts = 100;
  std::string stream_sid = "MZ00000000000000000000000000000001";

  // OpenAI as the harness models it
  std::string response_id = "resp_0";
  std::string item_id = "item_0";
  std::string call_id = "call_0";
  std::vector<std::string> tool_calls;  // call ids the host was given
  unsigned next_id = 1;

  // The OpenAI session as the harness sees it, from the events it delivers,
  // decoded by a second rtb::openai::decoder exactly as the driver decodes them.
  std::optional<openai::decoder> model_decoder;
  padded_buffer model_buf;
  bool model_requested = false;  // response.create sent, response.created not yet delivered
  std::string model_active;      // response created and not done
  std::map<std::string, std::uint64_t, std::less<>> model_item_bytes;  // audio received per item

  // counts of what was sent
  std::uint64_t sent_media = 0, sent_marks = 0, sent_probes = 0, sent_clears = 0;
  std::uint64_t sent_appends = 0, sent_truncates = 0, sent_deletes = 0, sent_cancels = 0;

  // What the live call sent on its transports, one "-> <leg> ..." line each
  // (the form replay_trace prints after its time stamp).
  std::string log;

  simdjson::dom::parser json;

  void say(std::string_view what, std::string_view text) {
    if (!verbose()) return;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - timestamp{}).count();
    std::fprintf(stderr, "%8lld ms  %.*s %.*s\n", static_cast<long long>(ms), static_cast<int>(what.size()),
                 what.data(), static_cast<int>(text.size()), text.data());
  }

  void log_line(std::string_view text) {
    if (!check_replay) return;
    log.append(text);
    log.push_back('\n');
  }

  // Anything that reaches the host after call_ended is a violation.
  void after_end_check() { CHECK(call_ended == 0); }

  void note_text(std::string_view s) {
    if (!valid_utf8(s)) all_text_utf8 = false;
  }

  // --- checks after every operation ---
  void check_state() {
    const bool f = driver->finished();
    CHECK(!was_finished || f);
    CHECK(f == driver->call().ended());
    CHECK(f == (call_ended == 1));
    CHECK(call_ended <= 1);
    was_finished = f;
    if (f) CHECK(!driver->next_timeout());
    if (twilio_closes > 0) CHECK(f);
    // The call closes OpenAI before its end only to replace the session.
    if (openai_closes > 0 && !f) CHECK(driver->call().reconnecting());
  }

  void on_connect(openai_slot slot) {
    after_end_check();
    say("<< openai", slot == openai_slot::current ? "(connect)" : "(connect next)");
    if (slot != openai_slot::current) return;  // rollover: this harness keeps one connection
    // Only once the old connection is gone (closed by the peer, or never opened).
    if (!chaos) CHECK(openai_peer_closed || !openai_opened);
    CHECK(driver->call().reconnecting());
    // A new connection from here: its own opens, closes and session, even if
    // the call gives it up before it opens (a connect timeout, then another).
    reconnect_requested = true;
    openai_opened = false;
    openai_peer_closed = false;
    openai_closes = 0;
    model_requested = false;
    model_active.clear();
  }

  // --- the clock and timers ---
  // Moves the clock to `target`, firing every timer that falls due on the way
  // at its own time, like a host's event loop.
  void advance_to(timestamp target) {
    for (int guard = 0;; ++guard) {
      const auto due = driver->next_timeout();
      if (!due || *due > target) break;
      if (*due > now) now = *due;
      fire_timer();
      CHECK(guard < 64);
    }
    if (target > now) now = target;
  }
  void fire_timer() {
    say("timer", "");
    driver->on_timer();
    check_state();
    const auto due = driver->next_timeout();
    CHECK(!due || *due > now);  // otherwise a host would spin
  }
  void advance(std::uint8_t b) {
    const auto dt = advance_for(b);
    if (chaos) {
      now += dt;  // timers fire late, if at all
    } else {
      advance_to(now + dt);
    }
  }

  // --- delivering inputs (the socket adapter's side) ---
  bool twilio_live() const { return !twilio_peer_closed && twilio_closes == 0; }
  bool openai_live() const { return openai_opened && !openai_peer_closed && openai_closes == 0; }

  void deliver(leg side, std::string_view text) {
    note_text(text);
    say(side == leg::twilio ? "twilio >>" : "openai >>", text);
    if (!chaos) {
      if (side == leg::twilio && !twilio_live()) return;
      if (side == leg::openai) {
        if (reconnect_requested || (!openai_opened && !openai_peer_closed && openai_closes == 0)) open_openai();
        if (!openai_live()) return;
      }
    }
    if (side == leg::openai) model_openai(text);
    if (fragmented && !text.empty()) {
      padded_buffer& inbox = driver->inbox(side);
      inbox.clear();
      std::size_t step = 1 + text.size() / 3;
      for (std::size_t i = 0; i < text.size(); i += step) inbox.append(text.substr(i, step));
      driver->on_message(side);
      CHECK(driver->inbox(side).empty());
    } else {
      driver->on_text(side, text);
    }
    check_state();
  }

  void model_openai(std::string_view text) {
    model_buf.assign(text);
    auto ev = model_decoder->decode(model_buf);
    if (!ev) return;
    if (const auto* c = std::get_if<openai::response_created>(&*ev)) {
      model_requested = false;
      model_active = c->response_id;
    } else if (const auto* d = std::get_if<openai::response_done>(&*ev)) {
      if (d->response_id == model_active) model_active.clear();
    } else if (const auto* e = std::get_if<openai::error_event>(&*ev)) {
      if (e->error.code == "conversation_already_has_active_response") model_requested = false;
    } else if (const auto* a = std::get_if<openai::audio_delta>(&*ev)) {
      auto it = model_item_bytes.find(a->item_id);
      if (it == model_item_bytes.end()) it = model_item_bytes.emplace(std::string(a->item_id), 0).first;
      it->second += audio::base64_decoded_size(a->delta);
    }
  }

  void open_openai() {
    if (reconnect_requested) {  // the connection on_connect() began
      reconnect_requested = false;
      ++reconnects;
    }
    if (!chaos && (openai_opened || openai_peer_closed || openai_closes > 0)) return;
    openai_opened = true;
    say("openai >>", "(open)");
    driver->on_openai_open();
    check_state();
  }

  void close_leg(leg side, std::uint16_t code, std::string_view reason) {
    note_text(reason);
    bool& peer = side == leg::twilio ? twilio_peer_closed : openai_peer_closed;
    if (!chaos && peer) return;
    peer = true;
    say(side == leg::twilio ? "twilio >>" : "openai >>", fmt::format("(closed {} {})", code, reason));
    driver->on_closed(side, code, reason);
    check_state();
  }

  // --- Twilio templates ---
  std::string twilio_seq_field(bool as_number) {
    const std::uint64_t n = twilio_seq++;
    return as_number ? std::to_string(n) : quote(std::to_string(n));
  }

  std::string twilio_media(std::uint8_t size_byte, std::uint8_t fill, bool extra_field) {
    ++twilio_chunk;
    twilio_ts += 20;
    std::string payload = base64(payload_size(size_byte), fill);
    if (size_byte == 0xFF) payload += "!";  // not base64
    std::string m = R"({"event":"media","sequenceNumber":)" + twilio_seq_field(false) +
                    R"(,"media":{"track":"inbound","chunk":)" + quote(std::to_string(twilio_chunk)) +
                    R"(,"timestamp":)" + quote(std::to_string(twilio_ts)) + R"(,"payload":)" + quote(payload) + "}";
    if (extra_field) m += R"(,"extra":{"x":[1,2,{"y":null}]})";
    m += R"(,"streamSid":)" + quote(stream_sid) + "}";
    return m;
  }

  std::string twilio_mark(std::string_view name) {
    return R"({"event":"mark","sequenceNumber":)" + twilio_seq_field(false) + R"(,"streamSid":)" + quote(stream_sid) +
           R"(,"mark":{"name":)" + quote(name) + "}}";
  }

  void twilio_template(unsigned sub, reader& in) {
    std::string m;
    switch (sub) {
      case 0:
        m = R"({"event":"connected","protocol":"Call","version":"1.0.0"})";
        break;
      case 1:
      case 9: {  // start
        const std::uint8_t v = in.u8();
        if (v & 1) stream_sid = std::string(in.str());
        std::string call_sid = (v & 2) ? std::string(in.str()) : "CA00000000000000000000000000000001";
        std::string format;
        switch ((v >> 2) & 3) {
          case 0: format = R"({"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1})"; break;
          case 1: format = R"({"encoding":"audio/x-mulaw","sampleRate":"8000","channels":"1"})"; break;
          case 2: format = R"({"encoding":"audio/l16","sampleRate":16000,"channels":2})"; break;
          case 3: break;  // absent
        }
        std::string params = "{";
        const unsigned count = (v >> 4) & 3;
        for (unsigned i = 0; i < count; ++i) {
          if (i) params += ',';
          params += quote(in.str()) + ":" + quote(in.str());
        }
        params += "}";
        m = R"({"event":"start","sequenceNumber":)" + twilio_seq_field(v & 64) + R"(,"start":{"accountSid":"AC1","streamSid":)" +
            quote(stream_sid) + R"(,"callSid":)" + quote(call_sid) + R"(,"tracks":["inbound"])";
        if (!format.empty()) m += R"(,"mediaFormat":)" + format;
        m += R"(,"customParameters":)" + params + R"(},"streamSid":)" + quote(stream_sid) + "}";
        break;
      }
      case 2:
      case 10:
      case 11: {
        const std::uint8_t s = in.u8();
        m = twilio_media(s, in.u8(), false);
        break;
      }
      case 3:
      case 12: {  // a mark named like ours, with fuzz numbers near the current state
        const std::uint8_t v = in.u8();
        const std::uint32_t gen = driver->call().playout().generation();
        const std::uint32_t g = (v & 3) == 3 ? in.u8() : gen + (v & 3) - 1;
        const std::uint32_t item = (v >> 2) & 7;
        const std::int64_t ms = (v & 0x80) ? number(in.u8()) : static_cast<std::int64_t>(in.u8()) * 20;
        m = twilio_mark(fmt::format("rtb.{}.{}.{}", g, item, ms));
        break;
      }
      case 4:
        m = twilio_mark(in.str());
        break;
      case 5: {
        static constexpr char digits[] = "0123456789*#ABCD";
        const std::uint8_t d = in.u8();
        m = R"({"event":"dtmf","streamSid":)" + quote(stream_sid) + R"(,"sequenceNumber":)" + twilio_seq_field(false) +
            R"(,"dtmf":{"track":"inbound_track","digit":")" + std::string(1, digits[d & 15]) + R"("}})";
        break;
      }
      case 6:
      case 13:
        m = R"({"event":"stop","sequenceNumber":)" + twilio_seq_field(false) +
            R"(,"stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":)" + quote(stream_sid) + "}";
        break;
      case 7:
        m = R"({"event":)" + quote(in.str()) + R"(,"sequenceNumber":)" + twilio_seq_field(false) +
            R"(,"streamSid":)" + quote(stream_sid) + "}";
        break;
      case 8: {
        const std::uint8_t s = in.u8();
        m = twilio_media(s, in.u8(), true);
        break;
      }
      default: {  // 14, 15: a known event with a payload object of another event
        m = R"({"event":"media","sequenceNumber":"1","streamSid":)" + quote(stream_sid) +
            R"(,"mark":{"name":"x"},"media":{"payload":""}})";
        break;
      }
    }
    deliver(leg::twilio, m);
  }

  // --- OpenAI templates ---
  std::string pick_response(std::uint8_t sel) {
    if (sel < 0xC0) return response_id;
    return "resp_" + std::to_string(sel & 7);
  }
  std::string pick_item(std::uint8_t sel) {
    if (sel < 0xC0) return item_id;
    return "item_" + std::to_string(sel & 7);
  }
  std::string new_id(std::string_view prefix) { return std::string(prefix) + std::to_string(next_id++); }

  std::string audio_delta(const std::string& resp, const std::string& item, std::uint8_t size_byte, bool beta) {
    std::string payload = base64(payload_size(size_byte), static_cast<unsigned char>(size_byte * 7));
    if (size_byte == 0xFF) payload = "not base64!";
    return std::string(R"({"type":")") + (beta ? "response.audio.delta" : "response.output_audio.delta") +
           R"(","event_id":"event_1","response_id":)" + quote(resp) + R"(,"item_id":)" + quote(item) +
           R"(,"output_index":0,"content_index":0,"delta":)" + quote(payload) + "}";
  }

  std::string response_created(const std::string& resp) {
    return R"({"type":"response.created","event_id":"event_2","response":{"object":"realtime.response","id":)" +
           quote(resp) + R"(,"status":"in_progress","status_details":null,"output":[],"usage":null}})";
  }

  std::string message_item_added(const std::string& resp, const std::string& item) {
    return R"({"type":"response.output_item.added","event_id":"event_3","response_id":)" + quote(resp) +
           R"(,"output_index":0,"item":{"id":)" + quote(item) +
           R"(,"type":"message","status":"in_progress","role":"assistant","content":[]}})";
  }

  std::string response_done(const std::string& resp, std::uint8_t v, reader& in) {
    static constexpr std::string_view statuses[] = {"completed", "cancelled", "failed", "incomplete"};
    static constexpr std::string_view reasons[] = {"turn_detected", "client_cancelled", "max_output_tokens",
                                                   "content_filter"};
    static constexpr std::string_view codes[] = {"model_not_found", "insufficient_quota", "server_error",
                                                 "rate_limit_exceeded"};
    const std::string_view status = statuses[v & 3];
    std::string m = R"({"type":"response.done","event_id":"event_4","response":{"object":"realtime.response","id":)" +
                    quote(resp) + R"(,"status":")" + std::string(status) + R"(","status_details":)";
    if (status == "completed") {
      m += "null";
    } else {
      m += R"({"type":")" + std::string(status) + R"(","reason":")" + std::string(reasons[(v >> 2) & 3]) + "\"";
      if (status == "failed")
        m += R"(,"error":{"type":"invalid_request_error","code":")" + std::string(codes[(v >> 4) & 3]) + R"("})";
      m += "}";
    }
    m += R"(,"output":[])";
    if (v & 0x40) {
      m += R"(,"usage":{"total_tokens":)" + std::to_string(number(in.u8())) + R"(,"input_tokens":)" +
           std::to_string(number(in.u8())) + R"(,"output_tokens":)" + std::to_string(number(in.u8())) +
           R"(,"input_token_details":{"text_tokens":)" + std::to_string(number(in.u8())) + R"(,"audio_tokens":)" +
           std::to_string(number(in.u8())) + R"(,"cached_tokens":)" + std::to_string(number(in.u8())) +
           R"(},"output_token_details":{"text_tokens":)" + std::to_string(number(in.u8())) + R"(,"audio_tokens":)" +
           std::to_string(number(in.u8())) + "}}";
    } else {
      m += R"(,"usage":null)";
    }
    m += "}}";
    return m;
  }

  std::string function_item(std::string_view type, const std::string& resp, const std::string& item,
                            const std::string& call, std::string_view status) {
    return std::string(R"({"type":")") + std::string(type) + R"(","event_id":"event_5","response_id":)" + quote(resp) +
           R"(,"output_index":1,"item":{"id":)" + quote(item) + R"(,"type":"function_call","status":")" +
           std::string(status) + R"(","name":"get_order_status","call_id":)" + quote(call) +
           R"(,"arguments":"{\"order_number\":\"48217\"}"}})";
  }

  std::string session_event(std::string_view type, std::string_view in_fmt, std::string_view out_fmt) {
    std::string m = std::string(R"({"type":")") + std::string(type) +
                    R"(","event_id":"event_6","session":{"type":"realtime","object":"realtime.session","id":"sess_1","model":"gpt-realtime","expires_at":1767233035)";
    if (!in_fmt.empty() || !out_fmt.empty()) {
      m += R"(,"audio":{"input":{"format":{"type":)" + quote(in_fmt) +
           R"(},"turn_detection":{"type":"server_vad"}},"output":{"format":{"type":)" + quote(out_fmt) +
           R"(},"voice":"marin","speed":1.0}})";
    }
    m += "}}";
    return m;
  }

  std::string error_event(std::uint8_t v) {
    static constexpr std::string_view codes[] = {
        "invalid_api_key", "session_expired", "invalid_value", "unknown_parameter",
        "conversation_already_has_active_response", "response_cancel_not_active", "rate_limit_exceeded", "",
        "item_truncate_invalid_item_id", "beta_api_shape_disabled", "missing_required_parameter", "invalid_type",
        "server_error", "insufficient_quota", "model_not_found", "x"};
    const std::string_view code = codes[v & 15];
    std::string m = R"({"type":"error","event_id":"event_7","error":{"type":"invalid_request_error","code":)";
    m += (v & 0x10) ? "null" : quote(code);
    m += R"(,"message":"Something went wrong.","param":null,"event_id":)";
    m += (v & 0x20) ? quote("rtb_1") : "null";
    m += "}}";
    return m;
  }

  void openai_template(std::uint8_t t, reader& in) {
    std::string m;
    switch (t % 28) {
      case 0:
        m = session_event("session.created", "audio/pcm", "audio/pcm");
        break;
      case 1:
      case 26:
        m = session_event("session.updated", "audio/pcmu", "audio/pcmu");
        break;
      case 2: {
        const std::uint8_t v = in.u8();
        static constexpr std::string_view formats[] = {"audio/pcmu", "audio/pcma", "audio/pcm", ""};
        m = session_event("session.updated", formats[v & 3], formats[(v >> 2) & 3]);
        break;
      }
      case 3: {
        const std::uint8_t sel = in.u8();
        response_id = sel < 0xC0 ? new_id("resp_") : pick_response(sel);
        m = response_created(response_id);
        break;
      }
      case 4: {
        const std::uint8_t sel = in.u8();
        item_id = sel < 0xC0 ? new_id("item_") : pick_item(sel);
        m = message_item_added(pick_response(in.u8()), item_id);
        break;
      }
      case 5:
      case 25: {
        const std::uint8_t sel = in.u8();
        m = audio_delta(pick_response(sel), pick_item(in.u8()), in.u8(), sel == 0x7F);
        break;
      }
      case 6:
        m = R"({"type":"response.output_audio.done","event_id":"e","response_id":)" + quote(pick_response(in.u8())) +
            R"(,"item_id":)" + quote(pick_item(in.u8())) + R"(,"output_index":0,"content_index":0})";
        break;
      case 7:
        m = R"({"type":"response.output_audio_transcript.delta","event_id":"e","response_id":)" +
            quote(response_id) + R"(,"item_id":)" + quote(item_id) +
            R"(,"output_index":0,"content_index":0,"delta":)" + quote(in.str()) + R"(,"obfuscation":"abc"})";
        break;
      case 8:
        m = R"({"type":"response.output_audio_transcript.done","event_id":"e","response_id":)" + quote(response_id) +
            R"(,"item_id":)" + quote(item_id) + R"(,"output_index":0,"content_index":0,"transcript":)" +
            quote(in.str()) + "}";
        break;
      case 9:
        m = R"({"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":)" +
            std::to_string(number(in.u8())) + R"(,"item_id":"item_user"})";
        break;
      case 10:
        m = R"({"type":"input_audio_buffer.speech_stopped","event_id":"e","audio_end_ms":)" +
            std::to_string(number(in.u8())) + R"(,"item_id":"item_user"})";
        break;
      case 11:
        m = R"({"type":"input_audio_buffer.committed","event_id":"e","previous_item_id":null,"item_id":"item_user"})";
        break;
      case 12: {
        const std::uint8_t sel = in.u8();
        const std::uint8_t v = in.u8();
        m = response_done(pick_response(sel), v, in);
        break;
      }
      case 13:
      case 27: {
        const std::uint8_t v = in.u8();
        call_id = (v & 0x80) ? "call_" + std::to_string(v & 3) : new_id("call_");
        m = function_item("response.output_item.added", response_id, new_id("item_"), call_id, "in_progress");
        break;
      }
      case 14:
        m = R"({"type":"response.function_call_arguments.delta","event_id":"e","response_id":)" + quote(response_id) +
            R"(,"item_id":"item_fc","output_index":1,"call_id":)" + quote(call_id) + R"(,"delta":)" + quote(in.str()) +
            "}";
        break;
      case 15:
        m = R"({"type":"response.function_call_arguments.done","event_id":"e","response_id":)" + quote(response_id) +
            R"(,"item_id":"item_fc","output_index":1,"call_id":)" + quote(call_id) +
            R"(,"name":"get_order_status","arguments":)" + quote(in.str()) + "}";
        break;
      case 16: {
        const std::uint8_t v = in.u8();
        if (v & 0x80) call_id = "call_" + std::to_string(v & 3);
        m = function_item("response.output_item.done", response_id, "item_fc", call_id,
                          (v & 1) ? "incomplete" : "completed");
        break;
      }
      case 17:
        m = R"({"type":"response.output_item.done","event_id":"e","response_id":)" + quote(response_id) +
            R"(,"output_index":0,"item":{"id":)" + quote(item_id) +
            R"(,"type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Hi"}]}})";
        break;
      case 18:
        m = error_event(in.u8());
        break;
      case 19:
        m = R"({"type":"conversation.item.input_audio_transcription.completed","event_id":"e","item_id":"item_user","content_index":0,"transcript":)" +
            quote(in.str()) + R"(,"usage":{"type":"duration","seconds":1.5}})";
        break;
      case 20:
        m = R"({"type":"conversation.item.input_audio_transcription.failed","event_id":"e","item_id":"item_user","content_index":0,"error":{"type":"transcription_error","code":"audio_unintelligible","message":"The audio could not be transcribed.","param":null}})";
        break;
      case 21:
        m = R"({"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"requests","limit":1000,"remaining":999,"reset_seconds":1},{"name":"tokens","limit":40000,"remaining":)" +
            std::to_string(number(in.u8())) + R"(,"reset_seconds":2.265}]})";
        break;
      case 22: {
        const std::uint8_t v = in.u8();
        switch (v & 3) {
          case 0:
            m = R"({"type":"conversation.item.truncated","event_id":"e","item_id":)" + quote(item_id) +
                R"(,"content_index":0,"audio_end_ms":)" + std::to_string(number(in.u8())) + "}";
            break;
          case 1:
            m = R"({"type":"conversation.item.deleted","event_id":"e","item_id":)" + quote(item_id) + "}";
            break;
          case 2:
            m = R"({"type":"conversation.item.added","event_id":"e","previous_item_id":null,"item":{"id":)" +
                quote(item_id) + R"(,"type":"message","status":"in_progress","role":"assistant","content":[]}})";
            break;
          default:
            m = R"({"type":"conversation.item.created","event_id":"e","previous_item_id":"item_0","item":{"id":"item_u","type":"message","status":"completed","role":"user","content":[{"type":"input_text","text":"hi"}]}})";
            break;
        }
        break;
      }
      case 23:
        m = R"({"type":)" + quote(in.str()) + R"(,"event_id":"e"})";
        break;
      default:  // 24: documented events the bridge ignores
        m = R"({"type":"response.content_part.added","event_id":"e","response_id":)" + quote(response_id) +
            R"(,"item_id":)" + quote(item_id) + R"(,"output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}})";
        break;
    }
    deliver(leg::openai, m);
  }

  // --- scripts ---
  void ai_turn(unsigned deltas, std::uint8_t flags) {
    response_id = new_id("resp_");
    item_id = new_id("item_");
    deliver(leg::openai, response_created(response_id));
    deliver(leg::openai, message_item_added(response_id, item_id));
    for (unsigned i = 0; i < deltas; ++i) {
      deliver(leg::openai, audio_delta(response_id, item_id, static_cast<std::uint8_t>(i * 8), false));
      if (flags & 1) advance(5);
    }
    if (flags & 2) return;  // still streaming
    deliver(leg::openai, R"({"type":"response.output_audio.done","event_id":"e","response_id":)" + quote(response_id) +
                             R"(,"item_id":)" + quote(item_id) + R"(,"output_index":0,"content_index":0})");
    deliver(leg::openai, R"({"type":"response.output_audio_transcript.done","event_id":"e","response_id":)" +
                             quote(response_id) + R"(,"item_id":)" + quote(item_id) +
                             R"(,"output_index":0,"content_index":0,"transcript":"Hi! How can I help?"})");
    if (flags & 4) return;
    reader none(nullptr, 0);
    deliver(leg::openai, response_done(response_id, 0, none));
  }

  void barge_in_script(std::uint8_t flags) {
    deliver(leg::openai, R"({"type":"input_audio_buffer.speech_started","event_id":"e","audio_start_ms":)" +
                             std::to_string((flags >> 4) * 300) + R"(,"item_id":"item_user"})");
    if (flags & 1) echo_marks(static_cast<unsigned>(pending_marks.size()), 0);  // Twilio flushes on clear
    if (flags & 2) {
      reader none(nullptr, 0);
      deliver(leg::openai, response_done(response_id, 1 /* cancelled, turn_detected */, none));
    }
    if (flags & 4) {
      deliver(leg::openai, audio_delta(response_id, item_id, 0, false));  // a late delta
    }
    if (flags & 8) {
      deliver(leg::openai,
              R"({"type":"input_audio_buffer.speech_stopped","event_id":"e","audio_end_ms":2000,"item_id":"item_user"})");
      deliver(leg::openai,
              R"({"type":"input_audio_buffer.committed","event_id":"e","previous_item_id":null,"item_id":"item_user"})");
    }
  }

  void tool_call_script(std::uint8_t flags) {
    response_id = new_id("resp_");
    call_id = new_id("call_");
    const std::string item = new_id("item_");
    deliver(leg::openai, response_created(response_id));
    deliver(leg::openai, function_item("response.output_item.added", response_id, item, call_id, "in_progress"));
    deliver(leg::openai, R"({"type":"response.function_call_arguments.delta","event_id":"e","response_id":)" +
                             quote(response_id) + R"(,"item_id":)" + quote(item) + R"(,"output_index":1,"call_id":)" +
                             quote(call_id) + R"(,"delta":"{\"order"})");
    deliver(leg::openai, R"({"type":"response.function_call_arguments.done","event_id":"e","response_id":)" +
                             quote(response_id) + R"(,"item_id":)" + quote(item) + R"(,"output_index":1,"call_id":)" +
                             quote(call_id) + R"(,"name":"get_order_status","arguments":"{\"order_number\":\"48217\"}"})");
    deliver(leg::openai, function_item("response.output_item.done", response_id, item, call_id,
                                       (flags & 1) ? "incomplete" : "completed"));
    if (!(flags & 2)) {
      reader none(nullptr, 0);
      deliver(leg::openai, response_done(response_id, 0, none));
    }
    if (flags & 4) {
      note_text(call_id);
      driver->submit_tool_result(call_id, R"({"status":"shipped"})");
      check_state();
    }
  }

  void echo_marks(unsigned n, std::uint8_t spacing) {
    for (unsigned i = 0; i < n && !pending_marks.empty(); ++i) {
      const std::string name = std::move(pending_marks.front());
      pending_marks.pop_front();
      if (spacing) advance(spacing);
      deliver(leg::twilio, twilio_mark(name));
    }
  }

  void media_frames(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      advance(20);
      deliver(leg::twilio, twilio_media(0, 0xFF, false));
    }
  }

  // --- outputs ---
  void on_send(leg side, std::string_view message) {
    after_end_check();
    say(side == leg::twilio ? "<< twilio" : "<< openai", message);
    log_line(fmt::format("-> {} {}", side == leg::twilio ? "twilio" : "openai", message));
    simdjson::dom::element doc;
    CHECK(!json.parse(message.data(), message.size()).get(doc));
    simdjson::dom::object obj;
    CHECK(!doc.get_object().get(obj));
    if (side == leg::twilio) {
      CHECK(twilio_closes == 0);
      std::string_view event, sid;
      CHECK(!obj["event"].get_string().get(event));
      CHECK(!obj["streamSid"].get_string().get(sid));
      CHECK(sid == driver->call().stream_sid());
      CHECK(driver->call().twilio_stream().phase() != twilio::stream_phase::awaiting_start);
      if (event == "media") {
        std::string_view payload;
        CHECK(!obj["media"]["payload"].get_string().get(payload));
        CHECK(audio::is_base64(payload));
        ++sent_media;
      } else if (event == "mark") {
        std::string_view name;
        CHECK(!obj["mark"]["name"].get_string().get(name));
        const auto mark = parse_mark_name(name);
        CHECK(mark.has_value());
        CHECK(to_string(*mark) == name);
        pending_marks.emplace_back(name);
        if (mark->item == 0)
          ++sent_probes;
        else
          ++sent_marks;
      } else {
        CHECK(event == "clear");
        ++sent_clears;
      }
    } else {
      CHECK(openai_closes == 0);
      if (!chaos) CHECK(openai_opened);
      std::string_view type;
      CHECK(!obj["type"].get_string().get(type));
      if (type == "input_audio_buffer.append") {
        std::string_view audio_text;
        CHECK(!obj["audio"].get_string().get(audio_text));
        CHECK(audio::is_base64(audio_text));
        ++sent_appends;
      } else if (type == "conversation.item.truncate") {
        // barge_in.cpp: an item the caller heard nothing of is deleted, not
        // truncated at 0 (the server does not accept that).
        std::int64_t end_ms = -1;
        CHECK(!obj["audio_end_ms"].get_int64().get(end_ms));
        CHECK(end_ms > 0);
        // Never beyond the audio received for the item ("Audio content of X ms
        // is already shorter than Y ms").
        std::string_view item;
        CHECK(!obj["item_id"].get_string().get(item));
        const auto it = model_item_bytes.find(item);
        CHECK(it != model_item_bytes.end() &&
              static_cast<std::uint64_t>(end_ms) <= it->second / audio::mulaw_bytes_per_ms);
        ++sent_truncates;
      } else if (type == "conversation.item.delete") {
        ++sent_deletes;
      } else if (type == "response.cancel") {
        ++sent_cancels;
      } else if (type == "response.create") {
        // session.hpp: "response.create is only ever sent when no response is
        // active or already requested".
        CHECK(!model_requested && model_active.empty());
        model_requested = true;
      } else {
        CHECK(type == "session.update" || type == "conversation.item.create");
      }
    }
  }

  void on_close(leg side, std::uint16_t code, std::string_view reason) {
    after_end_check();
    say(side == leg::twilio ? "<< twilio" : "<< openai", fmt::format("(close {} {})", code, reason));
    log_line(fmt::format("-> {} close {} {}", side == leg::twilio ? "twilio" : "openai", code, reason));
    int& closes = side == leg::twilio ? twilio_closes : openai_closes;
    ++closes;
    CHECK(closes == 1);
    // A leg the peer already closed is not closed again (a new OpenAI
    // connection asked for and not open yet may be given up, though).
    if (!chaos && !(side == leg::openai && reconnect_requested))
      CHECK(!(side == leg::twilio ? twilio_peer_closed : openai_peer_closed));
  }

  void check_counters() {
    const call_counters c = driver->call().counters();
    CHECK(c.playout.media_sent == sent_media);
    CHECK(c.playout.marks_sent == sent_marks);
    CHECK(c.playout.probes_sent == sent_probes);
    CHECK(c.playout.clears == sent_clears);
    CHECK(c.caller_frames_forwarded == sent_appends);
    CHECK(c.playout.truncates == sent_truncates);
    CHECK(c.playout.deletes == sent_deletes);
    CHECK(c.playout.cancels == sent_cancels);
  }

  void check_replay_matches() {
    std::istringstream trace_in(trace.text);
    std::ostringstream replayed;
    const auto r = replay_trace(trace_in, replayed);
    if (!r) {
      std::fprintf(stderr, "fuzz_call: replay failed: %s\n", r.error().message.c_str());
      violation("the recorded trace replays");
    }
    // Compare what reached the transports. replay_trace prints each as
    // "<stamp> -> <leg> ..."; its host lines (describe() of host outputs) are
    // not compared, as their format is not an interface.
    std::string sent;
    std::istringstream lines(replayed.str());
    for (std::string line; std::getline(lines, line);) {
      const auto space = line.find(' ');
      if (line.empty() || line[0] != '@' || space == std::string::npos) continue;
      const std::string_view rest = std::string_view(line).substr(space + 1);
      if (rest.substr(0, 10) == "-> twilio " || rest.substr(0, 10) == "-> openai ") {
        sent.append(rest);
        sent.push_back('\n');
      }
    }
    if (all_text_utf8 && sent != log) {
      std::fprintf(stderr, "--- trace\n%s--- live\n%s--- replayed\n%s---\n", trace.text.c_str(), log.c_str(),
                   replayed.str().c_str());
      violation("the replay reproduces the live outputs");
    }
  }

  // --- the run ---
  void run(reader& in);
  void op(reader& in);
};

void fuzz_transport::send_text(std::string_view message) { h->on_send(side, message); }
void fuzz_transport::close(std::uint16_t code, std::string_view reason) { h->on_close(side, code, reason); }
void fuzz_connector::connect(openai_slot slot, std::string_view) { h->on_connect(slot); }

// Reads every byte of a view the driver hands out, so ASan sees dangling ones.
std::size_t touch(std::string_view s) {
  std::size_t h = s.size();
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}
volatile std::size_t touched;

void fuzz_observer::on_stream_started(const to_host::stream_started& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  std::size_t n = touch(a.call_sid) + touch(a.stream_sid);
  for (const auto& p : a.custom_parameters) n += touch(p.name) + touch(p.value);
  CHECK(a.stream_sid == h->driver->call().stream_sid());
  touched = n;
}
void fuzz_observer::on_session_ready(const to_host::session_ready& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.session_id);
  if (h->host_greets_on_ready) h->driver->send_user_text("(The caller is connected.)", true);
}
void fuzz_observer::on_caller_transcript(const to_host::caller_transcript& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.item_id) + touch(a.text);
}
void fuzz_observer::on_ai_transcript(const to_host::ai_transcript& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.item_id) + touch(a.text);
}
void fuzz_observer::on_ai_interrupted(const to_host::ai_interrupted& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.item_id);
  CHECK(a.heard_ms >= 0 && a.heard_ms <= a.sent_ms);
}
void fuzz_observer::on_dtmf(const to_host::dtmf& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.digit);
  if (h->host_hangs_up_on_hash && a.digit == "#") h->driver->end_call("caller pressed #");
}
void fuzz_observer::on_tool_call(const to_host::tool_call& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.call_id) + touch(a.name) + touch(a.arguments);
  h->tool_calls.emplace_back(a.call_id);
  if (h->tool_calls.size() > 16) h->tool_calls.erase(h->tool_calls.begin());
  if (h->host_answers_tools) h->driver->submit_tool_result(a.call_id, R"({"status":"shipped","eta":"soon"})");
}
void fuzz_observer::on_warning(const to_host::warning& a) {
  if (verbose()) h->say("host", describe(action{a}));
  h->after_end_check();
  touched = touch(a.detail);
  if (h->host_talks_on_warning && !h->warned_talk) {
    h->warned_talk = true;
    h->driver->send_user_text("Sorry, could you repeat that?", false);
  }
}
void fuzz_observer::on_call_ended(const call_summary& s) {
  if (verbose()) h->say("host", describe(action{to_host::call_ended{s.reason, std::string(s.detail)}}));
  h->after_end_check();
  ++h->call_ended;
  touched = touch(s.detail) + touch(s.call_sid) + touch(s.stream_sid) + s.counters.twilio.media_frames;
  CHECK(h->driver->call().reason() == s.reason);
  CHECK(s.call_sid == h->driver->call().call_sid());
}

call_config make_config(std::uint8_t c0, std::uint8_t c1, std::uint8_t c2) {
  call_config c;
  switch (c0 & 3) {
    case 0: break;
    case 1:
    case 3:
      c.openai.greeting = {openai::greeting::style::user_message, "(The caller has just connected. Greet them.)"};
      break;
    case 2:
      c.openai.greeting = {openai::greeting::style::instructions, "Greet the caller warmly and ask how to help."};
      break;
  }
  switch ((c0 >> 2) & 3) {
    case 0: break;
    case 1: {
      openai::server_vad vad;
      vad.interrupt_response = false;
      c.openai.config.turn = vad;
      break;
    }
    case 2: c.openai.config.turn = openai::semantic_vad{}; break;
    case 3: c.openai.config.turn = openai::no_turn_detection{}; break;
  }
  c.barge_in.enabled = !(c0 & 0x10);
  c.barge_in.forget_unheard = !(c0 & 0x20);
  switch (c1 & 3) {
    case 1:
      c.limits.held_caller_audio = 100ms;
      c.limits.held_ai_audio = 200ms;
      c.limits.max_rejected_messages = 3;
      c.twilio.start = 2s;
      c.twilio.media_idle = 1s;
      c.openai.timeouts.connect = 1s;
      c.openai.timeouts.configure = 1s;
      c.barge_in.margin = 0ms;
      break;
    case 2: c.twilio.media_idle = 0ms; break;
    default: break;
  }
  if ((c1 & 3) == 1) c.reconnect.window = 2s;
  if (c1 & 0x80) {
    c.openai.config.instructions = "You are the phone assistant for Acme Outfitters. \"Be brief.\"";
    c.openai.config.voice = "cedar";
    c.openai.config.input_transcription = openai::transcription{"gpt-4o-mini-transcribe", "en", ""};
    c.openai.config.noise = openai::noise_reduction::near_field;
    c.openai.config.speed = 1.25;
    c.openai.config.tools.push_back(
        {"get_order_status", "Look up an order.",
         R"({"type":"object","properties":{"order_number":{"type":"string"}},"required":["order_number"]})"});
    c.openai.config.tool_choice = "get_order_status";
    if (auto* vad = std::get_if<openai::server_vad>(&c.openai.config.turn)) vad->idle_timeout_ms = 6000;
  }
  if ((c0 & 3) == 3) {
    if (c2 & 1) c.barge_in.echo_guard = 300ms;
    if (c2 & 2) c.barge_in.min_speech = 200ms;
    c.barge_in.margin = std::chrono::milliseconds(std::array{0, 5, 20, 150}[(c2 >> 2) & 3]);
  }
  return c;
}

void harness::op(reader& in) {
  const std::uint8_t code = in.u8();
  const unsigned kind = code & 15;
  const unsigned a = code >> 4;
  advance(in.u8());
  switch (kind) {
    case 0: deliver(leg::twilio, in.str()); break;
    case 1: deliver(leg::openai, in.str()); break;
    case 2: twilio_template(a, in); break;
    case 3: openai_template(in.u8(), in); break;
    case 4: open_openai(); break;
    case 5: {
      const std::uint16_t close_code = (a & 2) ? 0 : in.u16();
      close_leg((a & 1) ? leg::openai : leg::twilio, close_code, in.str());
      break;
    }
    case 6:
      if (a & 1) {
        if (const auto due = driver->next_timeout()) advance_to(*due);
      }
      if (a & 2) {
        driver->on_timer();  // spurious or late: both are fine
        check_state();
        if (!chaos) {
          const auto due = driver->next_timeout();
          CHECK(!due || *due > now);
        }
      }
      break;
    case 7: {
      std::string id;
      if (a < 8) {
        id = tool_calls.empty() ? call_id : tool_calls[a % tool_calls.size()];
      } else {
        id = std::string(in.str());
      }
      const std::string_view output = in.str();
      note_text(id);
      note_text(output);
      driver->submit_tool_result(id, output);
      check_state();
      break;
    }
    case 8: {
      const std::string_view text = in.str();
      note_text(text);
      driver->send_user_text(text, a & 1);
      check_state();
      break;
    }
    case 9: {
      const std::string_view reason = in.str();
      note_text(reason);
      driver->end_call(reason);
      check_state();
      break;
    }
    case 10: {
      const leg side = (a & 1) ? leg::openai : leg::twilio;
      const std::size_t size = driver->max_message_bytes(side) + 1 + in.u16();
      if (!chaos && side == leg::twilio && !twilio_live()) break;
      if (!chaos && side == leg::openai && !openai_live()) break;
      driver->on_oversized(side, size);
      check_state();
      break;
    }
    case 11: media_frames(a + 1); break;
    case 12: ai_turn(a + 1, in.u8()); break;
    case 13: {
      const std::uint8_t spacing = in.u8();
      echo_marks(a + 1, spacing);
      break;
    }
    case 14: barge_in_script(in.u8()); break;
    default: tool_call_script(in.u8()); break;
  }
}

void harness::run(reader& in) {
  const std::uint8_t c0 = in.u8();
  const std::uint8_t c1 = in.u8();
  chaos = c0 & 0x40;
  check_replay = c0 & 0x80;
  host_answers_tools = c1 & 0x04;
  host_greets_on_ready = c1 & 0x08;
  host_hangs_up_on_hash = c1 & 0x10;
  host_talks_on_warning = c1 & 0x20;
  fragmented = c1 & 0x40;
  if ((c1 & 3) == 3) {
    limits.max_twilio_message_bytes = 300;
    limits.max_openai_message_bytes = 700;
  }

  model_decoder.emplace(limits.max_openai_message_bytes);
  const std::uint8_t c2 = (c0 & 3) == 3 ? in.u8() : 0;
  call_config config = make_config(c0, c1, c2);
  if (!validate(config)) violation("the harness builds a valid config");

  twilio_side.h = this;
  twilio_side.side = leg::twilio;
  openai_side.h = this;
  openai_side.side = leg::openai;
  observer.h = this;
  connector.h = this;
  driver.emplace(std::move(config), twilio_side, openai_side, observer, limits, [this] { return now; },
                 check_replay ? &trace : nullptr);
  driver->set_connector(&connector);
  check_state();

  for (int ops = 0; !in.empty() && ops < 512; ++ops) {
    op(in);
    check_state();
  }
  // Let the call run out: every call ends by itself eventually (timeouts), and
  // must then go quiet.
  if (!chaos) {
    for (int i = 0; i < 8 && !driver->finished(); ++i) {
      const auto due = driver->next_timeout();
      if (!due) break;
      advance_to(*due);
    }
  }
  check_state();
  check_counters();
  if (check_replay) check_replay_matches();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);
  harness h;
  h.run(in);
  return 0;
}
