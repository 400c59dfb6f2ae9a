/*
 * The C ABI (include/realtime_bridge/c/realtime_bridge.h) driven from C99, in
 * the scenarios of the C++ call tests (tests/unit/call_test.cpp,
 * call_driver_test.cpp): a greeting, a barge-in, a tool call, OpenAI failing.
 * Each scenario runs twice: with callbacks, and draining the action list; both
 * must produce the same requests in the same order. Then the ABI's own
 * contract: errors and their messages, re-entrancy, destroying from a
 * callback, fragments, time, traces, shared parsers, counters.
 *
 *   c_abi_test             runs every scenario
 *   c_abi_test NAME...     runs those (ctest runs each on its own)
 *
 * A test host records one line per request, in order:
 *   "twilio< TEXT", "openai< TEXT"   a message sent on a leg
 *   "close twilio 1011 REASON"       a leg closed
 *   "event KIND ..."                 an event for the host
 * and each step compares the lines it added with what the C++ tests expect.
 */
#include <realtime_bridge/c/realtime_bridge.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

#define REQUIRE(cond)                                                            \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

#define REQUIRE_OK(expr)                                                                             \
  do {                                                                                               \
    rtb_status s_ = (expr);                                                                          \
    if (s_ != RTB_OK) {                                                                              \
      fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, rtb_status_name(s_), \
              rtb_last_error());                                                                     \
      exit(1);                                                                                       \
    }                                                                                                \
  } while (0)

/* ---- a growable list of lines ------------------------------------------ */

typedef struct lines {
  char** items;
  size_t count;
  size_t cap;
} lines;

static void lines_pushf(lines* l, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int n = vsnprintf(NULL, 0, format, args);
  va_end(args);
  REQUIRE(n >= 0);
  char* s = malloc((size_t)n + 1);
  REQUIRE(s);
  va_start(args, format);
  vsnprintf(s, (size_t)n + 1, format, args);
  va_end(args);
  if (l->count == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->items = realloc(l->items, l->cap * sizeof *l->items);
    REQUIRE(l->items);
  }
  l->items[l->count++] = s;
}

static void lines_free(lines* l) {
  for (size_t i = 0; i < l->count; ++i) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

/* ---- audio --------------------------------------------------------------- */

/* Base64 of `n` bytes all equal to `fill` (0xFF is µ-law silence). */
static char* mulaw(size_t n, unsigned char fill) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char* out = malloc(4 * ((n + 2) / 3) + 1);
  REQUIRE(out);
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    const size_t left = n - i;
    const unsigned v = (unsigned)fill << 16 | (left > 1 ? (unsigned)fill << 8 : 0u) | (left > 2 ? (unsigned)fill : 0u);
    out[o++] = table[(v >> 18) & 63];
    out[o++] = table[(v >> 12) & 63];
    out[o++] = left > 1 ? table[(v >> 6) & 63] : '=';
    out[o++] = left > 2 ? table[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

/* ---- the host -------------------------------------------------------------- */

typedef struct host {
  rtb_call* call;
  int list_style;
  int64_t origin_us; /* the host's clock at the call's start */
  int64_t now_us;    /* the time of the last input */
  lines log;
  size_t checked; /* lines already compared by expect() */
  lines trace;
  /* behaviour */
  const char* tool_answer; /* answer each tool call at once (from the callback, or while draining) */
  int reenter;             /* try an input from inside a callback */
  rtb_status reenter_status;
  int destroy_on_end; /* destroy the call when it reports its end */
  int events_after_destroy;
  int destroyed;
} host;

static void check_string(rtb_string s) {
  REQUIRE(s.data != NULL);
  CHECK(s.data[s.size] == '\0');
}

static const char* leg_name(int32_t leg) { return leg == RTB_LEG_TWILIO ? "twilio" : "openai"; }

static void record_event(host* h, rtb_call* call, const rtb_event* e) {
  if (h->destroyed) ++h->events_after_destroy;
  check_string(e->call_sid);
  check_string(e->stream_sid);
  check_string(e->session_id);
  check_string(e->item_id);
  check_string(e->text);
  check_string(e->call_id);
  check_string(e->name);
  check_string(e->arguments);
  CHECK((e->parameters == NULL) == (e->parameter_count == 0));
  CHECK((e->counters != NULL) == (e->type == RTB_EVENT_CALL_ENDED));
  switch (e->type) {
    case RTB_EVENT_STREAM_STARTED: {
      char params[512] = "";
      for (size_t i = 0; i < e->parameter_count; ++i) {
        check_string(e->parameters[i].name);
        check_string(e->parameters[i].value);
        size_t used = strlen(params);
        snprintf(params + used, sizeof params - used, " %s=%s", e->parameters[i].name.data,
                 e->parameters[i].value.data);
      }
      lines_pushf(&h->log, "event stream_started %s %s%s", e->call_sid.data, e->stream_sid.data, params);
      break;
    }
    case RTB_EVENT_SESSION_READY: lines_pushf(&h->log, "event session_ready %s", e->session_id.data); break;
    case RTB_EVENT_CALLER_TRANSCRIPT:
      lines_pushf(&h->log, "event caller_transcript %s %s", e->item_id.data, e->text.data);
      break;
    case RTB_EVENT_AI_TRANSCRIPT:
      lines_pushf(&h->log, "event ai_transcript %s %s", e->item_id.data, e->text.data);
      break;
    case RTB_EVENT_AI_INTERRUPTED:
      lines_pushf(&h->log, "event ai_interrupted %s %lld/%lld", e->item_id.data, (long long)e->heard_ms,
                  (long long)e->sent_ms);
      break;
    case RTB_EVENT_DTMF: lines_pushf(&h->log, "event dtmf %s", e->text.data); break;
    case RTB_EVENT_TOOL_CALL:
      lines_pushf(&h->log, "event tool_call %s %s %s", e->call_id.data, e->name.data, e->arguments.data);
      if (h->tool_answer) {
        /* The arguments point into the event: the library copies them. */
        REQUIRE_OK(rtb_call_submit_tool_result(call, e->call_id.data, e->call_id.size, h->tool_answer,
                                               strlen(h->tool_answer), h->now_us));
      }
      break;
    case RTB_EVENT_WARNING: lines_pushf(&h->log, "event warning %s %s", rtb_warning_name(e->code), e->text.data); break;
    case RTB_EVENT_CALL_ENDED:
      lines_pushf(&h->log, "event call_ended %s %s", rtb_end_reason_name(e->code), e->text.data);
      if (h->destroy_on_end) {
        rtb_call_destroy(call);
        h->destroyed = 1;
        h->call = NULL;
      }
      break;
    default: lines_pushf(&h->log, "event unknown %d", (int)e->type); break;
  }
}

static void on_send(void* user, int32_t leg, const char* text, size_t length) {
  host* h = user;
  if (h->destroyed) ++h->events_after_destroy;
  CHECK(text[length] == '\0');
  CHECK(strlen(text) == length);
  lines_pushf(&h->log, "%s< %s", leg_name(leg), text);
  if (h->reenter) {
    h->reenter_status = rtb_call_on_text(h->call, RTB_LEG_TWILIO, "{}", 2, h->origin_us);
    h->reenter = 0;
  }
}

static void on_close(void* user, int32_t leg, uint16_t code, const char* reason, size_t length) {
  host* h = user;
  if (h->destroyed) ++h->events_after_destroy;
  CHECK(reason[length] == '\0');
  lines_pushf(&h->log, "close %s %u %s", leg_name(leg), (unsigned)code, reason);
}

static void on_event(void* user, rtb_call* call, const rtb_event* event) {
  host* h = user;
  CHECK(call == h->call);
  record_event(h, call, event);
}

static void on_trace(void* user, const char* line, size_t length) {
  host* h = user;
  CHECK(line[length] == '\0');
  lines_pushf(&h->trace, "%s", line);
}

/* Takes every queued action (list style). */
static void drain(host* h) {
  if (!h->list_style) {
    CHECK(h->call == NULL || rtb_call_next_action(h->call) == NULL);
    return;
  }
  const rtb_action* a = NULL;
  while (h->call && (a = rtb_call_next_action(h->call)) != NULL) {
    switch (a->type) {
      case RTB_ACTION_SEND_TEXT:
        check_string(a->text);
        CHECK(a->event == NULL);
        lines_pushf(&h->log, "%s< %s", leg_name(a->leg), a->text.data);
        break;
      case RTB_ACTION_CLOSE_LEG:
        check_string(a->text);
        lines_pushf(&h->log, "close %s %u %s", leg_name(a->leg), (unsigned)a->close_code, a->text.data);
        break;
      case RTB_ACTION_EVENT:
        REQUIRE(a->event != NULL);
        check_string(a->text);
        CHECK(a->text.size == 0);
        record_event(h, h->call, a->event);
        break;
      default: CHECK(!"an unknown action type"); break;
    }
  }
}

static void host_start(host* h, int list_style, const char* config_json, int64_t origin_us, rtb_parser* parser,
                       size_t max_twilio_message_bytes) {
  rtb_callbacks callbacks = {0};
  callbacks.user = h;
  callbacks.send_text = on_send;
  callbacks.close_leg = on_close;
  callbacks.on_event = on_event;
  h->list_style = list_style;
  h->origin_us = origin_us;
  h->now_us = origin_us;
  rtb_call_options options;
  rtb_call_options_init(&options);
  options.config_json = config_json;
  options.config_json_length = config_json ? strlen(config_json) : 0;
  options.callbacks = list_style ? NULL : &callbacks; /* copied by rtb_call_create */
  options.trace_line = on_trace;
  options.trace_user = h;
  options.parser = parser;
  options.max_twilio_message_bytes = max_twilio_message_bytes;
  REQUIRE_OK(rtb_call_create(&options, origin_us, &h->call));
  REQUIRE(h->call != NULL);
  CHECK(h->trace.count == 1 && strncmp(h->trace.items[0], "{\"rtb_trace\":1,\"config\":", 24) == 0);
}

static void host_finish(host* h) {
  if (h->call) rtb_call_destroy(h->call);
  h->call = NULL;
  lines_free(&h->log);
  lines_free(&h->trace);
}

static int64_t at(const host* h, int64_t ms) { return h->origin_us + ms * 1000; }

static void says(host* h, int32_t leg, int64_t ms, const char* json) {
  h->now_us = at(h, ms);
  REQUIRE_OK(rtb_call_on_text(h->call, leg, json, strlen(json), at(h, ms)));
  drain(h);
}
static void twilio_says(host* h, int64_t ms, const char* json) { says(h, RTB_LEG_TWILIO, ms, json); }
static void openai_says(host* h, int64_t ms, const char* json) { says(h, RTB_LEG_OPENAI, ms, json); }
static void openai_opens(host* h, int64_t ms) {
  h->now_us = at(h, ms);
  REQUIRE_OK(rtb_call_on_openai_open(h->call, at(h, ms)));
  drain(h);
}
static void timer_fires(host* h, int64_t ms) {
  h->now_us = at(h, ms);
  REQUIRE_OK(rtb_call_on_timer(h->call, at(h, ms)));
  drain(h);
}

/* Compares the lines added since the last expect() with `want` (NULL-ended).
   A wanted line ending in '*' matches any line starting with the rest. */
static void expect_at(host* h, const char* const* want, const char* file, int line) {
  size_t n = 0;
  while (want[n]) ++n;
  int ok = h->log.count - h->checked == n;
  for (size_t i = 0; ok && i < n; ++i) {
    const char* got = h->log.items[h->checked + i];
    const size_t len = strlen(want[i]);
    if (len > 0 && want[i][len - 1] == '*')
      ok = strncmp(got, want[i], len - 1) == 0;
    else
      ok = strcmp(got, want[i]) == 0;
  }
  if (!ok) {
    fprintf(stderr, "%s:%d: the host saw:\n", file, line);
    for (size_t i = h->checked; i < h->log.count; ++i) fprintf(stderr, "    %s\n", h->log.items[i]);
    fprintf(stderr, "  expected:\n");
    for (size_t i = 0; i < n; ++i) fprintf(stderr, "    %s\n", want[i]);
    ++failures;
  }
  h->checked = h->log.count;
}
#define EXPECT(h, ...)                                      \
  do {                                                      \
    static const char* const want_[] = {__VA_ARGS__, NULL}; \
    expect_at((h), want_, __FILE__, __LINE__);              \
  } while (0)
#define EXPECT_NOTHING(h)                      \
  do {                                         \
    static const char* const want_[] = {NULL}; \
    expect_at((h), want_, __FILE__, __LINE__); \
  } while (0)

/* ---- messages --------------------------------------------------------------- */

static const char connected_json[] = "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}";
static const char start_json[] =
    "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"accountSid\":\"AC1\",\"streamSid\":\"MZ1\","
    "\"callSid\":\"CA1\",\"tracks\":[\"inbound\"],\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":"
    "8000,\"channels\":1},\"customParameters\":{\"tenant\":\"acme\"}},\"streamSid\":\"MZ1\"}";
static const char stop_json[] =
    "{\"event\":\"stop\",\"sequenceNumber\":\"9\",\"stop\":{\"accountSid\":\"AC1\",\"callSid\":\"CA1\"},"
    "\"streamSid\":\"MZ1\"}";
static const char session_updated_json[] =
    "{\"type\":\"session.updated\",\"event_id\":\"event_1\",\"session\":{\"type\":\"realtime\",\"id\":\"sess_1\","
    "\"model\":\"gpt-realtime\",\"audio\":{\"input\":{\"format\":{\"type\":\"audio/pcmu\"}},\"output\":{\"format\":"
    "{\"type\":\"audio/pcmu\"},\"voice\":\"marin\"}}}}";

static char* media_json(const char* payload) {
  static const char format[] =
      "{\"event\":\"media\",\"sequenceNumber\":\"2\",\"media\":{\"track\":\"inbound\",\"chunk\":\"1\","
      "\"timestamp\":\"5\",\"payload\":\"%s\"},\"streamSid\":\"MZ1\"}";
  char* out = malloc(sizeof format + strlen(payload));
  REQUIRE(out);
  sprintf(out, format, payload);
  return out;
}

static char* mark_json(const char* name) {
  static const char format[] =
      "{\"event\":\"mark\",\"sequenceNumber\":\"3\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"%s\"}}";
  char* out = malloc(sizeof format + strlen(name));
  REQUIRE(out);
  sprintf(out, format, name);
  return out;
}

static char* delta_json(const char* response, const char* item, const char* payload) {
  static const char format[] =
      "{\"type\":\"response.output_audio.delta\",\"event_id\":\"e\",\"response_id\":\"%s\",\"item_id\":\"%s\","
      "\"output_index\":0,\"content_index\":0,\"delta\":\"%s\"}";
  char* out = malloc(sizeof format + strlen(response) + strlen(item) + strlen(payload));
  REQUIRE(out);
  sprintf(out, format, response, item, payload);
  return out;
}

static const char response_created_json[] =
    "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\"}}";

/* Twilio connected and started, OpenAI open and configured: call_test.cpp's live_call. */
static void bring_up(host* h) {
  twilio_says(h, 0, connected_json);
  twilio_says(h, 5, start_json);
  openai_opens(h, 100);
  openai_says(h, 200, session_updated_json);
  EXPECT(h, "event stream_started CA1 MZ1 tenant=acme", "openai< {\"type\":\"session.update\",\"event_id\":\"rtb_1\"*",
         "event session_ready sess_1");
}

static const char quiet_config[] = "{\"twilio\":{\"media_idle_ms\":0}}";

/* ---- the call scenarios -------------------------------------------------------- */

static void greeting(int list_style) {
  host h = {0};
  host_start(&h, list_style,
             "{\"openai\":{\"greeting\":{\"style\":\"instructions\",\"text\":\"Greet the caller.\"}},"
             "\"twilio\":{\"media_idle_ms\":0}}",
             1000000000017, NULL, 0);
  twilio_says(&h, 0, connected_json);
  EXPECT_NOTHING(&h);
  openai_opens(&h, 80);
  EXPECT(&h, "openai< {\"type\":\"session.update\",\"event_id\":\"rtb_1\",\"session\":{\"type\":\"realtime\"*");
  CHECK(strstr(h.log.items[h.log.count - 1], "\"format\":{\"type\":\"audio/pcmu\"}") != NULL);
  openai_says(&h, 200, session_updated_json);
  EXPECT(&h, "event session_ready sess_1");
  twilio_says(&h, 250, start_json);
  EXPECT(&h, "event stream_started CA1 MZ1 tenant=acme",
         "openai< {\"type\":\"response.create\",\"event_id\":\"rtb_2\",\"response\":{\"instructions\":\"Greet the "
         "caller.\"}}");
  openai_says(&h, 300, response_created_json);
  EXPECT_NOTHING(&h);
  char* chunk = mulaw(160, 0x2A);
  char* d = delta_json("resp_1", "item_A", chunk);
  openai_says(&h, 350, d);
  char want_media[512];
  snprintf(want_media, sizeof want_media,
           "twilio< {\"event\":\"media\",\"streamSid\":\"MZ1\",\"media\":{\"payload\":\"%s\"}}", chunk);
  /* A probe mark goes first: its echo times the round trip to the caller. */
  const char* want[] = {"twilio< {\"event\":\"mark\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"rtb.1.0.0\"}}",
                        want_media,
                        "twilio< {\"event\":\"mark\",\"streamSid\":\"MZ1\",\"mark\":{\"name\":\"rtb.1.1.20\"}}", NULL};
  expect_at(&h, want, __FILE__, __LINE__);

  /* Caller audio goes to OpenAI unchanged. */
  char* voice = mulaw(160, 0x55);
  char* m = media_json(voice);
  twilio_says(&h, 400, m);
  char want_append[512];
  snprintf(want_append, sizeof want_append, "openai< {\"type\":\"input_audio_buffer.append\",\"audio\":\"%s\"}", voice);
  const char* want2[] = {want_append, NULL};
  expect_at(&h, want2, __FILE__, __LINE__);

  twilio_says(&h, 5000, stop_json);
  EXPECT(&h, "close twilio 1000 caller_hung_up", "close openai 1000 caller_hung_up",
         "event call_ended caller_hung_up ");
  CHECK(rtb_call_finished(h.call) == 1);
  CHECK(rtb_call_next_timeout(h.call) == RTB_NO_TIMEOUT);
  rtb_counters c;
  REQUIRE_OK(rtb_call_get_counters(h.call, &c, sizeof c));
  CHECK(c.playout_media_sent == 1);
  CHECK(c.playout_marks_sent == 1);
  CHECK(c.caller_frames_forwarded == 1);
  CHECK(c.twilio_media_frames == 1);
  free(chunk);
  free(d);
  free(voice);
  free(m);
  host_finish(&h);
}

static void barge_in(int list_style) {
  host h = {0};
  host_start(&h, list_style, quiet_config, -5000000, NULL, 0);
  bring_up(&h);
  openai_says(&h, 300, response_created_json);
  char* chunk = mulaw(160, 0xFF);
  char* d = delta_json("resp_1", "item_A", chunk);
  for (int i = 0; i < 10; ++i) openai_says(&h, 310, d);
  CHECK(h.log.count - h.checked == 21); /* a probe mark, ten media, ten marks */
  h.checked = h.log.count;
  char* m20 = mark_json("rtb.1.1.20");
  char* m40 = mark_json("rtb.1.1.40");
  twilio_says(&h, 330, m20);
  twilio_says(&h, 350, m40);
  EXPECT_NOTHING(&h);
  openai_says(&h, 350,
              "{\"type\":\"input_audio_buffer.speech_started\",\"event_id\":\"e\",\"audio_start_ms\":0,"
              "\"item_id\":\"item_user\"}");
  EXPECT(&h, "twilio< {\"event\":\"clear\",\"streamSid\":\"MZ1\"}",
         "openai< {\"type\":\"conversation.item.truncate\",\"event_id\":\"rtb_2\",\"item_id\":\"item_A\","
         "\"content_index\":0,\"audio_end_ms\":40}",
         "event ai_interrupted item_A 40/200"); /* the last echo's position: the margin is 0 by default */
  /* The interrupted response's audio still in flight never reaches the caller. */
  openai_says(&h, 352, d);
  openai_says(&h, 360, "{\"type\":\"response.done\",\"response\":{\"id\":\"resp_1\",\"status\":\"cancelled\"}}");
  EXPECT_NOTHING(&h);
  rtb_counters c;
  REQUIRE_OK(rtb_call_get_counters(h.call, &c, sizeof c));
  CHECK(c.playout_late_deltas_dropped == 1);
  CHECK(c.playout_barge_ins == 1);
  CHECK(c.playout_clears == 1);
  CHECK(c.playout_truncates == 1);
  CHECK(c.playout_marks_echoed == 2);
  free(chunk);
  free(d);
  free(m20);
  free(m40);
  host_finish(&h);
}

static void tool_call(int list_style) {
  host h = {0};
  host_start(&h, list_style, quiet_config, 0, NULL, 0);
  h.tool_answer = "{\"ok\":true}";
  bring_up(&h);
  openai_says(&h, 300, response_created_json);
  openai_says(&h, 400,
              "{\"type\":\"response.output_item.done\",\"response_id\":\"resp_1\",\"output_index\":0,\"item\":{\"id\":"
              "\"item_F\",\"type\":\"function_call\",\"status\":\"completed\",\"name\":\"lookup\",\"call_id\":"
              "\"call_9\",\"arguments\":\"{}\"}}");
  /* The answer goes out after the event that asked for it; no response yet:
     one is still active. */
  EXPECT(&h, "event tool_call call_9 lookup {}",
         "openai< {\"type\":\"conversation.item.create\",\"event_id\":\"rtb_2\",\"item\":{\"type\":"
         "\"function_call_output\",\"call_id\":\"call_9\",\"output\":\"{\\\"ok\\\":true}\"}}");
  openai_says(&h, 500, "{\"type\":\"response.done\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\"}}");
  EXPECT(&h, "openai< {\"type\":\"response.create\",\"event_id\":\"rtb_3\"}");
  /* An answer for a call nobody asked for is a warning, not an error. */
  REQUIRE_OK(rtb_call_submit_tool_result(h.call, "call_x", 6, "{}", 2, at(&h, 600)));
  drain(&h);
  EXPECT(&h, "event warning unknown_tool_call *");
  rtb_counters c;
  REQUIRE_OK(rtb_call_get_counters(h.call, &c, sizeof c));
  CHECK(c.openai_tool_calls == 1);
  host_finish(&h);
}

static void openai_failure(int list_style) {
  /* A fatal error: Twilio's stream is closed so Twilio runs the fallback TwiML. */
  {
    host h = {0};
    host_start(&h, list_style, quiet_config, 42, NULL, 0);
    h.destroy_on_end = 1;
    bring_up(&h);
    openai_says(&h, 300,
                "{\"type\":\"error\",\"event_id\":\"e\",\"error\":{\"type\":\"invalid_request_error\",\"code\":"
                "\"invalid_api_key\",\"message\":\"Incorrect API key provided\",\"param\":null,\"event_id\":null}}");
    EXPECT(&h, "close twilio 1011 openai_rejected", "close openai 1000 openai_rejected",
           "event call_ended openai_rejected invalid_api_key: Incorrect API key provided");
    CHECK(h.destroyed == 1); /* from inside the callback, or while draining */
    CHECK(h.events_after_destroy == 0);
    CHECK(rtb_end_reason_is_ai_failure(RTB_END_OPENAI_REJECTED) == 1);
    host_finish(&h);
  }
  /* OpenAI closes the socket mid-call. */
  {
    host h = {0};
    host_start(&h, list_style, quiet_config, 42, NULL, 0);
    bring_up(&h);
    REQUIRE_OK(rtb_call_on_closed(h.call, RTB_LEG_OPENAI, 1011, "server error", 12, at(&h, 300)));
    drain(&h);
    EXPECT(&h, "close twilio 1011 openai_closed",
           "event call_ended openai_closed closed with code 1011 (server error)");
    host_finish(&h);
  }
  /* OpenAI never answers: the connect deadline ends the call. */
  {
    host h = {0};
    host_start(&h, list_style, quiet_config, 123456789, NULL, 0);
    twilio_says(&h, 5, start_json);
    EXPECT(&h, "event stream_started CA1 MZ1 tenant=acme");
    CHECK(rtb_call_next_timeout(h.call) == at(&h, 10000));
    timer_fires(&h, 9999); /* not yet due */
    EXPECT_NOTHING(&h);
    timer_fires(&h, 10000);
    EXPECT(&h, "close twilio 1011 openai_unreachable", "close openai *", "event call_ended openai_unreachable *");
    CHECK(rtb_call_finished(h.call) == 1);
    CHECK(rtb_call_next_timeout(h.call) == RTB_NO_TIMEOUT);
    host_finish(&h);
  }
}

/* ---- the ABI's own contract ---------------------------------------------------- */

static void versions_and_names(void) {
  CHECK(strcmp(rtb_version(), RTB_VERSION_STRING) == 0);
  CHECK(rtb_version_number() == RTB_VERSION_NUMBER);
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", RTB_VERSION_MAJOR, RTB_VERSION_MINOR, RTB_VERSION_PATCH);
  CHECK(strcmp(RTB_VERSION_STRING, expected) == 0);
  CHECK(strcmp(rtb_status_name(RTB_OK), "ok") == 0);
  CHECK(strcmp(rtb_status_name(RTB_E_REENTRANT), "reentrant") == 0);
  CHECK(strcmp(rtb_status_name(12345), "unknown") == 0);
  CHECK(strcmp(rtb_end_reason_name(RTB_END_OPENAI_UNREACHABLE), "openai_unreachable") == 0);
  CHECK(strcmp(rtb_end_reason_name(RTB_END_HOST_ENDED), "host_ended") == 0);
  CHECK(strcmp(rtb_end_reason_name(-1), "unknown") == 0);
  CHECK(strcmp(rtb_warning_name(RTB_WARNING_FOREIGN_MARK), "foreign_mark") == 0);
  CHECK(strcmp(rtb_warning_name(RTB_WARNING_CONFIGURATION_IGNORED), "configuration_ignored") == 0);
  CHECK(strcmp(rtb_end_reason_name(RTB_END_MAX_DURATION), "max_duration") == 0);
  CHECK(strcmp(rtb_end_reason_name(RTB_END_MAX_DURATION + 1), "unknown") == 0);
  CHECK(strcmp(rtb_warning_name(99), "unknown") == 0);
  CHECK(rtb_end_reason_is_ai_failure(RTB_END_CALLER_HUNG_UP) == 0);
  CHECK(rtb_end_reason_is_ai_failure(RTB_END_OPENAI_UNREACHABLE) == 1);
  CHECK(rtb_end_reason_is_ai_failure(77) == 0);
}

static rtb_status check_config(const char* json) { return rtb_config_check(json, strlen(json)); }

static void configuration(void) {
  rtb_string defaults = {0};
  REQUIRE_OK(rtb_config_default_json(&defaults));
  check_string(defaults);
  CHECK(strstr(defaults.data, "\"model\":\"gpt-realtime\"") != NULL);
  REQUIRE_OK(rtb_config_check(defaults.data, defaults.size));
  CHECK(strcmp(rtb_last_error(), "") == 0);
  REQUIRE_OK(rtb_config_check(NULL, 0)); /* the defaults */

  CHECK(check_config("{\"openai\":{\"speed\":9}}") == RTB_E_INVALID_CONFIG);
  CHECK(strstr(rtb_last_error(), "speed") != NULL);
  CHECK(check_config("{\"opena\":{}}") == RTB_E_INVALID_CONFIG);
  CHECK(strstr(rtb_last_error(), "opena") != NULL);
  CHECK(check_config("not json") == RTB_E_INVALID_CONFIG);
  CHECK(rtb_last_error()[0] != '\0');
  CHECK(rtb_config_check(NULL, 3) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_config_default_json(NULL) == RTB_E_INVALID_ARGUMENT);

  /* rtb_call_create refuses what rtb_config_check refuses, and leaves *call NULL. */
  rtb_call_options o;
  rtb_call_options_init(&o);
  CHECK(o.struct_size == sizeof o && o.callbacks == NULL && o.config_json == NULL);
  o.config_json = "{\"limits\":{\"caller_audio_batch_ms\":30}}";
  o.config_json_length = strlen(o.config_json);
  rtb_call* call = (rtb_call*)&o; /* anything but NULL */
  CHECK(rtb_call_create(&o, 0, &call) == RTB_E_INVALID_CONFIG);
  CHECK(call == NULL);
  CHECK(strstr(rtb_last_error(), "caller audio batch") != NULL);
}

static void argument_errors(void) {
  rtb_call* call = NULL;
  CHECK(rtb_call_create(NULL, 0, &call) == RTB_E_INVALID_ARGUMENT);
  CHECK(strstr(rtb_last_error(), "options") != NULL);
  rtb_call_options o;
  rtb_call_options_init(&o);
  CHECK(rtb_call_create(&o, 0, NULL) == RTB_E_INVALID_ARGUMENT);
  o.struct_size = sizeof o - 8; /* a host compiled against another version's header */
  CHECK(rtb_call_create(&o, 0, &call) == RTB_E_VERSION);
  rtb_call_options_init(&o);
  rtb_callbacks incomplete = {0};
  o.callbacks = &incomplete;
  CHECK(rtb_call_create(&o, 0, &call) == RTB_E_INVALID_ARGUMENT);
  CHECK(strstr(rtb_last_error(), "send_text") != NULL);
  o.callbacks = NULL;
  o.config_json_length = 5; /* with a NULL config_json */
  CHECK(rtb_call_create(&o, 0, &call) == RTB_E_INVALID_ARGUMENT);

  /* A NULL call: errors from the functions that can fail, documented values from the getters. */
  CHECK(rtb_call_on_text(NULL, RTB_LEG_TWILIO, "{}", 2, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_call_on_timer(NULL, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_call_end(NULL, "", 0, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_call_get_counters(NULL, NULL, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_call_next_timeout(NULL) == RTB_NO_TIMEOUT);
  CHECK(rtb_call_next_action(NULL) == NULL);
  CHECK(rtb_call_finished(NULL) == 0);
  rtb_call_destroy(NULL);
  rtb_parser_destroy(NULL);
  rtb_call_options_init(NULL);

  host h = {0};
  host_start(&h, 0, NULL, 0, NULL, 0);
  CHECK(rtb_call_on_text(h.call, 2, "{}", 2, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(strstr(rtb_last_error(), "leg") != NULL);
  CHECK(rtb_call_on_text(h.call, RTB_LEG_OPENAI, NULL, 4, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_call_on_closed(h.call, -1, 1000, "", 0, 0) == RTB_E_INVALID_ARGUMENT);
  CHECK(rtb_call_send_user_text(h.call, NULL, 1, 1, 0) == RTB_E_INVALID_ARGUMENT);
  /* Times too far from the origin are refused, not wrapped. */
  CHECK(rtb_call_on_timer(h.call, INT64_MAX) == RTB_E_INVALID_ARGUMENT);
  CHECK(strstr(rtb_last_error(), "now_us") != NULL);
  CHECK(rtb_call_on_timer(h.call, INT64_MIN) == RTB_E_INVALID_ARGUMENT);
  /* A NULL string of length 0 is the empty string; success clears the message. */
  REQUIRE_OK(rtb_call_send_user_text(h.call, NULL, 0, 0, 10));
  CHECK(strcmp(rtb_last_error(), "") == 0);
  CHECK(h.log.count == 0); /* nothing went anywhere: OpenAI is not open yet */
  host_finish(&h);
}

static void reentrancy_and_destroy(void) {
  host h = {0};
  host_start(&h, 0, quiet_config, 0, NULL, 0);
  twilio_says(&h, 5, start_json);
  h.reenter = 1;
  openai_opens(&h, 100); /* session.update: its send_text callback tries an input */
  CHECK(h.reenter_status == RTB_E_REENTRANT);
  EXPECT(&h, "event stream_started CA1 MZ1 tenant=acme", "openai< {\"type\":\"session.update\"*");
  /* The call goes on. */
  openai_says(&h, 200, session_updated_json);
  EXPECT(&h, "event session_ready sess_1");
  /* Ending from the host: both legs closed, then the end; destroyed from the
     end's callback, the call is freed when rtb_call_end returns. */
  h.destroy_on_end = 1;
  REQUIRE_OK(rtb_call_end(h.call, "transferred", 11, at(&h, 300)));
  EXPECT(&h, "close twilio 1000 host_ended", "close openai 1000 host_ended", "event call_ended host_ended transferred");
  CHECK(h.destroyed == 1);
  CHECK(h.events_after_destroy == 0);
  host_finish(&h);
}

static void fragments(void) {
  host h = {0};
  host_start(&h, 1, quiet_config, 0, NULL, 1024);
  bring_up(&h);
  char* voice = mulaw(160, 0x55);
  char* m = media_json(voice);
  const size_t n = strlen(m);
  /* Three pieces make one message. */
  REQUIRE_OK(rtb_call_on_fragment(h.call, RTB_LEG_TWILIO, m, 10, 0, at(&h, 300)));
  REQUIRE_OK(rtb_call_on_fragment(h.call, RTB_LEG_TWILIO, m + 10, 100, 0, at(&h, 300)));
  drain(&h);
  EXPECT_NOTHING(&h);
  REQUIRE_OK(rtb_call_on_fragment(h.call, RTB_LEG_TWILIO, m + 110, n - 110, 1, at(&h, 300)));
  drain(&h);
  char want_append[512];
  snprintf(want_append, sizeof want_append, "openai< {\"type\":\"input_audio_buffer.append\",\"audio\":\"%s\"}", voice);
  const char* want[] = {want_append, NULL};
  expect_at(&h, want, __FILE__, __LINE__);
  /* A message that outgrows the leg's limit is reported once, with its size. */
  char piece[1000];
  memset(piece, 'x', sizeof piece);
  for (int i = 0; i < 3; ++i)
    REQUIRE_OK(rtb_call_on_fragment(h.call, RTB_LEG_TWILIO, piece, sizeof piece, i == 2, at(&h, 310)));
  drain(&h);
  EXPECT(&h,
         "event warning rejected_message twilio message dropped: message of 3000 bytes exceeds the 1024-byte limit*");
  /* Then the leg works as before. */
  twilio_says(&h, 320, m);
  expect_at(&h, want, __FILE__, __LINE__);
  free(voice);
  free(m);
  host_finish(&h);
}

static void time_and_traces(void) {
  host h = {0};
  host_start(&h, 0, NULL, 7000000, NULL, 0);
  twilio_says(&h, 0, connected_json);
  CHECK(rtb_call_next_timeout(h.call) == at(&h, 10000)); /* Twilio's start and OpenAI's connect deadlines */
  /* A time earlier than one already given counts as that later time. */
  twilio_says(&h, 500, connected_json);
  REQUIRE_OK(rtb_call_on_timer(h.call, at(&h, 100)));
  CHECK(rtb_call_finished(h.call) == 0);
  /* One trace line per input after the header; replayable (docs/trace-format.md). */
  CHECK(h.trace.count == 3); /* the early timer found nothing due: not an input */
  CHECK(strncmp(h.trace.items[1], "{\"t_us\":0,\"leg\":\"twilio\",\"text\":", 32) == 0);
  CHECK(strncmp(h.trace.items[2], "{\"t_us\":500000,", 15) == 0);
  /* Counters copy at most what the host's struct holds. */
  rtb_counters c;
  memset(&c, 0xAB, sizeof c);
  REQUIRE_OK(rtb_call_get_counters(h.call, &c, sizeof(uint64_t)));
  CHECK(c.twilio_media_frames == 0);
  CHECK(c.twilio_media_bytes == 0xABABABABABABABABull);
  host_finish(&h);
}

static void shared_parser(void) {
  rtb_parser* parser = NULL;
  CHECK(rtb_parser_create(NULL) == RTB_E_INVALID_ARGUMENT);
  REQUIRE_OK(rtb_parser_create(&parser));
  host a = {0}, b = {0};
  host_start(&a, 0, quiet_config, 0, parser, 0);
  host_start(&b, 1, quiet_config, 0, parser, 0);
  /* Two calls taking turns on one parser. */
  twilio_says(&a, 0, connected_json);
  twilio_says(&b, 0, connected_json);
  twilio_says(&a, 5, start_json);
  twilio_says(&b, 5, start_json);
  openai_opens(&a, 100);
  openai_opens(&b, 100);
  openai_says(&a, 200, session_updated_json);
  openai_says(&b, 200, session_updated_json);
  EXPECT(&a, "event stream_started CA1 MZ1 tenant=acme", "openai< {\"type\":\"session.update\"*",
         "event session_ready sess_1");
  EXPECT(&b, "event stream_started CA1 MZ1 tenant=acme", "openai< {\"type\":\"session.update\"*",
         "event session_ready sess_1");
  host_finish(&a);
  host_finish(&b);
  rtb_parser_destroy(parser);
}

/* ---- running ----------------------------------------------------------------- */

static void greeting_callbacks(void) { greeting(0); }
static void greeting_list(void) { greeting(1); }
static void barge_in_callbacks(void) { barge_in(0); }
static void barge_in_list(void) { barge_in(1); }
static void tool_call_callbacks(void) { tool_call(0); }
static void tool_call_list(void) { tool_call(1); }
static void openai_failure_callbacks(void) { openai_failure(0); }
static void openai_failure_list(void) { openai_failure(1); }

static const struct {
  const char* name;
  void (*run)(void);
} scenarios[] = {
    {"greeting/callbacks", greeting_callbacks},
    {"greeting/list", greeting_list},
    {"barge-in/callbacks", barge_in_callbacks},
    {"barge-in/list", barge_in_list},
    {"tool-call/callbacks", tool_call_callbacks},
    {"tool-call/list", tool_call_list},
    {"openai-failure/callbacks", openai_failure_callbacks},
    {"openai-failure/list", openai_failure_list},
    {"versions-and-names", versions_and_names},
    {"configuration", configuration},
    {"argument-errors", argument_errors},
    {"reentrancy-and-destroy", reentrancy_and_destroy},
    {"fragments", fragments},
    {"time-and-traces", time_and_traces},
    {"shared-parser", shared_parser},
};

int main(int argc, char** argv) {
  const size_t count = sizeof scenarios / sizeof scenarios[0];
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < count; ++i) printf("%s\n", scenarios[i].name);
    return 0;
  }
  int ran = 0;
  for (size_t i = 0; i < count; ++i) {
    int wanted = argc == 1;
    for (int a = 1; a < argc; ++a) wanted |= strcmp(argv[a], scenarios[i].name) == 0;
    if (!wanted) continue;
    const int before = failures;
    scenarios[i].run();
    printf("%s %s\n", failures == before ? "ok  " : "FAIL", scenarios[i].name);
    ++ran;
  }
  if (ran == 0 || ran < argc - 1) {
    fprintf(stderr, "unknown scenario (see --list)\n");
    return 2;
  }
  return failures ? 1 : 0;
}
