/* pop3_loop.c: the mail loop's tokens and probe message (see pop3_loop.h). */
#define _GNU_SOURCE /* explicit_bzero */
#include "pop3_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define KEY_LABEL "collectd-pop3 mail loop"
#define NONCE_BYTES 8                 /* 16 hex digits */
#define MAC_BYTES 16                  /* 32 hex digits */
#define SENT_DIGITS_MAX 19            /* INT64_MAX */
#define HEADER_LINE_MAX 998           /* RFC 5322, CRLF excluded */

typedef struct {
  const void *data;
  size_t len;
} part_t;

static int hmac_sha256(const void *key, size_t key_len, const part_t *parts,
                       size_t n, unsigned char out[32]) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
  int ok = ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1;
  for (size_t i = 0; ok && i < n; i++)
    ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len) == 1;
  size_t out_len = 0;
  ok = ok && EVP_MAC_final(ctx, out, &out_len, 32) == 1 && out_len == 32;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok ? 0 : -1;
}

static void hex(char *out, const unsigned char *in, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Never blocks: before the kernel's pool is ready a probe is skipped
 * rather than holding the caller. */
static int random_bytes(unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, GRND_NONBLOCK);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}

void pop3_loop_key(pop3_loop_key_t *k, const char *secret,
                   const char *monitor) {
  if (secret == NULL)
    secret = "";
  if (monitor == NULL)
    monitor = "";
  part_t parts[] = {
      {secret, strlen(secret)}, {"\n", 1}, {monitor, strlen(monitor)}};
  if (hmac_sha256(KEY_LABEL, strlen(KEY_LABEL), parts, 3, k->key) == 0)
    return;
  /* A key nobody can know: probes are only not recognised after a restart.
   * Without randomness either, the clocks at least keep it off the wire. */
  if (random_bytes(k->key, sizeof(k->key)) != 0) {
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    clock_gettime(CLOCK_MONOTONIC, &t[1]);
    memset(k->key, 0, sizeof(k->key));
    memcpy(k->key, t, sizeof(t) < sizeof(k->key) ? sizeof(t) : sizeof(k->key));
  }
}

/* The MAC's text, 32 hex digits and a NUL. */
static int token_mac(const pop3_loop_key_t *k, const char *monitor,
                     size_t monitor_len, const char *sent, size_t sent_len,
                     const char *nonce, char out[2 * MAC_BYTES + 1]) {
  unsigned char full[32];
  part_t parts[] = {{monitor, monitor_len}, {"\n", 1}, {sent, sent_len},
                    {"\n", 1},              {nonce, 2 * NONCE_BYTES}};
  int rc = hmac_sha256(k->key, sizeof(k->key), parts, 5, full);
  if (rc == 0)
    hex(out, full, MAC_BYTES);
  explicit_bzero(full, sizeof(full));
  return rc;
}

int pop3_loop_token(const pop3_loop_key_t *k, const char *monitor,
                    int64_t sent_ms, char out[POP3_LOOP_TOKEN_MAX]) {
  out[0] = '\0';
  if (sent_ms < 0 || monitor == NULL)
    return -1;
  unsigned char raw[NONCE_BYTES];
  if (random_bytes(raw, sizeof(raw)) != 0)
    return -1;
  char nonce[2 * NONCE_BYTES + 1], sent[SENT_DIGITS_MAX + 1];
  char mac[2 * MAC_BYTES + 1];
  hex(nonce, raw, sizeof(raw));
  int sent_len = snprintf(sent, sizeof(sent), "%" PRId64, sent_ms);
  if (token_mac(k, monitor, strlen(monitor), sent, (size_t)sent_len, nonce,
                mac) != 0)
    return -1;
  snprintf(out, POP3_LOOP_TOKEN_MAX, "%s.%s.%s", sent, nonce, mac);
  return 0;
}

/* ---- reading a token ----------------------------------------------------- */

typedef struct {
  const char *sent; /* the three fields, in the token's text */
  size_t sent_len;
  const char *nonce;
  const char *mac;
  int64_t sent_ms;
} token_parts_t;

static bool lower_hex(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* Exactly the form pop3_loop_token writes: one text per token, so nothing
 * but the MAC's check decides. */
static bool token_parse(const char *t, size_t len, token_parts_t *p) {
  size_t digits = 0;
  int64_t v = 0;
  while (digits < len && t[digits] >= '0' && t[digits] <= '9') {
    int d = t[digits] - '0';
    if (v > (INT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
    digits++;
  }
  if (digits == 0 || (digits > 1 && t[0] == '0'))
    return false;
  if (len != digits + 1 + 2 * NONCE_BYTES + 1 + 2 * MAC_BYTES)
    return false;
  const char *nonce = t + digits + 1, *mac = nonce + 2 * NONCE_BYTES + 1;
  if (t[digits] != '.' || mac[-1] != '.' ||
      !lower_hex(nonce, 2 * NONCE_BYTES) || !lower_hex(mac, 2 * MAC_BYTES))
    return false;
  *p = (token_parts_t){.sent = t,
                       .sent_len = digits,
                       .nonce = nonce,
                       .mac = mac,
                       .sent_ms = v};
  return true;
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool pop3_loop_verify(const pop3_loop_key_t *k, const char *monitor,
                      const char *value, size_t len, int64_t *sent_ms) {
  if (monitor == NULL || monitor[0] == '\0' || value == NULL)
    return false;
  const char *b = value, *e = value + len;
  while (b < e && is_blank(*b))
    b++;
  while (e > b && is_blank(e[-1]))
    e--;
  const char *t = e; /* the last word */
  while (t > b && !is_blank(t[-1]))
    t--;
  const char *m_end = t;
  while (m_end > b && is_blank(m_end[-1]))
    m_end--;
  size_t monitor_len = strlen(monitor);
  if (t == b || (size_t)(m_end - b) != monitor_len ||
      memcmp(b, monitor, monitor_len) != 0)
    return false;
  token_parts_t p;
  if (!token_parse(t, (size_t)(e - t), &p))
    return false;
  char mac[2 * MAC_BYTES + 1];
  if (token_mac(k, monitor, monitor_len, p.sent, p.sent_len, p.nonce, mac) !=
      0)
    return false;
  bool ok = CRYPTO_memcmp(mac, p.mac, 2 * MAC_BYTES) == 0;
  explicit_bzero(mac, sizeof(mac));
  if (ok && sent_ms != NULL)
    *sent_ms = p.sent_ms;
  return ok;
}

/* ---- the probe message --------------------------------------------------- */

typedef struct {
  char *buf;
  size_t size;
  size_t len;
  size_t line_start;
  bool failed;
} writer_t;

__attribute__((format(printf, 2, 3))) static void put(writer_t *w,
                                                      const char *format,
                                                      ...) {
  if (w->failed)
    return;
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(w->buf + w->len, w->size - w->len, format, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= w->size - w->len) {
    w->failed = true;
    return;
  }
  w->len += (size_t)n;
}

/* Ends a line with CRLF; a line over RFC 5322's limit fails the message. */
static void end_line(writer_t *w) {
  if (!w->failed && w->len - w->line_start > HEADER_LINE_MAX)
    w->failed = true;
  put(w, "\r\n");
  w->line_start = w->len;
}

bool pop3_loop_text_safe(const char *s) {
  if (s == NULL || s[0] == '\0')
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
    if (*p < 0x20 || *p == 0x7f)
      return false;
  return true;
}

static void put_date(writer_t *w, int64_t sent_ms) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                     "May", "Jun", "Jul", "Aug",
                                     "Sep", "Oct", "Nov", "Dec"};
  time_t secs = (time_t)(sent_ms / 1000);
  struct tm tm;
  if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 > 9999) {
    w->failed = true;
    return;
  }
  /* names by hand: strftime follows the locale */
  put(w, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
      tm.tm_sec);
  end_line(w);
}

int pop3_loop_message(char *buf, size_t size, const char *from,
                      const char *to, const char *monitor, const char *token,
                      int64_t sent_ms) {
  if (buf == NULL || size == 0)
    return -1;
  buf[0] = '\0';
  token_parts_t p;
  if (!pop3_loop_text_safe(from) || !pop3_loop_text_safe(to) || !pop3_loop_text_safe(monitor) ||
      monitor[0] == ' ' || monitor[strlen(monitor) - 1] == ' ' ||
      token == NULL || !token_parse(token, strlen(token), &p) || sent_ms < 0)
    return -1;
  writer_t w = {.buf = buf, .size = size};
  put(&w, "From: %s", from);
  end_line(&w);
  put(&w, "To: %s", to);
  end_line(&w);
  put(&w, "Subject: collectd pop3 mail loop probe (%s)", monitor);
  end_line(&w);
  put_date(&w, sent_ms);
  /* the token's time and nonce: unique, and the MAC stays in one place */
  put(&w, "Message-ID: <%.*s.%.*s@collectd-pop3.invalid>", (int)p.sent_len,
      p.sent, 2 * NONCE_BYTES, p.nonce);
  end_line(&w);
  put(&w, POP3_LOOP_HEADER ": %s %s", monitor, token);
  end_line(&w);
  put(&w, "MIME-Version: 1.0");
  end_line(&w);
  put(&w, "Content-Type: text/plain; charset=us-ascii");
  end_line(&w);
  put(&w, "Content-Transfer-Encoding: 7bit");
  end_line(&w);
  put(&w, "Auto-Submitted: auto-generated");
  end_line(&w);
  end_line(&w);
  put(&w, "This is a probe of the mail loop of collectd's pop3 plugin. It was\r\n"
          "submitted by SMTP to measure how long delivery to this mailbox\r\n"
          "takes. The plugin finds it by its " POP3_LOOP_HEADER " header\r\n"
          "and deletes it; nothing needs to be done with it.\r\n");
  if (w.failed || w.len > (size_t)INT_MAX) {
    buf[0] = '\0';
    return -1;
  }
  return (int)w.len;
}
