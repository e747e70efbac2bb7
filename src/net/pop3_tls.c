/* pop3_tls.c: OpenSSL client contexts, peer and host verification,
 * handshake failures explained in words an operator can act on, and the
 * TLS transport (pop3_transport.h) that carries a collection over TLS. */
#include "pop3_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static void openssl_queue_text(const char *prefix, char *err, size_t size) {
  unsigned long code = ERR_get_error();
  char reason[256] = "no further detail from OpenSSL";
  if (code != 0)
    ERR_error_string_n(code, reason, sizeof(reason));
  ERR_clear_error();
  snprintf(err, size, "%s: %s", prefix, reason);
}

SSL_CTX *pop3_tls_context_new(const char *ca_file, bool verify_peer,
                              char *err, size_t err_size) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    openssl_queue_text("cannot create a TLS context", err, err_size);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* A server that drops the connection without close_notify after QUIT is
   * common; treat it as an ordinary end of stream. */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    openssl_queue_text("cannot load the system trust store", err, err_size);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (ca_file != NULL && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "cannot load CACert \"%s\"", ca_file);
    openssl_queue_text(prefix, err, err_size);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_verify(ctx, verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  return ctx;
}

static bool is_ip_literal(const char *host) {
  unsigned char addr[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, addr) == 1 ||
         inet_pton(AF_INET6, host, addr) == 1;
}

int pop3_tls_prepare(SSL *ssl, const char *host, bool verify_host, char *err,
                     size_t err_size) {
  bool ip = is_ip_literal(host);
  /* RFC 6066: SNI carries DNS names only, never IP literals. */
  if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1) {
    openssl_queue_text("cannot set the TLS server name", err, err_size);
    return -1;
  }
  if (!verify_host)
    return 0;
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
  /* RFC 9525: subjectAltName only, wildcards only as a whole label. */
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                             X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
              : X509_VERIFY_PARAM_set1_host(param, host, 0);
  if (ok != 1) {
    openssl_queue_text("cannot set the expected certificate name", err,
                       err_size);
    return -1;
  }
  return 0;
}

int pop3_tls_check_host(SSL *ssl, const char *host, char *err,
                        size_t err_size) {
  X509 *cert = SSL_get0_peer_certificate(ssl);
  if (cert == NULL) {
    snprintf(err, err_size, "the server sent no certificate");
    return -1;
  }
  int ok = is_ip_literal(host)
               ? X509_check_ip_asc(cert, host, 0)
               : X509_check_host(cert, host, 0,
                                 X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                     X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                                 NULL);
  if (ok != 1) {
    snprintf(err, err_size,
             "certificate verification failed: the certificate is not valid "
             "for \"%s\" (host name mismatch)",
             host);
    return -1;
  }
  return 0;
}

/* Plain words for the verification results operators meet in practice. */
static const char *verify_hint(long result) {
  switch (result) {
  case X509_V_ERR_CERT_HAS_EXPIRED:
    return "the certificate has expired";
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return "the certificate is not yet valid";
  case X509_V_ERR_HOSTNAME_MISMATCH:
  case X509_V_ERR_IP_ADDRESS_MISMATCH:
    return "host name mismatch: the certificate is not valid for this Host";
  case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
  case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    return "self-signed certificate: add its CA with CACert";
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
  case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
  case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    return "unknown issuer: the CA is not trusted, add it with CACert";
  default:
    return NULL;
  }
}

void pop3_tls_explain_failure(SSL *ssl, char *err, size_t err_size) {
  long result = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (result != X509_V_OK) {
    const char *hint = verify_hint(result);
    ERR_clear_error();
    snprintf(err, err_size, "certificate verification failed: %s (%s)",
             hint != NULL ? hint : "see OpenSSL's reason",
             X509_verify_cert_error_string(result));
    return;
  }
  unsigned long code = ERR_peek_error();
  const char *hint = "";
  if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
      ERR_GET_REASON(code) == SSL_R_WRONG_VERSION_NUMBER)
    hint = " (the server did not answer with TLS: is this a plain POP3 port? "
           "use StartTLS or SSL false)";
  char prefix[128];
  snprintf(prefix, sizeof(prefix), "TLS handshake failed%s", hint);
  openssl_queue_text(prefix, err, err_size);
}

/* --- the TLS transport ---------------------------------------------------- */

typedef struct {
  SSL *ssl;
  SSL_SESSION **session; /* the caller's slot for resumption */
  const char *host;
  /* the chain was not verified (VerifyPeer false) but the host name must
   * be (VerifyHost true): checked once the handshake is done */
  bool check_host;
} tls_state_t;

static SSL *ssl_of(const pop3_transport_t *t) {
  return ((const tls_state_t *)t->state)->ssl;
}

/* OpenSSL asks for readiness in its own words; which way it waits does not
 * depend on the call (a read may need to write, and the other way round). */
static bool tls_wants(int ssl_error, pop3_io_t *io) {
  if (ssl_error == SSL_ERROR_WANT_READ)
    *io = POP3_IO_WANT_READ;
  else if (ssl_error == SSL_ERROR_WANT_WRITE)
    *io = POP3_IO_WANT_WRITE;
  else
    return false;
  return true;
}

/* The peer ended the stream: close_notify, or a TCP close that OpenSSL
 * reports as a system-call error with nothing queued to explain it. */
static bool tls_peer_closed(int ssl_error) {
  return ssl_error == SSL_ERROR_ZERO_RETURN ||
         (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0);
}

static pop3_io_t tls_handshake_done(pop3_transport_t *t) {
  const tls_state_t *s = t->state;
  if (s->check_host &&
      pop3_tls_check_host(s->ssl, s->host, t->error, sizeof(t->error)) != 0)
    return POP3_IO_ERROR;
  return POP3_IO_DONE;
}

static pop3_io_t tls_handshake(pop3_transport_t *t) {
  SSL *ssl = ssl_of(t);
  ERR_clear_error();
  int rc = SSL_connect(ssl);
  if (rc == 1)
    return tls_handshake_done(t);
  int e = SSL_get_error(ssl, rc);
  pop3_io_t io;
  if (tls_wants(e, &io))
    return io;
  if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
    snprintf(t->error, sizeof(t->error),
             "TLS handshake failed: the server closed the connection (is "
             "this a TLS port?)");
  else
    pop3_tls_explain_failure(ssl, t->error, sizeof(t->error));
  return POP3_IO_ERROR;
}

static pop3_io_t tls_read(pop3_transport_t *t, char *buf, size_t size,
                          size_t *n) {
  SSL *ssl = ssl_of(t);
  ERR_clear_error();
  int rc = SSL_read(ssl, buf, (int)size);
  if (rc > 0) {
    *n = (size_t)rc;
    return POP3_IO_DONE;
  }
  int e = SSL_get_error(ssl, rc);
  pop3_io_t io;
  if (tls_wants(e, &io))
    return io;
  if (tls_peer_closed(e))
    return POP3_IO_CLOSED;
  pop3_tls_explain_failure(NULL, t->error, sizeof(t->error));
  return POP3_IO_ERROR;
}

static pop3_io_t tls_write(pop3_transport_t *t, const char *buf, size_t len,
                           size_t *n) {
  SSL *ssl = ssl_of(t);
  ERR_clear_error();
  int rc = SSL_write(ssl, buf, (int)len);
  if (rc > 0) {
    *n = (size_t)rc;
    return POP3_IO_DONE;
  }
  pop3_io_t io;
  if (tls_wants(SSL_get_error(ssl, rc), &io))
    return io;
  snprintf(t->error, sizeof(t->error), "TLS error");
  return POP3_IO_ERROR;
}

/* The session of a finished handshake replaces the kept one, for the next
 * connection to resume, when the server allows resuming it. */
static void keep_session(tls_state_t *s) {
  if (!SSL_is_init_finished(s->ssl))
    return;
  SSL_SESSION *session = SSL_get1_session(s->ssl);
  if (session == NULL)
    return;
  if (!SSL_SESSION_is_resumable(session)) {
    SSL_SESSION_free(session);
    return;
  }
  SSL_SESSION_free(*s->session);
  *s->session = session;
}

static void tls_close(pop3_transport_t *t) {
  tls_state_t *s = t->state;
  keep_session(s);
  ERR_clear_error();
  SSL_shutdown(s->ssl); /* one try at close_notify, never waited for */
  SSL_free(s->ssl);
  ERR_clear_error();
  free(s);
}

static const pop3_transport_ops_t tls_ops = {
    .handshake = tls_handshake,
    .read = tls_read,
    .write = tls_write,
    .close = tls_close,
};

/* An SSL object for fd, ready to connect to opts->host: 0, or -1 with err
 * set and nothing left allocated. */
static int tls_new_ssl(SSL_CTX *ctx, int fd, const pop3_tls_options_t *opts,
                       SSL **out, char *err, size_t err_size) {
  ERR_clear_error();
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
    pop3_tls_explain_failure(NULL, err, err_size);
    SSL_free(ssl);
    return -1;
  }
  if (pop3_tls_prepare(ssl, opts->host, opts->verify_host, err, err_size) !=
      0) {
    SSL_free(ssl);
    ERR_clear_error();
    return -1;
  }
  if (*opts->session != NULL)
    SSL_set_session(ssl, *opts->session);
  *out = ssl;
  return 0;
}

int pop3_tls_transport_start(pop3_transport_t *t, SSL_CTX *ctx, int fd,
                             const pop3_tls_options_t *opts) {
  pop3_transport_close(t);
  if (ctx == NULL) {
    snprintf(t->error, sizeof(t->error), "no TLS context");
    return -1;
  }
  tls_state_t *s = malloc(sizeof(*s));
  if (s == NULL) {
    snprintf(t->error, sizeof(t->error), "out of memory");
    return -1;
  }
  *s = (tls_state_t){.session = opts->session,
                     .host = opts->host,
                     .check_host = !opts->verify_peer && opts->verify_host};
  if (tls_new_ssl(ctx, fd, opts, &s->ssl, t->error, sizeof(t->error)) != 0) {
    free(s);
    return -1;
  }
  t->ops = &tls_ops;
  t->fd = fd;
  t->state = s;
  return 0;
}

void pop3_tls_transport_info(const pop3_transport_t *t, pop3_tls_info_t *info) {
  SSL *ssl = ssl_of(t);
  *info = (pop3_tls_info_t){.resumed = SSL_session_reused(ssl) == 1};
  snprintf(info->version, sizeof(info->version), "%s", SSL_get_version(ssl));
  snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(ssl));
  X509 *cert = SSL_get0_peer_certificate(ssl);
  struct tm tm;
  if (cert != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
    info->not_after = (int64_t)timegm(&tm);
}

void pop3_tls_session_free(SSL_SESSION *session) { SSL_SESSION_free(session); }
