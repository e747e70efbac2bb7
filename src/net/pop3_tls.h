/* pop3_tls.h: OpenSSL contexts, verification, and the TLS transport: the
 * engine's one way to TLS (it makes no OpenSSL call of its own). */
#ifndef POP3_TLS_H
#define POP3_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "pop3_transport.h"

/* A client context: TLS >= 1.2, the system trust store plus ca_file (may be
 * NULL), chain verification unless verify_peer is false. NULL on failure,
 * with the reason in err. */
SSL_CTX *pop3_tls_context_new(const char *ca_file, bool verify_peer,
                              char *err, size_t err_size);

/* Prepares ssl for host: SNI for DNS names (never for IP literals) and,
 * when verify_host, host-name or IP verification against the certificate's
 * subjectAltName. Returns 0 or -1 with err set. */
int pop3_tls_prepare(SSL *ssl, const char *host, bool verify_host, char *err,
                     size_t err_size);

/* After a handshake made without chain verification (VerifyPeer false),
 * still checks the certificate against host (VerifyHost true). */
int pop3_tls_check_host(SSL *ssl, const char *host, char *err,
                        size_t err_size);

/* Explains a failed handshake: verification result in words (expired,
 * unknown issuer, host-name mismatch, ...) or the OpenSSL error queue. */
void pop3_tls_explain_failure(SSL *ssl, char *err, size_t err_size);

/* --- the TLS transport ---------------------------------------------------- */

typedef struct {
  const char *host; /* SNI and the name verified; must outlive the transport */
  bool verify_peer; /* as ctx was made; false still checks the host name
                     * after the handshake when verify_host is true */
  bool verify_host;
  /* a session to resume (*session may be NULL); at close, the new session
   * replaces it when it can be resumed. Must outlive the transport. */
  SSL_SESSION **session;
} pop3_tls_options_t;

/* Puts TLS on fd, the connected socket t may already carry in clear text
 * (STLS): whatever t held is closed first. The handshake then runs through
 * pop3_transport_handshake(); a host-name check it still owes (VerifyPeer
 * false, VerifyHost true) fails it too. Returns 0, or -1 with t->error set
 * and no transport left in t. */
int pop3_tls_transport_start(pop3_transport_t *t, SSL_CTX *ctx, int fd,
                             const pop3_tls_options_t *opts);

/* What an established TLS transport agreed on. */
typedef struct {
  char version[16];  /* "TLSv1.3" */
  char cipher[64];
  bool resumed;      /* the kept session was resumed */
  int64_t not_after; /* certificate expiry, Unix time; 0 if unknown */
} pop3_tls_info_t;

void pop3_tls_transport_info(const pop3_transport_t *t, pop3_tls_info_t *info);

/* Frees a session kept through pop3_tls_options_t.session (NULL is fine). */
void pop3_tls_session_free(SSL_SESSION *session);

#endif
