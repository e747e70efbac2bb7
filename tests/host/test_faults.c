/* test_faults.c: the fault matrix and the bad-configuration table,
 * driven through the plugin host (tests/harness/plugin_host.c) that loads the built
 * pop3.so as collectd would, against tests/harness/fake_pop3.py servers.
 *
 * Run by tests/host/run-faults.sh, which sets:
 *   FAULT_PLUGIN  the pop3.so to load
 *   FAULT_SERVER  tests/harness/fake_pop3.py
 *   FAULT_CERTS   a directory made by tests/harness/make-test-certs.sh
 *   FAULT_LOGS    where every host log and fake-server log is kept
 * FAULT_ONLY=row1,row2 runs only those rows.
 *
 * Every fault row runs in its own process (libcheck forks): one fake server
 * for the faulty monitor, one shared healthy "ok" server, a configuration
 * with both monitors; config, init, read; the failure must arrive within
 * Timeout + 0.5 s as one FAILURE notification and one ERROR line naming the
 * phase; the healthy monitor keeps dispatching; the server heals (its
 * control file names a good scenario) and the monitor dispatches again with
 * an OKAY notification; after shutdown no descriptor or thread is left.
 *
 * Hostile rows (F_FLOOD: servers that never stop talking, or drip their
 * bytes) run on collectd's schedule instead: every read each second while
 * the server attacks; the faulty monitor fails within its Timeout + 0.5 s
 * with one FAILURE and one ERROR line, the healthy one dispatches every
 * interval (no gap over interval + 0.5 s), and shutdown, started while the
 * server is still sending, ends within the largest Timeout + 1 s. */
#define _GNU_SOURCE
#include <check.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"
#include "plugin_host.h"
#include "pop3_conffile.h"

/* collectd's notification severities (plugin.h) */
#define NOTIF_FAILURE 1
#define NOTIF_WARNING 2
#define NOTIF_OKAY 4

static const char *env(const char *key) {
  const char *v = getenv(key);
  if (v == NULL || v[0] == '\0') {
    fprintf(stderr, "test_faults: environment lacks %s (run it through "
                    "tests/host/run-faults.sh)\n",
            key);
    exit(2);
  }
  return v;
}

static void sleep_for(double seconds) {
  struct timespec ts = {(time_t)seconds,
                        (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* Passwords: random per run, so that finding one in a log means a leak.
 * tests/harness/check-secrets.sh reads them from FAULT_LOGS/passwords.secrets. */
static char fault_password[32];
static char healthy_password[32];

static void random_password(char *buf, size_t size, const char *prefix) {
  static const char set[] =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  FILE *fh = fopen("/dev/urandom", "r");
  size_t n = (size_t)snprintf(buf, size, "%s", prefix);
  while (n + 1 < size) {
    int c = fh != NULL ? fgetc(fh) : rand();
    buf[n++] = set[(unsigned)c % (sizeof(set) - 1)];
  }
  buf[n] = '\0';
  if (fh != NULL)
    fclose(fh);
}

/* --- fake servers ----------------------------------------------------------- */

/* Every connection the server accepted has ended (bounded). */
static bool fake_settled(const fake_t *f, double timeout) {
  double deadline = ph_now() + timeout;
  for (;;) {
    if (f->pid <= 0 ||
        fake_log_count(f, " CLOSE ") >= fake_log_count(f, " CONNECT "))
      return true;
    if (ph_now() > deadline)
      return false;
    sleep_for(0.01);
  }
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then released). */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(sa);
  ck_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
  ck_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  close(fd);
  return ntohs(sa.sin_port);
}

/* The healthy server every row's second monitor uses; started by main(). */
static fake_t healthy;

/* Collections end with QUIT after their values are out: before reading
 * again (collectd would wait an Interval), let the servers see them end, so
 * that no read finds its monitor's previous collection still running. */
static void settle(const fake_t *srv) {
  ck_assert_msg(fake_settled(&healthy, 3.0),
                "the healthy server still has a connection open");
  fake_settled(srv, 1.5); /* a stalling scenario may hold its end longer */
  sleep_for(0.03);
}

/* --- the fault matrix ------------------------------------------------------ */

enum {
  F_SSL = 1 << 0,
  F_STARTTLS = 1 << 1,
  F_NO_CA = 1 << 2,       /* no CACert; the test CA becomes the system store */
  F_REFUSED = 1 << 3,     /* no server at first: a closed port */
  F_UNRESOLVABLE = 1 << 4,
  F_IPV6 = 1 << 5,
  F_BY_NAME = 1 << 6,     /* Host "localhost" instead of "127.0.0.1" */
  F_SLOW = 1 << 7,        /* the failure takes the whole Timeout */
  F_LOGIN_DELAY = 1 << 8, /* the plugin waits before it logs in again:
                             no repeat; heal after advancing the clock */
  F_FLOOD = 1 << 9,       /* a hostile server that keeps talking: scheduled
                             reads, the healthy monitor's schedule watched,
                             shutdown timed while it still sends */
  F_AGE = 1 << 10,        /* CollectMessageAge true */
};

typedef struct {
  const char *name;
  const char *scenario; /* the fake server's first scenario */
  const char *cert;     /* its certificate: good, expired, wrongname, ... */
  unsigned flags;
  double timeout;       /* the faulty monitor's Timeout; 0: 1 s */
  /* failure rows: phase and a substring of the cause */
  const char *phase;
  const char *needle;
  int transient;        /* 1: must say temporary, 0: must not, -1: either */
  /* success rows (phase NULL): exact values */
  uint64_t count, size;
  /* after healing: the scenario, and how long to keep reading for values */
  const char *heal;
  double heal_wait;
  /* F_FLOOD rows: needle and needle2 are lists of alternatives separated by
   * '|', matched without regard to case, and both must match (needle2 NULL:
   * no second condition); the cause's exact words are the engine's choice */
  const char *needle2;
} fault_row_t;

#define TEMP_NOTE "(temporary; will retry)"

/* The causes of the hostile rows, as alternatives (see needle2): the
 * subject, and what is wrong with it. */
#define CAUSE_CAPA "CAPA|capabilit"
#define CAUSE_TOO_MUCH                                                         \
  "too long|too many|too large|too big|at most|more than|exceed|limit"
#define CAUSE_LINE "line"
#define CAUSE_TOO_LONG "too long|longer|at most|exceed|limit"
#define CAUSE_TIMEOUT "Timeout"

/* the older rows leave needle2 (the last field) out */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const fault_row_t rows[] = {
    /* connection and name resolution */
    {"connect-refused", NULL, NULL, F_REFUSED, 0, "connect",
     "Connection refused", 0, 0, 0, "ok", 0},
    {"resolve-unknown-host", NULL, NULL, F_UNRESOLVABLE, 0, "resolve",
     "unresolvable.pop3-fault.invalid", 0, 0, 0, "ok", 0},
    /* greeting */
    {"no-greeting", "no-greeting", NULL, F_SLOW, 0, "greeting", "Timeout", 0,
     0, 0, "ok", 0},
    {"greeting-after-deadline", "greeting-late", NULL, F_SLOW, 0, "greeting",
     "Timeout", 0, 0, 0, "ok", 0},
    {"drop-after-connect", "drop-after-connect", NULL, 0, 0, "greeting",
     "closed", 0, 0, 0, "ok", 0},
    {"greeting-err", "greeting-err", NULL, 0, 0, "greeting", "go away", 0, 0,
     0, "ok", 0},
    {"greeting-garbage", "greeting-garbage", NULL, 0, 0, "greeting",
     "\\x16\\x03", 0, 0, 0, "ok", 0},
    {"line-1mb-no-eol", "long-line", NULL, 0, 0, "greeting", "1024", 0, 0, 0,
     "ok", 0},
    {"line-over-cap-with-eol", "greeting-long-ok", NULL, 0, 0, "greeting",
     "1024", 0, 0, 0, "ok", 0},
    {"nul-byte", "nul-byte", NULL, 0, 0, "greeting", "NUL", 0, 0, 0, "ok", 0},
    {"capa-unanswered", "capa-hang", NULL, F_SLOW, 0, "greeting", "Timeout",
     0, 0, 0, "ok", 0},
    /* login */
    {"drop-after-user", "drop-after-user", NULL, 0, 0, "auth", "closed", 0, 0,
     0, "ok", 0},
    {"drop-after-pass", "drop-after-pass", NULL, 0, 0, "auth", "closed", 0, 0,
     0, "ok", 0},
    {"pass-err", "pass-err-plain", NULL, 0, 0, "auth", "Authentication failed",
     0, 0, 0, "ok", 0},
    {"pass-err-auth", "pass-err", NULL, 0, 0, "auth", "[AUTH]", 0, 0, 0, "ok",
     0},
    {"pass-err-in-use", "pass-in-use", NULL, 0, 0, "auth", "[IN-USE]", 1, 0,
     0, "ok", 0},
    {"pass-err-login-delay", "pass-login-delay-bare", NULL, F_LOGIN_DELAY, 0,
     "auth", "[LOGIN-DELAY", -1, 0, 0, "ok", 0},
    {"pass-err-sys-temp", "pass-sys-temp", NULL, 0, 0, "auth", "[SYS/TEMP]", 1,
     0, 0, "ok", 0},
    {"pass-err-sys-perm", "pass-sys-perm", NULL, 0, 0, "auth", "[SYS/PERM]", 0,
     0, 0, "ok", 0},
    {"user-answer-not-status", "not-status", NULL, 0, 0, "auth",
     "+ERR whatever", 0, 0, 0, "ok", 0},
    /* STAT */
    {"drop-after-stat", "drop-after-stat", NULL, 0, 0, "stat", "closed", 0, 0,
     0, "ok", 0},
    {"stat-err", "stat-err-plain", NULL, 0, 0, "stat", "mailbox unavailable",
     0, 0, 0, "ok", 0},
    {"stat-err-sys-temp", "stat-err", NULL, 0, 0, "stat", "[SYS/TEMP]", 1, 0,
     0, "ok", 0},
    {"stat-negative", "stat-negative", NULL, 0, 0, "stat", "+OK -1 10", 0, 0,
     0, "ok", 0},
    {"stat-overflow-64-bits", "stat-overflow", NULL, 0, 0, "stat",
     "18446744073709551616", 0, 0, 0, "ok", 0},
    {"stat-missing-field", "stat-missing", NULL, 0, 0, "stat", "+OK 5", 0, 0,
     0, "ok", 0},
    {"stat-letters", "stat-letters", NULL, 0, 0, "stat", "+OK 5 12x", 0, 0, 0,
     "ok", 0},
    {"stat-no-numbers", "stat-garbage", NULL, 0, 0, "stat", "lots of mail", 0,
     0, 0, "ok", 0},
    {"stat-unanswered", "stat-hang", NULL, F_SLOW, 0, "stat", "Timeout", 0, 0,
     0, "ok", 0},
    /* TLS */
    {"tls-expired-certificate", "ok-tls", "expired", F_SSL | F_BY_NAME, 0,
     "tls", "expired", 0, 0, 0, "ok-tls", 0},
    {"tls-certificate-for-another-host", "ok-tls", "wrongname",
     F_SSL | F_BY_NAME, 0, "tls", "host name mismatch", 0, 0, 0, "ok-tls", 0},
    {"tls-self-signed-without-cacert", "ok-tls", "selfsigned",
     F_SSL | F_NO_CA | F_BY_NAME, 0, "tls", "self-signed", 0, 0, 0, "ok-tls",
     0},
    {"tls-handshake-stalls", "tls-stall", NULL, F_SSL | F_SLOW, 0, "tls",
     "Timeout", 0, 0, 0, "ok-tls", 0},
    {"tls-plaintext-server-on-ssl-port", "ok", NULL, F_SSL, 0, "tls",
     "plain POP3 port", 0, 0, 0, "ok-tls", 0},
    {"tls-server-on-plain-port", "tls-on-plain", "good", F_SLOW, 0,
     "greeting", "SSL true", 0, 0, 0, "ok", 0},
    {"stls-refused", "stls-refused", NULL, F_STARTTLS, 0, "tls",
     "refused STLS", -1, 0, 0, "ok-stls", 0},
    {"stls-missing-starttls-required", "no-stls", NULL, F_STARTTLS, 0, "tls",
     "STLS", 0, 0, 0, "ok-stls", 0},
    {"stls-injected-bytes", "stls-inject", "good", F_STARTTLS, 0, "tls",
     "after the STLS", 0, 0, 0, "ok-stls", 0},
    /* hostile servers that keep talking (F_FLOOD, see run_hostile_row):
     * the answer to CAPA never ends; a line never ends; +OK lines without
     * end; every byte 100 ms apart, so the Timeout passes while data keeps
     * arriving. Each plain and inside implicit TLS. */
    {.name = "capa-endless", .scenario = "capa-endless", .flags = F_FLOOD,
     .timeout = 2, .phase = "greeting", .needle = CAUSE_CAPA,
     .needle2 = CAUSE_TOO_MUCH, .transient = 0},
    {.name = "capa-endless-tls", .scenario = "capa-endless-tls",
     .cert = "good", .flags = F_FLOOD | F_SSL, .timeout = 2,
     .phase = "greeting", .needle = CAUSE_CAPA, .needle2 = CAUSE_TOO_MUCH,
     .transient = 0},
    {.name = "line-endless", .scenario = "line-endless", .flags = F_FLOOD,
     .timeout = 2, .phase = "greeting", .needle = CAUSE_LINE,
     .needle2 = CAUSE_TOO_LONG, .transient = 0},
    {.name = "line-endless-tls", .scenario = "line-endless-tls",
     .cert = "good", .flags = F_FLOOD | F_SSL, .timeout = 2,
     .phase = "greeting", .needle = CAUSE_LINE, .needle2 = CAUSE_TOO_LONG,
     .transient = 0},
    {.name = "ok-endless", .scenario = "ok-endless", .flags = F_FLOOD,
     .timeout = 2, .phase = "greeting", .needle = CAUSE_CAPA,
     .needle2 = CAUSE_TOO_MUCH, .transient = 0},
    {.name = "ok-endless-tls", .scenario = "ok-endless-tls", .cert = "good",
     .flags = F_FLOOD | F_SSL, .timeout = 2, .phase = "greeting",
     .needle = CAUSE_CAPA, .needle2 = CAUSE_TOO_MUCH, .transient = 0},
    {.name = "drip", .scenario = "drip", .flags = F_FLOOD | F_SLOW,
     .timeout = 2, .phase = "greeting", .needle = CAUSE_TIMEOUT,
     .transient = 0},
    {.name = "drip-tls", .scenario = "drip-tls", .cert = "good",
     .flags = F_FLOOD | F_SSL | F_SLOW, .timeout = 2, .phase = "greeting",
     .needle = CAUSE_TIMEOUT, .transient = 0},
    /* must succeed, with exact values */
    {"one-byte-at-a-time", "one-byte", NULL, 0, 3, NULL, NULL, -1, 7, 123456,
     NULL, 0},
    {"bare-lf", "bare-lf", NULL, 0, 0, NULL, NULL, -1, 7, 123456, NULL, 0},
    {"mailbox-over-2gib", "ok-2g", NULL, 0, 0, NULL, NULL, -1, 2,
     UINT64_C(2147483649), NULL, 0},
    {"mailbox-over-4gib", "ok-big", NULL, 0, 0, NULL, NULL, -1, 3,
     UINT64_C(5000000000), NULL, 0},
    {"quit-err-after-stat", "quit-err", NULL, 0, 0, NULL, NULL, -1, 7, 123456,
     NULL, 0},
    {"quit-dropped-after-stat", "quit-drop", NULL, 0, 0, NULL, NULL, -1, 7,
     123456, NULL, 0},
    {"ipv6", "ok", NULL, F_IPV6, 0, NULL, NULL, -1, 7, 123456, NULL, 0},
    {"tls-ok", "ok-tls", "good", F_SSL | F_BY_NAME, 0, NULL, NULL, -1, 7,
     123456, NULL, 0},
    {"stls-ok", "ok-stls", "good", F_STARTTLS | F_BY_NAME, 0, NULL, NULL, -1,
     7, 123456, NULL, 0},
};
#pragma GCC diagnostic pop
#define ROWS_NUM (sizeof(rows) / sizeof(rows[0]))

static bool row_selected(const char *name) {
  const char *only = getenv("FAULT_ONLY");
  if (only == NULL || only[0] == '\0')
    return true;
  size_t n = strlen(name);
  for (const char *p = only; (p = strstr(p, name)) != NULL; p += n)
    if ((p == only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
      return true;
  return false;
}

static void log_dir_for(const char *name, char *buf, size_t size) {
  snprintf(buf, size, "%s/%s", env("FAULT_LOGS"), name);
  mkdir(buf, 0755);
}

static const char *ca_path(void) {
  static char path[512];
  snprintf(path, sizeof(path), "%s/ca.pem", env("FAULT_CERTS"));
  return path;
}

/* Both monitors of a row's configuration. Spread false: the tests read
 * on demand and expect the collections at once, not at their offsets. */
static char *row_config(const fault_row_t *row, const char *host, int port) {
  char *text = NULL;
  size_t len = 0;
  FILE *fh = open_memstream(&text, &len);
  fprintf(fh, "<Plugin pop3>\n  <Monitor \"fault\">\n    Spread false\n");
  fprintf(fh, "    Host \"%s\"\n    Port %d\n", host, port);
  fprintf(fh, "    User \"alice\"\n    Password \"%s\"\n", fault_password);
  fprintf(fh, "    Timeout %g\n", row->timeout > 0 ? row->timeout : 1.0);
  fprintf(fh, "    Description \"fault row %s\"\n", row->name);
  if (row->flags & F_SSL)
    fprintf(fh, "    SSL true\n");
  if (row->flags & F_STARTTLS)
    fprintf(fh, "    StartTLS true\n");
  if (row->flags & F_AGE)
    fprintf(fh, "    CollectMessageAge true\n");
  if ((row->flags & (F_SSL | F_STARTTLS)) && !(row->flags & F_NO_CA))
    fprintf(fh, "    CACert \"%s\"\n", ca_path());
  fprintf(fh, "  </Monitor>\n  <Monitor \"healthy\">\n    Spread false\n");
  fprintf(fh, "    Host \"127.0.0.1\"\n    Port %d\n", healthy.port);
  fprintf(fh, "    User \"bob\"\n    Password \"%s\"\n", healthy_password);
  /* hostile rows: the same Timeout for both, so that the shutdown bound
   * (the largest Timeout + 1 s) is the faulty monitor's */
  fprintf(fh, "    Timeout %g\n  </Monitor>\n</Plugin>\n",
          row->flags & F_FLOOD ? row->timeout : 5.0);
  fclose(fh);
  return text;
}

/* The <Plugin pop3> block of text, read as collectd reads it. */
static const oconfig_item_t *parse_plugin_block(const char *text,
                                                oconfig_item_t **root) {
  char err[512];
  *root = pop3_conffile_parse(text, strlen(text), "test_faults", err,
                              sizeof(err));
  ck_assert_msg(*root != NULL, "configuration does not parse: %s\n%s", err,
                text);
  ck_assert_msg(err[0] == '\0', "collectd would skip part of it: %s", err);
  const oconfig_item_t *block = pop3_conffile_find(*root, "Plugin", "pop3");
  ck_assert_ptr_nonnull(block);
  return block;
}

static bool printable_line(const char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      return false;
  return true;
}

/* No log line, notification or value label may carry a password. */
static void assert_no_password(void) {
  ph_filter_t any = {.kind = PH_ANY};
  size_t n = ph_count(&any);
  for (size_t i = 1; i <= n; i++) {
    ph_event_t e;
    if (!ph_nth(&any, i, &e))
      break;
    ck_assert_msg(strstr(e.message, fault_password) == NULL &&
                      strstr(e.message, healthy_password) == NULL,
                  "a password reached the log: %s", e.message);
  }
}

/* Waits for the healthy monitor's values since `since`. */
static void assert_healthy(double since, const char *when) {
  ph_event_t e;
  ph_filter_t f = {.kind = PH_VALUE,
                   .plugin_instance = "healthy",
                   .type = "email_count",
                   .since = since};
  ck_assert_msg(ph_wait(&f, 1, 6.0, &e),
                "the healthy monitor dispatched nothing %s", when);
  ck_assert_msg(e.value == 7, "healthy email_count %g", e.value);
  f.type = "bytes";
  f.type_instance = "mailbox_size";
  ck_assert_msg(ph_wait(&f, 1, 1.0, &e), "healthy mailbox_size missing");
  ck_assert_msg(e.value == 123456, "healthy mailbox_size %g", e.value);
}

static void assert_values(const fault_row_t *row, double since,
                          double timeout, const char *when) {
  ph_event_t e;
  ph_filter_t f = {.kind = PH_VALUE,
                   .plugin_instance = "fault",
                   .type = "email_count",
                   .since = since};
  if (!ph_wait(&f, 1, timeout, &e)) {
    ph_dump(&(ph_filter_t){.kind = PH_ANY, .since = since});
    ck_abort_msg("%s: no values %s within %.1f s", row->name, when, timeout);
  }
  uint64_t count = row->phase == NULL ? row->count : 7;
  uint64_t size = row->phase == NULL ? row->size : 123456;
  ck_assert_msg(e.value == (double)count, "%s: email_count %.17g, want %" PRIu64,
                row->name, e.value, count);
  ck_assert_msg(e.interval == (uint64_t)30 << 30,
                "%s: values carry interval %.3f, want the monitor's 30 s",
                row->name, (double)e.interval / 1073741824.0);
  f.type = "bytes";
  f.type_instance = "mailbox_size";
  ck_assert_msg(ph_wait(&f, 1, 1.0, &e), "%s: mailbox_size missing", row->name);
  ck_assert_msg(e.value == (double)size, "%s: mailbox_size %.17g, want %" PRIu64,
                row->name, e.value, size);
  f.type = "response_time";
  f.type_instance = NULL;
  ck_assert_msg(ph_wait(&f, 1, 1.0, &e), "%s: response_time missing",
                row->name);
  ck_assert_msg(e.value > 0 && e.value < timeout + 0.5,
                "%s: response_time %g", row->name, e.value);
}

/* Whether text contains one of the '|'-separated alternatives of pattern,
 * in any case. */
static bool contains_any(const char *text, const char *pattern) {
  for (const char *alt = pattern; *alt != '\0';) {
    size_t n = strcspn(alt, "|");
    for (const char *p = text; *p != '\0'; p++)
      if (strncasecmp(p, alt, n) == 0)
        return true;
    alt += n;
    if (*alt == '|')
      alt++;
  }
  return false;
}

/* Whether a cause names what the row expects: hostile rows match
 * alternatives (both needles), the others the exact needle. */
static bool cause_matches(const fault_row_t *row, const char *text) {
  if (!(row->flags & F_FLOOD))
    return strstr(text, row->needle) != NULL;
  return contains_any(text, row->needle) &&
         (row->needle2 == NULL || contains_any(text, row->needle2));
}

/* One FAILURE and one ERROR line for "fault", naming the phase, in time.
 * false, with why, when not; the ERROR line goes to line (may be NULL). */
static bool check_failure(const fault_row_t *row, double t0, double timeout,
                          char *why, size_t size, ph_event_t *line) {
  ph_event_t n, l;
  ph_filter_t fn = {.kind = PH_NOTIFICATION,
                    .severity = NOTIF_FAILURE,
                    .plugin_instance = "fault",
                    .since = t0};
  bool got = ph_wait(&fn, 1, timeout + 0.5, &n);
  if (!got) {
    ph_dump(&(ph_filter_t){.kind = PH_ANY, .since = t0});
    snprintf(why, size, "%s: no FAILURE notification within %.1f s",
             row->name, timeout + 0.5);
    return false;
  }
#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      snprintf(why, size, __VA_ARGS__);                                        \
      return false;                                                            \
    }                                                                          \
  } while (0)
  CHECK(n.at - t0 <= timeout + 0.5, "%s: FAILURE after %.3f s, Timeout is %.1f s",
        row->name, n.at - t0, timeout);
  ph_filter_t fl = {.kind = PH_LOG,
                    .severity = LOG_ERR,
                    .contains = "monitor \"fault\"",
                    .since = t0};
  CHECK(ph_wait(&fl, 1, 0.5, &l), "%s: no ERROR line", row->name);
  if (line != NULL)
    *line = l;
  CHECK(l.at - t0 <= timeout + 0.5, "%s: ERROR after %.3f s", row->name,
        l.at - t0);

  char phase[32];
  snprintf(phase, sizeof(phase), ": %s: ", row->phase);
  const char *texts[2] = {l.message, n.message};
  for (int i = 0; i < 2; i++) {
    const char *what = i == 0 ? "ERROR line" : "notification";
    CHECK(strstr(texts[i], phase) != NULL,
          "%s: %s does not name the phase \"%s\": %s", row->name, what,
          row->phase, texts[i]);
    CHECK(cause_matches(row, texts[i]), "%s: %s lacks \"%s\"%s%s%s: %s",
          row->name, what, row->needle, row->needle2 ? " and \"" : "",
          row->needle2 ? row->needle2 : "", row->needle2 ? "\"" : "",
          texts[i]);
    CHECK(printable_line(texts[i]), "%s: %s is not one printable line: %s",
          row->name, what, texts[i]);
    if (row->transient == 1)
      CHECK(strstr(texts[i], TEMP_NOTE) != NULL,
            "%s: %s does not say it is temporary: %s", row->name, what,
            texts[i]);
    if (row->transient == 0)
      CHECK(strstr(texts[i], TEMP_NOTE) == NULL,
            "%s: %s calls a lasting failure temporary: %s", row->name, what,
            texts[i]);
  }
  CHECK(strstr(l.message, "fault row") != NULL,
        "%s: the ERROR line lacks the Description: %s", row->name, l.message);
  /* the cause is one clear line: not the bare phase */
  const char *cause = strstr(l.message, phase) + strlen(phase);
  CHECK(strlen(cause) >= 10, "%s: cause too short: %s", row->name, l.message);
#undef CHECK
  return true;
}

static void assert_failure(const fault_row_t *row, double t0, double timeout) {
  char why[1600];
  if (!check_failure(row, t0, timeout, why, sizeof(why), NULL))
    ck_abort_msg("%s", why);
}

static size_t fault_errors(void) {
  return ph_count(&(ph_filter_t){.kind = PH_LOG,
                                 .severity = LOG_ERR,
                                 .contains = "monitor \"fault\""});
}

static size_t fault_notifications(int severity) {
  return ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                 .severity = severity,
                                 .plugin_instance = "fault"});
}

static void run_row(const fault_row_t *row) {
  char dir[512], path[600];
  log_dir_for(row->name, dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/host.log", dir);
  unlink(path);
  ck_assert_int_eq(ph_set_log_file(path), 0);
  double timeout = row->timeout > 0 ? row->timeout : 1.0;
  bool slow = (row->flags & F_SLOW) != 0;

  /* the faulty server (or its absence) */
  fake_t srv = {0};
  char name[300];
  snprintf(name, sizeof(name), "%s/server", row->name);
  const char *host = row->flags & F_IPV6      ? "::1"
                     : row->flags & F_BY_NAME ? "localhost"
                                              : "127.0.0.1";
  int port;
  if (row->flags & F_REFUSED) {
    port = closed_port();
  } else if (row->flags & F_UNRESOLVABLE) {
    host = "unresolvable.pop3-fault.invalid";
    fake_start(&srv, name, "ok", NULL, "127.0.0.1", 0, fault_password);
    port = srv.port;
  } else {
    fake_start(&srv, name, row->scenario, row->cert,
               row->flags & F_IPV6 ? "::1" : "127.0.0.1", 0, fault_password);
    port = srv.port;
  }
  if (row->flags & F_NO_CA) {
    /* the "system" trust store is the test CA: only the self-signed
     * certificate fails, and the healed server passes without CACert */
    setenv("SSL_CERT_FILE", ca_path(), 1);
  }

  double started = ph_now();
  int fds0 = ph_fd_count(), threads0 = ph_thread_count();
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  char *text = row_config(row, host, port);
  oconfig_item_t *root;
  const oconfig_item_t *block = parse_plugin_block(text, &root);
  ck_assert_int_eq(ph_config(block), 0);
  ck_assert_int_eq(ph_init(), 0);
  ck_assert_msg(ph_read_count() >= 1, "no read callback registered");

  /* 1. the fault */
  double t0 = ph_now();
  ph_read_all();
  if (row->phase == NULL) {
    assert_values(row, t0, timeout + 0.5, "on the first read");
    ck_assert_msg(fault_notifications(NOTIF_FAILURE) == 0 &&
                      fault_errors() == 0,
                  "%s: a successful collection reported a failure",
                  row->name);
  } else {
    assert_failure(row, t0, timeout);
    ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_VALUE,
                                          .plugin_instance = "fault",
                                          .type = "email_count"}) == 0,
                  "%s: a failed collection dispatched a count", row->name);
  }
  assert_healthy(t0, "while the other one failed");

  /* 2. the same fault again: no second ERROR line or notification */
  if (row->phase != NULL && !slow && !(row->flags & F_LOGIN_DELAY)) {
    settle(&srv);
    double t1 = ph_now();
    bool connects = srv.pid > 0 && !(row->flags & F_UNRESOLVABLE);
    int closes = connects ? fake_log_count(&srv, " CLOSE ") : 0;
    ph_read_all();
    if (connects)
      ck_assert_msg(fake_wait_log(&srv, " CLOSE ", closes + 1, timeout + 1),
                    "%s: the second collection did not end", row->name);
    else
      sleep_for(0.3);
    assert_healthy(t1, "on the second read");
    sleep_for(0.05);
    ck_assert_msg(fault_errors() == 1,
                  "%s: %zu ERROR lines for one lasting failure", row->name,
                  fault_errors());
    ck_assert_msg(fault_notifications(NOTIF_FAILURE) == 1,
                  "%s: %zu FAILURE notifications for one lasting failure",
                  row->name, fault_notifications(NOTIF_FAILURE));
  }

  /* 3. the server heals: values again and one OKAY */
  if (row->heal != NULL) {
    fake_t revived = {0};
    if (row->flags & F_REFUSED) {
      snprintf(name, sizeof(name), "%s/revived", row->name);
      fake_start(&revived, name, row->heal, NULL, "127.0.0.1", port,
                 fault_password);
    } else if (row->flags & F_UNRESOLVABLE) {
      ph_alias_host(host, "127.0.0.1");
    } else {
      fake_control(&srv, row->heal, "good");
    }
    settle(&srv);
    if (row->flags & F_LOGIN_DELAY) /* no LOGIN-DELAY n: at most minutes */
      ph_clock_advance(3600);
    double t2 = ph_now(), until = t2 + (row->heal_wait > 0 ? row->heal_wait : 0);
    ph_filter_t fv = {.kind = PH_VALUE,
                      .plugin_instance = "fault",
                      .type = "email_count",
                      .since = t2};
    for (;;) {
      ph_read_all();
      if (ph_wait(&fv, 1, timeout + 0.5, NULL) || ph_now() > until)
        break;
      settle(&srv);
    }
    assert_values(row, t2, 0.1, "after healing");
    ph_event_t ok;
    ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                         .severity = NOTIF_OKAY,
                                         .plugin_instance = "fault",
                                         .since = t2},
                          1, 1.0, &ok),
                  "%s: no OKAY notification after healing", row->name);
    ck_assert_msg(printable_line(ok.message), "%s: OKAY text: %s", row->name,
                  ok.message);
    assert_healthy(t2, "after healing");
    ck_assert_msg(fault_notifications(NOTIF_OKAY) == 1,
                  "%s: %zu OKAY notifications", row->name,
                  fault_notifications(NOTIF_OKAY));
    fake_stop(&revived);
  }
  ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                        .plugin_instance = "healthy"}) == 0,
                "%s: the healthy monitor raised a notification", row->name);
  ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                        .severity = LOG_ERR,
                                        .contains = "\"healthy\""}) == 0,
                "%s: the healthy monitor logged an error", row->name);
  ck_assert_msg(ph_host_errors() == 0, "%s: the host saw %u API misuses",
                row->name, ph_host_errors());
  assert_no_password();

  /* 4. shutdown: nothing left behind */
  ck_assert_int_eq(ph_shutdown(), 0);
  ph_unload();
  pop3_conffile_free(root);
  free(text);
  fake_stop(&srv);
  ph_alias_clear();
  int threads = ph_wait_threads(threads0, 3.0);
  ck_assert_msg(threads == threads0, "%s: %d threads after shutdown, %d before",
                row->name, threads, threads0);
  int fds = ph_wait_fds(fds0, 1.0);
  if (fds != fds0)
    ph_dump_fds();
  ck_assert_msg(fds == fds0, "%s: %d descriptors after shutdown, %d before",
                row->name, fds, fds0);
  ph_set_log_file(NULL);
  fprintf(stderr, "fault row %-36s ok  %.2f s\n", row->name,
          ph_now() - started);
}

/* --- hostile servers: the engine must not be held by one connection ------- */

#define HOSTILE_INTERVAL 1.0 /* every read's interval while a server attacks */
#define HOSTILE_WINDOW 4.0   /* how long the schedules are watched */
#define HOSTILE_SLACK 0.5    /* allowed lateness of a dispatch */

/* Everything a hostile row found wrong, reported together. */
typedef struct {
  char text[6000];
  size_t len;
  int count;
} problems_t;

static void problem(problems_t *p, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(problems_t *p, const char *format, ...) {
  p->count++;
  if (p->len + 8 >= sizeof(p->text))
    return;
  p->len += (size_t)snprintf(p->text + p->len, sizeof(p->text) - p->len,
                             "\n  - ");
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, format, ap);
  va_end(ap);
  if (n > 0)
    p->len += (size_t)n;
  if (p->len >= sizeof(p->text))
    p->len = sizeof(p->text) - 1;
}

/* ph_shutdown in a thread of its own: a shutdown that never ends is
 * measured, not waited for. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  int rc;
  double seconds;
} shutdown_job = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                  false, 0, 0};

static void *shutdown_thread(void *arg) {
  double t0 = *(double *)arg;
  int rc = ph_shutdown();
  pthread_mutex_lock(&shutdown_job.lock);
  shutdown_job.seconds = ph_now() - t0;
  shutdown_job.rc = rc;
  shutdown_job.done = true;
  pthread_cond_broadcast(&shutdown_job.cond);
  pthread_mutex_unlock(&shutdown_job.lock);
  return NULL;
}

/* Starts the shutdown now; true when it returned within `wait` seconds
 * (its duration in *seconds, its status in *rc). On false the thread is
 * left behind, still in ph_shutdown, and *seconds is the time waited. */
static bool timed_shutdown(double wait, double *seconds, int *rc) {
  static double t0;
  t0 = ph_now();
  shutdown_job.done = false;
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, shutdown_thread, &t0), 0);
  double until = t0 + wait;
  pthread_mutex_lock(&shutdown_job.lock);
  while (!shutdown_job.done && ph_now() < until) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&shutdown_job.cond, &shutdown_job.lock, &ts);
  }
  bool done = shutdown_job.done;
  *seconds = done ? shutdown_job.seconds : ph_now() - t0;
  *rc = shutdown_job.rc;
  pthread_mutex_unlock(&shutdown_job.lock);
  if (done)
    pthread_join(th, NULL);
  else
    pthread_detach(th);
  return done;
}

/* The healthy monitor's dispatches between from and to: every one right,
 * and no gap (from `from`, between two, up to `to`) over interval + slack. */
static void check_healthy_schedule(problems_t *p, double from, double to,
                                   size_t *dispatches, double *largest) {
  ph_filter_t f = {.kind = PH_VALUE,
                   .plugin_instance = "healthy",
                   .type = "email_count",
                   .since = from};
  size_t n = ph_count(&f), seen = 0;
  double prev = from, gap_max = 0, gap_at = from;
  for (size_t k = 1; k <= n; k++) {
    ph_event_t e;
    if (!ph_nth(&f, k, &e) || e.at > to)
      break;
    if (e.value != 7)
      problem(p, "the healthy monitor dispatched email_count %g, want 7",
              e.value);
    if (e.at - prev > gap_max) {
      gap_max = e.at - prev;
      gap_at = prev;
    }
    prev = e.at;
    seen++;
  }
  if (to - prev > gap_max) {
    gap_max = to - prev;
    gap_at = prev;
  }
  *dispatches = seen;
  *largest = gap_max;
  if (gap_max > HOSTILE_INTERVAL + HOSTILE_SLACK)
    problem(p,
            "the healthy monitor lost its schedule: %zu dispatch(es) in "
            "%.1f s, none for %.2f s from %.2f s on (interval %.1f s, at "
            "most %.1f s allowed)",
            seen, to - from, gap_max, gap_at - from, HOSTILE_INTERVAL,
            HOSTILE_INTERVAL + HOSTILE_SLACK);
}

/* Connections of the hostile server whose endless part is still being sent. */
static int floods_in_flight(const fake_t *srv) {
  return fake_log_count(srv, " FLOOD ") - fake_log_count(srv, " FLOOD-END ");
}

static void run_hostile_row(const fault_row_t *row) {
  char dir[512], path[600];
  log_dir_for(row->name, dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/host.log", dir);
  unlink(path);
  ck_assert_int_eq(ph_set_log_file(path), 0);
  double timeout = row->timeout > 0 ? row->timeout : 1.0;
  double longest = timeout; /* row_config gives both monitors this Timeout */
  problems_t problems = {.len = 0};

  fake_t srv;
  char name[300];
  snprintf(name, sizeof(name), "%s/server", row->name);
  fake_start(&srv, name, row->scenario, row->cert, "127.0.0.1", 0,
             fault_password);
  double started = ph_now();
  int fds0 = ph_fd_count(), threads0 = ph_thread_count();
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  char *text = row_config(row, "127.0.0.1", srv.port);
  oconfig_item_t *root;
  ck_assert_int_eq(ph_config(parse_plugin_block(text, &root)), 0);
  ck_assert_int_eq(ph_init(), 0);

  /* 1. collectd's schedule: every read now, then every interval */
  double t0 = ph_now();
  ph_schedule_start(2, HOSTILE_INTERVAL);

  /* 2. the faulty monitor fails within its Timeout + 0.5 s, once */
  char why[1600];
  ph_event_t error_line = {.at = 0};
  if (!check_failure(row, t0, timeout, why, sizeof(why), &error_line))
    problem(&problems, "%s", why);
  else if ((row->flags & F_SLOW) && error_line.at - t0 < timeout - 0.05)
    problem(&problems,
            "failed after %.3f s, before its Timeout of %.1f s, while the "
            "server was still sending: %s",
            error_line.at - t0, timeout, error_line.message);

  /* 3. the attack goes on (the faulty monitor is read every interval);
   * the healthy monitor keeps its schedule */
  double t_end = t0 + HOSTILE_WINDOW;
  while (ph_now() < t_end)
    sleep_for(0.05);
  size_t dispatches = 0;
  double gap = 0;
  check_healthy_schedule(&problems, t0, t_end, &dispatches, &gap);
  size_t skipped = ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .severity = LOG_WARNING,
                                           .contains = "\"healthy\"",
                                           .contains2 = "still running"});
  if (skipped > 0)
    problem(&problems, "the healthy monitor's collection was still running "
                       "at its next interval");
  if (fault_errors() != 1)
    problem(&problems, "%zu ERROR lines for the faulty monitor in %.1f s of "
                       "one lasting attack; want 1",
            fault_errors(), HOSTILE_WINDOW);
  if (fault_notifications(NOTIF_FAILURE) != 1)
    problem(&problems, "%zu FAILURE notifications in %.1f s of one lasting "
                       "attack; want 1",
            fault_notifications(NOTIF_FAILURE), HOSTILE_WINDOW);
  if (ph_count(&(ph_filter_t){.kind = PH_VALUE,
                              .plugin_instance = "fault",
                              .type = "email_count"}) != 0)
    problem(&problems, "the attacked monitor dispatched a count");
  int attacks = fake_log_count(&srv, " FLOOD ");
  int closed_by_client = fake_log_count(&srv, " client-closed");
  if (closed_by_client < 1)
    problem(&problems, "the client never closed an attacking connection "
                       "(%d attack(s), see %s)",
            attacks, srv.log);
  if (attacks < 2)
    problem(&problems, "%d attack(s) in %.1f s: the faulty monitor was not "
                       "collected again on its schedule",
            attacks, HOSTILE_WINDOW);

  /* 4. shutdown while the server still sends: wait (bounded) for an attack
   * in flight, then stop; it must end within the largest Timeout + 1 s */
  if (floods_in_flight(&srv) < 1)
    fake_wait_log(&srv, " FLOOD ", fake_log_count(&srv, " FLOOD ") + 1,
                  HOSTILE_INTERVAL + timeout + 1.0);
  bool sending = floods_in_flight(&srv) >= 1;
  double limit = longest + 1.0, took;
  int rc;
  bool done = timed_shutdown(limit + 5.0, &took, &rc);
  if (!done) {
    problem(&problems, "shutdown (started while the server %s) had not "
                       "returned after %.1f s; the bound is %.1f s",
            sending ? "was sending" : "had stopped", took, limit);
    ck_abort_msg("%s: %d problem(s):%s", row->name, problems.count,
                 problems.text);
  }
  if (took > limit)
    problem(&problems, "shutdown took %.2f s (started while the server %s); "
                       "the bound is the largest Timeout + 1 s = %.1f s",
            took, sending ? "was sending" : "had stopped", limit);
  if (rc != 0)
    problem(&problems, "a shutdown callback returned %d", rc);
  if (ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                              .plugin_instance = "healthy"}) != 0)
    problem(&problems, "the healthy monitor raised a notification");
  if (ph_count(&(ph_filter_t){.kind = PH_LOG,
                              .severity = LOG_ERR,
                              .contains = "\"healthy\""}) != 0)
    problem(&problems, "the healthy monitor logged an error");
  if (ph_host_errors() != 0)
    problem(&problems, "the host saw %u API misuses", ph_host_errors());
  assert_no_password();

  ph_unload();
  pop3_conffile_free(root);
  free(text);
  fake_stop(&srv);
  int threads = ph_wait_threads(threads0, 3.0);
  if (threads != threads0)
    problem(&problems, "%d threads after shutdown, %d before", threads,
            threads0);
  int fds = ph_wait_fds(fds0, 1.0);
  if (fds != fds0) {
    ph_dump_fds();
    problem(&problems, "%d descriptors after shutdown, %d before", fds, fds0);
  }
  ph_set_log_file(NULL);
  const char *cause = strstr(error_line.message, ": greeting: ");
  if (cause == NULL && row->phase != NULL) {
    char phase[32];
    snprintf(phase, sizeof(phase), ": %s: ", row->phase);
    cause = strstr(error_line.message, phase);
  }
  fprintf(stderr,
          "fault row %-36s %s  %.2f s\n"
          "    failed after %.2f s: %s\n"
          "    healthy: %zu dispatches in %.1f s, largest gap %.2f s; %d "
          "attack(s); shutdown %.2f s (%s)\n",
          row->name, problems.count == 0 ? "ok" : "FAILED",
          ph_now() - started,
          error_line.at > 0 ? error_line.at - t0 : -1.0,
          cause != NULL ? cause + 2 : "(no ERROR line)", dispatches,
          HOSTILE_WINDOW, gap, attacks, took,
          sending ? "begun during an attack"
                  : "no attack in flight to catch");
  ck_assert_msg(problems.count == 0, "%s: %d problem(s):%s", row->name,
                problems.count, problems.text);
}

START_TEST(fault_row) {
  const fault_row_t *row = &rows[_i];
  if (!row_selected(row->name))
    return;
  if (row->flags & F_FLOOD)
    run_hostile_row(row);
  else
    run_row(row);
}
END_TEST

/* --- every daemon symbol the plugin needs is provided by the host ------------ */

START_TEST(host_exports_the_daemon_api) {
  /* dlopen(RTLD_NOW) already fails on a missing symbol; this names them
   * all: the plugin's undefined symbols that none of its own libraries
   * define are the daemon's, and the host must provide each. */
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "nm -D --undefined-only '%s'",
           env("FAULT_PLUGIN"));
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  char line[512], used[4096] = "";
  int daemon_symbols = 0, missing = 0;
  while (fgets(line, sizeof(line), p) != NULL) {
    char kind[8], sym[256];
    if (sscanf(line, " %7s %255s", kind, sym) != 2 || strcmp(kind, "U") != 0)
      continue;
    char *at = strchr(sym, '@');
    if (at != NULL)
      *at = '\0';
    if (dlsym(ph_handle(), sym) != NULL) /* libc, OpenSSL, c-ares, ... */
      continue;
    daemon_symbols++;
    snprintf(used + strlen(used), sizeof(used) - strlen(used), " %s", sym);
    if (dlsym(RTLD_DEFAULT, sym) == NULL) {
      fprintf(stderr, "the host lacks the daemon symbol %s\n", sym);
      missing++;
    }
  }
  pclose(p);
  fprintf(stderr, "daemon symbols the plugin uses (%d):%s\n", daemon_symbols,
          used);
  ck_assert_msg(daemon_symbols >= 5, "nm found only %d daemon symbols",
                daemon_symbols);
  ck_assert_msg(missing == 0, "%d daemon symbol(s) missing from the host",
                missing);
  ph_unload();
}
END_TEST

/* --- the bad configuration table ------------------------------------------- */

typedef struct {
  const char *name;   /* the monitor's name (unique) */
  const char *option; /* what the ERROR must name */
  const char *body;   /* the block's options; %s: the long strings below */
} bad_config_t;

static char long_256[300], long_2000[2100], long_name[210];
static char empty_file[700], missing_file[] = "/nonexistent/pop3-password";
static char password_file[700];

/* A healthy monitor's options, so that each block has exactly one fault. */
#define GOOD_OPTS "Host \"127.0.0.1\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"

static const bad_config_t bad_configs[] = {
    {"host-missing", "Host", "User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-empty", "Host", "Host \"\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-scheme", "Host",
     "Host \"pop3://mail.example.com\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-scheme-pop3s", "Host",
     "Host \"pop3s://mail.example.com\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-port-suffix", "Host",
     "Host \"mail.example.com:995\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-path", "Host",
     "Host \"mail.example.com/inbox\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-brackets", "Host",
     "Host \"[::1]\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-leading-space", "Host",
     "Host \" mail.example.com\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-inner-space", "Host",
     "Host \"mail example.com\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-absurd-length", "Host",
     "Host \"%s\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-number", "Host", "Host 127\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"host-two-values", "Host",
     "Host \"a.example\" \"b.example\"\n User \"u\"\n Password \"BadCfg-Pw-1\"\n"},
    {"port-zero", "Port", GOOD_OPTS " Port 0\n"},
    {"port-too-big", "Port", GOOD_OPTS " Port 65536\n"},
    {"port-negative", "Port", GOOD_OPTS " Port -110\n"},
    {"port-fraction", "Port", GOOD_OPTS " Port 110.5\n"},
    {"port-word", "Port", GOOD_OPTS " Port \"pop-three\"\n"},
    {"ssl-number", "SSL", GOOD_OPTS " SSL 1\n"},
    {"starttls-string", "StartTLS", GOOD_OPTS " StartTLS \"maybe\"\n"},
    {"ssl-and-starttls", "StartTLS", GOOD_OPTS " SSL true\n StartTLS true\n"},
    {"user-missing", "User", "Host \"127.0.0.1\"\n Password \"BadCfg-Pw-1\"\n"},
    {"user-empty", "User",
     "Host \"127.0.0.1\"\n User \"\"\n Password \"BadCfg-Pw-1\"\n"},
    {"user-absurd-length", "User",
     "Host \"127.0.0.1\"\n User \"%s\"\n Password \"BadCfg-Pw-1\"\n"},
    {"user-boolean", "User",
     "Host \"127.0.0.1\"\n User true\n Password \"BadCfg-Pw-1\"\n"},
    {"password-missing", "Password", "Host \"127.0.0.1\"\n User \"u\"\n"},
    {"password-empty", "Password", "Host \"127.0.0.1\"\n User \"u\"\n Password \"\"\n"},
    {"password-line-break", "Password",
     "Host \"127.0.0.1\"\n User \"u\"\n Password \"BadCfgLB\nPw-Two2\"\n"},
    {"password-too-long-for-pass", "Password",
     "Host \"127.0.0.1\"\n User \"u\"\n Auth \"user\"\n Password \"%s\"\n"},
    {"password-and-file", "PasswordFile", GOOD_OPTS " PasswordFile \"%s\"\n"},
    {"password-file-missing", "PasswordFile",
     "Host \"127.0.0.1\"\n User \"u\"\n PasswordFile \"%s\"\n"},
    {"password-file-empty", "PasswordFile",
     "Host \"127.0.0.1\"\n User \"u\"\n PasswordFile \"%s\"\n"},
    {"timeout-zero", "Timeout", GOOD_OPTS " Timeout 0\n"},
    {"timeout-negative", "Timeout", GOOD_OPTS " Timeout -5\n"},
    {"timeout-string", "Timeout", GOOD_OPTS " Timeout \"5\"\n"},
    {"timeout-not-below-interval", "Timeout", GOOD_OPTS " Timeout 40\n Interval 40\n"},
    {"interval-too-short", "Interval", GOOD_OPTS " Interval 10\n"},
    {"interval-string", "Interval", GOOD_OPTS " Interval \"30s\"\n"},
    {"cacert-missing-file", "CACert",
     GOOD_OPTS " SSL true\n CACert \"/nonexistent/ca.pem\"\n"},
    {"cacert-directory", "CACert", GOOD_OPTS " SSL true\n CACert \"/tmp\"\n"},
    {"verifypeer-number", "VerifyPeer", GOOD_OPTS " SSL true\n VerifyPeer 0\n"},
    {"description-absurd-length", "Description",
     GOOD_OPTS " Description \"%s\"\n"},
    {"unknown-option", "Hostname", GOOD_OPTS " Hostname \"mail.example.com\"\n"},
    {"good", "name", GOOD_OPTS}, /* a second "good": the name is taken */
    {"", "name", GOOD_OPTS},
    {"slash/name", "name", GOOD_OPTS},
    {" leading-space", "name", GOOD_OPTS},
    {"%s", "name", GOOD_OPTS}, /* an absurdly long name */
};
#define BAD_NUM (sizeof(bad_configs) / sizeof(bad_configs[0]))

/* The string a block's %s stands for. */
static const char *bad_arg(const bad_config_t *b) {
  if (strstr(b->name, "password-file-missing"))
    return missing_file;
  if (strstr(b->name, "password-file-empty"))
    return empty_file;
  if (strstr(b->name, "password-and-file"))
    return password_file;
  if (strstr(b->name, "description"))
    return long_2000;
  if (strcmp(b->name, "%s") == 0)
    return long_name;
  return long_256;
}

/* What an ERROR line must contain to name this block's monitor. */
static void bad_who(const bad_config_t *b, char *buf, size_t size) {
  if (b->name[0] == '\0')
    snprintf(buf, size, "\"\"");
  else if (strcmp(b->name, "%s") == 0)
    snprintf(buf, size, "\"%.40s", long_name);
  else
    snprintf(buf, size, "\"%s\"", b->name);
}

static bool contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay != '\0'; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return true;
  return false;
}

START_TEST(bad_configurations) {
  char dir[512], path[600];
  log_dir_for("bad-config", dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/host.log", dir);
  unlink(path);
  ck_assert_int_eq(ph_set_log_file(path), 0);
  memset(long_256, 'a', 256);
  memcpy(long_256 + 250, ".test", 6);
  memset(long_2000, 'd', 2000);
  memset(long_name, 'n', 200);
  snprintf(empty_file, sizeof(empty_file), "%s/empty.pass", dir);
  fake_write_file(empty_file, "");
  chmod(empty_file, 0600);
  /* the good monitor's password file is readable by others: a warning */
  snprintf(password_file, sizeof(password_file), "%s/good.pass", dir);
  fake_write_file(password_file, healthy_password);
  chmod(password_file, 0644);

  char *text = NULL;
  size_t len = 0;
  FILE *fh = open_memstream(&text, &len);
  fprintf(fh, "<Plugin pop3>\n<Monitor \"good\">\n Host \"127.0.0.1\"\n"
              " Port %d\n User \"bob\"\n PasswordFile \"%s\"\n"
              " Timeout 5\n Spread false\n</Monitor>\n",
          healthy.port, password_file);
  for (size_t i = 0; i < BAD_NUM; i++) {
    const bad_config_t *b = &bad_configs[i];
    fprintf(fh, "<Monitor \"%s\">\n ",
            strcmp(b->name, "%s") == 0 ? long_name : b->name);
    fprintf(fh, b->body, bad_arg(b));
    fprintf(fh, "</Monitor>\n");
  }
  fprintf(fh, "</Plugin>\n");
  fclose(fh);

  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  oconfig_item_t *root;
  const oconfig_item_t *block = parse_plugin_block(text, &root);
  ck_assert_int_eq(block->children_num, (int)BAD_NUM + 1);
  ck_assert_msg(ph_config(block) == 0,
                "one valid monitor: the configuration must be accepted");

  /* every bad block: exactly one ERROR naming the monitor and the option */
  ph_filter_t errors = {.kind = PH_LOG, .severity = LOG_ERR};
  size_t total = ph_count(&errors);
  bool *claimed = calloc(total + 1, sizeof(bool));
  int failures = 0;
  for (size_t i = 0; i < BAD_NUM; i++) {
    const bad_config_t *b = &bad_configs[i];
    char who[64];
    bad_who(b, who, sizeof(who));
    size_t hits = 0;
    ph_event_t e, hit = {0};
    for (size_t k = 1; k <= total && ph_nth(&errors, k, &e); k++) {
      /* the empty name's "" also appears in 'option Host: "" is empty' */
      bool mine = strstr(e.message, who) != NULL &&
                  (b->name[0] != '\0' || strstr(e.message, "Monitor \"\"") ||
                   strstr(e.message, "monitor \"\""));
      if (!mine)
        continue;
      hits++;
      hit = e;
      claimed[k] = true;
    }
    if (hits != 1) {
      fprintf(stderr, "bad config %zu \"%.40s\": %zu ERROR lines naming %s\n",
              i, b->name, hits, who);
      failures++;
      continue;
    }
    if (!contains_nocase(hit.message, b->option)) {
      fprintf(stderr, "bad config \"%.40s\": the ERROR does not name %s: %s\n",
              b->name, b->option, hit.message);
      failures++;
    }
    if (!printable_line(hit.message) || strlen(hit.message) > 600) {
      fprintf(stderr, "bad config \"%.40s\": not one short line: %.200s\n",
              b->name, hit.message);
      failures++;
    }
    if (strstr(hit.message, "BadCfg") != NULL) {
      fprintf(stderr, "bad config \"%.40s\": a password in the log: %s\n",
              b->name, hit.message);
      failures++;
    }
  }
  /* other ERROR lines: at most one summary */
  size_t others = 0;
  ph_event_t e;
  for (size_t k = 1; k <= total && ph_nth(&errors, k, &e); k++)
    if (!claimed[k])
      others++;
  if (others > 1) {
    for (size_t k = 1; k <= total && ph_nth(&errors, k, &e); k++)
      if (!claimed[k])
        fprintf(stderr, "ERROR line of no block: %s\n", e.message);
    failures++;
  }
  free(claimed);
  ck_assert_msg(failures == 0, "%d problem(s) in the bad-configuration table "
                               "(see above)", failures);
  ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                        .severity = LOG_WARNING,
                                        .contains = "\"good\"",
                                        .contains2 = "PasswordFile"}) == 1,
                "no warning about the good monitor's readable PasswordFile");

  /* collectd carries on with the valid monitor */
  ck_assert_int_eq(ph_init(), 0);
  double t0 = ph_now();
  ph_read_all();
  ph_event_t v;
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                       .plugin_instance = "good",
                                       .type = "email_count",
                                       .since = t0},
                        1, 6.0, &v),
                "the good monitor dispatched nothing");
  ck_assert(v.value == 7);
  /* value by value: the good monitor's may still be arriving */
  ph_filter_t any_value = {.kind = PH_VALUE};
  for (size_t k = 1; ph_nth(&any_value, k, &v); k++)
    ck_assert_msg(strcmp(v.plugin_instance, "good") == 0,
                  "a rejected monitor (%s) dispatched values",
                  v.plugin_instance);
  ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION}) == 0,
                "a notification from a rejected monitor");
  ck_assert_int_eq(ph_host_errors(), 0);
  ck_assert_int_eq(ph_shutdown(), 0);
  ph_unload();
  pop3_conffile_free(root);
  free(text);
  fprintf(stderr, "bad configurations: %zu rejected, 1 good one collected\n",
          BAD_NUM);
}
END_TEST

/* A configuration with no valid monitor fails, as collectd must refuse it. */
START_TEST(no_valid_monitor) {
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  oconfig_item_t *root;
  const oconfig_item_t *block = parse_plugin_block(
      "<Plugin pop3>\n<Monitor \"only\">\n Host \"pop3://x\"\n User \"u\"\n"
      " Password \"BadCfg-Pw-1\"\n</Monitor>\n</Plugin>\n",
      &root);
  ck_assert_int_ne(ph_config(block), 0);
  ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                        .severity = LOG_ERR,
                                        .contains = "no valid"}) == 1,
                "no summary line");
  ph_unload();
  pop3_conffile_free(root);
}
END_TEST

/* Weak settings are accepted with one WARNING each, at start-up: a
 * password in clear text to a host that is not loopback (saying how to turn
 * on TLS), TLS verification off. */
START_TEST(weak_settings_warn_once) {
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  oconfig_item_t *root;
  const oconfig_item_t *block = parse_plugin_block(
      "<Plugin pop3>\n"
      "<Monitor \"cleartext\">\n Host \"192.0.2.1\"\n User \"u\"\n"
      " Password \"Weak-Pw-1\"\n</Monitor>\n"
      "<Monitor \"loopback\">\n Host \"127.0.0.1\"\n User \"u\"\n"
      " Password \"Weak-Pw-1\"\n</Monitor>\n"
      "<Monitor \"noverify\">\n Host \"mail.example.com\"\n SSL true\n"
      " VerifyPeer false\n User \"u\"\n Password \"Weak-Pw-1\"\n</Monitor>\n"
      "</Plugin>\n",
      &root);
  ck_assert_int_eq(ph_config(block), 0);
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .severity = LOG_ERR}),
                   0);
  ph_filter_t clear = {.kind = PH_LOG,
                       .severity = LOG_WARNING,
                       .contains = "\"cleartext\"",
                       .contains2 = "clear text"};
  ck_assert_msg(ph_count(&clear) == 1, "no (or more than one) clear-text "
                                       "warning");
  ph_event_t e;
  ck_assert(ph_nth(&clear, 1, &e));
  ck_assert_msg(strstr(e.message, "SSL") != NULL &&
                    strstr(e.message, "StartTLS") != NULL,
                "the warning does not say how to turn on TLS: %s", e.message);
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .severity = LOG_WARNING,
                                           .contains = "\"loopback\""}),
                   0);
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .severity = LOG_WARNING,
                                           .contains = "\"noverify\"",
                                           .contains2 = "VerifyPeer"}),
                   1);
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .contains = "Weak-Pw"}),
                   0);
  ck_assert_int_eq(ph_shutdown(), 0);
  ph_unload();
  pop3_conffile_free(root);
}
END_TEST

/* --- LOGIN-DELAY ---------------------------------------------------------------
 * The server asks for 600 s between logins ([LOGIN-DELAY 600] refusing the
 * login, or LOGIN-DELAY 600 in CAPA, longer than the Interval): the plugin
 * must not log in again before 600 s, and say so once; after them (the
 * host's clock is advanced) it logs in again. */

static void login_delay_case(const char *scenario, bool refused) {
  const char *name = refused ? "login-delay-refused" : "login-delay-capa";
  char dir[512], path[600];
  log_dir_for(name, dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/host.log", dir);
  unlink(path);
  ck_assert_int_eq(ph_set_log_file(path), 0);
  fake_t srv;
  char server[64];
  snprintf(server, sizeof(server), "%s/server", name);
  fake_start(&srv, server, scenario, NULL, "127.0.0.1", 0, fault_password);
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  fault_row_t row = {.name = name, .timeout = 1};
  char *text = row_config(&row, "127.0.0.1", srv.port);
  oconfig_item_t *root;
  ck_assert_int_eq(ph_config(parse_plugin_block(text, &root)), 0);
  ck_assert_int_eq(ph_init(), 0);

  double t0 = ph_now();
  ph_read_all(); /* logs in; the server asks for 600 s between logins */
  ck_assert(fake_wait_log(&srv, " CMD PASS", 1, 2.0));
  if (refused) {
    ph_event_t e;
    ck_assert(ph_wait(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                     .severity = NOTIF_FAILURE,
                                     .plugin_instance = "fault"},
                      1, 1.5, &e));
    ck_assert_msg(strstr(e.message, "[LOGIN-DELAY 600]") != NULL &&
                      strstr(e.message, TEMP_NOTE) != NULL,
                  "LOGIN-DELAY not reported as temporary: %s", e.message);
  } else {
    ck_assert(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                     .plugin_instance = "fault"},
                      1, 1.5, NULL));
  }
  settle(&srv);
  fake_control(&srv, "ok", NULL);
  /* reads within the 600 s: none may log in; one line says why */
  for (int i = 0; i < 3; i++) {
    ph_read_all();
    sleep_for(0.2);
    ph_clock_advance(150); /* 450 s in all: still too soon */
  }
  settle(&srv);
  ck_assert_msg(fake_log_count(&srv, " CMD PASS") == 1,
                "logged in again %d time(s) within LOGIN-DELAY 600",
                fake_log_count(&srv, " CMD PASS") - 1);
  /* (the start-up line listing the capabilities does not count) */
  size_t says = ph_count(&(ph_filter_t){.kind = PH_LOG,
                                        .contains = "monitor \"fault\"",
                                        .contains2 = "LOGIN-DELAY",
                                        .since = t0}) -
                ph_count(&(ph_filter_t){.kind = PH_LOG,
                                        .contains = "capabilities:",
                                        .contains2 = "LOGIN-DELAY",
                                        .since = t0});
  ck_assert_msg(says == (refused ? 2u : 1u),
                "%zu log lines mention LOGIN-DELAY; want %sone saying the "
                "plugin waits",
                says, refused ? "the failure and " : "");
  /* after the delay: a login again, values (and OKAY after a failure) */
  ph_clock_advance(151);
  double t1 = ph_now();
  ph_read_all();
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                       .plugin_instance = "fault",
                                       .type = "email_count",
                                       .since = t1},
                        1, 1.5, NULL),
                "no values once the LOGIN-DELAY passed");
  ck_assert_int_eq(fake_log_count(&srv, " CMD PASS"), 2);
  if (refused)
    ck_assert(ph_wait(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                     .severity = NOTIF_OKAY,
                                     .plugin_instance = "fault"},
                      1, 1.0, NULL));
  assert_no_password();
  ck_assert_int_eq(ph_host_errors(), 0);
  ph_shutdown();
  ph_unload();
  pop3_conffile_free(root);
  free(text);
  fake_stop(&srv);
  ph_set_log_file(NULL);
}

START_TEST(login_delay_response_code_is_honoured) {
  login_delay_case("pass-login-delay", true);
}
END_TEST

START_TEST(login_delay_capability_is_honoured) {
  login_delay_case("ok-login-delay-600", false);
}
END_TEST

/* A LOGIN-DELAY is capped at an hour, and a LOGIN-DELAY read in clear text
 * before TLS silences nothing. */
static void login_delay_bound_case(const char *scenario, bool starttls,
                                   double advance, int logins_before,
                                   int logins_after) {
  char dir[512], path[600], server[64];
  log_dir_for(scenario, dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/host.log", dir);
  unlink(path);
  ck_assert_int_eq(ph_set_log_file(path), 0);
  fake_t srv;
  snprintf(server, sizeof(server), "%s/server", scenario);
  fake_start(&srv, server, scenario, starttls ? "good" : NULL, "127.0.0.1", 0,
             fault_password);
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  fault_row_t row = {.name = scenario,
                     .timeout = 1,
                     .flags = starttls ? F_STARTTLS : 0};
  char *text = row_config(&row, "127.0.0.1", srv.port);
  oconfig_item_t *root;
  ck_assert_int_eq(ph_config(parse_plugin_block(text, &root)), 0);
  ck_assert_int_eq(ph_init(), 0);
  double t0 = ph_now();
  const char *attempt = starttls ? " CMD STLS" : " CMD PASS";
  ph_read_all();
  ck_assert(ph_wait(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                   .severity = NOTIF_FAILURE,
                                   .plugin_instance = "fault"},
                    1, 1.5, NULL));
  settle(&srv);
  ph_clock_advance(advance);
  ph_read_all();
  settle(&srv);
  ck_assert_int_eq(fake_log_count(&srv, attempt), logins_before);
  ph_clock_advance(3601 - advance);
  ph_read_all();
  settle(&srv);
  ck_assert_int_eq(fake_log_count(&srv, attempt), logins_after);
  size_t notices = ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .contains = "monitor \"fault\"",
                                           .contains2 = "between logins",
                                           .since = t0});
  ck_assert_uint_eq(notices, starttls ? 0 : 1);
  if (!starttls)
    ck_assert(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                      .contains = "asks for 3600 s",
                                      .since = t0}) == 1);
  ck_assert_int_eq(ph_host_errors(), 0);
  ph_shutdown();
  ph_unload();
  pop3_conffile_free(root);
  free(text);
  fake_stop(&srv);
  ph_set_log_file(NULL);
}

START_TEST(login_delay_is_capped_at_an_hour) {
  /* 10 s later: still waiting; 3601 s later: a login again */
  login_delay_bound_case("pass-login-delay-huge", false, 10, 1, 2);
}
END_TEST

START_TEST(login_delay_before_tls_is_ignored) {
  /* 10 s later the monitor tries again (STLS), and again after the hour */
  login_delay_bound_case("stls-login-delay", true, 10, 2, 3);
}
END_TEST

/* --- pipelining behind the login --------------------------------------------
 * A server that loses (or garbles) the commands sent with the login: the
 * first collection still succeeds (lock-step, on a fresh connection if need
 * be), one INFO line says so, later collections wait for the login's
 * answer, and an hour later pipelining is tried again without a second
 * line. A server that is only slow to answer STAT keeps the pipelining. */

static size_t pipelining_lines(double since) {
  return ph_count(&(ph_filter_t){.kind = PH_LOG,
                                 .contains = "monitor \"fault\"",
                                 .contains2 = "mishandles STAT",
                                 .since = since});
}

/* One read; its values must come, with no failure. */
static void collect_once(const fake_t *srv, double timeout) {
  double t = ph_now();
  ph_read_all();
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                       .plugin_instance = "fault",
                                       .type = "email_count",
                                       .since = t},
                        1, timeout, NULL),
                "no values from the fault monitor");
  settle(srv);
}

/* The plugin in the host, configured by a row, against one fake server
 * running the row's scenario, with its own log. */
typedef struct {
  fake_t srv;
  oconfig_item_t *root;
  char *text;
} hosted_t;

static void host_row(hosted_t *h, const fault_row_t *row) {
  char dir[512], path[600], server[64];
  log_dir_for(row->name, dir, sizeof(dir));
  snprintf(path, sizeof(path), "%s/host.log", dir);
  unlink(path);
  ck_assert_int_eq(ph_set_log_file(path), 0);
  snprintf(server, sizeof(server), "%s/server", row->name);
  fake_start(&h->srv, server, row->scenario, NULL, "127.0.0.1", 0,
             fault_password);
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  h->text = row_config(row, "127.0.0.1", h->srv.port);
  ck_assert_int_eq(ph_config(parse_plugin_block(h->text, &h->root)), 0);
  ck_assert_int_eq(ph_init(), 0);
}

/* No password anywhere, no error of the host; everything stopped. */
static void unhost_row(hosted_t *h) {
  assert_no_password();
  ck_assert_int_eq(ph_host_errors(), 0);
  ph_shutdown();
  ph_unload();
  pop3_conffile_free(h->root);
  free(h->text);
  fake_stop(&h->srv);
  ph_set_log_file(NULL);
}

static void pipelining_case(const char *scenario, bool mishandled) {
  hosted_t h;
  fault_row_t row = {.name = scenario, .scenario = scenario, .timeout = 3};
  host_row(&h, &row);
  fake_t srv = h.srv;
  double t0 = ph_now();

  collect_once(&srv, 3.5);
  ck_assert_int_eq(fake_log_count(&srv, " LOST "), mishandled ? 1 : 0);
  ck_assert_uint_eq(pipelining_lines(t0), mishandled ? 1 : 0);

  collect_once(&srv, 3.5);
  if (mishandled) { /* lock-step now: nothing comes with the login */
    ck_assert_int_eq(fake_log_count(&srv, " LOST "), 1);
    ck_assert_int_ge(fake_log_count(&srv, " LOCKSTEP "), 1);
  } else { /* still pipelined: STAT came with every login */
    ck_assert_int_eq(fake_log_count(&srv, " WITH-LOGIN "), 2);
    ck_assert_int_eq(fake_log_count(&srv, " LOCKSTEP "), 0);
  }

  ph_clock_advance(3601); /* pipelining is tried again */
  collect_once(&srv, 3.5);
  ck_assert_int_eq(fake_log_count(&srv, " LOST "), mishandled ? 2 : 0);
  ck_assert_uint_eq(pipelining_lines(t0), mishandled ? 1 : 0);

  ck_assert_uint_eq(ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                            .severity = NOTIF_FAILURE,
                                            .since = t0}),
                    0);
  ck_assert_uint_eq(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                            .severity = LOG_ERR,
                                            .since = t0}),
                    0);
  unhost_row(&h);
}

/* Message age from a server whose TOP misbehaves: the values still come
 * every time, within the Timeout, without any age; one WARNING says why,
 * once, and no failure is reported. With a correct server both ages come. */
static void age_case(const char *scenario, const char *why, double timeout) {
  hosted_t h;
  fault_row_t row = {.name = scenario, .scenario = scenario,
                     .timeout = timeout, .flags = F_AGE};
  host_row(&h, &row);
  fake_t srv = h.srv;
  double t0 = ph_now();
  for (int i = 0; i < 2; i++) {
    double t = ph_now();
    collect_once(&srv, timeout + 0.5);
    ck_assert_msg(ph_now() - t < timeout + 0.5, "values after %.2f s",
                  ph_now() - t);
  }
  ph_filter_t ages = {.kind = PH_VALUE, .plugin_instance = "fault",
                      .type = "duration", .type_instance = "oldest_message",
                      .since = t0};
  ph_filter_t warnings = {.kind = PH_LOG, .severity = LOG_WARNING,
                          .contains = "monitor \"fault\"",
                          .contains2 = "message age", .since = t0};
  if (why == NULL) {
    ck_assert_uint_eq(ph_count(&ages), 2);
    ck_assert_uint_eq(ph_count(&warnings), 0);
  } else {
    ck_assert_uint_eq(ph_count(&ages), 0);
    ck_assert_uint_eq(ph_count(&warnings), 1);
    warnings.contains2 = why;
    ck_assert_msg(ph_count(&warnings) == 1, "no WARNING saying \"%s\"", why);
  }
  ck_assert_uint_eq(ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                            .severity = NOTIF_FAILURE,
                                            .since = t0}),
                    0);
  ck_assert(fake_log_count(&srv, " RETR") == 0 &&
            fake_log_count(&srv, " DELE") == 0);
  unhost_row(&h);
}

START_TEST(age_from_a_correct_server) { age_case("ok", NULL, 3); }
END_TEST

START_TEST(age_top_unanswered) { age_case("top-hang", "Timeout", 1.5); }
END_TEST

START_TEST(age_top_refused) { age_case("top-err", "refused TOP 1 0", 3); }
END_TEST

START_TEST(age_header_endless) {
  age_case("top-endless", "longer than 65536 bytes", 3);
}
END_TEST

START_TEST(pipeline_lost_goes_lockstep) {
  pipelining_case("pipeline-lost", true);
}
END_TEST

START_TEST(pipeline_garbled_goes_lockstep) {
  pipelining_case("pipeline-garbled", true);
}
END_TEST

START_TEST(slow_stat_keeps_pipelining) { pipelining_case("stat-slow", false); }
END_TEST

/* --- main -------------------------------------------------------------------- */

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* as collectd does */
  random_password(fault_password, 20, "Fault-");
  random_password(healthy_password, 20, "Healthy-");
  char path[600];
  snprintf(path, sizeof(path), "%s/passwords.secrets", env("FAULT_LOGS"));
  FILE *fh = fopen(path, "a");
  if (fh != NULL) {
    fprintf(fh, "%s\n%s\nBadCfg-Pw-1\nBadCfgLB\nWeak-Pw-1\n", fault_password,
            healthy_password);
    fclose(fh);
  }
  fake_start(&healthy, "healthy", "ok", NULL, "127.0.0.1", 0,
             healthy_password);

  Suite *s = suite_create("faults");
  TCase *api = tcase_create("host");
  tcase_add_test(api, host_exports_the_daemon_api);
  suite_add_tcase(s, api);
  TCase *matrix = tcase_create("matrix");
  tcase_set_timeout(matrix, 40);
  tcase_add_loop_test(matrix, fault_row, 0, (int)ROWS_NUM);
  suite_add_tcase(s, matrix);
  TCase *delay = tcase_create("login-delay");
  tcase_set_timeout(delay, 30);
  tcase_add_test(delay, login_delay_response_code_is_honoured);
  tcase_add_test(delay, login_delay_capability_is_honoured);
  tcase_add_test(delay, login_delay_is_capped_at_an_hour);
  tcase_add_test(delay, login_delay_before_tls_is_ignored);
  suite_add_tcase(s, delay);
  TCase *pipe = tcase_create("pipelining");
  tcase_set_timeout(pipe, 30);
  tcase_add_test(pipe, pipeline_lost_goes_lockstep);
  tcase_add_test(pipe, pipeline_garbled_goes_lockstep);
  tcase_add_test(pipe, slow_stat_keeps_pipelining);
  suite_add_tcase(s, pipe);
  TCase *age = tcase_create("message-age");
  tcase_set_timeout(age, 30);
  tcase_add_test(age, age_from_a_correct_server);
  tcase_add_test(age, age_top_unanswered);
  tcase_add_test(age, age_top_refused);
  tcase_add_test(age, age_header_endless);
  suite_add_tcase(s, age);
  TCase *config = tcase_create("bad-config");
  tcase_set_timeout(config, 30);
  tcase_add_test(config, bad_configurations);
  tcase_add_test(config, no_valid_monitor);
  tcase_add_test(config, weak_settings_warn_once);
  suite_add_tcase(s, config);

  SRunner *sr = srunner_create(s);
  double t0 = ph_now();
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  fake_stop(&healthy);
  fprintf(stderr, "faults: %zu fault rows, %zu bad configurations, %.1f s\n",
          ROWS_NUM, BAD_NUM, ph_now() - t0);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
