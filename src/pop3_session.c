/* pop3_session.c: the POP3 client protocol core (RFC 1939, 2449, 2595, 3206).
 *
 * Each state names the answer the session waits for; entering a state queues
 * the command that asks for it (enter() is the only place the state changes).
 * A response line is split off the input, checked, then handed to the
 * handler of the current state. */
#include "pop3_session.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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

static void enter(pop3_session_t *s, pop3_state_t next);

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
  enter(s, POP3_STATE_FAILED);
}

#define fail(s, failure, ...)                                                  \
  fail_in(s, pop3_session_phase(s), failure, __VA_ARGS__)

/* ---- commands ---------------------------------------------------------- */

static bool queue_command(pop3_session_t *s, const char *verb,
                          const char *argument) {
  size_t verb_len = strlen(verb);
  size_t arg_len = argument ? strlen(argument) : 0;
  size_t len = verb_len + (argument ? 1 + arg_len : 0) + 2;
  if (len > POP3_COMMAND_MAX || len > sizeof(s->output) - s->output_len)
    return false;
  char *p = s->output + s->output_len;
  memcpy(p, verb, verb_len);
  p += verb_len;
  if (argument) {
    *p++ = ' ';
    memcpy(p, argument, arg_len);
    p += arg_len;
  }
  memcpy(p, "\r\n", 2);
  s->output_len += len;
  return true;
}

/* USER and PASS carry configured text: a line break in it would let the
 * configuration smuggle in a second command. (A C string holds no NUL.)
 * Messages name the problem, never the value. */
static void queue_credential(pop3_session_t *s, const char *verb,
                             const char *value, const char *what) {
  if (value == NULL || (value[0] == '\0' && strcmp(verb, "USER") == 0)) {
    fail_in(s, POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "no %s configured",
            what);
  } else if (strpbrk(value, "\r\n") != NULL) {
    fail_in(s, POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
            "the %s contains a line break", what);
  } else if (!queue_command(s, verb, value)) {
    fail_in(s, POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
            "the %s is too long for a POP3 command (%zu bytes, at most %zu)",
            what, strlen(value), POP3_COMMAND_MAX - strlen(verb) - 3);
  }
}

static void cleanse_output(pop3_session_t *s) {
  explicit_bzero(s->output, sizeof(s->output));
  s->output_len = 0;
}

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
    queue_credential(s, "USER", s->options.user, "user name");
    break;
  case POP3_STATE_PASS:
    queue_credential(s, "PASS", s->options.password, "password");
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
    break;
  case POP3_STATE_GREETING:
  case POP3_STATE_CAPA_LIST:
  case POP3_STATE_TLS_PENDING:
    break;
  }
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

/* A -ERR that ends the session: "<what> [CODE]: "server text"". */
static void refuse(pop3_session_t *s, const char *what, text_t text) {
  response_code_t rc = parse_response_code(text);
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
    fail(s, POP3_FAIL_REFUSED, "%s%s: \"%s\"", what, label,
         quote(quoted, rc.rest));
  else
    fail(s, POP3_FAIL_REFUSED, "%s%s", what, label);
  if (s->state == POP3_STATE_FAILED) {
    s->error.code = rc.code;
    s->error.login_delay = rc.login_delay;
  }
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
  if (!s->options.starttls || s->tls_active) {
    enter(s, POP3_STATE_USER);
  } else if (s->capabilities.known && !s->capabilities.stls) {
    /* Fail closed: logging in over plaintext is what StartTLS prevents. */
    fail_in(s, POP3_PHASE_TLS, POP3_FAIL_NO_STLS,
            "StartTLS required but the server does not offer STLS");
  } else {
    /* Without a capability list, asking is the only way to know. */
    enter(s, POP3_STATE_STLS);
  }
}

static void on_capability_line(pop3_session_t *s, text_t line) {
  if (line.len == 1 && line.data[0] == '.') {
    after_capabilities(s);
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

/* "+OK nn mm [ignored text]" */
static void on_stat_answer(pop3_session_t *s, text_t line, text_t rest) {
  uint64_t count = 0, size = 0;
  const char *field = "message count";
  text_t t = skip_spaces(rest);
  number_status_t status = parse_number(&t, UINT64_MAX, &count);
  if (status == NUMBER_OK) {
    field = "mailbox size";
    t = skip_spaces(t);
    status = parse_number(&t, UINT64_MAX, &size);
  }
  if (status != NUMBER_OK) {
    char quoted[POP3_SERVER_TEXT_MAX + 1];
    fail(s, POP3_FAIL_PROTOCOL, "STAT answer has %s %s: \"%s\"",
         number_problem(status), field, quote(quoted, line));
    return;
  }
  s->message_count = count;
  s->mailbox_size = size;
  s->have_stat = true;
  enter(s, POP3_STATE_QUIT);
}

static void on_status_line(pop3_session_t *s, text_t line) {
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
      enter(s, POP3_STATE_CAPA);
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
    if (ok)
      enter(s, POP3_STATE_TLS_PENDING);
    else
      refuse(s, "server refused STLS", rest);
    break;
  case POP3_STATE_USER:
    if (ok)
      enter(s, POP3_STATE_PASS);
    else
      refuse(s, "server refused the login name", rest);
    break;
  case POP3_STATE_PASS:
    if (ok)
      enter(s, POP3_STATE_STAT);
    else
      refuse(s, "server refused the login", rest);
    break;
  case POP3_STATE_STAT:
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
  if (memchr(line.data, '\0', line.len) != NULL) {
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
  memset(s, 0, sizeof(*s));
  s->options = *opts;
  s->capabilities.login_delay = -1;
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
  memset(&s->capabilities, 0, sizeof(s->capabilities));
  s->capabilities.login_delay = -1;
  enter(s, POP3_STATE_CAPA);
}

void pop3_session_fail(pop3_session_t *s, const pop3_error_t *err) {
  if (!failure_counts(s))
    return;
  s->error = *err;
  s->error.message[sizeof(s->error.message) - 1] = '\0';
  enter(s, POP3_STATE_FAILED);
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

void pop3_session_clear(pop3_session_t *s) { explicit_bzero(s, sizeof(*s)); }
