/* test_auth.c: every login method against the private Dovecot that
 * tests/engine/run-integration.sh starts (tests/harness/dovecot.sh): USER/PASS, APOP, SASL
 * PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER (Dovecot 2.3 checks a bearer token
 * through its passdb, like a password), Auth auto, a forced method the
 * nostls instance does not offer, refused tokens, and the capability cache
 * and pipelined bursts of the session core.
 *
 * Two drivers run the sessions:
 *  - pop3_collect(), the plugin's own path (engine), for what it passes to
 *    the session today (Auth auto);
 *  - direct_collect() below, a small blocking reference driver that sets
 *    every new session option (auth, token from TokenFile/TokenCommand read
 *    anew at each collection, host/port, cached capabilities,
 *    pipeline_login, pop3_session_stalled) and records what the client
 *    wrote. Built with -DPOP3_COLLECT_HAS_AUTH, every method test runs
 *    through pop3_collect() as well, once the engine passes the options on.
 * Expected counts and sizes come from the harness's environment. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pop3_collect.h"
#include "pop3_engine.h"
#include "pop3_session.h"
#include "pop3_time.h"
#include "pop3_tls.h"
#include "pop3_token.h"
#include "test_env.h"

/* ---- monitors -------------------------------------------------------------- */

static pop3_monitor_t monitor(int port, const char *who) {
  char user_key[64];
  snprintf(user_key, sizeof(user_key), "POP3_USER_%s", who);
  pop3_monitor_t m = {.name = "auth",
                      .host = "127.0.0.1",
                      .port = port,
                      .user = (char *)env(user_key),
                      .timeout = 10,
                      .interval = 30,
                      .verify_peer = true,
                      .verify_host = true};
  if (strcmp(who, "BEARER") != 0) {
    char pass_key[64];
    snprintf(pass_key, sizeof(pass_key), "POP3_PASS_%s", who);
    m.password = (char *)env(pass_key);
  }
  return m;
}

static pop3_monitor_t with_auth(pop3_monitor_t m, pop3_auth_t auth) {
  m.auth = auth;
  return m;
}

/* A private file holding a token, mode 0600; the path is static storage. */
static const char *token_file(const char *token) {
  static char path[8][64];
  static int next;
  char *p = path[next++ % 8];
  snprintf(p, 64, "/tmp/pop3-auth-token-XXXXXX");
  int fd = mkstemp(p);
  ck_assert_int_ge(fd, 0);
  size_t len = strlen(token);
  ck_assert_int_eq(write(fd, token, len), (ssize_t)len);
  ck_assert_int_eq(write(fd, "\n", 1), 1);
  close(fd);
  return p;
}

/* ---- the reference driver ---------------------------------------------------- */

typedef struct {
  const pop3_capabilities_t *cached;
  bool no_pipeline;   /* options.pipeline_login false */
  bool stall_at_once; /* pop3_session_stalled() before every read or feed */
} drive_opts_t;

typedef struct {
  bool ok;
  uint64_t count, size;
  pop3_error_t error;
  pop3_capabilities_t caps;
  bool ran_capa, stale, lost, late;
  pop3_auth_t auth_used;
  int writes;      /* separate bursts the client wrote */
  char sent[8192]; /* what it wrote, secrets blanked */
  size_t sent_len;
} outcome_t;

static int connect_tcp(const char *host, int port) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  char service[16];
  snprintf(service, sizeof(service), "%d", port);
  ck_assert_int_eq(getaddrinfo(host, service, &hints, &ai), 0);
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(connect(fd, ai->ai_addr, ai->ai_addrlen), 0);
  freeaddrinfo(ai);
  struct timeval tv = {10, 0}; /* a safety net under the poll deadline */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

static SSL *start_tls(int fd, const char *host) {
  char why[256];
  SSL_CTX *ctx = pop3_tls_context_new(env("POP3_TEST_CA"), true, why,
                                      sizeof(why));
  ck_assert_msg(ctx != NULL, "%s", why);
  SSL *ssl = SSL_new(ctx);
  SSL_CTX_free(ctx); /* the SSL holds a reference */
  ck_assert_ptr_nonnull(ssl);
  ck_assert_int_eq(pop3_tls_prepare(ssl, host, true, why, sizeof(why)), 0);
  SSL_set_fd(ssl, fd);
  ck_assert_int_eq(SSL_connect(ssl), 1);
  return ssl;
}

/* Keeps what the client wrote, with the secrets blanked out. */
static void record(outcome_t *o, const char *data, size_t len, bool new_burst) {
  if (new_burst)
    o->writes++;
  size_t room = sizeof(o->sent) - o->sent_len;
  size_t n = len < room ? len : room;
  memcpy(o->sent + o->sent_len, data, n);
  o->sent_len += n;
}

static void blank(outcome_t *o, const char *secret) {
  if (secret == NULL || secret[0] == '\0')
    return;
  size_t n = strlen(secret);
  for (char *p = o->sent; (p = memmem(p, o->sent_len - (size_t)(p - o->sent),
                                      secret, n)) != NULL;)
    memset(p, '*', n);
}

static void direct_collect(const pop3_monitor_t *m, const drive_opts_t *d,
                           outcome_t *o) {
  static const drive_opts_t none;
  if (d == NULL)
    d = &none;
  memset(o, 0, sizeof(*o));
  double deadline = pop3_now() + m->timeout;
  char token[POP3_TOKEN_MAX + 1] = "";
  if (pop3_monitor_uses_token(m) &&
      pop3_token_get(m->token_file, m->token_command, deadline, token,
                     sizeof(token), &o->error) != 0)
    return;

  int fd = connect_tcp(m->host, m->port);
  SSL *ssl = m->ssl ? start_tls(fd, m->host) : NULL;
  pop3_session_options_t opts = {.user = m->user,
                                 .password = m->password,
                                 .starttls = m->starttls,
                                 .cached = d->cached,
                                 .pipeline_login = !d->no_pipeline,
                                 .auth = m->auth,
                                 .token = token[0] ? token : NULL,
                                 .host = m->host,
                                 .port = m->port};
  static __thread pop3_session_t s;
  pop3_session_init(&s, &opts);
  char input[4096];
  size_t in_len = 0, in_pos = 0;
  bool writing = false;
  pop3_error_t err;
  for (;;) {
    pop3_want_t want = pop3_session_want(&s);
    if (want != POP3_WANT_WRITE)
      writing = false;
    if (want == POP3_WANT_NOTHING)
      break;
    if (want == POP3_WANT_WRITE) {
      size_t len = 0;
      const char *out = pop3_session_output(&s, &len);
      record(o, out, len, !writing);
      writing = true;
      ssize_t n = ssl ? SSL_write(ssl, out, (int)len)
                      : send(fd, out, len, MSG_NOSIGNAL);
      pop3_session_output_sent(&s, len);
      if (n != (ssize_t)len) {
        pop3_error_set(&err, pop3_session_phase(&s), POP3_FAIL_IO,
                       "sending failed");
        pop3_session_fail(&s, &err);
      }
      continue;
    }
    if (want == POP3_WANT_TLS) {
      in_len = in_pos = 0;
      ssl = start_tls(fd, m->host);
      pop3_session_tls_started(&s);
      continue;
    }
    if (d->stall_at_once) {
      /* as if every wait for input, even for bytes already here, had been
       * a long one */
      pop3_session_stalled(&s);
      if (pop3_session_want(&s) != POP3_WANT_READ)
        continue;
    }
    if (in_pos < in_len) {
      in_pos += pop3_session_feed(&s, input + in_pos, in_len - in_pos);
      continue;
    }
    bool buffered = ssl != NULL && SSL_pending(ssl) > 0;
    if (!buffered) {
      /* "a while" without input: a fifth of the Timeout, as a driver might */
      double left = deadline - pop3_now();
      double wait = left < m->timeout / 5 ? left : m->timeout / 5;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      int r = wait > 0 ? poll(&p, 1, (int)(wait * 1000) + 1) : 0;
      if (r == 0) {
        if (pop3_now() >= deadline) {
          pop3_error_set(&err, pop3_session_phase(&s), POP3_FAIL_TIMEOUT,
                         "no answer within the Timeout");
          pop3_session_fail(&s, &err);
        } else {
          pop3_session_stalled(&s);
        }
        continue;
      }
    }
    ssize_t n = ssl ? SSL_read(ssl, input, sizeof(input))
                    : recv(fd, input, sizeof(input), 0);
    if (n <= 0) {
      pop3_session_eof(&s);
      continue;
    }
    in_len = (size_t)n;
    in_pos = 0;
  }
  o->ok = pop3_session_stat(&s, &o->count, &o->size);
  if (!o->ok)
    o->error = *pop3_session_error(&s);
  o->caps = *pop3_session_capabilities(&s);
  o->ran_capa = pop3_session_ran_capa(&s);
  o->stale = pop3_session_cache_stale(&s);
  o->lost = pop3_session_lost_pipelined(&s);
  o->late = pop3_session_stat_late(&s);
  o->auth_used = pop3_session_auth_used(&s);
  pop3_session_clear(&s);
  if (ssl != NULL) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  close(fd);
  blank(o, m->password);
  blank(o, token);
  explicit_bzero(token, sizeof(token));
}

/* ---- checks --------------------------------------------------------------- */

static void assert_values(bool ok, uint64_t count, uint64_t size,
                          const pop3_error_t *e, const char *who) {
  char count_key[64], size_key[64];
  snprintf(count_key, sizeof(count_key), "POP3_%s_COUNT", who);
  snprintf(size_key, sizeof(size_key), "POP3_%s_SIZE", who);
  ck_assert_msg(ok, "collection failed: %s: %s", pop3_phase_name(e->phase),
                e->message);
  ck_assert_uint_eq(count, env_u64(count_key));
  ck_assert_uint_eq(size, env_u64(size_key));
}

static void assert_failure(const pop3_error_t *e, pop3_phase_t phase,
                           pop3_failure_t failure, const char *needle,
                           const pop3_monitor_t *m, const char *secret) {
  ck_assert_msg(e->phase == phase && e->failure == failure,
                "phase %s failure %d, expected %s %d: %s",
                pop3_phase_name(e->phase), e->failure, pop3_phase_name(phase),
                failure, e->message);
  ck_assert_msg(strstr(e->message, needle) != NULL, "\"%s\" lacks \"%s\"",
                e->message, needle);
  if (m->password != NULL)
    ck_assert(strstr(e->message, m->password) == NULL);
  if (secret != NULL)
    ck_assert(strstr(e->message, secret) == NULL);
}

#ifdef POP3_COLLECT_HAS_AUTH
/* The plugin's own path must come to the same outcome. */
static void engine_agrees(const pop3_monitor_t *m, const outcome_t *o) {
  SSL_CTX *ctx = NULL;
  if (pop3_monitor_uses_tls(m)) {
    char why[256];
    ctx = pop3_tls_context_new(env("POP3_TEST_CA"), true, why, sizeof(why));
    ck_assert_msg(ctx != NULL, "%s", why);
  }
  pop3_result_t r;
  pop3_collect(m, ctx, &r);
  SSL_CTX_free(ctx);
  ck_assert_msg(r.ok == o->ok, "engine: ok %d, reference %d: %s", r.ok, o->ok,
                r.error.message);
  if (r.ok) {
    ck_assert_uint_eq(r.message_count, o->count);
    ck_assert_uint_eq(r.mailbox_size, o->size);
  } else {
    ck_assert_int_eq(r.error.phase, o->error.phase);
    ck_assert_int_eq(r.error.failure, o->error.failure);
  }
}
#else
static void engine_agrees(const pop3_monitor_t *m, const outcome_t *o) {
  (void)m;
  (void)o;
}
#endif

/* One collection of who's mailbox with m; returns the outcome. */
static void login_ok(const pop3_monitor_t *m, const char *who,
                     pop3_auth_t used, outcome_t *o) {
  direct_collect(m, NULL, o);
  assert_values(o->ok, o->count, o->size, &o->error, who);
  ck_assert_msg(o->auth_used == used, "used %s, expected %s",
                pop3_auth_name(o->auth_used), pop3_auth_name(used));
  ck_assert(o->ran_capa && !o->stale && !o->lost);
  engine_agrees(m, o);
}

/* ---- every method against Dovecot ------------------------------------------- */

START_TEST(method_user) {
  pop3_monitor_t m =
      with_auth(monitor(env_int("POP3_PLAIN_PORT"), "FEW"), POP3_AUTH_USER);
  outcome_t o;
  login_ok(&m, "FEW", POP3_AUTH_USER, &o);
  /* Dovecot offers PIPELINING: CAPA, one burst, QUIT after the STAT answer */
  ck_assert_int_eq(o.writes, 3);
  ck_assert_ptr_nonnull(strstr(o.sent, "PASS *"));
  ck_assert_ptr_nonnull(strstr(o.sent, "\r\nSTAT\r\nQUIT\r\n"));
}
END_TEST

START_TEST(method_apop) {
  pop3_monitor_t m =
      with_auth(monitor(env_int("POP3_PLAIN_PORT"), "MANY"), POP3_AUTH_APOP);
  outcome_t o;
  login_ok(&m, "MANY", POP3_AUTH_APOP, &o);
  ck_assert(o.caps.apop_hint);
  ck_assert_ptr_nonnull(strstr(o.sent, "APOP many "));
  ck_assert_ptr_null(strstr(o.sent, "PASS"));
}
END_TEST

START_TEST(method_plain) {
  pop3_monitor_t m =
      with_auth(monitor(env_int("POP3_PLAIN_PORT"), "EMPTY"), POP3_AUTH_PLAIN);
  outcome_t o;
  login_ok(&m, "EMPTY", POP3_AUTH_PLAIN, &o);
  ck_assert_ptr_nonnull(strstr(o.sent, "AUTH PLAIN "));
}
END_TEST

START_TEST(method_login) {
  pop3_monitor_t m =
      with_auth(monitor(env_int("POP3_PLAIN_PORT"), "FEW"), POP3_AUTH_LOGIN);
  outcome_t o;
  login_ok(&m, "FEW", POP3_AUTH_LOGIN, &o);
  ck_assert_ptr_nonnull(strstr(o.sent, "AUTH LOGIN\r\n"));
}
END_TEST

/* a 2100-byte token: "AUTH XOAUTH2", "+", then the response on its own line */
START_TEST(method_xoauth2_token_file) {
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_XOAUTH2);
  m.token_file = (char *)env("POP3_TOKEN_FILE_BEARER");
  outcome_t o;
  login_ok(&m, "BEARER", POP3_AUTH_XOAUTH2, &o);
  ck_assert_ptr_nonnull(strstr(o.sent, "AUTH XOAUTH2\r\n"));
  ck_assert_uint_gt(o.sent_len, 2800); /* base64 of the token went out */
}
END_TEST

START_TEST(method_oauthbearer_token_command) {
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_OAUTHBEARER);
  char *argv[] = {"/bin/cat", (char *)env("POP3_TOKEN_FILE_BEARER"), NULL};
  m.token_command = argv;
  outcome_t o;
  login_ok(&m, "BEARER", POP3_AUTH_OAUTHBEARER, &o);
  ck_assert_ptr_nonnull(strstr(o.sent, "AUTH OAUTHBEARER\r\n"));
}
END_TEST

/* a short token fits the AUTH command: the initial response (RFC 5034) */
START_TEST(method_xoauth2_initial_response) {
  pop3_monitor_t m =
      with_auth(monitor(env_int("POP3_PLAIN_PORT"), "FEW"), POP3_AUTH_XOAUTH2);
  m.token_file = (char *)token_file(m.password); /* Dovecot: token = password */
  m.password = NULL;
  outcome_t o;
  login_ok(&m, "FEW", POP3_AUTH_XOAUTH2, &o);
  ck_assert_ptr_nonnull(strstr(o.sent, "AUTH XOAUTH2 "));
  unlink(m.token_file);
}
END_TEST

START_TEST(method_oauthbearer_over_starttls) {
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_OAUTHBEARER);
  m.token_file = (char *)env("POP3_TOKEN_FILE_BEARER");
  m.starttls = true;
  outcome_t o;
  login_ok(&m, "BEARER", POP3_AUTH_OAUTHBEARER, &o);
}
END_TEST

START_TEST(auto_chooses_plain) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "MANY");
  outcome_t o;
  login_ok(&m, "MANY", POP3_AUTH_PLAIN, &o);
  /* CAPA, then AUTH PLAIN with STAT in the same write, then QUIT */
  ck_assert_int_eq(o.writes, 3);
  ck_assert_ptr_nonnull(strstr(o.sent, "CAPA\r\nAUTH PLAIN "));
  ck_assert_ptr_nonnull(strstr(o.sent, "\r\nSTAT\r\nQUIT\r\n"));
}
END_TEST

/* the plugin's path today: Auth auto picks SASL PLAIN from Dovecot's CAPA */
static void engine_collect(const pop3_monitor_t *m, pop3_result_t *r) {
  SSL_CTX *ctx = NULL;
  if (pop3_monitor_uses_tls(m)) {
    char why[256];
    ctx = pop3_tls_context_new(env("POP3_TEST_CA"), true, why, sizeof(why));
    ck_assert_msg(ctx != NULL, "%s", why);
  }
  pop3_collect(m, ctx, r);
  SSL_CTX_free(ctx);
}

START_TEST(engine_auto_plain) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "FEW");
  pop3_result_t r;
  engine_collect(&m, &r);
  assert_values(r.ok, r.message_count, r.mailbox_size, &r.error, "FEW");
  ck_assert_str_eq(r.capabilities.sasl, "PLAIN LOGIN XOAUTH2 OAUTHBEARER");
}
END_TEST

START_TEST(engine_auto_starttls) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "MANY");
  m.starttls = true;
  pop3_result_t r;
  engine_collect(&m, &r);
  assert_values(r.ok, r.message_count, r.mailbox_size, &r.error, "MANY");
}
END_TEST

START_TEST(engine_wrong_password) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "FEW");
  m.password = "not-the-Sekr3t";
  pop3_result_t r;
  engine_collect(&m, &r);
  ck_assert(!r.ok);
  assert_failure(&r.error, POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
                 "server refused the login [AUTH]: \"Authentication failed.\" "
                 "(SASL PLAIN)",
                 &m, NULL);
  ck_assert_int_eq(r.error.code, POP3_CODE_AUTH);
}
END_TEST

/* ---- refusals ---------------------------------------------------------------- */

START_TEST(forced_method_not_offered) {
  /* nostls: auth_mechanisms = plain, no APOP timestamp */
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_NOSTLS_PORT"), "BEARER"),
                               POP3_AUTH_XOAUTH2);
  m.token_file = (char *)env("POP3_TOKEN_FILE_BEARER");
  outcome_t o;
  direct_collect(&m, NULL, &o);
  ck_assert(!o.ok);
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
                 "server does not offer SASL XOAUTH2 (it offers: USER, SASL "
                 "PLAIN)",
                 &m, env("POP3_TOKEN_BEARER"));
  ck_assert_ptr_null(strstr(o.sent, "AUTH")); /* nothing carried the token */
  engine_agrees(&m, &o);

  m = with_auth(monitor(env_int("POP3_NOSTLS_PORT"), "FEW"), POP3_AUTH_APOP);
  direct_collect(&m, NULL, &o);
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
                 "server does not offer APOP: its greeting has no <timestamp> "
                 "(it offers: USER, SASL PLAIN)",
                 &m, NULL);
  engine_agrees(&m, &o);

  m = with_auth(monitor(env_int("POP3_NOSTLS_PORT"), "FEW"), POP3_AUTH_LOGIN);
  direct_collect(&m, NULL, &o);
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_NO_MECHANISM,
                 "server does not offer SASL LOGIN", &m, NULL);
  engine_agrees(&m, &o);

  /* what it does offer works there */
  m = with_auth(monitor(env_int("POP3_NOSTLS_PORT"), "FEW"), POP3_AUTH_PLAIN);
  login_ok(&m, "FEW", POP3_AUTH_PLAIN, &o);
}
END_TEST

START_TEST(wrong_token_refused) {
  const char *wrong = "ya29.wrong-Token_value";
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_XOAUTH2);
  m.token_file = (char *)token_file(wrong);
  outcome_t o;
  direct_collect(&m, NULL, &o);
  ck_assert(!o.ok);
  /* Dovecot's error challenge for XOAUTH2 is {"status":"401",...} */
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
                 "server refused the login [AUTH]: \"Authentication failed.\" "
                 "(SASL XOAUTH2, token status \"401\")",
                 &m, wrong);
  ck_assert_int_eq(o.error.code, POP3_CODE_AUTH);
  engine_agrees(&m, &o);

  m.auth = POP3_AUTH_OAUTHBEARER;
  direct_collect(&m, NULL, &o);
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_REFUSED,
                 "(SASL OAUTHBEARER, token status \"invalid_token\")", &m,
                 wrong);
  ck_assert_ptr_nonnull(strstr(o.sent, "\r\nAQ==\r\n"));
  unlink(m.token_file);
}
END_TEST

/* TokenFile is read at every collection: an external refresher's new token
 * is used at the next one. */
START_TEST(token_file_read_each_collection) {
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_OAUTHBEARER);
  const char *path = token_file("ya29.expired-token");
  m.token_file = (char *)path;
  outcome_t o;
  direct_collect(&m, NULL, &o);
  ck_assert(!o.ok);
  ck_assert_int_eq(o.error.code, POP3_CODE_AUTH);
  /* the refresher replaces the file */
  char tmp[80];
  snprintf(tmp, sizeof(tmp), "%s.new", path);
  FILE *fh = fopen(tmp, "w");
  ck_assert_ptr_nonnull(fh);
  fprintf(fh, "%s\n", env("POP3_TOKEN_BEARER"));
  fclose(fh);
  ck_assert_int_eq(rename(tmp, path), 0);
  direct_collect(&m, NULL, &o);
  assert_values(o.ok, o.count, o.size, &o.error, "BEARER");
  unlink(path);
}
END_TEST

START_TEST(token_command_failures) {
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_XOAUTH2);
  char *fails[] = {"/bin/false", NULL};
  m.token_command = fails;
  outcome_t o;
  direct_collect(&m, NULL, &o);
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_TOKEN,
                 "the token command \"/bin/false\" failed with exit code 1", &m,
                 NULL);
  ck_assert_int_eq(o.writes, 0); /* no connection was made for nothing */
  char *slow[] = {"/bin/sleep", "30", NULL};
  m.token_command = slow;
  m.timeout = 0.5;
  double start = pop3_now();
  direct_collect(&m, NULL, &o);
  ck_assert(pop3_now() - start < 1.5);
  assert_failure(&o.error, POP3_PHASE_AUTH, POP3_FAIL_TOKEN,
                 "did not finish within the Timeout", &m, NULL);
}
END_TEST

/* The engine freed while TokenCommand threads finish: a thread must be done
 * with the engine (its wake-up descriptor) before the engine goes. Under
 * ASan (make sanitize) a late touch is a use after free. */
static void ignore_result(const pop3_result_t *r, void *arg) {
  (void)r;
  (void)arg;
}

START_TEST(engine_freed_while_token_threads_end) {
  pop3_monitor_t m = with_auth(monitor(env_int("POP3_PLAIN_PORT"), "BEARER"),
                               POP3_AUTH_XOAUTH2);
  char *quick[] = {"/bin/echo", "token", NULL};
  m.token_command = quick;
  for (int i = 0; i < 200; i++) {
    char err[POP3_ERROR_MAX];
    pop3_engine_t *e = pop3_engine_new(err, sizeof(err));
    ck_assert_ptr_nonnull(e);
    pop3_target_t *t = pop3_engine_add(e, &m, NULL, ignore_result, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(pop3_engine_submit(e, t, 0), 0);
    pop3_engine_run(e, pop3_now() + 0.0005 * (i % 8)); /* threads started */
    pop3_engine_free(e); /* waits for them, frees at once */
  }
}
END_TEST

/* ---- the capability cache and pipelining, against Dovecot ---------------------- */

/* The first collection learns the capabilities; the next skips CAPA and
 * logs in right after the greeting, STAT in the same write. */
START_TEST(cache_skips_capa) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "FEW");
  outcome_t first, next;
  direct_collect(&m, NULL, &first);
  assert_values(first.ok, first.count, first.size, &first.error, "FEW");
  ck_assert(first.ran_capa && first.caps.known && first.caps.pipelining);
  drive_opts_t d = {.cached = &first.caps};
  direct_collect(&m, &d, &next);
  assert_values(next.ok, next.count, next.size, &next.error, "FEW");
  ck_assert(!next.ran_capa && !next.stale);
  ck_assert_ptr_null(strstr(next.sent, "CAPA"));
  ck_assert_int_eq(next.auth_used, POP3_AUTH_PLAIN);
  /* burst: AUTH PLAIN + STAT; then QUIT after the STAT answer */
  ck_assert_int_eq(next.writes, 2);
  ck_assert_msg(strncmp(next.sent, "AUTH PLAIN ", 11) == 0, "%.*s",
                (int)next.sent_len, next.sent);
  ck_assert_ptr_nonnull(strstr(next.sent, "\r\nSTAT\r\nQUIT\r\n"));
}
END_TEST

START_TEST(cache_with_starttls) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "MANY");
  m.starttls = true;
  outcome_t first, next;
  direct_collect(&m, NULL, &first);
  assert_values(first.ok, first.count, first.size, &first.error, "MANY");
  ck_assert(first.ran_capa && !first.caps.stls); /* the post-TLS list */
  drive_opts_t d = {.cached = &first.caps};
  direct_collect(&m, &d, &next);
  assert_values(next.ok, next.count, next.size, &next.error, "MANY");
  ck_assert(!next.ran_capa && !next.stale);
  ck_assert_msg(strncmp(next.sent, "STLS\r\nAUTH PLAIN ", 17) == 0, "%.*s",
                (int)next.sent_len, next.sent);
  ck_assert_int_eq(next.writes, 3); /* STLS | login + STAT | QUIT */
}
END_TEST

/* A cache that names a mechanism the server no longer offers: Dovecot
 * refuses it without a response code, so the session asks CAPA and logs in
 * again with what the server offers now. */
START_TEST(cache_stale_falls_back) {
  pop3_capabilities_t stale = {.known = true,
                               .pipelining = true,
                               .login_delay = -1,
                               .sasl = "LOGIN"};
  pop3_monitor_t m = monitor(env_int("POP3_NOSTLS_PORT"), "FEW");
  drive_opts_t d = {.cached = &stale};
  outcome_t o;
  direct_collect(&m, &d, &o);
  assert_values(o.ok, o.count, o.size, &o.error, "FEW");
  ck_assert(o.stale && o.ran_capa);
  ck_assert_int_eq(o.auth_used, POP3_AUTH_PLAIN);
  ck_assert_msg(strncmp(o.sent, "AUTH LOGIN\r\nCAPA\r\n", 18) == 0, "%.*s",
                (int)o.sent_len, o.sent);
}
END_TEST

START_TEST(pipeline_login_off) {
  pop3_monitor_t m = monitor(env_int("POP3_PLAIN_PORT"), "EMPTY");
  drive_opts_t d = {.no_pipeline = true};
  outcome_t o;
  direct_collect(&m, &d, &o);
  assert_values(o.ok, o.count, o.size, &o.error, "EMPTY");
  ck_assert_int_eq(o.writes, 4); /* CAPA | AUTH PLAIN | STAT | QUIT */
}
END_TEST

/* stalled() at every step: NOOP goes out right after the login +OK, though
 * Dovecot answers the pipelined STAT. The STAT answer comes first, so STAT
 * was only late, not lost; QUIT follows, and the NOOP's answer ends the
 * session. */
START_TEST(stalled_with_a_late_stat) {
  pop3_monitor_t m =
      with_auth(monitor(env_int("POP3_PLAIN_PORT"), "MANY"), POP3_AUTH_USER);
  drive_opts_t d = {.stall_at_once = true};
  for (int i = 0; i < 3; i++) {
    outcome_t o;
    direct_collect(&m, &d, &o);
    assert_values(o.ok, o.count, o.size, &o.error, "MANY");
    ck_assert(!o.lost);
    ck_assert(o.late);
    ck_assert_msg(strstr(o.sent, "STAT\r\nNOOP\r\nQUIT\r\n") != NULL,
                  "%.*s", (int)o.sent_len, o.sent);
    ck_assert_int_eq(o.writes, 4); /* CAPA | burst | NOOP | QUIT */
  }
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("auth");
  TCase *tc = tcase_create("dovecot");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, method_user);
  tcase_add_test(tc, method_apop);
  tcase_add_test(tc, method_plain);
  tcase_add_test(tc, method_login);
  tcase_add_test(tc, method_xoauth2_token_file);
  tcase_add_test(tc, method_oauthbearer_token_command);
  tcase_add_test(tc, method_xoauth2_initial_response);
  tcase_add_test(tc, method_oauthbearer_over_starttls);
  tcase_add_test(tc, auto_chooses_plain);
  tcase_add_test(tc, engine_auto_plain);
  tcase_add_test(tc, engine_auto_starttls);
  tcase_add_test(tc, engine_wrong_password);
  tcase_add_test(tc, forced_method_not_offered);
  tcase_add_test(tc, wrong_token_refused);
  tcase_add_test(tc, token_file_read_each_collection);
  tcase_add_test(tc, token_command_failures);
  tcase_add_test(tc, engine_freed_while_token_threads_end);
  tcase_add_test(tc, cache_skips_capa);
  tcase_add_test(tc, cache_with_starttls);
  tcase_add_test(tc, cache_stale_falls_back);
  tcase_add_test(tc, pipeline_login_off);
  tcase_add_test(tc, stalled_with_a_late_stat);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
