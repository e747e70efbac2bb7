/* pop3_sasl.c: base64, the SASL client messages, the bearer error status,
 * MD5 and APOP; sans I/O, no allocation (see pop3_sasl.h). */
#define _GNU_SOURCE /* memmem */
#include "pop3_sasl.h"

#include <stdio.h>
#include <string.h>

#include "pop3_error.h"

/* ---- base64 ------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t pop3_base64_length(size_t len) { return (len + 2) / 3 * 4; }

void pop3_base64_encode(const void *src, size_t len, char *dst) {
  const unsigned char *in = src;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    if (i + 1 < len)
      v |= (unsigned)in[i + 1] << 8;
    if (i + 2 < len)
      v |= in[i + 2];
    dst[o++] = b64_alphabet[(v >> 18) & 63];
    dst[o++] = b64_alphabet[(v >> 12) & 63];
    dst[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
    dst[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
  }
}

/* The value of a base64 digit, -1 for anything else ('=' included). */
static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

long pop3_base64_decode(const char *src, size_t len, unsigned char *dst,
                        size_t size) {
  while (len > 0 && src[len - 1] == '=')
    len--;
  if (len % 4 == 1)
    return -1;
  size_t o = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int d = b64_value(src[i]);
    if (d < 0)
      return -1;
    v = (v << 6) | (unsigned)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= size)
        return -1;
      dst[o++] = (unsigned char)(v >> bits);
      v &= (1u << bits) - 1;
    }
  }
  return (long)o;
}

/* ---- SASL client messages ------------------------------------------------ */

/* Where a message is built: counts every byte, stores them only when dst is
 * set (the second pass, once the length is known to fit). */
typedef struct {
  unsigned char *dst;
  size_t len;
} sink_t;

static void put(sink_t *k, const void *data, size_t n) {
  if (k->dst != NULL && n > 0)
    memcpy(k->dst + k->len, data, n);
  k->len += n;
}

static void put_text(sink_t *k, const char *text) {
  put(k, text, strlen(text));
}

static void build_plain(sink_t *k, const char *user, const char *password) {
  put(k, "", 1);
  put_text(k, user);
  put(k, "", 1);
  put_text(k, password);
}

static void build_xoauth2(sink_t *k, const char *user, const char *token) {
  put_text(k, "user=");
  put_text(k, user);
  put_text(k, "\001auth=Bearer ");
  put_text(k, token);
  put_text(k, "\001\001");
}

static void build_oauthbearer(sink_t *k, const char *user, const char *host,
                              int port, const char *token) {
  put_text(k, "n,a=");
  for (const char *p = user; *p; p++) {
    if (*p == ',')
      put_text(k, "=2C");
    else if (*p == '=')
      put_text(k, "=3D");
    else
      put(k, p, 1);
  }
  put_text(k, ",");
  if (host != NULL && host[0] != '\0') {
    put_text(k, "\001host=");
    put_text(k, host);
  }
  if (port > 0 && port <= 65535) {
    char text[16];
    snprintf(text, sizeof(text), "\001port=%d", port);
    put_text(k, text);
  }
  put_text(k, "\001auth=Bearer ");
  put_text(k, token);
  put_text(k, "\001\001");
}

/* Each message is built twice: once to measure it, then into dst when it
 * fits, so that dst never holds part of a message. */

size_t pop3_sasl_plain(const char *user, const char *password,
                       unsigned char *dst, size_t size) {
  sink_t k = {NULL, 0};
  build_plain(&k, user, password);
  if (dst != NULL && k.len <= size) {
    k = (sink_t){dst, 0};
    build_plain(&k, user, password);
  }
  return k.len;
}

size_t pop3_sasl_xoauth2(const char *user, const char *token,
                         unsigned char *dst, size_t size) {
  sink_t k = {NULL, 0};
  build_xoauth2(&k, user, token);
  if (dst != NULL && k.len <= size) {
    k = (sink_t){dst, 0};
    build_xoauth2(&k, user, token);
  }
  return k.len;
}

size_t pop3_sasl_oauthbearer(const char *user, const char *host, int port,
                             const char *token, unsigned char *dst,
                             size_t size) {
  sink_t k = {NULL, 0};
  build_oauthbearer(&k, user, host, port, token);
  if (dst != NULL && k.len <= size) {
    k = (sink_t){dst, 0};
    build_oauthbearer(&k, user, host, port, token);
  }
  return k.len;
}

const char *pop3_sasl_login_reply(unsigned step, const char *user,
                                  const char *password) {
  switch (step) {
  case 0:
    return user;
  case 1:
    return password;
  default:
    return NULL;
  }
}

void pop3_sasl_token_status(const char *challenge, size_t len, char *dst,
                            size_t size) {
  unsigned char json[POP3_SASL_CHALLENGE_MAX];
  long n = pop3_base64_decode(challenge, len, json, sizeof(json));
  if (n < 0) {
    snprintf(dst, size, "(not base64)");
    return;
  }
  const char *text = (const char *)json;
  size_t text_len = (size_t)n;
  const char *key = memmem(text, text_len, "\"status\"", 8);
  if (key != NULL) {
    const char *v = key + 8, *end = text + text_len;
    while (v < end && (*v == ' ' || *v == ':'))
      v++;
    size_t value_len = 0;
    if (v < end && *v == '"') {
      v++;
      while (v + value_len < end && v[value_len] != '"')
        value_len++;
    } else {
      while (v + value_len < end && v[value_len] != ',' &&
             v[value_len] != '}' && v[value_len] != ' ')
        value_len++;
    }
    text = v;
    text_len = value_len;
  }
  pop3_sanitize(dst, size, text, text_len);
}

/* ---- MD5 (RFC 1321) ------------------------------------------------------ */

/* floor(abs(sin(i + 1)) * 2^32) */
static const uint32_t md5_sines[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
    0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
    0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
    0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
    0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* The left rotations of each round's four steps. */
static const unsigned char md5_shifts[4][4] = {
    {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

static uint32_t rotate_left(uint32_t x, unsigned n) {
  return (x << n) | (x >> (32 - n));
}

static void md5_block(uint32_t state[4], const unsigned char block[64]) {
  uint32_t x[16];
  for (unsigned i = 0; i < 16; i++)
    x[i] = (uint32_t)block[4 * i] | (uint32_t)block[4 * i + 1] << 8 |
           (uint32_t)block[4 * i + 2] << 16 | (uint32_t)block[4 * i + 3] << 24;
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  for (unsigned i = 0; i < 64; i++) {
    unsigned round = i / 16;
    uint32_t f;
    unsigned k; /* the word of the block this step adds */
    switch (round) {
    case 0:
      f = (b & c) | (~b & d);
      k = i;
      break;
    case 1:
      f = (b & d) | (c & ~d);
      k = (5 * i + 1) % 16;
      break;
    case 2:
      f = b ^ c ^ d;
      k = (3 * i + 5) % 16;
      break;
    default:
      f = c ^ (b | ~d);
      k = (7 * i) % 16;
      break;
    }
    uint32_t rotated =
        rotate_left(a + f + x[k] + md5_sines[i], md5_shifts[round][i % 4]);
    a = d;
    d = c;
    c = b;
    b += rotated;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  explicit_bzero(x, sizeof(x));
}

void pop3_md5_init(pop3_md5_t *md5) {
  md5->state[0] = 0x67452301;
  md5->state[1] = 0xefcdab89;
  md5->state[2] = 0x98badcfe;
  md5->state[3] = 0x10325476;
  md5->length = 0;
}

void pop3_md5_update(pop3_md5_t *md5, const void *data, size_t len) {
  const unsigned char *p = data;
  size_t used = (size_t)(md5->length % 64);
  md5->length += len;
  while (len > 0) {
    size_t n = 64 - used < len ? 64 - used : len;
    memcpy(md5->block + used, p, n);
    used += n;
    p += n;
    len -= n;
    if (used == 64) {
      md5_block(md5->state, md5->block);
      used = 0;
    }
  }
}

void pop3_md5_final(pop3_md5_t *md5, unsigned char digest[POP3_MD5_SIZE]) {
  uint64_t bits = md5->length * 8;
  size_t used = (size_t)(md5->length % 64);
  /* a 1 bit, zeros up to 56 bytes into a block, the length in bits */
  unsigned char pad[64 + 8] = {0x80};
  size_t pad_len = (used < 56 ? 56 : 120) - used;
  for (unsigned i = 0; i < 8; i++)
    pad[pad_len + i] = (unsigned char)(bits >> (8 * i));
  pop3_md5_update(md5, pad, pad_len + 8);
  for (unsigned i = 0; i < 16; i++)
    digest[i] = (unsigned char)(md5->state[i / 4] >> (8 * (i % 4)));
  explicit_bzero(md5, sizeof(*md5));
}

/* ---- APOP ---------------------------------------------------------------- */

size_t pop3_apop_timestamp(const char *text, size_t len, size_t max,
                           const char **start) {
  const char *open = memchr(text, '<', len);
  if (open == NULL)
    return 0;
  size_t from = (size_t)(open - text);
  const char *close = memchr(open, '>', len - from);
  if (close == NULL)
    return 0;
  size_t stamp_len = (size_t)(close - open) + 1;
  if (stamp_len < 3 || stamp_len > max)
    return 0;
  for (size_t i = 1; i + 1 < stamp_len; i++) {
    unsigned char c = (unsigned char)open[i];
    if (c <= 0x20 || c >= 0x7f || c == '<')
      return 0;
  }
  *start = open;
  return stamp_len;
}

void pop3_apop_digest(const char *timestamp, const char *password,
                      char hex[2 * POP3_MD5_SIZE + 1]) {
  static const char digits[] = "0123456789abcdef";
  pop3_md5_t md5;
  unsigned char digest[POP3_MD5_SIZE];
  pop3_md5_init(&md5);
  pop3_md5_update(&md5, timestamp, strlen(timestamp));
  pop3_md5_update(&md5, password, strlen(password));
  pop3_md5_final(&md5, digest);
  for (unsigned i = 0; i < POP3_MD5_SIZE; i++) {
    hex[2 * i] = digits[digest[i] >> 4];
    hex[2 * i + 1] = digits[digest[i] & 15];
  }
  hex[2 * POP3_MD5_SIZE] = '\0';
  explicit_bzero(digest, sizeof(digest));
}
