/* Just enough of RFC 6455 for the example host: byte buffers, the handshake's
   keys, and encoding and decoding frames. Nothing here knows about
   realtime_bridge. */
#ifndef RTB_C_HOST_WEBSOCKET_H
#define RTB_C_HOST_WEBSOCKET_H

#include <stddef.h>

typedef struct ws_buffer {
  unsigned char* data;
  size_t size;
  size_t cap;
} ws_buffer;

/* 0 on success, -1 when memory ran out. */
int ws_buffer_append(ws_buffer* b, const void* data, size_t n);
void ws_buffer_consume(ws_buffer* b, size_t n);
void ws_buffer_free(ws_buffer* b);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)); `out` gets 28 characters and a NUL. */
void ws_accept_key(const char* key, char out[29]);
/* A fresh Sec-WebSocket-Key: base64 of 16 random bytes; 24 characters and a NUL. 0, or -1 without randomness. */
int ws_new_key(char out[25]);

enum { WS_CONTINUATION = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* Appends one final frame. A client masks what it sends (`mask` non-zero),
   with a fresh random key per frame. 0, or -1. */
int ws_append_frame(ws_buffer* out, int opcode, const void* payload, size_t n, int mask);
/* A close frame with a code and a reason (cut to fit the 125-byte limit). */
int ws_append_close(ws_buffer* out, unsigned code, const char* reason, size_t n, int mask);

typedef struct ws_frame {
  int fin;
  int opcode;
  unsigned char* payload; /* into the input, unmasked in place */
  size_t length;
} ws_frame;

/* Decodes the frame at the start of `in`: the number of bytes it takes, 0 if
   it is not complete yet, -1 if it breaks the protocol (a server's frames
   masked or a client's not, a payload over `max_payload`, a fragmented or
   oversized control frame). */
long ws_parse_frame(unsigned char* in, size_t n, int expect_masked, size_t max_payload, ws_frame* frame);

/* The value of header `name` (any case) in an HTTP head ending in CRLFCRLF,
   copied into `out` (cut to fit); 0 when found, -1 when not. */
int ws_header(const char* head, const char* name, char* out, size_t out_size);

#endif
