/* pop3_monitor.h: one validated <Monitor> block. Plain data, no collectd. */
#ifndef POP3_MONITOR_H
#define POP3_MONITOR_H

#include <stdbool.h>

#include "pop3_loop.h"
#include "pop3_session.h" /* pop3_auth_t */

#define POP3_DEFAULT_PORT 110
#define POP3S_DEFAULT_PORT 995
#define POP3_DEFAULT_TIMEOUT 5.0
#define POP3_DEFAULT_INTERVAL 30.0
#define POP3_MIN_INTERVAL 30.0 /* the shortest Interval accepted */

#define POP3_LOOP_DEFAULT_INTERVAL 300.0
#define POP3_LOOP_DEFAULT_LOST_AFTER 900.0
#define POP3_LOOP_DEFAULT_TIMEOUT 20.0
#define POP3_LOOP_DEFAULT_SEARCH 10
#define SMTP_SUBMISSION_PORT 587
#define SMTPS_PORT 465

/* A <MailLoop> block: where and how probes are submitted. */
typedef struct {
  char *host;
  int port;
  bool ssl;           /* implicit TLS */
  bool starttls;      /* STARTTLS required (the default without SSL) */
  char *user;         /* NULL: no AUTH */
  char *password;
  char *ca_cert;
  bool verify_peer;
  bool verify_host;
  char *from, *to;    /* envelope and header addresses */
  double interval;    /* seconds between two probes */
  double lost_after;  /* a probe not seen within this is lost */
  double timeout;     /* for one SMTP submission */
  unsigned search;    /* the last messages searched for probes */
  pop3_loop_key_t key; /* signs this monitor's probes */
} pop3_loop_config_t;

typedef struct {
  char *name;        /* unique; the plugin instance */
  char *description; /* free text, may be NULL */
  char *host;        /* IPv4, IPv6 or DNS name */
  int port;
  bool ssl;          /* implicit TLS */
  bool starttls;     /* STLS, fail closed */
  char *user;
  char *password;    /* from Password or the first line of PasswordFile;
                      * NULL with Auth xoauth2 / oauthbearer */
  pop3_auth_t auth;  /* Auth; POP3_AUTH_AUTO by default */
  /* where the bearer token comes from (Auth xoauth2 / oauthbearer), read
   * anew at every collection with pop3_token_get(): exactly one is set */
  char *token_file;     /* TokenFile */
  char **token_command; /* TokenCommand: argv, NULL-terminated */
  double timeout;    /* seconds, whole collection */
  double interval;   /* seconds */
  bool detect;       /* probe at start-up, skip the monitor if it fails */
  bool spread;       /* start at the monitor's own offset in its interval
                      * (pop3_engine_offset), not at collectd's tick */
  char *ca_cert;     /* extra trust anchors, may be NULL */
  bool verify_peer;
  bool verify_host;
  /* what is dispatched besides email_count, mailbox_size, response_time */
  bool collect_timings;     /* duration/<phase> */
  bool collect_certificate; /* timeleft/certificate */
  bool collect_availability; /* bool/available */
  bool collect_age; /* duration/oldest_message, duration/newest_message */
  unsigned age_scan;        /* messages read at each end for the age */
  pop3_loop_config_t *loop; /* <MailLoop>, or NULL */
} pop3_monitor_t;

/* Frees the strings (the password is cleansed first) and the monitor. */
void pop3_monitor_free(pop3_monitor_t *m);
void pop3_loop_config_free(pop3_loop_config_t *l);

/* Whether the login uses a bearer token (TokenFile / TokenCommand). */
static inline bool pop3_monitor_uses_token(const pop3_monitor_t *m) {
  return pop3_auth_uses_token(m->auth);
}

/* Whether collections use TLS at all. */
static inline bool pop3_monitor_uses_tls(const pop3_monitor_t *m) {
  return m->ssl || m->starttls;
}

#endif
