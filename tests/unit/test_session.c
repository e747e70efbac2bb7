/* test_session.c: unit tests for the POP3 protocol core and error helpers.
 *
 * Most tests are scripts: the server's whole transcript, the options, the
 * commands the client must send and the outcome. Each script is replayed
 * whole, split in two at every byte, and one byte at a time. Every run
 * records the session's trace (options.trace): each change of state must
 * start where the previous one ended, and some scripts give the exact
 * sequence of states. */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_error.h"
#include "pop3_session.h"

#define USER_NAME "alice"
#define PASSWORD "s3cr3t-Pa55"

/* what the client sends */
#define CAPA "CAPA\r\n"
#define STLS "STLS\r\n"
#define NOOP "NOOP\r\n"
#define USER "USER " USER_NAME "\r\n"
#define PASS "PASS " PASSWORD "\r\n"
#define STAT "STAT\r\n"
#define QUIT "QUIT\r\n"
#define LOGIN_COMMANDS CAPA USER PASS STAT QUIT
#define AUTH_PLAIN "AUTH PLAIN AGFsaWNlAHMzY3IzdC1QYTU1\r\n"

/* what the server sends */
#define GREETING "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
#define NO_CAPA "-ERR unknown command\r\n"
#define CAPS_PLAIN "+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\n.\r\n"
#define CAPS_STLS "+OK\r\nSTLS\r\nUSER\r\n.\r\n"
#define CAPS_TLS "+OK\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION secure\r\n.\r\n"
#define STLS_OK "+OK Begin TLS negotiation\r\n"
#define USER_OK "+OK\r\n"
#define PASS_OK "+OK maildrop locked and ready\r\n"
#define STAT_OK "+OK 2 320\r\n"
#define BYE "+OK dewey POP3 server signing off\r\n"
#define UP_TO_USER GREETING CAPS_PLAIN
#define UP_TO_PASS UP_TO_USER USER_OK
#define UP_TO_STAT UP_TO_PASS PASS_OK
#define WITH_STAT(line) UP_TO_STAT line BYE

typedef struct {
  const char *data;
  size_t len;
} bytes_t;

#define B(literal)                                                             \
  { literal, sizeof(literal) - 1 }

/* Expected flags of a script; the session's must match exactly. */
#define F_STALE 1u /* pop3_session_cache_stale */
#define F_LOST 2u  /* pop3_session_lost_pipelined */
#define F_LATE 4u  /* pop3_session_stat_late */
#define F_BURST 8u /* pop3_session_burst_failed */

typedef struct {
  const char *name;
  bytes_t server;     /* the transcript, or its part before the TLS handshake */
  bytes_t server_tls; /* after the handshake; .data == NULL: no handshake */
  const char *user;   /* NULL: USER_NAME */
  const char *password; /* NULL: PASSWORD */
  bool starttls;
  pop3_auth_t auth;
  const char *token;
  const char *host;
  int port;
  const pop3_capabilities_t *cached;
  bool no_pipeline;   /* options.pipeline_login false (true otherwise) */
  /* the driver calls pop3_session_stalled() once it has fed this many
   * server bytes (0: never) and the session waits for input */
  size_t stall_at;
  /* everything the client sends, in order; or NULL and see bursts */
  const char *commands;
  /* the same with a '|' where the client starts a new write after having
   * read (the bursts), or NULL: not checked */
  const char *bursts;
  unsigned flags;        /* F_STALE, F_LOST, F_LATE, F_BURST */
  unsigned lockstep;     /* options.lockstep_methods */
  pop3_auth_t auth_used; /* checked unless AUTO */
  bool ok;
  uint64_t count, size;
  pop3_phase_t phase;
  pop3_failure_t failure;
  pop3_code_t code;
  unsigned login_delay;
  const char *message; /* a substring of the error message */
  /* The transcript has bytes after the STLS +OK. A real driver stops
   * reading at the +OK line, so runs that deliver those bytes in a later
   * chunk than the +OK line do not model anything and are skipped. */
  bool injects;
  void (*check)(const pop3_session_t *s); /* extra checks, may be NULL */
  unsigned age_scan;   /* options.age_scan */
  /* the mail loop: options.loop_scan, and what it must find: probes,
   * probes deleted, look-alikes, a substring of the problem (NULL: none) */
  unsigned loop_scan;
  unsigned loop_found, loop_deleted, loop_lookalikes;
  const char *loop_problem;
  /* split the transcript every split_step bytes (0: at every byte; big
   * transcripts use an odd step so splits still fall everywhere in a line) */
  size_t split_step;
  /* the message age expected once STAT is answered (with age_scan > 0):
   * how many headers had a date, the oldest and newest, and a substring of
   * the problem (NULL: none) */
  unsigned age_dated;
  int64_t oldest, newest;
  const char *age_problem;
  /* the states the trace must show, from GREETING, joined by '>', or NULL:
   * not checked beyond its consistency */
  const char *states;
} script_t;

/* ---- the driver -------------------------------------------------------- */

typedef struct {
  pop3_session_t s;
  char sent[16384];
  size_t sent_len;
  char bursts[16384 + 64]; /* sent, with '|' between writes */
  size_t bursts_len;
  bool skipped;
  char mode[32];
  char states[1024]; /* the trace: state names joined by '>' */
  pop3_state_t last; /* where the trace stands */
} run_t;

/* options.loop_probe: "mon ok-<sent_ms>" is one of this monitor's probes;
 * anything else is not (the real check is pop3_loop_verify's MAC). */
#define LOOP_HEADER "X-Collectd-Pop3-Loop"
static bool test_probe(void *arg, const char *value, size_t len,
                       int64_t *sent_ms) {
  (void)arg;
  while (len > 0 && value[0] == ' ')
    value++, len--;
  while (len > 0 && value[len - 1] == ' ')
    len--;
  static const char prefix[] = "mon ok-";
  size_t n = sizeof(prefix) - 1;
  if (len <= n || memcmp(value, prefix, n) != 0)
    return false;
  int64_t ms = 0;
  for (size_t i = n; i < len; i++) {
    if (value[i] < '0' || value[i] > '9' || ms > INT64_MAX / 10 - 10)
      return false;
    ms = ms * 10 + (value[i] - '0');
  }
  *sent_ms = ms;
  return true;
}

/* options.trace for every run: one change of state. */
static void record_state(void *arg, pop3_state_t from, pop3_state_t to) {
  run_t *r = arg;
  ck_assert_msg(from == r->last, "trace: from %s, but the state was %s",
                pop3_state_name(from), pop3_state_name(r->last));
  ck_assert_int_eq(pop3_session_state(&r->s), to);
  r->last = to;
  size_t len = strlen(r->states);
  int n = snprintf(r->states + len, sizeof(r->states) - len, ">%s",
                   pop3_state_name(to));
  ck_assert(n > 0 && (size_t)n < sizeof(r->states) - len);
}

static const char *script_user(const script_t *sc) {
  return sc->user ? sc->user : USER_NAME;
}

static const char *script_password(const script_t *sc) {
  return sc->password ? sc->password : PASSWORD;
}

/* Where the chunk starting at pos ends: one byte, or up to the split point,
 * never across the TLS handshake or the stall point. */
static size_t chunk_end(size_t pos, size_t total, size_t split, bool bytewise,
                        size_t tls_at, size_t stall_at) {
  size_t end = bytewise ? pos + 1 : total;
  if (split > pos && split < end)
    end = split;
  if (tls_at > pos && tls_at < end)
    end = tls_at;
  if (stall_at > pos && stall_at < end)
    end = stall_at;
  return end;
}

/* Replays sc; split == 0 means no split. In bytewise mode output is also
 * sent one byte at a time. */
static void drive(const script_t *sc, size_t split, bool bytewise, run_t *r) {
  bool has_tls = sc->server_tls.data != NULL;
  size_t pre_len = sc->server.len;
  size_t total = pre_len + (has_tls ? sc->server_tls.len : 0);
  char *all = malloc(total + 1);
  ck_assert_ptr_nonnull(all);
  memcpy(all, sc->server.data, pre_len);
  if (has_tls)
    memcpy(all + pre_len, sc->server_tls.data, sc->server_tls.len);

  pop3_session_options_t opts = {.user = script_user(sc),
                                 .password = script_password(sc),
                                 .starttls = sc->starttls,
                                 .auth = sc->auth,
                                 .token = sc->token,
                                 .host = sc->host,
                                 .port = sc->port,
                                 .cached = sc->cached,
                                 .pipeline_login = !sc->no_pipeline,
                                 .lockstep_methods = sc->lockstep,
                                 .age_scan = sc->age_scan,
                                 .loop_scan = sc->loop_scan,
                                 .loop_header = LOOP_HEADER,
                                 .loop_probe = test_probe,
                                 .trace = record_state,
                                 .trace_arg = r};
  snprintf(r->states, sizeof(r->states), "GREETING");
  r->last = POP3_STATE_GREETING;
  pop3_session_init(&r->s, &opts);
  ck_assert_int_eq(pop3_session_state(&r->s), POP3_STATE_GREETING);
  r->sent_len = 0;
  r->bursts_len = 0;
  r->skipped = false;
  if (bytewise)
    snprintf(r->mode, sizeof(r->mode), "bytewise");
  else if (split)
    snprintf(r->mode, sizeof(r->mode), "split at %zu", split);
  else
    snprintf(r->mode, sizeof(r->mode), "whole");

  size_t pos = 0, end = 0;
  bool tls_done = false, stalled = false, writing = false;
  for (int step = 0; step < 1000000; step++) {
    size_t readable = has_tls && !tls_done ? pre_len : total;
    pop3_want_t want = pop3_session_want(&r->s);
    if (want != POP3_WANT_WRITE)
      writing = false;
    switch (want) {
    case POP3_WANT_WRITE: {
      size_t len = 0;
      const char *out = pop3_session_output(&r->s, &len);
      ck_assert_ptr_nonnull(out);
      ck_assert_uint_gt(len, 0);
      ck_assert_uint_le(len, POP3_OUTPUT_MAX);
      size_t n = bytewise ? 1 : len;
      ck_assert_uint_le(r->sent_len + n, sizeof(r->sent));
      if (!writing && r->sent_len > 0)
        r->bursts[r->bursts_len++] = '|';
      writing = true;
      memcpy(r->sent + r->sent_len, out, n);
      memcpy(r->bursts + r->bursts_len, out, n);
      r->sent_len += n;
      r->bursts_len += n;
      pop3_session_output_sent(&r->s, n);
      break;
    }
    case POP3_WANT_TLS:
      ck_assert_msg(has_tls, "%s [%s]: unexpected TLS handshake", sc->name,
                    r->mode);
      ck_assert(!tls_done);
      if (pos < end) {
        /* read but not fed yet: the driver must hand it over */
        ck_assert_uint_eq(pop3_session_feed(&r->s, all + pos, end - pos), 0);
        ck_assert(pop3_session_failed(&r->s));
        break;
      }
      if (pos < pre_len) {
        ck_assert_msg(sc->injects, "%s [%s]: handshake with %zu bytes unread",
                      sc->name, r->mode, pre_len - pos);
        r->skipped = true;
        free(all);
        return;
      }
      tls_done = true;
      pop3_session_tls_started(&r->s);
      break;
    case POP3_WANT_READ: {
      if (sc->stall_at > 0 && pos == sc->stall_at && !stalled) {
        stalled = true;
        pop3_session_stalled(&r->s);
        break;
      }
      if (pos == readable) {
        pop3_session_eof(&r->s);
        ck_assert_int_ne(pop3_session_want(&r->s), POP3_WANT_READ);
        break;
      }
      if (pos == end)
        end = chunk_end(pos, total, split, bytewise, has_tls ? pre_len : 0,
                        sc->stall_at);
      size_t n = pop3_session_feed(&r->s, all + pos, end - pos);
      ck_assert_uint_le(n, end - pos);
      ck_assert(n > 0 || pop3_session_want(&r->s) != POP3_WANT_READ);
      ck_assert_uint_lt(r->s.line_len, POP3_LINE_MAX);
      pos += n;
      break;
    }
    case POP3_WANT_NOTHING:
      free(all);
      return;
    }
  }
  free(all);
  ck_abort_msg("%s [%s]: the session makes no progress", sc->name, r->mode);
}

/* What the client may ever send: the read-only commands, and the lines of
 * a SASL exchange (base64, empty, or "*" to cancel). */
static bool allowed_command(const char *line, size_t len) {
  static const char *const verbs[] = {"CAPA",  "STLS",  "USER ", "PASS ",
                                      "STAT",  "QUIT",  "APOP ", "AUTH ",
                                      "TOP ",  "NOOP",  "UIDL ", "DELE "};
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
    size_t n = strlen(verbs[i]);
    if (len >= n && memcmp(line, verbs[i], n) == 0 &&
        (verbs[i][n - 1] == ' ' || len == n))
      return true;
  }
  if (len == 1 && line[0] == '*')
    return true;
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  for (size_t i = 0; i < len; i++)
    if (strchr(b64, line[i]) == NULL)
      return false;
  return true;
}

/* sc->commands, or sc->bursts without the '|' (static storage). */
static const char *expected_commands(const script_t *sc) {
  static char plain[16384];
  if (sc->commands != NULL)
    return sc->commands;
  ck_assert_ptr_nonnull(sc->bursts);
  size_t n = 0;
  for (const char *p = sc->bursts; *p; p++)
    if (*p != '|') {
      ck_assert_uint_lt(n, sizeof(plain) - 1);
      plain[n++] = *p;
    }
  plain[n] = '\0';
  return plain;
}

static void verify_commands(const script_t *sc, const run_t *r) {
  const char *commands = expected_commands(sc);
  ck_assert_msg(r->sent_len == strlen(commands) &&
                    memcmp(r->sent, commands, r->sent_len) == 0,
                "%s [%s]: sent \"%.*s\", expected \"%s\"", sc->name, r->mode,
                (int)r->sent_len, r->sent, commands);
  if (sc->bursts != NULL)
    ck_assert_msg(r->bursts_len == strlen(sc->bursts) &&
                      memcmp(r->bursts, sc->bursts, r->bursts_len) == 0,
                  "%s [%s]: wrote \"%.*s\", expected \"%s\"", sc->name,
                  r->mode, (int)r->bursts_len, r->bursts, sc->bursts);
  for (size_t start = 0; start < r->sent_len;) {
    const char *crlf = memmem(r->sent + start, r->sent_len - start, "\r\n", 2);
    ck_assert_ptr_nonnull(crlf);
    size_t len = (size_t)(crlf - (r->sent + start));
    ck_assert_msg(allowed_command(r->sent + start, len),
                  "%s: forbidden command \"%.*s\"", sc->name, (int)len,
                  r->sent + start);
    start += len + 2;
  }
}

static void verify_error(const script_t *sc, const run_t *r) {
  const pop3_error_t *e = pop3_session_error(&r->s);
  ck_assert_msg(pop3_session_failed(&r->s), "%s [%s]: did not fail", sc->name,
                r->mode);
  ck_assert_msg(e->phase == sc->phase && e->failure == sc->failure,
                "%s [%s]: phase %s failure %d, expected %s %d (\"%s\")",
                sc->name, r->mode, pop3_phase_name(e->phase), e->failure,
                pop3_phase_name(sc->phase), sc->failure, e->message);
  ck_assert_msg(e->code == sc->code, "%s [%s]: code %s, expected %s", sc->name,
                r->mode, pop3_code_name(e->code), pop3_code_name(sc->code));
  ck_assert_uint_eq(e->login_delay, sc->login_delay);
  ck_assert_ptr_nonnull(sc->message);
  ck_assert_msg(strstr(e->message, sc->message) != NULL,
                "%s [%s]: message \"%s\" lacks \"%s\"", sc->name, r->mode,
                e->message, sc->message);
  for (const char *p = e->message; *p; p++)
    ck_assert_msg(*p >= 0x20 && *p <= 0x7e, "%s: unprintable message",
                  sc->name);
  const char *password = script_password(sc);
  if (password[0] != '\0')
    ck_assert_msg(strstr(e->message, password) == NULL,
                  "%s: the password is in the message", sc->name);
  if (sc->token != NULL && sc->token[0] != '\0')
    ck_assert_msg(strstr(e->message, sc->token) == NULL,
                  "%s: the token is in the message", sc->name);
  uint64_t count, size;
  ck_assert(!pop3_session_stat(&r->s, &count, &size));
}

static void verify_age(const script_t *sc, const run_t *r) {
  const pop3_age_t *age = pop3_session_age(&r->s);
  if (sc->age_scan == 0 || !sc->ok) {
    ck_assert_ptr_null(age);
    return;
  }
  ck_assert_ptr_nonnull(age);
  ck_assert(age->done && pop3_session_values_ready(&r->s));
  ck_assert_msg(age->dated == sc->age_dated, "%s [%s]: %u dated, expected %u",
                sc->name, r->mode, age->dated, sc->age_dated);
  if (sc->age_dated > 0)
    ck_assert_msg(age->oldest == sc->oldest && age->newest == sc->newest,
                  "%s [%s]: dates %lld..%lld, expected %lld..%lld", sc->name,
                  r->mode, (long long)age->oldest, (long long)age->newest,
                  (long long)sc->oldest, (long long)sc->newest);
  if (sc->age_problem == NULL)
    ck_assert_msg(age->problem[0] == '\0', "%s [%s]: problem \"%s\"",
                  sc->name, r->mode, age->problem);
  else
    ck_assert_msg(strstr(age->problem, sc->age_problem) != NULL,
                  "%s [%s]: problem \"%s\" lacks \"%s\"", sc->name, r->mode,
                  age->problem, sc->age_problem);
}

static void verify_loop(const script_t *sc, const run_t *r) {
  const pop3_loop_t *loop = pop3_session_loop(&r->s);
  if (sc->loop_scan == 0 || !sc->ok) {
    ck_assert_ptr_null(loop);
    return;
  }
  ck_assert_ptr_nonnull(loop);
  ck_assert(loop->done && pop3_session_values_ready(&r->s));
  unsigned deleted = 0;
  for (unsigned i = 0; i < loop->found_len; i++)
    deleted += loop->found[i].deleted;
  ck_assert_msg(loop->found_len == sc->loop_found &&
                    deleted == sc->loop_deleted &&
                    loop->lookalikes == sc->loop_lookalikes,
                "%s [%s]: %u probes, %u deleted, %u look-alikes; expected "
                "%u, %u, %u",
                sc->name, r->mode, loop->found_len, deleted, loop->lookalikes,
                sc->loop_found, sc->loop_deleted, sc->loop_lookalikes);
  if (sc->loop_problem == NULL)
    ck_assert_msg(loop->problem[0] == '\0', "%s [%s]: problem \"%s\"",
                  sc->name, r->mode, loop->problem);
  else
    ck_assert_msg(strstr(loop->problem, sc->loop_problem) != NULL,
                  "%s [%s]: problem \"%s\" lacks \"%s\"", sc->name, r->mode,
                  loop->problem, sc->loop_problem);
  /* DELE only for a probe whose unique id was checked just before */
  const char *dele = r->sent;
  size_t left = r->sent_len;
  const char *hit;
  while ((hit = memmem(dele, left, "DELE ", 5)) != NULL) {
    unsigned long n = strtoul(hit + 5, NULL, 10);
    bool probe = false;
    for (unsigned i = 0; i < loop->found_len; i++)
      probe |= loop->found[i].n == n && loop->found[i].verified;
    ck_assert_msg(probe, "%s [%s]: DELE %lu of no checked probe", sc->name,
                  r->mode, n);
    left -= (size_t)(hit + 5 - dele);
    dele = hit + 5;
  }
}

static void verify(const script_t *sc, const run_t *r) {
  verify_commands(sc, r);
  ck_assert_int_eq(pop3_session_want(&r->s), POP3_WANT_NOTHING);
  if (sc->ok) {
    uint64_t count = 0, size = 0;
    ck_assert_msg(!pop3_session_failed(&r->s), "%s [%s]: failed: %s", sc->name,
                  r->mode, pop3_session_error(&r->s)->message);
    ck_assert_int_eq(pop3_session_error(&r->s)->failure, POP3_FAIL_NONE);
    ck_assert(pop3_session_stat(&r->s, &count, &size));
    ck_assert_msg(count == sc->count && size == sc->size,
                  "%s [%s]: STAT %llu %llu, expected %llu %llu", sc->name,
                  r->mode, (unsigned long long)count, (unsigned long long)size,
                  (unsigned long long)sc->count, (unsigned long long)sc->size);
  } else {
    verify_error(sc, r);
  }
  /* sent commands are cleansed: no copy of the password (or of its base64
   * forms, which only ever live in the output buffer) is left behind */
  const char *password = script_password(sc);
  if (password[0] != '\0')
    ck_assert_msg(
        memmem(&r->s, sizeof(r->s), password, strlen(password)) == NULL,
        "%s [%s]: the password lingers in the session", sc->name, r->mode);
  if (sc->token != NULL && sc->token[0] != '\0')
    ck_assert_msg(
        memmem(&r->s, sizeof(r->s), sc->token, strlen(sc->token)) == NULL,
        "%s [%s]: the token lingers in the session", sc->name, r->mode);
  static const char zeros[sizeof(r->s.output)];
  ck_assert_msg(r->s.output_len == 0 &&
                    memcmp(r->s.output, zeros, sizeof(zeros)) == 0,
                "%s [%s]: output not cleansed", sc->name, r->mode);
  ck_assert_msg(pop3_session_cache_stale(&r->s) == ((sc->flags & F_STALE) != 0),
                "%s [%s]: cache_stale %d", sc->name, r->mode,
                pop3_session_cache_stale(&r->s));
  ck_assert_msg(pop3_session_lost_pipelined(&r->s) ==
                    ((sc->flags & F_LOST) != 0),
                "%s [%s]: lost_pipelined %d", sc->name, r->mode,
                pop3_session_lost_pipelined(&r->s));
  ck_assert_msg(pop3_session_stat_late(&r->s) == ((sc->flags & F_LATE) != 0),
                "%s [%s]: stat_late %d", sc->name, r->mode,
                pop3_session_stat_late(&r->s));
  ck_assert_msg(pop3_session_burst_failed(&r->s) ==
                    ((sc->flags & F_BURST) != 0),
                "%s [%s]: burst_failed %d", sc->name, r->mode,
                pop3_session_burst_failed(&r->s));
  if (sc->auth_used != POP3_AUTH_AUTO)
    ck_assert_msg(pop3_session_auth_used(&r->s) == sc->auth_used,
                  "%s [%s]: used %s, expected %s", sc->name, r->mode,
                  pop3_auth_name(pop3_session_auth_used(&r->s)),
                  pop3_auth_name(sc->auth_used));
  /* the trace ends where the session did */
  ck_assert_int_eq(r->last, pop3_session_state(&r->s));
  ck_assert(r->last == POP3_STATE_DONE || r->last == POP3_STATE_FAILED);
  if (sc->states != NULL)
    ck_assert_msg(strcmp(r->states, sc->states) == 0,
                  "%s [%s]: states %s, expected %s", sc->name, r->mode,
                  r->states, sc->states);
  if (sc->check)
    sc->check(&r->s);
  verify_age(sc, r);
  verify_loop(sc, r);
}

/* Replays the script in every chunking; returns how many runs counted. */
static size_t check_script(const script_t *sc) {
  static run_t r; /* big; tests run one at a time */
  size_t runs = 0;
  size_t total =
      sc->server.len + (sc->server_tls.data ? sc->server_tls.len : 0);

  drive(sc, 0, false, &r);
  ck_assert_msg(!r.skipped, "%s: the whole transcript was skipped", sc->name);
  verify(sc, &r);
  runs++;
  size_t step = sc->split_step ? sc->split_step : 1;
  for (size_t split = 1; split < total; split += step) {
    drive(sc, split, false, &r);
    if (!r.skipped) {
      verify(sc, &r);
      runs++;
    }
  }
  drive(sc, 0, true, &r);
  if (!r.skipped) {
    verify(sc, &r);
    runs++;
  }
  return runs;
}

/* ---- extra checks for some scripts ------------------------------------- */

static void check_no_caps(const pop3_session_t *s) {
  const pop3_capabilities_t *c = pop3_session_capabilities(s);
  ck_assert(!c->known);
  ck_assert(!c->stls);
  ck_assert(!c->user);
  ck_assert_int_eq(c->login_delay, -1);
  ck_assert_str_eq(c->implementation, "");
  ck_assert_str_eq(c->sasl, "");
}

static void check_all_caps(const pop3_session_t *s) {
  const pop3_capabilities_t *c = pop3_session_capabilities(s);
  ck_assert(c->known);
  ck_assert(c->stls);
  ck_assert(c->user);
  ck_assert(c->pipelining);
  ck_assert(c->resp_codes);
  ck_assert(c->apop_hint); /* the greeting has a timestamp */
  ck_assert_int_eq(c->login_delay, 900);
  ck_assert_str_eq(c->implementation, "Shlemazle-Plotz-v302 \\\"beta\\\"\\x01");
  ck_assert_str_eq(c->sasl, "PLAIN LOGIN CRAM-MD5");
}

static void check_stuffed_caps(const pop3_session_t *s) {
  const pop3_capabilities_t *c = pop3_session_capabilities(s);
  ck_assert(c->known);
  ck_assert(c->stls);                      /* ".STLS" unstuffed */
  ck_assert(c->user);                      /* read after the ".." line */
  ck_assert_str_eq(c->implementation, ""); /* "..IMPLEMENTATION" is not one */
  ck_assert_int_eq(c->login_delay, -1);    /* "LOGIN-DELAY soon" is invalid */
}

static void check_caps_after_tls(const pop3_session_t *s) {
  const pop3_capabilities_t *c = pop3_session_capabilities(s);
  ck_assert(s->tls_active);
  ck_assert(c->known);
  ck_assert(!c->stls); /* the clear-text list was forgotten */
  ck_assert(c->user);
  ck_assert_str_eq(c->sasl, "PLAIN");
  ck_assert_str_eq(c->implementation, "secure");
}

static void check_greeting(const pop3_session_t *s) {
  ck_assert_str_eq(s->greeting,
                   "POP3 server ready <1896.697170952@dbc.mtview.ca.us>");
}

#define MECHS4 " MECHANISM-01 MECHANISM-02 MECHANISM-03 MECHANISM-04"
#define MECHS12 MECHS4 MECHS4 MECHS4

static void check_long_sasl(const pop3_session_t *s) {
  const char *sasl = pop3_session_capabilities(s)->sasl;
  size_t len = strlen(sasl);
  ck_assert_uint_lt(len, POP3_SASL_MAX);
  ck_assert_uint_gt(len, POP3_SASL_MAX - 15);
  /* only whole mechanisms are kept */
  ck_assert_int_eq(strncmp(sasl, &MECHS12[1], len), 0);
  ck_assert(MECHS12[len + 1] == ' ');
}

/* ---- pipelining, the capability cache and authentication --------------- */

#define CAPS_PIPE "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n"
#define CAPS_SASL "+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n"
#define CAPS_SASL_PIPE "+OK\r\nUSER\r\nPIPELINING\r\nSASL PLAIN LOGIN\r\n.\r\n"
#define CAPS_ALL_SASL                                                          \
  "+OK\r\nUSER\r\nSASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n.\r\n"
#define CAPS_ALL_SASL_PIPE                                                     \
  "+OK\r\nUSER\r\nPIPELINING\r\nSASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n.\r\n"
#define GREETING_NO_TS "+OK POP3 ready\r\n"
#define AUTH_OK "+OK Logged in.\r\n"
#define UP_TO_PIPELINED_STAT GREETING CAPS_PIPE USER_OK PASS_OK
#define CAPS_PIPE_TOP "+OK\r\nUSER\r\nPIPELINING\r\nTOP\r\n.\r\n"
#define TOP_1 "TOP 1 0\r\n"
#define TOP_2 "TOP 2 0\r\n"
#define TOP_3 "TOP 3 0\r\n"
/* Headers as TOP n 0 answers them; the dates' Unix times are Python's
 * email.utils.parsedate_to_datetime(...).timestamp(). */
#define DATE_0 1796029200 /* Mon, 30 Nov 2026 09:00:00 +0000 */
#define DATE_1 1796119200 /* Tue, 01 Dec 2026 10:00:00 +0000 */
#define DATE_2 1796207400 /* Wed, 2 Dec 2026 11:30:00 +0100 */
#define DATE_3 1796303730 /* Thu, 3 Dec 2026 08:15:30 -0500 */
#define HEAD_1                                                                 \
  "+OK\r\nReceived: from mx by pop; Tue, 01 Dec 2026 10:00:00 +0000\r\n"       \
  "Received: from a by mx; Mon, 30 Nov 2026 09:00:00 +0000\r\n"               \
  "Date: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\n.\r\n"
#define HEAD_2                                                                 \
  "+OK 300 octets\r\nReceived: by pop;\r\n\tWed, 2 Dec 2026 11:30:00 +0100"   \
  "\r\n\r\n.\r\n"
#define HEAD_3                                                                 \
  "+OK\r\nreceived: from mx by pop (x; y) ; Thu, 3 Dec 2026 08:15:30 -0500 "    \
  "(EST)\r\nSubject: three\r\n\r\n.\r\n"
#define AGE(n, old, new) .age_dated = n, .oldest = old, .newest = new
#define CAPS_LOOP "+OK\r\nUSER\r\nPIPELINING\r\nTOP\r\nUIDL\r\n.\r\n"
#define UIDL_OK(n) "+OK " #n " uid-" #n "\r\n"
/* A probe's header as TOP shows it: Dovecot's LMTP Received: on top. */
#define PROBE_HEAD(value)                                                      \
  "+OK\r\nReceived: from localhost by pop with LMTP; Tue, 01 Dec 2026 "      \
  "10:00:07 +0000\r\nX-Collectd-Pop3-Loop: " value "\r\nSubject: probe"     \
  "\r\n\r\n.\r\n"
#define LOGIN_USER "AUTH LOGIN\r\n"
#define LOGIN_USER_B64 "YWxpY2U=\r\n"
#define LOGIN_PASS_B64 "czNjcjN0LVBhNTU=\r\n"
#define LOGIN_CHALLENGES "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n"
#define APOP_MROSE "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
#define TOKEN "ya29.a0-Tok_en.x~y+z/w=="
#define XOAUTH2_IR                                                             \
  "AUTH XOAUTH2 "                                                              \
  "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB5YTI5LmEwLVRva19lbi54fnkrei93PT0BAQ==\r\n"
#define OAUTHBEARER_IR                                                         \
  "AUTH OAUTHBEARER "                                                          \
  "bixhPWFsaWNlLAFob3N0PW1haWwuZXhhbXBsZS5jb20BcG9ydD0xMTABYXV0aD1CZWFyZXIgeW" \
  "EyOS5hMC1Ub2tfZW4ueH55K3ovdz09AQE=\r\n"
#define JSON_401                                                               \
  "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0="
#define JSON_INVALID "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0="
#define JSON_NO_STATUS "eyJlcnJvciI6IngBeSJ9" /* {"error":"x\x01y"} */

static const pop3_capabilities_t CACHE_PIPE = {
    .known = true, .user = true, .pipelining = true, .login_delay = -1,
    .implementation = "from the cache"};
/* The probe in "loop: a probe among the last messages is deleted". */
static void check_probe_3(const pop3_session_t *s) {
  const pop3_loop_t *loop = pop3_session_loop(s);
  const pop3_probe_t *p = &loop->found[0];
  ck_assert_uint_eq(p->n, 3);
  ck_assert_int_eq(p->sent_ms, INT64_C(1796119205000));
  ck_assert(p->dated);
  ck_assert_int_eq(p->received, DATE_1 + 7);
  ck_assert_str_eq(p->uid, "uid-3");
  ck_assert(p->verified && p->deleted);
  ck_assert_uint_eq(loop->scanned, 2);
}

static const pop3_capabilities_t CACHE_PIPE_TOP = {
    .known = true, .user = true, .pipelining = true, .top = true,
    .login_delay = -1, .implementation = "from the cache"};
static const pop3_capabilities_t CACHE_LOCKSTEP = {
    .known = true, .user = true, .login_delay = -1};
static const pop3_capabilities_t CACHE_PLAIN_PIPE = {.known = true,
                                                     .user = true,
                                                     .pipelining = true,
                                                     .login_delay = -1,
                                                     .sasl = "PLAIN LOGIN"};
static const pop3_capabilities_t CACHE_UNKNOWN = {.login_delay = -1};
static const pop3_capabilities_t CACHE_LOGIN_ONLY = {
    .known = true, .pipelining = true, .login_delay = -1, .sasl = "LOGIN"};

static void check_ran_capa(const pop3_session_t *s) {
  ck_assert(pop3_session_ran_capa(s));
}

static void check_cached_caps(const pop3_session_t *s) {
  ck_assert(!pop3_session_ran_capa(s));
  const pop3_capabilities_t *c = pop3_session_capabilities(s);
  ck_assert(c->known && c->pipelining);
  ck_assert_str_eq(c->implementation, "from the cache");
}

/* ---- the scripts ------------------------------------------------------- */

#define OK(c, s) .ok = true, .count = c, .size = s
#define FAILS(ph, f, msg) .phase = ph, .failure = f, .message = msg

/* traces: the states from the greeting through a first CAPA */
#define AFTER_CAPA "GREETING>CAPA>CAPA_LIST"

static const script_t scripts[] = {
    {"plain success", B(GREETING CAPS_PLAIN USER_OK PASS_OK STAT_OK BYE),
     .commands = LOGIN_COMMANDS, OK(2, 320), .check = check_greeting,
     .states = AFTER_CAPA ">USER>PASS>STAT>QUIT>DONE"},
    {"empty mailbox", B(WITH_STAT("+OK 0 0\r\n")), .commands = LOGIN_COMMANDS,
     OK(0, 0)},
    {"size above 2 GiB", B(WITH_STAT("+OK 1 2147483649\r\n")),
     .commands = LOGIN_COMMANDS, OK(1, 2147483649ULL)},
    {"size above 4 GiB", B(WITH_STAT("+OK 70000 4294967297\r\n")),
     .commands = LOGIN_COMMANDS, OK(70000, 4294967297ULL)},
    {"UINT64_MAX",
     B(WITH_STAT("+OK 18446744073709551615 18446744073709551615\r\n")),
     .commands = LOGIN_COMMANDS, OK(UINT64_MAX, UINT64_MAX)},
    {"STAT with extra spaces and text",
     B(WITH_STAT("+OK   5   1200 octets in maildrop\r\n")),
     .commands = LOGIN_COMMANDS, OK(5, 1200)},
    {"bare LF line ends",
     B("+OK hi\n+OK\nUSER\n.\n+OK\n+OK\n+OK 7 9000\n+OK bye\n"),
     .commands = LOGIN_COMMANDS, OK(7, 9000)},
    {"CAPA -ERR", B(GREETING NO_CAPA USER_OK PASS_OK STAT_OK BYE),
     .commands = LOGIN_COMMANDS, OK(2, 320), .check = check_no_caps},
    {"CAPA with every capability",
     B(GREETING
       "+OK Capability list follows\r\n"
       "TOP\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\n"
       "LOGIN-DELAY 900\r\nPIPELINING\r\nEXPIRE 60\r\nUIDL\r\n"
       "IMPLEMENTATION Shlemazle-Plotz-v302 \"beta\"\x01\r\n"
       "X-UNKNOWN whatever\r\nstls\r\n.\r\n" "+OK\r\n" STAT_OK BYE),
     .bursts = CAPA "|" AUTH_PLAIN STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_PLAIN, .check = check_all_caps},
    {"dot-stuffed capability lines",
     B(GREETING
       "+OK\r\n..\r\n...\r\n.STLS\r\n..IMPLEMENTATION x\r\n"
       "LOGIN-DELAY soon\r\nUSER\r\n.\r\n" USER_OK PASS_OK STAT_OK BYE),
     .commands = LOGIN_COMMANDS, OK(2, 320), .check = check_stuffed_caps},
    {"SASL list cut to fit",
     B(GREETING "+OK\r\nSASL" MECHS12 "\r\n.\r\n" USER_OK PASS_OK STAT_OK BYE),
     .commands = LOGIN_COMMANDS, OK(2, 320), .check = check_long_sasl},

    /* StartTLS */
    {"STLS success", B(GREETING CAPS_STLS STLS_OK),
     B(CAPS_TLS "+OK\r\n" "+OK 3 4500\r\n" BYE), .starttls = true,
     .commands = CAPA STLS CAPA AUTH_PLAIN STAT QUIT, OK(3, 4500),
     .auth_used = POP3_AUTH_PLAIN, .check = check_caps_after_tls,
     .states = AFTER_CAPA ">STLS>TLS_PENDING>CAPA>CAPA_LIST>AUTH>STAT>QUIT"
               ">DONE"},
    {"STLS tried when CAPA is unsupported", B(GREETING NO_CAPA STLS_OK),
     B(NO_CAPA USER_OK PASS_OK STAT_OK BYE), .starttls = true,
     .commands = CAPA STLS CAPA USER PASS STAT QUIT, OK(2, 320)},
    {"STLS not offered", B(GREETING CAPS_PLAIN USER_OK), .starttls = true,
     .commands = CAPA,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_NO_STLS,
           "StartTLS required but the server does not offer STLS")},
    {"STLS -ERR", B(GREETING CAPS_STLS "-ERR TLS not available now\r\n"),
     .starttls = true, .commands = CAPA STLS,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_REFUSED,
           "server refused STLS: \"TLS not available now\"")},
    {"STLS -ERR without CAPA", B(GREETING NO_CAPA "-ERR unknown command\r\n"),
     .starttls = true, .commands = CAPA STLS,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_REFUSED, "refused STLS")},
    {"plaintext injected after STLS +OK",
     B(GREETING CAPS_STLS STLS_OK "+OK\r\n+OK\r\n+OK 0 0\r\n"), B(""),
     .starttls = true, .commands = CAPA STLS, .injects = true,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_TLS_INJECTION,
           "bytes after the STLS reply before the TLS handshake")},
    {"injection of a single byte", B(GREETING CAPS_STLS STLS_OK "x"), B(""),
     .starttls = true, .commands = CAPA STLS, .injects = true,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_TLS_INJECTION,
           "server sent 1 bytes after the STLS reply")},

    /* -ERR answers */
    {"-ERR greeting", B("-ERR too many connections\r\n"), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_REFUSED,
           "server refused the connection: \"too many connections\"")},
    {"-ERR greeting with code", B("-ERR [SYS/TEMP] try later\r\n"),
     .commands = "", .code = POP3_CODE_SYS_TEMP,
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_REFUSED,
           "server refused the connection [SYS/TEMP]: \"try later\"")},
    {"-ERR to USER", B(UP_TO_USER "-ERR no such mailbox\r\n"),
     .commands = CAPA USER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login name: \"no such mailbox\"")},
    {"-ERR to PASS", B(UP_TO_PASS "-ERR invalid password\r\n"),
     .commands = CAPA USER PASS, .states = AFTER_CAPA ">USER>PASS>FAILED",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login: \"invalid password\"")},
    {"-ERR to PASS [AUTH]",
     B(UP_TO_PASS "-ERR [AUTH] Authentication failed.\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"Authentication failed.\"")},
    {"-ERR to PASS [auth] lower case", B(UP_TO_PASS "-ERR [auth] no\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED, "[AUTH]: \"no\"")},
    {"-ERR to PASS [IN-USE]", B(UP_TO_PASS "-ERR [IN-USE] Mailbox locked\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_IN_USE,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "login [IN-USE]: \"Mailbox locked\"")},
    {"-ERR to PASS [LOGIN-DELAY]", B(UP_TO_PASS "-ERR [LOGIN-DELAY] wait\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_LOGIN_DELAY,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "login [LOGIN-DELAY]: \"wait\"")},
    {"-ERR to PASS [LOGIN-DELAY 900]",
     B(UP_TO_PASS "-ERR [LOGIN-DELAY 900] wait 15 minutes\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_LOGIN_DELAY,
     .login_delay = 900,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "login [LOGIN-DELAY 900]: \"wait 15 minutes\"")},
    {"[LOGIN-DELAY] to STLS, before TLS: not believed",
     B(GREETING CAPS_STLS "-ERR [LOGIN-DELAY 900] go away\r\n"),
     .starttls = true, .commands = CAPA STLS, .code = POP3_CODE_OTHER,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_REFUSED,
           "server refused STLS [LOGIN-DELAY 900]: \"go away\"")},
    {"[LOGIN-DELAY] to STAT: not an answer to a login",
     B(UP_TO_STAT "-ERR [LOGIN-DELAY 900] later\r\n"), .no_pipeline = true,
     .commands = CAPA USER PASS STAT, .code = POP3_CODE_OTHER,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED, "[LOGIN-DELAY 900]")},
    {"[LOGIN-DELAY] to PASS after STLS: believed",
     B(GREETING CAPS_STLS STLS_OK),
     B(CAPS_PLAIN USER_OK "-ERR [LOGIN-DELAY 600] wait\r\n"),
     .starttls = true, .commands = CAPA STLS CAPA USER PASS,
     .code = POP3_CODE_LOGIN_DELAY, .login_delay = 600,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED, "[LOGIN-DELAY 600]")},
    {"-ERR to PASS [SYS/TEMP]", B(UP_TO_PASS "-ERR [SYS/TEMP] disk busy\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_SYS_TEMP,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "login [SYS/TEMP]: \"disk busy\"")},
    {"-ERR to PASS [SYS/PERM]",
     B(UP_TO_PASS "-ERR [SYS/PERM] account gone\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_SYS_PERM,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "login [SYS/PERM]: \"account gone\"")},
    {"-ERR to PASS [XYZ]", B(UP_TO_PASS "-ERR [XYZ] odd\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_OTHER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED, "login [XYZ]: \"odd\"")},
    {"-ERR to PASS with code only", B(UP_TO_PASS "-ERR [AUTH]\r\n"),
     .commands = CAPA USER PASS, .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]")},
    {"-ERR to PASS escaped",
     B(UP_TO_PASS "-ERR bad \"pw\"\\\x1b[31m\xc3\xa9\r\n"),
     .commands = CAPA USER PASS,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "login: \"bad \\\"pw\\\"\\\\\\x1b[31m\\xc3\\xa9\"")},
    {"-ERR to STAT", B(UP_TO_STAT "-ERR mailbox unavailable\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED,
           "server refused STAT: \"mailbox unavailable\"")},

    /* broken STAT answers */
    {"STAT negative count", B(UP_TO_STAT "+OK -1 100\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "STAT answer has a negative message count: \"+OK -1 100\"")},
    {"STAT negative size", B(UP_TO_STAT "+OK 1 -100\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "STAT answer has a negative mailbox size: \"+OK 1 -100\"")},
    {"STAT count overflow", B(UP_TO_STAT "+OK 18446744073709551616 1\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "out-of-range message count: \"+OK 18446744073709551616 1\"")},
    {"STAT size overflow", B(UP_TO_STAT "+OK 1 18446744073709551616\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "out-of-range mailbox size")},
    {"STAT huge size", B(UP_TO_STAT "+OK 1 99999999999999999999999\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "out-of-range mailbox size")},
    {"STAT without numbers", B(UP_TO_STAT "+OK\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "STAT answer has no message count: \"+OK\"")},
    {"STAT without size", B(UP_TO_STAT "+OK 3\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "STAT answer has no mailbox size: \"+OK 3\"")},
    {"STAT without size, trailing space", B(UP_TO_STAT "+OK 3 \r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "no mailbox size")},
    {"STAT letters in count", B(UP_TO_STAT "+OK 4x 100\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "STAT answer has a malformed message count: \"+OK 4x 100\"")},
    {"STAT letters in size", B(UP_TO_STAT "+OK 4 1k\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "malformed mailbox size")},
    {"STAT tab separated", B(UP_TO_STAT "+OK 4\t100\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "malformed message count: \"+OK 4\\x09100\"")},
    {"STAT empty line", B(UP_TO_STAT "\r\n"), .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "expected \"+OK\" or \"-ERR\", got \"\"")},

    /* not a status line */
    {"+ERR greeting", B("+ERR hello\r\n"), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_PROTOCOL,
           "expected \"+OK\" or \"-ERR\", got \"+ERR hello\"")},
    {"empty greeting", B("\r\n"), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_PROTOCOL, "got \"\"")},
    {"HELLO to CAPA", B(GREETING "HELLO\r\n"), .commands = CAPA,
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_PROTOCOL,
           "expected \"+OK\" or \"-ERR\", got \"HELLO\"")},
    {"OK to USER", B(UP_TO_USER "OK\r\n"), .commands = CAPA USER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL, "got \"OK\"")},
    {"+OKAY to PASS", B(UP_TO_PASS "+OKAY\r\n"), .commands = CAPA USER PASS,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL, "got \"+OKAY\"")},
    {"-ERROR to STAT", B(UP_TO_STAT "-ERROR\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "got \"-ERROR\"")},
    {"lower-case +ok", B("+ok hi\r\n"), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_PROTOCOL, "got \"+ok hi\"")},
    {"garbage to STLS", B(GREETING CAPS_STLS "\x01\x02\r\n"), .starttls = true,
     .commands = CAPA STLS,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_PROTOCOL, "got \"\\x01\\x02\"")},
    {"NUL in greeting", B("+OK hi\0there\r\n"), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_PROTOCOL, "NUL byte")},
    {"NUL in a capability", B(GREETING "+OK\r\nUS\0ER\r\n.\r\n"),
     .commands = CAPA,
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_PROTOCOL, "NUL byte")},
    {"NUL in STAT answer", B(UP_TO_STAT "+OK 1 2\0\r\n"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "NUL byte")},

    /* the server hangs up */
    {"EOF before the greeting", B(""), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_CLOSED,
           "server closed the connection while waiting for the greeting")},
    {"EOF within the greeting", B("+OK hel"), .commands = "",
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_CLOSED, "waiting for the greeting")},
    {"EOF waiting for CAPA", B(GREETING), .commands = CAPA,
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_CLOSED,
           "while waiting for the CAPA answer")},
    {"EOF within the CAPA list", B(GREETING "+OK\r\nUSER\r\n"),
     .commands = CAPA,
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_CLOSED,
           "while waiting for the CAPA answer")},
    {"EOF waiting for STLS", B(GREETING CAPS_STLS), .starttls = true,
     .commands = CAPA STLS,
     FAILS(POP3_PHASE_TLS, POP3_FAIL_CLOSED,
           "while waiting for the STLS answer")},
    {"EOF waiting for CAPA over TLS", B(GREETING CAPS_STLS STLS_OK), B(""),
     .starttls = true, .commands = CAPA STLS CAPA,
     FAILS(POP3_PHASE_GREETING, POP3_FAIL_CLOSED,
           "while waiting for the CAPA answer")},
    {"EOF waiting for USER", B(UP_TO_USER), .commands = CAPA USER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_CLOSED,
           "while waiting for the USER answer")},
    {"EOF waiting for PASS", B(UP_TO_PASS), .commands = CAPA USER PASS,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_CLOSED,
           "server closed the connection while waiting for the PASS answer")},
    {"EOF waiting for STAT", B(UP_TO_STAT), .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_CLOSED,
           "while waiting for the STAT answer")},
    {"EOF within the STAT answer", B(UP_TO_STAT "+OK 1 2"),
     .commands = CAPA USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_CLOSED,
           "while waiting for the STAT answer")},

    /* after STAT nothing can spoil the result */
    {"EOF waiting for QUIT", B(UP_TO_STAT STAT_OK), .commands = LOGIN_COMMANDS,
     OK(2, 320), .states = AFTER_CAPA ">USER>PASS>STAT>QUIT>DONE"},
    {"EOF within the QUIT answer", B(UP_TO_STAT STAT_OK "+OK by"),
     .commands = LOGIN_COMMANDS, OK(2, 320)},
    {"-ERR to QUIT",
     B(UP_TO_STAT STAT_OK "-ERR some deleted messages not removed\r\n"),
     .commands = LOGIN_COMMANDS, OK(2, 320)},
    {"garbage to QUIT", B(UP_TO_STAT STAT_OK "what?\r\n"),
     .commands = LOGIN_COMMANDS, OK(2, 320),
     .states = AFTER_CAPA ">USER>PASS>STAT>QUIT>DONE"},
    {"NUL in the QUIT answer", B(UP_TO_STAT STAT_OK "+OK\0\r\n"),
     .commands = LOGIN_COMMANDS, OK(2, 320)},

    /* unusable credentials: nothing is sent that carries them */
    {"password with CR LF", B(UP_TO_PASS), .password = "pw\r\nDELE 1",
     .commands = CAPA USER, .states = AFTER_CAPA ">USER>PASS>FAILED",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
           "the password contains a line break")},
    {"password with LF", B(UP_TO_PASS), .password = "pw\nDELE 1",
     .commands = CAPA USER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "password contains")},
    {"password with CR", B(UP_TO_PASS), .password = "pw\rx",
     .commands = CAPA USER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "password contains")},
    {"user with LF", B(UP_TO_USER), .user = "alice\nDELE 1", .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
           "the user name contains a line break")},
    {"empty user", B(UP_TO_USER), .user = "", .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "no user name")},
    {"empty password is sent", B(UP_TO_STAT STAT_OK BYE), .password = "",
     .commands = CAPA USER "PASS \r\n" STAT QUIT, OK(2, 320)},

    /* pipelining (RFC 2449) with fresh capabilities */
    {"pipelined login, STAT and QUIT",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK BYE),
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_USER, .check = check_ran_capa,
     /* the answers to the burst, one state each */
     .states = AFTER_CAPA ">USER>PASS>STAT>QUIT>DONE"},
    {"pipeline_login off: USER and PASS only",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK BYE), .no_pipeline = true,
     .bursts = CAPA "|" USER PASS "|" STAT "|" QUIT, OK(2, 320)},
    {"lock-step without PIPELINING",
     B(GREETING CAPS_PLAIN USER_OK PASS_OK STAT_OK BYE),
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" QUIT, OK(2, 320)},
    {"pipelined SASL PLAIN", B(GREETING CAPS_SASL_PIPE AUTH_OK STAT_OK BYE),
     .bursts = CAPA "|" AUTH_PLAIN STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_PLAIN,
     .states = AFTER_CAPA ">AUTH>STAT>QUIT>DONE"},
    {"pipelined burst, USER refused",
     B(GREETING CAPS_PIPE "-ERR no such user\r\n-ERR\r\n-ERR\r\n+OK\r\n"),
     .bursts = CAPA "|" USER PASS STAT,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login name: \"no such user\"")},
    {"pipelined burst, PASS refused [AUTH]",
     B(GREETING CAPS_PIPE USER_OK
       "-ERR [AUTH] Authentication failed.\r\n-ERR no\r\n+OK bye\r\n"),
     .bursts = CAPA "|" USER PASS STAT, .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"Authentication failed.\"")},
    {"pipelined burst, STAT refused",
     B(GREETING CAPS_PIPE USER_OK PASS_OK "-ERR [SYS/TEMP] busy\r\n" BYE),
     .bursts = CAPA "|" USER PASS STAT, .code = POP3_CODE_SYS_TEMP,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED,
           "server refused STAT [SYS/TEMP]: \"busy\"")},
    {"pipelined burst, EOF instead of the QUIT answer",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK),
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320)},
    {"pipelined burst, EOF waiting for PASS", B(GREETING CAPS_PIPE USER_OK),
     .bursts = CAPA "|" USER PASS STAT,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_CLOSED,
           "while waiting for the PASS answer")},

    /* the capability cache */
    {"cache: the burst follows the greeting",
     B(GREETING USER_OK PASS_OK STAT_OK BYE), .cached = &CACHE_PIPE,
     .bursts = USER PASS STAT "|" QUIT, OK(2, 320),
     .check = check_cached_caps,
     .states = "GREETING>USER>PASS>STAT>QUIT>DONE"},
    {"cache: lock-step without PIPELINING",
     B(GREETING USER_OK PASS_OK STAT_OK BYE), .cached = &CACHE_LOCKSTEP,
     .bursts = USER "|" PASS "|" STAT "|" QUIT, OK(2, 320)},
    {"cache: pipeline_login off", B(GREETING USER_OK PASS_OK STAT_OK BYE),
     .cached = &CACHE_PIPE, .no_pipeline = true,
     .bursts = USER PASS "|" STAT "|" QUIT, OK(2, 320)},
    {"cache: SASL PLAIN", B(GREETING AUTH_OK STAT_OK BYE),
     .cached = &CACHE_PLAIN_PIPE, .bursts = AUTH_PLAIN STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_PLAIN},
    {"cache: StartTLS skips both CAPAs", B(GREETING STLS_OK),
     B(USER_OK PASS_OK STAT_OK BYE), .starttls = true, .cached = &CACHE_PIPE,
     .bursts = STLS "|" USER PASS STAT "|" QUIT, OK(2, 320),
     .check = check_cached_caps},
    {"cache stale: STLS refused", B(GREETING "-ERR not now\r\n"),
     .starttls = true, .cached = &CACHE_PIPE, .bursts = STLS, .flags = F_STALE,
     .states = "GREETING>STLS>FAILED",
     FAILS(POP3_PHASE_TLS, POP3_FAIL_REFUSED,
           "server refused STLS: \"not now\"")},
    {"cache stale: USER unknown, then CAPA and lock-step",
     B(GREETING "-ERR unknown command\r\n-ERR no USER\r\n-ERR not logged in\r\n"
       CAPS_SASL AUTH_OK STAT_OK BYE),
     .cached = &CACHE_PIPE, .flags = F_STALE,
     .bursts = USER PASS STAT "|" CAPA "|" AUTH_PLAIN "|" STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_PLAIN, .check = check_ran_capa,
     /* USER refused: the answers to PASS and STAT are skipped, not states */
     .states = "GREETING>USER>CAPA>CAPA_LIST>AUTH>STAT>QUIT>DONE"},
    {"cache stale: SASL PLAIN gone",
     B(GREETING "-ERR Unsupported authentication mechanism.\r\n"
       "-ERR Unknown command\r\n" CAPS_PLAIN USER_OK PASS_OK STAT_OK BYE),
     .cached = &CACHE_PLAIN_PIPE, .flags = F_STALE,
     .bursts = AUTH_PLAIN STAT "|" CAPA "|" USER "|" PASS "|" STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_USER},
    {"cache stale: Dovecot's [AUTH] Unsupported authentication mechanism",
     B(GREETING "-ERR [AUTH] Unsupported authentication mechanism.\r\n"
       "-ERR Unknown command\r\n" CAPS_PLAIN USER_OK PASS_OK STAT_OK BYE),
     .cached = &CACHE_PLAIN_PIPE, .flags = F_STALE,
     .bursts = AUTH_PLAIN STAT "|" CAPA "|" USER "|" PASS "|" STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_USER},
    {"cache stale: AUTH LOGIN refused before any credentials",
     B(GREETING "-ERR [AUTH] no such thing\r\n" CAPS_SASL AUTH_OK STAT_OK BYE),
     .cached = &CACHE_LOGIN_ONLY, .flags = F_STALE,
     .bursts = LOGIN_USER "|" CAPA "|" AUTH_PLAIN "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_PLAIN},
    {"cache: [AUTH] to AUTH PLAIN with credentials is a plain failure",
     B(GREETING "-ERR [AUTH] Authentication failed.\r\n-ERR no\r\n"),
     .cached = &CACHE_PLAIN_PIPE, .bursts = AUTH_PLAIN STAT,
     .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"Authentication failed.\" "
           "(SASL PLAIN)")},
    {"cache: a refused LOGIN after the challenges is a plain failure",
     B(GREETING LOGIN_CHALLENGES "-ERR [AUTH] Authentication failed.\r\n"),
     .cached = &CACHE_LOGIN_ONLY,
     .bursts = LOGIN_USER "|" LOGIN_USER_B64 "|" LOGIN_PASS_B64 STAT,
     .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED, "(SASL LOGIN)")},
    {"cache stale after STLS: CAPA over TLS", B(GREETING STLS_OK),
     B("-ERR unknown command\r\n-ERR\r\n-ERR\r\n" CAPS_TLS AUTH_OK STAT_OK BYE),
     .starttls = true, .cached = &CACHE_PIPE, .flags = F_STALE,
     .bursts = STLS "|" USER PASS STAT "|" CAPA "|" AUTH_PLAIN "|" STAT "|" QUIT,
     OK(2, 320), .check = check_caps_after_tls,
     .states = "GREETING>STLS>TLS_PENDING>USER>CAPA>CAPA_LIST>AUTH>STAT>QUIT"
               ">DONE"},
    {"cache: [AUTH] is a plain failure",
     B(GREETING USER_OK "-ERR [AUTH] Authentication failed.\r\n-ERR no\r\n"),
     .cached = &CACHE_PIPE, .bursts = USER PASS STAT, .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"Authentication failed.\"")},
    {"cache: [IN-USE] is a plain failure",
     B(GREETING USER_OK "-ERR [IN-USE] locked\r\n-ERR no\r\n"),
     .cached = &CACHE_PIPE, .bursts = USER PASS STAT,
     .code = POP3_CODE_IN_USE,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED, "login [IN-USE]: \"locked\"")},
    {"cache: a refusal without a code is tried once more",
     B(GREETING USER_OK "-ERR invalid password\r\n-ERR not logged in\r\n"
       CAPS_PLAIN USER_OK "-ERR invalid password\r\n"),
     .cached = &CACHE_PIPE, .flags = F_STALE,
     .bursts = USER PASS STAT "|" CAPA "|" USER "|" PASS,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login: \"invalid password\"")},
    {"cache without known capabilities: CAPA",
     B(GREETING CAPS_PLAIN USER_OK PASS_OK STAT_OK BYE),
     .cached = &CACHE_UNKNOWN,
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" QUIT, OK(2, 320),
     .check = check_ran_capa},
    {"cache lacks the forced mechanism: CAPA",
     B(GREETING CAPS_ALL_SASL AUTH_OK STAT_OK BYE),
     .cached = &CACHE_PLAIN_PIPE, .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_XOAUTH2},

    /* commands lost behind the login: pop3_session_stalled() */
    {"stalled: the NOOP is answered first, so STAT was lost",
     B(UP_TO_PIPELINED_STAT "+OK\r\n" STAT_OK BYE),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1, .flags = F_LOST,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP "|" STAT "|" QUIT,
     OK(2, 320),
     /* the NOOP's +OK: STAT is asked anew, lock-step (STAT to STAT) */
     .states = AFTER_CAPA ">USER>PASS>STAT>STAT>QUIT>DONE"},
    {"stalled: a late STAT answer is only late",
     B(UP_TO_PIPELINED_STAT STAT_OK BYE "+OK\r\n"),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1, .flags = F_LATE,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP "|" QUIT, OK(2, 320),
     .states = AFTER_CAPA ">USER>PASS>STAT>QUIT>DONE"},
    {"stalled: the late STAT answer is all there is",
     B(UP_TO_PIPELINED_STAT STAT_OK),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1, .flags = F_LATE,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP "|" QUIT, OK(2, 320)},
    {"stalled with the cache's burst, STAT lost",
     B(GREETING USER_OK PASS_OK "+OK\r\n" STAT_OK BYE),
     .cached = &CACHE_PIPE, .stall_at = sizeof(GREETING USER_OK PASS_OK) - 1,
     .flags = F_LOST,
     .bursts = USER PASS STAT "|" NOOP "|" STAT "|" QUIT, OK(2, 320)},
    {"stalled with the cache's burst, STAT late",
     B(GREETING USER_OK PASS_OK STAT_OK "+OK\r\n" BYE),
     .cached = &CACHE_PIPE, .stall_at = sizeof(GREETING USER_OK PASS_OK) - 1,
     .flags = F_LATE, .bursts = USER PASS STAT "|" NOOP "|" QUIT, OK(2, 320)},
    {"stalled, then STAT refused with a response code",
     B(UP_TO_PIPELINED_STAT "-ERR [SYS/TEMP] busy\r\n"),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP,
     .code = POP3_CODE_SYS_TEMP,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED, "server refused STAT")},
    {"stalled, then STAT refused without a code: the burst failed",
     B(UP_TO_PIPELINED_STAT "-ERR what?\r\n"),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1, .flags = F_BURST,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED, "server refused STAT")},
    {"stalled, then EOF: the burst failed", B(UP_TO_PIPELINED_STAT),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1, .flags = F_BURST,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_CLOSED,
           "while waiting for the STAT answer")},
    {"lost, then STAT refused without a code: the burst failed",
     B(UP_TO_PIPELINED_STAT "+OK\r\n-ERR no\r\n"),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT) - 1, .flags = F_LOST | F_BURST,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP "|" STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED, "server refused STAT")},

    /* answers that do not fit the burst */
    {"pipelined STAT refused without a code: the burst failed",
     B(UP_TO_PIPELINED_STAT "-ERR Unrecognized command\r\n"),
     .flags = F_BURST, .bursts = CAPA "|" USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED,
           "server refused STAT: \"Unrecognized command\"")},
    {"pipelined STAT refused with a code: a real answer",
     B(UP_TO_PIPELINED_STAT "-ERR [IN-USE] locked\r\n"),
     .bursts = CAPA "|" USER PASS STAT, .code = POP3_CODE_IN_USE,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED, "server refused STAT")},
    {"more answers than commands: the burst failed",
     B(UP_TO_PIPELINED_STAT "+OK logged in\r\n" STAT_OK BYE),
     .flags = F_BURST, .bursts = CAPA "|" USER PASS STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_PROTOCOL,
           "STAT answer has a malformed message count")},
    {"a lock-step STAT refused: no burst to blame",
     B(UP_TO_STAT "-ERR Unrecognized command\r\n"), .no_pipeline = true,
     .bursts = CAPA "|" USER "|" PASS "|" STAT,
     FAILS(POP3_PHASE_STAT, POP3_FAIL_REFUSED, "server refused STAT")},
    {"lockstep_methods names USER: STAT waits for the login",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK BYE),
     .lockstep = 1u << POP3_AUTH_USER,
     .bursts = CAPA "|" USER PASS "|" STAT "|" QUIT, OK(2, 320)},
    {"lockstep_methods names another method: the burst as usual",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK BYE),
     .lockstep = 1u << POP3_AUTH_PLAIN,
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320)},
    {"stalled before the login answer: nothing",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK BYE),
     .stall_at = sizeof(GREETING CAPS_PIPE) - 1,
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320)},
    {"stalled after the USER answer: nothing",
     B(GREETING CAPS_PIPE USER_OK PASS_OK STAT_OK BYE),
     .stall_at = sizeof(GREETING CAPS_PIPE USER_OK) - 1,
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320)},
    {"stalled in lock-step: nothing", B(UP_TO_STAT STAT_OK BYE),
     .stall_at = sizeof(UP_TO_STAT) - 1,
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" QUIT, OK(2, 320)},
    {"stalled in the middle of the STAT answer: nothing",
     B(UP_TO_PIPELINED_STAT STAT_OK BYE),
     .stall_at = sizeof(UP_TO_PIPELINED_STAT "+OK 2") - 1,
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320)},

    /* APOP (RFC 1939 7, with its example) */
    {"APOP", B(GREETING CAPS_PLAIN "+OK mrose's maildrop\r\n" STAT_OK BYE),
     .auth = POP3_AUTH_APOP, .user = "mrose", .password = "tanstaaf",
     .bursts = CAPA "|" APOP_MROSE "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_APOP},
    {"APOP pipelined", B(GREETING CAPS_PIPE "+OK\r\n" STAT_OK BYE),
     .auth = POP3_AUTH_APOP, .user = "mrose", .password = "tanstaaf",
     .bursts = CAPA "|" APOP_MROSE STAT "|" QUIT, OK(2, 320)},
    {"APOP when CAPA is not supported", B(GREETING NO_CAPA "+OK\r\n" STAT_OK BYE),
     .auth = POP3_AUTH_APOP, .user = "mrose", .password = "tanstaaf",
     .bursts = CAPA "|" APOP_MROSE "|" STAT "|" QUIT, OK(2, 320)},
    {"APOP refused", B(GREETING CAPS_PLAIN "-ERR [AUTH] permission denied\r\n"),
     .auth = POP3_AUTH_APOP, .user = "mrose", .password = "tanstaaf",
     .bursts = CAPA "|" APOP_MROSE, .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"permission denied\" (APOP)")},
    {"APOP without a timestamp", B(GREETING_NO_TS CAPS_PLAIN),
     .auth = POP3_AUTH_APOP, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
           "server does not offer APOP: its greeting has no <timestamp> (it "
           "offers: USER)")},
    {"APOP with a blank in the timestamp", B("+OK hi <a b@c>\r\n" CAPS_PLAIN),
     .auth = POP3_AUTH_APOP, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM, "no <timestamp>")},
    {"APOP with an empty timestamp", B("+OK hi <>\r\n" NO_CAPA),
     .auth = POP3_AUTH_APOP, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM, "(it offers: nothing)")},
    {"APOP with a user name with a blank", B(GREETING CAPS_PLAIN),
     .auth = POP3_AUTH_APOP, .user = "mr ose", .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "APOP cannot carry")},

    /* SASL PLAIN (RFC 4616) and LOGIN */
    {"SASL PLAIN", B(GREETING CAPS_SASL AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_PLAIN,
     .bursts = CAPA "|" AUTH_PLAIN "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_PLAIN},
    {"SASL PLAIN refused",
     B(GREETING CAPS_SASL "-ERR [AUTH] Authentication failed.\r\n"),
     .auth = POP3_AUTH_PLAIN, .bursts = CAPA "|" AUTH_PLAIN,
     .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"Authentication failed.\" "
           "(SASL PLAIN)")},
    {"SASL PLAIN: an unexpected challenge is cancelled",
     B(GREETING CAPS_SASL "+ \r\n-ERR cancelled\r\n"),
     .bursts = CAPA "|" AUTH_PLAIN "|*\r\n",
     .states = AFTER_CAPA ">AUTH>AUTH_CANCEL>FAILED",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL,
           "server sent an unexpected SASL PLAIN challenge \"\"; cancelled")},
    /* STAT and QUIT are on the wire already: nothing may follow QUIT, not
     * even the "*" that would cancel a lock-step exchange */
    {"SASL PLAIN pipelined: an unexpected challenge ends the session",
     B(GREETING CAPS_SASL_PIPE "+ eA==\r\n-ERR\r\n"),
     .bursts = CAPA "|" AUTH_PLAIN STAT, .flags = F_BURST,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL,
           "unexpected SASL PLAIN challenge \"eA==\" to a pipelined login")},
    {"SASL LOGIN", B(GREETING CAPS_SASL LOGIN_CHALLENGES AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_LOGIN,
     /* the challenges are read in AUTH: an exchange is one state */
     .states = AFTER_CAPA ">AUTH>STAT>QUIT>DONE",
     .bursts = CAPA "|" LOGIN_USER "|" LOGIN_USER_B64 "|" LOGIN_PASS_B64
               "|" STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_LOGIN},
    {"SASL LOGIN pipelined",
     B(GREETING CAPS_SASL_PIPE LOGIN_CHALLENGES AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_LOGIN,
     .bursts = CAPA "|" LOGIN_USER "|" LOGIN_USER_B64 "|" LOGIN_PASS_B64
               STAT "|" QUIT,
     OK(2, 320)},
    {"SASL LOGIN: a third challenge is cancelled",
     B(GREETING CAPS_SASL LOGIN_CHALLENGES "+ TW9yZT8=\r\n-ERR\r\n"),
     .auth = POP3_AUTH_LOGIN,
     .bursts = CAPA "|" LOGIN_USER "|" LOGIN_USER_B64 "|" LOGIN_PASS_B64
               "|*\r\n",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL,
           "unexpected SASL LOGIN challenge \"TW9yZT8=\"")},
    {"SASL LOGIN refused after the challenges",
     B(GREETING CAPS_SASL LOGIN_CHALLENGES "-ERR [AUTH] no\r\n"),
     .auth = POP3_AUTH_LOGIN, .cached = NULL,
     .bursts = CAPA "|" LOGIN_USER "|" LOGIN_USER_B64 "|" LOGIN_PASS_B64,
     .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"no\" (SASL LOGIN)")},
    {"EOF waiting for the AUTH answer", B(GREETING CAPS_SASL),
     .bursts = CAPA "|" AUTH_PLAIN,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_CLOSED,
           "while waiting for the AUTH answer")},
    {"garbage to AUTH", B(GREETING CAPS_SASL "+OKAY\r\n"),
     .bursts = CAPA "|" AUTH_PLAIN,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL, "got \"+OKAY\"")},
    {"NUL in a challenge", B(GREETING CAPS_SASL "+ a\0b\r\n"),
     .auth = POP3_AUTH_LOGIN, .bursts = CAPA "|" LOGIN_USER,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL, "NUL byte")},

    /* auto */
    {"auto: SASL PLAIN when listed", B(GREETING CAPS_SASL AUTH_OK STAT_OK BYE),
     .bursts = CAPA "|" AUTH_PLAIN "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_PLAIN},
    {"auto: USER when CAPA is not supported",
     B(GREETING NO_CAPA USER_OK PASS_OK STAT_OK BYE),
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_USER},
    {"auto: USER before SASL LOGIN",
     B(GREETING "+OK\r\nUSER\r\nSASL LOGIN\r\n.\r\n" USER_OK PASS_OK STAT_OK
       BYE),
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_USER},
    {"auto: SASL LOGIN when only it is listed",
     B(GREETING "+OK\r\nSASL LOGIN\r\n.\r\n" LOGIN_CHALLENGES AUTH_OK STAT_OK
       BYE),
     .bursts = CAPA "|" LOGIN_USER "|" LOGIN_USER_B64 "|" LOGIN_PASS_B64
               "|" STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_LOGIN},
    {"auto: USER when nothing known is listed, never APOP",
     B(GREETING "+OK\r\nSASL CRAM-MD5 XOAUTH2\r\n.\r\n" USER_OK PASS_OK STAT_OK
       BYE),
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_USER},

    /* a forced method the server does not offer */
    {"forced XOAUTH2 not offered", B(GREETING_NO_TS CAPS_SASL),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
           "server does not offer SASL XOAUTH2 (it offers: USER, SASL PLAIN "
           "LOGIN)")},
    {"forced OAUTHBEARER not offered, APOP listed", B(GREETING CAPS_SASL),
     .auth = POP3_AUTH_OAUTHBEARER, .token = TOKEN, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
           "server does not offer SASL OAUTHBEARER (it offers: USER, APOP, "
           "SASL PLAIN LOGIN)")},
    {"forced USER not offered", B(GREETING_NO_TS "+OK\r\nSASL PLAIN\r\n.\r\n"),
     .auth = POP3_AUTH_USER, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
           "server does not offer USER (it offers: SASL PLAIN)")},
    {"forced PLAIN, nothing offered", B(GREETING_NO_TS "+OK\r\nTOP\r\n.\r\n"),
     .auth = POP3_AUTH_PLAIN, .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
           "server does not offer SASL PLAIN (it offers: nothing)")},
    {"forced LOGIN not offered after TLS", B(GREETING CAPS_STLS STLS_OK),
     B(CAPS_TLS), .starttls = true, .auth = POP3_AUTH_LOGIN,
     .commands = CAPA STLS CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
           "server does not offer SASL LOGIN (it offers: USER, APOP, SASL "
           "PLAIN)")},
    {"forced OAUTHBEARER tried when CAPA is not supported",
     B(GREETING NO_CAPA AUTH_OK STAT_OK BYE), .auth = POP3_AUTH_OAUTHBEARER,
     .token = TOKEN, .host = "mail.example.com", .port = 110,
     .bursts = CAPA "|" OAUTHBEARER_IR "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_OAUTHBEARER},

    /* bearer tokens: XOAUTH2 and OAUTHBEARER (RFC 7628) */
    {"SASL XOAUTH2", B(GREETING CAPS_ALL_SASL AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|" STAT "|" QUIT, OK(2, 320),
     .auth_used = POP3_AUTH_XOAUTH2},
    {"SASL XOAUTH2: nothing pipelined behind the token",
     B(GREETING CAPS_ALL_SASL_PIPE AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|" STAT "|" QUIT, OK(2, 320)},
    {"SASL XOAUTH2 token refused",
     B(GREETING CAPS_ALL_SASL "+ " JSON_401
       "\r\n-ERR [AUTH] Authentication failed.\r\n"),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|\r\n", .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "server refused the login [AUTH]: \"Authentication failed.\" "
           "(SASL XOAUTH2, token status \"401\")")},
    {"SASL XOAUTH2 error challenge without a status",
     B(GREETING CAPS_ALL_SASL "+ " JSON_NO_STATUS "\r\n-ERR\r\n"),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|\r\n",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "token status \"{\\\"error\\\":\\\"x\\x01y\\\"}\")")},
    {"SASL XOAUTH2 error challenge not in base64",
     B(GREETING CAPS_ALL_SASL "+ {not base64}\r\n-ERR\r\n"),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|\r\n",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "token status \"(not base64)\")")},
    {"SASL XOAUTH2: a second challenge is cancelled",
     B(GREETING CAPS_ALL_SASL "+ e30=\r\n+ e30=\r\n-ERR\r\n"),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN,
     .bursts = CAPA "|" XOAUTH2_IR "|\r\n|*\r\n",
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_PROTOCOL,
           "unexpected SASL XOAUTH2 challenge \"e30=\"")},
    {"SASL OAUTHBEARER with host and port",
     B(GREETING CAPS_ALL_SASL AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_OAUTHBEARER, .token = TOKEN, .host = "mail.example.com",
     .port = 110, .bursts = CAPA "|" OAUTHBEARER_IR "|" STAT "|" QUIT,
     OK(2, 320), .auth_used = POP3_AUTH_OAUTHBEARER},
    {"SASL OAUTHBEARER escapes the user name",
     B(GREETING CAPS_ALL_SASL AUTH_OK STAT_OK BYE),
     .auth = POP3_AUTH_OAUTHBEARER, .user = "a,b=c", .token = "tok",
     .bursts = CAPA "|AUTH OAUTHBEARER "
                    "bixhPWE9MkNiPTNEYywBYXV0aD1CZWFyZXIgdG9rAQE=\r\n|" STAT
                    "|" QUIT,
     OK(2, 320)},
    {"SASL OAUTHBEARER token refused",
     B(GREETING CAPS_ALL_SASL "+ " JSON_INVALID
       "\r\n-ERR [AUTH] Authentication failed.\r\n"),
     .auth = POP3_AUTH_OAUTHBEARER, .token = TOKEN, .host = "mail.example.com",
     .port = 110, .bursts = CAPA "|" OAUTHBEARER_IR "|AQ==\r\n",
     .code = POP3_CODE_AUTH,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
           "token status \"invalid_token\")")},
    {"no bearer token", B(GREETING CAPS_ALL_SASL), .auth = POP3_AUTH_XOAUTH2,
     .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
           "no bearer token configured")},
    {"bearer token with a blank", B(GREETING CAPS_ALL_SASL),
     .auth = POP3_AUTH_XOAUTH2, .token = "ya29 x", .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
           "the bearer token contains a space")},
    {"bearer token with a line break", B(GREETING CAPS_ALL_SASL),
     .auth = POP3_AUTH_OAUTHBEARER, .token = "ya29\r\nDELE 1", .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "control character")},
    {"bearer token beyond ASCII", B(GREETING CAPS_ALL_SASL),
     .auth = POP3_AUTH_XOAUTH2, .token = "ya29\xc3\xa9", .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, "beyond ASCII")},
    {"user name with \\x01 for a bearer token", B(GREETING CAPS_ALL_SASL),
     .auth = POP3_AUTH_XOAUTH2, .token = TOKEN, .user = "al\001ice",
     .commands = CAPA,
     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
           "the user name contains a control character")},

    /* ---- message age: TOP n 0 ---- */
    {"age: the first header in STAT's burst, the last one round trip later",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 3 900\r\n" HEAD_1 HEAD_3
       BYE),
     .age_scan = 1,
     .bursts = CAPA "|" USER PASS STAT TOP_1 "|" TOP_3 "|" QUIT, OK(3, 900),
     AGE(2, DATE_1, DATE_3),
     .states = AFTER_CAPA ">USER>PASS>STAT>TOP>TOP_LIST>TOP>TOP_LIST>QUIT>DONE"},
    {"age: an empty mailbox costs nothing more",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 0 0\r\n"
       "-ERR no such message\r\n" BYE),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1 "|" QUIT,
     OK(0, 0), AGE(0, 0, 0)},
    {"age: one message is read once",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 1 300\r\n" HEAD_2 BYE),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1 "|" QUIT,
     OK(1, 300), AGE(1, DATE_2, DATE_2)},
    {"age: without PIPELINING, one TOP at a time",
     B(GREETING CAPS_PLAIN USER_OK PASS_OK "+OK 2 600\r\n" HEAD_3 HEAD_1 BYE),
     .age_scan = 1,
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" TOP_1 "|" TOP_2 "|" QUIT,
     OK(2, 600), AGE(2, DATE_1, DATE_3)},
    {"age: two at each end of five",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 5 1500\r\n" HEAD_2 HEAD_2
       HEAD_3 HEAD_1 BYE),
     .age_scan = 2,
     .bursts = CAPA "|" USER PASS STAT TOP_1 "TOP 2 0\r\n|TOP 4 0\r\n"
                    "TOP 5 0\r\n|" QUIT,
     OK(5, 1500), AGE(4, DATE_1, DATE_3)},
    {"age: two at each end of three reads each once",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 3 900\r\n" HEAD_2 HEAD_1
       HEAD_3 BYE),
     .age_scan = 2,
     .bursts = CAPA "|" USER PASS STAT TOP_1 "TOP 2 0\r\n|" TOP_3 "|" QUIT,
     OK(3, 900), AGE(3, DATE_1, DATE_3)},
    {"age: a server without TOP is not asked",
     B(UP_TO_PIPELINED_STAT STAT_OK BYE), .age_scan = 1,
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(2, 320), AGE(0, 0, 0),
     .age_problem = "does not offer TOP"},
    {"age: TOP refused keeps the values",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 3 900\r\n"
       "-ERR [SYS/PERM] not now\r\n" BYE),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1 "|" QUIT,
     OK(3, 900), AGE(0, 0, 0),
     .age_problem = "server refused TOP 1 0: \"[SYS/PERM] not now\""},
    {"age: Date: when Received: has no date; dot-stuffed and folded lines",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 2 600\r\n"
       "+OK\r\nReceived: from a by b\r\n..hidden: x\r\nDate: Mon, 30 Nov "
       "2026\r\n 09:00:00 +0000\r\n\r\n.\r\n"
       "+OK\r\nX: y\r\nReceived: from a\r\n\tby b; Tue, 01 Dec 2026"
       "\r\n 10:00:00 +0000\r\n\r\n.\r\n" BYE),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1 "|" TOP_2 "|" QUIT,
     OK(2, 600), AGE(2, DATE_0, DATE_1)},
    {"age: a header without a date",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 1 300\r\n"
       "+OK\r\nSubject: none\r\n\r\n.\r\n" BYE),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1 "|" QUIT,
     OK(1, 300), AGE(0, 0, 0), .age_problem = "Received: or Date:"},
    {"age: a late STAT answer, then the headers, then the NOOP's",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 2 600\r\n" HEAD_1
       "+OK\r\n" HEAD_3 BYE),
     .age_scan = 1, .stall_at = sizeof(GREETING CAPS_PIPE_TOP USER_OK PASS_OK) - 1,
     .flags = F_LATE,
     .bursts = CAPA "|" USER PASS STAT TOP_1 "|" NOOP "|" TOP_2 "|" QUIT,
     OK(2, 600), AGE(2, DATE_1, DATE_3),
     .states = AFTER_CAPA
     ">USER>PASS>STAT>TOP>TOP_LIST>NOOP>TOP>TOP_LIST>QUIT>DONE"},
    {"age: STAT and TOP lost behind the login go again",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK\r\n+OK 2 600\r\n" HEAD_1
       HEAD_3 BYE),
     .age_scan = 1, .stall_at = sizeof(GREETING CAPS_PIPE_TOP USER_OK PASS_OK) - 1,
     .flags = F_LOST,
     .bursts = CAPA "|" USER PASS STAT TOP_1 "|" NOOP "|" STAT TOP_1 "|" TOP_2
               "|" QUIT,
     OK(2, 600), AGE(2, DATE_1, DATE_3)},
    {"age: the connection closes inside a header",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 2 600\r\n"
       "+OK\r\nReceived: from a; Tue, 01 Dec 2026 10:00:00 +0000\r\n"),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1, OK(2, 600),
     AGE(0, 0, 0), .age_problem = "closed the connection while waiting for "
                                  "the TOP answer"},
    {"age: not a status line where TOP's answer belongs",
     B(GREETING CAPS_PIPE_TOP USER_OK PASS_OK "+OK 2 600\r\nReceived: x\r\n"),
     .age_scan = 1, .bursts = CAPA "|" USER PASS STAT TOP_1, OK(2, 600),
     AGE(0, 0, 0), .age_problem = "expected \"+OK\" or \"-ERR\""},
    /* ---- the mail loop: UIDL and DELE of its own probes only ---- */
    {"loop: a probe among the last messages is deleted",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 3 900\r\n" HEAD_2 UIDL_OK(2)
       PROBE_HEAD("mon ok-1796119205000") UIDL_OK(3) UIDL_OK(3)
       "+OK message 3 deleted\r\n" BYE),
     .loop_scan = 2,
     .bursts = CAPA "|" USER PASS STAT "|TOP 2 0\r\nUIDL 2\r\n" TOP_3
               "UIDL 3\r\n|UIDL 3\r\n|DELE 3\r\n|" QUIT,
     OK(3, 900), .loop_found = 1, .loop_deleted = 1,
     .check = check_probe_3,
     .states = AFTER_CAPA ">USER>PASS>STAT>TOP>TOP_LIST>UIDL>TOP>TOP_LIST>UIDL"
               ">UIDL>DELE>QUIT>DONE"},
    {"loop: look-alikes survive (another monitor, a wrong token)",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 3 900\r\n"
       PROBE_HEAD("other ok-1796119205000") UIDL_OK(2)
       PROBE_HEAD("mon bad-1796119205000") UIDL_OK(3) BYE),
     .loop_scan = 2,
     .bursts = CAPA "|" USER PASS STAT "|TOP 2 0\r\nUIDL 2\r\n" TOP_3
               "UIDL 3\r\n|" QUIT,
     OK(3, 900), .loop_lookalikes = 2},
    {"loop: a unique id that changed stops every DELE",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 2 600\r\n"
       PROBE_HEAD("mon ok-1796119205000") UIDL_OK(1)
       PROBE_HEAD("mon ok-1796119206000") UIDL_OK(2) UIDL_OK(1)
       "+OK 2 someone-else\r\n" BYE),
     .loop_scan = 2,
     .bursts = CAPA "|" USER PASS STAT "|" TOP_1 "UIDL 1\r\n" TOP_2
               "UIDL 2\r\n|UIDL 1\r\nUIDL 2\r\n|" QUIT,
     OK(2, 600), .loop_found = 2, .loop_problem = "unique id of message 2 changed"},
    {"loop: without PIPELINING, one command at a time",
     B(GREETING CAPS_PLAIN USER_OK PASS_OK "+OK 2 600\r\n"
       PROBE_HEAD("mon ok-1796119205000") UIDL_OK(2) UIDL_OK(2)
       "+OK\r\n" BYE),
     .loop_scan = 1,
     .bursts = CAPA "|" USER "|" PASS "|" STAT "|" TOP_2 "|UIDL 2\r\n|UIDL 2\r\n"
               "|DELE 2\r\n|" QUIT,
     OK(2, 600), .loop_found = 1, .loop_deleted = 1},
    {"loop: UIDL refused: nothing is deleted",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 1 300\r\n"
       PROBE_HEAD("mon ok-1796119205000") "-ERR no UIDL here\r\n" BYE),
     .loop_scan = 1,
     .bursts = CAPA "|" USER PASS STAT "|" TOP_1 "UIDL 1\r\n|" QUIT,
     OK(1, 300), .loop_found = 1, .loop_problem = "server refused UIDL 1"},
    {"loop: DELE refused",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 1 300\r\n"
       PROBE_HEAD("mon ok-1796119205000") UIDL_OK(1) UIDL_OK(1)
       "-ERR [SYS/PERM] read-only\r\n" BYE),
     .loop_scan = 1,
     .bursts = CAPA "|" USER PASS STAT "|" TOP_1 "UIDL 1\r\n|UIDL 1\r\n"
               "|DELE 1\r\n|" QUIT,
     OK(1, 300), .loop_found = 1, .loop_problem = "server refused DELE 1"},
    {"loop: a late STAT; the NOOP's answer is read before the headers'",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 1 300\r\n+OK\r\n"
       PROBE_HEAD("mon ok-1796119205000") UIDL_OK(1) UIDL_OK(1) "+OK\r\n" BYE),
     .loop_scan = 1, .flags = F_LATE,
     .stall_at = sizeof(GREETING CAPS_LOOP USER_OK PASS_OK) - 1,
     .bursts = CAPA "|" USER PASS STAT "|" NOOP "|" TOP_1 "UIDL 1\r\n|UIDL 1"
               "\r\n|DELE 1\r\n|" QUIT,
     OK(1, 300), .loop_found = 1, .loop_deleted = 1},
    {"loop: an empty mailbox asks nothing more",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 0 0\r\n" BYE), .loop_scan = 4,
     .bursts = CAPA "|" USER PASS STAT "|" QUIT, OK(0, 0)},
    {"loop and age: the probe is no message for the age",
     B(GREETING CAPS_LOOP USER_OK PASS_OK "+OK 3 900\r\n" HEAD_1 UIDL_OK(1)
       HEAD_3 UIDL_OK(2) PROBE_HEAD("mon ok-1796119205000") UIDL_OK(3)
       UIDL_OK(3) "+OK\r\n" BYE),
     .age_scan = 1, .loop_scan = 2,
     .bursts = CAPA "|" USER PASS STAT TOP_1 "UIDL 1\r\n|TOP 2 0\r\n"
               "UIDL 2\r\n" TOP_3 "UIDL 3\r\n|UIDL 3\r\n|DELE 3\r\n|" QUIT,
     OK(3, 900), AGE(2, DATE_1, DATE_3), .loop_found = 1, .loop_deleted = 1},
    {"age: a cached login's burst carries TOP too",
     B(GREETING USER_OK PASS_OK "+OK 1 300\r\n" HEAD_1 BYE),
     .cached = &CACHE_PIPE_TOP, .age_scan = 1,
     .bursts = USER PASS STAT TOP_1 "|" QUIT, OK(1, 300),
     AGE(1, DATE_1, DATE_1)},
};

#define SCRIPT_COUNT (sizeof(scripts) / sizeof(scripts[0]))

START_TEST(test_script) {
  size_t runs = check_script(&scripts[_i]);
  ck_assert_uint_ge(runs, 2);
}
END_TEST

/* ---- scripts built at run time ----------------------------------------- */

/* "+OK aaa...\r\n" of exactly len bytes, line end included. */
static char *status_line(size_t len, const char *line_end) {
  size_t end_len = strlen(line_end);
  char *line = malloc(len + 1);
  ck_assert_ptr_nonnull(line);
  memcpy(line, "+OK ", 4);
  memset(line + 4, 'a', len - 4 - end_len);
  memcpy(line + len - end_len, line_end, end_len + 1);
  return line;
}

static char *concat(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  ck_assert_ptr_nonnull(s);
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

static void check_long_greeting(size_t len, const char *line_end, bool ok) {
  char *greeting = status_line(len, line_end);
  char *server = concat(greeting, CAPS_PLAIN USER_OK PASS_OK STAT_OK BYE);
  script_t sc = {.name = "long greeting",
                 .server = {server, strlen(server)},
                 .commands = ok ? LOGIN_COMMANDS : ""};
  if (ok) {
    sc.ok = true;
    sc.count = 2;
    sc.size = 320;
  } else {
    sc.phase = POP3_PHASE_GREETING;
    sc.failure = POP3_FAIL_LINE_TOO_LONG;
    sc.message = "at most 1024 bytes";
  }
  check_script(&sc);
  free(server);
  free(greeting);
}

START_TEST(test_line_max_accepted) {
  check_long_greeting(POP3_LINE_MAX, "\r\n", true);
  check_long_greeting(POP3_LINE_MAX, "\n", true);
}
END_TEST

START_TEST(test_line_max_exceeded) {
  check_long_greeting(POP3_LINE_MAX + 1, "\r\n", false);
  check_long_greeting(POP3_LINE_MAX + 1, "\n", false);
}
END_TEST

START_TEST(test_long_capability_line) {
  char *line = status_line(POP3_LINE_MAX + 1, "\r\n");
  char *server = concat(GREETING "+OK\r\nUSER\r\n", line);
  script_t sc = {.name = "long capability",
                 .server = {server, strlen(server)},
                 .commands = CAPA,
                 .phase = POP3_PHASE_GREETING,
                 .failure = POP3_FAIL_LINE_TOO_LONG,
                 .message = "while waiting for the CAPA answer"};
  check_script(&sc);
  free(server);
  free(line);
}
END_TEST

/* A TOP answer whose header has `lines` lines of `width` bytes (CRLF
 * included) after `before`, then `after`, then the end. */
static char *long_header(const char *before, size_t lines, size_t width,
                         const char *after) {
  size_t lb = strlen(before), la = strlen(after);
  size_t len = lb + lines * width + la + 3;
  char *h = malloc(len + 1), *p = h;
  ck_assert_ptr_nonnull(h);
  memcpy(p, before, lb);
  p += lb;
  for (size_t i = 0; i < lines; i++, p += width) {
    memset(p, i % 2 ? 'y' : '.', width - 2); /* dot-stuffed, every other */
    memcpy(p, "X-Filler: ", width > 12 ? 10 : 0);
    memcpy(p + width - 2, "\r\n", 2);
  }
  memcpy(p, after, la);
  memcpy(p + la, ".\r\n", 4);
  return h;
}

static void check_age_header(const char *name, char *head, const char *bursts,
                             unsigned dated, const char *problem) {
  char *server = concat(GREETING CAPS_PIPE_TOP USER_OK PASS_OK
                        "+OK 1 300\r\n",
                        head);
  char *all = concat(server, BYE);
  script_t sc = {.name = name,
                 .server = {all, strlen(all)},
                 .age_scan = 1,
                 .bursts = bursts,
                 .ok = true,
                 .count = 1,
                 .size = 300,
                 .age_dated = dated,
                 .oldest = DATE_1,
                 .newest = DATE_1,
                 .age_problem = problem,
                 .split_step = 997};
  check_script(&sc);
  free(all);
  free(server);
  free(head);
}

/* Lines longer than the line buffer are normal in headers: their start is
 * read, the rest dropped, and the date still found after them. */
START_TEST(test_age_long_header_lines) {
  check_age_header(
      "age: over-long lines before Received:",
      long_header("+OK\r\n", 3, 3 * POP3_LINE_MAX,
                  "Received: by pop; Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n"),
      CAPA "|" USER PASS STAT TOP_1 "|" QUIT, 1, NULL);
}
END_TEST

/* A header longer than POP3_AGE_HEADER_MAX ends the session at once: the
 * values stand, the age is given up, nothing more is read or sent. */
START_TEST(test_age_header_cap) {
  check_age_header(
      "age: a header longer than the cap",
      long_header("+OK\r\nReceived: by pop; Tue, 01 Dec 2026 10:00:00 "
                  "+0000\r\n",
                  POP3_AGE_HEADER_MAX / 100 + 1, 100, "\r\n"),
      CAPA "|" USER PASS STAT TOP_1, 0, "longer than 65536 bytes");
  check_age_header(
      "age: one endless line",
      long_header("+OK\r\n", 1, POP3_AGE_HEADER_MAX + 10, "\r\n"),
      CAPA "|" USER PASS STAT TOP_1, 0, "longer than 65536 bytes");
}
END_TEST

START_TEST(test_megabyte_line_rejected) {
  size_t len = 1 << 20;
  char *junk = malloc(len);
  ck_assert_ptr_nonnull(junk);
  memset(junk, 'x', len);
  pop3_session_options_t opts = {.user = USER_NAME, .password = PASSWORD};
  pop3_session_t s;

  /* in one call */
  pop3_session_init(&s, &opts);
  size_t n = pop3_session_feed(&s, junk, len);
  ck_assert_uint_le(n, POP3_LINE_MAX);
  ck_assert(pop3_session_failed(&s));
  ck_assert_int_eq(pop3_session_error(&s)->failure, POP3_FAIL_LINE_TOO_LONG);
  ck_assert_int_eq(pop3_session_error(&s)->phase, POP3_PHASE_GREETING);
  ck_assert_uint_eq(pop3_session_feed(&s, junk + n, len - n), 0);

  /* in reads of 100 bytes: it stops as soon as the limit is passed */
  pop3_session_init(&s, &opts);
  size_t consumed = 0;
  while (consumed < len && pop3_session_want(&s) == POP3_WANT_READ) {
    size_t chunk = len - consumed < 100 ? len - consumed : 100;
    consumed += pop3_session_feed(&s, junk + consumed, chunk);
    ck_assert_uint_le(s.line_len, POP3_LINE_MAX);
  }
  ck_assert_uint_le(consumed, POP3_LINE_MAX);
  ck_assert_int_eq(pop3_session_error(&s)->failure, POP3_FAIL_LINE_TOO_LONG);
  free(junk);
}
END_TEST

/* A credential of len bytes: fits in a 255-byte command up to 248. */
static void check_long_credential(bool is_password, size_t len, bool ok) {
  char *value = malloc(len + 1);
  ck_assert_ptr_nonnull(value);
  memset(value, 'p', len);
  value[len] = '\0';
  char *user_cmd = concat("USER ", is_password ? USER_NAME : value);
  char *user_line = concat(user_cmd, "\r\n");
  char *pass_cmd = concat("PASS ", is_password ? value : PASSWORD);
  char *pass_line = concat(pass_cmd, "\r\n");
  char *through_user = concat(CAPA, user_line);
  char *through_pass = concat(through_user, pass_line);
  char *all = concat(through_pass, STAT QUIT);

  script_t sc = {.name = "long credential",
                 .server = B(UP_TO_STAT STAT_OK BYE),
                 .user = is_password ? NULL : value,
                 .password = is_password ? value : NULL};
  if (ok) {
    sc.commands = all;
    sc.ok = true;
    sc.count = 2;
    sc.size = 320;
  } else {
    /* auto sends no USER for a password PASS cannot carry */
    sc.commands = CAPA;
    sc.phase = POP3_PHASE_AUTH;
    sc.failure = POP3_FAIL_BAD_ARGUMENT;
    sc.message =
        is_password ? "the password is too long" : "the user name is too long";
  }
  check_script(&sc);
  free(all);
  free(through_pass);
  free(through_user);
  free(pass_line);
  free(pass_cmd);
  free(user_line);
  free(user_cmd);
  free(value);
}

START_TEST(test_long_credentials) {
  size_t room = POP3_COMMAND_MAX - strlen("PASS \r\n");
  check_long_credential(true, room, true);
  check_long_credential(true, room + 1, false);
  check_long_credential(false, room, true);
  check_long_credential(false, room + 1, false);
}
END_TEST

/* base64 by OpenSSL, independent of the session's own encoder. */
static char *base64(const void *data, size_t len) {
  char *out = malloc(4 * ((len + 2) / 3) + 1);
  ck_assert_ptr_nonnull(out);
  EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  return out;
}

static char *repeat(char c, size_t len) {
  char *s = malloc(len + 1);
  ck_assert_ptr_nonnull(s);
  memset(s, c, len);
  s[len] = '\0';
  return s;
}

/* SASL PLAIN with a password of len bytes: the initial response while
 * "AUTH PLAIN <ir>" fits 255 octets, else "AUTH PLAIN", "+ ", the response. */
static void check_plain_length(size_t len, bool initial) {
  char *password = repeat('p', len);
  size_t raw_len = 2 + strlen(USER_NAME) + len;
  char *raw = malloc(raw_len);
  ck_assert_ptr_nonnull(raw);
  raw[0] = '\0';
  memcpy(raw + 1, USER_NAME, strlen(USER_NAME));
  raw[1 + strlen(USER_NAME)] = '\0';
  memcpy(raw + 2 + strlen(USER_NAME), password, len);
  char *b64 = base64(raw, raw_len);
  size_t size = strlen(b64) + 128;
  char *bursts = malloc(size);
  ck_assert_ptr_nonnull(bursts);
  if (initial)
    snprintf(bursts, size, CAPA "|AUTH PLAIN %s\r\n|" STAT "|" QUIT, b64);
  else
    snprintf(bursts, size, CAPA "|AUTH PLAIN\r\n|%s\r\n|" STAT "|" QUIT, b64);
  ck_assert_uint_eq(strlen("AUTH PLAIN ") + strlen(b64) + 2 <= POP3_COMMAND_MAX,
                    initial);
  script_t sc = {.name = initial ? "PLAIN initial response at the limit"
                                 : "PLAIN continuation beyond the limit",
                 .server = initial ? (bytes_t)B(GREETING CAPS_SASL AUTH_OK
                                                    STAT_OK BYE)
                                   : (bytes_t)B(GREETING CAPS_SASL "+ \r\n" AUTH_OK
                                                    STAT_OK BYE),
                 .password = password,
                 .auth = POP3_AUTH_PLAIN,
                 .bursts = bursts,
                 .auth_used = POP3_AUTH_PLAIN,
                 OK(2, 320)};
  check_script(&sc);
  free(bursts);
  free(b64);
  free(raw);
  free(password);
}

START_TEST(test_plain_lengths) {
  check_plain_length(173, true);  /* 253 octets with CRLF */
  check_plain_length(174, false); /* would be 257 */
  check_plain_length(POP3_SECRET_MAX, false);
}
END_TEST

/* XOAUTH2 with a token of len bytes (Microsoft's run to ~2 KB): the
 * response is a line of its own after a bare "+", far beyond 255 octets. */
static void check_long_token(size_t len) {
  char *token = repeat('t', len);
  token[0] = 'e';
  token[len - 1] = '=';
  char *raw = malloc(len + 64);
  ck_assert_ptr_nonnull(raw);
  int raw_len = snprintf(raw, len + 64, "user=%s\001auth=Bearer %s\001\001",
                         USER_NAME, token);
  char *b64 = base64(raw, (size_t)raw_len);
  size_t size = strlen(b64) + 128;
  char *bursts = malloc(size);
  ck_assert_ptr_nonnull(bursts);
  snprintf(bursts, size, CAPA "|AUTH XOAUTH2\r\n|%s\r\n|" STAT "|" QUIT, b64);
  script_t sc = {.name = "long bearer token",
                 .server = B(GREETING CAPS_ALL_SASL "+\r\n" AUTH_OK STAT_OK BYE),
                 .auth = POP3_AUTH_XOAUTH2,
                 .token = token,
                 .bursts = bursts,
                 OK(2, 320)};
  check_script(&sc);
  free(bursts);
  free(b64);
  free(raw);
  free(token);
}

START_TEST(test_long_tokens) {
  check_long_token(2100);
  check_long_token(POP3_TOKEN_MAX);

  /* one byte more is refused before anything carries it */
  char *token = repeat('t', POP3_TOKEN_MAX + 1);
  script_t sc = {.name = "token too long",
                 .server = B(GREETING CAPS_ALL_SASL),
                 .auth = POP3_AUTH_OAUTHBEARER,
                 .token = token,
                 .commands = CAPA,
                 FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
                       "the bearer token is too long (4097 bytes, at most "
                       "4096)")};
  check_script(&sc);
  free(token);

  /* the largest OAUTHBEARER message fits the output buffer */
  char *user = repeat(',', POP3_SASL_USER_MAX);
  char *host = repeat('h', 255);
  token = repeat('t', POP3_TOKEN_MAX);
  pop3_session_options_t opts = {.user = user,
                                 .token = token,
                                 .host = host,
                                 .port = 65535,
                                 .auth = POP3_AUTH_OAUTHBEARER};
  static pop3_session_t s;
  pop3_session_init(&s, &opts);
  const char *in = GREETING CAPS_ALL_SASL "+\r\n";
  size_t left = strlen(in);
  while (left > 0) {
    if (pop3_session_want(&s) == POP3_WANT_WRITE) {
      size_t len;
      pop3_session_output(&s, &len);
      pop3_session_output_sent(&s, len);
      continue;
    }
    size_t n = pop3_session_feed(&s, in, left);
    in += n;
    left -= n;
  }
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_WRITE);
  size_t len = 0;
  const char *out = pop3_session_output(&s, &len);
  ck_assert_uint_gt(len, 6800);
  ck_assert_uint_le(len, POP3_OUTPUT_MAX);
  ck_assert(out[len - 2] == '\r' && out[len - 1] == '\n');
  pop3_session_clear(&s);
  free(token);
  free(host);
  free(user);
}
END_TEST

/* A password of len bytes through SASL, every byte of the response
 * checked against OpenSSL's base64: PLAIN's message after a bare "+ ", or
 * LOGIN's user name and password after their challenges; with PIPELINING,
 * STAT and QUIT follow the last response in the same write. */
static void check_sasl_password(pop3_auth_t asked, pop3_auth_t used,
                            const char *caps, size_t len, bool pipelined) {
  char *password = repeat('p', len);
  password[0] = '\xc3'; /* UTF-8 and punctuation travel as they are */
  password[1] = '\xa9';
  password[len - 1] = '"';
  size_t raw_len = 2 + strlen(USER_NAME) + len;
  char *raw = malloc(raw_len);
  ck_assert_ptr_nonnull(raw);
  raw[0] = '\0';
  memcpy(raw + 1, USER_NAME, strlen(USER_NAME));
  raw[1 + strlen(USER_NAME)] = '\0';
  memcpy(raw + 2 + strlen(USER_NAME), password, len);
  bool plain = used == POP3_AUTH_PLAIN;
  char *b64 = plain ? base64(raw, raw_len) : base64(password, len);
  size_t size = strlen(b64) + 256;
  char *bursts = malloc(size);
  ck_assert_ptr_nonnull(bursts);
  const char *rest = pipelined ? STAT "|" QUIT : "|" STAT "|" QUIT;
  if (plain)
    snprintf(bursts, size, CAPA "|AUTH PLAIN\r\n|%s\r\n%s", b64, rest);
  else
    snprintf(bursts, size, CAPA "|" LOGIN_USER "|" LOGIN_USER_B64 "|%s\r\n%s",
             b64, rest);
  char *server = malloc(strlen(caps) + 512);
  ck_assert_ptr_nonnull(server);
  snprintf(server, strlen(caps) + 512, GREETING "%s%s" AUTH_OK STAT_OK BYE,
           caps, plain ? "+ \r\n" : LOGIN_CHALLENGES);
  script_t sc = {.name = plain ? "long password, SASL PLAIN"
                               : "long password, SASL LOGIN",
                 .server = {server, strlen(server)},
                 .password = password,
                 .auth = asked,
                 .bursts = bursts,
                 .auth_used = used,
                 OK(2, 320)};
  check_script(&sc);
  free(server);
  free(bursts);
  free(b64);
  free(raw);
  free(password);
}

START_TEST(test_long_passwords_through_sasl) {
  static const size_t lengths[] = {249, 4000, POP3_SECRET_MAX};
  for (size_t i = 0; i < 3; i++) {
    size_t len = lengths[i];
    check_sasl_password(POP3_AUTH_PLAIN, POP3_AUTH_PLAIN, CAPS_SASL, len, false);
    check_sasl_password(POP3_AUTH_PLAIN, POP3_AUTH_PLAIN, CAPS_SASL_PIPE, len,
                    true);
    check_sasl_password(POP3_AUTH_LOGIN, POP3_AUTH_LOGIN, CAPS_SASL, len, false);
    check_sasl_password(POP3_AUTH_LOGIN, POP3_AUTH_LOGIN, CAPS_SASL_PIPE, len,
                    true);
    /* auto: PLAIN when listed; LOGIN rather than a PASS that cannot fit */
    check_sasl_password(POP3_AUTH_AUTO, POP3_AUTH_PLAIN, CAPS_SASL, len, false);
    check_sasl_password(POP3_AUTH_AUTO, POP3_AUTH_LOGIN,
                    "+OK\r\nUSER\r\nSASL LOGIN\r\n.\r\n", len, false);
  }
}
END_TEST

/* Auth auto with a password PASS cannot carry, and no SASL PLAIN or LOGIN:
 * nothing is sent after CAPA, and the error says why and what would do. */
START_TEST(test_long_password_without_sasl) {
  static const char *const servers[] = {
      GREETING CAPS_PLAIN, GREETING NO_CAPA,
      GREETING "+OK\r\nUSER\r\nSASL CRAM-MD5\r\n.\r\n"};
  static const char *const offers[] = {"(it offers: USER, APOP)",
                                       "(it offers: APOP)",
                                       "(it offers: USER, APOP, SASL CRAM-MD5)"};
  char *password = repeat('p', 4000);
  for (size_t i = 0; i < 3; i++) {
    char message[256];
    snprintf(message, sizeof(message),
             "the password is too long for USER/PASS (4000 bytes, at most "
             "248) and the server offers no SASL PLAIN or LOGIN %s",
             offers[i]);
    script_t sc = {.name = "auto: password too long for PASS",
                   .server = {servers[i], strlen(servers[i])},
                   .password = password,
                   .commands = CAPA,
                   FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT, message)};
    check_script(&sc);
  }
  /* capabilities remembered: CAPA is asked again before giving up */
  static const pop3_capabilities_t user_only = {.known = true, .user = true,
                                                .login_delay = -1};
  script_t cached = {.name = "auto, cached: password too long for PASS",
                     .server = B(GREETING CAPS_PLAIN),
                     .password = password,
                     .cached = &user_only,
                     .commands = CAPA,
                     FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
                           "the password is too long for USER/PASS")};
  check_script(&cached);
  free(password);
}
END_TEST

START_TEST(test_long_sasl_password) {
  char *password = repeat('p', POP3_SECRET_MAX + 1);
  script_t sc = {.name = "SASL password too long",
                 .server = B(GREETING CAPS_SASL),
                 .password = password,
                 .commands = CAPA,
                 FAILS(POP3_PHASE_AUTH, POP3_FAIL_BAD_ARGUMENT,
                       "the password is too long (4097 bytes")};
  check_script(&sc);
  free(password);
}
END_TEST

/* ---- direct API tests --------------------------------------------------- */

static void feed_all(pop3_session_t *s, const char *text) {
  size_t len = strlen(text);
  while (len > 0 && pop3_session_want(s) == POP3_WANT_READ) {
    size_t n = pop3_session_feed(s, text, len);
    text += n;
    len -= n;
  }
  ck_assert_uint_eq(len, 0);
}

static void send_all(pop3_session_t *s, const char *expected) {
  size_t len = 0;
  ck_assert_int_eq(pop3_session_want(s), POP3_WANT_WRITE);
  const char *out = pop3_session_output(s, &len);
  ck_assert_uint_eq(len, strlen(expected));
  ck_assert_int_eq(memcmp(out, expected, len), 0);
  pop3_session_output_sent(s, len);
  ck_assert_ptr_null(pop3_session_output(s, &len));
  ck_assert_uint_eq(len, 0);
}

START_TEST(test_late_plaintext_before_handshake) {
  pop3_session_options_t opts = {
      .user = USER_NAME, .password = PASSWORD, .starttls = true};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, CAPS_STLS);
  send_all(&s, STLS);
  feed_all(&s, STLS_OK);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_TLS);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_TLS);
  /* a driver that read more before noticing must still hand it over */
  ck_assert_uint_eq(pop3_session_feed(&s, "+OK\r\n", 5), 0);
  ck_assert(pop3_session_failed(&s));
  ck_assert_int_eq(pop3_session_error(&s)->failure, POP3_FAIL_TLS_INJECTION);
  ck_assert_str_eq(pop3_session_error(&s)->message,
                   "server sent 5 bytes after the STLS reply before the TLS "
                   "handshake");
}
END_TEST

START_TEST(test_injection_in_the_same_call) {
  pop3_session_options_t opts = {
      .user = USER_NAME, .password = PASSWORD, .starttls = true};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, NO_CAPA);
  send_all(&s, STLS);
  const char input[] = STLS_OK "+OK\r\n";
  size_t n = pop3_session_feed(&s, input, sizeof(input) - 1);
  ck_assert_uint_eq(n, strlen(STLS_OK));
  /* failed by this very call, before the driver could start TLS */
  ck_assert(pop3_session_failed(&s));
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_NOTHING);
  ck_assert_int_eq(pop3_session_error(&s)->phase, POP3_PHASE_TLS);
  ck_assert_int_eq(pop3_session_error(&s)->failure, POP3_FAIL_TLS_INJECTION);
  ck_assert_str_eq(pop3_session_error(&s)->message,
                   "server sent 5 bytes after the STLS reply before the TLS "
                   "handshake");
}
END_TEST

START_TEST(test_phases_and_wants) {
  pop3_session_options_t opts = {
      .user = USER_NAME, .password = PASSWORD, .starttls = true};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_READ);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_GREETING);
  ck_assert_uint_eq(pop3_session_feed(&s, "", 0), 0);
  feed_all(&s, GREETING);
  /* nothing is read while a command waits to be sent */
  ck_assert_uint_eq(pop3_session_feed(&s, "+OK\r\n", 5), 0);
  send_all(&s, CAPA);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_GREETING);
  feed_all(&s, CAPS_STLS);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_TLS);
  send_all(&s, STLS);
  feed_all(&s, STLS_OK);
  ck_assert(!s.tls_active);
  pop3_session_tls_started(&s);
  ck_assert(s.tls_active);
  ck_assert(!pop3_session_capabilities(&s)->known);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_GREETING);
  send_all(&s, CAPA);
  feed_all(&s, NO_CAPA);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_AUTH);
  send_all(&s, USER);
  feed_all(&s, USER_OK);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_AUTH);
  send_all(&s, PASS);
  feed_all(&s, PASS_OK);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_STAT);
  send_all(&s, STAT);
  uint64_t count = 99, size = 99;
  ck_assert(!pop3_session_stat(&s, &count, &size));
  feed_all(&s, "+OK 4294967296 4294967297\r\n");
  ck_assert(pop3_session_stat(&s, &count, &size));
  ck_assert(count == 4294967296ULL && size == 4294967297ULL);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_QUIT);
  send_all(&s, QUIT);
  feed_all(&s, BYE);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_NOTHING);
  ck_assert(!pop3_session_failed(&s));
  /* nothing is consumed once the session is over */
  ck_assert_uint_eq(pop3_session_feed(&s, "+OK\r\n", 5), 0);
}
END_TEST

START_TEST(test_output_sent_cleanses) {
  pop3_session_options_t opts = {.user = USER_NAME, .password = PASSWORD};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, NO_CAPA);
  send_all(&s, USER);
  feed_all(&s, USER_OK);
  size_t len = 0;
  const char *out = pop3_session_output(&s, &len);
  ck_assert_uint_eq(len, strlen(PASS));
  ck_assert_ptr_nonnull(memmem(out, len, PASSWORD, strlen(PASSWORD)));
  /* a partial send keeps the rest in order */
  pop3_session_output_sent(&s, 7);
  out = pop3_session_output(&s, &len);
  ck_assert_uint_eq(len, strlen(PASS) - 7);
  ck_assert_int_eq(memcmp(out, &PASS[7], len), 0);
  ck_assert_ptr_null(memmem(&s, sizeof(s), PASSWORD, strlen(PASSWORD)));
  pop3_session_output_sent(&s, len + 100); /* more than pending: clamped */
  ck_assert_ptr_null(pop3_session_output(&s, &len));
  ck_assert_uint_gt(s.output_peak, 0);
  for (size_t i = 0; i < s.output_peak; i++)
    ck_assert_int_eq(s.output[i], 0);
}
END_TEST

/* After pop3_session_clear: every field zero, and every output byte the
 * session ever wrote; the line buffer keeps only server text. */
static void assert_cleared(const pop3_session_t *s, size_t output_peak) {
  const unsigned char *bytes = (const unsigned char *)s;
  for (size_t i = 0; i < offsetof(pop3_session_t, line); i++)
    ck_assert_uint_eq(bytes[i], 0);
  for (size_t i = 0; i < output_peak; i++)
    ck_assert_uint_eq((unsigned char)s->output[i], 0);
}

START_TEST(test_clear) {
  pop3_session_options_t opts = {.user = USER_NAME, .password = PASSWORD};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, NO_CAPA);
  send_all(&s, USER);
  feed_all(&s, USER_OK);
  /* PASS is pending: the password is in the output buffer */
  ck_assert_ptr_nonnull(memmem(&s, sizeof(s), PASSWORD, strlen(PASSWORD)));
  size_t peak = s.output_peak;
  pop3_session_clear(&s);
  assert_cleared(&s, peak);
  ck_assert_ptr_null(memmem(&s, sizeof(s), PASSWORD, strlen(PASSWORD)));
}
END_TEST

START_TEST(test_driver_failure) {
  pop3_session_options_t opts = {.user = USER_NAME, .password = PASSWORD};
  pop3_session_t s;
  pop3_error_t err;

  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, NO_CAPA);
  pop3_error_set(&err, pop3_session_phase(&s), POP3_FAIL_TIMEOUT,
                 "timed out after %d seconds", 5);
  pop3_session_fail(&s, &err);
  ck_assert(pop3_session_failed(&s));
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_NOTHING);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_AUTH);
  ck_assert_int_eq(pop3_session_error(&s)->failure, POP3_FAIL_TIMEOUT);
  ck_assert_str_eq(pop3_session_error(&s)->message,
                   "timed out after 5 seconds");
  /* the pending USER command was dropped */
  size_t len = 1;
  ck_assert_ptr_null(pop3_session_output(&s, &len));
  ck_assert_uint_eq(len, 0);
  /* the first failure is kept */
  pop3_error_set(&err, POP3_PHASE_QUIT, POP3_FAIL_IO, "later");
  pop3_session_fail(&s, &err);
  pop3_session_eof(&s);
  ck_assert_int_eq(pop3_session_error(&s)->failure, POP3_FAIL_TIMEOUT);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_AUTH);

  /* after STAT a driver failure does not spoil the result */
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, NO_CAPA);
  send_all(&s, USER);
  feed_all(&s, USER_OK);
  send_all(&s, PASS);
  feed_all(&s, PASS_OK);
  send_all(&s, STAT);
  feed_all(&s, "+OK 1 2\r\n");
  pop3_error_set(&err, POP3_PHASE_QUIT, POP3_FAIL_IO, "sending failed");
  pop3_session_fail(&s, &err);
  ck_assert(!pop3_session_failed(&s));
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_NOTHING);
  uint64_t count = 0, size = 0;
  ck_assert(pop3_session_stat(&s, &count, &size));
  ck_assert(count == 1 && size == 2);
}
END_TEST

START_TEST(test_auth_names) {
  static const char *const names[] = {"auto",  "user",    "apop",
                                      "plain", "login",   "xoauth2",
                                      "oauthbearer"};
  for (int i = 0; i < 7; i++) {
    pop3_auth_t a = (pop3_auth_t)-1;
    ck_assert_str_eq(pop3_auth_name((pop3_auth_t)i), names[i]);
    ck_assert_int_eq(pop3_auth_parse(names[i], &a), 0);
    ck_assert_int_eq(a, i);
  }
  pop3_auth_t a = POP3_AUTH_USER;
  ck_assert_int_eq(pop3_auth_parse("XOAuth2", &a), 0);
  ck_assert_int_eq(a, POP3_AUTH_XOAUTH2);
  ck_assert_int_eq(pop3_auth_parse("OAUTHBEARER", &a), 0);
  ck_assert_int_eq(a, POP3_AUTH_OAUTHBEARER);
  a = POP3_AUTH_LOGIN;
  ck_assert_int_eq(pop3_auth_parse("cram-md5", &a), -1);
  ck_assert_int_eq(pop3_auth_parse("", &a), -1);
  ck_assert_int_eq(pop3_auth_parse("plain ", &a), -1);
  ck_assert_int_eq(pop3_auth_parse(NULL, &a), -1);
  ck_assert_int_eq(a, POP3_AUTH_LOGIN); /* untouched */
  ck_assert_str_eq(pop3_auth_name((pop3_auth_t)99), "unknown");
  ck_assert(pop3_auth_uses_token(POP3_AUTH_XOAUTH2));
  ck_assert(pop3_auth_uses_token(POP3_AUTH_OAUTHBEARER));
  ck_assert(!pop3_auth_uses_token(POP3_AUTH_PLAIN));
  ck_assert(!pop3_auth_uses_token(POP3_AUTH_AUTO));
}
END_TEST

/* A capability list without end fails once it passes either cap; one just
 * under both is read whole. */
static void capa_lines(size_t lines, size_t line_len, bool fails) {
  pop3_session_options_t opts = {.user = USER_NAME, .password = PASSWORD};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, "+OK\r\n");
  char line[POP3_LINE_MAX];
  memset(line, 'X', line_len);
  memcpy(line + line_len, "\r\n", 3);
  for (size_t i = 0; i < lines && !pop3_session_failed(&s); i++)
    feed_all(&s, line);
  ck_assert_int_eq(pop3_session_failed(&s), fails);
  if (fails) {
    const pop3_error_t *e = pop3_session_error(&s);
    ck_assert_int_eq(e->phase, POP3_PHASE_GREETING);
    ck_assert_int_eq(e->failure, POP3_FAIL_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(e->message, "capability list too long"));
  } else {
    feed_all(&s, ".\r\n");
    ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_WRITE);
  }
}

START_TEST(test_capa_caps) {
  capa_lines(POP3_CAPA_LINES_MAX, 10, false);
  capa_lines(POP3_CAPA_LINES_MAX + 1, 10, true);
  capa_lines(POP3_CAPA_BYTES_MAX / 500, 500, false);
  capa_lines(POP3_CAPA_BYTES_MAX / 500 + 1, 500, true);
  capa_lines(1000000, 4, true); /* endless: stops at the first cap */
}
END_TEST

/* stalled() acts once, only while a pipelined STAT is unanswered. */
START_TEST(test_stalled_api) {
  pop3_session_options_t opts = {
      .user = USER_NAME, .password = PASSWORD, .pipeline_login = true};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  pop3_session_stalled(&s); /* waiting for the greeting */
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_READ);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  pop3_session_stalled(&s);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_READ);
  feed_all(&s, CAPS_PIPE);
  ck_assert(pop3_session_ran_capa(&s));
  pop3_session_stalled(&s); /* the burst is not sent yet: nothing */
  send_all(&s, USER PASS STAT);
  feed_all(&s, USER_OK);
  pop3_session_stalled(&s);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_READ);
  feed_all(&s, PASS_OK);
  ck_assert(!pop3_session_lost_pipelined(&s));
  pop3_session_stalled(&s);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_WRITE);
  ck_assert_int_eq(pop3_session_phase(&s), POP3_PHASE_STAT);
  pop3_session_stalled(&s); /* pending: not queued twice */
  send_all(&s, NOOP);
  pop3_session_stalled(&s); /* sent once already: never again */
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_READ);
  feed_all(&s, "+OK\r\n"); /* the NOOP's answer: STAT was lost */
  ck_assert(pop3_session_lost_pipelined(&s));
  send_all(&s, STAT);
  pop3_session_stalled(&s);
  feed_all(&s, STAT_OK);
  send_all(&s, QUIT);
  pop3_session_stalled(&s);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_READ);
  feed_all(&s, BYE);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_NOTHING);
  uint64_t count = 0, size = 0;
  ck_assert(pop3_session_stat(&s, &count, &size));
  ck_assert(count == 2 && size == 320);
  ck_assert(!pop3_session_failed(&s));
  ck_assert(!pop3_session_stat_late(&s));
  pop3_session_stalled(&s);
  ck_assert_int_eq(pop3_session_want(&s), POP3_WANT_NOTHING);
}
END_TEST

/* The capabilities the driver may cache are the post-TLS ones. */
START_TEST(test_ran_capa_with_starttls) {
  pop3_session_options_t opts = {
      .user = USER_NAME, .password = PASSWORD, .starttls = true};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  ck_assert(!pop3_session_ran_capa(&s));
  ck_assert_int_eq(pop3_session_auth_used(&s), POP3_AUTH_AUTO);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, CAPS_STLS);
  ck_assert(pop3_session_ran_capa(&s)); /* the clear-text list */
  send_all(&s, STLS);
  feed_all(&s, STLS_OK);
  pop3_session_tls_started(&s);
  ck_assert(!pop3_session_ran_capa(&s)); /* forgotten with the list */
  send_all(&s, CAPA);
  feed_all(&s, "+OK\r\n");
  ck_assert(!pop3_session_ran_capa(&s)); /* not complete yet */
  feed_all(&s, "USER\r\nPIPELINING\r\n.\r\n");
  ck_assert(pop3_session_ran_capa(&s));
  ck_assert(pop3_session_capabilities(&s)->pipelining);
  ck_assert(!pop3_session_capabilities(&s)->stls);
  send_all(&s, USER PASS); /* PIPELINING, but pipeline_login is off */
  pop3_session_clear(&s);
}
END_TEST

/* Cleared sessions keep no token, no password and no base64 of either. */
START_TEST(test_clear_token) {
  pop3_session_options_t opts = {
      .user = USER_NAME, .token = TOKEN, .auth = POP3_AUTH_XOAUTH2};
  pop3_session_t s;
  pop3_session_init(&s, &opts);
  feed_all(&s, GREETING);
  send_all(&s, CAPA);
  feed_all(&s, CAPS_ALL_SASL);
  size_t len = 0;
  const char *out = pop3_session_output(&s, &len);
  ck_assert_ptr_nonnull(memmem(out, len, "dXNlcj1hbGljZQFhdXRo", 20));
  size_t peak = s.output_peak;
  pop3_session_clear(&s);
  assert_cleared(&s, peak);
  ck_assert_ptr_null(memmem(&s, sizeof(s), "dXNlcj1hbGljZQFhdXRo", 20));
  ck_assert_ptr_null(memmem(&s, sizeof(s), TOKEN, strlen(TOKEN)));
}
END_TEST

/* The trace hook's API: every state has a name; pop3_session_init traces
 * nothing; the TLS handshake and a driver's failure are traced like the
 * rest, and nothing after the end. */
START_TEST(test_trace_api) {
  static const char *const names[] = {
      "GREETING", "CAPA", "CAPA_LIST", "STLS",   "TLS_PENDING",
      "USER",     "PASS", "STAT",      "QUIT",   "DONE",
      "FAILED",   "APOP", "AUTH",      "AUTH_CANCEL"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    ck_assert_str_eq(pop3_state_name((pop3_state_t)i), names[i]);
  ck_assert_str_eq(pop3_state_name(POP3_STATE_DELE + 1), "unknown");
  ck_assert_str_eq(pop3_state_name((pop3_state_t)-1), "unknown");

  static run_t r;
  pop3_session_options_t opts = {.user = USER_NAME,
                                 .password = PASSWORD,
                                 .starttls = true,
                                 .trace = record_state,
                                 .trace_arg = &r};
  snprintf(r.states, sizeof(r.states), "GREETING");
  r.last = POP3_STATE_GREETING;
  pop3_session_init(&r.s, &opts);
  ck_assert_str_eq(r.states, "GREETING");
  feed_all(&r.s, GREETING);
  send_all(&r.s, CAPA);
  feed_all(&r.s, CAPS_STLS);
  send_all(&r.s, STLS);
  ck_assert_str_eq(r.states, AFTER_CAPA ">STLS");
  feed_all(&r.s, STLS_OK);
  ck_assert_int_eq(pop3_session_state(&r.s), POP3_STATE_TLS_PENDING);
  pop3_session_tls_started(&r.s);
  ck_assert_str_eq(r.states, AFTER_CAPA ">STLS>TLS_PENDING>CAPA");
  pop3_error_t err;
  pop3_error_set(&err, POP3_PHASE_GREETING, POP3_FAIL_TIMEOUT, "timed out");
  pop3_session_fail(&r.s, &err);
  pop3_session_fail(&r.s, &err);
  pop3_session_eof(&r.s);
  pop3_session_tls_started(&r.s);
  ck_assert_str_eq(r.states, AFTER_CAPA ">STLS>TLS_PENDING>CAPA>FAILED");
  ck_assert_int_eq(pop3_session_state(&r.s), POP3_STATE_FAILED);
  pop3_session_clear(&r.s);
}
END_TEST

START_TEST(test_sanitize) {
  char out[POP3_SERVER_TEXT_MAX + 1];
  const char in[] = "a\"b\\c\r\n\t\x7f\x80\xff.";
  pop3_sanitize(out, sizeof(out), in, sizeof(in) - 1);
  ck_assert_str_eq(out, "a\\\"b\\\\c\\x0d\\x0a\\x09\\x7f\\x80\\xff.");

  /* NUL inside the given length is escaped, not an end */
  pop3_sanitize(out, sizeof(out), "a\0b", 3);
  ck_assert_str_eq(out, "a\\x00b");

  pop3_sanitize(out, sizeof(out), "", 0);
  ck_assert_str_eq(out, "");

  /* exactly the limit fits without a marker */
  char exact[POP3_SERVER_TEXT_MAX];
  memset(exact, 'e', sizeof(exact));
  pop3_sanitize(out, sizeof(out), exact, sizeof(exact));
  ck_assert_uint_eq(strlen(out), POP3_SERVER_TEXT_MAX);
  ck_assert_ptr_null(strstr(out, "..."));

  /* one more is cut, and "..." says so */
  char longer[1000];
  memset(longer, 'l', sizeof(longer));
  pop3_sanitize(out, sizeof(out), longer, POP3_SERVER_TEXT_MAX + 1);
  ck_assert_uint_eq(strlen(out), POP3_SERVER_TEXT_MAX);
  ck_assert_str_eq(out + POP3_SERVER_TEXT_MAX - 3, "...");
  ck_assert_int_eq(out[POP3_SERVER_TEXT_MAX - 4], 'l');

  /* the cap holds even for a bigger buffer */
  char big[1000];
  pop3_sanitize(big, sizeof(big), longer, sizeof(longer));
  ck_assert_uint_eq(strlen(big), POP3_SERVER_TEXT_MAX);

  /* a small buffer cuts earlier, never inside an escape */
  char small[10];
  pop3_sanitize(small, sizeof(small), "ab\x01\x02\x03", 5);
  ck_assert_str_eq(small, "ab\\x01...");
  pop3_sanitize(small, sizeof(small), "abc\x01\x02", 5);
  ck_assert_str_eq(small, "abc...");
  pop3_sanitize(small, sizeof(small), "abcdefghi", 9);
  ck_assert_str_eq(small, "abcdefghi");
  pop3_sanitize(small, sizeof(small), "abcdefghij", 10);
  ck_assert_str_eq(small, "abcdef...");

  char tiny[3] = "zz";
  pop3_sanitize(tiny, sizeof(tiny), "abc", 3);
  ck_assert_str_eq(tiny, "..");
  char one[1] = {'z'};
  pop3_sanitize(one, sizeof(one), "abc", 3);
  ck_assert_int_eq(one[0], '\0');
  char none[1] = {'z'};
  pop3_sanitize(none, 0, "abc", 3);
  ck_assert_int_eq(none[0], 'z');
}
END_TEST

START_TEST(test_error_set) {
  pop3_error_t err;
  memset(&err, 0xff, sizeof(err));
  pop3_error_set(&err, POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "bad %s %d", "x",
                 7);
  ck_assert_int_eq(err.phase, POP3_PHASE_STAT);
  ck_assert_int_eq(err.failure, POP3_FAIL_PROTOCOL);
  ck_assert_int_eq(err.code, POP3_CODE_NONE);
  ck_assert_uint_eq(err.login_delay, 0);
  ck_assert_str_eq(err.message, "bad x 7");

  /* cut to the buffer, and kept on one printable line */
  char longer[2 * POP3_ERROR_MAX];
  memset(longer, 'm', sizeof(longer) - 1);
  longer[sizeof(longer) - 1] = '\0';
  pop3_error_set(&err, POP3_PHASE_AUTH, POP3_FAIL_IO, "%s", longer);
  ck_assert_uint_eq(strlen(err.message), POP3_ERROR_MAX - 1);
  pop3_error_set(&err, POP3_PHASE_AUTH, POP3_FAIL_IO, "a\nb\x1b");
  ck_assert_str_eq(err.message, "a?b?");
}
END_TEST

START_TEST(test_names) {
  ck_assert(pop3_code_is_transient(POP3_CODE_IN_USE));
  ck_assert(pop3_code_is_transient(POP3_CODE_LOGIN_DELAY));
  ck_assert(pop3_code_is_transient(POP3_CODE_SYS_TEMP));
  ck_assert(!pop3_code_is_transient(POP3_CODE_NONE));
  ck_assert(!pop3_code_is_transient(POP3_CODE_SYS_PERM));
  ck_assert(!pop3_code_is_transient(POP3_CODE_AUTH));
  ck_assert(!pop3_code_is_transient(POP3_CODE_OTHER));

  ck_assert_str_eq(pop3_code_name(POP3_CODE_NONE), "");
  ck_assert_str_eq(pop3_code_name(POP3_CODE_IN_USE), "IN-USE");
  ck_assert_str_eq(pop3_code_name(POP3_CODE_LOGIN_DELAY), "LOGIN-DELAY");
  ck_assert_str_eq(pop3_code_name(POP3_CODE_SYS_TEMP), "SYS/TEMP");
  ck_assert_str_eq(pop3_code_name(POP3_CODE_SYS_PERM), "SYS/PERM");
  ck_assert_str_eq(pop3_code_name(POP3_CODE_AUTH), "AUTH");

  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_RESOLVE), "resolve");
  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_CONNECT), "connect");
  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_TLS), "tls");
  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_GREETING), "greeting");
  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_AUTH), "auth");
  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_STAT), "stat");
  ck_assert_str_eq(pop3_phase_name(POP3_PHASE_QUIT), "quit");
}
END_TEST

static Suite *session_suite(void) {
  Suite *suite = suite_create("pop3_session");

  TCase *tc = tcase_create("scripts");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_script, 0, (int)SCRIPT_COUNT);
  tcase_add_test(tc, test_line_max_accepted);
  tcase_add_test(tc, test_line_max_exceeded);
  tcase_add_test(tc, test_long_capability_line);
  tcase_add_test(tc, test_long_credentials);
  tcase_add_test(tc, test_plain_lengths);
  tcase_add_test(tc, test_long_tokens);
  tcase_add_test(tc, test_long_sasl_password);
  tcase_add_test(tc, test_long_passwords_through_sasl);
  tcase_add_test(tc, test_long_password_without_sasl);
  suite_add_tcase(suite, tc);

  tc = tcase_create("api");
  tcase_add_test(tc, test_megabyte_line_rejected);
  tcase_add_test(tc, test_age_long_header_lines);
  tcase_add_test(tc, test_age_header_cap);
  tcase_add_test(tc, test_late_plaintext_before_handshake);
  tcase_add_test(tc, test_injection_in_the_same_call);
  tcase_add_test(tc, test_phases_and_wants);
  tcase_add_test(tc, test_output_sent_cleanses);
  tcase_add_test(tc, test_clear);
  tcase_add_test(tc, test_driver_failure);
  tcase_add_test(tc, test_auth_names);
  tcase_add_test(tc, test_stalled_api);
  tcase_add_test(tc, test_capa_caps);
  tcase_add_test(tc, test_ran_capa_with_starttls);
  tcase_add_test(tc, test_clear_token);
  tcase_add_test(tc, test_trace_api);
  suite_add_tcase(suite, tc);

  tc = tcase_create("errors");
  tcase_add_test(tc, test_sanitize);
  tcase_add_test(tc, test_error_set);
  tcase_add_test(tc, test_names);
  suite_add_tcase(suite, tc);
  return suite;
}

int main(void) {
  SRunner *runner = srunner_create(session_suite());
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
