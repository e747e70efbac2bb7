/* test_integration.c: whole collections (pop3_collect) against a real
 * Dovecot started by tests/engine/run-integration.sh (ports, users and the expected
 * counts and sizes come from its environment), and against the scripted
 * fault server tests/harness/fake_pop3.py for what Dovecot will not do. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pop3_collect.h"
#include "pop3_engine.h"
#include "pop3_time.h"
#include "pop3_tls.h"
#include "test_env.h"

/* A monitor as the configuration module would build it. */
static pop3_monitor_t monitor(const char *host, int port, const char *user,
                              const char *password) {
  pop3_monitor_t m = {.name = "test",
                      .host = (char *)host,
                      .port = port,
                      .user = (char *)user,
                      .password = (char *)password,
                      .timeout = 10,
                      .interval = 30,
                      .verify_peer = true,
                      .verify_host = true};
  return m;
}

static SSL_CTX *context(const char *ca_file, bool verify_peer) {
  char err[256];
  SSL_CTX *ctx = pop3_tls_context_new(ca_file, verify_peer, err, sizeof(err));
  ck_assert_msg(ctx != NULL, "%s", err);
  return ctx;
}

static void collect(const pop3_monitor_t *m, const char *ca_file,
                    pop3_result_t *r) {
  SSL_CTX *ctx = pop3_monitor_uses_tls(m) ? context(ca_file, m->verify_peer)
                                          : NULL;
  pop3_collect(m, ctx, r);
  SSL_CTX_free(ctx);
}

static void assert_values(const pop3_result_t *r, const char *who) {
  char count_key[64], size_key[64];
  snprintf(count_key, sizeof(count_key), "POP3_%s_COUNT", who);
  snprintf(size_key, sizeof(size_key), "POP3_%s_SIZE", who);
  ck_assert_msg(r->ok, "collection failed: %s: %s",
                pop3_phase_name(r->error.phase), r->error.message);
  ck_assert_uint_eq(r->message_count, env_u64(count_key));
  ck_assert_uint_eq(r->mailbox_size, env_u64(size_key));
  ck_assert(r->response_time > 0 && r->response_time < 10);
}

static void assert_failure(const pop3_result_t *r, pop3_phase_t phase,
                           pop3_failure_t failure, const char *needle) {
  ck_assert_msg(!r->ok, "collection unexpectedly succeeded");
  ck_assert_msg(r->error.phase == phase, "phase %s, expected %s: %s",
                pop3_phase_name(r->error.phase), pop3_phase_name(phase),
                r->error.message);
  ck_assert_msg(r->error.failure == failure, "failure %d, expected %d: %s",
                r->error.failure, failure, r->error.message);
  ck_assert_msg(strstr(r->error.message, needle) != NULL,
                "message lacks \"%s\": %s", needle, r->error.message);
  ck_assert_msg(strchr(r->error.message, '\n') == NULL, "not one line");
}

/* --- Dovecot ---------------------------------------------------------- */

static void dovecot_plain(const char *host, const char *who) {
  char user_key[64], pass_key[64];
  snprintf(user_key, sizeof(user_key), "POP3_USER_%s", who);
  snprintf(pass_key, sizeof(pass_key), "POP3_PASS_%s", who);
  pop3_monitor_t m = monitor(host, env_int("POP3_PLAIN_PORT"), env(user_key),
                             env(pass_key));
  pop3_result_t r;
  collect(&m, NULL, &r);
  assert_values(&r, who);
  ck_assert_str_eq(r.tls_version, "");
}

START_TEST(plain_empty_mailbox) { dovecot_plain("127.0.0.1", "EMPTY"); }
END_TEST
START_TEST(plain_few_messages) { dovecot_plain("127.0.0.1", "FEW"); }
END_TEST
START_TEST(plain_many_messages) { dovecot_plain("127.0.0.1", "MANY"); }
END_TEST
START_TEST(plain_ipv6) { dovecot_plain("::1", "FEW"); }
END_TEST
START_TEST(plain_by_name) { dovecot_plain("localhost", "MANY"); }
END_TEST

static void dovecot_tls(const char *host, bool ssl, const char *who) {
  char user_key[64], pass_key[64];
  snprintf(user_key, sizeof(user_key), "POP3_USER_%s", who);
  snprintf(pass_key, sizeof(pass_key), "POP3_PASS_%s", who);
  pop3_monitor_t m =
      monitor(host, env_int(ssl ? "POP3S_PORT" : "POP3_PLAIN_PORT"),
              env(user_key), env(pass_key));
  m.ssl = ssl;
  m.starttls = !ssl;
  pop3_result_t r;
  collect(&m, env("POP3_TEST_CA"), &r);
  assert_values(&r, who);
  ck_assert_msg(strncmp(r.tls_version, "TLSv1.", 6) == 0, "TLS: %s",
                r.tls_version);
  ck_assert(r.tls_version[6] >= '2');
}

/* The wall clock, as the dates in the headers count. */
static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The age of `date` seen between before and after, within a second. */
static void assert_age(double age, int64_t date, double before, double after,
                       const char *what) {
  ck_assert_msg(age >= before - (double)date - 1 &&
                    age <= after - (double)date + 1,
                "%s: age %.3f s, expected %.3f..%.3f", what, age,
                before - (double)date, after - (double)date);
}

/* Message age against Dovecot: the dates are the top-most Received: lines
 * the harness wrote (POP3_X_FIRST_DATE and _LAST_DATE). */
static void dovecot_age(int mode, const char *who, unsigned scan) {
  char user_key[64], pass_key[64], first_key[64], last_key[64];
  snprintf(user_key, sizeof(user_key), "POP3_USER_%s", who);
  snprintf(pass_key, sizeof(pass_key), "POP3_PASS_%s", who);
  snprintf(first_key, sizeof(first_key), "POP3_%s_FIRST_DATE", who);
  snprintf(last_key, sizeof(last_key), "POP3_%s_LAST_DATE", who);
  pop3_monitor_t m = monitor("localhost",
                             env_int(mode == 1 ? "POP3S_PORT" : "POP3_PLAIN_PORT"),
                             env(user_key), env(pass_key));
  m.ssl = mode == 1;
  m.starttls = mode == 2;
  m.collect_age = true;
  m.age_scan = scan;
  pop3_result_t r;
  double before = wall_now();
  collect(&m, env("POP3_TEST_CA"), &r);
  double after = wall_now();
  assert_values(&r, who);
  ck_assert(r.age_wanted);
  ck_assert_msg(r.age.problem[0] == '\0', "age problem: %s", r.age.problem);
  uint64_t count = r.message_count;
  if (count == 0) {
    ck_assert_uint_eq(r.age.read, 0); /* an empty mailbox: no age */
    ck_assert_uint_eq(r.age.dated, 0);
    return;
  }
  unsigned want = count <= 2 * scan ? (unsigned)count : 2 * scan;
  ck_assert_uint_eq(r.age.read, want);
  ck_assert_uint_eq(r.age.dated, want);
  ck_assert_int_eq(r.age.oldest, (int64_t)env_u64(first_key));
  ck_assert_int_eq(r.age.newest, (int64_t)env_u64(last_key));
  ck_assert_int_eq(r.age.oldest_source, POP3_DATE_RECEIVED);
  assert_age(r.oldest_age, r.age.oldest, before, after, "oldest");
  assert_age(r.newest_age, r.age.newest, before, after, "newest");
}

START_TEST(age_plain_many) { dovecot_age(0, "MANY", 1); }
END_TEST
START_TEST(age_ssl_few_scan_16) { dovecot_age(1, "FEW", 16); }
END_TEST
START_TEST(age_starttls_many_scan_16) { dovecot_age(2, "MANY", 16); }
END_TEST
START_TEST(age_plain_empty) { dovecot_age(0, "EMPTY", 1); }
END_TEST

START_TEST(ssl_ipv4) { dovecot_tls("127.0.0.1", true, "FEW"); }
END_TEST
START_TEST(ssl_ipv6) { dovecot_tls("::1", true, "MANY"); }
END_TEST
START_TEST(ssl_by_name) { dovecot_tls("localhost", true, "EMPTY"); }
END_TEST
START_TEST(starttls_ipv4) { dovecot_tls("127.0.0.1", false, "FEW"); }
END_TEST
START_TEST(starttls_ipv6) { dovecot_tls("::1", false, "EMPTY"); }
END_TEST
START_TEST(starttls_by_name) { dovecot_tls("localhost", false, "MANY"); }
END_TEST

/* Two collections of one target on one engine: the second resumes the TLS
 * session of the first, and still counts right. */
static void keep(const pop3_result_t *r, void *arg) {
  *(pop3_result_t *)arg = *r;
}

static void resumed_twice(bool ssl) {
  pop3_monitor_t m =
      monitor("localhost", env_int(ssl ? "POP3S_PORT" : "POP3_PLAIN_PORT"),
              env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = ssl;
  m.starttls = !ssl;
  char err[256];
  SSL_CTX *ctx = context(env("POP3_TEST_CA"), true);
  pop3_engine_t *e = pop3_engine_new(err, sizeof(err));
  ck_assert_msg(e != NULL, "%s", err);
  pop3_result_t r;
  pop3_target_t *t = pop3_engine_add(e, &m, ctx, keep, &r);
  for (int i = 0; i < 3; i++) {
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(pop3_engine_submit(e, t, 0), 0);
    pop3_engine_run_until_idle(e, pop3_now() + 15);
    assert_values(&r, "FEW");
    ck_assert_msg(r.tls_resumed == (i > 0), "collection %d resumed: %d", i,
                  r.tls_resumed);
    /* the capabilities learnt by the first stand in for CAPA afterwards,
     * and Dovecot's PIPELINING lets the login go out in one burst */
    ck_assert_msg(r.from_cache == (i > 0), "collection %d from cache: %d", i,
                  r.from_cache);
    ck_assert(r.pipelined);
    ck_assert(r.cert_not_after > time(NULL));
  }
  pop3_engine_free(e);
  SSL_CTX_free(ctx);
}

START_TEST(ssl_session_resumed) { resumed_twice(true); }
END_TEST
START_TEST(starttls_session_resumed) { resumed_twice(false); }
END_TEST

START_TEST(wrong_password) {
  const char *wrong = "not-the-Password-42";
  pop3_monitor_t m = monitor("127.0.0.1", env_int("POP3_PLAIN_PORT"),
                             env("POP3_USER_FEW"), wrong);
  pop3_result_t r;
  collect(&m, NULL, &r);
  assert_failure(&r, POP3_PHASE_AUTH, POP3_FAIL_REFUSED, "refused");
  ck_assert_int_eq(r.error.code, POP3_CODE_AUTH);
  ck_assert(strstr(r.error.message, wrong) == NULL);
}
END_TEST

START_TEST(unknown_ca) {
  pop3_monitor_t m = monitor("localhost", env_int("POP3S_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = true;
  pop3_result_t r;
  collect(&m, NULL, &r); /* the system store does not know the test CA */
  assert_failure(&r, POP3_PHASE_TLS, POP3_FAIL_TLS, "unknown issuer");
}
END_TEST

START_TEST(unknown_ca_accepted_when_verify_peer_off) {
  pop3_monitor_t m = monitor("localhost", env_int("POP3S_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = true;
  m.verify_peer = false;
  pop3_result_t r;
  collect(&m, NULL, &r);
  assert_values(&r, "FEW");
}
END_TEST

START_TEST(host_name_mismatch) {
  pop3_monitor_t m = monitor("localhost", env_int("POP3_WRONGNAME_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = true;
  pop3_result_t r;
  collect(&m, env("POP3_TEST_CA"), &r);
  assert_failure(&r, POP3_PHASE_TLS, POP3_FAIL_TLS, "host name mismatch");
}
END_TEST

START_TEST(host_name_mismatch_checked_without_verify_peer) {
  pop3_monitor_t m = monitor("127.0.0.1", env_int("POP3_WRONGNAME_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = true;
  m.verify_peer = false;
  pop3_result_t r;
  collect(&m, NULL, &r);
  assert_failure(&r, POP3_PHASE_TLS, POP3_FAIL_TLS, "host name mismatch");
}
END_TEST

START_TEST(host_name_mismatch_ignored_when_verify_host_off) {
  pop3_monitor_t m = monitor("localhost", env_int("POP3_WRONGNAME_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = true;
  m.verify_host = false;
  pop3_result_t r;
  collect(&m, env("POP3_TEST_CA"), &r);
  assert_values(&r, "FEW");
}
END_TEST

START_TEST(starttls_without_stls) {
  pop3_monitor_t m = monitor("127.0.0.1", env_int("POP3_NOSTLS_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.starttls = true;
  pop3_result_t r;
  collect(&m, env("POP3_TEST_CA"), &r);
  assert_failure(&r, POP3_PHASE_TLS, POP3_FAIL_NO_STLS, "STLS");
}
END_TEST

START_TEST(ssl_against_plain_port) {
  pop3_monitor_t m = monitor("127.0.0.1", env_int("POP3_PLAIN_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.ssl = true;
  pop3_result_t r;
  collect(&m, env("POP3_TEST_CA"), &r);
  assert_failure(&r, POP3_PHASE_TLS, POP3_FAIL_TLS, "plain POP3 port");
}
END_TEST

START_TEST(plain_against_ssl_port) {
  pop3_monitor_t m = monitor("127.0.0.1", env_int("POP3S_PORT"),
                             env("POP3_USER_FEW"), env("POP3_PASS_FEW"));
  m.timeout = 1;
  pop3_result_t r;
  double start = pop3_now();
  collect(&m, NULL, &r);
  assert_failure(&r, POP3_PHASE_GREETING, POP3_FAIL_TIMEOUT, "SSL true");
  ck_assert(pop3_now() - start < m.timeout + 0.5);
}
END_TEST

START_TEST(connection_refused) {
  /* a port of the harness whose server was never started: the harness
   * reserved it by binding and closing, so nothing listens there */
  pop3_monitor_t m =
      monitor("127.0.0.1", env_int("POP3_CLOSED_PORT"), "u", "p");
  pop3_result_t r;
  collect(&m, NULL, &r);
  assert_failure(&r, POP3_PHASE_CONNECT, POP3_FAIL_CONNECT,
                 "Connection refused");
}
END_TEST

START_TEST(unresolvable_host) {
  pop3_monitor_t m = monitor("no-such-host.invalid", 110, "u", "p");
  pop3_result_t r;
  collect(&m, NULL, &r);
  ck_assert(!r.ok);
  ck_assert_int_eq(r.error.phase, POP3_PHASE_RESOLVE);
  ck_assert_msg(strstr(r.error.message, "no-such-host.invalid") != NULL, "%s",
                r.error.message);
}
END_TEST

/* --- the scripted fault server ------------------------------------------ */

static pid_t fake_pid = -1;
static char fake_dir[64];
static char fake_log[128];

/* Starts tests/harness/fake_pop3.py with a scenario; returns its port. */
static int fake_start(const char *scenario) {
  snprintf(fake_dir, sizeof(fake_dir), "/tmp/pop3-fake-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(fake_dir));
  char port_file[128];
  snprintf(port_file, sizeof(port_file), "%s/port", fake_dir);
  snprintf(fake_log, sizeof(fake_log), "%s/port.log", fake_dir);
  fake_pid = fork();
  ck_assert_int_ge(fake_pid, 0);
  if (fake_pid == 0) {
    execl("/usr/bin/python3", "python3", env("POP3_FAKE_SERVER"), "--scenario",
          scenario, "--port-file", port_file, (char *)NULL);
    _exit(127);
  }
  /* bounded wait for the port file: 10 s */
  for (int i = 0; i < 200; i++) {
    FILE *fh = fopen(port_file, "r");
    if (fh != NULL) {
      int port = 0;
      int n = fscanf(fh, "%d", &port);
      fclose(fh);
      if (n == 1 && port > 0)
        return port;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  ck_abort_msg("fake server did not start");
  return -1;
}

static void fake_stop(void) {
  if (fake_pid > 0) {
    kill(fake_pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(fake_pid, NULL, WNOHANG) == 0; i++) {
      struct timespec ts = {0, 20 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    kill(fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    fake_pid = -1;
  }
  if (fake_dir[0] != '\0') {
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_dir);
    if (system(cmd) != 0)
      fprintf(stderr, "cannot remove %s\n", fake_dir);
    fake_dir[0] = '\0';
  }
}

static bool fake_log_contains(const char *needle) {
  FILE *fh = fopen(fake_log, "r");
  if (fh == NULL)
    return false;
  char line[512];
  bool found = false;
  while (!found && fgets(line, sizeof(line), fh) != NULL)
    found = strstr(line, needle) != NULL;
  fclose(fh);
  return found;
}

static void fake_collect(const char *scenario, double timeout,
                         pop3_result_t *r) {
  int port = fake_start(scenario);
  pop3_monitor_t m = monitor("127.0.0.1", port, "alice", "secret");
  m.timeout = timeout;
  double start = pop3_now();
  collect(&m, NULL, r);
  /* every failure arrives within the Timeout (plus scheduling slack) */
  ck_assert_msg(pop3_now() - start < timeout + 0.5, "took %.2f s",
                pop3_now() - start);
}

START_TEST(fake_ok_reads_only) {
  pop3_result_t r;
  fake_collect("ok", 5, &r);
  ck_assert(r.ok);
  ck_assert_uint_eq(r.message_count, 7);
  ck_assert_uint_eq(r.mailbox_size, 123456);
  /* give the server a moment to log QUIT, bounded */
  for (int i = 0; i < 50 && !fake_log_contains("QUIT"); i++) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  ck_assert(fake_log_contains("STAT"));
  ck_assert(fake_log_contains("QUIT"));
  ck_assert(!fake_log_contains("RETR") && !fake_log_contains("DELE"));
  ck_assert(!fake_log_contains("secret"));
}
END_TEST

START_TEST(fake_mailbox_over_4gib) {
  pop3_result_t r;
  fake_collect("ok-big", 5, &r);
  ck_assert(r.ok);
  ck_assert_uint_eq(r.message_count, 3);
  ck_assert_uint_eq(r.mailbox_size, UINT64_C(5000000000));
}
END_TEST

START_TEST(fake_one_byte_at_a_time) {
  pop3_result_t r;
  fake_collect("one-byte", 5, &r);
  ck_assert_msg(r.ok, "%s", r.error.message);
  ck_assert_uint_eq(r.message_count, 7);
  ck_assert_uint_eq(r.mailbox_size, 123456);
}
END_TEST

START_TEST(fake_bare_lf) {
  pop3_result_t r;
  fake_collect("bare-lf", 5, &r);
  ck_assert_msg(r.ok, "%s", r.error.message);
  ck_assert_uint_eq(r.mailbox_size, 123456);
}
END_TEST

START_TEST(fake_no_greeting) {
  pop3_result_t r;
  fake_collect("no-greeting", 1, &r);
  assert_failure(&r, POP3_PHASE_GREETING, POP3_FAIL_TIMEOUT, "Timeout");
}
END_TEST

START_TEST(fake_drop_after_pass) {
  pop3_result_t r;
  fake_collect("drop-after-pass", 5, &r);
  assert_failure(&r, POP3_PHASE_AUTH, POP3_FAIL_CLOSED, "closed");
}
END_TEST

START_TEST(fake_drop_after_connect) {
  pop3_result_t r;
  fake_collect("drop-after-connect", 5, &r);
  assert_failure(&r, POP3_PHASE_GREETING, POP3_FAIL_CLOSED, "closed");
}
END_TEST

START_TEST(fake_stat_garbage) {
  pop3_result_t r;
  fake_collect("stat-garbage", 5, &r);
  assert_failure(&r, POP3_PHASE_STAT, POP3_FAIL_PROTOCOL, "lots of mail");
}
END_TEST

/* The fake server's message n arrived TOP_EPOCH + 60 n (fake_pop3.py). */
#define TOP_EPOCH 1796119200

static void fake_age(const char *scenario, double timeout, pop3_result_t *r) {
  int port = fake_start(scenario);
  pop3_monitor_t m = monitor("127.0.0.1", port, "alice", "secret");
  m.timeout = timeout;
  m.collect_age = true;
  m.age_scan = 1;
  double start = pop3_now();
  collect(&m, NULL, r);
  ck_assert_msg(pop3_now() - start < timeout + 0.5, "took %.2f s",
                pop3_now() - start);
  /* whatever the headers do, the values stand */
  ck_assert_msg(r->ok, "%s", r->error.message);
  ck_assert_uint_eq(r->message_count, 7);
  ck_assert_uint_eq(r->mailbox_size, 123456);
  ck_assert(r->age_wanted);
}

START_TEST(fake_age_first_and_last) {
  pop3_result_t r;
  fake_age("ok", 5, &r);
  ck_assert_uint_eq(r.age.dated, 2);
  ck_assert_int_eq(r.age.oldest, TOP_EPOCH + 60);
  ck_assert_int_eq(r.age.newest, TOP_EPOCH + 7 * 60);
  ck_assert(fake_log_contains("TOP 1 0") && fake_log_contains("TOP 7 0"));
  ck_assert(!fake_log_contains("TOP 2 0") && !fake_log_contains("RETR"));
}
END_TEST

/* A server that never answers TOP holds the values back until the Timeout,
 * no longer; they are then handed over without the age. */
START_TEST(fake_age_top_hang) {
  pop3_result_t r;
  fake_age("top-hang", 1.5, &r);
  ck_assert_uint_eq(r.age.dated, 0);
  ck_assert_msg(strstr(r.age.problem, "Timeout") != NULL, "%s",
                r.age.problem);
}
END_TEST

START_TEST(fake_age_top_refused) {
  pop3_result_t r;
  fake_age("top-err", 5, &r);
  ck_assert_uint_eq(r.age.dated, 0);
  ck_assert_str_eq(r.age.problem,
                   "server refused TOP 1 0: \"[SYS/PERM] no TOP here\"");
}
END_TEST

START_TEST(fake_age_header_endless) {
  pop3_result_t r;
  fake_age("top-endless", 5, &r);
  ck_assert_uint_eq(r.age.dated, 0);
  ck_assert_msg(strstr(r.age.problem, "longer than 65536 bytes") != NULL,
                "%s", r.age.problem);
}
END_TEST

START_TEST(fake_stat_err) {
  pop3_result_t r;
  fake_collect("stat-err", 5, &r);
  assert_failure(&r, POP3_PHASE_STAT, POP3_FAIL_REFUSED, "SYS/TEMP");
  ck_assert_int_eq(r.error.code, POP3_CODE_SYS_TEMP);
}
END_TEST

START_TEST(fake_stls_inject) {
  int port = fake_start("stls-inject");
  pop3_monitor_t m = monitor("127.0.0.1", port, "alice", "secret");
  m.starttls = true;
  pop3_result_t r;
  collect(&m, NULL, &r);
  assert_failure(&r, POP3_PHASE_TLS, POP3_FAIL_TLS_INJECTION, "STLS");
  ck_assert(!fake_log_contains("USER"));
}
END_TEST

static void fake_teardown(void) { fake_stop(); }

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* as in collectd: TLS writes use write(2) */
  Suite *s = suite_create("integration");
  TCase *dovecot = tcase_create("dovecot");
  tcase_set_timeout(dovecot, 30);
  tcase_add_test(dovecot, plain_empty_mailbox);
  tcase_add_test(dovecot, age_plain_many);
  tcase_add_test(dovecot, age_ssl_few_scan_16);
  tcase_add_test(dovecot, age_starttls_many_scan_16);
  tcase_add_test(dovecot, age_plain_empty);
  tcase_add_test(dovecot, plain_few_messages);
  tcase_add_test(dovecot, plain_many_messages);
  tcase_add_test(dovecot, plain_ipv6);
  tcase_add_test(dovecot, plain_by_name);
  tcase_add_test(dovecot, ssl_ipv4);
  tcase_add_test(dovecot, ssl_ipv6);
  tcase_add_test(dovecot, ssl_by_name);
  tcase_add_test(dovecot, starttls_ipv4);
  tcase_add_test(dovecot, starttls_ipv6);
  tcase_add_test(dovecot, starttls_by_name);
  tcase_add_test(dovecot, ssl_session_resumed);
  tcase_add_test(dovecot, starttls_session_resumed);
  tcase_add_test(dovecot, wrong_password);
  tcase_add_test(dovecot, unknown_ca);
  tcase_add_test(dovecot, unknown_ca_accepted_when_verify_peer_off);
  tcase_add_test(dovecot, host_name_mismatch);
  tcase_add_test(dovecot, host_name_mismatch_checked_without_verify_peer);
  tcase_add_test(dovecot, host_name_mismatch_ignored_when_verify_host_off);
  tcase_add_test(dovecot, starttls_without_stls);
  tcase_add_test(dovecot, ssl_against_plain_port);
  tcase_add_test(dovecot, plain_against_ssl_port);
  tcase_add_test(dovecot, connection_refused);
  tcase_add_test(dovecot, unresolvable_host);
  suite_add_tcase(s, dovecot);

  TCase *fake = tcase_create("fake-server");
  tcase_set_timeout(fake, 30);
  tcase_add_checked_fixture(fake, NULL, fake_teardown);
  tcase_add_test(fake, fake_ok_reads_only);
  tcase_add_test(fake, fake_mailbox_over_4gib);
  tcase_add_test(fake, fake_one_byte_at_a_time);
  tcase_add_test(fake, fake_bare_lf);
  tcase_add_test(fake, fake_no_greeting);
  tcase_add_test(fake, fake_drop_after_pass);
  tcase_add_test(fake, fake_drop_after_connect);
  tcase_add_test(fake, fake_stat_garbage);
  tcase_add_test(fake, fake_stat_err);
  tcase_add_test(fake, fake_age_first_and_last);
  tcase_add_test(fake, fake_age_top_hang);
  tcase_add_test(fake, fake_age_top_refused);
  tcase_add_test(fake, fake_age_header_endless);
  tcase_add_test(fake, fake_stls_inject);
  suite_add_tcase(s, fake);

  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
