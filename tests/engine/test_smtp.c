/* test_smtp.c: probes submitted with pop3_smtp_send() to the private mail
 * loop (tests/servers/mailloop.sh: Postfix, delivering to Dovecot), found
 * again over POP3 by $SMTP_FIND (a poplib script of run-smtp.sh) and
 * verified with pop3_loop_verify(); every failure's phase and text, and the
 * worker's order and shutdown. Every wait is bounded. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pop3_loop.h"
#include "pop3_smtp.h"
#include "test_env.h"

#define MONITOR "loop test"
#define WRONG_PASS "Wrong-Smtp-Pass-77"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Submission with STARTTLS, AUTH and the private CA: the usual setup. */
static pop3_smtp_options_t submission(void) {
  return (pop3_smtp_options_t){.host = "127.0.0.1",
                               .port = env_int("SMTP_STARTTLS_PORT"),
                               .starttls = true,
                               .user = env("SMTP_USER"),
                               .password = env("SMTP_PASS"),
                               .ca_cert = env("SERVER_CA"),
                               .verify_peer = true,
                               .verify_host = true,
                               .from = env("SMTP_FROM"),
                               .to = env("SMTP_TO"),
                               .timeout = 10};
}

typedef struct {
  pop3_loop_key_t key;
  char token[POP3_LOOP_TOKEN_MAX];
  int64_t sent_ms;
  char text[4096];
  int len;
} probe_t;

static void probe_make(probe_t *p) {
  pop3_loop_key(&p->key, env("SERVER_PASS_PROBE"), MONITOR);
  p->sent_ms = wall_ms();
  ck_assert_int_eq(pop3_loop_token(&p->key, MONITOR, p->sent_ms, p->token), 0);
  p->len = pop3_loop_message(p->text, sizeof(p->text), env("SMTP_FROM"),
                             env("SMTP_TO"), MONITOR, p->token, p->sent_ms);
  ck_assert_int_gt(p->len, 0);
}

/* The failure text: printed (the run's log shows every one), one line,
 * and never a password. */
static void check_err(const char *what, const char *err, const char *prefix) {
  printf("%-28s %s\n", what, err);
  fflush(stdout);
  ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
                "%s: \"%s\" does not start with \"%s\"", what, err, prefix);
  ck_assert_ptr_null(strchr(err, '\n'));
  ck_assert_ptr_null(strchr(err, '\r'));
  ck_assert_ptr_null(strstr(err, env("SMTP_PASS")));
  ck_assert_ptr_null(strstr(err, WRONG_PASS));
}

static int send_probe(const pop3_smtp_options_t *o, probe_t *p, char *err,
                      size_t size) {
  probe_make(p);
  double t0 = now();
  int rc = pop3_smtp_send(o, p->text, (size_t)p->len, err, size);
  ck_assert_msg(now() - t0 < o->timeout + 1, "send took %.1f s", now() - t0);
  return rc;
}

/* A send that must fail, with its one line starting with prefix. */
static void send_fails(const pop3_smtp_options_t *o, probe_t *p, char *err,
                       size_t size, const char *what, const char *prefix) {
  ck_assert_int_eq(send_probe(o, p, err, size), -1);
  check_err(what, err, prefix);
}

/* Runs $SMTP_FIND: the X-Collectd-Pop3-Loop value of the message with
 * this token, found over POP3 (STLS, CA verified) within wait seconds,
 * into out; with whole, the whole message after it. false: not found. */
static bool find(const char *token, double wait, bool whole, char *out,
                 size_t size) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' %g%s",
           env("SMTP_FIND"), token, wait, whole ? " whole" : "");
  FILE *f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  size_t n = fread(out, 1, size - 1, f);
  out[n] = '\0';
  int status = pclose(f);
  return status == 0;
}

/* Delivered, and what arrived is this monitor's probe sent at that time. */
static void assert_arrives(const probe_t *p) {
  char value[8192];
  ck_assert_msg(find(p->token, 15, false, value, sizeof(value)),
                "probe %s not in the mailbox within 15 s", p->token);
  int64_t sent = 0;
  ck_assert_msg(pop3_loop_verify(&p->key, MONITOR, value, strlen(value), &sent),
                "does not verify: %s", value);
  ck_assert_int_eq(sent, p->sent_ms);
}

/* A port that accepts connections (the kernel's backlog) and never
 * greets. */
static int silent_listener(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(listen(fd, 64), 0);
  socklen_t len = sizeof(a);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* ---- sending -------------------------------------------------------------- */

START_TEST(starttls_auth_arrives) {
  pop3_smtp_options_t o = submission();
  probe_t p;
  char err[512] = "x";
  ck_assert_msg(send_probe(&o, &p, err, sizeof(err)) == 0, "%s", err);
  ck_assert_str_eq(err, "");
  assert_arrives(&p);
}
END_TEST

START_TEST(starttls_by_name_arrives) {
  pop3_smtp_options_t o = submission();
  o.host = "localhost";
  probe_t p;
  char err[512];
  ck_assert_msg(send_probe(&o, &p, err, sizeof(err)) == 0, "%s", err);
  assert_arrives(&p);
}
END_TEST

START_TEST(implicit_tls_arrives) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_TLS_PORT");
  o.ssl = true;
  o.starttls = false;
  probe_t p;
  char err[512];
  ck_assert_msg(send_probe(&o, &p, err, sizeof(err)) == 0, "%s", err);
  assert_arrives(&p);
}
END_TEST

START_TEST(implicit_tls_ipv6_arrives) {
  if (strcmp(env("SERVER_IPV6"), "yes") != 0)
    return;
  pop3_smtp_options_t o = submission();
  o.host = "::1"; /* a bracketed literal in the URL */
  o.port = env_int("SMTP_TLS_PORT");
  o.ssl = true;
  o.starttls = false;
  probe_t p;
  char err[512];
  ck_assert_msg(send_probe(&o, &p, err, sizeof(err)) == 0, "%s", err);
  assert_arrives(&p);
}
END_TEST

START_TEST(verify_peer_off_arrives) {
  pop3_smtp_options_t o = submission();
  o.ca_cert = NULL;
  o.verify_peer = false;
  probe_t p;
  char err[512];
  ck_assert_msg(send_probe(&o, &p, err, sizeof(err)) == 0, "%s", err);
  assert_arrives(&p);
}
END_TEST

/* The plain port works without TLS and AUTH: the failure below is
 * STARTTLS's alone. */
START_TEST(plain_port_without_tls_arrives) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_PLAIN_PORT");
  o.starttls = false;
  o.user = o.password = NULL;
  probe_t p;
  char err[512];
  ck_assert_msg(send_probe(&o, &p, err, sizeof(err)) == 0, "%s", err);
  assert_arrives(&p);
}
END_TEST

/* Dot lines of the body are libcurl's to escape: the message arrives
 * whole. */
START_TEST(dot_lines_arrive_whole) {
  pop3_smtp_options_t o = submission();
  probe_t p;
  probe_make(&p);
  char text[4200];
  int n = snprintf(text, sizeof(text), "%s.\r\n..two\r\n.\r\nlast line\r\n",
                   p.text);
  char err[512];
  ck_assert_msg(pop3_smtp_send(&o, text, (size_t)n, err, sizeof(err)) == 0,
                "%s", err);
  char out[16384];
  ck_assert(find(p.token, 15, true, out, sizeof(out)));
  ck_assert_msg(strstr(out, "\n.\n..two\n.\nlast line\n") != NULL, "%s", out);
}
END_TEST

/* ---- failures ---------------------------------------------------------------- */

START_TEST(wrong_password) {
  pop3_smtp_options_t o = submission();
  o.password = WRONG_PASS;
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "wrong password", "smtp: auth: the server refused the login: 535");
  char out[256];
  ck_assert(!find(p.token, 1, false, out, sizeof(out)));
}
END_TEST

START_TEST(unknown_ca) {
  pop3_smtp_options_t o = submission();
  o.ca_cert = NULL; /* the system's store does not know the private CA */
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "unknown CA", "smtp: tls: certificate verification failed");
}
END_TEST

START_TEST(unknown_ca_implicit_tls) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_TLS_PORT");
  o.ssl = true;
  o.starttls = false;
  o.ca_cert = NULL;
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "unknown CA, implicit TLS",
            "smtp: tls: certificate verification failed");
}
END_TEST

START_TEST(missing_ca_file) {
  pop3_smtp_options_t o = submission();
  o.ca_cert = "/nonexistent/ca.pem";
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "missing CACert file", "smtp: tls:");
}
END_TEST

START_TEST(connect_refused) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_CLOSED_PORT");
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "connection refused", "smtp: connect: cannot connect to 127.0.0.1:");
  ck_assert_ptr_nonnull(strstr(err, "Connection refused"));
}
END_TEST

START_TEST(unresolvable_host) {
  pop3_smtp_options_t o = submission();
  o.host = "no-such-host.invalid";
  o.timeout = 5;
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "unresolvable host", "smtp: resolve:");
}
END_TEST

/* No STARTTLS on offer: nothing goes out in clear text. */
START_TEST(starttls_required_fails_closed) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_PLAIN_PORT");
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "STARTTLS not offered", "smtp: tls:");
  char out[256];
  ck_assert(!find(p.token, 1, false, out, sizeof(out)));
  o.user = o.password = NULL; /* also without AUTH */
  ck_assert_int_eq(send_probe(&o, &p, err, sizeof(err)), -1);
  check_err("STARTTLS not offered, no AUTH", err, "smtp: tls:");
  ck_assert(!find(p.token, 1, false, out, sizeof(out)));
}
END_TEST

START_TEST(implicit_tls_on_plain_port) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_PLAIN_PORT");
  o.ssl = true;
  o.starttls = false;
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "TLS on a plain port", "smtp: tls:");
}
END_TEST

START_TEST(auth_without_tls_refused) {
  pop3_smtp_options_t o = submission();
  o.port = env_int("SMTP_PLAIN_PORT");
  o.starttls = false;
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "AUTH without TLS", "smtp: setup:");
}
END_TEST

START_TEST(unknown_recipient) {
  pop3_smtp_options_t o = submission();
  o.to = "nobody@loop.test";
  probe_t p;
  char err[512];
  send_fails(&o, &p, err, sizeof(err), "unknown recipient",
            "smtp: send: the server refused the recipient: 550 5.1.1");
}
END_TEST

/* run-smtp.sh preloads a getaddrinfo() that takes 6 s for this name */
START_TEST(slow_resolve_times_out) {
  const char *host = getenv("SMTP_SLOW_DNS_HOST");
  if (host == NULL) {
    printf("%-28s skipped (no getaddrinfo shim)\n", "slow resolve");
    return;
  }
  pop3_smtp_options_t o = submission();
  o.host = host;
  o.timeout = 1;
  probe_t p;
  char err[512];
  double t0 = now();
  ck_assert_int_eq(send_probe(&o, &p, err, sizeof(err)), -1);
  double took = now() - t0;
  check_err("slow resolve", err, "smtp: resolve:");
  ck_assert_ptr_nonnull(strstr(err, "timed out after 1 s"));
  ck_assert_msg(took < 1.5, "took %.2f s", took);
}
END_TEST

START_TEST(no_greeting_times_out) {
  int port;
  int fd = silent_listener(&port);
  pop3_smtp_options_t o = submission();
  o.port = port;
  o.timeout = 1;
  probe_t p;
  char err[512];
  double t0 = now();
  ck_assert_int_eq(send_probe(&o, &p, err, sizeof(err)), -1);
  double took = now() - t0;
  close(fd);
  check_err("no greeting", err, "smtp: connect: timed out after 1 s");
  ck_assert_msg(took >= 0.9 && took < 1.5, "took %.2f s", took);
}
END_TEST

START_TEST(no_tls_handshake_times_out) {
  int port;
  int fd = silent_listener(&port);
  pop3_smtp_options_t o = submission();
  o.port = port;
  o.ssl = true;
  o.starttls = false;
  o.timeout = 1;
  probe_t p;
  char err[512];
  ck_assert_int_eq(send_probe(&o, &p, err, sizeof(err)), -1);
  close(fd);
  check_err("no TLS handshake", err,
            "smtp: tls: timed out after 1 s waiting for the TLS handshake");
}
END_TEST

START_TEST(bad_options) {
  pop3_smtp_options_t o = submission();
  char err[512];
  o.host = "evil/host";
  ck_assert_int_eq(pop3_smtp_send(&o, "x\r\n", 3, err, sizeof(err)), -1);
  check_err("host with a slash", err, "smtp: setup:");
  o = submission();
  o.to = "probe@loop.test\r\nRCPT TO:<x@y>";
  ck_assert_int_eq(pop3_smtp_send(&o, "x\r\n", 3, err, sizeof(err)), -1);
  check_err("recipient with CRLF", err, "smtp: setup:");
  o = submission();
  o.port = 0;
  ck_assert_int_eq(pop3_smtp_send(&o, "x\r\n", 3, err, sizeof(err)), -1);
  check_err("port 0", err, "smtp: setup:");
}
END_TEST

/* ---- the worker ----------------------------------------------------------------- */

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int done;
  int order[512];
  int status[512];
  char err[512][256];
  pthread_t thread[512];
} record_t;

typedef struct {
  record_t *r;
  int id;
} job_arg_t;

static void record_done(void *arg, int status, const char *err) {
  job_arg_t *a = arg;
  record_t *r = a->r;
  pthread_mutex_lock(&r->lock);
  int i = r->done++;
  r->order[i] = a->id;
  r->status[a->id] = status;
  snprintf(r->err[a->id], sizeof(r->err[a->id]), "%s", err);
  r->thread[a->id] = pthread_self();
  pthread_cond_broadcast(&r->changed);
  pthread_mutex_unlock(&r->lock);
}

static record_t *record_new(void) {
  record_t *r = calloc(1, sizeof(*r));
  ck_assert_ptr_nonnull(r);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->changed, NULL);
  return r;
}

/* A worker whose sends go to a listener that never answers. */
typedef struct {
  int fd, port;
  pop3_smtp_worker_t *w;
  record_t *r;
  pop3_smtp_options_t o;
} silent_worker_t;

static void silent_worker(silent_worker_t *t, double timeout) {
  char err[256];
  t->fd = silent_listener(&t->port);
  t->w = pop3_smtp_worker_new(err, sizeof(err));
  ck_assert_msg(t->w != NULL, "%s", err);
  t->r = record_new();
  t->o = submission();
  t->o.port = t->port;
  t->o.timeout = timeout;
}

static bool wait_done(record_t *r, int n, double secs) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)secs;
  pthread_mutex_lock(&r->lock);
  int rc = 0;
  while (r->done < n && rc == 0)
    rc = pthread_cond_timedwait(&r->changed, &r->lock, &until);
  bool ok = r->done >= n;
  pthread_mutex_unlock(&r->lock);
  return ok;
}

START_TEST(worker_in_order) {
  char err[256];
  pop3_smtp_worker_t *w = pop3_smtp_worker_new(err, sizeof(err));
  ck_assert_msg(w != NULL, "%s", err);
  record_t *r = record_new();
  probe_t p[3];
  job_arg_t args[3];
  pop3_smtp_options_t o = submission();
  for (int i = 0; i < 3; i++) {
    probe_make(&p[i]);
    args[i] = (job_arg_t){r, i};
    /* copies: the caller's buffers may go at once */
    char *copy = strdup(p[i].text);
    ck_assert_int_eq(pop3_smtp_worker_submit(w, &o, copy, (size_t)p[i].len,
                                             record_done, &args[i]),
                     0);
    memset(copy, 'x', (size_t)p[i].len);
    free(copy);
  }
  ck_assert_msg(wait_done(r, 3, 30), "only %d of 3 done within 30 s", r->done);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(r->order[i], i);
    ck_assert_msg(r->status[i] == 0, "job %d: %s", i, r->err[i]);
    ck_assert_str_eq(r->err[i], "");
    ck_assert(!pthread_equal(r->thread[i], pthread_self()));
  }
  for (int i = 0; i < 3; i++)
    assert_arrives(&p[i]);
  double t0 = now();
  pop3_smtp_worker_free(w);
  ck_assert_double_lt(now() - t0, 0.5);
  free(r);
}
END_TEST

/* A send under way keeps its time; the queued ones are dropped at once. */
START_TEST(worker_free_drops_queued) {
  silent_worker_t t;
  silent_worker(&t, 2);
  pop3_smtp_worker_t *w = t.w;
  record_t *r = t.r;
  pop3_smtp_options_t o = t.o;
  int fd = t.fd;
  job_arg_t args[6];
  for (int i = 0; i < 6; i++) {
    args[i] = (job_arg_t){r, i};
    ck_assert_int_eq(
        pop3_smtp_worker_submit(w, &o, "x\r\n", 3, record_done, &args[i]), 0);
  }
  usleep(200 * 1000); /* the first is under way */
  double t0 = now();
  pop3_smtp_worker_free(w);
  double took = now() - t0;
  close(fd);
  ck_assert_msg(took < o.timeout + 1, "free took %.2f s", took);
  ck_assert_int_eq(r->done, 6);
  ck_assert_int_eq(r->order[0], 0);
  printf("%-28s %s\n", "running at shutdown", r->err[0]);
  ck_assert_int_eq(r->status[0], -1);
  ck_assert_msg(strstr(r->err[0], "timed out") != NULL, "%s", r->err[0]);
  for (int i = 1; i < 6; i++) {
    ck_assert_int_eq(r->order[i], i);
    ck_assert_int_eq(r->status[i], -1);
    ck_assert_str_eq(r->err[i], "smtp: not sent: shutting down");
  }
  printf("%-28s %s (free took %.2f s)\n", "queued at shutdown", r->err[1], took);
  free(r);
}
END_TEST

START_TEST(worker_queue_bounded) {
  silent_worker_t t;
  silent_worker(&t, 1);
  pop3_smtp_worker_t *w = t.w;
  record_t *r = t.r;
  pop3_smtp_options_t o = t.o;
  int fd = t.fd;
  static job_arg_t args[400];
  int accepted = 0, refused = 0;
  for (int i = 0; i < 400; i++) {
    args[i] = (job_arg_t){r, i < 511 ? i : 511};
    if (pop3_smtp_worker_submit(w, &o, "x\r\n", 3, record_done, &args[i]) == 0)
      accepted++;
    else
      refused++;
  }
  ck_assert_int_ge(accepted, POP3_SMTP_QUEUE_MAX);
  ck_assert_int_le(accepted, POP3_SMTP_QUEUE_MAX + 1); /* one may be running */
  ck_assert_int_eq(accepted + refused, 400);
  double t0 = now();
  pop3_smtp_worker_free(w);
  ck_assert_double_lt(now() - t0, o.timeout + 1);
  close(fd);
  ck_assert_int_eq(r->done, accepted); /* each accepted job, once */
  free(r);
}
END_TEST

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  Suite *s = suite_create("smtp");
  TCase *send = tcase_create("send");
  tcase_add_test(send, starttls_auth_arrives);
  tcase_add_test(send, starttls_by_name_arrives);
  tcase_add_test(send, implicit_tls_arrives);
  tcase_add_test(send, implicit_tls_ipv6_arrives);
  tcase_add_test(send, verify_peer_off_arrives);
  tcase_add_test(send, plain_port_without_tls_arrives);
  tcase_add_test(send, dot_lines_arrive_whole);
  tcase_set_timeout(send, 60);
  suite_add_tcase(s, send);
  TCase *fail = tcase_create("failures");
  tcase_add_test(fail, wrong_password);
  tcase_add_test(fail, unknown_ca);
  tcase_add_test(fail, unknown_ca_implicit_tls);
  tcase_add_test(fail, missing_ca_file);
  tcase_add_test(fail, connect_refused);
  tcase_add_test(fail, unresolvable_host);
  tcase_add_test(fail, starttls_required_fails_closed);
  tcase_add_test(fail, implicit_tls_on_plain_port);
  tcase_add_test(fail, auth_without_tls_refused);
  tcase_add_test(fail, unknown_recipient);
  tcase_add_test(fail, slow_resolve_times_out);
  tcase_add_test(fail, no_greeting_times_out);
  tcase_add_test(fail, no_tls_handshake_times_out);
  tcase_add_test(fail, bad_options);
  tcase_set_timeout(fail, 60);
  suite_add_tcase(s, fail);
  TCase *worker = tcase_create("worker");
  tcase_add_test(worker, worker_in_order);
  tcase_add_test(worker, worker_free_drops_queued);
  tcase_add_test(worker, worker_queue_bounded);
  tcase_set_timeout(worker, 60);
  suite_add_tcase(s, worker);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
