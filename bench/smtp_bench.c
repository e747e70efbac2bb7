/* smtp_bench.c: submits mail loop probes with pop3_smtp_send
 * (src/net/pop3_smtp.h), one after another, and prints what each cost.
 * Each probe is made as the plugin makes it (pop3_loop_token and
 * pop3_loop_message) and sent as the plugin sends it: STARTTLS, AUTH, the
 * CA verified, a new libcurl handle (and so a full TLS handshake) per send.
 *
 *   smtp_bench [-n N] [-q] HOST PORT USER PASSWORD CAFILE FROM TO
 *     -n N   sends (default 10)
 *     -q     print only the summary line
 *
 * One line per send:  M <i> ok=<0|1> wall=<s>
 * Then:               S n=<N> failed=<k> cpu_s=<user+sys seconds>
 * Exit 1 when any send failed. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "pop3_loop.h"
#include "pop3_smtp.h"

#define MONITOR "bench"

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void) {
  fprintf(stderr, "usage: smtp_bench [-n N] [-q] HOST PORT USER PASSWORD "
                  "CAFILE FROM TO\n");
  exit(2);
}

int main(int argc, char **argv) {
  int sends = 10, opt;
  bool quiet = false;
  while ((opt = getopt(argc, argv, "n:q")) != -1) {
    switch (opt) {
    case 'n': sends = atoi(optarg); break;
    case 'q': quiet = true; break;
    default: usage();
    }
  }
  if (argc - optind != 7 || sends < 1)
    usage();
  char **a = argv + optind;
  pop3_smtp_options_t o = {.host = a[0],
                           .port = atoi(a[1]),
                           .starttls = true,
                           .user = a[2],
                           .password = a[3],
                           .ca_cert = a[4],
                           .verify_peer = true,
                           .verify_host = true,
                           .from = a[5],
                           .to = a[6],
                           .timeout = 20};
  /* the plugin's key: from the monitor's secret */
  pop3_loop_key_t key;
  pop3_loop_key(&key, o.password, MONITOR);
  int failed = 0;
  for (int i = 0; i < sends; i++) {
    char token[POP3_LOOP_TOKEN_MAX], message[4096], err[512] = "";
    double start = mono();
    int64_t sent_ms = wall_ms();
    int len = -1;
    if (pop3_loop_token(&key, MONITOR, sent_ms, token) == 0)
      len = pop3_loop_message(message, sizeof message, o.from, o.to, MONITOR,
                              token, sent_ms);
    int rc = len < 0 ? -1
                     : pop3_smtp_send(&o, message, (size_t)len, err, sizeof err);
    double wall = mono() - start;
    failed += rc != 0;
    if (!quiet)
      printf("M %d ok=%d wall=%.6f\n", i, rc == 0, wall);
    if (rc != 0)
      fprintf(stderr, "smtp_bench: send %d failed: %s\n", i,
              len < 0 ? "the probe could not be made" : err);
  }
  printf("S n=%d failed=%d cpu_s=%.6f\n", sends, failed, cpu_seconds());
  return failed ? 1 : 0;
}
