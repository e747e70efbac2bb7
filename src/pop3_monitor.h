/* pop3_monitor.h: one validated <Monitor> block. Plain data, no collectd. */
#ifndef POP3_MONITOR_H
#define POP3_MONITOR_H

#include <stdbool.h>

#define POP3_DEFAULT_PORT 110
#define POP3S_DEFAULT_PORT 995
#define POP3_DEFAULT_TIMEOUT 5.0
#define POP3_DEFAULT_INTERVAL 30.0
#define POP3_MIN_INTERVAL 30.0 /* the seed's floor */

typedef struct {
  char *name;        /* unique; the plugin instance */
  char *description; /* free text, may be NULL */
  char *host;        /* IPv4, IPv6 or DNS name */
  int port;
  bool ssl;          /* implicit TLS */
  bool starttls;     /* STLS, fail closed */
  char *user;
  char *password;    /* from Password or the first line of PasswordFile */
  double timeout;    /* seconds, whole collection */
  double interval;   /* seconds */
  bool detect;       /* probe at start-up, skip the monitor if it fails */
  char *ca_cert;     /* extra trust anchors, may be NULL */
  bool verify_peer;
  bool verify_host;
} pop3_monitor_t;

/* Frees the strings (the password is cleansed first) and the monitor. */
void pop3_monitor_free(pop3_monitor_t *m);

/* Whether collections use TLS at all. */
static inline bool pop3_monitor_uses_tls(const pop3_monitor_t *m) {
  return m->ssl || m->starttls;
}

#endif
