/* fuzz_session.c: libFuzzer target for the protocol core (pop3_session.c,
 * pop3_sasl.c, pop3_error.c), driven exactly as a driver drives it.
 *
 * Input: 4 option bytes, then the bytes "the server" sends.
 *   byte 0  bit 0 StartTLS; bit 1 the TLS handshake fails; bits 2-3 how
 *           output is marked sent (all, random parts, one byte); bit 4 the
 *           driver times out at a read chosen by byte 3; bits 5-7 the
 *           newer options when the core has them (pipelining, cached
 *           capabilities, stalled reads)
 *   byte 1  user (low nibble) and password (high nibble) from tables with
 *           empty, long, line-breaking and non-ASCII values
 *   byte 2  login mechanism (low nibble, when the core has several); bit 4
 *           PIPELINING in the cached capabilities; bits 5-7 the message
 *           age's scan (0: off), when the core has it
 *   byte 3  seed of the read chunking (whole, one byte, random splits);
 *           bits 6-7 the mail loop's scan (0: off), when the core has it
 *
 * Invariants (abort on violation): feed never takes more than it is given,
 * nor nothing while it still wants input; output is whole CRLF-terminated
 * commands from the read-only set (CAPA STLS USER PASS APOP AUTH STAT QUIT
 * NOOP "TOP n 0" "UIDL n" "DELE n" and SASL responses), TOP only with the
 * age or the mail loop on, after STAT and for at most as many messages as
 * they scan; DELE only with the loop on, only of a message whose header
 * was asked for, and never more often than the probe check said yes, nothing but STLS goes out in clear text when
 * StartTLS is on, nothing follows STLS before the handshake; the session
 * ends after EOF; an error is one printable line naming a known phase, and
 * never contains the password unless the server itself sent it; STAT values
 * only on success; after the session the output buffer holds no password;
 * pop3_session_clear leaves nothing.
 *
 * make fuzz FUZZ_TIME=60 runs it; the seed corpus is tests/fuzz/corpus/. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "pop3_error.h"
#include "pop3_session.h"

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_session: invariant broken: %s: ", #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static char long_user[301], long_password[301], long_secret[5000];

static const char *users[] = {"alice", "", "user name", long_user,
                              "a\r\nDELE 1", "b\xc3\xa9", "x"};
static const char *passwords[] = {
    "Fz-Secret-9x",  NULL,       "",          long_password,
    "pw\r\nDELE 1",  "p\xc3\xa4ss-Secr3t", "Fz Sp ace Secret", long_secret,
    "Fz-Secret-9x"};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void init_tables(void) {
  static bool done;
  if (done)
    return;
  memset(long_user, 'u', 300);
  memset(long_password, 'p', 300);
  memset(long_secret, 's', sizeof(long_secret) - 1);
  done = true;
}

/* xorshift: the chunking is a function of the input */
static uint32_t next_rand(uint32_t *state) {
  uint32_t x = *state ? *state : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

static bool printable(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      return false;
  return true;
}

static bool is_base64_line(const char *p, size_t len) {
  if (len == 1 && p[0] == '*')
    return true; /* SASL cancel */
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
      return false;
  }
  return true;
}

typedef struct {
  bool starttls;
  bool tls_done;
  bool stls_sent;     /* waiting for the handshake since STLS went out */
  bool auth_sent;     /* SASL continuations may follow */
  bool stat_sent;
  bool quit_sent;
  bool stall;         /* stalled reads may send NOOP, then STAT and QUIT */
  unsigned age_scan;  /* options.age_scan */
  unsigned tops;      /* TOP commands sent since the last STAT */
  unsigned loop_scan; /* options.loop_scan */
  unsigned probes;    /* times the probe check said yes */
  unsigned deles;
  uint64_t topped[64]; /* messages whose TOP went out since the last STAT */
  char pending[POP3_OUTPUT_MAX + POP3_COMMAND_MAX]; /* partial command */
  size_t pending_len;
} driver_t;

/* "TOP n 0": a header, never a body, of a message numbered from 1. */
static void check_top(driver_t *d, const char *line, size_t len) {
  CHECK(d->age_scan > 0 || d->loop_scan > 0, "TOP with the age and loop off");
  CHECK(d->stat_sent, "TOP before STAT");
  unsigned tail = d->age_scan > d->loop_scan ? d->age_scan : d->loop_scan;
  CHECK(++d->tops <= d->age_scan + tail, "TOP %u times for scans of %u, %u",
        d->tops, d->age_scan, d->loop_scan);
  d->topped[(d->tops - 1) % 64] = strtoull(line + 4, NULL, 10);
  CHECK(len >= 7 && line[4] >= '1' && line[4] <= '9' &&
            memcmp(line + len - 2, " 0", 2) == 0,
        "malformed TOP: \"%.*s\"", (int)len, line);
  for (size_t i = 4; i < len - 2; i++)
    CHECK(line[i] >= '0' && line[i] <= '9', "TOP with a bad number");
}

/* The one command that changes a mailbox: only for the mail loop's own
 * probes, whose header the session read. */
static void check_dele(driver_t *d, const char *line, size_t len) {
  CHECK(d->loop_scan > 0, "DELE with the mail loop off");
  CHECK(++d->deles <= d->probes, "DELE %u times, %u probes", d->deles,
        d->probes);
  uint64_t n = strtoull(line + 5, NULL, 10);
  bool topped = false;
  for (unsigned i = 0; i < d->tops && i < 64; i++)
    topped |= d->topped[i] == n;
  CHECK(topped && len > 5, "DELE of message %llu whose header was not read",
        (unsigned long long)n);
}

/* options.loop_probe: "mon <digits>" is a probe of ours. */
static bool fuzz_probe(void *arg, const char *value, size_t len,
                       int64_t *sent_ms) {
  driver_t *d = arg;
  while (len > 0 && value[0] == ' ')
    value++, len--;
  if (len < 5 || memcmp(value, "mon ", 4) != 0)
    return false;
  int64_t ms = 0;
  for (size_t i = 4; i < len; i++) {
    if (value[i] < '0' || value[i] > '9' || ms > INT64_MAX / 10 - 10)
      return false;
    ms = ms * 10 + (value[i] - '0');
  }
  *sent_ms = ms;
  d->probes++;
  return true;
}

static void check_loop(const pop3_session_t *s, const driver_t *d, bool stat) {
#ifdef POP3_LOOP_SCAN_MAX
  const pop3_loop_t *loop = pop3_session_loop(s);
  CHECK((loop != NULL) == (stat && d->loop_scan > 0), "loop without STAT");
  if (loop == NULL)
    return;
  CHECK(loop->done, "loop not done at the end");
  CHECK(loop->found_len <= d->probes && loop->found_len <= POP3_LOOP_PROBES_MAX,
        "%u probes found, %u said yes", loop->found_len, d->probes);
  unsigned deleted = 0;
  for (unsigned i = 0; i < loop->found_len; i++) {
    const pop3_probe_t *p = &loop->found[i];
    CHECK(!p->deleted || p->verified, "a probe deleted without its check");
    CHECK(memchr(p->uid, '\0', sizeof(p->uid)) != NULL && printable(p->uid),
          "unique id not a printable string");
    deleted += p->deleted;
  }
  CHECK(deleted <= d->deles, "%u deleted, %u DELE sent", deleted, d->deles);
  size_t n = strnlen(loop->problem, sizeof(loop->problem));
  CHECK(n < sizeof(loop->problem) && printable(loop->problem),
        "loop problem not a printable line");
#else
  (void)s, (void)d, (void)stat;
#endif
}

static void check_age(const pop3_session_t *s, const driver_t *d, bool stat) {
  const pop3_age_t *age = pop3_session_age(s);
  CHECK((age != NULL) == (stat && d->age_scan > 0), "age without STAT");
  if (age == NULL)
    return;
  CHECK(age->done && pop3_session_values_ready(s), "age not done at the end");
  unsigned tail = d->age_scan > d->loop_scan ? d->age_scan : d->loop_scan;
  CHECK(age->dated <= age->read && age->read <= d->age_scan + tail,
        "age: %u dated of %u read", age->dated, age->read);
  CHECK(age->dated == 0 || age->oldest <= age->newest, "oldest after newest");
  size_t n = strnlen(age->problem, sizeof(age->problem));
  CHECK(n < sizeof(age->problem) && printable(age->problem),
        "age problem not a printable line");
}

/* Checks one complete command line (CRLF stripped). */
static void check_command(driver_t *d, const char *line, size_t len) {
  CHECK(memchr(line, '\r', len) == NULL && memchr(line, '\n', len) == NULL,
        "a line break inside a command");
  CHECK(len + 2 <= POP3_OUTPUT_MAX, "command of %zu bytes", len);
  CHECK(!d->stls_sent || (len == 4 && memcmp(line, "QUIT", 4) == 0),
        "a command after STLS before the TLS handshake");
  CHECK(!d->quit_sent || d->stall, "a command after QUIT");
  size_t vlen = 0;
  while (vlen < len && line[vlen] != ' ')
    vlen++;
  char verb[8] = "";
  if (vlen < sizeof(verb))
    memcpy(verb, line, vlen);
  bool clear = d->starttls && !d->tls_done;
  if (strcmp(verb, "CAPA") == 0 || strcmp(verb, "QUIT") == 0) {
    CHECK(vlen == len, "%s with an argument", verb);
    if (strcmp(verb, "QUIT") == 0)
      d->quit_sent = true;
  } else if (strcmp(verb, "STLS") == 0) {
    CHECK(d->starttls && !d->tls_done, "STLS without StartTLS or twice");
    d->stls_sent = true;
  } else if (strcmp(verb, "USER") == 0 || strcmp(verb, "PASS") == 0 ||
             strcmp(verb, "APOP") == 0 || strcmp(verb, "AUTH") == 0) {
    CHECK(!clear, "%s in clear text although StartTLS is required", verb);
    if (strcmp(verb, "AUTH") == 0)
      d->auth_sent = true;
  } else if (strcmp(verb, "STAT") == 0) {
    CHECK(!clear, "STAT in clear text although StartTLS is required");
    CHECK(vlen == len, "STAT with an argument");
    d->stat_sent = true;
    d->tops = 0;
  } else if (strcmp(verb, "TOP") == 0) {
    check_top(d, line, len);
  } else if (strcmp(verb, "UIDL") == 0) {
    CHECK(d->loop_scan > 0 && d->stat_sent, "UIDL without the mail loop");
  } else if (strcmp(verb, "DELE") == 0) {
    check_dele(d, line, len);
  } else if (strcmp(verb, "NOOP") == 0) {
    /* the probe after a silence: only behind a pipelined STAT */
    CHECK(d->stall && d->stat_sent && !clear && vlen == len,
          "NOOP where no pipelined STAT is unanswered");
  } else {
    /* only a SASL response may be anything else */
    CHECK(d->auth_sent && !clear && is_base64_line(line, len),
          "a command outside the read-only set: \"%.*s\"", (int)len, line);
  }
}

/* Bytes that went out: split them into commands as the server would. */
static void sent(driver_t *d, const char *out, size_t len) {
  CHECK(d->pending_len + len <= sizeof(d->pending), "output piles up");
  memcpy(d->pending + d->pending_len, out, len);
  d->pending_len += len;
  for (;;) {
    char *lf = memchr(d->pending, '\n', d->pending_len);
    if (lf == NULL)
      break;
    size_t line = (size_t)(lf - d->pending);
    CHECK(line >= 1 && d->pending[line - 1] == '\r', "a command without CRLF");
    check_command(d, d->pending, line - 1);
    d->pending_len -= line + 1;
    memmove(d->pending, lf + 1, d->pending_len);
  }
}

static void check_error(const pop3_error_t *e, const char *password,
                        const uint8_t *server, size_t server_len) {
  size_t n = strnlen(e->message, sizeof(e->message));
  CHECK(n < sizeof(e->message), "error message not terminated");
  CHECK(n > 0, "a failure without a message");
  CHECK(printable(e->message), "error message not printable: %s", e->message);
  CHECK((int)e->phase >= POP3_PHASE_RESOLVE && e->phase <= POP3_PHASE_QUIT,
        "phase %d", (int)e->phase);
  CHECK(strcmp(pop3_phase_name(e->phase), "unknown") != 0, "phase unnamed");
  CHECK(e->failure != POP3_FAIL_NONE, "failure kind NONE");
  CHECK((int)e->code >= POP3_CODE_NONE && e->code <= POP3_CODE_OTHER,
        "code %d", (int)e->code);
  if (password != NULL && strlen(password) >= 4 &&
      memmem(server, server_len, password, strlen(password)) == NULL)
    CHECK(strstr(e->message, password) == NULL,
          "the password is in the error: %s", e->message);
}

static void check_capabilities(const pop3_capabilities_t *c) {
  CHECK(memchr(c->implementation, '\0', sizeof(c->implementation)) != NULL,
        "implementation not terminated");
  CHECK(printable(c->implementation), "implementation not printable");
  CHECK(memchr(c->sasl, '\0', sizeof(c->sasl)) != NULL, "sasl unterminated");
  CHECK(printable(c->sasl), "SASL list not printable");
}

static void fuzz_sanitize(const uint8_t *data, size_t size) {
  char dst[POP3_SERVER_TEXT_MAX + 8];
  size_t sizes[] = {1, 2, 4, 5, 17, POP3_SERVER_TEXT_MAX + 1, sizeof(dst)};
  for (size_t i = 0; i < ARRAY_LEN(sizes); i++) {
    memset(dst, 'Z', sizeof(dst));
    pop3_sanitize(dst, sizes[i], (const char *)data, size);
    size_t n = strnlen(dst, sizes[i]);
    CHECK(n < sizes[i], "sanitize overran %zu", sizes[i]);
    CHECK(n <= POP3_SERVER_TEXT_MAX, "sanitize longer than the cap");
    CHECK(printable(dst), "sanitize output not printable");
    CHECK(sizes[i] == sizeof(dst) || dst[sizes[i]] == 'Z' ||
              sizes[i] >= sizeof(dst),
          "sanitize wrote past dst_size");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_tables();
  if (size < 4)
    return 0;
  uint8_t flags = data[0];
  const char *user = users[(data[1] & 0x0f) % ARRAY_LEN(users)];
  const char *password = passwords[(data[1] >> 4) % ARRAY_LEN(passwords)];
  uint32_t rng = data[3] * 2654435761u + (uint32_t)size;
  unsigned chunk_mode = data[3] & 3; /* 0 random, 1 one byte, 2-3 big */
  unsigned write_mode = (flags >> 2) & 3;
  const uint8_t *server = data + 4;
  size_t server_len = size - 4;
  fuzz_sanitize(server, server_len < 600 ? server_len : 600);

  pop3_session_options_t opts = {
      .user = user, .password = password, .starttls = flags & 1};
#ifdef POP3_PIPELINE_MAX
  /* the core with login mechanisms, pipelining and cached capabilities */
  pop3_capabilities_t cached = {.known = true,
                                .user = true,
                                .pipelining = (data[2] & 0x10) != 0,
                                .resp_codes = true,
                                .stls = (flags & 1) != 0,
                                .top = true,
                                .login_delay = -1};
  snprintf(cached.sasl, sizeof(cached.sasl), "PLAIN LOGIN XOAUTH2 OAUTHBEARER");
  opts.auth = (pop3_auth_t)((data[2] & 0x0f) % 7);
  opts.pipeline_login = (flags & 0x20) != 0;
  opts.cached = (flags & 0x40) != 0 ? &cached : NULL;
  opts.token = password;
  opts.host = "mail.example.com";
  opts.port = 995;
  bool stall = (flags & 0x80) != 0;
#ifdef POP3_AGE_SCAN_MAX
  opts.age_scan = data[2] >> 5;
#endif
#endif

  pop3_session_t s;
  driver_t d = {.starttls = opts.starttls};
#ifdef POP3_LOOP_SCAN_MAX
  d.loop_scan = data[3] >> 6;
  opts.loop_scan = d.loop_scan;
  opts.loop_header = "X-Collectd-Pop3-Loop";
  opts.loop_probe = fuzz_probe;
  opts.loop_arg = &d;
#endif
  pop3_session_init(&s, &opts);
#ifdef POP3_PIPELINE_MAX
  d.stall = stall;
#endif
#ifdef POP3_AGE_SCAN_MAX
  d.age_scan = opts.age_scan;
#endif

  size_t pos = 0;
  size_t timeout_at = (flags & 0x10) ? data[3] % 16 : SIZE_MAX;
  size_t reads = 0;
  /* writes may go one byte at a time: room for a few full buffers */
  size_t steps = 0, max_steps = 256 + 8 * server_len + 4 * POP3_OUTPUT_MAX;
  bool eof = false;

  for (;;) {
    CHECK(++steps <= max_steps, "no progress after %zu steps", steps);
    pop3_want_t want = pop3_session_want(&s);
    if (want == POP3_WANT_NOTHING)
      break;
    if (want == POP3_WANT_WRITE) {
      size_t len = 0;
      const char *out = pop3_session_output(&s, &len);
      CHECK(out != NULL && len > 0, "WRITE without output");
      CHECK(len <= POP3_OUTPUT_MAX, "output of %zu bytes", len);
      size_t n = len;
      if (write_mode == 1)
        n = 1 + next_rand(&rng) % len;
      else if (write_mode == 2)
        n = 1;
      sent(&d, out, n);
      pop3_session_output_sent(&s, n);
      size_t left = 0;
      pop3_session_output(&s, &left);
      CHECK(left == len - n, "output_sent(%zu) left %zu of %zu", n, left, len);
      continue;
    }
    if (want == POP3_WANT_TLS) {
      CHECK(d.starttls && !d.tls_done, "TLS wanted without StartTLS");
      CHECK(d.stls_sent && d.pending_len == 0, "TLS before STLS went out");
      if (flags & 2) {
        pop3_error_t err;
        pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TLS,
                       "TLS handshake failed (fuzz)");
        pop3_session_fail(&s, &err);
      } else {
        d.tls_done = true;
        d.stls_sent = false;
        pop3_session_tls_started(&s);
      }
      continue;
    }
    CHECK(want == POP3_WANT_READ, "want %d", (int)want);
    CHECK(!eof, "wants input after EOF");
    if (reads++ == timeout_at) {
      pop3_error_t err;
      pop3_error_set(&err, pop3_session_phase(&s), POP3_FAIL_TIMEOUT,
                     "no answer from the server within the Timeout");
      pop3_session_fail(&s, &err);
      continue;
    }
#ifdef POP3_PIPELINE_MAX
    if (stall && (next_rand(&rng) & 7) == 0) {
      pop3_session_stalled(&s);
      if (pop3_session_want(&s) != POP3_WANT_READ)
        continue;
    }
#endif
    if (pos == server_len) {
      pop3_session_eof(&s);
      eof = true;
      CHECK(pop3_session_want(&s) == POP3_WANT_NOTHING,
            "the session goes on after EOF");
      continue;
    }
    /* one recv(): a chunk, fed until used up or the session wants more */
    size_t chunk = server_len - pos;
    if (chunk_mode == 0)
      chunk = 1 + next_rand(&rng) % (chunk < 97 ? chunk : 97);
    else if (chunk_mode == 1)
      chunk = 1;
    size_t end = pos + chunk;
    while (pos < end) {
      size_t n = pop3_session_feed(&s, (const char *)server + pos, end - pos);
      CHECK(n <= end - pos, "feed took %zu of %zu bytes", n, end - pos);
      pos += n;
      if (pop3_session_want(&s) != POP3_WANT_READ)
        break;
      CHECK(n > 0, "feed took nothing but still wants input");
    }
    if (pop3_session_want(&s) == POP3_WANT_TLS)
      pos = end; /* never carried across the upgrade */
  }

  /* the outcome */
  uint64_t count = 0, size_value = 0;
  bool stat = pop3_session_stat(&s, &count, &size_value);
  bool failed = pop3_session_failed(&s);
  CHECK(!(stat && failed), "both STAT values and a failure");
  CHECK(stat || failed, "ended with neither values nor a failure");
  if (failed)
    check_error(pop3_session_error(&s), password, server, server_len);
  if (stat)
    CHECK(d.stat_sent, "STAT values without STAT");
  if (stat && d.starttls)
    CHECK(d.tls_done, "values over clear text although StartTLS");
  check_capabilities(pop3_session_capabilities(&s));
#ifdef POP3_AGE_SCAN_MAX
  check_age(&s, &d, stat);
  check_loop(&s, &d, stat);
#endif
  (void)pop3_phase_name(pop3_session_phase(&s));
  /* the output buffer beyond output_peak was never written by this
   * session: pop3_session_init leaves the buffers alone */
  if (password != NULL && strlen(password) >= 4)
    CHECK(memmem(s.output, s.output_peak, password, strlen(password)) == NULL,
          "the password is still in the output buffer");
  size_t peak = s.output_peak;
  pop3_session_clear(&s);
  static const pop3_session_t zero;
  CHECK(memcmp(&s, &zero, offsetof(pop3_session_t, line)) == 0,
        "session_clear left bytes in the session's fields");
  CHECK(memcmp(s.output, zero.output, peak) == 0,
        "session_clear left bytes in the output it used");
  return 0;
}
