/* pop3_collect.h: one whole collection, synchronously, bounded by the
 * monitor's Timeout: resolve, connect, TLS, then the protocol session.
 * Independent of collectd, so tests and tools can drive it directly. */
#ifndef POP3_COLLECT_H
#define POP3_COLLECT_H

#include <openssl/ssl.h>

#include "pop3_monitor.h"
#include "pop3_result.h"

/* tls_ctx comes from pop3_tls_context_new() for this monitor's settings; it
 * may be NULL when the monitor uses no TLS. Runs a private engine (see
 * pop3_engine.h) until the collection, QUIT included, is over. The caller
 * must ignore SIGPIPE (collectd does): TLS writes go through write(2). */
void pop3_collect(const pop3_monitor_t *m, SSL_CTX *tls_ctx, pop3_result_t *r);

#endif
