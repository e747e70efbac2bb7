/* pop3_collect.c: drives one protocol session over one connection. */
#include "pop3_collect.h"

#include <stdio.h>
#include <string.h>

#include "pop3_conn.h"

typedef struct {
  const pop3_monitor_t *monitor;
  SSL_CTX *tls_ctx;
  pop3_conn_t conn;
  pop3_session_t session;
  double deadline;
  /* bytes received but not yet fed to the session */
  char input[4096];
  size_t input_len;
  size_t input_pos;
} collection_t;

static int start_tls(collection_t *c, pop3_error_t *err) {
  const pop3_monitor_t *m = c->monitor;
  if (c->tls_ctx == NULL) {
    pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TLS, "no TLS context");
    return -1;
  }
  return pop3_conn_start_tls(&c->conn, c->tls_ctx, m->host, m->verify_peer,
                             m->verify_host, c->deadline, err);
}

static int send_output(collection_t *c, pop3_error_t *err) {
  size_t len = 0;
  const char *out = pop3_session_output(&c->session, &len);
  int rc = pop3_conn_write(&c->conn, out, len, c->deadline,
                           pop3_session_phase(&c->session), err);
  /* marks the bytes consumed and cleanses them, sent or not */
  pop3_session_output_sent(&c->session, len);
  return rc;
}

/* Feeds buffered input, or reads more when the buffer is empty. */
static int receive(collection_t *c, pop3_error_t *err) {
  if (c->input_pos < c->input_len) {
    c->input_pos += pop3_session_feed(&c->session, c->input + c->input_pos,
                                      c->input_len - c->input_pos);
    return 0;
  }
  ssize_t n = pop3_conn_read(&c->conn, c->input, sizeof(c->input), c->deadline,
                             pop3_session_phase(&c->session), err);
  if (n < 0)
    return -1;
  if (n == 0) {
    pop3_session_eof(&c->session);
    return 0;
  }
  c->input_len = (size_t)n;
  c->input_pos = 0;
  return 0;
}

/* A server that says nothing at all on a plain connection is most often an
 * implicit-TLS port waiting for our handshake: say so. */
static void explain_silence(const collection_t *c, pop3_error_t *err) {
  if (err->failure != POP3_FAIL_TIMEOUT || c->monitor->ssl ||
      c->session.state != POP3_STATE_GREETING || c->session.line_len != 0)
    return;
  pop3_error_set(err, POP3_PHASE_GREETING, POP3_FAIL_TIMEOUT,
                 "no greeting from the server within the Timeout (if this "
                 "is an implicit-TLS port such as 995, set SSL true)");
}

static void run_session(collection_t *c, double start, pop3_result_t *r) {
  pop3_error_t err;
  bool stat_seen = false;
  for (;;) {
    int rc = 0;
    switch (pop3_session_want(&c->session)) {
    case POP3_WANT_WRITE:
      rc = send_output(c, &err);
      break;
    case POP3_WANT_TLS:
      c->input_len = c->input_pos = 0; /* never carried across the upgrade */
      rc = start_tls(c, &err);
      if (rc == 0)
        pop3_session_tls_started(&c->session);
      break;
    case POP3_WANT_READ:
      rc = receive(c, &err);
      break;
    case POP3_WANT_NOTHING:
      return;
    }
    if (!stat_seen && pop3_session_stat(&c->session, &r->message_count,
                                        &r->mailbox_size)) {
      stat_seen = true;
      r->ok = true;
      r->response_time = pop3_now() - start;
    }
    if (rc != 0) {
      /* A failed QUIT does not spoil a collection that has its numbers. */
      if (!stat_seen) {
        explain_silence(c, &err);
        pop3_session_fail(&c->session, &err);
      }
      return;
    }
  }
}

static void record_tls(const pop3_conn_t *conn, pop3_result_t *r) {
  if (conn->ssl == NULL)
    return;
  snprintf(r->tls_version, sizeof(r->tls_version), "%s",
           SSL_get_version(conn->ssl));
  snprintf(r->tls_cipher, sizeof(r->tls_cipher), "%s",
           SSL_get_cipher_name(conn->ssl));
}

void pop3_collect(const pop3_monitor_t *m, SSL_CTX *tls_ctx, pop3_result_t *r) {
  memset(r, 0, sizeof(*r));
  /* big buffers; static storage would not be thread-safe */
  collection_t c = {.monitor = m, .tls_ctx = tls_ctx};
  pop3_conn_init(&c.conn);
  double start = pop3_now();
  c.deadline = start + m->timeout;

  if (pop3_conn_connect(&c.conn, m->host, m->port, c.deadline, &r->error) != 0)
    goto out;
  snprintf(r->address, sizeof(r->address), "%s", c.conn.address);
  if (m->ssl && start_tls(&c, &r->error) != 0)
    goto out;

  pop3_session_options_t opts = {
      .user = m->user, .password = m->password, .starttls = m->starttls};
  pop3_session_init(&c.session, &opts);
  run_session(&c, start, r);
  record_tls(&c.conn, r);
  r->capabilities = *pop3_session_capabilities(&c.session);
  if (!r->ok)
    r->error = *pop3_session_error(&c.session);
  pop3_session_clear(&c.session);

out:
  pop3_conn_close(&c.conn);
}
