#include "websocket.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

int ws_buffer_append(ws_buffer* b, const void* data, size_t n) {
  if (b->size + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->size + n) cap *= 2;
    unsigned char* grown = realloc(b->data, cap);
    if (!grown) return -1;
    b->data = grown;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->size, data, n);
  b->size += n;
  return 0;
}

void ws_buffer_consume(ws_buffer* b, size_t n) {
  if (n >= b->size) {
    b->size = 0;
    return;
  }
  memmove(b->data, b->data + n, b->size - n);
  b->size -= n;
}

void ws_buffer_free(ws_buffer* b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void ws_accept_key(const char* key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char joined[128 + sizeof guid];
  size_t n = strlen(key);
  if (n > 128) n = 128;
  memcpy(joined, key, n);
  memcpy(joined + n, guid, sizeof guid - 1);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char*)joined, n + sizeof guid - 1, digest);
  EVP_EncodeBlock((unsigned char*)out, digest, SHA_DIGEST_LENGTH);
}

int ws_new_key(char out[25]) {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return -1;
  EVP_EncodeBlock((unsigned char*)out, nonce, sizeof nonce);
  return 0;
}

int ws_append_frame(ws_buffer* out, int opcode, const void* payload, size_t n, int mask) {
  unsigned char head[14];
  size_t h = 0;
  head[h++] = (unsigned char)(0x80 | (opcode & 0x0F));
  const unsigned char mask_bit = mask ? 0x80 : 0x00;
  if (n < 126) {
    head[h++] = (unsigned char)(mask_bit | n);
  } else if (n <= 0xFFFF) {
    head[h++] = (unsigned char)(mask_bit | 126);
    head[h++] = (unsigned char)(n >> 8);
    head[h++] = (unsigned char)n;
  } else {
    head[h++] = (unsigned char)(mask_bit | 127);
    for (int i = 7; i >= 0; --i) head[h++] = (unsigned char)((uint64_t)n >> (8 * i));
  }
  unsigned char key[4] = {0, 0, 0, 0};
  if (mask) {
    if (RAND_bytes(key, sizeof key) != 1) return -1;
    memcpy(head + h, key, sizeof key);
    h += sizeof key;
  }
  const size_t start = out->size;
  if (ws_buffer_append(out, head, h) != 0 || ws_buffer_append(out, payload, n) != 0) return -1;
  if (mask)
    for (size_t i = 0; i < n; ++i) out->data[start + h + i] ^= key[i & 3];
  return 0;
}

int ws_append_close(ws_buffer* out, unsigned code, const char* reason, size_t n, int mask) {
  unsigned char body[125];
  body[0] = (unsigned char)(code >> 8);
  body[1] = (unsigned char)code;
  if (n > sizeof body - 2) n = sizeof body - 2;
  memcpy(body + 2, reason, n);
  return ws_append_frame(out, WS_CLOSE, body, n + 2, mask);
}

long ws_parse_frame(unsigned char* in, size_t n, int expect_masked, size_t max_payload, ws_frame* frame) {
  if (n < 2) return 0;
  const int fin = (in[0] & 0x80) != 0;
  const int opcode = in[0] & 0x0F;
  const int masked = (in[1] & 0x80) != 0;
  uint64_t length = in[1] & 0x7F;
  size_t h = 2;
  if (masked != expect_masked || (in[0] & 0x70) != 0) return -1;
  if (length == 126) {
    if (n < 4) return 0;
    length = (uint64_t)in[2] << 8 | in[3];
    h = 4;
  } else if (length == 127) {
    if (n < 10) return 0;
    length = 0;
    for (int i = 0; i < 8; ++i) length = length << 8 | in[2 + i];
    h = 10;
  }
  if (opcode >= WS_CLOSE && (!fin || length > 125)) return -1;
  if (length > max_payload) return -1;
  const size_t key_at = h;
  if (masked) h += 4;
  if (n < h + length) return 0;
  frame->fin = fin;
  frame->opcode = opcode;
  frame->payload = in + h;
  frame->length = (size_t)length;
  if (masked)
    for (size_t i = 0; i < frame->length; ++i) frame->payload[i] ^= in[key_at + (i & 3)];
  return (long)(h + length);
}

int ws_header(const char* head, const char* name, char* out, size_t out_size) {
  const size_t name_len = strlen(name);
  const char* line = strstr(head, "\r\n");
  while (line && line[2] != '\r') {
    line += 2;
    size_t i = 0;
    while (i < name_len && line[i] && tolower((unsigned char)line[i]) == tolower((unsigned char)name[i])) ++i;
    if (i == name_len && line[i] == ':') {
      const char* v = line + i + 1;
      while (*v == ' ' || *v == '\t') ++v;
      const char* end = strstr(v, "\r\n");
      size_t len = end ? (size_t)(end - v) : strlen(v);
      while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) --len;
      if (out_size == 0) return 0;
      if (len >= out_size) len = out_size - 1;
      memcpy(out, v, len);
      out[len] = '\0';
      return 0;
    }
    line = strstr(line, "\r\n");
  }
  return -1;
}
