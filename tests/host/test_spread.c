/* test_spread.c: where in its interval each monitor collects, and the
 * handshake slots of a server, through the plugin host
 * (tests/harness/plugin_host.c) that loads the built pop3.so as collectd
 * would, against tests/harness/fake_pop3.py.
 *
 * Run by `make spread-check`, which sets FAULT_PLUGIN, FAULT_SERVER,
 * FAULT_CERTS and FAULT_LOGS as tests/host/run-faults.sh does.
 *
 * - spread: 50 monitors of one server start at the offsets the documented
 *   formula gives (a hash of name and Host:Port over Interval - Timeout -
 *   1 s, on a 0.25 s grid), which cover that window; Spread false starts at
 *   once. The
 *   Timeout is set high (22 s of 30) so that the window, and the test, is
 *   7 s long; the minimum Interval is 30 s.
 * - slots: POP3_HANDSHAKES_PER_SERVER monitors hold every slot of a server
 *   whose TLS handshake stalls; one more monitor fails within its own
 *   Timeout saying no slot came free, and never connects; a monitor with
 *   a longer Timeout gets a slot when the holders give up.
 * - the end: when the reads go away (collectd -T, shutdown), a monitor
 *   that has not collected yet collects at once, one that has skips the
 *   collection it was waiting for; within the Timeout + 1 s. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"
#include "plugin_host.h"
#include "pop3_conffile.h"
#include "pop3_engine.h" /* POP3_HANDSHAKES_PER_SERVER */

#define NOTIF_FAILURE 1
#define SPREAD_MONITORS 50

static const char *env(const char *key) {
  const char *v = getenv(key);
  if (v == NULL || v[0] == '\0') {
    fprintf(stderr, "test_spread: environment lacks %s (run it through "
                    "`make spread-check`)\n",
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

static char password[32];

/* --- the plugin ----------------------------------------------------------- */

static oconfig_item_t *root;

static void start_plugin(const char *text, const char *log_name) {
  char path[600];
  snprintf(path, sizeof(path), "%s/%s.host.log", env("FAULT_LOGS"), log_name);
  ph_set_log_file(path);
  ck_assert_int_eq(ph_load(env("FAULT_PLUGIN")), 0);
  char err[512];
  root = pop3_conffile_parse(text, strlen(text), "test_spread", err,
                             sizeof(err));
  ck_assert_msg(root != NULL, "configuration: %s", err);
  ck_assert_int_eq(ph_config(pop3_conffile_find(root, "Plugin", "pop3")), 0);
  ck_assert_int_eq(ph_init(), 0);
}

static void stop_plugin(void) {
  ph_shutdown();
  ph_unload();
  pop3_conffile_free(root);
  root = NULL;
}

/* The offset the plugin documents: FNV-1a 64 of name, NUL, host, ":port",
 * through MurmurHash3's finaliser, as a fraction of the room the Timeout
 * leaves (Interval - Timeout - 1 s). Written out again here so that a
 * change of formula, which would move every monitor of every operator,
 * does not go unnoticed. */
static double expected_offset(const char *name, const char *host, int port,
                              double interval, double timeout) {
  char text[256];
  int len = snprintf(text, sizeof(text), "%s%c%s:%d", name, '\0', host, port);
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (int i = 0; i < len; i++) {
    h ^= (unsigned char)text[i];
    h *= UINT64_C(0x100000001b3);
  }
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return (interval - timeout - 1.0) * (double)(h >> 11) * 0x1p-53;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* --- spread ------------------------------------------------------------------ */

START_TEST(spread_over_the_interval) {
  const double interval = 30, timeout = 22, room = interval - timeout - 1;
  fake_t srv;
  fake_start(&srv, "spread", "ok", NULL, "127.0.0.1", 0,
             password);
  char *text = NULL;
  size_t len = 0;
  FILE *fh = open_memstream(&text, &len);
  fprintf(fh, "<Plugin pop3>\n");
  for (int i = 0; i < SPREAD_MONITORS; i++)
    fprintf(fh,
            "<Monitor \"s%02d\">\n Host \"127.0.0.1\"\n Port %d\n"
            " User \"u\"\n Password \"%s\"\n Interval %g\n Timeout %g\n"
            "</Monitor>\n",
            i, srv.port, password, interval, timeout);
  fprintf(fh,
          "<Monitor \"at-once\">\n Host \"127.0.0.1\"\n Port %d\n"
          " User \"u\"\n Password \"%s\"\n Interval %g\n Timeout %g\n"
          " Spread false\n</Monitor>\n</Plugin>\n",
          srv.port, password, interval, timeout);
  fclose(fh);
  start_plugin(text, "spread");
  free(text);

  double t0 = ph_now();
  ph_read_all();
  ph_event_t e;
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                       .plugin_instance = "at-once",
                                       .type = "email_count"},
                        1, 2.0, &e),
                "the Spread false monitor dispatched nothing");
  ck_assert_msg(e.at - t0 < 0.5, "Spread false: value after %.3f s",
                e.at - t0);
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                       .type = "email_count"},
                        SPREAD_MONITORS + 1, room + 2.0, NULL),
                "not every monitor dispatched within %.0f s", room + 2.0);

  /* each at its own offset, rounded up to the engine's 0.25 s start grid
   * (the value comes a few ms after the start) */
  double starts[SPREAD_MONITORS];
  for (int i = 0; i < SPREAD_MONITORS; i++) {
    char name[16];
    snprintf(name, sizeof(name), "s%02d", i);
    ck_assert(ph_nth(&(ph_filter_t){.kind = PH_VALUE, .plugin_instance = name,
                                    .type = "email_count"},
                     1, &e));
    double want =
        expected_offset(name, "127.0.0.1", srv.port, interval, timeout);
    starts[i] = e.at - t0;
    ck_assert_msg(starts[i] >= want - 0.02 && starts[i] <= want + 0.5,
                  "%s: value %.3f s after the read, its offset is %.3f s",
                  name, starts[i], want);
  }
  /* together they cover the window: no long stretch without a start */
  qsort(starts, SPREAD_MONITORS, sizeof(starts[0]), compare_doubles);
  double gap = starts[0];
  for (int i = 1; i < SPREAD_MONITORS; i++)
    gap = fmax(gap, starts[i] - starts[i - 1]);
  gap = fmax(gap, room - starts[SPREAD_MONITORS - 1]);
  fprintf(stderr,
          "spread: %d monitors started %.2f .. %.2f s after the read "
          "(window %.0f s), largest gap %.2f s\n",
          SPREAD_MONITORS, starts[0], starts[SPREAD_MONITORS - 1], room, gap);
  ck_assert_msg(starts[SPREAD_MONITORS - 1] < room + 0.5,
                "a start after the window");
  /* 50 uniform starts in 7 s leave a gap over 1.25 s once in 300 runs (the
   * port, and so the hash, changes each run); the grid adds 0.25 s */
  ck_assert_msg(gap < 1.5, "a gap of %.2f s in the window of %.0f s", gap,
                room);
  ck_assert_int_eq(fake_log_count(&srv, " CONNECT "), SPREAD_MONITORS + 1);
  stop_plugin();
  fake_stop(&srv);
}
END_TEST

/* --- handshake slots ------------------------------------------------------- */

static void tls_monitor(FILE *fh, const char *name, int port, double timeout) {
  fprintf(fh,
          "<Monitor \"%s\">\n Host \"127.0.0.1\"\n Port %d\n SSL true\n"
          " CACert \"%s/ca.pem\"\n User \"u\"\n Password \"%s\"\n"
          " Timeout %g\n Spread false\n</Monitor>\n",
          name, port, env("FAULT_CERTS"), password, timeout);
}

START_TEST(slot_wait_counts_against_the_timeout) {
  const int slots = POP3_HANDSHAKES_PER_SERVER;
  const double hold = 4, late = 2, patient = 6;
  fake_t srv;
  fake_start(&srv, "slots", "tls-stall", NULL, "127.0.0.1", 0,
             password);
  char *text = NULL;
  size_t len = 0;
  FILE *fh = open_memstream(&text, &len);
  fprintf(fh, "<Plugin pop3>\n");
  for (int i = 0; i < slots; i++) {
    char name[16];
    snprintf(name, sizeof(name), "h%02d", i);
    tls_monitor(fh, name, srv.port, hold);
  }
  tls_monitor(fh, "late", srv.port, late);
  tls_monitor(fh, "patient", srv.port, patient);
  fprintf(fh, "</Plugin>\n");
  fclose(fh);
  start_plugin(text, "slots");
  free(text);

  /* the holders first, one after the other, so that they take every slot */
  double t0 = ph_now();
  for (int i = 0; i < slots; i++) {
    char name[32];
    snprintf(name, sizeof(name), "pop3/h%02d", i);
    ck_assert_int_eq(ph_read(name), 0);
  }
  for (double until = ph_now() + 2;
       fake_log_count(&srv, " CONNECT ") < slots && ph_now() < until;)
    sleep_for(0.01);
  ck_assert_int_eq(fake_log_count(&srv, " CONNECT "), slots);
  double t1 = ph_now();
  ck_assert_int_eq(ph_read("pop3/late"), 0);
  ck_assert_int_eq(ph_read("pop3/patient"), 0);

  /* late: one ERROR, within its Timeout, that says why; never connected */
  char needle[128];
  snprintf(needle, sizeof(needle),
           "connect: no handshake slot free within the Timeout (%d "
           "handshakes to 127.0.0.1:%d already in flight)",
           slots, srv.port);
  ph_event_t e;
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_LOG,
                                       .severity = LOG_ERR,
                                       .contains = "\"late\"",
                                       .contains2 = needle},
                        1, late + 1.0, &e),
                "late: no ERROR line with \"%s\"", needle);
  fprintf(stderr, "slots: late failed %.3f s after its read: %s\n",
          e.at - t1, e.message);
  ck_assert_msg(e.at - t1 >= late - 0.05 && e.at - t1 <= late + 0.5,
                "late failed %.3f s after its read; its Timeout is %.1f s",
                e.at - t1, late);
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_NOTIFICATION,
                                           .severity = NOTIF_FAILURE,
                                           .plugin_instance = "late"}),
                   1);
  ck_assert_int_eq(fake_log_count(&srv, " CONNECT "), slots);

  /* the holders give up at their Timeout; patient takes a slot then, its
   * handshake stalls too, and it fails at its own Timeout */
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_LOG,
                                       .severity = LOG_ERR,
                                       .contains = "\"patient\""},
                        1, patient + 1.0 - (ph_now() - t1), &e),
                "patient: no ERROR line");
  fprintf(stderr, "slots: patient failed %.3f s after its read: %s\n",
          e.at - t1, e.message);
  ck_assert_msg(strstr(e.message, "tls: TLS handshake not finished") != NULL,
                "patient: %s", e.message);
  ck_assert_msg(e.at - t1 <= patient + 0.5, "patient failed after %.3f s",
                e.at - t1);
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_LOG,
                                           .severity = LOG_ERR,
                                           .contains = "TLS handshake not "
                                                       "finished"}),
                   slots + 1);
  ck_assert_int_eq(fake_log_count(&srv, " CONNECT "), slots + 1);
  ck_assert(ph_nth(&(ph_filter_t){.kind = PH_LOG,
                                  .severity = LOG_ERR,
                                  .contains = "\"h"},
                   slots, &e));
  fprintf(stderr, "slots: the %d holders had failed %.3f s after the first "
                  "read\n",
          slots, e.at - t0);
  ck_assert_msg(e.at - t0 <= hold + 0.5, "a holder failed after %.3f s",
                e.at - t0);
  stop_plugin();
  fake_stop(&srv);
}
END_TEST

/* --- shutdown ------------------------------------------------------------- */

/* When the reads go away (collectd -T right after its one call; shutdown),
 * a monitor that has not collected yet collects at once; one that has
 * skips the collection it was waiting for, as collectd skips reads not yet
 * due. The end comes within the Timeout + 1 s either way. */
START_TEST(waiting_collections_at_the_end) {
  fake_t srv;
  fake_start(&srv, "end", "ok", NULL, "127.0.0.1", 0,
             password);
  char *text = NULL;
  size_t len = 0;
  FILE *fh = open_memstream(&text, &len);
  fprintf(fh, "<Plugin pop3>\n");
  double latest = 0;
  for (int i = 0; i < 6; i++) {
    char name[16];
    snprintf(name, sizeof(name), i < 5 ? "w%d" : "seen", i);
    fprintf(fh,
            "<Monitor \"%s\">\n Host \"127.0.0.1\"\n Port %d\n"
            " User \"u\"\n Password \"%s\"\n Timeout 2\n</Monitor>\n",
            name, srv.port, password);
    latest = fmax(latest, expected_offset(name, "127.0.0.1", srv.port, 30, 2));
  }
  fprintf(fh, "</Plugin>\n");
  fclose(fh);
  ck_assert_msg(latest > 3, "the offsets are too short to tell (%.1f s)",
                latest);
  start_plugin(text, "end");
  free(text);

  /* "seen" collects once: its offset passes on the plugin's clock */
  double seen = expected_offset("seen", "127.0.0.1", srv.port, 30, 2);
  ck_assert_int_eq(ph_read("pop3/seen"), 0);
  sleep_for(0.1);
  ph_clock_advance(seen + 0.3); /* starts fall on a 0.25 s grid */
  ck_assert_msg(ph_wait(&(ph_filter_t){.kind = PH_VALUE,
                                       .plugin_instance = "seen",
                                       .type = "email_count"},
                        1, 3.0, NULL),
                "seen: no value after its offset (%.1f s)", seen);
  for (double until = ph_now() + 2;
       fake_log_count(&srv, " CLOSE ") < 1 && ph_now() < until;)
    sleep_for(0.01);

  ph_read_all(); /* every monitor now waits for its offset */
  double t0 = ph_now();
  stop_plugin(); /* frees the reads */
  double took = ph_now() - t0;
  size_t values = ph_count(&(ph_filter_t){.kind = PH_VALUE,
                                          .type = "email_count"});
  fprintf(stderr,
          "end: %zu values, %d connections, shutdown in %.3f s (offsets up "
          "to %.1f s)\n",
          values, fake_log_count(&srv, " CONNECT "), took, latest);
  ck_assert_msg(took < 2 + 1, "shutdown took %.3f s", took);
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof(name), "w%d", i);
    ck_assert_msg(ph_count(&(ph_filter_t){.kind = PH_VALUE,
                                          .plugin_instance = name,
                                          .type = "email_count"}) == 1,
                  "%s: no value at the end", name);
  }
  ck_assert_int_eq(ph_count(&(ph_filter_t){.kind = PH_VALUE,
                                           .plugin_instance = "seen",
                                           .type = "email_count"}),
                   1);
  ck_assert_int_eq(fake_log_count(&srv, " CONNECT "), 6);
  fake_stop(&srv);
}
END_TEST

int main(void) {
  snprintf(password, sizeof(password), "Spread-%08lx",
           (unsigned long)(time(NULL) ^ (getpid() << 8)));
  char path[600];
  snprintf(path, sizeof(path), "%s/passwords.secrets", env("FAULT_LOGS"));
  FILE *fh = fopen(path, "w");
  if (fh != NULL) {
    fprintf(fh, "%s\n", password);
    fclose(fh);
  }
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("spread");
  TCase *tc = tcase_create("spread");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, spread_over_the_interval);
  tcase_add_test(tc, slot_wait_counts_against_the_timeout);
  tcase_add_test(tc, waiting_collections_at_the_end);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
