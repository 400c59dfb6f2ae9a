/*
 * c-host: a realtime_bridge host in plain C (C99 and POSIX), through the C ABI
 * (include/realtime_bridge/c/realtime_bridge.h) alone.
 *
 * It accepts Twilio media streams on a port (ws://HOST:PORT/media-stream),
 * opens a WebSocket to an OpenAI Realtime endpoint for each, and runs every
 * call with rtb_call_*, all in one poll() loop on one thread: sockets,
 * WebSocket frames (websocket.c) and the calls' deadlines. It answers tool
 * calls from inside the event callback with a fixed result.
 *
 *   c-host --openai-url ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime --api-key KEY
 *          [--port N] [--bind ADDR] [--config FILE.json] [--calls N] [--tool-result JSON]
 *
 * It prints "listening on ws://ADDR:PORT/media-stream" once it accepts calls,
 * then a line per event, and exits after --calls calls (0, the default: on
 * SIGINT or SIGTERM, after ending the calls in progress).
 *
 * An example, not a server: it speaks plain ws:// only (TLS to
 * api.openai.com, and for Twilio, is a real host's own stack), resolves the
 * OpenAI host with a blocking getaddrinfo(), checks no Twilio signature (see
 * docs/server.md), and serves at most 64 calls at once. tests/c_abi runs it
 * against the fake OpenAI and fake Twilio callers.
 */
#define _POSIX_C_SOURCE 200809L

#include <realtime_bridge/c/realtime_bridge.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "websocket.h"

#define MAX_CALLS 64
#define MAX_HEAD 8192
#define MAX_FRAME (16u << 20)
#define CLOSE_TIMEOUT_US 2000000
#define STREAM_PATH "/media-stream"

enum { CONN_NONE, CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING };

typedef struct conn {
  int fd; /* -1: none (not yet, or closed) */
  int state;
  int leg;       /* RTB_LEG_TWILIO (we accepted it) or RTB_LEG_OPENAI (we opened it) */
  int is_client; /* our frames are masked, the peer's are not */
  ws_buffer in;
  ws_buffer out;
  int close_sent;
  int close_received;
  int64_t close_deadline;
  unsigned close_code; /* from the peer's close frame, 0 if none */
  char close_reason[128];
  char key[25]; /* the Sec-WebSocket-Key we sent (client) */
  int reported; /* rtb_call_on_closed() done, or not needed */
} conn;

typedef struct call {
  int used;
  int id;
  rtb_call* rtb;
  conn twilio;
  conn openai;
} call;

static struct {
  char openai_host[256];
  char openai_port[8];
  char openai_path[1024];
  char openai_host_header[300];
  const char* api_key;
  char* config_json;
  size_t config_length;
  const char* tool_result;
  int calls_wanted;
  int calls_done;
  int next_id;
} g;

static call calls[MAX_CALLS];
static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

static conn* leg_conn(call* c, int32_t leg) { return leg == RTB_LEG_TWILIO ? &c->twilio : &c->openai; }

static void conn_init(conn* k, int leg) {
  memset(k, 0, sizeof *k);
  k->fd = -1;
  k->leg = leg;
  k->is_client = leg == RTB_LEG_OPENAI;
}

static void conn_free(conn* k) {
  if (k->fd >= 0) close(k->fd);
  ws_buffer_free(&k->in);
  ws_buffer_free(&k->out);
  k->fd = -1;
  k->state = CONN_NONE;
}

/* The socket is gone: close it and, if the call still runs, tell it. */
static void conn_gone(call* c, conn* k, unsigned code, const char* reason) {
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  k->state = CONN_NONE;
  if (k->reported || !c->rtb) return;
  k->reported = 1;
  if (rtb_call_finished(c->rtb)) return; /* it asked for the close itself */
  if (rtb_call_on_closed(c->rtb, k->leg, (uint16_t)code, reason, strlen(reason), now_us()) != RTB_OK)
    fprintf(stderr, "c-host: call %d: %s\n", c->id, rtb_last_error());
}

/* ---- the call's callbacks: they only queue -------------------------------- */

static void send_text(void* user, int32_t leg, const char* text, size_t length) {
  conn* k = leg_conn(user, leg);
  if (k->state != CONN_OPEN) return; /* closing, or never opened */
  if (ws_append_frame(&k->out, WS_TEXT, text, length, k->is_client) != 0) fprintf(stderr, "c-host: out of memory\n");
}

static void close_leg(void* user, int32_t leg, uint16_t code, const char* reason, size_t length) {
  call* c = user;
  conn* k = leg_conn(c, leg);
  k->reported = 1; /* the call knows */
  if (k->state == CONN_OPEN) {
    ws_append_close(&k->out, code, reason, length, k->is_client);
    k->close_sent = 1;
    k->state = CONN_CLOSING;
    k->close_deadline = now_us() + CLOSE_TIMEOUT_US;
  } else if (k->state == CONN_CONNECTING || k->state == CONN_HANDSHAKE) {
    close(k->fd); /* OpenAI had not answered yet */
    k->fd = -1;
    k->state = CONN_NONE;
  }
}

static void on_event(void* user, rtb_call* rtb, const rtb_event* e) {
  call* c = user;
  switch (e->type) {
    case RTB_EVENT_STREAM_STARTED:
      printf("call %d: stream started: call %s, stream %s, %zu parameter(s)\n", c->id, e->call_sid.data,
             e->stream_sid.data, e->parameter_count);
      for (size_t i = 0; i < e->parameter_count; ++i)
        printf("call %d:   %s = %s\n", c->id, e->parameters[i].name.data, e->parameters[i].value.data);
      break;
    case RTB_EVENT_SESSION_READY: printf("call %d: session ready: %s\n", c->id, e->session_id.data); break;
    case RTB_EVENT_CALLER_TRANSCRIPT: printf("call %d: caller: %s\n", c->id, e->text.data); break;
    case RTB_EVENT_AI_TRANSCRIPT: printf("call %d: ai: %s\n", c->id, e->text.data); break;
    case RTB_EVENT_AI_INTERRUPTED:
      printf("call %d: barge-in: heard %lld of %lld ms of %s\n", c->id, (long long)e->heard_ms, (long long)e->sent_ms,
             e->item_id.data);
      break;
    case RTB_EVENT_DTMF: printf("call %d: dtmf %s\n", c->id, e->text.data); break;
    case RTB_EVENT_TOOL_CALL:
      printf("call %d: tool call %s %s(%s)\n", c->id, e->call_id.data, e->name.data, e->arguments.data);
      /* Answered from inside the callback: it runs once this input is done. */
      if (rtb_call_submit_tool_result(rtb, e->call_id.data, e->call_id.size, g.tool_result, strlen(g.tool_result),
                                      now_us()) != RTB_OK)
        fprintf(stderr, "c-host: call %d: %s\n", c->id, rtb_last_error());
      break;
    case RTB_EVENT_WARNING: printf("call %d: warning %s: %s\n", c->id, rtb_warning_name(e->code), e->text.data); break;
    case RTB_EVENT_CALL_ENDED:
      printf("call %d ended: %s (%s); %llu caller frames relayed, %llu AI messages played, %llu barge-ins\n", c->id,
             rtb_end_reason_name(e->code), e->text.data, (unsigned long long)e->counters->caller_frames_forwarded,
             (unsigned long long)e->counters->playout_media_sent, (unsigned long long)e->counters->playout_barge_ins);
      break;
    default: break;
  }
}

/* ---- opening the OpenAI leg --------------------------------------------------- */

static int parse_openai_url(const char* url) {
  if (strncmp(url, "ws://", 5) != 0) {
    fprintf(stderr, "c-host: --openai-url must be ws://HOST[:PORT]/PATH (this example speaks no TLS)\n");
    return -1;
  }
  const char* host = url + 5;
  const char* path = strchr(host, '/');
  if (!path) path = host + strlen(host);
  const char* colon = memchr(host, ':', (size_t)(path - host));
  const char* host_end = colon ? colon : path;
  if (host_end == host || (size_t)(host_end - host) >= sizeof g.openai_host || strlen(path) >= sizeof g.openai_path)
    return -1;
  memcpy(g.openai_host, host, (size_t)(host_end - host));
  g.openai_host[host_end - host] = '\0';
  if (colon) {
    if ((size_t)(path - colon - 1) >= sizeof g.openai_port || path == colon + 1) return -1;
    memcpy(g.openai_port, colon + 1, (size_t)(path - colon - 1));
    g.openai_port[path - colon - 1] = '\0';
  } else {
    strcpy(g.openai_port, "80");
  }
  snprintf(g.openai_path, sizeof g.openai_path, "%s", *path ? path : "/");
  snprintf(g.openai_host_header, sizeof g.openai_host_header, "%.*s", (int)(path - host), host);
  return 0;
}

static void connect_openai(call* c) {
  struct addrinfo hints, *found = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  const int err = getaddrinfo(g.openai_host, g.openai_port, &hints, &found);
  if (err != 0) {
    conn_gone(c, &c->openai, 0, gai_strerror(err));
    return;
  }
  const int fd = socket(found->ai_family, SOCK_STREAM, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    conn_gone(c, &c->openai, 0, strerror(errno));
    return;
  }
  set_nonblocking(fd);
  c->openai.fd = fd;
  c->openai.state = CONN_CONNECTING;
  if (connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
    const int e = errno;
    freeaddrinfo(found);
    conn_gone(c, &c->openai, 0, strerror(e));
    return;
  }
  freeaddrinfo(found);
}

static void send_upgrade(call* c) {
  conn* k = &c->openai;
  char head[2048];
  if (ws_new_key(k->key) != 0) {
    conn_gone(c, k, 0, "no randomness for the WebSocket key");
    return;
  }
  const int n = snprintf(head, sizeof head,
                         "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
                         g.openai_path, g.openai_host_header, k->key, g.api_key);
  if (n < 0 || (size_t)n >= sizeof head) {
    conn_gone(c, k, 0, "the upgrade request is too long");
    return;
  }
  ws_buffer_append(&k->out, head, (size_t)n);
  k->state = CONN_HANDSHAKE;
}

/* ---- reading ---------------------------------------------------------------------- */

/* The end of an HTTP head in `b` (bytes up to and including CRLFCRLF), or 0. */
static size_t head_length(const ws_buffer* b) {
  for (size_t i = 3; i < b->size; ++i)
    if (b->data[i - 3] == '\r' && b->data[i - 2] == '\n' && b->data[i - 1] == '\r' && b->data[i] == '\n') return i + 1;
  return 0;
}

static void start_call(call* c) {
  rtb_callbacks callbacks = {0};
  callbacks.user = c;
  callbacks.send_text = send_text;
  callbacks.close_leg = close_leg;
  callbacks.on_event = on_event;
  rtb_call_options options;
  rtb_call_options_init(&options);
  options.config_json = g.config_json;
  options.config_json_length = g.config_length;
  options.callbacks = &callbacks;
  if (rtb_call_create(&options, now_us(), &c->rtb) != RTB_OK) {
    fprintf(stderr, "c-host: cannot create a call: %s\n", rtb_last_error());
    ws_append_close(&c->twilio.out, RTB_CLOSE_INTERNAL_ERROR, "configuration error", 19, 0);
    c->twilio.close_sent = 1;
    c->twilio.state = CONN_CLOSING;
    c->twilio.close_deadline = now_us() + CLOSE_TIMEOUT_US;
    return;
  }
  c->id = ++g.next_id;
  printf("call %d: media stream connected\n", c->id);
  /* Right away, before Twilio's start: it saves first-turn latency. */
  connect_openai(c);
}

/* Twilio's upgrade request (we are the server). */
static void twilio_handshake(call* c) {
  conn* k = &c->twilio;
  const size_t n = head_length(&k->in);
  if (n == 0) {
    if (k->in.size > MAX_HEAD) conn_gone(c, k, 0, "request too large");
    return;
  }
  char head[MAX_HEAD + 1];
  const size_t copy = n < MAX_HEAD ? n : MAX_HEAD;
  memcpy(head, k->in.data, copy);
  head[copy] = '\0';
  ws_buffer_consume(&k->in, n);
  char key[128];
  const size_t path_length = strlen(STREAM_PATH);
  const int path_ok = strncmp(head, "GET " STREAM_PATH, 4 + path_length) == 0 &&
                      (head[4 + path_length] == ' ' || head[4 + path_length] == '?');
  if (!path_ok || ws_header(head, "Sec-WebSocket-Key", key, sizeof key) != 0) {
    static const char not_found[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ws_buffer_append(&k->out, not_found, sizeof not_found - 1);
    k->state = CONN_CLOSING; /* closed once written */
    k->close_sent = k->close_received = 1;
    k->reported = 1;
    return;
  }
  char accept_key[29];
  ws_accept_key(key, accept_key);
  char reply[256];
  const int r = snprintf(reply, sizeof reply,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n",
                         accept_key);
  ws_buffer_append(&k->out, reply, (size_t)r);
  k->state = CONN_OPEN;
  start_call(c);
}

/* OpenAI's answer to our upgrade (we are the client). */
static void openai_handshake(call* c) {
  conn* k = &c->openai;
  const size_t n = head_length(&k->in);
  if (n == 0) {
    if (k->in.size > MAX_HEAD) conn_gone(c, k, 0, "upgrade response too large");
    return;
  }
  char head[MAX_HEAD + 1];
  const size_t copy = n < MAX_HEAD ? n : MAX_HEAD;
  memcpy(head, k->in.data, copy);
  head[copy] = '\0';
  ws_buffer_consume(&k->in, n);
  char expected[29], got[64];
  ws_accept_key(k->key, expected);
  if (strncmp(head, "HTTP/1.1 101", 12) != 0 || ws_header(head, "Sec-WebSocket-Accept", got, sizeof got) != 0 ||
      strcmp(got, expected) != 0) {
    char reason[128];
    const char* eol = strstr(head, "\r\n");
    snprintf(reason, sizeof reason, "upgrade refused: %.*s", eol ? (int)(eol - head) : 40, head);
    conn_gone(c, k, 0, reason);
    return;
  }
  k->state = CONN_OPEN;
  printf("call %d: OpenAI socket open\n", c->id);
  if (rtb_call_on_openai_open(c->rtb, now_us()) != RTB_OK)
    fprintf(stderr, "c-host: call %d: %s\n", c->id, rtb_last_error());
}

static void read_frames(call* c, conn* k) {
  while (k->fd >= 0 && k->in.size > 0) {
    ws_frame f;
    const long used = ws_parse_frame(k->in.data, k->in.size, !k->is_client, MAX_FRAME, &f);
    if (used == 0) return;
    if (used < 0) {
      conn_gone(c, k, 1002, "WebSocket protocol error");
      return;
    }
    switch (f.opcode) {
      case WS_TEXT:
      case WS_CONTINUATION:
        /* Pieces of a message go in as they come: the call gathers them. */
        if (c->rtb && !k->close_received &&
            rtb_call_on_fragment(c->rtb, k->leg, (const char*)f.payload, f.length, f.fin, now_us()) != RTB_OK)
          fprintf(stderr, "c-host: call %d: %s\n", c->id, rtb_last_error());
        break;
      case WS_PING:
        if (!k->close_sent) ws_append_frame(&k->out, WS_PONG, f.payload, f.length, k->is_client);
        break;
      case WS_CLOSE:
        k->close_received = 1;
        k->close_code = f.length >= 2 ? (unsigned)f.payload[0] << 8 | f.payload[1] : 1005;
        snprintf(k->close_reason, sizeof k->close_reason, "%.*s", f.length > 2 ? (int)(f.length - 2) : 0,
                 (const char*)f.payload + 2);
        if (!k->close_sent) {
          ws_append_close(&k->out, k->close_code == 1005 ? 1000 : k->close_code, "", 0, k->is_client);
          k->close_sent = 1;
          k->state = CONN_CLOSING;
          k->close_deadline = now_us() + CLOSE_TIMEOUT_US;
        }
        break;
      default: break; /* binary and pong frames: nothing to do */
    }
    ws_buffer_consume(&k->in, (size_t)used);
  }
}

static void on_writable(call* c, conn* k);

static void on_readable(call* c, conn* k) {
  if (k->state == CONN_CONNECTING) { /* the connect failed: on_writable reads why */
    on_writable(c, k);
    return;
  }
  unsigned char chunk[65536];
  int end_of_stream = 0;
  for (;;) {
    const ssize_t n = recv(k->fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      ws_buffer_append(&k->in, chunk, (size_t)n);
      if ((size_t)n < sizeof chunk) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    end_of_stream = 1; /* or an error: what came before it is still handled */
    break;
  }
  if (k->state == CONN_HANDSHAKE) {
    if (k->leg == RTB_LEG_TWILIO)
      twilio_handshake(c);
    else
      openai_handshake(c);
  }
  if (k->fd >= 0 && (k->state == CONN_OPEN || k->state == CONN_CLOSING)) read_frames(c, k);
  /* What the peer said in its close frame, if anything. */
  if (end_of_stream && k->fd >= 0)
    conn_gone(c, k, k->close_received ? k->close_code : 0, k->close_received ? k->close_reason : "connection lost");
}

/* ---- writing ---------------------------------------------------------------------- */

static void on_writable(call* c, conn* k) {
  if (k->state == CONN_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      conn_gone(c, k, 0, strerror(err));
      return;
    }
    send_upgrade(c);
  }
  while (k->fd >= 0 && k->out.size > 0) {
    const ssize_t n = send(k->fd, k->out.data, k->out.size, MSG_NOSIGNAL);
    if (n > 0) {
      ws_buffer_consume(&k->out, (size_t)n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else {
      conn_gone(c, k, 0, "write failed");
      return;
    }
  }
  /* Both close frames exchanged and ours written: the connection is done. */
  if (k->fd >= 0 && k->state == CONN_CLOSING && k->close_sent && k->close_received && k->out.size == 0)
    conn_gone(c, k, k->close_code, k->close_reason);
}

/* ---- the loop ------------------------------------------------------------------------ */

static int listen_on(const char* bind_address, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, bind_address, &a.sin_addr) != 1 || bind(fd, (struct sockaddr*)&a, sizeof a) != 0 ||
      listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  set_nonblocking(fd);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &len);
  printf("listening on ws://%s:%d%s\n", bind_address, ntohs(a.sin_port), STREAM_PATH);
  return fd;
}

static void accept_calls(int listener) {
  for (;;) {
    const int fd = accept(listener, NULL, NULL);
    if (fd < 0) return;
    call* c = NULL;
    for (int i = 0; i < MAX_CALLS && !c; ++i)
      if (!calls[i].used) c = &calls[i];
    if (!c) {
      close(fd); /* full */
      continue;
    }
    memset(c, 0, sizeof *c);
    c->used = 1;
    conn_init(&c->twilio, RTB_LEG_TWILIO);
    conn_init(&c->openai, RTB_LEG_OPENAI);
    set_nonblocking(fd);
    c->twilio.fd = fd;
    c->twilio.state = CONN_HANDSHAKE;
  }
}

/* A call whose sockets are both gone is over: free it. */
static void reap(call* c) {
  if (c->twilio.fd >= 0 || c->openai.fd >= 0) return;
  if (c->rtb && !rtb_call_finished(c->rtb)) return; /* it will end (its own deadlines run) */
  if (c->rtb) {
    rtb_call_destroy(c->rtb);
    ++g.calls_done;
  }
  conn_free(&c->twilio);
  conn_free(&c->openai);
  c->used = 0;
}

static int run(int listener) {
  struct pollfd fds[1 + 2 * MAX_CALLS];
  conn* owners[1 + 2 * MAX_CALLS];
  call* owner_calls[1 + 2 * MAX_CALLS];
  int ending = 0;
  for (;;) {
    if (g.calls_wanted > 0 && g.calls_done >= g.calls_wanted) return 0;
    int active = 0;
    for (int i = 0; i < MAX_CALLS; ++i) active += calls[i].used;
    if (stop_requested && !ending) {
      ending = 1; /* end the calls in progress, then leave */
      for (int i = 0; i < MAX_CALLS; ++i)
        if (calls[i].used && calls[i].rtb) rtb_call_end(calls[i].rtb, "host shutting down", 18, now_us());
    }
    if (ending && active == 0) return 0;

    nfds_t n = 0;
    int64_t deadline = INT64_MAX;
    if (!ending) {
      fds[n].fd = listener;
      fds[n].events = POLLIN;
      owners[n] = NULL;
      owner_calls[n++] = NULL;
    }
    for (int i = 0; i < MAX_CALLS; ++i) {
      call* c = &calls[i];
      if (!c->used) continue;
      conn* both[2] = {&c->twilio, &c->openai};
      for (int j = 0; j < 2; ++j) {
        conn* k = both[j];
        if (k->fd < 0) continue;
        fds[n].fd = k->fd;
        fds[n].events = (short)(POLLIN | (k->out.size > 0 || k->state == CONN_CONNECTING ? POLLOUT : 0));
        owners[n] = k;
        owner_calls[n++] = c;
        if (k->state == CONN_CLOSING && k->close_deadline < deadline) deadline = k->close_deadline;
      }
      if (c->rtb) {
        const int64_t t = rtb_call_next_timeout(c->rtb);
        if (t < deadline) deadline = t;
      }
    }
    int timeout_ms = 1000;
    if (deadline != INT64_MAX) {
      const int64_t wait = (deadline - now_us() + 999) / 1000;
      timeout_ms = wait < 0 ? 0 : wait > 1000 ? 1000 : (int)wait;
    }
    if (poll(fds, n, timeout_ms) < 0 && errno != EINTR) {
      perror("c-host: poll");
      return 1;
    }

    for (nfds_t i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (!owners[i]) {
        accept_calls(listener);
        continue;
      }
      call* c = owner_calls[i];
      conn* k = owners[i];
      if (k->fd != fds[i].fd) continue; /* closed meanwhile */
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_readable(c, k);
      if (k->fd >= 0 && (fds[i].revents & POLLOUT)) on_writable(c, k);
    }

    const int64_t now = now_us();
    for (int i = 0; i < MAX_CALLS; ++i) {
      call* c = &calls[i];
      if (!c->used) continue;
      if (c->rtb && rtb_call_next_timeout(c->rtb) <= now && rtb_call_on_timer(c->rtb, now) != RTB_OK)
        fprintf(stderr, "c-host: call %d: %s\n", c->id, rtb_last_error());
      conn* both[2] = {&c->twilio, &c->openai};
      for (int j = 0; j < 2; ++j) {
        conn* k = both[j];
        if (k->fd < 0) continue;
        if (k->state == CONN_CLOSING && now >= k->close_deadline) {
          conn_gone(c, k, k->close_code, "close timed out");
          continue;
        }
        /* Write what the call queued at once; poll() reports the rest. */
        if (k->out.size > 0 && k->state != CONN_CONNECTING) on_writable(c, k);
      }
      reap(c);
    }
  }
}

static char* read_file(const char* path, size_t* length) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char* data = malloc(cap);
  while (data) {
    n += fread(data + n, 1, cap - n, f);
    if (n < cap) break;
    char* grown = realloc(data, cap *= 2);
    if (!grown) {
      free(data);
      data = NULL;
    } else {
      data = grown;
    }
  }
  fclose(f);
  *length = n;
  return data;
}

static void usage(FILE* out) {
  fprintf(out,
          "usage: c-host --openai-url ws://HOST[:PORT]/PATH --api-key KEY [--port N] [--bind ADDR]\n"
          "              [--config FILE.json] [--calls N] [--tool-result JSON]\n"
          "  --api-key       sent as \"Authorization: Bearer KEY\" (default: $OPENAI_API_KEY)\n"
          "  --config        the calls' configuration (JSON, as rtb_config_default_json prints it)\n"
          "  --calls         exit after this many calls (default 0: run until SIGINT or SIGTERM)\n"
          "  --tool-result   every tool call's answer (default {\"status\":\"ok\"})\n");
}

int main(int argc, char** argv) {
  const char* bind_address = "127.0.0.1";
  const char* openai_url = NULL;
  const char* config_file = NULL;
  int port = 0;
  g.api_key = getenv("OPENAI_API_KEY");
  g.tool_result = "{\"status\":\"ok\"}";
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (!v) {
      usage(stderr);
      return 2;
    }
    ++i;
    if (strcmp(a, "--port") == 0)
      port = atoi(v);
    else if (strcmp(a, "--bind") == 0)
      bind_address = v;
    else if (strcmp(a, "--openai-url") == 0)
      openai_url = v;
    else if (strcmp(a, "--api-key") == 0)
      g.api_key = v;
    else if (strcmp(a, "--config") == 0)
      config_file = v;
    else if (strcmp(a, "--calls") == 0)
      g.calls_wanted = atoi(v);
    else if (strcmp(a, "--tool-result") == 0)
      g.tool_result = v;
    else {
      usage(stderr);
      return 2;
    }
  }
  if (!openai_url || !g.api_key || !*g.api_key || parse_openai_url(openai_url) != 0) {
    usage(stderr);
    return 2;
  }
  if (config_file) {
    g.config_json = read_file(config_file, &g.config_length);
    if (!g.config_json) {
      fprintf(stderr, "c-host: cannot read %s\n", config_file);
      return 2;
    }
    if (rtb_config_check(g.config_json, g.config_length) != RTB_OK) {
      fprintf(stderr, "c-host: %s: %s\n", config_file, rtb_last_error());
      return 2;
    }
  }
  if (rtb_version_number() / 100 != RTB_VERSION_NUMBER / 100) {
    fprintf(stderr, "c-host: built for realtime_bridge %s, running with %s\n", RTB_VERSION_STRING, rtb_version());
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  const int listener = listen_on(bind_address, port);
  if (listener < 0) {
    fprintf(stderr, "c-host: cannot listen on %s:%d: %s\n", bind_address, port, strerror(errno));
    return 1;
  }
  const int status = run(listener);
  close(listener);
  for (int i = 0; i < MAX_CALLS; ++i) {
    if (!calls[i].used) continue;
    rtb_call_destroy(calls[i].rtb);
    conn_free(&calls[i].twilio);
    conn_free(&calls[i].openai);
  }
  free(g.config_json);
  printf("c-host: %d call(s) served\n", g.calls_done);
  return status;
}
