/* soak.c: many collections through the plugin host, for valgrind memcheck
 * (tests/host/run-soak.sh). Five monitors against five fake_pop3.py servers:
 *   ok        plain, succeeds
 *   tls       implicit TLS with the test CA, succeeds (sessions resumed)
 *   password  a wrong password: -ERR [AUTH]
 *   garbage   a binary greeting
 *   drop      the server closes on PASS
 * Each round reads every monitor once and waits (bounded) until every
 * server has seen its collection end; SOAK_ROUNDS rounds (default 300, so
 * 1500 collections). Then shutdown: valgrind reports what was left.
 * Environment: SOAK_PLUGIN, SOAK_SERVER, SOAK_CERTS, SOAK_LOGS. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "plugin_host.h"
#include "pop3_conffile.h"

#define NOTIF_FAILURE 1

static const char *env(const char *key) {
  const char *v = getenv(key);
  if (v == NULL || v[0] == '\0') {
    fprintf(stderr, "soak: environment lacks %s (run tests/host/run-soak.sh)\n",
            key);
    exit(2);
  }
  return v;
}

static void fail(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  fprintf(stderr, "soak: FAIL: ");
  vfprintf(stderr, format, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void sleep_for(double seconds) {
  struct timespec ts = {(time_t)seconds,
                        (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

typedef struct {
  const char *monitor;
  const char *scenario;
  bool tls;
  bool succeeds;
  pid_t pid;
  int port;
  char log[512];
  int closed; /* connections the server saw end */
} server_t;

static server_t servers[] = {
    {"ok", "ok", false, true, 0, 0, "", 0},
    {"tls", "ok-tls", true, true, 0, 0, "", 0},
    {"password", "ok", false, false, 0, 0, "", 0},
    {"garbage", "greeting-garbage", false, false, 0, 0, "", 0},
    {"drop", "drop-after-pass", false, false, 0, 0, "", 0},
};
#define SERVERS_NUM (sizeof(servers) / sizeof(servers[0]))

static const char *server_password = "Soak-Server-Pw-5e1";
static const char *wrong_password = "Soak-Wrong-Pw-77c";

static void start(server_t *s) {
  char port_file[500], cert[512], key[512];
  snprintf(port_file, sizeof(port_file), "%s/%s.port", env("SOAK_LOGS"),
           s->monitor);
  snprintf(s->log, sizeof(s->log), "%s.log", port_file);
  snprintf(cert, sizeof(cert), "%s/good.pem", env("SOAK_CERTS"));
  snprintf(key, sizeof(key), "%s/good.key", env("SOAK_CERTS"));
  unlink(port_file);
  fflush(NULL);
  s->pid = fork();
  if (s->pid < 0)
    fail("fork: %s", strerror(errno));
  if (s->pid == 0) {
    for (int fd = 3; fd < 1024; fd++)
      close(fd);
    execl("/usr/bin/python3", "python3", env("SOAK_SERVER"), "--scenario",
          s->scenario, "--port-file", port_file, "--password",
          server_password, "--cert", cert, "--key", key, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 400; i++) {
    FILE *fh = fopen(port_file, "r");
    if (fh != NULL) {
      int n = fscanf(fh, "%d", &s->port);
      fclose(fh);
      if (n == 1 && s->port > 0)
        return;
    }
    sleep_for(0.025);
  }
  fail("fake server %s did not start", s->scenario);
}

static void stop(server_t *s) {
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 100 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
    sleep_for(0.02);
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

static int count_lines(const char *path, const char *needle) {
  FILE *fh = fopen(path, "r");
  if (fh == NULL)
    return 0;
  char line[1024];
  int n = 0;
  while (fgets(line, sizeof(line), fh) != NULL)
    n += strstr(line, needle) != NULL;
  fclose(fh);
  return n;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  int rounds = getenv("SOAK_ROUNDS") ? atoi(getenv("SOAK_ROUNDS")) : 300;
  char path[600];
  snprintf(path, sizeof(path), "%s/passwords.secrets", env("SOAK_LOGS"));
  FILE *fh = fopen(path, "w");
  if (fh != NULL) {
    fprintf(fh, "%s\n%s\n", server_password, wrong_password);
    fclose(fh);
  }
  snprintf(path, sizeof(path), "%s/host.log", env("SOAK_LOGS"));
  unlink(path);
  ph_set_log_file(path);
  for (size_t i = 0; i < SERVERS_NUM; i++)
    start(&servers[i]);

  char *text = NULL;
  size_t len = 0;
  FILE *conf = open_memstream(&text, &len);
  fprintf(conf, "<Plugin pop3>\n");
  for (size_t i = 0; i < SERVERS_NUM; i++) {
    server_t *s = &servers[i];
    fprintf(conf,
            "<Monitor \"%s\">\n Spread false\n Host \"%s\"\n Port %d\n"
            " User \"soak\"\n Password \"%s\"\n Timeout 10\n",
            s->monitor, s->tls ? "localhost" : "127.0.0.1", s->port,
            strcmp(s->monitor, "password") == 0 ? wrong_password
                                                : server_password);
    if (s->tls)
      fprintf(conf, " SSL true\n CACert \"%s/ca.pem\"\n", env("SOAK_CERTS"));
    fprintf(conf, "</Monitor>\n");
  }
  fprintf(conf, "</Plugin>\n");
  fclose(conf);

  int fds0 = ph_fd_count(), threads0 = ph_thread_count();
  double t0 = ph_now();
  if (ph_load(env("SOAK_PLUGIN")) != 0)
    fail("cannot load the plugin");
  char err[512];
  oconfig_item_t *root =
      pop3_conffile_parse(text, strlen(text), "soak", err, sizeof(err));
  if (root == NULL)
    fail("configuration: %s", err);
  if (ph_config(pop3_conffile_find(root, "Plugin", "pop3")) != 0 ||
      ph_init() != 0)
    fail("configuration or init failed");

  int collections = 0, skipped_reads = 0;
  for (int round = 1; round <= rounds; round++) {
    ph_read_all();
    /* every server sees this round's collection end (bounded) */
    double deadline = ph_now() + 30;
    for (size_t i = 0; i < SERVERS_NUM; i++) {
      server_t *s = &servers[i];
      int want = s->closed + 1;
      double retry = ph_now() + 2;
      while ((s->closed = count_lines(s->log, " CLOSE ")) < want) {
        if (ph_now() > deadline)
          fail("round %d: monitor %s: the collection did not end", round,
               s->monitor);
        if (ph_now() > retry && count_lines(s->log, " CONNECT ") < want) {
          /* the read came while the previous collection was finishing */
          char name[64];
          snprintf(name, sizeof(name), "pop3/%s", s->monitor);
          ph_read(name);
          skipped_reads++;
          retry = ph_now() + 2;
        }
        sleep_for(0.002);
      }
    }
    collections += (int)SERVERS_NUM;
    sleep_for(0.005);
    if (round % 50 == 0)
      fprintf(stderr, "soak: %d rounds, %d collections, %.1f s\n", round,
              collections, ph_now() - t0);
  }
  /* the last values reach the host before shutdown */
  ph_wait(&(ph_filter_t){.kind = PH_VALUE, .plugin_instance = "tls",
                         .type = "email_count"},
          (size_t)rounds, 10, NULL);

  int failures = 0;
  for (size_t i = 0; i < SERVERS_NUM; i++) {
    server_t *s = &servers[i];
    size_t values = ph_count(&(ph_filter_t){.kind = PH_VALUE,
                                            .plugin_instance = s->monitor,
                                            .type = "email_count"});
    size_t failing = ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                             .severity = NOTIF_FAILURE,
                                             .plugin_instance = s->monitor});
    int connects = count_lines(s->log, " CONNECT ");
    fprintf(stderr, "soak: %-8s %d connections, %zu values, %zu FAILURE\n",
            s->monitor, connects, values, failing);
    if (connects < rounds)
      failures++;
    if (s->succeeds && (values < (size_t)rounds || failing != 0))
      failures++;
    if (!s->succeeds && (values != 0 || failing != 1))
      failures++;
  }
  if (ph_host_errors() != 0)
    failures++;
  if (ph_count(&(ph_filter_t){.kind = PH_LOG, .contains = "Soak-"}) != 0)
    fail("a password reached the log");
  if (failures != 0)
    fail("%d expectation(s) not met (see above)", failures);

  if (ph_shutdown() != 0)
    fail("shutdown failed");
  ph_unload();
  pop3_conffile_free(root);
  free(text);
  int threads = ph_wait_threads(threads0, 10);
  int fds = ph_wait_fds(fds0, 2);
  for (size_t i = 0; i < SERVERS_NUM; i++)
    stop(&servers[i]);
  if (threads != threads0)
    fail("%d threads after shutdown, %d before", threads, threads0);
  if (fds != fds0) {
    ph_dump_fds();
    fail("%d descriptors after shutdown, %d before", fds, fds0);
  }
  fprintf(stderr,
          "soak: %d collections (%d rounds of ok, tls, wrong password, "
          "garbage, dropped), %d reads repeated, %.1f s\n",
          collections, rounds, skipped_reads, ph_now() - t0);
  ph_set_log_file(NULL);
  return 0;
}
