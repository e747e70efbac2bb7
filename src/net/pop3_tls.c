/* pop3_tls.c: OpenSSL client contexts, peer and host verification, and
 * handshake failures explained in words an operator can act on. */
#include "pop3_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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
