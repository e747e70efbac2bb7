/* pop3_time.h: the one clock of the plugin's deadlines. */
#ifndef POP3_TIME_H
#define POP3_TIME_H

#include <time.h>

/* CLOCK_MONOTONIC in seconds: immune to wall-clock steps. */
static inline double pop3_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
