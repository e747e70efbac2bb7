/* pop3_result.h: what one collection found, handed to whoever asked for it
 * (the plugin, pop3-probe, the tests). Plain data: no sockets, no engine. */
#ifndef POP3_RESULT_H
#define POP3_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "pop3_error.h"
#include "pop3_session.h"

typedef enum {
  POP3_PIPELINE_UNCHANGED = 0,
  POP3_PIPELINE_OFF,
  POP3_PIPELINE_ON,
} pop3_pipeline_change_t;

/* How long a server stays lock-step after it mishandled a pipelined STAT
 * before pipelining is tried again (it may have been upgraded). */
#define POP3_PIPELINE_RETRY_SECONDS 3600.0

typedef struct {
  bool ok;                    /* STAT answered */
  uint64_t message_count;
  uint64_t mailbox_size;      /* octets */
  double response_time;       /* seconds, connect start -> STAT answer */
  pop3_error_t error;         /* when !ok */
  pop3_capabilities_t capabilities;
  char address[64];           /* "[::1]:110" of the peer used, "" if none */
  char tls_version[16];       /* "TLSv1.3", "" without TLS */
  char tls_cipher[64];
  bool tls_resumed;           /* the TLS session was resumed */
  pop3_auth_t auth_used;      /* how the login went */
  bool pipelined;             /* the login commands went out in one burst */
  bool stat_with_login;       /* STAT went in that burst and was answered */
  bool stat_late;             /* ... only after a long silence */
  bool from_cache;            /* remembered capabilities replaced CAPA */
  /* this collection changed how the monitor logs in: STAT no longer goes
   * in the login's burst (the server mishandled it; pipeline_reason says
   * how), or it does again */
  pop3_pipeline_change_t pipeline_change;
  char pipeline_reason[POP3_ERROR_MAX];
  int64_t cert_not_after;     /* server certificate expiry, Unix time; 0 if none */
  /* the message age (CollectMessageAge): what the headers said, and the
   * ages in seconds when the values were handed over (age.dated > 0) */
  bool age_wanted;
  pop3_age_t age;
  double oldest_age, newest_age;
  /* the mail loop (<MailLoop>): the probes found, deleted or not */
  bool loop_wanted;
  pop3_loop_t loop;
  /* seconds spent per phase (resolve ... stat); -1 when not reached */
  double phase_seconds[POP3_PHASE_QUIT + 1];
} pop3_result_t;

#endif
