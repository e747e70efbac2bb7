/* collect_bench.c: drives the plugin's engine (src/net/pop3_engine.h) directly,
 * one collection after another, and prints what each cost.
 *
 *   collect_bench [options] HOST PORT USER PASSWORD
 *     -m first     every collection by a new target (monitor) of the one
 *                  engine: no remembered capabilities, no TLS session, as
 *                  on a fresh engine (the default). The engine itself (epoll,
 *                  c-ares channel) is made once, as in the plugin.
 *     -m resumed   one target for all collections: from the second on,
 *                  cached capabilities and TLS resumption
 *     -n N         collections (default 10)
 *     -s | -S      implicit TLS | StartTLS
 *     -c CAFILE    extra trust anchor (verification stays on)
 *     -t SECONDS   Timeout of each collection (default 5)
 *     -q           print only the summary line
 *
 * One line per collection:
 *   C <i> ok=<0|1> wall=<s> resp=<s> resumed=<0|1> tls=<version>
 *     stat_with_login=<0|1> late=<0|1> phases=<p,...>
 * wall is submit -> result callback (STAT answered; QUIT then completes in
 * the background), resp is the plugin's response_time (connect start ->
 * STAT answer), stat_with_login whether STAT went in the login's burst
 * (late: and was answered only after a silence), phases the seconds per phase (resolve, connect, tls,
 * greeting, auth, stat, quit; -1 = not reached). Then
 *   S n=<N> failed=<k> resumed=<r> cpu_s=<user+sys seconds of the process>
 * Exit 1 when any collection failed. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pop3_engine.h"
#include "pop3_error.h"
#include "pop3_monitor.h"
#include "pop3_result.h"
#include "pop3_time.h"
#include "pop3_tls.h"

typedef struct {
  bool done;
  double at;
  pop3_result_t r;
} sink_t;

static void on_result(const pop3_result_t *r, void *arg) {
  sink_t *s = arg;
  s->at = pop3_now();
  s->r = *r;
  s->done = true;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void) {
  fprintf(stderr, "usage: collect_bench [-m first|resumed] [-n N] [-s|-S] "
                  "[-c CAFILE] [-t SECONDS] [-a SCAN] [-q] HOST PORT USER "
                  "PASSWORD\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *mode = "first", *ca = NULL;
  int rounds = 10, opt, age_scan = 0;
  bool ssl = false, starttls = false, quiet = false;
  double timeout = 5;
  while ((opt = getopt(argc, argv, "m:n:sSc:t:a:q")) != -1) {
    switch (opt) {
    case 'm': mode = optarg; break;
    case 'n': rounds = atoi(optarg); break;
    case 's': ssl = true; break;
    case 'S': starttls = true; break;
    case 'c': ca = optarg; break;
    case 't': timeout = atof(optarg); break;
    case 'a': age_scan = atoi(optarg); break;
    case 'q': quiet = true; break;
    default: usage();
    }
  }
  bool resumed_mode = strcmp(mode, "resumed") == 0;
  if (argc - optind != 4 || rounds < 1 ||
      (!resumed_mode && strcmp(mode, "first") != 0))
    usage();
  signal(SIGPIPE, SIG_IGN); /* as collectd does */

  /* zeroed: options this driver does not set keep their defaults */
  pop3_monitor_t m;
  memset(&m, 0, sizeof m);
  m.name = "bench";
  m.host = argv[optind];
  m.port = atoi(argv[optind + 1]);
  m.user = argv[optind + 2];
  m.password = argv[optind + 3];
  m.ssl = ssl;
  m.starttls = starttls;
  m.timeout = timeout;
  m.interval = POP3_DEFAULT_INTERVAL;
  m.ca_cert = (char *)ca;
  m.verify_peer = true;
  m.verify_host = true;
  m.collect_age = age_scan > 0;
  m.age_scan = (unsigned)age_scan;

  char err[POP3_ERROR_MAX] = "";
  SSL_CTX *ctx = NULL;
  if (ssl || starttls) {
    ctx = pop3_tls_context_new(ca, true, err, sizeof err);
    if (ctx == NULL) {
      fprintf(stderr, "collect_bench: %s\n", err);
      return 1;
    }
  }

  sink_t sink;
  pop3_engine_t *e = NULL;
  pop3_target_t *t = NULL;
  int failed = 0, resumed = 0;
  e = pop3_engine_new(err, sizeof err);
  if (e == NULL) {
    fprintf(stderr, "collect_bench: cannot create the engine: %s\n", err);
    return 1;
  }
  for (int i = 0; i < rounds; i++) {
    if (t == NULL || !resumed_mode) {
      t = pop3_engine_add(e, &m, ctx, on_result, &sink);
      if (t == NULL) {
        fprintf(stderr, "collect_bench: cannot add a target\n");
        return 1;
      }
    }
    memset(&sink, 0, sizeof sink);
    double start = pop3_now();
    if (pop3_engine_submit(e, t, 0) != 0) {
      fprintf(stderr, "collect_bench: submit refused\n");
      return 1;
    }
    /* the engine enforces the Timeout; the extra seconds only guard us */
    pop3_engine_run_until_idle(e, pop3_now() + timeout + 2);
    const pop3_result_t *r = &sink.r;
    bool ok = sink.done && r->ok;
    failed += !ok;
    resumed += ok && r->tls_resumed;
    if (!quiet) {
      printf("C %d ok=%d wall=%.6f resp=%.6f resumed=%d tls=%s "
             "stat_with_login=%d late=%d age=%u phases=",
             i, ok, sink.done ? sink.at - start : -1.0, r->response_time,
             r->tls_resumed, r->tls_version[0] ? r->tls_version : "-",
             r->stat_with_login, r->stat_late, r->age.dated);
      for (int p = 0; p <= POP3_PHASE_QUIT; p++)
        printf("%s%.6f", p ? "," : "", r->phase_seconds[p]);
      printf("\n");
    }
    if (!ok)
      fprintf(stderr, "collect_bench: collection %d failed: %s: %s\n", i,
              pop3_phase_name(r->error.phase),
              sink.done ? r->error.message : "no result");
  }
  printf("S n=%d failed=%d resumed=%d cpu_s=%.6f\n", rounds, failed, resumed,
         cpu_seconds());
  pop3_engine_free(e);
  SSL_CTX_free(ctx);
  return failed ? 1 : 0;
}
