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
 *     -l MAILDIR   the mail loop on (Search 10, the key from PASSWORD), and
 *                  before each collection one genuine probe written into
 *                  MAILDIR/new (dated by a Received: line, sent 1 s ago,
 *                  owned as MAILDIR/new is); after it, whether the file is
 *                  gone (the server expunges at QUIT)
 *     -L           the mail loop on, nothing written
 *     -M K         memory per monitor and collection instead (see below)
 *
 * One line per collection:
 *   C <i> ok=<0|1> wall=<s> resp=<s> resumed=<0|1> tls=<version>
 *     stat_with_login=<0|1> late=<0|1> phases=<p,...>
 * wall is submit -> result callback (STAT answered; QUIT then completes in
 * the background), resp is the plugin's response_time (connect start ->
 * STAT answer), stat_with_login whether STAT went in the login's burst
 * (late: and was answered only after a silence), phases the seconds per phase (resolve, connect, tls,
 * greeting, auth, stat, quit; -1 = not reached). With the mail loop the
 * line ends with scanned=<headers searched> probes=<own probes found>
 * deleted=<DELE answered> gone=<0|1, -1 without -l>, and before S comes
 *   L rounds=<N> deleted=<rounds with a probe deleted> gone=<probe files gone>
 * Then
 *   S n=<N> failed=<k> resumed=<r> cpu_s=<user+sys seconds> user_s=<...>
 *     sys_s=<...>   (of the whole process)
 * Exit 1 when any collection failed.
 *
 *   collect_bench -M K -s -c CAFILE HOST PORT USER PASSWORD STALL_PORT
 *                 DRIP_PORT
 * measures what monitors and collections hold in memory: malloc's bytes in
 * use (mallinfo2, every arena) and OpenSSL's share of them (counted through
 * CRYPTO_set_mem_functions), per monitor or collection, at each phase: K
 * monitors of HOST:PORT (a real server) added; the same after one
 * collection each (capabilities and TLS session kept); waiting for their
 * start time; then, against fake servers on HOST (tests/harness/
 * fake_pop3.py), POP3_HANDSHAKES_PER_SERVER collections whose TLS handshake
 * stalls (STALL_PORT, tls-stall), as many more waiting for a handshake
 * slot, and K collections past the handshake waiting for a greeting that
 * drips (DRIP_PORT, drip-tls). One line per phase:
 *   M phase=<name> n=<count> bytes=<per item> openssl=<per item>
 * and the engine's own sizes:
 *   M sizes state=<collection state> buffers=<buffers taken with a slot> */
#define _GNU_SOURCE
#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
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

static double user_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

static double sys_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The probe as the MTA would deliver it: a Received: line on top (the
 * delivery's date), written to tmp/ and renamed into new/ (the server never
 * sees half a file). Not inlined: the bench leaves both bench_probe_*
 * functions out of callgrind's count (--toggle-collect). */
static __attribute__((noinline)) int
bench_probe_write(const char *maildir, const pop3_monitor_t *m, int round,
                  char *name, size_t name_size) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t sent_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - 1000;
  char token[POP3_LOOP_TOKEN_MAX], text[4096], date[64], tmp[4096], dst[4096];
  struct tm tm;
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000",
           gmtime_r(&now.tv_sec, &tm));
  int n = snprintf(text, sizeof text, "Received: by bench; %s\r\n", date);
  if (pop3_loop_token(&m->loop->key, m->name, sent_ms, token) != 0 ||
      pop3_loop_message(text + n, sizeof text - (size_t)n, "bench@example.test",
                        "bench@example.test", m->name, token, sent_ms) < 0)
    return -1;
  snprintf(name, name_size, "%lld.M%06ldP%dQ%d.bench", (long long)now.tv_sec,
           now.tv_nsec / 1000, (int)getpid(), round);
  struct stat owner;
  snprintf(dst, sizeof dst, "%s/new", maildir);
  if (stat(dst, &owner) != 0)
    return -1;
  snprintf(tmp, sizeof tmp, "%s/tmp/%s", maildir, name);
  snprintf(dst, sizeof dst, "%s/new/%s", maildir, name);
  FILE *f = fopen(tmp, "w");
  if (f == NULL)
    return -1;
  bool ok = fputs(text, f) >= 0;
  ok = fclose(f) == 0 && ok;
  ok = ok && chown(tmp, owner.st_uid, owner.st_gid) == 0 && rename(tmp, dst) == 0;
  if (!ok)
    unlink(tmp);
  return ok ? 0 : -1;
}

/* Whether the probe file is gone: not in new/, nor in cur/ under its name
 * with the server's ":2,flags" suffix. */
static __attribute__((noinline)) bool bench_probe_gone(const char *maildir,
                                                       const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/new/%s", maildir, name);
  if (access(path, F_OK) == 0)
    return false;
  snprintf(path, sizeof path, "%s/cur", maildir);
  DIR *d = opendir(path);
  if (d == NULL)
    return false;
  size_t len = strlen(name);
  bool gone = true;
  for (struct dirent *e; gone && (e = readdir(d)) != NULL;)
    gone = !(strncmp(e->d_name, name, len) == 0 &&
             (e->d_name[len] == '\0' || e->d_name[len] == ':'));
  closedir(d);
  return gone;
}

/* --- memory (-M) ---------------------------------------------------------- */

/* OpenSSL's bytes in use, as malloc counts them (usable sizes). */
static long long openssl_bytes;

static void *count_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  void *p = malloc(n);
  if (p != NULL)
    openssl_bytes += (long long)malloc_usable_size(p);
  return p;
}

static void *count_realloc(void *old, size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  long long before = old != NULL ? (long long)malloc_usable_size(old) : 0;
  void *p = realloc(old, n);
  if (p != NULL)
    openssl_bytes += (long long)malloc_usable_size(p) - before;
  else if (n == 0)
    openssl_bytes -= before;
  return p;
}

static void count_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  if (p != NULL)
    openssl_bytes -= (long long)malloc_usable_size(p);
  free(p);
}

typedef struct {
  long long heap, openssl;
} mem_t;

static mem_t mem_now(void) {
  struct mallinfo2 mi = mallinfo2();
  return (mem_t){.heap = (long long)mi.uordblks, .openssl = openssl_bytes};
}

static void mem_report(const char *phase, int n, mem_t before, mem_t after) {
  printf("M phase=%s n=%d bytes=%.0f openssl=%.0f\n", phase, n,
         (double)(after.heap - before.heap) / n,
         (double)(after.openssl - before.openssl) / n);
}

static void count_ok(const pop3_result_t *r, void *arg) { *(int *)arg += r->ok; }

static void ignore_result(const pop3_result_t *r, void *arg) {
  (void)r;
  (void)arg;
}

/* Runs the engine for `seconds`, busy or not. */
static void run_for(pop3_engine_t *e, double seconds) {
  double until = pop3_now() + seconds;
  while (pop3_now() < until)
    pop3_engine_run(e, until);
}

static int memory(const pop3_monitor_t *m, SSL_CTX *ctx, int k,
                  int stall_port, int drip_port) {
  char err[POP3_ERROR_MAX] = "";
  pop3_engine_t *e = pop3_engine_new(err, sizeof err);
  if (e == NULL) {
    fprintf(stderr, "collect_bench: cannot create the engine: %s\n", err);
    return 1;
  }
  size_t state, buffers;
  pop3_engine_collection_bytes(&state, &buffers);
  printf("M sizes state=%zu buffers=%zu\n", state, buffers);
  int slots = POP3_HANDSHAKES_PER_SERVER, ok = 0;
  pop3_monitor_t stall = *m, drip = *m;
  stall.name = "stall";
  stall.port = stall_port;
  stall.timeout = 20;
  drip.name = "drip";
  drip.port = drip_port;
  drip.timeout = 20;
  pop3_target_t **t = calloc((size_t)(2 * k + 2 * slots), sizeof(*t));
  pop3_target_t **s = t + k, **d = t + k + 2 * slots;

  /* K monitors of the real server: added; after a collection each */
  mem_t m0 = mem_now();
  for (int i = 0; i < k; i++)
    t[i] = pop3_engine_add(e, m, ctx, count_ok, &ok);
  mem_t m1 = mem_now();
  mem_report("idle_new", k, m0, m1);
  for (int i = 0; i < k; i++)
    pop3_engine_submit(e, t[i], 0);
  pop3_engine_run_until_idle(e, pop3_now() + m->timeout + 5);
  mem_t m2 = mem_now();
  mem_report("idle_kept", k, m1, m2);
  /* waiting for their start time */
  for (int i = 0; i < k; i++)
    pop3_engine_submit(e, t[i], 60);
  run_for(e, 0.1);
  mem_t m3 = mem_now();
  mem_report("queued", k, m2, m3);

  /* every handshake slot of a stalling server taken, then as many
   * collections again waiting for one */
  for (int i = 0; i < 2 * slots; i++)
    s[i] = pop3_engine_add(e, &stall, ctx, ignore_result, NULL);
  for (int i = 0; i < k; i++)
    d[i] = pop3_engine_add(e, &drip, ctx, ignore_result, NULL);
  mem_t m4 = mem_now();
  for (int i = 0; i < slots; i++)
    pop3_engine_submit(e, s[i], 0);
  run_for(e, 0.5);
  mem_t m5 = mem_now();
  mem_report("handshake", slots, m4, m5);
  for (int i = slots; i < 2 * slots; i++)
    pop3_engine_submit(e, s[i], 0);
  run_for(e, 0.3);
  mem_t m6 = mem_now();
  mem_report("slot_wait", slots, m5, m6);
  /* past the handshake, the greeting dripping a byte every 100 ms */
  for (int i = 0; i < k; i++)
    pop3_engine_submit(e, d[i], 0);
  run_for(e, 1.0);
  mem_t m7 = mem_now();
  mem_report("session", k, m6, m7);

  pop3_engine_free(e);
  free(t);
  if (ok != k)
    fprintf(stderr, "collect_bench: %d of %d collections succeeded\n", ok,
            k);
  return ok == k ? 0 : 1;
}

static void usage(void) {
  fprintf(stderr, "usage: collect_bench [-m first|resumed] [-n N] [-s|-S] "
                  "[-c CAFILE] [-t SECONDS] [-a SCAN] [-l MAILDIR | -L] [-q] "
                  "HOST PORT USER PASSWORD\n"
                  "       collect_bench -M K -s -c CAFILE HOST PORT USER "
                  "PASSWORD STALL_PORT DRIP_PORT\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *mode = "first", *ca = NULL;
  int rounds = 10, opt, age_scan = 0, mem_k = 0;
  bool ssl = false, starttls = false, quiet = false, loop = false;
  const char *maildir = NULL;
  double timeout = 5;
  while ((opt = getopt(argc, argv, "m:n:sSc:t:a:ql:LM:")) != -1) {
    switch (opt) {
    case 'm': mode = optarg; break;
    case 'n': rounds = atoi(optarg); break;
    case 's': ssl = true; break;
    case 'S': starttls = true; break;
    case 'c': ca = optarg; break;
    case 't': timeout = atof(optarg); break;
    case 'a': age_scan = atoi(optarg); break;
    case 'q': quiet = true; break;
    case 'M': mem_k = atoi(optarg); break;
    case 'l': maildir = optarg; loop = true; break;
    case 'L': loop = true; break;
    default: usage();
    }
  }
  bool resumed_mode = strcmp(mode, "resumed") == 0;
  if (argc - optind != (mem_k > 0 ? 6 : 4) || rounds < 1 ||
      (!resumed_mode && strcmp(mode, "first") != 0))
    usage();
  signal(SIGPIPE, SIG_IGN); /* as collectd does */
  /* before OpenSSL allocates anything */
  if (mem_k > 0 &&
      !CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
    fprintf(stderr, "collect_bench: cannot count OpenSSL's memory\n");
    return 1;
  }

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
  /* the engine reads only search and key of a <MailLoop> */
  pop3_loop_config_t loop_config = {.search = POP3_LOOP_DEFAULT_SEARCH};
  if (loop) {
    pop3_loop_key(&loop_config.key, m.password, m.name);
    m.loop = &loop_config;
  }

  char err[POP3_ERROR_MAX] = "";
  SSL_CTX *ctx = NULL;
  if (ssl || starttls) {
    ctx = pop3_tls_context_new(ca, true, err, sizeof err);
    if (ctx == NULL) {
      fprintf(stderr, "collect_bench: %s\n", err);
      return 1;
    }
  }

  if (mem_k > 0) {
    int rc = memory(&m, ctx, mem_k, atoi(argv[optind + 4]),
                    atoi(argv[optind + 5]));
    SSL_CTX_free(ctx);
    return rc;
  }

  sink_t sink;
  pop3_engine_t *e = NULL;
  pop3_target_t *t = NULL;
  int failed = 0, resumed = 0, probes_deleted = 0, probes_gone = 0;
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
    char probe[256] = "";
    if (maildir != NULL && bench_probe_write(maildir, &m, i, probe, sizeof probe) != 0) {
      fprintf(stderr, "collect_bench: cannot write a probe into %s/new\n", maildir);
      return 1;
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
    unsigned deleted = 0;
    int gone = -1;
    if (loop) {
      for (unsigned k = 0; k < r->loop.found_len; k++)
        deleted += r->loop.found[k].deleted;
      if (probe[0])
        gone = bench_probe_gone(maildir, probe);
      probes_deleted += deleted > 0;
      probes_gone += gone == 1;
      if (r->loop.problem[0])
        fprintf(stderr, "collect_bench: collection %d: mail loop: %s\n", i,
                r->loop.problem);
    }
    if (!quiet) {
      printf("C %d ok=%d wall=%.6f resp=%.6f resumed=%d tls=%s "
             "stat_with_login=%d late=%d age=%u phases=",
             i, ok, sink.done ? sink.at - start : -1.0, r->response_time,
             r->tls_resumed, r->tls_version[0] ? r->tls_version : "-",
             r->stat_with_login, r->stat_late, r->age.dated);
      for (int p = 0; p <= POP3_PHASE_QUIT; p++)
        printf("%s%.6f", p ? "," : "", r->phase_seconds[p]);
      if (loop)
        printf(" scanned=%u probes=%u deleted=%u gone=%d", r->loop.scanned,
               r->loop.found_len, deleted, gone);
      printf("\n");
    }
    if (!ok)
      fprintf(stderr, "collect_bench: collection %d failed: %s: %s\n", i,
              pop3_phase_name(r->error.phase),
              sink.done ? r->error.message : "no result");
  }
  if (loop)
    printf("L rounds=%d deleted=%d gone=%d\n", rounds, probes_deleted,
           probes_gone);
  double user = user_seconds(), sys = sys_seconds();
  printf("S n=%d failed=%d resumed=%d cpu_s=%.6f user_s=%.6f sys_s=%.6f\n",
         rounds, failed, resumed, user + sys, user, sys);
  pop3_engine_free(e);
  SSL_CTX_free(ctx);
  return failed ? 1 : 0;
}
