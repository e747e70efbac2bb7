/* pop3_session.c: the POP3 client protocol core (RFC 1939, 2449, 2595, 3206;
 * SASL: RFC 5034, 4616, 7628 and XOAUTH2).
 *
 * Each state names the answer the session waits for; entering a state queues
 * the command that asks for it. A pipelined burst queues several commands at
 * once: the answers expected after the current one wait in s->queued, and
 * proceed() moves on to the next answer without sending anything when its
 * command already went out. enter() and proceed() are the only places the
 * state changes. A response line is split off the input, checked, then handed
 * to the handler of the current state. */
#define _GNU_SOURCE /* memmem */
#include "pop3_session.h"

#include <stddef.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* A piece of a response line; not NUL-terminated. */
typedef struct {
  const char *data;
  size_t len;
} text_t;

typedef enum { STATUS_OK, STATUS_ERR, STATUS_INVALID } status_t;

typedef enum {
  NUMBER_OK,
  NUMBER_MISSING,
  NUMBER_NEGATIVE,
  NUMBER_OVERFLOW,
  NUMBER_MALFORMED,
} number_status_t;

/* The biggest SASL message before base64: OAUTHBEARER with an escaped user
 * name (x3), host, port and the longest token. */
#define SASL_RAW_MAX                                                           \
  (4 + 3 * POP3_SASL_USER_MAX + 1 + 6 + 255 + 6 + 5 + 14 + POP3_TOKEN_MAX + 2)

static void enter(pop3_session_t *s, pop3_state_t next);

/* ---- mechanism names --------------------------------------------------- */

static const char *const auth_names[] = {
    [POP3_AUTH_AUTO] = "auto",   [POP3_AUTH_USER] = "user",
    [POP3_AUTH_APOP] = "apop",   [POP3_AUTH_PLAIN] = "plain",
    [POP3_AUTH_LOGIN] = "login", [POP3_AUTH_XOAUTH2] = "xoauth2",
    [POP3_AUTH_OAUTHBEARER] = "oauthbearer",
};

#define AUTH_COUNT (sizeof(auth_names) / sizeof(auth_names[0]))

const char *pop3_auth_name(pop3_auth_t auth) {
  if ((size_t)auth < AUTH_COUNT)
    return auth_names[auth];
  return "unknown";
}

int pop3_auth_parse(const char *name, pop3_auth_t *out) {
  if (name == NULL)
    return -1;
  for (size_t i = 0; i < AUTH_COUNT; i++) {
    if (strcasecmp(name, auth_names[i]) == 0) {
      *out = (pop3_auth_t)i;
      return 0;
    }
  }
  return -1;
}

bool pop3_auth_uses_token(pop3_auth_t auth) {
  return auth == POP3_AUTH_XOAUTH2 || auth == POP3_AUTH_OAUTHBEARER;
}

/* The SASL name, for commands and messages. */
static const char *sasl_name(pop3_auth_t auth) {
  switch (auth) {
  case POP3_AUTH_PLAIN:
    return "PLAIN";
  case POP3_AUTH_LOGIN:
    return "LOGIN";
  case POP3_AUTH_XOAUTH2:
    return "XOAUTH2";
  case POP3_AUTH_OAUTHBEARER:
    return "OAUTHBEARER";
  case POP3_AUTH_AUTO:
  case POP3_AUTH_USER:
  case POP3_AUTH_APOP:
    break;
  }
  return NULL;
}

/* ---- small text helpers ------------------------------------------------ */

static text_t text_after(text_t t, size_t n) {
  return (text_t){t.data + n, t.len - n};
}

static text_t skip_spaces(text_t t) {
  size_t n = 0;
  while (n < t.len && t.data[n] == ' ')
    n++;
  return text_after(t, n);
}

static bool starts_with(text_t t, const char *prefix) {
  size_t n = strlen(prefix);
  return t.len >= n && memcmp(t.data, prefix, n) == 0;
}

/* Case-insensitive: t is exactly word, or word followed by one of ends. */
static bool is_word(text_t t, const char *word, const char *ends) {
  size_t n = strlen(word);
  if (t.len < n || strncasecmp(t.data, word, n) != 0)
    return false;
  return t.len == n || (t.data[n] != '\0' && strchr(ends, t.data[n]) != NULL);
}

static const char *quote(char buf[POP3_SERVER_TEXT_MAX + 1], text_t t) {
  return pop3_sanitize(buf, POP3_SERVER_TEXT_MAX + 1, t.data, t.len);
}

/* Whether t holds word (case-insensitive) at a word start. */
static bool text_has_word(text_t t, const char *word) {
  size_t n = strlen(word);
  for (size_t i = 0; i + n <= t.len; i++) {
    bool start = i == 0 || !((t.data[i - 1] >= 'a' && t.data[i - 1] <= 'z') ||
                             (t.data[i - 1] >= 'A' && t.data[i - 1] <= 'Z'));
    if (start && strncasecmp(t.data + i, word, n) == 0)
      return true;
  }
  return false;
}

/* Whether the space-separated list holds word (case-insensitive). */
static bool list_has(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *p = list; *p != '\0';) {
    while (*p == ' ')
      p++;
    size_t len = strcspn(p, " ");
    if (len == n && strncasecmp(p, word, n) == 0)
      return true;
    p += len;
  }
  return false;
}

/* Decimal digits at the start of *t, up to max, followed by the end or a
 * space. On success *t is left after the number. */
static number_status_t parse_number(text_t *t, uint64_t max, uint64_t *value) {
  if (t->len == 0)
    return NUMBER_MISSING;
  if (t->data[0] == '-' && t->len > 1 && t->data[1] >= '0' && t->data[1] <= '9')
    return NUMBER_NEGATIVE;
  size_t n = 0;
  uint64_t v = 0;
  for (; n < t->len && t->data[n] >= '0' && t->data[n] <= '9'; n++) {
    unsigned digit = (unsigned)(t->data[n] - '0');
    if (v > (max - digit) / 10)
      return NUMBER_OVERFLOW;
    v = v * 10 + digit;
  }
  if (n == 0 || (n < t->len && t->data[n] != ' '))
    return NUMBER_MALFORMED;
  *value = v;
  *t = text_after(*t, n);
  return NUMBER_OK;
}

/* ---- base64 (RFC 4648), no allocation ---------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_length(size_t len) { return (len + 2) / 3 * 4; }

/* dst must have room for b64_length(len) bytes; no NUL is written. */
static void b64_encode(const unsigned char *src, size_t len, char *dst) {
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    unsigned v = (unsigned)src[i] << 16;
    if (i + 1 < len)
      v |= (unsigned)src[i + 1] << 8;
    if (i + 2 < len)
      v |= src[i + 2];
    dst[o++] = b64_alphabet[(v >> 18) & 63];
    dst[o++] = b64_alphabet[(v >> 12) & 63];
    dst[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
    dst[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
  }
}

static int b64_value(char c) {
  const char *p = c != '\0' ? strchr(b64_alphabet, c) : NULL;
  return p != NULL ? (int)(p - b64_alphabet) : -1;
}

/* Decodes src (padding optional); returns the decoded length, or -1 when src
 * is not base64 or does not fit. */
static long b64_decode(text_t src, unsigned char *dst, size_t size) {
  while (src.len > 0 && src.data[src.len - 1] == '=')
    src.len--;
  if (src.len % 4 == 1)
    return -1;
  size_t o = 0;
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < src.len; i++) {
    int d = b64_value(src.data[i]);
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

/* ---- state bookkeeping ------------------------------------------------- */

/* What the session is waiting for, for messages. */
static const char *awaited(const pop3_session_t *s) {
  switch (s->state) {
  case POP3_STATE_GREETING:
    return "greeting";
  case POP3_STATE_CAPA:
  case POP3_STATE_CAPA_LIST:
    return "CAPA answer";
  case POP3_STATE_STLS:
    return "STLS answer";
  case POP3_STATE_TLS_PENDING:
    return "TLS handshake";
  case POP3_STATE_USER:
    return "USER answer";
  case POP3_STATE_PASS:
    return "PASS answer";
  case POP3_STATE_APOP:
    return "APOP answer";
  case POP3_STATE_AUTH:
  case POP3_STATE_AUTH_CANCEL:
    return "AUTH answer";
  case POP3_STATE_STAT:
    return "STAT answer";
  case POP3_STATE_QUIT:
    return "QUIT answer";
  case POP3_STATE_DONE:
  case POP3_STATE_FAILED:
    break;
  }
  return "end of the session";
}

/* The one rule for every failure: once STAT is answered the collection has
 * what it came for, and nothing later (QUIT, EOF, timeouts) can spoil it.
 * Returns whether the failure is to be recorded. */
static bool failure_counts(pop3_session_t *s) {
  if (s->state == POP3_STATE_DONE || s->state == POP3_STATE_FAILED)
    return false;
  if (s->have_stat) {
    enter(s, POP3_STATE_DONE);
    return false;
  }
  return true;
}

/* Waiting for the answer to a STAT that went out in the login's burst, or
 * went again after the burst was lost: the connection is suspect. */
static bool burst_pending(const pop3_session_t *s) {
  return s->state == POP3_STATE_STAT && s->stat_pipelined;
}

__attribute__((format(printf, 4, 5))) static void
fail_in(pop3_session_t *s, pop3_phase_t phase, pop3_failure_t failure,
        const char *format, ...) {
  if (!failure_counts(s))
    return;
  char message[POP3_ERROR_MAX];
  va_list ap;
  va_start(ap, format);
  vsnprintf(message, sizeof(message), format, ap);
  va_end(ap);
  pop3_error_set(&s->error, phase, failure, "%s", message);
  /* whatever went wrong, it may be the burst's doing: worth a lock-step try */
  s->burst_failed = burst_pending(s);
  enter(s, POP3_STATE_FAILED);
}

#define fail(s, failure, ...)                                                  \
  fail_in(s, pop3_session_phase(s), failure, __VA_ARGS__)

#define fail_auth(s, failure, ...)                                             \
  fail_in(s, POP3_PHASE_AUTH, failure, __VA_ARGS__)

/* ---- commands ---------------------------------------------------------- */

/* Appends the parts (NULL ends them) and CRLF as one line, whole or not at
 * all: a line longer than limit (CRLF included) or than the room left is
 * refused. */
static bool queue_line(pop3_session_t *s, size_t limit,
                       const char *const parts[]) {
  size_t len = 2;
  for (size_t i = 0; parts[i] != NULL; i++)
    len += strlen(parts[i]);
  if (len > limit || len > sizeof(s->output) - s->output_len)
    return false;
  char *p = s->output + s->output_len;
  for (size_t i = 0; parts[i] != NULL; i++) {
    size_t n = strlen(parts[i]);
    memcpy(p, parts[i], n);
    p += n;
  }
  memcpy(p, "\r\n", 2);
  s->output_len += len;
  if (s->output_len > s->output_peak)
    s->output_peak = s->output_len;
  return true;
}

static bool queue_command(pop3_session_t *s, const char *verb,
                          const char *argument) {
  const char *parts[] = {verb, argument ? " " : NULL, argument, NULL};
  return queue_line(s, POP3_COMMAND_MAX, parts);
}

/* A SASL client line of its own: not a command, so not limited to 255. */
static bool queue_response(pop3_session_t *s, const char *text) {
  const char *parts[] = {text, NULL};
  return queue_line(s, sizeof(s->output), parts);
}

/* prefix (may be NULL) then base64(raw) as one line, within limit. */
static bool queue_base64(pop3_session_t *s, size_t limit, const char *prefix,
                         const unsigned char *raw, size_t raw_len) {
  size_t prefix_len = prefix ? strlen(prefix) : 0;
  size_t len = prefix_len + b64_length(raw_len) + 2;
  if (len > limit || len > sizeof(s->output) - s->output_len)
    return false;
  char *p = s->output + s->output_len;
  if (prefix_len > 0) /* memcpy with a NULL source is undefined, even for 0 */
    memcpy(p, prefix, prefix_len);
  b64_encode(raw, raw_len, p + prefix_len);
  memcpy(p + len - 2, "\r\n", 2);
  s->output_len += len;
  if (s->output_len > s->output_peak)
    s->output_peak = s->output_len;
  return true;
}

/* USER and PASS carry configured text: a line break in it would let the
 * configuration smuggle in a second command. (A C string holds no NUL.)
 * Messages name the problem, never the value. */
static bool queue_credential(pop3_session_t *s, const char *verb,
                             const char *value, const char *what) {
  if (value == NULL || (value[0] == '\0' && strcmp(verb, "USER") == 0)) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no %s configured", what);
  } else if (strpbrk(value, "\r\n") != NULL) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the %s contains a line break", what);
  } else if (!queue_command(s, verb, value)) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the %s is too long for a POP3 command (%zu bytes, at most %zu)",
              what, strlen(value), POP3_COMMAND_MAX - strlen(verb) - 3);
  } else {
    return true;
  }
  return false;
}

static void cleanse_output(pop3_session_t *s) {
  explicit_bzero(s->output, s->output_peak);
  s->output_len = 0;
}

/* Records that the answer to `state` will follow the current one. */
static void expect_later(pop3_session_t *s, pop3_state_t state) {
  if (s->queued_len < POP3_PIPELINE_MAX)
    s->queued[s->queued_len++] = state;
}

/* After the last line of a login: STAT, and QUIT, in the same burst. */
static void pipeline_rest(pop3_session_t *s) {
  if (!s->pipeline_stat)
    return;
  if (!queue_command(s, "STAT", NULL))
    return; /* no room: lock-step then */
  expect_later(s, POP3_STATE_STAT);
  s->stat_pipelined = true;
  if (s->pipeline_quit && queue_command(s, "QUIT", NULL))
    expect_later(s, POP3_STATE_QUIT);
}

/* ---- APOP -------------------------------------------------------------- */

/* "<...>" in the greeting text: printable, no blanks, at most
 * POP3_TIMESTAMP_MAX bytes. Kept raw: the digest covers the exact bytes. */
static void find_timestamp(pop3_session_t *s, text_t text) {
  s->timestamp[0] = '\0';
  const char *open = memchr(text.data, '<', text.len);
  if (open == NULL)
    return;
  size_t from = (size_t)(open - text.data);
  const char *close = memchr(open, '>', text.len - from);
  if (close == NULL)
    return;
  size_t len = (size_t)(close - open) + 1;
  if (len < 3 || len > POP3_TIMESTAMP_MAX)
    return;
  for (size_t i = 1; i + 1 < len; i++) {
    unsigned char c = (unsigned char)open[i];
    if (c <= 0x20 || c >= 0x7f || c == '<')
      return;
  }
  memcpy(s->timestamp, open, len);
  s->timestamp[len] = '\0';
}

/* md5(timestamp password) as 32 lower-case hex digits. */
static bool apop_digest(const char *timestamp, const char *password,
                        char hex[33]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
            EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) == 1 &&
            EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
            EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 16;
  EVP_MD_CTX_free(ctx); /* cleanses the digest state */
  if (ok) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 16; i++) {
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[32] = '\0';
  }
  OPENSSL_cleanse(md, sizeof(md));
  return ok;
}

static void queue_apop(pop3_session_t *s) {
  const char *user = s->options.user;
  if (user == NULL || user[0] == '\0') {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no user name configured");
    return;
  }
  if (strpbrk(user, "\r\n ") != NULL) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the user name contains a line break or a space, which APOP "
              "cannot carry");
    return;
  }
  if (s->options.password == NULL) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no password configured");
    return;
  }
  char hex[33];
  if (!apop_digest(s->timestamp, s->options.password, hex)) {
    fail_auth(s, POP3_FAIL_NO_MECHANISM,
              "APOP needs MD5, which this OpenSSL does not provide");
    return;
  }
  const char *parts[] = {"APOP ", user, " ", hex, NULL};
  bool queued = queue_line(s, POP3_COMMAND_MAX, parts);
  explicit_bzero(hex, sizeof(hex));
  if (!queued) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the user name is too long for an APOP command (%zu bytes, at "
              "most %d)",
              strlen(user), POP3_COMMAND_MAX - 40);
    return;
  }
  pipeline_rest(s);
}

/* ---- SASL -------------------------------------------------------------- */

/* A control byte; with strict, also a space or a byte beyond ASCII. */
static bool has_control(const char *value, bool strict) {
  for (const unsigned char *p = (const unsigned char *)value; *p; p++)
    if (*p < 0x20 || *p == 0x7f || (strict && (*p == ' ' || *p > 0x7f)))
      return true;
  return false;
}

/* Checks what the mechanism will send; fails the session when unusable. */
static bool sasl_inputs_ok(pop3_session_t *s) {
  const pop3_session_options_t *o = &s->options;
  pop3_auth_t mech = s->auth_used;
  if (o->user == NULL || o->user[0] == '\0') {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no user name configured");
  } else if (strlen(o->user) > POP3_SASL_USER_MAX) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the user name is too long (%zu bytes, at most %d)",
              strlen(o->user), POP3_SASL_USER_MAX);
  } else if (strpbrk(o->user, "\r\n") != NULL) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the user name contains a line break");
  } else if (pop3_auth_uses_token(mech)) {
    if (has_control(o->user, false)) {
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
                "the user name contains a control character");
    } else if (o->token == NULL || o->token[0] == '\0') {
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no bearer token configured");
    } else if (strlen(o->token) > POP3_TOKEN_MAX) {
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
                "the bearer token is too long (%zu bytes, at most %d)",
                strlen(o->token), POP3_TOKEN_MAX);
    } else if (has_control(o->token, true)) {
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
                "the bearer token contains a space, a control character or a "
                "byte beyond ASCII");
    } else if (o->host != NULL &&
               (strlen(o->host) > 255 || has_control(o->host, false))) {
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
                "the host name is unusable in an OAUTHBEARER message");
    } else {
      return true;
    }
  } else if (o->password == NULL) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no password configured");
  } else if (strlen(o->password) > POP3_SECRET_MAX) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the password is too long (%zu bytes, at most %d)",
              strlen(o->password), POP3_SECRET_MAX);
  } else {
    return true;
  }
  return false;
}

static size_t append(unsigned char *raw, size_t at, const char *text) {
  size_t n = strlen(text);
  memcpy(raw + at, text, n);
  return at + n;
}

/* The one client message of PLAIN, XOAUTH2 or OAUTHBEARER, before base64.
 * raw has SASL_RAW_MAX bytes; the inputs were checked. */
static size_t sasl_message(const pop3_session_t *s, unsigned char *raw) {
  const pop3_session_options_t *o = &s->options;
  size_t n = 0;
  switch (s->auth_used) {
  case POP3_AUTH_PLAIN: /* RFC 4616: authzid NUL authcid NUL passwd */
    raw[n++] = '\0';
    n = append(raw, n, o->user);
    raw[n++] = '\0';
    n = append(raw, n, o->password);
    break;
  case POP3_AUTH_XOAUTH2:
    n = append(raw, n, "user=");
    n = append(raw, n, o->user);
    n = append(raw, n, "\001auth=Bearer ");
    n = append(raw, n, o->token);
    n = append(raw, n, "\001\001");
    break;
  case POP3_AUTH_OAUTHBEARER: /* RFC 7628 3.1, gs2 header of RFC 5801 */
    n = append(raw, n, "n,a=");
    for (const char *p = o->user; *p; p++) {
      if (*p == ',')
        n = append(raw, n, "=2C");
      else if (*p == '=')
        n = append(raw, n, "=3D");
      else
        raw[n++] = (unsigned char)*p;
    }
    n = append(raw, n, ",");
    if (o->host != NULL && o->host[0] != '\0') {
      n = append(raw, n, "\001host=");
      n = append(raw, n, o->host);
    }
    if (o->port > 0 && o->port <= 65535) {
      char port[16];
      snprintf(port, sizeof(port), "\001port=%d", o->port);
      n = append(raw, n, port);
    }
    n = append(raw, n, "\001auth=Bearer ");
    n = append(raw, n, o->token);
    n = append(raw, n, "\001\001");
    break;
  case POP3_AUTH_AUTO:
  case POP3_AUTH_USER:
  case POP3_AUTH_APOP:
  case POP3_AUTH_LOGIN:
    break;
  }
  return n;
}

/* Queues the SASL message: after "AUTH <MECH> " when the command stays
 * within 255 octets (RFC 5034 4), else alone as a continuation line, which
 * has no such limit. */
static bool queue_sasl_message(pop3_session_t *s, bool as_initial) {
  unsigned char buf[SASL_RAW_MAX];
  size_t n = sasl_message(s, buf);
  char prefix[32];
  snprintf(prefix, sizeof(prefix), "AUTH %s ", sasl_name(s->auth_used));
  bool ok = as_initial
                ? queue_base64(s, POP3_COMMAND_MAX, prefix, buf, n)
                : queue_base64(s, sizeof(s->output), NULL, buf, n);
  OPENSSL_cleanse(buf, n);
  return ok;
}

static bool sasl_fits_initial(const pop3_session_t *s) {
  unsigned char buf[SASL_RAW_MAX];
  size_t n = sasl_message(s, buf);
  OPENSSL_cleanse(buf, n);
  return strlen("AUTH ") + strlen(sasl_name(s->auth_used)) + 1 +
             b64_length(n) + 2 <=
         POP3_COMMAND_MAX;
}

/* The AUTH command, with the initial response when it fits. */
static void queue_auth(pop3_session_t *s) {
  s->sasl_step = 0;
  s->sasl_ir = false;
  s->token_status[0] = '\0';
  if (!sasl_inputs_ok(s))
    return;
  bool sent;
  if (s->auth_used != POP3_AUTH_LOGIN && sasl_fits_initial(s)) {
    sent = queue_sasl_message(s, true);
    s->sasl_ir = true;
    s->sasl_step = 1;
  } else {
    sent = queue_command(s, "AUTH", sasl_name(s->auth_used));
  }
  if (!sent) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the SASL %s message does not fit",
              sasl_name(s->auth_used));
    return;
  }
  /* A bearer token may be answered by an error challenge that would take
   * a pipelined STAT for the client's reply: nothing follows those. */
  if (s->sasl_ir && s->auth_used == POP3_AUTH_PLAIN)
    pipeline_rest(s);
}

/* ---- choosing the login ------------------------------------------------- */

static bool offers(const pop3_session_t *s, pop3_auth_t mech) {
  const pop3_capabilities_t *c = &s->capabilities;
  switch (mech) {
  case POP3_AUTH_USER:
    return !c->known || c->user;
  case POP3_AUTH_APOP:
    return s->timestamp[0] != '\0';
  case POP3_AUTH_PLAIN:
  case POP3_AUTH_LOGIN:
  case POP3_AUTH_XOAUTH2:
  case POP3_AUTH_OAUTHBEARER:
    return !c->known || list_has(c->sasl, sasl_name(mech));
  case POP3_AUTH_AUTO:
    break;
  }
  return false;
}

/* "USER, APOP, SASL PLAIN LOGIN", or "nothing". buf: POP3_SASL_MAX + 32. */
static void describe_offers(const pop3_session_t *s, char *buf, size_t size) {
  const pop3_capabilities_t *c = &s->capabilities;
  const char *items[3] = {c->user ? "USER" : NULL,
                          s->timestamp[0] ? "APOP" : NULL,
                          c->sasl[0] ? "SASL " : NULL};
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < 3; i++) {
    if (items[i] == NULL)
      continue;
    int n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", items[i]);
    if (n < 0 || (size_t)n >= size - len)
      break;
    len += (size_t)n;
  }
  if (c->sasl[0] && len < size) /* printable already; sanitising is cheap */
    pop3_sanitize(buf + len, size - len, c->sasl, strlen(c->sasl));
  if (buf[0] == '\0')
    snprintf(buf, size, "nothing");
}

static const char *method_label(pop3_auth_t mech, char *buf, size_t size) {
  if (mech == POP3_AUTH_USER)
    return "USER";
  if (mech == POP3_AUTH_APOP)
    return "APOP";
  snprintf(buf, size, "SASL %s", sasl_name(mech));
  return buf;
}

/* Whether PASS can carry the password in a 255-octet command. */
static bool pass_fits(const pop3_session_t *s) {
  const char *password = s->options.password;
  return password == NULL ||
         strlen(password) <= POP3_COMMAND_MAX - strlen("PASS \r\n");
}

/* The mechanism for this login, or AUTO when the one asked for is not
 * offered. Auto finds one unless the password is too long for PASS and the
 * server lists neither SASL PLAIN nor LOGIN: when the list names none it
 * knows, USER is tried anyway and the server's answer says why it will not
 * do. */
static pop3_auth_t choose(const pop3_session_t *s) {
  pop3_auth_t asked = s->options.auth;
  if (asked != POP3_AUTH_AUTO)
    return offers(s, asked) ? asked : POP3_AUTH_AUTO;
  const pop3_capabilities_t *c = &s->capabilities;
  if (c->known && list_has(c->sasl, "PLAIN"))
    return POP3_AUTH_PLAIN;
  if (c->known && (!c->user || !pass_fits(s)) && list_has(c->sasl, "LOGIN"))
    return POP3_AUTH_LOGIN;
  return pass_fits(s) ? POP3_AUTH_USER : POP3_AUTH_AUTO;
}

/* The method the configuration asks for is not offered; with Auth auto,
 * none can carry the password. */
static void no_mechanism(pop3_session_t *s) {
  char offered[POP3_SASL_MAX + 32], label[32];
  pop3_auth_t asked = s->options.auth;
  describe_offers(s, offered, sizeof(offered));
  if (asked == POP3_AUTH_AUTO)
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the password is too long for USER/PASS (%zu bytes, at most "
              "%zu) and the server offers no SASL PLAIN or LOGIN (it offers: "
              "%s)",
              strlen(s->options.password),
              POP3_COMMAND_MAX - strlen("PASS \r\n"), offered);
  else if (asked == POP3_AUTH_APOP)
    fail_auth(s, POP3_FAIL_NO_MECHANISM,
              "server does not offer APOP: its greeting has no <timestamp> "
              "(it offers: %s)",
              offered);
  else
    fail_auth(s, POP3_FAIL_NO_MECHANISM,
              "server does not offer %s (it offers: %s)",
              method_label(asked, label, sizeof(label)), offered);
}

static void reset_capabilities(pop3_session_t *s,
                               const pop3_capabilities_t *from) {
  if (from != NULL) {
    s->capabilities = *from;
  } else {
    memset(&s->capabilities, 0, sizeof(s->capabilities));
    s->capabilities.login_delay = -1;
  }
  s->capabilities.apop_hint = s->timestamp[0] != '\0';
}

/* The capabilities are settled (CAPA, or the cache): log in. */
static void start_login(pop3_session_t *s) {
  s->capabilities.apop_hint = s->timestamp[0] != '\0';
  pop3_auth_t mech = choose(s);
  if (mech == POP3_AUTH_AUTO) {
    if (s->use_cache) {
      /* The memory says no, but it may be old: ask the server. */
      s->use_cache = false;
      reset_capabilities(s, NULL);
      enter(s, POP3_STATE_CAPA);
    } else {
      no_mechanism(s);
    }
    return;
  }
  s->auth_used = mech;
  s->login_from_cache = s->use_cache;
  /* after a stale cache, the second attempt goes lock-step */
  s->pipelining = s->capabilities.known && s->capabilities.pipelining &&
                  !s->fell_back;
  s->pipeline_stat = s->pipelining && s->options.pipeline_login &&
                    !(s->options.lockstep_methods & (1u << mech));
  /* QUIT ends the session in any state: behind a login the cache chose, it
   * would leave no way back to CAPA if the server refuses that login. */
  s->pipeline_quit = s->pipeline_stat && !s->login_from_cache;
  switch (mech) {
  case POP3_AUTH_USER:
    enter(s, POP3_STATE_USER);
    break;
  case POP3_AUTH_APOP:
    enter(s, POP3_STATE_APOP);
    break;
  default:
    enter(s, POP3_STATE_AUTH);
    break;
  }
}

/* ---- the state machine ------------------------------------------------- */

static void enter(pop3_session_t *s, pop3_state_t next) {
  s->state = next;
  switch (next) {
  case POP3_STATE_CAPA:
    queue_command(s, "CAPA", NULL);
    break;
  case POP3_STATE_STLS:
    queue_command(s, "STLS", NULL);
    break;
  case POP3_STATE_USER:
    if (queue_credential(s, "USER", s->options.user, "user name") &&
        s->pipelining &&
        queue_credential(s, "PASS", s->options.password, "password")) {
      expect_later(s, POP3_STATE_PASS);
      pipeline_rest(s);
    }
    break;
  case POP3_STATE_PASS:
    if (queue_credential(s, "PASS", s->options.password, "password"))
      pipeline_rest(s);
    break;
  case POP3_STATE_APOP:
    queue_apop(s);
    break;
  case POP3_STATE_AUTH:
    queue_auth(s);
    break;
  case POP3_STATE_AUTH_CANCEL:
    queue_response(s, "*");
    break;
  case POP3_STATE_STAT:
    queue_command(s, "STAT", NULL);
    break;
  case POP3_STATE_QUIT:
    queue_command(s, "QUIT", NULL);
    break;
  case POP3_STATE_DONE:
  case POP3_STATE_FAILED:
    cleanse_output(s);
    s->queued_len = 0;
    break;
  case POP3_STATE_GREETING:
  case POP3_STATE_CAPA_LIST:
  case POP3_STATE_TLS_PENDING:
    break;
  }
}

/* On to the answer of `next`: already sent in a burst, or sent now. */
static void proceed(pop3_session_t *s, pop3_state_t next) {
  if (s->queued_len > 0 && s->queued[0] == next) {
    s->queued_len--;
    memmove(s->queued, s->queued + 1, s->queued_len * sizeof(s->queued[0]));
    s->state = next;
    return;
  }
  s->queued_len = 0;
  enter(s, next);
}

/* ---- answers ----------------------------------------------------------- */

/* "+OK" or "-ERR", then the end of the line or a space and free text. */
static status_t parse_status(text_t line, text_t *rest) {
  status_t status;
  size_t n;
  if (starts_with(line, "+OK")) {
    status = STATUS_OK;
    n = 3;
  } else if (starts_with(line, "-ERR")) {
    status = STATUS_ERR;
    n = 4;
  } else {
    return STATUS_INVALID;
  }
  if (line.len > n && line.data[n] != ' ')
    return STATUS_INVALID;
  *rest = text_after(line, line.len > n ? n + 1 : n);
  return status;
}

typedef struct {
  pop3_code_t code;
  unsigned login_delay;
  text_t raw;  /* between the brackets */
  text_t rest; /* the human-readable text after the code */
} response_code_t;

/* RFC 2449 / 3206: "-ERR [CODE] text"; a code may be refined by "/sub". */
static response_code_t parse_response_code(text_t text) {
  static const struct {
    const char *name;
    pop3_code_t code;
  } known[] = {
      {"IN-USE", POP3_CODE_IN_USE},     {"LOGIN-DELAY", POP3_CODE_LOGIN_DELAY},
      {"SYS/TEMP", POP3_CODE_SYS_TEMP}, {"SYS/PERM", POP3_CODE_SYS_PERM},
      {"AUTH", POP3_CODE_AUTH},
  };
  response_code_t rc = {.code = POP3_CODE_NONE, .rest = text};
  const char *close = text.len > 0 && text.data[0] == '['
                          ? memchr(text.data, ']', text.len)
                          : NULL;
  if (close == NULL)
    return rc;
  rc.raw = (text_t){text.data + 1, (size_t)(close - text.data) - 1};
  rc.rest = skip_spaces(text_after(text, (size_t)(close - text.data) + 1));
  rc.code = POP3_CODE_OTHER;
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
    if (is_word(rc.raw, known[i].name, "/ ")) {
      rc.code = known[i].code;
      break;
    }
  }
  if (rc.code == POP3_CODE_LOGIN_DELAY) {
    /* "[LOGIN-DELAY 600]": an extension some servers use to say how long */
    text_t arg = skip_spaces(text_after(rc.raw, strlen("LOGIN-DELAY")));
    uint64_t delay;
    if (parse_number(&arg, UINT_MAX, &delay) == NUMBER_OK)
      rc.login_delay = (unsigned)delay;
  }
  return rc;
}

/* A -ERR that ends the session: "<what> [CODE]: "server text"<after>". */
/* LOGIN-DELAY is believed only from the answer to a login command, and
 * never from plaintext a StartTLS monitor reads before TLS: anyone on the
 * path could write it there to silence the monitor. */
static bool login_delay_trusted(const pop3_session_t *s) {
  bool login = s->state == POP3_STATE_USER || s->state == POP3_STATE_PASS ||
               s->state == POP3_STATE_APOP || s->state == POP3_STATE_AUTH;
  return login && (!s->options.starttls || s->tls_active);
}

static void refuse_with(pop3_session_t *s, const char *what, text_t text,
                        const char *after) {
  response_code_t rc = parse_response_code(text);
  if (rc.code == POP3_CODE_LOGIN_DELAY && !login_delay_trusted(s)) {
    rc.code = POP3_CODE_OTHER;
    rc.login_delay = 0;
  }
  char label[48] = "";
  if (rc.code == POP3_CODE_OTHER) {
    char raw[32];
    pop3_sanitize(raw, sizeof(raw), rc.raw.data, rc.raw.len);
    snprintf(label, sizeof(label), " [%s]", raw);
  } else if (rc.code == POP3_CODE_LOGIN_DELAY && rc.login_delay > 0) {
    snprintf(label, sizeof(label), " [LOGIN-DELAY %u]", rc.login_delay);
  } else if (rc.code != POP3_CODE_NONE) {
    snprintf(label, sizeof(label), " [%s]", pop3_code_name(rc.code));
  }
  char quoted[POP3_SERVER_TEXT_MAX + 1];
  if (rc.rest.len > 0)
    fail(s, POP3_FAIL_REFUSED, "%s%s: \"%s\"%s", what, label,
         quote(quoted, rc.rest), after);
  else
    fail(s, POP3_FAIL_REFUSED, "%s%s%s", what, label, after);
  if (s->state == POP3_STATE_FAILED) {
    s->error.code = rc.code;
    s->error.login_delay = rc.login_delay;
    /* a response code is a deliberate answer, not a mangled burst */
    if (rc.code != POP3_CODE_NONE)
      s->burst_failed = false;
  }
}

static void refuse(pop3_session_t *s, const char *what, text_t text) {
  refuse_with(s, what, text, "");
}

/* The cache chose a login the server turned down without saying the
 * credentials are wrong: forget the cache, ask CAPA (the answers to the
 * rest of the burst are skipped) and log in again, lock-step. POP3 allows a
 * new attempt after a failed one in the AUTHORIZATION state. */
static bool fall_back_if_stale(pop3_session_t *s, text_t text, bool any_code) {
  if (!s->login_from_cache)
    return false;
  pop3_code_t code = parse_response_code(text).code;
  if (!any_code && code != POP3_CODE_NONE && code != POP3_CODE_OTHER)
    return false; /* [AUTH], [IN-USE], [SYS/...]: a real answer */
  s->cache_stale = true;
  s->use_cache = false;
  s->login_from_cache = false;
  s->fell_back = true;
  s->skip = (unsigned)s->queued_len;
  s->queued_len = 0;
  s->stat_pipelined = false;
  reset_capabilities(s, NULL);
  enter(s, POP3_STATE_CAPA);
  return true;
}

static void login_refused(pop3_session_t *s, const char *what, text_t text,
                          const char *after) {
  if (!fall_back_if_stale(s, text, false))
    refuse_with(s, what, text, after);
}

static void parse_capability(pop3_capabilities_t *caps, text_t line) {
  size_t name_len = 0;
  while (name_len < line.len && line.data[name_len] != ' ')
    name_len++;
  text_t name = {line.data, name_len};
  text_t args = skip_spaces(text_after(line, name_len));

  if (is_word(name, "STLS", "")) {
    caps->stls = true;
  } else if (is_word(name, "USER", "")) {
    caps->user = true;
  } else if (is_word(name, "PIPELINING", "")) {
    caps->pipelining = true;
  } else if (is_word(name, "RESP-CODES", "")) {
    caps->resp_codes = true;
  } else if (is_word(name, "LOGIN-DELAY", "")) {
    uint64_t delay;
    if (parse_number(&args, INT_MAX, &delay) == NUMBER_OK)
      caps->login_delay = (int)delay;
  } else if (is_word(name, "IMPLEMENTATION", "")) {
    pop3_sanitize(caps->implementation, sizeof(caps->implementation), args.data,
                  args.len);
  } else if (is_word(name, "SASL", "")) {
    /* Mechanism names are printable ASCII; anything else is masked so the
     * list is safe to log. A mechanism that does not fit is dropped. */
    size_t n =
        args.len < sizeof(caps->sasl) ? args.len : sizeof(caps->sasl) - 1;
    if (n < args.len)
      while (n > 0 && args.data[n] != ' ')
        n--;
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)args.data[i];
      caps->sasl[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    caps->sasl[n] = '\0';
  }
}

static void after_capabilities(pop3_session_t *s) {
  s->ran_capa = true;
  if (!s->options.starttls || s->tls_active) {
    start_login(s);
  } else if (s->capabilities.known && !s->capabilities.stls) {
    /* Fail closed: logging in over plaintext is what StartTLS prevents. */
    fail_in(s, POP3_PHASE_TLS, POP3_FAIL_NO_STLS,
            "StartTLS required but the server does not offer STLS");
  } else {
    /* Without a capability list, asking is the only way to know. */
    enter(s, POP3_STATE_STLS);
  }
}

/* After the greeting, or after the TLS handshake StartTLS asked for. */
static void after_greeting(pop3_session_t *s) {
  if (!s->use_cache) {
    enter(s, POP3_STATE_CAPA);
  } else if (s->options.starttls && !s->tls_active) {
    /* STLS alone: nothing may be pipelined behind it (RFC 2595). */
    enter(s, POP3_STATE_STLS);
  } else {
    reset_capabilities(s, s->options.cached);
    start_login(s);
  }
}

static void on_capability_line(pop3_session_t *s, text_t line) {
  if (line.len == 1 && line.data[0] == '.') {
    after_capabilities(s);
    return;
  }
  s->capa_bytes += line.len;
  if (++s->capa_lines > POP3_CAPA_LINES_MAX ||
      s->capa_bytes > POP3_CAPA_BYTES_MAX) {
    fail(s, POP3_FAIL_PROTOCOL,
         "capability list too long (more than %d lines or %d bytes)",
         POP3_CAPA_LINES_MAX, POP3_CAPA_BYTES_MAX);
    return;
  }
  if (line.len > 0 && line.data[0] == '.') /* dot-stuffed */
    line = text_after(line, 1);
  parse_capability(&s->capabilities, line);
}

static const char *number_problem(number_status_t status) {
  switch (status) {
  case NUMBER_MISSING:
    return "no";
  case NUMBER_NEGATIVE:
    return "a negative";
  case NUMBER_OVERFLOW:
    return "an out-of-range";
  case NUMBER_MALFORMED:
  case NUMBER_OK:
    break;
  }
  return "a malformed";
}

/* "+OK nn mm [ignored text]": the numbers, or what is wrong with them. */
static number_status_t parse_stat(text_t rest, uint64_t *count,
                                  uint64_t *size, const char **field) {
  *field = "message count";
  text_t t = skip_spaces(rest);
  number_status_t status = parse_number(&t, UINT64_MAX, count);
  if (status == NUMBER_OK) {
    *field = "mailbox size";
    t = skip_spaces(t);
    status = parse_number(&t, UINT64_MAX, size);
  }
  return status;
}

/* The first answer after the NOOP of pop3_session_stalled(): a STAT answer
 * means STAT was only late; a bare +OK is the NOOP's, so STAT was lost and
 * goes again, lock-step. Returns whether the line was taken. */
static bool on_probe_answer(pop3_session_t *s, bool ok, text_t rest) {
  uint64_t count, size;
  const char *field;
  s->probing = false;
  if (ok && parse_stat(rest, &count, &size, &field) == NUMBER_OK) {
    s->stat_late = true;
    return false; /* the STAT answer: handled as usual */
  }
  if (!ok)
    return false; /* a refusal of STAT (or NOOP): a burst failure */
  s->lost_pipelined = true;
  s->queued_len = 0;
  enter(s, POP3_STATE_STAT);
  return true;
}

static void on_stat_answer(pop3_session_t *s, text_t line, text_t rest) {
  uint64_t count = 0, size = 0;
  const char *field;
  number_status_t status = parse_stat(rest, &count, &size, &field);
  if (status != NUMBER_OK) {
    char quoted[POP3_SERVER_TEXT_MAX + 1];
    fail(s, POP3_FAIL_PROTOCOL, "STAT answer has %s %s: \"%s\"",
         number_problem(status), field, quote(quoted, line));
    return;
  }
  s->message_count = count;
  s->mailbox_size = size;
  s->have_stat = true;
  proceed(s, POP3_STATE_QUIT);
}

/* The "status" member of a bearer error challenge (RFC 7628 3.2.2, and
 * Google's XOAUTH2), sanitised; the whole JSON text when it has none. */
static void note_token_status(pop3_session_t *s, text_t challenge) {
  unsigned char json[POP3_LINE_MAX];
  long n = b64_decode(challenge, json, sizeof(json));
  if (n < 0) {
    snprintf(s->token_status, sizeof(s->token_status), "(not base64)");
    return;
  }
  text_t t = {(const char *)json, (size_t)n};
  const char *key = memmem(t.data, t.len, "\"status\"", 8);
  if (key != NULL) {
    text_t v = text_after(t, (size_t)(key - t.data) + 8);
    while (v.len > 0 && (v.data[0] == ' ' || v.data[0] == ':'))
      v = text_after(v, 1);
    size_t len = 0;
    if (v.len > 0 && v.data[0] == '"') {
      v = text_after(v, 1);
      while (len < v.len && v.data[len] != '"')
        len++;
    } else {
      while (len < v.len && v.data[len] != ',' && v.data[len] != '}' &&
             v.data[len] != ' ')
        len++;
    }
    t = (text_t){v.data, len};
  }
  pop3_sanitize(s->token_status, sizeof(s->token_status), t.data, t.len);
}

/* A SASL challenge ("+ base64", or a bare "+") while in an exchange. */
static void on_challenge(pop3_session_t *s, text_t challenge) {
  pop3_auth_t mech = s->auth_used;
  bool token = pop3_auth_uses_token(mech);
  if ((mech == POP3_AUTH_PLAIN || token) && s->sasl_step == 0) {
    s->sasl_step = 1;
    if (!queue_sasl_message(s, false))
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the SASL %s message does not fit",
                sasl_name(mech));
    else if (mech == POP3_AUTH_PLAIN)
      pipeline_rest(s);
    return;
  }
  if (mech == POP3_AUTH_LOGIN && s->sasl_step < 2) {
    const char *value =
        s->sasl_step == 0 ? s->options.user : s->options.password;
    s->sasl_step++;
    if (!queue_base64(s, sizeof(s->output), NULL, (const unsigned char *)value,
                      strlen(value)))
      fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the SASL LOGIN reply does not fit");
    else if (s->sasl_step == 2)
      pipeline_rest(s);
    return;
  }
  if (token && s->sasl_step == 1) {
    /* The token was refused; the server waits for a dummy reply before its
     * -ERR: an empty line for XOAUTH2, %x01 for OAUTHBEARER (RFC 7628). */
    note_token_status(s, challenge);
    s->sasl_step = 2;
    queue_response(s, mech == POP3_AUTH_OAUTHBEARER ? "AQ==" : "");
    return;
  }
  pop3_sanitize(s->challenge, sizeof(s->challenge), challenge.data,
                challenge.len);
  if (s->queued_len > 0) {
    /* STAT and QUIT went out behind the AUTH: the server reads them as SASL
     * responses, so a "*" would only follow QUIT. End here. */
    fail_auth(s, POP3_FAIL_PROTOCOL,
              "server sent an unexpected SASL %s challenge \"%s\" to a "
              "pipelined login",
              sasl_name(mech), s->challenge);
    s->burst_failed = true;
    return;
  }
  enter(s, POP3_STATE_AUTH_CANCEL);
}

static void on_auth_answer(pop3_session_t *s, bool ok, text_t rest) {
  if (ok) {
    proceed(s, POP3_STATE_STAT);
    return;
  }
  /* "server refused the login [AUTH]: "..."" stays the start of every
   * refused login, whatever the mechanism: logs and checks look for it. */
  const char *what = "server refused the login";
  char after[128];
  if (s->token_status[0] != '\0') {
    snprintf(after, sizeof(after), " (SASL %s, token status \"%s\")",
             sasl_name(s->auth_used), s->token_status);
    refuse_with(s, what, rest, after);
    return;
  }
  snprintf(after, sizeof(after), " (SASL %s)", sasl_name(s->auth_used));
  /* Once the server took part in the exchange it knows the mechanism. Before
   * that, a refusal says the mechanism is not (or no longer) available when
   * nothing carried the credentials yet, or when it says so: Dovecot answers
   * "-ERR [AUTH] Unsupported authentication mechanism.", code and all. */
  bool exchanged = s->sasl_step > (s->sasl_ir ? 1u : 0u);
  bool mechanism = s->sasl_step == 0 || text_has_word(rest, "mechanism");
  if (exchanged || !fall_back_if_stale(s, rest, mechanism))
    refuse_with(s, what, rest, after);
}

static void on_status_line(pop3_session_t *s, text_t line) {
  if (s->state == POP3_STATE_AUTH_CANCEL) {
    fail_auth(s, POP3_FAIL_PROTOCOL,
              "server sent an unexpected SASL %s challenge \"%s\"; cancelled "
              "the login",
              sasl_name(s->auth_used), s->challenge);
    return;
  }
  if (s->state == POP3_STATE_AUTH && is_word(line, "+", " ")) {
    on_challenge(s, skip_spaces(text_after(line, 1)));
    return;
  }

  text_t rest = {line.data, 0};
  status_t status = parse_status(line, &rest);
  if (status == STATUS_INVALID) {
    char quoted[POP3_SERVER_TEXT_MAX + 1];
    fail(s, POP3_FAIL_PROTOCOL, "expected \"+OK\" or \"-ERR\", got \"%s\"",
         quote(quoted, line));
    return;
  }
  bool ok = status == STATUS_OK;

  switch (s->state) {
  case POP3_STATE_GREETING:
    if (ok) {
      quote(s->greeting, rest);
      find_timestamp(s, rest);
      s->capabilities.apop_hint = s->timestamp[0] != '\0';
      after_greeting(s);
    } else {
      refuse(s, "server refused the connection", rest);
    }
    break;
  case POP3_STATE_CAPA:
    /* -ERR only means the server predates RFC 2449. */
    s->capabilities.known = ok;
    if (ok)
      enter(s, POP3_STATE_CAPA_LIST);
    else
      after_capabilities(s);
    break;
  case POP3_STATE_STLS:
    if (ok) {
      enter(s, POP3_STATE_TLS_PENDING);
    } else {
      if (s->use_cache)
        s->cache_stale = true; /* still a failure: never fall back to clear */
      refuse(s, "server refused STLS", rest);
    }
    break;
  case POP3_STATE_USER:
    if (ok)
      proceed(s, POP3_STATE_PASS);
    else
      login_refused(s, "server refused the login name", rest, "");
    break;
  case POP3_STATE_PASS:
    if (ok)
      proceed(s, POP3_STATE_STAT);
    else
      login_refused(s, "server refused the login", rest, "");
    break;
  case POP3_STATE_APOP:
    if (ok)
      proceed(s, POP3_STATE_STAT);
    else
      login_refused(s, "server refused the login", rest, " (APOP)");
    break;
  case POP3_STATE_AUTH:
    on_auth_answer(s, ok, rest);
    break;
  case POP3_STATE_STAT:
    if (s->probing && on_probe_answer(s, ok, rest))
      break;
    if (ok)
      on_stat_answer(s, line, rest);
    else
      refuse(s, "server refused STAT", rest);
    break;
  case POP3_STATE_QUIT:
    /* The numbers are in; how the server says goodbye does not matter. */
    enter(s, POP3_STATE_DONE);
    break;
  case POP3_STATE_CAPA_LIST:
  case POP3_STATE_TLS_PENDING:
  case POP3_STATE_AUTH_CANCEL:
  case POP3_STATE_DONE:
  case POP3_STATE_FAILED:
    break;
  }
}

/* raw ends with LF; a CR before it is dropped too (bare LF is tolerated). */
static void on_line(pop3_session_t *s, const char *raw, size_t len) {
  text_t line = {raw, len - 1};
  if (line.len > 0 && line.data[line.len - 1] == '\r')
    line.len--;
  if (s->skip > 0) {
    /* the answer to a command of an abandoned burst */
    s->skip--;
  } else if (memchr(line.data, '\0', line.len) != NULL) {
    fail(s, POP3_FAIL_PROTOCOL,
         "expected a text line, got a NUL byte while waiting for the %s",
         awaited(s));
  } else if (s->state == POP3_STATE_CAPA_LIST) {
    on_capability_line(s, line);
  } else {
    on_status_line(s, line);
  }
}

/* RFC 2595 / CVE-2021-22947: plaintext after the STLS +OK was sent before
 * the handshake and could pose as TLS-protected answers. */
static void reject_injection(pop3_session_t *s, size_t extra) {
  fail(s, POP3_FAIL_TLS_INJECTION,
       "server sent %zu bytes after the STLS reply before the TLS handshake",
       extra);
}

/* ---- public API -------------------------------------------------------- */

void pop3_session_init(pop3_session_t *s, const pop3_session_options_t *opts) {
  memset(s, 0, offsetof(pop3_session_t, line));
  s->options = *opts;
  s->capabilities.login_delay = -1;
  s->use_cache = opts->cached != NULL && opts->cached->known;
  s->state = POP3_STATE_GREETING;
}

pop3_want_t pop3_session_want(const pop3_session_t *s) {
  switch (s->state) {
  case POP3_STATE_DONE:
  case POP3_STATE_FAILED:
    return POP3_WANT_NOTHING;
  case POP3_STATE_TLS_PENDING:
    return POP3_WANT_TLS;
  default:
    return s->output_len > 0 ? POP3_WANT_WRITE : POP3_WANT_READ;
  }
}

size_t pop3_session_feed(pop3_session_t *s, const char *data, size_t len) {
  if (s->state == POP3_STATE_TLS_PENDING && len > 0) {
    /* A late call with plaintext that arrived before the handshake. */
    reject_injection(s, len);
    return 0;
  }
  if (len == 0 || pop3_session_want(s) != POP3_WANT_READ)
    return 0;

  size_t room = POP3_LINE_MAX - s->line_len;
  size_t scan = len < room ? len : room;
  const char *lf = memchr(data, '\n', scan);
  if (lf == NULL) {
    if (len >= room) {
      fail(s, POP3_FAIL_LINE_TOO_LONG,
           "expected a line of at most %d bytes, got a longer one while "
           "waiting for the %s",
           POP3_LINE_MAX, awaited(s));
      return scan;
    }
    memcpy(s->line + s->line_len, data, len);
    s->line_len += len;
    return len;
  }

  size_t used = (size_t)(lf - data) + 1;
  memcpy(s->line + s->line_len, data, used);
  size_t line_len = s->line_len + used;
  s->line_len = 0;
  on_line(s, s->line, line_len);
  if (s->state == POP3_STATE_TLS_PENDING && used < len)
    reject_injection(s, len - used);
  return used;
}

void pop3_session_eof(pop3_session_t *s) {
  fail(s, POP3_FAIL_CLOSED,
       "server closed the connection while waiting for the %s", awaited(s));
}

const char *pop3_session_output(const pop3_session_t *s, size_t *len) {
  *len = s->output_len;
  return s->output_len > 0 ? s->output : NULL;
}

void pop3_session_output_sent(pop3_session_t *s, size_t n) {
  if (n > s->output_len)
    n = s->output_len;
  size_t left = s->output_len - n;
  explicit_bzero(s->output, n);
  memmove(s->output, s->output + n, left);
  explicit_bzero(s->output + left, n);
  s->output_len = left;
}

void pop3_session_tls_started(pop3_session_t *s) {
  if (s->state != POP3_STATE_TLS_PENDING)
    return;
  s->tls_active = true;
  /* Anything learnt in clear text may have been forged (RFC 2595 4). */
  reset_capabilities(s, NULL);
  s->ran_capa = false;
  after_greeting(s);
}

void pop3_session_fail(pop3_session_t *s, const pop3_error_t *err) {
  if (!failure_counts(s))
    return;
  s->error = *err;
  s->error.message[sizeof(s->error.message) - 1] = '\0';
  enter(s, POP3_STATE_FAILED);
}

void pop3_session_stalled(pop3_session_t *s) {
  if (s->state != POP3_STATE_STAT || !s->stat_pipelined || s->probing ||
      s->lost_pipelined || s->stat_late || s->output_len > 0 ||
      s->line_len > 0 || s->skip > 0)
    return;
  /* NOOP changes nothing and its answer cannot pass for a STAT answer. If
   * STAT was only late, the NOOP's answer is never read: after the STAT
   * answer the session waits for QUIT's, and that state takes any line (or
   * the end of the connection) as the end. */
  s->probing = true;
  queue_command(s, "NOOP", NULL);
}

bool pop3_session_lost_pipelined(const pop3_session_t *s) {
  return s->lost_pipelined;
}

bool pop3_session_login_pipelined(const pop3_session_t *s) {
  return s->pipelining;
}

bool pop3_session_used_cache(const pop3_session_t *s) {
  return s->use_cache && !s->fell_back;
}

bool pop3_session_stat_pipelined(const pop3_session_t *s) {
  return s->stat_pipelined;
}

bool pop3_session_stat_late(const pop3_session_t *s) { return s->stat_late; }

bool pop3_session_burst_failed(const pop3_session_t *s) {
  return s->state == POP3_STATE_FAILED && s->burst_failed;
}

bool pop3_session_cache_stale(const pop3_session_t *s) {
  return s->cache_stale;
}

bool pop3_session_ran_capa(const pop3_session_t *s) { return s->ran_capa; }

pop3_auth_t pop3_session_auth_used(const pop3_session_t *s) {
  return s->auth_used;
}

bool pop3_session_failed(const pop3_session_t *s) {
  return s->state == POP3_STATE_FAILED;
}

const pop3_error_t *pop3_session_error(const pop3_session_t *s) {
  return &s->error;
}

bool pop3_session_stat(const pop3_session_t *s, uint64_t *count,
                       uint64_t *size) {
  if (!s->have_stat)
    return false;
  if (count)
    *count = s->message_count;
  if (size)
    *size = s->mailbox_size;
  return true;
}

const pop3_capabilities_t *pop3_session_capabilities(const pop3_session_t *s) {
  return &s->capabilities;
}

pop3_phase_t pop3_session_phase(const pop3_session_t *s) {
  switch (s->state) {
  case POP3_STATE_GREETING:
  case POP3_STATE_CAPA:
  case POP3_STATE_CAPA_LIST:
    return POP3_PHASE_GREETING;
  case POP3_STATE_STLS:
  case POP3_STATE_TLS_PENDING:
    return POP3_PHASE_TLS;
  case POP3_STATE_USER:
  case POP3_STATE_PASS:
  case POP3_STATE_APOP:
  case POP3_STATE_AUTH:
  case POP3_STATE_AUTH_CANCEL:
    return POP3_PHASE_AUTH;
  case POP3_STATE_STAT:
    return POP3_PHASE_STAT;
  case POP3_STATE_QUIT:
  case POP3_STATE_DONE:
    return POP3_PHASE_QUIT;
  case POP3_STATE_FAILED:
    break;
  }
  return s->error.phase;
}

bool pop3_session_in_line(const pop3_session_t *s) { return s->line_len > 0; }

bool pop3_session_awaits_greeting(const pop3_session_t *s) {
  return s->state == POP3_STATE_GREETING;
}

/* Everything but the buffers, and of the output every byte ever used: the
 * rest of it was never written in this session. */
void pop3_session_clear(pop3_session_t *s) {
  explicit_bzero(s->output, s->output_peak);
  explicit_bzero(s, offsetof(pop3_session_t, line));
}
