/* pop3_smtp.h: one message submitted by SMTP (the mail loop's probes), with
 * libcurl: STARTTLS or implicit TLS, AUTH, certificate and host name
 * verification. A send blocks, so the plugin runs sends on a worker thread
 * of their own (pop3_smtp_worker_*), never on collectd's read threads nor
 * on the engine. No collectd. */
#ifndef POP3_SMTP_H
#define POP3_SMTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  const char *host; /* a name or an IP literal (IPv6 without brackets) */
  int port;
  bool ssl;      /* implicit TLS (smtps://, port 465) */
  bool starttls; /* STARTTLS required (CURLUSESSL_ALL); never clear text */
  const char *user, *password; /* NULL user: no AUTH */
  const char *ca_cert;         /* extra trust anchors (PEM file), may be NULL */
  bool verify_peer, verify_host;
  const char *from, *to; /* envelope addresses */
  double timeout;        /* seconds for the whole send */
} pop3_smtp_options_t;

/* Sends the message (CRLF text, without dot-stuffing: libcurl does it).
 * Blocking, bounded by timeout. 0, or -1 with one printable line in err:
 * "smtp: PHASE: cause", PHASE one of setup, resolve, connect, tls, auth,
 * send; the server's last answer is quoted when it explains the failure.
 * Never the password. AUTH (PLAIN or LOGIN) is refused without TLS (ssl
 * or starttls): the password would cross the network in clear. When a
 * user is set but the server offers no AUTH, the message goes without it.
 * Thread-safe: each call has its own handle. */
int pop3_smtp_send(const pop3_smtp_options_t *o, const char *message,
                   size_t len, char *err, size_t err_size);

/* --- a worker thread ------------------------------------------------------
 * Runs sends one after another, in the order submitted, so the caller
 * (collectd's read callback) never blocks. */

typedef struct pop3_smtp_worker pop3_smtp_worker_t;

/* Called once per job, always on the worker thread, also for jobs dropped
 * at shutdown; err is "" when status is 0 and valid only during the call.
 * It must not call pop3_smtp_worker_free(). */
typedef void (*pop3_smtp_done_cb)(void *arg, int status, const char *err);

/* Starts the thread (signals blocked in it: they belong to collectd's main
 * thread). Also initialises libcurl once per process. NULL with err set
 * when it cannot. */
pop3_smtp_worker_t *pop3_smtp_worker_new(char *err, size_t err_size);

/* Queues one send. The options' strings and the message are copied, so the
 * caller may free them at once. 0, or -1 when the queue holds
 * POP3_SMTP_QUEUE_MAX jobs, memory runs out or the worker is stopping (done
 * is then not called). */
#define POP3_SMTP_QUEUE_MAX 256
int pop3_smtp_worker_submit(pop3_smtp_worker_t *w, const pop3_smtp_options_t *o,
                            const char *message, size_t len,
                            pop3_smtp_done_cb done, void *arg);

/* Stops: the send under way is allowed to finish (bounded by its timeout),
 * jobs not started get done(arg, -1, "smtp: not sent: shutting down");
 * joins the thread, cleanses the copies of passwords and frees. NULL is a
 * no-op. */
void pop3_smtp_worker_free(pop3_smtp_worker_t *w);

#endif
