/* pop3_conn.h: one TCP connection, optionally wrapped in TLS, where every
 * operation is bounded by one absolute deadline (CLOCK_MONOTONIC seconds).
 * Errors come back as pop3_error_t. The caller must ignore SIGPIPE for TLS
 * writes (collectd does); plain writes use MSG_NOSIGNAL. */
#ifndef POP3_CONN_H
#define POP3_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "pop3_error.h"

typedef struct {
  int fd;
  SSL *ssl;
  char address[64]; /* "127.0.0.1:110" or "[::1]:110" once connected */
} pop3_conn_t;

double pop3_now(void); /* CLOCK_MONOTONIC, seconds */

void pop3_conn_init(pop3_conn_t *c);

/* Resolves host (without blocking past the deadline) and tries every
 * address, IPv6 and IPv4, until one connects. */
int pop3_conn_connect(pop3_conn_t *c, const char *host, int port,
                      double deadline, pop3_error_t *err);

/* TLS handshake over the connected socket, verifying as configured. */
int pop3_conn_start_tls(pop3_conn_t *c, SSL_CTX *ctx, const char *host,
                        bool verify_peer, bool verify_host, double deadline,
                        pop3_error_t *err);

/* > 0: bytes read; 0: the peer closed; -1: error or deadline (err set,
 * with phase as given). */
ssize_t pop3_conn_read(pop3_conn_t *c, char *buf, size_t size,
                       double deadline, pop3_phase_t phase, pop3_error_t *err);

int pop3_conn_write(pop3_conn_t *c, const char *buf, size_t len,
                    double deadline, pop3_phase_t phase, pop3_error_t *err);

/* Sends close_notify without waiting, closes the socket. Idempotent. */
void pop3_conn_close(pop3_conn_t *c);

#endif
