/* pop3_session.c: the POP3 client protocol core (RFC 1939, 2449, 2595, 3206;
 * SASL: RFC 5034, 4616, 7628 and XOAUTH2).
 *
 * Each state names the answer the session waits for. The table `states`
 * says, per state, which command asks for that answer and which handler
 * reads it. ask() enters a state and queues its command; a pipelined burst
 * queues several commands at once, the answers expected after the current
 * one wait in s->pipeline.queued, and proceed() moves on to the next answer
 * without sending anything when its command already went out. finish() ends
 * the session. All three change the state through set_state(), the only
 * place that does, which calls the trace hook. A response line is split off
 * the input, checked, then handed to the handler of the current state.
 *
 * The bytes of the login mechanisms (base64, the SASL messages, the APOP
 * digest) come from pop3_sasl.c; this file decides when to send them. */
#define _GNU_SOURCE /* memmem */
#include "pop3_session.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pop3_sasl.h"

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

/* ---- the states -------------------------------------------------------- */

/* Queue the command whose answer a state waits for. */
static void send_capa(pop3_session_t *s);
static void send_stls(pop3_session_t *s);
static void send_user(pop3_session_t *s);
static void send_pass(pop3_session_t *s);
static void send_apop(pop3_session_t *s);
static void send_auth(pop3_session_t *s);
static void send_cancel(pop3_session_t *s);
static void send_stat(pop3_session_t *s);
static void send_quit(pop3_session_t *s);

/* Handle one line of the answer a state waits for (CRLF stripped, no NUL). */
static void on_greeting(pop3_session_t *s, text_t line);
static void on_capa(pop3_session_t *s, text_t line);
static void on_capa_line(pop3_session_t *s, text_t line);
static void on_stls(pop3_session_t *s, text_t line);
static void on_user(pop3_session_t *s, text_t line);
static void on_pass(pop3_session_t *s, text_t line);
static void on_apop(pop3_session_t *s, text_t line);
static void on_auth(pop3_session_t *s, text_t line);
static void on_cancel(pop3_session_t *s, text_t line);
static void on_stat(pop3_session_t *s, text_t line);
static void on_quit(pop3_session_t *s, text_t line);
static void on_top(pop3_session_t *s, text_t line);
static void on_top_line(pop3_session_t *s, text_t line);
static void on_noop(pop3_session_t *s, text_t line);
static void on_uidl(pop3_session_t *s, text_t line);
static void on_dele(pop3_session_t *s, text_t line);

typedef struct {
  const char *name;    /* pop3_state_name */
  const char *awaited; /* what the session waits for, for messages */
  pop3_phase_t phase;  /* pop3_session_phase (FAILED: the error's) */
  void (*send)(pop3_session_t *s);              /* NULL: nothing to send */
  void (*on_line)(pop3_session_t *s, text_t line); /* NULL: reads nothing */
} state_info_t;

#define STATE(id, awaited, phase, send, on_line)                               \
  [POP3_STATE_##id] = {#id, awaited, POP3_PHASE_##phase, send, on_line}

static const state_info_t states[] = {
    STATE(GREETING, "greeting", GREETING, NULL, on_greeting),
    STATE(CAPA, "CAPA answer", GREETING, send_capa, on_capa),
    STATE(CAPA_LIST, "CAPA answer", GREETING, NULL, on_capa_line),
    STATE(STLS, "STLS answer", TLS, send_stls, on_stls),
    STATE(TLS_PENDING, "TLS handshake", TLS, NULL, NULL),
    STATE(USER, "USER answer", AUTH, send_user, on_user),
    STATE(PASS, "PASS answer", AUTH, send_pass, on_pass),
    STATE(STAT, "STAT answer", STAT, send_stat, on_stat),
    STATE(QUIT, "QUIT answer", QUIT, send_quit, on_quit),
    STATE(DONE, "end of the session", QUIT, NULL, NULL),
    STATE(FAILED, "end of the session", QUIT, NULL, NULL),
    STATE(APOP, "APOP answer", AUTH, send_apop, on_apop),
    STATE(AUTH, "AUTH answer", AUTH, send_auth, on_auth),
    STATE(AUTH_CANCEL, "AUTH answer", AUTH, send_cancel, on_cancel),
    /* the headers count as STAT's phase: the values are not in yet */
    STATE(TOP, "TOP answer", STAT, NULL, on_top),
    STATE(TOP_LIST, "TOP answer", STAT, NULL, on_top_line),
    STATE(NOOP, "NOOP answer", STAT, NULL, on_noop),
    STATE(UIDL, "UIDL answer", STAT, NULL, on_uidl),
    STATE(DELE, "DELE answer", STAT, NULL, on_dele),
};

#undef STATE

#define STATE_COUNT (sizeof(states) / sizeof(states[0]))
_Static_assert(STATE_COUNT == POP3_STATE_DELE + 1,
               "every state has a row in the table");

const char *pop3_state_name(pop3_state_t state) {
  if ((size_t)state < STATE_COUNT && states[state].name != NULL)
    return states[state].name;
  return "unknown";
}

/* What the session is waiting for, for messages. */
static const char *awaited(const pop3_session_t *s) {
  return states[s->state].awaited;
}

/* The one place the state changes. */
static void set_state(pop3_session_t *s, pop3_state_t next) {
  pop3_state_t from = s->state;
  s->state = next;
  if (s->options.trace != NULL)
    s->options.trace(s->options.trace_arg, from, next);
}

static bool ended(const pop3_session_t *s) {
  return s->state == POP3_STATE_DONE || s->state == POP3_STATE_FAILED;
}

/* ---- output ------------------------------------------------------------ */

static void note_output(pop3_session_t *s, size_t len) {
  s->output_len += len;
  if (s->output_len > s->output_peak)
    s->output_peak = s->output_len;
}

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
  note_output(s, len);
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
                         const void *raw, size_t raw_len) {
  size_t prefix_len = prefix ? strlen(prefix) : 0;
  size_t len = prefix_len + pop3_base64_length(raw_len) + 2;
  if (len > limit || len > sizeof(s->output) - s->output_len)
    return false;
  char *p = s->output + s->output_len;
  if (prefix_len > 0) /* memcpy with a NULL source is undefined, even for 0 */
    memcpy(p, prefix, prefix_len);
  pop3_base64_encode(raw, raw_len, p + prefix_len);
  memcpy(p + len - 2, "\r\n", 2);
  note_output(s, len);
  return true;
}

static void cleanse_output(pop3_session_t *s) {
  explicit_bzero(s->output, s->output_peak);
  s->output_len = 0;
}

/* ---- moving on --------------------------------------------------------- */

/* Enters `next` and queues the command whose answer it waits for. The state
 * comes first: a command that cannot be sent fails the session from the
 * state that tried to send it. */
static void ask(pop3_session_t *s, pop3_state_t next) {
  set_state(s, next);
  if (states[next].send != NULL)
    states[next].send(s);
}

/* On to the answer of `next`: already sent in a burst, or sent now. */
static void proceed(pop3_session_t *s, pop3_state_t next) {
  if (s->pipeline.queued_len > 0 && s->pipeline.queued[0] == next) {
    s->pipeline.queued_len--;
    memmove(s->pipeline.queued, s->pipeline.queued + 1,
            s->pipeline.queued_len * sizeof(s->pipeline.queued[0]));
    set_state(s, next);
    return;
  }
  s->pipeline.queued_len = 0;
  ask(s, next);
}

/* Ends the session, DONE or FAILED: whatever is still queued is dropped. */
static void finish(pop3_session_t *s, pop3_state_t end) {
  set_state(s, end);
  cleanse_output(s);
  s->pipeline.queued_len = 0;
}

/* The message age is given up: why, once (the first reason stands). */
static void age_given_up(pop3_session_t *s, const char *why) {
  pop3_age_t *age = &s->age.result;
  if (!age->wanted || age->done)
    return;
  snprintf(age->problem, sizeof(age->problem), "%.*s",
           (int)sizeof(age->problem) - 1, why);
  age->done = true;
}

/* The one rule for every failure: once STAT is answered the collection has
 * what it came for, and nothing later (TOP, QUIT, EOF, timeouts) can spoil
 * it: the session finishes DONE instead, and only the message age, when it
 * was still being read, is lost (`why` says how). Returns true when the
 * failure is to be dropped: so, or because the session has ended already. */
static bool finish_instead_of_failing(pop3_session_t *s, const char *why) {
  if (ended(s))
    return true;
  if (s->stat.have) {
    age_given_up(s, why);
    if (s->loop.result.wanted && !s->loop.result.done &&
        s->loop.result.problem[0] == '\0')
      snprintf(s->loop.result.problem, sizeof(s->loop.result.problem),
               "%.*s", (int)sizeof(s->loop.result.problem) - 1, why);
    s->loop.result.done = true;
    finish(s, POP3_STATE_DONE);
    return true;
  }
  return false;
}

/* Waiting for the answer to a STAT that went out in the login's burst, or
 * went again after the burst was lost: the connection is suspect. */
static bool burst_pending(const pop3_session_t *s) {
  return s->state == POP3_STATE_STAT && s->pipeline.stat_sent;
}

__attribute__((format(printf, 4, 5))) static void
fail_in(pop3_session_t *s, pop3_phase_t phase, pop3_failure_t failure,
        const char *format, ...) {
  if (ended(s))
    return;
  char message[POP3_ERROR_MAX];
  va_list ap;
  va_start(ap, format);
  vsnprintf(message, sizeof(message), format, ap);
  va_end(ap);
  if (finish_instead_of_failing(s, message))
    return;
  pop3_error_set(&s->error, phase, failure, "%s", message);
  /* whatever went wrong, it may be the burst's doing: worth a lock-step try */
  s->pipeline.failed = burst_pending(s);
  finish(s, POP3_STATE_FAILED);
}

#define fail(s, failure, ...)                                                  \
  fail_in(s, pop3_session_phase(s), failure, __VA_ARGS__)

#define fail_auth(s, failure, ...)                                             \
  fail_in(s, POP3_PHASE_AUTH, failure, __VA_ARGS__)

static void ask_first_headers(pop3_session_t *s);
static void next_answer(pop3_session_t *s);
static bool loop_on(const pop3_session_t *s);

/* ---- pipelining -------------------------------------------------------- */

/* Records that the answer to `state` will follow the current one. */
static void expect_later(pop3_session_t *s, pop3_state_t state) {
  if (s->pipeline.queued_len < POP3_PIPELINE_MAX)
    s->pipeline.queued[s->pipeline.queued_len++] = state;
}

/* After the last line of a login: STAT in the same burst. QUIT never
 * goes in a burst. A server closes on QUIT, and whatever it has not read
 * by then (the NOOP of a silence probe) makes its kernel reset the
 * connection, which can destroy answers not yet sent; and QUIT ends the
 * session in any state, so behind a login it would leave no way back if
 * that login is refused. */
static void pipeline_rest(pop3_session_t *s) {
  if (!s->pipeline.stat)
    return;
  if (!queue_command(s, "STAT", NULL))
    return; /* no room: lock-step then */
  expect_later(s, POP3_STATE_STAT);
  s->pipeline.stat_sent = true;
  ask_first_headers(s);
}

/* ---- commands: CAPA, STLS, USER/PASS, APOP, STAT, QUIT ----------------- */

static void send_capa(pop3_session_t *s) { queue_command(s, "CAPA", NULL); }

static void send_stls(pop3_session_t *s) { queue_command(s, "STLS", NULL); }

static void send_stat(pop3_session_t *s) {
  if (queue_command(s, "STAT", NULL))
    ask_first_headers(s);
}

static void send_quit(pop3_session_t *s) { queue_command(s, "QUIT", NULL); }

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

/* USER, and with PIPELINING PASS (and what pipeline_rest adds) with it. */
static void send_user(pop3_session_t *s) {
  if (queue_credential(s, "USER", s->options.user, "user name") &&
      s->pipeline.login &&
      queue_credential(s, "PASS", s->options.password, "password")) {
    expect_later(s, POP3_STATE_PASS);
    pipeline_rest(s);
  }
}

static void send_pass(pop3_session_t *s) {
  if (queue_credential(s, "PASS", s->options.password, "password"))
    pipeline_rest(s);
}

/* The greeting's APOP timestamp, kept raw: the digest covers the exact
 * bytes. */
static void find_timestamp(pop3_session_t *s, text_t text) {
  const char *start = NULL;
  size_t len =
      pop3_apop_timestamp(text.data, text.len, POP3_TIMESTAMP_MAX, &start);
  if (len > 0)
    memcpy(s->timestamp, start, len);
  s->timestamp[len] = '\0';
}

static void send_apop(pop3_session_t *s) {
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
  char hex[2 * POP3_MD5_SIZE + 1];
  pop3_apop_digest(s->timestamp, s->options.password, hex);
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

/* ---- commands: AUTH and the SASL responses ----------------------------- */

/* A control byte; with strict, also a space or a byte beyond ASCII. */
static bool has_control(const char *value, bool strict) {
  for (const unsigned char *p = (const unsigned char *)value; *p; p++)
    if (*p < 0x20 || *p == 0x7f || (strict && (*p == ' ' || *p > 0x7f)))
      return true;
  return false;
}

/* What a bearer mechanism sends besides the user name. */
static bool token_inputs_ok(pop3_session_t *s) {
  const pop3_session_options_t *o = &s->options;
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
  return false;
}

/* Checks what the mechanism will send; fails the session when unusable. */
static bool sasl_inputs_ok(pop3_session_t *s) {
  const pop3_session_options_t *o = &s->options;
  if (o->user == NULL || o->user[0] == '\0') {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "no user name configured");
  } else if (strlen(o->user) > POP3_SASL_USER_MAX) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT,
              "the user name is too long (%zu bytes, at most %d)",
              strlen(o->user), POP3_SASL_USER_MAX);
  } else if (strpbrk(o->user, "\r\n") != NULL) {
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the user name contains a line break");
  } else if (pop3_auth_uses_token(s->auth_used)) {
    return token_inputs_ok(s);
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

/* The one client message of PLAIN, XOAUTH2 or OAUTHBEARER, before base64:
 * its length, written to dst when it fits in size (see pop3_sasl.h). */
static size_t sasl_message(const pop3_session_t *s, unsigned char *dst,
                           size_t size) {
  const pop3_session_options_t *o = &s->options;
  switch (s->auth_used) {
  case POP3_AUTH_PLAIN:
    return pop3_sasl_plain(o->user, o->password, dst, size);
  case POP3_AUTH_XOAUTH2:
    return pop3_sasl_xoauth2(o->user, o->token, dst, size);
  case POP3_AUTH_OAUTHBEARER:
    return pop3_sasl_oauthbearer(o->user, o->host, o->port, o->token, dst,
                                 size);
  case POP3_AUTH_AUTO:
  case POP3_AUTH_USER:
  case POP3_AUTH_APOP:
  case POP3_AUTH_LOGIN:
    break;
  }
  return 0;
}

/* Queues the SASL message: after "AUTH <MECH> " when the command stays
 * within 255 octets (RFC 5034 4), else alone as a continuation line, which
 * has no such limit. */
static bool queue_sasl_message(pop3_session_t *s, bool as_initial) {
  unsigned char raw[SASL_RAW_MAX];
  size_t n = sasl_message(s, raw, sizeof(raw));
  if (n > sizeof(raw))
    return false; /* not written: the checked inputs always fit */
  char prefix[32];
  snprintf(prefix, sizeof(prefix), "AUTH %s ", sasl_name(s->auth_used));
  bool ok = as_initial ? queue_base64(s, POP3_COMMAND_MAX, prefix, raw, n)
                       : queue_base64(s, sizeof(s->output), NULL, raw, n);
  explicit_bzero(raw, n);
  return ok;
}

static bool sasl_fits_initial(const pop3_session_t *s) {
  size_t n = sasl_message(s, NULL, 0);
  return strlen("AUTH ") + strlen(sasl_name(s->auth_used)) + 1 +
             pop3_base64_length(n) + 2 <=
         POP3_COMMAND_MAX;
}

/* The AUTH command, with the initial response when it fits. */
static void send_auth(pop3_session_t *s) {
  s->sasl.step = 0;
  s->sasl.initial = false;
  s->sasl.token_status[0] = '\0';
  if (!sasl_inputs_ok(s))
    return;
  bool sent;
  if (s->auth_used != POP3_AUTH_LOGIN && sasl_fits_initial(s)) {
    sent = queue_sasl_message(s, true);
    s->sasl.initial = true;
    s->sasl.step = 1;
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
  if (s->sasl.initial && s->auth_used == POP3_AUTH_PLAIN)
    pipeline_rest(s);
}

static void send_cancel(pop3_session_t *s) {
  queue_response(s, POP3_SASL_CANCEL);
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

/* The state whose command starts a login with mech. */
static pop3_state_t login_state(pop3_auth_t mech) {
  switch (mech) {
  case POP3_AUTH_USER:
    return POP3_STATE_USER;
  case POP3_AUTH_APOP:
    return POP3_STATE_APOP;
  default:
    return POP3_STATE_AUTH;
  }
}

/* The capabilities are settled (CAPA, or the cache): log in. */
static void start_login(pop3_session_t *s) {
  s->capabilities.apop_hint = s->timestamp[0] != '\0';
  pop3_auth_t mech = choose(s);
  if (mech == POP3_AUTH_AUTO) {
    if (s->cache.use) {
      /* The memory says no, but it may be old: ask the server. */
      s->cache.use = false;
      reset_capabilities(s, NULL);
      ask(s, POP3_STATE_CAPA);
    } else {
      no_mechanism(s);
    }
    return;
  }
  s->auth_used = mech;
  s->cache.login = s->cache.use;
  /* after a stale cache, the second attempt goes lock-step */
  s->pipeline.login = s->capabilities.known && s->capabilities.pipelining &&
                      !s->cache.fell_back;
  s->pipeline.stat = s->pipeline.login && s->options.pipeline_login &&
                     !(s->options.lockstep_methods & (1u << mech));
  ask(s, login_state(mech));
}

static void after_capabilities(pop3_session_t *s) {
  s->cache.ran_capa = true;
  if (!s->options.starttls || s->tls_active) {
    start_login(s);
  } else if (s->capabilities.known && !s->capabilities.stls) {
    /* Fail closed: logging in over plaintext is what StartTLS prevents. */
    fail_in(s, POP3_PHASE_TLS, POP3_FAIL_NO_STLS,
            "StartTLS required but the server does not offer STLS");
  } else {
    /* Without a capability list, asking is the only way to know. */
    ask(s, POP3_STATE_STLS);
  }
}

/* After the greeting, or after the TLS handshake StartTLS asked for. */
static void after_greeting(pop3_session_t *s) {
  if (!s->cache.use) {
    ask(s, POP3_STATE_CAPA);
  } else if (s->options.starttls && !s->tls_active) {
    /* STLS alone: nothing may be pipelined behind it (RFC 2595). */
    ask(s, POP3_STATE_STLS);
  } else {
    reset_capabilities(s, s->options.cached);
    start_login(s);
  }
}

/* ---- reading answers ---------------------------------------------------- */

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

/* A status line: *ok and the text after the status in *rest. Anything else
 * fails the session; returns whether the line was one. */
static bool read_status(pop3_session_t *s, text_t line, bool *ok,
                        text_t *rest) {
  *rest = (text_t){line.data, 0};
  status_t status = parse_status(line, rest);
  if (status == STATUS_INVALID) {
    char quoted[POP3_SERVER_TEXT_MAX + 1];
    fail(s, POP3_FAIL_PROTOCOL, "expected \"+OK\" or \"-ERR\", got \"%s\"",
         quote(quoted, line));
    return false;
  }
  *ok = status == STATUS_OK;
  return true;
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

/* LOGIN-DELAY is believed only from the answer to a login command, and
 * never from plaintext a StartTLS monitor reads before TLS: anyone on the
 * path could write it there to silence the monitor. */
static bool login_delay_trusted(const pop3_session_t *s) {
  bool login = s->state == POP3_STATE_USER || s->state == POP3_STATE_PASS ||
               s->state == POP3_STATE_APOP || s->state == POP3_STATE_AUTH;
  return login && (!s->options.starttls || s->tls_active);
}

/* A -ERR that ends the session: "<what> [CODE]: "server text"<after>". */
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
      s->pipeline.failed = false;
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
  if (!s->cache.login)
    return false;
  pop3_code_t code = parse_response_code(text).code;
  if (!any_code && code != POP3_CODE_NONE && code != POP3_CODE_OTHER)
    return false; /* [AUTH], [IN-USE], [SYS/...]: a real answer */
  s->cache.stale = true;
  s->cache.use = false;
  s->cache.login = false;
  s->cache.fell_back = true;
  s->pipeline.skip = (unsigned)s->pipeline.queued_len;
  s->pipeline.queued_len = 0;
  s->pipeline.stat_sent = false;
  reset_capabilities(s, NULL);
  ask(s, POP3_STATE_CAPA);
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
  } else if (is_word(name, "TOP", "")) {
    caps->top = true;
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

/* ---- one handler per state ---------------------------------------------- */

static void on_greeting(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  if (!ok) {
    refuse(s, "server refused the connection", rest);
    return;
  }
  quote(s->greeting, rest);
  find_timestamp(s, rest);
  s->capabilities.apop_hint = s->timestamp[0] != '\0';
  after_greeting(s);
}

static void on_capa(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  /* -ERR only means the server predates RFC 2449. */
  s->capabilities.known = ok;
  if (ok)
    set_state(s, POP3_STATE_CAPA_LIST);
  else
    after_capabilities(s);
}

static void on_capa_line(pop3_session_t *s, text_t line) {
  if (line.len == 1 && line.data[0] == '.') {
    after_capabilities(s);
    return;
  }
  s->capa.bytes += line.len;
  if (++s->capa.lines > POP3_CAPA_LINES_MAX ||
      s->capa.bytes > POP3_CAPA_BYTES_MAX) {
    fail(s, POP3_FAIL_PROTOCOL,
         "capability list too long (more than %d lines or %d bytes)",
         POP3_CAPA_LINES_MAX, POP3_CAPA_BYTES_MAX);
    return;
  }
  if (line.len > 0 && line.data[0] == '.') /* dot-stuffed */
    line = text_after(line, 1);
  parse_capability(&s->capabilities, line);
}

static void on_stls(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  if (ok) {
    set_state(s, POP3_STATE_TLS_PENDING);
    return;
  }
  if (s->cache.use)
    s->cache.stale = true; /* still a failure: never fall back to clear */
  refuse(s, "server refused STLS", rest);
}

/* The answer to a login command: on to `next`, or refused as `what`. */
static void on_login_answer(pop3_session_t *s, text_t line, pop3_state_t next,
                            const char *what, const char *after) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  if (ok)
    proceed(s, next);
  else
    login_refused(s, what, rest, after);
}

static void on_user(pop3_session_t *s, text_t line) {
  on_login_answer(s, line, POP3_STATE_PASS, "server refused the login name",
                  "");
}

static void on_pass(pop3_session_t *s, text_t line) {
  on_login_answer(s, line, POP3_STATE_STAT, "server refused the login", "");
}

static void on_apop(pop3_session_t *s, text_t line) {
  on_login_answer(s, line, POP3_STATE_STAT, "server refused the login",
                  " (APOP)");
}

/* PLAIN's or a bearer token's message, asked for by a bare "+" because it
 * did not fit the AUTH command. */
static void reply_with_message(pop3_session_t *s) {
  s->sasl.step = 1;
  if (!queue_sasl_message(s, false))
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the SASL %s message does not fit",
              sasl_name(s->auth_used));
  else if (s->auth_used == POP3_AUTH_PLAIN)
    pipeline_rest(s);
}

/* LOGIN's "Username:" and "Password:" challenges. */
static void reply_to_login(pop3_session_t *s) {
  const char *value = pop3_sasl_login_reply(s->sasl.step, s->options.user,
                                            s->options.password);
  s->sasl.step++;
  if (!queue_base64(s, sizeof(s->output), NULL, value, strlen(value)))
    fail_auth(s, POP3_FAIL_BAD_ARGUMENT, "the SASL LOGIN reply does not fit");
  else if (s->sasl.step == 2)
    pipeline_rest(s);
}

/* The token was refused; the server waits for a dummy reply before its
 * -ERR (RFC 7628 3.2.3, and XOAUTH2 alike). */
static void reply_to_token_error(pop3_session_t *s, text_t challenge) {
  pop3_sasl_token_status(challenge.data, challenge.len, s->sasl.token_status,
                         sizeof(s->sasl.token_status));
  s->sasl.step = 2;
  queue_response(s, s->auth_used == POP3_AUTH_OAUTHBEARER
                        ? POP3_SASL_OAUTHBEARER_ERROR_REPLY
                        : POP3_SASL_XOAUTH2_ERROR_REPLY);
}

static void unexpected_challenge(pop3_session_t *s, text_t challenge) {
  pop3_sanitize(s->sasl.challenge, sizeof(s->sasl.challenge), challenge.data,
                challenge.len);
  if (s->pipeline.queued_len > 0) {
    /* STAT went out behind the AUTH: the server reads it as a SASL
     * response, so a "*" would come too late. End here. */
    fail_auth(s, POP3_FAIL_PROTOCOL,
              "server sent an unexpected SASL %s challenge \"%s\" to a "
              "pipelined login",
              sasl_name(s->auth_used), s->sasl.challenge);
    s->pipeline.failed = true;
    return;
  }
  ask(s, POP3_STATE_AUTH_CANCEL);
}

/* A SASL challenge ("+ base64", or a bare "+") while in an exchange. */
static void on_challenge(pop3_session_t *s, text_t challenge) {
  pop3_auth_t mech = s->auth_used;
  bool token = pop3_auth_uses_token(mech);
  if ((mech == POP3_AUTH_PLAIN || token) && s->sasl.step == 0)
    reply_with_message(s);
  else if (mech == POP3_AUTH_LOGIN && s->sasl.step < 2)
    reply_to_login(s);
  else if (token && s->sasl.step == 1)
    reply_to_token_error(s, challenge);
  else
    unexpected_challenge(s, challenge);
}

static void on_auth_refused(pop3_session_t *s, text_t rest) {
  /* "server refused the login [AUTH]: "..."" stays the start of every
   * refused login, whatever the mechanism: logs and checks look for it. */
  const char *what = "server refused the login";
  char after[128];
  if (s->sasl.token_status[0] != '\0') {
    snprintf(after, sizeof(after), " (SASL %s, token status \"%s\")",
             sasl_name(s->auth_used), s->sasl.token_status);
    refuse_with(s, what, rest, after);
    return;
  }
  snprintf(after, sizeof(after), " (SASL %s)", sasl_name(s->auth_used));
  /* Once the server took part in the exchange it knows the mechanism. Before
   * that, a refusal says the mechanism is not (or no longer) available when
   * nothing carried the credentials yet, or when it says so: Dovecot answers
   * "-ERR [AUTH] Unsupported authentication mechanism.", code and all. */
  bool exchanged = s->sasl.step > (s->sasl.initial ? 1u : 0u);
  bool mechanism = s->sasl.step == 0 || text_has_word(rest, "mechanism");
  if (exchanged || !fall_back_if_stale(s, rest, mechanism))
    refuse_with(s, what, rest, after);
}

static void on_auth(pop3_session_t *s, text_t line) {
  if (is_word(line, "+", " ")) {
    on_challenge(s, skip_spaces(text_after(line, 1)));
    return;
  }
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  if (ok)
    proceed(s, POP3_STATE_STAT);
  else
    on_auth_refused(s, rest);
}

/* Whatever answers the "*", the exchange went wrong. */
static void on_cancel(pop3_session_t *s, text_t line) {
  (void)line;
  fail_auth(s, POP3_FAIL_PROTOCOL,
            "server sent an unexpected SASL %s challenge \"%s\"; cancelled "
            "the login",
            sasl_name(s->auth_used), s->sasl.challenge);
}

/* The first answer after the NOOP of pop3_session_stalled(): a STAT answer
 * means STAT was only late; a bare +OK is the NOOP's, so STAT was lost and
 * goes again, lock-step. Returns whether the line was taken. */
static bool on_probe_answer(pop3_session_t *s, bool ok, text_t rest) {
  uint64_t count, size;
  const char *field;
  s->pipeline.probing = false;
  if (ok && parse_stat(rest, &count, &size, &field) == NUMBER_OK) {
    s->pipeline.stat_late = true;
    return false; /* the STAT answer: handled as usual */
  }
  if (!ok)
    return false; /* a refusal of STAT (or NOOP): a burst failure */
  s->pipeline.lost = true;
  s->pipeline.queued_len = 0;
  ask(s, POP3_STATE_STAT);
  return true;
}

static void on_stat(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  if (s->pipeline.probing && on_probe_answer(s, ok, rest))
    return;
  if (!ok) {
    refuse(s, "server refused STAT", rest);
    return;
  }
  uint64_t count = 0, size = 0;
  const char *field;
  number_status_t status = parse_stat(rest, &count, &size, &field);
  if (status != NUMBER_OK) {
    char quoted[POP3_SERVER_TEXT_MAX + 1];
    fail(s, POP3_FAIL_PROTOCOL, "STAT answer has %s %s: \"%s\"",
         number_problem(status), field, quote(quoted, line));
    return;
  }
  s->stat.count = count;
  s->stat.size = size;
  s->stat.have = true;
  s->age.result.wanted = s->options.age_scan > 0;
  s->loop.result.wanted = loop_on(s);
  next_answer(s);
}

/* The numbers are in; how the server says goodbye does not matter. */
static void on_quit(pop3_session_t *s, text_t line) {
  (void)line;
  finish(s, POP3_STATE_DONE);
}

/* ---- after STAT: headers (TOP n 0), and the mail loop's UIDL and DELE ---- */

/* The messages whose header is read: the first age_scan (the age) and the
 * last max(age_scan, loop_scan) (the age, and the mail loop's probes, which
 * arrive last), each once, in ascending order. Before STAT is answered only
 * the first ones are known to be wanted (a TOP beyond the end just gets
 * -ERR). */
static uint64_t tail_scan(const pop3_session_t *s) {
  unsigned age = s->options.age_scan, loop = s->options.loop_scan;
  return age > loop ? age : loop;
}

static uint64_t next_message(const pop3_session_t *s) {
  uint64_t head = s->options.age_scan, tail = tail_scan(s), n = s->age.next;
  if (!s->stat.have)
    return n <= head ? n : 0;
  uint64_t count = s->stat.count;
  if (n <= head && n <= count)
    return n;
  if (count > tail && n < count - tail + 1)
    n = count - tail + 1;
  return n <= count ? n : 0;
}

static bool loop_on(const pop3_session_t *s) {
  return s->options.loop_scan > 0 && s->options.loop_probe != NULL;
}

static bool can_pipeline(const pop3_session_t *s) {
  return s->capabilities.known && s->capabilities.pipelining;
}

/* Whether TOP may be asked: RFC 1939 makes it optional, and a server that
 * lists its capabilities lists TOP when it has it. */
static bool top_offered(pop3_session_t *s) {
  if (!s->capabilities.known || s->capabilities.top)
    return true;
  s->age.stopped = true;
  return false;
}

/* Sends "VERB n" and expects its answer after those already expected:
 * false when there is no room (in the output, or in the pipeline). */
static bool queue_numbered(pop3_session_t *s, const char *verb, uint64_t n,
                           const char *suffix) {
  if (s->pipeline.queued_len >= POP3_PIPELINE_MAX)
    return false;
  char argument[32];
  snprintf(argument, sizeof(argument), "%llu%s", (unsigned long long)n,
           suffix);
  return queue_command(s, verb, argument);
}

/* With the mail loop, a message's UIDL follows its TOP: a probe's unique
 * id is checked again just before DELE. */
static bool uidl_with_top(const pop3_session_t *s) {
  return loop_on(s) && !s->loop.stopped && can_pipeline(s);
}

/* TOP n 0 for the next message (and UIDL n with the mail loop), or false
 * when there is none or no room. `first`: the state waits for its answer;
 * otherwise it is expected later. */
static bool queue_top(pop3_session_t *s, bool first) {
  uint64_t n = next_message(s);
  bool uidl = uidl_with_top(s);
  /* both commands fit, or neither goes: a TOP without its expected
   * answers would put every later answer out of step */
  if (n == 0 || s->age.asked_len >= sizeof(s->age.asked) / sizeof(n) ||
      s->pipeline.queued_len + 2 > POP3_PIPELINE_MAX ||
      sizeof(s->output) - s->output_len < 2 * (POP3_COMMAND_MAX / 4))
    return false;
  if (!queue_numbered(s, "TOP", n, " 0") ||
      (uidl && !queue_numbered(s, "UIDL", n, "")))
    return false;
  if (first)
    set_state(s, POP3_STATE_TOP);
  else
    expect_later(s, POP3_STATE_TOP);
  if (uidl)
    expect_later(s, POP3_STATE_UIDL);
  s->age.asked[s->age.asked_len++] = n;
  s->age.next = n + 1;
  return true;
}

/* STAT is being sent: with PIPELINING the first headers go in its burst,
 * so that reading them costs no round trip. Their answers follow STAT's. */
static void ask_first_headers(pop3_session_t *s) {
  s->age.asked_len = 0;
  s->age.next = 1;
  if (s->options.age_scan == 0 || !can_pipeline(s) || !top_offered(s))
    return;
  while (queue_top(s, false))
    ;
}

static bool reading_headers(const pop3_session_t *s) {
  return s->age.result.wanted || s->loop.result.wanted;
}

/* Asks for the next headers: all that are left in one burst with
 * PIPELINING, else one at a time. False when there is nothing to ask. */
static bool ask_more_headers(pop3_session_t *s) {
  if (!reading_headers(s) || s->age.stopped || !top_offered(s) ||
      !queue_top(s, true))
    return false;
  while (can_pipeline(s) && queue_top(s, false))
    ;
  return true;
}

static void age_done(pop3_session_t *s) {
  pop3_age_t *age = &s->age.result;
  if (!age->wanted || age->done)
    return;
  if (!s->capabilities.top && s->capabilities.known)
    age_given_up(s, "the server does not offer TOP (not in its CAPA list)");
  else if (age->read > 0 && age->dated == 0)
    age_given_up(s, "no message header read has a Received: or Date: "
                    "field with a valid date");
  age->done = true;
}

/* The mail loop can no longer delete: why, once. */
static void loop_stopped(pop3_session_t *s, const char *why) {
  pop3_loop_t *loop = &s->loop.result;
  s->loop.stopped = true;
  if (loop->wanted && loop->problem[0] == '\0')
    snprintf(loop->problem, sizeof(loop->problem), "%.*s",
             (int)sizeof(loop->problem) - 1, why);
}

/* The mail loop's next batch: each probe's UIDL again (its check), then
 * DELE for those whose unique id is unchanged. False when none is left. */
static bool ask_loop(pop3_session_t *s) {
  pop3_loop_t *loop = &s->loop.result;
  if (loop->wanted && s->capabilities.known && !s->capabilities.top)
    loop_stopped(s, "the server does not offer TOP (not in its CAPA list)");
  if (!loop->wanted || s->loop.stopped)
    return false;
  bool checking = s->loop.checked < loop->found_len;
  unsigned *i = checking ? &s->loop.checked : &s->loop.deleting;
  bool first = true;
  for (; *i < loop->found_len; (*i)++) {
    pop3_probe_t *p = &loop->found[*i];
    if (p->uid[0] == '\0' || (!checking && !p->verified))
      continue;
    if (!first && !can_pipeline(s))
      break;
    if (!queue_numbered(s, checking ? "UIDL" : "DELE", p->n, ""))
      break;
    pop3_state_t state = checking ? POP3_STATE_UIDL : POP3_STATE_DELE;
    if (first)
      set_state(s, state);
    else
      expect_later(s, state);
    first = false;
  }
  if (first && checking)
    return ask_loop(s); /* nothing to check: on to DELE */
  return !first;
}

/* Whether commands are still to be sent after the answers expected now. */
static bool more_to_ask(const pop3_session_t *s) {
  const pop3_loop_t *loop = &s->loop.result;
  bool headers = reading_headers(s) && !s->age.stopped && next_message(s) != 0;
  bool probes = loop->wanted && !s->loop.stopped &&
                (s->loop.checked < loop->found_len ||
                 s->loop.deleting < loop->found_len);
  return headers || probes;
}

/* After an answer once STAT is in: the next one already asked for, or the
 * next headers, or the mail loop's next batch, or QUIT. */
static void next_answer(pop3_session_t *s) {
  bool only_noop = s->pipeline.queued_len == 1 &&
                   s->pipeline.queued[0] == POP3_STATE_NOOP;
  bool more = more_to_ask(s);
  if (only_noop && !more) {
    /* QUIT's state takes the NOOP's answer, or any line, as the end */
    s->pipeline.queued_len = 0;
  } else if (s->pipeline.queued_len > 0) {
    proceed(s, s->pipeline.queued[0]);
    return;
  }
  if (ask_more_headers(s))
    return;
  age_done(s);
  if (ask_loop(s))
    return;
  s->loop.result.done = true;
  ask(s, POP3_STATE_QUIT);
}

static void on_top(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  uint64_t n = s->age.asked_len > 0 ? s->age.asked[0] : 0;
  if (s->age.asked_len > 0)
    memmove(s->age.asked, s->age.asked + 1,
            --s->age.asked_len * sizeof(s->age.asked[0]));
  s->age.current = n;
  if (ok) {
    s->age.bytes = 0;
    s->age.skipping = false;
    pop3_headers_init(&s->age.headers);
    if (loop_on(s))
      pop3_headers_watch(&s->age.headers, s->options.loop_header);
    set_state(s, POP3_STATE_TOP_LIST);
    return;
  }
  if (n <= s->stat.count) {
    /* the message exists: the server will not show headers */
    char quoted[POP3_SERVER_TEXT_MAX + 1], why[POP3_ERROR_MAX];
    snprintf(why, sizeof(why), "server refused TOP %llu 0: \"%s\"",
             (unsigned long long)n, quote(quoted, rest));
    s->age.stopped = true;
    age_given_up(s, why);
    loop_stopped(s, why);
  }
  next_answer(s);
}

/* A header of one of this monitor's probes: kept for the mail loop, and
 * left out of the age (the plugin deletes it). */
static bool probe_found(pop3_session_t *s, int64_t date, bool dated) {
  const char *value;
  size_t len;
  int64_t sent_ms;
  if (!loop_on(s) ||
      !pop3_headers_watched(&s->age.headers, &value, &len))
    return false;
  pop3_loop_t *loop = &s->loop.result;
  if (!s->options.loop_probe(s->options.loop_arg, value, len, &sent_ms)) {
    loop->lookalikes++;
    return false;
  }
  if (loop->found_len >= POP3_LOOP_PROBES_MAX)
    return true; /* the next collection deletes the rest */
  pop3_probe_t *p = &loop->found[loop->found_len++];
  memset(p, 0, sizeof(*p));
  p->n = s->age.current;
  p->sent_ms = sent_ms;
  p->received = date;
  p->dated = dated;
  return true;
}

/* The end of one header: its date joins the oldest and the newest, unless
 * it is a probe of the mail loop. */
static void header_read(pop3_session_t *s) {
  pop3_age_t *age = &s->age.result;
  int64_t date = 0;
  pop3_date_source_t source = POP3_DATE_NONE;
  bool dated = pop3_headers_date(&s->age.headers, &date, &source);
  s->loop.result.scanned += loop_on(s);
  if (probe_found(s, date, dated))
    return;
  age->read++; /* searched for probes too: more messages, a closer age */
  if (!dated)
    return;
  if (age->dated == 0 || date < age->oldest) {
    age->oldest = date;
    age->oldest_source = source;
  }
  if (age->dated == 0 || date > age->newest) {
    age->newest = date;
    age->newest_source = source;
  }
  age->dated++;
}

/* Counts header bytes; false (and the session ends, keeping its values)
 * once a header is longer than anyone writes. */
static bool header_bytes(pop3_session_t *s, size_t n) {
  s->age.bytes += n;
  if (s->age.bytes <= POP3_AGE_HEADER_MAX)
    return true;
  char why[POP3_ERROR_MAX];
  snprintf(why, sizeof(why),
           "the header of message %llu is longer than %d bytes",
           (unsigned long long)s->age.current, POP3_AGE_HEADER_MAX);
  loop_stopped(s, why);
  finish_instead_of_failing(s, why);
  return false;
}

static void on_top_line(pop3_session_t *s, text_t line) {
  if (line.len == 1 && line.data[0] == '.') {
    header_read(s);
    if (loop_on(s) && !s->loop.stopped && !can_pipeline(s)) {
      /* lock-step: this message's UIDL now */
      set_state(s, POP3_STATE_UIDL);
      queue_numbered(s, "UIDL", s->age.current, "");
      return;
    }
    next_answer(s);
    return;
  }
  if (!header_bytes(s, line.len + 2))
    return;
  if (line.len > 0 && line.data[0] == '.') /* dot-stuffed */
    line = text_after(line, 1);
  if (!pop3_headers_settled(&s->age.headers))
    pop3_headers_line(&s->age.headers, line.data, line.len, false);
}

/* "+OK n unique-id" (RFC 1939: 1 to 70 characters from 0x21 to 0x7E). */
static bool parse_uidl(text_t rest, uint64_t *n, text_t *uid) {
  text_t t = skip_spaces(rest);
  if (parse_number(&t, UINT64_MAX, n) != NUMBER_OK)
    return false;
  *uid = skip_spaces(t);
  while (uid->len > 0 && uid->data[uid->len - 1] == ' ')
    uid->len--;
  if (uid->len == 0 || uid->len > POP3_UID_MAX)
    return false;
  for (size_t i = 0; i < uid->len; i++)
    if (uid->data[i] < 0x21 || uid->data[i] > 0x7e)
      return false;
  return true;
}

/* The probe the UIDL answer is about: found while searching (its TOP came
 * just before), or checked again before DELE. */
static pop3_probe_t *uidl_probe(pop3_session_t *s, uint64_t *expected) {
  pop3_loop_t *loop = &s->loop.result;
  if (s->loop.checked == 0) {
    *expected = s->age.current;
    for (unsigned i = 0; i < loop->found_len; i++)
      if (loop->found[i].n == *expected)
        return &loop->found[i];
    return NULL;
  }
  while (s->loop.answered < loop->found_len &&
         loop->found[s->loop.answered].uid[0] == '\0')
    s->loop.answered++;
  pop3_probe_t *p = s->loop.answered < loop->found_len
                        ? &loop->found[s->loop.answered++]
                        : NULL;
  *expected = p ? p->n : 0;
  return p;
}

static void on_uidl(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest, uid;
  uint64_t n, expected;
  if (!read_status(s, line, &ok, &rest))
    return;
  pop3_probe_t *p = uidl_probe(s, &expected);
  char quoted[POP3_SERVER_TEXT_MAX + 1], why[POP3_ERROR_MAX];
  if (!ok) {
    snprintf(why, sizeof(why), "server refused UIDL %llu: \"%s\"",
             (unsigned long long)expected, quote(quoted, rest));
    loop_stopped(s, why);
  } else if (!parse_uidl(rest, &n, &uid) || n != expected) {
    snprintf(why, sizeof(why), "UIDL %llu answered \"%s\"",
             (unsigned long long)expected, quote(quoted, line));
    loop_stopped(s, why);
  } else if (p != NULL && s->loop.checked == 0) {
    memcpy(p->uid, uid.data, uid.len);
    p->uid[uid.len] = '\0';
  } else if (p != NULL) {
    /* the same message as when its header was read: it may go */
    p->verified = strlen(p->uid) == uid.len &&
                  memcmp(p->uid, uid.data, uid.len) == 0;
    if (!p->verified) {
      snprintf(why, sizeof(why),
               "the unique id of message %llu changed (\"%s\", then \"%s\"): "
               "not deleted",
               (unsigned long long)n, p->uid, quote(quoted, uid));
      loop_stopped(s, why);
    }
  }
  next_answer(s);
}

static void on_dele(pop3_session_t *s, text_t line) {
  bool ok;
  text_t rest;
  if (!read_status(s, line, &ok, &rest))
    return;
  pop3_loop_t *loop = &s->loop.result;
  while (s->loop.deleted < loop->found_len &&
         !loop->found[s->loop.deleted].verified)
    s->loop.deleted++;
  if (s->loop.deleted < loop->found_len) {
    pop3_probe_t *p = &loop->found[s->loop.deleted++];
    p->deleted = ok;
    if (!ok) {
      char quoted[POP3_SERVER_TEXT_MAX + 1], why[POP3_ERROR_MAX];
      snprintf(why, sizeof(why), "server refused DELE %llu: \"%s\"",
               (unsigned long long)p->n, quote(quoted, rest));
      loop_stopped(s, why);
    }
  }
  next_answer(s);
}

/* A header line longer than the line buffer (full now): its start goes to
 * the header scanner as such, the rest is dropped up to the end of the
 * line. Headers have such lines; other answers do not. */
static void start_skipping(pop3_session_t *s) {
  text_t start = {s->line, s->line_len};
  s->line_len = 0;
  if (!header_bytes(s, start.len))
    return;
  s->age.skipping = true;
  if (start.data[0] == '.') /* dot-stuffed */
    start = text_after(start, 1);
  if (!pop3_headers_settled(&s->age.headers))
    pop3_headers_line(&s->age.headers, start.data, start.len, true);
}

static size_t skip_rest_of_line(pop3_session_t *s, const char *data,
                                size_t len) {
  const char *lf = memchr(data, '\n', len);
  size_t used = lf != NULL ? (size_t)(lf - data) + 1 : len;
  if (header_bytes(s, used) && lf != NULL)
    s->age.skipping = false;
  return used;
}

/* The NOOP of a silence probe, answered after everything sent before it. */
static void on_noop(pop3_session_t *s, text_t line) {
  (void)line;
  next_answer(s);
}

/* ---- lines --------------------------------------------------------------- */

/* raw ends with LF; a CR before it is dropped too (bare LF is tolerated). */
static void on_line(pop3_session_t *s, const char *raw, size_t len) {
  text_t line = {raw, len - 1};
  if (line.len > 0 && line.data[line.len - 1] == '\r')
    line.len--;
  if (s->pipeline.skip > 0) {
    /* the answer to a command of an abandoned burst */
    s->pipeline.skip--;
  } else if (memchr(line.data, '\0', line.len) != NULL) {
    fail(s, POP3_FAIL_PROTOCOL,
         "expected a text line, got a NUL byte while waiting for the %s",
         awaited(s));
  } else if (states[s->state].on_line != NULL) {
    states[s->state].on_line(s, line);
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

_Static_assert(POP3_STATE_GREETING == 0,
               "pop3_session_init's zeroing starts the session in GREETING");

void pop3_session_init(pop3_session_t *s, const pop3_session_options_t *opts) {
  /* every field but the buffers; the state becomes GREETING, not a change
   * of state, so nothing is traced */
  memset(s, 0, offsetof(pop3_session_t, line));
  s->options = *opts;
  s->capabilities.login_delay = -1;
  s->cache.use = opts->cached != NULL && opts->cached->known;
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
  if (s->age.skipping)
    return skip_rest_of_line(s, data, len);

  size_t room = POP3_LINE_MAX - s->line_len;
  size_t scan = len < room ? len : room;
  const char *lf = memchr(data, '\n', scan);
  if (lf == NULL) {
    if (len >= room && s->state == POP3_STATE_TOP_LIST) {
      memcpy(s->line + s->line_len, data, scan);
      s->line_len += scan;
      start_skipping(s);
      return scan;
    }
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
  s->cache.ran_capa = false;
  after_greeting(s);
}

void pop3_session_fail(pop3_session_t *s, const pop3_error_t *err) {
  if (finish_instead_of_failing(s, err->message))
    return;
  s->error = *err;
  s->error.message[sizeof(s->error.message) - 1] = '\0';
  finish(s, POP3_STATE_FAILED);
}

void pop3_session_stalled(pop3_session_t *s) {
  if (s->state != POP3_STATE_STAT || !s->pipeline.stat_sent ||
      s->pipeline.probing || s->pipeline.lost || s->pipeline.stat_late ||
      s->output_len > 0 || s->line_len > 0 || s->pipeline.skip > 0)
    return;
  /* NOOP changes nothing and its answer cannot pass for a STAT answer. If
   * STAT was only late, the NOOP's answer comes after those of the commands
   * sent before it (the first TOPs), and is read and dropped. */
  s->pipeline.probing = true;
  if (queue_command(s, "NOOP", NULL))
    expect_later(s, POP3_STATE_NOOP);
}

bool pop3_session_lost_pipelined(const pop3_session_t *s) {
  return s->pipeline.lost;
}

bool pop3_session_login_pipelined(const pop3_session_t *s) {
  return s->pipeline.login;
}

bool pop3_session_used_cache(const pop3_session_t *s) {
  return s->cache.use && !s->cache.fell_back;
}

bool pop3_session_stat_pipelined(const pop3_session_t *s) {
  return s->pipeline.stat_sent;
}

bool pop3_session_stat_late(const pop3_session_t *s) {
  return s->pipeline.stat_late;
}

bool pop3_session_burst_failed(const pop3_session_t *s) {
  return s->state == POP3_STATE_FAILED && s->pipeline.failed;
}

bool pop3_session_cache_stale(const pop3_session_t *s) {
  return s->cache.stale;
}

bool pop3_session_ran_capa(const pop3_session_t *s) {
  return s->cache.ran_capa;
}

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
  if (!s->stat.have)
    return false;
  if (count)
    *count = s->stat.count;
  if (size)
    *size = s->stat.size;
  return true;
}

const pop3_capabilities_t *pop3_session_capabilities(const pop3_session_t *s) {
  return &s->capabilities;
}

pop3_phase_t pop3_session_phase(const pop3_session_t *s) {
  if (s->state == POP3_STATE_FAILED)
    return s->error.phase;
  return states[s->state].phase;
}

pop3_state_t pop3_session_state(const pop3_session_t *s) { return s->state; }

bool pop3_session_values_ready(const pop3_session_t *s) {
  return s->stat.have &&
         (ended(s) || ((!s->age.result.wanted || s->age.result.done) &&
                       (!s->loop.result.wanted || s->loop.result.done)));
}

const pop3_loop_t *pop3_session_loop(const pop3_session_t *s) {
  return s->loop.result.wanted ? &s->loop.result : NULL;
}

const pop3_age_t *pop3_session_age(const pop3_session_t *s) {
  return s->age.result.wanted ? &s->age.result : NULL;
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
