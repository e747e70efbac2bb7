/* pop3_tls.h: OpenSSL contexts and verification, nothing else. */
#ifndef POP3_TLS_H
#define POP3_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

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

#endif
