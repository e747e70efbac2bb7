/* pop3_mailloop.h: the mail loop, collectd's side. Every MailLoop/Interval
 * a monitor submits one probe by SMTP, on a worker thread; each collection
 * reports the probes it found (and deleted). From those this module
 * dispatches the delivery time (duration/mail_loop) and whether the loop
 * is healthy (bool/mail_loop), and notifies FAILURE when a probe is lost
 * or cannot be sent, OKAY when probes arrive in time again. */
#ifndef POP3_MAILLOOP_H
#define POP3_MAILLOOP_H

#include "pop3_monitor.h"
#include "pop3_result.h"

typedef struct pop3_mailloop pop3_mailloop_t;

/* The SMTP worker every loop shares: started at init when a monitor has a
 * loop, stopped (bounded by the longest MailLoop/Timeout) at shutdown,
 * before the loops are freed. */
int pop3_mailloop_start(void);
void pop3_mailloop_stop(void);

/* One monitor's loop; m must outlive it. NULL when out of memory. */
pop3_mailloop_t *pop3_mailloop_new(const pop3_monitor_t *m);
void pop3_mailloop_free(pop3_mailloop_t *l);

/* At each of the monitor's reads: submits a probe when one is due. */
void pop3_mailloop_tick(pop3_mailloop_t *l);

/* After a successful collection (r->ok). */
void pop3_mailloop_result(pop3_mailloop_t *l, const pop3_result_t *r);

#endif
